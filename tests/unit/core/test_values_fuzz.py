"""core/values on files stitched together from hostile and odd YAML snippets (anchors, merge keys,
explicit keys, block scalars, tabs, document markers, flow collections, duplicates): every call
either refuses with a ConfigError or returns a file in which every edited key path reads back as
set, every other value reads as before, and no line outside the edits is touched."""

from __future__ import annotations

import difflib
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_release.core.values import get_value, set_values
from gitops_release.errors import ConfigError

PATH = "values-prod.yaml"

SNIPPETS = [
    "image:\n  repository: r  # the registry\n  tag: v1\n",
    "image:\n  tag: '1.10'\n  digest:\n",
    'image:\n    tag: "v1"   \n\n    pullPolicy: ~\n',
    "image: {tag: v1, repository: r}  # flow\n",
    "image: {}\n",
    "image: ~\n",
    "image:\n",
    "image: &img\n  tag: v1\nother: *img\n",
    "base: &b {tag: v0}\nimage:\n  <<: *b\n",
    "app:\n  images:\n    api:\n      tag: 1.2.3\n  list:\n  - a\n  -\n",
    "app: {images: {api: {tag: x}}}\n",
    "app:\n  images: [api]\n",
    "? tag\n: v9\n",
    "tag: |\n  block\n",
    "tag: >-\n",
    "tag: v1   \n",
    "tag: !!str 1\n",
    "tag: !!int 1\n",
    "tag: a\n  continued\n",
    "tag:\n",
    "x: [1, {tag: 2}]\n",
    'x:\n  tag: "q"  # c\n  y: 1\n',
    "other:\n   tag: odd\n   z: 1\n",
    "# comment\n",
    "\n",
    "   \n",
    "\ttag: tab\n",
]
KEYS = ["image.tag", "image.digest", "image.repository", "app.images.api.tag", "tag", "other.tag", "x.tag"]
VALUES = [None, "v2", "1.10", "true", "sha256:ab", "it's", ""]


@st.composite
def files(draw: st.DrawFn) -> str:
    body = "".join(draw(st.lists(st.sampled_from(SNIPPETS), min_size=0, max_size=4, unique=True)))
    text = (
        draw(st.sampled_from(["", "---\n", "%YAML 1.1\n---\n"])) + body + draw(st.sampled_from(["", "...\n"]))
    )
    if draw(st.booleans()):
        text = text.rstrip("\n")
    text = text.replace("\n", draw(st.sampled_from(["\n", "\r\n"])))
    return draw(st.sampled_from(["", "\ufeff"])) + text


def values_of(text: str) -> dict[str, str | None]:
    out = {}
    for key in KEYS:
        try:
            out[key] = get_value(text, key, path=PATH)
        except ConfigError as exc:
            out[key] = "error: " + re.sub(r" \(line \d+\)| at line \d+", "", exc.message)  # lines move
    return out


@settings(max_examples=300, deadline=None)
@given(
    files(),
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), min_size=1, max_size=3),
    st.booleans(),
)
def test_set_values_refuses_or_does_exactly_the_edit(
    text: str, changes: dict[str, str | None], add: bool
) -> None:
    try:
        out = set_values(text, changes, path=PATH, add_missing=add)
    except ConfigError as exc:
        assert exc.message.startswith(f"{PATH}: ") and exc.fix
        return
    before, after = values_of(text), values_of(out)
    for key in KEYS:
        if key in changes:
            assert after[key] == changes[key]
        elif not any(key.startswith(k + ".") or k.startswith(key + ".") for k in changes):
            assert after[key] == before[key]
    # the lines that differ are the edited keys' (or new ones): never a comment line
    old_lines, new_lines = text.splitlines(), out.splitlines()
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, old_lines, new_lines).get_opcodes():
        if tag in ("replace", "delete"):
            assert not [line for line in old_lines[i1:i2] if line.lstrip().startswith("#")]
    if "\r\n" in text and "\n" not in text.replace("\r\n", ""):
        assert "\n" not in out.replace("\r\n", "")  # never mixed
    if text.startswith("\ufeff"):
        assert out.startswith("\ufeff")
    assert text.endswith(("\n", "\r")) == out.endswith(("\n", "\r")) or not text.strip("\ufeff")
