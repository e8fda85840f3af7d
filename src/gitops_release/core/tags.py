"""Image tag rules: which tags are mutable, and semantic versions in tags.

A mutable tag is one a registry routinely moves to another image (``latest``, ``main``,
``v1``): deploying it makes the release-channel database lie about what runs. With
``tags.immutable: true`` (the default) such tags are refused.
"""

from __future__ import annotations

import re

import semver

from gitops_release.core.release import show
from gitops_release.errors import PolicyError

MUTABLE_TAGS: frozenset[str] = frozenset(
    {
        "latest",
        "stable",
        "edge",
        "nightly",
        "main",
        "master",
        "trunk",
        "develop",
        "development",
        "dev",
        "staging",
        "stage",
        "prod",
        "production",
        "release",
        "canary",
        "head",
        "current",
        "next",
        "beta",
        "alpha",
        "rc",
        "snapshot",
        "unstable",
        "testing",
        "test",
        "preview",
        "lts",
    }
)
# Suffixes that float like the names above: 3.12-latest, app-nightly, 1.x-snapshot.
MUTABLE_SUFFIXES: tuple[str, ...] = ("-latest", "-nightly", "-edge", "-snapshot", "-head", "-stable")
# Floating version tags: 1, v1, 1.2, v1.2, 1.x, v1.2.x (moved on every patch release).
_FLOATING = re.compile(r"[vV]?[0-9]+(?:\.[0-9]+)?(?:\.[xX*])?")
_SEMVER_TAG = re.compile(r"[vV]?([0-9][!-~]*)")

_FIX = (
    "tag each build immutably: sha-<first 8 hex of the commit> (e.g. sha-1a2b3c4d) "
    "or a full semver like 1.4.2"
)


def mutable_reason(tag: str) -> str | None:
    """Why ``tag`` is mutable, or None when it looks immutable."""
    lower = tag.lower()
    if lower in MUTABLE_TAGS:
        return f"{show(tag)} is a mutable tag that moves to newer images"
    if _FLOATING.fullmatch(tag):
        return f"{show(tag)} is a floating version tag that moves with every release"
    for suffix in MUTABLE_SUFFIXES:
        if lower.endswith(suffix):
            return f"{show(tag)} ends with {suffix!r}, a mutable tag that moves to newer images"
    return None


def check_tag(tag: str, *, immutable: bool, field: str) -> None:
    """Raise PolicyError when ``immutable`` and ``tag`` is a mutable tag."""
    if not immutable:
        return
    reason = mutable_reason(tag)
    if reason is not None:
        raise PolicyError(f"{field} {reason} (tags.immutable is true)", fix=_FIX)


def parse_semver(tag: str) -> semver.Version | None:
    """The semantic version in ``tag`` (optional leading ``v``; full x.y.z[-pre][+build] only)."""
    match = _SEMVER_TAG.fullmatch(tag)
    if not match:
        return None
    try:
        return semver.Version.parse(match.group(1))
    except ValueError:
        return None


def compare_versions(old_tag: str, new_tag: str) -> int | None:
    """-1 when new < old, 0 when equal precedence, 1 when new > old; None unless both are semver.

    Build metadata (``+build``) does not count, as the semver spec says.
    """
    old, new = parse_semver(old_tag), parse_semver(new_tag)
    if old is None or new is None:
        return None
    result = new.replace(build=None).compare(old.replace(build=None))
    return (result > 0) - (result < 0)


def is_prerelease(tag: str) -> bool:
    """True when ``tag`` is a semver with a pre-release part (1.4.0-rc.1)."""
    version = parse_semver(tag)
    return version is not None and version.prerelease is not None
