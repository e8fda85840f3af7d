"""from-evidence: the deployment status an await-argocd-sync evidence file stands for. The files
are written the real way (await-argocd-sync's write_evidence on observations of recorded Argo CD
Applications, outcome from its _outcome) and validated against the schema before they are read."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from gitops_release.commands import await_argocd_sync as aas
from gitops_release.core.argocd import Expectation, WaitTracker, observe
from gitops_release.core.evidence import evidence_document
from gitops_release.core.report_status import (
    DEPLOYMENT_STATES,
    EVIDENCE_OUTCOMES,
    EvidenceReport,
    check_url,
    cut_description,
    evidence_report,
)
from gitops_release.errors import InputError, WaitFailedError, WaitTimeoutError
from gitops_release.runtime import InputReader

SCHEMA = json.loads((resources.files("gitops_release") / "schemas" / "evidence.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
CORPUS = Path(__file__).parents[2] / "fixtures" / "corpus" / "argocd-app"
START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)
FULL = "a0c7298faead28f7f60a5106afbb18882ad220a7"  # the flip-flop app's synced revision
TAXI = "gitops-backend-application3.history-flipflop.yaml"  # dev-app-taxi in test-namespace, done
FAILED_OP = "argocd-metrics-fakeAppOperationFailed.degraded-failed-op.yaml"  # my-app in argocd
PROGRESSING = "argocd-live-child-application.progressing-after-succeeded-op.yaml"
RUN = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "o/config",
    "GITHUB_RUN_ID": "123",
    "GITHUB_SHA": "b" * 40,
    "GITHUB_TOKEN": "ghs_notforevidence0123456789",
}
RUN_URL = "https://github.com/o/config/actions/runs/123"


def result(relative: str, expected: str) -> aas.AppResult:
    obs = observe(yaml.safe_load((CORPUS / relative).read_text(encoding="utf-8")))
    expectation = Expectation((expected,))
    tracker = WaitTracker(obs.name, expectation, degraded_grace=0, started=0.0)
    tracker.update(obs, 1.0)
    assessment = tracker.update(obs, 42.0)
    return aas.AppResult(
        obs.name, obs, expectation, assessment, transitions=tracker.transitions, duration=42.0
    )


def written(
    tmp_path: Path,
    results: list[aas.AppResult],
    error: BaseException | None = None,
    server: str = "https://argocd.example.com",
) -> dict[str, Any]:
    """The evidence file await-argocd-sync writes for ``results`` ending with ``error``."""
    inputs = aas.Inputs.from_reader(InputReader(env={"INPUT_SERVER": server, "INPUT_APPLICATIONS": "x"}))
    path = tmp_path / "argocd-evidence.json"
    aas.write_evidence(
        path, inputs, results, started_at=START, outcome=aas._outcome("wait", error, False), env=RUN
    )
    data = json.loads(path.read_text(encoding="utf-8"))
    VALIDATOR.validate(data)  # what the command checks before evidence_report
    data["durationSeconds"] = 42.0  # finishedAt is the writer's clock: fix the run's length
    return data


def test_a_done_wait_is_a_success_with_the_app_page_and_the_run(tmp_path: Path) -> None:
    report = evidence_report(written(tmp_path, [result(TAXI, FULL)], server="argocd.example.com:8443"))
    assert report == EvidenceReport(
        state="success",
        description="Argo CD: dev-app-taxi Synced Healthy at a0c7298 (42 s)",
        revision=FULL,
        log_url=RUN_URL,
        environment_url="https://argocd.example.com:8443/applications/test-namespace/dev-app-taxi",
        applications=("dev-app-taxi",),
    )
    assert check_url("environment-url", report.environment_url or "") == report.environment_url
    assert cut_description(report.description) == report.description


def test_a_short_expected_revision_is_shown_but_is_no_sha(tmp_path: Path) -> None:
    report = evidence_report(written(tmp_path, [result(TAXI, "A0C7298")]))
    assert report.state == "success" and report.revision is None
    assert report.description == "Argo CD: dev-app-taxi Synced Healthy at a0c7298 (42 s)"


def test_a_failed_wait_is_a_failure_naming_the_reason(tmp_path: Path) -> None:
    app = result(FAILED_OP, FULL)
    error = WaitFailedError("my-app: sync failed")
    report = evidence_report(written(tmp_path, [app], error))
    assert report.state == "failure"
    assert report.description.startswith("Argo CD: my-app failed at a0c7298 (42 s): ")
    assert app.assessment.reason and app.assessment.reason[:40] in report.description
    assert report.environment_url == "https://argocd.example.com/applications/argocd/my-app"


def test_a_timeout_is_an_error_naming_the_app_not_ready(tmp_path: Path) -> None:
    apps = [result(TAXI, FULL), result(PROGRESSING, FULL)]
    report = evidence_report(written(tmp_path, apps, WaitTimeoutError("timed out")))
    waiting = apps[1]
    assert report.state == "error"
    assert report.description.startswith("Argo CD: 2 apps not ready at a0c7298 after 42 s: ")
    assert f"{waiting.name}: {waiting.assessment.reason}" in report.description
    assert report.environment_url is None  # several apps: no single page
    assert report.applications == ("dev-app-taxi", waiting.name)
    assert report.revision == FULL


@pytest.mark.parametrize(
    ("error", "state"),
    [
        (None, "success"),
        (WaitFailedError("x"), "failure"),
        (WaitTimeoutError("x"), "error"),
        (KeyboardInterrupt(), "error"),
        (RuntimeError("a bug"), "error"),
    ],
)
def test_every_outcome_await_argocd_sync_writes_maps_to_a_final_state(
    tmp_path: Path, error: BaseException | None, state: str
) -> None:
    report = evidence_report(written(tmp_path, [result(TAXI, FULL)], error))
    assert report.state == state and state in DEPLOYMENT_STATES and state != "pending"
    assert "\n" not in report.description and report.description.startswith("Argo CD: ")


def test_the_outcome_table_covers_every_wait_outcome() -> None:
    errors: list[BaseException | None] = [
        None,
        KeyboardInterrupt(),
        WaitTimeoutError("t"),
        WaitFailedError("f"),
    ]
    outcomes = {aas._outcome("wait", error, False) for error in [*errors, ValueError("bug")]}
    assert outcomes == set(EVIDENCE_OUTCOMES)


def test_no_application_seen(tmp_path: Path) -> None:
    report = evidence_report(written(tmp_path, [], RuntimeError("selector matched nothing")))
    assert report.state == "error" and report.applications == ()
    assert report.description == "Argo CD: wait ended with an error after 42 s, no application seen"
    assert report.environment_url is None and report.revision is None


def test_server_credentials_never_reach_the_environment_url() -> None:
    app = result(TAXI, FULL)
    doc = evidence_document(
        [
            aas.evidence.app_evidence(
                app.observation,  # type: ignore[arg-type]
                expected=app.expectation,
                assessment=app.assessment,
                expected_images=(),
                images_source="none",
                transitions=app.transitions,
                started_at=START,
                duration=1.0,
            )
        ],
        mode="wait",
        server="https://admin:s3cret@argocd.example.com/argo/",
        started_at=START,
        finished_at=START,
        outcome="done",
        run=RUN,
    )
    VALIDATOR.validate(doc)
    report = evidence_report(doc)
    assert (
        report.environment_url == "https://argocd.example.com/argo/applications/test-namespace/dev-app-taxi"
    )
    hostile = copy.deepcopy(doc)
    hostile["server"] = "https://admin:s3cret@argocd.example.com"  # not schema-valid, read anyway
    hostile["run"]["url"] = "javascript:alert(1)"
    report = evidence_report(hostile)
    assert report.environment_url is None and report.log_url is None


def test_mixed_expected_revisions_give_no_revision(tmp_path: Path) -> None:
    data = written(tmp_path, [result(TAXI, FULL), result(TAXI, FULL)])
    data["applications"][1]["revision"]["expected"] = ["c" * 40]
    report = evidence_report(data)
    assert report.revision is None and " at " not in report.description
    data["applications"][1]["revision"]["expected"] = [None]
    assert evidence_report(data).revision is None  # an app that checked no revision


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"mode": "drift-report", "outcome": "drift"}, "is a drift report; a deployment status needs a wait"),
        ({"schemaVersion": 2}, "schemaVersion 2"),
        ({"schemaVersion": True}, "schemaVersion true"),
        ({"outcome": "drift"}, 'outcome "drift"'),
        ({"mode": "other"}, 'mode "other"'),
        ({"applications": {}}, "applications"),
        ({"applications": [1]}, "not an object"),
    ],
)
def test_evidence_that_cannot_make_a_status_is_refused(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    data = written(tmp_path, [result(TAXI, FULL)])
    data.update(change)
    with pytest.raises(InputError, match=problem) as info:
        evidence_report(data)
    assert info.value.field == "from-evidence" and info.value.fix


def test_evidence_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InputError, match="not a JSON object"):
        evidence_report([])  # type: ignore[arg-type]
