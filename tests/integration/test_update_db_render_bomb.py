"""A YAML alias bomb in an overlay's base makes kustomize itself expand it (review of issue 7 item 4,
finding 3): update-db's render runs kubectl under an address-space limit, so the run fails with one
clear line and bounded memory instead of a gigabyte-sized kustomize and a 9 MB render to parse."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from gitops_release.adapters.kustomize import DEFAULT_MEMORY_MIB
from tests.fixtures.git_remotes import BareRemotes

EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
# The review's /tmp/rv/bomb, as it was: 374 bytes that kubectl kustomize expands to 9.4 MB using
# about 1.1 GB of memory (with no limit), one more level runs a 3 GB machine out of memory.
BOMB = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data:
  a0: &a0 [x, x, x, x, x, x, x, x, x]
  a1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]
  a2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]
  a3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]
  a4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]
  a5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]
"""
OVERLAY = "resources: [../../base]\nimages:\n- name: x\n  newTag: '1'\n"


def test_an_alias_bomb_in_a_base_fails_with_one_line_and_bounded_memory(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote(
        {
            "db/db.json": EMPTY_DB,
            ".gitops-release.yml": "overlays:\n  dir: envs\n",
            "base/kustomization.yaml": "resources: [cm.yaml]\n",
            "base/cm.yaml": BOMB,
            "envs/dev/kustomization.yaml": OVERLAY,
        }
    )
    work = bare_remote.clone_of(url)
    head = bare_remote.remote_head(url)
    payload = {
        "container": "x",
        "channel": "dev",
        "image": "x",
        "tag": "sha-1a2b3c4d",
        "source": {"repository": "org/x", "sha": "a" * 40},
    }
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "GITHUB_ACTIONS": "true",
        "INPUT_PAYLOAD": json.dumps(payload),
        "INPUT_REPOSITORY-PATH": str(work),
        "INPUT_WRITE-THROUGH": "true",
    }
    done = subprocess.run(
        [sys.executable, "-m", "gitops_release", "update-db"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert f"kubectl kustomize envs/dev ran out of memory (limit {DEFAULT_MEMORY_MIB} MiB)" in errors[0]
    assert bare_remote.remote_head(url) == head
    # No process of the run (update-db, git, kubectl) got past the limit (ru_maxrss is in KiB).
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < DEFAULT_MEMORY_MIB * 1024
