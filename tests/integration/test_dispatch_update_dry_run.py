"""dispatch-update's dry-run input: everything validated, the exact request printed with the token
as ***, nothing sent (no connection opened), exit 0. Run as the composite action runs it (a fresh
``python -S -m gitops_release`` process, INPUT_* env; tests/integration/test_dispatch_update.py).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.integration.test_dispatch_update import CONFIG, DISPATCHES, TOKEN, expected_payload, run_cli


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A listening socket nobody accepts on: a connection attempt would sit in its backlog."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def connections(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def printed_request(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "this request is NOT sent" in line)
    return lines[start + 1 : start + 10]


def test_dry_run_prints_the_request_with_the_token_redacted_and_opens_no_connection(
    listener: socket.socket, tmp_path: Path
) -> None:
    port = listener.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc, outputs, summary = run_cli(SimpleNamespace(url=url), tmp_path, dry_run="true")  # type: ignore[arg-type]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert connections(listener) == 0
    request = printed_request(proc.stdout + proc.stderr)
    assert request[0] == f"POST {url}{DISPATCHES}"
    assert "Authorization: Bearer ***" in request
    assert "Content-Type: application/json; charset=utf-8" in request
    body = json.loads(request[request.index("") + 1])
    assert body == {"event_type": "release-channel-update", "client_payload": expected_payload()}
    # Only the runner's ::add-mask:: instruction (which makes it hide the token) carries it.
    logged = [
        line for line in (proc.stdout + proc.stderr).splitlines() if not line.startswith("::add-mask::")
    ]
    assert TOKEN not in "\n".join(logged) + summary + json.dumps(outputs)
    assert outputs["dispatched-to"] == "" and outputs["skipped"] == "false"
    assert json.loads(outputs["payload"]) == expected_payload()
    assert "dispatch-update: dry run (nothing sent)" in summary


def test_dry_run_shows_exactly_what_the_real_send_sends(sandbox_with_config: GitHubSandbox, tmp_path: Path):
    sandbox = sandbox_with_config
    dry, _, _ = run_cli(sandbox, tmp_path, dry_run="true")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert sandbox.requests == []
    request = printed_request(dry.stdout + dry.stderr)

    sent, outputs, _ = run_cli(sandbox, tmp_path, dry_run="false")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert outputs["dispatched-to"] == CONFIG
    [real] = sandbox.requests
    assert request[0] == f"{real.method} {sandbox.url}{real.path}"
    headers = request[1 : request.index("")]
    for line in headers:
        name, _, value = line.partition(": ")
        expected = f"Bearer {TOKEN}" if value == "Bearer ***" else value
        assert real.header(name) == expected, name
    assert json.loads(request[request.index("") + 1]) == real.body


def test_dry_run_still_refuses_a_bad_input_and_prints_no_request(listener: socket.socket, tmp_path: Path):
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    proc, _, _ = run_cli(SimpleNamespace(url=url), tmp_path, dry_run="true", tag="latest!")  # type: ignore[arg-type]
    assert proc.returncode == 1
    assert "::error" in proc.stdout and "tag" in proc.stdout
    assert "NOT sent" not in proc.stdout + proc.stderr
    assert connections(listener) == 0


@pytest.fixture
def sandbox_with_config(github_sandbox: GitHubSandbox) -> GitHubSandbox:
    github_sandbox.add_token(TOKEN)
    github_sandbox.create_repo(CONFIG)
    return github_sandbox
