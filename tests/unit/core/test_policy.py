"""core/policy.py: .gitops-release.yml parsing and the checks on a release."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_release.core.policy import DEFAULT_POLICY, Policy, SourceRule, check_release, load_policy
from gitops_release.core.release import Release, Source
from gitops_release.errors import ConfigError, PolicyError

SHA = "0" * 40
DIGEST = "sha256:" + "c" * 64
TEMPLATE = Path(__file__).resolve().parents[3] / "templates" / "config-repo" / ".gitops-release.yml"

FULL = """\
# policy
channels: [dev, stage, prod, eu-prod]
sources:
  - repository: org/my-app
    containers: [my-app, my-app-worker]
    images: [ghcr.io/org/my-app, ghcr.io/org/my-app-worker]
  - repository: Org/tools-*
    containers: ["tool-*"]
    channels: [dev]
    images: ["ghcr.io/org/tool-*"]
tags:
  immutable: true
  requireDigest: [prod, eu-prod]
  prereleaseChannels: [dev]
  allowDowngrade: false
overlays:
  dir: apps/*/overlays
  environments: {dev: development, prod: production}
"""


def rel(
    *,
    container: str = "my-app",
    channel: str = "dev",
    tag: str = "1.2.3",
    digest: str | None = DIGEST,
    repo: str = "org/my-app",
    image: str | None = None,
) -> Release:
    image = image or f"ghcr.io/org/{container}"
    return Release(container, channel, image, tag, digest, Source(repo, SHA))


def test_absent_and_empty_files_give_the_defaults() -> None:
    assert load_policy(None) is DEFAULT_POLICY
    assert load_policy("") == DEFAULT_POLICY
    assert load_policy("# nothing yet\n") == DEFAULT_POLICY
    assert DEFAULT_POLICY == Policy(
        channels=("dev", "stage", "prod"),
        sources=None,
        immutable_tags=True,
        require_digest=(),
        prerelease_channels=("dev", "stage"),
        allow_downgrade=False,
        overlays_dir=None,
    )
    assert DEFAULT_POLICY.overlay_for("stage") == "stage"


def test_full_policy() -> None:
    policy = load_policy(FULL)
    assert policy.channels == ("dev", "stage", "prod", "eu-prod")
    assert policy.sources == (
        SourceRule(
            "org/my-app",
            ("my-app", "my-app-worker"),
            None,
            ("ghcr.io/org/my-app", "ghcr.io/org/my-app-worker"),
        ),
        SourceRule("Org/tools-*", ("tool-*",), ("dev",), ("ghcr.io/org/tool-*",)),
    )
    assert policy.require_digest == ("prod", "eu-prod")
    assert policy.prerelease_channels == ("dev",)
    assert policy.overlays_dir == "apps/*/overlays"
    assert policy.overlay_for("prod") == "production" and policy.overlay_for("stage") == "stage"


def test_the_shipped_template_is_valid() -> None:
    policy = load_policy(TEMPLATE.read_text())
    assert policy.sources is not None and policy.require_digest == ("prod",)


def test_prerelease_default_follows_custom_channels() -> None:
    assert load_policy("channels: [dev, prod]").prerelease_channels == ("dev",)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("channels: [dev\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("channel: [dev]\n", "/channel is not a known key"),
        ("tags:\n  immutable: yes please\n", "/tags/immutable"),
        ("tags:\n  requiredigest: [prod]\n", "/tags/requiredigest is not a known key"),
        ("channels: []\n", "/channels"),
        ("channels: [Dev]\n", "/channels/0"),
        ("sources:\n  - containers: [a]\n", "/sources/0"),
        (
            "sources:\n  - repository: org/app\n    channels: [qa]\n",
            "/sources/0/channels/0 names channel 'qa'",
        ),
        ("tags:\n  requireDigest: [qa]\n", "/tags/requireDigest/0"),
        ("overlays:\n  dir: ../outside\n", "/overlays/dir"),
        ("overlays:\n  environments: {qa: qa}\n", "/overlays/environments/qa"),
        ("overlays:\n  environments: {dev: ../x}\n", "/overlays/environments/dev"),
    ],
)
def test_invalid_policy_names_path_and_pointer(text: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy(text, path="cfg/.gitops-release.yml")
    message = info.value.message
    assert message.startswith("cfg/.gitops-release.yml: ")
    assert words in message
    assert info.value.fix
    assert "\n" not in info.value.one_line()


def test_accepts_a_good_release() -> None:
    check_release(load_policy(FULL), rel(channel="prod"), None)
    check_release(load_policy(FULL), rel(container="tool-x", repo="org/TOOLS-cli"), None)


@pytest.mark.parametrize(
    ("release", "words"),
    [
        (rel(channel="qa"), "payload.channel 'qa' is not a channel"),
        (rel(repo="evil/my-app"), "payload.source.repository 'evil/my-app' is not an allowed source"),
        (rel(container="db"), "payload.container 'db' may not be updated by 'org/my-app'"),
        (
            rel(container="tool-x", repo="org/tools-cli", channel="prod"),
            "payload.channel 'prod' may not be updated",
        ),
        (rel(tag="latest"), "payload.tag 'latest' is a mutable tag"),
        (rel(tag="v1"), "floating version tag"),
        (rel(channel="prod", digest=None), "payload.digest is missing"),
        (rel(channel="stage", tag="1.4.0-rc.1"), "is a pre-release"),
    ],
)
def test_refusals(release: Release, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        check_release(load_policy(FULL), release, None)
    assert words in info.value.message
    assert info.value.fix


def test_prerelease_into_prod_is_refused_by_default() -> None:
    check_release(DEFAULT_POLICY, rel(channel="stage", tag="1.4.0-rc.1"), None)
    with pytest.raises(PolicyError, match="pre-release"):
        check_release(DEFAULT_POLICY, rel(channel="prod", tag="1.4.0-rc.1"), None)


def test_downgrade() -> None:
    current = rel(tag="1.3.0")
    with pytest.raises(PolicyError, match="downgrades are refused") as info:
        check_release(DEFAULT_POLICY, rel(tag="1.2.9"), current)
    # promote-overlay does not exist yet: the fix says what works today.
    assert "promote-overlay" not in info.value.one_line()
    assert "run update-db with this release and allow-downgrade: true" in (info.value.fix or "")
    check_release(DEFAULT_POLICY, rel(tag="1.2.9"), current, allow_downgrade=True)
    check_release(load_policy("tags: {allowDowngrade: true}"), rel(tag="1.2.9"), current)
    check_release(DEFAULT_POLICY, rel(tag="1.3.0"), current)  # same version again
    check_release(DEFAULT_POLICY, rel(tag="sha-1a2b3c4d"), current)  # not comparable: allowed


def stamped(tag: str, built_at: str, sha: str = SHA) -> Release:
    return Release(
        "my-app", "dev", "ghcr.io/org/my-app", tag, DIGEST, Source("org/my-app", sha, built_at=built_at)
    )


def test_a_stale_build_is_refused_like_a_downgrade() -> None:
    """Tags that do not order the releases (sha-…): the build times do, with the same override."""
    current = stamped("sha-bbbbbbbb", "2026-01-28T10:30:00Z", sha="b" * 40)
    stale = stamped("sha-aaaaaaaa", "2026-01-28T10:00:00Z")
    with pytest.raises(PolicyError, match=r"payload\.source\.builtAt 2026-01-28T10:00:00Z is older"):
        check_release(DEFAULT_POLICY, stale, current)
    check_release(DEFAULT_POLICY, stale, current, allow_downgrade=True)
    check_release(load_policy("tags: {allowDowngrade: true}"), stale, current)
    check_release(DEFAULT_POLICY, stamped("sha-cccccccc", "2026-01-28T11:00:00Z"), current)
    # Semver tags decide when they order the two: a higher version built earlier is accepted, a
    # lower one built later is a downgrade; equal precedence falls back to the build times.
    check_release(
        DEFAULT_POLICY, stamped("1.3.0", "2026-01-01T00:00:00Z"), stamped("1.2.0", "2026-02-01T00:00:00Z")
    )
    with pytest.raises(PolicyError, match="downgrades are refused"):
        check_release(
            DEFAULT_POLICY, stamped("1.2.0", "2026-02-01T00:00:00Z"), stamped("1.3.0", "2026-01-01T00:00:00Z")
        )
    with pytest.raises(PolicyError, match="is older"):
        check_release(
            DEFAULT_POLICY,
            stamped("v1.3.0", "2026-01-01T00:00:00Z"),
            stamped("1.3.0", "2026-02-01T00:00:00Z"),
        )


# The fixes of a refused downgrade / stale build (review finding 6): allow-downgrade is an input
# of update-db, never a payload field, and a run that sets it has no repository_dispatch sender.
FIX_WITHOUT_SENDERS = (
    "run update-db with this release and allow-downgrade: true (workflow_dispatch or the CLI: a "
    "dispatch's payload cannot set it) or git revert the commit that moved the channel; "
    "tags.allowDowngrade: true in the policy accepts every downgrade"
)
FIX_WITH_SENDERS = (
    "git revert the commit that moved the channel: a dispatch's payload cannot set allow-downgrade, "
    "and this source lists senders, so update-db run by hand (workflow_dispatch, the CLI) has no "
    "repository_dispatch sender and is refused"
)
WITH_SENDERS = """\
sources:
  - repository: org/my-app
    images: [ghcr.io/org/my-app]
    senders: ["my-app-release[bot]"]
"""
BOT = "my-app-release[bot]"


def test_the_downgrade_fix_names_a_way_that_works_with_and_without_senders() -> None:
    current, older = rel(tag="1.2.0"), rel(tag="1.1.0")
    lead = "ship a higher version; to roll back on purpose, "
    with pytest.raises(PolicyError) as info:
        check_release(DEFAULT_POLICY, older, current)
    assert info.value.fix == lead + FIX_WITHOUT_SENDERS
    # The review's run: dispatched by the source's App, v1.1.0 after v1.2.0.
    with pytest.raises(PolicyError) as info:
        check_release(load_policy(WITH_SENDERS), older, current, sender=BOT)
    assert info.value.message == (
        "payload.tag '1.1.0' is lower than '1.2.0' on my-app/dev: downgrades are refused"
    )
    assert info.value.fix == lead + FIX_WITH_SENDERS
    # A second rule for the source without senders would accept a run by hand: the input works.
    both = WITH_SENDERS + "  - repository: org/my-app\n    images: [ghcr.io/org/my-app]\n"
    with pytest.raises(PolicyError) as info:
        check_release(load_policy(both), older, current, sender=BOT)
    assert info.value.fix == lead + FIX_WITHOUT_SENDERS


def test_the_stale_build_fix_names_a_way_that_works_with_and_without_senders() -> None:
    current = stamped("sha-bbbbbbbb", "2026-01-28T10:30:00Z", sha="b" * 40)
    stale = stamped("sha-aaaaaaaa", "2026-01-28T10:00:00Z")
    lead = "nothing to do if the newer release should stay; to deploy this one anyway, "
    with pytest.raises(PolicyError) as info:
        check_release(DEFAULT_POLICY, stale, current)
    assert info.value.fix == lead + FIX_WITHOUT_SENDERS
    with pytest.raises(PolicyError) as info:
        check_release(load_policy(WITH_SENDERS), stale, current, sender=BOT)
    assert info.value.fix == lead + FIX_WITH_SENDERS


def test_mutable_tags_allowed_when_policy_says_so() -> None:
    check_release(load_policy("tags: {immutable: false}"), rel(tag="latest"), None)


def test_field_prefix_for_multi_release_payloads() -> None:
    with pytest.raises(PolicyError, match=r"payload\.releases\[1\]\.tag"):
        check_release(DEFAULT_POLICY, rel(tag="latest"), None, field="payload.releases[1]")


def test_duplicate_keys_are_refused_naming_key_and_lines() -> None:
    text = (
        "sources:\n"
        "  - repository: org/my-app\n"
        "channels: [dev, prod]\n"
        "sources:\n"  # would silently replace the allow-list above
        "  - repository: '*/*'\n"
    )
    with pytest.raises(ConfigError) as info:
        load_policy(text, path="cfg/.gitops-release.yml")
    message = info.value.message
    assert message.startswith("cfg/.gitops-release.yml: ")
    assert "duplicate key 'sources' (lines 1 and 4)" in message
    assert info.value.fix
    with pytest.raises(ConfigError, match="duplicate key 'immutable' \\(lines 2 and 3\\)"):
        load_policy("tags:\n  immutable: true\n  immutable: false\n")


@pytest.mark.parametrize("depth", [900, 30000])
def test_deeply_nested_policy_is_a_config_error_not_a_crash(depth: int) -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_policy("channels: " + "[" * depth + "]" * depth, path="p.yml")


def test_same_tag_with_another_digest_is_a_moved_tag() -> None:
    other = "sha256:" + "d" * 64
    current = rel(channel="prod", tag="1.2.3", digest=DIGEST)
    with pytest.raises(PolicyError) as info:
        check_release(DEFAULT_POLICY, rel(channel="prod", tag="1.2.3", digest=other), current)
    message = info.value.message
    assert "payload.tag '1.2.3' already points to digest sha256:cccccccccccc" in message
    assert "sha256:dddddddddddd" in message and "a tag that moves is mutable" in message
    assert info.value.fix
    # The same digest again, a digest missing on either side, a new tag, or mutable tags allowed: fine.
    check_release(DEFAULT_POLICY, rel(channel="prod", tag="1.2.3", digest=DIGEST), current)
    stage = rel(channel="stage", tag="1.2.3", digest=None)
    check_release(DEFAULT_POLICY, rel(channel="stage", tag="1.2.3", digest=other), stage)
    check_release(DEFAULT_POLICY, stage, rel(channel="stage"))
    check_release(DEFAULT_POLICY, rel(channel="prod", tag="1.2.4", digest=other), current)
    mutable_ok = load_policy("tags: {immutable: false}")
    check_release(mutable_ok, rel(channel="prod", tag="1.2.3", digest=other), current)


def test_a_tag_named_after_the_source_branch_is_refused() -> None:
    source = Source("org/my-app", SHA, "refs/heads/feature/x")
    branch = Release("my-app", "dev", "ghcr.io/org/my-app", "feature-x", DIGEST, source)
    with pytest.raises(PolicyError, match=r"payload\.tag 'feature-x' is named after the ref"):
        check_release(DEFAULT_POLICY, branch, None)
    check_release(load_policy("tags: {immutable: false}"), branch, None)


# -- schema messages (review finding 8) ------------------------------------------------------------


def test_a_long_duplicated_list_keeps_the_problem_and_cuts_the_list() -> None:
    # The 160-character cut used to drop "has non-unique elements" from the end of the message.
    images = [f"ghcr.io/org/my-app-{i}" for i in range(12)] + ["ghcr.io/org/my-app-3"]
    text = f"sources:\n  - repository: org/my-app\n    images: [{', '.join(images)}]\n"
    with pytest.raises(ConfigError) as info:
        load_policy(text)
    shown = ascii(images)[:57] + "..."
    assert info.value.message == (
        f".gitops-release.yml: /sources/0/images: {shown} has non-unique elements "
        "('ghcr.io/org/my-app-3' is listed more than once)"
    )
    channels = [f"channel-{i}" for i in range(20)] + ["channel-2"]
    with pytest.raises(ConfigError) as info:
        load_policy(f"channels: [{', '.join(channels)}]\n")
    assert info.value.message == (
        f".gitops-release.yml: /channels: {ascii(channels)[:57]}... has non-unique elements "
        "('channel-2' is listed more than once)"
    )


def test_a_long_value_of_the_wrong_type_is_cut_before_the_reason() -> None:
    with pytest.raises(ConfigError) as info:
        load_policy("tags:\n  immutable: " + "y" * 500 + "\n")
    assert info.value.message == (
        f".gitops-release.yml: /tags/immutable: '{'y' * 56}... is not of type 'boolean'"
    )


TAGGED = (
    "has a {kind} ({ref}): images lists repositories without tag or digest (a release's image "
    "has none), so it would match no release"
)
DIGEST_ENTRY = "ghcr.io/org/app@sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("entry", "shown", "kind", "ref", "repository"),
    [
        ("ghcr.io/org/app:v1", "'ghcr.io/org/app:v1'", "tag", "':v1'", "ghcr.io/org/app"),
        (
            DIGEST_ENTRY,
            "'ghcr.io/org/app@sha256:" + "a" * 33 + "...",
            "digest",
            "'@sha256:" + "a" * 48 + "...",
            "ghcr.io/org/app",
        ),
        (
            "ghcr.io/org/app:v1@sha256:abc",
            "'ghcr.io/org/app:v1@sha256:abc'",
            "tag and digest",
            "':v1@sha256:abc'",
            "ghcr.io/org/app",
        ),
        ("localhost:5000/app:1.0", "'localhost:5000/app:1.0'", "tag", "':1.0'", "localhost:5000/app"),
        ("ghcr.io/org/app-*:latest", "'ghcr.io/org/app-*:latest'", "tag", "':latest'", "ghcr.io/org/app-*"),
        ("localhost:5000", "'localhost:5000'", "tag", "':5000'", "localhost"),  # image localhost, tag 5000
    ],
)
def test_an_images_entry_with_a_tag_or_digest_is_refused(
    entry: str, shown: str, kind: str, ref: str, repository: str
) -> None:
    # Such an entry never matches a release's image (which has no tag), so every release was
    # refused with a confusing "allowed: ghcr.io/org/app:v1".
    text = f"sources:\n  - repository: org/app\n    images: [ghcr.io/org/other, '{entry}']\n"
    with pytest.raises(ConfigError) as info:
        load_policy(text)
    assert info.value.message == (
        f".gitops-release.yml: /sources/0/images/1: {shown} " + TAGGED.format(kind=kind, ref=ref)
    )
    assert info.value.fix == f"write {repository}; a registry's port is fine (localhost:5000/app)"


@pytest.mark.parametrize(
    "entry",
    ["localhost:5000/app", "ghcr.io:443/org/**", "registry.local:*/team/app", "**", "ghcr.io/org/app-?"],
)
def test_an_images_entry_may_name_a_registry_port(entry: str) -> None:
    policy = load_policy(f"sources:\n  - repository: org/app\n    images: ['{entry}']\n")
    assert policy.sources is not None and policy.sources[0].images == (entry,)


def test_the_shipped_schema_itself_refuses_tags_and_digests_in_images() -> None:
    from jsonschema import Draft202012Validator

    from gitops_release.core.policy import policy_schema

    validator = Draft202012Validator(policy_schema())

    def valid(image: str) -> bool:
        return validator.is_valid({"sources": [{"repository": "org/app", "images": [image]}]})

    assert valid("ghcr.io/org/app") and valid("localhost:5000/app")
    assert not valid("ghcr.io/org/app:v1") and not valid("ghcr.io/org/app@sha256:" + "a" * 64)
    assert not valid("localhost:5000") and not valid("ghcr.io/org:x/app") and not valid("a" * 256)
