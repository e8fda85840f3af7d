"""git plumbing on the sandbox's bare repositories."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from gitops_release.errors import GitError

ZERO_SHA = "0" * 40

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "GitHub Sandbox",
    "GIT_AUTHOR_EMAIL": "noreply@sandbox.invalid",
    "GIT_COMMITTER_NAME": "GitHub Sandbox",
    "GIT_COMMITTER_EMAIL": "noreply@sandbox.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def _git(
    git_dir: Path,
    *args: str,
    input_text: str | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **_GIT_ENV, **(env or {})}
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args],
        input=input_text,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if check and proc.returncode != 0:
        raise GitError(
            f"git {args[0]} failed in {git_dir} (exit {proc.returncode}): {proc.stderr.strip()[:300]}",
            rc=proc.returncode,
            stderr=proc.stderr,
        )
    return proc


def _resolve(git_dir: Path, ref: str) -> str | None:
    """The commit sha a ref/sha names, or None."""
    if not ref or ref.startswith("-") or ".." in ref or "\x00" in ref:  # NUL: another owner's branch
        return None
    proc = _git(
        git_dir, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def _merge_tree(git_dir: Path, base: str, head: str) -> str | None:
    """The merged tree of two commits, or None on a conflict (git >= 2.38 ``merge-tree --write-tree``)."""
    proc = _git(git_dir, "merge-tree", "--write-tree", "--no-messages", base, head, check=False)
    if proc.returncode == 0:
        return proc.stdout.split()[0]
    if proc.returncode == 1:
        return None
    raise GitError(
        f"git merge-tree failed (exit {proc.returncode}): {proc.stderr.strip()[:300]}", rc=proc.returncode
    )
