"""What ``gitops-release serve`` serves: the current index, the last load's error, the counters.

``ServerState.index`` is swapped as one reference (an atomic assignment) when a load brings a new
version, so a request that read it once sees one version to its end, whatever reloads meanwhile.
A failed load (invalid db, missing file, failed fetch) never replaces a good index: it is kept,
the error is recorded for the health checks, and the next load that succeeds clears it.

Loads run one at a time (a lock): the poll thread (``start``) and ``POST /v1/reload`` may both
ask. Standard library only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from gitops_release.adapters.release_source import DATABASE_CHECK, SOURCE_CHECK, LoadResult, ReleaseSource
from gitops_release.core.release_index import ReleaseIndex, health_document, overall_status
from gitops_release.server.metrics import Metrics

#: How often a file source is looked at (a stat; it is read only when it changed).
FILE_POLL_INTERVAL = 1.0


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class ServerState:
    """The served index and everything the health, metrics and reload endpoints report."""

    def __init__(
        self,
        source: ReleaseSource,
        *,
        version: str,
        reload_token: str | None = None,
        poll_interval: float = FILE_POLL_INTERVAL,
        clock: Callable[[], str] = utc_now,
        wall: Callable[[], float] = time.time,
        log: Callable[[str], None] = stderr_line,
    ) -> None:
        self.source = source
        self.version = version
        self.reload_token = reload_token or None
        self.poll_interval = poll_interval
        self.clock = clock
        self.wall = wall
        self.log = log
        self.metrics = Metrics()
        self.index: ReleaseIndex | None = None
        #: check name -> why the last load failed; empty after a good (or unchanged) load.
        self.errors: dict[str, str] = {}
        self.attempted = False  # a first load has finished (well or not)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- loading ------------------------------------------------------------------------------

    def load(self) -> LoadResult:
        """Ask the source now (one load at a time) and apply what it answers."""
        with self._lock:
            result = self.source.load(loaded_at=self.clock())
            self._apply(result)
        return result

    def _apply(self, result: LoadResult) -> None:
        if result.error is not None:
            self.errors = {result.check: result.error}
            outcome = "failed"
        elif result.index is not None:
            self.index = result.index  # the swap: one reference assignment
            self.errors = {}
            outcome = "changed"
        else:
            self.errors = {}
            outcome = "unchanged"
        self.attempted = True
        self.metrics.observe_reload(outcome, now=self.wall())
        if outcome != "unchanged":
            event: dict[str, object] = {"event": "load", "result": outcome, "source": self.source.describe()}
            if result.error is not None:
                event["error"] = result.error
                event["serving"] = self.index.revision if self.index is not None else None
            else:
                event["revision"] = result.revision
                event["releases"] = len(result.index) if result.index is not None else 0
            self.log(json.dumps(event, ensure_ascii=True))

    def poll_once(self) -> None:
        """A load when the source may have changed (a file's stat; a remote is always fetched)."""
        if not self.attempted or self.source.changed():
            self.load()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # noqa: BLE001 - the poller must outlive any bug in one load
                self.log(json.dumps({"event": "load", "result": "failed", "error": repr(exc)}))
            self._stop.wait(self.poll_interval)

    def start(self) -> None:
        """Load now and then every ``poll_interval`` seconds on a daemon thread, until ``stop``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gitops-release-serve-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling (a load under way finishes first) and release the source (its clone)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self.source.close()

    # -- what the endpoints report ------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.index is not None

    def checks(self) -> dict[str, str]:
        """``database`` and ``source`` as healthy / degraded / unhealthy, each with its reason
        (``databaseReason``, ``sourceReason``) when it is not healthy."""
        index, errors = self.index, dict(self.errors)
        failed = "degraded" if index is not None else "unhealthy"
        checks: dict[str, str] = {}
        for name in (DATABASE_CHECK, SOURCE_CHECK):
            reason = errors.get(name)
            if reason is None and name == DATABASE_CHECK and index is None:
                reason = "no version of the db has been loaded yet" + (
                    "" if self.attempted else " (the first load is under way)"
                )
            checks[name] = "healthy" if reason is None else failed
            if reason is not None:
                if index is not None:
                    reason += f"; serving the last good version (revision {index.revision}, "
                    reason += f"loaded at {index.loaded_at})"
                checks[f"{name}Reason"] = reason
        return checks

    def health(self) -> dict[str, object]:
        checks = self.checks()
        document = health_document(overall_status(checks), self.version, self.clock(), checks)
        index = self.index
        document["revision"] = index.revision if index is not None else None
        document["loadedAt"] = index.loaded_at if index is not None else None
        document["releases"] = len(index) if index is not None else None
        return document

    @property
    def degraded(self) -> bool:
        return self.index is not None and bool(self.errors)
