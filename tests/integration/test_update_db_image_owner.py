"""update-db write-through never changes another container's image (review of issue 7 item 1,
finding 2), against real git and real kustomize: the three ways the review found, each refused with
nothing committed or pushed, and the render diff that catches what the other two checks cannot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops_release.adapters.kustomize import find_kubectl, render_resources
from gitops_release.commands import update_db
from gitops_release.commands.base import Context
from gitops_release.core.render_check import ImageRef, check_render_diff
from gitops_release.errors import ConfigError, PolicyError
from gitops_release.runtime import InputReader
from tests.fixtures.git_remotes import BareRemotes, git

SHA = "a" * 40
EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
OVERLAY = "overlays/dev/kustomization.yaml"
# The review's repository (/tmp/rv/mk.sh): one Deployment, three containers, one shared overlay.
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: app-a
          image: ghcr.io/org/app-a:1.0.0
        - name: app-b
          image: ghcr.io/org/app-b:1.0.0
        - name: app-b-admin
          image: ghcr.io/org/app-b-admin:1.0.0
"""
SOURCES_2A = """\
  - repository: org/app-b
    containers: [app-b]
    images: [ghcr.io/org/app-b, ghcr.io/org/app-b-*]
  - repository: org/app-a
    containers: [app-a]
    images: [ghcr.io/org/app-a]
  - repository: org/admin
    containers: [app-b-admin]
    images: [ghcr.io/org/app-b-admin]
"""
SOURCES_2C = """\
  - repository: org/app-b
    containers: [app-b, app-b-admin]
    images: [ghcr.io/org/app-b, ghcr.io/org/app-b-admin]
  - repository: org/app-a
    containers: [app-a]
    images: [ghcr.io/org/app-a]
"""
SHARED = "resources:\n  - ../../base\n"
MERGE_KEY_OVERLAY = (
    SHARED + 'images:\n  - &b\n    name: ghcr.io/org/app-b\n    newTag: "{tag}"\n'
    "  - <<: *b\n    name: ghcr.io/org/app-a\n"
)


def policy(sources: str) -> str:
    return f"channels: [dev, stage, prod]\nsources:\n{sources}overlays:\n  dir: overlays\n"


def make_repo(bare_remote: BareRemotes, policy_text: str, overlay: str = SHARED) -> tuple[str, Path]:
    url = bare_remote.make_bare_remote(
        {
            "db/db.json": EMPTY_DB,
            ".gitops-release.yml": policy_text,
            "base/kustomization.yaml": "resources: [deploy.yaml]\n",
            "base/deploy.yaml": DEPLOYMENT,
            OVERLAY: overlay,
        }
    )
    return url, bare_remote.clone_of(url)


def release(container: str = "app-b", image: str = "ghcr.io/org/app-b", tag: str = "sha-deadbeef") -> Any:
    return {
        "container": container,
        "channel": "dev",
        "image": image,
        "tag": tag,
        "source": {"repository": f"org/{container}", "sha": SHA},
    }


def run_update(work: Path, payload: Any, **inputs: str) -> update_db.Outputs:
    env = {
        "INPUT_PAYLOAD": json.dumps(payload),
        "INPUT_REPOSITORY-PATH": str(work),
        "INPUT_WRITE-THROUGH": "true",
    }
    env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    return update_db.run(
        update_db.Inputs.from_reader(InputReader(env=env)), Context.for_env({}, workdir=work)
    )


def unchanged(bare_remote: BareRemotes, url: str, head: str, overlay: str = SHARED) -> None:
    assert bare_remote.remote_head(url) == head
    assert bare_remote.read_remote_file(url, OVERLAY) == overlay
    assert bare_remote.read_remote_file(url, "db/db.json") == EMPTY_DB


def test_2a_a_new_entry_retagging_another_policy_container_is_refused(bare_remote: BareRemotes) -> None:
    url, work = make_repo(bare_remote, policy(SOURCES_2A))
    head = bare_remote.remote_head(url)
    with pytest.raises(PolicyError) as info:
        run_update(work, release(image="ghcr.io/org/app-b-admin"))
    assert info.value.message.startswith(
        "payload.image 'ghcr.io/org/app-b-admin' is named after container 'app-b-admin', not 'app-b'"
    )
    unchanged(bare_remote, url, head)


def test_2a_the_image_db_json_records_for_another_container_is_refused(bare_remote: BareRemotes) -> None:
    # app-b-admin ships ghcr.io/org/app-b-tools; app-b's source may send ghcr.io/org/app-b-*.
    sources = SOURCES_2A.replace("[ghcr.io/org/app-b-admin]", "[ghcr.io/org/app-b-tools]")
    deployment = DEPLOYMENT.replace("ghcr.io/org/app-b-admin:1.0.0", "ghcr.io/org/app-b-tools:1.0.0")
    url, work = make_repo(bare_remote, policy(sources))
    (work / "base/deploy.yaml").write_text(deployment)
    git("commit", "-qam", "tools", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    admin = {
        **release("app-b-admin", "ghcr.io/org/app-b-tools", "1.1.0"),
        "source": {"repository": "org/admin", "sha": SHA},
    }
    run_update(work, admin)
    head = bare_remote.remote_head(url)
    overlay = bare_remote.read_remote_file(url, OVERLAY)
    db = bare_remote.read_remote_file(url, "db/db.json")
    with pytest.raises(PolicyError) as info:
        run_update(work, release(image="ghcr.io/org/app-b-tools"))
    assert info.value.message.startswith(
        "payload.image 'ghcr.io/org/app-b-tools' is the image of container 'app-b-admin' (in db.json or "
        "in this payload), not of container 'app-b'"
    )
    assert bare_remote.remote_head(url) == head
    assert bare_remote.read_remote_file(url, OVERLAY) == overlay
    assert bare_remote.read_remote_file(url, "db/db.json") == db


def test_2b_a_merge_key_entry_is_refused_by_the_overlay_loader(bare_remote: BareRemotes) -> None:
    # The review's overlay: app-a's entry takes app-b's keys through an anchor and a merge key.
    url, work = make_repo(bare_remote, policy(SOURCES_2A), MERGE_KEY_OVERLAY.format(tag="1.0.0"))
    head = bare_remote.remote_head(url)
    with pytest.raises(ConfigError) as info:
        run_update(work, release(tag="sha-0badc0de"))
    assert info.value.message == f"{OVERLAY}: images[0] has a YAML anchor (&b)"
    assert "without YAML anchors (&name), aliases (*name) or merge keys (<<)" in (info.value.fix or "")
    unchanged(bare_remote, url, head, MERGE_KEY_OVERLAY.format(tag="1.0.0"))


def test_2b_the_render_diff_catches_the_merge_key_retag_with_real_kustomize(tmp_path: Path) -> None:
    """The overlay as the review wrote it, edited the way write-through did before the loader refused
    it: kustomize renders app-a with app-b's new tag, and check_render_diff names app-a."""
    kubectl = find_kubectl({})
    assert kubectl is not None
    (tmp_path / "base").mkdir()
    (tmp_path / "base/kustomization.yaml").write_text("resources: [deploy.yaml]\n")
    (tmp_path / "base/deploy.yaml").write_text(DEPLOYMENT)
    overlay = tmp_path / "overlays/dev"
    overlay.mkdir(parents=True)
    text = MERGE_KEY_OVERLAY
    (overlay / "kustomization.yaml").write_text(text.format(tag="1.0.0"))
    before = render_resources(overlay, binary=kubectl, shown="overlays/dev")
    (overlay / "kustomization.yaml").write_text(text.format(tag="sha-0badc0de"))
    after = render_resources(overlay, binary=kubectl, shown="overlays/dev")
    wanted = [ImageRef("ghcr.io/org/app-b", "sha-0badc0de", container="app-b")]
    with pytest.raises(ConfigError) as info:
        check_render_diff(OVERLAY, before, after, wanted)
    assert info.value.message == (
        f"{OVERLAY}: the edit would change container 'Deployment/shop/app-a' from 'ghcr.io/org/app-a:1.0.0' "
        "to 'ghcr.io/org/app-a:sha-0badc0de', which is not what this release plans "
        "('ghcr.io/org/app-b:sha-0badc0de')"
    )


def test_2c_one_source_for_two_containers_does_not_let_one_take_the_others_entry(
    bare_remote: BareRemotes,
) -> None:
    overlay = SHARED + "images:\n  - name: ghcr.io/org/app-b-admin\n    newTag: 1.0.0\n"
    url, work = make_repo(bare_remote, policy(SOURCES_2C), overlay)
    head = bare_remote.remote_head(url)
    with pytest.raises(PolicyError, match="is named after container 'app-b-admin', not 'app-b'"):
        run_update(work, release(image="ghcr.io/org/app-b-admin", tag="sha-0badc0de"))
    unchanged(bare_remote, url, head, overlay)
    # The container itself may release it (same source).
    assert run_update(
        work,
        release("app-b-admin", "ghcr.io/org/app-b-admin", "1.1.0")
        | {"source": {"repository": "org/app-b", "sha": SHA}},
    ).changed


REPLACEMENT = """replacements:
  - source: {kind: Deployment, name: shop, fieldPath: "spec.template.spec.containers.[name=app-b].image"}
    targets:
      - select: {kind: Deployment, name: shop}
        fieldPaths: ["spec.template.metadata.annotations.app-b-image"]
        options: {create: true}
"""


def test_the_render_diff_refuses_an_edit_that_changes_more_than_container_images(
    bare_remote: BareRemotes,
) -> None:
    """Neither the image nor the entry belongs to anyone else here: only rendering before and after
    shows that kustomize copies app-b's image into an annotation too."""
    overlay = SHARED + REPLACEMENT + "images:\n  - name: ghcr.io/org/app-b\n    newTag: 1.0.0\n"
    url, work = make_repo(bare_remote, policy(SOURCES_2A), overlay)
    head = bare_remote.remote_head(url)
    with pytest.raises(ConfigError) as info:
        run_update(work, release())
    assert info.value.message == (
        f"{OVERLAY}: the edit would change 'Deployment/shop' beyond its container images (kustomize "
        "writes the image somewhere else too)"
    )
    assert "render-check: false" in (info.value.fix or "")
    unchanged(bare_remote, url, head, overlay)
    # The same edit without the render check lands: the user's explicit way out.
    assert run_update(work, release(), render_check="false").changed


def test_legitimate_releases_of_each_container_into_the_shared_overlay_land(bare_remote: BareRemotes) -> None:
    url, work = make_repo(bare_remote, policy(SOURCES_2A))
    for container in ("app-a", "app-b", "app-b-admin"):
        payload = release(container, f"ghcr.io/org/{container}", "1.1.0")
        if container == "app-b-admin":
            payload["source"]["repository"] = "org/admin"
        assert run_update(work, payload).changed
    assert bare_remote.read_remote_file(url, OVERLAY) == SHARED + "images:\n" + "".join(
        f"  - name: ghcr.io/org/{c}\n    newTag: 1.1.0\n" for c in ("app-a", "app-b", "app-b-admin")
    )


def test_two_releases_of_one_payload_cannot_share_an_image(bare_remote: BareRemotes) -> None:
    url, work = make_repo(bare_remote, "overlays:\n  dir: overlays\n")  # any source, any image
    head = bare_remote.remote_head(url)
    payload = {
        "releases": [release("app-b-admin", "ghcr.io/org/tools"), release("app-b", "ghcr.io/org/tools")]
    }
    with pytest.raises(PolicyError) as info:
        run_update(work, payload)
    assert info.value.message.startswith(
        "payload.releases[0].image 'ghcr.io/org/tools' is the image of container 'app-b' (in db.json or in "
        "this payload), not of container 'app-b-admin'"
    )
    unchanged(bare_remote, url, head)
