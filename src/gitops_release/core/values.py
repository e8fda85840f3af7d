"""Read and edit scalar values of a Helm-style values file (``values-prod.yaml``) by key path.

Values files are large and written by hand, so an edit never re-dumps the file: ruamel.yaml
composes the node graph (with exact character positions), the new values are spliced into the
input text at those positions, and the result is accepted only when it composes to exactly the
intended document (the input's, with the changed keys changed). Every byte outside the edited
values stays as it was: comments, key order, blank lines, trailing spaces, CRLF, a BOM,
``%YAML``/``---`` headers, the final newline (or its absence), flow mappings. Where a splice
cannot be made safely the edit is refused with a ConfigError; nothing is ever rewritten whole.

Key paths are dot-separated mapping keys (``image.tag``, ``app.images.api.tag``); a key that
itself contains a dot or a backslash is written with a backslash before it, as Helm's ``--set``
does: ``nodeSelector.kubernetes\\.io/os``. Pure: text in, text out.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from gitops_release.core.yaml_limits import (
    AliasLimitError,
    check_expansion,
    count_alias,
    parse_error,
)
from gitops_release.errors import ConfigError

#: Files longer than this many characters are refused before parsing (values files have a few
#: hundred lines; ruamel.yaml takes seconds per megabyte, and every edit reads the file twice).
MAX_VALUES_CHARS = 2 * 1024 * 1024

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"

_SHARED_FIX = (
    "write the values on this key path out in full, without YAML anchors (&name), aliases "
    "(*name) or merge keys (<<): an edit here must never change another place of the file"
)
_ADD_FIX = "create the key in the file, or set add-missing: true to have it added"


#: Mappings and lists nest at most this deep (a values file nests a dozen levels; the composer
#: recurses, and a Python recursion error takes seconds to unwind).
MAX_DEPTH = 100


class _TooDeep(Exception):
    """The document nests deeper than MAX_DEPTH; ``args[0]`` is the 1-based line."""


class _BoundedComposer(Composer):
    """Aliases bounded (yaml_limits) on the composed nodes, before anything else reads them;
    nesting bounded by MAX_DEPTH. A redefined anchor is YAML (the later one counts), not worth a
    warning on stderr."""

    _aliases = 0
    _depth = 0

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.warn_double_anchors = False

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            self._aliases = count_alias(self._aliases, self.parser.peek_event().start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooDeep(self.parser.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Any:
        node = super().compose_document()
        check_expansion(node)
        return node


def _compose(text: str, path: str) -> Node | None:
    """The one document of ``text`` as a node graph (None when empty); ConfigError otherwise."""
    if len(text) > MAX_VALUES_CHARS:
        raise ConfigError(
            f"{path}: is {len(text):,} characters long (at most {MAX_VALUES_CHARS:,} are accepted)",
            fix="split the values file, or give the path of the per-environment values file",
        )
    yaml = YAML()
    yaml.Composer = _BoundedComposer
    try:
        documents = list(yaml.compose_all(text))
    except (AliasLimitError, YAMLError) as exc:
        raise parse_error(path, exc) from None
    except _TooDeep as exc:
        raise ConfigError(
            f"{path}: nests more than {MAX_DEPTH} levels deep (line {exc.args[0]})",
            fix="flatten the values file",
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: nests too deeply", fix="flatten the values file") from None
    if len(documents) > 1:  # Helm reads the first only; an edit of "the" value is ambiguous
        raise ConfigError(
            f"{path}: has {len(documents)} YAML documents (a values file has one)",
            fix="keep one document in the values file (a --- before it at most, none after it)",
        )
    root = documents[0] if documents else None
    if root is not None and _is_null(root):  # "---" alone: an empty document
        root = None
    if root is not None and not isinstance(root, MappingNode):
        raise ConfigError(
            f"{path}: is not a values file (the top level is not a mapping)",
            fix="give the path of a Helm values file (a YAML mapping)",
        )
    if root is not None:
        _check_duplicates(root, path)
    return root


def _check_duplicates(root: MappingNode, path: str) -> None:
    """Refuse a key written twice in one mapping anywhere: readers disagree on which of the two
    counts, so which one an edit should change is not knowable. Keys compare as written."""
    stack: list[tuple[Node, str]] = [(root, "")]  # aliases are walked again: yaml_limits bounds them
    while stack:
        node, where = stack.pop()
        if isinstance(node, ScalarNode):
            continue
        if isinstance(node, MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                name = key.value if isinstance(key, ScalarNode) else None
                if name is not None and str(key.tag) != _MERGE:
                    if name in keys:
                        shown = f"{where}.{_escape(name)}" if where else _escape(name)
                        raise ConfigError(
                            f"{path}: key {shown} appears twice (line {key.start_mark.line + 1})",
                            fix="delete one of the two keys",
                        )
                    keys.add(name)
                inner = _escape(name) if name is not None else "?"
                stack.append((value, f"{where}.{inner}" if where else inner))
        else:
            stack.extend((item, where) for item in node.value)


# -- key paths -----------------------------------------------------------------------------------


def _escape(segment: str) -> str:
    return segment.replace("\\", "\\\\").replace(".", "\\.")


def split_key_path(key_path: str, *, path: str) -> tuple[str, ...]:
    """``image.tag`` -> ("image", "tag"); ``a\\.b.c`` -> ("a.b", "c"). ConfigError when a
    segment is empty or a backslash escapes anything but a dot or a backslash."""
    segments: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(key_path):
        char = key_path[index]
        if char == "\\":
            following = key_path[index + 1 : index + 2]
            if following not in (".", "\\"):
                raise ConfigError(
                    f"{path}: key path {key_path!r} has a backslash before {following or 'the end'!r}",
                    fix="write a dot inside a key as \\. and a backslash as \\\\ (image.tag, a\\.b.c)",
                )
            current.append(following)
            index += 2
            continue
        if char == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    segments.append("".join(current))
    if any(not s for s in segments):
        raise ConfigError(
            f"{path}: key path {key_path!r} has an empty key",
            fix="write the key path as keys joined by single dots, e.g. image.tag",
        )
    return tuple(segments)


# -- finding a key -------------------------------------------------------------------------------


@dataclass
class _Found:
    """Where a key path leads: the mappings walked (root first), and either the key and its
    value node, or the segments missing below the deepest existing mapping (``chain[-1]``), or
    below a key whose value is null (``null_key``/``null_value``)."""

    chain: list[MappingNode] = field(default_factory=list)
    key: ScalarNode | None = None
    value: Node | None = None
    missing: tuple[str, ...] = ()
    null_key: ScalarNode | None = None
    null_value: ScalarNode | None = None
    walked: list[str] = field(default_factory=list)  # keys found, root first


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and str(node.tag) == _NULL


def _walk(root: Node | None, segments: tuple[str, ...], key_path: str, path: str, *, writing: bool) -> _Found:
    found = _Found()
    node = root
    for depth, segment in enumerate(segments):
        above = ".".join(_escape(s) for s in segments[:depth]) or "the top level"
        if node is None:  # empty file
            found.missing = segments
            return found
        if writing and depth and node.anchor:
            raise ConfigError(
                f"{path}: {key_path}: {above} is a YAML anchor or alias (&{node.anchor}): "
                "other places share it",
                fix=_SHARED_FIX,
            )
        if depth and isinstance(node, ScalarNode) and _is_null(node):
            found.null_key, found.null_value, found.key = found.key, node, None
            found.missing = segments[depth:]
            return found
        if not isinstance(node, MappingNode):
            raise ConfigError(
                f"{path}: {key_path}: {above} is not a mapping (line {node.start_mark.line + 1})",
                fix=f"point the key path at a value inside mappings, or make {above} a mapping",
            )
        for key, _ in node.value:
            if isinstance(key, ScalarNode) and str(key.tag) == _MERGE:
                raise ConfigError(
                    f"{path}: {key_path}: {above} uses a YAML merge key (<<) (line "
                    f"{key.start_mark.line + 1}): its keys may come from another mapping",
                    fix=_SHARED_FIX,
                )
        found.chain.append(node)
        pair = next(((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == segment), None)
        if pair is None:
            found.missing = segments[depth:]
            return found
        found.key, node = pair
        found.walked.append(segment)
    assert node is not None  # a found key's value is a node
    found.value = node
    where = f"(line {node.start_mark.line + 1})"
    if not isinstance(node, ScalarNode):
        raise ConfigError(
            f"{path}: {key_path}: is a {'list' if not isinstance(node, MappingNode) else 'mapping'}, "
            f"not a single value {where}",
            fix="point the key path at a single value (e.g. image.tag, not image)",
        )
    if node.style in ("|", ">"):
        raise ConfigError(
            f"{path}: {key_path}: is a multi-line block scalar ({node.style}) {where}",
            fix="write the value on one line (tag: 1.2.3)",
        )
    if writing and node.anchor:
        raise ConfigError(
            f"{path}: {key_path}: is a YAML anchor or alias (&{node.anchor}/*{node.anchor}) {where}",
            fix=_SHARED_FIX,
        )
    return found


def get_value(text: str, key_path: str, *, path: str) -> str | None:
    """The value at ``key_path`` as written (``tag: 1.10`` gives "1.10", ``tag: '1.10'`` too);
    None when the key (or a mapping above it) is absent or the value is null (``~``, empty).

    ConfigError when the file is not a values file, a mapping above the key is something else,
    the value is a list, mapping or block scalar, or a merge key (<<) is on the path.
    """
    return get_values(text, (key_path,), path=path)[key_path]


def get_values(text: str, key_paths: Iterable[str], *, path: str) -> dict[str, str | None]:
    """``get_value`` of each key path, reading the file once (a tag, digest and repository)."""
    root = _compose(text, path)
    values: dict[str, str | None] = {}
    for key_path in key_paths:
        found = _walk(root, split_key_path(key_path, path=path), key_path, path, writing=False)
        values[key_path] = None if found.value is None or _is_null(found.value) else found.value.value
    return values


# -- writing values ------------------------------------------------------------------------------

# What YAML 1.1 (Helm's go-yaml), YAML 1.2 or Go's number parsing may read as something other
# than a string: such a value must be quoted for Helm to get the string.
_NOT_A_STRING = re.compile(
    r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9_]+)?|\.[0-9_]+(?:[eE][-+]?[0-9_]+)?)"
    r"|[-+]?0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][-+]?[0-9_]+)?|[-+]?0[bB][01_]+|[-+]?0[oO][0-7_]+"
    r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[-+]?\.?(?:inf|Inf|INF|infinity|Infinity|INFINITY)|\.?(?:nan|NaN|NAN)"
    r"|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF"
    r"|null|Null|NULL|~|=|<<"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?"
)
_PLAIN = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./:@+=-]*")


def _plain_ok(value: str, *, flow: bool, tagged: bool = False) -> bool:
    """Whether ``value`` written plain is read back as this string by every YAML reader
    (``tagged``: after ``!!str``, which makes any plain scalar a string)."""
    if not _PLAIN.fullmatch(value) or value.endswith(":"):
        return False
    if flow and ":" in value:  # libyaml-derived readers refuse "a:b" inside {...}
        return False
    # _NOT_A_STRING covers what ruamel.yaml's YAML 1.1 and 1.2 resolvers read as non-strings
    # (a test checks that on generated values)
    return tagged or not _NOT_A_STRING.fullmatch(value)


def _double(value: str) -> str:
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():  # not: controls, line/paragraph separators, BOM, NBSP
            out.append(char)
        elif ord(char) < 0x100:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def _scalar(value: str, style: str | None, *, flow: bool, tagged: bool = False) -> str:
    """``value`` as YAML text in the quote style ``style`` ('"', "'" or None for plain), plain
    and single quotes giving way to double quotes where they cannot hold the value as a string."""
    if style == "'" and value.isprintable():
        return "'" + value.replace("'", "''") + "'"
    if style is None and _plain_ok(value, flow=flow, tagged=tagged):
        return value
    return _double(value)


def _key_text(key: str, *, flow: bool) -> str:
    return _scalar(key, None, flow=flow)


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str
    rank: int = 0  # among insertions at one place: lower first (deeper keys before shallower)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _eol(text: str, at: int) -> str:
    """The line ending used around ``at`` (the file's first one when the line has none)."""
    match = _LINE_BREAK.search(text, at) or _LINE_BREAK.search(text)
    return match.group() if match else "\n"


def _line_start(text: str, at: int) -> int:
    """Index of the first character of the line of ``at`` (after a BOM, which stays)."""
    start = max(text.rfind("\n", 0, at), text.rfind("\r", 0, at)) + 1
    return 1 if start == 0 and text.startswith("\ufeff") else start


def _line_end(text: str, at: int) -> int:
    """Index of the line break ending the line of ``at`` (len(text) on the last line)."""
    match = _LINE_BREAK.search(text, at)
    return match.start() if match else len(text)


def _after_colon(text: str, key: ScalarNode) -> int | None:
    """The index just after the ``:`` that follows ``key`` (None when not simple ``key:``)."""
    match = re.compile(r"[ \t]*:").match(text, key.end_mark.index)
    return match.end() if match else None


class _CannotSplice(Exception):
    """The text around a node is not in a shape the line edits handle; ``args[0]`` says why."""


def _value_end(text: str, key: ScalarNode, value: Node) -> int:
    """Where the text of ``key``'s value ends (an empty null value ends at the colon)."""
    if isinstance(value, ScalarNode) and value.value == "" and value.style is None:
        colon = _after_colon(text, key)
        if colon is None:  # "? key" without a value: the node's marks point past it
            raise _CannotSplice(f"key {_escape(key.value)} is not followed by a colon")
        return colon
    return int(value.end_mark.index)


def _content_end(text: str, mapping: MappingNode) -> int:
    """Where the last value of a non-empty ``mapping`` ends, descending into block values."""
    node: Node = mapping
    key: ScalarNode | None = None
    while not getattr(node, "flow_style", True) and node.value:  # block collection
        last = node.value[-1]
        if isinstance(last, tuple):
            key, node = last
        else:
            key, node = None, last
    if key is not None and isinstance(node, ScalarNode):
        return _value_end(text, key, node)
    return int(node.end_mark.index)


def _indent_step(root: Node | None) -> int:
    """How far the file indents a nested block mapping under its key (2 when it never does)."""
    steps: Counter[int] = Counter()
    stack: list[Node | None] = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, MappingNode):
            continue
        seen.add(id(node))
        for key, value in node.value:
            if isinstance(value, MappingNode) and not value.flow_style and value.value:
                if value.start_mark.index > key.start_mark.index:  # written here, not an alias
                    steps[value.value[0][0].start_mark.column - key.start_mark.column] += 1
                stack.append(value)
    return max(steps, key=lambda s: (steps[s], -s)) if steps else 2


_Tree = dict[str, Union[str, "_Tree"]]


def _flow_text(tree: _Tree) -> str:
    parts = []
    for key, value in tree.items():
        shown = value if isinstance(value, str) else "{" + _flow_text(value) + "}"
        parts.append(f"{_key_text(key, flow=True)}: {shown}")
    return ", ".join(parts)


def _block_lines(tree: _Tree, column: int, step: int) -> Iterator[str]:
    for key, value in tree.items():
        if isinstance(value, str):
            yield " " * column + f"{_key_text(key, flow=False)}: {value}"
        else:
            yield " " * column + f"{_key_text(key, flow=False)}:"
            yield from _block_lines(value, column + step, step)


def _insert_lines(text: str, at: int, lines: list[str], column: int) -> _Edit:
    """An edit putting ``lines`` (indented by ``column``) on their own lines after the line
    holding ``at``."""
    end = _line_end(text, at)
    eol = _eol(text, at)
    if end == len(text):  # last line without a line break: keep the file without one
        return _Edit(end, end, "".join(eol + line for line in lines), -column)
    match = _LINE_BREAK.match(text, end)
    assert match is not None
    return _Edit(match.end(), match.end(), "".join(line + eol for line in lines), -column)


# -- the intended document, for checking a splice ------------------------------------------------
# A document as nested lists: a scalar is (tag, value), a mapping ["m", tag, [[key, value], ...]],
# a sequence ["s", tag, [...]]. Aliases expand (bounded by yaml_limits before this runs).


def _canon(node: Node) -> Any:
    if isinstance(node, ScalarNode):
        return (str(node.tag), node.value)
    if isinstance(node, MappingNode):
        return ["m", str(node.tag), [[_canon(k), _canon(v)] for k, v in node.value]]
    return ["s", str(node.tag), [_canon(item) for item in node.value]]


def _document(root: Node | None) -> Any:
    """The canonical form of a document; an empty one is an empty mapping (keys may be added)."""
    return _canon(root) if root is not None else ["m", _MAP, []]


def _canon_tree(tree: _Tree) -> Any:
    return [
        "m",
        _MAP,
        [[(_STR, k), (_STR, v) if isinstance(v, str) else _canon_tree(v)] for k, v in tree.items()],
    ]


def _is_key(pair: list[Any], segment: str) -> bool:
    return isinstance(pair[0], tuple) and pair[0][1] == segment


def _canon_pairs(document: Any, segments: tuple[str, ...]) -> list[list[Any]]:
    """The [key, value] pairs of the mapping at ``segments`` in the canonical ``document``."""
    node = document
    for segment in segments:
        node = next(pair[1] for pair in node[2] if _is_key(pair, segment))
    pairs: list[list[Any]] = node[2]
    return pairs


def set_values(text: str, changes: Mapping[str, str | None], *, path: str, add_missing: bool = False) -> str:
    """``text`` with the value at each key path of ``changes`` set (None: the key deleted).

    Only the edited values' bytes differ from ``text`` (a deleted key's line goes, an added key
    gets lines of its own in the file's indentation, or ``, key: value`` in a flow mapping).
    A value keeps its quote style; a plain value is double-quoted when YAML would read it as
    anything but a string (``1.10``, ``true``, ``0123``), so Helm always gets a string. A value
    already equal to the new one (and read as a string) is left alone; when nothing changes the
    input is returned as it is. Deleting an absent key changes nothing.

    ConfigError (naming the file, the key path and the fix): the key is missing and not
    ``add_missing``; a mapping on the path is something else, an anchor/alias, or has a merge
    key; the value is a list, mapping, block scalar, anchor/alias or has a tag other than !!str;
    the file has duplicate keys, several documents, alias bombs; or the splice cannot be made
    safely (the result would not read back as the intended document).
    """
    root = _compose(text, path)
    expected = _document(root)
    edits: list[_Edit] = []
    # Missing keys, grouped by where they go: id(anchor node) -> (found, tree of new keys)
    additions: dict[int, tuple[_Found, _Tree, list[str]]] = {}
    # Keys to delete, grouped by mapping: id(mapping) -> (mapping, [(pair index, key path)])
    deletions: dict[int, tuple[MappingNode, list[tuple[int, str]]]] = {}
    for key_path, new in changes.items():
        segments = split_key_path(key_path, path=path)
        found = _walk(root, segments, key_path, path, writing=True)
        existing = found.value
        if new is None:
            if existing is None:
                continue
            parent = found.chain[-1]
            index = next(i for i, (k, _) in enumerate(parent.value) if k is found.key)
            deletions.setdefault(id(parent), (parent, []))[1].append((index, key_path))
            pairs = _canon_pairs(expected, segments[:-1])
            pairs[:] = [p for p in pairs if not _is_key(p, segments[-1])]
            continue
        if existing is not None:
            assert isinstance(existing, ScalarNode) and found.key is not None  # _walk checked
            if existing.value == new and str(existing.tag) == _STR:
                continue
            edits.append(_replace(text, found, new, key_path, path))
            pairs = _canon_pairs(expected, segments[:-1])
            for pair in pairs:
                if _is_key(pair, segments[-1]):
                    pair[1] = (_STR, new)
            continue
        if not add_missing:
            above = ".".join(_escape(s) for s in segments[: len(segments) - len(found.missing)])
            missing = f"has no key {_escape(found.missing[0])}" + (f" under {above}" if above else "")
            raise ConfigError(f"{path}: {key_path}: {missing}", fix=_ADD_FIX)
        anchor: Node | None = found.null_value
        if anchor is None and found.chain:
            anchor = found.chain[-1]
        entry = additions.setdefault(id(anchor), (found, {}, []))
        entry[2].append(key_path)
        tree = entry[1]
        for segment in found.missing[:-1]:
            child = tree.setdefault(segment, {})
            if isinstance(child, str):
                raise ConfigError(
                    f"{path}: {key_path}: conflicts with another key path of the same change "
                    f"({segment} is set to a value)",
                    fix="set either the value or keys below it",
                )
            tree = child
        if isinstance(tree.get(found.missing[-1]), dict):
            raise ConfigError(
                f"{path}: {key_path}: conflicts with another key path of the same change "
                "(keys below it are added)",
                fix="set either the value or keys below it",
            )
        tree[found.missing[-1]] = new  # encoded when the place (block or flow) is known
    try:
        edits += _deletions_and_additions(text, root, deletions, additions, expected, path)
    except _CannotSplice as exc:
        raise _unsafe(path, ", ".join(changes), str(exc)) from None
    if not edits:
        return text
    edits.sort(key=lambda e: (e.start, e.end, e.rank))
    for first, second in itertools.pairwise(edits):
        if second.start < first.end:
            raise ConfigError(
                f"{path}: {', '.join(changes)}: edits of the same change overlap in the file",
                fix="change these keys one at a time",
            )
    out = text
    for edit in reversed(edits):
        out = out[: edit.start] + edit.text + out[edit.end :]
    _verify(out, expected, path, ", ".join(changes))
    return out


def _deletions_and_additions(
    text: str,
    root: Node | None,
    deletions: dict[int, tuple[MappingNode, list[tuple[int, str]]]],
    additions: dict[int, tuple[_Found, _Tree, list[str]]],
    expected: Any,
    path: str,
) -> list[_Edit]:
    edits: list[_Edit] = []
    emptied: set[int] = set()  # flow mappings whose every pair is deleted
    for parent, items in deletions.values():
        if parent.flow_style:
            edits.extend(_delete_flow(text, parent, items, path))
            if len(items) == len(parent.value):
                emptied.add(id(parent))
        elif len(items) == len(parent.value) and id(parent) not in additions:
            raise ConfigError(
                f"{path}: {', '.join(k for _, k in items)}: "
                f"{'is the only key' if len(items) == 1 else 'are all the keys'} of its mapping: "
                "deleting would leave the mapping null",
                fix="delete the mapping by hand, or set the key to a value instead",
            )
        else:
            edits.extend(_delete_block(text, parent, items, path))
    step = _indent_step(root)
    for found, tree, key_paths in additions.values():
        edits.extend(_add(text, found, tree, step, expected, path, emptied, ", ".join(key_paths)))
    return edits


def _unsafe(path: str, key_path: str, why: str) -> ConfigError:
    return ConfigError(
        f"{path}: {key_path}: cannot be edited in place safely ({why})",
        fix="edit this key by hand once (one key per line, no anchors, plain or quoted value); "
        "later edits then keep the file as it is",
    )


def _verify(out: str, expected: Any, path: str, key_paths: str) -> None:
    try:
        root = _compose(out, path)
    except ConfigError as exc:
        problem = exc.message.removeprefix(f"{path}: ")
        raise _unsafe(path, key_paths, f"the edited file would not read back: it {problem}") from None
    if _document(root) != expected:
        raise _unsafe(path, key_paths, "the edited file would not read back as intended")


def _replace(text: str, found: _Found, new: str, key_path: str, path: str) -> _Edit:
    value = found.value
    key = found.key
    assert isinstance(value, ScalarNode) and key is not None
    flow = bool(found.chain[-1].flow_style)
    if value.value == "" and value.style is None:  # "tag:" with nothing: write after the colon
        colon = _after_colon(text, key)
        if colon is None:
            raise _unsafe(path, key_path, "the key is not followed by a colon")
        return _Edit(colon, colon, " " + _scalar(new, None, flow=flow))
    start, end = value.start_mark.index, value.end_mark.index
    written = text[start:end]
    prefix = ""
    if written.startswith("!"):
        tagged = re.match(r"(\S+)\s+", written)
        tag = tagged.group(1) if tagged else written
        if tagged is None or tag != "!!str":
            raise ConfigError(
                f"{path}: {key_path}: has the explicit YAML tag {tag} (line {value.start_mark.line + 1})",
                fix="remove the tag (or write !!str): the value is an image reference, a string",
            )
        prefix = tagged.group()
    return _Edit(start, end, prefix + _scalar(new, value.style, flow=flow, tagged=bool(prefix)))


def _delete_block(text: str, parent: MappingNode, items: list[tuple[int, str]], path: str) -> list[_Edit]:
    """Edits removing the lines of the keys at ``items`` (pair index, key path) of a block
    mapping; keys on consecutive lines go as one run. The comment lines around are kept; a
    file without a final line break keeps having none."""
    spans: list[tuple[int, int]] = []
    for index, key_path in items:
        key, value = parent.value[index]
        start = _line_start(text, key.start_mark.index)
        if text[start : key.start_mark.index].strip(" "):
            raise _unsafe(path, key_path, "the key does not start its line")
        # after a value in a block mapping only a comment can follow on its line: it goes too
        line_end = _line_end(text, _value_end(text, key, value))
        match = _LINE_BREAK.match(text, line_end)
        spans.append((start, match.end() if match else line_end))
    spans.sort()
    runs: list[tuple[int, int]] = []
    for start, stop in spans:
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], stop)
        else:
            runs.append((start, stop))
    edits = []
    for start, stop in runs:
        if stop == len(text) and not text.endswith(("\n", "\r")) and start > 0:
            # the last line, without a line break: take the break before it so none is added
            start -= 2 if text[start - 2 : start] == "\r\n" else 1
        edits.append(_Edit(start, stop, ""))
    return edits


def _delete_flow(text: str, parent: MappingNode, items: list[tuple[int, str]], path: str) -> list[_Edit]:
    """Edits removing the pairs at ``items`` from a flow mapping with the commas between them:
    a run of deleted pairs goes up to the next kept key, or (at the end) from the value before."""
    pairs = parent.value
    starts = [k.start_mark.index for k, _ in pairs]
    ends = [_value_end(text, k, v) for k, v in pairs]
    names = dict(items)

    def gap(after: int, key_path: str) -> None:  # between pair ``after`` and the next one
        if not re.fullmatch(r"\s*,\s*", text[ends[after] : starts[after + 1]]):
            raise _unsafe(path, key_path, "a comment or more stands between the keys")

    edits = []
    deleted = sorted(names)
    runs: list[list[int]] = []
    for index in deleted:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    for run in runs:
        first, last = run[0], run[-1]
        what = ", ".join(names[i] for i in run)
        for index in run[:-1]:
            gap(index, what)
        if last + 1 < len(pairs):  # "key: value, " up to the next kept key
            gap(last, what)
            edits.append(_Edit(starts[first], starts[last + 1], ""))
        elif first > 0:  # ", key: value" after the kept value before
            gap(first - 1, what)
            edits.append(_Edit(ends[first - 1], ends[last], ""))
        else:  # every pair: {}
            edits.append(_Edit(starts[first], ends[last], ""))
    return edits


def _encoded(tree: _Tree, *, flow: bool) -> _Tree:
    return {
        k: _scalar(v, None, flow=flow) if isinstance(v, str) else _encoded(v, flow=flow)
        for k, v in tree.items()
    }


def _add(
    text: str,
    found: _Found,
    tree: _Tree,
    step: int,
    expected: Any,
    path: str,
    emptied: set[int],
    where: str,
) -> list[_Edit]:
    """Edits adding the keys of ``tree`` where ``found`` says the path ends; ``expected`` (the
    intended document) gets them too. ``emptied``: flow mappings whose pairs are all deleted;
    ``where``: the key paths added, for messages."""
    depth = len(found.chain)
    walked = tuple(found.walked)
    if found.null_value is not None:
        key = found.null_key
        assert key is not None
        parent = found.chain[-1]
        pairs = _canon_pairs(expected, walked[:-1])
        for pair in pairs:
            if _is_key(pair, walked[-1]):
                pair[1] = _canon_tree(tree)
        null = found.null_value
        if parent.flow_style:
            flow_text = "{" + _flow_text(_encoded(tree, flow=True)) + "}"
            if null.value == "" and null.style is None:
                colon = _after_colon(text, key)
                if colon is None:
                    raise _unsafe(path, where, "the key is not followed by a colon")
                return [_Edit(colon, colon, " " + flow_text)]
            return [_Edit(null.start_mark.index, null.end_mark.index, flow_text)]
        column = key.start_mark.column + step
        lines = list(_block_lines(_encoded(tree, flow=False), column, step))
        colon = _after_colon(text, key)
        if colon is None:
            raise _unsafe(path, where, "the key is not followed by a colon")
        edits: list[_Edit] = []
        if not (null.value == "" and null.style is None):  # "image: ~" -> "image:", keys below
            edits.append(_Edit(colon, null.end_mark.index, ""))
        edits.append(_insert_lines(text, colon, lines, column))
        return edits
    _canon_pairs(expected, walked).extend(_canon_tree(tree)[2])
    if depth == 0:  # empty document: keys at column 0 at the end
        lines = list(_block_lines(_encoded(tree, flow=False), 0, step))
        eol = _eol(text, 0)
        if not text.strip("\ufeff") or text.endswith(("\n", "\r")):
            return [_Edit(len(text), len(text), "".join(line + eol for line in lines))]
        return [_Edit(len(text), len(text), "".join(eol + line for line in lines))]
    mapping = found.chain[-1]
    if mapping.flow_style:
        flow_text = _flow_text(_encoded(tree, flow=True))
        if not mapping.value:  # {} -> {key: value}, before the "}" (a tag may precede the "{")
            inside = mapping.end_mark.index - 1
            return [_Edit(inside, inside, flow_text)]
        last_key, last_value = mapping.value[-1]
        end = _value_end(text, last_key, last_value)
        return [_Edit(end, end, ("" if id(mapping) in emptied else ", ") + flow_text)]
    column = mapping.value[0][0].start_mark.column
    lines = list(_block_lines(_encoded(tree, flow=False), column, step))
    end = _content_end(text, mapping)
    if end > 0 and text[end - 1] in "\r\n":  # a block scalar ends at the start of a line
        eol = "\r\n" if text[end - 2 : end] == "\r\n" else text[end - 1]
        return [_Edit(end, end, "".join(line + eol for line in lines), -column)]
    return [_insert_lines(text, end, lines, column)]
