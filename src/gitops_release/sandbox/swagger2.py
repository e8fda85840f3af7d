"""Swagger 2.0 -> OpenAPI 3.0 for validation: the Argo CD API is described in Swagger 2.0
(grpc-gateway's output), openapi-core reads OpenAPI 3. Used by ``sandbox/openapi.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

_REF_PREFIXES = (
    ("#/definitions/", "#/components/schemas/"),
    ("#/parameters/", "#/components/parameters/"),
    ("#/responses/", "#/components/responses/"),
)
#: Swagger 2 parameter keys that describe the value: they move into the OpenAPI 3 ``schema``.
_VALUE_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
)
#: Swagger 2 ``collectionFormat`` -> OpenAPI 3 (style, explode) for query parameters. ``tsv`` has
#: no OpenAPI 3 equivalent: read like csv, the closest a client can mean.
_COLLECTION_STYLES = {
    "csv": ("form", False),
    "multi": ("form", True),
    "ssv": ("spaceDelimited", False),
    "pipes": ("pipeDelimited", False),
    "tsv": ("form", False),
}
_SCHEMA_CHILDREN = ("items", "additionalProperties", "not")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def _ref(ref: str) -> str:
    for old, new in _REF_PREFIXES:
        if ref.startswith(old):
            return new + ref[len(old) :]
    return ref


def _schema(node: Any) -> Any:
    """A Swagger 2 schema as an OpenAPI 3.0 schema: refs rewritten, ``x-nullable`` -> ``nullable``,
    a string ``discriminator`` -> an object, ``type: file`` -> a binary string. Other ``x-`` keys stay
    (OpenAPI 3 allows extensions on schemas)."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = _ref(value)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _schema(child) for name, child in value.items()}
        elif key in _SCHEMA_CHILDREN:
            out[key] = _schema(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_schema(child) for child in value]
        elif key == "x-nullable":
            out["nullable"] = bool(value)
        elif key == "discriminator" and isinstance(value, str):
            out[key] = {"propertyName": value}
        elif key == "type" and value == "file":
            out["type"], out["format"] = "string", "binary"
        else:
            out[key] = value
    return out


def _value_schema(parameter: Mapping[str, Any]) -> dict[str, Any]:
    """The ``schema`` of a non-body parameter (or of a header, or of an ``items``)."""
    schema = {key: parameter[key] for key in _VALUE_KEYS if key in parameter}
    if isinstance(schema.get("items"), Mapping):
        schema["items"] = _value_schema(schema["items"])
    if schema.get("type") == "file":
        schema["type"], schema["format"] = "string", "binary"
    return schema


def _parameter(parameter: Mapping[str, Any]) -> dict[str, Any]:
    if "$ref" in parameter:
        return {"$ref": _ref(parameter["$ref"])}
    out = {
        key: value
        for key, value in parameter.items()
        if key in ("name", "in", "description", "required", "allowEmptyValue", "deprecated")
        or key.startswith("x-")
    }
    out["schema"] = _value_schema(parameter)
    if parameter.get("type") == "array" and parameter["in"] in ("query", "formData"):
        style, explode = _COLLECTION_STYLES.get(parameter.get("collectionFormat", "csv"), ("form", False))
        out["style"], out["explode"] = style, explode
    elif parameter.get("type") == "array":  # path and header arrays: only csv exists in OpenAPI 3
        out["style"], out["explode"] = "simple", False
    return out


def _request_body(
    body: Mapping[str, Any] | None, form: list[Mapping[str, Any]], consumes: list[str]
) -> dict[str, Any] | None:
    if body is not None:
        out: dict[str, Any] = {
            "content": {media: {"schema": _schema(body.get("schema", {}))} for media in consumes}
        }
        if body.get("description"):
            out["description"] = body["description"]
        if body.get("required"):
            out["required"] = True
        return out
    if form:
        media = (
            "multipart/form-data"
            if "multipart/form-data" in consumes
            else "application/x-www-form-urlencoded"
        )
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {
                p["name"]: {
                    **_value_schema(p),
                    **({"description": p["description"]} if "description" in p else {}),
                }
                for p in form
            },
        }
        required = [p["name"] for p in form if p.get("required")]
        if required:
            schema["required"] = required
        return {"content": {media: {"schema": schema}}, **({"required": True} if required else {})}
    return None


def _response(response: Mapping[str, Any], produces: list[str]) -> dict[str, Any]:
    if "$ref" in response:
        return {"$ref": _ref(response["$ref"])}
    out: dict[str, Any] = {"description": response.get("description", "")}
    if "schema" in response:
        out["content"] = {media: {"schema": _schema(response["schema"])} for media in produces}
    if response.get("headers"):
        out["headers"] = {
            name: {
                **({"description": header["description"]} if "description" in header else {}),
                "schema": _value_schema(header),
            }
            for name, header in response["headers"].items()
        }
    out.update({key: value for key, value in response.items() if key.startswith("x-")})
    return out


def _security_scheme(scheme: Mapping[str, Any]) -> dict[str, Any]:
    kind = scheme.get("type")
    extras = {key: value for key, value in scheme.items() if key == "description" or key.startswith("x-")}
    if kind == "basic":
        return {"type": "http", "scheme": "basic", **extras}
    if kind == "apiKey":
        return {"type": "apiKey", "name": scheme.get("name", ""), "in": scheme.get("in", "header"), **extras}
    flow_names = {
        "implicit": "implicit",
        "password": "password",
        "application": "clientCredentials",
        "accessCode": "authorizationCode",
    }
    flow: dict[str, Any] = {"scopes": dict(scheme.get("scopes", {}))}
    for key in ("authorizationUrl", "tokenUrl"):
        if key in scheme:
            flow[key] = scheme[key]
    return {"type": "oauth2", "flows": {flow_names.get(scheme.get("flow", ""), "implicit"): flow}, **extras}


def swagger2_to_openapi3(document: Mapping[str, Any], *, server_url: str | None = None) -> dict[str, Any]:
    """An OpenAPI 3.0.3 document equivalent to a Swagger 2.0 one, for validation.

    ``definitions`` become ``components/schemas`` (every ``$ref`` rewritten), body parameters a
    ``requestBody`` (formData ones a form body), query/path/header parameters get their value
    keys wrapped in a ``schema`` (``collectionFormat`` -> style/explode), response schemas become
    ``content`` for each ``produces`` media type, ``default`` responses and ``x-`` extensions are
    kept. ``servers`` comes from ``server_url``, else host/basePath/schemes.
    """
    if str(document.get("swagger", "")) != "2.0":
        raise ValueError(f"not a Swagger 2.0 document (swagger: {document.get('swagger')!r})")
    consumes = list(document.get("consumes") or ["application/json"])
    produces = list(document.get("produces") or ["application/json"])
    if server_url is None and document.get("host"):
        schemes = document.get("schemes") or ["https"]
        servers = [
            {"url": f"{scheme}://{document['host']}{document.get('basePath', '')}"} for scheme in schemes
        ]
    elif server_url is None:
        servers = [{"url": document.get("basePath") or "/"}]
    else:
        servers = [{"url": server_url.rstrip("/") + (document.get("basePath") or "").rstrip("/")}]

    shared = document.get("parameters", {})
    components: dict[str, Any] = {
        "schemas": {name: _schema(schema) for name, schema in document.get("definitions", {}).items()},
        "parameters": {
            name: _parameter(p) for name, p in shared.items() if p.get("in") not in ("body", "formData")
        },
        "requestBodies": {
            name: _request_body(p, [], consumes) for name, p in shared.items() if p.get("in") == "body"
        },
        "responses": {name: _response(r, produces) for name, r in document.get("responses", {}).items()},
        "securitySchemes": {
            name: _security_scheme(s) for name, s in document.get("securityDefinitions", {}).items()
        },
    }

    def resolve(parameter: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = parameter.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/parameters/"):
            return shared.get(ref[len("#/parameters/") :], parameter)
        return parameter

    paths: dict[str, Any] = {}
    for path, item in document.get("paths", {}).items():
        common = list(item.get("parameters", []))
        out_item: dict[str, Any] = {
            key: value
            for key, value in item.items()
            if key.startswith("x-") or key in ("summary", "description")
        }
        out_common = [_parameter(p) for p in common if resolve(p).get("in") not in ("body", "formData")]
        if out_common:
            out_item["parameters"] = out_common
        for method, operation in item.items():
            if method not in _HTTP_METHODS:
                continue
            op_consumes = list(operation.get("consumes") or consumes)
            op_produces = list(operation.get("produces") or produces)
            own = list(operation.get("parameters", []))
            own_keys = {(resolve(p).get("in"), resolve(p).get("name")) for p in own}
            merged = own + [
                p for p in common if (resolve(p).get("in"), resolve(p).get("name")) not in own_keys
            ]
            body = next((p for p in merged if resolve(p).get("in") == "body"), None)
            form = [resolve(p) for p in merged if resolve(p).get("in") == "formData"]
            out_op: dict[str, Any] = {
                key: value
                for key, value in operation.items()
                if key
                in ("tags", "summary", "description", "externalDocs", "operationId", "deprecated", "security")
                or key.startswith("x-")
            }
            parameters = [_parameter(p) for p in own if resolve(p).get("in") not in ("body", "formData")]
            if parameters:
                out_op["parameters"] = parameters
            if body is not None and "$ref" in body:
                out_op["requestBody"] = {"$ref": "#/components/requestBodies/" + body["$ref"].split("/")[-1]}
            else:
                request_body = _request_body(body, form, op_consumes)
                if request_body is not None:
                    out_op["requestBody"] = request_body
            out_op["responses"] = {
                str(code): _response(response, op_produces)
                for code, response in operation.get("responses", {}).items()
            }
            out_item[method] = out_op
        paths[path] = out_item

    converted: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": dict(document.get("info", {"title": "converted", "version": "0"})),
        "servers": servers,
        "paths": paths,
        "components": {section: items for section, items in components.items() if items},
    }
    for key in ("tags", "externalDocs", "security"):
        if key in document:
            converted[key] = document[key]
    converted.update({key: value for key, value in document.items() if key.startswith("x-")})
    return converted
