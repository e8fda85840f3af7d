"""The GitHub sandbox's records, replies and route machinery (no HTTP, no git)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DOCS = "https://docs.github.com/rest"

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

#: GitHub's limit on an issue or pull request body (longer: 422 naming the field).
PULL_BODY_LIMIT = 65536

NOT_COLLABORATOR_MESSAGE = (
    "Reviews may only be requested from collaborators. One or more of the users or teams you specified "
    "is not a collaborator of the {full_name} repository."
)

#: GitHub's ``author_association`` values (how a comment's author relates to the repository).
AUTHOR_ASSOCIATIONS = (
    "COLLABORATOR",
    "CONTRIBUTOR",
    "FIRST_TIMER",
    "FIRST_TIME_CONTRIBUTOR",
    "MANNEQUIN",
    "MEMBER",
    "NONE",
    "OWNER",
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


# -- records ---


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
    #: The ``author_association`` of what the token writes; None: from the login (see add_token).
    association: str | None = None


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

_D = "https://docs.github.com/rest"

#: GitHub's ``documentation_url`` for an operation's errors (method, path template); others: DOCS.
OPERATION_DOCS: dict[tuple[str, str], str] = {
    ("POST", f"{_R}/statuses/{{sha}}"): f"{_D}/commits/statuses#create-a-commit-status",
    (
        "GET",
        f"{_R}/commits/{{ref}}/status",
    ): f"{_D}/commits/statuses#get-the-combined-status-for-a-specific-reference",
    ("GET", f"{_R}/commits/{{ref}}/statuses"): f"{_D}/commits/statuses#list-commit-statuses-for-a-reference",
    ("GET", f"{_R}/deployments"): f"{_D}/deployments/deployments#list-deployments",
    ("POST", f"{_R}/deployments"): f"{_D}/deployments/deployments#create-a-deployment",
    ("GET", f"{_R}/deployments/{{deployment_id}}"): f"{_D}/deployments/deployments#get-a-deployment",
    (
        "GET",
        f"{_R}/deployments/{{deployment_id}}/statuses",
    ): f"{_D}/deployments/statuses#list-deployment-statuses",
    (
        "POST",
        f"{_R}/deployments/{{deployment_id}}/statuses",
    ): f"{_D}/deployments/statuses#create-a-deployment-status",
    ("GET", f"{_R}/issues/{{issue_number}}/comments"): f"{_D}/issues/comments#list-issue-comments",
    ("POST", f"{_R}/issues/{{issue_number}}/comments"): f"{_D}/issues/comments#create-an-issue-comment",
    ("GET", f"{_R}/issues/comments/{{comment_id}}"): f"{_D}/issues/comments#get-an-issue-comment",
    ("PATCH", f"{_R}/issues/comments/{{comment_id}}"): f"{_D}/issues/comments#update-an-issue-comment",
    ("POST", f"{_R}/dispatches"): f"{_D}/repos/repos#create-a-repository-dispatch-event",
    ("GET", f"{_R}/pulls"): f"{_D}/pulls/pulls#list-pull-requests",
    ("POST", f"{_R}/pulls"): f"{_D}/pulls/pulls#create-a-pull-request",
    ("GET", "/user"): f"{_D}/users/users#get-the-authenticated-user",
    ("GET", "/app"): f"{_D}/apps/apps#get-the-authenticated-app",
}

NOT_ACCESSIBLE_MESSAGE = "Resource not accessible by integration"


def _not_accessible(method: str, template: str) -> _Reply:
    """GitHub's 403 for a token without the permission: ``status`` as a string, as GitHub sends it
    today, and the operation's own documentation page."""
    return _Reply(
        403,
        {
            "message": NOT_ACCESSIBLE_MESSAGE,
            "documentation_url": OPERATION_DOCS.get((method, template), DOCS),
            "status": "403",
        },
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
