"""e2e: actions/trace run by act over a config repository whose history the REAL commands made
(update-db of a dispatched release written through to dev, promote-overlay dev -> stage by a pull
request merged in the GitHub sandbox, a GitHub deployment of the merge to stage).

One workflow_dispatch run, gitops-release/gitops-release@v1 mapped to this working tree, checkout
with fetch-depth: 0 (act copies the clone, .git included), three steps of the action:

- the released image: outputs found=true, present-in=dev,stage, json-file (valid against
  schemas/trace.schema.json); the step summary holds the environment table, the stage deployment,
  the dev gap (no deployment status there) and the Mermaid gantt;
- a never-released image: found=false, present-in empty, "Not found" in the summary, exit 0;
- the same with fail-if-missing: the step fails (its outcome recorded by a later step).

The queries come from the dispatch's inputs and reach the action through env only.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.github_sandbox import sandbox_api
from tests.integration.test_promote_overlay import REPO, Repo, config_files
from tests.integration.test_trace_history_real import DIGEST_3, EMPTY_DB, IMAGE, History

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghp_e2eTraceReadToken0123456789abcdef"
WORKFLOW = ".github/workflows/trace.yml"
SCHEMA = json.loads((resources.files("gitops_release") / "schemas" / "trace.schema.json").read_text())

TRACE_WORKFLOW = """\
name: trace
on:
  workflow_dispatch:
    inputs:
      query:
        required: true
        type: string
      missing:
        required: true
        type: string
permissions:
  contents: read
  deployments: read
jobs:
  trace:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-depth: 0
      - id: found
        uses: gitops-release/gitops-release/actions/trace@v1
        with:
          query: ${{ inputs.query }}
          github-token: ${{ github.token }}
      - name: keep the JSON answer
        env:
          JSON_FILE: ${{ steps.found.outputs.json-file }}
        run: cp "$JSON_FILE" "$TRACE_OUT/found.json"
      - id: missing
        uses: gitops-release/gitops-release/actions/trace@v1
        with:
          query: ${{ inputs.missing }}
      - id: strict
        continue-on-error: true
        uses: gitops-release/gitops-release/actions/trace@v1
        with:
          query: ${{ inputs.missing }}
          fail-if-missing: true
      - id: outcome
        env:
          STRICT: ${{ steps.strict.outcome }}
        run: echo "strict=$STRICT" >> "$GITHUB_OUTPUT"
"""


@pytest.fixture
def promoted(github_sandbox: GitHubSandbox, tmp_path: Path) -> tuple[History, str]:
    """sha-3 dispatched to dev (update-db, write-through), promoted to stage by a merged pull
    request, and that merge deployed to stage (a GitHub deployment with a success status)."""
    files = config_files(apps=("api",))
    files["db/db.json"] = EMPTY_DB
    history = History(Repo(github_sandbox, tmp_path / "remote", files))
    history.dispatch("sha-3", DIGEST_3)
    merge = history.merge(history.promote_pr("dev", "stage"))
    created = sandbox_api(
        github_sandbox,
        "POST",
        f"/repos/{REPO}/deployments",
        {"ref": merge, "environment": "stage", "auto_merge": False, "required_contexts": []},
    )
    sandbox_api(
        github_sandbox, "POST", f"/repos/{REPO}/deployments/{created['id']}/statuses", {"state": "success"}
    )
    github_sandbox.add_token(TOKEN, permissions={"contents": "read", "deployments": "read"})
    return history, merge


def test_the_action_answers_in_outputs_json_and_step_summary_and_fails_only_when_asked(
    act_runner: Any, github_sandbox: GitHubSandbox, promoted: tuple[History, str], tmp_path: Path
) -> None:
    history, merge = promoted
    checkout = history.clone()
    (checkout / WORKFLOW).parent.mkdir(parents=True, exist_ok=True)
    (checkout / WORKFLOW).write_text(TRACE_WORKFLOW, encoding="utf-8")  # untracked: trace reads commits
    out = tmp_path / "out"
    out.mkdir()
    never = "ghcr.io/org/api:sha-never-released"

    result = act_runner.run(
        checkout / WORKFLOW,
        "workflow_dispatch",
        {"inputs": {"query": f"{IMAGE}:sha-3", "missing": never}, "ref": "refs/heads/main"},
        workdir=checkout,
        env={
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_API_URL": github_sandbox.url,
            "GITOPS_RELEASE_PYTHON": sys.executable,
            "TRACE_OUT": str(out),
        },
        secrets={"GITHUB_TOKEN": TOKEN},
        local_actions={"gitops-release/gitops-release@v1": ROOT},
        timeout=240,
    )

    assert result.rc == 0, result.log
    found, missing = result.outputs["found"], result.outputs["missing"]
    assert found["found"] == "true" and found["present-in"] == "dev,stage", found
    assert missing["found"] == "false" and missing["present-in"] == "", missing
    assert result.outputs["outcome"]["strict"] == "failure"
    assert any(level == "error" and "Not found" in title for level, title, _ in result.annotations), (
        result.annotations
    )

    answer = json.loads((out / "found.json").read_text(encoding="utf-8"))
    Draft202012Validator(SCHEMA).validate(answer)
    assert answer["found"] is True and answer["presentIn"] == ["dev", "stage"]
    stage = next(env for env in answer["environments"] if env["environment"] == "stage")
    assert (
        stage["stays"][-1]["arrival"]["kind"] == "promote"
        and stage["stays"][-1]["arrival"]["commit"] == merge
    )
    assert [d["state"] for d in stage["deployments"]] == ["success"]

    summary = result.summary
    assert f"### gitops-release trace: {IMAGE}:sha-3" in summary
    assert (
        "| environment | present | live | since (UTC) | how it arrived | soak | replaced by (UTC) |"
        in summary
    )
    assert "| stage | ✅ yes |" in summary and "| dev | ✅ yes |" in summary and "| prod | no |" in summary
    # dev got sha-3 by update-db's write-through (no promotion) and stage's promotion has its
    # deployment status: no gap.
    assert "**gap**" not in summary
    assert "stage: success for " + merge[:7] in summary
    assert "```mermaid\ngantt\n" in summary and "  section stage\n    promote sha-3" in summary
    assert f"**Not found**: nothing in the history read matches {never}." in summary
