"""set_image_entry on every real kustomization of tests/fixtures/corpus/kustomize (files from
public GitOps repositories, byte for byte, SOURCES.md there): each entry of each file edited
several ways changes only the edited values' lines, keeps each line's indentation, key and
comment, and means exactly the fields set; an added entry only inserts; and the image-updater
(k24) and Flux (k07/k08) expected bytes are matched."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gitops_release.core.overlay import ADD_MISSING_FIX, get_images, set_image_entry
from gitops_release.errors import ConfigError

CORPUS = Path(__file__).parents[2] / "fixtures" / "corpus" / "kustomize"
OVERLAY_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FILES = sorted(
    path
    for path in CORPUS.rglob("*")
    if path.is_file() and (path.name in OVERLAY_NAMES or path.name.endswith(".kustomization.yaml"))
)
DIGEST = "sha256:" + "c" * 64
ADDED = "registry.example:5000/team/added"
EDITED_KEYS = ("newName", "newTag", "digest", "tagSuffix")


def read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # no newline translation


def ids(path: Path) -> str:
    return str(path.relative_to(CORPUS))


VARIANTS = (  # the fields set on an entry: given its current ones, each variant's
    lambda e: {"newName": e.get("newName"), "newTag": "v9.9.9-rc.1", "digest": e.get("digest")},  # a tag bump
    lambda e: {"newName": e.get("newName"), "newTag": None, "digest": DIGEST},  # a digest alone
    lambda e: {"newName": "registry.example:5000/x/renamed", "newTag": "2024.1", "digest": DIGEST},
    lambda e: {"newName": None, "newTag": "1.10", "digest": None},  # a tag YAML would read as a number
    lambda e: {"newName": None, "newTag": None, "digest": None},  # the name alone
)


def variants(text: str, index: int, entry: dict[str, str]) -> list[dict[str, str | None]]:
    """Every variant on a file with few entries; otherwise a different two (one on a file of
    thousands of characters, k19/k20, whose every parse takes a tenth of a second) per entry,
    so that each file still sees every variant."""
    entries = len(get_images(text))
    count = len(VARIANTS) if entries < 3 else 2 if len(text) < 5000 else 1
    return [VARIANTS[(count * index + k) % len(VARIANTS)](entry) for k in range(count)]


def test_the_corpus_is_all_there() -> None:
    # 29 kustomization files of cases k01-k23 and 27 input/want files of k24 (04 and 05 have no want).
    assert len([p for p in FILES if "k24-" not in str(p)]) == 29
    assert len([p for p in FILES if "k24-" in str(p)]) == 26


def changed_lines(text: str, out: str) -> tuple[list[str], list[str]]:
    removed, added = [], []
    for line in difflib.unified_diff(text.splitlines(), out.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (removed if line.startswith("-") else added).append(line[1:])
    return removed, added


_KEY_LINE = re.compile(
    r"^(?P<lead>[ \t]*(?:-[ \t]+)?)(?P<key>\w+):[ \t]*(?P<value>.*?)(?P<comment>[ \t]+#.*)?$"
)


@pytest.mark.parametrize("path", FILES, ids=ids)
def test_every_entry_is_edited_in_place(path: Path) -> None:
    text = read(path)
    entries = get_images(text)
    for index, entry in enumerate(entries):
        for fields in variants(text, index, entry):
            out = set_image_entry(
                text,
                name=entry["name"],
                new_name=fields["newName"],
                new_tag=fields["newTag"],
                digest=fields["digest"],
                path=ids(path),
            )
            expected = [dict(e) for e in entries]
            expected[index] = {"name": entry["name"], **{k: v for k, v in fields.items() if v is not None}}
            assert get_images(out) == expected
            removed, added = changed_lines(text, out)
            # Only lines of the edited keys leave or come, each keeping its indentation and comment.
            for line in removed + added:
                match = _KEY_LINE.match(line)
                assert match, (line, removed, added)
                # A removed first key of an item hands its "- " to the name below it.
                handed = match["key"] == "name" and line.strip().removeprefix("- ") in {
                    other.strip().removeprefix("- ") for other in (added if line in removed else removed)
                }
                assert match["key"] in EDITED_KEYS or handed, (line, removed, added)
            old = {_KEY_LINE.match(line)["key"]: _KEY_LINE.match(line) for line in removed}  # type: ignore[index]
            for line in added:
                new = _KEY_LINE.match(line)
                assert new is not None
                if new["key"] in old and new["key"] != "name":  # a rewritten value: all else kept
                    assert (new["lead"], new["comment"]) == (
                        old[new["key"]]["lead"],
                        old[new["key"]]["comment"],
                    )
            assert (out.endswith("\n"), out.count("\r")) == (text.endswith("\n"), text.count("\r"))


@pytest.mark.parametrize("path", FILES, ids=ids)
def test_an_entry_set_to_what_it_has_leaves_the_file_alone(path: Path) -> None:
    text = read(path)
    for entry in get_images(text):
        out = set_image_entry(
            text,
            name=entry["name"],
            new_name=entry.get("newName"),
            new_tag=entry.get("newTag"),
            digest=entry.get("digest"),
        )
        if "tagSuffix:" in text:
            # k09: the entry has a tagSuffix and neither newTag nor digest, so kustomize would
            # apply the suffix; exactly {name} means the suffix goes (the render then shows what
            # kustomize_reference says).
            assert "tagSuffix" not in out.split(entry["name"], 1)[1].split("- name:", 1)[0]
        else:
            assert out is text


@pytest.mark.parametrize("path", FILES, ids=ids)
def test_a_missing_image_is_added_only_when_asked(path: Path) -> None:
    text = read(path)
    with pytest.raises(ConfigError) as info:
        set_image_entry(text, name=ADDED, new_name=None, new_tag="1.0.0", digest=None, path=ids(path))
    assert info.value.message == f"{ids(path)}: has no images: entry for image '{ADDED}'"
    assert ADD_MISSING_FIX in (info.value.fix or "")
    out = set_image_entry(text, name=ADDED, new_name=None, new_tag="1.0.0", digest=DIGEST, add_missing=True)
    assert get_images(out) == [*get_images(text), {"name": ADDED, "newTag": "1.0.0", "digest": DIGEST}]
    # Nothing of the input is changed or removed: the new entry (and images:, when absent) is
    # inserted, plus a line break when the input's last line has none.
    assert inserted_once(text, out)
    assert out.endswith("\n") == text.endswith("\n") or not text


def inserted_once(text: str, out: str) -> bool:
    """Whether ``out`` is ``text`` with one run of characters inserted somewhere."""
    prefix = 0
    while prefix < len(text) and text[prefix] == out[prefix]:
        prefix += 1
    return out.endswith(text[prefix:])


# -- k24: argocd-image-updater's own expected bytes --------------------------------------------

K24 = CORPUS / "k24-image-updater-updateKustomizeFile-go-cases"
K24_CASES = json.loads((K24 / "cases.json").read_text())


@pytest.mark.parametrize("case", K24_CASES, ids=[c["dir"] for c in K24_CASES])
def test_image_updater_update_kustomize_file_cases(case: dict[str, Any]) -> None:
    # Filter "foo@sha23456": image-updater replaces the entry named foo with {name, digest};
    # set_image_entry's exact fields are the same edit.
    text = read(K24 / case["dir"] / "input.kustomization.yaml")
    out = set_image_entry(text, name="foo", new_name=None, new_tag=None, digest="sha23456")
    if case["dir"] == "04-no-change":
        assert out is text
    elif case["dir"] == "05-invalid-path":
        # The Go test points the updater at a path that does not exist: an I/O error, which the
        # pure edit cannot have (the command reads the file first and fails naming it). The
        # content itself is edited like the others.
        assert case["wantErr"] is True
        assert out == text.replace("sha12345", "sha23456")
    else:
        assert out == read(K24 / case["dir"] / "want.kustomization.yaml")


# -- k07/k08: Flux image-automation's own expected bytes ---------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "k07-flux-setters-Kustomization-file/{}/Kustomization",
        "k08-flux-setters-kustomization-yml/{}/kustomization.yml",
    ],
)
def test_flux_setter_cases(case: str) -> None:
    original, expected = read(CORPUS / case.format("original")), read(CORPUS / case.format("expected"))
    out = set_image_entry(
        original, name="container", new_name="index.repo.fake/updated", new_tag="v1.0.1", digest=None
    )
    if "newDigest" in original:
        # Flux also rewrites k08's newDigest, a key of its own that kustomize rejects ("unknown
        # field"), and the setter-marked image inside a JSON patch: set_image_entry edits the
        # images: entry's kustomize keys only and leaves every other byte as it is.
        kept = [
            line
            for line in expected.splitlines(keepends=True)
            if "newDigest" not in line and "image: image" not in line
        ]
        assert [
            line
            for line in out.splitlines(keepends=True)
            if "newDigest" not in line and "image: image" not in line
        ] == kept
        assert re.findall(r".*(?:newDigest|image: image).*", out) == re.findall(
            r".*(?:newDigest|image: image).*", original
        )
    else:
        assert out == expected
