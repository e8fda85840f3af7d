"""WaitTracker (Degraded grace, deletion, transitions), progress_line, gantt, image_drift,
expected_per_source and the small rules (worst_health, is_sha_prefix, revision_matches)."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pytest

from gitops_release.core.argocd import (
    Ancestry,
    Expectation,
    ImageDrift,
    Transition,
    Verdict,
    WaitTracker,
    assess,
    expected_per_source,
    gantt,
    image_drift,
    is_sha_prefix,
    observe,
    parse_timestamp,
    progress_line,
    repo_key,
    revision_matches,
    same_repository,
    worst_health,
)

SHA = "1a2b3c4d5e6f708192a3b4c5d6e7f80912a3b4c5"
OLD = "0" * 40


def app(
    *,
    sync: str = "Synced",
    health: str | None = "Healthy",
    revision: str = SHA,
    phase: str | None = "Succeeded",
    operation: bool = False,
    reconciled: str = "2024-05-01T10:00:10Z",
    conditions: list[dict[str, str]] | None = None,
    message: str = "",
) -> dict[str, Any]:
    status: dict[str, Any] = {"sync": {"status": sync, "revision": revision}, "reconciledAt": reconciled}
    if health is not None:
        status["health"] = {"status": health, "message": message} if message else {"status": health}
    if phase is not None:
        status["operationState"] = {
            "phase": phase,
            "startedAt": "2024-05-01T10:00:00Z",
            "finishedAt": None if phase == "Running" else "2024-05-01T10:00:05Z",
            "operation": {"sync": {"revision": revision}},
        }
    if conditions:
        status["conditions"] = conditions
    doc: dict[str, Any] = {
        "metadata": {"name": "guestbook", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "guestbook"},
            "source": {
                "repoURL": "https://github.com/o/config.git",
                "path": "envs/dev",
                "targetRevision": "main",
            },
        },
        "status": status,
    }
    if operation:
        doc["operation"] = {"sync": {"revision": revision}}
    return doc


EXPECT = Expectation((SHA,))


def tracker(grace: float = 60.0) -> WaitTracker:
    return WaitTracker("guestbook", EXPECT, degraded_grace=grace, started=100.0)


# -- WaitTracker ----------------------------------------------------------------------------


def test_transient_degraded_within_grace_then_healthy_is_done() -> None:
    t = tracker(60)
    assert t.update(observe(app(health="Degraded")), 100.0).verdict is Verdict.DEGRADED
    assert t.deadline_hint(100.0) == 160.0
    assert t.update(observe(app(health="Degraded")), 159.9).verdict is Verdict.DEGRADED
    result = t.update(observe(app()), 159.95)
    assert result.verdict is Verdict.DONE and t.done_at == 159.95
    assert t.deadline_hint(159.95) is None


def test_lasting_degraded_fails_when_the_grace_runs_out() -> None:
    t = tracker(60)
    t.update(observe(app(health="Degraded", message="CrashLoopBackOff")), 110.0)
    result = t.update(observe(app(health="Degraded", message="CrashLoopBackOff")), 170.0)
    assert result.verdict is Verdict.FAILED
    assert result.reason == (
        "Degraded for 60.0s (degraded-grace 60s): health Degraded at revision 1a2b3c4: CrashLoopBackOff"
    )


def test_grace_zero_fails_at_once() -> None:
    t = tracker(0)
    result = t.update(observe(app(conditions=[{"type": "SyncError", "message": "quota exceeded"}])), 100.0)
    assert result.verdict is Verdict.FAILED
    assert "condition SyncError: quota exceeded" in result.reason


def test_recovery_resets_the_grace_clock() -> None:
    t = tracker(10)
    t.update(observe(app(health="Degraded")), 100.0)
    t.update(observe(app(health="Progressing")), 108.0)
    assert t.update(observe(app(health="Degraded")), 109.0).verdict is Verdict.DEGRADED
    assert t.deadline_hint(109.0) == 119.0
    assert t.update(observe(app(health="Degraded")), 118.9).verdict is Verdict.DEGRADED
    assert t.update(observe(app(health="Degraded")), 119.0).verdict is Verdict.FAILED


def test_deleted_app_fails_clearly() -> None:
    t = tracker()
    t.update(observe(app(sync="OutOfSync")), 101.0)
    result = t.update(None, 102.0)
    assert result.verdict is Verdict.FAILED
    assert result.reason == "application guestbook was deleted during the wait"


def test_stale_revision_already_synced_and_healthy_is_not_done() -> None:
    t = tracker()
    result = t.update(observe(app(revision=OLD)), 100.0)
    assert result.verdict is Verdict.WAITING
    assert result.reason == "revision 0000000 is not the expected 1a2b3c4 (sync Synced, health Healthy)"
    assert t.done_at is None


def test_transitions_only_on_change_with_elapsed_time() -> None:
    t = tracker()
    t.update(observe(app(sync="OutOfSync", revision=SHA, phase=None)), 100.5)
    assert t.changed
    t.update(observe(app(sync="OutOfSync", revision=SHA, phase=None)), 101.0)
    assert not t.changed
    t.update(observe(app(sync="OutOfSync", phase="Running", operation=True)), 102.0)
    t.update(observe(app(health="Progressing")), 103.0)
    t.update(observe(app()), 104.0)
    assert t.transitions == [
        Transition(0.5, "OutOfSync", "Healthy", None, SHA),
        Transition(2.0, "OutOfSync", "Healthy", "Running", SHA),
        Transition(3.0, "Synced", "Progressing", "Succeeded", SHA),
        Transition(4.0, "Synced", "Healthy", "Succeeded", SHA),
    ]
    assert t.done_at == 104.0 and t.last is not None and t.assessment is not None


def test_done_at_clears_when_the_app_regresses() -> None:
    t = tracker()
    t.update(observe(app()), 101.0)
    t.update(observe(app(health="Progressing")), 102.0)
    assert t.done_at is None


# -- progress_line --------------------------------------------------------------------------


def test_progress_line_with_previous_and_expected() -> None:
    before = observe(app(sync="OutOfSync", phase="Running", operation=True))
    now = observe(app(health="Progressing"))
    line = progress_line("guestbook", now, 12.34, previous=before, expected=EXPECT)
    assert line == (
        "guestbook: OutOfSync → Synced · Healthy → Progressing · op Running → Succeeded · "
        "rev 1a2b3c4 (expected 1a2b3c4) · 12.3s"
    )


def test_progress_line_plain_and_one_line() -> None:
    obs = observe(app(phase=None))
    assert (
        progress_line("guestbook", obs, 0.0) == "guestbook: Synced · Healthy · op none · rev 1a2b3c4 · 0.0s"
    )
    assert "\n" not in progress_line("evil\nname", obs, 1.0)


# -- gantt ----------------------------------------------------------------------------------


def test_gantt_exact_text() -> None:
    timeline = [
        Transition(0.0, "OutOfSync", "Healthy", None, OLD),
        Transition(1.5, "OutOfSync", "Healthy", "Running", SHA),
        Transition(3.0, "Synced", "Progressing", "Succeeded", SHA),
        Transition(4.0, "Synced", "Progressing", "Succeeded", SHA),  # same bar: merged
        Transition(7.25, "Synced", "Healthy", "Succeeded", SHA),
    ]
    text = gantt(
        {"guestbook": timeline, "team#1: api": [Transition(0.0, "Synced", "Degraded", None, SHA)]},
        started_at=datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc),
        ended=9.0,
    )
    assert text == (
        "```mermaid\n"
        "gantt\n"
        "    title Argo CD sync\n"
        "    dateFormat YYYY-MM-DD HH:mm:ss.SSS\n"
        "    axisFormat %H:%M:%S\n"
        "    section guestbook\n"
        "    OutOfSync :2024-05-01 10:00:00.000, 2024-05-01 10:00:01.500\n"
        "    syncing :active, 2024-05-01 10:00:01.500, 2024-05-01 10:00:03.000\n"
        "    Progressing :2024-05-01 10:00:03.000, 2024-05-01 10:00:07.250\n"
        "    Healthy :done, 2024-05-01 10:00:07.250, 2024-05-01 10:00:09.000\n"
        "    section team#35;1#58; api\n"
        "    Degraded :crit, 2024-05-01 10:00:00.000, 2024-05-01 10:00:09.000\n"
        "```\n"
    )


def test_gantt_lines_are_valid_mermaid_gantt_statements() -> None:
    text = gantt(
        {"a:b#c;d\nx": [Transition(0.0, "Unknown", "Unknown", None, "")]},
        started_at=datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc),
        ended=0.0,
    )
    body = text.splitlines()[1:-1]
    assert body[0] == "gantt"
    for line in body[1:]:
        keyword, _, rest = line.strip().partition(" ")
        if keyword in ("title", "dateFormat", "axisFormat", "section"):
            assert "#" not in rest.replace("#35;", "").replace("#58;", "").replace("#59;", "")
            assert ":" not in rest or keyword in ("dateFormat", "axisFormat")
        else:  # a task: "<name> :<data>" with exactly one ':' before the data
            name, sep, data = line.strip().partition(" :")
            assert sep and ":" not in name and "#" not in name
            assert len(data.split(",")) in (2, 3)


# -- image_drift ----------------------------------------------------------------------------

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


@pytest.mark.parametrize(
    ("expected", "live", "drift"),
    [
        (["ghcr.io/o/api:1.2.3"], ["ghcr.io/o/api:1.2.3"], ()),
        (
            ["ghcr.io/o/api:1.2.3"],
            ["ghcr.io/o/api:1.2.4"],
            (ImageDrift("ghcr.io/o/api", "ghcr.io/o/api:1.2.3", "ghcr.io/o/api:1.2.4"),),
        ),
        ([f"ghcr.io/o/api:1.2.3@{D1}"], [f"ghcr.io/o/api@{D1}"], ()),
        (
            [f"ghcr.io/o/api:1.2.3@{D1}"],
            [f"ghcr.io/o/api:1.2.3@{D2}"],
            (ImageDrift("ghcr.io/o/api", f"ghcr.io/o/api:1.2.3@{D1}", f"ghcr.io/o/api:1.2.3@{D2}"),),
        ),
        (
            [f"ghcr.io/o/api@{D1}"],
            ["ghcr.io/o/api:1.2.3"],
            (ImageDrift("ghcr.io/o/api", f"ghcr.io/o/api@{D1}", "ghcr.io/o/api:1.2.3"),),
        ),
        (["nginx"], ["docker.io/library/nginx:latest"], ()),
        (["localhost:5000/api:1"], ["localhost:5000/api:1"], ()),
        (["ghcr.io/o/api:1"], [], (ImageDrift("ghcr.io/o/api", "ghcr.io/o/api:1", None),)),
        ([], ["ghcr.io/o/side:2"], (ImageDrift("ghcr.io/o/side", None, "ghcr.io/o/side:2"),)),
        (["ghcr.io/o/api:1", "ghcr.io/o/api:2"], ["ghcr.io/o/api:2", "ghcr.io/o/api:1"], ()),
    ],
)
def test_image_drift(expected: list[str], live: list[str], drift: tuple[ImageDrift, ...]) -> None:
    assert image_drift(expected, live) == drift


# -- expected_per_source --------------------------------------------------------------------

MULTI = {
    "metadata": {"name": "multi"},
    "spec": {
        "sources": [
            {"repoURL": "https://GitHub.com/o/config.git", "path": "a"},
            {"repoURL": "https://charts.example.com", "chart": "redis", "targetRevision": "1.0.0"},
            {"repoURL": "git@github.com:o/values.git", "ref": "values"},
        ]
    },
}


@pytest.mark.parametrize(
    ("doc", "expected", "repo", "result"),
    [
        (app(), [SHA], None, (SHA,)),
        (app(), ["*"], None, (None,)),
        (MULTI, [SHA], "https://github.com/o/config", (SHA, None, None)),
        (MULTI, [SHA], "ssh://git@github.com/o/values.git/", (None, None, SHA)),
        (MULTI, [SHA], None, (SHA, None, SHA)),
        (MULTI, [SHA], "https://github.com/o/other", (SHA, None, SHA)),
        (MULTI, [SHA], "file:///srv/mirror/O/Config.git", (SHA, None, None)),  # owner/name, any host
        (MULTI, [SHA, "1.0.0", ""], None, (SHA, "1.0.0", None)),
        ({}, [SHA], None, (SHA,)),
    ],
)
def test_expected_per_source(
    doc: dict[str, Any], expected: list[str], repo: str | None, result: tuple[str | None, ...]
) -> None:
    assert expected_per_source(observe(doc), expected, repo) == result


@pytest.mark.parametrize("expected", [[SHA, SHA], [], [SHA, SHA, SHA, SHA]])
def test_expected_per_source_wrong_count(expected: list[str]) -> None:
    doc = MULTI if len(expected) == 4 else app()
    with pytest.raises(ValueError, match="expected revision"):
        expected_per_source(observe(doc), expected, None)


# -- small rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "worst"),
    [
        ([], "Healthy"),
        (["Healthy", "Suspended"], "Suspended"),
        (["Progressing", "Suspended", "Healthy"], "Progressing"),
        (["Missing", "Progressing"], "Missing"),
        (["Degraded", "Missing"], "Degraded"),
        (["Degraded", "Unknown"], "Unknown"),
        (["Healthy", "Exploded"], "Unknown"),
    ],
)
def test_worst_health(statuses: list[str], worst: str) -> None:
    assert worst_health(statuses) == worst


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("abcdef1", True),
        ("abcdef", False),
        ("ABCDEF1", True),
        ("a" * 40, True),
        ("a" * 41, False),
        ("a" * 64, True),
        ("0.45.27", False),
        ("abcdefg", False),
        ("", False),
    ],
)
def test_is_sha_prefix(text: str, ok: bool) -> None:
    assert is_sha_prefix(text) is ok


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        (SHA, SHA, True),
        (SHA[:7], SHA, True),
        (SHA[:6], SHA, False),
        (SHA.upper(), SHA, True),
        (SHA, SHA[:7], True),
        (SHA[:8], "1a2b3c4e" + "0" * 32, False),
        ("0.45.27", "0.45.27", True),
        ("0.45.2", "0.45.27", False),
        ("v1.0", "V1.0", False),
        (SHA, None, False),
        (SHA, "", False),
        ("", "", False),
        ("HEAD", "HEAD", True),
    ],
)
def test_revision_matches(expected: str, actual: str | None, ok: bool) -> None:
    assert revision_matches(expected, actual) is ok


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-03-05T07:33:04Z", "2024-03-05T07:33:04+00:00"),
        ("2024-03-05T09:33:04+02:00", "2024-03-05T07:33:04+00:00"),
        ("2024-03-05T07:33:04.5Z", "2024-03-05T07:33:04.500000+00:00"),
        ("2024-13-05T07:33:04Z", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_parse_timestamp(text: str | None, iso: str | None) -> None:
    parsed = parse_timestamp(text)
    assert (parsed.isoformat() if parsed else None) == iso


# -- error conditions of another revision (review 9a #12) -----------------------------------

NEW = "b" * 40


def _failed_attempt(revision: str, *, sync: str = "OutOfSync") -> dict[str, Any]:
    # Release `revision` failed to sync: auto-sync leaves SyncError until its next attempt.
    return app(
        sync=sync,
        revision=revision,
        phase="Failed",
        conditions=[
            {"type": "SyncError", "message": f"Failed sync attempt to {revision}: one or more objects failed"}
        ],
    )


def test_an_error_condition_of_the_previous_revision_waits_for_the_fix() -> None:
    t = WaitTracker("guestbook", Expectation((NEW,)), degraded_grace=0, started=100.0)
    result = t.update(observe(_failed_attempt(OLD)), 100.0)
    assert result.verdict is Verdict.WAITING
    assert result.reason.startswith("revision 0000000 is not the expected bbbbbbb")
    assert f"condition SyncError: Failed sync attempt to {OLD}" in result.reason
    comparison = app(revision=OLD, conditions=[{"type": "ComparisonError", "message": "rpc error"}])
    assert t.update(observe(comparison), 101.0).verdict is Verdict.WAITING
    # The fix arrives: Synced and Healthy at NEW, the condition gone.
    assert t.update(observe(app(revision=NEW)), 102.0).verdict is Verdict.DONE


def test_an_error_condition_with_no_compared_revision_counts_as_degraded() -> None:
    # Argo CD cannot render the target: sync Unknown, no revision at all, a ComparisonError (health
    # stays what it was). Nothing moves until someone fixes it: Degraded for the grace, then failed.
    message = "Failed to load target state: kustomize build failed"
    broken = app(sync="Unknown", revision=OLD, conditions=[{"type": "ComparisonError", "message": message}])
    del broken["status"]["sync"]["revision"]
    t = WaitTracker("guestbook", Expectation((NEW,)), degraded_grace=5, started=100.0)
    first = t.update(observe(broken), 100.0)
    assert first.verdict is Verdict.DEGRADED
    assert first.reason == f"condition ComparisonError: {message}"
    assert t.update(observe(broken), 106.0).verdict is Verdict.FAILED
    # Within the grace, the fix clears it: Synced and Healthy at NEW.
    t = WaitTracker("guestbook", Expectation((NEW,)), degraded_grace=5, started=100.0)
    assert t.update(observe(broken), 100.0).verdict is Verdict.DEGRADED
    assert t.update(observe(app(revision=NEW)), 102.0).verdict is Verdict.DONE


def test_an_error_condition_at_the_expected_revision_or_naming_it_still_fails() -> None:
    at_new = WaitTracker("guestbook", Expectation((NEW,)), degraded_grace=0, started=100.0)
    comparison = app(revision=NEW, conditions=[{"type": "ComparisonError", "message": "rpc error"}])
    assert at_new.update(observe(comparison), 100.0).verdict is Verdict.FAILED
    # SyncError about NEW while status.sync.revision still shows OLD: the expected one failed.
    naming = app(
        sync="OutOfSync",
        revision=OLD,
        conditions=[{"type": "SyncError", "message": f"Failed sync attempt to {NEW.upper()}: denied"}],
    )
    t = WaitTracker("guestbook", Expectation((NEW[:9],)), degraded_grace=0, started=100.0)
    result = t.update(observe(naming), 100.0)
    assert result.verdict is Verdict.FAILED and "denied" in result.reason


# -- a later commit that contains the expected one (review 9a #4) ---------------------------


class FakeLineage:
    """``contains`` answers from a table; records every question."""

    def __init__(self, answers: dict[tuple[str, str], Ancestry]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str, str]] = []

    def contains(self, repo_url: str, newer: str, older: str) -> Ancestry:
        self.asked.append((repo_url, newer, older))
        return self.answers.get((newer, older), Ancestry(False))


LATER = "c" * 40


def test_a_later_commit_that_contains_the_expected_one_is_accepted() -> None:
    lineage = FakeLineage({(LATER, SHA): Ancestry(True)})
    expectation = Expectation((SHA,), lineage=lineage)
    result = assess(observe(app(revision=LATER)), expectation)
    assert result.verdict is Verdict.DONE and result.superseded_by == LATER
    assert result.reason == (
        "Synced at ccccccc and Healthy (at ccccccc, a later commit that contains the expected 1a2b3c4)"
    )
    assert lineage.asked == [("https://github.com/o/config.git", LATER, SHA)]
    # Still the ordinary rules at the later revision: Progressing there is not done.
    progressing = assess(observe(app(revision=LATER, health="Progressing")), expectation)
    assert progressing.verdict is Verdict.WAITING and progressing.superseded_by == LATER


def test_a_later_commit_fails_at_once_when_descendants_are_not_accepted() -> None:
    lineage = FakeLineage({(LATER, SHA): Ancestry(True)})
    t = WaitTracker(
        "guestbook",
        Expectation((SHA,), accept_descendant=False, lineage=lineage),
        degraded_grace=60,
        started=100.0,
    )
    result = t.update(observe(app(revision=LATER)), 100.0)
    assert result.verdict is Verdict.FAILED
    assert result.reason == (
        "Argo CD moved on to ccccccc, which contains 1a2b3c4; 1a2b3c4 itself will never be reported "
        "(accept-descendant is false)"
    )


def test_an_unrelated_or_undecided_revision_keeps_waiting() -> None:
    lineage = FakeLineage({(LATER, SHA): Ancestry(None, "git fetch failed: no route")})
    undecided = assess(observe(app(revision=LATER)), Expectation((SHA,), lineage=lineage))
    assert undecided.verdict is Verdict.WAITING and undecided.superseded_by is None
    assert undecided.reason.endswith(
        "; could not tell whether ccccccc contains 1a2b3c4: git fetch failed: no route"
    )
    older = assess(observe(app(revision=OLD)), Expectation((SHA,), lineage=lineage))
    assert older.verdict is Verdict.WAITING and "could not tell" not in older.reason


@pytest.mark.parametrize(
    ("expected", "doc"),
    [
        (SHA[:12], app(revision=LATER)),  # a prefix: never looked up
        ("1.2.3", app(revision="1.2.4")),  # a chart version
        (SHA, app(revision="1.2.4")),
        (SHA, app(revision=LATER, sync="OutOfSync")),  # not Synced: Argo CD has not settled on it
        (SHA, app(revision=SHA)),  # at the expected revision
    ],
)
def test_the_lineage_is_asked_only_for_two_full_shas_on_a_synced_app(
    expected: str, doc: dict[str, Any]
) -> None:
    lineage = FakeLineage({})
    assess(observe(doc), Expectation((expected,), lineage=lineage))
    assert lineage.asked == []


def test_a_multi_source_app_is_superseded_only_where_a_revision_moved() -> None:
    doc = copy.deepcopy(MULTI)
    doc["status"] = {
        "sync": {"status": "Synced", "revisions": [LATER, "1.0.0", SHA]},
        "health": {"status": "Healthy"},
        "reconciledAt": "2024-05-01T10:00:10Z",
    }
    lineage = FakeLineage({(LATER, SHA): Ancestry(True)})
    result = assess(observe(doc), Expectation((SHA, None, SHA), lineage=lineage))
    assert result.verdict is Verdict.DONE and result.superseded_by == f"{LATER},1.0.0,{SHA}"
    assert lineage.asked == [("https://GitHub.com/o/config.git", LATER, SHA)]


# -- repositories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://github.com/Org/Config.git", "git@github.com:org/config", True),
        ("file:///tmp/x/remotes/org/config.git", "https://git.example.com/org/config.git", True),
        ("https://gitlab.com/group/sub/config/", "ssh://git@mirror:2222/sub/config.git", True),
        ("https://github.com/org/app.git", "https://github.com/org/config", False),
        ("https://github.com/other/config", "https://github.com/org/config", False),
        ("https://charts.example.com", "https://charts.example.com", False),  # no path: no identity
    ],
)
def test_same_repository_compares_owner_and_name(a: str, b: str, same: bool) -> None:
    assert same_repository(a, b) is same
    assert repo_key("https://GitHub.com/Org/Config.git/") == "org/config"
