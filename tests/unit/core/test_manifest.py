"""core/manifest.py: the release manifest beside each promoted overlay."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from gitops_release.core.manifest import (
    MANIFEST_NAME,
    build_manifest,
    manifest_schema,
    previous_provenance,
    render_manifest,
)
from gitops_release.core.promotion import EnvState, ImageState, PlanItem, PromotionPlan, Target
from gitops_release.errors import ConfigError

D1 = "sha256:" + "a" * 64
SHA = "0123456789abcdef0123456789abcdef01234567"
K = "apps/my-app/overlays/stage/kustomization.yaml"
STATE: EnvState = {
    ("my-app", "worker"): (Target("my-app", K, "kustomize"), ImageState("worker", None, "sha-2", None)),
    ("my-app", "ghcr.io/org/my-app"): (
        Target("my-app", K, "kustomize"),
        ImageState("ghcr.io/org/my-app", "mirror.io/my-app", "sha-2", D1),
    ),
}
PLAN = PromotionPlan(
    "dev",
    "stage",
    "promote",
    tuple(PlanItem(app, image, target, None, state) for (app, image), (target, state) in STATE.items()),
)
AT = "2026-12-07T18:45:00Z"


def build(**kwargs) -> dict:  # type: ignore[no-untyped-def, type-arg]
    args = {
        "env": "stage",
        "source_env": "dev",
        "source_commit": SHA,
        "pull_request": 12,
        "promoted_at": AT,
    }
    args.update(kwargs)
    plan = args.pop("plan", PLAN)
    state = args.pop("state", STATE)
    return build_manifest(plan, state, **args)  # type: ignore[arg-type]


EXPECTED = {
    "schemaVersion": 1,
    "environment": "stage",
    "sourceEnvironment": "dev",
    "kind": "promote",
    "images": [
        {
            "app": "my-app",
            "image": "ghcr.io/org/my-app",
            "newName": "mirror.io/my-app",
            "tag": "sha-2",
            "digest": D1,
            "reference": f"mirror.io/my-app:sha-2@{D1}",
            "file": K,
            "kind": "promote",
            "sourceEnvironment": "dev",
            "sourceCommit": SHA,
        },
        {
            "app": "my-app",
            "image": "worker",
            "newName": None,
            "tag": "sha-2",
            "digest": None,
            "reference": "worker:sha-2",
            "file": K,
            "kind": "promote",
            "sourceEnvironment": "dev",
            "sourceCommit": SHA,
        },
    ],
    "sourceCommit": SHA,
    "pullRequest": 12,
    "promotedAt": AT,
}


def test_build_manifest() -> None:
    assert build() == EXPECTED


def test_a_pin_without_source_commit_or_pull_request() -> None:
    manifest = build(
        plan=PromotionPlan(None, "prod", "rollback", ()),
        env="prod",
        source_env=None,
        source_commit=None,
        pull_request=None,
        promoted_at="2026-12-07T18:45:00.123Z",
    )
    assert manifest["kind"] == "rollback" and manifest["sourceEnvironment"] is None
    assert manifest["sourceCommit"] is None and manifest["pullRequest"] is None
    assert build(state={})["images"] == []


def test_images_are_sorted_by_app_image_and_file() -> None:
    state: EnvState = {
        ("b", "x"): (Target("b", "b.yaml", "kustomize"), ImageState("x", None, "1")),
        ("a", "y"): (Target("a", "a2.yaml", "values"), ImageState("y", None, "1")),
        ("a", "x"): (Target("a", "a.yaml", "kustomize"), ImageState("x", None, "1")),
    }
    assert [(i["app"], i["image"]) for i in build(state=state)["images"]] == [
        ("a", "x"),
        ("a", "y"),
        ("b", "x"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"promoted_at": "2026-12-07T18:45:00+02:00"},
            "/promotedAt: '2026-12-07T18:45:00+02:00' does not match",
        ),
        ({"promoted_at": "2026-12-07 18:45:00Z"}, "/promotedAt: '2026-12-07 18:45:00Z' does not match"),
        ({"source_commit": "abc"}, "/sourceCommit: 'abc' does not match"),
        ({"source_commit": SHA.upper()}, "/sourceCommit: "),
        ({"pull_request": 0}, "/pullRequest: 0 is less than the minimum of 1"),
        ({"env": "Stage"}, "/environment: 'Stage' does not match"),
        ({"source_env": ""}, "/sourceEnvironment: '' does not match"),
        (
            {"state": {("a", "x"): (Target("a", "f", "kustomize"), ImageState("x", None, "1", "md5"))}},
            "/images/0/digest: 'md5' does not match",
        ),
    ],
)
def test_a_value_the_schema_refuses_is_a_config_error(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as info:
        build(**kwargs)
    env = kwargs.get("env", "stage")
    assert info.value.message.startswith(f"release manifest of {env}: {message}")
    assert info.value.fix == "see schemas/release-manifest.schema.json (docs/promote-overlay.md)"


def test_render_is_sorted_two_space_json_with_a_final_newline() -> None:
    text = render_manifest(build(), None)
    assert text == json.dumps(EXPECTED, indent=2, sort_keys=True) + "\n"
    assert text.startswith('{\n  "environment": "stage",\n  "images": [\n    {\n      "app": "my-app",')
    assert text.endswith('  "sourceEnvironment": "dev"\n}\n')


def test_render_keeps_the_existing_text_when_only_the_time_differs() -> None:
    existing = render_manifest(build(promoted_at="2026-01-01T00:00:00Z"), None)
    assert render_manifest(build(), existing) is existing
    # the same manifest written by another tool (other key order and spacing) is kept too
    other = json.dumps({**EXPECTED, "promotedAt": "2025-01-01T00:00:00Z"}, separators=(",", ":"))
    assert render_manifest(build(), other) is other


@pytest.mark.parametrize(
    "existing",
    [
        "",
        "not json",
        "[]",
        '"x"',
        "<<<<<<< HEAD\n{}\n",
        "[" * 100_000,
        " " * 10_000_001,
    ],
)
def test_render_rewrites_what_is_not_a_manifest(existing: str) -> None:
    assert render_manifest(build(), existing) == render_manifest(build(), None)


def test_render_rewrites_when_anything_but_the_time_differs() -> None:
    fresh = render_manifest(build(), None)
    for change in (
        {"pullRequest": 13},
        {"sourceCommit": "f" * 40},
        {"kind": "pin"},
        {"images": []},
        {"schemaVersion": True},  # == 1 in Python, not in the file
        {"pullRequest": 12.0},
        {"extra": 1},
    ):
        existing = json.dumps({**EXPECTED, **change})
        assert render_manifest(build(), existing) == fresh
    without_time = {k: v for k, v in EXPECTED.items() if k != "promotedAt"}
    assert render_manifest(build(), json.dumps(without_time)) == fresh
    bad_time = json.dumps({**EXPECTED, "promotedAt": "yesterday"})
    assert render_manifest(build(), bad_time) == fresh


def test_the_schema_describes_every_field_and_is_valid() -> None:
    schema = manifest_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["required"] == list(schema["properties"])
    item = schema["properties"]["images"]["items"]
    assert item["required"] == list(item["properties"])
    for properties in (schema["properties"], item["properties"]):
        for name, field in properties.items():
            assert field.get("description"), name
    assert Draft202012Validator(schema).is_valid(EXPECTED)
    assert MANIFEST_NAME == "release-manifest.json"


def test_render_escapes_non_ascii() -> None:
    state: EnvState = {("é", "x"): (Target("é", "apps/é/k.yaml", "kustomize"), ImageState("x", None, "1"))}
    text = render_manifest(build(state=state), None)
    assert '"app": "\\u00e9"' in text and '"file": "apps/\\u00e9/k.yaml"' in text and "é" not in text


def test_a_long_schema_message_is_cut_to_200_characters() -> None:
    state: EnvState = {("a", "x"): (Target("a", "f", "kustomize"), ImageState("x", None, "1", "d" * 300))}
    with pytest.raises(ConfigError) as info:
        build(state=state)
    head = "release manifest of stage: /images/0/digest: "
    assert info.value.message.startswith(head + "'ddd")
    assert len(info.value.message) == len(head) + 200


def test_an_existing_manifest_of_exactly_the_size_bound_is_still_compared() -> None:
    from gitops_release.core.manifest import MAX_EXISTING_CHARS

    text = render_manifest(build(promoted_at="2026-01-01T00:00:00Z"), None)
    padded = text + " " * (MAX_EXISTING_CHARS - len(text))
    assert render_manifest(build(), padded) is padded
    assert render_manifest(build(), padded + " ") == render_manifest(build(), None)


def test_a_partial_pin_keeps_the_provenance_of_the_other_images() -> None:
    promoted = render_manifest(build(), None)
    worker = STATE[("my-app", "worker")]
    pinned_worker = ImageState("worker", None, "sha-0", None)
    pin = PromotionPlan(
        None, "stage", "rollback", (PlanItem("my-app", "worker", worker[0], worker[1], pinned_worker),)
    )
    state = {**STATE, ("my-app", "worker"): (worker[0], pinned_worker)}

    manifest = build(
        plan=pin,
        state=state,
        source_env=None,
        source_commit=None,
        pull_request=None,
        previous=previous_provenance(promoted),
    )

    app, pinned = manifest["images"]
    assert manifest["kind"] == "rollback" and manifest["sourceEnvironment"] is None
    # my-app still runs what was promoted from dev at SHA; only the worker was rolled back
    assert (app["kind"], app["sourceEnvironment"], app["sourceCommit"]) == ("promote", "dev", SHA)
    assert (pinned["kind"], pinned["sourceEnvironment"], pinned["sourceCommit"]) == ("rollback", None, None)
    # byte-identical on a re-run with the same state
    text = render_manifest(manifest, None)
    again = build(
        plan=PromotionPlan(None, "stage", "rollback", ()),
        state=state,
        source_env=None,
        source_commit=None,
        pull_request=None,
        promoted_at="2027-01-01T00:00:00Z",
        previous=previous_provenance(text),
    )
    assert render_manifest(again, text) is text


def test_provenance_not_known_or_not_valid_is_null() -> None:
    unknown = {"kind": None, "sourceEnvironment": None, "sourceCommit": None}
    no_plan = PromotionPlan("dev", "stage", "promote", ())
    images = build(plan=no_plan)["images"]
    assert all({k: i[k] for k in unknown} == unknown for i in images)
    # an older manifest (top-level provenance only) is read as that provenance for every image
    old = {
        **EXPECTED,
        "images": [{k: v for k, v in i.items() if k not in unknown} for i in EXPECTED["images"]],
    }
    carried = build(plan=no_plan, previous=previous_provenance(json.dumps(old)))["images"]
    assert [i["sourceCommit"] for i in carried] == [SHA, SHA]
    # a hand-edited value the schema refuses, or an entry of another state, is not carried over
    edited = json.loads(render_manifest(build(), None))
    edited["images"][0]["kind"] = "evil"
    edited["images"][1]["tag"] = "sha-1"
    carried = build(plan=no_plan, previous=previous_provenance(json.dumps(edited)))["images"]
    assert all({k: i[k] for k in unknown} == unknown for i in carried)
    for text in (None, "", "[]", "not json", '{"images": [1, {"app": 1}]}'):
        assert previous_provenance(text) == {}
