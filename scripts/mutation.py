#!/usr/bin/env python3
"""Mutation testing of src/gitops_release/core: each module against its OWN unit tests.

`make mutation` runs this. For every core module (or the ones named on the command line) it
builds a scratch copy of the project under mutants/<module>/, configures mutmut there to
mutate only that module and to run only tests/unit/core/test_<module>.py and
test_<module>_*.py, runs `mutmut run`, and reads the verdicts back through mutmut's own CLI
(`export-cicd-stats`, `results`, `show`). Nothing is hard-coded about mutant names or counts,
so the runner keeps working while the code changes.

Outputs (all under mutants/, which git ignores):
  mutants/scores.md                the per-module table (paste into docs/testing.md)
  mutants/<module>/survivors.diff  every mutant that was not killed, with its diff
  mutants/<module>/mutmut.log      mutmut's own output

Score = (killed + timeout) / all mutants; "no tests" (a function no test of the module calls)
and survivors count against it. Exit status 1 when a module scores below --fail-under.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "src" / "gitops_release" / "core"
CORE_TESTS = ROOT / "tests" / "unit" / "core"
WORK = ROOT / "mutants"
# Tests that cannot run on mutated code: it imports mutmut's trampoline, which `python -S`
# (dispatch-update's start-up, tested here) cannot import.
NOT_UNDER_MUTMUT = ("test_module_imports_only_the_standard_library",)
# What the tests need besides src/ and tests/ (test_db.py and test_policy.py read templates/).
COPIED = ("src", "tests", "templates")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")


def core_modules() -> list[str]:
    return sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")


def own_tests(module: str, modules: list[str]) -> list[str]:
    """test_<module>.py and test_<module>_*.py, unless a longer module name claims the file
    (a future core/db_lock.py keeps test_db_lock.py away from db)."""
    found = []
    for path in sorted(CORE_TESTS.glob("test_*.py")):
        stem = path.stem.removeprefix("test_")
        owners = [m for m in modules if stem == m or stem.startswith(m + "_")]
        if owners and max(owners, key=len) == module:
            found.append(path.relative_to(ROOT).as_posix())
    return found


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def mutmut_config(module: str, tests: list[str]) -> str:
    deselected = " and ".join(f"not {name}" for name in NOT_UNDER_MUTMUT)
    return "\n".join(
        [
            "",
            "[tool.mutmut]",
            'source_paths = ["src"]',
            f'only_mutate = ["src/gitops_release/core/{module}.py"]',
            f"pytest_add_cli_args_test_selection = {toml_list(tests)}",
            # Property tests capped and derandomized (scripts/mutation_pytest_plugin.py).
            "pytest_add_cli_args = "
            + toml_list(["-p", "no:cacheprovider", "-p", "mutation_pytest_plugin", "-k", deselected]),
            f"also_copy = {toml_list(['templates'])}",
            # The change detection compares against git, which the scratch copy is not.
            "use_git_change_detection = false",
            "",
        ]
    )


@dataclass
class Score:
    module: str
    tests: list[str]
    total: int = 0
    killed: int = 0
    survived: int = 0
    no_tests: int = 0
    other: int = 0
    seconds: float = 0.0

    @property
    def percent(self) -> float:
        if not self.tests:
            return 0.0
        return 100.0 * self.killed / self.total if self.total else 100.0


# `mutmut show` for each mutant named in argv, through mutmut's own command line.
_SHOW_ALL = """
import sys
from mutmut.__main__ import cli
for name in sys.argv[1:]:
    print(f"## {name}", flush=True)
    cli.main(["show", name], standalone_mode=False)
    print(flush=True)
"""


def mutmut(workdir: Path, *args: str, log: Path | None = None, python: bool = False) -> str:
    command = [sys.executable, *args] if python else [sys.executable, "-m", "mutmut", *args]
    plugin_dir = str(ROOT / "scripts")  # mutation_pytest_plugin.py
    path = os.pathsep.join(p for p in (plugin_dir, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": path}
    what = f"mutation: `mutmut {' '.join(args)[:60]}` failed in {workdir}"
    if log is None:
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{what}:\n{done.stderr}")
        return done.stdout
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.run(command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(True)[-30:])
        raise SystemExit(f"{what} (exit {code}); the end of {log}:\n{tail}")
    return ""


def run_module(module: str, modules: list[str], jobs: int) -> Score:
    tests = own_tests(module, modules)
    score = Score(module, tests)
    if not tests:  # reported as 0%, so a new module without tests fails --fail-under
        print(f"mutation: core/{module}.py has no tests/unit/core/test_{module}*.py", flush=True)
        return score
    workdir = WORK / module
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    for name in COPIED:
        shutil.copytree(ROOT / name, workdir / name, ignore=IGNORED, symlinks=True)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    if "[tool.mutmut]" in pyproject:
        raise SystemExit("mutation: pyproject.toml has a [tool.mutmut]; this runner writes one per module")
    (workdir / "pyproject.toml").write_text(pyproject + mutmut_config(module, tests), encoding="utf-8")

    started = time.monotonic()
    mutmut(workdir, "run", "--max-children", str(jobs), log=workdir / "mutmut.log")
    score.seconds = time.monotonic() - started

    mutmut(workdir, "export-cicd-stats")
    stats = json.loads((workdir / "mutants" / "mutmut-cicd-stats.json").read_text(encoding="utf-8"))
    score.total = stats["total"]
    score.killed = stats["killed"] + stats["timeout"]
    score.survived = stats["survived"]
    score.no_tests = stats["no_tests"]
    score.other = score.total - score.killed - score.survived - score.no_tests

    # `results` lists every mutant that was not killed as "    <name>: <status>"; their diffs come
    # from `mutmut show`, run for all of them in one process (one process each takes minutes).
    names = []
    for line in mutmut(workdir, "results").splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and status != "timeout":
            names.append(name)
    report = mutmut(workdir, "-c", _SHOW_ALL, *names, python=True) if names else ""
    (workdir / "survivors.diff").write_text(report, encoding="utf-8")
    return score


def table(scores: list[Score]) -> str:
    lines = [
        "| module | mutants | killed | survived | no tests | other | score | tests |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in scores:
        tests = ", ".join(Path(t).name for t in s.tests)
        lines.append(
            f"| {s.module} | {s.total} | {s.killed} | {s.survived} | {s.no_tests} | {s.other} "
            f"| {s.percent:.1f}% | {tests} |"
        )
    total = sum(s.total for s in scores)
    killed = sum(s.killed for s in scores)
    if len(scores) > 1 and total:
        lines.append(
            f"| **all** | {total} | {killed} | {sum(s.survived for s in scores)} "
            f"| {sum(s.no_tests for s in scores)} | {sum(s.other for s in scores)} "
            f"| {100.0 * killed / total:.1f}% | |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    modules = core_modules()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", metavar="module", help=f"default: all of {', '.join(modules)}")
    parser.add_argument("--jobs", type=int, default=2, help="mutmut --max-children (default: 2)")
    parser.add_argument(
        "--fail-under", type=float, default=0.0, help="exit 1 when a module scores below this percentage"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(modules))
    if unknown:
        parser.error(f"unknown core module(s) {', '.join(unknown)}; known: {', '.join(modules)}")
    chosen = args.modules or modules

    scores = []
    started = time.monotonic()
    for module in chosen:
        print(f"mutation: {module} ...", flush=True)
        score = run_module(module, modules, args.jobs)
        print(
            f"mutation: {module}: {score.killed}/{score.total} killed ({score.percent:.1f}%), "
            f"{score.survived} survived, {score.no_tests} no tests, {score.seconds:.0f}s; "
            f"see mutants/{module}/survivors.diff",
            flush=True,
        )
        scores.append(score)
    elapsed = time.monotonic() - started

    text = table(scores)
    WORK.mkdir(exist_ok=True)
    (WORK / "scores.md").write_text(text + f"\n{elapsed:.0f}s with --jobs {args.jobs}\n", encoding="utf-8")
    print()
    print(text)
    print(f"mutation: {elapsed:.0f}s in all with --jobs {args.jobs}; table in mutants/scores.md")
    low = [s.module for s in scores if s.percent < args.fail_under]
    if low:
        print(f"mutation: below {args.fail_under:g}%: {', '.join(low)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
