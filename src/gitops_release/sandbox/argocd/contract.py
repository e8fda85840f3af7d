"""The Argo CD API description the emulator is checked against (Swagger 2.0, Argo CD v3.5.1).

Two files ship in ``sandbox/contracts/``: ``argocd-swagger-subset.json`` (a copy of the project
contract ``../shared/contracts/argocd/swagger-subset.json``: Get, Sync, Watch, ResourceTree,
ManagedResources, WatchResourceTree, Session Create) and ``argocd-extra.json`` (the operations the
emulator serves beyond it, cut from Argo CD's complete ``assets/swagger.json`` by
:func:`cut_operations`). They are merged into one document and registered with the shared
validator (``sandbox/openapi.py``) as ``"argocd"``.

Argo CD's Swagger (generated from Go types by grpc-gateway) has no ``enum`` and no ``required``, so
it would accept ``sync.status: "Synched"`` or an ``operationState`` without ``phase``: exactly the
words the readiness rules in ``core/`` depend on. :data:`STRICTNESS` is a small overlay merged into
the definitions at load (:func:`apply_strictness`): the enums of Argo CD's Go constants, ``required``
for the Go fields without ``omitempty`` (encoding/json always writes them), and closed objects where
the Swagger properties are exactly the Go struct's fields (an unknown key is a misspelling).

``python -m gitops_release.sandbox.argocd.contract FULL_SWAGGER.json OUT.json`` regenerates the
extra file.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gitops_release.sandbox import openapi

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
SUBSET_FILE = CONTRACTS / "argocd-swagger-subset.json"
EXTRA_FILE = CONTRACTS / "argocd-extra.json"
API = "argocd"
#: The server the document describes (Argo CD's swagger names none; requests are matched to it).
SERVER_URL = "https://argocd.sandbox.invalid"

#: Operations the emulator serves beyond the subset (path, method), cut into EXTRA_FILE.
EXTRA_OPERATIONS: tuple[tuple[str, str], ...] = (("/api/v1/applications", "get"),)

#: Schemas of things no single HTTP response holds whole: one watch message's ``result``.
WATCH_EVENT_SCHEMA = "v1alpha1ApplicationWatchEvent"
STREAM_ERROR_SCHEMA = "runtimeStreamError"

_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# Argo CD v3.5.1's Go constants (pkg/apis/application/v1alpha1/types.go, gitops-engine/pkg/health,
# gitops-engine/pkg/sync/common, k8s.io/apimachinery/pkg/watch).
#: SyncStatusCode, plus "" (the Go zero value): the API server marshals with encoding/json and
#: SyncStatus.status has no omitempty, so an app the controller has not compared yet says "".
SYNC_STATUS_CODES = ("Synced", "OutOfSync", "Unknown", "")
HEALTH_STATUS_CODES = ("Unknown", "Progressing", "Healthy", "Suspended", "Degraded", "Missing")
OPERATION_PHASES = ("Running", "Terminating", "Failed", "Error", "Succeeded")
RESULT_CODES = ("Synced", "SyncFailed", "Pruned", "PruneSkipped")
WATCH_EVENT_TYPES = ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR")

#: Per definition: ``enum`` per property, ``required`` (Go fields without omitempty) and ``closed``
#: (additionalProperties: false; only where the Swagger properties are the Go struct's fields).
#: OperationState.operation and RevisionHistory.id have no omitempty either, but real Applications
#: in the corpus (Argo CD's own test objects, gitops-backend's) leave them out and are served as-is,
#: so they are not required here.
STRICTNESS: dict[str, dict[str, Any]] = {
    "v1alpha1ApplicationWatchEvent": {
        "enum": {"type": WATCH_EVENT_TYPES},
        "required": ("type", "application"),
        "closed": True,
    },
    "v1alpha1ApplicationStatus": {"closed": True},
    "v1alpha1SyncStatus": {"enum": {"status": SYNC_STATUS_CODES}, "required": ("status",), "closed": True},
    "applicationv1alpha1ResourceStatus": {"enum": {"status": SYNC_STATUS_CODES}},
    "v1alpha1AppHealthStatus": {"enum": {"status": HEALTH_STATUS_CODES}, "closed": True},
    "v1alpha1HealthStatus": {"enum": {"status": HEALTH_STATUS_CODES}},
    "v1alpha1OperationState": {
        "enum": {"phase": OPERATION_PHASES},
        "required": ("phase", "startedAt"),
        "closed": True,
    },
    "v1alpha1RevisionHistory": {"required": ("deployedAt",), "closed": True},
    "v1alpha1ResourceResult": {"enum": {"status": RESULT_CODES, "hookPhase": OPERATION_PHASES}},
}


def cut_operations(full: Mapping[str, Any], operations: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A self-contained Swagger 2.0 document with only ``operations`` and every definition they
    reference (Swagger keeps schemas in ``definitions``, refs ``#/definitions/<name>``)."""
    paths: dict[str, Any] = {}
    for path, method in operations:
        item = full["paths"][path]
        target = paths.setdefault(path, {k: v for k, v in item.items() if k not in _HTTP_METHODS})
        target[method] = item[method]
    definitions: dict[str, Any] = {}
    pending: set[str] = set()
    openapi.refs_in(paths, pending)
    while pending:
        ref = pending.pop()
        name = ref.removeprefix("#/definitions/")
        if name in definitions:
            continue
        definitions[name] = full["definitions"][name]
        openapi.refs_in(definitions[name], pending)
    document = {key: full[key] for key in ("swagger", "info", "consumes", "produces") if key in full}
    return {**document, "paths": paths, "definitions": dict(sorted(definitions.items()))}


def merge_documents(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """``first`` with ``second``'s paths and definitions added (first wins on a clash)."""
    merged: dict[str, Any] = {**first, "paths": {}, "definitions": {}}
    for document in (second, first):
        for path, item in document["paths"].items():
            merged["paths"].setdefault(path, {}).update(item)
        merged["definitions"].update(document.get("definitions", {}))
    return merged


def apply_strictness(
    document: Mapping[str, Any], overlay: Mapping[str, Mapping[str, Any]] = STRICTNESS
) -> dict[str, Any]:
    """``document`` with ``overlay`` merged into its definitions (the input is not changed).
    KeyError when the overlay names a definition or property the document lacks: a renamed field
    must not silently drop a rule."""
    definitions = dict(document["definitions"])
    for name, rules in overlay.items():
        schema = copy.deepcopy(definitions[name])
        properties = schema.setdefault("properties", {})
        for prop, values in rules.get("enum", {}).items():
            properties[prop]["enum"] = list(values)
        for prop in rules.get("required", ()):
            if prop not in properties:
                raise KeyError(f"{name}.{prop}: required by the overlay, not in the document")
        if rules.get("required"):
            schema["required"] = sorted(set(schema.get("required", ())) | set(rules["required"]))
        if rules.get("closed"):
            schema["additionalProperties"] = False
        definitions[name] = schema
    return {**document, "definitions": definitions}


def load_document() -> dict[str, Any]:
    subset = json.loads(SUBSET_FILE.read_text(encoding="utf-8"))
    extra = json.loads(EXTRA_FILE.read_text(encoding="utf-8"))
    return apply_strictness(merge_documents(subset, extra))


def runtime_error_problem(body: object) -> str:
    """'' when ``body`` is grpc-gateway's error body (``runtimeError``), else what is wrong."""
    if not isinstance(body, Mapping):
        return f"expected a JSON object, got {type(body).__name__}"
    if not isinstance(body.get("message"), str) or not isinstance(body.get("code"), int):
        return "no string 'message' and integer 'code'"
    unknown = sorted(set(body) - {"error", "code", "message", "details"})
    return f"unexpected keys {unknown}" if unknown else ""


_LOCK = threading.Lock()
_REGISTERED: list[bool] = []


def load_validator() -> openapi.Validator | None:
    """The shared validator for the Argo CD document (None without openapi-core)."""
    with _LOCK:
        if not _REGISTERED:
            # Every operation declares a "default" (runtimeError) response, so no status is
            # undeclared; the error body check is there for the day one is.
            openapi.register_document(
                API,
                load_document,
                server_url=SERVER_URL,
                vendor="Argo CD",
                error_body=runtime_error_problem,
                allow_list_hint="sandbox/argocd/contract.py",
            )
            _REGISTERED.append(True)
    return openapi.load_validator(API)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(
            "usage: python -m gitops_release.sandbox.argocd.contract FULL_SWAGGER.json OUT.json",
            file=sys.stderr,
        )
        return 2
    full = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    document = cut_operations(full, EXTRA_OPERATIONS)
    Path(args[1]).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
