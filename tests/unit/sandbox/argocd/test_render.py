"""sandbox/argocd/render.py's own functions on tiny trees and repositories (no kubectl needed; the
whole render with real kustomize and a listening server: tests/integration/test_argocd_sandbox_render.py)."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from gitops_release.sandbox.argocd import render
from tests.fixtures.git_remotes import git, make_bare_remote, url_to_path

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def _repo(tmp_path: Path, files: dict[str, str]) -> tuple[Path, str]:
    git_dir = url_to_path(make_bare_remote(tmp_path, files))
    return git_dir, render.resolve(git_dir, "main")


# -- check_local_only ---------------------------------------------------------------------------


def test_local_kustomizations_pass_and_what_kustomize_cannot_load_is_not_followed(tmp_path: Path) -> None:
    root = _tree(
        tmp_path / "repo",
        {
            "app/kustomization.yaml": "resources:\n  - ../base\n  - cm.yaml\n  - ../../outside\n"
            "  - missing-dir\n",
            "app/cm.yaml": CONFIG_MAP.format(name="a"),
            # bases that reach each other: the walk ends
            "base/kustomization.yaml": "resources:\n  - ../loop\n",
            "loop/kustomization.yaml": "resources:\n  - ../base\n",
        },
    )
    # outside the tree: kustomize's load restrictor refuses it, so a remote in it never matters
    _tree(tmp_path, {"outside/kustomization.yaml": "resources:\n  - https://example.com/r.yaml\n"})
    render.check_local_only(root / "app", root, shown="app")


def test_a_remote_reached_through_a_local_base_names_the_file_it_is_in(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "app/kustomization.yaml": "resources:\n  - ../base\n",
            "base/kustomization.yaml": "resources:\n  - https://example.com/r.yaml\n",
        },
    )
    with pytest.raises(render.RenderError) as caught:
        render.check_local_only(root / "app", root, shown="app")
    assert str(caught.value) == (
        "app (base/kustomization.yaml): resources https://example.com/r.yaml is remote: " + render.LOCAL_ONLY
    )


@pytest.mark.parametrize(
    ("kustomization", "problem"),
    [
        ("helmChartInflationGenerator:\n  - chartName: c\n", "helmChartInflationGenerator: "),
        ("configMapGenerator:\n  - name: c\n    envs:\n      - https://example.com/e.env\n", "envs "),
        # deep inside a patch target and behind a merge key
        ("patches:\n  - target: {kind: X}\n    path: gh:org/repo\n", "path gh:org/repo"),
        ("base: &b {path: git@host:org/r.git}\npatches:\n  - <<: *b\n", "path git@host:org/r.git"),
        # an alias bomb: refused before anything is built
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
            "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
            "app (app/kustomization.yaml): ",
        ),
        ("resources: [unclosed\n", "invalid YAML"),
    ],
)
def test_what_kustomize_would_fetch_or_cannot_read_is_refused(
    tmp_path: Path, kustomization: str, problem: str
) -> None:
    root = _tree(tmp_path, {"app/kustomization.yaml": kustomization})
    with pytest.raises(render.RenderError, match=r"^app") as caught:
        render.check_local_only(root / "app", root, shown="app")
    assert problem in str(caught.value)


def test_an_oversized_kustomization_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "MAX_PLAIN_BYTES", 100)
    root = _tree(tmp_path, {"app/kustomization.yaml": "resources:\n" + "  - cm.yaml\n" * 20})
    with pytest.raises(render.RenderError, match=r"app: kustomization\.yaml is more than 100 bytes"):
        render.check_local_only(root / "app", root, shown="app")


# -- tree_size / export_tree ------------------------------------------------------------------------


def test_tree_size_counts_a_header_per_entry_and_blobs_in_whole_blocks(tmp_path: Path) -> None:
    git_dir, sha = _repo(tmp_path, {"a.yaml": "x" * 10, "d/b.yaml": "y" * 600})
    # a.yaml: header + 1 block; d (a tree): header; d/b.yaml: header + 2 blocks
    assert render.tree_size(git_dir, sha) == (2 + 1 + 3) * 512
    with pytest.raises(
        render.RenderError, match=f"repository at {sha} is at least 3072 bytes, more than the 3000"
    ):
        render.tree_size(git_dir, sha, max_bytes=3000)


def test_tree_size_of_something_not_a_tree_is_an_error(tmp_path: Path) -> None:
    git_dir, _ = _repo(tmp_path, {"a.yaml": "{}\n"})
    with pytest.raises(render.RenderError, match=r"git ls-tree of 0{40} failed"):
        render.tree_size(git_dir, "0" * 40)


def test_export_tree_writes_files_and_in_tree_links_and_nothing_else(tmp_path: Path) -> None:
    git_dir, sha = _repo(tmp_path, {"app/cm.yaml": CONFIG_MAP.format(name="a"), "top.txt": "t\n"})
    dest = tmp_path / "out"
    dest.mkdir()
    render.export_tree(git_dir, sha, dest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "app",
        "app/cm.yaml",
        "top.txt",
    ]
    assert (dest / "app" / "cm.yaml").read_text() == CONFIG_MAP.format(name="a")


def test_an_empty_tree_exports_to_nothing(tmp_path: Path) -> None:
    bare = tmp_path / "empty.git"
    git("init", "--quiet", "--bare", str(bare))
    empty_tree = git("--git-dir", str(bare), "hash-object", "-t", "tree", "-w", "--stdin", input="").strip()
    sha = git("--git-dir", str(bare), "commit-tree", empty_tree, "-m", "empty").strip()
    dest = tmp_path / "out"
    dest.mkdir()
    render.export_tree(bare, sha, dest)
    assert list(dest.iterdir()) == []


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = link
    return member


def test_safe_member_refuses_escapes_and_skips_special_files(tmp_path: Path) -> None:
    assert render._safe_member(_member("a/b.yaml"), tmp_path) is True
    assert render._safe_member(_member("a", tarfile.DIRTYPE), tmp_path) is True
    assert render._safe_member(_member("a/l", tarfile.SYMTYPE, "../b.yaml"), tmp_path) is True
    assert render._safe_member(_member("fifo", tarfile.FIFOTYPE), tmp_path) is False
    assert render._safe_member(_member("h", tarfile.LNKTYPE, "a/b.yaml"), tmp_path) is False
    for name in ("/etc/passwd", "../x", "a/../../x"):
        with pytest.raises(render.RenderError, match="illegal filepath in archive"):
            render._safe_member(_member(name), tmp_path)
    for link in ("/etc", "../../x", "../.."):
        with pytest.raises(render.RenderError, match="leaves the repository"):
            render._safe_member(_member("a/l", tarfile.SYMTYPE, link), tmp_path)


# -- parse_resources / render_source --------------------------------------------------------------------


def test_parse_resources_defaults_the_namespace_of_namespaced_kinds_only() -> None:
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: web\n          image: ghcr.io/acme/web:1\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: other\n"
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\n"
        "---\n# no kind: not a resource\nmetadata:\n  name: x\n"
    )
    resources = render.parse_resources(text, shown="app", default_namespace="dest")
    assert [(r.group, r.version, r.kind, r.namespace, r.name, r.images) for r in resources] == [
        ("apps", "v1", "Deployment", "dest", "web", ("ghcr.io/acme/web:1",)),
        ("", "v1", "ConfigMap", "other", "cm", ()),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole", "", "reader", ()),
    ]
    # the digest covers the image: a new tag is a change (OutOfSync), the same text is not
    again = render.parse_resources(text, shown="app", default_namespace="dest")
    retagged = render.parse_resources(text.replace("web:1", "web:2"), shown="app", default_namespace="dest")
    assert again[0].digest == resources[0].digest != retagged[0].digest
    assert retagged[1].digest == resources[1].digest


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../elsewhere", "../elsewhere: app path is outside the repository"),
        ("app/../..", "app/../..: app path is outside the repository"),
        ("/abs", "/abs: app path is outside the repository"),
        ("nope", "nope: app path does not exist"),
        ("app/cm.yaml", "app/cm.yaml: app path does not exist"),  # a file, not a directory
    ],
)
def test_an_app_path_outside_the_tree_or_missing_is_refused(tmp_path: Path, path: str, message: str) -> None:
    git_dir, sha = _repo(tmp_path, {"app/cm.yaml": CONFIG_MAP.format(name="a")})
    with pytest.raises(render.RenderError) as caught:
        render.render_source(git_dir, sha, path, kubectl=None, timeout=5, default_namespace="d")
    assert str(caught.value) == message


def test_a_directory_source_reads_its_yaml_and_json_files_not_recursively(tmp_path: Path) -> None:
    git_dir, sha = _repo(
        tmp_path,
        {
            "app/a.yaml": CONFIG_MAP.format(name="a"),
            "app/b.json": '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}}',
            "app/notes.txt": CONFIG_MAP.format(name="txt"),
            "app/sub/c.yaml": CONFIG_MAP.format(name="c"),
        },
    )
    rendered = render.render_source(git_dir, sha, "app", kubectl=None, timeout=5, default_namespace="d")
    assert (rendered.revision, rendered.source_type) == (sha, "Directory")
    assert [(r.kind, r.name, r.namespace) for r in rendered.resources] == [
        ("ConfigMap", "a", "d"),
        ("Secret", "b", "d"),
    ]


def test_a_kustomization_without_kubectl_says_kustomize_is_missing(tmp_path: Path) -> None:
    git_dir, sha = _repo(
        tmp_path,
        {"app/kustomization.yaml": "resources:\n  - cm.yaml\n", "app/cm.yaml": CONFIG_MAP.format(name="a")},
    )
    with pytest.raises(render.RenderError, match=r"^app: kustomize is not available"):
        render.render_source(git_dir, sha, "app", kubectl=None, timeout=5, default_namespace="d")


def test_kustomizes_environment_has_no_way_out() -> None:
    env = render._offline_env(4242)
    assert {env[k] for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "https_proxy")} == {
        "http://127.0.0.1:4242"
    }
    assert (env["NO_PROXY"], env["GIT_ALLOW_PROTOCOL"], env["GIT_CONFIG_GLOBAL"]) == ("", "file", os.devnull)
    with render._closed_port() as port:
        import socket

        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
