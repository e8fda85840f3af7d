"""Local files: read what may be absent, write so that a crash never leaves a partial file, and
refuse paths that a checkout's symbolic links would carry out of it."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path

from gitops_release.errors import ConfigError


def path_in_checkout(root: Path, relative: str, name: str) -> Path:
    """``root / relative``, refused (ConfigError naming the input ``name`` and the link) when any
    component of it, the last one included, is a symbolic link, or is ``.git`` or ``..`` (or the
    path is absolute).

    The checkout is hostile: a committed ``db -> /outside`` or ``db.json -> /etc/x`` would make a
    read import a file from outside the tree, or a write land outside it (and a commit hold
    nothing). Every existing component is ``lstat``ed from ``root`` down (``root`` itself is
    trusted: the caller chose it); a missing one ends the walk, since nothing below it exists yet
    and a write creates real directories. Links that stay inside the tree are refused too: the
    files update-db reads and writes are plain files of the branch.
    """
    path = root
    parts = Path(relative).parts
    if Path(relative).is_absolute() or ".." in parts:  # the inputs refuse both; callers may not
        raise ConfigError(
            f"{name} {relative} leads out of the checkout",
            fix=f"give {name} as a path inside it, without '..'",
        )
    for index, part in enumerate(parts):
        if part == ".git":
            raise ConfigError(
                f"{name} {relative} is inside the checkout's .git directory",
                fix=f"point {name} at a file of the branch, e.g. db/db.json",
            )
        path = path / part
        try:
            is_link = path.is_symlink()
        except OSError as exc:  # e.g. a component that is a file, or no permission
            raise ConfigError(
                f"cannot check {name} {relative} ({exc})", fix=f"make {name} a readable path"
            ) from None
        if is_link:
            shown = path.relative_to(root).as_posix()
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            raise ConfigError(
                f"{name} {relative}: '{shown}' is a symbolic link (to '{target}'); gitops-release reads "
                "and writes only real files inside the checkout",
                fix=f"replace the link '{shown}' in the repository by a real "
                f"{'file' if index == len(parts) - 1 else 'directory'} (git rm it and commit the content)",
            )
        if not path.exists():
            break
    return root / relative


def read_text_if_exists(path: Path, name: str, shown: str | None = None) -> str | None:
    """The UTF-8 text of ``path`` exactly as stored, or None when it does not exist; ConfigError
    naming the input ``name`` (e.g. ``db-path``) when it exists but cannot be read.

    Decoded from bytes, not read in text mode: universal newlines would turn a CRLF overlay into
    LF, and the edit written back would then rewrite every line of the file."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read {name} {shown or path} ({exc})", fix=f"make {name} a readable UTF-8 file"
        ) from None


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` so a reader (or a crash) sees the old or the new file, never a partial one."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """atomic_write for bytes: puts back a file exactly as it was, whatever its encoding."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):  # left by a killed run
        with contextlib.suppress(OSError):
            stale.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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
