from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_release.cli import main
from gitops_release.commands import db_validate
from gitops_release.errors import ConfigError

SHA = "a" * 40
TEMPLATE_POLICY = Path(__file__).resolve().parents[3] / "templates" / "config-repo" / ".gitops-release.yml"


def entry(container: str = "api", tag: str = "sha-1") -> dict[str, object]:
    return {
        "container": container,
        "channel": "dev",
        "image": f"ghcr.io/org/{container}",
        "tag": tag,
        "source": {"repository": "org/api", "sha": SHA},
        "updatedAt": "2026-01-28T10:30:00Z",
    }


def write(root: Path, releases: list[dict[str, object]], policy: str | None = None) -> None:
    (root / "db").mkdir(exist_ok=True)
    (root / "db" / "db.json").write_text(
        json.dumps({"schemaVersion": 1, "releases": releases}, indent=2) + "\n"
    )
    if policy is not None:
        (root / ".gitops-release.yml").write_text(policy)


def run(root: Path) -> db_validate.Outputs:
    from gitops_release.commands.base import Context

    return db_validate.run(db_validate.Inputs(), Context.for_env({}, workdir=root))


def test_valid_db_and_absent_policy(tmp_path: Path):
    write(tmp_path, [entry("api"), entry("web")])
    out = run(tmp_path)
    assert (out.valid, out.releases, out.policy) == (True, 2, "absent: permissive defaults")


def test_template_policy_and_empty_db_are_valid(tmp_path: Path):
    write(tmp_path, [], TEMPLATE_POLICY.read_text())
    assert run(tmp_path).policy == "valid"


def test_schema_problem_names_the_json_path(tmp_path: Path):
    write(tmp_path, [entry("api"), entry("web", tag="bad tag")])
    with pytest.raises(ConfigError) as info:
        run(tmp_path)
    assert "$.releases[1].tag" in info.value.message
    assert info.value.fix


def test_missing_updated_at_is_refused(tmp_path: Path):
    bad = entry()
    del bad["updatedAt"]
    write(tmp_path, [bad])
    with pytest.raises(ConfigError, match=r"\$\.releases\[0\]"):
        run(tmp_path)


def test_missing_and_corrupt_db(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        run(tmp_path)
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "db.json").write_text('{"schemaVersion": 1, "releases": [')
    with pytest.raises(ConfigError, match="not valid JSON"):
        run(tmp_path)


def test_bad_policy_yaml(tmp_path: Path):
    write(tmp_path, [], "channels: [dev\n")
    with pytest.raises(ConfigError, match="policy"):
        run(tmp_path)


def test_cli_exit_1_with_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    write(tmp_path, [{"container": "api"}])
    monkeypatch.chdir(tmp_path)
    assert main(["db", "validate"], env={"GITHUB_ACTIONS": "true"}) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("::error title=Invalid configuration::db-path db/db.json")


def test_newer_schema_version_says_upgrade_not_restore(tmp_path: Path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "db.json").write_text('{"schemaVersion": 2, "releases": []}\n')
    with pytest.raises(ConfigError) as info:
        run(tmp_path)
    assert "schemaVersion 2 is not supported" in info.value.message
    assert info.value.fix and "upgrade" in info.value.fix and "git history" not in info.value.fix


def test_deeply_nested_db_is_a_config_error(tmp_path: Path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "db.json").write_text("[" * 30000 + "]" * 30000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        run(tmp_path)
    deep = "[" * 900 + "]" * 900  # parses, but too deep for the schema validator's recursion
    (tmp_path / "db" / "db.json").write_text('{"schemaVersion": 1, "releases": ' + deep + "}")
    with pytest.raises(ConfigError, match=r"db-path db/db\.json"):
        run(tmp_path)


def test_duplicate_keys_are_refused_in_db_and_policy(tmp_path: Path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "db.json").write_text('{"schemaVersion": 1, "releases": [], "releases": []}')
    with pytest.raises(ConfigError, match="'releases' twice"):
        run(tmp_path)
    write(tmp_path, [], "channels: [dev]\nchannels: [dev, prod]\n")
    with pytest.raises(ConfigError) as info:
        run(tmp_path)
    assert info.value.message.startswith("policy-path .gitops-release.yml: duplicate key 'channels'")


def test_a_valid_db_not_in_update_db_form_fails_naming_the_line_unless_rewritten(tmp_path: Path):
    write(tmp_path, [entry("web"), entry("api")])  # valid, but out of order
    db_file = tmp_path / "db" / "db.json"
    before = db_file.read_text()
    with pytest.raises(ConfigError) as info:
        run(tmp_path)
    message = info.value.message
    assert "not in the form update-db writes" in message
    assert 'line 5 is \'"container": "web",\', update-db writes \'"container": "api",\'' in message
    assert "--rewrite" in (info.value.fix or "")
    assert db_file.read_text() == before  # nothing changed on failure
    from gitops_release.commands.base import Context
    from gitops_release.core.db import dump_db, load_db

    out = db_validate.run(db_validate.Inputs(rewrite=True), Context.for_env({}, workdir=tmp_path))
    assert (out.valid, out.releases, out.rewritten) == (True, 2, True)
    assert db_file.read_text() == dump_db(load_db(before))
    again = run(tmp_path)
    assert again.rewritten is False


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda t: t.replace("  ", "    "), "line 2 is"),
        (lambda t: t.rstrip("\n"), "update-db writes"),
        (lambda t: t + "\n\n", "extra"),
    ],
)
def test_spacing_and_trailing_lines_are_named(tmp_path: Path, edit, where):
    from gitops_release.core.db import dump_db, load_db

    write(tmp_path, [entry("api")])
    db_file = tmp_path / "db" / "db.json"
    db_file.write_text(edit(dump_db(load_db(db_file.read_text()))))
    with pytest.raises(ConfigError, match=where):
        run(tmp_path)


def test_cli_rewrite_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    write(tmp_path, [entry("web"), entry("api")])
    monkeypatch.chdir(tmp_path)
    assert main(["db", "validate"], env={}) == 1
    assert main(["db", "validate", "--rewrite", "--json"], env={}) == 0
    assert json.loads(capsys.readouterr().out)["rewritten"] is True


def test_a_broken_db_suggests_a_git_log_of_the_file_itself(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "db.json").write_text('{"schemaVersion": 1, "releases": [')
    with pytest.raises(ConfigError) as info:
        run(tmp_path)
    assert info.value.message.startswith("db-path db/db.json: is not valid JSON")
    assert info.value.fix == "restore it from git history (git log -p -- db/db.json) or fix it by hand"
    monkeypatch.chdir(tmp_path)
    assert main(["db", "validate"], env={"GITHUB_ACTIONS": "true"}) == 1
    assert "git log -p -- db/db.json)" in capsys.readouterr().out


def _one_line(root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """db validate's ::error line as the user sees it (the CLI folds whitespace)."""
    monkeypatch.chdir(root)
    assert main(["db", "validate"], env={"GITHUB_ACTIONS": "true"}) == 1
    (line,) = capsys.readouterr().out.strip().splitlines()
    return line


def test_a_four_space_db_says_the_indentation_differs_and_draws_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    write(tmp_path, [entry("api")])
    db_file = tmp_path / "db" / "db.json"
    db_file.write_text(json.dumps(json.loads(db_file.read_text()), indent=4) + "\n")
    line = _one_line(tmp_path, monkeypatch, capsys)
    assert (
        "(line 2 is indented with 4 spaces, update-db indents it with 2 spaces "
        "('····\"schemaVersion\": 1,' vs '··\"schemaVersion\": 1,'; · is a space, → a tab))"
    ) in line


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda t: t.replace('\n  "schemaVersion"', '\n\t"schemaVersion"'),
            "line 2 is indented with 1 tab, update-db indents it with 2 spaces "
            "('→\"schemaVersion\": 1,' vs '··\"schemaVersion\": 1,'",
        ),
        (
            lambda t: t.replace('"schemaVersion": 1,\n', '"schemaVersion": 1,  \t\n'),
            "line 2 ends with 2 spaces, 1 tab, update-db writes nothing there "
            "('··\"schemaVersion\": 1,··→' vs '··\"schemaVersion\": 1,'",
        ),
        (lambda t: t.rstrip("\n"), "line 16 has no newline at its end, update-db writes one"),
    ],
)
def test_whitespace_differences_are_named_not_shown_as_two_equal_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], edit, expected
):
    from gitops_release.core.db import dump_db, load_db

    write(tmp_path, [entry("api")])
    db_file = tmp_path / "db" / "db.json"
    db_file.write_text(edit(dump_db(load_db(db_file.read_text()))))
    assert expected in _one_line(tmp_path, monkeypatch, capsys)


# -- symbolic links (review finding 4): db validate reads and writes only inside the checkout -------

# A valid db, but not in update-db's form (4-space indent): --rewrite would rewrite it.
OUTSIDE_DB = json.dumps({"schemaVersion": 1, "releases": [entry("secret")]}, indent=4) + "\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    out = tmp_path / "outside"
    (out / "db").mkdir(parents=True)
    (out / "db" / "db.json").write_text(OUTSIDE_DB)
    (out / "pol.yml").write_text("channels: [dev]\n")
    return out


def _snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    return {
        p.relative_to(directory).as_posix(): (p.read_text(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("rewrite", [False, True])
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
def test_a_symlink_along_a_path_is_refused_and_nothing_outside_changes(
    tmp_path: Path, outside: Path, link: str, target: str, expected: str, rewrite: bool
) -> None:
    from gitops_release.commands.base import Context

    # The review's reproduction: db validate called the outside db valid, --rewrite rewrote it.
    root = tmp_path / "repo"
    root.mkdir()
    if link != "db":
        write(root, [entry("api")])
    if link == "db/db.json":
        (root / "db" / "db.json").unlink()
    (root / link).symlink_to(outside / target)
    before = _snapshot(outside)
    with pytest.raises(ConfigError) as info:
        db_validate.run(db_validate.Inputs(rewrite=rewrite), Context.for_env({}, workdir=root))
    assert info.value.message == (
        expected.format(outside=outside)
        + "; gitops-release reads and writes only real files inside the checkout"
    )
    assert _snapshot(outside) == before


def test_a_link_that_stays_inside_the_checkout_is_refused_too(tmp_path: Path) -> None:
    write(tmp_path, [entry("api")])
    (tmp_path / "real.yml").write_text("channels: [dev]\n")
    (tmp_path / ".gitops-release.yml").symlink_to("real.yml")
    with pytest.raises(ConfigError, match=r"'\.gitops-release\.yml' is a symbolic link \(to 'real\.yml'\)"):
        run(tmp_path)


@pytest.mark.parametrize("db_path", ["../outside/db/db.json", "{outside}/db/db.json"])
def test_a_db_path_out_of_the_working_directory_is_refused(
    tmp_path: Path,
    outside: Path,
    db_path: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)
    before = _snapshot(outside)
    shown = db_path.format(outside=outside)
    assert main(["db", "validate", "--rewrite", "--db-path", shown], env={"GITHUB_ACTIONS": "true"}) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        f"::error title=Invalid configuration::db-path {shown} leads out of the checkout. "
        "Fix: give db-path as a path inside it, without '..'"
    )
    assert _snapshot(outside) == before
