"""gitops-release trace after review 13b, on histories built by the real commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git
from tests.integration.test_promote_overlay import Repo, config_files
from tests.integration.test_trace_history_real import DIGEST_3, EMPTY_DB, IMAGE, History, env_of, run_trace


@pytest.fixture
def history(github_sandbox: GitHubSandbox, tmp_path: Path) -> History:
    files = config_files(apps=("api",))
    files["db/db.json"] = EMPTY_DB
    return History(Repo(github_sandbox, tmp_path, files))


def test_a_shallow_clone_s_boundary_is_an_unknown_arrival_not_the_tip_s_author(
    history: History, tmp_path: Path
) -> None:
    history.dispatch("sha-3", DIGEST_3)
    history.merge(history.promote_pr("dev", "stage"))
    history.push("an unrelated commit", lambda work: (work / "README.md").write_text("x\n", encoding="utf-8"))
    full = history.clone()
    full_stage = env_of(run_trace(full, f"{IMAGE}:sha-3"), "stage")
    assert full_stage.stays[-1].arrival.kind == "promote" and full_stage.since is not None
    shallow = tmp_path / "shallow"
    git("clone", "-q", "--depth", "1", full.resolve().as_uri(), str(shallow), cwd=tmp_path)

    result = run_trace(shallow, f"{IMAGE}:sha-3")

    for name in ("dev", "stage"):
        env = env_of(result, name)
        assert env.present, name
        assert [(s.arrival.kind, s.arrival.by, s.arrival.pull_request) for s in env.stays] == [
            ("initial", None, None)
        ], (name, env.stays)
        assert env.since is None and env.soak_seconds is None, name
    skipped = [f.message for f in result.findings if f.kind == "skipped"]
    assert any("shallow (1 commits)" in m and "fetch-depth: 0" in m for m in skipped), skipped
    # A full clone says nothing of the kind.
    assert not any("shallow" in note for note in run_trace(full, f"{IMAGE}:sha-3").notes)
