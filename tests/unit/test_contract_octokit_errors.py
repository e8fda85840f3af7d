"""Contract: the real recorded GitHub error responses (octokit/fixtures) map to the right error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gitops_release.core.github_errors import github_error
from gitops_release.errors import GitHubNotFoundError, GitHubValidationError

FIXTURES = Path(__file__).resolve().parents[1] / "contracts" / "octokit"


def exchange(name: str, status: int) -> dict[str, Any]:
    for item in json.loads((FIXTURES / name).read_text()):
        if item["status"] == status:
            return item
    raise AssertionError(f"no {status} in {name}")


def test_errors_json_422_names_the_label_color_field() -> None:
    item = exchange("errors.json", 422)
    error = github_error(
        422, json.dumps(item["response"]).encode(), item["headers"], operation="create label"
    )
    assert isinstance(error, GitHubValidationError)
    text = str(error)
    assert "Label field 'color' is invalid" in text
    assert "422 Validation Failed" in text
    assert "\n" not in text


def test_branch_protection_404_keeps_githubs_reason() -> None:
    item = exchange("branch-protection.json", 404)
    error = github_error(
        404,
        item["response"],
        item["headers"],
        operation="get branch protection",
        repository="octokit-fixture-org/branch-protection",
        permission="administration: read",
    )
    assert isinstance(error, GitHubNotFoundError)
    assert "(404 Branch not protected)" in str(error)
    assert "give the token administration: read on octokit-fixture-org/branch-protection" in str(error)


def test_release_asset_conflict_422_already_exists() -> None:
    item = exchange("release-assets-conflict.json", 422)
    error = github_error(422, item["response"], item["headers"], operation="upload release asset")
    assert isinstance(error, GitHubValidationError)
    assert "ReleaseAsset field 'name' already exists" in str(error)
    assert error.fix and "existing" in error.fix
