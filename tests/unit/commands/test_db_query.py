from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_release.cli import main
from gitops_release.commands import db_query
from gitops_release.errors import ConfigError, InputError
from gitops_release.runtime import InputReader

SHA = "a" * 40
DIGEST = "sha256:" + "b" * 64


def release(container: str, channel: str, tag: str) -> dict[str, object]:
    return {
        "container": container,
        "channel": channel,
        "image": f"ghcr.io/org/{container}",
        "tag": tag,
        "digest": DIGEST,
        "source": {"repository": f"org/{container}", "sha": SHA},
        "updatedAt": "2026-01-28T10:30:00Z",
    }


DOC = {
    "schemaVersion": 1,
    "releases": [
        release("api", "dev", "sha-1"),
        release("api", "prod", "sha-0"),
        release("web", "dev", "sha-2"),
    ],
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "db.json").write_text(json.dumps(DOC, indent=2) + "\n")
    return tmp_path


def test_default_filter_returns_all_releases():
    assert db_query.query(DOC, ".releases") == DOC["releases"]


def test_shortcuts_narrow_releases_before_the_program():
    result = db_query.query(DOC, ".releases | map(.tag)", container="api")
    assert result == ["sha-1", "sha-0"]
    assert db_query.query(DOC, ".releases[].tag", channel="dev") == ["sha-1", "sha-2"]
    assert db_query.query(DOC, ".releases[].tag", container="web", channel="dev") == "sha-2"


def test_several_outputs_become_a_list_and_none_an_empty_list():
    assert db_query.query(DOC, ".releases[] | .container") == ["api", "api", "web"]
    assert db_query.query(DOC, '.releases[] | select(.tag == "nope")') == []


def test_syntax_error_is_an_input_error_naming_filter():
    with pytest.raises(InputError) as info:
        db_query.Inputs.from_reader(InputReader(env={}, flags={"filter": ".releases[[["}))
    assert info.value.field == "filter"
    assert "jq" in info.value.message


def test_runtime_error_names_filter():
    with pytest.raises(InputError) as info:
        db_query.query(DOC, ".releases + 1")
    assert info.value.field == "filter"


def test_endless_program_is_capped():
    with pytest.raises(InputError, match="more than"):
        db_query.query(DOC, "repeat(1)")


def test_table_renders_releases_with_short_digest_and_source():
    text = db_query.render_table(DOC["releases"][:1])
    header, row = text.splitlines()
    assert header.split() == ["container", "channel", "tag", "digest", "source", "updatedAt"]
    assert "sha256:bbbbbbbbbbbb…" in row
    assert f"org/api@{SHA[:12]}" in row


def test_table_for_scalars_and_empty():
    assert db_query.render_table(["a", "b"]) == "a\nb"
    assert db_query.render_table([]) == "(no results)"


def test_missing_and_corrupt_db_are_config_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        db_query.load_document(tmp_path / "db.json", "db.json")
    (tmp_path / "db.json").write_text('{"releases": [')
    with pytest.raises(ConfigError, match="not valid JSON"):
        db_query.load_document(tmp_path / "db.json", "db.json")
    (tmp_path / "db.json").write_text("[]")
    with pytest.raises(ConfigError, match="not a release-channel database"):
        db_query.load_document(tmp_path / "db.json", "db.json")


def test_unknown_or_missing_schema_version_is_refused_not_read(tmp_path: Path):
    (tmp_path / "db.json").write_text('{"schemaVersion": 2, "releases": []}')
    with pytest.raises(ConfigError, match="schemaVersion 2 is not supported") as info:
        db_query.load_document(tmp_path / "db.json", "db.json")
    assert "upgrade gitops-release" in (info.value.fix or "")
    (tmp_path / "db.json").write_text('{"releases": []}')
    with pytest.raises(ConfigError, match="schemaVersion is missing"):
        db_query.load_document(tmp_path / "db.json", "db.json")


def test_cli_json(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(repo)
    code = main(
        ["db", "query", "--container", "api", "--filter", ".releases[].tag", "--format", "json", "--json"],
        env={},
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"result": ["sha-1", "sha-0"], "count": 2}


def test_cli_table_prints_rows(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(repo)
    assert main(["db", "query", "--channel", "dev"], env={}) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("container")
    assert [line.split()[0] for line in out[1:3]] == ["api", "web"]


def test_cli_bad_filter_is_one_error_line(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["db", "query", "--filter", "{"], env={"GITHUB_ACTIONS": "true"}) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("::error title=Invalid input 'filter'::")


def test_deeply_nested_or_duplicate_key_db_is_a_config_error(tmp_path: Path):
    (tmp_path / "db.json").write_text("[" * 30000 + "]" * 30000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        db_query.load_document(tmp_path / "db.json", "db.json")
    (tmp_path / "db.json").write_text('{"releases": [], "releases": []}')
    with pytest.raises(ConfigError, match="'releases' twice"):
        db_query.load_document(tmp_path / "db.json", "db.json")


@pytest.mark.parametrize("program", ["until(false; .)", "[range(1e9)] | length"])
def test_a_never_ending_filter_is_stopped_at_the_timeout(program: str):
    with pytest.raises(InputError) as info:
        db_query.query(DOC, program, timeout=1.0)
    assert info.value.field == "filter"
    assert "did not finish within 1s" in info.value.message
    assert "timeout" in (info.value.fix or "")


def test_the_filter_sees_an_empty_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secretValue123")
    assert db_query.query(DOC, "$ENV") == {}
    assert db_query.query(DOC, "env") == {}
    assert db_query.query(DOC, "env.GITHUB_TOKEN") is None


def test_a_filter_that_exhausts_memory_is_an_input_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(db_query, "MEMORY_LIMIT", 150 * 1024**2)
    with pytest.raises(InputError) as info:
        db_query.query(DOC, "[range(1e9)] | length", timeout=120.0)
    assert info.value.field == "filter" and "memory" in info.value.message


def test_timeout_input(repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    assert db_query.Inputs.from_reader(InputReader(env={})).timeout == 10.0
    assert db_query.Inputs.from_reader(InputReader(env={"INPUT_TIMEOUT": "1m"})).timeout == 60.0
    with pytest.raises(InputError) as info:
        db_query.Inputs.from_reader(InputReader(env={"INPUT_TIMEOUT": "0s"}))
    assert info.value.field == "timeout"
    monkeypatch.chdir(repo)
    code = main(
        ["db", "query", "--filter", "until(false; .)", "--timeout", "1s"], env={"GITHUB_ACTIONS": "true"}
    )
    assert code == 1
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("::error title=Invalid input 'filter'::") and "did not finish within 1s" in line
