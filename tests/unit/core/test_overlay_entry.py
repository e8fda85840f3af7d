"""core/overlay.set_image_entry (promote-overlay's edit: an entry set to exactly the given fields,
in place) and kustomize_reference / split_reference (what kustomize renders)."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_release.core.overlay import (
    ADD_MISSING_FIX,
    _matches,
    get_images,
    kustomize_reference,
    set_image_entry,
    split_reference,
)
from gitops_release.errors import ConfigError

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def edit(
    text: str,
    name: str = "ghcr.io/org/app",
    new_name: str | None = None,
    new_tag: str | None = "v2",
    digest: str | None = None,
    **kw: Any,
) -> str:
    return set_image_entry(
        text, name=name, new_name=new_name, new_tag=new_tag, digest=digest, path="k.yaml", **kw
    )


# -- matching ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "entry_name", "matched"),
    [
        ("nginx", "nginx", True),
        ("nginx:1.2", "nginx", True),  # kustomize applies an entry to the tagged image
        ("nginx@sha256:ab", "nginx", True),
        ("nginx:1.2@sha512:ab", "nginx", True),
        ("nginx-x", "nginx", False),
        ("my/nginx", "nginx", False),
        ("nginx", "my/nginx", False),
        ("ghcrXio/org/app", "ghcr.io/org/app", True),  # Go regexp: "." is any character
        ("localhost:5000/app", "localhost:5000/app", True),
        ("localhost:5000/app:1", "localhost:5000/app", True),
        ("localhost:5001/app", "localhost:5000/app", False),
        ("a+b", "a+b", True),  # regexp syntax: equal strings only
        ("aab", "a+b", False),
        ("nginx", "[", False),
        ("nginx", "ngin.*", False),  # kustomize would match; a pattern is never run here
        ("nginx\n", "nginx", False),
    ],
)
def test_an_entry_matches_an_image_as_kustomize_applies_it(
    image: str, entry_name: str, matched: bool
) -> None:
    assert _matches(image, entry_name) is matched


def test_a_hostile_name_pattern_is_not_run() -> None:
    # "(a+)+$" against 40 a's and an x backtracks for hours in Python's engine; it is refused
    # as a pattern at once.
    assert not _matches("a" * 40 + "x", "(a+)+")


# -- in place ------------------------------------------------------------------------------------


def test_only_the_changed_value_differs() -> None:
    text = (
        "# top\nresources:\n- ../base\nimages:\n  - name: ghcr.io/org/app  # main\n    newTag: v1 # pinned\n"
    )
    assert edit(text) == text.replace("v1 #", "v2 #")


def test_nothing_to_change_returns_the_input_itself() -> None:
    text = "images:\n- name: ghcr.io/org/app\n  newTag: 'v2'\n"
    assert edit(text) is text


def test_the_entry_gets_exactly_the_given_fields() -> None:
    text = f"images:\n- name: ghcr.io/org/app\n  newName: ghcr.io/org/old\n  newTag: v1\n  digest: {D1}\n"
    assert (
        edit(text, new_name=None, new_tag=None, digest=D2)
        == f"images:\n- name: ghcr.io/org/app\n  digest: {D2}\n"
    )
    assert edit(text, new_name="quay.io/o/a", new_tag="v1", digest=None) == (
        "images:\n- name: ghcr.io/org/app\n  newName: quay.io/o/a\n  newTag: v1\n"
    )


def test_keys_are_inserted_in_kustomize_order_after_their_neighbours() -> None:
    text = "images:\n- name: ghcr.io/org/app  # c\n  # below\nresources: []\n"
    assert edit(text, new_name="x/y", new_tag="v2", digest=D1) == (
        f"images:\n- name: ghcr.io/org/app  # c\n  newName: x/y\n  newTag: v2\n  digest: {D1}\n"
        "  # below\nresources: []\n"
    )


def test_a_sorted_entry_keeps_its_order() -> None:
    text = f"images:\n- digest: {D1}\n  name: ghcr.io/org/app\n  newTag: v1\n"
    assert edit(text, new_tag="v1", digest=D2) == text.replace(D1, D2)
    # A removed first key hands its "- " to the key below it.
    assert edit(text, new_tag="v1") == "images:\n- name: ghcr.io/org/app\n  newTag: v1\n"


def test_the_quote_style_of_a_rewritten_value_is_kept() -> None:
    for old, new in (("'v1'", "'v2'"), ('"v1"', '"v2"'), ("v1", "v2")):
        text = f"images:\n- name: ghcr.io/org/app\n  newTag: {old}\n"
        assert edit(text) == text.replace(old, new)
    text = "images:\n- name: ghcr.io/org/app\n  newTag: v1\n"
    assert edit(text, new_tag="1.10") == text.replace("v1", '"1.10"')  # never a float


def test_a_value_with_a_line_break_is_escaped_in_double_quotes() -> None:
    # Single quotes cannot hold a line break (YAML folds it into a space).
    text = "images:\n- name: ghcr.io/org/app\n  newTag: 'v1'\n"
    out = edit(text, new_tag="v2\nx: y")
    assert out == text.replace("'v1'", '"v2\\nx: y"')
    assert get_images(out) == [{"name": "ghcr.io/org/app", "newTag": "v2\nx: y"}]


def test_a_flow_style_list_is_edited_in_place() -> None:
    text = (
        "resources: [../base]\n"
        "images: [{name: a, newTag: b}, {name: ghcr.io/org/app, newTag: c, digest: x}]\n"
    )
    assert edit(text) == text.replace("newTag: c, digest: x", "newTag: v2")
    assert edit(text, new_tag=None, digest=D1) == text.replace("newTag: c, digest: x", f"digest: {D1}")
    assert edit(text, name="a", new_name="n/a") == text.replace(
        "{name: a, newTag: b}", "{name: a, newName: n/a, newTag: v2}"
    )


def test_crlf_bom_and_a_missing_final_newline_survive() -> None:
    text = "\ufeff%YAML 1.2\r\n---\r\n# c\r\nimages:\r\n  - name: ghcr.io/org/app   \r\n    newTag: v1"
    out = edit(text, new_name="x/y", digest=D1)
    assert out == (
        "\ufeff%YAML 1.2\r\n---\r\n# c\r\nimages:\r\n  - name: ghcr.io/org/app   \r\n"
        f"    newName: x/y\r\n    newTag: v2\r\n    digest: {D1}"
    )
    assert out.count("\n") == out.count("\r\n")


def test_crlf_survives_the_dump_with_comments() -> None:
    # A block scalar tag is beyond the in-place edit: the dump keeps CRLF everywhere.
    text = "# c\r\nimages:\r\n- name: ghcr.io/org/app # x\r\n  newTag: |\r\n    v1\r\n# tail\r\n"
    out = edit(text)
    assert out.count("\n") == out.count("\r\n") > 3
    assert "# tail" in out and "# x" in out
    assert get_images(out) == [{"name": "ghcr.io/org/app", "newTag": "v2"}]


# -- missing and duplicate entries ------------------------------------------------------------


def test_a_missing_entry_names_the_file_the_image_and_the_fix() -> None:
    with pytest.raises(ConfigError) as info:
        edit("images:\n- name: other\n")
    assert info.value.message == "k.yaml: has no images: entry for image 'ghcr.io/org/app'"
    assert ADD_MISSING_FIX in (info.value.fix or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "images:\n  - name: a\n    newTag: b\n",
            "images:\n  - name: a\n    newTag: b\n  - name: ghcr.io/org/app\n    newTag: v2\n",
        ),
        ("images:\n- {name: a}\n", "images:\n- {name: a}\n- {name: ghcr.io/org/app, newTag: v2}\n"),
        ("images: [ {name: a} ]\n", "images: [ {name: a}, {name: ghcr.io/org/app, newTag: v2} ]\n"),
        ("images: [{ name: a }]\n", "images: [{ name: a }, { name: ghcr.io/org/app, newTag: v2 }]\n"),
        (
            "kind: Kustomization\r\n",
            "kind: Kustomization\r\nimages:\r\n- name: ghcr.io/org/app\r\n  newTag: v2\r\n",
        ),
        ("kind: Kustomization", "kind: Kustomization\nimages:\n- name: ghcr.io/org/app\n  newTag: v2"),
        (
            "resources:\n  - x\nimages: []\n",
            "resources:\n  - x\nimages:\n  - name: ghcr.io/org/app\n    newTag: v2\n",
        ),
        ("", "images:\n- name: ghcr.io/org/app\n  newTag: v2\n"),
        (
            "images: # later\r\nk: 1\r\n",
            "images: # later\r\n- name: ghcr.io/org/app\r\n  newTag: v2\r\nk: 1\r\n",
        ),
        ("images: null", "images:\n- name: ghcr.io/org/app\n  newTag: v2"),
        ("---\t# header\nimages: []\n", "---\t# header\nimages:\n- name: ghcr.io/org/app\n  newTag: v2\n"),
    ],
)
def test_add_missing_appends_in_the_files_style(text: str, expected: str) -> None:
    assert edit(text, add_missing=True) == expected


def test_two_matching_entries_are_refused() -> None:
    text = "images:\n- name: ghcr.io/org/app\n- name: ghcr.io/org/app\n  newTag: v1\n"
    with pytest.raises(ConfigError) as info:
        edit(text, add_missing=True)
    assert "images[0] (name 'ghcr.io/org/app'), images[1]" in info.value.message


def test_a_tag_suffix_goes_when_it_would_apply() -> None:
    text = "images:\n- name: ghcr.io/org/app\n  tagSuffix: -x\n"
    assert edit(text, new_tag=None, new_name="a/b") == "images:\n- name: ghcr.io/org/app\n  newName: a/b\n"
    assert edit(text) == text.replace("  tagSuffix", "  newTag: v2\n  tagSuffix")  # no effect then


def test_shared_entries_are_refused() -> None:
    with pytest.raises(ConfigError, match="anchor"):
        edit("images:\n- &e {name: ghcr.io/org/app}\n")
    with pytest.raises(ConfigError, match="merge key"):
        edit("base: &b {newTag: v1}\nimages:\n- <<: *b\n  name: ghcr.io/org/app\n")


def test_an_alias_bomb_is_refused_before_any_edit() -> None:
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 5)]
    with pytest.raises(ConfigError, match="YAML aliases standing for"):
        edit("\n".join(levels) + "\nimages: []\n", add_missing=True)


@pytest.mark.parametrize(
    "text",
    [
        "- a\n",  # not a mapping
        "kind: Deployment\nimages: []\n",
        "images: {name: x}\n",
        "images:\n- newTag: v1\n",  # no name
        "a: 1\n---\nb: 2\n",  # two documents
        "images: [\n",
    ],
)
def test_what_is_no_kustomization_is_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        edit(text, add_missing=True)


# -- what kustomize renders -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "parts"),
    [
        ("nginx", ("nginx", "", "")),
        ("nginx:1.2.3", ("nginx", "1.2.3", "")),
        ("nginx@sha256:12345", ("nginx", "", "sha256:12345")),
        ("nginx:1.2.3@sha256:12345", ("nginx", "1.2.3", "sha256:12345")),
        ("foo.com:443/nginx:1.2.3", ("foo.com:443/nginx", "1.2.3", "")),
        ("localhost:5000/app", ("localhost:5000/app", "", "")),
        ("10.0.0.1:5000/a/b:1@sha256:x", ("10.0.0.1:5000/a/b", "1", "sha256:x")),
    ],
)
def test_split_reference(reference: str, parts: tuple[str, str, str]) -> None:
    assert split_reference(reference) == parts


@pytest.mark.parametrize(
    ("original", "fields", "rendered"),
    [
        ("nginx:1.2", (None, "1.3", None), "nginx:1.3"),
        ("nginx:1.2@sha256:a", (None, "1.3", None), "nginx:1.3"),  # a tag drops the digest
        ("nginx:1.2", (None, None, "sha256:b"), "nginx@sha256:b"),  # a digest drops the tag
        ("nginx:1.2", (None, "1.3", "sha256:b"), "nginx:1.3@sha256:b"),
        ("nginx:1.2@sha256:a", ("x/y", None, None), "x/y:1.2@sha256:a"),  # newName keeps both
        ("localhost:5000/app", (None, "v1", None), "localhost:5000/app:v1"),
        ("app", ("localhost:5000/app", None, None), "localhost:5000/app"),
        ("app:1", ("", "", ""), "app:1"),
    ],
)
def test_kustomize_reference(original: str, fields: tuple[str | None, ...], rendered: str) -> None:
    new_name, new_tag, digest = fields
    assert kustomize_reference(original, new_name=new_name, new_tag=new_tag, digest=digest) == rendered
