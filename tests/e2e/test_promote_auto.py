"""e2e: templates/config-repo/.github/workflows/auto-promote.yml on its schedule, under act.

dev has a release (the config repo as in test_promote_templates.py) and a GitHub deployment of
it in the sandbox. The hourly run promotes dev -> stage by pull request only when that
deployment is success and at least 2h old; before that it ends green without a pull request
(if-not-ready: skip), and it holds each image whose last change in stage is a rollback
(hold-after-rollback). The token has exactly the permissions the workflow declares.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.e2e.test_promote_templates import (
    CONFIG,
    DEV_TAG,
    OVERLAYS,
    ROOT,
    TOKEN,
    commit_all,
    config_repo,  # noqa: F401 - the fixture, used by name
)
from tests.fixtures.git_remotes import git, url_to_path
from tests.fixtures.github_sandbox import SANDBOX_TOKEN

pytestmark = pytest.mark.e2e

AUTO = ".github/workflows/auto-promote.yml"


def api(sandbox: GitHubSandbox, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A POST with the sandbox's full-permission token (what Argo CD's reporter would use)."""
    request = urllib.request.Request(
        f"{sandbox.url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {SANDBOX_TOKEN}",
            "Accept": "application/vnd.github+json",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def deploy_dev(sandbox: GitHubSandbox, *, hours_ago: float) -> None:
    """A successful deployment of main's head to dev, finished ``hours_ago``."""
    head = git("rev-parse", "main", cwd=url_to_path(sandbox.git_url(CONFIG))).strip()
    deployment = api(
        sandbox,
        f"/repos/{CONFIG}/deployments",
        {"ref": head, "environment": "dev", "auto_merge": False, "required_contexts": []},
    )
    api(sandbox, f"/repos/{CONFIG}/deployments/{deployment['id']}/statuses", {"state": "success"})
    if hours_ago:
        # The sandbox stamps the wall clock; move this deployment into the past (test-only access).
        moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - hours_ago * 3600))
        repo = sandbox._repo(CONFIG)
        [record] = [d for d in repo.deployments if d["id"] == deployment["id"]]
        for item in (record, *repo.deployment_statuses[deployment["id"]]):
            item["created_at"] = item["updated_at"] = moment


def run_auto(act_runner: Any, sandbox: GitHubSandbox, checkout: Path) -> Any:
    result = act_runner.run(
        checkout / AUTO,
        "schedule",
        {"schedule": "17 * * * *"},
        workdir=checkout,
        env={
            "GITHUB_REPOSITORY": CONFIG,
            "GITHUB_API_URL": sandbox.url,
            "GITOPS_RELEASE_PYTHON": sys.executable,
        },
        secrets={"GITHUB_TOKEN": TOKEN},
        local_actions={"gitops-release/gitops-release@v1": ROOT},
        timeout=240,
    )
    assert result.rc == 0, result.log[-6000:]
    assert result.jobs.get("promote-stage") == "success", result.jobs
    return result


def notices(result: Any) -> str:
    return "\n".join(message for level, _, message in result.annotations if level in ("notice", "warning"))


def test_auto_promote_waits_for_the_soak_time_then_opens_the_pull_request(
    act_runner: Any,
    github_sandbox: GitHubSandbox,
    config_repo: Path,  # noqa: F811
) -> None:
    deploy_dev(github_sandbox, hours_ago=0)  # deployed just now: 2h of soak are missing
    waiting = run_auto(act_runner, github_sandbox, config_repo)
    assert waiting.outputs.get("promote-stage.promote", {}).get("state") == "no-change", waiting.outputs
    assert github_sandbox.pulls(CONFIG) == []
    assert "2h" in notices(waiting) or "soak" in notices(waiting), waiting.annotations

    deploy_dev(github_sandbox, hours_ago=3)  # the latest deployment succeeded three hours ago
    ready = run_auto(act_runner, github_sandbox, config_repo)
    assert ready.outputs.get("promote-stage.promote", {}).get("state") == "created", ready.outputs
    [pull] = github_sandbox.pulls(CONFIG)
    assert re.fullmatch(r"promote/stage/[0-9a-f]{10}", pull["head"]["ref"])
    assert DEV_TAG in pull["title"] and pull["title"].endswith(" to stage")
    assert {label["name"] for label in pull["labels"]} >= {"auto-promotion", "promotion", "stage"}
    assert pull["state"] == "open" and not pull["merged"], "auto-promotion never merges"


def test_auto_promote_holds_stage_after_a_rollback(
    act_runner: Any,
    github_sandbox: GitHubSandbox,
    config_repo: Path,  # noqa: F811
) -> None:
    # A person rolled stage back with `git revert` of a promotion (seed 003's option 1) of both
    # images (the hold is per image: one the rollback did not touch would be promoted).
    stage = config_repo / OVERLAYS / "stage" / "kustomization.yaml"
    stage.write_text(
        stage.read_text(encoding="utf-8").replace("sha-00000000", "sha-0badc0de"), encoding="utf-8"
    )
    promoted = commit_all(config_repo, "promote my-app:sha-0badc0de, my-app-worker:sha-0badc0de to stage")
    git("revert", "--no-edit", promoted, cwd=config_repo)
    git("push", "-q", "origin", "HEAD:main", cwd=config_repo)
    deploy_dev(github_sandbox, hours_ago=3)

    held = run_auto(act_runner, github_sandbox, config_repo)
    assert held.outputs.get("promote-stage.promote", {}).get("state") == "no-change", held.outputs
    assert github_sandbox.pulls(CONFIG) == []
    assert "rollback" in notices(held), held.annotations
