"""init config-repo / init source-repo: what is written, idempotence, --force, all or nothing,
symbolic links, and inputs validated before anything is touched."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from gitops_release.cli import main
from gitops_release.commands import init as init_mod
from gitops_release.commands.base import Context
from gitops_release.commands.init import TEMPLATE_DIRS, template_files, write_files
from gitops_release.core import policy as policy_mod
from gitops_release.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "templates"


@pytest.fixture(autouse=True)
def _capture(capsys: pytest.CaptureFixture[str]) -> None:
    global _CAPSYS
    _CAPSYS = capsys


_CAPSYS: pytest.CaptureFixture[str]


def run(*args: str) -> tuple[int, str]:
    """The CLI as a user runs it; (exit code, stdout + stderr)."""
    _CAPSYS.readouterr()
    rc = main(list(args), env={"PATH": os.environ.get("PATH", "")})
    captured = _CAPSYS.readouterr()
    return rc, captured.out + captured.err


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def template_tree(name: str) -> dict[str, bytes]:
    return tree(TEMPLATES / name)


def expected_tree(kind: str) -> dict[str, bytes]:
    """The kind's template directories, each at its place in the target (TEMPLATE_DIRS)."""
    return {
        (f"{target}/" if target != "." else "") + rel: data
        for source, target in TEMPLATE_DIRS[kind]
        for rel, data in template_tree(source).items()
    }


def test_the_table_copies_whole_template_directories() -> None:
    for kind, dirs in TEMPLATE_DIRS.items():
        files = template_files(kind)
        assert files == {rel: data.decode() for rel, data in expected_tree(kind).items()}, kind
        assert {source for source, _ in dirs} <= {p.name for p in TEMPLATES.iterdir()}


def test_config_repo_with_defaults_writes_the_templates_byte_for_byte(tmp_path: Path) -> None:
    rc, out = run("init", "config-repo", "--dir", str(tmp_path / "config"))
    assert rc == 0, out
    assert tree(tmp_path / "config") == expected_tree("config-repo")
    assert "infra/argo-workflows/workflowtemplate.yaml" in tree(tmp_path / "config")
    assert "Next steps:" in out and "ARGOCD_TOKEN" in out and "my-app-prod" in out


def _role_policies(project: dict, role: str) -> list[str]:
    return next(r for r in project["spec"]["roles"] if r["name"] == role).get("policies", [])


def test_the_argo_cd_tokens_init_asks_for_are_the_appprojects_roles(tmp_path: Path) -> None:
    """The next steps and await-argocd-sync.yml name the same tokens as the AppProject written
    beside them: the repository secret is the read-only ci role's, the prod environment's is the
    ops role's, the only one that may sync prod."""
    target = tmp_path / "config"
    rc, out = run("init", "config-repo", "--dir", str(target))
    assert rc == 0, out
    text = " ".join(out.split())
    repository = re.search(
        r"repository secret ARGOCD_TOKEN = 'argocd proj role create-token (\S+) (\w+)'", text
    )
    prod = re.search(
        r'environment "prod".*?secret ARGOCD_TOKEN = .argocd proj role create-token (\S+) (\w+)', text
    )
    assert repository and prod, out
    project = yaml.safe_load((target / "infra/argocd-apps/appproject.yaml").read_text(encoding="utf-8"))
    assert repository.group(1) == prod.group(1) == project["metadata"]["name"]
    read_only = _role_policies(project, repository.group(2))
    assert read_only and not [p for p in read_only if ", sync," in p]
    assert any(
        ", sync, my-app/*, allow" in p or ", sync, my-app/my-app-prod, allow" in p
        for p in _role_policies(project, prod.group(2))
    )
    assert "sync on <project>/my-app-prod" not in text
    workflow = " ".join(
        (target / ".github/workflows/await-argocd-sync.yml").read_text(encoding="utf-8").split()
    )
    assert f"create-token my-app {repository.group(2)}" in workflow
    assert f"create-token my-app {prod.group(2)}" in workflow
    assert "applications, sync, <project>/my-app-prod" not in workflow


def test_config_repo_substitutes_the_placeholders_and_stays_a_valid_policy_and_db(tmp_path: Path) -> None:
    target = tmp_path / "config"
    rc, out = run(
        "init",
        "config-repo",
        "--dir",
        str(target),
        "--repository",
        "Acme/Shop",
        "--app",
        "shop",
        "--image",
        "registry.example.com/acme/shop",
        "--config-repository",
        "acme/gitops",
    )
    assert rc == 0, out
    written = {path: data.decode() for path, data in tree(target).items()}
    assert not any(
        "my-app" in text or "org/" in text.replace("gitops-release/", "") for text in written.values()
    )
    policy = policy_mod.load_policy(written[".gitops-release.yml"])
    [source] = policy.sources
    assert source.repository == "Acme/Shop"
    assert list(source.containers) == ["shop", "shop-worker"]
    assert list(source.images) == ["registry.example.com/acme/shop", "registry.example.com/acme/shop-worker"]
    assert json.loads(written["db/db.json"]) == {"schemaVersion": 1, "releases": []}
    dev = yaml.safe_load(written["infra/argocd/overlays/dev/kustomization.yaml"])
    assert dev["namespace"] == "shop-dev"
    assert [i["name"] for i in dev["images"]] == [
        "registry.example.com/acme/shop",
        "registry.example.com/acme/shop-worker",
    ]
    application = yaml.safe_load(written["infra/argo-workflows/application.yaml"])
    assert application["spec"]["source"]["repoURL"] == "https://github.com/acme/gitops.git"
    for env in ("dev", "stage", "prod"):
        app = yaml.safe_load(written[f"infra/argocd-apps/application-{env}.yaml"])
        assert app["metadata"]["name"] == f"shop-{env}"
        assert app["spec"]["source"]["repoURL"] == "https://github.com/acme/gitops.git"
    project = yaml.safe_load(written["infra/argocd-apps/appproject.yaml"])
    assert project["spec"]["sourceRepos"] == ["https://github.com/acme/gitops.git"]
    eventsource = yaml.safe_load(written["infra/argo-workflows/events/eventsource.yaml"])
    [repo] = eventsource["spec"]["github"]["release-data-prep"]["repositories"]
    assert repo == {"owner": "acme", "names": ["gitops"]}
    assert not any("org/config" in text for path, text in written.items() if path.startswith("infra/argo"))
    # db validate accepts what init wrote
    cwd = os.getcwd()
    os.chdir(target)
    try:
        assert run("db", "validate")[0] == 0
    finally:
        os.chdir(cwd)


def test_placeholders_left_at_their_defaults_are_warned_about_naming_the_flag(tmp_path: Path) -> None:
    """Without --config-repository the Argo CD apps read a repository that does not exist, and
    nothing said so (COMPLETE13 G12-1)."""
    rc, out = run("init", "config-repo", "--dir", str(tmp_path / "a"), "--repository", "acme/shop")
    assert rc == 0, out
    [warning] = [line for line in out.splitlines() if line.startswith("warning:")]
    assert "--config-repository is the placeholder org/config-repo" in warning
    assert "pass --config-repository <owner/name of this config repository>" in warning
    rc, out = run("init", "config-repo", "--dir", str(tmp_path / "b"))
    assert rc == 0, out
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and "pass --repository <owner/name" in warnings[0], warnings
    rc, out = run(
        "init", "config-repo", "--dir", str(tmp_path / "c"), "--repository", "acme/shop",
        "--config-repository", "acme/gitops",
    )  # fmt: skip
    assert rc == 0, out
    assert "warning" not in out.lower()


def test_a_second_run_changes_nothing_and_says_so(tmp_path: Path) -> None:
    target = tmp_path / "c"
    assert run("init", "config-repo", "--dir", str(target), "--repository", "acme/shop")[0] == 0
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in target.rglob("*")}
    rc, out = run("init", "config-repo", "--dir", str(target), "--repository", "acme/shop")
    assert rc == 0
    assert "Nothing changed" in out and "created" not in out
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in target.rglob("*")} == before


def test_a_crlf_checkout_of_the_written_files_counts_as_unchanged_and_is_kept(tmp_path: Path) -> None:
    """REVIEW12a #6: git on Windows (core.autocrlf=true) checks the files out with CRLF; a re-run
    treats them as unchanged (no refusal with an empty diff) and leaves their line endings alone,
    also with --force."""
    target = tmp_path / "c"
    assert run("init", "config-repo", "--dir", str(target))[0] == 0
    for path in target.rglob("*"):
        if path.is_file():
            path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    before = tree(target)
    for extra in ([], ["--force"]):
        rc, out = run("init", "config-repo", "--dir", str(target), *extra)
        assert rc == 0, out
        assert "Nothing changed" in out
        assert tree(target) == before


def test_a_file_that_differs_only_in_its_final_newline_is_refused_with_a_visible_reason(
    tmp_path: Path,
) -> None:
    """splitlines() cannot show a missing final newline or a lone \\r: the refusal says so instead
    of printing an empty diff."""
    target = tmp_path / "c"
    assert run("init", "config-repo", "--dir", str(target))[0] == 0
    policy = target / ".gitops-release.yml"
    policy.write_bytes(policy.read_bytes().rstrip(b"\n"))
    rc, out = run("init", "config-repo", "--dir", str(target))
    assert rc == 1
    assert ".gitops-release.yml: differs only in line endings (a lone \\r) or the final newline" in out


def test_a_differing_file_is_listed_and_nothing_is_written_without_force(tmp_path: Path) -> None:
    target = tmp_path / "c"
    (target / "db").mkdir(parents=True)
    (target / "db/db.json").write_text('{"schemaVersion": 1, "releases": [1]}\n')
    (target / ".gitops-release.yml").write_text("channels: [dev]\n")
    before = tree(target)
    rc, out = run("init", "config-repo", "--dir", str(target))
    assert rc == 1
    error = next(line for line in out.splitlines() if "nothing was written" in line)
    assert "2 file(s)" in error and ".gitops-release.yml, db/db.json" in error and "--force" in error
    assert "+++ db/db.json (init)" in out  # the difference is shown
    assert tree(target) == before  # nothing created, nothing overwritten

    rc, out = run("init", "config-repo", "--dir", str(target), "--force")
    assert rc == 0, out
    assert tree(target) == expected_tree("config-repo")
    assert "overwritten db/db.json" in out


@pytest.mark.parametrize("link", [".github", ".github/workflows", "db/db.json", "infra"])
def test_a_symbolic_link_in_the_target_is_refused_and_nothing_is_written(tmp_path: Path, link: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "db.json").write_text("keep\n")
    target = tmp_path / "c"
    (target / link).parent.mkdir(parents=True, exist_ok=True)
    (target / link).symlink_to(outside / "db.json" if link.endswith(".json") else outside)
    before_target, before_outside = tree(target), tree(outside)
    rc, out = run("init", "config-repo", "--dir", str(target), "--force")
    assert rc == 1
    assert "symbolic link" in out
    assert tree(outside) == before_outside
    assert tree(target) == before_target


def test_a_failed_write_puts_every_file_back(tmp_path: Path) -> None:
    target = tmp_path / "c"
    target.mkdir()
    (target / ".gitops-release.yml").write_text("mine\n")
    desired = {".gitops-release.yml": "theirs\n", "a/new.txt": "1\n", "b/new.txt": "2\n", "c/new.txt": "3\n"}
    calls: list[Path] = []

    def failing(path: Path, text: str) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        init_mod.atomic_write(path, text)

    with pytest.raises(ConfigError, match="put back"):
        write_files("config-repo", target, desired, force=True, ctx=Context(), write=failing)
    assert (target / ".gitops-release.yml").read_text() == "mine\n"
    assert not (target / "a/new.txt").exists() and not (target / "b/new.txt").exists()


def test_a_directory_where_a_file_goes_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "c"
    (target / "db/db.json").mkdir(parents=True)
    rc, out = run("init", "config-repo", "--dir", str(target))
    assert rc == 1 and "is a directory" in out
    assert tree(target) == {}


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["config-repo", "--repository", "nope"], "repository"),
        (["config-repo", "--app", "My_App"], "app"),
        (["config-repo", "--image", "ghcr.io/org/app:latest"], "image"),
        (["source-repo", "--channel-map", "refs/pull/*=dev"], "channel-map"),
        (["source-repo", "--config-repository", "x"], "config-repository"),
        # GitHub expression syntax: written verbatim into with: channel-map: (REVIEW12a #10)
        (
            ["source-repo", "--channel-map", "refs/heads/${{github.event.head_commit.message}}=dev"],
            "channel-map",
        ),
        (["source-repo", "--channel-map", "refs/heads/main=dev,refs/tags/$x=prod"], "channel-map"),
        (["source-repo", "--channel-map", "refs/heads/a{b}=dev"], "channel-map"),
        (["source-repo", "--channel-map", "refs/heads/a'b=dev"], "channel-map"),
    ],
)
def test_bad_inputs_name_the_input_and_nothing_is_written(
    tmp_path: Path, args: list[str], field: str
) -> None:
    target = tmp_path / "c"
    rc, out = run("init", *args, "--dir", str(target))
    assert rc == 1
    assert f"input '{field}'" in out
    assert not target.exists()


def test_a_file_as_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    rc, out = run("init", "source-repo", "--dir", str(tmp_path / "f"))
    assert rc == 1 and "input 'dir'" in out


def test_source_repo_writes_the_dispatch_workflow_with_the_map(tmp_path: Path) -> None:
    target = tmp_path / "s"
    rc, out = run(
        "init",
        "source-repo",
        "--dir",
        str(target),
        "--channel-map",
        "refs/heads/develop=dev,refs/tags/v*=prod",
        "--config-repository",
        "acme/config",
    )
    assert rc == 0, out
    [path] = tree(target)
    workflow = yaml.safe_load((target / path).read_text())
    assert workflow[True]["push"] == {"branches": ["develop"], "tags": ["v*"]}
    assert workflow["jobs"]["dispatch"]["steps"][0]["with"]["repository"] == "acme/config"
    assert "CONFIG_REPOSITORY" not in out  # no variable to set: the repository is written
    assert "RELEASE_DISPATCH_TOKEN" in out
    rc, out = run(
        "init",
        "source-repo",
        "--dir",
        str(target),
        "--channel-map",
        "refs/heads/develop=dev,refs/tags/v*=prod",
        "--config-repository",
        "acme/config",
    )
    assert rc == 0 and "Nothing changed" in out
    # Another map differs from what is there: refused without --force
    rc, out = run("init", "source-repo", "--dir", str(target))
    assert rc == 1 and "update-release-channel.yml" in out


def test_help_lists_both_kinds() -> None:
    rc, out = run("init", "--help")
    assert rc == 0 and "config-repo" in out and "source-repo" in out
