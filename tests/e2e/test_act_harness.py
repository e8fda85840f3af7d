"""act harness end to end: a real workflow, a composite action mapped like a remote one, no Docker."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.act import ActResult, ActRunner, missing_jobs, read_workflow, selected_jobs, snapshot_tree

REPO_ROOT = Path(__file__).resolve().parents[2]
ECHO_WORKFLOW = REPO_ROOT / "tests/e2e/workflows/echo.yml"
LOCAL = {"gitops-release/gitops-release@v1": REPO_ROOT}

pytestmark = pytest.mark.e2e


def _dispatch(payload: dict[str, object]) -> dict[str, object]:
    return {"action": "echo", "client_payload": payload}


def test_inputs_via_env_reach_the_action_and_outputs_reach_the_next_step(
    act_runner: ActRunner, tmp_path: Path
) -> None:
    result = act_runner.run(
        ECHO_WORKFLOW,
        "repository_dispatch",
        _dispatch({"greeting": "hello", "names": "ann, bob\ncy"}),
        workdir=tmp_path,
        secrets={"ECHO_TOKEN": "tok-very-secret-123"},
        local_actions=LOCAL,
    )

    assert result.rc == 0, result.log
    assert result.jobs == {"echo": "success"}
    assert result.outputs["echo"] == {
        "message": "hello, ann and bob and cy",
        "names": '["ann","bob","cy"]',
        "lines": "ann\nbob\ncy",
        "token": "***",
    }
    assert result.outputs["echo.check"] == {
        "seen": "hello, ann and bob and cy",
        "count": "3",
        "names": '["ann","bob","cy"]',
    }
    assert "echo-inputs said: hello, ann and bob and cy" in result.summary
    assert "next step saw: hello, ann and bob and cy" in result.log
    assert "tok-very-secret-123" not in result.log
    assert "(token ***)" in result.log


def test_a_plain_value_read_as_a_secret_input_is_masked_by_gitops_release(
    act_runner: ActRunner, tmp_path: Path
) -> None:
    # Not an act secret (act would mask that itself): an event value, so only our own
    # runtime.register_secret (InputSpec(secret=True)) can keep it out of the log.
    token = "ghp_PlainEventValueNotAnActSecret0123"
    result = act_runner.run(
        ECHO_WORKFLOW,
        "repository_dispatch",
        _dispatch({"greeting": "hello", "token": token}),
        workdir=tmp_path,
        local_actions=LOCAL,
    )

    assert result.rc == 0, result.log
    assert result.masks == [token]  # ::add-mask::<token> exactly once
    leaking = [json.loads(line) for line in result.raw.splitlines() if token in line]
    assert [(r.get("command"), r.get("raw")) for r in leaking] == [("add-mask", f"::add-mask::{token}\n")]
    assert token not in result.log
    assert token not in result.summary
    assert all(token not in value for outputs in result.outputs.values() for value in outputs.values())
    assert all(token not in text for annotation in result.annotations for text in annotation)
    assert result.outputs["echo"]["token"] == "***"
    assert "echo-inputs: hello, world (token ***)" in result.log
    assert "next step saw the token output: ***" in result.log
    assert "echo-inputs said: hello, world (token ***)" in result.summary


def test_a_failing_step_fails_the_run_with_one_error_line(act_runner: ActRunner, tmp_path: Path) -> None:
    result = act_runner.run(
        ECHO_WORKFLOW,
        "repository_dispatch",
        _dispatch({"greeting": "hello", "fail": "true"}),
        workdir=tmp_path,
        local_actions=LOCAL,
    )

    assert result.rc != 0
    assert result.jobs == {"echo": "failure"}
    assert "::error title=Echo failed::input 'fail' asked this step to fail" in result.log
    assert result.annotations == [
        ("error", "Echo failed", "input 'fail' asked this step to fail. Fix: set fail: false")
    ]
    assert "check" not in result.outputs


def test_an_unmapped_runs_on_label_fails_the_test_instead_of_skipping(
    act_runner: ActRunner, tmp_path: Path
) -> None:
    workflow = tmp_path / "wf" / "windows.yml"
    workflow.parent.mkdir()
    workflow.write_text(
        "on: push\njobs:\n  win:\n    runs-on: windows-latest\n    steps:\n      - run: echo hi\n",
        encoding="utf-8",
    )
    workdir = tmp_path / "repo"
    workdir.mkdir()

    with pytest.raises(pytest.fail.Exception, match="unmapped runs-on label"):
        act_runner.run(workflow, "push", {}, workdir=workdir)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, only not yet reaped


def _pid_workflow(tmp_path: Path, tail: str) -> tuple[Path, Path, Path]:
    workflow = tmp_path / "wf" / "pids.yml"
    workflow.parent.mkdir()
    workflow.write_text(
        "on: push\njobs:\n  bg:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: |\n"
        "          sleep 600 >/dev/null 2>&1 &\n"
        '          echo "$!" >> "$PID_FILE"\n'
        f"          {tail}\n",
        encoding="utf-8",
    )
    workdir = tmp_path / "repo"
    workdir.mkdir()
    return workflow, workdir, tmp_path / "pids"


def test_background_processes_of_a_step_do_not_outlive_the_run(act_runner: ActRunner, tmp_path: Path) -> None:
    workflow, workdir, pid_file = _pid_workflow(tmp_path, "echo started")

    result = act_runner.run(workflow, "push", {}, workdir=workdir, env={"PID_FILE": str(pid_file)})

    assert result.rc == 0, result.log
    pids = [int(line) for line in pid_file.read_text(encoding="utf-8").split()]
    assert len(pids) == 1
    assert not _alive(pids[0])


def test_a_run_past_its_timeout_is_killed_and_fails_the_test(act_runner: ActRunner, tmp_path: Path) -> None:
    workflow, workdir, pid_file = _pid_workflow(tmp_path, 'echo "$$" >> "$PID_FILE"; sleep 600')

    with pytest.raises(pytest.fail.Exception, match="act timed out after 5s"):
        act_runner.run(workflow, "push", {}, workdir=workdir, env={"PID_FILE": str(pid_file)}, timeout=5)

    pids = [int(line) for line in pid_file.read_text(encoding="utf-8").split()] if pid_file.exists() else []
    assert all(not _alive(pid) for pid in pids)


def test_ci_actions_job_runs_the_local_dispatch_update_action_against_the_sandbox(
    act_runner: ActRunner, tmp_path: Path
) -> None:
    # Only the `actions` job: the `test` job runs `make test`, i.e. this very test suite.
    checkout = snapshot_tree(REPO_ROOT, tmp_path / "checkout")

    result = act_runner.run(
        REPO_ROOT / ".github/workflows/ci.yml",
        "push",
        {"ref": "refs/heads/main"},
        workdir=checkout,
        # The runner's python3 has no dependencies: use ours instead of a per-run venv install.
        env={"GITHUB_REPOSITORY": "acme/gitops-release", "GITOPS_RELEASE_PYTHON": sys.executable},
        job="actions",
    )

    assert result.rc == 0, result.log
    assert result.jobs == {"actions": "success"}
    assert result.outputs["check"] == {"verified": "true"}
    assert result.outputs["dispatch"]["dispatched-to"] == "acme/config"
    assert result.outputs["update-db"]["changed"] == "true"
    assert result.outputs["db"] == {"db-verified": "true"}
    assert result.outputs["stop-sandbox"] == {"exit-status": "0"}
    assert "POST http://127.0.0.1:" in result.log and "/repos/acme/config/dispatches" in result.log


CONTRACT_BREAKING_STEP = """\
      - name: A request the OpenAPI description does not allow (form-encoded body)
        env:
          API: ${{ steps.sandbox.outputs.api-url }}
        run: |
          "$GITOPS_RELEASE_PYTHON" - <<'PY'
          import os, urllib.error, urllib.request
          request = urllib.request.Request(
              os.environ["API"] + "/repos/acme/config/dispatches",
              data=b"event_type=x",
              headers={"Authorization": "token sandbox-token"},
          )
          try:
              urllib.request.urlopen(request)
          except urllib.error.HTTPError as exc:
              print("answered", exc.code)
          PY
"""


def test_ci_actions_job_fails_when_the_strict_sandbox_recorded_an_openapi_violation(
    act_runner: ActRunner, tmp_path: Path
) -> None:
    checkout = snapshot_tree(REPO_ROOT, tmp_path / "checkout")
    ci = checkout / ".github/workflows/ci.yml"
    text = ci.read_text(encoding="utf-8")
    stop = "      - id: stop-sandbox\n"
    assert text.count(stop) == 1
    ci.write_text(text.replace(stop, CONTRACT_BREAKING_STEP + stop), encoding="utf-8")

    result = act_runner.run(
        ci,
        "push",
        {"ref": "refs/heads/main"},
        workdir=checkout,
        env={"GITHUB_REPOSITORY": "acme/gitops-release", "GITOPS_RELEASE_PYTHON": sys.executable},
        job="actions",
    )

    assert result.rc != 0
    assert result.jobs == {"actions": "failure"}
    assert result.outputs["db"] == {"db-verified": "true"}  # everything before the stop step passed
    assert "stopping" in result.log
    assert result.outputs["stop-sandbox"] == {"exit-status": "1"}  # the strict sandbox's verdict
    assert "sandbox exit status: 1" in result.log
    assert any(level == "error" and "OpenAPI violation" in title for level, title, _ in result.annotations)


def test_ci_workflow_timeouts_interpreters_and_strict_sandbox() -> None:
    ci = read_ci()
    jobs = ci["jobs"]
    assert all(isinstance(job.get("timeout-minutes"), int) for job in jobs.values()), jobs
    assert jobs["test"]["timeout-minutes"] == 10
    # Both interpreters in every leg, the matrix one last (the default python3).
    legs = jobs["test"]["strategy"]["matrix"]["include"]
    assert sorted((leg["python"], leg["other"]) for leg in legs) == [("3.10", "3.12"), ("3.12", "3.10")]
    [setup] = [step for step in jobs["test"]["steps"] if "setup-python" in step.get("uses", "")]
    versions = [line.strip() for line in setup["with"]["python-version"].splitlines() if line.strip()]
    assert versions == ["${{ matrix.other }}", "${{ matrix.python }}"]
    steps = {step.get("id", step.get("name")): step for step in jobs["actions"]["steps"]}
    assert "make venv" in steps["python"]["run"]
    assert "--strict true" in steps["sandbox"]["run"]


def test_ci_prints_the_sandbox_exit_status_in_a_step_that_does_not_fail_after_it() -> None:
    """act (host mode) drops the last lines of a failing step's output (it returns on the step's
    error before its pty output is copied; under load, often): the step that prints the sandbox's
    log and exit status must succeed once the sandbox stopped, and a later step fail on it."""
    steps = read_ci()["jobs"]["actions"]["steps"]
    [stop] = [step for step in steps if step.get("id") == "stop-sandbox"]
    script = [line.strip() for line in stop["run"].splitlines() if line.strip()]
    printed = script.index('echo "sandbox exit status: $status"')
    assert script[printed + 1 :] == ['echo "exit-status=$status" >>"$GITHUB_OUTPUT"']
    after = steps[steps.index(stop) + 1 :]
    [check] = [step for step in after if "steps.stop-sandbox.outputs.exit-status" in str(step)]
    assert check["if"].startswith("always()")
    assert check["env"] == {"STATUS": "${{ steps.stop-sandbox.outputs.exit-status }}"}
    assert 'if [ "$STATUS" != 0 ]' in check["run"] and "exit 1" in check["run"]


def read_ci() -> dict[str, Any]:
    import yaml

    data = yaml.safe_load((REPO_ROOT / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_a_run_where_no_job_ran_fails_the_test(act_runner: ActRunner, tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"act ran no job of echo\.yml"):
        act_runner.run(
            ECHO_WORKFLOW, "repository_dispatch", _dispatch({}), workdir=tmp_path, job="no-such-job"
        )


SKIPS = """\
on: push
jobs:
  ran:
    runs-on: ubuntu-latest
    steps:
      - run: echo ran
  off:
    if: false
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  after-off:
    needs: off
    runs-on: ubuntu-latest
    steps:
      - run: echo never either
  call:
    needs: ran
    uses: ./.github/workflows/reusable.yml
"""
REUSABLE = (
    "on: workflow_call\njobs:\n  inner:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo inner\n"
)
WINDOWS_JOB = "  win:\n    runs-on: [windows-latest]\n    steps:\n      - run: echo win\n"


def _skips_repo(tmp_path: Path, *, with_windows: bool) -> tuple[Path, Path]:
    workdir = tmp_path / "repo"
    (workdir / ".github/workflows").mkdir(parents=True)
    workflow = workdir / ".github/workflows/skips.yml"
    workflow.write_text(SKIPS + (WINDOWS_JOB if with_windows else ""), encoding="utf-8")
    (workdir / ".github/workflows/reusable.yml").write_text(REUSABLE, encoding="utf-8")
    return workflow, workdir


def test_a_job_whose_if_is_false_fails_the_test_unless_allowed(act_runner: ActRunner, tmp_path: Path) -> None:
    workflow, workdir = _skips_repo(tmp_path, with_windows=False)

    # `off` is reported; `after-off` (its need did not succeed) and `call` (ran via the reusable
    # workflow's job) are not.
    with pytest.raises(pytest.fail.Exception, match=r"did not run job\(s\) off of skips\.yml \(event push"):
        act_runner.run(workflow, "push", {}, workdir=workdir)

    result = act_runner.run(workflow, "push", {}, workdir=workdir, allow_skipped={"off"})
    assert result.rc == 0, result.log
    assert result.jobs == {"ran": "success", "inner": "success"}
    assert [(job_id, name) for job_id, name, _ in result.job_records] == [
        ("ran", "skips.yml/ran"),
        ("inner", "call/reusable.yml/inner"),
    ]


def test_an_unmapped_label_fails_even_when_allow_listed_and_job_selection_is_honoured(
    act_runner: ActRunner, tmp_path: Path
) -> None:
    workflow, workdir = _skips_repo(tmp_path, with_windows=True)

    with pytest.raises(pytest.fail.Exception, match="unmapped runs-on label"):
        act_runner.run(workflow, "push", {}, workdir=workdir, allow_skipped={"off", "win"})

    # -j call selects call and what it needs (ran), not win nor off.
    result = act_runner.run(workflow, "push", {}, workdir=workdir, job="call")
    assert result.jobs == {"ran": "success", "inner": "success"}


def test_allow_skipped_must_name_jobs_of_the_workflow(act_runner: ActRunner, tmp_path: Path) -> None:
    workflow, workdir = _skips_repo(tmp_path, with_windows=False)

    with pytest.raises(pytest.fail.Exception, match=r"allow_skipped names of, not jobs of skips\.yml"):
        act_runner.run(workflow, "push", {}, workdir=workdir, allow_skipped={"of"})


def test_skipped_jobs_are_found_from_the_workflow_not_from_acts_message(tmp_path: Path) -> None:
    # Without act's "Skipping unsupported platform" line, the unmapped job is still missing.
    workflow, _ = _skips_repo(tmp_path, with_windows=True)
    parsed = read_workflow(workflow)
    ran = ActResult(
        rc=0,
        log="",
        outputs={},
        job_records=[("ran", "skips.yml/ran", "success"), ("inner", "call/reusable.yml/inner", "success")],
    )

    assert selected_jobs(parsed, "push", None) == ["ran", "off", "after-off", "call", "win"]
    assert selected_jobs(parsed, "push", "after-off") == ["off", "after-off"]
    assert selected_jobs(parsed, "pull_request", None) == []
    assert missing_jobs(parsed, "push", None, ran, frozenset({"off"})) == ["win"]
    assert missing_jobs(parsed, "push", "call", ran, frozenset()) == []
    # The reusable-workflow job counts only through its called workflow's jobs.
    only_ran = ActResult(rc=0, log="", outputs={}, job_records=[("ran", "skips.yml/ran", "success")])
    assert missing_jobs(parsed, "push", "call", only_ran, frozenset()) == ["call"]
    # A job whose need failed is skipped by GitHub too: not missing.
    failed = ActResult(rc=1, log="", outputs={}, job_records=[("ran", "skips.yml/ran", "failure")])
    assert missing_jobs(parsed, "push", "call", failed, frozenset()) == []
