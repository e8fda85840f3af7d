"""The release-channel database, db/db.json: text in, text out, deterministic.

``dump_db`` always writes the same bytes for the same releases: sorted by (container,
channel), keys in canonical order, 2-space indent, trailing newline. So one update changes
only the lines of the releases that changed, and applying the same payload twice leaves the
file byte-identical (an unchanged release keeps its old ``updatedAt``).
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, cast

import orjson

from gitops_release import __version__
from gitops_release.core.release import (
    RELEASE_FIELD_CHECKS,
    RELEASE_KEYS,
    REQUIRED_KEYS,
    SOURCE_FIELD_CHECKS,
    SOURCE_KEYS,
    UPDATED_AT_PATTERN,
    Release,
    loads_json,
    parse_release,
    show,
)
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
    return _load_items(_release_items(text, path=path), path=path)


def _release_items(text: str, *, path: str) -> list[Any]:
    """The ``releases`` array of db.json's text, after the checks of the document around it."""
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
    return items


def _load_items(items: list[Any], *, path: str) -> ReleaseDB:
    releases: list[Release] = []
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        release = _parse_stored(item, index, path=path)
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


def _parse_stored(item: object, index: int, *, path: str) -> Release:
    try:
        return parse_release(item, field=f"releases[{index}]")
    except InputError as exc:
        raise ConfigError(f"{path}: {exc.message.removeprefix('input ')}", fix=exc.fix) from None


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
    """The canonical text of db.json: exactly ``json.dumps(doc, indent=2, ensure_ascii=False)``
    and a newline (tests/unit/core/test_db_file.py checks it on generated dbs)."""
    return _render(db.to_json())


def canonical_difference(text: str, db: ReleaseDB) -> str | None:
    """None when ``text`` is exactly what update-db writes for ``db`` (``load_db(text)``); else
    where it first differs, e.g. ``line 7 is '"tag": "v1",', update-db writes '"channel": "dev",'``."""
    expected = dump_db(db)
    if expected == text:
        return None
    have, want = text.split("\n"), expected.split("\n")
    for number, (line, wanted) in enumerate(zip(have, want, strict=False), 1):  # lengths may differ
        if line != wanted:
            if line.strip() == wanted.strip():  # only blanks differ: the stripped lines look the same
                return f"line {number} {_blank_difference(line, wanted)}"
            return f"line {number} is {show(line.strip())}, update-db writes {show(wanted.strip())}"
    if len(have) > len(want):
        return f"line {len(want) + 1} and on are extra: {show(have[len(want)].strip())}"
    if text + "\n" == expected:
        return f"line {len(have)} has no newline at its end, update-db writes one"
    return f"it ends at line {len(have)}, update-db writes {len(want)} lines"


#: Blanks JSON allows around values (outside strings, so at either end of a line), with the
#: mark that draws each in a message: the CLI folds a run of spaces into one on its one line.
_BLANKS = {" ": ("space", "\u00b7"), "\t": ("tab", "\u2192"), "\r": ("carriage return", "\u240d")}


def _ends(line: str) -> tuple[str, str, str]:
    """``line`` as (leading blanks, the rest, trailing blanks)."""
    body = line.strip()
    lead = line[: len(line) - len(line.lstrip())]
    return lead, body, line[len(lead) + len(body) :]


def _blanks(text: str) -> str:
    """Blanks in words: ``4 spaces``, ``1 tab``, ``nothing``."""
    counts = [(text.count(ch), name) for ch, (name, _) in _BLANKS.items() if ch in text]
    return ", ".join(f"{n} {name}{'' if n == 1 else 's'}" for n, name in counts) or "nothing"


def _drawn(line: str) -> str:
    """``line`` quoted, its leading and trailing blanks drawn (space ·, tab →, CR ␍), the rest
    ASCII-escaped and cut like ``show``."""
    lead, body, trail = _ends(line)
    inner = ascii(body)[1:-1]
    if len(inner) > 50:
        inner = inner[:47] + "..."
    marks = {ch: mark for ch, (_, mark) in _BLANKS.items()}
    return (
        "'"
        + "".join(marks.get(ch, "?") for ch in lead)
        + inner
        + "".join(marks.get(ch, "?") for ch in trail)
        + "'"
    )


def _blank_difference(line: str, wanted: str) -> str:
    """How two lines that differ only in leading or trailing blanks differ, both lines drawn."""
    (lead, _, trail), (wanted_lead, _, wanted_trail) = _ends(line), _ends(wanted)
    both = f"({_drawn(line)} vs {_drawn(wanted)}; \u00b7 is a space, \u2192 a tab)"
    if lead != wanted_lead:
        return f"is indented with {_blanks(lead)}, update-db indents it with {_blanks(wanted_lead)} {both}"
    return f"ends with {_blanks(trail)}, update-db writes {_blanks(wanted_trail)} there {both}"


def _render(doc: dict[str, Any]) -> str:
    # orjson's 2-space indent is json.dumps(indent=2)'s layout, 10x faster on 10,000 releases
    # (json.dumps falls back to pure Python with indent=); release values are ASCII strings.
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"


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


_get_source = operator.itemgetter("source")
_STORED_REQUIRED = frozenset((*REQUIRED_KEYS, "updatedAt"))
_SOURCE_REQUIRED = frozenset(("repository", "sha"))
_RELEASE_KEY_SET = frozenset(RELEASE_KEYS)
_SOURCE_KEY_SET = frozenset(SOURCE_KEYS)
_ONLY_DICT = frozenset((dict,))
_ONLY_STR = frozenset((str,))

#: Release field name (``source.<key>`` for the source's) -> every stored release's value of it.
_Columns = dict[str, list[str]]


def _release_columns(items: Sequence[object]) -> _Columns | None:
    """The values of each field over all ``items``, when every item has the shape of a stored
    release (a db.json release): an object with only known keys, the required ones and
    ``updatedAt``, every value a string but ``source``, an object of the same kind. None when
    one has not: ``parse_release`` on each item finds and names the problem.

    With ``_columns_valid`` this checks 10,000 releases column by column, one C-level pass per
    field instead of a Python call per value (docs/benchmarks.md).
    """
    if not set(map(type, items)) <= _ONLY_DICT:
        return None
    objects = cast("Sequence[dict[str, Any]]", items)
    if not all(map(_STORED_REQUIRED.issubset, objects)) or not set().union(*objects) <= _RELEASE_KEY_SET:
        return None
    sources: list[dict[str, Any]] = list(map(_get_source, objects))
    if not set(map(type, sources)) <= _ONLY_DICT:
        return None
    if not all(map(_SOURCE_REQUIRED.issubset, sources)) or not set().union(*sources) <= _SOURCE_KEY_SET:
        return None
    columns: _Columns = {}
    for objs, checks, prefix, required in (
        (objects, RELEASE_FIELD_CHECKS, "", _STORED_REQUIRED),
        (sources, SOURCE_FIELD_CHECKS, "source.", _SOURCE_REQUIRED),
    ):
        for key in checks:
            values = (
                list(map(operator.itemgetter(key), objs))
                if key in required
                else [obj[key] for obj in objs if key in obj]
            )
            if values and not set(map(type, values)) <= _ONLY_STR:
                return None
            columns[prefix + key] = values
    return columns


def _columns_valid(columns: _Columns) -> bool:
    """True only when every value of ``_release_columns`` is within its field's length limit and
    matches its pattern, i.e. ``parse_release`` accepts every release they came from."""
    for name, values in columns.items():
        if not values:
            continue
        limit, search = _FAST_CHECKS[name]
        distinct = set(values)  # channels, repositories, refs, shas repeat across releases
        if max(map(len, distinct)) > limit or not all(map(search, distinct)):
            return False
    return True


_FAST_CHECKS = {
    **RELEASE_FIELD_CHECKS,
    **{f"source.{key}": check for key, check in SOURCE_FIELD_CHECKS.items()},
}


def _key_orders(keys: Sequence[str], required: Sequence[str]) -> frozenset[tuple[str, ...]]:
    """Every canonical key order of an object: ``keys`` in order, each optional one present or not."""
    optional = [k for k in keys if k not in required]
    orders = set()
    for n in range(len(optional) + 1):
        for present in itertools.combinations(optional, n):
            orders.add(tuple(k for k in keys if k in required or k in present))
    return frozenset(orders)


_RELEASE_ORDERS = _key_orders(RELEASE_KEYS, (*REQUIRED_KEYS, "updatedAt"))
_SOURCE_ORDERS = _key_orders(SOURCE_KEYS, ("repository", "sha"))


class DBFile:
    """db.json as one update reads and rewrites it, fast on a db of 10,000 releases.

    A file as update-db writes it is checked as strictly as ``load_db`` checks it, but column by
    column, and only the releases the update looks up become ``Release`` objects; the new text
    is the same bytes as ``dump_db(apply_releases(load_db(text), ...)[0])``
    (tests/unit/core/test_db_file.py proves it on generated dbs) in a third of the time. Any
    other file (unsorted, keys out of order, invalid) takes the ``load_db`` path, which names
    the problem or normalises the file.

    ``defer_checks=True`` leaves two checks that only ever find an error to ``check()``: every
    value's length and pattern, and that the text is spelled canonically (so no key is given
    twice). update-db runs it while git commits, and before anything is pushed.
    """

    def __init__(self, text: str | None, *, path: str = "db/db.json", defer_checks: bool = False) -> None:
        self.text = text
        self.path = path
        self._db: ReleaseDB | None = None
        self._doc: dict[str, Any] = {}
        self._items: list[dict[str, Any]] = []
        self._keys: list[tuple[str, str]] = []
        self._columns: _Columns = {}
        self._parsed: dict[int, Release] = {}
        self._checked = True
        self._error: ConfigError | None = None
        if text is None:
            return
        if not self._read(text):
            self._db = load_db(text, path=path)  # names the problem, or sorts and normalises
            return
        self._checked = False
        if not defer_checks:
            self.check()

    def _read(self, text: str) -> bool:
        """Take ``text`` when it holds well-shaped releases, keys in canonical order, sorted by
        (container, channel) and unique."""
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        if type(doc) is not dict or list(doc) != ["schemaVersion", "releases"]:
            return False
        version, items = doc["schemaVersion"], doc["releases"]
        if type(version) is not int or version != SCHEMA_VERSION or type(items) is not list:
            return False
        columns = _release_columns(items)
        if columns is None:
            return False
        if not set(map(tuple, items)) <= _RELEASE_ORDERS:
            return False
        if not set(map(tuple, map(_get_source, items))) <= _SOURCE_ORDERS:
            return False
        keys = list(zip(columns["container"], columns["channel"], strict=True))
        if not all(map(operator.lt, keys, keys[1:])):
            return False
        self._doc, self._items, self._keys, self._columns = doc, items, keys, columns
        return True

    @property
    def canonical(self) -> bool:
        """The text was read on the fast path (as update-db writes it), not through load_db."""
        return self.text is not None and self._db is None

    def check(self) -> None:
        """Finish what the fast read left: raise ``load_db``'s ConfigError when a stored value is
        bad or a key is given twice. A text that load_db accepts but that is spaced or escaped
        otherwise is fine: the new text is the canonical rendering either way."""
        if self._error is not None:
            raise self._error
        if self._checked:
            return
        spelled = orjson.dumps(self._doc, option=orjson.OPT_INDENT_2) + b"\n" == (self.text or "").encode()
        if not (spelled and _columns_valid(self._columns)):
            try:
                load_db(self.text, path=self.path)
            except ConfigError as exc:
                self._error = exc  # the same error on every call, whoever asks first
                raise
        self._checked = True

    def __len__(self) -> int:
        return len(self._db) if self._db is not None else len(self._items)

    def get(self, container: str, channel: str) -> Release | None:
        """The stored release of (container, channel), or None."""
        if self._db is not None:
            return self._db.get(container, channel)
        key = (container, channel)
        index = bisect.bisect_left(self._keys, key)
        if index == len(self._keys) or self._keys[index] != key:
            return None
        if index not in self._parsed:
            try:
                self._parsed[index] = _parse_stored(self._items[index], index, path=self.path)
            except ConfigError:
                self.check()  # the error load_db would give: the first bad release, not this one
                raise
        return self._parsed[index]

    def container_images(self) -> dict[str, frozenset[str]]:
        """Every stored container and the images db.json records for it (any channel): who
        runs what, for the image-ownership check (core/policy.check_image_owner)."""
        pairs: Any = (
            ((r.container, r.image) for r in self._db.releases)
            if self._db is not None
            else zip(self._columns.get("container", ()), self._columns.get("image", ()), strict=True)
        )
        found: dict[str, set[str]] = {}
        for container, image in pairs:
            found.setdefault(container, set()).add(image)
        return {container: frozenset(images) for container, images in found.items()}

    def apply(
        self, releases: Sequence[Release], *, now: str | datetime
    ) -> tuple[str | None, tuple[Change, ...]]:
        """``apply_releases`` on this db: the new canonical text and the real changes. With no
        change the text is the one read (None for an absent file), so nothing is rewritten."""
        if self._db is not None:
            new_db, changes = apply_releases(self._db, releases, now=now)
            return (dump_db(new_db) if changes else self.text), changes
        stored = {key: self.get(*key) for key in {release.key for release in releases}}
        mini = ReleaseDB(tuple(r for r in stored.values() if r is not None))
        _, changes = apply_releases(mini, releases, now=now)
        if not changes:
            return self.text, ()
        keys, items = list(self._keys), list(self._items)
        for change in changes:
            index = bisect.bisect_left(keys, change.key)
            if change.previous is None:
                keys.insert(index, change.key)
                items.insert(index, change.current.to_json())
            else:
                items[index] = change.current.to_json()
        return _render({"schemaVersion": SCHEMA_VERSION, "releases": items}), changes
