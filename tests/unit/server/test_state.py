"""server/state.py: loads one at a time, the poll thread, stop, and the metrics text."""

from __future__ import annotations

import asyncio
import threading

import pytest

from gitops_release.adapters.release_source import FileSource, LoadResult
from gitops_release.server.access_log import AccessLog
from gitops_release.server.metrics import Metrics
from gitops_release.server.state import ServerState
from tests.fixtures.serve_api import release, wait_until, write_db


def quiet(_: str) -> None:
    return None


def test_poll_thread_loads_at_start_and_follows_the_file(tmp_path):
    path = write_db(tmp_path / "db.json", [release("app", "dev", tag="v1")])
    state = ServerState(FileSource(path), version="1", poll_interval=0.01, log=quiet)
    state.start()
    try:
        wait_until(lambda: state.index is not None, what="the first load")
        write_db(path, [release("app", "dev", tag="v2")])
        wait_until(lambda: state.index.releases[0].tag == "v2", what="the reload")
        path.write_text("{")
        wait_until(lambda: state.degraded, what="the failed reload")
        assert state.index.releases[0].tag == "v2"
        assert state.checks()["database"] == "degraded"
    finally:
        state.stop()
    assert state._thread is None


class Exploding:
    """A source whose first load raises (a bug), then loads fine."""

    def __init__(self, path):
        self.inner = FileSource(path)
        self.calls = 0
        self.closed = 0

    def describe(self):
        return "exploding"

    def changed(self):
        return True

    def load(self, *, loaded_at):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom")
        return self.inner.load(loaded_at=loaded_at)

    def close(self):
        self.closed += 1


def test_the_poller_outlives_a_bug_in_one_load_and_stop_closes_the_source(tmp_path):
    source = Exploding(write_db(tmp_path / "db.json", [release("app", "dev")]))
    lines: list[str] = []
    state = ServerState(source, version="1", poll_interval=0.01, log=lines.append)
    state.start()
    try:
        wait_until(lambda: state.index is not None, what="the load after the bug")
    finally:
        state.stop()
    assert source.closed == 1
    assert '"error": "loading failed: RuntimeError: boom"' in lines[0]


def test_a_source_that_raises_is_a_failed_load_on_the_source_check(tmp_path):
    """G3: anything a source raises (an unwritable TMPDIR, a bug) is a failed load: health says
    why, the first load counts as finished (startup), the reload answer is 422, never a 500."""
    source = Exploding(write_db(tmp_path / "db.json", [release("app", "dev")]))
    state = ServerState(source, version="1", log=quiet)
    result = state.load()
    assert result.index is None and result.check == "source"
    assert result.error == "loading failed: RuntimeError: boom"
    assert state.attempted and state.metrics.reloads["failed"] == 1
    health = state.health()
    assert health["checks"] == {"database": "unhealthy", "source": "unhealthy"}
    assert health["reasons"]["source"] == "loading failed: RuntimeError: boom"
    assert state.load().index is not None  # the next load is fine
    assert state.health()["status"] == "healthy"


class Blocking:
    """A source whose load waits until released, counting loads under way at once."""

    def __init__(self):
        self.release = threading.Event()
        self.running = 0
        self.most = 0
        self.calls = 0

    def describe(self):
        return "blocking"

    def changed(self):
        return True

    def load(self, *, loaded_at):
        self.calls += 1
        self.running += 1
        self.most = max(self.most, self.running)
        self.release.wait(timeout=30)
        self.running -= 1
        return LoadResult(None, None, None)

    def close(self):
        return None


def test_loads_run_one_at_a_time_and_a_request_during_a_load_joins_it():
    """R3/R10: reloads that arrive while a load runs wait for its result: one load, not a queue."""
    source = Blocking()
    state = ServerState(source, version="1", log=quiet)
    results: list[LoadResult] = []
    leader = threading.Thread(target=lambda: results.append(state.load()))
    leader.start()
    wait_until(lambda: source.running == 1, what="one load under way")
    joiners = [threading.Thread(target=lambda: results.append(state.load())) for _ in range(3)]
    for thread in joiners:
        thread.start()
    running = state._running
    assert running is not None
    wait_until(lambda: running.waiting == 3, what="the three requests to join the load")
    source.release.set()
    for thread in [leader, *joiners]:
        thread.join()
    assert source.most == 1 and source.calls == 1
    assert len(results) == 4 and all(result is results[0] for result in results)
    assert state.metrics.reloads["unchanged"] == 1


def test_forced_loads_are_spaced_and_requests_meanwhile_merge():
    """R10: a reload request within min_reload_spacing of the last load's start waits the rest of
    the spacing (stop() ends the wait); a poll is never delayed."""
    source = Blocking()
    source.release.set()
    now = [100.0]
    pauses: list[float] = []

    def pause(delay: float) -> None:
        pauses.append(delay)
        now[0] += delay

    state = ServerState(
        source, version="1", min_reload_spacing=5.0, monotonic=lambda: now[0], pause=pause, log=quiet
    )
    state.load()  # the first: nothing to space from
    now[0] += 2.0
    state.load()
    assert pauses == [3.0] and source.calls == 2
    state.load(forced=False)  # the poll thread
    assert pauses == [3.0] and source.calls == 3


def test_stop_ends_the_spacing_wait_and_answers_that_serve_is_stopping():
    source = Blocking()
    source.release.set()
    state = ServerState(source, version="1", min_reload_spacing=3600.0, log=quiet)
    state.load()
    results: list[LoadResult] = []
    waiting = threading.Thread(target=lambda: results.append(state.load()))
    waiting.start()
    wait_until(lambda: state._running is not None, what="the reload to wait out the spacing")
    state.stop()
    waiting.join()
    assert results[0].error == "the load was cancelled: serve is stopping" and source.calls == 1


def test_an_unchanged_file_is_fresh_and_a_failing_source_turns_stale(tmp_path):
    """R3: health says degraded when the source has not been read successfully for
    STALE_INTERVALS polls plus a load's timeout; a file that did not change is fresh."""
    path = write_db(tmp_path / "db.json", [release("app", "dev")])
    now = [1000.0]
    state = ServerState(FileSource(path), version="1", load_timeout=10.0, wall=lambda: now[0], log=quiet)
    state.poll_once()
    assert state.stale_after == 13.0
    now[0] += 60
    state.poll_once()  # a stat: unchanged
    assert state.checks()["source"] == "healthy" and not state.degraded
    now[0] += 60  # no poll meanwhile (the poll thread is stuck)
    assert state.checks()["source"] == "degraded" and state.degraded
    assert "was last read successfully 60s ago (polled every 1s)" in state.reasons()["source"]


def test_a_git_source_is_a_dependency_in_the_health_document(tmp_path):
    """G4: seed 004's dependencies: the remote with the source's status and the last fetch's
    latency; a file source has none."""
    path = write_db(tmp_path / "db.json", [release("app", "dev")])
    now = [10.0]

    class Remote(FileSource):
        url = "https://git.example/org/config.git"

        def load(self, *, loaded_at):
            now[0] += 0.25  # the fetch takes 250 ms
            return super().load(loaded_at=loaded_at)

    state = ServerState(Remote(path), version="1", wall=lambda: now[0], log=quiet)
    state.load()
    health = state.health()
    assert health["dependencies"] == [
        {"name": "https://git.example/org/config.git", "status": "healthy", "latency_ms": 250}
    ]
    assert ServerState(FileSource(path), version="1").health()["dependencies"] == []


def test_metrics_escape_label_values_and_count_methods_in_a_bounded_set():
    metrics = Metrics()
    metrics.observe_request('/a"b\\c\nd', "GET", 200)
    metrics.observe_request("/x", "PROPFIND", 405)
    metrics.observe_request("/x", "X" * 1000, 405)
    text = metrics.render(releases=None, degraded=True)
    assert 'route="/a\\"b\\\\c\\nd"' in text
    assert text.count('method="OTHER"') == 1 and 'route="/x",method="OTHER",status="405"} 2' in text
    samples = [line.split(" ")[0] for line in text.splitlines() if not line.startswith("#")]
    # nothing loaded: no release count and no load time, rather than a made-up 0
    assert "gitops_release_serve_releases" not in samples
    assert "gitops_release_serve_last_good_load_timestamp_seconds" not in samples
    assert "gitops_release_serve_degraded 1\n" in text


def test_a_request_cancelled_at_shutdown_is_logged_499_not_500():
    """R3/R12: uvicorn cancels a request still running when its graceful timeout ends; that is
    not a server error, so it is not logged or counted as a 500."""

    async def cancelled_app(scope, receive, send):
        raise asyncio.CancelledError

    lines: list[str] = []
    metrics = Metrics()
    app = AccessLog(cancelled_app, metrics=metrics, write=lines.append)
    scope = {"type": "http", "method": "POST", "path": "/v1/reload", "query_string": b""}

    async def call() -> None:
        await app(scope, None, None)  # type: ignore[arg-type]

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(call())
    assert '"status": 499' in lines[0]
    assert metrics.requests == {("unmatched", "POST", 499): 1}
