"""server/app.py through direct ASGI calls (no server): endpoints, ETags, reload, health, errors."""

from __future__ import annotations

import json

import pytest

from gitops_release.adapters.release_source import FileSource
from gitops_release.core import release_index
from gitops_release.server import app as app_module
from gitops_release.server.app import create_app
from gitops_release.server.state import ServerState
from tests.fixtures.serve_api import RELOAD_TOKEN, asgi_call, release, write_db

RELEASES = [release("api", "dev", tag="v2"), release("api", "prod", tag="v1"), release("web", "dev")]


class Clock:
    def __init__(self) -> None:
        self.ticks = 0

    def __call__(self) -> str:
        self.ticks += 1
        return f"2026-02-01T10:00:{self.ticks:02d}Z"


@pytest.fixture
def served(tmp_path):
    """(app, state, db path, log lines): a state that loaded RELEASES from a file."""
    path = write_db(tmp_path / "db.json", RELEASES)
    lines: list[str] = []
    state = ServerState(
        FileSource(path), version="9.9.9", reload_token=RELOAD_TOKEN, clock=Clock(), log=lines.append
    )
    state.load()
    return create_app(state, access_log=lines.append), state, path, lines


def test_list_releases_with_and_without_filters(served):
    app, state, _, _ = served
    everything = asgi_call(app, "GET", "/v1/releases")
    assert everything.status == 200 and everything.headers["content-type"] == "application/json"
    document = everything.json()
    assert document["releases"] == RELEASES and document["count"] == 3
    assert document["revision"] == state.index.revision and "loadedAt" not in document
    assert everything.headers["x-loaded-at"] == state.index.loaded_at
    assert asgi_call(app, "GET", "/v1/releases?container=api").json()["releases"] == RELEASES[:2]
    assert asgi_call(app, "GET", "/v1/releases?channel=dev").json()["releases"] == [RELEASES[0], RELEASES[2]]
    both = asgi_call(app, "GET", "/v1/releases?container=api&channel=prod").json()
    assert both["releases"] == [RELEASES[1]] and both["count"] == 1
    none = asgi_call(app, "GET", "/v1/releases?container=nothing")
    assert none.status == 200 and none.json()["releases"] == [] and none.json()["count"] == 0


def test_release_paths_and_their_404s(served):
    app, _, _, _ = served
    assert asgi_call(app, "GET", "/v1/releases/api").json()["releases"] == RELEASES[:2]
    one = asgi_call(app, "GET", "/v1/releases/api/prod")
    assert one.status == 200 and one.json()["releases"] == [RELEASES[1]]
    absent = asgi_call(app, "GET", "/v1/releases/api/stage")
    assert absent.status == 404 and absent.json()["detail"].startswith("no release of api on channel stage")
    # an absent release stays absent for If-None-Match: * (RFC 9110: no current representation)
    assert asgi_call(app, "GET", "/v1/releases/nothing", {"If-None-Match": "*"}).status == 404


def test_etag_if_none_match_and_cache_control(served):
    app, state, _, _ = served
    first = asgi_call(app, "GET", "/v1/releases?container=api")
    etag = first.headers["etag"]
    assert etag == state.index.etag and first.headers["cache-control"] == "no-cache"
    for header in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        again = asgi_call(app, "GET", "/v1/releases?container=api", {"If-None-Match": header})
        assert again.status == 304 and again.body == b"" and again.headers["etag"] == etag
    stale = asgi_call(app, "GET", "/v1/releases?container=api", {"If-None-Match": '"sha256-old"'})
    assert stale.status == 200 and stale.body == first.body


def test_a_new_version_gets_a_new_etag(served):
    app, _, path, _ = served
    etag = asgi_call(app, "GET", "/v1/releases").headers["etag"]
    write_db(path, [release("api", "dev", tag="v3")])
    reload = asgi_call(app, "POST", "/v1/reload", {"Authorization": f"Bearer {RELOAD_TOKEN}"})
    assert reload.status == 200 and reload.json()["result"] == "changed"
    answer = asgi_call(app, "GET", "/v1/releases", {"If-None-Match": etag})
    assert answer.status == 200 and answer.headers["etag"] != etag
    assert [r["tag"] for r in answer.json()["releases"]] == ["v3"]


@pytest.mark.parametrize(
    "target",
    [
        "/v1/releases?container=API",
        "/v1/releases?container=" + "a" * 64,
        "/v1/releases?channel=-dev",
        "/v1/releases?container=app%0A",
        "/v1/releases?container=app%00",
        "/v1/releases?container=%ff%fe",
        "/v1/releases?container=%zz",
        "/v1/releases/Bad_Name",
        "/v1/releases/api/" + "c" * 33,
    ],
)
def test_malformed_names_are_4xx_never_500(served, target):
    reply = asgi_call(served[0], "GET", target)
    assert reply.status == 422, reply.body


def test_huge_query_string_is_a_4xx(served):
    reply = asgi_call(served[0], "GET", "/v1/releases?container=" + "a" * 200_000)
    assert reply.status == 422


def test_unknown_query_parameters_and_repeats_are_answered(served):
    # Review 11a R9 decision: an unknown parameter is a 400 naming it (was: ignored, 200), and of
    # a repeated filter the first value counts, as seed 001's Go server read it (was: the last).
    app = served[0]
    unknown = asgi_call(app, "GET", "/v1/releases?foo=bar&&=&x")
    assert unknown.status == 400 and "'foo'" in unknown.json()["detail"]
    repeated = asgi_call(app, "GET", "/v1/releases?container=web&container=api")
    assert repeated.status == 200 and repeated.json()["releases"] == RELEASES[2:]


def test_not_ready_before_the_first_good_load(tmp_path):
    lines: list[str] = []
    state = ServerState(FileSource(tmp_path / "db.json"), version="1", clock=Clock(), log=lines.append)
    app = create_app(state, access_log=lines.append)
    for path in ("/v1/releases", "/v1/releases/api", "/v1/releases/api/dev"):
        assert asgi_call(app, "GET", path).status == 503
    startup = asgi_call(app, "GET", "/health/startup")
    assert startup.status == 503 and startup.json()["status"] == "unhealthy"
    assert asgi_call(app, "GET", "/health/ready").status == 503
    assert asgi_call(app, "GET", "/v1/health").status == 503
    assert asgi_call(app, "GET", "/health/live").status == 200
    state.load()  # the file is missing: the first load finished, badly
    assert asgi_call(app, "GET", "/health/startup").status == 200
    ready = asgi_call(app, "GET", "/health/ready")
    assert ready.status == 503
    assert ready.json()["checks"] == {"database": "unhealthy", "source": "unhealthy"}
    assert ready.json()["reasons"] == {
        "database": "no version of the db has been loaded yet",
        "source": f"{tmp_path / 'db.json'} does not exist",
    }
    detail = asgi_call(app, "GET", "/v1/releases").json()["detail"]
    assert detail == f"no version of the db has been loaded yet: {tmp_path / 'db.json'} does not exist"
    write_db(tmp_path / "db.json", RELEASES)
    state.load()
    assert asgi_call(app, "GET", "/health/ready").status == 200
    assert asgi_call(app, "GET", "/v1/releases").status == 200


def test_health_document(served):
    app, state, _, _ = served
    for path in ("/v1/health", "/health/ready", "/health/startup"):
        reply = asgi_call(app, "GET", path)
        assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
        document = reply.json()
        assert document["status"] == "healthy" and document["version"] == "9.9.9"
        assert document["checks"] == {"database": "healthy", "source": "healthy"}
        assert document["reasons"] == {} and document["dependencies"] == []  # a file: no remote
        assert document["revision"] == state.index.revision and document["releases"] == 3
        assert document["timestamp"].endswith("Z")
    live = asgi_call(app, "GET", "/health/live").json()
    assert live["status"] == "healthy" and live["checks"] == {"process": "healthy"}


@pytest.mark.parametrize(
    ("text", "check", "reason"),
    [
        ('{"schemaVersion": 1, "releases": [', "database", "db.json"),
        ('{"schemaVersion": 1, "releases": [{"container": "x"}]}', "database", "releases[0]"),
        (None, "source", "does not exist"),
    ],
)
def test_a_bad_reload_keeps_the_last_good_version_and_degrades(served, text, check, reason):
    app, state, path, lines = served
    before = asgi_call(app, "GET", "/v1/releases")
    if text is None:
        path.unlink()
    else:
        path.write_text(text)
    reload = asgi_call(app, "POST", "/v1/reload", {"Authorization": f"Bearer {RELOAD_TOKEN}"})
    assert reload.status == 422
    assert reload.json()["result"] == "failed" and reason in reload.json()["error"]
    assert reload.json()["revision"] == state.index.revision
    after = asgi_call(app, "GET", "/v1/releases")
    assert after.status == 200 and after.body == before.body
    assert after.headers["etag"] == before.headers["etag"]
    health = asgi_call(app, "GET", "/v1/health")
    assert health.status == 200
    document = health.json()
    assert document["status"] == "degraded" and document["checks"][check] == "degraded"
    assert set(document["checks"].values()) <= {"healthy", "degraded", "unhealthy"}
    why = document["reasons"][check]
    assert reason in why and f"serving the last good version (revision {state.index.revision}" in why
    assert asgi_call(app, "GET", "/health/ready").status == 200
    assert any('"result": "failed"' in line for line in lines)
    # the good file back: healthy again, same version (nothing new to serve)
    write_db(path, RELEASES)
    again = asgi_call(app, "POST", "/v1/reload", {"Authorization": f"Bearer {RELOAD_TOKEN}"})
    assert again.status == 200 and again.json()["result"] == "unchanged"
    assert asgi_call(app, "GET", "/v1/health").json()["status"] == "healthy"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Bearer {RELOAD_TOKEN}x"},
        {"Authorization": f"Bearer {RELOAD_TOKEN[:-1]}"},
        {"Authorization": f"Basic {RELOAD_TOKEN}"},
        {"Authorization": RELOAD_TOKEN},
        {"Authorization": "Bearer \u00e9\u00e8"},
    ],
)
def test_reload_without_the_right_bearer_token_is_401(served, headers):
    app, state, path, _ = served
    write_db(path, [release("api", "dev", tag="v3")])
    reply = asgi_call(app, "POST", "/v1/reload", headers)
    assert reply.status == 401 and reply.headers["www-authenticate"] == "Bearer"
    assert reply.json() == {"detail": "a valid bearer token is required"}
    assert state.metrics.reloads["changed"] == 1  # only the fixture's load: nothing reloaded


def test_reload_compares_in_constant_time(served, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = app_module.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(app_module.hmac, "compare_digest", spy)
    asgi_call(served[0], "POST", "/v1/reload", {"Authorization": "Bearer nope"})
    assert compared == [(b"nope", RELOAD_TOKEN.encode())]


def test_reload_is_404_when_no_token_is_configured(tmp_path):
    state = ServerState(FileSource(write_db(tmp_path / "db.json", RELEASES)), version="1", log=lambda _: None)
    state.load()
    app = create_app(state, access_log=lambda _: None)
    reply = asgi_call(app, "POST", "/v1/reload", {"Authorization": f"Bearer {RELOAD_TOKEN}"})
    assert reply.status == 404 and "reload is disabled" in reply.json()["detail"]


def test_a_db_swapped_mid_request_does_not_mix_versions(served, monkeypatch):
    """The swap happens inside the request, after it read the index: its answer is the old
    version's, body and ETag alike."""
    app, state, path, _ = served
    old = asgi_call(app, "GET", "/v1/releases?container=api")
    write_db(path, [release("api", "dev", tag="v3"), release("api", "prod", tag="v3")])
    real = app_module.releases_body

    def swap_then_render(index, **kwargs):
        state.load()  # the new version is now state.index
        assert state.index is not index
        return real(index, **kwargs)

    monkeypatch.setattr(app_module, "releases_body", swap_then_render)
    during = asgi_call(app, "GET", "/v1/releases?container=api")
    assert during.body == old.body and during.headers["etag"] == old.headers["etag"]
    monkeypatch.setattr(app_module, "releases_body", real)
    after = asgi_call(app, "GET", "/v1/releases?container=api")
    assert [r["tag"] for r in after.json()["releases"]] == ["v3", "v3"]
    assert after.headers["etag"] != old.headers["etag"]


def test_openapi_document_lists_every_endpoint(served):
    reply = asgi_call(served[0], "GET", "/openapi.json")
    assert reply.status == 200
    document = reply.json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/v1/releases",
        "/v1/releases/{container}",
        "/v1/releases/{container}/{channel}",
        "/v1/health",
        "/health/live",
        "/health/ready",
        "/health/startup",
        "/v1/reload",
        "/metrics",
    }
    releases = document["paths"]["/v1/releases"]["get"]
    assert {"200", "304", "422", "503"} <= set(releases["responses"])
    assert {p["name"] for p in releases["parameters"]} == {"container", "channel"}
    assert set(document["paths"]["/v1/reload"]["post"]["responses"]) >= {"200", "401", "404", "422"}
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_metrics_in_prometheus_text_format(served):
    app, _, _, _ = served
    asgi_call(app, "GET", "/v1/releases?container=api")
    asgi_call(app, "GET", "/v1/releases/api/stage")
    asgi_call(app, "GET", "/no/such/path/" + "x" * 100)
    asgi_call(app, "BREW", "/v1/releases")
    reply = asgi_call(app, "GET", "/metrics")
    assert reply.status == 200 and reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = reply.body.decode()
    assert 'gitops_release_serve_requests_total{route="/v1/releases",method="GET",status="200"} 1\n' in text
    assert (
        'gitops_release_serve_requests_total{route="/v1/releases/{container}/{channel}",method="GET",'
        'status="404"} 1\n'
    ) in text
    assert 'gitops_release_serve_requests_total{route="unmatched",method="GET",status="404"} 1\n' in text
    assert 'route="/v1/releases",method="OTHER",status="405"} 1\n' in text
    assert 'gitops_release_serve_reloads_total{result="changed"} 1\n' in text
    assert "gitops_release_serve_releases 3\n" in text
    assert "gitops_release_serve_degraded 0\n" in text
    assert "\ngitops_release_serve_last_good_load_timestamp_seconds " in text
    for line in text.splitlines():  # every sample line is name{labels} value
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)
            assert name.startswith("gitops_release_serve_")


def test_one_json_access_log_line_per_request(served):
    app, _, _, lines = served
    lines.clear()
    etag = asgi_call(app, "GET", "/v1/releases?container=api").headers["etag"]
    asgi_call(app, "GET", "/v1/releases?container=api", {"If-None-Match": etag})
    asgi_call(app, "GET", "/v1/rel\neases\x1b[31m")
    records = [json.loads(line) for line in lines]
    assert len(records) == 3
    first, second, hostile = records
    assert first["method"] == "GET" and first["path"] == "/v1/releases" and first["status"] == 200
    assert first["route"] == "/v1/releases" and first["queryBytes"] == len("container=api")
    assert first["bytes"] > 0 and first["etagHit"] is False and first["durationMs"] >= 0
    assert first["client"] == "127.0.0.1" and first["time"].endswith("Z")
    assert second["status"] == 304 and second["etagHit"] is True and second["bytes"] == 0
    assert hostile["path"] == "/v1/rel\neases\x1b[31m" and hostile["status"] == 404
    assert all("\n" not in line and "\x1b" not in line for line in lines)


def test_bodies_are_built_from_the_index_not_per_request_encoding(served, monkeypatch):
    """The release list is the index's pre-rendered bytes: no per-request JSON encoding."""
    app = served[0]

    def refuse(*args, **kwargs):
        raise AssertionError("encoded JSON per request")

    monkeypatch.setattr(release_index.orjson, "dumps", refuse)
    assert asgi_call(app, "GET", "/v1/releases?container=api").status == 200
    assert asgi_call(app, "GET", "/v1/releases?channel=dev").status == 200
