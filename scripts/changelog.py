#!/usr/bin/env python3
"""Print one version's section of CHANGELOG.md (Keep a Changelog): the release notes of a tag.

    python3 -I scripts/changelog.py 0.1.0 [--file CHANGELOG.md] > notes.md

Prints the lines under ``## [0.1.0] - <date>`` up to the next ``## `` heading (the heading itself
left out: the release has its own title), without leading/trailing blank lines and without the
link reference definitions (``[0.1.0]: https://…``) that close the file. Exits 1 with one line
on stderr when the version is not X.Y.Z, the file cannot be read, or it has no (or an empty, or
more than one) section for the version. The release workflow runs it before anything is pushed.
"""

from __future__ import annotations

import argparse
import re
import stat
import sys
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "CHANGELOG.md"
MAX_BYTES = 1024 * 1024  # a changelog is text for people; anything bigger is not one
_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_HEADING = re.compile(r"##\s+\[(?P<version>[^\]]*)\](?:\s.*)?")
_LINK_DEFINITION = re.compile(r"\[[^\]]+\]:\s*\S+")


class ChangelogError(Exception):
    """A one-line reason the notes cannot be printed, with the fix."""


def read_changelog(path: Path) -> str:
    """The file's text: a regular file (not a symlink), UTF-8, at most MAX_BYTES."""
    try:
        info = path.lstat()
    except OSError as exc:
        raise ChangelogError(
            f"cannot read {path}: {exc.strerror}. Fix: run from the repository root"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ChangelogError(
            f"{path} is not a regular file. Fix: keep CHANGELOG.md a plain file in the repository"
        )
    if info.st_size > MAX_BYTES:
        raise ChangelogError(f"{path} is larger than {MAX_BYTES} bytes. Fix: trim old sections")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ChangelogError(f"{path} is not UTF-8 text. Fix: save it as UTF-8") from None


def section(text: str, version: str) -> str:
    """The notes under ``## [version]``; ChangelogError when there is no such (non-empty) section."""
    if not _VERSION.fullmatch(version):
        raise ChangelogError(
            f"version '{version}' is not X.Y.Z. Fix: pass e.g. 1.2.3 (the tag without its v)"
        )
    found: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        heading = _HEADING.fullmatch(line.rstrip())
        if heading or line.startswith("## "):
            current = None
            if heading and heading.group("version").strip().lstrip("v") == version:
                current = []
                found.append(current)
            continue
        if current is not None:
            current.append(line.rstrip())
    if not found:
        raise ChangelogError(
            f"CHANGELOG.md has no section for {version}. "
            f"Fix: add '## [{version}] - YYYY-MM-DD' with the release notes (move them from Unreleased)"
        )
    if len(found) > 1:
        raise ChangelogError(f"CHANGELOG.md has {len(found)} sections for {version}. Fix: keep one")
    lines = found[0]
    while lines and (not lines[-1].strip() or _LINK_DEFINITION.fullmatch(lines[-1].strip())):
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise ChangelogError(f"the CHANGELOG.md section for {version} is empty. Fix: list what changed in it")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print one version's section of CHANGELOG.md.")
    parser.add_argument("version", help="X.Y.Z (a leading v is accepted: the tag name)")
    parser.add_argument(
        "--file", type=Path, default=DEFAULT_FILE, help="the changelog (default: CHANGELOG.md)"
    )
    args = parser.parse_args(argv)
    version = args.version[1:] if args.version.startswith("v") else args.version
    try:
        notes = section(read_changelog(args.file), version)
    except ChangelogError as exc:
        print(f"changelog: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
