"""Where a command meets its environment: inputs, outputs, summary, masking, log groups, annotations.

Standard library only: dispatch-update's zero-install path imports this module with the
runner's bare ``python3``. actions-toolkit 0.1.15 writes outputs the same way but has no
step summary, prints empty annotation properties and cannot be imported on that path, so
the few lines it would save are written here once (see docs/architecture.md).

Inputs come three ways, first match wins: a CLI flag ``--kebab-name``, then the env var
GitHub sets for an action input, ``INPUT_KEBAB-NAME`` (upper-cased; ``_`` accepted for
``-``). An empty value means "not given", as it does on GitHub.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from gitops_release.errors import InputError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: dispatch-update's start-up
if TYPE_CHECKING:
    from typing import IO, Any

# -- secrets -----------------------------------------------------------------------------------

_SECRETS: set[str] = set()


def register_secret(value: str | None, *, out: IO[str] | None = None, announce: bool | None = None) -> None:
    """Mask ``value`` in GitHub's log (``::add-mask::``) and in everything we print ourselves.

    ``announce`` says whether to print ``::add-mask::``; by default, when running in Actions.
    """
    if announce is None:
        announce = in_actions()
    if not value or len(value) < 4:
        return
    lines = [line.strip() for line in value.splitlines()]
    for part in dict.fromkeys([value.strip(), *lines]):  # whole value first, then lines, in order
        if len(part) >= 4 and part not in _SECRETS:
            _SECRETS.add(part)
            # A workflow command is one line: "::add-mask::" + a multi-line value (a PEM key) would
            # print every line after the first in clear. Each line is announced on its own instead.
            if announce and len(part.splitlines()) == 1:
                print(f"::add-mask::{part}", file=out or sys.stdout, flush=True)


# scheme://userinfo@ in a URL: the userinfo runs to the last '@' before the path.
_URL_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)([^/?#\s]*)@")


def _hide_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group(1), match.group(2)
    # A password, or any user name of an http(s) URL (a token given as the user name), is a
    # credential; a bare ssh user name (ssh://git@github.com) is not.
    if ":" in userinfo or scheme.lower() in ("http://", "https://"):
        return f"{scheme}***@"
    return match.group(0)


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` with ``***``, and the credentials of any URL
    in it (``https://user:token@host`` -> ``https://***@host``): a remote URL that carries a
    token must never reach a log line, even when nobody registered the token."""
    for value in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(value, "***")
    if "@" in text:
        text = _URL_USERINFO.sub(_hide_userinfo, text)
    return text


def forget_secrets() -> None:
    """Tests only: clear the registry."""
    _SECRETS.clear()


def in_actions(env: Mapping[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get("GITHUB_ACTIONS") == "true"


# -- input parsing -----------------------------------------------------------------------------

_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")


def parse_bool(name: str, raw: str) -> bool:
    """YAML 1.2 core booleans only, as actions/toolkit's getBooleanInput: true/false."""
    value = raw.strip()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputError(name, f"'{raw}' is not a boolean", fix="use true or false")


def parse_int(name: str, raw: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        value = int(raw.strip(), 10)
    except ValueError:
        raise InputError(name, f"'{raw}' is not a whole number", fix="give digits only, e.g. 5") from None
    if minimum is not None and value < minimum:
        raise InputError(name, f"{value} is below the minimum {minimum}", fix=f"use {minimum} or more")
    if maximum is not None and value > maximum:
        raise InputError(name, f"{value} is above the maximum {maximum}", fix=f"use {maximum} or less")
    return value


def parse_duration(name: str, raw: str) -> float:
    """Seconds from ``90``, ``90s``, ``10m``, ``1h30m``, ``500ms``."""
    text = raw.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    match = _DURATION.fullmatch(text)
    if not text or not match or not any(match.groups()):
        raise InputError(name, f"'{raw}' is not a duration", fix="write it like 90s, 10m or 1h30m")
    hours, minutes, seconds, millis = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def parse_list(raw: str) -> list[str]:
    """Newline- or comma-separated items, stripped, empties dropped, order kept."""
    items: list[str] = []
    for line in raw.splitlines():
        items.extend(part.strip() for part in line.split(","))
    return [item for item in items if item]


def parse_relative_path(name: str, raw: str, *, example: str, allow_root: bool = False) -> str:
    """A path inside the checkout: relative, no ``..`` or ``~``, no control characters; ``.`` (the
    checkout itself) only with ``allow_root``. ``example`` is shown in the fix."""
    from pathlib import PurePosixPath  # here, not at the top: dispatch-update's start-up is measured

    text = raw.strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InputError(
            name, "contains control characters", fix=f"give a plain relative path like {example}"
        )
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or text.startswith("~"):
        raise InputError(
            name,
            f"'{text}' must be a path inside the checkout",
            fix=f"give a relative path without '..', e.g. {example}",
        )
    if not text or (not path.parts and not allow_root):  # PurePosixPath(".").parts is ()
        raise InputError(name, "is empty", fix=f"give a relative path, e.g. {example}")
    return str(path)


def parse_json(name: str, raw: str) -> Any:
    """A JSON input; bad syntax, a key given twice in one object (json.loads would silently keep
    the last) and nesting deep enough to exhaust the parser's recursion are InputErrors."""
    try:
        return json.loads(raw, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InputError(
            name,
            f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            fix="pass a JSON document, e.g. via toJSON() in the workflow",
        ) from None
    except RecursionError:
        raise InputError(
            name,
            "is nested too deeply (arrays or objects thousands of levels deep)",
            fix="pass the release document itself; it is at most a few levels deep",
        ) from None
    except ValueError as exc:  # only _refuse_duplicate_keys raises a plain ValueError here
        raise InputError(name, str(exc), fix="give each key once") from None


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"has the key {key!a} twice in one object (only the last one would count)")
            seen.add(key)
    return obj


@dataclass(frozen=True)
class InputSpec:
    """One input of a command: its kebab-case name, type, default and help line.

    kind: str, bool, int, duration (seconds, float), list (list[str]), json (any).
    ``secret`` inputs are masked as soon as they are read.
    """

    name: str
    help: str
    kind: str = "str"
    default: Any = None
    required: bool = False
    secret: bool = False
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None


class InputReader:
    """Reads inputs from CLI flags first, then ``INPUT_*`` env vars; parses them by spec."""

    def __init__(self, env: Mapping[str, str] | None = None, flags: Mapping[str, str] | None = None):
        self.env = dict(os.environ if env is None else env)
        self.flags = dict(flags or {})

    def raw(self, name: str) -> str | None:
        """The given text for ``name``, or None when absent or empty."""
        value = self.flags.get(name)
        if value is None:
            upper = name.upper()
            for key in (
                f"INPUT_{upper}",
                f"INPUT_{upper.replace('-', '_')}",
                f"INPUT_{upper.replace('_', '-')}",
            ):
                if key in self.env:
                    value = self.env[key]
                    break
        if value is None or value.strip() == "":
            return None
        return value

    def get(self, spec: InputSpec) -> Any:
        raw = self.raw(spec.name)
        if raw is None:
            if spec.required:
                raise InputError(
                    spec.name,
                    "is required but was not given",
                    fix=f"set with: {spec.name}: … (or --{spec.name} on the command line)",
                )
            return spec.default
        if spec.secret:
            register_secret(raw.strip(), announce=in_actions(self.env))
        return self.parse(spec, raw)

    def parse(self, spec: InputSpec, raw: str) -> Any:
        kind = spec.kind
        if kind == "str":
            value: Any = raw.strip()
            if spec.choices and value not in spec.choices:
                raise InputError(
                    spec.name,
                    f"'{value}' is not one of {', '.join(spec.choices)}",
                    fix=f"use one of: {', '.join(spec.choices)}",
                )
            return value
        if kind == "bool":
            return parse_bool(spec.name, raw)
        if kind == "int":
            return parse_int(spec.name, raw, minimum=spec.minimum, maximum=spec.maximum)
        if kind == "duration":
            return parse_duration(spec.name, raw)
        if kind == "list":
            return parse_list(raw)
        if kind == "json":
            return parse_json(spec.name, raw)
        raise ValueError(f"unknown input kind {kind!r}")  # programming error, not user input

    def read_all(self, specs: Sequence[InputSpec]) -> dict[str, Any]:
        """Every input by spec, keyed by the snake_case name (for dataclass constructors)."""
        return {spec.name.replace("-", "_"): self.get(spec) for spec in specs}


# -- outputs, summary, log ---------------------------------------------------------------------


def _format_output(name: str, value: str) -> str:
    """``name<<DELIM`` heredoc form with a random delimiter that cannot occur in the value."""
    while True:
        delimiter = f"ghadelimiter_{os.urandom(16).hex()}"  # os, not secrets: no hmac import
        if delimiter not in value and delimiter not in name:
            return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def output_text(value: Any) -> str:
    """How a Python value becomes an output string: JSON for containers, true/false for bools."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=False, separators=(",", ":"))
    return str(value)


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


@dataclass
class Console:
    """Everything a command prints goes through here, redacted; file commands go to the runner."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)

    @property
    def actions(self) -> bool:
        return in_actions(self.env)

    def info(self, message: str) -> None:
        print(redact(message), file=self.err, flush=True)

    def debug(self, message: str) -> None:
        if self.env.get("RUNNER_DEBUG") == "1":
            text = redact(message)
            print(
                f"::debug::{escape_data(text)}" if self.actions else f"debug: {text}",
                file=self.err,
                flush=True,
            )

    def annotation(
        self,
        level: str,
        message: str,
        *,
        title: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        """``::error title=…::message`` with only the properties that were given."""
        text = redact(message)
        if not self.actions:
            text = " ".join(text.split())  # one line, as in Actions
            # "Invalid input 'tag': input 'tag': …" says the input twice; the message names it.
            redundant = title is not None and title.startswith("Invalid input") and text.startswith("input '")
            prefix = f"{level}: {redact(title)}: " if title and not redundant else f"{level}: "
            print(prefix + text, file=self.err, flush=True)
            return
        props = {"title": title, "file": file, "line": None if line is None else str(line)}
        given = ",".join(f"{k}={escape_property(redact(v))}" for k, v in props.items() if v)
        sep = " " if given else ""
        # Workflow commands must go to stdout to be seen by the runner.
        print(f"::{level}{sep}{given}::{escape_data(text)}", file=self.out, flush=True)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        if self.actions:
            print(f"::group::{redact(title)}", file=self.out, flush=True)
        else:
            self.info(f"== {title}")
        try:
            yield
        finally:
            if self.actions:
                print("::endgroup::", file=self.out, flush=True)

    def write_outputs(self, outputs: Mapping[str, Any]) -> bool:
        """Append to $GITHUB_OUTPUT; returns False (and writes nothing) outside Actions."""
        path = self.env.get("GITHUB_OUTPUT")
        if not path:
            return False
        with open(path, "a", encoding="utf-8") as handle:
            for name, value in outputs.items():
                handle.write(_format_output(name, redact(output_text(value))))
        return True

    def write_summary(self, markdown: str) -> bool:
        """Append Markdown to $GITHUB_STEP_SUMMARY; no-op outside Actions."""
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if not path or not markdown:
            return False
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(redact(markdown).rstrip("\n") + "\n\n")
        return True


def markdown_table(title: str, rows: Mapping[str, Any]) -> str:
    """A small two-column summary table; values are code-formatted and pipe-escaped."""
    lines = [f"### {title}", "", "| output | value |", "|---|---|"]
    for name, value in rows.items():
        text = output_text(value).replace("|", "\\|").replace("\n", " ")
        if len(text) > 200:
            text = text[:197] + "..."
        lines.append(f"| {name} | `{text}` |" if text else f"| {name} | |")
    return "\n".join(lines) + "\n"
