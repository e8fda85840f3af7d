"""core/tags.py: mutable tags and semver tags."""

from __future__ import annotations

import pytest

from gitops_release.core.tags import (
    MUTABLE_TAGS,
    check_tag,
    compare_versions,
    is_prerelease,
    mutable_reason,
    parse_semver,
)
from gitops_release.errors import PolicyError


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "LATEST",
        "Stable",
        "main",
        "master",
        "develop",
        "nightly",
        "prod",
        "canary",
        "head",
        "edge",
        "v1",
        "1",
        "1.2",
        "v1.2",
        "V2",
        "1.x",
        "v1.2.x",
        "3.12-latest",
        "app-nightly",
        "x-SNAPSHOT",
        # 'latest' with any separator
        "latest-alpine",
        "Latest_",
        "latest.",
        "latest-3.12",
        # floating versions with a variant
        "3.12-slim",
        "v1-slim",
        "1-alpine",
        "v2.1-alpine",
        "3.12-slim-bookworm",
        "20-alpine3.19",
        # distribution and variant names alone
        "alpine",
        "bookworm",
        "slim",
        "Slim-Bookworm",
        "alpine3.19",
        "distroless",
        # short bare numbers read as floating majors (node:20, postgres:16)
        "12",
        "123",
        # other separators before a floating suffix
        "app_nightly",
        "x.latest",
    ],
)
def test_mutable_tags_are_refused(tag: str) -> None:
    with pytest.raises(PolicyError) as info:
        check_tag(tag, immutable=True, field="payload.tag")
    assert "payload.tag" in info.value.message
    assert "sha-" in (info.value.fix or "") and "semver" in (info.value.fix or "")
    check_tag(tag, immutable=False, field="payload.tag")  # allowed when the policy says so


@pytest.mark.parametrize(
    "tag",
    [
        "sha-1a2b3c4d",
        "1.4.2",
        "v1.4.2",
        "1.4.0-rc.1",
        "main-1a2b3c4d",
        "2026.01.28-1",
        "pr-42-abc1234",
        # numbers of 4+ digits: run numbers and dates, immutable by convention
        "1234",
        "20240101",
        "202401011230",
        # a short number followed by a commit SHA is unique
        "12-1a2b3c4d",
        "7-abc1234",
        # variant words inside a longer name, or with a SHA
        "slimmer",
        "alpine-1a2b3c4d",
        "latestish",
        "3.12.1-slim",  # a full x.y.z stays accepted
    ],
)
def test_immutable_tags_pass(tag: str) -> None:
    assert mutable_reason(tag) is None
    check_tag(tag, immutable=True, field="payload.tag")


def test_the_documented_names_are_in_the_set() -> None:
    for name in (
        "latest",
        "stable",
        "edge",
        "nightly",
        "main",
        "master",
        "develop",
        "dev",
        "staging",
        "stage",
        "prod",
        "production",
        "release",
        "canary",
        "head",
        "current",
    ):
        assert name in MUTABLE_TAGS


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("1.2.3", "1.2.3"),
        ("v1.2.3", "1.2.3"),
        ("1.4.0-rc.1", "1.4.0-rc.1"),
        ("v2.0.0+build.5", None),  # '+' cannot occur in an OCI tag (TAG_PATTERN refuses it)
        ("1.2", None),
        ("v1", None),
        ("01.2.3", None),
        ("sha-1a2b3c4d", None),
        ("latest", None),
        ("vv1.2.3", None),
    ],
)
def test_parse_semver(tag: str, expected: str | None) -> None:
    version = parse_semver(tag)
    assert (str(version) if version else None) == expected


@pytest.mark.parametrize(
    ("old", "new", "result"),
    [
        ("1.2.3", "1.2.4", 1),
        ("v1.2.3", "1.2.3", 0),
        ("1.3.0", "1.2.9", -1),
        ("1.4.0-rc.1", "1.4.0", 1),
        ("1.4.0", "1.4.0-rc.2", -1),
        ("1.4.0-rc.2", "1.4.0-rc.10", 1),
        ("sha-1a2b3c4d", "1.0.0", None),
        ("1.0.0", "latest", None),
    ],
)
def test_compare_versions(old: str, new: str, result: int | None) -> None:
    assert compare_versions(old, new) == result


def test_is_prerelease() -> None:
    assert is_prerelease("1.4.0-rc.1") and is_prerelease("v2.0.0-beta")
    assert not is_prerelease("1.4.0") and not is_prerelease("sha-1a2b3c4d") and not is_prerelease("1.4.0+b")


@pytest.mark.parametrize(
    ("tag", "ref"),
    [
        ("feature-x", "refs/heads/feature-x"),
        ("feature-x", "refs/heads/feature/x"),  # '/' replaced by '-'
        ("Feature_X", "refs/heads/feature_x"),
        ("fix-a-b", "refs/heads/fix/a@b"),  # any character a tag cannot hold replaced by '-'
        ("pr-7", "refs/pull/7/merge"),
    ],
)
def test_a_tag_named_after_its_branch_is_mutable(tag: str, ref: str) -> None:
    assert mutable_reason(tag) is None  # not mutable by itself ...
    with pytest.raises(PolicyError, match="named after the ref"):  # ... but it is for this ref
        check_tag(tag, immutable=True, field="payload.tag", ref=ref)
    check_tag(tag, immutable=False, field="payload.tag", ref=ref)


@pytest.mark.parametrize(
    ("tag", "ref"),
    [
        ("v1.2.3", "refs/tags/v1.2.3"),  # a git tag's name is the release's version: fine
        ("feature-x-1a2b3c4d", "refs/heads/feature-x"),
        ("sha-1a2b3c4d", "refs/heads/main"),
        ("pr-7-1a2b3c4d", "refs/pull/7/merge"),
    ],
)
def test_tags_that_only_contain_the_ref_pass(tag: str, ref: str) -> None:
    check_tag(tag, immutable=True, field="payload.tag", ref=ref)


def test_the_rules_are_core_release_ones() -> None:
    from gitops_release.core import release, tags

    assert tags.MUTABLE_TAGS is release.MUTABLE_TAGS and "alpine" in tags.VARIANT_TAGS
    assert tags.mutable_reason("latest-alpine") == release.mutable_tag_reason("latest-alpine")
