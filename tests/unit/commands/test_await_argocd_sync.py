"""await-argocd-sync's inputs (each bad one named, before any request), the expected revision
from the checkout, release manifests and the outputs."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from gitops_release.commands import COMMANDS
from gitops_release.commands import await_argocd_sync as aas
from gitops_release.commands.base import Context
from gitops_release.core import argocd as rules
from gitops_release.errors import (
    ArgoCDNotFoundError,
    ArgoCDStreamError,
    ConfigError,
    InputError,
    RetryExhaustedError,
)
from gitops_release.runtime import Console, InputReader
from tests.fixtures.git_remotes import git

SHA = "0123456789abcdef0123456789abcdef01234567"


def inputs(**values: str) -> aas.Inputs:
    values.setdefault("server", "http://127.0.0.1:9")
    env = {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in values.items()}
    return aas.Inputs.from_reader(InputReader(env=env))


def test_registered() -> None:
    assert COMMANDS["await-argocd-sync"][0] == "gitops_release.commands.await_argocd_sync"


def test_defaults() -> None:
    got = inputs(applications="guestbook")
    assert got.applications == ("guestbook",) and got.selector is None
    assert (got.timeout, got.degraded_grace, got.poll_interval) == (600.0, 60.0, 5.0)
    assert (got.stream, got.refresh, got.mode, got.sync, got.allow_suspended) == (
        True,
        "normal",
        "wait",
        False,
        False,
    )
    assert got.evidence_path == "argocd-evidence.json" and got.expected_revision == ()
    assert got.server == "http://127.0.0.1:9"


def test_values_are_parsed() -> None:
    got = inputs(
        server="argocd.example.com",
        selector="team=web,tier!=batch",
        expected_revision=f"{SHA[:7]}\n*\n0.45.27",
        timeout="90s",
        degraded_grace="0",
        poll_interval="500ms",
        sync="true",
        prune="true",
        revision="main",
        sync_options="ServerSideApply=true, Prune=false",
        images="ghcr.io/acme/web:1.2.3",
    )
    assert got.server == "https://argocd.example.com"
    assert got.expected_revision == (SHA[:7], "*", "0.45.27")
    assert (got.timeout, got.degraded_grace, got.poll_interval) == (90.0, 0.0, 0.5)
    assert got.sync_options == ("ServerSideApply=true", "Prune=false")


def test_duplicate_names_count_once() -> None:
    assert inputs(applications="a,b,a").applications == ("a", "b")


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"server": ""}, "server", "required"),
        ({"server": "https://user:pw@argocd.example.com", "applications": "a"}, "server", ""),
        ({}, "applications", "or selector is required"),
        ({"applications": "a", "selector": "team=web"}, "applications", "both given"),
        ({"applications": "Not_An_App"}, "applications", "not an application name"),
        ({"selector": "team=web;rm -rf"}, "selector", "not a label selector"),
        ({"applications": "a", "timeout": "0"}, "timeout", "more than 0"),
        ({"applications": "a", "timeout": "forever"}, "timeout", "not a duration"),
        ({"applications": "a", "timeout": "inf"}, "timeout", "not a duration"),
        ({"applications": "a", "poll_interval": "0s"}, "poll-interval", "more than 0"),
        ({"applications": "a", "degraded_grace": "soon"}, "degraded-grace", "not a duration"),
        ({"applications": "a", "expected_revision": "abc12"}, "expected-revision", "too short"),
        ({"applications": "a", "expected_revision": "a" * 65}, "expected-revision", "longer than"),
        ({"applications": "a", "expected_revision": "HEAD"}, "expected-revision", "ref"),
        ({"applications": "a", "expected_revision": "*"}, "expected-revision", "skips every source"),
        ({"applications": "a", "expected_revision": "-x"}, "expected-revision", "not a revision"),
        ({"applications": "a", "expected_revision": "v 1"}, "expected-revision", "not a revision"),
        ({"applications": "a", "mode": "watch"}, "mode", "not one of"),
        ({"applications": "a", "refresh": "soft"}, "refresh", "not one of"),
        ({"applications": "a", "stream": "yes"}, "stream", "not a boolean"),
        ({"applications": "a", "prune": "true"}, "prune", "only applies with sync"),
        ({"applications": "a", "revision": SHA}, "revision", "only applies with sync"),
        ({"applications": "a", "sync_options": "Prune=false"}, "sync-options", "only applies with sync"),
        (
            {"applications": "a", "sync": "true", "sync_options": "--force"},
            "sync-options",
            "not a sync option",
        ),
        ({"applications": "a", "sync": "true", "revision": "abc"}, "revision", "too short"),
        ({"applications": "a", "mode": "drift-report", "sync": "true"}, "sync", "drift-report"),
        ({"applications": "a", "fail_on_drift": "true"}, "fail-on-drift", "drift-report"),
        ({"applications": "a", "images": "not an image"}, "images", "not an image reference"),
        ({"applications": "a", "manifest_path": "../x.json"}, "manifest-path", "inside the checkout"),
        ({"applications": "a", "app_namespace": "Bad_NS"}, "app-namespace", "not a namespace"),
        ({"applications": "a", "ca_file": "/nonexistent/ca.pem"}, "ca-file", "not a file"),
        ({"applications": "a", "token": "t0ken-value", "username": "admin"}, "token", "together"),
        ({"applications": "a", "username": "admin"}, "password", "required with username"),
        ({"applications": "a", "password": "s3cret-pw"}, "username", "required with password"),
        ({"applications": "a", "evidence_path": "a\x01b"}, "evidence-path", "control characters"),
    ],
)
def test_bad_inputs_name_the_field(values: dict[str, str], field: str, words: str) -> None:
    with pytest.raises(InputError) as caught:
        inputs(**values)
    assert caught.value.field == field and words in caught.value.message


def test_ca_file_with_insecure_is_refused(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    assert inputs(applications="a", ca_file=str(ca)).ca_file == str(ca)
    with pytest.raises(InputError) as caught:
        inputs(applications="a", ca_file=str(ca), insecure="true")
    assert caught.value.field == "ca-file"


# -- nothing reaches the network before the inputs and the checkout are checked ----------------


@pytest.fixture
def no_client(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    made: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        made.append((args, kwargs))
        raise AssertionError("an Argo CD client was created")

    monkeypatch.setattr(aas, "ArgoCDClient", refuse)
    return made


def test_repo_path_that_is_not_a_checkout_fails_before_any_request(
    tmp_path: Path, no_client: list[Any]
) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError) as caught:
        aas.run(inputs(applications="a", repo_path="plain"), Context(env={}, workdir=tmp_path))
    assert caught.value.field == "repo-path" and "not a git checkout" in caught.value.message
    assert "expected-revision" in (caught.value.fix or "")
    with pytest.raises(InputError, match="not a git checkout"):
        aas.run(inputs(applications="a", repo_path="missing"), Context(env={}, workdir=tmp_path))
    assert no_client == []


def test_checkout_without_commits_is_refused(tmp_path: Path, no_client: list[Any]) -> None:
    git("init", "--quiet", str(tmp_path / "empty"))
    with pytest.raises(InputError, match="no commit checked out"):
        aas.run(inputs(applications="a", repo_path="empty"), Context(env={}, workdir=tmp_path))
    assert no_client == []


def test_evidence_path_through_a_link_is_refused_before_any_request(
    tmp_path: Path, no_client: list[Any]
) -> None:
    (tmp_path / "out").symlink_to(tmp_path.parent)
    with pytest.raises(InputError) as caught:
        aas.run(
            inputs(applications="a", expected_revision=SHA, evidence_path="out/evidence.json"),
            Context(env={}, workdir=tmp_path),
        )
    assert caught.value.field == "evidence-path" and "symbolic link" in caught.value.message
    assert no_client == []


def test_expected_revision_defaults_to_head_of_repo_path(tmp_path: Path) -> None:
    checkout = tmp_path / "config"
    git("init", "--quiet", "-b", "main", str(checkout))
    (checkout / "f").write_text("x\n", encoding="utf-8")
    git("add", "f", cwd=checkout)
    git("commit", "--quiet", "-m", "one", cwd=checkout)
    git("remote", "add", "origin", "https://git.example.com/org/config.git", cwd=checkout)
    head = git("rev-parse", "HEAD", cwd=checkout).strip()
    got = aas.resolve_expected(
        inputs(applications="a", repo_path="config"), Context(env={}, workdir=tmp_path)
    )
    assert got.values == (head,) and got.repo_url == "https://git.example.com/org/config.git"
    given = aas.resolve_expected(
        inputs(applications="a", repo_path="config", expected_revision=SHA), Context(env={}, workdir=tmp_path)
    )
    assert given.values == (SHA,)


def test_drift_report_needs_no_checkout(tmp_path: Path) -> None:
    got = aas.resolve_expected(
        inputs(applications="a", mode="drift-report"), Context(env={}, workdir=tmp_path)
    )
    assert got.values == () and got.repo_url is None


def _checkout(tmp_path: Path, origin: str) -> str:
    checkout = tmp_path / "config"
    git("init", "--quiet", "-b", "main", str(checkout))
    (checkout / "f").write_text("x\n", encoding="utf-8")
    git("add", "f", cwd=checkout)
    git("commit", "--quiet", "-m", "one", cwd=checkout)
    git("remote", "add", "origin", origin, cwd=checkout)
    return git("rev-parse", "HEAD", cwd=checkout).strip()


def test_accept_descendant_defaults_to_true() -> None:
    assert inputs(applications="a").accept_descendant is True
    assert inputs(applications="a", accept_descendant="false").accept_descendant is False
    with pytest.raises(InputError) as caught:
        inputs(applications="a", accept_descendant="maybe")
    assert caught.value.field == "accept-descendant"


def test_a_defaulted_revision_on_a_pull_request_warns_that_head_is_a_merge_commit(tmp_path: Path) -> None:
    _checkout(tmp_path, "https://git.example.com/org/config.git")
    for event, warned in (("pull_request", True), ("pull_request_target", True), ("push", False)):
        err = io.StringIO()
        ctx = Context(
            console=Console(env={}, out=io.StringIO(), err=err),
            env={"GITHUB_EVENT_NAME": event},
            workdir=tmp_path,
        )
        got = aas.resolve_expected(inputs(applications="a", repo_path="config"), ctx)
        assert got.defaulted is True
        assert ("merge commit" in err.getvalue()) is warned
        assert len(err.getvalue().splitlines()) == (1 if warned else 0)
    err = io.StringIO()
    ctx = Context(
        console=Console(env={}, out=io.StringIO(), err=err),
        env={"GITHUB_EVENT_NAME": "pull_request"},
        workdir=tmp_path,
    )
    given = aas.resolve_expected(inputs(applications="a", repo_path="config", expected_revision=SHA), ctx)
    assert given.defaulted is False and err.getvalue() == ""


def _waiter(tmp_path: Path, expected: aas.Expected, **values: str) -> aas.Waiter:
    got = inputs(applications="web", **values)
    ctx = Context(console=Console(env={}, out=io.StringIO(), err=io.StringIO()), env={}, workdir=tmp_path)
    images = aas.ImageResolver(got, ctx, expected, deadline=10.0, clock=lambda: 0.0, strict=False)
    return aas.Waiter(
        got,
        ctx,
        None,  # type: ignore[arg-type] - expectation() makes no request
        aas.connection(got),
        expected,
        images,
        started=0.0,
        deadline=10.0,
        clock=lambda: 0.0,
    )


def _tracking(*urls: str) -> rules.AppObservation:
    sources = [{"repoURL": url, "path": "apps/web"} for url in urls]
    spec: dict[str, Any] = {"sources": sources} if len(sources) > 1 else {"source": sources[0]}
    return rules.observe({"metadata": {"name": "web"}, "spec": spec})


def test_head_of_a_checkout_of_another_repository_is_refused_for_the_app(tmp_path: Path) -> None:
    defaulted = aas.Expected((SHA,), "https://github.com/org/app.git", tmp_path, defaulted=True)
    waiter = _waiter(tmp_path, defaulted)
    with pytest.raises(InputError) as caught:
        waiter.expectation(_tracking("https://github.com/org/config"))
    assert caught.value.field == "repo-path"
    assert caught.value.message == (
        "input 'repo-path': '.' is a checkout of https://github.com/org/app.git, but application web tracks "
        "https://github.com/org/config: HEAD of repo-path (0123456789ab) can never be its revision"
    )
    assert "give expected-revision" in (caught.value.fix or "")
    # The same repository under another host, scheme or case (a mirror, the sandbox's file://
    # remotes), or as one source of several: fine.
    for app in (
        _tracking("git@github.example.com:Org/App"),
        _tracking("https://charts.example.com/x", "file:///srv/git/org/app.git"),
    ):
        assert waiter.expectation(app).checked
    # A revision the user gave is theirs to choose; drift-report does not check a foreign HEAD.
    given = aas.Expected((SHA,), "https://github.com/org/app.git", tmp_path, defaulted=False)
    assert _waiter(tmp_path, given).expectation(_tracking("https://github.com/org/config")).revisions == (
        SHA,
    )
    report = _waiter(tmp_path, defaulted, mode="drift-report")
    assert report.expectation(_tracking("https://github.com/org/config")).revisions == (None,)


def test_the_expectation_carries_accept_descendant_and_the_config_history(tmp_path: Path) -> None:
    expected = aas.Expected((SHA,), "https://github.com/org/config.git", tmp_path, defaulted=True)
    got = _waiter(tmp_path, expected, accept_descendant="false").expectation(
        _tracking("https://github.com/org/config")
    )
    assert got.accept_descendant is False and isinstance(got.lineage, aas.ConfigHistory)
    no_checkout = aas.Expected((SHA,), None, None)
    assert (
        _waiter(tmp_path, no_checkout).expectation(_tracking("https://github.com/org/config")).lineage is None
    )


def test_the_config_history_never_passes_a_server_value_to_git(tmp_path: Path) -> None:
    expected = aas.Expected((SHA,), "https://github.com/org/config.git", tmp_path, defaulted=True)
    asked: list[str] = []
    history = aas.ConfigHistory(
        expected, deadline=10.0, clock=lambda: 0.0, say=asked.append, debug=asked.append, retry=5.0
    )
    answer = history.contains("https://github.com/org/config", "--upload-pack=touch /tmp/x", SHA)
    assert answer.contains is None and asked == []
    other = history.contains("https://github.com/org/other", "f" * 40, SHA)
    assert other.contains is None and "not repo-path's repository" in other.note and asked == []


# -- release manifests and app paths -----------------------------------------------------------


def _manifest(refs: list[str]) -> str:
    return json.dumps({"schemaVersion": 1, "images": [{"reference": ref} for ref in refs]})


def test_manifest_images(tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "release-manifest.json").write_text(
        _manifest(["a:1", "b:2", "a:1"]), encoding="utf-8"
    )
    assert aas.manifest_images(tmp_path, "env/release-manifest.json") == ("a:1", "b:2")
    assert aas.manifest_images(tmp_path, "env/missing.json") is None
    (tmp_path / "env" / "bad.json").write_text('{"schemaVersion": 2}', encoding="utf-8")
    with pytest.raises(ConfigError, match="not a release manifest"):
        aas.manifest_images(tmp_path, "env/bad.json")
    (tmp_path / "env" / "junk.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="not JSON"):
        aas.manifest_images(tmp_path, "env/junk.json")


def test_manifest_through_a_link_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "release-manifest.json").write_text(_manifest(["evil:1"]), encoding="utf-8")
    root = tmp_path / "root"
    root.mkdir()
    (root / "env").symlink_to(outside)
    with pytest.raises(ConfigError, match="symbolic link"):
        aas.manifest_images(root, "env/release-manifest.json")


def _app(sources: list[dict[str, str]]) -> rules.AppObservation:
    spec: dict[str, Any] = {"sources": sources} if len(sources) > 1 else {"source": sources[0]}
    return rules.observe({"metadata": {"name": "x"}, "spec": spec})


def test_app_path_prefers_the_checkouts_repository_and_stays_inside() -> None:
    repo = "https://git.example.com/org/config.git"
    multi = _app(
        [
            {"repoURL": "https://charts.example.com", "chart": "web", "targetRevision": "1.0.0"},
            {"repoURL": "https://git.example.com/org/other", "path": "other"},
            {"repoURL": "git@git.example.com:org/config", "path": "envs/prod"},
        ]
    )
    assert aas.app_path(multi, repo) == "envs/prod"
    assert aas.app_path(multi, None) == "other"
    assert aas.app_path(_app([{"repoURL": repo, "path": "../../etc"}]), repo) is None
    assert aas.app_path(_app([{"repoURL": repo, "path": "/etc"}]), repo) is None


# -- errors and outputs ------------------------------------------------------------------------


def test_transient_errors() -> None:
    assert aas.transient(RetryExhaustedError("x"))
    assert aas.transient(ArgoCDStreamError("x"))
    assert not aas.transient(ArgoCDNotFoundError("x", status=404))
    assert not aas.transient(InputError("a", "b"))


def test_outputs_aggregate_every_app() -> None:
    healthy = rules.observe(
        {
            "metadata": {"name": "a"},
            "status": {"sync": {"status": "Synced", "revision": SHA}, "health": {"status": "Healthy"}},
        }
    )
    degraded = rules.observe(
        {
            "metadata": {"name": "b"},
            "status": {"sync": {"status": "OutOfSync", "revision": SHA}, "health": {"status": "Degraded"}},
        }
    )
    expectation = rules.Expectation((SHA,))
    outputs = aas.Outputs(
        results=[
            aas.AppResult("a", healthy, expectation, rules.Assessment(rules.Verdict.DONE, "done")),
            aas.AppResult("b", degraded, expectation, rules.Assessment(rules.Verdict.DEGRADED, "Degraded")),
        ],
        evidence_path="e.json",
        duration_seconds=1.23456,
    )
    values = outputs.as_dict()
    assert values["sync-status"] == "OutOfSync" and values["health-status"] == "Degraded"
    assert values["revision"] == SHA and values["duration-seconds"] == 1.235
    assert [row["verdict"] for row in values["applications"]] == ["done", "degraded"]
    assert "drift" not in values
    summary = outputs.summary()
    assert "#### a" in summary and "#### b" in summary and "e.json" in summary
