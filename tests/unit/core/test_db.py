"""core/db.py: deterministic db.json, idempotent updates."""

from __future__ import annotations

import difflib
import json
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from gitops_release.core.db import (
    SCHEMA_VERSION,
    Change,
    ReleaseDB,
    apply_releases,
    dump_db,
    empty_db,
    load_db,
)
from gitops_release.core.release import Release, Source
from gitops_release.errors import ConfigError, InputError

SHA = "1" * 40
T0 = "2026-01-28T10:30:00Z"
T1 = "2026-01-29T08:00:00Z"
TEMPLATE = Path(__file__).resolve().parents[3] / "templates" / "config-repo" / "db" / "db.json"
DB_SCHEMA = Draft202012Validator(
    json.loads((resources.files("gitops_release") / "schemas" / "db.schema.json").read_text())
)


def rel(container: str = "my-app", channel: str = "dev", tag: str = "sha-1a2b3c4d", **kw: object) -> Release:
    return Release(
        container,
        channel,
        f"ghcr.io/org/{container}",
        tag,
        kw.get("digest"),
        Source("org/app", SHA),
        kw.get("updated_at"),
    )  # type: ignore[arg-type]


def test_empty_and_absent() -> None:
    assert load_db(None) == empty_db()
    assert dump_db(empty_db()) == '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
    assert dump_db(empty_db()) == TEMPLATE.read_text()
    assert load_db(TEMPLATE.read_text()) == empty_db()


def test_apply_sorts_stamps_and_reports_changes() -> None:
    db, changes = apply_releases(
        empty_db(), [rel("web", "prod"), rel("api", "dev"), rel("web", "dev")], now=T0
    )
    assert [r.key for r in db.releases] == [("api", "dev"), ("web", "dev"), ("web", "prod")]
    assert all(r.updated_at == T0 for r in db.releases)
    assert [c.key for c in changes] == [("api", "dev"), ("web", "dev"), ("web", "prod")]
    assert all(c.previous is None for c in changes)
    assert db.get("web", "prod") == rel("web", "prod", updated_at=T0)
    assert db.get("web", "stage") is None
    text = dump_db(db)
    assert DB_SCHEMA.is_valid(json.loads(text))
    assert load_db(text) == db
    assert dump_db(load_db(text)) == text


def test_same_payload_twice_is_byte_identical_and_no_change() -> None:
    db, _ = apply_releases(empty_db(), [rel(), rel(channel="prod")], now=T0)
    again, changes = apply_releases(db, [rel(), rel(channel="prod")], now=T1)
    assert changes == ()
    assert again is db
    assert dump_db(again) == dump_db(db)
    assert again.get("my-app", "dev").updated_at == T0  # type: ignore[union-attr]


def test_a_real_change_keeps_previous() -> None:
    db, _ = apply_releases(empty_db(), [rel(), rel(channel="prod")], now=T0)
    new_db, changes = apply_releases(db, [rel(tag="sha-99999999"), rel(channel="prod")], now=T1)
    assert changes == (Change(("my-app", "dev"), rel(updated_at=T0), rel(tag="sha-99999999", updated_at=T1)),)
    assert new_db.get("my-app", "prod").updated_at == T0  # type: ignore[union-attr]
    assert changes[0].to_json()["previous"]["tag"] == "sha-1a2b3c4d"


def test_digest_or_source_change_is_a_change() -> None:
    db, _ = apply_releases(empty_db(), [rel()], now=T0)
    _, changes = apply_releases(db, [rel(digest="sha256:" + "a" * 64)], now=T1)
    assert len(changes) == 1
    moved = Release("my-app", "dev", "ghcr.io/org/my-app", "sha-1a2b3c4d", None, Source("org/app", "2" * 40))
    assert len(apply_releases(db, [moved], now=T1)[1]) == 1


def test_changed_and_changed_back_in_one_call_is_no_change() -> None:
    db, _ = apply_releases(empty_db(), [rel()], now=T0)
    again, changes = apply_releases(db, [rel(tag="sha-22222222"), rel()], now=T1)
    assert changes == () and dump_db(again) == dump_db(db)


def test_now_may_be_an_aware_datetime() -> None:
    from datetime import datetime, timedelta, timezone

    paris = timezone(timedelta(hours=1))
    db, _ = apply_releases(empty_db(), [rel()], now=datetime(2026, 1, 28, 11, 30, 0, 500, tzinfo=paris))
    assert db.releases[0].updated_at == T0
    with pytest.raises(InputError):
        apply_releases(empty_db(), [rel()], now=datetime(2026, 1, 28))


def test_now_must_be_a_utc_timestamp() -> None:
    with pytest.raises(InputError) as info:
        apply_releases(empty_db(), [rel()], now="yesterday")
    assert info.value.field == "now"


def test_release_db_refuses_duplicate_keys() -> None:
    with pytest.raises(ValueError, match="same"):
        ReleaseDB((rel(), rel(tag="sha-33333333")))


def good_text() -> str:
    return dump_db(apply_releases(empty_db(), [rel(), rel("b")], now=T0)[0])


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda d: "{not json", "is not valid JSON"),
        (lambda d: "[]", "must be a JSON object"),
        (lambda d: json.dumps({"releases": []}), "schemaVersion is missing"),
        (
            lambda d: json.dumps({"schemaVersion": 2, "releases": []}),
            "schemaVersion 2 is not supported by gitops-release",
        ),
        (
            lambda d: json.dumps({"schemaVersion": True, "releases": []}),
            "schemaVersion True is not supported",
        ),
        (lambda d: json.dumps({"schemaVersion": 1, "releases": [], "x": 1}), "unknown key 'x'"),
        (lambda d: json.dumps({"schemaVersion": 1, "releases": {}}), "releases must be an array"),
        (
            lambda d: json.dumps({**d, "releases": [{**d["releases"][0], "tag": "bad tag"}]}),
            "releases[0].tag",
        ),
        (
            lambda d: json.dumps(
                {**d, "releases": [d["releases"][0], {**d["releases"][1], "source": {"sha": SHA}}]}
            ),
            "releases[1].source.repository",
        ),
        (
            lambda d: json.dumps(
                {**d, "releases": [{k: v for k, v in d["releases"][0].items() if k != "updatedAt"}]}
            ),
            "releases[0].updatedAt is missing",
        ),
        (
            lambda d: json.dumps({**d, "releases": [d["releases"][0], d["releases"][0]]}),
            "releases[1] repeats",
        ),
    ],
)
def test_invalid_db_names_path_and_json_path(mutate, words: str) -> None:  # type: ignore[no-untyped-def]
    text = mutate(json.loads(good_text()))
    with pytest.raises(ConfigError) as info:
        load_db(text, path="db/db.json")
    assert info.value.message.startswith("db/db.json: ")
    assert words in info.value.message
    assert info.value.fix
    if "upgrade" in (info.value.fix or ""):
        assert SCHEMA_VERSION == 1


def test_unsorted_input_is_sorted_on_dump() -> None:
    data = json.loads(good_text())
    data["releases"].reverse()
    assert dump_db(load_db(json.dumps(data))) == good_text()


def test_ten_thousand_releases_round_trip_and_one_update_is_a_small_diff() -> None:
    releases = [rel(f"app-{i:05d}", channel) for i in range(3334) for channel in ("dev", "stage", "prod")][
        :10_000
    ]
    db, changes = apply_releases(empty_db(), releases, now=T0)
    assert len(db) == 10_000 and len(changes) == 10_000
    text = dump_db(db)
    loaded = load_db(text)
    assert loaded == db and dump_db(loaded) == text
    updated, changes = apply_releases(loaded, [rel("app-01234", "stage", tag="sha-deadbeef")], now=T1)
    assert [c.key for c in changes] == [("app-01234", "stage")]
    old, new = text.splitlines(), dump_db(updated).splitlines()
    assert len(old) == len(new)  # same line count: the diff is the lines that differ in place
    changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    # difflib on just the changed region (the whole file would be slow with autojunk off).
    lo, hi = changed[0], changed[-1] + 1
    diff = [line for line in difflib.ndiff(old[lo:hi], new[lo:hi]) if line[:1] in "+-"]
    diff = [line[0] + line[2:] for line in diff]
    assert sorted(diff) == sorted(
        [
            '-      "tag": "sha-1a2b3c4d",',
            '+      "tag": "sha-deadbeef",',
            f'-      "updatedAt": "{T0}"',
            f'+      "updatedAt": "{T1}"',
        ]
    )


def test_deeply_nested_db_is_a_config_error_not_a_crash() -> None:
    with pytest.raises(ConfigError) as info:
        load_db("[" * 30000 + "]" * 30000, path="db/db.json")
    assert info.value.message.startswith("db/db.json: ") and "nested too deeply" in info.value.message
    assert info.value.fix


def test_duplicate_keys_in_db_json_are_refused() -> None:
    text = dump_db(ReleaseDB((rel(updated_at=T0),)))
    doubled = text.replace('"tag": "sha-1a2b3c4d",', '"tag": "sha-1a2b3c4d",\n      "tag": "sha-99999999",')
    assert doubled != text
    with pytest.raises(ConfigError) as info:
        load_db(doubled, path="db/db.json")
    assert "'tag' twice" in info.value.message and info.value.fix
    with pytest.raises(ConfigError, match="'schemaVersion' twice"):
        load_db('{"schemaVersion": 2, "schemaVersion": 1, "releases": []}')
