""".github/workflows/release.yml: a vX.Y.Z tag builds ./Dockerfile and pushes it to
ghcr.io/<repository> as vX.Y.Z and vX, with least privilege and SHA-pinned actions."""

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


def steps() -> list[dict]:
    (job,) = workflow()["jobs"].values()
    return job["steps"]


def step(uses: str) -> dict:
    return next(s for s in steps() if str(s.get("uses", "")).startswith(f"{uses}@"))


def test_a_version_tag_starts_it() -> None:
    on = workflow()[True]  # YAML 1.1 reads the key `on` as True
    assert on == {"push": {"tags": ["v*"]}}


def test_least_privilege() -> None:
    data = workflow()
    assert data["permissions"] == {}
    (job,) = data["jobs"].values()
    assert job["permissions"] == {"contents": "read", "packages": "write"}


def test_every_action_is_pinned_by_the_known_commit_sha() -> None:
    used = {s["uses"].split("@")[0]: s["uses"].split("@")[1] for s in steps() if "uses" in s}
    assert used == PINS
    assert step("actions/checkout")["with"]["persist-credentials"] is False


def test_it_logs_in_to_ghcr_with_the_run_token_and_pushes_the_dockerfile() -> None:
    login = step("docker/login-action")["with"]
    assert login == {
        "registry": "ghcr.io",
        "username": "${{ github.actor }}",
        "password": "${{ github.token }}",
    }
    build = step("docker/build-push-action")["with"]
    assert build["context"] == "." and build["file"] == "Dockerfile" and build["push"] is True
    assert build["tags"] == "${{ steps.meta.outputs.tags }}"


def test_no_expression_inside_run() -> None:
    for s in steps():
        assert "${{" not in s.get("run", ""), s.get("name")


def run_meta(
    tmp_path: Path, ref_name: str, repository: str = "Gitops-Release/gitops-release"
) -> tuple[int, str]:
    """The meta step's script as the runner runs it (bash -e), with its env."""
    meta = next(s for s in steps() if s.get("id") == "meta")
    output = tmp_path / "output"
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
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, output.read_text() + done.stdout


def test_the_image_gets_the_version_and_the_major_tag(tmp_path: Path) -> None:
    rc, out = run_meta(tmp_path, "v1.4.2")
    assert rc == 0, out
    assert (
        "tags=ghcr.io/gitops-release/gitops-release:v1.4.2,ghcr.io/gitops-release/gitops-release:v1\n" in out
    )
    assert "source=https://github.com/Gitops-Release/gitops-release\n" in out


@pytest.mark.parametrize("ref_name", ["v1", "v1.2", "v1.2.3-rc1", "1.2.3", "v1.2.3;id"])
def test_a_tag_that_is_not_x_y_z_fails_before_the_build(tmp_path: Path, ref_name: str) -> None:
    rc, out = run_meta(tmp_path, ref_name)
    assert rc == 1 and "tags=" not in out
    assert re.search(r"::error::release tag .* is not vX\.Y\.Z", out)
    index = [s.get("id") for s in steps()].index("meta")
    assert index < steps().index(step("docker/build-push-action"))
