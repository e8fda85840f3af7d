"""No secret values in desired state (seed 002): promote-overlay refuses to commit an overlay
that renders a Secret carrying values, or a file that holds a private key.

Pure: takes the resources kustomize rendered (mappings, as the render's YAML documents load)
and file texts; returns findings (one line each, naming what and where, never the value).
A ``SealedSecret`` (encrypted for one cluster) or an ``ExternalSecret`` (a reference) is fine.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitops_release.core.release import show

#: A rendered List nests this deep at most before the rest is not searched.
MAX_LIST_DEPTH = 8
#: Keys named in one finding, then "and N more".
MAX_KEYS_SHOWN = 5

# -----BEGIN RSA PRIVATE KEY-----, EC, DSA, OPENSSH, ENCRYPTED, PGP PRIVATE KEY BLOCK, plain PKCS#8.
_PEM_PATTERN = r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----"
_PEM = re.compile(_PEM_PATTERN)
_PEM_BYTES = re.compile(_PEM_PATTERN.encode())
_HEADER = b"-----BEGIN "
# "-----BEGIN " base64-encoded at each of the three byte offsets a block can start at in the
# encoded data: 12 characters that depend only on the header (a full 3-byte group each).
_ENCODED_HEADERS = tuple(base64.b64encode(_HEADER[offset : offset + 9]).decode() for offset in range(3))
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")


def secret_findings(resources: Sequence[Mapping[str, Any]], *, shown: str) -> list[str]:
    """A finding per rendered ``kind: Secret`` whose ``data`` or ``stringData`` holds a
    non-empty value (a Secret listing only empty values, or none, carries nothing secret).
    ``shown`` names the overlay in the message. Items of a rendered ``List`` are searched too."""
    findings: list[str] = []
    for resource in resources:
        _check_resource(resource, shown, findings, depth=0)
    return findings


def _check_resource(resource: Any, shown: str, findings: list[str], *, depth: int) -> None:
    if not isinstance(resource, Mapping):
        return
    kind = resource.get("kind")
    items = resource.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list) and depth < MAX_LIST_DEPTH:
        for item in items:
            _check_resource(item, shown, findings, depth=depth + 1)
        return
    if kind != "Secret":
        return
    keys = []
    for field in ("data", "stringData"):
        values = resource.get(field)
        if isinstance(values, Mapping):
            keys += [f"{field}.{key}" for key, value in values.items() if value not in (None, "")]
    if not keys:
        return
    metadata = resource.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    name = metadata.get("name")
    namespace = metadata.get("namespace")
    where = f"{namespace}/{name}" if isinstance(namespace, str) and namespace else f"{name}"
    listed = ", ".join(show(key, 40) for key in keys[:MAX_KEYS_SHOWN])
    if len(keys) > MAX_KEYS_SHOWN:
        listed += f" and {len(keys) - MAX_KEYS_SHOWN} more"
    findings.append(
        f"{shown}: renders Secret {show(where, 80)} with values ({listed}): secret values must not be "
        "in desired state; reference them (ExternalSecret, SealedSecret, a Secret made in the cluster)"
    )


def private_key_findings(text: str, *, shown: str) -> list[str]:
    """A finding per private-key PEM block in ``text`` (``-----BEGIN … PRIVATE KEY-----``),
    written out or base64-encoded (a Secret's ``data``, also wrapped over several lines).
    ``shown`` names the file; each finding gives the line, never the key."""
    findings = []
    for match in _PEM.finditer(text):
        line = text[: match.start()].count("\n") + 1
        findings.append(
            f"{shown}: line {line} holds a private key ({match.group(0)}): keys must not be "
            "in desired state; keep them in a secret store and reference them"
        )
    for position, header in _encoded_headers(text):
        line = text[:position].count("\n") + 1
        findings.append(
            f"{shown}: line {line} holds a base64-encoded private key ({header}): keys must not be "
            "in desired state; keep them in a secret store and reference them"
        )
    return findings


def string_key_findings(values: Iterable[str], *, shown: str) -> list[str]:
    """A finding per string value (as YAML decoded it: escapes resolved, folded lines joined)
    that holds a private-key block, written out or base64-encoded. A raw-text scan misses a key
    written as ``"\\x2D----BEGIN …"`` or folded over lines; the decoded value does not.
    ``shown`` names where the values come from (a render, a file)."""
    findings = []
    for value in values:
        if len(value) < len("-----BEGIN PRIVATE KEY-----"):
            continue  # too short for a header in either form: most values of a manifest
        match = _PEM.search(value)
        header = match.group(0) if match is not None else None
        if header is None:
            encoded = _encoded_headers(value)
            header = f"base64-encoded {encoded[0][1]}" if encoded else None
        if header is not None:
            findings.append(
                f"{shown}: holds a private key ({header}) in a string value: keys must not be "
                "in desired state; keep them in a secret store and reference them"
            )
    return findings


def _encoded_headers(text: str) -> list[tuple[int, str]]:
    """``(position, header)`` of each base64-encoded private-key header in ``text``. Searched
    with all whitespace removed, so a header wrapped over two lines (or indented) is found."""
    runs = [(match.start(), match.group(0)) for match in re.finditer(r"\S+", text)]
    compact = "".join(run for _, run in runs)
    starts = list(itertools.accumulate((len(run) for _, run in runs), initial=0))
    found = []
    for offset, encoded in enumerate(_ENCODED_HEADERS):
        start = compact.find(encoded)
        while start != -1:
            # The encoded run starts `offset` bytes into the header: put those bytes back.
            match = _PEM_BYTES.match(_HEADER[:offset] + _decode_from(compact, start))
            if match is not None:
                index = bisect.bisect_right(starts, start) - 1
                found.append((runs[index][0] + start - starts[index], match.group(0).decode()))
            start = compact.find(encoded, start + 1)
    return sorted(set(found))


def _decode_from(compact: str, start: int) -> bytes:
    """What the base64 characters from ``start`` decode to (up to 120 characters: enough for
    the longest header), cut to whole 4-character groups."""
    chars = _NOT_BASE64.split(compact[start : start + 120], maxsplit=1)[0]
    chars = chars[: len(chars) - len(chars) % 4]
    return base64.b64decode(chars)  # only base64 characters, whole groups: always decodes
