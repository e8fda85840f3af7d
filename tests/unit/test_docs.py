"""Docs are part of done: every input and output of every command is documented on its page."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from gitops_release.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "dispatch-update": "docs/dispatch-update.md",
    "update-db": "docs/update-db.md",
    "db query": "docs/update-db.md",
    "db validate": "docs/update-db.md",
    "sandbox": "docs/sandbox.md",
}


def test_every_command_has_a_page():
    assert set(COMMANDS) == set(PAGES)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_input_is_documented(name):
    module = importlib.import_module(COMMANDS[name][0])
    text = (ROOT / PAGES[name]).read_text(encoding="utf-8")
    missing = [spec.name for spec in module.INPUTS if f"`{spec.name}`" not in text]
    assert not missing, f"{PAGES[name]} does not document inputs {missing} of {name}"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_output_is_documented(name):
    module = importlib.import_module(COMMANDS[name][0])
    source = Path(module.__file__).read_text(encoding="utf-8")
    body = source[source.index("def as_dict") :]
    body = body[: body.index("\n    def ", 1) if "\n    def " in body[1:] else len(body)]
    outputs = re.findall(r'"([a-z][a-z0-9-]*)":', body)
    assert outputs, f"no outputs found in {name}'s as_dict"
    text = (ROOT / PAGES[name]).read_text(encoding="utf-8")
    missing = [output for output in outputs if f"`{output}`" not in text]
    assert not missing, f"{PAGES[name]} does not document outputs {missing} of {name}"


def test_readme_starts_with_the_two_commands_and_links_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.splitlines()[3:5] == [
        "make demo   # the whole flow on the local sandbox: no account, no network",
        "make test   # venv, install, lint gates, unit, integration and act e2e tests",
    ]
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (ROOT / link).exists(), link


# -- docs name only what exists ---------------------------------------------------------------

_CLI_CALL = re.compile(r"(?<![\w/=.-])gitops-release ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")
_COMPOSITE = re.compile(r"gitops-release/actions/([a-z][a-z-]*)")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`]+)`")
PLANNED = re.compile(r"\bplanned\b", re.IGNORECASE)


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md")), ROOT / "action.yml"]
    files += sorted(ROOT.glob("actions/*/action.yml"))
    files += sorted(p for p in ROOT.glob("templates/**/*") if p.is_file())
    return files


def paragraphs(text: str) -> list[tuple[str, list[str]]]:
    """(paragraph, code in it): each fenced block is a paragraph of its own, all of it code; the
    rest is split at blank lines, its code is the `inline spans`."""
    found = [(block, [block]) for block in _FENCE.findall(text)]
    for paragraph in re.split(r"\n\s*\n", _FENCE.sub("", text)):
        found.append((paragraph, _INLINE.findall(paragraph)))
    return found


def is_command(first: str, second: str | None) -> bool:
    if first in COMMANDS or f"{first} {second}" in COMMANDS:
        return True
    return second is None and any(name.startswith(f"{first} ") for name in COMMANDS)  # `db --help`


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_run_only_commands_that_exist(path: Path) -> None:
    """`gitops-release <command>` in code names a registered command, or its paragraph says the
    command is planned (init and serve were offered as if they existed)."""
    bad = []
    for paragraph, code in paragraphs(path.read_text(encoding="utf-8")):
        for snippet in code:
            for call in _CLI_CALL.finditer(snippet):
                if not is_command(call.group(1), call.group(2)) and not PLANNED.search(paragraph):
                    bad.append(call.group(0))
    assert not bad, f"{path.relative_to(ROOT)} runs commands that do not exist (say 'planned'): {bad}"


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_name_only_composite_actions_that_exist(path: Path) -> None:
    existing = {p.parent.name for p in ROOT.glob("actions/*/action.yml")}
    bad = []
    for paragraph, _ in paragraphs(path.read_text(encoding="utf-8")):
        for name in _COMPOSITE.findall(paragraph):
            if name not in existing and not PLANNED.search(paragraph):
                bad.append(name)
    assert not bad, f"{path.relative_to(ROOT)} names composite actions that do not exist: {bad}"


def test_readme_says_which_commands_have_a_composite_action():
    """The README's "how to run them" table: a composite action where (and only where) one exists
    under actions/, every command in some column."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    header = next(line for line in lines if line.startswith("| |") and "`dispatch-update`" in line)
    row = next(line for line in lines if line.startswith("| composite action"))
    columns = [_INLINE.findall(cell) for cell in header.strip("|").split("|")[1:]]
    answers = [cell.strip() for cell in row.strip("|").split("|")[1:]]
    assert len(columns) == len(answers)
    assert sorted(name for names in columns for name in names) == sorted(COMMANDS)
    existing = {p.parent.name for p in ROOT.glob("actions/*/action.yml")}
    for names, answer in zip(columns, answers, strict=True):
        has_action = [name.replace(" ", "-") in existing for name in names]
        assert answer == ("yes" if all(has_action) else "—") and len(set(has_action)) == 1, (names, answer)
