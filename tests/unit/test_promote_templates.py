"""The promotion templates (templates/config-repo/.github/workflows/{promote,verify-overlays,
auto-promote}.yml) say what docs/promote-overlay.md and docs/security.md promise: least privilege,
read-only checks of pull requests, never an automatic promotion to prod, and only inputs the
promote-overlay action declares. (tests/e2e/test_promote_templates.py runs them under act.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_release.core.policy import load_policy
from tests.fixtures.act import load_mapping, read_workflow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "templates/config-repo/.github/workflows"
PROMOTE = WORKFLOWS / "promote.yml"
VERIFY = WORKFLOWS / "verify-overlays.yml"
AUTO = WORKFLOWS / "auto-promote.yml"
POLICY = ROOT / "templates/config-repo/.gitops-release.yml"
ACTION = ROOT / "actions/promote-overlay/action.yml"
OUR_ACTION = re.compile(r"^gitops-release/gitops-release/actions/promote-overlay@\S+$")


def promote_steps(path: Path) -> list[dict[str, Any]]:
    return [
        step
        for job in load_mapping(path)["jobs"].values()
        for step in job.get("steps", [])
        if OUR_ACTION.match(str(step.get("uses", "")))
    ]


def channels() -> list[str]:
    return list(yaml.safe_load(POLICY.read_text(encoding="utf-8"))["channels"])


@pytest.mark.parametrize("workflow", [PROMOTE, VERIFY, AUTO], ids=lambda p: p.name)
def test_template_uses_only_inputs_the_action_declares(workflow: Path) -> None:
    declared = set(yaml.safe_load(ACTION.read_text(encoding="utf-8"))["inputs"])
    steps = promote_steps(workflow)
    assert steps, f"{workflow.name} does not run the promote-overlay action"
    for step in steps:
        unknown = sorted(set(step.get("with") or {}) - declared)
        assert not unknown, f"{workflow.name}: inputs the action does not declare: {unknown}"


@pytest.mark.parametrize("workflow", [PROMOTE, VERIFY, AUTO], ids=lambda p: p.name)
def test_template_grants_nothing_at_the_top_and_pins_third_party_actions(workflow: Path) -> None:
    data = load_mapping(workflow)
    assert data["permissions"] == {}, f"{workflow.name}: permissions belong to the job"
    for job in data["jobs"].values():
        assert "timeout-minutes" in job
        for step in job["steps"]:
            uses = str(step.get("uses", ""))
            if uses and not uses.startswith("gitops-release/"):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), f"{workflow.name}: pin {uses}"
            if uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_promote_is_a_dispatch_with_choices_and_least_privilege() -> None:
    data = load_mapping(PROMOTE)
    assert set(data["on"]) == {"workflow_dispatch"}
    inputs = data["on"]["workflow_dispatch"]["inputs"]
    for name in ("from-env", "to-env", "mode"):
        assert inputs[name]["type"] == "choice", name
    assert set(inputs["from-env"]["options"]) | set(inputs["to-env"]["options"]) <= set(channels())
    assert inputs["mode"]["options"] == ["pr", "commit", "dry-run"]  # verify belongs to pull requests
    for name in ("images", "tag", "digest"):
        assert inputs[name]["type"] == "string" and inputs[name]["default"] == ""
    assert inputs["revert"]["type"] == "boolean"
    [job] = data["jobs"].values()
    # pull-requests and contents write; deployments read only for the requireStatus gate.
    assert job["permissions"] == {"contents": "write", "pull-requests": "write", "deployments": "read"}
    assert data["concurrency"] == {"group": "promote-${{ inputs.to-env }}", "cancel-in-progress": False}
    [step] = promote_steps(PROMOTE)
    for name in ("to-env", "images", "tag", "digest", "revert", "mode"):
        assert step["with"][name] == f"${{{{ inputs.{name} }}}}", name
    # A pin or a revert has no source: from-env is passed only for a promotion.
    assert "inputs.tag == ''" in step["with"]["from-env"] and "!inputs.revert" in step["with"]["from-env"]


def test_verify_overlays_is_read_only_on_pull_requests_against_the_base_commit() -> None:
    data = load_mapping(VERIFY)
    assert set(data["on"]) == {"pull_request"}, (
        "never pull_request_target: a fork's content with a write token"
    )
    # No paths filter: a base edit (apps/*/base with the glob layout) must be verified too, and a
    # required check that a filter skips blocks the pull request; the command skips the renders
    # itself when no changed file is below a kustomization.
    assert not (data["on"]["pull_request"] or {}).get("paths")
    assert not (data["on"]["pull_request"] or {}).get("paths-ignore")
    [job] = data["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    [checkout] = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert checkout["with"]["fetch-depth"] == 0, "the base commit must be in the checkout"
    [step] = promote_steps(VERIFY)
    assert step["with"]["mode"] == "verify"
    assert step["with"]["verify-base"] == "${{ github.event.pull_request.base.sha }}"
    assert "token" not in step["with"]


def test_auto_promote_runs_on_a_schedule_and_never_targets_prod() -> None:
    data = load_mapping(AUTO)
    assert "schedule" in data["on"]
    dispatch = data["on"].get("workflow_dispatch") or {}
    assert not dispatch.get("inputs"), "no input may steer the automatic promotion"
    for step in promote_steps(AUTO):
        assert step["with"]["to-env"] == "stage" and step["with"]["from-env"] == "dev"
        assert step["with"]["mode"] == "pr", "a person merges: never mode commit"
        assert step["with"]["require-status"] == "deployment"
        assert step["with"]["soak-time"] == "2h"
    assert set(read_workflow(AUTO).jobs) == {"promote-stage"}
    # promote.yml's group for to-env stage: a manual and an automatic promotion of stage take turns.
    assert data["concurrency"] == {"group": "promote-stage", "cancel-in-progress": False}
    last = channels()[-1]

    def values(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for value in node.values() for v in values(value)]
        if isinstance(node, list):
            return [v for item in node for v in values(item)]
        return [str(node)]

    assert not [v for v in values(data["jobs"]) if re.search(rf"\b{last}\b", v)], (
        f"{last} in auto-promote.yml"
    )


def test_template_policy_and_overlays_fit_together() -> None:
    """The policy the templates ship loads, its prod gate is what promote.yml's deployments: read
    is for, and overlays status reads the three overlays (two images each) it points at."""
    policy = load_policy(POLICY.read_text(encoding="utf-8"), path=".gitops-release.yml")
    assert policy.env_order == ("dev", "stage", "prod")
    assert policy.env_rules("prod").require_status == "deployment"
    assert policy.env_rules("stage").labels == ("promotion", "stage")
    done = subprocess.run(
        [sys.executable, "-m", "gitops_release", "overlays", "status", "--format", "json"],
        cwd=POLICY.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    status = json.loads(done.stdout)
    assert status["environments"] == ["dev", "stage", "prod"]
    assert [row["image"] for row in status["images"]] == ["ghcr.io/org/my-app", "ghcr.io/org/my-app-worker"]
    for row in status["images"]:
        assert set(row["environments"]) == {"dev", "stage", "prod"} and not row["differs"]
