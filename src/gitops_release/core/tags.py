"""Image tag rules: which tags are mutable, and semantic versions in tags.

A mutable tag is one a registry routinely moves to another image (``latest``, ``main``,
``v1``, ``3.12-slim``, a branch name): deploying it makes the release-channel database lie about
what runs. With ``tags.immutable: true`` (the default) such tags are refused. The rules are in
core/release.py, shared with dispatch-update (standard library only).
"""

from __future__ import annotations

import re

import semver

from gitops_release.core.release import (
    MUTABLE_SUFFIXES,
    MUTABLE_TAGS,
    VARIANT_TAGS,
    mutable_tag_reason,
)
from gitops_release.errors import PolicyError

# Semver in a tag: an optional leading v, then only characters a tag may hold (no '+build': OCI
# tags cannot contain '+', see TAG_PATTERN).
_SEMVER_TAG = re.compile(r"[vV]?([0-9][0-9A-Za-z.-]*)")

__all__ = [
    "MUTABLE_SUFFIXES",
    "MUTABLE_TAGS",
    "VARIANT_TAGS",
    "check_tag",
    "compare_versions",
    "is_prerelease",
    "mutable_reason",
    "parse_semver",
]

_FIX = (
    "tag each build immutably: sha-<first 8 hex of the commit> (e.g. sha-1a2b3c4d) "
    "or a full semver like 1.4.2"
)


def mutable_reason(tag: str, ref: str | None = None) -> str | None:
    """Why ``tag`` is mutable, or None when it looks immutable (``ref``: the ref it was built from).

    The rules live in core/release.py (standard library only) so dispatch-update warns with
    exactly the rules enforced here.
    """
    return mutable_tag_reason(tag, ref)


def check_tag(tag: str, *, immutable: bool, field: str, ref: str | None = None) -> None:
    """Raise PolicyError when ``immutable`` and ``tag`` is a mutable tag (named after ``ref`` too)."""
    if not immutable:
        return
    reason = mutable_reason(tag, ref)
    if reason is not None:
        raise PolicyError(f"{field} {reason} (tags.immutable is true)", fix=_FIX)


def parse_semver(tag: str) -> semver.Version | None:
    """The semantic version in ``tag`` (optional leading ``v``; full x.y.z[-pre] only)."""
    match = _SEMVER_TAG.fullmatch(tag)
    if not match:
        return None
    try:
        return semver.Version.parse(match.group(1))
    except ValueError:
        return None


def compare_versions(old_tag: str, new_tag: str) -> int | None:
    """-1 when new < old, 0 when equal precedence, 1 when new > old; None unless both are semver."""
    old, new = parse_semver(old_tag), parse_semver(new_tag)
    if old is None or new is None:
        return None
    result = new.compare(old)
    return (result > 0) - (result < 0)


def is_prerelease(tag: str) -> bool:
    """True when ``tag`` is a semver with a pre-release part (1.4.0-rc.1)."""
    version = parse_semver(tag)
    return version is not None and version.prerelease is not None
