"""server/http_protocol.py against a real uvicorn on 127.0.0.1, with raw sockets: slowloris
(idle, half-sent and trickled request heads), the connection cap that sheds waiting connections
and never keeps a probe out, and the send timeout for a client that stops reading. The bounds are
short here (configured per test); the waits are generous bounds for a broken run, not timings."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from gitops_release.adapters.release_source import FileSource
from gitops_release.server.app import create_app
from gitops_release.server.http_protocol import MAX_INCOMPLETE_HEAD, bounded_protocol, uvicorn_config
from gitops_release.server.state import ServerState
from tests.fixtures.serve_api import release, wait_until, write_db

SHORT = 0.5  # the bound under test, in seconds
GENEROUS = 20.0  # how long a broken run may take to fail


def quiet(_: str) -> None:
    return None


@contextmanager
def serving(app: Any, **bounds: Any) -> Iterator[tuple[int, uvicorn.Server]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn_config(
        app, host="127.0.0.1", port=0, protocol=bounded_protocol(**bounds), log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
        yield sock.getsockname()[1], server
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def api_app(tmp_path):
    state = ServerState(FileSource(write_db(tmp_path / "db.json", [release("app", "dev")])), version="1")
    return create_app(state, access_log=quiet)


def closed(sock: socket.socket) -> bool:
    """True once the server closed ``sock`` (EOF or reset); drains what the server sent."""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=GENEROUS) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def connect(port: int, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    if first:
        sock.sendall(first)
    sock.setblocking(False)
    return sock


@pytest.mark.parametrize(
    "sent", [b"", b"GET /v1/releases HTTP/1.1\r\nHost: x\r\n"], ids=["idle", "half-sent"]
)
def test_a_connection_without_a_complete_request_head_is_closed(api_app, sent):
    with serving(api_app, head_timeout=SHORT) as (port, _):
        sock = connect(port, sent)
        try:
            wait_until(lambda: closed(sock), what="the server to close the connection", timeout=GENEROUS)
        finally:
            sock.close()


def test_trickling_a_head_does_not_extend_the_bound(api_app):
    """One header line at a time, faster than the bound: still closed (the bound is on the whole
    head, not between bytes)."""
    with serving(api_app, head_timeout=SHORT) as (port, _):
        sock = connect(port, b"GET /v1/releases HTTP/1.1\r\n")
        deadline = time.monotonic() + GENEROUS
        try:
            line = 0
            while not closed(sock):
                assert time.monotonic() < deadline, "a trickled head kept the connection open"
                try:
                    sock.send(f"X-Trickle-{line}: 1\r\n".encode())
                except OSError:
                    break  # closed under us
                line += 1
                time.sleep(SHORT / 5)
        finally:
            sock.close()


def test_a_complete_request_is_answered_and_the_connection_serves_the_next_one(api_app):
    with serving(api_app, head_timeout=SHORT) as (port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=GENEROUS) as sock:
            for _ in range(2):  # keep-alive: the second request on the same connection
                sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
                reply = b""
                while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                    reply += sock.recv(65536)
                assert reply.startswith(b"HTTP/1.1 200 ")


def test_above_the_cap_the_oldest_waiting_connection_is_shed_and_probes_get_in(api_app):
    """uvicorn's limit_concurrency would answer 503 to /health/live here (idle connections count):
    the cap sheds waiting connections instead, oldest first."""
    with serving(api_app, max_connections=4, head_timeout=GENEROUS * 3) as (port, server):
        idle = []
        try:
            for _ in range(8):
                idle.append(connect(port, b"GET / HTTP/1.1\r\n"))
                # accepted in order, so "oldest" is well defined
                wait_until(lambda: len(server.server_state.connections) >= min(len(idle), 4), what="accept")
            wait_until(lambda: all(closed(s) for s in idle[:4]), what="the oldest four to be shed")
            assert not any(closed(s) for s in idle[4:]), "a newer connection was shed before an older one"
            assert get(port, "/health/live").startswith(b"HTTP/1.1 200 ")
        finally:
            for sock in idle:
                sock.close()


def test_a_client_that_stops_reading_is_cut_off(tmp_path):
    """Slow read: the client asks for a large body and reads nothing; the response is aborted
    after the send timeout instead of holding the body in memory."""
    body = b"x" * (16 * 1024 * 1024)

    async def large(scope, receive, send):
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    with serving(large, send_timeout=SHORT) as (port, server):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_until(lambda: len(server.server_state.connections) == 1, what="the request")
            wait_until(
                lambda: not server.server_state.connections,
                what="the response to be aborted",
                timeout=GENEROUS,
            )
        finally:
            sock.close()


def test_a_head_still_incomplete_beyond_16_kib_is_a_400(api_app):
    """What docs/serve.md says of header size: h11 refuses a head still arriving once
    MAX_INCOMPLETE_HEAD bytes of it are buffered."""
    with serving(api_app) as (port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=GENEROUS) as sock:
            sock.sendall(
                b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_INCOMPLETE_HEAD + 1024)
            )
            reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400 ")
