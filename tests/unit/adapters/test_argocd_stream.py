"""StreamDecoder: NDJSON and server-sent events, split at any byte, as Argo CD writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_release.adapters.argocd import StreamDecoder, WatchEvent, stream_event
from gitops_release.errors import ArgoCDStreamError

CORPUS_FRAME = Path(
    "/work/shared/corpus/argocd-app/stream/argoproj-pkg-TestMarshalerSSE.expected-sse-frame.txt"
)
# The exact bytes of that frame (argoproj/pkg grpc/http forwarders_test.go TestMarshalerSSE): note
# the space before the blank line. Inlined so the test does not depend on the shared checkout.
SSE_FRAME = (
    b'data: {"metadata":{"name":"test"},"spec":{"source":{"path":"test_path"}},'
    b'"status":{"message":"Failed"}} \n\n'
)


def decode(chunks: list[bytes], *, sse: bool, max_message: int = 1 << 20) -> list[bytes]:
    decoder = StreamDecoder(sse=sse, max_message=max_message)
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    out.extend(decoder.finish())
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(max(0, cut), len(data)) for cut in cuts})
    pieces, start = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[start:point])
        start = point
    return pieces


def test_the_real_sse_frame_with_its_trailing_space() -> None:
    if CORPUS_FRAME.exists():
        assert CORPUS_FRAME.read_bytes() == SSE_FRAME
    (payload,) = decode([SSE_FRAME], sse=True)
    assert json.loads(payload)["status"] == {"message": "Failed"}
    for cut in range(len(SSE_FRAME) + 1):
        assert decode([SSE_FRAME[:cut], SSE_FRAME[cut:]], sse=True) == [payload]


def test_sse_keepalives_other_fields_crlf_and_data_without_space() -> None:
    body = b':\n\nevent: message\r\nid: 7\r\ndata:{"a":1}\r\n\r\n:\r\n:\r\ndata: {"b":\rdata: 2}\r\r'
    assert [json.loads(p) for p in decode([body], sse=True)] == [{"a": 1}, {"b": 2}]


def test_sse_multi_line_data_is_joined_with_newlines() -> None:
    body = b'data: {"result":\ndata:  {"type": "ADDED",\ndata: "application": {}}}\n\n'
    (payload,) = decode([body], sse=True)
    assert payload == b'{"result":\n {"type": "ADDED",\n"application": {}}}'
    assert stream_event(payload) == WatchEvent("ADDED", {})


def test_sse_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    # A CR at the end of a chunk may be half of a CRLF: taking it as a line end and the LF as a
    # blank line would end the event early and split a multi-line data field in two.
    body = b'data: {"a":\r\ndata: 1}\r\n\r\n'
    for cut in range(len(body) + 1):
        assert decode([body[:cut], body[cut:]], sse=True) == [b'{"a":\n1}'], cut


def test_ndjson_crlf_blank_lines_and_a_last_line_without_newline() -> None:
    body = b'{"a":1}\r\n\n  \n{"b":2}\n{"c":3}'
    assert [json.loads(p) for p in decode([body], sse=False)] == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_sse_event_without_its_blank_line_at_eof_is_kept() -> None:
    assert decode([b'data: {"a":1}\n'], sse=True) == [b'{"a":1}']
    assert decode([b'data: {"a":1}'], sse=True) == [b'{"a":1}']
    assert decode([b":\n:\n"], sse=True) == []


@pytest.mark.parametrize("sse", [False, True])
def test_a_message_larger_than_the_limit_is_refused_before_it_is_buffered(sse: bool) -> None:
    decoder = StreamDecoder(sse=sse, max_message=1000)
    prefix = b"data: " if sse else b""
    decoder.feed(prefix + b"x" * 600)
    with pytest.raises(ArgoCDStreamError, match="larger than"):
        decoder.feed(b"x" * 600)  # no line end yet: refused without waiting for the rest


def test_sse_data_lines_adding_up_past_the_limit_are_refused() -> None:
    decoder = StreamDecoder(sse=True, max_message=1000)
    with pytest.raises(ArgoCDStreamError, match="larger than"):
        decoder.feed((b"data: " + b"x" * 400 + b"\n") * 3)


def test_default_limit_is_64_mib() -> None:
    decoder = StreamDecoder(sse=False)
    assert decoder.max_message == 64 * 1024 * 1024


def test_many_small_chunks_of_a_long_line_are_not_rescanned() -> None:
    # a 2 MiB line arriving 1 byte-ish at a time must still be found (and the scan stays linear)
    line = json.dumps({"x": "y" * (2 << 20)}).encode()
    decoder = StreamDecoder(sse=False)
    out: list[bytes] = []
    for start in range(0, len(line), 4096):
        out.extend(decoder.feed(line[start : start + 4096]))
    out.extend(decoder.feed(b"\n"))
    assert out == [line]


# -- property tests: any split of the byte stream gives the same messages --------------------------

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
events = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["ADDED", "MODIFIED", "DELETED"]),
            "application": st.dictionaries(st.text(max_size=6), json_value, max_size=4),
        }
    ),
    min_size=0,
    max_size=6,
)


@st.composite
def sse_body(draw: st.DrawFn) -> tuple[bytes, list[dict]]:
    messages = draw(events)
    parts: list[bytes] = []
    for event in messages:
        newline = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
        if draw(st.booleans()):
            parts.append(b":" + newline)  # keep-alive
        indent = draw(st.sampled_from([None, 1]))
        text = json.dumps({"result": event}, indent=indent, ensure_ascii=draw(st.booleans()))
        space = draw(st.sampled_from([b"", b" "]))  # "data: x" and "data:x" alike
        lines = [b"data:" + space + line.encode() for line in text.split("\n")]
        trailing = draw(st.sampled_from([b"", b" "]))  # Argo CD writes "data: <json> \n\n"
        parts.append(newline.join(lines) + trailing + newline + newline)
    return b"".join(parts), messages


@st.composite
def ndjson_body(draw: st.DrawFn) -> tuple[bytes, list[dict]]:
    messages = draw(events)
    parts = []
    for event in messages:
        newline = draw(st.sampled_from([b"\n", b"\r\n"]))
        parts.append(json.dumps({"result": event}, ensure_ascii=draw(st.booleans())).encode() + newline)
    body = b"".join(parts)
    if body and draw(st.booleans()):
        body = body.rstrip(b"\r\n")  # EOF without a final newline
    return body, messages


cuts = st.lists(st.integers(min_value=0, max_value=20_000), max_size=12)


@settings(max_examples=150, deadline=None)
@given(body=sse_body(), cut=cuts)
def test_sse_any_split_gives_the_same_events(body: tuple[bytes, list[dict]], cut: list[int]) -> None:
    data, messages = body
    payloads = decode(split(data, cut), sse=True)
    assert [stream_event(p) for p in payloads] == [WatchEvent(m["type"], m["application"]) for m in messages]


@settings(max_examples=150, deadline=None)
@given(body=ndjson_body(), cut=cuts)
def test_ndjson_any_split_gives_the_same_events(body: tuple[bytes, list[dict]], cut: list[int]) -> None:
    data, messages = body
    payloads = decode(split(data, cut), sse=False)
    assert [stream_event(p) for p in payloads] == [WatchEvent(m["type"], m["application"]) for m in messages]


@settings(max_examples=100, deadline=None)
@given(body=sse_body(), cut=st.integers(min_value=0, max_value=20_000))
def test_sse_a_body_cut_short_yields_a_prefix_of_the_events(body: tuple[bytes, list[dict]], cut: int) -> None:
    data, messages = body
    decoder = StreamDecoder(sse=True)
    got = [stream_event(p) for p in decoder.feed(data[:cut])]
    assert got == [WatchEvent(m["type"], m["application"]) for m in messages[: len(got)]]
