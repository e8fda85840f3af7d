"""The one retry policy used by every HTTP client of the project (stdlib urllib, PyGithub, requests).

Pure: no clock, no sleep, no randomness of its own. Callers pass ``now`` (epoch seconds, for
``x-ratelimit-reset``), ``waited`` (seconds already slept for this request) and ``rand``
(a number in [0, 1) for the jitter), and do the sleeping themselves.

What is retried
    * 500, 502, 503, 504 and connection errors / timeouts (``status=None``): only for
      idempotent requests (GET, HEAD, PUT, DELETE, OPTIONS, or ``idempotent=True``). A POST that
      may already have been processed is never blindly re-sent (a second deployment, a second
      dispatch). A caller that knows the request never left (connection refused) passes
      ``idempotent=True``.
    * Rate limits, for ANY method, because the request was refused, not processed:
      403 or 429 with a ``Retry-After`` header (seconds or an HTTP date), or with
      ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset`` (wait until the reset + 1 s), or a
      body mentioning a secondary / abuse rate limit (wait ``secondary_rate_wait``, as GitHub
      documents), or a bare 429. The wait is at least the exponential backoff.

What never is
    * Any other 4xx (400, 401, 403 without a rate-limit sign, 404, 409, 422): retrying cannot help.

Bounds
    * ``max_attempts`` attempts in total (the first included).
    * Backoff: full jitter, ``rand * min(max_delay, base_delay * 2 ** (attempt - 1))``.
    * ``max_total_wait``: the sum of all waits for ONE request never exceeds it. A Retry-After or
      reset that would go beyond it means "give up now" (the caller raises a RateLimitError that
      says when to retry) rather than sleeping for an hour inside a CI job.
    * ``budget_left``: what is left of a budget shared by several requests (the adapters'
      ``RetryBudget``: one per client object by default, so a command making N calls does not
      wait N x ``max_total_wait``). A wait beyond it also means "give up now".

Header names are looked up case-insensitively (``header()``); values may be non-strings.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
RATE_LIMIT_STATUSES = frozenset({403, 429})

_SECONDARY_MARKERS = ("secondary rate limit", "abuse detection", "abuse rate limit")
_PRIMARY_MARKERS = ("api rate limit exceeded",)


def header(headers: Mapping[str, object] | None, name: str) -> str | None:
    """The value of header ``name`` (case-insensitive), as a stripped string, or None."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted and value is not None:
            return str(value).strip()
    return None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def reset_epoch(headers: Mapping[str, object] | None) -> float | None:
    """``x-ratelimit-reset`` as epoch seconds (millisecond values, as some recordings hold, are scaled)."""
    value = _number(header(headers, "x-ratelimit-reset"))
    if value is None:
        return None
    return value / 1000 if value > 1e11 else value


def retry_after_seconds(headers: Mapping[str, object] | None, now: float) -> float | None:
    """``Retry-After`` in seconds from ``now``: delta-seconds or an HTTP date; None when absent/bad."""
    raw = header(headers, "retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def rate_limit_kind(status: int | None, headers: Mapping[str, object] | None, body: str = "") -> str | None:
    """'retry-after', 'primary', 'secondary' or '429' when the response is a rate limit; else None."""
    if status not in RATE_LIMIT_STATUSES:
        return None
    if header(headers, "retry-after") is not None:
        return "retry-after"
    if header(headers, "x-ratelimit-remaining") == "0" and reset_epoch(headers) is not None:
        return "primary"
    text = body.lower()
    if any(marker in text for marker in _SECONDARY_MARKERS):
        return "secondary"
    if any(marker in text for marker in _PRIMARY_MARKERS):
        return "primary"
    if status == 429:
        return "429"
    return None


def is_idempotent(method: str) -> bool:
    return method.upper() in IDEMPOTENT_METHODS


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry an HTTP request and how long to wait; see the module docstring."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_total_wait: float = 120.0
    secondary_rate_wait: float = 60.0

    def backoff(self, attempt: int, rand: float = 0.5) -> float:
        """Full-jitter exponential backoff after failed attempt number ``attempt`` (1-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return max(0.0, min(1.0, rand)) * cap

    def rate_limit_wait(
        self, status: int | None, headers: Mapping[str, object], *, now: float, body: str = ""
    ) -> float | None:
        """Seconds GitHub asks us to wait when the response is a rate limit, else None."""
        kind = rate_limit_kind(status, headers, body)
        if kind is None:
            return None
        if kind == "retry-after":
            return retry_after_seconds(headers, now) or 0.0
        reset = reset_epoch(headers)
        if kind == "primary" and reset is not None:
            return max(0.0, reset - now) + 1.0
        if kind == "secondary":
            return self.secondary_rate_wait
        return 0.0

    def decide(
        self,
        *,
        method: str,
        status: int | None,
        headers: Mapping[str, object],
        attempt: int,
        waited: float,
        now: float,
        idempotent: bool | None = None,
        rand: float = 0.5,
        body: str = "",
        budget_left: float | None = None,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None: do not retry.

        ``attempt`` is the number of the attempt that just failed (1 for the first request),
        ``waited`` the seconds already waited for this request, ``status`` None for a connection
        error or timeout, ``body`` the (start of the) response text, ``budget_left`` the seconds
        left in a wait budget shared with other requests (None: no shared budget).
        """
        if attempt >= self.max_attempts:
            return None
        budget = self.max_total_wait - waited
        if budget_left is not None:
            budget = min(budget, budget_left)
        backoff = self.backoff(attempt, rand)
        asked = self.rate_limit_wait(status, headers, now=now, body=body)
        if asked is not None:
            wait = max(asked, backoff)
        elif status is None or status in RETRY_STATUSES:
            safe = is_idempotent(method) if idempotent is None else idempotent
            if not safe:
                return None
            wait = backoff
        else:
            return None
        if wait > budget:
            return None
        return wait

    def describe_wait(
        self,
        *,
        status: int | None,
        attempt: int,
        wait: float,
        service: str = "GitHub",
        error: str | None = None,
    ) -> str:
        """One log line: ``GitHub answered 502; retry 1/4 in 1.3 s``."""
        what = f"{service} answered {status}" if status is not None else f"{service} unreachable ({error})"
        return f"{what}; retry {attempt}/{self.max_attempts - 1} in {wait:.1f} s"
