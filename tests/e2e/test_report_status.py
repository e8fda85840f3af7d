"""e2e: templates/config-repo/.github/workflows/release-data-prep.yml under act against the GitHub
sandbox, one act run per case: the commit status and the deployment always end in a final state
(success / failure / error), never pending, whatever happened to the prep command.

The config repository ``org/config`` holds the template's workflows, a caller workflow and the
default prep script. The token the workflow gets has exactly the permissions the template declares
(the sandbox refuses anything else with GitHub's 403). gitops-release/gitops-release@v1 is this
working tree; the prep command comes from each of its three sources once:

- passing: push to main, through a caller workflow (``uses: ./.github/workflows/release-data-prep.yml``
  with the ``prep-command`` input): ``release-data-prep`` pending -> success, one ``staging``
  deployment in_progress -> success, the final step posting on the deployment the first one made
  (no second list, no second deployment).
- failing: a pull request synchronize with previews and comments switched on (repository
  variables) and the command from RELEASE_DATA_PREP_COMMAND: it writes validation results and
  exits 3. ``release-data-prep/pr`` pending -> failure on the pull request's head commit, the
  transient ``preview/pr-1`` deployment in_progress -> failure, one comment with the results table.
- cancelled: push to main, the default ``bash scripts/release-data-prep.sh``, which cancels the run
  the way act can be cancelled (below): pending -> error, staging in_progress -> error.
- closed: the pull request closes: its live preview deployment gets an inactive status; nothing is
  created and no commit status is written.

How the cancelled case is made, measured with act 0.2.89 in host mode (no Docker):
- a job's ``timeout-minutes`` is not enforced (a job with ``timeout-minutes: 1`` ran a 75 s step
  to the end and succeeded), and a fractional value (0.05) is ignored as well;
- a step's ``timeout-minutes: 1`` kills the step after a minute and the job's ``job.status`` is
  ``failure``, as on GitHub (a timed-out step fails): that is the failing path, not a cancel;
- SIGINT to the act process cancels the run as GitHub's cancel button does: act kills the running
  step ("this step has been cancelled: signal: killed"), then runs the ``if: always()`` (and
  ``cancelled()``) steps with ``job.status == 'cancelled'``, reports the job failed and exits 1.
So the default prep script here finds act among its ancestors (/proc), sends it SIGINT and sleeps;
act kills it, and the template's always() step reports ``job-status: cancelled`` -> error. Were
the signal lost, the script would end with exit 0 after 30 s and the test would fail on "success".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import clone_of, git
from tests.fixtures.github_sandbox import sandbox_api

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates/config-repo/.github/workflows/release-data-prep.yml"
PREP = ".github/workflows/release-data-prep.yml"
CALLER = ".github/workflows/prep-caller.yml"
CONFIG = "org/config"
TOKEN = "ghp_e2eReportStatusToken0123456789abcd"
# What the template's jobs declare, in the sandbox's permission names.
PERMISSIONS = {"contents": "read", "statuses": "write", "deployments": "write", "pull_requests": "write"}

CALLER_WORKFLOW = """\
name: prep-caller
on:
  push:
    branches: [main]
permissions: {}
jobs:
  prep:
    uses: ./.github/workflows/release-data-prep.yml
    with:
      prep-command: test -f data/input.csv && echo prepared > prepared.txt
    # A called workflow's jobs get at most what the caller grants, for every job it declares.
    permissions:
      contents: read
      statuses: write
      deployments: write
      pull-requests: write
"""

CANCEL_SCRIPT = """\
#!/usr/bin/env bash
# A cancelled run: interrupt act, as the runner is interrupted when the run is cancelled on GitHub.
pid=$$
while [ "$pid" -gt 1 ]; do
  if [ "$(cat "/proc/$pid/comm")" = act ]; then
    kill -INT "$pid"
    sleep 30
    exit 0
  fi
  pid=$(awk '{print $4}' "/proc/$pid/stat")
done
echo "act is not an ancestor of this step" >&2
exit 3
"""

RESULTS = [
    {"name": "schema", "result": "pass"},
    {"name": "row counts", "result": "fail", "details": "orders: 0 rows"},
]
FAILING_COMMAND = (
    f"printf '%s' '{json.dumps(RESULTS)}' > \"$RELEASE_DATA_PREP_RESULTS\"\n"
    "echo 'row counts: orders has 0 rows' >&2\n"
    "exit 3"
)


@pytest.fixture
def config_repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Path:
    """org/config with the template, a caller workflow and the (cancelling) default prep script."""
    github_sandbox.add_token(TOKEN, permissions=PERMISSIONS)
    github_sandbox.create_repo(
        CONFIG,
        files={
            PREP: TEMPLATE.read_text(encoding="utf-8"),
            CALLER: CALLER_WORKFLOW,
            "scripts/release-data-prep.sh": CANCEL_SCRIPT,
            "data/input.csv": "id,name\n1,orders\n",
        },
    )
    return clone_of(github_sandbox.git_url(CONFIG), tmp_path / "config")


def run(
    act_runner: Any,
    sandbox: GitHubSandbox,
    checkout: Path,
    workflow: str,
    event: str,
    payload: dict[str, Any],
    *,
    variables: dict[str, str] | None = None,
    allow_skipped: frozenset[str] = frozenset(),
) -> Any:
    return act_runner.run(
        checkout / workflow,
        event,
        payload,
        workdir=checkout,
        env={
            "GITHUB_REPOSITORY": CONFIG,
            "GITHUB_API_URL": sandbox.url,
            "GITOPS_RELEASE_PYTHON": sys.executable,
        },
        secrets={"GITHUB_TOKEN": TOKEN},
        variables=variables or {},
        local_actions={"gitops-release/gitops-release@v1": ROOT},
        allow_skipped=allow_skipped,
        timeout=240,
    )


def push_event(checkout: Path) -> dict[str, Any]:
    head = git("rev-parse", "HEAD", cwd=checkout).strip()
    return {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": head,
        "repository": {"full_name": CONFIG, "default_branch": "main"},
    }


def open_pull_request(sandbox: GitHubSandbox, checkout: Path) -> tuple[int, str]:
    """A same-repository pull request from branch feature (one commit on main); (number, head sha)."""
    git("checkout", "-q", "-b", "feature", cwd=checkout)
    (checkout / "data" / "input.csv").write_text("id,name\n1,orders\n2,invoices\n", encoding="utf-8")
    git("commit", "-q", "--no-gpg-sign", "-am", "add invoices", cwd=checkout)
    git("push", "-q", "origin", "feature", cwd=checkout)
    pull = sandbox_api(
        sandbox,
        "POST",
        f"/repos/{CONFIG}/pulls",
        {"title": "Add invoices", "head": "feature", "base": "main"},
    )
    return int(pull["number"]), str(pull["head"]["sha"])


def pull_request_event(action: str, number: int, head: str, base: str) -> dict[str, Any]:
    repository = {"full_name": CONFIG, "default_branch": "main"}
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "state": "closed" if action == "closed" else "open",
            "head": {"ref": "feature", "sha": head, "repo": repository},
            "base": {"ref": "main", "sha": base, "repo": repository},
        },
        "repository": repository,
    }


def states(statuses: list[dict[str, Any]], context: str) -> list[str]:
    return [s["state"] for s in statuses if s["context"] == context]


def only_deployment(sandbox: GitHubSandbox, environment: str) -> tuple[dict[str, Any], list[str]]:
    """The one deployment of ``environment`` and its statuses' states, oldest first."""
    [deployment] = [d for d in sandbox.deployments(CONFIG) if d["environment"] == environment]
    statuses = sorted(sandbox.deployment_statuses(CONFIG, deployment["id"]), key=lambda s: s["id"])
    return deployment, [s["state"] for s in statuses]


def test_a_passing_prep_on_main_ends_in_success_for_the_status_and_the_staging_deployment(
    act_runner: Any, github_sandbox: GitHubSandbox, config_repo: Path
) -> None:
    head = git("rev-parse", "HEAD", cwd=config_repo).strip()
    result = run(act_runner, github_sandbox, config_repo, CALLER, "push", push_event(config_repo))
    assert result.rc == 0, result.log[-8000:]
    assert "prep command: test -f data/input.csv" in result.log  # the workflow_call input won

    statuses = github_sandbox.statuses(CONFIG, head)
    assert states(statuses, "release-data-prep") == ["pending", "success"], statuses
    final = statuses[-1]
    assert final["description"] == "Release data prepared and validated"
    assert f"/{CONFIG}/actions/runs/" in final["target_url"], final  # the run, the default target
    deployment, deployment_states = only_deployment(github_sandbox, "staging")
    assert deployment["sha"] == head and deployment["transient_environment"] is False
    assert deployment_states == ["in_progress", "success"]
    # The final step posted on the known deployment: one list and one create in the whole run.
    sent = [(r.method, r.path) for r in github_sandbox.requests]
    assert sent.count(("GET", f"/repos/{CONFIG}/deployments")) == 1, sent
    assert sent.count(("POST", f"/repos/{CONFIG}/deployments")) == 1, sent


def test_a_failing_prep_on_a_pull_request_ends_in_failure_for_the_status_the_preview_and_the_comment(
    act_runner: Any, github_sandbox: GitHubSandbox, config_repo: Path
) -> None:
    base = git("rev-parse", "HEAD", cwd=config_repo).strip()
    number, head = open_pull_request(github_sandbox, config_repo)
    result = run(
        act_runner,
        github_sandbox,
        config_repo,
        PREP,
        "pull_request",
        pull_request_event("synchronize", number, head, base),
        variables={
            "RELEASE_DATA_PREP_COMMAND": FAILING_COMMAND,
            "RELEASE_DATA_PREP_PREVIEW": "true",
            "RELEASE_DATA_PREP_COMMENT": "true",
        },
        allow_skipped=frozenset({"main", "preview-closed"}),
    )
    assert result.rc != 0, result.log[-8000:]
    assert result.jobs.get("pull-request") == "failure", result.jobs
    assert "row counts: orders has 0 rows" in result.log

    # On the pull request's head commit (not act's merge ref), with the pull request's context.
    statuses = github_sandbox.statuses(CONFIG, head)
    assert states(statuses, "release-data-prep/pr") == ["pending", "failure"], statuses
    assert statuses[-1]["description"] == "Release data prep failed; see the workflow log"
    assert not github_sandbox.statuses(CONFIG, base)
    deployment, deployment_states = only_deployment(github_sandbox, f"preview/pr-{number}")
    assert deployment["sha"] == head
    assert deployment["transient_environment"] is True and deployment["production_environment"] is False
    assert deployment_states == ["in_progress", "failure"]
    # One summary comment, with the results the prep command wrote before it failed.
    [comment] = github_sandbox.comments(CONFIG, number)
    body = comment["body"]
    assert body.splitlines()[0] == '<!-- gitops-release:report-status context="release-data-prep/pr" -->'
    assert "failure" in body and head[:7] in body
    assert "| row counts | ❌ fail | orders: 0 rows |" in body, body


def test_a_cancelled_run_ends_in_error_for_the_status_and_the_staging_deployment_never_pending(
    act_runner: Any, github_sandbox: GitHubSandbox, config_repo: Path
) -> None:
    head = git("rev-parse", "HEAD", cwd=config_repo).strip()
    result = run(
        act_runner,
        github_sandbox,
        config_repo,
        PREP,
        "push",
        push_event(config_repo),
        allow_skipped=frozenset({"pull-request", "preview-closed"}),
    )
    assert result.rc != 0, result.log[-8000:]
    assert "prep command: bash scripts/release-data-prep.sh" in result.log  # the default
    assert "this step has been cancelled" in result.log, result.log[-8000:]  # act's SIGINT handling
    assert result.jobs.get("main") == "failure", result.jobs

    statuses = github_sandbox.statuses(CONFIG, head)
    assert states(statuses, "release-data-prep") == ["pending", "error"], statuses
    assert statuses[-1]["description"] == "Release data prep was cancelled"
    _, deployment_states = only_deployment(github_sandbox, "staging")
    assert deployment_states == ["in_progress", "error"]


def test_closing_the_pull_request_sets_its_preview_inactive_and_creates_nothing(
    act_runner: Any, github_sandbox: GitHubSandbox, config_repo: Path
) -> None:
    base = git("rev-parse", "HEAD", cwd=config_repo).strip()
    number, head = open_pull_request(github_sandbox, config_repo)
    environment = f"preview/pr-{number}"
    preview = sandbox_api(
        github_sandbox,
        "POST",
        f"/repos/{CONFIG}/deployments",
        {"ref": head, "environment": environment, "transient_environment": True,
         "required_contexts": [], "auto_merge": False},
    )  # fmt: skip
    sandbox_api(
        github_sandbox, "POST", f"/repos/{CONFIG}/deployments/{preview['id']}/statuses", {"state": "success"}
    )
    before = len(github_sandbox.requests)

    result = run(
        act_runner,
        github_sandbox,
        config_repo,
        PREP,
        "pull_request",
        pull_request_event("closed", number, head, base),
        allow_skipped=frozenset({"main", "pull-request"}),
    )
    assert result.rc == 0, result.log[-8000:]
    assert result.jobs.get("preview-closed") == "success", result.jobs
    deployment, deployment_states = only_deployment(github_sandbox, environment)
    assert deployment["id"] == preview["id"]
    assert deployment_states == ["success", "inactive"]
    writes = [(r.method, r.path) for r in github_sandbox.requests[before:] if r.method != "GET"]
    assert writes == [("POST", f"/repos/{CONFIG}/deployments/{preview['id']}/statuses")], writes
    assert not github_sandbox.statuses(CONFIG, head)
