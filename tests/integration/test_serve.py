"""gitops-release serve on a real uvicorn (127.0.0.1, a free port, stopped by each test): the file
source followed without a restart, bad versions never served, a db swapped under load, hostile
requests, the git source over authenticated HTTP, and a graceful stop on SIGTERM."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gitops_release.adapters.release_source import FileSource, GitSource
from gitops_release.server.app import create_app
from gitops_release.server.state import ServerState
from tests.fixtures.argocd_http import free_port
from tests.fixtures.git_remotes import git, make_bare_remote
from tests.fixtures.serve_api import RELOAD_TOKEN, RunningServer, db_text, release, wait_until, write_db
from tests.fixtures.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]


def request(base: str, method: str, path: str, headers: dict[str, str] | None = None):
    """(status, headers with lower-case names, body) of one request on a new connection."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def get_json(base: str, path: str):
    status, _, body = request(base, "GET", path)
    return status, json.loads(body)


def file_state(path: Path, lines: list[str], **kwargs) -> ServerState:
    return ServerState(FileSource(path), version="test", poll_interval=0.02, log=lines.append, **kwargs)


def test_serves_the_file_and_follows_it_without_a_restart(tmp_path):
    path = write_db(tmp_path / "db.json", [release("api", "dev", tag="v1"), release("web", "prod")])
    lines: list[str] = []
    with RunningServer(create_app(file_state(path, lines), access_log=lines.append)) as server:
        wait_until(lambda: request(server.url, "GET", "/health/ready")[0] == 200, what="ready")
        status, headers, body = request(server.url, "GET", "/v1/releases?container=api")
        assert status == 200 and json.loads(body)["releases"][0]["tag"] == "v1"
        etag = headers["etag"]
        assert headers["cache-control"] == "no-cache"
        assert request(server.url, "GET", "/v1/releases?container=api", {"If-None-Match": etag})[0] == 304
        write_db(path, [release("api", "dev", tag="v2"), release("web", "prod")])
        wait_until(
            lambda: get_json(server.url, "/v1/releases/api/dev")[1]["releases"][0]["tag"] == "v2",
            what="the change to be served",
        )
        status, headers, _ = request(server.url, "GET", "/v1/releases?container=api", {"If-None-Match": etag})
        assert status == 200 and headers["etag"] != etag
        assert get_json(server.url, "/openapi.json")[1]["info"]["title"].startswith("gitops-release")
        metrics = request(server.url, "GET", "/metrics")[2].decode()
        assert 'gitops_release_serve_reloads_total{result="changed"} 2' in metrics
    records = [json.loads(line) for line in lines if '"path"' in line]
    assert {r["path"] for r in records} >= {"/v1/releases", "/health/ready", "/metrics"}
    assert any(r["status"] == 304 and r["etagHit"] for r in records)


@pytest.mark.parametrize(
    ("break_it", "check"),
    [
        (lambda p: p.write_text('{"schemaVersion": 1, "releases": [{"container": '), "database"),
        (lambda p: p.write_text('{"schemaVersion": 1, "releases": [{"container": "x"}]}'), "database"),
        (lambda p: p.write_bytes(b"\xff\xfe{}"), "database"),
        (lambda p: p.unlink(), "source"),
    ],
    ids=["corrupt", "invalid", "binary", "missing"],
)
def test_a_broken_db_is_never_served_and_health_says_why(tmp_path, break_it, check):
    path = write_db(tmp_path / "db.json", [release("api", "dev", tag="v1")])
    lines: list[str] = []
    with RunningServer(create_app(file_state(path, lines), access_log=lines.append)) as server:
        wait_until(lambda: request(server.url, "GET", "/health/ready")[0] == 200, what="ready")
        good = request(server.url, "GET", "/v1/releases")
        break_it(path)
        wait_until(lambda: get_json(server.url, "/v1/health")[1]["status"] == "degraded", what="degraded")
        status, document = get_json(server.url, "/v1/health")
        assert status == 200 and document["checks"][check] == "degraded"
        assert document["reasons"][check]
        assert request(server.url, "GET", "/v1/releases")[0::2] == good[0::2]
        assert request(server.url, "GET", "/health/ready")[0] == 200
        assert "gitops_release_serve_degraded 1" in request(server.url, "GET", "/metrics")[2].decode()
        write_db(path, [release("api", "dev", tag="v9")])
        wait_until(lambda: get_json(server.url, "/v1/health")[1]["status"] == "healthy", what="recovery")
        assert get_json(server.url, "/v1/releases")[1]["releases"][0]["tag"] == "v9"
    assert all(json.loads(line).get("status") != 500 for line in lines)


def version(n: int) -> list[dict]:
    """Version ``n`` of a 50-release db: every release's tag is v<n>."""
    return [release(f"svc-{i:02d}", "dev", tag=f"v{n}") for i in range(50)]


def test_a_db_swapped_20_times_under_load_never_fails_or_mixes_versions(tmp_path):
    path = write_db(tmp_path / "db.json", version(0))
    lines: list[str] = []
    state = file_state(path, lines, reload_token=RELOAD_TOKEN)
    failures: list[object] = []
    seen: dict[str, bytes] = {}  # ETag -> the body it named
    stop = threading.Event()

    def client(base: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", urlsplit(base).port, timeout=30)
        try:
            while not stop.is_set():
                connection.request("GET", "/v1/releases")
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    failures.append((response.status, body[:200]))
                    continue
                tags = {item["tag"] for item in json.loads(body)["releases"]}
                if len(tags) != 1:
                    failures.append(("mixed versions", tags))
                if seen.setdefault(response.getheader("ETag"), body) != body:
                    failures.append(("one ETag, two bodies", response.getheader("ETag")))
        except Exception as exc:  # noqa: BLE001 - any failed request fails the test
            failures.append(exc)
        finally:
            connection.close()

    with RunningServer(create_app(state, access_log=lambda _: None)) as server:
        wait_until(lambda: request(server.url, "GET", "/health/ready")[0] == 200, what="ready")
        clients = [threading.Thread(target=client, args=(server.url,)) for _ in range(6)]
        for thread in clients:
            thread.start()
        try:
            for n in range(1, 21):
                write_db(path, version(n))
                status, _, body = request(
                    server.url, "POST", "/v1/reload", {"Authorization": f"Bearer {RELOAD_TOKEN}"}
                )
                assert status == 200, body
                wait_until(lambda n=n: state.index.releases[0].tag == f"v{n}", what=f"version {n}")
        finally:
            stop.set()
            for thread in clients:
                thread.join()
    assert not failures, failures[:5]
    assert len(seen) >= 2  # the clients saw more than one version go by
    assert state.metrics.reloads["changed"] == 21


def refused(base: str, target: str, headers: dict[str, str] | None = None) -> bool:
    """True when the server answers 4xx, or closes a request too large to read (uvicorn answers
    400 and closes; with the rest of the request unread the close can arrive as a reset)."""
    try:
        status = request(base, "GET", target, headers)[0]
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        return True
    return 400 <= status < 500


def test_hostile_requests_get_4xx_never_500(tmp_path):
    path = write_db(tmp_path / "db.json", [release("api", "dev")])
    with RunningServer(create_app(file_state(path, []), access_log=lambda _: None)) as server:
        wait_until(lambda: request(server.url, "GET", "/health/ready")[0] == 200, what="ready")
        assert refused(server.url, "/v1/releases?container=" + "a" * 100_000)  # beyond uvicorn's bound
        assert refused(server.url, "/v1/releases", {"If-None-Match": "x" * 200_000})
        for target in (
            "/v1/releases?container=" + "a" * 5_000,
            "/v1/releases?container=%ff%00%0a",
            "/v1/releases?container=%",
            "/v1/releases/..%2f..%2fetc/passwd",
            "/v1/releases?channel=" + "%" * 300,
        ):
            status = request(server.url, "GET", target)[0]
            assert 400 <= status < 500, (target[:60], status)
        assert request(server.url, "GET", "/v1/health")[0] == 200  # still serving


def test_git_source_over_authenticated_http(git_http_server, tmp_path):
    files = {"db/db.json": db_text([release("api", "dev")])}
    make_bare_remote(git_http_server.root, files, name="config.git")
    url = git_http_server.url("config.git")
    source = GitSource(url, "main", token=git_http_server.token)
    state = ServerState(
        source, version="test", reload_token=RELOAD_TOKEN, poll_interval=3600, log=lambda _: None
    )
    bearer = {"Authorization": f"Bearer {RELOAD_TOKEN}"}
    with RunningServer(create_app(state, access_log=lambda _: None)) as server:
        wait_until(lambda: request(server.url, "GET", "/health/ready")[0] == 200, what="ready")
        first = get_json(server.url, "/v1/releases")[1]
        work = tmp_path / "work"
        git("clone", "--quiet", str(git_http_server.root / "config.git"), str(work))
        (work / "db" / "db.json").write_text(db_text([release("api", "dev", tag="v2")]))
        git("commit", "--quiet", "-am", "v2", cwd=work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=work)
        head = git("rev-parse", "HEAD", cwd=work).strip()
        status, _, body = request(server.url, "POST", "/v1/reload", bearer)
        assert status == 200
        assert json.loads(body)["result"] == "changed" and json.loads(body)["revision"] == head
        second = get_json(server.url, "/v1/releases")[1]
        assert second["revision"] == head != first["revision"] and second["releases"][0]["tag"] == "v2"
        # the remote goes away: the fetch fails, the last good version is served, health says why
        (git_http_server.root / "config.git").rename(git_http_server.root / "moved.git")
        status, _, body = request(server.url, "POST", "/v1/reload", bearer)
        assert status == 422 and json.loads(body)["error"].startswith("fetching main failed")
        health = get_json(server.url, "/v1/health")[1]
        assert health["status"] == "degraded" and health["checks"]["source"] == "degraded"
        assert "fetching main failed" in health["reasons"]["source"]
        assert get_json(server.url, "/v1/releases")[1] == second
        clone = source.workdir
        assert clone is not None and clone.is_dir()
    assert not clone.exists()  # the app's shutdown removed the private clone


def test_the_command_stops_gracefully_on_sigterm(bare_remote, tmp_path):
    """The real command in its own process: ready, then SIGTERM: uvicorn's graceful stop, the
    poller stopped and the private clone removed before the process ends."""
    url = bare_remote({"db/db.json": db_text([release("api", "dev")])})
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITOPS_RELEASE_"))},
        "TMPDIR": str(scratch),
        "GITOPS_RELEASE_RELOAD_TOKEN": RELOAD_TOKEN,
        "PYTHONPATH": str(ROOT / "src"),
    }
    argv = [sys.executable, "-m", "gitops_release", "serve", "--git-url", url, "--branch", "main"]
    process = subprocess.Popen(
        [*argv, "--port", str(port), "--fetch-interval", "1h"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(process.communicate()[1])
            try:
                return request(base, "GET", "/health/ready")[0] == 200
            except OSError:
                return False

        wait_until(ready, what="the command to be ready")
        assert len(list(scratch.iterdir())) == 1  # the private clone
        assert get_json(base, "/v1/releases/api")[1]["count"] == 1
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode in (0, -signal.SIGTERM), stderr
    assert "Shutting down" in stderr and "Application shutdown complete" in stderr
    assert list(scratch.iterdir()) == []
    assert RELOAD_TOKEN not in stderr


def test_the_command_follows_an_authenticated_remote_by_itself(git_http_server, tmp_path):
    """G1/G2: `serve --git-url ... --fetch-interval 1s` with the token in the environment (the
    remote refuses requests without it): a push is served with no reload call, a broken remote
    turns health degraded with the reason while the last good version is served, and the token
    is never printed or exported."""
    token = git_http_server.token
    make_bare_remote(
        git_http_server.root, {"db/db.json": db_text([release("api", "dev")])}, name="config.git"
    )
    url = git_http_server.url("config.git")
    args = ["--git-url", url, "--branch", "main", "--fetch-interval", "1s"]
    with ServeProcess(args, env={"GITOPS_RELEASE_GIT_TOKEN": token}) as api:
        first = json.loads(api.get("/v1/releases")[1])
        work = tmp_path / "work"
        git("clone", "--quiet", str(git_http_server.root / "config.git"), str(work))
        (work / "db" / "db.json").write_text(db_text([release("api", "dev", tag="v2")]))
        git("commit", "--quiet", "-am", "v2", cwd=work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=work)
        head = git("rev-parse", "HEAD", cwd=work).strip()
        wait_until(lambda: json.loads(api.get("/v1/releases")[1])["revision"] == head, what="the push served")
        second = json.loads(api.get("/v1/releases")[1])
        assert second["revision"] != first["revision"] and second["releases"][0]["tag"] == "v2"
        healthy = json.loads(api.get("/v1/health")[1])
        assert healthy["dependencies"][0]["name"] == url and healthy["dependencies"][0]["status"] == "healthy"
        (git_http_server.root / "config.git").rename(git_http_server.root / "moved.git")
        wait_until(lambda: json.loads(api.get("/v1/health")[1])["status"] == "degraded", what="degraded")
        health = json.loads(api.get("/v1/health")[1])
        assert health["checks"] == {"database": "healthy", "source": "degraded"}
        assert health["reasons"]["source"].startswith("fetching main failed")
        assert health["dependencies"][0]["status"] == "degraded"
        assert json.loads(api.get("/v1/releases")[1]) == second
        metrics = api.get("/metrics")[1].decode()
        assert "gitops_release_serve_degraded 1" in metrics
    output = api.output()
    encoded = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    for text in (output, metrics, json.dumps(health)):
        assert token not in text and encoded not in text


def test_sigterm_ends_the_command_while_a_fetch_hangs(tmp_path):
    """R3: a remote that accepts and never answers: SIGTERM still ends the process at once (the
    fetch is killed with its process group), not after git's own timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    connected = threading.Event()

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return
            connected.set()

    threading.Thread(target=accept, daemon=True).start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "GITOPS_RELEASE_"))},
        "PYTHONPATH": str(ROOT / "src"),
    }
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/org/config.git"
    argv = [sys.executable, "-m", "gitops_release", "serve", "--git-url", url, "--branch", "main"]
    process = subprocess.Popen(
        [*argv, "--port", str(free_port())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert connected.wait(60), "git never connected"
        process.send_signal(signal.SIGTERM)
        # a bound for a broken run (the fetch timeout is 60 s, git's default 300 s)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        listener.close()
        for conn in accepted:
            conn.close()
    assert process.returncode in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete" in stderr
