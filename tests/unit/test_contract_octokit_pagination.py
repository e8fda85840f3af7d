"""Contract: real recorded GitHub responses parsed by the adapters (octokit/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gitops_release.adapters.http import HttpResponse, next_link

FIXTURES = Path(__file__).resolve().parents[1] / "contracts" / "octokit"


def load(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text())


def test_paginate_issues_link_headers_walk_every_page() -> None:
    pages = load("paginate-issues.json")
    by_path = {page["path"]: page for page in pages}
    url: str | None = "https://api.github.com" + pages[0]["path"]
    seen = []
    while url:
        page = by_path[url.removeprefix("https://api.github.com")]
        seen.append(page["path"])
        url = next_link(page["headers"])
    assert seen == [p["path"] for p in pages]
    assert len(seen) == 5
    assert next_link(pages[-1]["headers"]) is None


def test_create_status_response_fields() -> None:
    for item in load("create-status.json"):
        if item["method"] != "post":
            continue
        response = HttpResponse(item["status"], item["headers"], json.dumps(item["response"]).encode())
        body = response.json()
        assert response.status == 201
        assert body["state"] == item["body"]["state"]
        assert body["context"] == item["body"]["context"]
        assert body["description"] == item["body"]["description"]
        assert isinstance(body["id"], int)
        assert body["url"].startswith(
            "https://api.github.com/repos/octokit-fixture-org/create-status/statuses/"
        )
        assert response.header("Content-Type") is not None
