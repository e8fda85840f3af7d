"""A stateful GitHub REST API emulator on 127.0.0.1, backed by bare git repositories.

For our tests, ``make demo`` and users' local workflow tests (act). Standard library HTTP
server; every request it accepts and every response it sends is checked against GitHub's
OpenAPI description (see ``sandbox/openapi.py``) when openapi-core is installed.

    with GitHubSandbox(tmp_path) as gh:
        gh.create_repo("org/config", files={"db/db.json": "{}"})
        requests.post(f"{gh.url}/repos/org/config/dispatches", json={...},
                      headers={"Authorization": "token sandbox-token"})
        gh.dispatches("org/config")

See docs/sandbox.md for every endpoint, fault injection and use with act.
"""

from __future__ import annotations

import base64
import copy
import http
import json
import math
import os
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from gitops_release.errors import ConfigError, GitError, InputError
from gitops_release.sandbox import openapi

DOCS = "https://docs.github.com/rest"
ZERO_SHA = "0" * 40
_LEVELS = {"read": 1, "write": 2, "admin": 3}
_ALL_PERMISSIONS = {
    "metadata": "read",
    "contents": "write",
    "statuses": "write",
    "deployments": "write",
    "pull_requests": "write",
    "issues": "write",
}
_SIMPLE_REPO_KEYS = {"id", "node_id", "name", "full_name", "private", "owner", "description", "fork", "url"}
_NOT_SIMPLE = {"clone_url", "git_url", "ssh_url", "svn_url", "mirror_url"}
_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
#: A GitHub login: a user or machine user, or an App's bot (``<app-slug>[bot]``, type Bot).
LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\[bot\])?$")
DEFAULT_LOGIN = "sandbox-user"
#: Event files in ``events_dir``: ``000001-<event type>.json``; six digits keep ``ls`` order = arrival order.
EVENT_FILE = re.compile(r"^(\d{6,})-.*\.json$")
#: The sandbox's own events endpoint, not GitHub's API: GET /_sandbox/repos/{o}/{r}/events[/N|/latest].
EVENTS_PATH = re.compile(r"^/_sandbox/repos/([^/]+)/([^/]+)/events(?:/(\d{1,9}|latest))?$")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "GitHub Sandbox",
    "GIT_AUTHOR_EMAIL": "noreply@sandbox.invalid",
    "GIT_COMMITTER_NAME": "GitHub Sandbox",
    "GIT_COMMITTER_EMAIL": "noreply@sandbox.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}
#: GitHub's limit on an issue or pull request body (longer: 422 naming the field).
PULL_BODY_LIMIT = 65536
NOT_COLLABORATOR_MESSAGE = (
    "Reviews may only be requested from collaborators. One or more of the users or teams you specified "
    "is not a collaborator of the {full_name} repository."
)
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


# -- public records ------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as received: ``query`` keeps the last value per name, ``body`` is parsed JSON."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int = 0

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class _Injection:
    status: int
    count: int
    method: str | None
    path: re.Pattern[str] | None
    headers: dict[str, str]
    body: Any
    after_processing: bool = False


@dataclass
class _Token:
    permissions: dict[str, str] | None
    repositories: set[str] | None
    login: str = "sandbox-user"
    user_type: str = "User"
    expires_at: float | None = None
    installation_id: int | None = None


@dataclass
class _App:
    app_id: int
    public_key_pem: str
    installations: dict[str, int]


@dataclass
class _Repo:
    id: int
    owner: str
    name: str
    private: bool
    default_branch: str
    git_dir: Path
    created_at: float
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dispatches: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    deployment_statuses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    labels: dict[int, list[str]] = field(default_factory=dict)
    label_ids: dict[str, int] = field(default_factory=dict)
    next_number: int = 1
    # review requests: who may be asked (lower-case logins; team slug -> team id) and given reviews
    collaborators: set[str] = field(default_factory=set)
    teams: dict[str, int] = field(default_factory=dict)
    reviews: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class _Identity:
    kind: str  # "anonymous", "token", "app"
    key: str  # rate-limit bucket; never the token itself
    token: _Token | None = None
    app: _App | None = None


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes
    body: Any
    identity: _Identity | None = None
    repo: _Repo | None = None


class _Reply(Exception):
    """Raised inside a handler to answer at once; caught in _dispatch and never leaves this module."""

    def __init__(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _error(status: int, message: str, **extra: Any) -> _Reply:
    return _Reply(status, {"message": message, **extra, "documentation_url": DOCS})


def _validation_failed(resource: str, field_name: str, code: str, message: str | None = None) -> _Reply:
    error: dict[str, Any] = {"resource": resource, "code": code, "field": field_name}
    if message:
        error["message"] = message
    return _error(422, "Validation Failed", errors=[error])


_Result = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    template: str  # OpenAPI path template, for response validation
    handler: str
    permission: tuple[tuple[str, str], ...] | None  # any of (name, level); None = app JWT route
    precheck: str | None = None


#: Path parameters that may hold a slash unencoded (git refs and branch names), as GitHub accepts.
_SLASHED_PARAMS = ("ref", "branch")


def _route(method: str, template: str, handler: str, permission: Any, precheck: str | None = None) -> _Route:
    regex = re.sub(
        r"\{(\w+)\}",
        lambda m: f"(?P<{m.group(1)}>{'.+' if m.group(1) in _SLASHED_PARAMS else '[^/]+'})",
        template,
    )
    perms = None if permission is None else tuple(permission)
    return _Route(method, re.compile(f"^{regex}$"), template, handler, perms, precheck)


_R = "/repos/{owner}/{repo}"
ROUTES: tuple[_Route, ...] = (
    _route("POST", "/app/installations/{installation_id}/access_tokens", "access_token", None),
    _route("GET", f"{_R}/installation", "repo_installation", None),
    _route("GET", _R, "get_repo", [("metadata", "read")]),
    _route("POST", f"{_R}/dispatches", "create_dispatch", [("contents", "write")], "check_dispatch"),
    _route("POST", f"{_R}/statuses/{{sha}}", "create_status", [("statuses", "write")], "check_status"),
    _route("GET", f"{_R}/commits/{{ref}}/status", "combined_status", [("statuses", "read")]),
    _route("GET", f"{_R}/commits/{{ref}}/statuses", "list_statuses", [("statuses", "read")]),
    _route("GET", f"{_R}/deployments", "list_deployments", [("deployments", "read")]),
    _route("POST", f"{_R}/deployments", "create_deployment", [("deployments", "write")], "check_deployment"),
    _route("GET", f"{_R}/deployments/{{deployment_id}}", "get_deployment", [("deployments", "read")]),
    _route(
        "GET",
        f"{_R}/deployments/{{deployment_id}}/statuses",
        "list_deployment_statuses",
        [("deployments", "read")],
    ),
    _route(
        "POST",
        f"{_R}/deployments/{{deployment_id}}/statuses",
        "create_deployment_status",
        [("deployments", "write")],
        "check_deployment_status",
    ),
    _route("GET", f"{_R}/pulls", "list_pulls", [("pull_requests", "read")]),
    _route("POST", f"{_R}/pulls", "create_pull", [("pull_requests", "write")]),
    _route("GET", f"{_R}/pulls/{{pull_number}}", "get_pull", [("pull_requests", "read")]),
    _route("PATCH", f"{_R}/pulls/{{pull_number}}", "update_pull", [("pull_requests", "write")]),
    _route(
        "GET",
        f"{_R}/pulls/{{pull_number}}/requested_reviewers",
        "list_review_requests",
        [("pull_requests", "read")],
    ),
    _route(
        "POST",
        f"{_R}/pulls/{{pull_number}}/requested_reviewers",
        "request_reviewers",
        [("pull_requests", "write")],
    ),
    _route("GET", f"{_R}/pulls/{{pull_number}}/reviews", "list_reviews", [("pull_requests", "read")]),
    _route("PUT", f"{_R}/pulls/{{pull_number}}/merge", "merge_pull", [("contents", "write")]),
    _route("GET", f"{_R}/branches", "list_branches", [("contents", "read")]),
    _route("GET", f"{_R}/branches/{{branch}}", "get_branch", [("contents", "read")]),
    _route("GET", f"{_R}/git/ref/{{ref}}", "get_ref", [("contents", "read")]),
    _route("GET", f"{_R}/git/matching-refs/{{ref}}", "matching_refs", [("contents", "read")]),
    _route("POST", f"{_R}/git/refs", "create_ref", [("contents", "write")]),
    _route("PATCH", f"{_R}/git/refs/{{ref}}", "update_ref", [("contents", "write")]),
    _route("DELETE", f"{_R}/git/refs/{{ref}}", "delete_ref", [("contents", "write")]),
    _route(
        "GET",
        f"{_R}/issues/{{issue_number}}/comments",
        "list_comments",
        [("issues", "read"), ("pull_requests", "read")],
    ),
    _route(
        "POST",
        f"{_R}/issues/{{issue_number}}/comments",
        "create_comment",
        [("issues", "write"), ("pull_requests", "write")],
    ),
    _route(
        "GET",
        f"{_R}/issues/{{issue_number}}/labels",
        "list_labels",
        [("issues", "read"), ("pull_requests", "read")],
    ),
    _route(
        "POST",
        f"{_R}/issues/{{issue_number}}/labels",
        "add_labels",
        [("issues", "write"), ("pull_requests", "write")],
    ),
)


#: GitHub's documented business limits, answered by the prechecks with GitHub's own 422 (field -> limit).
BUSINESS_LIMITS = {"event_type": 100, "client_payload": 10, "description": 140}


def _within_business_limits(raw: bytes, parsed: Any) -> bytes:
    """``raw`` with the fields over a BUSINESS_LIMITS limit clipped to it, for request validation only."""
    if not isinstance(parsed, dict):
        return raw
    body = dict(parsed)
    event_type = body.get("event_type")
    if isinstance(event_type, str) and not 1 <= len(event_type) <= BUSINESS_LIMITS["event_type"]:
        body["event_type"] = event_type[: BUSINESS_LIMITS["event_type"]] or "x"
    payload = body.get("client_payload")
    if isinstance(payload, dict) and len(payload) > BUSINESS_LIMITS["client_payload"]:
        body["client_payload"] = dict(list(payload.items())[: BUSINESS_LIMITS["client_payload"]])
    description = body.get("description")
    if isinstance(description, str) and len(description) > BUSINESS_LIMITS["description"]:
        body["description"] = description[: BUSINESS_LIMITS["description"]]
    return raw if body == parsed else json.dumps(body).encode()


# -- git plumbing on the bare repositories -------------------------------------------------------


def _git(
    git_dir: Path,
    *args: str,
    input_text: str | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_GIT_ENV, **(env or {})}
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args],
        input=input_text,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if check and proc.returncode != 0:
        raise GitError(
            f"git {args[0]} failed in {git_dir} (exit {proc.returncode}): {proc.stderr.strip()[:300]}",
            rc=proc.returncode,
            stderr=proc.stderr,
        )
    return proc


def _resolve(git_dir: Path, ref: str) -> str | None:
    """The commit sha a ref/sha names, or None."""
    if not ref or ref.startswith("-") or ".." in ref or "\x00" in ref:  # NUL: another owner's branch
        return None
    proc = _git(
        git_dir, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def _merge_tree(git_dir: Path, base: str, head: str) -> str | None:
    """The merged tree of two commits, or None on a conflict (git >= 2.38 ``merge-tree --write-tree``)."""
    proc = _git(git_dir, "merge-tree", "--write-tree", "--no-messages", base, head, check=False)
    if proc.returncode == 0:
        return proc.stdout.split()[0]
    if proc.returncode == 1:
        return None
    raise GitError(
        f"git merge-tree failed (exit {proc.returncode}): {proc.stderr.strip()[:300]}", rc=proc.returncode
    )


# -- the HTTP server -----------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GitHubSandbox"
    timeout = 30  # idle keep-alive connections close, so stop() never waits on them
    sandbox: GitHubSandbox

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines could carry secrets in a query string; tests read ``requests``."""

    def _serve(self) -> None:
        self.sandbox._serve(self)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve


class GitHubSandbox:
    """The emulator. Thread-safe: one lock serialises requests and the inspection methods."""

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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
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

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> GitHubSandbox:
        if self._server is not None:
            return self
        handler = type("SandboxHandler", (_Handler,), {"sandbox": self})
        try:
            self._server = _Server(("127.0.0.1", self.port), handler)
        except OSError as exc:
            # A taken (or privileged) port is the caller's input, not a sandbox bug.
            raise InputError(
                "port",
                f"cannot listen on 127.0.0.1:{self.port}: {exc.strerror or exc}",
                fix="choose another port, or 0 to let the sandbox pick a free one",
            ) from None
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> GitHubSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- set-up -----------------------------------------------------------------------------------

    def _next_id(self, kind: str) -> int:
        self._ids[kind] = self._ids.get(kind, 999) + 1
        return self._ids[kind]

    def create_repo(
        self,
        full_name: str,
        *,
        files: Mapping[str, str] | None = None,
        default_branch: str = "main",
        private: bool = False,
    ) -> Path:
        """A bare repository at root/git/owner/name.git whose default branch holds ``files`` (one commit)."""
        if not _FULL_NAME.match(full_name):
            raise InputError("full_name", f"'{full_name}' is not owner/name", fix="use e.g. org/config-repo")
        owner, name = full_name.split("/")
        git_dir = self.root / "git" / owner / f"{name}.git"
        with self._lock:
            if full_name.lower() in self._repos:
                raise ConfigError(
                    f"sandbox repository {full_name} already exists", fix="create it once per sandbox"
                )
            git_dir.parent.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                ["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(git_dir)],
                capture_output=True,
                text=True,
                env={**os.environ, **_GIT_ENV},
                check=False,
            )
            if proc.returncode != 0:
                raise GitError(f"git init failed for {git_dir}: {proc.stderr.strip()}", rc=proc.returncode)
            index = git_dir / "sandbox-index"
            env_index = {"GIT_INDEX_FILE": str(index)}
            try:
                for path, content in sorted((files or {}).items()):
                    blob = _git(git_dir, "hash-object", "-w", "--stdin", input_text=content).stdout.strip()
                    _git(
                        git_dir,
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        f"100644,{blob},{path}",
                        env=env_index,
                    )
                tree = _git(git_dir, "write-tree", env=env_index).stdout.strip()
            finally:
                index.unlink(missing_ok=True)
            commit = _git(git_dir, "commit-tree", tree, "-m", "Initial commit").stdout.strip()
            _git(git_dir, "update-ref", f"refs/heads/{default_branch}", commit, ZERO_SHA)
            self._repos[full_name.lower()] = _Repo(
                id=self._next_id("repo"),
                owner=owner,
                name=name,
                private=private,
                default_branch=default_branch,
                git_dir=git_dir,
                created_at=time.time(),
            )
        return git_dir

    def git_url(self, full_name: str) -> str:
        return self._repo(full_name).git_dir.resolve().as_uri()

    def add_token(
        self,
        token: str,
        *,
        permissions: Mapping[str, str] | None = None,
        repositories: Iterable[str] | None = None,
        login: str = DEFAULT_LOGIN,
    ) -> None:
        """Accept ``token`` with ``permissions`` ({"contents": "write"}) on ``repositories`` (None: all).

        ``login`` is the account the token acts as: the ``sender`` of its dispatches' events, the
        ``creator`` of its statuses. A login ending in ``[bot]`` is a Bot, as an App's token is."""
        if not token:
            raise InputError("token", "is empty", fix="pass a non-empty token")
        if not LOGIN.match(login):
            raise InputError(
                "login",
                f"'{login}' is not a GitHub login",
                fix="use letters, digits and single hyphens (at most 39), e.g. release-bot or my-app[bot]",
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
            )

    def register_app(self, app_id: int, public_key_pem: str, *, installations: Mapping[str, int]) -> None:
        """A GitHub App (public key to verify RS256 JWTs) installed as repo full_name -> installation id."""
        with self._lock:
            self._apps[int(app_id)] = _App(
                int(app_id), public_key_pem, {name.lower(): int(i) for name, i in installations.items()}
            )

    # -- fault injection --------------------------------------------------------------------------

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

    # -- inspection -------------------------------------------------------------------------------

    def _repo(self, full_name: str) -> _Repo:
        repo = self._repos.get(full_name.lower())
        if repo is None:
            raise InputError(
                "full_name", f"no sandbox repository {full_name}", fix="create it with create_repo()"
            )
        return repo

    def dispatches(self, full_name: str) -> list[dict[str, Any]]:
        """Recorded repository_dispatch events, oldest first: {"event_type", "client_payload"}."""
        with self._lock:
            return [
                {"event_type": d["event_type"], "client_payload": copy.deepcopy(d["client_payload"])}
                for d in self._repo(full_name).dispatches
            ]

    def event_json(self, full_name: str, index: int = -1) -> dict[str, Any]:
        """The repository_dispatch webhook payload GitHub would deliver (for ``act -e event.json``)."""
        with self._lock:
            repo = self._repo(full_name)
            return self._event(repo, repo.dispatches[index])

    def _event(self, repo: _Repo, dispatch: Mapping[str, Any]) -> dict[str, Any]:
        """GitHub's ``repository_dispatch`` webhook payload for one recorded dispatch."""
        event: dict[str, Any] = {
            "action": dispatch["event_type"],
            "branch": repo.default_branch,
            "client_payload": copy.deepcopy(dispatch["client_payload"]),
            "repository": self._repo_json(repo),
            # Sandbox repositories belong to organizations (see _repo_json), so GitHub adds it.
            "organization": self._organization(repo.owner),
            "sender": self._user(dispatch["sender"], dispatch["sender_type"]),
        }
        if dispatch["installation_id"] is not None:
            event["installation"] = {
                "id": dispatch["installation_id"],
                "node_id": _node_id("Installation", dispatch["installation_id"]),
            }
        return event

    def _write_event(self, event: Mapping[str, Any]) -> Path:
        """``event`` as the next ``NNNNNN-<event type>.json`` in ``events_dir``, written atomically
        (a reader never sees a partial file). The event type is the dispatcher's text: only safe
        characters reach the file name."""
        assert self.events_dir is not None
        self._event_number += 1
        label = re.sub(r"[^A-Za-z0-9._-]+", "_", str(event["action"]))[:100].lstrip(".") or "event"
        target = self.events_dir / f"{self._event_number:06d}-{label}.json"
        fd, temp = tempfile.mkstemp(dir=self.events_dir, prefix=".event-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(event, stream, indent=2)
                stream.write("\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target

    def statuses(self, full_name: str, sha: str) -> list[dict[str, Any]]:
        """Commit statuses of ``sha`` (or a ref), oldest first."""
        with self._lock:
            repo = self._repo(full_name)
            resolved = _resolve(repo.git_dir, sha) or sha
            return copy.deepcopy(repo.statuses.get(resolved, []))

    def deployments(self, full_name: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._repo(full_name).deployments)

    def deployment_statuses(self, full_name: str, deployment_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._repo(full_name).deployment_statuses.get(int(deployment_id), []))

    def pulls(self, full_name: str) -> list[dict[str, Any]]:
        """Every pull request as GitHub shows it (``labels``, ``requested_reviewers``,
        ``requested_teams`` included), oldest first."""
        with self._lock:
            repo = self._repo(full_name)
            return [self._pull_json(repo, pr) for pr in repo.pulls.values()]

    def comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        """The comments on issue / pull request ``number``, oldest first."""
        with self._lock:
            return copy.deepcopy(self._repo(full_name).comments.get(int(number), []))

    def add_collaborators(self, full_name: str, *logins: str, teams: Iterable[str] = ()) -> None:
        """Accounts and team slugs reviews may be requested from (besides the tokens' own logins);
        anyone else gets GitHub's 422 "Reviews may only be requested from collaborators"."""
        with self._lock:
            repo = self._repo(full_name)
            repo.collaborators.update(login.lower() for login in logins)
            for slug in teams:
                repo.teams.setdefault(slug.lower(), self._next_id("team"))

    def add_review(
        self, full_name: str, number: int, login: str, *, state: str = "APPROVED", body: str = ""
    ) -> None:
        """``login`` reviews pull request ``number``; as on GitHub, their pending request is removed."""
        with self._lock:
            repo = self._repo(full_name)
            pr = repo.pulls.get(int(number))
            if pr is None:
                raise InputError("number", f"no pull request #{number} in {full_name}", fix="open it first")
            pr["requested_reviewers"] = [u for u in pr["requested_reviewers"] if u.lower() != login.lower()]
            review_id = self._next_id("review")
            api = f"{self.url}/repos/{repo.full_name}/pulls/{number}"
            html = f"{self.url}/{repo.full_name}/pull/{number}"
            head_sha = _resolve(repo.git_dir, f"refs/heads/{pr['head']}") or pr["head_sha"]
            repo.reviews.setdefault(int(number), []).append(
                {
                    "id": review_id,
                    "node_id": _node_id("PullRequestReview", review_id),
                    "user": self._user(login),
                    "body": body,
                    "state": state,
                    "html_url": f"{html}#pullrequestreview-{review_id}",
                    "pull_request_url": api,
                    "_links": {
                        "html": {"href": f"{html}#pullrequestreview-{review_id}"},
                        "pull_request": {"href": api},
                    },
                    "submitted_at": _iso(time.time()),
                    "commit_id": head_sha,
                    "author_association": "COLLABORATOR",
                }
            )

    # -- JSON objects -----------------------------------------------------------------------------

    def _organization(self, login: str) -> dict[str, Any]:
        api = f"{self.url}/orgs/{login}"
        uid = sum(login.encode()) + 1000
        return {
            "login": login,
            "id": uid,
            "node_id": _node_id("Organization", uid),
            "url": api,
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events",
            "hooks_url": f"{api}/hooks",
            "issues_url": f"{api}/issues",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"{self.url}/avatars/{login}",
            "description": None,
        }

    def _user(self, login: str, user_type: str = "User") -> dict[str, Any]:
        api = self.url
        uid = sum(login.encode()) + 1000
        return {
            "login": login,
            "id": uid,
            "node_id": _node_id("User", uid),
            "avatar_url": f"{api}/avatars/{login}",
            "gravatar_id": "",
            "url": f"{api}/users/{login}",
            "html_url": f"{api}/{login}",
            "followers_url": f"{api}/users/{login}/followers",
            "following_url": f"{api}/users/{login}/following{{/other_user}}",
            "gists_url": f"{api}/users/{login}/gists{{/gist_id}}",
            "starred_url": f"{api}/users/{login}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/users/{login}/subscriptions",
            "organizations_url": f"{api}/users/{login}/orgs",
            "repos_url": f"{api}/users/{login}/repos",
            "events_url": f"{api}/users/{login}/events{{/privacy}}",
            "received_events_url": f"{api}/users/{login}/received_events",
            "type": user_type,
            "site_admin": False,
        }

    def _repo_json(self, repo: _Repo) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        created = _iso(repo.created_at)
        open_count = sum(1 for pr in repo.pulls.values() if pr["state"] == "open")
        return {
            "id": repo.id,
            "node_id": _node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self._user(repo.owner, "Organization"),
            "html_url": f"{self.url}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": api,
            "forks_url": f"{api}/forks",
            "keys_url": f"{api}/keys{{/key_id}}",
            "collaborators_url": f"{api}/collaborators{{/collaborator}}",
            "teams_url": f"{api}/teams",
            "hooks_url": f"{api}/hooks",
            "issue_events_url": f"{api}/issues/events{{/number}}",
            "events_url": f"{api}/events",
            "assignees_url": f"{api}/assignees{{/user}}",
            "branches_url": f"{api}/branches{{/branch}}",
            "tags_url": f"{api}/tags",
            "blobs_url": f"{api}/git/blobs{{/sha}}",
            "git_tags_url": f"{api}/git/tags{{/sha}}",
            "git_refs_url": f"{api}/git/refs{{/sha}}",
            "trees_url": f"{api}/git/trees{{/sha}}",
            "statuses_url": f"{api}/statuses/{{sha}}",
            "languages_url": f"{api}/languages",
            "stargazers_url": f"{api}/stargazers",
            "contributors_url": f"{api}/contributors",
            "subscribers_url": f"{api}/subscribers",
            "subscription_url": f"{api}/subscription",
            "commits_url": f"{api}/commits{{/sha}}",
            "git_commits_url": f"{api}/git/commits{{/sha}}",
            "comments_url": f"{api}/comments{{/number}}",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "contents_url": f"{api}/contents/{{+path}}",
            "compare_url": f"{api}/compare/{{base}}...{{head}}",
            "merges_url": f"{api}/merges",
            "archive_url": f"{api}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{api}/downloads",
            "issues_url": f"{api}/issues{{/number}}",
            "pulls_url": f"{api}/pulls{{/number}}",
            "milestones_url": f"{api}/milestones{{/number}}",
            "notifications_url": f"{api}/notifications{{?since,all,participating}}",
            "labels_url": f"{api}/labels{{/name}}",
            "releases_url": f"{api}/releases{{/id}}",
            "deployments_url": f"{api}/deployments",
            "created_at": created,
            "updated_at": created,
            "pushed_at": created,
            "git_url": self.git_url(repo.full_name),
            "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
            "clone_url": self.git_url(repo.full_name),
            "svn_url": f"{self.url}/{repo.full_name}",
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_count,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": open_count,
            "watchers": 0,
            "default_branch": repo.default_branch,
            "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
            "network_count": 0,
            "subscribers_count": 0,
        }

    def _label_json(self, repo: _Repo, name: str) -> dict[str, Any]:
        if name not in repo.label_ids:
            repo.label_ids[name] = self._next_id("label")
        label_id = repo.label_ids[name]
        return {
            "id": label_id,
            "node_id": _node_id("Label", label_id),
            "url": f"{self.url}/repos/{repo.full_name}/labels/{name}",
            "name": name,
            "color": "ededed",
            "default": False,
            # "" rather than null: the pull request list's label schema does not allow null.
            "description": "",
        }

    def _team_json(self, repo: _Repo, slug: str) -> dict[str, Any]:
        """GitHub's ``team`` object (also valid as ``team-simple``) for a team of the repo's organization."""
        team_id = repo.teams.get(slug.lower()) or self._next_id("team")
        api = f"{self.url}/organizations/{sum(repo.owner.encode()) + 1000}/team/{team_id}"
        return {
            "id": team_id,
            "node_id": _node_id("Team", team_id),
            "url": api,
            "html_url": f"{self.url}/orgs/{repo.owner}/teams/{slug}",
            "name": slug,
            "slug": slug,
            "description": None,
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "push",
            "members_url": f"{api}/members{{/member}}",
            "repositories_url": f"{api}/repos",
            "parent": None,
        }

    def _branch_json(self, repo: _Repo, branch: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{repo.owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self._user(repo.owner, "Organization"),
            "repo": self._repo_json(repo),
        }

    def _pull_json(self, repo: _Repo, pr: dict[str, Any]) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        number = pr["number"]
        head_sha = pr["head_sha"]
        base_sha = pr["base_sha"]
        if pr["state"] == "open":
            head_sha = _resolve(repo.git_dir, f"refs/heads/{pr['head']}") or head_sha
            base_sha = _resolve(repo.git_dir, f"refs/heads/{pr['base']}") or base_sha
        mergeable: bool | None = None
        state = "unknown"
        if pr["state"] == "open":
            mergeable = _merge_tree(repo.git_dir, base_sha, head_sha) is not None
            state = "clean" if mergeable else "dirty"
        html = f"{self.url}/{repo.full_name}/pull/{number}"
        links = {
            "self": {"href": f"{api}/pulls/{number}"},
            "html": {"href": html},
            "issue": {"href": f"{api}/issues/{number}"},
            "comments": {"href": f"{api}/issues/{number}/comments"},
            "review_comments": {"href": f"{api}/pulls/{number}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{number}/commits"},
            "statuses": {"href": f"{api}/statuses/{head_sha}"},
        }
        return {
            "url": f"{api}/pulls/{number}",
            "id": pr["id"],
            "node_id": _node_id("PullRequest", pr["id"]),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{api}/issues/{number}",
            "commits_url": f"{api}/pulls/{number}/commits",
            "review_comments_url": f"{api}/pulls/{number}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{number}/comments",
            "statuses_url": f"{api}/statuses/{head_sha}",
            "number": number,
            "state": pr["state"],
            "locked": False,
            "title": pr["title"],
            "user": self._user(pr["user"], pr["user_type"]),
            "body": pr["body"],
            "labels": [self._label_json(repo, name) for name in repo.labels.get(number, [])],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _iso(pr["created_at"]),
            "updated_at": _iso(pr["updated_at"]),
            "closed_at": _iso(pr["closed_at"]) if pr["closed_at"] else None,
            "merged_at": _iso(pr["closed_at"]) if pr["merged"] else None,
            "merge_commit_sha": pr["merge_commit_sha"],
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [self._user(login) for login in pr["requested_reviewers"]],
            "requested_teams": [self._team_json(repo, slug) for slug in pr["requested_teams"]],
            "head": self._branch_json(repo, pr["head"], head_sha),
            "base": self._branch_json(repo, pr["base"], base_sha),
            "_links": links,
            "author_association": "OWNER",
            "auto_merge": None,
            "draft": pr["draft"],
            "merged": pr["merged"],
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": state,
            "merged_by": self._user(pr["merged_by"]) if pr["merged_by"] else None,
            "comments": len(repo.comments.get(number, [])),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": pr["commits"],
            "additions": pr["additions"],
            "deletions": pr["deletions"],
            "changed_files": pr["changed_files"],
        }

    # -- request plumbing -------------------------------------------------------------------------

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

    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        headers = dict(handler.headers.items())
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        with self._lock:
            events = EVENTS_PATH.match(split.path)
            if events and handler.command == "GET":
                status, body, extra = self._serve_events(headers, *events.groups())
            else:
                status, body, extra = self._dispatch(handler.command, split.path, query, headers, raw)
        raw_page = isinstance(body, (bytes, bytearray))  # an injected non-JSON page (GitHub's edge)
        payload = bytes(body) if raw_page else b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        for name, value in extra.items():
            handler.send_header(name, value)
        if payload:
            content_type = "text/html; charset=utf-8" if raw_page else "application/json; charset=utf-8"
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if payload and handler.command != "HEAD":
            handler.wfile.write(payload)

    def _serve_events(
        self, headers: Mapping[str, str], owner: str, name: str, which: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        """The sandbox's own inspection endpoint (not GitHub's API, so neither validated nor
        recorded): a repository's dispatch events as webhook payloads, oldest first; ``/N``
        (1-based) or ``/latest`` answers one. A token the sandbox accepts for the repository may read them."""
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, credential = value.strip().partition(" ")
        token = self._tokens.get(credential.strip()) if scheme.lower() in ("token", "bearer") else None
        if token is None:
            return 401, {"message": "Requires authentication", "documentation_url": DOCS}, {}
        full_name = f"{unquote(owner)}/{unquote(name)}".lower()
        repo = self._repos.get(full_name)
        if repo is None or (token.repositories is not None and full_name not in token.repositories):
            return 404, {"message": "Not Found", "documentation_url": DOCS}, {}
        if which is None:
            return 200, [self._event(repo, d) for d in repo.dispatches], {}
        index = len(repo.dispatches) if which == "latest" else int(which)
        if not 1 <= index <= len(repo.dispatches):
            return (
                404,
                {
                    "message": f"No event {which} (there are {len(repo.dispatches)})",
                    "documentation_url": DOCS,
                },
                {},
            )
        return 200, self._event(repo, repo.dispatches[index - 1]), {}

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parsed: Any = None
        bad_json = False
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                bad_json = True
        record = RecordedRequest(method, path, dict(query), dict(headers), parsed)
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

    def _authenticate_app(self, credential: str) -> _Identity:
        try:
            import jwt
        except ImportError:  # pragma: no cover - PyJWT comes with PyGithub
            raise _error(401, "A JSON web token could not be decoded") from None
        try:
            claims = jwt.decode(credential, options={"verify_signature": False})
            app = self._apps.get(int(claims["iss"]))
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            raise _error(401, "A JSON web token could not be decoded") from None
        if app is None:
            raise _error(401, "Integration not found")
        try:
            claims = jwt.decode(
                credential,
                app.public_key_pem,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError:
            raise _error(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
                "which the assertion expires",
            ) from None
        except jwt.ImmatureSignatureError:
            raise _error(
                401,
                "'Issued at' claim ('iat') must be an Integer representing the time that the assertion "
                "was issued",
            ) from None
        except jwt.PyJWTError:
            raise _error(401, "A JSON web token could not be decoded") from None
        if float(claims["exp"]) - float(claims["iat"]) > 600:
            raise _error(401, "'Expiration time' claim ('exp') is too far in the future")
        return _Identity("app", f"app-{app.app_id}", app=app)

    def _authorize_repo(self, request: _Request, params: Mapping[str, str], route: _Route) -> _Repo:
        full_name = f"{params['owner']}/{params['repo']}"
        repo = self._repos.get(full_name.lower())
        identity = request.identity
        assert identity is not None
        if repo is None:
            raise _error(404, "Not Found")
        if identity.kind == "app":
            if route.permission is not None:
                raise _error(403, "Resource not accessible by integration")
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
                raise _error(403, "Resource not accessible by integration")
        return repo

    def _actor(self, request: _Request) -> tuple[str, str]:
        identity = request.identity
        if identity is not None and identity.token is not None:
            return identity.token.login, identity.token.user_type
        return "sandbox-user", "User"

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

    # -- prechecks: GitHub's own business rules, answered like GitHub (not contract violations) --

    def _check_dispatch(self, request: _Request, params: Mapping[str, str]) -> None:
        body = self._body(request)
        event_type = body.get("event_type")
        if isinstance(event_type, str) and not 1 <= len(event_type) <= 100:
            raise _error(
                422,
                f"Invalid request.\n\nFor 'properties/event_type', {json.dumps(event_type)} is "
                + (
                    "too long (maximum 100 characters)."
                    if event_type
                    else "too short (minimum 1 characters)."
                ),
            )
        payload = body.get("client_payload")
        if isinstance(payload, dict) and len(payload) > 10:
            raise _error(
                422,
                f"Invalid request.\n\nNo more than 10 properties are allowed; {len(payload)} were supplied.",
            )

    def _check_description(self, request: _Request, resource: str) -> None:
        description = self._body(request).get("description")
        if isinstance(description, str) and len(description) > 140:
            raise _validation_failed(
                resource, "description", "custom", "description is too long (maximum is 140 characters)"
            )

    def _check_status(self, request: _Request, params: Mapping[str, str]) -> None:
        self._check_description(request, "Status")

    def _check_deployment_status(self, request: _Request, params: Mapping[str, str]) -> None:
        self._check_description(request, "DeploymentStatus")

    def _check_deployment(self, request: _Request, params: Mapping[str, str]) -> None:
        self._check_description(request, "Deployment")

    # -- handlers ---------------------------------------------------------------------------------

    def _get_repo(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        full = self._repo_json(repo)
        full.update(
            {
                "organization": self._user(repo.owner, "Organization"),
                "temp_clone_token": "",
                "allow_squash_merge": True,
                "allow_merge_commit": True,
                "allow_rebase_merge": True,
                "allow_auto_merge": False,
                "allow_update_branch": False,
                "delete_branch_on_merge": False,
                "use_squash_pr_title_as_default": False,
                "web_commit_signoff_required": False,
            }
        )
        return 200, full, {}

    def _create_dispatch(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None and request.identity is not None
        body = self._body(request)
        login, user_type = self._actor(request)
        token = request.identity.token
        dispatch = {
            "event_type": body["event_type"],
            "client_payload": copy.deepcopy(body.get("client_payload") or {}),
            "sender": login,
            "sender_type": user_type,
            "installation_id": token.installation_id if token else None,
        }
        if self.events_dir is not None:
            self._write_event(self._event(repo, dispatch))  # first: a failed write records nothing
        repo.dispatches.append(dispatch)
        return 204, None, {}

    def _commit_or_422(self, repo: _Repo, ref: str) -> str:
        sha = _resolve(repo.git_dir, ref)
        if sha is None:
            raise _error(422, f"No commit found for SHA: {ref}")
        return sha

    def _create_status(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        sha = self._commit_or_422(repo, params["sha"])
        context = body.get("context") or "default"
        existing = repo.statuses.setdefault(sha, [])
        if sum(1 for s in existing if s["context"].lower() == context.lower()) >= 1000:
            raise _validation_failed(
                "Status",
                "context",
                "custom",
                "This SHA and context has reached the maximum number of statuses.",
            )
        status_id = self._next_id("status")
        now = _iso(time.time())
        login, user_type = self._actor(request)
        status = {
            "url": f"{self.url}/repos/{repo.full_name}/statuses/{sha}",
            "avatar_url": None,
            "id": status_id,
            "node_id": _node_id("StatusContext", status_id),
            "state": body["state"],
            "description": body.get("description") or "",
            "target_url": body.get("target_url") or "",
            "context": context,
            "created_at": now,
            "updated_at": now,
            "creator": self._user(login, user_type),
        }
        existing.append(status)
        return 201, copy.deepcopy(status), {}

    def _latest_per_context(self, repo: _Repo, sha: str) -> list[dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for status in repo.statuses.get(sha, []):
            latest[status["context"].lower()] = status
        return list(latest.values())

    @staticmethod
    def _combined_state(statuses: list[dict[str, Any]]) -> str:
        states = {s["state"] for s in statuses}
        if states & {"error", "failure"}:
            return "failure"
        if not states or "pending" in states:
            return "pending"
        return "success"

    def _commit_or_404(self, repo: _Repo, ref: str) -> str:
        sha = _resolve(repo.git_dir, ref)
        if sha is None:
            raise _error(404, "Not Found")
        return sha

    def _combined_status(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        sha = self._commit_or_404(repo, params["ref"])
        latest = self._latest_per_context(repo, sha)
        page, headers = self._paginate(request, latest)
        repo_json = self._repo_json(repo)
        # GitHub embeds the short "simple repository" here: API links and identity, no counters.
        minimal = {
            k: v
            for k, v in repo_json.items()
            if (k.endswith("_url") and k not in _NOT_SIMPLE) or k in _SIMPLE_REPO_KEYS
        }
        statuses = [{k: v for k, v in s.items() if k != "creator"} for s in page]
        return (
            200,
            {
                "state": self._combined_state(latest),
                "statuses": statuses,
                "sha": sha,
                "total_count": len(latest),
                "repository": minimal,
                "commit_url": f"{self.url}/repos/{repo.full_name}/commits/{sha}",
                "url": f"{self.url}/repos/{repo.full_name}/commits/{sha}/status",
            },
            headers,
        )

    def _list_statuses(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        sha = self._commit_or_404(repo, params["ref"])
        page, headers = self._paginate(request, list(reversed(repo.statuses.get(sha, []))))
        return 200, copy.deepcopy(page), headers

    # deployments

    def _find_deployment(self, repo: _Repo, deployment_id: str) -> dict[str, Any]:
        for deployment in repo.deployments:
            if str(deployment["id"]) == deployment_id:
                return deployment
        raise _error(404, "Not Found")

    def _list_deployments(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        items = [
            d
            for d in reversed(repo.deployments)
            if all(request.query.get(key) in (None, d[key]) for key in ("sha", "ref", "task", "environment"))
        ]
        page, headers = self._paginate(request, items)
        return 200, copy.deepcopy(page), headers

    def _get_deployment(self, request: _Request, params: Mapping[str, str]) -> _Result:
        assert request.repo is not None
        return 200, copy.deepcopy(self._find_deployment(request.repo, params["deployment_id"])), {}

    def _create_deployment(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        ref = body["ref"]
        sha = _resolve(repo.git_dir, ref)
        if sha is None:
            raise _error(422, f"No ref found for: {ref}")
        required = body.get("required_contexts")
        latest = {s["context"]: s["state"] for s in self._latest_per_context(repo, sha)}
        contexts = list(latest) if required is None else list(required)
        failing = [c for c in contexts if latest.get(c) != "success"]
        if failing:
            raise _Reply(
                409,
                {
                    "message": f"Conflict: Commit status checks failed for {ref}.",
                    "errors": [
                        {
                            "contexts": [{"context": c, "state": latest.get(c, "missing")} for c in failing],
                            "resource": "Deployment",
                            "field": "required_contexts",
                            "code": "invalid",
                        }
                    ],
                    "documentation_url": DOCS,
                },
            )
        environment = body.get("environment") or "production"
        deployment_id = self._next_id("deployment")
        now = _iso(time.time())
        login, user_type = self._actor(request)
        api = f"{self.url}/repos/{repo.full_name}"
        deployment = {
            "url": f"{api}/deployments/{deployment_id}",
            "id": deployment_id,
            "node_id": _node_id("Deployment", deployment_id),
            "sha": sha,
            "ref": ref,
            "task": body.get("task") or "deploy",
            "payload": body.get("payload") if body.get("payload") is not None else {},
            "original_environment": environment,
            "environment": environment,
            "description": body.get("description"),
            "creator": self._user(login, user_type),
            "created_at": now,
            "updated_at": now,
            "statuses_url": f"{api}/deployments/{deployment_id}/statuses",
            "repository_url": api,
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(body.get("production_environment", environment == "production")),
        }
        repo.deployments.append(deployment)
        repo.deployment_statuses[deployment_id] = []
        return 201, copy.deepcopy(deployment), {}

    def _list_deployment_statuses(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        deployment = self._find_deployment(repo, params["deployment_id"])
        items = list(reversed(repo.deployment_statuses[deployment["id"]]))
        page, headers = self._paginate(request, items)
        return 200, copy.deepcopy(page), headers

    def _add_deployment_status(
        self,
        repo: _Repo,
        deployment: dict[str, Any],
        state: str,
        login: str,
        user_type: str,
        fields: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        fields = fields or {}
        status_id = self._next_id("deployment_status")
        now = _iso(time.time())
        api = f"{self.url}/repos/{repo.full_name}"
        log_url = fields.get("log_url") or fields.get("target_url") or ""
        status = {
            "url": f"{api}/deployments/{deployment['id']}/statuses/{status_id}",
            "id": status_id,
            "node_id": _node_id("DeploymentStatus", status_id),
            "state": state,
            "creator": self._user(login, user_type),
            "description": fields.get("description") or "",
            "environment": deployment["environment"],
            "target_url": log_url,
            "log_url": log_url,
            "environment_url": fields.get("environment_url") or "",
            "created_at": now,
            "updated_at": now,
            "deployment_url": deployment["url"],
            "repository_url": api,
        }
        repo.deployment_statuses[deployment["id"]].append(status)
        deployment["updated_at"] = now
        return status

    def _create_deployment_status(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        deployment = self._find_deployment(repo, params["deployment_id"])
        if body.get("environment"):
            deployment["environment"] = body["environment"]
        login, user_type = self._actor(request)
        status = self._add_deployment_status(repo, deployment, body["state"], login, user_type, body)
        if body["state"] == "success" and body.get("auto_inactive", True):
            # GitHub: prior non-transient, non-production deployments of the same environment whose
            # latest state is success get an inactive status.
            for other in repo.deployments:
                if other["id"] >= deployment["id"] or other["environment"] != deployment["environment"]:
                    continue
                if other["transient_environment"] or other["production_environment"]:
                    continue
                history = repo.deployment_statuses[other["id"]]
                if history and history[-1]["state"] == "success":
                    self._add_deployment_status(repo, other, "inactive", login, user_type)
        return 201, copy.deepcopy(status), {}

    # pulls

    def _find_pull(self, repo: _Repo, number: str) -> dict[str, Any]:
        pr = repo.pulls.get(int(number)) if number.isdigit() else None
        if pr is None:
            raise _error(404, "Not Found")
        return pr

    def _branch_name(self, repo: _Repo, value: str) -> str:
        if ":" in value:
            owner, _, branch = value.partition(":")
            return branch if owner.lower() == repo.owner.lower() else f"\x00{value}"
        return value

    def _list_pulls(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        state = request.query.get("state", "open")
        head = request.query.get("head")
        base = request.query.get("base")
        items = []
        for pr in reversed(list(repo.pulls.values())):
            if state != "all" and pr["state"] != state:
                continue
            if head and self._branch_name(repo, head) != pr["head"]:
                continue
            if base and base != pr["base"]:
                continue
            items.append(pr)
        page, headers = self._paginate(request, items)
        return 200, [self._pull_json(repo, pr) for pr in page], headers

    def _get_pull(self, request: _Request, params: Mapping[str, str]) -> _Result:
        assert request.repo is not None
        return 200, self._pull_json(request.repo, self._find_pull(request.repo, params["pull_number"])), {}

    def _create_pull(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        head = self._branch_name(repo, str(body.get("head", "")))
        base = str(body.get("base", ""))
        head_sha = _resolve(repo.git_dir, f"refs/heads/{head}")
        base_sha = _resolve(repo.git_dir, f"refs/heads/{base}")
        if not body.get("title") and not body.get("issue"):
            raise _validation_failed("PullRequest", "title", "missing_field")
        self._check_pull_body(body)
        if head_sha is None:
            raise _validation_failed("PullRequest", "head", "invalid")
        if base_sha is None:
            raise _validation_failed("PullRequest", "base", "invalid")
        for pr in repo.pulls.values():
            if pr["state"] == "open" and pr["head"] == head and pr["base"] == base:
                raise _Reply(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for {repo.owner}:{head}.",
                            }
                        ],
                        "documentation_url": DOCS,
                    },
                )
        commits = self._count_commits(repo, base_sha, head_sha)
        if commits == 0:
            raise _Reply(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"No commits between {base} and {head}",
                        }
                    ],
                    "documentation_url": DOCS,
                },
            )
        additions = deletions = changed = 0
        numstat = _git(repo.git_dir, "diff", "--numstat", f"{base_sha}...{head_sha}").stdout
        for line in numstat.splitlines():
            added, deleted, _ = line.split("\t", 2)
            changed += 1
            additions += int(added) if added.isdigit() else 0
            deletions += int(deleted) if deleted.isdigit() else 0
        number = repo.next_number
        repo.next_number += 1
        login, user_type = self._actor(request)
        now = time.time()
        repo.pulls[number] = {
            "number": number,
            "id": self._next_id("pull"),
            "title": body.get("title") or f"Pull request {number}",
            "body": body.get("body"),
            "head": head,
            "base": base,
            "head_sha": head_sha,
            "base_sha": base_sha,
            "state": "open",
            "draft": bool(body.get("draft", False)),
            "merged": False,
            "merged_by": None,
            "merge_commit_sha": None,
            "user": login,
            "user_type": user_type,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "commits": commits,
            "additions": additions,
            "deletions": deletions,
            "changed_files": changed,
            "requested_reviewers": [],
            "requested_teams": [],
        }
        pr_json = self._pull_json(repo, repo.pulls[number])
        return 201, pr_json, {"Location": pr_json["url"]}

    def _merge_pull(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        pr = self._find_pull(repo, params["pull_number"])
        if pr["state"] != "open":
            raise _error(405, "Pull Request is not mergeable")
        head_sha = _resolve(repo.git_dir, f"refs/heads/{pr['head']}")
        base_sha = _resolve(repo.git_dir, f"refs/heads/{pr['base']}")
        if head_sha is None or base_sha is None:
            raise _error(405, "Pull Request is not mergeable")
        if body.get("sha") and body["sha"] != head_sha:
            raise _error(409, "Head branch was modified. Review and try the merge again.")
        tree = _merge_tree(repo.git_dir, base_sha, head_sha)
        if tree is None:
            raise _error(405, "Pull Request is not mergeable")
        method = body.get("merge_method") or "merge"
        if method == "merge":
            title = (
                body.get("commit_title")
                or f"Merge pull request #{pr['number']} from {repo.owner}/{pr['head']}"
            )
            message = body.get("commit_message") if body.get("commit_message") is not None else pr["title"]
            parents = ["-p", base_sha, "-p", head_sha]
        else:  # squash; rebase is emulated as one squashed commit on the base (see docs/sandbox.md)
            title = body.get("commit_title") or f"{pr['title']} (#{pr['number']})"
            message = body.get("commit_message") or ""
            parents = ["-p", base_sha]
        text = f"{title}\n\n{message}".strip() + "\n"
        commit = _git(repo.git_dir, "commit-tree", tree, *parents, input_text=text).stdout.strip()
        proc = _git(repo.git_dir, "update-ref", f"refs/heads/{pr['base']}", commit, base_sha, check=False)
        if proc.returncode != 0:
            raise _error(409, "Base branch was modified. Review and try the merge again.")
        login, _ = self._actor(request)
        pr.update(
            state="closed",
            merged=True,
            merged_by=login,
            merge_commit_sha=commit,
            head_sha=head_sha,
            base_sha=base_sha,
            closed_at=time.time(),
            updated_at=time.time(),
        )
        return 200, {"sha": commit, "merged": True, "message": "Pull Request successfully merged"}, {}

    @staticmethod
    def _count_commits(repo: _Repo, base_sha: str, head_sha: str) -> int:
        return int(_git(repo.git_dir, "rev-list", "--count", f"{base_sha}..{head_sha}").stdout.strip() or 0)

    @staticmethod
    def _check_pull_body(body: Mapping[str, Any]) -> None:
        text = body.get("body")
        if isinstance(text, str) and len(text) > PULL_BODY_LIMIT:
            raise _validation_failed(
                "Issue", "body", "custom", f"body is too long (maximum is {PULL_BODY_LIMIT} characters)"
            )

    def _duplicate_open_pull(
        self, repo: _Repo, head: str, base: str, number: int | None = None
    ) -> _Reply | None:
        for pr in repo.pulls.values():
            if pr["state"] == "open" and pr["head"] == head and pr["base"] == base and pr["number"] != number:
                return _Reply(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for {repo.owner}:{head}.",
                            }
                        ],
                        "documentation_url": DOCS,
                    },
                )
        return None

    def _update_pull(self, request: _Request, params: Mapping[str, str]) -> _Result:
        """PATCH a pull request: title, body, state (close / reopen), base; GitHub's REST API cannot
        change ``draft`` (GraphQL only) and ignores it, as it ignores ``maintainer_can_modify`` for a
        same-repository PR."""
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        pr = self._find_pull(repo, params["pull_number"])
        if "title" in body and not body["title"]:
            raise _validation_failed("PullRequest", "title", "missing_field")
        self._check_pull_body(body)
        changes: dict[str, Any] = {}
        if "title" in body:
            changes["title"] = body["title"]
        if "body" in body:
            changes["body"] = body["body"]
        base = body.get("base")
        if base is not None and base != pr["base"]:
            if pr["state"] != "open":
                raise _error(422, "Cannot change the base branch of a closed pull request.")
            base_sha = _resolve(repo.git_dir, f"refs/heads/{base}")
            if base_sha is None:
                raise _validation_failed("PullRequest", "base", "invalid")
            duplicate = self._duplicate_open_pull(repo, pr["head"], base, pr["number"])
            if duplicate is not None:
                raise duplicate
            head_sha = _resolve(repo.git_dir, f"refs/heads/{pr['head']}") or pr["head_sha"]
            changes.update(
                base=base, base_sha=base_sha, commits=self._count_commits(repo, base_sha, head_sha)
            )
        state = body.get("state")
        now = time.time()
        if state == "closed" and pr["state"] == "open":
            # The shas are frozen where they were: a closed PR no longer follows its branches.
            changes.update(
                state="closed",
                closed_at=now,
                head_sha=_resolve(repo.git_dir, f"refs/heads/{pr['head']}") or pr["head_sha"],
                base_sha=_resolve(repo.git_dir, f"refs/heads/{pr['base']}") or pr["base_sha"],
            )
        elif state == "open" and pr["state"] == "closed":
            if pr["merged"]:
                raise _validation_failed("PullRequest", "state", "invalid", "state cannot be changed.")
            if _resolve(repo.git_dir, f"refs/heads/{pr['head']}") is None:
                raise _validation_failed(
                    "PullRequest", "state", "invalid", "state cannot be changed. The head branch was deleted."
                )
            duplicate = self._duplicate_open_pull(repo, pr["head"], pr["base"], pr["number"])
            if duplicate is not None:
                raise duplicate
            changes.update(state="open", closed_at=None)
        if changes:
            pr.update(changes, updated_at=now)
        return 200, self._pull_json(repo, pr), {}

    def _is_collaborator(self, repo: _Repo, login: str) -> bool:
        """Explicit collaborators, and every account a sandbox token acts as (it can push)."""
        wanted = login.lower()
        return wanted in repo.collaborators or any(t.login.lower() == wanted for t in self._tokens.values())

    def _list_review_requests(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        pr = self._find_pull(repo, params["pull_number"])
        users = [self._user(login) for login in pr["requested_reviewers"]]
        teams = [self._team_json(repo, slug) for slug in pr["requested_teams"]]
        return 200, {"users": users, "teams": teams}, {}

    def _request_reviewers(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        pr = self._find_pull(repo, params["pull_number"])
        users = [str(u) for u in body.get("reviewers") or []]
        teams = [str(t) for t in body.get("team_reviewers") or []]
        if any(u.lower() == pr["user"].lower() for u in users):
            raise _error(422, "Review cannot be requested from pull request author.")
        strangers = [u for u in users if not self._is_collaborator(repo, u)]
        strangers += [t for t in teams if t.lower() not in repo.teams]
        if strangers:
            raise _error(422, NOT_COLLABORATOR_MESSAGE.format(full_name=repo.full_name))
        for login in users:
            if login.lower() not in {x.lower() for x in pr["requested_reviewers"]}:
                pr["requested_reviewers"].append(login)
        for slug in teams:
            if slug.lower() not in {x.lower() for x in pr["requested_teams"]}:
                pr["requested_teams"].append(slug.lower())
        pr["updated_at"] = time.time()
        return 201, self._pull_json(repo, pr), {}

    def _list_reviews(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        pr = self._find_pull(repo, params["pull_number"])
        page, headers = self._paginate(request, repo.reviews.get(pr["number"], []))
        return 200, copy.deepcopy(page), headers

    # branches

    def _branches(self, repo: _Repo) -> dict[str, str]:
        """Branch name -> head commit sha, sorted by name as GitHub lists them."""
        return {
            refname.removeprefix("refs/heads/"): sha
            for refname, sha, kind in sorted(self._refs(repo))
            if refname.startswith("refs/heads/") and kind == "commit"
        }

    def _commit_json(self, repo: _Repo, sha: str) -> dict[str, Any]:
        """GitHub's ``commit`` object for a commit of the bare repository (no stats or files)."""
        api = f"{self.url}/repos/{repo.full_name}"
        fields = "%x00".join(("%T", "%P", "%an", "%ae", "%at", "%cn", "%ce", "%ct", "%B"))
        out = _git(repo.git_dir, "show", "-s", f"--format={fields}", sha).stdout
        tree, parents, a_name, a_email, a_time, c_name, c_email, c_time, message = out.split("\x00", 8)
        return {
            "url": f"{api}/commits/{sha}",
            "sha": sha,
            "node_id": _node_id("Commit", int(sha[:8], 16)),
            "html_url": f"{self.url}/{repo.full_name}/commit/{sha}",
            "comments_url": f"{api}/commits/{sha}/comments",
            "commit": {
                "url": f"{api}/git/commits/{sha}",
                "author": {"name": a_name, "email": a_email, "date": _iso(float(a_time))},
                "committer": {"name": c_name, "email": c_email, "date": _iso(float(c_time))},
                "message": message.rstrip("\n"),
                "comment_count": 0,
                "tree": {"sha": tree, "url": f"{api}/git/trees/{tree}"},
                "verification": {"verified": False, "reason": "unsigned", "payload": None, "signature": None},
            },
            # GitHub accounts of the author and committer: the sandbox's commits belong to none.
            "author": None,
            "committer": None,
            "parents": [
                {
                    "sha": parent,
                    "url": f"{api}/commits/{parent}",
                    "html_url": f"{self.url}/{repo.full_name}/commit/{parent}",
                }
                for parent in parents.split()
            ],
        }

    def _list_branches(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        api = f"{self.url}/repos/{repo.full_name}"
        # No branch is protected in the sandbox: ?protected=true lists none.
        wanted = [] if request.query.get("protected") == "true" else self._branches(repo).items()
        items = [
            {"name": name, "commit": {"sha": sha, "url": f"{api}/commits/{sha}"}, "protected": False}
            for name, sha in wanted
        ]
        page, headers = self._paginate(request, items)
        return 200, page, headers

    def _get_branch(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        name = params["branch"]
        sha = self._branches(repo).get(name)
        if sha is None:
            raise _error(404, "Branch not found")
        api = f"{self.url}/repos/{repo.full_name}"
        body = {
            "name": name,
            "commit": self._commit_json(repo, sha),
            "_links": {"self": f"{api}/branches/{name}", "html": f"{self.url}/{repo.full_name}/tree/{name}"},
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
            },
            "protection_url": f"{api}/branches/{name}/protection",
        }
        return 200, body, {}

    # git refs

    def _ref_json(self, repo: _Repo, refname: str, sha: str, kind: str) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        plural = {"commit": "commits", "tag": "tags", "tree": "trees", "blob": "blobs"}.get(kind, "commits")
        return {
            "ref": refname,
            "node_id": _node_id("Ref", sum(refname.encode())),
            "url": f"{api}/git/{refname}",
            "object": {"sha": sha, "type": kind, "url": f"{api}/git/{plural}/{sha}"},
        }

    def _refs(self, repo: _Repo) -> list[tuple[str, str, str]]:
        out = _git(
            repo.git_dir, "for-each-ref", "--format=%(refname) %(objectname) %(objecttype)", "refs/"
        ).stdout
        return [tuple(line.split(" ", 2)) for line in out.splitlines() if line]  # type: ignore[misc]

    def _get_ref(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        wanted = f"refs/{params['ref']}"
        for refname, sha, kind in self._refs(repo):
            if refname == wanted:
                return 200, self._ref_json(repo, refname, sha, kind), {}
        raise _error(404, "Not Found")

    def _matching_refs(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        prefix = f"refs/{params['ref']}"
        items = [self._ref_json(repo, r, s, k) for r, s, k in self._refs(repo) if r.startswith(prefix)]
        page, headers = self._paginate(request, items)
        return 200, page, headers

    @staticmethod
    def _valid_refname(refname: str) -> bool:
        if not refname.startswith("refs/") or refname.count("/") < 2:
            return False
        proc = subprocess.run(["git", "check-ref-format", refname], capture_output=True, check=False)
        return proc.returncode == 0

    def _create_ref(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        refname, sha = str(body.get("ref", "")), str(body.get("sha", ""))
        if not self._valid_refname(refname):
            raise _error(422, f"{refname} is not a valid ref name.")
        target = _git(repo.git_dir, "rev-parse", "--verify", "--quiet", f"{sha}^{{object}}", check=False)
        if not re.fullmatch(r"[0-9a-f]{40}", sha) or target.returncode != 0:
            raise _error(422, "Object does not exist")
        proc = _git(repo.git_dir, "update-ref", refname, sha, ZERO_SHA, check=False)
        if proc.returncode != 0:
            raise _error(422, "Reference already exists")
        kind = _git(repo.git_dir, "cat-file", "-t", sha).stdout.strip()
        ref_json = self._ref_json(repo, refname, sha, kind)
        return 201, ref_json, {"Location": ref_json["url"]}

    def _update_ref(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        refname = f"refs/{params['ref']}"
        sha = str(body.get("sha", ""))
        current = {r: s for r, s, _ in self._refs(repo)}.get(refname)
        if current is None:
            raise _error(422, "Reference does not exist")
        if not re.fullmatch(r"[0-9a-f]{40}", sha) or _resolve(repo.git_dir, sha) is None:
            raise _error(422, "Object does not exist")
        if not body.get("force"):
            ancestor = _git(repo.git_dir, "merge-base", "--is-ancestor", current, sha, check=False)
            if ancestor.returncode != 0:
                raise _error(422, "Update is not a fast forward")
        proc = _git(repo.git_dir, "update-ref", refname, sha, current, check=False)
        if proc.returncode != 0:
            raise _error(422, "Reference cannot be updated")
        return 200, self._ref_json(repo, refname, sha, "commit"), {}

    def _delete_ref(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        refname = f"refs/{params['ref']}"
        current = {r: s for r, s, _ in self._refs(repo)}.get(refname)
        if current is None:
            raise _error(422, "Reference does not exist")
        _git(repo.git_dir, "update-ref", "-d", refname, current)
        return 204, None, {}

    # issues (pull requests are the sandbox's only issues)

    def _issue_number(self, repo: _Repo, params: Mapping[str, str]) -> int:
        return int(self._find_pull(repo, params["issue_number"])["number"])

    def _list_comments(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        number = self._issue_number(repo, params)
        page, headers = self._paginate(request, repo.comments.get(number, []))
        return 200, copy.deepcopy(page), headers

    def _create_comment(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        number = self._issue_number(repo, params)
        if not isinstance(body.get("body"), str) or not body["body"]:
            raise _validation_failed("IssueComment", "body", "missing_field")
        comment_id = self._next_id("comment")
        now = _iso(time.time())
        login, user_type = self._actor(request)
        api = f"{self.url}/repos/{repo.full_name}"
        comment = {
            "id": comment_id,
            "node_id": _node_id("IssueComment", comment_id),
            "url": f"{api}/issues/comments/{comment_id}",
            "html_url": f"{self.url}/{repo.full_name}/pull/{number}#issuecomment-{comment_id}",
            "body": body["body"],
            "user": self._user(login, user_type),
            "created_at": now,
            "updated_at": now,
            "issue_url": f"{api}/issues/{number}",
            "author_association": "OWNER",
        }
        repo.comments.setdefault(number, []).append(comment)
        return 201, copy.deepcopy(comment), {"Location": comment["url"]}

    def _list_labels(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        number = self._issue_number(repo, params)
        items = [self._label_json(repo, name) for name in repo.labels.get(number, [])]
        page, headers = self._paginate(request, items)
        return 200, page, headers

    def _add_labels(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        number = self._issue_number(repo, params)
        body = request.body
        raw = body.get("labels", []) if isinstance(body, dict) else body
        if isinstance(raw, str):
            raw = [raw]
        names = [item["name"] if isinstance(item, dict) else str(item) for item in (raw or [])]
        current = repo.labels.setdefault(number, [])
        for name in names:
            if name not in current:
                current.append(name)
        return 200, [self._label_json(repo, name) for name in current], {}

    # apps

    def _installation_json(self, app: _App, installation_id: int, account: str) -> dict[str, Any]:
        now = _iso(self._started_at)
        return {
            "id": installation_id,
            "account": self._user(account, "Organization"),
            "repository_selection": "selected",
            "access_tokens_url": f"{self.url}/app/installations/{installation_id}/access_tokens",
            "repositories_url": f"{self.url}/installation/repositories",
            "html_url": f"{self.url}/organizations/{account}/settings/installations/{installation_id}",
            "app_id": app.app_id,
            "app_slug": f"sandbox-app-{app.app_id}",
            "target_id": sum(account.encode()) + 1000,
            "target_type": "Organization",
            "permissions": dict(_ALL_PERMISSIONS),
            "events": [],
            "created_at": now,
            "updated_at": now,
            "single_file_name": None,
            "suspended_by": None,
            "suspended_at": None,
        }

    def _repo_installation(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        identity = request.identity
        assert repo is not None and identity is not None and identity.app is not None
        installation_id = identity.app.installations[repo.full_name.lower()]
        return 200, self._installation_json(identity.app, installation_id, repo.owner), {}

    def _access_token(self, request: _Request, params: Mapping[str, str]) -> _Result:
        identity = request.identity
        assert identity is not None and identity.app is not None
        app = identity.app
        installation_id = int(params["installation_id"]) if params["installation_id"].isdigit() else -1
        repos = sorted(name for name, i in app.installations.items() if i == installation_id)
        if not repos:
            raise _error(404, "Not Found")
        body = self._body(request)
        if body.get("repositories"):
            wanted = {f"{repos[0].split('/')[0]}/{name}".lower() for name in body["repositories"]}
            unknown = wanted - set(repos)
            if unknown:
                raise _error(
                    422,
                    f"There is at least one repository that does not exist or is not accessible "
                    f"to the parent installation: {', '.join(sorted(unknown))}",
                )
            repos = sorted(wanted)
        permissions = dict(body.get("permissions") or _ALL_PERMISSIONS)
        for name, level in permissions.items():
            granted = _ALL_PERMISSIONS.get(name)
            if granted is None or _LEVELS.get(level, 9) > _LEVELS[granted]:
                raise _error(422, f"The permissions requested are not granted to this installation: {name}")
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "B")[:36]
        expires = time.time() + 3600
        self._tokens[token] = _Token(
            permissions=permissions,
            repositories=set(repos),
            login=f"sandbox-app-{app.app_id}[bot]",
            user_type="Bot",
            expires_at=expires,
            installation_id=installation_id,
        )
        return (
            201,
            {
                "token": token,
                "expires_at": _iso(expires),
                "permissions": permissions,
                "repository_selection": "selected",
            },
            {},
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m gitops_release.sandbox.github_api [--flags]``: same as ``gitops-release sandbox``."""
    from gitops_release.cli import main as cli_main

    return cli_main(["sandbox", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["DEPLOYMENT_STATES", "GitHubSandbox", "RecordedRequest", "main"]
