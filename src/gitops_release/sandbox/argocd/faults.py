"""The Argo CD sandbox's HTTP-level faults: answers injected before any processing (a failing
server or proxy), stalled requests (a slow or hanging server) and watch connections cut mid-stream.

Mixed into ``ArgoCDSandbox`` (server.py), which consults ``_take_injection`` for every request and
``_take_drop`` on every watch tick. Application-level faults (Degraded, a failed sync, a slow
refresh, …) are the controller's: ``ApplicationStore.set_fault`` with a ``state.Fault``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from gitops_release.sandbox.argocd.session import (
    INTERNAL,
    INVALID_ARGUMENT,
    UNAVAILABLE,
    UNKNOWN,
    ApiError,
)

#: gRPC code per injected HTTP status, for the default body of an injected fault.
_CODE_FOR_STATUS = {500: INTERNAL, 502: UNAVAILABLE, 503: UNAVAILABLE, 504: 4, 400: INVALID_ARGUMENT}


@dataclass
class _Injection:
    method: str
    prefix: str
    count: int
    status: int = 0
    body: Any = None
    stall: float = 0.0


@dataclass
class _Drop:
    after_events: int | None
    after_seconds: float | None
    count: int


class Faults:
    """``inject``, ``stall`` and ``drop_streams``, and the records the server takes them from."""

    _lock: threading.RLock

    def _init_faults(self) -> None:
        self._injections: list[_Injection] = []
        self._drops: list[_Drop] = []

    def inject(self, method: str, path_prefix: str, status: int, *, count: int = 1, body: Any = None) -> None:
        """The next ``count`` ``method`` requests whose path starts with ``path_prefix`` are answered
        ``status`` before any processing (a failing server or proxy). ``body``: JSON, or bytes sent
        as text/html (an ingress error page); default Argo CD's error body for that status."""
        if not 100 <= status <= 599:
            raise ValueError(f"status {status} is not an HTTP status")
        if body is None:
            code = _CODE_FOR_STATUS.get(status, UNKNOWN)
            body = ApiError(code, f"sandbox: injected {status}").body()
        with self._lock:
            self._injections.append(_Injection(method.upper(), path_prefix, count, status=status, body=body))

    def stall(self, method: str, path_prefix: str, seconds: float, *, count: int = 1) -> None:
        """The next ``count`` matching requests wait ``seconds`` before they are handled (a slow or
        hanging server; a client's read timeout fires first when it is shorter)."""
        with self._lock:
            self._injections.append(_Injection(method.upper(), path_prefix, count, stall=seconds))

    def drop_streams(
        self, *, after_events: int | None = None, after_seconds: float | None = None, count: int = 1
    ) -> None:
        """Cut the next ``count`` watch connections (open ones included) once they have sent
        ``after_events`` messages and/or been open ``after_seconds``; neither = at the first
        check (after the first message, or within a tick when none is due). The socket closes
        without the terminating chunk."""
        with self._lock:
            self._drops.append(_Drop(after_events, after_seconds, count))

    def _take_drop(self, events_sent: int, open_for: float) -> bool:
        with self._lock:
            for drop in self._drops:
                if drop.count <= 0:
                    continue
                if drop.after_events is not None and events_sent < drop.after_events:
                    continue
                if drop.after_seconds is not None and open_for < drop.after_seconds:
                    continue
                drop.count -= 1
                return True
        return False

    def _take_injection(self, method: str, path: str, *, stall: bool) -> _Injection | None:
        """The first matching injection with a count left (stalls and answers kept apart), used up
        by one."""
        with self._lock:
            for injection in self._injections:
                if injection.count <= 0 or (injection.stall > 0) != stall:
                    continue
                if injection.method != method or not path.startswith(injection.prefix):
                    continue
                injection.count -= 1
                return injection
        return None
