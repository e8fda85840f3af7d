"""The GitHub sandbox answers with every key GitHub's recorded answers have (../shared/corpus/github-deploy).

For each recorded object kind (deployment, deployment status, commit status, combined status,
pull request) the sandbox does the same operation and its answer must hold every key of the
recording, recursively (nested objects; a list's first item). Keys the sandbox has beyond the
recording are allowed: GitHub added keys since these recordings were made (2013-2024). The keys
deliberately not emulated are listed in NOT_EMULATED with the reason.

The cassettes are read in both formats SOURCES.md describes: octokit.rb's VCR (methods lower
case, header values as lists, ``base64_string`` of the raw body) and github3.py's betamax
(``base64_string`` of a gzip stream, or ``string``).
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from gitops_release.sandbox.github import GitHubSandbox
from gitops_release.sandbox.github.git import _git

#: Byte-exact copies of ../shared/corpus/github-deploy (SOURCES.md there: upstreams and licences).
CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "corpus" / "github-deploy"
REPO = "org/app"
AUTH = {"Authorization": "token sandbox-token"}

#: Recorded keys the sandbox does not send, on purpose: (kind, JSON path) -> why.
NOT_EMULATED: dict[tuple[str, str], str] = {
    ("deployment", "$.payload.environment"): "the payload is the client's own data, not GitHub's shape",
    (
        "pull request",
        "$.body_html",
    ): "sent only for Accept: application/vnd.github.full+json (github3.py asks "
    "for it); the sandbox renders no Markdown",
    ("pull request", "$.body_text"): "as body_html",
    ("pull request", "$[0].body_html"): "as body_html",
    ("pull request", "$[0].body_text"): "as body_html",
}


def cassette_body(body: dict[str, Any]) -> Any:
    """A recorded response body as JSON, from either cassette format."""
    if body.get("string"):
        return json.loads(body["string"])
    raw = base64.b64decode(body.get("base64_string") or "")
    if raw[:2] == b"\x1f\x8b":  # betamax keeps the gzip stream GitHub sent
        raw = gzip.decompress(raw)
    return json.loads(raw) if raw.strip() else None


def recorded(file: str, method: str, path_part: str) -> Any:
    """The body of the first successful ``method`` exchange whose URI contains ``path_part``."""
    cassette = json.loads((CORPUS / file).read_text(encoding="utf-8"))
    for exchange in cassette["http_interactions"]:
        request, response = exchange["request"], exchange["response"]
        if request["method"].upper() == method and path_part in request["uri"]:
            if 200 <= int(response["status"]["code"]) < 300:
                return cassette_body(response["body"])
    raise AssertionError(f"{file}: no successful {method} …{path_part}… exchange")


def missing_keys(ours: Any, theirs: Any, where: str = "$") -> list[str]:
    """JSON paths of keys the recording has and ours lacks (null on either side matches anything)."""
    if ours is None or theirs is None:
        return []
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{where}: not an object"]
        found = [f"{where}.{key}" for key in theirs if key not in ours]
        for key in theirs:
            if key in ours:
                found += missing_keys(ours[key], theirs[key], f"{where}.{key}")
        return found
    if isinstance(theirs, list) and theirs and isinstance(theirs[0], (dict, list)):
        if not isinstance(ours, list) or not ours:
            return [f"{where}: an empty or non-list answer cannot show the recorded items' keys"]
        return missing_keys(ours[0], theirs[0], f"{where}[0]")
    return []


def test_missing_keys_finds_nested_and_listed_keys() -> None:
    assert missing_keys({"a": 1, "extra": 2}, {"a": 3}) == []
    assert missing_keys({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == ["$.a.c"]
    assert missing_keys([{"a": 1}], [{"a": 1, "b": 2}]) == ["$[0].b"]
    assert missing_keys([], [{"a": 1}]) == [
        "$: an empty or non-list answer cannot show the recorded items' keys"
    ]
    assert missing_keys({"a": None}, {"a": {"b": 1}}) == []
    assert missing_keys({"topics": []}, {"topics": ["x"]}) == []  # a list of strings has no keys


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sandbox's answers to the recorded operations, made once."""
    with GitHubSandbox(tmp_path_factory.mktemp("github-sandbox")) as gh:
        gh.create_repo(REPO, files={"README.md": "# app\n"})
        base = f"{gh.url}/repos/{REPO}"

        def call(method: str, url: str, **kwargs: Any) -> Any:
            answer = requests.request(method, f"{base}{url}", headers=AUTH, timeout=10, **kwargs)
            assert answer.status_code < 300, (method, url, answer.text)
            return answer.json()

        sha = call("GET", "/git/ref/heads/main")["object"]["sha"]
        git_dir = gh._repos[REPO].git_dir
        tree = _git(git_dir, "rev-parse", f"{sha}^{{tree}}").stdout.strip()
        topic = _git(git_dir, "commit-tree", tree, "-p", sha, "-m", "topic").stdout.strip()
        _git(git_dir, "update-ref", "refs/heads/topic", topic)
        status = {
            "state": "success",
            "context": "ci",
            "target_url": "https://ci.example/1",
            "description": "ok",
        }
        result = {"commit status": call("POST", f"/statuses/{sha}", json=status)}
        result["commit statuses"] = call("GET", f"/commits/{sha}/statuses")
        result["combined status"] = call("GET", f"/commits/{sha}/status")
        deployment = call(
            "POST", "/deployments", json={"ref": "main", "payload": {"a": 1}, "description": "d"}
        )
        result["deployment"] = deployment
        result["deployments"] = call("GET", "/deployments")
        result["one deployment"] = call("GET", f"/deployments/{deployment['id']}")
        statuses = f"/deployments/{deployment['id']}/statuses"
        result["deployment status"] = call(
            "POST", statuses, json={"state": "success", "log_url": "https://l"}
        )
        result["deployment statuses"] = call("GET", statuses)
        pull = call("POST", "/pulls", json={"title": "t", "head": "topic", "base": "main", "draft": True})
        result["pull request"] = pull
        result["pull requests"] = call("GET", "/pulls", params={"state": "all"})
        result["closed pull request"] = call("PATCH", f"/pulls/{pull['number']}", json={"state": "closed"})
        assert gh.violations == []
    return result


CASES = [
    ("commit status", "commit status", "octokit-rb/status-create.creates_status.json", "POST", "/statuses/"),
    ("commit status", "commit status", "github3py/Repository_create_status.json", "POST", "/statuses/"),
    (
        "commit status",
        "commit statuses",
        "octokit-rb/statuses-list.lists_commit_statuses.json",
        "GET",
        "/statuses/",
    ),
    (
        "combined status",
        "combined status",
        "octokit-rb/combined-status.gets_a_combined_status.json",
        "GET",
        "/status",
    ),
    ("combined status", "combined status", "github3py/RepoCommit_status.json", "GET", "/status"),
    (
        "deployment",
        "deployment",
        "octokit-rb/deployments-create-with-payload.creates_a_deployment_with_a_payload.json",
        "POST",
        "/deployments",
    ),
    (
        "deployment",
        "deployment",
        "octokit-rb/deployments-create.creates_a_deployment.json",
        "POST",
        "/deployments",
    ),
    ("deployment", "deployment", "github3py/Repository_create_deployment.json", "POST", "/deployments"),
    ("deployment", "deployments", "github3py/Repository_deployments.json", "GET", "/deployments"),
    (
        "deployment",
        "one deployment",
        "octokit-rb/deployment-status-create.creates_a_deployment_status.json",
        "GET",
        "/deployments/",
    ),
    (
        "deployment status",
        "deployment status",
        "octokit-rb/deployment-status-create.creates_a_deployment_status.json",
        "POST",
        "/statuses",
    ),
    (
        "deployment status",
        "deployment status",
        "github3py/Deployment_create_status.json",
        "POST",
        "/statuses",
    ),
    ("deployment status", "deployment statuses", "github3py/Deployment_statuses.json", "GET", "/statuses"),
    (
        "pull request",
        "pull request",
        "octokit-rb/pull-create-draft.creates_a_draft_pull_request.json",
        "POST",
        "/pulls",
    ),
    (
        "pull request",
        "closed pull request",
        "octokit-rb/pull-create-draft.creates_a_draft_pull_request.json",
        "PATCH",
        "/pulls/",
    ),
    ("pull request", "pull request", "github3py/Repository_create_pull.json", "POST", "/pulls"),
    ("pull request", "pull requests", "github3py/Repository_pull_requests.json", "GET", "/pulls"),
]


@pytest.mark.parametrize(("kind", "answer", "file", "method", "path_part"), CASES, ids=[c[2] for c in CASES])
def test_sandbox_answer_has_every_recorded_key(
    answers: dict[str, Any], kind: str, answer: str, file: str, method: str, path_part: str
) -> None:
    theirs = recorded(file, method, path_part)
    missing = [path for path in missing_keys(answers[answer], theirs) if (kind, path) not in NOT_EMULATED]
    assert missing == [], f"{answer}: keys GitHub sent ({file}) that the sandbox lacks"


def test_every_recorded_object_kind_is_compared() -> None:
    kinds = {case[0] for case in CASES}
    assert kinds == {"deployment", "deployment status", "commit status", "combined status", "pull request"}
    successful_files = {
        str(path.relative_to(CORPUS))
        for path in CORPUS.glob("*/*.json")
        if "422" not in path.name  # the one recording of a refusal: no object to compare
    }
    assert successful_files == {case[2] for case in CASES} | {
        "octokit-rb/deployments-list.lists_deployments.json",  # an empty body (nothing to compare)
        "octokit-rb/deployment-statuses-list.lists_deployment_statuses.json",  # an empty list `[]`
    }
