"""The Argo CD operations the emulator serves (ApplicationService Get, List, Sync, ResourceTree,
ManagedResources; SessionService Create), as argo-cd ``server/application/application.go`` and
``server/session/session.go`` answer them: RBAC before data, ``permission denied`` for a missing
app as for a forbidden one, ``error parsing the selector`` as code Unknown (500). HTTP, auth and
faults are ``server.py``'s; each method returns (HTTP status, body) or raises session.ApiError /
applications.StoreError.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gitops_release.sandbox.argocd import stream
from gitops_release.sandbox.argocd.applications import ApplicationStore, StoreError
from gitops_release.sandbox.argocd.session import (
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    PERMISSION_DENIED,
    PERMISSION_DENIED_MESSAGE,
    UNKNOWN,
    ApiError,
    Identity,
    Sessions,
)


class Operations:
    """Mixed into ArgoCDSandbox: the handlers its routes name (``_<handler>``)."""

    store: ApplicationStore
    sessions: Sessions
    #: Seconds a GET ?refresh= waits for the controller before Argo CD's deadline error; None: no
    #: bound (it waits until the refresh is processed, the client leaves or the sandbox stops).
    refresh_deadline: float | None

    def _request_ended(self) -> bool:
        """The request's context is done (the client left, the server stops)."""
        raise NotImplementedError

    def _create_session(
        self, identity: Identity | None, params: Mapping[str, str], multi: Mapping[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        return 200, {"token": self.sessions.login(body)}

    def _get_app(
        self, identity: Identity, action: str, name: str, multi: Mapping[str, list[str]]
    ) -> dict[str, Any]:
        """getAppEnforceRBAC: 403 ``permission denied`` both for an app the token may not ``action``
        and for one that does not exist; with one ``project`` given, 404 when it does not hold it."""
        projects = multi.get("projects", []) + multi.get("project", [])
        if len(projects) > 1:
            raise ApiError(
                INVALID_ARGUMENT,
                "multiple projects specified - the get endpoint accepts either zero or one project",
            )
        namespace = (multi.get("appNamespace") or [""])[-1] or None
        project = projects[0] if projects else ""
        not_found = ApiError(NOT_FOUND, f'applications.argoproj.io "{name}" not found')
        if project:
            shown_namespace = namespace or stream.CONTROL_PLANE_NAMESPACE
            given = (
                f"{project}/{name}"
                if shown_namespace == stream.CONTROL_PLANE_NAMESPACE
                else f"{project}/{shown_namespace}/{name}"
            )
            if not identity.allows("applications", action, given):
                raise ApiError(PERMISSION_DENIED, PERMISSION_DENIED_MESSAGE)
        try:
            app = self.store.get(name, namespace)
        except StoreError as error:
            if error.status == 404:
                raise (
                    not_found if project else ApiError(PERMISSION_DENIED, PERMISSION_DENIED_MESSAGE)
                ) from None
            raise
        if not identity.allows("applications", action, stream.rbac_name(app)):
            raise not_found if project else ApiError(PERMISSION_DENIED, PERMISSION_DENIED_MESSAGE)
        if project and str((app.get("spec") or {}).get("project") or "default") != project:
            raise not_found
        return app

    def _get_application(
        self, identity: Identity, params: Mapping[str, str], multi: Mapping[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        name = params["name"]
        app = self._get_app(identity, "get", name, multi)
        if "refresh" not in multi:
            return 200, app
        hard = multi["refresh"][-1] == "hard"
        namespace = (multi.get("appNamespace") or [""])[-1] or None
        # Argo CD sets the refresh annotation and answers the first later state without it; it
        # never answers the old state: when the request's context ends first, it answers
        # "application refresh deadline exceeded" (server/application/application.go Get).
        deadline = None if self.refresh_deadline is None else time.monotonic() + self.refresh_deadline

        def ended() -> bool:
            return self._request_ended() or (deadline is not None and time.monotonic() >= deadline)

        return 200, self.store.refresh(name, namespace, hard=hard, wait=None, cancelled=ended)

    def _list_applications(
        self, identity: Identity, params: Mapping[str, str], multi: Mapping[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        one = {k: v[-1] for k, v in multi.items()}
        try:
            selector = stream.parse_selector(one.get("selector", ""))
        except stream.SelectorError as exc:
            raise ApiError(UNKNOWN, f"error parsing the selector: {exc}") from None
        projects = set(multi.get("projects", []) + multi.get("project", []))
        repo = one.get("repo") or ""
        items = []
        for app in self.store.list(app_namespace=one.get("appNamespace") or None):
            labels = (app.get("metadata") or {}).get("labels") or {}
            spec = app.get("spec") or {}
            if not selector(labels):
                continue
            if one.get("name") and stream.qualified_name(app)[1] != one["name"]:
                continue
            if projects and str(spec.get("project") or "") not in projects:
                continue
            if repo and repo not in _repo_urls(spec):
                continue
            if identity.allows("applications", "get", stream.rbac_name(app)):
                items.append(app)
        items.sort(key=lambda a: stream.qualified_name(a)[1])
        return 200, {"metadata": {"resourceVersion": str(self.store.resource_version)}, "items": items}

    def _sync(
        self, identity: Identity, params: Mapping[str, str], multi: Mapping[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        request = body if isinstance(body, Mapping) else {}
        name = params["name"]
        if request.get("name") not in (None, "", name):
            raise ApiError(INVALID_ARGUMENT, "body name does not match the path's application name")
        scope = dict(multi)
        if request.get("appNamespace"):
            scope["appNamespace"] = [str(request["appNamespace"])]
        if request.get("project"):
            scope["project"] = [str(request["project"])]
        app = self._get_app(identity, "get", name, scope)
        self.sessions.enforce(identity, "sync", stream.rbac_name(app))
        if (app.get("metadata") or {}).get("deletionTimestamp"):
            raise ApiError(FAILED_PRECONDITION, "application is deleting")
        namespace = (scope.get("appNamespace") or [""])[-1] or None
        return 200, self.store.sync(name, namespace, request)

    def _resource_tree(
        self, identity: Identity, params: Mapping[str, str], multi: Mapping[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        app = self._get_app(identity, "get", params["applicationName"], multi)
        nodes = []
        for resource in (app.get("status") or {}).get("resources") or []:
            node = {
                k: resource[k] for k in ("group", "version", "kind", "namespace", "name") if resource.get(k)
            }
            if resource.get("health"):
                node["health"] = resource["health"]
            nodes.append(node)
        return 200, {"nodes": nodes}

    def _managed_resources(
        self, identity: Identity, params: Mapping[str, str], multi: Mapping[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        app = self._get_app(identity, "get", params["applicationName"], multi)
        items = []
        for resource in (app.get("status") or {}).get("resources") or []:
            item = {k: resource[k] for k in ("group", "kind", "namespace", "name") if resource.get(k)}
            item["modified"] = resource.get("status") == "OutOfSync"
            items.append(item)
        return 200, {"items": items}


def _repo_urls(spec: Mapping[str, Any]) -> list[str]:
    sources = [spec.get("source") or {}, *(spec.get("sources") or [])]
    return [str(s.get("repoURL")) for s in sources if isinstance(s, Mapping) and s.get("repoURL")]
