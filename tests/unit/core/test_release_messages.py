"""core/release.py: each refusal's exact text and fix, the length limits of image, ref, tag and
runUrl on their boundaries, and the reasons a tag is mutable (written against mutation-testing
survivors, docs/testing.md)."""

# The expected texts stay one line each, as users read them in an ::error line.
# ruff: noqa: E501

from __future__ import annotations

from typing import Any

import pytest

from gitops_release.core.release import (
    Release,
    Source,
    check_build_order,
    check_not_future,
    loads_json,
    mutable_tag_reason,
    parse_payload,
    time_key,
)
from gitops_release.errors import InputError, PolicyError

SHA = "0123456789abcdef0123456789abcdef01234567"
TAG_FIX = "use 1-128 characters: letters, digits, '.', '_', '-', not starting with '.' or '-'"
IMAGE_FIX = "use [registry[:port]/]path/name in lowercase without a tag or digest, e.g. ghcr.io/org/my-app"
REF_FIX = (
    "use a full ref such as refs/heads/main, refs/tags/v1.2.3 or refs/pull/7/merge "
    "(no '..', '//', spaces or ~^:?*[\\)"
)
LIST_FIX = "send 1 to 50 release objects; split larger builds into several dispatches"


def valid(**changes: object) -> dict[str, Any]:
    data: dict[str, Any] = {
        "container": "my-app",
        "channel": "dev",
        "image": "ghcr.io/org/my-app",
        "tag": "sha-abc12345",
        "source": {
            "repository": "org/my-app",
            "sha": SHA,
            "ref": "refs/heads/main",
            "runUrl": "https://github.com/org/my-app/actions/runs/1",
        },
    }
    data.update(changes)
    return data


def with_source(**changes: object) -> dict[str, Any]:
    return valid(source={**valid()["source"], **changes})


def refusal(obj: object) -> InputError:
    with pytest.raises(InputError) as info:
        parse_payload(obj)
    return info.value


@pytest.mark.parametrize(
    ("payload", "field", "message", "fix"),
    [
        (
            valid(container="My-App"),
            "payload.container",
            "'My-App' is not a container name",
            "use 1-63 characters: lowercase letters, digits, '.', '_', '-', starting with a letter or digit",
        ),
        (
            valid(channel="Dev"),
            "payload.channel",
            "'Dev' is not a channel name",
            "use 1-32 characters: lowercase letters, digits and '-', starting with a letter or digit",
        ),
        (
            valid(image="ghcr.io/Org/app"),
            "payload.image",
            "'ghcr.io/Org/app' is not an image repository",
            IMAGE_FIX,
        ),
        (valid(tag=".x"), "payload.tag", "'.x' is not an image tag", TAG_FIX),
        (
            valid(digest="sha256:x"),
            "payload.digest",
            "'sha256:x' is not a digest",
            "use sha256: followed by 64 lowercase hex characters",
        ),
        (
            with_source(repository="org"),
            "payload.source.repository",
            "'org' is not a GitHub repository",
            "use owner/name, e.g. org/my-app (ASCII letters, digits, '-' in the owner; also '.', '_' in the name)",
        ),
        (
            with_source(sha="abc"),
            "payload.source.sha",
            "'abc' is not a commit SHA",
            "use the full 40-character lowercase hex commit SHA",
        ),
        (
            with_source(ref="refs/heads/a..b"),
            "payload.source.ref",
            "'refs/heads/a..b' is not a git ref",
            REF_FIX,
        ),
        (
            with_source(runUrl="http://x"),
            "payload.source.runUrl",
            "'http://x' is not an https URL",
            "use the https:// URL of the workflow run, without spaces, at most 2048 characters",
        ),
        (
            valid(tag="a\x01"),
            "payload.tag",
            "'a\\x01' is not an image tag (contains a control character)",
            TAG_FIX,
        ),
        (
            valid(tag="t\u00e9"),
            "payload.tag",
            "'t\\xe9' is not an image tag (contains a non-ASCII character)",
            TAG_FIX,
        ),
        (valid(tag="a" * 129), "payload.tag", f"'{'a' * 56}... is not an image tag", TAG_FIX),
    ],
)
def test_each_field_names_the_value_what_it_is_not_and_the_rule(
    payload: dict[str, Any], field: str, message: str, fix: str
) -> None:
    error = refusal(payload)
    assert error.field == field
    assert error.message == f"input '{field}': {message}"
    assert error.fix == fix


@pytest.mark.parametrize(
    ("value", "kind"),
    [(5, "a number 5"), (1.5, "a number 1.5"), (None, "null None"), (True, "a boolean True"),
     ([1], "an array [1]"), ({}, "an object {}")],
)  # fmt: skip
def test_a_value_that_is_not_a_string_names_its_json_type(value: object, kind: str) -> None:
    error = refusal(valid(tag=value))
    assert error.message == f"input 'payload.tag': must be a string, not {kind}"
    assert error.fix == TAG_FIX


@pytest.mark.parametrize(
    ("changes", "field", "limit", "fix"),
    [
        ({"image": "a" * 255}, "image", 255, IMAGE_FIX),
        ({"ref": "refs/heads/" + "a" * 244}, "source.ref", 255, REF_FIX),
        ({"runUrl": "https://x.io/" + "a" * 2035}, "source.runUrl", 2048, None),
        ({"tag": "a" * 128}, "tag", 128, TAG_FIX),
    ],
)
def test_each_length_limit_accepts_its_maximum_and_refuses_one_more(
    changes: dict[str, str], field: str, limit: int, fix: str | None
) -> None:
    key, value = next(iter(changes.items()))
    assert len(value) == limit
    make = with_source if field.startswith("source.") else valid
    assert len(parse_payload(make(**changes))) == 1
    error = refusal(make(**{key: value + "a"}))
    assert error.field == f"payload.{field}"
    if key != "tag":  # a tag's limit is its pattern's
        assert error.message.startswith(
            f"input 'payload.{field}': is {limit + 1} characters long (at most {limit}): "
        )
    if fix is not None:
        assert error.fix == fix


def test_an_object_where_an_object_belongs_and_nothing_else() -> None:
    assert refusal([valid()]).message == "input 'payload': must be a JSON object, not an array"
    assert refusal(valid(extra=1)).message == "input 'payload': has unknown key 'extra'"
    source = refusal(valid(source=[]))
    assert source.message == "input 'payload.source': must be a JSON object, not an array"
    assert source.fix == "send an object with the keys repository, sha, ref, runUrl, builtAt"
    missing = valid()
    del missing["tag"]
    error = refusal(missing)
    assert (error.field, error.message) == ("payload.tag", "input 'payload.tag': is missing")
    assert error.fix == "send an object with the keys container, channel, image, tag, source"


def test_updated_at_in_a_payload_is_refused() -> None:
    error = refusal(valid(updatedAt="2026-01-28T10:30:00Z"))
    assert error.field == "payload.updatedAt"
    assert error.message == "input 'payload.updatedAt': is set by update-db, not by the sender"
    assert error.fix == "remove updatedAt from the payload"


def test_a_releases_list_of_50_is_taken_and_0_51_or_an_object_refused() -> None:
    assert len(parse_payload({"releases": [valid(container=f"c{i}") for i in range(50)]})) == 50
    for items, message in [
        ([], "has 0 releases"),
        ([valid(container=f"c{i}") for i in range(51)], "has 51 releases"),
        ({}, "must be an array of releases, not an object"),
    ]:
        error = refusal({"releases": items})
        assert error.field == "payload.releases"
        assert error.message == f"input 'payload.releases': {message}"
        assert error.fix == LIST_FIX
    error = refusal({"releases": [valid()], "x": 1})
    assert (error.message, error.fix) == (
        "input 'payload': has unknown key 'x'",
        "use only the keys releases",
    )


def test_a_release_repeated_in_a_payload_names_both_indexes() -> None:
    error = refusal({"releases": [valid(), valid(channel="stage"), valid(channel="stage")]})
    assert error.field == "payload.releases[2]"
    assert error.message == (
        "input 'payload.releases[2]': repeats container 'my-app' on channel 'stage' (already in payload.releases[1])"
    )
    assert error.fix == "send each (container, channel) once per payload"


@pytest.mark.parametrize(
    ("tag", "ref", "reason"),
    [
        ("latest", None, "'latest' is a mutable tag that moves to newer images"),
        ("LATEST-3.12", None, "'LATEST-3.12' starts with 'latest', a mutable tag that moves to newer images"),
        (
            "20",
            None,
            "'20' is read as a floating major version (like node:20); numbers of 4 or more digits "
            "(run numbers, dates) are accepted, or give a short number a prefix: build-12",
        ),
        ("v1.2", None, "'v1.2' is a floating version tag that moves with every release"),
        ("3.12-latest", None, "'3.12-latest' ends with '-latest', a mutable tag that moves to newer images"),
        (
            "3.12-slim",
            None,
            "'3.12-slim' is a floating version tag of a variant that moves with every release",
        ),
        (
            "alpine3.19",
            None,
            "'alpine3.19' names a distribution or variant, a tag that moves to newer images",
        ),
        (
            "feature-x",
            "refs/heads/feature/x",
            "'feature-x' is named after the ref it was built from (refs/heads/feature/x) and moves with every push",
        ),
        (
            "feat-x",
            "refs/heads/Feat@x",
            "'feat-x' is named after the ref it was built from (refs/heads/Feat@x) and moves with every push",
        ),
        (
            "pr-7",
            "refs/pull/7/merge",
            "'pr-7' is named after the ref it was built from (refs/pull/7/merge) and moves with every push",
        ),
        ("1234", None, None),
        ("12-1a2b3c4", None, None),
        ("release-1", "refs/tags/release-1", None),
        ("pr-7", "refs/pull/8/head", None),
    ],
)
def test_why_a_tag_is_mutable(tag: str, ref: str | None, reason: str | None) -> None:
    assert mutable_tag_reason(tag, ref) == reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "has the key 'a' twice in one object (a JSON reader keeps only the last one)"),
        ("[", "is not valid JSON (Expecting value at line 1 column 2)"),
        (
            "{\n  x",
            "is not valid JSON (Expecting property name enclosed in double quotes at line 2 column 3)",
        ),
        ("[" * 100_000, "is nested too deeply (arrays or objects thousands of levels deep)"),
    ],
)
def test_json_that_a_reader_would_misread_is_refused_in_one_line(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        loads_json(text)
    assert str(info.value) == message


def test_the_first_repeated_key_is_named_not_the_first_key() -> None:
    with pytest.raises(ValueError, match=r"^has the key 'a' twice"):
        loads_json('{"b": 1, "a": 1, "a": 2}')


@pytest.mark.parametrize(
    ("payload", "kind"),
    [("x", "a string"), (("x",), "an array"), (None, "null"), (3, "a number"), ({"x"}, "set")],
)
def test_a_payload_that_is_not_an_object_names_its_type(payload: object, kind: str) -> None:
    assert refusal(payload).message == f"input 'payload': must be a JSON object, not {kind}"


def test_an_unknown_source_key_lists_the_source_keys() -> None:
    error = refusal(with_source(branch="main"))
    assert (error.field, error.message) == (
        "payload.source",
        "input 'payload.source': has unknown key 'branch'",
    )
    assert error.fix == "use only the keys repository, sha, ref, runUrl, builtAt"


# -- build times: the key, the stale-build and future-build refusals word for word ---------------


def _built(stamp: str | None, tag: str, sha: str = SHA) -> Release:
    return Release(
        "my-app", "dev", "ghcr.io/org/my-app", tag, None, Source("org/my-app", sha, built_at=stamp)
    )


@pytest.mark.parametrize(
    ("stamp", "key"),
    [
        ("2026-01-28T10:30:00Z", ("2026-01-28T10:30:00", "000000000")),
        ("2026-01-28T10:30:00.5Z", ("2026-01-28T10:30:00", "500000000")),
        ("2026-01-28T10:30:00.123456789Z", ("2026-01-28T10:30:00", "123456789")),
    ],
)
def test_time_key_is_the_seconds_and_the_fraction_padded_to_nine_digits(
    stamp: str, key: tuple[str, str]
) -> None:
    assert time_key(stamp) == key


def test_the_stale_build_refusal_names_the_payload_and_both_tags_by_default() -> None:
    current = _built("2026-01-28T10:30:00Z", "sha-bbbbbbbb", sha="b" * 40)
    with pytest.raises(PolicyError) as info:
        check_build_order(_built("2026-01-28T10:29:59Z", "sha-aaaaaaaa"), current)
    assert info.value.message == (
        "payload.source.builtAt 2026-01-28T10:29:59Z is older than the build on my-app/dev "
        "('sha-bbbbbbbb', built 2026-01-28T10:30:00Z): a newer release already holds the channel, "
        "so this stale one ('sha-aaaaaaaa') is refused and nothing was changed"
    )


def test_the_future_build_refusal_word_for_word() -> None:
    with pytest.raises(PolicyError) as info:
        check_not_future(
            _built("2026-01-28T10:40:01Z", "sha-aaaaaaaa"),
            "2026-01-28T10:40:00Z",
            field="payload.releases[2]",
        )
    assert info.value.message == (
        "payload.releases[2].source.builtAt 2026-01-28T10:40:01Z is in the future "
        "(update-db's clock allows up to 2026-01-28T10:40:00Z)"
    )
    assert (
        info.value.fix == "correct the clock of the machine that ran dispatch-update, or its built-at input"
    )
