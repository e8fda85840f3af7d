"""core/db.py: shapes, clocks and messages the broader tests leave open (written against
mutation-testing survivors, docs/testing.md): a db.json whose ``source`` keys are in another
order, a runner whose local time zone is not UTC, Change's JSON, canonical_difference."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone, tzinfo

import pytest

from gitops_release.core.db import (
    Change,
    DBFile,
    ReleaseDB,
    apply_releases,
    canonical_difference,
    dump_db,
    format_time,
    load_db,
)
from gitops_release.core.release import Release, Source
from gitops_release.errors import ConfigError, InputError

SHA = "1" * 40
T0 = "2026-01-28T10:30:00Z"
T1 = "2026-01-29T08:00:00Z"


def rel(
    container: str = "web", channel: str = "dev", tag: str = "v1", updated_at: str | None = T0
) -> Release:
    return Release(
        container,
        channel,
        f"ghcr.io/org/{container}",
        tag,
        None,
        Source("org/web", SHA, "refs/heads/main"),
        updated_at,
    )


@pytest.fixture
def runner_not_on_utc() -> Iterator[None]:
    """The process's local time zone set to UTC+3 for one test, as on a self-hosted runner."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX only")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "XYZ-03")
        time.tzset()
        try:
            yield
        finally:
            patch.undo()
            time.tzset()


# -- source keys in another order --------------------------------------------------------------


def _with_source_keys_reversed(text: str) -> str:
    doc = json.loads(text)
    for item in doc["releases"]:
        item["source"] = dict(reversed(list(item["source"].items())))
    return json.dumps(doc, indent=2) + "\n"


def test_a_db_whose_source_keys_are_in_another_order_is_normalised_and_keeps_every_release() -> None:
    stored = ReleaseDB((rel("api"), rel("web"), rel("web", "prod")))
    text = _with_source_keys_reversed(dump_db(stored))
    assert '"ref": "refs/heads/main",\n        "sha"' in text
    db_file = DBFile(text)
    assert not db_file.canonical  # not as update-db writes it: the load_db path normalises it
    assert len(db_file) == 3
    new_text, changes = db_file.apply([rel("api", tag="v2", updated_at=None)], now=T1)
    expected_db, expected_changes = apply_releases(
        load_db(text), [rel("api", tag="v2", updated_at=None)], now=T1
    )
    assert new_text == dump_db(expected_db)
    assert changes == expected_changes
    assert len(load_db(new_text)) == 3
    assert load_db(new_text).get("web", "prod") == rel("web", "prod")
    # Nothing to change: the text read is handed back as it is, so nothing is rewritten.
    assert DBFile(text).apply([rel("web", "prod", updated_at=None)], now=T1) == (text, ())


def test_a_canonical_db_takes_the_fast_path_and_counts_its_releases() -> None:
    text = dump_db(ReleaseDB((rel("api"), rel("web"))))
    db_file = DBFile(text)
    assert db_file.canonical
    assert len(db_file) == 2
    assert len(DBFile(None)) == 0
    assert not DBFile(None).canonical


# -- clocks ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("runner_not_on_utc")
def test_the_stamp_is_utc_whatever_the_runners_time_zone() -> None:
    at_three = datetime(2026, 1, 28, 13, 30, 0, tzinfo=timezone(timedelta(hours=3)))
    assert format_time(at_three) == T0
    assert format_time(datetime(2026, 1, 28, 10, 30, 0, 999_999, tzinfo=timezone.utc)) == T0
    db, _ = apply_releases(ReleaseDB(()), [rel(updated_at=None)], now=at_three)
    assert db.get("web", "dev") == rel()


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: datetime treats it as naive."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None


@pytest.mark.parametrize(
    "now",
    [datetime(2026, 1, 28, 10, 30, 0), datetime(2026, 1, 28, 10, 30, 0, tzinfo=_NoOffset())],
    ids=["naive", "tzinfo-without-offset"],
)
def test_a_time_without_an_offset_is_refused(now: datetime) -> None:
    with pytest.raises(InputError) as info:
        format_time(now)
    assert info.value.field == "now"
    assert info.value.message == "input 'now': 2026-01-28T10:30:00 has no timezone"
    assert info.value.fix == "pass datetime.now(timezone.utc)"


@pytest.mark.parametrize(
    ("now", "shown"),
    [
        ("2026-01-28 10:30:00", "'2026-01-28 10:30:00'"),
        ("2026-01-28T10:30:00+00:00", "'2026-01-28T10:30:00+00:00'"),
        (1769596200, "1769596200"),
    ],
)
def test_a_stamp_that_is_not_rfc3339_utc_is_refused(now: object, shown: str) -> None:
    with pytest.raises(InputError) as info:
        apply_releases(ReleaseDB(()), [rel(updated_at=None)], now=now)  # type: ignore[arg-type]
    assert info.value.field == "now"
    assert info.value.message == f"input 'now': {shown} is not an RFC 3339 UTC timestamp"
    assert info.value.fix == "use e.g. 2026-01-28T10:30:00Z"


# -- Change ------------------------------------------------------------------------------------


def test_change_json_names_container_channel_previous_and_current() -> None:
    new = Change(("web", "dev"), None, rel())
    assert new.to_json() == {
        "container": "web",
        "channel": "dev",
        "previous": None,
        "current": rel().to_json(),
    }
    moved = Change(("web", "dev"), rel(), rel(tag="v2", updated_at=T1))
    assert list(moved.to_json()) == ["container", "channel", "previous", "current"]
    assert moved.to_json()["previous"] == rel().to_json()
    assert moved.to_json()["current"]["tag"] == "v2"


# -- canonical_difference ----------------------------------------------------------------------


def test_canonical_difference_is_none_only_for_what_update_db_writes() -> None:
    db = ReleaseDB((rel(),))
    text = dump_db(db)
    assert canonical_difference(text, db) is None
    changed = canonical_difference(text.replace('"tag": "v1"', '"tag": "v2"'), db)
    assert changed is not None
    assert changed.startswith("line 8 ")
    assert '"tag": "v2"' in changed and '"tag": "v1"' in changed
    lines = text.count("\n")
    other = canonical_difference(text + "{}\n", db)
    assert other is not None and other.startswith(f"line {lines + 1} ") and "{}" in other
    longer = canonical_difference(text + "\n{}", db)
    assert (
        longer is not None
        and longer.startswith(f"line {lines + 2} ")
        and "extra" in longer
        and "{}" in longer
    )
    shorter = canonical_difference(text.rstrip("\n"), db)
    assert shorter == f"line {lines} has no newline at its end, update-db writes one"


# -- apply_releases: several releases in one call ----------------------------------------------


def test_an_unchanged_release_does_not_stop_the_ones_after_it() -> None:
    stored = ReleaseDB((rel("api"), rel("web")))
    db, changes = apply_releases(
        stored, [rel("api", updated_at=None), rel("web", tag="v2", updated_at=None)], now=T1
    )
    assert [c.key for c in changes] == [("web", "dev")]
    assert db.get("api", "dev") == rel("api")
    assert db.get("web", "dev") == rel("web", tag="v2", updated_at=T1)


def test_a_release_changed_and_changed_back_in_one_call_is_no_change_and_keeps_its_stamp() -> None:
    stored = ReleaseDB((rel("api"),))
    payload = [
        rel("api", tag="v2", updated_at=None),
        rel("api", updated_at=None),
        rel("web", updated_at=None),
    ]
    db, changes = apply_releases(stored, payload, now=T1)
    assert [c.key for c in changes] == [("web", "dev")]
    assert db.get("api", "dev") == rel("api")  # the old updatedAt, not T1
    assert db.get("web", "dev") == rel("web", updated_at=T1)


# -- DBFile: the deferred check ----------------------------------------------------------------


def _with_a_duplicate_key(text: str) -> str:
    """db.json text whose first release gives "image" twice; a JSON reader keeps the last."""
    return text.replace('      "image": ', '      "image": "x",\n      "image": ', 1)


def test_a_duplicate_key_in_a_db_that_reads_as_canonical_is_refused() -> None:
    text = _with_a_duplicate_key(dump_db(ReleaseDB((rel("api"), rel("web")))))
    with pytest.raises(ConfigError) as info:
        DBFile(text, path="cfg/db.json")
    assert info.value.message == (
        "cfg/db.json: has the key 'image' twice in one object (a JSON reader keeps only the last one)"
    )


def test_a_deferred_check_raises_the_same_error_on_every_call() -> None:
    text = _with_a_duplicate_key(dump_db(ReleaseDB((rel("api"),))))
    db_file = DBFile(text, path="cfg/db.json", defer_checks=True)
    with pytest.raises(ConfigError) as first:
        db_file.check()
    with pytest.raises(ConfigError) as second:
        db_file.check()
    assert second.value is first.value
    assert first.value.message.startswith("cfg/db.json: ")


def test_a_canonical_db_is_checked_without_parsing_it_a_second_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import gitops_release.core.db as db_module

    def no_second_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_db ran on a canonical db.json")

    text = dump_db(ReleaseDB((rel("api"), rel("web"))))
    monkeypatch.setattr(db_module, "load_db", no_second_parse)
    db_file = DBFile(text, defer_checks=True)
    db_file.check()
    db_file.check()
    assert db_file.get("web", "dev") == rel("web")


def test_get_on_a_db_read_through_load_db_finds_each_release() -> None:
    stored = ReleaseDB((rel("api"), rel("web"), rel("web", "prod")))
    db_file = DBFile(_with_source_keys_reversed(dump_db(stored)))
    assert not db_file.canonical
    assert db_file.get("web", "prod") == rel("web", "prod")
    assert db_file.get("api", "dev") == rel("api")
    assert db_file.get("api", "prod") is None


# -- DBFile: which texts take the fast path ----------------------------------------------------


def _canonical() -> str:
    return dump_db(ReleaseDB((rel("api"), rel("web"))))


def _top_keys_swapped(text: str) -> str:
    doc = json.loads(text)
    return json.dumps({"releases": doc["releases"], "schemaVersion": doc["schemaVersion"]}, indent=2) + "\n"


def _release_keys_reversed(text: str) -> str:
    doc = json.loads(text)
    doc["releases"] = [dict(reversed(list(item.items()))) for item in doc["releases"]]
    return json.dumps(doc, indent=2) + "\n"


def _unsorted(text: str) -> str:
    doc = json.loads(text)
    doc["releases"].reverse()
    return json.dumps(doc, indent=2) + "\n"


@pytest.mark.parametrize(
    "spell", [_top_keys_swapped, _release_keys_reversed, _with_source_keys_reversed, _unsorted]
)
def test_a_valid_db_spelled_otherwise_takes_the_load_db_path_once(
    spell: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gitops_release.core.db as db_module

    calls: list[str] = []
    real_load_db = db_module.load_db

    def counting_load_db(text: str | None, *, path: str = "db/db.json") -> ReleaseDB:
        calls.append(path)
        return real_load_db(text, path=path)

    monkeypatch.setattr(db_module, "load_db", counting_load_db)
    text = spell(_canonical())  # type: ignore[operator]
    db_file = DBFile(text, path="cfg/db.json", defer_checks=True)
    assert not db_file.canonical
    db_file.check()
    db_file.check()
    assert calls == ["cfg/db.json"]  # read once, never parsed again by check()
    assert db_file.apply([rel("api", updated_at=None)], now=T1) == (text, ())
    new_text, _ = db_file.apply([rel("api", tag="v2", updated_at=None)], now=T1)
    assert new_text == dump_db(ReleaseDB((rel("api", tag="v2", updated_at=T1), rel("web"))))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{",
            "cfg/db.json: is not valid JSON (Expecting property name enclosed in double quotes "
            "at line 1 column 2)",
        ),
        ("[]", "cfg/db.json: must be a JSON object with schemaVersion and releases"),
        ('{"schemaVersion": 2, "releases": []}', "cfg/db.json: schemaVersion 2 is not supported"),
        ('{"schemaVersion": "1", "releases": []}', "cfg/db.json: schemaVersion '1' is not supported"),
        ('{"schemaVersion": 1, "releases": {}}', "cfg/db.json: releases must be an array"),
        # A release of the wrong shape is not one of the deferred checks (values, spelling).
        (
            '{"schemaVersion": 1, "releases": [{"container": "web", "channel": "dev", '
            '"image": "ghcr.io/org/web", "tag": 5, "source": {"repository": "org/web", "sha": "'
            + SHA
            + '"}, "updatedAt": "'
            + T0
            + '"}]}',
            "cfg/db.json: 'releases[0].tag': must be a string, not a number 5",
        ),
    ],
)
def test_a_db_that_is_not_one_is_refused_when_read_even_with_deferred_checks(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        DBFile(text, path="cfg/db.json", defer_checks=True)
    assert info.value.message.startswith(message)


def test_the_canonical_key_orders_are_the_keys_in_order_with_each_optional_one_or_not() -> None:
    # Computed once at import (so only a direct call can check it): what the fast path accepts.
    from gitops_release.core.db import _key_orders

    assert _key_orders(("a", "b", "c", "d"), ("a", "c")) == frozenset(
        {("a", "c"), ("a", "b", "c"), ("a", "c", "d"), ("a", "b", "c", "d")}
    )
    assert _key_orders(("repository", "sha"), ("repository", "sha")) == frozenset({("repository", "sha")})


# -- messages and limits of the load_db path ---------------------------------------------------


def test_the_default_path_is_db_json() -> None:
    from gitops_release.core.db import check_schema_version, parse_db_json

    with pytest.raises(ConfigError) as info:
        parse_db_json("{")
    assert info.value.message.startswith("db/db.json: is not valid JSON")
    assert info.value.fix == "restore it from git history (git log -p -- db/db.json) or fix it by hand"
    with pytest.raises(ConfigError) as info:
        check_schema_version({})
    assert info.value.message == "db/db.json: schemaVersion is missing"
    assert info.value.fix == 'add "schemaVersion": 1'


def test_a_newer_schema_version_is_an_upgrade_not_a_rollback() -> None:
    with pytest.raises(ConfigError) as info:
        load_db('{"schemaVersion": 2, "releases": []}', path="cfg/db.json")
    assert info.value.fix == "upgrade gitops-release in the workflows that read and write this db"


def test_an_unknown_top_level_key_and_a_repeated_release_are_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_db('{"schemaVersion": 1, "releases": [], "extra": 1}', path="cfg/db.json")
    assert info.value.message == "cfg/db.json: unknown key 'extra'"
    assert info.value.fix == "keep only schemaVersion and releases"
    item = rel().to_json()
    text = json.dumps({"schemaVersion": 1, "releases": [rel("api").to_json(), item, item]})
    with pytest.raises(ConfigError) as info:
        load_db(text, path="cfg/db.json")
    assert info.value.message == "cfg/db.json: releases[2] repeats web/dev of releases[1]"
    assert info.value.fix == "keep one release per (container, channel)"


def test_two_releases_for_one_key_cannot_make_a_release_db() -> None:
    with pytest.raises(ValueError, match=r"^ReleaseDB: two releases for the same \(container, channel\)$"):
        ReleaseDB((rel(), rel(tag="v2")))


def test_a_stored_source_without_sha_is_refused_naming_it() -> None:
    doc = json.loads(dump_db(ReleaseDB((rel(),))))
    del doc["releases"][0]["source"]["sha"]
    with pytest.raises(ConfigError) as info:
        DBFile(json.dumps(doc, indent=2) + "\n", path="cfg/db.json")
    assert info.value.message == "cfg/db.json: 'releases[0].source.sha': is missing"


def test_values_at_their_length_limits_and_every_source_shape_take_the_fast_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gitops_release.core.db as db_module

    def no_second_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_db ran on a canonical db.json")

    long_image = "ghcr.io/" + "a" * 247  # 255 characters, the limit
    sources = [
        Source("org/web", SHA),
        Source("org/web", SHA, "refs/heads/" + "a" * 244),  # a 255-character ref
        Source("org/web", SHA, None, "https://x.io/" + "a" * 2035),  # a 2048-character URL
        Source("org/web", SHA, "refs/heads/main", "https://github.com/org/web/actions/runs/1"),
    ]
    releases = tuple(
        Release(f"c{i}", "dev", long_image, "v1", None, source, T0) for i, source in enumerate(sources)
    )
    assert len(long_image) == 255
    text = dump_db(ReleaseDB(releases))
    monkeypatch.setattr(db_module, "load_db", no_second_parse)
    db_file = DBFile(text, defer_checks=True)
    assert db_file.canonical
    db_file.check()
    assert [db_file.get(f"c{i}", "dev") for i in range(4)] == list(releases)


def test_every_source_shape_at_once_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """All eight canonical source shapes (ref, runUrl, builtAt each present or not) in one db:
    the union of the source keys is every known key, and every key order is a canonical one."""
    import itertools

    import gitops_release.core.db as db_module

    def no_second_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_db ran on a canonical db.json")

    ref, run_url, built_at = "refs/heads/main", "https://github.com/org/web/actions/runs/1", T0
    sources = [
        Source(
            "org/web",
            SHA,
            ref if has_ref else None,
            run_url if has_url else None,
            built_at if has_time else None,
        )
        for has_ref, has_url, has_time in itertools.product((False, True), repeat=3)
    ]
    releases = tuple(
        Release(f"c{i}", "dev", "ghcr.io/org/web", "v1", None, s, T0) for i, s in enumerate(sources)
    )
    assert len({tuple(s.to_json()) for s in sources}) == 8
    text = dump_db(ReleaseDB(releases))
    monkeypatch.setattr(db_module, "load_db", no_second_parse)
    db_file = DBFile(text)
    assert db_file.canonical
    assert [db_file.get(f"c{i}", "dev") for i in range(8)] == list(releases)


def test_a_stored_release_without_updated_at_is_refused_though_spelled_canonically() -> None:
    doc = json.loads(dump_db(ReleaseDB((rel("api"), rel("web")))))
    del doc["releases"][1]["updatedAt"]
    with pytest.raises(ConfigError) as info:
        DBFile(json.dumps(doc, indent=2) + "\n", path="cfg/db.json", defer_checks=True)
    assert info.value.message == "cfg/db.json: releases[1].updatedAt is missing"
