"""Peak resident memory of ``gitops-release serve`` against the size of db.json.

Writes a db.json just under ``--max-db-bytes`` (16 MiB by default), starts the real command on
it, and reads the process's peak resident set (VmHWM, Linux) after the first load and after one
reload of a db of the same size with other content (the old and the new version are alive at
once during a reload). The ratio peak / db size sets the release-api template's memory limit
(templates/release-api/deployment.yaml) and ``RESIDENT_PER_DB_BYTE`` in
adapters/release_source.py (docs/serve.md "Memory").

Run: .venv/bin/python benchmarks/bench_serve_memory.py [--max-db-bytes N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from gitops_release.adapters.release_source import MAX_DB_BYTES
from gitops_release.core.db import dump_db, load_db

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = ("dev", "staging", "prod", "canary")
SHA = "0123456789abcdef0123456789abcdef01234567"


def release(i: int, c: int, channel: str, version: int, *, small: bool) -> dict[str, object]:
    """A typical release (digest, ref: about 400 bytes), or the smallest valid one (no digest,
    no ref, short names: about 190 bytes): more releases per byte cost more memory per byte."""
    if small:
        return {
            "container": f"s{i:05d}",
            "channel": channel[0],
            "image": f"r/s{i:05d}",
            "tag": f"v{version}",
            "source": {"repository": "o/m", "sha": SHA},
            "updatedAt": "2026-01-01T00:00:00Z",
        }
    return {
        "container": f"svc-{i:05d}",
        "channel": channel,
        "image": f"ghcr.io/org/svc-{i:05d}",
        "tag": f"v{version}",
        "digest": "sha256:" + f"{i * 4 + c + version:064x}",
        "source": {"repository": "org/mono", "sha": SHA, "ref": "refs/heads/main"},
        "updatedAt": "2026-01-01T00:00:00Z",
    }


def db_text(containers: int, version: int, *, small: bool = False) -> str:
    releases = [
        release(i, c, channel, version, small=small)
        for i in range(containers)
        for c, channel in enumerate(CHANNELS)
    ]
    return dump_db(load_db(json.dumps({"schemaVersion": 1, "releases": releases}), path="db/db.json"))


def largest_db(limit: int, version: int, *, small: bool) -> str:
    """The db with the most containers whose text stays under ``limit`` bytes."""
    per_container = len(db_text(100, version, small=small).encode()) / 100
    containers = int(limit / per_container)
    while True:
        text = db_text(containers, version, small=small)
        if len(text.encode()) <= limit:
            return text
        containers = int(containers * 0.99)


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def health(url: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url + "/v1/health", timeout=5) as response:
            return dict(json.load(response))
    except OSError:
        return None


def wait_for(url: str, condition: object) -> dict[str, object]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        document = health(url)
        if document is not None and callable(condition) and condition(document):
            return document
        time.sleep(0.2)
    raise RuntimeError("serve did not get there in 300 s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-db-bytes", type=int, default=MAX_DB_BYTES)
    parser.add_argument("--port", type=int, default=18931)
    parser.add_argument("--small", action="store_true", help="the smallest valid releases (the worst case)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        db = Path(work) / "db.json"
        db.write_text(largest_db(args.max_db_bytes, 1, small=args.small))
        size = db.stat().st_size
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        command = [sys.executable, "-m", "gitops_release", "serve", "--db-path", str(db)]
        command += ["--max-db-bytes", str(args.max_db_bytes), "--port", str(args.port)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{args.port}"
        try:
            first = wait_for(url, lambda d: d.get("releases") is not None)
            after_first = peak_kib(process.pid)
            temporary = db.with_name(".db.json.tmp")
            temporary.write_text(largest_db(args.max_db_bytes, 2, small=args.small))
            os.replace(temporary, db)
            wait_for(url, lambda d: d.get("revision") not in (None, first["revision"]))
            after_reload = peak_kib(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    mib = 1024 * 1024
    print(f"db.json: {size / mib:.1f} MiB, {first['releases']} releases")
    for label, kib in (("after the first load", after_first), ("after one reload", after_reload)):
        print(f"peak resident {label}: {kib / 1024:.0f} MiB ({kib * 1024 / size:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
