"""core/promotion.py: plans, pins, keys and titles."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_release.core.promotion import (
    EnvState,
    ImageState,
    PlanItem,
    PromotionPlan,
    Target,
    plan_pin,
    plan_promotion,
    select_images,
    short_digest,
)
from gitops_release.errors import ConfigError, InputError

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
APP = "ghcr.io/org/my-app"
WORKER = "ghcr.io/org/worker"


def where(app: str, env: str, kind: str = "kustomize") -> Target:
    return Target(app, f"apps/{app}/overlays/{env}/kustomization.yaml", kind)  # type: ignore[arg-type]


def state(env: str, *entries: tuple[str, str, ImageState]) -> EnvState:
    return {(app, image): (where(app, env), s) for app, image, s in entries}


DEV = state(
    "dev",
    ("my-app", APP, ImageState(APP, None, "sha-2", D2)),
    ("my-app", WORKER, ImageState(WORKER, "ghcr.io/org/worker-v2", "sha-2", None)),
    ("other", "nginx", ImageState("nginx", None, "1.27.1", None)),
)
STAGE = state(
    "stage",
    ("my-app", APP, ImageState(APP, None, "sha-1", D1)),
    ("my-app", WORKER, ImageState(WORKER, None, "sha-1", None)),
    ("other", "nginx", ImageState("nginx", None, "1.27.1", None)),
)


# -- ImageState -------------------------------------------------------------------------------


def test_shown_and_version() -> None:
    assert ImageState(APP).shown() == APP
    assert ImageState(APP, new_tag="v1").shown() == f"{APP}:v1"
    assert ImageState(APP, digest=D1).shown() == f"{APP}@{D1}"
    assert ImageState(APP, "x.io/y", "v1", D1).shown() == f"x.io/y:v1@{D1}"
    assert ImageState(APP).version() == "(unset)"
    assert ImageState(APP, new_tag="v1").version() == "v1"
    assert ImageState(APP, digest=D1).version() == "@sha256:111111111111"
    assert ImageState(APP, new_tag="v1", digest=D1).version() == "v1@sha256:111111111111"
    assert ImageState(APP, "x.io/y").version() == "x.io/y"
    assert ImageState(APP, "x.io/y", "v1").version() == "x.io/y:v1"
    assert ImageState(APP, "x.io/y", None, D1).version() == "x.io/y@sha256:111111111111"
    assert ImageState(APP, "x.io/y", "v1", D1).version() == "x.io/y:v1@sha256:111111111111"
    assert ImageState(APP, "n", "t", "d").fields() == {"newName": "n", "newTag": "t", "digest": "d"}


def test_short_digest() -> None:
    assert short_digest(D1) == "sha256:111111111111"
    assert short_digest("sha512:abc") == "sha512:abc"
    assert short_digest("nocolon") == "nocolon"
    assert short_digest("x:") == "x:"


# -- select_images ----------------------------------------------------------------------------


def test_select_all_when_no_pattern() -> None:
    assert select_images(DEV, []) == set(DEV)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (APP, {("my-app", APP)}),
        ("my-app", {("my-app", APP)}),
        ("worker", {("my-app", WORKER)}),
        ("worker-v2", {("my-app", WORKER)}),
        ("ghcr.io/org/worker-v2", {("my-app", WORKER)}),
        ("ghcr.io/org/*", {("my-app", APP), ("my-app", WORKER)}),
        ("*", set(DEV)),
        ("ngin?", {("other", "nginx")}),
        ("*-v2", {("my-app", WORKER)}),
    ],
)
def test_select_by_name_new_name_last_component_or_glob(pattern: str, expected: set[tuple[str, str]]) -> None:
    assert select_images(DEV, [pattern]) == expected


def test_select_is_case_sensitive_and_unions_patterns() -> None:
    assert select_images(DEV, ["nginx", "my-app"]) == {("other", "nginx"), ("my-app", APP)}
    with pytest.raises(InputError):
        select_images(DEV, ["NGINX"])


def test_a_pattern_matching_nothing_names_it_and_the_images_there() -> None:
    with pytest.raises(InputError) as info:
        select_images(DEV, ["my-app", "nope"], env="dev")
    assert info.value.field == "images"
    assert info.value.message == (
        "input 'images': 'nope' matches no image in dev (images there: 'ghcr.io/org/my-app', "
        "'ghcr.io/org/worker', 'nginx')"
    )
    assert info.value.fix == (
        "name one of those images: its name, newName or last path component (my-app), "
        "or a glob (ghcr.io/org/*)"
    )


def test_no_images_at_all_and_many_images_in_the_message() -> None:
    with pytest.raises(InputError) as info:
        select_images({}, ["x"])
    assert info.value.message == "input 'images': 'x' matches no image (images there: none)"
    many = state("dev", *((f"a{i}", f"img{i:02}", ImageState(f"img{i:02}")) for i in range(12)))
    with pytest.raises(InputError) as info:
        select_images(many, ["x"])
    listed = ", ".join(f"'img{i:02}'" for i in range(10))
    assert info.value.message == f"input 'images': 'x' matches no image (images there: {listed} …)"


@pytest.mark.parametrize("pattern", ["", "  "])
def test_an_empty_pattern_is_refused(pattern: str) -> None:
    with pytest.raises(InputError) as info:
        select_images(DEV, [pattern])
    assert info.value.message == "input 'images': holds an empty entry"
    assert info.value.fix == "give image names or globs, e.g. my-app"


# -- plan_promotion ---------------------------------------------------------------------------


def test_the_target_gets_the_sources_exact_fields_and_only_changes_are_items() -> None:
    plan = plan_promotion(DEV, STAGE, from_env="dev", to_env="stage")
    assert plan == PromotionPlan(
        "dev",
        "stage",
        "promote",
        (
            PlanItem(
                "my-app",
                APP,
                where("my-app", "stage"),
                ImageState(APP, None, "sha-1", D1),
                ImageState(APP, None, "sha-2", D2),
                where("my-app", "dev"),
            ),
            PlanItem(
                "my-app",
                WORKER,
                where("my-app", "stage"),
                ImageState(WORKER, None, "sha-1", None),
                ImageState(WORKER, "ghcr.io/org/worker-v2", "sha-2", None),
                where("my-app", "dev"),
            ),
        ),
    )


def test_fields_the_source_lacks_are_removed_from_the_target() -> None:
    source = state("dev", ("a", "x", ImageState("x", None, "v2", None)))
    target = state("stage", ("a", "x", ImageState("x", "y.io/x", "v1", D1)))
    (item,) = plan_promotion(source, target, from_env="dev", to_env="stage").items
    assert item.after == ImageState("x", None, "v2", None)


def test_the_target_keeps_its_own_entry_name() -> None:
    # kustomize matched both entries to the same key; the target's name is never rewritten
    source = state("dev", ("a", "x", ImageState("x-src", None, "v2")))
    target = state("stage", ("a", "x", ImageState("x-tgt", None, "v1")))
    (item,) = plan_promotion(source, target, from_env="dev", to_env="stage").items
    assert item.after == ImageState("x-tgt", None, "v2")


def test_nothing_to_change_gives_an_empty_plan() -> None:
    plan = plan_promotion(STAGE, STAGE, from_env="dev", to_env="stage")
    assert plan.items == () and plan.kind == "promote"


def test_selected_images_only() -> None:
    plan = plan_promotion(DEV, STAGE, from_env="dev", to_env="stage", images=["worker"])
    assert [item.image for item in plan.items] == [WORKER]


def test_items_are_sorted_by_app_image_file() -> None:
    source = state(
        "dev", *((app, image, ImageState(image, None, "v2")) for app in ("b", "a") for image in ("z", "y"))
    )
    target = state(
        "stage", *((app, image, ImageState(image, None, "v1")) for app in ("b", "a") for image in ("z", "y"))
    )
    plan = plan_promotion(source, target, from_env="dev", to_env="stage")
    assert [(i.app, i.image) for i in plan.items] == [("a", "y"), ("a", "z"), ("b", "y"), ("b", "z")]


def test_an_image_missing_in_the_target_needs_add_missing() -> None:
    target = {key: value for key, value in STAGE.items() if key[1] != WORKER}
    with pytest.raises(ConfigError) as info:
        plan_promotion(DEV, target, from_env="dev", to_env="stage")
    assert info.value.message == (
        "image 'ghcr.io/org/worker' of app 'my-app' is in dev "
        "(apps/my-app/overlays/dev/kustomization.yaml) but not in stage"
    )
    assert info.value.fix == "add it to stage's overlay first, or set add-missing: true to add it"


def test_add_missing_adds_to_the_apps_overlay_in_the_target() -> None:
    target = {key: value for key, value in STAGE.items() if key[1] != WORKER}
    plan = plan_promotion(DEV, target, from_env="dev", to_env="stage", add_missing=True)
    added = plan.items[1]
    assert added == PlanItem(
        "my-app",
        WORKER,
        where("my-app", "stage"),
        None,
        ImageState(WORKER, "ghcr.io/org/worker-v2", "sha-2", None),
        where("my-app", "dev"),
    )


def test_add_missing_prefers_the_target_files_given() -> None:
    own = Target("my-app", "elsewhere/kustomization.yaml", "kustomize")
    plan = plan_promotion(
        DEV,
        {},
        from_env="dev",
        to_env="stage",
        images=["my-app"],
        add_missing=True,
        target_files={"my-app": own},
    )
    assert plan.items[0].target == own and plan.items[0].before is None


def test_add_missing_skips_values_files_of_the_app() -> None:
    values = Target("my-app", "charts/values-stage.yaml", "values")
    target: EnvState = {("my-app", "other"): (values, ImageState("other", None, "v1"))}
    with pytest.raises(ConfigError) as info:
        plan_promotion(DEV, target, from_env="dev", to_env="stage", images=["my-app"], add_missing=True)
    assert info.value.message == (
        "image 'ghcr.io/org/my-app' of app 'my-app' cannot be added to stage: "
        "stage has no overlay for that app"
    )
    assert info.value.fix == "create stage's overlay (kustomization.yaml) for app 'my-app' first"
    with pytest.raises(ConfigError):  # a file for another app does not serve this one
        plan_promotion(
            DEV,
            target,
            from_env="dev",
            to_env="stage",
            images=["my-app"],
            add_missing=True,
            target_files={"other-app": where("other-app", "stage")},
        )


def test_an_image_missing_in_the_source_is_an_input_error() -> None:
    with pytest.raises(InputError) as info:
        plan_promotion({}, STAGE, from_env="dev", to_env="stage", images=["my-app"])
    assert info.value.field == "images"
    assert info.value.message == "input 'images': 'my-app' matches no image in dev (images there: none)"


# -- plan_pin -----------------------------------------------------------------------------------

PROD = state(
    "prod",
    ("my-app", APP, ImageState(APP, "mirror.io/my-app", "sha-1", D1)),
    ("my-app", WORKER, ImageState(WORKER, None, "sha-1", None)),
)


def pin(
    tag: str | None, digest: str | None, *, images: tuple[str, ...] = ("my-app",), rollback: bool = False
):
    return plan_pin(PROD, to_env="prod", images=images, tag=tag, digest=digest, rollback=rollback)


def test_a_tag_alone_drops_the_digest_of_the_other_tag_and_keeps_new_name() -> None:
    plan = pin("sha-0", None, rollback=True)
    assert plan == PromotionPlan(
        None,
        "prod",
        "rollback",
        (
            PlanItem(
                "my-app",
                APP,
                where("my-app", "prod"),
                ImageState(APP, "mirror.io/my-app", "sha-1", D1),
                ImageState(APP, "mirror.io/my-app", "sha-0", None),
                None,
            ),
        ),
    )


def test_the_same_tag_alone_keeps_its_digest_and_changes_nothing() -> None:
    assert pin("sha-1", None).items == ()


def test_a_digest_alone_keeps_the_tag() -> None:
    (item,) = pin(None, D2).items
    assert item.after == ImageState(APP, "mirror.io/my-app", "sha-1", D2)


def test_tag_and_digest_together() -> None:
    plan = pin("sha-0", D2)
    assert plan.kind == "pin" and plan.from_env is None
    assert plan.items[0].after == ImageState(APP, "mirror.io/my-app", "sha-0", D2)


def test_a_pin_of_several_images_and_of_a_single_image_target() -> None:
    plan = pin("v9", None, images=("ghcr.io/org/*",))
    assert [(i.image, i.after.new_tag, i.after.digest) for i in plan.items] == [
        (APP, "v9", None),
        (WORKER, "v9", None),
    ]
    single = {key: value for key, value in PROD.items() if key[1] == WORKER}
    assert (
        plan_pin(single, to_env="prod", images=(), tag="v9", digest=None, rollback=False).items[0].image
        == WORKER
    )


def test_a_pin_needs_a_tag_or_digest() -> None:
    with pytest.raises(InputError) as info:
        pin(None, None)
    assert info.value.field == "tag"
    assert info.value.message == "input 'tag': is empty and so is digest"
    assert info.value.fix == "give the tag and/or digest to pin"


def test_a_pin_without_images_in_a_target_of_several_is_refused() -> None:
    with pytest.raises(InputError) as info:
        pin("v9", None, images=())
    assert info.value.message == (
        "input 'images': is empty, and prod holds 2 images: a tag or digest pins the images named"
    )
    assert info.value.fix == "name the images to pin, e.g. images: my-app"


def test_a_pin_of_an_unknown_image_names_the_target() -> None:
    with pytest.raises(InputError) as info:
        pin("v9", None, images=("nope",))
    assert info.value.message.startswith("input 'images': 'nope' matches no image in prod (")


# -- key, branch, title -------------------------------------------------------------------------


def item(
    app: str, image: str, tag: str | None = "v1", digest: str | None = None, new_name: str | None = None
):
    return PlanItem(
        app,
        image,
        where(app, "stage"),
        ImageState(image, None, "v0"),
        ImageState(image, new_name, tag, digest),
    )


def test_key_is_ten_hex_of_the_canonical_json() -> None:
    plan = PromotionPlan("dev", "stage", "promote", (item("a", "x", "v1", D1, "n"),))
    entry = json.dumps(
        [
            "a",
            "x",
            "apps/a/overlays/stage/kustomization.yaml",
            "kustomize",
            "x",
            {"newName": "n", "newTag": "v1", "digest": D1},
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    canonical = json.dumps({"to": "stage", "items": [entry]}, sort_keys=True, separators=(",", ":"))
    assert plan.key() == hashlib.sha256(canonical.encode()).hexdigest()[:10]
    assert plan.branch() == f"promote/stage/{plan.key()}"


def test_key_depends_on_the_result_and_target_only() -> None:
    base = PromotionPlan("dev", "stage", "promote", (item("a", "x"),))
    assert PromotionPlan(None, "stage", "rollback", base.items).key() == base.key()
    other_before = PlanItem(
        "a", "x", where("a", "stage"), None, ImageState("x", None, "v1"), where("a", "dev")
    )
    assert PromotionPlan("dev", "stage", "promote", (other_before,)).key() == base.key()
    different = [
        PromotionPlan("dev", "prod", "promote", base.items),
        PromotionPlan("dev", "stage", "promote", (item("b", "x"),)),
        PromotionPlan("dev", "stage", "promote", (item("a", "y"),)),
        PromotionPlan("dev", "stage", "promote", (item("a", "x", "v2"),)),
        PromotionPlan("dev", "stage", "promote", (item("a", "x", "v1", D1),)),
        PromotionPlan("dev", "stage", "promote", (item("a", "x", "v1", None, "n"),)),
        PromotionPlan("dev", "stage", "promote", (item("a", "x", None),)),
        PromotionPlan("dev", "stage", "promote", ()),
        PromotionPlan(
            "dev",
            "stage",
            "promote",
            (PlanItem("a", "x", Target("a", "f.yaml", "kustomize"), None, ImageState("x", None, "v1")),),
        ),
        PromotionPlan(
            "dev",
            "stage",
            "promote",
            (
                PlanItem(
                    "a",
                    "x",
                    Target("a", where("a", "stage").file, "values"),
                    None,
                    ImageState("x", None, "v1"),
                ),
            ),
        ),
    ]
    keys = {plan.key() for plan in different}
    assert base.key() not in keys and len(keys) == len(different)


_names = st.text(alphabet="abcxyz-./:", min_size=1, max_size=12)
_items = st.lists(
    st.builds(
        item,
        _names,
        _names,
        st.one_of(st.none(), _names),
        st.one_of(st.none(), st.sampled_from([D1, D2])),
        st.one_of(st.none(), _names),
    ),
    max_size=8,
)


@given(_items, st.randoms(use_true_random=False))
def test_key_is_stable_under_item_order(items: list[PlanItem], random) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(items)
    random.shuffle(shuffled)
    assert (
        PromotionPlan("dev", "stage", "promote", tuple(items)).key()
        == PromotionPlan("dev", "stage", "promote", tuple(shuffled)).key()
    )


def test_title_lists_images_briefly() -> None:
    plan = PromotionPlan(
        "dev",
        "stage",
        "promote",
        (
            item("a", "ghcr.io/org/app", "sha-2"),
            item("a", "ghcr.io/org/worker", None, D1),
            item("b", "ghcr.io/org/app", "sha-2"),  # the same label once
            item("b", "nginx", "1.27", None, "mirror.io/lib/nginx2"),
            item("c", "bare"),
        ),
    )
    assert plan.title() == "promote app:sha-2, worker@sha256:111111111111, nginx2:1.27, bare:v1 to stage"
    bare = PromotionPlan("dev", "stage", "promote", (item("a", "x", None),))
    assert bare.title() == "promote x to stage"
    assert PromotionPlan(None, "prod", "rollback", plan.items[:1]).title() == "rollback app:sha-2 in prod"
    assert PromotionPlan(None, "prod", "pin", plan.items[:1]).title() == "pin app:sha-2 in prod"
    assert PromotionPlan("dev", "stage", "promote", ()).title() == "promote no images to stage"
    assert PromotionPlan(None, "prod", "rollback", ()).title() == "rollback no images in prod"


def test_a_long_title_is_cut_with_and_n_more() -> None:
    items = tuple(item(f"app{i:03}", f"ghcr.io/org/app{i:03}", f"sha-{i:08}") for i in range(200))
    title = PromotionPlan("dev", "stage", "promote", items).title()
    assert len(title) <= 256
    shown = ", ".join(f"app{i:03}:sha-{i:08}" for i in range(10))
    assert title == f"promote {shown} and 190 more to stage"
    assert len(f"promote {shown}, app010:sha-00000010 and 189 more to stage") == 259


def test_a_title_of_one_huge_label_is_cut_inside_it() -> None:
    huge = item("a", "x", "t" * 300)
    title = PromotionPlan("dev", "stage", "promote", (huge,)).title()
    assert len(title) == 256
    assert title == "promote x:" + "t" * (256 - len("promote x:") - len("… to stage")) + "… to stage"
    two = PromotionPlan(None, "prod", "rollback", (huge, item("b", "y")))
    title = two.title()
    assert len(title) == 256 and title.endswith("… and 1 more in prod") and title.startswith("rollback x:ttt")


def test_a_title_that_fits_exactly() -> None:
    tag = "t" * (256 - len("promote x: to stage"))
    title = PromotionPlan("dev", "stage", "promote", (item("a", "x", tag),)).title()
    assert title == f"promote x:{tag} to stage" and len(title) == 256


def test_a_title_has_no_line_breaks() -> None:
    plan = PromotionPlan("dev", "stage", "promote", (item("a", "x", "v1\n\r\tx"),))
    assert plan.title() == "promote x:v1 x to stage"


def test_the_title_count_found_at_an_odd_position() -> None:
    items = tuple(item(f"app{i:03}", f"ghcr.io/org/app{i:03}", f"sha-{i:08}") for i in range(201))
    shown = ", ".join(f"app{i:03}:sha-{i:08}" for i in range(10))
    assert PromotionPlan("dev", "stage", "promote", items).title() == f"promote {shown} and 191 more to stage"


def test_two_labels_that_fit_exactly_are_both_shown() -> None:
    tag = "t" * (256 - len("promote x:, y:v1 to stage"))
    plan = PromotionPlan("dev", "stage", "promote", (item("a", "x", tag), item("b", "y")))
    assert plan.title() == f"promote x:{tag}, y:v1 to stage"
    longer = PromotionPlan("dev", "stage", "promote", (item("a", "x", tag + "t"), item("b", "y")))
    assert longer.title().endswith(" and 1 more to stage") and len(longer.title()) == 256


def test_select_lists_ten_images_whole_and_marks_an_eleventh() -> None:
    for count, tail in ((10, ")"), (11, " …)")):
        images = state("dev", *((f"a{i}", f"img{i:02}", ImageState(f"img{i:02}")) for i in range(count)))
        with pytest.raises(InputError) as info:
            select_images(images, ["x"])
        assert info.value.message.endswith("'img09'" + tail)


def test_a_new_name_without_a_slash_is_matched_whole() -> None:
    images = state("dev", ("a", "reg.io/x", ImageState("reg.io/x", "plain", "v1")))
    assert select_images(images, ["plain"]) == {("a", "reg.io/x")}
    assert select_images(images, ["x"]) == {("a", "reg.io/x")}
    with pytest.raises(InputError):
        select_images(images, ["reg.io"])


def test_add_missing_copies_the_digest_too() -> None:
    target = {key: value for key, value in STAGE.items() if key[1] != APP}
    plan = plan_promotion(DEV, target, from_env="dev", to_env="stage", images=["my-app"], add_missing=True)
    assert plan.items[0].after == ImageState(APP, None, "sha-2", D2) and plan.items[0].before is None


@pytest.mark.parametrize("add_missing", [False, True])
def test_a_values_image_the_target_lacks_names_the_rule(add_missing: bool) -> None:
    values = Target("", "charts/values-dev.yaml", "values")
    source: EnvState = {("", "ghcr.io/org/w"): (values, ImageState("ghcr.io/org/w", None, "v2"))}
    with pytest.raises(ConfigError) as info:
        plan_promotion(source, STAGE, from_env="dev", to_env="stage", add_missing=add_missing)
    assert info.value.message == (
        "image 'ghcr.io/org/w' is in dev's values file (charts/values-dev.yaml) but its overlays.values "
        "rule names no file for stage"
    )
    assert info.value.fix == "add stage: <its values file> to that rule's files in .gitops-release.yml"
