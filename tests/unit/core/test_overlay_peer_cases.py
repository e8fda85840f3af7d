"""Peer tools' own test cases (tests/fixtures/corpus/peer-cases, from kustomize and Argo CD Image
Updater, attribution in the JSON and SOURCES.md) run against set_image_entry, _matches and
split_reference. Every case of every list is used: run as the peer runs it, or, where our
semantics deliberately differ, run asserting ours with the reason next to it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops_release.core.overlay import _matches, get_images, set_image_entry, split_reference
from gitops_release.errors import ConfigError

PEER = Path(__file__).parents[2] / "fixtures" / "corpus" / "peer-cases"
EDIT_SET_IMAGE = json.loads((PEER / "kustomize-edit-set-image.json").read_text())
ROUNDTRIP = json.loads((PEER / "kustomize-kustfile-roundtrip.json").read_text())
UPDATER = json.loads((PEER / "image-updater-kustomize.json").read_text())


def names(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def parse_spec(spec: str, current: dict[str, str] | None = None) -> dict[str, str]:
    """An ``edit set image`` argument or an Argo CD image spec as the entry it sets:
    ``[<name>=]<newName>[:<tag>][@<digest>]`` (without ``=`` the reference's name is the entry's
    name); ``*`` keeps what ``current`` has (kustomize's edit)."""
    key, equals, value = spec.partition("=")
    reference_name, tag, digest = split_reference(value if equals else spec)
    entry = {"name": key if equals else reference_name}
    fields = {"newName": reference_name if equals else "", "newTag": tag, "digest": digest}
    for field, given in fields.items():
        kept = (current or {}).get(field, "") if given == "*" else given
        if kept:
            entry[field] = kept
    return entry


def apply(text: str, spec: str) -> str:
    """``text`` with the entry ``spec`` names set to exactly its fields (added when missing)."""
    name = parse_spec(spec)["name"]
    current = next((e for e in get_images(text) if e["name"] == name), None)
    entry = parse_spec(spec, current)
    return set_image_entry(
        text,
        name=entry["name"],
        new_name=entry.get("newName"),
        new_tag=entry.get("newTag"),
        digest=entry.get("digest"),
        add_missing=True,
    )


def inserted_only(text: str, out: str) -> bool:
    prefix = 0
    while prefix < len(text) and prefix < len(out) and text[prefix] == out[prefix]:
        prefix += 1
    return out.endswith(text[prefix:])


def by_name(entries: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(entries, key=lambda entry: entry["name"])


# -- kustomize edit set image ----------------------------------------------------------------


@pytest.mark.parametrize("case", EDIT_SET_IMAGE["cases"], ids=names(EDIT_SET_IMAGE["cases"]))
def test_kustomize_edit_set_image_cases(case: dict[str, Any]) -> None:
    text = case["kustomization"]
    if case["expectedError"] == "no image specified":
        # kustomize refuses an edit naming no image; set_image_entry's image is a required
        # keyword, so such a call does not exist.
        with pytest.raises(TypeError):
            set_image_entry(text)  # type: ignore[call-arg]
        return
    if case["expectedError"]:
        # "bad" and "args" name images with nothing to set: kustomize refuses. Here an image with
        # no fields is an entry {name} (k23 of the corpus has one; it renders the base's
        # reference unchanged): missing, it is refused without add-missing and added with it.
        with pytest.raises(ConfigError, match="has no images: entry for image 'bad'"):
            set_image_entry(text, name="bad", new_name=None, new_tag=None, digest=None)
        out = apply(apply(text, "bad"), "args")
        assert get_images(out) == [{"name": "bad"}, {"name": "args"}]
        return
    out = text
    for arg in case["args"]:
        out = apply(out, arg)
    # kustomize rewrites the file with entries sorted by name and keys alphabetically
    # (expectedImagesYaml); set_image_entry keeps the file's order and writes a new entry's keys
    # in kustomize's own field order: the same entries, in place.
    assert by_name(get_images(out)) == by_name(case["expectedImages"])
    if case["kustomizationIsDefault"]:
        assert inserted_only(text, out)  # kustomize's edit also reorders the other fields


@pytest.mark.parametrize("case", EDIT_SET_IMAGE["splitCases"], ids=names(EDIT_SET_IMAGE["splitCases"]))
def test_kustomize_split_cases(case: dict[str, Any]) -> None:
    expected = case["expected"]
    assert split_reference(case["input"]) == (expected["name"], expected["tag"], expected["digest"])


@pytest.mark.parametrize("case", EDIT_SET_IMAGE["matchCases"], ids=names(EDIT_SET_IMAGE["matchCases"]))
def test_kustomize_image_match_cases(case: dict[str, Any]) -> None:
    assert _matches(case["containerImage"], case["imagesName"]) is case["expectedMatch"]


# -- kustomize's kustomization file round trip --------------------------------------------------


@pytest.mark.parametrize("case", ROUNDTRIP["cases"], ids=names(ROUNDTRIP["cases"]))
def test_kustfile_roundtrip_cases(case: dict[str, Any]) -> None:
    # kustomize reads and rewrites the whole file on every edit (upper-case RESOURCES renamed,
    # a comment moved, a leading "---" dropped, apiVersion/kind appended). set_image_entry
    # rewrites nothing but the entry: the input survives byte for byte around the added one.
    text = case["kustomization"]
    if "kind: kustomization" in text:
        # kustomize's build refuses a lower-case kind ("kind should be Kustomization or
        # Component"); its round-trip test only reads the file. Refused here before any edit.
        with pytest.raises(ConfigError, match="is not a Kustomization"):
            apply(text, "app:v1")
        return
    out = apply(text, "app:v1")
    assert inserted_only(text, out)
    assert get_images(out) == [{"name": "app", "newTag": "v1"}]
    if case.get("expectedError"):
        # An unknown field ("foo"): kustomize's reader refuses the file. The edit leaves fields it
        # does not own alone; the render check (kubectl kustomize) reports the unknown field.
        assert "foo:\n  bar\n" in out


# -- Argo CD Image Updater's kustomize writer ----------------------------------------------------


@pytest.mark.parametrize("case", UPDATER["cases"], ids=names(UPDATER["cases"]))
def test_image_updater_kustomization_cases(case: dict[str, Any]) -> None:
    # Image Updater replaces the entry of that name wholesale with the spec's fields: the same
    # as set_image_entry's exact fields.
    text = case["kustomization"]
    out = text
    for spec in case["images"]:
        out = apply(out, spec)
    if case.get("expectedSkip"):
        assert out is text
    elif case.get("expectedError"):
        # "invalid-path": the updater is pointed at a file that does not exist, an I/O error the
        # pure edit cannot have; the content itself is edited.
        assert case.get("precondition", "").startswith("file path does not exist")
        assert get_images(out) == [{"name": "foo", "digest": "sha23456"}]
    elif case.get("assertion") == "byte-for-byte equal":
        assert out == case["expectedKustomization"]
    else:
        assert get_images(out) == get_images(case["expectedKustomization"])
        assert inserted_only(text, out) or get_images(text)  # round 2 edits existing entries


@pytest.mark.parametrize(
    "case", UPDATER["parseImageOverrideCases"], ids=names(UPDATER["parseImageOverrideCases"])
)
def test_image_updater_image_spec_cases(case: dict[str, Any]) -> None:
    # Registry ports (ghcr.io:1234/…) are not tags: the spec splits as kustomize splits it.
    assert parse_spec(case["spec"]) == case["expectedImage"]
    assert get_images(apply("", case["spec"])) == [case["expectedImage"]]


@pytest.mark.parametrize(
    "case", UPDATER["kustomizeImageMatchCases"], ids=names(UPDATER["kustomizeImageMatchCases"])
)
def test_image_updater_match_cases(case: dict[str, Any]) -> None:
    # Two specs are the same entry when their names are: kustomize's identity of an entry.
    assert _matches(parse_spec(case["a"])["name"], parse_spec(case["b"])["name"]) is case["expectedMatch"]


def test_image_updater_find_case() -> None:
    case = UPDATER["kustomizeImagesFindCase"]
    entries = [parse_spec(spec)["name"] for spec in case["images"]]

    def found(query: str) -> bool:
        return any(_matches(parse_spec(query)["name"], name) for name in entries)

    assert all(found(query) for query in case["found"])
    # Image Updater's Find keys "x/y=busybox" by "x/y=", so "x/y" alone does not find it. An
    # entry is its name to kustomize (the transformer and edit set image both): "x/y" is found.
    assert [query for query in case["notFound"] if found(query)] == ["x/y"]
    # Three entries named a/b: kustomize would apply each in turn; an edit of a/b is refused.
    text = "images:\n" + "".join(f"- name: {name}\n" for name in entries)
    with pytest.raises(ConfigError, match=r"images\[0\] \(name 'a/b'\), images\[1\]"):
        set_image_entry(text, name="a/b", new_name=None, new_tag="2", digest=None)


# Where the Image Updater merges into Argo CD's own parameter lists (.argocd-source-<app>.yaml,
# the Application spec), its rules differ from a kustomization's: ours follow kustomize.
DIFFERENT = {
    # A spec without a tag keeps the existing tag there; here the entry gets exactly the fields
    # given (promotion copies the source's entry: a kept stale tag would render another image).
    "no-tag": ["nginx"],
    "2-images": [
        "nginx:latest@sha256:91734281c0ebfc6f1aea979cffeed5079cfe786228a71cc6f1f46a228cde6e34",
        "bitnami/nginx@sha256:1a2fe3f9f6d1d38d5a7ee35af732fdb7d15266ec3dbc79bbc0355742cd24d3ec",
    ],
    # docker.io/library/nginx and nginx are one image to a registry, but not to kustomize: an
    # entry named docker.io/library/nginx never applies to a resource's "nginx". Both stay.
    "docker-io-explicit-vs-implicit": ["docker.io/library/nginx:1.0.0", "nginx:1.0.1"],
    "docker-io-explicit-vs-implicit-with-org": ["docker.io/jannfis/foobar:1.0.0", "jannfis/foobar:1.0.1"],
}


def entries_of(specs: list[str] | None) -> list[dict[str, str]]:
    return [parse_spec(spec) for spec in specs or ()]


def merged(existing: list[str] | None, new: list[str] | None) -> list[dict[str, str]]:
    text = "kind: Kustomization\n"
    for spec in [*(existing or ()), *(new or ())]:
        text = apply(text, spec)
    return get_images(text)


@pytest.mark.parametrize("case", UPDATER["mergeCases"], ids=names(UPDATER["mergeCases"]))
def test_image_updater_merge_cases(case: dict[str, Any]) -> None:
    expected = DIFFERENT.get(case["name"], case["expected"])
    assert by_name(merged(case["existing"], case["new"])) == by_name(entries_of(expected))


OVERRIDE_DIFFERENT = {
    # docker.io/jannfis/foobar and jannfis/foobar: two entries to kustomize (see above); repeated
    # cycles still never add a third.
    "GitHub issue #1411 - should not create duplicates with docker.io explicit vs implicit": [
        "docker.io/jannfis/foobar:1.0.0",
        "jannfis/foobar:1.0.1",
    ],
    "GitHub issue #1411 - multiple update cycles should not accumulate duplicates": [
        "docker.io/jannfis/foobar:1.0.0",
        "jannfis/foobar:1.0.1",
    ],
}


def as_kustomization(override: str | None) -> str:
    """An .argocd-source override (``kustomize: images: [specs]``) as the kustomization with those
    entries, its header (``---``, ``%YAML``, comments) kept."""
    if not override:
        return ""
    head, _, specs = override.partition("kustomize:\n  images:\n")
    text = head + "images: []\n"
    for line in specs.splitlines():
        text = apply(text, line.strip().removeprefix("- "))
    return text


@pytest.mark.parametrize(
    "case", UPDATER["argocdSourceOverrideCases"], ids=names(UPDATER["argocdSourceOverrideCases"])
)
def test_image_updater_source_override_cases(case: dict[str, Any]) -> None:
    # The override file is Argo CD's, not a kustomization; the same entries in a kustomization,
    # edited by the same specs, must come out the same, headers kept, nothing duplicated.
    if case["name"] == "document start: does not treat an indented marker as a document start":
        # "   ---" is no marker but a plain scalar, and a mapping cannot follow it: the file is not
        # valid YAML (ruamel.yaml and PyYAML agree). Refused, naming the fix, before any edit.
        with pytest.raises(ConfigError, match="is not valid YAML at line 2"):
            as_kustomization(case["originalOverride"])
        return
    text = as_kustomization(case["originalOverride"])
    out = text
    for _ in range(case["updateCycles"]):
        for spec in case["applicationKustomizeImages"] or ():
            out = apply(out, spec)
    if case.get("expectedPrefix"):
        assert out.startswith(case["expectedPrefix"])
    if case.get("expectedNotPrefix"):
        assert not out.startswith(case["expectedNotPrefix"])
    if case["expectedOverride"] is not None:
        expected = OVERRIDE_DIFFERENT.get(case["name"])
        if expected is None:
            expected = [
                line.strip().removeprefix("- ")
                for line in case["expectedOverride"].partition("images:\n")[2].splitlines()
            ]
        assert get_images(out) == entries_of(expected)


@pytest.mark.parametrize("case", UPDATER["applicationSpecCases"], ids=names(UPDATER["applicationSpecCases"]))
def test_image_updater_application_spec_cases(case: dict[str, Any]) -> None:
    # Argo CD's Application-spec image list, as a kustomization's entries.
    if case["sourceType"] != "Kustomize":
        # A Directory (plain manifests) app has no kustomization to edit: there is nothing here
        # to refuse; the command only ever opens kustomization files (PROMOTE.md).
        assert case["expectedError"] is True
        return
    text = "kind: Kustomization\n"
    for spec in case["applicationKustomizeImages"] or ():
        text = apply(text, spec)
    for step in case.get("steps") or [{"newImage": case["newImage"]}]:
        text = apply(text, step["newImage"])
    expected = case["expectedKustomizeImages"]
    if case.get("kustomizeImageName") == "foobar":
        # Image Updater swaps the entry jannfis/foobar for one named foobar; an edit here never
        # renames or removes another entry (the resources still say jannfis/foobar): foobar is
        # added beside it.
        expected = ["jannfis/foobar:1.0.0", *expected]
    assert get_images(text) == entries_of(expected)
