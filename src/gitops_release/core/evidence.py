"""The release evidence of await-argocd-sync: what was expected, what Argo CD applied, and when.

Pure: builds plain dicts (the command writes them as JSON). The format is
``schemas/evidence.schema.json`` (documented field by field there and in
docs/await-argocd-sync.md); tests validate built documents against it.

No secret can appear: the document holds only fields this module chooses. The server URL and
every ``run`` value lose any URL userinfo, query and fragment; only an allow-list of GitHub
run variables is kept (never ``GITHUB_TOKEN`` or anything else a caller passes); free text
from Argo CD (operation and condition messages) has URL userinfo and bearer tokens blanked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from gitops_release.core.argocd import (
    AppObservation,
    Assessment,
    Expectation,
    ResourceState,
    Transition,
    image_drift,
    revision_matches,
)

EVIDENCE_SCHEMA_VERSION = 1
IMAGES_SOURCES = ("manifest", "input", "render", "none")
MODES = ("wait", "drift-report")

#: GitHub run variables kept in ``run`` (environment name -> evidence key); anything else is dropped.
RUN_KEYS: Mapping[str, str] = {
    "GITHUB_SERVER_URL": "serverUrl",
    "GITHUB_REPOSITORY": "repository",
    "GITHUB_RUN_ID": "runId",
    "GITHUB_RUN_ATTEMPT": "runAttempt",
    "GITHUB_WORKFLOW": "workflow",
    "GITHUB_JOB": "job",
    "GITHUB_SHA": "sha",
    "GITHUB_REF": "ref",
    "GITHUB_EVENT_NAME": "eventName",
    "GITHUB_ACTOR": "actor",
}

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]*@")
_AUTHORIZATION = re.compile(r"(?i)\b(authorization\s*[:=]\s*)(?:(?:bearer|basic)\s+)?\S+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_KEY_VALUE = re.compile(r"(?i)\b(token|password|passwd|secret)(\s*[:=]\s*)[^\s,;]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def scrub(text: str) -> str:
    """Free text without URL userinfo, Authorization values, bearer tokens, ``token=…`` /
    ``password=…`` values, or control characters."""
    text = _USERINFO.sub(r"\1***@", text)
    text = _AUTHORIZATION.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    text = _KEY_VALUE.sub(r"\1\2***", text)
    return _CONTROL.sub(" ", text)


def public_url(url: str) -> str:
    """A URL as safe to publish: no userinfo, no query, no fragment, no trailing slash."""
    text = scrub(url.strip())
    text = re.sub(r"(?i)^([a-z][a-z0-9+.-]*://)\*\*\*@", r"\1", text)
    text = text.split("#", 1)[0].split("?", 1)[0]
    return text.rstrip("/")


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec) + "Z"


def _resource(res: ResourceState) -> dict[str, str]:
    return {
        "group": res.group,
        "kind": res.kind,
        "namespace": res.namespace,
        "name": res.name,
        "sync": res.status,
        "health": res.health,
        "message": scrub(res.message),
    }


def _matches(expected: Sequence[str | None], actual: Sequence[str]) -> bool:
    checked = [(i, rev) for i, rev in enumerate(expected) if rev]
    return bool(checked) and all(i < len(actual) and revision_matches(rev, actual[i]) for i, rev in checked)


def app_evidence(
    obs: AppObservation,
    *,
    expected: Expectation,
    assessment: Assessment,
    expected_images: Sequence[str],
    images_source: str,
    transitions: Sequence[Transition],
    started_at: datetime,
    duration: float,
) -> dict[str, Any]:
    """One application's evidence (an item of the document's ``applications``)."""
    if images_source not in IMAGES_SOURCES:
        raise ValueError(f"images_source must be one of {', '.join(IMAGES_SOURCES)}, not {images_source!r}")
    drift = image_drift(expected_images, obs.images) if expected_images else ()
    return {
        "name": obs.name,
        "namespace": obs.namespace,
        "project": obs.project,
        "destination": obs.destination,
        "sources": [
            {
                "repoURL": public_url(s.repo_url),
                "path": s.path,
                "targetRevision": s.target_revision,
                "chart": s.chart,
            }
            for s in obs.sources
        ],
        "verdict": assessment.verdict.value,
        "reason": scrub(assessment.reason),
        "revision": {
            "expected": list(expected.revisions),
            "synced": list(obs.revisions),
            "matches": _matches(expected.revisions, obs.revisions),
        },
        "sync": obs.sync_status,
        "health": obs.health_status,
        "healthMessage": scrub(obs.health_message),
        "operation": {
            "phase": obs.phase,
            "message": scrub(obs.phase_message),
            "inFlight": obs.operation_in_flight,
            "revisions": list(obs.operation_revisions),
            "startedAt": obs.started_at,
            "finishedAt": obs.finished_at,
        },
        "reconciledAt": obs.reconciled_at,
        "waitStartedAt": _timestamp(started_at),
        "durationSeconds": round(max(0.0, duration), 3),
        "images": {
            "source": images_source,
            "expected": list(expected_images),
            "live": list(obs.images),
            "drift": [{"image": d.image, "expected": d.expected, "live": d.live} for d in drift],
        },
        "resourcesNotReady": [_resource(r) for r in obs.resources_not_ready],
        "failedResources": [_resource(r) for r in obs.failed_resources],
        "conditions": [{"type": c.type, "message": scrub(c.message)} for c in obs.conditions],
        "historyIds": [
            h.id for h in obs.history if h.id is not None and _matches(expected.revisions, h.revisions)
        ],
        "transitions": [
            {
                "at": round(t.at, 3),
                "sync": t.sync,
                "health": t.health,
                "phase": t.phase,
                "revision": t.revision,
            }
            for t in transitions
        ],
    }


def evidence_document(
    apps: Sequence[dict[str, Any]],
    *,
    mode: str,
    server: str,
    started_at: datetime,
    finished_at: datetime,
    outcome: str,
    run: Mapping[str, str],
) -> dict[str, Any]:
    """The whole evidence file. ``run``: the GitHub run variables (GITHUB_REPOSITORY, ...)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    kept = {
        RUN_KEYS[name]: public_url(value) if name == "GITHUB_SERVER_URL" else scrub(value)
        for name, value in run.items()
        if name in RUN_KEYS and isinstance(value, str) and value
    }
    if {"serverUrl", "repository", "runId"} <= kept.keys():
        kept["url"] = f"{kept['serverUrl']}/{kept['repository']}/actions/runs/{kept['runId']}"
    return {
        "schemaVersion": EVIDENCE_SCHEMA_VERSION,
        "tool": "gitops-release await-argocd-sync",
        "mode": mode,
        "outcome": outcome,
        "server": public_url(server),
        "startedAt": _timestamp(started_at),
        "finishedAt": _timestamp(finished_at),
        "durationSeconds": round(max(0.0, (finished_at - started_at).total_seconds()), 3),
        "run": kept,
        "applications": list(apps),
    }


__all__ = [
    "EVIDENCE_SCHEMA_VERSION",
    "IMAGES_SOURCES",
    "MODES",
    "RUN_KEYS",
    "app_evidence",
    "evidence_document",
    "public_url",
    "scrub",
]
