"""core/render_check.py: limits on their boundaries and every message in full (written against
mutation-testing survivors, docs/testing.md): how many rendered images a refusal lists, where a
long reference is cut, which base image the fix points at, and each refusal of the render diff."""

from __future__ import annotations

import pytest

from gitops_release.core.render_check import (
    ImageRef,
    RenderedContainer,
    RenderedResource,
    check_render_diff,
    check_rendered,
    missing,
    repository,
)
from gitops_release.errors import ConfigError

DIGEST = "sha256:" + "d" * 64
ESCAPE = "; or set render-check: false for an overlay that cannot render where the job runs"
DIFF_FIX = (
    "release each container with its own image: the images: entry this release edits must be "
    "the one only its container uses (no YAML anchors or merge keys, no replacements that copy it)"
)


def refusal(call: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        call()  # type: ignore[operator]
    return info.value


def cut(value: str, limit: int) -> str:
    """What show() prints for a value of exactly ``limit - 1`` characters (quoted: limit + 1)."""
    assert len(value) == limit - 1
    return "'" + value[: limit - 4] + "..."


# -- ImageRef and repository ---------------------------------------------------------------------


def test_an_image_ref_prints_as_image_colon_tag_and_at_digest_only_when_there_is_one() -> None:
    assert str(ImageRef("ghcr.io/org/app", "v1")) == "ghcr.io/org/app:v1"
    assert str(ImageRef("ghcr.io/org/app", "v1", DIGEST)) == f"ghcr.io/org/app:v1@{DIGEST}"
    assert ImageRef("a", "1").accepted() == frozenset({"a:1"})
    assert ImageRef("a", "1", DIGEST).accepted() == frozenset({f"a:1@{DIGEST}", f"a@{DIGEST}"})


@pytest.mark.parametrize(
    ("reference", "repo"),
    [
        ("ghcr.io/org/app:v1@sha256:abc@def", "ghcr.io/org/app"),  # only the first @ ends the name
        ("ghcr.io/org/app:v1:x", "ghcr.io/org/app"),  # only the first : of the last component
        ("registry:5000/a/b/app:v1", "registry:5000/a/b/app"),  # only the last / splits
        ("app@sha256:abc", "app"),
        ("a/b:c/d:e", "a/b:c/d"),
    ],
)
def test_repository_cuts_at_the_first_at_and_the_first_colon_of_the_last_component(
    reference: str, repo: str
) -> None:
    assert repository(reference) == repo


def test_missing_keeps_the_order_of_the_wanted_references() -> None:
    a, b, c = ImageRef("a", "1"), ImageRef("b", "1"), ImageRef("c", "1")
    assert missing(["b:1"], [c, a, b]) == [c, a]
    assert missing(("a:1", "c:1"), (a, b, c)) == [b]


# -- check_rendered: the list of rendered images ---------------------------------------------------


def test_nothing_rendered_is_named_so() -> None:
    error = refusal(lambda: check_rendered("k.yaml", [], [ImageRef("ghcr.io/org/app", "v1")]))
    assert error.message == (
        "k.yaml: kustomize renders no container with 'ghcr.io/org/app:v1' (it renders no container "
        "image): the overlay would not deploy the release"
    )
    assert error.fix == (
        "make an images: entry in k.yaml whose name is the image a base container uses (newName: "
        "'ghcr.io/org/app'), or add the container to the base" + ESCAPE
    )


@pytest.mark.parametrize(
    ("count", "tail"),
    [
        (6, "'i0:1', 'i1:1', 'i2:1', 'i3:1', 'i4:1', 'i5:1'"),
        (7, "'i0:1', 'i1:1', 'i2:1', 'i3:1', 'i4:1', 'i5:1' and 1 more"),
    ],
)
def test_six_rendered_images_are_listed_and_the_rest_counted(count: int, tail: str) -> None:
    rendered = [f"i{i}:1" for i in range(count)] * 2  # each image twice: counted once
    error = refusal(lambda: check_rendered("k.yaml", rendered, [ImageRef("a/b", "1")]))
    assert error.message == (
        f"k.yaml: kustomize renders no container with 'a/b:1' (it renders {tail}): "
        "the overlay would not deploy the release"
    )


def test_the_rendered_images_are_sorted_and_each_cut_at_120_characters() -> None:
    long = "r/" + "x" * 117
    error = refusal(lambda: check_rendered("k.yaml", ["z:1", long, "a:1"], [ImageRef("a/b", "1")]))
    assert f"(it renders 'a:1', {cut(long, 120)}, 'z:1')" in error.message
    shorter = long[:-1]
    error = refusal(lambda: check_rendered("k.yaml", [shorter], [ImageRef("a/b", "1")]))
    assert f"(it renders '{shorter}')" in error.message


def test_the_missing_reference_is_cut_at_200_characters() -> None:
    ref = ImageRef("r/" + "x" * 194, "v1")  # str(ref) is 199 characters, 201 quoted
    assert len(str(ref)) == 199
    error = refusal(lambda: check_rendered("k.yaml", ["a:1"], [ref]))
    assert error.message.startswith(f"k.yaml: kustomize renders no container with {cut(str(ref), 200)} (")
    ref = ImageRef("r/" + "x" * 193, "v1")
    error = refusal(lambda: check_rendered("k.yaml", ["a:1"], [ref]))
    assert f"no container with '{ref}' (" in error.message


# -- check_rendered: which base image the fix points at ---------------------------------------------


def test_a_base_image_named_like_the_container_is_the_candidate() -> None:
    ref = ImageRef("ghcr.io/acme/guestbook-web", "v1", container="web")
    error = refusal(lambda: check_rendered("k.yaml", ["web:0.1", "redis:7"], [ref]))
    assert error.fix == (
        "the base deploys 'web': give that images: entry name: 'web' with newName: "
        "'ghcr.io/acme/guestbook-web' in k.yaml" + ESCAPE
    )


def test_without_a_container_only_the_images_short_name_finds_a_candidate() -> None:
    ref = ImageRef("ghcr.io/acme/guestbook-web", "v1")
    error = refusal(lambda: check_rendered("k.yaml", ["web:0.1"], [ref]))
    assert (error.fix or "").startswith("make an images: entry in k.yaml")


def test_the_release_image_itself_at_another_tag_is_no_candidate() -> None:
    ref = ImageRef("ghcr.io/acme/guestbook", "v2", container="guestbook")
    error = refusal(lambda: check_rendered("k.yaml", ["ghcr.io/acme/guestbook:v1"], [ref]))
    assert error.fix == (
        "make an images: entry in k.yaml whose name is the image a base container uses (newName: "
        "'ghcr.io/acme/guestbook'), or add the container to the base" + ESCAPE
    )


def test_of_several_candidates_the_first_in_order_is_named() -> None:
    ref = ImageRef("ghcr.io/acme/app", "v2", container="app")
    rendered = ["quay.io/b/app:1", "docker.io/a/app:1", "quay.io/b/app:2"]
    error = refusal(lambda: check_rendered("k.yaml", rendered, [ref]))
    assert (error.fix or "").startswith("the base deploys 'docker.io/a/app': give that images: entry")


def test_the_candidate_and_the_image_in_the_fix_are_cut_at_120_characters() -> None:
    base = "b/" + "y" * 113 + "/app"  # 119 characters
    image = "g/" + "z" * 113 + "/app"
    error = refusal(lambda: check_rendered("k.yaml", [base + ":1"], [ImageRef(image, "v1", container="app")]))
    assert error.fix == (
        f"the base deploys {cut(base, 120)}: give that images: entry name: {cut(base, 120)} with "
        f"newName: {cut(image, 120)} in k.yaml" + ESCAPE
    )
    error = refusal(lambda: check_rendered("k.yaml", ["nothing:1"], [ImageRef(image, "v1")]))
    assert f"(newName: {cut(image, 120)})" in (error.fix or "")


def test_the_input_that_turns_the_check_off_is_named_as_given() -> None:
    error = refusal(lambda: check_rendered("k.yaml", [], [ImageRef("a", "1")], render_check_input="check"))
    assert (error.fix or "").endswith(
        "; or set check: false for an overlay that cannot render where the job runs"
    )


# -- check_render_diff ----------------------------------------------------------------------------


def res(name: str, containers: dict[str, str], digest: str = "d0") -> RenderedResource:
    return RenderedResource(
        name, tuple(RenderedContainer(name, c, image) for c, image in containers.items()), digest
    )


APP = ImageRef("ghcr.io/org/app", "v2", container="app")
BEFORE = [res("Deployment/app", {"app": "ghcr.io/org/app:v1"}), res("ConfigMap/c", {})]
AFTER = [res("Deployment/app", {"app": "ghcr.io/org/app:v2"}), res("ConfigMap/c", {})]


def test_the_planned_change_passes() -> None:
    check_render_diff("k.yaml", BEFORE, AFTER, [APP])


def test_resources_in_another_order_are_refused_as_such() -> None:
    error = refusal(lambda: check_render_diff("k.yaml", BEFORE, AFTER[::-1], [APP]))
    assert error.message == (
        "k.yaml: the edit would change which resources kustomize renders ('their order'), "
        "not only container images"
    )
    assert error.fix == DIFF_FIX + ESCAPE


def test_a_resource_gone_is_named_first_in_order() -> None:
    after = [res("Deployment/app", {"app": "ghcr.io/org/app:v2"})]
    before = [*BEFORE, res("Secret/a", {})]
    error = refusal(lambda: check_render_diff("k.yaml", before, after, [APP]))
    assert "kustomize renders ('ConfigMap/c'), not only" in error.message


def test_containers_renamed_or_reordered_are_refused() -> None:
    before = [res("Deployment/app", {"app": "ghcr.io/org/app:v1", "side": "s:1"})]
    after = [res("Deployment/app", {"side": "s:1", "app": "ghcr.io/org/app:v2"})]
    error = refusal(lambda: check_render_diff("k.yaml", before, after, [APP]))
    assert error.message == (
        "k.yaml: the edit would change the containers of 'Deployment/app', not only their images"
    )
    assert error.fix == DIFF_FIX + ESCAPE


def test_a_container_changed_beyond_the_plan_is_named_with_both_images() -> None:
    before = [res("Deployment/app", {"app": "ghcr.io/org/app:v1", "side": "s:1"})]
    after = [res("Deployment/app", {"app": "ghcr.io/org/app:v2", "side": "s:2"})]
    other = ImageRef("ghcr.io/org/other", "v3")
    error = refusal(lambda: check_render_diff("k.yaml", before, after, [APP, other]))
    assert error.message == (
        "k.yaml: the edit would change container 'Deployment/app/side' from 's:1' to 's:2', which "
        "is not what this release plans ('ghcr.io/org/app:v2', 'ghcr.io/org/other:v3')"
    )
    assert error.fix == DIFF_FIX + ESCAPE


def test_nothing_planned_is_said_so() -> None:
    error = refusal(lambda: check_render_diff("k.yaml", BEFORE, AFTER, []))
    assert error.message.endswith("which is not what this release plans (none)")


def test_an_image_changed_to_the_digest_only_form_is_planned() -> None:
    ref = ImageRef("ghcr.io/org/app", "v2", DIGEST)
    after = [res("Deployment/app", {"app": f"ghcr.io/org/app@{DIGEST}"}), res("ConfigMap/c", {})]
    check_render_diff("k.yaml", BEFORE, after, [ref])


def test_a_resource_changed_beyond_its_images_is_refused_even_when_the_image_did_not_change() -> None:
    after = [res("Deployment/app", {"app": "ghcr.io/org/app:v2"}), res("ConfigMap/c", {}, digest="d1")]
    error = refusal(lambda: check_render_diff("k.yaml", BEFORE, after, [APP]))
    assert error.message == (
        "k.yaml: the edit would change 'ConfigMap/c' beyond its container images "
        "(kustomize writes the image somewhere else too)"
    )
    assert error.fix == DIFF_FIX + ESCAPE


def test_long_names_in_the_diff_messages_are_cut_at_200_characters() -> None:
    name = "Deployment/" + "n" * 188  # 199 characters
    before = [res(name, {"app": "ghcr.io/org/app:v1"})]
    error = refusal(lambda: check_render_diff("k.yaml", before, [res(name, {})], [APP]))
    assert f"the containers of {cut(name, 200)}, not only" in error.message
    changed = [res(name, {"app": "ghcr.io/org/app:v2"}, digest="d1")]
    error = refusal(lambda: check_render_diff("k.yaml", before, changed, [APP]))
    assert f"change {cut(name, 200)} beyond" in error.message
    error = refusal(lambda: check_render_diff("k.yaml", before, [res("x" * 199, {})], [APP]))
    assert f"renders ({cut(name, 200)})" in error.message
    image = "i/" + "m" * 197
    container = "c" * 186  # Deployment/x/ccc…: 199 characters
    before = [res("Deployment/x", {container: image})]
    after = [res("Deployment/x", {container: image[:-1] + "M"})]
    error = refusal(lambda: check_render_diff("k.yaml", before, after, [ImageRef("p/" + "q" * 194, "v1")]))
    assert error.message == (
        f"k.yaml: the edit would change container {cut('Deployment/x/' + container, 200)} from "
        f"{cut(image, 200)} to {cut(image[:-1] + 'M', 200)}, which is not what this release plans "
        f"({cut('p/' + 'q' * 194 + ':v1', 200)})"
    )


def test_the_final_check_names_the_input_given_to_the_diff() -> None:
    error = refusal(lambda: check_render_diff("k.yaml", BEFORE, BEFORE, [APP], render_check_input="check"))
    assert error.message.startswith("k.yaml: kustomize renders no container with 'ghcr.io/org/app:v2'")
    assert (error.fix or "").endswith(
        "; or set check: false for an overlay that cannot render where the job runs"
    )
    error = refusal(
        lambda: check_render_diff("k.yaml", BEFORE, AFTER[::-1], [APP], render_check_input="check")
    )
    assert (error.fix or "").endswith(
        "; or set check: false for an overlay that cannot render where the job runs"
    )
