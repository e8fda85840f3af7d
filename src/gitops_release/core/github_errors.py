"""GitHub error responses -> the errors.py class that says what to fix, in one line.

Pure (stdlib only, no clock): the caller passes the status, the decoded body (dict, text or
bytes), the response headers, what it was doing (``operation``, e.g. "create commit status"),
the repository and the permission the operation needs (e.g. "statuses: write").

=============================================  ==========================================================
401                                            GitHubAuthError: bad credentials
403 rate limit, 429                            RateLimitError naming when to retry
403 "Resource not accessible by ..."           GitHubAuthError naming the missing permission
other 403                                      GitHubAuthError with GitHub's reason and what to check
404                                            GitHubNotFoundError: missing or invisible to the token
422 with ``errors[]``                          GitHubValidationError naming each field and code
5xx of a retried request                       RetryExhaustedError: GitHub kept failing
5xx of a request sent once (``resent=False``)  RetryExhaustedError: not re-sent, it may have been applied
400, 409, 410, anything else                   GitHubError with GitHub's message and a fix for the status
=============================================  ==========================================================

Every error carries a ``fix``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone

from gitops_release.core.retry import header, rate_limit_kind, reset_epoch
from gitops_release.errors import (
    APIError,
    GitHubAuthError,
    GitHubError,
    GitHubNotFoundError,
    GitHubValidationError,
    RateLimitError,
    RetryExhaustedError,
)

# Limits GitHub enforces with a bare "invalid"/"custom" code; named in the fix.
FIELD_LIMITS = {
    "description": "GitHub allows 140 characters",
    "event_type": "GitHub allows 100 characters",
    "client_payload": "GitHub allows at most 10 top-level keys",
    "context": "GitHub allows 255 characters",
}

_CODES = {
    "missing": "refers to something that does not exist",
    "missing_field": "is required but missing",
    "invalid": "is invalid",
    "already_exists": "already exists",
    "unprocessable": "could not be processed",
}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def decode_body(body: object) -> object:
    """bytes/str -> parsed JSON when it parses, else the text; other values unchanged."""
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            return json.loads(body) if body.strip() else {}
        except ValueError:
            return body
    return body


def github_message(body: object) -> str:
    """GitHub's ``message`` (or the text body, shortened), one line."""
    data = decode_body(body)
    if isinstance(data, Mapping):
        message = data.get("message")
        return _one_line(str(message)) if message else ""
    if isinstance(data, str):
        text = _one_line(data)
        return text if len(text) <= 200 else text[:197] + "..."
    return ""


def _field_problem(item: object) -> tuple[str, str]:
    """(field name or '', 'field 'x' is invalid (reason)') for one entry of ``errors[]``."""
    if not isinstance(item, Mapping):
        return "", _one_line(str(item))
    field = str(item.get("field") or "")
    resource = str(item.get("resource") or "")
    code = str(item.get("code") or "")
    detail = _one_line(str(item.get("message") or ""))
    subject = f"field '{field}'" if field else (resource or "request")
    if resource and field:
        subject = f"{resource} field '{field}'"
    if code == "custom" or (not code and detail):
        text = f"{subject}: {detail}" if detail else f"{subject} is invalid"
    else:
        text = f"{subject} {_CODES.get(code, code.replace('_', ' ') or 'is invalid')}"
        if detail:
            text += f" ({detail})"
    return field, text


def _when(headers: Mapping[str, object]) -> str:
    retry_after = header(headers, "retry-after")
    if retry_after is not None:
        return f"GitHub asked to retry after {retry_after} s"
    reset = reset_epoch(headers)
    if reset is not None:
        stamp = datetime.fromtimestamp(reset, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"the limit resets at {stamp}"
    return "GitHub did not say when; wait a few minutes"


def _permission_fix(permission: str | None, repository: str | None) -> str:
    on = f" on {repository}" if repository else ""
    if not permission:
        return f"give the token (or GitHub App installation) access{on}"
    # The workflow key is pull-requests (hyphen); GitHub Apps and the API spell it pull_requests.
    name, _, level = permission.partition(":")
    workflow = f"{name.strip().replace('_', '-')}:{level}" if level else permission
    return (
        f"give the token '{permission}'{on}: in the workflow add 'permissions: {{{workflow}}}', "
        "or grant it to the GitHub App / fine-grained token"
    )


def github_error(
    status: int,
    body: object,
    headers: Mapping[str, object] | None,
    *,
    operation: str,
    repository: str | None = None,
    permission: str | None = None,
    resent: bool = True,
) -> APIError:
    """The ReleaseError for a GitHub error response (a GitHubError, or RetryExhaustedError for 5xx).

    ``resent`` is False when the request was sent once and deliberately not re-sent (a POST or
    PATCH on a 5xx): GitHub may have applied it, and the message says so.
    """
    headers = headers or {}
    data = decode_body(body)
    message = github_message(data)
    doing = operation or "GitHub request"
    where = f" on {repository}" if repository else ""
    said = f" ({status} {message})" if message else f" ({status})"

    kind = rate_limit_kind(status, headers, message if isinstance(data, Mapping) else str(data))
    if kind is not None:
        limit = "secondary rate limit" if kind in ("secondary", "retry-after") else "rate limit"
        return RateLimitError(
            f"{doing}: GitHub {limit} hit{where}; {_when(headers)}{said}",
            status=status,
            fix="re-run the job after that time, or spread the calls out (fewer parallel jobs)",
        )
    if status == 401:
        return GitHubAuthError(
            f"{doing}: GitHub rejected the credentials{said}",
            status=status,
            fix="check that the token (or App private key) is valid, not expired and for this GitHub host "
            "(GHES: set api-url)",
        )
    if status == 403:
        lowered = message.lower()
        if "not accessible by" in lowered or permission:
            need = f" the '{permission}' permission" if permission else " a permission"
            return GitHubAuthError(
                f"{doing}: the token lacks{need}{where}{said}",
                status=status,
                fix=_permission_fix(permission, repository),
            )
        target = repository or "the repository"
        return GitHubAuthError(
            f"{doing}: GitHub refused the request{where}{said}",
            status=status,
            fix=f"check that the token (or GitHub App) may do this on {target}: its permissions, the "
            "organization's token policy (SSO authorization, fine-grained token approval), and that the "
            "repository is not archived",
        )
    if status == 404:
        if repository:
            text = f"{doing}: repository {repository} not found or the token cannot see it{said}"
        else:
            text = f"{doing}: not found or the token cannot see it{said}"
        target = repository or "the repository"
        fix = (
            f"check the name; give the token {permission} on {target}"
            if permission
            else (f"check the name and that the token (or GitHub App installation) can access {target}")
        )
        return GitHubNotFoundError(text, status=status, fix=fix)
    if status == 422:
        errors = data.get("errors") if isinstance(data, Mapping) else None
        problems = [_field_problem(item) for item in errors] if isinstance(errors, list) else []
        if problems:
            fields = [field for field, _ in problems if field]
            details = "; ".join(text for _, text in problems)
            hints = [FIELD_LIMITS[f] for f in dict.fromkeys(fields) if f in FIELD_LIMITS]
            fix = "correct " + (", ".join(f"'{f}'" for f in dict.fromkeys(fields)) or "the request")
            if hints:
                fix += f" ({'; '.join(hints)})"
            if any(isinstance(i, Mapping) and i.get("code") == "already_exists" for i in errors or []):
                fix = "use another value or update the existing object instead of creating it again"
            return GitHubValidationError(
                f"{doing}: GitHub refused{where}: {details} (422 {message or 'Validation Failed'})",
                status=status,
                fix=fix,
            )
        return GitHubValidationError(
            f"{doing}: GitHub refused the request{where}{said}",
            status=status,
            fix="check the values sent against GitHub's documentation",
        )
    if status >= 500:
        detail = f" ({message})" if message else ""
        if not resent:
            return RetryExhaustedError(
                f"{doing}: GitHub answered {status}{where}{detail}; the request was sent once, not re-sent "
                "(it may have been applied)",
                status=status,
                fix="check on GitHub whether it was applied before re-running the job; GitHub may be "
                "degraded (https://www.githubstatus.com)",
            )
        return RetryExhaustedError(
            f"{doing}: GitHub kept answering {status}{where}{detail}",
            status=status,
            fix="GitHub may be degraded (https://www.githubstatus.com); re-run the job later",
        )
    return GitHubError(
        f"{doing}: GitHub answered {status}{where}{said}", status=status, fix=_other_fix(status)
    )


def _other_fix(status: int) -> str:
    """What to do about a status none of the branches above names (400, 409, 410, other 4xx, 3xx)."""
    if status == 400:
        return (
            "GitHub could not parse the request: check the values passed (valid JSON, UTF-8); if the "
            "inputs look right, report it as a gitops-release bug with this line"
        )
    if status == 409:
        return (
            "the repository changed meanwhile or is in a state that refuses this (a moved branch, an empty "
            "repository, failing required status checks): resolve that, then re-run the job"
        )
    if status == 410:
        return (
            "the object is gone or the feature is disabled on the repository (e.g. issues turned off): "
            "enable it or point the input at an object that exists"
        )
    return (
        f"look up status {status} for this endpoint in GitHub's REST documentation "
        "(https://docs.github.com/rest); re-run the job if it was transient"
    )
