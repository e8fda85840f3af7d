"""`make demo` stays working: the demo runs end to end and shows each step's real result
(the release flow, then overlays status, a promotion by pull request and its merge, Argo CD
syncing the merge while await-argocd-sync shows its progress, a refused skip and a rollback)."""

from __future__ import annotations

import re
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
    # overlays status: the new build in dev, then in stage after the merge, then back in dev only;
    # sha tags do not tell which build is newer, so the status says "differs", never "ahead".
    new, old = "sha-4f2c9d8e@sha256:3b3b3b3b3b3b", "sha-00000000"
    rows = re.findall(r"^  -    ghcr\.io/org/my-app +(\S+) +(\S+) +(\S+) +(\w+)$", out, re.MULTILINE)
    assert rows == [
        (new, old, old, "differs"),
        (new, new, old, "differs"),
        (new, old, old, "differs"),
    ], out[-4000:]
    # The promotion by pull request, its merge, the refused skip and the rollback.
    assert "state: created" in out and "pull request: #1 " in out
    assert re.search(r"sandbox pull request #1: 'promote my-app:sha-4f2c9d8e to stage'", out)
    assert re.search(r"promote/stage/[0-9a-f]{10} -> main, labels: promotion, stage", out)
    assert "merged: True" in out
    # Argo CD syncs exactly the merge commit; the wait shows each change as it happens, then done.
    merge = re.search(r"merged: True, merge commit ([0-9a-f]{12}) on main", out)
    assert merge, out[-4000:]
    assert f"waiting up to 10m for my-app-stage at {merge.group(1)} (stream)" in out
    progress = re.findall(
        r"^  my-app-stage: (\S+(?: → \S+)?) · (\S+(?: → \S+)?) · .*· [0-9.]+s$", out, re.MULTILINE
    )
    assert len(progress) >= 2, out[-4000:]
    assert progress[-1][1].endswith("Healthy") and progress[-1][0].endswith("Synced"), progress
    assert re.search(
        rf"^  my-app-stage: Synced · Healthy · rev {merge.group(1)}[0-9a-f]{{28}} · done$", out, re.MULTILINE
    )
    assert re.search(
        rf"evidence: my-app-stage done at {merge.group(1)}, live images ghcr\.io/org/my-app:sha-4f2c9d8e@",
        out,
    )
    assert "dev → prod is not the next step in dev → stage → prod: it skips stage" in out
    assert "rollback in stage: 1 image" in out and "state: committed" in out
    assert "OpenAPI validation on, 0 violations" in out
    assert "Argo CD API request(s), Swagger validation on, 0 violations" in out
    assert "demo finished" in out
