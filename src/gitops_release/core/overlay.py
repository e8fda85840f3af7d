"""Edit the ``images:`` of a kustomization.yaml, keeping comments, key order, quotes and indentation.

Pure: text in, text out. When nothing changes semantically the input text is returned unchanged,
byte for byte; otherwise only the characters of the changed values differ (docs/overlay-edits.md).
``set_image`` serves update-db's write-through, ``set_image_entry`` promotion (an entry set to
exactly the given fields, matched as kustomize matches it); ``kustomize_reference`` says what
kustomize renders under an entry.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Collection
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, ScalarNode
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

# split_reference lives in core.release (no ruamel.yaml): trace parses references without this module.
from gitops_release.core.release import show, split_reference
from gitops_release.core.yaml_limits import (
    AliasLimitError,
    check_expansion,
    count_alias,
    parse_error,
)
from gitops_release.errors import ConfigError, PolicyError

_IMAGE_KEYS = ("name", "newName", "newTag", "digest")
# A plain scalar YAML would read as something other than a string (kustomize needs strings).
_NOT_A_STRING = re.compile(
    r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
    r"|0x[0-9a-fA-F_]+|0o?[0-7_]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N"
    r"|null|Null|NULL|~|[0-9]+(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)$"
)


class _BoundedComposer(Composer):
    """Aliases bounded (yaml_limits) on the composed nodes, before ruamel builds objects."""

    _aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            self._aliases = count_alias(self._aliases, self.parser.peek_event().start_mark)
        return super().compose_node(parent, index)

    def compose_document(self) -> Any:
        node = super().compose_document()
        check_expansion(node)
        self.document = node  # its marks: where each value is in the text (set_image_entry)
        return node


def _yaml() -> YAML:
    yaml = YAML()  # round-trip, ruamel's default
    yaml.Composer = _BoundedComposer
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold long lines
    return yaml


def _sequence_indent(text: str) -> tuple[int, int]:
    """(sequence indent, dash offset) as the file writes its lists: ``- x`` flush under the key
    (kustomize's own style) or indented by two."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        stripped = line.lstrip()
        if stripped.endswith(":") and not stripped.startswith(("#", "-")):
            nxt = lines[i + 1]
            if nxt.lstrip().startswith("- "):
                offset = (len(nxt) - len(nxt.lstrip())) - (len(line) - len(stripped))
                if offset >= 0:
                    return offset + 2, offset
    return 2, 0


# "---<TAB># comment": YAML 1.2 separates with spaces or tabs, and Go's YAML (kustomize) reads it;
# ruamel.yaml stops at the tab. Read as a space: same length, so every position stays the same.
_MARKER_TABS = re.compile(r"^(?:---|\.\.\.)[ \t]+", re.MULTILINE)


def _parse_view(text: str) -> str:
    """``text`` as ruamel.yaml reads it: tabs after a document marker as spaces."""
    return _MARKER_TABS.sub(lambda match: match.group(0).replace("\t", " "), text)


def _load(text: str, path: str) -> CommentedMap:
    return _load_with_node(text, path)[0]


def _load_with_node(text: str, path: str) -> tuple[CommentedMap, Any]:
    """The kustomization loaded and checked (_load), and its composed root node (None for an
    empty document)."""
    yaml = _yaml()
    try:
        data = yaml.load(_parse_view(text))
    except (AliasLimitError, YAMLError) as exc:
        raise parse_error(path, exc) from None
    if data is None:
        data = CommentedMap()
    if not isinstance(data, CommentedMap):
        raise ConfigError(f"{path}: is not a kustomization (the top level is not a mapping)", fix=_FIX)
    kind = data.get("kind")
    if kind is not None and kind not in ("Kustomization", "Component"):
        raise ConfigError(f"{path}: kind {show(kind)} is not a Kustomization", fix=_FIX)
    images = data.get("images")
    if images is not None and not isinstance(images, CommentedSeq):
        raise ConfigError(f"{path}: images must be a list", fix=_FIX)
    if images is not None and _anchor(images):
        raise ConfigError(
            f"{path}: images has a YAML anchor (&{_anchor(images)}): another place shares its entries",
            fix=_SHARED_FIX,
        )
    for index, entry in enumerate(images or ()):
        _check_not_shared(entry, f"{path}: images[{index}]")
        if not isinstance(entry, CommentedMap) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{path}: images[{index}] must be a mapping with a name", fix=_FIX)
    return data, getattr(yaml.composer, "document", None)


_SHARED_FIX = (
    "write each images: entry out in full, without YAML anchors (&name), aliases (*name) or merge "
    "keys (<<): an edit of one entry must never change another"
)


def _anchor(node: object) -> str | None:
    value: str | None = getattr(getattr(node, "anchor", None), "value", None)  # ruamel: str or None
    return value


def _check_not_shared(entry: object, where: str) -> None:
    """Refuse an images entry built from YAML merge keys, anchors or aliases: an entry that takes
    its keys from another (``- <<: *b``) would get app-b's new tag under app-a's name, and an
    anchored value edited in one place changes wherever it is aliased."""
    if isinstance(entry, CommentedMap) and entry.merge:
        raise ConfigError(  # a loaded mapping always knows its line
            f"{where} uses a YAML merge key (<<) (line {entry.lc.line + 1}): its keys come from "
            "another mapping",
            fix=_SHARED_FIX,
        )
    if _anchor(entry):
        raise ConfigError(f"{where} has a YAML anchor (&{_anchor(entry)})", fix=_SHARED_FIX)
    if isinstance(entry, CommentedMap):
        for key, value in entry.items():
            if _anchor(value):
                raise ConfigError(
                    f"{where}.{show(key)} is a YAML anchor or alias (&{_anchor(value)}/*{_anchor(value)})",
                    fix=_SHARED_FIX,
                )


_FIX = "give the path of a kustomization.yaml whose images: is a list of {name, newName, newTag, digest}"


def _last(name: str) -> str:
    return name.rpartition("/")[2]


def _find(images: CommentedSeq, image: str, container: str | None) -> CommentedMap | None:
    for entry in images:
        if entry["name"] == image:
            return entry
    for entry in images:
        if entry.get("newName") == image:
            return entry
    if container:
        for entry in images:
            if _last(entry["name"]) == container or _last(str(entry.get("newName", ""))) == container:
                return entry
    return None


def _belongs(
    entry: CommentedMap, container: str, owned: Collection[str], others: Collection[str] = ()
) -> bool:
    """Whether ``entry`` is ``container``'s own: its name or newName is the container (as its
    last path component, the layout the docs describe) or one of the ``owned`` images, and
    neither names one of the ``others`` containers (that entry retags their image)."""
    names = [n for n in (entry["name"], entry.get("newName")) if isinstance(n, str)]
    if any(_last(n) in others and _last(n) != container for n in names):
        return False
    return any(_last(n) == container or n in owned for n in names)


def _string(new: str, old: object) -> str:
    """``new`` as a YAML string in the old value's quote style (quoted when it must be)."""
    if isinstance(old, SingleQuotedScalarString):
        return SingleQuotedScalarString(new)
    if isinstance(old, DoubleQuotedScalarString) or _NOT_A_STRING.match(new):
        return DoubleQuotedScalarString(new)
    return new


def _set(entry: CommentedMap, key: str, value: str) -> bool:
    old = entry.get(key)
    if old == value and isinstance(old, str):
        return False
    if key in entry:
        entry[key] = _string(value, old)
    else:  # keep kustomize's order: name, newName, newTag, digest
        earlier = _IMAGE_KEYS[: _IMAGE_KEYS.index(key)]
        keys = list(entry.keys())
        # name, always there (_load), is among the earlier keys of every key set here
        position = max(keys.index(k) + 1 for k in earlier if k in entry)
        entry.insert(position, key, _string(value, None))
    return True


def _delete(entry: CommentedMap, key: str) -> None:
    """Delete ``key``, handing the comment lines that follow it to the key before it (ruamel
    attaches a comment on the next lines to the value above it)."""
    keys = list(entry.keys())
    position = keys.index(key)
    token = entry.ca.items.get(key)
    del entry[key]
    entry.ca.items.pop(key, None)
    if position == 0 or not token or len(token) < 3 or token[2] is None:
        return
    _, _, following = token[2].value.partition("\n")
    if not following.strip():
        return
    previous = keys[position - 1]
    before = entry.ca.items.get(previous)
    if before and len(before) > 2 and before[2] is not None:
        before[2].value = before[2].value + following
    else:
        entry.ca.items[previous] = [
            None,
            None,
            CommentToken("\n" + following, token[2].start_mark, None),
            None,
        ]


def set_image(
    kustomization_text: str,
    *,
    image: str,
    tag: str,
    digest: str | None,
    container: str | None = None,
    owned: Collection[str] = (),
    others: Collection[str] = (),
    path: str = "kustomization.yaml",
) -> str:
    """Point the kustomization's image entry at ``image:tag[@digest]``.

    The entry is the one whose ``name`` is ``image``, else whose ``newName`` is ``image``, else
    (given ``container``) whose name's (or newName's) last path component is ``container``.
    Its ``newTag`` is set, ``digest`` set or removed, ``newName`` set when the entry would
    otherwise render another image. Without a match, ``{name: image, newTag: tag[, digest]}``
    is appended (creating ``images:``). Returns the input unchanged when nothing changes.

    Given ``container``, the entry must be the container's own (``_belongs``: named after it,
    or named one of the ``owned`` images, and not after one of the ``others`` containers, the
    other containers the policy or db.json know): another container's entry is never edited,
    the release is refused (PolicyError) instead.

    Made in place like set_image_entry's edit (only the changed values' characters differ, in
    any style, CRLF and a BOM kept); a shape the in-place edit does not handle (a block scalar or
    tagged value) falls back to a ruamel.yaml dump of the whole file (_dump_keeping).
    """
    data, root = _load_with_node(kustomization_text, path)
    images = data.get("images")
    entry = _find(images, image, container) if images is not None else None
    if entry is not None and container and not _belongs(entry, container, owned, others):
        index = next(i for i, e in enumerate(images) if e is entry)
        raise PolicyError(
            f"write-through: image {show(image)} matches images[{index}] of {path} (name "
            f"{show(entry['name'])}), an entry that does not belong to container {container!r}: "
            "another container's entry is never changed",
            fix=f"send the image of container {container!r}; an entry belongs to it when the last "
            f"path component of its name or newName is {container!r}, or either is an image its "
            "policy source lists without globs (sources[].images) or db.json records for it there, "
            "and neither is named after another container",
        )
    ops: list[tuple[str, str]] = []  # ("set" | "insert" | "delete", key) on ``entry``
    if entry is None:
        new = CommentedMap()
        new["name"] = image
        new["newTag"] = _string(tag, None)
        if digest is not None:
            new["digest"] = digest
        if images is None:
            images = CommentedSeq()
            data["images"] = images
        images.append(new)
    else:

        def assign(key: str, value: str) -> None:
            existed = key in entry
            if _set(entry, key, value):
                ops.append(("set" if existed else "insert", key))

        if entry.get("newName", entry["name"]) != image:
            assign("newName", image)
        assign("newTag", tag)
        if digest is not None:
            assign("digest", digest)
        elif "digest" in entry:
            _delete(entry, "digest")
            ops.append(("delete", "digest"))
        if not ops:
            return kustomization_text
    if entry is None:
        spliced = _guarded(lambda: _splice_append(kustomization_text, root, new))
    else:
        index = next(i for i, e in enumerate(images) if e is entry)
        edited = {key: op for op, key in ops}
        spliced = _guarded(lambda: _splice_entry_nodes(kustomization_text, root, index, entry, edited))
    if spliced is not None and _same_document(spliced, data):
        return spliced
    return _dump_keeping(kustomization_text, data)


def _dump(kustomization_text: str, data: CommentedMap) -> str:
    yaml = _yaml()
    sequence, offset = _sequence_indent(kustomization_text)
    yaml.indent(sequence=sequence, offset=offset)  # mappings: ruamel's 2
    if kustomization_text.startswith("---"):
        yaml.explicit_start = True
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


# -- the text an edit writes ----------------------------------------------------------------------

_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_./+][A-Za-z0-9_./:+@-]*$")  # never starts with an indicator


def _scalar_text(value: object) -> str:
    """``value`` as it is written after ``key: `` (quote style of a ruamel scalar string kept)."""
    text = str(value)
    if isinstance(value, SingleQuotedScalarString) and text.isprintable():  # no line break in it
        return "'" + text.replace("'", "''") + "'"
    if isinstance(value, DoubleQuotedScalarString) or not _PLAIN_SAFE.match(text) or text.endswith(":"):
        return json.dumps(text)
    return text


class _TooLarge(Exception):
    """The document expands past the comparison budget (aliases shared many times)."""


_PLAIN_BUDGET = 200_000  # nodes compared; a kustomization has hundreds


def _plain(value: Any, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if isinstance(value, dict):
        return [(_plain(k, budget), _plain(v, budget)) for k, v in value.items()]
    if isinstance(value, list):
        return [_plain(v, budget) for v in value]
    if isinstance(value, str):
        return str(value)  # never equal to another type's tuple below
    return (type(value).__name__, repr(value))


def _same_document(text: str, data: CommentedMap) -> bool:
    """Whether ``text`` loads to ``data``: same keys in the same order, same values and types.
    A document that expands (aliases) or nests past the budget is not compared: False."""
    try:
        loaded = _yaml().load(_parse_view(text))
        return _plain(loaded, [_PLAIN_BUDGET]) == _plain(data, [_PLAIN_BUDGET])
    except (YAMLError, _TooLarge, RecursionError):
        return False


def get_images(kustomization_text: str, *, path: str = "kustomization.yaml") -> list[dict[str, Any]]:
    """The ``images:`` entries as plain dicts ``{name, newName?, newTag?, digest?}``."""
    data = _load(kustomization_text, path)
    result: list[dict[str, Any]] = []
    for entry in data.get("images") or ():
        result.append({key: str(entry[key]) for key in _IMAGE_KEYS if entry.get(key) is not None})
    return result


# -- set_image_entry: edits at the composed nodes' character positions ---------------------------
# ruamel.yaml's composed nodes carry the exact character span of every scalar, mapping and list,
# in any style (block or flow, quoted or plain, CRLF, a BOM, %YAML / --- headers). An edit
# replaces the spans of the values that change, removes the line (or ", key: value" in flow
# style) of a removed key and inserts a key or an entry beside its neighbours, in their style;
# every other character of the input is kept. The result must load to the document the ruamel
# edit produced (_same_document), else the whole file is dumped (_dump_keeping).

_ENTRY_KEYS = ("newName", "newTag", "digest")  # what set_image_entry sets; name is never changed
_BREAKS = "\r\n\x85\u2028\u2029"  # what ruamel.yaml counts as a line break
# An images name kustomize's regexp reads literally, but for "." (any character). A name with
# other regexp syntax is compared only as a string (_matches).
_LITERAL_NAME = re.compile(r"^[A-Za-z0-9_/:@.-]+$")
_TAG_OR_DIGEST = r"(?::[a-zA-Z0-9_.{}-]*)?(?:@[a-zA-Z0-9]+(?:[.+_-][a-zA-Z0-9]+)*:[a-zA-Z0-9_.{}-]*)?"
ADD_MISSING_FIX = "add-missing: true"
_SEPARATOR = re.compile(r"[ \t\r\n]*,[ \t\r\n]*")


def _matches(image: str, entry_name: str) -> bool:
    """Whether kustomize applies an ``images:`` entry named ``entry_name`` to ``image``.

    kustomize's image transformer (api/internal/image IsImageMatched) matches the resource's
    image against ``^<name>(:<tag>)?(@<digest>)?$`` with the name unescaped: ``nginx`` applies
    to ``nginx``, ``nginx:1.2`` and ``nginx@sha256:…``, not to ``nginx-x``; a ``.`` (registry
    hosts) matches any character. ``kustomize edit set image`` finds an entry by its name as an
    equal string. Both count here. A name with other regexp syntax (``*``, ``(``, ``[``: no image
    name has one) is compared only as a string, so a hostile pattern never reaches Python's
    backtracking regexp engine."""
    if image == entry_name:
        return True
    if not _LITERAL_NAME.match(entry_name):
        return False
    pattern = "[^\n]".join(re.escape(part) for part in entry_name.split("."))
    return re.fullmatch(pattern + _TAG_OR_DIGEST, image) is not None


def kustomize_reference(
    original: str, *, new_name: str | None, new_tag: str | None, digest: str | None
) -> str:
    """The image reference kustomize renders for a resource's image ``original`` (``nginx:1.2``)
    under an ``images:`` entry ``{newName, newTag, digest}`` that matches it (the image
    transformer's SetImageValue): newName replaces the name; a newTag and/or a digest replaces
    both the original tag and digest (a newTag alone drops the original digest, a digest alone
    drops the original tag); neither keeps both. An empty value counts as absent, as in
    kustomize."""
    name, tag, old_digest = split_reference(original)
    if new_name:
        name = new_name
    if new_tag or digest:
        tag, old_digest = new_tag or "", digest or ""
    return name + (":" + tag if tag else "") + ("@" + old_digest if old_digest else "")


def set_image_entry(
    text: str,
    *,
    name: str,
    new_name: str | None,
    new_tag: str | None,
    digest: str | None,
    add_missing: bool = False,
    path: str = "kustomization.yaml",
) -> str:
    """Set the ``images:`` entry kustomize applies to image ``name`` to exactly ``newName``
    ``new_name``, ``newTag`` ``new_tag`` and ``digest`` ``digest`` (None or "" removes the key;
    the entry's ``name`` is never changed; a ``tagSuffix`` is removed when neither a tag nor a
    digest is set, where kustomize would apply it).

    The entry is the one whose name equals ``name`` or, as kustomize's image transformer reads
    it, matches it (_matches). Two such entries: ConfigError. None: ConfigError naming the file
    and the image, unless ``add_missing``: then ``{name, newName, newTag, digest}`` is appended
    (creating ``images:``) in the style of the entries before it. Returns ``text`` itself when
    nothing changes; otherwise only the changed values' characters differ (docs/overlay-edits.md
    lists what survives).
    """
    wanted = {"newName": new_name or None, "newTag": new_tag or None, "digest": digest or None}
    data, root = _load_with_node(text, path)
    images = data.get("images")
    found = [index for index, entry in enumerate(images or ()) if _matches(name, entry["name"])]
    if len(found) > 1:
        shown = ", ".join(f"images[{i}] (name {show(images[i]['name'])})" for i in found)
        raise ConfigError(
            f"{path}: {shown} all apply to image {show(name)}: kustomize would apply each in turn",
            fix="keep one images: entry per image in the kustomization (delete the others)",
        )
    if not found:
        if not add_missing:
            raise ConfigError(
                f"{path}: has no images: entry for image {show(name)}",
                fix=f"add the entry to {path} by hand, or set {ADD_MISSING_FIX} to have it added",
            )
        new = CommentedMap()
        new["name"] = _string(name, None)
        for key in _ENTRY_KEYS:
            if wanted[key] is not None:
                new[key] = _string(str(wanted[key]), None)
        if images is None:
            images = CommentedSeq()
            data["images"] = images
        images.append(new)
        spliced = _guarded(lambda: _splice_append(text, root, new))
    else:
        entry = images[found[0]]
        ops: dict[str, str] = {}
        removed = [key for key in _ENTRY_KEYS if wanted[key] is None]
        if wanted["newTag"] is None and wanted["digest"] is None:
            removed.append("tagSuffix")
        for key in removed:  # first: a key is inserted after a kept one
            if key in entry:
                _delete(entry, key)
                ops[key] = "delete"
        for key in _ENTRY_KEYS:
            value = wanted[key]
            if value is not None:
                existed = key in entry
                if _set(entry, key, value):
                    ops[key] = "set" if existed else "insert"
        if not ops:
            return text
        index = found[0]
        spliced = _guarded(lambda: _splice_entry_nodes(text, root, index, entry, ops))
    if spliced is not None and _same_document(spliced, data):
        return spliced
    return _dump_keeping(text, data)


def _guarded(splice: Any) -> str | None:
    """``splice()``, or None when the input has a shape it does not expect."""
    try:
        result: str | None = splice()
    except (IndexError, KeyError, TypeError, ValueError, AttributeError, YAMLError):
        return None
    return result


def _line_start(text: str, index: int) -> int:
    while index > 0 and text[index - 1] not in _BREAKS:
        index -= 1
    return index


def _line_end(text: str, index: int) -> int:
    """Where the line holding ``index`` ends: its line break, or the end of the text."""
    while index < len(text) and text[index] not in _BREAKS:
        index += 1
    return index


def _break_at(text: str, index: int) -> str:
    """The line break starting at ``index`` ("" at the end of the text)."""
    if text.startswith("\r\n", index):
        return "\r\n"
    return text[index : index + 1]


def _eol(text: str, near: int | None = None) -> str:
    """The line break to write: the one ending the line at ``near``, else the file's first,
    else "\\n"."""
    if near is not None:
        found = _break_at(text, _line_end(text, near))
        if found:
            return found
    for index, char in enumerate(text):
        if char in _BREAKS:
            return _break_at(text, index)
    return "\n"


def _only_comment(rest: str) -> bool:
    stripped = rest.strip(" \t")
    return not stripped or stripped.startswith("#")


def _value_end(text: str, key: Any, value: Any) -> int:
    """Where ``key``'s value ends; for an empty value (``key:`` alone) right after the colon."""
    if value.end_mark.index > value.start_mark.index:
        if getattr(value, "style", None) in ("|", ">"):
            raise ValueError("a block scalar")  # its span ends on a later line's start
        return int(value.end_mark.index)
    colon = text.index(":", key.end_mark.index)
    if text[key.end_mark.index : colon].strip(" \t"):
        raise ValueError("no colon after the key")
    return colon + 1


def _scalar_span(text: str, key: Any, value: Any) -> tuple[int, int, str]:
    """``(start, end, prefix)``: the span a new value replaces and what goes before it."""
    if not isinstance(value, ScalarNode) or getattr(value, "style", None) in ("|", ">"):
        raise ValueError("not a one-line scalar")
    start, end = value.start_mark.index, value.end_mark.index
    if end == start:  # "key:" with no value: the span is empty, somewhere past the colon
        colon = _value_end(text, key, value)
        return colon, colon, " "
    if text[start] in "!&*":  # a tag (anchors are refused by _load)
        raise ValueError("a tagged scalar")
    return start, end, ""


def _images_node(root: Any) -> tuple[Any, Any]:
    """The ``images`` key node and its value node of the composed ``root`` (None, None when absent)."""
    if root is None:
        return None, None
    for key, value in root.value:
        if key.value == "images":
            return key, value
    return None, None


def _splice_entry_nodes(
    text: str, root: Any, index: int, entry: CommentedMap, ops: dict[str, str]
) -> str | None:
    _, images = _images_node(root)
    item = images.value[index]
    pairs = list(item.value)
    position = {key.value: i for i, (key, _) in enumerate(pairs)}
    flow = bool(item.flow_style)
    edits: list[tuple[int, int, str]] = []
    for key_name, op in ops.items():
        if op == "insert":
            continue
        key, value = pairs[position[key_name]]
        if op == "set":
            start, end, prefix = _scalar_span(text, key, value)
            edits.append((start, end, prefix + _scalar_text(entry[key_name])))
        elif flow:
            continue  # below: runs of removed keys share their commas
        else:
            removed = {position[k] for k, o in ops.items() if o == "delete"}
            edits += _block_delete(text, pairs, position[key_name], removed)
    if flow:
        edits += _flow_deletes(text, pairs, sorted(position[k] for k, op in ops.items() if op == "delete"))
    # Inserted keys go after the kept key before them in the entry's new order (_set's rule).
    keys = list(entry.keys())
    groups: dict[str, list[str]] = {}
    for i, key_name in enumerate(keys):
        if ops.get(key_name) == "insert":
            anchor = next(k for k in reversed(keys[:i]) if ops.get(k) != "insert")
            groups.setdefault(anchor, []).append(key_name)
    first_key = pairs[0][0]
    column = first_key.start_mark.index - _line_start(text, first_key.start_mark.index)
    for anchor, inserted in groups.items():
        key, value = pairs[position[anchor]]
        end = _value_end(text, key, value)
        if flow:
            edits.append((end, end, "".join(f", {k}: {_scalar_text(entry[k])}" for k in inserted)))
            continue
        line_end = _line_end(text, end)
        if not _only_comment(text[end:line_end]):
            return None
        eol = _eol(text, end)
        lines = "".join(f"{eol}{' ' * column}{k}: {_scalar_text(entry[k])}" for k in inserted)
        edits.append((line_end, line_end, lines))
    return _apply(text, edits)


def _block_delete(text: str, pairs: list[Any], index: int, removed: set[int]) -> list[tuple[int, int, str]]:
    """The edits removing the lines of the block-style key ``pairs[index]`` (with its comment);
    when its line holds the item's ``- ``, the next kept key's indentation becomes it."""
    key, value = pairs[index]
    end = _value_end(text, key, value)
    line_end = _line_end(text, end)
    if not _only_comment(text[end:line_end]):
        raise ValueError("more after the value")
    start = _line_start(text, key.start_mark.index)
    prefix = text[start : key.start_mark.index]
    edits = [(start, line_end + len(_break_at(text, line_end)), "")]
    if prefix.strip(" "):
        if prefix.strip(" ") != "-":
            raise ValueError("not a key of its own line")
        kept = next(i for i in range(index + 1, len(pairs)) if i not in removed)  # name is kept
        following = pairs[kept][0].start_mark.index
        indentation = _line_start(text, following)
        if text[indentation:following] != " " * len(prefix):
            raise ValueError("the next kept key is not at the column of this one")
        edits.append((indentation, following, prefix))
    return edits


def _flow_deletes(text: str, pairs: list[Any], removed: list[int]) -> list[tuple[int, int, str]]:
    """The edits removing the flow mapping's pairs at the ``removed`` indexes: each run of removed
    pairs goes with the comma before it, or, at the start, with the comma after it."""
    for index in removed:
        if pairs[index][1].end_mark.index == pairs[index][1].start_mark.index:
            raise ValueError("an empty flow value")
    edits = []
    run: list[int] = []
    for index in [*removed, -2]:  # -2: after the last run
        if run and index != run[-1] + 1:
            first, last = run[0], run[-1]
            if first > 0:
                start = pairs[first - 1][1].end_mark.index
                if not _SEPARATOR.fullmatch(text[start : pairs[first][0].start_mark.index]):
                    raise ValueError("no plain comma before the key")
                edits.append((start, pairs[last][1].end_mark.index, ""))
            else:
                end = pairs[last + 1][0].start_mark.index  # name is never removed: a pair follows
                if not _SEPARATOR.fullmatch(text[pairs[last][1].end_mark.index : end]):
                    raise ValueError("no plain comma after the value")
                edits.append((pairs[first][0].start_mark.index, end, ""))
            run = []
        run.append(index)
    return edits


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str | None:
    edits.sort(key=lambda edit: (edit[0], edit[1]))
    merged: list[tuple[int, int, str]] = []
    for edit in edits:
        if merged and not merged[-1][2] and not edit[2] and merged[-1][1] >= edit[0]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], edit[1]), "")  # removals in a row
        elif merged and merged[-1][1] > edit[0]:
            return None
        else:
            merged.append(edit)
    last = merged[-1] if merged else None
    if last and not last[2] and last[1] == len(text) and text[-1:] not in _BREAKS and last[0] > 0:
        # The removed lines end the text, which has no final line break: the break before them
        # goes too (the line above becomes the last, as the last line was, without one).
        start = last[0] - (2 if text[last[0] - 2 : last[0]] == "\r\n" else 1)
        if text[start : last[0]] and text[last[0] - 1] in _BREAKS:
            merged[-1] = (start, last[1], "")
    edits = merged
    for start, end, replacement in reversed(edits):
        text = text[:start] + replacement + text[end:]
    return text


def _flow_entry(entry: CommentedMap, inner: str = "") -> str:
    fields = ", ".join(f"{key}: {_scalar_text(entry[key])}" for key in entry)
    return "{" + inner + fields + inner + "}"


def _block_entry(entry: CommentedMap, dash: int, column: int, eol: str) -> str:
    lines = [
        (" " * dash + "-" + " " * (column - dash - 1) if i == 0 else " " * column)
        + f"{key}: {_scalar_text(entry[key])}"
        for i, key in enumerate(entry)
    ]
    return eol.join(lines)


def _splice_append(text: str, root: Any, new: CommentedMap) -> str | None:
    """``text`` with ``new`` appended to ``images:`` (the key added when absent)."""
    key, images = _images_node(root)
    eol = _eol(text)
    if root is not None and root.flow_style:
        return None
    if key is None:  # no images: key: the file ends with one, in its list style
        if root is not None:
            last_key, last_value = root.value[-1]
            tail = _line_end(text, _value_end(text, last_key, last_value))
            if any(not _only_comment(line) for line in re.split("[\r\n\x85\u2028\u2029]", text[tail:])):
                return None  # a "..." or another document after the mapping
        _, offset = _sequence_indent(text)
        body = text.lstrip("\ufeff")
        ends = not body or body[-1] in _BREAKS  # a final line break, or an empty file: one after
        lead = "" if ends else eol
        block = "images:" + eol + _block_entry(new, offset, offset + 2, eol)
        return text + lead + block + (eol if ends else "")
    column = key.start_mark.index - _line_start(text, key.start_mark.index)
    if isinstance(images, ScalarNode) or (images.flow_style and not images.value):
        # images: / images: null / images: []: a block list below the key
        colon = text.index(":", key.end_mark.index)
        if text[key.end_mark.index : colon].strip(" \t"):
            return None
        start = colon + 1
        end = max(images.end_mark.index, start)
        line_end = _line_end(text, start)
        if end > line_end or not _only_comment(text[end:line_end]):
            return None
        removed = (start, line_end if not text[end:line_end].strip(" \t") else end, "")
        _, offset = _sequence_indent(text)
        dash = column + offset
        eol = _eol(text, start)
        added = (line_end, line_end, eol + _block_entry(new, dash, dash + 2, eol))
        return _apply(text, [removed, added])
    last = images.value[-1]
    if not isinstance(last, MappingNode):
        return None
    if images.flow_style:  # images: [{...}, {...}]
        inner = " " if text[last.start_mark.index + 1] == " " else ""
        return _apply(text, [(last.end_mark.index, last.end_mark.index, ", " + _flow_entry(new, inner))])
    if last.flow_style:  # - {name: a, newTag: b}: another such line
        line = _line_start(text, last.start_mark.index)
        dash_prefix = text[line : last.start_mark.index]
        if dash_prefix.strip(" ") != "-":
            return None
        end = last.end_mark.index
        inner = " " if text[last.start_mark.index + 1] == " " else ""
        entry_text = dash_prefix + _flow_entry(new, inner)
    else:
        first_key = last.value[0][0]
        prefix = text[_line_start(text, first_key.start_mark.index) : first_key.start_mark.index]
        if prefix.strip(" ") != "-":  # the item's own "- ", then its first key
            return None
        last_key, last_value = last.value[-1]
        end = _value_end(text, last_key, last_value)
        entry_text = _block_entry(new, prefix.index("-"), len(prefix), _eol(text, end))
    line_end = _line_end(text, end)
    if not _only_comment(text[end:line_end]):
        return None
    return _apply(text, [(line_end, line_end, _eol(text, end) + entry_text)])


def _dump_keeping(text: str, data: CommentedMap) -> str:
    """_dump, keeping the input's BOM, its ``%`` directives and ``---`` before the document, and
    its line break (ruamel.yaml writes "\\n" between lines but keeps a "\\r" in a comment's
    text: one line break style throughout, never mixed)."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    header = ""
    if body.startswith("%"):
        match = re.search(r"^---[ \t]*(?:\r\n|[\r\n]|$)", body, re.MULTILINE)
        if match:
            header, body = body[: match.end()], body[match.end() :]
    out = _dump(body, data)
    if header and out.startswith("---"):
        out = out[out.find("\n") + 1 :]
    out = re.sub("\r\n|[\r\n\x85\u2028\u2029]", "\n", header + out)
    eol = _eol(text)
    return bom + (out.replace("\n", eol) if eol != "\n" else out)
