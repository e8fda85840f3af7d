"""``gitops-release overlays status``: env x image from a checkout as it is (no git)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from gitops_release import cli
from gitops_release.commands import overlays_status
from gitops_release.commands.base import Context
from gitops_release.errors import ConfigError, InputError
from gitops_release.runtime import Console, InputReader

POLICY = "channels: [dev, stage, prod]\noverlays:\n  dir: apps/*/overlays\n"


def entry(app: str, tag: str) -> str:
    return f"resources: [../../base]\nimages:\n  - name: ghcr.io/org/{app}\n    newTag: {tag}\n"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    files = {
        ".gitops-release.yml": POLICY,
        "apps/api/overlays/dev/kustomization.yaml": entry("api", "sha-2"),
        "apps/api/overlays/stage/kustomization.yaml": entry("api", "sha-1"),
        "apps/api/overlays/prod/kustomization.yaml": entry("api", "sha-1"),
        "apps/web/overlays/dev/kustomization.yml": entry("web", "v1.2.0"),
        "apps/web/overlays/stage/Kustomization": entry("web", "v1.2.0"),
        # no prod for web: its prod cell is empty
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    return tmp_path


def run(checkout: Path, **inputs: str) -> overlays_status.Outputs:
    env = {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()}
    parsed = overlays_status.Inputs.from_reader(InputReader(env=env))
    return overlays_status.run(parsed, Context(env=env, workdir=checkout))


def test_json_has_every_env_and_marks_the_env_ahead(checkout: Path) -> None:
    out = run(checkout, format="json")

    data = json.loads(out.text)
    assert data["environments"] == ["dev", "stage", "prod"]
    api, web = data["images"]
    assert (api["app"], api["image"]) == ("api", "ghcr.io/org/api")
    assert [api["environments"][e]["tag"] for e in ("dev", "stage", "prod")] == ["sha-2", "sha-1", "sha-1"]
    assert api["differs"] and api["ahead"] == []  # sha tags: not known which is newer
    assert web["ahead"] == ["stage"]  # prod does not hold web yet
    assert api["environments"]["dev"]["file"] == "apps/api/overlays/dev/kustomization.yaml"
    assert web["environments"]["prod"] is None
    assert web["environments"]["stage"]["file"] == "apps/web/overlays/stage/Kustomization"


def test_markdown_and_table_and_an_env_subset(checkout: Path) -> None:
    markdown = run(checkout, format="markdown", envs="prod,stage")
    assert markdown.envs == ["stage", "prod"]  # shown in the policy's order
    assert markdown.text.splitlines()[0] == "| app | image | stage | prod | status |"

    table = run(checkout)
    assert table.text.splitlines()[0].split()[:5] == ["APP", "IMAGE", "DEV", "STAGE", "PROD"]
    assert table.summary().startswith("### overlays status")


def test_cli_prints_the_table(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(checkout)
    out, err = io.StringIO(), io.StringIO()
    env = {"PATH": os.environ.get("PATH", "")}
    code = cli.run_command(
        "overlays status", ["--format", "markdown"], env, Console(env=env, out=out, err=err)
    )
    assert code == 0
    assert "| `api` | `ghcr.io/org/api` |" in out.getvalue()


def test_unknown_env_and_bad_format_are_input_errors(checkout: Path) -> None:
    with pytest.raises(InputError, match="'qa' is not an env"):
        run(checkout, envs="qa")
    with pytest.raises(InputError, match="format"):
        run(checkout, format="yaml")


def test_no_overlays_at_all_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / ".gitops-release.yml").write_text(POLICY)
    with pytest.raises(ConfigError, match=r"none of apps/\*/overlays/dev"):
        run(tmp_path)


def test_a_symlinked_app_directory_is_refused(
    checkout: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "dev").mkdir()
    (outside / "dev/kustomization.yaml").write_text(entry("evil", "x"))
    (checkout / "apps/evil").symlink_to(outside)
    with pytest.raises(ConfigError, match="symbolic link"):
        run(checkout)


def test_malformed_overlay_names_the_file(checkout: Path) -> None:
    (checkout / "apps/api/overlays/prod/kustomization.yaml").write_text("images: [\n")
    with pytest.raises(ConfigError, match=r"apps/api/overlays/prod/kustomization\.yaml"):
        run(checkout)
