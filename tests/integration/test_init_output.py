"""What ``init`` writes passes the same gates as the templates (scripts/lint-workflows.sh's tools:
zizmor offline with the repo's zizmor.yml, check-jsonschema's vendored workflow schema, no ${{ }} in
run:), with non-default values; and the templates ship inside the wheel: a wheel built offline
(uv, build backend from uv's cache) installed with --no-deps into a bare venv runs init by itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from gitops_release.cli import main
from gitops_release.commands.init import TEMPLATE_DIRS

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def init(*args: str) -> None:
    assert main(list(args), env={"PATH": os.environ.get("PATH", "")}) == 0


def workflows(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.yml") if ".github/workflows" in p.as_posix())


def test_written_workflows_pass_zizmor_and_the_workflow_schema(tmp_path: Path) -> None:
    config, source = tmp_path / "config", tmp_path / "source"
    init("init", "config-repo", "--dir", str(config), "--repository", "acme/shop", "--app", "shop")
    init(
        "init",
        "source-repo",
        "--dir",
        str(source),
        "--app",
        "shop",
        "--image",
        "ghcr.io/acme/shop",
        "--config-repository",
        "acme/config",
        "--channel-map",
        "refs/heads/develop=dev,refs/heads/release/**=stage",
    )
    files = workflows(config) + workflows(source)
    assert len(files) == 7
    zizmor = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", "--config", str(ROOT / "zizmor.yml"), *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr
    schema = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert schema.returncode == 0, schema.stdout + schema.stderr
    for name in files:
        for doc in yaml.safe_load_all(Path(name).read_text()):
            for job in doc["jobs"].values():
                for step in job.get("steps", []):
                    assert "${{" not in step.get("run", ""), name


def test_the_wheel_ships_the_templates_and_runs_init_from_them(tmp_path: Path) -> None:
    # uv builds offline here: make venv's editable install put hatchling in uv's cache.
    dist = tmp_path / "dist"
    built = subprocess.run(
        [str(BIN / "uv"), "build", "--offline", "--out-dir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = dist.glob("*.whl")  # built from the sdist: both carry templates/
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n.split("_templates/", 1)[1] for n in names if "/_templates/" in n)
    in_repo = sorted(
        p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*") if p.is_file()
    )
    assert shipped == in_repo

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [str(BIN / "uv"), "pip", "install", "--offline", "--no-deps", "--python", str(python), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    where = subprocess.run(
        [str(python), "-I", "-c", "import gitops_release.commands.init as i; print(i.templates_root())"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout  # not this checkout's templates/
    for kind in ("config-repo", "source-repo"):
        done = subprocess.run(
            [str(venv / "bin" / "gitops-release"), "init", kind, "--dir", kind],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        written = {
            p.relative_to(work / kind).as_posix(): p.read_bytes()
            for p in (work / kind).rglob("*")
            if p.is_file()
        }
        expected = {}
        for source, target in TEMPLATE_DIRS[kind]:
            top = ROOT / "templates" / source
            prefix = "" if target == "." else f"{target}/"
            expected.update(
                {
                    prefix + p.relative_to(top).as_posix(): p.read_bytes()
                    for p in top.rglob("*")
                    if p.is_file()
                }
            )
        assert written == expected
