"""The GitHub sandbox's statuses, deployments and permission answers, as report-status meets them."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from gitops_release.sandbox.github import GitHubSandbox

REPO = "org/app"
AUTH = {"Authorization": "token sandbox-token"}
DOCS = "https://docs.github.com/rest"


def call(gh: GitHubSandbox, method: str, path: str, *, token: str = "", **kwargs: Any) -> requests.Response:
    token = token or "sandbox-token"
    return requests.request(
        method, f"{gh.url}{path}", headers={"Authorization": f"token {token}"}, timeout=10, **kwargs
    )


def head(gh: GitHubSandbox, name: str = REPO) -> str:
    return str(call(gh, "GET", f"/repos/{name}/git/ref/heads/main").json()["object"]["sha"])


def with_pull(gh: GitHubSandbox) -> int:
    """One open pull request on REPO (a second branch with one more commit)."""
    from gitops_release.sandbox.github.git import _git

    git_dir = gh._repos[REPO.lower()].git_dir
    main = head(gh)
    tree = _git(git_dir, "rev-parse", f"{main}^{{tree}}").stdout.strip()
    commit = _git(git_dir, "commit-tree", tree, "-p", main, "-m", "topic").stdout.strip()
    _git(git_dir, "update-ref", "refs/heads/topic", commit)
    pr = call(gh, "POST", f"/repos/{REPO}/pulls", json={"title": "t", "head": "topic", "base": "main"})
    assert pr.status_code == 201, pr.text
    return int(pr.json()["number"])


@pytest.fixture
def gh(github_sandbox: GitHubSandbox) -> GitHubSandbox:
    github_sandbox.create_repo(REPO, files={"README.md": "# app\n"})
    return github_sandbox


# -- 403: a permission the token lacks -----------------------------------------------------------


def test_missing_permission_is_githubs_403_with_rate_limit_headers_left(gh: GitHubSandbox) -> None:
    """GitHub's body today, with ``status`` as a string and the operation's page; the rate-limit
    headers are there with requests left: a permission error, not a rate limit."""
    sha = head(gh)
    number = with_pull(gh)
    deployment = call(
        gh, "POST", f"/repos/{REPO}/deployments", json={"ref": sha, "required_contexts": []}
    ).json()
    comment = call(gh, "POST", f"/repos/{REPO}/issues/{number}/comments", json={"body": "x"}).json()
    gh.add_token("read-only", permissions={"contents": "read"})
    writes = {
        "create-a-commit-status": ("POST", f"/repos/{REPO}/statuses/{sha}", {"state": "success"}),
        "create-a-deployment": ("POST", f"/repos/{REPO}/deployments", {"ref": sha, "required_contexts": []}),
        "create-a-deployment-status": (
            "POST",
            f"/repos/{REPO}/deployments/{deployment['id']}/statuses",
            {"state": "success"},
        ),
        "create-an-issue-comment": ("POST", f"/repos/{REPO}/issues/{number}/comments", {"body": "y"}),
        "update-an-issue-comment": ("PATCH", f"/repos/{REPO}/issues/comments/{comment['id']}", {"body": "z"}),
    }
    for anchor, (method, path, body) in writes.items():
        answer = call(gh, method, path, token="read-only", json=body)
        assert answer.status_code == 403, anchor
        assert answer.json() == {
            "message": "Resource not accessible by integration",
            "documentation_url": answer.json()["documentation_url"],
            "status": "403",
        }, anchor
        assert answer.json()["documentation_url"].startswith(DOCS + "/")
        assert answer.json()["documentation_url"].endswith(f"#{anchor}"), anchor
        limit = int(answer.headers["X-RateLimit-Limit"])
        remaining = int(answer.headers["X-RateLimit-Remaining"])
        assert limit == 5000 and 0 < remaining < limit, anchor
        assert int(answer.headers["X-RateLimit-Used"]) == limit - remaining
        assert int(answer.headers["X-RateLimit-Reset"]) > 0
        assert answer.headers["X-RateLimit-Resource"] == "core"
    # nothing was written
    assert gh.statuses(REPO, sha) == []
    assert len(gh.deployments(REPO)) == 1
    assert gh.deployment_statuses(REPO, deployment["id"]) == []
    assert [c["body"] for c in gh.comments(REPO, number)] == ["x"]


def test_each_write_needs_its_own_permission(gh: GitHubSandbox) -> None:
    sha = head(gh)
    gh.add_token("statuses-only", permissions={"statuses": "write"})
    gh.add_token("deployments-only", permissions={"deployments": "write"})
    assert call(
        gh, "POST", f"/repos/{REPO}/statuses/{sha}", token="statuses-only", json={"state": "pending"}
    ).ok
    refused = call(
        gh,
        "POST",
        f"/repos/{REPO}/deployments",
        token="statuses-only",
        json={"ref": sha, "required_contexts": []},
    )
    assert refused.status_code == 403
    created = call(
        gh,
        "POST",
        f"/repos/{REPO}/deployments",
        token="deployments-only",
        json={"ref": sha, "required_contexts": []},
    )
    assert created.status_code == 201
    status = call(
        gh,
        "POST",
        f"/repos/{REPO}/deployments/{created.json()['id']}/statuses",
        token="deployments-only",
        json={"state": "in_progress"},
    )
    assert status.status_code == 201
    denied = call(
        gh, "POST", f"/repos/{REPO}/statuses/{sha}", token="deployments-only", json={"state": "error"}
    )
    assert denied.status_code == 403
