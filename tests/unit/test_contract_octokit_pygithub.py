"""Contract: real recorded GitHub answers (octokit/fixtures) served to github_client() / call()."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops_release.adapters.github import GitHubAuth, call, github_client
from gitops_release.errors import GitHubValidationError
from tests.unit.adapters import test_http
from tests.unit.adapters.test_http import Reply, Scripted

server = test_http.server  # the scripted 127.0.0.1 server fixture
FIXTURES = Path(__file__).resolve().parents[1] / "contracts" / "octokit"


def recorded(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text())


def gh(server: Scripted) -> Any:
    return github_client(GitHubAuth(token="ghp_contractToken0001"), base_url=server.url, env={})


@pytest.mark.parametrize("index", [0, 1])
def test_recorded_create_status_parses_into_a_commit_status(server: Scripted, index: int) -> None:
    item = [x for x in recorded("create-status.json") if x["method"] == "post"][index]
    server.script("POST", item["path"], Reply(item["status"], item["response"]))
    owner_repo = "/".join(item["path"].split("/")[2:4])
    sha = item["path"].rsplit("/", 1)[1]
    commit = gh(server).get_repo(owner_repo).get_commit(sha)
    status = call("create commit status", lambda: commit.create_status(**item["body"]), repository=owner_repo)
    assert json.loads(server.seen[0].body) == item["body"]
    assert status.id == item["response"]["id"]
    assert status.state == item["body"]["state"]
    assert status.context == item["body"]["context"]
    assert status.description == item["body"]["description"]
    assert status.target_url == item["body"]["target_url"]
    assert status.creator.login == "octokit-fixture-user-a"


def test_recorded_422_through_pygithub_names_the_field(server: Scripted) -> None:
    item = recorded("errors.json")[0]
    server.script("POST", item["path"], Reply(item["status"], item["response"]))
    repo = gh(server).get_repo("octokit-fixture-org/errors")
    with pytest.raises(GitHubValidationError) as caught:
        call(
            "create label", lambda: repo.create_label(**item["body"]), repository="octokit-fixture-org/errors"
        )
    assert "Label field 'color' is invalid" in str(caught.value)
    assert len(server.seen) == 1
