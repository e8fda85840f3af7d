"""await-argocd-sync: which apps a wait is about, by namespace AND name (review 9a #1, #2): a
same-named app in another namespace never counts, junk from the server is ignored, several names
are watched on one server-filtered stream each."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest

from gitops_release.adapters.argocd import WatchEvent
from gitops_release.commands import await_argocd_sync as aas
from gitops_release.commands.base import Context
from gitops_release.errors import ConfigError
from gitops_release.runtime import Console, InputReader
from tests.unit.commands.test_await_argocd_sync_loop import SHA, ScriptedClient, app


def inputs(**values: str) -> aas.Inputs:
    values = {"server": "http://127.0.0.1:9", "expected_revision": SHA, **values}
    env = {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in values.items()}
    return aas.Inputs.from_reader(InputReader(env=env))


def waiter(client: Any, **values: str) -> tuple[aas.Waiter, io.StringIO]:
    given = inputs(**values)
    err = io.StringIO()
    ctx = Context(console=Console(env={}, out=io.StringIO(), err=err), env={})
    expected = aas.Expected((SHA,), None, None)
    started = time.monotonic()
    deadline = started + given.timeout
    images = aas.ImageResolver(given, ctx, expected, deadline=deadline, clock=time.monotonic, strict=False)
    made = aas.Waiter(
        given,
        ctx,
        client,
        aas.connection(given),
        expected,
        images,
        started=started,
        deadline=deadline,
        clock=time.monotonic,
    )
    return made, err


def named(name: str, namespace: str | None, **kwargs: Any) -> dict[str, Any]:
    body = app(**kwargs)
    body["metadata"] = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return body


def event(body: dict[str, Any], kind: str = "MODIFIED") -> tuple[str, WatchEvent]:
    return ("event", WatchEvent(kind, body))


# -- identity ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        {"name": "", "namespace": "argocd"},
        {"namespace": "argocd"},
        {"name": 5, "namespace": "argocd"},
        {"name": "Web/../x", "namespace": "argocd"},
        {"name": "web", "namespace": "Team A"},
        {"name": "web", "namespace": ["argocd"]},
        "web",
    ],
)
def test_an_event_with_an_empty_or_invalid_name_is_ignored(metadata: Any) -> None:
    made, _ = waiter(ScriptedClient([app()]), selector="team=a")
    body = app()
    body["metadata"] = metadata
    made.handle(event(body, "ADDED"), time.monotonic())
    assert made.order == [] and made.trackers == {}


def test_a_selector_keeps_same_named_apps_of_several_namespaces_apart() -> None:
    made, log = waiter(ScriptedClient([app()]), selector="team=a")
    now = time.monotonic()
    made.handle(event(named("web", "argocd"), "ADDED"), now)
    made.handle(event(named("web", "team-a", health="Degraded"), "ADDED"), now)
    # The app in Argo CD's own namespace keeps its bare name; the other is namespace/name.
    assert made.order == ["web", "team-a/web"]
    assert made.trackers["web"].last.health_status == "Healthy"
    assert made.trackers["team-a/web"].last.health_status == "Degraded"
    assert made.where("team-a/web") == ("team-a", "web") and made.where("web") == ("argocd", "web")
    assert "team-a/web: found by selector" in log.getvalue()


def test_a_selector_with_app_namespace_drops_events_of_other_namespaces() -> None:
    made, _ = waiter(ScriptedClient([app()]), selector="team=a", app_namespace="team-a")
    now = time.monotonic()
    made.handle(event(named("web", "argocd"), "ADDED"), now)
    assert made.order == []
    made.handle(event(named("web", "team-a"), "ADDED"), now)
    assert made.order == ["web"] and made.where("web") == ("team-a", "web")


def test_named_apps_drop_events_of_a_same_named_app_in_another_namespace() -> None:
    client = ScriptedClient([named("web", "team-a", health="Progressing")])
    made, _ = waiter(client, applications="web", app_namespace="team-a", refresh="none")
    made.start()
    assert made.assessments["web"].verdict is aas.rules.Verdict.WAITING
    made.handle(event(named("web", "argocd")), time.monotonic())  # done, but the wrong app
    assert made.trackers["web"].last.health_status == "Progressing"
    made.handle(event(named("other", "team-a")), time.monotonic())
    assert list(made.trackers) == ["web"]
    made.handle(event(named("web", "team-a")), time.monotonic())
    assert made.done()


def test_named_apps_without_app_namespace_take_the_namespace_the_get_found() -> None:
    client = ScriptedClient([named("web", "gitops", health="Progressing")])
    made, _ = waiter(client, applications="web", refresh="none")
    made.handle(event(named("web", "gitops")), time.monotonic())  # before any GET: not known yet
    assert made.trackers == {}
    made.start()
    made.handle(event(named("web", "argocd")), time.monotonic())
    assert not made.done()
    made.handle(event(named("web", "gitops")), time.monotonic())
    assert made.done()


def test_a_get_answered_from_another_namespace_is_refused() -> None:
    # A server that ignores appNamespace answers with its own app of that name.
    made, _ = waiter(ScriptedClient([named("web", "argocd")]), applications="web", app_namespace="team-a")
    with pytest.raises(ConfigError, match="argocd/web when asked for team-a/web"):
        made.start()


def test_several_names_watch_one_stream_per_app_filtered_by_the_server() -> None:
    class Streams(ScriptedClient):
        def __init__(self) -> None:
            super().__init__([named("web", "argocd")])
            self.watched: list[tuple[str | None, str | None]] = []
            self.closed = threading.Event()

        def watch(self, *, name: str | None = None, selector: str | None = None, **_: Any) -> Any:
            self.watched.append((name, selector))
            self.closed.wait(5)
            return iter(())

        def close(self) -> None:
            self.closed.set()

    clients: list[Streams] = []
    made, _ = waiter(ScriptedClient([named("web", "argocd")]), applications="web\napi", refresh="none")

    def watch_client() -> Streams:
        clients.append(Streams())
        return clients[-1]

    made.watch_client = watch_client  # type: ignore[method-assign]
    made.watch()
    try:
        deadline = time.monotonic() + 5
        while sum(len(c.watched) for c in clients) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        made.stop()
    assert sorted(w for c in clients for w in c.watched) == [("api", None), ("web", None)]
    assert not any(w.is_alive() for w in made.watchers)  # stop() closed the clients and joined


def test_stop_with_a_watch_thread_not_started_yet_does_not_raise() -> None:
    # Ctrl-C can land between registering a watch thread and starting it: stop() then runs from
    # the interrupt's clean-up and must not fail with "cannot join thread before it is started"
    # (that turned a cancelled wait into an internal error).
    made, _ = waiter(ScriptedClient([]), applications="web")
    made.watchers.append(aas.Watcher(made.client, dict, made.events, name="web", selector=None, pause=0.1))
    made.stop()
    assert not made.watchers[0].is_alive()
