"""ArgoCDClient against small real HTTP(S) servers on 127.0.0.1: requests, login, retries until the
deadline, error mapping, TLS, and that no credential reaches a URL, a log line or an error."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_release.adapters.argocd import ArgoCDClient, ArgoCDConnection
from gitops_release.errors import ArgoCDAuthError, ArgoCDError, ArgoCDNotFoundError
from gitops_release.runtime import redact
from tests.fixtures.argocd_http import FakeTime, Handler, ScriptedServer, free_port, tls_files

TOKEN = "argocd-test-token-7f3a9c"
APP = {"metadata": {"name": "guestbook", "namespace": "argocd"}, "status": {"sync": {"status": "Synced"}}}


def answer_app(request: Handler) -> None:
    request.send_json(200, APP)


def test_get_sends_the_token_only_in_the_header_and_app_namespace_and_refresh_in_the_query() -> None:
    with ScriptedServer(answer_app) as server:
        connection = ArgoCDConnection(server.url, token=TOKEN, app_namespace="team-a")
        with ArgoCDClient(connection) as client:
            assert client.get_application("guestbook", refresh="hard") == APP
            assert client.requests_made == 1
    (request,) = server.requests
    assert request.method == "GET"
    assert request.path == "/api/v1/applications/guestbook?refresh=hard&appNamespace=team-a"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in request.path


def test_list_by_selector_and_sync_body() -> None:
    def handler(request: Handler) -> None:
        if request.command == "GET":
            request.send_json(200, {"metadata": {}, "items": [APP, APP]})
        else:
            request.send_json(200, APP)

    with ScriptedServer(handler) as server:
        with ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN, app_namespace="team-a")) as client:
            assert client.list_applications(selector="team=a,tier in (web)") == [APP, APP]
            client.sync("guestbook", revision="1a2b3c4d", prune=True, sync_options=["ServerSideApply=true"])
    listed, synced = server.requests
    assert listed.path == "/api/v1/applications?selector=team%3Da%2Ctier+in+%28web%29&appNamespace=team-a"
    assert synced.method == "POST" and synced.path == "/api/v1/applications/guestbook/sync"
    assert json.loads(synced.body) == {
        "name": "guestbook",
        "prune": True,
        "revision": "1a2b3c4d",
        "syncOptions": {"items": ["ServerSideApply=true"]},
        "appNamespace": "team-a",
    }


def test_a_per_call_app_namespace_overrides_the_connections() -> None:
    def handler(request: Handler) -> None:
        if "/missing" in request.path:
            request.send_json(404, {"error": 'applications.argoproj.io "missing" not found', "code": 5})
        else:
            request.send_json(200, APP)

    with ScriptedServer(handler) as server:
        with ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN, app_namespace="team-a")) as client:
            client.get_application("web", refresh="normal", app_namespace="team-b")
            client.get_application("web")  # None: the connection's
            client.sync("web", app_namespace="team-b")
            client.list_applications(selector="x=y", app_namespace="team-c")
            with pytest.raises(ArgoCDNotFoundError) as caught:
                client.get_application("missing", app_namespace="team-b")
    get_b, get_a, synced, listed, _missing = server.requests
    assert get_b.path == "/api/v1/applications/web?refresh=normal&appNamespace=team-b"
    assert get_a.path == "/api/v1/applications/web?appNamespace=team-a"
    assert json.loads(synced.body)["appNamespace"] == "team-b"
    assert listed.path == "/api/v1/applications?selector=x%3Dy&appNamespace=team-c"
    assert "in namespace 'team-b'" in caught.value.message


def test_empty_list_answer_is_an_empty_list() -> None:
    with ScriptedServer(lambda request: request.send_json(200, {"metadata": {}})) as server:
        with ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN)) as client:
            assert client.list_applications(selector="team=none") == []


def test_username_password_login_then_bearer_session_token_and_relogin_after_expiry() -> None:
    sessions = iter(["session-token-one-aaaa", "session-token-two-bbbb"])
    seen: list[str] = []

    def handler(request: Handler) -> None:
        if request.path == "/api/v1/session":
            request.send_json(200, {"token": next(sessions)})
            return
        auth = request.headers.get("Authorization", "")
        seen.append(auth)
        if auth == "Bearer session-token-one-aaaa" and len(seen) > 1:
            request.send_json(401, {"error": "token is expired", "code": 16, "message": "token is expired"})
            return
        request.send_json(200, APP)

    with ScriptedServer(handler) as server:
        connection = ArgoCDConnection(server.url, username="ci-bot", password="pa55-w0rd-xyz")
        with ArgoCDClient(connection) as client:
            client.get_application("guestbook")
            assert client.session_token == "session-token-one-aaaa"
            client.get_application("guestbook")  # first session expired: logs in again once
            assert client.requests_made == 5
            assert client.session_token == "session-token-two-bbbb"  # what a watch thread's client uses
    login = server.requests[0]
    assert login.method == "POST" and "Authorization" not in login.headers
    assert json.loads(login.body) == {"username": "ci-bot", "password": "pa55-w0rd-xyz"}
    assert seen == [
        "Bearer session-token-one-aaaa",
        "Bearer session-token-one-aaaa",
        "Bearer session-token-two-bbbb",
    ]
    assert redact("session-token-one-aaaa session-token-two-bbbb pa55-w0rd-xyz") == "*** *** ***"
    assert all("pa55-w0rd-xyz" not in r.path and "session-token" not in r.path for r in server.requests)


def test_wrong_password_is_explained() -> None:
    def handler(request: Handler) -> None:
        request.send_json(401, {"error": "Invalid username or password", "code": 16})

    with ScriptedServer(handler) as server:
        connection = ArgoCDConnection(server.url, username="ci-bot", password="wrong-pass-123")
        with ArgoCDClient(connection) as client, pytest.raises(ArgoCDAuthError) as caught:
            client.get_application("guestbook")
    assert "username or password" in caught.value.message
    assert "wrong-pass-123" not in str(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "error_type", "words"),
    [
        (401, {"error": "no session information", "code": 16}, ArgoCDAuthError, "generate-token"),
        (
            403,
            {"error": "permission denied", "code": 7, "message": "permission denied"},
            ArgoCDAuthError,
            "applications, get, <project>/guestbook, allow",
        ),
        (
            404,
            {"error": 'applications.argoproj.io "guestbook" not found', "code": 5},
            ArgoCDNotFoundError,
            "app-namespace",
        ),
        (
            400,
            {"error": "bad", "code": 3, "message": "refresh must be normal or hard"},
            ArgoCDError,
            "refresh must be",
        ),
    ],
)
def test_error_statuses_are_mapped_and_not_retried(
    status: int, body: dict, error_type: type[ArgoCDError], words: str
) -> None:
    with ScriptedServer(lambda request: request.send_json(status, body)) as server:
        time = FakeTime()
        client = ArgoCDClient(
            ArgoCDConnection(server.url, token=TOKEN),
            deadline=time.now + 60,
            clock=time.clock,
            sleep=time.sleep,
        )
        with client, pytest.raises(error_type) as caught:
            client.get_application("guestbook")
    assert caught.value.status == status
    assert words in str(caught.value)
    assert len(server.requests) == 1 and time.slept == []


def test_5xx_then_success_is_retried_with_one_log_line_per_retry() -> None:
    answers = iter([503, 502])

    def handler(request: Handler) -> None:
        status = next(answers, 200)
        request.send_json(status, APP if status == 200 else {"error": "upstream", "code": 14})

    lines: list[str] = []
    time = FakeTime()
    with ScriptedServer(handler) as server:
        client = ArgoCDClient(
            ArgoCDConnection(server.url, token=TOKEN),
            deadline=time.now + 30,
            say=lines.append,
            clock=time.clock,
            sleep=time.sleep,
        )
        with client:
            assert client.get_application("guestbook") == APP
            assert client.requests_made == 3
    assert len(time.slept) == 2
    assert [line.split(";")[0] for line in lines] == ["Argo CD answered 503", "Argo CD answered 502"]


def test_5xx_to_a_sync_is_not_re_sent() -> None:
    with ScriptedServer(lambda request: request.send_json(502, {"error": "bad gateway"})) as server:
        time = FakeTime()
        client = ArgoCDClient(
            ArgoCDConnection(server.url, token=TOKEN),
            deadline=time.now + 60,
            clock=time.clock,
            sleep=time.sleep,
        )
        with client, pytest.raises(ArgoCDError) as caught:
            client.sync("guestbook")
    assert len(server.requests) == 1 and time.slept == []
    assert "not re-sent" in caught.value.message


def test_a_sync_refused_at_connect_is_re_sent_once_the_server_is_up() -> None:
    port = free_port()
    servers: list[ScriptedServer] = []
    time = FakeTime()

    def sleep(seconds: float) -> None:  # the server comes up (binds the port) during the first wait
        time.sleep(seconds)
        if not servers:
            servers.append(ScriptedServer(answer_app, port=port).start())

    try:
        client = ArgoCDClient(
            ArgoCDConnection(f"http://127.0.0.1:{port}", token=TOKEN),
            deadline=time.now + 60,
            clock=time.clock,
            sleep=sleep,
        )
        with client:
            assert client.sync("guestbook") == APP
            assert client.requests_made == 2
    finally:
        for server in servers:
            server.stop()
    assert len(servers[0].requests) == 1


def test_connection_refused_is_retried_until_the_deadline_and_names_the_server() -> None:
    port = free_port()
    time = FakeTime()
    deadline = time.now + 20
    lines: list[str] = []
    client = ArgoCDClient(
        ArgoCDConnection(f"http://127.0.0.1:{port}", token=TOKEN),
        deadline=deadline,
        clock=time.clock,
        sleep=time.sleep,
        say=lines.append,
    )
    with client, pytest.raises(ArgoCDError) as caught:
        client.get_application("guestbook")
    assert time.now <= deadline  # never slept across the deadline
    assert len(time.slept) >= 4 and client.requests_made == len(time.slept) + 1
    text = str(caught.value)
    assert f"http://127.0.0.1:{port}" in text and "connection refused" in text and "'server'" in text
    assert "stopped at the deadline" in text
    assert all("unreachable (connection refused)" in line for line in lines)


def test_without_a_deadline_a_few_attempts_then_the_error() -> None:
    time = FakeTime()
    client = ArgoCDClient(
        ArgoCDConnection(f"http://127.0.0.1:{free_port()}"), clock=time.clock, sleep=time.sleep
    )
    with client, pytest.raises(ArgoCDError, match="after 5 attempt"):
        client.list_applications()


def test_a_hanging_server_is_given_up_at_the_deadline() -> None:
    release = threading.Event()

    def handler(request: Handler) -> None:
        release.wait(10)  # never answers in time

    with ScriptedServer(handler) as server:
        import time as real_time

        client = ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN), deadline=real_time.monotonic() + 0.3)
        try:
            with client, pytest.raises(ArgoCDError, match="did not finish answering by the deadline"):
                client.get_application("guestbook")
            assert not release.is_set()  # the client gave up on its own, the server still hangs
        finally:
            release.set()


# -- TLS --------------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[ScriptedServer, Path]]:
    context, ca_pem = tls_files(tmp_path)
    with ScriptedServer(answer_app, tls=context) as server:
        yield server, ca_pem


def test_tls_verification_is_on_and_the_error_names_ca_file_and_insecure(
    tls_server: tuple[ScriptedServer, Path],
) -> None:
    server, _ = tls_server
    time = FakeTime()
    client = ArgoCDClient(
        ArgoCDConnection(server.url, token=TOKEN), deadline=time.now + 60, clock=time.clock, sleep=time.sleep
    )
    with client, pytest.raises(ArgoCDError) as caught:
        client.get_application("guestbook")
    assert "TLS verification" in caught.value.message
    assert "'ca-file'" in (caught.value.fix or "") and "'insecure: true'" in (caught.value.fix or "")
    assert time.slept == []  # a certificate problem is not retried
    assert server.requests == []


def test_ca_file_verifies_the_server(tls_server: tuple[ScriptedServer, Path]) -> None:
    server, ca_pem = tls_server
    with ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN, ca_file=ca_pem)) as client:
        assert client.get_application("guestbook") == APP
    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_insecure_skips_verification_with_one_warning(
    tls_server: tuple[ScriptedServer, Path], recwarn: pytest.WarningsRecorder
) -> None:
    server, _ = tls_server
    lines: list[str] = []
    with ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN, insecure=True), say=lines.append) as client:
        assert client.get_application("guestbook") == APP
        assert client.get_application("guestbook") == APP
    assert len(lines) == 1 and "verification is OFF" in lines[0]
    assert not [w for w in recwarn if "Unverified HTTPS" in str(w.message)]


# -- masking ------------------------------------------------------------------------------------


def test_the_token_never_appears_in_a_url_log_line_or_error() -> None:
    answers = iter([500, 401])

    def echo(request: Handler) -> None:
        status = next(answers, 401)
        said = f"rejected {request.headers.get('Authorization')} at {request.path}"
        request.send_json(status, {"error": said, "code": 16, "message": said})

    lines: list[str] = []
    time = FakeTime()
    with ScriptedServer(echo) as server:
        client = ArgoCDClient(
            ArgoCDConnection(server.url, token=TOKEN),
            deadline=time.now + 60,
            say=lines.append,
            clock=time.clock,
            sleep=time.sleep,
        )
        with client, pytest.raises(ArgoCDAuthError) as caught:
            client.get_application("guestbook")
    texts = [*lines, str(caught.value), caught.value.message, caught.value.fix or "", repr(caught.value.args)]
    assert lines and all(TOKEN not in text for text in texts)
    assert "rejected Bearer ***" in caught.value.message  # the server's message kept, redacted
    assert all(TOKEN not in request.path for request in server.requests)
