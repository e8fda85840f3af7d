"""The GitHub sandbox's state and the helpers every API area uses: ids, tokens, fault injection,
rate-limit headers, the acting account, pagination, the JSON body."""

from __future__ import annotations

import http
import math
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from gitops_release.errors import InputError
from gitops_release.sandbox import openapi
from gitops_release.sandbox.github.model import (
    _LEVELS,
    AUTHOR_ASSOCIATIONS,
    DEFAULT_LOGIN,
    DOCS,
    EVENT_FILE,
    LOGIN,
    SECONDARY_RATE_LIMIT_MESSAGE,
    _App,
    _error,
    _Injection,
    _Repo,
    _Request,
    _Token,
)
from gitops_release.sandbox.httpbase import (
    RecordedRequest,
    ThreadedHTTPService,
)


class SandboxCore(ThreadedHTTPService):
    """State shared by every area: repositories, tokens, Apps, injections, the request record."""

    def __init__(
        self,
        root: Path,
        *,
        validate: bool = True,
        tokens: Iterable[str] = ("sandbox-token",),
        port: int = 0,
        events_dir: Path | None = None,
        login: str = DEFAULT_LOGIN,
    ) -> None:
        self.root = Path(root)
        self.port = port
        self.events_dir = Path(events_dir) if events_dir is not None else None
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.note: str | None = None
        self._validator: openapi.Validator | None = None
        self.validate = validate
        if validate:
            self._validator = openapi.load_validator()
            if self._validator is None:
                self.validate = False
                self.note = openapi.UNAVAILABLE_NOTE
                print(f"github sandbox: {self.note}", file=sys.stderr)
        self._lock = threading.RLock()
        self._repos: dict[str, _Repo] = {}
        self._tokens: dict[str, _Token] = {}
        self._apps: dict[int, _App] = {}
        self._injections: list[_Injection] = []
        self._used: dict[str, int] = {}
        self._ids: dict[str, int] = {}
        self._started_at = time.time()
        self._server = None
        self._thread = None
        self._event_number = 0
        if self.events_dir is not None:
            try:
                self.events_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(
                    "events-dir",
                    f"cannot create {self.events_dir}: {exc.strerror or exc}",
                    fix="give a directory path you can write",
                ) from None
            # Continue after files a previous run left, so the directory's order stays arrival order.
            numbers = (EVENT_FILE.match(p.name) for p in self.events_dir.iterdir())
            self._event_number = max((int(m.group(1)) for m in numbers if m), default=0)
        for token in tokens:
            self.add_token(token, login=login)

    def _next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 999) + 1
        return self._ids[kind]

    def add_token(
        self,
        token: str,
        *,
        permissions: Mapping[str, str] | None = None,
        repositories: Iterable[str] | None = None,
        login: str = DEFAULT_LOGIN,
        association: str | None = None,
    ) -> None:
        """Accept ``token`` with ``permissions`` ({"contents": "write"}) on ``repositories`` (None: all).

        ``login`` is the account the token acts as: the ``sender`` of its dispatches' events, the
        ``creator`` of its statuses. A login ending in ``[bot]`` is a Bot, as an App's token is.
        ``association`` is the ``author_association`` of its comments; by default it follows the
        login: ``NONE`` for a Bot (as GitHub shows github-actions[bot] and App bots), ``OWNER`` for
        the default account and the repository's owner, ``COLLABORATOR`` for an account given to
        ``add_collaborators``, else ``NONE``."""
        if not token:
            raise InputError("token", "is empty", fix="pass a non-empty token")
        if not LOGIN.match(login):
            raise InputError(
                "login",
                f"'{login}' is not a GitHub login",
                fix="use letters, digits and single hyphens (at most 39), e.g. release-bot or my-app[bot]",
            )
        if association is not None and association not in AUTHOR_ASSOCIATIONS:
            raise InputError(
                "association",
                f"'{association}' is not a GitHub author_association",
                fix="use one of " + ", ".join(AUTHOR_ASSOCIATIONS),
            )
        for name, level in (permissions or {}).items():
            if level not in _LEVELS:
                raise InputError(
                    "permissions", f"{name}: '{level}' is not read, write or admin", fix="use read or write"
                )
        with self._lock:
            self._tokens[token] = _Token(
                permissions=None if permissions is None else dict(permissions),
                repositories=None if repositories is None else {r.lower() for r in repositories},
                login=login,
                user_type="Bot" if login.endswith("[bot]") else "User",
                association=association,
            )

    def inject(
        self,
        status: int,
        *,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: object = None,
        after_processing: bool = False,
    ) -> None:
        """The next ``count`` requests matching ``method`` and ``path`` (a regex) get this response.

        ``body`` is sent as JSON, or as is when it is bytes (an HTML error page; b"" for none).

        With ``after_processing`` the request is handled first (a create creates, a merge merges)
        and only then is the injected answer sent instead of the real one: the dangerous real
        case of a write GitHub applied although the client saw a 502 or nothing useful.
        """
        if body is None:
            body = {"message": http.HTTPStatus(status).phrase, "documentation_url": DOCS}
        with self._lock:
            self._injections.append(
                _Injection(
                    status,
                    count,
                    method.upper() if method else None,
                    re.compile(path) if path else None,
                    dict(headers or {}),
                    body,
                    after_processing,
                )
            )

    def inject_secondary_rate_limit(
        self, *, retry_after: int = 1, count: int = 1, method: str | None = None, path: str | None = None
    ) -> None:
        body = {
            "message": SECONDARY_RATE_LIMIT_MESSAGE.format(request_id="0000:0000:0000000:0000000:00000000"),
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
            "#about-secondary-rate-limits",
        }
        self.inject(
            403, count=count, method=method, path=path, headers={"Retry-After": str(retry_after)}, body=body
        )

    def inject_validation_error(
        self,
        *,
        field: str,
        code: str = "invalid",
        resource: str = "Status",
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        body = {
            "message": "Validation Failed",
            "errors": [{"resource": resource, "code": code, "field": field}],
            "documentation_url": DOCS,
        }
        self.inject(422, count=count, method=method, path=path, body=body)

    def _repo(self, full_name: str) -> _Repo:
        repo = self._repos.get(full_name.lower())
        if repo is None:
            raise InputError(
                "full_name", f"no sandbox repository {full_name}", fix="create it with create_repo()"
            )
        return repo

    def _rate_headers(self, key: str) -> dict[str, str]:
        used = self._used[key] = self._used.get(key, 0) + 1
        limit = 60 if key == "anonymous" else 5000
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(0, limit - used)),
            "X-RateLimit-Reset": str(int(self._started_at) + 3600),
            "X-RateLimit-Used": str(used),
            "X-RateLimit-Resource": "core",
        }

    def _take_injection(self, method: str, path: str) -> _Injection | None:
        for injection in self._injections:
            if injection.count <= 0:
                continue
            if injection.method and injection.method != method:
                continue
            if injection.path and not injection.path.search(path):
                continue
            injection.count -= 1
            return injection
        return None

    def _actor(self, request: _Request) -> tuple[str, str]:
        identity = request.identity
        if identity is not None and identity.token is not None:
            return identity.token.login, identity.token.user_type
        return "sandbox-user", "User"

    def _association(self, request: _Request) -> str:
        """The ``author_association`` of what the request's token writes (see :meth:`add_token`)."""
        identity = request.identity
        token = identity.token if identity is not None else None
        if token is not None and token.association is not None:
            return token.association
        login, user_type = self._actor(request)
        if user_type == "Bot":
            return "NONE"
        repo = request.repo
        if login == DEFAULT_LOGIN or (repo is not None and login.lower() == repo.owner.lower()):
            return "OWNER"
        if repo is not None and login.lower() in repo.collaborators:
            return "COLLABORATOR"
        return "NONE"

    def _paginate(self, request: _Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        try:
            per_page = min(100, max(1, int(request.query.get("per_page", "30"))))
            page = max(1, int(request.query.get("page", "1")))
        except ValueError:
            raise _error(422, "Invalid request.\n\nper_page and page must be integers.") from None
        last = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        if last == 1:
            return chunk, {}
        others = {k: v for k, v in request.query.items() if k not in ("per_page", "page")}

        def link(number: int, rel: str) -> str:
            query = urlencode({**others, "per_page": per_page, "page": number})
            return f'<{self.url}{request.path}?{query}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
            links.append(link(last, "last"))
        if page > 1:
            links.append(link(1, "first"))
        return chunk, {"Link": ", ".join(links)}

    @staticmethod
    def _body(request: _Request) -> dict[str, Any]:
        body = request.body
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise _error(422, "Invalid request.\n\nThe body must be a JSON object.")
        return body
