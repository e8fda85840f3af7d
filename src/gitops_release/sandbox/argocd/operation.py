"""The sync operation of the Argo CD sandbox's controller (Argo CD controller/appcontroller.go
autoSync + processRequestedAppOperation, controller/sync.go): auto-sync decisions, the end of an
operation (Succeeded / Failed / Error, retries with backoff), syncResult and the history."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from gitops_release.sandbox.argocd import render
from gitops_release.sandbox.argocd.state import (
    DEFAULT_HISTORY_LIMIT,
    Desired,
    Record,
    Timing,
    as_dict,
    go_duration,
    iso,
    resource_name,
    target_sources,
)

#: gitops-engine's operationPhases (pkg/sync/sync_context.go): a resource result's hookPhase.
HOOK_PHASES = {
    "Synced": "Running",
    "SyncFailed": "Failed",
    "Pruned": "Succeeded",
    "PruneSkipped": "Succeeded",
}


class Operations:
    """Mixin of Controller: the parts of a sync operation (lock held by the caller)."""

    _timing: Timing

    def _request_refresh(
        self, record: Record, *, hard: bool, annotate: bool = False
    ) -> int:  # pragma: no cover
        raise NotImplementedError

    # -- auto-sync ---------------------------------------------------------------------------------

    def _auto_sync(self, record: Record) -> str | None:
        """Start an automated sync when Argo CD's autoSync would; the message of the SyncError
        condition it would set instead, or None."""
        obj = record.obj
        spec = obj.get("spec") or {}
        policy = as_dict(spec.get("syncPolicy"))
        automated = policy.get("automated")
        if not isinstance(automated, dict) or automated.get("enabled") is False:
            return None
        if obj.get("operation") is not None or record.desired is None:
            return None
        prune = bool(automated.get("prune"))
        entries = obj["status"].get("resources") or []
        if not prune and all(e.get("status") == "Synced" or e.get("requiresPruning") for e in entries):
            return None  # only pruning would change anything, and automated prune is off
        _, multi = target_sources(spec)
        revisions = list(record.desired.revisions)
        state = obj["status"].get("operationState")
        if isinstance(state, dict) and state.get("phase") in ("Succeeded", "Failed", "Error"):
            # alreadyAttemptedSync: a completed operation without a result (it errored before
            # syncing anything) counts as an attempt at no revisions, whatever the target now is:
            # a manual action is needed, auto-sync does not try again.
            result = state.get("syncResult")
            if isinstance(result, dict):
                last = result.get("revisions") if multi else [result.get("revision")]
                same_source = (result.get("sources") if multi else result.get("source")) == (
                    spec.get("sources") if multi else spec.get("source")
                )
                attempted = last == revisions and same_source
            else:
                last, attempted = [], True
            if attempted:
                if state.get("phase") != "Succeeded":
                    tried = " ".join(str(r) for r in last or [])
                    return f"Failed last sync attempt to [{tried}]: {state.get('message', '')}"
                return None  # already synced to these revisions (selfHeal of live drift is not emulated)
        if prune and not automated.get("allowEmpty") and all(e.get("requiresPruning") for e in entries):
            wanted = " ".join(revisions)
            return f"Skipping sync attempt to [{wanted}]: auto-sync will wipe out all resources"
        sync_op: dict[str, Any] = {}
        if multi:
            sync_op.update({"revisions": revisions, "sources": copy.deepcopy(spec.get("sources"))})
        else:
            sync_op.update({"revision": revisions[0], "source": copy.deepcopy(spec.get("source"))})
        if prune:
            sync_op["prune"] = True
        if policy.get("syncOptions"):
            sync_op["syncOptions"] = list(policy["syncOptions"])
        retry = as_dict(policy.get("retry")) or {"limit": self._timing.default_retry_limit}
        obj["operation"] = {
            "sync": sync_op,
            "initiatedBy": {"automated": True},
            "retry": copy.deepcopy(retry),
        }
        return None

    def _retry_delay(self, retry: Mapping[str, Any], count: int) -> float:
        backoff = as_dict(retry.get("backoff"))
        base = go_duration(backoff.get("duration"), self._timing.default_retry_backoff)
        factor = backoff.get("factor", 2)
        factor = factor if isinstance(factor, (int, float)) and factor > 0 else 2
        ceiling = go_duration(backoff.get("maxDuration"), 180.0)
        return float(min(base * factor**count, ceiling))

    def _finish(self, record: Record, now: float) -> None:
        obj = record.obj
        status = obj["status"]
        state = status["operationState"]
        operation = obj["operation"]
        sync_op = operation.get("sync") or {}
        spec = obj.get("spec") or {}
        _, multi = target_sources(spec)
        target = record.op_target
        result: dict[str, Any] = {}
        fault = record.fault
        failed: tuple[str, str] | None = None
        if isinstance(target, str):
            failed = ("Error", f"ComparisonError: Failed to load target state: {target}")
            resources: tuple[render.Resource, ...] = ()
        else:
            assert target is not None
            resources = target.resources
            if multi:
                result["revisions"] = list(target.revisions)
                result["sources"] = copy.deepcopy(spec.get("sources"))
            else:
                result["revision"] = target.revisions[0]
                result["source"] = copy.deepcopy(spec.get("source"))
            if fault is not None and fault.kind in ("sync-failed", "sync-error"):
                workload = next(
                    (r for r in resources if r.kind in render.WORKLOAD_KINDS),
                    resources[0] if resources else None,
                )
                reason = fault.message or (
                    f'{workload.kind}.{workload.group or "core"} "{workload.name}" is invalid: '
                    "spec.template.spec.containers[0].image: Invalid value"
                    if workload
                    else "the server could not find the requested resource"
                )
                if workload is not None:
                    # a failed apply is hookPhase Failed; an error (e.g. the API server failing) Error
                    hook_phase = "Failed" if fault.kind == "sync-failed" else "Error"
                    failed_entry = self._result_entry(workload, "SyncFailed", reason, hook_phase)
                    result["resources"] = [failed_entry]
                if fault.kind == "sync-failed":
                    failed = ("Failed", f"one or more objects failed to apply, reason: {reason}")
                else:
                    failed = ("Error", reason)
        if failed is not None:
            phase, message = failed
            retry = as_dict(operation.get("retry"))
            limit = retry.get("limit", 0)
            count = int(state.get("retryCount", 0))
            if isinstance(limit, int) and (count < limit or limit < 0):
                delay = self._retry_delay(retry, count)
                count += 1
                at = datetime.fromtimestamp(now + delay, tz=timezone.utc).strftime("%I:%M%p").lstrip("0")
                state.update(
                    {
                        "phase": "Running",
                        "finishedAt": iso(now),
                        "retryCount": count,
                        "message": f"{message}. Retrying attempt #{count} at {at}.",
                    }
                )
                if result:
                    state["syncResult"] = result
                record.retry_at = now + delay
                return
            if count:
                message = f"{message} (retried {count} times)."
            state.update({"phase": phase, "message": message, "finishedAt": iso(now)})
            if result:
                state["syncResult"] = result
            self._operation_done(record, now)
            return
        assert isinstance(target, Desired)
        dry_run = bool(sync_op.get("dryRun"))
        prune = bool(sync_op.get("prune"))
        partial = bool(sync_op.get("resources"))
        entries = []
        new_live = dict(record.live)
        rolled = False
        for resource in resources:
            old = record.live.get(resource.key)
            verb = (
                "created" if old is None else ("unchanged" if old.digest == resource.digest else "configured")
            )
            entries.append(
                self._result_entry(
                    resource,
                    "Synced",
                    f"{resource_name(resource)} {verb}" + (" (dry run)" if dry_run else ""),
                    # nothing is applied in a dry run: validation passing means Succeeded
                    "Succeeded" if dry_run else None,
                )
            )
            if verb != "unchanged" and resource.kind in render.WORKLOAD_KINDS:
                rolled = True
            new_live[resource.key] = resource
        wanted = {r.key for r in resources}
        for key, resource in record.live.items():
            if key in wanted:
                continue
            if prune:
                entries.append(self._result_entry(resource, "Pruned", "pruned"))
                new_live.pop(key, None)
            else:
                entries.append(self._result_entry(resource, "PruneSkipped", "ignored (requires pruning)"))
        result["resources"] = entries
        state.update(
            {
                "phase": "Succeeded",
                "message": "successfully synced (all tasks run)",
                "finishedAt": iso(now),
                "syncResult": result,
            }
        )
        if not dry_run:
            record.live = new_live
            if rolled:
                record.rollout_at = now
            if not partial:
                self._append_history(record, target, state, now)
        self._operation_done(record, now)

    @staticmethod
    def _result_entry(
        resource: render.Resource, status: str, message: str, hook_phase: str | None = None
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"group": resource.group, "version": resource.version, "kind": resource.kind}
        if resource.namespace:
            entry["namespace"] = resource.namespace
        entry.update(
            {
                "name": resource.name,
                "status": status,
                "message": message,
                "hookPhase": hook_phase or HOOK_PHASES[status],
                "syncPhase": "Sync",
            }
        )
        if resource.images:
            entry["images"] = list(resource.images)
        return entry

    def _append_history(self, record: Record, target: Desired, state: Mapping[str, Any], now: float) -> None:
        status = record.obj["status"]
        spec = record.obj.get("spec") or {}
        _, multi = target_sources(spec)
        history = [h for h in status.get("history") or [] if isinstance(h, dict)]
        last_id = history[-1].get("id") if history else None
        entry: dict[str, Any] = {
            "id": (last_id + 1) if isinstance(last_id, int) else 0,
            "deployStartedAt": state.get("startedAt"),
            "deployedAt": iso(now),
            "initiatedBy": copy.deepcopy(state.get("operation", {}).get("initiatedBy") or {}),
        }
        if multi:
            entry.update({"revisions": list(target.revisions), "sources": copy.deepcopy(spec.get("sources"))})
        else:
            entry.update({"revision": target.revisions[0], "source": copy.deepcopy(spec.get("source"))})
        history.append(entry)
        limit = spec.get("revisionHistoryLimit")
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else DEFAULT_HISTORY_LIMIT
        status["history"] = (
            history[len(history) - max(limit, 0) :] if len(history) > max(limit, 0) else history
        )
        if not status["history"]:
            del status["history"]

    def _operation_done(self, record: Record, now: float) -> None:
        """Clear the top-level operation and ask for a refresh (Argo CD does both on completion)."""
        record.obj.pop("operation", None)
        record.op_started, record.op_target, record.retry_at = None, None, None
        self._request_refresh(record, hard=False)
        record.refresh_at = min(record.refresh_at or now, now)
