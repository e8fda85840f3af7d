"""e2e: a config repo calls this repo's reusable workflow (.github/workflows/update-db.yml) as a
user would (``gitops-release/gitops-release/.github/workflows/update-db.yml@v1``), under act.

act resolves the remote reusable workflow and its remote action to this working tree with
--local-repository. Inside a remote reusable workflow act treats actions/checkout as a remote
action (no network here) and leaves the workspace empty, so it maps to a test-only stand-in
that clones the config repo's bare remote into the workspace, as the real one clones from GitHub.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.e2e.test_config_repo_template import CONFIG, RELEASE, TOKEN, dispatch, template_files
from tests.fixtures.git_remotes import BareRemotes

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REUSABLE = ROOT / ".github/workflows/update-db.yml"
CALLER = """\
name: record-release
on:
  repository_dispatch:
    types: [release-channel-update]
permissions: {}
jobs:
  record:
    uses: gitops-release/gitops-release/.github/workflows/update-db.yml@v1
    permissions:
      contents: write
"""


def test_caller_of_the_reusable_workflow_records_the_release(
    act_runner: Any, github_sandbox: GitHubSandbox, bare_remote: BareRemotes
) -> None:
    github_sandbox.add_token(TOKEN)
    github_sandbox.create_repo(CONFIG)
    dispatch(github_sandbox, RELEASE)
    event = github_sandbox.event_json(CONFIG)
    files = template_files()
    files[".github/workflows/record-release.yml"] = CALLER
    url = bare_remote.make_bare_remote(files)
    checkout = bare_remote.clone_of(url)
    (checkout_pin,) = set(re.findall(r"actions/checkout@([0-9a-f]{40})", REUSABLE.read_text()))

    result = act_runner.run(
        checkout / ".github/workflows/record-release.yml",
        "repository_dispatch",
        event,
        workdir=checkout,
        env={
            "GITHUB_REPOSITORY": CONFIG,
            "GITOPS_RELEASE_PYTHON": sys.executable,
            "CHECKOUT_STANDIN_URL": url,
        },
        local_actions={
            "gitops-release/gitops-release@v1": ROOT,
            f"actions/checkout@{checkout_pin}": ROOT / "tests/e2e/actions/checkout-standin",
        },
        timeout=240,
    )
    assert result.rc == 0, result.log[-6000:]
    db = json.loads(bare_remote.read_remote_file(url, "db/db.json"))
    [stored] = db["releases"]
    stored.pop("updatedAt")
    assert stored == RELEASE
    assert bare_remote.remote_log(url)[0] == "chore(release): my-app dev none → sha-01234567"
