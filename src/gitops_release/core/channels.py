"""Git ref -> release channel map (dispatch-update's ``channel-map`` input).

STANDARD LIBRARY ONLY: dispatch-update imports this module with the runner's bare ``python3``.

A map is an ordered list of ``(pattern, channel)``; the first pattern that matches the ref wins.
Patterns are ``fnmatch`` globs matched case-sensitively against the full ref: ``*`` matches any
characters including ``/`` (so ``refs/heads/release/*`` matches ``refs/heads/release/1.2/hotfix``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fnmatch import fnmatchcase

from gitops_release.core.release import CHANNEL_PATTERN, show
from gitops_release.errors import InputError

ChannelMap = tuple[tuple[str, str], ...]

DEFAULT_CHANNEL_MAP: ChannelMap = (
    ("refs/heads/main", "dev"),
    ("refs/heads/staging", "stage"),
    ("refs/heads/production", "prod"),
    ("refs/tags/v*", "prod"),
)

_CHANNEL = re.compile(CHANNEL_PATTERN)
_PATTERN = re.compile(r"^[!-~]{1,255}$(?!\n)")
_FIX = (
    "write one pattern=channel (or pattern: channel) per line or comma, "
    "e.g. refs/heads/main=dev, refs/tags/v*=prod"
)


def parse_channel_map(text: str, *, field: str = "channel-map") -> ChannelMap:
    """Parse ``pattern=channel`` or ``pattern: channel`` entries, one per line or comma.

    Blank entries and lines starting with ``#`` are ignored. A pattern may be given twice only
    with the same channel (the first wins anyway, so a different channel is a mistake).
    """
    entries: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        for raw in line.split(","):
            entry = raw.strip()
            if not entry:
                continue
            pattern, channel = _split(entry, field)
            if not _PATTERN.search(pattern):
                raise InputError(
                    field,
                    f"entry {show(entry)}: pattern {show(pattern)} must be printable ASCII without spaces",
                    fix=_FIX,
                )
            if not _CHANNEL.search(channel):
                raise InputError(
                    field,
                    f"entry {show(entry)}: {show(channel)} is not a channel name",
                    fix="channels are 1-32 lowercase letters, digits and '-', e.g. dev, stage, prod",
                )
            if pattern in seen:
                if seen[pattern] != channel:
                    raise InputError(
                        field,
                        f"entry {show(entry)}: pattern {show(pattern)} is already mapped to "
                        f"{seen[pattern]!r}",
                        fix="give each pattern one channel",
                    )
                continue
            seen[pattern] = channel
            entries.append((pattern, channel))
    if not entries:
        raise InputError(field, "has no entries", fix=_FIX)
    return tuple(entries)


def _split(entry: str, field: str) -> tuple[str, str]:
    # "pattern=channel" first: a ":" can only separate when there is no "=" (refs have no ":").
    if "=" in entry:
        pattern, _, channel = entry.partition("=")
    elif ":" in entry:
        pattern, _, channel = entry.rpartition(":")
    else:
        raise InputError(field, f"entry {show(entry)} has no '=' or ':'", fix=_FIX)
    pattern, channel = pattern.strip(), channel.strip()
    if not pattern or not channel:
        raise InputError(field, f"entry {show(entry)} needs both a pattern and a channel", fix=_FIX)
    return pattern, channel


def channel_for_ref(ref: str, mapping: Sequence[tuple[str, str]] = DEFAULT_CHANNEL_MAP) -> str | None:
    """The channel of the first pattern matching ``ref`` (case-sensitive glob), or None."""
    for pattern, channel in mapping:
        if fnmatchcase(ref, pattern):
            return channel
    return None
