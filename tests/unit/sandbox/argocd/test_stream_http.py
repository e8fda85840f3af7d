"""The watch over a real socket, byte for byte: HTTP chunking, NDJSON lines, SSE frames and
keep-alives, the 401 error chunk, drops without the terminating chunk."""

from __future__ import annotations

import json
import socket
import time
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from gitops_release.sandbox.argocd import ArgoCDSandbox
from gitops_release.sandbox.argocd.stream import go_json

TOKEN = "argocd-sandbox-token"


def application(name: str, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "argocd", "labels": labels},
        "spec": {"project": "default", "source": {"repoURL": "https://git.example/c.git", "path": name}},
        "status": {"sync": {"status": "Synced", "revision": "a" * 40}, "health": {"status": "Healthy"}},
    }


class RawWatch:
    """One watch connection read chunk by chunk, exactly as sent."""

    def __init__(
        self,
        sandbox: ArgoCDSandbox,
        query: str = "",
        *,
        sse: bool = False,
        token: str | None = TOKEN,
        accept_encoding: str | None = None,
    ) -> None:
        self.sock = socket.create_connection((sandbox.host, sandbox.port), timeout=5)
        lines = [f"GET /api/v1/stream/applications{query} HTTP/1.1", f"Host: {sandbox.host}"]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        if sse:
            lines.append("Accept: text/event-stream")
        if accept_encoding:
            lines.append(f"Accept-Encoding: {accept_encoding}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        status_line, *header_lines = head.decode().split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        self.ended = False  # the terminating zero-length chunk arrived

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise EOFError(f"connection closed before {marker!r}")
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def chunk(self) -> bytes:
        """The next chunk's data; EOFError when the socket closes mid-stream."""
        size = int(self._until(b"\r\n"), 16)
        while len(self.buffer) < size + 2:
            if not self._fill():
                raise EOFError("connection closed inside a chunk")
        data, trailer, self.buffer = self.buffer[:size], self.buffer[size : size + 2], self.buffer[size + 2 :]
        assert trailer == b"\r\n"
        if size == 0:
            self.ended = True
        return data

    def chunks(self, count: int) -> list[bytes]:
        return [self.chunk() for _ in range(count)]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def watch(argocd_sandbox: ArgoCDSandbox) -> Iterator[Any]:
    opened: list[RawWatch] = []

    def open_watch(query: str = "", **kwargs: Any) -> RawWatch:
        opened.append(RawWatch(argocd_sandbox, query, **kwargs))
        return opened[-1]

    yield open_watch
    for connection in opened:
        connection.close()


def ndjson_line(event_type: str, app: dict[str, Any]) -> bytes:
    return go_json({"result": {"type": event_type, "application": app}}) + b"\n"


def test_ndjson_initial_state_then_changes_one_line_per_chunk(
    argocd_sandbox: ArgoCDSandbox, watch: Any
) -> None:
    argocd_sandbox.store.add_application(application("b"), static=True)
    argocd_sandbox.store.add_application(application("a"), static=True)
    connection = watch()
    assert connection.status == 200
    assert connection.headers["content-type"] == "application/json"
    assert connection.headers["transfer-encoding"] == "chunked"
    a, b = argocd_sandbox.store.get("a"), argocd_sandbox.store.get("b")
    assert connection.chunks(2) == [ndjson_line("ADDED", a), ndjson_line("ADDED", b)]
    argocd_sandbox.store.add_application(application("c"), static=True)
    argocd_sandbox.store.delete("a")
    assert connection.chunks(2) == [
        ndjson_line("ADDED", argocd_sandbox.store.get("c")),
        ndjson_line("DELETED", a),
    ]
    assert argocd_sandbox.stream_connections == 1


def test_ndjson_sends_no_keepalives(argocd_sandbox: ArgoCDSandbox, watch: Any) -> None:
    connection = watch()
    connection.sock.settimeout(1.0)  # five keep-alive intervals of the fixture's SSE streams
    with pytest.raises(socket.timeout):
        connection.chunk()
    assert connection.buffer == b""


def test_sse_frames_have_the_space_the_blank_line_and_the_gateway_delimiter(
    argocd_sandbox: ArgoCDSandbox, watch: Any
) -> None:
    argocd_sandbox.store.add_application(application("a"), static=True)
    connection = watch(sse=True)
    assert connection.headers["content-type"] == "text/event-stream"
    assert connection.headers["x-content-type-options"] == "nosniff"
    message = go_json({"result": {"type": "ADDED", "application": argocd_sandbox.store.get("a")}})
    assert connection.chunk() == b"data: " + message + b" \n\n\n"


def test_sse_keepalive_comment_lines_arrive_between_frames(argocd_sandbox: ArgoCDSandbox, watch: Any) -> None:
    connection = watch(sse=True)
    assert connection.chunks(3) == [b":\n", b":\n", b":\n"]
    argocd_sandbox.store.add_application(application("late"), static=True)
    data = b":\n"
    for _ in range(500):  # keep-alives until the frame; bounded, so a missing frame fails
        data = connection.chunk()
        if data != b":\n":
            break
    assert data.startswith(b'data: {"result":{"type":"ADDED","application":{"metadata":{"name":"late"')
    assert data.endswith(b" \n\n\n")


def test_a_large_message_and_its_delimiter_are_separate_chunks(
    argocd_sandbox: ArgoCDSandbox, watch: Any
) -> None:
    big = application("big")
    big["metadata"]["annotations"] = {"note": "x" * 3000}
    argocd_sandbox.store.add_application(big, static=True)
    connection = watch()
    first, second = connection.chunks(2)
    assert json.loads(first)["result"]["application"]["metadata"]["name"] == "big"
    assert second == b"\n"


def test_filters_by_name_and_selector(argocd_sandbox: ArgoCDSandbox, watch: Any) -> None:
    for name, env in (("web", "prod"), ("api", "dev"), ("db", "prod")):
        argocd_sandbox.store.add_application(application(name, env=env), static=True)
    by_name = watch("?name=api")
    assert json.loads(by_name.chunk())["result"]["application"]["metadata"]["name"] == "api"
    by_selector = watch("?selector=env%3Dprod")
    names = [json.loads(c)["result"]["application"]["metadata"]["name"] for c in by_selector.chunks(2)]
    assert names == ["db", "web"]
    argocd_sandbox.store.delete("api")
    argocd_sandbox.store.delete("web")
    assert json.loads(by_selector.chunk())["result"]["type"] == "DELETED"
    deleted = json.loads(by_name.chunk())["result"]
    assert (deleted["type"], deleted["application"]["metadata"]["name"]) == ("DELETED", "api")


def test_apps_the_token_may_not_get_are_left_out_silently(argocd_sandbox: ArgoCDSandbox, watch: Any) -> None:
    argocd_sandbox.store.add_application(application("secret"), static=True)
    argocd_sandbox.store.add_application(application("visible"), static=True)
    argocd_sandbox.add_token("viewer", allow=("applications, get, default/visible",))
    connection = watch(token="viewer")
    assert connection.status == 200
    assert json.loads(connection.chunk())["result"]["application"]["metadata"]["name"] == "visible"


def test_unauthenticated_watch_is_a_401_stream_error_chunk(argocd_sandbox: ArgoCDSandbox, watch: Any) -> None:
    connection = watch(token=None)
    assert (connection.status, connection.headers["content-type"]) == (401, "application/json")
    assert connection.chunk() == (
        b'{"error":{"grpc_code":16,"http_code":401,"message":"no session information",'
        b'"http_status":"Unauthorized"}}'
    )
    assert connection.chunk() == b"" and connection.ended
    sse = watch(token=None, sse=True)
    assert sse.chunk().startswith(b'data: {"error":{"grpc_code":16,') and sse.status == 401


def test_a_dropped_stream_ends_without_the_terminating_chunk(
    argocd_sandbox: ArgoCDSandbox, watch: Any
) -> None:
    argocd_sandbox.store.add_application(application("a"), static=True)
    argocd_sandbox.store.add_application(application("b"), static=True)
    argocd_sandbox.drop_streams(after_events=1)
    connection = watch()
    assert json.loads(connection.chunk())["result"]["application"]["metadata"]["name"] == "a"
    with pytest.raises(EOFError):
        connection.chunk()
    assert not connection.ended
    again = watch()  # the drop was used up: the next connection streams on
    assert len(again.chunks(2)) == 2


def test_stopping_the_sandbox_cuts_open_streams(argocd_sandbox: ArgoCDSandbox, watch: Any) -> None:
    connection = watch(sse=True)
    assert connection.chunk() == b":\n"
    argocd_sandbox.stop()
    with pytest.raises(EOFError):
        for _ in range(500):  # bounded: a stream the stop did not cut fails the test
            connection.chunk()
    assert not connection.ended


def test_a_watch_whose_client_left_ends_and_drops_its_subscription(
    argocd_sandbox: ArgoCDSandbox, watch: Any
) -> None:
    # NDJSON, for an app that never changes: nothing is ever written that could fail.
    connection = watch("?name=gone")
    assert connection.status == 200
    assert len(argocd_sandbox.connection_threads()) == 1
    assert len(argocd_sandbox.store._subscribers) == 1
    connection.close()
    deadline = time.monotonic() + 5  # a correctness bound (the watch ticks every 20 ms)
    while (argocd_sandbox.connection_threads() or argocd_sandbox.store._subscribers) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.02)
    assert argocd_sandbox.connection_threads() == []
    assert argocd_sandbox.store._subscribers == []


def test_resource_version_skips_the_initial_state_and_older_changes(
    argocd_sandbox: ArgoCDSandbox, watch: Any
) -> None:
    argocd_sandbox.store.add_application(application("old"), static=True)
    version = argocd_sandbox.store.resource_version
    connection = watch(f"?resourceVersion={version}")
    named = watch(f"?resourceVersion={version}&name=old")
    assert json.loads(named.chunk())["result"]["type"] == "ADDED"  # a named watch always starts with it
    argocd_sandbox.store.add_application(application("new"), static=True)
    first = json.loads(connection.chunk())["result"]
    assert (first["type"], first["application"]["metadata"]["name"]) == ("ADDED", "new")


def test_ndjson_is_gzip_compressed_one_flushed_message_per_chunk_when_accepted(
    argocd_sandbox: ArgoCDSandbox, watch: Any
) -> None:
    argocd_sandbox.store.add_application(application("a"), static=True)
    connection = watch(accept_encoding="gzip, deflate")
    assert (connection.headers["content-encoding"], connection.headers["vary"]) == ("gzip", "Accept-Encoding")
    inflate = zlib.decompressobj(31)
    assert inflate.decompress(connection.chunk()) == ndjson_line("ADDED", argocd_sandbox.store.get("a"))
    argocd_sandbox.store.delete("a")
    assert json.loads(inflate.decompress(connection.chunk()))["result"]["type"] == "DELETED"
    argocd_sandbox.store.add_application(application("b"), static=True)
    deflated = watch(accept_encoding="deflate")
    assert deflated.headers["content-encoding"] == "deflate"  # raw DEFLATE, as Go's compress/flate
    assert zlib.decompressobj(-15).decompress(deflated.chunk()) == ndjson_line(
        "ADDED", argocd_sandbox.store.get("b")
    )
    sse = watch(sse=True, accept_encoding="gzip")
    assert "content-encoding" not in sse.headers and "vary" not in sse.headers
    assert sse.chunk().startswith(b"data: {")  # plain text


def test_unary_answers_are_compressed_unless_disabled(argocd_sandbox: ArgoCDSandbox) -> None:
    import requests

    argocd_sandbox.store.add_application(application("a"), static=True)
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept-Encoding": "gzip"}
    response = requests.get(f"{argocd_sandbox.url}/api/v1/applications/a", headers=headers, timeout=10)
    assert (response.status_code, response.headers["Content-Encoding"]) == (200, "gzip")
    assert response.json()["metadata"]["name"] == "a"
    with ArgoCDSandbox(gzip=False) as plain:
        plain.store.add_application(application("a"), static=True)
        response = requests.get(f"{plain.url}/api/v1/applications/a", headers=headers, timeout=10)
        assert "Content-Encoding" not in response.headers and "Vary" not in response.headers
        assert (response.status_code, response.json()["metadata"]["name"]) == (200, "a")
    # its own sandbox, so not the fixture's check: the uncompressed answer is inside the contract too
    assert plain.violations == []
