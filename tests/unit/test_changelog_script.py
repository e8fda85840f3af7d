"""scripts/changelog.py: one version's section of CHANGELOG.md, the notes of its GitHub release."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "changelog.py"

SAMPLE = """\
# Changelog

Intro text that belongs to no release.

## [Unreleased]

- not released yet

## [0.1.10] - 2026-12-30

### Fixed

- ten

## [0.1.1] - 2026-12-20

- one

## [v0.1.0] - 2026-12-08

First release.

- zero

[0.1.10]: https://example.org/compare/v0.1.1...v0.1.10
[0.1.1]: https://example.org/compare/v0.1.0...v0.1.1
"""


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("changelog_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


changelog = load()


def run(tmp_path: Path, *args: str, text: str | None = SAMPLE) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "CHANGELOG.md"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), *args, "--file", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": os.environ["PATH"]},
    )


def test_a_version_that_is_a_prefix_of_another_gets_only_its_own_section() -> None:
    assert changelog.section(SAMPLE, "0.1.1") == "- one\n"
    assert changelog.section(SAMPLE, "0.1.10") == "### Fixed\n\n- ten\n"


def test_the_last_section_ends_before_the_link_definitions() -> None:
    assert changelog.section(SAMPLE, "0.1.0") == "First release.\n\n- zero\n"


def test_a_missing_section_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    done = run(tmp_path, "0.2.0")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("changelog: CHANGELOG.md has no section for 0.2.0. Fix: add '## [0.2.0] - ")


def test_the_tag_name_is_accepted_and_the_notes_go_to_stdout(tmp_path: Path) -> None:
    done = run(tmp_path, "v0.1.1")
    assert (done.returncode, done.stdout, done.stderr) == (0, "- one\n", "")


@pytest.mark.parametrize("version", ["1", "1.2", "1.2.3-rc1", "01.2.3", "1.2.3;id", "Unreleased", ""])
def test_a_version_that_is_not_x_y_z_is_refused(tmp_path: Path, version: str) -> None:
    done = run(tmp_path, version)
    assert done.returncode == 1 and done.stdout == ""
    assert re.fullmatch(r"changelog: version '.*' is not X\.Y\.Z\. Fix: .*\n", done.stderr)


def test_an_empty_or_duplicated_section_is_refused() -> None:
    with pytest.raises(changelog.ChangelogError, match=r"section for 0\.3\.0 is empty"):
        changelog.section("## [0.3.0] - 2027-01-01\n\n[0.3.0]: https://x\n", "0.3.0")
    with pytest.raises(changelog.ChangelogError, match=r"2 sections for 0\.3\.0"):
        changelog.section("## [0.3.0]\n- a\n## [0.3.0]\n- b\n", "0.3.0")


def test_crlf_line_ends_are_read_as_lines() -> None:
    assert changelog.section(SAMPLE.replace("\n", "\r\n"), "0.1.1") == "- one\n"


def test_a_symlinked_missing_or_huge_changelog_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    outside.write_text(SAMPLE, encoding="utf-8")
    (tmp_path / "CHANGELOG.md").symlink_to(outside)
    done = run(tmp_path, "0.1.1", text=None)
    assert done.returncode == 1 and "is not a regular file" in done.stderr and done.stdout == ""
    (tmp_path / "CHANGELOG.md").unlink()
    done = run(tmp_path, "0.1.1", text=None)
    assert done.returncode == 1 and done.stderr.startswith("changelog: cannot read ")
    done = run(tmp_path, "0.1.1", text="## [0.1.1]\n" + "x" * changelog.MAX_BYTES)
    assert done.returncode == 1 and "is larger than" in done.stderr


def test_the_package_version_has_a_changelog_section() -> None:
    # So a release cannot forget its notes: release.yml refuses a tag without them, this test
    # refuses the version bump without them.
    init = (ROOT / "src/gitops_release/__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', init, re.MULTILINE)
    assert match
    notes = changelog.section(changelog.read_changelog(ROOT / "CHANGELOG.md"), match.group(1))
    assert notes.strip()


def test_the_changelog_keeps_an_unreleased_section_on_top() -> None:
    headings = re.findall(
        r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.MULTILINE
    )
    assert headings[0] == "Unreleased"
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", h) for h in headings[1:]), headings


def test_the_version_notes_say_what_ships() -> None:
    """COMPLETE13 G12-2: the 0.1.0 notes left out trace and claimed ENTRYPOINT ["gitops-release"]."""
    from gitops_release.commands import COMMANDS

    init = (ROOT / "src/gitops_release/__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', init, re.MULTILINE)
    assert match
    notes = " ".join(
        changelog.section(changelog.read_changelog(ROOT / "CHANGELOG.md"), match.group(1)).split()
    )
    missing = [name for name in COMMANDS if f"`{name}`" not in notes]
    assert not missing, f"the notes do not name the commands {missing}"
    actions_line = next(line for line in notes.split(" - ") if line.startswith("Composite actions"))
    missing = [
        p.parent.name for p in ROOT.glob("actions/*/action.yml") if f"{p.parent.name}`" not in actions_line
    ]
    assert not missing, f"the notes do not name the composite actions {missing}"
    [entrypoint] = re.findall(
        r"^ENTRYPOINT (\[.*\])$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.M
    )
    assert re.findall(r"ENTRYPOINT (\[[^\]]*\])", notes) == [entrypoint]
