"""Commit statuses: POST /statuses/{sha}, GET /commits/{ref}/status(es)."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from gitops_release.sandbox.github.git import _resolve
from gitops_release.sandbox.github.model import (
    _NOT_SIMPLE,
    _R,
    _SIMPLE_REPO_KEYS,
    _error,
    _iso,
    _node_id,
    _Repo,
    _Request,
    _Result,
    _Route,
    _route,
    _validation_failed,
)
from gitops_release.sandbox.github.repos import ReposMixin

ROUTES: tuple[_Route, ...] = (
    _route("POST", f"{_R}/statuses/{{sha}}", "create_status", [("statuses", "write")], "check_status"),
    _route("GET", f"{_R}/commits/{{ref}}/status", "combined_status", [("statuses", "read")]),
    _route("GET", f"{_R}/commits/{{ref}}/statuses", "list_statuses", [("statuses", "read")]),
)


class StatusesMixin(ReposMixin):
    """Commit statuses and the combined status."""

    def statuses(self, full_name: str, sha: str) -> list[dict[str, Any]]:
        """Commit statuses of ``sha`` (or a ref), oldest first."""
        with self._lock:
            repo = self._repo(full_name)
            resolved = _resolve(repo.git_dir, sha) or sha
            return copy.deepcopy(repo.statuses.get(resolved, []))

    def _check_description(self, request: _Request, resource: str) -> None:
        description = self._body(request).get("description")
        if isinstance(description, str) and len(description) > 140:
            raise _validation_failed(
                resource, "description", "custom", "description is too long (maximum is 140 characters)"
            )

    def _check_status(self, request: _Request, params: Mapping[str, str]) -> None:
        self._check_description(request, "Status")

    def _commit_or_422(self, repo: _Repo, ref: str) -> str:
        sha = _resolve(repo.git_dir, ref)
        if sha is None:
            raise _error(422, f"No commit found for SHA: {ref}")
        return sha

    def _create_status(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        sha = self._commit_or_422(repo, params["sha"])
        context = body.get("context") or "default"
        existing = repo.statuses.setdefault(sha, [])
        if sum(1 for s in existing if s["context"].lower() == context.lower()) >= 1000:
            raise _validation_failed(
                "Status",
                "context",
                "custom",
                "This SHA and context has reached the maximum number of statuses.",
            )
        status_id = self._next_id("status")
        now = _iso(time.time())
        login, user_type = self._actor(request)
        status = {
            "url": f"{self.url}/repos/{repo.full_name}/statuses/{sha}",
            "avatar_url": None,
            "id": status_id,
            "node_id": _node_id("StatusContext", status_id),
            "state": body["state"],
            "description": body.get("description") or "",
            "target_url": body.get("target_url") or "",
            "context": context,
            "created_at": now,
            "updated_at": now,
            "creator": self._user(login, user_type),
        }
        existing.append(status)
        return 201, copy.deepcopy(status), {}

    def _latest_per_context(self, repo: _Repo, sha: str) -> list[dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for status in repo.statuses.get(sha, []):
            latest[status["context"].lower()] = status
        return list(latest.values())

    @staticmethod
    def _combined_state(statuses: list[dict[str, Any]]) -> str:
        states = {s["state"] for s in statuses}
        if states & {"error", "failure"}:
            return "failure"
        if not states or "pending" in states:
            return "pending"
        return "success"

    def _commit_or_404(self, repo: _Repo, ref: str) -> str:
        sha = _resolve(repo.git_dir, ref)
        if sha is None:
            raise _error(404, "Not Found")
        return sha

    def _combined_status(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        sha = self._commit_or_404(repo, params["ref"])
        latest = self._latest_per_context(repo, sha)
        page, headers = self._paginate(request, latest)
        repo_json = self._repo_json(repo)
        # GitHub embeds the short "simple repository" here: API links and identity, no counters.
        minimal = {
            k: v
            for k, v in repo_json.items()
            if (k.endswith("_url") and k not in _NOT_SIMPLE) or k in _SIMPLE_REPO_KEYS
        }
        statuses = [{k: v for k, v in s.items() if k != "creator"} for s in page]
        return (
            200,
            {
                "state": self._combined_state(latest),
                "statuses": statuses,
                "sha": sha,
                "total_count": len(latest),
                "repository": minimal,
                "commit_url": f"{self.url}/repos/{repo.full_name}/commits/{sha}",
                "url": f"{self.url}/repos/{repo.full_name}/commits/{sha}/status",
            },
            headers,
        )

    def _list_statuses(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        sha = self._commit_or_404(repo, params["ref"])
        page, headers = self._paginate(request, list(reversed(repo.statuses.get(sha, []))))
        return 200, copy.deepcopy(page), headers
