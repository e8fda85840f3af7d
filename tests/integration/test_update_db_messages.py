"""update-db's messages, as a user meets them on the command line and in Actions (issue 7): a
token in a remote URL is refused before any git call and never printed, a subdirectory of a clone
is named as such, a dry run says so and reports no commit, a refusal writes the step summary,
no token says "no token", a protected branch suggests no nonexistent mode and git's final period
is not doubled."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gitops_release.adapters import git as gitmod
from gitops_release.cli import main
from gitops_release.commands import update_db
from gitops_release.commands.base import Context
from gitops_release.runtime import InputReader
from tests.fixtures.git_remotes import BareRemotes, GitHTTPServer, git, make_bare_remote, url_to_path

EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
SECRET = "ghp_s3cretTokenInTheUrl0123456789"
RELEASE = {
    "container": "my-app",
    "channel": "dev",
    "image": "ghcr.io/org/my-app",
    "tag": "sha-1a2b3c4d",
    "source": {"repository": "org/my-app", "sha": "a" * 40},
}


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def env_for(checkout: Path, **inputs: str) -> dict[str, str]:
    env = {
        "INPUT_PAYLOAD": json.dumps(RELEASE),
        "INPUT_REPOSITORY-PATH": str(checkout),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    return env


@pytest.mark.parametrize("branch", ["", "main"])
def test_a_remote_url_with_a_token_is_refused_before_any_git_call_and_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, branch: str
) -> None:
    """Before: without branch, `git ls-remote <URL>` ran and the ::error line printed the URL."""
    calls: list[list[str]] = []
    real_run = subprocess.run

    def recording_run(argv, *args, **kwargs):
        calls.append(list(argv))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", recording_run)
    url = f"https://x-access-token:{SECRET}@127.0.0.1:9/acme/config.git"
    env = {**env_for(tmp_path / "empty", remote=url, branch=branch), "GITHUB_ACTIONS": "true"}
    summary = tmp_path / "summary.md"
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    assert main(["update-db"], env=env) == 1
    captured = capsys.readouterr()
    printed = captured.out + captured.err + summary.read_text()
    assert SECRET not in printed and "x-access-token" not in printed
    (line,) = [x for x in captured.out.splitlines() if x.startswith("::error")]
    assert line.startswith("::error title=Invalid input 'remote'::input 'remote': is a URL with credentials")
    assert "give the token in the token input" in line
    assert not [argv for argv in calls if argv and argv[0] == "git"]


def test_an_origin_url_with_a_token_is_refused_without_printing_it(
    bare_remote: BareRemotes, capsys: pytest.CaptureFixture[str]
) -> None:
    url = bare_remote.make_bare_remote({"db/db.json": EMPTY_DB})
    work = bare_remote.clone_of(url)
    with_token = f"https://x-access-token:{SECRET}@127.0.0.1:9/acme/config.git"
    git("remote", "set-url", "origin", with_token, cwd=work)
    assert main(["update-db"], env=env_for(work)) == 1
    err = capsys.readouterr().err
    assert SECRET not in err
    assert "the checkout's remote 'origin' has a URL with credentials in it" in err


def test_git_stderr_that_echoes_a_url_with_credentials_is_redacted(tmp_path: Path) -> None:
    """git's own messages (an ls-remote of a URL carrying a token) reach the error redacted."""
    url = f"https://{SECRET}@127.0.0.1:9/acme/config.git"
    found, why = gitmod.Git(tmp_path).remote_head_branch(url, timeout=30)
    assert found is None and SECRET not in why
    result = gitmod.Git(tmp_path).run("ls-remote", "--", url, check=False)
    assert result.rc != 0 and SECRET not in result.err + result.out


def test_from_a_subdirectory_of_a_clone_the_error_names_the_top(
    bare_remote: BareRemotes, capsys: pytest.CaptureFixture[str]
) -> None:
    url = bare_remote.make_bare_remote({"db/db.json": EMPTY_DB})
    work = bare_remote.clone_of(url)
    assert main(["update-db"], env=env_for(work / "db")) == 1
    err = capsys.readouterr().err
    assert "is a subdirectory of the clone at" in err and "is not a clone with an origin remote" not in err
    assert f"set repository-path to the top of the clone, '{work.resolve()}'" in err
    # With a remote given, commit_and_push says the same, naming the input too (it said "checkout
    # '…' … point the checkout at", and update-db has no input named checkout).
    assert main(["update-db"], env=env_for(work / "db", remote=url, branch="main")) == 1
    err = capsys.readouterr().err
    assert (
        f"error: Invalid configuration: repository-path '{work / 'db'}' is a subdirectory of the clone "
        f"at '{work.resolve()}', not its top. Fix: set repository-path to the top of the clone, "
        f"'{work.resolve()}', or to an empty directory"
    ) in err
    assert "checkout '" not in err


def test_dry_run_says_so_in_the_log_and_summary_and_reports_no_commit(
    bare_remote: BareRemotes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = bare_remote.make_bare_remote({"db/db.json": EMPTY_DB})
    work = bare_remote.clone_of(url)
    head = bare_remote.remote_head(url)
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    env = {
        **env_for(work, dry_run="true"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    assert main(["update-db"], env=env) == 0
    err = capsys.readouterr().err
    assert "update-db: dry run:" in err and "nothing is written, committed or pushed" in err
    text = summary.read_text()
    assert text.startswith("### update-db (dry run)\n\nDry run: checked against the checkout as it is")
    assert head not in text
    assert "commit-sha<<" in outputs.read_text() and head not in outputs.read_text()
    parsed = update_db.Inputs.from_reader(InputReader(env=env_for(work, dry_run="true")))
    out = update_db.run(parsed, Context.for_env({}, workdir=work))
    assert (out.changed, out.commit_sha) == (True, "")
    assert bare_remote.remote_head(url) == head


def test_a_refusal_writes_the_step_summary_with_the_reason(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url = bare_remote.make_bare_remote({"db/db.json": EMPTY_DB, ".gitops-release.yml": "channels: [prod]\n"})
    work = bare_remote.clone_of(url)
    summary = tmp_path / "summary.md"
    env = {**env_for(work), "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    assert main(["update-db"], env=env) == 1
    text = summary.read_text()
    assert text.startswith("### update-db: failed\n\n**Refused by policy**\n\n```text\n")
    assert "payload.channel 'dev' is not a channel of this repository (prod)" in text


def test_without_a_token_the_error_says_no_token_was_given(
    git_http_server: GitHTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_bare_remote(git_http_server.root, {"db/db.json": EMPTY_DB}, name="config.git")
    env = env_for(tmp_path / "co", remote=git_http_server.url("config.git"), branch="main")
    assert main(["update-db"], env=env) == 1
    err = capsys.readouterr().err
    assert "Fix: no token was given" in err and "lacks contents: write" not in err


def test_a_protected_branch_push_says_what_to_do_with_one_period(
    bare_remote: BareRemotes, capsys: pytest.CaptureFixture[str]
) -> None:
    url = bare_remote.make_bare_remote({"db/db.json": EMPTY_DB})
    hook = url_to_path(url) / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\necho 'error: GH006: Protected branch update failed for refs/heads/main.' >&2\nexit 1\n"
    )
    hook.chmod(0o755)
    work = bare_remote.clone_of(url)
    assert main(["update-db"], env=env_for(work)) == 1
    err = capsys.readouterr().err
    assert "refs/heads/main.." not in err and "refs/heads/main. Fix: the branch is protected" in err
    assert "mode" not in err and "bypass the branch protection rule or ruleset" in err
