"""trace's history reader: "not found" is exact, out-of-range dates are a note (REVIEW13a #2, #3)."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gitops_release.core.db import apply_releases, dump_db
from gitops_release.core.trace_model import TraceResult
from tests.fixtures.trace import trace_checkout
from tests.unit.adapters.trace_repo import ConfigRepo, kustomization, release

IMAGE = "ghcr.io/org/app"
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
EVIL_DIGEST = "sha256:" + "e" * 64
EVIL_SHA = "e0" * 20


def _trace(path: Path, query: str, *, exhaustive: bool = False) -> TraceResult:
    return trace_checkout(path, query, now=NOW, exhaustive=exhaustive)


def _slipped(tmp_path: Path, channel: str) -> ConfigRepo:
    """app/<channel> set to sha-evil in one commit and put back byte for byte later, while other
    entries move on (no blob repeats, no updatedAt goes back, no revert message)."""
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"))
    repo.update_db(release("app", "staging", "sha-1"))
    for n in range(1, 6):
        repo.update_db(release("web", "dev", f"w-{n}"))
    good = repo.db
    evil = release("app", channel, "sha-evil", sha=EVIL_SHA, digest=EVIL_DIGEST)
    slipped, _ = apply_releases(repo.db, [evil], now=repo.clock + timedelta(hours=1))
    repo.commit({"db/db.json": dump_db(slipped)}, "chore: tidy", author="mallory")
    repo.db = good
    for n in range(9, 14):
        repo.update_db(release("web", "dev", f"w-{n}"))
    return repo


@pytest.mark.parametrize(
    "query", [f"{IMAGE}:sha-evil", "sha-evil", EVIL_DIGEST, f"{IMAGE}@{EVIL_DIGEST}", EVIL_SHA[:12]]
)
def test_not_found_is_said_only_after_every_db_json_version_was_searched(tmp_path: Path, query: str) -> None:
    # Every query form, the container known (image repository) or not: the answer equals what
    # reading every version gives, the hidden stay included.
    repo = _slipped(tmp_path, "staging")
    fast, every = _trace(repo.path, query), _trace(repo.path, query, exhaustive=True)
    assert fast.found and every.found
    staging = next(e for e in fast.environments if e.environment == "staging")
    assert [(s.arrival.by, s.replaced_by) for s in staging.channel_stays] == [("mallory", f"{IMAGE}:sha-1")]
    assert fast.environments == every.environments


def test_a_never_released_reference_says_every_version_was_searched(tmp_path: Path) -> None:
    repo = _slipped(tmp_path, "dev")
    result = _trace(repo.path, f"{IMAGE}:sha-never")
    assert not result.found
    assert [n for n in result.notes if n.startswith("never released here: every one of the")]


def test_a_date_past_year_9999_is_clamped_and_said(tmp_path: Path) -> None:
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"), write_through=True)
    repo.write({repo.overlay_path("app", "dev"): kustomization({IMAGE: ("sha-2", None)})})
    run = {"cwd": repo.path, "check": True, "capture_output": True, "text": True}
    commit = repo.dated_commit_object(999999999999, "from the future")
    subprocess.run(["git", "update-ref", "refs/heads/main", commit], **run)  # type: ignore[call-overload]

    result = _trace(repo.path, f"{IMAGE}:sha-1")
    dev = next(e for e in result.environments if e.environment == "dev")
    assert dev.stays[-1].left_at == datetime(9998, 12, 31, tzinfo=timezone.utc)
    assert [n for n in result.notes if commit[:12] in n and "out of range" in n]
