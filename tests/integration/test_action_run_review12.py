"""Review of issue 12 (REVIEW12a.md): what the user's side of a job can make action-run.sh run.

The composite step's environment holds the action's inputs (INPUT_TOKEN: a token with
contents: write, or an App key) while action-run.sh sets up the venv. These use the offline
fake project of test_action_run_lock (a wheelhouse, no index)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

from tests.integration.test_action_run_lock import (
    PATH_WITHOUT_UV,
    UV,
    action_run,
    fake_root,
    offline_env,
)

SECRET = "ghs_review12SECRETvalue0123456789"


def test_a_uv_from_the_users_checkout_on_path_is_not_run(tmp_path: Path) -> None:
    """REVIEW12a #5: find_uv takes the first `uv` on PATH. Workflows commonly put a directory of
    the checkout on PATH (node_modules/.bin, ./bin, a venv in the workspace: echo "$PWD/bin" >>
    "$GITHUB_PATH"); a `uv` committed there (a pull request's, for pull_request_target) then runs
    as the installer, with INPUT_TOKEN in its environment."""
    root, wheelhouse = fake_root(tmp_path)
    env = offline_env(tmp_path, root, wheelhouse, uv=False)
    workspace = tmp_path / "workspace"
    (workspace / "bin").mkdir(parents=True)
    stolen = tmp_path / "stolen"
    hostile = workspace / "bin" / "uv"
    hostile.write_text(f'#!/bin/sh\nprintf %s "$INPUT_TOKEN" > {stolen}\nexit 1\n', encoding="utf-8")
    hostile.chmod(0o755)
    env.update(
        PATH=f"{workspace / 'bin'}:{PATH_WITHOUT_UV}", GITHUB_WORKSPACE=str(workspace), INPUT_TOKEN=SECRET
    )
    action_run(env, workspace, "update-db")
    assert not stolen.exists(), f"the checkout's bin/uv ran and read INPUT_TOKEN: {stolen.read_text()!r}"


def test_the_installers_do_not_get_the_actions_inputs(tmp_path: Path) -> None:
    """REVIEW12a #5 (defence in depth): uv, pip, ensurepip and the build backend need none of
    the INPUT_* values, yet `clean` passes the whole step environment, token included."""
    root, wheelhouse = fake_root(tmp_path)
    env = offline_env(tmp_path, root, wheelhouse, uv=False)
    bin_dir = tmp_path / "uv-spy"
    bin_dir.mkdir()
    seen = tmp_path / "installer-env"
    spy = bin_dir / "uv"
    spy.write_text(f'#!/bin/sh\nenv >> {seen}\nexec {UV} "$@"\n', encoding="utf-8")
    spy.chmod(0o755)
    env.update(PATH=f"{bin_dir}:{PATH_WITHOUT_UV}", INPUT_TOKEN=SECRET)
    workspace = tmp_path / "workspace"  # not tmp_path: the spy uv would be in the workspace (#5)
    workspace.mkdir()
    done = action_run(env, workspace, "update-db")
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen.exists(), "the spy uv did not run"
    assert SECRET not in seen.read_text(encoding="utf-8"), "the installer ran with INPUT_TOKEN"


def test_without_runner_temp_a_venv_planted_in_the_shared_tmp_is_not_executed(tmp_path: Path) -> None:
    """REVIEW12a #8: outside GitHub's runner (RUNNER_TEMP unset: a shell, other CI), the venv is
    /tmp/gitops-release-venv-<version>, a predictable name in a world-writable directory. Anyone on
    the machine can create it first with a stamp that matches (the lock's sha256 and the root are
    no secret) and a bin/python of their own: action-run.sh runs it with the inputs' token."""
    root, wheelhouse = fake_root(tmp_path)
    version = f"9.9.9.post{os.getpid()}"
    (root / "src" / "gitops_release" / "__init__.py").write_text(
        f'__version__ = "{version}"\n', encoding="utf-8"
    )
    env = offline_env(tmp_path, root, wheelhouse, uv=False)
    del env["RUNNER_TEMP"]
    env["INPUT_TOKEN"] = SECRET
    planted = Path("/tmp") / f"gitops-release-venv-{version}"
    stolen = tmp_path / "stolen"
    try:
        (planted / "bin").mkdir(parents=True)
        lock_sha = hashlib.sha256((root / "requirements" / "runtime.lock").read_bytes()).hexdigest()
        (planted / ".gitops-release-root").write_text(
            f"lock {lock_sha}\nroot {root.resolve()}", encoding="utf-8"
        )
        python = planted / "bin" / "python"
        python.write_text(f'#!/bin/sh\nprintf %s "$INPUT_TOKEN" > {stolen}\n', encoding="utf-8")
        python.chmod(python.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        action_run(env, tmp_path, "update-db")
        assert not stolen.exists(), "a venv someone else created in /tmp ran with INPUT_TOKEN"
    finally:
        shutil.rmtree(planted, ignore_errors=True)
        Path(f"{planted}.lock").unlink(missing_ok=True)
