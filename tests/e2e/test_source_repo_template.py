"""e2e: the source-repo template, as a user copies it, run by act on a push to main.

The template names the action as users do (gitops-release/gitops-release/actions/dispatch-update@v1);
act maps that to this working tree with --local-repository. The build job computes the tag and
"builds": act in host mode has no Docker, so the docker/* actions the template pins are mapped to
stand-ins (tests/e2e/actions/docker-setup-standin, build-push-standin, whose digest output is the
sha256 of the pushed image:tag). The dispatch job runs the composite action (scripts/action-run.sh,
the runner's python3 straight from src/) against the GitHub sandbox, which records the
repository_dispatch, digest included.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates/source-repo/.github/workflows/update-release-channel.yml"
TOKEN = "ghp_e2eDispatchToken0123456789abcdef"
CONFIG = "org/config"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "e2e",
    "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
    "GIT_COMMITTER_NAME": "e2e",
    "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
    "GIT_COMMITTER_DATE": "2026-01-28T11:30:00+01:00",
}


def make_source_repo(path: Path) -> str:
    """A source repository holding the template; returns its HEAD sha."""
    workflows = path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    shutil.copy(TEMPLATE, workflows / TEMPLATE.name)
    (path / "Dockerfile").write_text("FROM scratch\n")

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args],
            cwd=path,
            env={**os.environ, **GIT_ENV},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "--no-gpg-sign", "-m", "app")
    return git("rev-parse", "HEAD")


def docker_stand_ins() -> dict[str, Path]:
    """The docker/* actions the template pins (by SHA) -> the stand-ins act runs instead."""
    text = TEMPLATE.read_text(encoding="utf-8")
    stand_ins = {
        "setup-buildx-action": "docker-setup-standin",
        "login-action": "docker-setup-standin",
        "build-push-action": "build-push-standin",
    }
    mapped = {}
    for name, pin in re.findall(r"uses: docker/([a-z-]+)@([0-9a-f]{40})", text):
        assert name in stand_ins, f"the template uses docker/{name}: give it a stand-in"
        mapped[f"docker/{name}@{pin}"] = ROOT / "tests/e2e/actions" / stand_ins[name]
    assert any("build-push-action" in spec for spec in mapped), "the template must build and push"
    return mapped


def stand_in_digest(image_ref: str) -> str:
    """The digest build-push-standin reports for pushing ``image_ref`` (image:tag)."""
    return "sha256:" + hashlib.sha256(image_ref.encode()).hexdigest()


def run_source_template(
    act_runner: Any, sandbox: GitHubSandbox, source: Path, sha: str, ref: str = "refs/heads/main"
) -> Any:
    """The template on a push of ``ref`` in ``source``, dispatching to the sandbox's org/config."""
    return act_runner.run(
        source / ".github/workflows/update-release-channel.yml",
        "push",
        {"ref": ref, "after": sha, "repository": {"name": "my-app", "full_name": "org/my-app"}},
        workdir=source,
        env={"GITHUB_API_URL": sandbox.url, "GITHUB_REPOSITORY": "org/my-app"},
        secrets={"RELEASE_DISPATCH_TOKEN": TOKEN},
        local_actions={"gitops-release/gitops-release@v1": ROOT, **docker_stand_ins()},
        timeout=240,
        variables={"CONFIG_REPOSITORY": CONFIG},
    )


def test_push_to_main_dispatches_the_release(act_runner: Any, github_sandbox: GitHubSandbox, tmp_path: Path):
    github_sandbox.add_token(TOKEN)
    github_sandbox.create_repo(CONFIG)
    source = tmp_path / "my-app"
    sha = make_source_repo(source)

    result = run_source_template(act_runner, github_sandbox, source, sha)
    assert result.rc == 0, result.log[-6000:]
    assert result.jobs.get("build") == "success" and result.jobs.get("dispatch") == "success", result.jobs

    assert [(r.method, r.path, r.status) for r in github_sandbox.requests] == [
        ("POST", f"/repos/{CONFIG}/dispatches", 204)
    ]
    (dispatch,) = github_sandbox.dispatches(CONFIG)
    assert dispatch["event_type"] == "release-channel-update"
    payload = dispatch["client_payload"]
    run_url = payload["source"].pop("runUrl")
    assert run_url.startswith("https://github.com/org/my-app/actions/runs/")
    # the commit's committer time (GIT_COMMITTER_DATE below), from the build job's checkout, so a
    # re-run of this run dispatches the same time and cannot roll the channel back
    assert payload["source"].pop("builtAt") == "2026-01-28T10:30:00Z"
    assert payload == {
        "container": "my-app",
        "channel": "dev",
        "image": "ghcr.io/org/my-app",
        "tag": f"sha-{sha[:8]}",
        "digest": stand_in_digest(f"ghcr.io/org/my-app:sha-{sha[:8]}"),
        "source": {"repository": "org/my-app", "sha": sha, "ref": "refs/heads/main"},
    }
    outputs = result.outputs.get("dispatch.dispatch", {})
    assert outputs.get("dispatched-to") == CONFIG, result.outputs
    assert TOKEN not in result.log
