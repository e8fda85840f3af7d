"""Edit the ``images:`` of a kustomization.yaml, keeping comments, key order, quotes and indentation.

Pure: text in, text out (ruamel.yaml round-trip). When nothing changes semantically the input
text is returned unchanged, byte for byte.
"""

from __future__ import annotations

import io
import re
from collections.abc import Collection
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from gitops_release.core.release import show
from gitops_release.core.yaml_limits import ANCHORS_FIX, AliasLimitError, check_expansion, count_alias
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
        return node


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
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


def _load(text: str, path: str) -> CommentedMap:
    try:
        data = _yaml().load(text)
    except AliasLimitError as exc:
        where = f" (line {exc.line})" if exc.line is not None else ""
        raise ConfigError(f"{path}: {exc.problem}{where}", fix=ANCHORS_FIX) from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: is not valid YAML{where}", fix="fix the YAML syntax") from None
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
    for index, entry in enumerate(images or ()):
        if not isinstance(entry, CommentedMap) or not isinstance(entry.get("name"), str):
            raise ConfigError(f"{path}: images[{index}] must be a mapping with a name", fix=_FIX)
    return data


_FIX = "give the path of a kustomization.yaml whose images: is a list of {name, newName, newTag, digest}"


def _last(name: str) -> str:
    return name.rsplit("/", 1)[-1]


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


def _belongs(entry: CommentedMap, container: str, owned: Collection[str]) -> bool:
    """Whether ``entry`` is ``container``'s own: its name or newName is the container (as its
    last path component, the layout the docs describe) or one of the ``owned`` images."""
    names = [entry["name"], entry.get("newName")]
    return any(isinstance(n, str) and (_last(n) == container or n in owned) for n in names)


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
        position = max((keys.index(k) + 1 for k in earlier if k in entry), default=len(keys))
        entry.insert(position, key, _string(value, old))
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
    path: str = "kustomization.yaml",
) -> str:
    """Point the kustomization's image entry at ``image:tag[@digest]``.

    The entry is the one whose ``name`` is ``image``, else whose ``newName`` is ``image``, else
    (given ``container``) whose name's (or newName's) last path component is ``container``.
    Its ``newTag`` is set, ``digest`` set or removed, ``newName`` set when the entry would
    otherwise render another image. Without a match, ``{name: image, newTag: tag[, digest]}``
    is appended (creating ``images:``). Returns the input unchanged when nothing changes.

    Given ``container``, the entry must be the container's own (``_belongs``: named after it,
    or named one of the ``owned`` images): another container's entry is never edited, the
    release is refused (PolicyError) instead.
    """
    data = _load(kustomization_text, path)
    images = data.get("images")
    entry = _find(images, image, container) if images is not None else None
    if entry is not None and container and not _belongs(entry, container, owned):
        index = next(i for i, e in enumerate(images) if e is entry)
        raise PolicyError(
            f"write-through: image {show(image)} matches images[{index}] of {path} (name "
            f"{show(entry['name'])}), an entry that does not belong to container {container!r}: "
            "another container's entry is never changed",
            fix=f"send the image of container {container!r}; an entry belongs to it when the last "
            f"path component of its name or newName is {container!r}, or either is an image its "
            "policy source lists without globs (sources[].images) or db.json records for it there",
        )
    changed = False
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
        changed = True
    else:
        if entry.get("newName", entry["name"]) != image:
            changed |= _set(entry, "newName", image)
        changed |= _set(entry, "newTag", tag)
        if digest is not None:
            changed |= _set(entry, "digest", digest)
        elif "digest" in entry:
            _delete(entry, "digest")
            changed = True
    if not changed:
        return kustomization_text
    yaml = _yaml()
    sequence, offset = _sequence_indent(kustomization_text)
    yaml.indent(mapping=2, sequence=sequence, offset=offset)
    if kustomization_text.startswith("---"):
        yaml.explicit_start = True
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def get_images(kustomization_text: str, *, path: str = "kustomization.yaml") -> list[dict[str, Any]]:
    """The ``images:`` entries as plain dicts ``{name, newName?, newTag?, digest?}``."""
    data = _load(kustomization_text, path)
    result: list[dict[str, Any]] = []
    for entry in data.get("images") or ():
        result.append({key: str(entry[key]) for key in _IMAGE_KEYS if entry.get(key) is not None})
    return result
