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
9. Skipping stage (dev -> prod) is refused by policy, before anything is pushed.
10. A rollback of stage (``revert: true``, mode commit: the emergency path), and the table again.

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

from gitops_release.sandbox.github import GitHubSandbox

CONFIG_REPO = "org/config"
SOURCE_REPO = "org/my-app"
TOKEN = "sandbox-token"  # noqa: S105 - the local emulator's fixed token, not a secret
SHA = "4f2c9d8e1b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d"
DIGEST = "sha256:" + "3b" * 32

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
        with GitHubSandbox(root / "sandbox", tokens=(TOKEN,)) as sandbox:
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
    print("\ndemo finished: every step ran against the local sandbox.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
