"""sandbox/argocd/operations.py's handlers called directly (no HTTP): how each maps what it is
asked into Argo CD's gRPC errors (the HTTP side is test_server.py's)."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_release.sandbox.argocd.applications import ApplicationStore, StoreError
from gitops_release.sandbox.argocd.operations import Operations
from gitops_release.sandbox.argocd.session import (
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    PERMISSION_DENIED,
    UNKNOWN,
    ApiError,
    Identity,
    Sessions,
)

TOKEN = "ops-token"  # a local test credential


class Api(Operations):
    def __init__(self, allow: tuple[str, ...] = ("*",), refresh_deadline: float | None = None) -> None:
        self.store = ApplicationStore(kubectl="kubectl")  # never started: refreshes stay pending
        self.sessions = Sessions(None)
        self.sessions.add_token(TOKEN, allow=allow)
        self.refresh_deadline = refresh_deadline

    def _request_ended(self) -> bool:
        return False

    def who(self) -> Identity:
        return self.sessions.authenticate({"Authorization": f"Bearer {TOKEN}"})


def _app(name: str, project: str = "default", **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "spec": {
            "project": project,
            "destination": {"namespace": "web"},
            "source": {"repoURL": "https://git.example.com/org/config.git", "path": name},
        },
    }


def _code(call: Any) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value.code, caught.value.message


def test_get_maps_missing_forbidden_and_wrong_project() -> None:
    api = Api(allow=("applications, get, default/*",))
    api.store.add_application(_app("web"), static=True)
    api.store.add_application(_app("secret", project="other"), static=True)
    get = api._get_application
    assert get(api.who(), {"name": "web"}, {}, None) == (200, api.store.get("web"))
    # without a project: missing and forbidden are the same "permission denied" (no existence leak)
    assert _code(lambda: get(api.who(), {"name": "nope"}, {}, None)) == (
        PERMISSION_DENIED,
        "permission denied",
    )
    assert _code(lambda: get(api.who(), {"name": "secret"}, {}, None)) == (
        PERMISSION_DENIED,
        "permission denied",
    )
    # with one project: a missing app, or one of another project, is "not found"
    missing = (NOT_FOUND, 'applications.argoproj.io "nope" not found')
    assert _code(lambda: get(api.who(), {"name": "nope"}, {"project": ["default"]}, None)) == missing
    wrong = (NOT_FOUND, 'applications.argoproj.io "web" not found')
    api2 = Api()
    api2.store.add_application(_app("web"), static=True)
    assert (
        _code(lambda: api2._get_application(api2.who(), {"name": "web"}, {"project": ["x"]}, None)) == wrong
    )
    two = {"project": ["a"], "projects": ["b"]}
    assert _code(lambda: get(api.who(), {"name": "web"}, two, None)) == (
        INVALID_ARGUMENT,
        "multiple projects specified - the get endpoint accepts either zero or one project",
    )


def test_get_with_refresh_past_its_deadline_is_argocds_deadline_error_not_the_old_app() -> None:
    api = Api(refresh_deadline=0.0)
    api.store.add_application(_app("web"))
    with pytest.raises(StoreError) as caught:
        api._get_application(api.who(), {"name": "web"}, {"refresh": ["normal"]}, None)
    assert (caught.value.code, caught.value.status, caught.value.message) == (
        2,
        500,
        "application refresh deadline exceeded",
    )


def test_list_filters_and_a_bad_selector_is_code_unknown() -> None:
    api = Api(allow=("applications, get, default/*",))
    api.store.add_application(_app("b", labels={"team": "x"}), static=True)
    api.store.add_application(_app("a", labels={"team": "y"}), static=True)
    api.store.add_application(_app("c", project="other", labels={"team": "x"}), static=True)

    def names(multi: dict[str, list[str]]) -> list[str]:
        status, body = api._list_applications(api.who(), {}, multi, None)
        assert status == 200 and body["metadata"]["resourceVersion"] == str(api.store.resource_version)
        return [item["metadata"]["name"] for item in body["items"]]

    assert names({}) == ["a", "b"]  # c: not allowed to get; sorted by name
    assert names({"selector": ["team=x"]}) == ["b"]
    assert names({"name": ["a"]}) == ["a"]
    assert names({"repo": ["https://git.example.com/org/config.git"]}) == ["a", "b"]
    assert names({"repo": ["https://elsewhere.example.com/r.git"]}) == []
    code, message = _code(lambda: names({"selector": ["team in (x"]}))
    assert code == UNKNOWN and message.startswith("error parsing the selector: ")


def test_sync_refuses_a_mismatched_name_a_deleting_app_and_a_missing_grant() -> None:
    api = Api(allow=("applications, get, default/*", "applications, sync, default/web"))
    api.store.add_application(_app("web"), static=True)
    api.store.add_application(_app("ro"), static=True)
    sync = api._sync
    assert _code(lambda: sync(api.who(), {"name": "web"}, {}, {"name": "other"})) == (
        INVALID_ARGUMENT,
        "body name does not match the path's application name",
    )
    code, message = _code(lambda: sync(api.who(), {"name": "ro"}, {}, {}))
    assert code == PERMISSION_DENIED and message.startswith(
        "permission denied: applications, sync, default/ro"
    )
    api_all = Api()
    api_all.store.add_application(_app("going", deletionTimestamp="2024-01-01T00:00:00Z"), static=True)
    assert _code(lambda: api_all._sync(api_all.who(), {"name": "going"}, {}, {})) == (
        FAILED_PRECONDITION,
        "application is deleting",
    )
    status, body = sync(api.who(), {"name": "web"}, {}, {"revision": "v2", "prune": True})
    assert status == 200 and body["operation"]["sync"]["revision"] == "v2"  # no repo: kept as asked
    # the store's own refusal stays a StoreError (server.py maps it to its status)
    with pytest.raises(StoreError, match="another operation is already in progress"):
        sync(api.who(), {"name": "web"}, {}, {})


def test_resource_tree_and_managed_resources_are_read_from_the_status() -> None:
    api = Api()
    app = _app("web")
    app["status"] = {
        "resources": [
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": "web",
                "name": "web",
                "status": "OutOfSync",
                "health": {"status": "Progressing"},
            },
            {"version": "v1", "kind": "Service", "namespace": "web", "name": "web", "status": "Synced"},
        ]
    }
    api.store.add_application(app, static=True)
    _, tree = api._resource_tree(api.who(), {"applicationName": "web"}, {}, None)
    assert tree == {
        "nodes": [
            {
                "group": "apps",
                "version": "v1",
                "kind": "Deployment",
                "namespace": "web",
                "name": "web",
                "health": {"status": "Progressing"},
            },
            {"version": "v1", "kind": "Service", "namespace": "web", "name": "web"},
        ]
    }
    _, managed = api._managed_resources(api.who(), {"applicationName": "web"}, {}, None)
    assert [(i["kind"], i["modified"]) for i in managed["items"]] == [
        ("Deployment", True),
        ("Service", False),
    ]
    assert _code(lambda: api._resource_tree(api.who(), {"applicationName": "nope"}, {}, None))[0] == (
        PERMISSION_DENIED
    )
