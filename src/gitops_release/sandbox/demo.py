"""``make demo``: the whole release flow on the local sandboxes, in well under a minute, with no
account and no network (everything listens on 127.0.0.1).

1. A GitHub API emulator (bare git remotes ``org/my-app`` and ``org/config``) and an Argo CD API
   emulator start on 127.0.0.1.
2. ``gitops-release init source-repo`` and ``init config-repo`` write the two repositories, which
   are committed and pushed as a new user would; the config repo's ``infra/argocd-apps``
   Applications (dev and stage auto-synced, prod manual) go into the Argo CD sandbox.
3. The source repo's build dispatches its release (``dispatch-update``: one POST); the config
   repo's workflow records it (``update-db``: db/db.json and the dev overlay, one commit); the
   same dispatch again changes nothing; a mutable tag is refused.
4. ``overlays status`` shows what runs where; ``promote-overlay`` opens the dev -> stage pull
   request (skipping stage is refused); a reviewer merges it.
5. Argo CD syncs the merge; ``await-argocd-sync`` waits with live progress until stage runs
   exactly that commit, Healthy; ``report-status`` posts the commit status (pending, then
   success) and the deployment (from the evidence), and the sandbox shows both.
6. Rollback of stage (seed 004: within 5 minutes), timed from the rollback command to Synced +
   Healthy, and reported the same way.
7. What runs where (environment by image, in Git and in Argo CD).
8. ``trace`` of the image it shipped: per environment, whether it is there (in Git and in Argo CD),
   since when, how it arrived (dispatch, pull request, rollback), what replaced it, and what
   disagrees (drift, deployments without a status); then the timeline of every step.

Every command runs as a real subprocess of this interpreter, exactly as a workflow step would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_release.sandbox.argocd import ArgoCDSandbox
from gitops_release.sandbox.argocd.applications import Timing
from gitops_release.sandbox.github import GitHubSandbox

CONFIG_REPO = "org/config"
SOURCE_REPO = "org/my-app"
APP = "my-app"
IMAGE = "ghcr.io/org/my-app"
# What Argo CD's Applications (written by init) name as their repoURL.
CONFIG_REPO_URL = f"https://github.com/{CONFIG_REPO}.git"
TOKEN = "sandbox-token"  # noqa: S105 - the local emulator's fixed token, not a secret
ARGOCD_TOKEN = "argocd-sandbox-token"  # noqa: S105 - the local emulator's token, not a secret
# The image the build would push (nothing is pushed offline): its digest stands in for the registry's.
DIGEST = "sha256:" + "3b" * 32
# Slow enough to watch: the sync takes 1 s, the rollout 1.5 s.
ARGOCD_TIMING = Timing(sync_duration=1.0, progressing_duration=1.5)
# Seed 004: "Rollback MUST be possible within 5 minutes".
ROLLBACK_GOAL_SECONDS = 5 * 60
# JSON outputs longer than this are cut in the demo's output (a workflow gets the whole value).
MAX_LINE = 150
# init's "created <file>" lines shown before the rest are folded into a count.
MAX_CREATED = 8
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Demo User",
    "GIT_AUTHOR_EMAIL": "demo@example.invalid",
    "GIT_COMMITTER_NAME": "Demo User",
    "GIT_COMMITTER_EMAIL": "demo@example.invalid",
}


@dataclass
class Timeline:
    """Each step's title and start, shown in its header and again, all together, at the end."""

    start: float = field(default_factory=time.monotonic)
    steps: list[tuple[float, str]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.start

    def step(self, title: str) -> None:
        offset = self.now()
        self.steps.append((offset, title))
        print(f"\n\033[1m== {title}\033[0m  (+{offset:.1f} s)", flush=True)

    def show(self) -> None:
        end = self.now()
        print("\n\033[1m== Timeline\033[0m (offset from the start, duration)")
        for index, (offset, title) in enumerate(self.steps):
            until = self.steps[index + 1][0] if index + 1 < len(self.steps) else end
            print(f"  +{offset:5.1f} s  {until - offset:4.1f} s  {title}")
        print(f"  total {end:.1f} s")


def _show_lines(text: str) -> None:
    """A command's output, minus what only a workflow needs: empty outputs (``comment-id=``) are
    left out, JSON outputs cut to one screen line, and a long file list folded."""
    created = 0
    for line in text.splitlines():
        name, equals, value = line.partition("=")
        if equals and name.replace("-", "").isalnum():
            if not value:
                continue
            if value[:1] in "{[" and len(line) > MAX_LINE:
                line = line[: MAX_LINE - 1] + "…"
        if line.lstrip().startswith("created "):
            created += 1
            if created > MAX_CREATED:
                continue
        else:
            if created > MAX_CREATED:
                print(f"      … and {created - MAX_CREATED} more (docs/init.md lists every file)", flush=True)
            created = 0
        print(f"  {line}", flush=True)
    if created > MAX_CREATED:
        print(f"      … and {created - MAX_CREATED} more (docs/init.md lists every file)", flush=True)


def _command(args: list[str]) -> list[str]:
    shown = " ".join(a if " " not in a and a else repr(a) for a in args)
    print(f"$ gitops-release {shown}", flush=True)
    return [sys.executable, "-m", "gitops_release", *args]


def _run(args: list[str], env: Mapping[str, str], cwd: Path, *, expect: int = 0) -> str:
    result = subprocess.run(
        _command(args),
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    _show_lines(result.stdout + result.stderr)
    if result.returncode != expect:
        raise SystemExit(f"demo: expected exit {expect}, got {result.returncode}")
    return result.stdout


def _run_live(args: list[str], env: Mapping[str, str], cwd: Path) -> None:
    """Like _run, but each line is shown as the command prints it (progress while it waits)."""
    with subprocess.Popen(
        _command(args),
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            _show_lines(line)
        code = process.wait(timeout=120)
    if code != 0:
        raise SystemExit(f"demo: expected exit 0, got {code}")


def _api(sandbox: GitHubSandbox, method: str, path: str, body: Mapping[str, object]) -> dict[str, Any]:
    """One request to the sandbox's API, as a reviewer's browser would send it."""
    request = urllib.request.Request(  # noqa: S310 - the sandbox's http://127.0.0.1 URL
        f"{sandbox.url}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={
            "Authorization": f"Bearer {TOKEN}",
            "Accept": "application/vnd.github+json",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1 sandbox
        result: dict[str, Any] = json.loads(response.read())
    return result


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_IDENTITY},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


def _sync(checkout: Path) -> str:
    """The checkout at the remote's main (promote-overlay leaves it on the branch it pushed)."""
    _git("fetch", "-q", "origin", cwd=checkout)
    _git("checkout", "-q", "-B", "main", "origin/main", cwd=checkout)
    return _git("rev-parse", "HEAD", cwd=checkout)


def _init_and_push(kind: str, flags: list[str], checkout: Path, message: str) -> str:
    """``gitops-release init <kind>`` in a clone, then commit and push (init's next step 1)."""
    _run(["init", kind, "--dir", str(checkout), *flags], {}, checkout)
    _git("add", "-A", cwd=checkout)
    _git("commit", "-q", "-m", message, cwd=checkout)
    _git("push", "-q", "origin", "main", cwd=checkout)
    sha = _git("rev-parse", "HEAD", cwd=checkout)
    print(f"  committed and pushed to the sandbox: {sha[:12]} {message!r}")
    return sha


def _show_github(sandbox: GitHubSandbox, sha: str, environment: str) -> None:
    """What GitHub (the sandbox) now shows for the commit and the environment."""
    print(f"  GitHub (sandbox) shows on {sha[:12]}:")
    for status in sandbox.statuses(CONFIG_REPO, sha):
        print(f"    commit status {status['context']}: {status['state']:<8} {status['description']}")
    for deployment in sandbox.deployments(CONFIG_REPO):
        if deployment["sha"] != sha or deployment["environment"] != environment:
            continue
        states = sandbox.deployment_statuses(CONFIG_REPO, deployment["id"])  # oldest first
        trail = " → ".join(s["state"] for s in states)
        newest = states[-1] if states else {}
        print(f"    deployment #{deployment['id']} to {environment}: {trail}")
        print(f"      {newest.get('description', '')}")
        print(f"      environment url: {newest.get('environment_url', '')}")


def _short(image: str) -> str:
    """``image:tag@sha256:<12 hex>``: the digest cut as overlays status shows it."""
    name, at, digest = image.partition("@")
    return f"{name}@{digest[:19]}" if at else name


def _show_argocd(argocd: ArgoCDSandbox) -> None:
    """What each environment's Application runs, next to the overlays' table (Git)."""
    print("  and what Argo CD (sandbox) runs:")
    print(f"    {'ENVIRONMENT':<12} {'APPLICATION':<14} {'STATE':<17} {'REVISION':<13} IMAGES")
    for env in ("dev", "stage", "prod"):
        status = argocd.store.get(f"{APP}-{env}")["status"]
        state = f"{status['sync']['status']} · {status['health']['status']}"
        shown = ", ".join(
            sorted(_short(i).rpartition("/")[2] for i in status.get("summary", {}).get("images", []))
        )
        revision = status["sync"].get("revision", "")[:12]
        print(f"    {env:<12} {APP + '-' + env:<14} {state:<17} {revision:<13} {shown}")


def main() -> int:
    timeline = Timeline()
    with tempfile.TemporaryDirectory(prefix="gitops-release-demo-") as tmp:
        root = Path(tmp)
        runner_temp = root / "runner-temp"  # where the wait writes its evidence (RUNNER_TEMP)
        runner_temp.mkdir()
        timeline.step("Start the sandboxes (127.0.0.1 only)")
        with (
            GitHubSandbox(root / "sandbox", tokens=(TOKEN,)) as sandbox,
            ArgoCDSandbox(timing=ARGOCD_TIMING, tokens=(ARGOCD_TOKEN,)) as argocd,
        ):
            print(f"  GitHub API sandbox: {sandbox.url}  (repositories {SOURCE_REPO} and {CONFIG_REPO})")
            print(f"  Argo CD API sandbox: {argocd.url}")
            sandbox.create_repo(SOURCE_REPO, files={"README.md": f"# {APP}\n"})
            sandbox.create_repo(CONFIG_REPO, files={"README.md": "# config\n"})

            timeline.step("init source-repo: the app's build-and-dispatch workflow")
            source = root / "my-app"
            _git("clone", "-q", sandbox.git_url(SOURCE_REPO), str(source), cwd=root)
            source_sha = _init_and_push(
                "source-repo",
                ["--config-repository", CONFIG_REPO],
                source,
                "ci: build and dispatch releases (gitops-release init source-repo)",
            )

            timeline.step("init config-repo: db, policy, overlays, Argo CD apps, workflows")
            checkout = root / "config"
            _git("clone", "-q", sandbox.git_url(CONFIG_REPO), str(checkout), cwd=root)
            _init_and_push(
                "config-repo",
                ["--repository", SOURCE_REPO, "--config-repository", CONFIG_REPO],
                checkout,
                "chore: gitops-release init config-repo",
            )
            config_git = Path(sandbox.git_url(CONFIG_REPO).removeprefix("file://"))
            argocd.store.register_repo(CONFIG_REPO_URL, config_git)
            for env in ("dev", "stage", "prod"):
                manifest = checkout / "infra/argocd-apps" / f"application-{env}.yaml"
                # Running what the overlays held at init: Synced + Healthy, no history yet.
                argocd.store.add_application(manifest.read_text(encoding="utf-8"), deployed=True)
            print("  kubectl apply -n argocd -k infra/argocd-apps, done in the Argo CD sandbox:")
            print(f"    Applications {APP}-dev and {APP}-stage (auto-sync), {APP}-prod (manual sync),")
            print(f"    repoURL {CONFIG_REPO_URL} served from the sandbox's remote")

            timeline.step("The source repo's build dispatches its release: dispatch-update")
            tag = f"sha-{source_sha[:8]}"
            print(f"  (building {source_sha[:12]} would push {IMAGE}:{tag}; offline, only its dispatch runs)")
            build_env = {
                "GITHUB_API_URL": sandbox.url,
                "GITHUB_REPOSITORY": SOURCE_REPO,
                "GITHUB_SHA": source_sha,
                "GITHUB_REF": "refs/heads/main",
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": "101",
                "INPUT_TOKEN": TOKEN,
            }
            dispatch_args = [
                "dispatch-update", "--repository", CONFIG_REPO, "--container", APP,
                "--image", IMAGE, "--tag", tag, "--digest", DIGEST,
            ]  # fmt: skip
            _run(dispatch_args, build_env, source)
            print(f"  sandbox recorded {len(sandbox.dispatches(CONFIG_REPO))} dispatch(es)")

            timeline.step("The config repo's workflow records it: update-db")
            event_path = root / "event.json"
            event_path.write_text(json.dumps(sandbox.event_json(CONFIG_REPO)), encoding="utf-8")
            config_env = {
                "GITHUB_EVENT_NAME": "repository_dispatch",
                "GITHUB_EVENT_PATH": str(event_path),
                # As the dev overlay's comment says: dev's overlay gets the image in the same commit.
                "INPUT_WRITE-THROUGH": "true",
            }
            _run(["update-db"], config_env, checkout)
            print("  the commit's change to the dev overlay (comments kept):")
            shown = _git("show", "--format=%h %s", "main", "--", "infra", cwd=config_git)
            for line in shown.splitlines():
                print(f"    {line}")
            argocd.store.notify_push(CONFIG_REPO_URL)  # the git webhook: Argo CD syncs dev

            timeline.step("The same dispatch again: idempotent, no commit")
            _run(["update-db"], config_env, checkout)

            timeline.step("A mutable tag is refused by policy; nothing is written")
            bad = json.loads(json.dumps(sandbox.event_json(CONFIG_REPO)["client_payload"]))
            bad["tag"] = "latest"
            _run(["update-db", "--payload", json.dumps(bad)], {}, checkout, expect=1)

            timeline.step("What runs where: overlays status (dev differs from stage)")
            _sync(checkout)
            _run(["overlays", "status"], {}, checkout)

            timeline.step("Promote dev → stage by pull request: promote-overlay")
            promote_env = {
                "GITHUB_API_URL": sandbox.url,
                "GITHUB_REPOSITORY": CONFIG_REPO,
                "INPUT_TOKEN": TOKEN,
            }
            _run(["promote-overlay", "--from-env", "dev", "--to-env", "stage"], promote_env, checkout)
            [pull] = sandbox.pulls(CONFIG_REPO)
            labels = ", ".join(label["name"] for label in pull["labels"])
            print(f"  sandbox pull request #{pull['number']}: {pull['title']!r}")
            print(f"    {pull['head']['ref']} -> {pull['base']['ref']}, labels: {labels}")

            timeline.step("Skipping stage is refused by policy; nothing is pushed")
            _run(
                ["promote-overlay", "--from-env", "dev", "--to-env", "prod"], promote_env, checkout, expect=1
            )

            timeline.step("A reviewer merges the pull request (in the sandbox)")
            merged = _api(sandbox, "PUT", f"/repos/{CONFIG_REPO}/pulls/{pull['number']}/merge", {})
            print(f"  merged: {merged['merged']}, merge commit {merged['sha'][:12]} on main")
            merge_sha = _sync(checkout)

            # The await-argocd-sync workflow of the merge commit (templates: await-argocd-sync.yml).
            workflow_env = {
                "GITHUB_API_URL": sandbox.url,
                "GITHUB_REPOSITORY": CONFIG_REPO,
                "GITHUB_SHA": merge_sha,
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": "201",
                "GITHUB_WORKSPACE": str(checkout),
                "RUNNER_TEMP": str(runner_temp),
            }
            report_env = {**workflow_env, "INPUT_TOKEN": TOKEN}
            context = f"argocd/{APP}-stage"
            timeline.step("report-status: stage's commit status pending, its deployment in progress")
            pending = [
                "report-status", "--state", "pending", "--context", context,
                "--description", "Waiting for Argo CD to sync stage",
                "--environment", "stage", "--deployment-state", "in_progress",
            ]  # fmt: skip
            _run(pending, report_env, checkout)

            timeline.step("Argo CD syncs the merge: await-argocd-sync waits for exactly that commit")
            argocd.store.notify_push(CONFIG_REPO_URL)  # the git webhook Argo CD gets on every push
            evidence = runner_temp / "argocd-evidence-stage.json"
            await_env = {**workflow_env, "INPUT_TOKEN": ARGOCD_TOKEN, "INPUT_EVIDENCE-PATH": str(evidence)}
            await_args = ["await-argocd-sync", "--server", argocd.url, "--applications", f"{APP}-stage"]
            _run_live(await_args, await_env, checkout)
            [app] = json.loads(evidence.read_text(encoding="utf-8"))["applications"]
            live = ", ".join(_short(image) for image in sorted(app["images"]["live"]))
            synced = app["revision"]["synced"][0][:12]
            print(f"  evidence: {app['name']} {app['verdict']} at {synced}, live {live}")

            timeline.step("report-status from the evidence: commit status and deployment success")
            final = [
                "report-status", "--job-status", "success", "--context", context,
                "--description", "Argo CD runs it in stage, Synced + Healthy",
                "--environment", "stage", "--from-evidence", str(evidence),
            ]  # fmt: skip
            _run(final, report_env, checkout)
            _show_github(sandbox, merge_sha, "stage")

            timeline.step("Rollback of stage: revert its last promotion (seed 004: within 5 minutes)")
            rollback_start = time.monotonic()
            rollback = ["promote-overlay", "--to-env", "stage", "--revert", "true", "--mode", "commit"]
            _run(rollback, promote_env, checkout)
            rollback_sha = _sync(checkout)
            argocd.store.notify_push(CONFIG_REPO_URL)
            # Seed 004's emergency path: revert in Git, Argo CD hard refresh, sync, verify health.
            rollback_env = {**await_env, "GITHUB_SHA": rollback_sha, "GITHUB_RUN_ID": "202"}
            _run_live([*await_args, "--refresh", "hard"], rollback_env, checkout)
            took = time.monotonic() - rollback_start
            print(
                f"  rollback took {took:.1f} s from the rollback command to {APP}-stage Synced + Healthy "
                f"(seed 004's goal: within {ROLLBACK_GOAL_SECONDS // 60} minutes = {ROLLBACK_GOAL_SECONDS} s)"
            )

            timeline.step("report-status from the rollback's evidence")
            report_rollback = {**report_env, "GITHUB_SHA": rollback_sha, "GITHUB_RUN_ID": "202"}
            _run(final, report_rollback, checkout)
            _show_github(sandbox, rollback_sha, "stage")

            timeline.step("Where each image runs now, per environment")
            _run(["overlays", "status"], {}, checkout)
            _show_argocd(argocd)

            timeline.step("trace: where is the image it shipped now, and how did it get there?")
            # Read only: the config repo's history, Argo CD's applications, GitHub's deployments.
            trace_env = {
                "GITHUB_API_URL": sandbox.url,
                "GITHUB_REPOSITORY": CONFIG_REPO,
                "GITHUB_TOKEN": TOKEN,
                "ARGOCD_TOKEN": ARGOCD_TOKEN,
            }
            shipped = f"{IMAGE}:{tag}@{DIGEST}"
            _run(["trace", shipped, "--argocd-server", argocd.url], trace_env, checkout)
            print("  and as Markdown (the step summary of actions/trace; GitHub draws the Mermaid gantt):")
            _run(
                ["trace", shipped, "--argocd-server", argocd.url, "--format", "markdown"], trace_env, checkout
            )

            # Every request and response above was checked against GitHub's OpenAPI description.
            if sandbox.violations:
                for violation in sandbox.violations:
                    print(f"  OpenAPI violation: {violation}")
                raise SystemExit("demo: the GitHub sandbox recorded OpenAPI violations")
            checked = "on" if sandbox.validate else f"off ({sandbox.note})"
            print(f"\n  {len(sandbox.requests)} API request(s), OpenAPI validation {checked}, 0 violations")
            if argocd.violations:
                for problem in argocd.violations:
                    print(f"  Argo CD contract violation: {problem}")
                raise SystemExit("demo: the Argo CD sandbox recorded contract violations")
            print(f"  {len(argocd.requests)} Argo CD API request(s), Swagger validation on, 0 violations")
    timeline.show()
    print("\ndemo finished: every step ran against the local sandboxes, nothing left the machine.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
