"""Where each environment's images live in a config repo checkout (promote-overlay, overlays status).

An environment's overlay directory is ``<overlays dir>/<policy.overlay_for(env)>``; the overlays
dir may hold ``*`` components (``apps/*/overlays``): every directory a ``*`` matches that has the
env's subdirectory is an *app*, named by the matched components joined by ``/`` ("" without
``*``). The overlay file is the first of ``kustomization.yaml``, ``kustomization.yml``,
``Kustomization`` that exists. Helm-style values files (policy ``overlays.values``) hold an
image's tag (digest, repository) under YAML key paths.

Every path goes through ``files.path_in_checkout``: a symbolic link, ``..`` or ``.git`` anywhere
along it is refused (the checkout is hostile). Hidden directories never match a ``*``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from gitops_release.adapters.files import path_in_checkout
from gitops_release.core.overlay import get_images
from gitops_release.core.policy import Policy
from gitops_release.core.promotion import ImageState, Target
from gitops_release.core.values import get_value
from gitops_release.errors import ConfigError

DEFAULT_OVERLAYS_DIR = "infra/argocd/overlays"
OVERLAY_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MANIFEST_NAME = "release-manifest.json"
# The input that names the layout in messages (the policy key it overrides).
FIELD = "overlays-dir"


@dataclass
class EnvFiles:
    """One environment as read from a tree: its image states and the text of every file read."""

    env: str
    state: dict[tuple[str, str], tuple[Target, ImageState]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # repo-relative posix path -> text
    overlay_dirs: dict[str, str] = field(default_factory=dict)  # app -> env overlay dir (posix)
    overlay_file_of: dict[str, str] = field(default_factory=dict)  # app -> its overlay file

    def files(self) -> list[str]:
        """Every file this env's images live in (overlay and values files), sorted."""
        return sorted({target.file for target, _ in self.state.values()} | set(self.overlay_files()))

    def overlay_files(self) -> list[str]:
        return sorted(path for path in self.texts if PurePosixPath(path).name in OVERLAY_FILES)


def parse_images(text: str, path: str) -> list[dict[str, Any]]:
    """core/overlay.get_images, remembered by (path, text): a run reads the same overlay in its
    plan and in every attempt of its edit (a monorepo's hundreds of files), parse it once."""
    return [dict(entry) for entry in _parsed_images(text, path)]


@lru_cache(maxsize=8192)
def _parsed_images(text: str, path: str) -> tuple[dict[str, Any], ...]:
    return tuple(get_images(text, path=path))


def overlays_dir(policy: Policy, override: str | None) -> str:
    """The overlays dir: the input, else the policy's ``overlays.dir``, else the default."""
    return (override or policy.overlays_dir or DEFAULT_OVERLAYS_DIR).strip("/")


def _is_glob(part: str) -> bool:
    return any(ch in part for ch in "*?[")


def app_dirs(root: Path, pattern: str, env_dir: str) -> list[tuple[str, str]]:
    """``(app, env overlay dir)`` for every directory matching ``pattern`` (a path with ``*``
    components) that has ``env_dir`` as a subdirectory; sorted by app."""
    matches: list[tuple[tuple[str, ...], str]] = [((), "")]
    for part in PurePosixPath(pattern).parts:
        found: list[tuple[tuple[str, ...], str]] = []
        for names, rel in matches:
            if not _is_glob(part):
                found.append((names, f"{rel}/{part}" if rel else part))
                continue
            directory = path_in_checkout(root, rel, FIELD) if rel else root
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                raise ConfigError(
                    f"cannot list {rel or '.'} for overlays dir {pattern} ({exc})",
                    fix="make the overlays directory readable",
                ) from None
            for entry in entries:
                if entry.name.startswith(".") or not fnmatch.fnmatchcase(entry.name, part):
                    continue
                child = f"{rel}/{entry.name}" if rel else entry.name
                if entry.is_symlink():
                    path_in_checkout(root, child, FIELD)  # raises, naming the link
                if entry.is_dir(follow_symlinks=False):
                    found.append(((*names, entry.name), child))
        matches = found
    result: list[tuple[str, str]] = []
    for names, rel in matches:
        env_rel = f"{rel}/{env_dir}" if rel else env_dir
        path = path_in_checkout(root, env_rel, FIELD)
        if path.is_dir():
            result.append(("/".join(names), PurePosixPath(env_rel).as_posix()))
    return sorted(result)


def overlay_file(root: Path, env_rel: str) -> str | None:
    """The overlay file of the env directory ``env_rel`` (first of OVERLAY_FILES), or None."""
    for name in OVERLAY_FILES:
        rel = f"{env_rel}/{name}"
        if path_in_checkout(root, rel, FIELD).is_file():
            return rel
    return None


def read_file(root: Path, rel: str, name: str = FIELD) -> str | None:
    """The exact text of ``rel`` (CRLF and a BOM kept: read_text would turn CRLF into LF, and the
    edit would rewrite every line), None when absent; ConfigError naming ``name`` when it cannot
    be read or is not UTF-8."""
    path = path_in_checkout(root, rel, name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {name} {rel} ({exc})", fix=f"make {name} a readable UTF-8 file"
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{name} {rel} is not UTF-8 ({exc.reason} at byte {exc.start})", fix="save the file as UTF-8"
        ) from None


def read_env(
    root: Path,
    policy: Policy,
    env: str,
    *,
    pattern: str,
    required: bool = True,
    apps: Iterable[str] | None = None,
) -> EnvFiles:
    """Every image entry of ``env`` under ``root``: kustomize ``images:`` entries of each app's
    overlay, and the values files the policy maps for this env.

    ``required``: no overlay directory and no values file for the env is a ConfigError naming
    the directory it looked for (a missing env directory). ``apps``: only these apps (None: all).
    Malformed YAML, a missing overlay file in an env directory, a missing values file and an
    image listed twice are ConfigErrors naming the file.
    """
    result = EnvFiles(env)
    env_dir = policy.overlay_for(env)
    wanted = None if apps is None else set(apps)
    for app, env_rel in app_dirs(root, pattern, env_dir):
        if wanted is not None and app not in wanted:
            continue
        rel = overlay_file(root, env_rel)
        if rel is None:
            raise ConfigError(
                f"env directory {env_rel} has no kustomization.yaml (nor kustomization.yml, Kustomization)",
                fix=f"add the overlay file to {env_rel}, or remove the directory",
            )
        text = read_file(root, rel) or ""
        result.texts[rel] = text
        result.overlay_dirs[app] = env_rel
        result.overlay_file_of[app] = rel
        for entry in parse_images(text, rel):
            name = str(entry.get("name", ""))
            key = (app, name)
            if key in result.state:
                raise ConfigError(
                    f"{rel}: image {name!r} is listed twice in images:",
                    fix="keep one images: entry per image name",
                )
            result.state[key] = (
                Target(app=app, file=rel, kind="kustomize"),
                ImageState(
                    name=name,
                    new_name=entry.get("newName"),
                    new_tag=entry.get("newTag"),
                    digest=entry.get("digest"),
                ),
            )
    for rule in policy.values:
        values_rel = rule.files.get(env)
        if values_rel is None:
            continue
        rel = values_rel
        values_text = read_file(root, rel, "overlays.values")
        if values_text is None:
            raise ConfigError(
                f"values file {rel} for image {rule.image} in env {env!r} does not exist",
                fix=f"create {rel}, or fix overlays.values[].files.{env} in the policy",
            )
        text = values_text
        result.texts[rel] = text
        key = ("", rule.image)
        if key in result.state:
            raise ConfigError(
                f"image {rule.image} of env {env!r} is both in {result.state[key][0].file} and in {rel}",
                fix="promote each image from one place: drop it from overlays.values or from the overlay",
            )
        result.state[key] = (
            Target(app="", file=rel, kind="values"),
            ImageState(
                name=rule.image,
                new_name=get_value(text, rule.repository, path=rel) if rule.repository else None,
                new_tag=get_value(text, rule.tag, path=rel),
                digest=get_value(text, rule.digest, path=rel) if rule.digest else None,
            ),
        )
    if required and not result.overlay_dirs and not any(env in rule.files for rule in policy.values):
        raise ConfigError(
            f"env {env!r} has no overlay directory: {pattern}/{env_dir} does not exist"
            + (" for any app" if _is_glob(pattern) else ""),
            fix=f"create {pattern}/{env_dir}/kustomization.yaml, set overlays.dir / overlays.environments "
            "in the policy (or the overlays-dir input), or check the env name",
        )
    return result


def write_file(root: Path, rel: str, text: str) -> None:
    """Write ``text`` to ``rel`` in a scratch checkout the caller will commit from: a temporary
    file renamed over it (a reader never sees half a file), without files.atomic_write's fsyncs:
    a crash loses nothing here (the checkout is reset on the next run and nothing is committed
    before the edit returns), and a monorepo promotion writes hundreds of files (an fsync each
    was seconds)."""
    path = path_in_checkout(root, rel, FIELD)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def manifest_path(env_files: EnvFiles, app: str) -> str | None:
    """``<env overlay dir>/release-manifest.json`` of ``app``; None for an app without an overlay
    directory (values files only)."""
    env_rel = env_files.overlay_dirs.get(app)
    return None if env_rel is None else f"{env_rel}/{MANIFEST_NAME}"


def values_changes(policy: Policy, image: str, after: ImageState, *, file: str) -> Mapping[str, str | None]:
    """The key paths of the values rule for ``image`` and the values ``after`` gives them."""
    for rule in policy.values:
        if rule.image == image:
            changes: dict[str, str | None] = {rule.tag: after.new_tag}
            if rule.digest:
                changes[rule.digest] = after.digest
            elif after.digest:
                raise ConfigError(
                    f"{file}: the promotion gives {image} a digest but overlays.values has no digest key "
                    "path for it",
                    fix=f"add digest: <key path> (e.g. image.digest) to the overlays.values entry of {image}",
                )
            if rule.repository:
                changes[rule.repository] = after.new_name
            elif after.new_name and after.new_name != image:
                raise ConfigError(
                    f"{file}: the promotion gives {image} the repository {after.new_name} but "
                    "overlays.values has no repository key path for it",
                    fix=f"add repository: <key path> to the overlays.values entry of {image}",
                )
            return changes
    raise ConfigError(
        f"{file}: no overlays.values entry for image {image}", fix="add it to overlays.values in the policy"
    )
