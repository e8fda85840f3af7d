"""One JSON line per request, and the request metrics: a plain ASGI middleware.

Plain ASGI (not Starlette's BaseHTTPMiddleware): it only watches the ``http.response.*``
messages go by, so it adds no task or copy per request. The route is the matched template
(``/v1/releases/{container}``), never the raw path, in the metrics; the log line has the path
itself, cut to ``MAX_LOGGED_PATH`` characters and JSON-escaped (a hostile path cannot forge a
second line or a terminal escape). A request cancelled by the server before it answered (at
shutdown) is logged with status 499, not as a server error.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timezone
from typing import Any

from gitops_release.server.metrics import Metrics

MAX_LOGGED_PATH = 512
UNMATCHED = "unmatched"
#: A request the server cancelled (uvicorn's graceful-shutdown timeout) before it answered:
#: nginx's "client closed request" code, so it is not counted as a server error (500).
CANCELLED = 499

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _time() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AccessLog:
    """Wraps an ASGI app: counts every HTTP request in ``metrics`` and writes its log line."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        write: Callable[[str], None],
        paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.write = write
        #: Fixed paths of routes that do not mark the scope with their route (/openapi.json).
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        size = 0

        async def observed(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, observed)
        except asyncio.CancelledError:
            status = status or CANCELLED
            raise
        except BaseException:
            status = status or 500
            raise
        finally:
            path = str(scope.get("path", ""))
            route = getattr(scope.get("route"), "path", None)
            if not isinstance(route, str):
                route = path if path in self.paths else UNMATCHED
            method = str(scope.get("method", ""))
            self.metrics.observe_request(route, method, status)
            client = scope.get("client")
            line = {
                "time": _time(),
                "method": method[:16],
                "path": path[:MAX_LOGGED_PATH],
                "queryBytes": len(scope.get("query_string", b"")),
                "route": route,
                "status": status,
                "durationMs": round((time.perf_counter() - started) * 1000, 3),
                "bytes": size,
                "etagHit": status == 304,
                "client": client[0] if client else None,
            }
            self.write(json.dumps(line, ensure_ascii=True))
