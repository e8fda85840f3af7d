"""core/values.set_values on generated values files (comments, quote styles, flow mappings,
indentation, CRLF, BOM, headers, final newline) and random key paths: the result is exactly the
file a model renders with the change made, so every byte outside the edited values is the
input's, and get_value reads every new value back."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_release.core.values import get_value, set_values

PATH = "values-stage.yaml"

# new value -> (written plain in a block mapping, written plain inside {...})
NEW_VALUES = {
    "v2": ("v2", "v2"),
    "2.0.1-rc.1": ("2.0.1-rc.1", "2.0.1-rc.1"),
    "1.10": ('"1.10"', '"1.10"'),
    "true": ('"true"', '"true"'),
    "0123": ('"0123"', '"0123"'),
    "sha256:ab12": ("sha256:ab12", '"sha256:ab12"'),
    "it's": ('"it\'s"', '"it\'s"'),
    "": ('""', '""'),
}
# existing values: all read back as themselves when plain, except "1.10" (a float to YAML)
OLD_VALUES = ("v1", "1.2.3", "1.10", "ghcr.io/org/app", "x y", "v2")
KEYS = ("image", "tag", "repository", "app", "api", "worker", "digest", "pullPolicy")


@dataclass
class Leaf:
    key: str
    value: str | None  # None: null, written empty or ~
    style: str  # "" plain as generated, "new" plain as set_values writes it, "'" or '"'; null: "" or "~"
    trail: str = ""  # trailing spaces or an inline comment


@dataclass
class Flow:
    key: str
    pairs: list[tuple[str, str, str]]  # (key, value, style)
    trail: str = ""


@dataclass
class Block:
    key: str
    entries: list[Entry]
    trail: str = ""


@dataclass
class Comment:
    text: str


Entry = Leaf | Flow | Block | Comment


@dataclass
class Doc:
    entries: list[Entry]
    step: int
    eol: str
    head: str  # BOM and/or headers
    tail: list[str] = field(default_factory=list)  # lines after the mapping (comments, blanks)
    final_newline: bool = True


def written(value: str, style: str, *, flow: bool) -> str:
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style == "new":
        return NEW_VALUES[value][1 if flow else 0]
    return value


def render(doc: Doc) -> str:
    lines: list[str] = []

    def block(entries: list[Entry], column: int) -> None:
        pad = " " * column
        for entry in entries:
            if isinstance(entry, Comment):
                lines.append(entry.text and pad + entry.text)
            elif isinstance(entry, Leaf):
                if entry.value is None:
                    lines.append(f"{pad}{entry.key}:" + (" ~" if entry.style == "~" else "") + entry.trail)
                else:
                    lines.append(
                        f"{pad}{entry.key}: {written(entry.value, entry.style, flow=False)}{entry.trail}"
                    )
            elif isinstance(entry, Flow):
                inner = ", ".join(f"{k}: {written(v, s, flow=True)}" for k, v, s in entry.pairs)
                lines.append(f"{pad}{entry.key}: {{{inner}}}{entry.trail}")
            else:
                lines.append(f"{pad}{entry.key}:{entry.trail}")
                block(entry.entries, column + doc.step)

    block(doc.entries, 0)
    lines += doc.tail
    text = doc.eol.join(lines) + (doc.eol if doc.final_newline else "")
    return doc.head + text


# -- generating ----------------------------------------------------------------------------------

trails = st.sampled_from(["", "", "  ", "  # keep me", " #c"])
comments = st.sampled_from(["# a comment", "#", "", "# image: commented-out"])


@st.composite
def leaves(draw: st.DrawFn, key: str) -> Leaf:
    if draw(st.integers(0, 9)) == 0:
        return Leaf(key, None, draw(st.sampled_from(["", "~"])), draw(trails))
    value = draw(st.sampled_from(OLD_VALUES))
    style = draw(st.sampled_from(["", "'", '"']))
    return Leaf(key, value, style, draw(trails))


@st.composite
def mappings(draw: st.DrawFn, depth: int) -> list[Entry]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True))
    entries: list[Entry] = []
    for key in keys:
        if draw(st.booleans()):
            entries.append(Comment(draw(comments)))
        kind = draw(st.integers(0, 5)) if depth < 2 else 0
        if kind in (0, 1, 2):
            entries.append(draw(leaves(key)))
        elif kind == 3:
            inner = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))
            pairs = [
                (k, draw(st.sampled_from(OLD_VALUES)), draw(st.sampled_from(["", "'", '"']))) for k in inner
            ]
            entries.append(Flow(key, pairs, draw(trails)))
        else:
            entries.append(Block(key, draw(mappings(depth + 1)), draw(st.sampled_from(["", "  # nested"]))))
    return entries


@st.composite
def docs(draw: st.DrawFn) -> Doc:
    head = draw(st.sampled_from(["", "\ufeff", "---\n", "%YAML 1.2\n---\n", "\ufeff# top comment\n"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    return Doc(
        entries=draw(mappings(0)),
        step=draw(st.sampled_from([2, 3, 4])),
        eol=eol,
        head=head.replace("\n", eol),
        tail=draw(st.sampled_from([[], ["# end"], ["", "# end", ""]])),
        final_newline=draw(st.booleans()),
    )


# -- the model of an edit ------------------------------------------------------------------------


def paths(entries: list[Entry], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Entry]]:
    """(key path, entry) of every leaf, flow pair and mapping."""
    out: list[tuple[tuple[str, ...], Entry]] = []
    for entry in entries:
        if isinstance(entry, Comment):
            continue
        here = (*prefix, entry.key)
        out.append((here, entry))
        if isinstance(entry, Block):
            out += paths(entry.entries, here)
    return out


def apply(doc: Doc, changes: dict[tuple[str, ...], str | None]) -> Doc:
    """The model with ``changes`` made the way set_values promises."""

    def edit(entries: list[Entry], prefix: tuple[str, ...]) -> list[Entry]:
        out: list[Entry] = []
        mine = {p[len(prefix)]: v for p, v in changes.items() if p[: len(prefix)] == prefix}
        pairs = [e for e in entries if not isinstance(e, Comment)]
        last = pairs[-1] if pairs else None
        for entry in entries:
            if isinstance(entry, Comment):
                out.append(entry)
            elif isinstance(entry, Leaf) and (*prefix, entry.key) in changes:
                new = changes[(*prefix, entry.key)]
                if new is not None:
                    kept = entry.style if entry.value is not None and entry.style in ("'", '"') else "new"
                    out.append(replace(entry, value=new, style=kept))
            elif isinstance(entry, Flow):
                flow_pairs = []
                for key, value, style in entry.pairs:
                    new = changes.get((*prefix, entry.key, key), value)
                    if (*prefix, entry.key, key) in changes and new is None:
                        continue
                    if (*prefix, entry.key, key) in changes:
                        style = style if style in ("'", '"') else "new"
                    flow_pairs.append((key, new if new is not None else value, style))
                known = {k for k, _, _ in entry.pairs}
                flow_pairs += [
                    (p[-1], v, "new")
                    for p, v in changes.items()
                    if p[:-1] == (*prefix, entry.key) and p[-1] not in known and v is not None
                ]
                out.append(replace(entry, pairs=flow_pairs))
            elif isinstance(entry, Block):
                out.append(replace(entry, entries=edit(entry.entries, (*prefix, entry.key))))
            else:
                out.append(entry)
            if entry is last:
                existing = {e.key for e in pairs}
                out += added({k: v for k, v in mine.items() if k not in existing}, prefix)
        if last is None:
            out += added(mine, prefix)
        return out

    def added(mine: dict[str, str | None], prefix: tuple[str, ...]) -> list[Entry]:
        new: list[Entry] = []
        for key in mine:
            below = {p: v for p, v in changes.items() if p[: len(prefix) + 1] == (*prefix, key)}
            if len(next(iter(below))) == len(prefix) + 1:
                value = below[(*prefix, key)]
                assert value is not None
                new.append(Leaf(key, value, "new"))
            else:
                new.append(Block(key, added({p[len(prefix) + 1]: None for p in below}, (*prefix, key))))
        return new

    # new mappings are indented as the file indents its own: 2 when it has none
    step = doc.step if any(isinstance(e, Block) for _, e in paths(doc.entries)) else 2
    return replace(doc, entries=edit(doc.entries, ()), step=step)


def plain_string(leaf_value: str | None, style: str) -> bool:
    return leaf_value is not None and (
        style != "" or NEW_VALUES.get(leaf_value, (leaf_value,))[0] == leaf_value
    )


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Doc, dict[tuple[str, ...], str | None]]:
    doc = draw(docs())
    known = paths(doc.entries)
    leaves_ = [(p, e) for p, e in known if isinstance(e, Leaf)]
    flows = [(p, e) for p, e in known if isinstance(e, Flow)]
    blocks = [(p, e) for p, e in known if isinstance(e, Block)]
    changes: dict[tuple[str, ...], str | None] = {}
    deleted: dict[tuple[str, ...], int] = {}
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["set", "set", "flow", "flow-delete", "delete", "add", "add-deep"]))
        if kind == "set" and leaves_:
            path, _ = draw(st.sampled_from(leaves_))
            changes[path] = draw(st.sampled_from(sorted(NEW_VALUES)))
        elif kind == "flow" and flows:
            path, flow = draw(st.sampled_from(flows))
            assert isinstance(flow, Flow)
            key = draw(st.sampled_from([k for k, _, _ in flow.pairs] + ["newkey"]))
            changes[(*path, key)] = draw(st.sampled_from(sorted(NEW_VALUES)))
        elif kind == "flow-delete" and flows:  # any number of pairs, all of them too: {}
            path, flow = draw(st.sampled_from(flows))
            assert isinstance(flow, Flow)
            changes[(*path, draw(st.sampled_from([k for k, _, _ in flow.pairs])))] = None
        elif kind == "delete" and leaves_:
            path, _ = draw(st.sampled_from(leaves_))
            parent = path[:-1]
            siblings = [p for p, _ in known if p[:-1] == parent]
            if len(siblings) - deleted.get(parent, 0) > 1 and path not in changes:
                changes[path] = None
                deleted[parent] = deleted.get(parent, 0) + 1
        elif kind in ("add", "add-deep"):
            parent = draw(st.sampled_from([(), *(p for p, _ in blocks)]))
            tail = ("newkey",) if kind == "add" else ("newmap", draw(st.sampled_from(["x", "z"])))
            changes[(*parent, *tail)] = draw(st.sampled_from(sorted(NEW_VALUES)))
    return doc, changes


@settings(max_examples=150, deadline=None)
@given(scenarios())
def test_set_values_changes_only_the_edited_values(
    scenario: tuple[Doc, dict[tuple[str, ...], str | None]],
) -> None:
    doc, changes = scenario
    text = render(doc)
    by_key = {".".join(p): v for p, v in changes.items()}
    out = set_values(text, by_key, path=PATH, add_missing=True)
    # A value already equal (and read as a string) is left alone: the model knows which.
    unchanged = {
        p
        for p, e in paths(doc.entries)
        if isinstance(e, Leaf) and p in changes and changes[p] == e.value and plain_string(e.value, e.style)
    }
    unchanged |= {
        (*p, k)
        for p, e in paths(doc.entries)
        if isinstance(e, Flow)
        for k, v, s in e.pairs
        if changes.get((*p, k), object()) == v and plain_string(v, s)
    }
    model = apply(doc, {p: v for p, v in changes.items() if p not in unchanged})
    if "\n" not in text:  # a one-line file: nothing says it would use CRLF
        model = replace(model, eol="\n")
    expected = render(model)
    assert out == expected
    if not [p for p in changes if p not in unchanged]:
        assert out is text
    for key, value in by_key.items():
        assert get_value(out, key, path=PATH) == value
    assert set_values(out, by_key, path=PATH) is out  # idempotent
