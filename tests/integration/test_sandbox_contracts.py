"""Contract tests (emulator side): the sandbox answers in the SHAPE GitHub really answers.

Each test drives the sandbox and compares its response with a real recorded exchange from
octokit/fixtures (copied to tests/contracts/octokit/): the same keys, recursively, with the
same JSON value types. ``null`` on either side matches any type (GitHub's nullable fields).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from gitops_release.sandbox.github_api import GitHubSandbox

FIXTURES = Path(__file__).resolve().parents[1] / "contracts" / "octokit"
REPO = "octokit-fixture-org/hello-world"
AUTH = {"Authorization": "token sandbox-token"}


def exchanges(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def shape_differences(ours: Any, theirs: Any, where: str = "$") -> list[str]:
    """Human-readable differences in keys and value types; [] when the shapes agree."""
    if ours is None or theirs is None:
        return []
    if kind(ours) != kind(theirs):
        return [f"{where}: sandbox {kind(ours)}, GitHub {kind(theirs)}"]
    if isinstance(ours, dict):
        problems = [f"{where}.{k}: missing in sandbox" for k in sorted(set(theirs) - set(ours))]
        problems += [f"{where}.{k}: not sent by GitHub" for k in sorted(set(ours) - set(theirs))]
        for key in sorted(set(ours) & set(theirs)):
            problems += shape_differences(ours[key], theirs[key], f"{where}.{key}")
        return problems
    if isinstance(ours, list) and ours and theirs:
        return shape_differences(ours[0], theirs[0], f"{where}[0]")
    return []


def test_shape_comparison_catches_differences() -> None:
    assert shape_differences({"a": 1, "b": {"c": "x"}}, {"a": 2, "b": {"c": "y"}}) == []
    assert shape_differences({"a": 1}, {"a": "1"}) == ["$.a: sandbox number, GitHub str"]
    assert shape_differences({"a": [{"b": 1}]}, {"a": [{"c": 1}]}) == [
        "$.a[0].c: missing in sandbox",
        "$.a[0].b: not sent by GitHub",
    ]
    assert shape_differences({"a": None}, {"a": {"x": 1}}) == []


def sandbox_with_repo(gh: GitHubSandbox, name: str = REPO) -> str:
    gh.create_repo(name, files={"README.md": "# hello\n"})
    return requests.get(f"{gh.url}/repos/{name}/git/ref/heads/main", headers=AUTH, timeout=10).json()[
        "object"
    ]["sha"]


def test_get_repository_shape(github_sandbox: GitHubSandbox) -> None:
    sandbox_with_repo(github_sandbox)
    recorded = exchanges("get-repository")[0]
    ours = requests.get(f"{github_sandbox.url}/repos/{REPO}", headers=AUTH, timeout=10)
    assert ours.status_code == recorded["status"]
    # A key GitHub added after this recording, present in newer ones (../shared/corpus/github-deploy
    # pull requests of 2024: head.repo / base.repo); tests/integration/test_sandbox_corpus_shapes.py.
    added_since = {"has_discussions"}
    assert (
        shape_differences(
            {k: v for k, v in ours.json().items() if k not in added_since}, recorded["response"]
        )
        == []
    )
    assert ours.headers["content-type"] == recorded["headers"]["content-type"]


def test_create_status_list_and_combined_shapes(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    sha = sandbox_with_repo(gh, "octokit-fixture-org/create-status")
    recorded = exchanges("create-status")
    base = f"{gh.url}/repos/octokit-fixture-org/create-status"
    created = requests.post(f"{base}/statuses/{sha}", headers=AUTH, json=recorded[0]["body"], timeout=10)
    assert created.status_code == recorded[0]["status"] == 201
    assert shape_differences(created.json(), recorded[0]["response"]) == []
    requests.post(f"{base}/statuses/{sha}", headers=AUTH, json=recorded[1]["body"], timeout=10)
    listed = requests.get(f"{base}/commits/{sha}/statuses", headers=AUTH, timeout=10)
    assert shape_differences(listed.json(), recorded[2]["response"]) == []
    combined = requests.get(f"{base}/commits/{sha}/status", headers=AUTH, timeout=10)
    assert shape_differences(combined.json(), recorded[3]["response"]) == []
    assert combined.json()["state"] == recorded[3]["response"]["state"]


def test_validation_error_shape(github_sandbox: GitHubSandbox) -> None:
    sha = sandbox_with_repo(github_sandbox)
    recorded = exchanges("errors")[0]
    ours = requests.post(
        f"{github_sandbox.url}/repos/{REPO}/statuses/{sha}",
        headers=AUTH,
        json={"state": "success", "description": "x" * 141},
        timeout=10,
    )
    assert ours.status_code == recorded["status"] == 422
    body, theirs = ours.json(), recorded["response"]
    assert body["message"] == theirs["message"] == "Validation Failed"
    assert set(body) == set(theirs)
    assert set(theirs["errors"][0]) <= set(body["errors"][0])


def test_git_refs_shapes(github_sandbox: GitHubSandbox) -> None:
    sha = sandbox_with_repo(github_sandbox)
    recorded = exchanges("git-refs")
    base = f"{github_sandbox.url}/repos/{REPO}/git"
    created = requests.post(
        f"{base}/refs", headers=AUTH, json={"ref": "refs/heads/test", "sha": sha}, timeout=10
    )
    assert created.status_code == recorded[1]["status"] == 201
    assert shape_differences(created.json(), recorded[1]["response"]) == []
    one = requests.get(f"{base}/ref/heads/main", headers=AUTH, timeout=10)
    assert shape_differences(one.json(), recorded[0]["response"][0]) == []
    matching = requests.get(f"{base}/matching-refs/heads/", headers=AUTH, timeout=10)
    assert shape_differences(matching.json(), recorded[3]["response"]) == []
    updated = requests.patch(
        f"{base}/refs/heads/test", headers=AUTH, json={"sha": sha, "force": True}, timeout=10
    )
    assert shape_differences(updated.json(), recorded[2]["response"]) == []
    deleted = requests.delete(f"{base}/refs/heads/test", headers=AUTH, timeout=10)
    assert deleted.status_code == recorded[4]["status"] == 204


def open_pull(gh: GitHubSandbox, sha: str, name: str = REPO) -> int:
    base = f"{gh.url}/repos/{name}"
    requests.post(f"{base}/git/refs", headers=AUTH, json={"ref": "refs/heads/topic", "sha": sha}, timeout=10)
    # a commit on topic, made through the bare repo (the API has no contents endpoint here)
    git_dir = gh._repos[name.lower()].git_dir
    from gitops_release.sandbox.github_api import _git

    tree = _git(git_dir, "rev-parse", f"{sha}^{{tree}}").stdout.strip()
    commit = _git(git_dir, "commit-tree", tree, "-p", sha, "-m", "topic change").stdout.strip()
    _git(git_dir, "update-ref", "refs/heads/topic", commit)
    pr = requests.post(
        f"{base}/pulls", headers=AUTH, json={"title": "t", "head": "topic", "base": "main"}, timeout=10
    )
    assert pr.status_code == 201, pr.text
    return int(pr.json()["number"])


def test_add_labels_shape(github_sandbox: GitHubSandbox) -> None:
    name = "octokit-fixture-org/add-labels-to-issue"
    sha = sandbox_with_repo(github_sandbox, name)
    number = open_pull(github_sandbox, sha, name)
    recorded = exchanges("add-labels-to-issue")[1]
    ours = requests.post(
        f"{github_sandbox.url}/repos/{name}/issues/{number}/labels",
        headers=AUTH,
        json=recorded["body"],
        timeout=10,
    )
    assert ours.status_code == recorded["status"] == 200
    assert [label["name"] for label in ours.json()] == [label["name"] for label in recorded["response"]]
    assert shape_differences(ours.json(), recorded["response"]) == []
    label_shape = exchanges("labels")[1]["response"]
    assert shape_differences(ours.json()[0], label_shape) == []


def test_pagination_link_header_like_paginate_issues(github_sandbox: GitHubSandbox) -> None:
    sha = sandbox_with_repo(github_sandbox)
    for i in range(13):
        requests.post(
            f"{github_sandbox.url}/repos/{REPO}/statuses/{sha}",
            headers=AUTH,
            json={"state": "success", "context": f"c{i}"},
            timeout=10,
        )
    recorded = exchanges("paginate-issues")
    for page, exchange in enumerate(recorded, start=1):
        ours = requests.get(
            f"{github_sandbox.url}/repos/{REPO}/commits/{sha}/statuses",
            headers=AUTH,
            params={"per_page": 3, "page": page},
            timeout=10,
        )
        theirs = requests.models.Response()
        theirs.headers["link"] = exchange["headers"]["link"]
        assert list(ours.links) == list(theirs.links), f"page {page}"
        for rel, link in theirs.links.items():
            assert ours.links[rel]["url"].split("?")[1] == link["url"].split("?")[1], f"page {page} {rel}"


def test_404_body_shape_like_branch_protection(github_sandbox: GitHubSandbox) -> None:
    """Contract item 9: GitHub's 404 body is {message, documentation_url}, both strings, nothing else."""
    gh = github_sandbox
    sandbox_with_repo(gh)
    gh.add_token("elsewhere", repositories=["octokit-fixture-org/other"])
    recorded = next(x for x in exchanges("branch-protection") if x["status"] == 404)
    theirs = recorded["response"]
    assert set(theirs) == {"message", "documentation_url"}
    answers = {
        "missing repository": requests.get(f"{gh.url}/repos/{REPO}-missing", headers=AUTH, timeout=10),
        "hidden repository": requests.get(
            f"{gh.url}/repos/{REPO}", headers={"Authorization": "token elsewhere"}, timeout=10
        ),
        "missing ref": requests.get(f"{gh.url}/repos/{REPO}/git/ref/heads/nope", headers=AUTH, timeout=10),
        "missing deployment": requests.get(f"{gh.url}/repos/{REPO}/deployments/1", headers=AUTH, timeout=10),
        "unknown endpoint": requests.get(f"{gh.url}/repos/{REPO}/no-such-thing", headers=AUTH, timeout=10),
    }
    for what, ours in answers.items():
        assert ours.status_code == recorded["status"] == 404, what
        body = ours.json()
        assert set(body) == set(theirs), what
        assert shape_differences(body, theirs) == [], what
        assert body["documentation_url"].startswith("https://docs.github.com/rest"), what
        assert body["message"] == "Not Found", what
        assert ours.headers["content-type"] == recorded["headers"]["content-type"], what
