"""The action.yml files agree with the command modules, and scripts/action-run.sh picks the right Python.

Generic over actions/*/action.yml, so actions added later are covered without editing this file:
each composite action is named after its command (``actions/db-query`` -> ``db query``), passes
inputs only through ``env:`` as ``INPUT_<NAME>``, forwards every declared input, and declares only
(and all) inputs the command module's ``INPUTS`` knows.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_release.commands import COMMANDS
from gitops_release.runtime import InputSpec, output_text

ROOT = Path(__file__).resolve().parents[2]
COMPOSITE_ACTIONS = sorted(ROOT.glob("actions/*/action.yml"))
TEST_ACTIONS = sorted(ROOT.glob("tests/e2e/actions/*/action.yml"))
ACTION_RUN = ROOT / "scripts" / "action-run.sh"
# Commands that are not workflow steps (servers, scaffolding): no action exposes them.
NOT_STEPS = {"sandbox", "serve", "init config-repo", "init source-repo"}
_INPUT_REF = re.compile(r"^\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}$")
_STEP_OUTPUT_REF = re.compile(r"^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def command_of(action: Path) -> str:
    """actions/<dir>/action.yml -> the registered command (``db-query`` -> ``db query``)."""
    directory = action.parent.name
    for name in COMMANDS:
        if name.replace(" ", "-") == directory:
            return name
    raise AssertionError(f"{action.relative_to(ROOT)}: no command '{directory}' in gitops_release.commands")


def specs_of(command: str) -> dict[str, InputSpec]:
    module = importlib.import_module(COMMANDS[command][0])
    return {spec.name: spec for spec in module.INPUTS}


def env_names(name: str) -> set[str]:
    upper = name.upper()
    return {f"INPUT_{upper}", f"INPUT_{upper.replace('-', '_')}"}


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# -- every composite action (real ones and the e2e test action) ---------------------------------


@pytest.mark.parametrize("action", COMPOSITE_ACTIONS + TEST_ACTIONS, ids=rel)
def test_composite_action_passes_inputs_only_through_env(action: Path) -> None:
    data = load(action)
    assert data["runs"]["using"] == "composite"
    inputs = data.get("inputs") or {}
    steps = data["runs"]["steps"]
    forwarded: dict[str, str] = {}
    step_ids = set()
    for step in steps:
        step_ids.add(step.get("id"))
        if "run" not in step:
            continue
        assert step.get("shell") == "bash", f"{rel(action)}: a run step needs shell: bash"
        assert "${{" not in step["run"], f"{rel(action)}: expression inside run: {step['run']!r}"
        for key, value in (step.get("env") or {}).items():
            match = _INPUT_REF.match(str(value).strip())
            if match:
                assert key in env_names(match.group(1)), (
                    f"{rel(action)}: {key} carries inputs.{match.group(1)}"
                )
                forwarded[match.group(1)] = key
    missing = sorted(set(inputs) - set(forwarded))
    assert not missing, f"{rel(action)}: inputs not forwarded as INPUT_<NAME> env: {missing}"
    for name, output in (data.get("outputs") or {}).items():
        match = _STEP_OUTPUT_REF.match(str(output.get("value", "")).strip())
        assert match, f"{rel(action)}: output {name} must be ${{{{ steps.<id>.outputs.<name> }}}}"
        assert match.group(1) in step_ids, f"{rel(action)}: output {name} reads unknown step {match.group(1)}"


# -- the real composite actions match their command -------------------------------------------


@pytest.mark.parametrize("action", COMPOSITE_ACTIONS, ids=rel)
def test_composite_action_runs_its_command_through_action_run(action: Path) -> None:
    command = command_of(action)
    steps = load(action)["runs"]["steps"]
    run_steps = [step for step in steps if "run" in step]
    assert len(run_steps) == 1, f"{rel(action)}: exactly one run step (action-run.sh)"
    step = run_steps[0]
    assert step["env"]["GITOPS_RELEASE_ROOT"] == "${{ github.action_path }}/../.."
    expected = f'bash "$GITOPS_RELEASE_ROOT/scripts/action-run.sh" {command}'
    assert step["run"].strip() == expected


def test_report_status_runs_its_command_also_in_a_failed_or_cancelled_job() -> None:
    """The calling step's `if: always()` decides; the inner step's default success() would be
    skipped in a cancelled job under act (found by the e2e), leaving the status pending."""
    [step] = load(ROOT / "actions/report-status/action.yml")["runs"]["steps"]
    assert step["if"] == "${{ always() }}"


@pytest.mark.parametrize("action", COMPOSITE_ACTIONS, ids=rel)
def test_composite_action_inputs_are_exactly_the_command_inputs(action: Path) -> None:
    command = command_of(action)
    specs = specs_of(command)
    inputs = load(action).get("inputs") or {}
    unknown = sorted(set(inputs) - set(specs))
    assert not unknown, f"{rel(action)}: inputs with no InputSpec in {COMMANDS[command][0]}: {unknown}"
    undeclared = sorted(set(specs) - set(inputs))
    assert not undeclared, f"{rel(action)}: InputSpecs of {command} missing from the action: {undeclared}"
    for name, spec in specs.items():
        declared = inputs[name]
        assert "description" in declared, f"{rel(action)}: input {name} has no description"
        if spec.required:
            assert declared.get("required") is True, f"{rel(action)}: input {name} is required by {command}"
        default = str(declared.get("default", ""))
        if default:
            assert default == output_text(spec.default), (
                f"{rel(action)}: input {name} default {default!r} differs from the command's "
                f"{output_text(spec.default)!r} (leave it empty to use the command's default)"
            )


# -- the root Docker action -------------------------------------------------------------------


def step_commands() -> list[str]:
    return [name for name in COMMANDS if name not in NOT_STEPS]


def test_root_action_is_a_docker_action_whose_command_input_picks_the_entrypoint() -> None:
    data = load(ROOT / "action.yml")
    assert data["runs"] == {"using": "docker", "image": "Dockerfile", "args": ["${{ inputs.command }}"]}
    command = data["inputs"]["command"]
    assert command["required"] is True
    for name in step_commands():
        assert name in command["description"], f"action.yml: command input does not list '{name}'"
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    # Isolated: nothing in the mounted workspace is importable (integration/test_action_run_safe_path.py).
    assert 'ENTRYPOINT ["python3", "-I", "-u", "-m", "gitops_release"]' in dockerfile
    assert re.search(r"^FROM python:3\.12-slim@sha256:[0-9a-f]{64}$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER (?!0\b|root\b)\S+$", dockerfile, re.MULTILINE), "the image must not run as root"


def test_root_action_inputs_are_the_union_of_the_step_commands_inputs() -> None:
    inputs = dict(load(ROOT / "action.yml")["inputs"])
    inputs.pop("command")
    union: dict[str, list[str]] = {}
    for name in step_commands():
        for spec_name in specs_of(name):
            union.setdefault(spec_name, []).append(name)
    unknown = sorted(set(inputs) - set(union))
    assert not unknown, f"action.yml: inputs no step command knows: {unknown}"
    missing = sorted(set(union) - set(inputs))
    assert not missing, f'action.yml: add these inputs (default "") so the Docker action has them: {missing}'
    for name, declared in inputs.items():
        # Commands differ in defaults and in what is required: the action leaves both to them.
        assert declared.get("required") is False and declared.get("default") == "", f"action.yml: {name}"


# -- scripts/action-run.sh --------------------------------------------------------------------

FAKE_PYTHON = """#!/usr/bin/env bash
# Records how it was called; plays venv, pip and gitops_release well enough for action-run.sh.
echo "$0 $* PYTHONPATH=${PYTHONPATH:-}" >> "$CALLS"
if [ "$1 $2 $3 $4" = "-I -m venv --without-pip" ]; then mkdir -p "$5/bin"; cp "$0" "$5/bin/python"; fi
exit 0
"""
# No uv on this PATH: the fake Python's pip "installs" uv without making it, so pip is the installer.
PATH_WITHOUT_UV = "/usr/bin:/bin"


def run_action(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_RELEASE_", "INPUT_", "RUNNER_"))}
    base["CALLS"] = str(tmp_path / "calls")
    base["PATH"] = PATH_WITHOUT_UV
    assert shutil.which("uv", path=PATH_WITHOUT_UV) is None
    return subprocess.run(
        ["bash", str(ACTION_RUN), *args], env={**base, **env}, capture_output=True, text=True, check=False
    )


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    path = tmp_path / "fake-python"
    path.write_text(FAKE_PYTHON, encoding="utf-8")
    path.chmod(0o755)
    return path


def calls(tmp_path: Path) -> list[str]:
    file = tmp_path / "calls"
    return file.read_text(encoding="utf-8").splitlines() if file.exists() else []


def test_action_run_uses_gitops_release_python_when_set(tmp_path: Path) -> None:
    done = run_action(
        tmp_path, "update-db", "--help", GITOPS_RELEASE_ROOT=str(ROOT), GITOPS_RELEASE_PYTHON=sys.executable
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("usage: gitops-release update-db")


def test_action_run_dispatch_update_runs_from_src_without_installing(
    tmp_path: Path, fake_python: Path
) -> None:
    done = run_action(
        tmp_path,
        "dispatch-update",
        "--json",
        GITOPS_RELEASE_ROOT=str(ROOT / "actions" / ".."),
        GITOPS_RELEASE_BOOTSTRAP_PYTHON=str(fake_python),
        RUNNER_TEMP=str(tmp_path / "runner-temp"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # -I: neither the working directory (the user's checkout) nor PYTHONPATH is on sys.path; the
    # bootstrap puts src/ there. The environment is passed on as it was (PYTHONPATH not set).
    bootstrap = (
        "import sys; sys.path.insert(0, sys.argv.pop(1)); "
        "from gitops_release.cli import main; sys.exit(main())"
    )
    assert calls(tmp_path) == [
        f"{fake_python} -I -S -B -c {bootstrap} {ROOT}/src dispatch-update --json PYTHONPATH="
    ]
    assert not (tmp_path / "runner-temp").exists()


def test_action_run_installs_into_a_venv_once_and_reinstalls_for_another_checkout(
    tmp_path: Path, fake_python: Path
) -> None:
    env = {"GITOPS_RELEASE_BOOTSTRAP_PYTHON": str(fake_python), "RUNNER_TEMP": str(tmp_path / "rt")}
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "src/gitops_release/__init__.py").read_text())
    assert version
    venv_python = tmp_path / "rt" / f"gitops-release-venv-{version.group(1)}" / "bin" / "python"

    for _ in range(2):
        done = run_action(tmp_path, "update-db", GITOPS_RELEASE_ROOT=str(ROOT), **env)
        assert done.returncode == 0, done.stdout + done.stderr
    first = calls(tmp_path)
    venv = venv_python.parent.parent
    pip = f"{venv_python} -I -m pip install --quiet --disable-pip-version-check --no-input"

    def fetch_uv(root: Path) -> str:
        return (
            f"{fake_python} -I -S -B {root}/scripts/uv_fetch.py {root}/requirements/uv-bootstrap.lock "
            f"{venv}/.uv/bin/uv"
        )

    def bootstrap_uv(root: Path) -> str:
        return (
            f"{fake_python} -I -m pip install --quiet --disable-pip-version-check --no-input --no-deps "
            f"--require-hashes --only-binary :all: --target {venv}/.uv "
            f"-r {root}/requirements/uv-bootstrap.lock"
        )

    assert [line.split(" PYTHONPATH=")[0] for line in first] == [
        f"{fake_python} -I -m venv --without-pip {venv}",
        fetch_uv(ROOT),  # the fake fetch makes no uv: pip bootstraps it (and makes none either)
        bootstrap_uv(ROOT),
        f"{venv_python} -I -m pip --version",
        f"{pip} --require-hashes -r {ROOT}/requirements/runtime.lock",
        f"{pip} --no-deps --no-index --no-build-isolation --force-reinstall {ROOT}",
        f"{venv_python} -I -m gitops_release update-db",
        f"{venv_python} -I -m gitops_release update-db",
    ]

    # Another checkout of the same version and the same lock: only the package is reinstalled.
    other = tmp_path / "other-checkout"
    (other / "src" / "gitops_release").mkdir(parents=True)
    (other / "src" / "gitops_release" / "__init__.py").write_text(f'__version__ = "{version.group(1)}"\n')
    shutil.copytree(ROOT / "requirements", other / "requirements")
    done = run_action(tmp_path, "db", "query", GITOPS_RELEASE_ROOT=str(other), **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split(" PYTHONPATH=")[0] for line in calls(tmp_path)[len(first) :]] == [
        fetch_uv(other),
        bootstrap_uv(other),
        f"{venv_python} -I -m pip --version",
        f"{pip} --no-deps --no-index --no-build-isolation --force-reinstall {other}",
        f"{venv_python} -I -m gitops_release db query",
    ]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "GITOPS_RELEASE_ROOT is not set"),
        ({"GITOPS_RELEASE_ROOT": "/nonexistent/gitops-release"}, "does not contain src/gitops_release"),
        (
            {"GITOPS_RELEASE_ROOT": str(ROOT), "GITOPS_RELEASE_BOOTSTRAP_PYTHON": "no-such-python3"},
            "'no-such-python3' was not found on PATH",
        ),
    ],
)
def test_action_run_setup_errors_are_one_error_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], needle: str
) -> None:
    done = run_action(tmp_path, "update-db", **env)
    assert done.returncode == 2
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("::error title=gitops-release action setup::")
    assert needle in lines[0] and "Fix:" in lines[0]
    assert calls(tmp_path) == []


# -- the templates users copy -----------------------------------------------------------------

SOURCE_TEMPLATE = ROOT / "templates/source-repo/.github/workflows/update-release-channel.yml"
CONFIG_TEMPLATES = ROOT / "templates/config-repo"
_NEEDS_OUTPUT_REF = re.compile(r"^\$\{\{\s*needs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$")


def template_workflows() -> list[Path]:
    return sorted(ROOT.glob("templates/*/.github/workflows/*.yml"))


def test_source_template_sends_the_digest_its_build_step_pushed() -> None:
    """The config template's policy requires a digest for prod, where v* tags go: the source
    template must send the digest the push produced, or the first v* tag is refused."""
    policy = yaml.safe_load((CONFIG_TEMPLATES / ".gitops-release.yml").read_text(encoding="utf-8"))
    assert "prod" in policy["tags"]["requireDigest"], "the premise changed: re-check this test"
    workflow = load(SOURCE_TEMPLATE)
    jobs = workflow["jobs"]
    [dispatch] = [
        step
        for job in jobs.values()
        for step in job.get("steps", [])
        if "actions/dispatch-update@" in str(step.get("uses", ""))
    ]
    digest = _NEEDS_OUTPUT_REF.match(str(dispatch["with"].get("digest", "")).strip())
    assert digest, (
        f"the dispatch must send digest: ${{{{ needs.<job>.outputs.<name> }}}}, not {dispatch['with']}"
    )
    job = jobs[digest.group(1)]
    step_output = _STEP_OUTPUT_REF.match(str(job["outputs"][digest.group(2)]).strip())
    assert step_output, f"job {digest.group(1)}: output {digest.group(2)} must come from a step"
    [build] = [step for step in job["steps"] if step.get("id") == step_output.group(1)]
    assert str(build.get("uses", "")).startswith("docker/build-push-action@"), build
    assert re.fullmatch(r"docker/build-push-action@[0-9a-f]{40}", build["uses"]), "pin it by commit SHA"
    assert step_output.group(2) == "digest"
    assert build["with"].get("push") is True, "the digest must name a pushed image"
    assert "digest" in SOURCE_TEMPLATE.read_text(encoding="utf-8").split("\nname:")[0], (
        "the header comment must say that the dispatch carries the digest and why"
    )


# Templates whose runs write one promotion branch per target environment: a group per target
# keeps them tidy (one at a time), and promote-overlay is correct without it.
PROMOTION_TEMPLATES = {"promote.yml", "auto-promote.yml"}
# Jobs that queue (never cancel) per pull request: their runs share one summary comment, found by
# listing then created, so two at once would create two. A replaced pending run is for an older
# head of the same pull request, superseded by the newer one.
PULL_REQUEST_QUEUES = {("release-data-prep.yml", "pull-request"): "release-data-prep-pr-"}


@pytest.mark.parametrize("workflow", template_workflows(), ids=rel)
def test_templates_have_no_concurrency_group_they_rely_on(workflow: Path) -> None:
    """GitHub keeps one pending run per group and cancels the others (docs/update-db.md): a group
    would silently drop builds or releases. Release templates have none; the promotion templates
    may queue per target environment, never cancelling a running promotion, and must say that
    correctness does not depend on it (a replaced pending promotion is superseded anyway)."""
    data = load(workflow)
    text = workflow.read_text(encoding="utf-8")
    for name, job in data["jobs"].items():
        prefix = PULL_REQUEST_QUEUES.get((workflow.name, name))
        if prefix is not None:
            assert job["concurrency"] == {
                "group": prefix + "${{ github.event.pull_request.number }}",
                "cancel-in-progress": False,
            }, f"{rel(workflow)}: job {name} queues per pull request, never cancelling"
            continue
        assert "concurrency" not in job, f"{rel(workflow)}: job {name} has a concurrency group"
    if workflow.name not in PROMOTION_TEMPLATES:
        assert "concurrency" not in data, f"{rel(workflow)}: workflow-level concurrency group"
        assert "No concurrency group, on purpose" in text, (
            f"{rel(workflow)}: say why there is no group, so nobody adds one back"
        )
        return
    group = data["concurrency"]
    assert group["cancel-in-progress"] is False, f"{rel(workflow)}: never cancel a running promotion"
    assert str(group["group"]).startswith("promote-"), f"{rel(workflow)}: one group per target env"
    assert "not correctness" in text, f"{rel(workflow)}: say that correctness does not rely on the group"


ENV_RECORDING_PYTHON = """#!/usr/bin/env bash
# Records the PYTHON* variables each call sees; plays venv and pip well enough for action-run.sh.
{ printf '%s' "$*" | cut -c1-10; env | grep '^PYTHON' | sort; echo --; } >> "$CALLS"
if [ "$1 $2 $3 $4" = "-I -m venv --without-pip" ]; then mkdir -p "$5/bin"; cp "$0" "$5/bin/python"; fi
exit 0
"""


@pytest.mark.parametrize("command", ["dispatch-update", "update-db", "gitops-release-python"])
def test_action_run_hands_the_environment_on_unchanged(tmp_path: Path, command: str) -> None:
    """-I, not exported variables, keeps the checkout off sys.path: the command sees the step's
    PYTHON* variables as they were (no PYTHONSAFEPATH, no rewritten PYTHONPATH), and pip, which
    starts more Pythons that are not isolated, sees none."""
    fake = tmp_path / "fake-python"
    fake.write_text(ENV_RECORDING_PYTHON, encoding="utf-8")
    fake.chmod(0o755)
    env = {"GITOPS_RELEASE_ROOT": str(ROOT), "RUNNER_TEMP": str(tmp_path / "rt"), "PYTHONPATH": "/user/lib"}
    if command == "gitops-release-python":
        env["GITOPS_RELEASE_PYTHON"] = str(fake)
    else:
        env["GITOPS_RELEASE_BOOTSTRAP_PYTHON"] = str(fake)
    env.update(PATH=PATH_WITHOUT_UV, CALLS=str(tmp_path / "calls"))  # nothing else
    argv = ["bash", str(ACTION_RUN), "update-db" if command == "gitops-release-python" else command]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    records = (tmp_path / "calls").read_text(encoding="utf-8").split("--\n")[:-1]
    seen = {lines[0]: lines[1:] for lines in (record.splitlines() for record in records)}
    command_call = records[-1].splitlines()
    assert command_call[1:] == ["PYTHONPATH=/user/lib"], seen
    pip_calls = [rest for first, rest in seen.items() if first.startswith("-I -m pip")]
    assert pip_calls == ([[]] if command == "update-db" else []), seen
