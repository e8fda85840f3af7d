"""The GitHub sandbox's statuses, deployments and permission answers, as report-status meets them."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from gitops_release.sandbox.github import GitHubSandbox

REPO = "org/app"
AUTH = {"Authorization": "token sandbox-token"}
DOCS = "https://docs.github.com/rest"


def call(gh: GitHubSandbox, method: str, path: str, *, token: str = "", **kwargs: Any) -> requests.Response:
    token = token or "sandbox-token"
    return requests.request(
        method, f"{gh.url}{path}", headers={"Authorization": f"token {token}"}, timeout=10, **kwargs
    )


def head(gh: GitHubSandbox, name: str = REPO) -> str:
    return str(call(gh, "GET", f"/repos/{name}/git/ref/heads/main").json()["object"]["sha"])


def with_pull(gh: GitHubSandbox) -> int:
    """One open pull request on REPO (a second branch with one more commit)."""
    from gitops_release.sandbox.github.git import _git

    git_dir = gh._repos[REPO.lower()].git_dir
    main = head(gh)
    tree = _git(git_dir, "rev-parse", f"{main}^{{tree}}").stdout.strip()
    commit = _git(git_dir, "commit-tree", tree, "-p", main, "-m", "topic").stdout.strip()
    _git(git_dir, "update-ref", "refs/heads/topic", commit)
    pr = call(gh, "POST", f"/repos/{REPO}/pulls", json={"title": "t", "head": "topic", "base": "main"})
    assert pr.status_code == 201, pr.text
    return int(pr.json()["number"])


@pytest.fixture
def gh(github_sandbox: GitHubSandbox) -> GitHubSandbox:
    github_sandbox.create_repo(REPO, files={"README.md": "# app\n"})
    return github_sandbox


# -- 403: a permission the token lacks -----------------------------------------------------------


def test_missing_permission_is_githubs_403_with_rate_limit_headers_left(gh: GitHubSandbox) -> None:
    """GitHub's body today, with ``status`` as a string and the operation's page; the rate-limit
    headers are there with requests left: a permission error, not a rate limit."""
    sha = head(gh)
    number = with_pull(gh)
    deployment = call(
        gh, "POST", f"/repos/{REPO}/deployments", json={"ref": sha, "required_contexts": []}
    ).json()
    comment = call(gh, "POST", f"/repos/{REPO}/issues/{number}/comments", json={"body": "x"}).json()
    gh.add_token("read-only", permissions={"contents": "read"})
    writes = {
        "create-a-commit-status": ("POST", f"/repos/{REPO}/statuses/{sha}", {"state": "success"}),
        "create-a-deployment": ("POST", f"/repos/{REPO}/deployments", {"ref": sha, "required_contexts": []}),
        "create-a-deployment-status": (
            "POST",
            f"/repos/{REPO}/deployments/{deployment['id']}/statuses",
            {"state": "success"},
        ),
        "create-an-issue-comment": ("POST", f"/repos/{REPO}/issues/{number}/comments", {"body": "y"}),
        "update-an-issue-comment": ("PATCH", f"/repos/{REPO}/issues/comments/{comment['id']}", {"body": "z"}),
    }
    for anchor, (method, path, body) in writes.items():
        answer = call(gh, method, path, token="read-only", json=body)
        assert answer.status_code == 403, anchor
        assert answer.json() == {
            "message": "Resource not accessible by integration",
            "documentation_url": answer.json()["documentation_url"],
            "status": "403",
        }, anchor
        assert answer.json()["documentation_url"].startswith(DOCS + "/")
        assert answer.json()["documentation_url"].endswith(f"#{anchor}"), anchor
        limit = int(answer.headers["X-RateLimit-Limit"])
        remaining = int(answer.headers["X-RateLimit-Remaining"])
        assert limit == 5000 and 0 < remaining < limit, anchor
        assert int(answer.headers["X-RateLimit-Used"]) == limit - remaining
        assert int(answer.headers["X-RateLimit-Reset"]) > 0
        assert answer.headers["X-RateLimit-Resource"] == "core"
    # nothing was written
    assert gh.statuses(REPO, sha) == []
    assert len(gh.deployments(REPO)) == 1
    assert gh.deployment_statuses(REPO, deployment["id"]) == []
    assert [c["body"] for c in gh.comments(REPO, number)] == ["x"]


def test_each_write_needs_its_own_permission(gh: GitHubSandbox) -> None:
    sha = head(gh)
    gh.add_token("statuses-only", permissions={"statuses": "write"})
    gh.add_token("deployments-only", permissions={"deployments": "write"})
    assert call(
        gh, "POST", f"/repos/{REPO}/statuses/{sha}", token="statuses-only", json={"state": "pending"}
    ).ok
    refused = call(
        gh,
        "POST",
        f"/repos/{REPO}/deployments",
        token="statuses-only",
        json={"ref": sha, "required_contexts": []},
    )
    assert refused.status_code == 403
    created = call(
        gh,
        "POST",
        f"/repos/{REPO}/deployments",
        token="deployments-only",
        json={"ref": sha, "required_contexts": []},
    )
    assert created.status_code == 201
    status = call(
        gh,
        "POST",
        f"/repos/{REPO}/deployments/{created.json()['id']}/statuses",
        token="deployments-only",
        json={"state": "in_progress"},
    )
    assert status.status_code == 201
    denied = call(
        gh, "POST", f"/repos/{REPO}/statuses/{sha}", token="deployments-only", json={"state": "error"}
    )
    assert denied.status_code == 403


# -- deployments and their statuses --------------------------------------------------------------


def deploy(gh: GitHubSandbox, **body: Any) -> dict[str, Any]:
    answer = call(
        gh, "POST", f"/repos/{REPO}/deployments", json={"ref": "main", "required_contexts": [], **body}
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def set_state(gh: GitHubSandbox, deployment_id: int, **body: Any) -> dict[str, Any]:
    answer = call(gh, "POST", f"/repos/{REPO}/deployments/{deployment_id}/statuses", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_list_filters_sha_ref_task_environment(gh: GitHubSandbox) -> None:
    sha = head(gh)
    by_branch = deploy(gh, environment="staging")
    by_sha = deploy(gh, ref=sha, environment="staging", task="deploy:migrations")
    other_env = deploy(gh, ref=sha, environment="preview/pr-12", transient_environment=True)

    def ids(**query: str) -> list[int]:
        answer = call(gh, "GET", f"/repos/{REPO}/deployments", params=query)
        assert answer.status_code == 200
        return [d["id"] for d in answer.json()]

    newest_first = [other_env["id"], by_sha["id"], by_branch["id"]]
    assert ids() == newest_first
    assert ids(sha=sha) == newest_first  # the sha recorded at creation, whatever the ref was
    assert ids(sha="0" * 40) == []
    assert ids(ref="main") == [by_branch["id"]]  # the ref as it was given
    assert ids(ref=sha) == [other_env["id"], by_sha["id"]]
    assert ids(task="deploy:migrations") == [by_sha["id"]]
    assert ids(task="deploy") == [other_env["id"], by_branch["id"]]
    assert ids(environment="staging") == [by_sha["id"], by_branch["id"]]
    assert ids(environment="preview/pr-12") == [other_env["id"]]
    assert ids(sha=sha, environment="staging", task="deploy") == [by_branch["id"]]


def test_every_deployment_state_is_accepted(gh: GitHubSandbox) -> None:
    deployment = deploy(gh, environment="staging")
    states = ("queued", "in_progress", "pending", "success", "failure", "error", "inactive")
    for state in states:
        assert set_state(gh, deployment["id"], state=state)["state"] == state
    assert [s["state"] for s in gh.deployment_statuses(REPO, deployment["id"])] == list(states)


def test_log_url_replaces_the_deprecated_target_url(gh: GitHubSandbox) -> None:
    deployment_id = deploy(gh)["id"]
    log_only = set_state(gh, deployment_id, state="in_progress", log_url="https://ci.example/run/1")
    assert (log_only["log_url"], log_only["target_url"]) == ("https://ci.example/run/1",) * 2
    target_only = set_state(gh, deployment_id, state="in_progress", target_url="https://ci.example/run/2")
    assert (target_only["log_url"], target_only["target_url"]) == ("https://ci.example/run/2",) * 2
    both = set_state(
        gh,
        deployment_id,
        state="success",
        log_url="https://ci.example/log",
        target_url="https://ci.example/old",
    )
    assert (both["log_url"], both["target_url"]) == ("https://ci.example/log",) * 2
    neither = set_state(gh, deployment_id, state="success", environment_url="https://staging.example")
    assert (neither["log_url"], neither["target_url"], neither["environment_url"]) == (
        "",
        "",
        "https://staging.example",
    )


def test_a_status_may_name_any_environment(gh: GitHubSandbox) -> None:
    """GitHub accepts any environment name on a status (the 2022 description's enum was an error)."""
    deployment = deploy(gh, environment="preview/pr-1", transient_environment=True)
    status = set_state(gh, deployment["id"], state="success", environment="preview/pr-2")
    assert status["environment"] == "preview/pr-2"
    assert gh.deployments(REPO)[0]["environment"] == "preview/pr-2"


def test_auto_inactive_as_github_documents_it(gh: GitHubSandbox) -> None:
    """A success status adds ``inactive`` to every earlier deployment of the same environment whose
    last state is success and that is neither transient nor production, unless auto_inactive is false."""
    older = deploy(gh, environment="staging")
    failed = deploy(gh, environment="staging")
    other_env = deploy(gh, environment="qa")
    production = deploy(gh, environment="production")
    later_production = deploy(gh, environment="production")
    set_state(gh, older["id"], state="success")
    set_state(gh, failed["id"], state="failure")
    set_state(gh, other_env["id"], state="success")
    set_state(gh, production["id"], state="success")

    kept = deploy(gh, environment="staging")
    set_state(gh, kept["id"], state="in_progress")  # not success: nothing else changes
    set_state(gh, kept["id"], state="success", auto_inactive=False)
    assert gh.deployment_statuses(REPO, older["id"])[-1]["state"] == "success"

    newest = deploy(gh, environment="staging")
    set_state(gh, newest["id"], state="success")  # auto_inactive defaults to true
    last = {d: gh.deployment_statuses(REPO, d)[-1]["state"] for d in (older["id"], kept["id"], failed["id"])}
    assert last == {older["id"]: "inactive", kept["id"]: "inactive", failed["id"]: "failure"}
    assert gh.deployment_statuses(REPO, other_env["id"])[-1]["state"] == "success"
    set_state(gh, later_production["id"], state="success")
    assert gh.deployment_statuses(REPO, production["id"])[-1]["state"] == "success"  # production: kept
    assert [s["state"] for s in gh.deployment_statuses(REPO, newest["id"])] == ["success"]


def test_status_on_an_unknown_commit_is_githubs_422(gh: GitHubSandbox) -> None:
    sha = "ab" * 20
    answer = call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "pending"})
    assert answer.status_code == 422
    assert answer.json()["message"] == f"No commit found for SHA: {sha}"
    assert set(answer.json()) == {"message", "documentation_url"}


@pytest.mark.parametrize("where", ["status", "deployment status"])
def test_description_over_140_is_422_naming_the_field(gh: GitHubSandbox, where: str) -> None:
    sha = head(gh)
    path = f"/repos/{REPO}/statuses/{sha}"
    if where == "deployment status":
        path = f"/repos/{REPO}/deployments/{deploy(gh)['id']}/statuses"
    assert call(gh, "POST", path, json={"state": "error", "description": "é" * 140}).status_code == 201
    answer = call(gh, "POST", path, json={"state": "error", "description": "é" * 141})
    assert answer.status_code == 422
    assert answer.json()["message"] == "Validation Failed"
    assert answer.json()["errors"][0]["field"] == "description"


# -- GitHub Enterprise Server: the API under /api/v3 ---------------------------------------------


def test_the_api_is_served_under_the_ghes_prefix(gh: GitHubSandbox) -> None:
    ghes = gh.ghes_url
    assert ghes == f"{gh.url}/api/v3"
    sha = head(gh)
    status = requests.post(
        f"{ghes}/repos/{REPO}/statuses/{sha}", headers=AUTH, json={"state": "pending"}, timeout=10
    )
    assert status.status_code == 201, status.text
    assert status.json()["url"] == f"{ghes}/repos/{REPO}/statuses/{sha}"
    assert gh.statuses(REPO, sha)[0]["state"] == "pending"  # the same repository as without the prefix
    for _ in range(3):
        deploy(gh, environment="staging")
    page = requests.get(f"{ghes}/repos/{REPO}/deployments", headers=AUTH, params={"per_page": 2}, timeout=10)
    assert page.status_code == 200
    assert page.links["next"]["url"].startswith(f"{ghes}/repos/{REPO}/deployments?")
    deployment = page.json()[0]
    assert deployment["statuses_url"] == f"{ghes}/repos/{REPO}/deployments/{deployment['id']}/statuses"
    assert deployment["creator"]["url"] == f"{ghes}/users/sandbox-user"
    assert deployment["creator"]["html_url"] == f"{gh.url}/sandbox-user"  # the web UI has no prefix
    number = with_pull(gh)
    comment = requests.post(
        f"{ghes}/repos/{REPO}/issues/{number}/comments", headers=AUTH, json={"body": "hi"}, timeout=10
    )
    assert comment.headers["Location"] == f"{ghes}/repos/{REPO}/issues/comments/{comment.json()['id']}"
    pull = requests.get(f"{ghes}/repos/{REPO}/pulls/{number}", headers=AUTH, timeout=10).json()
    assert pull["_links"]["self"]["href"] == f"{ghes}/repos/{REPO}/pulls/{number}"
    assert pull["_links"]["html"]["href"] == f"{gh.url}/{REPO}/pull/{number}"
    assert requests.get(f"{ghes}/repos/{REPO}/nope", headers=AUTH, timeout=10).status_code == 404
    # the record keeps the path as sent; request_counts() names the operation
    assert [r.path for r in gh.requests if r.method == "POST"][:1] == [f"/api/v3/repos/{REPO}/statuses/{sha}"]


def test_pygithub_works_against_the_ghes_url(gh: GitHubSandbox) -> None:
    from github import Auth, Github

    sha = head(gh)
    before = len(gh.requests)
    client = Github(base_url=f"{gh.url}/api/v3", auth=Auth.Token("sandbox-token"))
    repo = client.get_repo(REPO)
    # the request the report-status adapter sends (the sandbox has no GET commits/{ref})
    _, commit_status = client.requester.requestJsonAndCheck(
        "POST", f"{repo.url}/statuses/{sha}", input={"state": "success", "context": "release-data-prep"}
    )
    deployment = repo.create_deployment("main", environment="staging", required_contexts=[])
    deployment.create_status("success", environment_url="https://staging.example")
    assert [s.state for s in deployment.get_statuses()] == ["success"]
    assert commit_status["state"] == "success"
    sent = gh.requests[before:]
    assert len(sent) == 5 and all(r.path.startswith("/api/v3/") and r.status < 300 for r in sent)


# -- request counting ----------------------------------------------------------------------------


def test_request_counts_per_operation(gh: GitHubSandbox) -> None:
    sha = head(gh)
    since = len(gh.requests)
    call(gh, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "pending"})
    requests.post(
        f"{gh.ghes_url}/repos/{REPO}/statuses/{sha}", headers=AUTH, json={"state": "success"}, timeout=10
    )
    call(gh, "GET", f"/repos/{REPO}/deployments", params={"sha": sha, "environment": "staging"})
    deployment = deploy(gh, environment="staging")
    set_state(gh, deployment["id"], state="success")
    gh.inject(502, method="POST", path=r"/deployments/\d+/statuses$")
    call(gh, "POST", f"/repos/{REPO}/deployments/{deployment['id']}/statuses", json={"state": "success"})
    call(gh, "GET", f"/repos/{REPO}/no-such-thing")
    statuses = "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"
    assert gh.request_counts(since) == {
        ("POST", "/repos/{owner}/{repo}/statuses/{sha}"): 2,
        ("GET", "/repos/{owner}/{repo}/deployments"): 1,
        ("POST", "/repos/{owner}/{repo}/deployments"): 1,
        ("POST", statuses): 2,  # the answered and the failed one: every request the client sent
        ("GET", f"/repos/{REPO}/no-such-thing"): 1,
    }
    assert sum(gh.request_counts().values()) == len(gh.requests)
    # the record has what a test needs beyond the count: the status GitHub answered, the body sent
    assert [r.status for r in gh.requests[since:] if r.method == "POST" and r.path.endswith("/statuses")] == [
        201,
        502,
    ]


# -- who a credential is: GET /user, GET /app (report-status finds its own comment by author) ----------


def test_get_user_answers_per_token_kind_as_github_does(gh: GitHubSandbox) -> None:
    """A user's token: its account; an App installation token or GITHUB_TOKEN (a Bot): 403
    "Resource not accessible by integration"; no token: 401. The fixture checks each answer
    against GitHub's OpenAPI description (GET /user: private-user)."""
    gh.add_token("pat", login="maintainer")
    gh.add_token("actions-token", login="github-actions[bot]")
    gh.add_token("installation-token", login="release-app[bot]")
    user = call(gh, "GET", "/user", token="pat")
    assert user.status_code == 200 and (user.json()["login"], user.json()["type"]) == ("maintainer", "User")
    for token in ("actions-token", "installation-token"):
        refused = call(gh, "GET", "/user", token=token)
        assert refused.status_code == 403, token
        assert refused.json()["message"] == "Resource not accessible by integration"
        assert refused.json()["documentation_url"] == f"{DOCS}/users/users#get-the-authenticated-user"
        assert int(refused.headers["X-RateLimit-Remaining"]) > 0  # a permission answer, not a rate limit
    anonymous = requests.get(f"{gh.url}/user", timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["message"] == "Requires authentication"


def test_get_app_needs_the_apps_jwt_and_names_its_slug(gh: GitHubSandbox) -> None:
    import time

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    gh.register_app(4242, public, installations={REPO: 77})
    now = int(time.time())
    token = jwt.encode({"iat": now - 60, "exp": now + 540, "iss": "4242"}, key, algorithm="RS256")
    app = requests.get(f"{gh.url}/app", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert app.status_code == 200, app.text
    assert (app.json()["id"], app.json()["slug"]) == (4242, "sandbox-app-4242")
    minted = requests.post(
        f"{gh.url}/app/installations/77/access_tokens",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()["token"]
    posted = call(gh, "POST", f"/repos/{REPO}/statuses/{head(gh)}", token=minted, json={"state": "success"})
    assert posted.json()["creator"]["login"] == f"{app.json()['slug']}[bot]"  # what the App's tokens write
    assert call(gh, "GET", "/app").status_code == 401  # a token is not the App's JWT
    assert call(gh, "GET", "/user", token=minted).status_code == 403
