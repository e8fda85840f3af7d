"""adapters/github.py pull requests, deployments and commit statuses against the GitHub sandbox.

Real git branches in the sandbox's bare repository, PyGithub through ``github_client`` (the
project's retry policy), the sandbox's OpenAPI validation on (the fixture fails a test that
produced a violation).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from gitops_release.adapters.github import (
    DeploymentInfo,
    GitHubAuth,
    close_pull,
    commit_status,
    find_open_pull,
    github_client,
    latest_deployment,
    list_open_pulls,
    open_or_update_pull,
)
from gitops_release.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubValidationError,
    InputError,
    RetryExhaustedError,
)
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.integration.test_sandbox_pulls import REPO, push_branch

HEAD = "promote/stage/0123456789"
AUTH = {"Authorization": "token sandbox-token"}


@pytest.fixture
def gh(github_sandbox: GitHubSandbox, tmp_path: Path) -> GitHubSandbox:
    github_sandbox.create_repo(REPO, files={"overlays/stage/kustomization.yaml": "images: []\n"})
    github_sandbox.add_collaborators(REPO, "alice", "bob", "carol", teams=["ops"])
    push_branch(github_sandbox, tmp_path, HEAD, "overlays/stage/kustomization.yaml", "images: [a]\n")
    return github_sandbox


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def client(gh: GitHubSandbox, lines: list[str]) -> Any:
    return github_client(
        GitHubAuth(token="sandbox-token"), base_url=gh.url, env={}, sleep=lambda _: None, log=lines.append
    )


def writes(sandbox: GitHubSandbox, since: int = 0) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in sandbox.requests[since:] if r.method != "GET"]


def promote(client: Any, **overrides: Any) -> Any:
    options: dict[str, Any] = {
        "head": HEAD,
        "base": "main",
        "title": "promote app:1.2 to stage",
        "body": "| image | from | to |\n|---|---|---|\n",
    }
    options.update(overrides)
    return open_or_update_pull(client, REPO, **options)


def test_created_then_reused_without_a_write(gh: GitHubSandbox, client: Any) -> None:
    pr, state = promote(client, draft=True, labels=["promotion", "stage"])
    assert state == "created"
    assert (pr.number, pr.head, pr.base, pr.draft, pr.state, pr.labels) == (
        1,
        HEAD,
        "main",
        True,
        "open",
        ("promotion", "stage"),
    )
    assert pr.url == f"{gh.url}/{REPO}/pull/1"
    assert pr.head_repository == REPO and pr.user == "sandbox-user"
    before = len(gh.requests)
    again, state = promote(client, draft=True, labels=["Promotion", "stage"])  # label names: any case
    assert state == "not-updated"
    assert again == pr
    assert writes(gh, before) == []
    assert len(gh.pulls(REPO)) == 1
    assert find_open_pull(client, REPO, head=HEAD, base="main") == pr


def test_body_that_differs_is_patched_alone(gh: GitHubSandbox, client: Any) -> None:
    promote(client)
    before = len(gh.requests)
    pr, state = promote(client, body="new table\n")
    assert state == "updated"
    assert pr.body == "new table\n"
    patches = [r for r in gh.requests[before:] if r.method == "PATCH"]
    assert [p.body for p in patches] == [{"body": "new table\n"}]
    # The web editor stores CRLF: the same text with other line endings is not a change.
    requests.patch(f"{gh.url}/repos/{REPO}/pulls/1", headers=AUTH, json={"body": "new table\r\n"}, timeout=10)
    before = len(gh.requests)
    assert promote(client, body="new table\n", title=" promote app:1.2 to stage ")[1] == "not-updated"
    assert writes(gh, before) == []


def test_labels_and_reviewers_are_set_once(gh: GitHubSandbox, client: Any) -> None:
    wanted = {"labels": ["promotion"], "reviewers": ["alice", "bob"], "team_reviewers": ["org/ops"]}
    pr, state = promote(client, **wanted)
    assert state == "created"
    assert [(r.method, r.path.removeprefix(f"/repos/{REPO}")) for r in gh.requests] == [
        ("GET", "/pulls"),
        ("POST", "/pulls"),
        ("POST", "/issues/1/labels"),
        ("POST", "/pulls/1/requested_reviewers"),
        ("GET", "/pulls/1"),
    ]
    assert (pr.labels, pr.requested_reviewers, pr.requested_teams) == (
        ("promotion",),
        ("alice", "bob"),
        ("ops",),
    )
    before = len(gh.requests)
    assert promote(client, **wanted)[1] == "not-updated"
    assert writes(gh, before) == []
    # alice approves (her request goes away, as on GitHub): she is not asked again.
    gh.add_review(REPO, 1, "alice")
    before = len(gh.requests)
    pr, state = promote(client, **wanted)
    assert (state, pr.requested_reviewers) == ("not-updated", ("bob",))
    assert writes(gh, before) == []
    # Someone removed the label by hand and a new reviewer joined the policy: only those are sent.
    gh.pulls(REPO)  # (inspection does not count as a request)
    with gh._lock:
        gh._repo(REPO).labels[1] = []
    before = len(gh.requests)
    pr, state = promote(
        client, labels=["promotion"], reviewers=["alice", "bob", "carol"], team_reviewers=["ops"]
    )
    assert state == "updated"
    assert pr.labels == ("promotion",)
    sent = [(r.path.rsplit("/", 1)[-1], r.body) for r in gh.requests[before:] if r.method == "POST"]
    assert sent == [("labels", ["promotion"]), ("requested_reviewers", {"reviewers": ["carol"]})]


def test_the_author_is_not_asked_to_review(gh: GitHubSandbox, client: Any, lines: list[str]) -> None:
    pr, _ = promote(client, reviewers=["Sandbox-User", "alice"], log=lines.append)
    assert pr.requested_reviewers == ("alice",)
    assert any("not requesting a review from its author" in line for line in lines)


def test_reviewers_who_are_not_collaborators_name_the_input(gh: GitHubSandbox, client: Any) -> None:
    with pytest.raises(GitHubValidationError) as caught:
        promote(client, reviewers=["mallory"])
    assert "input 'reviewers'" in caught.value.message
    assert "mallory" in caught.value.message and "collaborators" in caught.value.message
    assert "remove them from 'reviewers'" in (caught.value.fix or "")
    # The PR is open; after the fix the re-run reuses it.
    assert [p["number"] for p in gh.pulls(REPO)] == [1]
    with pytest.raises(GitHubValidationError) as team:
        promote(client, team_reviewers=["nobody"])
    assert "input 'team-reviewers'" in team.value.message
    pr, state = promote(client, reviewers=["alice"])
    assert (pr.number, state, pr.requested_reviewers) == (1, "updated", ("alice",))


def test_close_comments_once_then_closes(gh: GitHubSandbox, client: Any) -> None:
    promote(client)
    close_pull(client, REPO, 1, comment="Superseded by #2")
    assert [c["body"] for c in gh.comments(REPO, 1)] == ["Superseded by #2"]
    assert gh.pulls(REPO)[0]["state"] == "closed"
    assert find_open_pull(client, REPO, head=HEAD, base="main") is None
    before = len(gh.requests)
    close_pull(client, REPO, 1, comment="Superseded by #2")  # closed already: nothing sent
    assert writes(gh, before) == []


def test_close_after_a_lost_close_does_not_comment_twice(gh: GitHubSandbox, client: Any) -> None:
    promote(client)
    gh.inject_validation_error(field="state", resource="PullRequest", method="PATCH", path=r"/pulls/1$")
    with pytest.raises(GitHubValidationError):
        close_pull(client, REPO, 1, comment="Superseded")
    close_pull(client, REPO, 1, comment="Superseded")
    assert [c["body"] for c in gh.comments(REPO, 1)] == ["Superseded"]
    assert gh.pulls(REPO)[0]["state"] == "closed"


def test_close_answered_502_after_closing_is_checked_not_resent(gh: GitHubSandbox, client: Any) -> None:
    promote(client)
    gh.inject(502, method="PATCH", path=r"/pulls/1$", after_processing=True)
    close_pull(client, REPO, 1, comment="Superseded")
    assert gh.pulls(REPO)[0]["state"] == "closed"
    assert len([r for r in gh.requests if r.method == "PATCH"]) == 1


def test_already_exists_resolves_to_the_open_pull(gh: GitHubSandbox, client: Any, lines: list[str]) -> None:
    # Another run opens the PR between our look-up (answered empty here) and our create.
    first = requests.post(
        f"{gh.url}/repos/{REPO}/pulls",
        headers=AUTH,
        json={"title": "promote app:1.2 to stage", "head": HEAD, "base": "main", "body": "other run"},
        timeout=10,
    )
    assert first.status_code == 201
    gh.inject(200, method="GET", path=r"/pulls$", body=[])
    pr, state = promote(client, log=lines.append)
    assert (pr.number, state, pr.body) == (1, "updated", "| image | from | to |\n|---|---|---|\n")
    assert [r.status for r in gh.requests if r.method == "POST" and r.path.endswith("/pulls")] == [201, 422]
    assert any("opened meanwhile by another run" in line for line in lines)
    assert len(gh.pulls(REPO)) == 1


def test_create_answered_502_after_creating_makes_one_pull(
    gh: GitHubSandbox, client: Any, lines: list[str]
) -> None:
    gh.inject(502, method="POST", path=r"/pulls$", after_processing=True)
    pr, state = promote(client, labels=["promotion"], log=lines.append)
    assert (pr.number, state, pr.labels) == (1, "created", ("promotion",))
    assert len([r for r in gh.requests if r.method == "POST" and r.path.endswith("/pulls")]) == 1
    assert len(gh.pulls(REPO)) == 1
    assert any("it was applied; using it" in line for line in lines)
    assert promote(client, labels=["promotion"])[1] == "not-updated"


def test_create_lost_before_github_saw_it_says_re_run(gh: GitHubSandbox, client: Any) -> None:
    gh.inject(502, method="POST", path=r"/pulls$")
    with pytest.raises(
        GitHubError, match="sent once and not re-sent; GitHub answered 502 and it is not there"
    ):
        promote(client)
    assert gh.pulls(REPO) == []
    assert promote(client)[1] == "created"
    assert len(gh.pulls(REPO)) == 1


def test_reads_are_retried_on_502(gh: GitHubSandbox, client: Any) -> None:
    gh.inject(502, count=2, method="GET", path=r"/pulls$")
    assert promote(client)[1] == "created"
    gh.inject(502, count=9, method="GET", path=r"/pulls$")
    with pytest.raises(RetryExhaustedError, match="kept answering 502"):
        promote(client)
    assert len(gh.pulls(REPO)) == 1


def test_patch_answered_502_after_applying_is_found(gh: GitHubSandbox, client: Any) -> None:
    promote(client)
    gh.inject(502, method="PATCH", path=r"/pulls/1$", after_processing=True)
    pr, state = promote(client, title="promote app:1.3 to stage")
    assert (pr.title, state) == ("promote app:1.3 to stage", "updated")
    assert len([r for r in gh.requests if r.method == "PATCH"]) == 1


def test_list_open_pulls_by_prefix_and_base(gh: GitHubSandbox, client: Any, tmp_path: Path) -> None:
    push_branch(gh, tmp_path, "promote/stage/aaaaaaaaaa", "x.txt", "x\n")
    push_branch(gh, tmp_path, "promote/prod/bbbbbbbbbb", "y.txt", "y\n")
    push_branch(gh, tmp_path, "release", "z.txt", "z\n")
    promote(client)
    promote(client, head="promote/stage/aaaaaaaaaa")
    promote(client, head="promote/prod/bbbbbbbbbb")
    promote(client, head="promote/stage/aaaaaaaaaa", base="release")
    stage = list_open_pulls(client, REPO, base="main", head_prefix="promote/stage/")
    assert [(p.number, p.head) for p in stage] == [(2, "promote/stage/aaaaaaaaaa"), (1, HEAD)]
    close_pull(client, REPO, 2, comment="superseded")
    assert [p.number for p in list_open_pulls(client, REPO, base="main", head_prefix="promote/stage/")] == [1]
    with pytest.raises(InputError, match="head-prefix"):
        list_open_pulls(client, REPO, base="main", head_prefix="")


def test_bad_arguments_fail_before_any_request(gh: GitHubSandbox, client: Any) -> None:
    before = len(gh.requests)
    with pytest.raises(InputError, match=r"input 'body'.*65536"):
        promote(client, body="x" * 65537)
    with pytest.raises(InputError, match="input 'title'"):
        promote(client, title=" ")
    with pytest.raises(InputError, match="input 'base-branch'"):
        promote(client, base=HEAD)
    with pytest.raises(InputError, match="input 'head'"):
        promote(client, head="bad branch")
    assert len(gh.requests) == before


def test_missing_head_branch_is_githubs_422(gh: GitHubSandbox, client: Any) -> None:
    with pytest.raises(GitHubValidationError, match="PullRequest field 'head' is invalid"):
        promote(client, head="promote/stage/never-pushed")


# -- deployments and statuses -------------------------------------------------------------------


def deploy(sandbox: GitHubSandbox, environment: str, *states: str) -> int:
    created = requests.post(
        f"{sandbox.url}/repos/{REPO}/deployments",
        headers=AUTH,
        json={"ref": "main", "environment": environment, "required_contexts": [], "auto_merge": False},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    number = int(created.json()["id"])
    for state in states:
        answer = requests.post(
            f"{sandbox.url}/repos/{REPO}/deployments/{number}/statuses",
            headers=AUTH,
            json={"state": state},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
    return number


def test_latest_deployment_is_the_newest_with_its_newest_status(gh: GitHubSandbox, client: Any) -> None:
    assert latest_deployment(client, REPO, "stage") is None
    deploy(gh, "stage", "in_progress", "success")
    deploy(gh, "prod", "failure")
    newest = deploy(gh, "stage", "queued", "in_progress", "success")
    deploy(gh, "dev", "pending")
    found = latest_deployment(client, REPO, "stage")
    assert isinstance(found, DeploymentInfo)
    assert (found.id, found.environment, found.state) == (newest, "stage", "success")
    assert found.sha == gh.deployments(REPO)[-2]["sha"]
    assert isinstance(found.created_at, datetime) and found.created_at.tzinfo is not None
    assert found.state_at is not None and found.state_at >= found.created_at
    pending = deploy(gh, "stage")
    still = latest_deployment(client, REPO, "stage")
    assert still is not None and (still.id, still.state, still.state_at) == (pending, None, None)
    prod = latest_deployment(client, REPO, "prod")
    assert prod is not None and prod.state == "failure"


def status(sandbox: GitHubSandbox, sha: str, context: str, state: str) -> None:
    answer = requests.post(
        f"{sandbox.url}/repos/{REPO}/statuses/{sha}",
        headers=AUTH,
        json={"state": state, "context": context},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text


def test_commit_status_picks_the_latest_of_its_context(gh: GitHubSandbox, client: Any) -> None:
    sha = requests.get(f"{gh.url}/repos/{REPO}/git/ref/heads/main", headers=AUTH, timeout=10).json()[
        "object"
    ]["sha"]
    assert commit_status(client, REPO, sha, "argocd/stage") is None
    status(gh, sha, "argocd/stage", "pending")
    status(gh, sha, "ci", "failure")
    status(gh, sha, "argocd/stage", "success")
    found = commit_status(client, REPO, sha, "ArgoCD/Stage")
    assert found is not None and (found.context, found.state) == ("argocd/stage", "success")
    assert found.updated_at.tzinfo is not None
    assert commit_status(client, REPO, "main", "ci") == commit_status(client, REPO, sha, "ci")
    assert commit_status(client, REPO, sha, "other") is None


def test_commit_status_beyond_the_combined_page(gh: GitHubSandbox, client: Any) -> None:
    sha = requests.get(f"{gh.url}/repos/{REPO}/git/ref/heads/main", headers=AUTH, timeout=10).json()[
        "object"
    ]["sha"]
    for index in range(35):  # the combined status shows 30 contexts per page
        status(gh, sha, f"check-{index:02d}", "pending")
    status(gh, sha, "check-34", "success")
    found = commit_status(client, REPO, sha, "check-34")
    assert found is not None and found.state == "success"
    assert any(r.path.endswith("/statuses") for r in gh.requests if r.method == "GET")


def test_labels_and_review_requests_answered_502_after_applying_are_found(
    gh: GitHubSandbox, client: Any
) -> None:
    gh.inject(502, method="POST", path=r"/labels$", after_processing=True)
    gh.inject(502, method="POST", path=r"/requested_reviewers$", after_processing=True)
    pr, state = promote(client, labels=["promotion"], reviewers=["alice"])
    assert (state, pr.labels, pr.requested_reviewers) == ("created", ("promotion",), ("alice",))
    posts = [r.path.rsplit("/", 1)[-1] for r in gh.requests if r.method == "POST"]
    assert posts == ["pulls", "labels", "requested_reviewers"]


def test_labels_lost_before_github_saw_them_say_re_run(gh: GitHubSandbox, client: Any) -> None:
    gh.inject(502, method="POST", path=r"/labels$")
    with pytest.raises(GitHubError, match="add labels promotion to PR #1: was sent once and not re-sent"):
        promote(client, labels=["promotion"])
    pr, state = promote(client, labels=["promotion"])
    assert (pr.number, state, pr.labels) == (1, "updated", ("promotion",))


def test_team_reviewers_the_token_cannot_resolve_name_the_token_needed(
    gh: GitHubSandbox, client: Any
) -> None:
    message = "Validation Failed: \"Could not resolve to a node with the global id of 'T_kwDOA'.\""
    gh.inject(
        422, method="POST", path=r"/requested_reviewers$", body={"message": message, "documentation_url": "x"}
    )
    with pytest.raises(GitHubValidationError) as caught:
        promote(client, team_reviewers=["ops"])
    assert caught.value.message.startswith("input 'team-reviewers'")
    assert "read:org" in (caught.value.fix or "")


def test_a_token_without_pull_request_write_names_the_permission(gh: GitHubSandbox) -> None:
    gh.add_token("read-only", permissions={"pull_requests": "read", "contents": "read"})
    reader = github_client(GitHubAuth(token="read-only"), base_url=gh.url, env={}, sleep=lambda _: None)
    with pytest.raises(GitHubAuthError, match="pull_requests: write") as caught:
        promote(reader)
    assert "read-only" not in str(caught.value) and "read-only" not in (caught.value.fix or "")
    assert gh.pulls(REPO) == []
