"""update-db's sender: only GitHub's repository_dispatch event names it (issue 7 item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_release.commands.update_db import Inputs, sender_from_event
from gitops_release.runtime import InputReader

RELEASE = {
    "container": "app-b",
    "channel": "dev",
    "image": "ghcr.io/org/app-b",
    "tag": "1.0.0",
    "source": {"repository": "org/app-b", "sha": "a" * 40},
}


def event_env(tmp_path: Path, event: object, name: str = "repository_dispatch") -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return {"GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path)}


def test_the_sender_is_the_events_sender_login(tmp_path: Path) -> None:
    env = event_env(tmp_path, {"client_payload": RELEASE, "sender": {"login": "app-b-release[bot]"}})
    assert sender_from_event(env) == "app-b-release[bot]"
    assert Inputs.from_reader(InputReader(env=env)).sender == "app-b-release[bot]"
    # With the payload input on the same run, the sender still comes from the event.
    with_input = {**env, "INPUT_PAYLOAD": json.dumps(RELEASE)}
    assert Inputs.from_reader(InputReader(env=with_input)).sender == "app-b-release[bot]"


@pytest.mark.parametrize(
    "event",
    [
        {"client_payload": RELEASE},
        {"client_payload": RELEASE, "sender": "app-b-release[bot]"},
        {"client_payload": RELEASE, "sender": {"login": ""}},
        {"client_payload": RELEASE, "sender": {"login": 7}},
        [RELEASE],
    ],
)
def test_an_event_without_a_usable_sender_gives_none(tmp_path: Path, event: object) -> None:
    assert sender_from_event(event_env(tmp_path, event)) is None


def test_no_sender_outside_a_repository_dispatch(tmp_path: Path) -> None:
    event = {"client_payload": RELEASE, "sender": {"login": "someone"}}
    assert sender_from_event(event_env(tmp_path, event, name="workflow_dispatch")) is None
    assert sender_from_event({}) is None
    missing = {"GITHUB_EVENT_NAME": "repository_dispatch", "GITHUB_EVENT_PATH": str(tmp_path / "none")}
    assert sender_from_event(missing) is None
    # The payload input alone (the CLI): no sender, so a policy naming senders refuses (fail closed).
    assert Inputs.from_reader(InputReader(env={"INPUT_PAYLOAD": json.dumps(RELEASE)})).sender is None
