"""The records `gitops-release trace` joins, and the answer it gives (pure data, no I/O).

The history reader (``adapters/trace_history``) turns the config repository's git history into a
:class:`History`; the optional readers add :class:`ArgoApp` and :class:`DeploymentRecord` lists;
``core/trace.build_trace`` joins them into a :class:`TraceResult`; ``core/trace_render`` prints it
as a table, Markdown, JSON (``schemas/trace.schema.json``) or a Mermaid gantt.

Times are timezone-aware UTC datetimes. Commit lists are oldest first, in first-parent order of
the traced ref (what landed on the branch: a merged pull request is its merge commit, a squash
merge its one commit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from gitops_release.core.promotion import ImageState
from gitops_release.core.release import Release

QueryKind = Literal["reference", "tag", "digest", "container", "source-sha"]
# How an image state arrived in an environment (overlay side) or a release in a channel (db).
ArrivalKind = Literal["dispatch", "promote", "rollback", "revert", "pin", "edit", "initial"]
FindingKind = Literal["drift", "gap", "mismatch", "skipped"]


@dataclass(frozen=True)
class Query:
    """What the person asked for, parsed (``core/trace.parse_query``).

    ``reference``: ``ghcr.io/org/app:sha-abc12345`` and/or ``@sha256:…`` (image set, tag and/or
    digest set). ``tag``: a bare tag. ``digest``: a bare ``sha256:…``. ``container``: a
    container name (its latest releases). ``source-sha``: 7 to 40 hex characters of a source commit.
    A bare word that could be a tag or a container is ``tag`` with ``container`` set too: the
    reader matches either and the answer says which matched.
    """

    raw: str
    kind: QueryKind
    image: str | None = None  # repository without tag/digest
    tag: str | None = None
    digest: str | None = None
    container: str | None = None
    source_sha: str | None = None  # lowercase hex prefix, 7..40 characters


@dataclass(frozen=True)
class Commit:
    """One commit of the traced ref that changed something trace reads."""

    sha: str
    parents: tuple[str, ...]
    author: str  # name
    author_email: str
    authored_at: datetime
    committer: str
    committed_at: datetime  # when it landed on the branch (first-parent history)
    subject: str
    body: str
    # From "Merge pull request #12 from …", a squash subject ending "(#12)", or the release
    # manifest's pullRequest; None when none says.
    pull_request: int | None = None


@dataclass(frozen=True)
class DbChange:
    """One (container, channel) entry of db/db.json changed by one commit (semantically: a
    reformat that keeps every value is not a change)."""

    commit: Commit
    container: str
    channel: str
    before: Release | None  # None: added
    after: Release | None  # None: removed


@dataclass(frozen=True)
class OverlayChange:
    """One image entry of one environment changed by one commit (kustomize ``images:`` entry or a
    values rule), with what the commit says about how."""

    commit: Commit
    environment: str
    app: str  # the * match of overlays.dir joined by /, "" without a *
    file: str  # repo-relative posix path at this commit (the new path after a rename)
    image: str  # the kustomize entry's name or the values rule's image
    before: ImageState | None  # None: the entry (or file) was added
    after: ImageState | None  # None: removed
    # promote / rollback / pin from the Gitops-Release-Promotion trailer or the release manifest;
    # revert for a git revert ("This reverts commit …"); edit for anything else.
    kind: ArrivalKind
    source_environment: str | None = None  # the manifest's images[].sourceEnvironment
    source_commit: str | None = None  # the manifest's images[].sourceCommit
    renamed_from: str | None = None  # the file's path before this commit, when it was renamed


@dataclass(frozen=True)
class History:
    """Everything the config repository's history says about the query's images."""

    ref: str  # the traced ref as given
    head: str  # its commit sha
    environments: tuple[str, ...]  # the policy's promotion order at head (channels)
    db_changes: tuple[DbChange, ...]  # oldest first
    overlay_changes: tuple[OverlayChange, ...]  # oldest first
    db_at_head: tuple[Release, ...]  # every release in db/db.json at head (empty when absent)
    overlays_at_head: tuple[tuple[str, str, str, ImageState], ...]  # (env, app, file, state)
    commits_read: int = 0  # commits listed by the path-limited log (for the benchmark / debug)
    blobs_read: int = 0  # file versions read
    notes: tuple[str, ...] = ()  # sources skipped or degraded, said, never an error
    # Every first-parent commit of the traced ref, oldest first (what landed on the branch, in
    # order): a deployment of any commit landed while the image was in an environment counts for
    # that stay. Empty when unknown (then the deployment's time decides).
    first_parent: tuple[str, ...] = ()
    # A shallow clone's boundary commits (``.git/shallow``): git shows them as root commits that
    # add every file, so what they "bring" was there before them, arrived when and how unknown
    # (build_trace says ``initial``, by nobody). Empty for a full clone.
    shallow: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArgoHistoryEntry:
    id: int
    revision: str
    deployed_at: datetime | None


@dataclass(frozen=True)
class ArgoApp:
    """One Argo CD Application that deploys one environment's overlay."""

    name: str
    environment: str
    sync_status: str  # Synced / OutOfSync / Unknown
    health_status: str  # Healthy / Progressing / Degraded / …
    sync_revision: str | None  # status.sync.revision
    history: tuple[ArgoHistoryEntry, ...]  # status.history, oldest first
    # For every revision above (and sync_revision): does the overlay at that commit hold the
    # image? Filled by the command (it can read the tree at any commit); None when unknown.
    image_at_revision: tuple[tuple[str, bool | None], ...] = ()
    url: str | None = None
    # The app of the overlay it deploys (the * match of overlays.dir joined by /, as
    # OverlayChange.app); "" without a * or when unknown (then it stands for every app of the env).
    app: str = ""


@dataclass(frozen=True)
class DeploymentRecord:
    """One GitHub deployment of the config repository and its latest status."""

    id: int
    environment: str
    sha: str
    created_at: datetime
    state: str | None  # the latest deployment status's state, None without any status
    creator: str | None = None
    url: str | None = None  # the status's environment_url or log_url


@dataclass(frozen=True)
class Arrival:
    """How the image got into one environment (or channel), once."""

    kind: ArrivalKind
    at: datetime  # when the commit landed
    commit: str
    pull_request: int | None
    by: str | None  # the landing commit's author (who merged / pushed)
    source_environment: str | None = None
    subject: str = ""


@dataclass(frozen=True)
class Stay:
    """One continuous period during which an environment (overlay) or channel (db) held the image."""

    arrival: Arrival
    left_at: datetime | None  # None: still there at head
    left_commit: str | None
    replaced_by: str | None  # ImageState.shown() / Release reference that replaced it, None when removed
    left_kind: ArrivalKind | None = None  # how the replacement arrived (promote, rollback, …)


@dataclass(frozen=True)
class EnvTrace:
    """The answer for one environment, in policy order."""

    environment: str
    present: bool  # desired state at head (overlay) holds the image
    live: bool | None  # Argo CD's synced revision holds it; None without Argo CD
    since: datetime | None  # the current stay's arrival, None when not present
    stays: tuple[Stay, ...]  # overlay stays, oldest first
    channel_stays: tuple[Stay, ...]  # db.json channel stays, oldest first
    # Time from this env's first arrival to the next env's first arrival of the same image.
    soak_seconds: float | None = None
    argo_app: str | None = None
    deployments: tuple[DeploymentRecord, ...] = ()  # deployments whose sha is one of the stays'


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    environment: str | None
    message: str  # one line, says what disagrees with what and where to look


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    environment: str  # env (overlay) or channel (db) name
    source: Literal["db", "overlay", "argocd", "github"]
    kind: str  # arrival kind, "replaced", "synced", "deployment:<state>"
    commit: str | None
    text: str  # one line


@dataclass(frozen=True)
class MatchedImage:
    """One image (reference) the query matched."""

    container: str | None
    image: str  # repository
    tag: str | None
    digest: str | None
    source_repository: str | None = None
    source_sha: str | None = None
    run_url: str | None = None
    built_at: str | None = None


@dataclass(frozen=True)
class TraceResult:
    query: Query
    found: bool  # the query matched a release or an overlay state anywhere in the history read
    images: tuple[MatchedImage, ...]  # what the query matched (several for a container query)
    environments: tuple[EnvTrace, ...]  # one per (image, env) in policy order, image by image
    timeline: tuple[TimelineEvent, ...]  # oldest first
    findings: tuple[Finding, ...]
    ref: str
    head: str
    generated_at: datetime
    notes: tuple[str, ...] = ()
    # What each EnvTrace belongs to when several images matched (index into images).
    image_of_environment: tuple[int, ...] = field(default_factory=tuple)
