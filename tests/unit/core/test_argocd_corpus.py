"""The readiness rules on real Argo CD Applications (tests/fixtures/corpus/argocd-app and
argocd-contracts, copied byte for byte; SOURCES.md there says where each comes from).

Every file (every YAML document) has at least one row: the object as it is, or with a small
documented patch that puts the expected revision into it, and the verdict with a reason
substring. The tricky cases are rows of their own.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from gitops_release.core.argocd import Expectation, Verdict, assess, observe

FIXTURES = Path(__file__).parents[2] / "fixtures" / "corpus"
APP_DIR = FIXTURES / "argocd-app"
CONTRACT_DIR = FIXTURES / "argocd-contracts"

SHA = "e5585fcf22366e2d066e0936cbd8a0508756d02d"
OLD = "3f6965bd65d9294b8fec5d6e2dc3dad08e33a8fe"


def documents(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return [json.loads(text)]
    if path.suffix == ".txt":  # the SSE frame: "data: <json> \n\n"
        assert text.startswith("data: ")
        return [json.loads(text[len("data: ") :])]
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def corpus_files() -> list[Path]:
    files = [p for p in sorted(APP_DIR.rglob("*")) if p.is_file() and p.name != "SOURCES.md"]
    return files + sorted(CONTRACT_DIR.glob("*.yaml"))


def load(name: str, index: int = 0) -> dict[str, Any]:
    path = next(p for p in corpus_files() if p.name == name)
    return copy.deepcopy(documents(path)[index])


def set_path(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = doc
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


class Row(NamedTuple):
    id: str
    file: str
    index: int  # YAML document in the file
    patch: dict[str, Any]  # dotted path -> value, applied to a copy
    expected: tuple[str | None, ...]
    verdict: Verdict
    reason: str
    allow_suspended: bool = False


LIVE = "argocd-live-child-application.progressing-after-succeeded-op.yaml"
FAILED = "argocd-metrics-fakeAppOperationFailed.degraded-failed-op.yaml"
STALE_FAILED = "argocd-metrics-fakeAppSyncedAfterFailedOperation.healthy-synced-stale-failed-op.yaml"
NO_HEALTH = "gitops-backend-application.synced-no-app-health.yaml"
NO_REV_HISTORY = "gitops-backend-application2.outofsync-history-without-revision.yaml"
FLIPFLOP = "gitops-backend-application3.history-flipflop.yaml"
MIN_DEGRADED = "gitops-engine-application-degraded.minimal.yaml"
MIN_HEALTHY = "gitops-engine-application-healthy.minimal.yaml"
ROADIE = "roadie-applications-test-app.api-response.json"
ROADIE_META = "roadie-deploy-history-data.revision-metadata.json"
SSE = "argoproj-pkg-TestMarshalerSSE.expected-sse-frame.txt"
DIFF_CACHE = "01-diff-cache.application.yaml"
FAKE_APP = "02-appcontroller-fakeApp.application.yaml"
MULTI = "03-appcontroller-fakeMultiSourceApp.application.yaml"
METRICS = "04-metrics-test-apps.applications.yaml"
ROADIE_SHA = "53e28ff20cc530b9ada2173fbbd64d48338583ba"
DIFF_SHA = "ea8759964626a583667a2bfd08f334ec2070040a"
FRESH = {"status.reconciledAt": "2025-01-29T08:43:00Z"}

ROWS = [
    # -- argocd-app corpus --
    Row(
        "helm-chart-version-succeeded-but-progressing",
        LIVE,
        0,
        {},
        ("0.45.27",),
        Verdict.WAITING,
        "health Progressing",
    ),
    Row(
        "helm-chart-version-compares-exactly",
        LIVE,
        0,
        {},
        ("0.45.2",),
        Verdict.WAITING,
        "revision 0.45.27 is not the expected 0.45.2",
    ),
    Row(
        "helm-chart-version-healthy-later",
        LIVE,
        0,
        {"status.health.status": "Healthy"},
        ("0.45.27",),
        Verdict.DONE,
        "Synced at 0.45.27 and Healthy",
    ),
    Row(
        "failed-op-without-any-revision-is-not-attributed",
        FAILED,
        0,
        {},
        (SHA,),
        Verdict.WAITING,
        "no synced revision reported yet",
    ),
    Row(
        "failed-op-that-targeted-the-expected-revision",
        FAILED,
        0,
        {"status.operationState.operation": {"sync": {"revision": SHA}}},
        (SHA[:7],),
        Verdict.FAILED,
        "sync operation Failed at revision e5585fc: no message",
    ),
    Row(
        "failed-op-resolved-in-syncresult",
        FAILED,
        0,
        {
            "status.operationState.operation": {"sync": {"revision": "HEAD"}},
            "status.operationState.syncResult": {"revision": SHA},
        },
        (SHA,),
        Verdict.FAILED,
        "Failed",
    ),
    Row(
        "failed-op-for-another-revision-while-waiting",
        FAILED,
        0,
        {"status.operationState.operation": {"sync": {"revision": OLD}}, "status.sync.revision": SHA},
        (SHA,),
        Verdict.WAITING,
        "sync OutOfSync",
    ),
    Row(
        "stale-failed-op-on-synced-healthy-app-unpatched",
        STALE_FAILED,
        0,
        {},
        (SHA,),
        Verdict.WAITING,
        "no synced revision reported yet",
    ),
    Row(
        "stale-failed-op-for-older-revision-is-not-failure",
        STALE_FAILED,
        0,
        {
            "status.sync.revision": SHA,
            "status.operationState.operation": {"sync": {"revision": OLD}},
            **FRESH,
        },
        (SHA,),
        Verdict.DONE,
        "Synced at e5585fc and Healthy",
    ),
    Row(
        "stale-failed-op-without-revision-info-is-not-failure",
        STALE_FAILED,
        0,
        {"status.sync.revision": SHA, **FRESH},
        (SHA,),
        Verdict.DONE,
        "Healthy",
    ),
    Row(
        "failed-op-at-expected-revision-fails-even-if-healthy",
        STALE_FAILED,
        0,
        {
            "status.sync.revision": SHA,
            "status.operationState.operation": {"sync": {"revision": SHA}},
            **FRESH,
        },
        (SHA,),
        Verdict.FAILED,
        "sync operation Failed",
    ),
    Row(
        "failed-op-superseded-by-a-new-operation",
        STALE_FAILED,
        0,
        {
            "status.sync.revision": SHA,
            "status.operationState.operation": {"sync": {"revision": SHA}},
            "operation": {"sync": {"revision": SHA}},
            **FRESH,
        },
        (SHA,),
        Verdict.WAITING,
        "operation requested",
    ),
    Row(
        "no-health-at-all-is-never-done",
        NO_HEALTH,
        0,
        {"status.sync.revision": "123456789", "status.reconciledAt": "2021-05-15T02:13:00Z"},
        ("123456789",),
        Verdict.WAITING,
        "health Unknown (no health reported)",
    ),
    Row("no-health-unpatched", NO_HEALTH, 0, {}, ("123456789",), Verdict.WAITING, "no synced revision"),
    Row(
        "outofsync-history-without-revision",
        NO_REV_HISTORY,
        0,
        {},
        (SHA,),
        Verdict.WAITING,
        "no synced revision reported yet",
    ),
    Row(
        "flipflop-current-revision-by-prefix",
        FLIPFLOP,
        0,
        {},
        ("a0c7298",),
        Verdict.DONE,
        "Synced at a0c7298",
    ),
    Row("flipflop-uppercase-prefix", FLIPFLOP, 0, {}, ("A0C7298FAEAD",), Verdict.DONE, "Healthy"),
    Row(
        "flipflop-older-revision-in-history-is-not-success",
        FLIPFLOP,
        0,
        {},
        (OLD,),
        Verdict.WAITING,
        "revision a0c7298 is not the expected 3f6965b",
    ),
    Row(
        "flipflop-six-char-prefix-never-matches",
        FLIPFLOP,
        0,
        {},
        ("a0c729",),
        Verdict.WAITING,
        "is not the expected a0c729",
    ),
    Row(
        "flipflop-stale-health-after-operation",
        FLIPFLOP,
        0,
        {"status.reconciledAt": "2022-04-22T17:11:28Z"},
        ("a0c7298",),
        Verdict.STALE,
        "earlier than the operation's finishedAt",
    ),
    Row(
        "flipflop-reconciledat-missing",
        FLIPFLOP,
        0,
        {"status.reconciledAt": None},
        ("a0c7298",),
        Verdict.STALE,
        "reconciledAt is missing",
    ),
    Row(
        "flipflop-comparison-error-counts-as-degraded",
        FLIPFLOP,
        0,
        {
            "status.conditions": [
                {"type": "ComparisonError", "message": "rpc error: manifest generation failed"}
            ]
        },
        ("a0c7298",),
        Verdict.DEGRADED,
        "ComparisonError: rpc error: manifest generation failed",
    ),
    Row(
        "flipflop-comparison-error-before-the-expected-revision-waits",
        FLIPFLOP,
        0,
        {
            "status.conditions": [
                {"type": "ComparisonError", "message": "rpc error: manifest generation failed"}
            ]
        },
        (OLD,),
        Verdict.WAITING,
        "is not the expected 3f6965b (sync Synced, health Healthy); condition ComparisonError: rpc error",
    ),
    Row(
        "flipflop-sync-error-naming-the-expected-revision-counts-as-degraded",
        FLIPFLOP,
        0,
        {"status.conditions": [{"type": "SyncError", "message": f"Failed sync attempt to {OLD}: boom"}]},
        (OLD,),
        Verdict.DEGRADED,
        f"condition SyncError: Failed sync attempt to {OLD}: boom",
    ),
    Row(
        "flipflop-warning-condition-is-not-an-error",
        FLIPFLOP,
        0,
        {"status.conditions": [{"type": "OrphanedResourceWarning", "message": "1 orphaned"}]},
        ("a0c7298",),
        Verdict.DONE,
        "Healthy",
    ),
    Row(
        "flipflop-degraded-at-expected-revision",
        FLIPFLOP,
        0,
        {"status.health": {"status": "Degraded", "message": "Back-off restarting failed container"}},
        ("a0c7298",),
        Verdict.DEGRADED,
        "health Degraded at revision a0c7298: Back-off restarting",
    ),
    Row(
        "flipflop-degraded-but-stale",
        FLIPFLOP,
        0,
        {"status.health.status": "Degraded", "status.reconciledAt": "2022-04-22T17:11:00Z"},
        ("a0c7298",),
        Verdict.STALE,
        "health predates the last sync",
    ),
    Row(
        "flipflop-degraded-old-revision-while-waiting-for-fix",
        FLIPFLOP,
        0,
        {"status.health.status": "Degraded"},
        (OLD,),
        Verdict.WAITING,
        "health Degraded",
    ),
    Row(
        "flipflop-suspended-not-allowed",
        FLIPFLOP,
        0,
        {"status.health.status": "Suspended"},
        ("a0c7298",),
        Verdict.WAITING,
        "health Suspended (allow-suspended is off)",
    ),
    Row(
        "flipflop-suspended-allowed",
        FLIPFLOP,
        0,
        {"status.health.status": "Suspended"},
        ("a0c7298",),
        Verdict.DONE,
        "Suspended",
        True,
    ),
    Row(
        "flipflop-missing",
        FLIPFLOP,
        0,
        {"status.health.status": "Missing"},
        ("a0c7298",),
        Verdict.WAITING,
        "health Missing",
    ),
    Row(
        "flipflop-operation-terminating",
        FLIPFLOP,
        0,
        {"status.operationState.phase": "Terminating"},
        ("a0c7298",),
        Verdict.WAITING,
        "operation Terminating",
    ),
    Row(
        "minimal-degraded-without-metadata-spec-sync",
        MIN_DEGRADED,
        0,
        {},
        (SHA,),
        Verdict.WAITING,
        "no synced revision reported yet",
    ),
    Row(
        "minimal-healthy-without-sync-is-not-done",
        MIN_HEALTHY,
        0,
        {},
        (SHA,),
        Verdict.WAITING,
        "no synced revision",
    ),
    Row(
        "roadie-hookphase-running-after-succeeded-does-not-block",
        ROADIE,
        0,
        {},
        (ROADIE_SHA,),
        Verdict.DONE,
        "Synced at 53e28ff and Healthy",
    ),
    Row("revision-metadata-is-not-an-app", ROADIE_META, 0, {}, (SHA,), Verdict.WAITING, "no synced revision"),
    Row("sse-frame-application", SSE, 0, {}, (SHA,), Verdict.WAITING, "no synced revision"),
    # -- argocd-contracts (Argo CD v3.5.1's own test objects) --
    Row(
        "diff-cache-equal-reconciledat-and-finishedat-is-fresh",
        DIFF_CACHE,
        0,
        {},
        ("rev1",),
        Verdict.DONE,
        "Synced at rev1",
    ),
    Row(
        "diff-cache-history-sha-is-not-the-compared-revision",
        DIFF_CACHE,
        0,
        {},
        (DIFF_SHA,),
        Verdict.WAITING,
        "revision rev1 is not the expected ea87599",
    ),
    Row("fakeapp-no-sync-status", FAKE_APP, 0, {}, ("a" * 40,), Verdict.WAITING, "no synced revision"),
    Row(
        "fakeapp-synced-revision-yaml-datetimes",
        FAKE_APP,
        0,
        {
            "status.sync": {"status": "Synced", "revision": "a" * 40},
            "status.health": {"status": "Healthy"},
            "status.reconciledAt": "2018-09-21T23:50:30Z",
        },
        ("a" * 40,),
        Verdict.DONE,
        "Healthy",
    ),
    Row(
        "fakeapp-final-phase-without-finishedat-is-not-done",
        FAKE_APP,
        0,
        {
            "status.sync": {"status": "Synced", "revision": "a" * 40},
            "status.health": {"status": "Healthy"},
            "status.reconciledAt": "2018-09-21T23:50:30Z",
            "status.operationState.finishedAt": None,
        },
        ("a" * 40,),
        Verdict.WAITING,
        "operation Succeeded has no finishedAt yet",
    ),
    Row(
        "fakeapp-yaml-datetime-reconciled-before-finish",
        FAKE_APP,
        0,
        {
            "status.sync": {"status": "Synced", "revision": "a" * 40},
            "status.health": {"status": "Healthy"},
            "status.reconciledAt": "2018-09-21T23:50:28Z",
        },
        ("a" * 40,),
        Verdict.STALE,
        "earlier than",
    ),
    Row(
        "multi-source-unpatched", MULTI, 0, {}, ("a" * 40, None, None), Verdict.WAITING, "no synced revision"
    ),
    Row(
        "multi-source-all-checked",
        MULTI,
        0,
        {
            "status.sync": {"status": "Synced", "revisions": ["a" * 40, "b" * 40, "c" * 40]},
            "status.health": {"status": "Healthy"},
            "status.reconciledAt": "2018-09-21T23:51:00Z",
        },
        ("a" * 7, "b" * 40, "c" * 12),
        Verdict.DONE,
        "Synced at aaaaaaa, bbbbbbb, ccccccc",
    ),
    Row(
        "multi-source-one-source-behind",
        MULTI,
        0,
        {
            "status.sync": {"status": "Synced", "revisions": ["a" * 40, "d" * 40, "c" * 40]},
            "status.health": {"status": "Healthy"},
            "status.reconciledAt": "2018-09-21T23:51:00Z",
        },
        (None, "b" * 40, None),
        Verdict.WAITING,
        "is not the expected *, bbbbbbb, *",
    ),
    Row(
        "multi-source-wrong-revision-count",
        MULTI,
        0,
        {
            "status.sync": {"status": "Synced", "revisions": ["a" * 40]},
            "status.health": {"status": "Healthy"},
            "status.reconciledAt": "2018-09-21T23:51:00Z",
        },
        ("a" * 40, None, None),
        Verdict.WAITING,
        "is not the expected",
    ),
    Row(
        "metrics-fakeapp-synced-healthy-without-revision",
        METRICS,
        0,
        {},
        (SHA,),
        Verdict.WAITING,
        "no synced revision reported yet (expected e5585fc; sync Synced)",
    ),
    Row(
        "metrics-fakeapp-no-reconciledat",
        METRICS,
        0,
        {"status.sync.revision": SHA},
        (SHA,),
        Verdict.STALE,
        "reconciledAt is missing",
    ),
    Row(
        "metrics-fakeapp2-dry-run-operation-requested",
        METRICS,
        1,
        {"status.sync.revision": SHA, **FRESH},
        (SHA,),
        Verdict.WAITING,
        "operation requested",
    ),
    Row(
        "metrics-fakeapp3-degraded-outofsync",
        METRICS,
        2,
        {"status.sync.revision": SHA},
        (SHA,),
        Verdict.WAITING,
        "sync OutOfSync",
    ),
    Row(
        "metrics-fakeapp4-warnings-only",
        METRICS,
        3,
        {"status.sync.revision": SHA},
        (SHA,),
        Verdict.WAITING,
        "sync OutOfSync",
    ),
    Row("metrics-default-app", METRICS, 4, {}, (SHA,), Verdict.WAITING, "no synced revision"),
    Row(
        "metrics-operation-running",
        METRICS,
        5,
        {"status.sync.revision": SHA},
        (SHA,),
        Verdict.WAITING,
        "operation Running",
    ),
    Row(
        "metrics-operation-finished-stale",
        METRICS,
        6,
        {"status.sync.revision": SHA, "status.reconciledAt": "2025-01-29T08:42:34Z"},
        (SHA,),
        Verdict.STALE,
        "earlier than the operation's finishedAt 2025-01-29T08:42:35Z",
    ),
    Row(
        "metrics-operation-finished-fresh",
        METRICS,
        6,
        {"status.sync.revision": SHA, **FRESH},
        (SHA,),
        Verdict.DONE,
        "Healthy",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_verdict(row: Row) -> None:
    doc = load(row.file, row.index)
    for dotted, value in row.patch.items():
        set_path(doc, dotted, value)
    result = assess(observe(doc), Expectation(row.expected, allow_suspended=row.allow_suspended))
    assert result.verdict is row.verdict, result.reason
    assert row.reason in result.reason
    assert "\n" not in result.reason


def test_every_file_and_document_has_a_row() -> None:
    covered = {(r.file, r.index) for r in ROWS}
    for path in corpus_files():
        for index, _ in enumerate(documents(path)):
            assert (path.name, index) in covered, f"no row for {path.name} document {index}"


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_observe_is_total_and_never_done_unpatched_without_reconcile(path: Path) -> None:
    for doc in documents(path):
        obs = observe(doc)
        assert obs.health_status in {"Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown"}
        assert obs.sync_status in {"Synced", "OutOfSync", "Unknown"}


def test_observe_fields_of_the_live_child() -> None:
    obs = observe(load(LIVE))
    assert obs.name == "argo-workflows" and obs.namespace == "argocd" and obs.project == "default"
    assert obs.destination == "in-cluster/argo-workflows"
    assert obs.revisions == ("0.45.27",) and obs.operation_revisions == ("0.45.27",)
    assert obs.sources[0].chart == "argo-workflows" and not obs.multi_source
    assert obs.phase == "Succeeded" and obs.finished_at == "2025-11-14T12:35:58Z"
    assert obs.images == ("quay.io/argoproj/argocli:v3.7.3", "quay.io/argoproj/workflow-controller:v3.7.3")
    assert obs.resources_not_ready == ()  # appTree: no per-resource health, all Synced
    assert [h.id for h in obs.history] == [0] and obs.history[0].revisions == ("0.45.27",)


def test_observe_fields_of_no_health_app() -> None:
    obs = observe(load(NO_HEALTH))
    assert obs.health_status == "Unknown"
    assert obs.destination == "https://kubernetes.default.svc/dev"
    assert [(r.kind, r.status, r.health) for r in obs.resources_not_ready] == [
        ("Secret", "OutOfSync", "Missing")
    ]
    assert obs.history[0].revisions == ("123456789",) and obs.history[0].id is None


def test_observe_history_without_ids_or_revisions() -> None:
    obs = observe(load(NO_REV_HISTORY))
    assert [(h.id, h.revisions, h.deployed_at) for h in obs.history] == [
        (None, (), "2021-05-10T01:10:35Z"),
        (None, (), "2021-05-16T01:10:35Z"),
    ]


def test_observe_flipflop_history_and_hook_phases() -> None:
    obs = observe(load(FLIPFLOP))
    assert [h.id for h in obs.history] == [0, 1, 2, 3, 4, 5]
    assert [h.revisions[0][:6] for h in obs.history] == [
        "e5585f",
        "e5585f",
        "3f6965",
        "e5585f",
        "3f6965",
        "a0c729",
    ]
    assert obs.failed_resources == ()  # hookPhase Running on ordinary resources is not a failure


def test_observe_yaml_datetimes_become_rfc3339_text() -> None:
    obs = observe(load(FAKE_APP))  # finishedAt: 2018-09-21T23:50:29Z unquoted -> datetime in PyYAML
    assert obs.started_at == "2018-09-21T23:50:25Z" and obs.finished_at == "2018-09-21T23:50:29Z"
    assert obs.operation_revisions == ("a" * 40,)  # syncResult's resolved sha, not the requested HEAD


def test_observe_multi_source() -> None:
    obs = observe(load(MULTI))
    assert obs.multi_source and len(obs.sources) == 3
    assert obs.operation_revisions == ("a" * 40, "b" * 40, "c" * 40)
    assert obs.sources[2].repo_url.endswith("argocd-example-apps-fake-ref.git")


def test_observe_metrics_warnings_are_conditions_but_not_errors() -> None:
    obs = observe(load(METRICS, 3))
    assert [c.type for c in obs.conditions] == [
        "OrphanedResourceWarning",
        "ExcludedResourceWarning",
        "ExcludedResourceWarning",
    ]
    assert obs.error_conditions == ()


def test_failed_resources_and_message_in_the_failure_reason() -> None:
    doc = load(FLIPFLOP)
    state = doc["status"]["operationState"]
    state["phase"] = "Failed"
    state["message"] = "one or more objects failed to apply"
    state["syncResult"]["resources"][1]["status"] = "SyncFailed"
    state["syncResult"]["resources"][1]["message"] = 'Deployment.apps "taxi" is invalid'
    state["syncResult"]["resources"].append({"kind": "Job", "name": "smoke", "hookPhase": "Failed"})
    obs = observe(doc)
    assert [r.name for r in obs.failed_resources] == ["taxi", "smoke"]
    result = assess(obs, Expectation(("a0c7298",)))
    assert result.verdict is Verdict.FAILED
    assert result.reason == (
        "sync operation Failed at revision a0c7298: one or more objects failed to apply; failed resources: "
        'apps/Deployment dev/taxi: Deployment.apps "taxi" is invalid; Job smoke'
    )


def test_phase_error_is_final_and_fails() -> None:
    doc = load(FLIPFLOP)
    doc["status"]["operationState"]["phase"] = "Error"
    doc["status"]["operationState"]["message"] = "rpc error: code = Unknown"
    result = assess(observe(doc), Expectation(("a0c7298",)))
    assert result.verdict is Verdict.FAILED
    assert "sync operation Error at revision a0c7298: rpc error: code = Unknown" in result.reason
