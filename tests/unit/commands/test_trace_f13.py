"""gitops-release trace: the command's fixes after review 13 (git runs with literal pathspecs,
the ASCII JSON form, the Argo CD server's own wording)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from gitops_release.adapters.git import Git
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


_OUR_MAGIC = (":(literal)", ":(exclude,literal)")


def _pathspecs(argv: list[str]) -> list[str]:
    """What follows the '--' that ends the revisions (the pathspecs git matches)."""
    return argv[argv.index("--") + 1 :] if "--" in argv else []


def test_trace_runs_git_with_literal_pathspecs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A policy's overlays.dir (not only the inputs, which refuse a leading ':') reaches
    # `git log -- <path>`: git must read every path as a file name, never as ':(glob)' or '*'
    # magic. Every git process with pathspecs either passes --literal-pathspecs, or wraps every
    # path in ':(literal)' magic (the reader's pickaxe log, which needs ':(exclude)' too) -- and
    # then GIT_LITERAL_PATHSPECS must be unset, or git takes ':(literal)x' as a file name.
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"), write_through=True)
    runs: list[tuple[list[str], str | None]] = []
    real = Git._exec

    def spy(self: Git, args: Any, **kwargs: Any) -> Any:
        runs.append((list(args), self.env.get("GIT_LITERAL_PATHSPECS")))
        return real(self, args, **kwargs)

    monkeypatch.setattr(Git, "_exec", spy)
    assert _run(repo).result.found
    # A bare tag db.json does not hold at head: the pickaxe log over the overlays runs too.
    assert not _run(repo, QUERY="sha-404").result.found
    with_paths = [(argv, literal_env) for argv, literal_env in runs if _pathspecs(argv)]
    assert any(argv[0] == "--literal-pathspecs" for argv, _ in with_paths), runs
    magic = [argv for argv, _ in with_paths if argv[0] != "--literal-pathspecs"]
    assert magic, "the pickaxe log (our own magic) did not run"
    for argv in magic:
        assert all(spec.startswith(_OUR_MAGIC) for spec in _pathspecs(argv)), argv
    assert all(literal_env in (None, "0") for _, literal_env in runs), runs


def test_a_glob_in_a_path_input_is_a_file_name(tmp_path: Path) -> None:
    # db-path 'db/*.json' (a glob to git without literal pathspecs) names no file: db.json's
    # releases are not read through it, and the bare tag is not found through the overlays' glob.
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"), write_through=True)
    assert _run(repo).result.found
    outputs = _run(repo, **{"DB-PATH": "db/*.json"})
    assert not any(e.channel_stays for e in outputs.result.environments)


@pytest.mark.parametrize("server", ["https://argocd.example/x y", "ftp://argocd.example"])
def test_other_argocd_server_errors_name_argocd_server_once(server: str) -> None:
    env = {"INPUT_QUERY": f"{IMAGE}:sha-1", "INPUT_ARGOCD-SERVER": server}
    with pytest.raises(trace_cmd.InputError) as info:
        trace_cmd.Inputs.from_reader(InputReader(env=env))
    assert info.value.field == "argocd-server"
    assert info.value.message.count("input '") == 1, info.value.message


def test_present_in_lists_the_environments_asked_for_that_hold_it(tmp_path: Path) -> None:
    # Decided (REVIEW13b #5): present-in follows --env, as the rows do.
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"), write_through=True)
    repo.update_db(release("app", "prod", "sha-1"), write_through=True)
    assert _run(repo).as_dict()["present-in"] == "dev,prod"
    assert _run(repo, ENV="prod,staging").as_dict()["present-in"] == "prod"
