"""The sandbox's pull request updates, review requests and reviews, answered as GitHub answers them.

Every request and response is validated against GitHub's OpenAPI description (the fixture fails
the test on a violation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from gitops_release.errors import InputError
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.integration.test_sandbox_pulls import AUTH, REPO, push_branch

HEAD = "promote/stage/abc"


def api(sandbox: GitHubSandbox, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    return requests.request(
        method,
        f"{sandbox.url}/repos/{REPO}{path}",
        headers=AUTH,
        json=body,
        params=params or None,
        timeout=10,
    )


@pytest.fixture
def gh(github_sandbox: GitHubSandbox, tmp_path: Path) -> GitHubSandbox:
    github_sandbox.create_repo(REPO, files={"a.txt": "a\n"})
    push_branch(github_sandbox, tmp_path, HEAD, "b.txt", "b\n")
    push_branch(github_sandbox, tmp_path, "release", "c.txt", "c\n")
    created = api(
        github_sandbox, "POST", "/pulls", {"title": "t", "head": HEAD, "base": "main", "draft": True}
    )
    assert created.status_code == 201, created.text
    return github_sandbox


def test_patch_title_and_body_keeps_draft(gh: GitHubSandbox) -> None:
    answer = api(gh, "PATCH", "/pulls/1", {"title": "new", "body": "text", "draft": False})
    assert answer.status_code == 200, answer.text
    pr = answer.json()
    # GitHub's REST update has no draft field (GraphQL only); an unknown key is ignored.
    assert (pr["title"], pr["body"], pr["draft"], pr["state"]) == ("new", "text", True, "open")
    assert api(gh, "GET", "/pulls/1").json()["body"] == "text"
    empty = api(gh, "PATCH", "/pulls/1", {"title": ""})
    assert (empty.status_code, empty.json()["errors"][0]["field"]) == (422, "title")


def test_body_longer_than_githubs_limit_is_422(gh: GitHubSandbox) -> None:
    for method, path, extra in (
        ("PATCH", "/pulls/1", {}),
        ("POST", "/pulls", {"title": "t", "head": "release", "base": "main"}),
    ):
        answer = api(gh, method, path, {**extra, "body": "x" * 65537})
        assert answer.status_code == 422
        assert answer.json()["errors"][0] == {
            "resource": "Issue",
            "code": "custom",
            "field": "body",
            "message": "body is too long (maximum is 65536 characters)",
        }
    assert api(gh, "PATCH", "/pulls/1", {"body": "x" * 65536}).status_code == 200


def test_close_reopen_and_merge(gh: GitHubSandbox) -> None:
    closed = api(gh, "PATCH", "/pulls/1", {"state": "closed"}).json()
    assert (closed["state"], closed["merged"], closed["closed_at"] is not None) == ("closed", False, True)
    assert api(gh, "GET", "/pulls", state="open").json() == []
    assert [p["number"] for p in api(gh, "GET", "/pulls", state="closed").json()] == [1]
    assert api(gh, "PUT", "/pulls/1/merge", {}).status_code == 405  # closed: not mergeable
    # A new PR for the same branches may be opened; reopening the old one is then a duplicate.
    assert api(gh, "POST", "/pulls", {"title": "t2", "head": HEAD, "base": "main"}).status_code == 201
    duplicate = api(gh, "PATCH", "/pulls/1", {"state": "open"})
    assert duplicate.status_code == 422
    assert "A pull request already exists for org:promote/stage/abc." in duplicate.text
    assert api(gh, "PATCH", "/pulls/2", {"state": "closed"}).status_code == 200
    reopened = api(gh, "PATCH", "/pulls/1", {"state": "open"}).json()
    assert (reopened["state"], reopened["closed_at"]) == ("open", None)
    merged = api(gh, "PUT", "/pulls/1/merge", {"merge_method": "squash"})
    assert merged.status_code == 200, merged.text
    again = api(gh, "PATCH", "/pulls/1", {"state": "open"})
    assert (again.status_code, again.json()["errors"][0]["field"]) == (422, "state")


def test_reopen_after_the_head_branch_was_deleted_is_422(gh: GitHubSandbox) -> None:
    api(gh, "PATCH", "/pulls/1", {"state": "closed"})
    assert api(gh, "DELETE", f"/git/refs/heads/{HEAD}").status_code == 204
    answer = api(gh, "PATCH", "/pulls/1", {"state": "open"})
    assert answer.status_code == 422
    assert "head branch was deleted" in answer.json()["errors"][0]["message"]


def test_change_base(gh: GitHubSandbox) -> None:
    moved = api(gh, "PATCH", "/pulls/1", {"base": "release"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["base"]["ref"] == "release"
    assert [p["number"] for p in api(gh, "GET", "/pulls", base="release").json()] == [1]
    unknown = api(gh, "PATCH", "/pulls/1", {"base": "nope"})
    assert (unknown.status_code, unknown.json()["errors"][0]["field"]) == (422, "base")
    api(gh, "PATCH", "/pulls/1", {"state": "closed"})
    closed = api(gh, "PATCH", "/pulls/1", {"base": "main"})
    assert (closed.status_code, closed.json()["message"]) == (
        422,
        "Cannot change the base branch of a closed pull request.",
    )


def test_pull_from_a_branch_the_bare_repo_lacks_is_githubs_422(gh: GitHubSandbox) -> None:
    answer = api(gh, "POST", "/pulls", {"title": "t", "head": "org:never-pushed", "base": "main"})
    assert answer.status_code == 422
    assert answer.json()["errors"] == [{"resource": "PullRequest", "code": "invalid", "field": "head"}]
    other_owner = api(gh, "POST", "/pulls", {"title": "t", "head": "someone:release", "base": "main"})
    assert other_owner.status_code == 422


def test_review_requests_only_for_collaborators(gh: GitHubSandbox) -> None:
    gh.add_collaborators(REPO, "Alice", teams=["Ops"])
    asked = api(
        gh, "POST", "/pulls/1/requested_reviewers", {"reviewers": ["alice"], "team_reviewers": ["ops"]}
    )
    assert asked.status_code == 201, asked.text
    assert [u["login"] for u in asked.json()["requested_reviewers"]] == ["alice"]
    assert [t["slug"] for t in asked.json()["requested_teams"]] == ["ops"]
    listed = api(gh, "GET", "/pulls/1/requested_reviewers").json()
    assert ([u["login"] for u in listed["users"]], [t["slug"] for t in listed["teams"]]) == (
        ["alice"],
        ["ops"],
    )
    # Asking again changes nothing; the pull request JSON shows them too.
    api(gh, "POST", "/pulls/1/requested_reviewers", {"reviewers": ["ALICE"]})
    pr = gh.pulls(REPO)[0]
    assert [u["login"] for u in pr["requested_reviewers"]] == ["alice"]
    stranger = api(gh, "POST", "/pulls/1/requested_reviewers", {"reviewers": ["alice", "mallory"]})
    assert stranger.status_code == 422
    assert stranger.json()["message"] == (
        "Reviews may only be requested from collaborators. One or more of the users or teams you "
        "specified is not a collaborator of the org/config repository."
    )
    assert api(gh, "POST", "/pulls/1/requested_reviewers", {"team_reviewers": ["devs"]}).status_code == 422
    author = api(gh, "POST", "/pulls/1/requested_reviewers", {"reviewers": ["sandbox-user"]})
    assert (author.status_code, author.json()["message"]) == (
        422,
        "Review cannot be requested from pull request author.",
    )
    assert api(gh, "GET", "/pulls/9/requested_reviewers").status_code == 404


def test_a_review_removes_the_request(gh: GitHubSandbox) -> None:
    gh.add_collaborators(REPO, "alice", "bob")
    api(gh, "POST", "/pulls/1/requested_reviewers", {"reviewers": ["alice", "bob"]})
    assert api(gh, "GET", "/pulls/1/reviews").json() == []
    gh.add_review(REPO, 1, "alice", state="APPROVED", body="lgtm")
    reviews = api(gh, "GET", "/pulls/1/reviews").json()
    assert [(r["user"]["login"], r["state"], r["body"]) for r in reviews] == [("alice", "APPROVED", "lgtm")]
    assert [u["login"] for u in api(gh, "GET", "/pulls/1/requested_reviewers").json()["users"]] == ["bob"]
    with pytest.raises(InputError, match="no pull request #7"):
        gh.add_review(REPO, 7, "alice")


def test_labelled_pulls_list_within_the_description(gh: GitHubSandbox) -> None:
    assert api(gh, "POST", "/issues/1/labels", {"labels": ["promotion"]}).status_code == 200
    listed = api(gh, "GET", "/pulls", head=f"org:{HEAD}").json()
    assert [label["name"] for label in listed[0]["labels"]] == ["promotion"]
    assert [label["name"] for label in api(gh, "GET", "/issues/1/labels").json()] == ["promotion"]
    assert gh.violations == []


def test_comments_helper(gh: GitHubSandbox) -> None:
    api(gh, "POST", "/issues/1/comments", {"body": "superseded by #2"})
    assert [c["body"] for c in gh.comments(REPO, 1)] == ["superseded by #2"]
    assert gh.comments(REPO, 5) == []
