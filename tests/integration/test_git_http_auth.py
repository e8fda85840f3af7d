"""A real authenticated HTTP remote: http.server + `git http-backend`, checking the Authorization
header the way GitHub does. Proves the GIT_CONFIG_* extraheader really authenticates git, and that
a wrong or missing token fails fast with a clear GitError (no prompt, no hang, no token shown)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from gitops_release.adapters.git import AUTH_FIX, MISSING_CREDENTIALS_FIX, commit_and_push
from gitops_release.errors import GitError
from tests.fixtures.git_remotes import (
    GitHTTPServer,
    clone_of,
    git,
    make_bare_remote,
    read_remote_file,
    remote_log,
)


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)  # no credential helper from the machine
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def edit(checkout: Path) -> str:
    (checkout / "db.json").write_text('{"v": 2}\n')
    return "update over http"


def test_token_authenticates_clone_fetch_and_push(git_http_server: GitHTTPServer, tmp_path: Path) -> None:
    file_url = make_bare_remote(git_http_server.root, {"db.json": '{"v": 1}\n'}, name="config.git")
    result = commit_and_push(
        tmp_path / "co", git_http_server.url("config.git"), "main", edit, token=git_http_server.token
    )
    assert result.changed and result.attempts == 1
    assert read_remote_file(file_url, "db.json") == '{"v": 2}\n'
    assert remote_log(file_url) == ["update over http", "initial commit"]
    methods = {(m, p.rsplit("/", 1)[-1]) for m, p, ok in git_http_server.requests if ok}
    assert ("POST", "git-upload-pack") in methods and ("POST", "git-receive-pack") in methods
    assert all(ok for _, _, ok in git_http_server.requests)  # the header went with every request


@pytest.mark.parametrize("token", ["ghs_wrongtoken99999", None])
def test_wrong_or_missing_token_fails_fast_with_a_clear_error(
    git_http_server: GitHTTPServer, tmp_path: Path, token: str | None
) -> None:
    file_url = make_bare_remote(git_http_server.root, {"db.json": '{"v": 1}\n'}, name="config.git")
    with pytest.raises(GitError) as info:
        commit_and_push(tmp_path / "co", git_http_server.url("config.git"), "main", edit, token=token)
    err = info.value
    # Without a token nothing "lacks contents: write": the fix says no token was given.
    assert err.fix == (AUTH_FIX if token else MISSING_CREDENTIALS_FIX)
    assert "git clone failed" in err.message
    assert git_http_server.requests and not any(ok for _, _, ok in git_http_server.requests)
    if token:
        assert token not in str(err) and token not in err.stderr
    assert remote_log(file_url) == ["initial commit"]


def test_token_that_can_read_but_not_push(tmp_path: Path) -> None:
    """Clone with one server, then the remote starts refusing that token (e.g. contents: read)."""
    root = tmp_path / "r"
    root.mkdir()
    file_url = make_bare_remote(root, {"db.json": "{}\n"}, name="config.git")
    with GitHTTPServer(root, "ghs_readwrite11111") as server:
        url = server.url("config.git")
        commit_and_push(tmp_path / "co", url, "main", edit, token="ghs_readwrite11111", push=False)
        server.expected = "Basic nope"  # the token no longer authorizes
        with pytest.raises(GitError) as info:
            commit_and_push(tmp_path / "co", url, "main", edit, token="ghs_readwrite11111")
    assert info.value.fix == AUTH_FIX
    assert "ghs_readwrite11111" not in str(info.value)
    assert remote_log(file_url) == ["initial commit"]


@pytest.mark.parametrize("scope", ["host", "generic"])
def test_token_wins_over_credentials_persisted_by_actions_checkout(
    git_http_server: GitHTTPServer, tmp_path: Path, scope: str
) -> None:
    """actions/checkout leaves `http.https://github.com/.extraheader` (another token) in .git/config.
    Our header must replace it, not be ignored as less specific nor sent as a second header."""
    file_url = make_bare_remote(git_http_server.root, {"db.json": '{"v": 1}\n'}, name="config.git")
    url = git_http_server.url("config.git")
    clone = tmp_path / "workspace"
    clone_of(file_url, clone)
    git("remote", "set-url", "origin", url, cwd=clone)
    host_key = f"http.http://127.0.0.1:{git_http_server.port}/.extraheader"  # what actions/checkout writes
    key = host_key if scope == "host" else "http.extraheader"
    stale = base64.b64encode(b"x-access-token:ghs_checkouttoken000").decode()
    git("config", "--local", key, f"AUTHORIZATION: basic {stale}", cwd=clone)
    result = commit_and_push(clone, url, "main", edit, token=git_http_server.token)
    assert result.changed
    assert remote_log(file_url)[0] == "update over http"
    assert git_http_server.auth_headers and all(len(h) == 1 for h in git_http_server.auth_headers)
    assert all(stale not in h[0] for h in git_http_server.auth_headers)
    # the persisted credential is left as it was for the user's later steps
    assert stale in git("config", "--local", "--get-all", key, cwd=clone)
