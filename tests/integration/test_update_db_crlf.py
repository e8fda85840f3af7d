"""update-db write-through into a CRLF overlay: only the edited value changes, CRLF everywhere."""

from __future__ import annotations

import json
import subprocess

from gitops_release.commands import update_db
from gitops_release.commands.base import Context
from gitops_release.runtime import InputReader
from tests.fixtures.git_remotes import BareRemotes, url_to_path
from tests.fixtures.kustomize_base import deployment

DIGEST = "sha256:" + "e" * 64
POLICY = "channels: [dev, stage, prod]\noverlays:\n  dir: overlays\n"
OVERLAY_PATH = "overlays/dev/kustomization.yaml"
OVERLAY = (
    "# dev overlay, edited on Windows\r\n"
    "resources:\r\n"
    "- ../../base\r\n"
    "images:\r\n"
    "  - name: ghcr.io/org/my-app  # the app\r\n"
    "    newTag: sha-11111111\r\n"
)


def test_a_crlf_overlay_keeps_crlf_and_every_other_byte(bare_remote: BareRemotes) -> None:
    url = bare_remote.make_bare_remote(
        {
            "db/db.json": '{\n  "schemaVersion": 1,\n  "releases": []\n}\n',
            ".gitops-release.yml": POLICY,
            "base/kustomization.yaml": "resources:\n- deployment.yaml\n",
            "base/deployment.yaml": deployment("my-app", {"my-app": "ghcr.io/org/my-app:sha-00000000"}),
            OVERLAY_PATH: OVERLAY,
        }
    )
    work = bare_remote.clone_of(url)
    release = {
        "container": "my-app",
        "channel": "dev",
        "image": "ghcr.io/org/my-app",
        "tag": "sha-22222222",
        "digest": DIGEST,
        "source": {"repository": "org/my-app", "sha": "c" * 40},
    }
    env = {
        "INPUT_PAYLOAD": json.dumps(release),
        "INPUT_REPOSITORY-PATH": str(work),
        "INPUT_WRITE-THROUGH": "true",
        "INPUT_RENDER-CHECK": "false",
    }
    out = update_db.run(update_db.Inputs.from_reader(InputReader(env=env)), Context.for_env({}, workdir=work))
    assert out.changed is True
    stored = subprocess.run(
        ["git", "--git-dir", str(url_to_path(url)), "show", f"refs/heads/main:{OVERLAY_PATH}"],
        capture_output=True,
        check=True,
    ).stdout
    # Read as bytes: a text-mode read of the overlay used to turn every CRLF into LF on the way in.
    wanted = OVERLAY.replace("sha-11111111", "sha-22222222") + f"    digest: {DIGEST}\r\n"
    assert stored == wanted.encode()
