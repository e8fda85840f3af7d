"""The token never shows: not in argv, not in the remote URL or .git/config, not in logs or errors.

A pre-receive hook on the bare remote dumps its environment to stderr (which git relays as
``remote: …`` lines) and refuses the push: on a file:// remote the hook inherits the pusher's
environment, so the extraheader really is in git's output, and only redaction keeps it out of
the GitError.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from gitops_release.adapters.git import commit_and_push
from gitops_release.errors import GitError
from tests.fixtures.git_remotes import BareRemotes, GitSpy, git, spy_on_git, url_to_path

TOKEN = "ghs_secrettoken123456"
TRACE = {"GIT_TRACE": "1"}  # git prints every command it runs to stderr
ENCODED = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> GitSpy:
    return spy_on_git(monkeypatch)


def assert_header_env(env: dict[str, str]) -> None:
    count = int(env["GIT_CONFIG_COUNT"])
    pairs = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"] for i in range(count)}
    assert pairs["http.extraheader"] == f"AUTHORIZATION: basic {ENCODED}"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_TRACE"] == "1"


def assert_nowhere(text: str) -> None:
    assert TOKEN not in text and ENCODED not in text


def test_successful_push_with_token_keeps_it_out_of_argv_url_config_and_logs(
    bare_remote: BareRemotes, tmp_path: Path, spy: GitSpy
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    logs: list[str] = []

    def edit(checkout: Path) -> str:
        (checkout / "a.txt").write_text("2\n")
        return f"commit message mentioning {TOKEN} by mistake"

    result = commit_and_push(tmp_path / "co", url, "main", edit, token=TOKEN, log=logs.append, env=TRACE)
    assert result.changed
    assert spy.calls, "git was not run through subprocess.run"
    for argv, env, _ in spy.calls:
        assert argv[0] == "git"
        assert_nowhere(" ".join(argv))
        assert_header_env(env)
    assert any(argv[1] == "push" for argv, _, _ in spy.calls)
    assert any("trace:" in stderr for _, _, stderr in spy.calls)  # GIT_TRACE really was on
    for line in logs:
        assert_nowhere(line)
    assert_nowhere((tmp_path / "co" / ".git" / "config").read_text())
    assert git("remote", "get-url", "origin", cwd=tmp_path / "co").strip() == url


def test_failed_push_error_and_logs_are_redacted(
    bare_remote: BareRemotes, tmp_path: Path, spy: GitSpy
) -> None:
    url = bare_remote.make_bare_remote({"a.txt": "1\n"})
    hook = url_to_path(url) / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nenv >&2\necho 'leak {TOKEN}' >&2\nexit 1\n")
    hook.chmod(0o755)
    logs: list[str] = []

    def edit(checkout: Path) -> str:
        (checkout / "a.txt").write_text("2\n")
        return "m"

    with pytest.raises(GitError) as info:
        commit_and_push(
            tmp_path / "co", url, "main", edit, token=TOKEN, log=logs.append, env=TRACE, max_attempts=1
        )
    err = info.value
    assert type(err) is GitError  # a hook refusal is not a race: no retry
    push_stderr = next(stderr for argv, _, stderr in spy.calls if argv[1] == "push")
    assert ENCODED in push_stderr and TOKEN in push_stderr  # the raw output did carry both …
    assert_nowhere(str(err))  # … and none of it reaches the error
    assert_nowhere(err.stderr)
    assert_nowhere(repr(err.args))
    assert "***" in err.stderr
    assert "[remote rejected] (pre-receive hook declined)" in err.message
    for line in logs:
        assert_nowhere(line)
    for argv, env, _ in spy.calls:
        assert_nowhere(" ".join(argv))
        assert_header_env(env)
    assert bare_remote.remote_log(url) == ["initial commit"]
