"""e2e: a promotion lands on main, Argo CD (the sandbox) syncs it, await-argocd-sync.yml waits under act.

The config repo is the config-repo template in the GitHub sandbox (``org/config``, dev holding a
release, as in test_promote_templates.py). The Argo CD sandbox, started here, has one auto-synced
Application per environment (``my-app-dev``, ``my-app-stage``) pointing at that sandbox's bare
repository and the environment's overlay; it renders the overlays with real kustomize.

1. act runs the template promote.yml (mode commit) dev -> stage: a commit on main.
2. Argo CD is notified of the push (the git webhook), as a real installation is.
3. act runs the template await-argocd-sync.yml for that push: per environment the action waits
   until Argo CD runs exactly the pushed commit, Healthy; the Report step (report-status
   from-evidence) turns the evidence into the environment's GitHub deployment status in the
   sandbox (success, the Argo CD application page as environment URL), and the evidence the
   action wrote is uploaded (a stand-in for actions/upload-artifact keeps it for the test).

prod syncs by hand: the template's workflow_dispatch (environment prod, sync checked) makes the
action trigger the sync of main's head on the manual-sync ``my-app-prod`` and wait for it.

A failing case: stage's sync fails (the sandbox's sync-failed fault). The stage leg fails with
exit 1 and one ``::error`` line carrying Argo CD's operation message, dev's leg still succeeds,
stage's evidence is uploaded anyway, verdict failed, and stage's deployment status is failure.

The workflow's github.token has what the template's jobs declare (contents: read, deployments:
write); the sandbox refuses anything else with GitHub's 403.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gitops_release.sandbox.argocd import ArgoCDSandbox
from gitops_release.sandbox.argocd.applications import Fault, Timing
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.e2e.test_promote_templates import (
    CONFIG,
    DEV_TAG,
    OVERLAYS,
    ROOT,
    commit_all,
    config_repo,  # noqa: F401 - the fixture, used by name
    dispatch_event,
    released,
    run_promote,
)
from tests.fixtures.git_remotes import git, url_to_path

pytestmark = pytest.mark.e2e

AWAIT = ".github/workflows/await-argocd-sync.yml"
ARGOCD_TOKEN = "argocd-e2e-token-0123456789abcdef"
GITHUB_TOKEN = "ghp_e2eAwaitReportToken0123456789abcdef"
ENVIRONMENTS = ("dev", "stage")
SCHEMA = ROOT / "src/gitops_release/schemas/evidence.schema.json"
FAILED_SYNC = "admission webhook denied the request"


def application(env: str, repo_url: str, *, auto_sync: bool = True) -> dict[str, Any]:
    """my-app-<env> as the config repo's Argo CD would hold it: one kustomize path, auto-sync
    unless it is prod's (seed 003: a person syncs prod)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": f"my-app-{env}",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/part-of": "my-app", "env": env},
        },
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "path": f"{OVERLAYS}/{env}", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": f"my-app-{env}"},
            "syncPolicy": {"automated": {"prune": True}} if auto_sync else {},
        },
    }


@pytest.fixture
def argocd(github_sandbox: GitHubSandbox, config_repo: Path) -> Iterator[ArgoCDSandbox]:  # noqa: F811
    """The Argo CD sandbox with my-app-dev and my-app-stage on the GitHub sandbox's org/config."""
    github_sandbox.add_token(GITHUB_TOKEN, permissions={"contents": "read", "deployments": "write"})
    timing = Timing(sync_duration=0.3, progressing_duration=0.5)
    with ArgoCDSandbox(timing=timing, tokens=(ARGOCD_TOKEN,)) as sandbox:
        repo_url = github_sandbox.git_url(CONFIG)
        sandbox.store.register_repo(repo_url, url_to_path(repo_url))
        for env in ENVIRONMENTS:
            sandbox.store.add_application(application(env, repo_url))
        sandbox.store.add_application(application("prod", repo_url, auto_sync=False))
        yield sandbox
        assert not sandbox.violations, sandbox.violations


def run_await(
    act_runner: Any,
    github_sandbox: GitHubSandbox,
    checkout: Path,
    argocd: ArgoCDSandbox,
    artifacts: Path,
    before: str,
) -> Any:
    """await-argocd-sync.yml on the push of main's head (the checkout is moved there first)."""
    git("fetch", "-q", "origin", cwd=checkout)
    git("checkout", "-q", "-B", "main", "origin/main", cwd=checkout)
    after = git("rev-parse", "HEAD", cwd=checkout).strip()
    event = {
        "ref": "refs/heads/main",
        "before": before,
        "after": after,
        "repository": {"full_name": CONFIG, "default_branch": "main"},
    }
    return act_runner.run(
        checkout / AWAIT,
        "push",
        event,
        workdir=checkout,
        env={
            "GITHUB_REPOSITORY": CONFIG,
            "GITHUB_API_URL": github_sandbox.url,
            "GITOPS_RELEASE_PYTHON": sys.executable,
            "UPLOAD_STANDIN_DIR": str(artifacts),
        },
        secrets={"ARGOCD_TOKEN": ARGOCD_TOKEN, "GITHUB_TOKEN": GITHUB_TOKEN},
        variables={"ARGOCD_SERVER": argocd.url},
        local_actions={"gitops-release/gitops-release@v1": ROOT, **upload_stand_in()},
        allow_skipped={"sync"},  # the manual-dispatch job
        timeout=300,
    )


def upload_stand_in() -> dict[str, Path]:
    text = (ROOT / "templates/config-repo" / AWAIT).read_text(encoding="utf-8")
    pins = {
        line.split("uses: ")[1].split()[0] for line in text.splitlines() if "actions/upload-artifact@" in line
    }
    assert len(pins) == 1, pins
    return {pins.pop(): ROOT / "tests/e2e/actions/upload-artifact-standin"}


def evidence(artifacts: Path, env: str) -> dict[str, Any]:
    path = artifacts / f"argocd-evidence-{env}" / f"argocd-evidence-{env}.json"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(document, json.loads(SCHEMA.read_text(encoding="utf-8")))
    return document


def main_head(sandbox: GitHubSandbox) -> str:
    return git("rev-parse", "main", cwd=url_to_path(sandbox.git_url(CONFIG))).strip()


def reported(sandbox: GitHubSandbox, env: str, sha: str) -> tuple[str, dict[str, Any]]:
    """The Report step's work: the one deployment of ``sha`` to ``env`` and its one status."""
    [deployment] = [d for d in sandbox.deployments(CONFIG) if d["environment"] == env and d["sha"] == sha]
    [status] = sandbox.deployment_statuses(CONFIG, deployment["id"])
    return status["state"], status


def test_a_promotion_on_main_is_awaited_until_argo_cd_runs_it_and_the_outputs_drive_the_report(
    act_runner: Any,
    github_sandbox: GitHubSandbox,
    config_repo: Path,  # noqa: F811
    argocd: ArgoCDSandbox,
    tmp_path: Path,
) -> None:
    before = main_head(github_sandbox)
    promoted = run_promote(act_runner, github_sandbox, config_repo, dispatch_event(mode="commit"))
    assert promoted.rc == 0, promoted.log[-6000:]
    assert promoted.outputs.get("promote.promote", {}).get("state") == "committed", promoted.outputs
    after = main_head(github_sandbox)
    assert after != before
    argocd.store.notify_push(github_sandbox.git_url(CONFIG))  # the git webhook

    artifacts = tmp_path / "artifacts"
    result = run_await(act_runner, github_sandbox, config_repo, argocd, artifacts, before)
    assert result.rc == 0, result.log[-8000:]
    assert result.jobs.get("await") == "success", result.jobs
    # The Report step made what Argo CD did the deployment status of the pushed commit, per environment.
    for env in ENVIRONMENTS:
        state, status = reported(github_sandbox, env, after)
        assert state == "success", status
        assert status["environment_url"] == f"{argocd.url}/applications/argocd/my-app-{env}", status
        assert f"my-app-{env}" in status["description"] and "Healthy" in status["description"], status
    # The action's own step summary: a table per app and the Mermaid gantt of the phases.
    assert "### await-argocd-sync (wait)" in result.summary
    assert "```mermaid" in result.summary and "gantt" in result.summary

    # Argo CD really ran the promotion: stage synced at that commit by an operation, in history.
    stage = argocd.store.get("my-app-stage")
    assert stage["status"]["sync"]["revision"] == after
    assert stage["status"]["operationState"]["phase"] == "Succeeded"
    assert stage["status"]["history"][-1]["revision"] == after
    # The action watches the stream, it does not poll (the apps may already be done at the first
    # GET, when the wait returns before any stream connection is needed).
    assert "(stream)" in result.log and "polling every" not in result.log, result.log[-8000:]

    # The evidence each leg uploaded: expected == synced, the promoted image expected and live.
    stage_evidence = evidence(artifacts, "stage")
    [app] = stage_evidence["applications"]
    assert app["name"] == "my-app-stage"
    assert app["verdict"] == "done"
    assert app["revision"] == {"expected": [after], "synced": [after], "matches": True, "supersededBy": None}
    assert DEV_TAG in json.dumps(app["images"]["expected"]) and DEV_TAG in json.dumps(app["images"]["live"])
    assert app["images"]["drift"] == []
    assert evidence(artifacts, "dev")["applications"][0]["name"] == "my-app-dev"
    # The token is masked and nowhere in what the run leaves behind.
    assert ARGOCD_TOKEN in result.masks
    assert ARGOCD_TOKEN not in result.log and ARGOCD_TOKEN not in json.dumps(stage_evidence)


def test_a_failed_sync_fails_the_wait_at_once_with_argo_cds_message_and_keeps_the_evidence(
    act_runner: Any,
    github_sandbox: GitHubSandbox,
    config_repo: Path,  # noqa: F811
    argocd: ArgoCDSandbox,
    tmp_path: Path,
) -> None:
    before = main_head(github_sandbox)
    argocd.store.set_fault("my-app-stage", Fault(kind="sync-failed", message=FAILED_SYNC))
    # A hand-made promotion of stage pushed straight to main.
    stage = config_repo / OVERLAYS / "stage" / "kustomization.yaml"
    stage.write_text(released(stage.read_text(encoding="utf-8")), encoding="utf-8")
    commit_all(config_repo, f"promote my-app:{DEV_TAG} to stage")
    git("push", "-q", "origin", "HEAD:main", cwd=config_repo)
    argocd.store.notify_push(github_sandbox.git_url(CONFIG))

    artifacts = tmp_path / "artifacts"
    result = run_await(act_runner, github_sandbox, config_repo, argocd, artifacts, before)
    assert result.rc != 0, result.log[-8000:]
    assert result.jobs.get("await") == "failure", result.jobs
    errors = [(title, message) for level, title, message in result.annotations if level == "error"]
    [(title, message)] = [e for e in errors if "my-app-stage" in e[1]]
    assert title == "Argo CD application not ready"
    assert FAILED_SYNC in message and "\n" not in message
    assert "sync operation Failed" in message and "last state:" in message
    assert "exit status 1" in result.log  # act's words for the step's exit code 1
    # dev's leg (fail-fast: false) still succeeded at the pushed commit.
    after = main_head(github_sandbox)
    assert reported(github_sandbox, "dev", after)[0] == "success"
    # stage's failed wait is reported too: the deployment says failure, never in progress.
    state, status = reported(github_sandbox, "stage", after)
    assert state == "failure", status
    # The evidence of the failed wait was uploaded: that is when it matters most.
    [app] = evidence(artifacts, "stage")["applications"]
    assert app["verdict"] == "failed" and FAILED_SYNC in app["reason"]


def test_prod_is_synced_by_hand_from_a_dispatch_and_the_wait_is_for_that_operation(
    act_runner: Any,
    github_sandbox: GitHubSandbox,
    config_repo: Path,  # noqa: F811
    argocd: ArgoCDSandbox,
    tmp_path: Path,
) -> None:
    # prod's overlay changes on main (a merged promotion); without a sync Argo CD only shows it
    # OutOfSync: prod has no automated sync policy.
    prod = config_repo / OVERLAYS / "prod" / "kustomization.yaml"
    prod.write_text(released(prod.read_text(encoding="utf-8")), encoding="utf-8")
    commit_all(config_repo, f"promote my-app:{DEV_TAG} to prod")
    git("push", "-q", "origin", "HEAD:main", cwd=config_repo)
    argocd.store.notify_push(github_sandbox.git_url(CONFIG))
    head = main_head(github_sandbox)
    assert "operation" not in argocd.store.get("my-app-prod")

    artifacts = tmp_path / "artifacts"
    result = act_runner.run(
        config_repo / AWAIT,
        "workflow_dispatch",
        # As GitHub delivers it: github.event.inputs carries a boolean input as a string.
        {"inputs": {"environment": "prod", "sync": "true"}, "ref": "refs/heads/main"},
        workdir=config_repo,
        env={
            "GITHUB_REPOSITORY": CONFIG,
            "GITHUB_API_URL": github_sandbox.url,
            "GITOPS_RELEASE_PYTHON": sys.executable,
            "UPLOAD_STANDIN_DIR": str(artifacts),
        },
        secrets={"ARGOCD_TOKEN": ARGOCD_TOKEN, "GITHUB_TOKEN": GITHUB_TOKEN},
        variables={"ARGOCD_SERVER": argocd.url},
        local_actions={"gitops-release/gitops-release@v1": ROOT, **upload_stand_in()},
        allow_skipped={"await"},  # the push job
        timeout=300,
    )
    assert result.rc == 0, result.log[-8000:]
    assert result.jobs.get("sync") == "success", result.jobs
    assert reported(github_sandbox, "prod", head)[0] == "success"
    # The action asked for the sync (one POST), and prod now runs main's head.
    [post] = [r for r in argocd.requests if r.method == "POST" and r.path.endswith("/my-app-prod/sync")]
    assert post.status == 200 and post.body.get("revision") == head, post
    app = argocd.store.get("my-app-prod")
    assert app["status"]["operationState"]["syncResult"]["revision"] == head
    assert app["status"]["operationState"]["phase"] == "Succeeded"
    [entry] = evidence(artifacts, "prod")["applications"]
    assert entry["verdict"] == "done" and entry["historyIds"], entry
