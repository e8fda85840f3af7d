"""github_client() / PolicyRetry / AppTokenProvider / call() against a scripted 127.0.0.1 server."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import github
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from gitops_release.adapters.github import (
    AppTokenProvider,
    GitHubAuth,
    SentOnceException,
    call,
    create_once,
    github_client,
)
from gitops_release.adapters.http import HttpClient, RetryBudget
from gitops_release.core.retry import RetryPolicy
from gitops_release.errors import (
    APIError,
    GitHubAuthError,
    GitHubError,
    GitHubNotFoundError,
    GitHubValidationError,
    InputError,
    RateLimitError,
    RetryExhaustedError,
)
from tests.fixtures.github_sandbox import rsa_key_pair
from tests.unit.adapters import test_http
from tests.unit.adapters.test_http import Reply, Scripted

server = test_http.server  # the scripted 127.0.0.1 server fixture
silent = test_http.silent  # a 127.0.0.1 server that never answers

TOKEN = "ghp_unitTestPersonalToken0123456789"
SHA = "a" * 40
STATUS_PATH = f"/repos/org/app/statuses/{SHA}"
STATUS = {"id": 1, "state": "success", "context": "release", "url": "x", "description": "ok"}


pytestmark = pytest.mark.usefixtures("fresh_app_tokens")


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_client(server: Scripted, sleeps: list[float], lines: list[str], **kwargs: Any) -> Any:
    return github_client(
        GitHubAuth(token=TOKEN), base_url=server.url, env={}, sleep=sleeps.append, log=lines.append, **kwargs
    )


def create_status(gh: Any, **kwargs: Any) -> Any:
    commit = gh.get_repo("org/app").get_commit(SHA)
    return call(
        "create commit status",
        lambda: commit.create_status(state="success", context="release", description="ok"),
        repository="org/app",
        permission="statuses: write",
        **kwargs,
    )


def test_creates_a_status_with_one_post_and_no_throttle(server: Scripted) -> None:
    server.script("POST", STATUS_PATH, Reply(201, STATUS))
    status = create_status(make_client(server, [], []))
    assert status.id == 1
    assert [(s.method, s.path) for s in server.seen] == [("POST", STATUS_PATH)]
    assert server.seen[0].headers["authorization"].endswith(TOKEN)
    assert server.seen[0].headers["user-agent"].startswith("gitops-release/")


def test_post_on_502_is_not_resent(server: Scripted) -> None:
    sleeps: list[float] = []
    server.script("POST", STATUS_PATH, Reply(502, {"message": "Server Error"}), Reply(201, STATUS))
    with pytest.raises(
        RetryExhaustedError, match=r"sent once, not re-sent \(it may have been applied\)"
    ) as caught:
        create_status(make_client(server, sleeps, []))
    assert "kept answering" not in str(caught.value)
    assert caught.value.status == 502
    assert len(server.seen) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [502, 503])
def test_get_on_5xx_is_retried(server: Scripted, status: int) -> None:
    sleeps: list[float] = []
    lines: list[str] = []
    server.script(
        "GET", "/repos/org/app", Reply(status, {"message": "x"}), Reply(200, {"full_name": "org/app"})
    )
    gh = make_client(server, sleeps, lines)
    assert call("get repository", lambda: gh.get_repo("org/app").raw_data["full_name"]) == "org/app"
    assert len(server.seen) == 2
    assert len(sleeps) == 1
    assert lines[0].startswith(f"GitHub answered {status}; retry 1/4 in ")


def test_get_gives_up_after_the_policy_attempts(server: Scripted) -> None:
    sleeps: list[float] = []
    server.script("GET", "/repos/org/app", Reply(503, {"message": "busy"}))
    gh = make_client(server, sleeps, [], policy=RetryPolicy(max_attempts=3, base_delay=0.01))
    with pytest.raises(RetryExhaustedError, match="kept answering 503"):
        call("get repository", lambda: gh.get_repo("org/app").raw_data)
    assert len(server.seen) == 3
    assert len(sleeps) == 2


def test_secondary_rate_limit_retries_the_post_after_retry_after(server: Scripted) -> None:
    sleeps: list[float] = []
    limited = Reply(403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "7"})
    server.script("POST", STATUS_PATH, limited, Reply(201, STATUS))
    assert create_status(make_client(server, sleeps, [])).id == 1
    assert len(server.seen) == 2
    assert sleeps == [7.0]


def test_secondary_rate_limit_named_only_in_the_body_waits_the_documented_minute(server: Scripted) -> None:
    sleeps: list[float] = []
    limited = Reply(403, {"message": "You have exceeded a secondary rate limit."})
    server.script("POST", STATUS_PATH, limited, Reply(201, STATUS))
    assert create_status(make_client(server, sleeps, [])).id == 1
    assert sleeps == [60.0]


def test_retry_after_beyond_the_bound_raises_rate_limit_at_once(server: Scripted) -> None:
    sleeps: list[float] = []
    limited = Reply(403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "3600"})
    server.script("POST", STATUS_PATH, limited)
    with pytest.raises(RateLimitError, match="retry after 3600 s"):
        create_status(make_client(server, sleeps, []))
    assert len(server.seen) == 1
    assert sleeps == []


def test_not_accessible_by_integration_names_the_permission(server: Scripted) -> None:
    server.script("POST", STATUS_PATH, Reply(403, {"message": "Resource not accessible by integration"}))
    with pytest.raises(GitHubAuthError) as caught:
        create_status(make_client(server, [], []))
    assert "lacks the 'statuses: write' permission on org/app" in str(caught.value)
    assert len(server.seen) == 1


def test_422_names_the_field(server: Scripted) -> None:
    body = {
        "message": "Validation Failed",
        "errors": [
            {"resource": "Status", "field": "description", "code": "custom", "message": "is too long"}
        ],
    }
    server.script("POST", STATUS_PATH, Reply(422, body))
    with pytest.raises(GitHubValidationError) as caught:
        create_status(make_client(server, [], []))
    assert "field 'description'" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_404_names_repository_and_permission(server: Scripted) -> None:
    with pytest.raises(GitHubNotFoundError) as caught:
        create_status(make_client(server, [], []))
    assert "repository org/app not found or the token cannot see it" in str(caught.value)
    assert "statuses: write" in str(caught.value)


def test_connection_refused_names_the_host_without_token(caplog: pytest.LogCaptureFixture) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps: list[float] = []
    gh = github_client(
        GitHubAuth(token=TOKEN), base_url=f"http://127.0.0.1:{port}", env={}, sleep=sleeps.append
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(RetryExhaustedError) as caught:
        call("get repository", lambda: gh.get_repo("org/app").raw_data)
    assert f"could not reach 127.0.0.1:{port}" in str(caught.value)
    assert len(sleeps) == 4  # never connected: safe to retry
    assert TOKEN not in caplog.text


def test_token_never_in_logs_or_errors(server: Scripted, caplog: pytest.LogCaptureFixture) -> None:
    lines: list[str] = []
    server.script(
        "POST",
        STATUS_PATH,
        Reply(403, {"message": "x"}, {"Retry-After": "1"}),
        Reply(401, {"message": f"Bad credentials {TOKEN}"}),
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(GitHubAuthError) as caught:
        create_status(make_client(server, [], lines))
    for text in [*lines, caplog.text, str(caught.value), caught.value.fix or ""]:
        assert TOKEN not in text
    assert all(TOKEN not in seen.path for seen in server.seen)


def test_ghes_base_url_from_env(server: Scripted) -> None:
    server.script("GET", "/repos/org/app", Reply(200, {"full_name": "org/app"}))
    gh = github_client(GitHubAuth(token=TOKEN), env={"GITHUB_API_URL": server.url + "/"})
    assert call("get", lambda: gh.get_repo("org/app").raw_data["full_name"]) == "org/app"


# -- credentials ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> tuple[str, str]:
    """PKCS#1 private PEM ("BEGIN RSA PRIVATE KEY"), the format GitHub hands out for App keys."""
    return rsa_key_pair(serialization.PrivateFormat.TraditionalOpenSSL)


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        (GitHubAuth(), "token"),
        (GitHubAuth(token="abc def"), "token"),
        (
            GitHubAuth(private_key="-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----"),
            "app-id",
        ),
        (GitHubAuth(app_id="my-app", private_key="x"), "app-id"),
        (GitHubAuth(app_id="123"), "app-private-key"),
        (GitHubAuth(app_id="123", private_key="not a pem"), "app-private-key"),
    ],
)
def test_validate_names_the_input(auth: GitHubAuth, field: str) -> None:
    with pytest.raises(InputError) as caught:
        auth.validate()
    assert caught.value.field == field
    assert caught.value.fix


def test_validate_accepts_token_and_app(rsa_key: tuple[str, str]) -> None:
    GitHubAuth(token=TOKEN).validate()
    GitHubAuth(app_id="123", private_key=rsa_key[0]).validate()
    GitHubAuth(app_id="Iv1.abc123", private_key=rsa_key[0].replace("\n", "\\n")).validate()
    with pytest.raises(InputError, match="installation-id"):
        GitHubAuth(app_id="123", private_key=rsa_key[0], installation_id=0).validate()


def test_unusable_key_is_an_input_error(server: Scripted) -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----"
    provider = AppTokenProvider(GitHubAuth(app_id="1", private_key=pem, installation_id=3), server.url)
    with pytest.raises(InputError, match="app-private-key"):
        provider.token(None)
    assert server.seen == []


def app_server(server: Scripted, *, expires: str = "2027-01-15T08:00:00Z") -> None:
    server.script("GET", "/repos/org/app/installation", Reply(200, {"id": 77, "app_id": 42}))
    server.script(
        "POST",
        "/app/installations/77/access_tokens",
        Reply(201, {"token": "ghs_installationToken0001", "expires_at": expires}),
        Reply(201, {"token": "ghs_installationToken0002", "expires_at": "2027-01-15T09:00:00Z"}),
    )


def test_app_token_discovers_installation_signs_jwt_and_caches(
    server: Scripted, rsa_key: tuple[str, str]
) -> None:
    app_server(server)
    # one hour before the first token's expires_at (2027-01-15T08:00:00Z)
    clock = Clock(datetime(2027, 1, 15, 7, 0, tzinfo=timezone.utc).timestamp())
    provider = AppTokenProvider(
        GitHubAuth(app_id="42", private_key=rsa_key[0]),
        server.url,
        http=HttpClient(server.url, token=None, sleep=lambda s: None),
        clock=clock,
    )
    assert provider.token("org/app") == "ghs_installationToken0001"
    assert [(s.method, s.path) for s in server.seen] == [
        ("GET", "/repos/org/app/installation"),
        ("POST", "/app/installations/77/access_tokens"),
    ]
    bearer = server.seen[0].headers["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(
        bearer, rsa_key[1], algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims == {"iss": "42", "iat": int(clock.now) - 60, "exp": int(clock.now) + 540}

    # cached: no request at all
    assert provider.token("org/app") == "ghs_installationToken0001"
    assert len(server.seen) == 2

    # 56 minutes later (4 minutes before expiry): refreshed, installation still cached
    clock.now += 56 * 60
    assert provider.token("org/app") == "ghs_installationToken0002"
    assert [(s.method, s.path) for s in server.seen[2:]] == [("POST", "/app/installations/77/access_tokens")]


def test_app_not_installed_names_the_repository(server: Scripted, rsa_key: tuple[str, str]) -> None:
    provider = AppTokenProvider(GitHubAuth(app_id="42", private_key=rsa_key[0]), server.url)
    with pytest.raises(GitHubNotFoundError, match="GitHub App 42 is not installed on org/other"):
        provider.token("org/other")


def test_app_without_repository_needs_installation_id(server: Scripted, rsa_key: tuple[str, str]) -> None:
    provider = AppTokenProvider(GitHubAuth(app_id="42", private_key=rsa_key[0]), server.url)
    with pytest.raises(InputError, match="installation-id"):
        provider.token(None)


def test_github_client_with_app_sends_the_installation_token(
    server: Scripted, rsa_key: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    app_server(server)
    server.script("POST", STATUS_PATH, Reply(201, STATUS))
    gh = github_client(
        GitHubAuth(app_id="42", private_key=rsa_key[0]), repository="org/app", base_url=server.url, env={}
    )
    with caplog.at_level(logging.DEBUG):
        assert create_status(gh).id == 1
        assert create_status(gh).id == 1
    posts = [s for s in server.seen if s.path == STATUS_PATH]
    assert [s.headers["authorization"] for s in posts] == ["Bearer ghs_installationToken0001"] * 2
    assert sum(s.path.endswith("/access_tokens") for s in server.seen) == 1
    assert "ghs_installationToken0001" not in caplog.text


# -- writes that may have been applied ------------------------------------------------------------


def test_post_without_an_answer_says_sent_once_not_could_not_reach(
    silent: tuple[str, list[Any]],
) -> None:
    url, held = silent
    sleeps: list[float] = []
    gh = github_client(GitHubAuth(token=TOKEN), base_url=url, env={}, sleep=sleeps.append, timeout=1)
    commit = gh.get_repo("org/app").get_commit(SHA)
    with pytest.raises(RetryExhaustedError) as caught:
        call("create commit status", lambda: commit.create_status(state="success", context="release"))
    text = str(caught.value)
    assert text.startswith(
        "create commit status: sent once, not re-sent (it may have been applied): no answer"
    )
    assert "could not reach" not in text
    assert caught.value.fix and "whether it was applied" in caught.value.fix
    assert len(held) == 1
    assert sleeps == []


class Found:
    """A stand-in for the object a create returns."""


def failing(exc: BaseException) -> Any:
    def create() -> Any:
        created.append(exc)
        raise exc

    created: list[BaseException] = []
    return create


@pytest.mark.parametrize(
    ("exc", "what"),
    [
        (github.GithubException(502, {"message": "Server Error"}, {}), "GitHub answered 502"),
        (SentOnceException(503, {"message": "x"}, {}), "GitHub answered 503"),
        (RetryExhaustedError("POST /x: GitHub answered 500", status=500), "GitHub answered 500"),
        (requests.exceptions.ReadTimeout("read timed out"), "no answer from GitHub (ReadTimeout)"),
    ],
)
def test_create_once_returns_what_find_sees_when_it_was_applied(exc: BaseException, what: str) -> None:
    found = Found()
    looked: list[bool] = []
    lines: list[str] = []

    def find() -> Found:
        looked.append(True)
        return found

    result = create_once(find, failing(exc), operation="create deployment", log=lines.append)
    assert result is found
    assert looked == [True]
    assert lines == [f"create deployment: {what}, but it was applied; using it (not sent again)"]


def test_create_once_says_re_run_when_it_is_not_there() -> None:
    exc = github.GithubException(502, {"message": "Server Error"}, {})
    with pytest.raises(GitHubError) as caught:
        create_once(lambda: None, failing(exc), operation="create deployment", repository="org/app")
    assert caught.value.one_line() == (
        "create deployment: was sent once and not re-sent; GitHub answered 502 and it is not there; re-run. "
        "Fix: re-run the job: nothing was created (GitHub may be degraded: https://www.githubstatus.com)"
    )
    assert caught.value.status == 502


def test_create_once_when_checking_fails_too_says_look_before_re_running() -> None:
    def find() -> None:
        raise github.GithubException(404, {"message": "Not Found"}, {})

    exc = github.GithubException(502, {"message": "Server Error"}, {})
    with pytest.raises(GitHubError) as caught:
        create_once(find, failing(exc), operation="create deployment", repository="org/app")
    text = caught.value.one_line()
    assert (
        "was sent once and not re-sent; GitHub answered 502, and checking whether it was applied failed"
        in text
    )
    assert "look on GitHub whether it exists before re-running" in text


@pytest.mark.parametrize(
    ("exc", "kind", "needle"),
    [
        (
            github.GithubException(422, {"message": "Validation Failed", "errors": [{"field": "ref"}]}, {}),
            GitHubValidationError,
            "field 'ref'",
        ),
        (
            requests.exceptions.ConnectTimeout("connect timed out"),
            RetryExhaustedError,
            "could not reach GitHub",
        ),
    ],
)
def test_create_once_does_not_look_when_nothing_can_have_been_applied(
    exc: BaseException, kind: type, needle: str
) -> None:
    def find() -> None:
        raise AssertionError("find must not be called")

    with pytest.raises(kind) as caught:
        create_once(find, failing(exc), operation="create deployment")
    assert needle in str(caught.value)


# -- the shared retry budget -----------------------------------------------------------------------


def test_calls_of_one_client_share_its_wait_budget(server: Scripted) -> None:
    sleeps: list[float] = []
    limited = Reply(403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "50"})
    server.script("POST", STATUS_PATH, limited, limited, Reply(201, STATUS), limited, Reply(201, STATUS))
    gh = make_client(server, sleeps, [])
    assert create_status(gh).id == 1
    assert sleeps == [50.0, 50.0]
    with pytest.raises(RateLimitError, match="retry after 50 s"):  # 20 s left of the client's 120 s
        create_status(gh)
    assert sleeps == [50.0, 50.0]


def test_two_clients_given_one_budget_draw_from_it(server: Scripted) -> None:
    sleeps: list[float] = []
    limited = Reply(403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "40"})
    server.script("POST", STATUS_PATH, limited, Reply(201, STATUS), limited, Reply(201, STATUS))
    budget = RetryBudget(60)
    assert create_status(make_client(server, sleeps, [], budget=budget)).id == 1
    with pytest.raises(RateLimitError):
        create_status(make_client(server, sleeps, [], budget=budget))
    assert sleeps == [40.0]
    assert budget.spent == 40.0


# -- errors from the App token flow carry a fix --------------------------------------------------------


@pytest.mark.parametrize(
    ("installation", "token", "needle"),
    [
        (Reply(200, {"app_id": 42}), None, "no installation id in GitHub's answer for org/app"),
        (
            Reply(200, {"id": 77}),
            Reply(201, {"expires_at": "2027-01-15T08:00:00Z"}),
            "GitHub's answer has no token",
        ),
    ],
)
def test_odd_app_answers_name_the_cause_and_a_fix(
    server: Scripted, rsa_key: tuple[str, str], installation: Reply, token: Reply | None, needle: str
) -> None:
    server.script("GET", "/repos/org/app/installation", installation)
    if token is not None:
        server.script("POST", "/app/installations/77/access_tokens", token)
    provider = AppTokenProvider(GitHubAuth(app_id="42", private_key=rsa_key[0]), server.url)
    with pytest.raises(APIError) as caught:
        provider.token("org/app")
    assert needle in caught.value.message
    assert caught.value.fix and "api-url" in caught.value.fix
    assert "\n" not in caught.value.one_line()
