"""adapters/argocd.py pure parts: server URLs, error mapping, stream messages, TLS settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_release.adapters.argocd import (
    ArgoCDClient,
    ArgoCDConnection,
    WatchEvent,
    argocd_error,
    normalize_server,
    server_message,
    stream_event,
)
from gitops_release.errors import (
    APIError,
    ArgoCDAuthError,
    ArgoCDError,
    ArgoCDNotFoundError,
    ArgoCDStreamError,
    InputError,
    ReleaseError,
    WaitFailedError,
)
from gitops_release.runtime import register_secret


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("argocd.example.com", "https://argocd.example.com"),
        ("argocd.example.com:443", "https://argocd.example.com"),
        ("ArgoCD.Example.COM", "https://argocd.example.com"),
        ("argocd.example.com:8443", "https://argocd.example.com:8443"),
        ("https://argocd.example.com/", "https://argocd.example.com"),
        ("HTTPS://argocd.example.com:443/", "https://argocd.example.com"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("http://argocd.local:443", "http://argocd.local:443"),
        ("https://example.com/argocd/", "https://example.com/argocd"),
        ("example.com/argocd", "https://example.com/argocd"),
        ("[::1]:8080", "https://[::1]:8080"),
        ("  argocd.example.com\n", "https://argocd.example.com"),
    ],
)
def test_normalize_server(raw: str, expected: str) -> None:
    assert normalize_server(raw) == expected


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("argo cd.example.com", "whitespace"),
        ("https://admin:secret@argocd.example.com", "user name or password"),
        ("https://tok3n@argocd.example.com", "user name or password"),
        ("https://argocd.example.com/?token=x", "query"),
        ("https://argocd.example.com/#x", "fragment"),
        ("https://argocd.example.com?", "query"),
        ("grpc-web://argocd.example.com", "scheme"),
        ("ftp://argocd.example.com", "scheme"),
        ("https://", "host"),
        ("argocd.example.com:99999", "port"),
        ("argocd.example.com:http", "port"),
    ],
)
def test_normalize_server_refuses(raw: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        normalize_server(raw)
    assert caught.value.field == "server"
    assert words in caught.value.message
    assert caught.value.fix
    assert "secret" not in str(caught.value) and "tok3n" not in str(caught.value)


def test_error_classes_sit_in_the_hierarchy() -> None:
    for cls in (ArgoCDAuthError, ArgoCDNotFoundError, ArgoCDStreamError):
        assert issubclass(cls, ArgoCDError)
    assert issubclass(ArgoCDError, APIError)
    assert issubclass(WaitFailedError, ReleaseError) and not issubclass(WaitFailedError, APIError)
    assert ArgoCDError.title == "Argo CD API error"
    assert WaitFailedError.title == "Argo CD application not ready"
    assert ArgoCDError("x", status=502).status == 502


# -- error mapping --------------------------------------------------------------------------------

ARGO_401 = {"error": "invalid session: token has invalid claims: token is expired", "code": 16}
ARGO_403 = {
    "error": "permission denied: applications, get, team-a/guestbook, sub: ci, iat: 2024-01-01T00:00:00Z",
    "code": 7,
    "message": "permission denied: applications, get, team-a/guestbook, sub: ci, iat: 2024-01-01T00:00:00Z",
}
ARGO_404 = {
    "error": 'applications.argoproj.io "guestbok" not found',
    "code": 5,
    "message": 'applications.argoproj.io "guestbok" not found',
}


def test_401_says_the_token_is_wrong_and_how_to_create_one() -> None:
    error = argocd_error(401, json.dumps(ARGO_401).encode(), operation="get application 'guestbook'")
    assert isinstance(error, ArgoCDAuthError) and error.status == 401
    assert "token is expired" in error.message  # Argo CD's own words kept
    assert "argocd account generate-token --account <name>" in (error.fix or "")
    assert "username" in (error.fix or "") and "password" in (error.fix or "")


def test_401_on_login_says_username_or_password() -> None:
    error = argocd_error(401, {"message": "Invalid username or password"}, operation="log in", login=True)
    assert isinstance(error, ArgoCDAuthError)
    assert "username or password" in error.message
    assert "generate-token" in (error.fix or "")


def test_403_names_the_permission_from_argocds_message_and_the_app() -> None:
    error = argocd_error(403, ARGO_403, operation="get application 'guestbook'", app="guestbook")
    assert isinstance(error, ArgoCDAuthError)
    assert "'get' permission on application 'guestbook'" in error.message
    assert "`p, <role>, applications, get, team-a/guestbook, allow`" in (error.fix or "")
    assert "does not exist" in (error.fix or "")  # Argo CD hides missing apps behind 403


def test_403_for_sync_without_a_message_names_sync_and_a_project_placeholder() -> None:
    error = argocd_error(403, b"", operation="sync", app="guestbook", permission="sync")
    assert "'sync' permission" in error.message
    assert "`p, <role>, applications, sync, <project>/guestbook, allow`" in (error.fix or "")


def test_403_with_app_namespace_uses_the_namespaced_rbac_object() -> None:
    error = argocd_error(403, {}, operation="get", app="guestbook", app_namespace="team-a")
    assert "applications, get, <project>/team-a/guestbook, allow" in (error.fix or "")


def test_404_names_the_app_and_the_app_namespace_hint() -> None:
    error = argocd_error(404, ARGO_404, operation="get application 'guestbok'", app="guestbok")
    assert isinstance(error, ArgoCDNotFoundError)
    assert "'guestbok' not found" in error.message and "not found)" in error.message
    assert "app-namespace" in (error.fix or "")
    namespaced = argocd_error(404, ARGO_404, operation="get", app="guestbok", app_namespace="team-a")
    assert "in namespace 'team-a'" in namespaced.message
    assert "application.namespaces" in (namespaced.fix or "")


def test_404_without_an_app_hints_the_selector_and_root_path() -> None:
    error = argocd_error(404, "404 page not found", operation="list", selector="team=a")
    assert isinstance(error, ArgoCDNotFoundError)
    assert "404 page not found" in error.message
    assert "team=a" in (error.fix or "") and "root path" in (error.fix or "")


def test_5xx_and_other_statuses() -> None:
    retried = argocd_error(503, {"message": "upstream down"}, operation="get")
    assert type(retried) is ArgoCDError and "kept failing" in retried.message
    once = argocd_error(500, {}, operation="sync", resent=False)
    assert "not re-sent" in once.message and "last operation" in (once.fix or "")
    conflict = argocd_error(400, {"message": "another operation is already in progress"}, operation="sync")
    assert type(conflict) is ArgoCDError and "another operation is already in progress" in conflict.message


def test_the_servers_message_is_redacted_and_clipped() -> None:
    register_secret("s3cr3t-token-value")
    error = argocd_error(401, {"message": "bad token s3cr3t-token-value " + "x" * 2000}, operation="get")
    assert "s3cr3t-token-value" not in str(error)
    assert "***" in error.message
    assert len(error.message) < 700


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error":"e","code":2,"message":"m"}', "m"),
        ({"error": "only error"}, "only error"),
        ("plain\ntext", "plain text"),
        (b"", ""),
        (None, ""),
        ({"code": 2}, ""),
        (
            b'{"error":{"grpc_code":16,"http_code":401,"message":"no session information"}}',
            "no session information",
        ),
        (b"\xff\xfe", "\ufffd\ufffd"),
    ],
)
def test_server_message(body: object, expected: str) -> None:
    assert server_message(body) == expected


# -- stream messages ----------------------------------------------------------------------------


def test_stream_event_shapes() -> None:
    app = {"metadata": {"name": "guestbook"}}
    wrapped = json.dumps({"result": {"type": "MODIFIED", "application": app}}).encode()
    assert stream_event(wrapped) == WatchEvent("MODIFIED", app)
    bare = json.dumps({"type": "DELETED", "application": app}).encode()
    assert stream_event(bare) == WatchEvent("DELETED", app)
    assert stream_event(b'{"result": {"type": "ADDED"}}') is None
    assert stream_event(b'{"result": null}') is None


def test_stream_error_message_raises_stream_error_with_its_text() -> None:
    line = b'{"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"x"}}'
    with pytest.raises(ArgoCDStreamError) as caught:
        stream_event(line)
    assert "transport is closing" in caught.value.message and caught.value.status == 503
    with pytest.raises(ArgoCDStreamError, match="boom"):
        stream_event(b'{"error": "boom"}')


def test_stream_error_with_a_permission_status_is_not_a_reconnect() -> None:
    line = b'{"error":{"grpc_code":7,"http_code":403,"message":"permission denied"}}'
    with pytest.raises(ArgoCDAuthError):
        stream_event(line)


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2]", b"\xff"])
def test_stream_garbage_raises_stream_error(payload: bytes) -> None:
    with pytest.raises(ArgoCDStreamError):
        stream_event(payload)


# -- client settings ------------------------------------------------------------------------------


def test_ca_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        ArgoCDClient(ArgoCDConnection("argocd.example.com", ca_file=tmp_path / "missing.pem"))
    assert caught.value.field == "ca-file"
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\n")
    with ArgoCDClient(ArgoCDConnection("argocd.example.com", ca_file=pem)) as client:
        assert client.verify == str(pem)


def test_tls_verification_is_on_by_default_and_insecure_says_so_once() -> None:
    with ArgoCDClient(ArgoCDConnection("argocd.example.com")) as client:
        assert client.verify is True
    lines: list[str] = []
    with ArgoCDClient(ArgoCDConnection("argocd.example.com", insecure=True), say=lines.append) as client:
        assert client.verify is False
    assert len(lines) == 1 and "verification is OFF" in lines[0] and "ca-file" in lines[0]


def test_credentials_are_registered_and_never_in_repr() -> None:
    connection = ArgoCDConnection("argocd.example.com", token="tok-abcdef-123", password="pw-abcdef-456")
    ArgoCDClient(connection).close()
    from gitops_release.runtime import redact

    assert redact("tok-abcdef-123 pw-abcdef-456") == "*** ***"
    assert "tok-abcdef-123" not in repr(connection) and "pw-abcdef-456" not in repr(connection)
