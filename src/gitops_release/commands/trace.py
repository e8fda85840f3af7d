"""``gitops-release trace``: where is this image now, and how did it get there? (docs/trace.md)

1. ``Inputs.from_reader`` checks every input (the query is parsed by ``core/trace.parse_query``)
   before anything is read.
2. ``run`` reads the config repository's history (``adapters/trace_history.read_history``:
   objects only, path-limited ``git log`` and ``cat-file --batch``); when a server is given, the
   Argo CD applications that deploy its environment overlays and the GitHub deployments of its
   environments (``adapters/trace_servers``); decides for every Argo CD revision whether the
   overlay at that commit holds the image (``trace_history.overlay_states_at``); joins it all
   (``core/trace.build_trace``) and prints it as a table, Markdown, JSON or a Mermaid gantt
   (``core/trace_render``).

Trace never writes to the repository (no checkout, fetch, index or ref change); the only file it
writes is the JSON answer (``json-file``; by default in ``RUNNER_TEMP`` inside Actions). A server
that cannot be read is a note in the answer, never an error. Not found is exit 0 with an empty
answer, or exit 1 with ``fail-if-missing``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from gitops_release.adapters.files import atomic_write
from gitops_release.adapters.git import Git
from gitops_release.commands.base import Context
from gitops_release.core import argocd as argo_rules
from gitops_release.core.trace_model import (
    ArgoApp,
    DeploymentRecord,
    EnvTrace,
    Finding,
    History,
    MatchedImage,
    Query,
    TimelineEvent,
    TraceResult,
)
from gitops_release.errors import ConfigError, InputError, ReleaseError
from gitops_release.runtime import InputReader, InputSpec, parse_relative_path, register_secret

FORMATS = ("table", "markdown", "json", "mermaid")
JSON_FILE_NAME = "gitops-release-trace.json"
MAX_POLICY_BYTES = 1024 * 1024
DEFAULT_SERVER_TIMEOUT = 20.0
MAX_SERVER_TIMEOUT = 600.0
_SINCE_DURATION = re.compile(r"^(\d{1,6})([wdhm])$")
#: ``since`` goes back at most this far (a duration past it would leave the calendar).
MAX_SINCE_SECONDS = 100 * 366 * 86400
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_APP_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_SELECTOR = re.compile(r"^[A-Za-z0-9_./=!,() -]{1,1024}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ENV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

#: The query (an image reference, tag, digest, container or source sha) is also the CLI's
#: positional argument: ``gitops-release trace ghcr.io/org/app:sha-abc12345``.
POSITIONAL = "query"
#: Tokens are read only from the environment (a flag would show them in ps and shell history).
ENV_ONLY = ("github-token",)

INPUTS: tuple[InputSpec, ...] = (
    InputSpec(
        "query",
        "what to trace: an image reference (ghcr.io/org/app:tag, …@sha256:…), a tag, a digest, a "
        "container name or 7-40 hex characters of a source commit",
        required=True,
    ),
    InputSpec("repo-dir", "the config repo clone (read only: objects, never the work tree)", default="."),
    InputSpec("ref", "the branch, tag or commit whose history is traced", default="HEAD"),
    InputSpec("db-path", "db.json inside the repo", default="db/db.json"),
    InputSpec("policy-path", "policy file inside the repo", default=".gitops-release.yml"),
    InputSpec(
        "overlays-dir", "overlays directory (overrides the policy's overlays.dir; * = one app per match)"
    ),
    InputSpec(
        "since",
        "show only what happened since: an RFC 3339 date or time (2026-01-31, 2026-01-31T12:00:00Z) or "
        "a duration back from now (30d, 12h, 2w, 90m)",
    ),
    InputSpec(
        "env",
        "environments to show, comma separated (policy channels; default: all)",
        kind="list",
        default=(),
    ),
    InputSpec(
        "limit",
        "at most this many images (a container query, newest first) and timeline events",
        kind="int",
        minimum=1,
        maximum=10000,
    ),
    InputSpec("format", "table, markdown, json or mermaid (stdout)", default="table", choices=FORMATS),
    InputSpec("fail-if-missing", "exit 1 when the query matches nothing", kind="bool", default=False),
    InputSpec(
        "exhaustive",
        "read every db.json version instead of the segment search (slower; for hand-edited histories)",
        kind="bool",
        default=False,
    ),
    InputSpec(
        "json-file",
        f"write the JSON answer here (default: $RUNNER_TEMP/{JSON_FILE_NAME} in Actions, none otherwise)",
    ),
    InputSpec(
        "argocd-server",
        "Argo CD server: host[:port] or URL (default: ARGOCD_SERVER; none: Argo CD not read); token from "
        "env ARGOCD_TOKEN",
    ),
    InputSpec(
        "argocd-app",
        "Argo CD applications to read (default: those whose source is an env overlay of this repo)",
        kind="list",
        default=(),
    ),
    InputSpec("argocd-selector", "label selector for the applications listed when argocd-app is not given"),
    InputSpec("argocd-app-namespace", "namespace of the applications (apps in any namespace)"),
    InputSpec(
        "argocd-insecure", "skip TLS certificate verification (a warning says so)", kind="bool", default=False
    ),
    InputSpec("argocd-ca-file", "PEM file of the CA that signed the Argo CD server's certificate"),
    InputSpec(
        "repository",
        "the config repo on GitHub, owner/name, for its deployments (default: GITHUB_REPOSITORY)",
    ),
    InputSpec(
        "github-token",
        "token to read deployments and who merged pull requests (env GITHUB_TOKEN or the action input; "
        "never a flag)",
        secret=True,
    ),
    InputSpec("api-url", "GitHub API URL (GHES), default GITHUB_API_URL or https://api.github.com"),
    InputSpec(
        "server-timeout",
        "how long each server (Argo CD, GitHub) may take: one deadline for its whole read, then what is "
        "left is skipped with a note",
        kind="duration",
        default=DEFAULT_SERVER_TIMEOUT,
    ),
)


# -- inputs ------------------------------------------------------------------------------------


def parse_since(raw: str, now: datetime) -> datetime:
    """``30d`` / ``12h`` / ``2w`` / ``90m`` back from ``now``, or an RFC 3339 date or date-time
    (a date is its midnight UTC; a time without an offset is refused: which zone would it be?)."""
    text = raw.strip()
    match = _SINCE_DURATION.match(text)
    fix = "give a date (2026-01-31), a time with its offset (2026-01-31T12:00:00Z) or a duration like 30d"
    if match:
        count, unit = int(match.group(1)), match.group(2)
        seconds = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}[unit] * count
        if seconds > MAX_SINCE_SECONDS:
            raise InputError("since", f"'{text}' goes back more than 100 years", fix=fix)
        return now - timedelta(seconds=seconds)
    if _DATE.match(text):
        try:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError:
            raise InputError("since", f"'{text}' is not a date", fix=fix) from None
    if len(text) > 40 or not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ][0-9:.]+(?:[Zz]|[+-]\d{2}:\d{2})", text):
        raise InputError("since", f"'{text[:40]}' is not a date, time or duration", fix=fix)
    try:
        value = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        # A time near year 1 or 9999 leaves the calendar once moved to UTC.
        return value.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise InputError("since", f"'{text}' is not a valid time", fix=fix) from None


def _relative(name: str, raw: str | None, *, example: str) -> str | None:
    if raw is not None and raw.strip().startswith(":"):
        # git reads a leading ':' as pathspec magic (':(glob)**' matches every file), not a path.
        raise InputError(
            name,
            f"'{raw.strip()[:60]}' starts with ':' (git pathspec magic)",
            fix=f"give a plain path like {example}",
        )
    return None if raw is None else parse_relative_path(name, raw, example=example)


_ARGOCD_CREDENTIALS = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://)?[^/?#]*@")


def _argocd_server(raw: str, normalize: Any) -> str:
    """The Argo CD base URL, refused with trace's own inputs in the message and the fix."""
    if _ARGOCD_CREDENTIALS.match(raw.strip()):
        raise InputError(
            "argocd-server",
            "must not contain a user name or password",
            fix="give only the URL (https://argocd.example.com) and put the token in the ARGOCD_TOKEN "
            "environment variable",
        )
    try:
        return str(normalize(raw))
    except InputError as exc:
        message = exc.message.removeprefix(f"input '{exc.field}': ")
        raise InputError("argocd-server", message, fix=exc.fix) from None


@dataclass(frozen=True)
class Inputs:
    query: Query
    repo_dir: str = "."
    ref: str = "HEAD"
    db_path: str = "db/db.json"
    policy_path: str = ".gitops-release.yml"
    overlays_dir: str | None = None
    since: datetime | None = None
    env: tuple[str, ...] = ()
    limit: int | None = None
    format: str = "table"
    fail_if_missing: bool = False
    exhaustive: bool = False
    json_file: str | None = None
    argocd_server: str | None = None
    argocd_token: str | None = field(default=None, repr=False)
    argocd_app: tuple[str, ...] = ()
    argocd_selector: str | None = None
    argocd_app_namespace: str | None = None
    argocd_insecure: bool = False
    argocd_ca_file: str | None = None
    repository: str | None = None
    github_token: str | None = field(default=None, repr=False)
    api_url: str | None = None
    server_timeout: float = DEFAULT_SERVER_TIMEOUT
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        from gitops_release.adapters.http import api_base_url
        from gitops_release.core.report_status import check_url
        from gitops_release.core.trace import parse_query

        env = reader.env
        if "github-token" in reader.flags:
            raise InputError(
                "github-token",
                "was given as a command-line flag, where ps and the shell history show it",
                fix="export GITHUB_TOKEN (or set the action's github-token input) instead",
            )
        v = {spec.name: reader.get(spec) for spec in INPUTS}
        now = datetime.now(timezone.utc)
        query = parse_query(v["query"])
        ref = v["ref"]
        if any(ord(ch) <= 32 or ord(ch) == 127 for ch in ref) or ref.startswith("-") or len(ref) > 255:
            raise InputError(
                "ref", f"'{ref[:60]}' is not a ref", fix="give a branch, tag or commit sha, e.g. main"
            )
        envs = tuple(dict.fromkeys(v["env"]))
        for name in envs:
            if not _ENV.match(name):
                raise InputError(
                    "env", f"'{name[:40]}' is not an environment name", fix="give names like stage"
                )
        timeout = v["server-timeout"]
        if not math.isfinite(timeout) or timeout <= 0 or timeout > MAX_SERVER_TIMEOUT:
            raise InputError(
                "server-timeout",
                f"{timeout:g}s is not between 0 and {MAX_SERVER_TIMEOUT:g}s",
                fix="give a duration like 20s or 2m",
            )
        server = v["argocd-server"] or env.get("ARGOCD_SERVER", "").strip() or None
        if server is not None:
            # Imported only with a server: adapters/argocd imports requests (~0.2 s a trace waits for).
            from gitops_release.adapters.argocd import normalize_server

            server = _argocd_server(server, normalize_server)
        argocd_token = env.get("ARGOCD_TOKEN", "").strip() or None
        register_secret(argocd_token, announce=env.get("GITHUB_ACTIONS") == "true")
        ca_file = v["argocd-ca-file"]
        if ca_file is not None:
            if v["argocd-insecure"]:
                raise InputError(
                    "argocd-ca-file",
                    "is given with argocd-insecure: true, which skips verification",
                    fix="give argocd-ca-file or argocd-insecure, not both",
                )
            if not Path(ca_file).is_file():
                raise InputError(
                    "argocd-ca-file", f"'{ca_file}' is not a file", fix="give the path of a PEM CA file"
                )
        apps = tuple(dict.fromkeys(v["argocd-app"]))
        for app in apps:
            if not _APP_NAME.match(app):
                raise InputError(
                    "argocd-app",
                    f"'{app[:64]}' is not an application name",
                    fix="give names as Argo CD shows them",
                )
        selector = v["argocd-selector"]
        if selector is not None:
            if apps:
                raise InputError(
                    "argocd-selector",
                    "is given with argocd-app",
                    fix="name the applications, or select them, not both",
                )
            if not _SELECTOR.match(selector):
                raise InputError(
                    "argocd-selector",
                    f"'{selector[:64]}' is not a label selector",
                    fix="give one like team=web",
                )
        namespace = v["argocd-app-namespace"]
        if namespace is not None and not _NAMESPACE.match(namespace):
            raise InputError(
                "argocd-app-namespace", f"'{namespace[:64]}' is not a namespace name", fix="give e.g. argocd"
            )
        token = v["github-token"] or env.get("GITHUB_TOKEN", "").strip() or None
        register_secret(token, announce=env.get("GITHUB_ACTIONS") == "true")
        repository = v["repository"] or env.get("GITHUB_REPOSITORY", "").strip() or None
        if repository is not None and not _REPOSITORY.match(repository):
            raise InputError(
                "repository", f"'{repository[:80]}' is not owner/name", fix="give e.g. org/config"
            )
        api_url = v["api-url"]
        if api_url is not None:
            api_url = check_url("api-url", api_url).rstrip("/")
        if token is not None:
            api_base_url(api_url, env)  # plain http off the loopback: refused before any request
        json_file = v["json-file"]
        if json_file is None and env.get("GITHUB_ACTIONS") == "true" and env.get("RUNNER_TEMP"):
            json_file = str(Path(env["RUNNER_TEMP"]) / JSON_FILE_NAME)
        return cls(
            query=query,
            repo_dir=v["repo-dir"],
            ref=ref,
            db_path=_relative("db-path", v["db-path"], example="db/db.json") or "db/db.json",
            policy_path=_relative("policy-path", v["policy-path"], example=".gitops-release.yml")
            or ".gitops-release.yml",
            overlays_dir=_relative("overlays-dir", v["overlays-dir"], example="infra/argocd/overlays"),
            since=parse_since(v["since"], now) if v["since"] is not None else None,
            env=envs,
            limit=v["limit"],
            format=v["format"],
            fail_if_missing=v["fail-if-missing"],
            exhaustive=v["exhaustive"],
            json_file=json_file,
            argocd_server=server,
            argocd_token=argocd_token,
            argocd_app=apps,
            argocd_selector=selector,
            argocd_app_namespace=namespace,
            argocd_insecure=v["argocd-insecure"],
            argocd_ca_file=ca_file,
            repository=repository,
            github_token=token,
            api_url=api_url,
            server_timeout=timeout,
            now=now,
        )


# -- outputs -----------------------------------------------------------------------------------


@dataclass
class Outputs:
    result: TraceResult
    format: str
    text: str
    markdown: str
    json_file: str = ""

    @property
    def present_in(self) -> list[str]:
        """The environments that hold a matched image now (desired state), in policy order."""
        return list(dict.fromkeys(env.environment for env in self.result.environments if env.present))

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": self.result.found,
            "present-in": ",".join(self.present_in),
            "json-file": self.json_file,
        }

    def summary(self) -> str:
        return self.markdown

    def report(self) -> str:
        return self.text.rstrip("\n")


# -- the repository: policy at the ref, Argo CD source paths -----------------------------------


def _head_policy(git: Git, head: str, policy_path: str, notes: list[str]) -> Any:
    """The policy at the traced commit (DEFAULT_POLICY when absent or unreadable, said in a note)."""
    from gitops_release.core.policy import DEFAULT_POLICY, load_policy

    spec = f"{head}:{policy_path}"
    kind = git.run("cat-file", "-t", spec, check=False).out.strip()
    if kind != "blob":
        return DEFAULT_POLICY
    mode = git.run("--literal-pathspecs", "ls-tree", head, "--", policy_path, check=False).out.split(" ", 1)[
        0
    ]
    if mode not in ("100644", "100755"):
        notes.append(f"{policy_path} at {head[:12]} is not a regular file; the default policy is used")
        return DEFAULT_POLICY
    size = git.run("cat-file", "-s", spec, check=False).out.strip()
    if not size.isdigit() or int(size) > MAX_POLICY_BYTES:
        notes.append(
            f"{policy_path} at {head[:12]} is larger than {MAX_POLICY_BYTES} bytes; default policy used"
        )
        return DEFAULT_POLICY
    try:
        return load_policy(git.blob(spec).decode("utf-8"), path=policy_path)
    except (ReleaseError, UnicodeDecodeError) as exc:
        notes.append(f"{policy_path} at {head[:12]} does not load ({exc}); the default policy is used")
        return DEFAULT_POLICY


def _overlay_dir_patterns(policy: Any, overlays_dir: str | None) -> dict[str, re.Pattern[str]]:
    """env -> the regex of its overlay dirs (``*`` of overlays.dir = one path segment)."""
    from gitops_release.adapters.layout import overlays_dir as pattern_of

    pattern = pattern_of(policy, overlays_dir)
    out: dict[str, re.Pattern[str]] = {}
    for env in policy.env_order:
        full = f"{pattern}/{policy.overlay_for(env)}".strip("/")
        # Each * is a group: the app of the dir is its matches joined by / (as the history reader's).
        parts = [("([^/]+)" if part == "*" else re.escape(part)) for part in PurePosixPath(full).parts]
        out[env] = re.compile("^" + "/".join(parts) + "$")
    return out


def _environment_of(patterns: Mapping[str, re.Pattern[str]]) -> Any:
    def environment_of(source: argo_rules.SourceRef) -> tuple[str, str] | None:
        """(env, app) of the overlay dir the source deploys."""
        path = str(PurePosixPath(source.path.strip().strip("/") or ".")) if source.path else ""
        if not path or source.chart:
            return None
        for env, regex in patterns.items():
            match = regex.match(path)
            if match:
                return env, "/".join(match.groups())
        return None

    return environment_of


def _repository_keys(git: Git, repository: str | None) -> frozenset[str]:
    keys = set()
    origin = git.remote_url("origin")
    if origin:
        key = argo_rules.repo_key(origin)
        if key:
            keys.add(key)
    if repository:
        keys.add(repository.lower())
    return frozenset(keys)


# -- which revision holds the image ------------------------------------------------------------


def _holds(state: Any, image: MatchedImage) -> bool:
    """Does a kustomize/values entry hold ``image``? core/trace's one matching rule."""
    from gitops_release.core.trace import state_holds

    return state_holds(state, image)


def _with_revisions(
    apps: Sequence[ArgoApp],
    image: MatchedImage,
    states: Mapping[str, list[tuple[str, str, str, Any]] | None],
) -> tuple[ArgoApp, ...]:
    """Each app with, for every revision it ran, whether its own overlay (env and app) held
    ``image`` then; an app without an app name counts every overlay of its env."""
    out = []
    for app in apps:
        revisions = dict.fromkeys(
            [*(entry.revision for entry in app.history), *([app.sync_revision] if app.sync_revision else [])]
        )
        at: list[tuple[str, bool | None]] = []
        for revision in revisions:
            entries = states.get(revision)
            held = (
                None
                if entries is None
                else any(
                    env == app.environment
                    and (not app.app or overlay_app == app.app)
                    and _holds(state, image)
                    for env, overlay_app, _file, state in entries
                )
            )
            at.append((revision, held))
        out.append(dataclasses.replace(app, image_at_revision=tuple(at)))
    return tuple(out)


def _image_query(image: MatchedImage) -> Query:
    raw = image.image + (f":{image.tag}" if image.tag else "") + (f"@{image.digest}" if image.digest else "")
    return Query(raw=raw, kind="reference", image=image.image, tag=image.tag, digest=image.digest)


def _merge(query: Query, parts: Sequence[TraceResult], limit: int | None) -> TraceResult:
    """One answer from the answers of each image of a container query (in the images' order)."""
    images: list[MatchedImage] = []
    envs: list[EnvTrace] = []
    image_of: list[int] = []
    timeline: list[TimelineEvent] = []
    findings: list[Finding] = []
    notes: list[str] = []
    for part in parts:
        offset = len(images)
        images.extend(part.images)
        envs.extend(part.environments)
        image_of.extend(offset + index for index in part.image_of_environment)
        timeline.extend(part.timeline)
        findings.extend(part.findings)
        notes.extend(part.notes)
    events = sorted(
        set(timeline), key=lambda e: (e.at, e.environment, e.source, e.kind, e.commit or "", e.text)
    )
    if limit is not None:
        events = events[-limit:]
    first = parts[0]
    return dataclasses.replace(
        first,
        query=query,
        found=bool(images),
        images=tuple(images),
        environments=tuple(envs),
        timeline=tuple(events),
        findings=tuple(sorted(set(findings), key=lambda f: (f.kind, f.environment or "", f.message))),
        notes=tuple(dict.fromkeys(notes)),
        image_of_environment=tuple(image_of),
    )


# -- run ---------------------------------------------------------------------------------------


@dataclass
class _GitHubRead:
    """What GitHub said besides the deployments: the envs read (build_trace's deployments_read)
    and who merged the pull requests asked about."""

    deployments_read: dict[str, datetime | None] | None = None
    merged_by: dict[int, str] = field(default_factory=dict)


def _pull_requests(result: TraceResult) -> list[int]:
    """The pull requests the answer's arrivals came by, newest arrival first."""
    arrivals = sorted(
        (stay.arrival for env in result.environments for stay in (*env.stays, *env.channel_stays)),
        key=lambda a: a.at,
        reverse=True,
    )
    return list(dict.fromkeys(a.pull_request for a in arrivals if a.pull_request is not None))


def _with_mergers(result: TraceResult, merged_by: Mapping[int, str]) -> TraceResult:
    """The answer with each arrival by a pull request GitHub named the merger of ``by`` him."""
    if not merged_by:
        return result

    def stay(s: Any) -> Any:
        number = s.arrival.pull_request
        if number in merged_by:
            return dataclasses.replace(s, arrival=dataclasses.replace(s.arrival, by=merged_by[number]))
        return s

    envs = tuple(
        dataclasses.replace(
            env,
            stays=tuple(stay(s) for s in env.stays),
            channel_stays=tuple(stay(s) for s in env.channel_stays),
        )
        for env in result.environments
    )
    return dataclasses.replace(result, environments=envs)


def _read_servers(
    inputs: Inputs,
    ctx: Context,
    git: Git,
    history: History,
    github: _GitHubRead | None = None,
    pull_requests: Sequence[int] = (),
) -> tuple[list[ArgoApp] | None, list[DeploymentRecord] | None, list[str]]:
    """Argo CD's applications and GitHub's deployments (``github`` gets the rest GitHub said,
    among it who merged ``pull_requests``)."""
    github = github if github is not None else _GitHubRead()
    notes: list[str] = []
    argo: list[ArgoApp] | None = None
    deployments: list[DeploymentRecord] | None = None
    environments = list(history.environments)
    if inputs.argocd_server is None:
        notes.append("Argo CD not read: no argocd-server (or ARGOCD_SERVER) given; live state unknown")
    else:
        from gitops_release.adapters.argocd import ArgoCDConnection
        from gitops_release.adapters.trace_servers import read_argocd

        policy = _head_policy(git, history.head, inputs.policy_path, notes)
        connection = ArgoCDConnection(
            server=inputs.argocd_server,
            token=inputs.argocd_token,
            insecure=inputs.argocd_insecure,
            ca_file=Path(inputs.argocd_ca_file) if inputs.argocd_ca_file else None,
            app_namespace=inputs.argocd_app_namespace,
        )
        read = read_argocd(
            connection,
            applications=inputs.argocd_app,
            selector=inputs.argocd_selector,
            environment_of=_environment_of(_overlay_dir_patterns(policy, inputs.overlays_dir)),
            repository_keys=_repository_keys(git, inputs.repository),
            timeout=inputs.server_timeout,
            say=ctx.console.info,
        )
        argo = list(read.apps)
        notes.extend(read.notes)
    if inputs.github_token is None:
        notes.append("GitHub deployments not read: no github-token (or GITHUB_TOKEN) given")
    elif inputs.repository is None:
        notes.append("GitHub deployments not read: no repository (or GITHUB_REPOSITORY) given")
    else:
        from gitops_release.adapters.github import GitHubAuth
        from gitops_release.adapters.trace_servers import read_deployments

        shown = [env for env in environments if not inputs.env or env in inputs.env]
        got = read_deployments(
            GitHubAuth(token=inputs.github_token),
            inputs.repository,
            shown,
            api_url=inputs.api_url,
            env=ctx.env,
            timeout=inputs.server_timeout,
            log=ctx.console.debug,
            pull_requests=pull_requests,
        )
        notes.extend(got.notes)
        # Deployments that could not be read are not "no deployment": a gap is claimed only in the
        # envs read (and after a cut list's oldest deployment).
        deployments = None if not got.read else list(got.deployments)
        github.deployments_read = dict(got.read)
        github.merged_by = dict(got.merged_by)
    return argo, deployments, notes


def trace(inputs: Inputs, ctx: Context) -> TraceResult:
    """The answer (no printing): history, servers, join."""
    from gitops_release.adapters.trace_history import overlay_states_at, read_history
    from gitops_release.core.trace import build_trace

    root = (ctx.workdir / inputs.repo_dir).absolute()
    if not root.is_dir():
        raise ConfigError(
            f"repo-dir '{root}' is not a directory", fix="point repo-dir at the config repo clone"
        )
    # Paths (inputs and the policy's overlays.dir) are files, never pathspec magic such as ':(glob)':
    # every git call that takes paths passes --literal-pathspecs itself, except the reader's one
    # pickaxe log, which wraps each path in ':(literal)' (GIT_LITERAL_PATHSPECS=1 would turn that
    # magic into a file name and list nothing).
    git = Git(root, env={"GIT_OPTIONAL_LOCKS": "0"}, log=ctx.console.debug)
    history = read_history(
        git,
        inputs.query,
        ref=inputs.ref,
        db_path=inputs.db_path,
        policy_path=inputs.policy_path,
        overlays_dir=inputs.overlays_dir,
        since=inputs.since,
        exhaustive=inputs.exhaustive,
    )
    unknown = [env for env in inputs.env if env not in history.environments]
    if unknown:
        raise InputError(
            "env",
            f"'{unknown[0]}' is not an environment of the policy ({', '.join(history.environments)})",
            fix="name environments from the policy's channels",
        )
    environments = list(inputs.env) or None

    github = _GitHubRead()

    def join(
        query: Query,
        argo: Sequence[ArgoApp] | None,
        deployments: Sequence[DeploymentRecord] | None,
        hist: History,
    ) -> TraceResult:
        return _with_mergers(
            build_trace(
                query,
                hist,
                argo=argo,
                deployments=deployments,
                since=inputs.since,
                environments=environments,
                limit=inputs.limit,
                now=inputs.now,
                deployments_read=github.deployments_read,
            ),
            github.merged_by,
        )

    first = join(inputs.query, None, None, history)
    if not first.found:
        return first
    asked: list[int] = []
    if inputs.github_token is not None and inputs.repository is not None:
        # Imported only when GitHub is read: adapters/trace_servers imports PyGithub (~0.4 s).
        from gitops_release.adapters.trace_servers import MAX_PULL_REQUESTS

        asked = list(_pull_requests(first)[:MAX_PULL_REQUESTS])
    argo, deployments, notes = _read_servers(inputs, ctx, git, history, github, asked)
    history = dataclasses.replace(history, notes=(*history.notes, *notes))
    if argo is None or not argo:
        return join(inputs.query, argo, deployments, history)
    revisions = sorted(
        {entry.revision for app in argo for entry in app.history}
        | {app.sync_revision for app in argo if app.sync_revision}
    )
    states = overlay_states_at(
        git, revisions, policy_path=inputs.policy_path, overlays_dir=inputs.overlays_dir
    )
    unknown_revisions = [r for r in revisions if states.get(r) is None]
    if unknown_revisions:
        history = dataclasses.replace(
            history,
            notes=(
                *history.notes,
                f"{len(unknown_revisions)} Argo CD revision(s) are not in this clone "
                f"({unknown_revisions[0][:12]}…; shallow clone or force-pushed away): "
                "whether they hold the image is unknown",
            ),
        )
    if len(first.images) == 1:
        return join(inputs.query, _with_revisions(argo, first.images[0], states), deployments, history)
    # Several images (a container query): each image's live state is its own (which revisions
    # hold it), so each is joined on its own and the answers put together in the same order.
    parts = [
        join(_image_query(image), _with_revisions(argo, image, states), deployments, history)
        for image in first.images
    ]
    return _merge(inputs.query, parts, inputs.limit)


def run(inputs: Inputs, ctx: Context) -> Outputs:
    from gitops_release.core.trace_render import render_markdown, render_mermaid, render_table, trace_json

    result = trace(inputs, ctx)
    document = trace_json(result)
    text = {
        "table": lambda: render_table(result),
        "markdown": lambda: render_markdown(result),
        # ASCII on stdout: C1 controls (U+009B is an 8-bit CSI) from a commit never reach a terminal.
        "json": lambda: json.dumps(document, indent=2, ensure_ascii=True),
        "mermaid": lambda: render_mermaid(result),
    }[inputs.format]()
    json_file = ""
    if inputs.json_file:
        path = Path(inputs.json_file)
        if not path.is_absolute():
            path = ctx.workdir / path
        atomic_write(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        json_file = str(path)
    outputs = Outputs(
        result=result,
        format=inputs.format,
        text=text,
        markdown=render_markdown(result),
        json_file=json_file,
    )
    if not result.found:
        ctx.console.info(
            f"not found: {inputs.query.raw} matches no release or overlay in the history of {inputs.ref}"
        )
        if inputs.fail_if_missing:
            error = ReleaseError(
                f"{inputs.query.raw} was never released here: it matches no db.json release and no overlay "
                f"in the history of {inputs.ref}",
                fix="check the reference (a typo, another config repo, a branch not fetched), or drop "
                "fail-if-missing to accept an empty answer",
                title="Not found",
            )
            error.outputs = outputs
            raise error
    return outputs
