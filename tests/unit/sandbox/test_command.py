"""``gitops-release sandbox``: inputs validated first, serves, prints URL/token/git URLs, stops."""

from __future__ import annotations

import io
import json
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from gitops_release.cli import main
from gitops_release.commands import sandbox as command
from gitops_release.commands.base import Context
from gitops_release.errors import InputError, ReleaseError
from gitops_release.runtime import Console, InputReader


def read(**flags: str) -> command.Inputs:
    return command.Inputs.from_reader(InputReader(env={}, flags=flags))


def test_defaults() -> None:
    inputs = read()
    assert (inputs.root, inputs.repositories, inputs.token, inputs.port, inputs.duration) == (
        None,
        (),
        "sandbox-token",
        0,
        None,
    )


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        ({"repositories": "org/a,not-a-repo"}, "repositories"),
        ({"repositories": "org/a,ORG/A"}, "repositories"),
        ({"port": "70000"}, "port"),
        ({"duration": "soon"}, "duration"),
        ({"token": "two words"}, "token"),
    ],
)
def test_bad_inputs_name_the_input(flags: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as info:
        read(**flags)
    assert info.value.field == field


def test_inputs_from_action_env() -> None:
    reader = InputReader(env={"INPUT_REPOSITORIES": "org/a\norg/b", "INPUT_DURATION": "2s"})
    inputs = command.Inputs.from_reader(reader)
    assert inputs.repositories == ("org/a", "org/b")
    assert inputs.duration == 2.0


def test_run_serves_until_stopped_and_reports(tmp_path: Path) -> None:
    err = io.StringIO()
    ctx = Context(console=Console(env={}, out=io.StringIO(), err=err), env={}, workdir=tmp_path)
    inputs = read(root=str(tmp_path / "sbx"), repositories="org/config", token="local-token")
    stop = threading.Event()
    result: dict[str, command.Outputs] = {}
    thread = threading.Thread(target=lambda: result.setdefault("out", command.run(inputs, ctx, stop=stop)))
    thread.start()
    try:
        url = ""
        for _ in range(2000):  # wait for the URL line (no timing assertion: bounded by the loop)
            lines = [line for line in err.getvalue().splitlines() if line.startswith("GitHub API sandbox: ")]
            if lines:
                url = lines[0].split(": ", 1)[1]
                break
            threading.Event().wait(0.01)
        assert url.startswith("http://127.0.0.1:")
        response = requests.get(
            f"{url}/repos/org/config", headers={"Authorization": "token local-token"}, timeout=10
        )
        assert response.status_code == 200
    finally:
        stop.set()
        thread.join()
    outputs = result["out"]
    assert outputs.url == url
    assert outputs.git_urls == {"org/config": (tmp_path / "sbx/git/org/config.git").resolve().as_uri()}
    assert outputs.requests == 1
    assert outputs.violations == 0
    assert "token: local-token" in err.getvalue()
    assert "git remote org/config: file://" in err.getvalue()
    assert outputs.as_dict()["git-urls"] == outputs.git_urls
    assert "GitHub sandbox" in outputs.summary()


def test_cli_runs_for_a_duration_and_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["sandbox", "--root", str(tmp_path), "--repositories", "org/a", "--duration", "50ms", "--json"],
        env={},
    )
    assert code == 0
    out = capsys.readouterr().out
    assert '"org/a": "file://' in out


def test_cli_bad_input_exits_1_before_serving(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "--root", str(tmp_path / "r"), "--repositories", "bad"], env={})
    assert code == 1
    assert "repositories" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def serve_and_send(
    tmp_path: Path, send: Any, **flags: str
) -> tuple[command.Outputs | None, BaseException | None, str]:
    """Run the command in a thread, call ``send(url)`` once it serves, stop it; (outputs, error, stderr)."""
    err = io.StringIO()
    ctx = Context(console=Console(env={}, out=io.StringIO(), err=err), env={}, workdir=tmp_path)
    inputs = read(root=str(tmp_path / "sbx"), repositories="org/config", **flags)
    stop = threading.Event()
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["out"] = command.run(inputs, ctx, stop=stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    try:
        url = ""
        for _ in range(2000):  # wait for the URL line (no timing assertion: bounded by the loop)
            lines = [line for line in err.getvalue().splitlines() if line.startswith("GitHub API sandbox: ")]
            if lines:
                url = lines[0].split(": ", 1)[1]
                break
            threading.Event().wait(0.01)
        assert url.startswith("http://127.0.0.1:")
        send(url)
    finally:
        stop.set()
        thread.join()
    return result.get("out"), result.get("error"), err.getvalue()


def send_bogus_status(url: str) -> None:
    headers = {"Authorization": "token sandbox-token"}
    sha = requests.get(f"{url}/repos/org/config/git/ref/heads/main", headers=headers, timeout=10).json()[
        "object"
    ]["sha"]
    response = requests.post(
        f"{url}/repos/org/config/statuses/{sha}", headers=headers, json={"state": "bogus"}, timeout=10
    )
    assert response.status_code == 422


def test_strict_defaults_to_false_and_parses() -> None:
    assert read().strict is False
    assert read(strict="true").strict is True
    with pytest.raises(InputError) as info:
        read(strict="sometimes")
    assert info.value.field == "strict"


def test_without_strict_violations_only_warn(tmp_path: Path) -> None:
    outputs, error, err = serve_and_send(tmp_path, send_bogus_status)
    assert error is None
    assert outputs is not None and outputs.violations == 1
    assert "OpenAPI violation" in err


def test_strict_fails_listing_the_violations(tmp_path: Path) -> None:
    outputs, error, err = serve_and_send(tmp_path, send_bogus_status, strict="true")
    assert outputs is None
    assert isinstance(error, ReleaseError)
    assert error.exit_code == 1
    text = error.one_line()
    assert "\n" not in text
    assert "recorded 1 OpenAPI violation(s)" in text
    assert "(1) request POST /repos/org/config/statuses/" in text and "bogus" in text
    assert error.fix
    assert "OpenAPI violation" in err  # each one was also printed as a warning


def test_strict_without_violations_succeeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sandbox", "--root", str(tmp_path), "--duration", "50ms", "--strict", "true"], env={})
    assert code == 0


def test_strict_failure_names_the_first_violations_and_counts_the_rest() -> None:
    error = command.strict_failure([f"request GET /x: problem {n}\nsecond line" for n in range(8)])
    text = error.one_line()
    assert "recorded 8 OpenAPI violation(s)" in text
    assert "(5) request GET /x: problem 4" in text
    assert "problem 5" not in text
    assert "and 3 more" in text
    assert "\n" not in text


# -- failed starts: a clear error naming the input, and nothing left behind ----------------------


def sandbox_tmp_dirs(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.iterdir() if p.name.startswith("gitops-release-sandbox-"))


@pytest.fixture
def tmpdir_for_mkdtemp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR pointed at a fresh directory of this test, for tempfile.mkdtemp (which caches it)."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return tmpdir


def test_a_taken_port_names_port_and_leaves_no_temporary_root(
    tmpdir_for_mkdtemp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for _ in range(2):  # each failed start used to leave its directory behind
            code = main(["sandbox", "--port", str(port), "--repositories", "org/config"], env={})
            assert code == 1
            err = capsys.readouterr().err
            assert "Internal error" not in err and "bug" not in err
            lines = [line for line in err.splitlines() if line.strip()]
            assert len(lines) == 1
            assert f"input 'port': cannot listen on 127.0.0.1:{port}" in lines[0]
            assert "another port, or 0" in lines[0]
    assert sandbox_tmp_dirs(tmpdir_for_mkdtemp) == []


def test_an_events_dir_that_cannot_be_created_leaves_no_temporary_root(
    tmpdir_for_mkdtemp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    code = main(["sandbox", "--events-dir", str(blocker / "events")], env={})
    assert code == 1
    assert "input 'events-dir': cannot create" in capsys.readouterr().err
    assert sandbox_tmp_dirs(tmpdir_for_mkdtemp) == []


def test_a_root_that_cannot_be_created_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    code = main(["sandbox", "--root", str(blocker / "root")], env={})
    assert code == 1
    assert "input 'root': cannot create" in capsys.readouterr().err


def test_a_successful_start_keeps_its_temporary_root(
    tmpdir_for_mkdtemp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sandbox", "--repositories", "org/a", "--duration", "50ms"], env={}) == 0
    assert len(sandbox_tmp_dirs(tmpdir_for_mkdtemp)) == 1  # announced as "data in ...": the user's now


# -- events-dir and login ------------------------------------------------------------------------


def test_events_dir_and_login_inputs(tmp_path: Path) -> None:
    inputs = read(**{"events-dir": str(tmp_path / "ev"), "login": "release-app[bot]"})
    assert inputs.events_dir == tmp_path / "ev"
    assert inputs.login == "release-app[bot]"
    assert (read().events_dir, read().login) == (None, "sandbox-user")
    (tmp_path / "file").write_text("", encoding="utf-8")
    for flags, field in (({"events-dir": str(tmp_path / "file")}, "events-dir"), ({"login": "a b"}, "login")):
        with pytest.raises(InputError) as info:
            read(**flags)
        assert info.value.field == field


def test_run_writes_each_dispatch_to_events_dir_as_the_tokens_login(tmp_path: Path) -> None:
    def send(url: str) -> None:
        response = requests.post(
            f"{url}/repos/org/config/dispatches",
            headers={"Authorization": "token sandbox-token"},
            json={"event_type": "release", "client_payload": {"tag": "v1"}},
            timeout=10,
        )
        assert response.status_code == 204

    outputs, error, err = serve_and_send(
        tmp_path, send, **{"events-dir": str(tmp_path / "ev"), "login": "release-app[bot]"}
    )
    assert error is None and outputs is not None
    assert (outputs.events, outputs.events_dir) == (1, str(tmp_path / "ev"))
    event = json.loads((tmp_path / "ev" / "000001-release.json").read_text(encoding="utf-8"))
    assert (event["action"], event["client_payload"]) == ("release", {"tag": "v1"})
    assert (event["sender"]["login"], event["sender"]["type"]) == ("release-app[bot]", "Bot")
    assert f"events: each repository_dispatch is written to {tmp_path / 'ev'}" in err
