"""read_deployments after review 13: which environments were read (whole, or cut at the newest
per_environment) so that no gap is claimed where GitHub was not read, and who merged the pull
requests trace asks about, within the same deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from github import GithubException

from gitops_release.adapters import trace_servers
from gitops_release.adapters.github import GitHubAuth

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class _Status:
    state: str = "success"
    environment_url: str | None = None
    log_url: str | None = None


@dataclass
class _User:
    login: str


class _Deployment:
    def __init__(self, number: int) -> None:
        self.id = number
        self.sha = f"{number:040x}"
        self.created_at = T0 - timedelta(hours=number)  # newest first
        self.creator = None

    def get_statuses(self) -> Any:
        return iter([_Status()])


class _Repo:
    def __init__(self, failing: str = "", count: int = 3) -> None:
        self.failing, self.count = failing, count
        self.pulls: list[int] = []

    def get_deployments(self, environment: str) -> Any:
        if environment == self.failing:
            raise GithubException(500, {"message": "boom"}, None)
        return iter([_Deployment(n) for n in range(1, self.count + 1)])

    def get_pull(self, number: int) -> Any:
        self.pulls.append(number)
        return type("Pull", (), {"merged_by": _User(f"merger-{number}")})()


def _read(monkeypatch: pytest.MonkeyPatch, repo: _Repo, **kwargs: Any) -> trace_servers.DeploymentsRead:
    client = type("Client", (), {"get_repo": lambda self, name: repo})()
    monkeypatch.setattr(trace_servers, "github_client", lambda *a, **kw: client)
    policy = trace_servers.RetryPolicy(max_attempts=1, base_delay=0, max_delay=0, max_total_wait=0)
    return trace_servers.read_deployments(
        GitHubAuth(token="t"),
        "org/config",
        ["dev", "stage", "prod"],
        api_url=None,
        env={},
        timeout=20.0,
        policy=policy,
        **kwargs,
    )


def test_the_environments_read_are_said_and_a_failing_one_is_not_among_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    got = _read(monkeypatch, _Repo(failing="stage"))
    assert got.read == (("dev", None),)
    assert {d.environment for d in got.deployments} == {"dev"}
    assert any("stage not read" in note for note in got.notes), got.notes


def test_a_cut_list_says_back_to_when_it_was_read(monkeypatch: pytest.MonkeyPatch) -> None:
    got = _read(monkeypatch, _Repo(count=3), per_environment=2)
    # The newest 2 of 3 were read: the oldest read is deployment 2, created 2 hours before T0.
    assert dict(got.read) == {env: T0 - timedelta(hours=2) for env in ("dev", "stage", "prod")}
    assert any("only the newest 2 read" in note for note in got.notes)


def test_who_merged_each_pull_request_asked_about_the_newest_first_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = _Repo()
    numbers = list(range(1, trace_servers.MAX_PULL_REQUESTS + 6))
    got = _read(monkeypatch, repo, pull_requests=numbers)
    assert len(repo.pulls) == trace_servers.MAX_PULL_REQUESTS
    assert dict(got.merged_by)[numbers[-1]] == f"merger-{numbers[-1]}"
    assert 1 not in dict(got.merged_by)
    assert any("who merged" in note for note in got.notes)
