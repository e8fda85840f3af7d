"""Issue comments on the GitHub sandbox: GET / PATCH one comment, who wrote it, and who may edit it."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gitops_release.errors import InputError
from gitops_release.sandbox.github import GitHubSandbox
from gitops_release.sandbox.github.git import _git

REPO = "org/app"
AUTH = {"Authorization": "token sandbox-token"}


def open_pull(gh: GitHubSandbox, name: str = REPO) -> int:
    """A repository ``name`` with one open pull request (topic -> main); its number."""
    gh.create_repo(name, files={"README.md": "# app\n"})
    git_dir = gh._repos[name.lower()].git_dir
    main = _git(git_dir, "rev-parse", "refs/heads/main").stdout.strip()
    tree = _git(git_dir, "rev-parse", f"{main}^{{tree}}").stdout.strip()
    commit = _git(git_dir, "commit-tree", tree, "-p", main, "-m", "topic").stdout.strip()
    _git(git_dir, "update-ref", "refs/heads/topic", commit)
    pr = requests.post(
        f"{gh.url}/repos/{name}/pulls",
        headers=AUTH,
        json={"title": "t", "head": "topic", "base": "main"},
        timeout=10,
    )
    assert pr.status_code == 201, pr.text
    return int(pr.json()["number"])


def post_comment(
    gh: GitHubSandbox,
    number: int,
    body: str,
    token: str = "sandbox-token",  # noqa: S107 - the sandbox token
) -> requests.Response:
    return requests.post(
        f"{gh.url}/repos/{REPO}/issues/{number}/comments",
        headers={"Authorization": f"token {token}"},
        json={"body": body},
        timeout=10,
    )


def test_get_and_patch_a_comment_as_github_answers(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    number = open_pull(gh)
    created = post_comment(gh, number, "first").json()
    url = f"{gh.url}/repos/{REPO}/issues/comments/{created['id']}"
    assert created["url"] == url

    got = requests.get(url, headers=AUTH, timeout=10)
    assert got.status_code == 200
    assert got.json() == created

    patched = requests.patch(url, headers=AUTH, json={"body": "second"}, timeout=10)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["id"] == created["id"] and body["body"] == "second"
    assert body["created_at"] == created["created_at"]
    assert [c["body"] for c in gh.comments(REPO, number)] == ["second"]
    # the list shows the edit; still one comment
    listed = requests.get(f"{gh.url}/repos/{REPO}/issues/{number}/comments", headers=AUTH, timeout=10).json()
    assert [(c["id"], c["body"]) for c in listed] == [(created["id"], "second")]


def test_comment_fields_name_the_author_kind(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    number = open_pull(gh)
    gh.add_token("app-token", login="release-app[bot]")
    gh.add_token("actions-token", login="github-actions[bot]")
    gh.add_token("pat", login="maintainer", association="MEMBER")
    answers = {
        name: post_comment(gh, number, name, token).json()
        for name, token in (
            ("default", "sandbox-token"),
            ("app", "app-token"),
            ("actions", "actions-token"),
            ("pat", "pat"),
        )
    }
    assert {
        k: (v["user"]["login"], v["user"]["type"], v["author_association"]) for k, v in answers.items()
    } == {
        "default": ("sandbox-user", "User", "OWNER"),
        "app": ("release-app[bot]", "Bot", "NONE"),
        "actions": ("github-actions[bot]", "Bot", "NONE"),
        "pat": ("maintainer", "User", "MEMBER"),
    }
    for comment in answers.values():
        assert "performed_via_github_app" in comment and comment["performed_via_github_app"] is None
        assert comment["reactions"]["total_count"] == 0


def test_author_association_follows_the_login_by_default(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    number = open_pull(gh)
    gh.add_collaborators(REPO, "Alice")
    for token, login in (("owner", "org"), ("alice", "alice"), ("drive-by", "drive-by")):
        gh.add_token(token, login=login)
    associations = {
        t: post_comment(gh, number, t, t).json()["author_association"] for t in ("owner", "alice", "drive-by")
    }
    assert associations == {"owner": "OWNER", "alice": "COLLABORATOR", "drive-by": "NONE"}


def test_installation_token_comments_as_the_apps_bot(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    number = open_pull(gh)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    gh.register_app(42, public_pem, installations={REPO: 7})
    now = int(time.time())
    app_jwt = jwt.encode({"iat": now - 60, "exp": now + 480, "iss": "42"}, key, algorithm="RS256")
    minted = requests.post(
        f"{gh.url}/app/installations/7/access_tokens",
        headers={"Authorization": f"Bearer {app_jwt}"},
        timeout=10,
    )
    assert minted.status_code == 201, minted.text
    comment = post_comment(gh, number, "from the app", minted.json()["token"]).json()
    assert comment["user"]["type"] == "Bot"
    assert comment["user"]["login"].endswith("[bot]")
    assert comment["author_association"] == "NONE"


def test_patch_without_write_permission_is_403_and_changes_nothing(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    number = open_pull(gh)
    comment = post_comment(gh, number, "mine").json()
    gh.add_token("reader", permissions={"issues": "read", "pull_requests": "read"})
    url = f"{gh.url}/repos/{REPO}/issues/comments/{comment['id']}"
    reader = {"Authorization": "token reader"}
    assert requests.get(url, headers=reader, timeout=10).status_code == 200
    denied = requests.patch(url, headers=reader, json={"body": "hijacked"}, timeout=10)
    assert denied.status_code == 403
    assert denied.json()["message"] == "Resource not accessible by integration"
    assert gh.comments(REPO, number)[0]["body"] == "mine"
    # pull_requests write alone is enough, as on GitHub (a pull request's comments are issue comments)
    gh.add_token("pr-writer", permissions={"pull_requests": "write"})
    allowed = requests.patch(
        url, headers={"Authorization": "token pr-writer"}, json={"body": "ok"}, timeout=10
    )
    assert allowed.status_code == 200


def test_comment_of_another_repository_or_unknown_is_404(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    number = open_pull(gh)
    open_pull(gh, "org/other")
    other = requests.post(
        f"{gh.url}/repos/org/other/issues/1/comments", headers=AUTH, json={"body": "elsewhere"}, timeout=10
    ).json()
    for comment_id in (other["id"], 999999):
        url = f"{gh.url}/repos/{REPO}/issues/comments/{comment_id}"
        assert requests.get(url, headers=AUTH, timeout=10).status_code == 404
        missing = requests.patch(url, headers=AUTH, json={"body": "x"}, timeout=10)
        assert missing.status_code == 404
        assert missing.json()["message"] == "Not Found"
    assert gh.comments("org/other", 1)[0]["body"] == "elsewhere"
    assert gh.comments(REPO, number) == []


def test_patch_needs_a_body(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    number = open_pull(gh)
    comment = post_comment(gh, number, "x").json()
    url = f"{gh.url}/repos/{REPO}/issues/comments/{comment['id']}"
    answer = requests.patch(url, headers=AUTH, json={"body": ""}, timeout=10)
    assert answer.status_code == 422
    too_long = requests.patch(url, headers=AUTH, json={"body": "x" * 65537}, timeout=10)
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "body"
    assert gh.comments(REPO, number)[0]["body"] == "x"


def test_add_comment_plants_a_drive_by_authors_comment(github_sandbox: GitHubSandbox) -> None:
    gh = github_sandbox
    number = open_pull(gh)
    marker = '<!-- gitops-release:report-status context="release-data-prep" -->'
    planted = gh.add_comment(
        REPO, number, f"{marker}\nI am not the bot", login="drive-by", association="CONTRIBUTOR"
    )
    other_bot = gh.add_comment(REPO, number, "hello", login="other-app[bot]")
    listed: list[dict[str, Any]] = requests.get(
        f"{gh.url}/repos/{REPO}/issues/{number}/comments", headers=AUTH, timeout=10
    ).json()
    assert listed == [planted, other_bot]
    assert (planted["user"]["login"], planted["user"]["type"], planted["author_association"]) == (
        "drive-by",
        "User",
        "CONTRIBUTOR",
    )
    assert (other_bot["user"]["type"], other_bot["author_association"]) == ("Bot", "NONE")
    # the API answers it like any other comment, and our token may edit it (write access)
    url = f"{gh.url}/repos/{REPO}/issues/comments/{planted['id']}"
    assert requests.get(url, headers=AUTH, timeout=10).json() == planted


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"login": "not a login"}, "login"), ({"login": "x", "association": "ADMIN"}, "association")],
)
def test_add_comment_rejects_bad_arguments(
    github_sandbox: GitHubSandbox, kwargs: dict[str, str], field: str
) -> None:
    number = open_pull(github_sandbox)
    with pytest.raises(InputError) as caught:
        github_sandbox.add_comment(REPO, number, "x", **kwargs)
    assert caught.value.field == field
    with pytest.raises(InputError):
        github_sandbox.add_comment(REPO, number + 1, "x", login="x")


def test_add_token_rejects_an_unknown_association(github_sandbox: GitHubSandbox) -> None:
    with pytest.raises(InputError) as caught:
        github_sandbox.add_token("t", association="owner")
    assert caught.value.field == "association"
