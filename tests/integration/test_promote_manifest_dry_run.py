"""promote-overlay's release manifest and mode dry-run: per-image provenance after a partial pin,
the dry run shows the bytes mode commit would write, and a checkout without a commit gets a
one-line error naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git
from tests.integration.test_promote_overlay import Repo, config_files

MANIFEST = "apps/api/overlays/stage/release-manifest.json"


@pytest.fixture
def repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Repo:
    return Repo(github_sandbox, tmp_path, config_files())


def test_dry_run_shows_the_source_commit_mode_commit_writes(repo: Repo) -> None:
    code, dry, _ = repo.cli("--from-env", "dev", "--to-env", "stage", "--mode", "dry-run")
    assert code == 0

    repo.run(repo.clone(), from_env="dev", to_env="stage", mode="commit")

    written = json.loads(repo.read(MANIFEST))
    assert written["sourceCommit"] and len(written["sourceCommit"]) == 40
    assert f'+  "sourceCommit": "{written["sourceCommit"]}",' in dry
    assert '"sourceCommit": null' not in dry


def uncommitted(repo: Repo) -> Path:
    work = repo.tmp / "no-commit"
    work.mkdir()
    git("init", "-q", "--initial-branch=main", str(work))
    for path, text in config_files().items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text, encoding="utf-8")
    return work


def test_dry_run_in_a_checkout_without_a_commit_names_repository_path(repo: Repo) -> None:
    work = uncommitted(repo)

    code, out, err = repo.cli("--to-env", "stage", "--mode", "dry-run", repository_path=str(work))

    assert code == 1
    [line] = [line for line in (out + err).splitlines() if "error" in line]
    assert line.startswith("error: input 'repository-path': ")
    assert "repository-path" in line and "has no commit yet" in line and "git commit" in line
    assert "rev-parse" not in out + err


def test_dry_run_without_a_commit_names_an_unknown_to_env(repo: Repo) -> None:
    work = uncommitted(repo)

    code, out, err = repo.cli("--to-env", "qa", "--mode", "dry-run", repository_path=str(work))

    assert code == 1
    assert "input 'to-env': 'qa' is not an env of the policy (dev, stage, prod)" in out + err


def test_a_partial_pin_keeps_each_other_image_s_provenance_in_the_manifest(repo: Repo) -> None:
    repo.run(from_env="dev", to_env="stage", mode="commit")
    promoted = json.loads(repo.read(MANIFEST))
    source = promoted["sourceCommit"]

    repo.run(repo.clone(), to_env="stage", images="ghcr.io/org/api-worker", tag="sha-0", mode="commit")

    manifest = json.loads(repo.read(MANIFEST))
    by_image = {entry["image"]: entry for entry in manifest["images"]}
    assert manifest["kind"] == "rollback"
    api, worker = by_image["ghcr.io/org/api"], by_image["ghcr.io/org/api-worker"]
    assert (api["kind"], api["sourceEnvironment"], api["sourceCommit"]) == ("promote", "dev", source)
    assert (worker["kind"], worker["sourceEnvironment"], worker["tag"]) == ("rollback", None, "sha-0")
    # a re-run changes nothing: the manifest stays byte-identical
    before = repo.log()
    again = repo.run(
        repo.clone(), to_env="stage", images="ghcr.io/org/api-worker", tag="sha-0", mode="commit"
    )
    assert again.state == "no-change" and repo.log() == before
