"""HttpClient against a tiny scripted http.server on 127.0.0.1 (stopped by every test)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitops_release.adapters.http import HttpClient, HttpResponse, RetryBudget, api_base_url, next_link
from gitops_release.core.retry import RetryPolicy
from gitops_release.errors import (
    GitHubAuthError,
    GitHubNotFoundError,
    GitHubValidationError,
    InputError,
    RateLimitError,
    RetryExhaustedError,
)

TOKEN = "ghs_unitTestSecretToken0123456789"
FIXTURES = Path(__file__).resolve().parents[2] / "contracts" / "octokit"


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Scripted:
    """Answers from a queue per (method, path); the last reply repeats. Records every request."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], list[Reply]] = {}
        self.seen: list[Seen] = []
        self.url = ""

    def script(self, method: str, path: str, *replies: Reply) -> None:
        self.replies[(method, path)] = list(replies)

    def answer(self, method: str, path: str) -> Reply:
        queue = self.replies.get((method, path))
        if not queue:
            return Reply(404, {"message": "Not Found"})
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def server() -> Iterator[Scripted]:
    state = Scripted()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            state.seen.append(
                Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            reply = state.answer(self.command, self.path)
            payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            if reply.body is None:
                payload = b""
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@dataclass
class Recorder:
    sleeps: list[float] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def client(server: Scripted, rec: Recorder, **kwargs: Any) -> HttpClient:
    return HttpClient(
        server.url,
        token=TOKEN,
        sleep=rec.sleeps.append,
        log=rec.lines.append,
        rand=lambda: 0.5,
        **kwargs,
    )


def assert_no_token(rec: Recorder, *texts: str) -> None:
    for text in [*rec.lines, *texts]:
        assert TOKEN not in text
        assert TOKEN[:12] not in text


def test_sends_bearer_token_only_in_header_and_github_headers(server: Scripted, rec: Recorder) -> None:
    server.script("GET", "/repos/org/app", Reply(200, {"full_name": "org/app"}))
    response = client(server, rec).request("GET", "/repos/org/app")
    assert response.json() == {"full_name": "org/app"}
    seen = server.seen[0]
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["accept"] == "application/vnd.github+json"
    assert seen.headers["x-github-api-version"] == "2022-11-28"
    assert seen.headers["user-agent"].startswith("gitops-release/")
    assert TOKEN not in seen.path


def test_json_body_is_sent(server: Scripted, rec: Recorder) -> None:
    server.script("POST", "/repos/org/app/dispatches", Reply(204))
    response = client(server, rec).request("POST", "repos/org/app/dispatches", json_body={"event_type": "x"})
    assert response.status == 204
    assert response.json() is None
    assert json.loads(server.seen[0].body) == {"event_type": "x"}
    assert server.seen[0].headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("status", [502, 503])
def test_get_is_retried_after_5xx(server: Scripted, rec: Recorder, status: int) -> None:
    server.script(
        "GET", "/repos/org/app", Reply(status, "oops"), Reply(status, "oops"), Reply(200, {"id": 1})
    )
    response = client(server, rec).request("GET", "/repos/org/app")
    assert response.json() == {"id": 1}
    assert len(server.seen) == 3
    assert rec.sleeps == [0.5, 1.0]
    assert rec.lines == [
        f"GitHub answered {status}; retry 1/4 in 0.5 s",
        f"GitHub answered {status}; retry 2/4 in 1.0 s",
    ]


def test_post_is_not_resent_after_502(server: Scripted, rec: Recorder) -> None:
    server.script("POST", "/repos/org/app/statuses/abc", Reply(502, "bad gateway"), Reply(201, {"id": 1}))
    with pytest.raises(RetryExhaustedError) as caught:
        client(server, rec).request("POST", "/repos/org/app/statuses/abc", json_body={"state": "success"})
    assert len(server.seen) == 1
    assert rec.sleeps == []
    assert (
        "GitHub answered 502 (bad gateway); the request was sent once, not re-sent (it may have been applied)"
        in (str(caught.value))
    )
    assert "kept answering" not in str(caught.value)
    assert caught.value.fix and "whether it was applied" in caught.value.fix


def test_post_with_idempotent_true_is_retried(server: Scripted, rec: Recorder) -> None:
    server.script("POST", "/graphql", Reply(503, ""), Reply(200, {"data": {}}))
    assert client(server, rec).request("POST", "/graphql", json_body={}, idempotent=True).status == 200
    assert len(server.seen) == 2


def test_get_gives_up_after_max_attempts(server: Scripted, rec: Recorder) -> None:
    server.script("GET", "/x", Reply(502, ""))
    with pytest.raises(RetryExhaustedError):
        client(server, rec, policy=RetryPolicy(max_attempts=3)).request("GET", "/x", operation="read x")
    assert len(server.seen) == 3
    assert len(rec.sleeps) == 2


def test_secondary_rate_limit_retries_a_post_and_honours_retry_after(server: Scripted, rec: Recorder) -> None:
    limited = Reply(403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "7"})
    server.script("POST", "/repos/org/app/statuses/abc", limited, Reply(201, {"id": 5}))
    response = client(server, rec).request(
        "POST", "/repos/org/app/statuses/abc", json_body={"state": "pending"}
    )
    assert response.json() == {"id": 5}
    assert len(server.seen) == 2
    assert rec.sleeps == [7.0]
    assert rec.lines == ["GitHub answered 403; retry 1/4 in 7.0 s"]


def test_retry_after_beyond_the_bound_raises_rate_limit_at_once(server: Scripted, rec: Recorder) -> None:
    limited = Reply(403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "3600"})
    server.script("POST", "/repos/org/app/statuses/abc", limited)
    with pytest.raises(RateLimitError) as caught:
        client(server, rec).request(
            "POST", "/repos/org/app/statuses/abc", json_body={}, operation="create status"
        )
    assert len(server.seen) == 1
    assert rec.sleeps == []
    assert "retry after 3600 s" in str(caught.value)


def test_total_wait_is_bounded_across_attempts(server: Scripted, rec: Recorder) -> None:
    server.script("GET", "/x", Reply(429, {"message": "slow down"}, {"Retry-After": "50"}))
    with pytest.raises(RateLimitError):
        client(server, rec).request("GET", "/x")
    assert rec.sleeps == [50.0, 50.0]
    assert sum(rec.sleeps) <= RetryPolicy().max_total_wait


def test_422_is_one_line_naming_the_field(server: Scripted, rec: Recorder) -> None:
    body = {
        "message": "Validation Failed",
        "errors": [{"resource": "Status", "field": "description", "code": "custom", "message": "too long"}],
    }
    server.script("POST", "/repos/org/app/statuses/abc", Reply(422, body))
    with pytest.raises(GitHubValidationError) as caught:
        client(server, rec).request(
            "POST",
            "/repos/org/app/statuses/abc",
            json_body={},
            operation="create status",
            repository="org/app",
        )
    text = str(caught.value)
    assert "\n" not in text
    assert "field 'description'" in text
    assert len(server.seen) == 1


def test_404_and_403_name_the_permission(server: Scripted, rec: Recorder) -> None:
    server.script("POST", "/repos/org/x/dispatches", Reply(404, {"message": "Not Found"}))
    server.script(
        "POST", "/repos/org/y/deployments", Reply(403, {"message": "Resource not accessible by integration"})
    )
    http = client(server, rec)
    with pytest.raises(GitHubNotFoundError) as missing:
        http.request(
            "POST",
            "/repos/org/x/dispatches",
            json_body={},
            operation="dispatch",
            repository="org/x",
            permission="contents: write",
        )
    assert "repository org/x not found or the token cannot see it" in str(missing.value)
    assert "contents: write" in str(missing.value)
    with pytest.raises(GitHubAuthError) as refused:
        http.request(
            "POST",
            "/repos/org/y/deployments",
            json_body={},
            operation="create deployment",
            repository="org/y",
            permission="deployments: write",
        )
    assert "'deployments: write'" in str(refused.value)
    assert len(server.seen) == 2


def test_expected_statuses_are_returned(server: Scripted, rec: Recorder) -> None:
    server.script("GET", "/repos/org/app/installation", Reply(404, {"message": "Not Found"}))
    response = client(server, rec).request("GET", "/repos/org/app/installation", expected=(200, 404))
    assert response.status == 404


def test_token_never_in_logs_errors_or_urls(server: Scripted, rec: Recorder) -> None:
    echo = {"message": f"Bad credentials for {TOKEN}"}
    server.script("GET", "/user", Reply(502, ""), Reply(401, echo))
    with pytest.raises(GitHubAuthError) as caught:
        client(server, rec).request("GET", "/user")
    assert all(TOKEN not in seen.path for seen in server.seen)
    assert_no_token(rec, str(caught.value), caught.value.message, caught.value.fix or "")


def test_connection_refused_is_retried_then_names_the_host(rec: Recorder) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http = HttpClient(
        f"http://127.0.0.1:{port}",
        token=TOKEN,
        sleep=rec.sleeps.append,
        log=rec.lines.append,
        rand=lambda: 0.5,
    )
    with pytest.raises(RetryExhaustedError) as caught:
        http.request("POST", "/repos/org/app/dispatches", json_body={}, operation="dispatch")
    text = str(caught.value)
    assert f"could not reach 127.0.0.1:{port} after 5 attempt(s)" in text
    assert len(rec.sleeps) == 4  # refused connections never reached the server: safe to retry a POST
    assert rec.lines[0].startswith("GitHub unreachable (")
    assert_no_token(rec, text)


def test_follows_same_origin_redirects_like_a_renamed_repository(server: Scripted, rec: Recorder) -> None:
    recorded = json.loads((FIXTURES / "rename-repository.json").read_text())
    moved_get = next(x for x in recorded if x["status"] == 301)
    moved_patch = next(x for x in recorded if x["status"] == 307)
    final = next(x for x in recorded if x["path"] == "/repositories/1000" and x["method"] == "patch")
    location = "/repositories/1000"
    server.script(
        "GET", moved_get["path"], Reply(301, moved_get["response"], {"Location": server.url + location})
    )
    server.script("PATCH", moved_patch["path"], Reply(307, moved_patch["response"], {"Location": location}))
    server.script("GET", location, Reply(200, final["response"]))
    server.script("PATCH", location, Reply(200, final["response"]))
    http = client(server, rec)
    got = http.request("GET", moved_get["path"])
    assert got.json()["full_name"] == "octokit-fixture-org/rename-repository-newname"
    patched = http.request("PATCH", moved_patch["path"], json_body=moved_patch["body"])
    assert patched.status == 200
    assert [(s.method, s.path) for s in server.seen] == [
        ("GET", moved_get["path"]),
        ("GET", location),
        ("PATCH", moved_patch["path"]),
        ("PATCH", location),
    ]
    assert json.loads(server.seen[-1].body) == moved_patch["body"]
    assert all(s.headers.get("authorization") == f"Bearer {TOKEN}" for s in server.seen)


def test_no_token_to_another_origin(server: Scripted, rec: Recorder) -> None:
    server.script("GET", "/page2", Reply(200, []))
    http = HttpClient("https://api.github.example", token=TOKEN, sleep=rec.sleeps.append)
    assert http.request("GET", server.url + "/page2").json() == []
    assert "authorization" not in server.seen[0].headers


def test_post_redirect_301_is_not_followed(server: Scripted, rec: Recorder) -> None:
    server.script("POST", "/old", Reply(301, {"message": "Moved Permanently"}, {"Location": "/new"}))
    with pytest.raises(Exception, match="301"):
        client(server, rec).request("POST", "/old", json_body={})
    assert [s.path for s in server.seen] == ["/old"]


def test_api_base_url() -> None:
    assert api_base_url(None, {}) == "https://api.github.com"
    assert api_base_url("", {"GITHUB_API_URL": "https://ghe.example/api/v3/"}) == "https://ghe.example/api/v3"
    assert (
        api_base_url(" https://x.example/api/v3/ ", {"GITHUB_API_URL": "https://y"})
        == "https://x.example/api/v3"
    )


@pytest.mark.parametrize(
    ("explicit", "env", "source"),
    [
        ("http://ghe.example.com/api/v3", {}, "input 'api-url'"),
        ("", {"GITHUB_API_URL": "http://ghe.example.com/api/v3"}, "GITHUB_API_URL"),
        ("http://10.0.0.5:8080/api/v3", {}, "input 'api-url'"),
        ("http://127.0.0.1.evil.example/", {}, "input 'api-url'"),  # a name, not the loopback
    ],
)
def test_api_base_url_refuses_plain_http_off_the_loopback(
    explicit: str, env: dict[str, str], source: str
) -> None:
    """Every GitHub client (report-status, promote-overlay) sends its token in a header: over plain
    http to another host it would travel in clear."""
    with pytest.raises(InputError) as caught:
        api_base_url(explicit, env)
    assert caught.value.field == "api-url" and source in caught.value.message
    assert "https://" in (caught.value.fix or "")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/api/v3", "http://localhost:8080", "http://[::1]:1"])
def test_api_base_url_allows_plain_http_to_the_loopback(url: str) -> None:
    assert api_base_url(url, {}) == url


def test_next_link() -> None:
    link = '<https://api.github.com/r?page=2>; rel="next", <https://api.github.com/r?page=5>; rel="last"'
    assert next_link({"Link": link}) == "https://api.github.com/r?page=2"
    assert next_link({"link": '<https://a/r?page=1>; rel="prev"'}) is None
    assert next_link({}) is None
    assert next_link(None) is None


def test_http_response_header_lookup() -> None:
    response = HttpResponse(200, {"X-RateLimit-Remaining": "5"}, b"[1]")
    assert response.header("x-ratelimit-remaining") == "5"
    assert response.json() == [1]


# -- a server that reads the request and never answers (a lost answer) ------------------------------


@pytest.fixture
def silent() -> Iterator[tuple[str, list[socket.socket]]]:
    """(URL, accepted connections) of a 127.0.0.1 server that accepts, reads nothing back, never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.05)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:  # the accept timeout: look at ``done`` again
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", held
    finally:
        done.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def test_post_without_an_answer_is_sent_once_and_says_it_may_have_been_applied(
    silent: tuple[str, list[socket.socket]], rec: Recorder
) -> None:
    url, held = silent
    http = HttpClient(url, token=TOKEN, sleep=rec.sleeps.append, log=rec.lines.append, timeout=0.2)
    with pytest.raises(RetryExhaustedError) as caught:
        http.request(
            "POST", "/repos/org/app/deployments", json_body={"ref": "main"}, operation="create deployment"
        )
    text = str(caught.value)
    assert text.startswith(
        "create deployment: sent once, not re-sent (it may have been applied): no answer from "
    )
    assert "could not reach" not in text
    assert caught.value.fix and "whether it was applied" in caught.value.fix
    assert len(held) == 1
    assert rec.sleeps == []


# -- the shared retry budget ---------------------------------------------------------------------------


def test_requests_of_one_client_share_its_wait_budget(server: Scripted, rec: Recorder) -> None:
    limited = Reply(429, {"message": "slow down"}, {"Retry-After": "50"})
    server.script("GET", "/x", limited, limited, Reply(200, {}))
    server.script("GET", "/y", limited, Reply(200, {}))
    http = client(server, rec)
    assert http.budget.total == RetryPolicy().max_total_wait
    assert http.request("GET", "/x").status == 200
    assert rec.sleeps == [50.0, 50.0]
    # a second request alone could wait 50 s (per-request bound 120 s), but the client has 20 s left
    with pytest.raises(RateLimitError, match="retry after 50 s"):
        http.request("GET", "/y")
    assert rec.sleeps == [50.0, 50.0]
    assert http.budget.spent == 100.0


def test_two_clients_given_one_budget_draw_from_it(server: Scripted, rec: Recorder) -> None:
    limited = Reply(429, {"message": "slow down"}, {"Retry-After": "40"})
    server.script("GET", "/x", limited, Reply(200, {}))
    server.script("GET", "/y", limited, Reply(200, {}))
    budget = RetryBudget(60)
    assert client(server, rec, budget=budget).request("GET", "/x").status == 200
    with pytest.raises(RateLimitError):
        client(server, rec, budget=budget).request("GET", "/y")
    assert rec.sleeps == [40.0]
    assert (budget.spent, budget.left()) == (40.0, 20.0)


def test_retry_budget_take_is_all_or_nothing() -> None:
    budget = RetryBudget(10)
    assert budget.take(4) and budget.take(6)
    assert not budget.take(0.5)
    assert budget.left() == 0.0
    assert budget.take(0.0)
    with pytest.raises(ValueError):
        RetryBudget(-1)
