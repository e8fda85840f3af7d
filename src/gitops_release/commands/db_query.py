"""``gitops-release db query``: read db/db.json with a jq program or container/channel shortcuts.

The jq program (the ``jq`` package, real jq semantics) runs on the whole document
``{"schemaVersion": 1, "releases": [...]}`` after the ``container``/``channel`` shortcuts have
narrowed ``releases``. The default program is ``.releases``. The result is the program's single
output, or a list when it yields several. ``format: table`` prints releases as a table;
``json`` prints the result as JSON. The ``result`` output is always JSON.

The program runs in a child process (``sys.executable -I``) with an empty environment, so ``$ENV``
and ``env`` are ``{}`` (no token can leak through a filter), a memory limit where the platform
has one, and the ``timeout`` input: a program that does not end (``until(false; .)``,
``[range(1e9)]``) is killed and reported as an error naming ``filter``.

The program may read nothing but the db: jq's module system (``import``, ``include``,
``modulemeta``) would read any ``.jq`` or ``.json`` file (``import "/x/creds" as $c {search:
"/"}``), so those words are refused in the program text before jq sees it, and the child runs in
an empty temporary directory, with no module search path and no file descriptor to spare, so a
file it still tried to open would fail.

Releases reach the program sorted by container, then channel in the policy's promotion order
(``channels`` of ``policy-path``, default dev, stage, prod); a ``channel`` the policy does not
know (and no release uses) is an error naming the known channels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_release.adapters.files import path_in_checkout, read_text_if_exists
from gitops_release.commands.base import Context
from gitops_release.core.db import check_schema_version
from gitops_release.core.policy import load_policy
from gitops_release.core.release import loads_json, show
from gitops_release.errors import ConfigError, InputError
from gitops_release.runtime import InputReader, InputSpec

MAX_RESULTS = 100_000
DEFAULT_TIMEOUT = 10.0
MEMORY_LIMIT = 2 * 1024**3  # bytes of address space for the jq child (where RLIMIT_AS exists)
TABLE_COLUMNS = ("container", "channel", "image", "tag", "digest", "source", "updatedAt")

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("db-path", "path of the release-channel database", default="db/db.json"),
    InputSpec(
        "policy-path",
        "policy file; its channels order the releases and are the known channels (absent = dev, stage, prod)",
        default=".gitops-release.yml",
    ),
    InputSpec("filter", "jq program run on the db document", default=".releases"),
    InputSpec("container", "only releases of this container"),
    InputSpec("channel", "only releases on this channel (one of the policy's channels)"),
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
    policy_path: str = ".gitops-release.yml"
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
# compiles the program (jq binds $ENV at compile time and reads environ for `env`). Once jq is
# imported, RLIMIT_NOFILE at 3 (stdin, stdout and stderr are open) makes every further open()
# fail: a module or data file jq might still try to load, ~/.jq included (jq finds the home
# directory through /etc/passwd once HOME is gone). `time` first: it loads the local timezone.
_CHILD = r"""
import json, os, sys, time
os.environ.clear()
limit = int(sys.argv[1])
try:
    import resource
except ImportError:
    resource = None
try:
    if resource is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
except (ValueError, OSError):
    pass
request = json.loads(sys.stdin.buffer.read())
sys.path[:0] = request["path"]
import itertools
import jq
if resource is not None:
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))
    except (ValueError, OSError):
        pass

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


#: jq words that read files: the import / include directives (a .jq module or a .json data file,
#: any path with ``{search: "/"}``) and the builtin that reads a module's metadata.
FILE_READING_WORDS = frozenset({"import", "include", "modulemeta"})


def _is_word_start(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_word_char(ch: str) -> bool:
    return _is_word_start(ch) or ("0" <= ch <= "9")


def _skip_blank(program: str, i: int) -> int:
    """The index of the next character that is not whitespace or in a comment."""
    while i < len(program):
        if program[i] == "#":
            end = program.find("\n", i)
            i = len(program) if end < 0 else end
        elif program[i].isspace():
            i += 1
        else:
            break
    return i


def bare_words(program: str) -> Iterator[tuple[str, int]]:
    """Each word jq would read as a keyword or a function name, with its offset: words outside
    strings and comments that are not a ``.field``, a ``$variable``, a ``@format``, a
    ``module::name`` or an object key (``{import: 1}``, ``{import}``).

    Mirrors jq's lexer: strings with ``\\`` escapes and ``\\(...)`` interpolations (code again,
    to the matching bracket), ``#`` comments to the end of the line. Where the two could
    disagree (jq 1.7+ continues a comment after a backslash at the end of a line), this reads
    more text as code, so it refuses more, never less. A program jq cannot parse never loads a
    module (jq parses the whole program first), so only valid programs need to be read right."""
    contexts: list[list[str]] = [[]]  # open brackets: the program, then each open interpolation
    in_string = False
    previous = ""  # the last character of code before the current one, blanks skipped
    i, n = 0, len(program)
    while i < n:
        ch = program[i]
        if in_string:
            if ch == "\\":
                if program.startswith("(", i + 1):
                    contexts.append(["("])
                    in_string, previous = False, "("
                i += 2
            elif ch == '"':
                in_string, previous = False, '"'
                i += 1
            else:
                i += 1
            continue
        if ch == "#" or ch.isspace():
            i = _skip_blank(program, i)
            continue
        if ch == '"':
            in_string = True
            i += 1
            continue
        if _is_word_start(ch):
            start = i
            while i < n:  # jq's IDENT: (word::)*word
                if _is_word_char(program[i]):
                    i += 1
                elif program.startswith("::", i) and i + 2 < n and _is_word_start(program[i + 2]):
                    i += 2
                else:
                    break
            word = program[start:i]
            glued = program[start - 1] if start else ""
            brackets = contexts[-1]
            after = _skip_blank(program, i)
            following = program[after : after + 2]
            is_key = (
                bool(brackets)
                and brackets[-1] == "{"
                and previous in ("{", ",")
                and (following[:1] in (",", "}") or (following[:1] == ":" and following != "::"))
            )
            if glued not in (".", "$", "@") and "::" not in word and not is_key:
                yield word, start
            previous = word[-1]
            continue
        if ch in "([{":
            contexts[-1].append(ch)
        elif ch in ")]}":
            if contexts[-1]:
                contexts[-1].pop()
            if not contexts[-1] and len(contexts) > 1:  # the ")" that ends an interpolation
                contexts.pop()
                in_string = True
        previous = ch
        i += 1


def refuse_file_access(program: str) -> None:
    """InputError naming ``filter`` when the program would make jq read a file."""
    for word, offset in bare_words(program):
        if word in FILE_READING_WORDS:
            raise InputError(
                "filter",
                f"uses '{word}' (at character {offset + 1}), which makes jq read files; "
                "db query's jq programs read only the db",
                fix="remove it (jq modules and data files are not available here); "
                f'a field named {word} is .{word} or .["{word}"]',
            )


def _child_path() -> list[str]:
    """sys.path for the child, to find jq: never the current directory, which may be the
    checkout (python -m puts it first), where a jq.py would otherwise be imported."""
    here = os.path.realpath(os.getcwd())
    return [p for p in sys.path if p and os.path.realpath(p) != here]


def _run_jq(program: str, doc: Any | None, timeout: float) -> list[Any]:
    """Compile (and, given ``doc``, run) ``program`` in a child process; at most MAX_RESULTS + 1
    results. Every failure is an InputError naming ``filter``."""
    refuse_file_access(program)
    request: dict[str, Any] = {"path": _child_path(), "program": program, "max": MAX_RESULTS}
    if doc is not None:
        request["doc"] = doc
    try:
        # -I: no PYTHON* variables, no user site, no script directory on sys.path; an empty
        # working directory: nothing for a relative module path to find.
        with tempfile.TemporaryDirectory(prefix="gitops-release-jq-") as empty:
            proc = subprocess.run(
                [sys.executable, "-I", "-c", _CHILD, str(MEMORY_LIMIT)],
                input=json.dumps(request).encode("utf-8"),
                capture_output=True,
                timeout=timeout,
                env={},
                cwd=empty,
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
    channel_order: Sequence[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Any:
    """Run the jq ``program`` on ``doc`` narrowed by the shortcuts; one output, or a list of them.

    With ``channel_order`` (the policy's promotion order) the releases are sorted by container,
    then channel in that order (other channels after, by name). The program runs in a child
    process with an empty environment, stopped after ``timeout`` seconds."""
    releases = [
        r
        for r in doc["releases"]
        if isinstance(r, dict)
        and (container is None or r.get("container") == container)
        and (channel is None or r.get("channel") == channel)
    ]
    if channel_order is not None:
        releases.sort(key=_promotion_key(channel_order))
    narrowed = {**doc, "releases": releases}
    results = _run_jq(program, narrowed, timeout)
    if len(results) > MAX_RESULTS:
        raise InputError(
            "filter",
            f"produced more than {MAX_RESULTS} results",
            fix="narrow the jq program (it may not end)",
        )
    return results[0] if len(results) == 1 else results


def _promotion_key(channel_order: Sequence[str]) -> Any:
    rank = {name: index for index, name in enumerate(channel_order)}

    def key(release: dict[str, Any]) -> tuple[str, int, str]:
        container, channel = release.get("container"), release.get("channel")
        container = container if isinstance(container, str) else ""
        channel = channel if isinstance(channel, str) else ""
        return container, rank.get(channel, len(rank)), channel

    return key


def check_channel(channel: str, policy_channels: Sequence[str], doc: dict[str, Any], where: str) -> None:
    """InputError naming ``channel`` when neither the policy nor any stored release has it: a typo
    would otherwise print "(no results)" as if the channel were empty."""
    if channel in policy_channels:
        return
    if any(isinstance(r, dict) and r.get("channel") == channel for r in doc["releases"]):
        return  # a channel since removed from the policy: its releases are still worth seeing
    known = ", ".join(policy_channels)
    raise InputError(
        "channel",
        f"{show(channel)} is not a channel of {where}; its channels are {known}",
        fix=f"use one of: {known}",
    )


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
        keys += sorted({k for r in rows for k in r} - set(keys))
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
    # The paths are relative to the working directory (the checkout): a symbolic link along
    # either would print a file from outside it.
    path = path_in_checkout(ctx.workdir, inputs.db_path, "db-path")
    policy_file = path_in_checkout(ctx.workdir, inputs.policy_path, "policy-path")
    doc = load_document(path, inputs.db_path)
    # The same policy loader as update-db; an absent file gives the default channels.
    policy_text = read_text_if_exists(policy_file, "policy-path", inputs.policy_path)
    policy = load_policy(policy_text, path=inputs.policy_path)
    if inputs.channel is not None:
        where = (
            f"the policy {inputs.policy_path}"
            if policy_text is not None
            else f"the default policy (no {inputs.policy_path})"
        )
        check_channel(inputs.channel, policy.channels, doc, where)
    result = query(
        doc,
        inputs.filter,
        container=inputs.container,
        channel=inputs.channel,
        channel_order=policy.channels,
        timeout=inputs.timeout,
    )
    count = len(result) if isinstance(result, list) else 1
    if inputs.format == "table":
        text = render_table(result)
    else:
        text = json.dumps(result, indent=2)
    return Outputs(result=result, count=count, text=text)
