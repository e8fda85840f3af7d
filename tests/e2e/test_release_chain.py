"""e2e: the whole chain as users wire it, both templates run by act against the sandbox.

A push to main in the source repo runs templates/source-repo (dispatch-update, one POST to the
GitHub sandbox). The repository_dispatch event the sandbox recorded is what GitHub would deliver
to the config repo: it drives templates/config-repo through act, and the config repo's bare
remote then holds the release in db/db.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.e2e.test_config_repo_template import WORKFLOW as CONFIG_WORKFLOW
from tests.e2e.test_config_repo_template import template_files
from tests.e2e.test_source_repo_template import (
    TOKEN,
    make_source_repo,
    run_source_template,
    stand_in_digest,
)
from tests.fixtures.git_remotes import BareRemotes, git, url_to_path

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ACTION = {"gitops-release/gitops-release@v1": ROOT}
CONFIG = "org/config"


def test_source_push_lands_in_config_repo_db(
    act_runner: Any, github_sandbox: GitHubSandbox, bare_remote: BareRemotes, tmp_path: Path
) -> None:
    github_sandbox.add_token(TOKEN)
    github_sandbox.create_repo(CONFIG)
    source = tmp_path / "my-app"
    sha = make_source_repo(source)

    built = run_source_template(act_runner, github_sandbox, source, sha)
    assert built.rc == 0, built.log[-6000:]
    (dispatch,) = github_sandbox.dispatches(CONFIG)

    url = bare_remote.make_bare_remote(template_files())
    checkout = bare_remote.clone_of(url)
    event = github_sandbox.event_json(CONFIG)
    applied = act_runner.run(
        checkout / CONFIG_WORKFLOW,
        "repository_dispatch",
        event,
        workdir=checkout,
        env={"GITHUB_REPOSITORY": CONFIG, "GITOPS_RELEASE_PYTHON": sys.executable},
        local_actions=ACTION,
        timeout=240,
    )
    assert applied.rc == 0, applied.log[-6000:]

    db = json.loads(bare_remote.read_remote_file(url, "db/db.json"))
    [stored] = db["releases"]
    assert stored.pop("updatedAt").endswith("Z")
    assert stored == dispatch["client_payload"]
    assert stored["tag"] == f"sha-{sha[:8]}" and stored["source"]["sha"] == sha
    assert bare_remote.remote_log(url)[0] == f"chore(release): my-app dev none → sha-{sha[:8]}"
    assert TOKEN not in built.log + applied.log


def test_first_v_tag_lands_in_prod_with_the_build_digest(
    act_runner: Any, github_sandbox: GitHubSandbox, bare_remote: BareRemotes, tmp_path: Path
) -> None:
    """Both templates as shipped: the config template's policy requires a digest for prod, so the
    source template must send the build's digest, or the first v* tag is refused."""
    github_sandbox.add_token(TOKEN)
    github_sandbox.create_repo(CONFIG)
    source = tmp_path / "my-app"
    sha = make_source_repo(source)

    built = run_source_template(act_runner, github_sandbox, source, sha, ref="refs/tags/v1.0.0")
    assert built.rc == 0, built.log[-6000:]
    (dispatch,) = github_sandbox.dispatches(CONFIG)
    assert dispatch["client_payload"]["channel"] == "prod"

    url = bare_remote.make_bare_remote(template_files())
    checkout = bare_remote.clone_of(url)
    applied = act_runner.run(
        checkout / CONFIG_WORKFLOW,
        "repository_dispatch",
        github_sandbox.event_json(CONFIG),
        workdir=checkout,
        env={"GITHUB_REPOSITORY": CONFIG, "GITOPS_RELEASE_PYTHON": sys.executable},
        local_actions=ACTION,
        timeout=240,
    )
    assert applied.rc == 0, applied.log[-6000:]
    [stored] = json.loads(bare_remote.read_remote_file(url, "db/db.json"))["releases"]
    stored.pop("updatedAt")
    assert stored == dispatch["client_payload"]
    assert (stored["channel"], stored["tag"], stored["source"]["ref"]) == (
        "prod",
        "v1.0.0",
        "refs/tags/v1.0.0",
    )
    assert stored["digest"] == stand_in_digest("ghcr.io/org/my-app:v1.0.0")
    # Only dev releases are written through: prod's overlay changes by promotion pull request.
    changed = git("--git-dir", str(url_to_path(url)), "diff", "--name-only", "main~1", "main").split()
    assert changed == ["db/db.json"]
