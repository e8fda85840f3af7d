""".github/workflows/release.yml: a vX.Y.Z tag is checked (tag, __version__, CHANGELOG.md section)
before ./Dockerfile is built and pushed to ghcr.io/<repository> as vX.Y.Z (and vX when it is the
newest X.* release); then the vX git tag moves and the release is drafted. Least privilege per job,
SHA-pinned actions. The whole run under act: tests/e2e/test_release_workflow.py."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
PINS = {
    "actions/checkout": "11bd71901bbe5b1630ceea73d27597364c9af683",
    "docker/setup-buildx-action": "37fe631027851001ddb9b187196cc803df7f5f0e",
    "docker/login-action": "4907a6ddec9925e35a0a9e82d7399ccc52663121",
    "docker/build-push-action": "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a",
}


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def jobs() -> dict:
    return workflow()["jobs"]


def steps(job: str | None = None) -> list[dict]:
    if job is not None:
        return jobs()[job]["steps"]
    return [s for spec in jobs().values() for s in spec["steps"]]


def step(uses: str) -> dict:
    return next(s for s in steps("image") if str(s.get("uses", "")).startswith(f"{uses}@"))


def test_a_version_tag_starts_it() -> None:
    on = workflow()[True]  # YAML 1.1 reads the key `on` as True
    assert on == {"push": {"tags": ["v*"]}}


def test_least_privilege_per_job() -> None:
    data = workflow()
    assert data["permissions"] == {}
    assert {name: spec["permissions"] for name, spec in data["jobs"].items()} == {
        "check": {"contents": "read"},
        "image": {"contents": "read", "packages": "write"},
        "release": {"contents": "write"},
    }
    # nothing is pushed before the check passed; the tag moves only after the image is pushed
    assert jobs()["image"]["needs"] == "check"
    assert jobs()["release"]["needs"] == ["check", "image"]


def test_every_action_is_pinned_by_the_known_commit_sha() -> None:
    used = {s["uses"].split("@")[0]: s["uses"].split("@")[1] for s in steps() if "uses" in s}
    assert used == PINS
    checkouts = [s for s in steps() if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 3
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)


def test_it_logs_in_to_ghcr_with_the_run_token_and_pushes_the_dockerfile() -> None:
    login = step("docker/login-action")["with"]
    assert login == {
        "registry": "ghcr.io",
        "username": "${{ github.actor }}",
        "password": "${{ github.token }}",
    }
    build = step("docker/build-push-action")["with"]
    assert build["context"] == "." and build["file"] == "Dockerfile" and build["push"] is True
    assert build["tags"] == "${{ needs.check.outputs.tags }}"


def test_no_expression_inside_run() -> None:
    for s in steps():
        assert "${{" not in s.get("run", ""), s.get("name")


GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}
CHANGELOG = (
    "# Changelog\n\n## [Unreleased]\n\n## [1.4.2] - 2027-01-02\n\n- two\n\n## [1.3.0] - 2027-01-01\n\n- one\n"
)


def checkout(tmp_path: Path, version: str, tags: tuple[str, ...] = (), changelog: str = CHANGELOG) -> Path:
    """A checkout as the check job sees it (fetch-depth 0): the package version, the changelog,
    scripts/changelog.py and the repository's tags."""
    repo = tmp_path / "repo"
    (repo / "src/gitops_release").mkdir(parents=True)
    (repo / "scripts").mkdir()
    (repo / "src/gitops_release/__init__.py").write_text(f'"""x"""\n\n__version__ = "{version}"\n')
    (repo / "scripts/changelog.py").write_bytes((ROOT / "scripts/changelog.py").read_bytes())
    (repo / "CHANGELOG.md").write_text(changelog)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "--no-gpg-sign", "-m", "x"]):
        subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True)
    for tag in tags:
        subprocess.run(["git", "tag", tag], cwd=repo, check=True)
    return repo


def run_meta(repo: Path, ref_name: str, repository: str = "Gitops-Release/gitops-release") -> tuple[int, str]:
    """The check job's meta step as the runner runs it (bash -e, in the checkout), with its env."""
    meta = next(s for s in steps("check") if s.get("id") == "meta")
    output = repo.parent / "output"
    output.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "VERSION_TAG": ref_name,
        "REPOSITORY": repository,
        "SERVER_URL": "https://github.com",
        "GITHUB_OUTPUT": str(output),
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", meta["run"]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, output.read_text() + done.stdout


def test_the_image_gets_the_version_and_the_major_tag(tmp_path: Path) -> None:
    rc, out = run_meta(checkout(tmp_path, "1.4.2", ("v1.3.0", "v1.4.2", "v2.0.0")), "v1.4.2")
    assert rc == 0, out
    assert (
        "tags=ghcr.io/gitops-release/gitops-release:v1.4.2,ghcr.io/gitops-release/gitops-release:v1\n" in out
    )
    assert "version=1.4.2\nmajor=v1\nnewest=true\n" in out
    assert "source=https://github.com/Gitops-Release/gitops-release\n" in out


def test_a_release_older_than_the_newest_of_its_major_leaves_vx_alone(tmp_path: Path) -> None:
    # v1.3.0 re-released (or a hotfix) after v1.4.2: sort -V, not the string order, says 1.4.2 is newer
    rc, out = run_meta(checkout(tmp_path, "1.3.0", ("v1.3.0", "v1.4.2", "v1.10.0-rc1")), "v1.3.0")
    assert rc == 0, out
    assert "tags=ghcr.io/gitops-release/gitops-release:v1.3.0\n" in out
    assert "newest=false\n" in out


def test_v1_10_is_newer_than_v1_9(tmp_path: Path) -> None:
    changelog = "## [1.10.0]\n\n- ten\n"
    rc, out = run_meta(checkout(tmp_path, "1.10.0", ("v1.9.0", "v1.10.0"), changelog), "v1.10.0")
    assert rc == 0 and "newest=true\n" in out, out


@pytest.mark.parametrize("ref_name", ["v1", "v1.2", "v1.2.3-rc1", "1.2.3", "v1.2.3;id"])
def test_a_tag_that_is_not_x_y_z_fails_before_the_build(tmp_path: Path, ref_name: str) -> None:
    rc, out = run_meta(checkout(tmp_path, "1.4.2"), ref_name)
    assert rc == 1 and "tags=" not in out
    assert re.search(r"::error::release tag .* is not vX\.Y\.Z", out)


def test_a_tag_without_a_changelog_section_fails_naming_the_fix(tmp_path: Path) -> None:
    rc, out = run_meta(checkout(tmp_path, "1.5.0", ("v1.5.0",)), "v1.5.0")
    assert rc == 1 and "tags=" not in out
    assert "::error::CHANGELOG.md has no section for 1.5.0. Fix: add '## [1.5.0] - YYYY-MM-DD'" in out


def test_a_tag_that_is_not_the_package_version_fails(tmp_path: Path) -> None:
    rc, out = run_meta(checkout(tmp_path, "1.3.0", ("v1.4.2",)), "v1.4.2")
    assert rc == 1 and "tags=" not in out
    assert "::error::release tag 'v1.4.2' but the package's __version__ is '1.3.0'. Fix: set" in out
