"""Reload under load: a real ``gitops-release serve`` answers every request while its db.json is
replaced 20 times (half picked up by the file watcher, half by ``POST /v1/reload``): no failed
request, no error, no answer that mixes two versions of the db, and every reader sees every
version. (The timings are benchmarks/bench_serve.py's; nothing here is timed.)"""

from __future__ import annotations

import http.client
import json
import random
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gitops_release.core.db import dump_db, load_db
from tests.fixtures.serve_process import ServeProcess, write_atomically

CONTAINERS = [f"svc-{i:03d}" for i in range(100)]
CHANNELS = ("dev", "prod")
READERS = 8
CHANGES = 20
TOKEN = "reload-under-load-token-0123456789"
# Not a timing assertion: how long to wait before calling a run stuck (a hang, not slowness).
STUCK = 120.0


def db_text(version: int) -> str:
    """Every release of ``version`` has the tag ``v<version>``: one answer shows which db it came from."""
    releases = [
        {
            "container": container,
            "channel": channel,
            "image": f"ghcr.io/org/{container}",
            "tag": f"v{version}",
            "source": {"repository": "org/mono", "sha": f"{version:040x}"},
            "updatedAt": "2026-01-01T00:00:00Z",
        }
        for container in CONTAINERS
        for channel in CHANNELS
    ]
    return dump_db(load_db(json.dumps({"schemaVersion": 1, "releases": releases}), path="db/db.json"))


@dataclass
class Reader:
    """One keep-alive connection asking for random containers until told to stop."""

    port: int
    stop: threading.Event
    requests: int = 0
    last_version: int = -1
    seen: set[int] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while not self.stop.is_set():
                container = random.choice(CONTAINERS)
                try:
                    connection.request("GET", f"/v1/releases?container={container}")
                    response = connection.getresponse()
                    status, body = response.status, response.read()
                except (OSError, http.client.HTTPException) as exc:
                    self.failures.append(f"{container}: {exc!r}")
                    connection.close()
                    continue
                self.requests += 1
                self.check(container, status, body)
        finally:
            connection.close()

    def check(self, container: str, status: int, body: bytes) -> None:
        if status != 200:
            self.failures.append(f"{container}: status {status}: {body[:200]!r}")
            return
        document = json.loads(body)
        tags = {release["tag"] for release in document["releases"]}
        containers = {release["container"] for release in document["releases"]}
        if document["count"] != len(CHANNELS) or len(tags) != 1 or containers != {container}:
            self.failures.append(f"{container}: mixed or wrong answer: {document}")
            return
        self.last_version = int(tags.pop().removeprefix("v"))
        self.seen.add(self.last_version)


def wait_for(condition: str, check: Callable[[], bool], api: ServeProcess) -> None:
    deadline = time.monotonic() + STUCK
    while not check():
        assert time.monotonic() < deadline, f"stuck waiting for {condition}:\n{api.output()[-3000:]}"
        time.sleep(0.02)


def served_version(api: ServeProcess) -> int:
    status, body = api.get("/v1/releases/svc-000/dev")
    assert status == 200, body
    return int(json.loads(body)["releases"][0]["tag"].removeprefix("v"))


def test_twenty_db_changes_under_load_fail_no_request(tmp_path: Path) -> None:
    db = tmp_path / "db.json"
    db.write_text(db_text(0), encoding="utf-8")
    with ServeProcess(["--db-path", str(db)], env={"GITOPS_RELEASE_RELOAD_TOKEN": TOKEN}) as api:
        stop = threading.Event()
        readers = [Reader(api.port, stop) for _ in range(READERS)]
        threads = [threading.Thread(target=reader.run, daemon=True) for reader in readers]
        for thread in threads:
            thread.start()
        try:
            for version in range(1, CHANGES + 1):
                write_atomically(db, db_text(version))
                if version % 2:  # odd: ask for it; even: the file watcher finds it
                    status, body = api.request("POST", "/v1/reload", {"Authorization": f"Bearer {TOKEN}"})
                    assert status == 200, body
                    assert json.loads(body)["result"] == "changed"
                wait_for(f"version {version} served", lambda v=version: served_version(api) == v, api)
                # Every reader is still reading, and has read this version: the change happened
                # under load, not between requests.
                wait_for(
                    f"every reader at version {version}",
                    lambda v=version: all(r.last_version == v or r.failures for r in readers),
                    api,
                )
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        failures = [failure for reader in readers for failure in reader.failures]
        assert failures == [], failures[:10]
        for reader in readers:
            assert set(range(1, CHANGES + 1)) <= reader.seen
        _, metrics = api.get("/metrics")
        # SIGTERM: a graceful stop (uvicorn re-raises the signal once it has shut down), not a kill.
        assert api.stop() in (0, -signal.SIGTERM)
    # The server logged no error and answered no 5xx in its access log.
    log = api.output()
    assert "Traceback" not in log
    statuses = [json.loads(line)["status"] for line in log.splitlines() if line.startswith('{"time"')]
    assert statuses and all(status < 500 for status in statuses)
    # The first load and the 20 changes, each loaded once, none failed.
    reloads = dict(
        re.findall(r'^gitops_release_serve_reloads_total\{result="(\w+)"\} (\d+)$', metrics.decode(), re.M)
    )
    assert reloads["changed"] == str(CHANGES + 1)
    assert reloads["failed"] == "0"
