"""The join after review 13b: --env and --since narrow the findings as they narrow the rows, a
container query answers what each environment holds now, a shallow clone's boundary is unknown."""

from __future__ import annotations

from datetime import datetime, timedelta

from gitops_release.core.trace import build_trace, parse_query
from gitops_release.core.trace_model import History, TraceResult
from tests.unit.core.test_trace_f13 import IMAGE, T0, _history


def _trace(
    history: History, *, since: datetime | None = None, environments: tuple[str, ...] | None = None
) -> TraceResult:
    return build_trace(
        parse_query(f"{IMAGE}:sha-1"),
        history,
        argo=None,
        deployments=[],
        since=since,
        environments=environments,
        limit=None,
        now=T0 + timedelta(days=1),
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
