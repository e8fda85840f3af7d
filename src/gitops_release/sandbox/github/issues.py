"""Issue comments and labels (pull requests are the sandbox's only issues).

A comment's ``user`` is the token's account (``type`` Bot for an App installation token or
github-actions[bot], User for a personal access token), its ``author_association`` the token's
(see ``add_token``); :meth:`IssuesMixin.add_comment` plants one by anybody, e.g. a drive-by
commenter copying another tool's hidden marker."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from gitops_release.errors import InputError
from gitops_release.sandbox.github.model import (
    _R,
    AUTHOR_ASSOCIATIONS,
    LOGIN,
    PULL_BODY_LIMIT,
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
        f"{_R}/issues/comments/{{comment_id}}",
        "get_comment",
        [("issues", "read"), ("pull_requests", "read")],
    ),
    _route(
        "PATCH",
        f"{_R}/issues/comments/{{comment_id}}",
        "update_comment",
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

    def add_comment(
        self,
        full_name: str,
        number: int,
        body: str,
        *,
        login: str,
        association: str = "NONE",
    ) -> dict[str, Any]:
        """Add a comment to pull request ``number`` as ``login`` (not through the API), as a person
        who holds no token of ours would: a drive-by contributor (``association`` ``CONTRIBUTOR``,
        ``FIRST_TIME_CONTRIBUTOR`` or ``NONE``) or a maintainer (``MEMBER``, ``OWNER``). A login
        ending in ``[bot]`` is a Bot (another App). Returns the comment as the API shows it."""
        if not LOGIN.match(login):
            raise InputError(
                "login", f"'{login}' is not a GitHub login", fix="e.g. drive-by or other-app[bot]"
            )
        if association not in AUTHOR_ASSOCIATIONS:
            raise InputError(
                "association",
                f"'{association}' is not a GitHub author_association",
                fix="use one of " + ", ".join(AUTHOR_ASSOCIATIONS),
            )
        with self._lock:
            repo = self._repo(full_name)
            if int(number) not in repo.pulls:
                raise InputError("number", f"no pull request {number} in {full_name}", fix="open it first")
            user_type = "Bot" if login.endswith("[bot]") else "User"
            comment = self._new_comment(repo, int(number), body, login, user_type, association)
            return copy.deepcopy(comment)

    def _new_comment(
        self, repo: _Repo, number: int, text: str, login: str, user_type: str, association: str
    ) -> dict[str, Any]:
        comment_id = self._next_id("comment")
        now = _iso(time.time())
        api = f"{self.url}/repos/{repo.full_name}"
        url = f"{api}/issues/comments/{comment_id}"
        comment = {
            "id": comment_id,
            "node_id": _node_id("IssueComment", comment_id),
            "url": url,
            "html_url": f"{self.url}/{repo.full_name}/pull/{number}#issuecomment-{comment_id}",
            "body": text,
            "user": self._user(login, user_type),
            "created_at": now,
            "updated_at": now,
            "issue_url": f"{api}/issues/{number}",
            "author_association": association,
            # GitHub fills this when an App acts for a user (a user-to-server token); an installation
            # token's comment is the App's bot user's own, with null here. The sandbox has no
            # user-to-server tokens.
            "performed_via_github_app": None,
            "reactions": {
                "url": f"{url}/reactions",
                "total_count": 0,
                **{
                    name: 0 for name in ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes")
                },
            },
        }
        repo.comments.setdefault(number, []).append(comment)
        return comment

    def _comment_text(self, request: _Request) -> str:
        text = self._body(request).get("body")
        if not isinstance(text, str) or not text:
            raise _validation_failed("IssueComment", "body", "missing_field")
        if len(text) > PULL_BODY_LIMIT:
            raise _validation_failed(
                "IssueComment",
                "body",
                "custom",
                f"body is too long (maximum is {PULL_BODY_LIMIT} characters)",
            )
        return text

    def _create_comment(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        number = self._issue_number(repo, params)
        text = self._comment_text(request)
        login, user_type = self._actor(request)
        comment = self._new_comment(repo, number, text, login, user_type, self._association(request))
        return 201, copy.deepcopy(comment), {"Location": comment["url"]}

    def _find_comment(self, repo: _Repo, comment_id: str) -> dict[str, Any]:
        """A comment of ``repo`` by id; another repository's comment id is 404, as on GitHub."""
        for comments in repo.comments.values():
            for comment in comments:
                if str(comment["id"]) == comment_id:
                    return comment
        raise _error(404, "Not Found")

    def _get_comment(self, request: _Request, params: Mapping[str, str]) -> _Result:
        assert request.repo is not None
        return 200, copy.deepcopy(self._find_comment(request.repo, params["comment_id"])), {}

    def _update_comment(self, request: _Request, params: Mapping[str, str]) -> _Result:
        # Who may edit is the route's permission (issues or pull_requests write): GitHub lets any
        # token with write access edit any comment of the repository, not only its own.
        repo = request.repo
        assert repo is not None
        comment = self._find_comment(repo, params["comment_id"])
        text = self._comment_text(request)
        if text != comment["body"]:
            comment["body"] = text
            comment["updated_at"] = _iso(time.time())
        return 200, copy.deepcopy(comment), {}

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
