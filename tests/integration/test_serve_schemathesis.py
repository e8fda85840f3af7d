"""schemathesis against a real ``gitops-release serve``'s own ``/openapi.json``: for every operation,
generated requests (valid and invalid paths, queries, headers, bearer tokens) get no 5xx, and
every response matches the document (status code declared, content type, headers, body schema).
Two hypothesis phases run: ``explicit`` (the document's own examples) and ``generate``
(``MAX_EXAMPLES`` derandomized examples per operation and mode, which keeps it to a few seconds);
schemathesis's coverage phase does not run. The release filters' query parameters are declared
by hand (``openapi_extra`` in server/app.py: an empty value is allowed), so they are fuzzed as
documented too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from gitops_release.core.db import dump_db, load_db
from tests.fixtures.serve_process import ServeProcess

TOKEN = "schemathesis-reload-token-0123456789"
MAX_EXAMPLES = 30
#: Every operation of the issue's API; the last test checks the document has exactly these.
OPERATIONS = [
    ("GET", "/v1/releases"),
    ("GET", "/v1/releases/{container}"),
    ("GET", "/v1/releases/{container}/{channel}"),
    ("GET", "/v1/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/health/startup"),
    ("POST", "/v1/reload"),
    ("GET", "/metrics"),
]
#: Negative cases (values the document forbids) only where a request has inputs to break: an
#: operation without parameters has no invalid request to generate.
WITH_INPUTS = {"/v1/releases", "/v1/releases/{container}", "/v1/releases/{container}/{channel}"}
CASES = [(m, p, GenerationMode.POSITIVE, None) for m, p in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE, None) for m, p in OPERATIONS if p in WITH_INPUTS
]
# Names drawn from the patterns almost never exist in the db (404): these fix the path to one
# that does, so the 200 answers of the lookups are checked against the document too.
CASES += [
    ("GET", "/v1/releases/{container}", GenerationMode.POSITIVE, {"container": "api"}),
    (
        "GET",
        "/v1/releases/{container}/{channel}",
        GenerationMode.POSITIVE,
        {"container": "api", "channel": "prod"},
    ),
]


def db_text() -> str:
    releases = [
        {
            "container": container,
            "channel": channel,
            "image": f"ghcr.io/org/{container}",
            "tag": "v1",
            **({"digest": "sha256:" + "a" * 64} if channel == "prod" else {}),
            "source": {"repository": "org/app", "sha": "b" * 40, "ref": "refs/heads/main"},
            "updatedAt": "2026-01-01T00:00:00Z",
        }
        for container in ("api", "worker", "a", "0")
        for channel in ("dev", "prod")
    ]
    return dump_db(load_db(json.dumps({"schemaVersion": 1, "releases": releases}), path="db/db.json"))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    db: Path = tmp_path_factory.mktemp("serve-schemathesis") / "db.json"
    db.write_text(db_text(), encoding="utf-8")
    with ServeProcess(["--db-path", str(db)], env={"GITOPS_RELEASE_RELOAD_TOKEN": TOKEN}) as server:
        yield server
    # Nothing the fuzzer sent made the server log an unhandled error.
    assert "Traceback" not in server.output()


@pytest.fixture(scope="module")
def api_schema(api: ServeProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api.url}/openapi.json")


@pytest.mark.parametrize(
    ("method", "path", "mode", "known"),
    CASES,
    ids=[f"{m} {p} {g.value}{' existing' if k else ''}" for m, p, g, k in CASES],
)
def test_every_response_matches_the_openapi_document(
    api_schema: schemathesis.BaseSchema,
    method: str,
    path: str,
    mode: GenerationMode,
    known: dict[str, str] | None,
) -> None:
    # Hypothesis drives schemathesis's strategy for the operation directly: the pytest plugin's
    # lazy loader (schemathesis.pytest.from_fixture) does not run on pytest 9.2.
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=known))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests on every run: a failure here is reproducible
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def responds_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate()

    responds_as_documented()


def test_the_document_covers_every_endpoint(api: ServeProcess) -> None:
    # So the operations above are all there are: a route missing here was never fuzzed.
    status, body = api.get("/openapi.json")
    assert status == 200
    documented = {
        (method.upper(), path) for path, item in json.loads(body)["paths"].items() for method in item
    }
    assert documented == set(OPERATIONS)
