"""Review of issue 13 (trace): the join given hostile or skewed commit dates.

A config repo's commit dates are whatever the committer's clock (or an attacker) wrote; the
order of history is the first-parent order the reader lists, oldest first. The join must follow
that order, never re-sort changes by committer date."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from gitops_release.core.release import Release, Source
from gitops_release.core.trace_model import Commit, DbChange, History
from tests.fixtures.trace import trace

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
IMAGE = "ghcr.io/org/app"


def _commit(sha: str, at: datetime) -> Commit:
    return Commit(sha * 40, (), "bot", "bot@x", at, "bot", at, f"update-db {sha}", "")


def _release(tag: str) -> Release:
    return Release("app", "dev", IMAGE, tag, None, Source("org/app", "c" * 40), None)


def test_db_channel_stays_follow_history_order_not_committer_dates() -> None:
    # dispatch sha-1 to dev, then dispatch sha-2; the second commit's clock was 3 days behind.
    first = _commit("a", T0)
    second = _commit("b", T0 - timedelta(days=3))
    history = History(
        ref="main",
        head="b" * 40,
        environments=("dev", "prod"),
        db_changes=(
            DbChange(first, "app", "dev", None, _release("sha-1")),
            DbChange(second, "app", "dev", _release("sha-1"), _release("sha-2")),
        ),
        overlay_changes=(),
        db_at_head=(_release("sha-2"),),
        overlays_at_head=(),
    )
    result = trace(f"{IMAGE}:sha-1", history, now=T0 + timedelta(days=1))
    dev = result.environments[0]
    assert not dev.present
    # sha-1 was replaced by sha-2 at commit b: one stay, closed, with what replaced it.
    assert [(s.arrival.commit, s.left_commit, s.replaced_by) for s in dev.channel_stays] == [
        ("a" * 40, "b" * 40, f"{IMAGE}:sha-2")
    ]


def test_a_note_is_said_once_in_the_table_and_the_markdown() -> None:
    # Every note is also a "skipped" finding; both sections print it: each line comes out twice.
    from gitops_release.core.trace_render import render_markdown, render_table

    note = "GitHub deployments not read: no github-token (or GITHUB_TOKEN) given"
    history = History(
        ref="main",
        head="a" * 40,
        environments=("dev",),
        db_changes=(DbChange(_commit("a", T0), "app", "dev", None, _release("sha-1")),),
        overlay_changes=(),
        db_at_head=(_release("sha-1"),),
        overlays_at_head=(),
        notes=(note,),
    )
    result = trace(f"{IMAGE}:sha-1", history, now=T0)
    assert render_table(result, width=200).count(note) == 1
    assert render_markdown(result).count(note) == 1


def test_a_dispatch_to_dev_is_no_gap_only_a_promotion_without_a_deployment_status_is() -> None:
    # The issue: "a promotion with no deployment status" is a gap. update-db's write-through to dev
    # is no promotion (the demo's own flow reports deployments for promotions only, and every
    # trace of it opens with "gap dev").
    from gitops_release.core.promotion import ImageState
    from gitops_release.core.trace_model import DeploymentRecord, OverlayChange

    dispatched, promoted = _commit("a", T0), _commit("b", T0 + timedelta(hours=1))

    def change(commit: Commit, env: str, kind: str) -> OverlayChange:
        return OverlayChange(
            commit,
            env,
            "app",
            f"apps/app/overlays/{env}/kustomization.yaml",
            IMAGE,
            None,
            ImageState(IMAGE, new_tag="sha-1"),
            kind,  # type: ignore[arg-type]
        )

    history = History(
        ref="main",
        head="b" * 40,
        environments=("dev", "stage"),
        db_changes=(DbChange(dispatched, "app", "dev", None, _release("sha-1")),),
        overlay_changes=(change(dispatched, "dev", "dispatch"), change(promoted, "stage", "promote")),
        db_at_head=(_release("sha-1"),),
        overlays_at_head=(),
    )
    deployments = [DeploymentRecord(1, "stage", "b" * 40, T0 + timedelta(hours=1, minutes=5), "success")]
    result = trace(f"{IMAGE}:sha-1", history, now=T0 + timedelta(days=1), deployments=deployments)
    assert [f for f in result.findings if f.kind == "gap"] == []
