"""core/scaffold.py: init's placeholders, push triggers from the channel map, the write plan."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from gitops_release.commands import init as init_mod
from gitops_release.core import scaffold
from gitops_release.core.channels import DEFAULT_CHANNEL_MAP, channel_for_ref, parse_channel_map
from gitops_release.errors import InputError

ROOT = Path(__file__).resolve().parents[3]
SOURCE_TEMPLATE = ROOT / "templates/source-repo" / scaffold.SOURCE_WORKFLOW


def test_substitution_is_one_pass_so_a_value_is_never_replaced_again() -> None:
    values = scaffold.ConfigRepoValues(repository="my-app/my-app", app="my-app-x", image="ghcr.io/org/my-app")
    text = "ghcr.io/org/my-app org/my-app my-app my-app-worker"
    assert scaffold.render_config_repo(text, values) == (
        "ghcr.io/org/my-app my-app/my-app my-app-x my-app-x-worker"
    )


def test_defaults_write_the_template_unchanged() -> None:
    text = (ROOT / "templates/config-repo/.gitops-release.yml").read_text()
    assert scaffold.render_config_repo(text, scaffold.ConfigRepoValues()) == text
    source = SOURCE_TEMPLATE.read_text()
    assert (
        scaffold.render_source_repo(scaffold.SOURCE_WORKFLOW, source, scaffold.SourceRepoValues()) == source
    )


def test_the_default_channel_map_is_the_one_the_source_template_writes() -> None:
    workflow = yaml.safe_load(SOURCE_TEMPLATE.read_text())
    step = workflow["jobs"]["dispatch"]["steps"][0]
    assert parse_channel_map(step["with"]["channel-map"]) == DEFAULT_CHANNEL_MAP


def test_a_custom_map_writes_the_map_and_matching_push_filters() -> None:
    mapping = parse_channel_map("refs/heads/develop=dev, refs/heads/release/**=stage, refs/tags/*=prod")
    values = scaffold.SourceRepoValues(
        channel_map=mapping, app="shop", image="ghcr.io/acme/shop", config_repository="acme/config"
    )
    text = scaffold.render_source_workflow(SOURCE_TEMPLATE.read_text(), values)
    workflow = yaml.safe_load(text)
    push = workflow[True]["push"]  # PyYAML reads `on` as True
    assert push == {"branches": ["develop", "release/**"], "tags": ["*"]}
    dispatch = workflow["jobs"]["dispatch"]["steps"][0]["with"]
    assert parse_channel_map(dispatch["channel-map"]) == mapping
    assert dispatch["repository"] == "acme/config"
    meta = workflow["jobs"]["build"]["steps"][1]
    assert meta["env"] == {"CONTAINER": "shop", "IMAGE": "ghcr.io/acme/shop"}
    assert (
        channel_for_ref("refs/heads/release/1.2/fix", parse_channel_map(dispatch["channel-map"])) == "stage"
    )


def test_a_map_of_branches_only_has_no_tag_filter() -> None:
    values = scaffold.SourceRepoValues(channel_map=parse_channel_map("refs/heads/main=dev"))
    push = yaml.safe_load(scaffold.render_source_workflow(SOURCE_TEMPLATE.read_text(), values))[True]["push"]
    assert push == {"branches": ["main"]}


@pytest.mark.parametrize(
    "text", ["refs/pull/*=dev", "main=dev", "refs/heads/=dev", "refs/heads/rel?=dev", "refs/tags/[v]*=prod"]
)
def test_patterns_no_push_can_start_or_github_reads_differently_are_refused(text: str) -> None:
    with pytest.raises(InputError) as err:
        scaffold.push_triggers(parse_channel_map(text))
    assert err.value.field == "channel-map"


@pytest.mark.parametrize("app", ["My-App", "-app", "app-", "a_b", "a.b", "a" * 51, ""])
def test_app_must_be_a_kubernetes_name(app: str) -> None:
    with pytest.raises(InputError):
        scaffold.check_app(app)


@pytest.mark.parametrize("image", ["ghcr.io/Org/app", "ghcr.io/org/app:v1", "ghcr.io/org/app@sha256:00", ""])
def test_image_must_be_a_lowercase_repository_without_tag(image: str) -> None:
    with pytest.raises(InputError):
        scaffold.check_image(image)


def test_defaults_follow_the_source_workflow() -> None:
    assert scaffold.default_app("Acme/My-Shop") == "my-shop"
    assert scaffold.default_image("Acme/My-Shop") == "ghcr.io/acme/my-shop"


def test_plan() -> None:
    plans = scaffold.plan_files({"b": "x", "a": "y", "c": "z"}, {"a": "y", "b": "other", "c": None})
    assert [(p.path, p.action) for p in plans] == [
        ("a", scaffold.UNCHANGED),
        ("b", scaffold.DIFFERS),
        ("c", scaffold.CREATE),
    ]


# -- the config repository placeholder (COMPLETE13 G12-1) ---------------------------------------

# What names the config repository: a GitHub repoURL, the PostSync hook's repository value and
# the Argo Events webhook's owner and names.
_CONFIG_REFERENCE = re.compile(r"https://github\.com/([\w.-]+/[\w.-]+?)\.git|value: ([\w.-]+/[\w.-]+)\s+#")
_WEBHOOK_REPOSITORY = re.compile(r"- owner: ([\w.-]+)\n\s+names: \[([\w.-]+)\]")


def _config_repositories(written: dict[str, str]) -> set[str]:
    found = set()
    for path, text in written.items():
        if path.startswith(("infra/argocd-apps/", "infra/argo-workflows/")):
            found |= {url or hook for url, hook in _CONFIG_REFERENCE.findall(text)}
            found |= {f"{owner}/{name}" for owner, name in _WEBHOOK_REPOSITORY.findall(text)}
    return found


def test_every_template_set_names_the_config_repository_by_one_placeholder() -> None:
    """templates/argocd read https://github.com/org/config.git while templates/argo-workflows read
    org/config-repo: init without --config-repository wrote two different repositories."""
    templates = init_mod.template_files("config-repo")
    written = {
        path: scaffold.render_config_repo(text, scaffold.ConfigRepoValues())
        for path, text in templates.items()
    }
    assert _config_repositories(written) == {scaffold.TEMPLATE_CONFIG_REPOSITORY}
    values = scaffold.ConfigRepoValues(config_repository="acme/gitops")
    written = {path: scaffold.render_config_repo(text, values) for path, text in templates.items()}
    assert _config_repositories(written) == {"acme/gitops"}
    assert not any("org/config" in text for text in written.values())


def test_placeholders_are_warned_about_naming_the_flag_to_pass() -> None:
    warnings = scaffold.placeholder_warnings(scaffold.ConfigRepoValues())
    assert len(warnings) == 2
    assert "--repository is the placeholder org/my-app" in warnings[0]
    assert "pass --repository <owner/name" in warnings[0]
    assert "--config-repository is the placeholder org/config-repo" in warnings[1]
    assert "pass --config-repository <owner/name" in warnings[1]
    given = scaffold.ConfigRepoValues(repository="acme/shop", config_repository="acme/gitops")
    assert scaffold.placeholder_warnings(given) == []


def test_next_steps_never_hand_the_placeholder_config_repository_to_the_source_repo() -> None:
    step = next(
        s for s in scaffold.config_repo_next_steps(scaffold.ConfigRepoValues(), ".") if "source-repo" in s
    )
    assert scaffold.TEMPLATE_CONFIG_REPOSITORY not in step
    assert "--config-repository <owner/name of this config repository>" in step
