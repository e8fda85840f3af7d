"""await-argocd-sync through the command against the Argo CD sandbox's fault modes (issue 9
completeness review, gaps 4 and 11): a sync that ends in phase Error, a ComparisonError (lasting
and transient), a slow refresh, and a stream that drops and stays away while the app converges."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gitops_release.commands import await_argocd_sync as aas
from gitops_release.commands.base import Context
from gitops_release.errors import ReleaseError, WaitFailedError
from gitops_release.runtime import Console, InputReader
from gitops_release.sandbox.argocd import ArgoCDSandbox, Fault
from tests.fixtures.argocd_sandbox import ARGOCD_TOKEN
from tests.integration import test_await_argocd_sync as base
from tests.integration.test_await_argocd_sync import (
    REPO,
    Config,
    Run,
    application,
    converged_at,
    wait_for,
)

# the fixtures of the main await-argocd-sync integration tests
config, web, await_sync = base.config, base.web, base.await_sync

STREAM = "/api/v1/stream/applications"


def app_gets(sandbox: ArgoCDSandbox, name: str = "web") -> list:
    return [r for r in sandbox.requests if r.method == "GET" and r.path == f"/api/v1/applications/{name}"]


def progress_lines(log: str, name: str = "web") -> list[str]:
    return [line for line in log.splitlines() if line.startswith(f"{name}: ")]


# -- a sync that ends in phase Error -------------------------------------------------------------


def test_a_sync_error_fails_at_once_with_the_operations_message(
    argocd_sandbox: ArgoCDSandbox, config: Config, await_sync: Callable[..., Run]
) -> None:
    app = application("web")
    app["spec"]["syncPolicy"]["retry"] = {"limit": 0}  # else Argo CD retries an automated sync 5 times
    argocd_sandbox.store.add_application(app)
    wait_for(argocd_sandbox, "web", converged_at(config.head()))
    argocd_sandbox.store.set_fault("web", Fault("sync-error", message="etcdserver: request timed out"))
    sha = config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    # Neither the grace nor the timeout ends this wait: only the failed operation can.
    got = await_sync(applications="web", timeout="20s", degraded_grace="20s")
    assert isinstance(got.error, WaitFailedError), got.log
    assert f"sync operation Error at revision {sha[:7]}: etcdserver: request timed out" in got.error.message
    assert "last state" in got.error.message
    operation = got.evidence["applications"][0]["operation"]
    assert operation["phase"] == "Error" and operation["revisions"] == [sha]
    assert got.evidence["outcome"] == "failed"


# -- ComparisonError ---------------------------------------------------------------------------


def test_a_lasting_comparison_error_fails_after_the_grace_naming_its_message(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    # Argo CD cannot render the new commit: sync Unknown, no revision, a ComparisonError condition.
    message = "kustomize build apps/web failed: accumulating resources: missing.yaml"
    argocd_sandbox.store.set_fault(web, Fault("comparison-error", message=message))
    config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    got = await_sync(applications=web, degraded_grace="500ms", timeout="20s")
    assert isinstance(got.error, WaitFailedError), got.log  # not WaitTimeoutError: the grace ended it
    assert f"ComparisonError: Failed to load target state: {message}" in got.error.message
    assert "web" in got.error.message and "last state: sync Unknown" in got.error.message
    app = got.evidence["applications"][0]
    assert app["verdict"] == "failed" and app["revision"]["synced"] == []
    assert app["conditions"] == [
        {"type": "ComparisonError", "message": f"Failed to load target state: {message}"}
    ]


def test_a_comparison_error_that_clears_within_the_grace_succeeds(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    argocd_sandbox.store.set_fault(web, Fault("comparison-error", message="repository not accessible"))
    sha = config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    wait_for(argocd_sandbox, web, lambda a: a["status"]["sync"]["status"] == "Unknown")

    def fixed() -> None:  # the repository answers again: the next comparison renders the commit
        argocd_sandbox.store.set_fault(web, None)
        argocd_sandbox.store.notify_push(REPO)

    # The fix lands once the wait has seen the error (its first line: sync Unknown, no revision).
    got = await_sync(applications=web, refresh="none", degraded_grace="10s", on_log=("rev none", fixed))
    assert got.error is None, got.log
    app = got.evidence["applications"][0]
    assert app["revision"]["synced"] == [sha] and app["conditions"] == []
    syncs = [t["sync"] for t in app["transitions"]]
    assert syncs[0] == "Unknown" and syncs[-1] == "Synced"


# -- slow refresh --------------------------------------------------------------------------------


def test_a_slow_refresh_is_waited_for_and_the_wait_succeeds(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    old = config.head()
    argocd_sandbox.store.set_fault(web, Fault("slow-refresh", duration=1.0))
    # Pushed, and no webhook: only the command's refresh (answered once it resolved) shows the commit.
    sha = config.set_tag("2.0.0")
    got = await_sync(applications=web, timeout="20s")
    assert got.error is None, got.log
    assert got.outputs.as_dict()["revision"] == sha
    assert app_gets(argocd_sandbox)[0].query.get("refresh") == "normal"
    # The first state the wait saw is the refreshed one, never the old revision.
    first = progress_lines(got.log)[0]
    assert f"rev {sha[:7]}" in first and old[:7] not in first, got.log


# -- the stream stays away while the app converges ------------------------------------------------


def test_a_transition_while_no_stream_is_connected_is_caught_by_the_re_read(
    tmp_path: Path, argocd_sandbox: ArgoCDSandbox, config: Config, web: str
) -> None:
    """The watch drops after its first event; the reconnect stalls (and then fails: every later
    stream connection does) while the app moves to the new commit and converges. Only the GET the
    watch thread makes before each reconnect can see that: the wait ends done, without falling
    back to polling."""
    sandbox = argocd_sandbox
    sha = config.set_tag("2.0.0")  # pushed; Argo CD is told only while no stream is connected
    sandbox.drop_streams(after_events=1, after_seconds=0.3, count=1)
    premise: dict[str, object] = {}

    def streams() -> int:
        return sum(r.path == STREAM for r in sandbox.requests)

    def until(check: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + 15
        while not check():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def converge_while_stalled() -> None:
        if not until(lambda: streams() == 1):  # the first watch is open (for 0.3 s)
            return
        sandbox.stall("GET", STREAM, 3.0, count=1)  # the reconnect hangs...
        sandbox.inject("GET", STREAM, 502, count=1000)  # ...and fails, as every later one
        if not until(lambda: streams() == 2):
            return
        gets_before = len(app_gets(sandbox))
        sandbox.store.notify_push(REPO)
        wait_for(sandbox, web, converged_at(sha))
        # Converged before the watch thread's next GET: nothing has read the new state yet.
        premise["unseen"] = len(app_gets(sandbox)) == gets_before
        premise["streams"] = streams()

    helper = threading.Thread(target=converge_while_stalled)
    helper.start()
    values = {
        "server": sandbox.url,
        "token": ARGOCD_TOKEN,
        "applications": web,
        "repo_path": str(config.checkout),
        "refresh": "none",
        "timeout": "20s",
        # Past the scenario: the main loop's re-read of a silent app (every poll-interval) would
        # see the new state too; here only the watch thread's GET before the reconnect may.
        "poll_interval": "15s",
        "evidence_path": "evidence.json",
    }
    env = {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in values.items()}
    err = io.StringIO()
    console = Console(env={"RUNNER_DEBUG": "1"}, out=io.StringIO(), err=err)  # reconnects are debug lines
    ctx = Context(console=console, env={}, workdir=tmp_path)
    error: ReleaseError | None = None
    try:
        aas.run(aas.Inputs.from_reader(InputReader(env=env)), ctx)
    except ReleaseError as exc:
        error = exc
    helper.join()
    log = err.getvalue()
    assert premise == {"unseen": True, "streams": 2}, (premise, log)
    assert error is None, log
    assert "watch stream dropped" in log and "reconnecting" in log
    assert "polling every" not in log  # the stream never came back: the re-read GET decided
    app = json.loads((tmp_path / "evidence.json").read_text(encoding="utf-8"))["applications"][0]
    assert app["verdict"] == "done" and app["revision"]["synced"] == [sha]
    last = app["transitions"][-1]
    assert (last["sync"], last["health"], last["revision"]) == ("Synced", "Healthy", sha)
