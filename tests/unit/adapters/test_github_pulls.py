"""The pure helpers behind open_or_update_pull: text comparison, names, limits, error mapping.

The GitHub calls themselves run against the sandbox in tests/integration/test_github_pulls.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from github import GithubException

from gitops_release.adapters import github as adapter
from gitops_release.errors import GitHubValidationError, InputError


@pytest.mark.parametrize(
    ("ours", "theirs", "same"),
    [
        ("a\nb\n", "a\r\nb\r\n", True),  # the web editor saves CRLF
        ("a\n", "a", True),
        ("", None, True),
        (None, "", True),
        ("a", "b", False),
        ("a\n\nb", "a\nb", False),
        (" a", "a", False),  # leading space is content (Markdown indentation)
    ],
)
def test_same_text(ours: str | None, theirs: str | None, same: bool) -> None:
    assert adapter._same_text(ours, theirs) is same


@pytest.mark.parametrize(
    ("team", "slug"), [("ops", "ops"), ("org/ops", "ops"), ("@org/ops", "ops"), (" ops ", "ops")]
)
def test_team_slug(team: str, slug: str) -> None:
    assert adapter._team_slug(team) == slug


def test_unique_keeps_first_spelling_and_order() -> None:
    assert adapter._unique(["Alice", " bob", "alice", "", "  ", "BOB", "carol"]) == ["Alice", "bob", "carol"]


def test_title_and_body_limits_are_githubs() -> None:
    adapter._check_pull_text("t" * 256, "b" * 65536)
    with pytest.raises(InputError, match="input 'title': is 257 characters; GitHub allows 256"):
        adapter._check_pull_text("t" * 257, "")
    with pytest.raises(InputError, match="input 'body': is 65537 characters; GitHub allows 65536"):
        adapter._check_pull_text("t", "b" * 65537)
    with pytest.raises(InputError, match="input 'title': is empty"):
        adapter._check_pull_text(" \n", "")


@pytest.mark.parametrize("bad", ["", " ", "-x", "a b", "a:b", "a~1", "a^", "a?", "a*", "a[", "a\\b"])
def test_branch_input_refuses_what_is_not_a_branch(bad: str) -> None:
    with pytest.raises(InputError, match="input 'head'"):
        adapter._branch_input(bad, "head")


def test_branch_input_drops_refs_heads() -> None:
    assert adapter._branch_input("refs/heads/promote/stage/x", "head") == "promote/stage/x"
    assert adapter._branch_input(" main ", "base-branch") == "main"


def test_repository_must_be_owner_slash_name() -> None:
    assert adapter._owner("org/config") == "org"
    for bad in ("org", "org/config/x", "", "org/ config"):
        with pytest.raises(InputError, match="input 'repository'"):
            adapter._owner(bad)


def test_already_exists_is_recognised_in_githubs_422() -> None:
    body = {
        "message": "Validation Failed",
        "errors": [
            {"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for o:b."}
        ],
    }
    assert adapter._is_already_exists(GithubException(422, body, {}))
    assert not adapter._is_already_exists(GithubException(422, {"message": "Validation Failed"}, {}))
    assert not adapter._is_already_exists(GithubException(500, body, {}))


def refused(message: str) -> GitHubValidationError:
    return GitHubValidationError(
        f"request reviews on PR #3: GitHub refused the request (422 {message})", status=422
    )


def test_not_a_collaborator_names_the_input_that_holds_them() -> None:
    message = "Reviews may only be requested from collaborators. One or more of the users or teams ..."
    users = adapter._reviewer_error(refused(message), 3, ["mallory"], [])
    assert users.message.startswith(
        "input 'reviewers': GitHub refused to request reviews from mallory on PR #3"
    )
    assert "remove them from 'reviewers'" in (users.fix or "")
    teams = adapter._reviewer_error(refused(message), 3, [], ["devs"])
    assert teams.message.startswith(
        "input 'team-reviewers': GitHub refused to request reviews from team devs"
    )
    both = adapter._reviewer_error(refused(message), 3, ["mallory"], ["devs"])
    assert "input 'reviewers / team-reviewers'" in both.message


def test_team_lookup_failure_names_the_token_it_needs() -> None:
    error = adapter._reviewer_error(
        refused("Validation Failed: \"Could not resolve to a node with the global id of 'T_x'\""),
        3,
        [],
        ["ops"],
    )
    assert error.message.startswith("input 'team-reviewers'")
    assert "read:org" in (error.fix or "")


def test_other_review_errors_pass_unchanged() -> None:
    original = refused("something else")
    assert adapter._reviewer_error(original, 3, ["a"], []) is original


def test_aware_treats_naive_as_utc() -> None:
    naive = datetime(2025, 1, 2, 3, 4, 5)
    assert adapter._aware(naive) == naive.replace(tzinfo=timezone.utc)
    aware = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert adapter._aware(aware) is aware
    assert adapter._aware(None) is None


def test_reviewers_must_look_like_logins_and_teams() -> None:
    adapter._check_reviewers(
        ["alice", "bob-2", "A1", "x" * 39, " "], ["ops", "org/ops", "@org/platform.ops_x"]
    )
    adapter._check_reviewers(["old--login", "legacy-"], [])  # GitHub once allowed these
    for bad in ("al ice", "-alice", "x" * 40, "org/ops", "bot[bot]", "@alice", "a,b"):
        with pytest.raises(InputError, match="input 'reviewers'"):
            adapter._check_reviewers([bad], [])
    for bad in ("a/b/c", "ops team", "org/", "/ops"):
        with pytest.raises(InputError, match="input 'team-reviewers'"):
            adapter._check_reviewers([], [bad])
