"""log_paths, show_file and fetch_branch against real clones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops_release.adapters.git import Git, fetch_branch, log_paths, push_branch, show_file
from gitops_release.errors import ConfigError, GitError, InputError
from tests.fixtures.git_remotes import BareRemotes, git, url_to_path

TRICKY = [
    "50% off: %H %s %n %x00 %% literal",
    "subject line\n\nbody line 1\n\nbody with\ttab and trailing spaces   \n-- \nsignature",
    "ünïcødé ✓ 日本語 — émoji 🚀\n\n%b in the body\x1f\x1e too",
    "line one\nline two of the same paragraph\n\nbody",
    "---\n\ndiff --git a/x b/x\n+++ fake diff in a body",
]


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def commit_file(repo: Path, path: str, text: str, message: str) -> str:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git("add", "--all", cwd=repo)
    git("commit", "-q", "--cleanup=verbatim", "-F", "-", cwd=repo, input=message)
    return git("rev-parse", "HEAD", cwd=repo).strip()


def test_log_paths_reads_any_message_exactly(bare_remote: BareRemotes) -> None:
    url = bare_remote.make_bare_remote({"env/dev/k.yaml": "a\n", "other.txt": "o\n"})
    repo = bare_remote.clone_of(url)
    shas = []
    for index, message in enumerate(TRICKY):
        shas.append(commit_file(repo, "env/dev/k.yaml", f"v{index}\n", message))
        commit_file(repo, "other.txt", f"o{index}\n", f"unrelated {index}")
    commits = log_paths(repo, ["env/dev"])
    assert commits[-1].subject == "initial commit" and commits[-1].parents == ()
    commits = commits[:-1]
    assert [c.sha for c in commits] == shas[::-1]  # newest first, only commits touching the path
    for commit, message in zip(commits, TRICKY[::-1], strict=True):
        subject, _, body = message.partition("\n\n")
        assert commit.subject == " ".join(subject.split("\n"))
        assert commit.body == body.rstrip("\n")
        assert commit.author == "Seed Author" and commit.email == "seed@example.invalid"
        assert len(commit.parents) == 1 and commit.date[:2] == "20" and "T" in commit.date
    assert commits[0].parents == (git("rev-parse", f"{shas[-1]}^", cwd=repo).strip(),)
    assert log_paths(repo, ["env/dev/k.yaml"], max_count=2) == commits[:2]
    assert log_paths(repo, ["env/dev"], ref=f"{shas[2]}..HEAD") == commits[:2]
    assert log_paths(repo, ["env/dev"], ref=shas[0])[0] == commits[-1]
    assert log_paths(repo, ["nothing/here"]) == []
    assert log_paths(repo, []) == []


def test_log_paths_shows_merges_with_their_parents(bare_remote: BareRemotes) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "a\n", "b.txt": "b\n"})
    repo = bare_remote.clone_of(url)
    git("checkout", "-q", "-b", "side", cwd=repo)
    side = commit_file(repo, "a.txt", "side\n", "side change")
    git("checkout", "-q", "main", cwd=repo)
    commit_file(repo, "b.txt", "main\n", "main change")
    git("merge", "-q", "--no-ff", "-m", "merge side", "side", cwd=repo)
    merge = git("rev-parse", "HEAD", cwd=repo).strip()
    # default simplification: the merge took a.txt from side unchanged, so side's commit is listed
    assert [c.subject for c in log_paths(repo, ["a.txt"])] == ["side change", "initial commit"]
    first = log_paths(repo, ["a.txt"], first_parent=True)
    assert [c.subject for c in first] == ["merge side", "initial commit"]
    assert first[0].sha == merge and len(first[0].parents) == 2 and first[0].parents[1] == side


def test_log_paths_refuses_bad_refs_and_paths(bare_remote: BareRemotes) -> None:
    repo = bare_remote.clone_of(bare_remote.make_bare_remote({"a.txt": "a\n"}))
    with pytest.raises(GitError, match="not a git revision"):
        log_paths(repo, ["a.txt"], ref="--output=/tmp/x")
    with pytest.raises(GitError) as info:
        log_paths(repo, ["a.txt"], ref="no-such-branch")
    assert "no-such-branch" in str(info.value)
    with pytest.raises(GitError, match="not inside the checkout"):
        log_paths(repo, ["../a.txt"])
    # a path spelled like a glob is literal
    assert log_paths(repo, ["*.txt"]) == []


def test_show_file_reads_another_branch_without_touching_the_checkout(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"env/prod/k.yaml": "prod: 1\r\n", "env/dev/k.yaml": "dev\n"})
    push_branch(
        tmp_path / "co",
        url,
        base="main",
        head="promote/prod/x",
        edit=lambda root: (root / "env" / "prod" / "k.yaml").write_text("\ufeffprod: 2\r\n") and "p",
    )
    repo = bare_remote.clone_of(url)
    assert show_file(repo, "origin/promote/prod/x", "env/prod/k.yaml") == "\ufeffprod: 2\r\n"
    assert show_file(repo, "origin/promote/prod/x", "./env//prod/k.yaml") == "\ufeffprod: 2\r\n"
    assert show_file(repo, "HEAD", "env/prod/k.yaml") == "prod: 1\r\n"
    assert show_file(Git(repo), "main", "env/dev/k.yaml") == "dev\n"
    assert show_file(repo, "main", "env/stage/k.yaml") is None
    assert show_file(repo, "main", "env/dev/k.yaml/deeper") is None  # a file where a directory would be
    assert Git(repo).is_clean() and Git(repo).current_branch() == "main"
    with pytest.raises(ConfigError, match="is a directory"):
        show_file(repo, "main", "env/dev")
    with pytest.raises(GitError, match="nope"):
        show_file(repo, "nope", "env/dev/k.yaml")
    for bad in ("../x", "/etc/passwd", "env/../../x", "", ".git/config"):
        with pytest.raises(ConfigError):
            show_file(repo, "main", bad)


def test_show_file_refuses_a_symlink_blob_at_the_path_or_on_the_way(bare_remote: BareRemotes) -> None:
    url = bare_remote.make_bare_remote({"real/k.yaml": "x\n"})
    repo = bare_remote.clone_of(url)
    os.symlink("/etc/passwd", repo / "k.yaml")
    os.symlink("real", repo / "dir")
    git("add", "--all", cwd=repo)
    git("commit", "-qm", "links", cwd=repo)
    with pytest.raises(ConfigError) as info:
        show_file(repo, "HEAD", "k.yaml")
    assert "'k.yaml' is a symbolic link (to '/etc/passwd')" in info.value.message
    with pytest.raises(ConfigError) as info:
        show_file(repo, "HEAD", "dir/k.yaml")
    assert "'dir' is a symbolic link (to 'real')" in info.value.message
    assert info.value.fix and "real directory" in info.value.fix
    assert show_file(repo, "HEAD", "real/k.yaml") == "x\n"


def test_show_file_refuses_non_utf8(bare_remote: BareRemotes) -> None:
    repo = bare_remote.clone_of(bare_remote.make_bare_remote({"a.txt": "a\n"}))
    (repo / "bin.yaml").write_bytes(b"\xff\xfe\x00x")
    git("add", "--all", cwd=repo)
    git("commit", "-qm", "bin", cwd=repo)
    with pytest.raises(ConfigError, match="not UTF-8"):
        show_file(repo, "HEAD", "bin.yaml")


def test_fetch_branch_returns_the_head_or_none(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "a\n"})
    repo = bare_remote.clone_of(url)
    assert fetch_branch(repo, url, "promote/dev/x") is None
    pushed = push_branch(
        tmp_path / "co",
        url,
        base="main",
        head="promote/dev/x",
        edit=lambda root: (root / "a.txt").write_text("b\n") and "b",
    )
    assert fetch_branch(repo, url, "promote/dev/x") == pushed.commit_sha
    assert show_file(repo, "origin/promote/dev/x", "a.txt") == "b\n"
    git("--git-dir", str(url_to_path(url)), "branch", "-D", "promote/dev/x")
    assert fetch_branch(repo, url, "promote/dev/x") is None
    assert Git(repo).rev_parse("refs/remotes/origin/promote/dev/x") is None  # stale view removed
    assert fetch_branch(repo, url, "main") == bare_remote.remote_head(url)
    with pytest.raises(InputError):
        fetch_branch(repo, url, "--upload-pack=touch pwned")
    with pytest.raises(ConfigError, match="not a clone of"):
        fetch_branch(tmp_path / "elsewhere", url, "main")
    other = bare_remote.make_bare_remote({"b.txt": "b\n"})
    with pytest.raises(ConfigError, match="not a clone of"):
        fetch_branch(repo, other, "main")
