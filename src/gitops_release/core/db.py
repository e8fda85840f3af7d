"""The release-channel database, db/db.json: text in, text out, deterministic.

``dump_db`` always writes the same bytes for the same releases: sorted by (container,
channel), keys in canonical order, 2-space indent, trailing newline. So one update changes
only the lines of the releases that changed, and applying the same payload twice leaves the
file byte-identical (an unchanged release keeps its old ``updatedAt``).
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from gitops_release import __version__
from gitops_release.core.release import UPDATED_AT_PATTERN, Release, loads_json, parse_release, show
from gitops_release.errors import ConfigError, InputError

SCHEMA_VERSION = 1
# (container, channel) of a release, and the first item of a pair: C-level, for 10,000 releases.
_release_key = operator.attrgetter("container", "channel")
_first = operator.itemgetter(0)
_UPDATED_AT = re.compile(UPDATED_AT_PATTERN)


@dataclass(frozen=True)
class ReleaseDB:
    """All releases, sorted by (container, channel), at most one per key."""

    releases: tuple[Release, ...]
    _index: dict[tuple[str, str], Release] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = map(_release_key, self.releases)
        index = dict(sorted(zip(keys, self.releases, strict=True), key=_first))
        ordered = tuple(index.values())
        if len(index) != len(self.releases):
            raise ValueError("ReleaseDB: two releases for the same (container, channel)")
        object.__setattr__(self, "releases", ordered)
        object.__setattr__(self, "_index", index)

    def get(self, container: str, channel: str) -> Release | None:
        return self._index.get((container, channel))

    def __len__(self) -> int:
        return len(self.releases)

    def to_json(self) -> dict[str, Any]:
        return {"schemaVersion": SCHEMA_VERSION, "releases": [r.to_json() for r in self.releases]}


@dataclass(frozen=True)
class Change:
    """One (container, channel) whose release changed; ``current`` carries the new updatedAt."""

    key: tuple[str, str]
    previous: Release | None
    current: Release

    def to_json(self) -> dict[str, Any]:
        return {
            "container": self.key[0],
            "channel": self.key[1],
            "previous": None if self.previous is None else self.previous.to_json(),
            "current": self.current.to_json(),
        }


def empty_db() -> ReleaseDB:
    return ReleaseDB(())


def load_db(text: str | None, *, path: str = "db/db.json") -> ReleaseDB:
    """Parse db.json; None (file absent) gives an empty db. Any problem is a ConfigError that
    names ``path`` and the JSON path of the bad value (``releases[3].source.sha``)."""
    if text is None:
        return empty_db()
    data = parse_db_json(text, path=path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a JSON object with schemaVersion and releases", fix=_FIX)
    check_schema_version(data, path=path)
    unknown = [k for k in data if k not in ("schemaVersion", "releases")]
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {show(unknown[0])}", fix="keep only schemaVersion and releases"
        )
    items = data.get("releases")
    if not isinstance(items, list):
        raise ConfigError(f"{path}: releases must be an array", fix=_FIX)
    releases: list[Release] = []
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        try:
            release = parse_release(item, field=f"releases[{index}]")
        except InputError as exc:
            raise ConfigError(f"{path}: {exc.message.removeprefix('input ')}", fix=exc.fix) from None
        key = (release.container, release.channel)
        if release.updated_at is None or key in seen:
            where = f"releases[{index}]"
            if release.updated_at is None:
                raise ConfigError(f"{path}: {where}.updatedAt is missing", fix=_FIX)
            raise ConfigError(
                f"{path}: {where} repeats {release.container}/{release.channel} of releases[{seen[key]}]",
                fix="keep one release per (container, channel)",
            )
        seen[key] = index
        releases.append(release)
    return ReleaseDB(tuple(releases))


def parse_db_json(text: str, *, path: str = "db/db.json") -> Any:
    """db.json's text as JSON; syntax errors, duplicate keys and absurd nesting are ConfigErrors."""
    try:
        return loads_json(text)
    except ValueError as exc:
        raise ConfigError(
            f"{path}: {exc}",
            fix=f"restore it from git history (git log -p -- {path}) or fix it by hand",
        ) from None


def check_schema_version(data: dict[str, Any], *, path: str = "db/db.json") -> None:
    """Refuse a db without schemaVersion or with one this release cannot read (written by a newer
    gitops-release: the fix is to upgrade, never to roll the data back)."""
    if "schemaVersion" not in data:
        raise ConfigError(f"{path}: schemaVersion is missing", fix=f'add "schemaVersion": {SCHEMA_VERSION}')
    version = data["schemaVersion"]
    if type(version) is not int or version != SCHEMA_VERSION:
        raise ConfigError(
            f"{path}: schemaVersion {show(version)} is not supported by gitops-release {__version__} "
            f"(it reads schemaVersion {SCHEMA_VERSION})",
            fix="upgrade gitops-release in the workflows that read and write this db",
        )


_FIX = "db.json is written by update-db; restore it from git history rather than editing it by hand"


def dump_db(db: ReleaseDB) -> str:
    """The canonical text of db.json: exactly ``json.dumps(doc, indent=2, ensure_ascii=False)``."""
    if not db.releases:
        return pretty_json(db.to_json()) + "\n"
    blocks = ",\n".join(_release_block(release.to_json()) for release in db.releases)
    return f'{{\n  "schemaVersion": {SCHEMA_VERSION},\n  "releases": [\n{blocks}\n  ]\n}}\n'


def _release_block(doc: dict[str, Any]) -> str:
    """One release at its place in db.json (indent 4), as pretty_json would render it, faster:
    a release holds only strings and the one-level ``source`` object."""
    lines = []
    for key, value in doc.items():
        if type(value) is dict:
            inner = ",\n".join(f"        {_encode_string(k)}: {_encode_string(v)}" for k, v in value.items())
            lines.append(f"      {_encode_string(key)}: {{\n{inner}\n      }}")
        else:
            lines.append(f"      {_encode_string(key)}: {_encode_string(value)}")
    return "    {\n" + ",\n".join(lines) + "\n    }"


# json.dumps with indent= falls back to the pure-Python encoder (5x slower on a 10,000-release
# db); this renders the same text with the C string encoder (docs/benchmarks.md).
_encode_string = json.encoder.encode_basestring


def pretty_json(value: object, pad: str = "") -> str:
    """Byte-for-byte what ``json.dumps(value, indent=2, ensure_ascii=False)`` returns."""
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = pad + "  "
        items = ",\n".join(
            f"{inner}{_encode_string(key) if isinstance(key, str) else json.dumps(str(key))}: "
            f"{pretty_json(item, inner)}"
            for key, item in value.items()
        )
        return f"{{\n{items}\n{pad}}}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        inner = pad + "  "
        items = ",\n".join(f"{inner}{pretty_json(item, inner)}" for item in value)
        return f"[\n{items}\n{pad}]"
    return json.dumps(value)


def format_time(now: datetime) -> str:
    """``now`` (timezone-aware) as db.json stores it: RFC 3339 UTC to the second."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise InputError("now", f"{now.isoformat()} has no timezone", fix="pass datetime.now(timezone.utc)")
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def apply_releases(
    db: ReleaseDB, releases: Sequence[Release], *, now: str | datetime
) -> tuple[ReleaseDB, tuple[Change, ...]]:
    """Store ``releases`` (stamped ``updatedAt=now``) and return the new db and the real changes.

    A release with the same image, tag, digest and source as the stored one is not a change and
    keeps its old ``updatedAt``, so the same payload applied twice gives byte-identical text.
    ``now`` is an RFC 3339 UTC string (2026-01-28T10:30:00Z) or a timezone-aware datetime.
    """
    if isinstance(now, datetime):
        now = format_time(now)
    if not isinstance(now, str) or not _UPDATED_AT.search(now):
        raise InputError(
            "now", f"{show(now)} is not an RFC 3339 UTC timestamp", fix="use e.g. 2026-01-28T10:30:00Z"
        )
    index = dict(db._index)
    originals: dict[tuple[str, str], Release | None] = {}
    for release in releases:
        key = release.key
        stored = index.get(key)
        if stored is not None and stored.same_content(release):
            continue
        originals.setdefault(key, stored)
        index[key] = replace(release, updated_at=now)
    changes = []
    for key, previous in originals.items():
        current = index[key]
        if previous is not None and previous.same_content(current):
            index[key] = previous  # changed and changed back within one call
            continue
        changes.append(Change(key, previous, current))
    if not changes:
        return db, ()
    changes.sort(key=lambda c: c.key)
    return ReleaseDB(tuple(index.values())), tuple(changes)
