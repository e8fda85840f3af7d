"""Concurrent update-db writers on one bare remote: do all land, and what does it cost?

    .venv/bin/python benchmarks/bench_update_db_concurrency.py [--writers 30] [--write-docs]

Four scenarios, each on a fresh bare remote (file://) holding an empty db and an open policy,
each writer in its own clone, each writer a different container on channel dev:

1. concurrent update-db with the defaults (the retry loop bounded by max-wait, 10m, and by no
   attempt count): every process started at once;
2. sequential update-db: the same releases one after another (the floor for total time);
3. concurrent update-db with max-attempts 1: no retry loop;
4. concurrent plain ``git commit`` + ``git push`` of each writer's own db.json edit.

Reported: releases landed in the remote db.json, lost (exit 0 but not in the db; must be 0),
failed processes, p50/p95 per-process wall, the worst writer's wait (its whole wall time, from
start until it landed or gave up), total wall, and the most push attempts any writer needed
(from update-db's "(attempt k)" log line). Below the table: concurrent total vs sequential.
``--writers 200`` is the run docs/benchmarks.md reports (the backoff cap is chosen with
sim_update_db_backoff.py; see there). ``sys.executable``
runs the command (not the pyenv shim). ``--write-docs`` replaces the "update-db: concurrent
writers" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from _docs import replace_section  # noqa: E402  (benchmarks/ is sys.path[0])
from tests.fixtures.git_remotes import clone_of, git, make_bare_remote, read_remote_file  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
HEADING = "## update-db: concurrent writers"
EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
POLICY = "channels: [dev, stage, prod]\n"
SHA = "c" * 40
_ATTEMPT = re.compile(r"\(attempt (\d+)(?:/\d+)?\)")


def release(n: int) -> dict[str, object]:
    return {
        "container": f"svc-{n:03d}",
        "channel": "dev",
        "image": f"ghcr.io/org/svc-{n:03d}",
        "tag": f"sha-{n:08d}",
        "source": {"repository": "org/mono", "sha": SHA},
    }


def base_env() -> dict[str, str]:
    drop = ("INPUT_", "GITHUB_", "RUNNER_", "GIT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PYTHONPATH"] = str(ROOT / "src")
    return env


@dataclass
class Scenario:
    name: str
    landed: int
    lost: int
    failed: int
    walls: list[float]
    total: float
    max_attempts_used: int | None


def setup(root: Path, writers: int) -> tuple[str, list[Path]]:
    url = make_bare_remote(root, {"db/db.json": EMPTY_DB, ".gitops-release.yml": POLICY})
    return url, [clone_of(url, root / f"clone-{n:03d}") for n in range(writers)]


def landed(url: str) -> set[str]:
    return {r["container"] for r in json.loads(read_remote_file(url, "db/db.json"))["releases"]}


def update_db_cmd(clone: Path, n: int, max_attempts: int | None) -> tuple[list[str], dict[str, str]]:
    env = base_env()
    env.update({"INPUT_PAYLOAD": json.dumps(release(n)), "INPUT_REPOSITORY-PATH": str(clone)})
    if max_attempts is not None:
        env["INPUT_MAX-ATTEMPTS"] = str(max_attempts)
    return [sys.executable, "-m", "gitops_release", "update-db"], env


def plain_push_cmd(clone: Path, n: int) -> tuple[list[str], dict[str, str]]:
    """Edit db.json in the clone (as a naive workflow would) and commit + push, no retry."""
    db = json.loads((clone / "db" / "db.json").read_text())
    db["releases"].append({**release(n), "updatedAt": "2026-01-01T00:00:00Z"})
    (clone / "db" / "db.json").write_text(json.dumps(db, indent=2) + "\n")
    git("add", "db/db.json", cwd=clone)
    git("commit", "-q", "-m", f"release svc-{n:03d}", cwd=clone)
    return ["git", "push", "-q", "origin", "HEAD:main"], {**base_env(), "GIT_TERMINAL_PROMPT": "0"}


def run_concurrent(name: str, url: str, commands: list[tuple[list[str], dict[str, str], Path]]) -> Scenario:
    started = time.monotonic()
    procs = []
    for argv, env, cwd in commands:
        procs.append(
            (
                time.monotonic(),
                subprocess.Popen(
                    argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                ),
            )
        )
    # One waiter thread per process, so each wall time ends when that process ends.
    finished: list[tuple[float, str]] = [(0.0, "")] * len(procs)

    def wait(n: int, t0: float, proc: subprocess.Popen[str]) -> None:
        # max-wait (10m) bounds the retries; a started attempt still finishes.
        _, err = proc.communicate(timeout=900)
        finished[n] = (time.monotonic() - t0, err)

    waiters = [threading.Thread(target=wait, args=(n, t0, p)) for n, (t0, p) in enumerate(procs)]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    walls = [wall for wall, _ in finished]
    failed = 0
    attempts: list[int] = []
    ok: list[int] = []
    for n, (_, proc) in enumerate(procs):
        err = finished[n][1]
        if proc.returncode != 0:
            failed += 1
        else:
            ok.append(n)
        for line in err.splitlines():
            match = _ATTEMPT.search(line)
            if match and "pushed" in line:
                attempts.append(int(match.group(1)))
    total = time.monotonic() - started
    got = landed(url)
    lost = sum(1 for n in ok if f"svc-{n:03d}" not in got)
    return Scenario(name, len(got), lost, failed, walls, total, max(attempts) if attempts else None)


def run_sequential(name: str, url: str, clones: list[Path]) -> Scenario:
    started = time.monotonic()
    walls: list[float] = []
    failed = 0
    for n, clone in enumerate(clones):
        argv, env = update_db_cmd(clone, n, None)
        t0 = time.monotonic()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        walls.append(time.monotonic() - t0)
        failed += done.returncode != 0
    total = time.monotonic() - started
    got = landed(url)
    return Scenario(name, len(got), len(clones) - failed - len(got), failed, walls, total, 1)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(writers: int) -> list[Scenario]:
    from gitops_release.commands.update_db import DEFAULT_MAX_WAIT

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-update-db-") as tmp:
        root = Path(tmp)
        url, clones = setup(root / "a", writers)
        cmds = [(*update_db_cmd(c, n, None), c) for n, c in enumerate(clones)]
        results.append(
            run_concurrent(f"concurrent update-db (defaults: max-wait {DEFAULT_MAX_WAIT / 60:g}m)", url, cmds)
        )
        url, clones = setup(root / "b", writers)
        results.append(run_sequential("sequential update-db", url, clones))
        url, clones = setup(root / "c", writers)
        cmds = [(*update_db_cmd(c, n, 1), c) for n, c in enumerate(clones)]
        results.append(run_concurrent("concurrent update-db, max-attempts 1", url, cmds))
        url, clones = setup(root / "d", writers)
        cmds = [(*plain_push_cmd(c, n), c) for n, c in enumerate(clones)]
        results.append(run_concurrent("concurrent plain git commit + push", url, cmds))
    return results


def table(results: list[Scenario], writers: int) -> str:
    lines = [
        f"{writers} writers, one bare remote (file://), separate clones, different containers",
        "",
        "| scenario | landed | lost | failed | p50 wall | p95 wall | worst writer's wait | total wall "
        "| most attempts |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        most = "-" if r.max_attempts_used is None else str(r.max_attempts_used)
        lines.append(
            f"| {r.name} | {r.landed}/{writers} | {r.lost} | {r.failed} | {statistics.median(r.walls):.2f} s "
            f"| {pct(r.walls, 0.95):.2f} s | {max(r.walls):.2f} s | {r.total:.2f} s | {most} |"
        )
    concurrent, sequential = results[0], results[1]
    lines += [
        "",
        f"Concurrent with the defaults: {concurrent.total:.1f} s total vs {sequential.total:.1f} s "
        f"sequential ({concurrent.total / sequential.total:.2f}x); the worst writer waited "
        f"{max(concurrent.walls):.1f} s and needed {concurrent.max_attempts_used or '-'} attempts.",
    ]
    return "\n".join(lines) + "\n"


def write_docs(text: str, heading: str = HEADING, command: str = "bench_update_db_concurrency.py") -> None:
    """Replace (or append) this benchmark's section of docs/benchmarks.md; keep every other section."""
    section = (
        f"{heading}\n\n`.venv/bin/python benchmarks/{command} --write-docs` (2-core machine; wall times vary "
        "run to run,\nlanded/lost/failed are what to watch).\n\n"
        f"{text}"
    )
    replace_section(heading, section)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--writers", type=int, default=30)
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    results = measure(args.writers)
    text = table(results, args.writers)
    print(text, end="")
    if args.write_docs:
        write_docs(text)
        print(f"wrote the {HEADING!r} section of {DOCS.relative_to(ROOT)}")
    first = results[0]
    return 0 if first.landed == args.writers and first.lost == 0 and first.failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
