"""What ``gitops-release serve`` serves: the current index, the last load's error, the counters.

``ServerState.index`` is swapped as one reference (an atomic assignment) when a load brings a new
version, so a request that read it once sees one version to its end, whatever reloads meanwhile.
A failed load (invalid db, missing file, failed fetch, or anything a source raises) never
replaces a good index: it is kept, the error is recorded for the health checks, and the next load
that succeeds clears it.

One load at a time, merged: the poll thread (``start``) and ``POST /v1/reload`` may both ask; a
request that arrives while a load runs waits for that load's result (at most ``join_timeout``)
instead of queuing another fetch, so a reload storm costs one fetch at a time. Forced loads
(reload requests) of a git source are also at least ``min_reload_spacing`` seconds apart.

Staleness: when the source has not been read successfully for ``stale_after`` seconds (a fetch
that hangs, a poll that keeps failing), the ``source`` check is ``degraded`` with the age.

``stop()`` is bounded (``STOP_TIMEOUT``): it cancels the source's work under way (a git fetch is
killed with its process group) and does not wait for ever on a load that still hangs.
Standard library only.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from gitops_release.adapters.release_source import DATABASE_CHECK, SOURCE_CHECK, LoadResult
from gitops_release.core.release_index import ReleaseIndex, health_document, overall_status
from gitops_release.server.metrics import Metrics

#: How often a file source is looked at (a stat; it is read only when it changed).
FILE_POLL_INTERVAL = 1.0
#: How long a load may take before a request waiting for it gives up and health calls it stale.
DEFAULT_LOAD_TIMEOUT = 60.0
#: The source is stale when not read successfully for this many poll intervals (plus one load's
#: timeout, so a slow but bounded load is not reported).
STALE_INTERVALS = 3
#: How long ``stop()`` waits for the poll thread (a cancelled fetch ends at once).
STOP_TIMEOUT = 5.0
STOPPING = "the load was cancelled: serve is stopping"


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Source(Protocol):
    """What ServerState needs of a source (adapters/release_source.py)."""

    def describe(self) -> str: ...
    def changed(self) -> bool: ...
    def load(self, *, loaded_at: str) -> LoadResult: ...
    def close(self) -> None: ...


@dataclass
class _Load:
    """One load under way: requests that arrive meanwhile wait for its result."""

    done: threading.Event = field(default_factory=threading.Event)
    result: LoadResult | None = None
    waiting: int = 0  # requests merged into it


class ServerState:
    """The served index and everything the health, metrics and reload endpoints report."""

    def __init__(
        self,
        source: Source,
        *,
        version: str,
        reload_token: str | None = None,
        poll_interval: float = FILE_POLL_INTERVAL,
        load_timeout: float = DEFAULT_LOAD_TIMEOUT,
        min_reload_spacing: float = 0.0,
        clock: Callable[[], str] = utc_now,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        pause: Callable[[float], object] | None = None,
        log: Callable[[str], None] = stderr_line,
    ) -> None:
        self.source = source
        self.version = version
        self.reload_token = reload_token or None
        self.poll_interval = poll_interval
        self.load_timeout = load_timeout
        self.min_reload_spacing = min_reload_spacing
        #: A request waits this long for the load under way (a bounded fetch, plus the spacing).
        self.join_timeout = load_timeout + min_reload_spacing + 5
        self.stale_after = STALE_INTERVALS * poll_interval + load_timeout
        self.clock = clock
        self.wall = wall
        self.monotonic = monotonic
        self.log = log
        self.metrics = Metrics()
        self.index: ReleaseIndex | None = None
        #: check name -> why the last load failed; empty after a good (or unchanged) load.
        self.errors: dict[str, str] = {}
        self.attempted = False  # a first load has finished (well or not)
        self.last_ok: float | None = None  # wall time the source was last read successfully
        self.loading_since: float | None = None  # wall time the load under way started
        self.last_latency_ms: int | None = None  # of the last finished load
        self._guard = threading.Lock()  # guards _running and _last_started
        self._running: _Load | None = None
        self._last_started: float | None = None  # monotonic
        self._stop = threading.Event()
        #: Waits out the reload spacing; ``stop()`` ends the wait.
        self.pause: Callable[[float], object] = pause if pause is not None else self._stop.wait
        self._thread: threading.Thread | None = None

    # -- loading ------------------------------------------------------------------------------

    def load(self, *, forced: bool = True) -> LoadResult:
        """Ask the source now and apply what it answers; while a load runs, wait for its result
        instead (merged: never a second load queued behind it). ``forced`` (a reload request)
        first waits out ``min_reload_spacing`` since the last load started."""
        with self._guard:
            running = self._running
            if running is None:
                running = self._running = _Load()
                leading = True
            else:
                running.waiting += 1
                leading = False
        if not leading:
            if not running.done.wait(self.join_timeout) or running.result is None:
                return LoadResult(
                    None,
                    f"a load of {self.source.describe()} is still running after {self.join_timeout:g}s",
                    None,
                    SOURCE_CHECK,
                )
            return running.result
        result = LoadResult(None, STOPPING, None, SOURCE_CHECK)
        try:
            if forced and self.min_reload_spacing > 0 and self._last_started is not None:
                delay = self._last_started + self.min_reload_spacing - self.monotonic()
                if delay > 0:
                    self.pause(delay)  # requests arriving meanwhile merge into this load
            if not self._stop.is_set():
                result = self._load_now()
        finally:
            with self._guard:
                self._running = None
            running.result = result
            running.done.set()
        return result

    def _load_now(self) -> LoadResult:
        self._last_started = self.monotonic()
        started = self.wall()
        self.loading_since = started
        try:
            result = self.source.load(loaded_at=self.clock())
        except Exception as exc:  # noqa: BLE001 - any surprise is a failed load, never a 500
            result = LoadResult(None, f"loading failed: {type(exc).__name__}: {exc}", None, SOURCE_CHECK)
        finally:
            self.loading_since = None
        if self._stop.is_set() and result.error is not None:
            return LoadResult(None, STOPPING, None, SOURCE_CHECK)  # not a failure of the source
        self.last_latency_ms = max(0, round((self.wall() - started) * 1000))
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
        if outcome != "failed":
            self.last_ok = self.wall()
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
            self.load(forced=False)
        elif not self.errors:
            self.last_ok = self.wall()  # looked, and nothing changed: still fresh

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

    def cancel(self) -> None:
        """Stop loading now, without waiting: no new load starts, the source's work under way
        (a git fetch) is killed, and requests waiting for a load get "serve is stopping". Safe
        from a signal handler's thread."""
        self._stop.set()
        cancel = getattr(self.source, "cancel", None)
        if cancel is not None:
            cancel()
        with self._guard:
            running = self._running
        if running is not None and running.result is None:
            running.result = LoadResult(None, STOPPING, None, SOURCE_CHECK)
            running.done.set()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop polling and release the source (its clone), within about ``timeout`` seconds even
        when a load hangs (the poll thread is a daemon: it cannot keep the process alive)."""
        self.cancel()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            self._thread = None
        if thread is None or not thread.is_alive():
            self.source.close()
        else:
            self.log(json.dumps({"event": "stop", "warning": "a load still runs; the source is not closed"}))

    # -- what the endpoints report ------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.index is not None

    def _stale(self) -> str | None:
        """Why the served version may be out of date although no load failed, or None."""
        now, since, last_ok = self.wall(), self.loading_since, self.last_ok
        if since is not None and now - since > self.stale_after:
            return f"a load of {self.source.describe()} has been running for {now - since:.0f}s"
        if last_ok is not None and now - last_ok > self.stale_after:
            return (
                f"{self.source.describe()} was last read successfully {now - last_ok:.0f}s ago "
                f"(polled every {self.poll_interval:g}s)"
            )
        return None

    def reasons(self) -> dict[str, str]:
        """Why each check that is not healthy is so (``database``, ``source``)."""
        index, errors = self.index, dict(self.errors)
        if SOURCE_CHECK not in errors and (stale := self._stale()) is not None:
            errors[SOURCE_CHECK] = stale
        reasons: dict[str, str] = {}
        for name in (DATABASE_CHECK, SOURCE_CHECK):
            reason = errors.get(name)
            if reason is None and name == DATABASE_CHECK and index is None:
                reason = "no version of the db has been loaded yet" + (
                    "" if self.attempted else " (the first load is under way)"
                )
            if reason is not None:
                if index is not None:
                    reason += f"; serving the last good version (revision {index.revision}, "
                    reason += f"loaded at {index.loaded_at})"
                reasons[name] = reason
        return reasons

    def checks(self) -> dict[str, str]:
        """``database`` and ``source``: healthy, degraded (a version is served) or unhealthy;
        and, for the 503 answer's detail in server/app.py, ``databaseReason`` / ``sourceReason``
        (use ``reasons()``: the health document keeps them apart, under ``reasons``)."""
        reasons = self.reasons()
        checks = self._checks(reasons)
        checks.update({f"{name}Reason": reason for name, reason in reasons.items()})
        return checks

    def _checks(self, reasons: dict[str, str]) -> dict[str, str]:
        failed = "degraded" if self.index is not None else "unhealthy"
        return {name: failed if name in reasons else "healthy" for name in (DATABASE_CHECK, SOURCE_CHECK)}

    def dependencies(self, checks: dict[str, str]) -> list[dict[str, object]]:
        """Seed 004's ``dependencies``: the git remote (its status is the source check's, its
        latency the last fetch's); none for a file."""
        remote = getattr(self.source, "url", None)
        if not isinstance(remote, str):
            return []
        return [{"name": remote, "status": checks[SOURCE_CHECK], "latency_ms": self.last_latency_ms}]

    def health(self) -> dict[str, object]:
        reasons = self.reasons()
        checks = self._checks(reasons)
        document = health_document(
            overall_status(checks),
            self.version,
            self.clock(),
            checks,
            reasons=reasons,
            dependencies=self.dependencies(checks),
        )
        index = self.index
        document["revision"] = index.revision if index is not None else None
        document["loadedAt"] = index.loaded_at if index is not None else None
        document["releases"] = len(index) if index is not None else None
        return document

    @property
    def degraded(self) -> bool:
        return self.index is not None and bool(self.errors or self._stale())
