"""server/state.py: loads one at a time, the poll thread, stop, and the metrics text."""

from __future__ import annotations

import threading

from gitops_release.adapters.release_source import FileSource, LoadResult
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
    assert '"error": "RuntimeError(\'boom\')"' in lines[0]


class Blocking:
    """A source whose load waits until released, counting loads under way at once."""

    def __init__(self):
        self.release = threading.Event()
        self.running = 0
        self.most = 0

    def describe(self):
        return "blocking"

    def changed(self):
        return True

    def load(self, *, loaded_at):
        self.running += 1
        self.most = max(self.most, self.running)
        self.release.wait(timeout=30)
        self.running -= 1
        return LoadResult(None, None, None)

    def close(self):
        return None


def test_loads_run_one_at_a_time():
    source = Blocking()
    state = ServerState(source, version="1", log=quiet)
    threads = [threading.Thread(target=state.load) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_until(lambda: source.running == 1, what="one load under way")
    source.release.set()
    for thread in threads:
        thread.join()
    assert source.most == 1
    assert state.metrics.reloads["unchanged"] == 4


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
