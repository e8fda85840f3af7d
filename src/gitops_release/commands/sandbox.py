"""``gitops-release sandbox``: serve the local GitHub API emulator and its bare git remotes.

Prints the API URL, the token and each repository's git URL as soon as it is serving, then
serves until ``duration`` runs out or Ctrl-C. The token is the sandbox's own local credential
(it opens nothing but this process), so it is printed on purpose and not masked.

When it stops, every OpenAPI violation it recorded is printed as a warning; with ``strict`` the
command then fails (exit 1) listing them, so a CI job that drives the sandbox catches client bugs.
"""

from __future__ import annotations

import re
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

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
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
        return cls(
            root=root,
            repositories=repositories,
            token=token,
            port=values["port"],
            duration=duration,
            strict=bool(values["strict"]),
        )


@dataclass
class Outputs:
    url: str
    token: str
    root: str
    git_urls: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    violations: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "token": self.token,
            "root": self.root,
            "git-urls": self.git_urls,
            "requests": self.requests,
            "violations": self.violations,
        }

    def summary(self) -> str:
        return markdown_table("GitHub sandbox", self.as_dict())


def run(inputs: Inputs, ctx: Context, *, stop: threading.Event | None = None) -> Outputs:
    """Serve until ``duration`` passes, Ctrl-C, or ``stop`` is set (tests)."""
    from gitops_release.sandbox.github_api import GitHubSandbox

    root = inputs.root or Path(tempfile.mkdtemp(prefix="gitops-release-sandbox-"))
    root.mkdir(parents=True, exist_ok=True)
    sandbox = GitHubSandbox(root, tokens=(inputs.token,), port=inputs.port)
    if sandbox.note:
        ctx.console.info(f"note: {sandbox.note}")
    for name in inputs.repositories:
        sandbox.create_repo(name)
    sandbox.start()
    git_urls = {name: sandbox.git_url(name) for name in inputs.repositories}
    ctx.console.info(f"GitHub API sandbox: {sandbox.url}")
    ctx.console.info(f"token: {inputs.token}   (send 'Authorization: token {inputs.token}')")
    for name, url in git_urls.items():
        ctx.console.info(f"git remote {name}: {url}")
    ctx.console.info(
        "serving "
        + (f"for {inputs.duration:g}s" if inputs.duration else "until Ctrl-C")
        + f"; data in {root}"
    )
    event = stop or threading.Event()
    previous = _stop_on_sigterm(event)
    try:
        event.wait(inputs.duration)
    except KeyboardInterrupt:
        ctx.console.info("stopping")
    finally:
        sandbox.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
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
    )


def _stop_on_sigterm(event: threading.Event) -> Any:
    """``kill`` (SIGTERM) stops the sandbox like Ctrl-C, so violations are still reported and
    ``strict`` still sets the exit status. Only possible from the main thread (tests run others)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda signum, frame: event.set())


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
