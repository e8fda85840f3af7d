"""e2e: the config-repo template, as a user copies it, run by act on a recorded repository_dispatch.

The GitHub sandbox records a dispatch (a real POST /repos/org/config/dispatches) and gives the
webhook payload GitHub would deliver (``event_json``). act runs
templates/config-repo/.github/workflows/update-release-channel-db.yml on a clone of the config
repo whose origin is a bare remote, with gitops-release/gitops-release@v1 mapped to this working
tree. The bare remote's db.json must then hold the release, committed once, with the dev overlay
(a dev release is written through).
"""

from __future__ import annotations

import json
import shutil
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import BareRemotes

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "config-repo"
WORKFLOW = ".github/workflows/update-release-channel-db.yml"
TOKEN = "ghp_e2eConfigRepoToken0123456789abcdef"
CONFIG = "org/config"
SHA = "0123456789abcdef0123456789abcdef01234567"
RELEASE = {
    "container": "my-app",
    "channel": "dev",
    "image": "ghcr.io/org/my-app",
    "tag": "sha-01234567",
    "digest": "sha256:" + "ab" * 32,
    "source": {
        "repository": "org/my-app",
        "sha": SHA,
        "ref": "refs/heads/main",
        "runUrl": "https://github.com/org/my-app/actions/runs/1",
    },
}


def template_files() -> dict[str, str]:
    files = {}
    for path in TEMPLATE.rglob("*"):
        if path.is_file():
            files[str(path.relative_to(TEMPLATE))] = path.read_text(encoding="utf-8")
    return files


def dispatch(sandbox: GitHubSandbox, payload: dict[str, Any]) -> None:
    body = json.dumps({"event_type": "release-channel-update", "client_payload": payload}).encode()
    request = urllib.request.Request(
        f"{sandbox.url}/repos/{CONFIG}/dispatches",
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/vnd.github+json",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204


def test_dispatch_lands_in_the_config_repo_db(
    act_runner: Any, github_sandbox: GitHubSandbox, bare_remote: BareRemotes, tmp_path: Path
) -> None:
    github_sandbox.add_token(TOKEN)
    github_sandbox.create_repo(CONFIG)
    dispatch(github_sandbox, RELEASE)
    event = github_sandbox.event_json(CONFIG)
    (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")

    url = bare_remote.make_bare_remote(template_files())
    checkout = bare_remote.clone_of(url)
    assert shutil.which("git")

    result = act_runner.run(
        checkout / WORKFLOW,
        "repository_dispatch",
        event,
        workdir=checkout,
        env={"GITHUB_REPOSITORY": CONFIG, "GITOPS_RELEASE_PYTHON": sys.executable},
        local_actions={"gitops-release/gitops-release@v1": ROOT},
        timeout=240,
    )
    assert result.rc == 0, result.log[-6000:]
    assert result.jobs.get("update-db") == "success", result.jobs

    db = json.loads(bare_remote.read_remote_file(url, "db/db.json"))
    [stored] = db["releases"]
    assert stored.pop("updatedAt").endswith("Z")
    assert stored == RELEASE
    assert bare_remote.remote_log(url)[0] == "chore(release): my-app dev none → sha-01234567"
    # A dev release also sets dev's overlay (write-through), so Argo CD deploys it and promote.yml
    # has it to promote; the worker's entry stays as it was.
    dev = bare_remote.read_remote_file(url, "infra/argocd/overlays/dev/kustomization.yaml")
    assert dev == template_files()["infra/argocd/overlays/dev/kustomization.yaml"].replace(
        "    newTag: sha-00000000\n", f"    newTag: sha-01234567\n    digest: {RELEASE['digest']}\n", 1
    )
    outputs = result.outputs.get("update-db.update-db", {})
    assert outputs.get("changed") == "true", result.outputs
    assert outputs.get("commit-sha") == bare_remote.remote_head(url)
