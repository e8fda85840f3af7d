"""What the Argo CD sandbox's "repo server" does: resolve a source's targetRevision to a commit in a
registered bare repository and render the app's path at that commit into resources and images.

The tree at the commit is exported with ``git archive`` into a temporary directory that is always
removed. Repository content is untrusted: the archive is bounded in size, a symbolic link whose
target leaves the tree is refused (Argo CD's repo server refuses those too), only regular files,
directories and in-tree links are created, and the render goes through adapters/kustomize.py (argument
list, timeout, memory limit, bounded output, no tokens in its environment, aliases refused).
Directories without a kustomization are read as plain YAML (Argo CD's "Directory" source type,
not recursive, as its default).
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_release.adapters import kustomize
from gitops_release.errors import ReleaseError

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024  # a config repo is kilobytes to a few megabytes
MAX_PLAIN_BYTES = 16 * 1024 * 1024  # the sum of a Directory source's YAML files
GIT_TIMEOUT = 30.0
_SHA = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_PLAIN_SUFFIXES = (".yaml", ".yml", ".json")
# Kinds whose health Argo CD assesses; workloads roll out (Progressing -> Healthy), the others are
# Healthy once they exist. Every other kind has no health (status.resources[] omits `health`).
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Job", "Rollout"})
HEALTHY_KINDS = frozenset(
    {"Service", "Ingress", "PersistentVolumeClaim", "HorizontalPodAutoscaler", "CronJob", "Application"}
)


class RenderError(Exception):
    """A source could not be resolved or rendered; the text is what Argo CD would say after
    "Failed to load target state: "."""


@dataclass(frozen=True)
class Resource:
    """One rendered (or live) Kubernetes object, as the controller compares it."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str
    digest: str  # of the whole object; equal digests = Synced
    images: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.group, self.kind, self.namespace, self.name)


@dataclass(frozen=True)
class Rendered:
    """The desired state of one source at one commit."""

    revision: str
    source_type: str  # "Kustomize" | "Directory" | "Helm" (not rendered)
    resources: tuple[Resource, ...]


def _git(git_dir: Path, *args: str, timeout: float = GIT_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"})
    env["LC_ALL"] = "C"
    try:
        return subprocess.run(
            ["git", f"--git-dir={git_dir}", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RenderError(f"git {args[0]} did not finish within {timeout:g}s") from None


def resolve(git_dir: Path, target_revision: str) -> str:
    """The commit sha ``target_revision`` names in the bare repo: "", HEAD, a branch, a tag (peeled
    to its commit) or a sha (full or abbreviated). Argo CD's words when it cannot."""
    rev = target_revision.strip() or "HEAD"
    if rev.startswith("-") or any(c in rev for c in "\0\n\r "):
        raise RenderError(f"unable to resolve '{target_revision}' to a commit SHA")
    candidates = [rev] if rev == "HEAD" else [f"refs/heads/{rev}", f"refs/tags/{rev}", rev]
    for candidate in candidates:
        proc = _git(
            git_dir, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}"
        )
        if proc.returncode == 0:
            sha = proc.stdout.decode("ascii", "replace").strip()
            if _SHA.match(sha):
                return sha
    raise RenderError(f"unable to resolve '{target_revision}' to a commit SHA")


def _safe_member(member: tarfile.TarInfo, root: Path) -> bool:
    """True to extract ``member``; RenderError for a link out of the tree; False to skip."""
    name = posixpath.normpath(member.name)
    if name.startswith(("/", "../")) or name == "..":
        raise RenderError(f"illegal filepath in archive: {member.name}")
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            raise RenderError(
                f"illegal filepath in symlink: {member.name} -> {member.linkname} leaves the repository"
            )
        return True
    return member.isfile() or member.isdir()


def export_tree(git_dir: Path, sha: str, dest: Path, *, max_bytes: int = MAX_ARCHIVE_BYTES) -> None:
    """The tree of ``sha`` written under ``dest`` (bounded, links kept inside)."""
    with tempfile.TemporaryFile() as archive:
        try:
            proc = subprocess.run(
                ["git", f"--git-dir={git_dir}", "archive", "--format=tar", sha],
                stdin=subprocess.DEVNULL,
                stdout=archive,
                stderr=subprocess.PIPE,
                env={**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, "LC_ALL": "C"},
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"git archive {sha} did not finish within {GIT_TIMEOUT:g}s") from None
        if proc.returncode != 0:
            raise RenderError(f"git archive failed: {proc.stderr.decode('utf-8', 'replace').strip()[:200]}")
        size = archive.seek(0, io.SEEK_END)
        if size > max_bytes:
            raise RenderError(f"repository at {sha} is {size} bytes, more than the {max_bytes} allowed")
        archive.seek(0)
        with tarfile.open(fileobj=archive, mode="r:") as tar:
            total = 0
            for member in tar:
                total += max(member.size, 0)
                if total > max_bytes:
                    raise RenderError(f"repository at {sha} holds more than {max_bytes} bytes")
                if not _safe_member(member, dest):
                    continue
                target = dest / posixpath.normpath(member.name)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.issym():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(member.linkname, target)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    if source is None:
                        continue
                    with source, open(target, "xb") as out:
                        while chunk := source.read(1 << 20):
                            out.write(chunk)


def _within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _plain_yaml(directory: Path, root: Path) -> str:
    """The YAML and JSON files of a Directory source, joined as one multi-document text."""
    parts: list[str] = []
    total = 0
    for entry in sorted(directory.iterdir()):
        if not entry.name.endswith(_PLAIN_SUFFIXES) or not _within(entry, root) or not entry.is_file():
            continue
        total += entry.stat().st_size
        if total > MAX_PLAIN_BYTES:
            raise RenderError(f"{directory.name}: manifests are more than {MAX_PLAIN_BYTES} bytes")
        parts.append(entry.read_text(encoding="utf-8", errors="replace"))
    return "\n---\n".join(parts)


def _identity(doc: Any) -> tuple[str, str, str, str]:
    if not isinstance(doc, Mapping):
        return ("", "", "", "")
    api = str(doc.get("apiVersion") or "")
    group, _, version = api.rpartition("/")
    meta = doc.get("metadata")
    namespace = str(meta.get("namespace") or "") if isinstance(meta, Mapping) else ""
    return (group, version, str(doc.get("kind") or ""), namespace)


def parse_resources(text: str, *, shown: str, default_namespace: str) -> tuple[Resource, ...]:
    """Resources of a multi-document render. adapters/kustomize.rendered_resources reads it first
    (aliases refused, so the second read with safe_load_all cannot blow up)."""
    try:
        found = kustomize.rendered_resources(text, shown=shown)
        docs = [d for d in yaml.safe_load_all(text)]
    except ReleaseError as exc:
        raise RenderError(exc.message) from None
    except yaml.YAMLError as exc:
        raise RenderError(
            f"{shown}: invalid YAML ({getattr(exc, 'problem', None) or 'unreadable'})"
        ) from None
    resources = []
    # one entry per YAML document in both reads, in the same order (an empty document too)
    for rendered, doc in zip(found, docs, strict=False):
        group, version, kind, namespace = _identity(doc)
        name = rendered.resource.split("/", 1)[1]
        if not kind or name == "?":
            continue
        if (
            kind in WORKLOAD_KINDS
            or kind in HEALTHY_KINDS
            or kind in ("ConfigMap", "Secret", "ServiceAccount")
        ):
            namespace = namespace or default_namespace
        images = tuple(c.image for c in rendered.containers)
        # rendered.digest leaves the images out (the render check compares them on their own)
        digest = hashlib.sha256(f"{rendered.digest}|{'|'.join(images)}".encode()).hexdigest()
        resources.append(Resource(group, version, kind, namespace, name, digest, images))
    return tuple(resources)


def render_source(
    git_dir: Path,
    sha: str,
    path: str,
    *,
    kubectl: Path | None,
    timeout: float,
    default_namespace: str,
) -> Rendered:
    """Export ``sha`` and render ``path`` (kustomize when a kustomization is there, else plain YAML)."""
    rel = posixpath.normpath(path.strip() or ".")
    if rel.startswith(("/", "../")) or rel == "..":
        raise RenderError(f"{path}: app path is outside the repository")
    with tempfile.TemporaryDirectory(prefix="argocd-sandbox-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        export_tree(git_dir, sha, root)
        directory = root / rel
        if not _within(directory, root):
            raise RenderError(f"{path}: app path resolves outside the repository")
        if not directory.is_dir():
            raise RenderError(f"{path}: app path does not exist")
        if any((directory / k).is_file() for k in _KUSTOMIZATIONS):
            if kubectl is None:
                raise RenderError(f"{path}: kustomize is not available (no kubectl): {kustomize.INSTALL_FIX}")
            try:
                text = kustomize.render(directory, binary=kubectl, shown=path, timeout=timeout)
            except ReleaseError as exc:
                raise RenderError(exc.message) from None
            source_type = "Kustomize"
        else:
            text = _plain_yaml(directory, root)
            source_type = "Directory"
        return Rendered(
            sha, source_type, parse_resources(text, shown=path, default_namespace=default_namespace)
        )
