"""``gitops-release db query``: read db/db.json with a jq program or container/channel shortcuts.

The jq program (the ``jq`` package, real jq semantics) runs on the whole document
``{"schemaVersion": 1, "releases": [...]}`` after the ``container``/``channel`` shortcuts have
narrowed ``releases``. The default program is ``.releases``. The result is the program's single
output, or a list when it yields several. ``format: table`` prints releases as a table;
``json`` prints the result as JSON. The ``result`` output is always JSON.

The program runs in a child process (``sys.executable``) with an empty environment, so ``$ENV``
and ``env`` are ``{}`` (no token can leak through a filter), a memory limit where the platform
has one, and the ``timeout`` input: a program that does not end (``until(false; .)``,
``[range(1e9)]``) is killed and reported as an error naming ``filter``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_release.commands.base import Context
from gitops_release.core.db import check_schema_version
from gitops_release.core.release import loads_json
from gitops_release.errors import ConfigError, InputError
from gitops_release.runtime import InputReader, InputSpec

MAX_RESULTS = 100_000
DEFAULT_TIMEOUT = 10.0
MEMORY_LIMIT = 2 * 1024**3  # bytes of address space for the jq child (where RLIMIT_AS exists)
TABLE_COLUMNS = ("container", "channel", "tag", "digest", "source", "updatedAt")

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("db-path", "path of the release-channel database", default="db/db.json"),
    InputSpec("filter", "jq program run on the db document (default .releases)", default=".releases"),
    InputSpec("container", "only releases of this container"),
    InputSpec("channel", "only releases on this channel"),
    InputSpec("format", "how to print the result", default="table", choices=("table", "json")),
    InputSpec(
        "timeout",
        "how long the jq program may run before it is stopped, e.g. 10s or 1m",
        kind="duration",
        default=DEFAULT_TIMEOUT,
    ),
)


@dataclass(frozen=True)
class Inputs:
    db_path: str = "db/db.json"
    filter: str = ".releases"
    container: str | None = None
    channel: str | None = None
    format: str = "table"
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        values = reader.read_all(INPUTS)
        inputs = cls(**values)
        if not inputs.timeout > 0:
            raise InputError("timeout", "must be more than 0 seconds", fix="e.g. 10s or 1m")
        # A syntax error is an input error, before reading anything.
        compile_filter(inputs.filter, timeout=inputs.timeout)
        return inputs


# Runs in the child: no gitops_release import (only json and jq), environment cleared before jq
# compiles the program (jq binds $ENV at compile time and reads environ for `env`).
_CHILD = r"""
import json, os, sys
os.environ.clear()
limit = int(sys.argv[1])
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
except (ImportError, ValueError, OSError):
    pass
request = json.loads(sys.stdin.buffer.read())
sys.path[:0] = request["path"]
import itertools
import jq

def reply(obj):
    sys.stdout.buffer.write(json.dumps(obj).encode("utf-8"))
    sys.stdout.flush()

try:
    program = jq.compile(request["program"])
except ValueError as exc:
    reply({"error": "compile", "detail": str(exc)})
    sys.exit(0)
if "doc" not in request:
    reply({"results": []})
    sys.exit(0)
try:
    results = list(itertools.islice(iter(program.input_value(request["doc"])), request["max"] + 1))
except ValueError as exc:
    reply({"error": "run", "detail": str(exc)})
    sys.exit(0)
reply({"results": results})
"""


def _run_jq(program: str, doc: Any | None, timeout: float) -> list[Any]:
    """Compile (and, given ``doc``, run) ``program`` in a child process; at most MAX_RESULTS + 1
    results. Every failure is an InputError naming ``filter``."""
    request: dict[str, Any] = {"path": [p for p in sys.path if p], "program": program, "max": MAX_RESULTS}
    if doc is not None:
        request["doc"] = doc
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(MEMORY_LIMIT)],
            input=json.dumps(request).encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            env={},
            check=False,
        )
    except subprocess.TimeoutExpired:  # subprocess.run has killed the child
        raise InputError(
            "filter",
            f"did not finish within {timeout:g}s and was stopped",
            fix="make the jq program end (e.g. no until(false; ...)), or raise timeout for a huge db",
        ) from None
    try:
        answer = json.loads(proc.stdout) if proc.stdout else None
    except ValueError:
        answer = None
    if proc.returncode != 0 or not isinstance(answer, dict):
        stderr = " ".join(proc.stderr.decode("utf-8", "replace").split())
        why = "ran out of memory" if "memory" in stderr.lower() else f"crashed (exit code {proc.returncode})"
        raise InputError(
            "filter",
            f"{why} in the jq child process ({stderr[-200:] or 'no message'})",
            fix="narrow the jq program; it may build an enormous value",
        )
    if "error" in answer:
        detail = " ".join(str(answer.get("detail", "")).split())
        if answer["error"] == "compile":
            raise InputError(
                "filter",
                f"is not a valid jq program ({detail})",
                fix="check the jq syntax, e.g. .releases[].tag",
            )
        raise InputError("filter", f"failed on this db ({detail})", fix="check the jq program")
    results: list[Any] = answer["results"]
    return results


def compile_filter(program: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Refuse a jq program that does not compile (InputError naming ``filter``)."""
    _run_jq(program, None, timeout)


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
    # A db written by a newer gitops-release may mean something else by the same fields.
    check_schema_version(doc, path=f"db-path {shown}")
    return doc


def query(
    doc: dict[str, Any],
    program: str,
    *,
    container: str | None = None,
    channel: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Any:
    """Run the jq ``program`` on ``doc`` narrowed by the shortcuts; one output, or a list of them.

    The program runs in a child process with an empty environment, stopped after ``timeout``
    seconds."""
    releases = [
        r
        for r in doc["releases"]
        if isinstance(r, dict)
        and (container is None or r.get("container") == container)
        and (channel is None or r.get("channel") == channel)
    ]
    narrowed = {**doc, "releases": releases}
    results = _run_jq(program, narrowed, timeout)
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
    result = query(
        doc, inputs.filter, container=inputs.container, channel=inputs.channel, timeout=inputs.timeout
    )
    count = len(result) if isinstance(result, list) else 1
    if inputs.format == "table":
        text = render_table(result)
    else:
        text = json.dumps(result, indent=2)
    return Outputs(result=result, count=count, text=text)
