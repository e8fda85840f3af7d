"""promote-overlay's inputs, layout discovery and the pure parts of its flow (apply, checks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops_release.adapters import layout
from gitops_release.commands import promote_overlay as po
from gitops_release.commands.base import Context
from gitops_release.core.policy import load_policy
from gitops_release.core.promotion import ImageState, PlanItem, PromotionPlan, Target
from gitops_release.errors import ConfigError, InputError, PolicyError
from gitops_release.runtime import InputReader

DIGEST = "sha256:" + "a" * 64


def inputs(**values: str) -> po.Inputs:
    env = {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in values.items()}
    return po.Inputs.from_reader(InputReader(env=env))


# -- inputs ------------------------------------------------------------------------------------


def test_defaults() -> None:
    got = inputs(to_env="stage")
    assert (got.mode, got.strategy, got.supersede, got.render_check) == ("pr", "overlay", "close", True)
    assert got.from_env is None and got.require_status is None and got.images == ()


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({}, "to-env", "is required"),
        ({"to_env": "stage", "revert": "true", "tag": "v1"}, "revert", "tag/digest"),
        ({"to_env": "stage", "revert": "true", "from_env": "dev"}, "revert", "from-env"),
        ({"to_env": "stage", "from_env": "dev", "tag": "v1"}, "from-env", "tag/digest"),
        ({"to_env": "stage", "from_env": "stage"}, "to-env", "same env"),
        ({"to_env": "stage", "digest": "sha256:abc"}, "digest", "not a digest"),
        ({"to_env": "stage", "tag": "v1 beta"}, "tag", "not an image tag"),
        ({"to_env": "st age"}, "to-env", "not an environment name"),
        ({"to_env": "stage", "mode": "merge"}, "mode", "not one of"),
        ({"to_env": "stage", "strategy": "branch", "mode": "dry-run"}, "mode", "dry-run with strategy"),
        ({"to_env": "stage", "remote": "https://x:tok@example.com/o/r"}, "remote", "credentials"),
        ({"to_env": "stage", "repository": "not a repo"}, "repository", "owner/name"),
        ({"to_env": "stage", "overlays_dir": "../outside"}, "overlays-dir", "inside the checkout"),
        ({"to_env": "stage", "base_branch": "-x"}, "base-branch", "not a branch"),
        ({"to_env": "stage", "soak_time": "a while"}, "soak-time", "not a duration"),
    ],
)
def test_bad_inputs_name_the_field(values: dict[str, str], field: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        inputs(**values)
    assert caught.value.field == field and words in caught.value.message


def test_verify_needs_no_env_and_require_status_none_is_none() -> None:
    got = inputs(mode="verify", require_status="none")
    assert got.to_env is None and got.require_status is None


def test_pr_mode_without_a_token_fails_before_any_git(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="token"):
        po.run(inputs(to_env="stage"), Context(env={}, workdir=tmp_path / "nowhere"))


def test_from_env_defaults_to_the_previous_env() -> None:
    policy = load_policy("channels: [dev, qa, prod]\n")
    assert po.with_defaults(inputs(to_env="prod"), policy).from_env == "qa"
    assert po.with_defaults(inputs(to_env="prod", tag="v1"), policy).from_env is None
    with pytest.raises(InputError, match="first env"):
        po.with_defaults(inputs(to_env="dev"), policy)


def test_status_rules_take_the_policy_as_floor() -> None:
    policy = load_policy(
        "promotion:\n  environments:\n    prod: {requireStatus: deployment, soakTime: 24h}\n"
    )
    assert po.status_rules(policy, inputs(to_env="prod", soak_time="1h"), "prod") == (["deployment"], 86400)
    assert po.status_rules(
        policy, inputs(to_env="prod", require_status="ci/e2e", soak_time="48h"), "prod"
    ) == (
        ["deployment", "ci/e2e"],
        172800,
    )
    assert po.status_rules(policy, inputs(to_env="stage", soak_time="2h"), "stage") == (["deployment"], 7200)
    assert po.status_rules(policy, inputs(to_env="stage"), "stage") == ([], None)


# -- layout ------------------------------------------------------------------------------------


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def test_app_dirs_expand_each_star_as_one_component(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "clusters/eu/apps/api/stage/kustomization.yaml": "",
            "clusters/us/apps/api/stage/kustomization.yaml": "",
            "clusters/us/apps/web/dev/kustomization.yaml": "",  # no stage: not an app of stage
            "clusters/.hidden/apps/x/stage/kustomization.yaml": "",
            "clusters/eu/apps/api/deeper/nested/stage/kustomization.yaml": "",
        },
    )
    assert layout.app_dirs(tmp_path, "clusters/*/apps/*", "stage") == [
        ("eu/api", "clusters/eu/apps/api/stage"),
        ("us/api", "clusters/us/apps/api/stage"),
    ]
    assert layout.app_dirs(tmp_path, "clusters/eu/apps/api", "stage") == [("", "clusters/eu/apps/api/stage")]
    assert layout.app_dirs(tmp_path, "nowhere/*", "stage") == []


def test_a_symlink_matched_by_a_star_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"outside/stage/kustomization.yaml": "", "repo/apps/ok/stage/kustomization.yaml": ""})
    (tmp_path / "repo/apps/link").symlink_to(tmp_path / "outside")
    with pytest.raises(ConfigError, match="apps/link' is a symbolic link"):
        layout.app_dirs(tmp_path / "repo", "apps/*", "stage")


def test_an_env_directory_without_an_overlay_file_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, {"apps/api/stage/README.md": ""})
    with pytest.raises(ConfigError, match=r"apps/api/stage has no kustomization\.yaml"):
        layout.read_env(tmp_path, load_policy(None), "stage", pattern="apps/*")


def test_read_env_keeps_crlf_and_finds_the_first_overlay_file_name(tmp_path: Path) -> None:
    (tmp_path / "o/stage").mkdir(parents=True)
    (tmp_path / "o/stage/kustomization.yml").write_bytes(b"images:\r\n  - name: a\r\n    newTag: v1\r\n")
    (tmp_path / "o/stage/Kustomization").write_bytes(b"images: []\n")
    found = layout.read_env(tmp_path, load_policy(None), "stage", pattern="o")
    assert found.texts == {"o/stage/kustomization.yml": "images:\r\n  - name: a\r\n    newTag: v1\r\n"}
    assert found.state[("", "a")] == (
        Target("", "o/stage/kustomization.yml", "kustomize"),
        ImageState("a", None, "v1"),
    )


def test_an_image_listed_twice_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"o/stage/kustomization.yaml": "images:\n  - {name: a, newTag: v1}\n  - {name: a, newTag: v2}\n"},
    )
    with pytest.raises(ConfigError, match="listed twice"):
        layout.read_env(tmp_path, load_policy(None), "stage", pattern="o")


def test_a_missing_env_names_the_directory_looked_for(tmp_path: Path) -> None:
    policy = load_policy("overlays:\n  environments: {prod: production}\n")
    with pytest.raises(
        ConfigError, match=r"env 'prod' has no overlay directory: o/production does not exist"
    ):
        layout.read_env(tmp_path, policy, "prod", pattern="o")


# -- apply and checks --------------------------------------------------------------------------


def env_files(text: str, file: str = "o/stage/kustomization.yaml") -> layout.EnvFiles:
    found = layout.EnvFiles("stage", texts={file: text}, overlay_dirs={"": "o/stage"})
    from gitops_release.core.overlay import get_images

    for entry in get_images(text, path=file):
        state = ImageState(entry["name"], entry.get("newName"), entry.get("newTag"), entry.get("digest"))
        found.state[("", entry["name"])] = (Target("", file, "kustomize"), state)
    return found


def plan_of(before: ImageState, after: ImageState) -> PromotionPlan:
    target = Target("", "o/stage/kustomization.yaml", "kustomize")
    return PromotionPlan("dev", "stage", "promote", (PlanItem("", before.name, target, before, after),))


TEXT = "images:\n  - name: a\n    newTag: v1  # keep\n  - name: b\n    newTag: v1\n"


def test_apply_edits_only_the_planned_value() -> None:
    plan = plan_of(ImageState("a", None, "v1"), ImageState("a", None, "v2", DIGEST))
    texts, todo = po.apply_plan(plan, load_policy(None), env_files(TEXT))
    assert texts == {
        "o/stage/kustomization.yaml": TEXT.replace("v1  # keep", f"v2  # keep\n    digest: {DIGEST}")
    }
    assert todo.items == plan.items


def test_apply_skips_what_is_already_done_and_refuses_what_moved() -> None:
    done = plan_of(ImageState("a", None, "v0"), ImageState("a", None, "v1"))
    texts, todo = po.apply_plan(done, load_policy(None), env_files(TEXT))
    assert texts == {} and todo.items == ()

    moved = plan_of(ImageState("a", None, "v0"), ImageState("a", None, "v2"))
    with pytest.raises(
        PolicyError, match=r"conflicting concurrent promotion: a in o/stage/kustomization\.yaml is now a:v1"
    ):
        po.apply_plan(moved, load_policy(None), env_files(TEXT))


def test_the_yaml_level_check_catches_an_edit_that_reaches_another_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def too_far(text: str, **_: Any) -> str:
        return text.replace("v1", "v2")  # both entries

    monkeypatch.setattr(po, "set_image_entry", too_far)
    plan = plan_of(ImageState("a", None, "v1"), ImageState("a", None, "v2"))
    with pytest.raises(ConfigError, match="after the edit image b is b:v2, not b:v1 as planned"):
        po.apply_plan(plan, load_policy(None), env_files(TEXT))


def test_diff_plan_refuses_a_removed_image() -> None:
    target = Target("", "f", "kustomize")
    with pytest.raises(PolicyError, match="removes image a from f"):
        po.diff_plan(
            {("", "a"): (target, ImageState("a"))},
            {},
            from_env=None,
            to_env="stage",
            kind="promote",
            what="x",
        )


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("promote api:sha-2 to stage", "", True),
        ("promote api:sha-2 to stage (#12)", "", True),
        ("chore: promote sha-abc12345 to stage", "", True),
        ("anything", f"text\n\n{po.TRAILER}: kind=promote to=stage key=0123456789\n", True),
        ("rollback api:sha-1 in stage", f"{po.TRAILER}: kind=rollback to=stage key=0123456789\n", False),
        ("fix typo in README", "", False),
    ],
)
def test_what_counts_as_a_promotion_commit(subject: str, body: str, expected: bool) -> None:
    assert po._is_promotion(subject, body) is expected


def test_the_planned_reference_is_read_off_the_render() -> None:
    target = Target("", "f", "kustomize")
    item = PlanItem("", "nginx", target, None, ImageState("nginx", "reg:5000/nginx", "1.2", DIGEST))
    rendered = [f"reg:5000/nginx:1.2@{DIGEST}", "reg:5000/nginx:1.1", f"reg:5000/nginx@{DIGEST}", "other:1.2"]
    assert po._wanted(item, rendered).accepted() == {
        f"reg:5000/nginx:1.2@{DIGEST}",
        f"reg:5000/nginx@{DIGEST}",
    }
    tag_only = PlanItem("", "nginx", target, None, ImageState("nginx", None, "1.2"))
    assert po._wanted(tag_only, ["nginx:1.2", f"nginx:1.2@{DIGEST}", "nginx:1.3"]).accepted() == {"nginx:1.2"}


def test_unified_diff_of_new_and_changed_files() -> None:
    diff = po.unified_diff({"a": "x\n", "b": None}, {"a": "y\n", "b": "{}\n"})
    assert "--- a/a\n+++ b/a\n" in diff and "-x\n+y\n" in diff
    assert "--- /dev/null\n+++ b/b\n" in diff


def test_the_report_prints_the_plan_only_when_the_log_has_not() -> None:
    item = PlanItem(
        app="",
        image="a",
        target=Target(app="", file="k.yaml", kind="kustomize"),
        before=ImageState(name="a", new_tag="v1"),
        after=ImageState(name="a", new_tag="v2"),
    )
    plan = PromotionPlan(from_env="dev", to_env="stage", kind="promote", items=(item,))
    dry = po.Outputs(plans=[plan], state="planned")
    assert dry.report().startswith("promote dev → stage: 1 image\n")
    pushed = po.Outputs(plans=[plan], state="committed", commit_sha="abc", plan_logged=True)
    assert pushed.report() == "state: committed\ncommit: abc"
