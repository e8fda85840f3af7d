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
* Every retry wait of one client (PyGithub requests and the App token requests alike) is drawn
  from one ``RetryBudget`` (``github_client(..., budget=)`` shares one between clients).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import github
import jwt
import requests
from github import GithubException
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
from gitops_release.errors import APIError, GitHubError, GitHubNotFoundError, InputError, RetryExhaustedError
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


def forget_app_tokens() -> None:
    """Tests only: clear the per-process App token and installation caches."""
    _TOKENS.clear()
    _INSTALLATIONS.clear()


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


def _maybe_applied(exc: BaseException) -> str | None:
    """What happened, when a create was sent and GitHub may have applied it (5xx, no answer); else None."""
    if isinstance(exc, GithubException) and exc.status >= 500:
        return f"GitHub answered {exc.status}"
    if isinstance(exc, APIError) and exc.status is not None and exc.status >= 500:
        return f"GitHub answered {exc.status}"  # HttpClient: a 5xx to a POST it did not re-send
    if isinstance(exc, requests.exceptions.RequestException) and _left(exc):
        return f"no answer from {_host(exc)} ({_reason_name(exc)})"
    return None


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
        what = _maybe_applied(exc)
        if what is None:
            if isinstance(exc, APIError):
                raise
            raise _error_for(exc, operation, repository=repository, permission=permission) from None
        status = exc.status if isinstance(exc, (GithubException, APIError)) else None
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


__all__ = [
    "DEPLOYMENT_MARKER",
    "AppTokenProvider",
    "GitHubAuth",
    "PolicyRetry",
    "RetryBudget",
    "SentOnceException",
    "call",
    "create_deployment_once",
    "create_once",
    "forget_app_tokens",
    "github_client",
]
