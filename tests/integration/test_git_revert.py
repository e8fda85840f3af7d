"""revert_into_tree against real clones: the inverse of a commit lands in the working tree (not
the index, no commit), merged with later changes to other lines; a later change of the same lines
is refused with RevertConflictError and nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops_release.adapters.git import Git, commit_and_push, push_branch, revert_into_tree
from gitops_release.errors import ConfigError, GitError, PolicyError, RevertConflictError
from tests.fixtures.git_remotes import BareRemotes, git

OVERLAY = "infra/overlays/prod/kustomization.yaml"


def kustomization(tag: str, replicas: str = "1", comment: str = "# prod overlay") -> str:
    return (
        f"{comment}\n"
        "resources:\n"
        "  - ../../base\n"
        "replicas:\n"
        "  - name: web\n"
        f"    count: {replicas}\n"
        "labels:\n"
        "  - pairs:\n"
        "      team: web\n"
        "images:\n"
        "  - name: ghcr.io/org/web\n"
        f"    newTag: {tag}\n"
    )


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def commit(repo: Path, files: dict[str, str | None], message: str) -> str:
    for path, text in files.items():
        target = repo / path
        if text is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    git("add", "--all", cwd=repo)
    git("commit", "-qm", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).strip()


def state(repo: Path) -> tuple[str, str, str]:
    """HEAD, the index's tree and the porcelain status: what must not change on a refusal."""
    return (
        git("rev-parse", "HEAD", cwd=repo).strip(),
        git("write-tree", cwd=repo).strip(),
        git("status", "--porcelain", "--untracked-files=all", cwd=repo),
    )


@pytest.fixture
def repo(bare_remote: BareRemotes) -> Path:
    url = bare_remote.make_bare_remote({OVERLAY: kustomization("sha-1"), "README": "r\n"})
    return bare_remote.clone_of(url)


def test_clean_revert_keeps_later_changes_to_other_lines(repo: Path) -> None:
    promote = commit(repo, {OVERLAY: kustomization("sha-2")}, "promote web sha-2 to prod")
    commit(repo, {OVERLAY: kustomization("sha-2", comment="# prod overlay (edited)")}, "comment")
    commit(repo, {"README": "later\n"}, "unrelated")
    head, index_tree, _ = state(repo)

    changed = revert_into_tree(repo, promote, paths=["infra/overlays/prod"])

    assert changed == [OVERLAY]
    assert (repo / OVERLAY).read_text() == kustomization("sha-1", comment="# prod overlay (edited)")
    assert (repo / "README").read_text() == "later\n"
    # no commit, index untouched: only the working tree holds the revert
    assert state(repo)[:2] == (head, index_tree)
    assert state(repo)[2] == f" M {OVERLAY}\n"
    assert not any((Git(repo).git_dir() / name).exists() for name in ("REVERT_HEAD", "sequencer"))


def test_revert_conflicting_with_a_later_commit_names_both_and_changes_nothing(repo: Path) -> None:
    promote = commit(repo, {OVERLAY: kustomization("sha-2")}, "promote web sha-2 to prod")
    later = commit(repo, {OVERLAY: kustomization("sha-3")}, "promote web sha-3 to prod")
    commit(repo, {"README": "later\n"}, "unrelated")
    before = state(repo)

    with pytest.raises(RevertConflictError) as info:
        revert_into_tree(repo, promote, paths=[OVERLAY])

    err = info.value
    assert isinstance(err, PolicyError)
    assert f"cannot revert {promote[:12]} (promote web sha-2 to prod)" in err.message
    assert f"{later[:12]} (promote web sha-3 to prod)" in err.message
    assert "unrelated" not in err.message  # only commits that touched the file
    assert f"'{OVERLAY}'" in err.message
    assert err.fix == "promote the wanted tag explicitly (tag: …) instead"
    assert state(repo) == before  # no conflict markers, no index entries, nothing untracked
    assert (repo / OVERLAY).read_text() == kustomization("sha-3")


def test_a_conflict_in_one_file_writes_no_other_file(repo: Path) -> None:
    promote = commit(
        repo,
        {OVERLAY: kustomization("sha-2"), "infra/overlays/prod/release-manifest.json": "{}\n"},
        "promote",
    )
    commit(repo, {OVERLAY: kustomization("sha-3")}, "hotfix")
    before = state(repo)
    with pytest.raises(RevertConflictError, match="hotfix"):
        revert_into_tree(repo, promote, paths=["infra"])
    assert state(repo) == before
    assert (repo / "infra/overlays/prod/release-manifest.json").exists()


def test_uncommitted_edits_on_the_same_lines_conflict_and_stay_as_they_were(repo: Path) -> None:
    promote = commit(repo, {OVERLAY: kustomization("sha-2")}, "promote")
    (repo / OVERLAY).write_text(kustomization("sha-9"))
    with pytest.raises(RevertConflictError) as info:
        revert_into_tree(repo, promote, paths=[OVERLAY])
    assert "uncommitted changes in the checkout" in info.value.message
    assert (repo / OVERLAY).read_text() == kustomization("sha-9")


def test_uncommitted_edits_elsewhere_in_the_file_are_merged(repo: Path) -> None:
    promote = commit(repo, {OVERLAY: kustomization("sha-2")}, "promote")
    (repo / OVERLAY).write_text(kustomization("sha-2", comment="# edited in the tree"))
    assert revert_into_tree(Git(repo), promote, paths=["."]) == [OVERLAY]
    assert (repo / OVERLAY).read_text() == kustomization("sha-1", comment="# edited in the tree")


def test_added_and_deleted_files_are_deleted_and_restored(repo: Path) -> None:
    (repo / "tool.sh").write_text("#!/bin/sh\n")
    (repo / "tool.sh").chmod(0o755)
    commit(repo, {}, "tool")
    change = commit(repo, {"infra/new.yaml": "new\n", "tool.sh": None}, "add one, delete one")
    commit(repo, {"README": "later\n"}, "unrelated")
    changed = revert_into_tree(repo, change, paths=["infra", "tool.sh"])
    assert sorted(changed) == ["infra/new.yaml", "tool.sh"]
    assert not (repo / "infra/new.yaml").exists()
    assert (repo / "tool.sh").read_text() == "#!/bin/sh\n" and os.access(repo / "tool.sh", os.X_OK)
    assert git("diff", "--stat", "HEAD", "--", "tool.sh", cwd=repo) == ""  # exactly as before


def test_an_added_file_changed_since_conflicts(repo: Path) -> None:
    change = commit(repo, {"infra/new.yaml": "new\n"}, "add")
    commit(repo, {"infra/new.yaml": "changed\n"}, "change it")
    with pytest.raises(RevertConflictError, match="change it"):
        revert_into_tree(repo, change, paths=["infra"])
    assert (repo / "infra/new.yaml").read_text() == "changed\n"


def test_paths_limit_the_revert_and_an_untouched_path_is_a_no_op(repo: Path) -> None:
    change = commit(repo, {OVERLAY: kustomization("sha-2"), "README": "also\n"}, "both")
    assert revert_into_tree(repo, change, paths=["README"]) == ["README"]
    assert (repo / "README").read_text() == "r\n"
    assert (repo / OVERLAY).read_text() == kustomization("sha-2")
    assert revert_into_tree(repo, change, paths=["elsewhere"]) == []
    assert revert_into_tree(repo, change, paths=[]) == []
    assert revert_into_tree(repo, change, paths=["README"]) == []  # already undone


def test_a_merge_commit_needs_a_mainline(repo: Path) -> None:
    git("checkout", "-q", "-b", "promote/prod/x", cwd=repo)
    commit(repo, {OVERLAY: kustomization("sha-2")}, "promote")
    git("checkout", "-q", "main", cwd=repo)
    commit(repo, {"README": "main moved\n"}, "main moved")
    git("merge", "-q", "--no-ff", "-m", "Merge pull request #7", "promote/prod/x", cwd=repo)
    merge = git("rev-parse", "HEAD", cwd=repo).strip()
    with pytest.raises(GitError) as info:
        revert_into_tree(repo, merge, paths=["infra"])
    assert "is a merge of 2 parents" in info.value.message and "mainline=1" in (info.value.fix or "")
    with pytest.raises(GitError, match="does not name a parent"):
        revert_into_tree(repo, merge, paths=["infra"], mainline=3)
    assert revert_into_tree(repo, merge, paths=["infra"], mainline=1) == [OVERLAY]
    assert (repo / OVERLAY).read_text() == kustomization("sha-1")
    assert (repo / "README").read_text() == "main moved\n"


def test_refusals(repo: Path, bare_remote: BareRemotes) -> None:
    git("checkout", "-q", "-b", "side", cwd=repo)
    elsewhere = commit(repo, {OVERLAY: kustomization("sha-5")}, "side")
    git("checkout", "-q", "main", cwd=repo)
    with pytest.raises(GitError, match="not in the history"):
        revert_into_tree(repo, elsewhere, paths=["infra"])
    with pytest.raises(GitError, match="not a git revision"):
        revert_into_tree(repo, "--hard", paths=["infra"])
    with pytest.raises(GitError):
        revert_into_tree(repo, "0" * 40, paths=["infra"])
    os.symlink("/etc/hostname", repo / "link")
    link_change = commit(repo, {}, "add a link")
    with pytest.raises(GitError, match="symbolic link or submodule"):
        revert_into_tree(repo, link_change, paths=["link"])


def test_a_symlink_in_the_checkout_is_never_written_through(repo: Path, tmp_path: Path) -> None:
    promote = commit(repo, {"infra/a/k.yaml": "x: 2\n"}, "promote")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "k.yaml").write_text("x: 2\n")
    # a later commit swaps the directory for a link out of the tree
    git("rm", "-rq", "infra/a", cwd=repo)
    os.symlink(outside, repo / "infra" / "a")
    commit(repo, {}, "link")
    with pytest.raises(ConfigError, match="symbolic link"):
        revert_into_tree(repo, promote, paths=["infra"])
    assert (outside / "k.yaml").read_text() == "x: 2\n"


def test_inside_commit_and_push_and_push_branch(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({OVERLAY: kustomization("sha-1")})

    def promote_to(tag: str):
        def edit(root: Path) -> str:
            (root / OVERLAY).write_text(kustomization(tag))
            return f"promote web {tag} to prod"

        return edit

    promoted = commit_and_push(tmp_path / "a", url, "main", promote_to("sha-2"))
    assert promoted.commit_sha

    def rollback(root: Path) -> str:
        assert revert_into_tree(root, promoted.commit_sha or "", paths=["infra"]) == [OVERLAY]
        (root / "infra/overlays/prod/release-manifest.json").write_text('{"tag": "sha-1"}\n')
        return "rollback web in prod"

    branch = push_branch(tmp_path / "b", url, base="main", head="rollback/prod/x", edit=rollback)
    assert branch.state == "created"
    assert bare_remote.read_remote_file(url, OVERLAY, "rollback/prod/x") == kustomization("sha-1")
    landed = commit_and_push(tmp_path / "a", url, "main", rollback)
    assert landed.changed
    assert bare_remote.read_remote_file(url, OVERLAY) == kustomization("sha-1")
    assert bare_remote.remote_log(url)[:2] == ["rollback web in prod", "promote web sha-2 to prod"]

    # a conflicting revert inside the edit: nothing pushed, the checkout back at the remote head
    commit_and_push(tmp_path / "a", url, "main", promote_to("sha-3"))
    head = bare_remote.remote_head(url)
    with pytest.raises(RevertConflictError):
        commit_and_push(tmp_path / "a", url, "main", rollback)
    assert bare_remote.remote_head(url) == head
    assert state(tmp_path / "a")[0] == head and state(tmp_path / "a")[2] == ""


def test_a_file_deleted_since_conflicts_and_says_so(repo: Path) -> None:
    promote = commit(repo, {OVERLAY: kustomization("sha-2")}, "promote")
    removed = commit(repo, {OVERLAY: None}, "drop prod")
    with pytest.raises(RevertConflictError) as info:
        revert_into_tree(repo, promote, paths=["infra"])
    assert f"later commit(s) {removed[:12]} (drop prod) deleted '{OVERLAY}'" in info.value.message
    assert not (repo / OVERLAY).exists()
