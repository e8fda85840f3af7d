"""promote-overlay mode verify holds the pull request's WHOLE change to the policy, not only its
images: entries: hand edits that leave every entry alone (a Secret, a private key, an image set
by a patch or in a base, an overlay that no longer renders, two overlay files) are refused; a
plain non-image edit passes. Real bare remote, real kustomize (the repo of test_promote_overlay:
apps api and web, dev=sha-2, stage/prod=sha-1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_release.errors import PolicyError
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.git_remotes import git
from tests.fixtures.kustomize_base import deployment
from tests.integration.test_promote_overlay import DIGEST_1, DIGEST_2, Repo, config_files, overlay
from tests.integration.test_promote_verify import pull_request

STAGE = "apps/api/overlays/stage/kustomization.yaml"
PROD = "apps/api/overlays/prod/kustomization.yaml"
PROD_DIR = "apps/api/overlays/prod"
KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----\n"
IMAGE_PATCH = (
    "patches:\n  - target: {kind: Deployment}\n    patch: |-\n"
    "      - op: replace\n        path: /spec/template/spec/containers/0/image\n"
    "        value: ghcr.io/evil/api:latest\n"
)


@pytest.fixture
def repo(github_sandbox: GitHubSandbox, tmp_path: Path) -> Repo:
    return Repo(github_sandbox, tmp_path, config_files())


def prod_with(extra: str, *, resource: str | None = None) -> str:
    """prod's overlay as it is (sha-1, images: untouched) plus ``extra`` / one more resource."""
    text = overlay("api", "sha-1", DIGEST_1)
    if resource is not None:
        text = text.replace("  - ../../base\n", f"  - ../../base\n  - {resource}\n")
    return text + extra


# Each case is one reproduction of the review (REVIEW8 finding 1): before the fix every one of
# them came back "verified", because no images: entry changed.
ATTACKS = {
    "secret generator": (
        {PROD: prod_with("secretGenerator:\n  - name: db\n    literals: [password=hunter2]\n")},
        f"{PROD_DIR}: renders Secret 'db-",
    ),
    "secret manifest with stringData": (
        {
            PROD: prod_with("", resource="secret.yaml"),
            f"{PROD_DIR}/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\n"
            "stringData: {password: hunter2}\n",
        },
        f"{PROD_DIR}: renders Secret 'db' with values ('stringData.password')",
    ),
    "private key in a new file": (
        {
            PROD: prod_with("configMapGenerator:\n  - name: k\n    files: [key.pem]\n"),
            f"{PROD_DIR}/key.pem": KEY,
        },
        f"{PROD_DIR}/key.pem: ",
    ),
    "private key in a file no overlay reads": ({"docs/notes.txt": "ops key:\n" + KEY}, "docs/notes.txt: "),
    # REVIEW8b A: written so no raw-text scan sees the header; kustomize renders it whole
    "private key as a YAML escape": (
        {
            PROD: prod_with("", resource="cm.yaml"),
            f"{PROD_DIR}/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\ndata:\n"
            '  key: "\\x2D----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA\\n"\n',
        },
        f"{PROD_DIR}: holds a private key (-----BEGIN RSA PRIVATE KEY-----) in a string value",
    ),
    "private key as a folded scalar": (
        {
            PROD: prod_with("", resource="cm.yaml"),
            f"{PROD_DIR}/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\ndata:\n"
            "  key: >-\n    -----BEGIN RSA PRIVATE\n    KEY-----\n    MIIEowIBAAKCAQEA\n",
        },
        f"{PROD_DIR}: holds a private key (-----BEGIN RSA PRIVATE KEY-----) in a string value",
    ),
    "image set by a JSON patch": (
        {PROD: prod_with(IMAGE_PATCH)},
        f"{PROD_DIR}: container 'Deployment/api/api' from 'ghcr.io/org/api:sha-1@{DIGEST_1}' to "
        "'ghcr.io/evil/api:latest', which no images: entry change",
    ),
    "image changed in the base": (
        {
            "apps/api/base/deployment.yaml": deployment(
                "api", {"api": "ghcr.io/evil/api:latest", "worker": "ghcr.io/org/api-worker:sha-0"}
            )
        },
        f"apps/api/overlays/dev: container 'Deployment/api/api' from 'ghcr.io/org/api:sha-2@{DIGEST_2}' to "
        "'ghcr.io/evil/api:latest'",
    ),
    "a resource that does not exist": (
        {PROD: prod_with("", resource="does-not-exist.yaml")},
        f"kubectl kustomize {PROD_DIR} failed",
    ),
    "a second overlay file": (
        {f"{PROD_DIR}/Kustomization": overlay("api", "latest")},
        f"{PROD_DIR}: holds kustomization.yaml and Kustomization",
    ),
}


@pytest.mark.parametrize("files, reason", ATTACKS.values(), ids=list(ATTACKS))
def test_a_change_without_image_entry_edits_is_checked(
    repo: Repo, files: dict[str, str], reason: str
) -> None:
    work = pull_request(repo, files)

    with pytest.raises(PolicyError) as caught:
        repo.run(work, mode="verify")

    assert reason in caught.value.message


def test_a_base_edit_is_refused_in_every_env_it_reaches(repo: Repo) -> None:
    base = deployment("api", {"api": "ghcr.io/evil/api:latest", "worker": "ghcr.io/org/api-worker:sha-0"})
    work = pull_request(repo, {"apps/api/base/deployment.yaml": base})

    with pytest.raises(PolicyError) as caught:
        repo.run(work, mode="verify")

    message = caught.value.message
    for env in ("dev", "stage", "prod"):
        assert f"apps/api/overlays/{env}: container 'Deployment/api/api' from" in message
    assert "apps/web" not in message


def test_a_patch_next_to_a_legitimate_promotion_is_refused(repo: Repo) -> None:
    patch = IMAGE_PATCH.replace("containers/0", "containers/1").replace("evil/api", "evil/w")
    work = pull_request(repo, {STAGE: overlay("api", "sha-2", DIGEST_2) + patch})

    with pytest.raises(PolicyError) as caught:
        repo.run(work, mode="verify")

    message = caught.value.message
    assert (
        "container 'Deployment/api/worker' from 'ghcr.io/org/api-worker:sha-1' to 'ghcr.io/evil/w:latest'"
        in message
    )
    assert "'Deployment/api/api'" not in message  # the promoted container is explained by its entry


def test_a_renamed_file_is_scanned_under_its_new_name(repo: Repo) -> None:
    work = repo.clone()
    git("checkout", "-qb", "hand-edit", cwd=work)
    git("mv", "apps/web/base/deployment.yaml", "apps/web/base/web.yaml", cwd=work)
    (work / "apps/web/base/kustomization.yaml").write_text("resources:\n  - web.yaml\n", encoding="utf-8")
    renamed = work / "apps/web/base/web.yaml"
    renamed.write_text(
        renamed.read_text(encoding="utf-8") + "# " + KEY.replace("\n", "\n# "), encoding="utf-8"
    )
    git("commit", "-qam", "rename", cwd=work)

    with pytest.raises(PolicyError) as caught:
        repo.run(work, mode="verify")

    assert "apps/web/base/web.yaml: line " in caught.value.message


def test_every_reason_of_the_whole_change_in_one_error(repo: Repo) -> None:
    work = pull_request(
        repo,
        {
            PROD: prod_with("secretGenerator:\n  - name: db\n    literals: [password=hunter2]\n"),
            "apps/web/overlays/prod/key.pem": KEY,
            "apps/web/overlays/stage/kustomization.yaml": overlay("web", "sha-1", DIGEST_1) + IMAGE_PATCH,
            STAGE: overlay("api", "latest"),  # an entry change: refused by the gates, once
        },
    )

    with pytest.raises(PolicyError) as caught:
        repo.run(work, mode="verify")

    message = caught.value.message
    assert "Secret" in message and PROD_DIR in message
    assert "apps/web/overlays/prod/key.pem: " in message
    assert "apps/web/overlays/stage: container 'Deployment/web/web' from" in message
    assert "stage: ghcr.io/org/api:latest" in message and "is in no earlier env" in message
    assert "apps/api/overlays/stage: container" not in message


def test_non_image_edits_and_deletions_that_keep_the_images_pass(repo: Repo) -> None:
    work = repo.clone()
    git("checkout", "-qb", "hand-edit", cwd=work)
    prod = work / PROD
    prod.write_text(prod.read_text(encoding="utf-8") + "commonLabels:\n  team: payments\n", encoding="utf-8")
    # a renamed base file (the render stays the same) and a new resource reusing the base's image
    git("mv", "apps/web/base/deployment.yaml", "apps/web/base/web.yaml", cwd=work)
    (work / "apps/web/base/kustomization.yaml").write_text(
        "resources:\n  - web.yaml\n  - canary.yaml\n", encoding="utf-8"
    )
    (work / "apps/web/base/canary.yaml").write_text(
        deployment("web-canary", {"web": "ghcr.io/org/web:sha-0"}), encoding="utf-8"
    )
    (work / "README.md").write_text("notes\n", encoding="utf-8")
    git("add", "--all", cwd=work)
    git("commit", "-qm", "labels, a canary and a rename", cwd=work)

    out = repo.run(work, mode="verify")

    assert out.state == "verified" and out.plans == []


def test_render_check_false_still_scans_for_keys_and_overlay_files(repo: Repo) -> None:
    work = pull_request(repo, {f"{PROD_DIR}/Kustomization": overlay("api", "sha-1"), "notes/id_rsa": KEY})

    with pytest.raises(PolicyError) as caught:
        repo.run(work, mode="verify", render_check="false")

    assert "notes/id_rsa: " in caught.value.message
    assert f"{PROD_DIR}: holds kustomization.yaml and Kustomization" in caught.value.message


def test_a_change_no_render_reads_skips_the_renders(github_sandbox: GitHubSandbox, tmp_path: Path) -> None:
    # main's web prod overlay is already broken: a render would fail at both commits, so only
    # skipping the renders lets a docs / CI change through (verify-overlays.yml runs on every PR)
    files = config_files()
    files["apps/web/overlays/prod/kustomization.yaml"] = prod_with("", resource="gone.yaml")
    repo = Repo(github_sandbox, tmp_path, files)
    docs = pull_request(repo, {"docs/runbook.md": "# runbook\n", ".github/workflows/ci.yml": "on: push\n"})

    assert repo.run(docs, mode="verify").state == "verified"

    # a file below a kustomization's directory (even one no overlay names) is rendered for
    overlay_dir = pull_request(repo, {"apps/api/base/notes.txt": "notes\n"})
    with pytest.raises(PolicyError, match="kubectl kustomize apps/web/overlays/prod failed"):
        repo.run(overlay_dir, mode="verify")


def test_a_changed_file_too_large_to_scan_is_refused(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitops_release.commands import promote_verify

    monkeypatch.setattr(promote_verify, "MAX_SCAN_BYTES", 1000)
    work = pull_request(repo, {"assets/blob.txt": "x" * 1001})

    with pytest.raises(PolicyError, match=r"assets/blob\.txt: 1001 bytes, too large to scan"):
        repo.run(work, mode="verify")


def test_render_check_false_reads_the_changed_yaml_itself(repo: Repo) -> None:
    # REVIEW8b D: without renders, the Secret and image gates ran nowhere; every reason at once
    work = pull_request(
        repo,
        {
            PROD: prod_with(
                "secretGenerator:\n  - name: db\n    literals: [password=hunter2]\n" + IMAGE_PATCH,
                resource="more.yaml",
            ),
            f"{PROD_DIR}/more.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: b}\n"
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: k}\ndata:\n"
            '  key: "\\x2D----BEGIN RSA PRIVATE KEY-----\\nMIIE"\n'
            "---\nspec: {template: {spec: {containers: [{name: x, image: 'ghcr.io/evil/x:1'}]}}}\n",
            f"{PROD_DIR}/broken.yaml": "a: [\n",
            f"{PROD_DIR}/bomb.yaml": "a: &a [x, x]\n" + "".join(f"b{i}: *a\n" for i in range(150)),
        },
    )

    with pytest.raises(PolicyError) as caught:
        repo.run(work, mode="verify", render_check="false")

    message = caught.value.message
    assert f"{PROD}: secretGenerator 'db' has literals, files or envs" in message
    assert f"{PROD}: sets image 'ghcr.io/evil/api:latest', which no images: entry change sets" in message
    assert f"{PROD_DIR}/more.yaml: renders Secret 's' with values ('stringData.a')" in message
    assert f"{PROD_DIR}/more.yaml: holds a private key (-----BEGIN RSA PRIVATE KEY-----)" in message
    assert f"{PROD_DIR}/more.yaml: sets image 'ghcr.io/evil/x:1'" in message
    assert f"{PROD_DIR}/broken.yaml: is not readable YAML" in message
    assert f"{PROD_DIR}/bomb.yaml: is not readable YAML ('uses more than 100 YAML aliases" in message


def test_render_check_false_passes_a_checked_promotion_and_unchanged_images(repo: Repo) -> None:
    # a base edit that keeps its images and a checked image-entry promotion pass
    images = {"api": "ghcr.io/org/api:sha-0", "worker": "ghcr.io/org/api-worker:sha-0"}
    work = pull_request(
        repo,
        {
            STAGE: overlay("api", "sha-2", DIGEST_2),
            "apps/api/base/deployment.yaml": "# reviewed\n" + deployment("api", images),
            # deploys nothing: not read (a workflow's job container)
            ".github/workflows/ci.yml": "jobs: {t: {container: {image: 'node:latest'}}}\n",
        },
    )

    assert repo.run(work, mode="verify", render_check="false").state == "verified"
