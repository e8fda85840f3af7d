"""``gitops-release sandbox``: inputs validated first, serves, prints URL/token/git URLs, stops."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
import requests

from gitops_release.cli import main
from gitops_release.commands import sandbox as command
from gitops_release.commands.base import Context
from gitops_release.errors import InputError
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
