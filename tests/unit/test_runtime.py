from __future__ import annotations

import io
import re

import pytest

from gitops_release import runtime
from gitops_release.errors import InputError
from gitops_release.runtime import Console, InputReader, InputSpec


def console_for(tmp_path, **env):
    out, err = io.StringIO(), io.StringIO()
    base = {"GITHUB_ACTIONS": "true"}
    base.update(env)
    return Console(env=base, out=out, err=err), out, err


# -- inputs ------------------------------------------------------------------------------------


def test_flag_wins_over_env_and_env_accepts_dash_or_underscore():
    spec = InputSpec("event-type", "help")
    assert InputReader(env={"INPUT_EVENT-TYPE": "a"}).get(spec) == "a"
    assert InputReader(env={"INPUT_EVENT_TYPE": "b"}).get(spec) == "b"
    assert InputReader(env={"INPUT_EVENT_TYPE": "b"}, flags={"event-type": "c"}).get(spec) == "c"


def test_empty_value_means_not_given_and_default_applies():
    spec = InputSpec("db-path", "help", default="db/db.json")
    assert InputReader(env={"INPUT_DB-PATH": "   "}).get(spec) == "db/db.json"


def test_required_input_missing_names_the_input():
    with pytest.raises(InputError) as info:
        InputReader(env={}).get(InputSpec("repository", "help", required=True))
    assert info.value.field == "repository"
    assert "repository" in info.value.one_line() and "Fix:" in info.value.one_line()


@pytest.mark.parametrize(
    ("raw", "value"), [("true", True), ("True", True), ("FALSE", False), ("false", False)]
)
def test_booleans_are_yaml_core_only(raw, value):
    assert InputReader(env={"INPUT_PUSH": raw}).get(InputSpec("push", "h", kind="bool")) is value


@pytest.mark.parametrize("raw", ["yes", "1", "on", "tru"])
def test_other_boolean_spellings_are_refused(raw):
    with pytest.raises(InputError, match=r"input 'push': '.*' is not a boolean"):
        InputReader(env={"INPUT_PUSH": raw}).get(InputSpec("push", "h", kind="bool"))


def test_int_bounds_and_garbage():
    spec = InputSpec("max-attempts", "h", kind="int", minimum=1, maximum=50)
    assert InputReader(env={"INPUT_MAX-ATTEMPTS": " 7 "}).get(spec) == 7
    for raw, message in (
        ("0", "below the minimum 1"),
        ("51", "above the maximum 50"),
        ("7x", "not a whole number"),
    ):
        with pytest.raises(InputError, match=message):
            InputReader(env={"INPUT_MAX-ATTEMPTS": raw}).get(spec)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1h30m", 5400.0), ("500ms", 0.5), ("1m30s", 90.0)],
)
def test_durations(raw, seconds):
    assert runtime.parse_duration("timeout", raw) == seconds


@pytest.mark.parametrize("raw", ["", "m", "10 minutes", "-5s", "1d"])
def test_bad_durations_name_the_input(raw):
    with pytest.raises(InputError, match="input 'timeout'"):
        runtime.parse_duration("timeout", raw)


def test_lists_split_on_newlines_and_commas():
    assert runtime.parse_list("a, b\n\n c\n,d,") == ["a", "b", "c", "d"]


def test_json_error_names_input_and_position():
    with pytest.raises(InputError, match=r"input 'payload': is not valid JSON .*line 1 column 2"):
        InputReader(env={"INPUT_PAYLOAD": "{x"}).get(InputSpec("payload", "h", kind="json"))


def test_choices_are_enforced():
    spec = InputSpec("mode", "h", choices=("pr", "commit"))
    with pytest.raises(InputError, match="not one of pr, commit"):
        InputReader(env={"INPUT_MODE": "push"}).get(spec)


def test_read_all_uses_snake_case_keys():
    specs = (
        InputSpec("db-path", "h", default="db/db.json"),
        InputSpec("push", "h", kind="bool", default=True),
    )
    assert InputReader(env={}).read_all(specs) == {"db_path": "db/db.json", "push": True}


# -- secrets -----------------------------------------------------------------------------------


def test_secret_input_is_masked_and_redacted(capsys):
    token = "ghp_abcdefghijklmnop1234"
    assert (
        InputReader(env={"INPUT_TOKEN": token, "GITHUB_ACTIONS": "true"}).get(
            InputSpec("token", "h", secret=True)
        )
        == token
    )
    assert f"::add-mask::{token}" in capsys.readouterr().out
    assert runtime.redact(f"Authorization: Bearer {token}") == "Authorization: Bearer ***"


def test_multiline_secret_masks_each_line(capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    pem = "-----BEGIN KEY-----\nAAAAsecretline\n-----END KEY-----"
    runtime.register_secret(pem)
    out = capsys.readouterr().out
    assert "::add-mask::AAAAsecretline" in out
    assert "AAAAsecretline" not in runtime.redact("key AAAAsecretline here")


def test_no_mask_command_outside_actions(capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    runtime.register_secret("secret-value-123")
    assert capsys.readouterr().out == ""
    assert runtime.redact("x secret-value-123") == "x ***"


# -- outputs, summary, annotations -------------------------------------------------------------


def test_outputs_use_random_heredoc_delimiters(tmp_path):
    output_file = tmp_path / "out"
    console, _, _ = console_for(tmp_path, GITHUB_OUTPUT=str(output_file))
    assert console.write_outputs({"payload": {"a": 1}, "changed": True, "multi": "x\ny", "none": None})
    text = output_file.read_text()
    blocks = re.findall(r"^(\S+)<<(ghadelimiter_[0-9a-f]{32})\n(.*?)\n\2$", text, flags=re.S | re.M)
    assert [(name, value) for name, _, value in blocks] == [
        ("payload", '{"a":1}'),
        ("changed", "true"),
        ("multi", "x\ny"),
        ("none", ""),
    ]
    assert len({delim for _, delim, _ in blocks}) == 4


def test_outputs_are_a_noop_outside_actions(tmp_path):
    console = Console(env={}, out=io.StringIO(), err=io.StringIO())
    assert console.write_outputs({"a": "b"}) is False
    assert console.write_summary("# hi") is False


def test_outputs_and_summary_are_redacted(tmp_path):
    runtime.register_secret("tok_secret_value")
    output_file, summary_file = tmp_path / "out", tmp_path / "sum"
    console, _, _ = console_for(
        tmp_path, GITHUB_OUTPUT=str(output_file), GITHUB_STEP_SUMMARY=str(summary_file)
    )
    console.write_outputs({"x": "a tok_secret_value b"})
    console.write_summary(runtime.markdown_table("t", {"x": "tok_secret_value"}))
    assert "tok_secret_value" not in output_file.read_text() + summary_file.read_text()


def test_summary_table_escapes_pipes_and_truncates():
    table = runtime.markdown_table("update-db", {"a|b": "x|y", "long": "z" * 300, "empty": ""})
    assert "| a|b | `x\\|y` |" in table
    assert "z" * 197 + "..." in table
    assert "| empty | |" in table


def test_annotation_prints_only_given_properties(tmp_path):
    console, out, _ = console_for(tmp_path)
    console.annotation("error", "bad\nthing: 100%", title="Invalid input 'tag'")
    console.annotation("warning", "plain")
    console.annotation("error", "at", title="t", file="a,b.yml", line=3)
    lines = out.getvalue().splitlines()
    assert lines[0] == "::error title=Invalid input 'tag'::bad%0Athing: 100%25"
    assert lines[1] == "::warning::plain"
    assert lines[2] == "::error title=t,file=a%2Cb.yml,line=3::at"


def test_annotation_outside_actions_is_plain(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    Console(env={}, out=out, err=err).annotation("error", "boom", title="T")
    assert err.getvalue() == "error: T: boom\n"
    assert out.getvalue() == ""


def test_plain_annotation_is_one_line_and_names_the_input_once():
    out, err = io.StringIO(), io.StringIO()
    Console(env={}, out=out, err=err).annotation(
        "error", "input 'tag': bad\n  value", title="Invalid input 'tag'"
    )
    assert err.getvalue() == "error: input 'tag': bad value\n"


def test_group_wraps_in_actions(tmp_path):
    console, out, _ = console_for(tmp_path)
    with console.group("Fetch"):
        pass
    assert out.getvalue() == "::group::Fetch\n::endgroup::\n"


def test_debug_only_with_runner_debug(tmp_path):
    console, _, err = console_for(tmp_path)
    console.debug("hidden")
    assert err.getvalue() == ""
    console, _, err = console_for(tmp_path, RUNNER_DEBUG="1")
    console.debug("shown")
    assert err.getvalue() == "::debug::shown\n"


def test_json_nested_too_deeply_is_an_input_error_not_a_crash():
    deep = "[" * 30000 + "]" * 30000
    with pytest.raises(InputError) as info:
        InputReader(env={"INPUT_PAYLOAD": deep}).get(InputSpec("payload", "h", kind="json"))
    assert info.value.field == "payload"
    assert "nested too deeply" in info.value.message and info.value.fix


def test_json_duplicate_key_is_refused_naming_the_input_and_key():
    raw = '{"container": "a", "tag": "1.2.3", "tag": "latest"}'
    with pytest.raises(InputError) as info:
        InputReader(env={"INPUT_PAYLOAD": raw}).get(InputSpec("payload", "h", kind="json"))
    assert info.value.field == "payload"
    assert "'tag' twice" in info.value.message
    nested = '{"releases": [{"source": {"sha": "a", "sha": "b"}}]}'
    with pytest.raises(InputError, match="'sha' twice"):
        runtime.parse_json("payload", nested)
    assert runtime.parse_json("payload", '{"a": {"b": 1}, "b": {"a": 2}}') == {"a": {"b": 1}, "b": {"a": 2}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "fatal: unable to access 'https://x-access-token:ghp_s3cret@github.com/acme/config.git/': 403",
            "fatal: unable to access 'https://***@github.com/acme/config.git/': 403",
        ),
        ("remote 'https://ghp_s3cret@github.com/a/b'", "remote 'https://***@github.com/a/b'"),
        ("ssh://git:pa@ss@host/r.git and http://u:p@h/", "ssh://***@host/r.git and http://***@h/"),
        ("ssh://git@github.com/o/r.git stays", "ssh://git@github.com/o/r.git stays"),
        ("mail dev@example.com, no URL", "mail dev@example.com, no URL"),
    ],
)
def test_redact_hides_the_credentials_of_any_url(text, expected):
    """A token inside a remote URL is never printed, even when nobody registered it as a secret."""
    assert runtime.redact(text) == expected


def test_an_error_annotation_never_shows_url_credentials():
    out, err = io.StringIO(), io.StringIO()
    Console(env={"GITHUB_ACTIONS": "true"}, out=out, err=err).annotation(
        "error",
        "cannot reach https://x-access-token:ghp_s3cret@github.com/acme/config.git",
        title="git failed",
    )
    assert "ghp_s3cret" not in out.getvalue() and "https://***@github.com/acme/config.git" in out.getvalue()


@pytest.mark.parametrize(
    ("raw", "problem", "fix"),
    [
        (
            "../x",
            "'../x' must be a path inside the checkout",
            "give a relative path without '..', e.g. a/b.yaml",
        ),
        (
            "/etc/x",
            "'/etc/x' must be a path inside the checkout",
            "give a relative path without '..', e.g. a/b.yaml",
        ),
        (
            "~/x",
            "'~/x' must be a path inside the checkout",
            "give a relative path without '..', e.g. a/b.yaml",
        ),
        ("a\x7fb", "contains control characters", "give a plain relative path like a/b.yaml"),
        ("a\nb", "contains control characters", "give a plain relative path like a/b.yaml"),
        ("  ", "is empty", "give a relative path, e.g. a/b.yaml"),
        (".", "is empty", "give a relative path, e.g. a/b.yaml"),
    ],
)
def test_parse_relative_path_refuses_paths_outside_the_checkout(raw: str, problem: str, fix: str) -> None:
    with pytest.raises(InputError) as info:
        runtime.parse_relative_path("some-path", raw, example="a/b.yaml")
    assert (info.value.field, info.value.message, info.value.fix) == (
        "some-path",
        f"input 'some-path': {problem}",
        fix,
    )


def test_parse_relative_path_normalises_and_allows_the_root_only_when_asked() -> None:
    assert runtime.parse_relative_path("p", " a//b/./c.yaml ", example="x") == "a/b/c.yaml"
    assert runtime.parse_relative_path("p", ".", example="x", allow_root=True) == "."
    with pytest.raises(InputError):
        runtime.parse_relative_path("p", "", example="x", allow_root=True)
