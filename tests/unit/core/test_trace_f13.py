"""The join after review 13: gaps only where GitHub's deployments were read (and after a cut
list's oldest one), and the Argo CD Applications of the traced image's apps."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone

from gitops_release.core.promotion import ImageState
from gitops_release.core.trace_model import (
    ArgoApp,
    Commit,
    DeploymentRecord,
    Finding,
    History,
    OverlayChange,
    TraceResult,
)
from tests.fixtures.trace import trace

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
    return trace(f"{IMAGE}:sha-1", history, now=T0 + timedelta(days=1), **kwargs)  # type: ignore[arg-type]


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


def test_the_table_wraps_a_long_finding_and_note_instead_of_cutting_them() -> None:
    from gitops_release.core.trace_render import render_table

    note = "db.json at 0123456789ab was reformatted by hand; " + "every later version was read in full " * 4
    result = _trace(_history(), argo=None, deployments=None)
    result = dataclasses.replace(
        result,
        findings=(*result.findings, Finding("gap", "stage", "no deployment status: " + "x " * 80 + "END")),
        notes=(note.strip(),),
    )
    table = render_table(result, width=60)
    assert all(len(line) <= 60 for line in table.splitlines())
    assert "…" not in table.split("findings:")[1].split("timeline")[0]
    joined = " ".join(line.strip() for line in table.splitlines())
    assert "END" in joined and "every later version was read in full every later version" in joined


def test_a_stay_replaced_in_the_same_second_or_before_it_arrived_still_draws_a_bar() -> None:
    from gitops_release.core.trace_render import render_mermaid

    a = _commit("a", T0)
    skewed = _commit("b", T0 - timedelta(minutes=5))  # the committer's clock was behind
    same = _commit("c", T0 + timedelta(hours=1))
    history = dataclasses.replace(
        _history(),
        overlay_changes=(
            _change(a, "stage", "sha-1"),
            _change(skewed, "stage", "sha-2", "sha-1"),
            _change(same, "prod", "sha-1"),
            _change(same, "prod", "sha-2", "sha-1", app="other"),
        ),
        overlays_at_head=(),
    )
    gantt = render_mermaid(_trace(history, argo=None, deployments=None))
    bars = re.findall(r":s\d+, (\S+), (\S+)$", gantt, re.MULTILINE)
    assert bars and all(end > start for start, end in bars), gantt


def test_a_finding_says_what_is_wrong_first_and_shortens_the_digest() -> None:
    digest = "sha256:" + "3b" * 32
    a = _commit("a", T0)
    state = ImageState(IMAGE, new_tag="sha-1", digest=digest)
    history = dataclasses.replace(
        _history(),
        overlay_changes=(
            OverlayChange(
                a, "dev", "app", "apps/app/overlays/dev/kustomization.yaml", IMAGE, None, state, "promote"
            ),
        ),
        overlays_at_head=(("dev", "app", "apps/app/overlays/dev/kustomization.yaml", state),),
    )
    result = trace(f"{IMAGE}:sha-1@{digest}", history, now=T0 + timedelta(days=1), deployments=[])
    [gap] = [f for f in result.findings if f.kind == "gap"]
    assert gap.message.startswith("no deployment status"), gap.message
    assert "sha256:3b3b3b3b3b3b" in gap.message and digest not in gap.message
