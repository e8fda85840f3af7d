"""The Argo CD sandbox's controller state: timings, faults, one record per application, and the
small helpers the controller (controller.py) and the operation runner (operation.py) share."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from gitops_release.sandbox.argocd import render

FAULT_KINDS = ("degraded", "sync-failed", "sync-error", "never-healthy", "slow-refresh", "comparison-error")
HEALTH_ORDER = ("Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown")
DEFAULT_HISTORY_LIMIT = 10


@dataclass(frozen=True)
class Timing:
    reconcile_interval: float = 0.05  # controller tick
    refresh_delay: float = 0.0  # how long a refresh takes to resolve + render (slow refresh)
    sync_duration: float = 0.3  # operation Running -> Succeeded
    progressing_duration: float = 0.5  # health Progressing -> Healthy after the sync
    auto_refresh_interval: float | None = None  # periodic refresh (Argo CD: 3 min); None = on request only
    render_timeout: float = 30.0  # one kustomize render; a hanging one becomes a ComparisonError
    # Argo CD retries an automated sync 5 times (backoff 5s, factor 2, max 3m) when
    # spec.syncPolicy.retry is not set; the sandbox keeps the count and shortens the base backoff.
    default_retry_limit: int = 5
    default_retry_backoff: float = 0.1


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULT_KINDS
    duration: float | None = None  # degraded: transient for this long after the sync; slow-refresh: delay
    message: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}: one of {', '.join(FAULT_KINDS)}")


@dataclass
class Desired:
    """The compared target of an app: one revision and source type per source, all resources."""

    revisions: tuple[str, ...]
    source_types: tuple[str, ...]
    resources: tuple[render.Resource, ...]


@dataclass
class Record:
    key: str
    obj: dict[str, Any]
    static: bool = False
    deployed: bool = False
    deleted: bool = False
    fault: Fault | None = None
    fault_at: float = 0.0
    desired: Desired | None = None
    live: dict[tuple[str, str, str, str], render.Resource] = field(default_factory=dict)
    requested: int = 0  # refresh generations asked for / done
    refreshed: int = 0
    refresh_at: float | None = None  # when the pending refresh may run (slow refresh)
    refresh_hard: bool = False
    busy: bool = False  # a render for this app runs outside the lock
    op_started: float | None = None
    op_target: Desired | str | None = None  # rendered target of the running operation, or the error
    retry_at: float | None = None
    rollout_at: float | None = None  # when the last sync that changed a workload finished
    next_auto_refresh: float | None = None


def iso(seconds: float) -> str:
    """Argo CD's timestamps: RFC 3339, UTC, second precision."""
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one (objects may hold anything)."""
    return value if isinstance(value, dict) else {}


def target_sources(spec: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """spec.sources (multi-source) or [spec.source]."""
    sources = spec.get("sources")
    if isinstance(sources, list) and sources:
        return [s if isinstance(s, dict) else {} for s in sources], True
    source = spec.get("source")
    return [source if isinstance(source, dict) else {}], False


def go_duration(text: Any, default: float) -> float:
    """A Go duration ("5s", "100ms", "1m30s", "3m") in seconds; ``default`` when absent or bad."""
    if isinstance(text, (int, float)):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text or ""))
    if not parts or "".join(n + u for n, u in parts) != str(text).strip():
        return default
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def resource_name(resource: render.Resource) -> str:
    kind = resource.kind.lower() + (f".{resource.group}" if resource.group else "")
    return f"{kind}/{resource.name}"


def worst(statuses: list[str]) -> str:
    order = {s: i for i, s in enumerate(HEALTH_ORDER)}
    return max(statuses, key=lambda s: order.get(s, len(HEALTH_ORDER)), default="Healthy")
