"""await-argocd-sync against the Argo CD sandbox (real git, real kustomize): the issue's
Reliability list, one test (or two) per item."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_release.commands import await_argocd_sync as aas
from gitops_release.commands.base import Context
from gitops_release.errors import (
    ArgoCDAuthError,
    ReleaseError,
    WaitFailedError,
    WaitTimeoutError,
)
from gitops_release.runtime import Console, InputReader
from gitops_release.sandbox.argocd import ArgoCDSandbox, Fault
from tests.fixtures.argocd_sandbox import ARGOCD_TOKEN
from tests.fixtures.git_remotes import clone_of, git, make_bare_remote, url_to_path
from tests.fixtures.kustomize_base import base_files

REPO = "https://git.example.com/org/config.git"


def files(tag: str = "1.0.0", app: str = "web") -> dict[str, str]:
    found = base_files("base", "web", {"web": "ghcr.io/acme/web:0.0.1"})
    found[f"apps/{app}/kustomization.yaml"] = overlay(tag)
    return found


def overlay(tag: str) -> str:
    return f"resources:\n  - ../../base\nimages:\n  - name: ghcr.io/acme/web\n    newTag: '{tag}'\n"


class Config:
    """The config repo: a bare remote the sandbox reads, and the job's checkout (repo-path)."""

    def __init__(self, root: Path, apps: tuple[str, ...] = ("web",)) -> None:
        tree: dict[str, str] = {}
        for app in apps:
            tree.update(files(app=app))
        # .../org/config.git: the app's repoURL (REPO) names the same owner/name, as a checkout of
        # the config repo and the app's source must (the command refuses HEAD of another repository).
        self.url = make_bare_remote(root / "org", tree, name="config.git")
        self.git_dir = url_to_path(self.url)
        self.checkout = clone_of(self.url, root / "checkout")

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.checkout).strip()

    def commit(self, rel: str, text: str) -> str:
        path = self.checkout / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        git("add", "--all", cwd=self.checkout)
        git("commit", "--quiet", "-m", f"change {rel}", cwd=self.checkout)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.checkout)
        return self.head()

    def set_tag(self, tag: str, app: str = "web") -> str:
        return self.commit(f"apps/{app}/kustomization.yaml", overlay(tag))


def application(name: str = "web", *, automated: bool = True, path: str | None = None, **labels: str) -> dict:
    body: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "labels": labels or {"team": "a"}},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            "source": {"repoURL": REPO, "path": path or f"apps/{name}", "targetRevision": "main"},
        },
    }
    if automated:
        body["spec"]["syncPolicy"] = {"automated": {"prune": True}}
    return body


def wait_for(sandbox: ArgoCDSandbox, name: str, check: Callable[[dict], bool], timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        app = sandbox.store.get(name)
        if check(app):
            return app
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never reached the state; last status: {app.get('status')}")
        time.sleep(0.01)


def converged_at(sha: str) -> Callable[[dict], bool]:
    def check(app: dict) -> bool:
        status = app.get("status", {})
        return (
            status.get("sync", {}).get("status") == "Synced"
            and status.get("sync", {}).get("revision") == sha
            and status.get("health", {}).get("status") == "Healthy"
            and "operation" not in app
        )

    return check


@pytest.fixture
def config(tmp_path: Path, argocd_sandbox: ArgoCDSandbox) -> Config:
    repo = Config(tmp_path / "repo", apps=("web", "api", "db"))
    argocd_sandbox.store.register_repo(REPO, repo.git_dir)
    return repo


@pytest.fixture
def web(argocd_sandbox: ArgoCDSandbox, config: Config) -> str:
    """An auto-synced app, converged at the checkout's HEAD."""
    argocd_sandbox.store.add_application(application("web"))
    wait_for(argocd_sandbox, "web", converged_at(config.head()))
    return "web"


class Log(io.StringIO):
    """The command's log; ``on_log`` = (text, action): the action runs once when a line has the text."""

    def __init__(self, on_log: tuple[str, Callable[[], object]] | None) -> None:
        super().__init__()
        self.on_log = on_log

    def write(self, text: str) -> int:
        if self.on_log is not None and self.on_log[0] in text:
            action, self.on_log = self.on_log[1], None
            action()
        return super().write(text)


class Run:
    def __init__(
        self,
        outputs: aas.Outputs | None,
        error: ReleaseError | None,
        log: str,
        elapsed: float,
        evidence: dict | None,
    ) -> None:
        self.outputs, self.error, self.log, self.elapsed, self.evidence = (
            outputs,
            error,
            log,
            elapsed,
            evidence,
        )


@pytest.fixture
def await_sync(tmp_path: Path, argocd_sandbox: ArgoCDSandbox, config: Config) -> Callable[..., Run]:
    def run(on_log: tuple[str, Callable[[], object]] | None = None, **values: str) -> Run:
        values.setdefault("server", argocd_sandbox.url)
        values.setdefault("token", ARGOCD_TOKEN)
        values.setdefault("repo_path", str(config.checkout))
        values.setdefault("timeout", "20s")
        values.setdefault("poll_interval", "200ms")
        values.setdefault("evidence_path", "evidence.json")
        env = {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in values.items()}
        err = Log(on_log)
        ctx = Context(console=Console(env={}, out=io.StringIO(), err=err), env={}, workdir=tmp_path)
        started = time.monotonic()
        outputs, error = None, None
        try:
            outputs = aas.run(aas.Inputs.from_reader(InputReader(env=env)), ctx)
        except ReleaseError as exc:
            error = exc
        elapsed = time.monotonic() - started
        path = tmp_path / values["evidence_path"]
        evidence = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        if path.exists():
            path.unlink()
        return Run(outputs, error, err.getvalue(), elapsed, evidence)

    return run


def later(seconds: float, action: Callable[[], object]) -> Iterator[None]:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


# -- the revision ------------------------------------------------------------------------------


def test_waits_for_the_expected_revision_and_writes_evidence(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    sha = config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    got = await_sync(applications=web)
    assert got.error is None, got.log
    values = got.outputs.as_dict()
    assert (values["sync-status"], values["health-status"], values["revision"]) == ("Synced", "Healthy", sha)
    assert values["applications"] == [
        {"name": "web", "sync": "Synced", "health": "Healthy", "revision": sha, "verdict": "done"}
    ]
    app = got.evidence["applications"][0]
    assert got.evidence["outcome"] == "done" and app["revision"]["matches"] is True
    assert app["images"]["live"] == ["ghcr.io/acme/web:2.0.0"]
    assert app["images"]["source"] == "render" and app["images"]["drift"] == []
    assert ARGOCD_TOKEN not in json.dumps(got.evidence) and ARGOCD_TOKEN not in got.log
    assert "web:" in got.log and "Synced" in got.log
    summary = got.outputs.summary()
    assert "#### web" in summary and "```mermaid" in summary


def test_a_stale_revision_already_synced_and_healthy_is_not_success(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    old = config.head()
    new = config.set_tag("2.0.0")  # pushed, but Argo CD has not been told: still Synced + Healthy at old
    got = await_sync(applications=web, refresh="none", timeout="1500ms")
    assert isinstance(got.error, WaitTimeoutError), got.log
    assert "web:" in got.error.message and old[:7] in got.error.message and new[:7] in got.error.message
    assert got.evidence["outcome"] == "timeout"
    assert got.evidence["applications"][0]["revision"]["synced"] == [old]
    # Once Argo CD learns of the commit (a webhook) the same wait succeeds, at the new revision.
    timer = later(0.3, lambda: argocd_sandbox.store.notify_push(REPO))
    got = await_sync(applications=web, refresh="none")
    timer.join()
    assert got.error is None, got.log
    assert got.evidence["applications"][0]["revision"]["synced"] == [new]
    assert got.evidence["applications"][0]["historyIds"]


# -- health ------------------------------------------------------------------------------------


def test_a_transient_degraded_within_the_grace_succeeds(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    argocd_sandbox.store.set_fault(web, Fault("degraded", duration=0.4, message="Back-off pulling image"))
    config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    got = await_sync(applications=web, degraded_grace="10s")
    assert got.error is None, got.log
    healths = [t["health"] for t in got.evidence["applications"][0]["transitions"]]
    assert "Degraded" in healths and healths[-1] == "Healthy"


def test_a_lasting_degraded_fails_after_the_grace_not_at_the_timeout(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    argocd_sandbox.store.set_fault(web, Fault("degraded", message="Back-off pulling image"))
    config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    got = await_sync(applications=web, degraded_grace="500ms", timeout="60s")
    assert isinstance(got.error, WaitFailedError), got.log
    assert "web" in got.error.message and "Degraded" in got.error.message
    assert "last state" in got.error.message
    assert got.evidence["outcome"] == "failed"
    assert got.evidence["applications"][0]["verdict"] == "failed"


def test_a_failed_sync_fails_at_once_with_the_operations_message(
    argocd_sandbox: ArgoCDSandbox, config: Config, await_sync: Callable[..., Run]
) -> None:
    app = application("web")
    app["spec"]["syncPolicy"]["retry"] = {"limit": 0}  # else Argo CD retries an automated sync 5 times
    argocd_sandbox.store.add_application(app)
    wait_for(argocd_sandbox, "web", converged_at(config.head()))
    argocd_sandbox.store.set_fault("web", Fault("sync-failed", message="the server rejected the Deployment"))
    config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    got = await_sync(applications="web", timeout="60s", degraded_grace="60s")
    assert isinstance(got.error, WaitFailedError), got.log
    assert "the server rejected the Deployment" in got.error.message
    assert "Deployment" in got.error.message and "last state" in got.error.message
    assert got.evidence["applications"][0]["operation"]["phase"] in ("Failed", "Error")


# -- the stream --------------------------------------------------------------------------------


def test_stream_drops_are_recovered_without_missing_a_transition(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    argocd_sandbox.drop_streams(after_events=2, count=4)
    sha = config.set_tag("2.0.0")
    timer = later(0.2, lambda: argocd_sandbox.store.notify_push(REPO))
    got = await_sync(applications=web, refresh="none")
    timer.join()
    assert got.error is None, got.log
    assert argocd_sandbox.stream_connections >= 2
    assert got.evidence["applications"][0]["revision"]["synced"] == [sha]
    last = got.evidence["applications"][0]["transitions"][-1]
    assert (last["sync"], last["health"], last["revision"]) == ("Synced", "Healthy", sha)


def test_polling_when_streaming_is_off(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    sha = config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    got = await_sync(applications=web, stream="false")
    assert got.error is None, got.log
    assert got.outputs.as_dict()["revision"] == sha
    assert argocd_sandbox.stream_connections == 0


def test_polling_when_the_stream_endpoint_keeps_failing(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    argocd_sandbox.inject("GET", "/api/v1/stream/applications", 502, count=1000)
    sha = config.set_tag("2.0.0")
    # Argo CD learns of the commit only once the wait has given up the stream: only polling sees it.
    got = await_sync(
        applications=web,
        refresh="none",
        on_log=("polling every", lambda: argocd_sandbox.store.notify_push(REPO)),
    )
    assert got.error is None, got.log
    assert "watch stream unavailable" in got.log
    assert got.outputs.as_dict()["revision"] == sha


def test_selector_waits_for_every_app_on_one_stream(
    argocd_sandbox: ArgoCDSandbox, config: Config, await_sync: Callable[..., Run]
) -> None:
    for name in ("web", "api", "db"):
        argocd_sandbox.store.add_application(application(name, team="a"))
    argocd_sandbox.store.add_application(application("other", path="apps/web", team="b"))
    for name in ("web", "api", "db", "other"):
        wait_for(argocd_sandbox, name, converged_at(config.head()))
    config.set_tag("2.0.0", app="web")
    config.set_tag("3.0.0", app="api")
    sha = config.set_tag("4.0.0", app="db")
    argocd_sandbox.store.notify_push(REPO)
    got = await_sync(selector="team=a")
    assert got.error is None, got.log
    rows = got.outputs.as_dict()["applications"]
    assert sorted(row["name"] for row in rows) == ["api", "db", "web"]
    assert {row["revision"] for row in rows} == {sha} and {row["verdict"] for row in rows} == {"done"}
    assert argocd_sandbox.stream_connections == 1


# -- the server --------------------------------------------------------------------------------


def test_server_down_at_start_is_retried_until_the_timeout(
    tmp_path: Path, config: Config, await_sync: Callable[..., Run]
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    got = await_sync(server=f"http://127.0.0.1:{port}", applications="web", timeout="2s")
    assert isinstance(got.error, WaitTimeoutError), got.log
    assert "web" in got.error.message and "could not reach" in got.error.message
    assert got.elapsed < 2 + 5
    assert got.evidence["outcome"] == "timeout"


def test_server_errors_at_start_are_retried(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    argocd_sandbox.inject("GET", "/api/v1/applications/web", 503, count=3)
    got = await_sync(applications=web)
    assert got.error is None, got.log


def test_unauthenticated_forbidden_and_missing_are_explained(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    got = await_sync(applications=web, token="not-a-valid-token")
    assert isinstance(got.error, ArgoCDAuthError) and got.error.status == 401
    assert "token" in got.error.one_line()
    argocd_sandbox.add_token("reader-token", subject="reader", allow=("applications, get, default/other",))
    got = await_sync(applications=web, token="reader-token")
    assert isinstance(got.error, ArgoCDAuthError) and got.error.status == 403
    assert "applications, get, <project>/web" in got.error.one_line()  # the RBAC line to grant
    # Argo CD answers 403, not 404, for an app that does not exist; the error says both.
    got = await_sync(applications="nosuchapp")
    assert isinstance(got.error, ArgoCDAuthError) and got.error.status == 403
    assert "nosuchapp" in got.error.message
    assert "does not exist" in got.error.one_line() and "app-namespace" in got.error.one_line()
    assert not argocd_sandbox.stream_connections  # said at once, before any wait


def test_never_runs_past_the_timeout_plus_5s(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    argocd_sandbox.store.set_fault(web, Fault("never-healthy"))
    config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    got = await_sync(applications=web, timeout="1s")
    assert isinstance(got.error, WaitTimeoutError), got.log
    assert got.elapsed < 1 + 5  # the bound the issue sets (a correctness limit, not a speed goal)
    assert "web:" in got.error.message and "last state" in got.error.message
    # A server that stops answering mid-request does not stretch the wait either.
    argocd_sandbox.stall("GET", "/api/v1/applications/web", 60, count=10)
    got = await_sync(applications=web, timeout="1s", stream="false")
    assert isinstance(got.error, WaitTimeoutError), got.log
    assert got.elapsed < 1 + 5


@pytest.mark.parametrize("stream", ["true", "false"])
def test_an_app_deleted_during_the_wait_fails_clearly(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run], stream: str
) -> None:
    argocd_sandbox.store.set_fault(web, Fault("never-healthy"))
    config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    timer = later(0.5, lambda: argocd_sandbox.store.delete(web))
    got = await_sync(applications=web, timeout="30s", stream=stream)
    timer.join()
    assert isinstance(got.error, WaitFailedError), got.log
    assert "web" in got.error.message and "deleted" in got.error.message


@pytest.mark.parametrize("selector", [None, "team=a"])
def test_an_app_deleted_between_the_get_and_the_watch_start_fails_clearly(
    argocd_sandbox: ArgoCDSandbox,
    config: Config,
    web: str,
    await_sync: Callable[..., Run],
    monkeypatch: pytest.MonkeyPatch,
    selector: str | None,
) -> None:
    """The watch thread GETs the app, then opens the stream: an app deleted in between is in
    neither (the stream's initial state no longer has it, and its DELETED went to no watcher; real
    Argo CD lists and only then subscribes, so it has such a gap of its own). The silent stream
    must not hide the delete until the timeout."""
    argocd_sandbox.store.set_fault(web, Fault("never-healthy"))
    config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    watch = aas.ArgoCDClient.watch
    deleted = threading.Event()

    def delete_then_watch(self: aas.ArgoCDClient, **kwargs: Any) -> Iterator[Any]:
        if not deleted.is_set():  # exactly between the watch thread's GET and its stream
            deleted.set()
            argocd_sandbox.store.delete(web)
        return watch(self, **kwargs)

    monkeypatch.setattr(aas.ArgoCDClient, "watch", delete_then_watch)
    target = {"applications": web} if selector is None else {"selector": selector}
    got = await_sync(timeout="5s", **target)
    assert deleted.is_set()
    assert isinstance(got.error, WaitFailedError), got.log
    assert "web" in got.error.message and "deleted" in got.error.message


# -- sync ----------------------------------------------------------------------------------------


def test_sync_true_triggers_the_sync_and_waits_for_that_operation(
    argocd_sandbox: ArgoCDSandbox, config: Config, await_sync: Callable[..., Run]
) -> None:
    argocd_sandbox.store.add_application(application("web", automated=False))
    wait_for(
        argocd_sandbox, "web", lambda a: a.get("status", {}).get("sync", {}).get("status") == "OutOfSync"
    )
    argocd_sandbox.store.sync("web", None, {})
    wait_for(argocd_sandbox, "web", converged_at(config.head()))
    sha = config.set_tag("2.0.0")
    got = await_sync(applications="web", sync="true", prune="true", sync_options="ServerSideApply=true")
    assert got.error is None, got.log
    syncs = [r for r in argocd_sandbox.requests if r.method == "POST" and r.path.endswith("/sync")]
    assert len(syncs) == 1
    app = got.evidence["applications"][0]
    assert app["revision"]["synced"] == [sha] and app["operation"]["revisions"] == [sha]
    assert "sync requested" in got.log


# -- drift report --------------------------------------------------------------------------------


def test_drift_report_reports_and_fails_only_when_asked(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    got = await_sync(applications=web, mode="drift-report")
    assert got.error is None, got.log
    assert got.outputs.as_dict()["drift"] is False
    assert got.evidence["applications"][0]["images"]["source"] == "render"
    # The release manifest promote-overlay writes beside the overlay says 2.0.0; Argo CD runs 1.0.0.
    manifest = {"schemaVersion": 1, "images": [{"reference": "ghcr.io/acme/web:2.0.0"}]}
    (config.checkout / "apps/web/release-manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    got = await_sync(applications=web, mode="drift-report")
    assert got.error is None, got.log
    assert got.outputs.as_dict()["drift"] is True
    images = got.evidence["applications"][0]["images"]
    assert images["source"] == "manifest"
    assert images["drift"] == [
        {"image": "ghcr.io/acme/web", "expected": "ghcr.io/acme/web:2.0.0", "live": "ghcr.io/acme/web:1.0.0"}
    ]
    got = await_sync(applications=web, mode="drift-report", fail_on_drift="true")
    assert isinstance(got.error, WaitFailedError) and "web" in got.error.message
    assert got.evidence["outcome"] == "drift"


# -- through the CLI -----------------------------------------------------------------------------


def test_cli_writes_outputs_and_exits_1_naming_the_failure(
    tmp_path: Path,
    argocd_sandbox: ArgoCDSandbox,
    config: Config,
    web: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gitops_release import cli

    monkeypatch.chdir(tmp_path)
    output = tmp_path / "output.txt"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "INPUT_SERVER": argocd_sandbox.url,
        "INPUT_TOKEN": ARGOCD_TOKEN,
        "INPUT_APPLICATIONS": web,
        "INPUT_REPO-PATH": str(config.checkout),
        "INPUT_TIMEOUT": "20s",
    }
    assert cli.main(["await-argocd-sync"], env) == 0
    text = output.read_text(encoding="utf-8")
    for name in (
        "sync-status",
        "health-status",
        "revision",
        "evidence-path",
        "duration-seconds",
        "applications",
    ):
        assert f"{name}<<" in text
    assert (tmp_path / "argocd-evidence.json").exists()
    assert "mermaid" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    capsys.readouterr()
    argocd_sandbox.store.set_fault(web, Fault("never-healthy"))
    config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    assert cli.main(["await-argocd-sync", "--timeout", "1s"], env) == 1
    out = capsys.readouterr().out
    assert "::error title=Timed out::" in out and "web" in out
    assert ARGOCD_TOKEN not in out
    evidence = json.loads((tmp_path / "argocd-evidence.json").read_text(encoding="utf-8"))
    assert evidence["outcome"] == "timeout"
