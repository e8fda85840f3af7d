"""The Argo CD emulator end to end over HTTP: the real corpus Applications served as static apps
and validated (GET, list, watch), a real app synced from a bare git repository and rendered with
kustomize seen through the NDJSON and SSE watch, and `gitops-release sandbox` serving it."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from gitops_release.commands import sandbox as command
from gitops_release.commands.base import Context
from gitops_release.runtime import Console, InputReader
from gitops_release.sandbox.argocd import ArgoCDSandbox, Timing
from gitops_release.sandbox.argocd.stream import go_json
from tests.fixtures.git_remotes import clone_of, git, make_bare_remote, url_to_path
from tests.fixtures.kustomize_base import base_files

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fixtures" / "corpus" / "argocd-app"
CONTRACTS = ROOT / "fixtures" / "corpus" / "argocd-contracts"  # ../shared/contracts/argocd's Applications
AUTH = {"Authorization": "Bearer argocd-sandbox-token"}
REPO = "https://github.com/org/config.git"


def corpus_applications() -> list[tuple[str, dict[str, Any]]]:
    """Every Application of the corpus and the contracts; documents without a name (the
    gitops-engine minimal ones) are named after their file, clashing names get the file's."""
    found: list[tuple[str, dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    files = sorted(CORPUS.glob("*.yaml")) + sorted(CONTRACTS.glob("*.yaml"))
    for path in files:
        for index, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            if isinstance(doc, dict):
                found.append((f"{path.name}#{index}", doc))
    found.append(
        ("roadie", json.loads((CORPUS / "roadie-applications-test-app.api-response.json").read_text()))
    )
    for label, doc in found:
        meta = doc.setdefault("metadata", {})
        meta.setdefault("name", label.split(".")[0].lower())
        key = (meta.get("namespace") or "argocd", meta["name"])
        if key in seen:
            meta["name"] = f"{meta['name']}-{len(seen)}"
        seen.add((meta.get("namespace") or "argocd", meta["name"]))
    return found


def test_every_corpus_application_is_served_and_valid(argocd_sandbox: ArgoCDSandbox) -> None:
    apps = corpus_applications()
    assert len(apps) >= 18
    for _, app in apps:
        argocd_sandbox.store.add_application(app, static=True)
    listed = requests.get(f"{argocd_sandbox.url}/api/v1/applications", headers=AUTH, timeout=30)
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == len(apps)
    for label, app in apps:
        meta = app["metadata"]
        params = {"appNamespace": meta["namespace"]} if meta.get("namespace") else {}
        for suffix in ("", "/resource-tree", "/managed-resources"):
            response = requests.get(
                f"{argocd_sandbox.url}/api/v1/applications/{meta['name']}{suffix}",
                params=params,
                headers=AUTH,
                timeout=30,
            )
            assert response.status_code == 200, (label, suffix, response.text[:300])
        # Timestamps leave as RFC 3339 strings, as metav1.Time marshals.
        assert (
            json.loads(go_json(app))
            == requests.get(
                f"{argocd_sandbox.url}/api/v1/applications/{meta['name']}",
                params=params,
                headers=AUTH,
                timeout=30,
            ).json()
        )
    with requests.get(
        f"{argocd_sandbox.url}/api/v1/stream/applications", headers=AUTH, stream=True, timeout=30
    ) as watch:
        lines = watch.iter_lines()
        added = [json.loads(next(lines))["result"] for _ in apps]
    assert {r["type"] for r in added} == {"ADDED"}
    assert argocd_sandbox.violations == []  # checked again by the fixture; here it names the test


class ConfigRepo:
    def __init__(self, root: Path) -> None:
        files = base_files("base", "web", {"web": "ghcr.io/acme/web:0.0.1"})
        files["apps/web/kustomization.yaml"] = self.kustomization("1.0.0")
        self.url = make_bare_remote(root, files)
        self.git_dir = url_to_path(self.url)
        self.work = clone_of(self.url, root / "work")

    @staticmethod
    def kustomization(tag: str) -> str:
        return f"resources:\n  - ../../base\nimages:\n  - name: ghcr.io/acme/web\n    newTag: '{tag}'\n"

    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work).strip()

    def release(self, tag: str) -> str:
        (self.work / "apps/web/kustomization.yaml").write_text(self.kustomization(tag), encoding="utf-8")
        git("commit", "--quiet", "-am", f"web {tag}", cwd=self.work)
        git("push", "--quiet", "origin", "HEAD:main", cwd=self.work)
        return self.head()


def web_application() -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "argocd", "labels": {"team": "a"}},
        "spec": {
            "project": "default",
            "source": {"repoURL": REPO, "path": "apps/web", "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "syncPolicy": {"automated": {"prune": True}},
        },
    }


def done_at(app: dict[str, Any], sha: str) -> bool:
    status = app.get("status") or {}
    return (
        (status.get("sync") or {}).get("status") == "Synced"
        and (status.get("sync") or {}).get("revision") == sha
        and (status.get("health") or {}).get("status") == "Healthy"
        and (status.get("operationState") or {}).get("phase") == "Succeeded"
    )


def watch_until(sandbox: ArgoCDSandbox, sha: str, *, sse: bool) -> list[dict[str, Any]]:
    headers = {**AUTH, "Accept": "text/event-stream"} if sse else AUTH
    seen: list[dict[str, Any]] = []
    # A guard against a hang (SSE keep-alives keep an idle stream alive), not a timing assertion.
    give_up = time.monotonic() + 120
    with requests.get(
        f"{sandbox.url}/api/v1/stream/applications",
        params={"name": "web"},
        headers=headers,
        stream=True,
        timeout=30,
    ) as response:
        assert response.headers["Content-Type"] == ("text/event-stream" if sse else "application/json")
        for line in response.iter_lines():
            assert time.monotonic() < give_up, f"not done after {len(seen)} messages: {seen[-1:]}"
            if sse:
                if not line.startswith(b"data: "):
                    assert line in (b"", b":")  # blank lines between frames, keep-alive comments
                    continue
                assert line.endswith(b" ")  # the space argoproj/pkg writes before the blank line
                line = line[len(b"data: ") :]
            result = json.loads(line)["result"]
            seen.append(result)
            if done_at(result["application"], sha):
                return seen
    raise AssertionError("the watch ended before the app was done")


@pytest.fixture
def config_repo(tmp_path: Path) -> ConfigRepo:
    return ConfigRepo(tmp_path)


@pytest.mark.parametrize("sse", [False, True], ids=["ndjson", "sse"])
def test_a_pushed_release_is_synced_and_watched_to_healthy(
    argocd_sandbox: ArgoCDSandbox, config_repo: ConfigRepo, sse: bool
) -> None:
    argocd_sandbox.store.register_repo(REPO, config_repo.git_dir)
    argocd_sandbox.store.add_application(web_application())
    first = watch_until(argocd_sandbox, config_repo.head(), sse=sse)
    assert first[0]["type"] == "ADDED"
    assert done_at(first[-1]["application"], config_repo.head())
    sha = config_repo.release("1.1.0")
    refreshed = requests.get(
        f"{argocd_sandbox.url}/api/v1/applications/web",
        params={"refresh": "normal"},
        headers=AUTH,
        timeout=30,
    )
    assert refreshed.status_code == 200
    # GET ?refresh answers once the controller has compared the new commit.
    assert refreshed.json()["status"]["sync"]["revision"] == sha
    second = watch_until(argocd_sandbox, sha, sse=sse)
    app = second[-1]["application"]
    assert "ghcr.io/acme/web:1.1.0" in app["status"]["summary"]["images"]
    assert app["status"]["operationState"]["syncResult"]["revision"] == sha
    assert argocd_sandbox.stream_connections == 2


def test_a_stream_dropped_mid_wait_is_resumed_by_a_new_watch(
    argocd_sandbox: ArgoCDSandbox, config_repo: ConfigRepo
) -> None:
    argocd_sandbox.store.register_repo(REPO, config_repo.git_dir)
    argocd_sandbox.store.add_application(web_application())
    argocd_sandbox.drop_streams(after_events=1)
    with requests.get(
        f"{argocd_sandbox.url}/api/v1/stream/applications", headers=AUTH, stream=True, timeout=30
    ) as response:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            for _ in response.iter_lines():
                pass
    assert done_at(
        watch_until(argocd_sandbox, config_repo.head(), sse=False)[-1]["application"], config_repo.head()
    )


def test_sync_errors_from_the_store_keep_argocd_status_and_words(config_repo: ConfigRepo) -> None:
    # A sync that takes a minute: the second request surely finds the first operation running.
    with ArgoCDSandbox(timing=Timing(reconcile_interval=0.02, sync_duration=60.0)) as sandbox:
        sandbox.store.register_repo(REPO, config_repo.git_dir)
        manual = web_application()
        del manual["spec"]["syncPolicy"]
        sandbox.store.add_application(manual)
        first = requests.post(
            f"{sandbox.url}/api/v1/applications/web/sync", json={}, headers=AUTH, timeout=30
        )
        assert first.status_code == 200, first.text
        assert first.json()["operation"]["sync"] is not None
        second = requests.post(
            f"{sandbox.url}/api/v1/applications/web/sync", json={}, headers=AUTH, timeout=30
        )
        body = second.json()
        assert (second.status_code, body["code"]) == (400, 9)
        assert "another operation is already in progress" in body["message"]
        assert body["error"] == body["message"]
        assert sandbox.violations == []


def read(**flags: str) -> command.Inputs:
    return command.Inputs.from_reader(InputReader(env={}, flags=flags))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, io.StringIO]]:
    app_file = tmp_path / "web.yaml"
    app = web_application()
    # A branch the new (empty) sandbox repository does not have yet: the test pushes it.
    app["spec"]["source"]["targetRevision"] = "release"
    app_file.write_text(yaml.safe_dump(app), encoding="utf-8")
    err = io.StringIO()
    ctx = Context(console=Console(env={}, out=io.StringIO(), err=err), env={}, workdir=tmp_path)
    inputs = read(
        root=str(tmp_path / "sbx"),
        repositories="org/config",
        **{"argocd-applications": str(app_file), "argocd-token": "local-argocd"},
    )
    stop = threading.Event()
    result: dict[str, command.Outputs] = {}
    thread = threading.Thread(target=lambda: result.setdefault("out", command.run(inputs, ctx, stop=stop)))
    thread.start()
    try:
        url = ""
        for _ in range(3000):  # wait for the URL line (bounded loop, no timing assertion)
            lines = [line for line in err.getvalue().splitlines() if line.startswith("Argo CD API sandbox: ")]
            if lines:
                url = lines[0].split(": ", 1)[1]
                break
            if not thread.is_alive():
                break
            threading.Event().wait(0.01)
        yield url, err
    finally:
        stop.set()
        thread.join()
    outputs = result["out"]
    assert outputs.argocd_url == url
    assert outputs.argocd_applications == ["argocd/web"]
    assert outputs.argocd_violations == 0


def test_sandbox_command_serves_argocd_beside_github_from_its_repositories(
    served: tuple[str, io.StringIO], tmp_path: Path
) -> None:
    url, err = served
    assert url.startswith("http://127.0.0.1:")
    log = err.getvalue()
    assert "argocd token: local-argocd" in log
    assert "argocd repo https://github.com/org/config.git -> sandbox repository org/config" in log
    github_url = next(
        line.split(": ", 1)[1] for line in log.splitlines() if line.startswith("git remote org/config: ")
    )
    work = clone_of(github_url, tmp_path / "push")
    for rel, text in {
        **base_files("base", "web", {"web": "ghcr.io/acme/web:0.0.1"}),
        "apps/web/kustomization.yaml": ConfigRepo.kustomization("2.0.0"),
    }.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text, encoding="utf-8")
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", "web 2.0.0", cwd=work)
    git("push", "--quiet", "origin", "HEAD:release", cwd=work)
    sha = git("rev-parse", "HEAD", cwd=work).strip()
    headers = {"Authorization": "Bearer local-argocd"}
    app = requests.get(
        f"{url}/api/v1/applications/web", params={"refresh": "normal"}, headers=headers, timeout=30
    ).json()
    assert app["status"]["sync"]["revision"] == sha
    for _ in range(3000):  # auto-sync runs; bounded polling, no timing assertion
        app = requests.get(f"{url}/api/v1/applications/web", headers=headers, timeout=30).json()
        if done_at(app, sha):
            break
        threading.Event().wait(0.01)
    assert done_at(app, sha)
    assert "ghcr.io/acme/web:2.0.0" in app["status"]["summary"]["images"]


@pytest.mark.parametrize("sse", [False, True], ids=["ndjson", "sse"])
def test_the_projects_argocd_client_reads_the_emulator_watch_and_errors(
    argocd_sandbox: ArgoCDSandbox, config_repo: ConfigRepo, sse: bool
) -> None:
    from gitops_release.adapters.argocd import ArgoCDClient, ArgoCDConnection
    from gitops_release.errors import ArgoCDAuthError, ArgoCDStreamError

    argocd_sandbox.store.register_repo(REPO, config_repo.git_dir)
    argocd_sandbox.store.add_application(web_application())
    argocd_sandbox.add_user("ci", "pw", allow=("applications, get, default/*",))
    # A guard against a hang (keep-alives keep an idle SSE watch open): cut it after two minutes.
    argocd_sandbox.drop_streams(after_seconds=120)
    client = ArgoCDClient(ArgoCDConnection(server=argocd_sandbox.url, username="ci", password="pw"))
    try:
        client.login()
        sha = config_repo.head()
        types = []
        for event in client.watch(name="web", sse=sse, read_timeout=10):
            types.append(event.type)
            if done_at(event.application, sha):
                break
        assert types[0] == "ADDED"
        with pytest.raises(ArgoCDAuthError) as denied:
            client.sync("web")
        assert "applications, sync, default/web" in str(denied.value)
        argocd_sandbox.drop_streams(after_events=1)
        with pytest.raises(ArgoCDStreamError, match="ended"):
            for _ in client.watch(name="web", sse=sse, read_timeout=10):
                pass
    finally:
        client.close()
