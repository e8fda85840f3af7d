"""The release-channel API's view of db.json: an index built once per load, answers per request.

``build_index`` turns a validated ``ReleaseDB`` into lookups by container, by channel and by
(container, channel), and renders every release's JSON once, so a request costs a dictionary
lookup and a join of the matching releases' bytes: no scan of the whole db per request
(10,000 releases, 50 connections: docs/benchmarks.md). An index is immutable; the server swaps
the whole object on reload, so a request that holds one sees one version from start to end.

``etag`` names the body of every response made from the index: the releases' canonical JSON
(keys in db.json's order, compact, sorted by container and channel) and the revision they came
from, hashed. A body holds only those (releases, count, revision), never ``loaded_at``: two loads
of the same db at the same revision, on one pod or on two, give the same bytes under the same
strong ETag (RFC 9110 8.8.1); the server sends ``loaded_at`` as a header.

Pure: no I/O, no clock (``loaded_at`` is passed in).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gitops_release.core.db import ReleaseDB
from gitops_release.core.release import Release

#: The statuses of seed 004's health contract, best first.
HEALTH_STATUSES = ("healthy", "degraded", "unhealthy")


@dataclass(frozen=True)
class ReleaseIndex:
    """One loaded version of the db. ``releases`` in db.json's order (container, channel)."""

    releases: tuple[Release, ...]
    by_container: Mapping[str, tuple[Release, ...]]
    by_channel: Mapping[str, tuple[Release, ...]]
    by_key: Mapping[tuple[str, str], Release]
    etag: str  # strong ETag, quoted: '"sha256-<hex>"'
    loaded_at: str  # RFC 3339 UTC
    revision: str | None  # the commit (git source) or content digest (file source)
    #: Each release's JSON exactly as db.json holds it (keys in the same order), compact.
    json_of: Mapping[tuple[str, str], bytes]
    #: The JSON arrays of every release and of each container's releases, rendered once.
    all_array: bytes
    container_arrays: Mapping[str, bytes]
    #: What every body ends with: ``,"count": n`` comes before it.
    tail: bytes

    def __len__(self) -> int:
        return len(self.releases)


def compute_etag(canonical: bytes, revision: str | None) -> str:
    digest = hashlib.sha256(canonical)
    digest.update(b"\0" + (revision or "").encode("utf-8"))
    return f'"sha256-{digest.hexdigest()}"'


def build_index(db: ReleaseDB, *, loaded_at: str, revision: str | None = None) -> ReleaseIndex:
    """The index of ``db`` (already validated by ``load_db``), loaded at ``loaded_at``."""
    by_container: dict[str, list[Release]] = {}
    by_channel: dict[str, list[Release]] = {}
    by_key: dict[tuple[str, str], Release] = {}
    json_of: dict[tuple[str, str], bytes] = {}
    for release in db.releases:
        by_container.setdefault(release.container, []).append(release)
        by_channel.setdefault(release.channel, []).append(release)
        by_key[release.key] = release
        json_of[release.key] = orjson.dumps(release.to_json())
    containers = {name: tuple(items) for name, items in by_container.items()}
    all_array = _array(json_of, db.releases)
    tail = orjson.dumps({"revision": revision})
    return ReleaseIndex(
        releases=db.releases,
        by_container=containers,
        by_channel={name: tuple(items) for name, items in by_channel.items()},
        by_key=by_key,
        etag=compute_etag(all_array, revision),
        loaded_at=loaded_at,
        revision=revision,
        json_of=json_of,
        all_array=all_array,
        container_arrays={name: _array(json_of, items) for name, items in containers.items()},
        tail=b"," + tail[1:],
    )


def _array(json_of: Mapping[tuple[str, str], bytes], releases: tuple[Release, ...]) -> bytes:
    return b"[" + b",".join([json_of[release.key] for release in releases]) + b"]"


def query(index: ReleaseIndex, *, container: str | None, channel: str | None) -> tuple[Release, ...]:
    """The releases matching both filters (None: any), in db.json's order. A dictionary lookup:
    O(matches), never a scan of the db."""
    if container is not None and channel is not None:
        release = index.by_key.get((container, channel))
        return () if release is None else (release,)
    if container is not None:
        return index.by_container.get(container, ())
    if channel is not None:
        return index.by_channel.get(channel, ())
    return index.releases


def releases_body(index: ReleaseIndex, *, container: str | None, channel: str | None) -> tuple[bytes, int]:
    """The JSON body ``{"releases": [...], "count": n, "revision": ...}`` of the
    releases ``query`` finds, and n. The arrays of the whole db and of one container are
    rendered at load time; other answers join the matching releases' rendered JSON."""
    if channel is None and container is None:
        array, count = index.all_array, len(index.releases)
    elif channel is None and container is not None:
        array = index.container_arrays.get(container, b"[]")
        count = len(index.by_container.get(container, ()))
    else:
        found = query(index, container=container, channel=channel)
        array, count = _array(index.json_of, found), len(found)
    return b'{"releases":' + array + b',"count":' + str(count).encode() + index.tail, count


def overall_status(checks: Mapping[str, str]) -> str:
    """The worst status among the checks' status values (``healthy`` when there are none)."""
    worst = 0
    for value in checks.values():
        if value in HEALTH_STATUSES:
            worst = max(worst, HEALTH_STATUSES.index(value))
    return HEALTH_STATUSES[worst]


def health_document(
    status: str,
    version: str,
    timestamp: str,
    checks: Mapping[str, str],
    *,
    reasons: Mapping[str, str] | None = None,
    dependencies: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Seed 004's health response: ``{"status", "version", "timestamp", "checks",
    "dependencies"}``, ``checks`` holding statuses only; ``reasons`` (not in the seed) says why
    each check that is not healthy is so."""
    if status not in HEALTH_STATUSES:
        raise ValueError(f"health status {status!r} is not one of {', '.join(HEALTH_STATUSES)}")
    for name, value in checks.items():
        if value not in HEALTH_STATUSES:
            raise ValueError(f"check {name!r} is {value!r}, not one of {', '.join(HEALTH_STATUSES)}")
    return {
        "status": status,
        "version": version,
        "timestamp": timestamp,
        "checks": dict(checks),
        "reasons": dict(reasons or {}),
        "dependencies": [dict(dependency) for dependency in dependencies],
    }
