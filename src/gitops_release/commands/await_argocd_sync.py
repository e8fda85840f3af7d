"""``gitops-release await-argocd-sync``: wait until Argo CD runs exactly the expected revision,
Synced and Healthy, fail fast when it cannot, and write release evidence; or report drift.

Flow (docs/await-argocd-sync.md):

1. ``Inputs.from_reader`` validates every input; ``run`` then resolves the expected revision
   (default: ``git rev-parse HEAD`` in ``repo-path``). Nothing touches the network before both.
2. Log in (username/password), find the applications (names: a 404 fails at once, naming the app
   and the app-namespace hint; selector: no match yet is waited for until the timeout, since an
   ApplicationSet may generate the apps after the commit lands), refresh them (``refresh``), and
   with ``sync: true`` request a sync of each and wait for THAT operation (its ``startedAt`` is not
   before our request).
3. Wait: watch streams read on background threads that feed one queue: for names, one stream per
   app (name + appNamespace: Argo CD filters it, so no other app's objects are sent; never the
   unfiltered stream of the whole server), for a selector one stream of that selector (Argo CD
   ignores appNamespace there, so events are filtered here by namespace). Every app is keyed by
   namespace AND name (``Waiter.key``): a same-named app in another namespace never counts, and
   apps a selector finds in several namespaces are each read, refreshed and synced in their own.
   Every (re)connect first re-reads the apps with a GET / list so no transition between
   connections is missed; an app the streams said nothing of for ``poll-interval`` is re-read too
   (``Waiter.silent``: a delete just before a stream starts is in no stream). A stream failing
   ``STREAM_FAILURES`` times in a row without delivering an event, or ``stream: false``, means
   polling every app every ``poll-interval``. Each app has a
   ``core.argocd.WaitTracker``; STALE asks for a refresh (at most once per poll-interval per app);
   FAILED (a failed operation for the expected revision, Degraded past ``degraded-grace``, the app
   deleted) raises WaitFailedError at once; the deadline raises WaitTimeoutError naming every app
   not done and its last state. Every network call is bounded by the deadline (the client's), so
   the command never runs past ``timeout`` + 5 s.
4. The evidence bundle (``evidence-path``) is written on success and on failure (then the error
   is re-raised).

``mode: drift-report`` neither waits nor syncs: one observation per app, desired images (input,
release manifest, or the overlay rendered with kustomize) against ``status.summary.images`` and the
resources not Synced / not Healthy; exit 1 only with ``fail-on-drift: true``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import queue
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from gitops_release.adapters.argocd import ArgoCDClient, ArgoCDConnection, normalize_server
from gitops_release.adapters.files import atomic_write, path_in_checkout, read_text_if_exists
from gitops_release.adapters.git import Git
from gitops_release.adapters.http import RetryBudget
from gitops_release.commands.base import Context
from gitops_release.core import argocd as rules
from gitops_release.core import evidence
from gitops_release.core.retry import RetryPolicy
from gitops_release.errors import (
    APIError,
    ArgoCDAuthError,
    ArgoCDError,
    ArgoCDNotFoundError,
    ArgoCDStreamError,
    ConfigError,
    InputError,
    ReleaseError,
    RetryExhaustedError,
    WaitFailedError,
    WaitTimeoutError,
)
from gitops_release.runtime import InputReader, InputSpec, parse_relative_path, redact

MODES = ("wait", "drift-report")
# The CLI turns SIGTERM into KeyboardInterrupt for this command: a cancelled job's runner sends
# SIGINT, then SIGTERM, and either way the evidence (outcome "cancelled") is written first.
INTERRUPT_ON_SIGTERM = True
REFRESH = ("none", "normal", "hard")
DEFAULT_TIMEOUT = 600.0
DEFAULT_GRACE = 60.0
DEFAULT_POLL = 5.0
# "Never infinite": a wait longer than a day is a mistake (a GitHub Actions job dies at 6 h).
MAX_TIMEOUT = 24 * 3600.0
# The stream failing this many times in a row (no event on the connection) means polling.
STREAM_FAILURES = 3
# An idle watch connection is re-opened (with a GET first) after this long: it also tells a
# silently dead connection from a quiet app.
STREAM_READ_TIMEOUT = 30.0
# How long stop() waits for the watch threads once their connections are closed.
STOP_JOIN = 2.0
# The watch thread's requests: a few quick retries, then the thread decides (reconnect or poll).
STREAM_POLICY = RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=1.0, max_total_wait=2.0)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# Mode wait: the expected images are evidence only, so once the wait is over a render still
# running gets this long, no more (a detected success is not held back by kustomize).
RENDER_GRACE = 2.0
_APP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_SELECTOR = re.compile(r"^[A-Za-z0-9._/=!,() -]{1,1024}$")
_SYNC_OPTION = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}=[A-Za-z0-9_.-]{1,64}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,511}$")

INPUTS: tuple[InputSpec, ...] = (
    InputSpec(
        "server",
        "Argo CD server: host[:port] (https) or a URL (http only when written so)",
        required=True,
    ),
    InputSpec("token", "Argo CD API token (sent only in the Authorization header)", secret=True),
    InputSpec("username", "Argo CD user to log in as (with password), instead of token"),
    InputSpec("password", "password of username", secret=True),
    InputSpec(
        "insecure", "skip TLS certificate verification (a warning says so)", kind="bool", default=False
    ),
    InputSpec("ca-file", "PEM file of the CA that signed the server's certificate"),
    InputSpec("app-namespace", "namespace of the applications (apps in any namespace)"),
    InputSpec("applications", "application names (one or several); or selector", kind="list", default=()),
    InputSpec("selector", "label selector of the applications (ApplicationSet-generated), e.g. team=web"),
    InputSpec(
        "expected-revision",
        "the revision every app must be synced at: a sha (prefix of 7 or more) or a Helm chart version; "
        "one per source for multi-source apps (* skips a source); default: HEAD of repo-path",
        kind="list",
        default=(),
    ),
    InputSpec("repo-path", "the config repo checkout (expected revision, release manifests)", default="."),
    InputSpec(
        "timeout",
        "give up after this long, e.g. 10m (never infinite; 0 refused)",
        kind="duration",
        default=DEFAULT_TIMEOUT,
    ),
    InputSpec(
        "degraded-grace",
        "how long Degraded (or an *Error condition) is tolerated before the wait fails; 0 = at once",
        kind="duration",
        default=DEFAULT_GRACE,
    ),
    InputSpec(
        "poll-interval",
        "how often to poll when the stream is unavailable (streaming: an app silent so long is re-read)",
        kind="duration",
        default=DEFAULT_POLL,
    ),
    InputSpec("stream", "watch the event stream (false: poll only)", kind="bool", default=True),
    InputSpec("allow-suspended", "count health Suspended as done", kind="bool", default=False),
    InputSpec(
        "accept-descendant",
        "when Argo CD is Synced at a later commit that contains the expected one (a push landed "
        "after it), accept that commit; false: fail at once, since the expected one will never be reported",
        kind="bool",
        default=True,
    ),
    InputSpec(
        "refresh", "refresh the apps at start: none, normal or hard", default="normal", choices=REFRESH
    ),
    InputSpec("sync", "trigger a sync of every app and wait for that operation", kind="bool", default=False),
    InputSpec("prune", "sync: prune resources that are no longer in git", kind="bool", default=False),
    InputSpec("revision", "sync: the revision to sync (default: the expected revision)"),
    InputSpec("sync-options", "sync: options such as ServerSideApply=true", kind="list", default=()),
    InputSpec(
        "mode",
        "wait: wait for Synced + Healthy at the expected revision; drift-report: report desired vs live "
        "images and resources not Synced / Healthy (no wait, no sync)",
        default="wait",
        choices=MODES,
    ),
    InputSpec("fail-on-drift", "drift-report: exit 1 when any app drifts", kind="bool", default=False),
    InputSpec(
        "images",
        "expected images (image:tag[@digest]); default: the release manifest",
        kind="list",
        default=(),
    ),
    InputSpec(
        "manifest-path",
        "release-manifest.json inside repo-path (default: beside the app's overlay, when present)",
    ),
    InputSpec("evidence-path", "where the JSON evidence bundle is written", default="argocd-evidence.json"),
)


# -- inputs ------------------------------------------------------------------------------------


def _plain(name: str, raw: str, *, what: str, fix: str) -> str:
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in raw) or len(raw) > 255 or raw.startswith("-"):
        raise InputError(name, f"'{raw[:60]}' is not {what}", fix=fix)
    return raw


def check_revision(name: str, raw: str, *, allow_skip: bool) -> str:
    """A full sha or a prefix of >= 7 hex digits, or a non-sha revision (a Helm chart version);
    ``*`` skips a source when ``allow_skip``."""
    text = raw.strip()
    if allow_skip and text == "*":
        return text
    _plain(name, text, what="a revision", fix="give a commit sha (7 or more hex digits) or a chart version")
    if text.upper() == "HEAD":
        raise InputError(
            name,
            "'HEAD' is a ref, and Argo CD reports the commit it resolves to",
            fix=f"leave {name} empty to use the commit checked out in repo-path, or give a sha",
        )
    if _HEX.match(text) and (len(text) < 7 or len(text) > 64):
        raise InputError(
            name,
            f"'{text}' is {'too short for' if len(text) < 7 else 'longer than'} a commit sha",
            fix="give the full sha or a prefix of at least 7 hex digits",
        )
    return text


def _positive(name: str, value: float, *, zero: bool = False, most: float | None = None) -> float:
    """A duration > 0 (>= 0 with ``zero``), at most 24 h, and at most ``most`` (the timeout) when
    given: waits and queue timeouts stay far below ``threading.TIMEOUT_MAX`` and a typo such as
    ``100000h`` is refused instead of waiting forever."""
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise InputError(
            name,
            f"{value:g}s is not allowed" + ("" if zero else ": it must be more than 0"),
            fix="give a duration like 90s or 10m",
        )
    if value > MAX_TIMEOUT:
        raise InputError(
            name,
            f"{value:g}s is longer than 24h (and a GitHub Actions job is cancelled after 6h)",
            fix="give a duration of at most 24h, like 10m or 1h",
        )
    if most is not None and value > most:
        raise InputError(
            name,
            f"{value:g}s is longer than the timeout ({most:g}s)",
            fix=f"give at most the timeout for {name}, or raise timeout",
        )
    return value


@dataclass(frozen=True)
class Inputs:
    server: str
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    insecure: bool = False
    ca_file: str | None = None
    app_namespace: str | None = None
    applications: tuple[str, ...] = ()
    selector: str | None = None
    expected_revision: tuple[str, ...] = ()
    repo_path: str = "."
    timeout: float = DEFAULT_TIMEOUT
    degraded_grace: float = DEFAULT_GRACE
    poll_interval: float = DEFAULT_POLL
    stream: bool = True
    allow_suspended: bool = False
    accept_descendant: bool = True
    refresh: str = "normal"
    sync: bool = False
    prune: bool = False
    revision: str | None = None
    sync_options: tuple[str, ...] = ()
    mode: str = "wait"
    fail_on_drift: bool = False
    images: tuple[str, ...] = ()
    manifest_path: str | None = None
    evidence_path: str = "argocd-evidence.json"

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        v = {spec.name: reader.get(spec) for spec in INPUTS}
        server = normalize_server(v["server"])
        token, username, password = v["token"], v["username"], v["password"]
        if token is not None and (username is not None or password is not None):
            raise InputError(
                "token",
                "is given together with username/password",
                fix="give a token, or username and password",
            )
        if (username is None) != (password is None):
            missing = "password" if username is not None else "username"
            raise InputError(
                missing,
                "is required with " + ("username" if missing == "password" else "password"),
                fix="give both username and password, or a token",
            )
        if username is not None:
            _plain("username", username, what="a user name", fix="give an Argo CD local user, e.g. admin")
        ca_file = v["ca-file"]
        if ca_file is not None:
            if v["insecure"]:
                raise InputError(
                    "ca-file",
                    "is given with insecure: true, which skips verification",
                    fix="give ca-file to verify with that CA, or insecure: true, not both",
                )
            if not Path(ca_file).is_file():
                raise InputError(
                    "ca-file", f"'{ca_file}' is not a file", fix="give the path of a PEM CA file"
                )
        namespace = v["app-namespace"]
        if namespace is not None and not _NAMESPACE.match(namespace):
            raise InputError(
                "app-namespace",
                f"'{namespace[:64]}' is not a namespace name",
                fix="give a Kubernetes namespace, e.g. argocd",
            )
        apps = tuple(dict.fromkeys(v["applications"]))
        selector = v["selector"]
        if selector is not None:
            selector = selector.strip()
        if bool(apps) == bool(selector):
            raise InputError(
                "applications",
                "and selector are both given" if apps else "or selector is required",
                fix="give application names, or a label selector such as team=web (exactly one of them)",
            )
        for app in apps:
            if not _APP_NAME.match(app):
                raise InputError(
                    "applications",
                    f"'{app[:64]}' is not an application name",
                    fix="give names as Argo CD shows them, e.g. guestbook",
                )
        if selector is not None and not _SELECTOR.match(selector):
            raise InputError(
                "selector",
                f"'{selector[:64]}' is not a label selector",
                fix="write it like team=web,tier!=batch or env in (prod,stage)",
            )
        expected = tuple(
            check_revision("expected-revision", raw, allow_skip=True) for raw in v["expected-revision"]
        )
        if expected and all(value == "*" for value in expected):
            raise InputError("expected-revision", "skips every source", fix="give at least one revision")
        mode = v["mode"]
        timeout = _positive("timeout", v["timeout"])
        # Given values beyond the timeout are a mistake; the defaults (60s, 5s) shrink to a short one.
        given = {name: reader.raw(name) is not None for name in ("degraded-grace", "poll-interval")}
        grace = _positive(
            "degraded-grace",
            v["degraded-grace"] if given["degraded-grace"] else min(v["degraded-grace"], timeout),
            zero=True,
            most=timeout,
        )
        poll = _positive(
            "poll-interval",
            v["poll-interval"] if given["poll-interval"] else min(v["poll-interval"], timeout),
            most=timeout,
        )
        if not v["sync"]:
            for name in ("prune", "revision", "sync-options"):
                if v[name]:
                    raise InputError(
                        name,
                        "only applies with sync: true",
                        fix=f"set sync: true to trigger a sync, or drop {name}",
                    )
        if mode == "drift-report" and v["sync"]:
            raise InputError(
                "sync",
                "is true with mode drift-report, which never changes anything",
                fix="use mode: wait to sync, or drop sync",
            )
        if v["fail-on-drift"] and mode != "drift-report":
            raise InputError(
                "fail-on-drift",
                "only applies with mode: drift-report",
                fix="set mode: drift-report, or drop fail-on-drift",
            )
        revision = v["revision"]
        if revision is not None:
            revision = check_revision("revision", revision, allow_skip=False)
        for option in v["sync-options"]:
            if not _SYNC_OPTION.match(option):
                raise InputError(
                    "sync-options",
                    f"'{option[:64]}' is not a sync option",
                    fix="write each as Name=value, e.g. ServerSideApply=true",
                )
        for image in v["images"]:
            if not _IMAGE.match(image):
                raise InputError(
                    "images",
                    f"'{image[:64]}' is not an image reference",
                    fix="give image:tag or image@sha256:…",
                )
        manifest = v["manifest-path"]
        if manifest is not None:
            manifest = parse_relative_path(
                "manifest-path", manifest, example="overlays/prod/release-manifest.json"
            )
        evidence_path = v["evidence-path"].strip()
        if any(ord(ch) < 32 for ch in evidence_path):
            raise InputError("evidence-path", "contains control characters", fix="give a plain file path")
        return cls(
            server=server,
            token=token,
            username=username,
            password=password,
            insecure=v["insecure"],
            ca_file=ca_file,
            app_namespace=namespace,
            applications=apps,
            selector=selector,
            expected_revision=expected,
            repo_path=v["repo-path"],
            timeout=timeout,
            degraded_grace=grace,
            poll_interval=poll,
            stream=v["stream"],
            allow_suspended=v["allow-suspended"],
            accept_descendant=v["accept-descendant"],
            refresh=v["refresh"],
            sync=v["sync"],
            prune=v["prune"],
            revision=revision,
            sync_options=tuple(v["sync-options"]),
            mode=mode,
            fail_on_drift=v["fail-on-drift"],
            images=tuple(v["images"]),
            manifest_path=manifest,
            evidence_path=evidence_path,
        )


# -- outputs -----------------------------------------------------------------------------------


@dataclass
class AppResult:
    """What the summary, the outputs and the evidence say about one application."""

    name: str
    observation: rules.AppObservation | None
    expectation: rules.Expectation
    assessment: rules.Assessment
    transitions: Sequence[rules.Transition] = ()
    duration: float = 0.0
    expected_images: tuple[str, ...] = ()
    images_source: str = "none"
    drift: tuple[rules.ImageDrift, ...] = ()

    @property
    def synced_revision(self) -> str:
        revisions = self.observation.revisions if self.observation else ()
        return ",".join(revisions)

    def row(self) -> dict[str, Any]:
        obs = self.observation
        return {
            "name": self.name,
            "sync": obs.sync_status if obs else "Unknown",
            "health": obs.health_status if obs else "Unknown",
            "revision": self.synced_revision,
            "verdict": self.assessment.verdict.name.lower(),
        }


@dataclass
class Outputs:
    mode: str = "wait"
    results: list[AppResult] = field(default_factory=list)
    evidence_path: str = ""
    duration_seconds: float = 0.0
    gantt: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        return any(
            result.drift or (result.observation and result.observation.resources_not_ready)
            for result in self.results
        )

    @property
    def sync_status(self) -> str:
        statuses = [row["sync"] for row in self.applications]
        if statuses and all(s == "Synced" for s in statuses):
            return "Synced"
        return "Unknown" if not statuses or "Unknown" in statuses else "OutOfSync"

    @property
    def health_status(self) -> str:
        return rules.worst_health(row["health"] for row in self.applications) if self.results else "Unknown"

    @property
    def applications(self) -> list[dict[str, Any]]:
        return [result.row() for result in self.results]

    def as_dict(self) -> dict[str, Any]:
        revisions = list(dict.fromkeys(r.synced_revision for r in self.results if r.synced_revision))
        values: dict[str, Any] = {
            "sync-status": self.sync_status,
            "health-status": self.health_status,
            "revision": ",".join(revisions),
            "evidence-path": self.evidence_path,
            "duration-seconds": round(self.duration_seconds, 3),
            "applications": self.applications,
        }
        if self.mode == "drift-report":
            values["drift"] = self.drift
        return values

    def summary(self) -> str:
        lines = [f"### await-argocd-sync ({self.mode})", ""]
        for result in self.results:
            lines += [_app_table(result), ""]
        if self.gantt:
            lines += [self.gantt.rstrip("\n"), ""]
        lines += [f"- {note}" for note in self.notes]
        if self.evidence_path:
            lines.append(f"Evidence: `{self.evidence_path}`")
        return "\n".join(lines) + "\n"

    def report(self) -> str:
        lines = []
        for result in self.results:
            row = result.row()
            revision = row["revision"] or "-"
            state = f"{row['sync']} · {row['health']} · rev {revision} · {row['verdict']}"
            lines.append(f"{row['name']}: {state}")
            for drift in result.drift:
                lines.append(
                    f"  drift {drift.image}: expected {drift.expected or '-'}, live {drift.live or '-'}"
                )
        lines += self.notes
        lines.append(f"evidence: {self.evidence_path}")
        return "\n".join(lines)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def _app_table(result: AppResult) -> str:
    obs = result.observation
    expected = ", ".join(r or "*" for r in result.expectation.revisions)
    rows: list[tuple[str, object]] = [
        ("verdict", f"{result.assessment.verdict.name.lower()}: {result.assessment.reason}")
    ]
    if obs is not None:
        rows += [
            ("project", obs.project),
            ("destination", obs.destination),
            ("sync", obs.sync_status),
            ("health", obs.health_status + (f" ({obs.health_message})" if obs.health_message else "")),
            ("operation", f"{obs.phase or '-'} {obs.started_at or ''} → {obs.finished_at or ''}".strip()),
            ("revision", f"{result.synced_revision or '-'} (expected {expected})"),
            ("live images", ", ".join(obs.images)),
        ]
    rows.append(("expected images", f"{', '.join(result.expected_images) or '-'} ({result.images_source})"))
    rows += [
        (f"drift {d.image}", f"expected {d.expected or '-'}, live {d.live or '-'}") for d in result.drift
    ]
    if obs is not None:
        rows += [
            (f"not ready {r.kind}/{r.name}", f"{r.status} · {r.health} {r.message}".strip())
            for r in obs.resources_not_ready[:20]
        ]
        rows += [(f"condition {c.type}", c.message) for c in obs.conditions]
    rows.append(("duration", f"{result.duration:.1f}s"))
    lines = [f"#### {result.name}", "", "| | |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]
    return "\n".join(lines)


# -- the expected revision and images ----------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """The expected revision value(s) (one, or one per source; empty: not checked), the checkout's
    origin URL (which sources of a multi-source app a single value applies to) and its root;
    ``defaulted``: the value is HEAD of repo-path (expected-revision not given), so it can only
    be the revision of an app that tracks repo-path's repository."""

    values: tuple[str, ...]
    repo_url: str | None
    repo_root: Path | None
    defaulted: bool = False


def resolve_expected(inputs: Inputs, ctx: Context) -> Expected:
    """expected-revision, else HEAD of repo-path (git, no network): an InputError naming repo-path
    when it is not a checkout (drift-report then compares no revision)."""
    root = Path(inputs.repo_path)
    if not root.is_absolute():
        root = ctx.workdir / root
    git = Git(root) if root.is_dir() else None
    top = git.toplevel() if git is not None else None
    values = inputs.expected_revision
    if not values and inputs.mode == "wait":
        if git is None or top is None:
            raise InputError(
                "repo-path",
                f"'{inputs.repo_path}' is not a git checkout, so the expected revision cannot default to "
                "the commit it holds",
                fix="check out the config repository there (actions/checkout), or give expected-revision",
            )
        head = git.rev_parse("HEAD")
        if head is None:
            raise InputError(
                "repo-path",
                f"'{inputs.repo_path}' has no commit checked out",
                fix="check out a commit of the config repository, or give expected-revision",
            )
        values = (head,)
    elif not values and git is not None and top is not None:
        head = git.rev_parse("HEAD")
        values = (head,) if head else ()
    defaulted = bool(values) and not inputs.expected_revision
    if defaulted and ctx.env.get("GITHUB_EVENT_NAME", "").startswith("pull_request"):
        ctx.console.annotation(
            "warning",
            "expected-revision defaults to HEAD of repo-path, and in a pull_request run that is the "
            "merge commit actions/checkout made, which Argo CD never sees: run on push, or give "
            "expected-revision",
            title="await-argocd-sync",
        )
    repo_url = git.remote_url("origin") if git is not None and top is not None else None
    return Expected(values, repo_url, root if root.is_dir() else None, defaulted)


def app_path(obs: rules.AppObservation, repo_url: str | None) -> str | None:
    """The directory of the app's source in the config repo: the source from the checkout's repo,
    else the first git source with a path."""
    candidates = [s for s in obs.sources if s.path and not s.chart]
    if repo_url:
        matching = [s for s in candidates if rules.same_repository(s.repo_url, repo_url)]
        candidates = matching or candidates
    if not candidates:
        return None
    path = PurePosixPath(candidates[0].path or ".")
    if path.is_absolute() or ".." in path.parts:  # from the server: never leads out of the checkout
        return None
    return str(path)


def manifest_images(root: Path, rel: str, name: str = "manifest-path") -> tuple[str, ...] | None:
    """Every image reference of the release manifest ``rel`` (promote-overlay's format), or None
    when there is no such file; ConfigError when it is not a release manifest."""
    path = path_in_checkout(root, rel, name)
    if path.is_file() and path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ConfigError(
            f"{name} {rel} is larger than {MAX_MANIFEST_BYTES} bytes", fix="give a release manifest"
        )
    text = read_text_if_exists(path, name, rel)
    if text is None:
        return None
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ConfigError(
            f"{name} {rel} is not JSON", fix="point it at promote-overlay's release-manifest.json"
        ) from None
    images = document.get("images") if isinstance(document, dict) else None
    if not isinstance(document, dict) or document.get("schemaVersion") != 1 or not isinstance(images, list):
        raise ConfigError(
            f"{name} {rel} is not a release manifest (schemaVersion 1 with images)",
            fix="point it at promote-overlay's release-manifest.json (schemas/release-manifest.schema.json)",
        )
    refs = [i["reference"] for i in images if isinstance(i, dict) and isinstance(i.get("reference"), str)]
    return tuple(dict.fromkeys(refs))


class ImageResolver:
    """Expected images per app: the images input, else the release manifest (manifest-path, or
    release-manifest.json beside the app's overlay in repo-path), else the overlay rendered with
    kustomize. Resolved on background threads as apps are first seen (a render takes a moment; the
    wait must not), collected at the end within the deadline. ``strict`` (drift-report) re-raises
    what went wrong; otherwise it becomes a note and the source "none"."""

    def __init__(
        self,
        inputs: Inputs,
        ctx: Context,
        expected: Expected,
        *,
        deadline: float,
        clock: Callable[[], float],
        strict: bool,
    ) -> None:
        self.inputs, self.ctx, self.expected = inputs, ctx, expected
        self.deadline, self.clock, self.strict = deadline, clock, strict
        self._threads: dict[str, threading.Thread] = {}
        self._results: dict[str, tuple[tuple[str, ...], str]] = {}
        self._errors: dict[str, ReleaseError] = {}
        self._renders = threading.Semaphore(2)
        self.notes: list[str] = []

    def start(self, name: str, obs: rules.AppObservation) -> None:
        if name in self._threads:
            return
        if self.inputs.images:
            self._results[name] = (self.inputs.images, "input")
        thread = threading.Thread(target=self._resolve, args=(name, obs), name=f"images {name}", daemon=True)
        self._threads[name] = thread
        if name not in self._results:
            thread.start()

    def _resolve(self, name: str, obs: rules.AppObservation) -> None:
        try:
            self._results[name] = self.resolve(obs)
        except ReleaseError as exc:
            self._errors[name] = exc
        except Exception as exc:  # noqa: BLE001 - evidence must not crash the wait; reported as a note
            self._errors[name] = ConfigError(f"expected images of {name}: {type(exc).__name__}: {exc}")

    def resolve(self, obs: rules.AppObservation) -> tuple[tuple[str, ...], str]:
        root = self.expected.repo_root
        if root is None:
            return (), "none"
        path = app_path(obs, self.expected.repo_url)
        if self.inputs.manifest_path is not None:
            found = manifest_images(root, self.inputs.manifest_path)
            if found is None:
                raise ConfigError(
                    f"manifest-path {self.inputs.manifest_path} does not exist in repo-path",
                    fix="give the path of a release-manifest.json inside repo-path",
                )
            return found, "manifest"
        if path is None:
            return (), "none"
        beside = manifest_images(root, str(PurePosixPath(path) / "release-manifest.json"), "repo-path")
        if beside is not None:
            return beside, "manifest"
        return self._render(root, path)

    def _render(self, root: Path, path: str) -> tuple[tuple[str, ...], str]:
        from gitops_release.adapters.kustomize import find_kubectl, render_resources

        directory = path_in_checkout(root, path, "repo-path")
        if not any(
            (directory / n).is_file() for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")
        ):
            return (), "none"
        binary = find_kubectl(self.ctx.env, field="images")
        if binary is None:
            self.notes.append(f"{path}: no kubectl to render the overlay; give images or a release manifest")
            return (), "none"
        with self._renders:
            left = self.deadline - self.clock()
            if left <= 0.5:
                return (), "none"
            resources = render_resources(
                directory, binary=binary, shown=path, env=self.ctx.env, timeout=min(120.0, left)
            )
        images = [c.image for r in resources for c in r.containers]
        return tuple(dict.fromkeys(images)), "render"

    def result(self, name: str, *, until: float | None = None) -> tuple[tuple[str, ...], str]:
        """The expected images of ``name`` and their source, waiting for its render until
        ``until`` (clock time; default and at most the deadline)."""
        limit = self.deadline if until is None else min(until, self.deadline)
        thread = self._threads.get(name)
        if thread is not None and thread.is_alive():
            thread.join(max(0.0, limit - self.clock()))
        if name in self._results:
            return self._results[name]
        error = self._errors.get(name)
        if error is not None:
            if self.strict:
                raise error
            self.notes.append(f"{name}: expected images unknown: {error.one_line()}")
        elif thread is not None and thread.is_alive():
            self.notes.append(
                f"{name}: expected images unknown: the render did not finish in time "
                "(give images or a release manifest to record them)"
            )
        return (), "none"


# -- watching ----------------------------------------------------------------------------------

# app key (see Waiter.key) -> the Application, or the 404 / 403 a GET of a named app got (gone,
# or never there)
Snapshot = dict[str, "dict[str, Any] | ArgoCDNotFoundError | ArgoCDAuthError"]
# Where Argo CD keeps Applications unless apps-in-any-namespace puts them elsewhere: an app there
# is named by its bare name in outputs, summary and evidence; any other as namespace/name.
DEFAULT_APP_NAMESPACE = "argocd"


def transient(exc: BaseException) -> bool:
    """A failure that may pass (server down, 5xx, 429, connection reset): retried until the deadline.
    Configuration errors (TLS verification, an unknown host, an answer that is not Argo CD's) are
    ``permanent``: retrying them only hides the fix until the timeout."""
    if getattr(exc, "permanent", False):
        return False
    if isinstance(exc, (ArgoCDAuthError, ArgoCDNotFoundError)):
        return False
    if isinstance(exc, (RetryExhaustedError, ArgoCDStreamError)):
        return True
    return isinstance(exc, APIError) and (exc.status is None or exc.status >= 500 or exc.status == 429)


def _name_of(app: Mapping[str, Any]) -> tuple[str | None, str] | None:
    """(namespace, name) of an Application from its metadata; the namespace None when the object
    has none (the caller knows which one it asked for). None when the name or the namespace is not
    a Kubernetes name (a lying server): such an object is ignored, never waited for."""
    metadata = app.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not _APP_NAME.match(name):
        return None
    if namespace is None or namespace == "":
        return None, name
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        return None
    return namespace, name


def _bounded(seconds: float) -> float:
    """A timeout any threading / queue wait accepts (they raise OverflowError past TIMEOUT_MAX)."""
    return min(max(0.0, seconds), threading.TIMEOUT_MAX)


class Watcher(threading.Thread):
    """Reads ONE watch stream into ``events``: on every (re)connect a snapshot (GET / list) first,
    then the stream's events. Puts ("snapshot", Snapshot), ("event", WatchEvent), ("dropped", exc),
    ("transient", exc), ("fallback", exc) (stop streaming: poll) or ("error", exc) (fatal)."""

    def __init__(
        self,
        client: ArgoCDClient,
        snapshot: Callable[[], Snapshot],
        events: queue.Queue[Any],
        *,
        name: str | None,
        selector: str | None,
        pause: float,
    ) -> None:
        super().__init__(name="argocd watch", daemon=True)
        self.client, self.snapshot, self.events = client, snapshot, events
        self.app_name, self.selector, self.pause = name, selector, pause
        self.stopped = threading.Event()
        self.connections = 0

    def stop(self) -> None:
        """Stop reading; closing the client also ends a read blocked on a quiet stream (the
        caller joins the thread)."""
        self.stopped.set()
        self.client.close()

    def _put(self, item: tuple[str, Any]) -> None:
        if not self.stopped.is_set():
            self.events.put(item)

    def run(self) -> None:
        failures = 0
        while not self.stopped.is_set():
            try:
                self._put(("snapshot", self.snapshot()))
            except ReleaseError as exc:
                if not transient(exc):
                    self._put(("error", exc))
                    return
                self._put(("transient", exc))
                self.stopped.wait(_bounded(self.pause))
                continue
            except Exception as exc:  # noqa: BLE001 - a bug (a wrong shape): reported, never a silent hang
                self._put(("error", exc))
                return
            delivered = False
            try:
                self.connections += 1
                for event in self.client.watch(
                    name=self.app_name, selector=self.selector, read_timeout=STREAM_READ_TIMEOUT
                ):
                    if self.stopped.is_set():
                        return
                    delivered, failures = True, 0
                    self._put(("event", event))
                raise ArgoCDStreamError("the watch stream ended")
            except ArgoCDAuthError as exc:
                self._put(("error", exc))
                return
            except ReleaseError as exc:
                failures = 0 if delivered else failures + 1
                if failures >= STREAM_FAILURES or (not isinstance(exc, ArgoCDError) and not transient(exc)):
                    self._put(("fallback", exc))
                    return
                self._put(("dropped", exc))
                if not delivered:
                    self.stopped.wait(_bounded(self.pause * failures))
            except Exception as exc:  # noqa: BLE001 - a bug in the stream reader: reported (the main thread
                # raises it, with the evidence), not hidden behind polling until the timeout
                self._put(("error", exc))
                return


def _state(obs: rules.AppObservation | None) -> str:
    if obs is None:
        return "never observed"
    revision = ",".join(r[:12] for r in obs.revisions) or "-"
    message = " ".join(obs.phase_message.split())[:200]
    if message and obs.phase not in (None, "Succeeded"):
        revision += f", operation message: {message}"
    return (
        f"sync {obs.sync_status}, health {obs.health_status}, operation {obs.phase or '-'}"
        f"{' (running)' if obs.operation_in_flight else ''}, revision {revision}"
    )


def _seconds(value: float) -> str:
    return f"{value:g}s" if value < 120 else f"{value / 60:g}m"


class ConfigHistory:
    """``rules.Lineage`` from repo-path (git): does commit R of the config repository contain the
    expected commit A? Asked when an app is Synced at R instead of A (a later push reached Argo CD
    first). R is fetched from origin when the checkout lacks it, and both with history
    (``FETCH_DEPTH``) in a shallow clone (actions/checkout fetches one commit), within the deadline.
    Any failure is "could not tell" (the wait goes on and its timeout message says why), asked
    again after ``retry`` seconds; a yes or no is final."""

    FETCH_DEPTH = 100

    def __init__(
        self,
        expected: Expected,
        *,
        deadline: float,
        clock: Callable[[], float],
        say: Callable[[str], None],
        debug: Callable[[str], None],
        retry: float,
    ) -> None:
        self.origin = expected.repo_url
        self.git = Git(expected.repo_root, log=debug) if expected.repo_root is not None else None
        self.deadline, self.clock, self.say, self.retry = deadline, clock, say, retry
        self.answers: dict[tuple[str, str], tuple[rules.Ancestry, float]] = {}

    def contains(self, repo_url: str, newer: str, older: str) -> rules.Ancestry:
        key = (newer.lower(), older.lower())
        known = self.answers.get(key)
        if known is not None and (known[0].contains is not None or self.clock() < known[1]):
            return known[0]
        try:
            answer = self._ask(repo_url, *key)
        except ReleaseError as exc:  # git timed out or is missing
            answer = rules.Ancestry(None, exc.message)
        self.answers[key] = (answer, self.clock() + self.retry)
        if answer.contains:
            self.say(
                f"Argo CD reports {newer[:12]}, a later commit of the config repository that contains "
                f"the expected {older[:12]}"
            )
        return answer

    def _ask(self, repo_url: str, newer: str, older: str) -> rules.Ancestry:
        git = self.git
        if git is None:
            return rules.Ancestry(None, "repo-path is not a git checkout")
        if self.origin and repo_url and not rules.same_repository(repo_url, self.origin):
            return rules.Ancestry(None, "the app's source is not repo-path's repository")
        if not all(_HEX.match(sha) and len(sha) in (40, 64) for sha in (newer, older)):
            return rules.Ancestry(None, "not commit shas")  # never passed to git
        shallow = git.run("rev-parse", "--is-shallow-repository", check=False).out.strip() == "true"
        missing = [sha for sha in (newer, older) if git.rev_parse(sha) is None]
        if missing or shallow:
            left = self.deadline - self.clock()
            if left < 1:
                return rules.Ancestry(None, f"no time left to fetch {newer[:12]} from origin")
            depth = [f"--depth={self.FETCH_DEPTH}"] if shallow else []
            wanted = [newer, older] if shallow else missing
            fetched = git.run(
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                *depth,
                "origin",
                *wanted,
                check=False,
                timeout=min(60.0, left),
            )
            if fetched.rc != 0:
                line = " ".join((fetched.err.strip().splitlines() or ["no message"])[-1].split())
                return rules.Ancestry(None, f"git fetch of {newer[:12]} from origin failed: {line[:200]}")
        result = git.run("merge-base", "--is-ancestor", older, newer, check=False)
        if result.rc == 0:
            return rules.Ancestry(True)
        if result.rc != 1:
            line = " ".join((result.err.strip().splitlines() or ["no message"])[-1].split())
            return rules.Ancestry(None, f"git merge-base failed: {line[:200]}")
        if shallow and git.run("merge-base", older, newer, check=False).rc != 0:
            return rules.Ancestry(
                None, f"the last {self.FETCH_DEPTH} commits of {newer[:12]} and {older[:12]} do not meet"
            )
        return rules.Ancestry(False)


class Waiter:
    """The app set, one WaitTracker per app, and the loop that feeds them until done, failed or
    the deadline."""

    def __init__(
        self,
        inputs: Inputs,
        ctx: Context,
        client: ArgoCDClient,
        connection: ArgoCDConnection,
        expected: Expected,
        images: ImageResolver,
        *,
        started: float,
        deadline: float,
        clock: Callable[[], float],
    ) -> None:
        self.inputs, self.ctx, self.client, self.expected, self.images = inputs, ctx, client, expected, images
        self.started, self.deadline, self.clock = started, deadline, clock
        self.order: list[str] = list(inputs.applications)
        self.trackers: dict[str, rules.WaitTracker] = {}
        self.expectations: dict[str, rules.Expectation] = {}
        self.assessments: dict[str, rules.Assessment] = {}
        self.requested: dict[str, datetime] = {}
        self.last_refresh: dict[str, float] = {}
        # when each app was last observed (any source) or re-read because its stream was silent
        self.checked: dict[str, float] = {}
        self.last_error: ReleaseError | None = None
        # named apps without app-namespace: the namespace the GET found each in (Argo CD's own)
        self.home: dict[str, str] = {}
        self.events: queue.Queue[Any] = queue.Queue()
        self.watchers: list[Watcher] = []
        self.connection = connection
        self.polling = not inputs.stream

    # -- observations --------------------------------------------------------------------------

    def say(self, message: str) -> None:
        self.ctx.console.info(message)

    #: answers "does R contain the expected commit" for every app (made on first use)
    config_history: ConfigHistory | None = None

    # -- which apps ----------------------------------------------------------------------------
    #
    # Every app is identified by namespace AND name: with apps in any namespace, team-a/web and
    # argocd/web are different apps, and events of the one must never decide the wait for the
    # other. An app's key (trackers, outputs, summary, evidence file names) is its bare name when
    # it is in the namespace the apps are looked up in (app-namespace, else Argo CD's own
    # namespace), so single-namespace outputs read as they always did; else "namespace/name", the
    # form `argocd app get` takes. Keys are unique: a name holds no "/".

    def key(self, namespace: str, name: str) -> str:
        if self.inputs.selector is None:
            return name  # named apps are all in app-namespace (or Argo CD's own namespace)
        home = self.inputs.app_namespace or DEFAULT_APP_NAMESPACE
        return name if namespace == home else f"{namespace}/{name}"

    def where(self, key: str) -> tuple[str | None, str]:
        """(appNamespace to ask for, name) of an app key; None = the connection's (app-namespace,
        else Argo CD's own namespace)."""
        if self.inputs.selector is None:
            return None, key
        namespace, _, name = key.rpartition("/")
        return namespace or self.inputs.app_namespace or DEFAULT_APP_NAMESPACE, name

    def wanted(self, app: Mapping[str, Any]) -> str | None:
        """The key of ``app`` when this wait is about it, else None (the object is dropped): names:
        one of them, in app-namespace (or the namespace the GET found it in); selector: any
        namespace, or only app-namespace when given (Argo CD filters a stream by namespace only
        together with a name, and lists every namespace without app-namespace)."""
        found = _name_of(app)
        if found is None:
            return None
        namespace, name = found
        if self.inputs.selector is None:
            home = self.inputs.app_namespace or self.home.get(name)
            if name not in self.inputs.applications or home is None:
                return None  # not asked for, or not found by a GET yet (which always comes first)
            return name if namespace in (None, home) else None
        namespace = namespace or self.inputs.app_namespace or DEFAULT_APP_NAMESPACE
        if self.inputs.app_namespace is not None and namespace != self.inputs.app_namespace:
            return None
        return self.key(namespace, name)

    def learn(self, name: str, app: Mapping[str, Any]) -> None:
        """The namespace a GET of a named app answered with: the one its events must carry."""
        found = _name_of(app)
        namespace = found[0] if found is not None else None
        wanted = self.inputs.app_namespace
        if wanted is None:
            self.home[name] = namespace or DEFAULT_APP_NAMESPACE
        elif namespace is not None and namespace != wanted:
            raise ConfigError(
                f"Argo CD answered application {namespace}/{name} when asked for {wanted}/{name}: it "
                "does not look applications up by app-namespace",
                fix="applications in other namespaces need Argo CD 2.5 or later with the namespace "
                "in application.namespaces; or drop app-namespace",
            )

    def get(self, client: ArgoCDClient, key: str, refresh: str | None) -> dict[str, Any]:
        namespace, name = self.where(key)
        if namespace is None:
            return client.get_application(name, refresh=refresh)
        return client.get_application(name, refresh=refresh, app_namespace=namespace)

    def expectation(self, obs: rules.AppObservation) -> rules.Expectation:
        unchecked = rules.Expectation(
            tuple(None for _ in obs.sources) or (None,), self.inputs.allow_suspended
        )
        if not self.expected.values:
            return unchecked
        if not self.tracks_checkout(obs):
            if self.inputs.mode == "drift-report":
                return unchecked  # HEAD of another repository says nothing about this app
            origin = evidence.public_url(self.expected.repo_url or "")
            tracked = ", ".join(evidence.public_url(s.repo_url) for s in obs.sources) or "no repository"
            raise InputError(
                "repo-path",
                f"'{self.inputs.repo_path}' is a checkout of {origin}, but application {obs.name} tracks "
                f"{tracked}: HEAD of repo-path ({self.expected.values[0][:12]}) can never be its revision",
                fix="check out the config repository the app tracks in repo-path (actions/checkout with "
                "repository: owner/name), or give expected-revision",
            )
        try:
            revisions = rules.expected_per_source(obs, self.expected.values, self.expected.repo_url)
        except ValueError as exc:
            raise InputError(
                "expected-revision",
                f"does not fit application {obs.name} ({len(obs.sources)} sources): {exc}",
                fix="give one revision, or one per source of the app in spec.sources order (* skips one)",
            ) from None
        return rules.Expectation(
            revisions,
            allow_suspended=self.inputs.allow_suspended,
            accept_descendant=self.inputs.accept_descendant,
            lineage=self.lineage(),
        )

    def tracks_checkout(self, obs: rules.AppObservation) -> bool:
        """A defaulted expected revision (HEAD of repo-path) fits only an app with a source in
        repo-path's repository (compared by owner/name, as the sandbox maps repoURLs); true
        whenever that cannot be told (a given revision, no origin, an app with no sources yet)."""
        origin = self.expected.repo_url
        if not self.expected.defaulted or not origin or not rules.repo_key(origin) or not obs.sources:
            return True
        return any(rules.same_repository(s.repo_url, origin) for s in obs.sources)

    def lineage(self) -> ConfigHistory | None:
        """The config repository's history (wait mode only: a drift report fetches nothing)."""
        if self.inputs.mode != "wait" or self.expected.repo_root is None:
            return None
        if self.config_history is None:
            self.config_history = ConfigHistory(
                self.expected,
                deadline=self.deadline,
                clock=self.clock,
                say=self.say,
                debug=self.ctx.console.debug,
                retry=max(5.0, self.inputs.poll_interval),
            )
        return self.config_history

    def observe(self, name: str, app: Mapping[str, Any] | None, now: float) -> None:
        self.checked[name] = now
        tracker = self.trackers.get(name)
        if app is None:
            if tracker is None:
                return
            self.assessments[name] = tracker.update(None, now)
            self.say(f"{name}: deleted · {now - self.started:.1f}s")
            return
        obs = rules.observe(app)
        if tracker is None:
            if name not in self.order:
                self.order.append(name)
                self.say(f"{name}: found by selector {self.inputs.selector}")
            self.expectations[name] = self.expectation(obs)
            tracker = rules.WaitTracker(
                name, self.expectations[name], degraded_grace=self.inputs.degraded_grace, started=self.started
            )
            self.trackers[name] = tracker
            self.images.start(name, obs)
        previous = tracker.last
        assessment = tracker.update(obs, now)
        requested = self.requested.get(name)
        if requested is not None:
            started_at = rules.parse_timestamp(obs.started_at)
            if obs.operation_in_flight or (started_at is not None and started_at >= requested):
                del self.requested[name]  # the operation we asked for: from here on it decides
            else:
                assessment = rules.Assessment(
                    rules.Verdict.WAITING, "waiting for the requested sync to start"
                )
        self.assessments[name] = assessment
        if tracker.changed:
            line = rules.progress_line(
                name, obs, now - self.started, previous=previous, expected=self.expectations[name]
            )
            self.say(line)

    def apply(self, snapshot: Snapshot, now: float, *, first: bool = False) -> None:
        for name, app in snapshot.items():
            if isinstance(app, (ArgoCDNotFoundError, ArgoCDAuthError)):
                if name not in self.trackers:
                    raise app  # a named app that does not exist: said at once, with the app-namespace hint
                self.observe(name, None, now)
            else:
                if self.inputs.selector is None:
                    self.learn(name, app)
                self.observe(name, app, now)
        if self.inputs.selector is not None:
            for name in list(self.trackers):
                if name not in snapshot:
                    self.observe(name, None, now)

    # -- network -------------------------------------------------------------------------------

    def snapshot(
        self,
        *,
        refresh: str | None = None,
        client: ArgoCDClient | None = None,
        names: Sequence[str] | None = None,
    ) -> Snapshot:
        """Every app now (``names``: only these of the named apps), keyed by ``key``."""
        client = client or self.client
        if self.inputs.selector is not None:
            found: Snapshot = {}
            for app in client.list_applications(selector=self.inputs.selector):
                key = self.wanted(app)
                if key is not None:
                    found[key] = app
            if refresh:
                for key in list(found):
                    try:  # in the app's own namespace: a GET by bare name asks Argo CD's namespace
                        found[key] = self.get(client, key, refresh)
                    except (ArgoCDNotFoundError, ArgoCDAuthError) as exc:
                        if exc.status == 401:
                            raise
                        del found[key]  # deleted since the list (403 is also Argo CD's "no such app")
            return found
        result: Snapshot = {}
        for name in self.inputs.applications if names is None else names:
            try:
                result[name] = client.get_application(name, refresh=refresh)
            except ArgoCDNotFoundError as exc:
                result[name] = exc
            except ArgoCDAuthError as exc:
                # Argo CD answers 403 for an app that does not exist (so as not to tell who may not
                # see it that it does): for an app seen earlier in this wait, it was deleted.
                if exc.status != 403 or name not in self.trackers:
                    raise
                result[name] = exc
        return result

    def request_syncs(self) -> None:
        revision = self.inputs.revision
        for name in self.order:
            obs = self.trackers[name].last if name in self.trackers else None
            single = obs is not None and not obs.multi_source
            wanted = revision
            if wanted is None and single and len(self.expected.values) == 1:
                value = self.expected.values[0]
                # A short sha may not resolve on the repo server: sync the target revision then.
                full = len(value) in (40, 64) or not rules.is_sha_prefix(value)
                wanted = value if full and value != "*" else None
            requested = datetime.now(timezone.utc).replace(microsecond=0)
            self.say(
                f"{name}: sync requested (revision {wanted or 'target'}"
                f"{', prune' if self.inputs.prune else ''})"
            )
            namespace, app_name = self.where(name)
            where = {} if namespace is None else {"app_namespace": namespace}
            app = self.client.sync(
                app_name,
                revision=wanted,
                prune=self.inputs.prune,
                sync_options=self.inputs.sync_options,
                **where,
            )
            self.requested[name] = requested
            # What was seen before (an older operation, failed or not) no longer decides.
            self.assessments[name] = rules.Assessment(
                rules.Verdict.WAITING, "waiting for the requested sync to start"
            )
            if isinstance(app, Mapping) and app.get("metadata"):
                self.observe(name, app, self.clock())

    def refresh_stale(self, now: float) -> None:
        for name in self.order:
            assessment = self.assessments.get(name)
            if assessment is None or assessment.verdict is not rules.Verdict.STALE:
                continue
            if now - self.last_refresh.get(name, -math.inf) < self.inputs.poll_interval:
                continue
            self.last_refresh[name] = now
            self.say(f"{name}: {assessment.reason}; refresh requested")
            try:
                app = self.get(self.client, name, "normal")
            except ArgoCDNotFoundError:
                self.observe(name, None, self.clock())
                continue
            except ReleaseError as exc:
                if not transient(exc):
                    raise
                self.last_error = exc
                continue
            self.observe(name, app, self.clock())

    def poll(self, now: float) -> None:
        try:
            self.apply(self.snapshot(), self.clock())
        except ReleaseError as exc:
            if not transient(exc):
                raise
            if self.last_error is None:
                self.say(f"Argo CD not reachable ({exc.one_line()}); retrying until the timeout")
            self.last_error = exc

    def silent(self, now: float) -> list[str]:
        """Streaming: the apps nothing was heard of for ``poll-interval``. A delete can fall
        between a watch thread's GET and its stream's start (and real Argo CD lists an app for a
        new watch before it subscribes to the changes): no stream ever says it, and a watch of a
        deleted app just stays silent. Such apps are re-read like polling would."""
        if self.polling:
            return []
        return [
            name
            for name in self.order
            if name in self.trackers and now - self.checked.get(name, now) >= self.inputs.poll_interval
        ]

    def recheck_silent(self, now: float) -> None:
        """GET the silent apps (selector: list them): a 404 / 403 or a missing app is a delete."""
        silent = self.silent(now)
        if not silent:
            return
        for name in silent:
            self.checked[name] = now  # asked: again after poll-interval if this fails
        try:
            names = None if self.inputs.selector is not None else silent  # a selector: one list
            self.apply(self.snapshot(names=names), self.clock())
        except ReleaseError as exc:
            if not transient(exc):
                raise
            self.last_error = exc

    # -- the loop ------------------------------------------------------------------------------

    def start(self) -> None:
        """Login, the first look at every app (with the refresh asked for), the syncs."""
        if self.inputs.username is not None:
            self.client.login()
        refresh = None if self.inputs.refresh == "none" else self.inputs.refresh
        try:
            self.apply(self.snapshot(refresh=refresh), self.clock(), first=True)
        except ReleaseError as exc:
            if not transient(exc):
                raise
            self.last_error = exc
            self.say(f"Argo CD not reachable ({exc.one_line()}); retrying until the timeout")
        if self.inputs.selector is not None and not self.trackers:
            self.say(f"no application matches selector {self.inputs.selector} yet; waiting until the timeout")

    def done(self) -> bool:
        if not self.order or any(name not in self.assessments for name in self.order):
            return False
        return all(self.assessments[name].verdict is rules.Verdict.DONE for name in self.order)

    def check_failed(self) -> None:
        for name in self.order:
            assessment = self.assessments.get(name)
            if assessment is not None and assessment.verdict is rules.Verdict.FAILED:
                tracker = self.trackers.get(name)
                raise WaitFailedError(
                    f"{name}: {assessment.reason} (last state: {_state(tracker.last if tracker else None)})",
                    fix="see the application in Argo CD (argocd app get " + name + "), fix what failed and "
                    "release again; degraded-grace tolerates a Degraded that passes",
                )

    def timeout_error(self) -> WaitTimeoutError:
        pending = []
        for name in self.order or [f"selector {self.inputs.selector}"]:
            tracker = self.trackers.get(name)
            assessment = self.assessments.get(name)
            if assessment is not None and assessment.verdict is rules.Verdict.DONE:
                continue
            reason = assessment.reason if assessment else "never observed"
            pending.append(f"{name}: {reason} (last state: {_state(tracker.last if tracker else None)})")
        if self.inputs.selector is not None and not self.trackers:
            pending = [f"no application matches selector {self.inputs.selector}"]
        detail = f"; last error: {self.last_error.message}" if self.last_error is not None else ""
        return WaitTimeoutError(
            f"not ready after {_seconds(self.inputs.timeout)}: {len(pending)} of "
            f"{max(len(self.order), 1)} application(s): " + "; ".join(pending) + detail,
            fix="check that the commit reached the branch Argo CD tracks and that the apps can sync "
            "(argocd app get <app>); raise timeout for slow rollouts",
        )

    def wait(self) -> None:
        self.start()
        if self.inputs.sync:
            for name in self.order:
                if name not in self.trackers:
                    raise self.timeout_error()
            self.request_syncs()
        now = self.clock()
        next_poll = now + self.inputs.poll_interval
        if not self.polling:
            self.watch()
        while True:
            now = self.clock()
            self.check_failed()
            if self.done():
                return
            if now >= self.deadline:
                raise self.timeout_error()
            wake = self.deadline
            for tracker in self.trackers.values():
                hint = tracker.deadline_hint(now)
                if hint is not None:
                    wake = min(wake, hint)
            if self.polling or any(a.verdict is rules.Verdict.STALE for a in self.assessments.values()):
                wake = min(wake, next_poll)
            if not self.polling:
                for name in self.order:
                    if name in self.trackers and name in self.checked:
                        wake = min(wake, self.checked[name] + self.inputs.poll_interval)
            try:
                item = self.events.get(timeout=_bounded(min(wake - now, self.deadline - now)))
            except queue.Empty:
                item = None
            now = self.clock()
            while item is not None:
                self.handle(item, now)
                try:
                    item = self.events.get_nowait()
                except queue.Empty:
                    item = None
            for name, tracker in self.trackers.items():  # grace expiry with no new event
                if self.assessments.get(name, None) is not None and tracker.last is not None:
                    if self.assessments[name].verdict is rules.Verdict.DEGRADED:
                        self.assessments[name] = tracker.update(tracker.last, now)
            if self.polling and now >= next_poll:
                self.poll(now)
                next_poll = self.clock() + self.inputs.poll_interval
            self.recheck_silent(now)
            self.check_failed()
            if not self.done():
                self.refresh_stale(self.clock())
                if now >= next_poll:
                    next_poll = self.clock() + self.inputs.poll_interval

    def handle(self, item: tuple[str, Any], now: float) -> None:
        kind, payload = item
        if kind == "snapshot":
            self.apply(payload, now)
        elif kind == "event":
            name = self.wanted(payload.application)
            if name is None:
                return  # another namespace (a selector stream is not filtered by it), or junk
            self.observe(name, None if payload.type == "DELETED" else payload.application, now)
        elif kind == "dropped":
            self.ctx.console.debug(f"watch stream dropped ({payload}); reconnecting")
        elif kind == "transient":
            if self.last_error is None:
                self.say(f"Argo CD not reachable ({payload.one_line()}); retrying until the timeout")
            self.last_error = payload
        elif kind == "fallback":
            if self.polling:
                return  # another app's stream said so first
            self.polling = True
            self.stop()  # every app is polled now
            self.say(
                f"watch stream unavailable ({payload}); polling every {_seconds(self.inputs.poll_interval)}"
            )
        elif kind == "error":
            raise payload

    def watch_client(self) -> ArgoCDClient:
        """The watch thread's own client (requests sessions are not shared across threads): the
        same server and token (the session token when we logged in), and few retries per request
        so a failing stream endpoint is noticed (the thread itself retries until the deadline)."""
        connection = self.connection
        token = self.client.session_token or connection.token
        if connection.username is not None:
            connection = dataclasses.replace(connection, token=token, username=None, password=None)
        return ArgoCDClient(
            connection,
            deadline=self.deadline,
            say=self.ctx.console.debug,
            policy=STREAM_POLICY,
            budget=RetryBudget(math.inf),
        )

    def watch(self) -> None:
        """The watch threads. A selector: one stream of that selector (filtered here by
        app-namespace). Names: one stream per app (name + appNamespace, filtered by the server),
        never the unfiltered stream of every app on the server, which would carry every app's
        full object of every namespace to find a few; a handful of connections is cheap, and a
        selector is the way to wait for many apps on one."""
        if self.inputs.selector is not None:
            targets: list[tuple[str | None, str | None]] = [(None, self.inputs.selector)]
        else:
            targets = [(name, None) for name in self.inputs.applications]
        for name, selector in targets:
            client = self.watch_client()
            only = None if name is None else (name,)
            watcher = Watcher(
                client,
                functools.partial(self.snapshot, client=client, names=only),
                self.events,
                name=name,
                selector=selector,
                pause=min(1.0, self.inputs.poll_interval),
            )
            self.watchers.append(watcher)
            watcher.start()

    def stop(self) -> None:
        """End the watch threads and their connections (closing a client ends a blocked read),
        waiting for them a bounded time: in-process callers must not collect threads and sockets."""
        for watcher in self.watchers:
            watcher.stop()
        until = time.monotonic() + STOP_JOIN
        for watcher in self.watchers:
            if watcher.ident is not None:  # a signal may land between appending and start()
                watcher.join(_bounded(until - time.monotonic()))

    # -- results -------------------------------------------------------------------------------

    def results(self, now: float, *, images_until: float | None = None) -> list[AppResult]:
        """One AppResult per app; a render still running is waited for until ``images_until``."""
        results = []
        for name in self.order:
            tracker = self.trackers.get(name)
            obs = tracker.last if tracker else None
            expectation = self.expectations.get(name) or rules.Expectation(
                self.expected.values[:1] or (None,)
            )
            assessment = self.assessments.get(name) or rules.Assessment(
                rules.Verdict.WAITING, "never observed"
            )
            expected_images, source = (
                self.images.result(name, until=images_until) if tracker else ((), "none")
            )
            drift = (
                rules.image_drift(expected_images, obs.images) if obs is not None and expected_images else ()
            )
            done_at = tracker.done_at if tracker else None
            results.append(
                AppResult(
                    name=name,
                    observation=obs,
                    expectation=expectation,
                    assessment=assessment,
                    transitions=tuple(tracker.transitions) if tracker else (),
                    duration=(done_at if done_at is not None else now) - self.started,
                    expected_images=expected_images,
                    images_source=source,
                    drift=drift,
                )
            )
        return results


# -- run ---------------------------------------------------------------------------------------

_RUN_VARIABLES = (
    "GITHUB_REPOSITORY",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_WORKFLOW",
    "GITHUB_JOB",
    "GITHUB_SERVER_URL",
    "GITHUB_ACTOR",
)


def evidence_file(inputs: Inputs, ctx: Context) -> Path:
    """evidence-path: relative to the working directory, through no symbolic link (the checkout
    may be hostile: a committed link would carry the write out of it)."""
    path = Path(inputs.evidence_path)
    if path.is_absolute():
        return path
    try:
        return path_in_checkout(
            ctx.workdir,
            parse_relative_path("evidence-path", inputs.evidence_path, example="argocd-evidence.json"),
            "evidence-path",
        )
    except ConfigError as exc:
        raise InputError("evidence-path", exc.message, fix=exc.fix) from None


def connection(inputs: Inputs) -> ArgoCDConnection:
    return ArgoCDConnection(
        server=inputs.server,
        token=inputs.token,
        username=inputs.username,
        password=inputs.password,
        insecure=inputs.insecure,
        ca_file=Path(inputs.ca_file) if inputs.ca_file else None,
        app_namespace=inputs.app_namespace,
    )


def _outcome(mode: str, error: BaseException | None, drift: bool) -> str:
    if error is None:
        return ("drift" if drift else "no-drift") if mode == "drift-report" else "done"
    if isinstance(error, KeyboardInterrupt):  # Ctrl-C, or the runner cancelling the job (SIGINT / SIGTERM)
        return "cancelled"
    if isinstance(error, WaitTimeoutError):
        return "timeout"
    return "failed" if isinstance(error, ReleaseError) else "error"


def _redacted(value: Any) -> Any:
    """``value`` with every registered secret (the token, the password, the session token) blanked
    in every string: Argo CD may reflect one into a message. Done before serializing, so a secret
    JSON would escape (quotes, non-ASCII) is found too."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    return value


def write_evidence(
    path: Path,
    inputs: Inputs,
    results: Sequence[AppResult],
    *,
    started_at: datetime,
    outcome: str,
    env: Mapping[str, str],
) -> None:
    apps = [
        evidence.app_evidence(
            result.observation or rules.observe({"metadata": {"name": result.name}}),
            expected=result.expectation,
            assessment=result.assessment,
            expected_images=result.expected_images,
            images_source=result.images_source,
            transitions=result.transitions,
            started_at=started_at,
            duration=result.duration,
        )
        for result in results
    ]
    document = evidence.evidence_document(
        apps,
        mode=inputs.mode,
        server=inputs.server,
        started_at=started_at,
        finished_at=datetime.now(timezone.utc),
        outcome=outcome,
        run={key: env[key] for key in _RUN_VARIABLES if env.get(key)},
    )
    atomic_write(path, json.dumps(_redacted(document), indent=2, sort_keys=False) + "\n")


def drift_report(waiter: Waiter) -> None:
    """One look at every app (with the refresh asked for): no wait, no sync."""
    waiter.start()
    if waiter.last_error is not None:
        raise waiter.last_error
    if waiter.inputs.selector is not None and not waiter.trackers:
        raise ArgoCDNotFoundError(
            f"no application matches selector {waiter.inputs.selector}",
            status=404,
            fix="check the selector and app-namespace (argocd app list -l <selector>)",
        )


def run(inputs: Inputs, ctx: Context, *, clock: Callable[[], float] = time.monotonic) -> Outputs:
    expected = resolve_expected(inputs, ctx)  # local only: a bad repo-path fails before any request
    path = evidence_file(inputs, ctx)
    started, started_at = clock(), datetime.now(timezone.utc)
    deadline = started + inputs.timeout
    conn = connection(inputs)
    client = ArgoCDClient(conn, deadline=deadline, say=ctx.console.info)
    images = ImageResolver(
        inputs, ctx, expected, deadline=deadline, clock=clock, strict=inputs.mode == "drift-report"
    )
    waiter = Waiter(
        inputs, ctx, client, conn, expected, images, started=started, deadline=deadline, clock=clock
    )
    if inputs.mode == "wait":
        wanted = ", ".join(v[:12] for v in expected.values)
        what = ", ".join(inputs.applications) or f"selector {inputs.selector}"
        ctx.console.info(
            f"waiting up to {_seconds(inputs.timeout)} for {what} at {wanted} "
            f"({'stream' if inputs.stream else 'polling'})"
        )
    outputs = Outputs(mode=inputs.mode, evidence_path=str(path))
    error: BaseException | None = None
    try:
        try:
            if inputs.mode == "drift-report":
                drift_report(waiter)
            else:
                waiter.wait()
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - evidence for any end: failure, bug, cancel
            error = exc
        finally:
            waiter.stop()
        try:
            now = clock()
            if isinstance(error, KeyboardInterrupt):
                images_until: float | None = now  # cancelled: the runner kills us soon, no render wait
            elif inputs.mode == "wait":
                images_until = now + RENDER_GRACE
            else:
                images_until = None  # drift-report: the desired images are the result
            outputs.results = waiter.results(now, images_until=images_until)
            outputs.duration_seconds = now - started
            outputs.notes = list(images.notes)
            if waiter.trackers:
                outputs.gantt = rules.gantt(
                    {r.name: r.transitions for r in outputs.results},
                    started_at=started_at,
                    ended=now - started,
                )
            outcome = _outcome(inputs.mode, error, outputs.drift)
            write_evidence(path, inputs, outputs.results, started_at=started_at, outcome=outcome, env=ctx.env)
        except Exception as exc:  # the wait's own error is the one to report
            if error is None:
                raise
            ctx.console.info(f"evidence not written: {exc}")
    finally:
        client.close()
    if error is not None:
        ctx.console.info(f"evidence: {path}")
        _attach(error, outputs)
        raise error
    if inputs.mode == "drift-report" and inputs.fail_on_drift and outputs.drift:
        drifting = [
            r.name
            for r in outputs.results
            if r.drift or (r.observation and r.observation.resources_not_ready)
        ]
        drift_error = WaitFailedError(
            f"drift in {', '.join(drifting)}: live images or resources differ from the desired state "
            f"(evidence: {path})",
            fix="sync the apps (or promote the intended images); fail-on-drift: false only reports it",
        )
        drift_error.outputs = outputs
        raise drift_error
    return outputs


def _attach(error: BaseException, outputs: Outputs) -> None:
    """The outputs as far as the run got, on the error (``ReleaseError.outputs``): the CLI still
    sets every output and writes the per-app summary for a failed, timed-out or cancelled wait."""
    try:
        error.outputs = outputs  # type: ignore[attr-defined]  # any exception: Ctrl-C, a bug
    except (AttributeError, TypeError):
        pass
