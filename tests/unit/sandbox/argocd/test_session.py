"""Argo CD's session and RBAC words (sandbox/argocd/session.py), checked without HTTP."""

from __future__ import annotations

import base64
import json

import pytest

from gitops_release.sandbox.argocd.session import (
    ApiError,
    Grant,
    Sessions,
    parse_grant,
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def jwt(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def test_login_issues_an_argocd_session_jwt_that_authenticates() -> None:
    sessions = Sessions({"admin": "s3cret"}, clock=lambda: 1_700_000_000.0)
    token = sessions.login({"username": "admin", "password": "s3cret"})
    claims = claims_of(token)
    assert (claims["iss"], claims["sub"], claims["iat"], claims["exp"]) == (
        "argocd",
        "admin:login",
        1_700_000_000,
        1_700_000_000 + 24 * 3600,
    )
    assert claims["jti"]
    assert sessions.authenticate(bearer(token)).subject == "admin"


@pytest.mark.parametrize(
    ("body", "code", "status", "message"),
    [
        ({}, 16, 401, "no credentials supplied"),
        ({"username": "admin"}, 16, 401, "no credentials supplied"),
        ({"username": "admin", "password": "wrong"}, 16, 401, "Invalid username or password"),
        ({"username": "nobody", "password": "s3cret"}, 16, 401, "Invalid username or password"),
        ({"username": "a" * 33, "password": "x"}, 3, 400, "Username is too long (32 bytes max)"),
        (
            {"token": "old"},
            16,
            401,
            "token-based session creation no longer supported. please upgrade argocd cli to v0.7+",
        ),
    ],
)
def test_login_failures_are_worded_as_argocd_words_them(
    body: dict[str, str], code: int, status: int, message: str
) -> None:
    with pytest.raises(ApiError) as info:
        Sessions({"admin": "s3cret"}).login(body)
    assert (info.value.code, info.value.status, info.value.message) == (code, status, message)
    assert info.value.body() == {"error": message, "code": code, "message": message}


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "no session information"),
        ({"Authorization": "token argocd-sandbox-token"}, "no session information"),
        ({"Authorization": "bearer argocd-sandbox-token"}, "no session information"),
        (bearer("not-a-jwt"), "no session information"),
        (
            bearer(jwt({"iss": "argocd", "sub": "admin:login"})),
            "invalid session: token signature is invalid: signature is invalid",
        ),
        (bearer(jwt({"iss": "https://dex.example", "sub": "x"})), "invalid session: SSO is not configured"),
        (bearer("e30.%%%.x"), "invalid session: token is malformed: could not base64 decode claim"),
    ],
)
def test_unknown_credentials_get_argocd_401_words(headers: dict[str, str], message: str) -> None:
    sessions = Sessions()
    sessions.add_token("argocd-sandbox-token")
    with pytest.raises(ApiError) as info:
        sessions.authenticate(headers)
    assert (info.value.code, info.value.status, info.value.message) == (16, 401, message)


def test_an_expired_token_is_refused_as_expired() -> None:
    now = [1000.0]
    sessions = Sessions(clock=lambda: now[0])
    sessions.add_token("ci-token", expires_at=1010.0)
    assert sessions.authenticate(bearer("ci-token")).subject == "admin"
    now[0] = 1010.0
    with pytest.raises(ApiError) as info:
        sessions.authenticate(bearer("ci-token"))
    assert info.value.message == "invalid session: token has invalid claims: token is expired"


def test_denied_sync_names_resource_action_object_subject_and_issue_time() -> None:
    sessions = Sessions(clock=lambda: 1_700_000_000.0)
    sessions.add_token("ci-token", subject="ci", allow=("applications, get, default/*",))
    identity = sessions.authenticate(bearer("ci-token"))
    sessions.enforce(identity, "get", "default/guestbook")
    with pytest.raises(ApiError) as info:
        sessions.enforce(identity, "sync", "default/guestbook")
    assert (info.value.code, info.value.status) == (7, 403)
    assert info.value.message == (
        "permission denied: applications, sync, default/guestbook, sub: ci, iat: 2023-11-14T22:13:20Z"
    )


def test_grants_glob_across_slashes_and_a_deny_wins() -> None:
    sessions = Sessions()
    sessions.add_token("t", allow=("applications, *, team-a/*", "applications, sync, team-a/prod-*, deny"))
    identity = sessions.authenticate(bearer("t"))
    assert identity.allows("applications", "get", "team-a/other-ns/app")
    assert identity.allows("applications", "sync", "team-a/staging-web")
    assert not identity.allows("applications", "sync", "team-a/prod-web")
    assert not identity.allows("applications", "get", "team-b/web")


@pytest.mark.parametrize(
    "line",
    ["applications, get", "p, role:ci, applications, get, */*", "applications, get, */*, maybe", " , get, x"],
)
def test_a_malformed_grant_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="grant"):
        parse_grant(line)


def test_star_grant_allows_everything() -> None:
    assert parse_grant("*") == Grant("*", "*", "*")


def test_stream_error_chunk_is_grpc_gateway_stream_error() -> None:
    assert ApiError(16, "no session information").stream_body() == {
        "error": {
            "grpc_code": 16,
            "http_code": 401,
            "message": "no session information",
            "http_status": "Unauthorized",
        }
    }
    assert ApiError(9, "another operation is already in progress").status == 400
