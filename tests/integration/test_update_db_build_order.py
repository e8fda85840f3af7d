"""Channel history is monotonic (issue 7, item 9): a release built before the channel's current one
(``source.builtAt``) is refused unless allow-downgrade, with real git remotes: a re-run of an old
dispatch, and the loser of a race between two dispatches, exit 1 with one line saying why."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gitops_release.cli import main
from gitops_release.commands import dispatch_update, update_db
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


# -- end to end with dispatch-update's default builtAt: the source commit's time ----------------
# (review finding 5: builtAt used to be the dispatch time, so a re-run of an old build or a slow
# build of an older commit was "newer" and rolled the channel back)


def _source_repo(tmp_path: Path, commit_times: list[str]) -> tuple[Path, list[str]]:
    """A source repository with one commit per committer time; returns the checkout and shas."""
    repo = tmp_path / "my-app"
    repo.mkdir()
    base = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "dev",
        "GIT_AUTHOR_EMAIL": "dev@example.invalid",
        "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@example.invalid",
    }
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, env=base, check=True, timeout=30)
    shas = []
    for stamp in commit_times:
        env = {**base, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        subprocess.run(
            ["git", "commit", "-q", "--allow-empty", "-m", stamp], cwd=repo, env=env, check=True, timeout=30
        )
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, env=env, check=True, capture_output=True, text=True
        )
        shas.append(out.stdout.strip())
    return repo, shas


def dispatched_payload(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sha: str, dispatch_time: float, **github_env: str
) -> dict[str, Any]:
    """The client_payload dispatch-update builds for ``sha`` when its step runs at
    ``dispatch_time`` (everything but the POST), with built-at left at its default."""
    env = {
        "GITHUB_REPOSITORY": "org/my-app",
        "GITHUB_SHA": sha,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_RUN_ID": "7",
        "GITHUB_WORKSPACE": str(tmp_path / "no-checkout"),
        **github_env,
        "INPUT_REPOSITORY": "org/config",
        "INPUT_TOKEN": "ghp_integrationToken123",
        "INPUT_CONTAINER": "my-app",
        "INPUT_IMAGE": "ghcr.io/org/my-app",
        "INPUT_TAG": f"sha-{sha[:8]}",
    }
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: dispatch_time)
        inputs = dispatch_update.Inputs.from_reader(InputReader(env=env))
    assert inputs.client_payload is not None
    return inputs.client_payload


def push_event(tmp_path: Path, sha: str, timestamp: str) -> str:
    path = tmp_path / f"push-{sha[:8]}.json"
    path.write_text(json.dumps({"after": sha, "head_commit": {"id": sha, "timestamp": timestamp}}))
    return str(path)


T_A, T_B = "2026-01-28T11:00:00+01:00", "2026-01-28T10:05:00Z"  # A at 10:00 UTC, then B
AT = datetime(2026, 1, 28, 10, 0, tzinfo=timezone.utc).timestamp()


def test_a_rerun_of_an_old_builds_dispatch_is_refused_with_exit_1(
    bare_remote: BareRemotes,
    config: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A's push build dispatched at 10:01, B's at 10:06; an hour later someone re-runs A's
    workflow run: the same push event, so the same builtAt (A's commit time), refused."""
    url, work = config
    checkout, (sha_a, sha_b) = _source_repo(tmp_path, [T_A, T_B])
    event_a, event_b = push_event(tmp_path, sha_a, T_A), push_event(tmp_path, sha_b, T_B)
    first = dispatched_payload(monkeypatch, tmp_path, sha_a, AT + 60, GITHUB_EVENT_PATH=event_a)
    assert first["source"]["builtAt"] == "2026-01-28T10:00:00Z"
    assert run_update(work, first).changed
    assert run_update(
        work, dispatched_payload(monkeypatch, tmp_path, sha_b, AT + 360, GITHUB_EVENT_PATH=event_b)
    ).changed
    head = bare_remote.remote_head(url)

    rerun = dispatched_payload(monkeypatch, tmp_path, sha_a, AT + 3600, GITHUB_EVENT_PATH=event_a)
    assert rerun == first  # identical: the re-run carries A's commit time, not the re-run's
    capsys.readouterr()
    assert main(["update-db"], env=env_for(work, rerun)) == 1
    assert (
        "payload.source.builtAt 2026-01-28T10:00:00Z is older than the build on my-app/dev "
        f"('sha-{sha_b[:8]}', built 2026-01-28T10:05:00Z)" in capsys.readouterr().err
    )
    assert bare_remote.remote_head(url) == head and stored(bare_remote, url)["source"]["sha"] == sha_b
    # the same for a re-run whose time comes from the checkout (no push event: workflow_dispatch)
    from_git = dispatched_payload(monkeypatch, tmp_path, sha_a, AT + 7200, GITHUB_WORKSPACE=str(checkout))
    assert from_git == first
    assert main(["update-db"], env=env_for(work, from_git)) == 1
    assert bare_remote.remote_head(url) == head


def test_a_slow_build_of_an_older_commit_loses_to_the_newer_commit(
    bare_remote: BareRemotes,
    config: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A pushed at 10:00, B at 10:05; B's build finishes first (dispatch 10:07) and A's slow
    build dispatches at 10:20: A's release is refused, the channel keeps B."""
    url, work = config
    checkout, (sha_a, sha_b) = _source_repo(tmp_path, [T_A, T_B])
    fast_b = dispatched_payload(monkeypatch, tmp_path, sha_b, AT + 420, GITHUB_WORKSPACE=str(checkout))
    slow_a = dispatched_payload(
        monkeypatch, tmp_path, sha_a, AT + 1200, GITHUB_EVENT_PATH=push_event(tmp_path, sha_a, T_A)
    )
    assert run_update(work, fast_b).changed
    head = bare_remote.remote_head(url)
    capsys.readouterr()
    assert main(["update-db"], env=env_for(work, slow_a)) == 1
    assert "payload.source.builtAt 2026-01-28T10:00:00Z is older than the build" in capsys.readouterr().err
    assert bare_remote.remote_head(url) == head and stored(bare_remote, url)["source"]["sha"] == sha_b
