"""templates/argo-workflows/appproject.yaml: the release-data-prep Application's own AppProject
(REVIEW12a #1). The Application auto-syncs whatever is committed under infra/argo-workflows/, so
its project decides what a commit to the config repository can make Argo CD apply: this
repository only, the one namespace, the namespaced kinds release-data-prep is made of, nothing
cluster-scoped. Validated against Argo CD's Swagger, closed as tests/unit/test_argocd_templates.py
does (an unknown or misspelt key fails)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gitops_release.sandbox import openapi
from tests.fixtures.argo_templates import ARGO_DIR, load_all, load_one
from tests.unit.test_argocd_templates import SWAGGER, closed, swagger_problems

# Everything Argo CD may apply from this folder: the kustomization Application syncs, and the
# optional events/ a user adds to it.
MANIFESTS = (
    "rbac.yaml",
    "workflowtemplate.yaml",
    "postsync-hook.yaml",
    *(
        f"events/{n}"
        for n in (
            "eventsource.yaml",
            "sensor.yaml",
            "sensor-rbac.yaml",
        )
    ),
)


@pytest.fixture(scope="module")
def argocd_schema() -> openapi.Validator:
    conventions = openapi.Conventions(
        api="argocd-create", vendor="Argo CD", server_url="https://argocd.invalid"
    )
    return openapi.Validator(closed(json.loads(SWAGGER.read_text(encoding="utf-8"))), conventions)


def project() -> dict[str, Any]:
    return load_one(ARGO_DIR / "appproject.yaml")


def application() -> dict[str, Any]:
    return load_one(ARGO_DIR / "application.yaml")


def test_the_application_is_in_its_own_project(argocd_schema: openapi.Validator) -> None:
    proj, app = project(), application()
    assert (proj["apiVersion"], proj["kind"]) == ("argoproj.io/v1alpha1", "AppProject")
    assert swagger_problems(argocd_schema, "v1alpha1AppProject", proj) == []
    assert swagger_problems(argocd_schema, "v1alpha1Application", app) == []
    assert app["spec"]["project"] == proj["metadata"]["name"] == "release-data-prep"


def test_the_swagger_check_refuses_a_misspelt_project_key(argocd_schema: openapi.Validator) -> None:
    proj = project()
    proj["spec"]["clusterResourceWhiteList"] = proj["spec"].pop("clusterResourceWhitelist")
    assert swagger_problems(argocd_schema, "v1alpha1AppProject", proj)


def test_the_project_allows_only_the_config_repository_and_the_one_namespace() -> None:
    spec, app = project()["spec"], application()["spec"]
    assert spec["sourceRepos"] == [app["source"]["repoURL"]]
    assert spec["destinations"] == [app["destination"]]
    assert "*" not in json.dumps(spec)
    assert "syncWindows" not in spec and "roles" not in spec


def test_nothing_cluster_scoped_and_only_the_kinds_release_data_prep_is_made_of() -> None:
    spec = project()["spec"]
    # Argo CD: an absent clusterResourceWhitelist allows nothing, but say so explicitly
    assert spec["clusterResourceWhitelist"] == []
    assert "clusterResourceBlacklist" not in spec and "namespaceResourceBlacklist" not in spec
    allowed = {(entry["group"], entry["kind"]) for entry in spec["namespaceResourceWhitelist"]}
    used = {
        (doc["apiVersion"].rpartition("/")[0], doc["kind"])
        for name in MANIFESTS
        for doc in load_all(ARGO_DIR / name)
    }
    assert allowed == used
    # the folder's kustomizations list nothing the list above leaves out
    listed = {*load_one(ARGO_DIR / "kustomization.yaml")["resources"]}
    listed |= {f"events/{n}" for n in load_one(ARGO_DIR / "events" / "kustomization.yaml")["resources"]}
    assert listed == set(MANIFESTS)
