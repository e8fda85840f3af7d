"""promote-overlay's refusals: one clear error each, exit 1, nothing pushed and no PR opened.

And the races: a concurrent promotion to ANOTHER env is re-applied (two real clones, one bare
remote), one to the SAME entries is a conflicting concurrent promotion (refused).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops_release.commands import promote_overlay
from gitops_release.errors import ConfigError, PolicyError
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git
from tests.integration.test_promote_overlay import DIGEST_1, DIGEST_2, REPO, Repo, config_files, overlay

STAGE = "apps/api/overlays/stage/kustomization.yaml"


def make(sandbox: GitHubSandbox, tmp_path: Path, **changes: str | None) -> Repo:
    files: dict[str, Any] = config_files()
    for path, text in changes.items():
        path = path.replace("__", "/").replace("_DOT_", ".")
        if text is None:
            files.pop(path)
        else:
            files[path] = text
    return Repo(sandbox, tmp_path, files)


def refused(repo: Repo, *argv: str, mode: str = "pr") -> str:
    """Run the CLI, expect exit 1 with ONE error line; nothing pushed, no PR opened."""
    before = repo.log()
    code, out, err = repo.cli("--mode", mode, *argv)
    assert code == 1, (out, err)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert repo.log() == before
    assert repo.branches() == ["main"]
    assert repo.sandbox.pulls(REPO) == []
    return errors[0]


def files_with(**texts: str) -> dict[str, str]:
    return {key.replace("/", "__").replace(".", "_DOT_"): value for key, value in texts.items()}


@pytest.mark.parametrize("mode", ["pr", "commit"])
def test_malformed_yaml_in_the_target_overlay(
    github_sandbox: GitHubSandbox, tmp_path: Path, mode: str
) -> None:
    repo = make(github_sandbox, tmp_path, **files_with(**{STAGE: "images: [\n  - name: x\n"}))
    line = refused(repo, "--from-env", "dev", "--to-env", "stage", mode=mode)
    assert STAGE in line and "YAML" in line


def test_missing_env_directory(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    drop = {
        f"apps/{app}/overlays/prod/kustomization.yaml".replace("/", "__").replace(".", "_DOT_"): None
        for app in ("api", "web")
    }
    repo = make(github_sandbox, tmp_path, **drop)
    line = refused(repo, "--from-env", "stage", "--to-env", "prod")
    assert "env 'prod' has no overlay directory" in line and "apps/*/overlays/prod" in line


def test_missing_image_pattern(repo: Repo) -> None:
    line = refused(repo, "--from-env", "dev", "--to-env", "stage", "--images", "nope")
    assert "input 'images'" in line and "nope" in line


def test_image_missing_in_the_target_needs_add_missing(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    only_app = (
        "# api overlay\nresources:\n  - ../../base\nimages:\n  - name: ghcr.io/org/api\n    newTag: sha-1\n"
    )
    repo = make(github_sandbox, tmp_path, **files_with(**{STAGE: only_app}))
    line = refused(repo, "--from-env", "dev", "--to-env", "stage")
    assert "ghcr.io/org/api-worker" in line and "add-missing: true" in line

    out = repo.run(from_env="dev", to_env="stage", mode="commit", add_missing="true")
    assert out.state == "committed"
    assert "name: ghcr.io/org/api-worker" in repo.read(STAGE)


def test_overlay_that_does_not_render(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    broken = overlay("api", "sha-1", DIGEST_1).replace("../../base", "../../no-such-base")
    repo = make(github_sandbox, tmp_path, **files_with(**{STAGE: broken}))
    line = refused(repo, "--from-env", "dev", "--to-env", "stage")
    # the other app renders: the error names the overlay that does not
    assert "apps/api/overlays/stage" in line and "kubectl kustomize" in line


def test_overlay_rendering_a_secret_with_data(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    with_secret = overlay("api", "sha-1", DIGEST_1) + (
        "secretGenerator:\n  - name: db\n    literals: [password=hunter2]\n"
    )
    repo = make(github_sandbox, tmp_path, **files_with(**{STAGE: with_secret}))
    line = refused(repo, "--from-env", "dev", "--to-env", "stage", mode="commit")
    assert "apps/api/overlays/stage" in line and "Secret" in line


def test_private_key_block_in_a_written_file(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    key = (
        "# -----BEGIN RSA PRIVATE KEY-----\n"
        "# MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n"
        "# -----END RSA PRIVATE KEY-----\n"
    )
    repo = make(github_sandbox, tmp_path, **files_with(**{STAGE: key + overlay("api", "sha-1", DIGEST_1)}))
    line = refused(repo, "--from-env", "dev", "--to-env", "stage", mode="commit")
    assert STAGE in line and "PRIVATE KEY" in line


ESCAPED_KEY_CONFIGMAP = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\ndata:\n"
    '  key: "\\x2D----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA\\n-----END RSA PRIVATE KEY-----\\n"\n'
)


@pytest.mark.parametrize("mode", ["pr", "commit"])
def test_private_key_only_the_render_shows(github_sandbox: GitHubSandbox, tmp_path: Path, mode: str) -> None:
    # REVIEW8b A: the raw text holds "\x2D----BEGIN", kustomize renders "-----BEGIN"
    target = overlay("api", "sha-1", DIGEST_1).replace("resources:", "resources:\n  - cm.yaml", 1)
    files = files_with(**{STAGE: target, "apps/api/overlays/stage/cm.yaml": ESCAPED_KEY_CONFIGMAP})
    repo = make(github_sandbox, tmp_path, **files)
    line = refused(repo, "--from-env", "dev", "--to-env", "stage", mode=mode)
    assert "apps/api/overlays/stage: holds a private key (-----BEGIN RSA PRIVATE KEY-----)" in line


def test_order_and_mutable_tags_refused_with_every_reason(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    dev = overlay("api", "latest")
    repo = make(github_sandbox, tmp_path, **files_with(**{"apps/api/overlays/dev/kustomization.yaml": dev}))
    line = refused(repo, "--from-env", "dev", "--to-env", "prod")
    assert "dev → prod is not the next step" in line and "latest" in line


@pytest.fixture
def repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Repo:
    return Repo(github_sandbox, tmp_path, config_files())


# -- races -------------------------------------------------------------------------------------


def _interleave(monkeypatch: pytest.MonkeyPatch, other: Any) -> list[int]:
    """Run ``other()`` (another clone's promotion) inside this run's first edit: after this run
    fetched the base, before it pushes. Returns a list counting this run's edits."""
    real = promote_overlay.apply_plan
    calls: list[int] = []

    def apply(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            monkeypatch.setattr(promote_overlay, "apply_plan", real)  # the other run edits normally
            try:
                other()
            finally:
                monkeypatch.setattr(promote_overlay, "apply_plan", apply)
        return real(*args, **kwargs)

    monkeypatch.setattr(promote_overlay, "apply_plan", apply)
    return calls


def test_racing_promotions_to_different_envs_are_both_kept(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_clone = repo.clone()
    results: dict[str, Any] = {}

    def promote_stage() -> None:
        results["stage"] = repo.run(other_clone, from_env="dev", to_env="stage", mode="commit")

    calls = _interleave(monkeypatch, promote_stage)
    pin = repo.run(to_env="prod", images="api", tag="sha-0", mode="commit")

    assert results["stage"].state == "committed" and pin.state == "committed"
    assert len(calls) == 2  # the pin was re-applied on top of the stage promotion
    log = repo.log()
    assert log[0] == pin.plans[0].title() and log[1] == results["stage"].plans[0].title()
    assert repo.read(STAGE) == overlay("api", "sha-2", DIGEST_2)  # not clobbered
    assert "newTag: sha-0" in repo.read("apps/api/overlays/prod/kustomization.yaml")


def test_racing_promotions_of_the_same_entry_conflict(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    other_clone = repo.clone()
    results: dict[str, Any] = {}

    def promote_stage() -> None:
        results["stage"] = repo.run(other_clone, from_env="dev", to_env="stage", mode="commit")

    _interleave(monkeypatch, promote_stage)
    with pytest.raises(PolicyError, match=r"conflicting concurrent promotion: ghcr\.io/org/api in apps/api"):
        repo.run(to_env="stage", images="api", tag="sha-0", mode="commit")

    assert repo.log()[0] == results["stage"].plans[0].title()  # only the first promotion landed
    assert git("status", "--porcelain", cwd=repo.checkout) == ""


def test_conflicting_promotion_in_pr_mode_pushes_no_branch_and_opens_no_pr(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_clone = repo.clone()
    _interleave(
        monkeypatch,
        lambda: repo.run(other_clone, from_env="dev", to_env="stage", images="api", mode="commit"),
    )
    with pytest.raises(PolicyError, match="conflicting concurrent promotion"):
        repo.run(to_env="stage", images="api", tag="sha-0")

    assert repo.branches() == ["main"] and repo.sandbox.pulls(REPO) == []


def test_an_edit_reaching_another_entry_is_caught_by_the_yaml_check(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = promote_overlay.set_image_entry

    def too_far(text: str, **kwargs: Any) -> str:
        return real(text, **kwargs).replace("newTag: sha-1\n", "newTag: sha-9\n")  # the worker entry too

    monkeypatch.setattr(promote_overlay, "set_image_entry", too_far)
    before = repo.log()
    with pytest.raises(ConfigError, match=r"after the edit image ghcr\.io/org/api-worker is"):
        repo.run(
            from_env="dev", to_env="stage", images="ghcr.io/org/api", mode="commit", render_check="false"
        )
    assert repo.log() == before and repo.branches() == ["main"]
