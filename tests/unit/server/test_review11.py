"""Review 11a reproductions for server/ (each fails on main 1222a46)."""

from __future__ import annotations

import threading

import pytest

from gitops_release.adapters.release_source import FileSource, LoadResult
from gitops_release.server.app import create_app
from gitops_release.server.state import ServerState
from tests.fixtures.serve_api import asgi_call, release, wait_until, write_db


def quiet(_: str) -> None:
    return None


class HangsAfterFirst:
    """A good first load, then a load that hangs (a fetch to a remote that never answers)."""

    def __init__(self, path):
        self.inner = FileSource(path)
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def describe(self):
        return "hangs"

    def changed(self):
        return True

    def load(self, *, loaded_at) -> LoadResult:
        self.calls += 1
        if self.calls > 1:
            self.entered.set()
            self.release.wait()
        return self.inner.load(loaded_at=loaded_at)

    def close(self):
        return None


def test_stop_returns_while_a_load_hangs(tmp_path):
    """SIGTERM during a hung fetch: the lifespan's state.stop() joins the poll thread, which
    waits for git (300 s), so the pod is SIGKILLed after its grace period (reproduced with the
    CLI: still alive 40 s after SIGTERM, `git fetch` still running)."""
    source = HangsAfterFirst(write_db(tmp_path / "db.json", [release("app", "dev")]))
    state = ServerState(source, version="1", poll_interval=0.01, log=quiet)
    state.start()
    try:
        wait_until(source.entered.is_set, what="the second load to hang")
        stopper = threading.Thread(target=state.stop, daemon=True)
        stopper.start()
        stopper.join(timeout=10)  # a bound for a broken run, not a measured time
        stuck = stopper.is_alive()
    finally:
        source.release.set()
    stopper.join()
    assert not stuck, "ServerState.stop() waits for a hung load"


def test_health_reports_a_load_that_hangs(tmp_path):
    """While the poll is stuck (hung fetch, FIFO), nothing is reloaded, yet health and
    gitops_release_serve_degraded say all is well: the staleness is invisible."""
    source = HangsAfterFirst(write_db(tmp_path / "db.json", [release("app", "dev")]))
    now = [1000.0]
    state = ServerState(source, version="1", poll_interval=1.0, wall=lambda: now[0], log=quiet)
    state.start()
    try:
        wait_until(source.entered.is_set, what="the second load to hang")
        now[0] += 600  # ten minutes later, still in the same load
        checks = state.checks()
    finally:
        source.release.set()
        state.stop()
    assert checks["source"] != "healthy", checks


@pytest.mark.parametrize("path", ["/v1/releases?container=app", "/health/ready", "/health/live"])
def test_head_is_answered_like_get(tmp_path, path):
    """nginx (and seed 001's net/http server) answer HEAD for every GET; here it is a 405,
    so HEAD-based uptime checks and `curl -I` fail."""
    state = ServerState(FileSource(write_db(tmp_path / "db.json", [release("app", "dev")])), version="1")
    state.load()
    reply = asgi_call(create_app(state, access_log=quiet), "HEAD", path)
    assert reply.status == 200 and reply.body == b""
