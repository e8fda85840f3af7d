"""GitHub sandbox endpoints over real HTTP on 127.0.0.1: happy paths, auth, errors, faults, App JWTs."""

from __future__ import annotations

import re
import time
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from gitops_release.errors import InputError
from gitops_release.sandbox.github_api import GitHubSandbox

REPO = "org/config"
TOKEN = "sandbox-token"


def call(
    gh: GitHubSandbox, method: str, path: str, *, token: str | None = TOKEN, **kwargs: Any
) -> requests.Response:
    headers = {"Accept": "application/vnd.github+json"}
    if token is not None:
        headers["Authorization"] = f"token {token}"
    return requests.request(method, f"{gh.url}{path}", headers=headers, timeout=10, **kwargs)


@pytest.fixture
def gh(github_sandbox: GitHubSandbox) -> GitHubSandbox:
    github_sandbox.create_repo(REPO, files={"db/db.json": "{}\n", "README.md": "hello\n"})
    return github_sandbox


def head_sha(gh: GitHubSandbox, branch: str = "main") -> str:
    return call(gh, "GET", f"/repos/{REPO}/git/ref/heads/{branch}").json()["object"]["sha"]


# -- repository, headers, auth -------------------------------------------------------------------


def test_get_repository_echoes_base_url_and_github_headers(gh: GitHubSandbox) -> None:
    response = call(gh, "GET", f"/repos/{REPO}")
    assert response.status_code == 200
    body = response.json()
    assert body["full_name"] == REPO
    assert body["default_branch"] == "main"
    assert body["url"] == f"{gh.url}/repos/{REPO}"
    assert body["clone_url"] == gh.git_url(REPO)
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Used"):
        assert response.headers[name].isdigit()
    assert response.headers["X-RateLimit-Resource"] == "core"
    assert response.headers["X-GitHub-Request-Id"]
    second = call(gh, "GET", f"/repos/{REPO}")
    assert int(second.headers["X-RateLimit-Remaining"]) == int(response.headers["X-RateLimit-Remaining"]) - 1


def test_unknown_token_is_bad_credentials(gh: GitHubSandbox) -> None:
    response = call(gh, "GET", f"/repos/{REPO}", token="nope")
    assert response.status_code == 401
    assert response.json()["message"] == "Bad credentials"
    assert "documentation_url" in response.json()


def test_bearer_scheme_is_accepted(gh: GitHubSandbox) -> None:
    response = requests.get(
        f"{gh.url}/repos/{REPO}", headers={"Authorization": "Bearer sandbox-token"}, timeout=10
    )
    assert response.status_code == 200


def test_missing_permission_is_403_resource_not_accessible(gh: GitHubSandbox) -> None:
    gh.add_token("read-only", permissions={"statuses": "read"})
    response = call(
        gh, "POST", f"/repos/{REPO}/statuses/{head_sha(gh)}", token="read-only", json={"state": "success"}
    )
    assert response.status_code == 403
    assert response.json()["message"] == "Resource not accessible by integration"
    assert gh.statuses(REPO, "main") == []
    allowed = call(gh, "GET", f"/repos/{REPO}/commits/main/statuses", token="read-only")
    assert allowed.status_code == 200


def test_token_limited_to_repositories_sees_404_elsewhere(gh: GitHubSandbox) -> None:
    gh.create_repo("org/other")
    gh.add_token("scoped", repositories=["org/other"])
    assert call(gh, "GET", f"/repos/{REPO}", token="scoped").status_code == 404
    assert call(gh, "GET", "/repos/org/other", token="scoped").status_code == 200


def test_unknown_repository_and_unknown_path_are_404(gh: GitHubSandbox) -> None:
    missing = call(gh, "GET", "/repos/org/missing")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Not Found"
    assert call(gh, "GET", "/no/such/endpoint").status_code == 404


def test_anonymous_reads_public_repo_but_cannot_write_or_see_private(gh: GitHubSandbox) -> None:
    gh.create_repo("org/secret", private=True)
    assert call(gh, "GET", f"/repos/{REPO}", token=None).status_code == 200
    assert call(gh, "GET", "/repos/org/secret", token=None).status_code == 404
    write = call(gh, "POST", f"/repos/{REPO}/dispatches", token=None, json={"event_type": "x"})
    assert write.status_code == 401


def test_recorded_requests_keep_headers_body_and_status(gh: GitHubSandbox) -> None:
    call(gh, "POST", f"/repos/{REPO}/dispatches", json={"event_type": "ping"})
    last = gh.requests[-1]
    assert (last.method, last.path, last.status) == ("POST", f"/repos/{REPO}/dispatches", 204)
    assert last.body == {"event_type": "ping"}
    assert last.header("authorization") == "token sandbox-token"


def test_invalid_json_body_is_400(gh: GitHubSandbox) -> None:
    response = call(gh, "POST", f"/repos/{REPO}/dispatches", data=b"{not json")
    assert response.status_code == 400
    assert response.json()["message"] == "Problems parsing JSON"
    # the client sent something GitHub's description does not allow: recorded although it ended in 400
    assert len(gh.violations) == 1
    assert gh.violations[0].startswith(f"request POST /repos/{REPO}/dispatches: ")
    gh.violations.clear()


# -- dispatches ----------------------------------------------------------------------------------


def test_dispatch_is_recorded_and_event_json_is_a_webhook_payload(gh: GitHubSandbox) -> None:
    payload = {"container": "my-app", "channel": "dev", "tag": "sha-abc12345"}
    response = call(
        gh, "POST", f"/repos/{REPO}/dispatches", json={"event_type": "release", "client_payload": payload}
    )
    assert response.status_code == 204
    assert response.content == b""
    assert gh.dispatches(REPO) == [{"event_type": "release", "client_payload": payload}]
    event = gh.event_json(REPO)
    assert event["action"] == "release"
    assert event["client_payload"] == payload
    assert event["branch"] == "main"
    assert event["repository"]["full_name"] == REPO
    assert event["repository"]["owner"]["login"] == "org"
    assert event["sender"]["login"] == "sandbox-user"
    assert "installation" not in event


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"event_type": "x" * 101}, "too long"),
        ({"event_type": ""}, "too short"),
        ({"event_type": "x", "client_payload": {str(i): i for i in range(11)}}, "No more than 10 properties"),
    ],
)
def test_dispatch_limits_are_422_like_github(gh: GitHubSandbox, body: dict[str, Any], needle: str) -> None:
    response = call(gh, "POST", f"/repos/{REPO}/dispatches", json=body)
    assert response.status_code == 422
    assert needle in response.json()["message"]
    assert gh.dispatches(REPO) == []
    assert gh.violations == []  # GitHub's own limits are answers, not contract violations


def test_dispatch_with_ten_keys_is_accepted(gh: GitHubSandbox) -> None:
    body = {"event_type": "x" * 100, "client_payload": {str(i): i for i in range(10)}}
    assert call(gh, "POST", f"/repos/{REPO}/dispatches", json=body).status_code == 204


# -- statuses ------------------------------------------------------------------------------------


def test_create_status_and_combined_status(gh: GitHubSandbox) -> None:
    sha = head_sha(gh)
    created = call(
        gh,
        "POST",
        f"/repos/{REPO}/statuses/{sha}",
        json={
            "state": "pending",
            "context": "release-data-prep",
            "description": "working",
            "target_url": "https://x",
        },
    )
    assert created.status_code == 201
    assert created.json()["state"] == "pending"
    assert created.json()["url"].startswith(gh.url)
    call(
        gh, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "success", "context": "release-data-prep"}
    )
    call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "success", "context": "other"})
    combined = call(gh, "GET", f"/repos/{REPO}/commits/main/status").json()
    assert combined["state"] == "success"
    assert combined["sha"] == sha
    assert combined["total_count"] == 2
    assert {s["context"]: s["state"] for s in combined["statuses"]} == {
        "release-data-prep": "success",
        "other": "success",
    }
    call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "failure", "context": "other"})
    assert call(gh, "GET", f"/repos/{REPO}/commits/{sha}/status").json()["state"] == "failure"
    assert [s["state"] for s in gh.statuses(REPO, sha)] == ["pending", "success", "success", "failure"]
    assert gh.statuses(REPO, "main") == gh.statuses(REPO, sha)


def test_combined_status_without_statuses_is_pending(gh: GitHubSandbox) -> None:
    combined = call(gh, "GET", f"/repos/{REPO}/commits/main/status").json()
    assert (combined["state"], combined["total_count"], combined["statuses"]) == ("pending", 0, [])


def test_status_description_over_140_is_422_naming_the_field(gh: GitHubSandbox) -> None:
    response = call(
        gh,
        "POST",
        f"/repos/{REPO}/statuses/{head_sha(gh)}",
        json={"state": "success", "description": "d" * 141},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["message"] == "Validation Failed"
    assert body["errors"][0]["resource"] == "Status"
    assert body["errors"][0]["field"] == "description"
    ok = call(
        gh,
        "POST",
        f"/repos/{REPO}/statuses/{head_sha(gh)}",
        json={"state": "success", "description": "d" * 140},
    )
    assert ok.status_code == 201


def test_status_for_unknown_commit_is_422(gh: GitHubSandbox) -> None:
    response = call(gh, "POST", f"/repos/{REPO}/statuses/{'ab' * 20}", json={"state": "success"})
    assert response.status_code == 422
    assert "No commit found for SHA" in response.json()["message"]


def test_statuses_per_sha_and_context_are_capped_at_1000(gh: GitHubSandbox) -> None:
    sha = head_sha(gh)
    repo = gh._repos[REPO]
    repo.statuses[sha] = [{"context": "ci", "state": "pending"} for _ in range(1000)]
    response = call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "success", "context": "CI"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "context"
    other = call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "success", "context": "other"})
    assert other.status_code == 201


def test_list_statuses_paginates_with_link_headers(gh: GitHubSandbox) -> None:
    sha = head_sha(gh)
    for i in range(7):
        call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "pending", "context": f"c{i}"})
    first = call(gh, "GET", f"/repos/{REPO}/commits/{sha}/statuses", params={"per_page": 3})
    assert [s["context"] for s in first.json()] == ["c6", "c5", "c4"]  # newest first, as GitHub
    assert first.links["next"]["url"].endswith("per_page=3&page=2")
    assert first.links["last"]["url"].endswith("per_page=3&page=3")
    assert "prev" not in first.links
    middle = requests.get(
        first.links["next"]["url"], headers={"Authorization": "token sandbox-token"}, timeout=10
    )
    assert set(middle.links) == {"prev", "next", "last", "first"}
    last = call(gh, "GET", f"/repos/{REPO}/commits/{sha}/statuses", params={"per_page": 3, "page": 3})
    assert [s["context"] for s in last.json()] == ["c0"]
    assert set(last.links) == {"prev", "first"}
    single = call(gh, "GET", f"/repos/{REPO}/commits/{sha}/statuses")
    assert len(single.json()) == 7
    assert "Link" not in single.headers


# -- deployments ---------------------------------------------------------------------------------


def create_deployment(gh: GitHubSandbox, **body: Any) -> requests.Response:
    return call(
        gh, "POST", f"/repos/{REPO}/deployments", json={"ref": "main", "required_contexts": [], **body}
    )


def test_deployment_lifecycle_and_filters(gh: GitHubSandbox) -> None:
    created = create_deployment(gh, environment="dev", payload={"image": "x"}, description="deploy dev")
    assert created.status_code == 201
    deployment = created.json()
    assert deployment["sha"] == head_sha(gh)
    assert deployment["environment"] == "dev"
    assert deployment["statuses_url"] == f"{gh.url}/repos/{REPO}/deployments/{deployment['id']}/statuses"
    create_deployment(gh, environment="prod")
    listed = call(gh, "GET", f"/repos/{REPO}/deployments", params={"environment": "dev"}).json()
    assert [d["id"] for d in listed] == [deployment["id"]]
    assert len(call(gh, "GET", f"/repos/{REPO}/deployments", params={"sha": deployment["sha"]}).json()) == 2
    assert call(gh, "GET", f"/repos/{REPO}/deployments", params={"ref": "other"}).json() == []
    one = call(gh, "GET", f"/repos/{REPO}/deployments/{deployment['id']}")
    assert one.json()["id"] == deployment["id"]
    for state in ("queued", "in_progress", "success"):
        response = call(
            gh,
            "POST",
            f"/repos/{REPO}/deployments/{deployment['id']}/statuses",
            json={"state": state, "environment_url": "https://dev.example", "log_url": "https://log"},
        )
        assert response.status_code == 201
        assert response.json()["state"] == state
    statuses = call(gh, "GET", f"/repos/{REPO}/deployments/{deployment['id']}/statuses").json()
    assert [s["state"] for s in statuses] == ["success", "in_progress", "queued"]
    assert [s["state"] for s in gh.deployment_statuses(REPO, deployment["id"])] == [
        "queued",
        "in_progress",
        "success",
    ]
    assert [d["environment"] for d in gh.deployments(REPO)] == ["dev", "prod"]


def test_deployment_needs_green_contexts_unless_required_contexts_given(gh: GitHubSandbox) -> None:
    call(gh, "POST", f"/repos/{REPO}/statuses/{head_sha(gh)}", json={"state": "pending", "context": "ci"})
    refused = call(gh, "POST", f"/repos/{REPO}/deployments", json={"ref": "main"})
    assert refused.status_code == 409
    assert "Commit status checks failed" in refused.json()["message"]
    assert create_deployment(gh).status_code == 201


def test_deployment_unknown_ref_is_422_and_unknown_id_404(gh: GitHubSandbox) -> None:
    assert create_deployment(gh, ref="nope").status_code == 422
    assert call(gh, "GET", f"/repos/{REPO}/deployments/999999/statuses").status_code == 404


def test_success_marks_prior_deployments_of_the_environment_inactive(gh: GitHubSandbox) -> None:
    first = create_deployment(gh, environment="stage").json()["id"]
    prod = create_deployment(gh, environment="production").json()["id"]
    transient = create_deployment(gh, environment="stage", transient_environment=True).json()["id"]
    for deployment_id in (first, prod, transient):
        call(gh, "POST", f"/repos/{REPO}/deployments/{deployment_id}/statuses", json={"state": "success"})
    second = create_deployment(gh, environment="stage").json()["id"]
    call(gh, "POST", f"/repos/{REPO}/deployments/{second}/statuses", json={"state": "success"})
    assert [s["state"] for s in gh.deployment_statuses(REPO, first)] == ["success", "inactive"]
    assert [s["state"] for s in gh.deployment_statuses(REPO, transient)] == ["success"]
    assert [s["state"] for s in gh.deployment_statuses(REPO, prod)] == ["success"]


def test_deployment_status_description_over_140_is_422(gh: GitHubSandbox) -> None:
    deployment_id = create_deployment(gh).json()["id"]
    response = call(
        gh,
        "POST",
        f"/repos/{REPO}/deployments/{deployment_id}/statuses",
        json={"state": "failure", "description": "x" * 141},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "description"


def test_unknown_deployment_state_is_a_recorded_violation(gh: GitHubSandbox) -> None:
    deployment_id = create_deployment(gh).json()["id"]
    response = call(gh, "POST", f"/repos/{REPO}/deployments/{deployment_id}/statuses", json={"state": "done"})
    assert response.status_code == 422
    assert len(gh.violations) == 1
    assert "state" in gh.violations[0]
    assert "'done' is not one of" in gh.violations[0]
    gh.violations.clear()


# -- git refs ------------------------------------------------------------------------------------


def test_git_refs_get_create_update_delete(gh: GitHubSandbox) -> None:
    sha = head_sha(gh)
    created = call(gh, "POST", f"/repos/{REPO}/git/refs", json={"ref": "refs/heads/feature/x", "sha": sha})
    assert created.status_code == 201
    assert created.json()["ref"] == "refs/heads/feature/x"
    assert created.json()["object"] == {
        "sha": sha,
        "type": "commit",
        "url": f"{gh.url}/repos/{REPO}/git/commits/{sha}",
    }
    assert (
        call(
            gh, "POST", f"/repos/{REPO}/git/refs", json={"ref": "refs/heads/feature/x", "sha": sha}
        ).status_code
        == 422
    )
    assert call(gh, "POST", f"/repos/{REPO}/git/refs", json={"ref": "heads/y", "sha": sha}).status_code == 422
    assert (
        call(gh, "POST", f"/repos/{REPO}/git/refs", json={"ref": "refs/heads/y", "sha": "f" * 40}).status_code
        == 422
    )
    matching = call(gh, "GET", f"/repos/{REPO}/git/matching-refs/heads/feature").json()
    assert [r["ref"] for r in matching] == ["refs/heads/feature/x"]
    assert call(gh, "GET", f"/repos/{REPO}/git/ref/heads/nope").status_code == 404
    assert call(gh, "PATCH", f"/repos/{REPO}/git/refs/heads/feature/x", json={"sha": sha}).status_code == 200
    assert call(gh, "DELETE", f"/repos/{REPO}/git/refs/heads/feature/x").status_code == 204
    assert call(gh, "GET", f"/repos/{REPO}/git/ref/heads/feature/x").status_code == 404


# -- fault injection -----------------------------------------------------------------------------


def test_injected_5xx_for_count_requests_then_normal(gh: GitHubSandbox) -> None:
    gh.inject(502, count=2, method="POST", path=r"/dispatches$")
    other = call(gh, "GET", f"/repos/{REPO}")
    assert other.status_code == 200
    statuses = [
        call(gh, "POST", f"/repos/{REPO}/dispatches", json={"event_type": "x"}).status_code for _ in range(3)
    ]
    assert statuses == [502, 502, 204]
    assert [r.status for r in gh.requests if r.method == "POST"] == [502, 502, 204]
    assert len(gh.dispatches(REPO)) == 1


def test_injected_503_with_custom_body_and_headers(gh: GitHubSandbox) -> None:
    gh.inject(503, headers={"X-Test": "1"}, body={"message": "down"})
    response = call(gh, "GET", f"/repos/{REPO}")
    assert (response.status_code, response.json(), response.headers["X-Test"]) == (
        503,
        {"message": "down"},
        "1",
    )
    assert call(gh, "GET", f"/repos/{REPO}").status_code == 200


def test_injected_secondary_rate_limit_has_retry_after(gh: GitHubSandbox) -> None:
    gh.inject_secondary_rate_limit(retry_after=7, path="/statuses/")
    response = call(gh, "POST", f"/repos/{REPO}/statuses/{head_sha(gh)}", json={"state": "success"})
    assert response.status_code == 403
    assert response.headers["Retry-After"] == "7"
    assert "secondary rate limit" in response.json()["message"]
    assert int(response.headers["X-RateLimit-Remaining"]) > 0
    assert (
        call(gh, "POST", f"/repos/{REPO}/statuses/{head_sha(gh)}", json={"state": "success"}).status_code
        == 201
    )


def test_injected_validation_error_names_the_field(gh: GitHubSandbox) -> None:
    gh.inject_validation_error(field="target_url", resource="Status", method="POST")
    response = call(gh, "POST", f"/repos/{REPO}/statuses/{head_sha(gh)}", json={"state": "success"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"resource": "Status", "code": "invalid", "field": "target_url"}]


# -- API-level checks ----------------------------------------------------------------------------


def test_create_repo_rejects_bad_names_and_duplicates(github_sandbox: GitHubSandbox) -> None:
    with pytest.raises(InputError, match="full_name"):
        github_sandbox.create_repo("no-slash")
    github_sandbox.create_repo("a/b")
    with pytest.raises(Exception, match="already exists"):
        github_sandbox.create_repo("a/b")


def test_add_token_rejects_unknown_permission_level(github_sandbox: GitHubSandbox) -> None:
    with pytest.raises(InputError, match="permissions"):
        github_sandbox.add_token("t", permissions={"contents": "everything"})


def test_sandbox_without_validation_records_no_violations(tmp_path: Any) -> None:
    with GitHubSandbox(tmp_path, validate=False) as gh:
        gh.create_repo(REPO)
        sha = head_sha(gh)
        response = call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "bogus"})
        assert response.status_code == 201
        assert gh.violations == []


# -- GitHub App authentication -------------------------------------------------------------------


def app_jwt(private_pem: str, *, app_id: int = 42, iat_offset: int = -60, lifetime: int = 540) -> str:
    now = int(time.time())
    claims = {"iat": now + iat_offset, "exp": now + iat_offset + lifetime, "iss": str(app_id)}
    return jwt.encode(claims, private_pem, algorithm="RS256")


def test_app_installation_token_flow(gh: GitHubSandbox, app_key: tuple[str, str]) -> None:
    private, public = app_key
    gh.register_app(42, public, installations={REPO: 7})
    token = app_jwt(private)
    installation = requests.get(
        f"{gh.url}/repos/{REPO}/installation", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert installation.status_code == 200
    assert installation.json()["id"] == 7
    assert installation.json()["access_tokens_url"] == f"{gh.url}/app/installations/7/access_tokens"
    issued = requests.post(
        installation.json()["access_tokens_url"],
        headers={"Authorization": f"Bearer {token}"},
        json={"permissions": {"statuses": "write", "contents": "write"}},
        timeout=10,
    )
    assert issued.status_code == 201
    body = issued.json()
    assert body["token"].startswith("ghs_")
    assert body["permissions"] == {"statuses": "write", "contents": "write"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["expires_at"])
    assert (
        call(
            gh,
            "POST",
            f"/repos/{REPO}/statuses/{head_sha(gh)}",
            token=body["token"],
            json={"state": "success"},
        ).status_code
        == 201
    )
    assert gh.statuses(REPO, "main")[0]["creator"]["login"] == "sandbox-app-42[bot]"
    assert (
        call(gh, "POST", f"/repos/{REPO}/deployments", token=body["token"], json={"ref": "main"}).status_code
        == 403
    )
    call(gh, "POST", f"/repos/{REPO}/dispatches", token=body["token"], json={"event_type": "x"})
    assert gh.event_json(REPO)["installation"]["id"] == 7


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("expired", "Expiration time"),
        ("wrong-key", "could not be decoded"),
        ("too-long", "too far in the future"),
    ],
)
def test_bad_app_jwts_are_401(gh: GitHubSandbox, app_key: tuple[str, str], kind: str, needle: str) -> None:
    private, public = app_key
    gh.register_app(42, public, installations={REPO: 7})
    if kind == "expired":
        token = app_jwt(private, iat_offset=-1200, lifetime=540)
    elif kind == "wrong-key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        token = jwt.encode(
            {"iat": int(time.time()) - 60, "exp": int(time.time()) + 480, "iss": "42"},
            other,
            algorithm="RS256",
        )
    else:
        token = app_jwt(private, lifetime=601)
    response = requests.post(
        f"{gh.url}/app/installations/7/access_tokens",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 401
    assert needle in response.json()["message"]


def test_app_endpoints_refuse_plain_tokens_and_unknown_installations(
    gh: GitHubSandbox, app_key: tuple[str, str]
) -> None:
    private, public = app_key
    gh.register_app(42, public, installations={REPO: 7})
    assert call(gh, "GET", f"/repos/{REPO}/installation").status_code == 401
    bearer = {"Authorization": f"Bearer {app_jwt(private)}"}
    assert (
        requests.post(f"{gh.url}/app/installations/8/access_tokens", headers=bearer, timeout=10).status_code
        == 404
    )
    gh.create_repo("org/elsewhere")
    assert (
        requests.get(f"{gh.url}/repos/org/elsewhere/installation", headers=bearer, timeout=10).status_code
        == 404
    )


# -- OpenAPI: requests checked first, undeclared statuses, faults after processing ----------------


def test_request_is_validated_whatever_the_answer(gh: GitHubSandbox) -> None:
    bogus = {"state": "bogus"}
    path = f"/repos/{REPO}/statuses/{head_sha(gh)}"
    assert call(gh, "POST", path, token="nope", json=bogus).status_code == 401
    gh.add_token("read-only", permissions={"statuses": "read"})
    assert call(gh, "POST", path, token="read-only", json=bogus).status_code == 403
    long = call(gh, "POST", path, json={**bogus, "description": "x" * 141})
    assert long.status_code == 422
    assert long.json()["errors"][0]["field"] == "description"  # the precheck answered ...
    gh.inject(502, method="POST", path="/statuses/")
    assert call(gh, "POST", path, json=bogus).status_code == 502
    # ... and every one of the four requests was still checked against the description
    assert len(gh.violations) == 4
    assert all(v.startswith(f"request POST {path}: ") and "bogus" in v for v in gh.violations)
    gh.violations.clear()


def test_business_limits_alone_are_not_violations(gh: GitHubSandbox) -> None:
    path = f"/repos/{REPO}/statuses/{head_sha(gh)}"
    assert call(gh, "POST", path, json={"state": "success", "description": "x" * 141}).status_code == 422
    assert gh.violations == []


@pytest.mark.parametrize(
    ("method", "path", "status", "body", "needle"),
    [
        ("GET", f"/repos/{REPO}", 418, None, "status 418 is not declared for GET /repos/{owner}/{repo}"),
        ("POST", f"/repos/{REPO}/dispatches", 409, None, "status 409 is not declared"),
        ("GET", f"/repos/{REPO}/git/ref/heads/main", 422, None, "status 422 is not declared"),
        ("GET", f"/repos/{REPO}/git/ref/heads/main", 400, None, "status 400 is not declared"),
        ("POST", f"/repos/{REPO}/dispatches", 401, "<html>denied</html>", "not GitHub's error body"),
        ("POST", f"/repos/{REPO}/dispatches", 403, {"message": "x", "extra": 1}, "unexpected keys ['extra']"),
    ],
)
def test_undeclared_status_outside_the_allow_list_is_a_violation(
    gh: GitHubSandbox, method: str, path: str, status: int, body: object, needle: str
) -> None:
    gh.inject(status, method=method, path=path + "$", body=body)
    json_body = {"event_type": "x"} if method == "POST" else None
    response = call(gh, method, path, json=json_body)
    assert response.status_code == 500
    assert "violated the OpenAPI description" in response.json()["message"]
    assert len(gh.violations) == 1
    assert needle in gh.violations[0]
    gh.violations.clear()


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("POST", f"/repos/{REPO}/dispatches", 401, {"message": "Bad credentials", "documentation_url": "u"}),
        ("GET", f"/repos/{REPO}/deployments", 403, None),
        ("GET", f"/repos/{REPO}/deployments", 404, None),
        ("GET", f"/repos/{REPO}/deployments", 422, None),  # it takes query parameters
        ("POST", f"/repos/{REPO}/dispatches", 400, None),  # it takes a body
        ("POST", f"/repos/{REPO}/dispatches", 429, None),
        ("POST", f"/repos/{REPO}/dispatches", 502, "<html>unicorn</html>"),
        ("GET", f"/repos/{REPO}/git/ref/heads/main", 503, b""),
    ],
)
def test_statuses_github_sends_for_every_operation_are_allowed(
    gh: GitHubSandbox, method: str, path: str, status: int, body: object
) -> None:
    gh.inject(status, method=method, path=path + "$", body=body)
    json_body = {"event_type": "x"} if method == "POST" else None
    assert call(gh, method, path, json=json_body).status_code == status
    assert gh.violations == []


def test_fault_after_processing_applies_the_write_then_answers_the_fault(gh: GitHubSandbox) -> None:
    gh.inject(502, method="POST", path=r"/dispatches$", after_processing=True)
    response = call(gh, "POST", f"/repos/{REPO}/dispatches", json={"event_type": "applied"})
    assert response.status_code == 502
    assert response.json()["message"] == "Bad Gateway"
    assert [d["event_type"] for d in gh.dispatches(REPO)] == ["applied"]  # it WAS processed
    gh.inject(502, method="POST", path=r"/dispatches$")
    assert call(gh, "POST", f"/repos/{REPO}/dispatches", json={"event_type": "lost"}).status_code == 502
    assert [d["event_type"] for d in gh.dispatches(REPO)] == ["applied"]  # before processing: nothing
    assert [r.status for r in gh.requests if r.method == "POST"] == [502, 502]


def test_the_compat_module_keeps_every_public_name_of_the_single_module() -> None:
    # The public (upper-case and class) names of sandbox/github_api.py before the split (1d57671).
    import gitops_release.sandbox.github_api as compat
    from gitops_release.sandbox.github import git, model

    before = (
        "DOCS ZERO_SHA LOGIN DEFAULT_LOGIN EVENT_FILE EVENTS_PATH PULL_BODY_LIMIT NOT_COLLABORATOR_MESSAGE "
        "DEPLOYMENT_STATES SECONDARY_RATE_LIMIT_MESSAGE ROUTES BUSINESS_LIMITS "
        "GitHubSandbox RecordedRequest main"
    ).split()
    assert set(before) <= set(compat.__all__)
    assert compat.ZERO_SHA is git.ZERO_SHA == "0" * 40
    for name in (
        "EVENT_FILE",
        "EVENTS_PATH",
        "PULL_BODY_LIMIT",
        "NOT_COLLABORATOR_MESSAGE",
        "BUSINESS_LIMITS",
    ):
        assert getattr(compat, name) is getattr(model, name)
    assert compat.SECONDARY_RATE_LIMIT_MESSAGE is model.SECONDARY_RATE_LIMIT_MESSAGE
