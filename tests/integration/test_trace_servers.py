"""trace with servers: the Argo CD sandbox (drift: an app synced to an older revision, OutOfSync,
a lying history entry), the GitHub sandbox's deployments (a gap), and servers that answer 401,
stall or send garbage (a note and a ``skipped`` finding, never a crash or a hang; the rest of the
answer is still there). The history is built by the real commands (test_trace_history_real)."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitops_release.core.trace_model import TraceResult
from gitops_release.sandbox.argocd import ArgoCDSandbox
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.argocd_http import Handler, ScriptedServer
from tests.fixtures.git_remotes import git
from tests.fixtures.github_sandbox import sandbox_api
from tests.integration.test_promote_overlay import REPO, Repo, config_files
from tests.integration.test_trace_history_real import DIGEST_3, EMPTY_DB, IMAGE, History, env_of, run_trace

REPO_URL = f"https://github.com/{REPO}.git"
TOKEN = "sandbox-token"


def application(
    name: str, env: str, *, sync: str, revision: str, history: list[dict[str, Any]], app: str = "api"
) -> dict:
    """An Application as Argo CD serves it, deploying the env overlay of apps/<app> (static: the
    sandbox serves it as given, so the test decides its sync state)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": REPO_URL, "path": f"apps/{app}/overlays/{env}", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": env},
        },
        "status": {
            "sync": {"status": sync, "revision": revision},
            "health": {"status": "Healthy"},
            "history": history,
        },
    }


def entry(id: int, revision: str, at: str) -> dict[str, Any]:
    return {
        "id": id,
        "revision": revision,
        "deployedAt": at,
        "source": {"repoURL": REPO_URL, "path": "apps/api/overlays/x", "targetRevision": "main"},
    }


def head_of(history: History) -> str:
    return git("rev-parse", "HEAD", cwd=history.clone()).strip()


def dispatched(github_sandbox: GitHubSandbox, tmp_path: Path, apps: tuple[str, ...] = ("api",)) -> History:
    """A config repo of ``apps`` (apps/*/overlays) with sha-3 dispatched to dev."""
    files = config_files(apps=apps)
    files["db/db.json"] = EMPTY_DB
    history = History(Repo(github_sandbox, tmp_path, files))
    history.dispatch("sha-3", DIGEST_3)
    return history


def serve(argocd_sandbox: ArgoCDSandbox, *applications: dict) -> None:
    """Applications the sandbox serves as given (static: the test decides their sync state)."""
    for app in applications:
        argocd_sandbox.store.add_application(app, static=True)


@pytest.fixture
def promoted(github_sandbox: GitHubSandbox, tmp_path: Path) -> tuple[History, str, str]:
    """sha-3 dispatched to dev, then promoted to stage by a merged PR: (history, before, merge)."""
    history = dispatched(github_sandbox, tmp_path)
    before = head_of(history)
    merge = history.merge(history.promote_pr("dev", "stage"))
    return history, before, merge


def test_argo_cd_drift_out_of_sync_and_a_bad_history_entry(
    promoted: tuple[History, str, str], argocd_sandbox: ArgoCDSandbox, argocd_token: str
) -> None:
    history, before, merge = promoted
    # prod: an app of another repository is not this config repo's prod.
    other = application("other-prod", "prod", sync="Synced", revision=merge, history=[])
    other["spec"]["source"]["repoURL"] = "https://github.com/org/elsewhere.git"
    serve(
        argocd_sandbox,
        # stage: the overlay holds sha-3 since the merge, but Argo CD is still synced at the commit before.
        application(
            "api-stage",
            "stage",
            sync="Synced",
            revision=before,
            history=[entry(1, before, "2026-01-01T00:00:00Z"), entry(2, "not-a-sha", "2026-01-02T00:00:00Z")],
        ),
        # dev: synced to the commit that holds sha-3, but OutOfSync (someone changed the cluster).
        application(
            "api-dev",
            "dev",
            sync="OutOfSync",
            revision=merge,
            history=[entry(1, merge, "2026-01-03T00:00:00Z")],
        ),
        other,
    )

    result = run_trace(
        history.clone(), f"{IMAGE}:sha-3", argocd_server=argocd_sandbox.url, ARGOCD_TOKEN=argocd_token
    )

    dev, stage, prod = (env_of(result, e) for e in ("dev", "stage", "prod"))
    assert (dev.argo_app, stage.argo_app, prod.argo_app) == ("api-dev", "api-stage", None)
    assert dev.present and dev.live is True
    assert stage.present and stage.live is False
    assert prod.live is None
    drift = {f.environment: f.message for f in result.findings if f.kind == "drift"}
    assert set(drift) == {"dev", "stage"}
    assert "api-stage" in drift["stage"] and before[:12] in drift["stage"]
    assert "OutOfSync" in drift["dev"]
    skipped = " ".join(f.message for f in result.findings if f.kind == "skipped")
    assert "api-stage: 1 history entry without an id or a commit sha revision left out" in skipped


def test_live_and_drift_come_from_the_application_of_the_image_s_app(
    github_sandbox: GitHubSandbox, tmp_path: Path, argocd_sandbox: ArgoCDSandbox, argocd_token: str
) -> None:
    # apps/*/overlays with two apps: one Application per app and env. api's sha-3 is traced;
    # web's stage Application (its name sorts first) is OutOfSync at an older commit: not api's.
    history = dispatched(github_sandbox, tmp_path, ("api", "web"))
    before = head_of(history)
    merge = history.merge(history.promote_pr("dev", "stage"))
    serve(
        argocd_sandbox,
        application(
            "api-stage",
            "stage",
            sync="Synced",
            revision=merge,
            history=[entry(1, merge, "2026-01-03T00:00:00Z")],
        ),
        application(
            "aaa-web-stage",
            "stage",
            sync="OutOfSync",
            revision=before,
            history=[entry(1, before, "2026-01-01T00:00:00Z")],
            app="web",
        ),
    )

    result = run_trace(
        history.clone(), f"{IMAGE}:sha-3", argocd_server=argocd_sandbox.url, ARGOCD_TOKEN=argocd_token
    )

    stage = env_of(result, "stage")
    assert stage.present and (stage.argo_app, stage.live) == ("api-stage", True)
    assert not [f for f in result.findings if f.kind == "drift"], result.findings


def test_github_deployments_and_the_gap_of_an_env_without_a_status(
    promoted: tuple[History, str, str],
) -> None:
    history, _before, merge = promoted
    sandbox = history.sandbox
    created = sandbox_api(
        sandbox,
        "POST",
        f"/repos/{REPO}/deployments",
        {"ref": merge, "environment": "stage", "auto_merge": False, "required_contexts": []},
    )
    sandbox_api(sandbox, "POST", f"/repos/{REPO}/deployments/{created['id']}/statuses", {"state": "success"})
    # prod gets sha-3 by a merged promotion PR too, and nothing reports a deployment there.
    to_prod = history.merge(history.promote_pr("stage", "prod"))

    result = run_trace(
        history.clone(),
        f"{IMAGE}:sha-3",
        GITHUB_TOKEN=TOKEN,
        GITHUB_API_URL=sandbox.url,
        GITHUB_REPOSITORY=REPO,
    )

    stage = env_of(result, "stage")
    [deployment] = stage.deployments
    assert deployment.id == created["id"] and deployment.state == "success" and deployment.sha == merge
    gaps = {f.environment: f.message for f in result.findings if f.kind == "gap"}
    # A promotion with no deployment status is a gap; dev got sha-3 by update-db's write-through
    # (a dispatch, no promotion), which is none.
    assert list(gaps) == ["prod"] and to_prod[:12] in gaps["prod"]


def test_with_a_token_a_squash_merged_promotion_is_by_who_merged_it(
    github_sandbox: GitHubSandbox, tmp_path: Path
) -> None:
    # A squash merge's commit carries the PR author's name (promote-overlay's bot): the merger is
    # only in GitHub's pull request (merged_by), which trace reads when it has a token.
    history = dispatched(github_sandbox, tmp_path)
    number = history.promote_pr("dev", "stage")
    github_sandbox.add_token("carol-token", login="carol")
    [pull] = [p for p in github_sandbox.pulls(REPO) if p["number"] == number]
    work = history.clone()
    git("fetch", "-q", "origin", pull["head"]["ref"], cwd=work)
    body = {
        "merge_method": "squash",
        "commit_message": git("log", "-1", "--format=%b", "FETCH_HEAD", cwd=work),
    }
    request = urllib.request.Request(
        f"{github_sandbox.url}/repos/{REPO}/pulls/{number}/merge",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={
            "Authorization": "Bearer carol-token",
            "Accept": "application/vnd.github+json",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["merged"] is True
    assert pull["user"]["login"] != "carol"

    without = env_of(run_trace(history.clone(), f"{IMAGE}:sha-3"), "stage")
    result = run_trace(
        history.clone(),
        f"{IMAGE}:sha-3",
        GITHUB_TOKEN=TOKEN,
        GITHUB_API_URL=github_sandbox.url,
        GITHUB_REPOSITORY=REPO,
    )

    [stay] = env_of(result, "stage").stays
    assert (stay.arrival.kind, stay.arrival.pull_request, stay.arrival.by) == ("promote", number, "carol")
    assert without.stays[0].arrival.by not in (None, "carol")  # the landing commit's author


# -- servers that fail ---------------------------------------------------------------------------


@pytest.fixture
def release_stall() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # the stalled handler threads end with the test


def _unauthorized(request: Handler) -> None:
    request.send_json(401, {"error": "invalid session: token is invalid", "code": 16, "message": "no"})


def _garbage(request: Handler) -> None:
    payload = b"<html>not the API</html>"
    request.send_response(200)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(payload)))
    request.end_headers()
    request.wfile.write(payload)


def _lying(request: Handler) -> None:
    # JSON, but not of the documented shape: items is a string, deployments a dict.
    request.send_json(200, {"items": "nope", "id": "x"} if "applications" in request.path else {"a": 1})


@pytest.mark.parametrize("fault", ["401", "garbage", "lying", "stall"])
def test_a_failing_server_is_a_note_and_the_answer_is_still_given(
    promoted: tuple[History, str, str], release_stall: threading.Event, fault: str
) -> None:
    history, *_ = promoted

    def stall(request: Handler) -> None:
        release_stall.wait(30)

    handler = {"401": _unauthorized, "garbage": _garbage, "lying": _lying, "stall": stall}[fault]
    with ScriptedServer(handler) as server:
        result: TraceResult = run_trace(
            history.clone(),
            f"{IMAGE}:sha-3",
            argocd_server=server.url,
            server_timeout="1s",
            ARGOCD_TOKEN="argocd-token-value",
            GITHUB_TOKEN="github-token-value",
            GITHUB_API_URL=server.url,
            GITHUB_REPOSITORY=REPO,
        )
        release_stall.set()

    assert result.found and env_of(result, "stage").present and env_of(result, "dev").present
    assert env_of(result, "stage").live is None  # unknown, not "not there"
    skipped = [f.message for f in result.findings if f.kind == "skipped"]
    assert any(m.startswith("Argo CD not read") for m in skipped), skipped
    assert any(m.startswith("GitHub deployments to dev not read") for m in skipped), skipped
    assert not [f for f in result.findings if f.kind == "gap"]  # unread is not "no deployment"
    text = " ".join(skipped)
    assert "argocd-token-value" not in text and "github-token-value" not in text


def test_without_servers_the_answer_says_what_was_not_read(promoted: tuple[History, str, str]) -> None:
    history, *_ = promoted

    result = run_trace(history.clone(), "sha-3")

    notes = " ".join(result.notes)
    assert "Argo CD not read: no argocd-server" in notes
    assert "GitHub deployments not read: no github-token" in notes
    assert all(env.live is None for env in result.environments)


def test_an_unknown_env_is_refused(promoted: tuple[History, str, str]) -> None:
    from gitops_release.errors import InputError

    history, *_ = promoted
    with pytest.raises(InputError, match="'qa' is not an environment of the policy"):
        run_trace(history.clone(), "sha-3", env="dev,qa")
