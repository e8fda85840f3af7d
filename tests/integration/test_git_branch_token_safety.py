"""push_branch and fetch_branch keep the token out of argv, URLs, .git/config, logs and errors
(the same checks as test_git_token_safety.py for commit_and_push), and really authenticate
against a smart-HTTP remote that checks the header like GitHub."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from gitops_release.adapters.git import fetch_branch, push_branch
from gitops_release.errors import GitError
from tests.fixtures.git_remotes import (
    BareRemotes,
    GitHTTPServer,
    GitSpy,
    clone_of,
    git,
    make_bare_remote,
    read_remote_file,
    spy_on_git,
    url_to_path,
)

TOKEN = "ghs_branchsecret7654321"
TRACE = {"GIT_TRACE": "1"}
ENCODED = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
HEAD = "promote/prod/tok"


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> GitSpy:
    return spy_on_git(monkeypatch)


def assert_nowhere(text: str) -> None:
    assert TOKEN not in text and ENCODED not in text


def assert_header_env(env: dict[str, str]) -> None:
    count = int(env["GIT_CONFIG_COUNT"])
    pairs = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(count)}
    assert pairs["http.extraheader"] == f"AUTHORIZATION: basic {ENCODED}"


def edit(checkout: Path) -> str:
    (checkout / "a.txt").write_text("2\n")
    return f"promote, mentioning {TOKEN} by mistake"


def test_push_branch_and_fetch_branch_keep_the_token_out_of_argv_config_and_logs(
    bare_remote: BareRemotes, tmp_path: Path, spy: GitSpy
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    logs: list[str] = []
    result = push_branch(
        tmp_path / "co", url, base="main", head=HEAD, edit=edit, token=TOKEN, log=logs.append, env=TRACE
    )
    assert result.state == "created"
    other = bare_remote.clone_of(url)
    assert fetch_branch(other, url, HEAD, token=TOKEN, env=TRACE) == result.commit_sha
    assert fetch_branch(other, url, "promote/prod/none", token=TOKEN, env=TRACE) is None
    assert spy.calls
    pushes = [argv for argv, _, _ in spy.calls if argv[1] == "push"]
    assert pushes and all(any(a.startswith("--force-with-lease=") for a in argv) for argv in pushes)
    assert sum(1 for argv, _, _ in spy.calls if argv[1] == "fetch") >= 4
    for argv, env, _ in spy.calls:
        assert_nowhere(" ".join(argv))
        if argv[1] != "check-ref-format":  # checked before any remote is involved, no token yet
            assert_header_env(env)
    assert any("trace:" in stderr for _, _, stderr in spy.calls)
    for line in logs:
        assert_nowhere(line)
    assert_nowhere((tmp_path / "co" / ".git" / "config").read_text())
    assert_nowhere((other / ".git" / "config").read_text())


def test_refused_branch_push_error_is_redacted(bare_remote: BareRemotes, tmp_path: Path, spy: GitSpy) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    hook = url_to_path(url) / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nenv >&2\necho 'leak {TOKEN}' >&2\nexit 1\n")
    hook.chmod(0o755)
    logs: list[str] = []
    with pytest.raises(GitError) as info:
        push_branch(tmp_path / "co", url, base="main", head=HEAD, edit=edit, token=TOKEN, log=logs.append)
    err = info.value
    push_stderr = next(stderr for argv, _, stderr in spy.calls if argv[1] == "push")
    assert TOKEN in push_stderr  # the raw output did carry it …
    assert_nowhere(str(err))  # … and none of it reaches the error
    assert_nowhere(err.stderr)
    for line in logs:
        assert_nowhere(line)
    assert git("--git-dir", str(url_to_path(url)), "branch", "--list").split() == ["*", "main"]


def test_push_branch_and_fetch_branch_authenticate_over_http(
    git_http_server: GitHTTPServer, tmp_path: Path
) -> None:
    file_url = make_bare_remote(git_http_server.root, {"a.txt": "1\n"}, name="config.git")
    url = git_http_server.url("config.git")
    token = git_http_server.token
    created = push_branch(tmp_path / "co", url, base="main", head=HEAD, edit=edit, token=token)
    again = push_branch(tmp_path / "co", url, base="main", head=HEAD, edit=edit, token=token)
    assert (created.state, again.state) == ("created", "not-updated")
    assert read_remote_file(file_url, "a.txt", HEAD) == "2\n"
    other = clone_of(file_url, tmp_path / "other")
    git("remote", "set-url", "origin", url, cwd=other)
    assert fetch_branch(other, url, HEAD, token=token) == created.commit_sha
    assert fetch_branch(other, url, "promote/none", token=token) is None  # absent over smart HTTP too
    assert git_http_server.requests and all(ok for _, _, ok in git_http_server.requests)
    with pytest.raises(GitError):
        fetch_branch(other, url, HEAD, token="ghs_wrong00000000")
