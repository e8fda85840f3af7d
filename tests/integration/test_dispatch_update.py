"""dispatch-update as the composite action runs it (``python -m gitops_release`` with PYTHONPATH=src,
a fresh process, INPUT_* env) against the GitHub sandbox on 127.0.0.1.

The sandbox checks every request and response against GitHub's OpenAPI description; the
``github_sandbox`` fixture fails the test on any violation.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
TOKEN = "ghp_integrationTokenABCDEF0123456789"
CONFIG = "org/config"
SHA = "89abcdef0123456789abcdef0123456789abcdef"
DIGEST = "sha256:" + "cd" * 32
DISPATCHES = f"/repos/{CONFIG}/dispatches"


@pytest.fixture
def sandbox(github_sandbox: GitHubSandbox) -> GitHubSandbox:
    github_sandbox.add_token(TOKEN)
    github_sandbox.create_repo(CONFIG)
    return github_sandbox


def run_cli(
    sandbox: GitHubSandbox,
    tmp_path: Path,
    python: str = sys.executable,
    **inputs: str,
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], str]:
    """Run the command in a fresh process as inside Actions; returns (process, outputs, summary)."""
    given = {
        "repository": CONFIG,
        "token": TOKEN,
        "container": "my-app",
        "image": "ghcr.io/org/my-app",
        "tag": "sha-89abcdef",
        "digest": DIGEST,
        "api-url": sandbox.url,
        "built-at": "2026-01-28T11:30:00.5+01:00",  # a fixed time, given with an offset
    }
    given.update({k.replace("_", "-"): v for k, v in inputs.items()})
    out_file, summary_file = tmp_path / "output", tmp_path / "summary"
    out_file.write_text("")
    summary_file.write_text("")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(SRC),
        "PYTHONDONTWRITEBYTECODE": "1",
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "org/my-app",
        "GITHUB_SHA": SHA,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "7",
        "GITHUB_OUTPUT": str(out_file),
        "GITHUB_STEP_SUMMARY": str(summary_file),
    }
    env.update({f"INPUT_{name.upper().replace('-', '_')}": value for name, value in given.items()})
    proc = subprocess.run(
        # -S as scripts/action-run.sh starts it: site-packages are not even on sys.path, so any
        # third-party import on this path fails here, on every Python version this runs with.
        [python, "-S", "-m", "gitops_release", "dispatch-update"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return proc, parse_outputs(out_file.read_text()), summary_file.read_text()


def parse_outputs(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT heredoc entries (name<<DELIM ... DELIM) -> {name: value}."""
    outputs: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        name, _, delim = lines[i].partition("<<")
        j = lines.index(delim, i + 1)
        outputs[name] = "\n".join(lines[i + 1 : j])
        i = j + 1
    return outputs


def expected_payload(channel: str = "dev") -> dict[str, object]:
    return {
        "container": "my-app",
        "channel": channel,
        "image": "ghcr.io/org/my-app",
        "tag": "sha-89abcdef",
        "digest": DIGEST,
        "source": {
            "repository": "org/my-app",
            "sha": SHA,
            "ref": "refs/heads/main",
            "runUrl": "https://github.com/org/my-app/actions/runs/7",
            "builtAt": "2026-01-28T10:30:00.5Z",  # sent in UTC
        },
    }


def test_without_built_at_the_release_is_stamped_with_the_time_it_was_sent(
    sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    before = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    proc, outputs, summary = run_cli(sandbox, tmp_path, built_at="")
    after = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.999Z")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stamp = json.loads(outputs["payload"])["source"]["builtAt"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp) and before <= stamp <= after
    assert f"| built at | `{stamp}` |" in summary


def test_one_post_with_the_release_and_github_headers(sandbox: GitHubSandbox, tmp_path: Path):
    proc, outputs, summary = run_cli(sandbox, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [(r.method, r.path, r.status) for r in sandbox.requests] == [("POST", DISPATCHES, 204)]
    request = sandbox.requests[0]
    assert request.header("Authorization") == f"Bearer {TOKEN}"
    assert request.header("Accept") == "application/vnd.github+json"
    assert request.header("X-GitHub-Api-Version") == "2022-11-28"
    assert request.body == {"event_type": "release-channel-update", "client_payload": expected_payload()}
    assert sandbox.dispatches(CONFIG) == [
        {"event_type": "release-channel-update", "client_payload": expected_payload()}
    ]
    assert json.loads(outputs["payload"]) == expected_payload()
    assert outputs["channel"] == "dev"
    assert outputs["skipped"] == "false"
    assert outputs["dispatched-to"] == CONFIG
    assert "| container `my-app` |" in summary


def test_token_is_masked_and_appears_nowhere_else(sandbox: GitHubSandbox, tmp_path: Path):
    proc, outputs, summary = run_cli(sandbox, tmp_path, RUNNER_DEBUG="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mask = f"::add-mask::{TOKEN}"
    assert proc.stdout.count(mask) == 1
    everything = proc.stdout.replace(mask, "") + proc.stderr + json.dumps(outputs) + summary
    assert TOKEN not in everything


def test_token_never_printed_on_failure(sandbox: GitHubSandbox, tmp_path: Path):
    sandbox.inject(401, count=1, method="POST", path=DISPATCHES)
    proc, _, _ = run_cli(sandbox, tmp_path)
    assert proc.returncode == 1
    assert TOKEN not in proc.stdout.replace(f"::add-mask::{TOKEN}", "") + proc.stderr


def test_retries_a_502_then_succeeds(sandbox: GitHubSandbox, tmp_path: Path):
    sandbox.inject(502, count=1, method="POST", path=DISPATCHES)
    proc, outputs, _ = run_cli(sandbox, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [(r.method, r.path, r.status) for r in sandbox.requests] == [
        ("POST", DISPATCHES, 502),
        ("POST", DISPATCHES, 204),
    ]
    assert len(sandbox.dispatches(CONFIG)) == 1
    assert "502" in proc.stderr
    assert outputs["skipped"] == "false"


def test_waits_out_a_secondary_rate_limit(sandbox: GitHubSandbox, tmp_path: Path):
    sandbox.inject_secondary_rate_limit(retry_after=1, count=1, method="POST", path=DISPATCHES)
    proc, _, _ = run_cli(sandbox, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r.status for r in sandbox.requests] == [403, 204]
    assert len(sandbox.dispatches(CONFIG)) == 1


def test_gives_up_after_max_attempts(sandbox: GitHubSandbox, tmp_path: Path):
    sandbox.inject(503, count=5, method="POST", path=DISPATCHES)
    proc, _, _ = run_cli(sandbox, tmp_path, max_attempts="1")
    assert proc.returncode == 1
    assert [r.status for r in sandbox.requests] == [503]
    assert sandbox.dispatches(CONFIG) == []


def test_missing_repository_names_contents_write(sandbox: GitHubSandbox, tmp_path: Path):
    proc, outputs, _ = run_cli(sandbox, tmp_path, repository="org/nope")
    assert proc.returncode == 1
    errors = [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert "org/nope" in errors[0]
    assert "contents: write" in errors[0]
    assert [(r.method, r.status) for r in sandbox.requests] == [("POST", 404)]
    assert outputs == {}


def test_bad_input_sends_nothing(sandbox: GitHubSandbox, tmp_path: Path):
    proc, _, _ = run_cli(sandbox, tmp_path, digest="sha256:short")
    assert proc.returncode == 1
    assert "::error title=Invalid input 'digest'::" in proc.stdout
    assert sandbox.requests == []


def test_several_containers_in_one_event(sandbox: GitHubSandbox, tmp_path: Path):
    proc, outputs, _ = run_cli(
        sandbox, tmp_path, container="", image="", containers="api=ghcr.io/org/api\nworker=ghcr.io/org/worker"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (dispatch,) = sandbox.dispatches(CONFIG)
    releases = dispatch["client_payload"]["releases"]
    assert [(r["container"], r["image"]) for r in releases] == [
        ("api", "ghcr.io/org/api"),
        ("worker", "ghcr.io/org/worker"),
    ]
    assert json.loads(outputs["payload"]) == dispatch["client_payload"]


def test_unmapped_ref_skip_sends_nothing(sandbox: GitHubSandbox, tmp_path: Path):
    proc, outputs, summary = run_cli(sandbox, tmp_path, source_ref="refs/heads/topic", on_unmapped_ref="skip")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["skipped"] == "true"
    assert outputs["dispatched-to"] == ""
    assert sandbox.requests == []
    assert "skipped" in summary


RUNNER_PYTHONS = ("3.10", "3.12")  # the versions GitHub's runner images ship


def _python_candidates(version: str) -> list[str]:
    """Where a Python ``version`` may live: pyenv installs ($PYENV_ROOT, ~/.pyenv, /root/.pyenv,
    newest patch first), /usr/bin and /usr/local/bin, then ``pythonX.Y`` on PATH (setup-python,
    a distribution package, or a pyenv shim)."""
    roots = [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv"), "/root/.pyenv"]
    found: list[str] = []
    for root in dict.fromkeys(r for r in roots if r):
        pattern = os.path.join(root, "versions", f"{version}.*", "bin", "python3")
        found += sorted(glob.glob(pattern), key=_patch_level, reverse=True)
    found += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(on_path)
    return list(dict.fromkeys(found))


def _patch_level(path: str) -> tuple[int, ...]:
    name = Path(path).parents[1].name  # .../versions/3.12.1/bin/python3 -> 3.12.1
    return tuple(int(part) if part.isdigit() else -1 for part in name.split("."))


def _runs_as(python: str, version: str) -> bool:
    """True when ``python`` starts and is ``version`` (a pyenv shim for an unselected version fails)."""
    if not os.access(python, os.X_OK):
        return False
    try:
        proc = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return False
    return proc.returncode == 0 and proc.stdout.strip() == version


def _runner_python(version: str) -> str:
    candidates = _python_candidates(version)
    for python in candidates:
        if _runs_as(python, version):
            return python
    pytest.fail(
        f"no working Python {version}: looked in {', '.join(candidates) or 'nowhere'}. dispatch-update "
        f"must run on the runner images' Pythons ({' and '.join(RUNNER_PYTHONS)}): install {version} "
        "(pyenv install, actions/setup-python, or the distribution's python" + version + " package)"
    )


@pytest.mark.parametrize("version", RUNNER_PYTHONS, ids=[f"py{v}" for v in RUNNER_PYTHONS])
def test_runs_on_the_runner_pythons(sandbox: GitHubSandbox, tmp_path: Path, version: str):
    python = _runner_python(version)
    proc, outputs, _ = run_cli(sandbox, tmp_path, python=python)
    assert proc.returncode == 0, f"{python}: {proc.stdout}{proc.stderr}"
    assert json.loads(outputs["payload"]) == expected_payload()
    assert [r.status for r in sandbox.requests] == [204]


def test_finding_a_runner_python_fails_clearly_when_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"no working Python 2\.1: looked in"):
        _runner_python("2.1")


def test_a_runner_python_is_found_under_pyenv_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    fake = tmp_path / "versions" / "9.9.1" / "bin" / "python3"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 9.9\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    assert _python_candidates("9.9")[0] == str(fake)
    assert _runner_python("9.9") == str(fake)


def test_a_runner_python_is_found_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    fake = tmp_path / "bin" / "python9.8"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 9.8\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name: str(fake) if name == "python9.8" else None)
    assert _runner_python("9.8") == str(fake)
