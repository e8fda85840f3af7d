from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_release.core.retry import RetryPolicy, header, rate_limit_kind, reset_epoch, retry_after_seconds

NOW = 1_700_000_000.0
POLICY = RetryPolicy()


def decide(**kwargs: object) -> float | None:
    args: dict[str, object] = {
        "method": "GET",
        "status": 502,
        "headers": {},
        "attempt": 1,
        "waited": 0.0,
        "now": NOW,
    }
    args.update(kwargs)
    return POLICY.decide(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [500, 502, 503, 504, None])
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "get"])
def test_transient_failures_are_retried_for_idempotent_methods(status: int | None, method: str) -> None:
    assert decide(method=method, status=status) == 0.5


@pytest.mark.parametrize("status", [500, 502, 503, 504, None])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_post_is_never_blindly_resent_on_5xx_or_connection_error(status: int | None, method: str) -> None:
    assert decide(method=method, status=status) is None


def test_idempotent_override_wins_over_method() -> None:
    assert decide(method="POST", status=502, idempotent=True) == 0.5
    assert decide(method="GET", status=502, idempotent=False) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422, 501])
def test_other_errors_are_never_retried(status: int) -> None:
    assert decide(status=status) is None
    assert decide(status=status, method="POST") is None


def test_secondary_rate_limit_with_retry_after_is_retried_for_post() -> None:
    assert decide(method="POST", status=403, headers={"Retry-After": "7"}) == 7.0
    assert decide(method="POST", status=429, headers={"retry-after": "3"}) == 3.0


def test_retry_after_is_at_least_the_backoff() -> None:
    assert decide(method="POST", status=403, headers={"Retry-After": "0"}, attempt=3, rand=1.0) == 4.0


def test_retry_after_beyond_the_total_wait_gives_up_at_once() -> None:
    assert decide(method="POST", status=403, headers={"Retry-After": "3600"}) is None
    assert decide(method="POST", status=403, headers={"Retry-After": "100"}, waited=30.0) is None
    assert decide(method="POST", status=403, headers={"Retry-After": "100"}, waited=20.0) == 100.0


def test_primary_rate_limit_waits_until_reset_plus_one_second() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 10)}
    assert decide(method="POST", status=403, headers=headers) == 11.0
    far = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 3600)}
    assert decide(status=403, headers=far) is None


def test_secondary_rate_limit_named_only_in_the_body() -> None:
    body = '{"message": "You have exceeded a secondary rate limit. Please wait a few minutes."}'
    assert decide(method="POST", status=403, body=body) == POLICY.secondary_rate_wait
    assert (
        decide(method="POST", status=403, body='{"message": "Resource not accessible by integration"}')
        is None
    )


def test_bare_429_is_retried_with_backoff() -> None:
    assert decide(method="POST", status=429) == 0.5


def test_max_attempts_counts_the_first_request() -> None:
    assert decide(attempt=4) is not None
    assert decide(attempt=5) is None
    assert (
        RetryPolicy(max_attempts=1).decide(method="GET", status=502, headers={}, attempt=1, waited=0, now=NOW)
        is None
    )


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    assert [policy.backoff(n, rand=1.0) for n in (1, 2, 3, 4, 5, 6, 7)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.backoff(3, rand=0.0) == 0.0
    assert policy.backoff(3, rand=0.25) == 1.0


def test_backoff_beyond_the_budget_gives_up() -> None:
    policy = RetryPolicy(max_total_wait=5.0, max_attempts=10)
    assert policy.decide(method="GET", status=503, headers={}, attempt=4, waited=0, now=NOW, rand=1.0) is None
    assert policy.decide(method="GET", status=503, headers={}, attempt=3, waited=0, now=NOW, rand=1.0) == 4.0


@given(
    attempts=st.lists(st.sampled_from([500, 502, 503, 504, None, 429]), min_size=1, max_size=20),
    rands=st.lists(st.floats(min_value=0, max_value=1), min_size=20, max_size=20),
    retry_after=st.integers(min_value=0, max_value=200),
)
def test_total_wait_never_exceeds_the_bound(
    attempts: list[int | None], rands: list[float], retry_after: int
) -> None:
    waited = 0.0
    for number, status in enumerate(attempts, start=1):
        headers = {"Retry-After": str(retry_after)} if status == 429 else {}
        wait = POLICY.decide(
            method="GET",
            status=status,
            headers=headers,
            attempt=number,
            waited=waited,
            now=NOW,
            rand=rands[number - 1],
        )
        if wait is None:
            break
        assert wait >= 0
        waited += wait
        assert number < POLICY.max_attempts
    assert waited <= POLICY.max_total_wait


def test_header_lookup_is_case_insensitive_and_accepts_non_strings() -> None:
    headers = {"X-RateLimit-Used": 1, "Retry-After": " 5 "}
    assert header(headers, "x-ratelimit-used") == "1"
    assert header(headers, "RETRY-AFTER") == "5"
    assert header(headers, "link") is None
    assert header(None, "link") is None


def test_retry_after_http_date() -> None:
    date = email.utils.formatdate(NOW + 42, usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, NOW) == 42.0
    assert retry_after_seconds({"Retry-After": "soon"}, NOW) is None


def test_reset_in_milliseconds_as_in_recorded_fixtures() -> None:
    assert reset_epoch({"x-ratelimit-reset": "1507651200000"}) == 1507651200.0
    assert reset_epoch({"x-ratelimit-reset": "1507651200"}) == 1507651200.0


def test_rate_limit_kind() -> None:
    assert rate_limit_kind(403, {"Retry-After": "1"}) == "retry-after"
    assert rate_limit_kind(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}) == "primary"
    assert rate_limit_kind(403, {}, "API rate limit exceeded for installation") == "primary"
    assert rate_limit_kind(403, {"x-ratelimit-remaining": "4999"}) is None
    assert rate_limit_kind(502, {"Retry-After": "1"}) is None


def test_describe_wait() -> None:
    assert POLICY.describe_wait(status=502, attempt=2, wait=1.25) == "GitHub answered 502; retry 2/4 in 1.2 s"
    line = POLICY.describe_wait(status=None, attempt=1, wait=0.5, error="ConnectionResetError")
    assert line == "GitHub unreachable (ConnectionResetError); retry 1/4 in 0.5 s"


def test_a_shared_budget_bounds_the_wait_below_the_per_request_bound() -> None:
    limited = {"Retry-After": "40"}
    assert decide(method="GET", status=429, headers=limited, budget_left=None) == 40.0
    assert decide(method="GET", status=429, headers=limited, budget_left=40.0) == 40.0
    assert decide(method="GET", status=429, headers=limited, budget_left=39.0) is None
    # the per-request bound still applies when the shared budget is larger
    assert decide(method="GET", status=429, headers=limited, waited=100.0, budget_left=500.0) is None
    assert decide(method="GET", status=502, headers={}, budget_left=0.0, rand=0.0) == 0.0
