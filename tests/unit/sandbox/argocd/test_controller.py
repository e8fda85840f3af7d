"""sandbox/argocd/controller.py on its own: a Controller whose events are recorded, driven one
step() at a time by a fake clock, against tiny bare repositories of plain YAML (no kubectl)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.argocd import render
from gitops_release.sandbox.argocd.applications import _repo_key
from gitops_release.sandbox.argocd.controller import Controller
from gitops_release.sandbox.argocd.state import Desired, Fault, Record, Timing, iso
from tests.fixtures.git_remotes import git, make_bare_remote, url_to_path

REPO = "https://git.example.com/org/plain.git"
T0 = 1_700_000_000.0
DEPLOY = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
    "      containers:\n        - name: web\n          image: ghcr.io/acme/web:1\n"
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Recorder(Controller):
    """The controller with its one hook (``_emit``) recording what it would send to watchers."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(timing=Timing(sync_duration=10, progressing_duration=20), kubectl=None, clock=clock)
        self.events: list[tuple[str, dict[str, Any]]] = []

    def _emit(self, kind: str, record: Record) -> None:
        self.events.append((kind, copy.deepcopy(record.obj)))

    def add(self, name: str, spec: dict[str, Any], status: dict[str, Any] | None = None) -> Record:
        obj = {"metadata": {"name": name, "namespace": "argocd"}, "spec": spec, "status": status or {}}
        record = Record(key=f"argocd/{name}", obj=obj)
        self._records[record.key] = record
        return record


def _spec(**extra: Any) -> dict[str, Any]:
    return {
        "project": "default",
        "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
        "source": {"repoURL": REPO, "path": "web", "targetRevision": "main"},
        **extra,
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    git_dir = url_to_path(make_bare_remote(tmp_path, {"web/deploy.yaml": DEPLOY, "cm/cm.yaml": "{}\n"}))
    return git_dir, git("--git-dir", str(git_dir), "rev-parse", "main").strip()


@pytest.fixture
def controller(clock: Clock, repo: tuple[Path, str]) -> Recorder:
    controller = Recorder(clock)
    controller._repos[_repo_key(REPO)] = repo[0]
    return controller


def test_a_slow_refresh_runs_only_when_due_and_later_requests_join_it(
    controller: Recorder, clock: Clock, repo: tuple[Path, str]
) -> None:
    record = controller.add("web", _spec())
    record.fault = Fault("slow-refresh", duration=30)
    assert controller._request_refresh(record, hard=False, annotate=True) == 1
    assert record.obj["metadata"]["annotations"] == {"argocd.argoproj.io/refresh": "normal"}
    clock.now += 29
    controller.step()
    assert "sync" not in record.obj["status"] and record.refreshed == 0  # not due yet: not compared
    assert "health" not in record.obj["status"]  # and so no health either (Argo CD shows none)
    assert controller._request_refresh(record, hard=True) == 2  # joins the pending one, not later
    assert (record.refresh_at, record.refresh_hard) == (T0 + 30, True)
    clock.now += 1
    controller.step()
    assert record.refreshed == 2  # both requests answered by the one refresh
    assert "annotations" not in record.obj["metadata"]
    status = record.obj["status"]
    assert status["sync"]["status"] == "OutOfSync" and status["sync"]["revision"] == repo[1]
    assert status["reconciledAt"] == iso(T0 + 30) and status["health"]["status"] == "Missing"
    kind, sent = controller.events[-1]
    assert kind == "MODIFIED" and sent["status"]["sync"]["revision"] == repo[1]


def test_the_render_cache_serves_a_normal_refresh_and_a_hard_one_renders_again(
    controller: Recorder, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = render.render_source

    def counting(git_dir: Path, sha: str, path: str, **kwargs: Any) -> render.Rendered:
        calls.append(path)
        return real(git_dir, sha, path, **kwargs)

    monkeypatch.setattr(render, "render_source", counting)
    record = controller.add("web", _spec())
    for hard in (False, False, True):
        controller._request_refresh(record, hard=hard)
        controller.step()
    assert calls == ["web", "web"]
    assert record.desired is not None and [r.name for r in record.desired.resources] == ["web"]


def test_desired_resolves_every_source_renders_paths_and_counts_ref_and_chart_revisions(
    controller: Recorder, repo: tuple[Path, str]
) -> None:
    sha = repo[1]
    spec = _spec(
        sources=[
            {"repoURL": REPO, "path": "web", "targetRevision": "main"},
            {"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "1.2.3"},
            {"repoURL": REPO + "/", "ref": "values", "targetRevision": "HEAD"},
        ]
    )
    desired = controller._desired(spec, None, controller._repos, hard=False)
    assert isinstance(desired, Desired)
    assert desired.revisions == (sha, "1.2.3", sha)
    assert desired.source_types == ("Directory", "Helm", "")
    assert [(r.kind, r.namespace, r.name) for r in desired.resources] == [("Deployment", "web", "web")]
    # an operation's revisions win over targetRevision, source by source
    assert controller._desired(spec, ["", "2.0.0", ""], controller._repos, hard=False).revisions == (
        sha,
        "2.0.0",
        sha,
    )


def test_a_source_that_cannot_load_is_a_comparison_error_until_it_can(
    controller: Recorder, clock: Clock, repo: tuple[Path, str]
) -> None:
    record = controller.add("web", _spec(source={"repoURL": "https://x.invalid/r.git", "path": "web"}))
    controller._request_refresh(record, hard=False)
    controller.step()
    status = record.obj["status"]
    assert status["conditions"] == [
        {
            "type": "ComparisonError",
            "message": "Failed to load target state: failed to generate manifest for source 1 of 1: "
            "rpc error: code = Unknown desc = failed to list refs: repository not found: "
            "https://x.invalid/r.git",
            "lastTransitionTime": iso(T0),
        }
    ]
    assert status["sync"]["status"] == "Unknown" and "revision" not in status["sync"]
    assert record.desired is None
    controller._repos[_repo_key("https://x.invalid/r.git")] = repo[0]
    controller._request_refresh(record, hard=False)
    clock.now += 5
    controller.step()
    assert "conditions" not in record.obj["status"]
    assert record.obj["status"]["sync"]["revision"] == repo[1]


def test_a_sync_error_that_stays_keeps_its_last_transition_time(
    controller: Recorder, clock: Clock, repo: tuple[Path, str]
) -> None:
    spec = _spec(syncPolicy={"automated": {}})
    failed = {
        "phase": "Failed",
        "message": "one or more objects failed to apply",
        "syncResult": {"revision": repo[1], "source": copy.deepcopy(spec["source"])},
    }
    record = controller.add("web", spec, {"operationState": failed})
    for _ in range(2):
        controller._request_refresh(record, hard=False)
        controller.step()
        clock.now += 60
    condition = record.obj["status"]["conditions"]
    assert condition == [
        {
            "type": "SyncError",
            "message": f"Failed last sync attempt to [{repo[1]}]: one or more objects failed to apply",
            "lastTransitionTime": iso(T0),  # the first refresh's time, not the second's
        }
    ]
    assert "operation" not in record.obj  # auto-sync does not retry the same revision


def test_rollout_health_follows_the_clock_and_the_faults(controller: Recorder) -> None:
    record = controller.add("web", _spec())
    record.rollout_at = T0
    assert controller._rollout_health(record, T0 + 19.9)[0] == "Progressing"
    assert controller._rollout_health(record, T0 + 20) == ("Healthy", "")
    record.fault, record.fault_at = Fault("degraded", duration=5, message="deadline"), T0 + 10
    # Degraded from the end of the rollout (not from when the fault was set, earlier) for 5 s
    assert controller._rollout_health(record, T0 + 15)[0] == "Progressing"
    assert controller._rollout_health(record, T0 + 24) == ("Degraded", "deadline")
    assert controller._rollout_health(record, T0 + 25) == ("Healthy", "")
    record.fault = Fault("degraded")  # lasting
    assert controller._rollout_health(record, T0 + 10_000)[0] == "Degraded"
    record.fault = Fault("never-healthy")
    assert controller._rollout_health(record, T0 + 10_000)[0] == "Progressing"


def test_an_operation_started_then_cleared_from_outside_is_forgotten(
    controller: Recorder, clock: Clock
) -> None:
    record = controller.add("web", _spec())
    record.obj["operation"] = {"sync": {"revision": "main"}, "initiatedBy": {"username": "admin"}}
    controller.step()
    assert record.obj["status"]["operationState"]["phase"] == "Running"
    assert record.op_started == T0
    del record.obj["operation"]
    clock.now += 1
    controller.step()
    assert record.op_started is None and record.op_target is None
