"""Review of issue 12 (REVIEW12a.md): init's idempotency with CRLF files, the roll-back of a
non-UTF-8 file, init's printed next steps, and placeholders that become GitHub expressions."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from gitops_release.cli import main
from gitops_release.commands import init as init_mod
from gitops_release.commands.base import Context
from gitops_release.commands.init import write_files
from gitops_release.core import scaffold
from gitops_release.errors import ConfigError


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(list(args), env={"PATH": os.environ.get("PATH", "")})
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def test_a_crlf_checkout_of_the_written_files_is_not_refused_with_an_empty_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """REVIEW12a #6: git on Windows (core.autocrlf=true) checks the committed files out with CRLF.
    Re-running init there refuses with 'differ' and prints a diff with no changed line (the diff
    is taken over splitlines(), which drops the \\r): the user cannot see what differs."""
    target = tmp_path / "c"
    rc, out = run(capsys, "init", "source-repo", "--dir", str(target))
    assert rc == 0, out
    workflow = target / scaffold.SOURCE_WORKFLOW
    workflow.write_bytes(workflow.read_bytes().replace(b"\n", b"\r\n"))
    rc, out = run(capsys, "init", "source-repo", "--dir", str(target))
    # Either the same text with other line endings counts as unchanged, or the refusal says why.
    assert rc == 0 or re.search(r"line ending|CRLF|\\r", out), out


def test_a_failed_write_puts_back_a_non_utf8_file_it_overwrote(tmp_path: Path) -> None:
    """REVIEW12a #7: _read_existing decodes with surrogateescape, and the roll-back writes that
    text back with atomic_write (strict UTF-8): UnicodeEncodeError escapes the roll-back, the
    overwritten file keeps init's text and the caller gets a traceback, not 'put back'."""
    target = tmp_path / "c"
    target.mkdir()
    (target / "a.txt").write_bytes(b"caf\xe9 latin-1\n")
    desired = {"a.txt": "init's\n", "b/new.txt": "2\n"}
    calls: list[Path] = []

    def failing(path: Path, text: str) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        init_mod.atomic_write(path, text)

    with pytest.raises(ConfigError, match="put back"):
        write_files("config-repo", target, desired, force=True, ctx=Context(), write=failing)
    assert (target / "a.txt").read_bytes() == b"caf\xe9 latin-1\n"


def test_next_steps_tell_the_source_repo_the_app_and_config_repository_init_was_given() -> None:
    """REVIEW12a #3: with --app storefront for repository acme/shop, step 8 says to run a bare
    'gitops-release init source-repo': that workflow dispatches container 'shop' (the repository
    name) and update-db refuses it, since the policy lists only storefront, storefront-worker."""
    values = scaffold.ConfigRepoValues(
        repository="acme/shop", app="storefront", image="registry.acme.io/shop", config_repository="acme/cfg"
    )
    step = next(s for s in scaffold.config_repo_next_steps(values, "cfg") if "init source-repo" in s)
    assert "--app storefront" in step, step
    assert "--image registry.acme.io/shop" in step, step
    assert "acme/cfg" in step, step


def test_next_steps_keep_prod_sync_out_of_the_repository_wide_argocd_token() -> None:
    """REVIEW12a #2: the AppProject says only ops sync prod and the ci role 'syncs nothing; the
    prod sync uses an ops token kept in the GitHub environment prod'. Init's step 3 instead asks
    for ONE secret ARGOCD_TOKEN (a repository secret, readable by any workflow run of the repo,
    from any branch) with sync on <app>-prod."""
    steps = scaffold.config_repo_next_steps(scaffold.ConfigRepoValues(), ".")
    for step in steps:
        if "ARGOCD_TOKEN" in step and re.search(r"sync on \S*-prod", step):
            assert re.search(r'environment "?prod"? secret|secret of the environment "?prod', step), step


def test_init_source_repo_refuses_a_channel_map_pattern_that_is_a_github_expression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """REVIEW12a #10: the pattern is written verbatim into `with: channel-map:` where GitHub
    evaluates ${{ }} (here: the attacker-written commit message becomes part of the map)."""
    target = tmp_path / "s"
    rc, out = run(
        capsys,
        "init",
        "source-repo",
        "--dir",
        str(target),
        "--channel-map",
        "refs/heads/${{github.event.head_commit.message}}=dev",
    )
    assert rc == 1, out
    assert "input 'channel-map'" in out
    assert not target.exists()
