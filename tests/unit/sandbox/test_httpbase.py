"""sandbox/httpbase.py: the HTTP plumbing both emulators share."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from gitops_release.errors import InputError
from gitops_release.sandbox.httpbase import (
    QuietHandler,
    QuietServer,
    RecordedRequest,
    ThreadedHTTPService,
    check_loopback_host,
    header,
    peer_closed,
    read_request,
    redact_headers,
    send_reply,
)


class Echo(ThreadedHTTPService):
    server_version = "EchoSandbox"

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.requests: list[RecordedRequest] = []

    def _serve(self, handler: QuietHandler) -> None:
        path, query, headers, raw = read_request(handler)
        self.requests.append(
            RecordedRequest(handler.command, path, query, redact_headers(headers), json.loads(raw or b"null"))
        )
        send_reply(
            handler,
            201,
            json.dumps({"path": path, "query": query}).encode(),
            "application/json",
            {"X-A": "1"},
        )


def test_service_serves_records_redacted_and_stops() -> None:
    with Echo() as echo:
        assert echo.url == f"http://127.0.0.1:{echo.port}"
        response = requests.post(
            f"{echo.url}/a/b?x=1&x=2&y=",
            json={"k": "v"},
            headers={"Authorization": "Bearer s3cret", "Cookie": "argocd.token=s3cret"},
            timeout=10,
        )
        assert response.status_code == 201
        assert response.headers["Server"].startswith("EchoSandbox")
        assert response.headers["X-A"] == "1"
        assert response.json() == {"path": "/a/b", "query": {"x": "2", "y": ""}}
        [record] = echo.requests
        assert (record.method, record.path, record.body) == ("POST", "/a/b", {"k": "v"})
        assert record.header("authorization") == "Bearer [redacted]"
        assert record.header("COOKIE") == "[redacted]"
        assert "s3cret" not in json.dumps(record.headers)
        assert echo.start() is echo  # idempotent
    assert echo._server is None
    echo.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{echo.url}/", timeout=2)


def test_a_taken_port_is_an_input_error_naming_the_port() -> None:
    with Echo() as first, pytest.raises(InputError, match=f"cannot listen on 127.0.0.1:{first.port}"):
        Echo(first.port).start()


def test_stop_shuts_down_idle_keep_alive_connections_and_joins_their_threads() -> None:
    before = set(threading.enumerate())
    echo = Echo().start()
    sock = socket.create_connection(("127.0.0.1", echo.port), timeout=5)
    sock.sendall(b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while not answer.endswith(b"}"):
        answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 201")
    assert len(echo.connection_threads()) == 1  # kept alive, waiting for the next request
    echo.stop()
    assert sock.recv(65536) == b""  # shut down by stop() (a 5 s timeout fails the test)
    sock.close()
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "10.0.0.1", "example.com"])  # noqa: S104
def test_only_loopback_hosts_are_served(host: str) -> None:
    echo = Echo()
    echo.host = host
    with pytest.raises(InputError, match="loopback only") as caught:
        echo.start()
    assert caught.value.field == "host"
    assert echo._server is None
    for accepted in ("127.0.0.1", "::1", "localhost"):
        check_loopback_host(accepted)


def test_peer_closed_sees_end_of_file_not_unread_bytes() -> None:
    left, right = socket.socketpair()
    assert not peer_closed(left)
    right.sendall(b"x")
    assert not peer_closed(left)  # bytes waiting are not an end, and stay unread
    assert left.recv(1) == b"x"
    right.close()
    assert peer_closed(left)
    left.close()
    assert peer_closed(left)


def test_header_is_case_insensitive() -> None:
    assert header({"Content-Type": "a"}, "content-type") == "a"
    assert header({}, "x") is None
    assert redact_headers({"Authorization": "token"}) == {"Authorization": "[redacted]"}


def test_the_accept_loop_never_blocks_on_a_connection_that_is_gone() -> None:
    """serve_forever() selects, then accepts: a blocking accept() woken for a connection that is
    gone by then blocked for good, and stop() (shutdown) then waited for ever (seen in a test run).
    With nothing to accept, one round of the loop must return, and accepted sockets must still be
    blocking (the handlers read them with their own timeout)."""
    server = QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    try:
        assert server.socket.gettimeout() == 0.0
        one_round = threading.Thread(target=server._handle_request_noblock, daemon=True)
        one_round.start()
        one_round.join(5)
        assert not one_round.is_alive(), "accept() blocked with no connection pending"
        client = socket.create_connection(server.server_address[:2], timeout=5)
        try:
            accepted, _ = server.get_request()
            try:
                assert accepted.gettimeout() is None
            finally:
                accepted.close()
        finally:
            client.close()
    finally:
        server.server_close()
