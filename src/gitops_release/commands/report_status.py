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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from gitops_release.adapters.github import GitHubAuth
from gitops_release.adapters.http import api_base_url
from gitops_release.commands.base import Context
from gitops_release.core import report_status as rules
from gitops_release.errors import GitHubAuthError, GitHubValidationError, InputError, ReleaseError
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
# A GitHub login (letters, digits, hyphens, at most 39, not starting with a hyphen), or an App's bot
# account `<slug>[bot]`.
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?$")

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
        "${{ job.status }}: success -> success, failure -> failure, cancelled -> error (or Argo "
        "Workflows' {{workflow.status}}: Succeeded, Failed, Error); fills state and deployment-state "
        "when they are empty",
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
    InputSpec(
        "comment-author",
        "the login whose marked comment is ours, e.g. my-app[bot] (default: the token's or App's account)",
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


def allowed_roots(env: Mapping[str, str], workdir: Path | None) -> tuple[Path, ...]:
    """Where results-file and from-evidence may be: the workspace (GITHUB_WORKSPACE, else the
    working directory) and RUNNER_TEMP. Anything else (a folder a pull request made a symbolic
    link to /, the runner's home) is out of reach of a hostile checkout."""
    workspace = env.get("GITHUB_WORKSPACE", "").strip()
    roots = [Path(workspace) if workspace else (workdir if workdir is not None else Path.cwd())]
    temp = env.get("RUNNER_TEMP", "").strip()
    if temp:
        roots.append(Path(temp))
    return tuple(roots)


def _inside(real: str, roots: Sequence[Path]) -> bool:
    for root in roots:
        top = os.path.realpath(root)
        if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
            return True
    return False


def read_bounded(
    field_name: str,
    raw: str,
    limit: int,
    *,
    follow_links: bool,
    workdir: Path | None = None,
    roots: Sequence[Path] | None = None,
) -> str:
    """A regular file's text, at most ``limit`` bytes; ``follow_links=False`` refuses a final
    symbolic link (a file in a checkout may be hostile). With ``roots`` the file, every folder on
    its way resolved (realpath), must be inside one of them. Errors name the input, never the
    content."""
    path = Path(raw)
    if workdir is not None and not path.is_absolute():
        path = workdir / path
    outside = InputError(
        field_name,
        f"'{raw}' is outside the workspace (or reached through a symbolic link that leads out of it)",
        fix="write the file inside the workspace (GITHUB_WORKSPACE, the working directory) or RUNNER_TEMP, "
        "with no symbolic link on its way",
    )
    if roots is not None and not _inside(os.path.realpath(path), roots):
        raise outside
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
    opened = f"/proc/self/fd/{fd}"
    if roots is not None and os.path.islink(opened) and not _inside(os.readlink(opened), roots):
        # What was opened, not what the path said a moment before (a folder swapped in between).
        os.close(fd)
        raise outside
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


EVIDENCE_FIX = "point from-evidence at the evidence-path file the await-argocd-sync step wrote"
# Schema rules whose value comes from the schema, never from the file: safe to name in an error.
_SCHEMA_OWN_VALUES = ("type", "enum", "const")


def load_evidence(
    raw: str, workdir: Path | None = None, roots: Sequence[Path] | None = None
) -> rules.EvidenceReport:
    """The evidence bundle: a regular file (no link), bounded, JSON, valid against its schema.
    Errors never quote the file's values (a misdirected path could be any file of the runner)."""
    from jsonschema.exceptions import best_match

    text = read_bounded(
        "from-evidence", raw, MAX_EVIDENCE_BYTES, follow_links=False, workdir=workdir, roots=roots
    )
    try:
        data = parse_json("from-evidence", text)
    except InputError as exc:
        exc.fix = f"{EVIDENCE_FIX} (it is written whole at the end of the wait; a killed wait leaves none)"
        raise
    error = best_match(_schema_validator().iter_errors(data))
    if error is not None:
        where = "/" + "/".join(re.sub(r"[^\w.-]", "?", str(p))[:40] for p in error.absolute_path)
        rule = str(error.validator)
        if rule == "required" and isinstance(error.instance, dict):
            # the schema's names of the keys that are not there (never a value of the file)
            missing = [str(k) for k in error.validator_value if k not in error.instance]
            rule += f" (missing: {', '.join(missing)[:120]})"
        elif rule in _SCHEMA_OWN_VALUES:
            rule += f" {json.dumps(error.validator_value)[:120]}"
        raise InputError(
            "from-evidence",
            f"'{raw}' is not an await-argocd-sync evidence bundle (at {where[:200]}: fails the schema's "
            f"rule {rule})",
            fix=f"{EVIDENCE_FIX} (schemas/evidence.schema.json)",
        )
    return rules.evidence_report(data)


def _job_state(field_name: str, job_status: str, convert: Any) -> str:
    try:
        return str(convert(job_status))
    except ValueError:
        raise InputError(
            field_name,
            f"'{job_status[:40]}' is not a job status",
            fix="pass job-status: ${{ job.status }} (success, failure or cancelled), or in an Argo "
            "Workflows exit handler {{workflow.status}} (Succeeded, Failed or Error)",
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
    #: The account whose marked comment is ours; None: the adapter asks GitHub who we are.
    comment_author: str | None = None
    results: tuple[rules.ResultRow, ...] = ()
    run_url: str | None = None
    notes: tuple[str, ...] = ()
    #: The commit of a new deployment: sha, or the revision Argo CD expected (from-evidence) when
    #: no sha input is given. The commit status and the comment always report on ``sha``.
    deployment_sha: str | None = None
    #: A results / from-evidence problem in the always-final step (job-status given): the final
    #: states are posted anyway, then run() raises it so the step still fails and says why.
    problem: InputError | None = field(default=None, repr=False, compare=False)

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
        api_base_url(api_url, env)  # plain http off the loopback: refused before any request

        repository = v["repository"] or env.get("GITHUB_REPOSITORY", "").strip()
        if not repository:
            raise InputError(
                "repository", "is not given and GITHUB_REPOSITORY is not set", fix="give owner/name"
            )
        if not _REPOSITORY.match(repository):
            raise InputError(
                "repository", f"'{repository[:80]}' is not owner/name", fix="give e.g. org/config-repo"
            )

        # With job-status this is the always-final step, and what the run left behind (a results
        # file cut short by a crash, a killed wait's evidence, a hostile pull request's files) must
        # not keep its status pending: the problem becomes a warning, the final states are posted
        # (a success becomes error: what happened is unknown), then run() fails with the problem.
        # Without job-status it is an input error and nothing is sent.
        job = v["job-status"]
        problems: list[InputError] = []

        def tolerate(error: InputError) -> None:
            if job is None:
                raise error
            problems.append(error)
            fix = f" Fix: {error.fix}" if error.fix else ""
            notes.append(f"{error.message}; the final state is posted anyway, then the step fails.{fix}")

        roots = allowed_roots(env, workdir)

        # -- evidence first: it may give the deployment's commit, state and URLs
        report: rules.EvidenceReport | None = None
        if v["from-evidence"] is not None:
            try:
                report = load_evidence(v["from-evidence"], workdir, roots)
            except InputError as error:
                tolerate(error)

        # -- the commit: the run's (a pull request's head, not its merge commit); Argo CD's revision
        # only for the deployment (a later push, another source repository or a wrong file must not
        # move this run's commit status)
        pull = read_event(env)
        evidence_sha = (
            report.revision.lower()
            if report is not None and report.revision and _SHA.match(report.revision.lower())
            else None
        )
        run_sha: str | None = None
        if v["sha"] is not None:
            run_sha = check_sha("sha", v["sha"])
        elif pull is not None:
            head = pull.get("head")
            head_sha = head.get("sha") if isinstance(head, dict) else None
            if not isinstance(head_sha, str):
                raise InputError(
                    "sha",
                    "the pull request event has no head.sha",
                    fix="pass sha: ${{ github.event.pull_request.head.sha }}",
                )
            run_sha = check_sha("sha", head_sha)
        elif env.get("GITHUB_SHA", "").strip():
            run_sha = check_sha("sha", env["GITHUB_SHA"])
        if run_sha is None and evidence_sha is None:
            raise InputError("sha", "is not given and GITHUB_SHA is not set", fix="give the commit sha")
        sha = run_sha or evidence_sha
        assert sha is not None
        deployment_sha = sha if v["sha"] is not None else (evidence_sha or sha)
        if deployment_sha != sha:
            notes.append(
                f"from-evidence: Argo CD expected {deployment_sha[:12]}, this run is {sha[:12]}: the "
                f"commit status goes on {sha[:12]}, the deployment on {deployment_sha[:12]} "
                "(pass sha: to put both on one commit)"
            )
        number = v["pull-request"]
        if number is None and pull is not None and isinstance(pull.get("number"), int) and pull["number"] > 0:
            number = int(pull["number"])

        # -- states
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
        if comment and number is None:
            notes.append("comment: true but this is not a pull request (no pull-request number): no comment")
            comment = False
        comment_author = v["comment-author"]
        if comment_author is not None and not _LOGIN.match(comment_author):
            raise InputError(
                "comment-author",
                f"'{comment_author[:80]}' is not a GitHub login",
                fix="give the account that writes the comment, without @: a user (release-bot) or an "
                "App's bot (my-app[bot])",
            )
        text = v["results"]
        results_file = v["results-file"]
        results: tuple[rules.ResultRow, ...] = ()
        if text is not None or results_file is not None:
            given = "results-file" if results_file is not None else "results"
            if not comment:
                # One step for push and pull_request: the rows only go into the comment.
                notes.append(
                    f"{given}: only shown in a pull request comment, and there is none here; not read"
                )
            else:
                try:
                    if text is not None and results_file is not None:
                        raise InputError(
                            "results-file", "is given together with results", fix="give one of them"
                        )
                    if results_file is not None:
                        text = read_bounded(
                            "results-file",
                            results_file,
                            MAX_RESULTS_BYTES,
                            follow_links=False,
                            workdir=workdir,
                            roots=roots,
                        )
                    assert text is not None
                    results = rules.parse_results(text, given)
                except InputError as error:
                    tolerate(error)

        if problems:
            unread = " and ".join(dict.fromkeys(p.field for p in problems)) + " unreadable (see the log)"
            if state == "success":
                state = "error"
                description = rules.cut_description(f"{unread}; {description}" if description else unread)
            if deployment_state == "success":
                deployment_state = "error"
                deployment_description = (
                    f"{unread}; {deployment_description}" if deployment_description else unread
                )

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
            comment_author=comment_author,
            results=results,
            run_url=here,
            notes=tuple(notes),
            deployment_sha=deployment_sha,
            problem=problems[0] if problems else None,
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


# GitHub's JSON fields -> this action's inputs, per request, for a 422's fix.
_FIELD_INPUTS = {
    "target_url": "target-url",
    "environment_url": "environment-url",
    "log_url": "log-url",
    "required_contexts": "required-contexts",
    "auto_merge": "auto-merge",
    "transient_environment": "transient-environment",
    "production_environment": "production-environment",
    "auto_inactive": "auto-inactive",
    "payload": "payload",
    "ref": "ref",
    "environment": "environment",
    "context": "context",
    "sha": "sha",
}
_DEPLOYMENT_FIELDS = {"description": "deployment-description", "state": "deployment-state"}
_STATUS_FIELDS = {"description": "description", "state": "state"}


def _field_inputs(exc: ReleaseError, deploying: bool) -> None:
    """A 422's fix in the words of the workflow: input 'target-url', not GitHub's 'target_url'."""
    names = {**_FIELD_INPUTS, **(_DEPLOYMENT_FIELDS if deploying else _STATUS_FIELDS)}
    fields = [f for f in dict.fromkeys(re.findall(r"field '([A-Za-z_]+)'", exc.message)) if f in names]
    fix = exc.fix or "correct " + ", ".join(f"'{f}'" for f in fields)
    for name in fields:
        fix = fix.replace(f"'{name}'", f"input '{names[name]}'")
    if fields:
        exc.fix = fix


def _explained(exc: ReleaseError, inputs: Inputs, outputs: Outputs, doing: str) -> ReleaseError:
    """The error with what it needs said: the permissions YAML for a 403, the input behind a 422's
    field, what was posted before."""
    if isinstance(exc, GitHubValidationError) and getattr(exc, "status", None) == 422:
        _field_inputs(exc, deploying=doing.startswith("report the deployment"))
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
    if inputs.problem is not None:
        problem = inputs.problem
        posted = "; ".join(outputs.posted) or "nothing"
        problem.message = f"{problem.message} (the final state was posted anyway: {posted})"
        problem.args = (problem.message,)
        problem.outputs = outputs
        raise problem
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
            sha=inputs.deployment_sha or inputs.sha,
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
        # No time: an unchanged re-run must render the same body, so nothing is edited (GitHub
        # shows when a comment was edited).
        when="",
    )
    context = inputs.context
    comment_id, comment_state = report.upsert_marked_comment(
        gh,
        inputs.repository,
        number,
        marker_matches=lambda text: rules.is_marked(text, context),
        body=body,
        author=inputs.comment_author,
    )
    outputs.comment_id = int(comment_id)
    outputs.comment_state = str(comment_state)
    if comment_state != "not-updated":
        outputs.posted.append(f"comment {comment_id} on #{number} {comment_state}")
    ctx.console.info(f"pull request #{number}: comment {comment_id} {comment_state}")
