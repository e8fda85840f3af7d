"""The release manifest promote-overlay writes beside each overlay it edits
(``<env dir>/release-manifest.json``): what the environment deploys, promoted from where, when.

Pure: builds the document from the plan and the environment's images after the edit, checks it
against the JSON Schema shipped in the package (``schemas/release-manifest.schema.json``) and
renders it deterministically; the command writes the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from gitops_release.core.promotion import EnvState, PromotionPlan
from gitops_release.errors import ConfigError

SCHEMA_VERSION = 1
#: The file name, in the overlay's directory.
MANIFEST_NAME = "release-manifest.json"
#: An existing manifest larger than this is not compared (it is rewritten): no real one comes near.
MAX_EXISTING_CHARS = 10_000_000


@lru_cache(maxsize=1)
def manifest_schema() -> dict[str, Any]:
    """The release manifest JSON Schema shipped in the package."""
    text = (resources.files("gitops_release") / "schemas" / "release-manifest.schema.json").read_text(
        encoding="utf-8"
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(manifest_schema())


#: The per-image provenance fields: how each image got to this state, kept per image so a partial
#: pin or rollback does not restate where the other images came from.
PROVENANCE = ("kind", "sourceEnvironment", "sourceCommit")


def previous_provenance(existing_text: str | None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Each image's provenance in an existing manifest, by (app, image, file): its own fields,
    or (a manifest written before they existed) the manifest's top-level ones. Empty when the
    text is not a manifest (hand-edited, conflict markers, too large)."""
    if existing_text is None or len(existing_text) > MAX_EXISTING_CHARS:
        return {}
    try:
        existing = json.loads(existing_text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(existing, dict) or not isinstance(existing.get("images"), list):
        return {}
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entry in existing["images"]:
        if not isinstance(entry, dict):
            continue
        key = (entry.get("app"), entry.get("image"), entry.get("file"))
        if not all(isinstance(part, str) for part in key):
            continue
        fields = {name: entry.get(name, existing.get(name)) for name in PROVENANCE}
        fields["state"] = (entry.get("newName"), entry.get("tag"), entry.get("digest"))
        found[key] = fields  # type: ignore[index]
    return found


def build_manifest(
    plan: PromotionPlan,
    state_after: EnvState,
    *,
    env: str,
    source_env: str | None,
    source_commit: str | None,
    pull_request: int | None,
    promoted_at: str,
    previous: Mapping[tuple[str, str, str], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The manifest of ``env`` after ``plan``: every image of ``state_after`` (the caller passes
    the images of the one overlay the file sits beside), sorted by app, image and file. Each
    image carries its provenance: the plan's (kind, source env, source commit) for the images it
    changes; for the others, what ``previous`` (previous_provenance of the existing manifest)
    says when it describes the same state, else null (not known). A value the schema refuses (a
    promoted_at not in UTC, a bad commit) is a ConfigError naming it."""
    planned = {(item.app, item.image) for item in plan.items}
    this_run = {"kind": plan.kind, "sourceEnvironment": source_env, "sourceCommit": source_commit}
    unknown = dict.fromkeys(PROVENANCE)

    def provenance(app: str, image: str, file: str, state: Any) -> dict[str, Any]:
        if (app, image) in planned:
            return this_run
        before = (previous or {}).get((app, image, file))
        if before is None or before.get("state") != (state.new_name, state.new_tag, state.digest):
            return unknown
        carried = {name: before.get(name) for name in PROVENANCE}
        # The existing file may be hand-edited: a value the schema refuses is not carried over.
        return carried if _provenance_valid(carried) else unknown

    images = [
        {
            "app": app,
            "image": image,
            "newName": state.new_name,
            "tag": state.new_tag,
            "digest": state.digest,
            "reference": state.shown(),
            "file": target.file,
            **provenance(app, image, target.file, state),
        }
        for (app, image), (target, state) in state_after.items()
    ]
    images.sort(key=lambda entry: (entry["app"], entry["image"], entry["file"]))
    manifest: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "environment": env,
        "sourceEnvironment": source_env,
        "kind": plan.kind,
        "images": images,
        "sourceCommit": source_commit,
        "pullRequest": pull_request,
        "promotedAt": promoted_at,
    }
    error = best_match(_validator().iter_errors(manifest))
    if error is not None:
        pointer = "/" + "/".join(str(part) for part in error.absolute_path)
        raise ConfigError(
            f"release manifest of {env}: {pointer}: {' '.join(error.message.split())[:200]}",
            fix="see schemas/release-manifest.schema.json (docs/promote-overlay.md)",
        )
    return manifest


def _provenance_valid(fields: Mapping[str, Any]) -> bool:
    item_schema = manifest_schema()["properties"]["images"]["items"]["properties"]
    return all(Draft202012Validator(item_schema[name]).is_valid(fields.get(name)) for name in PROVENANCE)


def render_manifest(manifest: dict[str, Any], existing_text: str | None) -> str:
    """``manifest`` as 2-space JSON with sorted keys and a final newline; ``existing_text``
    itself, unchanged, when it holds the same manifest but for ``promotedAt`` (nothing was
    promoted, so the file and its commit stay as they were)."""
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"  # ASCII: \u escapes
    if existing_text is None or len(existing_text) > MAX_EXISTING_CHARS:
        return text
    try:
        existing = json.loads(existing_text)
    except (ValueError, RecursionError):  # not JSON (hand-edited, conflict markers): rewritten
        return text
    if not isinstance(existing, dict):
        return text
    # Compared as canonical JSON: Python's == takes true for 1 and 1.0 for 1, the file would not.
    if _canonical_without_time(existing) != _canonical_without_time(manifest):
        return text
    return existing_text if _validator().is_valid(existing) else text


def _canonical_without_time(document: dict[str, Any]) -> str:
    rest = {key: value for key, value in document.items() if key != "promotedAt"}
    return json.dumps(rest, sort_keys=True)
