"""templates/argo-workflows: every object parses with the Argo Workflows / Argo Events models hera
ships, with nothing left over (hera's models ignore unknown fields, so each object must also dump
back to exactly what the file says: a misspelt field fails), and the WorkflowTemplate keeps seed
000's promise: a pending status is always followed by a final one from the onExit handler.

tests/integration/test_argo_workflows_template.py runs the containers' command lines against the
GitHub sandbox and renders the kustomizations.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hera.events import models as events
from hera.workflows import models as workflows
from pydantic import BaseModel

from tests.fixtures.argo_templates import (
    ARGO_DIR,
    exit_steps,
    load_all,
    load_one,
    main_groups,
    templates_by_name,
    workflow_template,
)

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/gitops-release/gitops-release"
REPORT_COMMAND = ["python3", "-I", "-u", "-m", "gitops_release"]
ARGOCD_SWAGGER = ROOT / "tests" / "contracts" / "argocd" / "swagger-subset.json"


def round_trip(model: type[BaseModel], doc: dict[str, Any]) -> dict[str, Any]:
    parsed = model.model_validate(doc)
    return parsed.model_dump(by_alias=True, exclude_none=True, mode="json")


def assert_exact(model: type[BaseModel], doc: dict[str, Any]) -> None:
    assert round_trip(model, doc) == doc, f"{model.__name__}: a field hera does not know was dropped"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return workflow_template()["spec"]


@pytest.fixture(scope="module")
def by_name(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return templates_by_name(spec)


def report_templates(by_name: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        name: t
        for name, t in by_name.items()
        if "container" in t and t["container"]["args"][:1] == ["report-status"]
    }


# -- parsing --------------------------------------------------------------------------------------


def test_the_workflow_template_parses_exactly_with_heras_model() -> None:
    doc = workflow_template()
    assert (doc["apiVersion"], doc["kind"]) == ("argoproj.io/v1alpha1", "WorkflowTemplate")
    assert_exact(workflows.WorkflowTemplate, doc)


def test_the_postsync_hook_parses_exactly_as_a_workflow() -> None:
    doc = load_one(ARGO_DIR / "postsync-hook.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    assert_exact(workflows.Workflow, doc)


def test_a_misspelt_field_fails_the_exact_parse() -> None:
    # So a passing parse above means something: hera drops unknown fields silently, the
    # round trip notices.
    doc = copy.deepcopy(workflow_template())
    doc["spec"]["onExitt"] = doc["spec"].pop("onExit")
    with pytest.raises(AssertionError, match="was dropped"):
        assert_exact(workflows.WorkflowTemplate, doc)


def test_the_sensor_and_event_source_parse_exactly_with_heras_argo_events_models() -> None:
    sensor = load_one(ARGO_DIR / "events" / "sensor.yaml")
    source = load_one(ARGO_DIR / "events" / "eventsource.yaml")
    # hera's Argo Events models carry no apiVersion / kind, and keep a trigger's resource as an
    # opaque object: those are checked here, the resources below with the Workflow model.
    assert (sensor.pop("apiVersion"), sensor.pop("kind")) == ("argoproj.io/v1alpha1", "Sensor")
    assert (source.pop("apiVersion"), source.pop("kind")) == ("argoproj.io/v1alpha1", "EventSource")
    resources = []
    for trigger in sensor["spec"]["triggers"]:
        resources.append(trigger["template"]["k8s"]["source"]["resource"])
        trigger["template"]["k8s"]["source"]["resource"] = {}
    assert_exact(events.Sensor, sensor)
    assert_exact(events.EventSource, source)
    assert len(resources) == 2
    for resource in resources:
        assert (resource["apiVersion"], resource["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
        assert_exact(workflows.Workflow, resource)


def test_the_argo_cd_application_uses_only_fields_of_argo_cds_swagger() -> None:
    definitions = json.loads(ARGOCD_SWAGGER.read_text(encoding="utf-8"))["definitions"]
    app = load_one(ARGO_DIR / "application.yaml")

    def check(value: Any, definition: str, where: str, checked: list[str]) -> None:
        schema = definitions[definition]
        if not isinstance(value, dict) or "properties" not in schema:
            return
        checked.append(where)
        for key, item in value.items():
            assert key in schema["properties"], f"{where}.{key} is not a field of {definition}"
            ref = schema["properties"][key].get("$ref", "")
            if ref:
                check(item, ref.rsplit("/", 1)[-1], f"{where}.{key}", checked)

    checked: list[str] = []
    check(app["spec"], "v1alpha1ApplicationSpec", "spec", checked)
    # the walk reached the nested objects, not only the top level
    assert {"spec.source.kustomize", "spec.syncPolicy.automated", "spec.destination"} <= set(checked)
    kustomize = app["spec"]["source"]["kustomize"]
    assert kustomize["commonAnnotationsEnvsubst"] is True
    assert kustomize["commonAnnotations"] == {"gitops-release.dev/revision": "${ARGOCD_APP_REVISION}"}


# -- seed 000: never pending ---------------------------------------------------------------------


def test_on_exit_runs_the_final_status_step_unconditionally(
    spec: dict[str, Any], by_name: dict[str, dict[str, Any]]
) -> None:
    assert spec["onExit"] == "exit-handler"
    steps = {step["name"]: step for step in exit_steps(spec)}
    final = steps["final-status"]
    assert final["template"] == "report-final"
    # nothing that could skip it or make it depend on another step
    assert set(final) == {"name", "template"}, final
    args = by_name["report-final"]["container"]["args"]
    assert "--job-status={{workflow.status}}" in args
    assert not any(a.startswith(("--state=", "--commit-status=")) for a in args)
    # the exit handler is reached from nowhere else: it runs once, at the end
    assert all(step["template"] != "exit-handler" for group in main_groups(spec) for step in group)


def test_every_context_set_pending_gets_its_final_state_on_exit(
    spec: dict[str, Any], by_name: dict[str, dict[str, Any]]
) -> None:
    def flag(template: str, name: str) -> str | None:
        args = by_name[template]["container"]["args"]
        found = [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]
        return found[0] if found else None

    started = [
        step for group in main_groups(spec) for step in group if step["template"] in report_templates(by_name)
    ]
    ended = {step["template"]: step for step in exit_steps(spec)}
    pending = [s for s in started if flag(s["template"], "state") == "pending"]
    assert [s["template"] for s in pending] == ["report-pending"]
    assert flag("report-final", "context") == flag("report-pending", "context")
    # the deployment step 4 starts is ended under the same condition, by the same environment
    [deploy] = [s for s in started if flag(s["template"], "deployment-state") == "in_progress"]
    assert ended["report-deployment-final"].get("when") == deploy.get("when")
    for name in ("environment", "sha", "repository"):
        assert flag("report-deployment-final", name) == flag(deploy["template"], name)
    assert flag("report-deployment-final", "job-status") == "{{workflow.status}}"


def test_the_prep_runs_after_pending_and_before_nothing_else(spec: dict[str, Any]) -> None:
    groups = [[step["template"] for step in group] for group in main_groups(spec)]
    assert groups == [["report-pending", "report-deployment-in-progress"], ["prepare-release-data"]]


# -- the pods --------------------------------------------------------------------------------------


def test_report_steps_run_the_images_entrypoint_with_flags_joined_to_their_values(
    by_name: dict[str, dict[str, Any]],
) -> None:
    reports = report_templates(by_name)
    assert set(reports) == {
        "report-pending",
        "report-deployment-in-progress",
        "report-final",
        "report-deployment-final",
    }
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f"ENTRYPOINT {json.dumps(REPORT_COMMAND)}" in dockerfile
    for name, template in reports.items():
        container = template["container"]
        assert container["image"].startswith(IMAGE + ":"), name
        assert container["command"] == REPORT_COMMAND, name
        # --name=value: a parameter's value can never become a flag of its own
        assert all(arg.startswith("--") and "=" in arg for arg in container["args"][1:]), name


def test_secrets_come_from_a_kubernetes_secret_never_from_parameters(
    spec: dict[str, Any], by_name: dict[str, dict[str, Any]]
) -> None:
    names = {p["name"] for p in spec["arguments"]["parameters"]}
    assert not names & {"token", "app-private-key", "private-key", "app-id", "installation-id"}
    for name, template in report_templates(by_name).items():
        env = {item["name"]: item for item in template["container"]["env"]}
        assert env["INPUT_APP_ID"]["valueFrom"]["secretKeyRef"] == {
            "name": "release-data-prep-github-app",
            "key": "app-id",
        }, name
        assert env["INPUT_APP_PRIVATE_KEY_FILE"]["value"] == "/var/run/secrets/github-app/private-key.pem"
        mounts = {m["name"]: m for m in template["container"]["volumeMounts"]}
        assert mounts["github-app"] == {
            "name": "github-app",
            "mountPath": "/var/run/secrets/github-app",
            "readOnly": True,
        }, name
        assert "INPUT_TOKEN" not in env and not any(
            "token" in a.lower() for a in template["container"]["args"]
        )
    [volume] = [v for v in spec["volumes"] if v["name"] == "github-app"]
    assert volume["secret"]["secretName"] == "release-data-prep-github-app"
    assert volume["secret"]["defaultMode"] == 0o440  # group-readable through fsGroup, no one else


def test_non_root_no_api_token_resources_deadlines_and_retries(
    spec: dict[str, Any], by_name: dict[str, dict[str, Any]]
) -> None:
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 1001
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # no token in the step containers; the executor (wait container) gets its own account, which
    # Argo requires when automountServiceAccountToken is false
    assert spec["automountServiceAccountToken"] is False
    assert spec["executor"]["serviceAccountName"] == spec["serviceAccountName"] != "default"
    reports = report_templates(by_name)
    containers = {name: t for name, t in by_name.items() if "container" in t}
    assert set(containers) == {*reports, "prepare-release-data"}
    for name, template in containers.items():
        container = template["container"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }, name
        assert set(container["resources"]) == {"requests", "limits"}, name
        assert {"cpu", "memory"} <= set(container["resources"]["limits"]), name
        assert 0 < template["activeDeadlineSeconds"] < spec["activeDeadlineSeconds"], name
    for name, template in reports.items():
        retry = template["retryStrategy"]
        assert int(retry["limit"]) >= 1 and retry["retryPolicy"] == "Always", name
    # the workflow's deadline is a backstop above the prep's and the exit handler's together
    longest_exit = max(by_name[s["template"]]["activeDeadlineSeconds"] for s in exit_steps(spec))
    assert spec["activeDeadlineSeconds"] > (
        by_name["prepare-release-data"]["activeDeadlineSeconds"]
        + by_name["report-pending"]["activeDeadlineSeconds"]
        + longest_exit
    )


def test_the_prep_placeholder_gets_parameters_through_env_not_in_its_script(
    by_name: dict[str, dict[str, Any]],
) -> None:
    prep = by_name["prepare-release-data"]
    assert [p["name"] for p in prep["inputs"]["parameters"]] == ["repository", "sha"]
    container = prep["container"]
    assert container["command"] == ["bash", "-eo", "pipefail", "-c"]
    assert "{{" not in container["args"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env == {"REPOSITORY": "{{inputs.parameters.repository}}", "SHA": "{{inputs.parameters.sha}}"}


def test_rbac_the_executor_records_results_and_the_sensor_creates_workflows_nothing_more() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in load_all(ARGO_DIR / "rbac.yaml")}
    assert docs["ServiceAccount", "release-data-prep"]["automountServiceAccountToken"] is False
    assert docs["Role", "release-data-prep-executor"]["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
    ]
    sensor = {
        (d["kind"], d["metadata"]["name"]): d for d in load_all(ARGO_DIR / "events" / "sensor-rbac.yaml")
    }
    assert sensor["Role", "release-data-prep-sensor"]["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]}
    ]
    spec = load_one(ARGO_DIR / "events" / "sensor.yaml")["spec"]
    assert spec["template"]["serviceAccountName"] == "release-data-prep-sensor"


# -- the hook and the sensor ----------------------------------------------------------------------


def test_the_postsync_hook_is_a_workflow_of_the_template_that_argo_cd_creates() -> None:
    hook = load_one(ARGO_DIR / "postsync-hook.yaml")
    annotations = hook["metadata"]["annotations"]
    assert annotations["argocd.argoproj.io/hook"] == "PostSync"
    assert annotations["argocd.argoproj.io/hook-delete-policy"] == "BeforeHookCreation"
    assert "generateName" not in hook["metadata"]  # BeforeHookCreation finds the previous run by name
    assert hook["spec"]["workflowTemplateRef"] == {"name": "release-data-prep"}
    params = {p["name"]: p["value"] for p in hook["spec"]["arguments"]["parameters"]}
    assert params["context"] == "release-data-prep" and params["environment"] == "staging"
    assert params["sha"] == ""  # filled by the kustomization's replacement (integration test)


def test_the_sensor_maps_push_and_pull_request_to_the_status_matrix() -> None:
    spec = load_one(ARGO_DIR / "events" / "sensor.yaml")["spec"]
    deps = {d["name"]: d for d in spec["dependencies"]}

    def data_filter(dep: str) -> dict[str, list[str]]:
        return {f["path"]: f["value"] for f in deps[dep]["filters"]["data"]}

    assert data_filter("push-main")["headers.X-Github-Event"] == ["push"]
    assert data_filter("push-main")["body.ref"] == ["refs/heads/main"]
    assert data_filter("pull-request")["headers.X-Github-Event"] == ["pull_request"]
    assert data_filter("pull-request")["body.action"] == ["opened", "synchronize", "reopened"]
    [same_repo] = deps["pull-request"]["filters"]["exprs"]
    assert same_repo["expr"] == "head == base"
    template_params = {p["name"] for p in workflow_template()["spec"]["arguments"]["parameters"]}
    expected = {
        "release-data-prep-main": (
            "push-main",
            {"repository": "body.repository.full_name", "sha": "body.after"},
            {"context": "release-data-prep", "environment": "staging"},
        ),
        "release-data-prep-pr": (
            "pull-request",
            {
                "repository": "body.repository.full_name",
                "sha": "body.pull_request.head.sha",
                "pr-number": "body.pull_request.number",
            },
            {"context": "release-data-prep/pr", "environment": ""},
        ),
    }
    triggers = {t["template"]["name"]: t for t in spec["triggers"]}
    assert set(triggers) == set(expected)
    for name, (dependency, from_event, fixed) in expected.items():
        template = triggers[name]["template"]
        assert template["conditions"] == dependency
        assert template["k8s"]["operation"] == "create"
        workflow = template["k8s"]["source"]["resource"]
        assert workflow["spec"]["workflowTemplateRef"] == {"name": "release-data-prep"}
        params = workflow["spec"]["arguments"]["parameters"]
        assert {p["name"] for p in params} <= template_params
        # each dest index names the parameter it is meant for
        mapped = {}
        for item in template["k8s"]["parameters"]:
            assert item["src"]["dependencyName"] == dependency
            index = int(item["dest"].removeprefix("spec.arguments.parameters.").removesuffix(".value"))
            mapped[params[index]["name"]] = item["src"]["dataKey"]
        assert mapped == from_event, name
        static = {p["name"]: p["value"] for p in params if p["name"] not in from_event}
        assert static == fixed, name
