"""OpenAPI validation for the GitHub sandbox: GitHub's own API description, cached once per process.

Two description files ship in ``sandbox/contracts/``: ``openapi-subset.json`` (a copy of the
project contract ``../shared/contracts/github/openapi-subset.json``, 16 operations) and
``openapi-extra.json`` (the few further operations the emulator implements, cut from GitHub's
complete description by :func:`cut_operations`). They are merged into one document.

openapi-core is optional at runtime: the package ships without it. :func:`load_validator`
returns None (and :data:`UNAVAILABLE_NOTE` explains why) when it cannot be imported.

``python -m gitops_release.sandbox.openapi FULL.json OUT.json`` regenerates the extra file.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACTS = Path(__file__).parent / "contracts"
SUBSET_FILE = CONTRACTS / "openapi-subset.json"
EXTRA_FILE = CONTRACTS / "openapi-extra.json"
SPEC_SERVER = "https://api.github.com"

#: Operations the emulator implements beyond the subset (path, method), cut into EXTRA_FILE.
EXTRA_OPERATIONS: tuple[tuple[str, str], ...] = (
    ("/repos/{owner}/{repo}/pulls/{pull_number}", "get"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/merge", "put"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}", "patch"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", "get"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", "post"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/reviews", "get"),
    ("/repos/{owner}/{repo}/git/refs", "post"),
    ("/repos/{owner}/{repo}/git/refs/{ref}", "patch"),
    ("/repos/{owner}/{repo}/git/refs/{ref}", "delete"),
    ("/repos/{owner}/{repo}/git/matching-refs/{ref}", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/labels", "get"),
    ("/repos/{owner}/{repo}/deployments/{deployment_id}", "get"),
    ("/repos/{owner}/{repo}/branches", "get"),
    ("/repos/{owner}/{repo}/branches/{branch}", "get"),
)

UNAVAILABLE_NOTE = (
    "openapi-core is not installed: the sandbox runs without OpenAPI validation "
    "(pip install 'gitops-release[dev]' to enable it)"
)

_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

#: Statuses GitHub really answers for operations whose description does not list them. A response
#: with an undeclared status is a violation unless its status is here, the condition holds, and (for
#: 4xx) the body is GitHub's standard error body: an object with a string ``message`` and only
#: ``documentation_url``, ``errors`` (a list), ``url``, ``status`` besides. 5xx bodies may be anything
#: (GitHub's edge answers HTML or nothing during an incident).
UNDECLARED_ALLOWED: dict[int, str] = {
    400: "Problems parsing JSON: operations that take a request body",
    401: "Bad credentials / Requires authentication: every operation",
    403: "a missing permission or a rate limit: every operation",
    404: "Not Found: a repository or object that is missing or hidden from the token: every operation",
    422: "Invalid request / Validation Failed: operations that take a request body or query parameters",
    429: "a rate limit: every operation",
    500: "GitHub failing: every operation",
    502: "GitHub failing: every operation",
    503: "GitHub failing: every operation",
    504: "GitHub failing: every operation",
}
_ERROR_BODY_KEYS = frozenset({"message", "documentation_url", "errors", "url", "status"})


# -- cutting operations out of the complete description ------------------------------------------


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _lookup(document: Mapping[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def cut_operations(full: Mapping[str, Any], operations: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A self-contained OpenAPI document with only ``operations`` and every component they reference."""
    paths: dict[str, Any] = {}
    for path, method in operations:
        item = full["paths"][path]
        target = paths.setdefault(path, {k: v for k, v in item.items() if k not in _HTTP_METHODS})
        target[method] = item[method]
    components: dict[str, dict[str, Any]] = {}
    pending: set[str] = set()
    _refs(paths, pending)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, section, name = ref.split("/", 3)
        node = _lookup(full, ref)
        components.setdefault(section, {})[name] = node
        _refs(node, pending)
    return {
        "openapi": full["openapi"],
        "info": full["info"],
        "servers": full.get("servers", [{"url": SPEC_SERVER}]),
        "paths": paths,
        "components": {section: dict(sorted(items.items())) for section, items in sorted(components.items())},
    }


def merge_documents(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """``first`` with ``second``'s paths and components added (first wins on a clash)."""
    merged: dict[str, Any] = {**first, "paths": {}, "components": {}}
    for document in (second, first):
        for path, item in document["paths"].items():
            merged["paths"].setdefault(path, {}).update(item)
        for section, items in document.get("components", {}).items():
            merged["components"].setdefault(section, {}).update(items)
    return merged


def load_document() -> dict[str, Any]:
    subset = json.loads(SUBSET_FILE.read_text(encoding="utf-8"))
    extra = json.loads(EXTRA_FILE.read_text(encoding="utf-8"))
    return merge_documents(subset, extra)


# -- validation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One validation failure: where (request/response), which operation, and why."""

    where: str
    method: str
    path: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where} {self.method.upper()} {self.path}: {self.detail}"


def _describe(exc: BaseException) -> str:
    """A one-line explanation of an openapi-core error, with the JSON Schema reasons."""
    first = " ".join(str(exc).split())
    parts = [f"{type(exc).__name__}: {first.split(': (<ValidationError')[0][:300]}"]
    cause: BaseException | None = exc.__cause__ or exc.__context__
    seen = 0
    while cause is not None and seen < 4:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            for error in list(schema_errors)[:5]:
                location = "/".join(str(p) for p in getattr(error, "absolute_path", ()))
                message = getattr(error, "message", str(error))
                parts.append(f"{location or '(body)'}: {message}")
            break
        parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return " | ".join(" ".join(p.split()) for p in parts)[:2000]


class Validator:
    """Validates requests and responses against the merged GitHub description (openapi-core)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        from openapi_core import OpenAPI

        self.document = document
        self._openapi = OpenAPI.from_dict(dict(document))
        self._responses: dict[tuple[str, str], set[str]] = {}
        self._takes_body: set[tuple[str, str]] = set()
        self._takes_query: set[tuple[str, str]] = set()
        for path, item in document["paths"].items():
            shared = item.get("parameters", [])
            for method, operation in item.items():
                if method in _HTTP_METHODS:
                    self._responses[(path, method)] = set(operation.get("responses", {}))
                    if "requestBody" in operation:
                        self._takes_body.add((path, method))
                    for parameter in [*shared, *operation.get("parameters", [])]:
                        if "$ref" in parameter:
                            parameter = _lookup(document, parameter["$ref"])
                        if parameter.get("in") == "query":
                            self._takes_query.add((path, method))

    def declares(self, template: str, method: str, status: int) -> bool:
        codes = self._responses.get((template, method.lower()), set())
        return str(status) in codes or "default" in codes or f"{str(status)[0]}XX" in codes

    def undeclared_problems(
        self, template: str, method: str, path: str, status: int, body: object
    ) -> list[Problem]:
        """Problems with a response whose status the operation does not declare (see UNDECLARED_ALLOWED)."""
        key = (template, method.lower())
        allowed = status in UNDECLARED_ALLOWED
        if status == 400:
            allowed = key in self._takes_body
        elif status == 422:
            allowed = key in self._takes_body or key in self._takes_query
        if not allowed:
            declared = ", ".join(sorted(self._responses.get(key, set()))) or "none"
            return [
                Problem(
                    "response",
                    method,
                    path,
                    f"status {status} is not declared for {method.upper()} {template} (declared: {declared}) "
                    "and is not one GitHub sends for every such operation (sandbox/openapi.py "
                    "UNDECLARED_ALLOWED)",
                )
            ]
        if status >= 500:
            return []
        problem = _error_body_problem(body)
        if problem:
            return [Problem("response", method, path, f"{status} body is not GitHub's error body: {problem}")]
        return []

    def _request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | None,
        template: str | None,
        path_params: Mapping[str, str] | None,
    ) -> Any:
        from openapi_core.testing import MockRequest

        content_type = headers.get("content-type") or headers.get("Content-Type") or "application/json"
        return MockRequest(
            SPEC_SERVER,
            method.lower(),
            path,
            path_pattern=template,
            view_args=dict(path_params or {}),
            args=dict(query),
            headers=dict(headers),
            data=body or None,
            content_type=content_type.split(";")[0].strip().lower() or "application/json",
        )

    def validate_request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | None,
        *,
        template: str | None = None,
        path_params: Mapping[str, str] | None = None,
    ) -> list[Problem]:
        """Problems with a request; ``template`` (+ ``path_params``) names the operation when a
        parameter holds a slash (git refs), which path matching alone cannot see."""
        request = self._request(method, path, query, headers, body, template, path_params)
        return [
            Problem("request", method, path, _describe(exc))
            for exc in self._openapi.iter_request_errors(request)
        ]

    def validate_response(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes | None,
        status: int,
        response_body: bytes,
        response_headers: Mapping[str, str],
        *,
        template: str | None = None,
        path_params: Mapping[str, str] | None = None,
    ) -> list[Problem]:
        from openapi_core.testing import MockResponse

        request = self._request(method, path, query, headers, body, template, path_params)
        response = MockResponse(
            response_body,
            status_code=status,
            headers=dict(response_headers),
            content_type="application/json" if response_body else "",
        )
        return [
            Problem("response", method, path, _describe(exc))
            for exc in self._openapi.iter_response_errors(request, response)
        ]


def _error_body_problem(body: object) -> str:
    """'' when ``body`` is GitHub's standard error body, else what is wrong with it."""
    if not isinstance(body, Mapping):
        return f"expected a JSON object, got {type(body).__name__}"
    if not isinstance(body.get("message"), str):
        return "no string 'message'"
    unknown = sorted(set(body) - _ERROR_BODY_KEYS)
    if unknown:
        return f"unexpected keys {unknown}"
    if "documentation_url" in body and not isinstance(body["documentation_url"], str):
        return "'documentation_url' is not a string"
    if "errors" in body and not isinstance(body["errors"], list):
        return "'errors' is not a list"
    return ""


_LOCK = threading.Lock()
_CACHE: dict[str, Validator | None] = {}


def load_validator() -> Validator | None:
    """The process-wide validator (built once: building takes a while, validating is fast), or None."""
    with _LOCK:
        if "validator" not in _CACHE:
            try:
                import openapi_core  # noqa: F401
            except ImportError:
                _CACHE["validator"] = None
            else:
                _CACHE["validator"] = Validator(load_document())
        return _CACHE["validator"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m gitops_release.sandbox.openapi FULL_DESCRIPTION.json OUT.json", file=sys.stderr
        )
        return 2
    full = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    document = cut_operations(full, EXTRA_OPERATIONS)
    Path(args[1]).write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
