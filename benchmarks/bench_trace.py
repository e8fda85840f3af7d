"""trace on a big config repo: 10,000 commits, 200 apps x 3 environments, no server.

    .venv/bin/python benchmarks/bench_trace.py [--commits 10000] [--apps 200] [--repeat 5]
        [--floor-repeat 1] [--write-docs]

Builds (once, cached under the system temp dir, keyed by the parameters) a config repository with
``git fast-import`` in the formats the real commands write: update-db's db.json (dump_db of
apply_releases, one entry per container and channel, ~300 KB) and its commit messages, with
write-through of the dev overlay; promote-overlay's kustomization edits, release manifests and
``Gitops-Release-Promotion`` trailers, landed as pull requests merged with a merge commit (most)
or squash-merged (``(#n)`` subjects); rollbacks. Then times the command as users run it,
``python -m gitops_release trace <query> --repo-dir <repo> --format json`` in a fresh process
(imports, input parsing, the head policy's read, the join and the JSON output included: what a
person waits for), beside the engine alone (``read_history`` + ``build_trace`` in another fresh
process, timed inside it), medians of ``--repeat`` runs:

* a trace of a recent image, of an old image (a bare tag replaced everywhere long ago), of a
  container, and of an image that was never released (a reference, and a bare tag: the bare tag
  needs the db.json scan of every version);
* the same with ``exhaustive=True`` (every db.json version read);
* the floor the issue names: ``git log -p`` of the same paths (db.json, the policy, the overlays
  root), first-parent, output discarded.

``--write-docs`` replaces the "trace" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "src"))

from _docs import replace_section  # noqa: E402

from gitops_release.commands.promote_overlay import TRAILER  # noqa: E402
from gitops_release.commands.update_db import DEFAULT_COMMIT_MESSAGE, render_message  # noqa: E402
from gitops_release.core.db import ReleaseDB, apply_releases, dump_db  # noqa: E402
from gitops_release.core.release import Release, Source  # noqa: E402

HEADING = "## trace"
ENVS = ("dev", "staging", "prod")
POLICY = "channels: [dev, staging, prod]\noverlays:\n  dir: apps/*/overlays\n"
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
PATHS = ("db/db.json", ".gitops-release.yml", "apps")


def _tag(counter: int) -> str:
    return "sha-" + hashlib.sha256(str(counter).encode()).hexdigest()[:8]


def _release(app: str, channel: str, tag: str) -> Release:
    sha = hashlib.sha256(tag.encode()).hexdigest()[:40]  # a git commit sha: 40 hex
    return Release(
        container=app,
        channel=channel,
        image=f"ghcr.io/org/{app}",
        tag=tag,
        digest="sha256:" + hashlib.sha256(tag.encode()).hexdigest(),
        source=Source(
            repository=f"org/{app}",
            sha=sha,
            ref="refs/heads/main",
            run_url=f"https://github.com/org/{app}/actions/runs/{int(sha[:8], 16)}",
        ),
    )


def _kustomization(app: str, tag: str, digest: str) -> str:
    return (
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\n"
        f"images:\n  - name: ghcr.io/org/{app}\n    newTag: {tag}\n    digest: {digest}\n"
    )


def _manifest(env: str, source_env: str | None, kind: str, app: str, tag: str, digest: str, when: str) -> str:
    image = {
        "app": app,
        "image": f"ghcr.io/org/{app}",
        "newName": None,
        "tag": tag,
        "digest": digest,
        "reference": f"ghcr.io/org/{app}:{tag}@{digest}",
        "file": f"apps/{app}/overlays/{env}/kustomization.yaml",
        "kind": kind,
        "sourceEnvironment": source_env,
        "sourceCommit": None,
    }
    doc = {
        "schemaVersion": 1,
        "environment": env,
        "sourceEnvironment": source_env,
        "kind": kind,
        "images": [image],
        "sourceCommit": None,
        "pullRequest": None,
        "promotedAt": when,
    }
    return json.dumps(doc, indent=2) + "\n"


class _Stream:
    """A fast-import stream: db.json blobs go out at once (consecutive, so fast-import deltas them
    against each other); commits are kept and written after them."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None
        self.out = proc.stdin
        self.commits: list[bytes] = []
        self.mark = 0
        self.count = 0

    def blob(self, data: bytes) -> int:
        self.mark += 1
        self.out.write(b"blob\nmark :%d\ndata %d\n" % (self.mark, len(data)) + data + b"\n")
        return self.mark

    def commit(
        self,
        ref: str,
        when: datetime,
        author: str,
        message: str,
        files: dict[str, str | int],
        *,
        parent: int | None,
        merge: int | None = None,
    ) -> int:
        self.mark += 1
        self.count += 1
        stamp = int(when.timestamp())
        msg = message.encode()
        parts = [
            f"commit {ref}\nmark :{self.mark}\n".encode(),
            f"author {author} <{author}@example.invalid> {stamp} +0000\n".encode(),
            f"committer {author} <{author}@example.invalid> {stamp} +0000\n".encode(),
            b"data %d\n" % len(msg) + msg + b"\n",
        ]
        if parent is not None:
            parts.append(f"from :{parent}\n".encode())
        if merge is not None:
            parts.append(f"merge :{merge}\n".encode())
        for path, content in sorted(files.items()):
            if isinstance(content, int):
                parts.append(f"M 100644 :{content} {path}\n".encode())
            else:
                data = content.encode()
                parts.append(f"M 100644 inline {path}\n".encode() + b"data %d\n" % len(data) + data + b"\n")
        self.commits.append(b"".join(parts) + b"\n")
        return self.mark


def build_repo(path: Path, commits: int, apps: int, seed: int = 13) -> dict[str, str]:
    """The history (see the module docstring); returns the queries' values."""
    rng = random.Random(seed)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=path, stdin=subprocess.PIPE)
    stream = _Stream(proc)
    names = [f"app-{i:03d}" for i in range(apps)]
    clock = START
    counter = 0
    state: dict[tuple[str, str], tuple[str, str]] = {}
    history: dict[tuple[str, str], list[str]] = {}
    releases = []
    for app in names:
        for env in ENVS:
            counter += 1
            tag = _tag(counter)
            releases.append(_release(app, env, tag))
            state[(app, env)] = (tag, releases[-1].digest or "")
            history[(app, env)] = [tag]
    db, _ = apply_releases(ReleaseDB(()), releases, now=clock)
    files: dict[str, str | int] = {
        ".gitops-release.yml": POLICY,
        "db/db.json": stream.blob(dump_db(db).encode()),
    }
    for (app, env), (tag, digest) in state.items():
        files[f"apps/{app}/overlays/{env}/kustomization.yaml"] = _kustomization(app, tag, digest)
        files[f"apps/{app}/base/kustomization.yaml"] = "resources: []\n"
    main = stream.commit("refs/heads/main", clock, "admin", "init config repo", files, parent=None)
    pr = 0
    first_tags: dict[str, str] = {}
    while stream.count < commits:
        clock += timedelta(minutes=rng.randint(5, 60))
        roll = rng.random()
        app = names[rng.randrange(apps)]
        if roll < 0.6 or stream.count > commits - 2:
            # dispatch -> update-db (dev with write-through; 10% to staging/prod, db only)
            counter += 1
            channel = "dev" if rng.random() < 0.9 else rng.choice(ENVS[1:])
            release = _release(app, channel, _tag(counter))
            db, changes = apply_releases(db, [release], now=clock)
            files = {"db/db.json": stream.blob(dump_db(db).encode())}
            if channel == "dev":
                files[f"apps/{app}/overlays/dev/kustomization.yaml"] = _kustomization(
                    app, release.tag, release.digest or ""
                )
                state[(app, "dev")] = (release.tag, release.digest or "")
                history[(app, "dev")].append(release.tag)
            first_tags.setdefault(app, release.tag)
            message = render_message(DEFAULT_COMMIT_MESSAGE, changes)
            main = stream.commit("refs/heads/main", clock, "github-actions[bot]", message, files, parent=main)
            continue
        source, target = ("dev", "staging") if rng.random() < 0.6 else ("staging", "prod")
        if roll < 0.95:
            kind, tag, digest = "promote", *state[(app, source)]
        else:
            kind = "rollback"
            past = history[(app, target)]
            tag = past[-2] if len(past) > 1 else past[-1]
            digest = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
            source = None  # type: ignore[assignment]
        if state[(app, target)] == (tag, digest):
            continue
        state[(app, target)] = (tag, digest)
        history[(app, target)].append(tag)
        pr += 1
        when = clock.strftime("%Y-%m-%dT%H:%M:%SZ")
        files = {
            f"apps/{app}/overlays/{target}/kustomization.yaml": _kustomization(app, tag, digest),
            f"apps/{app}/overlays/{target}/release-manifest.json": _manifest(
                target, source, kind, app, tag, digest, when
            ),
        }
        title = f"{kind}: {app} {source or 'pin'} -> {target} ({tag})"
        message = (
            f"{title}\n\n| image | from | to |\n\n{TRAILER}: kind={kind} to={target} key={app}-{target}\n"
        )
        person = rng.choice(("alice", "bob", "carol"))
        if kind == "promote" and roll < 0.85:
            branch = stream.commit(
                f"refs/heads/promote/{pr}", clock, "github-actions[bot]", message, files, parent=main
            )
            clock += timedelta(minutes=rng.randint(5, 120))
            merge_message = f"Merge pull request #{pr} from org/promote/{pr}\n\n{title}"
            # fast-import does not merge: the merge's tree is its first parent's plus these files.
            main = stream.commit(
                "refs/heads/main", clock, person, merge_message, files, parent=main, merge=branch
            )
        else:
            squash = f"{title} (#{pr})\n\n{message.split(chr(10), 2)[2]}"
            main = stream.commit("refs/heads/main", clock, person, squash, files, parent=main)
    assert proc.stdin is not None
    for chunk in stream.commits:
        proc.stdin.write(chunk)
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "-C", str(path), "reset", "-q", "--hard", "main"], check=True)
    app = "app-042"
    old_app = "app-007"
    return {
        "recent": f"ghcr.io/org/{app}:{state[(app, 'dev')][0]}",
        "old": history[(old_app, "dev")][1] if len(history[(old_app, "dev")]) > 1 else first_tags[old_app],
        "container": app,
        "never (reference)": f"ghcr.io/org/{app}:sha-00000000",
        "never (bare tag)": "sha-nothere0",
        "commits": str(stream.count),
    }


ONE = """
import json, sys, time
started = time.perf_counter()
from datetime import datetime, timezone
from gitops_release.adapters.trace_history import read_history
from gitops_release.core.trace import build_trace, parse_query
imported = time.perf_counter()
query = parse_query(sys.argv[2])
history = read_history(sys.argv[1], query, exhaustive=sys.argv[3] == "1")
result = build_trace(query, history, argo=None, deployments=None, since=None, environments=None,
                     limit=None, now=datetime.now(timezone.utc))
done = time.perf_counter()
print(json.dumps({"engine": done - imported, "found": result.found, "blobs": history.blobs_read,
                  "commits": history.commits_read,
                  "changes": len(history.db_changes) + len(history.overlay_changes)}))
"""


def run_one(repo: Path, query: str, exhaustive: bool) -> tuple[float, dict[str, object]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", ONE, str(repo), query, "1" if exhaustive else "0"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    wall = time.perf_counter() - started
    return wall, json.loads(done.stdout)


# What the command would read from the environment to reach a server: a benchmark with no server.
_SERVER_ENV = ("ARGOCD_SERVER", "ARGOCD_TOKEN", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_ACTIONS")


def run_command(repo: Path, query: str, exhaustive: bool) -> tuple[float, bool]:
    """Wall time of ``python -m gitops_release trace`` (the way users run it), and its ``found``."""
    env = {k: v for k, v in os.environ.items() if k not in _SERVER_ENV and not k.startswith("INPUT_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    argv = [sys.executable, "-m", "gitops_release", "trace", query, "--repo-dir", str(repo)]
    argv += ["--format", "json", *(["--exhaustive"] if exhaustive else [])]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True, env=env, cwd=repo)
    wall = time.perf_counter() - started
    return wall, bool(json.loads(done.stdout)["found"])


def floor(repo: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["git", "--no-pager", "log", "-p", "--first-parent", "--", *PATHS],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--floor-repeat", type=int, default=1)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    cache = Path(tempfile.gettempdir()) / "gitops-release-bench-trace" / f"c{args.commits}-a{args.apps}-v4"
    repo = cache / "repo"
    queries_file = cache / "queries.json"
    if not queries_file.exists():
        if cache.exists():
            subprocess.run(["rm", "-rf", str(cache)], check=True)
        started = time.perf_counter()
        queries = build_repo(repo, args.commits, args.apps)
        queries_file.write_text(json.dumps(queries))
        print(f"built {repo} in {time.perf_counter() - started:.1f} s", flush=True)
    queries = json.loads(queries_file.read_text())
    size = subprocess.run(
        ["git", "-C", str(repo), "show", "HEAD:db/db.json"], capture_output=True, check=True
    )
    total = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--count", "--all"], capture_output=True, text=True
    )
    first_parent = subprocess.run(
        ["git", "-C", str(repo), "rev-list", "--count", "--first-parent", "HEAD"],
        capture_output=True,
        text=True,
    )
    print(
        f"repo: {total.stdout.strip()} commits ({first_parent.stdout.strip()} first-parent), "
        f"{args.apps} apps, "
        f"db.json {len(size.stdout) / 1024:.0f} KB at head",
        flush=True,
    )
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import gitops_release.adapters.trace_history, gitops_release.core.trace"],
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
        check=True,
    )
    import_s = time.perf_counter() - started
    floors = [floor(repo) for _ in range(args.floor_repeat)]
    floor_median = statistics.median(floors)
    print(f"floor: git log -p of {' '.join(PATHS)}: {floor_median:.2f} s", flush=True)
    rows = []
    for name in ("recent", "old", "container", "never (reference)", "never (bare tag)"):
        query = queries[name]
        command = [run_command(repo, query, False) for _ in range(args.repeat)]
        engine = [run_one(repo, query, False) for _ in range(args.repeat)]
        slow = [run_command(repo, query, True) for _ in range(max(1, args.repeat // 2))]
        command_wall = statistics.median(w for w, _ in command)
        engine_wall = statistics.median(w for w, _ in engine)
        engine_inner = statistics.median(float(info["engine"]) for _, info in engine)  # type: ignore[arg-type]
        slow_wall = statistics.median(w for w, _ in slow)
        info = engine[0][1]
        if command[0][1] != info["found"]:
            print(
                f"!! {name}: the command says found={command[0][1]}, the engine {info['found']}", flush=True
            )
        row = (
            name,
            query if len(query) < 40 else query[:37] + "…",
            str(command[0][1]).lower(),
            f"{command_wall:.2f}",
            f"{engine_wall:.2f}",
            f"{engine_inner:.2f}",
            str(info["blobs"]),
            f"{slow_wall:.2f}",
            f"{command_wall / floor_median:.3f}",
            f"{slow_wall / command_wall:.1f}x",
            "yes" if command_wall <= 1.0 else "**no**",
        )
        rows.append(row)
        print("  ".join(row), flush=True)
    headers = (
        "query",
        "value",
        "found",
        "command s",
        "engine s (process)",
        "engine s (inner)",
        "blobs read",
        "--exhaustive s",
        "trace / floor",
        "exhaustive / trace",
        "<= 1 s",
    )
    table = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    table += ["| " + " | ".join(f"`{c}`" if i == 1 else c for i, c in enumerate(row)) + " |" for row in rows]
    print("\n".join(table))
    if args.write_docs:
        machine = (
            f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}"
        )
        section = (
            f"{HEADING}\n\n"
            "`benchmarks/bench_trace.py`: a config repository built with `git fast-import` in the formats "
            "update-db and promote-overlay write (db.json with one entry per container and channel, "
            "update-db's commit messages with write-through of the dev overlay, promotions as pull requests "
            "merged with a merge commit or squash-merged, with trailers and release manifests, rollbacks): "
            f"{total.stdout.strip()} commits ({first_parent.stdout.strip()} first-parent), "
            f"{args.apps} apps x 3 environments, db.json {len(size.stdout) / 1024:.0f} KB at head. "
            "No server. `command s` is the command as users run it, "
            "`python -m gitops_release trace <query> --repo-dir <repo> --format json` in a fresh process "
            "(imports, input parsing, the head policy, the join, the JSON output); `engine s (process)` "
            "is read_history + build_trace in a fresh process, `engine s (inner)` the same timed inside "
            "it (imports excluded); `--exhaustive s` is the command with `--exhaustive`. "
            f"Medians of {args.repeat} runs ({max(1, args.repeat // 2)} for `--exhaustive`). The floor is "
            f"`git log -p --first-parent -- {' '.join(PATHS)}` with its output discarded: "
            f"**{floor_median:.2f} s** (median of {args.floor_repeat}). {machine}; load average "
            f"{load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after (other work shared the "
            f"cores). A bare `python -c 'import gitops_release.adapters.trace_history'` takes "
            f"{import_s:.2f} s here (jsonschema and ruamel.yaml are no longer imported with it): most of "
            "the difference between the two engine columns.\n\n"
            + "\n".join(table)
            + "\n\nGoal: one trace <= 1 s (column `<= 1 s`, on `command s`). What the engine does: "
            "one `git log --raw` of db.json and the policy together (no rename detection), the segment "
            "search over db.json's versions cut first at the commits whose message names the container "
            "(update-db's messages do; every segment is still verified by reading its ends), so about "
            "110 of ~5,600 db.json versions are read, in a few `cat-file --batch` calls (a batch over "
            "4 MiB is split over two processes); meanwhile a second `git log --raw -M` of only the "
            "container's app directories (every layout the policy had); overlay versions that change only "
            "plain `newTag`/`digest`/`newName` values (promote-overlay changes tag and digest together) "
            "are not parsed again. jsonschema and ruamel.yaml are imported on a worker thread while git "
            "lists the history. The `old` row is a bare tag no db.json entry holds at head: `git log -S` "
            "over every path but db.json (started beside the db.json log) lists the overlay files that "
            "ever held it, and only those files' histories are read to find its container (through the "
            "command too since REVIEW13b #1: its git ran with GIT_LITERAL_PATHSPECS=1, which made that "
            "log's `:(literal)` pathspecs file names, so it listed nothing and the command paid the "
            "db.json search below). The "
            '`never (bare tag)` row must look at every db.json version to say "not found" (the answer '
            "says so in a note): `git grep -F` over the db.json versions in two processes, only the "
            'versions it names are read (none here). Every "not found" pays that search, a '
            "never-released reference (`image:tag`) included, whose container its repository names: "
            "the segment search alone could miss an entry slipped into db.json and put back by hand "
            "(docs/trace.md), so only found answers take the fast path alone. `--exhaustive` reads "
            "every version of each entry (docs/trace.md: the assumption behind the segment search). "
            "The machine is shared: compare runs by the `trace / floor` column, measured in the same "
            "run.\n\n"
            "Run: `.venv/bin/python benchmarks/bench_trace.py [--repeat 5] [--write-docs]` (the repository "
            "is built once, ~20 s, and cached in the temp dir).\n"
        )
        replace_section(HEADING, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
