"""await-argocd-sync ``mode: drift-report`` through the command against the Argo CD sandbox
(issue 9 completeness review, gap 6): resources not Synced / not Healthy, the ``images`` input, an
explicit ``manifest-path``, no sync and no stream, and a release manifest over the size cap."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from gitops_release.commands import await_argocd_sync as aas
from gitops_release.errors import ConfigError, WaitFailedError
from gitops_release.sandbox.argocd import ArgoCDSandbox, Fault
from tests.integration import test_await_argocd_sync as base
from tests.integration.test_await_argocd_sync import REPO, Config, Run, application, converged_at, wait_for

# the fixtures of the main await-argocd-sync integration tests
config, web, await_sync = base.config, base.web, base.await_sync


def manifest(*references: str, pad: int = 0) -> str:
    """A release manifest as promote-overlay writes it; ``pad`` bytes of whitespace make it big
    while it stays a valid manifest (so only the size cap can refuse it)."""
    document = {"schemaVersion": 1, "images": [{"reference": ref} for ref in references]}
    return json.dumps(document) + " " * pad


def status_of(app: dict) -> tuple[str, str, str]:
    status = app.get("status", {})
    return (
        status.get("sync", {}).get("status", ""),
        status.get("health", {}).get("status", ""),
        status.get("sync", {}).get("revision", ""),
    )


def test_resources_not_synced_or_not_healthy_are_drift_and_nothing_is_synced_or_watched(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    store = argocd_sandbox.store
    # api: a manual-sync app, synced once; then a change that is not an image (an annotation).
    store.add_application(application("api", automated=False))
    wait_for(argocd_sandbox, "api", lambda a: status_of(a)[0] == "OutOfSync")
    store.sync("api", None, {})
    wait_for(argocd_sandbox, "api", converged_at(config.head()))
    overlay = base.overlay("1.0.0") + "commonAnnotations:\n  team: api\n"
    changed = config.commit("apps/api/kustomization.yaml", overlay)
    # web: auto-synced to 2.0.0, which never becomes healthy.
    store.set_fault(web, Fault("degraded", message="Back-off pulling image"))
    sha = config.set_tag("2.0.0")
    store.notify_push(REPO)
    wait_for(argocd_sandbox, web, lambda a: status_of(a) == ("Synced", "Degraded", sha))
    wait_for(argocd_sandbox, "api", lambda a: status_of(a) == ("OutOfSync", "Healthy", sha))
    assert changed != sha
    before = len(argocd_sandbox.requests)

    got = await_sync(applications="web,api", mode="drift-report")
    assert got.error is None, got.log
    assert got.outputs.as_dict()["drift"] is True and got.evidence["outcome"] == "drift"
    apps = {app["name"]: app for app in got.evidence["applications"]}
    # The images agree (rendered from the checkout = live): the resources alone are the drift.
    assert apps["web"]["images"]["drift"] == [] and apps["api"]["images"]["drift"] == []
    assert apps["web"]["images"]["live"] == ["ghcr.io/acme/web:2.0.0"]
    (sick,) = apps["web"]["resourcesNotReady"]
    assert (sick["kind"], sick["name"], sick["namespace"]) == ("Deployment", "web", "web")
    assert (sick["sync"], sick["health"]) == ("Synced", "Degraded")
    (behind,) = apps["api"]["resourcesNotReady"]
    assert (behind["kind"], behind["namespace"], behind["sync"]) == ("Deployment", "api", "OutOfSync")
    summary = got.outputs.summary()
    assert "not ready Deployment/web" in summary and "Degraded" in summary
    # One look: no sync asked for, no stream opened, store state untouched.
    made = argocd_sandbox.requests[before:]
    assert made and not [r for r in made if r.method != "GET"]
    assert not [r for r in made if r.path.startswith("/api/v1/stream")]
    assert argocd_sandbox.stream_connections == 0
    assert "operation" not in store.get("api") and status_of(store.get("api"))[0] == "OutOfSync"

    got = await_sync(applications="web,api", mode="drift-report", fail_on_drift="true")
    assert isinstance(got.error, WaitFailedError), got.log
    assert "drift in web, api" in got.error.message
    assert argocd_sandbox.stream_connections == 0


def test_the_images_input_is_the_expected_images(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    # A release manifest beside the overlay says 2.0.0; the images input (3.1.4) wins over it.
    (config.checkout / "apps/web/release-manifest.json").write_text(
        manifest("ghcr.io/acme/web:2.0.0"), encoding="utf-8"
    )
    got = await_sync(applications=web, mode="drift-report", images="ghcr.io/acme/web:3.1.4")
    assert got.error is None, got.log
    images = got.evidence["applications"][0]["images"]
    assert images["source"] == "input" and images["expected"] == ["ghcr.io/acme/web:3.1.4"]
    assert images["drift"] == [
        {"image": "ghcr.io/acme/web", "expected": "ghcr.io/acme/web:3.1.4", "live": "ghcr.io/acme/web:1.0.0"}
    ]
    assert got.outputs.as_dict()["drift"] is True
    # The live image as input: no drift.
    got = await_sync(applications=web, mode="drift-report", images="ghcr.io/acme/web:1.0.0")
    assert got.error is None, got.log
    assert got.outputs.as_dict()["drift"] is False
    assert got.evidence["applications"][0]["images"]["source"] == "input"


def test_an_explicit_manifest_path_is_read(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    # Not beside the overlay (that one says 2.0.0): manifest-path points elsewhere in repo-path.
    (config.checkout / "apps/web/release-manifest.json").write_text(
        manifest("ghcr.io/acme/web:2.0.0"), encoding="utf-8"
    )
    (config.checkout / "releases").mkdir()
    (config.checkout / "releases/web.json").write_text(manifest("ghcr.io/acme/web:2.5.0"), encoding="utf-8")
    got = await_sync(applications=web, mode="drift-report", manifest_path="releases/web.json")
    assert got.error is None, got.log
    images = got.evidence["applications"][0]["images"]
    assert images["source"] == "manifest" and images["expected"] == ["ghcr.io/acme/web:2.5.0"]
    assert images["drift"] == [
        {"image": "ghcr.io/acme/web", "expected": "ghcr.io/acme/web:2.5.0", "live": "ghcr.io/acme/web:1.0.0"}
    ]
    # A manifest-path that is not there is said, not skipped.
    got = await_sync(applications=web, mode="drift-report", manifest_path="releases/api.json")
    assert isinstance(got.error, ConfigError), got.log
    assert "manifest-path releases/api.json does not exist" in got.error.message


@pytest.mark.parametrize("explicit", [True, False], ids=["manifest-path", "beside-the-overlay"])
def test_a_release_manifest_over_the_size_cap_is_refused(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run], explicit: bool
) -> None:
    rel = "releases/web.json" if explicit else "apps/web/release-manifest.json"
    path = config.checkout / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    # A valid manifest, one byte over the cap: only the cap refuses it (read whole, it would parse).
    head = manifest("ghcr.io/acme/web:2.0.0")
    path.write_text(manifest("ghcr.io/acme/web:2.0.0", pad=aas.MAX_MANIFEST_BYTES + 1 - len(head)))
    assert path.stat().st_size == aas.MAX_MANIFEST_BYTES + 1
    values = {"manifest_path": rel} if explicit else {}
    got = await_sync(applications=web, mode="drift-report", **values)
    assert isinstance(got.error, ConfigError), got.log
    name = "manifest-path" if explicit else "repo-path"
    assert f"{name} {rel} is larger than {aas.MAX_MANIFEST_BYTES} bytes" in got.error.message
