"""A small Argo CD REST client on requests: applications, sync, session and the watch stream.

* ``server`` with or without a scheme (https unless ``http://`` is given), an optional root
  path (``--rootpath``); no userinfo, query or fragment (``normalize_server``).
* Credentials: a token, or username/password exchanged for a session token at
  ``POST /api/v1/session``. Every credential is registered with ``runtime.register_secret``; the
  token goes only in the ``Authorization: Bearer`` header (never a URL, argv or log line), and
  every log line and error message is redacted.
* TLS verification is on; ``insecure`` turns it off (one warning line says so); ``ca_file`` is
  the PEM bundle to verify against.
* Retries follow the project's ``core.retry.RetryPolicy`` (5xx, connection errors and 429 with
  its Retry-After, for GETs and the stream connect), each wait drawn from a ``RetryBudget`` and
  never past ``deadline``: a wait that would cross it is not slept. A POST sync is re-sent only
  when the connection was never made (refused, connect timeout).
* The deadline bounds whole requests, not socket reads: every body is read in chunks with the
  deadline and a size cap (``MAX_ANSWER``, ``MAX_ERROR_BODY``) checked between them, and a
  watchdog timer shuts the socket of the request in flight at the deadline (headers or a body
  dripped a byte at a time): "did not finish answering by the deadline".
* Errors: 401/403 -> ``ArgoCDAuthError`` (how to create a token; which RBAC permission and
  application), 404 -> ``ArgoCDNotFoundError`` (the application and the app-namespace hint), TLS
  failures -> ``ArgoCDTLSError`` naming ``ca-file`` / ``insecure``, connection failures ->
  ``ArgoCDError`` naming the server URL; Argo CD's own message (``{"error", "code",
  "message"}``) is kept, redacted. Errors a retry cannot fix (TLS, a host name that does not
  resolve, an answer that is not JSON, of the wrong shape or too large) have ``permanent=True``.
* ``app_namespace`` per call (``get_application``, ``sync``, ``list_applications``, ``watch``)
  overrides the connection's; ``close()`` / ``close_stream()`` end a watch blocked on another
  thread at once.
* The watch stream (``GET /api/v1/stream/applications``) is parsed as newline-delimited JSON or
  as server-sent events, by the response Content-Type (``StreamDecoder``); its end, a reset, a
  read timeout or an ``{"error": ...}`` message raise ``ArgoCDStreamError`` so the caller
  re-reads the state with a GET and reconnects.
"""

from __future__ import annotations

import json
import math
import random
import re
import socket
import ssl
import threading
import time
import urllib.parse
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from gitops_release import __version__
from gitops_release.adapters.http import RetryBudget
from gitops_release.core.retry import RetryPolicy
from gitops_release.errors import (
    ArgoCDAuthError,
    ArgoCDError,
    ArgoCDNotFoundError,
    ArgoCDStreamError,
    ArgoCDTLSError,
    InputError,
)
from gitops_release.runtime import redact, register_secret

MAX_STREAM_MESSAGE = 64 * 1024 * 1024  # one watch message (an Application can be large; not this large)
MAX_ANSWER = 32 * 1024 * 1024  # one JSON answer (an ApplicationList of a few thousand apps fits)
MAX_ERROR_BODY = 8192  # what is read of an error answer (Argo CD's message is short)
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
_READ_SIZE = 64 * 1024
_WATCHDOG_MAX = 7 * 24 * 3600.0  # longer waits overflow some platforms' timers (and never end anyway)
_MESSAGE_CHARS = 500  # Argo CD's message, kept in ours up to this length

# With a deadline the deadline bounds the retries (a server down at the start is retried until
# then); without one, a few attempts as for GitHub.
DEADLINE_POLICY = RetryPolicy(max_attempts=1_000_000, base_delay=0.25, max_delay=5.0, max_total_wait=math.inf)
DEFAULT_POLICY = RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=5.0, max_total_wait=30.0)

_HOST_FIX = "set it to the Argo CD host, e.g. argocd.example.com"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_RBAC_OBJECT = re.compile(r"permission denied: applications, (\w+), ([^\s,]+)")


# -- server URL ---------------------------------------------------------------------------------


def normalize_server(raw: str) -> str:
    """The Argo CD base URL: ``https://`` unless ``http://`` is explicit, host lower-cased, the
    default port and a trailing slash dropped, a root path kept. InputError('server') otherwise."""
    text = (raw or "").strip()
    if not text:
        raise InputError("server", "is empty", fix=_HOST_FIX)
    if any(char.isspace() for char in text):
        raise InputError(
            "server", "contains whitespace", fix="give one URL or host name, e.g. argocd.example.com"
        )
    if not _SCHEME.match(text):
        text = f"https://{text}"
    parts = urllib.parse.urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InputError(
            "server",
            f"scheme '{scheme}' is not supported",
            fix="use https://HOST (or http://HOST:PORT for a plain-HTTP server); grpc-web is not needed",
        )
    if "@" in parts.netloc:
        raise InputError(
            "server",
            "must not contain a user name or password",
            fix="pass the credentials in 'token' (or 'username' / 'password'), never in the URL",
        )
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise InputError("server", "must not contain a query or fragment", fix="give only scheme, host, port")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise InputError("server", "has an invalid port", fix="use HOST or HOST:PORT (1-65535)") from None
    if not host:
        raise InputError(
            "server", "has no host name", fix="set it to the Argo CD host, e.g. argocd.example.com"
        )
    shown = f"[{host}]" if ":" in host else host
    if port is not None and (port, scheme) not in ((443, "https"), (80, "http")):
        shown = f"{shown}:{port}"
    path = parts.path.rstrip("/")
    return f"{scheme}://{shown}{path}"


# -- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArgoCDConnection:
    """Where and how to reach Argo CD; ``server`` is normalized by the client."""

    server: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    insecure: bool = False
    ca_file: Path | None = None
    app_namespace: str | None = None

    def __repr__(self) -> str:  # never print a credential
        return (
            f"ArgoCDConnection(server={self.server!r}, token={'***' if self.token else None}, "
            f"username={self.username!r}, insecure={self.insecure}, ca_file={self.ca_file!r}, "
            f"app_namespace={self.app_namespace!r})"
        )


@dataclass(frozen=True)
class WatchEvent:
    """One message of the watch stream: ``type`` ADDED / MODIFIED / DELETED and the Application."""

    type: str
    application: dict


# -- stream parsing (pure) --------------------------------------------------------------------


class StreamDecoder:
    """Incremental parser of the watch body: complete message payloads out of arbitrary chunks.

    NDJSON (``sse=False``): one JSON document per line. Server-sent events (``sse=True``): ``data:``
    fields (with or without the space after the colon) joined by newlines up to the blank line
    that ends the event; ``:`` comment lines (keep-alives) and other fields are ignored. Lines end
    with LF, CRLF or CR; a frame may be split at any byte. A message (or a line) larger than
    ``max_message`` raises ArgoCDStreamError before it is all buffered.
    """

    def __init__(self, *, sse: bool, max_message: int = MAX_STREAM_MESSAGE) -> None:
        self.sse = sse
        self.max_message = max_message
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no line end
        self._data: list[bytes] = []  # SSE: data lines of the current event
        self._data_size = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """The payloads completed by ``chunk`` (in order)."""
        self._buffer += chunk
        out: list[bytes] = []
        while True:
            line = self._next_line(final=False)
            if line is None:
                break
            payload = self._line(line)
            if payload is not None:
                out.append(payload)
        if len(self._buffer) + self._data_size > self.max_message:
            raise self._too_large()
        return out

    def finish(self) -> list[bytes]:
        """At EOF: what the body held after its last line end (a last line without a newline,
        an SSE event without its blank line). The caller treats unparseable leftovers as a
        message cut off by the drop."""
        out: list[bytes] = []
        while True:
            line = self._next_line(final=True)
            if line is None:
                break
            payload = self._line(line)
            if payload is not None:
                out.append(payload)
        if self._buffer:
            payload = self._line(bytes(self._buffer))
            self._buffer.clear()
            if payload is not None:
                out.append(payload)
        if self.sse and self._data:
            out.append(self._event())
        return [payload for payload in out if payload.strip()]

    def _too_large(self) -> ArgoCDStreamError:
        return ArgoCDStreamError(
            f"Argo CD watch stream: a message is larger than {self.max_message // 2**20} MiB; refused",
            fix="watch fewer applications (name or selector) or poll instead (stream: false)",
        )

    def _next_line(self, *, final: bool) -> bytes | None:
        buffer = self._buffer
        lf = buffer.find(b"\n", self._scanned)
        cr = buffer.find(b"\r", self._scanned) if self.sse or b"\r" in buffer else -1
        if lf < 0 and cr < 0:
            self._scanned = len(buffer)
            return None
        if cr < 0 or (0 <= lf < cr):
            end, skip = lf, 1
        elif cr == len(buffer) - 1 and not final:
            self._scanned = cr  # a CR at the end: wait for the next byte (CRLF split across chunks)
            return None
        else:
            end, skip = cr, 2 if cr + 1 < len(buffer) and buffer[cr + 1] == 0x0A else 1
        line = bytes(buffer[:end])
        del buffer[: end + skip]
        self._scanned = 0
        return line

    def _line(self, line: bytes) -> bytes | None:
        if not self.sse:
            return line if line.strip() else None
        if not line:
            return self._event() if self._data else None
        if line.startswith(b":"):
            return None  # comment: keep-alive
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
            self._data_size += len(value) + 1
            if self._data_size > self.max_message:
                raise self._too_large()
        return None

    def _event(self) -> bytes:
        payload = b"\n".join(self._data)
        self._data, self._data_size = [], 0
        return payload


def stream_event(payload: bytes, *, server: str = "Argo CD") -> WatchEvent | None:
    """The WatchEvent in one stream message (``{"result": {"type", "application"}}``; a bare
    ``{"type", "application"}`` too), None for a message without an application.

    ``{"error": ...}`` raises: ArgoCDAuthError / ArgoCDNotFoundError when it carries 401/403/404
    (reconnecting cannot help), else ArgoCDStreamError. Invalid JSON raises ArgoCDStreamError.
    """
    try:
        message = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser's stack
        raise ArgoCDStreamError(
            f"Argo CD watch stream from {server}: a message is not JSON "
            f"({type(exc).__name__}: {_clip(str(exc))})"
        ) from None
    if not isinstance(message, dict):
        raise ArgoCDStreamError(f"Argo CD watch stream from {server}: a message is not a JSON object")
    if message.get("error"):
        raise _stream_error(message["error"], server)
    result = message.get("result", message)
    if not isinstance(result, dict):
        return None
    application = result.get("application")
    if not isinstance(application, dict):
        return None
    kind = result.get("type")
    return WatchEvent(type=str(kind) if kind else "MODIFIED", application=application)


def _stream_error(error: object, server: str) -> ArgoCDError:
    status: int | None = None
    if isinstance(error, dict):
        text = str(error.get("message") or error.get("error") or error.get("http_status") or error)
        code = error.get("http_code")
        status = code if isinstance(code, int) else None
    else:
        text = str(error)
    if status in (401, 403, 404):
        return argocd_error(status, {"message": text}, operation="watch applications")
    return ArgoCDStreamError(
        redact(f"Argo CD watch stream from {server} sent an error: {_clip(text)}"),
        status=status,
        fix="the wait reconnects and re-reads the application; if it persists, poll (stream: false)",
    )


# -- error mapping (pure) ---------------------------------------------------------------------


def server_message(body: object) -> str:
    """Argo CD's message from an error body (``{"error", "code", "message"}``), or its text."""
    data = body
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body[:8192]).decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            data = json.loads(body)
        except ValueError:
            return _clip(" ".join(body.split()))
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data = data["error"]  # a stream's error message: {"error": {"grpc_code", "http_code", "message"}}
    if isinstance(data, dict):
        for key in ("message", "error"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return _clip(" ".join(value.split()))
        return ""
    return _clip(" ".join(str(data).split())) if data not in (None, "") else ""


def _size(count: int) -> str:
    return f"{count // 2**20} MiB" if count >= 2**20 else f"{count} bytes"


def _clip(text: str) -> str:
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


def argocd_error(
    status: int,
    body: object,
    *,
    operation: str,
    app: str | None = None,
    permission: str = "get",
    app_namespace: str | None = None,
    selector: str | None = None,
    login: bool = False,
    resent: bool = True,
) -> ArgoCDError:
    """The errors.py class (with its fix) for an Argo CD error response; message redacted.

    ``resent`` is False for a 5xx to a request sent once and deliberately not re-sent (a sync):
    Argo CD may have started it, and the message says so."""
    message = server_message(body)
    said = f" ({status}: {message})" if message else f" ({status})"
    target = f"application '{app}'" if app else "the applications"
    error: ArgoCDError
    if status == 401:
        if login:
            error = ArgoCDAuthError(
                f"{operation}: Argo CD rejected the username or password{said}",
                status=status,
                fix="check 'username' and 'password' (the account must have the login capability), or "
                "pass a 'token' instead: argocd account generate-token --account <name>",
            )
        else:
            error = ArgoCDAuthError(
                f"{operation}: Argo CD rejected the token (missing, expired or wrong){said}",
                status=status,
                fix="create a token with `argocd account generate-token --account <name>` (the account "
                "needs the apiKey capability in argocd-cm) and pass it as 'token', or pass 'username' "
                "and 'password'",
            )
    elif status == 403:
        found = _RBAC_OBJECT.search(message)
        if found:
            permission, rbac_object = found.group(1), found.group(2)
        elif app and app_namespace:
            rbac_object = f"<project>/{app_namespace}/{app}"
        else:
            rbac_object = f"<project>/{app or '*'}"
        error = ArgoCDAuthError(
            f"{operation}: Argo CD denied the '{permission}' permission on {target}{said}",
            status=status,
            fix=f"grant the account's role `p, <role>, applications, {permission}, {rbac_object}, allow` "
            "(argocd-rbac-cm policy.csv or the AppProject's roles); Argo CD also answers 403 for an "
            "application that does not exist or that this token cannot see, so check the name"
            + (" and 'app-namespace'" if app else "")
            + " too",
        )
    elif status == 404:
        if app:
            where = f" in namespace '{app_namespace}'" if app_namespace else ""
            hint = (
                f"check the name and that '{app_namespace}' is the application's namespace (and is listed "
                "in the server's application.namespaces)"
                if app_namespace
                else "check the name; an application outside the Argo CD namespace (apps in any "
                "namespace) needs 'app-namespace: <its namespace>'"
            )
            error = ArgoCDNotFoundError(
                f"{operation}: Argo CD application '{app}' not found{where}{said}", status=status, fix=hint
            )
        else:
            hint = f"check the selector '{selector}' and " if selector else "check "
            error = ArgoCDNotFoundError(
                f"{operation}: not found on the Argo CD server{said}",
                status=status,
                fix=hint + "the server URL (an Argo CD served under a root path needs it in 'server')",
            )
    elif status == 429:
        error = ArgoCDError(
            f"{operation}: Argo CD (or a proxy in front of it) rate-limited the request{said}"
            + ("; not re-sent" if not resent else ", until the deadline"),
            status=status,
            fix="raise the request rate limit of the proxy / ingress in front of Argo CD, or ask less "
            "often (a longer 'poll-interval', 'stream: true')",
        )
    elif status >= 500 and not resent:
        error = ArgoCDError(
            f"{operation}: Argo CD answered{said}; sent once, not re-sent (Argo CD may have started it)",
            status=status,
            fix="check the application's last operation in Argo CD before re-running",
        )
    elif status >= 500:
        error = ArgoCDError(
            f"{operation}: Argo CD kept failing{said}",
            status=status,
            fix="check the Argo CD server (argocd-server logs) and re-run",
        )
    else:
        error = ArgoCDError(
            f"{operation}: Argo CD refused the request{said}",
            status=status,
            fix="see Argo CD's message; for a sync, an operation may already be in progress",
        )
    return _redacted(error)


def _redacted(error: ArgoCDError) -> ArgoCDError:
    error.message = redact(error.message)
    if error.fix:
        error.fix = redact(error.fix)
    error.args = (error.message,)
    return error


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps (requests -> urllib3 ``reason`` -> the socket or ssl error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        nested = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        reason = getattr(current, "reason", None)
        current = (
            reason
            if isinstance(reason, BaseException)
            else nested or current.__cause__ or current.__context__
        )


def _never_sent(exc: BaseException) -> bool:
    """True when the request certainly never reached the server (safe to re-send a POST)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    return any(
        isinstance(cause, (ConnectionRefusedError, socket.gaierror, urllib3.exceptions.NewConnectionError))
        for cause in _causes(exc)
    )


def _name_not_resolved(exc: BaseException) -> bool:
    """The server's host name does not resolve (a typo, a private name): not worth a retry. A
    temporary resolver failure (EAI_AGAIN) is not this."""
    return any(
        isinstance(cause, socket.gaierror) and cause.errno != socket.EAI_AGAIN for cause in _causes(exc)
    )


_CERT_WORDS = re.compile(
    r"certificate verify failed|CERTIFICATE_VERIFY_FAILED|hostname mismatch|doesn't match", re.I
)
_NOT_TLS_WORDS = re.compile(
    r"wrong version number|WRONG_VERSION_NUMBER|record layer failure|http request", re.I
)


def _tls_failure(exc: BaseException) -> str | None:
    """'verify' when the server's certificate does not verify, 'not-tls' when the server does not
    speak TLS, None for other TLS trouble (a handshake cut short: retried like a reset)."""
    causes = list(_causes(exc))
    if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes):
        return "verify"
    text = " ".join(str(cause) for cause in causes)
    if _CERT_WORDS.search(text):
        return "verify"
    if _NOT_TLS_WORDS.search(text):
        return "not-tls"
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if _never_sent(exc) and "refused" in text.lower():
        return "connection refused"
    # urllib3 wraps everything in "HTTPConnectionPool(host=..., port=...): Max retries exceeded ..."
    inner = re.search(r"\(Caused by (\w+)\((.*)\)\)\s*$", text)
    if inner:
        text = f"{inner.group(1)}: {inner.group(2)}"
    return _clip(" ".join(text.split()))


# -- requests in flight ----------------------------------------------------------------------


def _shutdown(sock: object) -> None:
    """Shut a socket down (both ways) so a thread blocked reading it returns at once. The plain
    socket method, also for an SSLSocket: its own shutdown() would drop the TLS state under a
    reader on another thread."""
    if isinstance(sock, socket.socket):
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass  # already closed or not connected


def _response_socket(response: requests.Response) -> object:
    """The socket under a streamed response (urllib3 keeps the connection with the response)."""
    raw = response.raw
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    return getattr(connection, "sock", None)


class _InFlight:
    """The urllib3 connections of one client's session that are checked out of their pool (a
    request being sent, its headers or its body being read), so a watchdog or ``close()`` on
    another thread can shut their sockets down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()

    def add(self, connection: object) -> None:
        if connection is not None:
            with self._lock:
                self._connections.add(connection)

    def discard(self, connection: object) -> None:
        if connection is not None:
            with self._lock:
                self._connections.discard(connection)

    def shutdown(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _shutdown(getattr(connection, "sock", None))


class _Tracked:
    """A connection pool mixin: every connection checked out is in ``in_flight`` until returned."""

    in_flight: _InFlight | None = None

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        if self.in_flight is not None:
            self.in_flight.add(connection)
        return connection

    def _put_conn(self, conn: Any) -> None:
        if self.in_flight is not None:
            self.in_flight.discard(conn)
        super()._put_conn(conn)  # type: ignore[misc]


class _TrackedHTTPPool(_Tracked, HTTPConnectionPool):
    pass


class _TrackedHTTPSPool(_Tracked, HTTPSConnectionPool):
    pass


class _TrackingAdapter(HTTPAdapter):
    """requests' adapter whose pools report the connections in flight to ``in_flight``."""

    def __init__(self, in_flight: _InFlight) -> None:
        self.in_flight = in_flight
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        attributes = {"in_flight": self.in_flight}
        self.poolmanager.pool_classes_by_scheme = {
            "http": cast(
                "type[HTTPConnectionPool]", type("TrackedHTTPPool", (_TrackedHTTPPool,), attributes)
            ),
            "https": cast(
                "type[HTTPConnectionPool]", type("TrackedHTTPSPool", (_TrackedHTTPSPool,), attributes)
            ),
        }


# -- the client -------------------------------------------------------------------------------


class ArgoCDClient:
    """Argo CD REST and watch over requests, with retries until ``deadline`` (monotonic seconds).

    The deadline bounds whole requests, not only each socket read: every answer is read in
    chunks, checking the deadline and a size cap (``MAX_ANSWER``; ``MAX_ERROR_BODY`` of an error)
    between them, and a watchdog timer shuts the socket of the request in flight when the
    deadline passes (a server dripping its headers or body one byte at a time), raising
    ArgoCDError "did not finish answering by the deadline". ``close()`` (or ``close_stream()``)
    from another thread ends a ``watch()`` blocked in a read at once.
    """

    def __init__(
        self,
        connection: ArgoCDConnection,
        *,
        deadline: float | None = None,
        say: Callable[[str], None] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        policy: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.server = normalize_server(connection.server)
        self.connection = connection
        for secret in (connection.token, connection.password):
            register_secret(secret)
        self.deadline = deadline
        self._say_fn = say
        self.sleep = sleep
        self.clock = clock
        self.rand = rand
        self.policy = policy or (DEADLINE_POLICY if deadline is not None else DEFAULT_POLICY)
        self.budget = budget if budget is not None else RetryBudget(self.policy.max_total_wait)
        self._owns_session = session is None
        self._in_flight = _InFlight()
        if session is None:
            session = requests.Session()
            adapter = _TrackingAdapter(self._in_flight)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self.requests_made = 0
        self.max_stream_message = MAX_STREAM_MESSAGE
        self.max_answer = MAX_ANSWER
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None  # this attempt's watchdog
        self._expired = False  # the watchdog fired for the current attempt
        self._cutoff: float | None = None  # clock() value past which a read is given up
        self._stream: requests.Response | None = None  # the live watch response
        self._stream_cut = False  # close_stream() cut the current watch (maybe while it connected)
        self._watching = False  # a watch() is connecting or reading
        self._closed = False
        self._token = connection.token or None
        self.verify: bool | str = True
        if connection.ca_file is not None and not connection.insecure:
            path = Path(connection.ca_file)
            if not path.is_file():
                raise InputError(
                    "ca-file",
                    f"{path} does not exist or is not a file",
                    fix="give the path of the PEM file with the CA certificate(s) that signed the Argo CD "
                    "server certificate",
                )
            self.verify = str(path)
        if connection.insecure:
            self.verify = False
            self._say(
                f"warning: TLS certificate verification is OFF for {self.server} (insecure: true); "
                "prefer ca-file with the server's CA"
            )

    # -- helpers --------------------------------------------------------------------------------

    def _say(self, line: str) -> None:
        if self._say_fn is not None:
            self._say_fn(redact(line))

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - self.clock()

    def _timeouts(self, read: float) -> tuple[float, float]:
        remaining = self._remaining()
        if remaining is None:
            return CONNECT_TIMEOUT, read
        left = max(0.05, remaining)  # the request itself ends at the deadline
        return min(CONNECT_TIMEOUT, left), min(read, left)

    def _arm(self) -> None:
        """Start the watchdog of one attempt: when what is left of the deadline has passed (in real
        seconds), it shuts the sockets of the requests in flight so no read can hold on."""
        self._disarm()
        remaining = self._remaining()
        if remaining is None:
            self._cutoff = None
            return
        left = max(0.05, remaining)  # as _timeouts: a request at the deadline still gets a moment
        self._cutoff = self.clock() + left
        if left > _WATCHDOG_MAX:
            return  # a deadline this far (or infinite) needs no timer thread; the cutoff still holds
        timer = threading.Timer(left, self._expire)
        timer.daemon = True
        timer.name = "argocd request watchdog"
        with self._lock:
            self._timer, self._expired = timer, False
        timer.start()

    def _disarm(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            if self._timer is None or self._timer is not threading.current_thread():
                return  # disarmed meanwhile
            self._expired = True
        self._in_flight.shutdown()
        with self._lock:
            stream = self._stream
        if stream is not None:
            _shutdown(_response_socket(stream))

    def _past_cutoff(self) -> bool:
        return self._expired or (self._cutoff is not None and self.clock() >= self._cutoff)

    def _unfinished(self, operation: str, received: int | None) -> ArgoCDError:
        got = "before the answer began" if received is None else f"after {received} bytes of the answer"
        return _redacted(
            ArgoCDError(
                f"{operation}: {self.server} did not finish answering by the deadline (gave up {got})",
                fix="Argo CD (or a proxy in front of it) answers too slowly: check the server and the "
                "network path from the runner, or raise 'timeout'",
            )
        )

    def _read_body(self, response: requests.Response, operation: str, *, limit: int, truncate: bool) -> bytes:
        """The body, read chunk by chunk: given up at the deadline and at ``limit`` bytes (an error
        when ``truncate`` is False, else the first ``limit`` bytes). Closes the response."""
        data = bytearray()
        try:
            length = response.headers.get("content-length", "")
            if not truncate and length.isdigit() and int(length) > limit:
                raise self._too_large(operation, limit)
            for chunk in _chunks(response):
                data += chunk
                if len(data) >= limit:
                    if truncate:
                        return bytes(data[:limit])
                    if len(data) > limit:
                        raise self._too_large(operation, limit)
                if self._past_cutoff():
                    raise self._unfinished(operation, len(data))
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if self._past_cutoff():
                raise self._unfinished(operation, len(data)) from None
            raise _redacted(
                ArgoCDError(
                    f"{operation}: the connection to {self.server} broke while reading the answer: "
                    f"{_reason(exc)}",
                    fix="check that Argo CD is reachable from the runner; the wait retries until the timeout",
                )
            ) from None
        finally:
            response.close()  # after a complete body the connection is already back in the pool
        if self._expired:  # the watchdog's shutdown can look like the end of the body
            raise self._unfinished(operation, len(data))
        return bytes(data)

    def _too_large(self, operation: str, limit: int) -> ArgoCDError:
        return _redacted(
            ArgoCDError(
                f"{operation}: the answer of {self.server} is larger than {_size(limit)}; refused",
                fix="check that 'server' is the Argo CD API server; list fewer applications (a narrower "
                "selector or 'app-namespace')",
                permanent=True,
            )
        )

    def _url(self, path: str) -> str:
        return f"{self.server}{path}"

    def _app_path(self, name: str, suffix: str = "") -> str:
        return f"/api/v1/applications/{urllib.parse.quote(name, safe='')}{suffix}"

    def _headers(self, accept: str = "application/json", *, auth: bool = True) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": f"gitops-release/{__version__}"}
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _wait_for_retry(
        self,
        *,
        method: str,
        status: int | None,
        attempt: int,
        waited: float,
        idempotent: bool | None,
        headers: Mapping[str, object] | None = None,
    ) -> float | None:
        budget_left = self.budget.left()
        remaining = self._remaining()
        if remaining is not None:
            budget_left = min(budget_left, max(0.0, remaining))  # never sleep across the deadline
        wait = self.policy.decide(
            method=method,
            status=status,
            headers=headers or {},  # Retry-After of a 429
            attempt=attempt,
            waited=waited,
            now=time.time(),
            idempotent=idempotent,
            rand=self.rand(),
            budget_left=budget_left,
        )
        if wait is None or not self.budget.take(wait):
            return None
        return wait

    def _can_login(self) -> bool:
        return bool(self.connection.username) and self.connection.password is not None

    def _needs_login(self) -> bool:
        return not self._token and self._can_login()

    def _request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, str] | None = None,
        json_body: object = None,
        idempotent: bool | None = None,
        accept: str = "application/json",
        read_timeout: float = READ_TIMEOUT,
        app: str | None = None,
        app_namespace: str | None = None,
        permission: str = "get",
        selector: str | None = None,
        login: bool = False,
    ) -> requests.Response:
        """Send with retries; the 2xx response, its body not read yet and this attempt's watchdog
        still armed (the caller reads the body, then ``_disarm()``s), else the mapped error."""
        if not login and self._needs_login():
            self.login()
        url = self._url(path)
        attempt, waited, relogged = 1, 0.0, False
        while True:
            self._arm()
            try:
                self.requests_made += 1
                with warnings.catch_warnings():
                    if self.verify is False:  # said once at start, not per request
                        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    # stream=True: the body is read by _read_body, in chunks, within the deadline
                    response = self.session.request(
                        method,
                        url,
                        params=params,
                        json=json_body,
                        headers=self._headers(accept, auth=not login),
                        timeout=self._timeouts(read_timeout),
                        verify=self.verify,
                        stream=True,
                        allow_redirects=method == "GET",
                    )
            except requests.RequestException as exc:
                self._disarm()
                if self._expired or (self._past_cutoff() and not _never_sent(exc)):
                    # connected, but the TLS handshake or the headers did not end by the deadline
                    # (the watchdog cut them, or the last read timed out at it)
                    raise self._unfinished(operation, None) from None
                tls = _tls_failure(exc) if isinstance(exc, requests.exceptions.SSLError) else None
                if tls is not None:
                    raise self._tls_error(operation, tls, exc) from None
                if _name_not_resolved(exc):
                    raise _redacted(
                        ArgoCDError(
                            f"{operation}: the host name of {self.server} does not resolve: {_reason(exc)}",
                            fix="check the 'server' input for a typo; a name only your network resolves "
                            "needs a runner inside that network",
                            permanent=True,
                        )
                    ) from None
                never_sent = _never_sent(exc)
                wait = self._wait_for_retry(
                    method=method,
                    status=None,
                    attempt=attempt,
                    waited=waited,
                    idempotent=True if never_sent else idempotent,
                )
                reason = _reason(exc)
                if wait is None:
                    raise self._unreachable(
                        operation, method, idempotent, never_sent, attempt, reason
                    ) from None
                self._say(
                    self.policy.describe_wait(
                        status=None, attempt=attempt, wait=wait, service="Argo CD", error=reason
                    )
                )
                self.sleep(wait)
                waited, attempt = waited + wait, attempt + 1
                continue

            if self._expired:  # the watchdog's shutdown ended the headers early: they are cut off
                self._disarm()
                response.close()
                raise self._unfinished(operation, None)
            if 200 <= response.status_code < 300:
                return response
            status = response.status_code
            try:
                body = self._read_body(response, operation, limit=MAX_ERROR_BODY, truncate=True)
            finally:
                self._disarm()
            if status == 401 and not login and not relogged and self._can_login():
                # A session token expires (24 h by default): log in again once.
                relogged = True
                self._token = None
                self.login()
                continue
            # A 429 (a rate-limiting proxy or ingress) refused the request without processing it:
            # a GET waits as it asks (Retry-After) when that ends before the deadline.
            if status in (500, 502, 503, 504) or (status == 429 and (method == "GET" or idempotent)):
                wait = self._wait_for_retry(
                    method=method,
                    status=status,
                    attempt=attempt,
                    waited=waited,
                    idempotent=idempotent,
                    headers=response.headers,
                )
                if wait is not None:
                    self._say(
                        self.policy.describe_wait(
                            status=status, attempt=attempt, wait=wait, service="Argo CD"
                        )
                    )
                    self.sleep(wait)
                    waited, attempt = waited + wait, attempt + 1
                    continue
            raise argocd_error(
                status,
                body,
                operation=operation,
                app=app,
                permission=permission,
                app_namespace=app_namespace or self.connection.app_namespace,
                selector=selector,
                login=login,
                resent=method == "GET" or bool(idempotent),
            )

    def _tls_error(self, operation: str, kind: str, exc: BaseException) -> ArgoCDError:
        if kind == "not-tls":
            return _redacted(
                ArgoCDTLSError(
                    f"{operation}: {self.server} does not speak TLS: {_reason(exc)}",
                    fix="a plain-HTTP server needs 'server: http://HOST:PORT' (check the port too)",
                )
            )
        return _redacted(
            ArgoCDTLSError(
                f"{operation}: TLS verification of {self.server} failed: {_reason(exc)}",
                fix="if the server's certificate is signed by a private CA, pass that CA's PEM file "
                "as 'ca-file'; only for a test server without a real certificate, set "
                "'insecure: true'",
            )
        )

    def _unreachable(
        self,
        operation: str,
        method: str,
        idempotent: bool | None,
        never_sent: bool,
        attempt: int,
        reason: str,
    ) -> ArgoCDError:
        remaining = self._remaining()
        when = " (stopped at the deadline)" if remaining is not None and remaining <= 5.0 else ""
        if not never_sent and method != "GET" and not idempotent:
            return _redacted(
                ArgoCDError(
                    f"{operation}: sent once, not re-sent (Argo CD may have started it): no answer from "
                    f"{self.server}: {reason}",
                    fix="check the application's last operation in Argo CD before re-running",
                )
            )
        return _redacted(
            ArgoCDError(
                f"{operation}: could not reach Argo CD at {self.server} after {attempt} attempt(s){when}: "
                f"{reason}",
                fix="check the 'server' input (scheme, host, port and any root path) and that Argo CD is "
                "reachable from the runner",
            )
        )

    def _json(self, response: requests.Response, operation: str) -> Any:
        """The JSON of a 2xx answer, read within the deadline and ``max_answer``; disarms."""
        try:
            body = self._read_body(response, operation, limit=self.max_answer, truncate=False)
        finally:
            self._disarm()
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
            raise _redacted(
                ArgoCDError(
                    f"{operation}: {self.server} answered {response.status_code} with a non-JSON body",
                    status=response.status_code,
                    fix="check that 'server' is the Argo CD API server (not its UI behind an SSO proxy)",
                    permanent=True,
                )
            ) from None

    def _app_params(self, app_namespace: str | None = None, **extra: str | None) -> dict[str, str]:
        params = {key: value for key, value in extra.items() if value}
        namespace = app_namespace or self.connection.app_namespace
        if namespace:
            params["appNamespace"] = namespace
        return params

    # -- API ------------------------------------------------------------------------------------

    def login(self) -> None:
        """Exchange username/password for a session token (``POST /api/v1/session``)."""
        username, password = self.connection.username, self.connection.password
        if not username or password is None:
            raise InputError("username", "login needs both username and password", fix="set both, or a token")
        response = self._request(
            "POST",
            "/api/v1/session",
            operation=f"log in to Argo CD as '{username}'",
            json_body={"username": username, "password": password},
            idempotent=True,  # a second session is harmless
            login=True,
        )
        answer = self._json(response, "log in")
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise ArgoCDAuthError(
                f"log in to Argo CD as '{username}': the answer holds no session token",
                fix="check that 'server' is the Argo CD API server; or pass a 'token'",
            )
        register_secret(token)
        self._token = token

    @property
    def session_token(self) -> str | None:
        """The bearer token in use (the connection's token, or the session token of ``login()``), for
        a second client on another thread. Already registered as a secret."""
        return self._token

    def get_application(
        self, name: str, *, refresh: str | None = None, app_namespace: str | None = None
    ) -> dict:
        """``GET /api/v1/applications/{name}`` (``refresh`` normal / hard asks for a reconcile).
        ``app_namespace`` (the listed app's ``metadata.namespace``) overrides the connection's;
        None or "" means the connection's."""
        response = self._request(
            "GET",
            self._app_path(name),
            operation=f"get Argo CD application '{name}'",
            params=self._app_params(app_namespace, refresh=refresh),
            app=name,
            app_namespace=app_namespace,
        )
        app = self._json(response, f"get application '{name}'")
        if not isinstance(app, dict):
            raise _redacted(
                ArgoCDError(
                    f"get application '{name}': the answer is not an Application object",
                    fix="check that 'server' is the Argo CD API server",
                    permanent=True,
                )
            )
        return app

    def list_applications(
        self, *, selector: str | None = None, app_namespace: str | None = None
    ) -> list[dict]:
        """``GET /api/v1/applications`` filtered by a label selector (Argo CD leaves out the
        applications this token may not get, so an empty list may also mean missing RBAC). Without
        an app namespace (here or the connection's) Argo CD lists every namespace it manages."""
        response = self._request(
            "GET",
            "/api/v1/applications",
            operation="list Argo CD applications" + (f" with selector '{selector}'" if selector else ""),
            params=self._app_params(app_namespace, selector=selector),
            selector=selector,
            app_namespace=app_namespace,
        )
        data = self._json(response, "list applications")
        items = data.get("items") if isinstance(data, dict) else data
        if items is None:
            return []  # Argo CD leaves "items" out of an empty list
        if not isinstance(data, dict) or not isinstance(items, list):
            raise _redacted(
                ArgoCDError(
                    f"list applications: the answer of {self.server} is not an ApplicationList",
                    fix="check that 'server' is the Argo CD API server",
                    permanent=True,
                )
            )
        return [item for item in items if isinstance(item, dict)]

    def sync(
        self,
        name: str,
        *,
        revision: str | None = None,
        prune: bool = False,
        sync_options: Sequence[str] = (),
        app_namespace: str | None = None,
    ) -> dict:
        """``POST /api/v1/applications/{name}/sync``; re-sent only when it certainly never left.
        ``app_namespace`` overrides the connection's (None or "": the connection's)."""
        body: dict[str, Any] = {"name": name, "prune": prune}
        if revision:
            body["revision"] = revision
        if sync_options:
            body["syncOptions"] = {"items": list(sync_options)}
        namespace = app_namespace or self.connection.app_namespace
        if namespace:
            body["appNamespace"] = namespace
        response = self._request(
            "POST",
            self._app_path(name, "/sync"),
            operation=f"sync Argo CD application '{name}'",
            json_body=body,
            app=name,
            app_namespace=app_namespace,
            permission="sync",
        )
        app = self._json(response, f"sync application '{name}'")
        return app if isinstance(app, dict) else {}

    def watch(
        self,
        *,
        name: str | None = None,
        selector: str | None = None,
        read_timeout: float = 30.0,
        sse: bool = False,
        app_namespace: str | None = None,
    ) -> Iterator[WatchEvent]:
        """Events of one stream connection (the connect is retried like a GET). Raises
        ArgoCDStreamError when the stream ends, breaks, stalls past ``read_timeout``, sends an
        error or is closed by ``close_stream()`` / ``close()``: the caller re-reads the state with
        a GET and calls ``watch`` again. Argo CD applies ``app_namespace`` (else the connection's)
        only together with ``name``."""
        with self._lock:
            if self._closed:
                raise ArgoCDStreamError("Argo CD watch stream: the client is closed")
            self._watching, self._stream_cut = True, False
        try:
            response = self._request(
                "GET",
                "/api/v1/stream/applications",
                operation="watch Argo CD application" + (f" '{name}'" if name else "s"),
                params=self._app_params(app_namespace, name=name, selector=selector),
                accept="text/event-stream" if sse else "application/json",
                read_timeout=read_timeout,
                app=name,
                app_namespace=app_namespace,
                selector=selector,
            )
        except BaseException:
            with self._lock:
                self._watching = False
            raise
        self._disarm()  # connected and the headers read: the body is bounded by read_timeout
        if self._expired:
            response.close()
            with self._lock:
                self._watching = False
            raise self._unfinished("watch Argo CD applications", None)
        with self._lock:
            self._stream = response
            cut = self._stream_cut or self._closed
        if cut:  # close_stream() / close() ran while this connected
            _shutdown(_response_socket(response))
        content_type = response.headers.get("content-type", "").lower()
        decoder = StreamDecoder(
            sse=content_type.startswith("text/event-stream"), max_message=self.max_stream_message
        )
        try:
            for chunk in _chunks(response):
                for payload in decoder.feed(chunk):
                    event = stream_event(payload, server=self.server)
                    if event is not None:
                        yield event
            for payload in decoder.finish():
                try:
                    event = stream_event(payload, server=self.server)
                except ArgoCDStreamError:
                    break  # the drop cut this message off
                if event is not None:
                    yield event
            reason = "the server closed it"
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            # ValueError: a read on a response closed under it
            reason = _reason(exc)
        finally:
            with self._lock:
                if self._stream is response:
                    self._stream = None
                self._watching = False
                cut = self._stream_cut or self._closed
            response.close()
        if cut:
            reason = "closed by the client"
        raise _redacted(
            ArgoCDStreamError(
                f"Argo CD watch stream from {self.server} ended: {reason}",
                fix="the wait reconnects and re-reads the application state",
            )
        )

    def close_stream(self) -> None:
        """End the live ``watch()`` stream, if any: its socket is shut down, so a thread blocked
        reading it gets ArgoCDStreamError at once. Safe from any thread, more than once."""
        with self._lock:
            stream = self._stream
            if self._watching:
                self._stream_cut = True  # a watch still connecting is cut once connected
        if stream is not None:
            _shutdown(_response_socket(stream))

    def close(self) -> None:
        """End the live stream and every request in flight (a thread blocked in one returns at
        once), then close the connections (only the session this client created). Safe from any
        thread, more than once."""
        with self._lock:
            self._closed = True
        self.close_stream()
        self._in_flight.shutdown()
        self._disarm()
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> ArgoCDClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _chunks(response: requests.Response) -> Iterable[bytes]:
    """The body as it arrives: each HTTP chunk (or part of one) as soon as it is read."""
    raw = response.raw
    if getattr(raw, "chunked", False) or not hasattr(raw, "read1"):
        yield from response.iter_content(chunk_size=_READ_SIZE)
        return
    while True:
        data = raw.read1(_READ_SIZE, decode_content=True)  # requests asks urllib3 not to decode
        if not data:
            return
        yield data


__all__ = [
    "MAX_STREAM_MESSAGE",
    "ArgoCDClient",
    "ArgoCDConnection",
    "StreamDecoder",
    "WatchEvent",
    "argocd_error",
    "normalize_server",
    "server_message",
    "stream_event",
]
