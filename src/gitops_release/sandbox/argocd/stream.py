"""``GET /api/v1/stream/applications``: the watch, framed byte for byte as Argo CD frames it.

Argo CD v3.5 serves the watch through grpc-gateway v1.16 ``runtime.ForwardResponseStream`` with
argoproj/pkg ``grpc/http.NewStreamForwarder`` (keyed by application name):

* each message is ``{"result": {"type": "ADDED|MODIFIED|DELETED", "application": {...}}}``
  (Go ``encoding/json``: compact, ``<``, ``>``, ``&`` escaped), followed by the delimiter ``\\n``;
* without ``Accept: text/event-stream``: that is all (newline-delimited JSON,
  ``Content-Type: application/json``, ``Transfer-Encoding: chunked``, no keep-alives);
* with it: the message is marshalled as the SSE frame ``data: <json> \\n\\n`` (note the space; the
  corpus file ``stream/argoproj-pkg-TestMarshalerSSE.expected-sse-frame.txt``), still followed by
  the gateway's ``\\n`` delimiter (the SSE marshaler is not ``Delimited``), and a ``:\\n`` comment
  line is written every 15 s (``keepalive``) whatever else is sent;
* a message byte-identical to the previous one for the same application name is not sent again;
* first the current state of every matching application as ADDED (sorted by namespace/name;
  skipped when ``resourceVersion`` is given without ``name``), then the changes; ``name``
  (+ ``appNamespace``), ``selector``, ``projects`` filter, and apps the token may not ``get``
  are left out silently (no 403 on a watch);
* chunking: Go's response writer buffers 2048 bytes before chunking, so a message of 2048 bytes
  or more goes out as its own chunk and the delimiter as the next one; smaller messages share one
  chunk with their delimiter. Clients must not assume a frame is one chunk.
* an error before the first message (401) is the stream's error chunk
  ``{"error": {"grpc_code", "http_code", "message", "http_status"}}`` with that HTTP status.

Compression: Argo CD's server wraps everything but SSE in gorilla/handlers CompressHandler
(``--enable-gzip``, on by default): a client that accepts gzip (or deflate) gets the NDJSON watch
gzip-compressed, each message sync-flushed into its chunk (see ``server.py``).

The watch ends when its client closes the connection, even while nothing is sent (an NDJSON watch
has no keep-alive write that would fail): Argo CD returns on ``ws.Context().Done()``, which Go's
server cancels when the connection's background read sees end-of-file.

A dropped stream (fault injection, the sandbox stopping) closes the socket without the
terminating ``0\\r\\n\\r\\n`` chunk, as a proxy or a restarting server does.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Protocol

#: net/http's bufferBeforeChunkingSize: a write this long on an empty buffer is its own chunk.
GO_CHUNK_BUFFER = 2048
DELIMITER = b"\n"
KEEPALIVE = b":\n"
SSE = "text/event-stream"
#: The application namespace of the control plane (Argo CD's own namespace).
CONTROL_PLANE_NAMESPACE = "argocd"


def _go_default(value: Any) -> Any:
    # metav1.Time marshals as RFC 3339 in UTC, second precision (YAML timestamps load as datetime).
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def go_json(value: Any) -> bytes:
    """``json.Marshal`` bytes: compact, UTF-8, with Go's HTML-safe escapes."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_go_default)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text.encode("utf-8")


def message_bytes(message: Mapping[str, Any], *, sse: bool) -> bytes:
    """One marshalled message as the forwarder's marshaler returns it (without the delimiter)."""
    data = go_json(message)
    return b"data: " + data + b" \n\n" if sse else data


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def message_pieces(message: Mapping[str, Any], *, sse: bool) -> list[bytes]:
    """The HTTP chunks' data one message goes out as, uncompressed (see the module doc on Go's
    2048-byte buffer)."""
    data = message_bytes(message, sse=sse)
    if len(data) >= GO_CHUNK_BUFFER:
        return [data, DELIMITER]
    return [data + DELIMITER]


def message_chunks(message: Mapping[str, Any], *, sse: bool) -> list[bytes]:
    """The HTTP chunks one message goes out as, uncompressed."""
    return [chunk(piece) for piece in message_pieces(message, sse=sse)]


# -- label selectors (k8s.io/apimachinery/pkg/labels) --------------------------------------------

_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


class SelectorError(ValueError):
    """A selector k8s cannot parse."""


def _requirements(selector: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


Labels = Mapping[str, str]


def _in(key: str, options: frozenset[str], negate: bool) -> Callable[[Labels], bool]:
    return lambda labels: (labels.get(key) in options) != negate


def _equals(key: str, value: str, negate: bool) -> Callable[[Labels], bool]:
    return lambda labels: (labels.get(key) == value) != negate


def _exists(key: str, negate: bool) -> Callable[[Labels], bool]:
    return lambda labels: (key in labels) != negate


def parse_selector(selector: str) -> Callable[[Labels], bool]:
    """A predicate over labels: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``,
    ``k notin (a,b)``; a comma is AND; empty matches everything. SelectorError otherwise."""
    checks: list[Callable[[Labels], bool]] = []
    if not selector.strip():
        return lambda labels: True
    for requirement in _requirements(selector):
        if match := _SET.match(requirement):
            options = frozenset(v.strip() for v in match.group(4).split(","))
            checks.append(_in(match.group(1), options, negate=match.group(3) == "notin"))
        elif match := _EQ.match(requirement):
            checks.append(_equals(match.group(1), match.group(4), negate=match.group(3) == "!="))
        elif match := _EXISTS.match(requirement):
            checks.append(_exists(match.group(2), negate=match.group(1) == "!"))
        else:
            raise SelectorError(f"unable to parse requirement: {requirement.strip()!r}")
    return lambda labels: all(check(labels) for check in checks)


# -- the watch -----------------------------------------------------------------------------------


def qualified_name(app: Mapping[str, Any]) -> tuple[str, str]:
    meta = app.get("metadata") or {}
    return str(meta.get("namespace") or CONTROL_PLANE_NAMESPACE), str(meta.get("name") or "")


def rbac_name(app: Mapping[str, Any]) -> str:
    """Application.RBACName: ``project/name`` in the control plane's namespace, else
    ``project/namespace/name``."""
    namespace, name = qualified_name(app)
    project = str((app.get("spec") or {}).get("project") or "default")
    return f"{project}/{name}" if namespace == CONTROL_PLANE_NAMESPACE else f"{project}/{namespace}/{name}"


@dataclass(frozen=True)
class WatchQuery:
    name: str | None
    app_namespace: str
    selector: Callable[[Mapping[str, str]], bool]
    projects: frozenset[str]
    may_get: Callable[[Mapping[str, Any]], bool]
    #: ``resourceVersion``: changes older than it are not sent.
    min_version: int = 0

    def matches(self, app: Mapping[str, Any]) -> bool:
        """Application server isApplicationPermitted."""
        if self.projects and str((app.get("spec") or {}).get("project") or "") not in self.projects:
            return False
        version = str((app.get("metadata") or {}).get("resourceVersion") or "")
        if version.isdigit() and int(version) < self.min_version:
            return False
        namespace, name = qualified_name(app)
        if self.name is not None and (name != self.name or namespace != self.app_namespace):
            return False
        labels = (app.get("metadata") or {}).get("labels") or {}
        return bool(self.selector(labels)) and self.may_get(app)


class Subscription(Protocol):
    def next(self, timeout: float) -> tuple[str, dict[str, Any]] | None: ...

    def close(self) -> None: ...


class Dropped(Exception):
    """The connection is to be cut without the terminating chunk."""


class Connection(Protocol):
    """What the server gives the watch loop for one open stream."""

    sse: bool
    keepalive: float

    def send(self, pieces: Sequence[bytes]) -> None: ...  # one flush; OSError when the client left

    def should_drop(self, events_sent: int, opened_at: float) -> bool: ...

    def stopping(self) -> bool: ...

    def client_gone(self) -> bool: ...  # the client closed the connection (checked every tick)

    def check(self, result: Mapping[str, Any]) -> None: ...  # contract check of one message


def run_watch(
    connection: Connection,
    query: WatchQuery,
    subscription: Subscription,
    initial: Sequence[Mapping[str, Any]],
    *,
    clock: Callable[[], float] = time.monotonic,
    tick: float = 0.02,
) -> None:
    """Serve one watch until the client leaves (returns), the sandbox stops, or a drop is due
    (Dropped).
    ``subscription`` was opened before ``initial`` was read, so no change falls between them."""
    opened = clock()
    next_keepalive = opened + connection.keepalive
    last_by_name: dict[str, bytes] = {}
    sent = 0

    def send(event_type: str, app: Mapping[str, Any]) -> None:
        nonlocal sent
        if not query.matches(app):
            return
        result = {"type": event_type, "application": app}
        message = {"result": result}
        data = message_bytes(message, sse=connection.sse)
        key = qualified_name(app)[1]
        if last_by_name.get(key) == data:
            return  # NewStreamForwarder: identical to the last message for this name
        last_by_name[key] = data
        connection.check(result)
        connection.send(message_pieces(message, sse=connection.sse))
        sent += 1
        if connection.should_drop(sent, opened):
            raise Dropped()

    ordered = sorted(initial, key=lambda a: "/".join(qualified_name(a)))
    for app in ordered:
        send("ADDED", app)
    while True:
        if connection.stopping():
            raise Dropped()
        if connection.should_drop(sent, opened):
            raise Dropped()
        if connection.client_gone():
            return
        now = clock()
        if connection.sse and now >= next_keepalive:
            connection.send([KEEPALIVE])
            # A ticker: the next one is due an interval after this one was, whatever was sent.
            while next_keepalive <= now:
                next_keepalive += connection.keepalive
        wait = tick
        if connection.sse:
            wait = max(0.0, min(wait, next_keepalive - now))
        event = subscription.next(wait)
        if event is not None:
            event_type, app = event
            send(event_type, app)


def drop_socket(sock: socket.socket) -> None:
    """Close at once, no terminating chunk: the client sees the body end mid-stream."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def selector_of(query: Mapping[str, Iterable[str]] | Mapping[str, str]) -> str:
    value = query.get("selector") or ""
    return value if isinstance(value, str) else ",".join(value)
