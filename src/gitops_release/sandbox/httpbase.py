"""HTTP plumbing shared by the sandbox emulators (GitHub, Argo CD): a threaded server on
127.0.0.1 run in a background thread, a silent keep-alive handler, request reading, replies and
the record of requests a test inspects.

An emulator subclasses :class:`ThreadedHTTPService` and implements ``_serve(handler)``:

    class MySandbox(ThreadedHTTPService):
        server_version = "MySandbox"

        def _serve(self, handler: QuietHandler) -> None:
            path, query, headers, raw = read_request(handler)
            send_reply(handler, 200, b'{"ok": true}', "application/json; charset=utf-8", {})

``start()`` binds to a loopback address only (127.0.0.1, ::1 or localhost; anything else is an
:class:`InputError` naming ``host``; port 0 = any free port; a taken port is an InputError naming
the port). ``stop()`` shuts the server down, shuts down every open connection (idle keep-alive
ones, and ones whose handler still waits: it sees end-of-file or a failed write) and joins the
handler threads (bounded by ``STOP_JOIN_TIMEOUT``) and the server thread; both are idempotent and
the service is a context manager. Streaming replies (chunked, server-sent events) write to
``handler.wfile`` directly; a handler that waits without reading checks :func:`peer_closed`.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from gitops_release.errors import InputError

#: Headers that carry credentials: :func:`redact_headers` hides their values in recorded requests.
SECRET_HEADERS = ("authorization", "cookie", "proxy-authorization")
REDACTED = "[redacted]"
#: The only addresses a sandbox listens on: it accepts its own well-known tokens, so it must not be
#: reachable from another machine.
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
#: How long stop() waits, in all, for handler threads to end after their connections are shut down.
STOP_JOIN_TIMEOUT = 5.0


def check_loopback_host(host: str, field: str = "host") -> None:
    """InputError naming ``field`` unless ``host`` is one of LOOPBACK_HOSTS."""
    if host not in LOOPBACK_HOSTS:
        raise InputError(
            field,
            f"the sandbox listens on loopback only (127.0.0.1, ::1 or localhost), not {host!r}",
            fix="use 127.0.0.1 (the default); the sandbox accepts fixed tokens and must not be reachable "
            "from other machines",
        )


def peer_closed(sock: socket.socket) -> bool:
    """True when the client closed its side of ``sock`` (end-of-file) or the socket failed: for a
    handler that waits without reading (a watch, a long poll), as Go's server cancels a request's
    context when its connection's background read sees end-of-file. Bytes the client sent are left
    unread."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):  # ValueError: the socket was closed (fileno -1)
        return True


@dataclass
class RecordedRequest:
    """One request as received: ``query`` keeps the last value per name, ``body`` is parsed JSON."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name, or None."""
    return next((value for key, value in headers.items() if key.lower() == name.lower()), None)


def redact_headers(headers: Mapping[str, str], names: Iterable[str] = SECRET_HEADERS) -> dict[str, str]:
    """``headers`` with the values of credential headers replaced (the scheme word is kept, so a
    test can still see ``Bearer`` was used): for records that may end up in logs or reports."""
    hidden = {name.lower() for name in names}
    out = {}
    for key, value in headers.items():
        if key.lower() in hidden:
            scheme, _, rest = value.strip().partition(" ")
            value = f"{scheme} {REDACTED}" if rest else REDACTED
        out[key] = value
    return out


class QuietServer(ThreadingHTTPServer):
    """A thread per connection, each one tracked so stop() can shut it down and join it."""

    daemon_threads = True
    block_on_close = False  # stop() joins with a bound instead (close_connections)
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)
        # serve_forever() selects, then accepts. A blocking accept() can block for good when the
        # connection it was woken for is gone by then, and shutdown() then waits for ever (a test
        # run hung so). Non-blocking, that accept raises BlockingIOError, which socketserver
        # ignores; accepted sockets are still blocking (socket.accept() makes them so).
        self.socket.setblocking(False)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{self.RequestHandlerClass.__name__} connection {client_address[0]}:{client_address[1]}",
            daemon=True,
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(request, None)

    def connection_threads(self) -> list[threading.Thread]:
        with self._connections_lock:
            return [thread for thread in self._connections.values() if thread.is_alive()]

    def close_connections(self, timeout: float) -> None:
        """Shut down every open connection (a blocked read sees end-of-file, a write fails) and
        join their threads, ``timeout`` seconds in all."""
        with self._connections_lock:
            connections = list(self._connections.items())
        for sock, _ in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler
        deadline = time.monotonic() + timeout
        for _, thread in connections:
            thread.join(max(0.0, deadline - time.monotonic()))


class QuietServer6(QuietServer):
    address_family = socket.AF_INET6


class QuietHandler(BaseHTTPRequestHandler):
    """Hands every request to its service's ``_serve``; logs nothing."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections close, so stop() never waits on them
    service: ThreadedHTTPService

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines could carry secrets in a query string; tests read ``requests``."""

    def _serve(self) -> None:
        self.service._serve(self)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve


def read_request(handler: BaseHTTPRequestHandler) -> tuple[str, dict[str, str], dict[str, str], bytes]:
    """(path, query with the last value per name, headers, raw body) of the request being handled."""
    split = urlsplit(handler.path)
    length = int(handler.headers.get("Content-Length") or 0)
    raw = handler.rfile.read(length) if length > 0 else b""
    headers = dict(handler.headers.items())
    query = dict(parse_qsl(split.query, keep_blank_values=True))
    return split.path, query, headers, raw


def send_reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: bytes,
    content_type: str,
    extra: Mapping[str, str],
) -> None:
    """One complete response with Content-Length (Content-Type only with a payload; none for HEAD)."""
    handler.send_response(status)
    for name, value in extra.items():
        handler.send_header(name, value)
    if payload:
        handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    if payload and handler.command != "HEAD":
        handler.wfile.write(payload)


_Service = TypeVar("_Service", bound="ThreadedHTTPService")


class ThreadedHTTPService:
    """A server on ``host`` (loopback only):``port`` in a daemon thread; subclasses set ``port`` (and
    ``_server`` / ``_thread`` to None) in ``__init__`` and implement ``_serve``."""

    server_version = "Sandbox"
    host = "127.0.0.1"
    port: int
    url: str = ""
    _server: QuietServer | None = None
    _thread: threading.Thread | None = None

    def _serve(self, handler: QuietHandler) -> None:
        raise NotImplementedError

    def start(self: _Service) -> _Service:
        if self._server is not None:
            return self
        check_loopback_host(self.host)
        handler = type(
            f"{type(self).__name__}Handler",
            (QuietHandler,),
            {"service": self, "server_version": self.server_version},
        )
        server_class = QuietServer6 if ":" in self.host else QuietServer
        try:
            self._server = server_class((self.host, self.port), handler)
        except OSError as exc:
            # A taken (or privileged) port is the caller's input, not a sandbox bug.
            raise InputError(
                "port",
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}",
                fix="choose another port, or 0 to let the sandbox pick a free one",
            ) from None
        self.port = int(self._server.server_address[1])
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__} server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, shut down every open connection and join its thread (bounded), close."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()  # no new connection after this: the accept loop has ended
            server.close_connections(STOP_JOIN_TIMEOUT)
            server.server_close()
        if thread is not None:
            thread.join()

    def connection_threads(self) -> list[threading.Thread]:
        """The live handler threads (one per open connection); empty when stopped."""
        server = self._server
        return server.connection_threads() if server is not None else []

    def __enter__(self: _Service) -> _Service:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
