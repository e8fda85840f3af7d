"""act harness end to end: a real workflow, a composite action mapped like a remote one, no Docker."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.fixtures.act import ActRunner, snapshot_tree

REPO_ROOT = Path(__file__).resolve().parents[2]
ECHO_WORKFLOW = REPO_ROOT / "tests/e2e/workflows/echo.yml"
LOCAL = {"gitops-release-test/gitops-release@v1": REPO_ROOT}

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
    assert "POST http://127.0.0.1:" in result.log and "/repos/acme/config/dispatches" in result.log


def test_a_run_where_no_job_ran_fails_the_test(act_runner: ActRunner, tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match=r"act ran no job of echo\.yml"):
        act_runner.run(
            ECHO_WORKFLOW, "repository_dispatch", _dispatch({}), workdir=tmp_path, job="no-such-job"
        )
