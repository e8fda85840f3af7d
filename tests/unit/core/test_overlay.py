"""core/overlay.py: kustomization image edits that keep comments and make minimal diffs."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from gitops_release.core.overlay import get_images, set_image
from gitops_release.errors import ConfigError

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64

KUSTOMIZATION = f"""\
# Production overlay for my-app.
# Managed by gitops-release: update-db writes newTag/digest below.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: my-app-prod  # the prod namespace

resources:
  - ../../base
  - ingress.yaml

patches:
  - path: replicas.yaml
    target:
      kind: Deployment
      name: my-app

images:
  - name: ghcr.io/org/my-app
    newTag: "1.4.1"  # released 2026-01-20
    digest: {OLD}
  # the worker follows the app
  - name: worker
    newName: ghcr.io/org/my-app-worker
    newTag: sha-1a2b3c4d # pinned
labels:
  - pairs:
      team: payments
"""


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_update_by_name_changes_exactly_the_tag_and_digest_lines() -> None:
    out = set_image(KUSTOMIZATION, image="ghcr.io/org/my-app", tag="1.4.2", digest=NEW)
    assert changed_lines(KUSTOMIZATION, out) == [
        '-    newTag: "1.4.1"  # released 2026-01-20',
        f"-    digest: {OLD}",
        '+    newTag: "1.4.2"  # released 2026-01-20',
        f"+    digest: {NEW}",
    ]
    assert out.startswith("# Production overlay for my-app.\n# Managed by")
    assert "# the worker follows the app" in out and "# the prod namespace" in out


def test_no_semantic_change_returns_the_input_unchanged() -> None:
    assert set_image(KUSTOMIZATION, image="ghcr.io/org/my-app", tag="1.4.1", digest=OLD) is KUSTOMIZATION
    same = set_image(
        KUSTOMIZATION,
        image="ghcr.io/org/my-app-worker",
        tag="sha-1a2b3c4d",
        digest=None,
        container="my-app-worker",
    )
    assert same is KUSTOMIZATION


def test_stale_digest_is_removed_and_the_following_comment_kept() -> None:
    out = set_image(KUSTOMIZATION, image="ghcr.io/org/my-app", tag="1.4.2", digest=None)
    assert changed_lines(KUSTOMIZATION, out) == [
        '-    newTag: "1.4.1"  # released 2026-01-20',
        f"-    digest: {OLD}",
        '+    newTag: "1.4.2"  # released 2026-01-20',
    ]


def test_match_by_new_name_keeps_the_inline_comment() -> None:
    out = set_image(KUSTOMIZATION, image="ghcr.io/org/my-app-worker", tag="sha-99999999", digest=None)
    assert changed_lines(KUSTOMIZATION, out) == [
        "-    newTag: sha-1a2b3c4d # pinned",
        "+    newTag: sha-99999999 # pinned",
    ]


def test_match_by_container_sets_new_name() -> None:
    text = "images:\n- name: worker\n  newTag: old # keep me\n"
    out = set_image(text, image="ghcr.io/org/worker", tag="sha-12345678", digest=NEW, container="worker")
    assert out == (
        "images:\n- name: worker\n  newName: ghcr.io/org/worker\n  newTag: sha-12345678 # keep me\n"
        f"  digest: {NEW}\n"
    )


def test_unmatched_image_is_appended_and_numeric_tags_are_quoted() -> None:
    out = set_image(KUSTOMIZATION, image="ghcr.io/org/other", tag="123", digest=None)
    assert changed_lines(KUSTOMIZATION, out) == ["+  - name: ghcr.io/org/other", '+    newTag: "123"']
    assert get_images(out)[-1] == {"name": "ghcr.io/org/other", "newTag": "123"}


def test_images_key_is_created_in_the_files_own_list_style() -> None:
    text = "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../base\n"
    out = set_image(text, image="ghcr.io/org/x", tag="1.0.0", digest=NEW)
    assert out == text + f"images:\n- name: ghcr.io/org/x\n  newTag: 1.0.0\n  digest: {NEW}\n"
    assert set_image("", image="a", tag="1.0", digest=None) == 'images:\n- name: a\n  newTag: "1.0"\n'


def test_quote_style_of_the_old_value_is_kept() -> None:
    out = set_image("images:\n- name: a\n  newTag: 'v1.0.0'\n", image="a", tag="v1.0.1", digest=None)
    assert out == "images:\n- name: a\n  newTag: 'v1.0.1'\n"


def test_get_images() -> None:
    assert get_images(KUSTOMIZATION) == [
        {"name": "ghcr.io/org/my-app", "newTag": "1.4.1", "digest": OLD},
        {"name": "worker", "newName": "ghcr.io/org/my-app-worker", "newTag": "sha-1a2b3c4d"},
    ]
    assert get_images("resources: [base]\n") == []


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("- a\n- b\n", "top level is not a mapping"),
        ("images: {name: a}\n", "images must be a list"),
        ("images:\n- newTag: x\n", "images[0] must be a mapping with a name"),
        ("kind: Deployment\n", "is not a Kustomization"),
        ("images: [\n", "is not valid YAML"),
    ],
)
def test_not_a_kustomization(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        set_image(text, image="a", tag="1.0.0", digest=None, path="overlays/prod/kustomization.yaml")
    assert info.value.message.startswith("overlays/prod/kustomization.yaml: ")
    assert words in info.value.message
    assert info.value.fix


# -- only the changed lines differ (issue 7: mixed indentation) ---------------------------------

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kustomize"
K17 = (FIXTURES / "k17-konflux-crossplane-tag-and-digest" / "kustomization.yaml").read_text()
K17_IMAGE = "quay.io/konflux-ci/task-runner"
K17_DIGEST = "sha256:b9ef0479b57a494368a12a02886c650314c9ac7391c6228f21065865aab71c9e"


def test_a_real_file_indenting_lists_two_ways_changes_only_the_edited_lines() -> None:
    out = set_image(K17, image=K17_IMAGE, tag="v2", digest=NEW)
    assert changed_lines(K17, out) == [
        "-    newTag: v1",
        f"-    digest: {K17_DIGEST}",
        "+    newTag: v2",
        f"+    digest: {NEW}",
    ]


def test_a_real_file_indenting_lists_two_ways_keeps_both_when_an_entry_is_appended() -> None:
    out = set_image(K17, image="ghcr.io/org/other", tag="1.2.3", digest=None)
    assert changed_lines(K17, out) == ["+  - name: ghcr.io/org/other", "+    newTag: 1.2.3"]
    assert out.startswith("resources:\n- ../base\n")


def test_a_real_file_indenting_lists_two_ways_loses_only_the_digest_line() -> None:
    out = set_image(K17, image=K17_IMAGE, tag="v1", digest=None)
    assert changed_lines(K17, out) == [f"-    digest: {K17_DIGEST}"]


MIXED = """\
resources:
- ../../base
patches:
    - path: replicas.yaml
images:
      - name: worker   # short name in the base
        newTag: "1.0"
      - name: ghcr.io/org/app
        newTag: 1.0.0
"""


def test_keys_added_to_an_entry_take_its_indentation() -> None:
    out = set_image(MIXED, image="ghcr.io/org/worker", tag="2.0", digest=NEW, container="worker")
    assert changed_lines(MIXED, out) == [
        '-        newTag: "1.0"',
        "+        newName: ghcr.io/org/worker",
        '+        newTag: "2.0"',
        f"+        digest: {NEW}",
    ]
    assert get_images(out)[0] == {
        "name": "worker",
        "newName": "ghcr.io/org/worker",
        "newTag": "2.0",
        "digest": NEW,
    }


def test_a_digest_written_first_in_its_item_hands_the_dash_to_the_next_key() -> None:
    text = "images:\n- digest: sha256:aaaa\n  name: foo\n  newTag: v1\n"
    out = set_image(text, image="foo", tag="v2", digest=None)
    assert out == "images:\n- name: foo\n  newTag: v2\n"


def test_flow_style_falls_back_to_a_full_dump_with_the_same_meaning() -> None:
    text = "resources: [../base]\nimages: [{name: a, newTag: '1.0.0'}]\n"
    out = set_image(text, image="a", tag="1.0.1", digest=NEW)
    assert get_images(out) == [{"name": "a", "newTag": "1.0.1", "digest": NEW}]
    assert get_images(set_image("images: []\n", image="b", tag="1.0.0", digest=None)) == [
        {"name": "b", "newTag": "1.0.0"}
    ]


def test_an_alias_bomb_elsewhere_in_the_file_is_refused_before_anything_is_expanded() -> None:
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "\n".join(["images:", "- name: a", "  newTag: v1", *levels]) + "\n"
    # 10**9 leaves if expanded: neither the edit nor the line-edit check may build them.
    with pytest.raises(ConfigError, match=r"aliases standing for about 10\^9 values"):
        set_image(text, image="a", tag="v2", digest=None)


# -- finding 2b: an entry built from another (YAML merge keys, anchors, aliases) ------------------

MERGE_KEY_OVERLAY = """\
resources:
  - ../../base
images:
  - &b
    name: ghcr.io/org/app-b
    newTag: "1.0.0"
  - <<: *b
    name: ghcr.io/org/app-a
"""


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (MERGE_KEY_OVERLAY, "images[0] has a YAML anchor (&b)"),
        (
            "defaults: &b {name: ghcr.io/org/app-b, newTag: '1.0.0'}\nimages:\n  - <<: *b\n"
            "    name: ghcr.io/org/app-a\n",
            "images[0] uses a YAML merge key (<<) (line 3): its keys come from another mapping",
        ),
        (
            "tag: &t v1\nimages:\n  - name: ghcr.io/org/app-a\n    newTag: *t\n",
            "images[0].'newTag' is a YAML",
        ),
        ("images: &all\n  - name: ghcr.io/org/app-b\nalso: *all\n", "images has a YAML anchor (&all)"),
    ],
)
def test_merge_keys_anchors_and_aliases_in_images_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        set_image(text, image="ghcr.io/org/app-b", tag="sha-0badc0de", digest=None, container="app-b")
    assert info.value.message.startswith(f"kustomization.yaml: {problem}")
    assert "without YAML anchors (&name), aliases (*name) or merge keys (<<)" in (info.value.fix or "")
    with pytest.raises(ConfigError):
        get_images(text)


def test_anchors_outside_images_are_still_fine() -> None:
    text = "labels: &l {app: x}\ncommonLabels: *l\nimages:\n  - name: ghcr.io/org/app-b\n    newTag: '1'\n"
    out = set_image(text, image="ghcr.io/org/app-b", tag="2", digest=None, container="app-b")
    assert out == text.replace("newTag: '1'", "newTag: '2'")
