"""Argo CD's session and RBAC answers: ``POST /api/v1/session``, bearer tokens, policy grants.

Words and codes are Argo CD v3.5's own (argoproj/argo-cd ``server/server.go`` getClaims,
``util/session/sessionmanager.go``, ``server/session/session.go``, ``util/rbac/rbac.go``
EnforceErr, ``common/common.go`` PermissionDeniedAPIError). Errors leave the API server as gRPC
statuses and grpc-gateway v1.16 turns them into HTTP: ``HTTPStatusFromCode`` for the status and
``{"error": msg, "code": grpc code, "message": msg}`` for the body (``runtimeError``).

Tokens the sandbox is given (``add_token``) are accepted as they are, whatever their shape; a
session token (``login``) is an HS256 JWT like Argo CD's (``iss: argocd``, ``sub: <user>:login``,
``jti``, 24 h). An unknown token is answered as Argo CD answers it: not three dot-separated parts
(``jwtutil.IsValid``) -> ``no session information``; a JWT that does not verify -> ``invalid
session: ...``.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

# gRPC status codes (google.golang.org/grpc/codes).
OK = 0
CANCELED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
ALREADY_EXISTS = 6
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
OUT_OF_RANGE = 11
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16

#: grpc-gateway v1.16 runtime.HTTPStatusFromCode.
HTTP_STATUS_FROM_CODE: dict[int, int] = {
    OK: 200,
    CANCELED: 408,
    UNKNOWN: 500,
    INVALID_ARGUMENT: 400,
    DEADLINE_EXCEEDED: 504,
    NOT_FOUND: 404,
    ALREADY_EXISTS: 409,
    PERMISSION_DENIED: 403,
    UNAUTHENTICATED: 401,
    RESOURCE_EXHAUSTED: 429,
    FAILED_PRECONDITION: 400,
    ABORTED: 409,
    OUT_OF_RANGE: 400,
    UNIMPLEMENTED: 501,
    INTERNAL: 500,
    UNAVAILABLE: 503,
    DATA_LOSS: 500,
}

#: server/server.go ErrNoSession.
NO_SESSION = "no session information"
#: common.PermissionDeniedAPIError: what Get/Sync/ResourceTree answer for an app the token may not
#: see *and* for one that does not exist (a 404 would tell who may not see it that it exists).
PERMISSION_DENIED_MESSAGE = "permission denied"
#: util/session/sessionmanager.go invalidLoginError: never says which of the two was wrong.
INVALID_LOGIN = "Invalid username or password"
NO_CREDENTIALS = "no credentials supplied"
OLD_CLI_LOGIN = "token-based session creation no longer supported. please upgrade argocd cli to v0.7+"
USERNAME_TOO_LONG = "Username is too long (32 bytes max)"
MAX_USERNAME_LENGTH = 32
#: settings.UserSessionDuration default.
SESSION_SECONDS = 24 * 3600
ISSUER = "argocd"


class ApiError(Exception):
    """A gRPC status leaving the API server: ``code`` (gRPC) and ``message``; ``status`` is the HTTP
    status grpc-gateway maps it to, ``body()`` the body it writes."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return HTTP_STATUS_FROM_CODE.get(self.code, 500)

    def body(self) -> dict[str, Any]:
        """runtime.DefaultHTTPError's internal.Error; ``details`` is omitted when empty (omitempty)."""
        return {"error": self.message, "code": self.code, "message": self.message}

    def stream_body(self) -> dict[str, Any]:
        """The error chunk a stream ends with (runtime.DefaultHTTPStreamErrorHandler + errorChunk)."""
        return {
            "error": {
                "grpc_code": self.code,
                "http_code": self.status,
                "message": self.message,
                "http_status": HTTPStatus(self.status).phrase,
            }
        }


@dataclass(frozen=True)
class Grant:
    """One policy line's grant: ``applications, get, default/*`` (``p, <subject>, ...`` without
    the subject). ``object`` is a glob over ``<project>/<app>`` or ``<project>/<namespace>/<app>``."""

    resource: str
    action: str
    object: str
    effect: str = "allow"

    def matches(self, resource: str, action: str, obj: str) -> bool:
        return _glob(self.resource, resource) and _glob(self.action, action) and _glob(self.object, obj)


def _glob(pattern: str, value: str) -> bool:
    # Argo CD matches objects with globs where '*' also crosses '/' (gobwas glob without separators).
    return pattern == "*" or fnmatch.fnmatchcase(value, pattern)


def parse_grant(line: str) -> Grant:
    """``"*"`` (everything), or ``resource, action, object[, allow|deny]`` (a policy line without
    ``p, <subject>``). ValueError names what is wrong."""
    text = line.strip()
    if text == "*":
        return Grant("*", "*", "*")
    parts = [p.strip() for p in text.split(",")]
    if parts and parts[0] == "p":
        raise ValueError(f"grant {line!r}: leave out 'p, <subject>' (the token is the subject)")
    if len(parts) not in (3, 4) or not all(parts):
        raise ValueError(f"grant {line!r} is not 'resource, action, object[, allow|deny]'")
    effect = parts[3] if len(parts) == 4 else "allow"
    if effect not in ("allow", "deny"):
        raise ValueError(f"grant {line!r}: effect must be allow or deny, not {effect!r}")
    return Grant(parts[0], parts[1], parts[2], effect)


@dataclass
class Identity:
    """Who a request is: the subject, its grants, and the token's issue time (named in 403s)."""

    subject: str
    grants: tuple[Grant, ...]
    issued_at: float
    expires_at: float | None = None
    token_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def allows(self, resource: str, action: str, obj: str) -> bool:
        """Casbin with Argo CD's model: a matching deny wins over any allow."""
        matched = [g for g in self.grants if g.matches(resource, action, obj)]
        return bool(matched) and all(g.effect == "allow" for g in matched)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Sessions:
    """Accounts (username -> password), tokens and their grants. Thread-safe."""

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        grants: Mapping[str, Iterable[str]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._users = dict(users or {})
        self._user_grants = {
            user: tuple(parse_grant(g) for g in lines) for user, lines in (grants or {}).items()
        }
        self._tokens: dict[str, Identity] = {}
        self._secret = secrets.token_bytes(32)
        self._clock = clock
        self._lock = threading.Lock()

    def add_token(
        self,
        token: str,
        *,
        subject: str = "admin",
        allow: Iterable[str] = ("*",),
        expires_at: float | None = None,
    ) -> None:
        """Accept ``token`` as ``subject`` with the RBAC grants ``allow`` (ValueError on a bad one)."""
        if not token or any(c.isspace() for c in token):
            raise ValueError("a token is one word without whitespace")
        grants = tuple(parse_grant(line) for line in allow)
        with self._lock:
            self._tokens[token] = Identity(subject, grants, self._clock(), expires_at)

    def add_user(self, username: str, password: str, *, allow: Iterable[str] = ("*",)) -> None:
        grants = tuple(parse_grant(line) for line in allow)
        with self._lock:
            self._users[username] = password
            self._user_grants[username] = grants

    def login(self, body: Any) -> str:
        """SessionService.Create: a new session token, or the ApiError Argo CD answers."""
        body = body if isinstance(body, Mapping) else {}
        username, password = body.get("username") or "", body.get("password") or ""
        if body.get("token"):
            raise ApiError(UNAUTHENTICATED, OLD_CLI_LOGIN)
        if not username or not password:
            raise ApiError(UNAUTHENTICATED, NO_CREDENTIALS)
        if not isinstance(username, str) or not isinstance(password, str):
            raise ApiError(UNAUTHENTICATED, INVALID_LOGIN)
        if len(username.encode()) > MAX_USERNAME_LENGTH:
            raise ApiError(INVALID_ARGUMENT, USERNAME_TOO_LONG)
        with self._lock:
            known = self._users.get(username)
            grants = self._user_grants.get(username, (Grant("*", "*", "*"),))
        if known is None or not hmac.compare_digest(known.encode(), password.encode()):
            raise ApiError(UNAUTHENTICATED, INVALID_LOGIN)
        now = self._clock()
        identity = Identity(username, grants, now, now + SESSION_SECONDS)
        claims = {
            "iss": ISSUER,
            "sub": f"{username}:login",
            "exp": int(now + SESSION_SECONDS),
            "nbf": int(now),
            "iat": int(now),
            "jti": identity.token_id,
        }
        token = self._sign(claims)
        with self._lock:
            self._tokens[token] = identity
        return token

    def _sign(self, claims: Mapping[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def authenticate(self, headers: Mapping[str, str]) -> Identity:
        """The identity of ``Authorization: Bearer <token>``; ApiError 401 with Argo CD's words."""
        values = [v for k, v in headers.items() if k.lower() == "authorization"]
        # getToken: only "Bearer " (capital B, one space) and only a three-part JWT shape count.
        candidates = [v[len("Bearer ") :] for v in values if v.startswith("Bearer ")]
        with self._lock:
            for token in candidates:
                identity = self._tokens.get(token)
                if identity is not None:
                    if identity.expires_at is not None and self._clock() >= identity.expires_at:
                        raise ApiError(
                            UNAUTHENTICATED, "invalid session: token has invalid claims: token is expired"
                        )
                    return identity
        jwts = [t for t in candidates if len(t.split(".", 2)) == 3]
        if not jwts:
            raise ApiError(UNAUTHENTICATED, NO_SESSION)
        raise ApiError(UNAUTHENTICATED, "invalid session: " + self._why_invalid(jwts[0]))

    def _why_invalid(self, token: str) -> str:
        """golang-jwt v5's words for a JWT this server did not issue (SessionManager.VerifyToken)."""
        header, payload, _ = token.split(".", 2)
        try:
            json.loads(_unb64(header))
        except (ValueError, binascii.Error):
            return "token is malformed: could not base64 decode header"
        try:
            claims = json.loads(_unb64(payload))
        except (ValueError, binascii.Error):
            return "token is malformed: could not base64 decode claim"
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
            # An IdP's token: verified by the OIDC provider, and the sandbox configures none.
            return "SSO is not configured"
        return "token signature is invalid: signature is invalid"

    def enforce(
        self, identity: Identity, action: str, rbac_name: str, *, resource: str = "applications"
    ) -> None:
        """rbac.Enforcer.EnforceErr: ApiError 403 ``permission denied: applications, sync,
        default/guestbook, sub: admin, iat: 2025-...Z`` when no grant allows it."""
        if identity.allows(resource, action, rbac_name):
            return
        raise ApiError(
            PERMISSION_DENIED,
            f"{PERMISSION_DENIED_MESSAGE}: {resource}, {action}, {rbac_name}, "
            f"sub: {identity.subject}, iat: {_rfc3339(identity.issued_at)}",
        )
