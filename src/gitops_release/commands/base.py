"""What every command's run() receives. Standard library only (dispatch-update imports it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitops_release.runtime import Console


@dataclass
class Context:
    """The environment a command runs in: console (log, outputs), env vars and working directory."""

    console: Console = field(default_factory=Console)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    workdir: Path = field(default_factory=Path.cwd)

    @classmethod
    def for_env(cls, env: Mapping[str, str], workdir: Path | None = None) -> Context:
        return cls(console=Console(env=dict(env)), env=dict(env), workdir=workdir or Path.cwd())
