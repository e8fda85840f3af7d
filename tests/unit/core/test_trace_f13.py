"""The join after review 13: gaps only where GitHub's deployments were read (and after a cut
list's oldest one), and the Argo CD Applications of the traced image's apps."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gitops_release.core.promotion import ImageState
from gitops_release.core.trace import build_trace, parse_query
from gitops_release.core.trace_model import (
    ArgoApp,
    Commit,
    DeploymentRecord,
    History,
    OverlayChange,
    TraceResult,
)

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
IMAGE = "ghcr.io/org/app"


def _commit(sha: str, at: datetime) -> Commit:
    return Commit(sha * 40, (), "bot", "bot@x", at, "bot", at, f"promote {sha}", "")


def _change(commit: Commit, env: str, tag: str, before: str | None = None, app: str = "app") -> OverlayChange:
    return OverlayChange(
        commit,
        env,
        app,
        f"apps/{app}/overlays/{env}/kustomization.yaml",
        IMAGE,
        ImageState(IMAGE, new_tag=before) if before else None,
        ImageState(IMAGE, new_tag=tag),
        "promote",
    )


def _history() -> History:
    """sha-1 promoted to stage and prod (commits a, b); sha-2 to stage later (c), then sha-1 back (d)."""
    a, b = _commit("a", T0), _commit("b", T0 + timedelta(hours=1))
    c, d = _commit("c", T0 + timedelta(hours=2)), _commit("d", T0 + timedelta(hours=3))
    return History(
        ref="main",
        head="d" * 40,
        environments=("dev", "stage", "prod"),
        db_changes=(),
        overlay_changes=(
            _change(a, "stage", "sha-1"),
            _change(b, "prod", "sha-1"),
            _change(c, "stage", "sha-2", "sha-1"),
            _change(d, "stage", "sha-1", "sha-2"),
        ),
        db_at_head=(),
        overlays_at_head=(
            (
                "stage",
                "app",
                "apps/app/overlays/stage/kustomization.yaml",
                ImageState(IMAGE, new_tag="sha-1"),
            ),
            ("prod", "app", "apps/app/overlays/prod/kustomization.yaml", ImageState(IMAGE, new_tag="sha-1")),
        ),
    )


def _trace(history: History, **kwargs: object) -> TraceResult:
    return build_trace(
        parse_query(f"{IMAGE}:sha-1"),
        history,
        since=None,
        environments=None,
        limit=None,
        now=T0 + timedelta(days=1),
        **kwargs,  # type: ignore[arg-type]
    )


def _gaps(result: TraceResult) -> list[tuple[str | None, str]]:
    return sorted((f.environment, f.message[:60]) for f in result.findings if f.kind == "gap")


def test_no_gap_is_claimed_for_an_environment_whose_deployments_were_not_read() -> None:
    # stage was read (its first stay has a deployment, its second none: a gap); prod's read failed.
    deployments = [DeploymentRecord(1, "stage", "a" * 40, T0 + timedelta(minutes=5), "success")]
    result = _trace(_history(), argo=None, deployments=deployments, deployments_read={"stage": None})
    gaps = [f for f in result.findings if f.kind == "gap"]
    assert [f.environment for f in gaps] == ["stage"] and "d" * 12 in gaps[0].message
    # Every environment read (the old behaviour, the default): prod's stay is a gap too.
    every = _trace(_history(), argo=None, deployments=deployments)
    assert [env for env, _ in _gaps(every)] == ["prod", "stage"]


def test_a_cut_deployment_list_claims_no_gap_before_its_oldest_deployment() -> None:
    # stage's list was cut: only deployments since T0 + 2h30 were read; the stay that arrived at
    # T0 (a) cannot be judged, the one that arrived at T0 + 3h (d) can.
    deployments = [DeploymentRecord(9, "stage", "e" * 40, T0 + timedelta(hours=2, minutes=30), "success")]
    read = {"stage": T0 + timedelta(hours=2, minutes=30), "prod": None}
    result = _trace(_history(), argo=None, deployments=deployments, deployments_read=read)
    stage_gaps = [f.message for f in result.findings if f.kind == "gap" and f.environment == "stage"]
    assert len(stage_gaps) == 1 and ("d" * 12) in stage_gaps[0], stage_gaps
    assert [f.environment for f in result.findings if f.kind == "gap" and f.environment == "prod"] == ["prod"]


def test_each_application_of_the_image_s_apps_is_judged_and_named() -> None:
    # Two Applications deploy the stage overlay of app (say, two clusters); one runs it, one does not.
    history = _history()
    synced = ArgoApp(
        "app-stage-eu", "stage", "Synced", "Healthy", "d" * 40, (), (("d" * 40, True),), app="app"
    )
    behind = ArgoApp(
        "app-stage-us", "stage", "Synced", "Healthy", "c" * 40, (), (("c" * 40, False),), app="app"
    )
    other = ArgoApp(
        "api-stage", "stage", "OutOfSync", "Degraded", "c" * 40, (), (("c" * 40, False),), app="api"
    )
    result = _trace(history, argo=[other, behind, synced], deployments=None)
    stage = next(e for e in result.environments if e.environment == "stage")
    assert (stage.argo_app, stage.live) == ("app-stage-eu, app-stage-us", False)
    drift = [f.message for f in result.findings if f.kind == "drift"]
    assert len(drift) == 1 and "app-stage-us" in drift[0] and "api-stage" not in " ".join(drift)
