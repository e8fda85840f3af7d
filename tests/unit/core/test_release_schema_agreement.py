"""parse_payload and schemas/payload.schema.json accept exactly the same payloads, except for
the one rule JSON Schema cannot express: no two releases with the same (container, channel).

So the asserted relation is: parser accepts <=> schema accepts and no duplicate key.
"""

from __future__ import annotations

import copy
import json
import operator
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gitops_release.core import release as rel
from gitops_release.core.release import parse_payload, parse_release
from gitops_release.errors import InputError


def load(name: str) -> dict[str, Any]:
    return json.loads((resources.files("gitops_release") / "schemas" / f"{name}.schema.json").read_text())


RELEASE = load("release")
PAYLOAD = load("payload")
DB = load("db")
PAYLOAD_VALIDATOR = Draft202012Validator(PAYLOAD)  # format checking off (the default)
RELEASE_VALIDATOR = Draft202012Validator(RELEASE)


def test_schemas_are_valid_draft_2020_12() -> None:
    for schema in (RELEASE, PAYLOAD, DB):
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_patterns_are_the_parsers_patterns() -> None:
    props = RELEASE["properties"]
    source = props["source"]["properties"]
    assert props["container"]["pattern"] == rel.CONTAINER_PATTERN
    assert props["channel"]["pattern"] == rel.CHANNEL_PATTERN
    assert props["image"]["pattern"] == rel.IMAGE_PATTERN
    assert props["image"]["maxLength"] == rel.IMAGE_MAX
    assert props["tag"]["pattern"] == rel.TAG_PATTERN
    assert props["digest"]["pattern"] == rel.DIGEST_PATTERN
    assert props["updatedAt"]["pattern"] == rel.UPDATED_AT_PATTERN
    assert source["repository"]["pattern"] == rel.REPOSITORY_PATTERN
    assert source["sha"]["pattern"] == rel.SHA_PATTERN
    assert source["ref"]["pattern"] == rel.REF_PATTERN
    assert source["ref"]["maxLength"] == rel.REF_MAX
    assert source["runUrl"]["pattern"] == rel.RUN_URL_PATTERN
    assert source["runUrl"]["maxLength"] == rel.RUN_URL_MAX
    assert source["builtAt"]["pattern"] == rel.BUILT_AT_PATTERN
    assert sorted(props) == sorted(rel.RELEASE_KEYS)
    assert sorted(RELEASE["required"]) == sorted(rel.REQUIRED_KEYS)
    assert sorted(source) == sorted(rel.SOURCE_KEYS)


def test_embedded_release_definitions_are_copies_of_release_schema() -> None:
    expected = {k: v for k, v in RELEASE.items() if k not in ("$schema", "title", "description")}
    for schema in (PAYLOAD, DB):
        embedded = {k: v for k, v in schema["$defs"]["release"].items() if k != "description"}
        assert embedded == expected
    items = PAYLOAD["oneOf"][1]["properties"]["releases"]
    assert items["maxItems"] == rel.MAX_RELEASES


# -- generators ----------------------------------------------------------------------------------

HEX = "0123456789abcdef"
LOOKALIKES = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "-": "\u2010"}
CONTROL = ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028"]


LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
ALNUM = LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def word(first: str, rest: str, max_size: int) -> st.SearchStrategy[str]:
    """A first character from ``first`` then up to ``max_size`` from ``rest`` (cheap to draw,
    unlike st.from_regex)."""
    return st.builds(operator.add, st.sampled_from(first), st.text(alphabet=rest, max_size=max_size))


path_part = st.builds(
    lambda a, sep, b: a + sep + b if b else a,
    st.text(alphabet=LOWER, min_size=1, max_size=8),
    st.sampled_from([".", "_", "__", "-", "--", "___", ".."]),
    st.text(alphabet=LOWER, max_size=8),
)
images = st.builds(
    lambda host, parts: (host + "/" if host else "") + "/".join(parts),
    st.sampled_from(["", "ghcr.io", "localhost:5000", "registry.example.com:443", "my-reg.io", "Docker.io"]),
    st.lists(path_part, min_size=1, max_size=3),
)
ref_text = st.text(alphabet="abcXYZ019._-/@{}~^:?*[\\ \"'", max_size=20)
refs = st.builds(
    lambda kind, rest: f"refs/{kind}/{rest}",
    st.sampled_from(["heads", "tags", "pull", "remotes"]),
    st.one_of(
        ref_text, st.sampled_from(["main", "feat/x", "v1.2.3", "7/merge", "x.lock", "a..b", "a/", "a."])
    ),
)
run_urls = st.one_of(
    st.integers(min_value=1, max_value=10**12).map(lambda n: f"https://github.com/org/app/actions/runs/{n}"),
    st.text(max_size=30).map(lambda t: "https://github.com/" + t),
    st.sampled_from(["http://github.com/x", "https://", "https://gh.io:8443", "https://gh.io/a b"]),
)
sources = st.fixed_dictionaries(
    {
        "repository": st.one_of(
            st.builds(
                lambda o, n: f"{o}/{n}",
                word(ALNUM, ALNUM + "-", 40),
                st.text(alphabet=ALNUM + "._-", min_size=1, max_size=101),
            ),
            st.sampled_from(["org/..", "org/.", "org", "-org/app", "org/app/x"]),
        ),
        "sha": st.one_of(st.text(alphabet=HEX, min_size=40, max_size=40), st.text(alphabet=HEX, max_size=41)),
    },
    optional={
        "ref": refs,
        "runUrl": run_urls,
        "builtAt": st.sampled_from(
            [
                "2026-01-28T10:30:00Z",
                "2026-01-28T10:30:00.123Z",
                "2026-01-28T10:30:00+01:00",
                "2026-13-01T00:00:00Z",
            ]
        ),
    },
)
releases = st.fixed_dictionaries(
    {
        "container": st.one_of(word(LOWER, LOWER + "._-", 63), st.sampled_from(["app", "worker", "web"])),
        "channel": st.one_of(word(LOWER, LOWER + "-", 32), st.sampled_from(["dev", "stage", "prod"])),
        "image": images,
        "tag": word(ALNUM + "_", ALNUM + "._-", 128),
        "source": sources,
    },
    optional={"digest": st.text(alphabet=HEX, min_size=64, max_size=64).map(lambda h: "sha256:" + h)},
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)
)
junk = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
bad_values = st.one_of(
    junk,
    st.text(max_size=300),
    st.sampled_from(["", "../", "../../etc/passwd", "x" * 300, "a" * 2100]),
)


@st.composite
def mutated(draw: st.DrawFn, release: dict[str, Any]) -> dict[str, Any]:
    """One small change to a release: what a buggy or hostile sender would produce."""
    data = copy.deepcopy(release)
    target = data["source"] if draw(st.booleans()) else data
    keys = [k for k in target if isinstance(target[k], str)]
    how = draw(st.sampled_from(["replace", "lookalike", "control", "traverse", "huge", "extra", "drop"]))
    key = draw(st.sampled_from(keys)) if keys else None
    if how == "replace" and key:
        target[key] = draw(bad_values)
    elif how == "lookalike" and key:
        value = target[key]
        hits = [i for i, ch in enumerate(value) if ch in LOOKALIKES]
        if hits:
            i = draw(st.sampled_from(hits))
            target[key] = value[:i] + LOOKALIKES[value[i]] + value[i + 1 :]
    elif how == "control" and key:
        value = target[key]
        i = draw(st.integers(min_value=0, max_value=len(value)))
        target[key] = value[:i] + draw(st.sampled_from(CONTROL)) + value[i:]
    elif how == "traverse" and key:
        target[key] = draw(st.sampled_from(["../", "/..", "./"])) + target[key]
    elif how == "huge" and key:
        target[key] = target[key] * draw(st.integers(min_value=2, max_value=300))
    elif how == "extra":
        target[draw(st.sampled_from(["extra", "updatedAt", "releases", "Tag", "runurl"]))] = draw(
            st.one_of(st.just("2026-01-28T10:30:00Z"), junk)
        )
    elif how == "drop" and target:
        del target[draw(st.sampled_from(sorted(target)))]
    return data


near_valid = releases.flatmap(mutated)
one_release = st.one_of(releases, near_valid)
payloads = st.one_of(
    releases,
    near_valid,
    st.lists(one_release, min_size=0, max_size=4).map(lambda items: {"releases": items}),
    st.lists(releases, min_size=1, max_size=3).map(lambda items: {"releases": items + items[:1]}),
    st.lists(one_release, min_size=1, max_size=2).map(lambda items: {"releases": items, "extra": 1}),
    junk,
)


def has_duplicate_key(payload: Any) -> bool:
    if not (isinstance(payload, dict) and isinstance(payload.get("releases"), list)):
        return False
    keys = [(r["container"], r["channel"]) for r in payload["releases"]]
    return len(keys) != len(set(keys))


def parser_accepts(payload: Any) -> bool:
    try:
        parse_payload(payload)
    except InputError as exc:
        assert "\n" not in exc.one_line() and exc.fix
        return False
    return True


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads)
@example(
    {
        "container": "app\n",
        "channel": "dev",
        "image": "a",
        "tag": "t",
        "source": {"repository": "o/r", "sha": "0" * 40},
    }
)
@example(
    {
        "releases": [
            {
                "container": "a",
                "channel": "dev",
                "image": "a",
                "tag": "t",
                "source": {"repository": "o/..", "sha": "0" * 40},
            }
        ]
    }
)
def test_parser_and_schema_agree(payload: Any) -> None:
    schema_ok = PAYLOAD_VALIDATOR.is_valid(payload)
    parser_ok = parser_accepts(payload)
    assert parser_ok == (schema_ok and not has_duplicate_key(payload)), (schema_ok, parser_ok)


@settings(max_examples=300, deadline=None)
@given(st.one_of(releases, near_valid.map(lambda r: {**r, "updatedAt": "2026-01-28T10:30:00.5Z"})))
def test_single_release_schema_agrees_with_parse_release(obj: dict[str, Any]) -> None:
    try:
        parse_release(obj)
        parser_ok = True
    except InputError:
        parser_ok = False
    assert parser_ok == RELEASE_VALIDATOR.is_valid(obj)


@pytest.mark.parametrize(
    "stamp",
    ["2026-01-28T10:30:00Z", "2026-13-01T00:00:00Z", "2026-01-28 10:30:00Z", "2026-01-28T10:30:00+00:00"],
)
def test_updated_at_rule_agrees(stamp: str) -> None:
    obj = {
        "container": "a",
        "channel": "dev",
        "image": "a",
        "tag": "t",
        "source": {"repository": "o/r", "sha": "0" * 40},
    }
    obj["updatedAt"] = stamp
    try:
        parse_release(obj)
        parser_ok = True
    except InputError:
        parser_ok = False
    assert parser_ok == RELEASE_VALIDATOR.is_valid(obj) == (stamp == "2026-01-28T10:30:00Z")
