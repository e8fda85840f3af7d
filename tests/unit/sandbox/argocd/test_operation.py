"""The sandbox controller's sync operation against Argo CD's words (sandbox/argocd/operation.py):
resource results' hookPhase, auto-sync after a result-less operation, the wipe-out guard and the
SyncError condition's lastTransitionTime. Driven step by step with a fake clock (plain YAML)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitops_release.sandbox.argocd.applications import ApplicationStore, Fault, Timing
from tests.fixtures.git_remotes import clone_of, git, make_bare_remote, url_to_path

REPO = "https://git.example.com/org/plain.git"
DEPLOY = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
    "      containers:\n        - name: web\n          image: ghcr.io/acme/web:{tag}\n"
)
CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: '1'\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


Push = Callable[[str, str], str]


@pytest.fixture
def plain(tmp_path: Path) -> tuple[ApplicationStore, Clock, Push]:
    url = make_bare_remote(tmp_path, {"web/deploy.yaml": DEPLOY.format(tag="1"), "web/config.yaml": CONFIG})
    work = clone_of(url, tmp_path / "work")

    def push(rel: str, text: str) -> str:
        (work / rel).write_text(text, encoding="utf-8")
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "-m", "c", cwd=work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=work)
        return git("rev-parse", "HEAD", cwd=work).strip()

    clock = Clock()
    store = ApplicationStore(kubectl="kubectl", clock=clock, timing=Timing(sync_duration=10))
    store.register_repo(REPO, url_to_path(url))
    return store, clock, push


def _app(sync_policy: dict[str, Any] | None = None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    app: dict[str, Any] = {
        "metadata": {"name": "web"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "source": {"repoURL": REPO, "path": "web", "targetRevision": "main"},
        },
    }
    if sync_policy is not None:
        app["spec"]["syncPolicy"] = sync_policy
    if status is not None:
        app["status"] = status
    return app


def _step(store: ApplicationStore, clock: Clock, seconds: float = 0) -> dict[str, Any]:
    clock.now += seconds
    store.step()
    return store.get("web")


def _hook_phases(app: dict[str, Any]) -> dict[str, tuple[str, str]]:
    resources = app["status"]["operationState"]["syncResult"]["resources"]
    return {r["kind"]: (r["status"], r["hookPhase"]) for r in resources}


@pytest.mark.parametrize(
    ("fault", "phase", "hook_phase"), [("sync-failed", "Failed", "Failed"), ("sync-error", "Error", "Error")]
)
def test_a_failed_resource_has_hook_phase_failed_or_error(
    plain, fault: str, phase: str, hook_phase: str
) -> None:
    store, clock, _ = plain
    store.add_application(_app())
    store.set_fault("web", Fault(fault, message="denied"))
    _step(store, clock)
    store.sync("web", None, {})
    _step(store, clock)
    app = _step(store, clock, 10)
    assert app["status"]["operationState"]["phase"] == phase
    # gitops-engine: ResultCodeSyncFailed -> OperationFailed; an error while applying -> OperationError
    assert _hook_phases(app) == {"Deployment": ("SyncFailed", hook_phase)}


def test_pruned_and_dry_run_results_have_hook_phase_succeeded(plain) -> None:
    store, clock, push = plain
    store.add_application(_app(), deployed=True)
    _step(store, clock)
    store.sync("web", None, {"dryRun": True})
    _step(store, clock)
    app = _step(store, clock, 10)
    assert _hook_phases(app) == {"ConfigMap": ("Synced", "Succeeded"), "Deployment": ("Synced", "Succeeded")}
    push("web/config.yaml", "{}\n")
    store.notify_push(REPO)
    _step(store, clock)
    store.sync("web", None, {"prune": True})
    _step(store, clock)
    app = _step(store, clock, 10)
    assert _hook_phases(app) == {"ConfigMap": ("Pruned", "Succeeded"), "Deployment": ("Synced", "Running")}


def test_auto_sync_after_an_operation_without_a_result_sets_sync_error_instead_of_syncing(plain) -> None:
    store, clock, _ = plain
    # The last operation errored before it synced anything (e.g. its revision did not render):
    # Argo CD's alreadyAttemptedSync counts it as an attempt and waits for a manual action.
    errored = {
        "operation": {"sync": {"revision": "0" * 40}, "initiatedBy": {"automated": True}},
        "phase": "Error",
        "message": "ComparisonError: Failed to load target state: boom",
        "startedAt": "2023-11-14T22:00:00Z",
        "finishedAt": "2023-11-14T22:00:01Z",
    }
    store.add_application(_app({"automated": {}}, {"operationState": errored}))
    app = _step(store, clock)
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert "operation" not in app and app["status"]["operationState"] == errored
    assert app["status"]["conditions"] == [
        {
            "type": "SyncError",
            "message": "Failed last sync attempt to []: ComparisonError: Failed to load target state: boom",
            "lastTransitionTime": "2023-11-14T22:13:20Z",
        }
    ]
    store.sync("web", None, {})  # the manual action: a sync with a result lifts it
    _step(store, clock)
    _step(store, clock, 10)
    app = _step(store, clock)
    assert app["status"]["sync"]["status"] == "Synced" and "conditions" not in app["status"]


@pytest.mark.parametrize("allow_empty", [False, True])
def test_auto_sync_with_prune_does_not_wipe_out_every_resource_unless_allow_empty(
    plain, allow_empty: bool
) -> None:
    store, clock, push = plain
    store.add_application(_app({"automated": {"prune": True, "allowEmpty": allow_empty}}), deployed=True)
    assert _step(store, clock)["status"]["sync"]["status"] == "Synced"
    push("web/config.yaml", "{}\n")
    sha = push("web/deploy.yaml", "{}\n")
    store.notify_push(REPO)
    app = _step(store, clock)
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert all(r.get("requiresPruning") for r in app["status"]["resources"])
    if allow_empty:
        assert app["operation"]["sync"] == {"revision": sha, "source": app["spec"]["source"], "prune": True}
        assert "conditions" not in app["status"]
        return
    assert "operation" not in app
    assert [(c["type"], c["message"]) for c in app["status"]["conditions"]] == [
        ("SyncError", f"Skipping sync attempt to [{sha}]: auto-sync will wipe out all resources")
    ]


def test_sync_error_condition_keeps_its_last_transition_time_while_it_stays(plain) -> None:
    store, clock, push = plain
    store.add_application(_app({"automated": {}, "retry": {"limit": 0}}))
    store.set_fault("web", Fault("sync-failed", message="denied"))
    _step(store, clock)  # OutOfSync: auto-sync starts an operation
    assert _step(store, clock, 10)["status"]["operationState"]["phase"] == "Failed"
    first = _step(store, clock)["status"]["conditions"]  # the refresh after it: SyncError
    assert [c["type"] for c in first] == ["SyncError"]
    for _ in range(2):
        store.refresh("web", wait=0)
        app = _step(store, clock, 60)
        assert app["status"]["reconciledAt"] > first[0]["lastTransitionTime"]
        assert app["status"]["conditions"] == first  # Argo CD's SetConditions keeps it as it was
    # a failed attempt at another revision is another message: a new lastTransitionTime
    sha = push("web/deploy.yaml", DEPLOY.format(tag="2"))
    store.notify_push(REPO)
    assert "conditions" not in _step(store, clock, 60)["status"]  # a new attempt
    _step(store, clock, 10)
    app = _step(store, clock)
    (condition,) = app["status"]["conditions"]
    assert condition["message"].startswith(f"Failed last sync attempt to [{sha}]: ")
    assert condition["lastTransitionTime"] == app["status"]["reconciledAt"] != first[0]["lastTransitionTime"]
