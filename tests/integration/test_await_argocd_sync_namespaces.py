"""await-argocd-sync with apps in any namespace, against the Argo CD sandbox: every app is known by
namespace AND name. Argo CD's watch filters by appNamespace only together with a name
(server/application/application.go isApplicationPermitted) and List without appNamespace lists
every namespace; the sandbox does the same (review 9a #1, #2)."""

from __future__ import annotations

import time
from collections.abc import Callable

from gitops_release.errors import WaitTimeoutError
from gitops_release.sandbox.argocd import ArgoCDSandbox, Fault
from tests.integration import test_await_argocd_sync as base
from tests.integration.test_await_argocd_sync import REPO, Config, Run, application, converged_at

# the sandbox config repo and the command runner of the main await-argocd-sync tests
config, await_sync = base.config, base.await_sync


def in_namespace(app: dict, namespace: str) -> dict:
    app["metadata"]["namespace"] = namespace
    return app


def converged(sandbox: ArgoCDSandbox, name: str, namespace: str, sha: str) -> None:
    deadline = time.monotonic() + 20
    while not converged_at(sha)(sandbox.store.get(name, namespace)):
        assert time.monotonic() < deadline, sandbox.store.get(name, namespace).get("status")
        time.sleep(0.02)


def add_everywhere(sandbox: ArgoCDSandbox, config: Config, names: tuple[str, ...], **labels: str) -> None:
    """The same app names in team-a and in Argo CD's own namespace, converged at HEAD."""
    for namespace in ("team-a", "argocd"):
        for name in names:
            sandbox.store.add_application(in_namespace(application(name, **labels), namespace))
    for namespace in ("team-a", "argocd"):
        for name in names:
            converged(sandbox, name, namespace, config.head())


def streams(sandbox: ArgoCDSandbox) -> list[dict[str, str]]:
    return [r.query for r in sandbox.requests if r.path == "/api/v1/stream/applications"]


def test_several_names_in_app_namespace_ignore_same_named_apps_elsewhere(
    argocd_sandbox: ArgoCDSandbox, config: Config, await_sync: Callable[..., Run]
) -> None:
    # team-a/web is stuck (never healthy); argocd/web (another team's app, same name) is fine.
    add_everywhere(argocd_sandbox, config, ("web", "api"))
    argocd_sandbox.store.set_fault("web", Fault("never-healthy"), "team-a")
    config.set_tag("2.0.0", app="web")
    sha = config.set_tag("2.0.0", app="api")
    got = await_sync(
        applications="web\napi",
        app_namespace="team-a",
        timeout="4s",
        on_log=("waiting up to", lambda: argocd_sandbox.store.notify_push(REPO)),
    )
    assert converged_at(sha)(argocd_sandbox.store.get("web", "argocd"))
    assert argocd_sandbox.store.get("web", "team-a")["status"]["health"]["status"] != "Healthy"
    # team-a/web never becomes Healthy: the wait must not succeed on argocd/web's events.
    assert isinstance(got.error, WaitTimeoutError), got.log
    assert "web:" in got.error.message and "api:" not in got.error.message
    # One stream per app, filtered by the server (name + appNamespace); never the whole server.
    opened = streams(argocd_sandbox)
    assert opened and all(q.get("appNamespace") == "team-a" and q.get("name") for q in opened), opened
    assert {q["name"] for q in opened} == {"web", "api"}


def test_selector_finds_apps_in_other_namespaces_and_waits_for_them(
    argocd_sandbox: ArgoCDSandbox, config: Config, await_sync: Callable[..., Run]
) -> None:
    argocd_sandbox.store.add_application(in_namespace(application("web", team="x"), "team-a"))
    converged(argocd_sandbox, "web", "team-a", config.head())
    got = await_sync(selector="team=x", timeout="5s")
    # The list (no appNamespace) finds team-a/web; its refresh GET asks for it in team-a (a GET by
    # bare name asks for argocd/web, which does not exist: 403).
    assert got.error is None, got.error and got.error.one_line()
    rows = got.outputs.as_dict()["applications"]
    assert [row["name"] for row in rows] == ["team-a/web"]
    gets = [r for r in argocd_sandbox.requests if r.path == "/api/v1/applications/web"]
    assert gets and all(r.query.get("appNamespace") == "team-a" for r in gets)


def test_selector_keeps_same_named_apps_of_several_namespaces_apart(
    argocd_sandbox: ArgoCDSandbox, config: Config, await_sync: Callable[..., Run]
) -> None:
    add_everywhere(argocd_sandbox, config, ("web",), team="x")
    argocd_sandbox.store.set_fault("web", Fault("never-healthy"), "team-a")
    sha = config.set_tag("2.0.0", app="web")
    got = await_sync(
        selector="team=x",
        timeout="4s",
        on_log=("waiting up to", lambda: argocd_sandbox.store.notify_push(REPO)),
    )
    assert converged_at(sha)(argocd_sandbox.store.get("web", "argocd"))
    # Two apps, not one: argocd/web (named "web" as before) is done, team-a/web is not.
    assert isinstance(got.error, WaitTimeoutError), got.log
    assert "team-a/web:" in got.error.message and "1 of 2 application(s)" in got.error.message
    names = sorted((a["namespace"], a["name"]) for a in got.evidence["applications"])
    assert names == [("argocd", "web"), ("team-a", "web")]


def test_selector_with_app_namespace_ignores_events_of_other_namespaces(
    argocd_sandbox: ArgoCDSandbox, config: Config, await_sync: Callable[..., Run]
) -> None:
    # The selector stream is not filtered by namespace: argocd/web's events arrive too.
    add_everywhere(argocd_sandbox, config, ("web",), team="x")
    argocd_sandbox.store.set_fault("web", Fault("never-healthy"), "team-a")
    sha = config.set_tag("2.0.0", app="web")
    got = await_sync(
        selector="team=x",
        app_namespace="team-a",
        timeout="4s",
        on_log=("waiting up to", lambda: argocd_sandbox.store.notify_push(REPO)),
    )
    assert converged_at(sha)(argocd_sandbox.store.get("web", "argocd"))
    assert isinstance(got.error, WaitTimeoutError), got.log
    assert [(a["namespace"], a["name"]) for a in got.evidence["applications"]] == [("team-a", "web")]
    assert "found by selector" in got.log and "argocd/web" not in got.log


def test_selector_syncs_each_app_in_its_own_namespace(
    argocd_sandbox: ArgoCDSandbox, config: Config, await_sync: Callable[..., Run]
) -> None:
    argocd_sandbox.store.add_application(
        in_namespace(application("web", automated=False, team="x"), "team-a")
    )
    argocd_sandbox.store.sync("web", "team-a", {})
    converged(argocd_sandbox, "web", "team-a", config.head())
    sha = config.set_tag("2.0.0", app="web")
    got = await_sync(selector="team=x", sync="true", timeout="20s")
    assert got.error is None, got.error and got.error.one_line()
    syncs = [r for r in argocd_sandbox.requests if r.method == "POST" and r.path.endswith("/sync")]
    assert len(syncs) == 1 and syncs[0].body.get("appNamespace") == "team-a"
    assert converged_at(sha)(argocd_sandbox.store.get("web", "team-a"))
