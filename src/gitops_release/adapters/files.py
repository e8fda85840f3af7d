"""Local files: read what may be absent, write so that a crash never leaves a partial file."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path

from gitops_release.errors import ConfigError


def read_text_if_exists(path: Path, name: str, shown: str | None = None) -> str | None:
    """The UTF-8 text of ``path``, or None when it does not exist; ConfigError naming the input
    ``name`` (e.g. ``db-path``) when it exists but cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {name} {shown or path} ({exc})", fix=f"make {name} a readable UTF-8 file"
        ) from None


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` so a reader (or a crash) sees the old or the new file, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):  # left by a killed run
        with contextlib.suppress(OSError):
            stale.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
