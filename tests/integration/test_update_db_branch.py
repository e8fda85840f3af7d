"""update-db's default branch, in the clones it really meets: actions/checkout's (no origin/HEAD,
shallow), a laptop's, an empty directory. Order: branch input > origin/HEAD > the remote's HEAD
(git ls-remote --symref) > the checkout's branch > GITHUB_REF > an error naming ``branch``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_release.commands import update_db
from gitops_release.commands.base import Context
from gitops_release.errors import InputError
from gitops_release.runtime import InputReader
from tests.fixtures.git_remotes import BareRemotes, git, url_to_path

EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
RELEASE = {
    "container": "my-app",
    "channel": "dev",
    "image": "ghcr.io/org/my-app",
    "tag": "sha-bbb",
    "source": {"repository": "org/my-app", "sha": "a" * 40},
}


def run_update(work: Path, env: dict[str, str] | None = None, **inputs: str) -> update_db.Outputs:
    given = {"INPUT_PAYLOAD": json.dumps(RELEASE), "INPUT_REPOSITORY-PATH": str(work)}
    given.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    parsed = update_db.Inputs.from_reader(InputReader(env=given))
    return update_db.run(parsed, Context.for_env(env or {}, workdir=work))


def actions_checkout_clone(url: str, dest: Path, branch: str) -> Path:
    """What actions/checkout@v4 does: init, add origin, shallow fetch of one branch, checkout -B."""
    dest.mkdir()
    git("init", "--quiet", cwd=dest)
    git("remote", "add", "origin", url, cwd=dest)
    git(
        "fetch",
        "--quiet",
        "--no-tags",
        "--depth=1",
        "origin",
        f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
        cwd=dest,
    )
    git("checkout", "--quiet", "--force", "-B", branch, f"refs/remotes/origin/{branch}", cwd=dest)
    return dest


@pytest.fixture
def master_remote(bare_remote: BareRemotes) -> str:
    return bare_remote.make_bare_remote({"db/db.json": EMPTY_DB}, branch="master")


def db_on(url: str, branch: str) -> dict:
    return json.loads(git("--git-dir", str(url_to_path(url)), "show", f"refs/heads/{branch}:db/db.json"))


def point_remote_head_nowhere(url: str) -> None:
    git("--git-dir", str(url_to_path(url)), "symbolic-ref", "HEAD", "refs/heads/does-not-exist")


def test_actions_checkout_style_shallow_clone_of_a_master_repo(master_remote: str, tmp_path: Path):
    work = actions_checkout_clone(master_remote, tmp_path / "ws", "master")
    assert git("rev-parse", "--is-shallow-repository", cwd=work).strip() == "true"
    assert git("for-each-ref", "refs/remotes/origin/HEAD", cwd=work) == ""
    out = run_update(work)
    assert out.changed
    assert db_on(master_remote, "master")["releases"][0]["tag"] == "sha-bbb"
    heads = git(
        "--git-dir", str(url_to_path(master_remote)), "for-each-ref", "--format=%(refname)", "refs/heads"
    )
    assert heads.split() == ["refs/heads/master"]


def test_the_remote_is_asked_even_from_another_branch_of_the_checkout(master_remote: str, tmp_path: Path):
    work = actions_checkout_clone(master_remote, tmp_path / "ws", "master")
    git("checkout", "--quiet", "-b", "feature", cwd=work)
    run_update(work)
    assert db_on(master_remote, "master")["releases"][0]["tag"] == "sha-bbb"


def test_empty_directory_is_cloned_from_the_remotes_default_branch(master_remote: str, tmp_path: Path):
    run_update(tmp_path / "fresh", remote=master_remote)
    assert db_on(master_remote, "master")["releases"][0]["tag"] == "sha-bbb"


def test_origin_head_of_the_checkout_wins_over_the_remote(bare_remote: BareRemotes, tmp_path: Path):
    url = bare_remote.make_bare_remote({"db/db.json": EMPTY_DB})
    work = bare_remote.clone_of(url)
    git("push", "--quiet", "origin", "HEAD:refs/heads/release", cwd=work)
    git("fetch", "--quiet", "origin", cwd=work)
    git("remote", "set-head", "origin", "release", cwd=work)
    run_update(work)
    assert db_on(url, "release")["releases"][0]["tag"] == "sha-bbb"
    assert db_on(url, "main")["releases"] == []


def test_branch_input_wins(master_remote: str, tmp_path: Path):
    work = actions_checkout_clone(master_remote, tmp_path / "ws", "master")
    git("push", "--quiet", "origin", "HEAD:refs/heads/staging", cwd=work)
    run_update(work, branch="staging")
    assert db_on(master_remote, "staging")["releases"][0]["tag"] == "sha-bbb"
    assert db_on(master_remote, "master")["releases"] == []


def test_current_branch_when_the_remote_head_is_unknown(master_remote: str, tmp_path: Path):
    work = actions_checkout_clone(master_remote, tmp_path / "ws", "master")
    point_remote_head_nowhere(master_remote)
    run_update(work)
    assert db_on(master_remote, "master")["releases"][0]["tag"] == "sha-bbb"


def test_github_ref_when_detached_and_the_remote_head_is_unknown(master_remote: str, tmp_path: Path):
    work = actions_checkout_clone(master_remote, tmp_path / "ws", "master")
    git("checkout", "--quiet", "--detach", cwd=work)
    point_remote_head_nowhere(master_remote)
    run_update(work, env={"GITHUB_REF": "refs/heads/master"})
    assert db_on(master_remote, "master")["releases"][0]["tag"] == "sha-bbb"


@pytest.mark.parametrize("github_ref", [None, "refs/tags/v1.0.0", "refs/pull/7/merge"])
def test_no_way_to_tell_is_an_error_naming_the_branch_input(
    master_remote: str, tmp_path: Path, github_ref: str | None
):
    work = actions_checkout_clone(master_remote, tmp_path / "ws", "master")
    git("checkout", "--quiet", "--detach", cwd=work)
    point_remote_head_nowhere(master_remote)
    before = git("--git-dir", str(url_to_path(master_remote)), "rev-parse", "refs/heads/master")
    env = {"GITHUB_REF": github_ref} if github_ref else {}
    with pytest.raises(InputError) as info:
        run_update(work, env=env)
    assert info.value.field == "branch"
    assert info.value.fix and "branch" in info.value.fix
    assert "\n" not in info.value.message
    assert git("--git-dir", str(url_to_path(master_remote)), "rev-parse", "refs/heads/master") == before
