"""One OpenAPI validator for every emulated API (GitHub's OpenAPI 3, Argo CD's Swagger 2), cached.

Each emulated API is a *document* registered under a short name (``"github"``, ``"argocd"``) with
the conventions of its vendor: the server URL the document describes, the statuses the vendor
really answers for operations whose description does not list them, and its standard error body.
:func:`load_validator` builds one openapi-core object per document, once per process.

GitHub (registered here): two description files ship in ``sandbox/contracts/``:
``openapi-subset.json`` (a copy of the project contract ``../shared/contracts/github/openapi-subset.json``,
16 operations) and ``openapi-extra.json`` (the few further operations the emulator implements, cut
from GitHub's complete description by :func:`cut_operations`). They are merged into one document.

Other APIs register their document with :func:`register_document`, e.g. the Argo CD sandbox
(``sandbox/argocd/contract.py``)::

    register_document("argocd", load_argocd_swagger, server_url="https://argocd.example.com",
                      vendor="Argo CD", error_body=runtime_error_problem)

The loader returns an OpenAPI 3 document or a Swagger 2.0 one; a Swagger 2.0 document is turned
into OpenAPI 3.0 by :func:`swagger2_to_openapi3` (``sandbox/swagger2.py``) before openapi-core
sees it. Registering again under the same name replaces the loader and drops the cached validator.

openapi-core is optional at runtime: the package ships without it. :func:`load_validator`
returns None (and :data:`UNAVAILABLE_NOTE` explains why) when it cannot be imported.

``python -m gitops_release.sandbox.openapi FULL.json OUT.json`` regenerates GitHub's extra file.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_release.sandbox.swagger2 import swagger2_to_openapi3

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
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "get"),
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "patch"),
    ("/repos/{owner}/{repo}/deployments/{deployment_id}", "get"),
    ("/repos/{owner}/{repo}/branches", "get"),
    ("/repos/{owner}/{repo}/branches/{branch}", "get"),
    ("/user", "get"),
    ("/app", "get"),
)

UNAVAILABLE_NOTE = (
    "openapi-core is not installed: the sandbox runs without OpenAPI validation "
    "(pip install 'gitops-release[dev]' to enable it)"
)

_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(frozen=True)
class Undeclared:
    """A status a vendor really answers although an operation's description does not list it."""

    reason: str
    #: Only for operations that take one of these ("body", "query"); empty = every operation.
    only_with: tuple[str, ...] = ()


#: Statuses GitHub really answers for operations whose description does not list them. A response
#: with an undeclared status is a violation unless its status is here, the condition holds, and (for
#: 4xx) the body is GitHub's standard error body: an object with a string ``message`` and only
#: ``documentation_url``, ``errors`` (a list), ``url``, ``status`` besides. 5xx bodies may be anything
#: (GitHub's edge answers HTML or nothing during an incident).
UNDECLARED_ALLOWED: dict[int, Undeclared] = {
    400: Undeclared("Problems parsing JSON: operations that take a request body", ("body",)),
    401: Undeclared("Bad credentials / Requires authentication: every operation"),
    403: Undeclared("a missing permission or a rate limit: every operation"),
    404: Undeclared(
        "Not Found: a repository or object that is missing or hidden from the token: every operation"
    ),
    422: Undeclared(
        "Invalid request / Validation Failed: operations that take a request body or query parameters",
        ("body", "query"),
    ),
    429: Undeclared("a rate limit: every operation"),
    500: Undeclared("GitHub failing: every operation"),
    502: Undeclared("GitHub failing: every operation"),
    503: Undeclared("GitHub failing: every operation"),
    504: Undeclared("GitHub failing: every operation"),
}
_ERROR_BODY_KEYS = frozenset({"message", "documentation_url", "errors", "url", "status"})


# -- cutting operations out of the complete description ------------------------------------------


def refs_in(node: Any, found: set[str]) -> None:
    """Add every ``$ref`` string under ``node`` to ``found``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            refs_in(value, found)
    elif isinstance(node, list):
        for value in node:
            refs_in(value, found)


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
    refs_in(paths, pending)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, section, name = ref.split("/", 3)
        node = _lookup(full, ref)
        components.setdefault(section, {})[name] = node
        refs_in(node, pending)
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


def fix_known_errors(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the errors of the vendored 2022 description that GitHub has since fixed.

    Create a deployment status: ``environment`` was described as one of production, staging,
    qa; GitHub accepts any environment name there (``preview/pr-12``), and later descriptions
    dropped the enum."""
    operation = document["paths"].get("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", {})
    post = operation.get("post")
    if post is not None:
        schema = post["requestBody"]["content"]["application/json"]["schema"]
        environment = schema.get("properties", {}).get("environment")
        if isinstance(environment, dict):
            environment.pop("enum", None)
    return document


def load_document() -> dict[str, Any]:
    subset = json.loads(SUBSET_FILE.read_text(encoding="utf-8"))
    extra = json.loads(EXTRA_FILE.read_text(encoding="utf-8"))
    return fix_known_errors(merge_documents(subset, extra))


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


def github_error_body_problem(body: object) -> str:
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


_error_body_problem = github_error_body_problem  # the name earlier code imported


@dataclass(frozen=True)
class Conventions:
    """What a vendor does beyond its description: the server URL the document describes (requests
    are matched against it), the undeclared statuses it really answers, and its error body check
    for those ('' = fine, else what is wrong; None = any body)."""

    api: str
    vendor: str
    server_url: str
    undeclared_allowed: Mapping[int, Undeclared] = field(default_factory=dict)
    error_body: Callable[[object], str] | None = None
    #: Where a reader finds the allow-list, named in violation messages.
    allow_list_hint: str = "sandbox/openapi.py"


GITHUB = Conventions(
    api="github",
    vendor="GitHub",
    server_url=SPEC_SERVER,
    undeclared_allowed=UNDECLARED_ALLOWED,
    error_body=github_error_body_problem,
    allow_list_hint="sandbox/openapi.py UNDECLARED_ALLOWED",
)


class Validator:
    """Validates requests and responses against one API description (openapi-core).

    ``document`` is OpenAPI 3 or Swagger 2.0 (converted first); ``conventions`` says which vendor
    it describes (GitHub's by default)."""

    def __init__(self, document: Mapping[str, Any], conventions: Conventions = GITHUB) -> None:
        from openapi_core import OpenAPI

        if str(document.get("swagger", "")) == "2.0":
            document = swagger2_to_openapi3(document, server_url=conventions.server_url)
        else:
            document = {**document, "servers": [{"url": conventions.server_url}]}
        self.conventions = conventions
        self.document = document
        self._openapi = OpenAPI.from_dict(dict(document))
        self._schema_validators: dict[str, Any] = {}
        self._responses: dict[tuple[str, str], set[str]] = {}
        self._takes: dict[tuple[str, str], set[str]] = {}
        for path, item in document["paths"].items():
            shared = item.get("parameters", [])
            for method, operation in item.items():
                if method in _HTTP_METHODS:
                    key = (path, method)
                    self._responses[key] = set(operation.get("responses", {}))
                    takes = self._takes.setdefault(key, set())
                    if "requestBody" in operation:
                        takes.add("body")
                    for parameter in [*shared, *operation.get("parameters", [])]:
                        if "$ref" in parameter:
                            parameter = _lookup(document, parameter["$ref"])
                        if parameter.get("in") == "query":
                            takes.add("query")

    def declares(self, template: str, method: str, status: int) -> bool:
        codes = self._responses.get((template, method.lower()), set())
        return str(status) in codes or "default" in codes or f"{str(status)[0]}XX" in codes

    def undeclared_problems(
        self, template: str, method: str, path: str, status: int, body: object
    ) -> list[Problem]:
        """Problems with a response whose status the operation does not declare (see
        :attr:`Conventions.undeclared_allowed`)."""
        key = (template, method.lower())
        vendor = self.conventions.vendor
        rule = self.conventions.undeclared_allowed.get(status)
        allowed = rule is not None and (
            not rule.only_with or bool(self._takes.get(key, set()) & set(rule.only_with))
        )
        if not allowed:
            declared = ", ".join(sorted(self._responses.get(key, set()))) or "none"
            return [
                Problem(
                    "response",
                    method,
                    path,
                    f"status {status} is not declared for {method.upper()} {template} (declared: {declared}) "
                    f"and is not one {vendor} sends for every such operation "
                    f"({self.conventions.allow_list_hint})",
                )
            ]
        if status >= 500 or self.conventions.error_body is None:
            return []
        problem = self.conventions.error_body(body)
        if problem:
            return [
                Problem("response", method, path, f"{status} body is not {vendor}'s error body: {problem}")
            ]
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
            self.conventions.server_url,
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

    def schema_problems(self, schema: str, instance: object) -> list[str]:
        """Problems with ``instance`` as the component schema named ``schema`` (e.g. one message of a
        stream, which no single HTTP response holds): 'path: message' lines, [] when valid."""
        validator = self._schema_validators.get(schema)
        if validator is None:
            from openapi_schema_validator import OAS30Validator, oas30_format_checker

            if schema not in self.document.get("components", {}).get("schemas", {}):
                raise KeyError(f"no component schema {schema!r} in the {self.conventions.vendor} document")
            root = {"$ref": f"#/components/schemas/{schema}", "components": self.document["components"]}
            validator = OAS30Validator(root, format_checker=oas30_format_checker)
            self._schema_validators[schema] = validator
        return [
            f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
            for error in validator.iter_errors(instance)
        ][:20]


# -- the registry of documents -------------------------------------------------------------------


_LOCK = threading.Lock()
_CACHE: dict[str, Validator | None] = {}
_REGISTRY: dict[str, tuple[Callable[[], Mapping[str, Any]], Conventions]] = {
    "github": (load_document, GITHUB),
}


def register_document(
    api: str,
    loader: Callable[[], Mapping[str, Any]],
    *,
    server_url: str,
    vendor: str | None = None,
    undeclared_allowed: Mapping[int, Undeclared] | None = None,
    error_body: Callable[[object], str] | None = None,
    allow_list_hint: str = "sandbox/openapi.py",
) -> None:
    """Make ``load_validator(api)`` validate against the document ``loader`` returns (OpenAPI 3 or
    Swagger 2.0, called once, when the validator is first needed). Replaces an earlier registration
    of ``api`` and drops its cached validator."""
    conventions = Conventions(
        api=api,
        vendor=vendor or api,
        server_url=server_url,
        undeclared_allowed=dict(undeclared_allowed or {}),
        error_body=error_body,
        allow_list_hint=allow_list_hint,
    )
    with _LOCK:
        _REGISTRY[api] = (loader, conventions)
        _CACHE.pop(api, None)


def registered_apis() -> tuple[str, ...]:
    with _LOCK:
        return tuple(sorted(_REGISTRY))


def load_validator(api: str = "github") -> Validator | None:
    """The process-wide validator for ``api`` (built once: building takes a while, validating is
    fast), or None when openapi-core cannot be imported. KeyError for an API nobody registered."""
    try:
        import openapi_core  # noqa: F401  (checked every call: a test may hide it after a build)
    except ImportError:
        return None
    with _LOCK:
        if api not in _REGISTRY:
            raise KeyError(
                f"no OpenAPI document registered for {api!r} (registered: {', '.join(sorted(_REGISTRY))})"
            )
        if _CACHE.get(api) is None:
            loader, conventions = _REGISTRY[api]
            _CACHE[api] = Validator(loader(), conventions)
        return _CACHE[api]


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
