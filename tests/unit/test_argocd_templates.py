"""templates/argocd/: the AppProject and Applications validate against Argo CD's Swagger (v3.5.1,
closed: an unknown or misspelt key fails), say what seeds 003 and 004 ask (sync policies, retry,
revisionHistoryLimit, RBAC), point at the config-repo template's overlays; the PrometheusRule
validates against its CRD's schema and carries seed 004's alerts on metrics Argo CD exports; the
argocd-notifications-cm uses only the GitHub service's fields and renders, on a real Application
status, commit statuses and deployments on the synced commit. Rendering with kustomize,
kubernetes-validate and checkov: tests/integration/test_argocd_templates*.py."""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from gitops_release.sandbox import openapi

ROOT = Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "templates" / "argocd"
CONFIG_REPO = ROOT / "templates" / "config-repo"
AWAIT = CONFIG_REPO / ".github" / "workflows" / "await-argocd-sync.yml"
SWAGGER = ROOT / "tests" / "contracts" / "argocd" / "swagger-create.json"
PROMETHEUS_RULE_SCHEMA = ROOT / "tests" / "contracts" / "prometheus" / "prometheusrule-v1.schema.json"
CONTRACT_APP = ROOT / "tests" / "fixtures" / "corpus" / "argocd-contracts" / "01-diff-cache.application.yaml"
K8S_VERSION = "1.37.0"
ENVIRONMENTS = ("dev", "stage", "prod")
CONFIG_REPO_URL = "https://github.com/org/config-repo.git"

# Seed 004's sync policies, word for word.
AUTOMATIC_SYNC_OPTIONS = ["CreateNamespace=true", "PrunePropagationPolicy=foreground", "PruneLast=true"]
AUTOMATIC_RETRY = {"limit": 5, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "3m0s"}}
MANUAL_SYNC_OPTIONS = ["CreateNamespace=true"]
MANUAL_RETRY = {"limit": 3, "backoff": {"duration": "10s", "factor": 2, "maxDuration": "5m0s"}}


def load_all(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def load_one(path: Path) -> dict[str, Any]:
    [doc] = load_all(path)
    return doc


def applications() -> dict[str, dict[str, Any]]:
    return {env: load_one(ARGOCD / f"application-{env}.yaml") for env in ENVIRONMENTS}


def project() -> dict[str, Any]:
    return load_one(ARGOCD / "appproject.yaml")


def notifications_cm() -> dict[str, Any]:
    return load_one(ARGOCD / "argocd-notifications-cm.yaml")


# -- Argo CD's Swagger, closed ------------------------------------------------------------------


def closed(document: dict[str, Any]) -> dict[str, Any]:
    """The Swagger document with every object definition closed: the API server prunes unknown
    fields of a CRD without a word, so a misspelt `selfheal` would silently turn self-heal off."""
    document = copy.deepcopy(document)
    for schema in document["definitions"].values():
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
    return document


@pytest.fixture(scope="module")
def argocd_schema() -> openapi.Validator:
    conventions = openapi.Conventions(
        api="argocd-create", vendor="Argo CD", server_url="https://argocd.invalid"
    )
    return openapi.Validator(closed(json.loads(SWAGGER.read_text(encoding="utf-8"))), conventions)


def swagger_problems(validator: openapi.Validator, definition: str, obj: dict[str, Any]) -> list[str]:
    # grpc-gateway's definitions describe the Go struct: apiVersion and kind are Kubernetes'
    # type meta, checked by the caller.
    body = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}
    return validator.schema_problems(definition, body)


def test_the_kustomization_lists_every_manifest_of_the_folder() -> None:
    kustomization = load_one(ARGOCD / "kustomization.yaml")
    manifests = sorted(p.name for p in ARGOCD.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == manifests


def test_the_applications_and_the_project_validate_against_argo_cds_swagger(
    argocd_schema: openapi.Validator,
) -> None:
    for env, app in applications().items():
        assert (app["apiVersion"], app["kind"]) == ("argoproj.io/v1alpha1", "Application"), env
        assert swagger_problems(argocd_schema, "v1alpha1Application", app) == [], env
    proj = project()
    assert (proj["apiVersion"], proj["kind"]) == ("argoproj.io/v1alpha1", "AppProject")
    assert swagger_problems(argocd_schema, "v1alpha1AppProject", proj) == []


@pytest.mark.parametrize(
    ("where", "key"),
    [
        (("spec", "syncPolicy", "automated"), "selfheal"),  # Argo CD's field is selfHeal
        (("spec", "syncPolicy", "retry", "backoff"), "maxduration"),
        (("spec",), "revisionHistory"),
    ],
)
def test_the_swagger_check_refuses_a_misspelt_key(
    argocd_schema: openapi.Validator, where: tuple[str, ...], key: str
) -> None:
    app = copy.deepcopy(applications()["dev"])
    node = app
    for part in where:
        node = node[part]
    node[key] = True
    assert swagger_problems(argocd_schema, "v1alpha1Application", app)


def test_dev_stage_sync_automatically_with_seed_004s_policy_and_prod_by_hand() -> None:
    apps = applications()
    for env in ("dev", "stage"):
        policy = apps[env]["spec"]["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}, env
        assert policy["syncOptions"] == AUTOMATIC_SYNC_OPTIONS, env
        assert policy["retry"] == AUTOMATIC_RETRY, env
    prod = apps["prod"]["spec"]["syncPolicy"]
    assert "automated" not in prod
    assert prod["syncOptions"] == MANUAL_SYNC_OPTIONS
    assert prod["retry"] == MANUAL_RETRY


def test_every_application_keeps_ten_revisions_and_deploys_its_overlay_in_its_namespace() -> None:
    proj = project()
    destinations = {(d["server"], d["namespace"]) for d in proj["spec"]["destinations"]}
    overlay_namespaces = {}
    for env in ENVIRONMENTS:
        overlay = load_one(CONFIG_REPO / "infra" / "argocd" / "overlays" / env / "kustomization.yaml")
        overlay_namespaces[env] = overlay["namespace"]
    for env, app in applications().items():
        spec = app["spec"]
        assert app["metadata"]["name"] == f"my-app-{env}"  # await-argocd-sync.yml's my-app-<environment>
        assert app["metadata"]["namespace"] == "argocd"
        assert spec["revisionHistoryLimit"] == 10
        assert spec["project"] == proj["metadata"]["name"]
        source = spec["source"]
        assert source["repoURL"] == CONFIG_REPO_URL and source["repoURL"] in proj["spec"]["sourceRepos"]
        assert source["targetRevision"] == "main"
        # The path is the config-repo template's overlay, the one promote-overlay edits.
        assert (CONFIG_REPO / source["path"] / "kustomization.yaml").is_file(), source["path"]
        assert source["path"] == f"infra/argocd/overlays/{env}"
        destination = spec["destination"]
        assert destination["namespace"] == overlay_namespaces[env]
        assert (destination["server"], destination["namespace"]) in destinations
    assert {ns for _, ns in destinations} == set(overlay_namespaces.values())


def test_the_environment_labels_are_await_argocd_syncs_environment_names() -> None:
    workflow = yaml.safe_load(AWAIT.read_text(encoding="utf-8"))
    dispatch = workflow[True]["workflow_dispatch"]["inputs"]["environment"]["options"]  # `on:` is True
    labels = {app["metadata"]["labels"]["gitops-release/environment"] for app in applications().values()}
    assert labels == set(dispatch) == set(ENVIRONMENTS)


# -- RBAC (seed 004: developers get / sync their apps, only ops sync prod) ------------------------

PROJECT_SCOPED = {"applications", "applicationsets", "logs", "exec", "clusters", "repositories"}
ACTIONS = {"get", "create", "update", "delete", "sync", "override", "*"}


def argocd_policy_error(proj: str, role: str, policy: str) -> str:
    """Argo CD v3's validatePolicy (pkg/apis/application/v1alpha1/types.go): '' when it accepts."""
    parts = [part.strip() for part in policy.split(",")]
    if len(parts) != 6 or parts[0] != "p":
        return "must be 'p, sub, res, act, obj, eft'"
    _, subject, resource, action, obj, effect = parts
    if subject != f"proj:{proj}:{role}":
        return f"subject must be proj:{proj}:{role}"
    if resource not in PROJECT_SCOPED:
        return f"resource {resource} is not project-scoped"
    if action not in ACTIONS and not action.startswith("action/"):
        return f"action {action}"
    if not obj.startswith(f"{proj}/"):
        return f"object must start with {proj}/"
    if effect not in ("allow", "deny"):
        return f"effect {effect}"
    return ""


def allowed(groups: set[str], resource: str, action: str, obj: str) -> bool:
    """Argo CD's project-role decision: some allow matches (globs on the object) and no deny does."""
    effects = []
    for role in project()["spec"]["roles"]:
        if not groups & set(role.get("groups", [])):
            continue
        for policy in role["policies"]:
            _, _, res, act, pattern, effect = (part.strip() for part in policy.split(","))
            if res == resource and act in (action, "*") and fnmatch.fnmatchcase(obj, pattern):
                effects.append(effect)
    return "allow" in effects and "deny" not in effects


def test_every_role_policy_is_one_argo_cd_accepts() -> None:
    proj = project()
    name = proj["metadata"]["name"]
    for role in proj["spec"]["roles"]:
        for policy in role["policies"]:
            assert argocd_policy_error(name, role["name"], policy) == "", (role["name"], policy)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_developers_and_ops_see_every_app_and_its_logs(env: str) -> None:
    for group in ("org:developers", "org:ops"):
        assert allowed({group}, "applications", "get", f"my-app/my-app-{env}")
        assert allowed({group}, "logs", "get", f"my-app/my-app-{env}")


def test_developers_sync_dev_and_stage_and_only_ops_sync_prod() -> None:
    developers, ops = {"org:developers"}, {"org:ops"}
    assert allowed(developers, "applications", "sync", "my-app/my-app-dev")
    assert allowed(developers, "applications", "sync", "my-app/my-app-stage")
    assert not allowed(developers, "applications", "sync", "my-app/my-app-prod")
    assert allowed(ops, "applications", "sync", "my-app/my-app-prod")
    # An ops engineer who is a developer too still syncs prod: no deny overrides the ops allow.
    assert allowed(developers | ops, "applications", "sync", "my-app/my-app-prod")
    for action in ("create", "update", "delete", "override"):
        assert not allowed(developers | ops, "applications", action, "my-app/my-app-prod"), action


def test_the_ci_role_reads_every_app_and_syncs_none() -> None:
    [ci] = [role for role in project()["spec"]["roles"] if role["name"] == "ci"]
    assert "groups" not in ci  # a token role (argocd proj role create-token), nobody's SSO group
    assert ci["policies"] == ["p, proj:my-app:ci, applications, get, my-app/*, allow"]


# -- PrometheusRule (seed 004's alerting rules) --------------------------------------------------


def close_objects(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {key: close_objects(value) for key, value in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [close_objects(item) for item in schema]
    return schema


@pytest.fixture(scope="module")
def rule_validator() -> jsonschema.Draft7Validator:
    schema = close_objects(json.loads(PROMETHEUS_RULE_SCHEMA.read_text(encoding="utf-8")))
    return jsonschema.Draft7Validator(schema)


def alerts() -> dict[str, dict[str, Any]]:
    rule = load_one(ARGOCD / "prometheusrule.yaml")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def test_the_prometheus_rule_validates_against_its_crd_schema(
    rule_validator: jsonschema.Draft7Validator,
) -> None:
    rule = load_one(ARGOCD / "prometheusrule.yaml")
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert [error.message for error in rule_validator.iter_errors(rule)] == []


@pytest.mark.parametrize(
    "broken",
    [{"fro": "10m"}, {"for": "10 minutes"}, {"labels": {"severity": 2}}],
    ids=["key", "duration", "label"],
)
def test_the_crd_schema_refuses_a_broken_rule(
    rule_validator: jsonschema.Draft7Validator, broken: dict[str, Any]
) -> None:
    rule = load_one(ARGOCD / "prometheusrule.yaml")
    rule["spec"]["groups"][0]["rules"][0].update(broken)
    assert list(rule_validator.iter_errors(rule))


def test_seed_004s_alerts_on_the_metric_argo_cd_exports() -> None:
    rules = alerts()
    assert set(rules) == {"ArgocdApplicationOutOfSync", "ArgocdApplicationUnhealthy"}
    out_of_sync, unhealthy = rules["ArgocdApplicationOutOfSync"], rules["ArgocdApplicationUnhealthy"]
    assert (out_of_sync["for"], out_of_sync["labels"]["severity"]) == ("10m", "warning")
    assert (unhealthy["for"], unhealthy["labels"]["severity"]) == ("5m", "critical")
    # Argo CD >= 1.x exports argocd_app_info with the states as labels; the seed's
    # argocd_app_sync_status / argocd_app_health_status no longer exist and would never fire.
    assert 'argocd_app_info{project="my-app", sync_status="OutOfSync"}' in out_of_sync["expr"]
    assert 'argocd_app_info{project="my-app", health_status!="Healthy"}' in unhealthy["expr"]
    for rule in rules.values():
        assert "argocd_app_sync_status" not in rule["expr"] and "argocd_app_health_status" not in rule["expr"]
        # Grouped by app only: moving between unhealthy states must not restart the `for:` clock.
        assert "max by (name, namespace, project) (" in rule["expr"]
        assert "{{ $labels.name }}" in rule["annotations"]["summary"]


# -- argocd-notifications-cm: the GitHub service -------------------------------------------------

# notifications-engine pkg/services/github.go: GitHubNotification and the structs under it
# (json tags), so a misspelt field (revisonPath) that Argo CD would ignore fails here.
GITHUB_FIELDS = {
    "repoURLPath": str,
    "revisionPath": str,
    "status": {"state": str, "label": str, "targetURL": str},
    "deployment": {
        "state": str,
        "environment": str,
        "environmentURL": str,
        "logURL": str,
        "requiredContexts": list,
        "autoMerge": bool,
        "transientEnvironment": bool,
        "reference": str,
    },
    "pullRequestComment": {"content": str, "commentTag": str},
    "checkRun": dict,
    "repositoryDispatch": dict,
}
COMMIT_STATES = {"pending", "success", "failure", "error"}
DEPLOYMENT_STATES = {"queued", "in_progress", "pending", "success", "failure", "error", "inactive"}
TRIGGER_FIELDS = {"when", "send", "oncePer", "description"}
ARGOCD_URL = "https://argocd.example.com"


def check_fields(node: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    unknown = set(node) - set(spec)
    assert not unknown, f"{where}: {sorted(unknown)} not in the GitHub service's fields"
    for key, value in node.items():
        if isinstance(spec[key], dict) and isinstance(value, dict):
            check_fields(value, spec[key], f"{where}.{key}")
        else:
            want = spec[key] if isinstance(spec[key], type) else dict
            assert isinstance(value, want), f"{where}.{key}: {value!r} is not {want.__name__}"


def cm_section(prefix: str) -> dict[str, Any]:
    data = notifications_cm()["data"]
    return {
        key.removeprefix(prefix): yaml.safe_load(value)
        for key, value in data.items()
        if key.startswith(prefix)
    }


_ACTION = re.compile(r"\{\{(.*?)\}\}")
_PATH = re.compile(r"^\s*(\.[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s*$")
_INDEX = re.compile(r'^\s*index\s+(\.[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s+"([^"]+)"\s*$')


def lookup(data: Any, path: str, text: str) -> Any:
    for part in path.strip(".").split("."):
        assert isinstance(data, dict) and part in data, f"{text}: {path} is missing at {part}"
        data = data[part]
    return data


def render(text: str, data: dict[str, Any]) -> str:
    """The Go text/template subset the templates use ({{.path}}, {{index .path "key"}}), strict:
    a missing key fails (Go would print <no value> or stop on a nil map), so would a construct
    outside the subset."""

    def action(match: re.Match[str]) -> str:
        inner = match.group(1)
        if path := _PATH.match(inner):
            return str(lookup(data, path.group(1), text))
        if index := _INDEX.match(inner):
            found = lookup(data, index.group(1), text)
            assert index.group(2) in found, f"{text}: no key {index.group(2)}"
            return str(found[index.group(2)])
        raise AssertionError(f"{text}: {{{{{inner}}}}} is outside the subset this test renders")

    return _ACTION.sub(action, text)


def synced_app(env: str) -> dict[str, Any]:
    """The template's Application with the status of a real Argo CD v3.5.1 Application."""
    [real] = load_all(CONTRACT_APP)
    app = copy.deepcopy(applications()[env])
    app["status"] = copy.deepcopy(real["status"])
    return app


def render_all(node: Any, data: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {key: render_all(value, data) for key, value in node.items()}
    if isinstance(node, list):
        return [render_all(item, data) for item in node]
    return render(node, data) if isinstance(node, str) else node


def test_the_configmap_validates_as_a_kubernetes_configmap() -> None:
    cm = notifications_cm()
    kubernetes_validate.validate(cm, K8S_VERSION, strict=True)
    assert cm["metadata"] == {"name": "argocd-notifications-cm", "namespace": "argocd"}


def test_the_github_service_takes_the_app_credentials_from_the_secret_only() -> None:
    service = cm_section("service.")
    assert service == {
        "github": {
            "appID": "$github-appID",
            "installationID": "$github-installationID",
            "privateKey": "$github-privateKey",
        }
    }


def test_the_templates_use_only_the_github_services_fields_and_real_states() -> None:
    templates = cm_section("template.")
    assert templates
    for name, template in templates.items():
        assert set(template) == {"message", "github"}, name
        github = template["github"]
        check_fields(github, GITHUB_FIELDS, name)
        assert github["status"]["state"] in COMMIT_STATES, name
        deployment = github["deployment"]
        assert deployment["state"] in DEPLOYMENT_STATES, name
        # report-status's choices: no required contexts (GitHub would check every context and
        # answer 409), no auto-merge (a rollback deploys an older commit), not transient.
        assert deployment["requiredContexts"] == [] and deployment["autoMerge"] is False, name
        assert deployment["transientEnvironment"] is False, name


def test_triggers_send_existing_templates_and_the_subscription_selects_the_applications() -> None:
    templates, triggers = cm_section("template."), cm_section("trigger.")
    for name, conditions in triggers.items():
        for condition in conditions:
            assert set(condition) <= TRIGGER_FIELDS and {"when", "send"} <= set(condition), name
            assert set(condition["send"]) <= set(templates), name
    [subscription] = yaml.safe_load(notifications_cm()["data"]["subscriptions"])
    assert subscription["recipients"] == ["github"]
    assert set(subscription["triggers"]) == set(triggers)
    key, value = subscription["selector"].split("=")
    for env, app in applications().items():
        assert app["metadata"]["labels"][key] == value, env
    states = {
        name: (template["github"]["status"]["state"], template["github"]["deployment"]["state"])
        for name, template in templates.items()
    }
    sent = {name: states[c["send"][0]] for name, conditions in triggers.items() for c in conditions}
    assert sent == {
        "gitops-release-on-sync-running": ("pending", "in_progress"),
        "gitops-release-on-deployed": ("success", "success"),
        "gitops-release-on-sync-failed": ("failure", "failure"),
        "gitops-release-on-health-degraded": ("failure", "failure"),
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_template_renders_on_a_real_application_status(env: str) -> None:
    app = synced_app(env)
    context = yaml.safe_load(notifications_cm()["data"]["context"])
    assert context == {"argocdUrl": ARGOCD_URL}
    data = {"app": app, "context": context}
    synced = app["status"]["operationState"]["syncResult"]["revision"]
    compared = app["status"]["sync"]["revision"]
    page = f"{ARGOCD_URL}/applications/argocd/my-app-{env}"
    for name, template in cm_section("template.").items():
        rendered = render_all(template, data)
        assert len(rendered["message"]) <= 140, name  # GitHub's description limit
        assert f"my-app-{env}" in rendered["message"], name
        github = rendered["github"]
        assert github["repoURLPath"] == CONFIG_REPO_URL, name
        # A finished sync reports on the commit it applied; a running one (no syncResult yet)
        # and a degraded app on the commit Argo CD compared.
        want = (
            compared if name in ("gitops-release-sync-running", "gitops-release-health-degraded") else synced
        )
        assert github["revisionPath"] == want, name
        assert github["status"]["label"] == f"argocd/my-app-{env}", name
        assert github["status"]["targetURL"].startswith(page), name
        deployment = github["deployment"]
        assert deployment["environment"] == env, name
        assert deployment["environmentURL"] == page, name
        assert deployment["logURL"].startswith(page), name


def test_the_renderer_fails_on_a_misspelt_path() -> None:
    data = {"app": synced_app("dev"), "context": {"argocdUrl": ARGOCD_URL}}
    with pytest.raises(AssertionError, match="syncResults"):
        render("{{.app.status.operationState.syncResults.revision}}", data)
