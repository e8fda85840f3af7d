"""uvicorn's HTTP/1.1 protocol (h11) with the bounds a port open to a cluster needs, and the
uvicorn ``Config`` that ``gitops-release serve`` runs.

uvicorn alone keeps a connection open for as long as its client sends nothing, or sends a
request head one byte at a time: its keep-alive timeout only starts after a response. Enough
such connections (slowloris) exhaust the process's file descriptors and ``/health/live`` fails,
so the kubelet restarts every replica. uvicorn's own cap (``limit_concurrency``) counts idle
connections too and answers 503 to every request above it, ``/health/live`` included (measured:
10 idle connections against a cap of 10 gave three 503s out of three). So instead:

- **Request head timeout**: a connection that has not sent a complete request head within
  ``head_timeout`` (10 s) of connecting, or of its first byte after a response, is closed. The
  bound is on the whole head, not between bytes, so trickling does not extend it. The same bound
  covers the rest of a request body still arriving after its response was sent.
- **Connection cap with shedding**: above ``max_connections`` open connections, the oldest one
  that is not being answered (waiting for a head, or idle between requests) is closed to make
  room; if every connection is being answered, the new one is closed. A probe's connection sends
  its request at once, so idle or half-sent connections never keep it out.
- **Send timeout**: a response whose client stops reading (the transport's buffer stays full)
  for ``send_timeout`` (30 s) is aborted, so slow readers cannot pin response bodies in memory.

Header size: h11 refuses (400) a request head that is still incomplete once 16 KiB of it are
buffered (``h11_max_incomplete_event_size``). A head that arrives complete in one read (up to
asyncio's 256 KiB read size) is parsed whole and accepted: 16 KiB bounds the memory a slow head
holds, not the size of a head.

The protocol is given to uvicorn as a class, so an installed ``httptools`` (uvicorn's "auto"
choice) does not replace it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

#: A request head must be complete this long after the connection (or its next request) starts.
HEAD_TIMEOUT = 10.0
#: A response whose client reads nothing for this long is aborted.
SEND_TIMEOUT = 30.0
#: Open connections above which the oldest waiting one is closed (a pod's fd limit is far above).
MAX_CONNECTIONS = 1000
#: h11's bound on a request head still arriving (its default, set explicitly: the docs cite it).
MAX_INCOMPLETE_HEAD = 16 * 1024


class BoundedH11Protocol(H11Protocol):
    """``H11Protocol`` with a request head timeout, a send timeout and connection shedding."""

    head_timeout: float = HEAD_TIMEOUT
    send_timeout: float = SEND_TIMEOUT
    max_connections: int = MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._opened = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._opened = self.loop.time()
        self._arm_head_timer()
        self._shed()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_send_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._waiting():
            self._arm_head_timer()  # no-op while armed: trickling does not extend it
        super().data_received(data)
        if not self._waiting():
            self._cancel_head_timer()  # a complete head: the app answers it

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_timer is None:
            self._send_timer = self.loop.call_later(self.send_timeout, self._send_timed_out)

    def resume_writing(self) -> None:
        self._cancel_send_timer()
        super().resume_writing()

    def _waiting(self) -> bool:
        """True while no request is being answered: the connection waits for its client."""
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_send_timer(self) -> None:
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._waiting() and not self.transport.is_closing():
            self.logger.debug(
                "Closing a connection with no complete request head after %gs", self.head_timeout
            )
            self.transport.close()

    def _send_timed_out(self) -> None:
        self._send_timer = None
        if not self.transport.is_closing():
            self.logger.debug("Aborting a response its client did not read for %gs", self.send_timeout)
            self.transport.abort()

    def _shed(self) -> None:
        """Above the cap, close the oldest connection that waits for its client (else this one)."""
        open_ = [c for c in self.connections if not c.transport.is_closing()]
        if len(open_) <= self.max_connections:
            return
        waiting = [c for c in open_ if isinstance(c, BoundedH11Protocol) and c is not self and c._waiting()]
        victim = min(waiting, key=lambda c: c._opened) if waiting else self
        victim.transport.close()


def bounded_protocol(
    *,
    head_timeout: float = HEAD_TIMEOUT,
    send_timeout: float = SEND_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
) -> type[BoundedH11Protocol]:
    """A ``BoundedH11Protocol`` class with these bounds (uvicorn instantiates the class itself)."""
    return type(
        "BoundedH11Protocol",
        (BoundedH11Protocol,),
        {"head_timeout": head_timeout, "send_timeout": send_timeout, "max_connections": max_connections},
    )


def uvicorn_config(
    app: Any, *, host: str, port: int, protocol: type[BoundedH11Protocol] | None = None, **overrides: Any
) -> Any:
    """The uvicorn ``Config`` of ``gitops-release serve``: the bounded protocol, no uvicorn access
    log (the app writes one JSON line per request), no ``Server`` header; ``overrides`` are
    further ``uvicorn.Config`` settings."""
    import uvicorn

    settings: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": protocol or bounded_protocol(),
        "h11_max_incomplete_event_size": MAX_INCOMPLETE_HEAD,
        "access_log": False,
        "server_header": False,
        "lifespan": "on",
        "log_level": "info",
    }
    settings.update(overrides)
    return uvicorn.Config(app, **settings)
