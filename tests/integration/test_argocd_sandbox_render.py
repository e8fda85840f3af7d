"""The Argo CD sandbox's repo server against hostile repositories, with real git and real kustomize:
no network (remote bases refused, kustomize cut off), the export bounded before it is written,
symbolic links resolved."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gitops_release.adapters import kustomize
from gitops_release.sandbox.argocd import render
from gitops_release.sandbox.argocd.applications import ApplicationStore, Timing
from tests.fixtures.git_remotes import clone_of, git, git_env, make_bare_remote, url_to_path

REPO = "https://git.example.com/org/config.git"
CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: '1'\n"
KUBECTL = kustomize.find_kubectl(os.environ)


class Listener:
    """An HTTP server on 127.0.0.1 that records every request (none may arrive)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = CONFIG_MAP.format(name="fetched").encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def listener() -> Iterator[Listener]:
    served = Listener()
    yield served
    served.stop()


def _render(tmp_path: Path, files: dict[str, str], path: str = "app") -> render.Rendered:
    git_dir = url_to_path(make_bare_remote(tmp_path, files))
    sha = render.resolve(git_dir, "main")
    return render.render_source(git_dir, sha, path, kubectl=KUBECTL, timeout=30, default_namespace="d")


def test_kubectl_is_installed() -> None:
    assert KUBECTL is not None  # the no-network tests below need a real kustomize to mean anything


def test_remote_resource_is_never_fetched_and_is_a_comparison_error(
    tmp_path: Path, listener: Listener
) -> None:
    url = make_bare_remote(
        tmp_path,
        {
            "app/kustomization.yaml": f"resources:\n  - cm.yaml\n  - http://127.0.0.1:{listener.port}/r.yaml\n",
            "app/cm.yaml": CONFIG_MAP.format(name="local"),
        },
    )
    store = ApplicationStore(timing=Timing(reconcile_interval=0.01))
    store.register_repo(REPO, url_to_path(url))
    store.start()
    try:
        store.add_application(
            {
                "metadata": {"name": "r"},
                "spec": {
                    "project": "default",
                    "destination": {"namespace": "d", "server": "https://kubernetes.default.svc"},
                    "source": {"repoURL": REPO, "path": "app", "targetRevision": "main"},
                },
            }
        )
        app = store.refresh("r", wait=20)
    finally:
        store.stop()
    assert listener.hits == []
    conditions = app["status"].get("conditions", [])
    assert [c["type"] for c in conditions] == ["ComparisonError"]
    assert "the sandbox renders local kustomizations only" in conditions[0]["message"]
    assert app["status"]["sync"]["status"] == "Unknown"


@pytest.mark.parametrize(
    "files",
    [
        # a remote resource in a base the app reaches, not in the app's own kustomization
        {
            "app/kustomization.yaml": "resources:\n  - ../base\n",
            "base/kustomization.yaml": "resources:\n  - http://127.0.0.1:{port}/r.yaml\n",
        },
        {"app/kustomization.yaml": "bases:\n  - http://127.0.0.1:{port}/org/repo.git\n"},
        {"app/kustomization.yaml": "components:\n  - git::http://127.0.0.1:{port}/org/repo//c\n"},
        {"app/kustomization.yaml": "resources:\n  - github.com/org/repo//deploy?ref=v1\n"},
        {"app/kustomization.yaml": "resources:\n  - git@github.com:org/repo.git\n"},
        {"app/kustomization.yaml": "resources:\n  - gh:org/repo\n"},
        {"app/kustomization.yaml": "resources:\n  - example.com/org/repo//deploy\n"},
        {"app/kustomization.yaml": "resources:\n  - ../base?ref=main\n"},
        # files kustomize loads (over HTTP when they are URLs)
        {
            "app/kustomization.yaml": "resources:\n  - cm.yaml\npatches:\n"
            "  - path: http://127.0.0.1:{port}/p.yaml\n",
        },
        {"app/kustomization.yaml": "patchesStrategicMerge:\n  - http://127.0.0.1:{port}/p.yaml\n"},
        {
            "app/kustomization.yaml": "configMapGenerator:\n  - name: c\n    files:\n"
            "      - key=http://127.0.0.1:{port}/f\n",
        },
        {"app/kustomization.yaml": "openapi:\n  path: http://127.0.0.1:{port}/schema.json\n"},
        {"app/kustomization.yaml": "crds:\n  - http://127.0.0.1:{port}/crd.yaml\n"},
        # merge keys and repeated keys cannot hide an entry
        {
            "app/kustomization.yaml": "x: &r {resources: ['http://127.0.0.1:{port}/r.yaml']}\n<<: *r\n",
        },
        {
            "app/kustomization.yaml": "resources:\n  - http://127.0.0.1:{port}/r.yaml\n"
            "resources:\n  - cm.yaml\n",
        },
        # a transformer config file (and an inline one) loads its patch from a URL
        {
            "app/kustomization.yaml": "resources:\n  - cm.yaml\ntransformers:\n  - t.yaml\n",
            "app/t.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: t\n"
            "path: http://127.0.0.1:{port}/p.yaml\ntarget:\n  kind: ConfigMap\n",
        },
        {
            "app/kustomization.yaml": "resources:\n  - cm.yaml\ntransformers:\n  - |\n"
            "    apiVersion: builtin\n    kind: PatchTransformer\n    metadata:\n      name: t\n"
            "    path: http://127.0.0.1:{port}/p.yaml\n",
        },
        # a transformer kustomization directory whose resources are plugin configs
        {
            "app/kustomization.yaml": "resources:\n  - cm.yaml\ntransformers:\n  - ../plugins\n",
            "plugins/kustomization.yaml": "resources:\n  - t.yaml\n",
            "plugins/t.yaml": "apiVersion: builtin\nkind: PatchTransformer\nmetadata:\n  name: t\n"
            "path: http://127.0.0.1:{port}/p.yaml\ntarget:\n  kind: ConfigMap\n",
        },
        {
            "app/kustomization.yaml": "helmCharts:\n  - name: c\n    repo: http://127.0.0.1:{port}/charts\n",
        },
    ],
)
def test_every_remote_form_is_refused_before_kustomize_runs(
    tmp_path: Path, listener: Listener, files: dict[str, str]
) -> None:
    files = {k: v.replace("{port}", str(listener.port)) for k, v in files.items()}
    files.setdefault("app/cm.yaml", CONFIG_MAP.format(name="local"))
    with pytest.raises(render.RenderError, match="the sandbox renders local kustomizations only"):
        _render(tmp_path, files)
    assert listener.hits == []


def test_a_remote_base_elsewhere_in_the_repository_does_not_stop_a_local_app(
    tmp_path: Path, listener: Listener
) -> None:
    rendered = _render(
        tmp_path,
        {
            "app/kustomization.yaml": "resources:\n  - ../base\n",
            "base/kustomization.yaml": "resources:\n  - cm.yaml\n",
            "base/cm.yaml": CONFIG_MAP.format(name="local"),
            "other/kustomization.yaml": f"resources:\n  - http://127.0.0.1:{listener.port}/r.yaml\n",
        },
    )
    assert [r.name for r in rendered.resources] == ["local"]
    assert listener.hits == []


def test_kustomize_itself_runs_without_network(
    tmp_path: Path, listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second layer, with the check taken away: 0.0.0.0 reaches the listener on Linux, and Go
    # proxies it (only loopback names and addresses bypass a proxy), so the request goes to the
    # closed port instead.
    monkeypatch.setattr(render, "check_local_only", lambda *args, **kwargs: None)
    with pytest.raises(render.RenderError, match="kubectl kustomize app failed"):
        _render(
            tmp_path,
            {"app/kustomization.yaml": f"resources:\n  - http://0.0.0.0:{listener.port}/r.yaml\n"},
        )
    assert listener.hits == []


def _zero_blob_commit(bare: Path, size: int) -> str:
    env = git_env()
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True, env=env)

    def run(*args: str, data: bytes = b"") -> str:
        return subprocess.run(
            ["git", f"--git-dir={bare}", *args], input=data, capture_output=True, check=True, env=env
        ).stdout.decode()

    blob = run("hash-object", "-w", "--stdin", data=b"\0" * size).strip()
    tree = run("mktree", data=f"100644 blob {blob}\tz.yaml\n".encode()).strip()
    return run("commit-tree", tree, "-m", "big").strip()


def test_a_huge_blob_is_refused_before_git_archive_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = tmp_path / "big.git"
    sha = _zero_blob_commit(bare, 8 * 1024 * 1024)
    assert sum(f.stat().st_size for f in bare.rglob("*") if f.is_file()) < 1024 * 1024  # packs small
    commands: list[list[str]] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def run(args: list[str], *rest: object, **kwargs: object) -> object:
        commands.append(list(args))
        return real_run(args, *rest, **kwargs)  # type: ignore[call-overload]

    def popen(args: list[str], *rest: object, **kwargs: object) -> object:
        commands.append(list(args))
        return real_popen(args, *rest, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(render.subprocess, "run", run)
    monkeypatch.setattr(render.subprocess, "Popen", popen)
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(render.RenderError, match=r"is at least \d+ bytes, more than the 1048576 allowed"):
        render.export_tree(bare, sha, dest, max_bytes=1024 * 1024)
    assert not any("archive" in c for c in commands)  # nothing was written, not even to a temp file
    assert commands and "ls-tree" in commands[0]
    assert list(dest.iterdir()) == []


def test_a_tree_just_under_the_bound_is_exported(tmp_path: Path) -> None:
    bare = tmp_path / "ok.git"
    sha = _zero_blob_commit(bare, 100_000)
    dest = tmp_path / "out"
    dest.mkdir()
    render.export_tree(bare, sha, dest, max_bytes=200_000)
    assert (dest / "z.yaml").stat().st_size == 100_000


def test_a_chain_of_in_tree_links_pointing_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    # a/b/s -> ../.. is the root; a/b/e -> s/../../.. looks like a/b/e -> "." lexically but is "/"
    url = make_bare_remote(tmp_path, {"app/cm.yaml": CONFIG_MAP.format(name="local")})
    work = clone_of(url, tmp_path / "work")
    (work / "a" / "b").mkdir(parents=True)
    os.symlink("../..", work / "a" / "b" / "s")
    os.symlink("s/../../..", work / "a" / "b" / "e")
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "links", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    git_dir = url_to_path(url)
    sha = render.resolve(git_dir, "main")
    with pytest.raises(render.RenderError, match=r"illegal filepath in symlink: a/b/e -> s/\.\./\.\./\.\."):
        render.render_source(git_dir, sha, "app", kubectl=KUBECTL, timeout=30, default_namespace="d")


def test_in_tree_links_are_kept(tmp_path: Path) -> None:
    url = make_bare_remote(tmp_path, {"base/cm.yaml": CONFIG_MAP.format(name="linked")})
    work = clone_of(url, tmp_path / "work")
    (work / "app").mkdir()
    os.symlink("../base/cm.yaml", work / "app" / "cm.yaml")
    os.symlink("../a", work / "app" / "loop")  # dangling, inside
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "links", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    git_dir = url_to_path(url)
    rendered = render.render_source(
        git_dir, render.resolve(git_dir, "main"), "app", kubectl=KUBECTL, timeout=30, default_namespace="d"
    )
    assert [r.name for r in rendered.resources] == ["linked"]
