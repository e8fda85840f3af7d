"""The release evidence of await-argocd-sync: what was expected, what Argo CD applied, and when.

Pure: builds plain dicts (the command writes them as JSON). The format is
``schemas/evidence.schema.json`` (documented field by field there and in
docs/await-argocd-sync.md); tests validate built documents against it.

No secret can appear: the document holds only fields this module chooses. The server URL and
every ``run`` value lose any URL userinfo, query and fragment; only an allow-list of GitHub
run variables is kept (never ``GITHUB_TOKEN`` or anything else a caller passes); free text
from Argo CD (operation and condition messages) has URL userinfo and bearer tokens blanked.
(Secrets registered at run time are the writer's to redact: ``runtime.redact`` on the file.)

Whatever a server sends, the document is valid against the schema: an operation phase Argo CD
does not define becomes "Unknown", durations are finite and not negative, no URL keeps userinfo.
"""

from __future__ import annotations

import math
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
#: operationState.phase values the schema knows; any other word a server sends is "Unknown"
PHASES = ("Running", "Terminating", "Succeeded", "Failed", "Error")
_OUTCOME = re.compile(r"[a-z][a-z-]{0,31}")

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


_AUTHORITY = re.compile(r"(?is)^([a-z][a-z0-9+.-]*://)([^/]*)(.*)$")


def public_url(url: str) -> str:
    """A URL as safe to publish: no userinfo, no query, no fragment, no trailing slash."""
    text = scrub(url.strip())
    text = text.split("#", 1)[0].split("?", 1)[0]
    found = _AUTHORITY.match(text)
    if found:  # everything up to the LAST @ of the authority is userinfo ("a@b@host", "a b@host")
        scheme, authority, rest = found.groups()
        text = scheme + authority.rpartition("@")[2] + rest
    return text.rstrip("/")


def _seconds(value: float) -> float:
    """A duration as the schema takes it: finite, not negative, milliseconds."""
    return round(value, 3) if math.isfinite(value) and value > 0 else 0.0


def _phase(phase: str | None) -> str | None:
    if phase is None:
        return None
    return phase if phase in PHASES else "Unknown"


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
            "supersededBy": assessment.superseded_by,
        },
        "sync": obs.sync_status,
        "health": obs.health_status,
        "healthMessage": scrub(obs.health_message),
        "operation": {
            "phase": _phase(obs.phase),
            "message": scrub(obs.phase_message),
            "inFlight": obs.operation_in_flight,
            "revisions": list(obs.operation_revisions),
            "startedAt": obs.started_at,
            "finishedAt": obs.finished_at,
        },
        "reconciledAt": obs.reconciled_at,
        "waitStartedAt": _timestamp(started_at),
        "durationSeconds": _seconds(duration),
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
                "at": _seconds(t.at),
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
    if not _OUTCOME.fullmatch(outcome):
        raise ValueError(f"outcome must be a lower-case word such as done or timeout, not {outcome!r}")
    kept = {
        RUN_KEYS[name]: public_url(value) if name == "GITHUB_SERVER_URL" else scrub(value)
        for name, value in run.items()
        if name in RUN_KEYS and isinstance(value, str) and value
    }
    if {"serverUrl", "repository", "runId"} <= kept.keys():
        kept["url"] = public_url(f"{kept['serverUrl']}/{kept['repository']}/actions/runs/{kept['runId']}")
    return {
        "schemaVersion": EVIDENCE_SCHEMA_VERSION,
        "tool": "gitops-release await-argocd-sync",
        "mode": mode,
        "outcome": outcome,
        "server": public_url(server),
        "startedAt": _timestamp(started_at),
        "finishedAt": _timestamp(finished_at),
        "durationSeconds": _seconds((finished_at - started_at).total_seconds()),
        "run": kept,
        "applications": list(apps),
    }


__all__ = [
    "EVIDENCE_SCHEMA_VERSION",
    "IMAGES_SOURCES",
    "MODES",
    "PHASES",
    "RUN_KEYS",
    "app_evidence",
    "evidence_document",
    "public_url",
    "scrub",
]
