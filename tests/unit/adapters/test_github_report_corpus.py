"""The report adapters parse every recorded GitHub response of the corpus, replayed over HTTP.

tests/fixtures/corpus/github-deploy holds real exchanges with api.github.com (octokit.rb VCR and
github3.py betamax cassettes). ``ReplayServer`` answers the adapter's requests with them; each test
checks what the function returns against the recorded JSON. Where the corpus has no recording
(an empty deployment list before a create, a 403 "Resource not accessible by integration") the
answer is built by the test and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import github
import pytest

from gitops_release.adapters import github as github_adapter
from gitops_release.adapters.github import GitHubAuth, github_client
from gitops_release.adapters.github_report import (
    DeploymentRef,
    PostedDeploymentStatus,
    PostedStatus,
    deactivate_environment,
    ensure_deployment,
    post_commit_status,
    post_deployment_status,
    upsert_marked_comment,
)
from gitops_release.errors import APIError, GitHubAuthError, GitHubError, RateLimitError
from tests.fixtures.github_replay import DROP, Exchange, ReplayServer, Reply, recorded

REPO = "org/app"

DEPLOYMENT_CREATES = recorded("POST", r"/deployments$", 201)
DEPLOYMENT_READS = recorded("GET", r"/deployments/\d+$", 200)
DEPLOYMENT_LISTS = recorded("GET", r"/deployments$", 200)
DEPLOYMENT_STATUS_CREATES = recorded("POST", r"/deployments/\d+/statuses$", 201)
DEPLOYMENT_STATUS_LISTS = recorded("GET", r"/deployments/\d+/statuses$", 200)
STATUS_CREATES = recorded("POST", r"/statuses/[0-9a-f]+$", 201)
STATUS_LISTS = recorded("GET", r"/statuses/[0-9a-f]+$", 200)
COMBINED_STATUSES = recorded("GET", r"/commits/[0-9a-f]+/status$", 200)
PULL_CREATES = recorded("POST", r"/pulls$", 201)
PULL_EXISTS = recorded("POST", r"/pulls$", 422)
PULL_LISTS = recorded("GET", r"/pulls$", 200)
PULL_EDITS = recorded("PATCH", r"/pulls/\d+$", 200)


def test_the_corpus_holds_what_these_tests_parse() -> None:
    """Every list below is parsed whole; a file added to or lost from the corpus shows here."""
    counts = [
        len(DEPLOYMENT_CREATES),
        len(DEPLOYMENT_READS),
        len(DEPLOYMENT_LISTS),
        len(DEPLOYMENT_STATUS_CREATES),
        len(DEPLOYMENT_STATUS_LISTS),
        len(STATUS_CREATES),
        len(STATUS_LISTS),
        len(COMBINED_STATUSES),
        len(PULL_CREATES),
        len(PULL_EXISTS),
        len(PULL_LISTS),
        len(PULL_EDITS),
    ]
    assert counts == [5, 2, 4, 2, 2, 2, 1, 2, 2, 1, 1, 1]


def ids(exchanges: list[Exchange]) -> list[str]:
    return [
        f"{e.cassette.split('/')[0]}/{e.cassette.split('/')[1].split('.')[0]}#{e.index}" for e in exchanges
    ]


@pytest.fixture
def server() -> Iterator[ReplayServer]:
    with ReplayServer() as replay:
        yield replay
    assert replay.unanswered == [], "requests the test did not expect"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def gh(server: ReplayServer, sleeps: list[float]) -> github.Github:
    return github_client(
        GitHubAuth(token="replay-token"), base_url=server.url, env={}, sleep=sleeps.append, timeout=5
    )


def only(rows: list[Exchange]) -> Exchange:
    assert len(rows) == 1
    return rows[0]


# -- deployments -------------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", DEPLOYMENT_CREATES, ids=ids(DEPLOYMENT_CREATES))
def test_every_recorded_deployment_creation_parses(
    gh: github.Github, server: ReplayServer, exchange: Exchange
) -> None:
    data = exchange.json()
    server.answer("GET", r"/deployments\?", Reply(200, []))  # not recorded: no deployment yet
    server.answer("POST", r"/deployments$", exchange)
    made = ensure_deployment(gh, REPO, sha=data["sha"], environment=data["environment"])
    assert made == DeploymentRef(
        id=data["id"], sha=data["sha"], environment=data["environment"], created=True
    )
    assert server.sent() == [("GET", f"/repos/{REPO}/deployments"), ("POST", f"/repos/{REPO}/deployments")]


@pytest.mark.parametrize(
    "exchange",
    [e for e in DEPLOYMENT_LISTS if e.cassette.startswith("github3py")],
    ids=ids(DEPLOYMENT_LISTS[1:]),
)
def test_every_recorded_deployment_list_is_reused_from(
    gh: github.Github, server: ReplayServer, exchange: Exchange
) -> None:
    newest = exchange.json()[0]
    server.answer("GET", r"/deployments\?", exchange)
    found = ensure_deployment(gh, REPO, sha=newest["sha"], environment=newest["environment"])
    assert found == DeploymentRef(
        id=newest["id"], sha=newest["sha"], environment=newest["environment"], created=False
    )
    assert server.sent() == [("GET", f"/repos/{REPO}/deployments")]


@pytest.mark.parametrize("exchange", DEPLOYMENT_READS, ids=ids(DEPLOYMENT_READS))
def test_every_recorded_single_deployment_parses_as_a_list_entry(
    gh: github.Github, server: ReplayServer, exchange: Exchange
) -> None:
    data = exchange.json()
    server.answer("GET", r"/deployments\?", Reply(200, [data]))  # the recorded object, in a list
    found = ensure_deployment(gh, REPO, sha=data["sha"], environment=data["environment"])
    assert (found.id, found.created) == (data["id"], False)


def test_the_recorded_list_whose_redaction_broke_it_is_a_clear_error(
    gh: github.Github, server: ReplayServer
) -> None:
    """octokit's deployments-list cassette replaced digits with a placeholder: its X-RateLimit-Remaining
    is '49<GITHUB_TEST_INTEGRATION_INSTALLATION>' (PyGithub raises ValueError reading it) and its
    ids are no longer JSON. Each gives one line naming api-url, not a traceback."""
    broken = only([e for e in DEPLOYMENT_LISTS if e.cassette.startswith("octokit-rb")])
    assert broken.header("X-RateLimit-Remaining") == "49<GITHUB_TEST_INTEGRATION_INSTALLATION>"
    server.answer("GET", r"/deployments\?", broken)
    with pytest.raises(
        APIError, match="GET /repos/org/app/deployments: GitHub's answer could not be read"
    ) as caught:
        ensure_deployment(gh, REPO, sha="138e891ddb7b6adbf36924e922c387f0a655ac16", environment="production")
    assert caught.value.fix and "api-url" in caught.value.fix

    server.answer("GET", r"/deployments\?", Reply(200, broken.body))  # the same body, sane headers
    with pytest.raises(
        APIError, match=r"GitHub's answer could not be read \(Expecting ',' delimiter"
    ) as caught:
        ensure_deployment(gh, REPO, sha="138e891ddb7b6adbf36924e922c387f0a655ac16", environment="production")
    assert caught.value.fix and "api-url" in caught.value.fix


def test_a_lost_answer_to_the_create_finds_the_deployment_github_made(
    gh: github.Github, server: ReplayServer, sleeps: list[float]
) -> None:
    listed = DEPLOYMENT_LISTS[1]
    newest = listed.json()[0]
    server.answer("GET", r"/deployments\?", Reply(200, []))
    server.answer("POST", r"/deployments$", DROP)  # GitHub got it; the answer never came
    server.answer("GET", r"/deployments\?", listed)
    made = ensure_deployment(gh, REPO, sha=newest["sha"], environment=newest["environment"])
    assert made == DeploymentRef(
        id=newest["id"], sha=newest["sha"], environment=newest["environment"], created=True
    )
    assert [m for m, _ in server.sent()] == ["GET", "POST", "GET"]  # the POST was not sent again
    assert sleeps == []


def test_a_lost_answer_and_nothing_found_is_a_clear_error(gh: github.Github, server: ReplayServer) -> None:
    server.answer("GET", r"/deployments\?", Reply(200, []), times=2)
    server.answer("POST", r"/deployments$", DROP)
    with pytest.raises(GitHubError, match=r"was sent once and not re-sent; no answer from 127\.0\.0\.1:\d+"):
        ensure_deployment(gh, REPO, sha="a" * 40, environment="staging")
    assert [m for m, _ in server.sent()] == ["GET", "POST", "GET"]


# -- deployment statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", DEPLOYMENT_STATUS_CREATES, ids=ids(DEPLOYMENT_STATUS_CREATES))
def test_every_recorded_deployment_status_creation_parses(
    gh: github.Github, server: ReplayServer, exchange: Exchange
) -> None:
    data = exchange.json()
    server.answer("POST", r"/deployments/42/statuses$", exchange)
    posted = post_deployment_status(gh, REPO, 42, state=data["state"])
    assert posted == PostedDeploymentStatus(
        id=data["id"],
        state=data["state"],
        deployment_id=42,
        environment_url=data.get("environment_url") or "",
        log_url=data.get("log_url") or data.get("target_url") or "",
    )
    assert server.sent() == [("POST", f"/repos/{REPO}/deployments/42/statuses")]


def test_the_recorded_deployment_status_list_finds_a_status_after_a_502(
    gh: github.Github, server: ReplayServer
) -> None:
    listed = only([e for e in DEPLOYMENT_STATUS_LISTS if e.json()])
    newest = listed.json()[0]
    server.answer("POST", r"/statuses$", Reply(502, {"message": "Server Error"}))
    server.answer("GET", r"/statuses\?", listed)
    found = post_deployment_status(
        gh,
        REPO,
        801,
        state=newest["state"],
        description=newest["description"],
        environment_url=newest.get("environment_url"),
        log_url=newest.get("log_url") or newest.get("target_url"),
    )
    assert (found.id, found.state) == (newest["id"], newest["state"])
    assert [m for m, _ in server.sent()] == ["POST", "GET"]


def test_deactivate_reads_the_recorded_lists_and_ends_only_what_is_active(
    gh: github.Github, server: ReplayServer
) -> None:
    deployments = DEPLOYMENT_LISTS[1]  # github3py: 801 (statuses recorded) and 797
    with_statuses = only([e for e in DEPLOYMENT_STATUS_LISTS if e.json()])
    empty = only([e for e in DEPLOYMENT_STATUS_LISTS if not e.json()])
    server.answer("GET", r"/deployments\?", deployments)
    server.answer("GET", r"/deployments/801/statuses\?", with_statuses)
    server.answer("GET", r"/deployments/797/statuses\?", empty)
    for deployment_id in (801, 797):
        server.answer(
            "POST",
            rf"/deployments/{deployment_id}/statuses$",
            Reply(201, {"id": deployment_id + 1, "state": "inactive"}),
        )
    assert deactivate_environment(gh, REPO, "production") == (801, 797)
    posts = [r for r in server.requests if r.method == "POST"]
    assert [p.json()["state"] for p in posts] == ["inactive", "inactive"]


# -- commit statuses ----------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", STATUS_CREATES, ids=ids(STATUS_CREATES))
def test_every_recorded_commit_status_creation_parses(
    gh: github.Github, server: ReplayServer, exchange: Exchange
) -> None:
    data = exchange.json()
    sent_body = exchange.request_json()
    server.answer("POST", r"/statuses/", exchange)
    posted = post_commit_status(
        gh,
        REPO,
        sha="71516564edc3f5b4535bcc027bd4894beb8ec5b5",
        state=sent_body["state"],
        context=sent_body.get("context", "default"),
        description=None,
        target_url=sent_body.get("target_url"),
    )
    # the 2014 recording has no context: GitHub's name for that is "default"
    assert posted == PostedStatus(
        id=data["id"], state=data["state"], context=data.get("context", "default"), url=data["url"]
    )
    assert len(server.requests) == 1


def test_the_recorded_status_list_finds_the_status_after_a_lost_answer(
    gh: github.Github, server: ReplayServer
) -> None:
    """The 2012 recording has no ``context`` (GitHub shows those as "default")."""
    listed = only(STATUS_LISTS)
    newest = listed.json()[0]
    server.answer("POST", r"/statuses/", DROP)
    server.answer("GET", r"/commits/[0-9a-f]+/statuses\?", listed)
    found = post_commit_status(
        gh,
        REPO,
        sha="7d069dedd4cb56bf57760688657abd0e6b5a28b8",
        state=newest["state"],
        context="default",
        description=newest["description"],
        target_url=newest["target_url"],
    )
    assert found == PostedStatus(id=newest["id"], state="failure", context="default", url=newest["url"])
    assert [m for m, _ in server.sent()] == ["POST", "GET"]


def test_a_status_list_whose_newest_differs_is_not_taken_for_ours_and_the_status_is_sent_again(
    gh: github.Github, server: ReplayServer, sleeps: list[float]
) -> None:
    """A lost answer GitHub did not apply: a second commit status is harmless (the newest wins), so
    it is sent again after the policy's backoff rather than leaving the commit pending."""
    server.answer("POST", r"/statuses/", DROP)
    server.answer("GET", r"/commits/[0-9a-f]+/statuses\?", only(STATUS_LISTS))
    server.answer(
        "POST", r"/statuses/", Reply(201, {"id": 7, "state": "success", "context": "default", "url": "u"})
    )
    posted = post_commit_status(
        gh,
        REPO,
        sha="7d069dedd4cb56bf57760688657abd0e6b5a28b8",
        state="success",
        context="default",
        description=None,
        target_url=None,
    )
    assert posted == PostedStatus(id=7, state="success", context="default", url="u")
    assert [m for m, _ in server.sent()] == ["POST", "GET", "POST"]
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 1  # the policy's first backoff


@pytest.mark.parametrize("exchange", COMBINED_STATUSES, ids=ids(COMBINED_STATUSES))
def test_every_recorded_combined_status_parses(
    gh: github.Github, server: ReplayServer, exchange: Exchange
) -> None:
    data = exchange.json()
    server.answer("GET", r"/status$", exchange)
    statuses = data["statuses"]
    context = statuses[0]["context"] if statuses else "release-data-prep"
    found = github_adapter.commit_status(gh, REPO, data["sha"], context)
    if statuses:
        assert found is not None and (found.context, found.state) == (context, statuses[0]["state"])
    else:
        assert found is None  # the 2014 recording: no statuses and no total_count
    assert len(server.requests) == 1


# -- pull requests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("exchange", PULL_CREATES, ids=ids(PULL_CREATES))
def test_every_recorded_pull_request_creation_parses(
    gh: github.Github, server: ReplayServer, exchange: Exchange
) -> None:
    data = exchange.json()
    server.answer("GET", r"/pulls\?", Reply(200, []))
    server.answer("POST", r"/pulls$", exchange)
    info, state = github_adapter.open_or_update_pull(
        gh, REPO, head=data["head"]["ref"], base=data["base"]["ref"], title=data["title"], body=data["body"]
    )
    assert state == "created"
    assert (info.number, info.draft, info.head, info.base, info.head_sha) == (
        data["number"],
        data["draft"],
        data["head"]["ref"],
        data["base"]["ref"],
        data["head"]["sha"],
    )
    assert [m for m, _ in server.sent()] == ["GET", "POST"]


def test_the_recorded_pull_request_list_parses_and_forks_are_never_ours(
    gh: github.Github, server: ReplayServer
) -> None:
    listed = only(PULL_LISTS)
    pulls = listed.json()
    server.answer("GET", r"/pulls\?", listed, times=len(pulls))
    for pr in pulls:
        found = github_adapter.find_open_pull(
            gh, "sigmavirus24/github3.py", head=pr["head"]["ref"], base=pr["base"]["ref"]
        )
        assert found is None  # every recorded PR comes from a fork: its branch name is not ours to reuse
    assert len(server.requests) == len(pulls)


def test_the_recorded_edited_pull_request_parses(gh: github.Github, server: ReplayServer) -> None:
    closed = only(PULL_EDITS)
    server.answer("GET", r"/pulls/1$", closed)
    github_adapter.close_pull(gh, REPO, 1, comment="superseded")  # already closed: nothing is sent
    assert server.sent() == [("GET", f"/repos/{REPO}/pulls/1")]


def test_recorded_422_pull_request_already_exists_resolves_to_the_open_one(
    gh: github.Github, server: ReplayServer
) -> None:
    existing = PULL_CREATES[0].json()  # github3py: testgh3py:develop -> master, open
    server.answer("GET", r"/pulls\?", Reply(200, []))
    server.answer("POST", r"/pulls$", only(PULL_EXISTS))
    server.answer("GET", r"/pulls\?", Reply(200, [existing]))
    info, state = github_adapter.open_or_update_pull(
        gh,
        "testgh3py/github3py",
        head="develop",
        base="master",
        title=existing["title"],
        body=existing["body"],
    )
    assert (info.number, state) == (existing["number"], "not-updated")


def test_recorded_422_pull_request_already_exists_with_none_visible_is_explained(
    gh: github.Github, server: ReplayServer
) -> None:
    server.answer("GET", r"/pulls\?", Reply(200, []), times=2)
    server.answer("POST", r"/pulls$", only(PULL_EXISTS))
    with pytest.raises(GitHubError, match="GitHub says one already exists, but no open PR") as caught:
        github_adapter.open_or_update_pull(gh, REPO, head="branch-for-pr", base="master", title="t", body="b")
    assert caught.value.status == 422


# -- 403 "Resource not accessible by integration" (MODELLED) --------------------------------------------


def modelled_403(documentation: str) -> Reply:
    """MODELLED, not recorded: the rate-limit headers of a recorded 201 (requests left: 4985) with the
    body GitHub documents for a token that lacks the permission. A permission error, not a rate limit."""
    source = only([e for e in STATUS_CREATES if e.cassette.startswith("github3py")])
    headers = {k: v for k, v in source.headers if k.lower().startswith("x-ratelimit-")}
    assert int(headers["X-RateLimit-Remaining"]) > 0
    body = {"message": "Resource not accessible by integration", "documentation_url": documentation}
    return Reply(403, body, headers)


def call_each(kind: str, gh: github.Github) -> Any:
    if kind == "statuses":
        return post_commit_status(
            gh, REPO, sha="a" * 40, state="pending", context="c", description=None, target_url=None
        )
    if kind == "deployments":
        return ensure_deployment(gh, REPO, sha="a" * 40, environment="staging")
    return upsert_marked_comment(
        gh, REPO, 3, marker_matches=lambda body: True, body="x", author="release-bot"
    )


@pytest.mark.parametrize(
    ("kind", "method", "path", "permission"),
    [
        ("statuses", "POST", r"/statuses/", "statuses: write"),
        ("deployments", "GET", r"/deployments\?", "deployments: write"),
        ("comment", "GET", r"/comments\?", "pull-requests: write"),
    ],
)
def test_modelled_403_not_accessible_names_the_permission_and_is_not_a_rate_limit(
    gh: github.Github,
    server: ReplayServer,
    sleeps: list[float],
    kind: str,
    method: str,
    path: str,
    permission: str,
) -> None:
    server.answer(method, path, modelled_403("https://docs.github.com/rest"))
    with pytest.raises(GitHubAuthError) as caught:
        call_each(kind, gh)
    error = caught.value
    assert not isinstance(error, RateLimitError)
    assert error.status == 403
    said = "(403 Resource not accessible by integration)"
    assert f"the token lacks the '{permission}' permission on {REPO} {said}" in error.message
    assert error.fix and f"permissions: {{{permission}}}" in error.fix
    assert len(server.requests) == 1 and sleeps == []  # not waited on, not retried
