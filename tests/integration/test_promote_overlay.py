"""promote-overlay end to end: a real clone of the GitHub sandbox's bare repository, real
kubectl kustomize renders, PRs through the sandbox with its OpenAPI validation on.

The config repo: two apps (``apps/*/overlays``), each a base Deployment with two containers
and dev / stage / prod overlays; dev holds sha-2 builds, stage and prod sha-1.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from gitops_release import cli
from gitops_release.commands import promote_overlay
from gitops_release.commands.base import Context
from gitops_release.errors import ReleaseError
from gitops_release.runtime import Console, InputReader
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import clone_of, git, git_env, read_remote_file, remote_log, url_to_path
from tests.fixtures.kustomize_base import base_files

REPO = "org/config"
TOKEN = "sandbox-token"
DIGEST_1 = "sha256:" + "1" * 64
DIGEST_2 = "sha256:" + "2" * 64
POLICY = """\
channels: [dev, stage, prod]
overlays:
  dir: apps/*/overlays
promotion:
  environments:
    stage:
      labels: [promotion]
      reviewers: [alice]
"""


def overlay(app: str, tag: str, digest: str | None = None, *, comment: str = "") -> str:
    lines = [
        f"# {app} overlay{comment}",
        "resources:",
        "  - ../../base",
        "images:",
        f"  - name: ghcr.io/org/{app}",
        f"    newTag: {tag}  # the build",
    ]
    if digest:
        lines.append(f"    digest: {digest}")
    lines += [f"  - name: ghcr.io/org/{app}-worker", f"    newTag: {tag}"]
    return "\n".join(lines) + "\n"


def config_files(apps: tuple[str, ...] = ("api", "web"), policy: str = POLICY) -> dict[str, str]:
    files = {".gitops-release.yml": policy}
    for app in apps:
        files.update(
            base_files(
                f"apps/{app}/base",
                app,
                {app: f"ghcr.io/org/{app}:sha-0", "worker": f"ghcr.io/org/{app}-worker:sha-0"},
            )
        )
        files[f"apps/{app}/overlays/dev/kustomization.yaml"] = overlay(app, "sha-2", DIGEST_2)
        files[f"apps/{app}/overlays/stage/kustomization.yaml"] = overlay(app, "sha-1", DIGEST_1)
        files[f"apps/{app}/overlays/prod/kustomization.yaml"] = overlay(app, "sha-1", DIGEST_1)
    return files


class Repo:
    """The sandbox repository, a clone of it, and a way to run the command there."""

    def __init__(self, sandbox: GitHubSandbox, tmp_path: Path, files: Mapping[str, str]) -> None:
        self.sandbox = sandbox
        sandbox.create_repo(REPO, files=files)
        sandbox.add_collaborators(REPO, "alice", "bob", teams=["ops"])
        self.url = sandbox.git_url(REPO)
        self.tmp = tmp_path
        self.clones = 0
        self.checkout = self.clone()

    def clone(self) -> Path:
        self.clones += 1
        return clone_of(self.url, self.tmp / f"checkout-{self.clones}")

    def env(self, **inputs: str) -> dict[str, str]:
        env = {
            "PATH": __import__("os").environ.get("PATH", ""),
            "HOME": str(self.tmp),
            "GITHUB_API_URL": self.sandbox.url,
            "GITHUB_REPOSITORY": REPO,
            "INPUT_TOKEN": TOKEN,
            "INPUT_REPOSITORY-PATH": str(self.checkout),
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
        return env

    def run(self, checkout: Path | None = None, **inputs: str) -> promote_overlay.Outputs:
        env = self.env(**inputs)
        if checkout is not None:
            env["INPUT_REPOSITORY-PATH"] = str(checkout)
        console = Console(env=env, out=io.StringIO(), err=io.StringIO())
        parsed = promote_overlay.Inputs.from_reader(InputReader(env=env))
        return promote_overlay.run(parsed, Context(console=console, env=env, workdir=self.tmp))

    def cli(self, *argv: str, **inputs: str) -> tuple[int, str, str]:
        env = self.env(**inputs)
        out, err = io.StringIO(), io.StringIO()
        console = Console(env=env, out=out, err=err)
        try:
            name, rest = cli._split_command(["promote-overlay", *argv])
            code = cli.run_command(name, rest, env, console)
        except ReleaseError as exc:
            console.annotation("error", exc.one_line(), title=exc.title)
            code = exc.exit_code
        return code, out.getvalue(), err.getvalue()

    def read(self, path: str, branch: str = "main") -> str:
        return read_remote_file(self.url, path, branch)

    def read_exact(self, path: str, branch: str = "main") -> str:
        """The file's text with its line endings (``read`` goes through universal newlines)."""
        done = subprocess.run(
            ["git", "--git-dir", str(url_to_path(self.url)), "show", f"refs/heads/{branch}:{path}"],
            capture_output=True,
            check=True,
            env=git_env(),
        )
        return done.stdout.decode("utf-8")

    def branches(self) -> list[str]:
        out = git(
            "--git-dir", str(Path(self.sandbox.root) / "git" / "org" / "config.git"), "branch", "--list"
        )
        return sorted(line.strip(" *") for line in out.splitlines())

    def log(self, branch: str = "main") -> list[str]:
        return remote_log(self.url, branch)


@pytest.fixture
def repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Repo:
    return Repo(github_sandbox, tmp_path, config_files())


def pulls(repo: Repo) -> list[dict[str, Any]]:
    return repo.sandbox.pulls(REPO)


def push_commit(repo: Repo, path: str, text: str, message: str, branch: str = "main") -> str:
    """A commit on ``branch`` of the remote, made in another clone (update-db, a person)."""
    work = repo.clone()
    if branch != "main":
        git("checkout", "-qb", branch, cwd=work)
    (work / path).parent.mkdir(parents=True, exist_ok=True)
    (work / path).write_text(text, encoding="utf-8")
    git("add", "--", path, cwd=work)
    git("commit", "-qm", message, cwd=work)
    git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


# -- pr mode -----------------------------------------------------------------------------------


def test_pr_promotes_every_app_in_one_branch_and_pull_request(repo: Repo) -> None:
    out = repo.run(from_env="dev", to_env="stage")

    assert out.state == "created" and out.changed
    [pull] = pulls(repo)
    assert pull["number"] == out.pr_number and pull["html_url"] == out.pr_url
    branch = pull["head"]["ref"]
    assert branch.startswith("promote/stage/") and pull["base"]["ref"] == "main"
    assert pull["title"] == out.plans[0].title()
    assert "<!-- gitops-release:promote to=stage key=" in pull["body"]
    assert "- [ ] Verify image tag matches dev" in pull["body"]
    assert {label["name"] for label in pull["labels"]} == {"promotion"}
    assert [r["login"] for r in pull["requested_reviewers"]] == ["alice"]
    for app in ("api", "web"):
        stage = repo.read(f"apps/{app}/overlays/stage/kustomization.yaml", branch)
        assert stage == overlay(app, "sha-2", DIGEST_2)  # every other byte kept (comments too)
        manifest = json.loads(repo.read(f"apps/{app}/overlays/stage/release-manifest.json", branch))
        assert manifest["pullRequest"] == out.pr_number
        assert manifest["environment"] == "stage" and manifest["sourceEnvironment"] == "dev"
    # the base branch is untouched until the PR is merged; one commit on the branch holds it all
    assert repo.read("apps/api/overlays/stage/kustomization.yaml") == overlay("api", "sha-1", DIGEST_1)
    assert repo.log(branch)[0] == out.plans[0].title()
    assert len(json.loads(json.dumps(out.promoted))) == 4
    assert out.release_manifest == ["apps/api/overlays/stage/release-manifest.json"]


def test_pr_rerun_reuses_the_pull_request_and_pushes_nothing(repo: Repo) -> None:
    first = repo.run(from_env="dev", to_env="stage")
    branch = pulls(repo)[0]["head"]["ref"]
    head = repo.log(branch)

    again = repo.run(repo.clone(), from_env="dev", to_env="stage")

    assert again.state == "not-updated" and not again.changed
    assert again.pr_number == first.pr_number
    assert len(pulls(repo)) == 1
    assert repo.log(branch) == head  # not even a new commit with a new promotedAt


def after_opening_the_pull(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> None:
    """``action`` runs once, right after the command opened its pull request (before the push
    that writes the PR number into the manifests): another writer moving the base just then."""
    from gitops_release.adapters import github as gh

    real = gh.open_or_update_pull
    done: list[object] = []

    def opened(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if not done:
            done.append(action())
        return result

    monkeypatch.setattr(gh, "open_or_update_pull", opened)


STAGE_API = "apps/api/overlays/stage/kustomization.yaml"
MANIFEST_API = "apps/api/overlays/stage/release-manifest.json"


def test_the_pr_number_is_written_on_the_base_as_it_is_after_the_pull_request_opened(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The base moves (prod changed by someone else) between opening the PR and the push that
    writes its number: that push re-applies the plan on the new base."""
    prod = overlay("api", "sha-0", DIGEST_1, comment=" (hotfix)")
    after_opening_the_pull(
        monkeypatch,
        lambda: push_commit(repo, "apps/api/overlays/prod/kustomization.yaml", prod, "hotfix prod"),
    )

    out = repo.run(from_env="dev", to_env="stage")

    assert out.state == "created" and out.notes == []
    branch = pulls(repo)[0]["head"]["ref"]
    assert json.loads(repo.read(MANIFEST_API, branch))["pullRequest"] == out.pr_number
    assert repo.read("apps/api/overlays/prod/kustomization.yaml", branch) == prod  # the new base
    assert repo.read(STAGE_API, branch) == overlay("api", "sha-2", DIGEST_2)


def test_a_failed_pr_number_push_warns_and_the_next_run_writes_the_number(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conflicting change to stage lands right after the PR opened: the push writing its
    number into the manifests is refused. The run still reports the open PR (with a warning),
    and the next run of the same plan reuses that PR and writes the number."""
    after_opening_the_pull(
        monkeypatch,
        lambda: push_commit(repo, STAGE_API, overlay("api", "sha-9"), "api sha-9 to stage by hand"),
    )

    out = repo.run(from_env="dev", to_env="stage")

    assert out.state == "created" and out.changed and out.pr_number
    [warning] = out.notes
    assert f"pull request #{out.pr_number} is open with the promotion" in warning
    assert "conflicting concurrent promotion" in warning and "Run the promotion again" in warning
    [pull] = pulls(repo)
    branch = pull["head"]["ref"]
    assert json.loads(repo.read(MANIFEST_API, branch)).get("pullRequest") is None
    assert out.commit_sha == git("ls-remote", repo.url, f"refs/heads/{branch}").split()[0]

    again = repo.run(repo.clone(), from_env="dev", to_env="stage")

    assert again.pr_number == out.pr_number and again.state == "updated" and again.notes == []
    assert [p["number"] for p in pulls(repo)] == [out.pr_number]
    assert json.loads(repo.read(MANIFEST_API, branch))["pullRequest"] == out.pr_number
    assert repo.read(STAGE_API, branch) == overlay("api", "sha-2", DIGEST_2)


def test_a_new_plan_supersedes_the_open_promotion_of_the_same_env(repo: Repo) -> None:
    old = repo.run(from_env="dev", to_env="stage", images="api")

    new = repo.run(from_env="dev", to_env="stage")

    by_number = {p["number"]: p for p in pulls(repo)}
    assert by_number[old.pr_number]["state"] == "closed"
    assert by_number[new.pr_number]["state"] == "open"
    assert any(f"closed #{old.pr_number}" in note for note in new.notes)


def test_supersede_keep_leaves_the_older_pull_request_open(repo: Repo) -> None:
    old = repo.run(from_env="dev", to_env="stage", images="api")

    new = repo.run(from_env="dev", to_env="stage", supersede="keep")

    assert {p["number"]: p["state"] for p in pulls(repo)} == {old.pr_number: "open", new.pr_number: "open"}


# -- commit mode -------------------------------------------------------------------------------


def test_commit_mode_pushes_one_commit_with_every_overlay_and_manifest(repo: Repo) -> None:
    before = repo.log()

    out = repo.run(from_env="dev", to_env="stage", mode="commit")

    assert out.state == "committed" and out.changed
    log = repo.log()
    assert len(log) == len(before) + 1 and log[0] == out.plans[0].title()
    changed = git(
        "--git-dir", str(repo.sandbox.root / "git/org/config.git"), "show", "--name-only", "--format=", "main"
    ).split()
    assert sorted(changed) == [
        "apps/api/overlays/stage/kustomization.yaml",
        "apps/api/overlays/stage/release-manifest.json",
        "apps/web/overlays/stage/kustomization.yaml",
        "apps/web/overlays/stage/release-manifest.json",
    ]
    assert pulls(repo) == []

    again = repo.run(repo.clone(), from_env="dev", to_env="stage", mode="commit")
    assert again.state == "no-change" and repo.log() == log


def test_from_env_defaults_to_the_env_before_to_env(repo: Repo) -> None:
    out = repo.run(to_env="stage", mode="commit")

    assert out.plans[0].from_env == "dev"
    assert repo.read("apps/web/overlays/stage/kustomization.yaml") == overlay("web", "sha-2", DIGEST_2)


# -- dry-run -----------------------------------------------------------------------------------


def test_dry_run_prints_the_plan_and_the_diff_and_writes_nothing(repo: Repo) -> None:
    before = repo.log()
    status = git("status", "--porcelain", cwd=repo.checkout)

    code, out, _ = repo.cli("--from-env", "dev", "--to-env", "stage", "--mode", "dry-run")

    assert code == 0
    assert "-    newTag: sha-1  # the build" in out and "+    newTag: sha-2  # the build" in out
    assert "+++ b/apps/api/overlays/stage/release-manifest.json" in out
    assert "state: planned" in out
    assert repo.log() == before and pulls(repo) == []
    assert git("status", "--porcelain", cwd=repo.checkout) == status


def test_a_run_prints_the_plan_once_in_its_log_before_pushing(repo: Repo) -> None:
    """R6: the plan goes to the log (stderr) before anything is pushed; the report on stdout
    says what happened (state, commit), not the plan again."""
    code, out, err = repo.cli("--from-env", "dev", "--to-env", "stage", "--mode", "commit")

    assert code == 0, err
    heading = "promote dev → stage: 4 images"
    assert (out + err).count(heading) == 1 and heading in err
    assert err.index(heading) < err.index("pushed ")
    assert "state: committed" in out and "commit: " in out


def test_a_person_s_pull_request_on_a_promote_branch_is_never_closed(repo: Repo) -> None:
    work = repo.clone()
    git("checkout", "-qb", "promote/stage/by-hand", cwd=work)
    (work / "NOTES.md").write_text("by hand\n", encoding="utf-8")
    git("add", "NOTES.md", cwd=work)
    git("commit", "-qm", "notes", cwd=work)
    git("push", "-q", "origin", "promote/stage/by-hand", cwd=work)
    answer = requests.post(
        f"{repo.sandbox.url}/repos/{REPO}/pulls",
        headers={"Authorization": f"token {TOKEN}"},
        json={"title": "by hand", "head": "promote/stage/by-hand", "base": "main", "body": "mine"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text

    out = repo.run(from_env="dev", to_env="stage")

    assert {p["number"]: p["state"] for p in pulls(repo)} == {
        answer.json()["number"]: "open",
        out.pr_number: "open",
    }
