"""report-status inputs: every default resolved from the runner's environment and every bad value
refused before any request (``Inputs.from_reader`` touches no network)."""

from __future__ import annotations

import io
import json
import os
import sys
import types
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gitops_release import adapters
from gitops_release.commands import report_status as rs
from gitops_release.commands.base import Context
from gitops_release.core.argocd import Expectation, WaitTracker, observe
from gitops_release.core.evidence import app_evidence, evidence_document
from gitops_release.errors import GitHubAuthError, GitHubValidationError, InputError
from gitops_release.runtime import Console, InputReader

SHA = "1a2b3c4d" * 5
HEAD = "feedface" * 5
MERGE = "0badc0de" * 5
REPO = "org/config"
TOKEN = "ghs_unitTestToken0123456789"
ENV = {
    "GITHUB_REPOSITORY": REPO,
    "GITHUB_SHA": SHA,
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_RUN_ID": "4242",
    "GITHUB_EVENT_NAME": "push",
}
RUN_URL = "https://github.com/org/config/actions/runs/4242"


def inputs(env: dict[str, str] | None = None, workdir: Path | None = None, **given: str) -> rs.Inputs:
    flags = {"token": TOKEN, **{k.replace("_", "-"): v for k, v in given.items()}}
    return rs.Inputs.from_reader(InputReader(env={**ENV, **(env or {})}, flags=flags), workdir)


def refused(field: str, **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        inputs(**kwargs)
    assert caught.value.field == field, caught.value
    return caught.value


def pr_event(tmp_path: Path, number: int = 7, head: str = HEAD) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"number": number, "pull_request": {"number": number, "head": {"sha": head}}})
    )
    return {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event), "GITHUB_SHA": MERGE}


def evidence(outcome: str = "done", revision: str = SHA, mode: str = "wait") -> dict[str, Any]:
    """A real await-argocd-sync evidence document (core.evidence) for one app synced at ``revision``."""
    doc = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "web", "namespace": "argocd"},
        "spec": {
            "project": "default",
            "destination": {"namespace": "web"},
            "source": {"repoURL": "https://git.example.com/org/config.git", "path": "apps/web"},
        },
        "status": {
            "sync": {"status": "Synced", "revision": revision},
            "health": {"status": "Healthy"},
            "reconciledAt": "2024-05-01T10:00:01Z",
        },
    }
    obs = observe(doc)
    expected = Expectation((revision,))
    tracker = WaitTracker(obs.name, expected, degraded_grace=60, started=0.0)
    start = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)
    app = app_evidence(
        obs,
        expected=expected,
        assessment=tracker.update(obs, 3.5),
        expected_images=[],
        images_source="none",
        transitions=tracker.transitions,
        started_at=start,
        duration=3.5,
    )
    return evidence_document(
        [app],
        mode=mode,
        server="https://argocd.example.org",
        started_at=start,
        finished_at=datetime(2024, 5, 1, 10, 0, 42, tzinfo=timezone.utc),
        outcome=outcome,
        run={"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": REPO, "GITHUB_RUN_ID": "77"},
    )


# -- the commit and the states ------------------------------------------------------------------


def test_defaults_on_a_push_commit_status_of_github_sha_linking_the_run() -> None:
    got = inputs(state="pending", description="Preparing release data")
    assert (got.repository, got.sha, got.state, got.context) == (REPO, SHA, "pending", "release-data-prep")
    assert got.target_url == RUN_URL and got.commit_status and not got.deploys and not got.comment


def test_pull_request_events_report_on_the_head_commit_not_the_merge_commit(tmp_path: Path) -> None:
    got = inputs(env=pr_event(tmp_path), state="pending")
    assert got.sha == HEAD and got.pull_request == 7


def test_pull_request_event_without_a_readable_event_file_is_refused_not_the_merge_commit(
    tmp_path: Path,
) -> None:
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(tmp_path / "missing.json")}
    error = refused("sha", env=env, state="pending")
    assert "does not exist" in error.message


def test_sha_input_wins_and_must_be_a_full_sha() -> None:
    assert inputs(state="success", sha=HEAD.upper()).sha == HEAD
    assert "full commit sha" in refused("sha", state="success", sha="1a2b3c4").message


@pytest.mark.parametrize(
    ("job", "state"), [("success", "success"), ("failure", "failure"), ("cancelled", "error")]
)
def test_job_status_maps_to_a_final_state(job: str, state: str) -> None:
    got = inputs(job_status=job.upper() if job == "cancelled" else job, environment="staging")
    assert (got.state, got.deployment_state) == (state, state)


def test_an_explicit_state_wins_over_job_status_and_a_bad_job_status_is_refused() -> None:
    assert inputs(state="pending", job_status="failure").state == "pending"
    assert "job status" in refused("job-status", job_status="skipped").message
    refused("state", state="done")


def test_description_is_one_line_cut_to_140_with_an_ellipsis() -> None:
    got = inputs(state="success", description="word\n" * 100)
    assert len(got.description) == 140 and got.description.endswith("…") and "\n" not in got.description


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "https://user:pass@example.org/x", "https://example.org/a b", "notaurl"]
)
def test_target_url_is_validated(url: str) -> None:
    refused("target-url", state="success", target_url=url)


def test_without_the_run_variables_there_is_no_default_link() -> None:
    assert inputs(env={"GITHUB_RUN_ID": ""}, state="success").target_url is None


def test_nothing_to_report_is_refused() -> None:
    assert "nothing to report" in refused("state").message
    assert "commit-status is false" in refused("state", state="success", commit_status="false").message


# -- deployments --------------------------------------------------------------------------------


def test_deployment_needs_a_state_and_deployment_inputs_need_a_deployment() -> None:
    refused("deployment-state", environment="staging")
    for name, value in [
        ("deployment_state", "success"),
        ("environment_url", "https://x.example.org"),
        ("log_url", "https://x.example.org"),
        ("ref", "main"),
        ("payload", "{}"),
    ]:
        refused(name.replace("_", "-"), state="success", **{name: value})
    refused("ref", deployment_id="5", deployment_state="success", ref="main")


def test_deployment_defaults_log_url_is_the_run_and_nothing_is_production_unless_said() -> None:
    got = inputs(environment="production", deployment_state="in_progress", payload='{"image": "web:1"}')
    assert got.deploys and got.log_url == RUN_URL and got.production_environment is None
    assert got.payload == {"image": "web:1"} and not got.transient_environment and not got.auto_merge
    assert got.required_contexts == () and got.auto_inactive and got.state is None


@pytest.mark.parametrize("payload", ["[1]", '"text"', '{"a": 1, "a": 2}', "{"])
def test_payload_must_be_one_json_object(payload: str) -> None:
    refused("payload", environment="staging", deployment_state="success", payload=payload)


def test_preview_is_the_pull_requests_transient_environment(tmp_path: Path) -> None:
    got = inputs(
        env=pr_event(tmp_path, number=12), preview="true", job_status="success", commit_status="false"
    )
    assert got.environment == "preview/pr-12" and got.transient_environment
    assert got.production_environment is False and got.sha == HEAD and not got.commit_status
    refused("preview", preview="true", deployment_state="success")  # a push: no pull request
    refused(
        "preview", env=pr_event(tmp_path), preview="true", environment="staging", deployment_state="success"
    )
    refused(
        "production-environment",
        env=pr_event(tmp_path),
        preview="true",
        deployment_state="success",
        production_environment="true",
    )


# -- comment ------------------------------------------------------------------------------------


def test_comment_outside_a_pull_request_is_a_note_not_an_error() -> None:
    got = inputs(state="success", comment="true")
    assert not got.comment and "not a pull request" in got.notes[0]


def test_results_are_parsed_for_the_comment_and_only_noted_without_one(tmp_path: Path) -> None:
    rows = '[{"name": "schema", "result": "pass"}]'
    got = inputs(env=pr_event(tmp_path), state="success", comment="true", results=rows)
    assert got.comment and [r.name for r in got.results] == ["schema"]
    # One step for push and pull_request (docs' example): without a comment the rows are not
    # shown, which is no reason to leave the commit status unsent (review R1 / G1).
    got = inputs(env=pr_event(tmp_path), state="success", results=rows)
    assert got.commit_status and got.results == () and "only shown in a pull request comment" in got.notes[0]
    (tmp_path / "results.json").write_text("[{")  # not even read without a comment
    got = inputs(workdir=tmp_path, job_status="success", comment="false", results_file="results.json")
    assert (got.state, got.problem) == ("success", None) and "results-file" in got.notes[0]


def test_results_file_is_a_regular_file_and_never_a_link(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text('[{"name": "a", "result": "pass"}]')
    (tmp_path / "link.json").symlink_to(tmp_path / "results.json")
    env = pr_event(tmp_path)
    got = inputs(env=env, workdir=tmp_path, state="success", comment="true", results_file="results.json")
    assert got.results[0].name == "a"
    error = refused(
        "results-file", env=env, workdir=tmp_path, state="success", comment="true", results_file="link.json"
    )
    assert "symbolic link" in error.message
    refused("results-file", env=env, workdir=tmp_path, state="success", comment="true", results_file=".")


def test_a_missing_results_file_after_a_failed_job_still_reports(tmp_path: Path) -> None:
    env = pr_event(tmp_path)
    got = inputs(env=env, workdir=tmp_path, job_status="failure", comment="true", results_file="results.json")
    assert got.state == "failure" and got.results == () and "does not exist" in got.notes[0]
    refused(
        "results-file",
        env=env,
        workdir=tmp_path,
        state="failure",
        comment="true",
        results_file="results.json",
    )


# -- from-evidence ------------------------------------------------------------------------------


def write(tmp_path: Path, data: Any, name: str = "argocd-evidence.json") -> str:
    (tmp_path / name).write_text(json.dumps(data))
    return name


def test_from_evidence_sets_the_deployment_from_what_argo_cd_did(tmp_path: Path) -> None:
    path = write(tmp_path, evidence(revision=HEAD))
    got = inputs(workdir=tmp_path, environment="staging", from_evidence=path, commit_status="false")
    # Argo CD's revision is the deployment's commit; the run's commit (GITHUB_SHA) keeps the commit
    # status, and the difference is said (review R5).
    assert (got.deployment_state, got.sha, got.deployment_sha) == ("success", SHA, HEAD)
    assert HEAD[:12] in got.notes[0] and SHA[:12] in got.notes[0]
    assert got.deployment_description == "Argo CD: web Synced Healthy at feedfac (42 s)"
    assert got.environment_url == "https://argocd.example.org/applications/argocd/web"
    assert got.log_url == "https://github.com/org/config/actions/runs/77"
    got = inputs(workdir=tmp_path, environment="staging", from_evidence=path, deployment_state="failure")
    assert got.deployment_state == "failure"  # an input wins


@pytest.mark.parametrize(
    ("outcome", "state"), [("failed", "failure"), ("timeout", "error"), ("cancelled", "error")]
)
def test_from_evidence_outcomes(tmp_path: Path, outcome: str, state: str) -> None:
    path = write(tmp_path, evidence(outcome=outcome))
    assert inputs(workdir=tmp_path, environment="staging", from_evidence=path).deployment_state == state


def test_from_evidence_refuses_what_is_not_valid_evidence(tmp_path: Path) -> None:
    data = evidence()
    data["applications"][0]["extra"] = 1
    error = refused(
        "from-evidence", workdir=tmp_path, environment="staging", from_evidence=write(tmp_path, data)
    )
    assert "not an await-argocd-sync evidence bundle" in error.message
    drift = evidence(mode="drift-report", outcome="no-drift")
    error = refused(
        "from-evidence", workdir=tmp_path, environment="s", from_evidence=write(tmp_path, drift, "d.json")
    )
    assert "drift report" in error.message
    (tmp_path / "x.json").write_text('{"schemaVersion": 1, "schemaVersion": 1}')
    refused("from-evidence", workdir=tmp_path, environment="staging", from_evidence="x.json")


def test_from_evidence_is_bounded_and_never_follows_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, evidence())
    (tmp_path / "link.json").symlink_to(tmp_path / "argocd-evidence.json")
    error = refused("from-evidence", workdir=tmp_path, environment="staging", from_evidence="link.json")
    assert "symbolic link" in error.message
    monkeypatch.setattr(rs, "MAX_EVIDENCE_BYTES", 100)
    error = refused(
        "from-evidence", workdir=tmp_path, environment="staging", from_evidence="argocd-evidence.json"
    )
    assert "larger than" in error.message
    os.mkfifo(tmp_path / "fifo")  # a FIFO would block a plain open() forever
    error = refused("from-evidence", workdir=tmp_path, environment="staging", from_evidence="fifo")
    assert "not a regular file" in error.message


def test_from_evidence_missing_after_a_failed_job_falls_back_to_job_status(tmp_path: Path) -> None:
    got = inputs(workdir=tmp_path, environment="staging", from_evidence="gone.json", job_status="failure")
    assert got.deployment_state == "failure" and "does not exist" in got.notes[0]
    refused("from-evidence", workdir=tmp_path, environment="staging", from_evidence="gone.json")


# -- credentials --------------------------------------------------------------------------------

PEM_BODY = "MIIEowIBAAKCAQEAsecretkeymaterialthatmustneverbeprinted0123456789"


def test_a_malformed_app_key_is_refused_without_echoing_it() -> None:
    key = f"-----BEGIN RSA PRIVATE KEY-----{PEM_BODY}"
    with pytest.raises(InputError) as caught:
        rs.Inputs.from_reader(
            InputReader(env=ENV, flags={"app-id": "123", "app-private-key": key, "state": "success"})
        )
    assert caught.value.field == "app-private-key"
    assert PEM_BODY not in caught.value.one_line() and "secretkey" not in caught.value.one_line()


def test_app_key_file_is_read_registered_as_a_secret_and_not_given_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    (tmp_path / "app.pem").write_text(pem)
    env = {**ENV, "GITHUB_ACTIONS": "true"}
    flags = {"app-id": "123", "app-private-key-file": str(tmp_path / "app.pem"), "state": "success"}
    got = rs.Inputs.from_reader(InputReader(env=env, flags=flags))
    assert got.auth.uses_app and got.auth.private_key == pem and "private_key" not in repr(got)
    masked = capsys.readouterr().out.splitlines()
    body = [line for line in pem.splitlines() if "-----" not in line]
    assert set(body) <= {line.removeprefix("::add-mask::") for line in masked}
    # Every line printed is a one-line mask: "::add-mask::" + the whole PEM would print every line
    # after the first in clear (runtime.register_secret announced the multi-line value itself).
    assert all(line.startswith("::add-mask::") for line in masked), masked
    with pytest.raises(InputError) as caught:
        rs.Inputs.from_reader(InputReader(env=env, flags={**flags, "app-private-key": pem}))
    assert caught.value.field == "app-private-key-file"


def test_no_credentials_and_a_bad_api_url_are_refused() -> None:
    with pytest.raises(InputError) as caught:
        rs.Inputs.from_reader(InputReader(env=ENV, flags={"state": "success"}))
    assert caught.value.field == "token"
    refused("api-url", state="success", api_url="https://x:y@ghe.example.org/api/v3")
    assert (
        inputs(state="success", api_url="https://ghe.example.org/api/v3/").api_url
        == "https://ghe.example.org/api/v3"
    )


def test_repository_default_and_shape() -> None:
    refused("repository", state="success", repository="not-a-repo")
    refused("repository", env={"GITHUB_REPOSITORY": ""}, state="success")


# -- run: order, what was posted, the permissions a 403 needs -----------------------------------


class FakeReport(types.ModuleType):
    """adapters.github_report's functions, recording calls; ``fail`` names the one that raises."""

    def __init__(self, fail: str | None = None, error: Exception | None = None) -> None:
        super().__init__("gitops_release.adapters.github_report")
        self.calls: list[str] = []
        self.kwargs: dict[str, dict[str, Any]] = {}
        self.fail, self.error = fail, error

    def _call(self, name: str, kw: dict[str, Any] | None = None) -> None:
        self.calls.append(name)
        self.kwargs[name] = dict(kw or {})
        if name == self.fail:
            assert self.error is not None
            raise self.error

    def post_commit_status(self, gh: object, repository: str, **kw: Any) -> Any:
        self._call("status", kw)
        return types.SimpleNamespace(id=1, state=kw["state"], context=kw["context"], url="")

    def ensure_deployment(self, gh: object, repository: str, **kw: Any) -> Any:
        self._call("deployment", kw)
        return types.SimpleNamespace(id=2, sha=kw["sha"], environment=kw["environment"], created=True)

    def post_deployment_status(self, gh: object, repository: str, deployment_id: int, **kw: Any) -> Any:
        self._call("deployment-status", kw)
        return types.SimpleNamespace(id=3, state=kw["state"], deployment_id=deployment_id)

    def deactivate_environment(self, gh: object, repository: str, environment: str) -> tuple[int, ...]:
        self._call("deactivate")
        return (8, 9)

    def upsert_marked_comment(self, gh: object, repository: str, number: int, **kw: Any) -> tuple[int, str]:
        self._call("comment", kw)
        assert kw["marker_matches"](kw["body"])
        return 4, "created"


def run_with(monkeypatch: pytest.MonkeyPatch, fake: FakeReport, got: rs.Inputs) -> rs.Outputs:
    monkeypatch.setitem(sys.modules, "gitops_release.adapters.github_report", fake)
    monkeypatch.setattr(adapters, "github_report", fake, raising=False)
    ctx = Context(console=Console(env={}, out=io.StringIO(), err=io.StringIO()), env={})
    return rs.run(got, ctx, gh=object())


def test_run_posts_status_then_deployment_then_comment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeReport()
    got = inputs(env=pr_event(tmp_path), job_status="success", preview="true", comment="true")
    out = run_with(monkeypatch, fake, got)
    assert fake.calls == ["status", "deployment", "deployment-status", "comment"]
    assert out.as_dict() == {
        "status-id": 1,
        "deployment-id": "2",
        "deployment-status-id": 3,
        "comment-id": 4,
        "state": "success",
        "deployment-state": "success",
        "environment": "preview/pr-7",
        "comment-state": "created",
    }


def test_inactive_for_an_environment_deactivates_and_creates_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeReport()
    out = run_with(monkeypatch, fake, inputs(environment="preview/pr-3", deployment_state="inactive"))
    assert fake.calls == ["deactivate"] and out.as_dict()["deployment-id"] == "8,9"


def test_a_failure_after_the_commit_status_says_what_was_posted_and_which_permissions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = GitHubAuthError(
        "create a deployment: the token lacks the 'deployments: write' permission on org/config", status=403
    )
    fake = FakeReport(fail="deployment", error=error)
    with pytest.raises(GitHubAuthError) as caught:
        run_with(monkeypatch, fake, inputs(job_status="cancelled", environment="staging"))
    text = caught.value.one_line()
    assert "already posted: commit status error 'release-data-prep' on 1a2b3c4" in text
    assert "permissions: {statuses: write, deployments: write}" in text
    assert caught.value.outputs is not None and caught.value.outputs.status_id == 1


def test_every_deployment_option_reaches_the_adapter_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeReport()
    got = inputs(
        environment="production",
        deployment_state="success",
        ref="main",
        deployment_description="web 1.2",
        auto_merge="true",
        required_contexts="release-data-prep, lint",
        transient_environment="true",
        production_environment="true",
        payload='{"image": "web:1"}',
        environment_url="https://web.example.org",
        log_url="https://ci.example.org/1",
        auto_inactive="false",
    )
    run_with(monkeypatch, fake, got)
    assert fake.kwargs["deployment"] == {
        "sha": SHA,
        "environment": "production",
        "ref": "main",
        "description": "web 1.2",
        "auto_merge": True,
        "required_contexts": ("release-data-prep", "lint"),
        "transient_environment": True,
        "production_environment": True,
        "payload": {"image": "web:1"},
    }
    assert fake.kwargs["deployment-status"] == {
        "state": "success",
        "description": "web 1.2",
        "environment_url": "https://web.example.org",
        "log_url": "https://ci.example.org/1",
        "auto_inactive": False,
    }


def test_the_deployment_goes_on_argo_cds_revision_and_the_commit_status_on_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeReport()
    path = write(tmp_path, evidence(revision=HEAD))
    run_with(
        monkeypatch, fake, inputs(workdir=tmp_path, state="success", environment="dev", from_evidence=path)
    )
    assert fake.kwargs["status"]["sha"] == SHA and fake.kwargs["deployment"]["sha"] == HEAD
    # An explicit sha wins for both.
    got = inputs(workdir=tmp_path, state="success", environment="dev", from_evidence=path, sha=MERGE)
    assert (got.sha, got.deployment_sha, got.notes) == (MERGE, MERGE, ())
    # Outside Actions with no commit known, Argo CD's revision is the only one: used for both.
    got = inputs(
        env={"GITHUB_SHA": ""}, workdir=tmp_path, state="success", environment="dev", from_evidence=path
    )
    assert (got.sha, got.deployment_sha) == (HEAD, HEAD)


def test_the_comment_carries_no_time_so_an_unchanged_rerun_renders_the_same_body(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bodies = []
    for _ in range(2):
        fake = FakeReport()
        run_with(monkeypatch, fake, inputs(env=pr_event(tmp_path), state="success", comment="true"))
        bodies.append(fake.kwargs["comment"]["body"])
    assert bodies[0] == bodies[1] and " UTC" not in bodies[0]


@pytest.mark.parametrize(
    ("message", "deploying", "named"),
    [
        ("GitHub refused: field 'target_url' is invalid", False, "input 'target-url'"),
        ("GitHub refused: field 'description' is too long", False, "input 'description'"),
        ("GitHub refused: field 'description' is too long", True, "input 'deployment-description'"),
        ("GitHub refused: field 'environment_url' is invalid", True, "input 'environment-url'"),
        ("GitHub refused: field 'log_url' is invalid", True, "input 'log-url'"),
        ("GitHub refused: field 'required_contexts' is invalid", True, "input 'required-contexts'"),
        ("GitHub refused: field 'payload' is invalid", True, "input 'payload'"),
    ],
)
def test_a_422_fix_names_the_input_not_githubs_field(
    monkeypatch: pytest.MonkeyPatch, message: str, deploying: bool, named: str
) -> None:
    field = message.split("'")[1]
    error = GitHubValidationError(message, status=422, fix=f"correct '{field}'")
    fake = FakeReport(fail="deployment-status" if deploying else "status", error=error)
    given = {"environment": "staging", "deployment_state": "success"} if deploying else {"state": "success"}
    with pytest.raises(GitHubValidationError) as caught:
        run_with(monkeypatch, fake, inputs(**given))
    assert caught.value.fix is not None and caught.value.fix.startswith(f"correct {named}")


# -- the always-final step: what the run left behind never keeps a status pending (review R2) ----


def _broken(tmp_path: Path, name: str, how: str) -> str:
    """A results-file / from-evidence path that is broken in the way ``how`` says."""
    good = json.dumps(evidence()) if name == "from-evidence" else '[{"name": "a", "result": "pass"}]'
    target = tmp_path / "f.json"
    if how == "missing":
        return "f.json"
    if how == "too-big":  # over the bound the test sets (_given)
        target.write_text(" " * 4096 + good)
    elif how == "invalid-json":
        target.write_text(good[: len(good) // 2])
    elif how == "schema-invalid":
        target.write_text('{"schemaVersion": 1}' if name == "from-evidence" else '[{"name": 1}]')
    elif how == "symlink":
        (tmp_path / "real.json").write_text(good)
        target.symlink_to(tmp_path / "real.json")
    elif how == "fifo":
        os.mkfifo(target)
    elif how == "outside":
        outside = tmp_path.parent / f"{tmp_path.name}-outside"
        outside.mkdir(exist_ok=True)
        (outside / "f.json").write_text(good)
        (tmp_path / "out").symlink_to(outside)
        return "out/f.json"
    return "f.json"


HOW = ["missing", "too-big", "invalid-json", "schema-invalid", "symlink", "fifo", "outside"]


def _given(tmp_path: Path, name: str, how: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(rs, "MAX_EVIDENCE_BYTES", 4096)
    monkeypatch.setattr(rs, "MAX_RESULTS_BYTES", 4096)
    checkout = tmp_path / "checkout"
    checkout.mkdir(exist_ok=True)
    path = _broken(checkout, name, how)
    if name == "from-evidence":
        return {"workdir": checkout, "environment": "staging", "from_evidence": path}
    return {"workdir": checkout, "env": pr_event(tmp_path), "comment": "true", "results_file": path}


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("name", ["results-file", "from-evidence"])
def test_with_job_status_a_bad_file_is_a_warning_and_a_success_becomes_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, how: str
) -> None:
    got = inputs(job_status="success", **_given(tmp_path, name, how, monkeypatch))
    assert got.problem is not None and got.problem.field == name
    assert any(note.startswith(f"input '{name}'") and "posted anyway" in note for note in got.notes)
    assert got.state == "error" and f"{name} unreadable" in got.description
    if name == "from-evidence":
        assert got.deployment_state == "error" and got.deploys
    else:
        assert got.comment and got.results == ()


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("name", ["results-file", "from-evidence"])
def test_without_job_status_a_bad_file_is_an_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, how: str
) -> None:
    with pytest.raises(InputError) as caught:
        inputs(state="success", **_given(tmp_path, name, how, monkeypatch))
    assert caught.value.field == name


def test_a_failure_stays_failure_and_run_posts_everything_then_fails_with_the_problem(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    got = inputs(job_status="failure", **_given(tmp_path, "results-file", "invalid-json", monkeypatch))
    assert got.state == "failure" and "unreadable" not in got.description
    fake = FakeReport()
    with pytest.raises(InputError) as caught:
        run_with(monkeypatch, fake, got)
    assert fake.calls == ["status", "comment"] and fake.kwargs["status"]["state"] == "failure"
    assert caught.value.field == "results-file" and "posted anyway: commit status failure" in str(
        caught.value
    )
    assert caught.value.outputs is not None and caught.value.outputs.status_id == 1


def test_the_evidence_schema_error_names_the_path_and_rule_never_a_value(tmp_path: Path) -> None:
    data = evidence()
    data["outcome"] = "ghp_SecretLookingValue0123456789"
    data["applications"][0]["name"] = {"password": "hunter2-secret"}
    (tmp_path / "ev.json").write_text(json.dumps(data))
    with pytest.raises(InputError) as caught:
        inputs(workdir=tmp_path, environment="staging", from_evidence="ev.json")
    text = str(caught.value)
    assert "not an await-argocd-sync evidence bundle" in text and "fails the schema's rule" in text
    assert "SecretLooking" not in text and "hunter2" not in text and "password" not in text


def test_results_and_evidence_may_be_in_runner_temp_and_the_app_key_file_anywhere(tmp_path: Path) -> None:
    temp, elsewhere, checkout = tmp_path / "runner-temp", tmp_path / "home", tmp_path / "checkout"
    for folder in (temp, elsewhere, checkout):
        folder.mkdir()
    (temp / "ev.json").write_text(json.dumps(evidence()))
    got = inputs(
        env={"RUNNER_TEMP": str(temp)},
        workdir=checkout,
        environment="staging",
        from_evidence=str(temp / "ev.json"),
    )
    assert got.deployment_state == "success"
    (elsewhere / "ev.json").write_text(json.dumps(evidence()))
    with pytest.raises(InputError) as caught:
        inputs(workdir=checkout, environment="staging", from_evidence=str(elsewhere / "ev.json"))
    assert caught.value.field == "from-evidence" and "outside the workspace" in caught.value.message
    # GITHUB_WORKSPACE, when set, is the workspace (not the working directory).
    got = inputs(
        env={"GITHUB_WORKSPACE": str(elsewhere)},
        workdir=checkout,
        environment="staging",
        from_evidence=str(elsewhere / "ev.json"),
    )
    assert got.deployment_state == "success"
    # The App key is the operator's own runner file: read wherever it is, never a FIFO.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    (elsewhere / "app.pem").write_text(pem)
    flags = {"app-id": "1", "app-private-key-file": str(elsewhere / "app.pem"), "state": "success"}
    reader = InputReader(env=ENV, flags=flags)
    assert rs.Inputs.from_reader(reader, checkout).auth.private_key == pem
    os.mkfifo(elsewhere / "fifo")
    with pytest.raises(InputError) as caught:
        rs.Inputs.from_reader(
            InputReader(env=ENV, flags={**flags, "app-private-key-file": str(elsewhere / "fifo")}), checkout
        )
    assert caught.value.field == "app-private-key-file" and "not a regular file" in caught.value.message


# -- comment-author and Argo Workflows' job statuses --------------------------------------------


@pytest.mark.parametrize("author", ["my-app[bot]", "release-bot", "A1", "x" * 39])
def test_comment_author_is_a_github_login_and_reaches_the_adapter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, author: str
) -> None:
    fake = FakeReport()
    got = inputs(env=pr_event(tmp_path), state="success", comment="true", comment_author=f" {author} ")
    run_with(monkeypatch, fake, got)
    assert fake.kwargs["comment"]["author"] == author


def test_without_comment_author_the_adapter_finds_our_account_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeReport()
    run_with(monkeypatch, fake, inputs(env=pr_event(tmp_path), state="success", comment="true"))
    assert fake.kwargs["comment"]["author"] is None


@pytest.mark.parametrize(
    "author", ["@my-app[bot]", "-leading", "two words", "my_app", "x" * 40, "app[bot][bot]", "app[Bot]"]
)
def test_a_comment_author_that_is_not_a_github_login_is_refused(tmp_path: Path, author: str) -> None:
    error = refused(
        "comment-author", env=pr_event(tmp_path), state="success", comment="true", comment_author=author
    )
    assert "GitHub login" in error.message and "[bot]" in (error.fix or "")


@pytest.mark.parametrize(
    ("job", "state"), [("Succeeded", "success"), ("Failed", "failure"), ("Error", "error")]
)
def test_argo_workflows_statuses_map_too_and_the_refusal_names_both_kinds(job: str, state: str) -> None:
    assert inputs(job_status=job).state == state
    error = refused("job-status", job_status="Skipped")
    assert "Succeeded, Failed or Error" in (error.fix or "") and "{{workflow.status}}" in (error.fix or "")
    assert "success, failure or cancelled" in (error.fix or "")
