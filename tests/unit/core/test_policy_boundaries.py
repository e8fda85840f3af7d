"""core/policy.py: shapes, limits and messages the broader tests leave open (written against
mutation-testing survivors, docs/testing.md): a source rule without ``containers``, a duplicate
key after a ``<<`` merge, the 160-character cut of a schema message, JSON-pointer escaping, and
each refusal's exact text and fix."""

from __future__ import annotations

import pytest

from gitops_release.core.policy import DEFAULT_POLICY, SourceRule, check_release, load_policy, parse_yaml
from gitops_release.core.release import Release, Source
from gitops_release.errors import ConfigError, PolicyError

SHA = "0" * 40
DIGEST = "sha256:" + "c" * 64
OTHER_DIGEST = "sha256:" + "d" * 64
CHANNEL_FIX = "use one of dev, stage, prod or add it to channels"

POLICY = """\
channels: [dev, stage, prod]
sources:
  - repository: org/my-app
    containers: [my-app, my-app-*]
    images: [ghcr.io/org/my-app]
  - repository: org/my-app
    containers: [tool]
    images: [ghcr.io/org/my-app]
    channels: [dev]
tags:
  requireDigest: [prod]
  prereleaseChannels: []
"""


def rel(
    container: str = "my-app",
    channel: str = "dev",
    tag: str = "1.2.3",
    digest: str | None = DIGEST,
    repo: str = "org/my-app",
) -> Release:
    return Release(container, channel, "ghcr.io/org/my-app", tag, digest, Source(repo, SHA))


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_policy(text, path="p.yml")
    return info.value


def policy_error(release: Release, current: Release | None = None, policy: str = POLICY) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        check_release(load_policy(policy), release, current)
    return info.value


# -- shapes ------------------------------------------------------------------------------------


def test_a_source_rule_without_containers_allows_every_container_on_every_channel() -> None:
    policy = load_policy("sources:\n  - repository: org/app\n    images: ['**']\n")
    (rule,) = policy.sources or ()
    assert (rule.repository, rule.containers, rule.channels) == ("org/app", ("*",), None)
    check_release(policy, rel(container="anything", channel="prod", repo="org/app"), None)


def test_repository_globs_match_case_insensitively_both_ways() -> None:
    rule = SourceRule("Org/App-*", ("*",), None)
    assert rule.matches_repository("org/app-web")
    assert rule.matches_repository("ORG/APP-WEB")
    assert not rule.matches_repository("org/other")


def test_a_duplicate_key_after_a_merge_key_is_refused() -> None:
    text = "base: &b {immutable: true}\ntags:\n  <<: *b\n  allowDowngrade: false\n  allowDowngrade: true\n"
    with pytest.raises(ConfigError) as info:
        parse_yaml(text, path="p.yml")
    assert info.value.message.startswith("p.yml: ")


def test_a_duplicate_key_names_both_lines_and_the_fix() -> None:
    error = config_error("tags:\n  immutable: true\n  immutable: false\n")
    assert error.message == (
        "p.yml: duplicate key 'immutable' (lines 2 and 3) in one mapping: "
        "YAML would silently keep only the last one"
    )
    assert error.fix == "give each key once per mapping (merge the two entries into one)"


def test_a_yaml_syntax_error_names_line_and_column() -> None:
    error = config_error("channels: [dev\n")
    assert (
        error.message
        == "p.yml: is not valid YAML (expected ',' or ']', but got '<stream end>' at line 2 column 1)"
    )
    assert error.fix == "fix the YAML syntax"


def test_a_top_level_that_is_not_a_mapping_is_refused() -> None:
    error = config_error("- a\n- b\n")
    assert error.message == "p.yml: / must be a mapping of keys, not ['a', 'b']"
    assert error.fix == "see docs/release-db.md"


# -- schema messages ---------------------------------------------------------------------------


def test_a_long_value_is_cut_to_60_characters_and_the_reason_is_kept() -> None:
    # The value in front of a schema message is cut; the reason after it never is.
    short = config_error("channels: " + "a" * 56).message.removeprefix("p.yml: /channels: ")
    assert short == "'" + "a" * 56 + "' is not of type 'array'"
    cut = config_error("channels: " + "a" * 136).message.removeprefix("p.yml: /channels: ")
    assert cut == "'" + "a" * 56 + "... is not of type 'array'"
    assert config_error("channels: a").fix == "correct it as described in docs/release-db.md"


def test_a_key_with_slash_or_tilde_is_escaped_as_a_json_pointer() -> None:
    error = config_error("a/b~c: 1")
    assert error.message.startswith("p.yml: /a~1b~0c ")
    assert "channels, sources, tags, overlays" in (error.fix or "")


def test_a_pattern_refusal_shows_the_value_and_the_rule_as_the_fix() -> None:
    error = config_error("overlays:\n  dir: ../outside\n")
    assert error.message == "p.yml: /overlays/dir: '../outside' is not allowed"
    assert (error.fix or "").startswith("use a relative directory (no .. or leading /)")


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        ("sources:\n  - repository: org/app\n    channels: [dev, qa]\n", "/sources/0/channels/1"),
        ("tags:\n  prereleaseChannels: [qa]\n", "/tags/prereleaseChannels/0"),
        ("tags:\n  requireDigest: [dev, qa]\n", "/tags/requireDigest/1"),
    ],
)
def test_an_unknown_channel_is_named_with_its_pointer(text: str, pointer: str) -> None:
    error = config_error(text)
    assert error.message == f"p.yml: {pointer} names channel 'qa', which is not in /channels"
    assert error.fix == CHANNEL_FIX


def test_an_overlay_environment_of_an_unknown_channel_is_refused() -> None:
    error = config_error("overlays:\n  environments: {qa: x}\n")
    assert error.message == "p.yml: /overlays/environments/qa is not a channel in /channels"
    assert error.fix == "map only dev, stage, prod"


# -- check_release -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("release", "message", "fix"),
    [
        (
            rel(channel="qa"),
            "payload.channel 'qa' is not a channel of this repository (dev, stage, prod)",
            "send one of the configured channels or add it to channels in .gitops-release.yml",
        ),
        (
            rel(repo="evil/x"),
            "payload.source.repository 'evil/x' is not an allowed source (policy sources)",
            "add it under sources in .gitops-release.yml, or dispatch from an allowed repository",
        ),
        (
            rel(container="db"),
            "payload.container 'db' may not be updated by 'org/my-app' (allowed: my-app, my-app-*, tool)",
            "add the container to that source's containers in .gitops-release.yml",
        ),
        (
            rel(container="tool", channel="prod"),
            "payload.channel 'prod' may not be updated by 'org/my-app' for container 'tool'",
            "add the channel to that source's channels in .gitops-release.yml",
        ),
        (
            rel(channel="prod", digest=None),
            "payload.digest is missing: channel 'prod' requires a digest (tags.requireDigest)",
            "send the image digest (sha256:...) from the build's push step",
        ),
        (
            rel(tag="1.4.0-rc.1"),
            "payload.tag '1.4.0-rc.1' is a pre-release and channel 'dev' accepts only releases "
            "(pre-release channels: none)",
            "ship a final version (without -rc/-beta) or add the channel to tags.prereleaseChannels",
        ),
    ],
)
def test_each_refusal_says_what_and_how_to_fix(release: Release, message: str, fix: str) -> None:
    error = policy_error(release)
    assert error.message == message
    assert error.fix == fix


def test_a_second_rule_for_the_same_repository_can_allow_the_channel() -> None:
    check_release(load_policy(POLICY), rel(container="tool", channel="dev"), None)
    check_release(load_policy(POLICY), rel(container="my-app-worker", channel="prod"), None)


def test_a_pre_release_names_the_channels_that_take_it() -> None:
    error = policy_error(rel(channel="prod", tag="1.4.0-rc.1"), policy="")
    assert error.message.endswith("(pre-release channels: dev, stage)")


def test_a_moved_tag_shows_both_digests_cut_to_19_characters() -> None:
    error = policy_error(rel(channel="prod", digest=OTHER_DIGEST), rel(channel="prod"), policy="")
    assert error.message == (
        "payload.tag '1.2.3' already points to digest sha256:cccccccccccc... on my-app/prod, "
        "this release to sha256:dddddddddddd...: a tag that moves is mutable (tags.immutable is true)"
    )
    assert error.fix == (
        "give the new build a new tag (a new version or sha-<commit>); "
        "to deploy the old image again, send its digest"
    )


def test_a_downgrade_names_both_versions_and_the_input_that_allows_it() -> None:
    with pytest.raises(PolicyError) as info:
        check_release(DEFAULT_POLICY, rel(tag="1.2.2"), rel(), field="payload.releases[2]")
    assert info.value.message.startswith(
        "payload.releases[2].tag '1.2.2' is lower than '1.2.3' on my-app/dev: downgrades are refused"
    )
    assert "allow-downgrade: true" in (info.value.fix or "")
    assert "tags.allowDowngrade" in (info.value.fix or "")


def test_the_default_path_is_the_policy_file_name() -> None:
    with pytest.raises(ConfigError) as info:
        load_policy("channel: [dev]\n")
    assert info.value.message.startswith(".gitops-release.yml: /channel ")


def test_text_yaml_cannot_read_at_all_is_invalid_yaml() -> None:
    # A NUL is a reader error: PyYAML gives it neither a problem nor a mark.
    error = config_error("a: \x00")
    assert error.message == "p.yml: is not valid YAML (invalid YAML)"
    assert error.fix == "fix the YAML syntax"


def test_a_mapping_of_the_wrong_type_is_not_read_as_unknown_keys() -> None:
    error = config_error("channels: {a: 1}")
    assert error.message == "p.yml: /channels: {'a': 1} is not of type 'array'"


@pytest.mark.parametrize("depth", [900, 30000])  # deep for the schema check, deep for the YAML parser
def test_nesting_too_deep_names_the_file_and_says_how_deep_a_policy_is(depth: int) -> None:
    error = config_error("channels: " + "[" * depth + "]" * depth)
    assert error.message == "p.yml: is nested too deeply (lists or mappings hundreds of levels deep)"
    assert error.fix == "the policy is a few levels deep: see docs/release-db.md"


def test_the_downgrade_refusal_word_for_word() -> None:
    with pytest.raises(PolicyError) as info:
        check_release(DEFAULT_POLICY, rel(tag="1.2.2"), rel())
    assert (
        info.value.message
        == "payload.tag '1.2.2' is lower than '1.2.3' on my-app/dev: downgrades are refused"
    )
    assert info.value.fix == (
        "ship a higher version; to roll back on purpose, run update-db with this release and "
        "allow-downgrade: true (workflow_dispatch or the CLI: a dispatch's payload cannot set it) "
        "or git revert the commit that moved the channel; tags.allowDowngrade: true in the policy "
        "accepts every downgrade"
    )
