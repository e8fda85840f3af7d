"""promote-overlay mode pr against the GitHub sandbox: what reaches the pull request (draft,
team reviewers), what is left behind when it cannot be opened, and a revert once it was merged
(merge commit or squash)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests

from gitops_release.adapters.git import Git
from gitops_release.commands.promote_overlay import _delete_branch
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import GitHTTPServer, clone_of, git, make_bare_remote, url_to_path
from tests.integration.test_promote_overlay import (
    DIGEST_1,
    DIGEST_2,
    REPO,
    TOKEN,
    Repo,
    config_files,
    overlay,
    pulls,
)

STAGE = "apps/api/overlays/stage/kustomization.yaml"


@pytest.fixture
def repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Repo:
    return Repo(github_sandbox, tmp_path, config_files())


def test_a_token_that_cannot_open_the_pull_request_leaves_no_branch(repo: Repo) -> None:
    repo.sandbox.add_token(
        "no-pr-token", permissions={"contents": "write", "pull_requests": "read", "metadata": "read"}
    )
    assert repo.branches() == ["main"]

    code, out, err = repo.cli("--from-env", "dev", "--to-env", "stage", token="no-pr-token")

    assert code == 1
    assert "pull_requests: write" in out + err
    # the branch pushed before the PR was refused is deleted again
    assert repo.branches() == ["main"]
    assert repo.sandbox.pulls(REPO) == []
    assert "no-pr-token" not in out + err


def test_draft_and_team_reviewers_reach_the_pull_request(repo: Repo) -> None:
    out = repo.run(from_env="dev", to_env="stage", draft="true", team_reviewers="ops")

    assert out.state == "created"
    [pull] = pulls(repo)
    assert pull["draft"] is True
    assert [team["slug"] for team in pull["requested_teams"]] == ["ops"]


def test_the_branch_is_deleted_on_the_remote_input_with_the_token_as_a_header(
    git_http_server: GitHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    file_url = make_bare_remote(git_http_server.root, {"a.txt": "1\n"}, name="config.git")
    url, token = git_http_server.url("config.git"), git_http_server.token
    checkout = clone_of(file_url, tmp_path / "co")
    git("push", "--quiet", file_url, "HEAD:refs/heads/promote/stage/abc", cwd=checkout)
    sha = git("rev-parse", "HEAD", cwd=checkout).strip()
    # origin is somewhere else: the deletion goes to the remote input, not to "origin"
    git("remote", "set-url", "origin", str(tmp_path / "elsewhere.git"), cwd=checkout)
    argv: list[list[str]] = []
    real = Git._exec

    def spy(self: Git, args: Any, **kwargs: Any) -> Any:
        argv.append(list(args))
        return real(self, args, **kwargs)

    monkeypatch.setattr(Git, "_exec", spy)

    _delete_branch(Git(checkout, token=token, auth_url=url), url, "promote/stage/abc", sha)

    assert git("--git-dir", str(url_to_path(file_url)), "branch", "--list").split() == ["*", "main"]
    assert git_http_server.requests and all(ok for _, _, ok in git_http_server.requests)
    assert argv and not any(token in part for args in argv for part in args)


@pytest.mark.parametrize("method", ["merge", "squash"])
def test_revert_after_the_promotion_pull_request_was_merged(repo: Repo, method: str) -> None:
    opened = repo.run(from_env="dev", to_env="stage")
    merged = requests.put(
        f"{repo.sandbox.url}/repos/{REPO}/pulls/{opened.pr_number}/merge",
        json={"merge_method": method},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=30,
    )
    assert merged.status_code == 200 and merged.json()["merged"] is True
    assert repo.read(STAGE) == overlay("api", "sha-2", DIGEST_2)

    out = repo.run(repo.clone(), to_env="stage", revert="true", mode="commit")

    assert out.state == "committed" and out.plans[0].kind == "rollback"
    assert repo.read(STAGE) == overlay("api", "sha-1", DIGEST_1)
    assert repo.read("apps/web/overlays/stage/kustomization.yaml") == overlay("web", "sha-1", DIGEST_1)
