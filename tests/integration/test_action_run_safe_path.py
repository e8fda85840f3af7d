"""Nothing in the user's checkout is importable by the actions' Python (issue 7, item 5).

Composite actions run scripts/action-run.sh with the working directory set to the user's checkout.
``python -m`` and ``python -c`` put that directory first on sys.path, so a ``json.py`` there ran
inside dispatch-update with INPUT_TOKEN in its environment, and any top-level ``re.py`` broke the
action. The same holds for a PYTHONPATH the workflow sets for its own steps (``.``, the workspace).

Each test runs one way the command is started, for real, in a hostile checkout: ``json.py``,
``re.py``, ``argparse.py``, ``runpy.py``, ``yaml.py`` and packages ``gitops_release/``, ``pip/``,
``venv/`` that, when imported, write a marker file and end the process with exit code 97. Each runs
with and without ``PYTHONPATH=.`` and on every Python the tests find: the runner images' 3.10 and
3.12 (found as tests/integration/test_dispatch_update.py finds them) and the test's own Python.

- dispatch-update's zero-install path (the runner's python3 straight from src/): a real dispatch
  to the GitHub sandbox;
- the venv path (every other command): the venv action-run.sh would have installed, and the
  ``venv`` / ``ensurepip`` / ``pip`` calls that install it (uv is a binary: nothing to shadow);
- ``GITOPS_RELEASE_PYTHON`` (a Python with the package preinstalled);
- the Docker action's ENTRYPOINT, as the Dockerfile writes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.integration.test_dispatch_update import RUNNER_PYTHONS, _runner_python, parse_outputs

ROOT = Path(__file__).resolve().parents[2]
ACTION_RUN = ROOT / "scripts" / "action-run.sh"
TOKEN = "ghp_safePathToken0123456789abcdefABCD"
CONFIG = "org/config"
SHA = "0123456789abcdef0123456789abcdef01234567"
HOSTILE_EXIT = 97
HOSTILE_MODULES = ("json", "re", "argparse", "runpy", "yaml")
HOSTILE_PACKAGES = ("gitops_release", "pip", "venv", "ensurepip")
# A PATH without uv: action-run.sh then installs uv with the bootstrap Python's pip, or uses pip.
PATH_WITHOUT_UV = "/usr/bin:/bin"
PYTHONS = (*RUNNER_PYTHONS, "self")
PYTHONPATHS = {"no-pythonpath": None, "pythonpath-dot": "."}
VALID_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
# What pip (distlib) writes as a console script; the Docker image's `gitops-release` is one.
CONSOLE_SCRIPT = """#!{python}
import re
import sys
from gitops_release.cli import main
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(main())
"""


def version_of_package() -> str:
    found = re.search(r'__version__ = "([^"]+)"', (ROOT / "src/gitops_release/__init__.py").read_text())
    assert found
    return found.group(1)


def current_stamp() -> str:
    """What action-run.sh writes after installing this checkout (the lock's sha256, the root)."""
    lock = hashlib.sha256((ROOT / "requirements" / "runtime.lock").read_bytes()).hexdigest()
    return f"lock {lock}\nroot {ROOT.resolve()}"


def python_for(name: str) -> str:
    return sys.executable if name == "self" else _runner_python(name)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A user's checkout whose modules shadow what the command imports, plus a valid db."""
    path = tmp_path / "checkout"
    path.mkdir()

    def hostile(file: Path, name: str) -> None:
        marker = path / f"IMPORTED-{name}"
        file.write_text(
            f"import os\nopen({str(marker)!r}, 'w').close()\nos._exit({HOSTILE_EXIT})\n", encoding="utf-8"
        )

    for name in HOSTILE_MODULES:
        hostile(path / f"{name}.py", name)
    for name in HOSTILE_PACKAGES:
        (path / name).mkdir()
        hostile(path / name / "__init__.py", name)
        hostile(path / name / "__main__.py", f"{name}.__main__")
    (path / "db").mkdir()
    (path / "db" / "db.json").write_text(VALID_DB, encoding="utf-8")
    (path / ".gitops-release.yml").write_text("channels: [dev, stage, prod]\n", encoding="utf-8")
    return path


def imported(checkout: Path) -> list[str]:
    return sorted(p.name.removeprefix("IMPORTED-") for p in checkout.glob("IMPORTED-*"))


def base_env(tmp_path: Path, pythonpath: str | None) -> dict[str, str]:
    """A step's environment: nothing of the test run's own, optionally a workflow's PYTHONPATH."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITOPS_RELEASE_ROOT": str(ROOT),
    }
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return env


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def assert_clean(done: subprocess.CompletedProcess[str], checkout: Path, rc: int = 0) -> None:
    assert imported(checkout) == [], f"imported from the checkout: {imported(checkout)}; {done.stderr}"
    assert done.returncode == rc, done.stdout + done.stderr


def installed_venv(python: str, runner_temp: Path) -> Path:
    """The venv action-run.sh would have made for this version, already installed: the package
    (and, for the test's own Python, its dependencies) reachable through a .pth file, pip's
    console script, and the stamp naming this checkout."""
    venv = runner_temp / f"gitops-release-venv-{version_of_package()}"
    subprocess.run([python, "-I", "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-I",
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    paths = [str(ROOT / "src")]
    if python == sys.executable:
        paths.append(sysconfig.get_paths()["purelib"])  # PyYAML, jsonschema, ... for real commands
    Path(purelib, "gitops_release.pth").write_text("\n".join(paths) + "\n", encoding="utf-8")
    script = venv / "bin" / "gitops-release"
    script.write_text(CONSOLE_SCRIPT.format(python=venv / "bin" / "python"), encoding="utf-8")
    script.chmod(0o755)
    (venv / ".gitops-release-root").write_text(current_stamp(), encoding="utf-8")
    return venv


def command_for(python_name: str) -> list[str]:
    """A real command where the dependencies are there, else one that still starts the CLI."""
    if python_name == "self":
        return ["db", "validate", "--db-path", "db/db.json", "--policy-path", ".gitops-release.yml"]
    return ["db", "validate", "--help"]


# -- dispatch-update: the runner's python3 straight from src/ ---------------------------------


@pytest.mark.parametrize("pythonpath", PYTHONPATHS.values(), ids=PYTHONPATHS.keys())
@pytest.mark.parametrize("python_name", PYTHONS)
def test_dispatch_update_zero_install_path_imports_nothing_from_the_checkout(
    github_sandbox: GitHubSandbox, checkout: Path, tmp_path: Path, python_name: str, pythonpath: str | None
) -> None:
    github_sandbox.add_token(TOKEN)
    github_sandbox.create_repo(CONFIG)
    output = tmp_path / "output"
    output.write_text("")
    env = {
        **base_env(tmp_path, pythonpath),
        "GITOPS_RELEASE_BOOTSTRAP_PYTHON": python_for(python_name),
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "org/my-app",
        "GITHUB_SHA": SHA,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "7",
        "GITHUB_OUTPUT": str(output),
        "INPUT_REPOSITORY": CONFIG,
        "INPUT_TOKEN": TOKEN,
        "INPUT_CONTAINER": "my-app",
        "INPUT_IMAGE": "ghcr.io/org/my-app",
        "INPUT_TAG": "sha-01234567",
        "INPUT_DIGEST": "sha256:" + "ab" * 32,
        "INPUT_API_URL": github_sandbox.url,
    }
    done = run(["bash", str(ACTION_RUN), "dispatch-update"], checkout, env)
    assert_clean(done, checkout)
    (dispatch,) = github_sandbox.dispatches(CONFIG)
    assert dispatch["client_payload"]["tag"] == "sha-01234567"
    assert json.loads(parse_outputs(output.read_text())["payload"]) == dispatch["client_payload"]
    assert not (tmp_path / "runner-temp").exists(), "the zero-install path must not make a venv"


# -- every other command: the per-runner venv -------------------------------------------------


@pytest.mark.parametrize("pythonpath", PYTHONPATHS.values(), ids=PYTHONPATHS.keys())
@pytest.mark.parametrize("python_name", PYTHONS)
def test_venv_path_imports_nothing_from_the_checkout(
    checkout: Path, tmp_path: Path, python_name: str, pythonpath: str | None
) -> None:
    python = python_for(python_name)
    installed_venv(python, tmp_path / "runner-temp")
    env = {**base_env(tmp_path, pythonpath), "GITOPS_RELEASE_BOOTSTRAP_PYTHON": python}
    done = run(["bash", str(ACTION_RUN), *command_for(python_name)], checkout, env)
    assert_clean(done, checkout)
    if python_name == "self":
        assert "db/db.json" in done.stdout + done.stderr
    else:
        assert done.stdout.startswith("usage: gitops-release db validate")


def offline_install_env(tmp_path: Path, pythonpath: str | None, python: str) -> dict[str, str]:
    """No uv on PATH and no package index: every installer action-run.sh starts fails, after
    being imported (isolated, or the hostile pip/ / ensurepip/ would have ended it first)."""
    assert shutil.which("uv", path=PATH_WITHOUT_UV) is None, f"uv in {PATH_WITHOUT_UV}: pick another PATH"
    return {
        **base_env(tmp_path, pythonpath),
        "PATH": PATH_WITHOUT_UV,
        "GITOPS_RELEASE_BOOTSTRAP_PYTHON": python,
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(tmp_path / "no-wheels"),
        "PIP_CONFIG_FILE": os.devnull,
    }


@pytest.mark.parametrize("pythonpath", PYTHONPATHS.values(), ids=PYTHONPATHS.keys())
@pytest.mark.parametrize("python_name", PYTHONS)
def test_installing_the_venv_runs_pip_isolated(
    checkout: Path, tmp_path: Path, python_name: str, pythonpath: str | None
) -> None:
    """`python -m pip install` in the checkout would run its pip/ (with INPUT_TOKEN in the env).
    No uv on PATH: the bootstrap Python's pip installs uv (fails: no index), then the venv's pip
    installs the lock (fails: no index): exit 2 with the setup error, the checkout's pip/ never
    imported. The venv's pip is the base interpreter's (a .pth), so no ensurepip here (~6 s)."""
    python = python_for(python_name)
    venv = tmp_path / "runner-temp" / f"gitops-release-venv-{version_of_package()}"
    subprocess.run([python, "-I", "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    base_purelib = subprocess.run(
        [python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    venv_purelib = next((venv / "lib").glob("python3.*/site-packages"))
    (venv_purelib / "base-pip.pth").write_text(base_purelib + "\n", encoding="utf-8")
    done = run(
        ["bash", str(ACTION_RUN), "update-db"], checkout, offline_install_env(tmp_path, pythonpath, python)
    )
    assert_clean(done, checkout, rc=2)
    assert "uv could not be installed" in done.stderr
    assert "::error title=gitops-release action setup::installing " in done.stdout
    assert "runtime.lock failed" in done.stdout
    assert not (venv / ".gitops-release-root").exists()


def test_creating_the_venv_runs_python_m_venv_and_ensurepip_isolated(checkout: Path, tmp_path: Path) -> None:
    """`python -m venv` / `-m ensurepip` in the checkout would run its venv/ or ensurepip/. Real
    venv creation and ensurepip (~6 s), so once, with the test's own Python; no index after it."""
    env = offline_install_env(tmp_path, ".", sys.executable)
    done = run(["bash", str(ACTION_RUN), "update-db"], checkout, env)
    assert_clean(done, checkout, rc=2)
    venv = tmp_path / "runner-temp" / f"gitops-release-venv-{version_of_package()}"
    assert (venv / "bin" / "python").exists(), done.stdout + done.stderr
    assert list((venv / "lib").glob("python3.*/site-packages/pip")), "ensurepip did not install pip"
    assert "runtime.lock failed" in done.stdout


# -- GITOPS_RELEASE_PYTHON: a Python with the package preinstalled ----------------------------


@pytest.mark.parametrize("pythonpath", PYTHONPATHS.values(), ids=PYTHONPATHS.keys())
@pytest.mark.parametrize("python_name", PYTHONS)
def test_gitops_release_python_path_imports_nothing_from_the_checkout(
    checkout: Path, tmp_path: Path, python_name: str, pythonpath: str | None
) -> None:
    if python_name == "self":
        python = sys.executable  # the package is installed in it (editable)
    else:
        python = str(installed_venv(python_for(python_name), tmp_path / "preinstalled") / "bin" / "python")
    env = {**base_env(tmp_path, pythonpath), "GITOPS_RELEASE_PYTHON": python}
    done = run(["bash", str(ACTION_RUN), *command_for(python_name)], checkout, env)
    assert_clean(done, checkout)
    assert not (tmp_path / "runner-temp").exists()


# -- the Docker action ------------------------------------------------------------------------


def entrypoint() -> list[str]:
    found = re.search(
        r"^ENTRYPOINT (\[.*\])$", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE
    )
    assert found, "Dockerfile has no exec-form ENTRYPOINT"
    argv = json.loads(found.group(1))
    assert isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)
    return argv


@pytest.mark.parametrize("pythonpath", PYTHONPATHS.values(), ids=PYTHONPATHS.keys())
@pytest.mark.parametrize("python_name", PYTHONS)
def test_docker_entrypoint_imports_nothing_from_the_workspace(
    checkout: Path, tmp_path: Path, python_name: str, pythonpath: str | None
) -> None:
    """The runner starts the container in the mounted workspace with the workflow's env. The
    image's Python is 3.12; its `python3` and `gitops-release` are played by a venv's."""
    venv = installed_venv(python_for(python_name), tmp_path / "image")
    program, *args = entrypoint()
    stand_ins = {"python3": venv / "bin" / "python", "python": venv / "bin" / "python"}
    stand_ins["gitops-release"] = venv / "bin" / "gitops-release"
    assert program in stand_ins, f"ENTRYPOINT starts {program!r}: teach this test what it is"
    done = run(
        [str(stand_ins[program]), *args, *command_for(python_name)], checkout, base_env(tmp_path, pythonpath)
    )
    assert_clean(done, checkout)
