"""adapters/github_report.py on a scripted loopback server: refusals before any request, and GitHub
answers the sandbox does not produce (GitHub's documented 409 bodies)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import github
import pytest

from gitops_release.adapters.github import GitHubAuth, github_client
from gitops_release.adapters.github_report import (
    COMMENT_LIMIT,
    deactivate_environment,
    ensure_deployment,
    post_commit_status,
    post_deployment_status,
    upsert_marked_comment,
)
from gitops_release.errors import GitHubError, InputError
from tests.fixtures.github_replay import ReplayServer, Reply

REPO = "org/app"
SHA = "a" * 40


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay
    assert replay.unanswered == []


@pytest.fixture
def gh(server: ReplayServer) -> github.Github:
    return github_client(GitHubAuth(token="t"), base_url=server.url, env={}, sleep=lambda s: None, timeout=5)


def anything(body: str) -> bool:
    return True


@pytest.mark.parametrize(
    ("field", "call"),
    [
        (
            "repository",
            lambda gh: post_commit_status(
                gh, "no-slash", sha=SHA, state="success", context="c", description=None, target_url=None
            ),
        ),
        (
            "sha",
            lambda gh: post_commit_status(
                gh, REPO, sha=" ", state="success", context="c", description=None, target_url=None
            ),
        ),
        ("sha", lambda gh: ensure_deployment(gh, REPO, sha="", environment="dev")),
        ("environment", lambda gh: ensure_deployment(gh, REPO, sha=SHA, environment="  ")),
        ("deployment-id", lambda gh: post_deployment_status(gh, REPO, 0, state="success")),
        ("deployment-id", lambda gh: post_deployment_status(gh, REPO, True, state="success")),
        ("environment", lambda gh: deactivate_environment(gh, REPO, "")),
        ("pull-request", lambda gh: upsert_marked_comment(gh, REPO, 0, marker_matches=anything, body="x")),
        ("comment", lambda gh: upsert_marked_comment(gh, REPO, 1, marker_matches=anything, body=" \n")),
        (
            "results",
            lambda gh: upsert_marked_comment(
                gh, REPO, 1, marker_matches=anything, body="x" * (COMMENT_LIMIT + 1)
            ),
        ),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    gh: github.Github, server: ReplayServer, field: str, call: Callable[[github.Github], Any]
) -> None:
    with pytest.raises(InputError) as caught:
        call(gh)
    assert caught.value.field == field
    assert server.requests == []


def test_a_comment_of_exactly_the_limit_is_sent(gh: github.Github, server: ReplayServer) -> None:
    server.answer("GET", r"/user$", Reply(200, {"login": "release-bot"}))
    server.answer("GET", r"/comments\?", Reply(200, []))
    server.answer("POST", r"/comments$", Reply(201, {"id": 5}))
    assert upsert_marked_comment(gh, REPO, 1, marker_matches=anything, body="x" * COMMENT_LIMIT) == (
        5,
        "created",
    )


def test_409_lists_only_the_contexts_that_are_not_successful(gh: github.Github, server: ReplayServer) -> None:
    """GitHub's documented 409 lists every required context with its state, passing ones too."""
    conflict = {
        "message": "Conflict: Commit status checks failed for topic-branch.",
        "errors": [
            {
                "contexts": [
                    {"context": "continuous-integration/travis-ci/push", "state": "success"},
                    {"context": "security/brakeman", "state": "failure"},
                ],
                "resource": "Deployment",
                "field": "required_contexts",
                "code": "invalid",
            }
        ],
        "documentation_url": "https://docs.github.com/rest/deployments/deployments#create-a-deployment",
    }
    server.answer("GET", r"/deployments\?", Reply(200, []))
    server.answer("POST", r"/deployments$", Reply(409, conflict))
    with pytest.raises(GitHubError) as caught:
        ensure_deployment(
            gh,
            REPO,
            sha=SHA,
            environment="production",
            required_contexts=["continuous-integration/travis-ci/push", "security/brakeman"],
        )
    assert caught.value.status == 409
    assert caught.value.message == (
        f"create deployment of {SHA[:12]} to production: GitHub refused it because required status checks "
        "are not successful: security/brakeman (failure); input 'required-contexts' is "
        "continuous-integration/travis-ci/push, security/brakeman (409 Conflict: Commit status checks failed "
        "for topic-branch.)"
    )
    assert caught.value.fix == (
        "deploy after those checks pass, or set required-contexts to only the contexts that must pass first "
        "(empty: none)"
    )


def test_409_conflict_merging_names_auto_merge(gh: github.Github, server: ReplayServer) -> None:
    server.answer("GET", r"/deployments\?", Reply(200, []))
    server.answer(
        "POST", r"/deployments$", Reply(409, {"message": "Conflict merging main into topic-branch."})
    )
    with pytest.raises(GitHubError) as caught:
        ensure_deployment(gh, REPO, sha=SHA, environment="staging", ref="topic-branch", auto_merge=True)
    assert "could not merge the default branch into topic-branch (auto-merge)" in caught.value.message
    assert caught.value.fix and caught.value.fix.startswith("set auto-merge: false")
    sent = server.requests[1].json()
    assert (sent["ref"], sent["auto_merge"]) == ("topic-branch", True)


def test_create_sends_every_option_as_given(gh: github.Github, server: ReplayServer) -> None:
    server.answer("GET", r"/deployments\?", Reply(200, []))
    server.answer("POST", r"/deployments$", Reply(201, {"id": 9, "sha": SHA, "environment": "preview/pr-3"}))
    ensure_deployment(
        gh,
        REPO,
        sha=SHA,
        environment="preview/pr-3",
        description="preview of #3",
        transient_environment=True,
        production_environment=False,
        payload={"app": "web"},
        task="deploy:preview",
    )
    path, _, query = server.requests[0].path.partition("?")
    assert path == f"/repos/{REPO}/deployments"
    assert parse_qs(query) == {
        "sha": [SHA],
        "environment": ["preview/pr-3"],
        "task": ["deploy:preview"],
        "per_page": ["1"],
    }
    assert server.requests[1].json() == {
        "ref": SHA,
        "environment": "preview/pr-3",
        "task": "deploy:preview",
        "auto_merge": False,
        "required_contexts": [],
        "transient_environment": True,
        "description": "preview of #3",
        "production_environment": False,
        "payload": {"app": "web"},
    }


def test_a_next_page_outside_the_ghes_api_prefix_is_not_followed(server: ReplayServer) -> None:
    gh = github_client(GitHubAuth(token="t"), base_url=server.url + "/api/v3", env={}, timeout=5)
    outside = f"{server.url}/repos/{REPO}/deployments?page=2"
    server.answer(
        "GET", r"/api/v3/repos/org/app/deployments\?", Reply(200, [], {"Link": f'<{outside}>; rel="next"'})
    )
    with pytest.raises(GitHubError) as caught:
        deactivate_environment(gh, REPO, "preview/pr-1")
    assert caught.value.message == (
        f"list the deployments of preview/pr-1: GitHub's next page points at {server.url}, not at the API "
        f"{server.url}/api/v3; not followed (the token goes only to the API)"
    )
    assert len(server.requests) == 1


def marked_comment(comment_id: int, login: str, user_type: str, association: str) -> dict[str, Any]:
    return {
        "id": comment_id,
        "body": "<!-- marker -->\nold",
        "user": {"login": login, "type": user_type},
        "author_association": association,
    }


def test_a_token_that_cannot_read_get_user_is_github_actions_bot_and_only_its_comment_is_edited(
    gh: github.Github, server: ReplayServer
) -> None:
    """GITHUB_TOKEN (and an installation token) get 403 on GET /user: the comment author is then
    github-actions[bot]. Another App's and a member's marked comments are not ours."""
    server.answer(
        "GET",
        r"/user$",
        Reply(403, {"message": "Resource not accessible by integration", "documentation_url": "https://x"}),
    )
    comments = [
        marked_comment(1, "other-app[bot]", "Bot", "NONE"),
        marked_comment(2, "maintainer", "User", "MEMBER"),
        marked_comment(3, "github-actions[bot]", "Bot", "NONE"),
    ]
    server.answer("GET", r"/comments\?", Reply(200, comments))
    server.answer(
        "PATCH", r"/issues/comments/3$", Reply(200, {**comments[2], "body": "<!-- marker -->\nnew"})
    )
    marked = lambda body: body.startswith("<!-- marker -->")  # noqa: E731
    assert upsert_marked_comment(gh, REPO, 1, marker_matches=marked, body="<!-- marker -->\nnew") == (
        3,
        "updated",
    )
    assert [f"{s.method} {s.path.split('?')[0]}" for s in server.requests] == [
        "GET /user",
        "GET /repos/org/app/issues/1/comments",
        "PATCH /repos/org/app/issues/comments/3",
    ]


def test_an_explicit_author_is_used_without_asking_who_the_token_is(
    gh: github.Github, server: ReplayServer
) -> None:
    """E.g. an installation token of another App passed as token: its bot is named by the caller."""
    server.answer("GET", r"/comments\?", Reply(200, [marked_comment(4, "Release-App[bot]", "Bot", "NONE")]))
    marked = lambda body: body.startswith("<!-- marker -->")  # noqa: E731
    assert upsert_marked_comment(
        gh, REPO, 1, marker_matches=marked, body="<!-- marker -->\nold", author="release-app[bot]"
    ) == (4, "not-updated")
    assert [s.method for s in server.requests] == ["GET"]
