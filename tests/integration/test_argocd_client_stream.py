"""ArgoCDClient.watch against real chunked HTTP streams on 127.0.0.1: NDJSON and server-sent events,
frames split across chunks, keep-alives, drops mid-message, stalls, error lines, reconnect retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest

from gitops_release.adapters.argocd import ArgoCDClient, ArgoCDConnection, WatchEvent
from gitops_release.errors import ArgoCDAuthError, ArgoCDStreamError
from tests.fixtures.argocd_http import Handler, ScriptedServer

TOKEN = "argocd-stream-token-5e1d"


def app(name: str, sync: str) -> dict:
    return {"metadata": {"name": name}, "status": {"sync": {"status": sync}}}


EVENTS = [
    WatchEvent("ADDED", app("guestbook", "OutOfSync")),
    WatchEvent("MODIFIED", app("guestbook", "Synced")),
    WatchEvent("DELETED", app("guestbook", "Synced")),
]


def ndjson(events: list[WatchEvent]) -> bytes:
    return b"".join(
        json.dumps({"result": {"type": e.type, "application": e.application}}).encode() + b"\n"
        for e in events
    )


def sse(events: list[WatchEvent]) -> bytes:
    # as Argo CD's gateway writes it: a ":" keep-alive, the argoproj/pkg frame "data: <json> \n\n",
    # then grpc-gateway's own "\n" delimiter (the SSE marshaler is not Delimited)
    return b"".join(
        b":\n"
        + b"data: "
        + json.dumps({"result": {"type": e.type, "application": e.application}}).encode()
        + b" \n\n\n"
        for e in events
    )


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def collect(client: ArgoCDClient, **kwargs: object) -> tuple[list[WatchEvent], ArgoCDStreamError]:
    got: list[WatchEvent] = []
    with pytest.raises(ArgoCDStreamError) as caught:
        for event in client.watch(**kwargs):  # type: ignore[arg-type]
            got.append(event)
    return got, caught.value


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_ndjson_split_across_chunks_then_eof_is_a_stream_error(size: int) -> None:
    def handler(request: Handler) -> None:
        request.start_chunked("application/json")
        for piece in pieces(ndjson(EVENTS), size):
            request.chunk(piece)
        request.end_chunked()

    with ScriptedServer(handler) as server:
        with ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN, app_namespace="team-a")) as client:
            got, error = collect(client, name="guestbook")
            assert client.requests_made == 1
    assert got == EVENTS
    assert "ended" in error.message and "closed" in error.message
    (request,) = server.requests
    assert request.path == "/api/v1/stream/applications?name=guestbook&appNamespace=team-a"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("size", [1, 5, 100_000])
def test_sse_when_asked_with_keepalives_and_the_trailing_space(size: int) -> None:
    def handler(request: Handler) -> None:
        request.start_chunked("text/event-stream")
        body = sse(EVENTS).replace(b"\n", b"\r\n")  # CRLF too
        for piece in pieces(body, size):
            request.chunk(piece)
        request.end_chunked()

    with ScriptedServer(handler) as server:
        with ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN)) as client:
            got, _ = collect(client, selector="team=a", sse=True)
    assert got == EVENTS
    assert server.requests[0].headers["Accept"] == "text/event-stream"
    assert server.requests[0].path == "/api/v1/stream/applications?selector=team%3Da"


def test_the_format_follows_the_response_content_type_not_the_request() -> None:
    def handler(request: Handler) -> None:  # a server that ignores Accept: NDJSON anyway
        request.start_chunked("application/json")
        request.chunk(ndjson(EVENTS))
        request.end_chunked()

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        got, _ = collect(client, sse=True)
    assert got == EVENTS


@pytest.mark.parametrize("content_type", ["application/json", "text/event-stream"])
def test_each_event_arrives_before_the_next_is_written(content_type: str) -> None:
    """No buffering until EOF: the server writes the second event only after the client has the
    first (chunked, and an HTTP/1.0-style body without length that ends at close)."""
    got_first = threading.Event()
    encode = sse if content_type == "text/event-stream" else ndjson

    def handler(request: Handler) -> None:
        request.start_chunked(content_type)
        request.chunk(encode(EVENTS[:1]))
        if got_first.wait(10):
            request.chunk(encode(EVENTS[1:]))
        request.end_chunked()

    got: list[WatchEvent] = []
    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        with pytest.raises(ArgoCDStreamError):
            for event in client.watch():
                got.append(event)
                got_first.set()
    assert got == EVENTS


def test_body_without_chunking_is_read_as_it_arrives() -> None:
    got_first = threading.Event()

    def handler(request: Handler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "text/event-stream")
        request.send_header("Connection", "close")
        request.end_headers()
        request.wfile.write(sse(EVENTS[:1]))
        request.wfile.flush()
        if got_first.wait(10):
            request.wfile.write(sse(EVENTS[1:]))
        request.close_connection = True

    got: list[WatchEvent] = []
    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        with pytest.raises(ArgoCDStreamError):
            for event in client.watch(sse=True):
                got.append(event)
                got_first.set()
    assert got == EVENTS


@pytest.mark.parametrize("fmt", ["ndjson", "sse"])
def test_a_stream_dropped_mid_message_yields_what_was_whole_then_a_stream_error(fmt: str) -> None:
    body = ndjson(EVENTS) if fmt == "ndjson" else sse(EVENTS)
    cut = body.index(b"DELETED")  # inside the third message

    def handler(request: Handler) -> None:
        request.start_chunked("text/event-stream" if fmt == "sse" else "application/json")
        request.chunk(body[:cut])
        request.drop()

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        got, error = collect(client, sse=fmt == "sse")
    assert got == EVENTS[:2]
    assert "ended" in error.message


def test_last_line_without_newline_before_a_clean_end_is_delivered() -> None:
    def handler(request: Handler) -> None:
        request.start_chunked("application/json")
        request.chunk(ndjson(EVENTS).rstrip(b"\n"))
        request.end_chunked()

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        got, _ = collect(client)
    assert got == EVENTS


def test_a_stalled_stream_raises_after_the_read_timeout() -> None:
    release = threading.Event()

    def handler(request: Handler) -> None:
        request.start_chunked("text/event-stream")
        request.chunk(sse(EVENTS[:1]))
        release.wait(10)

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        try:
            got, error = collect(client, sse=True, read_timeout=0.3)
            assert not release.is_set()
        finally:
            release.set()
    assert got == EVENTS[:1]
    assert "ended" in error.message and "timed out" in error.message.lower()


def test_an_error_line_is_a_stream_error_with_its_message() -> None:
    def handler(request: Handler) -> None:
        request.start_chunked("application/json")
        request.chunk(ndjson(EVENTS[:1]))
        request.chunk(b'{"error":{"grpc_code":14,"http_code":503,"message":"transport is closing"}}\n')
        request.chunk(ndjson(EVENTS[1:]))
        request.end_chunked()

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        got, error = collect(client)
    assert got == EVENTS[:1]
    assert "transport is closing" in error.message


def test_an_error_answer_before_the_stream_starts_is_mapped() -> None:
    def handler(request: Handler) -> None:  # Argo CD: the stream's error chunk with the HTTP status
        body = {"error": {"grpc_code": 16, "http_code": 401, "message": "no session information"}}
        request.send_json(401, body)

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        with pytest.raises(ArgoCDAuthError) as caught:
            list(client.watch(name="guestbook"))
    assert "no session information" in caught.value.message
    assert "generate-token" in (caught.value.fix or "")


def test_a_permission_error_line_is_not_a_reconnect() -> None:
    def handler(request: Handler) -> None:
        request.start_chunked("application/json")
        request.chunk(b'{"error":{"grpc_code":7,"http_code":403,"message":"permission denied"}}\n')
        request.end_chunked()

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        with pytest.raises(ArgoCDAuthError):
            list(client.watch(name="guestbook"))


def test_a_huge_line_is_refused() -> None:
    def handler(request: Handler) -> None:
        request.start_chunked("application/json")
        for _ in range(40):
            request.chunk(b"x" * 65536)
        request.end_chunked()

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        client.max_stream_message = 1 << 20
        with pytest.raises(ArgoCDStreamError, match="larger than 1 MiB"):
            list(client.watch())


def test_the_stream_connect_is_retried_on_5xx() -> None:
    answers = iter([503])

    def handler(request: Handler) -> None:
        if next(answers, None):
            request.send_json(503, {"error": "unavailable", "code": 14})
            return
        request.start_chunked("application/json")
        request.chunk(ndjson(EVENTS))
        request.end_chunked()

    slept: list[float] = []
    with ScriptedServer(handler) as server:
        client = ArgoCDClient(ArgoCDConnection(server.url), deadline=1e12, sleep=slept.append)
        with client:
            got, _ = collect(client)
            assert client.requests_made == 2
    assert got == EVENTS and len(slept) == 1


def test_closing_the_generator_closes_the_connection() -> None:
    closed = threading.Event()

    def handler(request: Handler) -> None:
        request.start_chunked("application/json")
        request.chunk(ndjson(EVENTS[:1]))
        try:
            for _ in range(200):  # keep writing keep-alive newlines until the client hangs up
                request.chunk(b"\n")
                threading.Event().wait(0.02)
        except (BrokenPipeError, ConnectionResetError):
            closed.set()
            raise

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url)) as client:
        stream = client.watch()
        assert next(stream) == EVENTS[0]
        stream.close()
        assert closed.wait(10)


def quiet_stream(started: threading.Event, release: threading.Event) -> Callable[[Handler], None]:
    """A stream that sends its headers, then nothing (NDJSON has no keep-alive) until released."""

    def handler(request: Handler) -> None:
        request.start_chunked("application/json")
        started.set()
        release.wait(20)

    return handler


def read_in_a_thread(client: ArgoCDClient) -> tuple[threading.Thread, list[BaseException]]:
    ended: list[BaseException] = []

    def read() -> None:
        try:
            for _ in client.watch(name="guestbook", read_timeout=30.0):
                pass
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            ended.append(exc)

    thread = threading.Thread(target=read, name="test watch reader", daemon=True)
    thread.start()
    return thread, ended


@pytest.mark.parametrize("how", ["close", "close_stream"])
def test_closing_the_client_ends_a_thread_blocked_reading_a_quiet_watch(how: str) -> None:
    started, release = threading.Event(), threading.Event()
    with ScriptedServer(quiet_stream(started, release)) as server:
        try:
            client = ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN))
            thread, ended = read_in_a_thread(client)
            assert started.wait(10)
            getattr(client, how)()  # from this (another) thread, while the reader blocks in a read
            thread.join(10)  # the read timeout is 30 s: only the close can end it this soon
            assert not thread.is_alive(), f"{how}() did not end the blocked watch"
            (error,) = ended
            assert isinstance(error, ArgoCDStreamError) and "closed by the client" in error.message
            if how == "close_stream":  # the client stays usable for another stream
                started.clear()
                thread, ended = read_in_a_thread(client)
                assert started.wait(10)
            client.close()
            thread.join(10)
            assert not thread.is_alive()
        finally:
            release.set()


def test_a_watch_started_after_close_fails_at_once() -> None:
    with ScriptedServer(lambda request: request.send_json(200, {})) as server:
        client = ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN))
        client.close()
        with pytest.raises(ArgoCDStreamError, match="closed"):
            next(iter(client.watch()))
    assert server.requests == []
