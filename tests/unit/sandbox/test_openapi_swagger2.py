"""sandbox/openapi.py with Argo CD's Swagger 2.0 description: conversion, registry, real objects."""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate as validate_spec

from gitops_release.sandbox import openapi

TESTS = Path(__file__).resolve().parents[2]
# copies of ../shared/contracts/argocd: the Swagger description here, its Applications in the corpus
SWAGGER = TESTS / "contracts" / "argocd" / "swagger-subset.json"
CONTRACT_APPS = TESTS / "fixtures" / "corpus" / "argocd-contracts"
SERVER = "https://argocd.example.com"
GET_APP = "/api/v1/applications/{name}"


def swagger() -> dict[str, Any]:
    return json.loads(SWAGGER.read_text(encoding="utf-8"))


def as_json(value: object) -> object:
    """A YAML-loaded object as Argo CD serializes it: timestamps as RFC 3339 strings."""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {key: as_json(child) for key, child in value.items()}
    if isinstance(value, list):
        return [as_json(child) for child in value]
    return value


def real_applications() -> list[dict[str, Any]]:
    apps = []
    for path in sorted(CONTRACT_APPS.glob("*.yaml")):
        apps.extend(as_json(doc) for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc)
    return apps


@pytest.fixture()
def argocd(monkeypatch: pytest.MonkeyPatch) -> Iterator[openapi.Validator]:
    """A registered Argo CD document; the registry and cache are restored afterwards."""
    monkeypatch.setattr(openapi, "_REGISTRY", dict(openapi._REGISTRY))
    monkeypatch.setattr(openapi, "_CACHE", dict(openapi._CACHE))
    openapi.register_document("argocd", swagger, server_url=SERVER, vendor="Argo CD")
    validator = openapi.load_validator("argocd")
    assert validator is not None
    yield validator


def get_app(validator: openapi.Validator, app: dict[str, Any], status: int = 200) -> list[openapi.Problem]:
    name = app["metadata"]["name"]
    return validator.validate_response(
        "get", f"/api/v1/applications/{name}", {}, {}, None, status, json.dumps(app).encode(), {}
    )


def test_the_real_argocd_swagger_converts_to_a_valid_openapi3_document() -> None:
    source = swagger()
    converted = openapi.swagger2_to_openapi3(source, server_url=SERVER)
    validate_spec(converted)  # openapi-spec-validator: a well-formed OpenAPI 3.0 document
    assert converted["openapi"] == "3.0.3"
    assert converted["servers"] == [{"url": SERVER}]
    assert set(converted["components"]["schemas"]) == set(source["definitions"])
    refs: set[str] = set()
    openapi.refs_in(converted, refs)
    assert refs and all(ref.startswith("#/components/schemas/") for ref in refs)
    for ref in refs:
        openapi._lookup(converted, ref)
    assert converted["info"]["x-subset-source"] == source["info"]["x-subset-source"]
    sync = converted["paths"]["/api/v1/applications/{name}/sync"]["post"]
    assert sync["requestBody"] == {
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/applicationApplicationSyncRequest"}}
        },
        "required": True,
    }
    assert [p["name"] for p in sync["parameters"]] == ["name"]
    get = converted["paths"][GET_APP]["get"]
    projects = next(p for p in get["parameters"] if p["name"] == "projects")
    assert projects == {
        "name": "projects",
        "in": "query",
        "description": "the project names to restrict returned list applications.",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    }
    assert get["responses"]["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/runtimeError"
    }
    assert get["responses"]["200"]["description"] == "A successful response."


def test_swagger2_constructs_beyond_argocd_convert() -> None:
    source = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "host": "api.example.com",
        "basePath": "/v2",
        "schemes": ["https", "http"],
        "x-top": 1,
        "securityDefinitions": {
            "basic": {"type": "basic"},
            "key": {"type": "apiKey", "name": "X-K", "in": "header"},
        },
        "parameters": {"limit": {"name": "limit", "in": "query", "type": "integer", "maximum": 100}},
        "paths": {
            "/things/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "type": "string"}],
                "post": {
                    "consumes": ["multipart/form-data"],
                    "parameters": [
                        {"$ref": "#/parameters/limit"},
                        {"name": "file", "in": "formData", "type": "file", "required": True},
                        {"name": "tags", "in": "query", "type": "array", "items": {"type": "string"}},
                    ],
                    "responses": {
                        "201": {
                            "description": "made",
                            "headers": {"X-Id": {"type": "integer", "description": "id"}},
                            "schema": {"$ref": "#/definitions/thing"},
                        }
                    },
                    "x-op": True,
                },
            }
        },
        "definitions": {
            "thing": {
                "type": "object",
                "discriminator": "kind",
                "properties": {"kind": {"type": "string"}, "note": {"type": "string", "x-nullable": True}},
            }
        },
    }
    converted = openapi.swagger2_to_openapi3(source)
    validate_spec(converted)
    assert converted["servers"] == [
        {"url": "https://api.example.com/v2"},
        {"url": "http://api.example.com/v2"},
    ]
    assert converted["x-top"] == 1
    assert converted["components"]["securitySchemes"] == {
        "basic": {"type": "http", "scheme": "basic"},
        "key": {"type": "apiKey", "name": "X-K", "in": "header"},
    }
    assert converted["components"]["parameters"]["limit"]["schema"] == {"type": "integer", "maximum": 100}
    thing = converted["components"]["schemas"]["thing"]
    assert thing["discriminator"] == {"propertyName": "kind"}
    assert thing["properties"]["note"] == {"type": "string", "nullable": True}
    item = converted["paths"]["/things/{id}"]
    assert item["parameters"][0]["schema"] == {"type": "string"}
    post = item["post"]
    assert post["x-op"] is True
    assert post["parameters"][0] == {"$ref": "#/components/parameters/limit"}
    assert post["parameters"][1]["explode"] is False  # Swagger 2's default collectionFormat is csv
    assert post["requestBody"]["content"]["multipart/form-data"]["schema"] == {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary"}},
        "required": ["file"],
    }
    created = post["responses"]["201"]
    assert created["headers"]["X-Id"] == {"description": "id", "schema": {"type": "integer"}}
    assert created["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/thing"}}}
    with pytest.raises(ValueError, match=r"not a Swagger 2\.0 document"):
        openapi.swagger2_to_openapi3({"openapi": "3.0.3"})


def test_real_argocd_applications_validate_as_the_get_response(argocd: openapi.Validator) -> None:
    apps = real_applications()
    assert len(apps) >= 8
    for app in apps:
        assert get_app(argocd, app) == [], app["metadata"]["name"]


def test_int64_and_date_time_fields_of_real_objects_are_accepted(argocd: openapi.Validator) -> None:
    app = real_applications()[0]
    app["spec"]["revisionHistoryLimit"] = 2**40  # integer/int64 beyond int32
    app["status"]["history"] = [{"id": 12, "revision": "a" * 40, "deployedAt": "2024-05-01T10:00:00Z"}]
    app["status"]["reconciledAt"] = "2024-05-01T10:00:01Z"
    app["status"]["health"] = {"status": "Healthy", "lastTransitionTime": "2024-05-01T10:00:00.123456Z"}
    assert get_app(argocd, app) == []
    # sourcePositions is Swagger 2 `type: string, format: int64` (grpc-gateway's int64 encoding)
    body = {
        "revision": "main",
        "prune": True,
        "sourcePositions": ["1", "2"],
        "syncOptions": {"items": ["A=b"]},
    }
    problems = argocd.validate_request(
        "post",
        "/api/v1/applications/a/sync",
        {},
        {"Content-Type": "application/json"},
        json.dumps(body).encode(),
    )
    assert problems == []


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("status", "sync", "status"), 3, "is not of type 'string'"),
        (("status", "reconciledAt"), "yesterday", "is not a 'date-time'"),
        (("status", "history"), [{"id": "7"}], "is not of type 'integer'"),
        (("spec", "destination"), "in-cluster", "is not of type 'object'"),
    ],
)
def test_a_broken_application_is_a_violation(
    argocd: openapi.Validator, path: tuple[str, ...], value: object, reason: str
) -> None:
    app = copy.deepcopy(real_applications()[0])
    node = app
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    problems = get_app(argocd, app)
    assert len(problems) == 1
    assert problems[0].where == "response"
    assert reason in problems[0].detail


def test_argocd_errors_are_checked_against_the_default_response(argocd: openapi.Validator) -> None:
    assert argocd.declares(GET_APP, "get", 404)  # every Argo CD operation declares `default`
    ok = b'{"error": "not found", "code": 5, "message": "not found"}'
    assert argocd.validate_response("get", "/api/v1/applications/x", {}, {}, None, 404, ok, {}) == []
    bad = argocd.validate_response("get", "/api/v1/applications/x", {}, {}, None, 404, b'{"code": "5"}', {})
    assert bad and "code" in bad[0].detail


def test_schema_problems_check_one_stream_message(argocd: openapi.Validator) -> None:
    app = real_applications()[0]
    assert (
        argocd.schema_problems("v1alpha1ApplicationWatchEvent", {"type": "MODIFIED", "application": app})
        == []
    )
    problems = argocd.schema_problems(
        "v1alpha1ApplicationWatchEvent", {"type": 1, "application": {"status": {"sync": {"status": 2}}}}
    )
    assert sorted(problems) == [
        "application/status/sync/status: 2 is not of type 'string'",
        "type: 1 is not of type 'string'",
    ]
    with pytest.raises(KeyError, match="no component schema 'nope' in the Argo CD document"):
        argocd.schema_problems("nope", {})


def test_registry_builds_once_replaces_on_register_and_refuses_unknown_apis(
    argocd: openapi.Validator,
) -> None:
    assert openapi.load_validator("argocd") is argocd
    assert "argocd" in openapi.registered_apis() and "github" in openapi.registered_apis()
    assert argocd.conventions.vendor == "Argo CD"
    loads: list[int] = []

    def loader() -> dict[str, Any]:
        loads.append(1)
        return swagger()

    openapi.register_document("argocd", loader, server_url="http://127.0.0.1:1")
    again = openapi.load_validator("argocd")
    assert again is not None and again is not argocd and again is openapi.load_validator("argocd")
    assert loads == [1]
    assert again.document["servers"] == [{"url": "http://127.0.0.1:1"}]
    with pytest.raises(KeyError, match="no OpenAPI document registered for 'gitlab'"):
        openapi.load_validator("gitlab")


TINY_OAS3 = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/a": {
            "get": {"responses": {"200": {"description": "ok"}}},
            "post": {
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"201": {"description": "made"}},
            },
        }
    },
}


def test_undeclared_statuses_and_error_bodies_are_the_documents_conventions() -> None:
    conventions = openapi.Conventions(
        api="tiny",
        vendor="Tiny",
        server_url="https://tiny.example",
        undeclared_allowed={
            401: openapi.Undeclared("every operation"),
            400: openapi.Undeclared("bad body", ("body",)),
        },
        error_body=lambda body: "" if isinstance(body, dict) and "oops" in body else "no 'oops'",
        allow_list_hint="tiny list",
    )
    validator = openapi.Validator(TINY_OAS3, conventions)
    assert validator.undeclared_problems("/a", "get", "/a", 401, {"oops": 1}) == []
    assert validator.undeclared_problems("/a", "post", "/a", 400, {"oops": 1}) == []
    [body] = validator.undeclared_problems("/a", "get", "/a", 401, {"message": "x"})
    assert body.detail == "401 body is not Tiny's error body: no 'oops'"
    [status] = validator.undeclared_problems("/a", "get", "/a", 400, {"oops": 1})
    assert "is not one Tiny sends for every such operation (tiny list)" in status.detail
    assert validator.undeclared_problems("/a", "get", "/a", 503, "<html>") == [
        openapi.Problem(
            "response",
            "get",
            "/a",
            "status 503 is not declared for GET /a (declared: 200) and is not one Tiny sends for every "
            "such operation (tiny list)",
        )
    ]
    assert validator.validate_request("get", "/a", {}, {}, None) == []  # matched on the Tiny server URL
