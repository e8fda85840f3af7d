"""Review 13b: trace answers on histories built by the real commands (see REVIEW13b.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git
from tests.integration.test_promote_overlay import Repo, config_files
from tests.integration.test_trace_history_real import (
    DIGEST_3,
    DIGEST_4,
    EMPTY_DB,
    IMAGE,
    History,
    env_of,
    run_trace,
)

HOTFIX = "sha-hotfix1"


@pytest.fixture
def history(github_sandbox: GitHubSandbox, tmp_path: Path) -> History:
    files = config_files(apps=("api",))
    files["db/db.json"] = EMPTY_DB
    return History(Repo(github_sandbox, tmp_path, files))


def _pin_prod_by_hand(work: Path) -> None:
    path = work / "apps/api/overlays/prod/kustomization.yaml"
    text = path.read_text(encoding="utf-8")
    pinned = text.replace("newTag: sha-1  # the build", f"newTag: {HOTFIX}  # the build", 1)
    path.write_text(pinned, encoding="utf-8")


def test_a_bare_tag_only_the_overlays_ever_held_is_found_by_the_command(history: History) -> None:
    # prod pinned by hand to a hotfix build that update-db never recorded: `trace sha-hotfix1`
    # must find it in prod (the reader's pickaxe log of the overlays), not answer "not found".
    history.dispatch("sha-3", DIGEST_3)
    history.push("pin prod to the hotfix", _pin_prod_by_hand)

    result = run_trace(history.clone(), HOTFIX)

    assert result.found, "a tag prod holds now is 'not found'"
    assert env_of(result, "prod").present


def test_a_bare_digest_only_the_overlays_ever_held_is_found_by_the_command(history: History) -> None:
    # The initial overlays of stage and prod hold sha-1@sha256:111… (no db.json release of it).
    history.dispatch("sha-3", DIGEST_3)

    result = run_trace(history.clone(), "sha256:" + "1" * 64)

    assert result.found, "a digest stage and prod hold now is 'not found'"
    assert env_of(result, "prod").present and env_of(result, "stage").present


def test_a_container_query_shows_what_every_environment_runs_now(history: History) -> None:
    # The usual flow: dispatch to dev, promote by PR to stage and prod, then a newer dispatch to
    # dev. db.json records only the dev channel (promotions move overlays), so `trace api` answers
    # about sha-4 alone and never says that stage and prod run sha-3.
    history.dispatch("sha-3", DIGEST_3)
    history.merge(history.promote_pr("dev", "stage"))
    history.merge(history.promote_pr("stage", "prod"))
    history.dispatch("sha-4", DIGEST_4, sha="d" * 40)

    result = run_trace(history.clone(), "api")

    assert [image.tag for image in result.images] == ["sha-4", "sha-3"]
    held = {
        (result.images[i].tag, e.environment)
        for i, e in zip(result.image_of_environment, result.environments, strict=True)
        if e.present
    }
    assert held == {("sha-4", "dev"), ("sha-3", "stage"), ("sha-3", "prod")}


def test_env_narrows_the_findings_too(history: History) -> None:
    # dev's overlay edited by hand away from what db.json's dev channel holds: a mismatch in dev.
    # `--env prod` asks about prod only; the answer still carries dev's finding.
    history.dispatch("sha-3", DIGEST_3)

    def edit_dev(work: Path) -> None:
        path = work / "apps/api/overlays/dev/kustomization.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("sha-3", "sha-9"), encoding="utf-8")

    history.push("dev by hand", edit_dev)

    everything = run_trace(history.clone(), f"{IMAGE}:sha-3")
    assert any(f.kind == "mismatch" and f.environment == "dev" for f in everything.findings)

    prod_only = run_trace(history.clone(), f"{IMAGE}:sha-3", env="prod")
    assert [e.environment for e in prod_only.environments] == ["prod"]
    assert not [f for f in prod_only.findings if f.environment not in (None, "prod")]


def test_a_shallow_clone_is_said_not_answered_as_history(history: History, tmp_path: Path) -> None:
    # actions/checkout's default is fetch-depth: 1. The one commit of a shallow clone adds every
    # file, so without a word trace says stage got sha-3 "since" the tip commit, by its author.
    history.dispatch("sha-3", DIGEST_3)
    history.merge(history.promote_pr("dev", "stage"))
    history.push("an unrelated commit", lambda work: (work / "README.md").write_text("x\n", encoding="utf-8"))
    full = history.clone()
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", full.resolve().as_uri(), str(shallow), cwd=tmp_path)
    assert (shallow / ".git" / "shallow").exists()

    result = run_trace(shallow, f"{IMAGE}:sha-3")

    stage = env_of(result, "stage")
    said = " ".join(result.notes + tuple(f.message for f in result.findings)).lower()
    assert "shallow" in said, (stage.stays, result.notes)
    assert "fetch-depth" in said  # the fix a workflow author needs
