"""Evidence built from real Argo CD Applications validates against schemas/evidence.schema.json,
carries what the issue lists, and never carries URL userinfo or a token."""

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

from gitops_release.core.argocd import Expectation, WaitTracker, observe
from gitops_release.core.evidence import app_evidence, evidence_document, public_url, scrub

SCHEMA = json.loads((resources.files("gitops_release") / "schemas" / "evidence.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
CORPUS = Path(__file__).parents[2] / "fixtures" / "corpus"
START = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)
END = datetime(2024, 5, 1, 10, 0, 42, 500000, tzinfo=timezone.utc)
RUN = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "o/config",
    "GITHUB_RUN_ID": "123",
    "GITHUB_SHA": "a" * 40,
    "GITHUB_TOKEN": "ghs_notforevidence0123456789",
    "ACTIONS_RUNTIME_TOKEN": "eyJnotforevidence",
}


def load(relative: str) -> dict[str, Any]:
    return yaml.safe_load((CORPUS / relative).read_text(encoding="utf-8"))


def evidence_for(
    doc: dict[str, Any], expected: str, images: list[str], source: str = "manifest"
) -> dict[str, Any]:
    obs = observe(doc)
    expectation = Expectation((expected,))
    tracker = WaitTracker(obs.name, expectation, degraded_grace=60, started=0.0)
    result = tracker.update(obs, 3.5)
    return app_evidence(
        obs,
        expected=expectation,
        assessment=result,
        expected_images=images,
        images_source=source,
        transitions=tracker.transitions,
        started_at=START,
        duration=3.5,
    )


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_property_is_documented() -> None:
    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                assert sub.get("description"), f"{where}.{name} has no description"
            for key, sub in node.items():
                walk(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for sub in node:
                walk(sub, where)

    walk(SCHEMA, "$")


def test_evidence_from_real_applications_validates() -> None:
    flipflop = evidence_for(
        load("argocd-app/gitops-backend-application3.history-flipflop.yaml"),
        "a0c7298",
        ["nginxinc/nginx-unprivileged:1.25"],
    )
    live = evidence_for(
        load("argocd-app/argocd-live-child-application.progressing-after-succeeded-op.yaml"),
        "0.45.27",
        [],
        "none",
    )
    doc = evidence_document(
        [flipflop, live],
        mode="wait",
        server="argocd.example.com",
        started_at=START,
        finished_at=END,
        outcome="timeout",
        run=RUN,
    )
    VALIDATOR.validate(doc)
    json.dumps(doc)  # plain JSON
    assert doc["durationSeconds"] == 42.5 and doc["startedAt"] == "2024-05-01T10:00:00Z"
    assert flipflop["verdict"] == "done"
    assert flipflop["revision"] == {
        "expected": ["a0c7298"],
        "synced": ["a0c7298faead28f7f60a5106afbb18882ad220a7"],
        "matches": True,
        "supersededBy": None,
    }
    assert flipflop["historyIds"] == [5]  # the flip-flops at other revisions are not this release
    assert flipflop["images"]["drift"] == [
        {
            "image": "nginxinc/nginx-unprivileged",
            "expected": "nginxinc/nginx-unprivileged:1.25",
            "live": "nginxinc/nginx-unprivileged:latest",
        }
    ]
    assert flipflop["operation"]["startedAt"] == "2022-04-22T17:11:29Z"
    assert flipflop["destination"] == "https://kubernetes.default.svc/dev"
    assert flipflop["transitions"] == [
        {
            "at": 3.5,
            "sync": "Synced",
            "health": "Healthy",
            "phase": "Succeeded",
            "revision": "a0c7298faead28f7f60a5106afbb18882ad220a7",
        }
    ]
    assert live["verdict"] == "waiting" and live["reason"] == "health Progressing"
    assert live["images"]["drift"] == []


@pytest.mark.parametrize(
    "relative",
    sorted(str(p.relative_to(CORPUS)) for p in (CORPUS / "argocd-app").glob("*.yaml"))
    + sorted(str(p.relative_to(CORPUS)) for p in (CORPUS / "argocd-contracts").glob("*.yaml")),
)
def test_every_corpus_application_gives_valid_evidence(relative: str) -> None:
    for doc in yaml.safe_load_all((CORPUS / relative).read_text(encoding="utf-8")):
        app = evidence_for(doc, "a0c7298", ["ghcr.io/o/api:1"], "input")
        VALIDATOR.validate(
            evidence_document(
                [app],
                mode="drift-report",
                server="http://127.0.0.1:8080",
                started_at=START,
                finished_at=END,
                outcome="no-drift",
                run={},
            )
        )


@pytest.mark.parametrize(
    "server",
    [
        "https://admin:s3cret@argocd.example.com/",
        "https://tok@argocd.example.com:8443/?token=x#frag",
        "argocd.example.com",
    ],
)
def test_server_and_run_never_carry_userinfo_or_tokens(server: str) -> None:
    run = dict(RUN, GITHUB_SERVER_URL="https://x-access-token:ghs_leak123456@github.example.com/")
    doc = evidence_document(
        [], mode="wait", server=server, started_at=START, finished_at=END, outcome="done", run=run
    )
    VALIDATOR.validate(doc)
    text = json.dumps(doc)
    for secret in ("s3cret", "admin", "tok@", "token=x", "ghs_", "x-access-token", "eyJ", "frag"):
        assert secret not in text
    assert doc["run"] == {
        "serverUrl": "https://github.example.com",
        "repository": "o/config",
        "runId": "123",
        "sha": "a" * 40,
        "url": "https://github.example.com/o/config/actions/runs/123",
    }
    assert doc["server"] in (
        "https://argocd.example.com",
        "https://argocd.example.com:8443",
        "argocd.example.com",
    )


def test_schema_refuses_userinfo_in_server() -> None:
    doc = evidence_document(
        [], mode="wait", server="https://a.example", started_at=START, finished_at=END, outcome="done", run={}
    )
    bad = copy.deepcopy(doc)
    bad["server"] = "https://user:pw@a.example"
    assert not VALIDATOR.is_valid(bad)


def test_messages_from_argo_cd_have_credentials_blanked() -> None:
    doc = load("argocd-app/gitops-backend-application3.history-flipflop.yaml")
    doc["spec"]["source"]["repoURL"] = "https://bot:ghp_repo0123456789@github.com/test-repo/gitops.git"
    doc["status"]["operationState"]["phase"] = "Failed"
    doc["status"]["operationState"]["message"] = (
        "git fetch https://bot:ghp_repo0123456789@github.com/x.git failed; "
        "Authorization: Bearer abcdefghijklmnop"
    )
    doc["status"]["conditions"] = [{"type": "ComparisonError", "message": "password=hunter2 rejected"}]
    app = evidence_for(doc, "a0c7298", [])
    text = json.dumps(app)
    assert app["verdict"] == "failed"
    for secret in ("ghp_repo", "abcdefghijklmnop", "hunter2"):
        assert secret not in text
    assert app["sources"][0]["repoURL"] == "https://github.com/test-repo/gitops.git"


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("https://u:p@h/x", "https://***@h/x"),
        ("token: abc123 and more", "token: *** and more"),
        ("no secret here, a basic message", "no secret here, a basic message"),
        ("line1\nline2\x1b[31m", "line1\nline2 [31m"),
    ],
)
def test_scrub(text: str, clean: str) -> None:
    assert scrub(text) == clean


def test_public_url() -> None:
    assert (
        public_url("https://u:p@argocd.example.com:443/path/?q=1#f") == "https://argocd.example.com:443/path"
    )


def test_bad_mode_and_images_source_refused() -> None:
    obs = observe({})
    with pytest.raises(ValueError, match="images_source"):
        app_evidence(
            obs,
            expected=Expectation((None,)),
            assessment=WaitTracker("x", Expectation((None,)), degraded_grace=0, started=0).update(obs, 0),
            expected_images=[],
            images_source="guess",
            transitions=[],
            started_at=START,
            duration=0,
        )
    with pytest.raises(ValueError, match="mode"):
        evidence_document(
            [], mode="sync", server="https://a", started_at=START, finished_at=END, outcome="done", run={}
        )
