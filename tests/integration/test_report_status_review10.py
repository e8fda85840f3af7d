"""Review 10a reproductions: report-status against the GitHub sandbox, through the CLI as the action
runs it. Each test FAILS on main at 6688032 and states the behaviour a fix must give
(REVIEW10a.md numbers the findings)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from gitops_release.commands import report_status as rs
from gitops_release.core.report_status import comment_marker
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.integration import test_report_status as base
from tests.integration.test_report_status import REPO, open_pull, pr_event

pytestmark = pytest.mark.usefixtures("fresh_app_tokens")

# the base module's fixture, by name (pytest collects it from this module's attributes)
step = base.step


def _last_state(sandbox: GitHubSandbox, sha: str, context: str) -> str:
    states = [s["state"] for s in sandbox.statuses(REPO, sha) if s["context"] == context]
    return states[-1] if states else "(none)"


# -- 1: the documented example leaves main pending on every push ----------------------------


def test_f1_documented_example_on_push_ends_the_commit_status(
    github_sandbox: GitHubSandbox, head: str, step: Any, tmp_path: Path
) -> None:
    """docs/report-status.md "Example workflow": on push, comment is false and results-file is
    given; the always-final step must still post success, not fail on 'results is only shown
    in the comment' and leave release-data-prep pending on main."""
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"name": "schema", "result": "pass", "details": "12 files"}]))
    assert step(state="pending", context="release-data-prep").rc == 0
    done = step(
        context="release-data-prep",
        job_status="success",
        description="Release data prep finished",
        comment="false",
        results_file=str(results),
    )
    assert _last_state(github_sandbox, head, "release-data-prep") == "success", done.log


# -- 2 / 3: a bad file in the always-final step leaves the status / deployment pending ------


@pytest.mark.parametrize(
    "content",
    [
        '[{"name": "schema", "result": "fai',  # the prep command died while writing it
        json.dumps([{"name": f"c{i}", "result": "pass"} for i in range(201)]),  # a hostile PR: > 200 rows
    ],
    ids=["truncated", "too-many-rows"],
)
def test_f2_unreadable_results_file_still_ends_the_commit_status(
    github_sandbox: GitHubSandbox, step: Any, tmp_path: Path, content: str
) -> None:
    number, sha = open_pull(github_sandbox, tmp_path)
    event = pr_event(tmp_path, number, sha)
    assert step(env=event, state="pending", context="release-data-prep/pr").rc == 0
    results = tmp_path / "results.json"
    results.write_text(content)
    done = step(
        env=event,
        context="release-data-prep/pr",
        job_status="failure",
        comment="true",
        results_file=str(results),
    )
    # The step may fail (and say why), but the commit must not stay pending.
    assert _last_state(github_sandbox, sha, "release-data-prep/pr") in ("failure", "error"), done.log


def test_f3_corrupt_evidence_still_ends_the_deployment(
    github_sandbox: GitHubSandbox, head: str, step: Any, tmp_path: Path
) -> None:
    started = step(commit_status="false", environment="staging", deployment_state="in_progress")
    assert started.rc == 0, started.log
    evidence = tmp_path / "argocd-evidence.json"
    evidence.write_text('{"schemaVersion": 1, "mode": "wait", "outc')  # the wait was killed mid-write
    done = step(
        commit_status="false",
        environment="staging",
        from_evidence=str(evidence),
        job_status="cancelled",
    )
    [deployment] = github_sandbox.deployments(REPO)
    statuses = github_sandbox.deployment_statuses(REPO, deployment["id"])
    assert statuses[-1]["state"] not in ("queued", "in_progress", "pending"), done.log


# -- 4: a lost answer to POST /statuses leaves the commit pending ----------------------------


def test_f4_a_502_to_the_final_commit_status_is_retried_not_left_pending(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    """A second commit status with the same state and context is harmless (the newest wins), so a
    502 that GitHub did NOT apply must be re-sent within the retry budget, as a read is."""
    assert step(state="pending").rc == 0
    github_sandbox.inject(502, method="POST", path=r"/statuses/")
    done = step(job_status="success")
    assert _last_state(github_sandbox, head, "release-data-prep") == "success", done.log


def test_f4_a_502_to_the_final_deployment_status_is_retried_not_left_without_a_status(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    github_sandbox.inject(502, method="POST", path=r"/deployments/\d+/statuses")
    done = step(commit_status="false", environment="staging", job_status="success")
    [deployment] = github_sandbox.deployments(REPO)
    states = [s["state"] for s in github_sandbox.deployment_statuses(REPO, deployment["id"])]
    assert states[-1:] == ["success"], done.log


# -- 5: another App's comment carrying our marker is edited ----------------------------------


def test_f5_a_marked_comment_of_another_app_is_not_taken_over(
    github_sandbox: GitHubSandbox, step: Any, tmp_path: Path
) -> None:
    number, sha = open_pull(github_sandbox, tmp_path)
    event = pr_event(tmp_path, number, sha)
    planted = github_sandbox.add_comment(
        REPO,
        number,
        comment_marker("release-data-prep/pr") + "\nsomething another App wrote",
        login="other-app[bot]",
    )
    done = step(env=event, state="success", context="release-data-prep/pr", comment="true")
    assert done.rc == 0, done.log
    assert done.outputs["comment-id"] != str(planted["id"]), "edited another App's comment"
    kept = [c for c in github_sandbox.comments(REPO, number) if c["id"] == planted["id"]]
    assert kept and kept[0]["body"].endswith("something another App wrote")


# -- 6: a re-run with nothing changed PATCHes the comment (timestamp) ------------------------


def test_f6_rerun_with_nothing_changed_sends_no_comment_edit(
    github_sandbox: GitHubSandbox, step: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, sha = open_pull(github_sandbox, tmp_path)
    event = pr_event(tmp_path, number, sha)
    clock = iter(
        [
            datetime(2025, 12, 1, 10, 0, 0, tzinfo=timezone.utc),
            datetime(2025, 12, 1, 10, 5, 0, tzinfo=timezone.utc),
        ]
    )

    class Clock(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return next(clock)

    monkeypatch.setattr(rs, "datetime", Clock, raising=False)  # the fix: no time in the body
    first = step(env=event, state="success", context="release-data-prep/pr", comment="true")
    assert first.rc == 0 and first.outputs["comment-state"] == "created", first.log
    github_sandbox.requests.clear()
    again = step(env=event, state="success", context="release-data-prep/pr", comment="true")
    assert again.outputs["comment-state"] == "not-updated", again.log
    assert not [r for r in github_sandbox.requests if r.method == "PATCH"]


# -- 10: a Link rel=next to another host is an internal error line --------------------------


def test_f10_a_next_page_on_another_host_is_explained_not_an_internal_error(
    github_sandbox: GitHubSandbox, step: Any, tmp_path: Path
) -> None:
    number, sha = open_pull(github_sandbox, tmp_path)
    event = pr_event(tmp_path, number, sha)
    github_sandbox.inject(
        200,
        method="GET",
        path=rf"/issues/{number}/comments",
        headers={"Link": '<https://evil.example/repos/org/app/issues/1/comments?page=2>; rel="next"'},
        body=[],
    )
    done = step(env=event, state="success", context="release-data-prep/pr", comment="true")
    assert done.rc == 1
    assert "report it" not in done.error and "evil.example" in done.error, done.log


# -- 13: a 422 names GitHub's JSON field, not the input to change ----------------------------


def test_f13_a_422_on_a_field_names_the_input(github_sandbox: GitHubSandbox, head: str, step: Any) -> None:
    github_sandbox.inject_validation_error(field="target_url", method="POST", path=r"/statuses/")
    done = step(state="success")
    assert done.rc == 1 and "target-url" in done.error, done.error
