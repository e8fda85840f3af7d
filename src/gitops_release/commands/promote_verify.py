"""promote-overlay mode verify, the checks on the whole change of a pull request (beyond the image
entries run_verify turns into plans): every file the pull request changed is scanned for private
keys, no env directory holds two overlay files, and — when anything changed — every overlay of
every env is rendered at verify-base and at the head: a render failure, a Secret with data, a
private key in any rendered string, and a container image that changed without a checked
image-entry change of that env are refused. With render-check false, the changed YAML files are
read without kustomize instead (yaml_level_reasons). A changed release-manifest.json must list
the head's images (manifest_reasons).

Why every overlay: an overlay's render can depend on any file of the repository (its bases, a
component, a patch, a generator's file, another env's overlay used as a base), and finding out
which ones statically means re-implementing kustomize's loader. Two combined kustomize runs
(one per tree) are cheap next to a job's start-up, and a change that no overlay reads renders
the same as before, so it passes. Only when no changed file can be read by a render at all (it
is under no kustomization's directory: docs, CI files) are the renders skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from gitops_release.adapters import layout
from gitops_release.adapters.git import Git
from gitops_release.commands.promote_overlay import (
    _Render,
    _render_combined,
    _render_one,
    _same_version,
    _Tree,
    _wanted,
    worktree,
)
from gitops_release.core.manifest import MAX_EXISTING_CHARS, manifest_schema
from gitops_release.core.policy import StrictSafeLoader
from gitops_release.core.promotion import PlanItem
from gitops_release.core.release import show
from gitops_release.core.render_check import check_rendered, repository
from gitops_release.core.secrets import private_key_findings, secret_findings, string_key_findings
from gitops_release.core.yaml_limits import AliasLimitError
from gitops_release.errors import GitError, ReleaseError

# A changed file larger than this is not read whole (memory); it is refused instead of passed.
MAX_SCAN_BYTES = 32 * 1024 * 1024


def changed_files(git: Git, base_sha: str) -> list[str]:
    """Every path that differs between ``base_sha`` and HEAD: added, modified, deleted, and both
    sides of a rename (renames are not detected, so each shows as a deletion and an addition)."""
    out = git.run("diff", "--name-only", "--no-renames", "-z", base_sha, "HEAD", "--").out
    return sorted({path for path in out.split("\0") if path})


def can_change_a_render(checkout: Path, path: str, *, policy_path: str) -> bool:
    """Whether kustomize could read ``path`` while rendering: it is the policy, an overlay file,
    or it lies under a directory holding a kustomization. kustomize (as rendered here, with its
    default load restrictor) reads local files only from below the kustomization that names
    them; a deleted kustomization is itself a changed overlay file."""
    parts = PurePosixPath(path).parts
    if path == policy_path or (parts and parts[-1] in layout.OVERLAY_FILES):
        return True
    for depth in range(len(parts)):
        directory = checkout.joinpath(*parts[:depth])
        if any(os.path.lexists(directory / name) for name in layout.OVERLAY_FILES):
            return True
    return False


def private_key_reasons(checkout: Path, paths: Sequence[str]) -> list[str]:
    """A private-key block in any changed file that exists at the head (deleted ones are gone;
    a symbolic link is a path, not content: what it points to is scanned when it changed)."""
    reasons: list[str] = []
    root = checkout.resolve()
    for rel in paths:
        path = checkout / rel
        try:
            info = os.lstat(path)
        except OSError:
            continue  # deleted by the pull request
        if not stat.S_ISREG(info.st_mode) or not path.resolve().is_relative_to(root):
            continue
        if info.st_size > MAX_SCAN_BYTES:
            reasons.append(
                f"{rel}: {info.st_size} bytes, too large to scan for private keys "
                f"(at most {MAX_SCAN_BYTES} bytes)"
            )
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        findings = private_key_findings(text, shown=rel)
        if findings:
            reasons.append(findings[0])  # it names the file, the line and the fix
    return reasons


def overlay_file_reasons(tree: _Tree, envs: Collection[str]) -> list[str]:
    """An env directory with two overlay file names: kustomize refuses to render it, and which
    one a plan reads would be a guess."""
    reasons: list[str] = []
    for rel in _overlay_dirs(tree, envs):
        names = [name for name in layout.OVERLAY_FILES if os.path.lexists(tree.root / rel / name)]
        if len(names) > 1:
            reasons.append(f"{rel}: holds {' and '.join(names)}: keep one overlay file per env directory")
    return reasons


def _overlay_dirs(tree: _Tree, envs: Collection[str]) -> list[str]:
    return sorted(
        {rel for env, files in tree.envs.items() if env in envs for rel in files.overlay_dirs.values()}
    )


def render_all(
    root: Path, rels: Sequence[str], *, kubectl: Path, env: Mapping[str, str]
) -> tuple[dict[str, _Render], dict[str, str]]:
    """Every overlay of ``rels`` rendered (one combined kustomize run; one by one when that
    fails, so each failing overlay is named): the renders, and the error of each that failed."""
    if not rels:
        return {}, {}
    if len(rels) > 1:
        combined = _render_combined(root, rels, kubectl=kubectl, env=env)
        if combined is not None:
            for index, rel in enumerate(rels):
                combined[rel].secrets = [_unprefixed(doc, f"r{index}-") for doc in combined[rel].secrets]
            return combined, {}
    renders: dict[str, _Render] = {}
    failures: dict[str, str] = {}
    workers = max(1, min(4, os.cpu_count() or 1, len(rels)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {rel: pool.submit(_render_one, root, rel, kubectl=kubectl, env=env) for rel in rels}
        for rel in rels:
            try:
                renders[rel] = futures[rel].result()
            except ReleaseError as exc:
                failures[rel] = exc.message
    return renders, failures


def _unprefixed(doc: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A Secret of a combined render named as the overlay names it (_render_combined prefixes
    each overlay's resources with ``r<index>-``)."""
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        return doc
    name = metadata.get("name")
    if not isinstance(name, str) or not name.startswith(prefix):
        return doc
    return {**doc, "metadata": {**metadata, "name": name[len(prefix) :]}}


def _entry_changes(before: _Tree, head: _Tree, envs: Collection[str]) -> dict[str, list[PlanItem]]:
    """Every changed kustomize image entry, by the overlay directory whose render it changes.
    run_verify checks each of them (a plan through the gates, or a reason of its own): a render
    change one of them sets is explained here, and is not reported a second time."""
    by_dir: dict[str, list[PlanItem]] = {}
    for env in envs:
        old, new = before.envs[env].state, head.envs[env].state
        overlay_dirs = head.envs[env].overlay_dirs
        for key, (target, after) in sorted(new.items()):
            was = old.get(key)
            if target.kind != "kustomize" or target.app not in overlay_dirs or (was and was[1] == after):
                continue
            item = PlanItem(app=target.app, image=key[1], target=target, before=was and was[1], after=after)
            by_dir.setdefault(overlay_dirs[target.app], []).append(item)
    return by_dir


def image_reasons(rel: str, before: _Render | None, after: _Render, items: Sequence[PlanItem]) -> list[str]:
    """The render of ``rel`` at the head against its render at verify-base: a container whose
    image changed must now run a planned reference of that overlay's image-entry changes; a new
    container must run a planned reference or an image the overlay already rendered; and every
    planned reference must be rendered. (Everything else — labels, replicas, new resources — is
    a reviewer's call, not a policy one.)"""
    images = [c.image for r in after.resources for c in r.containers]
    wanted = [_wanted(item, images) for item in items]
    accepted = frozenset().union(*(ref.accepted() for ref in wanted))
    old_resources = before.resources if before is not None else []
    was = {(c.resource, c.container): c.image for r in old_resources for c in r.containers}
    known = set(was.values())
    reasons: list[str] = []
    for resource in after.resources:
        for container in resource.containers:
            old = was.get((container.resource, container.container))
            image = container.image
            if image == old or image in accepted or (old is None and image in known):
                continue
            change = f"from {show(old, 200)} to" if old is not None else "(new) with"
            reasons.append(
                f"{rel}: container {show(container.resource + '/' + container.container, 200)} {change} "
                f"{show(image, 200)}, which no images: entry change of this overlay sets "
                f"(entries: {', '.join(show(str(ref), 200) for ref in wanted) or 'none'})"
            )
    try:
        check_rendered(rel, images, wanted)
    except ReleaseError as exc:
        reasons.append(exc.message)
    return reasons


def render_reasons(
    *,
    git: Git,
    checkout: Path,
    base_sha: str,
    before: _Tree,
    head: _Tree,
    kubectl: Path,
    env: Mapping[str, str],
    envs: Collection[str],
) -> list[str]:
    """Every overlay of every env rendered at verify-base and at the head (see the module doc)."""
    head_rels = _overlay_dirs(head, envs)
    with worktree(git, base_sha) as base_root:
        base_rels = [rel for rel in _overlay_dirs(before, envs) if (base_root / rel).is_dir()]
        base_renders, _ = render_all(base_root, base_rels, kubectl=kubectl, env=env)
    head_renders, failures = render_all(checkout, head_rels, kubectl=kubectl, env=env)
    planned = _entry_changes(before, head, envs)
    reasons = [failures[rel] for rel in sorted(failures)]
    for rel in sorted(head_renders):
        after = head_renders[rel]
        reasons += secret_findings(after.secrets, shown=rel)[:1]  # names the overlay and the fix
        reasons += after.keys[:1]  # a key the raw scan of the changed files cannot see (escaped, folded)
        # An overlay that did not render at verify-base has nothing to compare with: it is held
        # to the rest (renders, no Secret values, planned images rendered).
        if rel not in base_renders and rel in base_rels:
            continue
        reasons += image_reasons(rel, base_renders.get(rel), after, planned.get(rel, []))
    return reasons


# -- the YAML-level check (render-check false) -----------------------------------------------

_YAML_SUFFIXES = (".yaml", ".yml", ".json")  # JSON is YAML: a JSON patch file is read the same way
#: A ``patch:`` string holding YAML is read as YAML this many levels deep at most.
_MAX_PATCH_NESTING = 2


class _ManifestLoader(StrictSafeLoader):
    """The policy's loader (aliases bounded, merge keys and duplicate keys refused: kustomize
    refuses a duplicate key, and PyYAML would keep only the last ``image:`` of two)."""


def _load_documents(text: str, shown: str) -> list[Any]:
    """Every document of ``text``; ConfigError-free: raises ValueError with the reason."""
    try:
        return list(yaml.load_all(text, Loader=_ManifestLoader))
    except (yaml.YAMLError, AliasLimitError, RecursionError) as exc:
        problem = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"{shown}: is not readable YAML ({show(problem, 200)})") from None


class _Found:
    """What one file's documents hold: decoded strings, image values, secret generators."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self.images: set[str] = set()
        self.generators: list[str] = []
        self.documents: list[Any] = []


def _walk(node: Any, found: _Found, *, nesting: int) -> None:
    """Every string (keys too), every ``image:`` string at any depth, every JSON patch op whose
    path ends in ``/image``, a ``fieldPath(s)`` naming an image field (a replacement), a
    ``secretGenerator`` entry with literals/files/envs, and a ``patch:`` string read as YAML."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.strings.append(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
            image = item.get("image")
            if isinstance(image, str):
                found.images.add(image)
            path, value = item.get("path"), item.get("value")
            if isinstance(path, str) and path.rstrip("/").endswith("/image") and isinstance(value, str):
                found.images.add(value)
            for key in ("fieldPath", "fieldPaths"):
                paths = item.get(key)
                for field_path in paths if isinstance(paths, list) else [paths]:
                    if isinstance(field_path, str) and "image" in field_path:
                        found.images.add(f"(a replacement into {field_path})")
            generators = item.get("secretGenerator")
            for entry in generators if isinstance(generators, list) else []:
                if isinstance(entry, dict) and any(
                    entry.get(k) for k in ("literals", "files", "envs", "env")
                ):
                    found.generators.append(str(entry.get("name")))
            patch = item.get("patch")
            if isinstance(patch, str) and nesting < _MAX_PATCH_NESTING:
                with contextlib.suppress(ValueError):
                    for doc in _load_documents(patch, "patch"):
                        _walk(doc, found, nesting=nesting + 1)


def _scan_yaml(text: str, shown: str) -> _Found:
    found = _Found()
    found.documents = _load_documents(text, shown)
    for doc in found.documents:
        _walk(doc, found, nesting=0)
    return found


def _is_yaml(rel: str) -> bool:
    name = PurePosixPath(rel).name
    return name in layout.OVERLAY_FILES or name.lower().endswith(_YAML_SUFFIXES)


def yaml_level_reasons(
    *, git: Git, checkout: Path, base_sha: str, paths: Sequence[str], planned: Sequence[PlanItem]
) -> list[str]:
    """Without renders (render-check false), each changed YAML file at the head, read without
    kustomize: a file that does not parse; a ``kind: Secret`` with data/stringData; a
    ``secretGenerator`` with literals, files or envs; a private key in any decoded string; an
    image value (an ``image:`` at any depth, a JSON patch op on ``…/image``, a replacement into
    an image field) that the file's verify-base version does not hold and no checked images:
    entry change sets. What only a render shows (an image or Secret made by a remote base, a
    component or a generator's file read from elsewhere) is not seen: see the docs."""
    reasons: list[str] = []
    root = checkout.resolve()
    for rel in paths:
        path = checkout / rel
        try:
            info = os.lstat(path)
        except OSError:
            continue  # deleted: a removed image is the image-entry gates' concern
        if not _is_yaml(rel) or not stat.S_ISREG(info.st_mode) or not path.resolve().is_relative_to(root):
            continue
        if info.st_size > MAX_SCAN_BYTES:
            continue  # private_key_reasons refuses it already
        text = path.read_bytes().decode("utf-8", errors="replace")
        try:
            head = _scan_yaml(text, rel)
        except ValueError as exc:
            reasons.append(f"{exc}: fix it (with render-check false, verify reads the YAML itself)")
            continue
        reasons += secret_findings([d for d in head.documents if isinstance(d, dict)], shown=rel)[:1]
        reasons += [
            f"{rel}: secretGenerator {show(name, 80)} has literals, files or envs: secret values must not be "
            "in desired state; reference them (ExternalSecret, SealedSecret)"
            for name in head.generators[:1]
        ]
        reasons += string_key_findings(head.strings, shown=rel)[:1]
        try:
            was = _scan_yaml(git.blob(f"{base_sha}:{rel}").decode("utf-8", "replace"), rel).images
        except (GitError, ValueError):
            was = set()  # new at the head, or unreadable before: every image is new
        for image in sorted(head.images - was):
            if any(
                repository(image) == (i.after.new_name or i.after.name) and _same_version(image, i.after)
                for i in planned
            ):
                continue
            reasons.append(
                f"{rel}: sets image {show(image, 200)}, which no images: entry change sets "
                "(render-check is false: verify reads image: values, JSON patch ops on /image and "
                "replacements into image fields of the changed files)"
            )
    return reasons


def manifest_reasons(checkout: Path, paths: Collection[str], head: _Tree, envs: Collection[str]) -> list[str]:
    """A changed release-manifest.json beside an env's overlay: it must be valid against the
    schema, name its env, and list exactly the images the head's overlay and values files set
    for that app in that env (newName, tag, digest, reference). Its provenance fields (kind,
    source env and commit, PR, time) are attested by the promotion commit that wrote them, not
    re-derived here. A deleted manifest is not a forgery: the next promotion writes it again."""
    reasons: list[str] = []
    validator = Draft202012Validator(manifest_schema())
    for env in envs:
        files = head.envs[env]
        for app, env_rel in sorted(files.overlay_dirs.items()):
            rel = f"{env_rel}/{layout.MANIFEST_NAME}"
            path = checkout / rel
            if rel not in paths or not path.is_file() or path.is_symlink():
                continue
            try:
                if path.stat().st_size > MAX_EXISTING_CHARS:
                    raise ValueError(f"larger than {MAX_EXISTING_CHARS} bytes")
                document = json.loads(path.read_bytes().decode("utf-8"))
            except (ValueError, RecursionError) as exc:
                reasons.append(
                    f"{rel}: not a release manifest ({show(str(exc), 200)}): only promote-overlay writes it"
                )
                continue
            error = best_match(validator.iter_errors(document))
            if error is not None:
                pointer = "/" + "/".join(str(part) for part in error.absolute_path)
                reasons.append(
                    f"{rel}: {pointer}: {show(' '.join(error.message.split()), 200)} "
                    "(schemas/release-manifest.schema.json): only promote-overlay writes it"
                )
                continue
            expected = sorted(
                (app, image, target.file, state.new_name, state.new_tag, state.digest, state.shown())
                for (owner, image), (target, state) in files.state.items()
                if owner == app
            )
            listed = sorted(
                (e["app"], e["image"], e["file"], e["newName"], e["tag"], e["digest"], e["reference"])
                for e in document["images"]
            )
            if document["environment"] != env or listed != expected:
                reasons.append(
                    f"{rel}: does not list the images the head's {env} overlay and values files set for "
                    f"{show(app, 80)} (environment {show(document['environment'], 40)}): only "
                    "promote-overlay writes it; revert the hand edit"
                )
    return reasons


def verify_change(
    *,
    git: Git,
    checkout: Path,
    base_sha: str,
    before: _Tree,
    head: _Tree,
    kubectl: Path | None,
    env: Mapping[str, str],
    envs: Collection[str],
    policy_path: str,
) -> list[str]:
    """The reasons the pull request's whole change (verify-base..HEAD) is refused, beyond the
    image-entry gates; empty when nothing changed."""
    paths = changed_files(git, base_sha)
    if not paths:
        return []
    reasons = private_key_reasons(checkout, paths)
    reasons += overlay_file_reasons(head, envs)
    reasons += manifest_reasons(checkout, paths, head, envs)
    # A change no render can read (docs, CI files) renders the same: skip the two renders.
    relevant = any(can_change_a_render(checkout, path, policy_path=policy_path) for path in paths)
    if kubectl is None:  # no renders: the YAML-level check of the changed files instead
        planned = [item for items in _entry_changes(before, head, envs).values() for item in items]
        # What a render could read, and the envs' values files: not CI files (a workflow's
        # `container: image:`) or docs, which deploy nothing.
        env_files = {path for files in head.envs.values() for path in files.files()}
        readable = [
            path
            for path in paths
            if path in env_files or can_change_a_render(checkout, path, policy_path=policy_path)
        ]
        reasons += yaml_level_reasons(
            git=git, checkout=checkout, base_sha=base_sha, paths=readable, planned=planned
        )
    elif relevant:
        reasons += render_reasons(
            git=git,
            checkout=checkout,
            base_sha=base_sha,
            before=before,
            head=head,
            kubectl=kubectl,
            env=env,
            envs=envs,
        )
    return reasons
