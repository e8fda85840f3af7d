"""``overlays status``: which image each environment deploys (seed 003's get-tags), as an
environment-by-image table marking where environments differ and which one is ahead.

Pure: takes each environment's ``EnvState`` (read by the command from the overlays and values
files) and returns rows and their renderings (Markdown, JSON, terminal text).

An environment is **ahead** of the next one in promotion order only when that can be known from
the overlays: both tags are semantic versions and its tag is the higher one, or the next
environment does not hold the image yet. Any other difference (sha tags, digests, names) is only
"differs": a sha tag says nothing about which build is newer (a pin can give the next
environment a newer build), so the table does not claim an order it cannot know.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gitops_release.core.promotion import EnvState, ImageState, code_span, plain_text
from gitops_release.core.tags import compare_versions

#: A cell shows at most this many characters of a tag.
MAX_TAG_CHARS = 40
_YELLOW, _RESET = "\x1b[33m", "\x1b[0m"


@dataclass(frozen=True)
class StatusRow:
    """One image of one app across the environments (``states`` in ``env_order``; None: the
    environment does not hold the image)."""

    app: str
    image: str
    states: tuple[ImageState | None, ...]
    files: tuple[str | None, ...]
    differs: bool  # the environments holding the image do not all hold the same version
    ahead: tuple[str, ...]  # environments ahead of the next one, in env order


def _same(a: ImageState | None, b: ImageState | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.new_name, a.new_tag, a.digest) == (b.new_name, b.new_tag, b.digest)


def _is_ahead(this: ImageState | None, following: ImageState | None) -> bool:
    """Known to be ahead: a higher semantic version (same name and no digest pinning something
    else), or an image the next environment lacks."""
    if this is None or _same(this, following):
        return False
    if following is None:
        return True
    if this.new_tag is None or following.new_tag is None or this.new_name != following.new_name:
        return False
    return compare_versions(following.new_tag, this.new_tag) == 1


def status_rows(env_order: Sequence[str], states: Mapping[str, EnvState]) -> list[StatusRow]:
    """One row per (app, image) any environment holds, sorted by app and image."""
    keys = sorted({key for env in env_order for key in states.get(env, {})})
    rows = []
    for key in keys:
        found = [states.get(env, {}).get(key) for env in env_order]
        cells = tuple(None if entry is None else entry[1] for entry in found)
        files = tuple(None if entry is None else entry[0].file for entry in found)
        present = [cell for cell in cells if cell is not None]
        differs = any(not _same(present[0], other) for other in present[1:])
        ahead = tuple(
            env_order[index]
            for index in range(len(env_order) - 1)
            if _is_ahead(cells[index], cells[index + 1])
        )
        rows.append(StatusRow(key[0], key[1], cells, files, differs, ahead))
    return rows


def cell_text(state: ImageState | None) -> str:
    """A cell: the tag and short digest (``sha-2@sha256:0123456789ab``), with the new name in
    front when the entry renames the image; ``-`` when the environment lacks the image."""
    if state is None:
        return "-"
    tag = (
        state.new_tag
        if state.new_tag is None or len(state.new_tag) <= MAX_TAG_CHARS
        else state.new_tag[: MAX_TAG_CHARS - 1] + "…"
    )
    return replace(state, new_tag=tag).version()


def _status_words(row: StatusRow, env_order: Sequence[str]) -> str:
    if not row.differs:
        return "same"
    if not row.ahead:
        return "differs"
    return "; ".join(f"{env} ahead of {env_order[env_order.index(env) + 1]}" for env in row.ahead)


def status_markdown(env_order: Sequence[str], rows: Sequence[StatusRow]) -> str:
    """A Markdown table: app, image, one column per environment, status. Cells of an
    environment ahead of the next carry ▲; a row whose environments differ is marked in status."""
    if not rows:
        return "No images found in the overlays."
    header = ["app", "image", *env_order, "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            code_span(cell_text(state)) + (" ▲" if env in row.ahead else "")
            for env, state in zip(env_order, row.states, strict=True)
        ]
        words = _status_words(row, env_order)
        lines.append(
            "| "
            + " | ".join(
                [
                    code_span(row.app or "-"),
                    code_span(row.image),
                    *cells,
                    words if words == "same" else f"**{words}**",
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def status_data(env_order: Sequence[str], rows: Sequence[StatusRow]) -> dict[str, Any]:
    """The JSON shape (docs/promote-overlay.md)::

        {"environments": ["dev", "stage", "prod"],
         "images": [{"app": "my-app", "image": "ghcr.io/org/my-app",
                     "environments": {"dev": {"newName": null, "tag": "sha-2",
                                              "digest": "sha256:…", "file": "…/dev/kustomization.yaml"},
                                      "stage": null, ...},
                     "differs": true, "ahead": ["dev"]}]}

    An environment that does not hold the image is null."""
    return {
        "environments": list(env_order),
        "images": [
            {
                "app": row.app,
                "image": row.image,
                "environments": {
                    env: None
                    if state is None
                    else {
                        "newName": state.new_name,
                        "tag": state.new_tag,
                        "digest": state.digest,
                        "file": file,
                    }
                    for env, state, file in zip(env_order, row.states, row.files, strict=True)
                },
                "differs": row.differs,
                "ahead": list(row.ahead),
            }
            for row in rows
        ],
    }


def status_json(env_order: Sequence[str], rows: Sequence[StatusRow]) -> str:
    """``status_data`` as 2-space JSON text with a final newline."""
    return json.dumps(status_data(env_order, rows), indent=2) + "\n"


def status_text(env_order: Sequence[str], rows: Sequence[StatusRow], *, color: bool = False) -> str:
    """Aligned columns for a terminal: APP, IMAGE, one column per environment, STATUS. A cell of
    an environment ahead of the next ends in ``^`` (and is yellow with ``color``)."""
    if not rows:
        return "No images found in the overlays."
    header = ["APP", "IMAGE", *(env.upper() for env in env_order), "STATUS"]
    table = [header]
    ahead_cells: set[tuple[int, int]] = set()
    for row_index, row in enumerate(rows, start=1):
        cells = []
        for column, (env, state) in enumerate(zip(env_order, row.states, strict=True), start=2):
            text = plain_text(cell_text(state))
            if env in row.ahead:
                text += " ^"
                ahead_cells.add((row_index, column))
            cells.append(text)
        table.append(
            [plain_text(row.app or "-"), plain_text(row.image), *cells, _status_words(row, env_order)]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = []
    for row_index, line in enumerate(table):
        parts = []
        for column, cell in enumerate(line):
            padded = cell.ljust(widths[column])
            if color and (row_index, column) in ahead_cells:
                padded = f"{_YELLOW}{cell}{_RESET}" + " " * (widths[column] - len(cell))
            parts.append(padded)
        out.append("  ".join(parts).rstrip())
    return "\n".join(out)
