"""``gitops-release db query``: read db/db.json with a jq program or container/channel shortcuts.

The jq program (the ``jq`` package, real jq semantics) runs on the whole document
``{"schemaVersion": 1, "releases": [...]}`` after the ``container``/``channel`` shortcuts have
narrowed ``releases``. The default program is ``.releases``. The result is the program's single
output, or a list when it yields several. ``format: table`` prints releases as a table;
``json`` prints the result as JSON. The ``result`` output is always JSON.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_release.commands.base import Context
from gitops_release.core.release import loads_json
from gitops_release.errors import ConfigError, InputError
from gitops_release.runtime import InputReader, InputSpec

MAX_RESULTS = 100_000
TABLE_COLUMNS = ("container", "channel", "tag", "digest", "source", "updatedAt")

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("db-path", "path of the release-channel database", default="db/db.json"),
    InputSpec("filter", "jq program run on the db document (default .releases)", default=".releases"),
    InputSpec("container", "only releases of this container"),
    InputSpec("channel", "only releases on this channel"),
    InputSpec("format", "how to print the result", default="table", choices=("table", "json")),
)


@dataclass(frozen=True)
class Inputs:
    db_path: str = "db/db.json"
    filter: str = ".releases"
    container: str | None = None
    channel: str | None = None
    format: str = "table"

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        values = reader.read_all(INPUTS)
        inputs = cls(**values)
        compile_filter(inputs.filter)  # a syntax error is an input error, before reading anything
        return inputs


def compile_filter(program: str) -> Any:
    import jq

    try:
        return jq.compile(program)
    except ValueError as exc:
        detail = " ".join(str(exc).split())
        raise InputError(
            "filter", f"is not a valid jq program ({detail})", fix="check the jq syntax, e.g. .releases[].tag"
        ) from None


def load_document(path: Path, shown: str) -> dict[str, Any]:
    """db.json as a JSON object; a missing, unreadable or non-object file is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"db-path {shown} does not exist", fix="run in the config repo checkout or pass --db-path"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read db-path {shown} ({exc})", fix="make it a readable UTF-8 file"
        ) from None
    try:
        doc = loads_json(text)
    except ValueError as exc:  # bad syntax, a duplicate key, absurd nesting
        raise ConfigError(
            f"db-path {shown} {exc}", fix="restore it from git history, or run 'gitops-release db validate'"
        ) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("releases"), list):
        raise ConfigError(
            f"db-path {shown} is not a release-channel database (no releases list)",
            fix="run 'gitops-release db validate' for details",
        )
    return doc


def query(
    doc: dict[str, Any], program: str, *, container: str | None = None, channel: str | None = None
) -> Any:
    """Run the jq ``program`` on ``doc`` narrowed by the shortcuts; one output, or a list of them."""
    releases = [
        r
        for r in doc["releases"]
        if isinstance(r, dict)
        and (container is None or r.get("container") == container)
        and (channel is None or r.get("channel") == channel)
    ]
    narrowed = {**doc, "releases": releases}
    compiled = compile_filter(program)
    try:
        results = list(itertools.islice(iter(compiled.input_value(narrowed)), MAX_RESULTS + 1))
    except ValueError as exc:
        detail = " ".join(str(exc).split())
        raise InputError("filter", f"failed on this db ({detail})", fix="check the jq program") from None
    if len(results) > MAX_RESULTS:
        raise InputError(
            "filter",
            f"produced more than {MAX_RESULTS} results",
            fix="narrow the jq program (it may not end)",
        )
    return results[0] if len(results) == 1 else results


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        if "repository" in value:
            sha = str(value.get("sha", ""))[:12]
            return f"{value['repository']}@{sha}" if sha else str(value["repository"])
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return json.dumps(value)
    text = str(value)
    if text.startswith("sha256:") and len(text) > 19:
        return text[:19] + "…"
    return text


def render_table(result: Any) -> str:
    """Releases (objects) as an aligned text table; scalars one per line; anything else as JSON."""
    rows = result if isinstance(result, list) else [result]
    if rows and all(isinstance(r, dict) for r in rows):
        keys = [k for k in TABLE_COLUMNS if any(k in r for r in rows)]
        keys += sorted({k for r in rows for k in r} - set(keys) - {"image"})
        if not keys:
            return json.dumps(result, indent=2)
        table = [list(keys)] + [[_cell(r.get(k)) for k in keys] for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(keys))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table
        ]
        return "\n".join(lines)
    if not rows:
        return "(no results)"
    if all(not isinstance(r, (dict, list)) for r in rows):
        return "\n".join(_cell(r) for r in rows)
    return json.dumps(result, indent=2)


@dataclass
class Outputs:
    result: Any
    count: int
    text: str = field(default="", repr=False)

    def as_dict(self) -> dict[str, object]:
        return {"result": self.result, "count": self.count}

    def report(self) -> str:
        """What a person reads on stdout: the table (or JSON), instead of name=value lines."""
        return self.text

    def summary(self) -> str:
        body = self.text if self.text else json.dumps(self.result, indent=2)
        return f"### db query\n\n```\n{body}\n```\n"


def run(inputs: Inputs, ctx: Context) -> Outputs:
    path = ctx.workdir / inputs.db_path
    doc = load_document(path, inputs.db_path)
    result = query(doc, inputs.filter, container=inputs.container, channel=inputs.channel)
    count = len(result) if isinstance(result, list) else 1
    if inputs.format == "table":
        text = render_table(result)
    else:
        text = json.dumps(result, indent=2)
    return Outputs(result=result, count=count, text=text)
