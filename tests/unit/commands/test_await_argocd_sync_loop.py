"""await-argocd-sync's wait loop on a scripted client: a stale status asks for a refresh, and with
sync: true only the operation we requested counts (never an older one, succeeded or failed)."""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from gitops_release.commands import await_argocd_sync as aas
from gitops_release.commands.base import Context
from gitops_release.errors import WaitFailedError
from gitops_release.runtime import Console, InputReader

SHA = "0123456789abcdef0123456789abcdef01234567"
OLD = "2020-01-01T00:00:00Z"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def app(
    *,
    phase: str = "Succeeded",
    started: str = OLD,
    finished: str | None = OLD,
    reconciled: str = OLD,
    health: str = "Healthy",
    sync: str = "Synced",
    revision: str = SHA,
    running: bool = False,
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "phase": phase,
        "startedAt": started,
        "message": "one or more objects failed to apply" if phase == "Failed" else "",
        "operation": {"sync": {"revision": revision}},
        "syncResult": {"revision": revision},
    }
    if finished is not None:
        state["finishedAt"] = finished
    body: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/c", "path": "apps/web"},
        },
        "status": {
            "sync": {"status": sync, "revision": revision},
            "health": {"status": health},
            "operationState": state,
            "reconciledAt": reconciled,
        },
    }
    if running:
        body["operation"] = {"sync": {"revision": revision}}
    return body


class ScriptedClient:
    """GETs answer the scripted apps in turn (the last one repeats); records every call."""

    def __init__(self, gets: list[Any], after_sync: list[Any] | None = None) -> None:
        self.gets = list(gets)
        self.after_sync = after_sync
        self.calls: list[tuple[str, Any]] = []

    def _next(self) -> dict[str, Any]:
        item = self.gets.pop(0) if len(self.gets) > 1 else self.gets[0]
        return item() if callable(item) else item

    def get_application(self, name: str, *, refresh: str | None = None) -> dict[str, Any]:
        self.calls.append(("get", refresh))
        return self._next()

    def list_applications(self, *, selector: str | None = None) -> list[dict[str, Any]]:
        self.calls.append(("list", selector))
        return [self._next()]

    def sync(self, name: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("sync", kwargs))
        if self.after_sync is not None:
            self.gets = list(self.after_sync)
        return {}

    def close(self) -> None:
        self.calls.append(("close", None))


def wait(client: ScriptedClient, **values: str) -> tuple[aas.Waiter, str]:
    values = {
        "server": "http://127.0.0.1:9",
        "applications": "web",
        "expected_revision": SHA,
        "stream": "false",
        "refresh": "none",
        "poll_interval": "20ms",
        "timeout": "10s",
        **values,
    }
    env = {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in values.items()}
    inputs = aas.Inputs.from_reader(InputReader(env=env))
    err = io.StringIO()
    ctx = Context(console=Console(env={}, out=io.StringIO(), err=err), env={})
    expected = aas.Expected((SHA,), None, None)
    started = time.monotonic()
    deadline = started + inputs.timeout
    images = aas.ImageResolver(inputs, ctx, expected, deadline=deadline, clock=time.monotonic, strict=False)
    waiter = aas.Waiter(
        inputs,
        ctx,
        client,  # type: ignore[arg-type]
        aas.connection(inputs),
        expected,
        images,
        started=started,
        deadline=deadline,
        clock=time.monotonic,
    )
    try:
        waiter.wait()
    finally:
        waiter.stop()
    return waiter, err.getvalue()


def test_a_stale_status_asks_for_a_refresh_and_waits_for_a_fresh_one() -> None:
    # reconciledAt before the operation's finishedAt: health was computed before the sync ended.
    stale = app(started="2020-01-01T00:00:05Z", finished="2020-01-01T00:00:09Z", reconciled=OLD)
    fresh = app(
        started="2020-01-01T00:00:05Z", finished="2020-01-01T00:00:09Z", reconciled="2020-01-01T00:00:10Z"
    )
    client = ScriptedClient([stale, stale])
    client.get_application = _refreshing(client, fresh)  # type: ignore[method-assign]
    waiter, log = wait(client)
    assert ("get", "normal") in client.calls  # the refresh the stale status asked for
    assert client.calls[0] == ("get", None)
    assert "refresh requested" in log
    assert waiter.done()


def _refreshing(client: ScriptedClient, fresh: dict[str, Any]) -> Any:
    plain = client.get_application

    def get_application(name: str, *, refresh: str | None = None) -> dict[str, Any]:
        if refresh == "normal":
            client.calls.append(("get", refresh))
            return fresh
        return plain(name, refresh=refresh)

    return get_application


def test_with_sync_an_older_successful_operation_does_not_count() -> None:
    done_before = app()  # Synced + Healthy at the expected revision, by an operation from 2020
    client = ScriptedClient(
        [done_before],
        after_sync=[
            done_before,
            done_before,
            lambda: app(phase="Running", started=_now(), finished=None, running=True),
            lambda: app(started=_now(), finished=_now(), reconciled=_now()),
        ],
    )
    _, log = wait(client, sync="true")
    syncs = [call for call in client.calls if call[0] == "sync"]
    assert syncs == [("sync", {"revision": SHA, "prune": False, "sync_options": ()})]
    gets_after_sync = client.calls[client.calls.index(syncs[0]) + 1 :]
    assert len([c for c in gets_after_sync if c[0] == "get"]) >= 4  # it waited for the new operation
    assert "sync requested" in log


def test_with_sync_an_older_failed_operation_does_not_fail_the_wait() -> None:
    failed_before = app(phase="Failed", health="Healthy")
    client = ScriptedClient(
        [failed_before],
        after_sync=[
            failed_before,
            lambda: app(phase="Running", started=_now(), finished=None, running=True),
            lambda: app(started=_now(), finished=_now(), reconciled=_now()),
        ],
    )
    waiter, _ = wait(client, sync="true")
    assert waiter.done()


def test_without_sync_a_failed_operation_for_the_expected_revision_fails_at_once() -> None:
    client = ScriptedClient([app(phase="Failed", sync="OutOfSync")])
    with pytest.raises(WaitFailedError, match="one or more objects failed to apply"):
        wait(client)
    assert len([c for c in client.calls if c[0] == "get"]) == 1
