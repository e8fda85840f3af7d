"""The GitHub sandbox's request pipeline and the composed :class:`GitHubSandbox`.

Each emulated API area is a module with its handlers, its route table and a mixin class; the
mixins are layered so each sees what it uses (mypy checks every call)::

    httpbase.ThreadedHTTPService <- core.SandboxCore (state, tokens, injection, pagination)
      <- repos.ReposMixin (repositories, accounts, branches, git refs)
           <- statuses.StatusesMixin <- deployments.DeploymentsMixin
           <- dispatches.DispatchesMixin (+ events_dir, the /_sandbox events endpoint)
           <- apps.AppsMixin (App JWTs, installations, access tokens)
           <- issues.IssuesMixin (comments, labels) <- pulls.PullsMixin (+ reviewers, reviews)

This module matches a request to a route, checks it against GitHub's OpenAPI description,
authenticates and authorizes it, runs the precheck and the handler, applies injected faults,
records the request and validates the response.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from gitops_release.sandbox import openapi
from gitops_release.sandbox.github import apps, deployments, dispatches, issues, pulls, repos, statuses
from gitops_release.sandbox.github.model import (
    _LEVELS,
    DOCS,
    EVENTS_PATH,
    _error,
    _Identity,
    _not_accessible,
    _Reply,
    _Repo,
    _Request,
    _Route,
    _within_business_limits,
)
from gitops_release.sandbox.httpbase import (
    QuietHandler,
    RecordedRequest,
    read_request,
    send_reply,
)

#: Where GitHub Enterprise Server serves the REST API (``GITHUB_API_URL=https://HOST/api/v3``).
GHES_PREFIX = "/api/v3"

#: URL fields that point at the web UI or git, not the API: GHES serves them without the prefix.
_WEB_URL_KEYS = frozenset(
    {"html_url", "clone_url", "git_url", "svn_url", "ssh_url", "mirror_url", "avatar_url"}
)


def _under_prefix(body: Any, headers: dict[str, str], base: str, prefix: str) -> tuple[Any, dict[str, str]]:
    """A response with its API URLs (``url``, ``*_url`` fields, ``_links`` but their ``html``,
    ``Location`` and ``Link`` headers) moved under ``prefix``, as GHES writes them."""
    root = base + "/"

    def move(value: str) -> str:
        return base + prefix + value[len(base) :] if value.startswith(root) else value

    def walk(node: Any, key: str = "", web: bool = False) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k, web or k == "html") for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key, web) for v in node]
        if isinstance(node, str) and not web and key not in _WEB_URL_KEYS:
            if key in ("url", "href") or key.endswith("_url"):
                return move(node)
        return node

    moved = dict(headers)
    if "Location" in moved:
        moved["Location"] = move(moved["Location"])
    if "Link" in moved:
        moved["Link"] = moved["Link"].replace(f"<{root}", f"<{base}{prefix}/")
    return (body if isinstance(body, (bytes, bytearray)) else walk(body)), moved


#: Every route of the emulator; each area module owns its own table.
ROUTES: tuple[_Route, ...] = (
    *apps.ROUTES,
    *repos.ROUTES,
    *dispatches.ROUTES,
    *statuses.ROUTES,
    *deployments.ROUTES,
    *pulls.ROUTES,
    *issues.ROUTES,
)


class GitHubSandbox(
    deployments.DeploymentsMixin,
    dispatches.DispatchesMixin,
    pulls.PullsMixin,
    apps.AppsMixin,
):
    """The emulator. Thread-safe: one lock serialises requests and the inspection methods."""

    server_version = "GitHubSandbox"

    @property
    def ghes_url(self) -> str:
        """The API's URL as GitHub Enterprise Server serves it (``<url>/api/v3``), for GITHUB_API_URL."""
        return self.url + GHES_PREFIX

    def _serve(self, handler: QuietHandler) -> None:
        path, query, headers, raw = read_request(handler)
        with self._lock:
            events = EVENTS_PATH.match(path)
            if events and handler.command == "GET":
                status, body, extra = self._serve_events(headers, *events.groups())
            elif path == GHES_PREFIX or path.startswith(GHES_PREFIX + "/"):
                # GitHub Enterprise Server serves the same API under /api/v3 (GITHUB_API_URL).
                api_path = path[len(GHES_PREFIX) :] or "/"
                status, body, extra = self._dispatch(
                    handler.command, api_path, query, headers, raw, sent_path=path
                )
                body, extra = _under_prefix(body, extra, self.url, GHES_PREFIX)
            else:
                status, body, extra = self._dispatch(handler.command, path, query, headers, raw)
        raw_page = isinstance(body, (bytes, bytearray))  # an injected non-JSON page (GitHub's edge)
        payload = bytes(body) if raw_page else b"" if body is None else json.dumps(body).encode()
        content_type = "text/html; charset=utf-8" if raw_page else "application/json; charset=utf-8"
        send_reply(handler, status, payload, content_type, extra)

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        raw: bytes,
        *,
        sent_path: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """The answer to ``method path``; ``sent_path`` is the path as sent (with a GHES prefix),
        which the request record keeps."""
        parsed: Any = None
        bad_json = False
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                bad_json = True
        record = RecordedRequest(method, sent_path or path, dict(query), dict(headers), parsed)
        self.requests.append(record)
        request = _Request(method, path, query, headers, raw, parsed)
        identity_key = "anonymous"
        extra: dict[str, str] = {"X-GitHub-Request-Id": f"SBX:{len(self.requests):08X}"}
        route, params = self._match(method, path)
        # The request is checked first, whatever the answer will be (an auth error, a precheck, a
        # 400, an injected fault): a client bug must not hide behind another failure. GitHub's
        # documented business limits are the prechecks' answers, not violations: clipped here.
        request_problems: list[openapi.Problem] = []
        if route is not None and self._validator is not None:
            checked = _within_business_limits(raw, parsed) if route.precheck else raw
            request_problems = self._validator.validate_request(
                method, path, query, headers, checked or None, template=route.template, path_params=params
            )
            self.violations.extend(str(p) for p in request_problems)
        injected = self._take_injection(method, path)
        internal_error = False
        try:
            if injected is not None and not injected.after_processing:
                raise _Reply(injected.status, copy.deepcopy(injected.body), injected.headers)
            if route is None:
                raise _error(404, "Not Found")
            if bad_json:
                raise _error(400, "Problems parsing JSON")
            request.identity = self._authenticate(headers, route)
            identity_key = request.identity.key
            if "owner" in params:
                request.repo = self._authorize_repo(request, params, route)
            if route.precheck:
                getattr(self, f"_{route.precheck}")(request, params)
            if request_problems:
                raise _error(422, "Invalid request.\n\n" + "\n".join(p.detail for p in request_problems))
            status, body, more = getattr(self, f"_{route.handler}")(request, params)
            extra.update(more)
        except _Reply as reply:
            status, body = reply.status, reply.body
            extra.update(reply.headers)
        except Exception as exc:  # noqa: BLE001 - a sandbox bug must reach the test as a 500, not a hang
            internal_error = True
            status = 500
            body = {
                "message": f"sandbox internal error: {type(exc).__name__}: {exc}",
                "documentation_url": DOCS,
            }
            self.violations.append(f"sandbox internal error on {method} {path}: {type(exc).__name__}: {exc}")
        if injected is not None and injected.after_processing:
            # The handler ran (and changed state); the client sees the injected answer instead.
            status, body = injected.status, copy.deepcopy(injected.body)
            extra.update(injected.headers)
        extra.update(self._rate_headers(identity_key))
        if route is not None and not internal_error and self._validator is not None:
            problems = self._response_problems(
                route, method, path, query, headers, raw, params, status, body, extra
            )
            if problems:
                self.violations.extend(str(p) for p in problems)
                status = 500
                body = {
                    "message": "sandbox response violated the OpenAPI description: " + problems[0].detail,
                    "documentation_url": DOCS,
                }
        record.status = status
        return status, body, extra

    def _response_problems(
        self,
        route: _Route,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        raw: bytes,
        params: dict[str, str],
        status: int,
        body: Any,
        extra: dict[str, str],
    ) -> list[openapi.Problem]:
        """The response checked against the operation: its declared schema, or the undeclared allow-list."""
        assert self._validator is not None
        if not self._validator.declares(route.template, method, status):
            return self._validator.undeclared_problems(route.template, method, path, status, body)
        if isinstance(body, (bytes, bytearray)):
            response_bytes = bytes(body)
        else:
            response_bytes = b"" if body is None else json.dumps(body).encode()
        return self._validator.validate_response(
            method,
            path,
            query,
            headers,
            raw or None,
            status,
            response_bytes,
            extra,
            template=route.template,
            path_params=params,
        )

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        """The route and its path parameters, percent-decoded as GitHub does (octokit sends a ref
        as ``heads%2Fmain``); the path is matched before decoding, so an encoded slash never splits."""
        for route in ROUTES:
            match = route.pattern.match(path)
            if match and route.method == method:
                return route, {name: unquote(value) for name, value in match.groupdict().items()}
        return None, {}

    def _authenticate(self, headers: Mapping[str, str], route: _Route) -> _Identity:
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, credential = value.strip().partition(" ")
        credential = credential.strip()
        if not value:
            if route.permission is None:
                raise _error(401, "A JSON web token could not be decoded")
            return _Identity("anonymous", "anonymous")
        if scheme.lower() not in ("token", "bearer") or not credential:
            raise _error(401, "Bad credentials")
        if route.permission is None:
            return self._authenticate_app(credential)
        token = self._tokens.get(credential)
        if token is None:
            raise _error(401, "Bad credentials")
        if token.expires_at is not None and token.expires_at <= time.time():
            raise _error(401, "Bad credentials")
        key = f"token-{id(token)}"
        return _Identity("token", key, token=token)

    def _authorize_repo(self, request: _Request, params: Mapping[str, str], route: _Route) -> _Repo:
        full_name = f"{params['owner']}/{params['repo']}"
        repo = self._repos.get(full_name.lower())
        identity = request.identity
        assert identity is not None
        if repo is None:
            raise _error(404, "Not Found")
        if identity.kind == "app":
            if route.permission is not None:
                raise _not_accessible(route.method, route.template)
            if identity.app is None or full_name.lower() not in identity.app.installations:
                raise _error(404, "Not Found")
            return repo
        if identity.kind == "anonymous":
            if repo.private:
                raise _error(404, "Not Found")
            if route.method != "GET":
                raise _error(401, "Requires authentication")
            return repo
        token = identity.token
        assert token is not None
        if token.repositories is not None and full_name.lower() not in token.repositories:
            raise _error(404, "Not Found")
        if token.permissions is not None and route.permission is not None:
            allowed = any(
                _LEVELS.get(token.permissions.get(name, "read" if name == "metadata" else ""), 0)
                >= _LEVELS[level]
                for name, level in route.permission
            )
            if not allowed:
                raise _not_accessible(route.method, route.template)
        return repo


def main(argv: list[str] | None = None) -> int:
    """``python -m gitops_release.sandbox.github_api [--flags]``: same as ``gitops-release sandbox``."""
    from gitops_release.cli import main as cli_main

    return cli_main(["sandbox", *(sys.argv[1:] if argv is None else argv)])
