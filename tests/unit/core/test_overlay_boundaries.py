"""core/overlay.py: shapes and messages the broader tests leave open (written against
mutation-testing survivors, docs/testing.md): which entry wins, where a missing key goes,
which tags must be quoted, and each refusal's exact text and fix."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_release.core.overlay import get_images, set_image
from gitops_release.errors import ConfigError

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
FIX = "give the path of a kustomization.yaml whose images: is a list of {name, newName, newTag, digest}"


def edit(
    text: str, image: str = "ghcr.io/org/app", tag: str = "v2", digest: str | None = None, **kw: Any
) -> str:
    return set_image(text, image=image, tag=tag, digest=digest, path="k.yaml", **kw)


@pytest.mark.parametrize(
    ("text", "message", "fix"),
    [
        ("a: [\n", "k.yaml: is not valid YAML at line 2", "fix the YAML syntax"),
        ("- a\n", "k.yaml: is not a kustomization (the top level is not a mapping)", FIX),
        ("kind: Deployment\n", "k.yaml: kind 'Deployment' is not a Kustomization", FIX),
        ("images: {a: 1}\n", "k.yaml: images must be a list", FIX),
        ("images:\n- name: a\n- newTag: b\n", "k.yaml: images[1] must be a mapping with a name", FIX),
        ("images:\n- name: 3\n", "k.yaml: images[0] must be a mapping with a name", FIX),
        ("images:\n- x\n", "k.yaml: images[0] must be a mapping with a name", FIX),
    ],
)
def test_each_refusal_names_the_file_and_the_fix(text: str, message: str, fix: str) -> None:
    for call in (lambda: edit(text), lambda: get_images(text, path="k.yaml")):
        with pytest.raises(ConfigError) as info:
            call()
        assert info.value.message == message
        assert info.value.fix == fix


@pytest.mark.parametrize("kind", ["Kustomization", "Component"])
def test_a_kustomization_or_a_component_is_edited(kind: str) -> None:
    assert get_images(edit(f"kind: {kind}\n")) == [{"name": "ghcr.io/org/app", "newTag": "v2"}]


def test_an_empty_file_gets_an_images_list() -> None:
    assert get_images(edit("", digest=NEW)) == [{"name": "ghcr.io/org/app", "newTag": "v2", "digest": NEW}]


@pytest.mark.parametrize(
    "tag",
    ["1.4", "1e3", "0x1F", "0o17", "017", ".inf", "yes", "No", "on", "null", "~", "12:30", "y", "-1", "+.5"],
)
def test_a_tag_yaml_would_read_as_a_number_or_boolean_is_double_quoted(tag: str) -> None:
    text = edit("images: []\n", tag=tag)
    assert f'newTag: "{tag}"' in text
    assert get_images(text) == [{"name": "ghcr.io/org/app", "newTag": tag}]


@pytest.mark.parametrize("tag", ["v1.4", "1.4.0", "sha-1a2b3c4d", "1.4-rc"])
def test_a_tag_that_stays_a_string_is_written_plain(tag: str) -> None:
    assert f"newTag: {tag}\n" in edit("images: []\n", tag=tag)


def test_an_entry_named_like_the_image_wins_over_one_whose_new_name_is() -> None:
    text = (
        "images:\n- name: other\n  newName: ghcr.io/org/app\n  newTag: v0\n"
        "- name: ghcr.io/org/app\n  newTag: v0\n"
    )
    assert get_images(edit(text)) == [
        {"name": "other", "newName": "ghcr.io/org/app", "newTag": "v0"},
        {"name": "ghcr.io/org/app", "newTag": "v2"},
    ]


def test_an_entry_whose_new_name_is_the_image_wins_over_a_container_match() -> None:
    text = (
        "images:\n- name: registry/app\n  newTag: v0\n"
        "- name: other\n  newName: ghcr.io/org/web\n  newTag: v0\n"
    )
    # The newName entry is the container's own only because its image is owned (policy or db.json).
    out = get_images(edit(text, image="ghcr.io/org/web", container="app", owned=("ghcr.io/org/web",)))
    assert out == [
        {"name": "registry/app", "newTag": "v0"},
        {"name": "other", "newName": "ghcr.io/org/web", "newTag": "v2"},
    ]


def test_a_container_matches_the_last_component_of_a_new_name() -> None:
    text = "images:\n- name: placeholder\n  newName: old.io/org/app\n  newTag: v0\n"
    assert get_images(edit(text, container="app")) == [
        {"name": "placeholder", "newName": "ghcr.io/org/app", "newTag": "v2"}
    ]


def test_without_a_container_no_entry_is_matched_by_its_last_component() -> None:
    text = "images:\n- name: old.io/org/app\n  newTag: v0\n"
    assert get_images(edit(text)) == [
        {"name": "old.io/org/app", "newTag": "v0"},
        {"name": "ghcr.io/org/app", "newTag": "v2"},
    ]


def test_a_missing_tag_goes_after_the_name_and_before_the_digest() -> None:
    text = edit(f"images:\n- name: ghcr.io/org/app\n  digest: {OLD}\n", digest=NEW)
    assert text == f"images:\n- name: ghcr.io/org/app\n  newTag: v2\n  digest: {NEW}\n"


def test_a_missing_digest_goes_last_and_a_missing_new_name_after_the_name() -> None:
    text = edit("images:\n- newTag: v0\n  name: app\n", digest=NEW, container="app")
    assert text == f"images:\n- newTag: v2\n  name: app\n  newName: ghcr.io/org/app\n  digest: {NEW}\n"


def test_an_unchanged_entry_with_a_numeric_tag_is_rewritten_as_a_string() -> None:
    text = "images:\n- name: ghcr.io/org/app\n  newTag: 12\n"
    assert edit(text, tag="12") == 'images:\n- name: ghcr.io/org/app\n  newTag: "12"\n'


def test_an_explicit_document_start_is_kept() -> None:
    text = edit(f"---\nimages:\n- name: ghcr.io/org/app\n  digest: {OLD}\n", digest=NEW)
    assert text.startswith("---\n")
    assert get_images(text) == [{"name": "ghcr.io/org/app", "newTag": "v2", "digest": NEW}]


def test_get_images_leaves_out_null_values_and_gives_strings() -> None:
    text = "images:\n- name: x\n  newTag: 12\n  newName: null\n- name: y\n"
    assert get_images(text) == [{"name": "x", "newTag": "12"}, {"name": "y"}]
    assert get_images("kind: Kustomization\n") == []


def test_the_default_path_is_kustomization_yaml() -> None:
    for call in (
        lambda: set_image("- a\n", image="x", tag="v1", digest=None),
        lambda: get_images("- a\n"),
    ):
        with pytest.raises(ConfigError) as info:
            call()
        assert info.value.message.startswith("kustomization.yaml: ")


def test_text_yaml_cannot_read_at_all_names_no_line() -> None:
    with pytest.raises(ConfigError) as info:
        edit("a: \x00\n")
    assert info.value.message == "k.yaml: is not valid YAML"


@pytest.mark.parametrize(
    "text",
    ["kind: Kustomization\nresources:\n  - a\n", "spec:\n  items:\n    - a\n"],
    ids=["list-at-the-end", "nested-list"],
)
def test_a_new_images_list_follows_the_files_first_list(text: str) -> None:
    assert edit(text).endswith("images:\n  - name: ghcr.io/org/app\n    newTag: v2\n")


def test_a_single_quoted_tag_stays_single_quoted() -> None:
    assert edit("images:\n- name: ghcr.io/org/app\n  newTag: 'v1'\n") == (
        "images:\n- name: ghcr.io/org/app\n  newTag: 'v2'\n"
    )


def test_a_new_name_alone_is_a_change() -> None:
    text = "images:\n- name: app\n  newName: old.io/app\n  newTag: v2\n"
    assert edit(text, container="app") == "images:\n- name: app\n  newName: ghcr.io/org/app\n  newTag: v2\n"


def test_a_new_tag_with_the_same_digest_is_a_change() -> None:
    text = f"images:\n- name: ghcr.io/org/app\n  newTag: v1\n  digest: {OLD}\n"
    assert edit(text, digest=OLD) == f"images:\n- name: ghcr.io/org/app\n  newTag: v2\n  digest: {OLD}\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (
            f"  newTag: v1\n  digest: {OLD}  # old\n  # keep me\n- name: y\n",
            "  newTag: v2\n  # keep me\n- name: y\n",
        ),
        (
            f"  newTag: v1  # tag note\n  digest: {OLD}\n  # keep me\n- name: y\n",
            "  newTag: v2  # tag note\n  # keep me\n- name: y\n",
        ),
        (f"  newTag: v1\n  digest: {OLD}  # inline\n- name: y\n", "  newTag: v2\n- name: y\n"),
        (f"  digest: {OLD}\n  newTag: v1\n- name: y\n", "  newTag: v2\n- name: y\n"),
        (f"  newTag: v1\n  digest: {OLD}\n", "  newTag: v2\n"),
        (f"  digest: {OLD}\n  # keep me\n  newTag: v1\n", "  # keep me\n  newTag: v2\n"),
    ],
    ids=[
        "comment-below-an-inline-one",
        "previous-key-has-a-comment",
        "inline-comment-only",
        "no-comment-not-last",
        "no-comment-last",
        "right-after-the-name",
    ],
)
def test_a_removed_digest_hands_the_comment_lines_below_it_to_the_key_above(before: str, after: str) -> None:
    head = "images:\n- name: ghcr.io/org/app\n"
    assert edit(head + before) == head + after
