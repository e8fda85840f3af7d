"""await-argocd-sync inputs through the command against the Argo CD sandbox (issue 9 completeness
review, gaps 5, 7 and 8): ``refresh`` (none / normal / hard), the body of the sync ``sync: true``
sends, a multi-source Application, and username/password login."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_release.commands import await_argocd_sync as aas
from gitops_release.commands.base import Context
from gitops_release.errors import ReleaseError
from gitops_release.runtime import Console, InputReader
from gitops_release.sandbox.argocd import ArgoCDSandbox
from tests.fixtures.git_remotes import clone_of, git, make_bare_remote, url_to_path
from tests.integration import test_await_argocd_sync as base
from tests.integration.test_await_argocd_sync import REPO, Config, Run, application, converged_at, wait_for

# the fixtures of the main await-argocd-sync integration tests
config, web, await_sync = base.config, base.web, base.await_sync

OTHER = "https://git.example.com/org/settings.git"


def app_gets(sandbox: ArgoCDSandbox, name: str = "web") -> list:
    return [r for r in sandbox.requests if r.method == "GET" and r.path == f"/api/v1/applications/{name}"]


# -- refresh -------------------------------------------------------------------------------------


def test_refresh_none_sends_no_refresh(
    argocd_sandbox: ArgoCDSandbox, config: Config, web: str, await_sync: Callable[..., Run]
) -> None:
    got = await_sync(applications=web, refresh="none")
    assert got.error is None, got.log
    gets = app_gets(argocd_sandbox)
    assert gets and all("refresh" not in r.query for r in argocd_sandbox.requests)


@pytest.mark.parametrize("refresh", [None, "normal", "hard"], ids=["default", "normal", "hard"])
def test_refresh_at_start_asks_argocd_to_compare_the_new_commit(
    argocd_sandbox: ArgoCDSandbox,
    config: Config,
    web: str,
    await_sync: Callable[..., Run],
    refresh: str | None,
) -> None:
    sha = config.set_tag("2.0.0")  # pushed, no webhook: Argo CD sees it only when asked to refresh
    values = {} if refresh is None else {"refresh": refresh}
    got = await_sync(applications=web, timeout="10s", **values)
    assert got.error is None, got.log
    assert got.outputs.as_dict()["revision"] == sha
    refreshes = [r.query.get("refresh") for r in argocd_sandbox.requests if "refresh" in r.query]
    # the first request of the wait is the refreshing GET, and it is the only one
    assert app_gets(argocd_sandbox)[0].query == {"refresh": refresh or "normal"}
    assert refreshes == [refresh or "normal"]


# -- sync: true ----------------------------------------------------------------------------------


@pytest.fixture
def manual_web(argocd_sandbox: ArgoCDSandbox, config: Config) -> str:
    """A manual-sync app synced once at the checkout's HEAD, then a new commit pushed: OutOfSync
    once Argo CD compares it, and nothing moves until someone syncs."""
    argocd_sandbox.store.add_application(application("web", automated=False))
    wait_for(
        argocd_sandbox, "web", lambda a: a.get("status", {}).get("sync", {}).get("status") == "OutOfSync"
    )
    argocd_sandbox.store.sync("web", None, {})
    wait_for(argocd_sandbox, "web", converged_at(config.head()))
    return "web"


def syncs(sandbox: ArgoCDSandbox) -> list:
    return [r for r in sandbox.requests if r.method == "POST" and r.path == "/api/v1/applications/web/sync"]


def test_sync_true_sends_prune_sync_options_and_the_expected_revision(
    argocd_sandbox: ArgoCDSandbox, config: Config, manual_web: str, await_sync: Callable[..., Run]
) -> None:
    sha = config.set_tag("2.0.0")
    got = await_sync(
        applications=manual_web,
        sync="true",
        prune="true",
        sync_options="ServerSideApply=true\nPruneLast=true",
    )
    assert got.error is None, got.log
    (request,) = syncs(argocd_sandbox)
    assert request.body == {
        "name": "web",
        "prune": True,
        "revision": sha,
        "syncOptions": {"items": ["ServerSideApply=true", "PruneLast=true"]},
    }
    # Argo CD ran that operation as asked, and the wait was for it.
    ran = argocd_sandbox.store.get("web")["status"]["operationState"]["operation"]["sync"]
    assert (ran["prune"], ran["syncOptions"]) == (True, ["ServerSideApply=true", "PruneLast=true"])
    assert got.evidence["applications"][0]["operation"]["revisions"] == [sha]


def test_sync_true_sends_the_revision_input_as_given(
    argocd_sandbox: ArgoCDSandbox, config: Config, manual_web: str, await_sync: Callable[..., Run]
) -> None:
    sha = config.set_tag("2.0.0")
    # The branch, not a sha: Argo CD resolves it; the wait still wants the checkout's commit.
    got = await_sync(applications=manual_web, sync="true", revision="main")
    assert got.error is None, got.log
    (request,) = syncs(argocd_sandbox)
    assert request.body == {"name": "web", "prune": False, "revision": "main"}
    app = got.evidence["applications"][0]
    assert app["revision"]["synced"] == [sha] and app["operation"]["revisions"] == [sha]


# -- a multi-source Application ------------------------------------------------------------------


def configmap(level: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  level: '{level}'\n"


class Settings:
    """A second repository (plain manifests) the multi-source app takes its second source from."""

    def __init__(self, root: Path, sandbox: ArgoCDSandbox) -> None:
        tree = {"settings/configmap.yaml": configmap("1")}
        self.url = make_bare_remote(root / "org", tree, name="settings.git")
        self.checkout = clone_of(self.url, root / "checkout")
        sandbox.store.register_repo(OTHER, url_to_path(self.url))

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.checkout).strip()

    def set_level(self, level: str) -> str:
        (self.checkout / "settings/configmap.yaml").write_text(configmap(level), encoding="utf-8")
        git("commit", "--quiet", "-am", f"level {level}", cwd=self.checkout)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.checkout)
        return self.head()


def converged_at_revisions(revisions: list[str]) -> Callable[[dict], bool]:
    def check(app: dict) -> bool:
        status = app.get("status", {})
        return (
            status.get("sync", {}).get("status") == "Synced"
            and status.get("sync", {}).get("revisions") == revisions
            and status.get("health", {}).get("status") == "Healthy"
            and "operation" not in app
        )

    return check


@pytest.fixture
def settings(tmp_path: Path, argocd_sandbox: ArgoCDSandbox, config: Config) -> Iterator[Settings]:
    repo = Settings(tmp_path / "settings", argocd_sandbox)
    app = application("multi")
    del app["spec"]["source"]
    app["spec"]["sources"] = [
        {"repoURL": REPO, "path": "apps/web", "targetRevision": "main"},
        {"repoURL": OTHER, "path": "settings", "targetRevision": "main"},
    ]
    argocd_sandbox.store.add_application(app)
    wait_for(argocd_sandbox, "multi", converged_at_revisions([config.head(), repo.head()]))
    yield repo


def test_multi_source_default_expected_revision_checks_the_checkouts_source(
    argocd_sandbox: ArgoCDSandbox, config: Config, settings: Settings, await_sync: Callable[..., Run]
) -> None:
    sha = config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    # HEAD of repo-path is a commit of the config repository: it says nothing about the settings
    # source, which stays at its own commit (required there, the wait could never end).
    got = await_sync(applications="multi", timeout="10s")
    assert got.error is None, got.log
    app = got.evidence["applications"][0]
    assert app["revision"]["expected"] == [sha, None]
    assert app["revision"]["synced"] == [sha, settings.head()] and app["revision"]["matches"] is True
    assert got.outputs.as_dict()["revision"] == f"{sha},{settings.head()}"


def test_multi_source_one_expected_revision_per_source(
    argocd_sandbox: ArgoCDSandbox, config: Config, settings: Settings, await_sync: Callable[..., Run]
) -> None:
    head, old = config.head(), settings.head()
    level = settings.set_level("2")  # pushed; Argo CD learns of it once the wait has started
    got = await_sync(
        applications="multi",
        expected_revision=f"{head}\n{level}",
        refresh="none",
        on_log=("(expected", lambda: argocd_sandbox.store.notify_push(OTHER)),
        timeout="10s",
    )
    assert got.error is None, got.log
    app = got.evidence["applications"][0]
    assert app["revision"]["expected"] == [head, level] and app["revision"]["synced"] == [head, level]
    # The first state the wait saw was the config source at its commit and settings behind it.
    assert app["transitions"][0]["revision"] == f"{head},{old}"
    # "*" skips a source: only the settings commit is checked.
    got = await_sync(applications="multi", expected_revision=f"*\n{level[:7]}", refresh="none")
    assert got.error is None, got.log
    assert got.evidence["applications"][0]["revision"]["expected"] == [None, level[:7]]


# -- username / password -------------------------------------------------------------------------

PASSWORD = "pw-Zq8-deployer-0192837465"


def run_command(tmp_path: Path, values: dict[str, str]) -> tuple[ReleaseError | None, str, dict[str, Any]]:
    """The command with debug logging on (so debug lines are checked for secrets too): the error,
    the log and the evidence."""
    env = {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in values.items()}
    err = io.StringIO()
    console = Console(env={"RUNNER_DEBUG": "1"}, out=io.StringIO(), err=err)
    ctx = Context(console=console, env={}, workdir=tmp_path)
    error: ReleaseError | None = None
    try:
        aas.run(aas.Inputs.from_reader(InputReader(env=env)), ctx)
    except ReleaseError as exc:
        error = exc
    evidence = json.loads((tmp_path / values["evidence_path"]).read_text(encoding="utf-8"))
    return error, err.getvalue(), evidence


def test_username_and_password_log_in_and_no_credential_reaches_the_log_or_evidence(
    tmp_path: Path,
    argocd_sandbox: ArgoCDSandbox,
    config: Config,
    web: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argocd_sandbox.add_user("deployer", PASSWORD, allow=("applications, get, default/*",))
    issued: list[str] = []
    login = argocd_sandbox.sessions.login

    def recording_login(body: Any) -> str:
        token = login(body)
        issued.append(token)
        return token

    monkeypatch.setattr(argocd_sandbox.sessions, "login", recording_login)
    sha = config.set_tag("2.0.0")
    argocd_sandbox.store.notify_push(REPO)
    values = {
        "server": argocd_sandbox.url,
        "username": "deployer",
        "password": PASSWORD,
        "applications": web,
        "repo_path": str(config.checkout),
        "timeout": "20s",
        "poll_interval": "200ms",
        "evidence_path": "evidence.json",
    }
    error, log, evidence = run_command(tmp_path, values)
    assert error is None, log
    assert evidence["applications"][0]["revision"]["synced"] == [sha]
    (token,) = issued  # one login, its session token used by the GETs and by the watch thread
    requests = argocd_sandbox.requests
    assert [(r.method, r.path) for r in requests[:1]] == [("POST", "/api/v1/session")]
    assert all(r.status == 200 for r in requests) and argocd_sandbox.stream_connections >= 1
    assert all(r.header("Authorization") == "Bearer [redacted]" for r in requests[1:])
    for secret in (PASSWORD, token, token.split(".")[2]):
        assert secret not in log
        assert secret not in json.dumps(evidence)
