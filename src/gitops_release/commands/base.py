"""What every command's run() receives. Standard library only (dispatch-update imports it)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from gitops_release.runtime import Console

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: dispatch-update's start-up
if TYPE_CHECKING:
    from pathlib import Path


class Context:
    """The environment a command runs in: console (log, outputs), env vars and working directory.

    ``workdir`` defaults to the current directory, looked up (and pathlib imported) on first use:
    dispatch-update never needs it, and its start-up is measured (docs/benchmarks.md).
    """

    def __init__(
        self,
        console: Console | None = None,
        env: Mapping[str, str] | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.console = console if console is not None else Console()
        self.env: Mapping[str, str] = env if env is not None else dict(os.environ)
        self._workdir = workdir

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            from pathlib import Path

            self._workdir = Path.cwd()
        return self._workdir

    @classmethod
    def for_env(cls, env: Mapping[str, str], workdir: Path | None = None) -> Context:
        return cls(console=Console(env=dict(env)), env=dict(env), workdir=workdir)

    def __repr__(self) -> str:
        return f"Context(env={len(self.env)} variables, workdir={self._workdir!r})"
