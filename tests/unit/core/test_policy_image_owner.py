"""core/policy.check_image_owner, known_containers and exact_images(known=...): a release carries
only its own container's image (review of issue 7 item 1, finding 2a and 2c)."""

from __future__ import annotations

import json

import pytest

from gitops_release.core.db import DBFile
from gitops_release.core.overlay import set_image
from gitops_release.core.policy import (
    DEFAULT_POLICY,
    check_image_owner,
    exact_images,
    known_containers,
    load_policy,
)
from gitops_release.core.release import Release, Source
from gitops_release.errors import PolicyError

SHA = "0" * 40
# Finding 2a: org/app-b may release ghcr.io/org/app-b-*, org/admin owns app-b-admin.
POLICY_2A = """\
sources:
  - repository: org/app-b
    containers: [app-b]
    images: [ghcr.io/org/app-b, ghcr.io/org/app-b-*]
  - repository: org/admin
    containers: [app-b-admin, 'job-*']
    images: [ghcr.io/org/app-b-admin]
"""
# Finding 2c: one source for two containers, each image listed without a glob.
POLICY_2C = """\
sources:
  - repository: org/app-b
    containers: [app-b, app-b-admin]
    images: [ghcr.io/org/app-b, ghcr.io/org/app-b-admin]
"""


def rel(container: str = "app-b", image: str = "ghcr.io/org/app-b", repo: str = "org/app-b") -> Release:
    return Release(container, "dev", image, "1.2.3", None, Source(repo, SHA))


def test_known_containers_are_the_policys_literal_names_and_the_recorded_ones() -> None:
    assert known_containers(load_policy(POLICY_2A), ["web"]) == {"app-b", "app-b-admin", "web"}
    assert known_containers(DEFAULT_POLICY) == frozenset()


def test_an_image_named_after_another_container_of_the_policy_is_refused() -> None:
    with pytest.raises(PolicyError) as info:
        check_image_owner(load_policy(POLICY_2A), rel(image="ghcr.io/org/app-b-admin"), {})
    assert info.value.message == (
        "payload.image 'ghcr.io/org/app-b-admin' is named after container 'app-b-admin', not 'app-b': "
        "another container's image is never released as this one's"
    )
    assert (info.value.fix or "").startswith(
        "send container 'app-b''s own image; to ship 'app-b-admin', send a release with container: "
        "'app-b-admin'"
    )


def test_the_same_source_listing_both_images_does_not_make_them_interchangeable() -> None:
    with pytest.raises(PolicyError, match="is named after container 'app-b-admin', not 'app-b'"):
        check_image_owner(load_policy(POLICY_2C), rel(image="ghcr.io/org/app-b-admin"), {}, field="p")


def test_an_image_db_json_records_for_another_container_is_refused() -> None:
    recorded = {"admin-ui": {"ghcr.io/org/app-b-tools"}}
    with pytest.raises(PolicyError) as info:
        check_image_owner(DEFAULT_POLICY, rel(image="ghcr.io/org/app-b-tools"), recorded)
    assert info.value.message.startswith(
        "payload.image 'ghcr.io/org/app-b-tools' is the image of container 'admin-ui' (in db.json or "
        "in this payload), not of container 'app-b'"
    )
    # ... and named after a container db.json knows: that container's.
    with pytest.raises(PolicyError, match="named after container 'admin-ui'"):
        check_image_owner(DEFAULT_POLICY, rel(image="ghcr.io/org/admin-ui"), {"admin-ui": {"x"}})


@pytest.mark.parametrize(
    ("policy", "release", "recorded"),
    [
        # its own name
        (POLICY_2A, rel(), {"app-b-admin": {"ghcr.io/org/app-b-admin"}}),
        # another image under no container's name (web runs ghcr.io/org/frontend)
        (POLICY_2A, rel("web", "ghcr.io/org/frontend"), {"web": {"ghcr.io/org/frontend"}}),
        # a glob (job-*) names no container
        (POLICY_2A, rel(image="ghcr.io/org/job-x"), {}),
        # an image two containers already share in db.json stays theirs
        (
            DEFAULT_POLICY,
            rel("b", "ghcr.io/org/shared"),
            {"a": {"ghcr.io/org/shared"}, "b": {"ghcr.io/org/shared"}},
        ),
    ],
)
def test_legitimate_images_pass(policy: object, release: Release, recorded: dict[str, set[str]]) -> None:
    loaded = load_policy(policy) if isinstance(policy, str) else DEFAULT_POLICY
    check_image_owner(loaded, release, recorded)


def test_exact_images_leave_out_another_known_containers_image() -> None:
    policy = load_policy(POLICY_2C)
    assert exact_images(policy, rel(), None) == {"ghcr.io/org/app-b", "ghcr.io/org/app-b-admin"}
    known = known_containers(policy)
    assert exact_images(policy, rel(), None, known=known) == {"ghcr.io/org/app-b"}
    admin = rel("app-b-admin", "ghcr.io/org/app-b-admin")
    assert exact_images(policy, admin, None, known=known) == {"ghcr.io/org/app-b-admin"}


def test_finding_2c_the_other_containers_entry_is_not_edited() -> None:
    overlay = "images:\n  - name: ghcr.io/org/app-b-admin\n    newTag: 1.0.0\n"
    with pytest.raises(PolicyError, match="does not belong to container 'app-b'"):
        set_image(
            overlay,
            image="ghcr.io/org/app-b-admin",
            tag="sha-0badc0de",
            digest=None,
            container="app-b",
            owned={"ghcr.io/org/app-b-admin"},  # what exact_images gave before the fix
            others={"app-b-admin"},
        )
    # An entry named after the container itself stays its own even when others are known.
    own = "images:\n  - name: ghcr.io/org/app-b\n    newTag: 1.0.0\n"
    out = set_image(own, image="ghcr.io/org/app-b", tag="2.0.0", digest=None, container="app-b", others={"x"})
    assert "newTag: 2.0.0" in out


def test_db_file_lists_the_images_each_container_runs() -> None:
    def stored(container: str, channel: str, image: str) -> dict[str, object]:
        return {
            "container": container,
            "channel": channel,
            "image": image,
            "tag": "1.0.0",
            "source": {"repository": "org/x", "sha": SHA},
            "updatedAt": "2026-01-01T00:00:00Z",
        }

    releases = [
        stored("a", "dev", "ghcr.io/org/a"),
        stored("a", "prod", "ghcr.io/org/a2"),
        stored("b", "dev", "x"),
    ]
    canonical = json.dumps({"schemaVersion": 1, "releases": releases}, indent=2) + "\n"
    expected = {"a": {"ghcr.io/org/a", "ghcr.io/org/a2"}, "b": {"x"}}
    assert DBFile(canonical).container_images() == expected
    assert DBFile(canonical).canonical
    unsorted = json.dumps({"schemaVersion": 1, "releases": releases[::-1]})  # the load_db path
    assert not DBFile(unsorted).canonical
    assert DBFile(unsorted).container_images() == expected
    assert DBFile(None).container_images() == {}
