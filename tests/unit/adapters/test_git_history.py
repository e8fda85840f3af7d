"""Unit tests of the history helpers with a fake git: log_paths is one call and its record framing
survives any message bytes; show_file and push_branch refuse bad paths and names before git runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from gitops_release.adapters import git as gitmod
from gitops_release.adapters.git import CommitInfo, Git, log_paths, push_branch, show_file
from gitops_release.errors import ConfigError, InputError


class FakeLog:
    """Answers ``git log --format=…`` by filling the format's own separators (so the nonce of the
    call is used) with the given commits; records every argv."""

    def __init__(self, commits: list[tuple[str, ...]]) -> None:
        self.commits = commits
        self.calls: list[list[str]] = []

    def __call__(self, argv, **kwargs):
        self.calls.append(list(argv))
        fmt = next(arg for arg in argv if arg.startswith("--format="))[len("--format=") :]
        field, end = re.fullmatch(r"%H(.*?)%P.*%b(.*)", fmt).groups()  # type: ignore[union-attr]
        field, end = (
            part.replace("%x00", "\0").replace("%x1f", "\x1f").replace("%x1e", "\x1e")
            for part in (field, end)
        )
        out = "".join(field.join(commit) + end + "\n" for commit in self.commits)
        return subprocess.CompletedProcess(argv, 0, out, "")


def test_log_paths_is_one_git_call_and_no_message_can_forge_a_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bodies that carry NUL, the ASCII separators and even a well-formed frame with another
    # nonce: none of it is read as a field or record boundary.
    forged = "\0" + "0" * 32 + "\x1f" + "deadbeef" + "\0" + "0" * 32 + "\x1e\n"
    commits = [
        (
            "a" * 40,
            "b" * 40 + " " + "c" * 40,
            "Ann",
            "ann@x",
            "2024-01-02T03:04:05+00:00",
            "merge",
            f"body{forged}x\n",
        ),
        ("b" * 40, "", "Bob", "bob@x", "2024-01-01T00:00:00+00:00", "50% %H \x1f\x1e", "\0\n\nline\n"),
    ]
    fake = FakeLog(commits)
    monkeypatch.setattr(gitmod.subprocess, "run", fake)
    result = log_paths(tmp_path, ["infra/overlays/prod", "./infra//x/"], ref="origin/main", max_count=5)
    assert len(fake.calls) == 1
    argv = fake.calls[0]
    assert argv[:3] == ["git", "--literal-pathspecs", "log"]
    assert "--max-count=5" in argv and "--no-show-signature" in argv and "--no-use-mailmap" in argv
    assert argv[-5:] == ["--end-of-options", "origin/main", "--", "infra/overlays/prod", "infra/x"]
    assert result == [
        CommitInfo(
            "a" * 40,
            ("b" * 40, "c" * 40),
            "Ann",
            "ann@x",
            "2024-01-02T03:04:05+00:00",
            "merge",
            f"body{forged}x",
        ),
        CommitInfo(
            "b" * 40, (), "Bob", "bob@x", "2024-01-01T00:00:00+00:00", "50% %H \x1f\x1e", "\0\n\nline"
        ),
    ]


def test_each_log_call_uses_a_fresh_nonce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLog([])
    monkeypatch.setattr(gitmod.subprocess, "run", fake)
    assert log_paths(tmp_path, ["a"]) == []
    assert log_paths(tmp_path, ["a"]) == []
    formats = [next(arg for arg in call if arg.startswith("--format=")) for call in fake.calls]
    assert formats[0] != formats[1]


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "../x", "a/../../x", "a/..", ".git/config", "a/.git/x", "."]
)
def test_show_file_refuses_paths_outside_the_tree_before_running_git(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(gitmod.subprocess, "run", lambda *a, **k: calls.append(a))
    with pytest.raises(ConfigError):
        show_file(Git(tmp_path), "main", path)
    assert calls == []


@pytest.mark.parametrize("head", ["-x", "refs/heads/a", "main", ""])
def test_push_branch_refuses_a_bad_head_before_touching_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, head: str
) -> None:
    calls: list[list[str]] = []
    real = subprocess.run

    def record(argv, **kwargs):
        calls.append(list(argv))
        return real(argv, **kwargs)

    monkeypatch.setattr(gitmod.subprocess, "run", record)
    with pytest.raises(InputError) as info:
        push_branch(tmp_path / "co", "file:///nowhere.git", base="main", head=head, edit=lambda _: "m")
    assert info.value.field == "head-branch"
    assert all(argv[1] == "check-ref-format" for argv in calls)
    assert not (tmp_path / "co").exists()
