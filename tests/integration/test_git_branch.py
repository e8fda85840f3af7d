"""push_branch against real bare remotes (file://) and real clones: a pull request's branch is
created, left alone when it already holds the same tree, replaced with a lease otherwise, and a
lease lost to another writer is re-fetched and retried."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops_release.adapters.git import Git, commit_and_push, push_branch
from gitops_release.errors import GitError, InputError, PushConflictError
from tests.fixtures.git_remotes import BareRemotes, git, no_sleep, url_to_path
from tests.fixtures.git_remotes import writer as file_writer

HEAD = "promote/stage/abc123"


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def writer(path: str, text: str, message: str = "promote") -> Callable[[Path], str | None]:
    return file_writer(path, text, message)


def remote_branches(url: str) -> list[str]:
    out = git("--git-dir", str(url_to_path(url)), "for-each-ref", "--format=%(refname)", "refs/heads/")
    return out.split()


def test_absent_branch_is_created_on_top_of_base_and_base_is_untouched(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n", "other.txt": "x\n"})
    main_before = bare_remote.remote_head(url)
    result = push_branch(
        tmp_path / "co", url, base="main", head=HEAD, edit=writer("tag.txt", "v2\n"), sleep=no_sleep
    )
    assert result.state == "created" and result.attempts == 1
    assert result.base_sha == main_before
    assert result.commit_sha == bare_remote.remote_head(url, HEAD)
    assert bare_remote.read_remote_file(url, "tag.txt", HEAD) == "v2\n"
    assert bare_remote.remote_log(url, HEAD) == ["promote", "initial commit"]
    assert bare_remote.remote_head(url) == main_before  # the base branch never moves
    assert git("rev-parse", f"{result.commit_sha}^", cwd=tmp_path / "co").strip() == main_before
    # the checkout is back on base, clean; the pushed commit is known as origin/<head> only
    co = Git(tmp_path / "co")
    assert co.current_branch() == "main" and co.head() == main_before and co.is_clean()
    assert (tmp_path / "co" / "tag.txt").read_text() == "v1\n"
    assert co.rev_parse(f"refs/remotes/origin/{HEAD}") == result.commit_sha
    assert co.rev_parse(f"refs/heads/{HEAD}") is None


def test_rerun_with_the_same_change_pushes_nothing(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})
    first = push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=writer("tag.txt", "v2\n"))
    # another run (fresh checkout, later clock: the commit SHA would differ) with the same plan
    again = push_branch(
        tmp_path / "b",
        url,
        base="main",
        head=HEAD,
        edit=writer("tag.txt", "v2\n", "another message"),
        env={"GIT_COMMITTER_DATE": "2030-01-01T00:00:00Z", "GIT_AUTHOR_DATE": "2030-01-01T00:00:00Z"},
        sleep=no_sleep,
    )
    assert again.state == "not-updated" and again.attempts == 1
    assert again.commit_sha == first.commit_sha == bare_remote.remote_head(url, HEAD)
    assert bare_remote.remote_log(url, HEAD) == ["promote", "initial commit"]
    co = Git(tmp_path / "b")
    assert co.head() == bare_remote.remote_head(url) and co.is_clean() and co.current_branch() == "main"
    # the same in the checkout that created it
    third = push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=writer("tag.txt", "v2\n"))
    assert (third.state, third.commit_sha) == ("not-updated", first.commit_sha)


def test_different_change_or_moved_base_updates_the_branch(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n", "other.txt": "x\n"})
    first = push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=writer("tag.txt", "v2\n"))
    second = push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=writer("tag.txt", "v3\n", "v3"))
    assert second.state == "updated" and second.commit_sha != first.commit_sha
    assert bare_remote.read_remote_file(url, "tag.txt", HEAD) == "v3\n"
    assert bare_remote.remote_log(url, HEAD) == ["v3", "initial commit"]  # replaced, not stacked
    # main moves (an unrelated change): the same edit now gives another tree, the branch follows main
    commit_and_push(tmp_path / "m", url, "main", writer("other.txt", "y\n", "unrelated"))
    third = push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=writer("tag.txt", "v3\n", "v3"))
    assert third.state == "updated" and third.base_sha == bare_remote.remote_head(url)
    assert bare_remote.remote_log(url, HEAD) == ["v3", "unrelated", "initial commit"]
    assert bare_remote.read_remote_file(url, "other.txt", HEAD) == "y\n"


def test_no_change_pushes_nothing_and_leaves_an_existing_branch_alone(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})
    none = push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=lambda _: None, sleep=no_sleep)
    same = push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=writer("tag.txt", "v1\n"))
    assert (none.state, none.commit_sha, none.attempts) == ("no-change", None, 1)
    assert (same.state, same.commit_sha) == ("no-change", None)
    assert same.base_sha == bare_remote.remote_head(url)
    assert remote_branches(url) == ["refs/heads/main"]
    created = push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=writer("tag.txt", "v2\n"))
    after = push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=writer("tag.txt", "v1\n"))
    assert after.state == "no-change"
    assert bare_remote.remote_head(url, HEAD) == created.commit_sha
    co = Git(tmp_path / "a")
    assert co.is_clean() and co.head() == bare_remote.remote_head(url)


def test_lost_lease_refetches_and_retries(bare_remote: BareRemotes, tmp_path: Path) -> None:
    """Between our fetch and our push, another clone force-pushes the same PR branch: our lease
    (the head we fetched) no longer holds, the push is refused, we fetch again and decide again."""
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})
    push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=writer("tag.txt", "v2\n"))
    other = bare_remote.clone_of(url)
    seen: list[str | None] = []
    logs: list[str] = []

    def edit(checkout: Path) -> str:
        seen.append(git("rev-parse", f"refs/remotes/origin/{HEAD}", cwd=checkout).strip())
        if len(seen) == 1:
            git("checkout", "-q", "-b", "x", "origin/main", cwd=other)
            (other / "tag.txt").write_text("v9\n")
            git("commit", "-qam", "someone else", cwd=other)
            git("push", "-q", "--force", "origin", f"HEAD:refs/heads/{HEAD}", cwd=other)
        (checkout / "tag.txt").write_text("v3\n")
        return "v3"

    sleeps: list[float] = []
    result = push_branch(
        tmp_path / "b", url, base="main", head=HEAD, edit=edit, sleep=sleeps.append, log=logs.append
    )
    assert result.state == "updated" and result.attempts == 2 and len(sleeps) == 1
    assert seen[1] == git("rev-parse", "HEAD", cwd=other).strip() != seen[0]  # refetched
    assert bare_remote.read_remote_file(url, "tag.txt", HEAD) == "v3\n"
    assert bare_remote.remote_head(url, HEAD) == result.commit_sha
    assert any("rejected" in line and "attempt 1/5" in line for line in logs)


def test_lost_lease_to_a_writer_of_the_same_tree_ends_not_updated(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    """Two runs of the same plan race to create the branch: the loser's creation (lease: the branch
    must not exist) is refused, and on the retry it finds the identical tree and pushes nothing."""
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})
    winner = []

    def edit(checkout: Path) -> str:
        if not winner:
            winner.append(
                push_branch(tmp_path / "w", url, base="main", head=HEAD, edit=writer("tag.txt", "v2\n"))
            )
        (checkout / "tag.txt").write_text("v2\n")
        return "promote (by the loser)"

    result = push_branch(tmp_path / "l", url, base="main", head=HEAD, edit=edit, sleep=lambda _: None)
    assert winner[0].state == "created"
    assert (result.state, result.attempts, result.commit_sha) == ("not-updated", 2, winner[0].commit_sha)
    assert bare_remote.remote_log(url, HEAD) == ["promote", "initial commit"]


def test_a_writer_of_the_very_same_commit_makes_it_not_updated(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    """Same parent, content, message, identity and second: the winner's commit IS ours, git
    reports the push up to date; that is no change of the branch, not a creation."""
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})
    when = {"GIT_COMMITTER_DATE": "2030-01-01T00:00:00Z", "GIT_AUTHOR_DATE": "2030-01-01T00:00:00Z"}
    winner = []

    def edit(checkout: Path) -> str:
        if not winner:
            winner.append(
                push_branch(
                    tmp_path / "w", url, base="main", head=HEAD, edit=writer("tag.txt", "v2\n"), env=when
                )
            )
        (checkout / "tag.txt").write_text("v2\n")
        return "promote"

    result = push_branch(tmp_path / "l", url, base="main", head=HEAD, edit=edit, env=when, sleep=no_sleep)
    assert winner[0].state == "created"
    assert (result.state, result.attempts, result.commit_sha) == ("not-updated", 1, winner[0].commit_sha)


def test_lease_lost_every_time_raises_push_conflict_with_nothing_of_ours_pushed(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})
    other = bare_remote.clone_of(url)
    calls: list[int] = []

    def edit(checkout: Path) -> str:
        calls.append(1)
        (other / "tag.txt").write_text(f"other {len(calls)}\n")
        git("commit", "-qam", f"other {len(calls)}", cwd=other)
        git("push", "-q", "--force", "origin", f"HEAD:refs/heads/{HEAD}", cwd=other)
        (checkout / "tag.txt").write_text("ours\n")
        return "ours"

    with pytest.raises(PushConflictError) as info:
        push_branch(
            tmp_path / "a", url, base="main", head=HEAD, edit=edit, max_attempts=3, sleep=lambda _: None
        )
    assert f"push to '{HEAD}' was rejected 3 times" in info.value.message
    assert bare_remote.read_remote_file(url, "tag.txt", HEAD) == "other 3\n"
    co = Git(tmp_path / "a")
    assert co.is_clean() and co.head() == bare_remote.remote_head(url)  # back at the fetched base
    assert not (co.git_dir() / "gitops-release-pending").exists()


def test_push_refused_by_a_hook_fails_at_once_and_cleans_up(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})
    hook = url_to_path(url) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'no PR branches today' >&2\nexit 1\n")
    hook.chmod(0o755)

    def edit(checkout: Path) -> str:
        (checkout / "tag.txt").write_text("v2\n")
        (checkout / "new.txt").write_text("new\n")
        return "promote"

    with pytest.raises(GitError) as info:
        push_branch(tmp_path / "a", url, base="main", head=HEAD, edit=edit, sleep=no_sleep)
    assert type(info.value) is GitError and "pre-receive hook declined" in info.value.message
    co = Git(tmp_path / "a")
    assert co.is_clean() and co.head() == bare_remote.remote_head(url)
    assert not (tmp_path / "a" / "new.txt").exists()
    assert remote_branches(url) == ["refs/heads/main"]


def test_paths_and_verify_work_as_in_commit_and_push(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"infra/tag.txt": "v1\n", "README": "r\n"})
    verified: list[str] = []

    def edit(checkout: Path) -> str:
        (checkout / "infra" / "tag.txt").write_text("v2\n")
        (checkout / "README").write_text("changed outside paths\n")
        return "promote"

    result = push_branch(
        tmp_path / "a",
        url,
        base="main",
        head=HEAD,
        edit=edit,
        paths=["infra"],
        verify=lambda: verified.append(git("rev-parse", "HEAD", cwd=tmp_path / "a").strip()),
    )
    assert result.state == "created" and verified == [result.commit_sha]
    assert bare_remote.read_remote_file(url, "README", HEAD) == "r\n"
    assert bare_remote.read_remote_file(url, "infra/tag.txt", HEAD) == "v2\n"
    assert (tmp_path / "a" / "README").read_text() == "r\n"

    def refuse() -> None:
        raise InputError("images", "refused by verify")

    with pytest.raises(InputError):
        push_branch(
            tmp_path / "a", url, base="main", head=HEAD, edit=writer("infra/tag.txt", "v3\n"), verify=refuse
        )
    assert bare_remote.read_remote_file(url, "infra/tag.txt", HEAD) == "v2\n"


@pytest.mark.parametrize(
    ("head", "why"),
    [
        ("main", "is the base branch itself"),
        ("-f", "is not a branch name"),
        ("--force", "is not a branch name"),
        ("refs/heads/x", "is not a branch name"),
        ("promote/stage/a..b", "is not a valid branch name"),
        ("promote/stage/x.lock", "is not a valid branch name"),
        ("promote stage", "is not a valid branch name"),
        ("@{-1}", "is not a valid branch name"),
        ("HEAD", "is not a valid branch name"),
        ("", "is not a branch name"),
    ],
)
def test_bad_head_branch_is_refused_before_anything_happens(
    bare_remote: BareRemotes, tmp_path: Path, head: str, why: str
) -> None:
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})
    with pytest.raises(InputError) as info:
        push_branch(tmp_path / "a", url, base="main", head=head, edit=writer("tag.txt", "v2\n"))
    assert info.value.field == "head-branch" and why in info.value.message
    assert not (tmp_path / "a").exists()
    assert remote_branches(url) == ["refs/heads/main"]


def test_credentials_in_the_remote_url_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        push_branch(
            tmp_path / "a",
            "https://x-access-token:ghs_abc@github.com/org/config.git",
            base="main",
            head=HEAD,
            edit=writer("tag.txt", "v2\n"),
            remote_input="repository",
        )
    assert info.value.field == "repository" and "ghs_abc" not in str(info.value)
    assert not (tmp_path / "a").exists()


def test_two_clones_racing_commit_to_main_and_refresh_a_pr_branch_both_land(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    """One writer commits to main (commit mode, another env) while the other refreshes a PR
    branch on the same bare remote, each inside the other's window: both land, nothing clobbered."""
    url = bare_remote.make_bare_remote({"dev/tag.txt": "d1\n", "stage/tag.txt": "s1\n"})
    push_branch(tmp_path / "pr", url, base="main", head=HEAD, edit=writer("stage/tag.txt", "s2\n"))
    main_results = []
    pr_views: list[str] = []

    def pr_edit(checkout: Path) -> str:
        pr_views.append((checkout / "dev" / "tag.txt").read_text())
        if not main_results:  # PR writer has fetched; main moves before it pushes
            main_results.append(
                commit_and_push(tmp_path / "main", url, "main", writer("dev/tag.txt", "d2\n", "dev d2"))
            )
        (checkout / "stage" / "tag.txt").write_text("s3\n")
        return "promote s3"

    pr = push_branch(tmp_path / "pr", url, base="main", head=HEAD, edit=pr_edit, sleep=no_sleep)
    assert pr.state == "updated" and pr.attempts == 1  # another branch moved: no lease lost
    assert bare_remote.read_remote_file(url, "dev/tag.txt") == "d2\n"
    assert bare_remote.read_remote_file(url, "stage/tag.txt") == "s1\n"
    assert bare_remote.read_remote_file(url, "stage/tag.txt", HEAD) == "s3\n"

    # and the other way round: the PR branch is refreshed while a commit to main is in flight
    pr_results = []

    def main_edit(checkout: Path) -> str:
        if not pr_results:
            pr_results.append(
                push_branch(
                    tmp_path / "pr", url, base="main", head=HEAD, edit=writer("stage/tag.txt", "s4\n")
                )
            )
        (checkout / "dev" / "tag.txt").write_text("d3\n")
        return "dev d3"

    landed = commit_and_push(tmp_path / "main", url, "main", main_edit, sleep=no_sleep)
    assert landed.changed and landed.attempts == 1
    assert pr_results[0].state == "updated" and pr_results[0].base_sha == main_results[0].commit_sha
    assert bare_remote.remote_log(url) == ["dev d3", "dev d2", "initial commit"]
    assert bare_remote.remote_log(url, HEAD) == ["promote", "dev d2", "initial commit"]
    assert bare_remote.read_remote_file(url, "stage/tag.txt", HEAD) == "s4\n"
    assert bare_remote.read_remote_file(url, "dev/tag.txt", HEAD) == "d2\n"


def test_a_pr_branch_rebuilt_while_main_moves_is_based_on_the_newest_main(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    """A lost lease re-runs the edit on a freshly fetched base too: a commit that landed on main
    meanwhile is in the refreshed branch, not dropped."""
    url = bare_remote.make_bare_remote({"dev/tag.txt": "d1\n", "stage/tag.txt": "s1\n"})
    push_branch(tmp_path / "pr", url, base="main", head=HEAD, edit=writer("stage/tag.txt", "s2\n"))
    other = bare_remote.clone_of(url)
    calls: list[int] = []

    def edit(checkout: Path) -> str:
        calls.append(1)
        if len(calls) == 1:
            commit_and_push(tmp_path / "main", url, "main", writer("dev/tag.txt", "d2\n", "dev d2"))
            git("fetch", "-q", "origin", cwd=other)
            git("push", "-q", "--force", "origin", f"origin/main:refs/heads/{HEAD}", cwd=other)
        (checkout / "stage" / "tag.txt").write_text("s3\n")
        return "promote s3"

    result = push_branch(
        tmp_path / "b", url, base="main", head=HEAD, edit=edit, sleep=lambda _: None, rng=random.Random(0)
    )
    assert result.state == "updated" and result.attempts == 2
    assert result.base_sha == bare_remote.remote_head(url)
    assert bare_remote.remote_log(url, HEAD) == ["promote s3", "dev d2", "initial commit"]


def test_after_the_pr_is_merged_and_its_branch_pruned_the_checkout_is_still_usable(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    """A laptop flow: promote by PR, the PR is squash-merged and its branch deleted, the user runs
    ``git fetch --prune``; the next run in the same checkout must not see "local work"."""
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})
    co = tmp_path / "co"
    pushed = push_branch(co, url, base="main", head=HEAD, edit=writer("tag.txt", "v2\n"))
    squash = commit_and_push(tmp_path / "merge", url, "main", writer("tag.txt", "v2\n", "squash-merge #1"))
    git("--git-dir", str(url_to_path(url)), "branch", "-D", HEAD)
    git("fetch", "-q", "--prune", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=co)
    assert Git(co).rev_parse(f"refs/remotes/origin/{HEAD}") is None and pushed.commit_sha
    again = push_branch(co, url, base="main", head=HEAD, edit=writer("tag.txt", "v3\n", "v3"), sleep=no_sleep)
    assert again.state == "created" and again.base_sha == squash.commit_sha
    landed = commit_and_push(co, url, "main", writer("tag.txt", "v4\n", "v4"), sleep=no_sleep)
    assert landed.changed


def test_a_failure_leaves_the_checkout_on_base_not_detached(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"tag.txt": "v1\n"})

    def refuse() -> None:
        raise InputError("images", "refused by verify")

    with pytest.raises(InputError):
        push_branch(
            tmp_path / "a", url, base="main", head=HEAD, edit=writer("tag.txt", "v2\n"), verify=refuse
        )
    co = Git(tmp_path / "a")
    assert co.current_branch() == "main" and co.head() == bare_remote.remote_head(url) and co.is_clean()
