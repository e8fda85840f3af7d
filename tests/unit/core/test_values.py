"""core/values: get_value / set_values on Helm-style values files, every byte outside the edited
values kept."""

from __future__ import annotations

import pytest

from gitops_release.core.values import get_value, get_values, set_values, split_key_path
from gitops_release.errors import ConfigError

PATH = "charts/app/values-prod.yaml"

VALUES = """\
# Default values for my-app (prod).
replicaCount: 3

image:
  repository: ghcr.io/org/my-app   # the registry mirror
  tag: sha-1a2b3c4   # bumped by promote
  pullPolicy: IfNotPresent

service:
  type: ClusterIP
  port: 80
"""


def set_one(text: str, key: str, value: str | None, **kwargs: bool) -> str:
    return set_values(text, {key: value}, path=PATH, **kwargs)


# -- get_value -----------------------------------------------------------------------------------


def test_get_value_reads_nested_keys_as_written() -> None:
    assert get_value(VALUES, "image.tag", path=PATH) == "sha-1a2b3c4"
    assert get_value(VALUES, "image.repository", path=PATH) == "ghcr.io/org/my-app"
    assert get_value(VALUES, "replicaCount", path=PATH) == "3"
    assert get_value("image: {tag: '1.10'}\n", "image.tag", path=PATH) == "1.10"
    assert get_value("image:\n  tag: 1.10\n", "image.tag", path=PATH) == "1.10"


def test_get_values_reads_several_key_paths_at_once() -> None:
    assert get_values(VALUES, ["image.tag", "image.digest", "image.repository"], path=PATH) == {
        "image.tag": "sha-1a2b3c4",
        "image.digest": None,
        "image.repository": "ghcr.io/org/my-app",
    }
    assert get_values(VALUES, [], path=PATH) == {}


@pytest.mark.parametrize(
    "text", ["", "# nothing\n", "image:\n  tag: ~\n", "image:\n  tag:\n", "image:\n", "other: 1\n"]
)
def test_get_value_is_none_when_absent_or_null(text: str) -> None:
    assert get_value(text, "image.tag", path=PATH) is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("image: ghcr.io/x:1\n", "image is not a mapping"),
        ("image: [a, b]\n", "image is not a mapping"),
        ("image:\n  tag: [1]\n", "is a list, not a single value"),
        ("image:\n  tag: {a: 1}\n", "is a mapping, not a single value"),
        ("image:\n  tag: |\n    1.2\n", "multi-line block scalar"),
        ("image:\n  tag: >-\n    1.2\n", "multi-line block scalar"),
        ("base: &b {tag: 1}\nimage:\n  <<: *b\n", "merge key"),
        ("- a\n", "top level is not a mapping"),
        ("image: {tag: 1\n", "not valid YAML"),
        ("a: 1\n---\nb: 2\n", "2 YAML documents"),
        ("image:\n  tag: 1\n  tag: 2\n", "key image.tag appears twice"),
    ],
)
def test_get_value_refuses(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        get_value(text, "image.tag", path=PATH)
    assert needle in caught.value.message
    assert caught.value.message.startswith(PATH + ":")
    assert caught.value.fix


def test_key_paths_escape_dots() -> None:
    assert split_key_path("image.tag", path=PATH) == ("image", "tag")
    assert split_key_path("nodeSelector.kubernetes\\.io/os", path=PATH) == (
        "nodeSelector",
        "kubernetes.io/os",
    )
    assert split_key_path("a\\\\.b", path=PATH) == ("a\\", "b")
    text = "nodeSelector:\n  kubernetes.io/os: linux\n"
    assert get_value(text, "nodeSelector.kubernetes\\.io/os", path=PATH) == "linux"
    assert get_value(text, "nodeSelector.kubernetes.io/os", path=PATH) is None
    out = set_one(text, "nodeSelector.kubernetes\\.io/os", "windows")
    assert out == "nodeSelector:\n  kubernetes.io/os: windows\n"


@pytest.mark.parametrize("key", ["", "image.", ".tag", "image..tag", "image\\tag", "image\\"])
def test_bad_key_paths_are_refused(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        get_value(VALUES, key, path=PATH)
    assert "key path" in caught.value.message and PATH in caught.value.message


# -- set_values: only the value's bytes change ---------------------------------------------------


def test_only_the_value_changes_comments_kept() -> None:
    out = set_one(VALUES, "image.tag", "sha-9f8e7d6")
    assert out == VALUES.replace("tag: sha-1a2b3c4", "tag: sha-9f8e7d6")
    assert get_value(out, "image.tag", path=PATH) == "sha-9f8e7d6"


def test_unchanged_returns_the_input_itself() -> None:
    assert set_one(VALUES, "image.tag", "sha-1a2b3c4") is VALUES
    assert set_values(VALUES, {}, path=PATH) is VALUES
    assert set_one(VALUES, "image.digest", None) is VALUES  # deleting an absent key


@pytest.mark.parametrize(
    ("tag", "written"),
    [
        ("1.10", '"1.10"'),
        ("1.2", '"1.2"'),
        ("123", '"123"'),
        ("0123", '"0123"'),
        ("true", '"true"'),
        ("yes", '"yes"'),
        ("on", '"on"'),
        ("null", '"null"'),
        ("1e3", '"1e3"'),
        ("0x1F", '"0x1F"'),
        ("2024-01-01", '"2024-01-01"'),
        ("1:20", '"1:20"'),
        ("1_000", '"1_000"'),
        ("v1.10", "v1.10"),
        ("1.2.3", "1.2.3"),
        ("sha-1a2b3c4", "sha-1a2b3c4"),
        ("1.2.3-rc.1+build.5", "1.2.3-rc.1+build.5"),
        ("-rc", '"-rc"'),
        ("a: b", '"a: b"'),
        ("a #b", '"a #b"'),
        ("it's", '"it\'s"'),
        ('say "x"', '"say \\"x\\""'),
    ],
)
def test_plain_values_are_quoted_when_yaml_would_not_read_a_string(tag: str, written: str) -> None:
    out = set_one(VALUES, "image.tag", tag)
    assert out == VALUES.replace("tag: sha-1a2b3c4", f"tag: {written}")
    assert get_value(out, "image.tag", path=PATH) == tag


def test_a_number_written_plain_becomes_a_string_when_set() -> None:
    # Helm would read "tag: 1.10" as the float 1.1: setting the same text quotes it.
    text = "image:\n  tag: 1.10\n"
    out = set_one(text, "image.tag", "1.10")
    assert out == 'image:\n  tag: "1.10"\n'
    assert set_one(out, "image.tag", "1.10") is out


@pytest.mark.parametrize(
    ("old", "new", "written"),
    [
        ("'1.2.3'", "1.2.4", "'1.2.4'"),
        ("'1.2.3'", "it's", "'it''s'"),
        ('"1.2.3"', "1.2.4", '"1.2.4"'),
        ('"1.2.3"', 'a"b\\c', '"a\\"b\\\\c"'),
        ("'1.2.3'", "tab\there", '"tab\\x09here"'),
        ("!!str 1.2.3", "1.2.4", "!!str 1.2.4"),
        ("!!str 1.2.3", "1.10", "!!str 1.10"),  # a string already: stays plain
        ("!!str '1.2.3'", "1.2.4", "!!str '1.2.4'"),
    ],
)
def test_quote_style_is_kept(old: str, new: str, written: str) -> None:
    text = f"image:\n  tag: {old}  # pinned\n"
    out = set_one(text, "image.tag", new)
    assert out == f"image:\n  tag: {written}  # pinned\n"
    assert get_value(out, "image.tag", path=PATH) == new


def test_crlf_bom_headers_and_trailing_spaces_survive() -> None:
    text = "\ufeff%YAML 1.2\r\n---\r\n# values\r\nimage:   \r\n  tag: a   \r\n\r\n  digest: b\r\nz: 1"
    out = set_values(text, {"image.tag": "c", "image.digest": "d"}, path=PATH)
    assert out == text.replace("tag: a", "tag: c").replace("digest: b", "digest: d")
    added = set_one(text, "image.repository", "r", add_missing=True)
    assert added == text.replace("  digest: b\r\n", "  digest: b\r\n  repository: r\r\n")
    assert "\n" not in added.replace("\r\n", "")  # never mixed line endings


def test_flow_mappings_are_edited_in_place() -> None:
    text = "image: {repository: ghcr.io/x, tag: 'v1'}  # flow\nother: [a, b]\n"
    out = set_values(text, {"image.tag": "v2", "image.repository": "ghcr.io/y"}, path=PATH)
    assert out == "image: {repository: ghcr.io/y, tag: 'v2'}  # flow\nother: [a, b]\n"
    added = set_one(text, "image.digest", "sha256:" + "a" * 64, add_missing=True)
    digest = '"sha256:' + "a" * 64 + '"'  # a colon inside {...} is quoted for every reader
    assert added == f"image: {{repository: ghcr.io/x, tag: 'v1', digest: {digest}}}  # flow\nother: [a, b]\n"
    assert get_value(added, "image.digest", path=PATH) == "sha256:" + "a" * 64


def test_odd_indentation_is_followed_for_added_keys() -> None:
    text = "app:\n     images:\n          api:\n               tag: v1\n"
    out = set_values(
        text, {"app.images.api.digest": "d", "app.images.web.tag": "w"}, path=PATH, add_missing=True
    )
    assert out == text + "               digest: d\n          web:\n               tag: w\n"


def test_final_newline_presence_is_kept() -> None:
    text = "image:\n  repository: x\n  tag: y"
    assert set_one(text, "image.tag", "z") == "image:\n  repository: x\n  tag: z"
    assert set_one(text, "image.digest", "d", add_missing=True) == text + "\n  digest: d"
    assert set_one(text, "image.tag", None) == "image:\n  repository: x"
    assert set_one(text + "\n", "image.tag", None) == "image:\n  repository: x\n"


# -- missing keys --------------------------------------------------------------------------------


def test_a_missing_key_needs_add_missing() -> None:
    with pytest.raises(ConfigError) as caught:
        set_one(VALUES, "image.digest", "sha256:" + "a" * 64)
    assert caught.value.message == f"{PATH}: image.digest: has no key digest under image"
    assert "add-missing: true" in (caught.value.fix or "")


def test_add_missing_creates_the_key_and_parents_in_the_files_indentation() -> None:
    out = set_one(VALUES, "image.digest", "sha256:abc", add_missing=True)
    assert out == VALUES.replace(
        "  pullPolicy: IfNotPresent\n", "  pullPolicy: IfNotPresent\n  digest: sha256:abc\n"
    )
    out = set_values(
        VALUES, {"worker.image.tag": "1.0", "worker.image.repository": "r"}, path=PATH, add_missing=True
    )
    assert out == VALUES + 'worker:\n  image:\n    tag: "1.0"\n    repository: r\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "image:\n  tag: v1\n"),
        ("# nothing yet\n", "# nothing yet\nimage:\n  tag: v1\n"),
        ("image:\nx: 1\n", "image:\n  tag: v1\nx: 1\n"),
        ("image: ~  # later\nx: 1\n", "image:  # later\n  tag: v1\nx: 1\n"),
        ("image: {}\n", "image: {tag: v1}\n"),
        ("top: {image: null}\n", "top: {image: {tag: v1}}\n"),
    ],
)
def test_add_missing_into_empty_and_null_places(text: str, expected: str) -> None:
    key = "top.image.tag" if text.startswith("top") else "image.tag"
    assert set_one(text, key, "v1", add_missing=True) == expected


def test_a_null_value_is_set_in_place() -> None:
    assert set_one("image:\n  tag:   # set by CI\n", "image.tag", "v1") == "image:\n  tag: v1   # set by CI\n"
    assert set_one("image:\n  tag: ~\n  x: 1\n", "image.tag", "v1") == "image:\n  tag: v1\n  x: 1\n"


# -- deleting ------------------------------------------------------------------------------------


def test_delete_removes_the_line_and_keeps_the_comments_around() -> None:
    text = "image:\n  tag: v1\n  # the digest pins it\n  digest: sha256:abc  # pinned\n  pullPolicy: Always\n"
    assert set_one(text, "image.digest", None) == (
        "image:\n  tag: v1\n  # the digest pins it\n  pullPolicy: Always\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("image: {tag: v1, digest: d}\n", "image: {tag: v1}\n"),
        ("image: {digest: d, tag: v1}\n", "image: {tag: v1}\n"),
        ("image: {digest: d}\n", "image: {}\n"),
    ],
)
def test_delete_in_a_flow_mapping(text: str, expected: str) -> None:
    assert set_one(text, "image.digest", None) == expected


def test_deleting_the_only_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="only key of its mapping"):
        set_one("image:\n  digest: d\n", "image.digest", None)


# -- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "needle"),
    [
        ("base: &b\n  tag: v1\nimage: *b\n", "image.tag", "image is a YAML anchor or alias (&b)"),
        ("image: &b\n  tag: v1\nother: *b\n", "image.tag", "image is a YAML anchor or alias (&b)"),
        ("image:\n  tag: &t v1\nother: *t\n", "image.tag", "is a YAML anchor or alias (&t/*t)"),
        ("base: &b {tag: v1}\nimage:\n  <<: *b\n  repository: r\n", "image.tag", "merge key (<<)"),
        ("image:\n  tag: v1\n  tag: v2\n", "image.tag", "appears twice"),
        ("image:\n  tag: |\n    v1\n", "image.tag", "block scalar"),
        ("image: ghcr.io/x\n", "image.tag", "image is not a mapping"),
        ("image:\n  tag: [v1]\n", "image.tag", "is a list"),
        ("image:\n  tag: !!int 1\n", "image.tag", "explicit YAML tag !!int"),
        ("image:\n\ttag: v1\n", "image.tag", "not valid YAML"),
    ],
)
def test_set_values_refuses(text: str, key: str, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        set_one(text, key, "v2", add_missing=True)
    assert needle in caught.value.message
    assert caught.value.message.startswith(f"{PATH}: ")
    assert caught.value.fix


def test_anchors_elsewhere_in_the_file_do_not_matter() -> None:
    text = "defaults: &d {cpu: 1}\nresources: *d\nimage:\n  tag: v1\n"
    assert set_one(text, "image.tag", "v2") == text.replace("tag: v1", "tag: v2")


def test_alias_bomb_is_refused_before_it_expands() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = "\n".join(lines) + "\nimage:\n  tag: v1\n"
    with pytest.raises(ConfigError) as caught:
        set_one(text, "image.tag", "v2")
    assert "YAML aliases" in caught.value.message and PATH in caught.value.message


def test_huge_input_is_refused_before_parsing() -> None:
    text = "image:\n  tag: v1\n" + "# filler\n" * 500_000
    with pytest.raises(ConfigError, match="characters long"):
        get_value(text, "image.tag", path=PATH)


def test_deep_nesting_is_refused() -> None:
    text = "a: " + "[" * 150 + "]" * 150 + "\n"
    with pytest.raises(ConfigError) as caught:
        set_one(text, "image.tag", "v1", add_missing=True)
    assert caught.value.message == f"{PATH}: nests more than 100 levels deep (line 1)"
    deep = "".join(" " * i + f"k{i}:\n" for i in range(98)) + " " * 98 + "tag: v1\n"  # 100 nodes deep
    assert get_value(deep, ".".join(f"k{i}" for i in range(98)) + ".tag", path=PATH) == "v1"
