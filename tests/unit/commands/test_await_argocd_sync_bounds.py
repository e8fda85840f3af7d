"""await-argocd-sync's durations are bounded (review 9a #14): never infinite (at most 24 h), the
grace and the poll interval never past the timeout, every wait within threading.TIMEOUT_MAX."""

from __future__ import annotations

import threading

import pytest

from gitops_release.commands import await_argocd_sync as aas
from gitops_release.errors import InputError
from tests.unit.commands.test_await_argocd_sync_apps import inputs


@pytest.mark.parametrize(
    ("values", "field", "text"),
    [
        ({"timeout": "25h"}, "timeout", "longer than 24h"),
        ({"timeout": "99999999999999h"}, "timeout", "longer than 24h"),
        ({"timeout": "1m", "degraded-grace": "2m"}, "degraded-grace", "longer than the timeout"),
        ({"timeout": "1m", "poll-interval": "61s"}, "poll-interval", "longer than the timeout"),
    ],
)
def test_durations_past_24h_or_the_timeout_are_refused_naming_the_field(
    values: dict[str, str], field: str, text: str
) -> None:
    with pytest.raises(InputError) as caught:
        inputs(applications="web", **values)
    assert caught.value.field == field and text in caught.value.message


def test_defaults_shrink_to_a_short_timeout_and_24h_is_accepted() -> None:
    got = inputs(applications="web", timeout="2s")
    assert (got.timeout, got.degraded_grace, got.poll_interval) == (2.0, 2.0, 2.0)
    got = inputs(applications="web", timeout="24h", degraded_grace="24h", poll_interval="1h")
    assert (got.timeout, got.degraded_grace, got.poll_interval) == (86400.0, 86400.0, 3600.0)


def test_waits_are_clamped_to_what_threading_accepts() -> None:
    assert aas._bounded(3.6e17) == threading.TIMEOUT_MAX
    assert aas._bounded(-1.0) == 0.0 and aas._bounded(1.5) == 1.5
    threading.Event().wait(aas._bounded(-5))  # would raise OverflowError unclamped at 3.6e17
