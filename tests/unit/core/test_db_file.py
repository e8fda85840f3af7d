"""core/db.py DBFile: update-db's fast read-and-rewrite of db.json agrees with load_db + dump_db."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_release.core.db import DBFile, apply_releases, dump_db, load_db
from gitops_release.core.release import Release, parse_release
from gitops_release.errors import ConfigError, InputError
from tests.unit.core.test_release_schema_agreement import near_valid, releases

T0 = "2026-01-28T10:30:00Z"
T1 = "2026-01-29T08:00:00Z"


def _valid(item: Any) -> bool:
    try:
        parse_release(item)
    except InputError:
        return False
    return True


valid_releases = releases.filter(_valid)
stored = valid_releases.map(lambda r: {**r, "updatedAt": T0})
maybe_stored = st.one_of(stored, stored, stored, near_valid.map(lambda r: {**r, "updatedAt": T0}))
FORMS = (
    "canonical",
    "canonical",
    "json-indent-4",
    "compact",
    "shuffled-keys",
    "unsorted",
    "dup-key",
    "ascii",
)


def render(items: list[Any], form: str, rng: random.Random) -> str:
    """db.json text of ``items`` in one of several spellings, canonical or not."""
    valid = [i for i in items if _valid(i)]
    if form in ("canonical", "dup-key", "ascii", "shuffled-keys") and len(valid) == len(items):
        # Canonical order of keys and releases, as dump_db writes it.
        unique = {(i["container"], i["channel"]): i for i in items}
        items = [parse_release(i).to_json() for _, i in sorted(unique.items())]
    doc = {"schemaVersion": 1, "releases": items}
    if form == "json-indent-4":
        return json.dumps(doc, indent=4) + "\n"
    if form == "compact":
        return json.dumps(doc)
    if form == "ascii":
        return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
    if form == "shuffled-keys":
        shuffled = []
        for item in copy.deepcopy(items):
            keys = list(item)
            rng.shuffle(keys)
            shuffled.append({k: item[k] for k in keys})
        return json.dumps({"schemaVersion": 1, "releases": shuffled}, indent=2, ensure_ascii=False) + "\n"
    if form == "unsorted":
        items = list(reversed(items))
        return json.dumps({"schemaVersion": 1, "releases": items}, indent=2, ensure_ascii=False) + "\n"
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if form == "dup-key" and items:
        text = text.replace('      "image": ', '      "image": "x",\n      "image": ', 1)
    return text


def outcome(make: Any) -> tuple[str, Any]:
    try:
        return "ok", make()
    except ConfigError as exc:
        return "error", (exc.message, exc.fix)


@given(
    items=st.lists(maybe_stored, max_size=6),
    form=st.sampled_from(FORMS),
    payload=st.lists(valid_releases, min_size=1, max_size=3),
    reuse=st.lists(st.integers(min_value=0, max_value=5), max_size=3),
    seed=st.integers(0, 1000),
)
@settings(max_examples=300, deadline=None)
def test_dbfile_reads_and_writes_exactly_what_load_db_and_dump_db_do(
    items: list[Any], form: str, payload: list[Any], reuse: list[int], seed: int
) -> None:
    text = render(items, form, random.Random(seed))
    slow = outcome(lambda: load_db(text, path="db/db.json"))
    fast = outcome(lambda: DBFile(text, path="db/db.json"))
    deferred = outcome(lambda: _checked_later(text))
    assert fast[0] == slow[0] == deferred[0], (text, slow, fast)
    if slow[0] == "error":
        assert fast[1] == slow[1] == deferred[1]
        return
    db, dbfile = slow[1], fast[1]
    assert len(dbfile) == len(db)
    # Payload: new releases, and new versions of stored ones (same key, other tag).
    wanted = [parse_release(r) for r in payload]
    for index in reuse:
        if index < len(db.releases):
            old = db.releases[index]
            wanted.append(Release(old.container, old.channel, old.image, "sha-0ther", None, old.source))
            wanted.append(Release(old.container, old.channel, old.image, old.tag, old.digest, old.source))
    for release in wanted:
        assert dbfile.get(*release.key) == db.get(*release.key)
    new_text, changes = dbfile.apply(wanted, now=T1)
    new_db, slow_changes = apply_releases(db, wanted, now=T1)
    assert changes == slow_changes
    assert new_text == (dump_db(new_db) if changes else text)


def _checked_later(text: str) -> DBFile:
    dbfile = DBFile(text, path="db/db.json", defer_checks=True)
    dbfile.check()
    return dbfile


@given(items=st.lists(stored, min_size=1, max_size=6))
@settings(max_examples=200, deadline=None)
def test_a_canonical_db_takes_the_fast_path_and_dump_db_is_json_dumps(items: list[Any]) -> None:
    db = load_db(json.dumps({"schemaVersion": 1, "releases": _unique(items)}))
    text = dump_db(db)
    assert text == json.dumps(db.to_json(), indent=2, ensure_ascii=False) + "\n"
    dbfile = DBFile(text)
    assert dbfile.canonical
    assert [dbfile.get(*r.key) for r in db.releases] == list(db.releases)


def _unique(items: list[Any]) -> list[Any]:
    return list({(i["container"], i["channel"]): i for i in items}.values())


def canonical_text(*items: dict[str, Any]) -> str:
    return dump_db(load_db(json.dumps({"schemaVersion": 1, "releases": list(items)})))


GOOD = {
    "container": "api",
    "channel": "dev",
    "image": "ghcr.io/org/api",
    "tag": "sha-1a2b3c4d",
    "source": {"repository": "org/api", "sha": "a" * 40},
    "updatedAt": T0,
}


def test_bad_stored_value_is_the_load_db_error_now_or_at_check() -> None:
    text = canonical_text(GOOD, {**GOOD, "container": "web"}).replace('"web"', '"web!"')
    with pytest.raises(ConfigError) as eager:
        DBFile(text)
    deferred = DBFile(text, defer_checks=True)
    assert deferred.canonical  # shape and layout are fine: only a value is bad
    with pytest.raises(ConfigError) as late:
        deferred.check()
    with pytest.raises(ConfigError) as slow:
        load_db(text)
    assert eager.value.message == late.value.message == slow.value.message
    assert "releases[1].container" in slow.value.message


def test_non_canonical_text_is_normalised_like_dump_db() -> None:
    text = json.dumps({"schemaVersion": 1, "releases": [{**GOOD, "container": "web"}, GOOD]}, indent=4)
    dbfile = DBFile(text)
    assert not dbfile.canonical
    new_text, changes = dbfile.apply([parse_release({**GOOD, "tag": "v2"})], now=T1)
    assert [c.key for c in changes] == [("api", "dev")]
    assert new_text == dump_db(
        apply_releases(load_db(text), [parse_release({**GOOD, "tag": "v2"})], now=T1)[0]
    )


def test_absent_db_and_unchanged_payload() -> None:
    assert DBFile(None).apply([parse_release({**GOOD})], now=T1)[0] == canonical_text(
        {**GOOD, "updatedAt": T1}
    )
    text = canonical_text(GOOD)
    same = parse_release({k: v for k, v in GOOD.items() if k != "updatedAt"})
    assert DBFile(text).apply([same], now=T1) == (text, ())
    assert DBFile(None).apply([], now=T1) == (None, ())


@given(st.lists(maybe_stored, max_size=5))
@settings(max_examples=400, deadline=None)
def test_the_column_check_accepts_exactly_what_parse_release_accepts(items: list[Any]) -> None:
    from gitops_release.core.db import _columns_valid, _release_columns

    every_valid = all(_valid(item) and "updatedAt" in item for item in items)
    columns = _release_columns(items)
    assert (columns is not None and _columns_valid(columns)) == every_valid


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image", "ghcr.io/" + "a" * 250),  # over the 255 limit, matches the pattern
        ("source.ref", "refs/heads/" + "b" * 250),
        ("source.runUrl", "https://github.com/" + "c" * 2040),
    ],
)
def test_an_over_long_stored_value_is_refused_like_load_db(field: str, value: str) -> None:
    item = copy.deepcopy(GOOD)
    target = item["source"] if field.startswith("source.") else item
    target[field.removeprefix("source.")] = value
    text = json.dumps({"schemaVersion": 1, "releases": [item]}, indent=2) + "\n"
    assert DBFile(text, defer_checks=True).canonical  # only the length is wrong
    with pytest.raises(ConfigError) as fast:
        DBFile(text)
    with pytest.raises(ConfigError) as slow:
        load_db(text)
    assert fast.value.message == slow.value.message and "characters long" in slow.value.message


def test_deferred_get_of_a_later_bad_release_names_the_first_bad_one() -> None:
    text = canonical_text(GOOD, {**GOOD, "container": "web"}, {**GOOD, "container": "zed"})
    text = text.replace('"tag": "sha-1a2b3c4d"', '"tag": "-bad"')  # every release is bad now
    dbfile = DBFile(text, defer_checks=True)
    with pytest.raises(ConfigError, match=r"releases\[0\]\.tag"):
        dbfile.get("zed", "dev")
    with pytest.raises(ConfigError, match=r"releases\[0\]\.tag"):
        dbfile.check()  # and again, the same error


def test_apply_leaves_the_db_as_read_so_a_check_running_alongside_sees_the_file() -> None:
    text = canonical_text(GOOD, {**GOOD, "container": "web"})
    dbfile = DBFile(text, defer_checks=True)
    new = parse_release({**{k: v for k, v in GOOD.items() if k != "updatedAt"}, "tag": "v2"})
    added = parse_release({**{k: v for k, v in GOOD.items() if k != "updatedAt"}, "container": "new"})
    first = dbfile.apply([new, added], now=T1)
    assert dbfile.apply([new, added], now=T1) == first
    assert dbfile.get("api", "dev").tag == "sha-1a2b3c4d"  # type: ignore[union-attr]
    assert dbfile.get("new", "dev") is None
    dbfile.check()  # still the text read: the check passes
    assert first[0] == dump_db(apply_releases(load_db(text), [new, added], now=T1)[0])


def test_built_at_is_stored_last_in_source_and_read_on_the_fast_path() -> None:
    source = {
        "repository": "org/a",
        "sha": "a" * 40,
        "ref": "refs/heads/main",
        "builtAt": "2026-01-28T10:30:00.5Z",
    }
    release = parse_release(
        {
            "container": "a",
            "channel": "dev",
            "image": "ghcr.io/org/a",
            "tag": "sha-1a2b3c4d",
            "source": source,
        }
    )
    text = dump_db(apply_releases(load_db(None), [release], now="2026-01-28T10:31:00Z")[0])
    assert text.index('"ref"') < text.index('"builtAt": "2026-01-28T10:30:00.5Z"') < text.index('"updatedAt"')
    stored = DBFile(text)
    assert stored.canonical and stored.get("a", "dev") == load_db(text).get("a", "dev")
    assert stored.get("a", "dev").source.built_at == "2026-01-28T10:30:00.5Z"  # type: ignore[union-attr]
