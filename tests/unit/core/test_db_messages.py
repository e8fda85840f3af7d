"""core/db.py: what ``canonical_difference`` says about a db.json that differs from update-db's
text only in blanks (indentation, trailing blanks, CRLF), word for word, and
``DBFile.container_images`` on both read paths (written against mutation-testing survivors,
docs/testing.md)."""

# The expected texts stay one line each, as users read them in an ::error line.
# ruff: noqa: E501

from __future__ import annotations

import json

import pytest

from gitops_release.core.db import DBFile, ReleaseDB, canonical_difference, dump_db
from gitops_release.core.release import Release, Source

SHA = "1" * 40
T0 = "2026-01-28T10:30:00Z"
LEGEND = "; \u00b7 is a space, \u2192 a tab)"


def rel(container: str = "web", channel: str = "dev", image: str | None = None) -> Release:
    return Release(
        container, channel, image or f"ghcr.io/org/{container}", "v1", None, Source("org/web", SHA), T0
    )


DB = ReleaseDB((rel(),))
TEXT = dump_db(DB)


def with_line(number: int, line: str) -> str:
    lines = TEXT.split("\n")
    lines[number - 1] = line
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("line", "difference"),
    [
        (
            '    "schemaVersion": 1,',
            "line 2 is indented with 4 spaces, update-db indents it with 2 spaces "
            "('\u00b7\u00b7\u00b7\u00b7\"schemaVersion\": 1,' vs '\u00b7\u00b7\"schemaVersion\": 1,'"
            + LEGEND,
        ),
        (
            '\t"schemaVersion": 1,',
            "line 2 is indented with 1 tab, update-db indents it with 2 spaces "
            "('\u2192\"schemaVersion\": 1,' vs '\u00b7\u00b7\"schemaVersion\": 1,'" + LEGEND,
        ),
        (
            ' \t\t"schemaVersion": 1,',
            "line 2 is indented with 1 space, 2 tabs, update-db indents it with 2 spaces "
            "('\u00b7\u2192\u2192\"schemaVersion\": 1,' vs '\u00b7\u00b7\"schemaVersion\": 1,'" + LEGEND,
        ),
        (
            '\x0c "schemaVersion": 1,',  # a blank with no mark of its own is drawn as ?
            "line 2 is indented with 1 space, update-db indents it with 2 spaces "
            "('?\u00b7\"schemaVersion\": 1,' vs '\u00b7\u00b7\"schemaVersion\": 1,'" + LEGEND,
        ),
        (
            '  "schemaVersion": 1, ',
            "line 2 ends with 1 space, update-db writes nothing there "
            "('\u00b7\u00b7\"schemaVersion\": 1,\u00b7' vs '\u00b7\u00b7\"schemaVersion\": 1,'" + LEGEND,
        ),
        (
            '  "schemaVersion": 1,\r',
            "line 2 ends with 1 carriage return, update-db writes nothing there "
            "('\u00b7\u00b7\"schemaVersion\": 1,\u240d' vs '\u00b7\u00b7\"schemaVersion\": 1,'" + LEGEND,
        ),
        (
            '  "schemaVersion": 1,  \t\x0b',
            "line 2 ends with 2 spaces, 1 tab, update-db writes nothing there "
            "('\u00b7\u00b7\"schemaVersion\": 1,\u00b7\u00b7\u2192?' vs '\u00b7\u00b7\"schemaVersion\": 1,'"
            + LEGEND,
        ),
    ],
)
def test_a_line_that_differs_only_in_blanks_says_which_blanks(line: str, difference: str) -> None:
    assert canonical_difference(with_line(2, line), DB) == difference


def test_crlf_line_ends_are_named_on_the_first_line() -> None:
    assert canonical_difference(TEXT.replace("\n", "\r\n"), DB) == (
        "line 1 ends with 1 carriage return, update-db writes nothing there ('{\u240d' vs '{'" + LEGEND
    )


def test_an_indented_line_missing_its_indentation_says_nothing() -> None:
    assert canonical_difference(with_line(2, '"schemaVersion": 1,'), DB) == (
        "line 2 is indented with nothing, update-db indents it with 2 spaces "
        "('\"schemaVersion\": 1,' vs '\u00b7\u00b7\"schemaVersion\": 1,'" + LEGEND
    )


def test_a_long_line_is_drawn_cut_after_47_characters_and_short_ones_whole() -> None:
    # ascii() of the line without its blanks: 50 characters are shown whole, 51 are cut.
    image_50 = "ghcr.io/org/" + "a" * 27  # '"image": "' (10) + 39 + '",' (2) = 51
    image_49 = image_50[:-1]
    for image, shown in [
        (image_49, f'"image": "{image_49}",'),
        (image_50, f'"image": "{image_50}"'[:47] + "..."),
    ]:
        db = ReleaseDB((rel(image=image),))
        text = dump_db(db)
        number = text.split("\n").index(f'      "image": "{image}",') + 1
        lines = text.split("\n")
        lines[number - 1] = lines[number - 1] + " "
        assert canonical_difference("\n".join(lines), db) == (
            f"line {number} ends with 1 space, update-db writes nothing there "
            f"('\u00b7\u00b7\u00b7\u00b7\u00b7\u00b7{shown}\u00b7' vs '\u00b7\u00b7\u00b7\u00b7\u00b7\u00b7{shown}'"
            + LEGEND
        )
    assert len(f'"image": "{image_49}",') == 50


def test_a_line_that_differs_in_more_than_blanks_shows_both_lines_stripped() -> None:
    assert canonical_difference(with_line(2, '  "schemaVersion": 2,'), DB) == (
        "line 2 is '\"schemaVersion\": 2,', update-db writes '\"schemaVersion\": 1,'"
    )


# -- DBFile.container_images -------------------------------------------------------------------

RELEASES = (
    rel("api", "dev"),
    rel("api", "prod", image="ghcr.io/org/api-old"),
    rel("web", "dev"),
    rel("worker", "stage", image="ghcr.io/org/web"),
)
EXPECTED = {
    "api": frozenset({"ghcr.io/org/api", "ghcr.io/org/api-old"}),
    "web": frozenset({"ghcr.io/org/web"}),
    "worker": frozenset({"ghcr.io/org/web"}),
}


def test_container_images_of_a_canonical_db() -> None:
    db_file = DBFile(dump_db(ReleaseDB(RELEASES)))
    assert db_file.canonical
    assert db_file.container_images() == EXPECTED


def test_container_images_of_a_db_read_through_load_db() -> None:
    doc = json.loads(dump_db(ReleaseDB(RELEASES)))
    doc["releases"].reverse()  # unsorted: not the fast path
    db_file = DBFile(json.dumps(doc, indent=2) + "\n")
    assert not db_file.canonical
    assert db_file.container_images() == EXPECTED


def test_container_images_of_an_absent_or_empty_db_is_empty() -> None:
    assert DBFile(None).container_images() == {}
    assert DBFile(dump_db(ReleaseDB(()))).container_images() == {}
