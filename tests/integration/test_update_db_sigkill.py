"""SIGKILL update-db at random moments: db.json is always the old or the new complete document.

A db of a few thousand releases makes the write take measurable time. Each run uses a fresh
clone (a killed runner is a new VM), kills ``gitops-release update-db`` with SIGKILL after a
random delay spread over the whole measured runtime, then checks the working tree's db.json
and the remote's: each must parse and validate, and equal either the document before the run
or that document plus the new release.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.git_remotes import BareRemotes
from tests.fixtures.releases import synthetic_releases

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNS = 20
RELEASES = 3000
SHA = "b" * 40


def big_db(n: int) -> str:
    releases = synthetic_releases(n, sha=SHA)
    return json.dumps({"schemaVersion": 1, "releases": releases}, indent=2) + "\n"


def tags(text: str) -> dict[tuple[str, str], str]:
    from gitops_release.core.db import load_db

    db = load_db(text, path="db/db.json")  # raises on a partial or corrupt document
    return {(r.container, r.channel): r.tag for r in db.releases}


def command(clone: Path, tag: str) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "RUNNER_", "GIT_"))}
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT / "src"),
            "INPUT_REPOSITORY-PATH": str(clone),
            "INPUT_PAYLOAD": json.dumps(
                {
                    "container": "svc-00042",
                    "channel": "dev",
                    "image": "ghcr.io/org/svc-00042",
                    "tag": tag,
                    "source": {"repository": "org/mono", "sha": SHA},
                }
            ),
        }
    )
    return [sys.executable, "-m", "gitops_release", "update-db"], env


@pytest.mark.slow
def test_sigkill_never_leaves_a_partial_db(bare_remote: BareRemotes) -> None:
    url = bare_remote.make_bare_remote({"db/db.json": big_db(RELEASES)})
    rng = random.Random(1234)

    # One complete run measures how long a run takes on this machine (no assertion on it).
    argv, env = command(bare_remote.clone_of(url), "sha-warmup")
    started = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    runtime = time.monotonic() - started
    assert done.returncode == 0, done.stderr

    outcomes = {"old": 0, "new": 0}
    for run in range(RUNS):
        clone = bare_remote.clone_of(url)
        before_text = (clone / "db" / "db.json").read_text()
        before = tags(before_text)
        new_tag = f"sha-run{run:04d}"
        expected_new = {**before, ("svc-00042", "dev"): new_tag}
        argv, env = command(clone, new_tag)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, runtime * 1.1))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)

        local_text = (clone / "db" / "db.json").read_text()
        local = tags(local_text)
        assert local in (before, expected_new), f"run {run}: partial update in the working tree"
        if local == before:
            assert local_text == before_text
        outcomes["old" if local == before else "new"] += 1
        remote = tags(bare_remote.read_remote_file(url, "db/db.json"))
        assert remote in (before, expected_new), f"run {run}: the remote holds neither document"
    # Both outcomes must have happened, or the kill delays did not cover the write.
    assert outcomes["old"] > 0 and outcomes["new"] > 0, outcomes
