"""Properties of report-status's text rules for any input: a description GitHub never refuses
(at most 140 code points, one line, "…" when cut, no character split from its marks), a marker
no context can close, and a comment within 65,536 characters whose table rows keep their cells."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_release.core.report_status import (
    COMMENT_LIMIT,
    DESCRIPTION_LIMIT,
    ResultRow,
    comment_marker,
    cut_description,
    is_marked,
    render_comment,
)

#: Text with what breaks naive code: marks, joiners, flags, jamo, surrogates, controls, pipes.
TRICKY = st.sampled_from(
    [
        "\u0301",
        "\u0308",
        "\u200d",
        "\ufe0f",
        "\U0001f3fd",
        "\U0001f1e9",
        "\U0001f1ea",
        "\u1100",
        "\u1161",
        "\ud800",
        "\udfff",
        "\n",
        "\t",
        "\x1b",
        "|",
        "\\",
        "`",
        "<!--",
        "-->",
        "--",
        "@",
        "[",
        "]",
        " ",
        "\U0001f468",
        "e",
    ]
)
TEXT = st.lists(st.text(max_size=8) | TRICKY, max_size=80).map("".join)
LONG_TEXT = st.lists(st.text(max_size=30) | TRICKY, min_size=1, max_size=400).map("".join)
LIMITS = st.integers(min_value=1, max_value=200)


def is_extend(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or code == 0x200D
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
    )


def normalized(text: str) -> str:
    return " ".join(
        "".join(
            "\ufffd"
            if 0xD800 <= ord(c) <= 0xDFFF
            else " "
            if unicodedata.category(c) == "Cc" or c in "\u2028\u2029"
            else c
            for c in text
        ).split()
    )


@given(TEXT | LONG_TEXT, LIMITS)
@settings(max_examples=400)
def test_cut_description_fits_and_is_one_line(text: str, limit: int) -> None:
    cut = cut_description(text, limit)
    assert len(cut) <= limit
    assert "\n" not in cut and "\r" not in cut and cut == cut.strip()
    cut.encode("utf-8")  # no lone surrogate: the request can be sent


@given(TEXT | LONG_TEXT, LIMITS)
@settings(max_examples=400)
def test_cut_description_is_idempotent(text: str, limit: int) -> None:
    once = cut_description(text, limit)
    assert cut_description(once, limit) == once


@given(TEXT)
def test_short_clean_text_is_unchanged(text: str) -> None:
    line = normalized(text)
    if len(line) <= DESCRIPTION_LIMIT:
        assert cut_description(line) == line


@given(LONG_TEXT, LIMITS)
@settings(max_examples=400)
def test_a_cut_ends_in_an_ellipsis_on_a_character_boundary(text: str, limit: int) -> None:
    line = normalized(text)
    cut = cut_description(text, limit)
    if len(line) <= limit:
        assert cut == line
        return
    assert cut.endswith("…")
    kept = cut[:-1]
    assert line.startswith(kept)
    rest = line[len(kept) :]
    if len(kept) > 1:
        # the first character left out starts a new user-perceived character: no lone mark,
        # no half of a joined emoji (one base with more marks than fit keeps just the base)
        assert not is_extend(rest[0]), (kept[-3:], rest[:3])
        assert kept[-1] != "\u200d"
    flags = re.search("[\U0001f1e6-\U0001f1ff]+$", kept)
    if flags and rest and "\U0001f1e6" <= rest[0] <= "\U0001f1ff":
        assert len(flags.group()) % 2 == 0  # a flag is two regional indicators


@given(TEXT)
@settings(max_examples=400)
def test_marker_cannot_be_closed_by_any_context(context: str) -> None:
    marker = comment_marker(context)
    assert marker.startswith('<!-- gitops-release:report-status context="') and marker.endswith('" -->')
    inner = marker[len("<!--") : -len("-->")]
    assert "--" not in inner and ">" not in inner and "<" not in inner
    assert marker.count('"') == 2
    assert "\n" not in marker and "\r" not in marker and marker.isprintable()


@given(TEXT, TEXT)
def test_markers_of_different_contexts_differ(one: str, other: str) -> None:
    if one != other:
        assert comment_marker(one) != comment_marker(other)


CONTEXTS = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Cf", "Co", "Cn")),
    min_size=1,
    max_size=255,
).filter(lambda c: c.strip() and c.isprintable())
ROWS = st.lists(
    st.builds(
        ResultRow,
        name=TEXT.filter(str.strip),
        result=TEXT.filter(str.strip),
        details=TEXT | st.text(min_size=900, max_size=1000),
        url=st.sampled_from(["", "https://example.com/a|b<c>", "javascript:x", "https://u:p@h/"]),
    ),
    max_size=200,
)


def cells(row: str) -> list[str]:
    """A table row split as GitHub splits it: at every pipe not preceded by a backslash."""
    return re.split(r"(?<!\\)\|", row)


@given(
    context=CONTEXTS,
    state=TEXT,
    sha=TEXT,
    description=TEXT | LONG_TEXT,
    target_url=st.sampled_from(["", "https://example.com/x", "ftp://x", "https://a b"]),
    results=ROWS,
    repository=TEXT,
    when=TEXT,
)
@settings(max_examples=150, deadline=None)
def test_comment_fits_and_its_table_keeps_three_cells(
    context: str,
    state: str,
    sha: str,
    description: str,
    target_url: str,
    results: list[ResultRow],
    repository: str,
    when: str,
) -> None:
    body = render_comment(
        context=context,
        state=state,
        sha=sha,
        description=description,
        target_url=target_url,
        results=results,
        repository=repository,
        run_url="https://github.com/o/r/actions/runs/1",
        when=when,
    )
    assert len(body.encode("utf-16-le", "surrogatepass")) // 2 <= COMMENT_LIMIT
    body.encode("utf-8")
    assert is_marked(body, context.strip())
    # nothing a user wrote opens another comment (inside a code span `<!--` is shown as text)
    assert sum(outside_code(line).count("<!--") for line in body.splitlines()) == 1
    lines = body.splitlines()
    table = [line for line in lines if line.startswith("| ")]
    if results:
        assert table[:2] == ["| check | result | details |", "| --- | --- | --- |"]
        assert len(table) >= 2
        for row in table:
            assert len(cells(row)) == 5, row  # "", check, result, details, ""
            assert row.endswith(" |")
        shown = len(table) - 2
        if shown < len(results):
            assert f"{len(results) - shown} more rows not shown" in body
    else:
        assert not table


#: What the adversary types into a results cell: Markdown that links, embeds, references or breaks.
MARKDOWN = st.sampled_from(
    [
        "![",
        "[",
        "]",
        "](",
        ")",
        "(",
        "<",
        ">",
        "\\",
        "|",
        "`",
        "``",
        "!",
        "#",
        "#1",
        "org/repo#12",
        "GH-7",
        "@",
        "https://evil.example/x",
        "http://",
        "www.",
        "mailto:a@b.c",
        "&lt;",
        "&#91;",
        "[^1]",
        ":",
        " ",
        "x",
    ]
)
CELL_TEXT = st.lists(MARKDOWN | st.text(max_size=4), max_size=40).map("".join)


def gfm_cells(row: str) -> list[str]:
    """A table row split as cmark-gfm splits it: a backslash takes the next character with it
    (``\\\\|`` is an escaped backslash, then a pipe that ends the cell); each cell's ``\\|`` then
    becomes ``|`` before inline parsing."""
    found, current, index = [], [], 0
    while index < len(row):
        char = row[index]
        if char == "\\" and index + 1 < len(row):
            current.append(row[index : index + 2])
            index += 2
            continue
        if char == "|":
            found.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    found.append("".join(current))
    return [cell.replace("\\|", "|") for cell in found[1:-1]]


def outside_code(cell: str) -> str:
    """The cell's text outside code spans (CommonMark: a run of n backticks closes at exactly n;
    every backslash outside a span is itself escaped in our output, so backticks are delimiters)."""
    out, index = [], 0
    runs = list(re.finditer(r"`+", cell))
    position = 0
    while position < len(runs):
        opener = runs[position]
        if opener.start() < index:
            position += 1
            continue
        closer = next((r for r in runs[position + 1 :] if len(r.group()) == len(opener.group())), None)
        if closer is None:
            position += 1
            continue
        out.append(cell[index : opener.start()])
        index = closer.end()
        position = runs.index(closer) + 1
    out.append(cell[index:])
    return " ".join(out)


def unescaped(text: str, char: str) -> bool:
    """Whether ``char`` occurs after an even number of backslashes (so Markdown sees it as syntax)."""
    for match in re.finditer(re.escape(char), text):
        before = text[: match.start()]
        if (len(before) - len(before.rstrip("\\"))) % 2 == 0:
            return True
    return False


@given(name=CELL_TEXT.filter(str.strip), result=CELL_TEXT.filter(str.strip), details=CELL_TEXT)
@settings(max_examples=200, deadline=None)
def test_any_cell_text_gives_three_cells_and_no_link_image_html_or_reference(
    name: str, result: str, details: str
) -> None:
    body = render_comment(
        context="release-data-prep/pr",
        state="failure",
        sha="0" * 40,
        description="",
        target_url="",
        results=[ResultRow(name, result, details)],
        repository="org/app",
        run_url="",
    )
    table = [line for line in body.splitlines() if line.startswith("| ")]
    assert len(table) == 3, body  # header, delimiter row, our one row
    row = table[2]
    cells = gfm_cells(row)
    assert len(cells) == 3, row
    for cell in cells:
        text = outside_code(cell)
        assert not unescaped(text, "["), cell  # no link, image or footnote can open
        assert "<" not in text, cell  # no raw HTML, no <autolink>
        assert not re.search(r"(?i)(https?|ftp|mailto)://|www\.|#\d|gh-\d", text), cell
        assert not re.search(r"@[A-Za-z0-9]", text), cell
