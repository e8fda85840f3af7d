"""trace on histories built by the REAL commands: update-db (dispatch, write-through to dev),
promote-overlay by pull request merged in the GitHub sandbox (a merge commit, a squash merge, a PR
branch force-pushed before its merge), a rollback (revert), a re-promotion, a renamed overlay
directory and a db.json reformatted by hand; a never-released image; and that trace writes nothing.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitops_release.commands import trace as trace_cmd
from gitops_release.commands import update_db
from gitops_release.commands.base import Context
from gitops_release.core.trace_model import EnvTrace, TraceResult
from gitops_release.runtime import Console, InputReader
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git, spy_on_git
from tests.fixtures.github_sandbox import sandbox_api
from tests.integration.test_promote_overlay import REPO, Repo, config_files

DIGEST_3 = "sha256:" + "3" * 64
DIGEST_4 = "sha256:" + "4" * 64
IMAGE = "ghcr.io/org/api"
EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
SOURCE_SHA = "c0ffee" + "0" * 34


def release(tag: str, digest: str, sha: str = SOURCE_SHA, channel: str = "dev") -> dict[str, Any]:
    return {
        "container": "api",
        "channel": channel,
        "image": IMAGE,
        "tag": tag,
        "digest": digest,
        "source": {"repository": "org/api", "sha": sha, "ref": "refs/heads/main"},
    }


@dataclass
class History:
    """The config repo of test_promote_overlay (apps/*/overlays; api only) with a db, and the real
    commands run against it through the GitHub sandbox."""

    repo: Repo

    @property
    def sandbox(self) -> GitHubSandbox:
        return self.repo.sandbox

    def dispatch(self, tag: str, digest: str, sha: str = SOURCE_SHA, channel: str = "dev") -> None:
        """update-db of a dispatched release into ``channel``, written through to its overlay."""
        work = self.repo.clone()
        env = {
            "INPUT_PAYLOAD": json.dumps(release(tag, digest, sha, channel)),
            "INPUT_REPOSITORY-PATH": str(work),
            "INPUT_WRITE-THROUGH": "true",
        }
        parsed = update_db.Inputs.from_reader(InputReader(env=env))
        out = update_db.run(parsed, Context(console=_quiet(env), env=env, workdir=work))
        assert out.changed

    def promote_pr(self, from_env: str, to_env: str) -> int:
        out = self.repo.run(self.repo.clone(), from_env=from_env, to_env=to_env)
        assert out.pr_number is not None, out
        return int(out.pr_number)

    def merge(self, number: int, method: str = "merge") -> str:
        body: dict[str, Any] = {"merge_method": method}
        if method == "squash":
            # GitHub's default squash message of a one-commit PR: the PR title (#n), then the
            # commit's body (its trailers included); the sandbox leaves the body empty.
            [pull] = [p for p in self.sandbox.pulls(REPO) if p["number"] == number]
            work = self.repo.clone()
            git("fetch", "-q", "origin", pull["head"]["ref"], cwd=work)
            body["commit_message"] = git("log", "-1", "--format=%b", "FETCH_HEAD", cwd=work)
        merged = sandbox_api(self.sandbox, "PUT", f"/repos/{REPO}/pulls/{number}/merge", body)
        assert merged["merged"] is True
        return str(merged["sha"])

    def rollback(self, env: str) -> None:
        out = self.repo.run(self.repo.clone(), to_env=env, revert="true", mode="commit")
        assert out.state == "committed"

    def push(self, message: str, edit: Any) -> str:
        """A hand-made commit on main (a person), ``edit(work)`` changing the clone."""
        work = self.repo.clone()
        edit(work)
        git("add", "-A", cwd=work)
        git("commit", "-qm", message, cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
        return git("rev-parse", "HEAD", cwd=work).strip()

    def clone(self) -> Path:
        return self.repo.clone()


def _quiet(env: dict[str, str]) -> Console:
    return Console(env=env, out=io.StringIO(), err=io.StringIO())


def run_trace(checkout: Path, query: str, **inputs: str) -> TraceResult:
    env = {"INPUT_QUERY": query, "INPUT_REPO-DIR": str(checkout)}
    # lower_case keys are inputs; UPPER_CASE ones environment variables (ARGOCD_TOKEN, GITHUB_TOKEN)
    env.update({k if k.isupper() else f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    parsed = trace_cmd.Inputs.from_reader(InputReader(env=env))
    return trace_cmd.trace(parsed, Context(console=_quiet(env), env=env, workdir=checkout))


def env_of(result: TraceResult, name: str, image: int = 0) -> EnvTrace:
    for index, env in zip(result.image_of_environment, result.environments, strict=True):
        if index == image and env.environment == name:
            return env
    raise AssertionError(f"no {name} in {result.environments}")


@pytest.fixture
def history(github_sandbox: GitHubSandbox, tmp_path: Path) -> History:
    files = config_files(apps=("api",))
    files["db/db.json"] = EMPTY_DB
    return History(Repo(github_sandbox, tmp_path, files))


def test_dispatch_promotions_rollback_and_repromotion_are_each_an_arrival(history: History) -> None:
    history.dispatch("sha-3", DIGEST_3)
    first = history.promote_pr("dev", "stage")
    stage_merge = history.merge(first)  # a merge commit
    second = history.promote_pr("stage", "prod")
    history.merge(second, "squash")  # one squashed commit
    history.rollback("prod")
    third = history.promote_pr("stage", "prod")
    history.merge(third)

    result = run_trace(history.clone(), f"{IMAGE}:sha-3")

    assert result.found and [i.digest for i in result.images] == [DIGEST_3]
    assert result.images[0].source_sha == SOURCE_SHA and result.images[0].container == "api"
    dev, stage, prod = (env_of(result, e) for e in ("dev", "stage", "prod"))
    assert dev.present and stage.present and prod.present
    assert [s.arrival.kind for s in dev.stays] == ["dispatch"]
    assert [s.arrival.kind for s in dev.channel_stays] == ["dispatch"]
    [stage_stay] = stage.stays
    assert stage_stay.arrival.kind == "promote" and stage_stay.arrival.pull_request == first
    assert stage_stay.arrival.commit == stage_merge and stage_stay.left_at is None
    assert stage_stay.arrival.source_environment == "dev"
    # prod: promoted by the squash merge, rolled back, promoted again by the third PR
    assert [(s.arrival.kind, s.arrival.pull_request) for s in prod.stays] == [
        ("promote", second),
        ("promote", third),
    ]
    assert prod.stays[0].left_kind == "rollback" and prod.stays[0].replaced_by is not None
    assert "sha-1" in prod.stays[0].replaced_by
    assert prod.since == prod.stays[1].arrival.at
    assert dev.soak_seconds is not None and dev.soak_seconds >= 0
    assert not [f for f in result.findings if f.kind in ("drift", "gap", "mismatch")]


def test_a_force_pushed_pull_request_branch_is_traced_by_what_landed(history: History) -> None:
    history.dispatch("sha-3", DIGEST_3)
    number = history.promote_pr("dev", "stage")
    [pull] = history.sandbox.pulls(REPO)
    branch = pull["head"]["ref"]
    # The author rewrites the branch (amend + force-push) before it is merged.
    work = history.clone()
    git("fetch", "-q", "origin", branch, cwd=work)
    git("checkout", "-q", "-B", branch, "FETCH_HEAD", cwd=work)
    overlay = work / "apps/api/overlays/stage/kustomization.yaml"
    overlay.write_text(overlay.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    git("commit", "-q", "-a", "--amend", "--no-edit", cwd=work)
    git("push", "-q", "--force", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
    merge = history.merge(number)

    result = run_trace(history.clone(), "sha-3")

    [stay] = env_of(result, "stage").stays
    assert stay.arrival.commit == merge and stay.arrival.pull_request == number
    assert stay.arrival.kind == "promote"


def test_a_renamed_overlay_directory_keeps_the_stay(history: History) -> None:
    history.dispatch("sha-3", DIGEST_3)
    history.merge(history.promote_pr("dev", "stage"))

    def rename(work: Path) -> None:
        git("mv", "apps", "services", cwd=work)
        policy = (work / ".gitops-release.yml").read_text(encoding="utf-8")
        (work / ".gitops-release.yml").write_text(
            policy.replace("dir: apps/*/overlays", "dir: services/*/overlays"), encoding="utf-8"
        )

    history.push("move apps/ to services/", rename)
    history.merge(history.promote_pr("stage", "prod"))

    result = run_trace(history.clone(), f"{IMAGE}@{DIGEST_3}")

    stage, prod = env_of(result, "stage"), env_of(result, "prod")
    [stage_stay] = stage.stays  # one stay across the rename, not "removed" then "added"
    assert stage_stay.left_at is None and stage.present
    [prod_stay] = prod.stays
    assert prod_stay.arrival.kind == "promote" and prod.present


def test_a_db_json_reformatted_by_hand_is_no_change(history: History) -> None:
    history.dispatch("sha-3", DIGEST_3)

    def reformat(work: Path) -> None:
        path = work / "db/db.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        path.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n", encoding="utf-8")

    history.push("reformat db.json", reformat)
    history.dispatch("sha-4", DIGEST_4, sha="d" * 40)

    old = run_trace(history.clone(), f"{IMAGE}:sha-3")
    new = run_trace(history.clone(), f"{IMAGE}:sha-4")

    [stay] = env_of(old, "dev").channel_stays  # the reformat is not a leave and a return
    assert stay.left_at is not None and "sha-4" in (stay.replaced_by or "")
    assert not env_of(old, "dev").present
    assert env_of(new, "dev").present and len(env_of(new, "dev").channel_stays) == 1


def test_a_never_released_image_is_not_found(history: History) -> None:
    history.dispatch("sha-3", DIGEST_3)

    result = run_trace(history.clone(), f"{IMAGE}:sha-99999999")

    assert not result.found and result.images == () and result.environments == ()


def test_trace_writes_nothing_and_runs_no_git_command_that_writes(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    history.dispatch("sha-3", DIGEST_3)
    history.merge(history.promote_pr("dev", "stage"))
    checkout = history.clone()
    (checkout / "untracked.txt").write_text("mine\n", encoding="utf-8")

    def snapshot() -> dict[str, Any]:
        files = {
            str(p.relative_to(checkout)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in checkout.rglob("*")
            if p.is_file()
        }
        refs = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=checkout)
        return {"files": files, "refs": refs, "config": (checkout / ".git/config").read_bytes()}

    before = snapshot()
    spy = spy_on_git(monkeypatch)
    result = run_trace(checkout, "api")

    assert result.found
    assert snapshot() == before  # files (incl. .git/index, objects, config), refs
    writes = set(
        "commit checkout switch reset fetch push pull merge update-ref update-index add rm mv config "
        "tag branch gc stash worktree restore".split()
    )
    ran = [argv for argv, _env, _err in spy.calls]
    assert ran, "trace ran no git at all?"
    for argv in ran:
        sub = next((a for a in argv[1:] if not a.startswith("-")), "")
        assert sub not in writes, argv
        if sub == "remote":
            assert argv[argv.index("remote") + 1] == "get-url", argv


def test_the_cli_says_not_found_and_exits_0_or_1_with_fail_if_missing(
    history: History, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_release.cli import main

    history.dispatch("sha-3", DIGEST_3)
    checkout = history.clone()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(checkout)}

    assert main(["trace", f"{IMAGE}:sha-nope", "--repo-dir", str(checkout)], env) == 0
    out = capsys.readouterr()
    assert "not found" in (out.out + out.err).lower()

    code = main(["trace", f"{IMAGE}:sha-nope", "--repo-dir", str(checkout), "--fail-if-missing"], env)
    out = capsys.readouterr()
    assert code == 1 and "never released" in out.out + out.err

    assert main(["trace", f"{IMAGE}:sha-3", "--repo-dir", str(checkout), "--json"], env) == 0
    outputs = json.loads(capsys.readouterr().out)
    assert outputs["found"] is True and outputs["present-in"] == "dev"


def test_a_bad_query_is_refused_before_anything_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gitops_release.cli import main

    # tmp_path is no git repository: the query is refused first, so git is never asked.
    code = main(["trace", "bad\x01query", "--repo-dir", str(tmp_path)], {"PATH": os.environ.get("PATH", "")})
    out = capsys.readouterr()
    assert code == 1 and "query" in out.out + out.err


SINGLE_APP_POLICY = """\
channels: [dev, stage, prod]
overlays:
  dir: infra/argocd/overlays
"""


def test_a_one_app_layout_without_a_star_is_traced_too(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    # init config-repo's layout (the demo's): overlays.dir without a *, one app per config repo.
    files = {".gitops-release.yml": SINGLE_APP_POLICY, "db/db.json": EMPTY_DB}
    for name, text in config_files(apps=("api",)).items():
        if name.startswith("apps/api/"):
            files[
                name.replace("apps/api/overlays/", "infra/argocd/overlays/").replace(
                    "apps/api/base", "infra/argocd/base"
                )
            ] = text
    history = History(Repo(github_sandbox, tmp_path, files))
    history.dispatch("sha-3", DIGEST_3)
    number = history.promote_pr("dev", "stage")
    merge = history.merge(number)
    history.rollback("stage")

    result = run_trace(history.clone(), f"{IMAGE}:sha-3@{DIGEST_3}")

    dev, stage = env_of(result, "dev"), env_of(result, "stage")
    assert [s.arrival.kind for s in dev.stays] == ["dispatch"] and dev.present
    [stay] = stage.stays
    assert (stay.arrival.kind, stay.arrival.pull_request, stay.arrival.commit) == ("promote", number, merge)
    assert stay.left_kind == "rollback" and not stage.present


def test_the_cli_writes_the_json_answer_and_narrows_by_env(
    history: History, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from gitops_release.cli import main

    history.dispatch("sha-3", DIGEST_3)
    history.merge(history.promote_pr("dev", "stage"))
    checkout = history.clone()
    answer = tmp_path / "out" / "trace.json"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(checkout)}

    argv = ["trace", "sha-3", "--repo-dir", str(checkout), "--env", "stage", "--format", "json"]
    assert main([*argv, "--json-file", str(answer)], env) == 0

    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(answer.read_text(encoding="utf-8"))
    assert printed["found"] is True and [e["environment"] for e in printed["environments"]] == ["stage"]
    assert printed["environments"][0]["stays"][0]["arrival"]["kind"] == "promote"
    assert printed["presentIn"] == ["stage"]


def test_a_container_query_traces_its_latest_releases_newest_first(history: History) -> None:
    # db.json at head holds one release of api per channel it was dispatched to; prod's overlay
    # still holds the initial sha-1 (no release of it): what prod runs now is part of the answer.
    history.dispatch("sha-3", DIGEST_3, channel="stage")
    history.dispatch("sha-4", DIGEST_4, sha="d" * 40)

    result = run_trace(history.clone(), "api")

    assert [image.tag for image in result.images] == ["sha-4", "sha-3", "sha-1"]
    where = {
        (result.images[i].tag, e.environment)
        for i, e in zip(result.image_of_environment, result.environments, strict=True)
        if e.present
    }
    assert where == {("sha-4", "dev"), ("sha-3", "stage"), ("sha-1", "prod")}
    assert [image.tag for image in run_trace(history.clone(), "api", limit="1").images] == ["sha-4"]
