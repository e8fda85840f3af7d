"""gitops-release trace: the command's fixes after review 13 (git runs with literal pathspecs,
the ASCII JSON form, the Argo CD server's own wording)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from gitops_release.commands import trace as trace_cmd
from gitops_release.commands.base import Context
from gitops_release.runtime import Console, InputReader
from tests.unit.adapters.trace_repo import ConfigRepo, release

IMAGE = "ghcr.io/org/app"


def _run(repo: ConfigRepo, **inputs: str) -> trace_cmd.Outputs:
    env = {"INPUT_QUERY": f"{IMAGE}:sha-1", "INPUT_REPO-DIR": str(repo.path)}
    env.update({f"INPUT_{name.upper()}": value for name, value in inputs.items()})
    console = Console(env=env, out=io.StringIO(), err=io.StringIO())
    return trace_cmd.run(
        trace_cmd.Inputs.from_reader(InputReader(env=env)),
        Context(console=console, env=env, workdir=repo.path),
    )


def test_trace_runs_git_with_literal_pathspecs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A policy's overlays.dir (not only the inputs, which refuse a leading ':') reaches
    # `git log -- <path>`: git must read every path as a file name, never as ':(glob)' magic.
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"), write_through=True)
    envs: list[dict[str, str]] = []
    real = trace_cmd.Git

    def spy(*args: Any, **kwargs: Any) -> Any:
        envs.append(dict(kwargs.get("env") or {}))
        return real(*args, **kwargs)

    monkeypatch.setattr(trace_cmd, "Git", spy)
    assert _run(repo).result.found
    assert envs and all(env.get("GIT_LITERAL_PATHSPECS") == "1" for env in envs), envs


@pytest.mark.parametrize("server", ["https://argocd.example/x y", "ftp://argocd.example"])
def test_other_argocd_server_errors_name_argocd_server_once(server: str) -> None:
    env = {"INPUT_QUERY": f"{IMAGE}:sha-1", "INPUT_ARGOCD-SERVER": server}
    with pytest.raises(trace_cmd.InputError) as info:
        trace_cmd.Inputs.from_reader(InputReader(env=env))
    assert info.value.field == "argocd-server"
    assert info.value.message.count("input '") == 1, info.value.message
