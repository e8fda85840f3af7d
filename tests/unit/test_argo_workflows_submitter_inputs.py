"""templates/argo-workflows/workflowtemplate.yaml: what whoever may submit the WorkflowTemplate
(argo submit --from workflowtemplate/release-data-prep -p name=value) can and cannot change.

- REVIEW12a #4: the GitHub API URL, where every report-status step sends the App's JWT, comes
  from the Secret (optional key api-url), never from a parameter.
- issue 12: the Argo Workflows UI the statuses' target_url / log_url link to comes from the same
  Secret (key workflows-url), never from a parameter: a submitter could point them anywhere.
- REVIEW12a #12: a `when` never has a parameter's text pasted into it (Argo evaluates `when`
  after substitution, so a quote in the value would rewrite the condition); it uses an
  expression tag, which compares the value and leaves only true / false."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fixtures.argo_templates import (
    MissingSecretKey,
    command_line,
    exit_steps,
    main_groups,
    templates_by_name,
    variables,
    when_holds,
    workflow_template,
)

SECRET = "release-data-prep-github-app"
# A simple tag of a parameter ({{workflow.parameters.x}}, {{inputs.parameters.x}}): substituted as
# text. Expression tags ({{=…}}) are not matched.
_PARAMETER_TEXT = re.compile(r"\{\{\s*(?:workflow|inputs)\.parameters\.")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return workflow_template()["spec"]


def report_templates(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: t
        for name, t in templates_by_name(spec).items()
        if "container" in t and t["container"]["args"][:1] == ["report-status"]
    }


def all_steps(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for group in main_groups(spec) for step in group] + exit_steps(spec)


def test_the_api_url_is_the_secrets_optional_key_never_a_parameter(spec: dict[str, Any]) -> None:
    names = {p["name"] for p in spec["arguments"]["parameters"]}
    assert not {name for name in names if "api" in name}, names
    reports = report_templates(spec)
    assert len(reports) == 4
    for name, template in reports.items():
        env = {item["name"]: item for item in template["container"]["env"]}
        assert env["INPUT_API_URL"] == {
            "name": "INPUT_API_URL",
            "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "api-url", "optional": True}},
        }, name
        # nothing else in the container says where GitHub is
        assert not any(a.startswith("--api-url") for a in template["container"]["args"]), name


def test_without_the_api_url_key_the_variable_is_unset_and_report_status_uses_github_com(
    spec: dict[str, Any],
) -> None:
    given = {"repository": "org/config-repo", "sha": "0" * 40}
    values = variables(spec, given, name="wf", namespace="argo-workflows")
    template = templates_by_name(spec)["report-pending"]
    secrets = {SECRET: {"app-id": "1", "workflows-url": "https://argo.example.org"}}
    _, env = command_line(template, values, secrets=secrets, mounts={})
    assert "INPUT_API_URL" not in env  # the pod has no GITHUB_API_URL: https://api.github.com
    _, env = command_line(
        template,
        values,
        secrets={SECRET: {**secrets[SECRET], "api-url": "https://ghe.example/api/v3"}},
        mounts={},
    )
    assert env["INPUT_API_URL"] == "https://ghe.example/api/v3"


def test_the_workflows_url_is_the_secrets_key_never_a_parameter(spec: dict[str, Any]) -> None:
    names = {p["name"] for p in spec["arguments"]["parameters"]}
    assert not {name for name in names if "url" in name}, names
    for name, template in report_templates(spec).items():
        env = {item["name"]: item for item in template["container"]["env"]}
        assert env["WORKFLOWS_URL"] == {
            "name": "WORKFLOWS_URL",
            "valueFrom": {"secretKeyRef": {"name": SECRET, "key": "workflows-url"}},
        }, name
        links = [a for a in template["container"]["args"] if a.startswith(("--target-url=", "--log-url="))]
        assert len(links) == 1, name
        assert (
            links[0].split("=", 1)[1] == "$(WORKFLOWS_URL)/workflows/{{workflow.namespace}}/{{workflow.name}}"
        )


def test_a_submitted_workflows_url_parameter_does_not_move_the_links(spec: dict[str, Any]) -> None:
    # as if a submitter still passed -p workflows-url=https://evil.example: nothing reads it
    given = {"repository": "org/config-repo", "sha": "0" * 40}
    values = variables(spec, given, name="wf", namespace="argo-workflows", status="Succeeded")
    values["workflow.parameters.workflows-url"] = "https://evil.example"
    secrets = {SECRET: {"app-id": "1", "workflows-url": "https://argo.example.org"}}
    for name, template in report_templates(spec).items():
        argv, _ = command_line(template, values, secrets=secrets, mounts={})
        links = [a for a in argv if a.startswith(("--target-url=", "--log-url="))]
        assert [link.split("=", 1)[1] for link in links] == [
            "https://argo.example.org/workflows/argo-workflows/wf"
        ]
        assert not any("evil" in a for a in argv), name


def test_without_the_workflows_url_key_no_report_container_starts(spec: dict[str, Any]) -> None:
    # required: a link to nowhere (or a literal "$(WORKFLOWS_URL)") is never posted
    values = variables(
        spec, {"repository": "o/r", "sha": "0" * 40}, name="wf", namespace="ns", status="Failed"
    )
    for template in report_templates(spec).values():
        with pytest.raises(MissingSecretKey, match="workflows-url"):
            command_line(template, values, secrets={SECRET: {"app-id": "1"}}, mounts={})


def test_no_when_pastes_a_parameters_text_into_the_expression(spec: dict[str, Any]) -> None:
    conditions = [step["when"] for step in all_steps(spec) if "when" in step]
    assert conditions, "the deployment steps are conditional"
    for when in conditions:
        assert not _PARAMETER_TEXT.search(when), when
        assert when.startswith("{{=") and when.endswith("}}"), when


@pytest.mark.parametrize(
    ("environment", "deploys"),
    [("staging", True), ("", False), ("x' == 'x", True), ("' != '' || 'a", True), ("''", True)],
)
def test_the_deployment_condition_compares_the_environment_as_a_value(
    spec: dict[str, Any], environment: str, deploys: bool
) -> None:
    given = {"repository": "org/config-repo", "sha": "0" * 40, "environment": environment}
    values = variables(spec, given, name="wf", namespace="argo-workflows", status="Succeeded")
    for step in all_steps(spec):
        if "when" in step:
            assert when_holds(step["when"], values) is deploys, (step["name"], environment)
