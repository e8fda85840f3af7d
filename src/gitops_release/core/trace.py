"""The join behind `gitops-release trace`: parse what a person asks for, and answer it from the
history the reader collected (pure: no I/O).

``parse_query`` turns an image reference, a tag, a digest, a container name or a source commit
sha into a :class:`Query`. ``build_trace`` joins a :class:`History` (adapters/trace_history) with
the optional Argo CD applications and GitHub deployments into a :class:`TraceResult`: for every
environment in promotion order, whether the image is there now, since when, how it arrived, how
long it soaked before the next environment got it, what replaced it, and what disagrees.
Everything is sorted, so the same inputs always give the same answer.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from gitops_release.core.promotion import ImageState, short_digest
from gitops_release.core.release import (
    CONTAINER_PATTERN,
    DIGEST_PATTERN,
    IMAGE_PATTERN,
    TAG_PATTERN,
    Release,
    split_reference,
)
from gitops_release.core.trace_model import (
    ArgoApp,
    Arrival,
    DbChange,
    DeploymentRecord,
    EnvTrace,
    Finding,
    History,
    MatchedImage,
    OverlayChange,
    Query,
    Stay,
    TimelineEvent,
    TraceResult,
)
from gitops_release.errors import InputError

__all__ = [
    "MAX_QUERY_CHARS",
    "build_trace",
    "normalise_image",
    "parse_query",
    "release_matches",
    "state_holds",
    "state_matches",
]

MAX_QUERY_CHARS = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_IMAGE = re.compile(IMAGE_PATTERN)
_TAG = re.compile(TAG_PATTERN)
_DIGEST = re.compile(DIGEST_PATTERN)
_CONTAINER = re.compile(CONTAINER_PATTERN)
_SOURCE_SHA = re.compile(r"^[0-9a-f]{7,40}$(?!\n)")
_FORMS = (
    "give an image reference (ghcr.io/org/app:tag, ghcr.io/org/app@sha256:…), a tag, a digest "
    "(sha256:<64 hex>), a container name or 7 to 40 hex characters of a source commit"
)


def parse_query(text: str) -> Query:
    """What ``text`` asks for; an InputError naming ``query`` when it is none of the forms."""
    if not isinstance(text, str) or not text.strip():
        raise InputError("query", "is empty", fix=_FORMS)
    if len(text) > MAX_QUERY_CHARS:
        raise InputError("query", f"is {len(text)} characters long (at most {MAX_QUERY_CHARS})", fix=_FORMS)
    if _CONTROL.search(text):
        raise InputError("query", "holds a control character", fix=_FORMS)
    raw = text
    text = text.strip()
    if " " in text:
        raise InputError("query", f"{text[:80]!r} holds a space", fix=_FORMS)
    if text.startswith("sha256:"):
        if not _DIGEST.search(text):
            raise InputError("query", f"{text[:80]!r} is not a sha256 digest (64 lowercase hex)", fix=_FORMS)
        return Query(raw=raw, kind="digest", digest=text)
    if "/" in text or "@" in text or ":" in text:
        return _reference(raw, text)
    if _SOURCE_SHA.search(text):
        return Query(raw=raw, kind="source-sha", source_sha=text, tag=text)
    if _CONTAINER.search(text):
        return Query(raw=raw, kind="tag", tag=text, container=text)
    if _TAG.search(text):
        return Query(raw=raw, kind="tag", tag=text)
    raise InputError(
        "query", f"{text[:80]!r} is not an image reference, tag, digest or container", fix=_FORMS
    )


def _reference(raw: str, text: str) -> Query:
    name, tag, digest = split_reference(text)
    if not name or not _IMAGE.search(name) or len(name) > 255:
        raise InputError("query", f"{text[:80]!r}: {name[:80]!r} is not an image repository", fix=_FORMS)
    if tag and not _TAG.search(tag):
        raise InputError("query", f"{text[:80]!r}: {tag[:80]!r} is not a tag", fix=_FORMS)
    if digest and not _DIGEST.search(digest):
        raise InputError("query", f"{text[:80]!r}: {digest[:80]!r} is not a sha256 digest", fix=_FORMS)
    if not tag and not digest:
        raise InputError(
            "query",
            f"{text[:80]!r} names a repository without a tag or digest",
            fix="add :<tag> or @sha256:<digest>, or give the container name for its latest releases",
        )
    return Query(raw=raw, kind="reference", image=name, tag=tag or None, digest=digest or None)


def normalise_image(image: str) -> str:
    """The repository as kustomize and Docker compare it: ``docker.io/library/nginx``,
    ``docker.io/nginx``, ``index.docker.io/library/nginx`` and ``nginx`` are one image."""
    for prefix in ("index.docker.io/", "docker.io/"):
        if image.startswith(prefix):
            image = image[len(prefix) :]
            break
    return image.removeprefix("library/")


def _state_repo(state: ImageState) -> str:
    return normalise_image(state.new_name or state.name)


@dataclass(frozen=True)
class _Identity:
    """One image the answer follows: repository and tag and/or digest."""

    image: str  # normalised repository
    tag: str | None
    digest: str | None


def state_matches(state: ImageState | None, identity: _Identity) -> bool:
    """An overlay entry holds ``identity``: same repository, and tag and digest equal wherever
    both sides set them (at least one of them compared)."""
    if state is None or _state_repo(state) != identity.image:
        return False
    compared = False
    if identity.digest is not None and state.digest is not None:
        if state.digest != identity.digest:
            return False
        compared = True
    if identity.tag is not None and state.new_tag is not None:
        if state.new_tag != identity.tag:
            return False
        compared = True
    return compared


def state_holds(state: ImageState | None, image: MatchedImage) -> bool:
    """The image-matching rule of the answer: does an overlay / values entry hold ``image``? Same
    repository once normalised (``docker.io/library/`` forms as kustomize compares them; an entry's
    ``newName`` else its ``name``), and tag and digest equal wherever both sides set them, at least
    one of them compared. commands/trace decides with it whether Argo CD's revisions hold it."""
    return state_matches(state, _identity(image))


def _release_matches(release: Release | None, identity: _Identity) -> bool:
    if release is None or normalise_image(release.image) != identity.image:
        return False
    if identity.digest is not None and release.digest is not None:
        return release.digest == identity.digest and (identity.tag is None or release.tag == identity.tag)
    return identity.tag is not None and release.tag == identity.tag


def release_matches(query: Query, release: Release, *, by_container: bool) -> bool:
    """Whether ``release`` is one the query asks about. ``by_container``: the release's container
    is the query's (and nothing else counts); else a source-sha query matches the commit prefix
    or its tag, and an image query matches repository (normalised), digest and tag where set.
    The one rule build_trace and adapters/trace_history share."""
    if by_container:
        return release.container == query.container
    if query.kind == "source-sha":
        return release.source.sha.startswith(query.source_sha or "") or release.tag == query.tag
    if query.image is not None and normalise_image(release.image) != normalise_image(query.image):
        return False
    if query.digest is not None and release.digest != query.digest:
        return False
    return not (query.tag is not None and release.tag != query.tag)


def _query_matches_state(query: Query, state: ImageState | None) -> bool:
    if state is None:
        return False
    if query.kind == "source-sha":
        return state.new_tag == query.tag
    if query.kind == "container":
        return False
    if query.image is not None and _state_repo(state) != normalise_image(query.image):
        return False
    if query.digest is not None and state.digest != query.digest:
        return False
    return not (query.tag is not None and state.new_tag != query.tag)


def _all_releases(history: History) -> Iterable[Release]:
    yield from history.db_at_head
    for change in history.db_changes:
        if change.after is not None:
            yield change.after
        if change.before is not None:
            yield change.before


def _all_states(history: History) -> Iterable[ImageState]:
    for _env, _app, _file, state in history.overlays_at_head:
        yield state
    for change in history.overlay_changes:
        if change.after is not None:
            yield change.after
        if change.before is not None:
            yield change.before


def _release_key(release: Release) -> tuple[str, str | None, str | None]:
    """The identity a matched image is kept under: repository (normalised), tag, digest."""
    return (normalise_image(release.image), release.tag, release.digest)


def _release_image(release: Release) -> MatchedImage:
    """A release as a matched image, with its build info."""
    return MatchedImage(
        container=release.container,
        image=release.image,
        tag=release.tag,
        digest=release.digest,
        source_repository=release.source.repository,
        source_sha=release.source.sha,
        run_url=release.source.run_url,
        built_at=release.source.built_at,
    )


def _matched_images(query: Query, history: History, limit: int | None) -> list[MatchedImage]:
    """What the query names, newest release first."""
    found: dict[tuple[str, str | None, str | None], tuple[str, MatchedImage]] = {}

    def add(release: Release) -> None:
        key = _release_key(release)
        stamp = release.updated_at or ""
        image = _release_image(release)
        # The earliest record of a release names its build; keep the newest stamp for ordering.
        if key not in found:
            found[key] = (stamp, image)
        elif stamp > found[key][0]:
            found[key] = (stamp, found[key][1])

    container_query = query.kind == "container"
    if not container_query:
        for release in sorted(_all_releases(history), key=lambda r: r.updated_at or ""):
            if release_matches(query, release, by_container=False):
                add(release)
    if not found and not container_query:
        # An image promoted by hand, never recorded in db.json: what the overlays held.
        for state in _all_states(history):
            if _query_matches_state(query, state):
                key = (_state_repo(state), state.new_tag, state.digest)
                if key not in found:
                    found[key] = (
                        "",
                        MatchedImage(None, state.new_name or state.name, state.new_tag, state.digest),
                    )
    if not found and query.container is not None:
        # A container query, or a bare word that is no tag anywhere: the container's releases at head.
        for release in history.db_at_head:
            if release_matches(query, release, by_container=True):
                add(release)
        _add_held_at_head(query.container, history, found)
    ordered = sorted(
        found.items(), key=lambda item: (item[1][0], item[0][0], item[0][1] or "", item[0][2] or "")
    )
    images = [image for _, (_, image) in reversed(ordered)]
    if limit is not None:
        images = images[:limit]
    return images


def _stamp(at: datetime) -> str:
    """A landing time in updatedAt's form, so overlay arrivals and releases order together."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _add_held_at_head(
    container: str,
    history: History,
    found: dict[tuple[str, str | None, str | None], tuple[str, MatchedImage]],
) -> None:
    """What each environment runs now, for a container query: db.json records only the channels
    dispatched to (promotions move overlays), so stage and prod's images come from the overlays at
    head: the entries of the container's image repositories (its releases'; without any, the
    entries of its app), each with the build info of a release of the same image when db.json
    ever recorded one. Ordered by the latest arrival in any environment."""
    # The earliest record of a release names its build (as in _matched_images).
    releases = sorted(
        (r for r in _all_releases(history) if r.container == container), key=lambda r: r.updated_at or ""
    )
    repos = {normalise_image(r.image) for r in releases}
    for env, app, _file, state in sorted(history.overlays_at_head, key=lambda e: (e[0], e[1], e[2])):
        if (_state_repo(state) not in repos) if repos else (app != container):
            continue
        identity = _Identity(_state_repo(state), state.new_tag, state.digest)
        if identity.tag is None and identity.digest is None:
            continue
        arrivals = [
            c.commit.committed_at
            for c in history.overlay_changes
            if c.environment == env and state_matches(c.after, identity)
        ]
        stamp = _stamp(max(arrivals)) if arrivals else ""
        key = next(
            (k for k, (_, image) in found.items() if state_matches(state, _identity(image))),
            None,
        )
        if key is None:
            release = next((r for r in releases if _release_matches(r, identity)), None)
            if release is not None:
                # release.container is the container: releases holds only its releases.
                image = _release_image(release)
                key = _release_key(release)
            else:
                image = MatchedImage(container, state.new_name or state.name, state.new_tag, state.digest)
                key = (identity.image, state.new_tag, state.digest)
            found[key] = (stamp, image)
        elif stamp > found[key][0]:
            found[key] = (stamp, found[key][1])


def _arrival(change: OverlayChange | DbChange) -> Arrival:
    commit = change.commit
    if isinstance(change, OverlayChange):
        kind = change.kind
        source_env = change.source_environment
    else:
        kind, source_env = "dispatch", None
    return Arrival(
        kind=kind,
        at=commit.committed_at,
        commit=commit.sha,
        pull_request=commit.pull_request,
        by=commit.author or None,
        source_environment=source_env,
        subject=commit.subject,
    )


def _overlay_stays(changes: Sequence[OverlayChange], identity: _Identity) -> list[Stay]:
    """Continuous periods during which any entry of the environment held ``identity``."""
    holding: dict[tuple[str, str, str], bool] = {}
    stays: list[Stay] = []
    current: Arrival | None = None
    # One commit's changes count together: a renamed overlay directory removes and adds the entry.
    groups: dict[str, list[OverlayChange]] = {}
    for change in changes:
        groups.setdefault(change.commit.sha, []).append(change)
    for group in groups.values():
        before_any = any(holding.values())
        for change in group:
            if change.before is not None:
                holding.pop((change.app, change.file, change.image), None)
                if change.renamed_from is not None:
                    holding.pop((change.app, change.renamed_from, change.image), None)
            holding[(change.app, change.file, change.image)] = state_matches(change.after, identity)
        after_any = any(holding.values())
        arriving = next((c for c in group if state_matches(c.after, identity)), group[0])
        leaving = next((c for c in group if state_matches(c.before, identity)), group[0])
        if not before_any and after_any:
            current = _arrival(arriving)
        elif before_any and not after_any and current is not None:
            replaced = leaving.after.shown() if leaving.after is not None else None
            stays.append(
                Stay(current, leaving.commit.committed_at, leaving.commit.sha, replaced, leaving.kind)
            )
            current = None
    if current is not None:
        stays.append(Stay(current, None, None, None))
    return stays


def _channel_stays(changes: Sequence[DbChange], identity: _Identity) -> list[Stay]:
    stays: list[Stay] = []
    current: Arrival | None = None
    for change in changes:
        held = _release_matches(change.before, identity)
        holds = _release_matches(change.after, identity)
        if holds and not held:
            current = _arrival(change)
        elif held and not holds and current is not None:
            replaced = change.after.reference if change.after is not None else None
            stays.append(Stay(current, change.commit.committed_at, change.commit.sha, replaced, "dispatch"))
            current = None
    if current is not None:
        stays.append(Stay(current, None, None, None))
    return stays


def _identity(image: MatchedImage) -> _Identity:
    return _Identity(normalise_image(image.image), image.tag, image.digest)


def _image_apps(history: History, identity: _Identity, container: str | None) -> set[str]:
    """The apps whose overlays hold or held the image (its Argo CD Applications are theirs);
    the container's name when no overlay ever held it (apps/<container>/overlays)."""
    apps = {
        change.app
        for change in history.overlay_changes
        if state_matches(change.after, identity) or state_matches(change.before, identity)
    }
    apps |= {app for _env, app, _file, state in history.overlays_at_head if state_matches(state, identity)}
    if not apps and container:
        apps.add(container)
    return apps


def _combined_live(apps: Sequence[ArgoApp]) -> bool | None:
    """Live when every Application of the image's apps that says runs it; None when none says."""
    known = [live for live in map(_live, apps) if live is not None]
    return all(known) if known else None


def _gap_inputs(
    env: str,
    stays: Sequence[Stay],
    deployments: Sequence[DeploymentRecord] | None,
    deployments_read: Mapping[str, datetime | None] | None,
) -> tuple[Sequence[Stay], Sequence[DeploymentRecord] | None]:
    """The stays a missing deployment status may be claimed for, and the deployments to judge
    them by (None: not judged). Deployments not read are not "no deployment"."""
    if deployments is None or deployments_read is None:
        return stays, deployments
    if env not in deployments_read:
        return (), None
    cut = deployments_read[env]
    if cut is None:
        return stays, deployments
    return [stay for stay in stays if stay.arrival.at >= cut], deployments


def _live(app: ArgoApp | None) -> bool | None:
    if app is None or app.sync_revision is None:
        return None
    return dict(app.image_at_revision).get(app.sync_revision)


def build_trace(
    query: Query,
    history: History,
    *,
    argo: Sequence[ArgoApp] | None,
    deployments: Sequence[DeploymentRecord] | None,
    since: datetime | None,
    environments: Sequence[str] | None,
    limit: int | None,
    now: datetime,
    deployments_read: Mapping[str, datetime | None] | None = None,
) -> TraceResult:
    """The answer to ``query`` from ``history`` (and Argo CD / GitHub records when given).

    ``deployments_read`` says which environments' deployments were read (env -> None: all of
    them; env -> a time: only those created since, the list was cut); a gap is claimed only for
    those, and only for stays that arrived after the cut. None: every environment, whole.

    ``since`` and ``environments`` narrow what is shown (stays that ended before ``since`` are
    dropped, and the findings about them; findings about environments not asked for are dropped);
    they never change whether an environment holds the image now. ``limit`` caps the
    images of a container query (newest first) and the timeline (its newest events)."""
    images = _matched_images(query, history, limit)
    shown_envs = [env for env in history.environments if environments is None or env in environments]
    argo_apps = sorted(argo or (), key=lambda a: (a.environment, a.app, a.name))
    overlay_by_env: dict[str, list[OverlayChange]] = {}
    for change in history.overlay_changes:
        overlay_by_env.setdefault(change.environment, []).append(change)
    db_by_key: dict[tuple[str, str], list[DbChange]] = {}
    db_position = {id(change): position for position, change in enumerate(history.db_changes)}
    for db_change in history.db_changes:
        db_by_key.setdefault((db_change.container, db_change.channel), []).append(db_change)
    order_of = {sha: position for position, sha in enumerate(history.first_parent)}
    head_envs = {env for env, _app, _file, _state in history.overlays_at_head}
    envs_with_overlays = head_envs | set(overlay_by_env)

    env_traces: list[EnvTrace] = []
    image_of: list[int] = []
    findings: list[Finding] = [Finding("skipped", None, note) for note in history.notes]
    timeline: list[TimelineEvent] = []
    for index, image in enumerate(images):
        identity = _identity(image)
        image_apps = _image_apps(history, identity, image.container)
        per_env: dict[str, tuple[list[Stay], list[Stay], bool]] = {}
        for env in history.environments:
            stays = _overlay_stays(overlay_by_env.get(env, ()), identity)
            channel_changes: list[DbChange] = []
            for (container, channel), changes in db_by_key.items():
                if channel == env and (image.container is None or container == image.container):
                    channel_changes.extend(changes)
            # History order (the reader lists oldest first), never committer dates: a clock
            # that is behind (or a forged date) must not reorder what replaced what.
            channel_changes.sort(key=lambda c: (db_position[id(c)], c.container))
            channel_stays = _channel_stays(channel_changes, identity)
            stays = _unknown_at_boundary(stays, history.shallow)
            channel_stays = _unknown_at_boundary(channel_stays, history.shallow)
            in_overlay = any(
                e == env and state_matches(state, identity) for e, _a, _f, state in history.overlays_at_head
            )
            in_channel = any(
                r.channel == env
                and (image.container is None or r.container == image.container)
                and _release_matches(r, identity)
                for r in history.db_at_head
            )
            present = in_overlay if env in envs_with_overlays else in_channel
            per_env[env] = (stays, channel_stays, present)
            # Only a channel db.json records for this container can disagree with its overlay
            # (promotions move overlays only; update-db records the channels dispatched to).
            recorded = any(
                r.channel == env and (image.container is None or r.container == image.container)
                for r in history.db_at_head
            )
            # --env narrows the findings as it narrows the rows (a finding about an env not asked for
            # is noise to whoever asked about prod).
            if recorded and env in shown_envs and env in envs_with_overlays and in_channel != in_overlay:
                where = "holds" if in_channel else "does not hold"
                findings.append(
                    Finding(
                        "mismatch",
                        env,
                        f"db.json channel {env} {where} {_label(image)} but the {env} overlay "
                        f"{'does not' if in_channel else 'does'}: promote it or check the db",
                    )
                )
        # A first arrival at a shallow clone's boundary is unknown: no soak is measured from or to it.
        firsts = {
            env: _first_arrival(per_env[env][0] or per_env[env][1], known_only=True)
            for env in history.environments
        }
        order = list(history.environments)
        for position, env in enumerate(order):
            if env not in shown_envs:
                continue
            stays, channel_stays, present = per_env[env]
            soak = None
            if (
                position + 1 < len(order)
                and firsts[env] is not None
                and firsts[order[position + 1]] is not None
            ):
                first, following = firsts[env], firsts[order[position + 1]]
                assert first is not None and following is not None
                soak = max(0.0, (following - first).total_seconds())
            env_apps = [a for a in argo_apps if a.environment == env and (not a.app or a.app in image_apps)]
            app = env_apps[0] if env_apps else None
            live = _combined_live(env_apps)
            env_deployments = tuple(
                sorted(
                    (d for d in deployments or () if d.environment == env and _in_stays(d, stays, order_of)),
                    key=lambda d: (d.created_at, d.id),
                )
            )
            since_at = stays[-1].arrival.at if present and stays else None
            if since_at is None and present and channel_stays:
                since_at = channel_stays[-1].arrival.at
            current = (
                stays[-1] if present and stays else channel_stays[-1] if present and channel_stays else None
            )
            if current is not None and current.arrival.kind == "initial":
                since_at = None  # there before the shallow clone's oldest commit: since when is unknown
            for other in env_apps[1:]:  # drift of every Application of the image's apps here
                findings.extend(_findings(env, image, present, _live(other), other, (), None, order_of))
            # --since drops the stays that ended before it, and with them their gaps.
            judged_stays, judged_deployments = _gap_inputs(
                env, _after(stays, since), deployments, deployments_read
            )
            findings.extend(
                _findings(env, image, present, _live(app), app, judged_stays, judged_deployments, order_of)
            )
            env_traces.append(
                EnvTrace(
                    environment=env,
                    present=present,
                    live=live,
                    since=since_at,
                    stays=tuple(_after(stays, since)),
                    channel_stays=tuple(_after(channel_stays, since)),
                    soak_seconds=soak,
                    argo_app=", ".join(a.name for a in env_apps) or None,
                    deployments=env_deployments,
                )
            )
            image_of.append(index)
            timeline.extend(_events(env, stays, "overlay", image))
            timeline.extend(_events(env, channel_stays, "db", image))
            for argo_app in env_apps:
                timeline.extend(_argo_events(env, argo_app))
            timeline.extend(
                TimelineEvent(
                    d.created_at,
                    env,
                    "github",
                    f"deployment:{d.state or 'none'}",
                    d.sha,
                    f"deployment {d.id}",
                )
                for d in env_deployments
            )
    if since is not None:
        timeline = [event for event in timeline if event.at >= since]
    timeline = sorted(
        set(timeline), key=lambda e: (e.at, e.environment, e.source, e.kind, e.commit or "", e.text)
    )
    if limit is not None:
        timeline = timeline[-limit:] if limit > 0 else []
    findings = sorted(set(findings), key=lambda f: (f.kind, f.environment or "", f.message))
    return TraceResult(
        query=query,
        found=bool(images),
        images=tuple(images),
        environments=tuple(env_traces),
        timeline=tuple(timeline),
        findings=tuple(findings),
        ref=history.ref,
        head=history.head,
        generated_at=now,
        notes=history.notes,
        image_of_environment=tuple(image_of),
    )


def _label(image: MatchedImage) -> str:
    """The image in a finding or event: its digest shortened (the JSON's images hold it whole)."""
    text = image.image
    if image.tag:
        text += f":{image.tag}"
    if image.digest:
        text += f"@{short_digest(image.digest)}"
    return text


def _first_arrival(stays: Sequence[Stay], *, known_only: bool = False) -> datetime | None:
    if not stays or (known_only and stays[0].arrival.kind == "initial"):
        return None
    return stays[0].arrival.at


def _unknown_at_boundary(stays: list[Stay], shallow: Sequence[str]) -> list[Stay]:
    """Stays that begin at a shallow clone's boundary commit began there or before: git shows that
    commit as adding every file, so its author, pull request and kind say nothing about how the
    image arrived. Their arrival is ``initial`` (there at the first commit read), by nobody."""
    if not shallow:
        return stays
    boundary = set(shallow)
    return [
        dataclasses.replace(
            stay,
            arrival=Arrival("initial", stay.arrival.at, stay.arrival.commit, None, None),
        )
        if stay.arrival.commit in boundary
        else stay
        for stay in stays
    ]


def _after(stays: Sequence[Stay], since: datetime | None) -> list[Stay]:
    return [s for s in stays if since is None or s.left_at is None or s.left_at >= since]


def _in_stays(deployment: DeploymentRecord, stays: Sequence[Stay], order: Mapping[str, int]) -> bool:
    """The deployment ran a commit at which the environment held the image: the arrival commit or
    any commit landed on the branch after it and before the image left (first-parent order). A
    commit the order cannot place (not on the branch: a pull request's own commit, a clone without
    it, a hand-made History) falls back to when the deployment was created."""
    at = order.get(deployment.sha)
    for stay in stays:
        if deployment.sha == stay.arrival.commit:
            return True
        start = order.get(stay.arrival.commit)
        end = order.get(stay.left_commit) if stay.left_commit is not None else len(order)
        if at is not None and start is not None and end is not None:
            if start <= at < end:
                return True
            continue
        if stay.arrival.at <= deployment.created_at and (
            stay.left_at is None or deployment.created_at < stay.left_at
        ):
            return True
    return False


# Arrivals a deployment status is expected for: "a promotion with no deployment status" is a gap.
_PROMOTION_KINDS = frozenset({"promote", "rollback", "revert", "pin"})


def _findings(
    env: str,
    image: MatchedImage,
    present: bool,
    live: bool | None,
    app: ArgoApp | None,
    stays: Sequence[Stay],
    deployments: Sequence[DeploymentRecord] | None,
    order: Mapping[str, int],
) -> list[Finding]:
    out: list[Finding] = []
    label = _label(image)
    if app is not None:
        if live is not None and live != present:
            if present:
                text = (
                    f"not live: Argo CD app {app.name} is synced to a revision that does not hold {label}; "
                    f"the {env} overlay does"
                )
            else:
                text = (
                    f"still live: Argo CD app {app.name} runs {label} "
                    f"but the {env} overlay no longer holds it"
                )
            out.append(
                Finding(
                    "drift",
                    env,
                    f"{text} (sync {app.sync_status}, revision {(app.sync_revision or '?')[:12]})",
                )
            )
        elif app.sync_status == "OutOfSync" and present:
            out.append(
                Finding(
                    "drift", env, f"out of sync: Argo CD app {app.name} is OutOfSync with the {env} overlay"
                )
            )
    if deployments is not None:
        for stay in stays:
            if stay.arrival.kind not in _PROMOTION_KINDS:
                continue  # update-db's write-through (dispatch), a hand edit: no promotion to report
            if not any(
                d.environment == env and d.state is not None and _in_stays(d, (stay,), order)
                for d in deployments
            ):
                out.append(
                    Finding(
                        "gap",
                        env,
                        f"no deployment status: GitHub has none for {env} while {label} was there "
                        f"(arrived at {stay.arrival.commit[:12]})",
                    )
                )
    return out


def _events(
    env: str, stays: Sequence[Stay], source: Literal["db", "overlay"], image: MatchedImage
) -> list[TimelineEvent]:
    label = _label(image)
    events = []
    for stay in stays:
        arrival = stay.arrival
        how = arrival.kind + (f" (#{arrival.pull_request})" if arrival.pull_request else "")
        events.append(
            TimelineEvent(arrival.at, env, source, arrival.kind, arrival.commit, f"{label} arrived: {how}")
        )
        if stay.left_at is not None:
            by = f" by {stay.replaced_by}" if stay.replaced_by else " (removed)"
            events.append(
                TimelineEvent(
                    stay.left_at, env, source, "replaced", stay.left_commit, f"{label} replaced{by}"
                )
            )
    return events


def _argo_events(env: str, app: ArgoApp | None) -> list[TimelineEvent]:
    if app is None:
        return []
    holds = dict(app.image_at_revision)
    return [
        TimelineEvent(
            entry.deployed_at,
            env,
            "argocd",
            "synced",
            entry.revision,
            f"Argo CD {app.name} synced #{entry.id}",
        )
        for entry in app.history
        if entry.deployed_at is not None and holds.get(entry.revision)
    ]
