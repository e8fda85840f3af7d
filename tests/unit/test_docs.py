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
