from __future__ import annotations

import pytest

from gitops_release.core.github_errors import decode_body, github_error, github_message
from gitops_release.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubNotFoundError,
    GitHubValidationError,
    RateLimitError,
    RetryExhaustedError,
)


def one_line(error: Exception) -> str:
    text = str(error)
    assert "\n" not in text
    return text


def test_422_names_the_field_code_and_limit() -> None:
    body = {
        "message": "Validation Failed",
        "errors": [
            {
                "resource": "Status",
                "field": "description",
                "code": "custom",
                "message": "description is too long",
            }
        ],
    }
    error = github_error(422, body, {}, operation="create commit status", repository="org/app")
    assert isinstance(error, GitHubValidationError)
    assert error.status == 422
    text = one_line(error)
    assert "field 'description'" in text
    assert "too long" in text
    assert "140 characters" in text
    assert "org/app" in text


def test_422_several_fields_and_string_errors() -> None:
    body = {
        "message": "Validation Failed",
        "errors": [
            {"resource": "Deployment", "field": "ref", "code": "missing_field"},
            {"resource": "Deployment", "field": "environment", "code": "invalid", "message": "bad name"},
            "No commit found for SHA: abc",
        ],
    }
    text = one_line(github_error(422, body, {}, operation="create deployment"))
    assert "Deployment field 'ref' is required but missing" in text
    assert "Deployment field 'environment' is invalid (bad name)" in text
    assert "No commit found for SHA: abc" in text
    assert "'ref', 'environment'" in text


def test_422_without_errors_list_keeps_githubs_message() -> None:
    error = github_error(422, {"message": "Reference already exists"}, {}, operation="create ref")
    assert isinstance(error, GitHubValidationError)
    assert "Reference already exists" in one_line(error)


def test_404_names_repository_and_permission() -> None:
    error = github_error(
        404,
        b'{"message": "Not Found"}',
        {},
        operation="dispatch",
        repository="org/x",
        permission="contents: write",
    )
    assert isinstance(error, GitHubNotFoundError)
    text = one_line(error)
    assert "repository org/x not found or the token cannot see it" in text
    assert "give the token contents: write on org/x" in text


def test_401_bad_credentials() -> None:
    error = github_error(401, {"message": "Bad credentials"}, {}, operation="get repository")
    assert isinstance(error, GitHubAuthError)
    assert "rejected the credentials (401 Bad credentials)" in one_line(error)


def test_403_not_accessible_by_integration_names_the_permission() -> None:
    body = {"message": "Resource not accessible by integration"}
    error = github_error(
        403,
        body,
        {"x-ratelimit-remaining": "4000"},
        operation="create deployment",
        repository="org/app",
        permission="deployments: write",
    )
    assert isinstance(error, GitHubAuthError)
    text = one_line(error)
    assert "lacks the 'deployments: write' permission on org/app" in text
    assert "permissions: {deployments: write}" in text
    assert "Resource not accessible by integration" in text


def test_403_permission_fix_uses_the_workflow_key_pull_requests_with_a_hyphen() -> None:
    """GitHub Apps name it pull_requests; a workflow's permissions: block only accepts pull-requests."""
    error = github_error(
        403,
        {"message": "Resource not accessible by integration"},
        {"x-ratelimit-remaining": "4000"},
        operation="comment on #3",
        repository="org/app",
        permission="pull_requests: write",
    )
    assert isinstance(error, GitHubAuthError)
    assert error.fix is not None and "'permissions: {pull-requests: write}'" in error.fix
    assert "lacks the 'pull_requests: write' permission" in error.message


def test_403_without_permission_argument_still_explains() -> None:
    error = github_error(403, {"message": "Resource not accessible by integration"}, {}, operation="x")
    assert isinstance(error, GitHubAuthError)
    assert "lacks a permission" in one_line(error)
    other = github_error(403, {"message": "Repository access blocked"}, {}, operation="x")
    assert isinstance(other, GitHubAuthError)
    assert "Repository access blocked" in one_line(other)


def test_rate_limits_name_when_to_retry() -> None:
    error = github_error(
        403,
        {"message": "You have exceeded a secondary rate limit"},
        {"Retry-After": "3600"},
        operation="create status",
    )
    assert isinstance(error, RateLimitError)
    assert "retry after 3600 s" in one_line(error)
    primary = github_error(
        403,
        {"message": "API rate limit exceeded"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1769596200"},
        operation="get",
    )
    assert isinstance(primary, RateLimitError)
    assert "resets at 2026-01-28T10:30:00Z" in one_line(primary)
    assert isinstance(github_error(429, "", {}, operation="x"), RateLimitError)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retry_exhausted(status: int) -> None:
    error = github_error(status, "<html>bad gateway</html>", {}, operation="get repository")
    assert isinstance(error, RetryExhaustedError)
    assert f"kept answering {status}" in one_line(error)
    assert error.fix and "githubstatus" in error.fix


def test_other_status_is_plain_github_error() -> None:
    error = github_error(409, {"message": "Git Repository is empty."}, {}, operation="get ref")
    assert type(error) is GitHubError
    assert "409 Git Repository is empty." in one_line(error)
    assert error.fix and "re-run" in error.fix


def test_body_decoding() -> None:
    assert decode_body(b'{"a": 1}') == {"a": 1}
    assert decode_body("not json") == "not json"
    assert decode_body(b"") == {}
    assert github_message("x" * 500).endswith("...")
    assert github_message({"message": "a\nb"}) == "a b"
    assert github_message(None) == ""


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_of_a_request_sent_once_says_it_may_have_been_applied(status: int) -> None:
    error = github_error(status, {"message": "Server Error"}, {}, operation="create deployment", resent=False)
    assert isinstance(error, RetryExhaustedError)
    text = one_line(error)
    assert f"GitHub answered {status}" in text
    assert "sent once, not re-sent (it may have been applied)" in text
    assert "kept answering" not in text
    assert error.fix and "whether it was applied" in error.fix


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind"),
    [
        (400, {"message": "Problems parsing JSON"}, {}, GitHubError),
        (401, {"message": "Bad credentials"}, {}, GitHubAuthError),
        (403, {"message": "Repository was archived so is read-only."}, {}, GitHubAuthError),
        (403, {"message": "Resource not accessible by integration"}, {}, GitHubAuthError),
        (403, {"message": "x"}, {"Retry-After": "60"}, RateLimitError),
        (429, {"message": "Too Many Requests"}, {}, RateLimitError),
        (404, {"message": "Not Found"}, {}, GitHubNotFoundError),
        (409, {"message": "Git Repository is empty."}, {}, GitHubError),
        (410, {"message": "Issues are disabled for this repo"}, {}, GitHubError),
        (422, {"message": "Validation Failed", "errors": [{"field": "ref"}]}, {}, GitHubValidationError),
        (500, "", {}, RetryExhaustedError),
        (502, "<html>\n<h1>Bad gateway</h1>\n</html>", {}, RetryExhaustedError),
        (503, {"message": "Service\nUnavailable"}, {}, RetryExhaustedError),
    ],
)
@pytest.mark.parametrize("repository", [None, "org/app"])
def test_every_error_has_a_fix_and_one_line(
    status: int, body: object, headers: dict[str, str], kind: type, repository: str | None
) -> None:
    error = github_error(status, body, headers, operation="do the thing", repository=repository)
    assert isinstance(error, kind)
    assert error.status == status
    assert error.fix, f"{status} has no fix"
    assert "\n" not in error.one_line()
    assert error.one_line().startswith("do the thing: ")
