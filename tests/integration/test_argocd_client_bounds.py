"""ArgoCDClient's bounds against hostile or broken servers on 127.0.0.1 (review 9a #3, #8, #9, #10):
the deadline bounds whole requests (a server dripping its headers or body), answers are capped,
configuration errors (TLS, a host name that does not resolve, a wrong answer shape) are permanent,
and a 429 is waited out as its Retry-After asks, within the deadline."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops_release.adapters.argocd import ArgoCDClient, ArgoCDConnection
from gitops_release.errors import ArgoCDError, ArgoCDStreamError, ArgoCDTLSError
from tests.fixtures.argocd_http import FakeTime, Handler, ScriptedServer, tls_files

TOKEN = "argocd-bounds-token-91c2"
APP = {"metadata": {"name": "guestbook", "namespace": "argocd"}, "status": {"sync": {"status": "Synced"}}}
DEADLINE = 2.0
# How long past the deadline control may come back: the watchdog fires at the deadline; this is
# scheduling slack on a busy 2-core runner, far below what a dripping server holds a client (the
# drip below lasts DRIP_FOR seconds, the reviewer saw 40 s).
SLACK = 3.0
DRIP_FOR = 15.0


# -- dripping servers ---------------------------------------------------------------------------


class Drip:
    """Handlers that send a byte every 0.2 s for DRIP_FOR seconds (never idle long enough for a
    per-read timeout), until the client hangs up or the test ends (``stop``)."""

    def __init__(self) -> None:
        self.stop = threading.Event()

    def _drip(self, request: Handler, byte: bytes = b" ") -> None:
        ends = time.monotonic() + DRIP_FOR
        while not self.stop.is_set() and time.monotonic() < ends:
            request.wfile.write(byte)
            request.wfile.flush()
            self.stop.wait(0.2)
        request.close_connection = True

    def body(self, status: int = 200) -> Callable[[Handler], None]:
        def handler(request: Handler) -> None:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", "10000000")
            request.end_headers()
            self._drip(request)

        return handler

    def headers(self, request: Handler) -> None:
        request.wfile.write(b"HTTP/1.1 200 OK\r\n")
        ends = time.monotonic() + DRIP_FOR
        while not self.stop.is_set() and time.monotonic() < ends:
            request.wfile.write(b"X-Drip: 1\r\n")  # one header line at a time, never the blank line
            request.wfile.flush()
            self.stop.wait(0.2)
        request.close_connection = True


def given_up_at_the_deadline(
    call: Callable[[ArgoCDClient], object], handler: Callable[[Handler], None]
) -> str:
    with ScriptedServer(handler) as server:
        client = ArgoCDClient(
            ArgoCDConnection(server.url, username="ci-bot", password="pa55-w0rd-xyz")
            if call is login
            else ArgoCDConnection(server.url, token=TOKEN),
            deadline=time.monotonic() + DEADLINE,
        )
        started = time.monotonic()
        with client, pytest.raises(ArgoCDError) as caught:
            call(client)
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + SLACK, f"the client held on {elapsed:.1f}s with a {DEADLINE}s deadline"
    text = str(caught.value)
    assert "did not finish answering by the deadline" in text, text
    assert "could not reach" not in text and caught.value.permanent is False
    return text


def get(client: ArgoCDClient) -> object:
    return client.get_application("guestbook")


def login(client: ArgoCDClient) -> object:
    client.login()
    return None


@pytest.mark.parametrize("status", [200, 500, 404])
def test_a_dripping_body_is_given_up_at_the_deadline(status: int) -> None:
    drip = Drip()
    try:
        text = given_up_at_the_deadline(get, drip.body(status))
    finally:
        drip.stop.set()
    assert "bytes of the answer" in text


def test_a_dripping_login_answer_is_given_up_at_the_deadline() -> None:
    drip = Drip()
    try:
        given_up_at_the_deadline(login, drip.body(200))
    finally:
        drip.stop.set()


def test_headers_dripped_line_by_line_are_given_up_at_the_deadline() -> None:
    drip = Drip()
    try:
        text = given_up_at_the_deadline(get, drip.headers)
    finally:
        drip.stop.set()
    assert "before the answer began" in text


def test_a_stream_connect_with_dripped_headers_is_given_up_at_the_deadline() -> None:
    drip = Drip()
    try:
        given_up_at_the_deadline(lambda client: next(iter(client.watch(name="guestbook"))), drip.headers)
    finally:
        drip.stop.set()


# -- size caps ----------------------------------------------------------------------------------


def test_an_answer_over_the_cap_is_refused_by_its_content_length_without_reading_it() -> None:
    def handler(request: Handler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(2**40))  # 1 TiB announced, nothing sent
        request.end_headers()
        request.wfile.flush()

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN)) as client:
        with pytest.raises(ArgoCDError, match="larger than 32 MiB") as caught:
            client.list_applications()
    assert caught.value.permanent


def test_a_chunked_answer_over_the_cap_is_refused_once_it_passes_it() -> None:
    sent: list[int] = []

    def handler(request: Handler) -> None:
        request.start_chunked("application/json")
        for _ in range(64):
            request.chunk(b" " * 4096)
            sent.append(4096)
        request.end_chunked()

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN)) as client:
        client.max_answer = 10_000
        with pytest.raises(ArgoCDError, match="larger than 10000 bytes") as caught:
            client.get_application("guestbook")
    assert caught.value.permanent


def test_only_the_start_of_a_huge_error_body_is_read() -> None:
    message = "x" * 100
    big = json.dumps({"error": message, "code": 3, "message": message, "padding": "p" * 5_000_000}).encode()

    def handler(request: Handler) -> None:
        request.send_response(400)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(big)))
        request.end_headers()
        request.wfile.write(big)

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN)) as client:
        with pytest.raises(ArgoCDError) as caught:
            client.get_application("guestbook")
    assert caught.value.status == 400 and "refused the request" in caught.value.message


# -- permanent configuration errors ---------------------------------------------------------------


def test_a_tls_verification_failure_is_a_permanent_tls_error(tmp_path: Path) -> None:
    context, _ca = tls_files(tmp_path)
    time_ = FakeTime()
    with ScriptedServer(lambda request: request.send_json(200, APP), tls=context) as server:
        client = ArgoCDClient(
            ArgoCDConnection(server.url, token=TOKEN),
            deadline=time_.now + 60,
            clock=time_.clock,
            sleep=time_.sleep,
        )
        with client, pytest.raises(ArgoCDTLSError) as caught:
            client.get_application("guestbook")
    assert caught.value.permanent and isinstance(caught.value, ArgoCDError)
    assert "'ca-file'" in (caught.value.fix or "") and "'insecure: true'" in (caught.value.fix or "")
    assert time_.slept == [] and client.requests_made == 1


def test_https_to_a_plain_http_server_is_a_permanent_tls_error() -> None:
    with ScriptedServer(lambda request: request.send_json(200, APP)) as server:
        time_ = FakeTime()
        client = ArgoCDClient(
            ArgoCDConnection(server.url.replace("http://", "https://"), token=TOKEN),
            deadline=time_.now + 60,
            clock=time_.clock,
            sleep=time_.sleep,
        )
        with client, pytest.raises(ArgoCDTLSError) as caught:
            client.get_application("guestbook")
    assert caught.value.permanent and "http://" in (caught.value.fix or "")
    assert time_.slept == []


def test_a_host_name_that_does_not_resolve_is_permanent_after_the_first_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> object:
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    time_ = FakeTime()
    client = ArgoCDClient(
        ArgoCDConnection("argocd.example.invalid", token=TOKEN),
        deadline=time_.now + 600,
        clock=time_.clock,
        sleep=time_.sleep,
    )
    with client, pytest.raises(ArgoCDError) as caught:
        client.get_application("guestbook")
    assert caught.value.permanent and "does not resolve" in caught.value.message
    assert "'server'" in (caught.value.fix or "")
    assert asked == ["argocd.example.invalid"] and time_.slept == []


def test_a_temporary_resolver_failure_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    failures = iter([socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")])

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> object:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    time_ = FakeTime()
    with ScriptedServer(lambda request: request.send_json(200, APP)) as server:
        client = ArgoCDClient(
            ArgoCDConnection(server.url, token=TOKEN),
            deadline=time_.now + 600,
            clock=time_.clock,
            sleep=time_.sleep,
        )
        with client:
            assert client.get_application("guestbook") == APP
    assert len(time_.slept) == 1


@pytest.mark.parametrize("answer", [{"items": 5}, {"items": {"a": 1}}, [APP], "items", 7])
def test_a_list_answer_of_the_wrong_shape_is_a_permanent_argocd_error(answer: object) -> None:
    with ScriptedServer(lambda request: request.send_json(200, answer)) as server:
        with ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN)) as client:
            with pytest.raises(ArgoCDError, match="not an ApplicationList") as caught:
                client.list_applications(selector="team=a")
    assert caught.value.permanent


def test_deeply_nested_json_is_a_non_json_answer_not_a_recursion_error() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000

    def handler(request: Handler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(deep)))
        request.end_headers()
        request.wfile.write(deep)

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN)) as client:
        with pytest.raises(ArgoCDError, match="non-JSON") as caught:
            client.get_application("guestbook")
    assert caught.value.permanent


def test_deeply_nested_json_on_the_stream_is_a_stream_error() -> None:
    deep = b"[" * 200_000 + b"]" * 200_000 + b"\n"

    def handler(request: Handler) -> None:
        request.start_chunked("application/json")
        request.chunk(deep)
        request.end_chunked()

    with ScriptedServer(handler) as server, ArgoCDClient(ArgoCDConnection(server.url, token=TOKEN)) as client:
        with pytest.raises(ArgoCDStreamError, match="not JSON"):
            list(client.watch(name="guestbook"))


# -- 429 ------------------------------------------------------------------------------------------


def rate_limited_once(then: Callable[[Handler], None], retry_after: str = "1") -> Callable[[Handler], None]:
    answers = iter([429])

    def handler(request: Handler) -> None:
        if next(answers, None):
            request.send_json(429, {"message": "rate limited"}, headers={"Retry-After": retry_after})
            return
        then(request)

    return handler


def test_a_429_to_a_get_is_retried_after_its_retry_after() -> None:
    time_ = FakeTime()
    lines: list[str] = []
    with ScriptedServer(rate_limited_once(lambda request: request.send_json(200, APP), "3")) as server:
        client = ArgoCDClient(
            ArgoCDConnection(server.url, token=TOKEN),
            deadline=time_.now + 60,
            clock=time_.clock,
            sleep=time_.sleep,
            say=lines.append,
        )
        with client:
            assert client.get_application("guestbook") == APP
    assert time_.slept == [3.0] and lines[0].startswith("Argo CD answered 429")


def test_a_429_to_the_stream_connect_is_retried() -> None:
    def stream(request: Handler) -> None:
        request.start_chunked("application/json")
        request.chunk(json.dumps({"result": {"type": "ADDED", "application": APP}}).encode() + b"\n")
        request.end_chunked()

    time_ = FakeTime()
    with ScriptedServer(rate_limited_once(stream)) as server:
        client = ArgoCDClient(
            ArgoCDConnection(server.url, token=TOKEN),
            deadline=time_.now + 60,
            clock=time_.clock,
            sleep=time_.sleep,
        )
        with client:
            assert next(iter(client.watch(name="guestbook"))).application == APP
    assert time_.slept == [1.0]


def test_a_429_whose_retry_after_passes_the_deadline_is_not_slept() -> None:
    time_ = FakeTime()
    with ScriptedServer(rate_limited_once(lambda request: request.send_json(200, APP), "120")) as server:
        client = ArgoCDClient(
            ArgoCDConnection(server.url, token=TOKEN),
            deadline=time_.now + 60,
            clock=time_.clock,
            sleep=time_.sleep,
        )
        with client, pytest.raises(ArgoCDError, match="rate-limited") as caught:
            client.get_application("guestbook")
    assert caught.value.status == 429 and not caught.value.permanent and time_.slept == []


def test_a_429_to_a_sync_is_not_re_sent() -> None:
    time_ = FakeTime()
    with ScriptedServer(rate_limited_once(lambda request: request.send_json(200, APP))) as server:
        client = ArgoCDClient(
            ArgoCDConnection(server.url, token=TOKEN),
            deadline=time_.now + 60,
            clock=time_.clock,
            sleep=time_.sleep,
        )
        with client, pytest.raises(ArgoCDError, match="rate-limited") as caught:
            client.sync("guestbook")
    assert caught.value.status == 429 and len(server.requests) == 1 and time_.slept == []
