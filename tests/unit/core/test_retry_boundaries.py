"""core/retry.py: the exact edges of the retry policy (written against mutation-testing survivors,
docs/testing.md): the millisecond cut-off of x-ratelimit-reset, Retry-After of zero or in the
past, waits when a reset is already over, jitter clamped to [0, 1]."""

from __future__ import annotations

import email.utils

from gitops_release.core.retry import RetryPolicy, rate_limit_kind, reset_epoch, retry_after_seconds

NOW = 1_700_000_000.0
POLICY = RetryPolicy()


def test_a_reset_of_exactly_1e11_is_seconds_and_anything_above_is_milliseconds() -> None:
    assert reset_epoch({"x-ratelimit-reset": "100000000000"}) == 100_000_000_000.0
    assert reset_epoch({"x-ratelimit-reset": "100000000000.5"}) == 100_000_000.0005
    assert reset_epoch({"x-ratelimit-reset": "later"}) is None
    assert reset_epoch({}) is None


def test_retry_after_below_one_second_or_in_the_past_is_not_rounded_up() -> None:
    assert retry_after_seconds({"Retry-After": "0.5"}, NOW) == 0.5
    assert retry_after_seconds({"Retry-After": "0"}, NOW) == 0.0
    assert retry_after_seconds({"Retry-After": "-3"}, NOW) == 0.0
    assert retry_after_seconds({"Retry-After": email.utils.formatdate(NOW, usegmt=True)}, NOW) == 0.0
    assert retry_after_seconds({"Retry-After": email.utils.formatdate(NOW - 60, usegmt=True)}, NOW) == 0.0
    assert retry_after_seconds({}, NOW) is None


def test_remaining_zero_without_a_reset_is_not_a_primary_rate_limit() -> None:
    assert rate_limit_kind(403, {"x-ratelimit-remaining": "0"}) is None
    assert rate_limit_kind(403, {"x-ratelimit-reset": str(int(NOW) + 10)}) is None
    assert rate_limit_kind(403, {"x-ratelimit-remaining": "1", "x-ratelimit-reset": "1"}) is None


def test_each_kind_by_name() -> None:
    assert rate_limit_kind(429, {}) == "429"
    assert rate_limit_kind(429, {}, "You have triggered an abuse detection mechanism") == "secondary"
    assert rate_limit_kind(403, {}, "secondary rate limit") == "secondary"
    assert rate_limit_kind(403, {}) is None
    assert rate_limit_kind(None, {"Retry-After": "1"}) is None


def test_a_retry_after_date_is_counted_from_now() -> None:
    date = email.utils.formatdate(NOW + 42, usegmt=True)
    assert POLICY.rate_limit_wait(403, {"Retry-After": date}, now=NOW) == 42.0


def test_a_retry_after_of_zero_or_unreadable_waits_zero_seconds() -> None:
    assert POLICY.rate_limit_wait(429, {"Retry-After": "0"}, now=NOW) == 0.0
    assert POLICY.rate_limit_wait(429, {"Retry-After": "soon"}, now=NOW) == 0.0


def test_a_reset_that_is_over_waits_one_second() -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 100)}
    assert POLICY.rate_limit_wait(403, headers, now=NOW) == 1.0


def test_a_bare_429_ignores_a_reset_header_when_requests_remain() -> None:
    headers = {"x-ratelimit-remaining": "5", "x-ratelimit-reset": str(int(NOW) + 10)}
    assert rate_limit_kind(429, headers) == "429"
    assert POLICY.rate_limit_wait(429, headers, now=NOW) == 0.0
    assert POLICY.rate_limit_wait(403, {}, now=NOW) is None


def test_backoff_default_jitter_is_half_and_jitter_is_clamped_to_0_1() -> None:
    assert POLICY.backoff(3) == 2.0
    assert POLICY.backoff(1, rand=1.5) == 1.0
    assert POLICY.backoff(2, rand=-1.0) == 0.0
    assert POLICY.backoff(0, rand=1.0) == 1.0  # attempt numbers below 1 are the first backoff
