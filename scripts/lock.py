"""Hashed locks for the actions and the image: ``make lock`` writes them, ``make lint`` checks them.

    .venv/bin/python scripts/lock.py            # (re)write requirements/*.lock, verify platforms
    .venv/bin/python scripts/lock.py --check    # exit 1 when a lock is stale (the lint gate)

Three locks, each ``uv pip compile --universal --generate-hashes --only-binary :all:`` (wheels
only, so installing never runs a package's build code), constrained by constraints.txt (the
versions the test suite runs on):

* requirements/runtime.lock: the runtime dependencies plus the build backend
  ([build-system] requires: hatchling and its dependencies), what scripts/action-run.sh installs
  for the composite actions before the package itself (``--no-deps --no-build-isolation``);
* requirements/image.lock: the same plus the ``kustomize`` and ``server`` extras (the image);
  compiled with runtime.lock as a constraint, so every shared package has the same pin;
* requirements/uv-bootstrap.lock: uv itself, which action-run.sh installs first when uv is not on PATH.

One universal lock per set (markers select per Python); ``make lock`` also resolves each lock for
Linux x86_64 and aarch64 on Python 3.10 to 3.13 with wheels only, so a runner never falls back to
an sdist. ``--check`` recomputes each lock with the checked-in one as the output file (uv keeps
its pins as preferences, so a new upstream release is not "stale") and compares pins and markers:
a changed dependency in pyproject.toml or constraints.txt fails. It runs ``--offline`` from uv's
cache first and asks PyPI only when the cache cannot answer (a clean CI machine). A hash in the
lock that PyPI does not list fails too (a hand-edited or tampered hash); hashes PyPI lists and the
lock lacks (wheels uploaded later) are only reported.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (tomli is a dev dependency there)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYTHON_FLOOR = "3.10"
RUNNER_PLATFORMS = ("x86_64-manylinux_2_28", "aarch64-manylinux_2_28")
RUNNER_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
COMMON = (
    "--universal",
    "--python-version",
    PYTHON_FLOOR,
    "--generate-hashes",
    "--only-binary",
    ":all:",
    "--emit-build-options",
    "--custom-compile-command",
    "make lock",
    "--quiet",
)


@dataclass(frozen=True)
class Lock:
    name: str
    extras: tuple[str, ...]
    requirements: str  # "project": pyproject.toml + build requires; else a requirement line
    constrain_by_runtime: bool


LOCKS = (
    Lock("runtime.lock", (), "project", False),
    Lock("image.lock", ("kustomize", "server"), "project", True),
    Lock("uv-bootstrap.lock", (), "uv", False),
)


def find_uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if not found:
        raise SystemExit("lock.py needs uv. Fix: make venv (installs uv into .venv), or pip install uv")
    return found


def build_requires(root: Path) -> list[str]:
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["build-system"]["requires"])


def compile_lock(uv: str, root: Path, lock: Lock, output: Path, work: Path, offline: bool) -> None:
    """Run uv pip compile for one lock into ``output`` (its current content = preferences)."""
    inputs = work / f"{lock.name}.in"
    if lock.requirements == "project":
        inputs.write_text("\n".join(build_requires(root)) + "\n", encoding="utf-8")
        sources = ["pyproject.toml", str(inputs)]
    else:
        inputs.write_text(lock.requirements + "\n", encoding="utf-8")
        sources = [str(inputs)]
    argv = [uv, "pip", "compile", *sources, "-c", "constraints.txt", *COMMON, "-o", str(output)]
    for extra in lock.extras:
        argv += ["--extra", extra]
    if lock.constrain_by_runtime:
        argv += ["-c", str(work / "runtime.lock")]
    if offline:
        argv.append("--offline")
    # cwd=root: the lock's annotations name pyproject.toml and constraints.txt relative to it.
    done = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CompileError(f"uv pip compile for {lock.name} failed:\n{done.stderr.strip()}")
    output.write_text(stable_annotations(output.read_text(encoding="utf-8"), lock, work), encoding="utf-8")


def stable_annotations(text: str, lock: Lock, work: Path) -> str:
    """The lock with uv's ``# via`` lines naming the random work directory replaced by stable
    names, so ``make lock`` with nothing changed rewrites every lock byte for byte."""
    source = "pyproject.toml (build-system requires)" if lock.requirements == "project" else "scripts/lock.py"
    for prefix in (f"{work}/", f"{work.resolve()}/"):
        text = text.replace(f"{prefix}{lock.name}.in", source)
        # The only other file there is runtime.lock, the recompute of requirements/runtime.lock.
        text = text.replace(prefix, "requirements/")
    if str(work) in text or str(work.resolve()) in text:
        raise CompileError(f"{lock.name} still names the work directory {work}")
    return text


class CompileError(Exception):
    pass


def compile_all(uv: str, root: Path, work: Path, offline: bool) -> None:
    """Compile every lock into ``work`` (seeded with the checked-in locks as preferences)."""
    for lock in LOCKS:
        current = root / "requirements" / lock.name
        target = work / lock.name
        if current.exists():
            # Pins as preferences, hashes not: uv would carry a hash from the output file over
            # unchecked, and a tampered one must not survive a recompute.
            target.write_text(pins_only(current.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            target.unlink(missing_ok=True)
        compile_lock(uv, root, lock, target, work, offline)


_REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)(\s*;\s*(.*?))?\s*\\?$")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


def parse(text: str) -> dict[tuple[str, str, str], set[str]]:
    """{(name, version, marker): hashes} of a hashed requirements file."""
    pins: dict[tuple[str, str, str], set[str]] = {}
    current: tuple[str, str, str] | None = None
    for line in text.splitlines():
        found = _REQUIREMENT.match(line)
        if found:
            current = (found.group(1).lower(), found.group(2), (found.group(4) or "").strip())
            pins[current] = set()
        elif current is not None and _HASH.search(line):
            pins[current].update(_HASH.findall(line))
        elif not line.startswith(" "):
            current = None
    return pins


def pins_only(text: str) -> str:
    """The lock's pins (name==version ; marker), one a line, without hashes or comments."""
    lines = []
    for name, version, marker in parse(text):
        lines.append(f"{name}=={version}" + (f" ; {marker}" if marker else ""))
    return "\n".join(lines) + "\n"


def compare(name: str, checked_in: str, recomputed: str) -> tuple[list[str], list[str]]:
    """(problems that make the lock stale, notes) for one lock."""
    have, want = parse(checked_in), parse(recomputed)
    problems: list[str] = []
    notes: list[str] = []
    for pin in sorted(want.keys() - have.keys()):
        problems.append(f"{name}: missing {pin[0]}=={pin[1]}{' ; ' + pin[2] if pin[2] else ''}")
    for pin in sorted(have.keys() - want.keys()):
        problems.append(f"{name}: no longer resolved: {pin[0]}=={pin[1]}{' ; ' + pin[2] if pin[2] else ''}")
    for pin in sorted(have.keys() & want.keys()):
        unknown = have[pin] - want[pin]
        if unknown:
            problems.append(f"{name}: {pin[0]}=={pin[1]} has hashes PyPI does not list: {sorted(unknown)}")
        if want[pin] - have[pin]:
            notes.append(f"{name}: {pin[0]}=={pin[1]}: PyPI lists {len(want[pin] - have[pin])} more file(s)")
    if not have:
        problems.append(f"{name}: no hashed pins found")
    return problems, notes


def recompute(uv: str, root: Path, work: Path) -> None:
    try:
        compile_all(uv, root, work, offline=True)
    except CompileError:
        # uv's cache cannot answer (a clean machine): the same, asking PyPI.
        compile_all(uv, root, work, offline=False)


def check(uv: str, root: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="gitops-release-lock-") as name:
        work = Path(name)
        try:
            recompute(uv, root, work)
        except CompileError as exc:
            print(f"lock check: {exc}", file=sys.stderr)
            return 1
        problems: list[str] = []
        for lock in LOCKS:
            path = root / "requirements" / lock.name
            if not path.exists():
                problems.append(f"{lock.name}: missing")
                continue
            found, notes = compare(
                lock.name, path.read_text(encoding="utf-8"), (work / lock.name).read_text(encoding="utf-8")
            )
            problems += found
            for note in notes:
                print(f"lock check: note: {note} (make lock adds them)")
    if problems:
        for problem in problems:
            print(f"lock check: {problem}", file=sys.stderr)
        print(
            "lock check: requirements/*.lock is stale against pyproject.toml / constraints.txt. "
            "Fix: make lock, and commit requirements/",
            file=sys.stderr,
        )
        return 1
    print(f"lock check: {', '.join(lock.name for lock in LOCKS)} up to date")
    return 0


def verify_platforms(uv: str, root: Path, work: Path) -> None:
    """Every lock resolves with wheels only on each runner platform and Python."""
    for lock in LOCKS:
        for platform in RUNNER_PLATFORMS:
            for version in RUNNER_PYTHONS:
                argv = [uv, "pip", "compile", str(work / f"{lock.name}.in"), "-c", str(work / lock.name)]
                if lock.requirements == "project":
                    argv.insert(3, "pyproject.toml")
                    argv += [arg for extra in lock.extras for arg in ("--extra", extra)]
                argv += ["--python-platform", platform, "--python-version", version]
                argv += ["--only-binary", ":all:", "--quiet", "-o", "/dev/null"]
                # The compile just filled uv's cache: offline answers in ~1 s, online ~8 s each.
                done = subprocess.run([*argv, "--offline"], cwd=root, capture_output=True, text=True)
                if done.returncode != 0:
                    done = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise SystemExit(
                        f"{lock.name} has no wheels for {platform} Python {version}:\n{done.stderr.strip()}"
                    )
    print(f"verified: wheels for {', '.join(RUNNER_PLATFORMS)} x Python {', '.join(RUNNER_PYTHONS)}")


def write(uv: str, root: Path) -> int:
    (root / "requirements").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gitops-release-lock-") as name:
        work = Path(name)
        try:
            compile_all(uv, root, work, offline=False)
        except CompileError as exc:
            print(f"make lock: {exc}", file=sys.stderr)
            return 1
        verify_platforms(uv, root, work)
        for lock in LOCKS:
            shutil.copyfile(work / lock.name, root / "requirements" / lock.name)
            print(f"wrote requirements/{lock.name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when a lock is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="the project directory")
    args = parser.parse_args(argv)
    uv = find_uv()
    root = args.root.resolve()
    return check(uv, root) if args.check else write(uv, root)


if __name__ == "__main__":
    raise SystemExit(main())
