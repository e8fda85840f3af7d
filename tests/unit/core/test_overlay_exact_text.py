"""core/overlay.py, the exact text written (written against mutation-testing survivors,
docs/testing.md): an in-place edit that goes wrong falls back to a full ruamel.yaml dump with the
same meaning, so only the exact output tells the in-place edit from the dump. Also: the dump
path's handling of comments below a removed digest, and which entry belongs to the container."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_release.core import overlay
from gitops_release.core.overlay import get_images, set_image
from gitops_release.core.yaml_limits import ANCHORS_FIX
from gitops_release.errors import ConfigError, PolicyError

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64


def edit(
    text: str, image: str = "ghcr.io/org/app", tag: str = "v2", digest: str | None = None, **kw: Any
) -> str:
    return set_image(text, image=image, tag=tag, digest=digest, path="k.yaml", **kw)


def test_quoted_values_with_escapes_are_replaced_in_place() -> None:
    text = "images:\n- name: ghcr.io/org/app\n  newTag: 'it''s'  # c\n  digest: \"a\\\"b\"  # d\n"
    assert edit(text, tag="v2", digest=NEW) == (
        f"images:\n- name: ghcr.io/org/app\n  newTag: 'v2'  # c\n  digest: \"{NEW}\"  # d\n"
    )


MIXED_NO_IMAGES = "resources:\n- ../base\npatches:\n    - path: x.yaml\n"


def test_a_new_images_key_leaves_a_file_indenting_lists_two_ways_alone() -> None:
    # The dump would re-indent patches: flush like resources:.
    out = edit(MIXED_NO_IMAGES, digest=NEW)
    assert out == MIXED_NO_IMAGES + f"images:\n- name: ghcr.io/org/app\n  newTag: v2\n  digest: {NEW}\n"
    # A file without a final line break stays without one.
    assert (
        edit(MIXED_NO_IMAGES.rstrip("\n"))
        == MIXED_NO_IMAGES + "images:\n- name: ghcr.io/org/app\n  newTag: v2"
    )


def test_a_new_images_key_takes_the_files_indented_list_style() -> None:
    text = "patches:\n    - path: x.yaml\nresources:\n  - ../base\n"
    assert edit(text) == text + "images:\n    - name: ghcr.io/org/app\n      newTag: v2\n"


def test_a_list_item_ending_in_a_colon_is_not_read_as_the_lists_key() -> None:
    text = "patches: # ours\n- target:\n    - x\n"
    assert edit(text) == text + "images:\n- name: ghcr.io/org/app\n  newTag: v2\n"


def test_an_entry_appended_after_a_last_entry_without_a_final_newline() -> None:
    text = "resources:\n    - ../base\nimages:\n  - name: a\n    newTag: v1"
    assert edit(text) == "resources:\n    - ../base\nimages:\n  - name: a\n    newTag: v1\n" + (
        "  - name: ghcr.io/org/app\n    newTag: v2"
    )


def test_an_entry_appended_after_one_whose_last_value_spans_lines() -> None:
    text = "resources:\n    - ../base\nimages:\n  - name: a\n    newTag:\n      v1\nlabels: []\n"
    assert edit(text) == (
        "resources:\n    - ../base\nimages:\n  - name: a\n    newTag:\n      v1\n"
        "  - name: ghcr.io/org/app\n    newTag: v2\nlabels: []\n"
    )


def test_an_entry_appended_after_one_with_a_dash_in_its_name() -> None:
    text = "resources:\n    - ../base\nimages:\n  -   name: my-app-x\n      newTag: v-1\n"
    assert edit(text) == text + "  -   name: ghcr.io/org/app\n      newTag: v2\n"


# -- the dump, when the line edit cannot be used --------------------------------------------------


def test_a_flow_style_images_list_is_dumped_keeping_the_rest_of_the_file() -> None:
    text = (
        "---\nmetadata:\n  name: x\n  labels:\n    a: b\nresources:\n  - ../base\n"
        "images: [{name: ghcr.io/org/app, newTag: '1.0.0'}]\n"
    )
    assert edit(text) == text.replace("'1.0.0'", "'v2'")
    flush = "resources:\n- ../base\nimages: [{name: ghcr.io/org/app, newTag: v1}]\n"
    assert edit(flush) == flush.replace("v1", "v2")


@pytest.mark.parametrize("images", ["images:\n", "images: []\n", "images: null\n"])
def test_an_empty_images_list_gets_a_block_entry(images: str) -> None:
    text = "kind: Kustomization\n" + images
    assert edit(text) == "kind: Kustomization\nimages:\n- name: ghcr.io/org/app\n  newTag: v2\n"


def test_an_empty_images_list_follows_the_files_indented_lists() -> None:
    text = "resources:\n  - ../base\nimages: []\n"
    assert edit(text) == "resources:\n  - ../base\nimages:\n  - name: ghcr.io/org/app\n    newTag: v2\n"


HEAD = "images:\n- name: ghcr.io/org/app\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            f"  newTag: !!str\n    v1\n  digest: {OLD}  # old\n  # keep me\n- name: y\n",
            "  newTag: v2\n  # keep me\n- name: y\n",
        ),
        (
            f"  newTag: !!str\n    v1  # tag note\n  digest: {OLD}\n  # keep me\n- name: y\n",
            "  newTag: v2 # tag note\n  # keep me\n- name: y\n",
        ),
        (f"  newTag: !!str\n    v1\n  digest: {OLD}  # inline\n- name: y\n", "  newTag: v2\n- name: y\n"),
        (f"  digest: {OLD}\n  newTag: !!str\n    v1\n- name: y\n", "  newTag: v2\n- name: y\n"),
        (f"  newTag: !!str\n    v1\n  digest: {OLD}\n  # keep me\n", "  newTag: v2\n  # keep me\n"),
        (f"  digest: {OLD}\n  # keep me\n  newTag: !!str\n    v1\n", "  # keep me\n  newTag: v2\n"),
        (
            f"  newTag: !!str\n    v1\n  digest: {OLD}\n\n  # keep me\n\n- name: y\n",
            "  newTag: v2\n\n  # keep me\n\n- name: y\n",
        ),
    ],
    ids=[
        "comment-below-an-inline-one",
        "previous-key-has-a-comment",
        "inline-comment-only",
        "no-comment-not-last",
        "comment-last",
        "right-after-the-name",
        "blank-lines-around",
    ],
)
def test_the_dump_hands_the_comment_lines_below_a_removed_digest_to_the_key_above(
    before: str, after: str
) -> None:
    # A tagged value (!!str) is beyond the in-place edit: the whole file is dumped.
    assert edit(HEAD + before) == HEAD + after


# -- which entry is the container's -----------------------------------------------------------


TWO = "images:\n- name: ghcr.io/org/app-a\n  newTag: v1\n- name: ghcr.io/org/app-b\n  newTag: v1\n"


def test_an_entry_named_after_another_container_is_refused_even_when_owned() -> None:
    with pytest.raises(PolicyError) as info:
        edit(
            TWO,
            image="ghcr.io/org/app-a",
            container="app-b",
            owned=("ghcr.io/org/app-a",),
            others=("app-a", "app-b"),
        )
    assert info.value.message == (
        "write-through: image 'ghcr.io/org/app-a' matches images[0] of k.yaml (name "
        "'ghcr.io/org/app-a'), an entry that does not belong to container 'app-b': another "
        "container's entry is never changed"
    )
    assert info.value.fix == (
        "send the image of container 'app-b'; an entry belongs to it when the last path component "
        "of its name or newName is 'app-b', or either is an image its policy source lists without "
        "globs (sources[].images) or db.json records for it there, and neither is named after "
        "another container"
    )


def test_the_container_itself_among_the_others_does_not_refuse_its_own_entry() -> None:
    out = edit(TWO, image="ghcr.io/org/app-b", container="app-b", others=("app-a", "app-b"))
    assert out == TWO[: -len("v1\n")] + "v2\n"


def test_an_owned_image_belongs_unless_named_after_another_container() -> None:
    text = "images:\n- name: ghcr.io/org/web\n  newTag: v1\n"
    out = edit(text, image="ghcr.io/org/web", container="app", owned=("ghcr.io/org/web",), others=("db",))
    assert get_images(out) == [{"name": "ghcr.io/org/web", "newTag": "v2"}]


def test_an_entry_neither_named_after_the_container_nor_owned_is_refused() -> None:
    text = "images:\n- name: redis\n  newTag: v1\n- name: ghcr.io/org/x\n  newTag: v1\n"
    with pytest.raises(PolicyError) as info:
        edit(text, image="ghcr.io/org/x", container="app", owned=("ghcr.io/org/app",))
    assert info.value.message.startswith(
        "write-through: image 'ghcr.io/org/x' matches images[1] of k.yaml (name 'ghcr.io/org/x'), "
        "an entry that does not belong to container 'app'"
    )


def test_an_entry_whose_new_name_is_another_containers_is_refused() -> None:
    text = "images:\n- name: app\n  newName: ghcr.io/org/worker\n  newTag: v1\n"
    with pytest.raises(PolicyError, match=r"matches images\[0\] of k\.yaml \(name 'app'\)"):
        edit(text, image="ghcr.io/org/app", container="app", others=("worker",))


def test_an_entry_appended_after_a_deeply_indented_first_entry_near_the_top() -> None:
    # The last entry ends on line 2, left of its keys' column (10): the new one goes right below.
    text = "images:\n      -   name: a\n          newTag: v1\nresources:\n- ../base\n"
    assert edit(text) == (
        "images:\n      -   name: a\n          newTag: v1\n"
        "      -   name: ghcr.io/org/app\n          newTag: v2\nresources:\n- ../base\n"
    )


# -- written against the second mutation run -----------------------------------------------------

INDENTED = "resources:\n    - ../base\n"  # the dump would indent images: by four as well


def test_a_crlf_file_is_edited_in_place() -> None:
    text = "images:\r\n- name: ghcr.io/org/app\r\n  newTag: v1\r\n"
    assert (
        edit(text, digest=NEW) == f"images:\r\n- name: ghcr.io/org/app\r\n  newTag: v2\r\n  digest: {NEW}\r\n"
    )


def test_a_crlf_file_with_comments_is_dumped_with_crlf_only() -> None:
    # The dump used to write "\n" between lines but keep the "\r" of each comment: mixed endings.
    text = "# top\r\nimages:\r\n- name: ghcr.io/org/app # main\r\n  newTag: !!str v1\r\n"
    assert edit(text) == "# top\r\nimages:\r\n- name: ghcr.io/org/app # main\r\n  newTag: v2\r\n"


def test_one_hundred_aliases_load_and_the_next_one_is_refused_naming_its_line() -> None:
    aliases = "x: &a 1\n" + "".join(f"y{i}: *a\n" for i in range(100))
    assert get_images(edit(aliases + "images: []\n")) == [{"name": "ghcr.io/org/app", "newTag": "v2"}]
    with pytest.raises(ConfigError) as info:
        edit(aliases + "y100: *a\nimages: []\n")
    assert info.value.message == "k.yaml: uses more than 100 YAML aliases (line 102)"
    assert info.value.fix == ANCHORS_FIX


def test_an_alias_bomb_is_refused_with_the_anchors_fix() -> None:
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 5)]
    with pytest.raises(ConfigError) as info:
        edit("\n".join(levels) + "\n")
    # Found on the composed nodes, with no line to name.
    assert info.value.message == (
        "k.yaml: has YAML aliases standing for 123,440 values (at most 10,000 are accepted)"
    )
    assert info.value.fix == ANCHORS_FIX


def test_an_anchored_value_is_refused_naming_the_key_and_the_anchor() -> None:
    with pytest.raises(ConfigError) as info:
        edit(INDENTED + "images:\n- name: ghcr.io/org/app\n  newTag: &t v1\n")
    assert info.value.message == "k.yaml: images[0].'newTag' is a YAML anchor or alias (&t/*t)"


def test_a_plain_tag_continued_on_the_next_line_is_replaced_whole_in_place() -> None:
    text = INDENTED + "images:\n- name: ghcr.io/org/app\n  newTag: v1\n    continued\n"
    assert edit(text) == INDENTED + "images:\n- name: ghcr.io/org/app\n  newTag: v2\n"


@pytest.mark.parametrize(
    ("old", "tag", "written"),
    [("'v1'", "it's", "'it''s'"), ("v1", "a:", '"a:"'), ("v1", "-x", '"-x"'), ("v1", "v1:", '"v1:"')],
)
def test_a_tag_plain_yaml_would_misread_is_quoted_in_place(old: str, tag: str, written: str) -> None:
    text = INDENTED + f"images:\n- name: ghcr.io/org/app\n  newTag: {old}\n"
    assert edit(text, tag=tag) == INDENTED + f"images:\n- name: ghcr.io/org/app\n  newTag: {written}\n"


def test_an_entry_named_like_the_image_with_another_new_name_gets_the_image_as_new_name() -> None:
    text = INDENTED + "images:\n- name: ghcr.io/org/app\n  newName: ghcr.io/org/old\n  newTag: v1\n"
    assert edit(text) == INDENTED + (
        "images:\n- name: ghcr.io/org/app\n  newName: ghcr.io/org/app\n  newTag: v2\n"
    )


def test_a_digest_first_in_its_item_hands_the_dash_to_the_edited_tag_below_it() -> None:
    text = INDENTED + "images:\n- digest: sha256:aa\n  newTag: v1\n  name: ghcr.io/org/app\n"
    assert edit(text) == INDENTED + "images:\n- newTag: v2\n  name: ghcr.io/org/app\n"
    # Past a comment line: the comment stays where it is, the dash goes to the key.
    text = INDENTED + "images:\n- digest: sha256:aa\n  # a note\n  newTag: v1\n  name: ghcr.io/org/app\n"
    assert edit(text) == INDENTED + "images:\n  # a note\n- newTag: v2\n  name: ghcr.io/org/app\n"


def test_a_removed_digest_line_goes_with_its_comment_wherever_it_stands() -> None:
    text = INDENTED + "images:\n- name: ghcr.io/org/app\n  newTag: v1\n  digest: sha256:aa  # note\n"
    assert edit(text) == INDENTED + "images:\n- name: ghcr.io/org/app\n  newTag: v2\n"
    text = INDENTED + "images:\n- name: ghcr.io/org/app\n  digest: sha256:aa\n  newTag: v1\n"
    assert edit(text) == INDENTED + "images:\n- name: ghcr.io/org/app\n  newTag: v2\n"


def test_a_key_inserted_after_a_last_line_without_a_newline() -> None:
    text = INDENTED + "images:\n- name: ghcr.io/org/app\n  newTag: v1"
    assert edit(text, digest=NEW) == INDENTED + (
        f"images:\n- name: ghcr.io/org/app\n  newTag: v2\n  digest: {NEW}"
    )


def test_a_key_inserted_right_after_the_first_line_of_the_file() -> None:
    text = "images:\n- name: app\n  newTag: v1\nresources:\n    - ../base\n"
    assert edit(text, container="app") == (
        "images:\n- name: app\n  newName: ghcr.io/org/app\n  newTag: v2\nresources:\n    - ../base\n"
    )


def test_the_dump_never_folds_a_long_line() -> None:
    text = "images: [{name: ghcr.io/org/app, newTag: v1}]\ndescription: " + " ".join(["word"] * 30) + "\n"
    assert edit(text) == text.replace("v1", "v2")


def test_a_document_past_the_comparison_budget_is_dumped(monkeypatch: pytest.MonkeyPatch) -> None:
    text = INDENTED + "images:\n- name: ghcr.io/org/app\n  newTag: v1\n"
    nodes = 11  # the top mapping, its 2 keys, 2 lists, 1 item, 1 entry, its 2 keys and 2 values
    monkeypatch.setattr(overlay, "_PLAIN_BUDGET", nodes)
    assert edit(text) == text.replace("v1", "v2")  # the line edit
    monkeypatch.setattr(overlay, "_PLAIN_BUDGET", nodes - 1)
    assert edit(text) == INDENTED + "images:\n    - name: ghcr.io/org/app\n      newTag: v2\n"


MIXED = "resources:\n- ../base\npatches:\n    - path: x.yaml\n"  # the dump indents patches: flush


def test_a_flow_style_entry_is_edited_in_place() -> None:
    text = MIXED + "images:\n- {name: ghcr.io/org/app, newTag: v1}\n"
    assert edit(text) == MIXED + "images:\n- {name: ghcr.io/org/app, newTag: v2}\n"
    text = MIXED + "images:\n- {name: a, newTag: v1}\n"
    assert edit(text) == text + "- {name: ghcr.io/org/app, newTag: v2}\n"


def test_a_digest_first_hands_its_dash_to_the_key_below_it_unedited() -> None:
    text = INDENTED + "images:\n- digest: sha256:aa\n  name: ghcr.io/org/app\n  newTag: v1\n"
    assert edit(text) == INDENTED + "images:\n- name: ghcr.io/org/app\n  newTag: v2\n"
