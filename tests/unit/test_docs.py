"""Docs are part of done: every input and output of every command is documented on its page."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import shlex
from pathlib import Path

import pytest
import yaml

from gitops_release.commands import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "dispatch-update": "docs/dispatch-update.md",
    "update-db": "docs/update-db.md",
    "db query": "docs/update-db.md",
    "db validate": "docs/update-db.md",
    "sandbox": "docs/sandbox.md",
    "promote-overlay": "docs/promote-overlay.md",
    "overlays status": "docs/promote-overlay.md",
    "await-argocd-sync": "docs/await-argocd-sync.md",
    "report-status": "docs/report-status.md",
    "trace": "docs/trace.md",
    "serve": "docs/serve.md",
    "init config-repo": "docs/init.md",
    "init source-repo": "docs/init.md",
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
    # Where Outputs is defined: the init commands share commands/init.py's.
    source = Path(inspect.getsourcefile(module.Outputs) or module.__file__).read_text(encoding="utf-8")
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


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("rel", ["docs/getting-started.md", "docs/security.md", "README.md"])
def test_adoption_pages_link_only_to_files_and_sections_that_exist(rel: str) -> None:
    page = ROOT / rel
    for target in re.findall(r"\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{rel}: {target}"
        if anchor and linked.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.MULTILINE)
            assert anchor in {_slug(h) for h in headings}, f"{rel}: {target}"


def test_readme_starts_users_with_getting_started_and_init() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for link in ("docs/getting-started.md", "docs/init.md", "docs/argocd.md", "docs/argo-workflows.md"):
        assert f"]({link})" in text, link
    assert "Copy the workflows in" not in text


def test_security_covers_the_supply_chain_and_the_tokens() -> None:
    text = (ROOT / "docs/security.md").read_text(encoding="utf-8")
    supply = text[text.index("\n## Supply chain\n") :]
    for needle in ("--require-hashes", "make lock", "--check", "commit SHA", "sha256", "release.yml"):
        assert needle in supply, needle
    assert "\n## Tokens and GitHub App permissions\n" in text
    assert "authentication.md#permissions-per-command" in text


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


# -- payload mapping (dispatch-update.md) -----------------------------------------------------

_ATTRIBUTION = re.compile(
    r"([\w.-]+/[\w.-]+) @ ([0-9a-f]{8}),\s+`(\.github/workflows/[^`]+)`\s+\((MIT|Apache-2\.0)\)"
)
_USES_OUR_ACTION = re.compile(r"^(\s*)(?:- )?uses: gitops-release/gitops-release/actions/([a-z-]+)@\S+")


def test_dispatch_update_doc_maps_real_payload_shapes_onto_a_release():
    """Real senders nest the digest, send whole commit objects and matrices: the page says how to
    map such builds, with examples attributed to the workflow (repo @ commit, path, licence)."""
    text = (ROOT / "docs/dispatch-update.md").read_text(encoding="utf-8")
    start = text.index("\n## Mapping an existing build onto a release\n")
    section = text[start : text.index("\n## ", start + 1)]
    sources = {match.group(1) for match in _ATTRIBUTION.finditer(section)}
    assert len(sources) >= 2, f"attribute at least two examples (repo @ commit, path, licence): {sources}"
    for shape in ("matrix", "commit", "digest", '{"releases": [...]}'):
        assert shape in section, f"the mapping section does not cover {shape!r}"


@pytest.mark.parametrize("path", [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md"))], ids=lambda p: p.name)
def test_doc_examples_give_our_actions_only_inputs_they_declare(path):
    """Every `uses: gitops-release/gitops-release/actions/<name>@...` step in a code block of the
    docs passes only inputs that actions/<name>/action.yml declares, and every required one."""
    for block in _FENCE.findall(path.read_text(encoding="utf-8")):
        lines = block.splitlines()
        for index, line in enumerate(lines):
            uses = _USES_OUR_ACTION.match(line)
            if not uses:
                continue
            declared = yaml.safe_load((ROOT / "actions" / uses.group(2) / "action.yml").read_text())["inputs"]
            step_indent = len(uses.group(1)) + (2 if line.lstrip().startswith("- ") else 0)
            given: list[str] = []
            in_with, with_indent = False, 0
            for following in lines[index + 1 :]:
                indent = len(following) - len(following.lstrip())
                if (following.strip() and indent < step_indent) or following.lstrip().startswith("- "):
                    break
                if following.strip() == "with:":
                    in_with, with_indent = True, indent
                    continue
                key = re.match(r"^\s*([a-z][a-z0-9-]*):", following)
                if in_with and key and indent > with_indent:
                    given.append(key.group(1))
            unknown = sorted(set(given) - set(declared))
            assert not unknown, f"{path.name}: actions/{uses.group(2)} has no inputs {unknown}"
            required = sorted(n for n, spec in declared.items() if spec.get("required") and n not in given)
            assert not required, f"{path.name}: actions/{uses.group(2)} example lacks required {required}"


# -- one wording for the no-policy defaults (review finding 7) ----------------------------------

# Every file a user reads about running without a policy. The defaults accept any source and any
# image, so "safe defaults" (which update-db.md and the template said) contradicted security.md.
DEFAULTS_WORDING = (
    "docs/update-db.md",
    "docs/release-db.md",
    "docs/security.md",
    "templates/config-repo/.gitops-release.yml",
    "action.yml",
    "actions/update-db/action.yml",
    ".github/workflows/update-db.yml",
    "src/gitops_release/commands/update_db.py",
    "src/gitops_release/commands/db_validate.py",
)


@pytest.mark.parametrize("rel", DEFAULTS_WORDING)
def test_the_no_policy_defaults_are_never_called_safe(rel: str) -> None:
    text = " ".join((ROOT / rel).read_text(encoding="utf-8").split()).lower()
    assert "safe default" not in text, f"{rel}: the defaults accept any source and image"
    assert "permissive defaults" in text, f"{rel}: name the no-policy defaults 'permissive defaults'"


def test_every_page_describing_the_defaults_says_they_accept_any_image() -> None:
    for rel in ("docs/update-db.md", "docs/release-db.md", "templates/config-repo/.gitops-release.yml"):
        text = " ".join((ROOT / rel).read_text(encoding="utf-8").replace("#", " ").split())
        assert "any source repository, container and image" in text, rel


# -- the pages' init commands write a working pair of repositories (COMPLETE13 G12-1) -------------

# A template placeholder owner: org/config-repo, org/my-app, ghcr.io/org/… (my-org/… is the pages').
_PLACEHOLDER_OWNER = re.compile(r"(?<![\w-])org/")


@pytest.mark.parametrize("rel", ["docs/getting-started.md", "docs/init.md"])
def test_the_pages_init_commands_leave_no_placeholder_repository(
    rel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """getting-started.md's step 1 left --config-repository out: the Argo CD Applications read
    https://github.com/org/config.git while the source repo dispatched to my-org/my-config."""
    from gitops_release.cli import main

    calls = [  # the code lines (getting-started.md's block is indented in a list item)
        shlex.split(line.partition("#")[0])
        for line in (ROOT / rel).read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("gitops-release init ")
    ]
    assert {tuple(call[1:3]) for call in calls} == {("init", "config-repo"), ("init", "source-repo")}
    monkeypatch.chdir(tmp_path)
    for call in calls:
        capsys.readouterr()
        assert main(call[1:], env={"PATH": os.environ.get("PATH", "")}) == 0, call
        captured = capsys.readouterr()
        assert "warning:" not in captured.out + captured.err, call
    written = {p: p.read_text(encoding="utf-8") for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    left = sorted(
        str(p.relative_to(tmp_path)) for p, text in written.items() if _PLACEHOLDER_OWNER.search(text)
    )
    assert not left, f"{rel}: its init commands leave template placeholders in {left}"
    # The source repo dispatches to the repository the Argo CD Applications read.
    [dispatch_to] = re.findall(r"^ +repository: (\S+)$", "".join(
        text for p, text in written.items() if p.name == "update-release-channel.yml"
    ), re.MULTILINE)  # fmt: skip
    repo_urls = {m for text in written.values() for m in re.findall(r"repoURL: (\S+)", text)}
    assert repo_urls == {f"https://github.com/{dispatch_to}.git"}, (dispatch_to, repo_urls)


def test_readme_names_every_workflow_init_writes_and_the_demo_trace() -> None:
    """The README listed four of the config repo's six workflows (not the update-db one that
    receives every dispatch), and said make demo ends before its trace step."""
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    workflows = sorted(p.name for p in ROOT.glob("templates/*-repo/.github/workflows/*.yml"))
    assert len(workflows) > 6
    missing = [name for name in workflows if f"`{name}`" not in text]
    assert not missing, f"README.md does not name the workflows init writes: {missing}"
    demo = text[text.index("`make demo` runs") :]
    assert 'timeline.step("trace' in (ROOT / "src/gitops_release/sandbox/demo.py").read_text(encoding="utf-8")
    assert "a `trace` of the image it shipped" in demo[: demo.index("(docs/sandbox.md")]
