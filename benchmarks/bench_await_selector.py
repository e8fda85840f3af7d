"""await-argocd-sync on 50 applications by selector, converging at random times: one stream, not 50 pollers.

    .venv/bin/python benchmarks/bench_await_selector.py [--apps 50] [--spread 10] [--repeat 5] [--write-docs]

The Argo CD sandbox (Swagger validation on) holds ``--apps`` auto-synced Applications labelled
``part-of=bench`` (plus 5 others that do not match), each on its own plain-YAML path of one bare
repo. Each run pushes one commit that changes every app, starts ``gitops-release
await-argocd-sync --selector part-of=bench`` (stream on, refresh none), and once the command has
connected refreshes each app at a random moment within ``--spread`` seconds (the webhook reaching
the apps one by one, as with a slow controller): each app then syncs and turns Healthy on its
own schedule. A subscriber stamps the moment each app is done (``core.argocd.assess``).

Waiters, measured round-robin in the same run (a noisy machine slows all alike):

* stream: the command as above (one watch stream by selector);
* poll 5s: the same with ``stream: false`` (polling every 5 s: one list request per tick);
* baseline: 50 per-app pollers, what a pipeline does with one ``argocd app wait`` / ``argocd app
  get`` loop per application: one child process, one thread per app, each with its own HTTP
  connection, GETting its app every 5 s until it is Synced at the sha and Healthy. Each poller
  starts at a random moment within its first interval (jobs of a pipeline do not start in step);
  the changes begin once every poller has made its first request.

Reported per waiter (median over the runs): TCP connections the emulator accepted (counted in this
process) and how many of them were watch streams (goal: exactly 1), requests, the last app's done
time and the waiter's exit (both from the moment the changes begin), the exit - the LAST app's done
time (and each run's), wall / last app done; and ratios against the baseline measured in the same
run: exit - last app done, requests and connections divided by the baseline's.
``--write-docs`` replaces the "await-argocd-sync: 50 applications by selector" section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

from _docs import replace_section  # noqa: E402
from bench_await_latency import DEPLOYMENT, TOKEN, git, ratio  # noqa: E402

from gitops_release.core.argocd import Expectation, Verdict, assess, observe  # noqa: E402
from gitops_release.sandbox.argocd import ArgoCDSandbox  # noqa: E402
from gitops_release.sandbox.argocd.applications import Timing  # noqa: E402

HEADING = "## await-argocd-sync: 50 applications by selector"
REPO_URL = "https://git.example.invalid/org/fleet.git"
SELECTOR = "part-of=bench"
TIMING = Timing(reconcile_interval=0.05, sync_duration=0.3, progressing_duration=0.5)
POLL_INTERVAL = 5.0
WAITERS = ["stream", "poll", "pollers"]
LABELS = {
    "stream": "await-argocd-sync, stream (selector)",
    "poll": "await-argocd-sync, poll 5s (one list per tick)",
    "pollers": "per-app pollers, GET every 5 s (baseline)",
}

# The baseline: one poller per application, as a pipeline runs `argocd app wait` / an `argocd app
# get` loop per app, concurrently (threads here, jobs there). Each keeps one HTTP connection and
# stops when its app is Synced at the pushed sha and Healthy. Standard library only.
POLLERS = """\
import http.client, json, os, random, sys, threading, time
host, port, sha, token = os.environ["HOST"], int(os.environ["PORT"]), os.environ["SHA"], os.environ["TOKEN"]
interval = float(os.environ["INTERVAL"])
names = os.environ["APPS"].split(",")
rng = random.Random(int(os.environ["SEED"]))
starts = [rng.uniform(0, interval) for _ in names]
failures = []

def done(app):
    status = app.get("status", {})
    return (status.get("sync", {}).get("status") == "Synced" and status["sync"].get("revision") == sha
            and status.get("health", {}).get("status") == "Healthy" and not app.get("operation"))

def poll(name, start):
    connection = http.client.HTTPConnection(host, port, timeout=30)
    deadline = time.monotonic() + 170
    time.sleep(start)
    try:
        while time.monotonic() < deadline:
            headers = {"Authorization": "Bearer " + token}
            connection.request("GET", "/api/v1/applications/" + name, headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                failures.append(f"{name}: HTTP {response.status}")
                return
            if done(json.loads(body)):
                return
            time.sleep(interval)
        failures.append(f"{name}: not done in 170 s")
    finally:
        connection.close()

threads = [threading.Thread(target=poll, args=pair) for pair in zip(names, starts)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
if failures:
    sys.exit("; ".join(failures))
"""


class Fleet:
    def __init__(self, root: Path, apps: int) -> None:
        self.bare = root / "fleet.git"
        self.work = root / "fleet"
        self.apps = [f"app-{i:02d}" for i in range(apps)] + [f"other-{i}" for i in range(5)]
        git("init", "-q", "--bare", "-b", "main", str(self.bare), cwd=root)
        git("init", "-q", "-b", "main", str(self.work), cwd=root)
        for key, value in (("user.name", "bench"), ("user.email", "bench@example.invalid")):
            git("config", key, value, cwd=self.work)
        git("remote", "add", "origin", str(self.bare), cwd=self.work)
        self.count = 0
        self.bump()

    def bump(self) -> str:
        self.count += 1
        for app in self.apps:
            path = self.work / app / "deployment.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            text = DEPLOYMENT.format(tag=f"build-{self.count:04d}").replace("bench-app", app)
            path.write_text(text, encoding="utf-8")
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", f"build {self.count}", cwd=self.work)
        git("push", "-q", "origin", "main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def application(self, app: str) -> dict[str, Any]:
        label = "bench" if app.startswith("app-") else "other"
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": app, "namespace": "argocd", "labels": {"part-of": label}},
            "spec": {
                "project": "default",
                "source": {"repoURL": REPO_URL, "path": app, "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": app},
                "syncPolicy": {"automated": {}},
            },
        }


class DoneClocks:
    """Stamps the first moment each selected app is done for ``sha``."""

    def __init__(self, sandbox: ArgoCDSandbox, names: list[str], sha: str) -> None:
        self.done_at: dict[str, float] = {}
        self.names = set(names)
        self.expectation = Expectation(revisions=(sha,))
        self._stop = threading.Event()
        self._subscription = sandbox.store.subscribe()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set() and len(self.done_at) < len(self.names):
            event = self._subscription.next(timeout=0.2)
            if event is None:
                continue
            _, app = event
            name = app.get("metadata", {}).get("name")
            if name in self.names and name not in self.done_at:
                if assess(observe(app), self.expectation).verdict is Verdict.DONE:
                    self.done_at[name] = time.monotonic()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._subscription.close()


class AcceptedConnections:
    """Counts the TCP connections the sandbox accepts (it records requests, not connections):
    wraps its server's ``process_request``, which the accept loop calls once per connection."""

    def __init__(self, sandbox: ArgoCDSandbox) -> None:
        server = sandbox._server
        if server is None:
            raise RuntimeError("start the sandbox first")
        self.count = 0
        accept = server.process_request

        def counted(request: Any, client_address: Any) -> None:
            self.count += 1  # only the accept loop's thread gets here
            accept(request, client_address)

        server.process_request = counted  # type: ignore[method-assign]


def waiter_argv(waiter: str, sandbox: ArgoCDSandbox, sha: str, tmp: Path) -> list[str]:
    if waiter == "pollers":
        return [sys.executable, "-c", POLLERS]
    return [
        sys.executable, "-m", "gitops_release", "await-argocd-sync",
        "--server", sandbox.url, "--selector", SELECTOR, "--expected-revision", sha,
        "--refresh", "none", "--timeout", "120s", "--stream", "true" if waiter == "stream" else "false",
        "--poll-interval", f"{POLL_INTERVAL:g}", "--evidence-path", str(tmp / "evidence.json"),
    ]  # fmt: skip


def one_run(
    sandbox: ArgoCDSandbox,
    connections: AcceptedConnections,
    fleet: Fleet,
    selected: list[str],
    *,
    waiter: str,
    spread: float,
    tmp: Path,
) -> dict[str, float]:
    sha = fleet.bump()
    host, port = sandbox.url.removeprefix("http://").rsplit(":", 1)
    env = {
        **os.environ,
        "INPUT_TOKEN": TOKEN,
        "TOKEN": TOKEN,
        "HOST": host,
        "PORT": port,
        "SHA": sha,
        "APPS": ",".join(selected),
        "INTERVAL": f"{POLL_INTERVAL:g}",
        "SEED": str(fleet.count),
    }
    requests_before = len(sandbox.requests)
    streams_before = sandbox.stream_connections
    connections_before = connections.count
    clocks = DoneClocks(sandbox, selected, sha)
    process = subprocess.Popen(
        waiter_argv(waiter, sandbox, sha, tmp),
        env=env,
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    refreshers: list[threading.Timer] = []
    # The waiter is up once the emulator saw its first request (each poller's, for the baseline):
    # start-up is not what is measured.
    wanted = {f"/api/v1/applications/{app}" for app in selected} if waiter == "pollers" else set()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = sandbox.requests[requests_before:]
            if seen and wanted <= {r.path for r in seen}:
                break
            time.sleep(0.005)
        started = time.monotonic()
        rng = random.Random(fleet.count)
        for app in selected + [a for a in fleet.apps if a not in selected]:
            delay = rng.uniform(0, spread)
            timer = threading.Timer(delay, sandbox.store.refresh, args=(app,), kwargs={"wait": 0.0})
            timer.start()
            refreshers.append(timer)
        _, stderr = process.communicate(timeout=180)
        exited = time.monotonic()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for timer in refreshers:
            timer.join()
        clocks.close()
    if process.returncode != 0 or len(clocks.done_at) != len(selected):
        raise SystemExit(f"exit {process.returncode}, {len(clocks.done_at)} done\n{stderr.decode()[-2000:]}")
    last = max(clocks.done_at.values())
    return {
        "after_last": exited - last,
        "wall": exited - started,
        "last_done": last - started,
        "requests": len(sandbox.requests) - requests_before,
        "streams": sandbox.stream_connections - streams_before,
        "connections": connections.count - connections_before,
    }


def table(results: dict[str, list[dict[str, float]]]) -> str:
    """One row per waiter (medians over the runs), with ratios against the per-app pollers."""

    def median(waiter: str, key: str) -> float:
        return statistics.median(r[key] for r in results[waiter])

    rows = [
        "| waiter | connections | of them streams | requests | last app done | exit | exit - last app "
        "done | each run | wall ÷ last app done | exit - last done ÷ baseline | requests ÷ baseline "
        "| connections ÷ baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for waiter in WAITERS:
        runs = results[waiter]
        each = ", ".join(f"{r['after_last']:.3f}" for r in runs)
        rows.append(
            f"| {LABELS[waiter]} | {median(waiter, 'connections'):g} | {median(waiter, 'streams'):g} | "
            f"{median(waiter, 'requests'):g} | {median(waiter, 'last_done'):.1f} s | "
            f"{median(waiter, 'wall'):.1f} s | {median(waiter, 'after_last'):.3f} s | "
            f"{each} | "
            f"{statistics.median(r['wall'] / r['last_done'] for r in runs):.2f} | "
            f"{ratio(median(waiter, 'after_last'), median('pollers', 'after_last'))} | "
            f"{ratio(median(waiter, 'requests'), median('pollers', 'requests'))} | "
            f"{ratio(median(waiter, 'connections'), median('pollers', 'connections'))} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--spread", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    if args.apps < 1 or args.repeat < 1 or args.spread < 0:
        parser.error("--apps and --repeat must be at least 1, --spread not negative")
    results: dict[str, list[dict[str, float]]] = {waiter: [] for waiter in WAITERS}
    with tempfile.TemporaryDirectory(prefix="bench-await-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        fleet = Fleet(tmp, args.apps)
        selected = [app for app in fleet.apps if app.startswith("app-")]
        with ArgoCDSandbox(timing=TIMING, tokens=(TOKEN,)) as sandbox:
            connections = AcceptedConnections(sandbox)
            sandbox.store.register_repo(REPO_URL, fleet.bare)
            for app in fleet.apps:
                sandbox.store.add_application(fleet.application(app))
            # The first sync of every app over before the runs start: an app still syncing would
            # refresh (as Argo CD does after an operation) and pick up the run's commit early.
            settled = DoneClocks(sandbox, fleet.apps, git("rev-parse", "HEAD", cwd=fleet.work))
            sandbox.store.notify_push(REPO_URL)
            settle_until = time.monotonic() + 120
            while len(settled.done_at) < len(fleet.apps) and time.monotonic() < settle_until:
                time.sleep(0.05)
            settled.close()
            for index in range(args.repeat):
                for waiter in WAITERS:
                    result = one_run(
                        sandbox, connections, fleet, selected, waiter=waiter, spread=args.spread, tmp=tmp
                    )
                    results[waiter].append(result)
                    shown = ", ".join(
                        f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}"
                        for key, value in result.items()
                    )
                    print(f"run {index + 1}/{args.repeat} {waiter}: {shown}", flush=True)
            violations = list(sandbox.violations)
    rows = table(results)
    print(rows)
    one_stream = all(r["streams"] == 1 for r in results["stream"])
    print(f"one stream connection per wait: {'yes' if one_stream else 'NO'}")
    if violations:
        print(f"Swagger violations: {violations[:5]}")
        return 1
    if args.write_docs:
        options = [f"--repeat {args.repeat}"]
        options += [f"--apps {args.apps}"] if args.apps != 50 else []
        options += [f"--spread {args.spread:g}"] if args.spread != 10.0 else []
        section = (
            f"{HEADING}\n\n`.venv/bin/python benchmarks/bench_await_selector.py {' '.join(options)} "
            "--write-docs` (2-core "
            f"machine shared with other jobs). {args.apps} auto-synced Applications selected by "
            f"`{SELECTOR}` (5 more that do not match), one commit changing all of them, each refreshed "
            f"at a random moment within {args.spread:g} s after the waiter is up, then sync 0.3 s "
            f"and Progressing 0.5 s. {args.repeat} runs of each waiter, round-robin; medians.\n\n"
            + rows
            + "\n\n"
            f"The baseline is {args.apps} per-app pollers measured in the same run: what a pipeline "
            "does with one `argocd app wait` / `argocd app get` loop per application, here one "
            f"thread per app in one process, each with its own connection, a GET every "
            f"{POLL_INTERVAL:g} s from a random start within the first interval, until its app is "
            "Synced at the sha and Healthy. Connections are the TCP connections the emulator "
            "accepted during the wait, streams the watch connections among them; requests as the "
            "emulator counted them (a stream counts as one). Last app done and exit are measured "
            "from the moment the changes begin (the waiter, or every poller, has made its first "
            "request); wall ÷ last app done is the waiter's exit over the last app's done time "
            "(1.00 = no time lost). Every ÷ baseline column divides a waiter's median by the "
            "pollers' median.\n\n"
            f"One stream connection per wait: {'yes' if one_stream else 'NO'} (goal: 1, not "
            f"{args.apps} pollers). Polling by selector is one list request per tick, not one per app; "
            "`argocd app wait -l` waits for each application in its own goroutine with its own watch "
            "stream.\n"
        )
        replace_section(HEADING, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
