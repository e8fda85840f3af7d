"""await-argocd-sync and the expected revision against the Argo CD sandbox (real git): a later
push that supersedes the expected commit (review 9a #4) and a checkout of the wrong repository
(review 9a #5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitops_release.errors import InputError, WaitFailedError, WaitTimeoutError
from gitops_release.sandbox.argocd import ArgoCDSandbox
from tests.fixtures.git_remotes import clone_of, git
from tests.integration import test_await_argocd_sync as base
from tests.integration.test_await_argocd_sync import REPO, Config, Run, converged_at, overlay, wait_for

# the fixtures of the main await-argocd-sync integration tests
config, web, await_sync = base.config, base.web, base.await_sync


def push_later_commit(tmp_path: Path, config: Config, sandbox: ArgoCDSandbox) -> tuple[str, str]:
    """The job's checkout holds A; someone else pushes B on top of it and Argo CD settles on B."""
    first = config.set_tag("2.0.0")
    other = clone_of(config.url, tmp_path / "other")
    (other / "apps/web/kustomization.yaml").write_text(overlay("3.0.0"), encoding="utf-8")
    git("commit", "-qam", "B", cwd=other)
    git("push", "-q", "origin", "HEAD:main", cwd=other)
    second = git("rev-parse", "HEAD", cwd=other).strip()
    sandbox.store.notify_push(REPO)
    wait_for(sandbox, "web", converged_at(second))
    return first, second


def test_a_wait_superseded_by_a_later_commit_accepts_it(
    tmp_path: Path, argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    first, second = push_later_commit(tmp_path, config, argocd_sandbox)
    got = await_sync(applications=web, timeout="15s")
    assert config.head() == first
    assert got.error is None, got.log
    assert got.elapsed < 8  # not the timeout
    assert f"Argo CD reports {second[:12]}, a later commit of the config repository" in got.log
    app = got.evidence["applications"][0]
    assert app["verdict"] == "done" and app["revision"]["supersededBy"] == second
    assert app["revision"]["expected"] == [first] and app["revision"]["synced"] == [second]
    assert f"a later commit that contains the expected {first[:7]}" in got.outputs.summary()


def test_a_superseded_wait_fails_at_once_without_accept_descendant(
    tmp_path: Path, argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    first, second = push_later_commit(tmp_path, config, argocd_sandbox)
    got = await_sync(applications=web, timeout="15s", accept_descendant="false")
    assert isinstance(got.error, WaitFailedError), got.log
    assert got.elapsed < 8
    moved = f"Argo CD moved on to {second[:7]}, which contains {first[:7]}; "
    assert moved + f"{first[:7]} itself will never be reported" in got.error.message
    assert got.evidence["outcome"] == "failed"


def test_a_shallow_checkout_fetches_the_later_commit_from_origin(
    tmp_path: Path, argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    config.set_tag("1.5.0")  # history between the shallow checkout's parent and A
    first, second = push_later_commit(tmp_path, config, argocd_sandbox)
    shallow = tmp_path / "shallow"
    git("clone", "--quiet", "--depth=1", "--", config.url, str(shallow))
    git("fetch", "--quiet", "--depth=1", "origin", first, cwd=shallow)
    git("checkout", "--quiet", "--detach", first, cwd=shallow)
    assert git("rev-parse", "--is-shallow-repository", cwd=shallow).strip() == "true"
    got = await_sync(applications=web, timeout="15s", repo_path=str(shallow))
    assert got.error is None, got.log
    assert got.evidence["applications"][0]["revision"]["supersededBy"] == second


def test_an_undecided_later_commit_keeps_waiting_and_the_timeout_says_why(
    tmp_path: Path, argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    push_later_commit(tmp_path, config, argocd_sandbox)
    # origin is unreachable (same owner/name, so the checkout still counts as the app's repository)
    git(
        "remote",
        "set-url",
        "origin",
        (tmp_path / "gone" / "org" / "config.git").as_uri(),
        cwd=config.checkout,
    )
    got = await_sync(applications=web, timeout="2s")
    assert isinstance(got.error, WaitTimeoutError), got.log
    assert "could not tell whether" in got.error.message and "git fetch of" in got.error.message


def test_an_older_revision_is_not_a_later_one(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    old = config.head()
    new = config.set_tag("2.0.0")  # Argo CD is not told: it stays Synced at old, an ancestor of new
    got = await_sync(applications=web, refresh="none", timeout="1500ms")
    assert isinstance(got.error, WaitTimeoutError), got.log
    assert f"revision {old[:7]} is not the expected {new[:7]}" in got.error.message
    assert "could not tell" not in got.error.message
    assert got.evidence["applications"][0]["revision"]["supersededBy"] is None


# -- the checkout of another repository (review 9a #5) -------------------------------------------


def test_the_default_revision_of_another_repository_is_refused_at_once(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    git("remote", "set-url", "origin", "https://github.com/org/app.git", cwd=config.checkout)
    got = await_sync(applications=web, timeout="15s")
    assert isinstance(got.error, InputError), got.log
    assert got.error.field == "repo-path"
    assert "is a checkout of https://github.com/org/app.git, but application web tracks " + REPO in (
        got.error.message
    )
    assert "give expected-revision" in (got.error.fix or "")
    assert got.elapsed < 8
    # The same checkout with the revision given: no refusal (the user said what to wait for).
    given = await_sync(applications=web, timeout="15s", expected_revision=config.head())
    assert given.error is None, given.log
