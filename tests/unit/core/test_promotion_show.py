"""core/promotion.py: how a plan is shown (tables, Mermaid, checklist, PR body, JSON)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_release.core.policy import DEFAULT_POLICY, load_policy
from gitops_release.core.promotion import (
    MAX_BODY_BYTES,
    ImageState,
    PlanItem,
    PromotionPlan,
    Target,
    checklist,
    marker,
    plan_json,
    plan_mermaid,
    plan_table,
    plan_text,
    pr_body,
    version_summary,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
APP = "ghcr.io/org/my-app"
K_STAGE = "apps/my-app/overlays/stage/kustomization.yaml"
K_DEV = "apps/my-app/overlays/dev/kustomization.yaml"

ITEMS = (
    PlanItem(
        "my-app",
        APP,
        Target("my-app", K_STAGE, "kustomize"),
        ImageState(APP, None, "sha-1", D1),
        ImageState(APP, None, "sha-2", D2),
        Target("my-app", K_DEV, "kustomize"),
    ),
    PlanItem(
        "",
        "ghcr.io/org/w",
        Target("", "charts/values-stage.yaml", "values"),
        None,
        ImageState("ghcr.io/org/w", "mirror.io/w", "v2", None),
        Target("", "charts/values-dev.yaml", "values"),
    ),
)
PLAN = PromotionPlan("dev", "stage", "promote", ITEMS)
EMPTY = PromotionPlan("dev", "stage", "promote", ())


def test_plan_table() -> None:
    assert plan_table(PLAN) == (
        "| app | image | stage before | stage after | file |\n"
        "|---|---|---|---|---|\n"
        f"| `my-app` | `{APP}` | `sha-1@sha256:111111111111` | `sha-2@sha256:222222222222` | `{K_STAGE}` |\n"
        "| `-` | `ghcr.io/org/w` | `(absent)` | `mirror.io/w:v2` | `charts/values-stage.yaml` |"
    )
    assert plan_table(EMPTY) == "Nothing to change: stage already holds these images."


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("a|b", "`a\\|b`"),
        ("a`b", "``a`b``"),
        ("`a", "`` `a ``"),
        ("a``", "``` a`` ```"),
        ("a\nb\t c", "`a b c`"),
        ("<!-- gitops-release:promote to=prod key=x -->", "`<!- - gitops-release:promote to=prod key=x -->`"),
        ("x" * 130, "`" + "x" * 119 + "…`"),
    ],
)
def test_cells_are_safe_code_spans(value: str, cell: str) -> None:
    plan = PromotionPlan(
        "dev",
        "stage",
        "promote",
        (PlanItem("a", value, Target("a", "f", "kustomize"), None, ImageState(value)),),
    )
    row = plan_table(plan).splitlines()[2]
    assert row == f"| `a` | {cell} | `(absent)` | `(unset)` | `f` |"


def test_plan_text() -> None:
    assert plan_text(PLAN) == (
        "promote dev → stage: 2 images\n"
        "APP     IMAGE               STAGE BEFORE               STAGE AFTER                FILE\n"
        f"my-app  {APP}  sha-1@sha256:111111111111  sha-2@sha256:222222222222  {K_STAGE}\n"
        "-       ghcr.io/org/w       (absent)                   mirror.io/w:v2             "
        "charts/values-stage.yaml"
    )
    assert plan_text(EMPTY) == "promote dev → stage: nothing to change"
    rollback = PromotionPlan(None, "prod", "rollback", ITEMS[:1])
    assert plan_text(rollback).splitlines()[0] == "rollback in prod: 1 image"
    assert plan_text(PromotionPlan(None, "prod", "pin", ())) == "pin in prod: nothing to change"


def test_plan_text_escapes_control_characters() -> None:
    hostile = "app\x1b[31mred\x07"
    plan = PromotionPlan(
        "dev",
        "stage",
        "promote",
        (PlanItem("a", hostile, Target("a", "f", "kustomize"), None, ImageState(hostile)),),
    )
    text = plan_text(plan)
    assert "\x1b" not in text and "\x07" not in text
    assert "app\\x1b[31mred\\x07" in text
    accented = "é→\x00"
    plan = PromotionPlan(
        "dev",
        "stage",
        "promote",
        (PlanItem("a", accented, Target("a", "f", "kustomize"), None, ImageState(accented)),),
    )
    assert "é→\\x00" in plan_text(plan)


def test_plan_mermaid() -> None:
    assert plan_mermaid(
        ("dev", "stage", "prod"), {"dev": "sha-2", "stage": "sha-1", "prod": "sha-0"}, {"stage": "sha-2"}
    ) == (
        "flowchart LR\n"
        '  env0["dev<br/>sha-2"]\n'
        '  env1["stage<br/>sha-1 → sha-2"]\n'
        '  env2["prod<br/>sha-0"]\n'
        "  env0 --> env1 --> env2\n"
        "  classDef changed stroke-width:3px\n"
        "  class env1 changed"
    )


def test_plan_mermaid_missing_tags_and_a_single_env() -> None:
    assert plan_mermaid(("dev", "prod"), {}, {"prod": "v1"}) == (
        "flowchart LR\n"
        '  env0["dev<br/>-"]\n'
        '  env1["prod<br/>- → v1"]\n'
        "  env0 --> env1\n"
        "  classDef changed stroke-width:3px\n"
        "  class env1 changed"
    )
    assert plan_mermaid(("prod",), {"prod": "v1"}, {"prod": "v1"}) == 'flowchart LR\n  env0["prod<br/>v1"]'
    assert plan_mermaid(("a", "b"), {"a": "v1", "b": "v2"}, {"a": "v0", "b": "v3"}).endswith(
        "class env0,env1 changed"
    )


def test_plan_mermaid_escapes_what_mermaid_reads_as_syntax() -> None:
    text = plan_mermaid(("end",), {"end": 'a"b]#;<x>`c'}, {"end": "é{}|"})
    assert text == (
        "flowchart LR\n"
        '  env0["end<br/>a#34;b#93;#35;#59;#60;x#62;#96;c → #233;#123;#125;#124;"]\n'
        "  classDef changed stroke-width:3px\n"
        "  class env0 changed"
    )


def test_plan_mermaid_an_empty_tag_after_is_a_dash() -> None:
    assert plan_mermaid(("dev",), {"dev": "v1"}, {"dev": ""}).splitlines()[1] == '  env0["dev<br/>v1 → -"]'


def test_plan_mermaid_cuts_long_tags() -> None:
    text = plan_mermaid(("dev",), {"dev": "t" * 70}, {})
    assert text == 'flowchart LR\n  env0["dev<br/>' + "t" * 59 + '#8230;"]'


_LABEL = re.compile(r'^  env[0-9]+\["[^"\[\]{}()<>`;#|\n]*?(?:<br/>[^"\[\]{}()<>`|\n]*)"\]$')


@given(
    st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5, unique=True),
    st.data(),
)
def test_mermaid_labels_are_always_quoted_and_clean(envs: list[str], data: st.DataObject) -> None:
    before = {env: data.draw(st.text(max_size=30)) for env in envs if data.draw(st.booleans())}
    after = {env: data.draw(st.text(max_size=30)) for env in envs if data.draw(st.booleans())}
    lines = plan_mermaid(envs, before, after).split("\n")
    assert lines[0] == "flowchart LR"
    nodes = lines[1 : 1 + len(envs)]
    for index, line in enumerate(nodes):
        assert line.startswith(f'  env{index}["') and line.endswith('"]')
        inner = line[len(f'  env{index}["') : -2]
        # Only entity codes (#123;) and the <br/> the function writes; nothing that ends a label.
        assert '"' not in inner and "\n" not in inner and "`" not in inner
        assert (
            re.sub(r"#[0-9]+;", "", inner.replace("<br/>", ""))
            .replace("→", "")
            .strip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,_:/@+-")
            == ""
        )
    rest = lines[1 + len(envs) :]
    if len(envs) > 1:
        assert rest[0] == "  " + " --> ".join(f"env{i}" for i in range(len(envs)))


def test_version_summary() -> None:
    assert version_summary([]) == "-"
    assert version_summary([None, ImageState("x")]) == "-"
    assert version_summary([ImageState("x", None, "v1"), ImageState("y", "z", "v1", D1), None]) == "v1"
    assert version_summary([ImageState("x", None, None, D1)]) == "sha256:111111111111"
    assert version_summary([ImageState("x", None, "v1"), ImageState("y", None, "v2")]) == "2 versions"
    assert version_summary([ImageState("x", None, "v1"), ImageState("y", None, None, D1)]) == "2 versions"


# -- checklist ------------------------------------------------------------------------------------

STAGE_LIST = (
    "Verify image tag matches dev",
    "Check dev environment is stable",
    "Review kustomization changes",
    "Confirm no unrelated changes",
)
PROD_LIST = (
    "Verify image tag matches stage",
    "Stage environment stable for 24+ hours",
    "All integration tests passed",
    "Security scan (Trivy) results reviewed",
    "Performance benchmarks acceptable",
    "Rollback plan documented",
    "Notify team of deployment",
    "Schedule deployment window (if required)",
)


def test_seed_checklists_by_default() -> None:
    assert checklist(DEFAULT_POLICY, "stage") == STAGE_LIST
    assert checklist(DEFAULT_POLICY, "prod") == PROD_LIST


def test_the_checklist_names_the_previous_environment_and_the_soak_time() -> None:
    policy = load_policy(
        "channels: [dev, qa, staging, production, eu]\n"
        "promotion:\n  environments:\n    production: {requireStatus: deployment, soakTime: 2d}\n"
    )
    assert checklist(policy, "qa") == STAGE_LIST
    assert checklist(policy, "staging")[:2] == (
        "Verify image tag matches qa",
        "Check qa environment is stable",
    )
    assert checklist(policy, "production")[:2] == (
        "Verify image tag matches staging",
        "Staging environment stable for 2d+",
    )
    assert checklist(policy, "eu")[:2] == (
        "Verify image tag matches production",
        "Production environment stable for 24+ hours",
    )
    assert len(checklist(policy, "eu")) == 8
    assert checklist(policy, "dev")[:2] == (
        "Verify image tag matches the source",
        "Check the source environment is stable",
    )


def test_the_only_environment_gets_the_stage_list() -> None:
    policy = load_policy("channels: [live]\n")
    assert checklist(policy, "live") == (
        "Verify image tag matches the source",
        "Check the source environment is stable",
        "Review kustomization changes",
        "Confirm no unrelated changes",
    )
    assert checklist(load_policy("channels: [prod]\n"), "prod")[0] == "Verify image tag matches the source"


def test_two_environments_the_last_gets_the_production_list_and_unknown_ones_the_stage_list() -> None:
    policy = load_policy("channels: [dev, live]\n")
    assert checklist(policy, "live")[:2] == (
        "Verify image tag matches dev",
        "Dev environment stable for 24+ hours",
    )
    assert checklist(policy, "elsewhere") == (
        "Verify image tag matches the source",
        "Check the source environment is stable",
        *STAGE_LIST[2:],
    )
    assert checklist(policy, "production")[0] == "Verify image tag matches the source"
    assert len(checklist(policy, "production")) == 8


def test_the_policy_checklist_replaces_the_default() -> None:
    policy = load_policy(
        "promotion:\n  environments:\n    prod: {checklist: [One, Two]}\n    stage: {checklist: []}\n"
    )
    assert checklist(policy, "prod") == ("One", "Two")
    assert checklist(policy, "stage") == ()
    assert checklist(policy, "dev") == (
        "Verify image tag matches the source",
        "Check the source environment is stable",
        *STAGE_LIST[2:],
    )


# -- pr_body --------------------------------------------------------------------------------------

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_pr_body() -> None:
    body = pr_body(PLAN, STAGE_LIST, source_commit=SHA, notes=("Rendered with kustomize: OK.",))
    assert body == (
        f"<!-- gitops-release:promote to=stage key={PLAN.key()} -->\n\n"
        "## Promote dev → stage\n\n"
        f"{plan_table(PLAN)}\n\n"
        f"Source: dev's overlays at commit `{SHA}`.\n\n"
        "Rendered with kustomize: OK.\n\n"
        "### Checklist\n\n"
        "- [ ] Verify image tag matches dev\n"
        "- [ ] Check dev environment is stable\n"
        "- [ ] Review kustomization changes\n"
        "- [ ] Confirm no unrelated changes\n"
    )
    assert marker(PLAN) == f"<!-- gitops-release:promote to=stage key={PLAN.key()} -->"


def test_pr_body_of_a_rollback_without_commit_or_checklist() -> None:
    plan = PromotionPlan(None, "prod", "rollback", ITEMS[:1])
    body = pr_body(plan, (), source_commit=None)
    assert body == f"{marker(plan)}\n\n## Rollback in prod\n\n{plan_table(plan)}\n"
    pin = PromotionPlan(None, "prod", "pin", ITEMS[:1])
    assert pr_body(pin, ["a\nb"], source_commit=SHA).endswith(
        f"## Pin in prod\n\n{plan_table(pin)}\n\nSource: config repository at commit `{SHA}`.\n\n"
        "### Checklist\n\n- [ ] a b\n"
    )


def test_pr_body_of_an_empty_plan() -> None:
    assert pr_body(EMPTY, (), source_commit=None) == (
        f"{marker(EMPTY)}\n\n## Promote dev → stage\n\nNothing to change: stage already holds these images.\n"
    )


def many(count: int) -> PromotionPlan:
    items = tuple(
        PlanItem(
            f"app-{i:04}",
            f"ghcr.io/org/app-{i:04}",
            Target(f"app-{i:04}", f"apps/app-{i:04}/overlays/stage/kustomization.yaml", "kustomize"),
            ImageState(f"ghcr.io/org/app-{i:04}", None, "sha-1", D1),
            ImageState(f"ghcr.io/org/app-{i:04}", None, "sha-2", D2),
        )
        for i in range(count)
    )
    return PromotionPlan("dev", "stage", "promote", items)


def test_a_huge_plan_keeps_the_marker_checklist_and_counts_the_rows_left_out() -> None:
    plan = many(1000)
    body = pr_body(plan, PROD_LIST, source_commit=SHA, notes=("note",))
    assert len(body.encode()) <= MAX_BODY_BYTES
    assert body.startswith(marker(plan) + "\n\n## Promote dev → stage\n\n| app |")
    rows = [line for line in body.splitlines() if line.startswith("| `app-")]
    left = 1000 - len(rows)
    assert 300 < len(rows) < 1000
    assert f"\n\n… and {left} more images (the run's `promoted` output lists them all).\n\n" in body
    assert body.endswith("- [ ] Schedule deployment window (if required)\n")
    assert "\n\nnote\n\n" in body
    # no room for one more row: the cut is as late as possible
    row = next(line for line in body.splitlines() if line.startswith("| `app-0001`"))
    assert MAX_BODY_BYTES - len(body.encode()) < len(row) + 1


def test_a_body_that_just_fits_is_whole_and_one_byte_more_is_cut() -> None:
    plan = many(3)
    base = pr_body(plan, ["x"], source_commit=None)
    fill = "x" * (MAX_BODY_BYTES - len(base.encode()) + 1)
    body = pr_body(plan, [fill], source_commit=None)
    assert len(body.encode()) == MAX_BODY_BYTES and "more images" not in body and body.endswith(fill + "\n")
    body = pr_body(plan, [fill + "x"], source_commit=None)
    assert (
        len(body.encode()) <= MAX_BODY_BYTES and "… and 1 more images" in body and body.count("| `app-") == 2
    )


def test_huge_notes_are_cut_then_left_out_and_the_rows_still_fit() -> None:
    plan = many(2)
    body = pr_body(plan, STAGE_LIST, source_commit=None, notes=("x" * 100_000,))
    assert len(body.encode()) <= MAX_BODY_BYTES
    assert "x" * (MAX_BODY_BYTES // 4 - 1) + "…" in body and "more images" not in body
    body = pr_body(plan, STAGE_LIST, source_commit=None, notes=("y" * 20_000,) * 4)
    assert len(body.encode()) <= MAX_BODY_BYTES
    assert body == (
        f"{marker(plan)}\n\n## Promote dev → stage\n\n{plan_table(plan)}\n\n"
        "(notes left out: the body would exceed GitHub's limit)\n\n### Checklist\n\n"
        + "".join(f"- [ ] {line}\n" for line in STAGE_LIST)
    )


def test_no_row_fits_but_the_notes_do() -> None:
    plan = many(3)
    bare = pr_body(plan, ["x"], source_commit=None, notes=("note",))
    row = plan_table(plan).splitlines()[2]
    more = "\n\n… and 3 more images (the run's `promoted` output lists them all)."
    without_rows = len(bare.encode()) - 1 - 3 * (len(row) + 1) + len(more.encode())
    fill = "x" * (MAX_BODY_BYTES - without_rows - len(row) // 2)  # room for half a row
    body = pr_body(plan, [fill], source_commit=None, notes=("note",))
    assert "… and 3 more images" in body and "| `app-" not in body and "\n\nnote\n\n" in body
    assert len(body.encode()) <= MAX_BODY_BYTES


@pytest.mark.parametrize("shift", ["", "x", "xy"])
def test_an_absurd_checklist_is_cut_at_a_character_boundary(shift: str) -> None:
    plan = many(1)
    body = pr_body(plan, [shift + "é" * 40_000, "z"], source_commit=None, notes=("n",))
    assert len(body.encode()) <= MAX_BODY_BYTES
    assert body.startswith(marker(plan)) and body.endswith("\n\n… (cut: too long for a pull request body)\n")
    assert "\ufffd" not in body and "(notes left out: the body would exceed GitHub's limit)" in body
    assert len(body.encode()) >= MAX_BODY_BYTES - 64 - 2 + len(
        "\n\n… (cut: too long for a pull request body)\n".encode()
    )


def test_an_ascii_hard_cut_keeps_exactly_the_first_bytes() -> None:
    plan = many(1)
    body = pr_body(plan, ["z" * 70_000], source_commit=None)
    tail = "\n\n… (cut: too long for a pull request body)\n"
    assert len(body.encode()) == MAX_BODY_BYTES - 64 + len(tail.encode())
    assert "notes left out" not in body


def test_plan_json() -> None:
    assert plan_json(PLAN) == [
        {
            "app": "my-app",
            "image": APP,
            "file": K_STAGE,
            "fileKind": "kustomize",
            "kind": "promote",
            "fromEnv": "dev",
            "toEnv": "stage",
            "sourceFile": K_DEV,
            "before": {"newName": None, "newTag": "sha-1", "digest": D1},
            "after": {"newName": None, "newTag": "sha-2", "digest": D2},
            "reference": f"{APP}:sha-2@{D2}",
        },
        {
            "app": "",
            "image": "ghcr.io/org/w",
            "file": "charts/values-stage.yaml",
            "fileKind": "values",
            "kind": "promote",
            "fromEnv": "dev",
            "toEnv": "stage",
            "sourceFile": "charts/values-dev.yaml",
            "before": None,
            "after": {"newName": "mirror.io/w", "newTag": "v2", "digest": None},
            "reference": "mirror.io/w:v2",
        },
    ]
    pin = PromotionPlan(
        None, "prod", "pin", (PlanItem("a", "x", Target("a", "f", "kustomize"), None, ImageState("x")),)
    )
    assert plan_json(pin)[0]["sourceFile"] is None and plan_json(pin)[0]["fromEnv"] is None
    assert plan_json(EMPTY) == []
