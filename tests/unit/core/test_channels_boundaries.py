"""core/channels.py: unusual but valid channel-map shapes, and the exact errors and fixes.

Written against the survivors of mutation testing (docs/testing.md): each test pins a
behaviour the broader tests in test_channels.py leave open.
"""

from __future__ import annotations

import pytest

from gitops_release.core.channels import parse_channel_map
from gitops_release.errors import InputError

FIX = (
    "write one pattern=channel (or pattern: channel) per line or comma, "
    "e.g. refs/heads/main=dev, refs/tags/v*=prod"
)


def refusal(text: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse_channel_map(text)  # the default field name is the input's name
    assert info.value.field == "channel-map"
    return info.value


@pytest.mark.parametrize(
    "text",
    [
        "refs/heads/main=dev,,refs/tags/v*=prod",
        ",refs/heads/main=dev, ,refs/tags/v*=prod,",
        "refs/heads/main=dev,\t,refs/tags/v*=prod",
    ],
)
def test_doubled_and_leading_separators_skip_only_the_empty_entry(text: str) -> None:
    assert parse_channel_map(text) == (("refs/heads/main", "dev"), ("refs/tags/v*", "prod"))


def test_a_repeated_entry_is_skipped_and_the_entries_after_it_are_kept() -> None:
    assert parse_channel_map("a=dev,a=dev,b=prod\nc=stage") == (("a", "dev"), ("b", "prod"), ("c", "stage"))


def test_the_first_equals_sign_separates_so_a_second_one_belongs_to_the_channel() -> None:
    error = refusal("refs/heads/main=dev=prod")
    assert error.message == (
        "input 'channel-map': entry 'refs/heads/main=dev=prod': 'dev=prod' is not a channel name"
    )
    assert error.fix == "channels are 1-32 lowercase letters, digits and '-', e.g. dev, stage, prod"


def test_without_equals_sign_the_last_colon_separates() -> None:
    assert parse_channel_map("refs/heads/x:y: dev") == (("refs/heads/x:y", "dev"),)


def test_an_equals_sign_wins_over_a_colon() -> None:
    assert parse_channel_map("refs/heads/x:y=dev") == (("refs/heads/x:y", "dev"),)


@pytest.mark.parametrize(
    ("text", "message", "fix"),
    [
        ("", "has no entries", FIX),
        (" , ,", "has no entries", FIX),
        ("refs/heads/main", "entry 'refs/heads/main' has no '=' or ':'", FIX),
        ("refs/heads/main= ", "entry 'refs/heads/main=' needs both a pattern and a channel", FIX),
        (" : dev", "entry ': dev' needs both a pattern and a channel", FIX),
        (
            "refs/heads/ma in=dev",
            "entry 'refs/heads/ma in=dev': pattern 'refs/heads/ma in' must be printable ASCII without spaces",
            FIX,
        ),
        (
            "refs/heads/main=Dev",
            "entry 'refs/heads/main=Dev': 'Dev' is not a channel name",
            "channels are 1-32 lowercase letters, digits and '-', e.g. dev, stage, prod",
        ),
        (
            "refs/heads/main=dev\nrefs/heads/main=prod",
            "entry 'refs/heads/main=prod': pattern 'refs/heads/main' is already mapped to 'dev'",
            "give each pattern one channel",
        ),
    ],
)
def test_each_refusal_names_the_entry_and_the_fix(text: str, message: str, fix: str) -> None:
    error = refusal(text)
    assert error.message == f"input 'channel-map': {message}"
    assert error.fix == fix


def test_the_field_name_given_is_the_one_named() -> None:
    with pytest.raises(InputError) as info:
        parse_channel_map("x", field="map")
    assert info.value.field == "map"
    assert info.value.message == "input 'map': entry 'x' has no '=' or ':'"
