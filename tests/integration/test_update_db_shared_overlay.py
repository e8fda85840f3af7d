"""update-db write-through into an overlay several containers share (policy overlays.apps)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gitops_release.commands import update_db
from gitops_release.commands.base import Context
from gitops_release.runtime import InputReader
from tests.fixtures.git_remotes import BareRemotes, git
from tests.fixtures.kustomize_base import deployment

SHA = "b" * 40
DIGEST = "sha256:" + "f" * 64
EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
# Every * in dir is replaced by the container's name in apps (else the container itself).
POLICY = """\
channels: [dev, stage, prod]
overlays:
  dir: apps/*/overlays
  apps: {my-app-ui: my-app, my-app-worker: my-app}
"""
BASE = deployment(
    "my-app", {"ui": "ghcr.io/org/my-app-ui:1.0.0", "worker": "ghcr.io/org/my-app-worker:1.0.0"}
)
OVERLAY = """\
resources:
- ../../base
images:
  - name: ghcr.io/org/my-app-ui
    newTag: 1.0.0
  - name: ghcr.io/org/my-app-worker
    newTag: 1.0.0
"""
OVERLAY_PATH = "apps/my-app/overlays/prod/kustomization.yaml"


def release(container: str) -> dict[str, Any]:
    return {
        "container": container,
        "channel": "prod",
        "image": f"ghcr.io/org/{container}",
        "tag": "1.1.0",
        "digest": DIGEST,
        "source": {"repository": "org/my-app", "sha": SHA},
    }


def test_a_ui_and_a_worker_release_edit_their_shared_overlay_once(bare_remote: BareRemotes) -> None:
    url = bare_remote.make_bare_remote(
        {
            "db/db.json": EMPTY_DB,
            ".gitops-release.yml": POLICY,
            "apps/my-app/base/kustomization.yaml": "resources:\n- deployment.yaml\n",
            "apps/my-app/base/deployment.yaml": BASE,
            OVERLAY_PATH: OVERLAY,
        }
    )
    work = bare_remote.clone_of(url)
    payload = {"releases": [release("my-app-ui"), release("my-app-worker")]}
    env = {
        "INPUT_PAYLOAD": json.dumps(payload),
        "INPUT_REPOSITORY-PATH": str(work),
        "INPUT_WRITE-THROUGH": "true",
    }
    out = update_db.run(update_db.Inputs.from_reader(InputReader(env=env)), Context.for_env({}, workdir=work))
    assert out.changed is True
    files = git("--git-dir", url.removeprefix("file://"), "show", "--name-only", "--format=", "main").split()
    assert sorted(files) == ["apps/my-app/overlays/prod/kustomization.yaml", "db/db.json"]
    assert bare_remote.read_remote_file(url, OVERLAY_PATH) == (
        "resources:\n- ../../base\nimages:\n"
        f"  - name: ghcr.io/org/my-app-ui\n    newTag: 1.1.0\n    digest: {DIGEST}\n"
        f"  - name: ghcr.io/org/my-app-worker\n    newTag: 1.1.0\n    digest: {DIGEST}\n"
    )
    assert not Path(work, "apps/my-app-ui").exists() and not Path(work, "apps/my-app-worker").exists()
