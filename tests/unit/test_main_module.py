"""``python -m gitops_release`` (``__main__``): the exit path the actions and the container take."""

from __future__ import annotations

import subprocess
import sys

from gitops_release import __version__

# Runs the module as -m does, then reports the exit code and whether the collector was frozen.
PROBE = """\
import gc, runpy, sys
sys.argv = ["gitops_release", "--version"]
try:
    runpy.run_module("gitops_release", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    print("exit", exc.code, "frozen", gc.get_freeze_count() > 0)
"""


def test_the_collector_is_frozen_before_exit_so_shutdown_skips_its_collections() -> None:
    done = subprocess.run([sys.executable, "-I", "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "exit 0 frozen True"


def test_output_still_reaches_a_pipe_and_the_exit_code_is_kept() -> None:
    # stdout to a pipe is block-buffered: it is flushed at shutdown, after the freeze.
    done = subprocess.run(
        [sys.executable, "-I", "-m", "gitops_release", "--version"], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (0, f"gitops-release {__version__}\n")
    bad = subprocess.run(
        [sys.executable, "-I", "-m", "gitops_release", "no-such-command"], capture_output=True, text=True
    )
    assert bad.returncode != 0 and "no-such-command" in bad.stdout + bad.stderr
