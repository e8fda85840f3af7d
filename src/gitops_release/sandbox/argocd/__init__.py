"""The Argo CD API emulator: one module per emulated area.

``applications`` (+ ``controller``, ``render``): the application store and its reconcile / sync /
health simulation; ``server``: HTTP, routing, fault injection, request record; ``operations``:
Get / List / Sync / ResourceTree / ManagedResources / Session answered as Argo CD does; ``stream``:
the watch (NDJSON and server-sent events); ``session``: sessions, tokens, RBAC words;
``contract``: the Swagger description every response is checked against.
"""

from __future__ import annotations

from gitops_release.sandbox.argocd.applications import ApplicationStore, Fault, StoreError, Timing
from gitops_release.sandbox.argocd.server import DEFAULT_TOKEN, ArgoCDSandbox, RecordedRequest

__all__ = [
    "DEFAULT_TOKEN",
    "ApplicationStore",
    "ArgoCDSandbox",
    "Fault",
    "RecordedRequest",
    "StoreError",
    "Timing",
]
