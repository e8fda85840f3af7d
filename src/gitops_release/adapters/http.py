"""A small GitHub REST client on the standard library (urllib), applying the one RetryPolicy.

STANDARD LIBRARY ONLY: dispatch-update's zero-install path imports this with the runner's bare
``python3`` (no requests, no urllib3, no PyGithub).

* The token goes only in the ``Authorization: Bearer`` header, never in a URL, and only to the
  origin of ``base_url`` (an absolute URL elsewhere is requested without it). It is registered
  with ``runtime.register_secret`` and every log line / error is redacted.
* Retries follow ``core.retry.RetryPolicy`` (5xx and connection errors for idempotent requests,
  rate limits for all); one log line per retry. Every wait is also drawn from a ``RetryBudget``
  (one per client object unless one is passed in and shared): all the retry sleeps of the
  client's requests together never exceed it.
* Redirects are followed by hand, same origin only: 301/302/303 for GET/HEAD, 307/308 for any
  method (the body is re-sent; GitHub answers 307 for a renamed repository on writes).
* A final error status becomes ``core.github_errors.github_error(...)``; a connection that kept
  failing becomes ``RetryExhaustedError`` naming the host.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from gitops_release import __version__
from gitops_release.core.retry import RetryPolicy, header, is_idempotent
from gitops_release.errors import APIError, InputError, RetryExhaustedError
from gitops_release.runtime import redact, register_secret

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: dispatch-update's start-up
if TYPE_CHECKING:
    from typing import Any

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
_MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class RetryBudget:
    """Seconds of retry waiting that several requests (or several clients) share; thread-safe.

    ``RetryPolicy.max_total_wait`` bounds the waits of one request; a budget bounds the sum of
    the waits of every request that draws from it. ``HttpClient`` and ``github_client()`` create
    one per client object (``total`` = the policy's ``max_total_wait``) unless given one.
    """

    def __init__(self, total: float) -> None:
        if total < 0:
            raise ValueError(f"RetryBudget total must be >= 0, got {total}")  # programming error
        self.total = float(total)
        self._spent = 0.0
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        with self._lock:
            return self._spent

    def left(self) -> float:
        """Seconds that may still be waited."""
        with self._lock:
            return max(0.0, self.total - self._spent)

    def take(self, seconds: float) -> bool:
        """Reserve ``seconds`` of waiting; False (nothing reserved) when that is more than is left."""
        with self._lock:
            if seconds > self.total - self._spent:
                return False
            self._spent += max(0.0, seconds)
            return True

    def __repr__(self) -> str:
        return f"RetryBudget(total={self.total:g}, spent={self.spent:g})"


@dataclass(frozen=True)
class HttpResponse:
    """A finished response: status, headers (case-insensitive lookups via ``header()``), raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str = field(default="", compare=False)

    def json(self) -> Any:
        """The body parsed as JSON (None for an empty body)."""
        if not self.body.strip():
            return None
        return json.loads(self.body.decode("utf-8"))

    def header(self, name: str) -> str | None:
        return header(self.headers, name)


_LOOPBACK_NAMES = ("localhost", "localhost.")


def api_base_url(explicit: str | None, env: Mapping[str, str]) -> str:
    """The API base URL: explicit input, else ``GITHUB_API_URL`` (GHES runners), else api.github.com.

    Plain ``http://`` is refused unless the host is the loopback (the sandbox, a local proxy): the
    token goes in the Authorization header of every request and would cross the network in clear.
    """
    for source, candidate in (("input 'api-url'", explicit), ("GITHUB_API_URL", env.get("GITHUB_API_URL"))):
        if candidate and candidate.strip():
            url = candidate.strip().rstrip("/")
            _check_transport(url, source)
            return url
    return DEFAULT_API_URL


def is_loopback_host(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1 (a name is not resolved: only these spellings count)."""
    import ipaddress

    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _check_transport(url: str, source: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return  # not a URL at all: the request itself fails and names it
    if parts.scheme.lower() == "http" and not is_loopback_host(host):
        raise InputError(
            "api-url",
            f"{source} is plain http to {host or 'an unknown host'}: the token would travel unencrypted",
            fix=f"use https://{host or 'HOST'}{parts.path or ''} (plain http only for localhost, "
            "127.0.0.1 or ::1)",
        )


def next_link(headers: Mapping[str, object] | None) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (GitHub pagination), or None on the last page."""
    raw = header(headers, "link")
    if not raw:
        return None
    for part in raw.split(","):
        section = part.strip()
        if not section.startswith("<") or ">" not in section:
            continue
        url, _, params = section[1:].partition(">")
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                return url.strip()
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand every 3xx back to HttpClient, which decides (urllib would forward headers anywhere)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> None:
        return None


class HttpClient:
    """GitHub REST over urllib with retries, redirects, error mapping and redacted logging."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        policy: RetryPolicy = RetryPolicy(),
        timeout: float = 30,
        user_agent: str = f"gitops-release/{__version__}",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
        budget: RetryBudget | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        register_secret(token)
        self.policy = policy
        self.budget = budget if budget is not None else RetryBudget(policy.max_total_wait)
        self.timeout = timeout
        self.user_agent = user_agent
        self.sleep = sleep
        self.clock = clock
        self.wall_clock = wall_clock
        self.rand = rand
        self.log = log
        self._opener = urllib.request.build_opener(_NoRedirect())

    # -- helpers --------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _say(self, line: str) -> None:
        if self.log is not None:
            self.log(redact(line))

    def _headers(self, url: str, token: str | None, has_body: bool) -> dict[str, str]:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": self.user_agent,
        }
        if has_body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if token and _origin(url) == _origin(self.base_url):
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _draw(self, wait: float | None) -> float | None:
        """``wait`` when the shared budget still holds it (and reserve it), else None: give up."""
        if wait is None or not self.budget.take(wait):
            return None
        return wait

    def _send(self, method: str, url: str, data: bytes | None, headers: Mapping[str, str]) -> HttpResponse:
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) only
        for name, value in headers.items():
            request.add_unredirected_header(name, value)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read()
                return HttpResponse(response.status, dict(response.headers.items()), body, url)
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read()
            except (OSError, http.client.HTTPException):
                body = b""
            finally:
                exc.close()
            return HttpResponse(exc.code, dict(exc.headers.items()) if exc.headers else {}, body, url)

    def prepare(
        self, method: str, path: str, *, json_body: object = None, token: str | None = None
    ) -> tuple[str, dict[str, str], bytes | None]:
        """The URL, headers and body ``request`` sends first (dispatch-update's dry run prints them).

        The Authorization header holds the token in clear: redact it before showing it."""
        url = self.url(path)
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"unsupported URL scheme in {url!r}")  # programming error
        bearer = token if token is not None else self.token
        register_secret(bearer)
        data = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
        return url, self._headers(url, bearer, data is not None), data

    # -- the one entry point --------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: object = None,
        idempotent: bool | None = None,
        operation: str = "",
        repository: str | None = None,
        permission: str | None = None,
        expected: Iterable[int] = (200, 201, 204),
        token: str | None = None,
    ) -> HttpResponse:
        """Send one request (retrying by the policy); return the response when its status is expected.

        ``token`` overrides the client's token for this request (the App JWT). Raises the
        ``github_error`` for a final unexpected status, ``RetryExhaustedError`` when the host
        kept failing to answer.
        """
        method = method.upper()
        url, _, data = self.prepare(method, path, json_body=json_body, token=token)
        bearer = token if token is not None else self.token
        wanted = set(expected)
        doing = operation or f"{method} {urllib.parse.urlsplit(url).path}"
        safe = idempotent if idempotent is not None else is_idempotent(method)  # may be re-sent on 5xx
        attempt, waited, redirects = 1, 0.0, 0
        while True:
            try:
                response = self._send(method, url, data, self._headers(url, bearer, data is not None))
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = _reason(exc)
                never_sent = _never_sent(exc)
                wait = self._draw(
                    self.policy.decide(
                        method=method,
                        status=None,
                        headers={},
                        attempt=attempt,
                        waited=waited,
                        now=self.wall_clock(),
                        idempotent=True if never_sent else idempotent,
                        rand=self.rand(),
                        budget_left=self.budget.left(),
                    )
                )
                host = urllib.parse.urlsplit(url).netloc
                if wait is None:
                    if not never_sent and not safe:
                        # It left: GitHub may have processed it (a read timeout, a reset after sending).
                        raise RetryExhaustedError(
                            redact(
                                f"{doing}: sent once, not re-sent (it may have been applied): "
                                f"no answer from {host}: {reason}"
                            ),
                            fix="check on GitHub whether it was applied before re-running the job; if it "
                            "keeps happening check the API URL (api-url / GITHUB_API_URL) and the network",
                        ) from None
                    raise RetryExhaustedError(
                        redact(f"{doing}: could not reach {host} after {attempt} attempt(s): {reason}"),
                        fix="check the API URL (api-url / GITHUB_API_URL) and the network, then re-run",
                    ) from None
                self._say(self.policy.describe_wait(status=None, attempt=attempt, wait=wait, error=reason))
                self.sleep(wait)
                waited += wait
                attempt += 1
                continue

            if response.status in wanted:
                return response
            location = response.header("location")
            if response.status in _REDIRECTS and location and redirects < _MAX_REDIRECTS:
                target = urllib.parse.urljoin(url, location)
                keeps_method = response.status in (307, 308)
                if _origin(target) == _origin(url) and (keeps_method or method in ("GET", "HEAD")):
                    moved = urllib.parse.urlsplit(target).path
                    self._say(f"GitHub answered {response.status}; following to {moved}")
                    url, redirects = target, redirects + 1
                    continue
            text = response.body[:4000].decode("utf-8", "replace")
            wait = self._draw(
                self.policy.decide(
                    method=method,
                    status=response.status,
                    headers=response.headers,
                    attempt=attempt,
                    waited=waited,
                    now=self.wall_clock(),
                    idempotent=idempotent,
                    rand=self.rand(),
                    body=text,
                    budget_left=self.budget.left(),
                )
            )
            if wait is None:
                # Imported here: the error mapping is only needed on failure, and the
                # dispatch fast path pays for every module it imports (docs/benchmarks.md).
                from gitops_release.core.github_errors import github_error

                error = github_error(
                    response.status,
                    response.body,
                    response.headers,
                    operation=doing,
                    repository=repository,
                    permission=permission,
                    resent=safe,
                )
                raise _redacted(error) from None
            self._say(self.policy.describe_wait(status=response.status, attempt=attempt, wait=wait))
            self.sleep(wait)
            waited += wait
            attempt += 1

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()


def _reason(exc: BaseException) -> str:
    inner = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(inner, BaseException):
        text = str(inner) or type(inner).__name__
        return f"{type(inner).__name__}: {text}" if type(inner).__name__ not in text else text
    return str(inner)


def _never_sent(exc: BaseException) -> bool:
    """True when the request certainly never reached the server (safe to re-send any method)."""
    inner = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return isinstance(inner, (ConnectionRefusedError, socket.gaierror))


def _redacted(error: APIError) -> APIError:
    """Redact message and fix in place (GitHub may echo a value back)."""
    error.message = redact(error.message)
    if error.fix:
        error.fix = redact(error.fix)
    error.args = (error.message,)
    return error


__all__ = [
    "DEFAULT_API_URL",
    "HttpClient",
    "HttpResponse",
    "RetryBudget",
    "api_base_url",
    "next_link",
]
