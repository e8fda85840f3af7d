"""The config-repo template's default prep command, ``bash scripts/release-data-prep.sh`` (what
release-data-prep.yml runs when no other command is set), as init writes it: it passes on the
database init writes, fails on a broken one, and leaves one results row for the comment table."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from gitops_release.cli import main

SCRIPT = "scripts/release-data-prep.sh"


def prep(checkout: Path, results: Path | None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "")}
    if results is not None:
        env["RELEASE_DATA_PREP_RESULTS"] = str(results)
    # As the workflow runs it: bash -eo pipefail -c "$PREP_COMMAND", from the checkout.
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", f"bash {SCRIPT}"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_default_prep_passes_on_the_database_init_writes_and_fails_on_a_broken_one(
    tmp_path: Path,
) -> None:
    checkout = tmp_path / "config"
    assert (
        main(["init", "config-repo", "--dir", str(checkout)], env={"PATH": os.environ.get("PATH", "")}) == 0
    )
    assert (checkout / SCRIPT).is_file()

    passed = prep(checkout, tmp_path / "results.json")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "db/db.json: pass (0 release(s))" in passed.stdout
    rows = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert rows == [{"name": "db/db.json", "result": "pass", "details": "0 release(s)"}]

    (checkout / "db/db.json").write_text('{"schemaVersion": 1, "releases": [\n', encoding="utf-8")
    failed = prep(checkout, tmp_path / "failed.json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    [row] = json.loads((tmp_path / "failed.json").read_text(encoding="utf-8"))
    assert (row["name"], row["result"]) == ("db/db.json", "fail") and row["details"]

    # Run by hand (no results file set): the same verdict, nothing else written.
    (checkout / "db/db.json").write_text('{"schemaVersion": 1, "releases": {}}\n', encoding="utf-8")
    by_hand = prep(checkout, None)
    assert by_hand.returncode == 1 and "no releases list" in by_hand.stdout
