"""Readiness rules for Argo CD Applications: is exactly the expected revision applied and healthy?

Pure: no I/O, no clock (callers pass ``now``), no network. ``observe`` turns any Application
object (an API response, a watch event's ``application``, a YAML file) into an
``AppObservation`` and never raises, whatever the shape; ``assess`` decides.

The rules follow Argo CD's own model and Kargo's hard-won additions:

* Health order (gitops-engine ``pkg/health``): Healthy, Suspended, Progressing, Missing,
  Degraded, Unknown. An app without ``status.health`` is Unknown, never Healthy.
* Operation phases (gitops-engine ``pkg/sync/common``): Running and Terminating are in flight;
  Succeeded, Failed and Error are final. A top-level ``operation`` means one is requested.
* ``status.sync.revision`` is the revision Argo CD compared against (the resolved target), not
  proof that it was applied: Done also needs ``Synced``, and the health must be fresh.
* Freshness (Kargo): health is computed by a separate loop; ``status.reconciledAt`` missing or
  earlier than ``operationState.finishedAt`` means the health predates the last operation.
* Conditions whose type ends in ``Error`` (ComparisonError, InvalidSpecError, SyncError, ...;
  Argo CD's ``ApplicationCondition.IsError``) count as Degraded even when health says Healthy,
  but only once the app is at the expected revision (or for a SyncError whose message names the
  expected sha): before that they may belong to the previous revision (auto-sync keeps
  ``Failed sync attempt to OLD`` until its next attempt), so the wait keeps WAITING and says so.
* A later commit: when the app is Synced at a full sha R other than the expected full sha A, the
  expectation's ``lineage`` (the command asks git) tells whether R contains A. Argo CD will never
  report A again then: with ``accept_descendant`` R is judged in A's place (DONE records
  ``superseded_by``), without it the wait fails at once. An unrelated or older R, or no answer,
  keeps waiting.
* A Failed / Error operation fails the wait only when it targeted the expected revision: a
  stale failed operation for an older revision, on an app now Synced + Healthy, is history.
* Health Degraded counts only when it is the health of the expected revision (the app is at
  that revision, no operation in flight, and it is Synced or the last operation applied it),
  and only when fresh: a broken previous release must not fail the wait for its fix.
* ``hookPhase`` on ordinary resources in ``syncResult`` is not looked at: Argo CD leaves it
  at Running after the operation Succeeded.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, Protocol

HEALTH_ORDER: tuple[str, ...] = ("Healthy", "Suspended", "Progressing", "Missing", "Degraded", "Unknown")
SYNC_STATUSES: tuple[str, ...] = ("Synced", "OutOfSync", "Unknown")
FINAL_PHASES = frozenset({"Succeeded", "Failed", "Error"})
RUNNING_PHASES = frozenset({"Running", "Terminating"})
FAILED_PHASES = frozenset({"Failed", "Error"})

_HEX = re.compile(r"[0-9a-fA-F]+")


# -- small total helpers --------------------------------------------------------------------


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def _iso(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=spec) + "Z"


def _text(value: object) -> str:
    """A scalar as Argo CD's JSON would carry it ("" for null, maps, lists)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, datetime):  # YAML turns unquoted timestamps into datetimes
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return str(value)
    return ""


def _opt(value: object) -> str | None:
    text = _text(value)
    return text or None


def _texts(value: object) -> tuple[str, ...]:
    return tuple(t for t in (_text(v) for v in _list(value)) if t)


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):?(\d\d))?"
)


def parse_timestamp(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime; None when absent or not one."""
    if not text:
        return None
    match = _TIMESTAMP.fullmatch(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, frac, _z, sign, off_h, off_m = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((frac or "0")[:6].ljust(6, "0")),
            tzinfo=timezone.utc,
        )
    except ValueError:
        return None
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        moment = moment - offset if sign == "+" else moment + offset
    return moment


# -- health and revisions -------------------------------------------------------------------


def worst_health(statuses: Iterable[str]) -> str:
    """The least healthy of ``statuses`` by HEALTH_ORDER; a word Argo CD does not use is Unknown."""
    worst = 0
    for status in statuses:
        index = HEALTH_ORDER.index(status) if status in HEALTH_ORDER else len(HEALTH_ORDER) - 1
        worst = max(worst, index)
    return HEALTH_ORDER[worst]


def is_sha_prefix(text: str) -> bool:
    """7..40 hex digits (a git sha or an abbreviation of one), or 64 (a sha256 repository)."""
    return bool(_HEX.fullmatch(text)) and (7 <= len(text) <= 40 or len(text) == 64)


def revision_matches(expected: str, actual: str | None) -> bool:
    """Does the revision Argo CD reports (``actual``) name the ``expected`` one?

    Two git shas match when the shorter (at least 7 hex digits) is a prefix of the longer,
    case-insensitively; anything else (a Helm chart version such as ``0.45.27``, a tag, a
    branch) only when equal. Empty never matches. Symmetric in its two arguments.
    """
    if not expected or not actual:
        return False
    if is_sha_prefix(expected) and is_sha_prefix(actual):
        short, long = sorted((expected.lower(), actual.lower()), key=len)
        return long.startswith(short)
    return expected == actual


def short_revision(revision: str) -> str:
    return revision[:7] if len(revision) >= 40 and is_sha_prefix(revision) else revision


# -- the observation ------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRef:
    repo_url: str
    path: str
    target_revision: str
    chart: str


@dataclass(frozen=True)
class ResourceState:
    kind: str
    name: str
    namespace: str
    group: str
    status: str
    health: str
    message: str


@dataclass(frozen=True)
class Condition:
    type: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.type.endswith("Error")


@dataclass(frozen=True)
class HistoryEntry:
    id: int | None
    revisions: tuple[str, ...]
    deployed_at: str | None


@dataclass(frozen=True)
class AppObservation:
    name: str
    namespace: str
    project: str
    destination: str
    sources: tuple[SourceRef, ...]
    multi_source: bool
    sync_status: str
    health_status: str
    health_message: str
    revisions: tuple[str, ...]
    operation_in_flight: bool
    phase: str | None
    phase_message: str
    started_at: str | None
    finished_at: str | None
    operation_revisions: tuple[str, ...]
    reconciled_at: str | None
    conditions: tuple[Condition, ...]
    images: tuple[str, ...]
    resources_not_ready: tuple[ResourceState, ...]
    failed_resources: tuple[ResourceState, ...]
    history: tuple[HistoryEntry, ...]

    @property
    def error_conditions(self) -> tuple[Condition, ...]:
        return tuple(c for c in self.conditions if c.is_error)


def _source(raw: object) -> SourceRef:
    src = _map(raw)
    return SourceRef(
        repo_url=_text(src.get("repoURL")),
        path=_text(src.get("path")),
        target_revision=_text(src.get("targetRevision")),
        chart=_text(src.get("chart")),
    )


def _revisions(holder: Mapping[str, Any]) -> tuple[str, ...]:
    """``revisions`` (multi-source) when non-empty, else ``(revision,)``, else ()."""
    many = _texts(holder.get("revisions"))
    if many:
        return many
    one = _text(holder.get("revision"))
    return (one,) if one else ()


def _resource(raw: Mapping[str, Any], *, status: str, health: str) -> ResourceState:
    return ResourceState(
        kind=_text(raw.get("kind")),
        name=_text(raw.get("name")),
        namespace=_text(raw.get("namespace")),
        group=_text(raw.get("group")),
        status=status,
        health=health,
        message=_text(raw.get("message")),
    )


def _not_ready(resources: object) -> tuple[ResourceState, ...]:
    found = []
    for item in _list(resources):
        res = _map(item)
        if not res:
            continue
        status = _text(res.get("status"))
        health_map = _map(res.get("health"))
        health = _text(health_map.get("status"))
        # resourceHealthSource: appTree leaves per-resource health out: absent is not unhealthy.
        if status != "Synced" or (health and health != "Healthy"):
            found.append(
                ResourceState(
                    kind=_text(res.get("kind")),
                    name=_text(res.get("name")),
                    namespace=_text(res.get("namespace")),
                    group=_text(res.get("group")),
                    status=status,
                    health=health,
                    message=_text(health_map.get("message")),
                )
            )
    return tuple(found)


def _failed(resources: object) -> tuple[ResourceState, ...]:
    found = []
    for item in _list(resources):
        res = _map(item)
        status = _text(res.get("status"))
        hook_phase = _text(res.get("hookPhase"))
        if status == "SyncFailed" or hook_phase in FAILED_PHASES:
            found.append(_resource(res, status=status, health=""))
    return tuple(found)


def _history(entries: object) -> tuple[HistoryEntry, ...]:
    found = []
    for item in _list(entries):
        entry = _map(item)
        if not entry:
            continue
        raw_id = entry.get("id")
        found.append(
            HistoryEntry(
                id=raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None,
                revisions=_revisions(entry),
                deployed_at=_opt(entry.get("deployedAt")),
            )
        )
    return tuple(found)


def observe(app: Mapping[str, Any]) -> AppObservation:
    """What an Application object says, in one shape; total (never raises on any input)."""
    app = _map(app)
    metadata = _map(app.get("metadata"))
    spec = _map(app.get("spec"))
    status = _map(app.get("status"))
    destination = _map(spec.get("destination"))
    sync = _map(status.get("sync"))
    health = _map(status.get("health"))
    op_state = _map(status.get("operationState"))
    op_sync = _map(_map(op_state.get("operation")).get("sync"))
    sync_result = _map(op_state.get("syncResult"))

    many = [s for s in _list(spec.get("sources")) if isinstance(s, Mapping)]
    single = spec.get("source")
    sources = tuple(_source(s) for s in many) if many else ((_source(single),) if _map(single) else ())

    phase = _opt(op_state.get("phase"))
    # The revision(s) the operation really used: syncResult holds the resolved sha when a
    # request named HEAD or a branch; the request's own revision when it never got that far.
    operation_revisions = _revisions(sync_result) or _revisions(op_sync)

    conditions = tuple(
        Condition(type=_text(_map(c).get("type")), message=_text(_map(c).get("message")))
        for c in _list(status.get("conditions"))
        if _map(c)
    )
    where = _text(destination.get("name")) or _text(destination.get("server"))
    dest_ns = _text(destination.get("namespace"))
    return AppObservation(
        name=_text(metadata.get("name")),
        namespace=_text(metadata.get("namespace")),
        project=_text(spec.get("project")),
        destination=f"{where}/{dest_ns}" if dest_ns else where,
        sources=sources,
        multi_source=bool(many),
        sync_status=_text(sync.get("status")) or "Unknown",
        health_status=_text(health.get("status")) or "Unknown",
        health_message=_text(health.get("message")),
        revisions=_revisions(sync),
        operation_in_flight=app.get("operation") is not None or phase in RUNNING_PHASES,
        phase=phase,
        phase_message=_text(op_state.get("message")),
        started_at=_opt(op_state.get("startedAt")),
        finished_at=_opt(op_state.get("finishedAt")),
        operation_revisions=operation_revisions,
        reconciled_at=_opt(status.get("reconciledAt")),
        conditions=conditions,
        images=_texts(_map(status.get("summary")).get("images")),
        resources_not_ready=_not_ready(status.get("resources")),
        failed_resources=_failed(sync_result.get("resources")),
        history=_history(status.get("history")),
    )


# -- what is expected -----------------------------------------------------------------------


@dataclass(frozen=True)
class Ancestry:
    """Whether a newer revision contains (has as ancestor, or is) an older one: True, False, or
    None when it could not be told (``note`` says why, e.g. the fetch failed)."""

    contains: bool | None
    note: str = ""


class Lineage(Protocol):
    """The history of the config repository, as the command can query it (git): does commit
    ``newer`` of ``repo_url`` contain commit ``older``? Asked only with two full shas."""

    def contains(self, repo_url: str, newer: str, older: str) -> Ancestry: ...


@dataclass(frozen=True)
class Expectation:
    revisions: tuple[str | None, ...]
    allow_suspended: bool = False
    #: a later commit that contains the expected one is accepted in its place (else: fail at once)
    accept_descendant: bool = True
    #: who answers "does R contain A" (None: a different revision is only ever waited past)
    lineage: Lineage | None = field(default=None, compare=False, repr=False)

    @property
    def checked(self) -> bool:
        return any(self.revisions)


def normalize_repo_url(url: str) -> str:
    """Compare form of a git URL: no scheme, user or ``.git``, host in lower case, ``:`` → ``/``."""
    text = url.strip()
    text = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", text)
    text = text.split("@", 1)[1] if "@" in text.split("/", 1)[0] else text
    host, sep, rest = text.partition("/")
    if ":" in host and not re.fullmatch(r"[^:]*:\d+", host):  # scp-like git@host:owner/repo
        host, _, first = host.partition(":")
        rest = f"{first}/{rest}" if sep else first
        sep = "/"
    rest = rest.rstrip("/")
    rest = rest.removesuffix(".git").rstrip("/")
    return f"{host.lower()}{sep}{rest}" if rest else host.lower()


def repo_key(url: str) -> str:
    """The repository's identity for matching a checkout's origin with an Application's repoURL:
    the last two path segments (``owner/name``), lower case, without ``.git``; scheme, user and
    host ignored (a checkout may come through a mirror, a file:// remote or another spelling of
    the host). "" when the URL has no path."""
    _, _, path = normalize_repo_url(url).partition("/")
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[-2:]).lower()


def same_repository(a: str, b: str) -> bool:
    """Do two git URLs name the same repository (by ``repo_key``)?"""
    key = repo_key(a)
    return bool(key) and key == repo_key(b)


def expected_per_source(
    obs: AppObservation, expected: Sequence[str], repo_url: str | None
) -> tuple[str | None, ...]:
    """One expected revision per source (None: do not check that source).

    ``expected`` holds one value, or one per source (``*`` or empty skips a source). One value on a
    multi-source app applies to the sources whose repository is ``repo_url`` (``same_repository``);
    when ``repo_url`` is None or none of them, to every source that is not a Helm chart. Raises
    ValueError on a wrong count.
    """
    values = [None if v.strip() in ("", "*") else v.strip() for v in expected]
    count = len(obs.sources) if obs.multi_source else 1
    if not values:
        raise ValueError("no expected revision given")
    if len(values) == count:
        return tuple(values)
    if len(values) != 1:
        raise ValueError(
            f"{len(values)} expected revisions for application {obs.name or '?'} with {count} "
            f"source(s): give one value, or one per source in spec.sources order ('*' skips one)"
        )
    value = values[0]
    by_repo = [repo_url is not None and same_repository(s.repo_url, repo_url) for s in obs.sources]
    if any(by_repo):
        return tuple(value if hit else None for hit in by_repo)
    return tuple(None if s.chart else value for s in obs.sources)


# -- the verdict ----------------------------------------------------------------------------


class Verdict(enum.Enum):
    DONE = "done"
    WAITING = "waiting"
    STALE = "stale"
    DEGRADED = "degraded"
    FAILED = "failed"


@dataclass(frozen=True)
class Assessment:
    verdict: Verdict
    reason: str
    #: the later revision(s) judged in place of the expected one (comma-separated), or None
    superseded_by: str | None = None


def _one_line(text: str, limit: int = 500) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _revisions_match(expected: Sequence[str | None], actual: Sequence[str]) -> bool:
    checked = [(i, rev) for i, rev in enumerate(expected) if rev]
    if not checked:
        return True
    if len(expected) > 1 and len(actual) != len(expected):
        return False
    return all(i < len(actual) and revision_matches(rev, actual[i]) for i, rev in checked)


def _show(revisions: Sequence[str | None]) -> str:
    shown = [short_revision(r) if r else "*" for r in revisions]
    return ", ".join(shown) if shown else "none"


def _resource_name(res: ResourceState) -> str:
    kind = f"{res.group}/{res.kind}" if res.group else res.kind
    where = f"{res.namespace}/{res.name}" if res.namespace else res.name
    text = f"{kind} {where}"
    return f"{text}: {res.message}" if res.message else text


def _is_fresh(obs: AppObservation) -> tuple[bool, str]:
    reconciled = parse_timestamp(obs.reconciled_at)
    if reconciled is None:
        return False, "status.reconciledAt is missing: health not assessed yet"
    if obs.finished_at is None:
        return True, ""
    finished = parse_timestamp(obs.finished_at)
    if finished is None or reconciled < finished:
        return False, (
            f"status.reconciledAt {obs.reconciled_at} is earlier than the operation's finishedAt "
            f"{obs.finished_at}: health predates the last sync"
        )
    return True, ""


def assess(obs: AppObservation, expectation: Expectation) -> Assessment:
    """The verdict on one observation (see the module docstring for the rules); the reason is one line."""
    result = _assess(obs, expectation)
    return replace(result, reason=_one_line(result.reason))


def _is_full_sha(text: str | None) -> bool:
    return bool(text) and len(text or "") in (40, 64) and is_sha_prefix(text or "")


def _names_expected(condition: Condition, expected: Sequence[str | None]) -> bool:
    """A SyncError about the expected revision ("Failed sync attempt to <sha>: ...")."""
    if condition.type != "SyncError":
        return False
    message = condition.message.lower()
    return any(rev and is_sha_prefix(rev) and rev.lower() in message for rev in expected)


def superseded(
    obs: AppObservation, expectation: Expectation
) -> tuple[tuple[str | None, ...], Ancestry] | None:
    """The later revisions the app is Synced at, per source, when every checked source that is not
    at its expected full sha is at a full sha; with the lineage's joint answer (contains only when
    every one contains its expected sha; undecided when any is undecided). None when the rule does
    not apply (no lineage, not Synced, a non-sha revision, the count of revisions differs)."""
    lineage = expectation.lineage
    expected = expectation.revisions
    if lineage is None or obs.sync_status != "Synced" or not obs.revisions:
        return None
    if len(expected) > 1 and len(obs.revisions) != len(expected):
        return None
    later: list[str | None] = []
    moved: list[tuple[str, str, str]] = []
    for index, want in enumerate(expected):
        have = obs.revisions[index] if index < len(obs.revisions) else None
        if not want or (have is not None and revision_matches(want, have)):
            later.append(want)
            continue
        if not _is_full_sha(want) or not _is_full_sha(have):
            return None
        source = obs.sources[index] if index < len(obs.sources) else None
        moved.append((source.repo_url if source else "", have or "", want))
        later.append(have)
    if not moved:
        return None
    notes: list[str] = []
    contains: bool | None = True
    for repo_url, have, want in moved:
        answer = lineage.contains(repo_url, have, want)
        if answer.contains is False:
            return tuple(later), Ancestry(False)
        if answer.contains is None:
            contains = None
            notes.append(
                f"could not tell whether {short_revision(have)} contains {short_revision(want)}"
                + (f": {answer.note}" if answer.note else "")
            )
    return tuple(later), Ancestry(contains, "; ".join(notes))


def _assess(obs: AppObservation, expectation: Expectation) -> Assessment:
    expected = expectation.revisions
    at_expected = bool(obs.revisions) and _revisions_match(expected, obs.revisions)
    if not at_expected:
        moved_on = superseded(obs, expectation)
        if moved_on is not None and moved_on[1].contains:
            shown = _show(obs.revisions)
            if not expectation.accept_descendant:
                return Assessment(
                    Verdict.FAILED,
                    f"Argo CD moved on to {shown}, which contains {_show(expected)}; "
                    f"{_show(expected)} itself will never be reported (accept-descendant is false)",
                )
            result = _assess(obs, replace(expectation, revisions=moved_on[0], lineage=None))
            note = f"at {shown}, a later commit that contains the expected {_show(expected)}"
            return Assessment(
                result.verdict, f"{result.reason} ({note})", superseded_by=",".join(obs.revisions)
            )
        undecided = moved_on[1].note if moved_on is not None and moved_on[1].contains is None else ""
    else:
        undecided = ""
    fresh, stale_reason = _is_fresh(obs)
    healthy = obs.health_status == "Healthy" or (
        obs.health_status == "Suspended" and expectation.allow_suspended
    )

    # A final failed operation is authoritative on its own (no freshness needed): it fails the
    # wait when it targeted the expected revision and no new operation was requested since.
    if obs.phase in FAILED_PHASES and not obs.operation_in_flight:
        if expectation.checked:
            targeted = bool(obs.operation_revisions) and _revisions_match(expected, obs.operation_revisions)
        else:
            targeted = not (obs.sync_status == "Synced" and healthy)
        if targeted:
            detail = obs.phase_message or "no message"
            failed = "; ".join(_resource_name(r) for r in obs.failed_resources)
            reason = f"sync operation {obs.phase} at revision {_show(obs.operation_revisions)}: {detail}"
            return Assessment(
                Verdict.FAILED, _one_line(f"{reason}; failed resources: {failed}" if failed else reason)
            )

    errors = obs.error_conditions
    pending = ""
    if errors:
        text = "; ".join(f"{c.type}: {c.message}" if c.message else c.type for c in errors)
        # Before the expected revision is reached, an error condition may be the previous
        # revision's (a failed auto-sync of OLD stays until the next attempt): not ours to fail on.
        # With no compared revision at all, the comparison itself failed (Argo CD reports no
        # revision when it cannot resolve or render the target): nothing moves until it is fixed.
        if at_expected or not obs.revisions or any(_names_expected(c, expected) for c in errors):
            return Assessment(Verdict.DEGRADED, _one_line(f"condition {text}"))
        pending = f"; condition {text}"
    if undecided:
        pending += f"; {undecided}"

    if not obs.revisions:
        return Assessment(
            Verdict.WAITING,
            f"no synced revision reported yet (expected {_show(expected)}; sync {obs.sync_status}){pending}",
        )
    if not at_expected:
        return Assessment(
            Verdict.WAITING,
            f"revision {_show(obs.revisions)} is not the expected {_show(expected)} "
            f"(sync {obs.sync_status}, health {obs.health_status}){pending}",
        )
    if obs.operation_in_flight:
        what = obs.phase if obs.phase in RUNNING_PHASES else "requested"
        return Assessment(
            Verdict.WAITING, f"operation {what} (sync {obs.sync_status}, health {obs.health_status})"
        )
    if obs.phase is not None and obs.finished_at is None:
        # A final phase without finishedAt is an operation state still being written: its end
        # (and so the freshness of the health after it) cannot be judged yet.
        return Assessment(
            Verdict.WAITING,
            f"operation {obs.phase} has no finishedAt yet "
            f"(sync {obs.sync_status}, health {obs.health_status})",
        )

    last_op_applied_it = obs.phase == "Succeeded" and _revisions_match(expected, obs.operation_revisions)
    if obs.health_status == "Degraded" and (obs.sync_status == "Synced" or last_op_applied_it):
        if not fresh:
            return Assessment(Verdict.STALE, stale_reason)
        message = f": {obs.health_message}" if obs.health_message else ""
        return Assessment(
            Verdict.DEGRADED, _one_line(f"health Degraded at revision {_show(obs.revisions)}{message}")
        )
    if obs.sync_status != "Synced":
        return Assessment(
            Verdict.WAITING,
            f"sync {obs.sync_status} at revision {_show(obs.revisions)} (health {obs.health_status})",
        )
    if not healthy:
        if obs.health_status == "Suspended":
            why = "health Suspended (allow-suspended is off)"
        elif obs.health_status == "Unknown":
            why = "health Unknown" if obs.health_message else "health Unknown (no health reported)"
        else:
            why = f"health {obs.health_status}"
        message = f": {obs.health_message}" if obs.health_message else ""
        return Assessment(Verdict.WAITING, _one_line(f"{why}{message}"))
    if not fresh:
        return Assessment(Verdict.STALE, stale_reason)
    return Assessment(Verdict.DONE, f"Synced at {_show(obs.revisions)} and {obs.health_status}")


# -- the wait -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    at: float
    sync: str
    health: str
    phase: str | None
    revision: str


def _state(obs: AppObservation) -> tuple[str, str, str | None, str]:
    phase = obs.phase
    if obs.operation_in_flight and phase not in RUNNING_PHASES:
        phase = "Running"  # a requested operation is as good as running for the picture
    return (obs.sync_status, obs.health_status, phase, ",".join(obs.revisions))


class WaitTracker:
    """The wait for one app: verdicts over time, Degraded grace, transitions. Pure (``now`` given)."""

    def __init__(self, name: str, expectation: Expectation, *, degraded_grace: float, started: float) -> None:
        self.name = name
        self.expectation = expectation
        self.degraded_grace = max(0.0, degraded_grace)
        self.started = started
        self.changed = False
        self.transitions: list[Transition] = []
        self.last: AppObservation | None = None
        self.assessment: Assessment | None = None
        self.done_at: float | None = None
        self.degraded_since: float | None = None

    def update(self, obs: AppObservation | None, now: float) -> Assessment:
        if obs is None:
            self.changed = self.last is not None
            self.degraded_since = None
            self.done_at = None
            self.assessment = Assessment(
                Verdict.FAILED, f"application {self.name} was deleted during the wait"
            )
            return self.assessment
        state = _state(obs)
        self.changed = self.last is None or _state(self.last) != state
        if self.changed:
            sync, health, phase, revision = state
            self.transitions.append(Transition(now - self.started, sync, health, phase, revision))
        self.last = obs
        result = assess(obs, self.expectation)
        if result.verdict is Verdict.DEGRADED:
            if self.degraded_since is None:
                self.degraded_since = now
            lasted = now - self.degraded_since
            if self.degraded_grace <= 0 or lasted >= self.degraded_grace:
                result = Assessment(
                    Verdict.FAILED,
                    f"Degraded for {lasted:.1f}s (degraded-grace {self.degraded_grace:g}s): {result.reason}",
                )
        else:
            self.degraded_since = None
        if result.verdict is Verdict.DONE:
            if self.done_at is None:
                self.done_at = now
        else:
            self.done_at = None
        self.assessment = result
        return result

    def deadline_hint(self, now: float) -> float | None:
        """When the Degraded grace runs out (the caller wakes up then), or None."""
        if self.degraded_since is None:
            return None
        return self.degraded_since + self.degraded_grace


# -- progress and pictures ------------------------------------------------------------------


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() else " " for ch in text)


def progress_line(
    name: str,
    obs: AppObservation,
    elapsed: float,
    *,
    previous: AppObservation | None = None,
    expected: Expectation | None = None,
) -> str:
    """One log line, e.g.

    ``guestbook: OutOfSync → Synced · Progressing · op Succeeded · rev 1a2b3c4 (expected 1a2b3c4) · 12.3s``

    ``previous`` adds ``old → new`` for what changed; ``expected`` the expected revision(s).
    """

    def part(before: str | None, now: str) -> str:
        return f"{before} → {now}" if before is not None and before != now else now

    phase = obs.phase or "none"
    if obs.operation_in_flight and obs.phase not in RUNNING_PHASES:
        phase = "requested"
    old_phase = None
    if previous is not None:
        old_phase = previous.phase or "none"
        if previous.operation_in_flight and previous.phase not in RUNNING_PHASES:
            old_phase = "requested"
    revision = f"rev {_show(obs.revisions)}" if obs.revisions else "rev none"
    if expected is not None:
        revision += f" (expected {_show(expected.revisions)})"
    pieces = [
        part(previous.sync_status if previous else None, obs.sync_status),
        part(previous.health_status if previous else None, obs.health_status),
        "op " + part(old_phase, phase),
        revision,
        f"{elapsed:.1f}s",
    ]
    return _clean(f"{name}: " + " · ".join(pieces))


def _bar(transition: Transition) -> str:
    if transition.phase in RUNNING_PHASES:
        return "syncing"
    if transition.sync != "Synced":
        return transition.sync or "Unknown"
    return transition.health or "Unknown"


_BAR_TAGS = {"syncing": "active, ", "Degraded": "crit, ", "Missing": "crit, ", "Healthy": "done, "}


def _mermaid_escape(text: str) -> str:
    out = []
    for ch in " ".join(_clean(text).split()):
        out.append({"#": "#35;", ":": "#58;", ";": "#59;"}.get(ch, ch))
    return "".join(out)


def _stamp(started_at: datetime, offset: float) -> str:
    moment = started_at + timedelta(seconds=max(0.0, offset))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def gantt(timelines: Mapping[str, Sequence[Transition]], *, started_at: datetime, ended: float) -> str:
    """A Mermaid gantt block: one section per app, bars OutOfSync / syncing / Progressing / Healthy ..."""
    lines = [
        "```mermaid",
        "gantt",
        "    title Argo CD sync",
        "    dateFormat YYYY-MM-DD HH:mm:ss.SSS",
        "    axisFormat %H:%M:%S",
    ]
    for name, transitions in timelines.items():
        bars: list[tuple[str, float, float]] = []
        for index, transition in enumerate(transitions):
            start = transition.at
            end = transitions[index + 1].at if index + 1 < len(transitions) else max(ended, start)
            label = _bar(transition)
            if bars and bars[-1][0] == label:
                bars[-1] = (label, bars[-1][1], end)
            else:
                bars.append((label, start, end))
        bars = [b for b in bars if b[2] > b[1]] or bars[-1:]
        lines.append(f"    section {_mermaid_escape(name) or '?'}")
        for label, start, end in bars:
            tag = _BAR_TAGS.get(label, "")
            lines.append(
                f"    {_mermaid_escape(label)} :{tag}{_stamp(started_at, start)}, {_stamp(started_at, end)}"
            )
    lines.append("```")
    return "\n".join(lines) + "\n"


# -- images ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageDrift:
    image: str
    expected: str | None
    live: str | None


def split_image(ref: str) -> tuple[str, str, str]:
    """``registry/path:tag@digest`` → (name, tag, digest); "" for a part that is absent."""
    text = ref.strip()
    name, _, digest = text.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest


def _repo_key(name: str) -> str:
    key = name.lower()
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    return key.removeprefix("library/") if key.count("/") == 1 else key


def _same_image(a: str, b: str) -> bool:
    _, tag_a, digest_a = split_image(a)
    _, tag_b, digest_b = split_image(b)
    if digest_a and digest_b:
        return digest_a.lower() == digest_b.lower()  # the digest is the image; a tag beside it is a label
    return (tag_a or "latest", digest_a) == (tag_b or "latest", digest_b)


def image_drift(expected: Iterable[str], live: Iterable[str]) -> tuple[ImageDrift, ...]:
    """Expected images that are not live as expected, by repository name; empty when they agree."""
    names: dict[str, str] = {}
    sides: tuple[dict[str, list[str]], dict[str, list[str]]] = ({}, {})
    for side, refs in zip(sides, (expected, live), strict=True):
        for ref in refs:
            if not ref or not ref.strip():
                continue
            name = split_image(ref)[0]
            key = _repo_key(name)
            names.setdefault(key, name)
            side.setdefault(key, []).append(ref.strip())
    drift: list[ImageDrift] = []
    for key in sorted(names):
        want, have, name = sides[0].get(key, []), sides[1].get(key, []), names[key]
        want_left = list(dict.fromkeys(want))
        have_left = list(dict.fromkeys(have))
        for ref in list(want_left):
            match = next((h for h in have_left if _same_image(ref, h)), None)
            if match is not None:
                want_left.remove(ref)
                have_left.remove(match)
        for index in range(max(len(want_left), len(have_left))):
            drift.append(
                ImageDrift(
                    image=name,
                    expected=want_left[index] if index < len(want_left) else None,
                    live=have_left[index] if index < len(have_left) else None,
                )
            )
    return tuple(drift)


__all__ = [
    "FAILED_PHASES",
    "FINAL_PHASES",
    "HEALTH_ORDER",
    "RUNNING_PHASES",
    "SYNC_STATUSES",
    "Ancestry",
    "AppObservation",
    "Assessment",
    "Condition",
    "Expectation",
    "HistoryEntry",
    "ImageDrift",
    "Lineage",
    "ResourceState",
    "SourceRef",
    "Transition",
    "Verdict",
    "WaitTracker",
    "assess",
    "expected_per_source",
    "gantt",
    "image_drift",
    "is_sha_prefix",
    "observe",
    "parse_timestamp",
    "progress_line",
    "repo_key",
    "revision_matches",
    "same_repository",
    "superseded",
    "worst_health",
]
