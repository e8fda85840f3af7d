"""A config repository built commit by commit in the formats update-db and promote-overlay write
(db.json, their commit messages and trailers, kustomize overlays, release manifests), for the
trace history reader's tests and benchmark-like property tests."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gitops_release.adapters.git import CommitIdentity, Git
from gitops_release.commands.promote_overlay import TRAILER
from gitops_release.commands.update_db import DEFAULT_COMMIT_MESSAGE, render_message
from gitops_release.core.db import ReleaseDB, apply_releases, dump_db, empty_db
from gitops_release.core.release import Release, Source

POLICY = "channels: [dev, staging, prod]\noverlays:\n  dir: apps/*/overlays\n"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def kustomization(images: dict[str, tuple[str | None, str | None]]) -> str:
    """A kustomization with one images: entry per name -> (newTag, digest)."""
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources: [../../base]"]
    if images:
        lines.append("images:")
        for name, (tag, digest) in sorted(images.items()):
            lines.append(f"- name: {name}")
            if tag is not None:
                lines.append(f"  newTag: {tag}")
            if digest is not None:
                lines.append(f"  digest: {digest}")
    return "\n".join(lines) + "\n"


def release(
    container: str, channel: str, tag: str, *, sha: str | None = None, digest: str | None = None
) -> Release:
    return Release(
        container=container,
        channel=channel,
        image=f"ghcr.io/org/{container}",
        tag=tag,
        digest=digest,
        source=Source(repository=f"org/{container}", sha=sha or (tag.encode().hex() * 40)[:40]),
    )


class ConfigRepo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git = Git(path)
        self.git.run("init", "-q", "-b", "main")
        self.db: ReleaseDB = empty_db()
        self.clock = START
        self.overlays: dict[tuple[str, str], dict[str, tuple[str | None, str | None]]] = {}

    def tick(self, hours: float = 1) -> datetime:
        self.clock += timedelta(hours=hours)
        return self.clock

    def _git_at(self, when: datetime, author: str = "github-actions[bot]") -> Git:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        return Git(
            self.path,
            env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
            identity=CommitIdentity(author, f"{author}@example.invalid"),
        )

    def write(self, files: dict[str, str | None]) -> None:
        for rel, text in files.items():
            target = self.path / rel
            if text is None:
                if target.exists():
                    target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def commit(
        self, files: dict[str, str | None], message: str, *, author: str = "github-actions[bot]"
    ) -> str:
        self.write(files)
        git = self._git_at(self.tick(), author)
        git.run("add", "-A")
        git.run("commit", "-q", "--allow-empty", "-m", message)
        return git.head()

    def dated_commit_object(self, epoch: int, message: str) -> str:
        """A commit of the working tree on HEAD dated ``epoch`` seconds, written with hash-object
        (``git commit`` refuses dates it cannot parse) and not yet on any ref: its id."""
        run = {"cwd": self.path, "check": True, "capture_output": True, "text": True}
        subprocess.run(["git", "add", "-A"], **run)  # type: ignore[call-overload]
        tree = subprocess.run(["git", "write-tree"], **run).stdout.strip()  # type: ignore[call-overload]
        parent = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()  # type: ignore[call-overload]
        body = (
            f"tree {tree}\nparent {parent}\nauthor m <m@x> {epoch} +0000\n"
            f"committer m <m@x> {epoch} +0000\n\n{message}\n"
        )
        return subprocess.run(  # type: ignore[call-overload,no-any-return]
            ["git", "hash-object", "-t", "commit", "-w", "--stdin"], input=body, **run
        ).stdout.strip()

    def init(self) -> str:
        return self.commit({".gitops-release.yml": POLICY, "db/db.json": dump_db(self.db)}, "init")

    def overlay_path(self, app: str, env: str) -> str:
        return f"apps/{app}/overlays/{env}/kustomization.yaml"

    def update_db(self, *releases: Release, write_through: bool = False) -> str | None:
        """What update-db commits for a dispatch (and, with write-through, the channel's overlay)."""
        new_db, changes = apply_releases(self.db, releases, now=self.clock + timedelta(hours=1))
        if not changes:
            return None
        self.db = new_db
        files: dict[str, str | None] = {"db/db.json": dump_db(new_db)}
        if write_through:
            for r in releases:
                key = (r.container, r.channel)
                self.overlays.setdefault(key, {})[r.image] = (r.tag, r.digest)
                files[self.overlay_path(r.container, r.channel)] = kustomization(self.overlays[key])
        return self.commit(files, render_message(DEFAULT_COMMIT_MESSAGE, changes))

    def set_overlay(
        self,
        app: str,
        env: str,
        image: str,
        tag: str | None,
        digest: str | None = None,
        *,
        kind: str = "promote",
        source_env: str | None = None,
        message: str | None = None,
        author: str = "github-actions[bot]",
        merge_pr: int | None = None,
        trailer: bool = True,
    ) -> str:
        """promote-overlay's commit (with its trailer and release manifest); ``merge_pr``: land it
        as a pull request merged with a merge commit (the trailer is then on the PR's commit).
        ``trailer=False``: the message lost its trailer (squash merge without the body, amended)."""
        key = (app, env)
        self.overlays.setdefault(key, {})[image] = (tag, digest)
        path = self.overlay_path(app, env)
        files: dict[str, str | None] = {path: kustomization(self.overlays[key])}
        manifest = {
            "schemaVersion": 1,
            "environment": env,
            "sourceEnvironment": source_env,
            "kind": kind,
            "images": [
                {
                    "app": app,
                    "image": name,
                    "newName": None,
                    "tag": state[0],
                    "digest": state[1],
                    "reference": name
                    + (f":{state[0]}" if state[0] else "")
                    + (f"@{state[1]}" if state[1] else ""),
                    "file": path,
                    "kind": kind if name == image else None,
                    "sourceEnvironment": source_env if name == image else None,
                    "sourceCommit": None,
                }
                for name, state in sorted(self.overlays[key].items())
            ],
            "sourceCommit": None,
            "pullRequest": merge_pr,
            "promotedAt": self.clock.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        files[f"apps/{app}/overlays/{env}/release-manifest.json"] = json.dumps(manifest, indent=2) + "\n"
        title = message or f"{kind} {app} {source_env or ''} -> {env}: {tag}"
        text = title
        if kind != "edit" and trailer:
            text = f"{title}\n\nbody\n\n{TRAILER}: kind={kind} to={env} key=k\n"
        if merge_pr is None:
            return self.commit(files, text, author=author)
        base = self.git.head()
        branch = f"pr-{merge_pr}"
        self.git.run("checkout", "-q", "-b", branch)
        self.commit(files, text, author=author)
        self.git.run("checkout", "-q", "main")
        git = self._git_at(self.tick(), author)
        git.run(
            "merge",
            "-q",
            "--no-ff",
            "-m",
            f"Merge pull request #{merge_pr} from org/{branch}\n\n{title}",
            branch,
        )
        assert git.run("rev-parse", "HEAD^1").out.strip() == base
        return git.head()
