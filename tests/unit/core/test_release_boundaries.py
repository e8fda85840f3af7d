"""core/release.py: the exact limits (written against mutation-testing survivors, docs/testing.md):
a 100-character event type, 10 top-level keys, 60,000 payload bytes, ``show``'s 60 characters;
payloads that are dict subclasses; the exact errors and fixes."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Any

import pytest

from gitops_release.core.release import (
    MAX_EVENT_TYPE,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_KEYS,
    Source,
    check_dispatch_limits,
    parse_payload,
    parse_release,
    payload_json,
    show,
)
from gitops_release.errors import InputError

SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32


def valid(**changes: object) -> dict[str, Any]:
    data: dict[str, Any] = {
        "container": "my-app",
        "channel": "dev",
        "image": "ghcr.io/org/my-app",
        "tag": "sha-abc12345",
        "digest": DIGEST,
        "source": {
            "repository": "org/my-app",
            "sha": SHA,
            "ref": "refs/heads/main",
            "runUrl": "https://github.com/org/my-app/actions/runs/1",
        },
    }
    data.update(changes)
    return data


def refusal(call: Any, *args: object) -> InputError:
    with pytest.raises(InputError) as info:
        call(*args)
    return info.value


# -- check_dispatch_limits ---------------------------------------------------------------------


def test_the_limits_are_githubs() -> None:
    assert (MAX_EVENT_TYPE, MAX_PAYLOAD_KEYS, MAX_PAYLOAD_BYTES) == (100, 10, 60_000)


def test_an_event_type_of_100_characters_is_sent_and_101_refused() -> None:
    check_dispatch_limits("e" * 100, valid())
    check_dispatch_limits("e", valid())
    error = refusal(check_dispatch_limits, "e" * 101, valid())
    assert error.field == "event-type"
    assert error.message == f"input 'event-type': {show('e' * 101)} is 101 characters long"
    assert error.fix == "use 1 to 100 characters, e.g. release-channel-update"


def test_an_empty_or_non_string_event_type_is_refused_as_zero_characters() -> None:
    error = refusal(check_dispatch_limits, "", valid())
    assert error.message == "input 'event-type': '' is 0 characters long"
    error = refusal(check_dispatch_limits, None, valid())
    assert error.message == "input 'event-type': None is 0 characters long"


def test_an_event_type_with_a_control_character_is_refused() -> None:
    error = refusal(check_dispatch_limits, "release\x7fupdate", valid())
    assert error.field == "event-type"
    assert error.message == "input 'event-type': 'release\\x7fupdate' contains a control character"
    assert error.fix == "use printable characters only, e.g. release-channel-update"


def test_ten_top_level_keys_are_sent_and_eleven_refused() -> None:
    check_dispatch_limits("e", {f"k{i}": 1 for i in range(10)})
    error = refusal(check_dispatch_limits, "e", {f"k{i}": 1 for i in range(11)})
    assert error.field == "payload"
    assert error.message == "input 'payload': has 11 top-level keys; GitHub allows at most 10"
    assert error.fix == 'put several releases under one "releases" key'


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    error = refusal(check_dispatch_limits, "e", [valid()])
    assert error.message == "input 'payload': must be a JSON object, not an array"
    assert error.fix == "send 1 to 50 release objects; split larger builds into several dispatches"


def _payload_of(size: int, char: str) -> dict[str, str]:
    """A payload whose compact UTF-8 JSON is ``size`` bytes: '{"k":"' + chars + '"}'."""
    width = len(char.encode("utf-8"))
    assert (size - 8) % width == 0
    return {"k": char * ((size - 8) // width)}


@pytest.mark.parametrize(("char", "size"), [("x", 60_001), ("\u00e9", 60_002)], ids=["ascii", "two-byte"])
def test_a_payload_of_60000_utf8_bytes_is_sent_and_one_character_more_refused(char: str, size: int) -> None:
    check_dispatch_limits("e", _payload_of(MAX_PAYLOAD_BYTES, char))
    error = refusal(check_dispatch_limits, "e", _payload_of(size, char))
    assert error.field == "payload"
    assert error.message == f"input 'payload': is {size} bytes serialized (at most 60000)"
    assert error.fix == "send fewer releases per dispatch"


# -- show --------------------------------------------------------------------------------------


def test_show_keeps_60_characters_and_cuts_61_to_60() -> None:
    assert show("a" * 58) == "'" + "a" * 58 + "'"  # 60 characters with the quotes
    assert show("a" * 59) == "'" + "a" * 56 + "..."
    assert len(show("a" * 500)) == 60
    assert show("\u0430") == "'\\u0430'"  # a look-alike is visible
    assert show("ab", limit=4) == "'ab'"


# -- shapes ------------------------------------------------------------------------------------


def test_a_payload_that_is_a_dict_subclass_parses_like_a_dict() -> None:
    data = valid()
    ordered = OrderedDict(data, source=OrderedDict(data["source"]))
    assert parse_release(ordered) == parse_release(data)
    assert parse_payload(ordered) == parse_payload(data)
    assert parse_payload(OrderedDict(releases=[ordered])) == parse_payload(data)
    check_dispatch_limits("e", ordered)


def test_a_dict_subclass_with_a_bad_value_names_it() -> None:
    ordered = OrderedDict(valid(), tag="latest!")
    error = refusal(parse_payload, ordered)
    assert error.field == "payload.tag"
    assert error.message == "input 'payload.tag': 'latest!' is not an image tag"


def test_a_source_without_ref_and_run_url_parses() -> None:
    data = valid(source={"repository": "org/my-app", "sha": SHA})
    assert parse_release(data).source == Source("org/my-app", SHA, None, None)
    assert parse_release(OrderedDict(data)).source == Source("org/my-app", SHA, None, None)


# -- payload_json ------------------------------------------------------------------------------


def test_payload_json_of_nothing_is_refused() -> None:
    error = refusal(payload_json, [])
    assert error.field == "payload"
    assert error.message == "input 'payload': has no release"
    assert error.fix == "give at least one container"


def test_payload_json_of_one_release_is_the_object_and_of_two_a_list() -> None:
    one = parse_release(valid())
    two = parse_release(valid(channel="stage"))
    stamped = dataclasses.replace(one, updated_at="2026-01-28T10:30:00Z")
    assert payload_json([stamped]) == valid()
    assert payload_json([one, two]) == {"releases": [valid(), valid(channel="stage")]}


# -- the one-pass path and the field-by-field path agree ---------------------------------------

T0 = "2026-01-28T10:30:00Z"


@pytest.mark.parametrize(
    "data",
    [
        valid(),
        valid(updatedAt=T0),
        valid(source={"repository": "org/my-app", "sha": SHA}),
        {k: v for k, v in valid().items() if k != "digest"},
        valid(
            image="ghcr.io/" + "a" * 247,
            source={"repository": "org/my-app", "sha": SHA, "ref": "refs/heads/" + "a" * 244},
        ),
    ],
    ids=["full", "stored", "minimal-source", "only-required-keys", "at-length-limits"],
)
def test_a_valid_release_is_checked_in_one_pass(
    data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gitops_release.core import release as release_module

    slow = parse_release(OrderedDict(data, source=OrderedDict(data["source"])))  # the field-by-field path

    def field_by_field(*args: object, **kwargs: object) -> None:
        raise AssertionError("a valid release took the field-by-field path")

    monkeypatch.setattr(release_module, "_object", field_by_field)
    assert parse_release(data) == slow
    assert slow.updated_at == data.get("updatedAt")
    assert slow.to_json() == data


def test_the_default_field_is_payload() -> None:
    assert refusal(parse_release, valid(tag="latest!")).field == "payload.tag"
    assert refusal(parse_release, valid(updatedAt="yesterday")).field == "payload.updatedAt"
    assert refusal(parse_release, OrderedDict(valid(updatedAt="yesterday"))).field == "payload.updatedAt"


@pytest.mark.parametrize(("key", "limit"), [("image", 255), ("ref", 255), ("runUrl", 2048)])
def test_field_by_field_a_value_at_its_limit_passes_and_one_more_is_named(key: str, limit: int) -> None:
    value = {
        "image": "ghcr.io/" + "a" * 247,
        "ref": "refs/heads/" + "a" * 244,
        "runUrl": "https://x.io/" + "a" * 2035,
    }[key]
    assert len(value) == limit
    source = dict(valid()["source"])
    data = valid(image=value) if key == "image" else valid(source={**source, key: value})
    slow = OrderedDict(data)
    assert parse_release(slow).to_json() == data
    longer = valid(image=value + "a") if key == "image" else valid(source={**source, key: value + "a"})
    error = refusal(parse_release, OrderedDict(longer))
    assert error.message.endswith(f"is {limit + 1} characters long (at most {limit}): {show(value + 'a')}")


def test_a_bad_value_of_exactly_the_maximum_length_is_refused_for_its_pattern_not_its_length() -> None:
    error = refusal(parse_release, OrderedDict(valid(image="ghcr.io/" + "A" * 247)))
    assert (
        error.message == f"input 'payload.image': {show('ghcr.io/' + 'A' * 247)} is not an image repository"
    )


def test_same_content_ignores_only_updated_at() -> None:
    base = parse_release(valid())
    assert base.same_content(dataclasses.replace(base, updated_at=T0))
    other_source = Source("org/my-app", "f" * 40)
    for change in [
        {"container": "other"},
        {"channel": "prod"},
        {"image": "ghcr.io/org/other"},
        {"tag": "sha-ffffffff"},
        {"digest": None},
        {"source": other_source},
    ]:
        assert not base.same_content(dataclasses.replace(base, **change)), change


def test_reference_and_canonical_json() -> None:
    release = parse_release(valid(updatedAt=T0))
    assert release.reference == f"ghcr.io/org/my-app:sha-abc12345@{DIGEST}"
    assert dataclasses.replace(release, digest=None).reference == "ghcr.io/org/my-app:sha-abc12345"
    assert list(release.to_json()) == [
        "container",
        "channel",
        "image",
        "tag",
        "digest",
        "source",
        "updatedAt",
    ]
    assert release.to_json()["updatedAt"] == T0


def test_looks_like_prerelease() -> None:
    from gitops_release.core.release import looks_like_prerelease

    assert looks_like_prerelease("1.4.0-rc.1")
    assert looks_like_prerelease("v2.0.0-beta")
    assert not looks_like_prerelease("1.4.0")
    assert not looks_like_prerelease("sha-1a2b3c4d")


@pytest.mark.parametrize("where", ["release", "source"])
def test_an_empty_key_is_an_unknown_key_on_both_paths(where: str) -> None:
    # Found by mutation testing: the one-pass path skipped a source key "" and accepted it.
    data = valid(**{"": "x"}) if where == "release" else valid(source={**valid()["source"], "": "x"})
    field = "payload" if where == "release" else "payload.source"
    for obj in (data, OrderedDict(data)):
        error = refusal(parse_release, obj)
        assert (error.field, error.message) == (field, f"input '{field}': has unknown key ''")
