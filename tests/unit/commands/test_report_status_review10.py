"""Review 10a reproductions: report-status inputs (no network). Each test FAILS on main at 6688032
(REVIEW10a.md numbers the findings)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gitops_release.errors import InputError
from tests.unit.commands.test_report_status import SHA, evidence, inputs

OTHER = "deadbeef" * 5


def test_f7_evidence_for_another_commit_does_not_silently_move_the_status(tmp_path: Path) -> None:
    """GITHUB_SHA is SHA; the evidence says Argo CD expected OTHER (a later push, another source
    repository, or a lying file). The commit status and the deployment must not silently land on
    OTHER: report on the run's commit, or refuse naming both."""
    (tmp_path / "ev.json").write_text(json.dumps(evidence(revision=OTHER)))
    try:
        got = inputs(workdir=tmp_path, job_status="success", environment="staging", from_evidence="ev.json")
    except InputError as refused:
        assert refused.field in ("sha", "from-evidence") and OTHER[:7] in str(refused)
        return
    assert got.sha == SHA


@pytest.mark.parametrize("name", ["results-file", "from-evidence"])
def test_f8_a_file_under_a_symlinked_directory_out_of_the_checkout_is_refused(
    tmp_path: Path, name: str
) -> None:
    """docs: "a symbolic link is refused: a checkout may be hostile"; O_NOFOLLOW only checks the
    last component, so out/ -> / reads any file of the runner."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f.json").write_text(json.dumps(evidence()) if name == "from-evidence" else "[]")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    os.symlink(outside, checkout / "out")
    given: dict[str, Any] = {name.replace("-", "_"): "out/f.json"}
    extra: dict[str, Any] = (
        {"environment": "staging"}
        if name == "from-evidence"
        else {"comment": "true", "pull_request": "7", "state": "success"}
    )
    with pytest.raises(InputError) as caught:
        inputs(workdir=checkout, **given, **extra)
    assert caught.value.field == name


def test_f9_bad_evidence_json_gives_a_fix_for_a_file_not_for_an_expression(tmp_path: Path) -> None:
    (tmp_path / "ev.json").write_text('{"schemaVersion": 1')
    with pytest.raises(InputError) as caught:
        inputs(workdir=tmp_path, environment="staging", from_evidence="ev.json")
    assert "toJSON" not in str(caught.value) and "evidence" in (caught.value.fix or "")


def test_f12_plain_http_api_url_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    """The token goes in the Authorization header of every request: http:// to anything but the
    loopback sends it in clear text."""
    with pytest.raises(InputError) as caught:
        inputs(api_url="http://ghe.example.com/api/v3", state="success")
    assert caught.value.field == "api-url"
