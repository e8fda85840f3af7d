"""core/github_errors.py: every branch's exact message and fix (written against mutation-testing
survivors, docs/testing.md), the 200-character cut of a text body, undecodable bytes, and a
runner whose local time zone is not UTC."""

# The expected texts stay one line each, as users read them in an ::error line.
# ruff: noqa: E501

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

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

CASES = [
    pytest.param(
        401,
        {"message": "Bad credentials"},
        {},
        {"operation": "create deployment"},
        GitHubAuthError,
        "create deployment: GitHub rejected the credentials (401 Bad credentials)",
        "check that the token (or App private key) is valid, not expired and for this GitHub host (GHES: set api-url)",
        id="401",
    ),
    pytest.param(
        403,
        {"message": "Resource not accessible by integration"},
        {},
        {"operation": "create commit status", "repository": "org/app", "permission": "statuses: write"},
        GitHubAuthError,
        "create commit status: the token lacks the 'statuses: write' permission on org/app (403 Resource not accessible by integration)",
        "give the token 'statuses: write' on org/app: in the workflow add 'permissions: {statuses: write}', or grant it to the GitHub App / fine-grained token",
        id="403-permission",
    ),
    pytest.param(
        403,
        {"message": "Resource not accessible by personal access token"},
        {},
        {"operation": "dispatch"},
        GitHubAuthError,
        "dispatch: the token lacks a permission (403 Resource not accessible by personal access token)",
        "give the token (or GitHub App installation) access",
        id="403-not-accessible-no-permission",
    ),
    pytest.param(
        403,
        {"message": "Repository was archived so is read-only."},
        {},
        {"operation": "dispatch", "repository": "org/app"},
        GitHubAuthError,
        "dispatch: GitHub refused the request on org/app (403 Repository was archived so is read-only.)",
        "check that the token (or GitHub App) may do this on org/app: its permissions, the organization's token policy (SSO authorization, fine-grained token approval), and that the repository is not archived",
        id="403-other-repo",
    ),
    pytest.param(
        403,
        "",
        {},
        {"operation": ""},
        GitHubAuthError,
        "GitHub request: GitHub refused the request (403)",
        "check that the token (or GitHub App) may do this on the repository: its permissions, the organization's token policy (SSO authorization, fine-grained token approval), and that the repository is not archived",
        id="403-other-no-repo",
    ),
    pytest.param(
        404,
        {"message": "Not Found"},
        {},
        {"operation": "dispatch", "repository": "org/app", "permission": "contents: write"},
        GitHubNotFoundError,
        "dispatch: repository org/app not found or the token cannot see it (404 Not Found)",
        "check the name; give the token contents: write on org/app",
        id="404-repo-permission",
    ),
    pytest.param(
        404,
        {"message": "Not Found"},
        {},
        {"operation": "get ref"},
        GitHubNotFoundError,
        "get ref: not found or the token cannot see it (404 Not Found)",
        "check the name and that the token (or GitHub App installation) can access the repository",
        id="404-no-repo",
    ),
    pytest.param(
        404,
        {},
        {},
        {"operation": "get ref", "permission": "contents: read"},
        GitHubNotFoundError,
        "get ref: not found or the token cannot see it (404)",
        "check the name; give the token contents: read on the repository",
        id="404-permission-no-repo",
    ),
    pytest.param(
        422,
        {"message": "Validation Failed"},
        {},
        {"operation": "create deployment"},
        GitHubValidationError,
        "create deployment: GitHub refused the request (422 Validation Failed)",
        "check the values sent against GitHub's documentation",
        id="422-no-errors",
    ),
    pytest.param(
        422,
        "Unprocessable",
        {},
        {"operation": "create deployment", "repository": "org/app"},
        GitHubValidationError,
        "create deployment: GitHub refused the request on org/app (422 Unprocessable)",
        "check the values sent against GitHub's documentation",
        id="422-text",
    ),
    pytest.param(
        422,
        {
            "errors": [
                {"field": "event_type", "code": "invalid"},
                {"field": "client_payload", "code": "custom", "message": "too many keys"},
                {"field": "event_type", "code": "too_long"},
            ]
        },
        {},
        {"operation": "dispatch", "repository": "org/app"},
        GitHubValidationError,
        "dispatch: GitHub refused on org/app: field 'event_type' is invalid; field 'client_payload': too many keys; field 'event_type' too long (422 Validation Failed)",
        "correct 'event_type', 'client_payload' (GitHub allows 100 characters; GitHub allows at most 10 top-level keys)",
        id="422-fields",
    ),
    pytest.param(
        422,
        {
            "message": "Validation Failed",
            "errors": [
                {"resource": "Release"},
                {"code": "custom"},
                {"message": "only detail"},
                {"resource": "Ref", "code": "no_such_thing"},
                "plain text",
            ],
        },
        {},
        {"operation": "create ref"},
        GitHubValidationError,
        "create ref: GitHub refused: Release is invalid; request is invalid; request: only detail; Ref no such thing; plain text (422 Validation Failed)",
        "correct the request",
        id="422-shapes",
    ),
    pytest.param(
        422,
        {
            "message": "Validation Failed",
            "errors": [{"resource": "Ref", "field": "ref", "code": "already_exists"}],
        },
        {},
        {"operation": "create ref"},
        GitHubValidationError,
        "create ref: GitHub refused: Ref field 'ref' already exists (422 Validation Failed)",
        "use another value or update the existing object instead of creating it again",
        id="422-already-exists",
    ),
    pytest.param(
        502,
        {"message": "Server Error"},
        {},
        {"operation": "get ref", "repository": "org/app"},
        RetryExhaustedError,
        "get ref: GitHub kept answering 502 on org/app (Server Error)",
        "GitHub may be degraded (https://www.githubstatus.com); re-run the job later",
        id="500-resent",
    ),
    pytest.param(
        503,
        "",
        {},
        {"operation": "get ref"},
        RetryExhaustedError,
        "get ref: GitHub kept answering 503",
        "GitHub may be degraded (https://www.githubstatus.com); re-run the job later",
        id="500-resent-no-message",
    ),
    pytest.param(
        500,
        {},
        {},
        {"operation": "create deployment", "repository": "org/app", "resent": False},
        RetryExhaustedError,
        "create deployment: GitHub answered 500 on org/app; the request was sent once, not re-sent (it may have been applied)",
        "check on GitHub whether it was applied before re-running the job; GitHub may be degraded (https://www.githubstatus.com)",
        id="500-once",
    ),
    pytest.param(
        504,
        "Gateway Timeout",
        {},
        {"operation": "create deployment", "resent": False},
        RetryExhaustedError,
        "create deployment: GitHub answered 504 (Gateway Timeout); the request was sent once, not re-sent (it may have been applied)",
        "check on GitHub whether it was applied before re-running the job; GitHub may be degraded (https://www.githubstatus.com)",
        id="500-once-message",
    ),
    pytest.param(
        400,
        {"message": "Problems parsing JSON"},
        {},
        {"operation": "dispatch"},
        GitHubError,
        "dispatch: GitHub answered 400 (400 Problems parsing JSON)",
        "GitHub could not parse the request: check the values passed (valid JSON, UTF-8); if the inputs look right, report it as a gitops-release bug with this line",
        id="400",
    ),
    pytest.param(
        409,
        {"message": "Git Repository is empty."},
        {},
        {"operation": "create ref", "repository": "org/app"},
        GitHubError,
        "create ref: GitHub answered 409 on org/app (409 Git Repository is empty.)",
        "the repository changed meanwhile or is in a state that refuses this (a moved branch, an empty repository, failing required status checks): resolve that, then re-run the job",
        id="409",
    ),
    pytest.param(
        410,
        {"message": "Issues are disabled for this repo"},
        {},
        {"operation": "create issue"},
        GitHubError,
        "create issue: GitHub answered 410 (410 Issues are disabled for this repo)",
        "the object is gone or the feature is disabled on the repository (e.g. issues turned off): enable it or point the input at an object that exists",
        id="410",
    ),
    pytest.param(
        418,
        {},
        {},
        {"operation": "brew"},
        GitHubError,
        "brew: GitHub answered 418 (418)",
        "look up status 418 for this endpoint in GitHub's REST documentation (https://docs.github.com/rest); re-run the job if it was transient",
        id="418",
    ),
    pytest.param(
        403,
        {"message": "You have exceeded a secondary rate limit."},
        {},
        {"operation": "dispatch", "repository": "org/app"},
        RateLimitError,
        "dispatch: GitHub secondary rate limit hit on org/app; GitHub did not say when; wait a few minutes (403 You have exceeded a secondary rate limit.)",
        "re-run the job after that time, or spread the calls out (fewer parallel jobs)",
        id="rate-secondary-body",
    ),
    pytest.param(
        429,
        {"message": "slow down"},
        {"Retry-After": "30"},
        {"operation": "dispatch"},
        RateLimitError,
        "dispatch: GitHub secondary rate limit hit; GitHub asked to retry after 30 s (429 slow down)",
        "re-run the job after that time, or spread the calls out (fewer parallel jobs)",
        id="rate-retry-after",
    ),
    pytest.param(
        403,
        {"message": "API rate limit exceeded for installation ID 1."},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000"},
        {"operation": "list"},
        RateLimitError,
        "list: GitHub rate limit hit; the limit resets at 2023-11-14T22:13:20Z (403 API rate limit exceeded for installation ID 1.)",
        "re-run the job after that time, or spread the calls out (fewer parallel jobs)",
        id="rate-primary",
    ),
    pytest.param(
        429,
        {},
        {},
        {"operation": "list"},
        RateLimitError,
        "list: GitHub rate limit hit; GitHub did not say when; wait a few minutes (429)",
        "re-run the job after that time, or spread the calls out (fewer parallel jobs)",
        id="rate-no-when",
    ),
    pytest.param(
        403,
        "You have exceeded a secondary rate limit",
        None,
        {"operation": "dispatch"},
        RateLimitError,
        "dispatch: GitHub secondary rate limit hit; GitHub did not say when; wait a few minutes (403 You have exceeded a secondary rate limit)",
        "re-run the job after that time, or spread the calls out (fewer parallel jobs)",
        id="rate-text-body",
    ),
]


@pytest.mark.parametrize(("status", "body", "headers", "kwargs", "kind", "message", "fix"), CASES)
def test_each_branch_says_exactly_what_happened_and_what_to_do(
    status: int,
    body: object,
    headers: dict[str, str] | None,
    kwargs: dict[str, Any],
    kind: type[GitHubError],
    message: str,
    fix: str,
) -> None:
    error = github_error(status, body, headers, **kwargs)
    assert type(error) is kind
    assert error.status == status
    assert error.message == message
    assert error.fix == fix


def test_a_rate_limit_named_at_the_end_of_a_long_text_body_is_still_a_rate_limit() -> None:
    body = "x" * 300 + " You have exceeded a secondary rate limit"
    error = github_error(403, body, {}, operation="dispatch")
    assert type(error) is RateLimitError
    assert github_message(body).endswith("xxx...")  # the message shown is cut, the check is not


def test_a_text_body_of_200_characters_is_kept_and_201_is_cut_to_200() -> None:
    assert github_message("a" * 200) == "a" * 200
    assert github_message("a" * 201) == "a" * 197 + "..."
    assert len(github_message("a" * 201)) == 200


def test_an_object_without_a_message_gives_no_message() -> None:
    assert github_message({"message": ""}) == ""
    assert github_message({"message": None, "documentation_url": "https://docs.github.com"}) == ""
    assert github_message(["not", "an", "object"]) == ""


def test_undecodable_bytes_are_replaced_not_raised() -> None:
    assert decode_body(b"caf\xe9 is down") == "caf\ufffd is down"
    assert decode_body(bytearray(b'{"message": "x"}')) == {"message": "x"}
    assert decode_body(b"  ") == {}
    error = github_error(502, b"\xff\xfe upstream", {}, operation="get ref")
    assert error.message == "get ref: GitHub kept answering 502 (\ufffd\ufffd upstream)"


@pytest.fixture
def new_york_time() -> Iterator[None]:
    """The process's local time zone set to UTC-5 for one test, as on a self-hosted runner."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "EST+05")
        time.tzset()
        try:
            yield
        finally:
            patch.undo()
            time.tzset()


@pytest.mark.usefixtures("new_york_time")
def test_the_reset_time_is_printed_in_utc_whatever_the_runners_time_zone() -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000000"}
    error = github_error(403, {}, headers, operation="list")
    assert error.message == "list: GitHub rate limit hit; the limit resets at 2023-11-14T22:13:20Z (403)"


def test_only_githubs_message_is_searched_for_rate_limit_words() -> None:
    body = {
        "message": "Resource not accessible by integration",
        "errors": [{"message": "see: secondary rate limit"}],
    }
    error = github_error(403, body, {}, operation="dispatch", permission="actions: write")
    assert type(error) is GitHubAuthError
