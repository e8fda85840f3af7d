"""The Argo CD emulator over real HTTP: routes, Argo CD's error words, faults, recording, contract."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from gitops_release.sandbox.argocd import ArgoCDSandbox

AUTH = {"Authorization": "Bearer argocd-sandbox-token"}


def application(
    name: str, *, namespace: str = "argocd", project: str = "default", **labels: str
) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "project": project,
            "source": {
                "repoURL": "https://git.example/config.git",
                "path": f"apps/{name}",
                "targetRevision": "main",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
        },
        "status": {
            "sync": {"status": "Synced", "revision": "1" * 40},
            "health": {"status": "Healthy"},
            "resources": [
                {
                    "group": "apps",
                    "version": "v1",
                    "kind": "Deployment",
                    "namespace": name,
                    "name": name,
                    "status": "OutOfSync",
                    "health": {"status": "Progressing"},
                },
                {"version": "v1", "kind": "Service", "namespace": name, "name": name, "status": "Synced"},
            ],
        },
    }


@pytest.fixture
def sandbox(argocd_sandbox: ArgoCDSandbox) -> ArgoCDSandbox:
    argocd_sandbox.store.add_application(application("guestbook", env="prod"), static=True)
    argocd_sandbox.store.add_application(application("api", env="dev"), static=True)
    argocd_sandbox.store.add_application(
        application("web", namespace="team-a", project="shop", env="prod"), static=True
    )
    return argocd_sandbox


def get(
    sandbox: ArgoCDSandbox, path: str, headers: dict[str, str] | None = AUTH, **params: Any
) -> requests.Response:
    return requests.get(sandbox.url + path, headers=headers, params=params, timeout=10)


def test_get_answers_the_application_as_json(sandbox: ArgoCDSandbox) -> None:
    response = get(sandbox, "/api/v1/applications/guestbook")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == sandbox.store.get("guestbook")
    assert get(sandbox, "/api/v1/applications/web", appNamespace="team-a").json()["spec"]["project"] == "shop"


def test_missing_and_forbidden_apps_are_both_permission_denied(sandbox: ArgoCDSandbox) -> None:
    sandbox.add_token("ci-token", subject="ci", allow=("applications, get, default/guestbook",))
    ci = {"Authorization": "Bearer ci-token"}
    denied = {"error": "permission denied", "code": 7, "message": "permission denied"}
    for response in (get(sandbox, "/api/v1/applications/nope"), get(sandbox, "/api/v1/applications/api", ci)):
        assert (response.status_code, response.json()) == (403, denied)
    assert get(sandbox, "/api/v1/applications/guestbook", ci).status_code == 200
    # With one project named, Argo CD may say 404: the caller could read that project anyway.
    response = get(sandbox, "/api/v1/applications/nope", project="default")
    assert (response.status_code, response.json()["message"]) == (
        404,
        'applications.argoproj.io "nope" not found',
    )
    assert get(sandbox, "/api/v1/applications/guestbook", project="shop").status_code == 404
    response = get(sandbox, "/api/v1/applications/guestbook", projects=["a", "b"])
    assert (response.status_code, response.json()["code"]) == (400, 3)


def test_no_or_unknown_token_is_401_in_argocd_words(sandbox: ArgoCDSandbox) -> None:
    response = get(sandbox, "/api/v1/applications/guestbook", headers=None)
    assert response.status_code == 401
    assert (
        response.content == b'{"error":"no session information","code":16,"message":"no session information"}'
    )
    response = get(sandbox, "/api/v1/applications", {"Authorization": "Bearer a.b.c"})
    assert (response.status_code, response.json()["message"]) == (
        401,
        "invalid session: token is malformed: could not base64 decode header",
    )


def test_list_filters_by_selector_namespace_project_and_rbac(sandbox: ArgoCDSandbox) -> None:
    def names(headers: dict[str, str] = AUTH, **params: Any) -> list[str]:
        response = get(sandbox, "/api/v1/applications", headers, **params)
        assert response.status_code == 200, response.text
        return [item["metadata"]["name"] for item in response.json()["items"]]

    assert names() == ["api", "guestbook", "web"]
    assert names(selector="env=prod") == ["guestbook", "web"]
    assert names(appNamespace="team-a") == ["web"]
    assert names(projects="default") == ["api", "guestbook"]
    sandbox.add_token("shop-token", allow=("applications, get, shop/*",))
    assert names({"Authorization": "Bearer shop-token"}) == ["web"]
    body = get(sandbox, "/api/v1/applications").json()
    assert body["metadata"]["resourceVersion"] == str(sandbox.store.resource_version)
    bad = get(sandbox, "/api/v1/applications", selector="env in prod")
    assert (bad.status_code, bad.json()["code"]) == (500, 2)
    assert bad.json()["message"].startswith("error parsing the selector: ")


def test_sync_without_the_sync_grant_names_the_permission(sandbox: ArgoCDSandbox) -> None:
    sandbox.add_token("reader", subject="ci", allow=("applications, get, */*",))
    response = requests.post(
        f"{sandbox.url}/api/v1/applications/guestbook/sync",
        json={"revision": "main"},
        headers={"Authorization": "Bearer reader"},
        timeout=10,
    )
    assert response.status_code == 403
    message = response.json()["message"]
    assert message.startswith("permission denied: applications, sync, default/guestbook, sub: ci, iat: ")
    response = requests.post(
        f"{sandbox.url}/api/v1/applications/nope/sync", json={}, headers=AUTH, timeout=10
    )
    assert (response.status_code, response.json()["message"]) == (403, "permission denied")


def test_resource_tree_and_managed_resources_come_from_the_status(sandbox: ArgoCDSandbox) -> None:
    tree = get(sandbox, "/api/v1/applications/guestbook/resource-tree").json()
    assert tree["nodes"][0] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
        "namespace": "guestbook",
        "name": "guestbook",
        "health": {"status": "Progressing"},
    }
    managed = get(sandbox, "/api/v1/applications/guestbook/managed-resources").json()
    assert [(i["kind"], i["modified"]) for i in managed["items"]] == [
        ("Deployment", True),
        ("Service", False),
    ]


def test_session_login_gives_a_token_that_works(sandbox: ArgoCDSandbox) -> None:
    sandbox.add_user("alice", "wonder", allow=("applications, get, default/*",))
    response = requests.post(
        f"{sandbox.url}/api/v1/session", json={"username": "alice", "password": "wonder"}, timeout=10
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert (
        get(sandbox, "/api/v1/applications/guestbook", {"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    assert (
        get(
            sandbox, "/api/v1/applications/web", {"Authorization": f"Bearer {token}"}, appNamespace="team-a"
        ).status_code
        == 403
    )
    assert sandbox.requests[-3].body == {"username": "alice", "password": "[redacted]"}
    assert "wonder" not in repr(sandbox.requests)
    wrong = requests.post(
        f"{sandbox.url}/api/v1/session", json={"username": "alice", "password": "x"}, timeout=10
    )
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"error": "Invalid username or password", "code": 16, "message": "Invalid username or password"},
    )


def test_injected_5xx_answers_then_normal_service_resumes(sandbox: ArgoCDSandbox) -> None:
    sandbox.inject("GET", "/api/v1/applications/guestbook", 503, count=2)
    sandbox.inject("GET", "/api/v1/applications/api", 502, body=b"<html>502 Bad Gateway</html>")
    first = get(sandbox, "/api/v1/applications/guestbook")
    assert (first.status_code, first.json()["code"]) == (503, 14)
    assert get(sandbox, "/api/v1/applications/guestbook").status_code == 503
    assert get(sandbox, "/api/v1/applications/guestbook").status_code == 200
    page = get(sandbox, "/api/v1/applications/api")
    assert (page.status_code, page.headers["Content-Type"], page.text) == (
        502,
        "text/html; charset=utf-8",
        "<html>502 Bad Gateway</html>",
    )
    assert [r.status for r in sandbox.requests] == [503, 503, 200, 502]


def test_a_stalled_request_outlasts_a_short_client_timeout(sandbox: ArgoCDSandbox) -> None:
    sandbox.stall("GET", "/api/v1/applications/guestbook", 1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{sandbox.url}/api/v1/applications/guestbook", headers=AUTH, timeout=0.2)
    assert get(sandbox, "/api/v1/applications/guestbook").status_code == 200


def test_requests_are_recorded_with_the_token_redacted(sandbox: ArgoCDSandbox) -> None:
    get(sandbox, "/api/v1/applications/guestbook", refresh="normal")
    record = sandbox.requests[-1]
    assert (record.method, record.path, record.query, record.status) == (
        "GET",
        "/api/v1/applications/guestbook",
        {"refresh": "normal"},
        200,
    )
    assert record.header("authorization") == "Bearer [redacted]"
    assert "argocd-sandbox-token" not in repr(sandbox.requests)


def test_unknown_routes_get_the_gateway_plain_text_answers(sandbox: ArgoCDSandbox) -> None:
    response = get(sandbox, "/api/v1/nothing")
    assert (response.status_code, response.text, response.headers["Content-Type"]) == (
        404,
        "Not Found\n",
        "text/plain; charset=utf-8",
    )
    response = requests.put(f"{sandbox.url}/api/v1/session", json={}, timeout=10)
    assert (response.status_code, response.text) == (405, "Method Not Allowed\n")


def test_a_response_outside_the_contract_is_a_violation_and_a_500(sandbox: ArgoCDSandbox) -> None:
    broken = application("broken")
    broken["status"]["sync"]["status"] = 5  # SyncStatus.status is a string
    sandbox.store.add_application(broken, static=True)
    response = get(sandbox, "/api/v1/applications/broken")
    assert response.status_code == 500
    assert "violated the Argo CD API description" in response.json()["message"]
    assert any("status" in str(v) for v in sandbox.violations)
    sandbox.violations.clear()


def test_a_request_outside_the_contract_is_a_400_and_a_violation(sandbox: ArgoCDSandbox) -> None:
    response = requests.post(
        f"{sandbox.url}/api/v1/applications/guestbook/sync", json={"prune": "yes"}, headers=AUTH, timeout=10
    )
    assert (response.status_code, response.json()["code"]) == (400, 3)
    assert any(v.where == "request" for v in sandbox.violations)
    sandbox.violations.clear()
