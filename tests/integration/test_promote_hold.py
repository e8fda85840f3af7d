"""hold-after-rollback (auto-promotion): decided per image on the last commit that changed that
image in the target env, not on the last commit that touched the env's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_release.commands import promote_overlay
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git
from tests.integration.test_promote_overlay import DIGEST_1, DIGEST_2, Repo, config_files, overlay

STAGE = "apps/api/overlays/stage/kustomization.yaml"
WEB_STAGE = "apps/web/overlays/stage/kustomization.yaml"


@pytest.fixture
def repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Repo:
    return Repo(github_sandbox, tmp_path, config_files())


def push_by_hand(repo: Repo, files: dict[str, str], message: str) -> None:
    hand = repo.clone()
    for path, text in files.items():
        (hand / path).write_text(text, encoding="utf-8")
    git("commit", "-qam", message, cwd=hand)
    git("push", "-q", "origin", "main", cwd=hand)


def auto(repo: Repo, **inputs: str) -> promote_overlay.Outputs:
    return repo.run(
        repo.clone(), from_env="dev", to_env="stage", mode="commit", hold_after_rollback="true", **inputs
    )


def test_an_unrelated_edit_after_a_rollback_does_not_lift_the_hold(repo: Repo) -> None:
    repo.run(from_env="dev", to_env="stage", mode="commit")
    repo.run(repo.clone(), to_env="stage", revert="true", mode="commit")
    labelled = repo.read(STAGE) + "commonLabels:\n  team: payments\n"
    push_by_hand(repo, {STAGE: labelled}, "stage: add team label")
    head = repo.log()

    held = auto(repo)

    assert held.state == "no-change" and repo.log() == head
    assert repo.read(STAGE) == labelled  # still on the rolled-back sha-1
    assert any("ghcr.io/org/api" in note and "last change is a rollback" in note for note in held.notes)


def test_a_rolled_back_image_is_held_while_the_others_are_promoted(repo: Repo) -> None:
    repo.run(from_env="dev", to_env="stage", mode="commit")
    # roll back only ghcr.io/org/api in stage
    repo.run(
        repo.clone(), to_env="stage", images="ghcr.io/org/api", tag="sha-1", digest=DIGEST_1, mode="commit"
    )
    # a new dev build of every image; a person promotes web alone
    digest_3 = "sha256:" + "3" * 64
    push_by_hand(
        repo,
        {
            "apps/api/overlays/dev/kustomization.yaml": overlay("api", "sha-3", digest_3),
            "apps/web/overlays/dev/kustomization.yaml": overlay("web", "sha-3", digest_3),
        },
        "dev: sha-3",
    )
    repo.run(repo.clone(), from_env="dev", to_env="stage", images="ghcr.io/org/web*", mode="commit")

    out = auto(repo)

    assert out.state == "committed"
    promoted = {(item.app, item.image) for item in out.plans[0].items}
    assert ("api", "ghcr.io/org/api") not in promoted  # held: its last change is the rollback
    assert ("api", "ghcr.io/org/api-worker") in promoted
    stage = repo.read(STAGE)
    assert f"name: ghcr.io/org/api\n    newTag: sha-1  # the build\n    digest: {DIGEST_1}" in stage
    assert "name: ghcr.io/org/api-worker\n    newTag: sha-3" in stage
    assert any("ghcr.io/org/api in" in note for note in out.notes)


def test_a_person_s_edit_of_the_image_releases_it(repo: Repo) -> None:
    repo.run(from_env="dev", to_env="stage", mode="commit")
    repo.run(repo.clone(), to_env="stage", revert="true", mode="commit")
    # a person sets api's image in stage by hand (an image change without our trailer)
    push_by_hand(repo, {STAGE: overlay("api", "sha-1", DIGEST_2)}, "stage: api digest by hand")

    out = auto(repo, images="ghcr.io/org/api")

    assert out.state == "committed"
    assert f"name: ghcr.io/org/api\n    newTag: sha-2  # the build\n    digest: {DIGEST_2}" in repo.read(
        STAGE
    )


def test_a_person_s_hand_rollback_is_held(repo: Repo) -> None:
    """A person sets stage back by hand to the version it ran before (no trailer, no revert):
    a rollback, not re-promoted over by automation."""
    repo.run(from_env="dev", to_env="stage", mode="commit")  # stage api: sha-2
    rolled_back = overlay("api", "sha-1", DIGEST_1)
    push_by_hand(repo, {STAGE: rolled_back}, "stage: back to sha-1, sha-2 crashes")
    head = repo.log()

    held = auto(repo, images="ghcr.io/org/api")

    assert held.state == "no-change" and repo.log() == head
    assert repo.read(STAGE) == rolled_back
    assert any(
        "ghcr.io/org/api in" in note
        and "stage: back to sha-1, sha-2 crashes" in note
        and "held before" in note
        for note in held.notes
    )


def test_a_person_s_forward_change_after_a_hand_rollback_releases_it(repo: Repo) -> None:
    """After a hand rollback, a person's change to a state stage never held releases the image;
    so does a promotion of the source env's state."""
    repo.run(from_env="dev", to_env="stage", mode="commit")
    push_by_hand(repo, {STAGE: overlay("api", "sha-1", DIGEST_1)}, "stage: back to sha-1")
    assert auto(repo, images="ghcr.io/org/api").state == "no-change"
    push_by_hand(repo, {STAGE: overlay("api", "sha-1", DIGEST_2)}, "stage: api digest by hand")

    out = auto(repo, images="ghcr.io/org/api")

    assert out.state == "committed"
    assert f"name: ghcr.io/org/api\n    newTag: sha-2  # the build\n    digest: {DIGEST_2}" in repo.read(
        STAGE
    )


def test_a_promotion_back_to_the_source_state_releases_it(repo: Repo) -> None:
    """A person promotes by hand after a hand rollback (stage held that version before, but dev
    holds it: a promotion): released; the next automated run has nothing held."""
    repo.run(from_env="dev", to_env="stage", mode="commit")
    push_by_hand(repo, {STAGE: overlay("api", "sha-1", DIGEST_1)}, "stage: back to sha-1")
    repo.run(repo.clone(), from_env="dev", to_env="stage", images="ghcr.io/org/api", mode="commit")
    digest_3 = "sha256:" + "3" * 64
    push_by_hand(
        repo, {"apps/api/overlays/dev/kustomization.yaml": overlay("api", "sha-3", digest_3)}, "dev: sha-3"
    )

    out = auto(repo, images="ghcr.io/org/api")

    assert out.state == "committed" and not out.notes
    assert "newTag: sha-3" in repo.read(STAGE)
