"""promote-overlay's render invariant with real kubectl kustomize: all touched overlays render in
one kustomize run and each rendered document is attributed to its overlay; an edit that changes
anything in a render besides the planned images is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops_release.adapters.kustomize import require_kubectl
from gitops_release.commands import promote_overlay as po
from gitops_release.errors import ConfigError
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.kustomize_base import base_files
from tests.integration.test_promote_overlay import DIGEST_1, DIGEST_2, REPO, Repo, config_files, overlay

ENV = {"PATH": os.environ.get("PATH", "")}
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-{app}\n"


@pytest.fixture(scope="module")
def kubectl() -> Path:
    return require_kubectl(ENV)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for app in ("api", "web", "db"):
        files = base_files(f"apps/{app}/base", app, {app: f"ghcr.io/org/{app}:1"})
        files[f"apps/{app}/base/kustomization.yaml"] = "resources:\n  - deployment.yaml\n  - namespace.yaml\n"
        files[f"apps/{app}/base/namespace.yaml"] = NAMESPACE.format(app=app)
        files[f"apps/{app}/stage/kustomization.yaml"] = (
            f"resources: [../base]\nimages:\n  - name: ghcr.io/org/{app}\n    newTag: '2'\n"
            "configMapGenerator:\n  - name: settings\n    literals: [LEVEL=info]\n"
        )
        for rel, text in files.items():
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / rel).write_text(text, encoding="utf-8")
    return tmp_path


def test_one_kustomize_run_attributes_every_document_to_its_overlay(tree: Path, kubectl: Path) -> None:
    rels = ["apps/api/stage", "apps/db/stage", "apps/web/stage"]
    renderer = po.Renderer(tree, rels, kubectl=kubectl, env=ENV)

    combined = renderer.render()

    assert renderer.combined is True
    for rel in rels:
        alone = po._render_one(tree, rel, kubectl=kubectl, env=ENV)
        assert [r.resource for r in combined[rel].resources] == [r.resource for r in alone.resources]
        assert [c for r in combined[rel].resources for c in r.containers] == [
            c for r in alone.resources for c in r.containers
        ]
    assert combined["apps/db/stage"].resources[0].resource.startswith("Namespace/team-db")


def test_an_overlay_that_breaks_is_named_after_the_combined_run_fails(tree: Path, kubectl: Path) -> None:
    rels = ["apps/api/stage", "apps/web/stage"]
    renderer = po.Renderer(tree, rels, kubectl=kubectl, env=ENV)
    renderer.render()
    (tree / "apps/web/stage/kustomization.yaml").write_text("resources: [../nothing]\n")

    with pytest.raises(ConfigError, match="kubectl kustomize apps/web/stage failed"):
        renderer.render()


def test_an_edit_that_changes_more_than_the_image_is_refused(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    # stage copies the api container's image into an annotation: the promotion would change it too
    copy = (
        "replacements:\n"
        "  - source: {kind: Deployment, name: api, fieldPath: spec.template.spec.containers.0.image}\n"
        "    targets:\n"
        "      - select: {kind: Deployment, name: api}\n"
        "        fieldPaths: [metadata.annotations.deployed-image]\n"
        "        options: {create: true}\n"
    )
    files = config_files()
    files["apps/api/overlays/stage/kustomization.yaml"] = overlay("api", "sha-1", DIGEST_1) + copy
    repo = Repo(github_sandbox, tmp_path, files)
    before = repo.log()

    code, _, err = repo.cli("--from-env", "dev", "--to-env", "stage", "--mode", "commit")

    assert code == 1
    assert "apps/api/overlays/stage: the edit would change" in err, err
    assert "beyond its container images" in err.replace("\n", " ")
    assert repo.log() == before

    # render-check false: only the YAML-level check runs, and the promotion goes through
    out = repo.run(from_env="dev", to_env="stage", mode="commit", render_check="false")
    assert out.state == "committed"
    assert repo.read("apps/api/overlays/stage/kustomization.yaml") == overlay("api", "sha-2", DIGEST_2) + copy
    assert repo.sandbox.pulls(REPO) == []
