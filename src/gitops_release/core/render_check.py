"""Does a rendered overlay deploy the image a release (or a promotion) put into it?

Pure: takes the images kustomize rendered (adapters/kustomize.py) and the references the edit
intends. An ``images:`` entry whose ``name`` matches no image of the base changes nothing in the
render, so the edit alone proves nothing: update-db's write-through and promote-overlay both
refuse an overlay whose render lacks the reference (input ``render-check``).

An edit can also reach too far (an entry another container's image matches, a YAML merge key
copying the new tag into another entry): ``check_render_diff`` compares the renders before and
after the edit, and only containers whose new image is one of the planned references may change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gitops_release.core.release import show
from gitops_release.errors import ConfigError


@dataclass(frozen=True)
class RenderedContainer:
    """One container of a rendered resource: ``Deployment/my-app``, ``my-app``, its image."""

    resource: str
    container: str
    image: str


@dataclass(frozen=True)
class RenderedResource:
    """One document of a render: ``Kind/name``, its containers (in render order) and a digest of
    everything else in it (the containers' images left out), to tell whether anything else changed."""

    resource: str
    containers: tuple[RenderedContainer, ...]
    digest: str


@dataclass(frozen=True)
class ImageRef:
    """``image:tag[@digest]`` as the overlay edit intends it; ``container`` names it in messages."""

    image: str
    tag: str
    digest: str | None = None
    container: str | None = None

    def __str__(self) -> str:
        return f"{self.image}:{self.tag}" + (f"@{self.digest}" if self.digest else "")

    def accepted(self) -> frozenset[str]:
        """The rendered forms that deploy exactly this image: ``image:tag@digest`` (kustomize 5
        keeps the tag) or ``image@digest`` (kustomize 4 drops it); ``image:tag`` without a digest."""
        if self.digest:
            return frozenset({str(self), f"{self.image}@{self.digest}"})
        return frozenset({str(self)})


def repository(reference: str) -> str:
    """``registry:5000/org/app:tag@sha256:…`` -> ``registry:5000/org/app``."""
    head, slash, last = reference.partition("@")[0].rpartition("/")
    return head + slash + last.partition(":")[0]


def _last(name: str) -> str:
    return name.rpartition("/")[2]


def missing(rendered: Sequence[str], wanted: Sequence[ImageRef]) -> list[ImageRef]:
    """The references in ``wanted`` that no rendered image deploys."""
    present = set(rendered)
    return [ref for ref in wanted if not ref.accepted() & present]


def check_rendered(
    overlay: str,
    rendered: Sequence[str],
    wanted: Sequence[ImageRef],
    *,
    render_check_input: str = "render-check",
) -> None:
    """ConfigError (one line: the overlay file, the image, the fix) unless every reference in
    ``wanted`` is among the ``rendered`` images of ``overlay``."""
    absent = missing(rendered, wanted)
    if not absent:
        return
    ref = absent[0]
    distinct = sorted(set(rendered))
    shown = ", ".join(show(image, 120) for image in distinct[:6]) or "no container image"
    if len(distinct) > 6:
        shown += f" and {len(distinct) - 6} more"
    # A base image with the release's short name (or the container's) is what the entry must match.
    names = {_last(ref.image), ref.container}  # None matches no image
    candidates = sorted(
        {repository(image) for image in distinct if _last(repository(image)) in names} - {ref.image}
    )
    if candidates:
        fix = (
            f"the base deploys {show(candidates[0], 120)}: give that images: entry name: "
            f"{show(candidates[0], 120)} with newName: {show(ref.image, 120)} in {overlay}"
        )
    else:
        fix = (
            f"make an images: entry in {overlay} whose name is the image a base container uses "
            f"(newName: {show(ref.image, 120)}), or add the container to the base"
        )
    raise ConfigError(
        f"{overlay}: kustomize renders no container with {show(str(ref), 200)} (it renders {shown}): "
        "the overlay would not deploy the release",
        fix=f"{fix}; or set {render_check_input}: false for an overlay that cannot render where the job runs",
    )


def _where(container: RenderedContainer) -> str:
    return f"{container.resource}/{container.container}"


def check_render_diff(
    overlay: str,
    before: Sequence[RenderedResource],
    after: Sequence[RenderedResource],
    wanted: Sequence[ImageRef],
    *,
    render_check_input: str = "render-check",
) -> None:
    """ConfigError (one line naming ``overlay``, the container and the change) unless the edit
    that turned the render ``before`` into ``after`` changed only container images, each changed
    container now runs one of the ``wanted`` references, and every ``wanted`` reference is
    rendered. update-db's write-through and promote-overlay refuse anything else."""
    escape = f"; or set {render_check_input}: false for an overlay that cannot render where the job runs"
    fix = (
        "release each container with its own image: the images: entry this release edits must be "
        "the one only its container uses (no YAML anchors or merge keys, no replacements that copy it)"
    )
    planned = ", ".join(show(str(ref), 200) for ref in wanted) or "none"
    if [r.resource for r in before] != [r.resource for r in after]:
        gone = sorted({r.resource for r in before} ^ {r.resource for r in after}) or ["their order"]
        raise ConfigError(
            f"{overlay}: the edit would change which resources kustomize renders ({show(gone[0], 200)}), "
            "not only container images",
            fix=fix + escape,
        )
    accepted = frozenset().union(*(ref.accepted() for ref in wanted))
    for old, new in zip(before, after, strict=True):
        if [c.container for c in old.containers] != [c.container for c in new.containers]:
            raise ConfigError(
                f"{overlay}: the edit would change the containers of {show(new.resource, 200)}, "
                "not only their images",
                fix=fix + escape,
            )
        for was, now in zip(old.containers, new.containers, strict=True):
            if was.image != now.image and now.image not in accepted:
                raise ConfigError(
                    f"{overlay}: the edit would change container {show(_where(now), 200)} from "
                    f"{show(was.image, 200)} to {show(now.image, 200)}, which is not what this release "
                    f"plans ({planned})",
                    fix=fix + escape,
                )
        if old.digest != new.digest:
            raise ConfigError(
                f"{overlay}: the edit would change {show(new.resource, 200)} beyond its container "
                "images (kustomize writes the image somewhere else too)",
                fix=fix + escape,
            )
    check_rendered(
        overlay,
        [c.image for r in after for c in r.containers],
        wanted,
        render_check_input=render_check_input,
    )
