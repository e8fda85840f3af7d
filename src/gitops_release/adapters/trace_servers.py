"""What `gitops-release trace` reads from servers: Argo CD applications and GitHub deployments.

Both go through the project's one client of each (``adapters/argocd.ArgoCDClient``: its retry
policy, TLS rules and whole-request deadline; ``adapters/github.github_client``: one factory, its
retry policy and per-request timeout). Trace only reads, and a server is optional: an
unreachable server, a 401/403, a stall past the timeout or an answer that is not what the API
documents becomes a note (said in the answer as a ``skipped`` finding), never an error and never
a hang. Whatever was read before the problem is kept.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from gitops_release.adapters.argocd import ArgoCDClient, ArgoCDConnection
from gitops_release.adapters.github import GitHubAuth, call, github_client
from gitops_release.core import argocd as rules
from gitops_release.core.retry import RetryPolicy
from gitops_release.core.trace_model import ArgoApp, ArgoHistoryEntry, DeploymentRecord
from gitops_release.errors import ReleaseError
from gitops_release.runtime import redact

__all__ = [
    "MAX_DEPLOYMENTS_PER_ENV",
    "MAX_HISTORY",
    "MAX_PULL_REQUESTS",
    "SERVER_POLICY",
    "ArgoRead",
    "DeploymentsRead",
    "read_argocd",
    "read_deployments",
]

# status.history is capped by Argo CD (revisionHistoryLimit, default 10); a lying server is cut here.
MAX_HISTORY = 1000
# Newest first: the deployments of the stays trace shows are recent; older ones are left out (said).
MAX_DEPLOYMENTS_PER_ENV = 100
# Pull requests whose merger trace asks GitHub for (the newest arrivals'); the rest keep the
# landing commit's author.
MAX_PULL_REQUESTS = 20
# Trace is read-only and optional: a couple of quick retries, then a note. A server that stalls
# costs at most about (attempts x timeout) + the waits, never an unbounded time.
SERVER_POLICY = RetryPolicy(max_attempts=2, base_delay=0.5, max_delay=2.0, max_total_wait=5.0)
_REVISION = re.compile(r"^[0-9a-fA-F]{7,64}$")
_MESSAGE_CHARS = 300


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ReleaseError):
        text = exc.message if not exc.fix else f"{exc.message} ({exc.fix})"
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(redact(text).split())
    return text if len(text) <= _MESSAGE_CHARS else text[: _MESSAGE_CHARS - 1] + "…"


# -- Argo CD ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArgoRead:
    """The applications read (``image_at_revision`` left for the caller, who can read git) and
    what could not be read."""

    apps: tuple[ArgoApp, ...]
    notes: tuple[str, ...]


def _revision(raw: str | None) -> str | None:
    return raw.lower() if raw and _REVISION.match(raw) else None


def _app(
    obs: rules.AppObservation,
    environment_of: Callable[[rules.SourceRef], str | tuple[str, str] | None],
    repository_keys: frozenset[str],
    server: str,
    notes: list[str],
    *,
    explicit: bool,
) -> ArgoApp | None:
    """The ArgoApp of one observed Application: the environment of its first source that is an
    overlay of this repository; None (with a note when the app was named) when none is."""
    index, environment, overlay_app = None, None, ""
    for position, source in enumerate(obs.sources):
        if repository_keys and rules.repo_key(source.repo_url) not in repository_keys:
            continue
        env = environment_of(source)
        if env is not None:
            # (env, app) when the overlay dir names its app (overlays.dir with a *), else env.
            environment, overlay_app = env if isinstance(env, tuple) else (env, "")
            index = position
            break
    name = obs.name or "?"
    if index is None or environment is None:
        if explicit:
            notes.append(
                f"Argo CD app {name}: no source is an environment overlay of this repository "
                "(check argocd-app and the policy's overlays.dir); not used"
            )
        return None

    def pick(revisions: Sequence[str]) -> str | None:
        # Multi-source apps list one revision per source, in spec.sources order.
        if not revisions:
            return None
        raw = revisions[index] if index < len(revisions) else None
        if raw is None and len(revisions) == 1:
            raw = revisions[0]
        return raw

    raw_sync = pick(obs.revisions)
    sync_revision = _revision(raw_sync)
    if raw_sync and sync_revision is None:
        notes.append(f"Argo CD app {name}: its sync revision {raw_sync[:40]!r} is not a commit sha; ignored")
    history: list[ArgoHistoryEntry] = []
    bad = 0
    for entry in obs.history[-MAX_HISTORY:]:
        revision = _revision(pick(entry.revisions))
        if entry.id is None or revision is None:
            bad += 1
            continue
        history.append(ArgoHistoryEntry(entry.id, revision, rules.parse_timestamp(entry.deployed_at)))
    if bad:
        notes.append(
            f"Argo CD app {name}: {bad} history entr{'y' if bad == 1 else 'ies'} without an id or a "
            "commit sha revision left out"
        )
    if len(obs.history) > MAX_HISTORY:
        notes.append(f"Argo CD app {name}: only the newest {MAX_HISTORY} history entries read")
    history.sort(key=lambda e: (e.deployed_at is None, e.deployed_at or datetime.min, e.id))
    namespace = f"{obs.namespace}/" if obs.namespace else ""
    return ArgoApp(
        name=obs.name,
        environment=environment,
        sync_status=obs.sync_status,
        health_status=obs.health_status,
        sync_revision=sync_revision,
        history=tuple(history),
        url=f"{server}/applications/{namespace}{obs.name}" if obs.name else None,
        app=overlay_app,
    )


def read_argocd(
    connection: ArgoCDConnection,
    *,
    applications: Sequence[str],
    selector: str | None,
    environment_of: Callable[[rules.SourceRef], str | tuple[str, str] | None],
    repository_keys: frozenset[str],
    timeout: float,
    say: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    client_factory: Callable[..., ArgoCDClient] = ArgoCDClient,
) -> ArgoRead:
    """The Applications that deploy an environment overlay of this repository.

    ``applications`` named: those (a missing one is a note). Otherwise every application
    ``GET /api/v1/applications`` lists (with ``selector`` / the connection's app namespace) whose
    source's repoURL is this repository (by owner/name, ``repository_keys``; any repository when
    empty) and whose path is an environment's overlay dir (``environment_of``: the env, or
    (env, app) when the overlay dir names an app). Every request of
    the whole read shares one deadline, ``timeout`` seconds from now."""
    notes: list[str] = []
    apps: list[ArgoApp] = []
    try:
        client = client_factory(connection, deadline=clock() + timeout, say=say)
    except ReleaseError as exc:
        return ArgoRead((), (f"Argo CD not read: {_one_line(exc)}",))
    server = client.server
    try:
        if applications:
            for name in applications:
                try:
                    raw = client.get_application(name)
                except ReleaseError as exc:
                    notes.append(f"Argo CD app {name} not read: {_one_line(exc)}")
                    if getattr(exc, "status", None) != 404:
                        break  # the server itself fails: the next app would fail the same way
                    continue
                app = _app(rules.observe(raw), environment_of, repository_keys, server, notes, explicit=True)
                if app is not None:
                    apps.append(app)
        else:
            listed = client.list_applications(selector=selector)
            for raw in listed:
                app = _app(rules.observe(raw), environment_of, repository_keys, server, notes, explicit=False)
                if app is not None:
                    apps.append(app)
            if not apps:
                where = f" with selector {selector}" if selector else ""
                notes.append(
                    f"Argo CD at {server}: none of the {len(listed)} application(s) listed{where} deploys "
                    "an environment overlay of this repository (give argocd-app to name them)"
                )
    except ReleaseError as exc:
        notes.append(f"Argo CD not read: {_one_line(exc)}")
    except Exception as exc:  # noqa: BLE001 - an optional source: whatever a server does, a note
        notes.append(f"Argo CD not read: {_one_line(exc)}")
    finally:
        client.close()
    apps.sort(key=lambda a: (a.environment, a.app, a.name))
    return ArgoRead(tuple(apps), tuple(notes))


# -- GitHub deployments -------------------------------------------------------------------------


@dataclass(frozen=True)
class DeploymentsRead:
    deployments: tuple[DeploymentRecord, ...]
    notes: tuple[str, ...]
    # The environments whose deployments were listed and their statuses read: (env, None) for
    # all of them, (env, the oldest one's created_at) when the list was cut at per_environment.
    # An environment not here was not read (an error or the deadline): no gap can be claimed.
    read: tuple[tuple[str, datetime | None], ...] = ()
    # Pull request number -> the login of who merged it (GET /repos/{r}/pulls/{n} merged_by).
    merged_by: tuple[tuple[int, str], ...] = ()


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_deployments(
    auth: GitHubAuth,
    repository: str,
    environments: Sequence[str],
    *,
    api_url: str | None,
    env: Mapping[str, str],
    timeout: float,
    log: Callable[[str], None] | None = None,
    per_environment: int = MAX_DEPLOYMENTS_PER_ENV,
    policy: RetryPolicy = SERVER_POLICY,
    clock: Callable[[], float] = time.monotonic,
    pull_requests: Sequence[int] = (),
) -> DeploymentsRead:
    """``GET /repos/{repository}/deployments?environment=<env>`` (newest first, paged, at most
    ``per_environment`` each) and each one's latest status, for every environment; then who
    merged each of ``pull_requests`` (at most MAX_PULL_REQUESTS). The whole read shares one
    deadline, ``timeout`` seconds from now, checked before every request (and page): past it,
    what is left is a note, never a wait."""
    notes: list[str] = []
    found: list[DeploymentRecord] = []
    read: list[tuple[str, datetime | None]] = []
    deadline = clock() + timeout

    def in_time(what: str) -> None:
        if clock() >= deadline:
            raise _Deadline(f"{what} not read: the {timeout:g}s server-timeout passed")

    try:
        gh = github_client(
            auth, repository=repository, base_url=api_url, env=env, policy=policy, timeout=timeout, log=log
        )
        repo = gh.get_repo(repository)
    except ReleaseError as exc:
        return DeploymentsRead((), (f"GitHub deployments not read: {_one_line(exc)}",))
    for environment in environments:

        def listing(environment: str = environment) -> list[Any]:
            pages = repo.get_deployments(environment=environment)
            timely = itertools.takewhile(lambda _d: clock() < deadline, pages)
            listed = list(itertools.islice(timely, per_environment + 1))
            in_time(f"GitHub deployments to {environment}")
            return listed

        try:
            in_time(f"GitHub deployments to {environment}")
            listed = call(
                f"list the deployments to {environment}",
                listing,
                repository=repository,
                permission="deployments: read",
            )
            cut: datetime | None = None
            if len(listed) > per_environment:
                listed = listed[:per_environment]
                times = [t for t in (_aware(d.created_at) for d in listed) if t is not None]
                cut = min(times) if times else None
                since = f" (since {cut:%Y-%m-%d %H:%M} UTC; no gap is claimed before)" if cut else ""
                notes.append(
                    f"GitHub deployments to {environment}: only the newest {per_environment} read{since}"
                )
            for deployment in listed:
                in_time(f"GitHub deployments to {environment}")

                def latest(deployment: Any = deployment) -> Any:
                    return next(iter(deployment.get_statuses()), None)

                status = call(
                    f"read the statuses of deployment {deployment.id}",
                    latest,
                    repository=repository,
                    permission="deployments: read",
                )
                created = _aware(deployment.created_at)
                sha = _text(deployment.sha)
                if created is None or sha is None or not isinstance(deployment.id, int):
                    notes.append(f"GitHub deployment to {environment} without id, sha or time left out")
                    continue
                url = None
                if status is not None:
                    url = _text(status.environment_url) or _text(status.log_url)
                creator = deployment.creator
                found.append(
                    DeploymentRecord(
                        id=int(deployment.id),
                        environment=environment,
                        sha=sha.lower(),
                        created_at=created,
                        state=_text(status.state) if status is not None else None,
                        creator=_text(creator.login) if creator is not None else None,
                        url=url,
                    )
                )
            read.append((environment, cut))
        except _Deadline as exc:
            notes.append(str(exc))
            break
        except ReleaseError as exc:
            notes.append(f"GitHub deployments to {environment} not read: {_one_line(exc)}")
            break  # the next environment would fail the same way (auth, network, a lying server)
        except Exception as exc:  # noqa: BLE001 - an optional source: whatever a server does, a note
            notes.append(f"GitHub deployments to {environment} not read: {_one_line(exc)}")
            break
    found.sort(key=lambda d: (d.environment, d.created_at, d.id))
    merged_by = _mergers(repo, repository, pull_requests, in_time, notes)
    return DeploymentsRead(tuple(found), tuple(notes), tuple(read), merged_by)


class _Deadline(Exception):
    """The read's deadline passed (said in a note)."""


def _mergers(
    repo: Any,
    repository: str,
    numbers: Sequence[int],
    in_time: Callable[[str], None],
    notes: list[str],
) -> tuple[tuple[int, str], ...]:
    """Who merged each pull request (``merged_by.login``), the newest MAX_PULL_REQUESTS numbers."""
    wanted = sorted(set(numbers), reverse=True)
    if len(wanted) > MAX_PULL_REQUESTS:
        notes.append(
            f"who merged: only the newest {MAX_PULL_REQUESTS} of {len(wanted)} pull requests asked; "
            "the others show the landing commit's author"
        )
        wanted = wanted[:MAX_PULL_REQUESTS]
    out: list[tuple[int, str]] = []
    for number in wanted:
        try:
            in_time(f"who merged pull request #{number}")

            def get_pull(number: int = number) -> Any:
                return repo.get_pull(number)

            pull = call(
                f"read pull request #{number}",
                get_pull,
                repository=repository,
                permission="pull-requests: read",
            )
            merger = getattr(pull, "merged_by", None)
            login = _text(getattr(merger, "login", None)) if merger is not None else None
            if login is not None:
                out.append((number, login[:100]))
        except _Deadline as exc:
            notes.append(f"{exc}; the landing commit's author is shown")
            break
        except Exception as exc:  # noqa: BLE001 - optional: the commit's author stays
            notes.append(f"who merged pull request #{number} not read: {_one_line(exc)}")
            break
    return tuple(sorted(out))
