from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitops_release.commands import update_db
from gitops_release.core.release import Release, Source, parse_payload
from gitops_release.errors import InputError
from gitops_release.runtime import InputReader

SHA = "a" * 40
PAYLOAD = {
    "container": "my-app",
    "channel": "dev",
    "image": "ghcr.io/org/my-app",
    "tag": "sha-bbb",
    "source": {
        "repository": "org/my-app",
        "sha": SHA,
        "runUrl": "https://github.com/org/my-app/actions/runs/7",
    },
}


def reader(**inputs: str) -> InputReader:
    env = {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()}
    return InputReader(env=env)


def test_defaults():
    got = update_db.Inputs.from_reader(reader(payload=json.dumps(PAYLOAD)))
    assert got.db_path == "db/db.json"
    assert got.policy_path == ".gitops-release.yml"
    assert got.repository_path == "."
    assert (got.remote, got.branch) == (None, None)
    # The retry loop is bounded by time (10 minutes), not by a count.
    assert got.push is True and got.max_attempts is None and got.max_wait == 600.0
    assert (got.allow_downgrade, got.write_through, got.dry_run) == (False, False, False)
    assert got.releases == parse_payload(PAYLOAD)


def test_max_wait_is_a_duration_and_max_attempts_an_optional_cap():
    got = update_db.Inputs.from_reader(
        reader(payload=json.dumps(PAYLOAD), max_wait="2m30s", max_attempts="500")
    )
    assert (got.max_wait, got.max_attempts) == (150.0, 500)
    with pytest.raises(InputError, match="max-wait"):
        update_db.Inputs.from_reader(reader(payload=json.dumps(PAYLOAD), max_wait="soon"))
    with pytest.raises(InputError, match="max-attempts"):
        update_db.Inputs.from_reader(reader(payload=json.dumps(PAYLOAD), max_attempts="1001"))


def test_payload_defaults_to_client_payload_of_a_repository_dispatch(tmp_path: Path):
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"action": "release-channel-update", "client_payload": {"releases": [PAYLOAD]}})
    )
    env = {"GITHUB_EVENT_NAME": "repository_dispatch", "GITHUB_EVENT_PATH": str(event)}
    got = update_db.Inputs.from_reader(InputReader(env=env))
    assert [r.tag for r in got.releases] == ["sha-bbb"]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "is not a repository_dispatch"),
        (
            {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": "/nonexistent"},
            "(push) is not a repository_dispatch",
        ),
        (
            {"GITHUB_EVENT_NAME": "repository_dispatch", "GITHUB_EVENT_PATH": "/nonexistent/e.json"},
            "cannot read",
        ),
    ],
)
def test_no_payload_names_payload(env: dict[str, str], needle: str):
    with pytest.raises(InputError) as info:
        update_db.Inputs.from_reader(InputReader(env=env))
    assert info.value.field == "payload"
    assert needle in info.value.message
    assert info.value.fix


def test_event_without_client_payload(tmp_path: Path):
    event = tmp_path / "event.json"
    event.write_text('{"action": "x"}')
    env = {"GITHUB_EVENT_NAME": "repository_dispatch", "GITHUB_EVENT_PATH": str(event)}
    with pytest.raises(InputError, match="no client_payload"):
        update_db.Inputs.from_reader(InputReader(env=env))


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "../db.json", "db/../../x", "~/db.json", "db/\x00.json", "."]
)
def test_paths_must_stay_inside_the_checkout(path: str):
    with pytest.raises(InputError) as info:
        update_db.Inputs.from_reader(reader(payload=json.dumps(PAYLOAD), db_path=path))
    assert info.value.field == "db-path"


@pytest.mark.parametrize(
    ("template", "needle"),
    [
        ("{nope}", "unknown placeholder {nope}"),
        ("{container.__class__}", "unknown placeholder"),
        ("{", "not a valid"),
    ],
)
def test_commit_message_template_is_checked(template: str, needle: str):
    with pytest.raises(InputError) as info:
        update_db.Inputs.from_reader(reader(payload=json.dumps(PAYLOAD), commit_message=template))
    assert info.value.field == "commit-message"
    assert needle in info.value.message


@pytest.mark.parametrize(("name", "value"), [("max-attempts", "0"), ("max-attempts", "x"), ("push", "yes")])
def test_typed_inputs(name: str, value: str):
    with pytest.raises(InputError) as info:
        update_db.Inputs.from_reader(
            InputReader(env={"INPUT_PAYLOAD": json.dumps(PAYLOAD), f"INPUT_{name.upper()}": value})
        )
    assert info.value.field == name


@pytest.mark.parametrize(
    ("name", "value"), [("branch", "-delete"), ("branch", "a b"), ("remote", "--upload-pack=x")]
)
def test_option_like_branch_and_remote_are_refused(name: str, value: str):
    with pytest.raises(InputError) as info:
        update_db.Inputs.from_reader(
            InputReader(env={"INPUT_PAYLOAD": json.dumps(PAYLOAD), f"INPUT_{name.upper()}": value})
        )
    assert info.value.field == name


def test_token_is_registered_as_secret():
    from gitops_release.runtime import redact

    update_db.Inputs.from_reader(reader(payload=json.dumps(PAYLOAD), token="ghs_supersecret"))
    assert redact("x ghs_supersecret y") == "x *** y"


# -- commit message -----------------------------------------------------------------------------


@dataclass
class Change:
    key: tuple[str, str]
    previous: Any
    current: Any


def rel(
    container: str, channel: str, tag: str, *, sha: str = SHA, run: str | None = "https://ci/runs/1"
) -> Release:
    return Release(
        container, channel, f"ghcr.io/org/{container}", tag, None, Source("org/app", sha, None, run)
    )


def test_default_message_for_one_change():
    change = Change(("my-app", "dev"), rel("my-app", "dev", "sha-aaa"), rel("my-app", "dev", "sha-bbb"))
    msg = update_db.render_message(update_db.DEFAULT_COMMIT_MESSAGE, [change])
    assert (
        msg
        == f"chore(release): my-app dev sha-aaa → sha-bbb\n\nSource: org/app@{SHA}\nRun: https://ci/runs/1\n"
    )


def test_new_entry_shows_none_and_missing_run_line_is_dropped():
    change = Change(("my-app", "dev"), None, rel("my-app", "dev", "sha-bbb", run=None))
    msg = update_db.render_message(update_db.DEFAULT_COMMIT_MESSAGE, [change])
    assert msg.splitlines()[0] == "chore(release): my-app dev none → sha-bbb"
    assert "Run" not in msg


def test_several_changes_get_a_summary_subject_and_one_line_each():
    changes = [
        Change(("api", "dev"), None, rel("api", "dev", "sha-1")),
        Change(("web", "dev"), rel("web", "dev", "sha-0"), rel("web", "dev", "sha-1")),
    ]
    lines = update_db.render_message(update_db.DEFAULT_COMMIT_MESSAGE, changes).splitlines()
    assert lines[0] == "chore(release): 2 releases (dev)"
    assert lines[2:4] == ["chore(release): api dev none → sha-1", "chore(release): web dev sha-0 → sha-1"]
    assert lines[-2:] == [f"Source: org/app@{SHA}", "Run: https://ci/runs/1"]


def test_custom_template():
    change = Change(("a", "prod"), None, rel("a", "prod", "v1"))
    msg = update_db.render_message("deploy {container} to {channel}: {new} ({source_sha})", [change])
    assert msg == f"deploy a to prod: v1 ({SHA})\n"


# -- atomic write and summary -------------------------------------------------------------------


def test_summary_table_and_outputs():
    out = update_db.Outputs(
        changed=True,
        commit_sha="c0ffee",
        previous={"my-app/dev": None},
        releases=[{"container": "my-app"}],
        rows=[("my-app", "dev", "none", "sha-b|x")],
        attempts=2,
    )
    text = out.summary()
    assert "| my-app | dev | `none → sha-b\\|x` |" in text
    assert "after 2 attempt(s)" in text
    assert out.as_dict() == {
        "changed": True,
        "commit-sha": "c0ffee",
        "previous": {"my-app/dev": None},
        "releases": [{"container": "my-app"}],
    }
    assert "No change" in update_db.Outputs(changed=False, commit_sha="abc").summary()


# -- review fixes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{container:d}",
        "{container:>99999999999}",
        "{container!r}",
        "{container!s:>5}",
        "ok {channel} then {new:{container}}",
    ],
)
def test_commit_message_refuses_format_specs_and_conversions(template: str):
    with pytest.raises(InputError) as info:
        update_db.Inputs.from_reader(reader(payload=json.dumps(PAYLOAD), commit_message=template))
    assert info.value.field == "commit-message"
    assert "format spec" in info.value.message
    assert info.value.fix and "{container}" in info.value.fix


def test_deeply_nested_event_file_is_an_input_error(tmp_path: Path):
    event = tmp_path / "event.json"
    depth = 30000
    event.write_text('{"client_payload": ' + "[" * depth + "]" * depth + "}")
    env = {"GITHUB_EVENT_NAME": "repository_dispatch", "GITHUB_EVENT_PATH": str(event)}
    with pytest.raises(InputError) as info:
        update_db.Inputs.from_reader(InputReader(env=env))
    assert info.value.field == "payload"
    assert "nested too deeply" in info.value.message
    assert info.value.fix


def test_event_file_that_is_not_json_names_payload(tmp_path: Path):
    event = tmp_path / "event.json"
    event.write_text('{"client_payload": ')
    env = {"GITHUB_EVENT_NAME": "repository_dispatch", "GITHUB_EVENT_PATH": str(event)}
    with pytest.raises(InputError) as info:
        update_db.Inputs.from_reader(InputReader(env=env))
    assert info.value.field == "payload" and "not valid JSON" in info.value.message


def _plan_error(tmp_path: Path, payload: Any) -> str:
    from datetime import datetime, timezone

    from gitops_release.errors import PolicyError

    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "db.json").write_text('{\n  "schemaVersion": 1,\n  "releases": []\n}\n')
    inputs = update_db.Inputs.from_reader(reader(payload=json.dumps(payload)))
    with pytest.raises(PolicyError) as info:
        update_db.plan(tmp_path, inputs, now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    return info.value.message


def test_policy_error_in_a_multi_release_payload_names_that_release(tmp_path: Path):
    bad = {**PAYLOAD, "container": "my-app-worker", "tag": "latest"}
    message = _plan_error(tmp_path, {"releases": [PAYLOAD, bad]})
    assert message.startswith("payload.releases[1].tag "), message


def test_policy_error_in_a_one_release_releases_form_names_releases_0(tmp_path: Path):
    message = _plan_error(tmp_path, {"releases": [{**PAYLOAD, "tag": "latest"}]})
    assert message.startswith("payload.releases[0].tag "), message


def test_policy_error_in_a_single_release_payload_names_payload(tmp_path: Path):
    message = _plan_error(tmp_path, {**PAYLOAD, "tag": "latest"})
    assert message.startswith("payload.tag "), message


def test_label_shows_the_digest_when_a_tag_moved():
    from gitops_release.core.release import Release, Source

    source = Source(repository="org/my-app", sha="a" * 40)
    old = Release("my-app", "dev", "ghcr.io/org/my-app", "1.2.3", "sha256:" + "a" * 64, source)
    new = Release("my-app", "dev", "ghcr.io/org/my-app", "1.2.3", "sha256:" + "b" * 64, source)
    assert update_db._label(old, new) == "1.2.3@sha256:aaaaaaaa"
    assert update_db._label(new, old) == "1.2.3@sha256:bbbbbbbb"
    other = Release("my-app", "dev", "ghcr.io/org/my-app", "1.2.4", "sha256:" + "b" * 64, source)
    assert update_db._label(other, old) == "1.2.4"
    assert update_db._label(None, new) == "none"


def test_the_retry_loop_is_bounded_by_max_wait_with_a_30s_backoff_cap(monkeypatch, tmp_path: Path):
    """update-db hands commit_and_push its time bound, no count limit unless given, and a backoff
    cap of 30 s: with 5 s, 200 writers on one machine spent their CPU on attempts that lost."""
    from gitops_release.adapters.git import PushResult
    from gitops_release.commands.base import Context

    seen: dict[str, Any] = {}

    def fake_commit_and_push(checkout, remote, branch, edit, **kwargs):
        seen.update(kwargs, branch=branch)
        return PushResult(changed=False, commit_sha=None, base_sha="0" * 40, attempts=1)

    monkeypatch.setattr(update_db, "commit_and_push", fake_commit_and_push)
    env = {"payload": json.dumps(PAYLOAD), "remote": str(tmp_path / "r.git"), "branch": "main"}
    update_db.run(update_db.Inputs.from_reader(reader(**env)), Context.for_env({}, workdir=tmp_path))
    assert (seen["max_wait"], seen["max_attempts"], seen["max_backoff"]) == (600.0, None, 30.0)
    update_db.run(
        update_db.Inputs.from_reader(reader(**env, max_wait="90s", max_attempts="3")),
        Context.for_env({}, workdir=tmp_path),
    )
    assert (seen["max_wait"], seen["max_attempts"]) == (90.0, 3)
