"""e2e: .github/workflows/release.yml run by act on a tag push, against a local bare remote.

The workdir is this repository's working tree (tracked and untracked-not-ignored files) committed
once and tagged, like a release checkout; its bare clone at ``<server>/acme/gitops-release.git``
is the remote: the release job pushes to ``https://github.com/acme/gitops-release.git`` (its
``github.server_url``, which act also needs for mapping the actions) and a global git config
(``GIT_CONFIG_GLOBAL``, ``url.<server>.insteadOf``) sends that push to the bare remote.
act in host mode has no Docker and no network, so the docker/* actions are mapped to the
stand-ins tests/e2e/actions/docker-setup-standin and build-push-standin (which check a Dockerfile
and print what they would push), and ``gh`` is a stand-in on PATH that records its arguments and
the notes file it was given. What act cannot show: the real registry push and GitHub's release
API; the unit tests (tests/unit/test_release_workflow.py) pin the inputs given to them.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.act import ActResult, ActRunner, snapshot_tree

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github/workflows/release.yml"
REPOSITORY = "acme/gitops-release"
TOKEN = "ghs_e2eReleaseRunToken0123456789abcdef"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "e2e",
    "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
    "GIT_COMMITTER_NAME": "e2e",
    "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
}
STAND_INS = {
    "setup-buildx-action": "docker-setup-standin",
    "login-action": "docker-setup-standin",
    "build-push-action": "build-push-standin",
}
# Records every call (one line of arguments) and copies the --notes-file it was given; `release
# view` finds nothing (a first run), as on a repository without this release yet.
GH_STANDIN = """#!/usr/bin/env bash
set -euo pipefail
: "${GH_STANDIN_DIR:?}"
printf '%s\\n' "$*" >> "$GH_STANDIN_DIR/calls"
printf '%s %s\\n' "${GH_REPO:-}" "${GH_TOKEN:+token-set}" >> "$GH_STANDIN_DIR/env"
if [ "$1 $2" = "release view" ]; then echo "release not found" >&2; exit 1; fi
while [ $# -gt 0 ]; do
  if [ "$1" = "--notes-file" ]; then cp "$2" "$GH_STANDIN_DIR/notes.md"; fi
  shift
done
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def docker_stand_ins() -> dict[str, Path]:
    mapped = {}
    for name, pin in re.findall(
        r"uses: docker/([a-z-]+)@([0-9a-f]{40})", WORKFLOW.read_text(encoding="utf-8")
    ):
        mapped[f"docker/{name}@{pin}"] = ROOT / "tests/e2e/actions" / STAND_INS[name]
    assert len(mapped) == 3, mapped
    return mapped


class Release:
    """A tagged checkout of this repository, its bare remote, and the gh stand-in's records."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.work = snapshot_tree(ROOT, tmp_path / "work")
        git(self.work, "init", "-q", "-b", "main")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--no-gpg-sign", "-m", "first")
        self.old = git(self.work, "rev-parse", "HEAD")
        git(self.work, "tag", "v0", self.old)  # where v0 pointed before this release
        git(self.work, "commit", "-q", "--no-gpg-sign", "--allow-empty", "-m", "release 0.1.0")
        self.head = git(self.work, "rev-parse", "HEAD")
        self.server = tmp_path / "server"
        self.remote = self.server / f"{REPOSITORY}.git"
        self.remote.parent.mkdir(parents=True)
        git(tmp_path, "clone", "-q", "--bare", str(self.work), str(self.remote))
        self.gitconfig = tmp_path / "gitconfig"
        self.gitconfig.write_text(f'[url "file://{self.server}/"]\n\tinsteadOf = https://github.com/\n')
        self.gh_dir = tmp_path / "gh-records"
        self.gh_dir.mkdir()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        gh = bin_dir / "gh"
        gh.write_text(GH_STANDIN, encoding="utf-8")
        gh.chmod(gh.stat().st_mode | stat.S_IXUSR)
        # act in host mode hands its own environment (PATH included) to every step
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def tag(self, name: str) -> None:
        git(self.work, "tag", name)
        git(self.work, "push", "-q", str(self.remote), f"refs/tags/{name}")

    def remote_tags(self) -> dict[str, str]:
        lines = git(self.remote, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/tags")
        return dict(line.split() for line in lines.splitlines())

    def run(self, act_runner: ActRunner, tag: str) -> ActResult:
        return act_runner.run(
            WORKFLOW,
            "push",
            {"ref": f"refs/tags/{tag}", "after": self.head, "repository": {"full_name": REPOSITORY}},
            workdir=self.work,
            env={
                "GITHUB_REPOSITORY": REPOSITORY,
                "GIT_CONFIG_GLOBAL": str(self.gitconfig),
                "GITHUB_REF": f"refs/tags/{tag}",
                "GH_STANDIN_DIR": str(self.gh_dir),
            },
            secrets={"GITHUB_TOKEN": TOKEN},
            local_actions=docker_stand_ins(),
            timeout=240,
        )


def test_a_version_tag_pushes_the_image_moves_the_major_tag_and_drafts_the_notes(
    act_runner: ActRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = Release(tmp_path, monkeypatch)
    release.tag("v0.1.0")
    assert release.remote_tags() == {"v0": release.old, "v0.1.0": release.head}

    result = release.run(act_runner, "v0.1.0")

    assert result.rc == 0, result.log[-6000:]
    assert result.jobs == {"check": "success", "image": "success", "release": "success"}
    assert (
        result.outputs["check.meta"]["tags"]
        == "ghcr.io/acme/gitops-release:v0.1.0,ghcr.io/acme/gitops-release:v0"
    )
    assert "pushed ghcr.io/acme/gitops-release:v0.1.0,ghcr.io/acme/gitops-release:v0@sha256:" in result.log
    assert release.remote_tags() == {"v0": release.head, "v0.1.0": release.head}
    expected_notes = subprocess.run(
        ["python3", "-I", str(ROOT / "scripts/changelog.py"), "0.1.0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "First release." in expected_notes
    assert (release.gh_dir / "notes.md").read_text(encoding="utf-8") == expected_notes
    calls = (release.gh_dir / "calls").read_text(encoding="utf-8").splitlines()
    assert calls[0] == "release view v0.1.0"
    assert re.fullmatch(
        r"release create v0\.1\.0 --draft --verify-tag --title v0\.1\.0 --notes-file \S+", calls[1]
    )
    assert len(calls) == 2
    assert set((release.gh_dir / "env").read_text(encoding="utf-8").splitlines()) == {
        f"{REPOSITORY} token-set"
    }
    assert TOKEN not in result.log


@pytest.mark.parametrize("tag", ["v1", "v1.2.3-rc1"])
def test_a_bad_tag_fails_before_anything_is_pushed(
    act_runner: ActRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str
) -> None:
    release = Release(tmp_path, monkeypatch)
    release.tag(tag)
    before = release.remote_tags()

    result = release.run(act_runner, tag)

    assert result.rc != 0
    assert result.jobs == {"check": "failure"}
    assert (
        "error",
        "",
        f"release tag '{tag}' is not vX.Y.Z. Fix: tag the release as e.g. v1.2.3",
    ) in result.annotations
    assert "pushed " not in result.log and "buildx ready" not in result.log
    assert release.remote_tags() == before
    assert not (release.gh_dir / "calls").exists()
