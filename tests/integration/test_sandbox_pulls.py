"""Pull requests on the sandbox with real git: push a branch, open a PR, merge it into the bare repo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import requests
from github import Auth, Github

from gitops_release.sandbox.github_api import GitHubSandbox

REPO = "org/config"
AUTH = {"Authorization": "token sandbox-token"}
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.invalid",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    ).stdout


def push_branch(
    gh: GitHubSandbox, tmp_path: Path, branch: str, path: str, content: str, start: str = "main"
) -> Path:
    work = tmp_path / f"work-{branch}"
    git(tmp_path, "clone", "-q", gh.git_url(REPO), str(work))
    git(work, "checkout", "-q", "-b", branch, f"origin/{start}")
    (work / path).parent.mkdir(parents=True, exist_ok=True)
    (work / path).write_text(content, encoding="utf-8")
    git(work, "add", path)
    git(work, "commit", "-q", "-m", f"change {path} on {branch}")
    git(work, "push", "-q", "origin", branch)
    return work


def test_merge_creates_a_real_merge_commit_on_base(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    gh = github_sandbox
    gh.create_repo(REPO, files={"overlays/dev/kustomization.yaml": "images: []\n"})
    push_branch(gh, tmp_path, "promote/dev-to-stage", "overlays/stage/kustomization.yaml", "images: [x]\n")
    created = requests.post(
        f"{gh.url}/repos/{REPO}/pulls",
        headers=AUTH,
        json={
            "title": "Promote dev to stage",
            "head": "org:promote/dev-to-stage",
            "base": "main",
            "body": "b",
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    pr = created.json()
    assert (pr["number"], pr["state"], pr["mergeable"], pr["commits"], pr["changed_files"]) == (
        1,
        "open",
        True,
        1,
        1,
    )
    assert pr["url"] == f"{gh.url}/repos/{REPO}/pulls/1"
    listed = requests.get(
        f"{gh.url}/repos/{REPO}/pulls", headers=AUTH, params={"head": "org:promote/dev-to-stage"}, timeout=10
    )
    assert [p["number"] for p in listed.json()] == [1]
    assert (
        requests.get(
            f"{gh.url}/repos/{REPO}/pulls", headers=AUTH, params={"base": "other"}, timeout=10
        ).json()
        == []
    )
    duplicate = requests.post(
        f"{gh.url}/repos/{REPO}/pulls",
        headers=AUTH,
        json={"title": "again", "head": "promote/dev-to-stage", "base": "main"},
        timeout=10,
    )
    assert duplicate.status_code == 422
    assert "already exists" in duplicate.json()["errors"][0]["message"]
    comment = requests.post(
        f"{gh.url}/repos/{REPO}/issues/1/comments", headers=AUTH, json={"body": "promoted"}, timeout=10
    )
    assert comment.status_code == 201
    assert [
        c["body"]
        for c in requests.get(f"{gh.url}/repos/{REPO}/issues/1/comments", headers=AUTH, timeout=10).json()
    ] == ["promoted"]
    labels = requests.post(
        f"{gh.url}/repos/{REPO}/issues/1/labels",
        headers=AUTH,
        json={"labels": ["promotion", "stage"]},
        timeout=10,
    )
    assert [label["name"] for label in labels.json()] == ["promotion", "stage"]

    stale = requests.put(
        f"{gh.url}/repos/{REPO}/pulls/1/merge", headers=AUTH, json={"sha": "0" * 40}, timeout=10
    )
    assert stale.status_code == 409
    merged = requests.put(
        f"{gh.url}/repos/{REPO}/pulls/1/merge", headers=AUTH, json={"merge_method": "merge"}, timeout=10
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["merged"] is True

    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", gh.git_url(REPO), str(check))
    assert git(check, "rev-parse", "HEAD").strip() == merged.json()["sha"]
    assert len(git(check, "log", "-1", "--format=%P").split()) == 2
    assert (check / "overlays/stage/kustomization.yaml").read_text() == "images: [x]\n"
    assert "Merge pull request #1" in git(check, "log", "-1", "--format=%s")
    after = requests.get(f"{gh.url}/repos/{REPO}/pulls/1", headers=AUTH, timeout=10).json()
    assert (after["state"], after["merged"], after["merge_commit_sha"]) == (
        "closed",
        True,
        merged.json()["sha"],
    )
    again = requests.put(f"{gh.url}/repos/{REPO}/pulls/1/merge", headers=AUTH, json={}, timeout=10)
    assert again.status_code == 405
    assert gh.pulls(REPO)[0]["merged"] is True


def test_conflicting_pull_is_not_mergeable(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    gh = github_sandbox
    gh.create_repo(REPO, files={"db/db.json": "{}\n"})
    push_branch(gh, tmp_path, "a", "db/db.json", '{"a": 1}\n')
    push_branch(gh, tmp_path, "b", "db/db.json", '{"b": 2}\n')
    for head in ("a", "b"):
        response = requests.post(
            f"{gh.url}/repos/{REPO}/pulls",
            headers=AUTH,
            json={"title": head, "head": head, "base": "main"},
            timeout=10,
        )
        assert response.status_code == 201
    assert (
        requests.put(
            f"{gh.url}/repos/{REPO}/pulls/1/merge", headers=AUTH, json={"merge_method": "squash"}, timeout=10
        ).status_code
        == 200
    )
    pr2 = requests.get(f"{gh.url}/repos/{REPO}/pulls/2", headers=AUTH, timeout=10).json()
    assert (pr2["mergeable"], pr2["mergeable_state"]) == (False, "dirty")
    refused = requests.put(f"{gh.url}/repos/{REPO}/pulls/2/merge", headers=AUTH, json={}, timeout=10)
    assert refused.status_code == 405
    assert refused.json()["message"] == "Pull Request is not mergeable"


def test_pull_without_commits_or_unknown_head_is_422(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    gh.create_repo(REPO)
    same = requests.post(
        f"{gh.url}/repos/{REPO}/pulls",
        headers=AUTH,
        json={"title": "t", "head": "main", "base": "main"},
        timeout=10,
    )
    assert same.status_code == 422
    assert "No commits between" in same.json()["errors"][0]["message"]
    missing = requests.post(
        f"{gh.url}/repos/{REPO}/pulls",
        headers=AUTH,
        json={"title": "t", "head": "nope", "base": "main"},
        timeout=10,
    )
    assert (missing.status_code, missing.json()["errors"][0]["field"]) == (422, "head")
    assert (
        requests.post(
            f"{gh.url}/repos/{REPO}/issues/9/comments", headers=AUTH, json={"body": "x"}, timeout=10
        ).status_code
        == 404
    )


def test_pygithub_drives_the_sandbox_without_violations(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    gh = github_sandbox
    gh.create_repo(REPO, files={"a.txt": "a\n"})
    client = Github(
        base_url=gh.url, auth=Auth.Token("sandbox-token"), retry=None, seconds_between_requests=None
    )
    repo = client.get_repo(REPO)
    assert repo.default_branch == "main"
    sha = repo.get_git_ref("heads/main").object.sha
    lazy = Github(
        base_url=gh.url,
        auth=Auth.Token("sandbox-token"),
        retry=None,
        seconds_between_requests=None,
        lazy=True,
    )
    created = (
        lazy.get_repo(REPO)
        .get_commit(sha)
        .create_status("pending", target_url="https://ci", description="prep", context="release-data-prep")
    )
    assert created.state == "pending"
    assert lazy.get_repo(REPO).get_commit(sha).get_combined_status().state == "pending"
    deployment = repo.create_deployment(ref="main", environment="dev", required_contexts=[], auto_merge=False)
    deployment.create_status("success", environment_url="https://dev", description="deployed")
    assert [s.state for s in deployment.get_statuses()] == ["success"]
    repo.create_repository_dispatch("release-channel-update", {"container": "my-app"})
    assert gh.dispatches(REPO)[-1]["client_payload"] == {"container": "my-app"}
    assert gh.violations == []
