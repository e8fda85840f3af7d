"""Real processes racing on one bare remote: writers committing to main (commit_and_push) while
others refresh the same pull request branch (push_branch, force-with-lease). Every main commit
lands, the PR branch ends as exactly one writer's commit on top of a main commit, nothing of
main is ever clobbered by a branch refresh."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gitops_release
from tests.fixtures.git_remotes import BareRemotes, git, url_to_path

HEAD = "promote/stage/race"

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from gitops_release.adapters.git import commit_and_push, push_branch

    url, checkout, kind, name, go, HEAD = sys.argv[1:7]
    while not Path(go).exists():
        time.sleep(0.005)

    def to_main(c):
        p = c / "dev" / "log.txt"
        p.write_text(p.read_text() + name + "\\n")
        return "dev " + name

    def to_branch(c):
        (c / "stage" / "tag.txt").write_text(name + "\\n")
        return "promote " + name

    for round in range(2):
        if kind == "main":
            r = commit_and_push(Path(checkout), url, "main", to_main, max_attempts=80, backoff=0.02,
                                max_backoff=0.2)
            print("main", r.attempts, r.commit_sha)
            name = name + "+"
        else:
            r = push_branch(Path(checkout), url, base="main", head=HEAD, edit=to_branch, max_attempts=80,
                            backoff=0.02, max_backoff=0.2)
            print(r.state, r.attempts, r.commit_sha)
    """
)


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def test_main_writers_and_pr_branch_refreshers_race_and_all_land(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"dev/log.txt": "base\n", "stage/tag.txt": "s0\n"})
    bare = str(url_to_path(url))
    go = tmp_path / "go"
    src = str(Path(gitops_release.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    writers = [("main", "m1"), ("main", "m2"), ("branch", "b1"), ("branch", "b2")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(tmp_path / f"co-{name}"), kind, name, str(go), HEAD],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind, name in writers
    ]
    go.write_text("go")
    outputs: dict[str, list[list[str]]] = {}
    try:
        for (_, name), proc in zip(writers, procs, strict=True):
            out, err = proc.communicate(timeout=180)  # a hang guard, not a timing assertion
            assert proc.returncode == 0, err
            outputs[name] = [line.split() for line in out.splitlines()]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # main: every commit of both main writers, linear, none lost to a branch refresh
    lines = bare_remote.read_remote_file(url, "dev/log.txt").split()
    expected = sorted(n + "+" * r for n in ("m1", "m2") for r in range(2))
    assert lines[0] == "base" and sorted(lines[1:]) == expected
    assert git("--git-dir", bare, "rev-list", "--merges", "main").split() == []
    assert bare_remote.read_remote_file(url, "stage/tag.txt") == "s0\n"  # main never got a PR change

    # the PR branch: exactly one commit on top of a main commit, one refresher's content
    branch_results = [line for name in ("b1", "b2") for line in outputs[name]]
    assert [state for state, _, _ in branch_results].count("created") == 1
    assert {state for state, _, _ in branch_results} <= {"created", "updated", "not-updated"}
    head = bare_remote.remote_head(url, HEAD)
    assert head in {sha for _, _, sha in branch_results}
    parent = git("--git-dir", bare, "rev-parse", f"{head}^").strip()
    assert parent in git("--git-dir", bare, "rev-list", "main").split()
    assert bare_remote.read_remote_file(url, "stage/tag.txt", HEAD) in ("b1\n", "b2\n")
    assert git("--git-dir", bare, "diff", "--name-only", parent, head).split() == ["stage/tag.txt"]
