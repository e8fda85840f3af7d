"""core/values: the exact text of every refusal (message and fix, as the CLI prints them)."""

from __future__ import annotations

import pytest

from gitops_release.core.values import get_value, set_values
from gitops_release.errors import ConfigError

P = "values-prod.yaml"
SHARED = (
    "Fix: write the values on this key path out in full, without YAML anchors (&name), aliases (*name) "
    "or merge keys (<<): an edit here must never change another place of the file"
)
UNSAFE = (
    "Fix: edit this key by hand once (one key per line, no anchors, plain or quoted value); later edits "
    "then keep the file as it is"
)
KEY_PATH_FIX = "Fix: write a dot inside a key as \\. and a backslash as \\\\ (image.tag, a\\.b.c)"
ALIASES = "\n".join(["a0: &a0 x"] + [f"b{i}: *a0" for i in range(101)]) + "\n"

READS = [
    ("a: 1\na: 2\n", "a", f"{P}: key a appears twice (line 2). Fix: delete one of the two keys"),
    (  # found below a scalar that is checked first
        "a:\n  x: 1\n  x: 2\nb: 1\n",
        "b",
        f"{P}: key a.x appears twice (line 3). Fix: delete one of the two keys",
    ),
    ("? [k]\n: {x: 1, x: 2}\n", "a", f"{P}: key ?.x appears twice (line 2). Fix: delete one of the two keys"),
    ("a: \x01\n", "a", f"{P}: is not valid YAML. Fix: fix the YAML syntax"),
    (
        "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 5)),
        "a",
        f"{P}: has YAML aliases standing for 123,440 values (at most 10,000 are accepted). Fix: write the "
        "values out instead of using YAML anchors and aliases (&name / *name)",
    ),
    (
        "a:\n  b: [1]\n",
        "a.b.c",
        f"{P}: a.b.c: a.b is not a mapping (line 2). Fix: point the key path at a value inside mappings, or "
        "make a.b a mapping",
    ),
    ("image: {tag: 1\n", "image.tag", f"{P}: is not valid YAML at line 2. Fix: fix the YAML syntax"),
    (
        "a: 1\n---\nb: 2\n",
        "image.tag",
        f"{P}: has 2 YAML documents (a values file has one). Fix: keep one document in the values file "
        "(a --- before it at most, none after it)",
    ),
    (
        "- a\n",
        "image.tag",
        f"{P}: is not a values file (the top level is not a mapping). Fix: give the path of a Helm values "
        "file (a YAML mapping)",
    ),
    (
        "x:\n  image:\n    tag: 1\n    tag: 2\n",
        "x.image.tag",
        f"{P}: key x.image.tag appears twice (line 4). Fix: delete one of the two keys",
    ),
    (
        "a:\n  k\\.x: 1\n  k\\.x: 2\n",
        "a",
        f"{P}: key a.k\\\\\\.x appears twice (line 3). Fix: delete one of the two keys",
    ),
    (
        ALIASES,
        "image.tag",
        f"{P}: uses more than 100 YAML aliases (line 102). Fix: write the values out instead of using YAML "
        "anchors and aliases (&name / *name)",
    ),
    ("a: 1\n", "image\\tag", f"{P}: key path 'image\\\\tag' has a backslash before 't'. {KEY_PATH_FIX}"),
    ("a: 1\n", "image\\", f"{P}: key path 'image\\\\' has a backslash before 'the end'. {KEY_PATH_FIX}"),
    (
        "a: 1\n",
        "image..tag",
        f"{P}: key path 'image..tag' has an empty key. Fix: write the key path as keys joined by single "
        "dots, e.g. image.tag",
    ),
    (
        "image: ghcr.io/x\n",
        "image.tag",
        f"{P}: image.tag: image is not a mapping (line 1). Fix: point the key path at a value inside "
        "mappings, or make image a mapping",
    ),
    (
        "a: [1]\n",
        "a.b.c",
        f"{P}: a.b.c: a is not a mapping (line 1). Fix: point the key path at a value inside mappings, or "
        "make a a mapping",
    ),
    (
        "image:\n\n  tag: [1]\n",
        "image.tag",
        f"{P}: image.tag: is a list, not a single value (line 3). Fix: point the key path at a single value "
        "(e.g. image.tag, not image)",
    ),
    (
        "image:\n  tag: {a: 1}\n",
        "image.tag",
        f"{P}: image.tag: is a mapping, not a single value (line 2). Fix: point the key path at a single "
        "value (e.g. image.tag, not image)",
    ),
    (
        "image:\n  tag: >\n    x\n",
        "image.tag",
        f"{P}: image.tag: is a multi-line block scalar (>) (line 2). Fix: write the value on one line "
        "(tag: 1.2.3)",
    ),
    (
        "base: &b {tag: 1}\nimage:\n  x: 1\n  <<: *b\n",
        "image.tag",
        f"{P}: image.tag: image uses a YAML merge key (<<) (line 4): its keys may come from another mapping. "
        + SHARED,
    ),
    (
        "<<: {image: {tag: 1}}\n",
        "image.tag",
        f"{P}: image.tag: the top level uses a YAML merge key (<<) (line 1): its keys may come from another "
        "mapping. " + SHARED,
    ),
]


@pytest.mark.parametrize(("text", "key", "expected"), READS)
def test_read_refusals(text: str, key: str, expected: str) -> None:
    for call in (
        lambda: get_value(text, key, path=P),
        lambda: set_values(text, {key: "v2"}, path=P, add_missing=True),
    ):
        with pytest.raises(ConfigError) as caught:
            call()
        assert caught.value.one_line() == expected


WRITES = [
    (
        "base: &b\n  tag: v1\nimage: *b\n",
        {"image.tag": "v2"},
        f"{P}: image.tag: image is a YAML anchor or alias (&b): other places share it. " + SHARED,
    ),
    (
        "image:\n  tag: &t v1\nother: *t\n",
        {"image.tag": "v2"},
        f"{P}: image.tag: is a YAML anchor or alias (&t/*t) (line 2). " + SHARED,
    ),
    (
        "image:\n  tag: !!int 1\n",
        {"image.tag": "v2"},
        f"{P}: image.tag: has the explicit YAML tag !!int (line 2). Fix: remove the tag (or write !!str): "
        "the value is an image reference, a string",
    ),
    (
        "a: 1\n",
        {"n.x": "1", "n.x.y": "2"},
        f"{P}: n.x.y: conflicts with another key path of the same change (x is set to a value). Fix: set "
        "either the value or keys below it",
    ),
    (
        "a: 1\n",
        {"n.x.y": "2", "n.x": "1"},
        f"{P}: n.x: conflicts with another key path of the same change (keys below it are added). Fix: set "
        "either the value or keys below it",
    ),
    (
        "image:\n  tag: v1\n",
        {"image.tag": None},
        f"{P}: image.tag: is the only key of its mapping: deleting would leave the mapping null. Fix: delete "
        "the mapping by hand, or set the key to a value instead",
    ),
    (
        "m: {a: 1,  # c\n  b: 2, c: 3}\n",
        {"m.b": None, "m.c": None},
        f"{P}: m.b, m.c: cannot be edited in place safely (a comment or more stands between the keys). "
        + UNSAFE,
    ),
    (
        "m: {a: 1,  # c\n  b: 2}\n",
        {"m.a": None},
        f"{P}: m.a: cannot be edited in place safely (a comment or more stands between the keys). " + UNSAFE,
    ),
    (
        "? a\n: 1\nb: 2\n",
        {"a": None},
        f"{P}: a: cannot be edited in place safely (the key does not start its line). " + UNSAFE,
    ),
    (
        "? a\nb: 1\n",
        {"a": "v1"},
        f"{P}: a: cannot be edited in place safely (the key is not followed by a colon). " + UNSAFE,
    ),
    (
        "b: 1\n? a\n",
        {"b": None, "c": "1"},
        f"{P}: b, c: cannot be edited in place safely (key a is not followed by a colon). " + UNSAFE,
    ),
    (  # the whole key path is named, not the part that is missing
        "? image\nb: 1\n",
        {"image.tag": "v1", "image.digest": "d"},
        f"{P}: image.tag, image.digest: cannot be edited in place safely (the key is not followed by a "
        "colon). " + UNSAFE,
    ),
    (
        "m: {image}\n",
        {"m.image.tag": "v1"},
        f"{P}: m.image.tag: cannot be edited in place safely (the key is not followed by a colon). " + UNSAFE,
    ),
    (
        "image: ~\nb: 1\n",
        {"image": None, "image.tag": "v1"},
        f"{P}: image, image.tag: edits of the same change overlap in the file. Fix: change these keys one "
        "at a time",
    ),
    (
        "a: 1\n",
        {"a..b": "1"},
        f"{P}: key path 'a..b' has an empty key. Fix: write the key path as keys joined by single dots, "
        "e.g. image.tag",
    ),
    (
        "x" * (2 * 1024 * 1024 + 1),
        {"a": "1"},
        f"{P}: is 2,097,153 characters long (at most 2,097,152 are accepted). Fix: split the values file, "
        "or give the path of the per-environment values file",
    ),
    (
        "a: " + "[" * 150 + "]" * 150,
        {"a": "1"},
        f"{P}: nests more than 100 levels deep (line 1). Fix: flatten the values file",
    ),
    (
        "---\n...\n",
        {"a": "1"},
        f"{P}: a: cannot be edited in place safely (the edited file would not read back: it has 2 YAML "
        "documents (a values file has one)). " + UNSAFE,
    ),
]


@pytest.mark.parametrize(("text", "changes", "expected"), WRITES)
def test_write_refusals(text: str, changes: dict[str, str | None], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        set_values(text, changes, path=P, add_missing=True)
    assert caught.value.one_line() == expected


def test_a_file_at_the_size_limit_is_read() -> None:
    text = "a: 1\n" + "#" * (2 * 1024 * 1024 - 5)
    assert len(text) == 2 * 1024 * 1024
    assert get_value(text, "a", path=P) == "1"
