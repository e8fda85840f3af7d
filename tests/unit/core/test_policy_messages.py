"""core/policy.py: every refusal's exact text and fix, the YAML loader's errors as PyYAML reports
them, the bounds on their boundaries and the shapes the broader tests leave open (written
against mutation-testing survivors, docs/testing.md)."""

# The expected texts stay one line each, as users read them in an ::error line.
# ruff: noqa: E501

from __future__ import annotations

import datetime
import io

import pytest
import yaml
from jsonschema.exceptions import ValidationError

from gitops_release.core.policy import (
    MAX_POLICY_CHARS,
    Policy,
    SourceRule,
    StrictSafeLoader,
    _first_repeated,
    _schema_error,
    check_image_owner,
    check_release,
    exact_images,
    load_policy,
    parse_yaml,
)
from gitops_release.core.release import Release, Source
from gitops_release.errors import ConfigError, PolicyError

SHA = "0" * 40
IMAGES_FIX = (
    "use an image repository or glob without tag or digest: lowercase letters, digits, . _ - / * ?, "
    "and : only before a registry's port (localhost:5000/app)"
)


def rel(
    container: str = "app",
    channel: str = "dev",
    image: str = "ghcr.io/org/app",
    repo: str = "org/app",
    tag: str = "1.2.3",
    built_at: str | None = None,
) -> Release:
    return Release(container, channel, image, tag, None, Source(repo, SHA, built_at=built_at))


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_policy(text, path="p.yml")
    return info.value


def policy_error(policy: str, release: Release, sender: str | None = None, **kw: object) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        check_release(load_policy(policy), release, None, sender=sender, **kw)  # type: ignore[arg-type]
    return info.value


# -- SourceRule.matches: every part must match -------------------------------------------------

RULE = SourceRule("org/app", ("app",), ("dev",), ("ghcr.io/org/app",), ("bot",))


@pytest.mark.parametrize(
    ("release", "sender", "matches"),
    [
        (rel(), "bot", True),
        (rel(repo="org/other"), "bot", False),  # only the repository differs
        (rel(), "mallory", False),  # only the sender
        (rel(), None, False),
        (rel(container="other"), "bot", False),  # only the container
        (rel(channel="prod"), "bot", False),  # only the channel
    ],
)
def test_a_rule_matches_only_when_repository_sender_container_and_channel_all_do(
    release: Release, sender: str | None, matches: bool
) -> None:
    assert RULE.matches(release, sender) is matches


# -- the schema's messages ---------------------------------------------------------------------


def _required_error(message: str) -> ValidationError:
    # A message the schema writes without the instance in front (like "'x' is a required property").
    return ValidationError(message, validator="required", instance={}, path=["sources", 0], schema={})


@pytest.mark.parametrize(
    ("length", "shown"),
    [(159, "m" * 159), (160, "m" * 160), (161, "m" * 157 + "..."), (300, "m" * 157 + "...")],
)
def test_a_schema_message_without_the_value_in_front_is_cut_after_160_characters(
    length: int, shown: str
) -> None:
    error = _schema_error("p.yml", _required_error("m" * length))
    assert error.message == f"p.yml: /sources/0: {shown}"
    assert error.fix == "correct it as described in docs/release-db.md"


@pytest.mark.parametrize(
    "entry",
    [
        "ghcr.io/org:x/app",  # a : before the last path component is no tag
        "Ghcr.io/Org/App:v1",  # with its tag cut off, still not a repository
    ],
)
def test_an_images_entry_that_is_no_repository_with_a_tag_is_not_allowed(entry: str) -> None:
    error = config_error(f"sources:\n  - repository: org/app\n    images: ['{entry}']\n")
    assert error.message == f"p.yml: /sources/0/images/0: {entry!r} is not allowed"
    assert error.fix == IMAGES_FIX


@pytest.mark.parametrize(
    ("entry", "kind", "reference", "repository"),
    [
        ("ghcr.io/org/app:v1", "tag", ":v1", "ghcr.io/org/app"),
        ("ghcr.io/org/app@sha256:abc", "digest", "@sha256:abc", "ghcr.io/org/app"),
        ("localhost:5000/app:v1@sha256:abc", "tag and digest", ":v1@sha256:abc", "localhost:5000/app"),
        # two @: the repository ends at the first
        ("ghcr.io/org/app@sha256:abc@x", "digest", "@sha256:abc@x", "ghcr.io/org/app"),
        # the tag starts at the first : of the last component
        ("ghcr.io/org/app:v1:x", "tag", ":v1:x", "ghcr.io/org/app"),
    ],
)
def test_an_images_entry_with_a_tag_or_digest_names_it(
    entry: str, kind: str, reference: str, repository: str
) -> None:
    error = config_error(f"sources:\n  - repository: org/app\n    images: ['{entry}']\n")
    assert error.message == (
        f"p.yml: /sources/0/images/0: {entry!r} has a {kind} ({reference!r}): images lists repositories "
        "without tag or digest (a release's image has none), so it would match no release"
    )
    assert error.fix == f"write {repository}; a registry's port is fine (localhost:5000/app)"


def test_an_overlong_images_entry_with_a_tag_is_refused_for_its_length() -> None:
    # maxLength, not pattern: the tag is not looked for (the entry is too long either way).
    entry = "ghcr.io/org/" + "a" * 250 + ":v1"
    error = _schema_error(
        "p.yml",
        ValidationError(
            f"{entry!r} is too long",
            validator="maxLength",
            instance=entry,
            path=["sources", 0, "images", 0],
            schema={"maxLength": 255, "pattern": "^[a-z0-9./:-]*$"},
        ),
    )
    assert error.message == f"p.yml: /sources/0/images/0: '{entry[:56]}... is too long"


def test_first_repeated_names_the_first_element_given_again() -> None:
    assert _first_repeated(["a", "b", "a"]) == " ('a' is listed more than once)"
    assert _first_repeated(["a", "b"]) == ""
    assert _first_repeated([]) == ""
    # Objects are the same whatever their key order (as JSON Schema's uniqueItems says).
    assert (
        _first_repeated([{"x": 1, "y": 2}, {"y": 2, "x": 1}])
        == " ({'y': 2, 'x': 1} is listed more than once)"
    )
    # YAML values JSON cannot write (a date) are compared by their repr.
    day = datetime.date(2026, 1, 28)
    assert _first_repeated([day, day]) == " (datetime.date(2026, 1, 28) is listed more than once)"
    # Only a list has elements to repeat (uniqueItems' instance is always one).
    assert _first_repeated("aa") == ""


# -- the YAML loader ---------------------------------------------------------------------------


def test_a_merge_key_is_a_constructor_error_with_both_marks() -> None:
    with pytest.raises(yaml.constructor.ConstructorError) as info:
        yaml.load("a: 1\nb:\n  c: 1\n  <<: {d: 1}\n", Loader=StrictSafeLoader)  # noqa: S506
    assert str(info.value) == (
        "while constructing a mapping\n"
        '  in "<unicode string>", line 3, column 3:\n'
        "      c: 1\n"
        "      ^\n"
        "merge key '<<' at line 4\n"
        '  in "<unicode string>", line 4, column 3:\n'
        "      <<: {d: 1}\n"
        "      ^"
    )


def test_a_duplicate_key_is_a_constructor_error_with_both_marks() -> None:
    with pytest.raises(yaml.constructor.ConstructorError) as info:
        yaml.load("top:\n  a: 1\n  b: 2\n  a: 3\n", Loader=StrictSafeLoader)  # noqa: S506
    assert str(info.value) == (
        "while constructing a mapping\n"
        '  in "<unicode string>", line 2, column 3:\n'
        "      a: 1\n"
        "      ^\n"
        "duplicate key 'a' (lines 2 and 4)\n"
        '  in "<unicode string>", line 4, column 3:\n'
        "      a: 3\n"
        "      ^"
    )


def test_a_duplicate_after_a_key_that_is_no_scalar_is_still_found() -> None:
    with pytest.raises(ConfigError) as info:
        parse_yaml("? [a]\n: 1\nb: 1\nb: 2\n", path="p.yml")
    assert info.value.message == (
        "p.yml: duplicate key 'b' (lines 3 and 4) in one mapping: YAML would silently keep only the last one"
    )


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("a: 1\n<<: {b: 2}\n", "'<<'"),
        ("a: 1\n? !!merge [b]\n: 2\n", "'tag:yaml.org,2002:merge'"),  # no text to show: the tag
    ],
)
def test_a_merge_key_read_from_a_stream_is_named_by_its_value_or_tag(text: str, written: str) -> None:
    # Marks of a stream (not a string) carry no buffer: the node's own value or tag is shown.
    with pytest.raises(yaml.constructor.ConstructorError) as info:
        yaml.load(io.StringIO(text), Loader=StrictSafeLoader)  # noqa: S506
    assert info.value.problem == f"merge key {written} at line 2"


def test_too_many_aliases_names_the_line_of_the_first_one_beyond_the_bound() -> None:
    text = "a: &a x\nb:\n" + "".join("  - *a\n" for _ in range(101))
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, path="p.yml")
    assert info.value.message == "p.yml: uses more than 100 YAML aliases (line 103)"
    assert info.value.fix == "write the values out instead of using YAML anchors and aliases (&name / *name)"


def test_aliases_standing_for_too_many_values_have_no_line() -> None:
    text = "a: &a [" + ",".join(["x"] * 100) + "]\nb: [" + ",".join(["*a"] * 100) + "]\n"
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, path="p.yml")
    assert info.value.message == (
        "p.yml: has YAML aliases standing for 10,100 values (at most 10,000 are accepted)"
    )


def test_a_policy_of_exactly_the_size_limit_is_read_one_more_character_is_refused() -> None:
    # A tab cannot start a token: PyYAML stops at once, so the text is read, not refused for size.
    at_limit = "\t" + "x" * (MAX_POLICY_CHARS - 1)
    with pytest.raises(ConfigError, match=r"^p\.yml: is not valid YAML \(found character"):
        parse_yaml(at_limit, path="p.yml")
    with pytest.raises(ConfigError) as info:
        parse_yaml(at_limit + "x", path="p.yml")
    assert info.value.message == "p.yml: is 1,000,001 characters long (a policy is at most 1,000,000)"
    assert info.value.fix == "the policy is a few lines per source repository: see docs/release-db.md"


# -- overlays ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlays", ["apps: {worker: web}", "dir: apps/overlays\n  apps: {worker: web}"])
def test_apps_without_a_star_in_dir_is_refused(overlays: str) -> None:
    error = config_error(f"overlays:\n  {overlays}\n")
    assert error.message == (
        "p.yml: /overlays/apps maps containers to the name that replaces * in /overlays/dir, but dir has no *"
    )
    assert error.fix == (
        "write dir with a * (apps/*/overlays) or remove apps: without a *, every container already "
        "shares one overlay per environment"
    )


# -- check_release ------------------------------------------------------------------------------

ANY_IMAGE = "sources:\n  - repository: org/app\n    images: ['**']\n"


def test_a_stale_build_is_named_with_the_callers_field() -> None:
    current = rel(tag="sha-bbbbbbbb", built_at="2026-01-28T10:30:00Z")
    stale = rel(tag="sha-aaaaaaaa", built_at="2026-01-28T10:00:00Z")
    with pytest.raises(PolicyError) as info:
        check_release(load_policy(ANY_IMAGE), stale, current, field="payload.releases[1]")
    assert info.value.message.startswith(
        "payload.releases[1].source.builtAt 2026-01-28T10:00:00Z is older than the build on app/dev"
    )


SENDERS = "sources:\n  - repository: org/app\n    images: [ghcr.io/org/app]\n    senders: ['app-release[bot]', deployer]\n"


def test_no_sender_for_a_source_that_lists_senders() -> None:
    error = policy_error(SENDERS, rel(), None)
    assert error.message == (
        "sender unknown: releases from 'org/app' may be sent only by app-release[bot], deployer (policy "
        "sources[].senders), and this run has no repository_dispatch event naming its sender"
    )
    assert error.fix == (
        "run update-db on: repository_dispatch (GitHub names the sender in the event), or remove "
        "senders from that source in .gitops-release.yml"
    )


def test_a_sender_not_listed() -> None:
    error = policy_error(SENDERS, rel(), "mallory")
    assert error.message == (
        "sender 'mallory' (the repository_dispatch event's sender.login) may not send releases from "
        "'org/app' (allowed senders: app-release[bot], deployer)"
    )
    assert error.fix == (
        "dispatch with that source's own GitHub App or token, or add the sender under that source's "
        "senders in .gitops-release.yml"
    )


def test_a_source_without_images() -> None:
    error = policy_error("sources:\n  - repository: org/app\n", rel(), None)
    assert error.message == (
        "payload.image 'ghcr.io/org/app' is not allowed: the policy's sources entry for 'org/app' lists "
        "no images, and a source without images may release none"
    )
    assert error.fix == (
        "add images: [ghcr.io/org/app] to that source in .gitops-release.yml if that is the container's "
        "image (globs: * within a path component, ** across; see docs/security.md)"
    )


def test_an_image_not_listed() -> None:
    policy = "sources:\n  - repository: org/app\n    images: [ghcr.io/org/app, ghcr.io/org/app-*]\n"
    error = policy_error(policy, rel(image="ghcr.io/evil/app"), None, field="payload.releases[0]")
    assert error.message == (
        "payload.releases[0].image 'ghcr.io/evil/app' is not an allowed image for container 'app' from "
        "'org/app' (allowed: ghcr.io/org/app, ghcr.io/org/app-*)"
    )
    assert error.fix == (
        "send the container's own image, or add the image to that source's images in .gitops-release.yml"
    )


# -- image ownership ---------------------------------------------------------------------------


def test_exact_images_come_only_from_rules_that_let_this_sender_update_the_release() -> None:
    policy = load_policy(
        "sources:\n"
        "  - repository: org/app\n    images: [ghcr.io/org/app, 'ghcr.io/org/app-*']\n    senders: [bot]\n"
        "  - repository: org/app\n    images: [ghcr.io/org/other]\n    senders: [someone]\n"
    )
    assert exact_images(policy, rel(), "bot") == frozenset({"ghcr.io/org/app"})
    assert exact_images(policy, rel(), "someone") == frozenset({"ghcr.io/org/other"})
    assert exact_images(policy, rel(), None) == frozenset()


def test_an_image_without_a_path_is_its_own_last_component() -> None:
    policy = Policy(sources=(SourceRule("org/app", ("*",), None, ("app", "web")),))
    assert exact_images(policy, rel(image="app"), None, known=("app", "web")) == frozenset({"app"})
    check_image_owner(policy, rel(image="app"), {})
    with pytest.raises(PolicyError, match="is named after container 'web'"):
        check_image_owner(policy, rel(image="web"), {"web": frozenset()})


def test_another_containers_recorded_image_word_for_word() -> None:
    with pytest.raises(PolicyError) as info:
        check_image_owner(
            Policy(),
            rel(image="ghcr.io/org/web"),
            {"web": frozenset({"ghcr.io/org/web"})},
            field="payload.releases[1]",
        )
    assert info.value.message == (
        "payload.releases[1].image 'ghcr.io/org/web' is the image of container 'web' (in db.json or in "
        "this payload), not of container 'app': a release carries only its own container's image"
    )
    assert info.value.fix == (
        "send container 'app''s own image; to ship 'web', send a release with container: 'web' (from "
        "the source the policy allows for it)"
    )


def test_an_image_named_after_another_container_word_for_word() -> None:
    with pytest.raises(PolicyError) as info:
        check_image_owner(Policy(), rel(image="ghcr.io/org/web"), {"web": frozenset({"ghcr.io/org/web-v2"})})
    assert info.value.message == (
        "payload.image 'ghcr.io/org/web' is named after container 'web', not 'app': another container's "
        "image is never released as this one's"
    )
    assert info.value.fix == (
        "send container 'app''s own image; to ship 'web', send a release with container: 'web' (from "
        "the source the policy allows for it); an image whose last path component names a container "
        "(policy sources[].containers or db.json) belongs to that container"
    )
