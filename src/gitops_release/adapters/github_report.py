"""report-status's GitHub writes: commit statuses, deployments and their statuses, one PR comment.

Every function takes a PyGithub client from ``github.github_client`` (lazy, no write throttle,
the project's retry policy) and ``repository`` "owner/name", and sends its requests itself with
``gh.requester.requestJsonAndCheck`` so each operation costs exactly what it says:

=============================  ========================================================================
post_commit_status             1 request: POST /statuses/{sha}
ensure_deployment              1 request to reuse (GET /deployments?sha=&environment=&task=), 2 to create
                               (+ POST /deployments)
post_deployment_status         1 request: POST /deployments/{id}/statuses
deactivate_environment         GET /deployments?environment= (+ pages), per deployment GET its newest
                               status, POST inactive for each one that is not inactive yet
upsert_marked_comment          GET /issues/{n}/comments (+ pages), then nothing, one PATCH or one POST;
                               the first time in a process also GET /user (token) or GET /app (App)
=============================  ========================================================================

Writes answered 5xx or not at all (GitHub may have applied them) are looked for first (the
deployment of this sha and environment, the newest status of this context, the marked comment)
and what was found is returned. When the write is not there:

* creating a deployment or a comment is never sent again (``create_once``: a second deployment
  or comment is harmful); the error says so;
* a commit status, a deployment status and a comment edit are sent again within the client's
  retry policy and shared budget (``repeat_until_applied``): a second copy is harmless (the newest
  status of a context / deployment wins), and one 502 must never leave a status pending.

Rate limits are waited out and 5xx answers to reads retried by the client's ``PolicyRetry``.

Long lists: comments and deployments are read page by page following GitHub's ``Link: rel="next"``,
only while it stays on the API base URL (same scheme, host and path prefix; anything else is a
one-line GitHubError and nothing, no token, is sent there). At most MAX_PAGES pages (3000 items)
are read: a longer list is an error naming what was not searched, never an answer from part of it
(that could post a second comment).

GitHub's refusals are explained in one line naming the input to change: 403 names the permission
(statuses: write, deployments: write, pull-requests: write) with the ``permissions:`` block to
add; 422 names the field (sha, ref, description, ...); 404 the repository, sha, deployment or pull
request; 409 on a deployment names the required status checks that are not successful and the
``required-contexts`` input.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import github
from github import GithubException

from gitops_release.adapters.github import acting_login, call, create_once, repeat_until_applied
from gitops_release.adapters.http import next_link
from gitops_release.core.github_errors import decode_body, github_message
from gitops_release.errors import (
    APIError,
    GitHubError,
    GitHubNotFoundError,
    GitHubValidationError,
    InputError,
)
from gitops_release.runtime import redact

STATUSES_WRITE = "statuses: write"
DEPLOYMENTS_WRITE = "deployments: write"
PULL_REQUESTS_WRITE = "pull-requests: write"

COMMENT_LIMIT = 65536  # GitHub refuses longer issue comment bodies (422)
MAX_PAGES = 30  # 3000 comments / deployments: a bound, not a GitHub limit (see "Long lists")

CommentState = Literal["created", "updated", "not-updated"]

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostedStatus:
    """A commit status GitHub holds (``url``: its API URL)."""

    id: int
    state: str
    context: str
    url: str


@dataclass(frozen=True)
class DeploymentRef:
    """The deployment of ``sha`` to ``environment``; ``created`` False when an existing one was reused.

    ``latest_state`` is not read (None) when the deployment was found or created: reading it would
    cost one more request per report.
    """

    id: int
    sha: str
    environment: str
    created: bool
    latest_state: str | None = None


@dataclass(frozen=True)
class PostedDeploymentStatus:
    id: int
    state: str
    deployment_id: int
    environment_url: str
    log_url: str


# -- helpers -------------------------------------------------------------------------------------


def _repo_path(repository: str) -> str:
    if not _REPOSITORY.match(repository or ""):
        raise InputError("repository", f"'{repository}' is not owner/name", fix="use e.g. org/config-repo")
    return f"/repos/{repository}"


def _request(
    gh: github.Github,
    verb: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
) -> tuple[dict[str, Any], Any]:
    """One request as sent; ``url`` is an API path ("/repos/...", the GHES prefix is added) or a next link."""
    try:
        return gh.requester.requestJsonAndCheck(
            verb, url, parameters=dict(params) if params else None, input=body
        )
    except ValueError as exc:
        # PyGithub reads X-RateLimit-* as numbers and raises ValueError when they are not (a proxy,
        # or a recording that redacted them): one clear line instead of a traceback.
        raise APIError(
            f"{verb} {url.split('?', 1)[0]}: GitHub's answer could not be read ({exc})",
            fix="check that api-url (GITHUB_API_URL) points at a GitHub API (https://api.github.com or "
            "https://HOST/api/v3), not at a proxy or web page",
        ) from None


def _pages(gh: github.Github, url: str, params: Mapping[str, Any], *, what: str) -> Iterator[Any]:
    """Every item of a paginated list (Link rel="next"), at most MAX_PAGES pages of ``what``.

    A next page elsewhere than the API (another scheme, host or path prefix) is refused before any
    request is sent to it (the token goes only to the API). A list longer than MAX_PAGES pages
    raises rather than answering from part of it (see the module docstring).
    """
    next_url: str | None = url
    query: Mapping[str, Any] | None = params
    for _ in range(MAX_PAGES):
        if next_url is None:
            return
        headers, data = _request(gh, "GET", next_url, params=query)
        if not isinstance(data, list):
            raise _not_github(f"GET {url}", "a list")
        yield from data
        next_url, query = next_link(headers), None
        if next_url is not None:
            _check_next_page(gh, next_url, what)
    if next_url is not None:
        raise GitHubError(
            f"list the {what}: GitHub has more than {MAX_PAGES} pages of them; the ones after the first "
            f"{MAX_PAGES} pages were not searched",
            fix="this bound keeps a report from reading without end; tidy the list up (older comments / "
            "deployments) or report to a new pull request or environment",
        )


def _check_next_page(gh: github.Github, next_url: str, what: str) -> None:
    """GitHub's next-page links stay on the API base URL; anything else is not followed."""
    base = urllib.parse.urlsplit(gh.requester.base_url)
    page = urllib.parse.urlsplit(next_url)
    prefix = base.path.rstrip("/") + "/"
    same = (
        page.scheme.lower() == base.scheme.lower()
        and page.netloc.lower() == base.netloc.lower()
        and page.path.startswith(prefix)
    )
    if not same:
        where = f"{page.scheme}://{page.netloc}" if page.netloc else next_url.split("?", 1)[0][:100]
        raise GitHubError(
            redact(
                f"list the {what}: GitHub's next page points at {where}, not at the API "
                f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}; not followed (the token goes only "
                "to the API)"
            ),
            fix="check api-url (GITHUB_API_URL) and any proxy in front of it: GitHub's own Link headers "
            "stay on the API host",
        )


def _not_github(what: str, expected: str) -> APIError:
    return APIError(
        f"{what}: GitHub's answer is not {expected}",
        fix="check that api-url (GITHUB_API_URL) points at a GitHub API (https://api.github.com or "
        "https://HOST/api/v3), not at a proxy or web page",
    )


def _object(data: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), int):
        raise _not_github(what, "an object with an id")
    return data


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _posted_status(data: Any, what: str) -> PostedStatus:
    item = _object(data, what)
    return PostedStatus(
        id=int(item["id"]),
        state=_text(item, "state"),
        context=_text(item, "context") or "default",  # GitHub's name for a status without one (before 2014)
        url=_text(item, "url"),
    )


def _deployment_ref(data: Any, what: str, *, created: bool) -> DeploymentRef:
    item = _object(data, what)
    return DeploymentRef(
        id=int(item["id"]), sha=_text(item, "sha"), environment=_text(item, "environment"), created=created
    )


def _posted_deployment_status(data: Any, what: str, deployment_id: int) -> PostedDeploymentStatus:
    item = _object(data, what)
    return PostedDeploymentStatus(
        id=int(item["id"]),
        state=_text(item, "state"),
        deployment_id=deployment_id,
        environment_url=_text(item, "environment_url"),
        log_url=_text(item, "log_url") or _text(item, "target_url"),
    )


def _said(exc: GithubException) -> str:
    message = github_message(exc.data)
    return f" ({exc.status} {message})" if message else f" ({exc.status})"


# -- commit status -------------------------------------------------------------------------------


def post_commit_status(
    gh: github.Github,
    repository: str,
    *,
    sha: str,
    state: str,
    context: str,
    description: str | None,
    target_url: str | None,
) -> PostedStatus:
    """POST /repos/{o}/{r}/statuses/{sha} (1 request).

    ``description`` is sent as given (the command cuts it to 140 characters); empty values are
    left out. After a 5xx or a lost answer the statuses of ``sha`` are read (newest first) and the
    newest status of ``context`` is returned when it is this one (same state, description and
    target URL): the commit then shows what was asked, whoever wrote it. When it is not, the POST
    is sent again within the client's retry policy and budget (``repeat_until_applied``: a second
    status is harmless, the newest wins), so one 502 never leaves the commit pending.
    """
    base = _repo_path(repository)
    sha = (sha or "").strip()
    if not sha:
        raise InputError("sha", "is empty", fix="pass the commit sha, e.g. ${{ github.sha }}")
    body: dict[str, Any] = {"state": state, "context": context}
    if description:
        body["description"] = description
    if target_url:
        body["target_url"] = target_url
    operation = f"create commit status '{context}' ({state}) on {sha[:12]}"
    quoted = urllib.parse.quote(sha, safe="")

    def create() -> PostedStatus:
        try:
            _, data = _request(gh, "POST", f"{base}/statuses/{quoted}", body=body)
        except GithubException as exc:
            raise _status_error(exc, operation, repository, sha) or exc from None
        return _posted_status(data, operation)

    def find() -> PostedStatus | None:
        _, data = _request(gh, "GET", f"{base}/commits/{quoted}/statuses", params={"per_page": 100})
        for item in data if isinstance(data, list) else []:
            # statuses from before contexts existed have none: GitHub shows them as "default"
            if isinstance(item, Mapping) and (_text(item, "context") or "default").lower() == context.lower():
                same = (
                    _text(item, "state") == state
                    and _text(item, "description") == (description or "")
                    and _text(item, "target_url") == (target_url or "")
                )
                return _posted_status(item, operation) if same else None
        return None

    return repeat_until_applied(
        gh, find, create, operation=operation, repository=repository, permission=STATUSES_WRITE
    )


def _status_error(exc: GithubException, operation: str, repository: str, sha: str) -> APIError | None:
    """GitHub's 422 'No commit found for SHA' and 404, in the words of the sha / repository inputs."""
    message = github_message(exc.data)
    if exc.status == 422 and "no commit found" in message.lower():
        return GitHubValidationError(
            f"{operation}: input 'sha': {sha} is not a commit of {repository}{_said(exc)}",
            status=422,
            fix="pass the full sha of a commit pushed to the repository (on pull_request events the head "
            "sha: github.event.pull_request.head.sha)",
        )
    if exc.status == 404:
        return GitHubNotFoundError(
            f"{operation}: repository {repository} not found or the token cannot see it{_said(exc)}",
            status=404,
            fix=f"check the repository input; give the token {STATUSES_WRITE} on {repository} (a GitHub App: "
            "install it on the repository)",
        )
    return None


# -- deployments ---------------------------------------------------------------------------------


def ensure_deployment(
    gh: github.Github,
    repository: str,
    *,
    sha: str,
    environment: str,
    ref: str | None = None,
    description: str | None = None,
    auto_merge: bool = False,
    required_contexts: Sequence[str] = (),
    transient_environment: bool = False,
    production_environment: bool | None = None,
    payload: Mapping[str, Any] | str | None = None,
    task: str = "deploy",
) -> DeploymentRef:
    """The deployment of ``sha`` to ``environment``: the newest existing one, else a new one.

    GET /deployments?sha=&environment=&task= (1 request) finds one to reuse. Otherwise POST
    /deployments (2 requests) with ``required_contexts`` as given (empty by default: GitHub's own
    default checks EVERY status context of the commit and answers 409 while any is not success)
    and ``auto_merge`` false by default (GitHub's default merges the default branch into ref).
    After a 5xx or a lost answer to the POST the same list is read and the deployment found is
    returned: never a second deployment for one sha and environment.
    """
    base = _repo_path(repository)
    sha, environment = (sha or "").strip(), (environment or "").strip()
    if not sha:
        raise InputError("sha", "is empty", fix="pass the commit sha, e.g. ${{ github.sha }}")
    if not environment:
        raise InputError("environment", "is empty", fix="name the environment, e.g. staging")
    query = {"sha": sha, "environment": environment, "task": task, "per_page": 1}
    operation = f"create deployment of {sha[:12]} to {environment}"

    def newest() -> DeploymentRef | None:
        _, data = _request(gh, "GET", f"{base}/deployments", params=query)
        if not isinstance(data, list):
            raise _not_github(f"list deployments of {sha[:12]} to {environment}", "a list")
        return _deployment_ref(data[0], operation, created=True) if data else None

    existing = call(
        f"list deployments of {sha[:12]} to {environment}",
        newest,
        repository=repository,
        permission=DEPLOYMENTS_WRITE,
    )
    if existing is not None:
        return DeploymentRef(existing.id, existing.sha, existing.environment, created=False)

    body: dict[str, Any] = {
        "ref": (ref or "").strip() or sha,
        "environment": environment,
        "task": task,
        "auto_merge": bool(auto_merge),
        "required_contexts": list(required_contexts),
        "transient_environment": bool(transient_environment),
    }
    if description:
        body["description"] = description
    if production_environment is not None:
        body["production_environment"] = bool(production_environment)
    if payload is not None:
        body["payload"] = payload

    def create() -> DeploymentRef:
        try:
            _, data = _request(gh, "POST", f"{base}/deployments", body=body)
        except GithubException as exc:
            raise _deployment_error(exc, operation, repository, body) or exc from None
        return _deployment_ref(data, operation, created=True)

    return create_once(
        newest, create, operation=operation, repository=repository, permission=DEPLOYMENTS_WRITE
    )


def _deployment_error(
    exc: GithubException, operation: str, repository: str, body: Mapping[str, Any]
) -> APIError | None:
    """409 (required status checks, auto-merge) and 422 'No ref found' in the words of the inputs."""
    data = decode_body(exc.data)
    message = github_message(data)
    ref = str(body.get("ref"))
    if exc.status == 409:
        if message.lower().startswith("conflict merging"):
            return GitHubError(
                f"{operation}: GitHub could not merge the default branch into {ref} (auto-merge){_said(exc)}",
                status=409,
                fix="set auto-merge: false (the default), or merge the default branch into the ref first",
            )
        asked = ", ".join(body.get("required_contexts") or ()) or "none"
        contexts = _conflict_contexts(data)
        failing = [f"{name} ({state})" for name, state in contexts if state != "success"]
        which = ", ".join(failing) if failing else "(GitHub did not list them)"
        return GitHubError(
            f"{operation}: GitHub refused it because required status checks are not successful: {which}; "
            f"input 'required-contexts' is {asked}{_said(exc)}",
            status=409,
            fix="deploy after those checks pass, or set required-contexts to only the contexts that must "
            "pass first (empty: none)",
        )
    if exc.status == 422 and "no ref found" in message.lower():
        return GitHubValidationError(
            f"{operation}: input 'ref': {ref} is not a branch, tag or commit of {repository}{_said(exc)}",
            status=422,
            fix="pass the sha (or a branch / tag) pushed to the repository; ref defaults to the sha",
        )
    return None


def _conflict_contexts(data: object) -> list[tuple[str, str]]:
    """[(context, state)] from a 409's errors[].contexts (GitHub lists the required ones)."""
    found: list[tuple[str, str]] = []
    errors = data.get("errors") if isinstance(data, Mapping) else None
    for error in errors if isinstance(errors, list) else []:
        contexts = error.get("contexts") if isinstance(error, Mapping) else None
        for item in contexts if isinstance(contexts, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("context"), str):
                found.append((str(item["context"]), str(item.get("state") or "missing")))
    return found


def post_deployment_status(
    gh: github.Github,
    repository: str,
    deployment_id: int,
    *,
    state: str,
    description: str | None = None,
    environment_url: str | None = None,
    log_url: str | None = None,
    environment: str | None = None,
    auto_inactive: bool = True,
) -> PostedDeploymentStatus:
    """POST /deployments/{id}/statuses (1 request), with ``log_url`` (not the deprecated target_url).

    After a 5xx or a lost answer the deployment's newest status is read and returned when it is this
    one (same state, description and URLs); when it is not, the POST is sent again within the
    client's retry policy and budget (``repeat_until_applied``), as for a commit status.
    """
    base = _repo_path(repository)
    if not isinstance(deployment_id, int) or isinstance(deployment_id, bool) or deployment_id <= 0:
        raise InputError(
            "deployment-id", f"'{deployment_id}' is not a deployment id", fix="pass the deployment-id output"
        )
    body: dict[str, Any] = {"state": state, "auto_inactive": bool(auto_inactive)}
    if description:
        body["description"] = description
    if environment_url:
        body["environment_url"] = environment_url
    if log_url:
        body["log_url"] = log_url
    if environment:
        body["environment"] = environment
    operation = f"create deployment status {state} of deployment {deployment_id}"
    url = f"{base}/deployments/{deployment_id}/statuses"

    def create() -> PostedDeploymentStatus:
        try:
            _, data = _request(gh, "POST", url, body=body)
        except GithubException as exc:
            if exc.status == 404:
                raise _deployment_missing(exc, operation, repository, deployment_id) from None
            raise
        return _posted_deployment_status(data, operation, deployment_id)

    def find() -> PostedDeploymentStatus | None:
        _, data = _request(gh, "GET", url, params={"per_page": 1})
        item = data[0] if isinstance(data, list) and data else None
        if not isinstance(item, Mapping):
            return None
        same = (
            _text(item, "state") == state
            and _text(item, "description") == (description or "")
            and _text(item, "environment_url") == (environment_url or "")
            and (_text(item, "log_url") or _text(item, "target_url")) == (log_url or "")
        )
        return _posted_deployment_status(item, operation, deployment_id) if same else None

    return repeat_until_applied(
        gh, find, create, operation=operation, repository=repository, permission=DEPLOYMENTS_WRITE
    )


def _deployment_missing(
    exc: GithubException, operation: str, repository: str, deployment_id: int
) -> GitHubNotFoundError:
    return GitHubNotFoundError(
        f"{operation}: input 'deployment-id': deployment {deployment_id} not found in {repository}, or the "
        f"token cannot see the repository{_said(exc)}",
        status=404,
        fix="pass the deployment-id output of the step that created it (same repository), and give the token "
        f"{DEPLOYMENTS_WRITE}",
    )


def deactivate_environment(
    gh: github.Github, repository: str, environment: str, *, description: str | None = None
) -> tuple[int, ...]:
    """Mark every deployment of ``environment`` whose newest status is not inactive as inactive.

    For a preview environment when its pull request closes. Returns the deployment ids changed
    (empty: nothing was active, nothing written). Never creates a deployment.
    """
    base = _repo_path(repository)
    environment = (environment or "").strip()
    if not environment:
        raise InputError("environment", "is empty", fix="name the environment, e.g. preview/pr-12")

    def active() -> list[int]:
        ids: list[int] = []
        pages = _pages(
            gh,
            f"{base}/deployments",
            {"environment": environment, "per_page": 100},
            what=f"deployments of {environment}",
        )
        for item in pages:
            deployment = _object(item, f"list deployments of {environment}")
            deployment_id = int(deployment["id"])
            _, statuses = _request(
                gh, "GET", f"{base}/deployments/{deployment_id}/statuses", params={"per_page": 1}
            )
            newest = statuses[0] if isinstance(statuses, list) and statuses else None
            if not isinstance(newest, Mapping) or newest.get("state") != "inactive":
                ids.append(deployment_id)
        return ids

    ids = call(
        f"list the active deployments of {environment}",
        active,
        repository=repository,
        permission=DEPLOYMENTS_WRITE,
    )
    for deployment_id in ids:
        post_deployment_status(
            gh, repository, deployment_id, state="inactive", description=description, auto_inactive=False
        )
    return tuple(ids)


# -- the pull request comment ---------------------------------------------------------------------


def _written_by(comment: Mapping[str, Any], login: str) -> bool:
    """Whether ``login`` wrote ``comment`` (GitHub logins are case-insensitive)."""
    user = comment.get("user")
    author = user.get("login") if isinstance(user, Mapping) else None
    return isinstance(author, str) and author.lower() == login.lower()


def _same_text(ours: str, theirs: str) -> bool:
    """Equal as GitHub shows them: line endings (the web editor saves CRLF) and trailing space aside."""
    return ours.replace("\r\n", "\n").rstrip() == theirs.replace("\r\n", "\n").rstrip()


def upsert_marked_comment(
    gh: github.Github,
    repository: str,
    number: int,
    *,
    marker_matches: Callable[[str], bool],
    body: str,
    author: str | None = None,
) -> tuple[int, CommentState]:
    """One comment per marker on issue / pull request ``number``: created, updated in place, or left.

    Ours is the oldest comment whose body ``marker_matches`` and that OUR account wrote: ``author``
    when given, else ``acting_login(gh)`` (a GitHub App: ``<app-slug>[bot]`` from GET /app; a
    token: GET /user's login, or ``github-actions[bot]`` when the token cannot read it; one request,
    once per process). A marked comment by anyone else (another App or bot, a member quoting it, a
    drive-by commenter) is never edited, and does not stop ours from being created.

    GET /issues/{n}/comments (all pages): ours with a different body: PATCH /issues/comments/{id}
    ("updated"); equal: nothing sent ("not-updated"); none: POST ("created"). A 5xx or lost answer
    to the POST reads the comments again instead of posting twice (``create_once``); the PATCH is
    looked for, then sent again when it was not applied (``repeat_until_applied``). Returns
    (comment id, state).
    """
    base = _repo_path(repository)
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        raise InputError("pull-request", f"'{number}' is not a pull request number", fix="pass e.g. 12")
    if not body.strip():
        raise InputError("comment", "the comment body is empty", fix="report a state or results")
    if len(body) > COMMENT_LIMIT:
        raise InputError(
            "results",
            f"the comment is {len(body)} characters; GitHub allows {COMMENT_LIMIT}",
            fix="report fewer result rows, or shorter details",
        )
    listing = f"{base}/issues/{number}/comments"
    login = (author or "").strip() or acting_login(gh)

    def ours() -> Mapping[str, Any] | None:
        for item in _pages(gh, listing, {"per_page": 100}, what=f"comments of #{number}"):
            if isinstance(item, Mapping) and _written_by(item, login) and marker_matches(_text(item, "body")):
                return _object(item, f"list the comments of #{number}")
        return None

    def read() -> Mapping[str, Any] | None:
        try:
            return ours()
        except GithubException as exc:
            if exc.status == 404:
                raise GitHubNotFoundError(
                    f"read the comments of #{number}: pull request #{number} not found in {repository}, or "
                    f"the token cannot see the repository{_said(exc)}",
                    status=404,
                    fix="check the pull-request input and the repository; give the token "
                    f"{PULL_REQUESTS_WRITE}",
                ) from None
            raise

    found = call(
        f"read the comments of #{number}", read, repository=repository, permission=PULL_REQUESTS_WRITE
    )
    if found is not None:
        comment_id = int(found["id"])
        if _same_text(body, _text(found, "body")):
            return comment_id, "not-updated"
        url = f"{base}/issues/comments/{comment_id}"

        def patch() -> tuple[int, CommentState]:
            _, data = _request(gh, "PATCH", url, body={"body": body})
            return int(_object(data, f"update comment {comment_id}")["id"]), "updated"

        def patched() -> tuple[int, CommentState] | None:
            _, data = _request(gh, "GET", url)
            return (comment_id, "updated") if _same_text(body, _text(_object(data, url), "body")) else None

        return repeat_until_applied(
            gh,
            patched,
            patch,
            operation=f"update comment {comment_id} on #{number}",
            repository=repository,
            permission=PULL_REQUESTS_WRITE,
        )

    def post() -> tuple[int, CommentState]:
        _, data = _request(gh, "POST", listing, body={"body": body})
        return int(_object(data, f"comment on #{number}")["id"]), "created"

    def posted() -> tuple[int, CommentState] | None:
        item = ours()
        return (int(item["id"]), "created") if item is not None else None

    return create_once(
        posted, post, operation=f"comment on #{number}", repository=repository, permission=PULL_REQUESTS_WRITE
    )


__all__ = [
    "COMMENT_LIMIT",
    "DEPLOYMENTS_WRITE",
    "PULL_REQUESTS_WRITE",
    "STATUSES_WRITE",
    "CommentState",
    "DeploymentRef",
    "PostedDeploymentStatus",
    "PostedStatus",
    "deactivate_environment",
    "ensure_deployment",
    "post_commit_status",
    "post_deployment_status",
    "upsert_marked_comment",
]
