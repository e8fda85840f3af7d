"""sandbox/argocd/state.py: the types and helpers the controller and the operation runner share."""

from __future__ import annotations

import dataclasses

import pytest

from gitops_release.sandbox.argocd import render
from gitops_release.sandbox.argocd.state import (
    FAULT_KINDS,
    Fault,
    Timing,
    as_dict,
    go_duration,
    iso,
    resource_name,
    target_sources,
    worst,
)


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_fault_kind_is_accepted(kind: str) -> None:
    assert Fault(kind, duration=1.0).kind == kind


@pytest.mark.parametrize("kind", ["", "Degraded", "sync_failed", "slow"])
def test_an_unknown_fault_kind_is_refused_naming_the_kinds(kind: str) -> None:
    with pytest.raises(ValueError, match=f"unknown fault {kind!r}: one of degraded, sync-failed, "):
        Fault(kind)


def test_timing_keeps_argo_cds_retry_count_and_is_frozen() -> None:
    timing = Timing()
    assert (timing.default_retry_limit, timing.auto_refresh_interval) == (5, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        timing.sync_duration = 1.0  # type: ignore[misc]


def test_iso_is_utc_to_the_second() -> None:
    assert iso(1_700_000_000.999) == "2023-11-14T22:13:20Z"
    assert iso(0) == "1970-01-01T00:00:00Z"


@pytest.mark.parametrize("value", [None, [], "x", 3])
def test_as_dict_gives_an_empty_mapping_for_anything_else(value: object) -> None:
    assert as_dict(value) == {}
    same = {"a": 1}
    assert as_dict(same) is same


def test_target_sources_prefers_sources_and_tolerates_junk() -> None:
    one = {"repoURL": "r", "path": "p"}
    assert target_sources({"source": one}) == ([one], False)
    assert target_sources({"source": one, "sources": [one, "junk"]}) == ([one, {}], True)
    assert target_sources({"source": one, "sources": []}) == ([one], False)  # empty: not multi
    assert target_sources({"source": "junk"}) == ([{}], False)
    assert target_sources({}) == ([{}], False)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("100ms", 0.1), ("1m30s", 90.0), ("3m", 180.0), ("1h", 3600.0), ("2.5s", 2.5), (7, 7.0)],
)
def test_go_duration(text: object, seconds: float) -> None:
    assert go_duration(text, -1.0) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "5", "5x", "s", "5s junk", "-5s", "1d"])
def test_a_bad_go_duration_is_the_default(text: object) -> None:
    assert go_duration(text, 0.25) == 0.25


def test_resource_name_is_kind_dot_group_slash_name() -> None:
    deployment = render.Resource("apps", "v1", "Deployment", "web", "api", "d", ())
    service = render.Resource("", "v1", "Service", "web", "api", "d", ())
    assert (resource_name(deployment), resource_name(service)) == ("deployment.apps/api", "service/api")


def test_worst_follows_argo_cds_health_order() -> None:
    assert worst([]) == "Healthy"
    assert worst(["Healthy", "Progressing", "Suspended"]) == "Progressing"
    assert worst(["Progressing", "Missing"]) == "Missing"
    assert worst(["Degraded", "Missing", "Healthy"]) == "Degraded"
    assert worst(["Degraded", "Unknown"]) == "Unknown"
    assert worst(["Unknown", "SomethingNew"]) == "SomethingNew"  # not in the order: the worst
