"""The one PyGithub factory: token or GitHub App auth, GHES base URL, and the project's retry policy.

* ``github_client()`` builds ``github.Github`` with ``lazy=True`` (no GET before a POST),
  ``seconds_between_requests=0`` and ``seconds_between_writes=0`` (PyGithub's default throttle
  waits 1 s between writes; secondary rate limits are handled by the retry instead),
  ``per_page=100``, a timeout, and ``retry=PolicyRetry(...)``: a urllib3 ``Retry`` that asks
  ``core.retry.RetryPolicy.decide`` so PyGithub never re-sends a POST on a 5xx (its default
  retry would: duplicate deployments) yet retries any method on a rate limit.
* ``AppTokenProvider`` turns app-id + private key into an installation token: a JWT (RS256,
  iat = now - 60 s, exp = now + 540 s), the installation found with
  ``GET /repos/{owner}/{repo}/installation`` when not given, then
  ``POST /app/installations/{id}/access_tokens``. Tokens are cached per process (keyed by API
  URL, App and installation) until 5 minutes before ``expires_at``; every JWT and token is
  registered as a secret.
* ``call()`` runs one PyGithub call and turns its exceptions into the errors.py classes. A POST
  or PATCH that got a 5xx or no answer after it was sent is not re-sent, and the error says so:
  "sent once, not re-sent (it may have been applied)".
* ``create_once(find, create, ...)``: check, then create, never blindly twice. It runs ``create``;
  when that was sent but answered 5xx / not at all, it calls ``find`` to see whether GitHub applied
  it anyway, and returns what it found, or raises "was sent once and not re-sent; ... and it is not
  there; re-run". ``create_deployment_once()`` uses it for deployments (found by sha, environment
  and a marker in the payload).
* ``repeat_until_applied(gh, find, send, ...)``: for writes a second copy of which is harmless
  (commit statuses, deployment statuses: the newest wins). After a 5xx / lost answer it looks
  (``find``), and when the write is not there sends it again within the client's retry policy and
  shared budget, so one 502 never leaves a status pending.
* ``acting_login(gh)``: the account the client writes as (a GitHub App: ``<app-slug>[bot]`` from
  GET /app with the JWT; a token: GET /user's login, or ``github-actions[bot]`` when the token
  cannot read it), one request per process; report-status edits only that account's comment.
* Every retry wait of one client (PyGithub requests and the App token requests alike) is drawn
  from one ``RetryBudget`` (``github_client(..., budget=)`` shares one between clients).
* Pull requests (``find_open_pull``, ``list_open_pulls``, ``open_or_update_pull``,
  ``close_pull``), deployments (``latest_deployment``) and commit statuses (``commit_status``)
  return small frozen dataclasses; every write among them goes through ``create_once``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

import github
import jwt
import requests
from github import GithubException
from github.CommitStatus import CommitStatus
from github.GithubObject import NotSet
from github.PaginatedList import PaginatedList
from github.PullRequest import PullRequest
from github.Repository import Repository
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ResponseError,
)
from urllib3.util.retry import RequestHistory, Retry

from gitops_release import __version__
from gitops_release.adapters.http import HttpClient, RetryBudget, api_base_url
from gitops_release.core.github_errors import decode_body, github_error
from gitops_release.core.retry import (
    RATE_LIMIT_STATUSES,
    RETRY_STATUSES,
    RetryPolicy,
    header,
    is_idempotent,
)
from gitops_release.errors import (
    APIError,
    GitHubError,
    GitHubNotFoundError,
    GitHubValidationError,
    InputError,
    RetryExhaustedError,
)
from gitops_release.runtime import redact, register_secret

T = TypeVar("T")

JWT_BACKDATE = 60  # GitHub: iat 60 s in the past against clock drift
JWT_LIFETIME = 540  # GitHub allows at most 10 minutes
TOKEN_REFRESH_MARGIN = 300  # refresh installation tokens 5 minutes before they expire

_APP_ID = re.compile(r"^(?:\d+|Iv[0-9A-Za-z.]+)$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


# -- credentials -------------------------------------------------------------------------------


def _normalized_pem(text: str) -> str:
    """PEM text as pasted into a secret: trims, and turns literal ``\\n`` into newlines."""
    key = text.strip()
    if "\\n" in key and "\n" not in key:
        key = key.replace("\\n", "\n")
    return key + "\n"


@dataclass(frozen=True)
class GitHubAuth:
    """Credentials: a token, or a GitHub App (app-id + app-private-key, optional installation-id).

    When app-id or app-private-key is given the App is used and ``token`` is ignored (workflows
    often default ``token`` to ``github.token``).
    """

    token: str | None = None
    app_id: str | None = None
    private_key: str | None = None
    installation_id: int | None = None

    @property
    def uses_app(self) -> bool:
        return bool(self.app_id or self.private_key)

    def validate(self) -> None:
        """Raise InputError naming token / app-id / app-private-key / installation-id when unusable."""
        if self.uses_app:
            app_id = (self.app_id or "").strip()
            if not app_id:
                raise InputError(
                    "app-id",
                    "is required with app-private-key",
                    fix="set app-id to the GitHub App's ID (App settings > About)",
                )
            if not _APP_ID.match(app_id):
                raise InputError(
                    "app-id",
                    f"'{app_id}' is not a GitHub App ID",
                    fix="use the numeric App ID (or its client ID, Iv…) from the App's settings page",
                )
            key = (self.private_key or "").strip()
            if not key:
                raise InputError(
                    "app-private-key",
                    "is required with app-id",
                    fix="pass the App's private key PEM from a secret, e.g. ${{ secrets.APP_PRIVATE_KEY }}",
                )
            pem = _normalized_pem(key)
            if not re.search(
                r"-----BEGIN (?:RSA )?PRIVATE KEY-----\n.+\n-----END (?:RSA )?PRIVATE KEY-----", pem, re.S
            ):
                raise InputError(
                    "app-private-key",
                    "is not a PEM private key (expected -----BEGIN RSA PRIVATE KEY----- … -----END …)",
                    fix="paste the whole .pem file GitHub generated for the App, header and footer included",
                )
            if self.installation_id is not None and self.installation_id <= 0:
                raise InputError(
                    "installation-id",
                    f"{self.installation_id} is not an installation ID",
                    fix="leave it empty to discover it from the repository, or use the number from the App's "
                    "installation URL",
                )
            return
        token = (self.token or "").strip()
        if not token:
            raise InputError(
                "token",
                "no GitHub credentials were given",
                fix="pass token: ${{ github.token }} (or a PAT secret), or app-id and app-private-key",
            )
        if any(ch.isspace() for ch in token):
            raise InputError(
                "token",
                "contains whitespace or a newline",
                fix="pass only the token value, e.g. ${{ secrets.GH_TOKEN }}",
            )


# per process: (api url, app id, installation id) -> (token, expires at epoch seconds)
_TOKENS: dict[tuple[str, str, int], tuple[str, float]] = {}
# per process: (api url, app id, repository) -> installation id
_INSTALLATIONS: dict[tuple[str, str, str], int] = {}
_TOKEN_LOCK = threading.RLock()  # one mint at a time per process (PyGithub may be used from threads)
# per process: (api url, app id) -> the App's bot login; (api url, sha256 of a token) -> its login
_APP_LOGINS: dict[tuple[str, str], str] = {}
_TOKEN_LOGINS: dict[tuple[str, str], str] = {}

#: The account GITHUB_TOKEN writes as (on github.com and GHES alike); it cannot read GET /user.
ACTIONS_BOT_LOGIN = "github-actions[bot]"


def forget_app_tokens() -> None:
    """Tests only: clear the per-process App token, installation and login caches."""
    _TOKENS.clear()
    _INSTALLATIONS.clear()
    _APP_LOGINS.clear()
    _TOKEN_LOGINS.clear()


def _expires_epoch(raw: object) -> float | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class AppTokenProvider:
    """Installation tokens for a GitHub App, cached per process until 5 minutes before expiry."""

    def __init__(
        self,
        auth: GitHubAuth,
        base_url: str,
        *,
        http: HttpClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        auth.validate()
        if not auth.uses_app:
            raise InputError("app-id", "is required for GitHub App authentication", fix="set app-id")
        self.auth = auth
        self.app_id = (auth.app_id or "").strip()
        self.base_url = base_url.rstrip("/")
        self.http = http or HttpClient(self.base_url, token=None)
        self.clock = clock
        self._key = _normalized_pem(auth.private_key or "")
        register_secret(self._key)

    def jwt(self) -> str:
        """A fresh App JWT (RS256, iat = now - 60 s, exp = now + 540 s), registered as a secret."""
        now = int(self.clock())
        payload = {"iat": now - JWT_BACKDATE, "exp": now + JWT_LIFETIME, "iss": self.app_id}
        try:
            token = jwt.encode(payload, self._key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise InputError(
                "app-private-key",
                f"cannot sign the App JWT with it ({type(exc).__name__})",
                fix="pass the RSA private key .pem GitHub generated for the App",
            ) from None
        register_secret(token)
        return token

    def installation_id(self, repository: str | None) -> int:
        """The given installation-id, or the App's installation on ``repository`` (cached)."""
        if self.auth.installation_id is not None:
            return self.auth.installation_id
        if not repository:
            raise InputError(
                "installation-id",
                "is needed when no repository is known to find the App installation",
                fix="pass installation-id, or the repository input",
            )
        key = (self.base_url, self.app_id, repository.lower())
        if key in _INSTALLATIONS:
            return _INSTALLATIONS[key]
        try:
            response = self.http.request(
                "GET",
                f"/repos/{repository}/installation",
                token=self.jwt(),
                operation="find the GitHub App installation",
                repository=repository,
            )
        except GitHubNotFoundError:
            raise GitHubNotFoundError(
                f"GitHub App {self.app_id} is not installed on {repository} (or it does not exist)",
                status=404,
                fix=f"install the App on {repository} (App settings > Install App), or pass installation-id",
            ) from None
        data = response.json()
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), int):
            raise APIError(
                f"find the GitHub App installation: no installation id in GitHub's answer for {repository}",
                status=response.status,
                fix="check that api-url (GITHUB_API_URL) points at a GitHub API (https://api.github.com or "
                "https://HOST/api/v3), not at a proxy or web page, or pass installation-id",
            )
        _INSTALLATIONS[key] = int(data["id"])
        return _INSTALLATIONS[key]

    def bot_login(self) -> str:
        """The App's bot account ``<app-slug>[bot]``, the author of what its installation tokens
        write: GET /app with the App JWT, once per process (cached)."""
        key = (self.base_url, self.app_id)
        with _TOKEN_LOCK:
            if key not in _APP_LOGINS:
                response = self.http.request(
                    "GET", "/app", token=self.jwt(), operation="read the GitHub App's slug (GET /app)"
                )
                data = response.json()
                slug = data.get("slug") if isinstance(data, Mapping) else None
                if not isinstance(slug, str) or not slug.strip():
                    raise APIError(
                        "read the GitHub App's slug (GET /app): GitHub's answer has no slug",
                        status=response.status,
                        fix="check that api-url (GITHUB_API_URL) points at a GitHub API "
                        "(https://api.github.com or https://HOST/api/v3), not at a proxy or web page",
                    )
                _APP_LOGINS[key] = f"{slug.strip()}[bot]"
            return _APP_LOGINS[key]

    def token(self, repository: str | None) -> str:
        """An installation token valid for at least 5 more minutes (from the cache when possible)."""
        with _TOKEN_LOCK:
            return self._token(repository)

    def _token(self, repository: str | None) -> str:
        installation = self.installation_id(repository)
        key = (self.base_url, self.app_id, installation)
        cached = _TOKENS.get(key)
        if cached is not None and self.clock() < cached[1] - TOKEN_REFRESH_MARGIN:
            return cached[0]
        response = self.http.request(
            "POST",
            f"/app/installations/{installation}/access_tokens",
            token=self.jwt(),
            idempotent=True,  # asking twice only mints a second token
            operation="create a GitHub App installation token",
            repository=repository,
        )
        data = response.json()
        token = data.get("token") if isinstance(data, Mapping) else None
        if not isinstance(token, str) or not token:
            raise APIError(
                "create a GitHub App installation token: GitHub's answer has no token",
                status=response.status,
                fix="check that api-url (GITHUB_API_URL) points at a GitHub API (https://api.github.com or "
                "https://HOST/api/v3), not at a proxy or web page",
            )
        register_secret(token)
        expires = _expires_epoch(data.get("expires_at")) or self.clock() + 3600
        _TOKENS[key] = (token, expires)
        return token


class _InstallationAuth(github.Auth.Auth):
    """PyGithub auth that asks the provider for a token on every request (refreshes near expiry)."""

    def __init__(self, provider: AppTokenProvider, repository: str | None) -> None:
        self.provider = provider
        self.repository = repository

    @property
    def token_type(self) -> str:
        return "Bearer"

    @property
    def token(self) -> str:
        return self.provider.token(self.repository)


# -- retry for PyGithub (urllib3) -------------------------------------------------------------


class SentOnceException(GithubException):
    """A 5xx answer to a request that was sent once and deliberately not re-sent (POST, PATCH)."""


class PolicyRetry(Retry):
    """urllib3 Retry that asks ``RetryPolicy.decide`` whether and how long to wait.

    A final error response is handed back to PyGithub (which raises GithubException for
    ``call()`` to map), except a 5xx to a request that is not re-sent (POST, PATCH): that raises
    ``SentOnceException`` so the error can say it may have been applied. Connection errors that
    cannot be retried raise MaxRetryError (requests turns it into ConnectionError). Each wait is
    also drawn from ``budget`` when one is given (shared by every request of a client).
    """

    def __init__(
        self,
        policy: RetryPolicy = RetryPolicy(),
        *,
        waited: float = 0.0,
        next_wait: float = 0.0,
        sleeper: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        log: Callable[[str], None] | None = None,
        budget: RetryBudget | None = None,
        **kwargs: Any,
    ) -> None:
        self.policy = policy
        self.budget = budget
        self.waited = waited
        self.next_wait = next_wait
        self.sleeper = sleeper
        self.wall_clock = wall_clock
        self.rand = rand
        self.log = log
        kwargs.setdefault("total", policy.max_attempts - 1)
        kwargs.setdefault("redirect", False)
        kwargs["raise_on_status"] = False
        kwargs["respect_retry_after_header"] = False
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> PolicyRetry:
        kw.setdefault("policy", self.policy)
        kw.setdefault("waited", self.waited)
        kw.setdefault("next_wait", 0.0)
        kw.setdefault("sleeper", self.sleeper)
        kw.setdefault("wall_clock", self.wall_clock)
        kw.setdefault("rand", self.rand)
        kw.setdefault("log", self.log)
        kw.setdefault("budget", self.budget)  # the same object: the budget is shared, not copied
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        return status_code in RETRY_STATUSES or status_code in RATE_LIMIT_STATUSES

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> PolicyRetry:
        verb = (method or "GET").upper()
        attempt = len(self.history) + 1
        status: int | None = None
        headers: dict[str, str] = {}
        body = ""
        body_read = False
        idempotent: bool | None = None
        if response is not None:
            status = int(response.status)
            headers = dict(response.headers.items())
            needs_body = (
                status in RATE_LIMIT_STATUSES
                and header(headers, "retry-after") is None
                and header(headers, "x-ratelimit-remaining") != "0"
            )
            if needs_body:
                body = (response.data or b"").decode("utf-8", "replace")
                body_read = True
        elif isinstance(error, (ConnectTimeoutError, NewConnectionError)):
            idempotent = True  # the request never left: safe to send again
        wait = self.policy.decide(
            method=verb,
            status=status,
            headers=headers,
            attempt=attempt,
            waited=self.waited,
            now=self.wall_clock(),
            idempotent=idempotent,
            rand=self.rand(),
            body=body,
            budget_left=self.budget.left() if self.budget is not None else None,
        )
        if wait is not None and self.budget is not None and not self.budget.take(wait):
            wait = None
        if wait is None:
            if status in RETRY_STATUSES and not is_idempotent(verb) and response is not None:
                # A write that reached GitHub and was not re-sent: say so (it may have been applied).
                data = body if body_read else (response.data or b"").decode("utf-8", "replace")
                raise SentOnceException(status, decode_body(data), headers)
            if body_read and status is not None:
                # The body was consumed deciding; hand PyGithub's own exception up with it.
                raise GithubException(status, decode_body(body), headers)
            reason = error if error is not None else ResponseError(f"GitHub answered {status}")
            raise MaxRetryError(_pool, url or "", reason) from error
        if self.log is not None:
            what = type(error).__name__ if error is not None else None
            self.log(redact(self.policy.describe_wait(status=status, attempt=attempt, wait=wait, error=what)))
        history = (*self.history, RequestHistory(verb, url, error, status, None))
        return self.new(history=history, waited=self.waited + wait, next_wait=wait)

    def sleep(self, response: Any = None) -> None:
        if self.next_wait > 0:
            self.sleeper(self.next_wait)


# -- the factory -------------------------------------------------------------------------------


def github_client(
    auth: GitHubAuth,
    *,
    repository: str | None = None,
    base_url: str | None = None,
    env: Mapping[str, str] | None = None,
    policy: RetryPolicy = RetryPolicy(),
    timeout: float = 30,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    log: Callable[[str], None] | None = None,
    budget: RetryBudget | None = None,
) -> github.Github:
    """A PyGithub client for ``auth`` against ``base_url`` / GITHUB_API_URL / api.github.com.

    ``budget`` bounds the sum of every retry wait of this client (its PyGithub requests and its
    App token requests); by default a new ``RetryBudget(policy.max_total_wait)`` per client.
    """
    auth.validate()
    url = api_base_url(base_url, os.environ if env is None else env)
    budget = budget if budget is not None else RetryBudget(policy.max_total_wait)
    credentials: github.Auth.Auth
    if auth.uses_app:
        http = HttpClient(
            url,
            token=None,
            policy=policy,
            timeout=timeout,
            sleep=sleep,
            log=log,
            wall_clock=clock,
            budget=budget,
        )
        provider = AppTokenProvider(auth, url, http=http, clock=clock)
        credentials = _InstallationAuth(provider, repository)
    else:
        token = (auth.token or "").strip()
        register_secret(token)
        credentials = github.Auth.Token(token)
    return github.Github(
        auth=credentials,
        base_url=url,
        timeout=max(1, int(timeout)),
        user_agent=f"gitops-release/{__version__}",
        per_page=100,
        retry=PolicyRetry(policy, sleeper=sleep, wall_clock=clock, log=log, budget=budget),
        seconds_between_requests=0,
        seconds_between_writes=0,
        lazy=True,
    )


def _error_for(
    exc: GithubException | requests.exceptions.RequestException,
    operation: str,
    *,
    repository: str | None,
    permission: str | None,
) -> APIError:
    """The errors.py error for a PyGithub / requests exception, redacted, one line."""
    if isinstance(exc, GithubException):
        error = github_error(
            exc.status,
            exc.data,
            exc.headers or {},
            operation=operation,
            repository=repository,
            permission=permission,
            resent=not isinstance(exc, SentOnceException),
        )
    else:
        host = _host(exc)
        reason = _reason_name(exc)
        if _left(exc) and not is_idempotent(_method(exc)):
            error = RetryExhaustedError(
                f"{operation}: sent once, not re-sent (it may have been applied): no answer from {host} "
                f"({reason})",
                fix="check on GitHub whether it was applied before re-running the job; if it keeps "
                "happening check the API URL (api-url / GITHUB_API_URL), the network and the timeout",
            )
        else:
            error = RetryExhaustedError(
                f"{operation}: could not reach {host}: {reason}",
                fix="check the API URL (api-url / GITHUB_API_URL) and the network, then re-run",
            )
    error.message = redact(error.message)
    error.fix = redact(error.fix) if error.fix else error.fix
    error.args = (error.message,)
    return error


def _method(exc: requests.exceptions.RequestException) -> str:
    request = exc.request
    return str(request.method or "GET") if request is not None else "GET"


def _host(exc: requests.exceptions.RequestException) -> str:
    target = exc.request.url if exc.request is not None and exc.request.url else ""
    return urllib.parse.urlsplit(str(target)).netloc or "GitHub"


def _cause(exc: requests.exceptions.RequestException) -> BaseException:
    """The urllib3 reason under requests' wrapping (MaxRetryError.reason), else ``exc``."""
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    if isinstance(inner, MaxRetryError) and inner.reason is not None:
        return inner.reason
    return inner


def _reason_name(exc: requests.exceptions.RequestException) -> str:
    cause = _cause(exc)
    return type(cause).__name__ if cause is not exc else type(exc).__name__


def _left(exc: requests.exceptions.RequestException) -> bool:
    """True unless the request certainly never reached the server (connection refused, connect timeout)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    return not isinstance(_cause(exc), (NewConnectionError, ConnectTimeoutError))


def call(
    operation: str,
    fn: Callable[[], T],
    *,
    repository: str | None = None,
    permission: str | None = None,
) -> T:
    """Run one PyGithub call; GitHub errors become errors.py classes naming field / permission."""
    try:
        return fn()
    except (GithubException, requests.exceptions.RequestException) as exc:
        raise _error_for(exc, operation, repository=repository, permission=permission) from None


def acting_login(gh: github.Github) -> str:
    """The login of the account ``gh`` writes as (the author of the comments it posts), cached per
    process: a GitHub App's ``<app-slug>[bot]`` (GET /app with the JWT); for a token, GET /user's
    login, and ``github-actions[bot]`` when GET /user answers 401 / 403 (GITHUB_TOKEN and App
    installation tokens cannot read it; an installation token of another App passed as ``token``
    therefore needs its bot login given explicitly by the caller). One request the first time."""
    auth = gh.requester.auth
    if isinstance(auth, _InstallationAuth):
        return auth.provider.bot_login()
    token = auth.token if isinstance(auth, github.Auth.Token) else ""
    key = (gh.requester.base_url, hashlib.sha256(token.encode()).hexdigest())
    with _TOKEN_LOCK:
        if key in _TOKEN_LOGINS:
            return _TOKEN_LOGINS[key]

    def read() -> str:
        try:
            _, data = gh.requester.requestJsonAndCheck("GET", "/user")
        except GithubException as exc:
            if exc.status in (401, 403):
                return ACTIONS_BOT_LOGIN
            raise
        login = data.get("login") if isinstance(data, Mapping) else None
        if not isinstance(login, str) or not login:
            raise APIError(
                "find the token's account (GET /user): GitHub's answer has no login",
                fix="check that api-url (GITHUB_API_URL) points at a GitHub API (https://api.github.com or "
                "https://HOST/api/v3), not at a proxy or web page",
            )
        return login

    login = call("find the token's account (GET /user)", read)
    with _TOKEN_LOCK:
        _TOKEN_LOGINS[key] = login
    return login


def _maybe_applied(exc: BaseException) -> str | None:
    """What happened, when a create was sent and GitHub may have applied it (5xx, no answer); else None."""
    if isinstance(exc, GithubException) and exc.status >= 500:
        return f"GitHub answered {exc.status}"
    if isinstance(exc, APIError) and exc.status is not None and exc.status >= 500:
        return f"GitHub answered {exc.status}"  # HttpClient: a 5xx to a POST it did not re-send
    if isinstance(exc, requests.exceptions.RequestException) and _left(exc):
        return f"no answer from {_host(exc)} ({_reason_name(exc)})"
    return None


def _unapplied_or_raise(
    exc: GithubException | requests.exceptions.RequestException | APIError,
    operation: str,
    *,
    repository: str | None,
    permission: str | None,
) -> tuple[str, int | None]:
    """For a write that failed: (what happened, the status) when GitHub may have applied it (5xx,
    no answer after sending); any other failure is raised as ``call()`` raises it."""
    what = _maybe_applied(exc)
    if what is None:
        if isinstance(exc, APIError):
            raise exc
        raise _error_for(exc, operation, repository=repository, permission=permission) from None
    return what, exc.status if isinstance(exc, (GithubException, APIError)) else None


def create_once(
    find: Callable[[], T | None],
    create: Callable[[], T],
    *,
    operation: str,
    repository: str | None = None,
    permission: str | None = None,
    log: Callable[[str], None] | None = None,
) -> T:
    """Check, then create: run ``create`` once; never re-send it blindly.

    When ``create`` reached GitHub but the answer was a 5xx or never came (a read timeout), GitHub
    may have applied it. Then ``find()`` looks for the object (it must recognise THIS create, e.g.
    by a marker it carried) and its result is returned; when it finds nothing the error says the
    request "was sent once and not re-sent; GitHub answered 502 and it is not there; re-run".
    Every other failure is raised as ``call()`` raises it. ``create`` and ``find`` are PyGithub
    calls (or HttpClient calls: a 5xx there is an APIError with the status).
    """
    try:
        return create()
    except (GithubException, requests.exceptions.RequestException, APIError) as exc:
        what, status = _unapplied_or_raise(exc, operation, repository=repository, permission=permission)
    try:
        found = call(f"{operation} (checking whether it was applied)", find, repository=repository)
    except APIError as failed:
        raise GitHubError(
            redact(
                f"{operation}: was sent once and not re-sent; {what}, and checking whether it was applied "
                f"failed too: {failed.message}"
            ),
            status=status,
            fix="look on GitHub whether it exists before re-running the job (re-running while it exists "
            "would create it twice)",
        ) from None
    if found is not None:
        if log is not None:
            log(redact(f"{operation}: {what}, but it was applied; using it (not sent again)"))
        return found
    raise GitHubError(
        redact(f"{operation}: was sent once and not re-sent; {what} and it is not there; re-run"),
        status=status,
        fix="re-run the job: nothing was created (GitHub may be degraded: https://www.githubstatus.com)",
    )


def repeat_until_applied(
    gh: github.Github,
    find: Callable[[], T | None],
    send: Callable[[], T],
    *,
    operation: str,
    repository: str | None = None,
    permission: str | None = None,
    log: Callable[[str], None] | None = None,
) -> T:
    """Send a write that is safe to repeat until GitHub holds it, within the client's retry policy.

    For writes where a second copy is harmless (a commit status or a deployment status: GitHub
    keeps a list and the newest wins; a PATCH to the same body). When ``send`` reached GitHub and
    was answered 5xx or not at all, ``find()`` looks whether it was applied (and its result is
    returned); when it was not, ``send`` runs again after the policy's backoff, drawn from the
    client's shared ``RetryBudget`` and bounded by ``max_attempts``: one 502 never leaves a status
    pending. A ``find`` that fails is no reason to stop (sending again is safe). Creates that must
    not happen twice use ``create_once``. Other failures are raised as ``call()`` raises them.
    """
    retry = gh.requester.kwargs.get("retry")
    policy = retry.policy if isinstance(retry, PolicyRetry) else RetryPolicy()
    budget = retry.budget if isinstance(retry, PolicyRetry) else None
    sleeper = retry.sleeper if isinstance(retry, PolicyRetry) else time.sleep
    wall_clock = retry.wall_clock if isinstance(retry, PolicyRetry) else time.time
    rand = retry.rand if isinstance(retry, PolicyRetry) else random.random
    log = log if log is not None else (retry.log if isinstance(retry, PolicyRetry) else None)
    attempt, waited = 1, 0.0
    while True:
        try:
            return send()
        except (GithubException, requests.exceptions.RequestException, APIError) as exc:
            what, status = _unapplied_or_raise(exc, operation, repository=repository, permission=permission)
        try:
            found = call(f"{operation} (checking whether it was applied)", find, repository=repository)
        except APIError as failed:
            found, what = None, f"{what}; checking whether it was applied failed ({failed.message})"
        if found is not None:
            if log is not None:
                log(redact(f"{operation}: {what}, but it was applied; using it (not sent again)"))
            return found
        wait = policy.decide(
            method="POST",
            status=status,
            headers={},
            attempt=attempt,
            waited=waited,
            now=wall_clock(),
            idempotent=True,  # safe to repeat: that is what this function is for
            rand=rand(),
            budget_left=budget.left() if budget is not None else None,
        )
        if wait is not None and budget is not None and not budget.take(wait):
            wait = None
        if wait is None:
            raise GitHubError(
                redact(f"{operation}: sent {attempt} times; {what} and it is not there; re-run"),
                status=status,
                fix="re-run the job (GitHub may be degraded: https://www.githubstatus.com)",
            )
        if log is not None:
            log(
                redact(
                    f"{operation}: {what} and it is not there; "
                    + policy.describe_wait(status=status, attempt=attempt, wait=wait, error="no answer")
                )
            )
        sleeper(wait)
        attempt, waited = attempt + 1, waited + wait


DEPLOYMENT_MARKER = "gitops_release_marker"  # payload key create_deployment_once() finds its deployment by


def create_deployment_once(
    gh: github.Github,
    repository: str,
    *,
    sha: str,
    environment: str,
    marker: str,
    ref: str | None = None,
    description: str | None = None,
    payload: Mapping[str, Any] | None = None,
    required_contexts: list[str] | None = None,
    transient_environment: bool = False,
    production_environment: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Any:
    """Create a deployment of ``sha`` to ``environment`` exactly once (``create_once``).

    ``marker`` (e.g. the workflow run id and attempt) is stored in the payload under
    ``DEPLOYMENT_MARKER``; after a 5xx or a lost answer the deployments of that sha and environment
    are listed and the one carrying the marker is returned instead of creating a second one.
    Returns PyGithub's ``Deployment``.
    """
    if not marker:
        raise InputError("marker", "is empty", fix="pass a value unique to this run, e.g. the run id")
    repo = gh.get_repo(repository)  # the client is lazy: no GET before the POST
    body: dict[str, Any] = {**(payload or {}), DEPLOYMENT_MARKER: marker}
    options: dict[str, Any] = {
        "ref": ref or sha,
        "payload": body,
        "environment": environment,
        "auto_merge": False,
        "transient_environment": transient_environment,
    }
    if description is not None:
        options["description"] = description
    if required_contexts is not None:
        options["required_contexts"] = required_contexts
    if production_environment is not None:
        options["production_environment"] = production_environment

    def find() -> Any:
        for deployment in repo.get_deployments(sha=sha, environment=environment):
            data = deployment.payload
            if isinstance(data, Mapping) and data.get(DEPLOYMENT_MARKER) == marker:
                return deployment
        return None

    return create_once(
        find,
        lambda: repo.create_deployment(**options),
        operation=f"create deployment of {sha[:12]} to {environment}",
        repository=repository,
        permission="deployments: write",
        log=log,
    )


# -- pull requests ------------------------------------------------------------------------------
#
# Mirrors peter-evans/create-pull-request (create, else update the open PR of head -> base; add
# labels; request reviewers) with three differences: the open PR is looked up BEFORE the create
# (a re-run sends no POST at all), the create goes through create_once (a 502 or a lost answer
# never makes a second PR), and only what differs is sent (title/body, missing labels, missing
# review requests), so a re-run of the same promotion reports "not-updated" and writes nothing.

PullState = Literal["created", "updated", "not-updated"]

#: GitHub's limits on a pull request: longer values are refused with a 422 after nothing was done.
PULL_TITLE_LIMIT = 256
PULL_BODY_LIMIT = 65536
_PR_EXISTS = "a pull request already exists"
# Lenient where GitHub once was: some old logins have double or trailing hyphens.
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
_TEAM = re.compile(r"^@?(?:[A-Za-z0-9][A-Za-z0-9-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$")
_NOT_COLLABORATOR = "reviews may only be requested from collaborators"
_TEAM_SCOPE = "could not resolve to a node with the global id"


@dataclass(frozen=True)
class PullInfo:
    """An open (or just closed) pull request as the commands need it."""

    number: int
    url: str  # html_url, for people and the pr-url output
    head: str  # branch name, without owner
    base: str
    title: str
    body: str
    draft: bool
    state: str  # "open" or "closed"
    labels: tuple[str, ...]
    user: str | None  # login of the author
    head_sha: str | None = None
    head_repository: str | None = None  # owner/name the head branch lives in (differs for forks)
    requested_reviewers: tuple[str, ...] = ()
    requested_teams: tuple[str, ...] = ()


def _pull_info(pr: PullRequest) -> PullInfo:
    head_repo = pr.head.repo
    return PullInfo(
        number=int(pr.number),
        url=str(pr.html_url),
        head=str(pr.head.ref),
        base=str(pr.base.ref),
        title=str(pr.title or ""),
        body=str(pr.body or ""),
        draft=bool(pr.draft),
        state=str(pr.state),
        labels=tuple(str(label.name) for label in pr.labels or ()),
        user=pr.user.login if pr.user is not None else None,
        head_sha=str(pr.head.sha) if pr.head.sha else None,
        head_repository=head_repo.full_name if head_repo is not None else None,
        requested_reviewers=tuple(str(u.login) for u in pr.requested_reviewers or ()),
        requested_teams=tuple(str(t.slug) for t in pr.requested_teams or ()),
    )


def _owner(repository: str) -> str:
    if not _REPOSITORY.match(repository or ""):
        raise InputError("repository", f"'{repository}' is not owner/name", fix="use e.g. org/config-repo")
    return repository.split("/", 1)[0]


def _branch_input(value: str, field: str) -> str:
    branch = (value or "").strip()
    if not branch or branch.startswith("-") or any(ch.isspace() or ch in "~^:?*[\\" for ch in branch):
        raise InputError(field, f"'{value}' is not a branch name", fix="pass a branch name, e.g. main")
    return branch.removeprefix("refs/heads/")


def _same_text(ours: str | None, theirs: str | None) -> bool:
    """Equal as GitHub shows them: line endings (the web editor saves CRLF) and trailing space aside."""
    return (ours or "").replace("\r\n", "\n").rstrip() == (theirs or "").replace("\r\n", "\n").rstrip()


def _unique(values: Sequence[str]) -> list[str]:
    """``values`` stripped, without blanks and case-insensitive repeats (logins, labels, slugs)."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        item = value.strip()
        if item and item.lower() not in seen:
            seen.add(item.lower())
            out.append(item)
    return out


def _team_slug(team: str) -> str:
    """``org/team`` or ``@org/team`` -> ``team``: GitHub wants the slug (as create-pull-request strips it)."""
    return team.strip().lstrip("@").rsplit("/", 1)[-1]


def _open_pulls(
    repo: Repository, repository: str, *, head: str | None, base: str, operation: str
) -> list[PullRequest]:
    """Open PRs into ``base`` (of ``owner:head`` when given) whose head branch is in ``repository``.

    PRs from forks are never returned: their branch names are chosen by whoever opened them.
    """

    def fetch() -> list[PullRequest]:
        if head is not None:
            pulls = repo.get_pulls(state="open", head=f"{_owner(repository)}:{head}", base=base)
        else:
            pulls = repo.get_pulls(state="open", base=base)
        return list(pulls)

    found = call(operation, fetch, repository=repository, permission="pull_requests: read")
    own = repository.lower()
    return [
        pr
        for pr in found
        if pr.base.ref == base
        and (head is None or pr.head.ref == head)
        and pr.head.repo is not None
        and pr.head.repo.full_name.lower() == own
    ]


def find_open_pull(gh: github.Github, repository: str, *, head: str, base: str) -> PullInfo | None:
    """The open pull request from ``head`` into ``base`` (both branch names) of ``repository``, or None."""
    head, base = _branch_input(head, "head"), _branch_input(base, "base-branch")
    pulls = _open_pulls(
        gh.get_repo(repository),
        repository,
        head=head,
        base=base,
        operation=f"find the open PR {head} -> {base}",
    )
    return _pull_info(pulls[0]) if pulls else None


def list_open_pulls(gh: github.Github, repository: str, *, base: str, head_prefix: str) -> list[PullInfo]:
    """Open pull requests into ``base`` whose head branch starts with ``head_prefix``, newest first.

    Only branches of ``repository`` itself count (never a fork's), so superseding cannot close
    someone else's PR that merely reuses the branch name.
    """
    base = _branch_input(base, "base-branch")
    if not head_prefix.strip():
        # An empty prefix would take every open PR into base (superseding would close them all).
        raise InputError("head-prefix", "is empty", fix="pass the branch prefix, e.g. promote/stage/")
    pulls = _open_pulls(
        gh.get_repo(repository), repository, head=None, base=base, operation=f"list open PRs into {base}"
    )
    return [_pull_info(pr) for pr in pulls if pr.head.ref.startswith(head_prefix)]


def _check_reviewers(reviewers: Sequence[str], team_reviewers: Sequence[str]) -> None:
    """Refuse what cannot be a login or team before anything is sent (GitHub's 422 comes after the PR)."""
    for login in reviewers:
        if login.strip() and not _LOGIN.match(login.strip()):
            raise InputError(
                "reviewers",
                f"'{login}' is not a GitHub login",
                fix="list user logins, e.g. alice, bob (teams go in team-reviewers)",
            )
    for team in team_reviewers:
        if team.strip() and not _TEAM.match(team.strip()):
            raise InputError(
                "team-reviewers",
                f"'{team}' is not a team",
                fix="list team slugs, e.g. platform-ops or org/platform-ops",
            )


def _check_pull_text(title: str, body: str) -> None:
    if not title.strip():
        raise InputError("title", "is empty", fix="give the pull request a title")
    if len(title) > PULL_TITLE_LIMIT:
        raise InputError(
            "title",
            f"is {len(title)} characters; GitHub allows {PULL_TITLE_LIMIT}",
            fix="shorten it (name fewer images in the title; the body lists them all)",
        )
    if len(body) > PULL_BODY_LIMIT:
        raise InputError(
            "body",
            f"is {len(body)} characters; GitHub allows {PULL_BODY_LIMIT} in a pull request body",
            fix="promote fewer images per pull request, or shorten the body (e.g. summarise the table)",
        )


def _is_already_exists(exc: GithubException) -> bool:
    return exc.status == 422 and _PR_EXISTS in json.dumps(exc.data).lower()


def _refetch(repo: Repository, number: int, repository: str) -> PullRequest:
    return call(
        f"read PR #{number}",
        lambda: repo.get_pull(number),
        repository=repository,
        permission="pull_requests: read",
    )


def _sync_text(
    repo: Repository,
    pr: PullRequest,
    repository: str,
    *,
    title: str,
    body: str,
    log: Callable[[str], None] | None,
) -> tuple[PullRequest, bool]:
    """PATCH title/body when they differ; a PATCH answered 5xx is checked, not re-sent."""
    changes: dict[str, str] = {}
    if title.strip() != (pr.title or "").strip():
        changes["title"] = title
    if not _same_text(body, pr.body):
        changes["body"] = body
    if not changes:
        return pr, False
    number = int(pr.number)

    def patch() -> PullRequest:
        pr.edit(title=changes.get("title", NotSet), body=changes.get("body", NotSet))
        return pr

    def applied() -> PullRequest | None:
        now = repo.get_pull(number)
        same = title.strip() == (now.title or "").strip() and _same_text(body, now.body)
        return now if same else None

    updated = create_once(
        applied,
        patch,
        operation=f"update the title and body of PR #{number}",
        repository=repository,
        permission="pull_requests: write",
        log=log,
    )
    return updated, True


def _sync_labels(
    repo: Repository,
    pr: PullRequest,
    repository: str,
    labels: Sequence[str],
    log: Callable[[str], None] | None,
) -> bool:
    have = {label.name.lower() for label in pr.labels or ()}
    missing = [label for label in _unique(labels) if label.lower() not in have]
    if not missing:
        return False
    number = int(pr.number)

    def add() -> bool:
        pr.add_to_labels(*missing)
        return True

    def applied() -> bool | None:
        now = {label.name.lower() for label in repo.get_issue(number).get_labels()}
        return True if all(label.lower() in now for label in missing) else None

    create_once(
        applied,
        add,
        operation=f"add labels {', '.join(missing)} to PR #{number}",
        repository=repository,
        permission="pull_requests: write",
        log=log,
    )
    return True


def _reviewer_error(exc: APIError, number: int, reviewers: list[str], teams: list[str]) -> APIError:
    """GitHub's 422 on review requests, turned into what to change in the reviewers inputs."""
    text = exc.message.lower()
    asked = ", ".join([*reviewers, *(f"team {t}" for t in teams)])
    if _NOT_COLLABORATOR in text:
        field = "reviewers" if reviewers else "team-reviewers"
        if reviewers and teams:
            field = "reviewers / team-reviewers"
        return GitHubValidationError(
            f"input '{field}': GitHub refused to request reviews from {asked} on PR #{number}: reviews may "
            "only be requested from collaborators of the repository (and teams with access to it); the pull "
            "request itself is open",
            status=exc.status,
            fix=f"remove them from '{field}' (or the policy's reviewers / teamReviewers), or give them "
            "access to the repository, then re-run (the PR is reused)",
        )
    if _TEAM_SCOPE in text:
        return GitHubValidationError(
            f"input 'team-reviewers': GitHub could not resolve the teams {', '.join(teams)} for PR #{number}",
            status=exc.status,
            fix="requesting team reviews needs a token that can read the organization's teams (a GitHub App "
            "with 'members: read', or a PAT with repo and read:org scopes); or leave team-reviewers empty",
        )
    return exc


def _sync_reviewers(
    repo: Repository,
    pr: PullRequest,
    repository: str,
    reviewers: Sequence[str],
    team_reviewers: Sequence[str],
    log: Callable[[str], None] | None,
    *,
    new: bool = False,
) -> bool:
    """Request reviews only from those not requested yet and (users) not having reviewed already.

    ``new``: the PR was just opened by this call, so nobody can have reviewed it yet.
    """
    number = int(pr.number)
    author = (pr.user.login if pr.user is not None else "").lower()
    wanted_users = _unique(reviewers)
    if author and any(u.lower() == author for u in wanted_users):
        # GitHub refuses the whole request ("Review cannot be requested from pull request author").
        if log is not None:
            log(f"PR #{number}: not requesting a review from its author {pr.user.login}")
        wanted_users = [u for u in wanted_users if u.lower() != author]
    wanted_teams = _unique([_team_slug(t) for t in team_reviewers])
    requested_users = {u.login.lower() for u in pr.requested_reviewers or ()}
    requested_teams = {t.slug.lower() for t in pr.requested_teams or ()}
    users = [u for u in wanted_users if u.lower() not in requested_users]
    teams = [t for t in wanted_teams if t.lower() not in requested_teams]
    if users and not new:
        # A review someone already gave removes their request; asking again would re-request it.
        reviewed = call(
            f"list the reviews of PR #{number}",
            lambda: {r.user.login.lower() for r in pr.get_reviews() if r.user is not None},
            repository=repository,
            permission="pull_requests: read",
        )
        users = [u for u in users if u.lower() not in reviewed]
    if not users and not teams:
        return False
    options: dict[str, list[str]] = {}
    if users:
        options["reviewers"] = users
    if teams:
        options["team_reviewers"] = teams

    def request() -> bool:
        pr.create_review_request(**options)
        return True

    def applied() -> bool | None:
        now_users, now_teams = repo.get_pull(number).get_review_requests()
        have_users = {u.login.lower() for u in now_users}
        have_teams = {t.slug.lower() for t in now_teams}
        done = all(u.lower() in have_users for u in users) and all(t.lower() in have_teams for t in teams)
        return True if done else None

    try:
        create_once(
            applied,
            request,
            operation=f"request reviews on PR #{number}",
            repository=repository,
            permission="pull_requests: write",
            log=log,
        )
    except GitHubValidationError as exc:
        raise _reviewer_error(exc, number, users, teams) from None
    return True


def open_or_update_pull(
    gh: github.Github,
    repository: str,
    *,
    head: str,
    base: str,
    title: str,
    body: str,
    draft: bool = False,
    labels: Sequence[str] = (),
    reviewers: Sequence[str] = (),
    team_reviewers: Sequence[str] = (),
    log: Callable[[str], None] | None = None,
) -> tuple[PullInfo, PullState]:
    """The one open PR from ``head`` into ``base``, created or brought up to date.

    * No open PR: create it (``draft`` applies here only: GitHub's REST API cannot change it later)
      through ``create_once``: after a 5xx or a lost answer it looks for the PR of head -> base
      instead of sending the create again; GitHub's 422 "A pull request already exists" (another
      run won the race) resolves to that PR. State "created" (also when a 5xx hid our own create).
    * An open PR: PATCH title and body only when they differ (CRLF and trailing blanks aside).
    * Either way: add the labels it lacks (never removes any), request reviews from the users and
      teams not requested yet (users who already reviewed and the PR's author are skipped).
    State "updated" when anything was sent to an existing PR, "not-updated" when nothing was.
    """
    head, base = _branch_input(head, "head"), _branch_input(base, "base-branch")
    _owner(repository)
    if head == base:
        raise InputError("base-branch", f"is the head branch {head} itself", fix="use another base branch")
    _check_pull_text(title, body)
    _check_reviewers(reviewers, team_reviewers)
    repo = gh.get_repo(repository)  # lazy: no GET
    where = f"{head} -> {base}"
    existing = _open_pulls(repo, repository, head=head, base=base, operation=f"find the open PR {where}")
    state: PullState
    if existing:
        pr, state = existing[0], "not-updated"
    else:

        def find() -> PullRequest | None:
            found = _open_pulls(repo, repository, head=head, base=base, operation=f"find the open PR {where}")
            return found[0] if found else None

        def create() -> PullRequest | None:
            try:
                return repo.create_pull(
                    base=base, head=f"{_owner(repository)}:{head}", title=title, body=body, draft=draft
                )
            except GithubException as exc:
                if _is_already_exists(exc):
                    return None  # opened meanwhile by a concurrent run: use it
                raise

        created = create_once(
            find,
            create,
            operation=f"open a pull request {where}",
            repository=repository,
            permission="pull_requests: write",
            log=log,
        )
        if created is None:
            found = find()
            if found is None:
                raise GitHubError(
                    f"open a pull request {where}: GitHub says one already exists, but no open PR "
                    f"{where} is visible",
                    status=422,
                    fix="it may be a PR from another owner's branch of the same name; close it or use "
                    "another head branch, then re-run",
                )
            pr, state = found, "not-updated"
            if log is not None:
                log(f"PR #{pr.number} for {where} was opened meanwhile by another run; using it")
        else:
            pr, state = created, "created"
    pr, changed = _sync_text(repo, pr, repository, title=title, body=body, log=log)
    changed = _sync_labels(repo, pr, repository, labels, log) or changed
    new = state == "created"
    changed = _sync_reviewers(repo, pr, repository, reviewers, team_reviewers, log, new=new) or changed
    if changed:
        pr = _refetch(repo, int(pr.number), repository)
        if state == "not-updated":
            state = "updated"
    return _pull_info(pr), state


def close_pull(
    gh: github.Github,
    repository: str,
    number: int,
    *,
    comment: str,
    log: Callable[[str], None] | None = None,
) -> None:
    """Comment on the PR (once: a re-run finds its comment) and close it. A closed PR is left alone."""
    if not comment.strip():
        raise InputError("comment", "is empty", fix="say why the pull request is closed")
    repo = gh.get_repo(repository)
    pr = _refetch(repo, number, repository)
    if pr.state != "open":
        return
    issue = repo.get_issue(number)  # lazy

    def commented() -> bool | None:
        # Newest comments are last; a re-run after a failed close finds the comment it left.
        return True if any(_same_text(comment, c.body) for c in issue.get_comments()) else None

    if not call(
        f"read the comments of PR #{number}",
        commented,
        repository=repository,
        permission="pull_requests: read",
    ):
        create_once(
            commented,
            lambda: bool(issue.create_comment(comment)),
            operation=f"comment on PR #{number}",
            repository=repository,
            permission="pull_requests: write",
            log=log,
        )

    def close() -> bool:
        pr.edit(state="closed")
        return True

    def closed() -> bool | None:
        return True if repo.get_pull(number).state == "closed" else None

    create_once(
        closed,
        close,
        operation=f"close PR #{number}",
        repository=repository,
        permission="pull_requests: write",
        log=log,
    )


# -- deployments --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentInfo:
    """The latest deployment of an environment and its latest status (None: no status yet)."""

    id: int
    sha: str
    environment: str
    created_at: datetime
    state: str | None
    state_at: datetime | None


def _aware(value: datetime | None) -> datetime | None:
    """PyGithub's datetimes carry UTC; older ones were naive UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def latest_deployment(gh: github.Github, repository: str, environment: str) -> DeploymentInfo | None:
    """The newest deployment to ``environment`` (GitHub lists newest first) and its newest status."""
    if not environment.strip():
        raise InputError("environment", "is empty", fix="name the environment, e.g. stage")
    repo = gh.get_repo(repository)

    def newest() -> DeploymentInfo | None:
        deployments = repo.get_deployments(environment=environment)
        first = next(iter(deployments), None)
        if first is None:
            return None
        status = next(iter(first.get_statuses()), None)
        created = _aware(first.created_at)
        assert created is not None
        return DeploymentInfo(
            id=int(first.id),
            sha=str(first.sha),
            environment=str(first.environment),
            created_at=created,
            state=str(status.state) if status is not None else None,
            state_at=_aware(status.created_at) if status is not None else None,
        )

    return call(
        f"read the latest deployment to {environment}",
        newest,
        repository=repository,
        permission="deployments: read",
    )


# -- commit statuses ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusInfo:
    """The latest commit status of one context."""

    context: str
    state: str
    updated_at: datetime


def commit_status(gh: github.Github, repository: str, ref: str, context: str) -> StatusInfo | None:
    """The latest status of ``context`` (case-insensitive, as GitHub combines them) on ``ref``, or None.

    Read from the combined status (one entry per context); when the commit has more contexts than
    that page holds, from the statuses list (newest first) instead.
    """
    if not context.strip():
        raise InputError(
            "require-status", "names no status context", fix="pass a context, e.g. ci/argocd-sync"
        )
    repo = gh.get_repo(repository)
    wanted = context.strip().lower()

    def latest() -> StatusInfo | None:
        combined = repo.get_commit(ref).get_combined_status()
        statuses: list[CommitStatus] = list(combined.statuses)
        if (combined.total_count or 0) > len(
            statuses
        ):  # GitHub before 2014 (and old GHES) sent no total_count
            # Commit.get_statuses() would first GET the commit (lazy client); list by ref instead.
            url = f"{repo.url}/commits/{urllib.parse.quote(ref, safe='')}/statuses"
            statuses = list(PaginatedList(CommitStatus, gh.requester, url, None))
        for status in statuses:  # combined: one per context; list: newest first
            if str(status.context).lower() == wanted:
                updated = _aware(status.updated_at) or _aware(status.created_at)
                assert updated is not None
                return StatusInfo(context=str(status.context), state=str(status.state), updated_at=updated)
        return None

    return call(
        f"read commit status '{context}' of {ref}", latest, repository=repository, permission="statuses: read"
    )


__all__ = [
    "DEPLOYMENT_MARKER",
    "PULL_BODY_LIMIT",
    "PULL_TITLE_LIMIT",
    "AppTokenProvider",
    "DeploymentInfo",
    "GitHubAuth",
    "PolicyRetry",
    "PullInfo",
    "PullState",
    "RetryBudget",
    "SentOnceException",
    "StatusInfo",
    "call",
    "close_pull",
    "commit_status",
    "create_deployment_once",
    "create_once",
    "find_open_pull",
    "forget_app_tokens",
    "github_client",
    "latest_deployment",
    "list_open_pulls",
    "open_or_update_pull",
]
