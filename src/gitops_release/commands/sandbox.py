"""``gitops-release sandbox``: serve the local GitHub API emulator and its bare git remotes, and
beside it the Argo CD API emulator.

Prints the API URL, the token and each repository's git URL as soon as it is serving, then
serves until ``duration`` runs out, Ctrl-C (SIGINT) or SIGTERM. The token is the sandbox's own
local credential (it opens nothing but this process), so it is printed on purpose and not masked.

The Argo CD emulator (``argocd``, on by default) prints its URL and bearer token too. It serves
the Application YAML files ``argocd-applications`` names; an Application whose source
``repoURL`` ends in ``/<owner>/<name>`` (``.git`` optional) of a sandbox repository is served from
that bare repository, and ``argocd-repos`` (``repoURL=owner/name``) points any other URL at one.
A push to the repository shows up at the next refresh: on request (``?refresh=``) or every
``argocd-refresh-interval`` (Argo CD's ``timeout.reconciliation``, 3 minutes by default).

With ``events-dir`` every accepted ``repository_dispatch`` is also written there as the webhook
payload GitHub would deliver, ready for ``act -e`` or ``GITHUB_EVENT_PATH``.

A start that fails (a taken port, a bad repository) removes the temporary root it created.

When it stops, every OpenAPI violation it recorded is printed as a warning; with ``strict`` the
command then fails (exit 1) listing them, so a CI job that drives the sandbox catches client bugs.
"""

from __future__ import annotations

import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import yaml

from gitops_release.commands.base import Context
from gitops_release.core.yaml_limits import AliasLimitError
from gitops_release.errors import ContractViolationError, InputError
from gitops_release.runtime import InputReader, InputSpec, markdown_table

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("root", "directory for the bare repositories (default: a new temporary directory)"),
    InputSpec("repositories", "owner/name repositories to create (comma or newline separated)", kind="list"),
    InputSpec("token", "token the API accepts", default="sandbox-token"),
    InputSpec(
        "port", "port on 127.0.0.1 (0 picks a free one)", kind="int", default=0, minimum=0, maximum=65535
    ),
    InputSpec(
        "duration", "serve this long, then stop (e.g. 90s, 10m; default: until Ctrl-C)", kind="duration"
    ),
    InputSpec(
        "strict",
        "fail (exit 1) listing the OpenAPI violations recorded while serving, instead of only warning",
        kind="bool",
        default=False,
    ),
    InputSpec(
        "events-dir",
        "write each repository_dispatch here as a webhook event file (000001-<event type>.json) for act",
    ),
    InputSpec(
        "login",
        "the account the token acts as: sender.login of each event (a name ending in [bot] is a Bot)",
        default="sandbox-user",
    ),
    InputSpec("argocd", "also serve the Argo CD API emulator", kind="bool", default=True),
    InputSpec(
        "argocd-port",
        "Argo CD emulator port on 127.0.0.1 (0 picks a free one)",
        kind="int",
        default=0,
        minimum=0,
        maximum=65535,
    ),
    InputSpec("argocd-token", "bearer token the Argo CD API accepts", default="argocd-sandbox-token"),
    InputSpec(
        "argocd-admin-password",
        "password of the Argo CD account 'admin' for POST /api/v1/session (default: no password login)",
        secret=True,
    ),
    InputSpec(
        "argocd-applications",
        "Application YAML files, or directories of *.yaml / *.yml files, the Argo CD emulator serves "
        "(comma or newline separated; a file may hold several documents)",
        kind="list",
    ),
    InputSpec(
        "argocd-repos",
        "repoURL=owner/name pairs: serve Application sources with that repoURL from that sandbox "
        "repository (default: a repoURL ending in /owner/name[.git] of a sandbox repository)",
        kind="list",
    ),
    InputSpec(
        "argocd-refresh-interval",
        "refresh every application this often, like Argo CD's timeout.reconciliation (e.g. 10s)",
        kind="duration",
        default=180.0,
    ),
)

#: One Application file is at most this large (a real one is a few kB; the live corpus one 60 kB).
MAX_APPLICATION_FILE_BYTES = 8 * 1024 * 1024
_APPLICATION_SUFFIXES = (".yaml", ".yml")

#: How many violations the strict failure names in its one line (all are printed as warnings).
STRICT_LISTED = 5

_FULL_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Inputs:
    root: Path | None
    repositories: tuple[str, ...]
    token: str
    port: int
    duration: float | None
    strict: bool = False
    events_dir: Path | None = None
    login: str = "sandbox-user"
    argocd: bool = True
    argocd_port: int = 0
    argocd_token: str = "argocd-sandbox-token"  # noqa: S105 - the sandbox's own local credential
    argocd_admin_password: str | None = None
    #: (file the document came from, the Application) in the order given.
    argocd_applications: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    #: repoURL -> owner/name
    argocd_repos: Mapping[str, str] = field(default_factory=dict)
    argocd_refresh_interval: float = 180.0

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        from gitops_release.sandbox.github import LOGIN

        values = reader.read_all(INPUTS)
        repositories = tuple(values["repositories"] or ())
        for name in repositories:
            if not _FULL_NAME.match(name):
                raise InputError("repositories", f"'{name}' is not owner/name", fix="write e.g. org/config")
        if len(set(r.lower() for r in repositories)) != len(repositories):
            raise InputError("repositories", "lists a repository twice", fix="name each repository once")
        token = values["token"]
        if any(c.isspace() for c in token):
            raise InputError("token", "contains whitespace", fix="use a single word, e.g. sandbox-token")
        duration = values["duration"]
        if duration is not None and duration <= 0:
            raise InputError(
                "duration", "must be positive", fix="e.g. 30s, or leave it empty to serve until Ctrl-C"
            )
        root = Path(values["root"]).expanduser() if values["root"] else None
        if root is not None and root.exists() and not root.is_dir():
            raise InputError("root", f"{root} exists and is not a directory", fix="give a directory path")
        events_dir = Path(values["events_dir"]).expanduser() if values["events_dir"] else None
        if events_dir is not None and events_dir.exists() and not events_dir.is_dir():
            raise InputError(
                "events-dir", f"{events_dir} exists and is not a directory", fix="give a directory path"
            )
        login = values["login"]
        if not LOGIN.match(login):
            raise InputError(
                "login",
                f"'{login}' is not a GitHub login",
                fix="use letters, digits and single hyphens (at most 39), e.g. release-bot or my-app[bot]",
            )
        argocd_token = values["argocd_token"]
        if any(c.isspace() for c in argocd_token):
            raise InputError(
                "argocd-token", "contains whitespace", fix="use a single word, e.g. argocd-sandbox-token"
            )
        refresh = values["argocd_refresh_interval"]
        if refresh <= 0:
            raise InputError("argocd-refresh-interval", "must be positive", fix="e.g. 10s, or 3m as Argo CD")
        known = {r.lower(): r for r in repositories}
        repos: dict[str, str] = {}
        for pair in values["argocd_repos"] or ():
            url, sep, name = pair.rpartition("=")
            if not sep or not url.strip() or name.strip().lower() not in known:
                raise InputError(
                    "argocd-repos",
                    f"'{pair}' is not repoURL=owner/name of a sandbox repository",
                    fix="write e.g. https://github.com/org/config.git=org/config and list org/config "
                    "in repositories",
                )
            repos[url.strip()] = known[name.strip().lower()]
        applications = tuple(
            item for raw_path in values["argocd_applications"] or () for item in read_applications(raw_path)
        )
        if applications and not values["argocd"]:
            raise InputError("argocd-applications", "given while argocd is false", fix="set argocd: true")
        return cls(
            root=root,
            repositories=repositories,
            token=token,
            port=values["port"],
            duration=duration,
            strict=bool(values["strict"]),
            events_dir=events_dir,
            login=login,
            argocd=bool(values["argocd"]),
            argocd_port=values["argocd_port"],
            argocd_token=argocd_token,
            argocd_admin_password=values["argocd_admin_password"],
            argocd_applications=applications,
            argocd_repos=repos,
            argocd_refresh_interval=refresh,
        )


def _application_files(raw_path: str) -> list[Path]:
    path = Path(raw_path).expanduser()
    if path.is_dir():
        top = path.resolve()
        files = []
        for child in sorted(path.iterdir()):
            if child.suffix not in _APPLICATION_SUFFIXES or not child.is_file():
                continue
            # A symlink in the directory that leads out of it is not one of its files.
            if not child.resolve().is_relative_to(top):
                raise InputError(
                    "argocd-applications",
                    f"{child} is a symlink out of {path}",
                    fix="copy the file into the directory, or name it directly",
                )
            files.append(child)
        if not files:
            raise InputError(
                "argocd-applications", f"{path} holds no *.yaml or *.yml file", fix="name the files"
            )
        return files
    if not path.is_file():
        raise InputError(
            "argocd-applications", f"{path} is not a file or directory", fix="give an existing path"
        )
    return [path]


def read_applications(raw_path: str) -> list[tuple[str, dict[str, Any]]]:
    """The Application documents of a file, or of the YAML files of a directory. InputError names
    the file and the document when one is not an Application with a name (or not YAML, too large,
    an alias bomb, a merge key)."""
    from gitops_release.core.policy import StrictSafeLoader

    found: list[tuple[str, dict[str, Any]]] = []
    for file in _application_files(raw_path):
        if file.stat().st_size > MAX_APPLICATION_FILE_BYTES:
            raise InputError(
                "argocd-applications",
                f"{file} is larger than {MAX_APPLICATION_FILE_BYTES // (1024 * 1024)} MiB",
                fix="an Application manifest is a few kB: name the right file",
            )
        text = file.read_text(encoding="utf-8", errors="replace")
        try:
            documents = list(yaml.load_all(text, Loader=StrictSafeLoader))
        except (yaml.YAMLError, AliasLimitError, RecursionError) as exc:
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise InputError(
                "argocd-applications", f"{file} is not valid YAML ({problem})", fix="fix the file"
            ) from None
        for index, document in enumerate(documents, start=1):
            if document is None:
                continue
            meta = document.get("metadata") if isinstance(document, dict) else None
            if (
                not isinstance(document, dict)
                or document.get("kind") != "Application"
                or not isinstance(meta, dict)
                or not isinstance(meta.get("name"), str)
                or not isinstance(document.get("spec"), dict)
            ):
                raise InputError(
                    "argocd-applications",
                    f"{file} document {index} is not an Application with metadata.name and spec",
                    fix="give files of kind: Application (argoproj.io/v1alpha1)",
                )
            found.append((str(file), document))
    return found


@dataclass
class Outputs:
    url: str
    token: str
    root: str
    git_urls: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    violations: int = 0
    events_dir: str = ""
    events: int = 0
    argocd_url: str = ""
    argocd_token: str = ""
    argocd_applications: list[str] = field(default_factory=list)
    argocd_requests: int = 0
    argocd_violations: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "token": self.token,
            "root": self.root,
            "git-urls": self.git_urls,
            "requests": self.requests,
            "violations": self.violations,
            "events-dir": self.events_dir,
            "events": self.events,
            "argocd-url": self.argocd_url,
            "argocd-token": self.argocd_token,
            "argocd-applications": self.argocd_applications,
            "argocd-requests": self.argocd_requests,
            "argocd-violations": self.argocd_violations,
        }

    def summary(self) -> str:
        return markdown_table("GitHub sandbox", self.as_dict())


def run(inputs: Inputs, ctx: Context, *, stop: threading.Event | None = None) -> Outputs:
    """Serve until ``duration`` passes, SIGINT/SIGTERM, or ``stop`` is set (tests)."""
    from gitops_release.sandbox.github import GitHubSandbox

    event = stop or threading.Event()
    # Installed before the set-up, so a signal during it also stops cleanly (and cleans up).
    previous = _stop_on_signals(event)
    argocd: Any = None
    try:
        sandbox, root = _start(inputs, ctx, GitHubSandbox)
        try:
            if inputs.argocd:
                try:
                    argocd = _start_argocd(inputs, ctx, sandbox)
                except BaseException:
                    if inputs.root is None:  # the temporary root this start created goes again
                        sandbox.stop()
                        shutil.rmtree(root, ignore_errors=True)
                    raise
            event.wait(inputs.duration)
        finally:
            if event.is_set():
                ctx.console.info("stopping")
            if argocd is not None:
                argocd.stop()
            sandbox.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    git_urls = {name: sandbox.git_url(name) for name in inputs.repositories}
    violations = list(sandbox.violations)
    violations += [f"argocd: {v}" for v in (argocd.violations if argocd is not None else ())]
    for violation in violations:
        ctx.console.annotation("warning", violation, title="OpenAPI violation")
    if inputs.strict and violations:
        raise strict_failure(violations)
    return Outputs(
        url=sandbox.url,
        token=inputs.token,
        root=str(root),
        git_urls=git_urls,
        requests=len(sandbox.requests),
        violations=len(sandbox.violations),
        events_dir=str(inputs.events_dir or ""),
        events=sum(len(sandbox.dispatches(name)) for name in inputs.repositories),
        argocd_url=argocd.url if argocd is not None else "",
        argocd_token=inputs.argocd_token if argocd is not None else "",
        argocd_applications=[_key(app) for _, app in inputs.argocd_applications],
        argocd_requests=len(argocd.requests) if argocd is not None else 0,
        argocd_violations=len(argocd.violations) if argocd is not None else 0,
    )


def _key(app: Mapping[str, Any]) -> str:
    meta = app.get("metadata") or {}
    return f"{meta.get('namespace') or 'argocd'}/{meta.get('name')}"


def _normalized_repo(url: str) -> str:
    """scheme, userinfo, case, a trailing slash and ``.git`` do not make another repository."""
    text = url.strip()
    if "://" not in text and ":" in text:  # scp-like git@host:owner/name
        text = "ssh://" + text.replace(":", "/", 1)
    parts = urlsplit(text)
    path = parts.path.rstrip("/").removesuffix(".git")
    return f"{(parts.hostname or '').lower()}{path}".lower()


def repo_sources(
    applications: Sequence[tuple[str, Mapping[str, Any]]],
    repositories: Sequence[str],
    explicit: Mapping[str, str],
) -> tuple[dict[str, str], list[str]]:
    """(repoURL -> owner/name for every Application source served from a sandbox repository,
    the repoURLs served from none). Explicit pairs first, then a URL ending in /owner/name."""
    by_suffix = {name.lower(): name for name in repositories}
    mapped: dict[str, str] = dict(explicit)
    unmapped: list[str] = []
    for _, app in applications:
        spec = app.get("spec") or {}
        sources = [spec.get("source") or {}, *(spec.get("sources") or [])]
        for source in sources:
            url = str(source.get("repoURL") or "") if isinstance(source, Mapping) else ""
            if not url or url in mapped or source.get("chart"):
                continue
            tail = "/".join(_normalized_repo(url).split("/")[-2:])
            if tail in by_suffix:
                mapped[url] = by_suffix[tail]
            elif url not in unmapped:
                unmapped.append(url)
    return mapped, unmapped


def _start_argocd(inputs: Inputs, ctx: Context, github: Any) -> Any:
    """The started Argo CD emulator serving ``argocd-applications`` from the sandbox's repositories."""
    from gitops_release.sandbox.argocd import ArgoCDSandbox, StoreError, Timing

    argocd = ArgoCDSandbox(
        timing=Timing(auto_refresh_interval=inputs.argocd_refresh_interval),
        tokens=(inputs.argocd_token,),
        port=inputs.argocd_port,
    )
    if inputs.argocd_admin_password:
        argocd.add_user("admin", inputs.argocd_admin_password)
    mapped, unmapped = repo_sources(inputs.argocd_applications, inputs.repositories, inputs.argocd_repos)
    for url, name in mapped.items():
        argocd.store.register_repo(url, Path(url2pathname(urlsplit(github.git_url(name)).path)))
    try:
        for file, app in inputs.argocd_applications:
            try:
                argocd.store.add_application(app)
            except StoreError as exc:
                raise InputError(
                    "argocd-applications", f"{file}: {exc.message}", fix="fix the Application"
                ) from None
        argocd.start()
    except BaseException:
        argocd.stop()
        raise
    if argocd.note:
        ctx.console.info(f"note: {argocd.note}")
    ctx.console.info(f"Argo CD API sandbox: {argocd.url}")
    ctx.console.info(
        f"argocd token: {inputs.argocd_token}   (send 'Authorization: Bearer {inputs.argocd_token}')"
    )
    for file, app in inputs.argocd_applications:
        ctx.console.info(f"argocd application {_key(app)} (from {file})")
    for url, name in mapped.items():
        ctx.console.info(f"argocd repo {url} -> sandbox repository {name}")
    for url in unmapped:
        ctx.console.info(
            f"argocd repo {url} is no sandbox repository: its applications show a ComparisonError "
            "(map it with argocd-repos: repoURL=owner/name)"
        )
    return argocd


def _start(inputs: Inputs, ctx: Context, sandbox_class: Any) -> tuple[Any, Path]:
    """The started sandbox and its root, the start announced. On any failure the temporary root
    this start created is removed again (a given ``root`` is the user's and stays)."""
    created = None if inputs.root else Path(tempfile.mkdtemp(prefix="gitops-release-sandbox-"))
    root = inputs.root or created
    assert root is not None
    sandbox = None
    try:
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                "root",
                f"cannot create {root}: {exc.strerror or exc}",
                fix="give a directory path you can write",
            ) from None
        sandbox = sandbox_class(
            root, tokens=(inputs.token,), port=inputs.port, events_dir=inputs.events_dir, login=inputs.login
        )
        if sandbox.note:
            ctx.console.info(f"note: {sandbox.note}")
        for name in inputs.repositories:
            sandbox.create_repo(name)
        sandbox.start()
    except BaseException:
        if sandbox is not None:
            sandbox.stop()
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    ctx.console.info(f"GitHub API sandbox: {sandbox.url}")
    ctx.console.info(f"token: {inputs.token}   (send 'Authorization: token {inputs.token}')")
    for name in inputs.repositories:
        ctx.console.info(f"git remote {name}: {sandbox.git_url(name)}")
    if inputs.events_dir is not None:
        ctx.console.info(f"events: each repository_dispatch is written to {inputs.events_dir}")
    ctx.console.info(
        "serving "
        + (f"for {inputs.duration:g}s" if inputs.duration else "until Ctrl-C")
        + f"; data in {root}"
    )
    return sandbox, root


def _stop_on_signals(event: threading.Event) -> dict[int, Any]:
    """SIGTERM (``kill``) and SIGINT (Ctrl-C) both stop the sandbox, so violations are still
    reported and ``strict`` still sets the exit status. SIGINT gets an explicit handler because a
    job a non-interactive shell starts with ``&`` inherits SIGINT ignored, and Python then installs
    no KeyboardInterrupt handler. Only possible from the main thread (tests run others). Returns
    the previous handlers, to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {
        signum: signal.signal(signum, lambda received, frame: event.set())
        for signum in (signal.SIGTERM, signal.SIGINT)
    }


def strict_failure(violations: list[str]) -> ContractViolationError:
    """The one-line failure for ``strict``: how many violations, the first few, and where the rest are."""
    listed = "; ".join(f"({n}) {v[:300]}" for n, v in enumerate(violations[:STRICT_LISTED], start=1))
    more = len(violations) - STRICT_LISTED
    rest = f"; and {more} more (see the warnings above)" if more > 0 else ""
    return ContractViolationError(
        f"the sandbox recorded {len(violations)} OpenAPI violation(s) while serving: {listed}{rest}",
        fix="fix the client request each names (a 'request' line), or report a sandbox bug (a 'response' "
        "line); run without strict to only warn",
    )
