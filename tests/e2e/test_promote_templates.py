"""e2e: the promotion templates, as a user copies them, run by act against the GitHub sandbox.

The config repository is the config-repo template (policy, base, dev/stage/prod overlays and the
workflows) in a sandbox repository ``org/config``; dev has just received a release (the commit
update-db's write-through makes). act runs, with gitops-release/gitops-release@v1 mapped to this
working tree:

- promote.yml on a workflow_dispatch dev -> stage: the pull request exists in the sandbox with
  the branch ``promote/stage/<plan key>``, the title, the policy's labels and the stage overlay
  on that branch holding exactly dev's image entries (every other byte as it was) plus the
  release manifest; main is untouched. The same dispatch again reuses the pull request.
- verify-overlays.yml on a pull_request: a hand edit that puts a mutable tag into stage fails
  the check, one that copies dev's image entries into stage passes.

The token the workflows get has only the permissions promote.yml declares (the sandbox refuses
anything else with GitHub's 403), so the template's least-privilege claim is tested too.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import clone_of, git, url_to_path

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "config-repo"
PROMOTE = ".github/workflows/promote.yml"
VERIFY = ".github/workflows/verify-overlays.yml"
CONFIG = "org/config"
TOKEN = "ghp_e2ePromoteToken0123456789abcdef"
OVERLAYS = "infra/argocd/overlays"
DEV_TAG = "sha-4f2c9d8e"
APP_DIGEST = "sha256:" + "3b" * 32
WORKER_DIGEST = "sha256:" + "5c" * 32
PLACEHOLDER = "    newTag: sha-00000000\n"


def template_files() -> dict[str, str]:
    return {
        path.relative_to(TEMPLATE).as_posix(): path.read_text(encoding="utf-8")
        for path in TEMPLATE.rglob("*")
        if path.is_file()
    }


def released(overlay: str) -> str:
    """The overlay with dev's release in both image entries (tag and digest), comments kept."""
    app, worker = (
        f"    newTag: {DEV_TAG}\n    digest: {APP_DIGEST}\n",
        f"    newTag: {DEV_TAG}\n    digest: {WORKER_DIGEST}\n",
    )
    assert overlay.count(PLACEHOLDER) == 2, "the premise changed: the template's overlays hold two entries"
    first = overlay.index(PLACEHOLDER)
    second = overlay.index(PLACEHOLDER, first + 1)
    return (
        overlay[:first]
        + app
        + overlay[first + len(PLACEHOLDER) : second]
        + worker
        + overlay[second + len(PLACEHOLDER) :]
    )


def commit_all(checkout: Path, message: str) -> str:
    git("add", "-A", cwd=checkout)
    git("commit", "-q", "--no-gpg-sign", "-m", message, cwd=checkout)
    return git("rev-parse", "HEAD", cwd=checkout).strip()


@pytest.fixture
def config_repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Path:
    """org/config from the template with dev's release pushed; a clone of it (origin = sandbox)."""
    github_sandbox.add_token(
        TOKEN, permissions={"contents": "write", "pull_requests": "write", "deployments": "read"}
    )
    github_sandbox.create_repo(CONFIG, files=template_files())
    checkout = clone_of(github_sandbox.git_url(CONFIG), tmp_path / "config")
    dev = checkout / OVERLAYS / "dev" / "kustomization.yaml"
    dev.write_text(released(dev.read_text(encoding="utf-8")), encoding="utf-8")
    commit_all(checkout, f"chore(release): my-app dev sha-00000000 → {DEV_TAG}")
    git("push", "-q", "origin", "HEAD:main", cwd=checkout)
    return checkout


def dispatch_event(**inputs: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "from-env": "dev", "to-env": "stage", "images": "", "tag": "", "digest": "",
        "revert": False, "mode": "pr", "allow-skip": False, "draft": False,
    }  # fmt: skip
    return {"inputs": {**defaults, **inputs}, "ref": "refs/heads/main"}


def run_promote(act_runner: Any, sandbox: GitHubSandbox, checkout: Path, event: dict[str, Any]) -> Any:
    return act_runner.run(
        checkout / PROMOTE,
        "workflow_dispatch",
        event,
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


def show(sandbox: GitHubSandbox, ref: str, path: str) -> str:
    return git("show", f"{ref}:{path}", cwd=url_to_path(sandbox.git_url(CONFIG)))


def test_promote_dispatch_opens_the_pull_request_and_a_rerun_reuses_it(
    act_runner: Any, github_sandbox: GitHubSandbox, config_repo: Path
) -> None:
    main_before = git("rev-parse", "main", cwd=url_to_path(github_sandbox.git_url(CONFIG))).strip()
    stage_before = show(github_sandbox, "main", f"{OVERLAYS}/stage/kustomization.yaml")

    result = run_promote(act_runner, github_sandbox, config_repo, dispatch_event())
    assert result.rc == 0, result.log[-6000:]
    assert result.jobs.get("promote") == "success", result.jobs
    outputs = result.outputs.get("promote.promote", {})
    assert outputs.get("state") == "created", outputs
    assert outputs.get("changed") == "true", outputs

    [pull] = github_sandbox.pulls(CONFIG)
    assert pull["state"] == "open"
    assert pull["base"]["ref"] == "main"
    branch = pull["head"]["ref"]
    assert re.fullmatch(r"promote/stage/[0-9a-f]{10}", branch), branch
    assert pull["title"] == f"promote my-app:{DEV_TAG}, my-app-worker:{DEV_TAG} to stage"
    assert {label["name"] for label in pull["labels"]} >= {"promotion", "stage"}  # the policy's
    assert f"key={branch.rsplit('/', 1)[1]}" in pull["body"]  # the hidden plan marker
    assert "- [ ] Verify image tag matches dev" in pull["body"]  # stage's checklist (seed 003)
    assert pull["draft"] is False
    assert outputs.get("pr-number") == str(pull["number"])
    assert outputs.get("pr-url") == pull["html_url"]

    # The branch: stage holds dev's exact entries, every other byte of the overlay as it was.
    assert show(github_sandbox, branch, f"{OVERLAYS}/stage/kustomization.yaml") == released(stage_before)
    manifest = json.loads(show(github_sandbox, branch, f"{OVERLAYS}/stage/release-manifest.json"))
    assert APP_DIGEST in json.dumps(manifest) and WORKER_DIGEST in json.dumps(manifest)
    assert outputs.get("release-manifest") == f"{OVERLAYS}/stage/release-manifest.json"
    assert outputs.get("commit-sha") == pull["head"]["sha"]
    # Only the stage directory changed, and main did not move.
    changed = git(
        "diff", "--name-only", "main", branch, cwd=url_to_path(github_sandbox.git_url(CONFIG))
    ).split()
    assert sorted(changed) == [
        f"{OVERLAYS}/stage/kustomization.yaml",
        f"{OVERLAYS}/stage/release-manifest.json",
    ]
    assert git("rev-parse", "main", cwd=url_to_path(github_sandbox.git_url(CONFIG))).strip() == main_before
    assert "promote" in result.summary and DEV_TAG in result.summary  # the plan in the step summary

    # The same dispatch again: the same pull request, its branch not rewritten, no second one.
    again = run_promote(act_runner, github_sandbox, config_repo, dispatch_event())
    assert again.rc == 0, again.log[-6000:]
    rerun = again.outputs.get("promote.promote", {})
    assert rerun.get("state") == "not-updated", rerun
    assert rerun.get("pr-number") == str(pull["number"])
    [same] = github_sandbox.pulls(CONFIG)
    assert same["number"] == pull["number"] and same["head"]["sha"] == pull["head"]["sha"]


def run_verify(act_runner: Any, sandbox: GitHubSandbox, checkout: Path, base_sha: str) -> Any:
    head_sha = git("rev-parse", "HEAD", cwd=checkout).strip()
    event = {
        "action": "opened",
        "number": 7,
        "pull_request": {
            "number": 7,
            "base": {"ref": "main", "sha": base_sha},
            "head": {"ref": "hand-edit", "sha": head_sha},
        },
        "repository": {"full_name": CONFIG, "default_branch": "main"},
    }
    return act_runner.run(
        checkout / VERIFY,
        "pull_request",
        event,
        workdir=checkout,
        env={"GITHUB_REPOSITORY": CONFIG, "GITOPS_RELEASE_PYTHON": sys.executable},
        local_actions={"gitops-release/gitops-release@v1": ROOT},
        timeout=240,
    )


def hand_edit(checkout: Path, new_stage: str) -> str:
    """Commit ``new_stage`` as stage's overlay on a branch hand-edit; return the base commit."""
    base = git("rev-parse", "HEAD", cwd=checkout).strip()
    git("checkout", "-q", "-b", "hand-edit", cwd=checkout)
    (checkout / OVERLAYS / "stage" / "kustomization.yaml").write_text(new_stage, encoding="utf-8")
    commit_all(checkout, "stage: hand edit")
    return base


def test_verify_overlays_fails_a_hand_edit_with_a_mutable_tag(
    act_runner: Any, github_sandbox: GitHubSandbox, config_repo: Path
) -> None:
    stage = (config_repo / OVERLAYS / "stage" / "kustomization.yaml").read_text(encoding="utf-8")
    base = hand_edit(config_repo, stage.replace(PLACEHOLDER, "    newTag: latest\n", 1))

    result = run_verify(act_runner, github_sandbox, config_repo, base)
    assert result.rc != 0, result.log[-6000:]
    assert result.jobs.get("verify") == "failure", result.jobs
    errors = [message for level, _, message in result.annotations if level == "error"]
    assert any("latest" in message and "mutable" in message for message in errors), result.annotations


def test_verify_overlays_passes_a_hand_edit_that_copies_dev(
    act_runner: Any, github_sandbox: GitHubSandbox, config_repo: Path
) -> None:
    stage = (config_repo / OVERLAYS / "stage" / "kustomization.yaml").read_text(encoding="utf-8")
    base = hand_edit(config_repo, released(stage))

    result = run_verify(act_runner, github_sandbox, config_repo, base)
    assert result.rc == 0, result.log[-6000:]
    assert result.jobs.get("verify") == "success", result.jobs
    assert result.outputs.get("verify.verify", {}).get("state") == "verified", result.outputs


def test_promote_dispatch_with_a_tag_opens_a_rollback_pull_request(
    act_runner: Any, github_sandbox: GitHubSandbox, config_repo: Path
) -> None:
    """A pin from the Actions tab: promote.yml passes no from-env with a tag (the command refuses
    both at once), and the pull request is a labelled rollback of prod's app image only."""
    old_digest = "sha256:" + "0d" * 32  # prod requires a digest (tags.requireDigest)
    event = dispatch_event(
        **{"to-env": "prod", "images": "my-app", "tag": "sha-0ld0ld00", "digest": old_digest}
    )
    result = run_promote(act_runner, github_sandbox, config_repo, event)
    assert result.rc == 0, result.log[-6000:]
    assert result.outputs.get("promote.promote", {}).get("state") == "created", result.outputs
    [pull] = github_sandbox.pulls(CONFIG)
    assert pull["title"] == "rollback my-app:sha-0ld0ld00 in prod"
    assert re.fullmatch(r"promote/prod/[0-9a-f]{10}", pull["head"]["ref"])
    assert {label["name"] for label in pull["labels"]} >= {"rollback", "promotion", "prod"}
    prod = show(github_sandbox, pull["head"]["ref"], f"{OVERLAYS}/prod/kustomization.yaml")
    before = show(github_sandbox, "main", f"{OVERLAYS}/prod/kustomization.yaml")
    assert prod == before.replace(PLACEHOLDER, f"    newTag: sha-0ld0ld00\n    digest: {old_digest}\n", 1)


def test_verify_overlays_judges_a_pull_request_by_the_base_policy(
    act_runner: Any, github_sandbox: GitHubSandbox, config_repo: Path
) -> None:
    """The same pull request turns tags.immutable off and puts latest into stage: still refused."""
    policy = config_repo / ".gitops-release.yml"
    text = policy.read_text(encoding="utf-8")
    assert "  immutable: true" in text
    policy.write_text(text.replace("  immutable: true", "  immutable: false", 1), encoding="utf-8")
    stage = (config_repo / OVERLAYS / "stage" / "kustomization.yaml").read_text(encoding="utf-8")
    base = hand_edit(config_repo, stage.replace(PLACEHOLDER, "    newTag: latest\n", 1))

    result = run_verify(act_runner, github_sandbox, config_repo, base)
    assert result.rc != 0, result.log[-6000:]
    assert result.jobs.get("verify") == "failure", result.jobs
    errors = [message for level, _, message in result.annotations if level == "error"]
    assert any("latest" in message and "mutable" in message for message in errors), result.annotations
