"""The join after review 13b: --env and --since narrow the findings as they narrow the rows, a
container query answers what each environment holds now, a shallow clone's boundary is unknown."""

from __future__ import annotations

from datetime import datetime, timedelta

from gitops_release.core.trace_model import History, TraceResult
from tests.fixtures.trace import trace
from tests.unit.core.test_trace_f13 import IMAGE, T0, _history


def _trace(
    history: History, *, since: datetime | None = None, environments: tuple[str, ...] | None = None
) -> TraceResult:
    return trace(
        f"{IMAGE}:sha-1",
        history,
        now=T0 + timedelta(days=1),
        deployments=[],
        since=since,
        environments=environments,
    )


def test_since_drops_the_gaps_of_stays_that_ended_before_it() -> None:
    # stage held sha-1 from a (T0) to c (T0 + 2h), then again from d (T0 + 3h): no deployment at all.
    every = _trace(_history())
    stage_gaps = [f.message for f in every.findings if f.kind == "gap" and f.environment == "stage"]
    assert len(stage_gaps) == 2, stage_gaps
    since = T0 + timedelta(hours=2, minutes=30)  # after the first stage stay ended
    narrowed = _trace(_history(), since=since)
    stage = next(e for e in narrowed.environments if e.environment == "stage")
    assert [s.arrival.commit[0] for s in stage.stays] == ["d"]
    gaps = [f.message for f in narrowed.findings if f.kind == "gap" and f.environment == "stage"]
    assert len(gaps) == 1 and "d" * 12 in gaps[0], gaps


def test_a_container_query_answers_what_every_environment_holds_now() -> None:
    from gitops_release.core.trace_model import DbChange
    from tests.unit.core.test_trace import commit, history, ov, rel, trace

    # v1 dispatched to dev (db), promoted to staging and prod (overlays only); v2 dispatched to
    # dev later: db.json at head records dev's v2 alone.
    v1, v2 = rel("v1", n=1), rel("v2", n=5)
    hist = history(
        [
            ov(1, "dev", None, "v1", "dispatch"),
            ov(2, "staging", "v0", "v1"),
            ov(3, "prod", "v0", "v1"),
            ov(5, "dev", "v1", "v2", "dispatch"),
        ],
        [DbChange(commit(1), "app", "dev", None, v1), DbChange(commit(5), "app", "dev", v1, v2)],
        at_head={"dev": "v2", "staging": "v1", "prod": "v1"},
        db_head=(v2,),
    )
    result = trace("app", hist)
    assert [(i.tag, i.source_sha) for i in result.images] == [("v2", "c" * 40), ("v1", "c" * 40)]
    held = {
        (result.images[i].tag, e.environment)
        for i, e in zip(result.image_of_environment, result.environments, strict=True)
        if e.present
    }
    assert held == {("v2", "dev"), ("v1", "staging"), ("v1", "prod")}
    assert [i.tag for i in trace("app", hist, limit=1).images] == ["v2"]


def test_a_stay_that_begins_at_a_shallow_boundary_is_an_unknown_initial_arrival() -> None:
    import dataclasses

    # The clone's oldest commit is b (prod's promotion): prod held sha-1 then or before.
    shallow = dataclasses.replace(_history(), shallow=("b" * 40,))
    prod = next(e for e in _trace(shallow).environments if e.environment == "prod")
    assert [(s.arrival.kind, s.arrival.by) for s in prod.stays] == [("initial", None)]
    assert prod.present and prod.since is None
    stage = next(e for e in _trace(shallow).environments if e.environment == "stage")
    assert stage.soak_seconds is None  # no soak measured to an unknown arrival
    full = next(e for e in _trace(_history()).environments if e.environment == "prod")
    assert [(s.arrival.kind, s.arrival.by) for s in full.stays] == [("promote", "bot")]
