"""The watch's framing and rules (sandbox/argocd/stream.py), checked without HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.argocd import stream

CORPUS = Path(__file__).resolve().parents[3] / "fixtures" / "corpus" / "argocd-app"
SSE_FRAME = CORPUS / "stream" / "argoproj-pkg-TestMarshalerSSE.expected-sse-frame.txt"


def app(
    name: str,
    *,
    namespace: str = "argocd",
    project: str = "default",
    labels: Mapping[str, str] | None = None,
    rev: str = "a",
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": {"project": project},
        "status": {"sync": {"revision": rev}},
    }


def test_sse_frame_is_byte_identical_to_argoproj_pkg_marshaler() -> None:
    # TestMarshalerSSE marshals this object (keys in Go struct order) and expects the corpus bytes.
    obj = {
        "metadata": {"name": "test"},
        "spec": {"source": {"path": "test_path"}},
        "status": {"message": "Failed"},
    }
    assert stream.message_bytes(obj, sse=True) == SSE_FRAME.read_bytes()
    assert stream.message_bytes(obj, sse=False) == SSE_FRAME.read_bytes()[len(b"data: ") : -len(b" \n\n")]


def test_go_json_escapes_like_encoding_json() -> None:
    assert stream.go_json({"m": "a<b>&c\u2028é"}) == '{"m":"a\\u003cb\\u003e\\u0026c\\u2028é"}'.encode()


def test_small_messages_share_a_chunk_with_the_delimiter_large_ones_do_not() -> None:
    small = {"result": {"type": "ADDED"}}
    assert stream.message_chunks(small, sse=False) == [b'1c\r\n{"result":{"type":"ADDED"}}\n\r\n']
    big = {"result": {"type": "ADDED", "application": {"metadata": {"name": "x" * 3000}}}}
    data = stream.go_json(big)
    assert stream.message_chunks(big, sse=False) == [b"%x\r\n%s\r\n" % (len(data), data), b"1\r\n\n\r\n"]
    sse = stream.message_chunks(small, sse=True)
    assert sse == [b'25\r\ndata: {"result":{"type":"ADDED"}} \n\n\n\r\n']


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("", {}, True),
        ("env=prod", {"env": "prod"}, True),
        ("env==prod", {"env": "dev"}, False),
        ("env!=prod", {}, True),
        ("env", {"env": ""}, True),
        ("!env", {"env": "x"}, False),
        ("env in (prod, staging),team", {"env": "staging", "team": "a"}, True),
        ("env notin (prod,staging)", {"env": "prod"}, False),
        (
            "app.kubernetes.io/part-of=shop,env=prod",
            {"app.kubernetes.io/part-of": "shop", "env": "dev"},
            False,
        ),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert stream.parse_selector(selector)(labels) is expected


@pytest.mark.parametrize("selector", ["env=(", "a b", "env in prod", "=x"])
def test_a_bad_selector_is_refused(selector: str) -> None:
    with pytest.raises(stream.SelectorError):
        stream.parse_selector(selector)


def test_rbac_name_adds_the_namespace_outside_the_control_plane() -> None:
    assert stream.rbac_name(app("web")) == "default/web"
    assert stream.rbac_name(app("web", namespace="team-a", project="shop")) == "shop/team-a/web"
    assert stream.rbac_name({}) == "default/"


class FakeSubscription:
    def __init__(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.events = events
        self.closed = False

    def next(self, timeout: float) -> tuple[str, dict[str, Any]] | None:
        return self.events.pop(0) if self.events else None

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    def __init__(self, *, sse: bool, keepalive: float = 1.0, stop_after: int = 50) -> None:
        self.sse = sse
        self.keepalive = keepalive
        self.written: list[bytes] = []
        self.checked: list[Mapping[str, Any]] = []
        self.loops = 0
        self.stop_after = stop_after
        self.drop_when_sent: int | None = None
        self.gone_after: int | None = None  # loops before the client closes the connection

    def send(self, pieces: list[bytes]) -> None:
        self.written.extend(stream.chunk(piece) for piece in pieces)

    def should_drop(self, events_sent: int, opened_at: float) -> bool:
        return self.drop_when_sent is not None and events_sent >= self.drop_when_sent

    def stopping(self) -> bool:
        self.loops += 1
        return self.loops > self.stop_after

    def client_gone(self) -> bool:
        return self.gone_after is not None and self.loops > self.gone_after

    def check(self, result: Mapping[str, Any]) -> None:
        self.checked.append(result)


def query(**kwargs: Any) -> stream.WatchQuery:
    defaults: dict[str, Any] = {
        "name": None,
        "app_namespace": "argocd",
        "selector": stream.parse_selector(""),
        "projects": frozenset(),
        "may_get": lambda app: True,
    }
    return stream.WatchQuery(**{**defaults, **kwargs})


def body_of(connection: FakeConnection) -> bytes:
    out = b""
    for piece in connection.written:
        size, _, rest = piece.partition(b"\r\n")
        assert rest.endswith(b"\r\n") and len(rest) - 2 == int(size, 16)
        out += rest[:-2]
    return out


def test_initial_state_is_added_in_name_order_then_changes_and_duplicates_are_suppressed() -> None:
    later = [
        ("MODIFIED", app("b", rev="b2")),
        ("MODIFIED", app("b", rev="b2")),  # identical: not sent again
        ("MODIFIED", app("a", rev="a2")),
        ("DELETED", app("b", rev="b2")),
    ]
    connection = FakeConnection(sse=False)
    with pytest.raises(stream.Dropped):
        stream.run_watch(connection, query(), FakeSubscription(later), [app("b"), app("a")], tick=0)
    lines = body_of(connection).split(b"\n")
    assert lines[-1] == b""
    import json

    events = [
        (m["result"]["type"], m["result"]["application"]["metadata"]["name"])
        for m in map(json.loads, lines[:-1])
    ]
    assert events == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert [r["type"] for r in connection.checked] == ["ADDED", "ADDED", "MODIFIED", "MODIFIED", "DELETED"]


def test_filters_name_namespace_selector_project_and_rbac() -> None:
    apps = [
        app("web", labels={"env": "prod"}),
        app("web", namespace="team-a", labels={"env": "prod"}),
        app("api", labels={"env": "dev"}),
        app("secret", project="private", labels={"env": "prod"}),
    ]

    def names(q: stream.WatchQuery) -> list[str]:
        connection = FakeConnection(sse=False, stop_after=0)
        with pytest.raises(stream.Dropped):
            stream.run_watch(connection, q, FakeSubscription([]), apps, tick=0)
        return [
            r["application"]["metadata"]["namespace"] + "/" + r["application"]["metadata"]["name"]
            for r in connection.checked
        ]

    assert names(query(name="web")) == ["argocd/web"]
    assert names(query(name="web", app_namespace="team-a")) == ["team-a/web"]
    assert names(query(selector=stream.parse_selector("env=prod"))) == [
        "argocd/secret",
        "argocd/web",
        "team-a/web",
    ]
    assert names(query(projects=frozenset({"private"}))) == ["argocd/secret"]
    assert names(query(may_get=lambda a: stream.rbac_name(a) != "private/secret")) == [
        "argocd/api",
        "argocd/web",
        "team-a/web",
    ]


def test_sse_keepalives_tick_every_interval_whatever_is_sent() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 0.25
        return now[0]

    connection = FakeConnection(sse=True, keepalive=1.0, stop_after=9)
    with pytest.raises(stream.Dropped):
        stream.run_watch(connection, query(), FakeSubscription([]), [app("a")], clock=clock, tick=0)
    body = body_of(connection)
    assert body.startswith(b'data: {"result":{"type":"ADDED","application":')
    _, _, rest = body.partition(b" \n\n\n")
    assert rest == b":\n:\n"  # 9 loops of 0.25 s after opening at 0.25: ticks at 1.25 and 2.25


def test_ndjson_has_no_keepalives() -> None:
    connection = FakeConnection(sse=False, keepalive=0.001, stop_after=20)
    with pytest.raises(stream.Dropped):
        stream.run_watch(connection, query(), FakeSubscription([]), [], tick=0)
    assert connection.written == []


def test_a_due_drop_ends_the_watch() -> None:
    connection = FakeConnection(sse=False, stop_after=1000)
    connection.drop_when_sent = 2
    events = [("MODIFIED", app("a", rev=str(n))) for n in range(10)]
    with pytest.raises(stream.Dropped):
        stream.run_watch(connection, query(), FakeSubscription(events), [app("a")], tick=0)
    assert len(connection.checked) == 2


def test_a_watch_ends_when_its_client_closes_the_connection_while_idle() -> None:
    connection = FakeConnection(sse=False, stop_after=1000)
    connection.gone_after = 3
    subscription = FakeSubscription([])
    stream.run_watch(connection, query(), subscription, [app("a")], tick=0)  # returns: no Dropped
    assert connection.loops == 4  # noticed at the first tick after the client left
    assert len(connection.checked) == 1
