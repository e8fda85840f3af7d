"""Review of issue 13 (trace): the command's inputs (since, argocd-server) and the live state and
drift in a config repo of many apps (overlays.dir apps/*/overlays: one Application per app and env)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gitops_release.commands import trace
from gitops_release.core.promotion import ImageState
from gitops_release.core.trace import build_trace, parse_query
from gitops_release.core.trace_model import ArgoApp, Commit, History, OverlayChange
from gitops_release.errors import InputError
from gitops_release.runtime import InputReader

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
WEB = "ghcr.io/org/web"
API = "ghcr.io/org/api"
R0, R1 = "0" * 40, "1" * 40


def _file(app: str) -> str:
    return f"apps/{app}/overlays/stage/kustomization.yaml"


def test_live_and_drift_come_from_the_application_of_the_traced_app() -> None:
    promoted = Commit(R1, (R0,), "alice", "a@x", T0, "alice", T0, "promote web dev -> stage (#3)", "", 3)
    history = History(
        ref="main",
        head=R1,
        environments=("dev", "stage"),
        db_changes=(),
        overlay_changes=(
            OverlayChange(
                promoted,
                "stage",
                "web",
                _file("web"),
                WEB,
                ImageState(WEB, new_tag="sha-0"),
                ImageState(WEB, new_tag="sha-1"),
                "promote",
            ),
        ),
        db_at_head=(),
        overlays_at_head=(
            ("stage", "api", _file("api"), ImageState(API, new_tag="v9")),
            ("stage", "web", _file("web"), ImageState(WEB, new_tag="sha-1")),
        ),
    )
    # What the commit trees hold (overlay_states_at): web's stage overlay got sha-1 at R1.
    states = {
        R0: [
            ("stage", "api", _file("api"), ImageState(API, new_tag="v9")),
            ("stage", "web", _file("web"), ImageState(WEB, new_tag="sha-0")),
        ],
        R1: [
            ("stage", "api", _file("api"), ImageState(API, new_tag="v9")),
            ("stage", "web", _file("web"), ImageState(WEB, new_tag="sha-1")),
        ],
    }
    # api-stage synced the newest commit; web-stage (the traced app's) is still at R0.
    apps = [
        ArgoApp("api-stage", "stage", "Synced", "Healthy", R1, (), app="api"),
        ArgoApp("web-stage", "stage", "OutOfSync", "Healthy", R0, (), app="web"),
    ]
    query = parse_query(f"{WEB}:sha-1")
    first = build_trace(
        query, history, argo=None, deployments=None, since=None, environments=None, limit=None, now=T0
    )
    result = build_trace(
        query,
        history,
        argo=trace._with_revisions(apps, first.images[0], states),
        deployments=None,
        since=None,
        environments=None,
        limit=None,
        now=T0 + timedelta(hours=1),
    )
    stage = result.environments[1]
    assert stage.present
    assert (stage.argo_app, stage.live) == ("web-stage", False)
    assert [f.environment for f in result.findings if f.kind == "drift"] == ["stage"]


@pytest.mark.parametrize("since", ["999999w", "0001-01-01T00:00:00+01:00"])
def test_a_since_out_of_the_calendar_is_an_input_error(since: str) -> None:
    # Both pass the format checks, then overflow datetime: an internal error "bug in gitops-release".
    env = {"INPUT_QUERY": f"{WEB}:sha-1", "INPUT_SINCE": since}
    with pytest.raises(InputError) as info:
        trace.Inputs.from_reader(InputReader(env=env))
    assert info.value.field == "since"


def test_credentials_in_argocd_server_get_a_fix_that_exists_for_trace() -> None:
    # await-argocd-sync's wording leaks through: "input 'argocd-server': input 'server': …, pass
    # the credentials in 'token' (or 'username' / 'password')": trace has none of those inputs.
    env = {"INPUT_QUERY": f"{WEB}:sha-1", "INPUT_ARGOCD-SERVER": "https://user:secret@argocd.example"}
    with pytest.raises(InputError) as info:
        trace.Inputs.from_reader(InputReader(env=env))
    assert info.value.field == "argocd-server"
    assert "input 'server'" not in info.value.message
    assert "ARGOCD_TOKEN" in (info.value.fix or "")
    assert "secret" not in f"{info.value.message} {info.value.fix}"


@pytest.mark.parametrize("field", ["db-path", "policy-path", "overlays-dir"])
def test_paths_that_are_git_pathspec_magic_are_refused(field: str) -> None:
    # Paths reach `git log -- <path>`, where ':(glob)**' or ':!x' is pathspec magic, not a file:
    # the db "path" then matches every file of the repo. Refuse it (or run git with --literal-pathspecs).
    env = {"INPUT_QUERY": f"{WEB}:sha-1", f"INPUT_{field.upper()}": ":(glob)**"}
    with pytest.raises(InputError) as info:
        trace.Inputs.from_reader(InputReader(env=env))
    assert info.value.field == field
