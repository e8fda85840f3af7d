"""templates/config-repo/.github/workflows/await-argocd-sync.yml says what docs/await-argocd-sync.md
promises: it waits after a push to main that touches the overlays, grants only contents: read
(and deployments: write for the Report step), takes the Argo CD token from a secret (never a
variable or a literal), passes only inputs the action declares, uploads exactly the evidence file
the action writes, also after a failed wait, and syncs prod only from a manual dispatch.
(tests/e2e/test_await_*.py runs it under act; tests/unit/test_report_templates.py checks its
Report step.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.fixtures.act import load_mapping

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "templates/config-repo/.github/workflows/await-argocd-sync.yml"
ACTION = ROOT / "actions/await-argocd-sync/action.yml"
OUR_ACTION = re.compile(r"^gitops-release/gitops-release/actions/await-argocd-sync@\S+$")
UPLOAD = re.compile(r"^actions/upload-artifact@[0-9a-f]{40}$")


def jobs() -> dict[str, dict[str, Any]]:
    return dict(load_mapping(WORKFLOW)["jobs"])


def await_step(job: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if OUR_ACTION.match(str(s.get("uses", "")))]
    return step


def test_waits_after_a_push_to_main_that_touches_the_overlays() -> None:
    on = load_mapping(WORKFLOW)["on"]
    assert on["push"]["branches"] == ["main"]
    assert any(path.startswith("infra/argocd/") for path in on["push"]["paths"])
    assert jobs()["await"]["if"] == "github.event_name == 'push'"
    # The wait is for the pushed commit: the default expected revision is the checkout's HEAD.
    assert "expected-revision" not in await_step(jobs()["await"])["with"]
    # The comment names only pushes the path filter lets through: update-db writes db/db.json.
    head = WORKFLOW.read_text(encoding="utf-8").split("\nname:", 1)[0]
    assert "an update-db release, a merged" not in " ".join(head.replace("#", " ").split())


def test_least_privilege_pinned_actions_and_no_concurrency_group() -> None:
    data = load_mapping(WORKFLOW)
    assert data["permissions"] == {}
    assert "concurrency" not in data
    for name, job in jobs().items():
        # deployments: write only for the Report step (report-status, tests/unit/test_report_templates.py)
        assert job["permissions"] == {"contents": "read", "deployments": "write"}, name
        assert "timeout-minutes" in job, name
        for step in job["steps"]:
            uses = str(step.get("uses", ""))
            if uses and not uses.startswith("gitops-release/"):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), f"pin {uses}"
            if uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_only_declared_inputs_and_the_token_comes_from_a_secret() -> None:
    declared = set(load_mapping(ACTION)["inputs"])
    for name, job in jobs().items():
        given = await_step(job)["with"]
        assert not set(given) - declared, f"{name}: {sorted(set(given) - declared)}"
        assert given["token"] == "${{ secrets.ARGOCD_TOKEN }}", name
        assert given["server"] == "${{ vars.ARGOCD_SERVER }}", name


def test_the_evidence_the_action_writes_is_uploaded_even_after_a_failed_wait() -> None:
    for name, job in jobs().items():
        step = await_step(job)
        [upload] = [s for s in job["steps"] if UPLOAD.match(str(s.get("uses", "")))]
        assert upload["with"]["path"] == step["with"]["evidence-path"], name
        # always(): a cancelled wait writes its evidence too (outcome "cancelled")
        assert upload["if"] == "${{ always() }}", f"{name}: the evidence of a failed wait counts most"
        # The Report step turns the same file into the deployment status, also after a cancel.
        [report] = [s for s in job["steps"] if s.get("name") == "Report"]
        assert report["with"]["from-evidence"] == step["with"]["evidence-path"], name
        assert report["if"].startswith("${{ always() && hashFiles("), name


def test_prod_is_synced_only_from_a_manual_dispatch_in_its_environment() -> None:
    push_job = jobs()["await"]
    assert "prod" not in push_job["strategy"]["matrix"]["environment"]
    assert "sync" not in await_step(push_job)["with"]
    sync_job = jobs()["sync"]
    assert sync_job["if"] == "github.event_name == 'workflow_dispatch'"
    # The environment's required reviewers gate the sync.
    assert sync_job["environment"] == "${{ inputs.environment }}"
    assert await_step(sync_job)["with"]["sync"] == "${{ inputs.sync }}"
    dispatch = load_mapping(WORKFLOW)["on"]["workflow_dispatch"]["inputs"]
    assert dispatch["sync"]["type"] == "boolean" and dispatch["sync"]["default"] is False
