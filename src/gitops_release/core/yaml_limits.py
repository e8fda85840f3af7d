"""Bounds on YAML aliases, checked on the composed node graph before any object is built.

A 480-byte file of nested anchors (``&a1 [*a0, *a0, …]``, nine levels) stands for 9^9 values:
building them, validating them or printing them exhausts memory. The composer shares an
aliased node instead of copying it, so counting what the aliases stand for is cheap and
happens before the constructor, the JSON Schema validator or an error message sees the data.
Used by the policy loader (PyYAML) and the overlay editor (ruamel.yaml); pure, no I/O.
"""

from __future__ import annotations

from typing import Any

from gitops_release.errors import ConfigError

#: At most this many aliases (``*name``) in one file.
MAX_ALIASES = 100
#: All aliases together may stand for at most this many values (nodes, counted expanded).
MAX_ALIAS_NODES = 10_000

ANCHORS_FIX = "write the values out instead of using YAML anchors and aliases (&name / *name)"


class AliasLimitError(ValueError):
    """The file uses more aliases, or aliases standing for more values, than accepted.

    ``problem`` is one line without the file name; ``line`` is 1-based or None.
    """

    def __init__(self, problem: str, line: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line


def parse_error(path: str, exc: Exception) -> ConfigError:
    """The one-line error for a YAML file that did not load: an alias limit (AliasLimitError), or
    a syntax error (a YAMLError, with the line of its ``problem_mark`` when it has one)."""
    if isinstance(exc, AliasLimitError):
        where = f" (line {exc.line})" if exc.line is not None else ""
        return ConfigError(f"{path}: {exc.problem}{where}", fix=ANCHORS_FIX)
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark is not None else ""
    return ConfigError(f"{path}: is not valid YAML{where}", fix="fix the YAML syntax")


def count_alias(count: int, mark: Any) -> int:
    """``count`` + 1; refused beyond MAX_ALIASES (called by a composer on each alias event)."""
    count += 1
    if count > MAX_ALIASES:
        raise AliasLimitError(f"uses more than {MAX_ALIASES} YAML aliases", _line(mark))
    return count


def check_expansion(root: Any) -> None:
    """Refuse a node graph whose aliases stand for more than MAX_ALIAS_NODES values, or that
    contains itself (an alias inside the node its anchor names).

    Works on PyYAML and ruamel.yaml nodes alike: ``value`` is a list of nodes (sequence), of
    (key, value) pairs (mapping), or a string (scalar). Iterative, so nesting depth costs no
    recursion; each distinct node is visited once.
    """
    if root is None:
        return
    expanded: dict[int, int] = {}  # id(node) -> values it stands for, itself included
    distinct = 0
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = _children(node)
        if children_done:
            on_path.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in children)
            continue
        if key in expanded:
            continue
        # Never on the path here: a node listed by its own descendant is refused below, when that
        # descendant is expanded.
        distinct += 1
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise AliasLimitError(
                    "has a YAML alias inside the node its anchor names", _line(child.start_mark)
                )
            if id(child) not in expanded:
                stack.append((child, False))
    extra = expanded[id(root)] - distinct
    if extra > MAX_ALIAS_NODES:
        raise AliasLimitError(
            f"has YAML aliases standing for {_about(extra)} values (at most {MAX_ALIAS_NODES:,} are accepted)"
        )


def _children(node: Any) -> list[Any]:
    value = node.value
    if isinstance(value, str):
        return []
    out: list[Any] = []
    for item in value:
        if isinstance(item, tuple):
            out.extend(item)
        else:
            out.append(item)
    return out


def _about(count: int) -> str:
    return f"{count:,}" if count < 10**9 else f"about 10^{len(str(count)) - 1}"


def _line(mark: Any) -> int | None:
    line = getattr(mark, "line", None)
    return line + 1 if isinstance(line, int) else None
