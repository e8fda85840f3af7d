"""await-argocd-sync on 50 applications by selector, converging at random times: one stream, not 50 pollers.

    .venv/bin/python benchmarks/bench_await_selector.py [--apps 50] [--spread 10] [--repeat 3] [--write-docs]

The Argo CD sandbox (Swagger validation on) holds ``--apps`` auto-synced Applications labelled
``part-of=bench`` (plus 5 others that do not match), each on its own plain-YAML path of one bare
repo. Each run pushes one commit that changes every app, starts ``gitops-release
await-argocd-sync --selector part-of=bench`` (stream on, refresh none), and once the command has
connected refreshes each app at a random moment within ``--spread`` seconds (the webhook reaching
the apps one by one, as with a slow controller): each app then syncs and turns Healthy on its
own schedule. A subscriber stamps the moment each app is done (``core.argocd.assess``).

Reported per run: stream connections the emulator saw (goal: exactly 1), the command's exit -
the LAST app's done time, total requests, and the same wait with ``stream: false`` (polling
every 5 s: one list request per tick by selector) for comparison.
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
from bench_await_latency import DEPLOYMENT, TOKEN, git  # noqa: E402

from gitops_release.core.argocd import Expectation, Verdict, assess, observe  # noqa: E402
from gitops_release.sandbox.argocd import ArgoCDSandbox  # noqa: E402
from gitops_release.sandbox.argocd.applications import Timing  # noqa: E402

HEADING = "## await-argocd-sync: 50 applications by selector"
REPO_URL = "https://git.example.invalid/org/fleet.git"
SELECTOR = "part-of=bench"
TIMING = Timing(reconcile_interval=0.05, sync_duration=0.3, progressing_duration=0.5)


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


def one_run(
    sandbox: ArgoCDSandbox, fleet: Fleet, selected: list[str], *, stream: bool, spread: float, tmp: Path
) -> dict[str, float]:
    sha = fleet.bump()
    argv = [
        sys.executable, "-m", "gitops_release", "await-argocd-sync",
        "--server", sandbox.url, "--selector", SELECTOR, "--expected-revision", sha,
        "--refresh", "none", "--timeout", "120s", "--stream", "true" if stream else "false",
        "--poll-interval", "5", "--evidence-path", str(tmp / "evidence.json"),
    ]  # fmt: skip
    requests_before = len(sandbox.requests)
    streams_before = sandbox.stream_connections
    clocks = DoneClocks(sandbox, selected, sha)
    process = subprocess.Popen(
        argv,
        env={**os.environ, "INPUT_TOKEN": TOKEN},
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    refreshers: list[threading.Thread] = []
    try:
        deadline = time.monotonic() + 30
        while len(sandbox.requests) == requests_before and time.monotonic() < deadline:
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
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=50)
    parser.add_argument("--spread", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="bench-await-fleet-") as tmp_name:
        tmp = Path(tmp_name)
        fleet = Fleet(tmp, args.apps)
        selected = [app for app in fleet.apps if app.startswith("app-")]
        with ArgoCDSandbox(timing=TIMING, tokens=(TOKEN,)) as sandbox:
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
                for stream in (True, False):
                    result = one_run(sandbox, fleet, selected, stream=stream, spread=args.spread, tmp=tmp)
                    results[stream].append(result)
                    print(f"run {index + 1} {'stream' if stream else 'poll 5s'}: {result}", flush=True)
            violations = list(sandbox.violations)
    rows = [
        "| waiter | stream connections | exit - last app done (median) | runs | requests (median) "
        "| last app done after |",
        "|---|---|---|---|---|---|",
    ]
    for stream, label in (
        (True, "stream (one connection, selector)"),
        (False, "poll 5s (one list per tick)"),
    ):
        runs = results[stream]
        each = ", ".join(f"{r['after_last']:.3f}" for r in runs)
        rows.append(
            f"| {label} | {', '.join(str(int(r['streams'])) for r in runs)} | "
            f"{statistics.median(r['after_last'] for r in runs):.3f} s | "
            f"{each} | "
            f"{statistics.median(r['requests'] for r in runs):.0f} | "
            f"{statistics.median(r['last_done'] for r in runs):.1f} s |"
        )
    table = "\n".join(rows)
    print(table)
    one_stream = all(r["streams"] == 1 for r in results[True])
    print(f"one stream connection per wait: {'yes' if one_stream else 'NO'}")
    if violations:
        print(f"Swagger violations: {violations[:5]}")
        return 1
    if args.write_docs:
        section = (
            f"{HEADING}\n\n`.venv/bin/python benchmarks/bench_await_selector.py --write-docs` (2-core "
            f"machine shared with other jobs). {args.apps} auto-synced Applications selected by "
            f"`{SELECTOR}` (5 more that do not match), one commit changing all of them, each refreshed "
            f"at a random moment within {args.spread:.0f} s after the command connected, then sync 0.3 s "
            f"and Progressing 0.5 s. {args.repeat} runs each.\n\n" + table + "\n\n"
            f"One stream connection per wait: {'yes' if one_stream else 'NO'} (goal: 1, not "
            f"{args.apps} pollers). Polling by selector is one list request per tick, not one per app; "
            "`argocd app wait -l` waits for each application in its own goroutine with its own watch "
            "stream, and a per-app `argocd app get` loop is one poller per application.\n"
        )
        replace_section(HEADING, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
