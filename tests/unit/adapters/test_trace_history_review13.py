"""Review of issue 13 (trace): the history reader on histories a new user or an attacker makes
(tests/unit/adapters/trace_repo.py builds them in the formats the real commands write)."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gitops_release.core.db import apply_releases, dump_db, empty_db
from gitops_release.core.trace_model import TraceResult
from tests.fixtures.trace import trace_checkout
from tests.unit.adapters.trace_repo import ConfigRepo, kustomization, release

IMAGE = "ghcr.io/org/app"
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def _trace(path: Path, query: str) -> TraceResult:
    return trace_checkout(path, query, now=NOW)


def _env(result: TraceResult, name: str):  # type: ignore[no-untyped-def]
    return next(e for e in result.environments if e.environment == name)


def test_a_hand_edit_of_prod_that_also_touches_db_json_is_not_a_dispatch(tmp_path: Path) -> None:
    # Anyone who can push can set prod's image by hand; touching db.json in the same commit (a
    # reformat, or an unrelated release) must not dress the edit up as update-db's dispatch.
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"), write_through=True)
    reformatted = json.dumps(json.loads(dump_db(repo.db)), indent=4) + "\n"
    repo.commit(
        {
            repo.overlay_path("app", "prod"): kustomization({IMAGE: ("sha-1", None)}),
            "db/db.json": reformatted,
        },
        "hotfix prod",
        author="mallory",
    )
    prod = _env(_trace(repo.path, f"{IMAGE}:sha-1"), "prod")
    assert prod.present
    assert [(s.arrival.kind, s.arrival.by) for s in prod.stays] == [("edit", "mallory")]


def test_the_placeholder_images_of_an_initial_commit_are_not_dispatches(
    tmp_path: Path,
) -> None:
    # What `init config-repo` writes, committed at once: an empty db.json and overlays holding the
    # placeholder tag. Tracing the placeholder finds it in the overlays; nothing was dispatched.
    repo = _fresh_init(tmp_path)
    result = _trace(repo.path, f"{IMAGE}:sha-00000000")
    assert result.found and [e.environment for e in result.environments if e.present] == [
        "dev",
        "stage",
        "prod",
    ]
    assert {s.arrival.kind for e in result.environments for s in e.stays} == {"edit"}


def _fresh_init(tmp_path: Path) -> ConfigRepo:
    repo = ConfigRepo(tmp_path / "repo")
    overlays = {
        f"infra/overlays/{env}/kustomization.yaml": kustomization({IMAGE: ("sha-00000000", None)})
        for env in ("dev", "stage", "prod")
    }
    repo.commit(
        {
            ".gitops-release.yml": "channels: [dev, stage, prod]\noverlays:\n  dir: infra/overlays\n",
            "db/db.json": dump_db(empty_db()),
            **overlays,
        },
        "init",
        author="alice",
    )
    return repo


def test_an_image_found_in_the_overlays_is_not_said_to_be_in_no_overlay(tmp_path: Path) -> None:
    # The same fresh repo: the note (shown as a "skipped" finding) says the image is in no
    # overlay, right above the table that shows it present in all three.
    repo = _fresh_init(tmp_path)
    result = _trace(repo.path, f"{IMAGE}:sha-00000000")
    assert result.found and all(e.present for e in result.environments)
    assert not [n for n in result.notes if "nor in any overlay" in n], result.notes


def test_a_commit_dated_after_year_9999_is_no_crash(tmp_path: Path) -> None:
    # git (and git fsck) accept a committer date in year 10000; %cI prints a five-digit year.
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"), write_through=True)
    repo.write({repo.overlay_path("app", "dev"): kustomization({IMAGE: ("sha-2", None)})})
    run = {"cwd": repo.path, "check": True, "capture_output": True, "text": True}
    commit = repo.dated_commit_object(253402300800, "from the future")
    subprocess.run(["git", "fsck", "--no-dangling"], **run)  # type: ignore[call-overload]
    subprocess.run(["git", "update-ref", "refs/heads/main", commit], **run)  # type: ignore[call-overload]

    result = _trace(repo.path, f"{IMAGE}:sha-1")
    dev = _env(result, "dev")
    assert not dev.present and dev.stays and dev.stays[-1].replaced_by == f"{IMAGE}:sha-2"


def test_a_release_slipped_into_db_json_and_restored_by_hand_is_not_reported_never_released(
    tmp_path: Path,
) -> None:
    # Whoever can push sets dev's channel to another image, then puts the entry back byte for byte
    # while other entries move on (so no db.json blob repeats and no updatedAt goes backwards).
    # The segment search sees equal ends and skips the run; the answer must not be "not found"
    # (the design: a never-released image is "not found" only after reading every version).
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"))
    for n in range(1, 6):
        repo.update_db(release("web", "dev", f"w-{n}"))
    good = repo.db
    slipped, _ = apply_releases(
        repo.db, [release("app", "dev", "sha-evil")], now=repo.clock + timedelta(hours=1)
    )
    repo.commit({"db/db.json": dump_db(slipped)}, "chore: tidy", author="mallory")
    repo.db = good
    for n in range(9, 14):
        repo.update_db(release("web", "dev", f"w-{n}"))

    result = _trace(repo.path, f"{IMAGE}:sha-evil")
    assert result.found
    dev = _env(result, "dev")
    assert not dev.present and len(dev.channel_stays) == 1 and dev.channel_stays[0].left_at is not None


def test_the_json_form_on_stdout_carries_no_c1_control_from_a_commit(tmp_path: Path) -> None:
    # The table escapes control characters; the JSON form (ensure_ascii=False) escapes ESC but
    # prints U+009B (8-bit CSI) and the other C1 controls of a commit subject / author as they are.
    import io

    from gitops_release.commands import trace as trace_cmd
    from gitops_release.commands.base import Context
    from gitops_release.runtime import Console, InputReader

    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"), write_through=True)
    repo.set_overlay("app", "staging", IMAGE, "sha-1", message="promote \x9b2J\x9d0;x\x9c")
    env = {"INPUT_QUERY": f"{IMAGE}:sha-1", "INPUT_REPO-DIR": str(repo.path), "INPUT_FORMAT": "json"}
    console = Console(env=env, out=io.StringIO(), err=io.StringIO())
    outputs = trace_cmd.run(
        trace_cmd.Inputs.from_reader(InputReader(env=env)),
        Context(console=console, env=env, workdir=repo.path),
    )
    assert "promote" in outputs.report()
    assert not [ch for ch in outputs.report() if 0x80 <= ord(ch) <= 0x9F]
