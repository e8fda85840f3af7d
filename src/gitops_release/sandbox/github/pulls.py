"""Pull requests, review requests and reviews:
/repos/{o}/{r}/pulls[/{n}[/merge|/requested_reviewers|/reviews]]."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable, Mapping
from typing import Any

from gitops_release.errors import InputError
from gitops_release.sandbox.github.git import _git, _merge_tree, _resolve
from gitops_release.sandbox.github.issues import IssuesMixin
from gitops_release.sandbox.github.model import (
    _R,
    DOCS,
    NOT_COLLABORATOR_MESSAGE,
    PULL_BODY_LIMIT,
    _error,
    _iso,
    _node_id,
    _Reply,
    _Repo,
    _Request,
    _Result,
    _Route,
    _route,
    _validation_failed,
)

ROUTES: tuple[_Route, ...] = (
    _route("GET", f"{_R}/pulls", "list_pulls", [("pull_requests", "read")]),
    _route("POST", f"{_R}/pulls", "create_pull", [("pull_requests", "write")]),
    _route("GET", f"{_R}/pulls/{{pull_number}}", "get_pull", [("pull_requests", "read")]),
    _route("PATCH", f"{_R}/pulls/{{pull_number}}", "update_pull", [("pull_requests", "write")]),
    _route(
        "GET",
        f"{_R}/pulls/{{pull_number}}/requested_reviewers",
        "list_review_requests",
        [("pull_requests", "read")],
    ),
    _route(
        "POST",
        f"{_R}/pulls/{{pull_number}}/requested_reviewers",
        "request_reviewers",
        [("pull_requests", "write")],
    ),
    _route("GET", f"{_R}/pulls/{{pull_number}}/reviews", "list_reviews", [("pull_requests", "read")]),
    _route("PUT", f"{_R}/pulls/{{pull_number}}/merge", "merge_pull", [("contents", "write")]),
)


class PullsMixin(IssuesMixin):
    """Pull requests (open, update, merge with real git), reviewers and reviews."""

    def pulls(self, full_name: str) -> list[dict[str, Any]]:
        """Every pull request as GitHub shows it (``labels``, ``requested_reviewers``,
        ``requested_teams`` included), oldest first."""
        with self._lock:
            repo = self._repo(full_name)
            return [self._pull_json(repo, pr) for pr in repo.pulls.values()]

    def add_collaborators(self, full_name: str, *logins: str, teams: Iterable[str] = ()) -> None:
        """Accounts and team slugs reviews may be requested from (besides the tokens' own logins);
        anyone else gets GitHub's 422 "Reviews may only be requested from collaborators"."""
        with self._lock:
            repo = self._repo(full_name)
            repo.collaborators.update(login.lower() for login in logins)
            for slug in teams:
                repo.teams.setdefault(slug.lower(), self._next_id("team"))

    def add_review(
        self, full_name: str, number: int, login: str, *, state: str = "APPROVED", body: str = ""
    ) -> None:
        """``login`` reviews pull request ``number``; as on GitHub, their pending request is removed."""
        with self._lock:
            repo = self._repo(full_name)
            pr = repo.pulls.get(int(number))
            if pr is None:
                raise InputError("number", f"no pull request #{number} in {full_name}", fix="open it first")
            pr["requested_reviewers"] = [u for u in pr["requested_reviewers"] if u.lower() != login.lower()]
            review_id = self._next_id("review")
            api = f"{self.url}/repos/{repo.full_name}/pulls/{number}"
            html = f"{self.url}/{repo.full_name}/pull/{number}"
            head_sha = _resolve(repo.git_dir, f"refs/heads/{pr['head']}") or pr["head_sha"]
            repo.reviews.setdefault(int(number), []).append(
                {
                    "id": review_id,
                    "node_id": _node_id("PullRequestReview", review_id),
                    "user": self._user(login),
                    "body": body,
                    "state": state,
                    "html_url": f"{html}#pullrequestreview-{review_id}",
                    "pull_request_url": api,
                    "_links": {
                        "html": {"href": f"{html}#pullrequestreview-{review_id}"},
                        "pull_request": {"href": api},
                    },
                    "submitted_at": _iso(time.time()),
                    "commit_id": head_sha,
                    "author_association": "COLLABORATOR",
                }
            )

    def _team_json(self, repo: _Repo, slug: str) -> dict[str, Any]:
        """GitHub's ``team`` object (also valid as ``team-simple``) for a team of the repo's organization."""
        team_id = repo.teams.get(slug.lower()) or self._next_id("team")
        api = f"{self.url}/organizations/{sum(repo.owner.encode()) + 1000}/team/{team_id}"
        return {
            "id": team_id,
            "node_id": _node_id("Team", team_id),
            "url": api,
            "html_url": f"{self.url}/orgs/{repo.owner}/teams/{slug}",
            "name": slug,
            "slug": slug,
            "description": None,
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": "push",
            "members_url": f"{api}/members{{/member}}",
            "repositories_url": f"{api}/repos",
            "parent": None,
        }

    def _branch_json(self, repo: _Repo, branch: str, sha: str) -> dict[str, Any]:
        return {
            "label": f"{repo.owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": self._user(repo.owner, "Organization"),
            "repo": self._repo_json(repo),
        }

    def _pull_json(self, repo: _Repo, pr: dict[str, Any]) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        number = pr["number"]
        head_sha = pr["head_sha"]
        base_sha = pr["base_sha"]
        if pr["state"] == "open":
            head_sha = _resolve(repo.git_dir, f"refs/heads/{pr['head']}") or head_sha
            base_sha = _resolve(repo.git_dir, f"refs/heads/{pr['base']}") or base_sha
        mergeable: bool | None = None
        state = "unknown"
        if pr["state"] == "open":
            mergeable = _merge_tree(repo.git_dir, base_sha, head_sha) is not None
            state = "clean" if mergeable else "dirty"
        html = f"{self.url}/{repo.full_name}/pull/{number}"
        links = {
            "self": {"href": f"{api}/pulls/{number}"},
            "html": {"href": html},
            "issue": {"href": f"{api}/issues/{number}"},
            "comments": {"href": f"{api}/issues/{number}/comments"},
            "review_comments": {"href": f"{api}/pulls/{number}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{number}/commits"},
            "statuses": {"href": f"{api}/statuses/{head_sha}"},
        }
        return {
            "url": f"{api}/pulls/{number}",
            "id": pr["id"],
            "node_id": _node_id("PullRequest", pr["id"]),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{api}/issues/{number}",
            "commits_url": f"{api}/pulls/{number}/commits",
            "review_comments_url": f"{api}/pulls/{number}/comments",
            "review_comment_url": f"{api}/pulls/comments{{/number}}",
            "comments_url": f"{api}/issues/{number}/comments",
            "statuses_url": f"{api}/statuses/{head_sha}",
            "number": number,
            "state": pr["state"],
            "locked": False,
            "title": pr["title"],
            "user": self._user(pr["user"], pr["user_type"]),
            "body": pr["body"],
            "labels": [self._label_json(repo, name) for name in repo.labels.get(number, [])],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _iso(pr["created_at"]),
            "updated_at": _iso(pr["updated_at"]),
            "closed_at": _iso(pr["closed_at"]) if pr["closed_at"] else None,
            "merged_at": _iso(pr["closed_at"]) if pr["merged"] else None,
            "merge_commit_sha": pr["merge_commit_sha"],
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [self._user(login) for login in pr["requested_reviewers"]],
            "requested_teams": [self._team_json(repo, slug) for slug in pr["requested_teams"]],
            "head": self._branch_json(repo, pr["head"], head_sha),
            "base": self._branch_json(repo, pr["base"], base_sha),
            "_links": links,
            "author_association": "OWNER",
            "auto_merge": None,
            "draft": pr["draft"],
            "merged": pr["merged"],
            "mergeable": mergeable,
            "rebaseable": mergeable,
            "mergeable_state": state,
            "merged_by": self._user(pr["merged_by"]) if pr["merged_by"] else None,
            "comments": len(repo.comments.get(number, [])),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": pr["commits"],
            "additions": pr["additions"],
            "deletions": pr["deletions"],
            "changed_files": pr["changed_files"],
        }

    def _branch_name(self, repo: _Repo, value: str) -> str:
        if ":" in value:
            owner, _, branch = value.partition(":")
            return branch if owner.lower() == repo.owner.lower() else f"\x00{value}"
        return value

    def _list_pulls(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        state = request.query.get("state", "open")
        head = request.query.get("head")
        base = request.query.get("base")
        items = []
        for pr in reversed(list(repo.pulls.values())):
            if state != "all" and pr["state"] != state:
                continue
            if head and self._branch_name(repo, head) != pr["head"]:
                continue
            if base and base != pr["base"]:
                continue
            items.append(pr)
        page, headers = self._paginate(request, items)
        return 200, [self._pull_json(repo, pr) for pr in page], headers

    def _get_pull(self, request: _Request, params: Mapping[str, str]) -> _Result:
        assert request.repo is not None
        return 200, self._pull_json(request.repo, self._find_pull(request.repo, params["pull_number"])), {}

    def _create_pull(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        head = self._branch_name(repo, str(body.get("head", "")))
        base = str(body.get("base", ""))
        head_sha = _resolve(repo.git_dir, f"refs/heads/{head}")
        base_sha = _resolve(repo.git_dir, f"refs/heads/{base}")
        if not body.get("title") and not body.get("issue"):
            raise _validation_failed("PullRequest", "title", "missing_field")
        self._check_pull_body(body)
        if head_sha is None:
            raise _validation_failed("PullRequest", "head", "invalid")
        if base_sha is None:
            raise _validation_failed("PullRequest", "base", "invalid")
        for pr in repo.pulls.values():
            if pr["state"] == "open" and pr["head"] == head and pr["base"] == base:
                raise _Reply(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for {repo.owner}:{head}.",
                            }
                        ],
                        "documentation_url": DOCS,
                    },
                )
        commits = self._count_commits(repo, base_sha, head_sha)
        if commits == 0:
            raise _Reply(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"No commits between {base} and {head}",
                        }
                    ],
                    "documentation_url": DOCS,
                },
            )
        additions = deletions = changed = 0
        numstat = _git(repo.git_dir, "diff", "--numstat", f"{base_sha}...{head_sha}").stdout
        for line in numstat.splitlines():
            added, deleted, _ = line.split("\t", 2)
            changed += 1
            additions += int(added) if added.isdigit() else 0
            deletions += int(deleted) if deleted.isdigit() else 0
        number = repo.next_number
        repo.next_number += 1
        login, user_type = self._actor(request)
        now = time.time()
        repo.pulls[number] = {
            "number": number,
            "id": self._next_id("pull"),
            "title": body.get("title") or f"Pull request {number}",
            "body": body.get("body"),
            "head": head,
            "base": base,
            "head_sha": head_sha,
            "base_sha": base_sha,
            "state": "open",
            "draft": bool(body.get("draft", False)),
            "merged": False,
            "merged_by": None,
            "merge_commit_sha": None,
            "user": login,
            "user_type": user_type,
            "created_at": now,
            "updated_at": now,
            "closed_at": None,
            "commits": commits,
            "additions": additions,
            "deletions": deletions,
            "changed_files": changed,
            "requested_reviewers": [],
            "requested_teams": [],
        }
        pr_json = self._pull_json(repo, repo.pulls[number])
        return 201, pr_json, {"Location": pr_json["url"]}

    def _merge_pull(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        pr = self._find_pull(repo, params["pull_number"])
        if pr["state"] != "open":
            raise _error(405, "Pull Request is not mergeable")
        head_sha = _resolve(repo.git_dir, f"refs/heads/{pr['head']}")
        base_sha = _resolve(repo.git_dir, f"refs/heads/{pr['base']}")
        if head_sha is None or base_sha is None:
            raise _error(405, "Pull Request is not mergeable")
        if body.get("sha") and body["sha"] != head_sha:
            raise _error(409, "Head branch was modified. Review and try the merge again.")
        tree = _merge_tree(repo.git_dir, base_sha, head_sha)
        if tree is None:
            raise _error(405, "Pull Request is not mergeable")
        method = body.get("merge_method") or "merge"
        if method == "merge":
            title = (
                body.get("commit_title")
                or f"Merge pull request #{pr['number']} from {repo.owner}/{pr['head']}"
            )
            message = body.get("commit_message") if body.get("commit_message") is not None else pr["title"]
            parents = ["-p", base_sha, "-p", head_sha]
        else:  # squash; rebase is emulated as one squashed commit on the base (see docs/sandbox.md)
            title = body.get("commit_title") or f"{pr['title']} (#{pr['number']})"
            message = body.get("commit_message") or ""
            parents = ["-p", base_sha]
        text = f"{title}\n\n{message}".strip() + "\n"
        commit = _git(repo.git_dir, "commit-tree", tree, *parents, input_text=text).stdout.strip()
        proc = _git(repo.git_dir, "update-ref", f"refs/heads/{pr['base']}", commit, base_sha, check=False)
        if proc.returncode != 0:
            raise _error(409, "Base branch was modified. Review and try the merge again.")
        login, _ = self._actor(request)
        pr.update(
            state="closed",
            merged=True,
            merged_by=login,
            merge_commit_sha=commit,
            head_sha=head_sha,
            base_sha=base_sha,
            closed_at=time.time(),
            updated_at=time.time(),
        )
        return 200, {"sha": commit, "merged": True, "message": "Pull Request successfully merged"}, {}

    @staticmethod
    def _count_commits(repo: _Repo, base_sha: str, head_sha: str) -> int:
        return int(_git(repo.git_dir, "rev-list", "--count", f"{base_sha}..{head_sha}").stdout.strip() or 0)

    @staticmethod
    def _check_pull_body(body: Mapping[str, Any]) -> None:
        text = body.get("body")
        if isinstance(text, str) and len(text) > PULL_BODY_LIMIT:
            raise _validation_failed(
                "Issue", "body", "custom", f"body is too long (maximum is {PULL_BODY_LIMIT} characters)"
            )

    def _duplicate_open_pull(
        self, repo: _Repo, head: str, base: str, number: int | None = None
    ) -> _Reply | None:
        for pr in repo.pulls.values():
            if pr["state"] == "open" and pr["head"] == head and pr["base"] == base and pr["number"] != number:
                return _Reply(
                    422,
                    {
                        "message": "Validation Failed",
                        "errors": [
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for {repo.owner}:{head}.",
                            }
                        ],
                        "documentation_url": DOCS,
                    },
                )
        return None

    def _update_pull(self, request: _Request, params: Mapping[str, str]) -> _Result:
        """PATCH a pull request: title, body, state (close / reopen), base; GitHub's REST API cannot
        change ``draft`` (GraphQL only) and ignores it, as it ignores ``maintainer_can_modify`` for a
        same-repository PR."""
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        pr = self._find_pull(repo, params["pull_number"])
        if "title" in body and not body["title"]:
            raise _validation_failed("PullRequest", "title", "missing_field")
        self._check_pull_body(body)
        changes: dict[str, Any] = {}
        if "title" in body:
            changes["title"] = body["title"]
        if "body" in body:
            changes["body"] = body["body"]
        base = body.get("base")
        if base is not None and base != pr["base"]:
            if pr["state"] != "open":
                raise _error(422, "Cannot change the base branch of a closed pull request.")
            base_sha = _resolve(repo.git_dir, f"refs/heads/{base}")
            if base_sha is None:
                raise _validation_failed("PullRequest", "base", "invalid")
            duplicate = self._duplicate_open_pull(repo, pr["head"], base, pr["number"])
            if duplicate is not None:
                raise duplicate
            head_sha = _resolve(repo.git_dir, f"refs/heads/{pr['head']}") or pr["head_sha"]
            changes.update(
                base=base, base_sha=base_sha, commits=self._count_commits(repo, base_sha, head_sha)
            )
        state = body.get("state")
        now = time.time()
        if state == "closed" and pr["state"] == "open":
            # The shas are frozen where they were: a closed PR no longer follows its branches.
            changes.update(
                state="closed",
                closed_at=now,
                head_sha=_resolve(repo.git_dir, f"refs/heads/{pr['head']}") or pr["head_sha"],
                base_sha=_resolve(repo.git_dir, f"refs/heads/{pr['base']}") or pr["base_sha"],
            )
        elif state == "open" and pr["state"] == "closed":
            if pr["merged"]:
                raise _validation_failed("PullRequest", "state", "invalid", "state cannot be changed.")
            if _resolve(repo.git_dir, f"refs/heads/{pr['head']}") is None:
                raise _validation_failed(
                    "PullRequest", "state", "invalid", "state cannot be changed. The head branch was deleted."
                )
            duplicate = self._duplicate_open_pull(repo, pr["head"], pr["base"], pr["number"])
            if duplicate is not None:
                raise duplicate
            changes.update(state="open", closed_at=None)
        if changes:
            pr.update(changes, updated_at=now)
        return 200, self._pull_json(repo, pr), {}

    def _is_collaborator(self, repo: _Repo, login: str) -> bool:
        """Explicit collaborators, and every account a sandbox token acts as (it can push)."""
        wanted = login.lower()
        return wanted in repo.collaborators or any(t.login.lower() == wanted for t in self._tokens.values())

    def _list_review_requests(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        pr = self._find_pull(repo, params["pull_number"])
        users = [self._user(login) for login in pr["requested_reviewers"]]
        teams = [self._team_json(repo, slug) for slug in pr["requested_teams"]]
        return 200, {"users": users, "teams": teams}, {}

    def _request_reviewers(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        pr = self._find_pull(repo, params["pull_number"])
        users = [str(u) for u in body.get("reviewers") or []]
        teams = [str(t) for t in body.get("team_reviewers") or []]
        if any(u.lower() == pr["user"].lower() for u in users):
            raise _error(422, "Review cannot be requested from pull request author.")
        strangers = [u for u in users if not self._is_collaborator(repo, u)]
        strangers += [t for t in teams if t.lower() not in repo.teams]
        if strangers:
            raise _error(422, NOT_COLLABORATOR_MESSAGE.format(full_name=repo.full_name))
        for login in users:
            if login.lower() not in {x.lower() for x in pr["requested_reviewers"]}:
                pr["requested_reviewers"].append(login)
        for slug in teams:
            if slug.lower() not in {x.lower() for x in pr["requested_teams"]}:
                pr["requested_teams"].append(slug.lower())
        pr["updated_at"] = time.time()
        return 201, self._pull_json(repo, pr), {}

    def _list_reviews(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        pr = self._find_pull(repo, params["pull_number"])
        page, headers = self._paginate(request, repo.reviews.get(pr["number"], []))
        return 200, copy.deepcopy(page), headers
