"""promote-overlay mode verify: a pull request that edits overlays by hand, checked against the
base's policy with the same gates (order, immutable tags, digests, no secrets, renders); every
reason in one error. The checkout is a real clone with the PR's edits committed on a branch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops_release.errors import PolicyError
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git
from tests.integration.test_promote_overlay import DIGEST_1, DIGEST_2, Repo, config_files, overlay

STAGE = "apps/api/overlays/stage/kustomization.yaml"
PROD = "apps/api/overlays/prod/kustomization.yaml"


@pytest.fixture
def repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Repo:
    return Repo(github_sandbox, tmp_path, config_files())


def pull_request(repo: Repo, files: dict[str, str]) -> Path:
    """A clone on a PR branch whose last commit writes ``files`` (what actions/checkout gives)."""
    work = repo.clone()
    git("checkout", "-qb", "hand-edit", cwd=work)
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text, encoding="utf-8")
    git("add", "--all", cwd=work)
    git("commit", "-qm", "hand edit", cwd=work)
    return work


def test_a_hand_promotion_to_the_next_env_is_verified(repo: Repo) -> None:
    work = pull_request(repo, {STAGE: overlay("api", "sha-2", DIGEST_2)})

    out = repo.run(work, mode="verify")

    assert out.state == "verified"
    [plan] = out.plans
    assert (plan.from_env, plan.to_env, plan.kind) == ("dev", "stage", "promote")
    assert [item.image for item in plan.items] == ["ghcr.io/org/api", "ghcr.io/org/api-worker"]


def test_every_reason_is_reported_at_once(repo: Repo) -> None:
    secret = "secretGenerator:\n  - name: db\n    literals: [password=hunter2]\n"
    work = pull_request(
        repo,
        {
            # skips stage, and carries a Secret with data
            PROD: overlay("api", "sha-2", DIGEST_2) + secret,
            # a tag that is in no earlier env, and mutable
            STAGE: overlay("api", "latest"),
            ".gitops-release.yml": "channels: [dev, stage, prod]\ntags: {immutable: false}\n"
            "overlays: {dir: apps/*/overlays}\n",  # loosening the policy in the PR changes nothing
        },
    )

    with pytest.raises(PolicyError) as caught:
        repo.run(work, mode="verify")

    message = caught.value.message
    assert "stage: ghcr.io/org/api:latest" in message and "is in no earlier env" in message
    assert "dev → prod is not the next step" in message
    assert "Secret" in message and "apps/api/overlays/prod" in message


def test_a_hand_rollback_to_what_the_env_held_before_is_allowed(repo: Repo) -> None:
    repo.run(from_env="dev", to_env="stage", mode="commit")
    repo.run(repo.clone(), from_env="stage", to_env="prod", mode="commit")
    # prod goes back to sha-1 by hand (git revert in a PR): no earlier env holds sha-1 any more
    work = pull_request(repo, {PROD: overlay("api", "sha-1", DIGEST_1)})

    out = repo.run(work, mode="verify")

    assert out.state == "verified" and [p.kind for p in out.plans] == ["rollback"]


def test_an_overlay_that_no_longer_renders_is_refused(repo: Repo) -> None:
    broken = overlay("api", "sha-2", DIGEST_2).replace("../../base", "../../gone")
    work = pull_request(repo, {STAGE: broken})

    with pytest.raises(PolicyError, match="kubectl kustomize apps/api/overlays/stage failed"):
        repo.run(work, mode="verify")


def test_verify_against_an_explicit_base_commit(repo: Repo) -> None:
    base = git("rev-parse", "HEAD", cwd=repo.checkout).strip()
    work = pull_request(repo, {STAGE: overlay("api", "sha-2", DIGEST_2)})

    out = repo.run(work, mode="verify", verify_base=base, to_env="stage")

    assert out.state == "verified"


def test_verify_narrowed_by_to_env_warns(repo: Repo) -> None:
    # REVIEW8b G: to-env leaves the other envs unchecked; say so where the run is read
    work = pull_request(repo, {STAGE: overlay("api", "sha-2", DIGEST_2)})

    code, _, err = repo.cli("--mode", "verify", "--to-env", "stage", repository_path=str(work))
    assert code == 0
    assert "warning: verify narrowed to one env: verify checks env 'stage' only (to-env is set)" in err

    code, _, err = repo.cli("--mode", "verify", repository_path=str(work))
    assert code == 0 and "warning" not in err


def test_the_verify_template_checks_every_env() -> None:
    template = Path(__file__).parents[2] / "templates/config-repo/.github/workflows/verify-overlays.yml"
    text = template.read_text(encoding="utf-8")
    assert "mode: verify" in text and "to-env:" not in text  # a required check covers every env


def test_a_hand_edited_release_manifest_is_refused(repo: Repo) -> None:
    # REVIEW8b F: a forged image list or a file the schema refuses
    repo.run(from_env="dev", to_env="stage", mode="commit")
    work = repo.clone()
    git("checkout", "-qb", "hand-edit", cwd=work)
    manifest = work / "apps/api/overlays/stage/release-manifest.json"
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document["images"][0]["reference"] = "ghcr.io/evil/api:latest"
    manifest.write_text(json.dumps(document), encoding="utf-8")
    web = work / "apps/web/overlays/stage/release-manifest.json"
    web.write_text('{"schemaVersion": 1}', encoding="utf-8")
    git("commit", "-qam", "forge", cwd=work)

    with pytest.raises(PolicyError) as caught:
        repo.run(work, mode="verify")

    message = caught.value.message
    assert "overlays/stage/release-manifest.json: does not list the images the head's stage" in message
    assert """apps/web/overlays/stage/release-manifest.json: /: "'environment' is a required""" in message


def test_a_promote_overlay_pull_request_branch_verifies(repo: Repo) -> None:
    assert repo.run(from_env="dev", to_env="stage").pr_number
    work = repo.clone()
    heads = git("ls-remote", "--heads", "origin", "promote/*", cwd=work).split()
    git("checkout", "-q", "--detach", heads[0], cwd=work)
    assert (work / "apps/api/overlays/stage/release-manifest.json").is_file()

    assert repo.run(work, mode="verify").state == "verified"
