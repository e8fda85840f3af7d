"""The templates that call report-status (templates/config-repo/.github/workflows/
release-data-prep.yml and the Report step of await-argocd-sync.yml) say what docs/report-status.md
and seed 000's status matrix promise: a pending status is always followed by a final one (an
`if: always()` step with job.status), least privilege per job, the prep command reaches bash only
through env:, previews end when the pull request closes, and only inputs the action declares.
(tests/e2e/test_report_status.py runs release-data-prep.yml under act against the sandbox.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.act import load_mapping, read_workflow

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "templates/config-repo/.github/workflows"
PREP = WORKFLOWS / "release-data-prep.yml"
AWAIT = WORKFLOWS / "await-argocd-sync.yml"
ACTION = ROOT / "actions/report-status/action.yml"
REPORT = re.compile(r"^gitops-release/gitops-release/actions/report-status@\S+$")
JOB_STATUS = "${{ job.status }}"
PREP_COMMAND = (
    "${{ inputs.prep-command || vars.RELEASE_DATA_PREP_COMMAND || 'bash scripts/release-data-prep.sh' }}"
)


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    return dict(load_mapping(path)["jobs"])


def report_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if REPORT.match(str(s.get("uses", "")))]


def prep_step(job: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in job["steps"] if s.get("name") == "Prepare release data"]
    return step


def condition(step: dict[str, Any]) -> str:
    """The step's if: without the ${{ }} wrapper GitHub allows around it."""
    text = str(step.get("if", "")).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    return " ".join(text.split())


def test_runs_on_push_to_main_on_pull_request_changes_and_close_and_as_a_reusable_workflow() -> None:
    on = load_mapping(PREP)["on"]
    assert on["push"] == {"branches": ["main"]}
    assert on["pull_request"]["types"] == ["opened", "synchronize", "reopened", "closed"]
    assert "pull_request_target" not in on, "the prep command runs the pull request's code"
    prep = on["workflow_call"]["inputs"]["prep-command"]
    assert prep["type"] == "string" and prep["default"] == "" and prep["required"] is False
    # act (and GitHub) select the jobs by these events; each job owns one case.
    assert {j.id for j in read_workflow(PREP).jobs.values()} == {"main", "pull-request", "preview-closed"}
    data = jobs(PREP)
    assert data["main"]["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert data["pull-request"]["if"] == (
        "github.event_name == 'pull_request' && github.event.action != 'closed'"
    )
    closed = " ".join(str(data["preview-closed"]["if"]).split())
    assert closed.startswith("github.event_name == 'pull_request' && github.event.action == 'closed'")


def test_least_privilege_per_job_pinned_actions_and_no_credentials_left_in_the_checkout() -> None:
    data = load_mapping(PREP)
    assert data["permissions"] == {}, "permissions belong to the job"
    assert "concurrency" not in data, "a cancelled run would only record error for its commit"
    expected = {
        "main": {"contents": "read", "statuses": "write", "deployments": "write"},
        "pull-request": {
            "contents": "read", "statuses": "write", "deployments": "write", "pull-requests": "write",
        },
        "preview-closed": {"deployments": "write"},
    }  # fmt: skip
    for name, job in jobs(PREP).items():
        assert job["permissions"] == expected[name], name
        assert "timeout-minutes" in job, name
        for step in job["steps"]:
            uses = str(step.get("uses", ""))
            if uses and not uses.startswith("gitops-release/"):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses), f"{name}: pin {uses}"
            if uses.startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


@pytest.mark.parametrize("workflow", [PREP, AWAIT], ids=lambda p: p.name)
def test_only_declared_inputs_and_the_token_is_the_jobs_own(workflow: Path) -> None:
    declared = set(load_mapping(ACTION)["inputs"])
    steps = [(name, step) for name, job in jobs(workflow).items() for step in report_steps(job)]
    assert steps, f"{workflow.name} does not run report-status"
    for name, step in steps:
        given = step["with"]
        assert not set(given) - declared, f"{name}: {sorted(set(given) - declared)}"
        assert given["token"] == "${{ github.token }}", name


def test_the_prep_command_reaches_bash_only_through_env_and_gets_no_token() -> None:
    for name in ("main", "pull-request"):
        step = prep_step(jobs(PREP)[name])
        assert step["env"]["PREP_COMMAND"] == PREP_COMMAND, name
        assert "${{" not in step["run"], name
        assert 'bash -eo pipefail -c "$PREP_COMMAND"' in step["run"], name
        assert "shell" not in step, f"{name}: the runner's bash runs the line above"
        assert not [v for v in step["env"].values() if "token" in str(v).lower() or "secrets." in str(v)]
        # The step's own timeout ends a stuck prep with failure while the job still has time to report.
        assert step["timeout-minutes"] < jobs(PREP)[name]["timeout-minutes"], name


@pytest.mark.parametrize("job_name", ["main", "pull-request"])
def test_pending_comes_first_and_the_last_step_always_ends_it_from_job_status(job_name: str) -> None:
    job = jobs(PREP)[job_name]
    context = "release-data-prep" if job_name == "main" else "release-data-prep/pr"
    first, last = job["steps"][0], job["steps"][-1]
    assert REPORT.match(first["uses"]) and REPORT.match(last["uses"])
    assert first["with"]["state"] == "pending" and first["with"]["context"] == context
    assert last["with"]["context"] == context
    assert last["with"]["job-status"] == JOB_STATUS
    assert "state" not in last["with"] and "deployment-state" not in last["with"], "job-status decides"
    assert condition(last).startswith("always()"), "a failed or cancelled job must still end the status"
    assert condition(first) in ("", "env.REPORT == 'true'")
    assert condition(last) in ("always()", "always() && env.REPORT == 'true'")
    # The description follows the job status, cut by the command to 140 characters.
    description = last["with"]["description"]
    assert "job.status == 'success'" in description and "job.status == 'failure'" in description
    # The final step posts on the deployment the first one opened (its id; the environment or the
    # preview flag too, so a failed first step still gets its deployment reused or created).
    assert last["with"]["deployment-id"] == "${{ steps.start.outputs.deployment-id }}"
    assert first["id"] == "start"
    for key in ("environment", "preview"):
        assert first["with"].get(key) == last["with"].get(key), key


def test_main_reports_a_staging_deployment_in_progress_then_final() -> None:
    first, *_, last = jobs(PREP)["main"]["steps"]
    assert first["with"]["environment"] == last["with"]["environment"] == "staging"
    assert first["with"]["deployment-state"] == "in_progress"
    assert "preview" not in first["with"] and "comment" not in last["with"]


def test_pull_requests_get_an_optional_preview_and_comment_and_forks_are_not_reported_on() -> None:
    job = jobs(PREP)["pull-request"]
    first, *_, last = job["steps"]
    switch = "${{ vars.RELEASE_DATA_PREP_PREVIEW == 'true' }}"
    assert first["with"]["preview"] == last["with"]["preview"] == switch
    assert first["with"]["deployment-state"] == (
        "${{ vars.RELEASE_DATA_PREP_PREVIEW == 'true' && 'in_progress' || '' }}"
    )
    assert "environment" not in first["with"], "a preview's environment is preview/pr-<n>"
    assert last["with"]["comment"] == "${{ vars.RELEASE_DATA_PREP_COMMENT == 'true' }}"
    # Results without a comment would only be noted, unread: the file is passed only with one.
    results = last["with"]["results-file"]
    assert results.startswith("${{ vars.RELEASE_DATA_PREP_COMMENT == 'true' && hashFiles(")
    assert prep_step(job)["env"]["RELEASE_DATA_PREP_RESULTS"] in results
    # A fork's pull_request token is read-only: the job prepares, never tries to write.
    assert job["env"]["REPORT"] == "${{ github.event.pull_request.head.repo.full_name == github.repository }}"


def test_pull_request_runs_queue_per_pull_request_so_two_pushes_never_make_two_comments() -> None:
    data = jobs(PREP)
    # The comment is found by listing then created: two runs at once would both create one.
    assert data["pull-request"]["concurrency"] == {
        "group": "release-data-prep-pr-${{ github.event.pull_request.number }}",
        "cancel-in-progress": False,
    }
    # main: every push reports on its own commit; a closed pull request only ends its preview.
    assert "concurrency" not in data["main"] and "concurrency" not in load_mapping(PREP)


def test_closing_a_pull_request_ends_its_preview_and_creates_nothing() -> None:
    job = jobs(PREP)["preview-closed"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    [step] = job["steps"]
    assert step["with"]["preview"] is True
    assert step["with"]["deployment-state"] == "inactive"
    assert step["with"]["commit-status"] is False
    assert "deployment-id" not in step["with"], "inactive for an environment sets every live one inactive"


@pytest.mark.parametrize("workflow", [PREP, AWAIT], ids=lambda p: p.name)
def test_a_pending_or_in_progress_state_is_never_the_last_word(workflow: Path) -> None:
    """A pending or in-progress state is never the last word: the job's final report-status step
    runs always() and covers the same context and deployment."""
    for name, job in jobs(workflow).items():
        steps = report_steps(job)
        opened = [
            s
            for s in steps
            if s["with"].get("state") == "pending" or s["with"].get("deployment-state") == "in_progress"
        ]
        if not opened:
            continue
        final = job["steps"][-1]
        assert final in steps and condition(final).startswith("always()"), name
        for step in opened:
            assert step["with"].get("context") == final["with"].get("context"), name


def test_await_reports_what_argo_cd_did_as_the_deployment_status_also_after_a_failed_wait() -> None:
    for name, job in jobs(AWAIT).items():
        env = "matrix.environment" if name == "await" else "inputs.environment"
        assert job["permissions"] == {"contents": "read", "deployments": "write"}, name
        [wait] = [s for s in job["steps"] if s.get("id") == "await"]
        [report] = report_steps(job)
        assert report["name"] == "Report"
        assert job["steps"].index(report) == job["steps"].index(wait) + 1
        assert report["with"]["from-evidence"] == wait["with"]["evidence-path"], name
        assert report["with"]["environment"] == f"${{{{ {env} }}}}", name
        assert report["with"]["commit-status"] is False, "the commit's checks are not Argo CD's"
        assert "deployment-state" not in report["with"], "the evidence decides"
        # always(): a failed, timed-out or cancelled wait writes evidence that must be reported;
        # only a wait that refused its inputs writes none, and then there is nothing to say.
        assert condition(report) == (
            f"always() && hashFiles(format('argocd-evidence-{{0}}.json', {env})) != ''"
        ), name
        assert wait["with"]["evidence-path"] == f"argocd-evidence-${{{{ {env} }}}}.json"
        assert not [s for s in job["steps"] if "GITHUB_STEP_SUMMARY" in str(s.get("run", ""))]
