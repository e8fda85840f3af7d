"""The Argo CD contract's strictness overlay (sandbox/argocd/contract.py): Argo CD's Swagger has no
enums and no `required`, the overlay adds Argo CD's Go constants and non-omitempty fields; every real
Application of the corpus still validates."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from gitops_release.sandbox import openapi
from gitops_release.sandbox.argocd import contract
from gitops_release.sandbox.argocd.stream import go_json
from tests.integration.test_argocd_sandbox import corpus_applications

EVENT = contract.WATCH_EVENT_SCHEMA


@pytest.fixture(scope="module")
def validator() -> openapi.Validator:
    found = contract.load_validator()  # the process-wide one the sandbox uses
    assert found is not None
    return found


def _event() -> dict[str, Any]:
    """A valid MODIFIED event of a synced app with an operation and a history entry."""
    return {
        "type": "MODIFIED",
        "application": {
            "metadata": {"name": "a", "namespace": "argocd"},
            "spec": {"project": "default", "destination": {}, "source": {"repoURL": "r", "path": "."}},
            "status": {
                "sync": {"status": "Synced", "revision": "abc"},
                "health": {"status": "Healthy"},
                "resources": [
                    {"kind": "Deployment", "name": "w", "status": "Synced", "health": {"status": "Healthy"}}
                ],
                "operationState": {
                    "operation": {"sync": {"revision": "abc"}},
                    "phase": "Succeeded",
                    "startedAt": "2024-01-01T00:00:00Z",
                    "syncResult": {
                        "revision": "abc",
                        "resources": [
                            {"kind": "Deployment", "name": "w", "status": "Synced", "hookPhase": "Running"}
                        ],
                    },
                },
                "history": [{"id": 0, "revision": "abc", "deployedAt": "2024-01-01T00:00:01Z"}],
                "reconciledAt": "2024-01-01T00:00:02Z",
            },
        },
    }


def test_a_valid_event_has_no_problem(validator: openapi.Validator) -> None:
    assert validator.schema_problems(EVENT, _event()) == []


def _set(event: dict[str, Any], path: str, value: object) -> None:
    node: Any = event
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (
            "type",
            "EXPLODED",
            "'EXPLODED' is not one of ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']",
        ),
        ("type", _DELETE, "'type' is a required property"),
        ("application", _DELETE, "'application' is a required property"),
        ("application.status.sync.status", "Synched", "'Synched' is not one of"),
        ("application.status.sync.status", _DELETE, "'status' is a required property"),
        ("application.status.resources.0.status", "Synched", "'Synched' is not one of"),
        ("application.status.health.status", "Healthyy", "'Healthyy' is not one of"),
        ("application.status.resources.0.health.status", "Healthyy", "'Healthyy' is not one of"),
        ("application.status.operationState.phase", "Succeded", "'Succeded' is not one of"),
        ("application.status.operationState.phase", _DELETE, "'phase' is a required property"),
        ("application.status.operationState.startedAt", _DELETE, "'startedAt' is a required property"),
        (
            "application.status.operationState.syncResult.resources.0.status",
            "Failed",
            "'Failed' is not one of",
        ),
        (
            "application.status.operationState.syncResult.resources.0.hookPhase",
            "Done",
            "'Done' is not one of",
        ),
        ("application.status.history.0.deployedAt", _DELETE, "'deployedAt' is a required property"),
        ("application.status.reconciledAtt", "2024-01-01T00:00:02Z", "('reconciledAtt' was unexpected)"),
        ("application.status.sync.revison", "abc", "('revison' was unexpected)"),
        ("application.status.operationState.finishedAtt", "x", "('finishedAtt' was unexpected)"),
        ("application.status.history.0.deployStartedAtt", "x", "('deployStartedAtt' was unexpected)"),
    ],
)
def test_a_misspelt_word_or_a_missing_field_is_a_violation(
    validator: openapi.Validator, path: str, value: object, reason: str
) -> None:
    event = _event()
    _set(event, path, value)
    problems = validator.schema_problems(EVENT, event)
    assert len(problems) == 1 and reason in problems[0], problems


def test_the_same_rules_hold_for_a_get_response(validator: openapi.Validator) -> None:
    app = _event()["application"]
    assert (
        validator.validate_response(
            "get", "/api/v1/applications/a", {}, {}, None, 200, json.dumps(app).encode(), {}
        )
        == []
    )
    app["status"]["sync"]["status"] = "Synched"
    (problem,) = validator.validate_response(
        "get", "/api/v1/applications/a", {}, {}, None, 200, json.dumps(app).encode(), {}
    )
    assert "'Synched' is not one of" in problem.detail


def test_every_real_application_of_the_corpus_still_validates(validator: openapi.Validator) -> None:
    apps = corpus_applications()
    assert len(apps) >= 18
    for label, app in apps:
        served = json.loads(go_json(app))
        name = served["metadata"]["name"]
        assert validator.schema_problems(EVENT, {"type": "ADDED", "application": served}) == [], label
        body = json.dumps(served).encode()
        assert (
            validator.validate_response("get", f"/api/v1/applications/{name}", {}, {}, None, 200, body, {})
            == []
        ), label


def test_a_never_compared_app_says_sync_status_empty_as_go_marshals_it(validator: openapi.Validator) -> None:
    event = _event()
    event["application"]["status"] = {
        "sync": {"comparedTo": {"source": {"repoURL": ""}, "destination": {}}, "status": ""},
        "health": {},
    }
    assert validator.schema_problems(EVENT, event) == []


def test_the_overlay_leaves_the_swagger_unchanged_and_refuses_unknown_names() -> None:
    document = {"definitions": {"thing": {"type": "object", "properties": {"phase": {"type": "string"}}}}}
    before = copy.deepcopy(document)
    strict = contract.apply_strictness(
        document, {"thing": {"enum": {"phase": ("A",)}, "required": ("phase",), "closed": True}}
    )
    assert document == before
    assert strict["definitions"]["thing"] == {
        "type": "object",
        "properties": {"phase": {"type": "string", "enum": ["A"]}},
        "required": ["phase"],
        "additionalProperties": False,
    }
    with pytest.raises(KeyError):
        contract.apply_strictness(document, {"thing": {"enum": {"phasee": ("A",)}}})
    with pytest.raises(KeyError):
        contract.apply_strictness(document, {"thing": {"required": ("phasee",)}})
    with pytest.raises(KeyError):
        contract.apply_strictness(document, {"other": {"closed": True}})
