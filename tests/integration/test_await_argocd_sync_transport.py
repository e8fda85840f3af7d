"""await-argocd-sync against Argo CD servers that misbehave on the wire: one that drips its answer a
byte a second (the deadline bounds whole requests, not socket reads), a proxy answering 429, a
certificate the runner does not trust (a configuration error: fails at once, not at the timeout),
and answers of the wrong shape (an Argo CD error with evidence, never an internal error)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from gitops_release.commands import await_argocd_sync as aas
from gitops_release.commands.base import Context
from gitops_release.errors import ReleaseError
from gitops_release.runtime import Console, InputReader
from tests.fixtures.argocd_http import Handler, ScriptedServer, synced_app
from tests.fixtures.git_remotes import git, one_commit_repo


def drip(request: Handler) -> None:
    request.send_response(200)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(10_000_000))
    request.end_headers()
    request.wfile.flush()
    try:
        for _ in range(12):  # 12 s at most (the test's own bound)
            request.wfile.write(b" ")
            request.wfile.flush()
            time.sleep(1.0)
    except OSError:
        return
    request.close_connection = True


def run_cmd(tmp_path: Path, url: str, **extra: str) -> tuple[float, ReleaseError | None, str]:
    values = {
        "server": url,
        "token": "tok-secret-1234567890",
        "applications": "web",
        "repo-path": str(one_commit_repo(tmp_path)),
        "timeout": "2s",
        "poll-interval": "200ms",
        "refresh": "none",
        **extra,
    }
    env = {f"INPUT_{k.upper()}": v for k, v in values.items()}
    err = io.StringIO()
    ctx = Context(console=Console(env={}, out=io.StringIO(), err=err), env={}, workdir=tmp_path)
    started = time.monotonic()
    error = None
    try:
        aas.run(aas.Inputs.from_reader(InputReader(env=env)), ctx)
    except ReleaseError as exc:
        error = exc
    return time.monotonic() - started, error, err.getvalue()


def test_a_dripping_get_does_not_stretch_the_wait(tmp_path: Path) -> None:
    with ScriptedServer(drip) as server:
        elapsed, error, _log = run_cmd(tmp_path, server.url, stream="false")
    assert error is not None
    assert elapsed < 2 + 5, f"ran {elapsed:.1f}s with timeout 2s: {error}"


def test_wrong_json_shapes_are_argocd_errors_with_evidence_not_internal_errors(tmp_path: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    def handler(request: Handler) -> None:
        if request.path.startswith("/api/v1/applications?") or request.path == "/api/v1/applications":
            request.send_json(200, {"items": 5})  # wrong type
            return
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(deep)))
        request.end_headers()
        request.wfile.write(deep)

    with ScriptedServer(handler) as server:
        for extra in ({"applications": "web"}, {"applications": "", "selector": "team=a"}):
            try:
                _elapsed, error, _log = run_cmd(tmp_path, server.url, stream="false", **extra)
            except Exception as exc:  # noqa: BLE001
                raise AssertionError(f"{extra}: {type(exc).__name__}: {str(exc)[:120]}") from None
            assert error is not None
            assert (tmp_path / "argocd-evidence.json").exists()


def test_a_429_from_a_proxy_is_retried_not_fatal(tmp_path: Path) -> None:
    repo = one_commit_repo(tmp_path)
    sha = git("rev-parse", "HEAD", cwd=repo).strip()
    calls: list[int] = []

    def handler(request: Handler) -> None:
        if request.path.startswith("/api/v1/stream/"):
            request.send_json(404, {"error": "x", "code": 5, "message": "x"})
            return
        calls.append(1)
        if len(calls) == 2:
            request.send_json(429, {"message": "rate limited"}, headers={"Retry-After": "1"})
            return
        done = synced_app(sha, "2025-01-01T00:00:20Z")
        if len(calls) < 3:
            done["status"]["health"]["status"] = "Progressing"
        request.send_json(200, done)

    with ScriptedServer(handler) as server:
        _elapsed, error, _log = run_cmd(tmp_path, server.url, stream="false", timeout="10s")
    assert error is None, error.one_line()


def test_a_tls_verification_failure_fails_at_once_not_at_the_timeout(tmp_path: Path) -> None:
    from tests.fixtures.argocd_http import tls_files

    context, _ca = tls_files(tmp_path)
    with ScriptedServer(lambda request: request.send_json(200, {}), tls=context) as server:
        elapsed, error, log = run_cmd(tmp_path, server.url, timeout="6s")
    assert error is not None and "ca-file" in error.one_line()
    assert elapsed < 3, f"a certificate problem was retried for {elapsed:.1f}s:\n{log}"
