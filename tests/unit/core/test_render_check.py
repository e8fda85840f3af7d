"""core/render_check.py: the rendered images must contain the reference the overlay edit intends."""

from __future__ import annotations

import pytest

from gitops_release.core.render_check import ImageRef, check_rendered, missing, repository
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
