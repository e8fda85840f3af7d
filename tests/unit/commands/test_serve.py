"""commands/serve.py: inputs checked before anything starts, secrets from the environment only,
the missing-extra error, a taken port."""

from __future__ import annotations

import importlib.util
import socket

import pytest

from gitops_release import runtime
from gitops_release.cli import main
from gitops_release.commands import serve
from gitops_release.commands.base import Context
from gitops_release.errors import InputError, ReleaseError, UsageError
from gitops_release.runtime import InputReader
from tests.fixtures.serve_api import RELOAD_TOKEN, release, write_db


def inputs(flags: dict[str, str], env: dict[str, str] | None = None) -> serve.Inputs:
    return serve.Inputs.from_reader(InputReader(env=env or {}, flags=flags))


def test_db_path_and_the_defaults():
    got = inputs({"db-path": "db/db.json"})
    assert str(got.db_path) == "db/db.json" and got.git_url is None
    assert (got.host, got.port, got.fetch_interval) == ("127.0.0.1", 8089, 30.0)
    assert got.max_db_bytes == 16 * 1024 * 1024
    assert got.reload_token is None and got.git_token is None


def test_git_url_branch_and_fetch_interval():
    got = inputs({"git-url": "https://github.com/org/config", "branch": "main", "fetch-interval": "2m"})
    assert (got.git_url, got.branch, got.fetch_interval) == ("https://github.com/org/config", "main", 120.0)


@pytest.mark.parametrize(
    ("flags", "field", "message"),
    [
        ({}, "db-path", "nothing to serve"),
        ({"db-path": "d.json", "git-url": "https://x/y"}, "db-path", "not both"),
        ({"git-url": "https://github.com/org/config"}, "branch", "is required with git-url"),
        ({"db-path": "d.json", "branch": "main"}, "branch", "without git-url"),
        ({"git-url": "https://x/y", "branch": "--upload-pack=evil"}, "branch", "is not a branch name"),
        ({"git-url": "https://x/y", "branch": "refs/heads/main"}, "branch", "is not a branch name"),
        ({"git-url": "https://x/y", "branch": "a..b"}, "branch", "is not a branch name"),
        ({"git-url": "https://ghp_secret@github.com/o/c", "branch": "main"}, "git-url", "credentials"),
        ({"git-url": "https://u:p@github.com/o/c", "branch": "main"}, "git-url", "credentials"),
        ({"git-url": "--upload-pack=touch /tmp/x", "branch": "main"}, "git-url", "not a repository URL"),
        ({"git-url": "https://x/y", "branch": "main", "fetch-interval": "0"}, "fetch-interval", "least 1s"),
        ({"db-path": "d.json", "port": "0"}, "port", ""),
        ({"db-path": "d.json", "port": "70000"}, "port", ""),
        ({"db-path": "d.json", "host": "a b"}, "host", "is not an address"),
        ({"db-path": "d.json", "fetch-interval": "5s"}, "fetch-interval", "applies to git-url only"),
        ({"db-path": "d.json", "max-db-bytes": "100"}, "max-db-bytes", ""),
        ({"db-path": "d.json", "max-db-bytes": "16MiB"}, "max-db-bytes", ""),
    ],
)
def test_bad_inputs_are_refused_naming_the_field(flags, field, message):
    with pytest.raises(InputError) as caught:
        inputs(flags)
    assert caught.value.field == field and message in caught.value.message


def test_tokens_come_from_the_environment_and_are_masked():
    got = inputs(
        {"db-path": "d.json"},
        {serve.RELOAD_TOKEN_ENV: RELOAD_TOKEN, serve.GIT_TOKEN_ENV: "ghs_gittoken0123456789"},
    )
    assert got.reload_token == RELOAD_TOKEN and got.git_token == "ghs_gittoken0123456789"
    assert RELOAD_TOKEN not in repr(got) and "ghs_gittoken0123456789" not in repr(got)
    assert runtime.redact(f"x {RELOAD_TOKEN} ghs_gittoken0123456789") == "x *** ***"


@pytest.mark.parametrize("token", ["short", "has spaces in it 0123456789"])
def test_a_weak_reload_token_is_refused(token):
    with pytest.raises(InputError) as caught:
        inputs({"db-path": "d.json"}, {serve.RELOAD_TOKEN_ENV: token})
    assert caught.value.field == serve.RELOAD_TOKEN_ENV and "at least 16 characters" in caught.value.message


def test_an_empty_reload_token_disables_reload():
    assert inputs({"db-path": "d.json"}, {serve.RELOAD_TOKEN_ENV: ""}).reload_token is None


@pytest.mark.parametrize("flag", ["--reload-token", "--token", "--git-token"])
def test_no_token_flag_exists(flag, capsys):
    assert main(["serve", "--db-path", "d.json", flag, RELOAD_TOKEN], env={}) == UsageError.exit_code
    assert "unrecognized arguments" in capsys.readouterr().err


def test_reload_token_is_not_read_from_an_action_input():
    got = inputs({"db-path": "d.json"}, {"INPUT_RELOAD_TOKEN": RELOAD_TOKEN})
    assert got.reload_token is None


def test_missing_extra_is_a_clear_error_before_anything_starts(monkeypatch, tmp_path, capsys):
    real = importlib.util.find_spec

    def without_server(name, *args, **kwargs):
        return None if name in ("fastapi", "uvicorn") else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_server)
    with pytest.raises(ReleaseError) as caught:
        serve.run(inputs({"db-path": str(tmp_path / "db.json")}), Context(env={}))
    assert caught.value.one_line() == (
        "gitops-release serve needs fastapi and uvicorn, which are not installed. "
        "Fix: install the server extra: pip install 'gitops-release[server]'"
    )
    assert main(["serve", "--db-path", str(tmp_path / "db.json")], env={}) == 1
    assert "pip install 'gitops-release[server]'" in capsys.readouterr().err


def test_a_taken_port_is_an_error_naming_it(tmp_path):
    path = write_db(tmp_path / "db.json", [release("app", "dev")])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ReleaseError) as caught:
            serve.run(inputs({"db-path": str(path), "port": str(port)}), Context(env={}))
    assert caught.value.message == f"cannot listen on 127.0.0.1:{port}"


def test_help_lists_the_flags(capsys):
    assert main(["serve", "--help"], env={}) == 0
    text = capsys.readouterr().out
    for flag in ("--db-path", "--git-url", "--branch", "--fetch-interval", "--host", "--port"):
        assert flag in text
    assert "(default: 30s)" in text and "(default: 8089)" in text and "(default: 127.0.0.1)" in text


def test_max_db_bytes_is_passed_on():
    assert inputs({"db-path": "d.json", "max-db-bytes": "4194304"}).max_db_bytes == 4 * 1024 * 1024


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/org/config.git",
        "http://[::1]:8080/org/config.git",
        "http://localhost/org/config.git",
        "https://github.com/org/config",
        "HTTPS://github.com/org/config",
    ],
)
def test_a_git_token_may_go_over_https_or_to_loopback(url):
    got = inputs({"git-url": url, "branch": "main"}, env={serve.GIT_TOKEN_ENV: "ghp_" + "x" * 36})
    assert got.git_token == "ghp_" + "x" * 36


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2.example.com/org/config.git",
        "http://localhost.example.com/o/c",
        "git://github.com/org/config",
        "ssh://git@github.com/org/config",
        "git@github.com:org/config.git",
        "/srv/git/config.git",
    ],
)
def test_a_git_token_is_refused_with_any_other_remote(url):
    """R1: the token goes to git as an Authorization header: only https (or a loopback test
    server) keeps it off the network in clear; for ssh or a path it would not be used at all."""
    with pytest.raises(InputError) as caught:
        inputs({"git-url": url, "branch": "main"}, env={serve.GIT_TOKEN_ENV: "ghp_" + "x" * 36})
    assert caught.value.field == "git-url" and "sent only over https" in caught.value.message
    assert "ghp_" not in str(caught.value)
    # without the token the same URL is fine
    assert inputs({"git-url": url, "branch": "main"}).git_url == url
