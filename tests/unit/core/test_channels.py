"""core/channels.py: ref -> channel map for dispatch-update."""

from __future__ import annotations

import pytest

from gitops_release.core.channels import DEFAULT_CHANNEL_MAP, channel_for_ref, parse_channel_map
from gitops_release.errors import InputError


@pytest.mark.parametrize(
    ("ref", "channel"),
    [
        ("refs/heads/main", "dev"),
        ("refs/heads/staging", "stage"),
        ("refs/heads/production", "prod"),
        ("refs/tags/v1.2.3", "prod"),
        ("refs/heads/feature/x", None),
        ("refs/tags/1.2.3", None),
        ("refs/heads/MAIN", None),
        ("refs/heads/main2", None),
    ],
)
def test_default_map(ref: str, channel: str | None) -> None:
    assert channel_for_ref(ref, DEFAULT_CHANNEL_MAP) == channel


def test_parse_lines_commas_and_both_separators() -> None:
    text = "# comment\nrefs/heads/main=dev, refs/heads/release/*: stage\n\n  refs/tags/v*  =  prod  \n"
    mapping = parse_channel_map(text)
    assert mapping == (
        ("refs/heads/main", "dev"),
        ("refs/heads/release/*", "stage"),
        ("refs/tags/v*", "prod"),
    )
    assert channel_for_ref("refs/heads/release/1.2/hotfix", mapping) == "stage"


def test_first_match_wins() -> None:
    mapping = parse_channel_map("refs/tags/v*-rc*=stage\nrefs/tags/v*=prod")
    assert channel_for_ref("refs/tags/v1.0.0-rc.1", mapping) == "stage"
    assert channel_for_ref("refs/tags/v1.0.0", mapping) == "prod"


def test_same_pattern_twice_with_same_channel_is_kept_once() -> None:
    assert parse_channel_map("a=dev,a=dev") == (("a", "dev"),)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "no entries"),
        ("# only a comment", "no entries"),
        ("refs/heads/main", "has no '=' or ':'"),
        ("refs/heads/main=", "needs both"),
        ("=dev", "needs both"),
        ("refs/heads/main=Dev", "not a channel name"),
        ("refs/heads/main=d\u0435v", "not a channel name"),
        ("refs/heads/ma in=dev", "printable ASCII"),
        ("a=dev\na=prod", "already mapped"),
    ],
)
def test_bad_entries_name_the_entry(text: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        parse_channel_map(text, field="channel-map")
    assert info.value.field == "channel-map"
    assert words in info.value.message
    assert info.value.fix
