"""The Argo CD sandbox's application store: Application objects, label selectors, watch
subscriptions, and the application controller (controller.py) that reconciles them against bare git
repositories (render.py).

Objects are kept as Argo CD serves them (``metadata``, ``spec``, ``status``, top-level
``operation``). Every change bumps ``resource_version`` (also ``metadata.resourceVersion``) and is
sent to every subscriber as ("ADDED" | "MODIFIED" | "DELETED", application). One lock guards all
state; git and kustomize run outside it, in the controller thread.
"""

from __future__ import annotations

import copy
import os
import queue
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from gitops_release.adapters import kustomize
from gitops_release.core.policy import StrictSafeLoader
from gitops_release.core.yaml_limits import AliasLimitError
from gitops_release.sandbox.argocd import render
from gitops_release.sandbox.argocd.controller import (
    Controller,
    Fault,
    Record,
    Timing,
    as_dict,
    iso,
    target_sources,
)

__all__ = ["ApplicationStore", "Fault", "StoreError", "Subscription", "Timing", "parse_selector"]

DEFAULT_NAMESPACE = "argocd"
_LABEL_KEY = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


class StoreError(Exception):
    """An API error as Argo CD returns it: gRPC ``code``, HTTP ``status`` and the ``message``."""

    def __init__(self, code: int, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


def _not_found(name: str) -> StoreError:
    return StoreError(5, 404, f'applications.argoproj.io "{name}" not found')


class Subscription:
    """One watcher's queue of (event type, application). The application is shared between
    subscribers: read it, do not change it."""

    def __init__(self, store: ApplicationStore) -> None:
        self._store = store
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.closed = False

    def _put(self, event: tuple[str, dict[str, Any]]) -> None:
        if not self.closed:
            self._queue.put(event)

    def next(self, timeout: float) -> tuple[str, dict[str, Any]] | None:
        """The next event, or None when none came within ``timeout`` seconds (or closed)."""
        if self.closed:
            return None
        try:
            return self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def close(self) -> None:
        self.closed = True
        self._store._unsubscribe(self)


# -- label selectors (Kubernetes syntax) ----------------------------------------------------------

Requirement = tuple[str, str, frozenset[str]]  # key, operator (=, !=, in, notin, exists, !exists), values


def _split_top(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _bad_selector(selector: str, why: str) -> StoreError:
    return StoreError(3, 400, f"error parsing selector {selector!r}: {why}")


def parse_selector(selector: str) -> list[Requirement]:
    """``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a,b)``; a comma is
    AND. StoreError 400 on anything else."""
    requirements: list[Requirement] = []
    if not selector.strip():
        return requirements
    for raw in _split_top(selector):
        part = raw.strip()
        match = re.fullmatch(r"(\S+?)\s+(in|notin)\s*\(([^()]*)\)", part)
        if match:
            key, op = match.group(1), match.group(2)
            values = frozenset(v.strip() for v in match.group(3).split(",") if v.strip())
        elif part.startswith("!"):
            key, op, values = part[1:].strip(), "!exists", frozenset()
        elif "!=" in part:
            key, _, value = part.partition("!=")
            op, values = "!=", frozenset({value.strip()})
        elif "=" in part:
            key, _, value = part.partition("==") if "==" in part else part.partition("=")
            op, values = "=", frozenset({value.strip()})
        else:
            key, op, values = part, "exists", frozenset()
        key = key.strip()
        if not _LABEL_KEY.match(key) or not all(_LABEL_VALUE.match(v) for v in values):
            raise _bad_selector(selector, f"invalid requirement {part!r}")
        requirements.append((key, op, values))
    return requirements


def selector_matches(requirements: Sequence[Requirement], labels: Mapping[str, Any]) -> bool:
    for key, op, values in requirements:
        present = key in labels
        value = str(labels.get(key, ""))
        ok = {
            "=": present and value in values,
            "in": present and value in values,
            "!=": not present or value not in values,
            "notin": not present or value not in values,
            "exists": present,
            "!exists": not present,
        }[op]
        if not ok:
            return False
    return True


# -- the store -------------------------------------------------------------------------------------


def _load(app: Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(app, str):
        if len(app) > 8 * 1024 * 1024:
            raise StoreError(3, 400, "application manifest is larger than 8 MiB")
        try:
            # The policy's loader: aliases are bounded before any object is built (an alias bomb
            # of a few hundred bytes would otherwise expand to gigabytes), merge keys and
            # duplicate keys are refused.
            loaded = yaml.load(app, Loader=StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass
        except (yaml.YAMLError, AliasLimitError, RecursionError) as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise StoreError(3, 400, f"application is not valid YAML: {problem}") from None
    else:
        loaded = copy.deepcopy(dict(app))
    if not isinstance(loaded, dict):
        raise StoreError(3, 400, "application must be a mapping")
    return loaded


class ApplicationStore(Controller):
    """Applications served by the Argo CD sandbox; the controller part lives in controller.py."""

    def __init__(
        self, *, timing: Timing = Timing(), kubectl: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        found = Path(kubectl) if kubectl else kustomize.find_kubectl(os.environ)
        super().__init__(timing=timing, kubectl=found, clock=clock)
        self._subscribers: list[Subscription] = []
        self.resource_version = 0

    # -- repositories ----------------------------------------------------------------------------

    def register_repo(self, repo_url: str, git_dir: Path) -> None:
        """``spec.source.repoURL`` ``repo_url`` is the bare repository at ``git_dir``."""
        with self._lock:
            self._repos[_repo_key(repo_url)] = Path(git_dir)

    # -- objects ---------------------------------------------------------------------------------

    def add_application(
        self, app: Mapping[str, Any] | str, *, static: bool = False, deployed: bool = False
    ) -> str:
        """Add a real Application (a dict or YAML text); returns "namespace/name". ``static`` serves
        it exactly as given and never reconciles it (the corpus objects). ``deployed`` starts a
        reconciled app as if its current target had been synced before (Synced + Healthy at the
        first refresh, no operation, no history). StoreError 400 without a name, 409 when it exists."""
        obj = _load(app)
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
            raise StoreError(3, 400, "application metadata.name is required")
        namespace = meta.get("namespace") or DEFAULT_NAMESPACE
        key = f"{namespace}/{meta['name']}"
        with self._lock:
            if key in self._records:
                raise StoreError(6, 409, f'applications.argoproj.io "{meta["name"]}" already exists')
            if not static:
                meta["namespace"] = namespace
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", iso(self._clock()))
                meta.setdefault("generation", 1)
                obj.setdefault("apiVersion", "argoproj.io/v1alpha1")
                obj.setdefault("kind", "Application")
                if not isinstance(obj.get("spec"), dict):
                    raise StoreError(3, 400, "application spec is required")
                if not isinstance(obj.get("status"), dict):
                    obj["status"] = {}
            record = Record(key=key, obj=obj, static=static, deployed=deployed)
            self._records[key] = record
            if not static:
                self._request_refresh(record, hard=False)
            self._emit("ADDED", record)
        self._wake.set()
        return key

    def _find(self, name: str, app_namespace: str | None) -> Record:
        record = self._records.get(f"{app_namespace or DEFAULT_NAMESPACE}/{name}")
        if record is None:
            raise _not_found(name)
        return record

    def get(self, name: str, app_namespace: str | None = None) -> dict[str, Any]:
        """A deep copy of the application; StoreError 404 as Argo CD words it."""
        with self._lock:
            return copy.deepcopy(self._find(name, app_namespace).obj)

    def list(
        self, *, selector: str | None = None, app_namespace: str | None = None, projects: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Applications in every namespace (or ``app_namespace``), matching the label selector and
        one of ``projects`` (all when empty), sorted by namespace and name."""
        requirements = parse_selector(selector or "")
        with self._lock:
            found = []
            for key in sorted(self._records):
                obj = self._records[key].obj
                meta = obj.get("metadata") or {}
                if app_namespace and key.split("/", 1)[0] != app_namespace:
                    continue
                spec = as_dict(obj.get("spec"))
                if projects and (spec.get("project") or "default") not in projects:
                    continue
                labels = as_dict(meta.get("labels"))
                if selector_matches(requirements, labels):
                    found.append(copy.deepcopy(obj))
            return found

    def delete(self, name: str, app_namespace: str | None = None) -> None:
        """Remove the application; subscribers get DELETED."""
        with self._lock:
            record = self._find(name, app_namespace)
            del self._records[record.key]
            record.deleted = True
            self._emit("DELETED", record)
            self._lock.notify_all()

    def set_fault(self, name: str, fault: Fault | None, app_namespace: str | None = None) -> None:
        """Inject ``fault`` into the app (None clears it); it acts from the next controller step."""
        with self._lock:
            record = self._find(name, app_namespace)
            record.fault = fault
            record.fault_at = self._clock()
            if fault is not None and fault.kind == "comparison-error":
                self._request_refresh(record, hard=False)
        self._wake.set()

    # -- API operations --------------------------------------------------------------------------

    def refresh(
        self,
        name: str,
        app_namespace: str | None = None,
        *,
        hard: bool = False,
        wait: float | None = 5.0,
        cancelled: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Ask for a refresh (annotation ``argocd.argoproj.io/refresh`` as Argo CD's API sets it) and
        return the app once the controller processed it, or as it is after ``wait`` seconds (None:
        no bound). When ``cancelled()`` (polled) turns true first: StoreError 500 (code Unknown)
        ``application refresh deadline exceeded``, Argo CD's answer when the request ends first."""
        deadline = None if wait is None else time.monotonic() + max(wait, 0.0)
        with self._lock:
            record = self._find(name, app_namespace)
            if record.static:
                return copy.deepcopy(record.obj)
            generation = self._request_refresh(record, hard=hard, annotate=True)
            self._emit("MODIFIED", record)
            self._wake.set()
            while record.refreshed < generation and not record.deleted:
                if cancelled is not None and cancelled():
                    raise StoreError(2, 500, "application refresh deadline exceeded")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                if cancelled is not None:
                    left = 0.05 if left is None else min(left, 0.05)  # polled: no one notifies it
                self._lock.wait(left)
            if record.deleted:
                raise _not_found(name)
            return copy.deepcopy(record.obj)

    def sync(
        self, name: str, app_namespace: str | None, request: Mapping[str, Any], *, username: str = "admin"
    ) -> dict[str, Any]:
        """Start a sync as POST /api/v1/applications/{name}/sync does: the requested revision
        (default: the source's targetRevision) is resolved to a sha and set as the top-level
        ``operation``; the controller runs it. StoreError 400 (FailedPrecondition) while another
        operation is in progress or for another revision on an auto-synced app."""
        with self._lock:
            record = self._find(name, app_namespace)
            spec = copy.deepcopy(record.obj.get("spec") or {})
            repos = dict(self._repos)
        sources, multi = target_sources(spec)
        # Argo CD's SyncPolicy.IsAutomatedSyncEnabled: `automated` present and `enabled` not false.
        policy = (spec.get("syncPolicy") or {}).get("automated")
        automated = isinstance(policy, dict) and policy.get("enabled") is not False
        dry_run = bool(request.get("dryRun"))
        wanted: list[str | None] = [None] * len(sources)
        if multi:
            positions = request.get("sourcePositions") or []
            for index, position in enumerate(positions):
                if not isinstance(position, (int, str)) or not str(position).lstrip("-").isdigit():
                    raise StoreError(3, 400, "source position is out of range")
                pos = int(position)
                if pos <= 0 or pos > len(sources):
                    raise StoreError(3, 400, "source position is out of range")
                revisions = request.get("revisions") or []
                wanted[pos - 1] = str(revisions[index]) if index < len(revisions) else None
        elif request.get("revision"):
            wanted[0] = str(request["revision"])
        resolved: list[str] = []
        for index, source in enumerate(sources):
            target = source.get("targetRevision") or "HEAD"
            desired = wanted[index] or target
            if wanted[index] and wanted[index] != target and automated and not dry_run:
                if multi:
                    message = (
                        f"Cannot sync source {source.get('repoURL', '')} to {wanted[index]}: "
                        f"auto-sync currently set to {source.get('targetRevision', '')}"
                    )
                else:
                    current = source.get("targetRevision", "")
                    message = f"Cannot sync to {wanted[index]}: auto-sync currently set to {current}"
                raise StoreError(9, 400, message)
            resolved.append(self._resolve_for_sync(repos, source, desired))
        with self._lock:
            record = self._find(name, app_namespace)
            if record.obj.get("operation") is not None:
                raise StoreError(9, 400, "another operation is already in progress")
            sync_op: dict[str, Any] = {}
            if multi:
                sync_op["revisions"] = resolved
                sync_op["sources"] = copy.deepcopy(spec.get("sources"))
            else:
                sync_op["revision"] = resolved[0]
                sync_op["source"] = copy.deepcopy(spec.get("source"))
            if request.get("prune"):
                sync_op["prune"] = True
            if dry_run:
                sync_op["dryRun"] = True
            policy = as_dict(spec.get("syncPolicy"))
            options = request.get("syncOptions")
            items = options.get("items") if isinstance(options, dict) else policy.get("syncOptions")
            if items:
                sync_op["syncOptions"] = list(items)
            if isinstance(request.get("strategy"), dict):
                sync_op["syncStrategy"] = copy.deepcopy(request["strategy"])
            if request.get("resources"):
                sync_op["resources"] = copy.deepcopy(request["resources"])
            operation: dict[str, Any] = {"sync": sync_op, "initiatedBy": {"username": username}}
            retry = request.get("retryStrategy") or policy.get("retry")
            if isinstance(retry, dict):
                operation["retry"] = copy.deepcopy(retry)
            if request.get("infos"):
                operation["info"] = copy.deepcopy(request["infos"])
            record.obj["operation"] = operation
            self._emit("MODIFIED", record)
            result = copy.deepcopy(record.obj)
        self._wake.set()
        return result

    def _resolve_for_sync(self, repos: Mapping[str, Path], source: Mapping[str, Any], revision: str) -> str:
        if source.get("chart"):
            return revision
        git_dir = repos.get(_repo_key(str(source.get("repoURL") or "")))
        if git_dir is None:
            return revision  # the controller reports the unknown repository on the operation
        try:
            return render.resolve(git_dir, revision)
        except render.RenderError as exc:
            raise StoreError(9, 400, str(exc)) from None

    def notify_push(self, repo_url: str | None = None) -> None:
        """A git webhook: refresh every app with a source in ``repo_url`` (all apps when None)."""
        wanted = _repo_key(repo_url) if repo_url else None
        with self._lock:
            for record in self._records.values():
                if record.static:
                    continue
                sources, _ = target_sources(record.obj.get("spec") or {})
                if wanted is None or any(_repo_key(str(s.get("repoURL") or "")) == wanted for s in sources):
                    self._request_refresh(record, hard=False)
        self._wake.set()

    # -- watch -----------------------------------------------------------------------------------

    def subscribe(self) -> Subscription:
        """A queue of every later change (the caller lists the current state itself)."""
        subscription = Subscription(self)
        with self._lock:
            self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)

    def _emit(self, kind: str, record: Record) -> None:
        """Bump the resource version and tell every subscriber (caller holds the lock)."""
        self.resource_version += 1
        meta = record.obj.get("metadata")
        if isinstance(meta, dict) and not record.static:
            meta["resourceVersion"] = str(self.resource_version)
        snapshot = copy.deepcopy(record.obj)
        for subscription in list(self._subscribers):
            subscription._put((kind, snapshot))

    def names(self) -> Iterable[str]:
        with self._lock:
            return list(self._records)


def _repo_key(url: str) -> str:
    """repoURL as Argo CD normalises it for matching: no trailing slash or .git, host lower case."""
    text = url.strip().rstrip("/")
    if text.endswith(".git"):
        text = text[:-4]
    scheme, sep, rest = text.partition("://")
    if sep:
        host, slash, path = rest.partition("/")
        return f"{scheme.lower()}://{host.lower()}{slash}{path}"
    return text
