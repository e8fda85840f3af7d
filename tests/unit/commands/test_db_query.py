from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

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


def test_table_renders_releases_with_image_short_digest_and_source():
    text = db_query.render_table(DOC["releases"][:1])
    header, row = text.splitlines()
    assert header.split() == ["container", "channel", "image", "tag", "digest", "source", "updatedAt"]
    assert row.split()[:4] == ["api", "dev", "ghcr.io/org/api", "sha-1"]
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


# -- the table as users read it ------------------------------------------------------------


def _write_db(root: Path, releases: list[dict[str, object]], policy: str | None = None) -> None:
    (root / "db").mkdir(exist_ok=True)
    (root / "db" / "db.json").write_text(json.dumps({"schemaVersion": 1, "releases": releases}, indent=2))
    if policy is not None:
        (root / ".gitops-release.yml").write_text(policy)


def _table(capsys: pytest.CaptureFixture[str], *args: str) -> list[list[str]]:
    assert main(["db", "query", *args], env={}) == 0
    return [line.split() for line in capsys.readouterr().out.splitlines()]


def test_the_table_shows_a_registry_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    moved = {**release("api", "prod", "v1.0.0"), "image": "docker.io/acme/api"}
    _write_db(tmp_path, [release("api", "dev", "v1.0.0"), moved])
    monkeypatch.chdir(tmp_path)
    rows = _table(capsys)
    assert rows[0][:4] == ["container", "channel", "image", "tag"]
    assert [row[:4] for row in rows[1:]] == [
        ["api", "dev", "ghcr.io/org/api", "v1.0.0"],
        ["api", "prod", "docker.io/acme/api", "v1.0.0"],
    ]


def test_channels_come_in_the_policys_promotion_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # db.json is sorted by name (dev, prod, stage); people read dev -> stage -> prod.
    names = ["dev", "prod", "stage"]
    _write_db(tmp_path, [release(c, ch, "sha-1") for c in ("api", "web") for ch in names])
    monkeypatch.chdir(tmp_path)
    rows = _table(capsys)  # no policy: the default channels dev, stage, prod
    assert [row[:2] for row in rows[1:]] == [
        [c, ch] for c in ("api", "web") for ch in ("dev", "stage", "prod")
    ]
    assert [row[0] for row in _table(capsys, "--channel", "prod")[1:]] == ["api", "web"]
    out = main(["db", "query", "--container", "web", "--format", "json", "--json"], env={})
    assert out == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert [r["channel"] for r in result] == ["dev", "stage", "prod"]

    # The policy's own order, read from policy-path; a stored channel it no longer lists comes last.
    _write_db(
        tmp_path,
        [release("api", ch, "sha-1") for ch in ("canary", "dev", "legacy", "prod", "qa")],
        "channels: [dev, qa, canary, prod]\n",
    )
    assert [row[1] for row in _table(capsys)[1:]] == ["dev", "qa", "canary", "prod", "legacy"]
    (tmp_path / "policy.yml").write_text("channels: [prod, canary, qa, dev, legacy]\n")
    ordered = _table(capsys, "--policy-path", "policy.yml")
    assert [row[1] for row in ordered[1:]] == ["prod", "canary", "qa", "dev", "legacy"]


def test_a_channel_the_policy_does_not_know_is_an_error_naming_the_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    _write_db(tmp_path, [release("api", "dev", "sha-1")])
    monkeypatch.chdir(tmp_path)
    assert main(["db", "query", "--channel", "production"], env={"GITHUB_ACTIONS": "true"}) == 1
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("::error title=Invalid input 'channel'::input 'channel': 'production' is not")
    assert "the default policy (no .gitops-release.yml)" in line
    assert line.endswith("Fix: use one of: dev, stage, prod")
    assert "no results" not in line

    (tmp_path / ".gitops-release.yml").write_text("channels: [dev, live]\n")
    assert main(["db", "query", "--channel", "prod"], env={"GITHUB_ACTIONS": "true"}) == 1
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert "'prod' is not a channel of the policy .gitops-release.yml; its channels are dev, live" in line

    # A known channel with nothing on it is still "(no results)", not an error.
    assert main(["db", "query", "--channel", "live"], env={}) == 0
    assert capsys.readouterr().out.strip() == "(no results)"


def test_a_channel_only_the_db_still_has_can_be_queried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    _write_db(tmp_path, [release("api", "legacy", "sha-1")], "channels: [dev, prod]\n")
    monkeypatch.chdir(tmp_path)
    assert [row[:2] for row in _table(capsys, "--channel", "legacy")[1:]] == [["api", "legacy"]]


def test_a_broken_policy_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    _write_db(tmp_path, [release("api", "dev", "sha-1")], "channels: [dev\n")
    monkeypatch.chdir(tmp_path)
    assert main(["db", "query"], env={"GITHUB_ACTIONS": "true"}) == 1
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("::error title=Invalid configuration::") and ".gitops-release.yml" in line


# -- the jq program reads the db and nothing else -------------------------------------------

SECRET = "s3cr3t-from-outside-the-repo"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the repo with a JSON file and a jq module holding a secret."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "creds.json").write_text(json.dumps({"token": SECRET}))
    (directory / "leak.jq").write_text(f'def leak: "{SECRET}";\n')
    return directory


@pytest.fixture
def repo_beside(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _write_db(root, DOC["releases"])
    return root


def test_import_of_a_json_file_outside_the_repo_is_refused(
    outside: Path, repo_beside: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # The attack: an absolute path, found through search "/".
    monkeypatch.chdir(repo_beside)
    program = f'import "{str(outside / "creds").lstrip("/")}" as $c {{search: "/"}}; $c'
    assert main(["db", "query", "--filter", program, "--format", "json"], env={"GITHUB_ACTIONS": "true"}) == 1
    out = capsys.readouterr().out
    assert SECRET not in out
    (line,) = out.strip().splitlines()
    assert line.startswith("::error title=Invalid input 'filter'::input 'filter': uses 'import'")
    assert "makes jq read files" in line


@pytest.mark.parametrize(
    "program",
    [
        'import "{abs}/creds" as $c {{search: "/"}}; $c',
        'import "creds" as $c {{search: "{abs}"}}; $c',
        'import "creds" as $c {{search: "../outside"}}; $c',  # relative to the working directory
        'import "../outside/creds" as $c; $c',
        'include "leak" {{search: "{abs}"}}; leak',
        'include "leak" {{search: "../outside"}}; leak',
        'import "leak" as m {{search: "{abs}"}}; m::leak',
        'module {{a: 1}}; import "creds" as $c {{search: "{abs}"}}; $c',
        '# a comment\nimport "creds" as $c {{search: "{abs}"}}; $c',
        '"a \\" # " | import "creds" as $c {{search: "{abs}"}}; $c',  # an escaped quote in a string
        '"{abs}/leak" | modulemeta',
        '"\\(import "creds" as $c {{search: "{abs}"}}; $c)"',
    ],
)
def test_import_include_and_modulemeta_are_refused(
    program: str, outside: Path, repo_beside: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(repo_beside)
    text = program.format(abs=outside)
    with pytest.raises(InputError) as info:
        db_query.Inputs.from_reader(InputReader(env={}, flags={"filter": text}))
    assert info.value.field == "filter"
    assert "makes jq read files" in info.value.message
    with pytest.raises(InputError, match="makes jq read files"):
        db_query.query(DOC, text)


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        (".releases[0] | .import", None),
        ('.releases[0] | ."import"', None),
        ('.releases[0] | .["include"]', None),
        (".releases[0] | {import: .tag, include: .channel}", {"import": "sha-1", "include": "dev"}),
        (".releases[0] | {tag, import}", {"tag": "sha-1", "import": None}),
        ('"import include modulemeta"', "import include modulemeta"),
        ('.releases[0] | "\\(.tag) import \\(.channel)"', "sha-1 import dev"),
        (".releases | length # import everything", 3),
        (". as $import | $import.schemaVersion", 1),
        ('def importer: "x"; importer', "x"),
    ],
)
def test_the_words_are_fine_as_fields_keys_strings_comments_and_variables(program: str, expected):
    assert db_query.query(DOC, program) == expected


def test_the_child_reads_no_file_even_if_the_text_check_missed_one(
    outside: Path, repo_beside: Path, monkeypatch: pytest.MonkeyPatch
):
    # Defence in depth: with the text check off, jq still finds nothing (an empty working
    # directory) and can open nothing (no file descriptor to spare).
    monkeypatch.setattr(db_query, "refuse_file_access", lambda program: None)
    (repo_beside / "creds.json").write_text(json.dumps({"token": SECRET}))
    monkeypatch.chdir(repo_beside)
    for program in (
        f'import "{outside}/creds" as $c {{search: "/"}}; $c',
        'import "creds" as $c; $c',
        'import "creds" as $c {search: "."}; $c',
        f'include "leak" {{search: "{outside}"}}; leak',
    ):
        with pytest.raises(InputError) as info:
            db_query.query(DOC, program)
        assert info.value.field == "filter"
        assert SECRET not in info.value.message


def test_a_jq_or_json_module_in_the_checkout_is_never_imported_by_the_child(
    repo_beside: Path, monkeypatch: pytest.MonkeyPatch
):
    # python -m puts the working directory (the checkout) first on sys.path.
    marker = repo_beside.parent / "imported"
    for name in ("jq", "json"):
        (repo_beside / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write('{name} ')\n")
    monkeypatch.chdir(repo_beside)
    monkeypatch.syspath_prepend(str(repo_beside))
    assert db_query.query(DOC, ".releases | length") == 3
    assert not marker.exists()


# Pieces of jq text: the directives, and everything that decides whether they are code
# (strings, escapes, interpolations, comments, brackets, object keys, fields, variables).
_DIRECTIVES = [
    'import "nosuchmod" as $m {search: "/nonexistent"};',
    'include "nosuchmod" {search: "/nonexistent"};',
    'import "nosuchmod" as m;',
    'include "nosuchmod";',
]
_PIECES = [
    *_DIRECTIVES,
    '"nosuchmod" | modulemeta',
    *['"', "\\", "\\(", "(", ")", "{", "}", "[", "]", "#", "\n", " ", "\t", "\\\n", ".", "$", ":", "::", ","],
    *["import", "include", "modulemeta", ".a", '"x"', "1", "|", ";", "as", "$x", "@base64", '"\\(1)"'],
    *["def f: 1;", "module {a: 1};", '\\"', "# x", "#\\", '# "', "# \\(", "\r"],
]


#: What may come before a directive: blanks, comments holding a quote, a backslash or an
#: interpolation, the module directive, and the quotes and brackets that could derail a reader.
_BEFORE = [
    *["# x", '# "', "#\\", "# \\(", "# {", "\n", " ", "\t", "\\\n", "\r", '"', "\\", "{", "}"],
    *[
        "module {a: 1};",
        'module {a: "\\""};',
        'module {a: "#"};',
        'module {a: "\\\\"};',
        "module {a: {b: [1]}};",
    ],
]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_BEFORE + _DIRECTIVES), max_size=6),  # a directive works only first
    st.sampled_from(["", *_DIRECTIVES]),
    st.lists(st.sampled_from(_PIECES), max_size=8),
)
@example(['# "', "\n"], _DIRECTIVES[2], [])
@example(["# x \\", "\n"], _DIRECTIVES[0], [])
@example(["#\\", "\r", "\n"], _DIRECTIVES[3], [])
@example(['module {a: "\\""};'], _DIRECTIVES[2], [])
@example(['module {a: "#"};'], _DIRECTIVES[0], [])
@example(['module {a: "\\\\"};'], _DIRECTIVES[1], [])
def test_no_program_the_check_lets_through_makes_jq_look_for_a_module(
    before: list[str], directive: str, after: list[str]
):
    """Differential against jq itself (in this process, no child): a program that passes the
    text check yet makes jq look for the module (which does not exist) is a miss."""
    import jq

    program = "".join(before) + directive + "".join(after) + " ."
    try:
        db_query.refuse_file_access(program)
    except InputError:
        return
    try:
        jq.compile(program).input_value({"a": 1}).all()
    except ValueError as exc:
        first = str(exc).split("\n", 1)[0]
        assert "module not found" not in first and "data file" not in first, program


@pytest.mark.parametrize("directive", _DIRECTIVES)
def test_the_oracle_jq_says_module_not_found_for_each_directive(directive: str):
    """The property test above relies on this message; it must hold for every directive."""
    import jq

    with pytest.raises(ValueError) as info:
        jq.compile(directive + " .")
    first = str(info.value).split("\n", 1)[0]
    assert "module not found" in first or "data file" in first


# -- symbolic links (review finding 4): db query prints nothing from outside the checkout ----------


@pytest.mark.parametrize(
    ("link", "target", "expected"),
    [
        ("db", "db", "db-path db/db.json: 'db' is a symbolic link (to '{outside}/db')"),
        (
            "db/db.json",
            "db/db.json",
            "db-path db/db.json: 'db/db.json' is a symbolic link (to '{outside}/db/db.json')",
        ),
        (
            ".gitops-release.yml",
            "pol.yml",
            "policy-path .gitops-release.yml: '.gitops-release.yml' is a symbolic link "
            "(to '{outside}/pol.yml')",
        ),
    ],
)
def test_a_symlink_along_a_path_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    link: str,
    target: str,
    expected: str,
) -> None:
    # The review's reproduction: db query printed the outside db through a `db -> outside` link.
    outside = tmp_path / "outside"
    (outside / "db").mkdir(parents=True)
    secret = {"schemaVersion": 1, "releases": [release("secret", "dev", "sha-5ec7e7")]}
    (outside / "db" / "db.json").write_text(json.dumps(secret, indent=2) + "\n")
    (outside / "pol.yml").write_text("channels: [dev]\n")
    root = tmp_path / "repo"
    root.mkdir()
    if link != "db":
        _write_db(root, [release("api", "dev", "sha-1")])
    if link == "db/db.json":
        (root / "db" / "db.json").unlink()
    (root / link).symlink_to(outside / target)
    monkeypatch.chdir(root)
    assert main(["db", "query"], env={"GITHUB_ACTIONS": "true"}) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "::error title=Invalid configuration::"
        + expected.format(outside=outside)
        + "; gitops-release reads and writes only real files inside the checkout. "
        f"Fix: replace the link '{link}' in the repository by a real "
        + ("directory" if link == "db" else "file")
        + " (git rm it and commit the content)"
    )
    assert "secret" not in out


def test_a_db_path_out_of_the_working_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "outside").mkdir()
    _write_db(tmp_path / "outside", [release("secret", "dev", "sha-5ec7e7")])
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert main(["db", "query", "--db-path", "../outside/db/db.json"], env={"GITHUB_ACTIONS": "true"}) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "::error title=Invalid configuration::db-path ../outside/db/db.json leads out of the checkout. "
        "Fix: give db-path as a path inside it, without '..'"
    )
    assert "secret" not in out
