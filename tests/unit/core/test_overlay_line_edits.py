"""core/overlay.set_image on generated kustomizations whose lists are indented every which way:
only the edited entry's lines differ from the input, and the result means what the edit says."""

from __future__ import annotations

import difflib

from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_release.core.overlay import get_images, set_image

NAMES = ("ghcr.io/org/app", "worker", "quay.io/x/y", "10.0.0.1:5000/z")
DIGEST = "sha256:" + "a" * 64


@st.composite
def kustomizations(draw: st.DrawFn) -> tuple[str, list[dict[str, str]]]:
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:"]
    dash = draw(st.sampled_from([0, 2, 4]))
    lines += [" " * dash + "- ../../base", " " * dash + "- extra.yaml  # a comment"]
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    dash = draw(st.sampled_from([0, 2, 4]))
    gap = draw(st.sampled_from([1, 3]))  # "- name" or "-   name"
    key = dash + 1 + gap
    lines.append("images:")
    entries = []
    for name in names:
        entry = {"name": name}
        lines.append(" " * dash + "-" + " " * gap + f"name: {name}")
        if draw(st.booleans()):
            quote = draw(st.sampled_from(["", "'", '"']))
            entry["newTag"] = "1.0"
            lines.append(" " * key + f"newTag: {quote}1.0{quote}" + draw(st.sampled_from(["", "  # pinned"])))
        if draw(st.booleans()):
            entry["digest"] = "sha256:" + "b" * 64
            lines.append(" " * key + f"digest: {entry['digest']}")
        if draw(st.booleans()):
            lines.append(" " * dash + "# between entries")
        entries.append(entry)
    lines += ["labels:", "- pairs: {team: a}"]
    return "\n".join(lines) + "\n", entries


@settings(max_examples=80, deadline=None)
@given(
    kustomizations(),
    st.sampled_from([*NAMES, "ghcr.io/org/new"]),
    st.sampled_from(["2.0", "sha-1a2b3c4d", "123"]),
    st.sampled_from([None, DIGEST]),
)
def test_only_the_edited_entry_changes(
    generated: tuple[str, list[dict[str, str]]], image: str, tag: str, digest: str | None
) -> None:
    text, entries = generated
    out = set_image(text, image=image, tag=tag, digest=digest)
    expected = [dict(e) for e in entries]
    target = next((e for e in expected if e["name"] == image), None)
    if target is None:
        target = {"name": image}
        expected.append(target)
    target["newTag"] = tag
    target.pop("digest", None)
    if digest:
        target["digest"] = digest
    assert get_images(out) == expected
    removed = [
        line[1:]
        for line in difflib.unified_diff(text.splitlines(), out.splitlines(), lineterm="", n=0)
        if line.startswith("-") and not line.startswith("---")
    ]
    # Nothing outside the edited entry's tag and digest lines is removed or re-indented.
    assert all(line.lstrip().startswith(("newTag:", "digest:")) for line in removed), removed
    assert out.splitlines()[:5] == text.splitlines()[:5]
