"""The Argo CD API emulator's HTTP side: routing, auth, request recording (fault injection: faults.py).

Standard-library HTTP server on 127.0.0.1 (loopback only). Application state lives in an
:class:`~gitops_release.sandbox.argocd.applications.ApplicationStore`; this module answers HTTP
as Argo CD v3.5's API server does (grpc-gateway v1.16 in front of gRPC services): the bodies,
gRPC codes and HTTP statuses of ``session.py``, the watch framing of ``stream.py``. Every
response, and every watch message, is checked against Argo CD's Swagger description
(``contract.py``); what does not match lands in ``violations``.

    with ArgoCDSandbox() as argocd:
        argocd.store.add_application(yaml_text)
        requests.get(f"{argocd.url}/api/v1/applications/guestbook",
                     headers={"Authorization": "Bearer argocd-sandbox-token"})
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gitops_release.errors import InputError
from gitops_release.sandbox import openapi
from gitops_release.sandbox.argocd import contract, stream
from gitops_release.sandbox.argocd.applications import ApplicationStore, StoreError, Timing
from gitops_release.sandbox.argocd.faults import Faults
from gitops_release.sandbox.argocd.operations import Operations
from gitops_release.sandbox.argocd.session import (
    INTERNAL,
    INVALID_ARGUMENT,
    UNKNOWN,
    ApiError,
    Identity,
    Sessions,
)
from gitops_release.sandbox.httpbase import (
    QuietHandler,
    RecordedRequest,
    ThreadedHTTPService,
    check_loopback_host,
    peer_closed,
    redact_headers,
)

DEFAULT_TOKEN = "argocd-sandbox-token"  # noqa: S105 - the sandbox's own local credential
#: Argo CD answers JSON with the gRPC server's header forwarded (grpc-gateway outgoing metadata).
_JSON_HEADERS = {"Content-Type": "application/json", "Grpc-Metadata-Content-Type": "application/grpc"}


@dataclass(frozen=True)
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: str
    authenticated: bool = True


def _route(method: str, template: str, handler: str, *, authenticated: bool = True) -> _Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return _Route(method, template, re.compile(f"^{regex}$"), handler, authenticated)


ROUTES: tuple[_Route, ...] = (
    _route("POST", "/api/v1/session", "create_session", authenticated=False),
    _route("GET", "/api/v1/applications", "list_applications"),
    _route("GET", "/api/v1/stream/applications", "watch"),
    _route("GET", "/api/v1/applications/{applicationName}/resource-tree", "resource_tree"),
    _route("GET", "/api/v1/applications/{applicationName}/managed-resources", "managed_resources"),
    _route("POST", "/api/v1/applications/{name}/sync", "sync"),
    _route("GET", "/api/v1/applications/{name}", "get_application"),
)


def _encoding(headers: Mapping[str, str]) -> str | None:
    """gorilla/handlers CompressHandler: the first of gzip / deflate the client lists, else None.
    Argo CD serves everything but server-sent events through it (``--enable-gzip``, default on)."""
    accept = next((v for k, v in headers.items() if k.lower() == "accept-encoding"), "")
    for item in accept.split(","):
        if item.strip() in ("gzip", "deflate"):
            return item.strip()
    return None


def _compressor(encoding: str) -> Any:
    # Go's compress/flate writes raw DEFLATE for "deflate" (no zlib header); gzip has its header.
    return zlib.compressobj(6, zlib.DEFLATED, 31 if encoding == "gzip" else -15)


def _match(method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
    """(route, path params, whether the path exists for another method)."""
    other = False
    for route in ROUTES:
        found = route.pattern.match(path)
        if found:
            if route.method == method:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}, False
            other = True
    return None, {}, other


class _StreamConnection:
    """One open watch, as stream.run_watch sees it."""

    def __init__(
        self, sandbox: ArgoCDSandbox, handler: QuietHandler, sse: bool, encoding: str | None
    ) -> None:
        self.sandbox = sandbox
        self.handler = handler
        self.sse = sse
        self.keepalive = sandbox.keepalive
        self._compressor = _compressor(encoding) if encoding else None

    def send(self, pieces: Sequence[bytes]) -> None:
        if self._compressor is None:
            self.handler.wfile.write(b"".join(stream.chunk(piece) for piece in pieces))
            return
        # The gateway's Flush after each message flushes gzip too: one decodable chunk per message.
        data = self._compressor.compress(b"".join(pieces)) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        self.handler.wfile.write(stream.chunk(data))

    def should_drop(self, events_sent: int, opened_at: float) -> bool:
        return self.sandbox._take_drop(events_sent, time.monotonic() - opened_at)

    def stopping(self) -> bool:
        return self.sandbox._stopping.is_set()

    def client_gone(self) -> bool:
        return peer_closed(self.handler.connection)

    def check(self, result: Mapping[str, Any]) -> None:
        # Checked as the client reads it (YAML-loaded timestamps are datetimes until encoded).
        sent = json.loads(stream.go_json(result))
        self.sandbox._check_schema(contract.WATCH_EVENT_SCHEMA, sent, "GET", "/api/v1/stream/applications")


class ArgoCDSandbox(Faults, Operations, ThreadedHTTPService):
    """The emulator. Thread-safe; every connection runs on its own thread, and stop() ends them all
    (stalls, refresh waits and watches wake on it; their sockets are shut down).

    ``GET ?refresh=`` answers once the controller has processed the refresh; it never answers the
    old state. Like Argo CD, it waits until then or until the request ends (the client leaves, the
    sandbox stops). ``refresh_deadline`` (seconds) stands for a request deadline: past it the answer
    is Argo CD's ``500 {"error": "application refresh deadline exceeded", "code": 2}``."""

    server_version = "ArgoCDSandbox"

    def __init__(
        self,
        *,
        store: ApplicationStore | None = None,
        timing: Timing | None = None,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        users: Mapping[str, str] | None = None,
        validate: bool = True,
        keepalive: float = 15.0,
        host: str = "127.0.0.1",
        port: int = 0,
        gzip: bool = True,
        refresh_deadline: float | None = None,
    ) -> None:
        check_loopback_host(host)
        if keepalive <= 0:
            raise ValueError("keepalive must be positive (seconds between ':' comment lines)")
        self._own_store = store is None
        self.store = store if store is not None else ApplicationStore(timing=timing or Timing())
        self.keepalive = keepalive
        self.refresh_deadline = refresh_deadline
        #: Compress like argocd-server --enable-gzip (its default) for clients that accept it.
        self.gzip = gzip
        self.host = host
        self.port = port
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.violations: list[openapi.Problem] = []
        self.note: str | None = None
        self.stream_connections = 0
        self.sessions = Sessions(users)
        self._validator: openapi.Validator | None = None
        self.validate = validate
        if validate:
            self._validator = contract.load_validator()
            if self._validator is None:
                self.validate = False
                self.note = openapi.UNAVAILABLE_NOTE
                print(f"argocd sandbox: {self.note}", file=sys.stderr)
        self._lock = threading.RLock()
        self._init_faults()
        self._stopping = threading.Event()
        self._current = threading.local()  # the handler of the request this thread serves
        for token in tokens:
            self.add_token(token)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> ArgoCDSandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        try:
            super().start()
        except InputError as exc:
            if exc.field != "port":
                raise
            raise InputError("argocd-port", exc.message.split(": ", 1)[-1], fix=exc.fix) from None
        if self._own_store:
            self.store.start()
        return self

    def stop(self) -> None:
        # Stalls, refresh waits and watches see this and end; ThreadedHTTPService.stop then shuts
        # down every connection (idle keep-alive ones too) and joins their threads.
        self._stopping.set()
        super().stop()
        if self._own_store:
            self.store.stop()

    # -- set-up (faults: faults.py) --------------------------------------------------------------

    def add_token(
        self,
        token: str,
        *,
        subject: str = "admin",
        allow: Iterable[str] = ("*",),
        expires_at: float | None = None,
    ) -> None:
        """Accept ``token`` as ``subject`` with RBAC grants like Argo CD policy lines without
        ``p, <subject>``: ``"applications, get, default/*"``, ``"applications, sync,
        default/guestbook"``, ``"*"`` (everything, the default). ``expires_at`` (epoch seconds)
        makes it answer 401 ``token is expired`` from then on."""
        self.sessions.add_token(token, subject=subject, allow=allow, expires_at=expires_at)

    def add_user(self, username: str, password: str, *, allow: Iterable[str] = ("*",)) -> None:
        """A local account for ``POST /api/v1/session``; its session tokens get ``allow``."""
        self.sessions.add_user(username, password, allow=allow)

    # -- serving ----------------------------------------------------------------------------------

    def _serve(self, handler: QuietHandler) -> None:
        self._current.handler = handler
        try:
            self._answer(handler)
        except OSError:
            # The client left (or stop() shut the socket down) before the answer: nothing to tell it.
            handler.close_connection = True
        finally:
            self._current.handler = None

    def _request_ended(self) -> bool:
        """The request's context is done: the sandbox stops or the client closed the connection."""
        if self._stopping.is_set():
            return True
        handler = getattr(self._current, "handler", None)
        return handler is not None and peer_closed(handler.connection)

    def _cut(self, handler: QuietHandler) -> None:
        handler.close_connection = True
        stream.drop_socket(handler.connection)

    def _answer(self, handler: QuietHandler) -> None:
        split = urlsplit(handler.path)
        path, method = split.path, handler.command
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        headers = dict(handler.headers.items())
        multi = parse_qs(split.query, keep_blank_values=True)
        query = {k: v[-1] for k, v in multi.items()}
        parsed: Any = None
        bad_json = ""
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                bad_json = str(exc)
        shown = parsed
        if isinstance(parsed, dict) and "password" in parsed:  # a session request: never kept
            shown = {**parsed, "password": "[redacted]"}
        record = RecordedRequest(method, path, dict(query), redact_headers(headers), shown)
        with self._lock:
            self.requests.append(record)
        stall = self._take_injection(method, path, stall=True)
        if stall is not None and self._stopping.wait(stall.stall):
            self._cut(handler)  # stopped mid-stall: no answer, as a server going away
            return
        route, params, other_method = _match(method, path)
        request_problems: list[openapi.Problem] = []
        if route is not None and self._validator is not None:
            request_problems = self._validator.validate_request(
                method, path, query, headers, raw or None, template=route.template, path_params=params
            )
            self._add_violations(request_problems)
        injected = self._take_injection(method, path, stall=False)
        if injected is not None:
            record.status = injected.status
            self._send(handler, injected.status, copy.deepcopy(injected.body), injected=True)
            return
        if route is None:
            # grpc-gateway's mux answers unknown routes with net/http's plain-text error.
            status, text = (405, "Method Not Allowed") if other_method else (404, "Not Found")
            record.status = status
            self._send_text(handler, status, text + "\n")
            return
        try:
            # grpc-gateway decodes the request before the gRPC call (and its auth): 400 first.
            if bad_json:
                raise ApiError(INVALID_ARGUMENT, bad_json)
            if request_problems:
                raise ApiError(INVALID_ARGUMENT, "; ".join(p.detail for p in request_problems))
            identity = self.sessions.authenticate(headers) if route.authenticated else None
            if route.handler == "watch":
                assert identity is not None
                record.status = 200
                self._watch(handler, record, multi, identity)
                return
            status, body = getattr(self, f"_{route.handler}")(identity, params, multi, parsed)
        except ApiError as error:
            status, body = error.status, error.body()
            if route.handler == "watch":
                record.status = status
                self._watch_error(handler, status, error, headers)
                return
        except StoreError as error:
            status, body = self._store_error(error)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must reach the test as a 500, not a hang
            status, body = (
                500,
                ApiError(INTERNAL, f"sandbox internal error: {type(exc).__name__}: {exc}").body(),
            )
            self._add_violations(
                [
                    openapi.Problem(
                        "response", method, path, f"sandbox internal error: {type(exc).__name__}: {exc}"
                    )
                ]
            )
            record.status = status
            self._send(handler, status, body)
            return
        try:
            payload = stream.go_json(body)
            problems = self._response_problems(
                route, method, path, query, headers, raw, params, status, payload
            )
        except Exception as exc:  # noqa: BLE001 - e.g. an object the store holds that JSON cannot carry
            problems = [
                openapi.Problem(
                    "response", method, path, f"sandbox internal error: {type(exc).__name__}: {exc}"
                )
            ]
        if problems:
            self._add_violations(problems)
            status = 500
            body = ApiError(
                INTERNAL, "sandbox response violated the Argo CD API description: " + problems[0].detail
            ).body()
        record.status = status
        self._send(handler, status, body)

    def _response_problems(
        self,
        route: _Route,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        raw: bytes,
        params: Mapping[str, str],
        status: int,
        payload: bytes,
    ) -> list[openapi.Problem]:
        if self._validator is None:
            return []
        return self._validator.validate_response(
            method,
            path,
            query,
            headers,
            raw or None,
            status,
            payload,
            _JSON_HEADERS,
            template=route.template,
            path_params=params,
        )

    def _add_violations(self, problems: Iterable[openapi.Problem]) -> None:
        with self._lock:
            self.violations.extend(problems)

    def _check_schema(self, schema: str, instance: object, method: str, path: str) -> None:
        if self._validator is None:
            return
        details = self._validator.schema_problems(schema, instance)
        if details:
            self._add_violations(
                openapi.Problem("response", method, path, f"stream message ({schema}): {d}") for d in details
            )

    @staticmethod
    def _store_error(error: StoreError) -> tuple[int, dict[str, Any]]:
        api = ApiError(error.code, error.message)
        return (error.status or api.status), api.body()

    def _send(self, handler: QuietHandler, status: int, body: Any, *, injected: bool = False) -> None:
        """One whole response; compressed as Argo CD's CompressHandler does unless ``injected``
        (an injected answer stands for a proxy in front of Argo CD)."""
        raw_page = isinstance(body, (bytes, bytearray))
        payload = bytes(body) if raw_page else stream.go_json(body)
        headers = {"Content-Type": "text/html; charset=utf-8"} if raw_page else dict(_JSON_HEADERS)
        self._send_bytes(handler, status, payload, headers, compress=not injected)

    def _send_text(self, handler: QuietHandler, status: int, text: str) -> None:
        headers = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}
        self._send_bytes(handler, status, text.encode(), headers, compress=True)

    def _send_bytes(
        self,
        handler: QuietHandler,
        status: int,
        payload: bytes,
        headers: Mapping[str, str],
        *,
        compress: bool,
    ) -> None:
        if self._stopping.is_set():
            self._cut(handler)  # a stopping sandbox answers nothing more
            return
        encoding = _encoding(dict(handler.headers.items())) if compress and self.gzip else None
        if encoding == "gzip":
            payload = gzip.compress(payload, mtime=0)
        elif encoding == "deflate":
            packer = _compressor("deflate")
            payload = packer.compress(payload) + packer.flush()
        handler.send_response(status)
        if compress and self.gzip:
            handler.send_header("Vary", "Accept-Encoding")
        for name, value in headers.items():
            handler.send_header(name, value)
        if encoding:
            handler.send_header("Content-Encoding", encoding)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    # -- the watch --------------------------------------------------------------------------------

    @staticmethod
    def _wants_sse(headers: Mapping[str, str]) -> bool:
        # argoproj/pkg compares the whole header: only exactly "text/event-stream" selects SSE.
        return next((v for k, v in headers.items() if k.lower() == "accept"), "") == stream.SSE

    def _stream_encoding(self, handler: QuietHandler, sse: bool) -> str | None:
        # compressHandler lets only "Accept: text/event-stream" requests past uncompressed.
        return None if sse or not self.gzip else _encoding(dict(handler.headers.items()))

    def _stream_headers(self, handler: QuietHandler, status: int, sse: bool) -> None:
        handler.send_response(status)
        if not sse and self.gzip:
            handler.send_header("Vary", "Accept-Encoding")
        handler.send_header("Grpc-Metadata-Content-Type", "application/grpc")
        if sse:
            handler.send_header("Content-Type", stream.SSE)
            handler.send_header("X-Content-Type-Options", "nosniff")
        else:
            handler.send_header("Content-Type", "application/json")
        encoding = self._stream_encoding(handler, sse)
        if encoding:
            handler.send_header("Content-Encoding", encoding)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

    def _watch_error(
        self, handler: QuietHandler, status: int, error: ApiError, headers: Mapping[str, str]
    ) -> None:
        """The error chunk as the stream's only message (handleForwardResponseStreamError), then
        the stream's normal end."""
        sse = self._wants_sse(headers)
        body = error.stream_body()
        self._check_schema(contract.STREAM_ERROR_SCHEMA, body["error"], "GET", "/api/v1/stream/applications")
        self._stream_headers(handler, status, sse)
        _StreamConnection(self, handler, sse, self._stream_encoding(handler, sse)).send(
            [stream.message_bytes(body, sse=sse)]
        )
        handler.wfile.write(b"0\r\n\r\n")

    def _watch(
        self,
        handler: QuietHandler,
        record: RecordedRequest,
        multi: Mapping[str, list[str]],
        identity: Identity,
    ) -> None:
        one = {k: v[-1] for k, v in multi.items()}
        try:
            selector = stream.parse_selector(one.get("selector", ""))
        except stream.SelectorError as exc:
            error = ApiError(UNKNOWN, f"error parsing labels with selectors: {exc}")
            record.status = error.status
            self._watch_error(handler, error.status, error, dict(handler.headers.items()))
            return
        name = one.get("name") or None
        version = one.get("resourceVersion") or ""
        query = stream.WatchQuery(
            name=name,
            app_namespace=one.get("appNamespace") or stream.CONTROL_PLANE_NAMESPACE,
            selector=selector,
            projects=frozenset(multi.get("projects", []) + multi.get("project", [])),
            may_get=lambda app: identity.allows("applications", "get", stream.rbac_name(app)),
            min_version=int(version) if version.isdigit() else 0,
        )
        sse = self._wants_sse(dict(handler.headers.items()))
        subscription = self.store.subscribe()
        connection = _StreamConnection(self, handler, sse, self._stream_encoding(handler, sse))
        sock = handler.connection
        with self._lock:
            self.stream_connections += 1
        try:
            # Like the Kubernetes watch API: no initial state after a resourceVersion, except for
            # one named app (its watch drives a sync and must never miss a state).
            initial = self.store.list() if not version or name else []
            self._stream_headers(handler, 200, sse)
            stream.run_watch(connection, query, subscription, initial)
        except stream.Dropped:
            stream.drop_socket(sock)
        except OSError:
            pass  # the client went away
        except Exception as exc:  # noqa: BLE001 - a sandbox bug: recorded, and the stream cut
            self._add_violations(
                [
                    openapi.Problem(
                        "response", "GET", record.path, f"sandbox internal error: {type(exc).__name__}: {exc}"
                    )
                ]
            )
            stream.drop_socket(sock)
        finally:
            subscription.close()
            handler.close_connection = True
