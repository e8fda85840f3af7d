"""promote-overlay rollbacks: tag/digest pins (labelled rollback) and revert of the last
promotion commit (refused when later commits touched the same lines); auto-promotion holds
after a rollback. Real clones of the sandbox's bare repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_release.errors import PolicyError, RevertConflictError
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git
from tests.integration.test_promote_overlay import DIGEST_1, DIGEST_2, REPO, Repo, config_files, overlay

STAGE = "apps/api/overlays/stage/kustomization.yaml"
PROD = "apps/api/overlays/prod/kustomization.yaml"


def test_tag_pin_in_prod_opens_a_pull_request_labelled_rollback(repo: Repo) -> None:
    out = repo.run(to_env="prod", images="api", tag="sha-0")

    [pull] = repo.sandbox.pulls(REPO)
    assert out.plans[0].kind == "rollback"
    assert pull["title"] == "rollback api:sha-0 in prod"  # "api" is not api-worker
    assert "rollback" in {label["name"] for label in pull["labels"]}
    branch = pull["head"]["ref"]
    # a tag alone drops the digest of the tag it replaces
    expected = overlay("api", "sha-1", DIGEST_1).replace(
        f"    newTag: sha-1  # the build\n    digest: {DIGEST_1}\n", "    newTag: sha-0  # the build\n"
    )
    assert repo.read(PROD, branch) == expected
    manifest = json.loads(repo.read("apps/api/overlays/prod/release-manifest.json", branch))
    assert manifest["kind"] == "rollback" and manifest["sourceEnvironment"] is None


def test_digest_pin_keeps_the_tag(repo: Repo) -> None:
    out = repo.run(to_env="prod", images="ghcr.io/org/api", digest=DIGEST_2, mode="commit")

    assert out.state == "committed"
    assert repo.read(PROD) == overlay("api", "sha-1", DIGEST_2)


def test_revert_restores_the_overlay_as_it_was_before_the_last_promotion(repo: Repo) -> None:
    repo.run(from_env="dev", to_env="stage", mode="commit")
    assert repo.read(STAGE) == overlay("api", "sha-2", DIGEST_2)

    out = repo.run(repo.clone(), to_env="stage", revert="true", mode="commit")

    assert out.plans[0].kind == "rollback" and out.state == "committed"
    assert repo.read(STAGE) == overlay("api", "sha-1", DIGEST_1)  # byte for byte
    assert repo.read("apps/web/overlays/stage/kustomization.yaml") == overlay("web", "sha-1", DIGEST_1)
    manifest = json.loads(repo.read("apps/api/overlays/stage/release-manifest.json"))
    assert manifest["kind"] == "rollback"
    assert repo.log()[0].startswith("rollback ")


def test_revert_is_refused_when_later_commits_touched_the_same_lines(repo: Repo) -> None:
    repo.run(from_env="dev", to_env="stage", mode="commit")
    hand = repo.clone()
    (hand / STAGE).write_text(overlay("api", "sha-5", DIGEST_2), encoding="utf-8")
    git("commit", "-qam", "hand edit of stage", cwd=hand)
    git("push", "-q", "origin", "main", cwd=hand)
    before = repo.log()

    with pytest.raises(RevertConflictError, match=f"{STAGE}") as caught:
        repo.run(repo.clone(), to_env="stage", revert="true", mode="commit")

    assert "hand edit of stage" in caught.value.message or "later" in caught.value.message
    assert repo.log() == before


def test_revert_without_a_promotion_commit_is_refused(repo: Repo) -> None:
    with pytest.raises(PolicyError, match="no promotion commit touched the overlays of stage"):
        repo.run(to_env="stage", revert="true", mode="commit")


def test_auto_promotion_holds_after_a_rollback_until_a_person_promotes(repo: Repo) -> None:
    repo.run(from_env="dev", to_env="stage", mode="commit")
    repo.run(repo.clone(), to_env="stage", revert="true", mode="commit")
    head = repo.log()

    held = repo.run(repo.clone(), from_env="dev", to_env="stage", mode="commit", hold_after_rollback="true")

    assert held.state == "no-change" and repo.log() == head
    assert any("last change is a rollback" in note for note in held.notes)
    by_hand = repo.run(repo.clone(), from_env="dev", to_env="stage", mode="commit")
    assert by_hand.state == "committed"


@pytest.fixture
def repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Repo:
    return Repo(github_sandbox, tmp_path, config_files())
