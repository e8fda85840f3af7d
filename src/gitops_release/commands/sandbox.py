"""``gitops-release sandbox``: serve the local GitHub API emulator and its bare git remotes.

Prints the API URL, the token and each repository's git URL as soon as it is serving, then
serves until ``duration`` runs out, Ctrl-C (SIGINT) or SIGTERM. The token is the sandbox's own
local credential (it opens nothing but this process), so it is printed on purpose and not masked.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops_release.commands.base import Context
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
)

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
        return cls(
            root=root,
            repositories=repositories,
            token=token,
            port=values["port"],
            duration=duration,
            strict=bool(values["strict"]),
            events_dir=events_dir,
            login=login,
        )


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
        }

    def summary(self) -> str:
        return markdown_table("GitHub sandbox", self.as_dict())


def run(inputs: Inputs, ctx: Context, *, stop: threading.Event | None = None) -> Outputs:
    """Serve until ``duration`` passes, SIGINT/SIGTERM, or ``stop`` is set (tests)."""
    from gitops_release.sandbox.github import GitHubSandbox

    event = stop or threading.Event()
    # Installed before the set-up, so a signal during it also stops cleanly (and cleans up).
    previous = _stop_on_signals(event)
    try:
        sandbox, root = _start(inputs, ctx, GitHubSandbox)
        try:
            event.wait(inputs.duration)
        finally:
            if event.is_set():
                ctx.console.info("stopping")
            sandbox.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    git_urls = {name: sandbox.git_url(name) for name in inputs.repositories}
    for violation in sandbox.violations:
        ctx.console.annotation("warning", violation, title="OpenAPI violation")
    if inputs.strict and sandbox.violations:
        raise strict_failure(sandbox.violations)
    return Outputs(
        url=sandbox.url,
        token=inputs.token,
        root=str(root),
        git_urls=git_urls,
        requests=len(sandbox.requests),
        violations=len(sandbox.violations),
        events_dir=str(inputs.events_dir or ""),
        events=sum(len(sandbox.dispatches(name)) for name in inputs.repositories),
    )


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
        f"the GitHub sandbox recorded {len(violations)} OpenAPI violation(s) while serving: {listed}{rest}",
        fix="fix the client request each names (a 'request' line), or report a sandbox bug (a 'response' "
        "line); run without strict to only warn",
    )
