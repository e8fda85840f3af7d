"""Review of issue 13 (trace): reading GitHub deployments has one deadline for the whole read,
like Argo CD's (read_argocd), so a slow or dripping GitHub cannot hold trace for (environments x
deployments x timeout): ``server-timeout`` is "how long each server may take"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from gitops_release.adapters import trace_servers
from gitops_release.adapters.github import GitHubAuth


@dataclass
class _Status:
    state: str = "success"
    environment_url: str | None = None
    log_url: str | None = None


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_github_deployments_are_read_within_one_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    status_reads: list[int] = []

    class Deployment:
        def __init__(self, number: int) -> None:
            self.id = number
            self.sha = f"{number:040x}"
            self.created_at = datetime(2026, 1, 1, tzinfo=timezone.utc)
            self.creator = None

        def get_statuses(self) -> Any:
            status_reads.append(self.id)
            clock.now += 5.0  # every answer takes 5 s (just under the 20 s per-request timeout)
            return iter([_Status()])

    class Repo:
        def get_deployments(self, environment: str) -> Any:
            clock.now += 5.0
            return iter([Deployment(n) for n in range(1, 101)])

    class Client:
        def get_repo(self, name: str) -> Repo:
            return Repo()

    monkeypatch.setattr(trace_servers, "github_client", lambda *a, **kw: Client())
    got = trace_servers.read_deployments(
        GitHubAuth(token="t"),
        "org/config",
        ["dev", "stage", "prod"],
        api_url=None,
        env={},
        timeout=20.0,
        clock=clock,  # type: ignore[call-arg]
    )
    # 20 s at 5 s an answer: a handful of requests, then a note; not 303 requests (25 minutes).
    assert len(status_reads) <= 4, len(status_reads)
    assert any("not read" in note or "deadline" in note for note in got.notes), got.notes
