"""The Argo CD emulator's lifecycle over real sockets: stop() ends every connection and thread,
GET ?refresh= waits for the refresh (never answers the stale app), loopback-only binding."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gitops_release.errors import InputError
from gitops_release.sandbox.argocd import ArgoCDSandbox, Fault, Timing

TOKEN = "argocd-sandbox-token"
#: Correctness bounds (something that never happens fails the test), not speed goals.
BOUND = 5.0


def application(name: str) -> dict[str, Any]:
    # A reconciled app whose repository is not registered: each refresh ends in a ComparisonError
    # at once, which is enough to see when a refresh was processed.
    return {
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example/none.git", "path": name, "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
        },
    }


def send_get(sandbox: ArgoCDSandbox, path: str) -> socket.socket:
    sock = socket.create_connection((sandbox.host, sandbox.port), timeout=BOUND)
    request = f"GET {path} HTTP/1.1\r\nHost: {sandbox.host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    sock.sendall(request.encode())
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b""
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:]
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), json.loads(body)


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + BOUND
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


def requested(sandbox: ArgoCDSandbox, count: int) -> Callable[[], bool]:
    return lambda: len(sandbox.requests) >= count


@pytest.fixture
def sandbox() -> Iterator[ArgoCDSandbox]:
    sandbox = ArgoCDSandbox(timing=Timing(reconcile_interval=0.02), tokens=(TOKEN,)).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()
    assert sandbox.violations == []


def slow(sandbox: ArgoCDSandbox, name: str, seconds: float) -> None:
    """``name`` added and reconciled once, then every refresh takes ``seconds``."""
    sandbox.store.add_application(application(name))
    sandbox.store.refresh(name, wait=BOUND)
    sandbox.store.set_fault(name, Fault("slow-refresh", duration=seconds))


def test_stop_ends_idle_stalled_and_refresh_waiting_connections_and_every_thread() -> None:
    before = set(threading.enumerate())
    sandbox = ArgoCDSandbox(timing=Timing(reconcile_interval=0.02), tokens=(TOKEN,)).start()
    slow(sandbox, "web", 60)
    idle = send_get(sandbox, "/api/v1/applications/web")
    assert read_response(idle)[0] == 200  # the keep-alive connection stays open, idle
    sandbox.stall("GET", "/api/v1/applications/web", 60)
    stalled = send_get(sandbox, "/api/v1/applications/web")
    until(requested(sandbox, 2))
    refreshing = send_get(sandbox, "/api/v1/applications/web?refresh=normal")
    until(requested(sandbox, 3))
    assert len(sandbox.connection_threads()) == 3

    sandbox.stop()

    for sock in (idle, stalled, refreshing):
        assert sock.recv(65536) == b""  # closed, nothing answered (a timeout fails the test)
        sock.close()
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []
    assert sandbox.violations == []  # the one answer it gave (to the idle connection) included


def test_refresh_answers_the_refreshed_app_however_slow_the_refresh(sandbox: ArgoCDSandbox) -> None:
    slow(sandbox, "web", 0.5)
    before = sandbox.store.get("web")["status"]["reconciledAt"]
    sock = send_get(sandbox, "/api/v1/applications/web?refresh=normal")
    status, app = read_response(sock)
    sock.close()
    assert status == 200
    assert "argocd.argoproj.io/refresh" not in (app["metadata"].get("annotations") or {})
    assert app["status"]["reconciledAt"] >= before


def test_a_refresh_wait_ends_when_its_client_leaves(sandbox: ArgoCDSandbox) -> None:
    slow(sandbox, "web", 60)
    sock = send_get(sandbox, "/api/v1/applications/web?refresh=normal")
    until(requested(sandbox, 1))
    assert len(sandbox.connection_threads()) == 1
    sock.close()
    until(lambda: sandbox.connection_threads() == [])


def test_past_the_refresh_deadline_the_answer_is_argocds_error_not_the_stale_app() -> None:
    sandbox = ArgoCDSandbox(timing=Timing(reconcile_interval=0.02), tokens=(TOKEN,), refresh_deadline=0.2)
    with sandbox:
        slow(sandbox, "web", 60)
        sock = send_get(sandbox, "/api/v1/applications/web?refresh=hard")
        status, body = read_response(sock)
        sock.close()
    # server/application/application.go Get: errors.New(...) -> gRPC Unknown -> HTTP 500.
    message = "application refresh deadline exceeded"
    assert (status, body) == (500, {"error": message, "code": 2, "message": message})
    assert sandbox.violations == []


@pytest.mark.parametrize("host", ["0.0.0.0", "", "::", "192.0.2.1", "example.com"])  # noqa: S104
def test_only_a_loopback_address_is_accepted(host: str) -> None:
    with pytest.raises(InputError, match=r"loopback only \(127\.0\.0\.1, ::1 or localhost\)") as caught:
        ArgoCDSandbox(host=host, validate=False)
    assert caught.value.field == "host"


def test_localhost_is_served() -> None:
    with ArgoCDSandbox(host="localhost", validate=False, tokens=(TOKEN,)) as sandbox:
        assert sandbox.url == f"http://localhost:{sandbox.port}"
        sock = send_get(sandbox, "/api/v1/applications")
        assert read_response(sock)[0] == 200
        sock.close()
