"""``gitops-release report-status``: a GitHub commit status, a Deployment status and a pull request
comment that say how a workflow ended, so GitHub never shows a stale ``pending``.

Flow (docs/report-status.md):

1. ``Inputs.from_reader`` validates every input and resolves every default from the runner's
   environment (repository, the commit: a pull request's head, not the merge commit GITHUB_SHA;
   the run URL; the pull request number), reads the App key file, the results file and the
   ``from-evidence`` bundle (schema-validated). Nothing is sent before all of it passed.
2. ``run`` sends, in this order: the commit status (1 request), the deployment (its status on a
   known ``deployment-id``: 1 request; a new one: list, create, status; ``inactive`` for an
   environment: every live deployment of it set inactive, none created), the pull request
   comment (one per context, found by its hidden marker and edited in place).
3. A failure after something was posted says what was already posted, so a re-run (every write is
   idempotent: the deployment and the comment are found again) is a conscious choice.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from gitops_release.adapters.github import GitHubAuth
from gitops_release.commands.base import Context
from gitops_release.core import report_status as rules
from gitops_release.errors import GitHubAuthError, InputError, ReleaseError
from gitops_release.runtime import InputReader, InputSpec, parse_bool, parse_json, register_secret

# Bounds on what is read from files: a hostile or mistaken path cannot exhaust memory.
MAX_KEY_BYTES = 64 * 1024
MAX_RESULTS_BYTES = 1024 * 1024
MAX_EVIDENCE_BYTES = 16 * 1024 * 1024
MAX_EVENT_BYTES = 25 * 1024 * 1024  # GitHub's webhook payload cap
MAX_PAYLOAD_CHARS = 64 * 1024
PULL_REQUEST_EVENTS = (
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "pull_request_review_comment",
)
_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@+-]{0,254}$")

# The `permissions:` each feature needs (workflow YAML key -> level), for the 403 explanation.
PERMISSIONS = {
    "commit status": ("statuses", "write"),
    "deployment": ("deployments", "write"),
    "comment": ("pull-requests", "write"),
}

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("token", "GitHub token (github.token or a PAT); or a GitHub App below", secret=True),
    InputSpec(
        "app-id",
        "GitHub App ID (with app-private-key or app-private-key-file): an installation token is minted",
    ),
    InputSpec("app-private-key", "the App's private key PEM (masked; never printed)", secret=True),
    InputSpec(
        "app-private-key-file", "file holding the App's private key PEM (at most 64 KiB, a regular file)"
    ),
    InputSpec(
        "installation-id",
        "the App's installation ID (default: found from the repository)",
        kind="int",
        minimum=1,
    ),
    InputSpec(
        "api-url",
        "GitHub API URL (default: GITHUB_API_URL, else https://api.github.com; GHES: https://HOST/api/v3)",
    ),
    InputSpec("repository", "owner/name (default: GITHUB_REPOSITORY)"),
    InputSpec(
        "sha",
        "the commit to report on, 40 or 64 hex (default: the pull request's head on pull_request "
        "events, else GITHUB_SHA)",
    ),
    InputSpec("state", "commit status: pending, success, failure or error", choices=rules.COMMIT_STATES),
    InputSpec(
        "job-status",
        "${{ job.status }}: success -> success, failure -> failure, cancelled -> error; fills state "
        "and deployment-state when they are empty",
    ),
    InputSpec(
        "context",
        "commit status context (release-data-prep on main, release-data-prep/pr on pull requests)",
        default=rules.DEFAULT_CONTEXT,
    ),
    InputSpec("description", "one line for the commit status (and deployment); cut to 140 characters with …"),
    InputSpec("target-url", "link of the commit status (default: this workflow run)"),
    InputSpec(
        "commit-status",
        "post the commit status (false: deployment and comment only)",
        kind="bool",
        default=True,
    ),
    InputSpec("environment", "deployment environment, e.g. staging or production"),
    InputSpec(
        "preview",
        "deploy to preview/pr-<n> (transient, not production) for the pull request",
        kind="bool",
        default=False,
    ),
    InputSpec(
        "pull-request",
        "pull request number (default: the event's) for preview and comment",
        kind="int",
        minimum=1,
    ),
    InputSpec("deployment-id", "update this deployment (no list, no create)", kind="int", minimum=1),
    InputSpec(
        "deployment-state",
        "queued, in_progress, pending, success, failure, error or inactive",
        choices=rules.DEPLOYMENT_STATES,
    ),
    InputSpec("ref", "ref of a new deployment (default: sha)"),
    InputSpec(
        "deployment-description", "description of the deployment and its status (default: description)"
    ),
    InputSpec(
        "auto-merge",
        "let GitHub merge the default branch into ref before deploying",
        kind="bool",
        default=False,
    ),
    InputSpec(
        "required-contexts",
        "commit status contexts that must be success before a deployment is created (default: none)",
        kind="list",
        default=(),
    ),
    InputSpec(
        "transient-environment",
        "the environment goes away (default: true with preview, else false)",
        kind="bool",
    ),
    InputSpec("production-environment", "true / false (default: GitHub decides: environment production)"),
    InputSpec("payload", "JSON object stored with a new deployment"),
    InputSpec("environment-url", "URL of the deployed environment"),
    InputSpec("log-url", "URL of the deployment's log (default: this workflow run)"),
    InputSpec(
        "auto-inactive",
        "a success marks older deployments of the environment inactive",
        kind="bool",
        default=True,
    ),
    InputSpec(
        "comment",
        "on a pull request: one summary comment per context, updated in place",
        kind="bool",
        default=False,
    ),
    InputSpec("results", 'JSON rows for the comment\'s table: [{"name", "result", "details"?, "url"?}]'),
    InputSpec("results-file", "file holding the results JSON (at most 1 MiB)"),
    InputSpec(
        "from-evidence",
        "await-argocd-sync's evidence file: sets deployment-state, description, environment-url, "
        "log-url and sha",
    ),
)


# -- inputs ------------------------------------------------------------------------------------


def read_bounded(
    field_name: str, raw: str, limit: int, *, follow_links: bool, workdir: Path | None = None
) -> str:
    """A regular file's text, at most ``limit`` bytes; ``follow_links=False`` refuses a final
    symbolic link (a file in a checkout may be hostile). Errors name the input, never the content."""
    path = Path(raw)
    if workdir is not None and not path.is_absolute():
        path = workdir / path
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(
            field_name, f"'{raw}' does not exist", fix="give the path of an existing file"
        ) from None
    except OSError as exc:
        if not follow_links and path.is_symlink():
            raise InputError(
                field_name, f"'{raw}' is a symbolic link", fix="give the file itself, not a link to it"
            ) from None
        raise InputError(
            field_name, f"cannot read '{raw}': {exc.strerror or exc}", fix="give a readable file"
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputError(field_name, f"'{raw}' is not a regular file", fix="give the path of a file")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > limit:
            raise InputError(
                field_name, f"'{raw}' is larger than {limit // 1024} KiB", fix="give the right file"
            )
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise InputError(field_name, f"'{raw}' is larger than {limit // 1024} KiB", fix="give the right file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(field_name, f"'{raw}' is not UTF-8 text", fix="give a text file") from None


def _url(field_name: str, value: str | None) -> str | None:
    return None if value is None else rules.check_url(field_name, value)


def run_url(env: Mapping[str, str]) -> str | None:
    """This workflow run's page, or None outside Actions (or when the variables are unusable)."""
    server, repository, run_id = (
        env.get(k, "").strip() for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if not (server and _REPOSITORY.match(repository) and run_id.isdigit()):
        return None
    try:
        return rules.check_url("target-url", f"{server.rstrip('/')}/{repository}/actions/runs/{run_id}")
    except InputError:
        return None


def read_event(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The pull request of a pull_request* event (from GITHUB_EVENT_PATH), or None for other events."""
    if env.get("GITHUB_EVENT_NAME", "") not in PULL_REQUEST_EVENTS:
        return None
    path = env.get("GITHUB_EVENT_PATH", "")
    fix = (
        "pass sha: ${{ github.event.pull_request.head.sha }} (GITHUB_SHA is the merge commit on pull "
        "requests)"
    )
    if not path:
        raise InputError("sha", "GITHUB_EVENT_PATH is not set on a pull request event", fix=fix)
    text = read_bounded("sha", path, MAX_EVENT_BYTES, follow_links=True)
    try:
        event = json.loads(text)
    except ValueError:
        raise InputError("sha", f"the event file {path} is not JSON", fix=fix) from None
    pull = event.get("pull_request") if isinstance(event, dict) else None
    if not isinstance(pull, dict):
        raise InputError("sha", f"the event file {path} has no pull_request", fix=fix)
    return pull


def check_sha(field_name: str, value: str) -> str:
    text = value.strip().lower()
    if not _SHA.match(text):
        raise InputError(
            field_name,
            f"'{value[:80]}' is not a full commit sha",
            fix="give the whole 40 (or 64) hex digit sha, e.g. ${{ github.sha }}",
        )
    return text


def _schema_validator() -> Any:
    from jsonschema import Draft202012Validator

    text = (resources.files("gitops_release") / "schemas" / "evidence.schema.json").read_text(
        encoding="utf-8"
    )
    return Draft202012Validator(json.loads(text))


def load_evidence(raw: str, workdir: Path | None = None) -> rules.EvidenceReport:
    """The evidence bundle: a regular file (no link), bounded, JSON, valid against its schema."""
    from jsonschema.exceptions import best_match

    text = read_bounded("from-evidence", raw, MAX_EVIDENCE_BYTES, follow_links=False, workdir=workdir)
    data = parse_json("from-evidence", text)
    error = best_match(_schema_validator().iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "the document"
        raise InputError(
            "from-evidence",
            f"'{raw}' is not an await-argocd-sync evidence bundle ({where}: {error.message[:200]})",
            fix="give the evidence-path that await-argocd-sync wrote (schemas/evidence.schema.json)",
        )
    return rules.evidence_report(data)


def _job_state(field_name: str, job_status: str, convert: Any) -> str:
    try:
        return str(convert(job_status))
    except ValueError:
        raise InputError(
            field_name,
            f"'{job_status[:40]}' is not a job status",
            fix="pass job-status: ${{ job.status }} (success, failure or cancelled)",
        ) from None


@dataclass(frozen=True)
class Inputs:
    repository: str
    sha: str
    auth: GitHubAuth = field(repr=False)
    api_url: str | None = None
    state: str | None = None
    context: str = rules.DEFAULT_CONTEXT
    description: str = ""
    target_url: str | None = None
    commit_status: bool = True
    environment: str | None = None
    preview: bool = False
    pull_request: int | None = None
    deployment_id: int | None = None
    deployment_state: str | None = None
    ref: str | None = None
    deployment_description: str = ""
    auto_merge: bool = False
    required_contexts: tuple[str, ...] = ()
    transient_environment: bool = False
    production_environment: bool | None = None
    payload: Mapping[str, Any] | None = None
    environment_url: str | None = None
    log_url: str | None = None
    auto_inactive: bool = True
    comment: bool = False
    results: tuple[rules.ResultRow, ...] = ()
    run_url: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def deploys(self) -> bool:
        return self.environment is not None or self.deployment_id is not None

    @classmethod
    def from_reader(cls, reader: InputReader, workdir: Path | None = None) -> Inputs:
        v = {spec.name: reader.get(spec) for spec in INPUTS}
        env = reader.env
        notes: list[str] = []

        # -- credentials (checked before anything else is read from the network)
        key = v["app-private-key"]
        if v["app-private-key-file"] is not None:
            if key is not None:
                raise InputError(
                    "app-private-key-file",
                    "is given together with app-private-key",
                    fix="give the key once: app-private-key (a secret) or app-private-key-file",
                )
            key = read_bounded(
                "app-private-key-file", v["app-private-key-file"], MAX_KEY_BYTES, follow_links=True
            )
            register_secret(key.strip(), announce=env.get("GITHUB_ACTIONS") == "true")
        if v["installation-id"] is not None and not (v["app-id"] or key):
            raise InputError(
                "installation-id", "is given without app-id", fix="give app-id and the App's key too"
            )
        auth = GitHubAuth(
            token=v["token"], app_id=v["app-id"], private_key=key, installation_id=v["installation-id"]
        )
        auth.validate()
        api_url = v["api-url"]
        if api_url is not None:
            api_url = rules.check_url("api-url", api_url).rstrip("/")

        repository = v["repository"] or env.get("GITHUB_REPOSITORY", "").strip()
        if not repository:
            raise InputError(
                "repository", "is not given and GITHUB_REPOSITORY is not set", fix="give owner/name"
            )
        if not _REPOSITORY.match(repository):
            raise InputError(
                "repository", f"'{repository[:80]}' is not owner/name", fix="give e.g. org/config-repo"
            )

        # -- evidence first: it may give the sha, the deployment state and its URLs
        report: rules.EvidenceReport | None = None
        if v["from-evidence"] is not None:
            path = v["from-evidence"]
            where = Path(path) if workdir is None else workdir / path
            if v["job-status"] is not None and not os.path.lexists(where):
                # The always-final step after a job that failed before the wait wrote its evidence.
                notes.append(f"from-evidence: {path} does not exist (the wait did not run); using job-status")
            else:
                report = load_evidence(path, workdir)

        # -- the commit
        pull = read_event(env)
        if v["sha"] is not None:
            sha = check_sha("sha", v["sha"])
        elif report is not None and report.revision and _SHA.match(report.revision.lower()):
            sha = report.revision.lower()
        elif pull is not None:
            head = pull.get("head")
            head_sha = head.get("sha") if isinstance(head, dict) else None
            if not isinstance(head_sha, str):
                raise InputError(
                    "sha",
                    "the pull request event has no head.sha",
                    fix="pass sha: ${{ github.event.pull_request.head.sha }}",
                )
            sha = check_sha("sha", head_sha)
        elif env.get("GITHUB_SHA", "").strip():
            sha = check_sha("sha", env["GITHUB_SHA"])
        else:
            raise InputError("sha", "is not given and GITHUB_SHA is not set", fix="give the commit sha")
        number = v["pull-request"]
        if number is None and pull is not None and isinstance(pull.get("number"), int) and pull["number"] > 0:
            number = int(pull["number"])

        # -- states
        job = v["job-status"]
        state = v["state"]
        if state is None and job is not None:
            state = _job_state("job-status", job, rules.commit_state_for_job)
        elif job is not None:
            _job_state("job-status", job, rules.commit_state_for_job)  # validated even when unused
        context = rules.check_context(v["context"])
        here = run_url(env)
        target_url = _url("target-url", v["target-url"]) if v["target-url"] is not None else here

        # -- deployment
        environment = v["environment"]
        if environment is not None:
            environment = rules.check_environment(environment)
        preview = v["preview"]
        if preview:
            if environment is not None:
                raise InputError(
                    "preview",
                    f"is given with environment '{environment}'",
                    fix="preview: true deploys to preview/pr-<number>; leave environment empty",
                )
            if number is None:
                raise InputError(
                    "preview",
                    "needs a pull request number and this is not a pull request event",
                    fix="run it on pull_request events, or pass pull-request: <number>",
                )
            environment = rules.preview_environment(number)
        deployment_id = v["deployment-id"]
        if deployment_id is not None:
            for name in ("ref", "payload"):
                if v[name] is not None:
                    raise InputError(
                        name,
                        "is given with deployment-id",
                        fix=f"{name} is for a new deployment: drop it, or drop deployment-id",
                    )
        deployment_state = v["deployment-state"]
        if deployment_state is None and report is not None:
            deployment_state = report.state
        if deployment_state is None and job is not None:
            deployment_state = _job_state("job-status", job, rules.deployment_state_for_job)
        deploys = environment is not None or deployment_id is not None
        if deploys and deployment_state is None:
            raise InputError(
                "deployment-state",
                "is required with environment / deployment-id / preview",
                fix="give deployment-state (e.g. in_progress, success), job-status: ${{ job.status }}, "
                "or from-evidence",
            )
        if not deploys:
            for name in ("deployment-state", "from-evidence", "environment-url", "log-url", "ref", "payload"):
                if v[name] is not None:
                    raise InputError(
                        name,
                        "is for a deployment, and no environment, preview or deployment-id is given",
                        fix="add environment: <name> (or preview: true, or deployment-id)",
                    )
        description = rules.cut_description(v["description"] or "")
        deployment_description = v["deployment-description"]
        if deployment_description is None:
            deployment_description = report.description if report is not None else (v["description"] or "")
        ref = v["ref"]
        if ref is not None and not _REF.match(ref.strip()):
            raise InputError(
                "ref", f"'{ref[:80]}' is not a branch, tag or sha", fix="give e.g. main or a sha"
            )
        production = v["production-environment"]
        production_environment = (
            None if production is None else parse_bool("production-environment", production)
        )
        if preview:
            if production_environment:
                raise InputError(
                    "production-environment", "is true with preview", fix="a preview is not production"
                )
            production_environment = False
        transient = v["transient-environment"]
        transient_environment = bool(preview if transient is None else transient)
        payload = None
        if v["payload"] is not None:
            if len(v["payload"]) > MAX_PAYLOAD_CHARS:
                raise InputError("payload", "is longer than 64 KiB", fix="store less with the deployment")
            payload = parse_json("payload", v["payload"])
            if not isinstance(payload, dict):
                raise InputError(
                    "payload", "is not a JSON object", fix='give an object, e.g. {"image": "..."}'
                )
        environment_url = _url("environment-url", v["environment-url"])
        if environment_url is None and report is not None and report.environment_url:
            environment_url = _url("environment-url", report.environment_url)
        log_url = _url("log-url", v["log-url"])
        if log_url is None and report is not None and report.log_url:
            log_url = _url("log-url", report.log_url)
        if log_url is None:
            log_url = here
        required_contexts = tuple(rules.check_context(c) for c in v["required-contexts"])

        # -- comment
        comment = v["comment"]
        text = v["results"]
        results_file = v["results-file"]
        if results_file is not None and v["job-status"] is not None:
            where = Path(results_file) if workdir is None else workdir / results_file
            if not os.path.lexists(where):
                # The always-final step after a job that failed before it wrote its results.
                notes.append(f"results-file: {results_file} does not exist; the comment has no results table")
                results_file = None
        if results_file is not None:
            if text is not None:
                raise InputError("results-file", "is given together with results", fix="give one of them")
            text = read_bounded(
                "results-file", results_file, MAX_RESULTS_BYTES, follow_links=False, workdir=workdir
            )
            results = rules.parse_results(text, "results-file")
        else:
            results = rules.parse_results(text, "results") if text is not None else ()
        if results and not comment:
            raise InputError(
                "results", "is only shown in the comment", fix="add comment: true, or drop results"
            )
        if comment and number is None:
            notes.append("comment: true but this is not a pull request (no pull-request number): no comment")
            comment = False

        # -- something to do
        send_status = v["commit-status"] and state is not None
        if not (send_status or deploys or comment):
            raise InputError(
                "state",
                "nothing to report: no state / job-status"
                + (" (commit-status is false)" if state is not None else "")
                + ", no environment / preview / deployment-id, no comment",
                fix="give state or job-status: ${{ job.status }}, and/or environment with deployment-state",
            )
        if comment and state is None and deployment_state is None:
            raise InputError("comment", "needs a state to show", fix="give state or job-status")

        return cls(
            repository=repository,
            sha=sha,
            auth=auth,
            api_url=api_url,
            state=state,
            context=context,
            description=description,
            target_url=target_url,
            commit_status=send_status,
            environment=environment,
            preview=preview,
            pull_request=number,
            deployment_id=deployment_id,
            deployment_state=deployment_state,
            ref=ref.strip() if ref is not None else None,
            deployment_description=rules.cut_description(deployment_description),
            auto_merge=v["auto-merge"],
            required_contexts=required_contexts,
            transient_environment=transient_environment,
            production_environment=production_environment,
            payload=payload,
            environment_url=environment_url,
            log_url=log_url,
            auto_inactive=v["auto-inactive"],
            comment=comment,
            results=results,
            run_url=here,
            notes=tuple(notes),
        )


# -- outputs -----------------------------------------------------------------------------------


@dataclass
class Outputs:
    repository: str = ""
    sha: str = ""
    context: str = ""
    state: str | None = None
    status_id: int | None = None
    environment: str | None = None
    deployment_state: str | None = None
    deployment_ids: tuple[int, ...] = ()
    deployment_created: bool = False
    deployment_status_id: int | None = None
    comment_id: int | None = None
    comment_state: str | None = None
    posted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status-id": self.status_id,
            "deployment-id": ",".join(str(i) for i in self.deployment_ids),
            "deployment-status-id": self.deployment_status_id,
            "comment-id": self.comment_id,
            "state": self.state,
            "deployment-state": self.deployment_state,
            "environment": self.environment,
            "comment-state": self.comment_state,
        }

    def summary(self) -> str:
        lines = [f"### report-status: {self.repository}@{self.sha[:7]}", ""]
        lines += [f"- {item}" for item in self.posted] or ["- nothing posted"]
        return "\n".join(lines) + "\n"


# -- run ---------------------------------------------------------------------------------------


def permissions_needed(inputs: Inputs) -> str:
    """The job's `permissions:` block this step needs, as one line of YAML (flow style)."""
    wanted = []
    if inputs.commit_status:
        wanted.append(PERMISSIONS["commit status"])
    if inputs.deploys:
        wanted.append(PERMISSIONS["deployment"])
    if inputs.comment:
        wanted.append(PERMISSIONS["comment"])
    return "permissions: {" + ", ".join(f"{k}: {level}" for k, level in wanted) + "}"


def _explained(exc: ReleaseError, inputs: Inputs, outputs: Outputs, doing: str) -> ReleaseError:
    """The error with what it needs said: the permissions YAML for a 403, what was posted before."""
    if isinstance(exc, GitHubAuthError) and getattr(exc, "status", None) == 403 and "lacks" in exc.message:
        who = (
            "the GitHub App (its permissions page, then accept them on the installation)"
            if inputs.auth.uses_app
            else "the job"
        )
        exc.fix = (
            f"add to {who}: {permissions_needed(inputs)} (a job that sets permissions gets only those; "
            "a pull request from a fork gets a read-only token)"
        )
    if outputs.posted:
        exc.message = f"{doing}: {exc.message} (already posted: {'; '.join(outputs.posted)})"
    else:
        exc.message = f"{doing}: {exc.message}"
    exc.args = (exc.message,)
    exc.outputs = outputs
    return exc


def client(inputs: Inputs, ctx: Context) -> Any:
    from gitops_release.adapters.github import github_client

    return github_client(
        inputs.auth, repository=inputs.repository, base_url=inputs.api_url, env=ctx.env, log=ctx.console.info
    )


def run(inputs: Inputs, ctx: Context, *, gh: Any = None) -> Outputs:
    import gitops_release.adapters.github_report as report

    for note in inputs.notes:
        ctx.console.annotation("warning", note, title="report-status")
    gh = gh if gh is not None else client(inputs, ctx)
    short = inputs.sha[:7]
    outputs = Outputs(
        repository=inputs.repository,
        sha=inputs.sha,
        context=inputs.context,
        state=inputs.state,
        environment=inputs.environment,
        deployment_state=inputs.deployment_state,
    )
    doing = "post the commit status"
    try:
        if inputs.commit_status and inputs.state is not None:
            status = report.post_commit_status(
                gh,
                inputs.repository,
                sha=inputs.sha,
                state=inputs.state,
                context=inputs.context,
                description=inputs.description,
                target_url=inputs.target_url,
            )
            outputs.status_id = status.id
            outputs.posted.append(f"commit status {status.state} '{inputs.context}' on {short}")
            ctx.console.info(f"commit status {status.state} '{inputs.context}' on {short} (id {status.id})")
        if inputs.deploys:
            doing = "report the deployment"
            deploy(report, gh, inputs, ctx, outputs)
        if inputs.comment and inputs.pull_request is not None:
            doing = f"comment on pull request #{inputs.pull_request}"
            post_comment(report, gh, inputs, ctx, outputs)
    except ReleaseError as exc:
        raise _explained(exc, inputs, outputs, doing) from None
    return outputs


def deploy(report: Any, gh: Any, inputs: Inputs, ctx: Context, outputs: Outputs) -> None:
    state = inputs.deployment_state
    assert state is not None
    if inputs.deployment_id is None and state == "inactive":
        assert inputs.environment is not None
        # Ending an environment (a closed pull request's preview): never create a deployment for it.
        changed = report.deactivate_environment(gh, inputs.repository, inputs.environment)
        outputs.deployment_ids = tuple(changed)
        if changed:
            ids = ", ".join(str(i) for i in changed)
            outputs.posted.append(f"deployments {ids} of {inputs.environment} set inactive")
            ctx.console.info(f"{inputs.environment}: deployments {ids} set inactive")
        else:
            ctx.console.info(f"{inputs.environment}: no active deployment, nothing to do")
        return
    deployment_id = inputs.deployment_id
    if deployment_id is None:
        assert inputs.environment is not None
        found = report.ensure_deployment(
            gh,
            inputs.repository,
            sha=inputs.sha,
            environment=inputs.environment,
            ref=inputs.ref,
            description=inputs.deployment_description or None,
            auto_merge=inputs.auto_merge,
            required_contexts=inputs.required_contexts,
            transient_environment=inputs.transient_environment,
            production_environment=inputs.production_environment,
            payload=dict(inputs.payload) if inputs.payload is not None else None,
        )
        deployment_id = int(found.id)
        outputs.deployment_created = bool(found.created)
        what = "created" if found.created else "reused"
        outputs.posted.append(f"deployment {deployment_id} to {inputs.environment} {what}")
        ctx.console.info(f"deployment {deployment_id} to {inputs.environment} ({what})")
    outputs.deployment_ids = (deployment_id,)
    posted = report.post_deployment_status(
        gh,
        inputs.repository,
        deployment_id,
        state=state,
        description=inputs.deployment_description or None,
        environment_url=inputs.environment_url,
        log_url=inputs.log_url,
        auto_inactive=inputs.auto_inactive,
    )
    outputs.deployment_status_id = posted.id
    outputs.posted.append(f"deployment {deployment_id} status {posted.state}")
    ctx.console.info(f"deployment {deployment_id}: {posted.state} (status id {posted.id})")


def post_comment(report: Any, gh: Any, inputs: Inputs, ctx: Context, outputs: Outputs) -> None:
    number = inputs.pull_request
    assert number is not None
    state = inputs.state if inputs.state is not None else inputs.deployment_state
    assert state is not None  # from_reader refuses a comment with no state to show
    body = rules.render_comment(
        context=inputs.context,
        state=state,
        sha=inputs.sha,
        description=inputs.description or inputs.deployment_description,
        target_url=inputs.target_url or "",
        results=inputs.results,
        repository=inputs.repository,
        run_url=inputs.run_url or "",
        when=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )
    context = inputs.context
    comment_id, comment_state = report.upsert_marked_comment(
        gh, inputs.repository, number, marker_matches=lambda text: rules.is_marked(text, context), body=body
    )
    outputs.comment_id = int(comment_id)
    outputs.comment_state = str(comment_state)
    if comment_state != "not-updated":
        outputs.posted.append(f"comment {comment_id} on #{number} {comment_state}")
    ctx.console.info(f"pull request #{number}: comment {comment_id} {comment_state}")
