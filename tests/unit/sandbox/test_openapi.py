"""sandbox/openapi.py: cutting operations from GitHub's description, merging, validating, optional import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gitops_release.sandbox import openapi
from gitops_release.sandbox.github_api import GitHubSandbox

TINY = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "servers": [{"url": "https://api.github.com"}],
    "paths": {
        "/a": {
            "get": {"responses": {"200": {"$ref": "#/components/responses/ok"}}},
            "post": {"responses": {"201": {"description": "x"}}},
        },
        "/b": {"get": {"responses": {"200": {"description": "unused"}}}},
    },
    "components": {
        "responses": {
            "ok": {
                "description": "ok",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/thing"}}},
            }
        },
        "schemas": {
            "thing": {"type": "object", "properties": {"owner": {"$ref": "#/components/schemas/user"}}},
            "user": {"type": "object"},
            "unrelated": {"type": "string"},
        },
    },
}


def test_cut_operations_keeps_only_the_operations_and_what_they_reference() -> None:
    cut = openapi.cut_operations(TINY, [("/a", "get")])
    assert list(cut["paths"]) == ["/a"]
    assert list(cut["paths"]["/a"]) == ["get"]
    assert cut["components"] == {
        "responses": {"ok": TINY["components"]["responses"]["ok"]},
        "schemas": {"thing": TINY["components"]["schemas"]["thing"], "user": {"type": "object"}},
    }


def test_merge_documents_unions_paths_and_components_first_wins() -> None:
    first = {"openapi": "3.0.3", "paths": {"/a": {"get": 1}}, "components": {"schemas": {"x": 1}}}
    second = {"paths": {"/a": {"post": 2}, "/b": {"get": 3}}, "components": {"schemas": {"x": 9, "y": 2}}}
    merged = openapi.merge_documents(first, second)
    assert merged["paths"] == {"/a": {"get": 1, "post": 2}, "/b": {"get": 3}}
    assert merged["components"] == {"schemas": {"x": 1, "y": 2}}


def collect_refs(node: object) -> set[str]:
    found: set[str] = set()
    openapi.refs_in(node, found)
    return found


def test_shipped_documents_cover_every_route_and_resolve_every_ref() -> None:
    from gitops_release.sandbox.github_api import ROUTES

    document = openapi.load_document()
    for route in ROUTES:
        assert route.method.lower() in document["paths"][route.template], route.template
    for ref in collect_refs(document):
        openapi._lookup(document, ref)  # raises KeyError when a component is missing
    extra = json.loads(openapi.EXTRA_FILE.read_text(encoding="utf-8"))
    assert {
        (p, m)
        for p, item in extra["paths"].items()
        for m in item
        if m in ("get", "post", "put", "patch", "delete")
    } == set(openapi.EXTRA_OPERATIONS)


def test_validator_reports_request_and_response_problems() -> None:
    validator = openapi.load_validator()
    assert validator is not None
    assert validator is openapi.load_validator()  # built once per process
    ok = validator.validate_request(
        "post", "/repos/o/r/statuses/abc", {}, {"Content-Type": "application/json"}, b'{"state": "success"}'
    )
    assert ok == []
    bad = validator.validate_request(
        "post", "/repos/o/r/statuses/abc", {}, {"Content-Type": "application/json"}, b"{}"
    )
    assert len(bad) == 1
    assert "state" in str(bad[0])
    assert str(bad[0]).startswith("request POST /repos/o/r/statuses/abc")
    response = validator.validate_response("get", "/repos/o/r", {}, {}, None, 200, b'{"id": 1}', {})
    assert response and "required property" in response[0].detail
    slash = validator.validate_request(
        "get",
        "/repos/o/r/git/ref/heads/a/b",
        {},
        {},
        None,
        template="/repos/{owner}/{repo}/git/ref/{ref}",
        path_params={"owner": "o", "repo": "r", "ref": "heads/a/b"},
    )
    assert slash == []
    assert validator.declares("/repos/{owner}/{repo}", "get", 404)
    assert not validator.declares("/repos/{owner}/{repo}", "get", 418)


def test_without_openapi_core_the_sandbox_runs_unvalidated_with_a_note(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delitem(openapi._CACHE, "validator", raising=False)
    monkeypatch.setitem(sys.modules, "openapi_core", None)  # import now raises ImportError
    gh = GitHubSandbox(tmp_path)
    assert gh.validate is False
    assert gh.note == openapi.UNAVAILABLE_NOTE
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_main_regenerates_the_extra_document(tmp_path: Path) -> None:
    full = tmp_path / "full.json"
    document = openapi.load_document()
    full.write_text(json.dumps(document), encoding="utf-8")
    out = tmp_path / "extra.json"
    assert openapi.main([str(full), str(out)]) == 0
    assert (
        json.loads(out.read_text(encoding="utf-8"))["paths"].keys()
        == json.loads(openapi.EXTRA_FILE.read_text(encoding="utf-8"))["paths"].keys()
    )
    assert openapi.main([]) == 2


def test_fixture_fails_the_test_when_violations_remain(tmp_path: Path) -> None:
    test_file = tmp_path / "test_violation.py"
    test_file.write_text(
        "import requests\n"
        "def test_wrong_request(github_sandbox):\n"
        "    github_sandbox.create_repo('o/r')\n"
        "    requests.post(github_sandbox.url + '/repos/o/r/statuses/main', json={'state': 'bogus'},\n"
        "                  headers={'Authorization': 'token sandbox-token'}, timeout=10)\n",
        encoding="utf-8",
    )
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.fixtures.github_sandbox",
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            str(test_file),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 passed, 1 error" in proc.stdout
    assert "GitHub sandbox recorded OpenAPI violations" in proc.stdout
    assert "'bogus' is not one of" in proc.stdout
