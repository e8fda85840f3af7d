"""Recorded dispatches handed back as GitHub's ``repository_dispatch`` webhook payload: written to
``events_dir`` (one file per dispatch, in arrival order, atomically) and served by the sandbox's
own ``/_sandbox/.../events`` endpoint; the sender is the token's login, as GitHub reports it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from gitops_release.errors import InputError
from gitops_release.sandbox.github_api import GitHubSandbox

REPO = "org/config"
TOKEN = "sandbox-token"

#: Required by GitHub's webhook schema for repository_dispatch (``installation`` only for Apps).
WEBHOOK_KEYS = {"action", "branch", "client_payload", "repository", "sender"}


@pytest.fixture
def events(tmp_path: Path) -> Path:
    return tmp_path / "events"


@pytest.fixture
def gh(tmp_path: Path, events: Path) -> Iterator[GitHubSandbox]:
    sandbox = GitHubSandbox(tmp_path / "root", events_dir=events).start()
    sandbox.create_repo(REPO)
    try:
        yield sandbox
    finally:
        sandbox.stop()
    assert sandbox.violations == []


def dispatch(gh: GitHubSandbox, event_type: str, payload: dict[str, Any], token: str = TOKEN) -> None:
    response = requests.post(
        f"{gh.url}/repos/{REPO}/dispatches",
        json={"event_type": event_type, "client_payload": payload},
        headers={"Authorization": f"token {token}"},
        timeout=10,
    )
    assert response.status_code == 204


def test_each_dispatch_lands_as_a_numbered_event_file(gh: GitHubSandbox, events: Path) -> None:
    dispatch(gh, "release", {"container": "app", "tag": "v1"})
    dispatch(gh, "promote", {"container": "app", "tag": "v2"})
    assert sorted(p.name for p in events.iterdir()) == ["000001-release.json", "000002-promote.json"]
    first = json.loads((events / "000001-release.json").read_text(encoding="utf-8"))
    assert first == gh.event_json(REPO, 0)
    assert WEBHOOK_KEYS <= set(first)
    assert first["action"] == "release"
    assert first["client_payload"] == {"container": "app", "tag": "v1"}
    assert first["branch"] == "main"
    assert first["repository"]["full_name"] == REPO
    assert first["organization"]["login"] == "org"
    assert first["sender"]["login"] == "sandbox-user"
    assert first["sender"]["type"] == "User"
    assert "installation" not in first
    second = json.loads((events / "000002-promote.json").read_text(encoding="utf-8"))
    assert second["client_payload"]["tag"] == "v2"


def test_a_hostile_event_type_cannot_leave_the_directory(
    gh: GitHubSandbox, events: Path, tmp_path: Path
) -> None:
    dispatch(gh, "../../escape\n", {})
    dispatch(gh, "..", {})
    names = sorted(p.name for p in events.iterdir())
    assert names == ["000001-_.._escape_.json", "000002-event.json"]
    assert not (tmp_path / "escape").exists()
    assert json.loads((events / names[0]).read_text(encoding="utf-8"))["action"] == "../../escape\n"


def test_numbering_continues_after_files_already_there(tmp_path: Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "000007-release.json").write_text("{}\n", encoding="utf-8")
    (events / "notes.txt").write_text("kept\n", encoding="utf-8")
    with GitHubSandbox(tmp_path / "root", events_dir=events) as gh:
        gh.create_repo(REPO)
        dispatch(gh, "release", {})
    assert (events / "000008-release.json").is_file()
    assert (events / "notes.txt").read_text(encoding="utf-8") == "kept\n"


def test_no_partial_or_temporary_file_is_left(gh: GitHubSandbox, events: Path) -> None:
    for n in range(3):
        dispatch(gh, "release", {"n": n})
    assert all(p.name.endswith(".json") and not p.name.startswith(".") for p in events.iterdir())


def test_a_failed_event_write_records_no_dispatch(gh: GitHubSandbox, events: Path) -> None:
    events.rmdir()
    events.write_text("not a directory\n", encoding="utf-8")  # the write fails: ENOTDIR
    response = requests.post(
        f"{gh.url}/repos/{REPO}/dispatches",
        json={"event_type": "release"},
        headers={"Authorization": f"token {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 500
    assert gh.dispatches(REPO) == []
    assert any("sandbox internal error" in v for v in gh.violations)
    gh.violations.clear()


def test_the_sender_is_the_tokens_login_and_a_bot_login_is_a_bot(tmp_path: Path) -> None:
    with GitHubSandbox(tmp_path / "root", tokens=(), events_dir=tmp_path / "events") as gh:
        gh.create_repo(REPO)
        gh.add_token("app-token", login="release-app[bot]")
        gh.add_token("user-token", login="machine-user")
        dispatch(gh, "release", {}, token="app-token")
        dispatch(gh, "release", {}, token="user-token")
        assert [gh.event_json(REPO, i)["sender"]["login"] for i in (0, 1)] == [
            "release-app[bot]",
            "machine-user",
        ]
        assert [gh.event_json(REPO, i)["sender"]["type"] for i in (0, 1)] == ["Bot", "User"]
        assert gh.violations == []


@pytest.mark.parametrize("login", ["", "-leading", "two words", "a" * 40, "x[bot][bot]", "../x"])
def test_a_login_github_would_not_have_is_refused(tmp_path: Path, login: str) -> None:
    gh = GitHubSandbox(tmp_path, tokens=(), validate=False)
    with pytest.raises(InputError) as info:
        gh.add_token("t", login=login)
    assert info.value.field == "login"


def test_events_dir_that_cannot_be_created_is_an_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(InputError) as info:
        GitHubSandbox(tmp_path / "root", events_dir=blocker / "events", validate=False)
    assert info.value.field == "events-dir"


# -- the events endpoint -------------------------------------------------------------------------


def get(gh: GitHubSandbox, path: str, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.get(f"{gh.url}{path}", headers=headers, timeout=10)


def test_events_endpoint_lists_and_answers_one(gh: GitHubSandbox) -> None:
    dispatch(gh, "release", {"n": 1})
    dispatch(gh, "release", {"n": 2})
    listed = get(gh, f"/_sandbox/repos/{REPO}/events")
    assert listed.status_code == 200
    assert [event["client_payload"]["n"] for event in listed.json()] == [1, 2]
    assert get(gh, f"/_sandbox/repos/{REPO}/events/1").json() == gh.event_json(REPO, 0)
    assert get(gh, f"/_sandbox/repos/{REPO}/events/latest").json() == gh.event_json(REPO, 1)
    assert len(gh.requests) == 2  # the inspection endpoint is not GitHub's API: not recorded


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        (f"/_sandbox/repos/{REPO}/events/latest", None, 401),
        (f"/_sandbox/repos/{REPO}/events/latest", "wrong", 401),
        (f"/_sandbox/repos/{REPO}/events/latest", TOKEN, 404),  # none yet
        (f"/_sandbox/repos/{REPO}/events/0", TOKEN, 404),
        ("/_sandbox/repos/org/unknown/events", TOKEN, 404),
    ],
)
def test_events_endpoint_refusals(gh: GitHubSandbox, path: str, token: str | None, status: int) -> None:
    response = get(gh, path, token)
    assert response.status_code == status
    assert isinstance(response.json()["message"], str)


def test_events_endpoint_hides_repositories_outside_the_token(gh: GitHubSandbox) -> None:
    gh.add_token("other-only", repositories=["org/other"])
    dispatch(gh, "release", {})
    assert get(gh, f"/_sandbox/repos/{REPO}/events", "other-only").status_code == 404
