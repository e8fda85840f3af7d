"""`gitops-release sandbox` as a process: SIGTERM stops it cleanly, like Ctrl-C, and strict still
decides the exit status (CI stops it with `kill`)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env["PYTHONPATH"] = str(SRC)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitops_release", "sandbox", "--root", str(tmp_path / "root"),
         "--repositories", "org/config", "--strict", "true"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if match:
            return proc, match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("the sandbox did not print its URL")


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out + err


def test_sigterm_stops_cleanly_with_exit_0(tmp_path: Path) -> None:
    proc, url = _start(tmp_path)
    try:
        with urllib.request.urlopen(
            urllib.request.Request(
                f"{url}/repos/org/config", headers={"Authorization": "token sandbox-token"}
            ),
            timeout=30,
        ) as response:
            assert json.load(response)["full_name"] == "org/config"
    finally:
        rc, _ = _stop(proc)
    assert rc == 0


def test_sigterm_with_violations_exits_1_under_strict(tmp_path: Path) -> None:
    proc, url = _start(tmp_path)
    try:
        bad = urllib.request.Request(
            f"{url}/repos/org/config/statuses/{'a' * 40}",
            data=b'{"state": "bogus"}',
            method="POST",
            headers={"Authorization": "token sandbox-token", "Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(bad, timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code in (400, 422)
    finally:
        rc, log = _stop(proc)
    assert rc == 1
    assert "OpenAPI violation" in log
