"""server/app.py's HTTP behaviour against seed 001's Go server and RFC 9110 (review 11a R7, R8,
R9, R12): HEAD and OPTIONS, a strong ETag that names one body, the release filters as Go's
``r.URL.Query().Get`` reads them, unknown query parameters, trailing slashes, no CORS."""

from __future__ import annotations

import json

import pytest

from gitops_release.adapters.release_source import FileSource
from gitops_release.server.app import create_app
from gitops_release.server.state import ServerState
from tests.fixtures.serve_api import asgi_call, release, write_db

RELEASES = [release("api", "dev", tag="v2"), release("api", "prod", tag="v1"), release("web", "dev")]
GET_PATHS = [
    "/v1/releases",
    "/v1/releases?container=api",
    "/v1/releases/api",
    "/v1/releases/api/prod",
    "/v1/releases/api/stage",  # a 404 answers HEAD as a 404
    "/v1/health",
    "/health/live",
    "/health/ready",
    "/health/startup",
    "/metrics",
    "/openapi.json",
]
VOLATILE = {"date", "content-length"}  # health documents carry a timestamp


class Clock:
    def __init__(self) -> None:
        self.ticks = 0

    def __call__(self) -> str:
        self.ticks += 1
        return f"2026-02-01T10:00:{self.ticks:02d}Z"


def quiet(_: str) -> None:
    return None


def loaded(path, *, clock=None, log=quiet):
    state = ServerState(FileSource(path), version="1", clock=clock or Clock(), log=quiet)
    state.load()
    return create_app(state, access_log=log), state


@pytest.fixture
def app(tmp_path):
    return loaded(write_db(tmp_path / "db.json", RELEASES))[0]


@pytest.mark.parametrize("path", GET_PATHS)
def test_head_is_get_without_the_body(app, path):
    get = asgi_call(app, "GET", path)
    head = asgi_call(app, "HEAD", path)
    assert head.status == get.status and head.body == b""
    if path != "/metrics":  # the GET itself changed the counters
        assert head.headers["content-length"] == str(len(get.body))
    if "/health" not in path and path != "/metrics":
        assert head.headers == get.headers


def test_head_is_logged_and_counted_as_head(tmp_path):
    lines: list[str] = []
    app, _ = loaded(write_db(tmp_path / "db.json", RELEASES), log=lines.append)
    asgi_call(app, "HEAD", "/v1/releases/api")
    assert (
        json.loads(lines[-1])["method"] == "HEAD"
        and json.loads(lines[-1])["route"] == "/v1/releases/{container}"
    )
    metrics = asgi_call(app, "GET", "/metrics").body.decode()
    assert 'route="/v1/releases/{container}",method="HEAD",status="200"' in metrics


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/releases", "GET, HEAD"),
        ("POST", "/v1/releases/api", "GET, HEAD"),
        ("DELETE", "/health/live", "GET, HEAD"),
        ("HEAD", "/v1/reload", "POST"),  # no GET there, so no HEAD either
        ("GET", "/v1/reload", "POST"),
    ],
)
def test_other_methods_are_405_with_allow(app, method, path, allow):
    reply = asgi_call(app, method, path)
    assert reply.status == 405 and reply.headers["allow"] == allow


def test_a_strong_etag_names_one_body_a_b_a(tmp_path):
    """A -> B -> A on one server: A's bytes and ETag come back exactly; only X-Loaded-At moves."""
    path = write_db(tmp_path / "db.json", RELEASES)
    app, state = loaded(path)
    first = asgi_call(app, "GET", "/v1/releases?container=api")
    write_db(path, [release("api", "dev", tag="v9")])
    state.load()
    other = asgi_call(app, "GET", "/v1/releases?container=api")
    write_db(path, RELEASES)
    state.load()
    again = asgi_call(app, "GET", "/v1/releases?container=api")
    assert other.headers["etag"] != first.headers["etag"] and other.body != first.body
    assert (again.body, again.headers["etag"]) == (first.body, first.headers["etag"])
    assert again.headers["x-loaded-at"] != first.headers["x-loaded-at"]
    assert "loadedAt" not in again.json()


def test_two_servers_with_the_same_db_send_the_same_bytes_under_the_same_etag(tmp_path):
    """Two pods loading one db at different times: a cache may mix their answers."""
    one, _ = loaded(write_db(tmp_path / "a" / "db.json", RELEASES))
    clock = Clock()
    clock.ticks = 30  # the second pod loaded half a minute later
    two, _ = loaded(write_db(tmp_path / "b" / "db.json", RELEASES), clock=clock)
    for path in ("/v1/releases", "/v1/releases/api", "/v1/releases/web/dev", "/v1/releases?channel=dev"):
        a, b = asgi_call(one, "GET", path), asgi_call(two, "GET", path)
        assert (a.body, a.headers["etag"]) == (b.body, b.headers["etag"]), path
        assert a.headers["x-loaded-at"] != b.headers["x-loaded-at"]


@pytest.mark.parametrize("query", ["container=", "container=&channel=", "channel=", "container"])
def test_an_empty_filter_is_no_filter(app, query):
    """A shell variable that is empty (`?container=$NAME`): Go's Query().Get gives "", no filter."""
    reply = asgi_call(app, "GET", f"/v1/releases?{query}")
    assert reply.status == 200 and reply.json()["releases"] == RELEASES


def test_an_empty_filter_next_to_a_real_one(app):
    reply = asgi_call(app, "GET", "/v1/releases?container=&channel=prod")
    assert reply.status == 200 and reply.json()["releases"] == [RELEASES[1]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("container=web&container=api", RELEASES[2:]),
        ("container=api&container=web", RELEASES[:2]),
        ("channel=prod&channel=dev", [RELEASES[1]]),
        ("container=&container=web", RELEASES),  # the first is empty: no filter, as in Go
    ],
)
def test_of_a_repeated_filter_the_first_value_counts(app, query, expected):
    reply = asgi_call(app, "GET", f"/v1/releases?{query}")
    assert reply.status == 200 and reply.json()["releases"] == expected


def test_an_invalid_first_value_is_a_422_naming_the_parameter(app):
    reply = asgi_call(app, "GET", "/v1/releases?container=Bad_Name&container=api")
    assert reply.status == 422 and reply.json()["detail"].startswith("query parameter container: 'Bad_Name'")


@pytest.mark.parametrize(
    ("target", "named"),
    [
        ("/v1/releases?containers=api", "'containers'"),
        ("/v1/releases?name=api&container=api", "'name'"),
        ("/v1/releases?Container=api", "'Container'"),
        ("/v1/releases?=x", "''"),
    ],
)
def test_an_unknown_query_parameter_is_a_400_naming_it_and_the_allowed_ones(app, target, named):
    reply = asgi_call(app, "GET", target)
    detail = reply.json()["detail"]
    assert reply.status == 400 and named in detail and "container and channel" in detail


@pytest.mark.parametrize("target", ["/v1/releases/api?channel=prod", "/v1/releases/api/prod?x=1"])
def test_the_lookup_paths_take_no_query_parameters(app, target):
    reply = asgi_call(app, "GET", target)
    assert reply.status == 400 and "takes no query parameters" in reply.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/v1/releases", "/v1/releases/api", "/v1/releases/api/prod", "/health/live", "/metrics"]
)
def test_a_trailing_slash_is_served_as_the_path_without_it(app, path):
    plain = asgi_call(app, "GET", path)
    slashed = asgi_call(app, "GET", path + "/")
    assert slashed.status == plain.status == 200
    if path.startswith("/v1/"):
        assert slashed.body == plain.body


def test_no_cors_headers_are_sent(app):
    """Decision (docs/serve.md): no CORS; a browser dashboard goes through a proxy that adds them."""
    origin = {"Origin": "https://dashboard.example"}
    reply = asgi_call(app, "GET", "/v1/releases", origin)
    assert reply.status == 200 and not any(name.startswith("access-control-") for name in reply.headers)
    preflight = asgi_call(app, "OPTIONS", "/v1/releases", {**origin, "Access-Control-Request-Method": "GET"})
    assert preflight.status == 405 and not any(
        name.startswith("access-control-") for name in preflight.headers
    )


def test_the_document_describes_the_filters_and_the_new_answers(app):
    document = asgi_call(app, "GET", "/openapi.json").json()
    operation = document["paths"]["/v1/releases"]["get"]
    schemas = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert set(schemas) == {"container", "channel"}
    assert schemas["container"]["pattern"].startswith("^(?:|")  # empty allowed
    assert {"200", "304", "400", "422", "503"} <= set(operation["responses"])
    assert "X-Loaded-At" in operation["responses"]["200"]["headers"]
    assert "loadedAt" not in document["components"]["schemas"]["ReleaseList"]["properties"]


def test_hung_reloads_do_not_take_the_default_threads(tmp_path):
    """Reloads hung on a dead remote run on their own few threads: anyio's default ones (the
    lifespan's stop, other requests' threads) stay free, however many reloads wait."""
    import asyncio
    import threading

    import anyio.to_thread

    from gitops_release.server import app as app_module
    from tests.fixtures.serve_api import RELOAD_TOKEN, _call, wait_until

    state = ServerState(
        FileSource(write_db(tmp_path / "db.json", RELEASES)), version="1", reload_token=RELOAD_TOKEN
    )
    state.load()
    app = create_app(state, access_log=quiet)
    hold = threading.Event()
    entered: list[int] = []
    load = state.load

    def hung_load(**kwargs):
        entered.append(1)
        hold.wait(timeout=60)
        return load(**kwargs)

    state.load = hung_load  # type: ignore[method-assign]

    async def scenario() -> tuple[int, list[int]]:
        bearer = {"Authorization": f"Bearer {RELOAD_TOKEN}"}
        calls = [asyncio.ensure_future(_call(app, "POST", "/v1/reload", bearer, b"")) for _ in range(12)]
        await anyio.to_thread.run_sync(
            lambda: wait_until(lambda: len(entered) >= app_module.RELOAD_THREADS, what="reloads to start")
        )
        borrowed = anyio.to_thread.current_default_thread_limiter().borrowed_tokens
        hold.set()
        replies = await asyncio.gather(*calls)
        return borrowed, [reply.status for reply in replies]

    borrowed, statuses = asyncio.run(scenario())
    assert borrowed == 0, f"{borrowed} of anyio's default threads are held by hung reloads"
    assert statuses == [200] * 12
