"""Every report-status step that docs/report-status.md shows, and the ones in the config-repo templates
(release-data-prep.yml, await-argocd-sync.yml), passes the command's input validation when it runs:
its ``with:`` values, ``${{ }}`` expressions worked out for a push and a pull request (and a
dispatch where the workflow has one), every job status its ``if:`` runs it in, with and without
the files the run leaves behind, go through ``Inputs.from_reader`` as the composite action passes
them (the action's defaults, then ``INPUT_<NAME>``). A documented example that fails its own
validation would leave a status pending, the risk the always-final pattern is there to remove.
The Argo Workflow example goes through the CLI's flags the same way.
"""

from __future__ import annotations

import itertools
import json
import re
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gitops_release import cli
from gitops_release.commands import report_status as rs
from gitops_release.errors import InputError
from gitops_release.runtime import InputReader
from tests.unit.commands.test_report_status import evidence

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs/report-status.md"
TEMPLATES = (
    ROOT / "templates/config-repo/.github/workflows/release-data-prep.yml",
    ROOT / "templates/config-repo/.github/workflows/await-argocd-sync.yml",
)
ACTION = ROOT / "actions/report-status/action.yml"
USES = re.compile(r"^gitops-release/gitops-release/actions/report-status@\S+$")
REPO = "org/app"
SHA = "1a2b3c4d" * 5
HEAD = "feedface" * 5
PR = 12
TOKEN = "ghs_docsExampleToken0123456789"
STATUS_FUNCTIONS = ("success", "failure", "cancelled", "always")


# -- GitHub's expression language, as much of it as the examples use ---------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+)|(?P<op>==|!=|&&|\|\||[!(),])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    found, index = [], 0
    while text[index:].strip():
        match = _TOKEN.match(text, index)
        assert match is not None, f"cannot read the expression {text!r} at {text[index:]!r}"
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match.group(kind)))
        index = match.end()
    return found


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "")


def _equal(left: Any, right: Any) -> bool:
    """GitHub compares strings ignoring case; null and '' are equal (both coerce to 0)."""
    left, right = ("" if left is None else left), ("" if right is None else right)
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    return bool(left == right)


class Expression:
    """Evaluates one expression against ``contexts`` (github, vars, job, env, ...)."""

    def __init__(self, text: str, contexts: Mapping[str, Any], functions: Mapping[str, Any]) -> None:
        self.items = _tokens(text)
        self.at = 0
        self.contexts, self.functions = contexts, functions

    def value(self) -> Any:
        result = self._or()
        assert self.at == len(self.items), f"unread: {self.items[self.at :]}"
        return result

    def _peek(self) -> str | None:
        return self.items[self.at][1] if self.at < len(self.items) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        item = self.items[self.at]
        assert expected is None or item[1] == expected, (item, expected)
        self.at += 1
        return item

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if _truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._compare()
        while self._peek() == "&&":
            self._take()
            right = self._compare()
            left = right if _truthy(left) else left
        return left

    def _compare(self) -> Any:
        left = self._unary()
        if self._peek() in ("==", "!="):
            op = self._take()[1]
            same = _equal(left, self._unary())
            return same if op == "==" else not same
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not _truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        kind, text = self._take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return int(text)
        if text == "(":
            inner = self._or()
            self._take(")")
            return inner
        assert kind == "name", text
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self._peek() == "(":
            self._take()
            args = []
            while self._peek() != ")":
                args.append(self._or())
                if self._peek() == ",":
                    self._take()
            self._take(")")
            assert text in self.functions, f"function {text}() is not modelled here"
            return self.functions[text](*args)
        head, *rest = text.split(".")
        assert head in self.contexts, f"context {head!r} is not modelled here"
        value: Any = self.contexts[head]
        for key in rest:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value


def _text(value: Any) -> str:
    """How GitHub turns a value into an input string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def interpolate(text: Any, contexts: Mapping[str, Any], functions: Mapping[str, Any]) -> str:
    if not isinstance(text, str):
        return _text(text)
    return re.sub(
        r"\$\{\{(.*?)\}\}", lambda m: _text(Expression(m.group(1), contexts, functions).value()), text
    )


def condition(text: Any, contexts: Mapping[str, Any], functions: Mapping[str, Any]) -> bool:
    """A job's or step's ``if:``; without a status function GitHub adds ``success() &&``."""
    if text is None:
        return bool(functions["success"]())
    if isinstance(text, bool):
        return text and bool(functions["success"]())
    expression = text.strip()
    if expression.startswith("${{") and expression.endswith("}}"):
        expression = expression[3:-2]
    result = _truthy(Expression(expression, contexts, functions).value())
    if not any(re.search(rf"\b{name}\s*\(", expression) for name in STATUS_FUNCTIONS):
        result = result and bool(functions["success"]())
    return result


# -- the examples ---------------------------------------------------------------------------------


def load_workflow(text: str) -> dict[str, Any] | None:
    """A workflow from a YAML block: a whole workflow, a ``jobs:`` map, or a list of steps (one job)."""
    data = yaml.safe_load(textwrap.dedent(text))
    if isinstance(data, list):
        return {"jobs": {"example": {"steps": data}}}
    if isinstance(data, dict) and "jobs" in data:
        if True in data:  # PyYAML reads the key `on:` as the boolean True
            data["on"] = data.pop(True)
        return data
    return None


def docs_blocks() -> list[str]:
    return re.findall(r"^```yaml\n(.*?)^```", DOCS.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)


def workflows() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for number, block in enumerate(docs_blocks(), 1):
        workflow = load_workflow(block)
        if workflow is not None:
            found.append((f"docs/report-status.md yaml block {number}", workflow))
    for path in TEMPLATES:
        workflow = load_workflow(path.read_text(encoding="utf-8"))
        assert workflow is not None, path
        found.append((str(path.relative_to(ROOT)), workflow))
    return found


def report_steps(
    workflow: Mapping[str, Any],
) -> Iterator[tuple[str, Mapping[str, Any], int, Mapping[str, Any]]]:
    for job_name, job in workflow["jobs"].items():
        for index, step in enumerate(job.get("steps", [])):
            if USES.match(str(step.get("uses", ""))):
                yield job_name, job, index, step


@dataclass(frozen=True)
class Event:
    name: str
    action: str | None = None


def events(workflow: Mapping[str, Any]) -> list[Event]:
    """The push / pull_request / workflow_dispatch runs the workflow has (both events when a
    fragment does not say)."""
    on = workflow.get("on") or {"push": None, "pull_request": None}
    on = {name: None for name in on} if isinstance(on, list) else ({on: None} if isinstance(on, str) else on)
    found = []
    if "push" in on:
        found.append(Event("push"))
    if "pull_request" in on:
        types = (on["pull_request"] or {}).get("types") or ["opened", "synchronize", "reopened"]
        found += [Event("pull_request", action) for action in types]
    if "workflow_dispatch" in on:
        found.append(Event("workflow_dispatch"))
    assert found, "the workflow runs on none of push, pull_request, workflow_dispatch"
    return found


def dispatch_inputs(workflow: Mapping[str, Any]) -> dict[str, Any]:
    on = workflow.get("on")
    specs = {}
    if isinstance(on, Mapping):
        for trigger in ("workflow_dispatch", "workflow_call"):
            specs.update(((on.get(trigger) or {}).get("inputs")) or {})
    return {name: spec.get("default", "") for name, spec in specs.items()}


def matrices(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    names = [name for name in matrix if name not in ("include", "exclude")]
    assert not set(matrix) - set(names), "include / exclude are not modelled here"
    return [
        dict(zip(names, values, strict=True)) for values in itertools.product(*(matrix[n] for n in names))
    ] or [{}]


def action_defaults() -> dict[str, str]:
    inputs = yaml.safe_load(ACTION.read_text(encoding="utf-8"))["inputs"]
    return {name: _text(spec.get("default", "")) for name, spec in inputs.items()}


@pytest.fixture(scope="module")
def app_private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode()


def workspace(tmp: Path, files: bool) -> None:
    """What a run leaves behind: the prep's results and await-argocd-sync's evidence (or nothing)."""
    rows = json.dumps([{"name": "schema", "result": "pass", "details": "12 files"}])
    for name in ("results.json", "release-data-prep-results.json"):
        (tmp / name).unlink(missing_ok=True)
        if files:
            (tmp / name).write_text(rows, encoding="utf-8")
    for name in (
        "argocd-evidence.json",
        "argocd-evidence-dev.json",
        "argocd-evidence-stage.json",
        "argocd-evidence-prod.json",
    ):
        (tmp / name).unlink(missing_ok=True)
        if files:
            (tmp / name).write_text(json.dumps(evidence(revision=SHA)), encoding="utf-8")


def scenarios(workflow: Mapping[str, Any]) -> Iterator[tuple[Event, str, bool, bool, bool]]:
    """(event, job status, files left behind, the first step's outputs known, repository variables set)."""
    for event in events(workflow):
        for job_status, files, outputs, variables in itertools.product(
            ("success", "failure", "cancelled"), (True, False), (True, False), (True, False)
        ):
            yield event, job_status, files, outputs, variables


def contexts_for(
    event: Event,
    job_status: str,
    outputs: bool,
    variables: bool,
    key: str,
    inputs: Mapping[str, Any],
    tmp: Path,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    github: dict[str, Any] = {
        "token": TOKEN,
        "repository": REPO,
        "event_name": event.name,
        "sha": SHA,
        "event": {},
    }
    runner = {
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_SHA": SHA,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_EVENT_NAME": event.name,
        "GITHUB_WORKSPACE": str(tmp),
    }
    if event.name == "pull_request":
        pull = {"number": PR, "head": {"sha": HEAD, "repo": {"full_name": REPO}}}
        github["event"] = {"action": event.action, "number": PR, "pull_request": pull}
        github["sha"] = "0badc0de" * 5  # the merge commit
        path = tmp / "event.json"
        path.write_text(json.dumps(github["event"]), encoding="utf-8")
        runner.update({"GITHUB_EVENT_PATH": str(path), "GITHUB_SHA": github["sha"]})
    contexts = {
        "github": github,
        "job": {"status": job_status},
        "vars": (
            {
                "APP_ID": "12345",
                "ARGOCD_SERVER": "argocd.example.org",
                "RELEASE_DATA_PREP_PREVIEW": "true",
                "RELEASE_DATA_PREP_COMMENT": "true",
                "RELEASE_DATA_PREP_COMMAND": "make prep",
            }
            if variables
            else {"APP_ID": "12345"}
        ),
        "secrets": {"APP_PRIVATE_KEY": key, "ARGOCD_TOKEN": "argocd-token"},
        "steps": {"start": {"outputs": {"deployment-id": "1234" if outputs else ""}}},
        "inputs": dict(inputs),
        "matrix": {},
        "env": {},
    }

    def hash_files(*patterns: str) -> str:
        return "d41d8cd9" if any((tmp / p).is_file() for p in patterns) else ""

    functions = {
        "success": lambda: job_status == "success",
        "failure": lambda: job_status == "failure",
        "cancelled": lambda: job_status == "cancelled",
        "always": lambda: True,
        "hashFiles": hash_files,
        "format": lambda text, *args: re.sub(r"\{(\d+)\}", lambda m: _text(args[int(m.group(1))]), text),
    }
    return contexts, functions, runner


def validate_every_step(source: str, workflow: Mapping[str, Any], tmp: Path, key: str) -> int:
    """Runs every report-status step of ``workflow`` through ``Inputs.from_reader`` in every scenario
    it runs in; returns how many (step, scenario) pairs ran."""
    defaults = action_defaults()
    ran = 0
    for event, job_status, files, outputs, variables in scenarios(workflow):
        workspace(tmp, files)
        contexts, functions, runner = contexts_for(
            event, job_status, outputs, variables, key, dispatch_inputs(workflow), tmp
        )
        for job_name, job, index, step in report_steps(workflow):
            if "if" in job and not condition(job["if"], contexts, {**functions, "success": lambda: True}):
                continue
            for matrix in matrices(job):
                contexts["matrix"] = matrix
                contexts["env"] = {
                    name: interpolate(value, contexts, functions)
                    for name, value in {**(workflow.get("env") or {}), **(job.get("env") or {})}.items()
                }
                if not condition(step.get("if"), contexts, functions):
                    continue
                given = dict(step.get("with") or {})
                where = (
                    f"{source}: job {job_name!r} step {index + 1} ({step.get('name') or step.get('id')}) "
                    f"on {event.name} {event.action or ''}, job.status {job_status}, files {files}, "
                    f"the first step's outputs {outputs}, variables {variables}, matrix {matrix}"
                )
                unknown = sorted(set(given) - set(defaults))
                if unknown:
                    pytest.fail(f"{where}: not inputs of the action (GitHub ignores them): {unknown}")
                values = {**defaults, **{k: interpolate(v, contexts, functions) for k, v in given.items()}}
                env = {**runner, **{f"INPUT_{name.upper()}": value for name, value in values.items()}}
                try:
                    got = rs.Inputs.from_reader(InputReader(env=env), tmp)
                except InputError as error:
                    pytest.fail(f"{where}: input validation fails: {error.message} (fix: {error.fix})")
                if files:
                    assert got.problem is None, f"{where}: {got.problem}"
                ran += 1
    return ran


@pytest.mark.parametrize(("source", "workflow"), workflows(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_report_status_step_passes_input_validation(
    tmp_path: Path, app_private_key: str, source: str, workflow: dict[str, Any]
) -> None:
    assert list(report_steps(workflow)), f"{source} has no report-status step"
    assert validate_every_step(source, workflow, tmp_path, app_private_key) > 0, f"{source}: no step ran"


def test_the_docs_examples_are_all_found() -> None:
    """The collector sees every report-status step the page shows (a block it cannot read would
    otherwise be silently skipped)."""
    text = DOCS.read_text(encoding="utf-8")
    shown = len(re.findall(r"uses: gitops-release/gitops-release/actions/report-status@", text))
    found = sum(
        len(list(report_steps(workflow))) for source, workflow in workflows() if source.startswith("docs/")
    )
    assert found == shown >= 10


def test_a_step_that_fails_validation_is_caught(tmp_path: Path, app_private_key: str) -> None:
    """The check itself: a step that passes in every scenario is run in all of them; a step that
    refuses its inputs on a push, or names an input the action does not have, fails the test."""
    good = load_workflow(
        """
        - if: always()
          uses: gitops-release/gitops-release/actions/report-status@v1
          with:
            token: ${{ github.token }}
            job-status: ${{ job.status }}
            preview: ${{ github.event_name == 'pull_request' }}
        """
    )
    assert good is not None
    assert validate_every_step("good", good, tmp_path, app_private_key) == 2 * 3 * 2 * 2 * 2 * 2
    for bad_with in ("preview: true", "deployment-state: done", "statuses: success"):
        bad = load_workflow(
            f"""
            - uses: gitops-release/gitops-release/actions/report-status@v1
              with:
                token: ${{{{ github.token }}}}
                state: pending
                {bad_with}
            """
        )
        assert bad is not None
        with pytest.raises(pytest.fail.Exception) as caught:
            validate_every_step("bad", bad, tmp_path, app_private_key)
        assert "on push" in str(caught.value), caught.value


@pytest.mark.parametrize(
    ("status", "state"), [("Succeeded", "success"), ("Failed", "failure"), ("Error", "error")]
)
def test_the_argo_workflow_example_passes_its_flags_and_keeps_the_token_out_of_them(
    status: str, state: str
) -> None:
    [workflow] = [
        data
        for data in (yaml.safe_load(textwrap.dedent(block)) for block in docs_blocks())
        if isinstance(data, dict) and data.get("kind") == "Workflow"
    ]
    by_name = {template["name"]: template for template in workflow["spec"]["templates"]}
    container = by_name[workflow["spec"]["onExit"]]["container"]
    assert container["command"] == ["gitops-release", "report-status"]
    values = {
        "workflow.status": status,
        "workflow.parameters.sha": SHA,
        "workflow.namespace": "argo",
        "workflow.name": "release-data-prep-x7k2q",
    }
    args = [
        re.sub(r"\{\{([^}]*)\}\}", lambda m: values[m.group(1).strip()], arg) for arg in container["args"]
    ]
    secret_flags = [a for a in args if a.split("=")[0] in ("--token", "--app-private-key")]
    assert not secret_flags, "a token in argv shows in the pod spec and the process list"
    env = {
        item["name"]: "from-the-secret" for item in container["env"] if "secretKeyRef" in item["valueFrom"]
    }
    assert "INPUT_TOKEN" in env
    namespace = cli._build_parser("report-status", rs).parse_args(args)
    flags = {k: v for k, v in vars(namespace).items() if k != "json" and v is not None}
    got = rs.Inputs.from_reader(InputReader(env=env, flags=flags))  # outside Actions: no GITHUB_*
    assert (got.state, got.sha, got.repository) == (state, SHA, "org/app")
    assert got.target_url == "https://argo.example.org/workflows/argo/release-data-prep-x7k2q"


def test_the_comment_the_docs_show_is_what_the_command_renders() -> None:
    """docs/report-status.md "Pull request comment" shows the body byte for byte: no time in it, so
    a re-run with nothing changed renders the same text and edits nothing."""
    [shown] = re.findall(
        r"^```markdown\n(.*?)^```", DOCS.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE
    )
    run = "https://github.com/org/app/actions/runs/1"
    rendered = rs.rules.render_comment(
        context="release-data-prep/pr",
        state="success",
        sha="1a2b3c4" + "0" * 33,
        description="Release data prepared",
        target_url=run,
        results=(rs.rules.ResultRow("schema", "pass", "12 files", None),),
        repository="org/app",
        run_url=run,
    )
    assert shown.rstrip("\n") == rendered.rstrip("\n")
