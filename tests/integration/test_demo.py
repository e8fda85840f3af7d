"""`make demo` stays working: the demo runs end to end and shows each step's real result."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_the_whole_flow_on_the_sandbox():
    result = subprocess.run(
        [sys.executable, "-m", "gitops_release.sandbox.demo"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "sandbox recorded 1 dispatch(es)" in out
    assert "changed=true" in out and "changed=false" in out
    assert "+    newTag: sha-4f2c9d8e # replaced on every release" in out
    assert "payload.tag 'latest' is a mutable tag" in out
    assert "my-app     dev      ghcr.io/org/my-app  sha-4f2c9d8e" in out  # db query shows the image
    assert "OpenAPI validation on, 0 violations" in out
    assert "demo finished" in out
