"""THE RACE: two real clones of one bare remote; the loser's push is rejected, it fetches,
resets, re-applies its edit on top of the winner's commit and pushes. Plus exhaustion and a
modest real-process concurrency test (6 writers)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gitops_release
from gitops_release.adapters.git import commit_and_push
from gitops_release.errors import PushConflictError
from tests.fixtures.git_remotes import BareRemotes, git


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def append_line(checkout: Path, line: str) -> None:
    path = checkout / "releases.txt"
    path.write_text(path.read_text() + line + "\n")


def test_loser_reapplies_its_edit_on_top_of_the_winner(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"releases.txt": "base\n"})
    seen_by_a: list[str] = []
    sleeps: list[float] = []
    b_results = []

    def edit_b(checkout: Path) -> str:
        append_line(checkout, "B")
        return "B: add B"

    def edit_a(checkout: Path) -> str:
        seen_by_a.append((checkout / "releases.txt").read_text())
        if len(seen_by_a) == 1:
            # A has fetched; before it pushes, B (another clone) wins the race.
            b_results.append(commit_and_push(tmp_path / "clone-b", url, "main", edit_b))
        append_line(checkout, "A")
        return f"A: add A on top of {len(seen_by_a)} view(s)"

    result = commit_and_push(
        tmp_path / "clone-a", url, "main", edit_a, sleep=sleeps.append, rng=random.Random(3), backoff=0.2
    )

    (b,) = b_results
    assert b.changed and b.attempts == 1
    assert result.changed and result.attempts == 2
    assert seen_by_a == ["base\n", "base\nB\n"]  # the edit ran twice, the second time on B's commit
    assert result.base_sha == b.commit_sha
    assert result.commit_sha == bare_remote.remote_head(url)
    assert bare_remote.read_remote_file(url, "releases.txt") == "base\nB\nA\n"
    assert bare_remote.remote_log(url) == ["A: add A on top of 2 view(s)", "B: add B", "initial commit"]
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.2
    assert sleeps[0] == pytest.approx(random.Random(3).uniform(0, 0.2))


def test_loser_wins_against_a_plain_git_push(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"releases.txt": "base\n"})
    other = bare_remote.clone_of(url)
    calls: list[int] = []
    log: list[str] = []

    def edit_a(checkout: Path) -> str:
        calls.append(1)
        if len(calls) == 1:
            append_line(other, "human")
            git("commit", "-qam", "human edit", cwd=other)
            git("push", "-q", "origin", "HEAD:main", cwd=other)
        append_line(checkout, "bot")
        return "bot edit"

    result = commit_and_push(tmp_path / "a", url, "main", edit_a, sleep=lambda _: None, log=log.append)
    assert result.attempts == 2 and len(calls) == 2
    assert bare_remote.read_remote_file(url, "releases.txt") == "base\nhuman\nbot\n"
    assert bare_remote.remote_log(url) == ["bot edit", "human edit", "initial commit"]
    assert any("rejected" in line and "attempt 1/5" in line for line in log)


def test_the_race_can_make_the_edit_a_no_op(bare_remote: BareRemotes, tmp_path: Path) -> None:
    """If the winner already wrote what the loser wanted, the retry finds nothing to change."""
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})

    def set_v2(checkout: Path) -> str:
        (checkout / "tag.txt").write_text("v2\n")
        return "set v2"

    calls: list[int] = []

    def edit_a(checkout: Path) -> str:
        calls.append(1)
        if len(calls) == 1:
            commit_and_push(tmp_path / "b", url, "main", lambda c: set_v2(c) + " (by B)")
        return set_v2(checkout)

    result = commit_and_push(tmp_path / "a", url, "main", edit_a, sleep=lambda _: None)
    assert (result.changed, result.commit_sha, result.attempts) == (False, None, 2)
    assert len(calls) == 2
    assert bare_remote.remote_log(url) == ["set v2 (by B)", "initial commit"]


def test_exhausted_attempts_raise_push_conflict_and_leave_the_remote_to_the_others(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"releases.txt": "base\n"})
    other = bare_remote.clone_of(url)
    calls: list[int] = []
    sleeps: list[float] = []

    def edit_a(checkout: Path) -> str:
        calls.append(1)
        # every time A has fetched, someone else pushes first
        git("pull", "-q", "--ff-only", cwd=other)
        append_line(other, f"other {len(calls)}")
        git("commit", "-qam", f"other {len(calls)}", cwd=other)
        git("push", "-q", "origin", "HEAD:main", cwd=other)
        append_line(checkout, "A")
        return "A"

    with pytest.raises(PushConflictError) as info:
        commit_and_push(
            tmp_path / "a", url, "main", edit_a, max_attempts=3, sleep=sleeps.append, rng=random.Random(1)
        )
    err = info.value
    assert "rejected 3 times" in err.message and err.fix and "max-attempts" in err.fix
    assert len(calls) == 3 and len(sleeps) == 2
    assert bare_remote.remote_log(url) == ["other 3", "other 2", "other 1", "initial commit"]
    assert "A" not in bare_remote.read_remote_file(url, "releases.txt").split()
    # backoff grows: the caps are 0.2 then 0.4
    rng = random.Random(1)
    assert sleeps == pytest.approx([rng.uniform(0, 0.2), rng.uniform(0, 0.4)])
    # the checkout is not left half-way: a later call works
    assert commit_and_push(tmp_path / "a", url, "main", lambda c: append_line(c, "A") or "A").changed


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from gitops_release.adapters.git import commit_and_push

    url, checkout, name, go = sys.argv[1:5]
    while not Path(go).exists():
        time.sleep(0.005)

    def edit(c):
        p = c / "releases.txt"
        p.write_text(p.read_text() + name + "\\n")
        (c / "writers" / name).parent.mkdir(exist_ok=True)
        (c / "writers" / name).write_text(name + "\\n")
        return "add " + name

    r = commit_and_push(Path(checkout), url, "main", edit, max_attempts=50, backoff=0.02, max_backoff=0.2)
    print(r.attempts, r.commit_sha)
    """
)


def test_six_concurrent_processes_all_land(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"releases.txt": "base\n"})
    go = tmp_path / "go"
    src = str(Path(gitops_release.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    names = [f"w{i}" for i in range(6)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(tmp_path / f"co-{n}"), n, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in names
    ]
    go.write_text("go")
    outputs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)  # a hang guard, not a timing assertion
            assert proc.returncode == 0, err
            outputs.append(out.split())
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    lines = bare_remote.read_remote_file(url, "releases.txt").split()
    assert lines[0] == "base" and sorted(lines[1:]) == names  # every writer exactly once, none lost
    subjects = bare_remote.remote_log(url)
    assert sorted(subjects[:-1]) == [f"add {n}" for n in names] and subjects[-1] == "initial commit"
    assert {sha for _, sha in outputs} <= set(git("--git-dir", url[7:], "rev-list", "main").split())
    history = git("--git-dir", url[7:], "rev-list", "--merges", "main").split()
    assert history == []  # linear: every writer rebased its edit, nobody merged or forced


def test_push_conflict_resets_the_checkout_to_the_last_fetched_base(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"releases.txt": "base\n"})
    other = bare_remote.clone_of(url)
    bases: list[str] = []

    def edit_a(checkout: Path) -> str:
        bases.append(git("rev-parse", "HEAD", cwd=checkout).strip())
        git("pull", "-q", "--ff-only", cwd=other)
        append_line(other, f"other {len(bases)}")
        git("commit", "-qam", f"other {len(bases)}", cwd=other)
        git("push", "-q", "origin", "HEAD:main", cwd=other)
        append_line(checkout, "A")
        (checkout / "created-by-a.txt").write_text("A\n")
        return "A"

    co = tmp_path / "a"
    with pytest.raises(PushConflictError):
        commit_and_push(co, url, "main", edit_a, max_attempts=2, sleep=lambda _: None)
    assert git("rev-parse", "HEAD", cwd=co).strip() == bases[-1]
    assert git("status", "--porcelain", "--untracked-files=all", cwd=co) == ""
    assert "A" not in (co / "releases.txt").read_text().split()
    assert not (co / ".git" / "gitops-release-pending").exists()


class FakeClock:
    """A monotonic clock that edits advance by hand: time-bound tests without real waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _pushing_edit(other: Path, calls: list[int], *, clock: FakeClock, step: float, lose_until: int):
    """An edit during which another clone pushes first (for the first ``lose_until`` calls), and
    which takes ``step`` seconds of the fake clock."""

    def edit_a(checkout: Path) -> str:
        calls.append(1)
        clock.now += step
        if len(calls) <= lose_until:
            git("pull", "-q", "--ff-only", cwd=other)
            append_line(other, f"other {len(calls)}")
            git("commit", "-qam", f"other {len(calls)}", cwd=other)
            git("push", "-q", "origin", "HEAD:main", cwd=other)
        append_line(checkout, "A")
        return "A"

    return edit_a


def test_without_a_count_limit_the_loop_is_bounded_by_time_and_retries_past_twenty(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    """max-attempts unset: 25 lost races in a row still land (the time bound is far away)."""
    url = bare_remote.make_bare_remote({"releases.txt": "base\n"})
    other = bare_remote.clone_of(url)
    calls: list[int] = []
    clock = FakeClock()
    edit_a = _pushing_edit(other, calls, clock=clock, step=1.0, lose_until=25)
    result = commit_and_push(
        tmp_path / "a", url, "main", edit_a, max_attempts=None, max_wait=600, sleep=clock.sleep, clock=clock
    )
    assert result.changed and result.attempts == 26 and len(calls) == 26
    assert bare_remote.read_remote_file(url, "releases.txt").split()[-1] == "A"


def test_max_wait_stops_the_loop_and_no_wait_crosses_the_deadline(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"releases.txt": "base\n"})
    other = bare_remote.clone_of(url)
    calls: list[int] = []
    clock = FakeClock()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.sleep(seconds)

    edit_a = _pushing_edit(other, calls, clock=clock, step=4.0, lose_until=1000)
    with pytest.raises(PushConflictError) as info:
        commit_and_push(
            tmp_path / "a",
            url,
            "main",
            edit_a,
            max_attempts=None,
            max_wait=10,
            backoff=5.0,
            max_backoff=100.0,
            sleep=sleep,
            clock=clock,
            rng=random.Random(7),
        )
    err = info.value
    # Every wait is cut to what is left of the 10 s, and no attempt starts after them.
    assert all(s <= 10 for s in sleeps) and clock.now - 4.0 * len(calls) == pytest.approx(sum(sleeps))
    assert sum(sleeps) + 4.0 * (len(calls) - 1) <= 10
    assert f"rejected {len(calls)} times" in err.message
    assert err.fix and "max-wait" in err.fix and "max-attempts" not in err.fix
    assert "A" not in bare_remote.read_remote_file(url, "releases.txt").split()
