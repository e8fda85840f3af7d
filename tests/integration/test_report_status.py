"""``gitops-release report-status`` end to end against the GitHub sandbox, through the CLI as the
action runs it (INPUT_* variables, GITHUB_OUTPUT, the step summary): request counts, the commit a
pull request reports on, deployments reused, previews ended, one comment per context, evidence,
App auth, explained refusals, and nothing sent for invalid input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from gitops_release.adapters.github import GitHubAuth, github_client
from gitops_release.cli import main
from gitops_release.core.report_status import comment_marker
from gitops_release.sandbox.github_api import GitHubSandbox
from tests.fixtures.github_sandbox import SANDBOX_REPO, SANDBOX_TOKEN, push_branch, rsa_key_pair
from tests.unit.commands.test_report_status import evidence

REPO = SANDBOX_REPO
RUN_URL = "https://github.com/org/app/actions/runs/99"


pytestmark = pytest.mark.usefixtures("fresh_app_tokens")


class Step:
    """One run of the action's step: its exit code, outputs, log and summary."""

    def __init__(self, rc: int, outputs: dict[str, str], log: str, summary: str) -> None:
        self.rc, self.outputs, self.log, self.summary = rc, outputs, log, summary

    @property
    def error(self) -> str:
        return next((line for line in self.log.splitlines() if line.startswith("::error")), "")


def read_outputs(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: dict[str, str] = {}
    index = 0
    while index < len(lines):
        name, _, delimiter = lines[index].partition("<<")
        end = lines.index(delimiter, index + 1)
        found[name] = "\n".join(lines[index + 1 : end])
        index = end + 1
    return found


@pytest.fixture
def step(github_sandbox: GitHubSandbox, head: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    def run(env: dict[str, str] | None = None, **inputs: str) -> Step:
        output, summary = tmp_path / "output.txt", tmp_path / "summary.md"
        output.write_text("")
        summary.write_text("")
        variables = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_API_URL": github_sandbox.url,
            "GITHUB_REPOSITORY": REPO,
            "GITHUB_SHA": head,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "99",
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_WORKSPACE": str(tmp_path),  # results-file / from-evidence must be inside it
            "INPUT_TOKEN": SANDBOX_TOKEN,
        }
        variables.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
        variables.update(env or {})
        rc = main(["report-status"], variables)
        captured = capsys.readouterr()
        return Step(rc, read_outputs(output), captured.out + captured.err, summary.read_text())

    return run


def sent(sandbox: GitHubSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path.split("?")[0]) for r in sandbox.requests]


def open_pull(sandbox: GitHubSandbox, tmp_path: Path, branch: str = "feature") -> tuple[int, str]:
    work = push_branch(sandbox, tmp_path, branch)
    gh = github_client(GitHubAuth(token=SANDBOX_TOKEN), base_url=sandbox.url, env={})
    number = int(gh.get_repo(REPO).create_pull(base="main", head=f"org:{branch}", title="t", body="b").number)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True, check=True
    ).stdout.strip()
    sandbox.requests.clear()
    return number, sha


def pr_event(tmp_path: Path, number: int, sha: str, action: str = "synchronize") -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {"action": action, "number": number, "pull_request": {"number": number, "head": {"sha": sha}}}
        )
    )
    return {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)}


# -- commit status ------------------------------------------------------------------------------


def test_commit_status_is_one_request_linking_the_run(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    done = step(state="pending", description="Preparing release data")
    assert done.rc == 0, done.log
    assert sent(github_sandbox) == [("POST", f"/repos/{REPO}/statuses/{head}")]
    [status] = github_sandbox.statuses(REPO, head)
    assert (status["state"], status["context"], status["target_url"]) == (
        "pending",
        "release-data-prep",
        RUN_URL,
    )
    assert done.outputs["status-id"] == str(status["id"]) and done.outputs["state"] == "pending"
    assert done.outputs["deployment-id"] == "" and "commit status pending" in done.summary


@pytest.mark.parametrize(
    ("job", "state"), [("success", "success"), ("failure", "failure"), ("cancelled", "error")]
)
def test_the_always_final_step_maps_job_status(
    github_sandbox: GitHubSandbox, head: str, step: Any, job: str, state: str
) -> None:
    assert step(state="pending").rc == 0
    done = step(job_status=job, context="release-data-prep")
    assert done.rc == 0, done.log
    statuses = github_sandbox.statuses(REPO, head)
    assert [s["state"] for s in statuses] == ["pending", state]


def test_a_long_description_is_cut_never_a_422(github_sandbox: GitHubSandbox, head: str, step: Any) -> None:
    done = step(state="failure", description="Release data prep failed: " + "x" * 300)
    assert done.rc == 0, done.log
    description = github_sandbox.statuses(REPO, head)[0]["description"]
    assert len(description) == 140 and description.endswith("…")


def test_invalid_input_sends_nothing(github_sandbox: GitHubSandbox, head: str, step: Any) -> None:
    for inputs in (
        {"state": "success", "target_url": "https://user:secret@example.org/x"},
        {"state": "success", "environment": "staging", "deployment_state": "done"},
        {"job_status": "skipped"},
        {"state": "success", "sha": "abc1234"},
    ):
        done = step(**inputs)
        assert done.rc == 1 and "Invalid input" in done.error, (inputs, done.log)
    assert github_sandbox.requests == [] and github_sandbox.statuses(REPO, head) == []


# -- deployments --------------------------------------------------------------------------------


def test_deployment_created_once_then_reused_then_updated_by_id(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    first = step(commit_status="false", environment="staging", deployment_state="in_progress")
    assert first.rc == 0, first.log
    assert sent(github_sandbox) == [
        ("GET", f"/repos/{REPO}/deployments"),
        ("POST", f"/repos/{REPO}/deployments"),
        ("POST", f"/repos/{REPO}/deployments/{first.outputs['deployment-id']}/statuses"),
    ]
    github_sandbox.requests.clear()
    again = step(commit_status="false", environment="staging", job_status="success")
    assert again.outputs["deployment-id"] == first.outputs["deployment-id"]
    assert [m for m, _ in sent(github_sandbox)] == ["GET", "POST"]
    github_sandbox.requests.clear()
    by_id = step(
        commit_status="false", deployment_id=first.outputs["deployment-id"], deployment_state="failure"
    )
    assert by_id.rc == 0 and len(github_sandbox.requests) == 1
    [deployment] = github_sandbox.deployments(REPO)
    assert (deployment["sha"], deployment["environment"], deployment["transient_environment"]) == (
        head,
        "staging",
        False,
    )
    states = [s["state"] for s in github_sandbox.deployment_statuses(REPO, deployment["id"])]
    assert sorted(states) == ["failure", "in_progress", "success"]
    assert github_sandbox.deployment_statuses(REPO, deployment["id"])[0]["log_url"] == RUN_URL


def test_commit_status_and_deployment_in_one_step(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    done = step(job_status="cancelled", environment="staging", environment_url="https://staging.example.org")
    assert done.rc == 0, done.log
    assert github_sandbox.statuses(REPO, head)[0]["state"] == "error"
    [deployment] = github_sandbox.deployments(REPO)
    [status] = github_sandbox.deployment_statuses(REPO, deployment["id"])
    assert (status["state"], status["environment_url"]) == ("error", "https://staging.example.org")
    assert len(github_sandbox.requests) == 4


def test_inactive_for_an_environment_deactivates_and_never_creates(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    nothing = step(commit_status="false", environment="preview/pr-1", deployment_state="inactive")
    assert nothing.rc == 0 and nothing.outputs["deployment-id"] == ""
    assert github_sandbox.deployments(REPO) == []
    made = step(commit_status="false", environment="preview/pr-1", deployment_state="success")
    github_sandbox.requests.clear()
    ended = step(commit_status="false", environment="preview/pr-1", deployment_state="inactive")
    assert ended.outputs["deployment-id"] == made.outputs["deployment-id"]
    assert len(github_sandbox.deployments(REPO)) == 1
    statuses = github_sandbox.deployment_statuses(REPO, int(made.outputs["deployment-id"]))
    assert sorted(s["state"] for s in statuses) == ["inactive", "success"]
    github_sandbox.requests.clear()
    assert step(commit_status="false", environment="preview/pr-1", deployment_state="inactive").rc == 0
    assert all(method == "GET" for method, _ in sent(github_sandbox))  # already inactive: no write


def test_preview_on_a_pull_request_uses_its_head_not_the_merge_commit(
    github_sandbox: GitHubSandbox, head: str, step: Any, tmp_path: Path
) -> None:
    number, pr_head = open_pull(github_sandbox, tmp_path)
    env = pr_event(tmp_path, number, pr_head)  # GITHUB_SHA stays main's commit: the "merge commit"
    done = step(env=env, preview="true", job_status="success", context="release-data-prep/pr")
    assert done.rc == 0, done.log
    assert done.outputs["environment"] == f"preview/pr-{number}"
    assert [s["context"] for s in github_sandbox.statuses(REPO, pr_head)] == ["release-data-prep/pr"]
    assert github_sandbox.statuses(REPO, head) == []
    [deployment] = github_sandbox.deployments(REPO)
    assert deployment["sha"] == pr_head and deployment["environment"] == f"preview/pr-{number}"
    assert deployment["transient_environment"] is True and deployment["production_environment"] is False
    closed = step(
        env=pr_event(tmp_path, number, pr_head, "closed"), preview="true", deployment_state="inactive"
    )
    assert closed.rc == 0 and closed.outputs["deployment-id"] == str(deployment["id"])
    assert github_sandbox.deployment_statuses(REPO, deployment["id"])[-1]["state"] == "inactive"


# -- comment ------------------------------------------------------------------------------------


def test_one_comment_per_context_updated_in_place_and_a_planted_marker_ignored(
    github_sandbox: GitHubSandbox, head: str, step: Any, tmp_path: Path
) -> None:
    number, pr_head = open_pull(github_sandbox, tmp_path)
    marker = comment_marker("release-data-prep/pr")
    planted = github_sandbox.add_comment(
        REPO, number, f"{marker}\nplanted", login="drive-by", association="NONE"
    )
    env = pr_event(tmp_path, number, pr_head)
    rows = json.dumps([{"name": "schema", "result": "pass", "details": "12 files"}])
    first = step(env=env, state="pending", context="release-data-prep/pr", comment="true", results=rows)
    assert first.rc == 0, first.log
    assert first.outputs["comment-state"] == "created"
    second = step(env=env, job_status="failure", context="release-data-prep/pr", comment="true")
    assert second.outputs["comment-id"] == first.outputs["comment-id"]
    assert second.outputs["comment-state"] == "updated"
    other = step(env=env, state="success", context="release-data-prep", comment="true")
    assert other.outputs["comment-id"] != first.outputs["comment-id"]
    comments = github_sandbox.comments(REPO, number)
    assert [c["id"] for c in comments] == [
        planted["id"],
        int(first.outputs["comment-id"]),
        int(other.outputs["comment-id"]),
    ]
    assert comments[0]["body"] == f"{marker}\nplanted"
    ours = comments[1]["body"]
    assert ours.startswith(marker + "\n") and "release-data-prep/pr: failure" in ours


def test_comment_author_finds_another_apps_comment_without_asking_github_who_we_are(
    github_sandbox: GitHubSandbox, head: str, step: Any, tmp_path: Path
) -> None:
    """token: an installation token of another App (e.g. actions/create-github-app-token): GitHub
    does not tell its account (GET /user answers 403), so comment-author names it."""
    number, pr_head = open_pull(github_sandbox, tmp_path)
    app_token = "ghs_otherAppInstallationToken01"
    github_sandbox.add_token(app_token, login="my-app[bot]")
    env = {**pr_event(tmp_path, number, pr_head), "INPUT_TOKEN": app_token}
    marker = comment_marker("release-data-prep/pr")
    theirs = github_sandbox.add_comment(
        REPO, number, f"{marker}\nanother account's", login="github-actions[bot]"
    )
    ours = github_sandbox.add_comment(REPO, number, f"{marker}\nthe last run's", login="my-app[bot]")
    done = step(
        env=env, state="success", context="release-data-prep/pr", comment="true", comment_author="my-app[bot]"
    )
    assert done.rc == 0, done.log
    assert (done.outputs["comment-id"], done.outputs["comment-state"]) == (str(ours["id"]), "updated")
    assert ("GET", "/user") not in sent(github_sandbox)
    bodies = {c["id"]: c["body"] for c in github_sandbox.comments(REPO, number)}
    assert bodies == {theirs["id"]: f"{marker}\nanother account's", ours["id"]: bodies[ours["id"]]}
    assert "release-data-prep/pr: success" in bodies[ours["id"]]
    # Without it the step asks GitHub (403: taken as github-actions[bot]) and misses the App's own.
    github_sandbox.requests.clear()
    guessed = step(env=env, state="failure", context="release-data-prep/pr", comment="true")
    assert ("GET", "/user") in sent(github_sandbox)
    assert guessed.outputs["comment-id"] != str(ours["id"]), guessed.log


def test_a_bad_comment_author_sends_nothing(github_sandbox: GitHubSandbox, head: str, step: Any) -> None:
    done = step(state="success", comment="true", comment_author="@my-app[bot]")
    assert done.rc != 0 and "input 'comment-author'" in done.error
    assert sent(github_sandbox) == []


def test_comment_outside_a_pull_request_warns_and_posts_the_status(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    done = step(state="success", comment="true")
    assert done.rc == 0 and "::warning" in done.log and "not a pull request" in done.log
    assert sent(github_sandbox) == [("POST", f"/repos/{REPO}/statuses/{head}")]


# -- from-evidence ------------------------------------------------------------------------------


def test_from_evidence_reports_what_argo_cd_did(
    github_sandbox: GitHubSandbox, head: str, step: Any, tmp_path: Path
) -> None:
    path = tmp_path / "argocd-evidence.json"
    path.write_text(json.dumps(evidence(outcome="failed", revision=head)))
    done = step(commit_status="false", environment="staging", from_evidence=str(path), job_status="failure")
    assert done.rc == 0, done.log
    [deployment] = github_sandbox.deployments(REPO)
    [status] = github_sandbox.deployment_statuses(REPO, deployment["id"])
    assert status["state"] == "failure" and status["description"].startswith("Argo CD: web failed")
    assert status["environment_url"] == "https://argocd.example.org/applications/argocd/web"
    assert status["log_url"] == "https://github.com/org/config/actions/runs/77"
    assert deployment["sha"] == head


# -- auth, GHES, secrets ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    """PKCS#1 private PEM ("BEGIN RSA PRIVATE KEY"), the format GitHub hands out for App keys."""
    return rsa_key_pair(serialization.PrivateFormat.TraditionalOpenSSL)


def test_github_app_from_a_key_file_installation_discovered_key_and_token_masked(
    github_sandbox: GitHubSandbox, head: str, step: Any, tmp_path: Path, app_key: tuple[str, str]
) -> None:
    github_sandbox.register_app(4242, app_key[1], installations={REPO: 77})
    key_file = tmp_path / "app.pem"
    key_file.write_text(app_key[0])
    done = step(env={"INPUT_TOKEN": ""}, app_id="4242", app_private_key_file=str(key_file), state="success")
    assert done.rc == 0, done.log
    assert sent(github_sandbox)[:2] == [
        ("GET", f"/repos/{REPO}/installation"),
        ("POST", "/app/installations/77/access_tokens"),
    ]
    assert github_sandbox.statuses(REPO, head)[0]["creator"]["login"] == "sandbox-app-4242[bot]"
    masks = {
        line.removeprefix("::add-mask::") for line in done.log.splitlines() if line.startswith("::add-mask::")
    }
    key_lines = [line for line in app_key[0].splitlines() if "-----" not in line]
    assert set(key_lines) <= masks
    visible = "\n".join(line for line in done.log.splitlines() if not line.startswith("::add-mask::"))
    for secret in key_lines:
        assert secret not in visible and secret not in done.summary and secret not in json.dumps(done.outputs)


def test_a_malformed_app_key_is_explained_without_echoing_it(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    body = "MIIEsecretmaterial0123456789abcdefghij"
    done = step(
        env={"INPUT_TOKEN": ""},
        app_id="4242",
        app_private_key=f"-----BEGIN PRIVATE KEY-----\n{body}",
        state="success",
    )
    assert done.rc == 1 and "input 'app-private-key'" in done.error
    assert body not in done.error and body not in done.summary
    assert github_sandbox.requests == []


def test_github_enterprise_server_through_github_api_url(
    github_sandbox: GitHubSandbox, head: str, step: Any, tmp_path: Path, app_key: tuple[str, str]
) -> None:
    """GHES runners set GITHUB_API_URL=https://HOST/api/v3: every request, the App's included, goes there."""
    github_sandbox.register_app(4242, app_key[1], installations={REPO: 77})
    key_file = tmp_path / "app.pem"
    key_file.write_text(app_key[0])
    env = {"GITHUB_API_URL": github_sandbox.ghes_url, "INPUT_TOKEN": ""}
    done = step(
        env=env, app_id="4242", app_private_key_file=str(key_file), job_status="success", environment="prod"
    )
    assert done.rc == 0, done.log
    assert len(github_sandbox.statuses(REPO, head)) == 1 and len(github_sandbox.deployments(REPO)) == 1
    assert github_sandbox.requests and all(r.path.startswith("/api/v3/") for r in github_sandbox.requests)


def test_the_token_never_shows(github_sandbox: GitHubSandbox, head: str, step: Any) -> None:
    github_sandbox.add_token("ghs_secretInstallationToken01", permissions={"contents": "write"})
    done = step(env={"INPUT_TOKEN": "ghs_secretInstallationToken01"}, state="success")
    assert done.rc == 1
    assert "::add-mask::ghs_secretInstallationToken01" in done.log
    visible = "\n".join(line for line in done.log.splitlines() if not line.startswith("::add-mask::"))
    assert "ghs_secretInstallationToken01" not in visible + done.summary


# -- refusals explained -------------------------------------------------------------------------


def test_403_names_the_permissions_yaml_and_what_was_already_posted(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    github_sandbox.add_token("statuses-only", permissions={"statuses": "write"})
    done = step(env={"INPUT_TOKEN": "statuses-only"}, job_status="success", environment="staging")
    assert done.rc == 1
    assert "Resource not accessible by integration" in done.error
    assert "already posted: commit status success 'release-data-prep' on " + head[:7] in done.error
    assert "permissions: {statuses: write, deployments: write}" in done.error
    assert done.outputs["status-id"] and done.outputs["deployment-id"] == ""
    assert github_sandbox.deployments(REPO) == []


def test_403_on_the_commit_status_names_statuses_write(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    github_sandbox.add_token("read-only", permissions={"contents": "read"})
    done = step(env={"INPUT_TOKEN": "read-only"}, state="pending")
    assert (
        done.rc == 1 and "permissions: {statuses: write}" in done.error and "already posted" not in done.error
    )


def test_404_and_422_are_explained(github_sandbox: GitHubSandbox, head: str, step: Any) -> None:
    missing = step(state="success", repository="org/missing")
    assert missing.rc == 1 and "org/missing not found or the token cannot see it" in missing.error
    unknown = step(state="success", sha="0" * 40)
    assert (
        unknown.rc == 1 and "input 'sha'" in unknown.error and "is not a commit of org/app" in unknown.error
    )
    gone = step(commit_status="false", deployment_id="987654", deployment_state="success")
    assert gone.rc == 1 and "input 'deployment-id'" in gone.error


# -- every deployment option reaches GitHub as given (each would be lost without its pass-through) -


def test_every_deployment_option_is_sent_as_given(
    github_sandbox: GitHubSandbox, head: str, step: Any
) -> None:
    for context in ("release-data-prep", "lint"):  # the required contexts pass
        assert step(state="success", context=context).rc == 0
    github_sandbox.requests.clear()
    done = step(
        commit_status="false",
        environment="production",
        deployment_state="success",
        ref="main",
        deployment_description="web 1.2 to production",
        required_contexts="release-data-prep\nlint",  # a YAML block: one per line
        payload='{"image": "web:1.2", "replicas": 3}',
        auto_merge="true",
        production_environment="true",
        transient_environment="true",
        auto_inactive="false",
        environment_url="https://web.example.org",
        log_url="https://ci.example.org/runs/1",
    )
    assert done.rc == 0, done.log
    listed, created, status = github_sandbox.requests
    assert (listed.method, created.method, created.path) == ("GET", "POST", f"/repos/{REPO}/deployments")
    assert created.body == {
        "ref": "main",
        "environment": "production",
        "task": "deploy",
        "auto_merge": True,
        "required_contexts": ["release-data-prep", "lint"],
        "transient_environment": True,
        "description": "web 1.2 to production",
        "production_environment": True,
        "payload": {"image": "web:1.2", "replicas": 3},
    }
    assert status.body == {
        "state": "success",
        "auto_inactive": False,
        "description": "web 1.2 to production",
        "environment_url": "https://web.example.org",
        "log_url": "https://ci.example.org/runs/1",
    }
    github_sandbox.requests.clear()
    again = step(
        commit_status="false",
        deployment_id=done.outputs["deployment-id"],
        deployment_state="success",
        auto_inactive="true",
    )
    assert again.rc == 0, again.log
    [status] = github_sandbox.requests
    assert status.body == {"state": "success", "auto_inactive": True, "log_url": RUN_URL}
    # Not production and not transient unless said: GitHub's defaults are left to GitHub.
    github_sandbox.requests.clear()
    assert step(commit_status="false", environment="qa", deployment_state="queued").rc == 0
    created = github_sandbox.requests[1]
    assert "production_environment" not in created.body and created.body["transient_environment"] is False
    assert created.body["required_contexts"] == [] and "payload" not in created.body


def test_the_always_final_step_with_a_broken_results_file_posts_error_then_fails(
    github_sandbox: GitHubSandbox, step: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, sha = open_pull(github_sandbox, tmp_path)
    monkeypatch.chdir(tmp_path)  # the runner's working directory: the workspace
    event = pr_event(tmp_path, number, sha)
    (tmp_path / "results.json").write_text('[{"name": "schema", "res')  # the prep died mid-write
    done = step(
        env=event,
        context="release-data-prep/pr",
        job_status="success",
        comment="true",
        results_file="results.json",
    )
    assert done.rc != 0 and "input 'results-file': is not valid JSON" in done.error, done.log
    assert "posted anyway" in done.error
    assert any(line.startswith("::warning") and "results-file" in line for line in done.log.splitlines())
    [status] = github_sandbox.statuses(REPO, sha)
    # what the prep produced is unknown: not a success
    assert (status["state"], status["context"]) == ("error", "release-data-prep/pr")
    assert status["description"].startswith("results-file unreadable")
    assert done.outputs["state"] == "error" and done.outputs["comment-state"] == "created"
