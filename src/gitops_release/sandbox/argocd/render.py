"""What the Argo CD sandbox's "repo server" does: resolve a source's targetRevision to a commit in a
registered bare repository and render the app's path at that commit into resources and images.

The tree at the commit is exported with ``git archive`` into a temporary directory that is always
removed. Repository content is untrusted: the tree's size is summed (``git ls-tree -l``) and refused
above a bound before anything is written; only regular files, directories and symbolic links are
created, links last, and a link whose real target (following chains of links) leaves the tree is
refused (Argo CD's repo server refuses those too). The render never touches the network: every
kustomization the app's path reaches is read first and a remote base, resource, component, patch,
file or Helm chart is refused (the sandbox renders local kustomizations only); kustomize then runs
through adapters/kustomize.py (argument list, timeout, memory limit, bounded output, no tokens in
its environment, aliases refused) with its proxies pointing at a closed port and git limited to
``file://``. Directories without a kustomization are read as plain YAML (Argo CD's "Directory"
source type, not recursive, as its default).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import re
import socket
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_release.adapters import kustomize
from gitops_release.core.policy import BoundedSafeLoader
from gitops_release.core.yaml_limits import AliasLimitError
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


_TAR_BLOCK = 512  # tar writes a header block per entry and pads each file to whole blocks


def _git_env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, "LC_ALL": "C"}


def tree_size(git_dir: Path, sha: str, *, max_bytes: int = MAX_ARCHIVE_BYTES) -> int:
    """About the bytes ``git archive`` writes for ``sha`` (a header per entry, blobs padded to
    blocks), summed from ``git ls-tree -r -t -l`` as a stream; RenderError as soon as it passes
    ``max_bytes``, so a small pack holding a huge zero blob is refused before anything is written."""
    try:
        child = subprocess.Popen(
            ["git", f"--git-dir={git_dir}", "ls-tree", "-r", "-t", "-z", "-l", "--end-of-options", sha],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_git_env(),
        )
    except OSError as exc:
        raise RenderError(f"git ls-tree failed: {exc}") from None
    assert child.stdout is not None
    total = 0
    pending = b""
    try:
        while chunk := child.stdout.read(1 << 16):
            *entries, pending = (pending + chunk).split(b"\0")
            for entry in entries:
                # "<mode> <type> <object> <size>\t<path>"; a tree's or submodule's size is "-"
                size = entry.split(b"\t", 1)[0].split()[-1]
                blocks = -(-int(size) // _TAR_BLOCK) if size.isdigit() else 0
                total += (1 + blocks) * _TAR_BLOCK
            if total > max_bytes:
                raise RenderError(
                    f"repository at {sha} is at least {total} bytes, more than the {max_bytes} allowed"
                )
            if len(pending) > 1 << 16:  # no path is that long
                raise RenderError(f"git ls-tree of {sha} is not readable")
        if child.wait(timeout=GIT_TIMEOUT) != 0:
            raise RenderError(f"git ls-tree of {sha} failed")
    except subprocess.TimeoutExpired:
        raise RenderError(f"git ls-tree {sha} did not finish within {GIT_TIMEOUT:g}s") from None
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
        child.wait()
    return total


def export_tree(git_dir: Path, sha: str, dest: Path, *, max_bytes: int = MAX_ARCHIVE_BYTES) -> None:
    """The tree of ``sha`` written under ``dest``: its size checked before ``git archive`` runs,
    symbolic links created last and refused when their real target is outside ``dest``."""
    tree_size(git_dir, sha, max_bytes=max_bytes)
    links: list[tuple[Path, str]] = []
    with tempfile.TemporaryFile() as archive:
        try:
            proc = subprocess.run(
                ["git", f"--git-dir={git_dir}", "archive", "--format=tar", sha],
                stdin=subprocess.DEVNULL,
                stdout=archive,
                stderr=subprocess.PIPE,
                env=_git_env(),
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"git archive {sha} did not finish within {GIT_TIMEOUT:g}s") from None
        if proc.returncode != 0:
            raise RenderError(f"git archive failed: {proc.stderr.decode('utf-8', 'replace').strip()[:200]}")
        # tree_size bounds what git wrote; long names' pax headers and export-subst can add a little
        size = archive.seek(0, io.SEEK_END)
        if size > max_bytes:
            raise RenderError(f"repository at {sha} is {size} bytes, more than the {max_bytes} allowed")
        archive.seek(0)
        try:
            tar = tarfile.open(fileobj=archive, mode="r:")
        except tarfile.TarError as exc:
            if _tree_is_empty(git_dir, sha):
                return  # git archives an empty tree as a lone pax header, which tarfile refuses
            raise RenderError(f"git archive of {sha} is not a readable tar: {exc}") from None
        with tar:
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
                    # after every file: nothing is ever written through a link
                    links.append((target, member.linkname))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    if source is None:
                        continue
                    with source, open(target, "xb") as out:
                        while chunk := source.read(1 << 20):
                            out.write(chunk)
    for target, linkname in links:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(linkname, target)
    _refuse_links_out_of(dest)


def _refuse_links_out_of(root: Path) -> None:
    """RenderError for the first symbolic link under ``root`` whose real target is outside it: each
    link may look in-tree on its own while a chain of them (``a/b/s -> ../..``, ``a/b/e ->
    s/../../..``) points at ``/``."""
    real_root = os.path.realpath(root)
    for directory, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                continue
            real = os.path.realpath(path)  # a loop stays unresolved (inside), kustomize refuses it
            if real != real_root and not real.startswith(real_root + os.sep):
                shown = os.path.relpath(path, root)
                raise RenderError(
                    f"illegal filepath in symlink: {shown} -> {os.readlink(path)} leaves the repository"
                )


def _tree_is_empty(git_dir: Path, sha: str) -> bool:
    try:
        proc = subprocess.run(
            ["git", f"--git-dir={git_dir}", "ls-tree", "--name-only", sha],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=_git_env(),
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0 and not proc.stdout.strip()


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


# What kustomize would fetch: a URL (http(s), ssh, git::, file://…), a repo spec (github.com/org/repo,
# git@host:org/repo, gh:org/repo, repo//path, ?ref=…).
_REMOTE = re.compile(
    r"://|^(?:git@|gh:|git::|github\.com/|gitlab\.com/|bitbucket\.org/)|^[\w.-]+@[\w.-]+:|//"
    r"|\?(?:ref|version|timeout|submodules)="
)
# kustomization lists whose entries kustomize loads as kustomization directories or files
_TREE_LISTS = ("resources", "bases", "components", "generators", "transformers", "validators")
_PLUGIN_LISTS = ("generators", "transformers", "validators")  # entries are plugin configs
_FILE_LISTS = ("crds", "configurations", "patchesStrategicMerge")
# keys, at any depth of a kustomization or a plugin config, whose values kustomize loads as files
# (patches[].path, openapi.path, replacements[].path, configMapGenerator[].files / envs / env, …)
_FILE_KEYS = frozenset(
    {"path", "paths", "files", "envs", "env", "repo", "valuesFile", "additionalValuesFiles"}
)
_HELM_KEYS = ("helmCharts", "helmChartInflationGenerator")
_MERGE_TAG = "tag:yaml.org,2002:merge"
LOCAL_ONLY = "the sandbox renders local kustomizations only (no remote bases, resources or Helm charts)"


def _compose(text: str, shown: str) -> list[yaml.Node]:
    try:
        return [n for n in yaml.compose_all(text, Loader=BoundedSafeLoader) if n is not None]
    except AliasLimitError as exc:
        raise RenderError(f"{shown}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise RenderError(
            f"{shown}: invalid YAML ({getattr(exc, 'problem', None) or 'unreadable'})"
        ) from None


def _pairs(node: yaml.Node) -> list[tuple[str, yaml.Node]]:
    """A mapping's (key, value) pairs, merge keys (``<<``) flattened, equal keys all kept (the
    check must see every value kustomize might use)."""
    pairs: list[tuple[str, yaml.Node]] = []
    if not isinstance(node, yaml.MappingNode):
        return pairs
    for key, value in node.value:
        if key.tag == _MERGE_TAG or (isinstance(key, yaml.ScalarNode) and key.value == "<<"):
            for merged in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                pairs.extend(_pairs(merged))
        elif isinstance(key, yaml.ScalarNode):
            pairs.append((key.value, value))
    return pairs


def _strings(node: yaml.Node) -> list[str]:
    if isinstance(node, yaml.ScalarNode):
        return [node.value]
    if isinstance(node, yaml.SequenceNode):
        return [item.value for item in node.value if isinstance(item, yaml.ScalarNode)]
    return []


def _refuse_remote(entry: str, field: str, shown: str) -> None:
    # a configMapGenerator file may be "key=path"; inline patches and plugin configs span lines
    for value in (entry, entry.partition("=")[2]) if field == "files" else (entry,):
        if "\n" not in value and _REMOTE.search(value.strip()):
            raise RenderError(f"{shown}: {field} {value.strip()[:200]} is remote: {LOCAL_ONLY}")


def _check_files(node: yaml.Node, shown: str) -> None:
    """Refuse a remote value under any of _FILE_KEYS, at any depth (aliases bounded, so finite)."""
    stack = [node]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        for key, value in _pairs(current):
            if key in _FILE_KEYS:
                for entry in _strings(value):
                    _refuse_remote(entry, key, shown)
            if key in _HELM_KEYS and value.value:
                raise RenderError(f"{shown}: {key}: {LOCAL_ONLY}")
            stack.append(value)


def check_local_only(directory: Path, root: Path, *, shown: str) -> None:
    """RenderError when the kustomization in ``directory``, or any kustomization or plugin config
    it reaches inside ``root``, names something kustomize would fetch over the network."""
    real_root = Path(os.path.realpath(root))
    queue: list[tuple[Path, bool]] = [(Path(os.path.realpath(directory)), False)]
    seen: set[tuple[Path, bool]] = set()
    while queue:
        here, plugin = queue.pop()
        if (here, plugin) in seen:
            continue
        seen.add((here, plugin))
        for name in _KUSTOMIZATIONS:
            file = here / name
            if not file.is_file():
                continue
            if file.stat().st_size > MAX_PLAIN_BYTES:
                raise RenderError(f"{shown}: {name} is more than {MAX_PLAIN_BYTES} bytes")
            where = f"{shown} ({file.relative_to(real_root).as_posix()})"
            for doc in _compose(file.read_text(encoding="utf-8", errors="replace"), where):
                _check_files(doc, where)
                for key, value in _pairs(doc):
                    if key in _FILE_LISTS:
                        for entry in _strings(value):
                            _refuse_remote(entry, key, where)
                    if key not in _TREE_LISTS:
                        continue
                    for entry in _strings(value):
                        _refuse_remote(entry, key, where)
                        as_plugin = plugin or key in _PLUGIN_LISTS
                        if "\n" in entry:  # an inline plugin config
                            for config in _compose(entry, where):
                                _check_files(config, where)
                            continue
                        try:
                            target = Path(os.path.realpath(here / entry.strip()))
                        except (ValueError, OSError):  # a NUL byte: kustomize cannot load it either
                            continue
                        if target != real_root and real_root not in target.parents:
                            continue  # kustomize's load restrictor refuses it
                        if target.is_dir():
                            queue.append((target, as_plugin))
                        elif as_plugin and target.is_file() and target.stat().st_size <= MAX_PLAIN_BYTES:
                            # a plugin config loads files too (a PatchTransformer's path)
                            for config in _compose(
                                target.read_text(encoding="utf-8", errors="replace"), where
                            ):
                                _check_files(config, where)


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    """A loopback port bound but never listening: every connection to it is refused, and no other
    process can take it while the render runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _offline_env(port: int) -> dict[str, str]:
    """kustomize's environment when check_local_only missed something: HTTP through a proxy that
    refuses (Go never proxies loopback, the check is the guard there), git limited to file://."""
    proxy = f"http://127.0.0.1:{port}"
    env = {
        name: proxy
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
    }
    env.update({"NO_PROXY": "", "no_proxy": "", "GIT_ALLOW_PROTOCOL": "file", "GIT_TERMINAL_PROMPT": "0"})
    env.update({"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"})
    return env


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
            check_local_only(directory, root, shown=path)
            if kubectl is None:
                raise RenderError(f"{path}: kustomize is not available (no kubectl): {kustomize.INSTALL_FIX}")
            with _closed_port() as port:
                try:
                    text = kustomize.render(
                        directory, binary=kubectl, shown=path, timeout=timeout, child_env=_offline_env(port)
                    )
                except ReleaseError as exc:
                    raise RenderError(exc.message) from None
            source_type = "Kustomize"
        else:
            text = _plain_yaml(directory, root)
            source_type = "Directory"
        return Rendered(
            sha, source_type, parse_resources(text, shown=path, default_namespace=default_namespace)
        )
