"""e2e: the whole release flow over exactly the files ``gitops-release init`` writes, every workflow
run by act against the GitHub sandbox and the Argo CD sandbox.

Setup, as a new user does it: ``init config-repo`` into a clone of the (empty) sandbox repository
``org/config``, commit, push; the Argo CD sandbox gets the Applications init wrote
(infra/argocd-apps/application-{dev,stage,prod}.yaml, as ``kubectl apply`` would), their repoURL
``https://github.com/org/config.git`` served from that sandbox repository; ``init source-repo``
into a new source repository ``org/my-app``. gitops-release/gitops-release@v1 (the templates'
``uses:``) is this working tree; the docker/* and upload-artifact actions map to the stand-ins in
tests/e2e/actions, as in the per-template e2e tests. Each workflow's token has exactly the
permissions its jobs declare (the sandbox refuses anything else with GitHub's 403).

1. source repo, push to main: update-release-channel.yml builds (stand-in) and dispatches -> the
   sandbox records one repository_dispatch to org/config.
2. config repo, that repository_dispatch: update-release-channel-db.yml -> a commit on main with
   the release in db/db.json and in the dev overlay (write-through for dev releases).
3. promote.yml, workflow_dispatch dev -> stage: a pull request in the sandbox; a reviewer merges
   it through the sandbox's API.
4. The push of the merge commit (Argo CD gets the git webhook), two independent runs at once:
   await-argocd-sync.yml waits until dev and stage run that commit (evidence uploaded, each
   environment's deployment status success via report-status), and release-data-prep.yml
   (commit status release-data-prep pending -> success, staging deployment in_progress -> success).
5. Rollback of stage (seed 004), as an operator does it: promote.yml, workflow_dispatch with
   to-env stage and revert checked -> a pull request labelled rollback that reverts the last
   promotion of stage's overlay; a reviewer merges it; the merge commit's push runs
   await-argocd-sync.yml again: Argo CD runs the reverted commit Synced + Healthy in stage, and the
   Report step (report-status from the evidence) ends that commit's stage deployment in success.

``overlays status`` (the CLI, in the config checkout) shows what runs where after the release
(dev ahead of stage and prod) and after the rollback (stage back on init's tag, dev unchanged).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.argocd import ArgoCDSandbox
from gitops_release.sandbox.argocd.applications import Timing
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.e2e.test_source_repo_template import stand_in_digest
from tests.fixtures.git_remotes import clone_of, git, url_to_path
from tests.fixtures.github_sandbox import sandbox_api

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GITOPS_RELEASE = Path(sys.executable).with_name("gitops-release")
CONFIG = "org/config"
SOURCE = "org/my-app"
CONFIG_URL = "https://github.com/org/config.git"  # the repoURL init writes for --config-repository
STAND_INS = ROOT / "tests/e2e/actions"
ACTION = {"gitops-release/gitops-release@v1": ROOT}

SOURCE_WORKFLOW = ".github/workflows/update-release-channel.yml"
UPDATE_DB = ".github/workflows/update-release-channel-db.yml"
PROMOTE = ".github/workflows/promote.yml"
AWAIT = ".github/workflows/await-argocd-sync.yml"
PREP = ".github/workflows/release-data-prep.yml"
OVERLAYS = "infra/argocd/overlays"
INIT_TAG = "sha-00000000"  # the placeholder tag init writes in every overlay

DISPATCH_TOKEN = "ghp_e2eFlowDispatchToken0123456789abcd"
ARGOCD_TOKEN = "argocd-e2e-flow-token-0123456789abcdef"
# One github.token per workflow, with what its jobs declare (sandbox permission names).
WORKFLOW_TOKENS = {
    UPDATE_DB: ("ghp_e2eFlowUpdateDbToken0123456789abc", {"contents": "write"}),
    PROMOTE: (
        "ghp_e2eFlowPromoteToken0123456789abcd",
        {"contents": "write", "pull_requests": "write", "deployments": "read"},
    ),
    AWAIT: ("ghp_e2eFlowAwaitToken0123456789abcdef", {"contents": "read", "deployments": "write"}),
    PREP: (
        "ghp_e2eFlowPrepToken0123456789abcdefg",
        {"contents": "read", "statuses": "write", "deployments": "write"},
    ),
}


def gitops_release(*args: str, cwd: Path) -> str:
    """The CLI as a user runs it (the console script of this environment)."""
    done = subprocess.run(
        [str(GITOPS_RELEASE), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def stand_ins(workflow: Path) -> dict[str, Path]:
    """The pinned third-party actions a workflow uses -> the stand-ins act runs instead."""
    names = {
        "docker/setup-buildx-action": "docker-setup-standin",
        "docker/login-action": "docker-setup-standin",
        "docker/build-push-action": "build-push-standin",
        "actions/upload-artifact": "upload-artifact-standin",
    }
    mapped = {}
    text = workflow.read_text(encoding="utf-8")
    for name, pin in re.findall(r"uses: ([\w-]+/[\w-]+)@([0-9a-f]{40})", text):
        if name != "actions/checkout":  # act copies the workdir for it, no network
            assert name in names, f"{workflow.name} uses {name}: give it a stand-in"
            mapped[f"{name}@{pin}"] = STAND_INS / names[name]
    return mapped


def sync_checkout(checkout: Path) -> str:
    """Move the config checkout to origin's main (what actions/checkout gives the next run)."""
    git("fetch", "-q", "origin", cwd=checkout)
    git("checkout", "-q", "-B", "main", "origin/main", cwd=checkout)
    return git("rev-parse", "HEAD", cwd=checkout).strip()


def promote_dispatch(**inputs: str) -> dict[str, Any]:
    """promote.yml's workflow_dispatch event: its defaults + ``inputs``, every value a string as in
    GitHub's payload (``github.event.inputs``: booleans are "true" / "false"; act, like GitHub, makes
    ``inputs.revert`` true only for "true")."""
    defaults = {
        "from-env": "dev", "to-env": "stage", "images": "", "tag": "", "digest": "",
        "revert": "false", "mode": "pr", "allow-skip": "false", "draft": "false",
    }  # fmt: skip
    return {"inputs": {**defaults, **inputs}, "ref": "refs/heads/main"}


def app_tags(config: Path) -> dict[str, str | None]:
    """my-app's tag per environment from ``overlays status --format json`` (None: not in the env)."""
    status = json.loads(gitops_release("overlays", "status", "--format", "json", cwd=config))
    assert status["environments"] == ["dev", "stage", "prod"], status
    [row] = [row for row in status["images"] if row["image"] == "ghcr.io/org/my-app"]
    return {env: cell and cell["tag"] for env, cell in row["environments"].items()}


def push_event(before: str, after: str) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": {"full_name": CONFIG, "default_branch": "main"},
    }


@pytest.fixture
def argocd() -> Iterator[ArgoCDSandbox]:
    timing = Timing(sync_duration=0.3, progressing_duration=0.5)
    with ArgoCDSandbox(timing=timing, tokens=(ARGOCD_TOKEN,)) as sandbox:
        yield sandbox
        assert not sandbox.violations, sandbox.violations


def test_the_whole_flow_runs_on_the_files_init_writes(
    act_runner: Any, github_sandbox: GitHubSandbox, argocd: ArgoCDSandbox, tmp_path: Path
) -> None:
    sandbox = github_sandbox
    sandbox.add_token(
        DISPATCH_TOKEN, permissions={"contents": "write"}, repositories=[CONFIG], login="my-app-release[bot]"
    )
    for token, permissions in WORKFLOW_TOKENS.values():
        sandbox.add_token(token, permissions=permissions, repositories=[CONFIG], login="github-actions[bot]")

    # -- setup: init config-repo, pushed to the sandbox; Argo CD applies the Applications init wrote
    sandbox.create_repo(CONFIG)
    config_remote = sandbox.git_url(CONFIG)
    config = clone_of(config_remote, tmp_path / "config")
    gitops_release(
        "init", "config-repo", "--repository", SOURCE, "--config-repository", CONFIG, "--dir", ".", cwd=config
    )
    git("add", "-A", cwd=config)
    git("commit", "-q", "--no-gpg-sign", "-m", "gitops-release init config-repo", cwd=config)
    git("push", "-q", "origin", "HEAD:main", cwd=config)
    argocd.store.register_repo(CONFIG_URL, url_to_path(config_remote))
    for env in ("dev", "stage", "prod"):
        manifest = (config / f"infra/argocd-apps/application-{env}.yaml").read_text(encoding="utf-8")
        assert f"repoURL: {CONFIG_URL}" in manifest
        argocd.store.add_application(manifest)

    source = tmp_path / "my-app"
    source.mkdir()
    gitops_release("init", "source-repo", "--config-repository", CONFIG, "--dir", ".", cwd=source)
    (source / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    git("init", "-q", "-b", "main", cwd=source)
    git("add", "-A", cwd=source)
    git("commit", "-q", "--no-gpg-sign", "-m", "my-app", cwd=source)
    sha = git("rev-parse", "HEAD", cwd=source).strip()
    tag = f"sha-{sha[:8]}"
    digest = stand_in_digest(f"ghcr.io/org/my-app:{tag}")

    def run(workflow: str, event: str, payload: dict[str, Any], **kwargs: Any) -> Any:
        """An init-written config repo workflow under act, with its own github.token."""
        token = WORKFLOW_TOKENS[workflow][0]
        return act_runner.run(
            config / workflow,
            event,
            payload,
            workdir=config,
            env={
                "GITHUB_REPOSITORY": CONFIG,
                "GITHUB_API_URL": sandbox.url,
                "GITOPS_RELEASE_PYTHON": sys.executable,
                **kwargs.pop("env", {}),
            },
            secrets={"GITHUB_TOKEN": token, **kwargs.pop("secrets", {})},
            local_actions={**ACTION, **stand_ins(config / workflow)},
            timeout=240,
            **kwargs,
        )

    # -- 1. the source repo's build dispatches the release
    built = act_runner.run(
        source / SOURCE_WORKFLOW,
        "push",
        {"ref": "refs/heads/main", "after": sha, "repository": {"name": "my-app", "full_name": SOURCE}},
        workdir=source,
        env={"GITHUB_API_URL": sandbox.url, "GITHUB_REPOSITORY": SOURCE},
        secrets={"RELEASE_DISPATCH_TOKEN": DISPATCH_TOKEN},
        local_actions={**ACTION, **stand_ins(source / SOURCE_WORKFLOW)},
        timeout=240,
    )
    assert built.rc == 0, built.log[-6000:]
    (dispatch,) = sandbox.dispatches(CONFIG)
    assert dispatch["event_type"] == "release-channel-update"
    release = dispatch["client_payload"]
    assert (release["container"], release["channel"]) == ("my-app", "dev")
    assert release["image"] == "ghcr.io/org/my-app"
    assert (release["tag"], release["digest"], release["source"]["sha"]) == (tag, digest, sha)

    # -- 2. the config repo records it: db.json and the dev overlay, one commit on main
    init_commit = sync_checkout(config)
    recorded = run(UPDATE_DB, "repository_dispatch", sandbox.event_json(CONFIG))
    assert recorded.rc == 0, recorded.log[-6000:]
    assert recorded.outputs.get("update-db.update-db", {}).get("changed") == "true", recorded.outputs
    released = sync_checkout(config)
    assert git("log", "-1", "--format=%s", cwd=config).strip() == f"chore(release): my-app dev none → {tag}"
    assert git("rev-parse", "HEAD^", cwd=config).strip() == init_commit
    [stored] = json.loads((config / "db/db.json").read_text(encoding="utf-8"))["releases"]
    stored.pop("updatedAt")
    assert stored == release
    dev_overlay = (config / OVERLAYS / "dev/kustomization.yaml").read_text(encoding="utf-8")
    assert f"    newTag: {tag}\n    digest: {digest}\n" in dev_overlay
    changed = git("diff", "--name-only", init_commit, released, cwd=config).split()
    assert sorted(changed) == ["db/db.json", f"{OVERLAYS}/dev/kustomization.yaml"]
    argocd.store.notify_push(CONFIG_URL)  # the git webhook

    # What runs where, as a user asks it: the release is in dev only, dev is ahead.
    table = gitops_release("overlays", "status", cwd=config)
    [row] = [line.split() for line in table.splitlines() if "ghcr.io/org/my-app " in f"{line} "]
    # APP (- : one app, no * in overlays.dir), IMAGE, DEV, STAGE, PROD (tag@12 hex of the digest), STATUS
    assert row == ["-", "ghcr.io/org/my-app", f"{tag}@{digest[:19]}", INIT_TAG, INIT_TAG, "differs"], table
    assert app_tags(config) == {"dev": tag, "stage": INIT_TAG, "prod": INIT_TAG}

    # -- 3. promote dev -> stage by pull request; a reviewer merges it
    promoted = run(PROMOTE, "workflow_dispatch", promote_dispatch(**{"from-env": "dev", "to-env": "stage"}))
    assert promoted.rc == 0, promoted.log[-6000:]
    assert promoted.outputs.get("promote.promote", {}).get("state") == "created", promoted.outputs
    [pull] = sandbox.pulls(CONFIG)
    assert pull["state"] == "open" and pull["base"]["ref"] == "main"
    assert pull["title"] == f"promote my-app:{tag} to stage"
    assert {label["name"] for label in pull["labels"]} >= {"promotion", "stage"}
    merged = sandbox_api(
        sandbox, "PUT", f"/repos/{CONFIG}/pulls/{pull['number']}/merge", {"merge_method": "merge"}
    )
    assert merged["merged"] is True
    head = sync_checkout(config)
    assert head == merged["sha"]
    stage_overlay = (config / OVERLAYS / "stage/kustomization.yaml").read_text(encoding="utf-8")
    assert f"    newTag: {tag}\n    digest: {digest}\n" in stage_overlay
    argocd.store.notify_push(CONFIG_URL)  # the git webhook

    # -- 4. the merge commit's push: Argo CD's wait and the release data prep, at once
    artifacts = tmp_path / "artifacts"
    with ThreadPoolExecutor(max_workers=2) as pool:
        waiting = pool.submit(
            run,
            AWAIT,
            "push",
            push_event(released, head),
            env={"UPLOAD_STANDIN_DIR": str(artifacts)},
            secrets={"ARGOCD_TOKEN": ARGOCD_TOKEN},
            variables={"ARGOCD_SERVER": argocd.url},
            allow_skipped={"sync"},  # the manual prod sync (workflow_dispatch)
        )
        preparing = pool.submit(
            run, PREP, "push", push_event(released, head), allow_skipped={"pull-request", "preview-closed"}
        )
        awaited, prepared = waiting.result(), preparing.result()

    assert awaited.rc == 0, awaited.log[-8000:]
    assert awaited.jobs.get("await") == "success", awaited.jobs
    for env in ("dev", "stage"):
        app = argocd.store.get(f"my-app-{env}")
        assert app["status"]["sync"]["revision"] == head, app["status"]
        assert app["status"]["health"]["status"] == "Healthy", app["status"]
        path = artifacts / f"argocd-evidence-{env}" / f"argocd-evidence-{env}.json"
        [entry] = json.loads(path.read_text(encoding="utf-8"))["applications"]
        assert entry["name"] == f"my-app-{env}" and entry["verdict"] == "done", entry
        assert entry["revision"]["synced"] == [head], entry
        assert any(f"ghcr.io/org/my-app:{tag}" in image for image in entry["images"]["live"]), entry
        [deployment] = [d for d in sandbox.deployments(CONFIG) if d["environment"] == env]
        assert deployment["sha"] == head
        [status] = sandbox.deployment_statuses(CONFIG, deployment["id"])
        assert status["state"] == "success", status
        assert status["environment_url"] == f"{argocd.url}/applications/argocd/my-app-{env}", status
    assert "operation" not in argocd.store.get("my-app-prod")  # prod syncs by hand only

    assert prepared.rc == 0, prepared.log[-8000:]
    assert prepared.jobs.get("main") == "success", prepared.jobs
    statuses = [s for s in sandbox.statuses(CONFIG, head) if s["context"] == "release-data-prep"]
    assert [s["state"] for s in statuses] == ["pending", "success"], statuses
    [staging] = [d for d in sandbox.deployments(CONFIG) if d["environment"] == "staging"]
    assert staging["sha"] == head
    staging_statuses = sorted(sandbox.deployment_statuses(CONFIG, staging["id"]), key=lambda s: s["id"])
    assert [s["state"] for s in staging_statuses] == ["in_progress", "success"], staging_statuses

    # -- 5. rollback of stage: revert its last promotion by pull request; a reviewer merges it
    reverted = run(PROMOTE, "workflow_dispatch", promote_dispatch(**{"to-env": "stage", "revert": "true"}))
    assert reverted.rc == 0, reverted.log[-6000:]
    assert reverted.outputs.get("promote.promote", {}).get("state") == "created", reverted.outputs
    [rollback] = [p for p in sandbox.pulls(CONFIG) if p["number"] != pull["number"]]
    assert rollback["state"] == "open" and rollback["base"]["ref"] == "main", rollback
    assert rollback["title"] == f"rollback my-app:{INIT_TAG} in stage"
    assert {label["name"] for label in rollback["labels"]} >= {"rollback", "stage"}, rollback["labels"]
    merged = sandbox_api(
        sandbox, "PUT", f"/repos/{CONFIG}/pulls/{rollback['number']}/merge", {"merge_method": "merge"}
    )
    assert merged["merged"] is True
    rolled_back = sync_checkout(config)
    assert rolled_back == merged["sha"]
    # Only stage's overlay changed (its images back to what they were before the promotion: init's
    # tag, no digest) and the release manifest promote-overlay keeps beside it.
    assert git("diff", "--name-only", head, rolled_back, cwd=config).split() == [
        f"{OVERLAYS}/stage/kustomization.yaml",
        f"{OVERLAYS}/stage/release-manifest.json",
    ]
    assert (config / OVERLAYS / "stage/kustomization.yaml").read_text(encoding="utf-8") == (
        git("show", f"{released}:{OVERLAYS}/stage/kustomization.yaml", cwd=config)
    )
    manifest = json.loads((config / OVERLAYS / "stage/release-manifest.json").read_text(encoding="utf-8"))
    promotion = git("rev-parse", f"{head}^2", cwd=config).strip()  # the promotion pull request's commit
    assert (manifest["kind"], manifest["sourceCommit"], manifest["pullRequest"]) == (
        "rollback", promotion, rollback["number"]
    ), manifest  # fmt: skip
    assert app_tags(config) == {"dev": tag, "stage": INIT_TAG, "prod": INIT_TAG}
    argocd.store.notify_push(CONFIG_URL)  # the git webhook

    # The merge commit's push: Argo CD runs the rollback, the Report step records it.
    rollback_artifacts = tmp_path / "rollback-artifacts"
    recovered = run(
        AWAIT,
        "push",
        push_event(head, rolled_back),
        env={"UPLOAD_STANDIN_DIR": str(rollback_artifacts)},
        secrets={"ARGOCD_TOKEN": ARGOCD_TOKEN},
        variables={"ARGOCD_SERVER": argocd.url},
        allow_skipped={"sync"},
    )
    assert recovered.rc == 0, recovered.log[-8000:]
    assert recovered.jobs.get("await") == "success", recovered.jobs
    app = argocd.store.get("my-app-stage")
    assert app["status"]["sync"] == {**app["status"]["sync"], "status": "Synced", "revision": rolled_back}
    assert app["status"]["health"]["status"] == "Healthy", app["status"]
    path = rollback_artifacts / "argocd-evidence-stage" / "argocd-evidence-stage.json"
    [entry] = json.loads(path.read_text(encoding="utf-8"))["applications"]
    assert entry["verdict"] == "done" and entry["revision"]["synced"] == [rolled_back], entry
    assert any(image.endswith(f"ghcr.io/org/my-app:{INIT_TAG}") for image in entry["images"]["live"]), entry
    assert not any(tag in image for image in entry["images"]["live"]), entry
    [deployment] = [
        d for d in sandbox.deployments(CONFIG) if (d["environment"], d["sha"]) == ("stage", rolled_back)
    ]
    assert [s["state"] for s in sandbox.deployment_statuses(CONFIG, deployment["id"])] == ["success"]

    # Least privilege held (no 403 anywhere), and no token reached a log.
    assert [r for r in sandbox.requests if r.status == 403] == []
    logs = built.log + recorded.log + promoted.log + awaited.log + prepared.log + reverted.log + recovered.log
    for token in (DISPATCH_TOKEN, ARGOCD_TOKEN, *(t for t, _ in WORKFLOW_TOKENS.values())):
        assert token not in logs
