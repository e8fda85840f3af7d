"""core/values at the edges: headers and markers, odd scalars, several edits of one mapping,
conflicting key paths, and splices refused rather than guessed."""

from __future__ import annotations

import inspect
import random
import sys
import warnings

import pytest
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from gitops_release.core.values import _plain_ok, get_value, set_values
from gitops_release.errors import ConfigError

PATH = "values-dev.yaml"


def test_yaml_directive_and_document_markers_are_kept() -> None:
    text = "%YAML 1.1\n---\nimage:\n  tag: v1\n...\n"
    assert set_values(text, {"image.tag": "v2"}, path=PATH) == text.replace("v1", "v2")
    added = set_values(text, {"image.digest": "d"}, path=PATH, add_missing=True)
    assert added == "%YAML 1.1\n---\nimage:\n  tag: v1\n  digest: d\n...\n"
    # YAML 1.1 reads yes/on/0123 as bool/int: quoted
    assert set_values(text, {"image.tag": "on"}, path=PATH) == text.replace("v1", '"on"')


def test_keys_added_after_a_block_scalar_take_the_files_crlf() -> None:
    text = "notes: |\r\n  x\r\n"
    out = set_values(text, {"image.tag": "v2"}, path=PATH, add_missing=True)
    assert out == "notes: |\r\n  x\r\nimage:\r\n  tag: v2\r\n"


def test_a_redefined_anchor_is_read_without_a_warning() -> None:
    text = "a: &x 1\nb: &x 2\nc: *x\nimage:\n  tag: v1\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert set_values(text, {"image.tag": "v2"}, path=PATH) == text.replace("v1", "v2")


def test_a_second_document_is_refused() -> None:
    for text in ("image:\n  tag: v1\n---\n", "a: 1\n---\nimage:\n  tag: v1\n"):
        with pytest.raises(ConfigError, match="has 2 YAML documents"):
            set_values(text, {"image.tag": "v2"}, path=PATH)


def test_tabs_in_comments_are_kept_tabs_as_separators_are_refused() -> None:
    text = "image:\n  tag: v1 #\ttab\tcomment\n"
    assert set_values(text, {"image.tag": "v2"}, path=PATH) == "image:\n  tag: v2 #\ttab\tcomment\n"
    # ruamel.yaml (and so this editor) reads no tab between a key and its value, nor as indentation
    for text in ("image:\n  tag:\tv1\n", "image:\n\ttag: v1\n"):
        with pytest.raises(ConfigError) as caught:
            set_values(text, {"image.tag": "v2"}, path=PATH)
        assert caught.value.message == f"{PATH}: is not valid YAML at line 2"


def test_multi_line_flow_scalars_become_one_line() -> None:
    text = "image:\n  tag: a\n    b\n  repository: r\n"
    assert get_value(text, "image.tag", path=PATH) == "a b"
    assert set_values(text, {"image.tag": "v2"}, path=PATH) == "image:\n  tag: v2\n  repository: r\n"
    text = 'image:\n  tag: "a\n    b"  # c\n'
    assert set_values(text, {"image.tag": "v2"}, path=PATH) == 'image:\n  tag: "v2"  # c\n'


@pytest.mark.parametrize(
    "value",
    ["naïve-tag", "line\nbreak", "bell\x07", "nbsp\u00a0x", "emoji\U0001f680", "ls\u2028x", "tag\U000e0001x"],
)
def test_any_string_reads_back(value: str) -> None:
    for text in ("image:\n  tag: v1\n", "image:\n  tag: 'v1'\n", "image: {tag: v1}\n"):
        out = set_values(text, {"image.tag": value}, path=PATH)
        assert get_value(out, "image.tag", path=PATH) == value
        assert out.count("\n") == text.count("\n")  # still one line


def test_keys_that_yaml_would_not_read_as_strings_are_quoted_when_added() -> None:
    out = set_values(
        "a: 1\n", {"labels.on": "x", "labels.123": "y", "labels.a b": "z"}, path=PATH, add_missing=True
    )
    assert out == 'a: 1\nlabels:\n  "on": x\n  "123": "y"\n  "a b": z\n'
    assert get_value(out, "labels.on", path=PATH) == "x"
    assert get_value(out, "labels.123", path=PATH) == "y"


def test_a_key_with_a_dot_is_added_whole() -> None:
    out = set_values(
        "nodeSelector: {}\n", {"nodeSelector.kubernetes\\.io/os": "linux"}, path=PATH, add_missing=True
    )
    assert out == "nodeSelector: {kubernetes.io/os: linux}\n"


def test_the_top_level_may_be_a_flow_mapping() -> None:
    text = "{image: {tag: v1}, replicas: 2}\n"
    out = set_values(
        text, {"image.tag": "v2", "image.digest": "d", "replicas": None}, path=PATH, add_missing=True
    )
    assert out == "{image: {tag: v2, digest: d}}\n"


# -- several edits in one mapping ----------------------------------------------------------------


def test_consecutive_deleted_lines_go_together_and_no_final_newline_appears() -> None:
    text = "image:\n  repository: r\n  tag: v1\n  digest: d"
    out = set_values(text, {"image.tag": None, "image.digest": None}, path=PATH)
    assert out == "image:\n  repository: r"
    crlf = text.replace("\n", "\r\n")
    assert (
        set_values(crlf, {"image.tag": None, "image.digest": None}, path=PATH) == "image:\r\n  repository: r"
    )


def test_deleting_every_key_is_refused_unless_one_is_added() -> None:
    text = "image:\n  tag: v1\n  digest: d\nother: 1\n"
    with pytest.raises(ConfigError) as caught:
        set_values(text, {"image.tag": None, "image.digest": None}, path=PATH)
    assert caught.value.message == (
        f"{PATH}: image.tag, image.digest: are all the keys of its mapping: deleting would leave the "
        "mapping null"
    )
    out = set_values(
        text, {"image.tag": None, "image.digest": None, "image.ref": "r"}, path=PATH, add_missing=True
    )
    assert out == "image:\n  ref: r\nother: 1\n"


@pytest.mark.parametrize(
    ("deleted", "expected"),
    [
        (("a",), "{b: 2, c: 3}"),
        (("b",), "{a: 1, c: 3}"),
        (("c",), "{a: 1, b: 2}"),
        (("a", "b"), "{c: 3}"),
        (("b", "c"), "{a: 1}"),
        (("a", "c"), "{b: 2}"),
        (("a", "b", "c"), "{}"),
    ],
)
def test_flow_deletions_take_their_commas(deleted: tuple[str, ...], expected: str) -> None:
    text = "m: {a: 1, b: 2, c: 3}  # flow\n"
    out = set_values(text, dict.fromkeys((f"m.{k}" for k in deleted), None), path=PATH)
    assert out == f"m: {expected}  # flow\n"


def test_an_emptied_flow_mapping_takes_an_added_key() -> None:
    out = set_values("m: {a: 1}\n", {"m.a": None, "m.b": "2.0"}, path=PATH, add_missing=True)
    assert out == 'm: {b: "2.0"}\n'


def test_keys_added_at_one_place_nest_before_the_shallower_ones() -> None:
    text = "a:\n  b:\n    c: 1"
    out = set_values(text, {"x": "1", "a.w": "2", "a.b.z": "3"}, path=PATH, add_missing=True)
    assert out == 'a:\n  b:\n    c: 1\n    z: "3"\n  w: "2"\nx: "1"'


def test_conflicting_key_paths_in_one_change_are_refused() -> None:
    with pytest.raises(ConfigError, match="conflicts with another key path"):
        set_values("a: 1\n", {"new.x": "1", "new.x.y": "2"}, path=PATH, add_missing=True)
    with pytest.raises(ConfigError, match="conflicts with another key path"):
        set_values("a: 1\n", {"new.x.y": "2", "new.x": "1"}, path=PATH, add_missing=True)


# -- refused rather than guessed -----------------------------------------------------------------


def test_a_comment_inside_a_flow_mapping_is_never_deleted() -> None:
    text = "m: {a: 1,  # keep\n  b: 2}\n"
    with pytest.raises(ConfigError) as caught:
        set_values(text, {"m.b": None}, path=PATH)
    assert (
        "cannot be edited in place safely (a comment or more stands between the keys)" in caught.value.message
    )
    assert set_values(text, {"m.b": "b3"}, path=PATH) == text.replace("b: 2", "b: b3")


def test_a_key_not_starting_its_line_is_not_deleted() -> None:
    with pytest.raises(ConfigError, match="the key does not start its line"):
        set_values("? a\n: 1\nb: 2\n", {"a": None}, path=PATH)


def test_a_key_without_a_colon_is_not_spliced_after() -> None:
    with pytest.raises(ConfigError) as caught:
        set_values("b: 1\n? a\n", {"c": "v1"}, path=PATH, add_missing=True)
    assert caught.value.message == (
        f"{PATH}: c: cannot be edited in place safely (key a is not followed by a colon)"
    )


@pytest.mark.parametrize(
    ("text", "changes", "needle"),
    [
        ("? tag\nb: 1\n", {"tag": "v1"}, "(the key is not followed by a colon)"),
        ("? image\nb: 1\n", {"image.tag": "v1"}, "(the key is not followed by a colon)"),
        ("m: {image}\n", {"m.image.tag": "v1"}, "(the key is not followed by a colon)"),
        ("image: ~\nb: 1\n", {"image": None, "image.tag": "v1"}, "edits of the same change overlap"),
    ],
)
def test_shapes_the_splice_does_not_handle_are_refused(
    text: str, changes: dict[str, str | None], needle: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        set_values(text, changes, path=PATH, add_missing=True)
    assert needle in caught.value.message and caught.value.message.startswith(f"{PATH}: ")


def test_a_null_in_a_flow_mapping_gets_a_flow_mapping() -> None:
    out = set_values("m: {image: , b: 1}\n", {"m.image.tag": "v1"}, path=PATH, add_missing=True)
    assert out == "m: {image: {tag: v1} , b: 1}\n"  # the space before the comma stays


def test_an_anchored_null_is_not_replaced() -> None:
    with pytest.raises(ConfigError, match=r"image is a YAML anchor or alias \(&a\)"):
        set_values("image: &a ~\nother: *a\n", {"image.tag": "v1"}, path=PATH, add_missing=True)


@pytest.mark.parametrize("text", ["image:\n  tag: !!null\n", "image:\n  tag: !!str\n", "image: !!null\n"])
def test_a_splice_reading_back_as_another_document_is_refused(text: str) -> None:
    # an empty value with an explicit tag: the marks put the value after the tag, the splice
    # lands before it; the check of the result catches that
    with pytest.raises(ConfigError) as caught:
        set_values(text, {"image.tag": "v1"}, path=PATH, add_missing=True)
    assert caught.value.message == (
        f"{PATH}: image.tag: cannot be edited in place safely (the edited file would not read back "
        "as intended)"
    )


def test_an_edit_that_would_not_read_back_is_refused() -> None:
    # "..." ends the empty document: keys appended after it would start a second one
    with pytest.raises(ConfigError) as caught:
        set_values("---\n...\n", {"image.tag": "v1"}, path=PATH, add_missing=True)
    assert caught.value.message == (
        f"{PATH}: image.tag: cannot be edited in place safely (the edited file would not read back: "
        "it has 2 YAML documents (a values file has one))"
    )


@pytest.mark.parametrize("tag", ["!!int", "!custom", "!!binary"])
def test_explicit_tags_other_than_str_are_refused(tag: str) -> None:
    with pytest.raises(ConfigError) as caught:
        set_values(f"image:\n  tag: {tag} 12\n", {"image.tag": "13"}, path=PATH)
    assert caught.value.message == f"{PATH}: image.tag: has the explicit YAML tag {tag} (line 2)"
    text = "image:\n  tag: !!str   12  # c\n"
    assert set_values(text, {"image.tag": "13"}, path=PATH) == "image:\n  tag: !!str   13  # c\n"


def test_reading_through_anchors_is_allowed_writing_is_not() -> None:
    text = "base: &b\n  tag: v1\nimage: *b\n"
    assert get_value(text, "image.tag", path=PATH) == "v1"
    with pytest.raises(ConfigError, match="anchor or alias"):
        set_values(text, {"image.tag": "v2"}, path=PATH)


def test_messages_name_the_file_the_key_path_and_the_fix() -> None:
    with pytest.raises(ConfigError) as caught:
        set_values("image:\n  repository: r\n", {"image.tag": "v1"}, path=PATH)
    assert caught.value.one_line() == (
        f"{PATH}: image.tag: has no key tag under image. Fix: create the key in the file, or set "
        "add-missing: true to have it added"
    )
    with pytest.raises(ConfigError) as caught:
        set_values("a: 1\n", {"app.images.api.tag": "v1"}, path=PATH)
    assert caught.value.message == f"{PATH}: app.images.api.tag: has no key app"


# -- pinned from mutation testing ----------------------------------------------------------------


def test_plain_values_are_only_those_every_yaml_resolver_reads_as_strings() -> None:
    resolvers = (VersionedResolver(version=(1, 1)), VersionedResolver(version=(1, 2)))
    alphabet = "0123456789._:-+eEoxbTtZzYyNnaAlsfru=/@"
    rng = random.Random(8)
    samples = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(20_000)}
    samples |= {"yes", "No", "ON", "off", "True", "Null", "~", ".inf", "-.Inf", ".NaN", "2002-12-14", "1_000"}
    samples |= {"0b1010", "0o17", "0x_1F", "190:20:30", "1.5e+3", "1.", "=", "2001-12-14t21:59:43.10-05:00"}
    for value in samples:
        if _plain_ok(value, flow=False):
            assert [str(r.resolve(ScalarNode, value, (True, False))) for r in resolvers] == [
                "tag:yaml.org,2002:str"
            ] * 2, value


def test_a_value_ending_in_a_colon_is_quoted() -> None:
    assert set_values("tag: v1\n", {"tag": "v2:"}, path=PATH) == 'tag: "v2:"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\nb: 1\nc: 2\n", "\nc: 2\n"),  # a line break first in the file
        ("a: 1\rb: 2\rc: 3\r", "a: 1\rc: 3\r"),  # old Mac line ends
        ("\ufeffb: 1\nc: 2\n", "\ufeffc: 2\n"),  # the BOM stays when the first line goes
    ],
)
def test_deleted_lines_are_found_after_any_line_break(text: str, expected: str) -> None:
    assert set_values(text, {"b": None}, path=PATH) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:\n  list:\n  - x\nb: 1\n", "a:\n  list:\n  - x\n  t: v\nb: 1\n"),
        ("a:\n  list:\n  -\nb: 1\n", "a:\n  list:\n  -\n  t: v\nb: 1\n"),  # an empty last item
    ],
)
def test_keys_are_added_after_a_list_ending_the_mapping(text: str, expected: str) -> None:
    assert set_values(text, {"a.t": "v"}, path=PATH, add_missing=True) == expected


def test_keys_with_colons_are_quoted_inside_braces_only() -> None:
    out = set_values("m: {a: 1}\n", {"m.x.z": "v", "m.k:8": "w"}, path=PATH, add_missing=True)
    assert out == 'm: {a: 1, x: {z: v}, "k:8": w}\n'
    out = set_values("m:\n  a: 1\n", {"m.x.z": "v", "m.k:8": "w"}, path=PATH, add_missing=True)
    assert out == "m:\n  a: 1\n  x:\n    z: v\n  k:8: w\n"


def test_keys_added_at_one_place_nest_before_the_shallower_ones_with_a_final_newline() -> None:
    text = "a:\n  b:\n    c: 1\n"
    out = set_values(text, {"x": "1", "a.w": "2", "a.b.z": "3"}, path=PATH, add_missing=True)
    assert out == 'a:\n  b:\n    c: 1\n    z: "3"\n  w: "2"\nx: "1"\n'


def test_an_unchanged_key_does_not_stop_the_next_one() -> None:
    text = "a: v1\nb: v1\n"
    assert set_values(text, {"a": "v1", "b": "v2"}, path=PATH) == "a: v1\nb: v2\n"


def test_two_null_keys_of_one_mapping_each_get_their_keys() -> None:
    text = "image:\nworker:\n"
    out = set_values(text, {"image.tag": "a", "worker.tag": "b"}, path=PATH, add_missing=True)
    assert out == "image:\n  tag: a\nworker:\n  tag: b\n"


def test_depth_counts_the_current_path_only() -> None:
    siblings = "".join(f"k{i}: 1\n" for i in range(300))
    deep = "d: " + "[" * 120 + "]" * 120 + "\n"
    with pytest.raises(ConfigError, match="nests more than 100 levels deep"):
        get_value(siblings + deep, "k0", path=PATH)
    # 60 down, back up to 1, 60 down again: never deeper than 62
    nested = "d: " + "[" * 60 + "x" + "]" * 59 + ", " + "[" * 59 + "]" * 60 + "\n"
    assert get_value(nested, "k0", path=PATH) is None
    with pytest.raises(ConfigError, match="nests more than 100 levels deep"):
        # back in the first list (depth 2), 99 more lists: 101 deep
        get_value("d: " + "[" * 60 + "x" + "]" * 59 + ", " + "[" * 99 + "]" * 100 + "\n", "k0", path=PATH)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:\n    b: 1\nc:\n    d: 1\ne:\n  f: 1\n", "    tag: v\n"),  # 4 twice, 2 once: 4
        ("a:\n    b: 1\ne:\n  f: 1\n", "  tag: v\n"),  # a tie: the smaller
        ("a: &x\n   b: 1\nc: *x\ne:\n  f: 1\ng:\n  h: 1\n", "  tag: v\n"),  # an alias is counted once
    ],
)
def test_new_mappings_take_the_files_most_common_indentation(text: str, expected: str) -> None:
    assert set_values(text, {"new.tag": "v"}, path=PATH, add_missing=True) == text + "new:\n" + expected


@pytest.mark.parametrize("value", ["bom\ufeffx", "nel\x85x", "nbsp\xa0x", "del\x7fx", "nc\uffffx"])
def test_characters_yaml_cannot_show_are_escaped(value: str) -> None:
    for old in ("v1", "'v1'", '"v1"'):
        out = set_values(f"tag: {old}\n", {"tag": value}, path=PATH)
        assert out.isascii()  # escaped, never written raw
        assert get_value(out, "tag", path=PATH) == value


@pytest.mark.parametrize(
    ("text", "changes", "expected"),
    [
        # the line ending of a last line without one comes from the rest of the file
        ("a: 1\r\nb: 2", {"c": "v"}, "a: 1\r\nb: 2\r\nc: v"),
        ("a: 1\rb: 2\rc: 3\r", {"c": None}, "a: 1\rb: 2\r"),
        # a block scalar ending the mapping: the keys go right after it
        ("a: |\n  x\n", {"b": "v"}, "a: |\n  x\nb: v\n"),
        ("a: |\n  x\n\nz: 1\n", {"a2": "v"}, "a: |\n  x\n\nz: 1\na2: v\n"),
        # nested new keys: block keys may hold a colon, flow keys and values may not
        ("m:\n  a: 1\n", {"m.k:8.z": "sha256:ab"}, "m:\n  a: 1\n  k:8:\n    z: sha256:ab\n"),
        ("m: {a: 1}\n", {"m.x.d": "sha256:ab"}, 'm: {a: 1, x: {d: "sha256:ab"}}\n'),
        ("m: {image: ~}\n", {"m.image.d": "sha256:ab"}, 'm: {image: {d: "sha256:ab"}}\n'),
        ("image:\nx: 1\n", {"image.a.d": "sha256:ab"}, "image:\n  a:\n    d: sha256:ab\nx: 1\n"),
        ("", {"d": "sha256:ab"}, "d: sha256:ab\n"),
        (" ", {"image.tag": "v1"}, " \nimage:\n  tag: v1"),
        ("# c\r", {"image.tag": "v1"}, "# c\rimage:\r  tag: v1\r"),
        ("image: !!map {}\n", {"image.tag": "v1"}, "image: !!map {tag: v1}\n"),
        ('tag: "v1"\n', {"tag": "X-1"}, 'tag: "X-1"\n'),
    ],
)
def test_more_places_and_styles(text: str, changes: dict[str, str | None], expected: str) -> None:
    assert set_values(text, changes, path=PATH, add_missing=True) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:\n b: 1\n", " tag: v\n"),  # one space
        ("a:\n  b:\n      c: 1\n      d:\n          e: 1\n", "    tag: v\n"),  # seen only below the top
        ("a: &x\n   b: 1\nc: *x\ne:\n  f: 1\n", "  tag: v\n"),  # 3 (once, the alias is the same) ties 2
    ],
)
def test_the_indentation_vote(text: str, expected: str) -> None:
    assert set_values(text, {"new.tag": "v"}, path=PATH, add_missing=True) == text + "new:\n" + expected


def test_complex_and_repeated_merge_keys_are_not_duplicates() -> None:
    assert get_value("? [k]\n: 1\nc: 2\n", "c", path=PATH) == "2"
    text = "x: &x {p: 1}\ny: &y {q: 1}\na:\n  <<: *x\n  <<: *y\nb: v\n"
    assert get_value(text, "b", path=PATH) == "v"


def test_a_parser_recursion_error_is_a_config_error() -> None:
    text = "a: " + "[" * 90 + "]" * 90 + "\n"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 150)
    try:
        with pytest.raises(ConfigError) as caught:
            get_value(text, "a", path=PATH)
    finally:
        sys.setrecursionlimit(limit)
    assert caught.value.one_line() == f"{PATH}: nests too deeply. Fix: flatten the values file"


def test_empty_values_next_to_edits() -> None:
    assert set_values("a: 1\ntag:\n", {"tag": None}, path=PATH) == "a: 1\n"
    # an empty value inside braces leaves nothing to splice against: refused, never guessed
    for text, changes in (("m: {a: , b: 1}\n", {"m.b": None}), ("m: {b: 1, a: }\n", {"m.c": "v"})):
        with pytest.raises(ConfigError, match="would not read back as intended"):
            set_values(text, changes, path=PATH, add_missing=True)


def test_a_comment_inside_a_run_of_deleted_flow_pairs_is_found() -> None:
    with pytest.raises(ConfigError, match="a comment or more stands between the keys"):
        set_values("m: {a: 1, b: 2,  # c\n  c: 3, d: 4}\n", dict.fromkeys(["m.a", "m.b", "m.c"]), path=PATH)


def test_a_mapping_reached_twice_through_an_alias_votes_once() -> None:
    text = "a: &x\n   b:\n      c: 1\nd: *x\ne:\n  f: 1\ng:\n  h: 1\n"  # 3 twice, 2 twice: 2
    assert set_values(text, {"new.tag": "v"}, path=PATH, add_missing=True) == text + "new:\n  tag: v\n"
