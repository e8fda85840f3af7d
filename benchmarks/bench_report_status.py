"""report-status: requests per operation (counted by the sandbox), client-side sleeps, and
whole-process wall time against a bare urllib POST.

    .venv/bin/python benchmarks/bench_report_status.py [--pairs 20] [--write-docs]

Part 1, requests: each operation is one run of the real CLI (``python -I -m gitops_release
report-status``, INPUT_* variables, as scripts/action-run.sh starts it from its venv) against a
GitHub sandbox on 127.0.0.1 with OpenAPI validation on. The sandbox's own record
(``GitHubSandbox.requests``) is the count; each operation has the issue's bound and the script
exits 1 when a count exceeds it, a request was refused, or a process slept. That is a
correctness check, not a timing. Sleeps are counted inside the child: a ``sys.setprofile`` /
``threading.setprofile`` hook counts every call of ``time.sleep`` (whoever holds a reference to
it: PyGithub's write throttle, urllib3's and our retry back-off) and the seconds spent in it.

Part 2, wall time: the same commit status POST from ``gitops-release report-status`` and from a
standard-library script (``python3 bare_post.py``, urllib), ALTERNATELY (command, baseline, ...)
so a noisy machine slows both alike, against a second sandbox with OpenAPI validation off (the
validator's time would be added to both sides and flatter the ratio). For each run the sandbox
stamps the request's arrival; "arrival -> exit" is the time from the POST reaching the sandbox
to the process being reaped: the answer, writing outputs and interpreter shutdown, and any
sleep after the write. Part 3 runs the command under ``-X importtime`` (3 runs, median) and sums
the self time of every module by top-level package: where the start-up goes.

``--write-docs`` replaces the "report-status" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

from _docs import replace_section  # noqa: E402

from gitops_release.sandbox.github_api import GitHubSandbox  # noqa: E402
from gitops_release.sandbox.httpbase import RecordedRequest  # noqa: E402

HEADING = "## report-status"
TOKEN = "ghp_benchmarkToken0000000000000000000000"
REPO = "org/app"
APP_ID = 4242
INSTALLATION_ID = 77
RUN_URL = "https://github.com/org/app/actions/runs/99"
CONTEXT = "release-data-prep"
DESCRIPTION = "Release data prepared"

# The command's child: count time.sleep calls (and seconds slept) on every thread, then run the
# CLI exactly as `python -m gitops_release` would. The hook is set before gitops_release is
# imported, and it matches the function object, so a default argument bound to time.sleep at
# import time is caught too.
SLEEP_PROBE = """\
import os, sys, threading, time
_sleep = time.sleep
_count = [0, 0.0, 0.0]
def _hook(frame, event, arg):
    if arg is _sleep:
        if event == "c_call":
            _count[0] += 1
            _count[2] = time.perf_counter()
        elif event in ("c_return", "c_exception"):
            _count[1] += time.perf_counter() - _count[2]
sys.setprofile(_hook)
threading.setprofile(_hook)
from gitops_release.cli import main
try:
    rc = main(sys.argv[1:])
finally:
    sys.setprofile(None)
    with open(os.environ["SLEEP_REPORT"], "w") as report:
        report.write(f"{_count[0]} {_count[1]:.6f}")
sys.exit(rc)
"""

BARE_POST = """\
import json, os, urllib.request
body = json.dumps({"state": "success", "context": os.environ["CONTEXT"],
                   "description": os.environ["DESCRIPTION"], "target_url": os.environ["RUN_URL"]}).encode()
req = urllib.request.Request(os.environ["URL"], data=body, method="POST", headers={
    "Authorization": "Bearer " + os.environ["TOKEN"], "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28", "Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=30) as resp:
    assert resp.status == 201, resp.status
"""


class StampedRequests(list[RecordedRequest]):
    """The sandbox's request record, with the arrival time (perf_counter) of each request."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[float] = []
        self._lock = threading.Lock()

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            self.arrived.append(time.perf_counter())
            super().append(item)


@dataclass
class Row:
    operation: str
    auth: str
    bound: int
    sent: list[str]
    statuses: list[int]
    sleeps: int = 0
    slept: float = 0.0
    note: str = ""

    @property
    def ok(self) -> bool:
        refused = [s for s in self.statuses if s >= 400]
        return len(self.sent) <= self.bound and not refused and self.sleeps == 0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def git(git_dir: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def read_outputs(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: dict[str, str] = {}
    index = 0
    while index < len(lines):
        name, _, delimiter = lines[index].partition("<<")
        end = lines.index(delimiter, index + 1)
        found[name] = "\n".join(lines[index + 1 : end])
        index = end + 1
    return found


def app_key() -> tuple[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def open_pull(sandbox: GitHubSandbox, git_dir: Path, head: str) -> tuple[int, str]:
    """A branch one commit ahead of main and a pull request for it (set-up, not counted)."""
    tree = git(git_dir, "rev-parse", f"{head}^{{tree}}")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid"}
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.invalid")
    pr_head = subprocess.run(
        ["git", "--git-dir", str(git_dir), "commit-tree", tree, "-p", head, "-m", "feature"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.strip()  # fmt: skip
    git(git_dir, "update-ref", "refs/heads/feature", pr_head)
    request = urllib.request.Request(
        f"{sandbox.url}/repos/{REPO}/pulls",
        data=json.dumps({"base": "main", "head": "feature", "title": "feature"}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.loads(response.read())["number"]), pr_head


class Runner:
    """Starts one report-status process the way the action does and reports what it sent."""

    def __init__(self, sandbox: GitHubSandbox, tmp: Path, head: str) -> None:
        self.sandbox, self.tmp, self.head = sandbox, tmp, head
        self.base_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp),
            "LANG": "C.UTF-8",
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(tmp / "output.txt"),
            "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
            "GITHUB_API_URL": sandbox.url,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_SHA": head,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "99",
            "GITHUB_EVENT_NAME": "push",
        }

    def env(self, inputs: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(self.base_env)
        env["INPUT_TOKEN"] = TOKEN
        env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
        env.update(extra or {})
        return env

    def counted(
        self,
        operation: str,
        auth: str,
        bound: int,
        inputs: dict[str, str],
        extra: dict[str, str] | None = None,
    ) -> tuple[Row, dict[str, str]]:
        """One profiled run: the requests the sandbox recorded, the sleeps the child made, its outputs."""
        for name in ("output.txt", "summary.md"):
            (self.tmp / name).write_text("")
        report = self.tmp / "sleeps.txt"
        env = self.env(inputs, extra)
        env["SLEEP_REPORT"] = str(report)
        before = len(self.sandbox.requests)
        argv = [sys.executable, "-I", "-c", SLEEP_PROBE, "report-status"]
        done = subprocess.run(argv, env=env, cwd=self.tmp, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{operation}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        new = self.sandbox.requests[before:]
        sleeps, slept = report.read_text().split()
        row = Row(
            operation,
            auth,
            bound,
            sent=[f"{r.method} {short_path(r.path)}" for r in new],
            statuses=[r.status for r in new],
            sleeps=int(sleeps),
            slept=float(slept),
        )
        return row, read_outputs(self.tmp / "output.txt")


def short_path(path: str) -> str:
    """``/repos/org/app/deployments/1000/statuses?x`` -> ``deployments/{id}/statuses`` (readable table)."""
    path = path.split("?")[0].removeprefix(f"/repos/{REPO}/")
    parts = ["{id}" if p.isdigit() else ("{sha}" if len(p) == 40 else p) for p in path.split("/")]
    return "/".join(parts)


def count_requests(tmp: Path) -> list[Row]:
    rows: list[Row] = []
    private, public = app_key()
    key_file = tmp / "app.pem"
    key_file.write_text(private)
    with GitHubSandbox(tmp / "sandbox-counts", tokens=(TOKEN,)) as sandbox:
        git_dir = sandbox.create_repo(REPO, files={"README.md": "hello\n"})
        head = git(git_dir, "rev-parse", "refs/heads/main")
        sandbox.register_app(APP_ID, public, installations={REPO: INSTALLATION_ID})
        number, pr_head = open_pull(sandbox, git_dir, head)
        run = Runner(sandbox, tmp, head)

        row, _ = run.counted("commit status", "token", 1, {"state": "success", "description": DESCRIPTION})
        rows.append(row)
        deploy = {"commit_status": "false", "environment": "staging"}
        row, out = run.counted(
            "new deployment + its first status", "token", 3, {**deploy, "deployment_state": "in_progress"}
        )
        rows.append(row)
        row, again = run.counted(
            "reused deployment + status", "token", 2, {**deploy, "deployment_state": "success"}
        )
        if again.get("deployment-id") != out.get("deployment-id"):
            row.note = "NOT reused"
            row.bound = -1
        rows.append(row)
        row, _ = run.counted(
            "status on a known deployment-id",
            "token",
            1,
            {"commit_status": "false", "deployment_id": out["deployment-id"], "deployment_state": "success"},
        )
        rows.append(row)
        row, _ = run.counted(
            "always-final step: commit status + new deployment + status",
            "token",
            4,
            {"job_status": "success", "environment": "production"},
        )
        rows.append(row)

        event = tmp / "event.json"
        pull = {"number": number, "head": {"sha": pr_head}}
        event.write_text(json.dumps({"action": "synchronize", "number": number, "pull_request": pull}))
        pr_env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)}
        comment = {"commit_status": "false", "comment": "true", "context": f"{CONTEXT}/pr"}
        # 3: GET /user (whose comment is ours; once per process, each step is a process), list, write
        row, first = run.counted("PR comment, first", "token", 3, {**comment, "state": "pending"}, pr_env)
        row.note = f"comment-state {first.get('comment-state')}"
        rows.append(row)
        row, second = run.counted(
            "PR comment, new state", "token", 3, {**comment, "state": "success"}, pr_env
        )
        row.note = f"comment-state {second.get('comment-state')}"
        rows.append(row)
        # The same state again: the same body (it carries no time), so the list and no write.
        row, third = run.counted(
            "PR comment, nothing changed", "token", 2, {**comment, "state": "success"}, pr_env
        )
        row.note = f"comment-state {third.get('comment-state')}"
        if third.get("comment-state") != "not-updated":
            row.bound = -1
        rows.append(row)

        app = {"token": "", "app_id": str(APP_ID), "app_private_key_file": str(key_file)}
        row, _ = run.counted(
            "commit status", "App, installation discovered", 3, {**app, "state": "success", "context": "app"}
        )
        rows.append(row)
        row, _ = run.counted(
            "commit status",
            "App, installation-id given",
            2,
            {**app, "installation_id": str(INSTALLATION_ID), "state": "success", "context": "app-id"},
        )
        rows.append(row)
        row, _ = run.counted(
            "always-final step: commit status + new deployment + status",
            "App, installation discovered",
            6,
            {**app, "job_status": "failure", "environment": "app-env", "context": "app-final"},
        )
        rows.append(row)
        if sandbox.violations:
            raise SystemExit("OpenAPI violations:\n" + "\n".join(sandbox.violations))
    return rows


def count_table(rows: list[Row]) -> str:
    lines = [
        "| operation | auth | requests | bound | sent (in order) | sleep calls | |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        sleeps = f"{row.sleeps} ({row.slept * 1000:.0f} ms)"
        verdict = "ok" if row.ok else "**EXCEEDED**"
        note = f"; {row.note}" if row.note else ""
        lines.append(
            f"| {row.operation} | {row.auth} | {len(row.sent)} | <= {row.bound} | "
            f"{', '.join(row.sent)}{note} | {sleeps} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def reaped(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(start, exit) perf_counter of one child; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, stderr = process.communicate()
    end = time.perf_counter()
    if process.returncode != 0:
        raise SystemExit(f"{argv[:4]} exited {process.returncode}: {stderr.decode()[-2000:]}")
    return start, end


def wall_time(tmp: Path, pairs: int) -> dict[str, Any]:
    bare = tmp / "bare_post.py"
    bare.write_text(BARE_POST, encoding="utf-8")
    python = os.path.realpath(sys.executable)
    load = os.getloadavg()
    with GitHubSandbox(tmp / "sandbox-time", tokens=(TOKEN,), validate=False) as sandbox:
        stamped = StampedRequests()
        sandbox.requests = stamped
        git_dir = sandbox.create_repo(REPO, files={"README.md": "hello\n"})
        head = git(git_dir, "rev-parse", "refs/heads/main")
        run = Runner(sandbox, tmp, head)
        cmd_env = run.env({"state": "success", "description": DESCRIPTION})
        cmd_argv = [sys.executable, "-I", "-m", "gitops_release", "report-status"]
        bare_env = dict(run.base_env)
        bare_env.update(
            URL=f"{sandbox.url}/repos/{REPO}/statuses/{head}",
            TOKEN=TOKEN,
            CONTEXT=CONTEXT,
            DESCRIPTION=DESCRIPTION,
            RUN_URL=RUN_URL,
        )
        bare_argv = [python, str(bare)]
        sides: dict[str, tuple[list[str], dict[str, str]]] = {
            "cmd": (cmd_argv, cmd_env),
            "bare": (bare_argv, bare_env),
        }
        # One untimed warm-up each (page cache, bytecode of the venv's packages).
        for argv, env in sides.values():
            reaped(argv, env, tmp)
        times: dict[str, list[float]] = {"cmd": [], "bare": []}
        gaps: dict[str, list[float]] = {"cmd": [], "bare": []}
        for _ in range(pairs):
            for side, (argv, env) in sides.items():
                before = len(stamped)
                start, end = reaped(argv, env, tmp)
                if len(stamped) - before != 1 or stamped[before].status != 201:
                    raise SystemExit(f"{side}: expected one 201 POST, the sandbox saw {stamped[before:]}")
                times[side].append(end - start)
                gaps[side].append(end - stamped.arrived[before])
        statuses = sandbox.statuses(REPO, head)
        if len(statuses) != 2 * (pairs + 1) or {s["state"] for s in statuses} != {"success"}:
            raise SystemExit(f"the sandbox holds {len(statuses)} statuses, expected {2 * (pairs + 1)}")
        imports = import_time(tmp, cmd_env)
        shutdown = teardown(tmp, cmd_env)
    return {
        "python": f"{python} ({platform.python_version()})",
        "pairs": pairs,
        "times": times,
        "gaps": gaps,
        "imports": imports,
        "teardown": shutdown,
        "load": " / ".join(f"{x:.1f}" for x in load),
    }


#: Packages merged into one row (requests brings them all); any other module counts under its top-level name.
REQUESTS_FAMILY = {"requests", "urllib3", "idna", "charset_normalizer", "certifi"}
STDLIB = set(sys.stdlib_module_names)


def package_of(module: str) -> str:
    top = module.split(".")[0]
    if top in REQUESTS_FAMILY:
        return "requests + urllib3 + idna + charset_normalizer + certifi"
    if top in STDLIB or top.lstrip("_") in STDLIB:
        return "standard library"
    return top


def import_time(tmp: Path, runner_env: dict[str, str], runs: int = 3) -> dict[str, float]:
    """Median (over ``runs``) of the summed self import time per package group, in seconds."""
    per_run: list[dict[str, float]] = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-I", "-X", "importtime", "-m", "gitops_release", "report-status"],
            env=runner_env,
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"importtime run exited {done.returncode}: {done.stderr[-2000:]}")
        sums: dict[str, float] = {}
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            group = package_of(name)
            sums[group] = sums.get(group, 0.0) + int(self_us) / 1e6
        per_run.append(sums)
    groups = {g for run in per_run for g in run}
    return {g: statistics.median(run.get(g, 0.0) for run in per_run) for g in groups}


# main() returns -> the process is reaped: interpreter shutdown (atexit, module teardown, GC).
# FREEZE=1 does what src/gitops_release/__main__.py does before exiting.
EXIT_PROBE = """\
import gc, os, sys, time
from gitops_release.cli import main
rc = main(sys.argv[1:])
with open(os.environ["RETURNED_AT"], "w") as stamp:
    stamp.write(repr(time.perf_counter()))
if os.environ["FREEZE"] == "1":
    gc.freeze()
sys.exit(rc)
"""


def teardown(tmp: Path, runner_env: dict[str, str], runs: int = 7) -> dict[str, list[float]]:
    """Seconds from main() returning to the process being reaped, without and with ``gc.freeze()``
    (alternately). perf_counter is CLOCK_MONOTONIC on Linux: one clock for every process."""
    stamp = tmp / "returned_at.txt"
    gaps: dict[str, list[float]] = {"0": [], "1": []}
    for _ in range(runs):
        for freeze, found in gaps.items():
            env = {**runner_env, "RETURNED_AT": str(stamp), "FREEZE": freeze}
            _, end = reaped([sys.executable, "-I", "-c", EXIT_PROBE, "report-status"], env, tmp)
            found.append(end - float(stamp.read_text()))
    return gaps


def timing_table(result: dict[str, Any], imports: dict[str, float]) -> str:
    times: dict[str, list[float]] = result["times"]
    gaps: dict[str, list[float]] = result["gaps"]
    names = {
        "cmd": "gitops-release report-status (.venv python -I -m gitops_release)",
        "bare": "bare urllib POST, python3 script.py (baseline)",
    }
    lines = [
        f"interpreter: {result['python']}; {result['pairs']} alternating rounds; bytecode cached (as the",
        "action's venv after pip install); sandbox on 127.0.0.1, OpenAPI validation off for this part.",
        f"machine: {os.cpu_count()} cores, load average {result['load']} at the start (shared, noisy).",
        "",
        "| process | p50 | p90 | mean | arrival -> exit p50 | arrival -> exit max |",
        "|---|---|---|---|---|---|",
    ]
    for side, name in names.items():
        t, g = times[side], gaps[side]
        lines.append(
            f"| {name} | {statistics.median(t) * 1000:.0f} ms | {pct(t, 0.9) * 1000:.0f} ms | "
            f"{statistics.fmean(t) * 1000:.0f} ms | {statistics.median(g) * 1000:.1f} ms | "
            f"{max(g) * 1000:.1f} ms |"
        )
    ratio50 = statistics.median(times["cmd"]) / statistics.median(times["bare"])
    ratio90 = pct(times["cmd"], 0.9) / pct(times["bare"], 0.9)
    lines += ["", f"ratio report-status / baseline: p50 {ratio50:.1f}x, p90 {ratio90:.1f}x", ""]
    shutdown: dict[str, list[float]] = result["teardown"]
    lines += [
        "main() returned -> process reaped (interpreter shutdown), "
        f"{len(shutdown['0'])} runs each, alternating:",
        "",
        "| exit path | p50 | max |",
        "|---|---|---|",
    ]
    for freeze, name in (("0", "sys.exit(main())"), ("1", "gc.freeze(); sys.exit(...) (what __main__ does)")):
        gaps_ = shutdown[freeze]
        lines.append(f"| {name} | {statistics.median(gaps_) * 1000:.0f} ms | {max(gaps_) * 1000:.0f} ms |")
    lines.append("")
    total = sum(imports.values())
    lines += [
        "imports of one report-status run (-X importtime, self time per package, "
        f"median of 3 runs each): {total * 1000:.0f} ms",
        "",
        "| package | import time |",
        "|---|---|",
    ]
    ranked = sorted(imports.items(), key=lambda item: -item[1])
    for group, seconds in ranked[:8]:
        lines.append(f"| {group} | {seconds * 1000:.0f} ms |")
    rest = ranked[8:]
    if rest:
        lines.append(f"| {len(rest)} others | {sum(s for _, s in rest) * 1000:.0f} ms |")
    return "\n".join(lines) + "\n"


def write_docs(counts: str, timing: str) -> None:
    section = (
        f"{HEADING}\n\n"
        "`.venv/bin/python benchmarks/bench_report_status.py --write-docs`, on this project's 2-core\n"
        "machine shared with other jobs (noisy: the ratio and the counts are what to watch, not the\n"
        "milliseconds).\n\n"
        "### Requests per operation, counted by the sandbox\n\n"
        "Each row is one run of the real CLI in its own process (`gitops_release.cli.main` under\n"
        "the sleep-counting hook below, INPUT_* variables as the action sets them) against the\n"
        "GitHub sandbox with OpenAPI validation on; the count is the\n"
        "sandbox's own request record. The script exits 1 when a count exceeds its bound, a\n"
        "request is refused or a process sleeps.\n\n"
        f"{counts}\n"
        "* Sleep calls are counted in the child by a `sys.setprofile` / `threading.setprofile` hook\n"
        "  on `time.sleep` itself, set before gitops_release is imported: PyGithub's write throttle\n"
        "  (1 s between writes by default, which would cost ~2 s in the three-write rows), urllib3's\n"
        "  and our retry back-off all go through it. 0 everywhere: `github_client` turns the throttle\n"
        "  off and nothing retried.\n"
        "* App auth costs `GET /repos/{o}/{r}/installation` (skipped when `installation-id` is given)\n"
        "  and `POST /app/installations/{id}/access_tokens`, once per process: the always-final\n"
        "  step with App auth is the token step's 4 requests + 2, not 2 per request. Each step is a\n"
        "  new process, so each step pays them once.\n"
        "* The comment path first asks who the token is (`GET /user`; an App: `GET /app`), once per\n"
        "  process, so that only a marked comment written by that account is edited; not asked when\n"
        "  `comment-author` names it.\n"
        "* The comment body carries no time: a re-run with nothing changed renders the same body,\n"
        "  reads the comments and writes nothing (`comment-state not-updated`).\n\n"
        "### Whole-process wall time: one commit status\n\n"
        f"```\n{timing}```\n\n"
        '* "arrival -> exit" is the time from the POST reaching the sandbox to the process being\n'
        "  reaped (the answer, parsing it, writing GITHUB_OUTPUT and the step summary, interpreter\n"
        "  shutdown). A client-side sleep after the write would show here; with one write there is\n"
        "  none, and the sleep-call count above covers the multi-write steps.\n"
        "* Where the gap to the baseline goes. Imports: PyGithub's package `__init__` imports every\n"
        "  API object module (Repository, Organization, PullRequest, ...) although report-status\n"
        "  only uses its Requester; requests/urllib3 under it; jwt/cryptography for App auth, which\n"
        "  `adapters/github.py` imports at module level even for a token. `import github` runs the\n"
        "  whole package, so no small change in our code cuts it; what would is sending\n"
        "  report-status's few requests through the standard-library client dispatch-update uses\n"
        "  (`adapters/http.py`), keeping PyGithub for commands that need its objects (not done here:\n"
        "  that is the adapter's design, not a benchmark fix).\n"
        "* Shutdown: after `main()` returns, the interpreter's shutdown collections walk the ~40,000\n"
        "  objects those packages left behind, again and again: the first row of the shutdown table.\n"
        "  `python -m gitops_release` (how action-run.sh and the container start every command except\n"
        "  dispatch-update) now calls `gc.freeze()` before `sys.exit`, the second row: atexit\n"
        "  handlers, module teardown and the flush of stdout/stderr still run\n"
        "  (tests/unit/test_main_module.py). The timed runs above already include it.\n"
        "* The venv's one-time creation per job (`pip install`) is not in these numbers.\n"
    )
    replace_section(HEADING, section)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=20, help="alternating timed rounds (default 20)")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-status-") as tmp_name:
        tmp = Path(tmp_name)
        rows = count_requests(tmp)
        counts = count_table(rows)
        print(counts)
        result = wall_time(tmp, args.pairs)
    timing = timing_table(result, result["imports"])
    print(timing, end="")
    failed = [row for row in rows if not row.ok]
    if args.write_docs and not failed:
        write_docs(counts, timing)
        print(f"wrote the {HEADING!r} section of docs/benchmarks.md")
    for row in failed:
        print(f"FAILED: {row.operation} ({row.auth}): {len(row.sent)} requests > {row.bound}, "
              f"statuses {row.statuses}, {row.sleeps} sleep calls", file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
