from __future__ import annotations

from gitops_release.cli import main


def test_help_lists_every_command_with_a_one_line_description(capsys):
    from gitops_release.commands import COMMANDS

    assert main(["--help"], env={}) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, (_, description) in COMMANDS.items():
        assert description and "\n" not in description
        assert any(line.startswith(f"  {name} ") and line.endswith(description) for line in lines)


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


# A tiny command module registered for these tests only, to drive cli.main end to end.
def _install_fake_command(monkeypatch, behaviour):
    import sys
    import types
    from dataclasses import dataclass

    from gitops_release import commands
    from gitops_release.runtime import InputSpec

    module = types.ModuleType("fake_cmd")
    module.INPUTS = (InputSpec("name", "who", required=True), InputSpec("token", "t", secret=True))

    @dataclass(frozen=True)
    class Inputs:
        name: str
        token: str | None

        @classmethod
        def from_reader(cls, reader):
            return cls(**reader.read_all(module.INPUTS))

    @dataclass
    class Outputs:
        greeting: str

        def as_dict(self):
            return {"greeting": self.greeting}

    def run(inputs, ctx):
        return behaviour(inputs)

    module.Inputs, module.Outputs, module.run = Inputs, Outputs, run
    monkeypatch.setitem(sys.modules, "fake_cmd", module)
    monkeypatch.setitem(commands.COMMANDS, "fake", ("fake_cmd", "a fake"))
    return Outputs


def test_command_outputs_go_to_github_output_and_json(monkeypatch, tmp_path, capsys):
    outputs_cls = None

    def behaviour(inputs):
        return outputs_cls(greeting=f"hi {inputs.name}")

    outputs_cls = _install_fake_command(monkeypatch, behaviour)
    out_file, summary = tmp_path / "o", tmp_path / "s"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out_file), "GITHUB_STEP_SUMMARY": str(summary)}
    assert main(["fake", "--name", "bob"], env=env) == 0
    assert "hi bob" in out_file.read_text()
    assert "| greeting | `hi bob` |" in summary.read_text()
    assert main(["fake", "--json"], env={"INPUT_NAME": "amy"}) == 0
    assert '"greeting": "hi amy"' in capsys.readouterr().out


def test_release_error_is_one_error_line_exit_1_and_token_redacted(monkeypatch, capsys):
    from gitops_release.errors import PolicyError

    def behaviour(inputs):
        raise PolicyError(f"refused with {inputs.token}", fix="ask")

    _install_fake_command(monkeypatch, behaviour)
    env = {"GITHUB_ACTIONS": "true", "INPUT_TOKEN": "ghs_supersecret_987"}
    assert main(["fake", "--name", "x"], env=env) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "::add-mask::ghs_supersecret_987",
        "::error title=Refused by policy::refused with ***. Fix: ask",
    ]


def test_missing_required_input_exits_1_naming_it(monkeypatch, capsys):
    _install_fake_command(monkeypatch, lambda inputs: None)
    assert main(["fake"], env={"GITHUB_ACTIONS": "true"}) == 1
    assert "::error title=Invalid input 'name'::input 'name': is required" in capsys.readouterr().out


def test_unknown_flag_is_usage_error(monkeypatch, capsys):
    _install_fake_command(monkeypatch, lambda inputs: None)
    assert main(["fake", "--nope", "1"], env={}) == 2
    assert "unrecognized arguments: --nope 1" in capsys.readouterr().err


def test_bug_is_one_line_without_traceback_unless_runner_debug(monkeypatch, capsys):
    def behaviour(inputs):
        raise KeyError("boom")

    _install_fake_command(monkeypatch, behaviour)
    assert main(["fake", "--name", "x"], env={"GITHUB_ACTIONS": "true"}) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert captured.out.startswith("::error title=Internal error::internal error KeyError")
    assert main(["fake", "--name", "x"], env={"GITHUB_ACTIONS": "true", "RUNNER_DEBUG": "1"}) == 1
    assert "Traceback" in capsys.readouterr().err


def test_command_help_lists_inputs(monkeypatch, capsys):
    _install_fake_command(monkeypatch, lambda inputs: None)
    assert main(["fake", "--help"], env={}) == 0
    out = capsys.readouterr().out
    assert "--name" in out and "(required)" in out and "--json" in out


def test_report_replaces_name_value_lines(monkeypatch, capsys):
    from dataclasses import dataclass

    @dataclass
    class Reported:
        greeting: str

        def as_dict(self):
            return {"greeting": self.greeting}

        def report(self):
            return "a table"

    _install_fake_command(monkeypatch, lambda inputs: Reported("x"))
    assert main(["fake", "--name", "x"], env={}) == 0
    assert capsys.readouterr().out == "a table\n"


def test_a_bare_boolean_flag_means_true_and_takes_an_explicit_value() -> None:
    import importlib

    from gitops_release.cli import _build_parser

    module = importlib.import_module("gitops_release.commands.update_db")
    parser = _build_parser("update-db", module)
    assert parser.parse_args(["--dry-run"]).__dict__["dry-run"] == "true"
    assert parser.parse_args(["--dry-run", "false"]).__dict__["dry-run"] == "false"
    assert parser.parse_args(["--push", "--dry-run"]).__dict__["push"] == "true"
    assert parser.parse_args([]).__dict__["dry-run"] is None  # unset: the input's default applies


def test_a_command_group_prints_its_commands_for_help(capsys):
    for argv in (["db", "--help"], ["db", "-h"], ["db", "help"]):
        assert main(argv, env={}) == 0, argv
        out = capsys.readouterr().out
        assert "unknown command" not in out
        assert "usage: gitops-release db <command>" in out
        lines = out.splitlines()
        assert any(line.startswith("  query ") for line in lines)
        assert any(line.startswith("  validate ") for line in lines)
    assert main(["db"], env={}) == 2  # nothing to run: the group's help, and a usage exit
    assert "  query " in capsys.readouterr().out


def test_an_unknown_command_in_a_group_lists_the_group(capsys):
    assert main(["db", "nope"], env={"GITHUB_ACTIONS": "true"}) == 2
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("::error title=Usage error::unknown command 'db nope'")
    assert line.endswith("Fix: use one of: db query, db validate")


def _option_help(command: str, capsys) -> dict[str, str]:
    """--help of ``command`` as option name -> its help text, whitespace folded."""
    import re

    assert main([*command.split(), "--help"], env={}) == 0
    text = capsys.readouterr().out.split("options:", 1)[1]
    blocks = re.split(r"\n  (?=-)", "\n" + text)
    options: dict[str, str] = {}
    for block in blocks:
        match = re.match(r"(?:-h, )?--([a-z-]+)", block.strip())
        if match:
            options[match.group(1)] = " ".join(block.split())
    return options


def test_every_help_line_states_its_default_once_and_lists_its_choices(capsys):
    import importlib

    from gitops_release.commands import COMMANDS

    for name, (module_name, _) in COMMANDS.items():
        options = _option_help(name, capsys)
        module = importlib.import_module(module_name)
        for spec in module.INPUTS:
            if spec.name in getattr(module, "ENV_ONLY", ()):  # a secret with no flag (trace's token)
                assert spec.name not in options, (name, spec.name)
                continue
            text = options[spec.name]
            if spec.default not in (None, "", (), []):
                assert text.count("(default") == 1, (name, text)
            if spec.choices:
                assert f"--{spec.name} {{{','.join(spec.choices)}}}" in text, (name, text)
                assert f"(one of: {', '.join(spec.choices)})" in text, (name, text)


def test_db_query_help_shows_each_default_once_in_its_own_unit(capsys):
    options = _option_help("db query", capsys)
    assert options["filter"].endswith("jq program run on the db document (default: .releases)")
    assert options["timeout"].endswith("(default: 10s)")
    assert "--format {table,json}" in options["format"]
    assert "(one of: table, json) (default: table)" in options["format"]


def test_a_failure_still_writes_the_step_summary_with_the_reason(monkeypatch, tmp_path, capsys):
    """Every command: a refusal, a bad input and a bug each leave a summary saying why (redacted,
    payload text in a code block whose fence outruns the backticks in it)."""
    from gitops_release.errors import PolicyError

    def behaviour(inputs):
        if inputs.name == "bug":
            raise KeyError("boom")
        raise PolicyError(f"tag ```latest``` refused for {inputs.token}", fix="ship sha-1a2b3c4d")

    _install_fake_command(monkeypatch, behaviour)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    env["INPUT_TOKEN"] = "ghs_supersecret_987"
    assert main(["fake", "--name", "x"], env=env) == 1
    assert summary.read_text() == (
        "### fake: failed\n\n**Refused by policy**\n\n````text\n"
        "tag ```latest``` refused for ***. Fix: ship sha-1a2b3c4d\n````\n\n"
    )
    summary.unlink()
    assert main(["fake"], env=env) == 1  # an input error, before run()
    assert "**Invalid input 'name'**" in summary.read_text() and "is required" in summary.read_text()
    summary.unlink()
    assert main(["fake", "--name", "bug"], env=env) == 1
    assert "**Internal error**" in summary.read_text() and "KeyError" in summary.read_text()
    # An unwritable summary never hides the error itself.
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "missing-dir" / "summary.md")
    capsys.readouterr()
    assert main(["fake", "--name", "x"], env=env) == 1
    assert "::error title=Refused by policy::" in capsys.readouterr().out
