"""How await-argocd-sync ends when it does not simply succeed: a failed or timed-out wait still
sets every output and writes the per-app summary; a slow render never holds back a detected
success; a bug, Ctrl-C or SIGTERM still leaves the evidence; no registered secret reaches it."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitops_release.adapters.argocd import ArgoCDClient
from gitops_release.commands import await_argocd_sync as aas
from gitops_release.commands.base import Context
from gitops_release.errors import WaitTimeoutError
from gitops_release.runtime import Console, InputReader
from gitops_release.sandbox.argocd import ArgoCDSandbox
from tests.fixtures.argocd_http import Handler, ScriptedServer
from tests.fixtures.argocd_sandbox import ARGOCD_TOKEN
from tests.fixtures.git_remotes import git, one_commit_repo
from tests.integration.test_await_argocd_sync import REPO, Config, Log, application, converged_at, wait_for

TOKEN = "tok-reflected-0123456789"


@pytest.fixture
def web_at_head(tmp_path: Path, argocd_sandbox: ArgoCDSandbox) -> Config:
    """The config repo with app web, converged at its head."""
    config = Config(tmp_path / "config", apps=("web",))
    argocd_sandbox.store.register_repo(REPO, config.git_dir)
    argocd_sandbox.store.add_application(application("web"))
    wait_for(argocd_sandbox, "web", converged_at(config.head()))
    return config


def app(sha: str, *, sync: str = "Synced", phase: str = "Succeeded", message: str = "") -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "source": {"repoURL": "https://git.example.com/c", "path": "apps/web"},
        },
        "status": {
            "sync": {"status": sync, "revision": sha},
            "health": {"status": "Healthy"},
            "operationState": {
                "phase": phase,
                "message": message,
                "startedAt": "2025-01-01T00:00:00Z",
                "finishedAt": "2025-01-01T00:00:10Z",
                "operation": {"sync": {"revision": sha}},
                "syncResult": {"revision": sha},
            },
            "reconciledAt": "2025-01-01T00:00:20Z",
        },
    }


def serve(body: dict[str, Any] | Callable[[Handler], None]) -> ScriptedServer:
    """Every GET answers ``body``; the stream endpoint is not there (the command polls)."""

    def handler(request: Handler) -> None:
        if callable(body):
            body(request)
        elif request.path.startswith("/api/v1/stream/"):
            request.send_json(404, {"error": "not found", "code": 5, "message": "not found"})
        else:
            request.send_json(200, body)

    return ScriptedServer(handler)


def run_cmd(
    tmp_path: Path, server: str, *, log: io.StringIO | None = None, **extra: str
) -> tuple[aas.Outputs | None, BaseException | None, str]:
    values = {
        "server": server,
        "token": TOKEN,
        "applications": "web",
        "repo-path": str(tmp_path / "repo"),
        "timeout": "5s",
        "poll-interval": "100ms",
        "refresh": "none",
        **extra,
    }
    env = {f"INPUT_{k.upper()}": v for k, v in values.items()}
    err = log if log is not None else io.StringIO()
    ctx = Context(console=Console(env={}, out=io.StringIO(), err=err), env={}, workdir=tmp_path)
    try:
        return aas.run(aas.Inputs.from_reader(InputReader(env=env)), ctx), None, err.getvalue()
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the test looks at what ended it
        return None, exc, err.getvalue()


def evidence(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "argocd-evidence.json").read_text(encoding="utf-8"))


# -- #6: outputs and the per-app summary on failure ---------------------------------------------


@pytest.mark.parametrize("ending", ["failed", "timeout"])
def test_a_failed_or_timed_out_wait_sets_every_output_and_writes_the_summary(
    tmp_path: Path, ending: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_release.cli import main

    repo = one_commit_repo(tmp_path)
    sha = git("rev-parse", "HEAD", cwd=repo).strip()
    if ending == "failed":
        body = app(sha, sync="OutOfSync", phase="Failed", message="admission webhook denied the request")
    else:
        body = app("1" * 40, sync="OutOfSync")  # never at the expected revision
    output, summary = tmp_path / "output", tmp_path / "summary"
    with serve(body) as server:
        env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "INPUT_SERVER": server.url,
            "INPUT_TOKEN": TOKEN,
            "INPUT_APPLICATIONS": "web",
            "INPUT_REPO-PATH": str(repo),
            "INPUT_TIMEOUT": "1s",
            "INPUT_POLL-INTERVAL": "100ms",
            "INPUT_EVIDENCE-PATH": str(tmp_path / "ev.json"),
        }
        assert main(["await-argocd-sync"], env=env) == 1
    written = output.read_text(encoding="utf-8")
    for name in (
        "sync-status",
        "health-status",
        "revision",
        "evidence-path",
        "duration-seconds",
        "applications",
    ):
        assert f"{name}<<" in written, f"output {name} not set on {ending}"
    assert "OutOfSync" in written and str(tmp_path / "ev.json") in written
    text = summary.read_text(encoding="utf-8")
    assert "#### web" in text and "```mermaid" in text, "no per-app table / gantt on failure"
    # The table first, then the failure box; the ::error line comes after the outputs.
    assert text.index("#### web") < text.index("await-argocd-sync: failed")
    title = "Argo CD application not ready" if ending == "failed" else "Timed out"
    out = capsys.readouterr().out
    assert f"::error title={title}::" in out
    assert out.index("web: OutOfSync") < out.index("::error")  # the report, then the error
    assert json.loads((tmp_path / "ev.json").read_text(encoding="utf-8"))["outcome"] == ending


def test_the_timeout_error_carries_one_fix(tmp_path: Path) -> None:
    one_commit_repo(tmp_path)

    def down(request: Handler) -> None:
        request.send_json(503, {"error": "unavailable", "code": 14, "message": "unavailable"})

    with serve(down) as server:
        _, error, _ = run_cmd(tmp_path, server.url, timeout="1s", stream="false")
    assert isinstance(error, WaitTimeoutError) and "last error" in error.message
    assert error.one_line().count("Fix:") == 1, error.one_line()


# -- #7: a slow render never holds back a detected success --------------------------------------


def test_a_slow_render_does_not_delay_the_detected_success(
    tmp_path: Path, argocd_sandbox: ArgoCDSandbox, web_at_head: Config
) -> None:
    release = tmp_path / "release-the-render"
    slow = tmp_path / "slow-kubectl"
    # A render that never ends by itself (remote bases over a dead network, a hostile overlay):
    # the test releases it at the end, so nothing it started outlives it.
    slow.write_text(f"#!/bin/sh\nwhile [ ! -e '{release}' ]; do sleep 0.05; done\nexit 1\n")
    slow.chmod(0o755)
    env = {
        "INPUT_SERVER": argocd_sandbox.url,
        "INPUT_TOKEN": ARGOCD_TOKEN,
        "INPUT_APPLICATIONS": "web",
        "INPUT_REPO-PATH": str(web_at_head.checkout),
        "INPUT_TIMEOUT": "60s",
    }
    ctx = Context(
        console=Console(env={}, out=io.StringIO(), err=io.StringIO()),
        env={"GITOPS_RELEASE_KUSTOMIZE": str(slow)},
        workdir=tmp_path,
    )
    started = time.monotonic()
    try:
        outputs = aas.run(aas.Inputs.from_reader(InputReader(env=env)), ctx)
        elapsed = time.monotonic() - started
    finally:
        release.touch()
        for thread in threading.enumerate():
            if thread.name.startswith("images "):
                thread.join(10)
    # Before: the render was waited for until the deadline (60 s). Bound far above the 2 s grace.
    assert elapsed < 30, f"the app was done at once; the command returned after {elapsed:.1f}s"
    assert any("render did not finish" in note for note in outputs.notes), outputs.notes
    document = evidence(tmp_path)
    assert document["outcome"] == "done"
    assert document["applications"][0]["images"]["source"] == "none"


# -- #10: a bug still leaves evidence, and is not hidden in the watch thread ---------------------


def test_an_unexpected_error_writes_the_evidence_then_surfaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = one_commit_repo(tmp_path)
    sha = git("rev-parse", "HEAD", cwd=repo).strip()

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("a bug in the progress line")

    monkeypatch.setattr(aas.rules, "progress_line", broken)
    with serve(app(sha)) as server:
        _, error, log = run_cmd(tmp_path, server.url, stream="false")
    assert isinstance(error, RuntimeError)
    assert evidence(tmp_path)["outcome"] == "error"
    assert "evidence:" in log
    assert isinstance(getattr(error, "outputs", None), aas.Outputs)  # the CLI still writes them


def test_an_unexpected_error_in_the_watch_thread_is_reported_not_polled_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_commit_repo(tmp_path)

    def broken(self: ArgoCDClient, **kwargs: object) -> object:
        raise RuntimeError("a bug in the stream reader")

    monkeypatch.setattr(ArgoCDClient, "watch", broken)
    with serve(app("1" * 40, sync="OutOfSync")) as server:  # never done: only the bug can end it early
        _, error, _ = run_cmd(tmp_path, server.url, timeout="10s")
    assert isinstance(error, RuntimeError), f"{type(error).__name__}: {error}"
    assert "stream reader" in str(error)
    assert evidence(tmp_path)["outcome"] == "error"


# -- #11: Ctrl-C and SIGTERM write the evidence (outcome cancelled) ------------------------------


def test_evidence_is_written_when_the_wait_is_interrupted(
    argocd_sandbox: ArgoCDSandbox, web_at_head: Config, tmp_path: Path
) -> None:
    web_at_head.set_tag("2.0.0")  # not pushed to Argo CD: the wait goes on

    def interrupt() -> None:
        raise KeyboardInterrupt  # Ctrl-C, or the runner's SIGINT when the job is cancelled

    _, error, _ = run_cmd(
        tmp_path,
        argocd_sandbox.url,
        log=Log(("web:", interrupt)),
        token=ARGOCD_TOKEN,
        **{"repo-path": str(web_at_head.checkout), "timeout": "20s"},
    )
    assert isinstance(error, KeyboardInterrupt)
    document = evidence(tmp_path)
    assert document["outcome"] == "cancelled"
    assert document["applications"][0]["name"] == "web"
    assert isinstance(getattr(error, "outputs", None), aas.Outputs)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_the_cli_writes_the_evidence_and_the_outputs(
    argocd_sandbox: ArgoCDSandbox, web_at_head: Config, tmp_path: Path, signum: int, code: int
) -> None:
    web_at_head.set_tag("2.0.0")  # not pushed to Argo CD: the wait goes on until the signal
    output, summary = tmp_path / "output", tmp_path / "summary"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "INPUT_SERVER": argocd_sandbox.url,
        "INPUT_TOKEN": ARGOCD_TOKEN,
        "INPUT_APPLICATIONS": "web",
        "INPUT_REPO-PATH": str(web_at_head.checkout),
        "INPUT_REFRESH": "none",
        "INPUT_TIMEOUT": "60s",
        "INPUT_EVIDENCE-PATH": str(tmp_path / "ev.json"),
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "gitops_release", "await-argocd-sync"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert child.stdout is not None
        lines = []
        for line in child.stdout:  # the first progress line: the wait loop is running
            lines.append(line)
            if line.startswith("web:"):
                break
        else:
            raise AssertionError("the command ended before waiting:\n" + "".join(lines))
        child.send_signal(signum)
        rest, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == code, "".join(lines) + rest
    assert "::error title=Interrupted::" in rest
    assert json.loads((tmp_path / "ev.json").read_text(encoding="utf-8"))["outcome"] == "cancelled"
    assert "health-status<<" in output.read_text(encoding="utf-8")
    assert "#### web" in summary.read_text(encoding="utf-8")


def test_sigterm_handling_is_undone_after_the_command(tmp_path: Path) -> None:
    from gitops_release.cli import main

    before = signal.getsignal(signal.SIGTERM)
    repo = one_commit_repo(tmp_path)
    sha = git("rev-parse", "HEAD", cwd=repo).strip()
    with serve(app(sha)) as server:
        env = {
            "INPUT_SERVER": server.url,
            "INPUT_TOKEN": TOKEN,
            "INPUT_APPLICATIONS": "web",
            "INPUT_REPO-PATH": str(repo),
            "INPUT_REFRESH": "none",
            "INPUT_STREAM": "false",
            "INPUT_EVIDENCE-PATH": str(tmp_path / "ev.json"),
        }
        assert main(["await-argocd-sync"], env=env) == 0
    assert signal.getsignal(signal.SIGTERM) is before


# -- #15: no registered secret in the evidence ---------------------------------------------------


def test_a_token_reflected_by_the_server_never_reaches_the_evidence(tmp_path: Path) -> None:
    repo = one_commit_repo(tmp_path)
    sha = git("rev-parse", "HEAD", cwd=repo).strip()
    body = app(sha, message=f"synced by {TOKEN}")
    body["status"]["conditions"] = [
        {"type": "SharedResourceWarning", "message": f"credentials {TOKEN} in use"}
    ]
    body["status"]["health"]["message"] = f"checked with {TOKEN}"
    with serve(body) as server:
        outputs, error, _ = run_cmd(tmp_path, server.url, stream="false")
    assert error is None and outputs is not None
    text = (tmp_path / "argocd-evidence.json").read_text(encoding="utf-8")
    assert TOKEN not in text
    assert "credentials *** in use" in text  # the rest of the message is kept
