"""`gitops-release sandbox` as a process: SIGTERM stops it cleanly, like Ctrl-C, and strict still
decides the exit status (CI stops it with `kill`). SIGINT does the same even when the process
inherited it ignored (a job a script starts with `&`). A taken port is a one-line input error and
leaves no temporary directory; `--events-dir` hands each dispatch back as an event file."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env["PYTHONPATH"] = str(SRC)
    return {**env, **extra}


def _ignore_sigint() -> None:
    """What bash does for a background job of a non-interactive shell: SIGINT ignored across exec."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(tmp_path: Path, *flags: str, sigint_ignored: bool = False) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitops_release", "sandbox", "--root", str(tmp_path / "root"),
         "--repositories", "org/config", "--strict", "true", *flags],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )  # fmt: skip
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if match:
            return proc, match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("the sandbox did not print its URL")


def _stop(proc: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=60)  # a guard against a hang, not a timing assertion
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"the sandbox ignored signal {signum}") from None
    return proc.returncode, out + err


def _send_bogus_status(url: str) -> None:
    bad = urllib.request.Request(
        f"{url}/repos/org/config/statuses/{'a' * 40}",
        data=b'{"state": "bogus"}',
        method="POST",
        headers={"Authorization": "token sandbox-token", "Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(bad, timeout=30)
    except urllib.error.HTTPError as exc:
        assert exc.code in (400, 422)


def test_sigterm_stops_cleanly_with_exit_0(tmp_path: Path) -> None:
    proc, url = _start(tmp_path)
    try:
        with urllib.request.urlopen(
            urllib.request.Request(
                f"{url}/repos/org/config", headers={"Authorization": "token sandbox-token"}
            ),
            timeout=30,
        ) as response:
            assert json.load(response)["full_name"] == "org/config"
    finally:
        rc, _ = _stop(proc)
    assert rc == 0


def test_sigterm_with_violations_exits_1_under_strict(tmp_path: Path) -> None:
    proc, url = _start(tmp_path)
    try:
        bad = urllib.request.Request(
            f"{url}/repos/org/config/statuses/{'a' * 40}",
            data=b'{"state": "bogus"}',
            method="POST",
            headers={"Authorization": "token sandbox-token", "Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(bad, timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code in (400, 422)
    finally:
        rc, log = _stop(proc)
    assert rc == 1
    assert "OpenAPI violation" in log


def test_sigint_stops_cleanly_even_when_inherited_ignored(tmp_path: Path) -> None:
    proc, url = _start(tmp_path, sigint_ignored=True)
    try:
        with urllib.request.urlopen(
            urllib.request.Request(
                f"{url}/repos/org/config", headers={"Authorization": "token sandbox-token"}
            ),
            timeout=30,
        ) as response:
            assert response.status == 200
    finally:
        rc, log = _stop(proc, signal.SIGINT)
    assert rc == 0
    assert "stopping" in log
    assert "requests=1" in log  # it reported its outputs: a clean stop, not a kill


def test_sigint_with_violations_exits_1_under_strict_like_sigterm(tmp_path: Path) -> None:
    proc, url = _start(tmp_path, sigint_ignored=True)
    try:
        _send_bogus_status(url)
    finally:
        rc, log = _stop(proc, signal.SIGINT)
    assert rc == 1
    assert "OpenAPI violation" in log


def test_sigint_from_a_background_job_of_a_script(tmp_path: Path) -> None:
    """The real case: `bash -c 'gitops-release sandbox ... & kill -INT $!'`."""
    log = tmp_path / "log"
    script = (
        '"$PY" -m gitops_release sandbox --root "$ROOT" --duration 10m >"$LOG" 2>&1 & pid=$!\n'
        'until grep -q "^serving" "$LOG"; do kill -0 "$pid" || exit 97; sleep 0.05; done\n'
        'kill -INT "$pid"\n'
        # A guard against a hang (and a sandbox left running), not a timing assertion:
        'for i in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done\n'
        'if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid"; exit 98; fi\n'
        'wait "$pid"\n'
    )
    env = _env(PY=sys.executable, ROOT=str(tmp_path / "root"), LOG=str(log))
    proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, log.read_text(encoding="utf-8")
    assert "stopping" in log.read_text(encoding="utf-8")


def test_a_taken_port_is_one_line_naming_port_and_leaves_no_temporary_directory(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for _ in range(2):
            proc = subprocess.run(
                [sys.executable, "-m", "gitops_release", "sandbox", "--port", str(port),
                 "--repositories", "org/config"],
                env=_env(TMPDIR=str(tmpdir)), capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert proc.returncode == 1
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            assert len(lines) == 1, proc.stderr
            assert f"input 'port': cannot listen on 127.0.0.1:{port}" in lines[0]
            assert "This is a bug" not in lines[0]
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("gitops-release-sandbox-")] == []


def test_events_dir_holds_each_dispatch_as_an_event_file(tmp_path: Path) -> None:
    events = tmp_path / "events"
    proc, url = _start(tmp_path, "--events-dir", str(events), "--login", "release-app[bot]")
    try:
        for tag in ("v1", "v2"):
            request = urllib.request.Request(
                f"{url}/repos/org/config/dispatches",
                data=json.dumps({"event_type": "release", "client_payload": {"tag": tag}}).encode(),
                method="POST",
                headers={"Authorization": "token sandbox-token", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 204
        # The file is written before the 204 is sent: it is there now.
        assert sorted(p.name for p in events.iterdir()) == ["000001-release.json", "000002-release.json"]
        latest = urllib.request.Request(
            f"{url}/_sandbox/repos/org/config/events/latest", headers={"Authorization": "token sandbox-token"}
        )
        with urllib.request.urlopen(latest, timeout=30) as response:
            served = json.load(response)
    finally:
        rc, log = _stop(proc)
    assert rc == 0, log
    event = json.loads((events / "000002-release.json").read_text(encoding="utf-8"))
    assert event == served
    assert event["client_payload"] == {"tag": "v2"}
    assert event["sender"]["login"] == "release-app[bot]"
    assert event["repository"]["full_name"] == "org/config"
