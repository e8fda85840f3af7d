"""core/release_index.py: lookups built at load time, the bodies, the ETag, the health document."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gitops_release.core.db import dump_db, load_db
from gitops_release.core.release_index import (
    build_index,
    compute_etag,
    health_document,
    overall_status,
    query,
    releases_body,
)
from tests.fixtures.serve_api import db_text, release

LOADED = "2026-02-01T10:00:00Z"
RELEASES = [
    release("api", "dev", tag="v2"),
    release("api", "prod", tag="v1"),
    release("web", "dev", tag="v9", digest="sha256:" + "a" * 64),
]


def index_of(releases=RELEASES, revision="rev-1", loaded_at=LOADED):
    return build_index(load_db(db_text(releases)), loaded_at=loaded_at, revision=revision)


class Unscannable(tuple):
    """Stands in for the release list: any iteration of the whole db fails the test."""

    def __iter__(self):
        raise AssertionError("scanned the whole db")

    def __len__(self):
        raise AssertionError("scanned the whole db")


def test_query_by_container_channel_and_both():
    index = index_of()
    assert [r.tag for r in query(index, container="api", channel=None)] == ["v2", "v1"]
    assert [r.container for r in query(index, container=None, channel="dev")] == ["api", "web"]
    assert [r.tag for r in query(index, container="api", channel="prod")] == ["v1"]
    assert query(index, container="api", channel="stage") == ()
    assert query(index, container="nope", channel=None) == ()
    assert query(index, container=None, channel="nope") == ()
    assert len(query(index, container=None, channel=None)) == 3


def test_filtered_lookups_never_scan_the_whole_db():
    index = dataclasses.replace(index_of(), releases=Unscannable())
    assert len(query(index, container="api", channel=None)) == 2
    assert len(query(index, container=None, channel="dev")) == 2
    assert len(query(index, container="web", channel="dev")) == 1
    for container, channel in (("api", None), (None, "dev"), ("web", "dev"), ("x", None)):
        releases_body(index, container=container, channel=channel)


@pytest.mark.parametrize(
    ("container", "channel", "expected"),
    [
        (None, None, RELEASES),
        ("api", None, RELEASES[:2]),
        (None, "dev", [RELEASES[0], RELEASES[2]]),
        ("web", "dev", RELEASES[2:]),
        ("web", "prod", []),
        ("zzz", None, []),
    ],
)
def test_body_holds_the_releases_exactly_as_db_json_does(container, channel, expected):
    index = index_of()
    body, count = releases_body(index, container=container, channel=channel)
    document = json.loads(body)
    # no loadedAt: one db gives the same bytes whenever and wherever it was loaded (strong ETag)
    assert document == {"releases": expected, "count": len(expected), "revision": "rev-1"}
    assert count == len(expected)
    # the same keys in the same order as the db file
    stored = json.loads(dump_db(load_db(db_text(RELEASES))))["releases"]
    for item in document["releases"]:
        assert list(item) == list(next(s for s in stored if s["container"] == item["container"]))


def test_empty_db_has_an_empty_body():
    index = build_index(load_db(db_text([])), loaded_at=LOADED, revision=None)
    assert json.loads(releases_body(index, container=None, channel=None)[0]) == {
        "releases": [],
        "count": 0,
        "revision": None,
    }
    assert len(index) == 0


def test_etag_names_the_content_and_the_revision():
    first = index_of()
    assert first.etag.startswith('"sha256-') and first.etag.endswith('"') and len(first.etag) == 73
    # the same db read again (any key order, any layout) at the same revision: the same ETag
    assert index_of(list(reversed(RELEASES)), loaded_at="2027-01-01T00:00:00Z").etag == first.etag
    assert first.etag == compute_etag(first.all_array, "rev-1")
    changed = [release("api", "dev", tag="v3"), *RELEASES[1:]]
    assert index_of(changed).etag != first.etag
    assert index_of(revision="rev-2").etag != first.etag
    assert index_of(revision=None).etag != first.etag


def test_overall_status_is_the_worst_check():
    assert overall_status({}) == "healthy"
    assert overall_status({"database": "healthy", "source": "healthy"}) == "healthy"
    assert overall_status({"database": "healthy", "source": "degraded", "sourceReason": "x"}) == "degraded"
    assert overall_status({"database": "unhealthy", "source": "degraded"}) == "unhealthy"


def test_health_document_is_seed_004s_contract():
    document = health_document(
        "degraded",
        "1.2.3",
        "2025-09-25T10:00:00Z",
        {"database": "degraded"},
        reasons={"database": "db.json is not valid JSON"},
        dependencies=[{"name": "https://git.example/config", "status": "healthy", "latency_ms": 45}],
    )
    assert document == {
        "status": "degraded",
        "version": "1.2.3",
        "timestamp": "2025-09-25T10:00:00Z",
        "checks": {"database": "degraded"},
        "reasons": {"database": "db.json is not valid JSON"},
        "dependencies": [{"name": "https://git.example/config", "status": "healthy", "latency_ms": 45}],
    }
    with pytest.raises(ValueError, match="'ok' is not one of healthy, degraded, unhealthy"):
        health_document("ok", "1", "t", {})
    # checks hold statuses only (seed 004): a reason goes under reasons
    with pytest.raises(ValueError, match="check 'databaseReason' is 'broken'"):
        health_document("degraded", "1", "t", {"database": "degraded", "databaseReason": "broken"})


def test_etag_is_the_sha256_of_the_releases_a_nul_and_the_revision():
    import hashlib

    assert compute_etag(b"text", None) == '"sha256-' + hashlib.sha256(b"text\0").hexdigest() + '"'
    assert compute_etag(b"text", "abc") == '"sha256-' + hashlib.sha256(b"text\0abc").hexdigest() + '"'


def test_index_keeps_its_load_time_and_revision():
    index = index_of(revision="rev-7", loaded_at="2026-03-01T00:00:00Z")
    assert (index.revision, index.loaded_at) == ("rev-7", "2026-03-01T00:00:00Z")


def test_a_containers_array_is_the_one_rendered_at_load_time():
    index = dataclasses.replace(index_of(), container_arrays={"api": b'["pre-rendered"]'})
    body, count = releases_body(index, container="api", channel=None)
    assert json.loads(body)["releases"] == ["pre-rendered"] and count == 2
