"""github_client() (PyGithub) and HttpClient (stdlib) against the GitHub API sandbox on 127.0.0.1.

The sandbox validates every request and response against GitHub's OpenAPI description; the
``github_sandbox`` fixture fails a test that produced a violation.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from gitops_release.adapters import github as github_adapter
from gitops_release.adapters.github import (
    AppTokenProvider,
    GitHubAuth,
    call,
    github_client,
)
from gitops_release.adapters.http import HttpClient, next_link
from gitops_release.errors import (
    GitHubAuthError,
    GitHubError,
    GitHubNotFoundError,
    GitHubValidationError,
    RateLimitError,
    RetryExhaustedError,
)
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.github_sandbox import SANDBOX_REPO

REPO = SANDBOX_REPO
STATUS_PATH = r"/repos/org/app/statuses/"


pytestmark = pytest.mark.usefixtures("fresh_app_tokens")


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.lines: list[str] = []


def client(sandbox: GitHubSandbox, token: str, rec: Recorder, **kwargs: Any) -> Any:
    return github_client(
        GitHubAuth(token=token),
        base_url=sandbox.url,
        env={},
        sleep=rec.sleeps.append,
        log=rec.lines.append,
        **kwargs,
    )


def create_status(gh: Any, sha: str, description: str = "release prepared") -> Any:
    commit = gh.get_repo(REPO).get_commit(sha)
    return call(
        "create commit status",
        lambda: commit.create_status(state="success", context="release-data-prep", description=description),
        repository=REPO,
        permission="statuses: write",
    )


def seen(sandbox: GitHubSandbox, method: str, fragment: str) -> list[Any]:
    return [r for r in sandbox.requests if r.method == method and fragment in r.path]


def test_creates_a_commit_status(github_sandbox: GitHubSandbox, sandbox_token: str, head: str) -> None:
    rec = Recorder()
    status = create_status(client(github_sandbox, sandbox_token, rec), head)
    assert status.state == "success"
    assert status.context == "release-data-prep"
    assert [s["description"] for s in github_sandbox.statuses(REPO, head)] == ["release prepared"]
    assert [(r.method, r.status) for r in github_sandbox.requests] == [("POST", 201)]  # lazy: no GET first


def test_post_on_502_is_not_resent(github_sandbox: GitHubSandbox, sandbox_token: str, head: str) -> None:
    rec = Recorder()
    github_sandbox.inject(502, method="POST", path=STATUS_PATH)
    with pytest.raises(
        RetryExhaustedError, match=r"502 .*sent once, not re-sent \(it may have been applied\)"
    ):
        create_status(client(github_sandbox, sandbox_token, rec), head)
    assert len(seen(github_sandbox, "POST", "/statuses/")) == 1
    assert github_sandbox.statuses(REPO, head) == []
    assert rec.sleeps == []


@pytest.mark.parametrize("status", [502, 503])
def test_get_is_retried_after_5xx(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str, status: int
) -> None:
    rec = Recorder()
    github_sandbox.inject(status, count=2, method="GET", path=r"^/repos/org/app$")
    gh = client(github_sandbox, sandbox_token, rec)
    assert call("get repository", lambda: gh.get_repo(REPO).raw_data["full_name"]) == REPO
    assert [r.status for r in seen(github_sandbox, "GET", "/repos/org/app")] == [status, status, 200]
    assert len(rec.sleeps) == 2
    assert rec.lines[1].startswith(f"GitHub answered {status}; retry 2/4 in ")


def test_secondary_rate_limit_retries_the_post(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    rec = Recorder()
    github_sandbox.inject_secondary_rate_limit(retry_after=2, method="POST", path=STATUS_PATH)
    create_status(client(github_sandbox, sandbox_token, rec), head)
    assert [r.status for r in seen(github_sandbox, "POST", "/statuses/")] == [403, 201]
    assert rec.sleeps == [2.0]
    assert len(github_sandbox.statuses(REPO, head)) == 1


def test_retry_after_beyond_the_bound_fails_at_once(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    rec = Recorder()
    github_sandbox.inject_secondary_rate_limit(retry_after=3600, method="POST", path=STATUS_PATH)
    with pytest.raises(RateLimitError, match="retry after 3600 s"):
        create_status(client(github_sandbox, sandbox_token, rec), head)
    assert len(seen(github_sandbox, "POST", "/statuses/")) == 1
    assert rec.sleeps == []


def test_description_over_140_characters_names_the_field(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    with pytest.raises(GitHubValidationError) as caught:
        create_status(client(github_sandbox, sandbox_token, Recorder()), head, description="x" * 141)
    text = str(caught.value)
    assert "field 'description'" in text
    assert "140 characters" in text
    assert "\n" not in text


def test_injected_validation_error_names_the_field(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    github_sandbox.inject_validation_error(field="target_url", method="POST", path=STATUS_PATH)
    with pytest.raises(GitHubValidationError, match="Status field 'target_url' is invalid"):
        create_status(client(github_sandbox, sandbox_token, Recorder()), head)


def test_missing_permission_is_named(github_sandbox: GitHubSandbox, head: str) -> None:
    github_sandbox.add_token("read-only-token", permissions={"statuses": "read"})
    with pytest.raises(GitHubAuthError) as caught:
        create_status(client(github_sandbox, "read-only-token", Recorder()), head)
    assert "lacks the 'statuses: write' permission on org/app" in str(caught.value)
    assert "Resource not accessible by integration" in str(caught.value)


def test_unknown_repository_is_named(github_sandbox: GitHubSandbox, sandbox_token: str, head: str) -> None:
    gh = client(github_sandbox, sandbox_token, Recorder())
    with pytest.raises(GitHubNotFoundError, match="repository org/nope not found or the token cannot see it"):
        call(
            "get repository",
            lambda: gh.get_repo("org/nope").raw_data,
            repository="org/nope",
            permission="metadata: read",
        )


def test_secret_token_never_printed(
    github_sandbox: GitHubSandbox, head: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "ghp_integrationSecret0123456789abcdef"
    github_sandbox.add_token(secret)
    rec = Recorder()
    github_sandbox.inject(502, count=1, method="GET", path=r"^/repos/org/app$")
    github_sandbox.inject_secondary_rate_limit(retry_after=1, method="POST", path=STATUS_PATH)
    github_sandbox.inject(401, method="POST", path=STATUS_PATH, body={"message": f"Bad credentials {secret}"})
    gh = client(github_sandbox, secret, rec)
    with caplog.at_level(logging.DEBUG):
        call("get repository", lambda: gh.get_repo(REPO).raw_data)
        with pytest.raises(GitHubAuthError) as caught:
            create_status(gh, head)
    assert len(rec.lines) == 2
    for text in [*rec.lines, caplog.text, str(caught.value), caught.value.fix or ""]:
        assert secret not in text
    assert all(secret not in r.path and secret not in str(r.query) for r in github_sandbox.requests)
    assert all(r.header("authorization") in (f"token {secret}",) for r in github_sandbox.requests)


# -- stdlib HttpClient -------------------------------------------------------------------------


def test_http_client_dispatch_and_502_not_resent(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    rec = Recorder()
    http = HttpClient(github_sandbox.url, token=sandbox_token, sleep=rec.sleeps.append, log=rec.lines.append)
    body = {"event_type": "release-channel-update", "client_payload": {"container": "my-app"}}
    github_sandbox.inject(502, method="POST", path=r"/dispatches$")
    with pytest.raises(RetryExhaustedError):
        http.request(
            "POST", f"/repos/{REPO}/dispatches", json_body=body, operation="dispatch", repository=REPO
        )
    assert github_sandbox.dispatches(REPO) == []
    assert http.request("POST", f"/repos/{REPO}/dispatches", json_body=body).status == 204
    assert len(github_sandbox.dispatches(REPO)) == 1
    assert len(seen(github_sandbox, "POST", "/dispatches")) == 2


def test_http_client_follows_next_links(github_sandbox: GitHubSandbox, sandbox_token: str, head: str) -> None:
    gh = client(github_sandbox, sandbox_token, Recorder())
    for n in range(5):
        create_status(gh, head, description=f"status {n}")
    http = HttpClient(github_sandbox.url, token=sandbox_token)
    url: str | None = f"/repos/{REPO}/commits/{head}/statuses?per_page=2"
    pages: list[list[str]] = []
    while url:
        response = http.request("GET", url)
        pages.append([s["description"] for s in response.json()])
        url = next_link(response.headers)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(d for p in pages for d in p) == [f"status {n}" for n in range(5)]


# -- GitHub App --------------------------------------------------------------------------------


def test_app_installation_discovered_token_cached_and_refreshed(
    github_sandbox: GitHubSandbox, head: str, app_key: tuple[str, str]
) -> None:
    github_sandbox.register_app(4242, app_key[1], installations={REPO: 77})
    provider = AppTokenProvider(GitHubAuth(app_id="4242", private_key=app_key[0]), github_sandbox.url)
    first = provider.token(REPO)
    assert first.startswith("ghs_")
    assert [(r.method, r.path, r.status) for r in github_sandbox.requests] == [
        ("GET", "/repos/org/app/installation", 200),
        ("POST", "/app/installations/77/access_tokens", 201),
    ]

    assert provider.token(REPO) == first  # cached: no request
    assert len(github_sandbox.requests) == 2

    # the cached token is about to expire (4 minutes left): a new one is minted
    key = (github_sandbox.url, "4242", 77)
    github_adapter._TOKENS[key] = (first, time.time() + 240)
    second = provider.token(REPO)
    assert second != first
    assert [(r.method, r.path) for r in github_sandbox.requests[2:]] == [
        ("POST", "/app/installations/77/access_tokens")
    ]


def test_github_client_with_app_creates_a_status(
    github_sandbox: GitHubSandbox, head: str, app_key: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    github_sandbox.register_app(4242, app_key[1], installations={REPO: 77})
    rec = Recorder()
    gh = github_client(
        GitHubAuth(app_id="4242", private_key=app_key[0]),
        repository=REPO,
        base_url=github_sandbox.url,
        env={},
        sleep=rec.sleeps.append,
    )
    with caplog.at_level(logging.DEBUG):
        create_status(gh, head)
        create_status(gh, head, description="again")
    statuses = github_sandbox.statuses(REPO, head)
    assert [s["creator"]["login"] for s in statuses] == ["sandbox-app-4242[bot]"] * 2
    assert len(seen(github_sandbox, "POST", "/access_tokens")) == 1
    token = seen(github_sandbox, "POST", "/statuses/")[0].header("authorization").split()[-1]
    assert token not in caplog.text


def test_app_not_installed_on_the_repository(
    github_sandbox: GitHubSandbox, head: str, app_key: tuple[str, str], tmp_path: Path
) -> None:
    github_sandbox.register_app(4242, app_key[1], installations={"org/other": 78})
    provider = AppTokenProvider(GitHubAuth(app_id="4242", private_key=app_key[0]), github_sandbox.url)
    with pytest.raises(GitHubNotFoundError, match="GitHub App 4242 is not installed on org/app"):
        provider.token(REPO)


# -- check, then create: a deployment GitHub applied although it answered 502 ----------------------

DEPLOYMENTS = r"^/repos/org/app/deployments$"


def deploy(gh: Any, head: str, rec: Recorder) -> Any:
    return github_adapter.create_deployment_once(
        gh,
        REPO,
        sha=head,
        environment="dev",
        marker="run-123-attempt-1",
        description="my-app sha-abc to dev",
        payload={"container": "my-app"},
        required_contexts=[],
        log=rec.lines.append,
    )


def test_deployment_applied_before_a_502_is_found_not_created_twice(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    rec = Recorder()
    github_sandbox.inject(502, method="POST", path=DEPLOYMENTS, after_processing=True)
    deployment = deploy(client(github_sandbox, sandbox_token, rec), head, rec)
    existing = github_sandbox.deployments(REPO)
    assert len(existing) == 1  # exactly one: the POST was not re-sent
    assert deployment.id == existing[0]["id"]
    assert existing[0]["payload"] == {
        "container": "my-app",
        github_adapter.DEPLOYMENT_MARKER: "run-123-attempt-1",
    }
    assert [(r.method, r.status) for r in github_sandbox.requests] == [("POST", 502), ("GET", 200)]
    listed = github_sandbox.requests[1]
    assert (listed.query["sha"], listed.query["environment"]) == (head, "dev")
    assert rec.lines == [
        f"create deployment of {head[:12]} to dev: GitHub answered 502, but it was applied; "
        "using it (not sent again)"
    ]
    assert rec.sleeps == []


def test_deployment_lost_before_processing_is_a_clear_error(
    github_sandbox: GitHubSandbox, sandbox_token: str, head: str
) -> None:
    rec = Recorder()
    # another run's deployment of the same sha and environment must not be mistaken for ours
    other = client(github_sandbox, sandbox_token, Recorder()).get_repo(REPO)
    other.create_deployment(ref=head, environment="dev", payload={"by": "someone else"}, required_contexts=[])
    github_sandbox.inject(502, method="POST", path=DEPLOYMENTS)
    with pytest.raises(GitHubError) as caught:
        deploy(client(github_sandbox, sandbox_token, rec), head, rec)
    assert caught.value.message == (
        f"create deployment of {head[:12]} to dev: was sent once and not re-sent; "
        "GitHub answered 502 and it is not there; re-run"
    )
    assert caught.value.fix and "re-run the job" in caught.value.fix
    assert [d["payload"] for d in github_sandbox.deployments(REPO)] == [
        {"by": "someone else"}
    ]  # none of ours
    assert [r.status for r in seen(github_sandbox, "POST", "/deployments")] == [201, 502]
    assert rec.sleeps == []
