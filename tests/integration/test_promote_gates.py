"""promote-overlay's status gates against the sandbox: require-status (the source env's latest
GitHub deployment, or a commit status context on its overlay commit), soak-time, the policy's
floor (promotion.environments), if-not-ready: skip. All before anything is pushed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import requests

from gitops_release.adapters.git import Git
from gitops_release.commands import promote_overlay
from gitops_release.errors import PolicyError
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git
from tests.integration.test_promote_overlay import (
    DIGEST_2,
    POLICY,
    REPO,
    TOKEN,
    Repo,
    config_files,
    overlay,
    push_commit,
)

AUTH = {"Authorization": f"token {TOKEN}"}
FLOOR = POLICY.replace("    stage:\n", "    stage:\n      requireStatus: deployment\n      soakTime: 2h\n")


def deploy(sandbox: GitHubSandbox, environment: str, state: str, ref: str = "main") -> None:
    created = requests.post(
        f"{sandbox.url}/repos/{REPO}/deployments",
        headers=AUTH,
        json={"ref": ref, "environment": environment, "required_contexts": [], "auto_merge": False},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    answer = requests.post(
        f"{sandbox.url}/repos/{REPO}/deployments/{created.json()['id']}/statuses",
        headers=AUTH,
        json={"state": state},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text


def later(monkeypatch: pytest.MonkeyPatch, hours: float) -> None:
    """The command's clock, ``hours`` after now (the sandbox stamps deployments with now)."""
    real = promote_overlay._now
    monkeypatch.setattr(promote_overlay, "_now", lambda: real() + timedelta(hours=hours))


def assert_nothing_written(repo: Repo, log: list[str]) -> None:
    assert repo.log() == log and repo.branches() == ["main"] and repo.sandbox.pulls(REPO) == []


@pytest.fixture
def repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Repo:
    return Repo(github_sandbox, tmp_path, config_files(policy=FLOOR))


def test_no_deployment_of_the_source_env_is_refused(repo: Repo) -> None:
    log = repo.log()
    with pytest.raises(PolicyError, match="deployment of dev"):
        repo.run(from_env="dev", to_env="stage", require_status="none")  # the policy is the floor
    assert_nothing_written(repo, log)


def test_a_failed_deployment_is_refused(repo: Repo) -> None:
    deploy(repo.sandbox, "dev", "failure")
    log = repo.log()
    with pytest.raises(PolicyError, match="failure"):
        repo.run(from_env="dev", to_env="stage")
    assert_nothing_written(repo, log)


def test_a_success_younger_than_the_soak_time_is_refused_then_promoted_after_it(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy(repo.sandbox, "dev", "success")
    log = repo.log()
    with pytest.raises(PolicyError, match="dev"):
        repo.run(from_env="dev", to_env="stage", soak_time="1h")  # the policy's 2h wins
    assert_nothing_written(repo, log)

    later(monkeypatch, 3)
    out = repo.run(from_env="dev", to_env="stage")
    assert out.state == "created"


def test_if_not_ready_skip_ends_without_error_and_writes_nothing(repo: Repo) -> None:
    deploy(repo.sandbox, "dev", "success")
    log = repo.log()

    out = repo.run(from_env="dev", to_env="stage", if_not_ready="skip")

    assert out.state == "no-change" and not out.changed
    assert any(note.startswith("not ready:") for note in out.notes)
    assert_nothing_written(repo, log)


def test_pins_and_rollbacks_never_wait_for_a_status(repo: Repo) -> None:
    out = repo.run(to_env="stage", images="api", tag="sha-0", mode="commit")
    assert out.state == "committed"


def test_a_commit_status_context_on_the_source_overlay_commit(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    repo = Repo(github_sandbox, tmp_path, config_files())
    log = repo.log()
    with pytest.raises(PolicyError, match="ci/smoke"):
        repo.run(from_env="dev", to_env="stage", require_status="ci/smoke", mode="commit")
    assert repo.log() == log

    sha = git("rev-parse", "HEAD", cwd=repo.checkout).strip()  # the last commit touching dev
    answer = requests.post(
        f"{repo.sandbox.url}/repos/{REPO}/statuses/{sha}",
        headers=AUTH,
        json={"state": "success", "context": "ci/smoke"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    out = repo.run(from_env="dev", to_env="stage", require_status="ci/smoke", mode="commit")
    assert out.state == "committed"


def test_a_deployment_of_an_older_commit_does_not_count_for_a_newer_release(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R5: dev's last successful deployment (3h old, past the 2h soak) is of the commit before
    dev's newest release: that release was never deployed, so it is not promoted."""
    deploy(repo.sandbox, "dev", "success")  # of main as it is: dev at sha-2
    older = git("ls-remote", repo.url, "refs/heads/main").split()[0]
    release = push_commit(
        repo,
        "apps/api/overlays/dev/kustomization.yaml",
        overlay("api", "sha-3", DIGEST_2),
        "chore(release): api dev sha-3",
    )
    later(monkeypatch, 3)
    log = repo.log()

    with pytest.raises(PolicyError) as refused:
        repo.run(from_env="dev", to_env="stage")
    assert refused.value.message == (
        f"the latest deployment of dev is of {older[:12]}, which does not contain dev's current overlay "
        f"commit {release[:12]}: wait for it to be deployed"
    )
    assert refused.value.fix and release[:12] in refused.value.fix
    assert_nothing_written(repo, log)

    skipped = repo.run(from_env="dev", to_env="stage", if_not_ready="skip")
    assert skipped.state == "no-change" and not skipped.changed
    assert any("does not contain dev's current overlay commit" in note for note in skipped.notes)
    assert_nothing_written(repo, log)


def test_a_deployment_of_a_descendant_of_the_release_commit_counts(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment of a later commit (here on a branch the job's checkout never fetched: its
    sha is fetched to be compared) contains dev's release: promoted."""
    deploy(repo.sandbox, "dev", "success")
    push_commit(
        repo,
        "apps/api/overlays/dev/kustomization.yaml",
        overlay("api", "sha-3", DIGEST_2),
        "chore(release): api dev sha-3",
    )
    deployed = push_commit(repo, "NOTES.md", "later\n", "notes", branch="deployed")
    deploy(repo.sandbox, "dev", "success", ref="deployed")
    later(monkeypatch, 3)
    assert Git(repo.checkout).run("cat-file", "-e", f"{deployed}^{{commit}}", check=False).rc != 0

    out = repo.run(from_env="dev", to_env="stage")

    assert out.state == "created"
    assert any(item.after.new_tag == "sha-3" for item in out.plans[0].items)


def test_a_deployed_sha_the_remote_does_not_have_contains_nothing(repo: Repo) -> None:
    head = git("rev-parse", "HEAD", cwd=repo.checkout).strip()
    checkout = Git(repo.checkout)
    assert promote_overlay.contains_commit(checkout, head, head)
    assert not promote_overlay.contains_commit(checkout, "0" * 40, head)
    assert not promote_overlay.contains_commit(checkout, "main", head)  # not a sha


def test_a_deployment_of_another_branch_that_changed_the_source_overlay_is_refused(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A preview branch cut from dev's release commit that sets dev to another version descends
    from the release but never ran it: refused, naming both shas and the file."""
    dev = "apps/api/overlays/dev/kustomization.yaml"
    release = push_commit(repo, dev, overlay("api", "sha-3", DIGEST_2), "chore(release): api dev sha-3")
    preview = push_commit(
        repo, dev, overlay("api", "sha-9", DIGEST_2), "preview: dev sha-9", branch="preview"
    )
    deploy(repo.sandbox, "dev", "success", ref="preview")
    later(monkeypatch, 3)
    log = repo.log()

    with pytest.raises(PolicyError) as refused:
        repo.run(from_env="dev", to_env="stage")
    assert refused.value.message == (
        f"the latest deployment of dev is of {preview[:12]}, whose {dev} differs from the one at dev's "
        f"current overlay commit {release[:12]}: that deployment did not run the state being promoted"
    )
    assert repo.log() == log and repo.branches() == ["main", "preview"] and repo.sandbox.pulls(REPO) == []


def test_an_ours_merge_of_the_release_commit_is_refused(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """``git merge -s ours`` makes the release commit an ancestor but keeps the other side's dev
    overlay: refused."""
    dev = "apps/api/overlays/dev/kustomization.yaml"
    work = repo.clone()
    git("checkout", "-qb", "other", cwd=work)
    (work / dev).write_text(overlay("api", "sha-9", DIGEST_2), encoding="utf-8")
    git("commit", "-qam", "other: dev sha-9", cwd=work)
    release = push_commit(repo, dev, overlay("api", "sha-3", DIGEST_2), "chore(release): api dev sha-3")
    git("fetch", "-q", "origin", "main", cwd=work)
    git("merge", "-q", "-s", "ours", "-m", "merge main", "FETCH_HEAD", cwd=work)
    git("push", "-q", "origin", "HEAD:refs/heads/other", cwd=work)
    merged = git("rev-parse", "HEAD", cwd=work).strip()
    assert git("merge-base", "--is-ancestor", release, merged, cwd=work) == ""
    deploy(repo.sandbox, "dev", "success", ref="other")
    later(monkeypatch, 3)

    with pytest.raises(PolicyError) as refused:
        repo.run(from_env="dev", to_env="stage")
    assert f"is of {merged[:12]}, whose {dev} differs" in refused.value.message


def test_the_deployed_sha_is_fetched_from_the_remote_input(repo: Repo, tmp_path: Path) -> None:
    """The deployed sha is fetched from the remote the run uses, not from a hard-coded origin."""
    head = git("rev-parse", "HEAD", cwd=repo.checkout).strip()
    other = tmp_path / "other.git"
    git("clone", "-q", "--bare", "--", str(repo.checkout), str(other), cwd=tmp_path)
    work = tmp_path / "work"
    git("clone", "-q", "--", str(other), str(work), cwd=tmp_path)
    git("commit", "-q", "--allow-empty", "-m", "later", cwd=work)
    git("push", "-q", "origin", "HEAD:refs/heads/later", cwd=work)
    later_sha = git("rev-parse", "HEAD", cwd=work).strip()
    checkout = Git(repo.checkout)

    assert not promote_overlay.contains_commit(checkout, later_sha, head)  # origin lacks it
    assert promote_overlay.contains_commit(checkout, later_sha, head, remote=str(other))
