"""One release of one container on one channel, and the dispatch payload that carries it.

STANDARD LIBRARY ONLY: dispatch-update imports this module with the runner's bare ``python3``.

The field rules below are the same regular expressions as in ``schemas/release.schema.json``
(tests/unit/core/test_release_schema_agreement.py compares them and checks, with generated
payloads, that this parser and the JSON Schema accept the same documents). Every pattern ends
with ``$(?!\\n)`` so that Python's ``re`` (used by jsonschema) and ECMA-262 agree that a
trailing newline is not allowed. Only the ASCII characters named in a pattern match, so
Unicode look-alikes (a Cyrillic ``\\u0430`` in a container name) are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gitops_release.errors import InputError, PolicyError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: dispatch-update's start-up
if TYPE_CHECKING:
    from typing import Any

# -- field rules (keep in sync with schemas/release.schema.json) -------------------------------

END = r"$(?!\n)"
CONTAINER_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}" + END
CHANNEL_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}" + END
_HOST = r"[a-z0-9]+(?:-+[a-z0-9]+)*"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_PATTERN = rf"^(?:{_HOST}(?:\.{_HOST})*(?::[0-9]{{1,5}})?/)?{_PATH}(?:/{_PATH})*" + END
IMAGE_MAX = 255
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}" + END
DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}" + END
REPOSITORY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/(?!\.\.?$)[A-Za-z0-9._-]{1,100}" + END
SHA_PATTERN = r"^[0-9a-f]{40}" + END
# git check-ref-format, restricted to printable ASCII: no "..", "//", "@{", no component that
# starts with "." or ends with ".lock", not ending with "/" or "."; none of space ~ ^ : ? * [ \
_REF_PUNCT = "!\"#$%&'()+,;<=>@\\]_`{|}-"  # printable ASCII punctuation git allows, but "." and "/"
_REF_CHAR = f"[A-Za-z0-9./{_REF_PUNCT}]"
_REF_LAST = f"[A-Za-z0-9{_REF_PUNCT}]"
REF_PATTERN = (
    r"^(?!.*\.\.)(?!.*//)(?!.*@\{)(?!.*/\.)(?!.*\.lock(?:/|$))"
    rf"refs/(?:heads|tags|pull)/{_REF_CHAR}*{_REF_LAST}" + END
)
REF_MAX = 255
# Host: dot-separated DNS labels (no empty label, so no "..", no leading or trailing dot).
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
RUN_URL_PATTERN = rf"^https://{_HOST_LABEL}(?:\.{_HOST_LABEL})*(?::[0-9]{{1,5}})?(?:[/?#][!-~]*)?" + END
RUN_URL_MAX = 2048
UPDATED_AT_PATTERN = (
    r"^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?Z" + END
)
#: ``source.builtAt``: when the build dispatched the release (dispatch-update sets it), the same
#: RFC 3339 UTC form as updatedAt. It orders the releases of one channel (check_build_order).
BUILT_AT_PATTERN = UPDATED_AT_PATTERN

RELEASE_KEYS = ("container", "channel", "image", "tag", "digest", "source", "updatedAt")
#: The keys a sender may give: update-db sets updatedAt.
PAYLOAD_KEYS = tuple(key for key in RELEASE_KEYS if key != "updatedAt")
REQUIRED_KEYS = ("container", "channel", "image", "tag", "source")
SOURCE_KEYS = ("repository", "sha", "ref", "runUrl", "builtAt")
MAX_RELEASES = 50
MAX_PAYLOAD_BYTES = 60_000
MAX_PAYLOAD_KEYS = 10
MAX_EVENT_TYPE = 100

_RE = {
    name: re.compile(pattern)
    for name, pattern in {
        "container": CONTAINER_PATTERN,
        "channel": CHANNEL_PATTERN,
        "image": IMAGE_PATTERN,
        "tag": TAG_PATTERN,
        "digest": DIGEST_PATTERN,
        "repository": REPOSITORY_PATTERN,
        "sha": SHA_PATTERN,
        "ref": REF_PATTERN,
        "runUrl": RUN_URL_PATTERN,
        "updatedAt": UPDATED_AT_PATTERN,
        "builtAt": BUILT_AT_PATTERN,
    }.items()
}
_MAX = {"image": IMAGE_MAX, "ref": REF_MAX, "runUrl": RUN_URL_MAX}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# What each field allows, for the error message and the fix.
_ALLOWED = {
    "container": (
        "is not a container name",
        "use 1-63 characters: lowercase letters, digits, '.', '_', '-', starting with a letter or digit",
    ),
    "channel": (
        "is not a channel name",
        "use 1-32 characters: lowercase letters, digits and '-', starting with a letter or digit",
    ),
    "image": (
        "is not an image repository",
        "use [registry[:port]/]path/name in lowercase without a tag or digest, e.g. ghcr.io/org/my-app",
    ),
    "tag": (
        "is not an image tag",
        "use 1-128 characters: letters, digits, '.', '_', '-', not starting with '.' or '-'",
    ),
    "digest": ("is not a digest", "use sha256: followed by 64 lowercase hex characters"),
    "repository": (
        "is not a GitHub repository",
        "use owner/name, e.g. org/my-app (ASCII letters, digits, '-' in the owner; "
        "also '.', '_' in the name)",
    ),
    "sha": ("is not a commit SHA", "use the full 40-character lowercase hex commit SHA"),
    "ref": (
        "is not a git ref",
        "use a full ref such as refs/heads/main, refs/tags/v1.2.3 or refs/pull/7/merge "
        "(no '..', '//', spaces or ~^:?*[\\)",
    ),
    "runUrl": (
        "is not an https URL",
        "use the https:// URL of the workflow run, without spaces, at most 2048 characters",
    ),
    "updatedAt": ("is not a UTC timestamp", "use RFC 3339 UTC, e.g. 2026-01-28T10:30:00Z"),
    "builtAt": (
        "is not a UTC timestamp",
        "use RFC 3339 UTC, e.g. 2026-01-28T10:30:00Z or 2026-01-28T10:30:00.123Z (dispatch-update sets it)",
    ),
}


def split_reference(reference: str) -> tuple[str, str, str]:
    """``(name, tag, digest)`` of an image reference the way kustomize splits it (image.Split):
    a ``:`` before the first ``/`` is a registry port (``localhost:5000/app:1`` is
    ``localhost:5000/app`` tagged ``1``); an ``@`` before the tag's ``:`` ends the name."""
    slash = reference.find("/")
    offset = slash if slash > 0 else 0
    search = reference[offset:]
    at, colon = search.find("@"), search.find(":")
    if colon < 0 and at < 0:
        return reference, "", ""
    if at >= 0 and (at < colon or colon < 0):
        return reference[: offset + at], "", reference[offset + at + 1 :]
    if at >= 0:
        return (
            reference[: offset + colon],
            reference[offset + colon + 1 : offset + at],
            reference[offset + at + 1 :],
        )
    return reference[: offset + colon], reference[offset + colon + 1 :], ""


def show(value: object, limit: int = 60) -> str:
    """A bad value for an error message: ASCII-escaped (look-alikes and control characters
    become visible) and cut to about ``limit`` characters."""
    text = ascii(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


# -- tag mutability ----------------------------------------------------------------------------
# Here, not in core/tags.py, so that dispatch-update (standard library only) warns with the very
# rules update-db enforces through core/tags.py. docs/release-db.md lists them.

#: Names a registry routinely moves to newer images.
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
#: Distribution and variant names that float like ``latest`` (``alpine``, ``slim-bookworm``,
#: ``alpine3.19``): each names "the newest build of this flavour".
VARIANT_TAGS: frozenset[str] = frozenset(
    {
        "alpine",
        "slim",
        "bookworm",
        "bullseye",
        "buster",
        "trixie",
        "jammy",
        "noble",
        "focal",
        "bionic",
        "distroless",
        "ubi",
        "windowsservercore",
        "nanoserver",
    }
)
#: Words that float when they end a tag after ``-``, ``_`` or ``.`` (``3.12-latest``).
MUTABLE_SUFFIXES: tuple[str, ...] = ("latest", "nightly", "edge", "snapshot", "head", "stable")

# Floating versions: v1, v1.2, v1.x, v1.2.x, 1.2, 1.2.x, 1.x, and a bare number of 1-3 digits
# (node:20, postgres:16). A bare number of 4 or more digits (a run number such as 1234, a date
# such as 20240101) is taken as immutable by convention.
_FLOATING_CORE = r"(?:[vV][0-9]+(?:\.[0-9]+)?(?:\.[xX])?|[0-9]+\.[0-9]+(?:\.[xX])?|[0-9]+\.[xX]|[0-9]{1,3})"
_FLOATING = re.compile(_FLOATING_CORE)
# ... followed by a variant (3.12-slim, v1-alpine, 1-alpine3.19); a commit SHA after the number
# (12-1a2b3c4d, 12-abc1234) makes the tag unique, so it is not a variant.
_FLOATING_VARIANT = re.compile(_FLOATING_CORE + r"[-_](?![0-9a-f]{7,40}$)[A-Za-z][A-Za-z0-9._-]*")
_VARIANT_WORD = "(?:" + "|".join(sorted(VARIANT_TAGS, key=len, reverse=True)) + r")[0-9.]*"
_VARIANT_ONLY = re.compile(rf"{_VARIANT_WORD}(?:[-_.]{_VARIANT_WORD})*", re.IGNORECASE)
_LATEST_PREFIX = re.compile(r"latest[-_.]", re.IGNORECASE)
_MUTABLE_SUFFIX = re.compile(r"[-_.](?:" + "|".join(MUTABLE_SUFFIXES) + r")\Z", re.IGNORECASE)
# A semver pre-release: x.y.z followed by '-' (1.4.0-rc.1, v2.0.0-beta).
PRERELEASE_TAG_PATTERN = r"^[vV]?[0-9]+\.[0-9]+\.[0-9]+-[0-9A-Za-z.-]+" + END
_PRERELEASE_TAG = re.compile(PRERELEASE_TAG_PATTERN)
_PULL_REF = re.compile(r"refs/pull/([0-9]+)/(?:merge|head)")
_NOT_TAG_CHAR = re.compile(r"[^A-Za-z0-9._-]")


def mutable_tag_reason(tag: str, ref: str | None = None) -> str | None:
    """Why ``tag`` is mutable, or None when it looks immutable; ``ref`` is the git ref the image
    was built from (a tag named after its branch moves with every push to that branch)."""
    lower = tag.lower()
    if lower in MUTABLE_TAGS:
        return f"{show(tag)} is a mutable tag that moves to newer images"
    if _LATEST_PREFIX.match(tag):
        return f"{show(tag)} starts with 'latest', a mutable tag that moves to newer images"
    if tag.isdigit() and _FLOATING.fullmatch(tag):
        return (
            f"{show(tag)} is read as a floating major version (like node:20); numbers of 4 or more "
            "digits (run numbers, dates) are accepted, or give a short number a prefix: build-12"
        )
    if _FLOATING.fullmatch(tag):
        return f"{show(tag)} is a floating version tag that moves with every release"
    suffix = _MUTABLE_SUFFIX.search(tag)
    if suffix is not None:
        return f"{show(tag)} ends with {suffix.group(0)!r}, a mutable tag that moves to newer images"
    if _FLOATING_VARIANT.fullmatch(tag):
        return f"{show(tag)} is a floating version tag of a variant that moves with every release"
    if _VARIANT_ONLY.fullmatch(tag):
        return f"{show(tag)} names a distribution or variant, a tag that moves to newer images"
    if ref is not None and lower in _ref_tag_names(ref):
        return f"{show(tag)} is named after the ref it was built from ({ref}) and moves with every push"
    return None


def _ref_tag_names(ref: str) -> set[str]:
    """Tags a build tool would name after a branch or pull request ref, lower-cased: the branch
    itself and with '/' (or any other character a tag cannot hold) replaced by '-'; pr-<n>."""
    if ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/").lower()
        return {branch, branch.replace("/", "-"), _NOT_TAG_CHAR.sub("-", branch)}
    pull = _PULL_REF.fullmatch(ref)
    return {f"pr-{pull.group(1)}"} if pull else set()


def looks_like_prerelease(tag: str) -> bool:
    """``x.y.z-something`` with an optional leading ``v``: a semver pre-release, by pattern only."""
    return _PRERELEASE_TAG.search(tag) is not None


# -- reading JSON ------------------------------------------------------------------------------


def loads_json(text: str) -> Any:
    """``json.loads`` that refuses what it would otherwise accept silently or crash on.

    Raises ValueError whose message is one line to put after the input's or file's name:
    ``is not valid JSON (<reason> at line L column C)``, ``has the key 'x' twice in one object``
    (``json.loads`` would keep only the last one) or ``is nested too deeply`` (a RecursionError
    inside the parser, e.g. ``[[[[...]]]]`` 30,000 levels deep).
    """
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError("is nested too deeply (arrays or objects thousands of levels deep)") from None


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(
                    f"has the key {show(key)} twice in one object (a JSON reader keeps only the last one)"
                )
            seen.add(key)
    return obj


# -- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where and when a release was built: repository, commit, ref, the workflow run, and the time
    the build dispatched it (``builtAt``, absent in releases sent before it existed)."""

    repository: str
    sha: str
    ref: str | None = None
    run_url: str | None = None
    built_at: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"repository": self.repository, "sha": self.sha}
        if self.ref is not None:
            out["ref"] = self.ref
        if self.run_url is not None:
            out["runUrl"] = self.run_url
        if self.built_at is not None:
            out["builtAt"] = self.built_at
        return out

    def same_build(self, other: Source) -> bool:
        """Equal except for ``builtAt``: the same commit, ref and run dispatched again."""
        return (
            self.repository == other.repository
            and self.sha == other.sha
            and self.ref == other.ref
            and self.run_url == other.run_url
        )


@dataclass(frozen=True)
class Release:
    """One image (by tag and optional digest) on one channel of one container."""

    container: str
    channel: str
    image: str
    tag: str
    digest: str | None
    source: Source
    updated_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON object: keys in a fixed order, absent optionals omitted."""
        out: dict[str, Any] = {
            "container": self.container,
            "channel": self.channel,
            "image": self.image,
            "tag": self.tag,
        }
        if self.digest is not None:
            out["digest"] = self.digest
        out["source"] = self.source.to_json()
        if self.updated_at is not None:
            out["updatedAt"] = self.updated_at
        return out

    @property
    def key(self) -> tuple[str, str]:
        return (self.container, self.channel)

    @property
    def reference(self) -> str:
        """``image:tag@digest`` (or ``image:tag`` without a digest)."""
        ref = f"{self.image}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref

    def same_content(self, other: Release) -> bool:
        """Equal except for ``updatedAt`` and ``source.builtAt``: storing it again would not be a
        change (the same build dispatched again, e.g. a re-run, keeps the stored entry as it is)."""
        return (
            self.key == other.key
            and self.image == other.image
            and self.tag == other.tag
            and self.digest == other.digest
            and self.source.same_build(other.source)
        )


# -- parsing -----------------------------------------------------------------------------------


def _string(obj: Mapping[str, Any], key: str, field: str, rule: str) -> str:
    value = obj[key]
    # Length before the pattern: no regex ever runs over an oversized string.
    if isinstance(value, str) and len(value) <= _MAX.get(rule, len(value)) and _RE[rule].search(value):
        return value  # the common case, checked first: db.json holds thousands of valid releases
    path = f"{field}.{key}"
    if not isinstance(value, str):
        raise InputError(
            path, f"must be a string, not {_json_type(value)} {show(value)}", fix=_ALLOWED[rule][1]
        )
    limit = _MAX.get(rule)
    if limit is not None and len(value) > limit:
        raise InputError(
            path, f"is {len(value)} characters long (at most {limit}): {show(value)}", fix=_ALLOWED[rule][1]
        )
    if not _RE[rule].search(value):
        what, fix = _ALLOWED[rule]
        reason = " (contains a control character)" if _CONTROL.search(value) else ""
        if not reason and not value.isascii():
            reason = " (contains a non-ASCII character)"
        raise InputError(path, f"{show(value)} {what}{reason}", fix=fix)
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _object(obj: object, field: str, keys: Sequence[str], required: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise InputError(field, f"must be a JSON object, not {_json_type(obj)}", fix=_object_fix(keys))
    unknown = [k for k in obj if k not in keys]
    if unknown:
        raise InputError(
            field, f"has unknown key {show(unknown[0])}", fix=f"use only the keys {', '.join(keys)}"
        )
    missing = [k for k in required if k not in obj]
    if missing:
        raise InputError(f"{field}.{missing[0]}", "is missing", fix=_object_fix(required))
    return obj


def _object_fix(keys: Sequence[str]) -> str:
    return f"send an object with the keys {', '.join(keys)}"


# The fast path: field name -> (max length, pattern search). The field names are the rule names.
_RELEASE_REQUIRED = frozenset(REQUIRED_KEYS)
_SOURCE_REQUIRED = frozenset(("repository", "sha"))
#: Field -> (maximum length, pattern search): the rules parse_release applies to a release's
#: string fields and to its source's (core/db.py checks a whole db.json with them, by column).
RELEASE_FIELD_CHECKS = {k: (_MAX.get(k, 1 << 30), _RE[k].search) for k in RELEASE_KEYS if k != "source"}
SOURCE_FIELD_CHECKS = {k: (_MAX.get(k, 1 << 30), _RE[k].search) for k in SOURCE_KEYS}
_FAST_RELEASE, _FAST_SOURCE = RELEASE_FIELD_CHECKS, SOURCE_FIELD_CHECKS


def _all_valid(obj: dict[str, Any], checks: Mapping[str, Any], skip: str | None = None) -> bool:
    """True when every key is known and every value is a valid string (``skip`` excepted; no
    default key is skipped: a JSON object may well have the key "")."""
    for key, value in obj.items():
        if key == skip:
            continue
        check = checks.get(key)
        if check is None or type(value) is not str or len(value) > check[0] or not check[1](value):
            return False
    return True


def parse_release(obj: object, *, field: str = "payload", keys: Sequence[str] = RELEASE_KEYS) -> Release:
    """Validate one release object (as sent in a payload or stored in db.json).

    Raises InputError whose field is the exact path of the bad value, e.g.
    ``payload.releases[1].source.sha``. ``keys``: the keys allowed (an unknown key's fix lists
    them; a payload's are PAYLOAD_KEYS, without updatedAt).
    """
    # A db.json holds thousands of releases: check a valid one in one pass; anything else takes
    # the field-by-field path below, which finds and names the first problem.
    if type(obj) is dict and _RELEASE_REQUIRED <= obj.keys():
        src_obj = obj["source"]
        if (
            type(src_obj) is dict
            and _SOURCE_REQUIRED <= src_obj.keys()
            and _all_valid(obj, _FAST_RELEASE, skip="source")
            and _all_valid(src_obj, _FAST_SOURCE)
        ):
            get, src_get = obj.get, src_obj.get
            return Release(
                obj["container"], obj["channel"], obj["image"], obj["tag"], get("digest"),
                Source(
                    src_obj["repository"], src_obj["sha"], src_get("ref"), src_get("runUrl"),
                    src_get("builtAt"),
                ),
                get("updatedAt"),
            )  # fmt: skip
    data = _object(obj, field, keys, REQUIRED_KEYS)
    container = _string(data, "container", field, "container")
    channel = _string(data, "channel", field, "channel")
    image = _string(data, "image", field, "image")
    tag = _string(data, "tag", field, "tag")
    digest = _string(data, "digest", field, "digest") if "digest" in data else None
    src_field = f"{field}.source"
    src = _object(data["source"], src_field, SOURCE_KEYS, ("repository", "sha"))
    source = Source(
        repository=_string(src, "repository", src_field, "repository"),
        sha=_string(src, "sha", src_field, "sha"),
        ref=_string(src, "ref", src_field, "ref") if "ref" in src else None,
        run_url=_string(src, "runUrl", src_field, "runUrl") if "runUrl" in src else None,
        built_at=_string(src, "builtAt", src_field, "builtAt") if "builtAt" in src else None,
    )
    updated_at = _string(data, "updatedAt", field, "updatedAt") if "updatedAt" in data else None
    return Release(container, channel, image, tag, digest, source, updated_at)


def parse_payload(obj: object, *, field: str = "payload") -> tuple[Release, ...]:
    """A dispatch payload: one release object, or ``{"releases": [release, ...]}`` with 1..50
    releases and no two for the same (container, channel). ``updatedAt`` is refused: update-db
    sets it."""
    if isinstance(obj, dict) and "releases" in obj:
        _object(obj, field, ("releases",), ("releases",))
        items = obj["releases"]
        list_field = f"{field}.releases"
        if not isinstance(items, list):
            raise InputError(
                list_field, f"must be an array of releases, not {_json_type(items)}", fix=_list_fix()
            )
        if not 1 <= len(items) <= MAX_RELEASES:
            raise InputError(list_field, f"has {len(items)} releases", fix=_list_fix())
        releases: list[Release] = []
        seen: dict[tuple[str, str], int] = {}
        for index, item in enumerate(items):
            item_field = f"{list_field}[{index}]"
            release = _payload_release(item, item_field)
            if release.key in seen:
                raise InputError(
                    item_field,
                    f"repeats container {release.container!r} on channel {release.channel!r} "
                    f"(already in {list_field}[{seen[release.key]}])",
                    fix="send each (container, channel) once per payload",
                )
            seen[release.key] = index
            releases.append(release)
        return tuple(releases)
    return (_payload_release(obj, field),)


def _list_fix() -> str:
    return f"send 1 to {MAX_RELEASES} release objects; split larger builds into several dispatches"


def _payload_release(obj: object, field: str) -> Release:
    if isinstance(obj, dict) and "updatedAt" in obj:
        raise InputError(
            f"{field}.updatedAt",
            "is set by update-db, not by the sender",
            fix="remove updatedAt from the payload",
        )
    return parse_release(obj, field=field, keys=PAYLOAD_KEYS)


def payload_json(releases: Sequence[Release]) -> dict[str, Any]:
    """The ``client_payload`` for dispatch-update: one release object when there is one, else
    ``{"releases": [...]}``; never ``updatedAt``."""
    if not releases:
        raise InputError("payload", "has no release", fix="give at least one container")
    items = [_without_updated_at(r) for r in releases]
    return items[0] if len(items) == 1 else {"releases": items}


def _without_updated_at(release: Release) -> dict[str, Any]:
    data = release.to_json()
    data.pop("updatedAt", None)
    return data


# -- channel history is monotonic: build times -------------------------------------------------


def time_key(stamp: str) -> tuple[str, str]:
    """An RFC 3339 UTC stamp (BUILT_AT_PATTERN) as a sortable key: the seconds, then the fraction
    padded to 9 digits (as strings, ``...:00Z`` would sort after ``...:00.5Z``)."""
    seconds, _, rest = stamp.partition(".")
    return seconds.rstrip("Z"), rest.rstrip("Z").ljust(9, "0")


def rollback_fix(lead: str, *, senders: bool) -> str:
    """The fix of a refused downgrade or stale build: how to roll back on purpose today.

    allow-downgrade is an update-db input, not a payload field, so no dispatch can set it; a
    run that sets it (workflow_dispatch, the CLI) has no repository_dispatch event, hence no
    sender, and a source whose rules all list ``senders`` refuses it. For such a source only a
    commit to the config repo works, and the fix names only that."""
    if senders:
        return (
            f"{lead}, git revert the commit that moved the channel: a dispatch's payload cannot set "
            "allow-downgrade, and this source lists senders, so update-db run by hand "
            "(workflow_dispatch, the CLI) has no repository_dispatch sender and is refused"
        )
    return (
        f"{lead}, run update-db with this release and allow-downgrade: true (workflow_dispatch or "
        "the CLI: a dispatch's payload cannot set it) or git revert the commit that moved the "
        "channel; tags.allowDowngrade: true in the policy accepts every downgrade"
    )


def check_build_order(
    release: Release, current: Release | None, *, field: str = "payload", senders: bool = False
) -> None:
    """Refuse ``release`` when it was built before the channel's ``current`` release: a stale
    dispatch (a re-run of an old one, or the loser of a race) must not roll the channel back.

    Only releases that both carry ``source.builtAt`` are ordered: one without it (sent before
    dispatch-update stamped it, or by hand) is not comparable and is accepted, as before. The
    same build dispatched again (``same_content``) is never refused: it changes nothing. The
    caller skips this with allow-downgrade, and when semver tags already order the two.
    ``senders``: the release's source rules all name senders (see rollback_fix).
    """
    if current is None or release.same_content(current):
        return
    new, old = release.source.built_at, current.source.built_at
    if new is None or old is None or time_key(new) >= time_key(old):
        return
    raise PolicyError(
        f"{field}.source.builtAt {new} is older than the build on {release.container}/"
        f"{release.channel} ({show(current.tag)}, built {old}): a newer release already holds the "
        f"channel, so this stale one ({show(release.tag)}) is refused and nothing was changed",
        fix=rollback_fix(
            "nothing to do if the newer release should stay; to deploy this one anyway", senders=senders
        ),
    )


def check_not_future(release: Release, latest: str, *, field: str = "payload") -> None:
    """Refuse a ``source.builtAt`` later than ``latest`` (update-db's clock plus a tolerance): a
    build stamped in the future would hold its channel against every later release until then."""
    stamp = release.source.built_at
    if stamp is not None and time_key(stamp) > time_key(latest):
        raise PolicyError(
            f"{field}.source.builtAt {stamp} is in the future (update-db's clock allows up to {latest})",
            fix="correct the clock of the machine that ran dispatch-update, or its built-at input",
        )


def check_dispatch_limits(event_type: str, client_payload: dict[str, Any]) -> None:
    """Refuse what GitHub's repository_dispatch would refuse, and oversized payloads."""
    if not isinstance(event_type, str) or not 1 <= len(event_type) <= MAX_EVENT_TYPE:
        length = len(event_type) if isinstance(event_type, str) else 0
        raise InputError(
            "event-type",
            f"{show(event_type)} is {length} characters long",
            fix=f"use 1 to {MAX_EVENT_TYPE} characters, e.g. release-channel-update",
        )
    if _CONTROL.search(event_type):
        raise InputError(
            "event-type",
            f"{show(event_type)} contains a control character",
            fix="use printable characters only, e.g. release-channel-update",
        )
    if not isinstance(client_payload, dict):
        raise InputError(
            "payload", f"must be a JSON object, not {_json_type(client_payload)}", fix=_list_fix()
        )
    if len(client_payload) > MAX_PAYLOAD_KEYS:
        raise InputError(
            "payload",
            f"has {len(client_payload)} top-level keys; GitHub allows at most {MAX_PAYLOAD_KEYS}",
            fix='put several releases under one "releases" key',
        )
    size = len(json.dumps(client_payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise InputError(
            "payload",
            f"is {size} bytes serialized (at most {MAX_PAYLOAD_BYTES})",
            fix="send fewer releases per dispatch",
        )
