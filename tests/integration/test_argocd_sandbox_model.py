"""The Argo CD sandbox's application controller against real bare git repositories and real
kustomize: refresh, OutOfSync at the pushed sha, sync, history, health, faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from gitops_release.core.argocd import Expectation, Verdict, assess, observe
from gitops_release.sandbox.argocd import ArgoCDSandbox
from gitops_release.sandbox.argocd.applications import ApplicationStore, Fault, StoreError, Timing
from tests.fixtures.git_remotes import clone_of, git, make_bare_remote, url_to_path
from tests.fixtures.kustomize_base import base_files

FAST = Timing(
    reconcile_interval=0.01, sync_duration=0.05, progressing_duration=0.1, default_retry_backoff=0.01
)
REPO = "https://git.example.com/org/config.git"


def _files(tag: str = "1.0.0") -> dict[str, str]:
    files = base_files("base", "web", {"web": "ghcr.io/acme/web:0.0.1"})
    files["apps/web/kustomization.yaml"] = (
        f"resources:\n  - ../../base\nimages:\n  - name: ghcr.io/acme/web\n    newTag: '{tag}'\n"
    )
    files["apps/other/cm.yaml"] = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\ndata:\n  a: '1'\n"
    )
    return files


def _app(name: str = "web", *, automated: bool = True, path: str = "apps/web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", "labels": {"team": "a"}},
        "spec": {
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "source": {"repoURL": REPO, "path": path, "targetRevision": "main"},
            **spec,
        },
    }
    if automated:
        body["spec"]["syncPolicy"] = {"automated": {"prune": True}}
    return body


class Repo:
    def __init__(self, root: Path) -> None:
        self.url = make_bare_remote(root, _files())
        self.git_dir = url_to_path(self.url)
        self.work = clone_of(self.url, root / "work")

    def commit(self, rel: str, text: str, message: str = "change") -> str:
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        git("add", "--all", cwd=self.work)
        git("commit", "--quiet", "-m", message, cwd=self.work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).strip()

    def set_tag(self, tag: str) -> str:
        return self.commit(
            "apps/web/kustomization.yaml", _files(tag)["apps/web/kustomization.yaml"], f"web {tag}"
        )


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


@pytest.fixture
def store(repo: Repo):
    store = ApplicationStore(timing=FAST)
    store.register_repo(REPO, repo.git_dir)
    store.start()
    yield store
    store.stop()


def wait_for(store: ApplicationStore, name: str, check, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        app = store.get(name)
        if check(app):
            return app
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached; last status: {app.get('status')}")
        time.sleep(0.01)


def converged(app: dict[str, Any]) -> bool:
    status = app.get("status", {})
    return (
        status.get("sync", {}).get("status") == "Synced"
        and status.get("health", {}).get("status") == "Healthy"
        and "operation" not in app
    )


def test_push_refresh_out_of_sync_then_sync_progressing_healthy(store: ApplicationStore, repo: Repo) -> None:
    store.add_application(_app(automated=False))
    first = repo.git_dir and git("--git-dir", str(repo.git_dir), "rev-parse", "main").strip()
    app = wait_for(store, "web", lambda a: a["status"].get("sync", {}).get("status") == "OutOfSync")
    assert app["status"]["sync"]["revision"] == first
    assert app["status"]["health"]["status"] == "Missing"  # never synced: nothing live
    store.sync("web", None, {})
    wait_for(store, "web", converged)

    sha = repo.set_tag("2.0.0")
    app = store.refresh("web", wait=10)
    assert app["status"]["sync"] == {
        "comparedTo": {"destination": app["spec"]["destination"], "source": app["spec"]["source"]},
        "revision": sha,
        "status": "OutOfSync",
    }
    assert app["status"]["summary"]["images"] == ["ghcr.io/acme/web:1.0.0"]  # live, not desired
    sub = store.subscribe()
    synced = store.sync("web", None, {"prune": True})
    assert synced["operation"]["sync"]["revision"] == sha
    assert synced["operation"]["initiatedBy"] == {"username": "admin"}
    seen: list[tuple[str | None, str | None, str | None]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        event = sub.next(0.5)
        if event is None:
            continue
        status = event[1]["status"]
        seen.append(
            (
                status.get("operationState", {}).get("phase"),
                status.get("health", {}).get("status"),
                status.get("sync", {}).get("status"),
            )
        )
        if converged(event[1]) and status["sync"]["revision"] == sha:
            break
    sub.close()
    assert ("Running", "Healthy", "OutOfSync") in seen
    assert ("Succeeded", "Progressing", "Synced") in seen or ("Succeeded", "Progressing", "OutOfSync") in seen
    assert seen[-1] == ("Succeeded", "Healthy", "Synced")
    app = store.get("web")
    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded" and state["message"] == "successfully synced (all tasks run)"
    assert state["operation"]["sync"]["revision"] == sha and state["syncResult"]["revision"] == sha
    assert {"kind": "Deployment", "name": "web", "status": "Synced"}.items() <= state["syncResult"][
        "resources"
    ][0].items()
    assert app["status"]["reconciledAt"] >= state["finishedAt"]
    assert [h["revision"] for h in app["status"]["history"]] == [first, sha]
    assert [h["id"] for h in app["status"]["history"]] == [0, 1]
    assert app["status"]["summary"]["images"] == ["ghcr.io/acme/web:2.0.0"]
    deployment = next(r for r in app["status"]["resources"] if r["kind"] == "Deployment")
    assert deployment == {
        "group": "apps",
        "kind": "Deployment",
        "version": "v1",
        "name": "web",
        "namespace": "web",
        "status": "Synced",
        "health": {"status": "Healthy"},
    }
    assert app["status"]["sourceType"] == "Kustomize"
    # the project's own readiness rules agree: done at the pushed sha, not at the first one
    assert assess(observe(app), Expectation(revisions=(sha,))).verdict is Verdict.DONE
    assert assess(observe(app), Expectation(revisions=(first,))).verdict is not Verdict.DONE


def test_commit_to_another_path_is_synced_at_the_new_sha_without_history(
    store: ApplicationStore, repo: Repo
) -> None:
    store.add_application(_app())
    app = wait_for(store, "web", lambda a: converged(a) and a["status"].get("history"))
    assert len(app["status"]["history"]) == 1
    sha = repo.commit("apps/other/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n")
    store.notify_push(REPO)
    app = wait_for(store, "web", lambda a: a["status"]["sync"].get("revision") == sha)
    assert app["status"]["sync"]["status"] == "Synced"
    assert len(app["status"]["history"]) == 1 and "operation" not in app
    assert app["status"]["operationState"]["syncResult"]["revision"] != sha


def test_auto_sync_follows_a_push_and_history_is_kept_to_the_limit(
    store: ApplicationStore, repo: Repo
) -> None:
    store.add_application(_app(revisionHistoryLimit=2))
    wait_for(store, "web", converged)
    shas = []
    for tag in ("2.0.0", "3.0.0"):
        shas.append(repo.set_tag(tag))
        store.notify_push(REPO)
        wait_for(store, "web", lambda a, s=shas[-1]: converged(a) and a["status"]["sync"]["revision"] == s)
    app = store.get("web")
    assert [h["revision"] for h in app["status"]["history"]] == shas
    assert [h["id"] for h in app["status"]["history"]] == [1, 2]
    assert app["status"]["operationState"]["operation"]["initiatedBy"] == {"automated": True}


def test_sync_failed_fault_ends_failed_with_the_resource_then_sync_error_condition(
    store: ApplicationStore, repo: Repo
) -> None:
    app = _app()
    app["spec"]["syncPolicy"]["retry"] = {"limit": 1, "backoff": {"duration": "10ms"}}
    store.add_application(app)
    wait_for(store, "web", converged)
    store.set_fault("web", Fault("sync-failed", message="admission webhook denied the request"))
    sha = repo.set_tag("2.0.0")
    store.notify_push(REPO)
    app = wait_for(store, "web", lambda a: a["status"].get("operationState", {}).get("phase") == "Failed")
    state = app["status"]["operationState"]
    assert state["message"] == (
        "one or more objects failed to apply, reason: admission webhook denied the request (retried 1 times)."
    )
    assert state["operation"]["sync"]["revision"] == sha and state["syncResult"]["revision"] == sha
    assert state["syncResult"]["resources"][0]["status"] == "SyncFailed"
    app = wait_for(
        store, "web", lambda a: any(c["type"] == "SyncError" for c in a["status"].get("conditions", []))
    )
    condition = next(c for c in app["status"]["conditions"] if c["type"] == "SyncError")
    assert condition["message"].startswith(f"Failed last sync attempt to [{sha}]: one or more objects failed")
    assert app["status"]["sync"]["status"] == "OutOfSync" and "operation" not in app


def test_sync_error_fault_ends_error(store: ApplicationStore, repo: Repo) -> None:
    store.add_application(_app(automated=False), deployed=True)
    wait_for(store, "web", converged)
    store.set_fault(
        "web", Fault("sync-error", message="the server is currently unable to handle the request")
    )
    store.sync("web", None, {})
    app = wait_for(store, "web", lambda a: a["status"].get("operationState", {}).get("phase") == "Error")
    assert (
        app["status"]["operationState"]["message"] == "the server is currently unable to handle the request"
    )
    assert "history" not in app["status"]


def test_degraded_transient_and_lasting(store: ApplicationStore, repo: Repo) -> None:
    store.add_application(_app())
    wait_for(store, "web", converged)
    store.set_fault(
        "web", Fault("degraded", duration=0.3, message="Deployment has exceeded its progress deadline")
    )
    app = wait_for(store, "web", lambda a: a["status"]["health"]["status"] == "Degraded")
    assert app["status"]["health"]["message"] == "Deployment has exceeded its progress deadline"
    wait_for(store, "web", lambda a: a["status"]["health"]["status"] == "Healthy")
    store.set_fault("web", Fault("degraded"))
    wait_for(store, "web", lambda a: a["status"]["health"]["status"] == "Degraded")
    time.sleep(0.3)
    assert store.get("web")["status"]["health"]["status"] == "Degraded"


def test_never_healthy_stays_progressing(store: ApplicationStore, repo: Repo) -> None:
    store.add_application(_app(automated=False))
    store.set_fault("web", Fault("never-healthy"))
    wait_for(store, "web", lambda a: a["status"].get("sync", {}).get("status") == "OutOfSync")
    store.sync("web", None, {})
    app = wait_for(store, "web", lambda a: a["status"].get("operationState", {}).get("phase") == "Succeeded")
    time.sleep(0.3)
    app = store.get("web")
    assert app["status"]["health"]["status"] == "Progressing"
    assert app["status"]["sync"]["status"] == "Synced"


def test_slow_refresh_and_comparison_error(store: ApplicationStore, repo: Repo) -> None:
    store.add_application(_app(), deployed=True)
    wait_for(store, "web", converged)
    store.set_fault("web", Fault("slow-refresh", duration=0.4))
    sha = repo.set_tag("2.0.0")
    sub = store.subscribe()
    app = store.refresh("web", wait=0.1)  # the refresh is still pending
    assert app["status"]["sync"]["revision"] != sha
    assert app["metadata"]["annotations"]["argocd.argoproj.io/refresh"] == "normal"
    app = wait_for(store, "web", lambda a: a["status"]["sync"].get("revision") == sha)
    seen = []
    while (event := sub.next(0)) is not None:
        annotations = event[1]["metadata"].get("annotations") or {}
        seen.append(
            (event[1]["status"]["sync"].get("revision"), annotations.get("argocd.argoproj.io/refresh"))
        )
    sub.close()
    # the slow refresh is seen pending (annotated, old revision) before it resolves the new sha, and
    # the annotation goes in the same change that brings the new sha
    first_new = next(i for i, (revision, _) in enumerate(seen) if revision == sha)
    assert "normal" in [mark for _, mark in seen[:first_new]]
    assert all(mark is None for _, mark in seen[first_new:])
    store.set_fault(
        "web", Fault("comparison-error", message="rpc error: code = Unknown desc = kustomize failed")
    )
    app = wait_for(store, "web", lambda a: a["status"]["sync"]["status"] == "Unknown", timeout=5)
    condition = app["status"]["conditions"][0]
    assert condition["type"] == "ComparisonError"
    assert (
        condition["message"]
        == "Failed to load target state: rpc error: code = Unknown desc = kustomize failed"
    )


def test_unresolvable_revision_and_unknown_repo_are_comparison_errors(store: ApplicationStore) -> None:
    store.add_application(
        _app(
            "nobranch",
            automated=False,
            source={"repoURL": REPO, "path": "apps/web", "targetRevision": "nope"},
        )
    )
    store.add_application(
        _app("norepo", automated=False, source={"repoURL": "https://x.invalid/r.git", "path": "a"})
    )
    app = wait_for(store, "nobranch", lambda a: a["status"].get("sync", {}).get("status") == "Unknown")
    assert app["status"]["conditions"][0]["message"] == (
        "Failed to load target state: failed to generate manifest for source 1 of 1: "
        "rpc error: code = Unknown desc = unable to resolve 'nope' to a commit SHA"
    )
    app = wait_for(store, "norepo", lambda a: a["status"].get("sync", {}).get("status") == "Unknown")
    assert "repository not found" in app["status"]["conditions"][0]["message"]


def test_multi_source_revisions_everywhere(store: ApplicationStore, repo: Repo) -> None:
    app = _app("multi")
    del app["spec"]["source"]
    app["spec"]["sources"] = [
        {"repoURL": REPO, "path": "apps/web", "targetRevision": "main"},
        {"repoURL": REPO, "path": "apps/other", "targetRevision": "HEAD"},
    ]
    store.add_application(app)
    sha = git("--git-dir", str(repo.git_dir), "rev-parse", "main").strip()
    app = wait_for(store, "multi", converged)
    assert app["status"]["sync"]["revisions"] == [sha, sha] and "revision" not in app["status"]["sync"]
    state = app["status"]["operationState"]
    assert state["operation"]["sync"]["revisions"] == [sha, sha]
    assert state["syncResult"]["revisions"] == [sha, sha]
    assert app["status"]["history"][0]["revisions"] == [sha, sha]
    assert app["status"]["sourceTypes"] == ["Kustomize", "Directory"]
    assert {r["kind"] for r in app["status"]["resources"]} == {"Deployment", "ConfigMap"}


def test_sync_while_running_and_to_another_revision_on_auto_sync_are_refused(store: ApplicationStore) -> None:
    store.add_application(_app(automated=False))
    store.sync("web", None, {})
    with pytest.raises(StoreError) as info:
        store.sync("web", None, {})
    assert (info.value.status, info.value.message) == (400, "another operation is already in progress")
    store.add_application(_app("auto"))
    with pytest.raises(StoreError) as info:
        store.sync("auto", None, {"revision": "v9"})
    assert info.value.message == "Cannot sync to v9: auto-sync currently set to main"


def test_manual_sync_to_another_revision_is_allowed_when_automated_is_disabled(
    store: ApplicationStore, repo: Repo
) -> None:
    # Argo CD checks SyncPolicy.IsAutomatedSyncEnabled(): `automated: {enabled: false}` is manual.
    app = _app(automated=False)
    app["spec"]["syncPolicy"] = {"automated": {"enabled": False, "prune": True}}
    store.add_application(app)
    first = wait_for(store, "web", lambda a: a["status"].get("sync", {}).get("status") == "OutOfSync")
    older = first["status"]["sync"]["revision"]
    newer = repo.set_tag("2.0.0")
    assert store.refresh("web", wait=10)["status"]["sync"]["revision"] == newer
    assert "operation" not in store.get("web")  # no auto-sync either
    synced = store.sync("web", None, {"revision": older})
    assert synced["operation"]["sync"]["revision"] == older
    app = wait_for(store, "web", lambda a: a["status"].get("operationState", {}).get("phase") == "Succeeded")
    assert app["status"]["operationState"]["syncResult"]["revision"] == older
    assert [h["revision"] for h in app["status"]["history"]] == [older]


def test_deleted_app_sends_deleted_and_is_gone(store: ApplicationStore) -> None:
    store.add_application(_app())
    sub = store.subscribe()
    store.delete("web")
    events = []
    while (event := sub.next(0.2)) is not None:
        events.append(event[0])
    assert events[-1] == "DELETED"
    with pytest.raises(StoreError) as info:
        store.get("web")
    assert info.value.message == 'applications.argoproj.io "web" not found'


def test_an_empty_repository_is_a_comparison_error_and_the_controller_keeps_going(
    store: ApplicationStore, tmp_path: Path
) -> None:
    # `gitops-release sandbox --repositories org/config` creates a repository whose commit has an
    # empty tree; git archives it as zero blocks, which tarfile refuses. That once killed the thread.
    empty = tmp_path / "empty.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(empty))
    work = tmp_path / "empty-work"
    git("clone", "--quiet", str(empty), str(work))
    git("commit", "--quiet", "--allow-empty", "-m", "empty", cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    store.register_repo("https://git.example.com/org/empty.git", empty)
    store.add_application(
        _app("hollow", source={"repoURL": "https://git.example.com/org/empty.git", "path": "apps/web"})
    )
    app = wait_for(store, "hollow", lambda a: a["status"].get("sync", {}).get("status") == "Unknown")
    assert "apps/web" in app["status"]["conditions"][0]["message"]
    store.add_application(_app("web"))  # the controller still reconciles other apps
    wait_for(store, "web", converged)


# -- the real Applications of ../shared/contracts/argocd/, reconciled live ------------------------

CONTRACT_APPS = Path(__file__).resolve().parents[1] / "fixtures" / "corpus" / "argocd-contracts"
PLAIN_DEPLOY = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  template:\n"
    "    spec:\n      containers:\n        - name: {name}\n          image: ghcr.io/acme/{name}:1.0.0\n"
)
PLAIN_SERVICE = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n    - port: 80\n"


def _contract_app(file: str, status: str) -> str:
    """The object's YAML as Argo CD v3.5.1's tests hold it. ``kept``: applied as is (Argo CD's
    Application CRD declares no status subresource, so ``kubectl apply`` stores the stale status and
    the controller supersedes it); ``stripped``: the same object without ``status``."""
    text = (CONTRACT_APPS / file).read_text(encoding="utf-8")
    if status == "kept":
        return text
    obj = yaml.safe_load(text)
    del obj["status"]
    return yaml.safe_dump(obj)


def _wait_in(
    sandbox: ArgoCDSandbox, namespace: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        app = sandbox.store.get("my-app", namespace)
        if check(app):
            return app
        if time.monotonic() > deadline:
            raise AssertionError(f"not reconciled; last status: {app.get('status')}")
        time.sleep(0.01)


def _served(sandbox: ArgoCDSandbox, namespace: str) -> dict[str, Any]:
    """The app as a client reads it over HTTP (the response checked against the Swagger description)."""
    response = requests.get(
        f"{sandbox.url}/api/v1/applications/my-app",
        params={"appNamespace": namespace},
        headers={"Authorization": "Bearer argocd-sandbox-token"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("status", ["kept", "stripped"])
def test_the_contracts_fake_app_is_reconciled_from_a_bare_repo_at_its_path(
    argocd_sandbox: ArgoCDSandbox, tmp_path: Path, status: str
) -> None:
    # 02: spec.source {repoURL: https://github.com/argoproj/argocd-example-apps.git, path: some/path},
    # no targetRevision (HEAD), syncPolicy.automated {}, namespace fake-argocd-ns; the stored status
    # says Succeeded at aaaa…, a revision the repository does not hold.
    url = make_bare_remote(
        tmp_path,
        {
            "some/path/deploy.yaml": PLAIN_DEPLOY.format(name="guestbook-ui"),
            "some/path/service.yaml": PLAIN_SERVICE.format(name="guestbook-ui"),
            "elsewhere/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-this-app\n",
        },
    )
    git_dir = url_to_path(url)
    sha = git("--git-dir", str(git_dir), "rev-parse", "HEAD").strip()
    argocd_sandbox.store.register_repo("https://github.com/argoproj/argocd-example-apps.git", git_dir)
    key = argocd_sandbox.store.add_application(
        _contract_app("02-appcontroller-fakeApp.application.yaml", status)
    )
    assert key == "fake-argocd-ns/my-app"

    _wait_in(
        argocd_sandbox,
        "fake-argocd-ns",
        lambda a: converged(a) and a["status"]["sync"].get("revision") == sha,
    )
    app = _served(argocd_sandbox, "fake-argocd-ns")
    assert app["metadata"]["uid"] == "123"  # the object is the one applied, not a copy of it
    assert app["status"]["sync"]["status"] == "Synced" and app["status"]["sync"]["revision"] == sha
    assert app["status"]["health"]["status"] == "Healthy"
    state = app["status"]["operationState"]
    # the stale Succeeded operation at aaaa… did not count as an attempt at the resolved sha
    assert state["phase"] == "Succeeded" and state["operation"]["initiatedBy"] == {"automated": True}
    assert state["operation"]["sync"]["revision"] == sha and state["syncResult"]["revision"] == sha
    assert state["syncResult"]["source"] == app["spec"]["source"]
    assert [(h["id"], h["revision"]) for h in app["status"]["history"]] == [(0, sha)]
    assert sorted((r["kind"], r["namespace"], r["name"]) for r in app["status"]["resources"]) == [
        ("Deployment", "fake-dest-ns", "guestbook-ui"),
        ("Service", "fake-dest-ns", "guestbook-ui"),
    ]
    assert app["status"]["summary"]["images"] == ["ghcr.io/acme/guestbook-ui:1.0.0"]
    assert assess(observe(app), Expectation(revisions=(sha,))).verdict is Verdict.DONE
    assert argocd_sandbox.violations == []


@pytest.mark.parametrize("status", ["kept", "stripped"])
def test_the_contracts_multi_source_app_is_reconciled_with_a_revision_per_source(
    argocd_sandbox: ArgoCDSandbox, tmp_path: Path, status: str
) -> None:
    # 03: three sources in three repositories: some/path (with helm valueFiles from the ref
    # source), some/other/path, and the ref-only source `values_test` (no path).
    layout = {
        "https://github.com/argoproj/argocd-example-apps.git": {
            "some/path/deploy.yaml": PLAIN_DEPLOY.format(name="web")
        },
        "https://github.com/argoproj/argocd-example-apps-fake.git": {
            "some/other/path/service.yaml": PLAIN_SERVICE.format(name="web")
        },
        "https://github.com/argoproj/argocd-example-apps-fake-ref.git": {"values.yaml": "replicas: 1\n"},
    }
    shas = []
    for index, (repo_url, files) in enumerate(layout.items()):
        git_dir = url_to_path(make_bare_remote(tmp_path / f"r{index}", files))
        shas.append(git("--git-dir", str(git_dir), "rev-parse", "HEAD").strip())
        argocd_sandbox.store.register_repo(repo_url, git_dir)
    assert len(set(shas)) == 3  # three repositories, three commits: each revision is its own source's
    argocd_sandbox.store.add_application(
        _contract_app("03-appcontroller-fakeMultiSourceApp.application.yaml", status)
    )

    _wait_in(
        argocd_sandbox,
        "fake-argocd-ns",
        lambda a: converged(a) and a["status"]["sync"].get("revisions") == shas,
    )
    app = _served(argocd_sandbox, "fake-argocd-ns")
    assert app["status"]["sync"]["status"] == "Synced" and "revision" not in app["status"]["sync"]
    assert app["status"]["sync"]["revisions"] == shas
    assert app["status"]["sync"]["comparedTo"]["sources"] == app["spec"]["sources"]
    assert app["status"]["health"]["status"] == "Healthy"
    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded"
    assert state["operation"]["sync"]["revisions"] == shas
    assert state["syncResult"]["revisions"] == shas and "revision" not in state["syncResult"]
    assert state["syncResult"]["sources"] == app["spec"]["sources"]
    assert [(h["id"], h["revisions"]) for h in app["status"]["history"]] == [(0, shas)]
    assert sorted((r["kind"], r["name"]) for r in app["status"]["resources"]) == [
        ("Deployment", "web"),
        ("Service", "web"),
    ]
    assert len(app["status"]["sourceTypes"]) == 3
    assert assess(observe(app), Expectation(revisions=tuple(shas))).verdict is Verdict.DONE
    assert argocd_sandbox.violations == []
