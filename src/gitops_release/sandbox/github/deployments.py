"""Deployments and deployment statuses: /repos/{o}/{r}/deployments[/{id}[/statuses]]."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

from gitops_release.sandbox.github.git import _resolve
from gitops_release.sandbox.github.model import (
    _R,
    DOCS,
    _error,
    _iso,
    _node_id,
    _Reply,
    _Repo,
    _Request,
    _Result,
    _Route,
    _route,
)
from gitops_release.sandbox.github.statuses import StatusesMixin

ROUTES: tuple[_Route, ...] = (
    _route("GET", f"{_R}/deployments", "list_deployments", [("deployments", "read")]),
    _route("POST", f"{_R}/deployments", "create_deployment", [("deployments", "write")], "check_deployment"),
    _route("GET", f"{_R}/deployments/{{deployment_id}}", "get_deployment", [("deployments", "read")]),
    _route(
        "GET",
        f"{_R}/deployments/{{deployment_id}}/statuses",
        "list_deployment_statuses",
        [("deployments", "read")],
    ),
    _route(
        "POST",
        f"{_R}/deployments/{{deployment_id}}/statuses",
        "create_deployment_status",
        [("deployments", "write")],
        "check_deployment_status",
    ),
)


class DeploymentsMixin(StatusesMixin):
    """Deployments (required contexts checked) and their statuses (auto_inactive)."""

    def deployments(self, full_name: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._repo(full_name).deployments)

    def deployment_statuses(self, full_name: str, deployment_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._repo(full_name).deployment_statuses.get(int(deployment_id), []))

    def _check_deployment_status(self, request: _Request, params: Mapping[str, str]) -> None:
        self._check_description(request, "DeploymentStatus")

    def _check_deployment(self, request: _Request, params: Mapping[str, str]) -> None:
        self._check_description(request, "Deployment")

    def _find_deployment(self, repo: _Repo, deployment_id: str) -> dict[str, Any]:
        for deployment in repo.deployments:
            if str(deployment["id"]) == deployment_id:
                return deployment
        raise _error(404, "Not Found")

    def _list_deployments(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        items = [
            d
            for d in reversed(repo.deployments)
            if all(request.query.get(key) in (None, d[key]) for key in ("sha", "ref", "task", "environment"))
        ]
        page, headers = self._paginate(request, items)
        return 200, copy.deepcopy(page), headers

    def _get_deployment(self, request: _Request, params: Mapping[str, str]) -> _Result:
        assert request.repo is not None
        return 200, copy.deepcopy(self._find_deployment(request.repo, params["deployment_id"])), {}

    def _create_deployment(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        ref = body["ref"]
        sha = _resolve(repo.git_dir, ref)
        if sha is None:
            raise _error(422, f"No ref found for: {ref}")
        required = body.get("required_contexts")
        latest = {s["context"]: s["state"] for s in self._latest_per_context(repo, sha)}
        contexts = list(latest) if required is None else list(required)
        failing = [c for c in contexts if latest.get(c) != "success"]
        if failing:
            raise _Reply(
                409,
                {
                    "message": f"Conflict: Commit status checks failed for {ref}.",
                    "errors": [
                        {
                            "contexts": [{"context": c, "state": latest.get(c, "missing")} for c in failing],
                            "resource": "Deployment",
                            "field": "required_contexts",
                            "code": "invalid",
                        }
                    ],
                    "documentation_url": DOCS,
                },
            )
        environment = body.get("environment") or "production"
        deployment_id = self._next_id("deployment")
        now = _iso(time.time())
        login, user_type = self._actor(request)
        api = f"{self.url}/repos/{repo.full_name}"
        deployment = {
            "url": f"{api}/deployments/{deployment_id}",
            "id": deployment_id,
            "node_id": _node_id("Deployment", deployment_id),
            "sha": sha,
            "ref": ref,
            "task": body.get("task") or "deploy",
            "payload": body.get("payload") if body.get("payload") is not None else {},
            "original_environment": environment,
            "environment": environment,
            "description": body.get("description"),
            "creator": self._user(login, user_type),
            "created_at": now,
            "updated_at": now,
            "statuses_url": f"{api}/deployments/{deployment_id}/statuses",
            "repository_url": api,
            "transient_environment": bool(body.get("transient_environment", False)),
            "production_environment": bool(body.get("production_environment", environment == "production")),
        }
        repo.deployments.append(deployment)
        repo.deployment_statuses[deployment_id] = []
        return 201, copy.deepcopy(deployment), {}

    def _list_deployment_statuses(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        deployment = self._find_deployment(repo, params["deployment_id"])
        items = list(reversed(repo.deployment_statuses[deployment["id"]]))
        page, headers = self._paginate(request, items)
        return 200, copy.deepcopy(page), headers

    def _add_deployment_status(
        self,
        repo: _Repo,
        deployment: dict[str, Any],
        state: str,
        login: str,
        user_type: str,
        fields: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        fields = fields or {}
        status_id = self._next_id("deployment_status")
        now = _iso(time.time())
        api = f"{self.url}/repos/{repo.full_name}"
        log_url = fields.get("log_url") or fields.get("target_url") or ""
        status = {
            "url": f"{api}/deployments/{deployment['id']}/statuses/{status_id}",
            "id": status_id,
            "node_id": _node_id("DeploymentStatus", status_id),
            "state": state,
            "creator": self._user(login, user_type),
            "description": fields.get("description") or "",
            "environment": deployment["environment"],
            "target_url": log_url,
            "log_url": log_url,
            "environment_url": fields.get("environment_url") or "",
            "created_at": now,
            "updated_at": now,
            "deployment_url": deployment["url"],
            "repository_url": api,
        }
        repo.deployment_statuses[deployment["id"]].append(status)
        deployment["updated_at"] = now
        return status

    def _create_deployment_status(self, request: _Request, params: Mapping[str, str]) -> _Result:
        repo = request.repo
        assert repo is not None
        body = self._body(request)
        deployment = self._find_deployment(repo, params["deployment_id"])
        if body.get("environment"):
            deployment["environment"] = body["environment"]
        login, user_type = self._actor(request)
        status = self._add_deployment_status(repo, deployment, body["state"], login, user_type, body)
        if body["state"] == "success" and body.get("auto_inactive", True):
            # GitHub: prior non-transient, non-production deployments of the same environment whose
            # latest state is success get an inactive status.
            for other in repo.deployments:
                if other["id"] >= deployment["id"] or other["environment"] != deployment["environment"]:
                    continue
                if other["transient_environment"] or other["production_environment"]:
                    continue
                history = repo.deployment_statuses[other["id"]]
                if history and history[-1]["state"] == "success":
                    self._add_deployment_status(repo, other, "inactive", login, user_type)
        return 201, copy.deepcopy(status), {}
