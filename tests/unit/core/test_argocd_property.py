"""Properties of the Argo CD readiness rules: observe is total, revision matching is symmetric
and needs 7 hex digits, the tracker never says DONE unless assess did, the Degraded grace is
exact arithmetic."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_release.core.argocd import (
    Expectation,
    Verdict,
    WaitTracker,
    assess,
    gantt,
    observe,
    progress_line,
    revision_matches,
)

KEYS = st.sampled_from(
    [
        "metadata",
        "spec",
        "status",
        "operation",
        "name",
        "namespace",
        "project",
        "destination",
        "source",
        "sources",
        "sync",
        "health",
        "status",
        "revision",
        "revisions",
        "operationState",
        "phase",
        "message",
        "startedAt",
        "finishedAt",
        "syncResult",
        "resources",
        "reconciledAt",
        "conditions",
        "type",
        "summary",
        "images",
        "history",
        "id",
        "deployedAt",
        "repoURL",
        "chart",
        "hookPhase",
        "server",
    ]
) | st.text(max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
    | st.sampled_from(
        ["Synced", "Healthy", "Degraded", "Running", "Failed", "Succeeded", "2024-01-01T00:00:00Z"]
    )
    | st.datetimes()
    | st.dates()
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=40,
)
HEX = "0123456789abcdef"
SHAS = st.text(alphabet=HEX, min_size=40, max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(KEYS, JSONISH, max_size=6),
    st.lists(st.none() | st.text(max_size=41), min_size=1, max_size=3),
)
def test_observe_and_assess_are_total(doc: dict[str, Any], revisions: list[str | None]) -> None:
    obs = observe(doc)
    result = assess(obs, Expectation(tuple(revisions)))
    assert isinstance(result.verdict, Verdict) and "\n" not in result.reason
    progress_line("x", obs, 1.0)


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {"status": st.fixed_dictionaries({"sync": JSONISH, "health": JSONISH, "operationState": JSONISH})},
        optional={"metadata": JSONISH, "spec": JSONISH, "operation": JSONISH},
    )
)
def test_observe_is_total_on_app_shaped_garbage(doc: dict[str, Any]) -> None:
    obs = observe(doc)
    assert obs.health_status != "Healthy" or doc["status"]["health"]["status"] == "Healthy"


@given(st.text(max_size=45), st.none() | st.text(max_size=45))
def test_revision_matches_is_symmetric(a: str, b: str | None) -> None:
    assert revision_matches(a, b) == (b is not None and revision_matches(b, a))


@given(SHAS, st.integers(min_value=0, max_value=40), st.booleans())
def test_prefix_rule(sha: str, length: int, upper: bool) -> None:
    prefix = sha[:length].upper() if upper else sha[:length]
    assert revision_matches(prefix, sha) is (length >= 7)


@given(SHAS, SHAS, st.integers(min_value=7, max_value=40))
def test_different_shas_do_not_match(a: str, b: str, length: int) -> None:
    assert revision_matches(a[:length], b) is b.startswith(a[:length])


SHA = "ab" * 20
STATE = st.fixed_dictionaries(
    {
        "sync": st.sampled_from(["Synced", "OutOfSync", "Unknown"]),
        "health": st.sampled_from(
            ["Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown", None]
        ),
        "phase": st.sampled_from(["Running", "Succeeded", "Failed", "Error", None]),
        "revision": st.sampled_from([SHA, "cd" * 20]),
        "fresh": st.booleans(),
        "error": st.booleans(),
        "gone": st.booleans(),
    }
)


def build(state: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = {"sync": {"status": state["sync"], "revision": state["revision"]}}
    if state["health"]:
        status["health"] = {"status": state["health"]}
    if state["phase"]:
        status["operationState"] = {
            "phase": state["phase"],
            "finishedAt": "2024-01-01T00:00:05Z",
            "syncResult": {"revision": state["revision"]},
        }
    status["reconciledAt"] = "2024-01-01T00:00:06Z" if state["fresh"] else "2024-01-01T00:00:04Z"
    if state["error"]:
        status["conditions"] = [{"type": "ComparisonError", "message": "boom"}]
    return {"metadata": {"name": "a"}, "status": status}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(STATE, st.floats(min_value=0, max_value=50)), min_size=1, max_size=12),
    st.floats(min_value=0, max_value=60),
    st.booleans(),
)
def test_tracker_says_done_only_when_assess_does_and_grace_is_exact(
    steps: list[tuple[dict[str, Any], float]], grace: float, allow_suspended: bool
) -> None:
    expectation = Expectation((SHA[:9],), allow_suspended=allow_suspended)
    t = WaitTracker("a", expectation, degraded_grace=grace, started=1000.0)
    now = 1000.0
    degraded_since: float | None = None
    for state, delta in steps:
        now += delta
        if state["gone"]:
            assert t.update(None, now).verdict is Verdict.FAILED
            degraded_since = None
            continue
        obs = observe(build(state))
        plain = assess(obs, expectation)
        result = t.update(obs, now)
        if result.verdict is Verdict.DONE:
            assert plain.verdict is Verdict.DONE and t.done_at is not None
        if plain.verdict is Verdict.DEGRADED:
            degraded_since = now if degraded_since is None else degraded_since
            expired = grace <= 0 or now - degraded_since >= grace
            assert result.verdict is (Verdict.FAILED if expired else Verdict.DEGRADED)
            assert t.deadline_hint(now) == degraded_since + grace
        else:
            degraded_since = None
            assert result == plain
            assert t.deadline_hint(now) is None


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.text(max_size=10), st.lists(STATE, max_size=5), max_size=3),
    st.floats(min_value=0, max_value=1e5),
)
def test_gantt_task_lines_have_one_separator(states: dict[str, list[dict[str, Any]]], ended: float) -> None:
    from gitops_release.core.argocd import Transition

    timelines = {
        name: [
            Transition(float(i), s["sync"], s["health"] or "Unknown", s["phase"], s["revision"])
            for i, s in enumerate(rows)
        ]
        for name, rows in states.items()
    }
    text = gantt(timelines, started_at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), ended=ended)
    for line in text.splitlines()[5:-1]:
        stripped = line.strip()
        if stripped.startswith("section "):
            assert ":" not in stripped and "\n" not in stripped
        else:
            assert stripped.count(" :") == 1
