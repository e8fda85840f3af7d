"""The release-channel API: a FastAPI application over a ``ServerState``.

Release bodies are the index's pre-rendered bytes (core/release_index.py), sent as they are:
no model validation or JSON encoding per request. The pydantic models below only describe the
responses for ``/openapi.json`` (schemathesis checks every response against them).

Every response made from the index carries its ``ETag`` and ``Cache-Control: no-cache`` (store,
but ask again): a matching ``If-None-Match`` gets ``304`` with no body. The ETag is strong: the
body holds nothing but the releases, their count and the revision, so one db gives the same bytes
and the same ETag on every pod and after every reload; when this pod loaded it is the
``X-Loaded-At`` header. Before the first good load the release endpoints answer ``503``. A request
reads ``state.index`` once, so a reload in the middle of it changes nothing in its answer.

HTTP as seed 001's Go server (net/http) answers it: ``HEAD`` is ``GET`` without the body on every
path; a trailing slash is served as the path without it; the release filters read the first value
of a repeated parameter and treat an empty one as absent (``r.URL.Query().Get``). Unlike it, an
unknown query parameter on the release paths is a 400 naming it (a misspelt filter must not
answer the whole db). No CORS headers are sent (docs/serve.md says why).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import Depends, FastAPI, Path, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from gitops_release.core.release_index import ReleaseIndex, query, releases_body
from gitops_release.server.access_log import AccessLog
from gitops_release.server.metrics import CONTENT_TYPE
from gitops_release.server.state import ServerState, stderr_line

# The names' rules of core/release.py as JSON Schema patterns: without its `(?!\n)` guard, as
# both pydantic's regex engine and ECMA-262 end `$` at the end of the text only.
CONTAINER_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
#: The release filters of GET /v1/releases: name -> (pattern, maximum length).
FILTERS = {"container": (CONTAINER_PATTERN, 63), "channel": (CHANNEL_PATTERN, 32)}

CACHE_CONTROL = "no-cache"  # caches keep the body and revalidate it with If-None-Match
NO_STORE = "no-store"  # health and metrics: always fresh
JSON = "application/json"
#: Threads for POST /v1/reload (loads run one at a time; more only wait for the running one).
RELOAD_THREADS = 4


class Source(BaseModel):
    repository: str
    sha: str
    ref: str | None = None
    runUrl: str | None = None
    builtAt: str | None = None


class Release(BaseModel):
    """One release exactly as db.json holds it (absent optional keys are left out)."""

    container: str
    channel: str
    image: str
    tag: str
    digest: str | None = None
    source: Source
    updatedAt: str


class ReleaseList(BaseModel):
    releases: list[Release]
    count: int = Field(description="how many releases are in `releases`")
    revision: str | None = Field(
        description="the commit the db was read from (git source) or sha256:<digest> of the file"
    )


Status = Literal["healthy", "degraded", "unhealthy"]


class Dependency(BaseModel):
    name: str
    status: Status
    latency_ms: int | None = None


class Health(BaseModel):
    """Seed 004's health contract, with the served version's revision, load time and size."""

    status: Status
    version: str
    timestamp: str
    checks: dict[str, Status] = Field(description="database and source (liveness: process), statuses only")
    reasons: dict[str, str] = Field(default={}, description="why each check that is not healthy is so")
    dependencies: list[Dependency] = Field(default=[], description="the git remote (none for a file)")
    revision: str | None = None
    loadedAt: str | None = None
    releases: int | None = None


class Problem(BaseModel):
    detail: str


class ReloadResult(BaseModel):
    result: Literal["changed", "unchanged", "failed"]
    revision: str | None = Field(description="the revision now served (None: nothing loaded yet)")
    loadedAt: str | None = None
    error: str | None = Field(default=None, description="why the load failed (result: failed)")


ContainerPath = Annotated[str, Path(max_length=63, pattern=CONTAINER_PATTERN)]
ChannelPath = Annotated[str, Path(max_length=32, pattern=CHANNEL_PATTERN)]
# Module level: the endpoints' annotations are strings, resolved in this module's namespace.
BearerToken = Annotated[
    HTTPAuthorizationCredentials | None,
    Depends(HTTPBearer(auto_error=False, description="the value of GITOPS_RELEASE_RELOAD_TOKEN")),
]

_RELEASE_HEADERS = {
    "ETag": {
        "description": "strong: the same db gives the same ETag on every pod",
        "schema": {"type": "string"},
    },
    "X-Loaded-At": {
        "description": "when this pod loaded the served version (RFC 3339 UTC)",
        "schema": {"type": "string"},
    },
}
_RELEASES_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "model": ReleaseList,
        "description": "the releases (ETag and Cache-Control set)",
        "headers": _RELEASE_HEADERS,
    },
    304: {"description": "If-None-Match matched the ETag: the cached body is current"},
    503: {"model": Problem, "description": "no version of the db has been loaded yet"},
}


def _filter_parameter(name: str) -> dict[str, Any]:
    pattern, longest = FILTERS[name]
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"only this {name}; empty: no filter; repeated: the first value counts",
        # An empty value is allowed (no filter), as seed 001's Go server read it.
        "schema": {"type": "string", "maxLength": longest, "pattern": f"^(?:|{pattern[1:-1]})$"},
    }


_NO_QUERY = "takes no query parameters"


def _unknown_query(request: Request, allowed: tuple[str, ...]) -> JSONResponse | None:
    """400 naming the query parameters ``allowed`` does not hold: a misspelt filter (``?containers=``)
    must not answer the whole db as if it were absent."""
    unknown = sorted({name for name in request.query_params.keys() if name not in allowed})
    if not unknown:
        return None
    names = ", ".join(repr(name[:64]) for name in unknown)
    what = f"the allowed ones are {' and '.join(allowed)}" if allowed else f"this path {_NO_QUERY}"
    return _problem(400, f"unknown query parameter {names}: {what}")


def _filters(request: Request) -> tuple[dict[str, str | None], JSONResponse | None]:
    """``container`` and ``channel`` as seed 001's Go server read them (``Query().Get``): the first
    value of a repeated parameter; empty is no filter. A value that is not a name is a 422."""
    values: dict[str, str | None] = {}
    for name, (pattern, longest) in FILTERS.items():
        given = request.query_params.getlist(name)
        value = given[0] if given else ""
        if value and (len(value) > longest or not re.fullmatch(pattern[1:-1], value)):
            shown = value if len(value) <= 64 else value[:64] + "..."
            return values, _problem(
                422, f"query parameter {name}: {shown!r} is not a {name} name ({pattern})"
            )
        values[name] = value or None
    return values, None


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or any listed tag equal to ``etag`` (weak comparison)."""
    if if_none_match is None:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class HttpLikeGo:
    """Plain ASGI: ``HEAD`` is answered as ``GET`` with the headers only (``Content-Length`` of
    the body it would have), a 405's ``Allow`` names ``HEAD`` next to ``GET``, and one trailing
    slash is dropped before routing (``/v1/releases/`` is ``/v1/releases``, no redirect: a Location
    built behind a proxy could name the wrong scheme or host)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        inner = dict(scope)  # the outer scope keeps what was sent, for the access log
        path = str(scope["path"])
        if len(path) > 1 and path.endswith("/"):
            inner["path"] = path[:-1]
            raw = scope.get("raw_path")
            if isinstance(raw, bytes) and raw.endswith(b"/"):
                inner["raw_path"] = raw[:-1]
        head = scope["method"] == "HEAD"
        if head:
            inner["method"] = "GET"

        async def adjusted(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                headers = [
                    (name, value + b", HEAD" if name == b"allow" and b"GET" in value.split(b", ") else value)
                    for name, value in message.get("headers", [])
                ]
                message = {**message, "headers": headers}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        try:
            await self.app(inner, receive, adjusted)
        finally:
            if "route" in inner:  # the matched route, for the access log's and metrics' label
                scope["route"] = inner["route"]


def create_app(state: ServerState, *, access_log: Callable[[str], None] = stderr_line) -> FastAPI:
    """The ASGI app. Its lifespan starts the state's polling and stops it (and the source)."""

    # Their own threads: hung reloads cannot take all of anyio's default threads and keep the
    # lifespan's stop (or the other requests) from getting one.
    stop_limiter = anyio.CapacityLimiter(1)
    reload_limiter = anyio.CapacityLimiter(RELOAD_THREADS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(state.stop, limiter=stop_limiter)

    app = FastAPI(
        title="gitops-release release-channel API",
        description="Which image is on which channel: read-only over db/db.json, reloaded without a restart.",
        version=state.version,
        docs_url=None,  # the interactive pages load scripts from a CDN; the document is enough
        redoc_url=None,
        lifespan=lifespan,
    )

    def not_loaded() -> JSONResponse:
        reasons = state.reasons()
        reason = reasons.get("source") or reasons.get("database", "")
        return _problem(503, f"no version of the db has been loaded yet: {reason}", {"Retry-After": "1"})

    def answer(
        request: Request, index: ReleaseIndex, container: str | None, channel: str | None, *, one: bool
    ) -> Response:
        headers = {"ETag": index.etag, "Cache-Control": CACHE_CONTROL, "X-Loaded-At": index.loaded_at}
        if one and not query(index, container=container, channel=channel):
            what = container if channel is None else f"{container} on channel {channel}"
            return _problem(404, f"no release of {what} (revision {index.revision})", headers)
        if _matches(request.headers.get("if-none-match"), index.etag):
            return Response(status_code=304, headers=headers)
        body, _ = releases_body(index, container=container, channel=channel)
        return Response(body, media_type=JSON, headers=headers)

    list_responses: dict[int | str, dict[str, object]] = {
        **_RELEASES_RESPONSES,
        400: {"model": Problem, "description": "an unknown query parameter (it is named)"},
        422: {"model": Problem, "description": "container or channel is not a valid name"},
    }

    @app.get(
        "/v1/releases",
        response_class=Response,
        responses=list_responses,
        openapi_extra={"parameters": [_filter_parameter("container"), _filter_parameter("channel")]},
    )
    async def list_releases(request: Request) -> Response:
        """All releases, or those of one container and / or channel (seed 001's query)."""
        filters, problem = _filters(request)
        problem = _unknown_query(request, tuple(FILTERS)) or problem
        if problem is not None:
            return problem
        index = state.index  # read once: this request answers from this version only
        if index is None:
            return not_loaded()
        return answer(request, index, filters["container"], filters["channel"], one=False)

    one_responses = {
        **_RELEASES_RESPONSES,
        400: {"model": Problem, "description": f"a query parameter: this path {_NO_QUERY}"},
        404: {"model": Problem, "description": "no such release"},
    }

    @app.get("/v1/releases/{container}", response_class=Response, responses=one_responses)
    async def container_releases(request: Request, container: ContainerPath) -> Response:
        """Every channel's release of one container (404 when it has none)."""
        if (problem := _unknown_query(request, ())) is not None:
            return problem
        index = state.index
        if index is None:
            return not_loaded()
        return answer(request, index, container, None, one=True)

    @app.get("/v1/releases/{container}/{channel}", response_class=Response, responses=one_responses)
    async def channel_release(request: Request, container: ContainerPath, channel: ChannelPath) -> Response:
        """The release of one container on one channel, as a list of one (404 when absent)."""
        if (problem := _unknown_query(request, ())) is not None:
            return problem
        index = state.index
        if index is None:
            return not_loaded()
        return answer(request, index, container, channel, one=True)

    health_responses: dict[int | str, dict[str, object]] = {
        200: {"model": Health},
        503: {"model": Health, "description": "not ready: no good version loaded yet"},
    }

    def health(ok: bool) -> JSONResponse:
        return JSONResponse(
            state.health(), status_code=200 if ok else 503, headers={"Cache-Control": NO_STORE}
        )

    @app.get("/v1/health", response_model=Health, responses=health_responses)
    async def v1_health() -> JSONResponse:
        """Seed 001's health: 200 while a version is served (healthy or degraded), else 503."""
        return health(state.ready)

    @app.get("/health/live", response_model=Health, responses={200: {"model": Health}})
    async def live() -> JSONResponse:
        """Liveness: the process answers. Never depends on the db or the remote (a restart fixes
        neither)."""
        document = {
            **state.health(),
            "status": "healthy",
            "checks": {"process": "healthy"},
            "reasons": {},  # liveness says nothing about the db or the remote
            "dependencies": [],
        }
        return JSONResponse(document, headers={"Cache-Control": NO_STORE})

    @app.get("/health/ready", response_model=Health, responses=health_responses)
    async def ready() -> JSONResponse:
        """Readiness: 200 once a good version of the db is loaded (and ever after: a failed
        reload keeps it, reporting degraded), 503 before."""
        return health(state.ready)

    @app.get("/health/startup", response_model=Health, responses=health_responses)
    async def startup() -> JSONResponse:
        """Startup: 200 once the first load has finished, good or not (a bad db leaves the pod
        running and unready, and the next good load makes it ready)."""
        return health(state.attempted)

    @app.post(
        "/v1/reload",
        response_model=ReloadResult,
        responses={
            401: {"model": Problem, "description": "no or wrong bearer token"},
            404: {"model": Problem, "description": "reload is disabled (GITOPS_RELEASE_RELOAD_TOKEN unset)"},
            422: {"model": ReloadResult, "description": "the load failed; the last good version is kept"},
        },
    )
    async def reload(
        credentials: BearerToken,
    ) -> JSONResponse:
        """Load the db now (a file is read, a remote fetched), with ``Authorization: Bearer``."""
        token = state.reload_token
        if token is None:
            return _problem(404, "reload is disabled: the server has no GITOPS_RELEASE_RELOAD_TOKEN")
        given = credentials.credentials if credentials is not None else ""
        if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
            return _problem(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        result = await anyio.to_thread.run_sync(state.load, limiter=reload_limiter)
        index = state.index
        outcome = "failed" if result.error else ("unchanged" if result.index is None else "changed")
        document = {
            "result": outcome,
            "revision": index.revision if index is not None else None,
            "loadedAt": index.loaded_at if index is not None else None,
            "error": result.error,
        }
        return JSONResponse(document, status_code=422 if result.error else 200)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"}},
    )
    async def metrics() -> Response:
        """Requests, reloads, the last good load time and the served db's release count."""
        index = state.index
        releases = len(index) if index is not None else None
        text = state.metrics.render(releases=releases, degraded=state.degraded)
        return Response(text, media_type=CONTENT_TYPE, headers={"Cache-Control": NO_STORE})

    paths = frozenset(path for route in app.routes if "{" not in (path := getattr(route, "path", "{")))
    app.add_middleware(HttpLikeGo)  # inside AccessLog: the log and metrics keep HEAD and the path as sent
    app.add_middleware(AccessLog, metrics=state.metrics, write=access_log, paths=paths)
    return app
