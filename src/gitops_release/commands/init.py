"""init: write a new config repository's or source repository's files from the shipped templates.

``gitops-release init config-repo`` and ``gitops-release init source-repo`` (commands/
init_config_repo.py, init_source_repo.py) share this engine:

1. Read every file of the kind's template directories (``TEMPLATE_DIRS``: whole directories, so a
   file added to a template ships without touching this code) and substitute the placeholders
   (core/scaffold.py, pure).
2. Plan against the target directory: each file is created, unchanged, or differs. Every path is
   checked component by component (adapters/files.path_in_checkout): a symbolic link anywhere in
   the target is refused, so no write lands outside it.
3. A differing file without ``--force``: list them, show the differences, exit 1, write nothing.
4. Write (temp file + rename); if a write fails, the files written so far are put back as they
   were, so a run changes all of its files or none.

Standard library only: the wheel test runs it from a wheel installed with ``--no-deps``.
The templates come from ``gitops_release/_templates`` in an installed wheel (pyproject.toml
force-includes ``templates/`` there) or from ``templates/`` of a source checkout.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitops_release.adapters.files import atomic_write, atomic_write_bytes, path_in_checkout
from gitops_release.commands.base import Context
from gitops_release.core import scaffold
from gitops_release.errors import ConfigError, InputError
from gitops_release.runtime import InputReader, InputSpec

#: kind -> (template directory under templates/, where it goes in the target directory). Whole
#: directories are copied: the table, not a list of files, says what init writes.
TEMPLATE_DIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "config-repo": (
        ("config-repo", "."),
        ("argocd", "infra/argocd-apps"),
        ("argo-workflows", "infra/argo-workflows"),
    ),
    "source-repo": (("source-repo", "."),),
}

#: Lines of a differing file's diff shown before the refusal (the whole diff: `git diff` after --force).
MAX_DIFF_LINES = 40

COMMON_INPUTS: tuple[InputSpec, ...] = (
    InputSpec("dir", "directory to write into (created when missing)", default="."),
    InputSpec(
        "force",
        "overwrite files whose content differs from what init writes (without it: list them, write nothing)",
        kind="bool",
        default=False,
    ),
)


def templates_root() -> Path:
    """``gitops_release/_templates`` of an installed wheel, else ``templates/`` of the checkout."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_templates", package.parents[1] / "templates"):
        if (candidate / "config-repo").is_dir():
            return candidate
    raise ConfigError(
        f"the templates are missing from this installation ({package / '_templates'})",
        fix="reinstall gitops-release from its wheel or a full source checkout",
    )


def template_files(kind: str, root: Path | None = None) -> dict[str, str]:
    """Relative target path (POSIX) -> template text, for every file of the kind's directories."""
    base = root if root is not None else templates_root()
    files: dict[str, str] = {}
    for source, target in TEMPLATE_DIRS[kind]:
        top = base / source
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                path = Path(dirpath) / name
                relative = path.relative_to(top).as_posix()
                dest = relative if target == "." else f"{target}/{relative}"
                files[dest] = path.read_bytes().decode("utf-8")
    return files


def target_dir(raw: str, workdir: Path) -> Path:
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else workdir / path
    if path.exists() and not path.is_dir():
        raise InputError(
            "dir", f"'{raw}' exists and is not a directory", fix="give a directory (new or existing)"
        )
    return path


@dataclass
class Outputs:
    kind: str
    directory: str
    created: list[str] = field(default_factory=list)
    overwritten: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.overwritten)

    def as_dict(self) -> dict[str, object]:
        return {
            "changed": self.changed,
            "dir": self.directory,
            "created": self.created,
            "overwritten": self.overwritten,
            "unchanged": self.unchanged,
        }

    def report(self) -> str:
        lines = [f"init {self.kind}: {self.directory}"]
        lines += [f"  created     {path}" for path in self.created]
        lines += [f"  overwritten {path}" for path in self.overwritten]
        if self.changed and self.unchanged:
            lines.append(f"  ({len(self.unchanged)} files already as init writes them)")
        elif not self.changed:
            lines.append(f"Nothing changed: all {len(self.unchanged)} files are already as init writes them.")
        lines += ["", "Next steps:"]
        lines += [f"  {number}. {step}" for number, step in enumerate(self.next_steps, 1)]
        return "\n".join(lines)

    def summary(self) -> str:
        title = "changed" if self.changed else "nothing changed"
        lines = [f"### init {self.kind}: {title}", ""]
        lines += [f"- created `{path}`" for path in self.created]
        lines += [f"- overwritten `{path}`" for path in self.overwritten]
        lines += ["", "**Next steps**", ""]
        lines += [f"{number}. {step}" for number, step in enumerate(self.next_steps, 1)]
        return "\n".join(lines) + "\n"


def _read_existing(root: Path, relative: str) -> bytes | None:
    path = path_in_checkout(root, relative, "dir")
    if path.is_dir():
        raise ConfigError(
            f"dir {root}: '{relative}' is a directory where init writes a file",
            fix=f"move '{relative}' away, or init into another directory",
        )
    try:
        # bytes: the roll-back puts the file back exactly, whatever its encoding
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path} ({exc})", fix="make the directory readable") from None


def _diff(relative: str, current: str, wanted: str) -> list[str]:
    # Compared as plan_files compares: CRLF as LF (splitlines() drops the \r anyway).
    current = scaffold.normalize_newlines(current)
    lines = list(
        difflib.unified_diff(
            current.splitlines(),
            wanted.splitlines(),
            f"{relative} (yours)",
            f"{relative} (init)",
            lineterm="",
        )
    )
    if not lines:  # differs only where splitlines() cannot show it: never print an empty diff
        lines = [f"{relative}: differs only in line endings (a lone \\r) or the final newline"]
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines"]
    return lines


def write_files(
    kind: str,
    root: Path,
    desired: Mapping[str, str],
    *,
    force: bool,
    ctx: Context,
    write: Callable[[Path, str], None] = atomic_write,
) -> tuple[list[str], list[str], list[str]]:
    """Plan, refuse or write; returns (created, overwritten, unchanged)."""
    existing_bytes = {relative: _read_existing(root, relative) for relative in desired}
    # surrogateescape: a non-UTF-8 file compares as different instead of failing the run
    existing = {
        relative: None if data is None else data.decode("utf-8", errors="surrogateescape")
        for relative, data in existing_bytes.items()
    }
    plans = scaffold.plan_files(desired, existing)
    differing = [plan.path for plan in plans if plan.action == scaffold.DIFFERS]
    if differing and not force:
        for relative in differing:
            ctx.console.info("\n".join(_diff(relative, existing[relative] or "", desired[relative])))
        raise ConfigError(
            f"init {kind}: {len(differing)} file(s) in {root} differ from what init writes: "
            f"{', '.join(differing)}; nothing was written",
            fix="keep your version (nothing to do), or re-run with --force to overwrite them",
        )
    done: list[tuple[str, bytes | None]] = []  # (relative, previous bytes) for the roll-back
    try:
        for plan in plans:
            if plan.action == scaffold.UNCHANGED:
                continue
            path = path_in_checkout(root, plan.path, "dir")  # again: nothing swapped in since the plan
            write(path, desired[plan.path])
            done.append((plan.path, existing_bytes[plan.path]))
    except BaseException as exc:
        for relative, previous in reversed(done):
            path = root / relative
            # Any failure here: put back every other file all the same.
            with contextlib.suppress(Exception):
                if previous is None:
                    path.unlink()
                else:
                    atomic_write_bytes(path, previous)  # bytes: exactly as it was
        if isinstance(exc, OSError):
            raise ConfigError(
                f"init {kind}: cannot write into {root} ({exc}); the files written were put back",
                fix="make the directory writable (and check the free space), then re-run",
            ) from None
        raise
    created = [plan.path for plan in plans if plan.action == scaffold.CREATE]
    overwritten = [plan.path for plan in plans if plan.action == scaffold.DIFFERS]
    unchanged = [plan.path for plan in plans if plan.action == scaffold.UNCHANGED]
    return created, overwritten, unchanged


def run_init(
    kind: str,
    raw_dir: str,
    force: bool,
    render: Callable[[str, str], str],
    next_steps: Callable[[str], list[str]],
    ctx: Context,
) -> Outputs:
    root = target_dir(raw_dir, ctx.workdir)
    desired = {relative: render(relative, text) for relative, text in template_files(kind).items()}
    created, overwritten, unchanged = write_files(kind, root, desired, force=force, ctx=ctx)
    return Outputs(
        kind=kind,
        directory=str(root),
        created=created,
        overwritten=overwritten,
        unchanged=unchanged,
        next_steps=next_steps(raw_dir),
    )


def read_common(reader: InputReader, specs: tuple[InputSpec, ...]) -> dict[str, object]:
    values = reader.read_all(specs)
    if not str(values["dir"]).strip():
        raise InputError("dir", "is empty", fix="give a directory, e.g. --dir my-config")
    return values


__all__ = [
    "COMMON_INPUTS",
    "TEMPLATE_DIRS",
    "Outputs",
    "read_common",
    "run_init",
    "template_files",
    "templates_root",
    "write_files",
]
