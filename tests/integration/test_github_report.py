"""adapters/github_report.py against the GitHub sandbox: request counts, reuse, no duplicate after a
502 GitHub applied, retries, explained refusals, and the GitHub App path.

The sandbox records every request (``requests``) and validates each against GitHub's OpenAPI
description (the fixture fails a test that sent or got something GitHub's API does not allow).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import github
import pytest

from gitops_release.adapters import github_report
from gitops_release.adapters.github import GitHubAuth, github_client
from gitops_release.adapters.github_report import (
    DeploymentRef,
    deactivate_environment,
    ensure_deployment,
    post_commit_status,
    post_deployment_status,
    upsert_marked_comment,
)
from gitops_release.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubNotFoundError,
    GitHubValidationError,
)
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.github_sandbox import SANDBOX_REPO, push_branch

REPO = SANDBOX_REPO
DEPLOYMENTS = r"^/repos/org/app/deployments$"


pytestmark = pytest.mark.usefixtures("fresh_app_tokens")


def client(sandbox: GitHubSandbox, token: str, sleeps: list[float], **kwargs: Any) -> github.Github:
    return github_client(
        GitHubAuth(token=token), base_url=sandbox.url, env={}, sleep=sleeps.append, clock=time.time, **kwargs
    )


def sent(sandbox: GitHubSandbox) -> list[tuple[str, str, int | None]]:
    return [(r.method, r.path, r.status) for r in sandbox.requests]


@pytest.fixture
def no_throttle(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every time.sleep PyGithub's requester makes (its write throttle sleeps there)."""
    slept: list[float] = []
    monkeypatch.setattr(github.Requester.time, "sleep", slept.append)  # type: ignore[attr-defined]
    return slept


# -- request counts -----------------------------------------------------------------------------


def test_commit_status_is_one_post_and_never_sleeps(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str, no_throttle: list[float]
) -> None:
    sleeps: list[float] = []
    gh = client(github_sandbox, sandbox_token, sleeps)
    pending = post_commit_status(
        gh,
        REPO,
        sha=head,
        state="pending",
        context="release-data-prep",
        description="Preparing release data",
        target_url="https://ci.example.org/run/1",
    )
    done = post_commit_status(
        gh, REPO, sha=head, state="success", context="release-data-prep", description=None, target_url=None
    )
    stored = github_sandbox.statuses(REPO, head)
    assert (pending.id, pending.state, pending.context) == (stored[0]["id"], "pending", "release-data-prep")
    assert pending.url == stored[0]["url"]
    assert (done.id, done.state) == (stored[1]["id"], "success")
    assert stored[0]["target_url"] == "https://ci.example.org/run/1"
    assert sent(github_sandbox) == [
        ("POST", f"/repos/{REPO}/statuses/{head}", 201),
        ("POST", f"/repos/{REPO}/statuses/{head}", 201),
    ]
    # two writes back to back: PyGithub's default write throttle would sleep ~1 s before the second
    assert no_throttle == [] and sleeps == []


def test_the_throttle_detector_sees_pygithubs_default_write_throttle(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str, no_throttle: list[float]
) -> None:
    """The control for the test above: a client WITH PyGithub's write throttle is caught sleeping."""
    gh = github.Github(auth=github.Auth.Token(sandbox_token), base_url=github_sandbox.url, lazy=True)
    for state in ("pending", "success"):
        post_commit_status(gh, REPO, sha=head, state=state, context="c", description=None, target_url=None)
    assert no_throttle and no_throttle[0] > 0.5


def test_new_deployment_with_its_first_status_is_three_requests(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str, no_throttle: list[float]
) -> None:
    sleeps: list[float] = []
    gh = client(github_sandbox, sandbox_token, sleeps)
    deployment = ensure_deployment(gh, REPO, sha=head, environment="staging", description="my-app to staging")
    status = post_deployment_status(
        gh,
        REPO,
        deployment.id,
        state="in_progress",
        log_url="https://ci.example.org/run/1",
        environment_url="https://staging.example.org",
    )
    stored = github_sandbox.deployments(REPO)
    assert deployment == DeploymentRef(id=stored[0]["id"], sha=head, environment="staging", created=True)
    assert stored[0]["description"] == "my-app to staging"
    assert stored[0]["task"] == "deploy" and stored[0]["transient_environment"] is False
    assert (status.state, status.deployment_id) == ("in_progress", deployment.id)
    assert (status.log_url, status.environment_url) == (
        "https://ci.example.org/run/1",
        "https://staging.example.org",
    )
    assert [(m, p) for m, p, _ in sent(github_sandbox)] == [
        ("GET", f"/repos/{REPO}/deployments"),
        ("POST", f"/repos/{REPO}/deployments"),
        ("POST", f"/repos/{REPO}/deployments/{deployment.id}/statuses"),
    ]
    listed, created = github_sandbox.requests[0], github_sandbox.requests[1]
    assert (listed.query["sha"], listed.query["environment"], listed.query["task"]) == (
        head,
        "staging",
        "deploy",
    )
    # GitHub's defaults would check every status context (409) and merge the default branch in
    assert created.body["required_contexts"] == [] and created.body["auto_merge"] is False
    assert github_sandbox.requests[2].body == {
        "state": "in_progress",
        "auto_inactive": True,
        "log_url": "https://ci.example.org/run/1",
        "environment_url": "https://staging.example.org",
    }
    assert no_throttle == [] and sleeps == []


def test_reused_deployment_is_list_and_status_and_a_known_id_is_one_post(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    sleeps: list[float] = []
    gh = client(github_sandbox, sandbox_token, sleeps)
    first = ensure_deployment(gh, REPO, sha=head, environment="staging")
    other_env = ensure_deployment(gh, REPO, sha=head, environment="production")
    before = len(github_sandbox.requests)

    again = ensure_deployment(gh, REPO, sha=head, environment="staging")
    post_deployment_status(gh, REPO, again.id, state="success")
    assert again == DeploymentRef(id=first.id, sha=head, environment="staging", created=False)
    assert other_env.id != first.id
    assert [(m, p) for m, p, _ in sent(github_sandbox)[before:]] == [
        ("GET", f"/repos/{REPO}/deployments"),
        ("POST", f"/repos/{REPO}/deployments/{first.id}/statuses"),
    ]

    before = len(github_sandbox.requests)
    post_deployment_status(gh, REPO, first.id, state="inactive")
    assert [(m, p) for m, p, _ in sent(github_sandbox)[before:]] == [
        ("POST", f"/repos/{REPO}/deployments/{first.id}/statuses")
    ]
    assert len(github_sandbox.deployments(REPO)) == 2


# -- never two deployments ------------------------------------------------------------------------


def test_a_502_after_github_created_the_deployment_returns_it_and_creates_no_second(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    sleeps: list[float] = []
    github_sandbox.inject(502, method="POST", path=DEPLOYMENTS, after_processing=True)
    deployment = ensure_deployment(
        client(github_sandbox, sandbox_token, sleeps), REPO, sha=head, environment="dev"
    )
    stored = github_sandbox.deployments(REPO)
    assert len(stored) == 1
    assert deployment == DeploymentRef(id=stored[0]["id"], sha=head, environment="dev", created=True)
    assert [(m, s) for m, _, s in sent(github_sandbox)] == [("GET", 200), ("POST", 502), ("GET", 200)]
    assert sleeps == []


def test_a_502_before_github_created_it_is_a_clear_error_and_nothing_exists(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    github_sandbox.inject(502, method="POST", path=DEPLOYMENTS)
    with pytest.raises(
        GitHubError, match="was sent once and not re-sent; GitHub answered 502 and it is not there"
    ):
        ensure_deployment(client(github_sandbox, sandbox_token, []), REPO, sha=head, environment="dev")
    assert github_sandbox.deployments(REPO) == []
    assert [m for m, _, _ in sent(github_sandbox)] == ["GET", "POST", "GET"]


def test_a_502_after_the_status_was_stored_returns_it(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    github_sandbox.inject(502, method="POST", path=r"/statuses/", after_processing=True)
    status = post_commit_status(
        client(github_sandbox, sandbox_token, []),
        REPO,
        sha=head,
        state="failure",
        context="release-data-prep",
        description="prep failed",
        target_url=None,
    )
    stored = github_sandbox.statuses(REPO, head)
    assert len(stored) == 1 and status.id == stored[0]["id"] and status.state == "failure"
    assert [(m, p) for m, p, _ in sent(github_sandbox)] == [
        ("POST", f"/repos/{REPO}/statuses/{head}"),
        ("GET", f"/repos/{REPO}/commits/{head}/statuses"),
    ]


def test_a_502_after_the_deployment_status_was_stored_returns_it(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    gh = client(github_sandbox, sandbox_token, [])
    deployment = ensure_deployment(gh, REPO, sha=head, environment="dev")
    github_sandbox.inject(502, method="POST", path=r"/statuses$", after_processing=True)
    status = post_deployment_status(gh, REPO, deployment.id, state="success", description="done")
    stored = github_sandbox.deployment_statuses(REPO, deployment.id)
    assert len(stored) == 1 and status.id == stored[0]["id"]


def test_a_502_the_status_post_was_not_applied_is_sent_again_not_left_pending(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    """A second commit status is harmless (the newest of a context wins): after a 502 GitHub did not
    apply, look, then send again within the retry policy, instead of leaving the commit pending."""
    sleeps: list[float] = []
    github_sandbox.inject(502, method="POST", path=r"/statuses/")
    status = post_commit_status(
        client(github_sandbox, sandbox_token, sleeps),
        REPO,
        sha=head,
        state="success",
        context="release-data-prep",
        description="done",
        target_url=None,
    )
    stored = github_sandbox.statuses(REPO, head)
    assert [(s["id"], s["state"]) for s in stored] == [(status.id, "success")]
    assert sent(github_sandbox) == [
        ("POST", f"/repos/{REPO}/statuses/{head}", 502),
        ("GET", f"/repos/{REPO}/commits/{head}/statuses", 200),
        ("POST", f"/repos/{REPO}/statuses/{head}", 201),
    ]
    assert len(sleeps) == 1  # the policy's backoff, from the client's budget


def test_a_502_the_deployment_status_post_was_not_applied_is_sent_again(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    sleeps: list[float] = []
    gh = client(github_sandbox, sandbox_token, sleeps)
    deployment = ensure_deployment(gh, REPO, sha=head, environment="dev")
    github_sandbox.inject(502, method="POST", path=r"/statuses$")
    before = len(github_sandbox.requests)
    status = post_deployment_status(gh, REPO, deployment.id, state="success", description="done")
    stored = github_sandbox.deployment_statuses(REPO, deployment.id)
    assert [(s["id"], s["state"]) for s in stored] == [(status.id, "success")]
    path = f"/repos/{REPO}/deployments/{deployment.id}/statuses"
    assert sent(github_sandbox)[before:] == [("POST", path, 502), ("GET", path, 200), ("POST", path, 201)]
    assert len(sleeps) == 1


def test_a_502_after_the_deployment_status_was_stored_is_not_sent_again(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    sleeps: list[float] = []
    gh = client(github_sandbox, sandbox_token, sleeps)
    deployment = ensure_deployment(gh, REPO, sha=head, environment="dev")
    github_sandbox.inject(502, method="POST", path=r"/statuses$", after_processing=True)
    before = len(github_sandbox.requests)
    post_deployment_status(gh, REPO, deployment.id, state="failure", log_url="https://ci.example.org/1")
    assert [(m, s) for m, _, s in sent(github_sandbox)[before:]] == [("POST", 502), ("GET", 200)]
    assert len(github_sandbox.deployment_statuses(REPO, deployment.id)) == 1 and sleeps == []


def test_a_status_post_failing_every_time_stops_within_the_retry_policy(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    sleeps: list[float] = []
    github_sandbox.inject(503, count=50, method="POST", path=r"/statuses/")
    with pytest.raises(GitHubError, match="sent 5 times; GitHub answered 503 and it is not there; re-run"):
        post_commit_status(
            client(github_sandbox, sandbox_token, sleeps),
            REPO,
            sha=head,
            state="error",
            context="release-data-prep",
            description=None,
            target_url=None,
        )
    assert [m for m, _, _ in sent(github_sandbox)] == ["POST", "GET"] * 5
    assert len(sleeps) == 4 and sum(sleeps) <= 120  # RetryPolicy: 5 attempts, its total wait bound
    assert github_sandbox.statuses(REPO, head) == []


def test_rate_limit_on_the_create_is_waited_out_and_5xx_on_the_list_retried(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    sleeps: list[float] = []
    github_sandbox.inject(502, method="GET", path=DEPLOYMENTS)
    github_sandbox.inject_secondary_rate_limit(retry_after=2, method="POST", path=DEPLOYMENTS)
    deployment = ensure_deployment(
        client(github_sandbox, sandbox_token, sleeps), REPO, sha=head, environment="dev"
    )
    assert len(github_sandbox.deployments(REPO)) == 1 and deployment.created
    assert [(m, s) for m, _, s in sent(github_sandbox)] == [
        ("GET", 502),
        ("GET", 200),
        ("POST", 403),
        ("POST", 201),
    ]
    assert len(sleeps) == 2 and sleeps[1] >= 2  # the policy's backoff, then GitHub's Retry-After


# -- refusals explained -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granted", "permission"),
    [({"contents": "write"}, "statuses: write"), ({"statuses": "write"}, "deployments: write")],
)
def test_a_token_without_the_permission_is_told_which_to_add(
    github_sandbox: GitHubSandbox, head: str, granted: dict[str, str], permission: str
) -> None:
    github_sandbox.add_token("limited", permissions=granted)
    gh = client(github_sandbox, "limited", [])
    with pytest.raises(GitHubAuthError) as caught:
        if permission == "statuses: write":
            post_commit_status(
                gh, REPO, sha=head, state="pending", context="c", description=None, target_url=None
            )
        else:
            ensure_deployment(gh, REPO, sha=head, environment="dev")
    error = caught.value
    assert error.status == 403
    assert f"lacks the '{permission}' permission" in error.message
    assert "Resource not accessible by integration" in error.message
    assert error.fix and f"permissions: {{{permission}}}" in error.fix
    assert int(github_sandbox.requests[-1].status or 0) == 403
    assert github_sandbox.deployments(REPO) == [] and github_sandbox.statuses(REPO, head) == []


def test_unknown_sha_names_the_sha_input(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    with pytest.raises(GitHubValidationError) as caught:
        post_commit_status(
            client(github_sandbox, sandbox_token, []),
            REPO,
            sha="0" * 40,
            state="pending",
            context="c",
            description=None,
            target_url=None,
        )
    assert caught.value.message.startswith(
        "create commit status 'c' (pending) on 000000000000: "
        f"input 'sha': {'0' * 40} is not a commit of org/app"
    )
    assert caught.value.fix and "github.event.pull_request.head.sha" in caught.value.fix


def test_unknown_repository_is_named(github_sandbox: GitHubSandbox, sandbox_token: str, head: str) -> None:
    with pytest.raises(GitHubNotFoundError, match="repository org/nope not found or the token cannot see it"):
        post_commit_status(
            client(github_sandbox, sandbox_token, []),
            "org/nope",
            sha=head,
            state="pending",
            context="c",
            description=None,
            target_url=None,
        )


def test_unknown_deployment_id_names_the_input(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    with pytest.raises(GitHubNotFoundError) as caught:
        post_deployment_status(client(github_sandbox, sandbox_token, []), REPO, 999999, state="success")
    assert "input 'deployment-id': deployment 999999 not found in org/app" in caught.value.message
    assert [m for m, _, _ in sent(github_sandbox)] == ["POST"]


def test_failing_required_contexts_are_named(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    gh = client(github_sandbox, sandbox_token, [])
    post_commit_status(
        gh, REPO, sha=head, state="failure", context="ci/build", description=None, target_url=None
    )
    post_commit_status(
        gh, REPO, sha=head, state="success", context="ci/lint", description=None, target_url=None
    )
    with pytest.raises(GitHubError) as caught:
        ensure_deployment(
            gh, REPO, sha=head, environment="production", required_contexts=["ci/build", "ci/lint", "ci/e2e"]
        )
    error = caught.value
    assert error.status == 409
    assert "required status checks are not successful: ci/build (failure), ci/e2e (missing)" in error.message
    assert "input 'required-contexts' is ci/build, ci/lint, ci/e2e" in error.message
    assert error.fix and "required-contexts" in error.fix
    assert github_sandbox.deployments(REPO) == []


def test_unknown_ref_names_the_ref_input(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    with pytest.raises(
        GitHubValidationError, match="input 'ref': no-such-branch is not a branch, tag or commit"
    ):
        ensure_deployment(
            client(github_sandbox, sandbox_token, []), REPO, sha=head, environment="dev", ref="no-such-branch"
        )


# -- preview environments ---------------------------------------------------------------------------


def test_deactivate_environment_marks_each_active_deployment_once(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    gh = client(github_sandbox, sandbox_token, [])
    first = ensure_deployment(gh, REPO, sha=head, environment="preview/pr-7", transient_environment=True)
    post_deployment_status(gh, REPO, first.id, state="success")
    kept = ensure_deployment(gh, REPO, sha=head, environment="staging")
    github_sandbox.create_repo("org/other")
    assert deactivate_environment(gh, REPO, "preview/pr-7") == (first.id,)
    assert [s["state"] for s in github_sandbox.deployment_statuses(REPO, first.id)] == ["success", "inactive"]
    assert github_sandbox.deployment_statuses(REPO, kept.id) == []

    before = len(github_sandbox.requests)
    assert deactivate_environment(gh, REPO, "preview/pr-7") == ()
    assert [m for m, _, _ in sent(github_sandbox)[before:]] == ["GET", "GET"]  # no write
    assert deactivate_environment(gh, REPO, "preview/pr-8") == ()


# -- the pull request comment ------------------------------------------------------------------------


MARKER = '<!-- gitops-release:report-status context="release-data-prep" -->'


def marked(body: str) -> bool:
    return body.split("\n", 1)[0] == MARKER


@pytest.fixture
def pull(github_sandbox: GitHubSandbox, sandbox_token: str, head: str, tmp_path: Path) -> int:
    push_branch(github_sandbox, tmp_path, "feature")
    gh = client(github_sandbox, sandbox_token, [])
    pr = gh.get_repo(REPO).create_pull(base="main", head="org:feature", title="t", body="b")
    github_sandbox.requests.clear()
    return int(pr.number)


def test_comment_is_created_once_then_left_alone(
    github_sandbox: GitHubSandbox, sandbox_token: str, pull: int
) -> None:
    gh = client(github_sandbox, sandbox_token, [])
    body = f"{MARKER}\n### release-data-prep: success\n"
    comment_id, state = upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=body)
    assert state == "created"
    assert [c["id"] for c in github_sandbox.comments(REPO, pull)] == [comment_id]
    again = upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=body.replace("\n", "\r\n"))
    assert again == (comment_id, "not-updated")
    assert [(m, p) for m, p, _ in sent(github_sandbox)] == [
        ("GET", "/user"),  # who we are: once per process
        ("GET", f"/repos/{REPO}/issues/{pull}/comments"),
        ("POST", f"/repos/{REPO}/issues/{pull}/comments"),
        ("GET", f"/repos/{REPO}/issues/{pull}/comments"),
    ]
    assert len(github_sandbox.comments(REPO, pull)) == 1


def test_comment_post_answered_502_after_it_was_stored_is_not_posted_twice(
    github_sandbox: GitHubSandbox, sandbox_token: str, pull: int
) -> None:
    github_sandbox.inject(502, method="POST", path=r"/comments$", after_processing=True)
    gh = client(github_sandbox, sandbox_token, [])
    comment_id, state = upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nx")
    stored = github_sandbox.comments(REPO, pull)
    assert [c["id"] for c in stored] == [comment_id] and state == "created"


def test_comment_without_the_permission_names_pull_requests_write(
    github_sandbox: GitHubSandbox, pull: int
) -> None:
    github_sandbox.add_token("limited", permissions={"statuses": "write", "deployments": "write"})
    with pytest.raises(GitHubAuthError) as caught:
        upsert_marked_comment(
            client(github_sandbox, "limited", []), REPO, pull, marker_matches=marked, body=f"{MARKER}\nx"
        )
    assert "lacks the 'pull-requests: write' permission" in caught.value.message
    assert caught.value.fix and "permissions: {pull-requests: write}" in caught.value.fix


def test_comment_on_a_missing_pull_request_is_named(
    github_sandbox: GitHubSandbox, sandbox_token: str, pull: int
) -> None:
    with pytest.raises(GitHubNotFoundError, match="pull request #99 not found in org/app"):
        upsert_marked_comment(
            client(github_sandbox, sandbox_token, []), REPO, 99, marker_matches=marked, body=f"{MARKER}\nx"
        )


def test_comment_is_updated_in_place_when_its_body_changes(
    github_sandbox: GitHubSandbox, sandbox_token: str, pull: int
) -> None:
    gh = client(github_sandbox, sandbox_token, [])
    comment_id, _ = upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\npending")
    before = len(github_sandbox.requests)
    assert upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nsuccess") == (
        comment_id,
        "updated",
    )
    assert [(m, p) for m, p, _ in sent(github_sandbox)[before:]] == [
        ("GET", f"/repos/{REPO}/issues/{pull}/comments"),
        ("PATCH", f"/repos/{REPO}/issues/comments/{comment_id}"),
    ]
    assert [c["body"] for c in github_sandbox.comments(REPO, pull)] == [f"{MARKER}\nsuccess"]


def test_comment_patch_answered_502_after_it_was_applied_is_not_sent_twice(
    github_sandbox: GitHubSandbox, sandbox_token: str, pull: int
) -> None:
    gh = client(github_sandbox, sandbox_token, [])
    comment_id, _ = upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nold")
    github_sandbox.inject(502, method="PATCH", path=r"/issues/comments/", after_processing=True)
    before = len(github_sandbox.requests)
    assert upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nnew") == (
        comment_id,
        "updated",
    )
    assert [(m, s) for m, _, s in sent(github_sandbox)[before:]] == [
        ("GET", 200),
        ("PATCH", 502),
        ("GET", 200),
    ]


def test_a_drive_by_commenters_marker_is_ignored_and_never_edited(
    github_sandbox: GitHubSandbox, sandbox_token: str, pull: int
) -> None:
    planted = github_sandbox.add_comment(REPO, pull, f"{MARKER}\nlooks green to me", login="drive-by")
    other_app = github_sandbox.add_comment(REPO, pull, "unrelated", login="other-app[bot]")
    gh = client(github_sandbox, sandbox_token, [])
    ours, state = upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nfailure")
    assert state == "created" and ours not in (planted["id"], other_app["id"])
    assert upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nsuccess") == (
        ours,
        "updated",
    )
    bodies = {c["id"]: c["body"] for c in github_sandbox.comments(REPO, pull)}
    assert bodies == {
        planted["id"]: f"{MARKER}\nlooks green to me",
        other_app["id"]: "unrelated",
        ours: f"{MARKER}\nsuccess",
    }


@pytest.mark.parametrize(
    ("login", "association"),
    [
        ("other-app[bot]", "NONE"),
        ("github-actions[bot]", "NONE"),
        ("maintainer", "MEMBER"),
        ("drive-by", "NONE"),
    ],
    ids=["another-bot", "actions-bot-for-a-pat", "member", "non-member"],
)
def test_a_marked_comment_someone_else_wrote_is_never_edited(
    github_sandbox: GitHubSandbox, sandbox_token: str, pull: int, login: str, association: str
) -> None:
    """Only OUR account's comment is ours (here the token's user, sandbox-user, from GET /user): another
    App, another bot, a member quoting the marker, a drive-by commenter: left as they wrote it."""
    planted = github_sandbox.add_comment(
        REPO, pull, f"{MARKER}\nplanted", login=login, association=association
    )
    gh = client(github_sandbox, sandbox_token, [])
    ours, state = upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nfailure")
    assert state == "created" and ours != planted["id"]
    assert upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nsuccess") == (
        ours,
        "updated",
    )
    bodies = {c["id"]: c["body"] for c in github_sandbox.comments(REPO, pull)}
    assert bodies == {planted["id"]: f"{MARKER}\nplanted", ours: f"{MARKER}\nsuccess"}


def test_with_github_token_the_actions_bots_comment_is_ours_and_others_are_not(
    github_sandbox: GitHubSandbox, pull: int
) -> None:
    """GITHUB_TOKEN cannot read GET /user (403): its comments are github-actions[bot]'s."""
    github_sandbox.add_token("actions-token", login="github-actions[bot]")
    other = github_sandbox.add_comment(REPO, pull, f"{MARKER}\nother", login="other-app[bot]")
    member = github_sandbox.add_comment(
        REPO, pull, f"{MARKER}\nquoted", login="maintainer", association="MEMBER"
    )
    gh = client(github_sandbox, "actions-token", [])
    ours, state = upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\none")
    assert state == "created" and ours not in (other["id"], member["id"])
    assert upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\ntwo") == (
        ours,
        "updated",
    )
    assert [(r.method, r.path, r.status) for r in github_sandbox.requests][:1] == [("GET", "/user", 403)]
    assert sum(1 for r in github_sandbox.requests if r.path == "/user") == 1  # cached for the process
    bodies = {c["id"]: c["body"] for c in github_sandbox.comments(REPO, pull)}
    assert bodies == {
        other["id"]: f"{MARKER}\nother",
        member["id"]: f"{MARKER}\nquoted",
        ours: f"{MARKER}\ntwo",
    }


def test_our_comment_is_found_beyond_the_first_page(
    github_sandbox: GitHubSandbox, sandbox_token: str, pull: int
) -> None:
    for n in range(100):
        github_sandbox.add_comment(REPO, pull, f"comment {n}", login="chatty", association="CONTRIBUTOR")
    gh = client(github_sandbox, sandbox_token, [])
    ours, _ = upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nfirst")
    before = len(github_sandbox.requests)
    assert upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nfirst") == (
        ours,
        "not-updated",
    )
    pages = github_sandbox.requests[before:]
    assert [(r.method, r.query.get("page")) for r in pages] == [("GET", None), ("GET", "2")]


# -- pagination: where next pages may point, and how long a list is read ------------------------------


@pytest.mark.parametrize(
    ("api", "elsewhere", "shown"),
    [
        ("", "https://evil.example", "https://evil.example"),
        ("", "https://127.0.0.1:{port}", "https://127.0.0.1:{port}"),  # https where the API is http
    ],
    ids=["host", "scheme"],
)
def test_a_next_page_off_the_api_is_refused_before_anything_is_sent_to_it(
    github_sandbox: GitHubSandbox, sandbox_token: str, pull: int, api: str, elsewhere: str, shown: str
) -> None:
    """A clear one-line error naming where the next page points; no request (no token) goes there.
    (A path outside the GHES prefix: tests/unit/adapters/test_github_report.py.)"""
    port = github_sandbox.url.rsplit(":", 1)[1]
    target = elsewhere.format(port=port) + f"/repos/{REPO}/issues/{pull}/comments?page=2"
    github_sandbox.inject(
        200,
        method="GET",
        path=rf"/issues/{pull}/comments",
        headers={"Link": f'<{target}>; rel="next"'},
        body=[],
    )
    gh = github_client(GitHubAuth(token=sandbox_token), base_url=github_sandbox.url + api, env={})
    with pytest.raises(GitHubError) as caught:
        upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nx")
    message = caught.value.message
    assert f"GitHub's next page points at {shown.format(port=port)}, not at the API" in message
    assert "not followed" in message and "\n" not in message
    assert [(m, p) for m, p, _ in sent(github_sandbox)] == [
        ("GET", f"{api}/user"),
        ("GET", f"{api}/repos/{REPO}/issues/{pull}/comments"),
    ]
    assert github_sandbox.comments(REPO, pull) == []  # nothing posted after a partial read


def test_a_list_longer_than_the_page_bound_is_an_error_naming_what_was_not_searched(
    github_sandbox: GitHubSandbox, sandbox_token: str, pull: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answering from part of the list could post a second comment: say what was not read instead."""
    monkeypatch.setattr(github_report, "MAX_PAGES", 2)
    for n in range(201):
        github_sandbox.add_comment(REPO, pull, f"comment {n}", login="chatty", association="CONTRIBUTOR")
    with pytest.raises(
        GitHubError,
        match=r"comments of #\d+: GitHub has more than 2 pages of them; the ones "
        r"after the first 2 pages were not searched",
    ):
        upsert_marked_comment(
            client(github_sandbox, sandbox_token, []), REPO, pull, marker_matches=marked, body=f"{MARKER}\nx"
        )
    assert [(m, p) for m, p, _ in sent(github_sandbox)] == [("GET", "/user")] + [
        ("GET", f"/repos/{REPO}/issues/{pull}/comments")
    ] * 2
    assert len(github_sandbox.comments(REPO, pull)) == 201


# -- GitHub Enterprise Server: the API under /api/v3 ---------------------------------------------------


def test_every_report_function_works_under_the_ghes_prefix(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str, pull: int
) -> None:
    gh = github_client(
        GitHubAuth(token=sandbox_token), base_url=None, env={"GITHUB_API_URL": github_sandbox.ghes_url}
    )
    post_commit_status(gh, REPO, sha=head, state="success", context="c", description=None, target_url=None)
    deployment = ensure_deployment(gh, REPO, sha=head, environment="preview/pr-1", transient_environment=True)
    assert ensure_deployment(gh, REPO, sha=head, environment="preview/pr-1").id == deployment.id
    post_deployment_status(gh, REPO, deployment.id, state="success")
    assert deactivate_environment(gh, REPO, "preview/pr-1") == (deployment.id,)
    comment_id, _ = upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\na")
    assert upsert_marked_comment(gh, REPO, pull, marker_matches=marked, body=f"{MARKER}\nb") == (
        comment_id,
        "updated",
    )
    paths = [p for _, p, _ in sent(github_sandbox)]
    assert len(paths) == 13 and all(
        p.startswith("/api/v3/repos/org/app/") for p in paths if p != "/api/v3/user"
    )
    assert [s["state"] for s in github_sandbox.deployment_statuses(REPO, deployment.id)] == [
        "success",
        "inactive",
    ]


# -- GitHub App ---------------------------------------------------------------------------------------


def test_app_token_reports_status_deployment_and_comment(
    github_sandbox: GitHubSandbox, head: str, app_key: tuple[str, str], tmp_path: Path, sandbox_token: str
) -> None:
    push_branch(github_sandbox, tmp_path, "feature")
    number = (
        client(github_sandbox, sandbox_token, [])
        .get_repo(REPO)
        .create_pull(base="main", head="org:feature", title="t", body="b")
        .number
    )
    github_sandbox.register_app(4242, app_key[1], installations={REPO: 77})
    github_sandbox.requests.clear()
    gh = github_client(
        GitHubAuth(app_id="4242", private_key=app_key[0]),
        repository=REPO,
        base_url=github_sandbox.url,
        env={},
    )
    post_commit_status(
        gh, REPO, sha=head, state="success", context="release-data-prep", description=None, target_url=None
    )
    deployment = ensure_deployment(gh, REPO, sha=head, environment="staging")
    post_deployment_status(gh, REPO, deployment.id, state="success")
    upsert_marked_comment(gh, REPO, number, marker_matches=marked, body=f"{MARKER}\nok")
    bot = "sandbox-app-4242[bot]"
    assert [s["creator"]["login"] for s in github_sandbox.statuses(REPO, head)] == [bot]
    assert github_sandbox.deployments(REPO)[0]["creator"]["login"] == bot
    assert github_sandbox.comments(REPO, number)[0]["user"]["login"] == bot
    assert [(m, p) for m, p, _ in sent(github_sandbox)][:2] == [
        ("GET", f"/repos/{REPO}/installation"),
        ("POST", "/app/installations/77/access_tokens"),
    ]
    assert ("GET", "/app") in [
        (m, p) for m, p, _ in sent(github_sandbox)
    ]  # the App's bot login, with the JWT
    # token once; status; deployment + status; who the App is (once) + comment
    assert len(github_sandbox.requests) == 2 + 1 + 3 + 1 + 2
