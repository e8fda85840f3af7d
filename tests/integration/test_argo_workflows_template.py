"""templates/argo-workflows run as Argo Workflows would run them, against the GitHub sandbox.

Each report-status container's exact command line (command + args) and env come from
workflowtemplate.yaml, with the Argo variables substituted as the controller does
(tests/fixtures/argo_templates.py): the image's entrypoint ``python3 -I -u -m gitops_release``
runs in a subprocess (this venv's python for ``python3``), the App's key file at the Secret's
mount path (a local folder stands in for it), no GITHUB_* variable at all (a pod has none). The
main steps run, then the exit handler with ``{{workflow.status}}`` = Succeeded, Failed or Error:
the commit status (and the deployment) end in success / failure / error, never pending.

The kustomization is rendered with kubectl's kustomize the way Argo CD does it (its
commonAnnotations added): the hook's sha is the synced revision.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.argo_templates import (
    ARGO_DIR,
    command_line,
    exit_steps,
    main_groups,
    substitute,
    templates_by_name,
    variables,
    when_holds,
    workflow_template,
)
from tests.fixtures.github_sandbox import SANDBOX_TOKEN

REPO = "org/config-repo"
APP_ID = 4242
KEY_MOUNT = "/var/run/secrets/github-app"
STATES = {"Succeeded": "success", "Failed": "failure", "Error": "error"}
KUBECTL = Path(sys.executable).parent / "kubectl"
WORKFLOWS_URL = "https://argo-workflows.example.org"
K8S_VERSION = "1.37.0"  # kubernetes-validate's schemas, as tests/integration/test_argocd_templates.py


class Pod:
    """Runs a template's container the way its pod would, and records what ran."""

    def __init__(self, sandbox: GitHubSandbox, tmp_path: Path, private_key: str) -> None:
        self.spec = workflow_template()["spec"]
        self.templates = templates_by_name(self.spec)
        mount = tmp_path / "github-app"
        mount.mkdir()
        (mount / "private-key.pem").write_text(private_key, encoding="utf-8")
        self.mounts = {KEY_MOUNT: mount}
        # api-url: the sandbox stands in for GitHub Enterprise Server (the Secret's optional key);
        # workflows-url: the Argo Workflows UI the statuses link to (a required key)
        self.secrets = {
            "release-data-prep-github-app": {
                "app-id": str(APP_ID),
                "api-url": sandbox.url,
                "workflows-url": WORKFLOWS_URL,
            }
        }
        self.sandbox = sandbox
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.ran: list[str] = []

    def run(self, step: dict[str, Any], values: dict[str, str]) -> subprocess.CompletedProcess[str]:
        template = self.templates[step["template"]]
        step_values = dict(values)
        for param in step.get("arguments", {}).get("parameters", []):
            step_values[f"inputs.parameters.{param['name']}"] = substitute(param["value"], values)
        argv, env = command_line(template, step_values, secrets=self.secrets, mounts=self.mounts)
        if argv[0] == "python3":
            argv[0] = sys.executable
        # What the image adds: its PATH and HOME (Dockerfile); nothing from the test's environment.
        env.update({"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(self.home)})
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
        self.ran.append(step["name"])
        return done

    def workflow(self, given: dict[str, str], status: str) -> dict[str, subprocess.CompletedProcess[str]]:
        """The main steps in order (the prep's outcome is ``status``), then the exit handler."""
        results: dict[str, subprocess.CompletedProcess[str]] = {}
        values = variables(self.spec, given, name="release-data-prep-x7k2p", namespace="argo-workflows")
        for group in main_groups(self.spec):
            for step in group:
                if not when_holds(step.get("when"), values):
                    continue
                if step["template"] == "prepare-release-data" and status != "Succeeded":
                    continue  # the prep failed or errored: Argo decides the status, not us
                results[step["name"]] = done = self.run(step, values)
                assert done.returncode == 0, done.stdout + done.stderr
        values = variables(
            self.spec, given, name="release-data-prep-x7k2p", namespace="argo-workflows", status=status
        )
        for step in exit_steps(self.spec):
            if when_holds(step.get("when"), values):
                results[step["name"]] = done = self.run(step, values)
                assert done.returncode == 0, done.stdout + done.stderr
        return results


@pytest.fixture
def head(github_sandbox: GitHubSandbox, app_key: tuple[str, str]) -> str:
    git_dir = github_sandbox.create_repo(REPO, files={"README.md": "hello\n"})
    github_sandbox.register_app(APP_ID, app_key[1], installations={REPO: 77})
    out = subprocess.run(
        ["git", "--git-dir", str(git_dir), "rev-parse", "refs/heads/main"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.fixture
def pod(github_sandbox: GitHubSandbox, tmp_path: Path, app_key: tuple[str, str]) -> Iterator[Pod]:
    yield Pod(github_sandbox, tmp_path, app_key[0])


def by_id(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: int(item["id"]))


@pytest.mark.parametrize("status", list(STATES))
def test_main_push_ends_the_commit_status_and_the_staging_deployment(
    github_sandbox: GitHubSandbox, head: str, pod: Pod, status: str
) -> None:
    given = {"repository": REPO, "sha": head, "environment": "staging"}
    ran = pod.workflow(given, status)
    expected = ["pending", "deployment-in-progress", "final-status", "final-deployment"]
    if status == "Succeeded":
        expected.insert(2, "prepare-release-data")
        assert f"preparing release data for {REPO} at {head}" in ran["prepare-release-data"].stdout
    assert pod.ran == expected
    statuses = by_id(github_sandbox.statuses(REPO, head))
    assert [(s["state"], s["context"]) for s in statuses] == [
        ("pending", "release-data-prep"),
        (STATES[status], "release-data-prep"),
    ]
    link = f"{WORKFLOWS_URL}/workflows/argo-workflows/release-data-prep-x7k2p"
    assert {s["target_url"] for s in statuses} == {link}
    assert statuses[-1]["description"] == f"Release data prep {status} in Argo Workflows"
    assert statuses[-1]["creator"]["login"] == f"sandbox-app-{APP_ID}[bot]"  # step 0: the App's token
    [deployment] = github_sandbox.deployments(REPO)  # found again at the end, never a second one
    assert (deployment["environment"], deployment["sha"]) == ("staging", head)
    deployment_states = by_id(github_sandbox.deployment_statuses(REPO, deployment["id"]))
    assert [d["state"] for d in deployment_states] == ["in_progress", STATES[status]]
    assert deployment_states[-1]["log_url"] == link


@pytest.mark.parametrize("status", list(STATES))
def test_pull_request_ends_its_pr_context_and_comment_without_a_deployment(
    github_sandbox: GitHubSandbox, head: str, pod: Pod, status: str
) -> None:
    number = 7
    github_sandbox.requests.clear()
    given = {
        "repository": REPO,
        "sha": head,
        "context": "release-data-prep/pr",
        "pr-number": str(number),
    }
    pod.workflow(given, status)
    assert "deployment-in-progress" not in pod.ran and "final-deployment" not in pod.ran
    statuses = by_id(github_sandbox.statuses(REPO, head))
    assert [(s["state"], s["context"]) for s in statuses] == [
        ("pending", "release-data-prep/pr"),
        (STATES[status], "release-data-prep/pr"),
    ]
    assert github_sandbox.deployments(REPO) == []
    assert not any("/comments" in r.path for r in github_sandbox.requests)  # comment defaults to false


def test_the_final_status_is_posted_even_when_pending_was_never_sent(
    github_sandbox: GitHubSandbox, head: str, pod: Pod
) -> None:
    # The pending step failed (GitHub down, all retries spent): the workflow is Failed and the
    # exit handler still ends the context.
    given = {"repository": REPO, "sha": head}
    values = variables(pod.spec, given, name="wf", namespace="ns", status="Failed")
    for step in exit_steps(pod.spec):
        if when_holds(step.get("when"), values):
            done = pod.run(step, values)
            assert done.returncode == 0, done.stdout + done.stderr
    assert [s["state"] for s in github_sandbox.statuses(REPO, head)] == ["failure"]


def test_the_key_and_the_token_never_show_in_the_logs(
    github_sandbox: GitHubSandbox, head: str, pod: Pod, app_key: tuple[str, str]
) -> None:
    given = {"repository": REPO, "sha": head, "environment": "staging"}
    ran = pod.workflow(given, "Succeeded")
    logs = "\n".join(done.stdout + done.stderr for done in ran.values())
    for line in app_key[0].splitlines():
        if "-----" not in line:
            assert line not in logs
    assert SANDBOX_TOKEN not in logs


# -- kustomize, as Argo CD renders it ------------------------------------------------------------


def render(folder: Path, annotations: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
    if annotations is not None:
        # What Argo CD does for kustomize.commonAnnotations (`kustomize edit add annotation`).
        kustomization = folder / "kustomization.yaml"
        data = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        data["commonAnnotations"] = annotations
        kustomization.write_text(yaml.safe_dump(data), encoding="utf-8")
    return subprocess.run(
        [str(KUBECTL), "kustomize", str(folder)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_hook_runs_for_the_revision_argo_cd_synced(tmp_path: Path) -> None:
    folder = tmp_path / "argo-workflows"
    shutil.copytree(ARGO_DIR, folder)
    revision = "0123456789abcdef0123456789abcdef01234567"
    done = render(folder, {"gitops-release.dev/revision": revision})
    assert done.returncode == 0, done.stderr
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(done.stdout)}
    assert set(docs) == {
        ("ServiceAccount", "release-data-prep"),
        ("Role", "release-data-prep-executor"),
        ("RoleBinding", "release-data-prep-executor"),
        ("WorkflowTemplate", "release-data-prep"),
        ("Workflow", "release-data-prep-postsync"),
    }
    hook = docs["Workflow", "release-data-prep-postsync"]
    params = {p["name"]: p["value"] for p in hook["spec"]["arguments"]["parameters"]}
    assert params["sha"] == revision
    # the YAML anchors of the report steps come out expanded, the same on every step
    template = templates_by_name(docs["WorkflowTemplate", "release-data-prep"]["spec"])
    assert template["report-final"]["container"]["env"] == template["report-pending"]["container"]["env"]
    assert template == templates_by_name(workflow_template()["spec"])


def test_without_argo_cds_revision_the_render_fails_instead_of_an_empty_sha(tmp_path: Path) -> None:
    folder = tmp_path / "argo-workflows"
    shutil.copytree(ARGO_DIR, folder)
    done = render(folder, None)
    assert done.returncode != 0
    assert "gitops-release.dev/revision" in done.stderr


def test_the_events_kustomization_renders(tmp_path: Path) -> None:
    done = render(ARGO_DIR / "events", None)
    assert done.returncode == 0, done.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(done.stdout))
    assert kinds == ["EventSource", "Role", "RoleBinding", "Sensor", "ServiceAccount"]


def test_the_kubernetes_objects_validate_strictly_in_the_applications_namespace(tmp_path: Path) -> None:
    """ServiceAccounts, Roles and RoleBindings of templates/argo-workflows and events/, rendered:
    valid against the Kubernetes schemas (strict: no unknown field), all in the namespace Argo CD
    syncs them to (application.yaml's destination), and the bindings name their own ServiceAccount."""
    folder = tmp_path / "argo-workflows"
    shutil.copytree(ARGO_DIR, folder)
    destination = yaml.safe_load((ARGO_DIR / "application.yaml").read_text(encoding="utf-8"))["spec"][
        "destination"
    ]
    core = []
    for done in (render(folder, {"gitops-release.dev/revision": "0" * 40}), render(folder / "events", None)):
        assert done.returncode == 0, done.stderr
        for doc in yaml.safe_load_all(done.stdout):
            assert doc["metadata"]["namespace"] == destination["namespace"], doc["metadata"]
            if not doc["apiVersion"].startswith("argoproj.io/"):  # CRDs: hera's models check those
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
                core.append(doc)
    assert sorted(f"{d['kind']}/{d['metadata']['name']}" for d in core) == [
        "Role/release-data-prep-executor",
        "Role/release-data-prep-sensor",
        "RoleBinding/release-data-prep-executor",
        "RoleBinding/release-data-prep-sensor",
        "ServiceAccount/release-data-prep",
        "ServiceAccount/release-data-prep-sensor",
    ]
    accounts = {d["metadata"]["name"] for d in core if d["kind"] == "ServiceAccount"}
    for binding in (d for d in core if d["kind"] == "RoleBinding"):
        for subject in binding["subjects"]:
            assert subject["name"] in accounts
            assert subject.get("namespace", binding["metadata"]["namespace"]) == destination["namespace"]


def test_the_strict_validation_refuses_a_misspelt_rbac_field() -> None:
    role = next(
        doc
        for doc in yaml.safe_load_all((ARGO_DIR / "rbac.yaml").read_text(encoding="utf-8"))
        if doc["kind"] == "Role"
    )
    kubernetes_validate.validate(role, K8S_VERSION, strict=True)
    role["rules"][0]["verb"] = role["rules"][0].pop("verbs")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(role, K8S_VERSION, strict=True)
