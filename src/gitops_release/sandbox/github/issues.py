"""Issue comments and labels (pull requests are the sandbox's only issues)."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from gitops_release.sandbox.github.model import (
    _R,
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
    _route(
        "GET",
        f"{_R}/issues/{{issue_number}}/comments",
        "list_comments",
        [("issues", "read"), ("pull_requests", "read")],
    ),
    _route(
        "POST",
        f"{_R}/issues/{{issue_number}}/comments",
        "create_comment",
        [("issues", "write"), ("pull_requests", "write")],
    ),
    _route(
        "GET",
        f"{_R}/issues/{{issue_number}}/labels",
        "list_labels",
        [("issues", "read"), ("pull_requests", "read")],
    ),
    _route(
        "POST",
        f"{_R}/issues/{{issue_number}}/labels",
        "add_labels",
        [("issues", "write"), ("pull_requests", "write")],
    ),
)


class IssuesMixin(ReposMixin):
    """Comments and labels on pull requests, through GitHub's issues endpoints."""

    def comments(self, full_name: str, number: int) -> list[dict[str, Any]]:
        """The comments on issue / pull request ``number``, oldest first."""
        with self._lock:
            return copy.deepcopy(self._repo(full_name).comments.get(int(number), []))

    def _label_json(self, repo: _Repo, name: str) -> dict[str, Any]:
        if name not in repo.label_ids:
            repo.label_ids[name] = self._next_id("label")
        label_id = repo.label_ids[name]
        return {
            "id": label_id,
            "node_id": _node_id("Label", label_id),
            "url": f"{self.url}/repos/{repo.full_name}/labels/{name}",
            "name": name,
            "color": "ededed",
            "default": False,
            # "" rather than null: the pull request list's label schema does not allow null.
            "description": "",
        }

    def _issue_number(self, repo: _Repo, params: Mapping[str, str]) -> int:
        return int(self._find_pull(repo, params["issue_number"])["number"])

    def _list_comments(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        number = self._issue_number(repo, params)
        page, headers = self._paginate(request, repo.comments.get(number, []))
        return 200, copy.deepcopy(page), headers

    def _create_comment(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        number = self._issue_number(repo, params)
        if not isinstance(body.get("body"), str) or not body["body"]:
            raise _validation_failed("IssueComment", "body", "missing_field")
        comment_id = self._next_id("comment")
        now = _iso(time.time())
        login, user_type = self._actor(request)
        api = f"{self.url}/repos/{repo.full_name}"
        comment = {
            "id": comment_id,
            "node_id": _node_id("IssueComment", comment_id),
            "url": f"{api}/issues/comments/{comment_id}",
            "html_url": f"{self.url}/{repo.full_name}/pull/{number}#issuecomment-{comment_id}",
            "body": body["body"],
            "user": self._user(login, user_type),
            "created_at": now,
            "updated_at": now,
            "issue_url": f"{api}/issues/{number}",
            "author_association": "OWNER",
        }
        repo.comments.setdefault(number, []).append(comment)
        return 201, copy.deepcopy(comment), {"Location": comment["url"]}

    def _list_labels(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        number = self._issue_number(repo, params)
        items = [self._label_json(repo, name) for name in repo.labels.get(number, [])]
        page, headers = self._paginate(request, items)
        return 200, page, headers

    def _add_labels(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        number = self._issue_number(repo, params)
        body = request.body
        raw = body.get("labels", []) if isinstance(body, dict) else body
        if isinstance(raw, str):
            raw = [raw]
        names = [item["name"] if isinstance(item, dict) else str(item) for item in (raw or [])]
        current = repo.labels.setdefault(number, [])
        for name in names:
            if name not in current:
                current.append(name)
        return 200, [self._label_json(repo, name) for name in current], {}

    def _find_pull(self, repo: _Repo, number: str) -> dict[str, Any]:
        pr = repo.pulls.get(int(number)) if number.isdigit() else None
        if pr is None:
            raise _error(404, "Not Found")
        return pr
