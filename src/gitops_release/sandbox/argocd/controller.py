"""The Argo CD sandbox's application controller: refresh (compare), auto-sync, the sync operation,
retries, health and the history, following Argo CD's controller (controller/appcontroller.go,
state.go, sync.go at v3.x):

* A refresh resolves each source's targetRevision to a commit and renders it; ``status.sync`` is
  what the app was last COMPARED at: a new commit makes it OutOfSync at the new sha until a sync
  applies it, and a commit that changes nothing of this app makes it Synced at the new sha with no
  operation and no history entry. A source that cannot be loaded: a ComparisonError condition
  ("Failed to load target state: …"), sync Unknown.
* Auto-sync (spec.syncPolicy.automated) starts an operation only when OutOfSync, none is in progress
  and the last operation did not already target the same revisions; when that one failed (or ended
  with no syncResult at all), it sets a SyncError condition "Failed last sync attempt to [...]:
  <message>" instead of retrying forever. With prune on and allowEmpty off it does not start a sync
  that would prune every resource ("Skipping sync attempt to [...]: auto-sync will wipe out all
  resources"). A SyncError that stays keeps its lastTransitionTime.
* An operation: top-level ``operation`` while requested/running, ``status.operationState`` Running
  (startedAt) then Succeeded / Failed / Error (finishedAt, syncResult); a successful non-dry-run full
  sync appends a history entry (ids from 0 up, kept to revisionHistoryLimit, default 10); a retry
  strategy keeps the phase Running with ``finishedAt`` set between attempts; completion requests a
  refresh, so ``reconciledAt`` ends at or after ``finishedAt``.
* Health: Missing while nothing is live, Progressing for ``progressing_duration`` after a sync that
  changed a workload, then Healthy (faults: Degraded, never Healthy).
"""

import copy
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gitops_release.sandbox.argocd import render
from gitops_release.sandbox.argocd.operation import Operations
from gitops_release.sandbox.argocd.state import (
    FAULT_KINDS,
    HEALTH_ORDER,
    Desired,
    Fault,
    Record,
    Timing,
    as_dict,
    iso,
    target_sources,
    worst,
)

__all__ = [
    "FAULT_KINDS",
    "HEALTH_ORDER",
    "Controller",
    "Desired",
    "Fault",
    "Record",
    "Timing",
    "as_dict",
    "iso",
    "target_sources",
]

_RENDER_CACHE_SIZE = 256


class Controller(Operations):
    """State and reconcile loop; ApplicationStore (applications.py) adds the API around it."""

    def __init__(self, *, timing: Timing, kubectl: Path | None, clock: Callable[[], float]) -> None:
        self._timing = timing
        self._kubectl = kubectl
        self._clock = clock
        self._lock = threading.Condition(threading.RLock())
        self._records: dict[str, Record] = {}
        self._repos: dict[str, Path] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._cache: OrderedDict[tuple[str, str, str], render.Rendered] = OrderedDict()

    # subclass hooks (applications.py)
    def _emit(self, kind: str, record: Record) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- thread ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Run the controller on a daemon thread (a step every reconcile_interval, or on a wake-up)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="argocd-sandbox-controller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            self._wake.set()
            thread.join(timeout=self._timing.render_timeout + 5)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.step()
            self._wake.wait(self._timing.reconcile_interval)
            self._wake.clear()

    # -- one pass --------------------------------------------------------------------------------

    def _request_refresh(self, record: Record, *, hard: bool, annotate: bool = False) -> int:
        """Caller holds the lock; returns the generation to wait for."""
        now = self._clock()
        delay = self._timing.refresh_delay
        if record.fault is not None and record.fault.kind == "slow-refresh":
            delay = max(delay, record.fault.duration or 0.0)
        record.requested += 1
        if record.refresh_at is None:
            record.refresh_at = now + delay
        record.refresh_hard = record.refresh_hard or hard
        if annotate:
            meta = record.obj.setdefault("metadata", {})
            meta.setdefault("annotations", {})["argocd.argoproj.io/refresh"] = "hard" if hard else "normal"
        return record.requested

    def step(self) -> None:
        """One controller pass at the clock's now: renders due (outside the lock), then every app's
        timers. Tests with a fake clock call this directly instead of start()."""
        jobs: list[tuple[Record, str, dict[str, Any], list[str] | None, bool]] = []
        with self._lock:
            now = self._clock()
            for record in self._records.values():
                if record.static or record.busy:
                    continue
                interval = self._timing.auto_refresh_interval
                if interval is not None:
                    if record.next_auto_refresh is None:
                        record.next_auto_refresh = now + interval
                    elif now >= record.next_auto_refresh:
                        record.next_auto_refresh = now + interval
                        self._request_refresh(record, hard=False)
                spec = copy.deepcopy(record.obj.get("spec") or {})
                operation = record.obj.get("operation")
                if isinstance(operation, dict) and record.op_started is not None and record.op_target is None:
                    sync_op = operation.get("sync") or {}
                    revisions = (
                        sync_op.get("revisions") if isinstance(sync_op.get("revisions"), list) else None
                    )
                    wanted = revisions if revisions else [str(sync_op.get("revision") or "")]
                    if record.desired is not None and tuple(wanted) == record.desired.revisions:
                        record.op_target = record.desired
                    else:
                        record.busy = True
                        jobs.append((record, "operation", spec, [str(w) for w in wanted], False))
                elif record.refresh_at is not None and now >= record.refresh_at:
                    record.busy = True
                    generation = record.requested
                    jobs.append((record, f"refresh:{generation}", spec, None, record.refresh_hard))
                    record.refresh_at = None
                    record.refresh_hard = False
            repos = dict(self._repos)
        results = [(job, self._desired(job[2], job[3], repos, hard=job[4])) for job in jobs]
        with self._lock:
            now = self._clock()
            for (record, purpose, _spec, _wanted, _hard), result in results:
                record.busy = False
                if record.deleted:
                    continue
                if purpose == "operation":
                    record.op_target = result
                else:
                    self._compare(record, result, now)
                    record.refreshed = max(record.refreshed, int(purpose.split(":")[1]))
                    self._emit("MODIFIED", record)
            for record in list(self._records.values()):
                if not record.static and not record.deleted and self._advance(record, now):
                    self._emit("MODIFIED", record)
            self._lock.notify_all()

    # -- rendering (no lock held) -----------------------------------------------------------------

    def _desired(
        self, spec: Mapping[str, Any], wanted: list[str] | None, repos: Mapping[str, Path], *, hard: bool
    ) -> Desired | str:
        """Resolve and render every source; the error text (Argo CD's words) when one fails."""
        from gitops_release.sandbox.argocd.applications import _repo_key

        sources, multi = target_sources(spec)
        destination = as_dict(spec.get("destination"))
        namespace = str(destination.get("namespace") or "")
        revisions: list[str] = []
        types: list[str] = []
        resources: dict[tuple[str, str, str, str], render.Resource] = {}
        for index, source in enumerate(sources):
            target = wanted[index] if wanted and index < len(wanted) and wanted[index] else None
            target = target or str(source.get("targetRevision") or "HEAD")
            prefix = (
                f"failed to generate manifest for source {index + 1} of {len(sources)}: "
                "rpc error: code = Unknown desc = "
            )
            if source.get("chart"):
                revisions.append(target)  # a Helm chart version: the sandbox does not render charts
                types.append("Helm")
                continue
            git_dir = repos.get(_repo_key(str(source.get("repoURL") or "")))
            if git_dir is None:
                return prefix + f"failed to list refs: repository not found: {source.get('repoURL', '')}"
            try:
                sha = render.resolve(git_dir, target)
                revisions.append(sha)
                if not multi or source.get("path") is not None:
                    rendered = self._render_cached(
                        git_dir, sha, str(source.get("path") or "."), namespace, hard
                    )
                    types.append(rendered.source_type)
                    for resource in rendered.resources:
                        resources[resource.key] = resource
                else:
                    types.append("")  # a ref-only source: its revision counts, it renders nothing
            except render.RenderError as exc:
                return prefix + str(exc)
            except Exception as exc:  # noqa: BLE001 - one app's surprise must not stop the controller thread
                return prefix + f"{type(exc).__name__}: {exc}"
        return Desired(tuple(revisions), tuple(types), tuple(resources.values()))

    def _render_cached(
        self, git_dir: Path, sha: str, path: str, namespace: str, hard: bool
    ) -> render.Rendered:
        key = (str(git_dir), sha, f"{path}\0{namespace}")
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and not hard:
            return cached
        rendered = render.render_source(
            git_dir,
            sha,
            path,
            kubectl=self._kubectl,
            timeout=self._timing.render_timeout,
            default_namespace=namespace,
        )
        with self._lock:
            self._cache[key] = rendered
            while len(self._cache) > _RENDER_CACHE_SIZE:
                self._cache.popitem(last=False)
        return rendered

    # -- compare (a refresh's result; lock held) --------------------------------------------------

    def _compare(self, record: Record, result: Desired | str, now: float) -> None:
        obj = record.obj
        status = obj.setdefault("status", {})
        spec = obj.get("spec") or {}
        _, multi = target_sources(spec)
        meta = obj.get("metadata") or {}
        (meta.get("annotations") or {}).pop("argocd.argoproj.io/refresh", None)
        if isinstance(meta.get("annotations"), dict) and not meta["annotations"]:
            del meta["annotations"]
        old_conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        sync_error = next((c for c in old_conditions if c.get("type") == "SyncError"), None)
        conditions = [c for c in old_conditions if c.get("type") not in ("ComparisonError", "SyncError")]
        if (
            isinstance(result, Desired)
            and record.fault is not None
            and record.fault.kind == "comparison-error"
        ):
            result = (
                record.fault.message or "rpc error: code = Unknown desc = Manifest generation error (cached)"
            )
        compared: dict[str, Any] = {"destination": copy.deepcopy(spec.get("destination") or {})}
        if multi:
            compared["sources"] = copy.deepcopy(spec.get("sources"))
        else:
            compared["source"] = copy.deepcopy(spec.get("source") or {})
        sync: dict[str, Any] = {"comparedTo": compared}
        if isinstance(result, str):
            conditions.append(
                {
                    "type": "ComparisonError",
                    "message": f"Failed to load target state: {result}",
                    "lastTransitionTime": iso(now),
                }
            )
            sync["status"] = "Unknown"
            record.desired = None
        else:
            if record.deployed and not record.live and record.desired is None:
                record.live = {r.key: r for r in result.resources}
            record.desired = result
            if multi:
                sync["revisions"] = list(result.revisions)
            else:
                sync["revision"] = result.revisions[0]
            sync["status"] = "OutOfSync" if self._out_of_sync(record) else "Synced"
            if multi:
                status["sourceTypes"] = [t for t in result.source_types]
            else:
                status["sourceType"] = result.source_types[0]
        status["sync"] = sync
        status["reconciledAt"] = iso(now)
        status["controllerNamespace"] = "argocd"
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        self._set_resources(record, now)
        message = self._auto_sync(record) if sync["status"] == "OutOfSync" else None
        if message is not None:
            # Argo CD's SetConditions keeps a condition (and its lastTransitionTime) whose type and
            # message did not change.
            if sync_error is None or sync_error.get("message") != message:
                sync_error = {"type": "SyncError", "message": message, "lastTransitionTime": iso(now)}
            status.setdefault("conditions", []).append(sync_error)

    def _out_of_sync(self, record: Record) -> bool:
        desired = {r.key: r for r in (record.desired.resources if record.desired else ())}
        if set(desired) != set(record.live):
            return True
        return any(record.live[k].digest != r.digest for k, r in desired.items())

    def _resource_health(self, record: Record, resource: render.Resource, now: float) -> str | None:
        if resource.key not in record.live:
            return "Missing"
        if resource.kind in render.WORKLOAD_KINDS:
            return self._rollout_health(record, now)[0]
        return "Healthy" if resource.kind in render.HEALTHY_KINDS else None

    def _rollout_health(self, record: Record, now: float) -> tuple[str, str]:
        fault = record.fault
        if fault is not None and fault.kind == "never-healthy":
            return "Progressing", "Waiting for rollout to finish: 0 of 1 updated replicas are available..."
        settled = (record.rollout_at or 0.0) + self._timing.progressing_duration
        if record.rollout_at is not None and now < settled:
            return "Progressing", "Waiting for rollout to finish: 0 of 1 updated replicas are available..."
        if fault is not None and fault.kind == "degraded":
            start = max(settled if record.rollout_at is not None else 0.0, record.fault_at)
            if fault.duration is None or now < start + fault.duration:
                return "Degraded", fault.message or "Deployment has exceeded its progress deadline"
        return "Healthy", ""

    def _set_resources(self, record: Record, now: float) -> bool:
        """status.resources, status.summary.images and status.health from desired + live; True when
        any of them changed."""
        status = record.obj.setdefault("status", {})
        before = (
            copy.deepcopy(status.get("resources")),
            copy.deepcopy(status.get("health")),
            status.get("summary"),
        )
        desired = {r.key: r for r in (record.desired.resources if record.desired else ())}
        unknown = record.desired is None and any(
            c.get("type") == "ComparisonError" for c in status.get("conditions") or []
        )
        entries = []
        healths: list[str] = []
        message = ""
        for key in sorted(set(desired) | set(record.live)):
            resource = desired.get(key) or record.live[key]
            entry: dict[str, Any] = {}
            if resource.group:
                entry["group"] = resource.group
            entry.update({"kind": resource.kind, "version": resource.version, "name": resource.name})
            if resource.namespace:
                entry["namespace"] = resource.namespace
            live = record.live.get(key)
            if unknown:
                entry["status"] = "Unknown"
            elif key not in desired:
                entry["status"] = "OutOfSync"
                entry["requiresPruning"] = True
            else:
                entry["status"] = (
                    "Synced" if live is not None and live.digest == resource.digest else "OutOfSync"
                )
            health = self._resource_health(record, live or resource, now) if live else "Missing"
            if health is not None:
                entry["health"] = {"status": health}
                healths.append(health)
                if live is not None and resource.kind in render.WORKLOAD_KINDS and health != "Healthy":
                    message = self._rollout_health(record, now)[1]
                    entry["health"]["message"] = message
            entries.append(entry)
        status["resources"] = entries
        images = sorted({image for r in record.live.values() for image in r.images})
        status["summary"] = {"images": images} if images else {}
        app_health = worst(healths)
        old = as_dict(status.get("health"))
        if old.get("status") != app_health:
            status["health"] = {"status": app_health, "lastTransitionTime": iso(now)}
        if app_health in ("Degraded", "Progressing") and message:
            status["health"]["message"] = message
        else:
            status["health"].pop("message", None)
        return before != (status.get("resources"), status.get("health"), status.get("summary"))

    # -- operation and health timers (lock held) --------------------------------------------------

    def _advance(self, record: Record, now: float) -> bool:
        changed = False
        obj = record.obj
        operation = obj.get("operation")
        status = obj.setdefault("status", {})
        if isinstance(operation, dict) and record.op_started is None:
            status["operationState"] = {
                "operation": copy.deepcopy(operation),
                "phase": "Running",
                "startedAt": iso(now),
            }
            record.op_started, record.op_target, record.retry_at = now, None, None
            changed = True
        elif isinstance(operation, dict) and record.retry_at is not None and now >= record.retry_at:
            state = status["operationState"]
            state["message"] = f"Retrying operation. Attempt #{state.get('retryCount', 0)}"
            state.pop("finishedAt", None)
            state.pop("syncResult", None)
            record.op_started, record.op_target, record.retry_at = now, None, None
            changed = True
        elif (
            isinstance(operation, dict)
            and record.retry_at is None
            and record.op_started is not None
            and record.op_target is not None
            and now >= record.op_started + self._timing.sync_duration
        ):
            self._finish(record, now)
            changed = True
        elif operation is None and record.op_started is not None:
            record.op_started = None  # the operation was cleared (e.g. deleted): forget it
        if "sync" not in status:
            return changed  # not compared yet: Argo CD shows no health before its first comparison
        return self._set_resources(record, now) or changed
