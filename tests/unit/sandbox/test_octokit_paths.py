"""The sandbox answers the exact paths octokit (``@octokit/rest``, behind actions/github-script)
sends: ``git.getRef`` percent-encodes the ref (``git/ref/heads%2Fmain``) and ``repos.getBranch`` /
``repos.listBranches`` use the branch endpoints. Sent raw with urllib, so no client re-encodes
them, with OpenAPI validation on (the fixture fails the test on any violation)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from gitops_release.sandbox import openapi
from gitops_release.sandbox.github_api import GitHubSandbox

REPO = "org/config"
TOKEN = "sandbox-token"


def get(gh: GitHubSandbox, path: str) -> tuple[int, Any, dict[str, str]]:
    """GET ``path`` byte for byte (urllib sends the path as given): (status, JSON body, headers)."""
    request = urllib.request.Request(
        f"{gh.url}{path}",
        headers={"Authorization": f"token {TOKEN}", "Accept": "application/vnd.github+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response), dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc), dict(exc.headers)


@pytest.fixture
def gh(github_sandbox: GitHubSandbox) -> GitHubSandbox:
    assert github_sandbox.validate, "these tests need OpenAPI validation on"
    github_sandbox.create_repo(REPO, files={"README.md": "hello\n"})
    return github_sandbox


def main_sha(gh: GitHubSandbox) -> str:
    status, body, _ = get(gh, f"/repos/{REPO}/git/ref/heads/main")
    assert status == 200
    return str(body["object"]["sha"])


def create_branch(gh: GitHubSandbox, name: str, sha: str) -> None:
    request = urllib.request.Request(
        f"{gh.url}/repos/{REPO}/git/refs",
        data=json.dumps({"ref": f"refs/heads/{name}", "sha": sha}).encode(),
        method="POST",
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def test_get_ref_decodes_a_percent_encoded_ref_as_github_does(gh: GitHubSandbox) -> None:
    sha = main_sha(gh)
    status, body, _ = get(gh, f"/repos/{REPO}/git/ref/heads%2Fmain")  # octokit git.getRef
    assert status == 200
    assert body["ref"] == "refs/heads/main"
    assert body["object"]["sha"] == sha
    create_branch(gh, "release/v1", sha)
    status, body, _ = get(gh, f"/repos/{REPO}/git/ref/heads%2Frelease%2Fv1")
    assert (status, body["ref"]) == (200, "refs/heads/release/v1")
    status, body, _ = get(gh, f"/repos/{REPO}/git/matching-refs/heads%2Frelease")
    assert [ref["ref"] for ref in body] == ["refs/heads/release/v1"]


def test_get_branch_answers_octokit_repos_get_branch(gh: GitHubSandbox) -> None:
    sha = main_sha(gh)
    status, body, _ = get(gh, f"/repos/{REPO}/branches/main")
    assert status == 200
    assert body["name"] == "main"
    assert body["commit"]["sha"] == sha
    assert body["commit"]["commit"]["message"] == "Initial commit"
    assert body["commit"]["commit"]["author"]["name"] == "GitHub Sandbox"
    assert body["commit"]["parents"] == []
    assert body["protected"] is False
    assert body["protection"]["enabled"] is False
    assert body["_links"]["self"] == f"{gh.url}/repos/{REPO}/branches/main"


@pytest.mark.parametrize("path", ["feature%2Fx", "feature/x"])
def test_get_branch_with_a_slash_encoded_or_not(gh: GitHubSandbox, path: str) -> None:
    sha = main_sha(gh)
    create_branch(gh, "feature/x", sha)
    status, body, _ = get(gh, f"/repos/{REPO}/branches/{path}")
    assert status == 200
    assert body["name"] == "feature/x"
    assert body["commit"]["sha"] == sha


def test_get_branch_unknown_is_404(gh: GitHubSandbox) -> None:
    status, body, _ = get(gh, f"/repos/{REPO}/branches/nope")
    assert status == 404
    assert body["message"] == "Branch not found"


def test_list_branches_sorted_paginated_and_none_protected(gh: GitHubSandbox) -> None:
    sha = main_sha(gh)
    create_branch(gh, "feature/x", sha)
    status, body, headers = get(gh, f"/repos/{REPO}/branches")
    assert status == 200
    assert body == [
        {
            "name": name,
            "commit": {"sha": sha, "url": f"{gh.url}/repos/{REPO}/commits/{sha}"},
            "protected": False,
        }
        for name in ("feature/x", "main")
    ]
    assert "Link" not in headers
    status, body, headers = get(gh, f"/repos/{REPO}/branches?per_page=1&page=2")
    assert [branch["name"] for branch in body] == ["main"]
    assert 'rel="first"' in headers["Link"]
    status, body, _ = get(gh, f"/repos/{REPO}/branches?protected=true")
    assert (status, body) == (200, [])


def test_branch_operations_are_in_the_shipped_description() -> None:
    document = openapi.load_document()
    assert "get" in document["paths"]["/repos/{owner}/{repo}/branches"]
    assert "get" in document["paths"]["/repos/{owner}/{repo}/branches/{branch}"]
