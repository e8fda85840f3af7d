"""Channel history is monotonic (issue 7, item 9): a release built before the channel's current one
(``source.builtAt``) is refused unless allow-downgrade, with real git remotes: a re-run of an old
dispatch, and the loser of a race between two dispatches, exit 1 with one line saying why."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gitops_release.cli import main
from gitops_release.commands import update_db
from gitops_release.commands.base import Context
from gitops_release.errors import PolicyError
from gitops_release.runtime import InputReader
from tests.fixtures.git_remotes import BareRemotes

EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
EARLY, LATE = "2026-01-28T10:00:00.000Z", "2026-01-28T10:05:00.000Z"


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def release(tag: str, built_at: str | None, sha: str) -> dict[str, Any]:
    source: dict[str, str] = {"repository": "org/my-app", "sha": sha}
    if built_at is not None:
        source["builtAt"] = built_at
    return {
        "container": "my-app",
        "channel": "dev",
        "image": "ghcr.io/org/my-app",
        "tag": tag,
        "source": source,
    }


OLD = release("sha-aaaaaaaa", EARLY, "a" * 40)
NEW = release("sha-bbbbbbbb", LATE, "b" * 40)


def env_for(work: Path, payload: dict[str, Any], **inputs: str) -> dict[str, str]:
    env = {"INPUT_PAYLOAD": json.dumps(payload), "INPUT_REPOSITORY-PATH": str(work)}
    env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    return env


def run_update(work: Path, payload: dict[str, Any], **inputs: str) -> update_db.Outputs:
    parsed = update_db.Inputs.from_reader(InputReader(env=env_for(work, payload, **inputs)))
    return update_db.run(parsed, Context.for_env({}, workdir=work))


def stored(remotes: BareRemotes, url: str) -> dict[str, Any]:
    (only,) = json.loads(remotes.read_remote_file(url, "db/db.json"))["releases"]
    return dict(only)


@pytest.fixture
def config(bare_remote: BareRemotes) -> tuple[str, Path]:
    url = bare_remote.make_bare_remote({"db/db.json": EMPTY_DB})
    return url, bare_remote.clone_of(url)


def test_a_rerun_of_an_old_dispatch_is_refused_and_changes_nothing(
    bare_remote: BareRemotes, config: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, work = config
    run_update(work, OLD)
    run_update(work, NEW)
    head = bare_remote.remote_head(url)
    capsys.readouterr()
    assert main(["update-db"], env={**env_for(work, OLD), "GITHUB_ACTIONS": "true"}) == 1
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("::error")]
    assert line.startswith(
        f"::error title=Refused by policy::payload.source.builtAt {EARLY} is older than the build on "
        f"my-app/dev ('sha-bbbbbbbb', built {LATE})"
    )
    assert "allow-downgrade: true" in line
    assert bare_remote.remote_head(url) == head and stored(bare_remote, url)["tag"] == "sha-bbbbbbbb"
    # An intended rollback: allow-downgrade, the same option as for a semver downgrade.
    out = run_update(work, OLD, allow_downgrade="true")
    assert out.changed and stored(bare_remote, url)["source"]["builtAt"] == EARLY


def test_the_loser_of_a_race_is_told_and_never_overwrites_the_newer_release(
    bare_remote: BareRemotes,
    config: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The older dispatch fetches first; the newer one pushes while it works: its push is
    rejected, it re-applies on the new head, sees the newer build and fails (exit 1), instead of
    overwriting it as arrival order would."""
    url, work_old = config
    work_new = bare_remote.clone_of(url)
    real_plan = update_db.plan
    views: list[str] = []

    def racing_plan(root: Path, inputs: update_db.Inputs, **kwargs: Any) -> Any:
        if root == work_old.absolute():
            views.append((root / "db" / "db.json").read_text())
            if len(views) == 1:  # the older run has fetched; the newer one lands first
                assert run_update(work_new, NEW).changed
        return real_plan(root, inputs, **kwargs)

    monkeypatch.setattr(update_db, "plan", racing_plan)
    assert main(["update-db"], env=env_for(work_old, OLD)) == 1
    err = capsys.readouterr().err
    assert "push to main rejected: the branch moved (attempt 1)" in err
    assert (
        f"error: Refused by policy: payload.source.builtAt {EARLY} is older than the build on my-app/dev"
        in err
    )
    assert len(views) == 2 and "sha-bbbbbbbb" in views[1]  # the retry saw the winner's release
    assert stored(bare_remote, url)["tag"] == "sha-bbbbbbbb"
    assert bare_remote.remote_log(url)[0].startswith("chore(release): my-app dev none → sha-bbbbbbbb")
    assert len(bare_remote.remote_log(url)) == 2


def test_old_payloads_without_built_at_keep_working(
    bare_remote: BareRemotes, config: tuple[str, Path]
) -> None:
    """Mixed cases: a release without builtAt cannot be ordered by time, so it is accepted either
    way (as before: the semver rule alone); the next stamped release is compared with nothing."""
    url, work = config
    run_update(work, NEW)
    assert run_update(work, release("sha-cccccccc", None, "c" * 40)).changed
    assert "builtAt" not in stored(bare_remote, url)["source"]
    assert run_update(work, OLD).changed
    assert stored(bare_remote, url)["source"]["builtAt"] == EARLY


def test_the_same_build_dispatched_again_is_no_change_whatever_its_stamp(
    bare_remote: BareRemotes, config: tuple[str, Path]
) -> None:
    url, work = config
    run_update(work, NEW)
    for stamp in (EARLY, "2026-01-28T11:00:00Z"):
        again = release("sha-bbbbbbbb", stamp, "b" * 40)
        assert run_update(work, again).changed is False
    assert stored(bare_remote, url)["source"]["builtAt"] == LATE


def test_a_build_time_in_the_future_is_refused(bare_remote: BareRemotes, config: tuple[str, Path]) -> None:
    url, work = config
    ahead = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    head = bare_remote.remote_head(url)
    with pytest.raises(PolicyError, match="is in the future"):
        run_update(work, release("sha-dddddddd", ahead, "d" * 40))
    assert bare_remote.remote_head(url) == head
    slightly = (datetime.now(timezone.utc) + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run_update(work, release("sha-dddddddd", slightly, "d" * 40)).changed  # clock drift is fine
