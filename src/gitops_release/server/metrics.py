"""The counters of ``gitops-release serve`` and their Prometheus text exposition (format 0.0.4).

Written by hand: four metric families do not need prometheus_client. Label values are bounded
(route templates, a fixed set of methods, status codes, reload results), so a hostile client
cannot grow the output with made-up paths or methods.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

PREFIX = "gitops_release_serve"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Methods counted under their own name; any other is ``OTHER``.
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
RELOAD_RESULTS = ("changed", "unchanged", "failed")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in pairs.items()) + "}"


class Metrics:
    """Request and reload counters; safe to update from the event loop and the reload thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = {}
        self.reloads: dict[str, int] = dict.fromkeys(RELOAD_RESULTS, 0)
        self.last_good_load: float | None = None  # Unix time

    def observe_request(self, route: str, method: str, status: int) -> None:
        key = (route, method if method in METHODS else "OTHER", status)
        with self._lock:
            self.requests[key] = self.requests.get(key, 0) + 1

    def observe_reload(self, result: str, *, now: float) -> None:
        with self._lock:
            self.reloads[result] = self.reloads.get(result, 0) + 1
            if result == "changed":
                self.last_good_load = now

    def render(self, *, releases: int | None, degraded: bool) -> str:
        """The exposition text; ``releases`` is the served db's size (None: nothing loaded)."""
        with self._lock:
            requests = sorted(self.requests.items())
            reloads = dict(self.reloads)
            last_good = self.last_good_load
        lines = [
            f"# HELP {PREFIX}_requests_total HTTP requests answered, by route template, method and status.",
            f"# TYPE {PREFIX}_requests_total counter",
        ]
        for (route, method, status), count in requests:
            labels = _labels({"route": route, "method": method, "status": str(status)})
            lines.append(f"{PREFIX}_requests_total{labels} {count}")
        lines += [
            f"# HELP {PREFIX}_reloads_total Loads of the db by result: changed (a new version is served), "
            "unchanged, failed (the last good version is kept).",
            f"# TYPE {PREFIX}_reloads_total counter",
        ]
        for result, count in reloads.items():
            lines.append(f"{PREFIX}_reloads_total{_labels({'result': result})} {count}")
        lines += [
            f"# HELP {PREFIX}_last_good_load_timestamp_seconds When the served version was loaded "
            "(Unix time).",
            f"# TYPE {PREFIX}_last_good_load_timestamp_seconds gauge",
        ]
        if last_good is not None:
            lines.append(f"{PREFIX}_last_good_load_timestamp_seconds {last_good:.3f}")
        lines += [
            f"# HELP {PREFIX}_releases Releases in the served db.",
            f"# TYPE {PREFIX}_releases gauge",
        ]
        if releases is not None:
            lines.append(f"{PREFIX}_releases {releases}")
        lines += [
            f"# HELP {PREFIX}_degraded 1 while the last load failed and an older version is served.",
            f"# TYPE {PREFIX}_degraded gauge",
            f"{PREFIX}_degraded {1 if degraded else 0}",
        ]
        return "\n".join(lines) + "\n"
