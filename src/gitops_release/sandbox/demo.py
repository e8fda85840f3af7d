"""``make demo``: the release flow end to end on the local sandbox — no account, no network.

1. Start the GitHub API emulator on 127.0.0.1 with a bare ``org/config`` remote (db.json, policy,
   kustomize overlays).
2. A "build" of ``org/my-app`` runs ``gitops-release dispatch-update`` (one POST /dispatches).
3. The recorded repository_dispatch event drives ``gitops-release update-db`` in a clone of the
   config repo: validated against the policy, committed to db/db.json (and the dev overlay),
   pushed with the race-safe loop.
4. The same dispatch again: nothing changes, no commit (idempotent).
5. A refused release (mutable tag ``latest``): one clear error, nothing written.
6. ``gitops-release db query`` shows the channel table.
7. ``gitops-release overlays status``: which image each environment's overlay runs.
8. ``gitops-release promote-overlay`` dev -> stage opens a pull request in the sandbox (branch
   ``promote/stage/<plan key>``, labels from the policy); a reviewer merges it (a real merge
   commit in the sandbox's bare repository). (A re-run reusing the pull request: tests/e2e.)
9. The Argo CD emulator, told of the push (the git webhook), syncs the merge commit to the
   auto-synced ``my-app-stage`` (rendered with kustomize); ``gitops-release await-argocd-sync``
   waits with live progress until stage runs exactly that commit, Healthy, and writes the
   evidence bundle.
10. Skipping stage (dev -> prod) is refused by policy, before anything is pushed.
11. A rollback of stage (``revert: true``, mode commit: the emergency path), and the table again.

Every command runs as a real subprocess of this interpreter, exactly as a workflow step would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops_release.sandbox.argocd import ArgoCDSandbox
from gitops_release.sandbox.argocd.applications import Timing
from gitops_release.sandbox.github import GitHubSandbox

CONFIG_REPO = "org/config"
SOURCE_REPO = "org/my-app"
TOKEN = "sandbox-token"  # noqa: S105 - the local emulator's fixed token, not a secret
SHA = "4f2c9d8e1b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
DIGEST = "sha256:" + "3b" * 32
ARGOCD_TOKEN = "argocd-sandbox-token"  # noqa: S105 - the local emulator's token, not a secret
# Slow enough to watch: the sync takes 1 s, the rollout 1.5 s.
ARGOCD_TIMING = Timing(sync_duration=1.0, progressing_duration=1.5)

POLICY = """\
# Release policy for this config repo (see docs/release-db.md).
channels: [dev, stage, prod]
sources:
  - repository: org/my-app
    containers: [my-app]
    images: [ghcr.io/org/my-app]
tags:
  immutable: true
  requireDigest: [prod]
overlays:
  dir: infra/argocd/overlays
promotion:
  environments:
    stage:
      labels: [promotion, stage]
"""

KUSTOMIZATION = """\
# {env} overlay: image tags are written by gitops-release {writer}
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: my-app-{env}
resources:
  - ../../base
images:
  - name: ghcr.io/org/my-app
    newTag: sha-00000000 # replaced on every {event}
"""
OVERLAYS = {
    f"infra/argocd/overlays/{env}/kustomization.yaml": KUSTOMIZATION.format(
        env=env, writer=writer, event=event
    )
    for env, writer, event in (
        ("dev", "update-db", "release"),
        ("stage", "promote-overlay", "promotion"),
        ("prod", "promote-overlay", "promotion"),
    )
}

# The base the overlays render: update-db renders the edited overlay with kubectl kustomize.
BASE_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-app
spec:
  selector:
    matchLabels: {app: my-app}
  template:
    metadata:
      labels: {app: my-app}
    spec:
      containers:
        - name: my-app
          image: ghcr.io/org/my-app:sha-00000000
"""


def _step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def _run(args: list[str], env: Mapping[str, str], cwd: Path, *, expect: int = 0) -> str:
    shown = " ".join(a if " " not in a else repr(a) for a in args)
    print(f"$ gitops-release {shown}", flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "gitops_release", *args],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    for line in (result.stdout + result.stderr).splitlines():
        print(f"  {line}")
    if result.returncode != expect:
        raise SystemExit(f"demo: expected exit {expect}, got {result.returncode}")
    return result.stdout


def _run_live(args: list[str], env: Mapping[str, str], cwd: Path) -> None:
    """Like _run, but each line is shown as the command prints it (progress while it waits)."""
    print(f"$ gitops-release {' '.join(args)}", flush=True)
    with subprocess.Popen(
        [sys.executable, "-m", "gitops_release", *args],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            print(f"  {line.rstrip()}", flush=True)
        code = process.wait(timeout=120)
    if code != 0:
        raise SystemExit(f"demo: expected exit 0, got {code}")


def _application(env: str, repo_url: str) -> dict[str, Any]:
    """The Argo CD Application of one environment: auto-sync of its overlay on main."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"my-app-{env}", "namespace": "argocd", "labels": {"env": env}},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "path": f"infra/argocd/overlays/{env}", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": f"my-app-{env}"},
            "syncPolicy": {"automated": {"prune": True}},
        },
    }


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


def _sync(checkout: Path) -> None:
    """The checkout at the remote's main (promote-overlay leaves it on the branch it pushed)."""
    _git("fetch", "-q", "origin", cwd=checkout)
    _git("checkout", "-q", "-B", "main", "origin/main", cwd=checkout)


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gitops-release-demo-") as tmp:
        root = Path(tmp)
        with (
            GitHubSandbox(root / "sandbox", tokens=(TOKEN,)) as sandbox,
            ArgoCDSandbox(timing=ARGOCD_TIMING, tokens=(ARGOCD_TOKEN,)) as argocd,
        ):
            _step(f"GitHub API sandbox on {sandbox.url}")
            sandbox.create_repo(SOURCE_REPO, files={"README.md": "my-app\n"})
            sandbox.create_repo(
                CONFIG_REPO,
                files={
                    "db/db.json": '{\n  "schemaVersion": 1,\n  "releases": []\n}\n',
                    ".gitops-release.yml": POLICY,
                    **OVERLAYS,
                    "infra/argocd/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
                    "infra/argocd/base/deployment.yaml": BASE_DEPLOYMENT,
                },
            )
            print(f"  config repo remote: {sandbox.git_url(CONFIG_REPO)}")
            config_url = sandbox.git_url(CONFIG_REPO)
            argocd.store.register_repo(config_url, Path(config_url.removeprefix("file://")))
            argocd.store.add_application(_application("stage", config_url))
            argocd.store.notify_push(config_url)
            print(f"  Argo CD sandbox on {argocd.url}: application my-app-stage (auto-sync) on that remote")

            _step("Source repo build finished: dispatch-update (one POST, standard library only)")
            build_env = {
                "GITHUB_API_URL": sandbox.url,
                "GITHUB_REPOSITORY": SOURCE_REPO,
                "GITHUB_SHA": SHA,
                "GITHUB_REF": "refs/heads/main",
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_RUN_ID": "1",
                "INPUT_TOKEN": TOKEN,
            }
            dispatch_args = [
                "dispatch-update", "--repository", CONFIG_REPO, "--container", "my-app",
                "--image", "ghcr.io/org/my-app", "--tag", "sha-4f2c9d8e", "--digest", DIGEST,
            ]  # fmt: skip
            _run(dispatch_args, build_env, root)
            print(f"  sandbox recorded {len(sandbox.dispatches(CONFIG_REPO))} dispatch(es)")

            _step("Config repo workflow: update-db on the repository_dispatch event")
            checkout = root / "config"
            _git("clone", "-q", sandbox.git_url(CONFIG_REPO), str(checkout), cwd=root)
            event_path = root / "event.json"
            event_path.write_text(json.dumps(sandbox.event_json(CONFIG_REPO)))
            config_env = {
                "GITHUB_EVENT_NAME": "repository_dispatch",
                "GITHUB_EVENT_PATH": str(event_path),
                "INPUT_WRITE-THROUGH": "true",
            }
            _run(["update-db"], config_env, checkout)
            remote_git = Path(sandbox.git_url(CONFIG_REPO).removeprefix("file://"))
            print("  the commit on the remote (db.json and the dev overlay, comments kept):")
            shown = _git("show", "--format=%h %s", "main", "--", "infra", cwd=remote_git)
            for line in shown.splitlines():
                print(f"    {line}")

            _step("The same dispatch again: idempotent, no commit")
            _run(["update-db"], config_env, checkout)

            _step("A mutable tag is refused by policy; nothing is written")
            bad = json.loads(json.dumps(sandbox.event_json(CONFIG_REPO)["client_payload"]))
            bad["tag"] = "latest"
            _run(["update-db", "--payload", json.dumps(bad)], {}, checkout, expect=1)

            _step("What is on which channel: db query")
            _git("pull", "-q", "--ff-only", cwd=checkout)
            _run(["db", "query"], {}, checkout)

            _step("What runs where: overlays status (dev differs from stage)")
            _run(["overlays", "status"], {}, checkout)

            _step("Promote dev -> stage by pull request: promote-overlay")
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

            _step("A reviewer merges the pull request (in the sandbox)")
            merged = _api(sandbox, "PUT", f"/repos/{CONFIG_REPO}/pulls/{pull['number']}/merge", {})
            print(f"  merged: {merged['merged']}, merge commit {merged['sha'][:12]} on main")
            _sync(checkout)
            _run(["overlays", "status"], {}, checkout)

            _step("Argo CD syncs the merge: await-argocd-sync waits for exactly that commit")
            argocd.store.notify_push(config_url)  # the git webhook Argo CD gets on every push
            await_env = {
                "INPUT_TOKEN": ARGOCD_TOKEN,
                "INPUT_EVIDENCE-PATH": str(root / "argocd-evidence.json"),
            }
            await_args = ["await-argocd-sync", "--server", argocd.url, "--applications", "my-app-stage"]
            _run_live(await_args, await_env, checkout)
            evidence = json.loads((root / "argocd-evidence.json").read_text(encoding="utf-8"))
            [app] = evidence["applications"]
            print(
                f"  evidence: {app['name']} {app['verdict']} at {app['revision']['synced'][0][:12]}, "
                f"live images {', '.join(app['images']['live'])}, history ids {app['historyIds']}"
            )

            _step("Skipping stage is refused by policy; nothing is pushed")
            skip = ["promote-overlay", "--from-env", "dev", "--to-env", "prod"]
            _run(skip, promote_env, checkout, expect=1)

            _step("Rollback: revert stage's last promotion (mode commit, the emergency path)")
            rollback = ["promote-overlay", "--to-env", "stage", "--revert", "true", "--mode", "commit"]
            _run(rollback, promote_env, checkout)
            _sync(checkout)
            _run(["overlays", "status"], {}, checkout)

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
    print("\ndemo finished: every step ran against the local sandbox.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
