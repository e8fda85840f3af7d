"""Review 11a reproductions against the real `gitops-release serve` process and the template
(each fails on main 1222a46)."""

from __future__ import annotations

import socket
from pathlib import Path

import yaml

from gitops_release.adapters.release_source import MAX_DB_BYTES
from tests.fixtures.serve_api import release, wait_until, write_db
from tests.fixtures.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
#: Measured (docs/benchmarks.md and review 11a): resident memory is ~45x db.json's size once a
#: reload has run (14 MiB db, 50,000 releases: 385 MiB after the first load, 660 MiB after one
#: reload). 40x is a floor.
RESIDENT_PER_DB_BYTE = 40


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_a_connection_that_never_finishes_its_request_head_is_closed(tmp_path):
    """Slowloris: uvicorn has no request-head timeout (timeout_keep_alive starts after a
    response). Idle or trickling connections are kept for ever; ~20,000 of them (the process's
    fd limit here) made /health/live fail (EMFILE on accept), so the kubelet restarts every
    replica while the attack lasts."""
    db = write_db(tmp_path / "db.json", [release("app", "dev")])
    with ServeProcess(["--db-path", str(db)]) as api:
        sock = socket.create_connection(("127.0.0.1", api.port))
        try:
            sock.sendall(b"GET /v1/releases HTTP/1.1\r\nHost: x\r\n")  # and nothing more
            sock.setblocking(False)
            wait_until(lambda: _closed(sock), what="serve to close a half-sent request", timeout=20)
        finally:
            sock.close()


def _bytes(quantity: str) -> int:
    units = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def test_the_largest_db_serve_accepts_fits_the_templates_memory_limit():
    """MAX_DB_BYTES is 64 MiB, the template's limit 384 MiB: a db of ~14 MiB (well inside the
    cap; the git-source component is the documented path for large dbs) is OOM-killed at its
    first load, and again after every restart: every replica crash-loops instead of serving
    the last good version with health degraded."""
    deployment = yaml.safe_load((ROOT / "templates/release-api/deployment.yaml").read_text())
    limit = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    assert MAX_DB_BYTES * RESIDENT_PER_DB_BYTE <= _bytes(limit), (
        f"serve accepts a {MAX_DB_BYTES >> 20} MiB db but the pod may use {limit}"
    )
