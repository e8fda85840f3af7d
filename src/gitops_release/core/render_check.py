"""Does a rendered overlay deploy the image a release (or a promotion) put into it?

Pure: takes the images kustomize rendered (adapters/kustomize.py) and the references the edit
intends. An ``images:`` entry whose ``name`` matches no image of the base changes nothing in the
render, so the edit alone proves nothing: update-db's write-through and promote-overlay both
refuse an overlay whose render lacks the reference (input ``render-check``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gitops_release.core.release import show
from gitops_release.errors import ConfigError


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
    name = reference.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    return head + slash + last.split(":", 1)[0]


def _last(name: str) -> str:
    return name.rsplit("/", 1)[-1]


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
    names = {_last(ref.image), *((ref.container,) if ref.container else ())}
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
