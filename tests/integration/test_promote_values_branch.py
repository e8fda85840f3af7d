"""promote-overlay with Helm-style values files (policy overlays.values, seed 004's
values-dev / values-staging / values-prod) and with strategy branch (seed 004's develop →
staging → main), against the sandbox."""

from __future__ import annotations

from pathlib import Path

from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git
from tests.integration.test_promote_overlay import (
    DIGEST_1,
    DIGEST_2,
    POLICY,
    REPO,
    Repo,
    config_files,
    overlay,
)

VALUES_BLOCK = """  values:
    - image: ghcr.io/org/chart-app
      files: {dev: charts/app/values-dev.yaml, stage: charts/app/values-staging.yaml,
              prod: charts/app/values-prod.yaml}
      tag: image.tag
      digest: image.digest
"""


def values(tag: str, digest: str) -> str:
    return (
        "# chart values\r\n"
        "replicaCount: 2\r\n"
        "image:\r\n"
        "  repository: ghcr.io/org/chart-app   # fixed\r\n"
        f'  tag: "{tag}"\r\n'
        f"  digest: {digest}\r\n"
        "resources: {}\r\n"
    )


def test_values_files_are_promoted_like_overlays(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    policy = POLICY.replace(
        "overlays:\n  dir: apps/*/overlays\n", "overlays:\n  dir: apps/*/overlays\n" + VALUES_BLOCK
    )
    files = config_files(policy=policy)
    files["charts/app/values-dev.yaml"] = values("sha-2", DIGEST_2)
    files["charts/app/values-staging.yaml"] = values("sha-1", DIGEST_1)
    files["charts/app/values-prod.yaml"] = values("sha-1", DIGEST_1)
    repo = Repo(github_sandbox, tmp_path, files)

    out = repo.run(from_env="dev", to_env="stage", mode="commit", images="chart-app")

    assert out.state == "committed"
    [item] = out.plans[0].items
    assert (item.target.kind, item.target.file) == ("values", "charts/app/values-staging.yaml")
    # CRLF, quotes and comments kept; only the two values changed
    assert repo.read_exact("charts/app/values-staging.yaml") == values("sha-2", DIGEST_2)
    assert repo.read("apps/api/overlays/stage/kustomization.yaml") == overlay("api", "sha-1", DIGEST_1)
    assert out.release_manifest == []  # a values file has no env directory to put it in


def test_strategy_branch_promotes_from_the_source_env_branch_into_the_target_branch(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    policy = POLICY + "  branches: {dev: develop, stage: staging, prod: main}\n"
    files = config_files(policy=policy)
    for app in ("api", "web"):  # on main every env is at sha-1; develop has dev at sha-3
        files[f"apps/{app}/overlays/dev/kustomization.yaml"] = overlay(app, "sha-1", DIGEST_1)
    repo = Repo(github_sandbox, tmp_path, files)
    work = repo.clone()
    git("push", "-q", "origin", "main:staging", cwd=work)
    git("checkout", "-qb", "develop", cwd=work)
    (work / "apps/api/overlays/dev/kustomization.yaml").write_text(overlay("api", "sha-3", DIGEST_2))
    git("commit", "-qam", "dev: api sha-3", cwd=work)
    git("push", "-q", "origin", "develop", cwd=work)

    out = repo.run(from_env="dev", to_env="stage", strategy="branch")

    assert out.state == "created"
    [pull] = repo.sandbox.pulls(REPO)
    assert pull["base"]["ref"] == "staging" and pull["head"]["ref"].startswith("promote/stage/")
    branch = pull["head"]["ref"]
    assert repo.read("apps/api/overlays/stage/kustomization.yaml", branch) == overlay(
        "api", "sha-3", DIGEST_2
    )
    assert repo.read("apps/web/overlays/stage/kustomization.yaml", branch) == overlay(
        "web", "sha-1", DIGEST_1
    )
    assert [i.image for i in out.plans[0].items] == ["ghcr.io/org/api", "ghcr.io/org/api-worker"]
    assert repo.log("staging") == repo.log("main")  # the target branch itself is untouched
