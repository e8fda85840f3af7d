"""ApplicationStore without the controller thread: selectors, static corpus apps, events, and the
state machine driven step by step with a fake clock (plain YAML sources: no kubectl needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_release.sandbox.argocd import render
from gitops_release.sandbox.argocd.applications import (
    ApplicationStore,
    Fault,
    StoreError,
    Timing,
    parse_selector,
)
from tests.fixtures.git_remotes import clone_of, git, make_bare_remote, url_to_path

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "corpus"
CORPUS = [
    *sorted((FIXTURES / "argocd-app").glob("*.yaml")),
    FIXTURES / "argocd-app" / "roadie-applications-test-app.api-response.json",
    *sorted((FIXTURES / "argocd-contracts").glob("0[123]-*.yaml")),
]
REPO = "https://git.example.com/org/plain.git"
DEPLOY = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n"
    "      containers:\n        - name: web\n          image: ghcr.io/acme/web:{tag}\n"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _app(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "project": spec.pop("project", "default"),
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "source": {"repoURL": REPO, "path": "web", "targetRevision": "main"},
            **spec,
        },
    }


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", ["a", "b", "c"]),
        ("team=x", ["a", "b"]),
        ("team==x,env=prod", ["a"]),
        ("team!=x", ["c"]),
        ("env", ["a", "c"]),
        ("!env", ["b"]),
        ("env in (prod, dev)", ["a", "c"]),
        ("env notin (prod),team", ["b", "c"]),
    ],
)
def test_list_by_label_selector(selector: str, expected: list[str]) -> None:
    store = ApplicationStore(kubectl="kubectl")
    store.add_application(_app("a", {"team": "x", "env": "prod"}), static=True)
    store.add_application(_app("b", {"team": "x"}), static=True)
    store.add_application(_app("c", {"team": "y", "env": "dev"}), static=True)
    assert [a["metadata"]["name"] for a in store.list(selector=selector)] == expected


@pytest.mark.parametrize("selector", ["team=(x", "a b", "k in x", "=v", "bad key!=1"])
def test_bad_selector_is_a_400(selector: str) -> None:
    with pytest.raises(StoreError) as info:
        parse_selector(selector)
    assert (info.value.code, info.value.status) == (3, 400)


def test_list_by_namespace_and_project() -> None:
    store = ApplicationStore(kubectl="kubectl")
    store.add_application(_app("a", project="p1"), static=True)
    other = _app("a", project="p2")
    other["metadata"]["namespace"] = "team-ns"
    assert store.add_application(other, static=True) == "team-ns/a"
    assert [a["metadata"].get("namespace") for a in store.list(app_namespace="team-ns")] == ["team-ns"]
    assert [a["spec"]["project"] for a in store.list(projects=["p1"])] == ["p1"]
    assert store.get("a", "team-ns")["spec"]["project"] == "p2"
    with pytest.raises(StoreError) as info:
        store.get("a", "elsewhere")
    assert (info.value.code, info.value.status, info.value.message) == (
        5,
        404,
        'applications.argoproj.io "a" not found',
    )


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_static_corpus_apps_are_served_as_is(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    store = ApplicationStore(kubectl="kubectl")
    if "metadata" not in yaml.safe_load(text):
        with pytest.raises(StoreError):
            store.add_application(text, static=True)  # no name: cannot be served by name
        return
    key = store.add_application(text, static=True)
    namespace, name = key.split("/")
    store.step()
    served = store.get(name, namespace)
    assert served == yaml.safe_load(text)
    assert store.refresh(name, namespace, wait=0) == served


def test_static_metrics_apps_document_by_document() -> None:
    store = ApplicationStore(kubectl="kubectl")
    text = (FIXTURES / "argocd-contracts" / "04-metrics-test-apps.applications.yaml").read_text(
        encoding="utf-8"
    )
    added, refused = [], []
    for doc in yaml.safe_load_all(text):
        try:
            added.append(store.add_application(doc, static=True))
        except StoreError as exc:  # the file holds several "my-app" in argocd
            refused.append(exc.status)
    assert added == ["argocd/my-app", "argocd/my-app-2", "argocd/my-app-3", "argocd/my-app-4"]
    assert refused == [409, 409, 409]
    assert store.get("my-app-2")["operation"]["sync"]["dryRun"] is True
    assert [a["metadata"]["name"] for a in store.list(selector="team-name=my-team")] == [
        "my-app",
        "my-app-2",
        "my-app-3",
        "my-app-4",
    ]


def test_duplicate_and_nameless_apps_are_refused() -> None:
    store = ApplicationStore(kubectl="kubectl")
    store.add_application(_app("a"), static=True)
    with pytest.raises(StoreError) as info:
        store.add_application(_app("a"))
    assert info.value.status == 409
    with pytest.raises(StoreError):
        store.add_application("kind: Application\nstatus: {}\n")
    with pytest.raises(StoreError):
        store.add_application("- a list\n")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # an alias bomb: ~300 bytes standing for 10^5 values (each further level is 10 times more)
        (
            "metadata:\n  name: bomb\nspec:\n  project: default\n  info:\n"
            + "\n".join(
                ["    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
                + [f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 5)]
            ),
            "YAML aliases standing for 123,440 values",
        ),
        ("base: &b {project: default}\nmetadata: {name: m}\nspec:\n  <<: *b\n", "merge key '<<'"),
        ("metadata: {name: a}\nmetadata: {name: b}\nspec: {}\n", "duplicate key 'metadata'"),
    ],
    ids=["alias-bomb", "merge-key", "duplicate-key"],
)
def test_application_text_is_loaded_with_the_strict_loader(text: str, problem: str) -> None:
    with pytest.raises(StoreError) as info:
        ApplicationStore(kubectl="kubectl").add_application(text, static=True)
    assert (info.value.code, info.value.status) == (3, 400)
    assert info.value.message.startswith("application is not valid YAML: ")
    assert problem in info.value.message


def test_every_change_bumps_the_version_and_reaches_subscribers() -> None:
    store = ApplicationStore(kubectl="kubectl")
    sub = store.subscribe()
    store.add_application(_app("a"), static=True)
    store.sync("a", None, {})  # a static app: the operation is set and never run
    store.delete("a")
    events = [sub.next(0) for _ in range(3)]
    assert [e[0] for e in events if e] == ["ADDED", "MODIFIED", "DELETED"]
    assert store.resource_version == 3
    assert events[1] and events[1][1]["operation"]["sync"] == {
        "revision": "main",
        "source": _app("a")["spec"]["source"],
    }
    sub.close()
    assert sub.next(0) is None


@pytest.fixture
def plain(tmp_path: Path):
    url = make_bare_remote(tmp_path, {"web/deploy.yaml": DEPLOY.format(tag="1"), "other/x.yaml": "{}\n"})
    work = clone_of(url, tmp_path / "work")

    def push(rel: str, text: str) -> str:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text, encoding="utf-8")
        git("add", "--all", cwd=work)
        git("commit", "--quiet", "-m", "c", cwd=work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=work)
        return git("rev-parse", "HEAD", cwd=work).strip()

    clock = Clock()
    store = ApplicationStore(
        kubectl="kubectl", clock=clock, timing=Timing(sync_duration=10, progressing_duration=20)
    )
    store.register_repo(REPO + "/", url_to_path(url))  # trailing slash and .git: the same repo
    return store, clock, push


def _steps(store: ApplicationStore, clock: Clock, seconds: float) -> dict[str, Any]:
    clock.now += seconds
    store.step()
    return store.get("web")


def test_state_machine_with_a_fake_clock(plain) -> None:
    store, clock, push = plain
    store.add_application(_app("web", syncPolicy={"automated": {}}, revisionHistoryLimit=2))
    app = _steps(store, clock, 0)  # refresh: OutOfSync, auto-sync sets the operation
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert app["operation"]["initiatedBy"] == {"automated": True} and app["operation"]["retry"] == {
        "limit": 5
    }
    assert app["status"]["operationState"]["phase"] == "Running"
    assert _steps(store, clock, 9)["status"]["operationState"]["phase"] == "Running"
    app = _steps(store, clock, 1)
    assert app["status"]["operationState"]["phase"] == "Succeeded" and "operation" not in app
    assert app["status"]["health"]["status"] == "Progressing"
    app = _steps(store, clock, 0)  # the refresh the completion asked for
    assert app["status"]["sync"]["status"] == "Synced"
    assert app["status"]["reconciledAt"] == app["status"]["operationState"]["finishedAt"]
    assert _steps(store, clock, 19)["status"]["health"]["status"] == "Progressing"
    app = _steps(store, clock, 1)
    assert app["status"]["health"] == {"status": "Healthy", "lastTransitionTime": "2023-11-14T22:13:50Z"}
    for tag in ("2", "3", "4"):
        push("web/deploy.yaml", DEPLOY.format(tag=tag))
        store.notify_push("HTTPS://GIT.example.com/org/plain")
        for _ in range(3):
            _steps(store, clock, 10)
    app = store.get("web")
    assert [h["id"] for h in app["status"]["history"]] == [2, 3]  # revisionHistoryLimit 2
    assert app["status"]["summary"]["images"] == ["ghcr.io/acme/web:4"]
    assert app["status"]["sourceType"] == "Directory"


def test_history_default_limit_is_ten(plain) -> None:
    store, clock, _ = plain
    store.add_application(_app("web"))
    for _ in range(12):
        _steps(store, clock, 0)
        store.sync("web", None, {})
        _steps(store, clock, 0)
        _steps(store, clock, 10)
    history = store.get("web")["status"]["history"]
    assert [h["id"] for h in history] == list(range(2, 12))


def test_failed_sync_retries_then_fails_and_auto_sync_does_not_loop(plain) -> None:
    store, clock, _ = plain
    store.add_application(
        _app("web", syncPolicy={"automated": {}, "retry": {"limit": 1, "backoff": {"duration": "5s"}}})
    )
    store.set_fault("web", Fault("sync-failed", message="denied"))
    _steps(store, clock, 0)
    app = _steps(store, clock, 10)
    state = app["status"]["operationState"]
    assert state["phase"] == "Running" and state["retryCount"] == 1 and "finishedAt" in state
    assert state["message"].startswith(
        "one or more objects failed to apply, reason: denied. Retrying attempt #1 at "
    )
    app = _steps(store, clock, 5)
    assert app["status"]["operationState"]["message"] == "Retrying operation. Attempt #1"
    app = _steps(store, clock, 10)
    assert app["status"]["operationState"]["phase"] == "Failed"
    app = _steps(store, clock, 0)
    assert "operation" not in app and [c["type"] for c in app["status"]["conditions"]] == ["SyncError"]
    assert app["status"]["health"]["status"] == "Missing"


def test_hostile_repo_symlink_out_of_the_tree_is_a_comparison_error(tmp_path: Path) -> None:
    url = make_bare_remote(tmp_path, {"web/deploy.yaml": DEPLOY.format(tag="1")})
    work = clone_of(url, tmp_path / "work")
    os.symlink("/etc/passwd", work / "web" / "passwd.yaml")
    os.symlink("../../../outside", work / "web" / "up")
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "links", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    sha = git("rev-parse", "HEAD", cwd=work).strip()
    with pytest.raises(render.RenderError, match="illegal filepath in symlink"):
        render.render_source(url_to_path(url), sha, "web", kubectl=None, timeout=5, default_namespace="d")


def test_hostile_repo_huge_archive_is_refused(tmp_path: Path) -> None:
    url = make_bare_remote(
        tmp_path, {"web/deploy.yaml": DEPLOY.format(tag="1"), "web/big.txt": "x" * 200_000}
    )
    sha = git("--git-dir", str(url_to_path(url)), "rev-parse", "main").strip()
    with pytest.raises(render.RenderError, match="more than the 100000 allowed"):
        render.export_tree(url_to_path(url), sha, tmp_path / "out", max_bytes=100_000)


def test_resolve_branch_tag_sha_head(tmp_path: Path) -> None:
    url = make_bare_remote(tmp_path, {"a.yaml": "{}\n"})
    git_dir = url_to_path(url)
    sha = git("--git-dir", str(git_dir), "rev-parse", "main").strip()
    git("--git-dir", str(git_dir), "tag", "-a", "-m", "t", "v1", sha)
    for name in ("", "HEAD", "main", "v1", sha, sha[:8]):
        assert render.resolve(git_dir, name) == sha
    for bad in ("nope", "--all", "a b"):
        with pytest.raises(render.RenderError, match="unable to resolve"):
            render.resolve(git_dir, bad)
