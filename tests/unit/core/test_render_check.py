"""core/render_check.py: the rendered images must contain the reference the overlay edit intends."""

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
REF = ImageRef("ghcr.io/acme/guestbook", "v1.0.0", DIGEST, container="guestbook")


def test_the_reference_with_tag_and_digest_or_digest_only_is_deployed() -> None:
    assert missing([f"ghcr.io/acme/guestbook:v1.0.0@{DIGEST}"], [REF]) == []
    assert missing([f"ghcr.io/acme/guestbook@{DIGEST}"], [REF]) == []  # kustomize 4
    check_rendered("o/kustomization.yaml", ["x:1", f"ghcr.io/acme/guestbook:v1.0.0@{DIGEST}"], [REF])


@pytest.mark.parametrize(
    "rendered",
    [
        ["ghcr.io/acme/guestbook:v1.0.0"],  # digest missing: not the intended image
        [f"ghcr.io/acme/guestbook:v0.9.0@{'sha256:' + 'a' * 64}"],
        ["guestbook:v0.1.0"],
        [],
    ],
)
def test_anything_else_is_missing(rendered: list[str]) -> None:
    assert missing(rendered, [REF]) == [REF]


def test_without_digest_only_image_colon_tag_counts() -> None:
    ref = ImageRef("ghcr.io/org/app", "sha-1a2b3c4d")
    assert missing(["ghcr.io/org/app:sha-1a2b3c4d"], [ref]) == []
    assert missing([f"ghcr.io/org/app:sha-1a2b3c4d@{DIGEST}"], [ref]) == [ref]


def test_refusal_names_the_overlay_the_image_and_the_base_image_to_match() -> None:
    with pytest.raises(ConfigError) as info:
        check_rendered("envs/prod/kustomization.yaml", ["guestbook:v0.1.0", "redis:7"], [REF])
    error = info.value
    assert error.message == (
        f"envs/prod/kustomization.yaml: kustomize renders no container with "
        f"'ghcr.io/acme/guestbook:v1.0.0@{DIGEST}' (it renders 'guestbook:v0.1.0', 'redis:7'): "
        "the overlay would not deploy the release"
    )
    assert error.fix == (
        "the base deploys 'guestbook': give that images: entry name: 'guestbook' with newName: "
        "'ghcr.io/acme/guestbook' in envs/prod/kustomization.yaml; or set render-check: false for an "
        "overlay that cannot render where the job runs"
    )
    assert "\n" not in error.one_line()


def test_refusal_without_a_candidate_and_with_many_images() -> None:
    rendered = [f"img{i}:1" for i in range(8)]
    with pytest.raises(ConfigError) as info:
        check_rendered("k.yaml", rendered, [ImageRef("a/b", "1.0.0")], render_check_input="render-check")
    assert "and 2 more" in info.value.message
    assert (info.value.fix or "").startswith("make an images: entry in k.yaml whose name is the image")


def test_second_reference_missing_is_the_one_reported() -> None:
    worker = ImageRef("ghcr.io/acme/worker", "v1.0.0")
    with pytest.raises(ConfigError, match=r"ghcr\.io/acme/worker:v1\.0\.0"):
        check_rendered("k.yaml", [f"ghcr.io/acme/guestbook:v1.0.0@{DIGEST}"], [REF, worker])


def test_repository_strips_tag_and_digest_but_not_a_registry_port() -> None:
    assert repository(f"10.42.0.1:30000/test-image:1.0.0@{DIGEST}") == "10.42.0.1:30000/test-image"
    assert repository("localhost:5000/app") == "localhost:5000/app"
    assert repository("nginx") == "nginx"


# -- check_render_diff: only the planned images may change -------------------------------------

B_REF = ImageRef("ghcr.io/org/app-b", "sha-0badc0de", container="app-b")


def shop(images: dict[str, str], digest: str = "d0") -> RenderedResource:
    return RenderedResource(
        "Deployment/shop",
        tuple(RenderedContainer("Deployment/shop", name, image) for name, image in images.items()),
        digest,
    )


BEFORE = [shop({"app-a": "ghcr.io/org/app-a:1.0.0", "app-b": "ghcr.io/org/app-b:1.0.0"})]


def test_a_render_where_only_the_planned_image_changed_passes() -> None:
    after = [shop({"app-a": "ghcr.io/org/app-a:1.0.0", "app-b": "ghcr.io/org/app-b:sha-0badc0de"})]
    check_render_diff("o/kustomization.yaml", BEFORE, after, [B_REF])


def test_finding_2b_another_container_retagged_is_refused_naming_it() -> None:
    # The merge-key overlay: app-a's entry takes app-b's new tag.
    after = [shop({"app-a": "ghcr.io/org/app-a:sha-0badc0de", "app-b": "ghcr.io/org/app-b:sha-0badc0de"})]
    with pytest.raises(ConfigError) as info:
        check_render_diff("overlays/dev/kustomization.yaml", BEFORE, after, [B_REF])
    assert info.value.message == (
        "overlays/dev/kustomization.yaml: the edit would change container 'Deployment/shop/app-a' from "
        "'ghcr.io/org/app-a:1.0.0' to 'ghcr.io/org/app-a:sha-0badc0de', which is not what this release "
        "plans ('ghcr.io/org/app-b:sha-0badc0de')"
    )
    assert "render-check: false" in (info.value.fix or "")


def test_anything_else_that_changes_is_refused() -> None:
    same = {"app-a": "ghcr.io/org/app-a:1.0.0", "app-b": "ghcr.io/org/app-b:sha-0badc0de"}
    with pytest.raises(ConfigError, match=r"change 'Deployment/shop' beyond its container images"):
        check_render_diff("k", BEFORE, [shop(same, digest="d1")], [B_REF])
    with pytest.raises(ConfigError, match=r"change the containers of 'Deployment/shop'"):
        check_render_diff("k", BEFORE, [shop({"app-b": same["app-b"]})], [B_REF])
    other = RenderedResource("ConfigMap/x", (), "c")
    with pytest.raises(ConfigError, match=r"change which resources kustomize renders \('ConfigMap/x'\)"):
        check_render_diff("k", BEFORE, [shop(same), other], [B_REF])


def test_a_planned_reference_no_container_renders_is_still_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"kustomize renders no container with 'ghcr\.io/org/app-b:sha-0badc0de'"
    ):
        check_render_diff("k", BEFORE, BEFORE, [B_REF])


def test_two_containers_sharing_the_planned_image_may_both_change() -> None:
    before = [shop({"ui": "ghcr.io/org/ui:1", "ui-migrate": "ghcr.io/org/ui:1"})]
    after = [shop({"ui": f"ghcr.io/org/ui@{DIGEST}", "ui-migrate": f"ghcr.io/org/ui:2@{DIGEST}"})]
    check_render_diff("k", before, after, [ImageRef("ghcr.io/org/ui", "2", DIGEST)])
