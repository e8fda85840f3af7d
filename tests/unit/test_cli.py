from __future__ import annotations

from gitops_release.cli import main


def test_help_lists_every_command(capsys):
    assert main(["--help"], env={}) == 0
    out = capsys.readouterr().out
    for name in ("dispatch-update", "update-db", "db query", "db validate"):
        assert name in out


def test_version(capsys):
    assert main(["--version"], env={}) == 0
    assert capsys.readouterr().out.startswith("gitops-release ")


def test_unknown_command_is_usage_error_with_one_error_line(capsys):
    assert main(["nope"], env={"GITHUB_ACTIONS": "true"}) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith("::error title=Usage error::unknown command 'nope'")


def test_no_arguments_prints_help_and_exits_2(capsys):
    assert main([], env={}) == 2
    assert "commands:" in capsys.readouterr().out
