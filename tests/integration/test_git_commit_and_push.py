"""commit_and_push against real bare remotes (file://) and real clones."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops_release.adapters.git import CommitIdentity, Git, commit_and_push
from gitops_release.errors import ConfigError, GitError, PolicyError
from tests.fixtures.git_remotes import BareRemotes, git, no_sleep, remote_commit_identity, writer


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def test_unchanged_edit_makes_no_commit(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"db.json": "{}\n"})
    head = bare_remote.remote_head(url)
    result = commit_and_push(tmp_path / "co", url, "main", writer("db.json", "{}\n"), sleep=no_sleep)
    assert (result.changed, result.commit_sha, result.base_sha, result.attempts) == (False, None, head, 1)
    assert bare_remote.remote_head(url) == head
    assert bare_remote.remote_log(url) == ["initial commit"]


def test_edit_returning_none_makes_no_commit_and_leaves_the_tree_clean(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"db.json": "{}\n"})

    def edit(checkout: Path) -> None:
        (checkout / "db.json").write_text("scratch\n")
        (checkout / "junk.txt").write_text("x")

    result = commit_and_push(tmp_path / "co", url, "main", edit, sleep=no_sleep)
    assert not result.changed
    assert Git(tmp_path / "co").changed_files() == []
    assert bare_remote.remote_log(url) == ["initial commit"]


def test_change_lands_as_one_commit_with_the_bot_identity(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"db.json": "{}\n", "README.md": "hi\n"})
    base = bare_remote.remote_head(url)
    message = "chore(release): my-app dev -> sha-abc12345\n\n#123 body line kept"
    result = commit_and_push(tmp_path / "co", url, "main", writer("db.json", '{"a": 1}\n', message))
    assert result.changed and result.attempts == 1 and result.base_sha == base
    assert result.commit_sha == bare_remote.remote_head(url)
    assert bare_remote.read_remote_file(url, "db.json") == '{"a": 1}\n'
    assert bare_remote.remote_log(url) == ["chore(release): my-app dev -> sha-abc12345", "initial commit"]
    body = git("--git-dir", url.removeprefix("file://"), "log", "-1", "--format=%B", "main")
    assert "#123 body line kept" in body
    bot = CommitIdentity()
    assert remote_commit_identity(url, "main") == (bot.name, bot.email, bot.name, bot.email)
    parent = git("--git-dir", url.removeprefix("file://"), "rev-parse", "main^").strip()
    assert parent == base


def test_custom_identity_new_files_and_deletions(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"old.txt": "bye\n", "keep.txt": "k\n"})

    def edit(checkout: Path) -> str:
        (checkout / "old.txt").unlink()
        (checkout / "new" / "dir").mkdir(parents=True)
        (checkout / "new" / "dir" / "file with space.txt").write_text("hello\n")
        return "restructure"

    me = CommitIdentity("Release Bot", "release-bot@example.invalid")
    commit_and_push(tmp_path / "co", url, "main", edit, identity=me)
    assert remote_commit_identity(url, "main") == (me.name, me.email, me.name, me.email)
    listed = git("--git-dir", url.removeprefix("file://"), "ls-tree", "-r", "--name-only", "main").split("\n")
    assert "old.txt" not in listed and "new/dir/file with space.txt" in listed and "keep.txt" in listed


def test_paths_limit_what_is_committed(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"db/db.json": "{}\n", "other.txt": "o\n"})

    def edit(checkout: Path) -> str:
        (checkout / "db" / "db.json").write_text("[]\n")
        (checkout / "other.txt").write_text("stray edit\n")
        return "db only"

    result = commit_and_push(tmp_path / "co", url, "main", edit, paths=["db"])
    assert result.changed
    assert bare_remote.read_remote_file(url, "db/db.json") == "[]\n"
    assert bare_remote.read_remote_file(url, "other.txt") == "o\n"
    # edits outside paths are discarded, so the checkout stays reusable
    assert Git(tmp_path / "co").is_clean()

    def stray_only(checkout: Path) -> str:
        (checkout / "other.txt").write_text("stray edit\n")
        return "nothing in paths"

    again = commit_and_push(tmp_path / "co", url, "main", stray_only, paths=["db", "missing/dir"])
    assert not again.changed


def test_push_false_commits_locally_only_and_the_next_call_recovers(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"db.json": "{}\n"})
    head = bare_remote.remote_head(url)
    co = tmp_path / "co"
    dry = commit_and_push(co, url, "main", writer("db.json", "dry\n", "dry run"), push=False)
    assert dry.changed and dry.commit_sha and dry.commit_sha != head
    assert Git(co).head() == dry.commit_sha
    assert bare_remote.remote_head(url) == head
    # our own unpushed commit is not "the user's work": a later real run resets it and pushes
    real = commit_and_push(co, url, "main", writer("db.json", "real\n", "real run"))
    assert real.changed and real.base_sha == head
    assert bare_remote.remote_log(url) == ["real run", "initial commit"]


def test_existing_clone_is_reused(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    clone = bare_remote.clone_of(url)
    (clone / "untracked-notes.txt").write_text("mine\n")
    result = commit_and_push(clone, url, "main", writer("a.txt", "2\n"))
    assert result.changed
    assert (clone / "untracked-notes.txt").read_text() == "mine\n"
    assert bare_remote.read_remote_file(url, "a.txt") == "2\n"
    assert "untracked-notes.txt" not in git("--git-dir", url.removeprefix("file://"), "ls-files", "main")


def test_remote_given_as_a_plain_path(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    path = url.removeprefix("file://")
    commit_and_push(tmp_path / "co", path, "main", writer("a.txt", "2\n"))
    # and the same checkout accepts the file:// spelling of the same remote
    commit_and_push(tmp_path / "co", url, "main", writer("a.txt", "3\n"))
    assert bare_remote.remote_log(url) == ["update", "update", "initial commit"]


def test_dirty_checkout_is_refused_and_left_as_it_was(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    clone = bare_remote.clone_of(url)
    (clone / "a.txt").write_text("work in progress\n")
    with pytest.raises(GitError, match="uncommitted changes") as info:
        commit_and_push(clone, url, "main", writer("a.txt", "2\n"))
    assert info.value.fix
    assert (clone / "a.txt").read_text() == "work in progress\n"
    assert bare_remote.remote_log(url) == ["initial commit"]


def test_local_commits_not_on_the_remote_are_refused(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    clone = bare_remote.clone_of(url)
    (clone / "a.txt").write_text("mine\n")
    git("commit", "-qam", "my local work", cwd=clone)
    mine = git("rev-parse", "HEAD", cwd=clone).strip()
    with pytest.raises(GitError, match="1 local commit"):
        commit_and_push(clone, url, "main", writer("a.txt", "2\n"))
    assert git("rev-parse", "HEAD", cwd=clone).strip() == mine
    assert bare_remote.remote_log(url) == ["initial commit"]


def test_clone_of_another_remote_is_refused(bare_remote: BareRemotes, tmp_path: Path) -> None:
    one = bare_remote.make_bare_remote({"a.txt": "1\n"})
    two = bare_remote.make_bare_remote({"a.txt": "1\n"})
    clone = bare_remote.clone_of(one)
    with pytest.raises(ConfigError, match="is a clone of"):
        commit_and_push(clone, two, "main", writer("a.txt", "2\n"))


def test_refusals_of_the_checkout_name_the_callers_input(bare_remote: BareRemotes, tmp_path: Path) -> None:
    # Review finding 8: update-db's input is repository-path; the adapter used to say "checkout".
    url = bare_remote.make_bare_remote({"sub/a.txt": "1\n"})
    clone = bare_remote.clone_of(url)
    with pytest.raises(ConfigError) as info:
        commit_and_push(clone / "sub", url, "main", writer("a.txt", "2\n"), checkout_input="repository-path")
    assert info.value.one_line() == (
        f"repository-path '{clone / 'sub'}' is a subdirectory of the clone at '{clone.resolve()}', not "
        f"its top. Fix: set repository-path to the top of the clone, '{clone.resolve()}', or to an empty "
        "directory"
    )
    other = bare_remote.make_bare_remote({"a.txt": "1\n"})
    with pytest.raises(ConfigError) as info:
        commit_and_push(clone, other, "main", writer("a.txt", "2\n"), checkout_input="repository-path")
    assert info.value.one_line() == (
        f"repository-path '{clone}' is a clone of '{url}', not of '{other}'. Fix: set repository-path to "
        "an empty directory, or to a clone whose origin is the repository being updated"
    )
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        ConfigError,
        match=r"^repository-path '.*file' exists and is not a directory\. Fix: set repository-path ",
    ):
        commit_and_push(
            tmp_path / "file", url, "main", writer("a.txt", "2\n"), checkout_input="repository-path"
        )
    # Without a name, the adapter's own word.
    with pytest.raises(ConfigError, match=r"^checkout '.*sub' is a subdirectory of the clone"):
        commit_and_push(clone / "sub", url, "main", writer("a.txt", "2\n"))


def test_edit_raising_release_error_pushes_nothing_and_cleans_up(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    co = tmp_path / "co"

    def refuse(checkout: Path) -> str:
        (checkout / "a.txt").write_text("half-written\n")
        (checkout / "new.txt").write_text("half\n")
        raise PolicyError("container 'x' may not be updated by org/other", fix="add it to sources")

    with pytest.raises(PolicyError, match="may not be updated"):
        commit_and_push(co, url, "main", refuse)
    assert bare_remote.remote_log(url) == ["initial commit"]
    assert (co / "a.txt").read_text() == "1\n" and not (co / "new.txt").exists()
    # and the checkout is immediately reusable
    assert commit_and_push(co, url, "main", writer("a.txt", "2\n")).changed


def test_missing_branch_and_missing_remote_are_clear_git_errors(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    with pytest.raises(GitError) as info:
        commit_and_push(tmp_path / "co1", url, "release", writer("a.txt", "2\n"))
    assert "release" in info.value.message and info.value.fix and "branch" in info.value.fix
    with pytest.raises(GitError) as info:
        commit_and_push(tmp_path / "co2", str(tmp_path / "gone.git"), "main", writer("a.txt", "2\n"))
    assert info.value.fix and "repository" in info.value.fix


def test_push_to_a_vanished_remote_fails_at_once_without_retry(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    bare = Path(url.removeprefix("file://"))
    calls: list[int] = []

    def edit(checkout: Path) -> str:
        calls.append(1)
        # the remote disappears between fetch and push: not a race, so no retry
        bare.rename(bare.with_name("moved.git"))
        (checkout / "a.txt").write_text("2\n")
        return "m"

    with pytest.raises(GitError) as info:
        commit_and_push(tmp_path / "co", url, "main", edit, sleep=no_sleep)
    assert type(info.value) is GitError
    assert "git push failed" in info.value.message
    assert calls == [1]


def test_shallow_clone_like_actions_checkout_is_reused(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    commit_and_push(tmp_path / "seed", url, "main", writer("a.txt", "2\n", "second"))
    shallow = tmp_path / "workspace"
    git("clone", "--quiet", "--depth", "1", "--branch", "main", url, str(shallow))
    assert git("rev-parse", "--is-shallow-repository", cwd=shallow).strip() == "true"
    commit_and_push(tmp_path / "other", url, "main", writer("b.txt", "b\n", "third"))  # remote moves on
    result = commit_and_push(shallow, url, "main", writer("a.txt", "3\n", "from the shallow clone"))
    assert result.changed and result.attempts == 1
    assert bare_remote.remote_log(url) == ["from the shallow clone", "third", "second", "initial commit"]
    assert bare_remote.read_remote_file(url, "b.txt") == "b\n"


# -- review fixes: untracked files are never committed; a failed push leaves no local commit ------


def test_files_untracked_before_the_edit_are_never_committed_even_without_paths(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    clone = bare_remote.clone_of(url)
    (clone / "event.json").write_text('{"client_payload": {}}\n')
    (clone / "out").mkdir()
    (clone / "out" / "evidence.txt").write_text("evidence\n")

    def edit(checkout: Path) -> str:
        (checkout / "a.txt").write_text("2\n")
        (checkout / "out" / "evidence.txt").write_text("rewritten by the edit\n")
        (checkout / "new.txt").write_text("created by the edit\n")
        return "edit"

    result = commit_and_push(clone, url, "main", edit, sleep=no_sleep)
    assert result.changed
    listed = git("--git-dir", url.removeprefix("file://"), "ls-tree", "-r", "--name-only", "main").split()
    assert sorted(listed) == ["a.txt", "new.txt"]
    # the stray files are still there, untracked, for the job's later steps
    assert (clone / "event.json").is_file() and (clone / "out" / "evidence.txt").is_file()
    assert Git(clone).untracked() == {"event.json", "out/evidence.txt"}


def test_a_named_path_that_was_untracked_before_the_edit_is_refused(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    clone = bare_remote.clone_of(url)
    (clone / "db").mkdir()
    (clone / "db" / "db.json").write_text("stray local copy\n")
    head = bare_remote.remote_head(url)
    with pytest.raises(GitError, match=r"db/db\.json.*untracked") as info:
        commit_and_push(
            clone, url, "main", writer("db/db.json", "new\n"), paths=["db/db.json"], sleep=no_sleep
        )
    assert info.value.fix
    assert bare_remote.remote_head(url) == head
    assert Git(clone).head() == head


def test_empty_paths_commit_nothing(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    result = commit_and_push(tmp_path / "co", url, "main", writer("a.txt", "2\n"), paths=[], sleep=no_sleep)
    assert not result.changed
    assert bare_remote.remote_log(url) == ["initial commit"]


def test_paths_are_literal_not_globs(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"db/db.json": "{}\n", "db/other.json": "{}\n"})

    def edit(checkout: Path) -> str:
        (checkout / "db" / "db.json").write_text("[]\n")
        (checkout / "db" / "other.json").write_text("[]\n")
        return "db"

    commit_and_push(tmp_path / "co", url, "main", edit, paths=["db/*.json"], sleep=no_sleep)
    assert bare_remote.remote_log(url) == ["initial commit"]


def test_paths_may_be_computed_by_the_edit(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n", "b.txt": "1\n"})
    chosen: list[str] = []

    def edit(checkout: Path) -> str:
        (checkout / "a.txt").write_text("2\n")
        (checkout / "b.txt").write_text("2\n")
        chosen[:] = ["b.txt"]
        return "b only"

    commit_and_push(tmp_path / "co", url, "main", edit, paths=lambda: chosen, sleep=no_sleep)
    assert bare_remote.read_remote_file(url, "a.txt") == "1\n"
    assert bare_remote.read_remote_file(url, "b.txt") == "2\n"


def install_refusing_hook(url: str) -> None:
    hook = Path(url.removeprefix("file://")) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'error: refused by a test hook' >&2\nexit 1\n")
    hook.chmod(0o755)


def test_push_refused_by_a_hook_resets_the_checkout_to_the_fetched_base(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    clone = bare_remote.clone_of(url)
    (clone / "notes.txt").write_text("mine\n")
    base = bare_remote.remote_head(url)
    install_refusing_hook(url)

    def edit(checkout: Path) -> str:
        (checkout / "a.txt").write_text("2\n")
        (checkout / "created.txt").write_text("by the edit\n")
        return "refused"

    with pytest.raises(GitError, match="pre-receive hook declined") as info:
        commit_and_push(clone, url, "main", edit, sleep=no_sleep)
    assert type(info.value) is GitError and info.value.fix
    assert bare_remote.remote_head(url) == base
    g = Git(clone)
    assert g.head() == base and g.is_clean()
    assert git("rev-parse", "refs/heads/main", cwd=clone).strip() == base
    assert (clone / "a.txt").read_text() == "1\n"
    assert not (clone / "created.txt").exists()
    assert (clone / "notes.txt").read_text() == "mine\n"
    assert not (g.git_dir() / "gitops-release-pending").exists()
    assert g.unpushed("HEAD", "refs/heads/main") == []


def test_verify_runs_after_the_commit_and_its_error_discards_it(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    base = bare_remote.remote_head(url)
    co = tmp_path / "co"
    seen: list[str] = []

    def verify() -> None:
        seen.append(Git(co).head())
        raise ConfigError("db/db.json: releases[3].tag is bad", fix="restore it")

    for push in (True, False):
        with pytest.raises(ConfigError, match="releases"):
            commit_and_push(co, url, "main", writer("a.txt", "2\n"), verify=verify, push=push, sleep=no_sleep)
        assert seen[-1] != base  # it ran with the commit made
        g = Git(co)
        assert g.head() == base and g.is_clean() and (co / "a.txt").read_text() == "1\n"
        assert not (g.git_dir() / "gitops-release-pending").exists()
    assert bare_remote.remote_log(url) == ["initial commit"]
    calls: list[int] = []
    done = commit_and_push(co, url, "main", writer("a.txt", "3\n"), verify=lambda: calls.append(1))
    assert done.changed and calls == [1]
    assert bare_remote.read_remote_file(url, "a.txt") == "3\n"


def test_a_checkout_on_another_branch_at_the_same_commit_is_switched(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    clone = bare_remote.clone_of(url)
    git("checkout", "--quiet", "-b", "topic", cwd=clone)
    result = commit_and_push(clone, url, "main", writer("a.txt", "2\n"), sleep=no_sleep)
    assert result.changed
    assert git("symbolic-ref", "--short", "HEAD", cwd=clone).strip() == "main"
    assert bare_remote.read_remote_file(url, "a.txt") == "2\n"
    assert git("rev-parse", "topic", cwd=clone).strip() == result.base_sha


def test_files_the_edit_creates_outside_paths_are_removed_not_committed(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"db/db.json": "{}\n", "keep.txt": "k\n"})
    co = tmp_path / "co"

    def edit(checkout: Path) -> str:
        (checkout / "db" / "db.json").write_text("[]\n")
        (checkout / "db" / "new.json").write_text("inside\n")
        (checkout / "scratch").mkdir()
        (checkout / "scratch" / "tmp.txt").write_text("outside\n")
        (checkout / "keep.txt").unlink()
        return "db dir"

    commit_and_push(co, url, "main", edit, paths=["./db/"], sleep=no_sleep)
    assert bare_remote.read_remote_file(url, "db/new.json") == "inside\n"
    assert bare_remote.read_remote_file(url, "keep.txt") == "k\n"
    assert not (co / "scratch" / "tmp.txt").exists()
    assert (co / "keep.txt").read_text() == "k\n"
    assert Git(co).changed_files() == []


def test_an_interrupted_merge_in_the_checkout_never_reaches_the_remote(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    seed = bare_remote.clone_of(url)
    git("checkout", "--quiet", "-b", "side", cwd=seed)
    (seed / "side.txt").write_text("side\n")
    git("add", "side.txt", cwd=seed)
    git("commit", "--quiet", "-m", "side commit", cwd=seed)
    git("push", "--quiet", "origin", "side", cwd=seed)
    clone = bare_remote.clone_of(url)
    git("fetch", "--quiet", "origin", "side:side", cwd=clone)
    git("merge", "--quiet", "--no-commit", "--no-ff", "-s", "ours", "side", cwd=clone)
    assert (clone / ".git" / "MERGE_HEAD").exists() and Git(clone).is_clean()
    result = commit_and_push(clone, url, "main", writer("a.txt", "2\n", "update"), paths=["a.txt"])
    assert result.changed
    parents = git("--git-dir", url.removeprefix("file://"), "log", "-1", "--format=%P", "main").split()
    assert parents == [result.base_sha]
    assert bare_remote.remote_log(url) == ["update", "initial commit"]


def test_paths_are_normalised_and_must_stay_inside_the_checkout(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"db/db.json": "{}\n", "keep.txt": "k\n"})
    co = tmp_path / "co"
    for paths, lands in ((["db/../keep.txt"], True), (["keep.txt/"], False), (["./keep.txt"], True)):
        tag = f"{paths[0]}\n"
        result = commit_and_push(co, url, "main", writer("keep.txt", tag), paths=paths, sleep=no_sleep)
        assert result.changed is lands, paths
        assert (bare_remote.read_remote_file(url, "keep.txt") == tag) is lands
    for bad in ("", "/db/db.json", "../outside", "db/../../x"):
        with pytest.raises(GitError, match="not inside the checkout") as info:
            commit_and_push(co, url, "main", writer("keep.txt", "x\n"), paths=[bad], sleep=no_sleep)
        assert info.value.fix
        assert Git(co).changed_files() == []
