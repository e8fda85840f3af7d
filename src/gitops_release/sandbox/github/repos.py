"""Repositories, branches and git refs: GET /repos/{o}/{r}, /branches, /git/ref(s)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops_release.errors import ConfigError, GitError, InputError
from gitops_release.sandbox.github.core import SandboxCore
from gitops_release.sandbox.github.git import _GIT_ENV, ZERO_SHA, _git, _resolve
from gitops_release.sandbox.github.model import (
    _FULL_NAME,
    _R,
    _error,
    _iso,
    _node_id,
    _Repo,
    _Request,
    _Result,
    _Route,
    _route,
)

ROUTES: tuple[_Route, ...] = (
    _route("GET", _R, "get_repo", [("metadata", "read")]),
    _route("GET", f"{_R}/branches", "list_branches", [("contents", "read")]),
    _route("GET", f"{_R}/branches/{{branch}}", "get_branch", [("contents", "read")]),
    _route("GET", f"{_R}/git/ref/{{ref}}", "get_ref", [("contents", "read")]),
    _route("GET", f"{_R}/git/matching-refs/{{ref}}", "matching_refs", [("contents", "read")]),
    _route("POST", f"{_R}/git/refs", "create_ref", [("contents", "write")]),
    _route("PATCH", f"{_R}/git/refs/{{ref}}", "update_ref", [("contents", "write")]),
    _route("DELETE", f"{_R}/git/refs/{{ref}}", "delete_ref", [("contents", "write")]),
)


class ReposMixin(SandboxCore):
    """Repositories (create_repo, git_url), the account and repository objects, branches, git refs."""

    def create_repo(
        self,
        full_name: str,
        *,
        files: Mapping[str, str] | None = None,
        default_branch: str = "main",
        private: bool = False,
    ) -> Path:
        """A bare repository at root/git/owner/name.git whose default branch holds ``files`` (one commit)."""
        if not _FULL_NAME.match(full_name):
            raise InputError("full_name", f"'{full_name}' is not owner/name", fix="use e.g. org/config-repo")
        owner, name = full_name.split("/")
        git_dir = self.root / "git" / owner / f"{name}.git"
        with self._lock:
            if full_name.lower() in self._repos:
                raise ConfigError(
                    f"sandbox repository {full_name} already exists", fix="create it once per sandbox"
                )
            git_dir.parent.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(
                ["git", "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(git_dir)],
                capture_output=True,
                text=True,
                env={**os.environ, **_GIT_ENV},
                check=False,
            )
            if proc.returncode != 0:
                raise GitError(f"git init failed for {git_dir}: {proc.stderr.strip()}", rc=proc.returncode)
            index = git_dir / "sandbox-index"
            env_index = {"GIT_INDEX_FILE": str(index)}
            try:
                for path, content in sorted((files or {}).items()):
                    blob = _git(git_dir, "hash-object", "-w", "--stdin", input_text=content).stdout.strip()
                    _git(
                        git_dir,
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        f"100644,{blob},{path}",
                        env=env_index,
                    )
                tree = _git(git_dir, "write-tree", env=env_index).stdout.strip()
            finally:
                index.unlink(missing_ok=True)
            commit = _git(git_dir, "commit-tree", tree, "-m", "Initial commit").stdout.strip()
            _git(git_dir, "update-ref", f"refs/heads/{default_branch}", commit, ZERO_SHA)
            self._repos[full_name.lower()] = _Repo(
                id=self._next_id("repo"),
                owner=owner,
                name=name,
                private=private,
                default_branch=default_branch,
                git_dir=git_dir,
                created_at=time.time(),
            )
        return git_dir

    def git_url(self, full_name: str) -> str:
        return self._repo(full_name).git_dir.resolve().as_uri()

    def _organization(self, login: str) -> dict[str, Any]:
        api = f"{self.url}/orgs/{login}"
        uid = sum(login.encode()) + 1000
        return {
            "login": login,
            "id": uid,
            "node_id": _node_id("Organization", uid),
            "url": api,
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events",
            "hooks_url": f"{api}/hooks",
            "issues_url": f"{api}/issues",
            "members_url": f"{api}/members{{/member}}",
            "public_members_url": f"{api}/public_members{{/member}}",
            "avatar_url": f"{self.url}/avatars/{login}",
            "description": None,
        }

    def _user(self, login: str, user_type: str = "User") -> dict[str, Any]:
        api = self.url
        uid = sum(login.encode()) + 1000
        return {
            "login": login,
            "id": uid,
            "node_id": _node_id("User", uid),
            "avatar_url": f"{api}/avatars/{login}",
            "gravatar_id": "",
            "url": f"{api}/users/{login}",
            "html_url": f"{api}/{login}",
            "followers_url": f"{api}/users/{login}/followers",
            "following_url": f"{api}/users/{login}/following{{/other_user}}",
            "gists_url": f"{api}/users/{login}/gists{{/gist_id}}",
            "starred_url": f"{api}/users/{login}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/users/{login}/subscriptions",
            "organizations_url": f"{api}/users/{login}/orgs",
            "repos_url": f"{api}/users/{login}/repos",
            "events_url": f"{api}/users/{login}/events{{/privacy}}",
            "received_events_url": f"{api}/users/{login}/received_events",
            "type": user_type,
            "site_admin": False,
        }

    def _repo_json(self, repo: _Repo) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        created = _iso(repo.created_at)
        open_count = sum(1 for pr in repo.pulls.values() if pr["state"] == "open")
        return {
            "id": repo.id,
            "node_id": _node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self._user(repo.owner, "Organization"),
            "html_url": f"{self.url}/{repo.full_name}",
            "description": None,
            "fork": False,
            "url": api,
            "forks_url": f"{api}/forks",
            "keys_url": f"{api}/keys{{/key_id}}",
            "collaborators_url": f"{api}/collaborators{{/collaborator}}",
            "teams_url": f"{api}/teams",
            "hooks_url": f"{api}/hooks",
            "issue_events_url": f"{api}/issues/events{{/number}}",
            "events_url": f"{api}/events",
            "assignees_url": f"{api}/assignees{{/user}}",
            "branches_url": f"{api}/branches{{/branch}}",
            "tags_url": f"{api}/tags",
            "blobs_url": f"{api}/git/blobs{{/sha}}",
            "git_tags_url": f"{api}/git/tags{{/sha}}",
            "git_refs_url": f"{api}/git/refs{{/sha}}",
            "trees_url": f"{api}/git/trees{{/sha}}",
            "statuses_url": f"{api}/statuses/{{sha}}",
            "languages_url": f"{api}/languages",
            "stargazers_url": f"{api}/stargazers",
            "contributors_url": f"{api}/contributors",
            "subscribers_url": f"{api}/subscribers",
            "subscription_url": f"{api}/subscription",
            "commits_url": f"{api}/commits{{/sha}}",
            "git_commits_url": f"{api}/git/commits{{/sha}}",
            "comments_url": f"{api}/comments{{/number}}",
            "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "contents_url": f"{api}/contents/{{+path}}",
            "compare_url": f"{api}/compare/{{base}}...{{head}}",
            "merges_url": f"{api}/merges",
            "archive_url": f"{api}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{api}/downloads",
            "issues_url": f"{api}/issues{{/number}}",
            "pulls_url": f"{api}/pulls{{/number}}",
            "milestones_url": f"{api}/milestones{{/number}}",
            "notifications_url": f"{api}/notifications{{?since,all,participating}}",
            "labels_url": f"{api}/labels{{/name}}",
            "releases_url": f"{api}/releases{{/id}}",
            "deployments_url": f"{api}/deployments",
            "created_at": created,
            "updated_at": created,
            "pushed_at": created,
            "git_url": self.git_url(repo.full_name),
            "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
            "clone_url": self.git_url(repo.full_name),
            "svn_url": f"{self.url}/{repo.full_name}",
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            # has_discussions: GitHub added it after octokit/fixtures' get-repository recording; both are in
            # the corpus's 2024 pull request recordings (head.repo / base.repo), also in this shorter form.
            "has_discussions": False,
            "web_commit_signoff_required": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_count,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": open_count,
            "watchers": 0,
            "default_branch": repo.default_branch,
            "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
            "network_count": 0,
            "subscribers_count": 0,
        }

    def _get_repo(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        full = self._repo_json(repo)
        full.update(
            {
                "organization": self._user(repo.owner, "Organization"),
                "temp_clone_token": "",
                "allow_squash_merge": True,
                "allow_merge_commit": True,
                "allow_rebase_merge": True,
                "allow_auto_merge": False,
                "allow_update_branch": False,
                "delete_branch_on_merge": False,
                "use_squash_pr_title_as_default": False,
            }
        )
        return 200, full, {}

    def _branches(self, repo: _Repo) -> dict[str, str]:
        """Branch name -> head commit sha, sorted by name as GitHub lists them."""
        return {
            refname.removeprefix("refs/heads/"): sha
            for refname, sha, kind in sorted(self._refs(repo))
            if refname.startswith("refs/heads/") and kind == "commit"
        }

    def _commit_json(self, repo: _Repo, sha: str) -> dict[str, Any]:
        """GitHub's ``commit`` object for a commit of the bare repository (no stats or files)."""
        api = f"{self.url}/repos/{repo.full_name}"
        fields = "%x00".join(("%T", "%P", "%an", "%ae", "%at", "%cn", "%ce", "%ct", "%B"))
        out = _git(repo.git_dir, "show", "-s", f"--format={fields}", sha).stdout
        tree, parents, a_name, a_email, a_time, c_name, c_email, c_time, message = out.split("\x00", 8)
        return {
            "url": f"{api}/commits/{sha}",
            "sha": sha,
            "node_id": _node_id("Commit", int(sha[:8], 16)),
            "html_url": f"{self.url}/{repo.full_name}/commit/{sha}",
            "comments_url": f"{api}/commits/{sha}/comments",
            "commit": {
                "url": f"{api}/git/commits/{sha}",
                "author": {"name": a_name, "email": a_email, "date": _iso(float(a_time))},
                "committer": {"name": c_name, "email": c_email, "date": _iso(float(c_time))},
                "message": message.rstrip("\n"),
                "comment_count": 0,
                "tree": {"sha": tree, "url": f"{api}/git/trees/{tree}"},
                "verification": {"verified": False, "reason": "unsigned", "payload": None, "signature": None},
            },
            # GitHub accounts of the author and committer: the sandbox's commits belong to none.
            "author": None,
            "committer": None,
            "parents": [
                {
                    "sha": parent,
                    "url": f"{api}/commits/{parent}",
                    "html_url": f"{self.url}/{repo.full_name}/commit/{parent}",
                }
                for parent in parents.split()
            ],
        }

    def _list_branches(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        api = f"{self.url}/repos/{repo.full_name}"
        # No branch is protected in the sandbox: ?protected=true lists none.
        wanted = [] if request.query.get("protected") == "true" else self._branches(repo).items()
        items = [
            {"name": name, "commit": {"sha": sha, "url": f"{api}/commits/{sha}"}, "protected": False}
            for name, sha in wanted
        ]
        page, headers = self._paginate(request, items)
        return 200, page, headers

    def _get_branch(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        name = params["branch"]
        sha = self._branches(repo).get(name)
        if sha is None:
            raise _error(404, "Branch not found")
        api = f"{self.url}/repos/{repo.full_name}"
        body = {
            "name": name,
            "commit": self._commit_json(repo, sha),
            "_links": {"self": f"{api}/branches/{name}", "html": f"{self.url}/{repo.full_name}/tree/{name}"},
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
            },
            "protection_url": f"{api}/branches/{name}/protection",
        }
        return 200, body, {}

    def _ref_json(self, repo: _Repo, refname: str, sha: str, kind: str) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        plural = {"commit": "commits", "tag": "tags", "tree": "trees", "blob": "blobs"}.get(kind, "commits")
        return {
            "ref": refname,
            "node_id": _node_id("Ref", sum(refname.encode())),
            "url": f"{api}/git/{refname}",
            "object": {"sha": sha, "type": kind, "url": f"{api}/git/{plural}/{sha}"},
        }

    def _refs(self, repo: _Repo) -> list[tuple[str, str, str]]:
        out = _git(
            repo.git_dir, "for-each-ref", "--format=%(refname) %(objectname) %(objecttype)", "refs/"
        ).stdout
        return [tuple(line.split(" ", 2)) for line in out.splitlines() if line]  # type: ignore[misc]

    def _get_ref(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        wanted = f"refs/{params['ref']}"
        for refname, sha, kind in self._refs(repo):
            if refname == wanted:
                return 200, self._ref_json(repo, refname, sha, kind), {}
        raise _error(404, "Not Found")

    def _matching_refs(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        prefix = f"refs/{params['ref']}"
        items = [self._ref_json(repo, r, s, k) for r, s, k in self._refs(repo) if r.startswith(prefix)]
        page, headers = self._paginate(request, items)
        return 200, page, headers

    @staticmethod
    def _valid_refname(refname: str) -> bool:
        if not refname.startswith("refs/") or refname.count("/") < 2:
            return False
        proc = subprocess.run(["git", "check-ref-format", refname], capture_output=True, check=False)
        return proc.returncode == 0

    def _create_ref(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        refname, sha = str(body.get("ref", "")), str(body.get("sha", ""))
        if not self._valid_refname(refname):
            raise _error(422, f"{refname} is not a valid ref name.")
        target = _git(repo.git_dir, "rev-parse", "--verify", "--quiet", f"{sha}^{{object}}", check=False)
        if not re.fullmatch(r"[0-9a-f]{40}", sha) or target.returncode != 0:
            raise _error(422, "Object does not exist")
        proc = _git(repo.git_dir, "update-ref", refname, sha, ZERO_SHA, check=False)
        if proc.returncode != 0:
            raise _error(422, "Reference already exists")
        kind = _git(repo.git_dir, "cat-file", "-t", sha).stdout.strip()
        ref_json = self._ref_json(repo, refname, sha, kind)
        return 201, ref_json, {"Location": ref_json["url"]}

    def _update_ref(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        refname = f"refs/{params['ref']}"
        sha = str(body.get("sha", ""))
        current = {r: s for r, s, _ in self._refs(repo)}.get(refname)
        if current is None:
            raise _error(422, "Reference does not exist")
        if not re.fullmatch(r"[0-9a-f]{40}", sha) or _resolve(repo.git_dir, sha) is None:
            raise _error(422, "Object does not exist")
        if not body.get("force"):
            ancestor = _git(repo.git_dir, "merge-base", "--is-ancestor", current, sha, check=False)
            if ancestor.returncode != 0:
                raise _error(422, "Update is not a fast forward")
        proc = _git(repo.git_dir, "update-ref", refname, sha, current, check=False)
        if proc.returncode != 0:
            raise _error(422, "Reference cannot be updated")
        return 200, self._ref_json(repo, refname, sha, "commit"), {}

    def _delete_ref(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        refname = f"refs/{params['ref']}"
        current = {r: s for r, s, _ in self._refs(repo)}.get(refname)
        if current is None:
            raise _error(422, "Reference does not exist")
        _git(repo.git_dir, "update-ref", "-d", refname, current)
        return 204, None, {}
