"""core/policy.py and core/overlay.py against hostile input (issue 7 items 1, 4, 6 and 8):
image allow-lists, senders, YAML alias bombs and merge keys, and an overlay entry that belongs
to another container."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gitops_release.core.overlay import get_images, set_image
from gitops_release.core.policy import (
    DEFAULT_POLICY,
    check_release,
    exact_images,
    image_pattern,
    load_policy,
    parse_yaml,
)
from gitops_release.core.release import Release, Source
from gitops_release.core.yaml_limits import MAX_ALIAS_NODES, MAX_ALIASES
from gitops_release.errors import ConfigError, PolicyError

SHA = "0" * 40
REPO_ROOT = Path(__file__).resolve().parents[3]

# The issue's setup: org/app-b may update only app-b, with its own images.
POLICY = """\
sources:
  - repository: org/app-a
    containers: [app-a]
    images: [ghcr.io/org/app-a]
  - repository: org/app-b
    containers: [app-b]
    images: [ghcr.io/org/app-b, ghcr.io/org/app-b-*]
"""


def rel(container: str = "app-b", image: str = "ghcr.io/org/app-b", repo: str = "org/app-b") -> Release:
    return Release(container, "dev", image, "1.2.3", None, Source(repo, SHA))


def bomb(depth: int = 9, width: int = 9) -> str:
    """The issue's alias bomb: nested anchors, each list nine aliases of the one before."""
    parts = ["&a0 [" + ",".join(["x"] * width) + "]"]
    parts += [f"&a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]" for i in range(1, depth + 1)]
    return "channels: [" + ", ".join(parts) + "]\n"


# -- item 1: images ----------------------------------------------------------------------------


def test_images_are_loaded_per_source() -> None:
    policy = load_policy(POLICY)
    assert policy.sources is not None
    assert [rule.images for rule in policy.sources] == [
        ("ghcr.io/org/app-a",),
        ("ghcr.io/org/app-b", "ghcr.io/org/app-b-*"),
    ]


@pytest.mark.parametrize("image", ["ghcr.io/org/app-b", "ghcr.io/org/app-b-worker"])
def test_an_allowed_image_passes(image: str) -> None:
    check_release(load_policy(POLICY), rel(image=image), None)


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/evil/backdoor",  # the issue's newName attack
        "ghcr.io/org/app-a",  # another container's image
        "ghcr.io/org/app-b-x/evil",  # '*' does not cross a path component
        "evil.io/ghcr.io/org/app-b",
        "ghcr.io/org/app-bb",
    ],
)
def test_an_image_outside_the_allow_list_is_refused_naming_field_and_fix(image: str) -> None:
    with pytest.raises(PolicyError) as info:
        check_release(load_policy(POLICY), rel(image=image), None, field="payload.releases[1]")
    message = info.value.message
    assert message.startswith(f"payload.releases[1].image '{image}' is not an allowed image")
    assert "allowed: ghcr.io/org/app-b, ghcr.io/org/app-b-*" in message
    assert "images" in (info.value.fix or "")


def test_a_source_without_images_releases_no_image_fail_closed() -> None:
    policy = load_policy("sources:\n  - repository: org/app-b\n    containers: [app-b]\n")
    with pytest.raises(PolicyError) as info:
        check_release(policy, rel(), None)
    assert info.value.message == (
        "payload.image 'ghcr.io/org/app-b' is not allowed: the policy's sources entry for "
        "'org/app-b' lists no images, and a source without images may release none"
    )
    assert "add images: [ghcr.io/org/app-b]" in (info.value.fix or "")


def test_without_sources_any_image_is_accepted_as_before() -> None:
    # No sources at all is the documented "any source" mode: nothing to restrict images by.
    check_release(DEFAULT_POLICY, rel(image="ghcr.io/anyone/anything"), None)


@pytest.mark.parametrize(
    ("pattern", "image", "matches"),
    [
        ("ghcr.io/org/*", "ghcr.io/org/app", True),
        ("ghcr.io/org/*", "ghcr.io/org/app/sub", False),
        ("ghcr.io/org/**", "ghcr.io/org/app/sub", True),
        ("**", "registry.example.com:5000/a/b", True),
        ("*.example.com/app", "evil.io/x.example.com/app", False),
        ("ghcr.io/org/app-?", "ghcr.io/org/app-1", True),
        ("ghcr.io/org/app-?", "ghcr.io/org/app-/", False),
        ("ghcr.io/org/app.b", "ghcr.io/org/appxb", False),  # '.' is literal
    ],
)
def test_image_globs(pattern: str, image: str, matches: bool) -> None:
    assert bool(image_pattern(pattern).match(image)) is matches


def test_a_second_rule_for_the_same_source_can_allow_the_image() -> None:
    policy = load_policy(
        POLICY + "  - repository: org/app-b\n    containers: [app-b]\n    images: [ghcr.io/org/legacy]\n"
    )
    check_release(policy, rel(image="ghcr.io/org/legacy"), None)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("sources:\n  - repository: o/r\n    images: []\n", "/sources/0/images"),
        ("sources:\n  - repository: o/r\n    images: [GHCR.io/Org/App]\n", "/sources/0/images/0"),
        ("sources:\n  - repository: o/r\n    images: ['ghcr.io/a b']\n", "/sources/0/images/0"),
        ("sources:\n  - repository: o/r\n    senders: []\n", "/sources/0/senders"),
        ("sources:\n  - repository: o/r\n    senders: ['bot[bot]x']\n", "/sources/0/senders/0"),
        ("sources:\n  - repository: o/r\n    senders: ['-bot']\n", "/sources/0/senders/0"),
    ],
)
def test_bad_images_and_senders_are_config_errors(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(text)
    assert words in info.value.message
    assert info.value.fix


def test_exact_images_are_the_glob_free_entries_of_the_matching_rules() -> None:
    policy = load_policy(POLICY)
    assert exact_images(policy, rel(), None) == {"ghcr.io/org/app-b"}
    assert exact_images(policy, rel(container="app-a", repo="org/app-a"), None) == {"ghcr.io/org/app-a"}
    assert exact_images(DEFAULT_POLICY, rel(), None) == frozenset()


# -- item 1: the overlay entry that belongs to the container -------------------------------------

SHARED_OVERLAY = """\
images:
  - name: ghcr.io/org/app-a
    newTag: "1.0.0"
  - name: ghcr.io/org/app-b
    newTag: "1.0.0"
"""


def test_a_release_never_edits_another_containers_entry() -> None:
    # The issue's attack: container app-b, image app-a, rewrote app-a's newTag.
    with pytest.raises(PolicyError) as info:
        set_image(
            SHARED_OVERLAY,
            image="ghcr.io/org/app-a",
            tag="6.6.6",
            digest=None,
            container="app-b",
            owned={"ghcr.io/org/app-b"},
            path="overlays/dev/kustomization.yaml",
        )
    assert info.value.message == (
        "write-through: image 'ghcr.io/org/app-a' matches images[0] of overlays/dev/kustomization.yaml "
        "(name 'ghcr.io/org/app-a'), an entry that does not belong to container 'app-b': another "
        "container's entry is never changed"
    )
    assert info.value.fix and "'app-b'" in info.value.fix
    # The same entry by newName (a short kustomize name for app-a) is refused too.
    by_new_name = "images:\n- name: api\n  newName: ghcr.io/org/app-a\n  newTag: '1'\n"
    with pytest.raises(PolicyError, match="does not belong to container 'app-b'"):
        set_image(by_new_name, image="ghcr.io/org/app-a", tag="6.6.6", digest=None, container="app-b")


def test_the_containers_own_entry_is_edited() -> None:
    out = set_image(SHARED_OVERLAY, image="ghcr.io/org/app-b", tag="1.1.0", digest=None, container="app-b")
    assert get_images(out) == [
        {"name": "ghcr.io/org/app-a", "newTag": "1.0.0"},
        {"name": "ghcr.io/org/app-b", "newTag": "1.1.0"},
    ]


def test_an_entry_named_otherwise_belongs_through_owned_images() -> None:
    # Container 'web' runs ghcr.io/org/frontend: the policy (or db.json) says the image is its own.
    text = "images:\n- name: ghcr.io/org/frontend\n  newTag: '1.0.0'\n"
    with pytest.raises(PolicyError, match="does not belong to container 'web'"):
        set_image(text, image="ghcr.io/org/frontend", tag="1.1.0", digest=None, container="web")
    out = set_image(
        text,
        image="ghcr.io/org/frontend",
        tag="1.1.0",
        digest=None,
        container="web",
        owned={"ghcr.io/org/frontend"},
    )
    assert get_images(out) == [{"name": "ghcr.io/org/frontend", "newTag": "1.1.0"}]


def test_a_new_image_is_appended_not_forced_onto_another_entry() -> None:
    out = set_image(SHARED_OVERLAY, image="ghcr.io/org/app-c", tag="1.0.0", digest=None, container="app-c")
    assert get_images(out)[-1] == {"name": "ghcr.io/org/app-c", "newTag": "1.0.0"}
    assert get_images(out)[:2] == get_images(SHARED_OVERLAY)


# -- item 6: senders -----------------------------------------------------------------------------

SENDERS = POLICY + '    senders: ["app-b-release[bot]", Release-User]\n'


def test_senders_are_loaded() -> None:
    policy = load_policy(SENDERS)
    assert policy.sources is not None
    assert policy.sources[0].senders is None
    assert policy.sources[1].senders == ("app-b-release[bot]", "Release-User")


@pytest.mark.parametrize("sender", ["app-b-release[bot]", "release-user", "RELEASE-USER"])
def test_a_listed_sender_passes_case_insensitively(sender: str) -> None:
    check_release(load_policy(SENDERS), rel(), None, sender=sender)


def test_another_sender_is_refused() -> None:
    with pytest.raises(PolicyError) as info:
        check_release(load_policy(SENDERS), rel(), None, sender="mallory")
    assert info.value.message == (
        "sender 'mallory' (the repository_dispatch event's sender.login) may not send releases from "
        "'org/app-b' (allowed senders: Release-User, app-b-release[bot])"
    )
    assert "GitHub App" in (info.value.fix or "")


def test_no_sender_is_refused_when_the_source_names_senders_fail_closed() -> None:
    with pytest.raises(PolicyError) as info:
        check_release(load_policy(SENDERS), rel(), None)
    assert info.value.message.startswith("sender unknown: releases from 'org/app-b' may be sent only by")
    assert "repository_dispatch" in (info.value.fix or "")
    # A source without senders accepts any sender, and no sender.
    check_release(
        load_policy(SENDERS), rel(container="app-a", image="ghcr.io/org/app-a", repo="org/app-a"), None
    )


# -- item 4: alias bombs -------------------------------------------------------------------------


def test_the_issues_alias_bomb_is_refused_before_anything_is_built() -> None:
    text = bomb()
    assert len(text) < 500
    with pytest.raises(ConfigError) as info:
        load_policy(text, path="cfg/.gitops-release.yml")
    message = info.value.message
    assert message.startswith("cfg/.gitops-release.yml: has YAML aliases standing for about 10^9 values")
    assert len(info.value.one_line()) < 300  # the instance is never rendered into the message
    assert "anchors and aliases" in (info.value.fix or "")


def test_the_alias_bomb_in_an_overlay_is_refused() -> None:
    text = bomb().replace("channels:", "images:")
    with pytest.raises(ConfigError) as info:
        set_image(text, image="a", tag="1.0.0", digest=None, path="overlays/dev/kustomization.yaml")
    assert info.value.message.startswith("overlays/dev/kustomization.yaml: has YAML aliases standing for")
    with pytest.raises(ConfigError, match="aliases standing for"):
        get_images(text)


@pytest.mark.parametrize("load", ["policy", "overlay"])
def test_an_alias_inside_its_own_anchor_is_refused(load: str) -> None:
    text = "channels: &a [dev, *a]\n"
    with pytest.raises(ConfigError, match=r"alias inside the node its anchor names \(line 1\)"):
        if load == "policy":
            load_policy(text)
        else:
            get_images(text)


@pytest.mark.parametrize("load", ["policy", "overlay"])
def test_more_aliases_than_the_bound_are_refused(load: str) -> None:
    many = "a: &a x\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(ConfigError, match=f"uses more than {MAX_ALIASES} YAML aliases"):
        if load == "policy":
            parse_yaml(many, path="p")
        else:
            get_images(many)
    # At the bound: accepted (a few aliases are ordinary YAML).
    parse_yaml("a: &a x\nb: [" + ", ".join(["*a"] * MAX_ALIASES) + "]\n", path="p")


def test_aliases_standing_for_more_than_the_bound_are_refused_and_just_under_is_accepted() -> None:
    # One anchor of n scalars (a sequence node + n), aliased k times: k * (n + 1) extra values.
    def text(n: int, k: int) -> str:
        return "a: &a [" + ",".join(["x"] * n) + "]\nb: [" + ",".join(["*a"] * k) + "]\n"

    assert parse_yaml(text(99, 100), path="p")["b"][0] == ["x"] * 99  # exactly MAX_ALIAS_NODES
    assert 100 * 100 == MAX_ALIAS_NODES
    with pytest.raises(ConfigError, match="standing for 10,100 values"):
        parse_yaml(text(100, 100), path="p")


def test_reasonable_aliases_still_work_in_the_policy() -> None:
    text = (
        "channels: &all [dev, stage, prod]\n"
        "sources:\n  - repository: org/a\n    channels: *all\n    images: [ghcr.io/org/a]\n"
    )
    assert load_policy(text).sources[0].channels == ("dev", "stage", "prod")  # type: ignore[index]


def test_a_huge_policy_is_refused_by_size() -> None:
    with pytest.raises(ConfigError, match="characters long"):
        load_policy("# " + "x" * 1_000_000 + "\n")


def test_the_bomb_fails_in_bounded_memory_in_a_child_process() -> None:
    # 8.5 GB at depth 8 before the fix; here the child may use at most 1 GB of address space.
    code = textwrap.dedent(
        """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from gitops_release.core.policy import load_policy
        from gitops_release.errors import ConfigError
        try:
            load_policy(sys.stdin.read())
        except ConfigError as exc:
            print(exc.message)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=bomb(),
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(REPO_ROOT / "src")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "has YAML aliases standing for" in done.stdout


# -- item 8: merge keys --------------------------------------------------------------------------


def test_two_merge_keys_cannot_reset_sources() -> None:
    # The issue: the second merge set sources to null (any source) past the duplicate-key check.
    text = "<<: {sources: [{repository: org/app-b, images: [ghcr.io/org/app-b]}]}\n<<: {sources: null}\n"
    with pytest.raises(ConfigError) as info:
        load_policy(text, path="cfg/.gitops-release.yml")
    assert info.value.message == (
        "cfg/.gitops-release.yml: merge key '<<' at line 1: the policy does not accept YAML merge keys"
    )
    assert info.value.fix == "write the merged keys out in that mapping"


def test_a_single_merge_key_is_refused_too() -> None:
    with pytest.raises(ConfigError, match="merge key '<<' at line 3"):
        load_policy("base: &b {immutable: true}\ntags:\n  <<: *b\n  immutable: false\n")


# The review's bypass: PyYAML merges any key node tagged !!merge, a sequence or a mapping too,
# and the check looked only at scalar keys, so these loaded (the first with sources None).
MERGE_KEY_VARIANTS = [
    (
        "? !!merge [a]\n"
        ": {sources: [{repository: org/app-b, containers: [app-b], images: [ghcr.io/org/app-b]}]}\n"
        "? !!merge [b]\n"
        ": {sources: null}\n",
        "merge key '!!merge [a]' at line 1",
    ),
    ("sources: []\n? !!merge {a: 1}\n: {sources: null}\n", "merge key '!!merge {a: 1}' at line 2"),
    ("!!merge x: {sources: null}\n", "merge key '!!merge x' at line 1"),
    ("!<tag:yaml.org,2002:merge> x: {sources: null}\n", "merge key '!<tag:yaml.org,2002:merge> x' at line 1"),
    ("<<: [{sources: null}, {channels: [dev]}]\n", "merge key '<<' at line 1"),
    ("{channels: [dev], <<: {sources: null}}\n", "merge key '<<' at line 1"),
    ("tags: {immutable: true, ? !!merge [x] : {immutable: false}}\n", "merge key '!!merge [x]' at line 1"),
    # A quoted '<<' is no merge, but it reads as one and no policy key has that name.
    ("'<<': {channels: [dev]}\n", "merge key \"'<<'\" at line 1"),
    ("overlays:\n  dir: apps/*\n  apps:\n    !!str <<: web\n", "merge key '!!str <<' at line 4"),
]


@pytest.mark.parametrize(("text", "problem"), MERGE_KEY_VARIANTS)
def test_every_merge_key_is_refused_whatever_its_node(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(text, path="cfg/.gitops-release.yml")
    assert info.value.message == (
        f"cfg/.gitops-release.yml: {problem}: the policy does not accept YAML merge keys"
    )
    assert info.value.fix == "write the merged keys out in that mapping"


def test_a_long_merge_key_is_shown_cut() -> None:
    key = "[" + ", ".join(f"k{i}" for i in range(100)) + "]"
    with pytest.raises(ConfigError) as info:
        load_policy(f"? !!merge {key}\n: {{sources: null}}\n")
    assert info.value.message == (
        f".gitops-release.yml: merge key {ascii('!!merge ' + key)[:57]}... at line 1: "
        "the policy does not accept YAML merge keys"
    )
