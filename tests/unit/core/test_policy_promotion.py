"""core/policy.py: the keys promote-overlay reads (tags.mutable, overlays.values, promotion)."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_release.core.policy import (
    DEFAULT_POLICY,
    DURATION_FIX,
    NO_ENV_RULES,
    EnvRules,
    ValuesRule,
    check_release,
    load_policy,
    parse_duration,
    policy_schema,
)
from gitops_release.core.release import Release, Source
from gitops_release.errors import ConfigError, PolicyError

FULL = """\
channels: [dev, stage, prod]
tags:
  mutable: ["*-rc", edge]
overlays:
  values:
    - image: ghcr.io/org/my-app
      files: {dev: charts/my-app/values-dev.yaml, stage: charts/my-app/values-staging.yaml}
      tag: image.tag
      digest: image.digest
      repository: image.repository
    - image: localhost:5000/tool
      files: {prod: values.yaml}
      tag: tool.image.tag
promotion:
  branches: {dev: develop, stage: staging, prod: main}
  environments:
    prod:
      requireStatus: deployment
      soakTime: 24h
      labels: [promotion, prod]
      reviewers: [alice]
      teamReviewers: [ops]
      checklist: ["Stage ran a day", "Team told"]
    stage:
      requireStatus: ci/e2e
"""


def test_the_promotion_keys_are_read() -> None:
    policy = load_policy(FULL)
    assert policy.mutable_tags == ("*-rc", "edge")
    assert policy.values == (
        ValuesRule(
            image="ghcr.io/org/my-app",
            files=MappingProxyType(
                {"dev": "charts/my-app/values-dev.yaml", "stage": "charts/my-app/values-staging.yaml"}
            ),
            tag="image.tag",
            digest="image.digest",
            repository="image.repository",
        ),
        ValuesRule(
            image="localhost:5000/tool", files=MappingProxyType({"prod": "values.yaml"}), tag="tool.image.tag"
        ),
    )
    assert dict(policy.branches) == {"dev": "develop", "stage": "staging", "prod": "main"}
    assert policy.promotion["prod"] == EnvRules(
        require_status="deployment",
        soak_time=86400.0,
        labels=("promotion", "prod"),
        reviewers=("alice",),
        team_reviewers=("ops",),
        checklist=("Stage ran a day", "Team told"),
    )
    assert policy.env_rules("stage") == EnvRules(require_status="ci/e2e")
    assert policy.env_rules("dev") is NO_ENV_RULES
    assert policy.env_order == ("dev", "stage", "prod")


def test_the_defaults() -> None:
    assert DEFAULT_POLICY.mutable_tags == ()
    assert DEFAULT_POLICY.values == ()
    assert dict(DEFAULT_POLICY.branches) == {} and dict(DEFAULT_POLICY.promotion) == {}
    assert DEFAULT_POLICY.env_rules("prod") == EnvRules(None, None, (), (), (), None)
    assert DEFAULT_POLICY.env_order == ("dev", "stage", "prod")
    assert load_policy("promotion: {}\n") == DEFAULT_POLICY
    assert load_policy("channels: [a, b]\n").env_order == ("a", "b")


def test_require_status_none_means_none_and_an_empty_checklist_is_kept() -> None:
    policy = load_policy("promotion:\n  environments:\n    prod: {requireStatus: none, checklist: []}\n")
    assert policy.env_rules("prod") == EnvRules(require_status=None, checklist=())


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24h", 86400.0),
        ("90m", 5400.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("45s", 45.0),
        ("1h30m", 5400.0),
        ("1d2h3m4s", 93784.0),
        ("0s", 0.0),
        (" 2h ", 7200.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "1.5h", "-1h", "1y", "1 h", "24H", "1h 30m", "h1"])
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    assert parse_duration(text) is None


def test_soak_time_values_in_the_policy() -> None:
    rules = load_policy(
        "promotion:\n  environments:\n    prod: {requireStatus: deployment, soakTime: 1h30m}\n"
    )
    assert rules.env_rules("prod").soak_time == 5400.0


def test_a_bad_soak_time_names_the_pointer_and_the_accepted_form() -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(
            "promotion:\n  environments:\n    prod: {requireStatus: deployment, soakTime: 24 hours}\n"
        )
    assert info.value.message == (
        ".gitops-release.yml: /promotion/environments/prod/soakTime: '24 hours' is not allowed"
    )
    assert info.value.fix == (
        "use how long that status must have been success before promoting here: a number with a unit "
        "s, m, h, d or w, or several (24h, 90m, 1d, 1h30m). Needs requireStatus. Default: no soak time."
    )
    assert "24h" in DURATION_FIX and "1h30m" in DURATION_FIX


@pytest.mark.parametrize("status", ["", "requireStatus: none, "])
def test_a_soak_time_needs_a_require_status(status: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(f"promotion:\n  environments:\n    prod: {{{status}soakTime: 2h}}\n")
    assert info.value.message == (
        ".gitops-release.yml: /promotion/environments/prod/soakTime '2h' needs requireStatus: a soak "
        "time counts from the moment the source environment's status became success"
    )
    assert info.value.fix == "add requireStatus: deployment (or a commit status context), or remove soakTime"


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        (
            "overlays:\n  values:\n    - {image: a/b, files: {qa: v.yaml}, tag: t}\n",
            "/overlays/values/0/files/qa",
        ),
        ("promotion:\n  branches: {qa: main}\n", "/promotion/branches/qa"),
        ("promotion:\n  environments:\n    qa: {labels: [x]}\n", "/promotion/environments/qa"),
    ],
)
def test_an_unknown_environment_names_the_pointer_and_the_fix(text: str, pointer: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(text)
    assert info.value.message == f".gitops-release.yml: {pointer} is not a channel in /channels"
    assert info.value.fix == "name only dev, stage, prod (or add qa to channels)"


def test_an_environment_added_to_channels_is_accepted() -> None:
    policy = load_policy("channels: [dev, qa]\npromotion:\n  branches: {qa: main}\n")
    assert dict(policy.branches) == {"qa": "main"}


def test_two_rules_for_one_image_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(
            "overlays:\n  values:\n    - {image: a/b, files: {dev: x.yaml}, tag: t}\n"
            "    - {image: c/d, files: {dev: y.yaml}, tag: t}\n"
            "    - {image: a/b, files: {prod: z.yaml}, tag: t}\n"
        )
    assert info.value.message == (
        ".gitops-release.yml: /overlays/values/2/image 'a/b' is already the image of /overlays/values/0"
    )
    assert (
        info.value.fix == "give each image one rule: list all its environments' files under that rule's files"
    )


def test_two_environments_on_one_branch_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        load_policy("promotion:\n  branches: {dev: main, stage: staging, prod: main}\n")
    assert info.value.message == (
        ".gitops-release.yml: /promotion/branches/prod names branch 'main', as does /promotion/branches/dev"
    )
    assert info.value.fix == "give every environment its own branch (develop, staging, main)"


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        ("tags: {mutable: ['a b']}", "/tags/mutable/0"),
        ("tags: {mutable: ['']}", "/tags/mutable/0"),
        ("tags: {mutable: [x, x]}", "/tags/mutable"),
        ("overlays: {values: [{image: a/b, files: {dev: x.yaml}}]}", "/overlays/values/0"),
        ("overlays: {values: [{image: A/b, files: {dev: x.yaml}, tag: t}]}", "/overlays/values/0/image"),
        ("overlays: {values: [{image: a/b:v1, files: {dev: x.yaml}, tag: t}]}", "/overlays/values/0/image"),
        (
            "overlays: {values: [{image: a/b, files: {dev: ../x.yaml}, tag: t}]}",
            "/overlays/values/0/files/dev",
        ),
        ("overlays: {values: [{image: a/b, files: {dev: /x.yaml}, tag: t}]}", "/overlays/values/0/files/dev"),
        ("overlays: {values: [{image: a/b, files: {}, tag: t}]}", "/overlays/values/0/files"),
        ("overlays: {values: [{image: a/b, files: {dev: x.yaml}, tag: 'a..b'}]}", "/overlays/values/0/tag"),
        (
            "overlays: {values: [{image: a/b, files: {dev: x.yaml}, tag: t, digest: '.d'}]}",
            "/overlays/values/0/digest",
        ),
        (
            "overlays: {values: [{image: a/b, files: {dev: x.yaml}, tag: t, other: 1}]}",
            "/overlays/values/0/other",
        ),
        ("promotion: {branches: {dev: 'a..b'}}", "/promotion/branches/dev"),
        ("promotion: {branches: {dev: '/main'}}", "/promotion/branches/dev"),
        ("promotion: {branches: {dev: 'main/'}}", "/promotion/branches/dev"),
        ("promotion: {branches: {dev: 'x.lock'}}", "/promotion/branches/dev"),
        ("promotion: {branches: {dev: 'a//b'}}", "/promotion/branches/dev"),
        ("promotion: {branches: {dev: 'a b'}}", "/promotion/branches/dev"),
        ("promotion: {other: 1}", "/promotion/other"),
        ("promotion: {environments: {prod: {soak: 1h}}}", "/promotion/environments/prod/soak"),
        (
            "promotion: {environments: {prod: {requireStatus: ''}}}",
            "/promotion/environments/prod/requireStatus",
        ),
        (
            'promotion: {environments: {prod: {requireStatus: "a\\nb"}}}',
            "/promotion/environments/prod/requireStatus",
        ),
        ("promotion: {environments: {prod: {labels: ['']}}}", "/promotion/environments/prod/labels/0"),
        ("promotion: {environments: {prod: {labels: ['a,b']}}}", "/promotion/environments/prod/labels/0"),
        ("promotion: {environments: {prod: {labels: [a, a]}}}", "/promotion/environments/prod/labels"),
        (
            "promotion: {environments: {prod: {reviewers: ['a b']}}}",
            "/promotion/environments/prod/reviewers/0",
        ),
        (
            "promotion: {environments: {prod: {reviewers: ['bot[bot]']}}}",
            "/promotion/environments/prod/reviewers/0",
        ),
        (
            "promotion: {environments: {prod: {teamReviewers: ['-ops']}}}",
            "/promotion/environments/prod/teamReviewers/0",
        ),
        ("promotion: {environments: {prod: {checklist: ['']}}}", "/promotion/environments/prod/checklist/0"),
        (
            'promotion: {environments: {prod: {checklist: ["a\\nb"]}}}',
            "/promotion/environments/prod/checklist/0",
        ),
        ("promotion: {environments: {prod: {checklist: [1]}}}", "/promotion/environments/prod/checklist/0"),
    ],
)
def test_the_schema_refuses_malformed_promotion_keys(text: str, pointer: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(text + "\n")
    assert info.value.message.startswith(f".gitops-release.yml: {pointer}")


@pytest.mark.parametrize(
    "text",
    [
        "tags: {mutable: ['*-rc', 'v[0-9]', 'build-?', 'x_!y.z']}",
        "overlays: {values: [{image: localhost:5000/a, files: {dev: a/b-c_d.yaml}, tag: img.tag}]}",
        "promotion: {branches: {dev: release/1.x, stage: feature_a-b}}",
        "promotion: {environments: {prod: {requireStatus: 'ci / e2e (push)', labels: ['prio: high']}}}",
        "promotion: {environments: {prod: {reviewers: [a-b], teamReviewers: [team.x_y]}}}",
    ],
)
def test_the_schema_accepts_well_formed_promotion_keys(text: str) -> None:
    load_policy(text + "\n")


def test_every_new_schema_key_is_described() -> None:
    schema = policy_schema()
    missing = []

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, child in node.get("properties", {}).items():
                if "description" not in child:
                    missing.append(f"{where}/{name}")
            for key, child in node.items():
                walk(child, f"{where}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{where}/{index}")

    walk(schema, "")
    assert missing == []


def release(tag: str) -> Release:
    return Release("my-app", "dev", "ghcr.io/org/my-app", tag, None, Source("org/my-app", "0" * 40))


def test_update_db_refuses_a_tag_the_policy_marks_mutable() -> None:
    policy = load_policy("tags: {mutable: ['*-rc', 'edge-?']}\n")
    with pytest.raises(PolicyError) as info:
        check_release(policy, release("build-7-rc"), None)
    assert info.value.message == (
        "payload.tag 'build-7-rc' matches '*-rc' of tags.mutable, which this repository treats as "
        "mutable (tags.immutable is true)"
    )
    assert info.value.fix == (
        "tag each build immutably: sha-<first 8 hex of the commit> or a full semver like 1.4.2"
    )
    check_release(policy, release("build-7-rc2"), None)
    check_release(policy, release("edge-12"), None)


def test_tags_mutable_is_not_checked_when_tags_are_not_immutable() -> None:
    check_release(load_policy("tags: {immutable: false, mutable: ['*-rc']}\n"), release("x-rc"), None)


def test_mutable_tag_glob_is_case_sensitive_and_returns_the_first_match() -> None:
    policy = load_policy("tags: {mutable: ['*-rc', 'x-*']}\n")
    assert policy.mutable_tag_glob("x-rc") == "*-rc"
    assert policy.mutable_tag_glob("x-RC") == "x-*"
    assert policy.mutable_tag_glob("y-RC") is None


@given(st.from_regex(r"\A(?:[0-9]{1,9}[smhdw]){1,4}\Z").filter(lambda text: len(text) <= 32))
def test_every_soak_time_the_schema_admits_parses(text: str) -> None:
    import re

    pattern = policy_schema()["properties"]["promotion"]["properties"]["environments"][
        "additionalProperties"
    ]["properties"]["soakTime"]["pattern"]
    assert re.search(pattern, text)
    assert load_policy(
        f"promotion:\n  environments:\n    prod: {{requireStatus: deployment, soakTime: '{text}'}}\n"
    )
    assert parse_duration(text) is not None


@given(st.text(alphabet="0123456789smhdwx .-", max_size=12))
def test_the_schema_pattern_and_parse_duration_agree(text: str) -> None:
    import re

    pattern = policy_schema()["properties"]["promotion"]["properties"]["environments"][
        "additionalProperties"
    ]["properties"]["soakTime"]["pattern"]
    if re.search(pattern, text):
        assert parse_duration(text) is not None
