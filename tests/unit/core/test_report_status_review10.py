"""Review 10a reproductions: the comment renderer (pure). Each test FAILS on main at 6688032."""

from __future__ import annotations

import re

import pytest

from gitops_release.core.report_status import ResultRow, render_comment


def _cells(row: str) -> int:
    """Cells of a GFM table row as cmark-gfm splits it: a pipe after an odd number of backslashes
    is escaped; after an even number (``\\\\|``) it ends the cell."""
    pipes = [m.start() for m in re.finditer(r"\|", row)]
    unescaped = [p for p in pipes if (len(row[:p]) - len(row[:p].rstrip("\\"))) % 2 == 0]
    return len(unescaped) - 1


def _render(row: ResultRow) -> str:
    return render_comment(
        context="release-data-prep/pr",
        state="success",
        sha="1a2b3c4d" * 5,
        description="",
        target_url="",
        results=[row],
        repository="org/app",
        run_url="",
        when="",
    )


@pytest.mark.parametrize(
    "row",
    [
        ResultRow("schema", "pass", "a\\| ❌ failed | forged"),
        ResultRow("schema", "pass\\| forged", ""),
    ],
    ids=["details", "result"],
)
def test_f11_a_backslash_before_a_pipe_cannot_add_table_cells(row: ResultRow) -> None:
    body = _render(row)
    [line] = [x for x in body.splitlines() if x.startswith("| schema")]
    assert _cells(line) == 3, line
