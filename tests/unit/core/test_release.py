"""core/release.py: the release and payload validator shared by dispatch-update and update-db."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from gitops_release.core import release as rel
from gitops_release.core.release import (
    MAX_PAYLOAD_BYTES,
    Release,
    Source,
    check_dispatch_limits,
    parse_payload,
    parse_release,
    payload_json,
)
from gitops_release.errors import InputError, PolicyError

SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32


def valid(**changes: object) -> dict:
    data: dict = {
        "container": "my-app",
        "channel": "dev",
        "image": "ghcr.io/org/my-app",
        "tag": "sha-abc12345",
        "digest": DIGEST,
        "source": {
            "repository": "org/my-app",
            "sha": SHA,
            "ref": "refs/heads/main",
            "runUrl": "https://github.com/org/my-app/actions/runs/1",
        },
    }
    data.update(changes)
    return data


def error_for(obj: object) -> InputError:
    with pytest.raises(InputError) as info:
        parse_payload(obj)
    return info.value


def test_parse_release_round_trips_canonical_json() -> None:
    release = parse_release(valid())
    assert release == Release(
        "my-app",
        "dev",
        "ghcr.io/org/my-app",
        "sha-abc12345",
        DIGEST,
        Source("org/my-app", SHA, "refs/heads/main", "https://github.com/org/my-app/actions/runs/1"),
    )
    assert release.to_json() == valid()
    assert list(release.to_json()) == ["container", "channel", "image", "tag", "digest", "source"]
    assert list(release.to_json()["source"]) == ["repository", "sha", "ref", "runUrl"]
    assert release.key == ("my-app", "dev")
    assert release.reference == f"ghcr.io/org/my-app:sha-abc12345@{DIGEST}"


def test_optional_fields_are_omitted_and_updated_at_kept_last() -> None:
    data = valid(source={"repository": "org/my-app", "sha": SHA}, updatedAt="2026-01-28T10:30:00Z")
    del data["digest"]
    release = parse_release(data)
    assert release.digest is None and release.source.ref is None and release.source.run_url is None
    assert release.reference == "ghcr.io/org/my-app:sha-abc12345"
    assert list(release.to_json()) == ["container", "channel", "image", "tag", "source", "updatedAt"]
    assert release.to_json()["source"] == {"repository": "org/my-app", "sha": SHA}


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "library/nginx",
        "ghcr.io/org/my-app",
        "localhost:5000/team/app",
        "registry.example.com:443/a/b/c",
        "my-registry.io/a__b/c--d/e.f_g",
    ],
)
def test_images_accepted(image: str) -> None:
    assert parse_release(valid(image=image)).image == image


@pytest.mark.parametrize(
    ("field", "value", "path", "words"),
    [
        ("image", "ghcr.io/org/app:1.0", "payload.image", "not an image repository"),
        ("image", "ghcr.io/Org/app", "payload.image", "not an image repository"),
        ("image", "ghcr.io/org/app@" + DIGEST, "payload.image", "not an image repository"),
        ("image", "org//app", "payload.image", "not an image repository"),
        ("image", "a/" * 128 + "b", "payload.image", "at most 255"),
        ("container", "My-App", "payload.container", "not a container name"),
        ("container", "my-\u0430pp", "payload.container", "non-ASCII"),
        ("container", "../etc", "payload.container", "not a container name"),
        ("container", "app\n", "payload.container", "control character"),
        ("channel", "prod_eu", "payload.channel", "not a channel name"),
        ("tag", "-rc", "payload.tag", "not an image tag"),
        ("tag", "a" * 129, "payload.tag", "not an image tag"),
        ("tag", 123, "payload.tag", "must be a string, not a number"),
        ("tag", True, "payload.tag", "must be a string, not a boolean"),
        ("digest", "sha256:xyz", "payload.digest", "not a digest"),
        ("digest", None, "payload.digest", "not null"),
        ("source", "org/app", "payload.source", "must be a JSON object"),
    ],
)
def test_bad_fields_name_the_path(field: str, value: object, path: str, words: str) -> None:
    err = error_for(valid(**{field: value}))
    assert err.field == path
    assert words in err.message
    assert err.fix
    assert "\n" not in err.one_line()


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("repository", "org", "not a GitHub repository"),
        ("repository", "org/..", "not a GitHub repository"),
        ("repository", "-org/app", "not a GitHub repository"),
        ("repository", "o" * 40 + "/app", "not a GitHub repository"),
        ("sha", SHA.upper(), "not a commit SHA"),
        ("sha", SHA[:7], "not a commit SHA"),
        ("ref", "main", "not a git ref"),
        ("ref", "refs/heads/a..b", "not a git ref"),
        ("ref", "refs/heads/a b", "not a git ref"),
        ("ref", "refs/heads/feature/", "not a git ref"),
        ("ref", "refs/heads/x.lock", "not a git ref"),
        ("ref", "refs/heads/a//b", "not a git ref"),
        ("ref", "refs/heads/a~1", "not a git ref"),
        ("ref", "refs/heads/.hidden", "not a git ref"),
        ("ref", "refs/heads/a@{1}", "not a git ref"),
        ("ref", "refs/heads/" + "a" * 250, "at most 255"),
        ("runUrl", "http://github.com/x", "not an https URL"),
        ("runUrl", "https://github.com/a b", "not an https URL"),
        ("runUrl", "https://" + "a" * 2048, "at most 2048"),
        ("runUrl", "https://../github.com/x", "not an https URL"),
        ("runUrl", "https://.github.com/x", "not an https URL"),
        ("runUrl", "https://github..com/x", "not an https URL"),
    ],
)
def test_bad_source_fields(key: str, value: str, words: str) -> None:
    data = valid()
    data["source"][key] = value
    err = error_for(data)
    assert err.field == f"payload.source.{key}"
    assert words in err.message


@pytest.mark.parametrize(
    "ref",
    ["refs/heads/main", "refs/tags/v1.2.3", "refs/pull/7/merge", "refs/heads/feat/x-y_z", "refs/heads/a@b"],
)
def test_refs_accepted(ref: str) -> None:
    data = valid()
    data["source"]["ref"] = ref
    assert parse_release(data).source.ref == ref


def test_unknown_and_missing_keys() -> None:
    err = error_for(valid(extra=1))
    assert err.field == "payload" and "unknown key 'extra'" in err.message
    # The fix lists what a sender may send: updatedAt is refused in a payload, so it is not listed.
    assert err.fix == "use only the keys container, channel, image, tag, digest, source"
    err = error_for({"releases": [valid(extra=1)]})
    assert err.field == "payload.releases[0]" and "updatedAt" not in (err.fix or "")
    with pytest.raises(InputError) as info:
        parse_release(valid(extra=1), field="releases[0]")  # a stored release may have updatedAt
    assert "updatedAt" in (info.value.fix or "")
    data = valid()
    del data["tag"]
    assert error_for(data).field == "payload.tag"
    data = valid()
    data["source"]["branch"] = "main"
    assert error_for(data).field == "payload.source"
    data = valid()
    del data["source"]["sha"]
    assert error_for(data).field == "payload.source.sha"


def test_bad_value_is_truncated_and_escaped_in_the_message() -> None:
    err = error_for(valid(tag="\x1b[31m" + "x" * 500))
    assert len(err.message) < 200
    assert "\x1b" not in err.one_line() and "\\x1b" in err.one_line()
    assert "..." in err.message


def test_payload_with_many_releases_names_the_index() -> None:
    second = valid(container="worker")
    second["source"] = dict(second["source"], sha="xyz")
    err = error_for({"releases": [valid(), second]})
    assert err.field == "payload.releases[1].source.sha"


def test_payload_list_rules() -> None:
    assert len(parse_payload({"releases": [valid(), valid(channel="stage")]})) == 2
    assert error_for({"releases": []}).field == "payload.releases"
    assert error_for({"releases": [valid(container=f"c{i}") for i in range(51)]}).field == "payload.releases"
    assert error_for({"releases": valid()}).field == "payload.releases"
    assert error_for({"releases": [valid()], "x": 1}).field == "payload"
    err = error_for({"releases": [valid(), valid(tag="other")]})
    assert err.field == "payload.releases[1]" and "payload.releases[0]" in err.message
    assert error_for([valid()]).field == "payload"
    assert error_for(valid(updatedAt="2026-01-28T10:30:00Z")).field == "payload.updatedAt"


def test_payload_json_forms_never_carry_updated_at() -> None:
    one = parse_release(valid(updatedAt="2026-01-28T10:30:00Z"))
    assert payload_json([one]) == valid()
    two = payload_json([one, parse_release(valid(channel="stage"))])
    assert [r["channel"] for r in two["releases"]] == ["dev", "stage"]
    assert parse_payload(json.loads(json.dumps(two)))[1].channel == "stage"
    with pytest.raises(InputError):
        payload_json([])


def test_dispatch_limits() -> None:
    check_dispatch_limits("release-channel-update", valid())
    for event_type in ("", "x" * 101, "bad\nname"):
        with pytest.raises(InputError) as info:
            check_dispatch_limits(event_type, valid())
        assert info.value.field == "event-type"
    with pytest.raises(InputError, match="11 top-level keys"):
        check_dispatch_limits("e", {f"k{i}": 1 for i in range(11)})
    big = {"releases": [valid(container=f"c{i}", tag="t" * 128) for i in range(50)]}
    big_size = len(json.dumps(big, separators=(",", ":")))
    assert big_size < MAX_PAYLOAD_BYTES  # fifty maximal-ish releases fit
    huge = copy.deepcopy(big)
    huge["pad"] = "x" * MAX_PAYLOAD_BYTES
    with pytest.raises(InputError, match="bytes serialized"):
        check_dispatch_limits("e", huge)


def test_module_imports_only_the_standard_library() -> None:
    code = (
        "import sys, gitops_release.core.release, gitops_release.core.channels\n"
        "third = ('yaml', 'ruamel', 'semver', 'jsonschema', 'requests', 'github')\n"
        "bad = [m for m in third if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": rel.__file__.rsplit("/gitops_release/", 1)[0]},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


# -- source.builtAt: channel history is monotonic ---------------------------------------------


def built(stamp: str | None, tag: str = "sha-abc12345", sha: str = SHA) -> rel.Release:
    source = {"repository": "org/my-app", "sha": sha}
    if stamp is not None:
        source["builtAt"] = stamp
    return parse_release(valid(tag=tag, source=source))


def test_built_at_is_an_optional_utc_source_field_kept_last() -> None:
    release = built("2026-01-28T10:30:00.123Z")
    assert release.source.built_at == "2026-01-28T10:30:00.123Z"
    assert list(release.to_json()["source"]) == ["repository", "sha", "builtAt"]
    assert parse_payload(release.to_json()) == (release,)
    for bad in (
        "2026-01-28T10:30:00+01:00",
        "2026-01-28 10:30:00Z",
        "yesterday",
        "2026-01-28T10:30:00.1234567890Z",
    ):
        err = error_for(valid(source={"repository": "org/my-app", "sha": SHA, "builtAt": bad}))
        assert err.field == "payload.source.builtAt" and "RFC 3339 UTC" in (err.fix or "")


def test_the_same_build_dispatched_again_is_the_same_content() -> None:
    assert built("2026-01-28T10:30:00Z").same_content(built("2026-01-29T00:00:00Z"))
    assert built("2026-01-28T10:30:00Z").same_content(built(None))
    assert not built("2026-01-28T10:30:00Z").same_content(built("2026-01-28T10:30:00Z", sha="b" * 40))


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("2026-01-28T10:30:00Z", "2026-01-28T10:30:01Z"),
        ("2026-01-28T10:30:00Z", "2026-01-28T10:30:00.5Z"),  # as strings, "00Z" > "00.5Z"
        ("2026-01-28T10:30:00.09Z", "2026-01-28T10:30:00.1Z"),
        ("2026-01-28T10:30:00.999999999Z", "2026-01-28T10:30:01Z"),
        ("2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z"),
    ],
)
def test_time_key_orders_stamps_by_time(older: str, newer: str) -> None:
    assert rel.time_key(older) < rel.time_key(newer)
    assert rel.time_key("2026-01-28T10:30:00Z") == rel.time_key("2026-01-28T10:30:00.000Z")


def test_a_release_built_before_the_current_one_is_refused() -> None:
    current = built("2026-01-28T10:30:00Z", tag="sha-bbbbbbbb", sha="b" * 40)
    stale = built("2026-01-28T10:29:59.9Z", tag="sha-aaaaaaaa")
    with pytest.raises(PolicyError) as info:
        rel.check_build_order(stale, current, field="payload.releases[1]")
    line = info.value.one_line()
    assert line.startswith(
        "payload.releases[1].source.builtAt 2026-01-28T10:29:59.9Z is older than the build on my-app/dev "
        "('sha-bbbbbbbb', built 2026-01-28T10:30:00Z)"
    )
    assert info.value.fix == (
        "nothing to do if the newer release should stay; to deploy this one anyway, run update-db "
        "with this release and allow-downgrade: true (workflow_dispatch or the CLI: a dispatch's "
        "payload cannot set it) or git revert the commit that moved the channel; "
        "tags.allowDowngrade: true in the policy accepts every downgrade"
    )
    # A source that lists senders refuses a run by hand: the fix names only the revert.
    with pytest.raises(PolicyError) as info:
        rel.check_build_order(stale, current, senders=True)
    assert info.value.fix == (
        "nothing to do if the newer release should stay; to deploy this one anyway, git revert the "
        "commit that moved the channel: a dispatch's payload cannot set allow-downgrade, and this "
        "source lists senders, so update-db run by hand (workflow_dispatch, the CLI) has no "
        "repository_dispatch sender and is refused"
    )
    # Equal or later, no current, or the same build again: accepted.
    rel.check_build_order(built("2026-01-28T10:30:00Z"), current)
    rel.check_build_order(built("2026-01-28T10:30:00.001Z"), current)
    rel.check_build_order(stale, None)
    rel.check_build_order(built("2026-01-01T00:00:00Z", tag="sha-bbbbbbbb", sha="b" * 40), current)


def test_releases_without_built_at_are_not_ordered() -> None:
    """Old payloads keep working: a side without builtAt cannot be compared, so it is accepted."""
    rel.check_build_order(built(None, tag="sha-aaaaaaaa"), built("2026-01-28T10:30:00Z", tag="sha-bbbbbbbb"))
    rel.check_build_order(built("2020-01-01T00:00:00Z", tag="sha-aaaaaaaa"), built(None, tag="sha-bbbbbbbb"))


def test_a_build_time_in_the_future_is_refused() -> None:
    rel.check_not_future(built("2026-01-28T10:40:00Z"), "2026-01-28T10:40:00Z")
    rel.check_not_future(built(None), "2000-01-01T00:00:00Z")
    with pytest.raises(
        PolicyError, match=r"payload\.source\.builtAt 2026-01-28T10:40:00\.5Z is in the future"
    ):
        rel.check_not_future(built("2026-01-28T10:40:00.5Z"), "2026-01-28T10:40:00Z")
