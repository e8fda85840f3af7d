"""``gitops-release serve``: the release-channel HTTP API over db.json (docs/serve.md).

Serves ``--db-path`` (reloaded when the file changes) or ``db/db.json`` of ``--git-url`` at
``--branch`` (fetched every ``--fetch-interval``) with FastAPI on uvicorn, until SIGTERM or
Ctrl-C: uvicorn stops taking connections, lets the requests under way finish, and the app's
lifespan stops the polling and removes the private clone.

Secrets come from the environment only, never from argv: ``GITOPS_RELEASE_RELOAD_TOKEN`` (the
bearer token ``POST /v1/reload`` wants; unset, reload answers 404) and
``GITOPS_RELEASE_GIT_TOKEN`` (sent to an https remote as git's ``http.extraheader``; refused with
any other URL, except plain http to a loopback address, so it never crosses a network in clear).

On SIGTERM the loads are cancelled at once (a git fetch under way is killed), so a reload
request waiting for one answers before uvicorn's graceful-shutdown timeout and the process
exits within seconds.

Needs the ``server`` extra (``pip install 'gitops-release[server]'``); without it the command
says so and starts nothing.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gitops_release import __version__
from gitops_release.adapters.git import has_credentials
from gitops_release.commands.base import Context
from gitops_release.errors import InputError, ReleaseError
from gitops_release.runtime import InputReader, InputSpec, register_secret

RELOAD_TOKEN_ENV = "GITOPS_RELEASE_RELOAD_TOKEN"  # noqa: S105 - a variable name
GIT_TOKEN_ENV = "GITOPS_RELEASE_GIT_TOKEN"  # noqa: S105 - a variable name
#: Shorter reload tokens could be guessed over HTTP (nothing limits the attempts).
MIN_RELOAD_TOKEN = 16
DEFAULT_FETCH_INTERVAL = 30.0
#: --max-db-bytes: adapters/release_source.MAX_DB_BYTES (16 MiB) by default; resident memory is
#: about RESIDENT_PER_DB_BYTE times this at its peak (docs/serve.md "Memory").
DEFAULT_MAX_DB_BYTES = 16 * 1024 * 1024
MIN_DB_BYTES = 1024
#: Reload requests start a fetch of a git remote at most this often (a reload storm merges).
MIN_RELOAD_SPACING = 5.0
#: A file load (stat, read, parse) that takes longer than this makes the file source stale.
FILE_LOAD_TIMEOUT = 10.0
#: A token may go over plain http only to these hosts (a test server, a local proxy).
LOOPBACK_HOSTS = frozenset(("127.0.0.1", "::1", "localhost"))
#: Graceful stop: how long requests under way may take after SIGTERM.
SHUTDOWN_GRACE = 10
EXTRA_FIX = "install the server extra: pip install 'gitops-release[server]'"

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("db-path", "db.json to serve, reloaded when it changes (or give git-url and branch)"),
    InputSpec(
        "git-url",
        f"config repository to serve db/db.json from (https, ssh, or a path); token from {GIT_TOKEN_ENV}",
    ),
    InputSpec("branch", "branch of git-url to serve"),
    InputSpec(
        "fetch-interval",
        "how often to fetch git-url, e.g. 30s or 2m (at least 1s; not with db-path)",
        kind="duration",
        default=DEFAULT_FETCH_INTERVAL,
    ),
    InputSpec(
        "max-db-bytes",
        "the largest db.json to load, in bytes; a larger one is a failed load (sets the memory needed)",
        kind="int",
        default=DEFAULT_MAX_DB_BYTES,
        minimum=MIN_DB_BYTES,
    ),
    InputSpec("host", "address to listen on", default="127.0.0.1"),
    InputSpec("port", "port to listen on", kind="int", default=8089, minimum=1, maximum=65535),
)

# A plain branch name; git check-ref-format --branch (at fetch time) has the last word.
_BRANCH = re.compile(r"^(?!-)(?!refs/)(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/-]{1,255}(?<![./])$")


@dataclass(frozen=True)
class Inputs:
    db_path: Path | None
    git_url: str | None
    branch: str | None
    fetch_interval: float
    host: str
    port: int
    max_db_bytes: int = DEFAULT_MAX_DB_BYTES
    reload_token: str | None = field(default=None, repr=False)
    git_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        values = reader.read_all(INPUTS)
        db_path, git_url, branch = values["db_path"], values["git_url"], values["branch"]
        if (db_path is None) == (git_url is None):
            raise InputError(
                "db-path",
                "give either db-path or git-url (with branch), not both" if db_path else "nothing to serve",
                fix="--db-path db/db.json, or --git-url https://github.com/org/config --branch main",
            )
        if git_url is not None:
            if branch is None:
                raise InputError("branch", "is required with git-url", fix="e.g. --branch main")
            if not _BRANCH.match(branch):
                raise InputError(
                    "branch", f"'{branch}' is not a branch name", fix="give a plain name such as main"
                )
            if has_credentials(git_url) or git_url.startswith("-"):
                raise InputError(
                    "git-url",
                    "has credentials in it (user:password@ or a token before '@')"
                    if has_credentials(git_url)
                    else "is not a repository URL",
                    fix=f"give the URL alone and the token in {GIT_TOKEN_ENV}: it is sent as a header",
                )
        elif branch is not None:
            raise InputError("branch", "is given without git-url", fix="drop it, or serve --git-url")
        elif reader.raw("fetch-interval") is not None:
            raise InputError(
                "fetch-interval",
                "applies to git-url only (a db-path file is checked every second)",
                fix="drop --fetch-interval, or serve --git-url with --branch",
            )
        if values["fetch_interval"] < 1:
            raise InputError("fetch-interval", "must be at least 1s", fix="e.g. 30s (the default) or 2m")
        host = values["host"]
        if any(c.isspace() for c in host):
            raise InputError("host", f"'{host}' is not an address", fix="e.g. 127.0.0.1, or 0.0.0.0 in a pod")
        reload_token = reader.env.get(RELOAD_TOKEN_ENV) or None
        if reload_token is not None:
            register_secret(reload_token)
            if len(reload_token) < MIN_RELOAD_TOKEN or any(c.isspace() for c in reload_token):
                raise InputError(
                    RELOAD_TOKEN_ENV,
                    f"must be at least {MIN_RELOAD_TOKEN} characters without spaces",
                    fix=f"e.g. {RELOAD_TOKEN_ENV}=$(openssl rand -hex 32), or unset it to disable reload",
                )
        git_token = reader.env.get(GIT_TOKEN_ENV) or None
        if git_token is not None:
            register_secret(git_token)
            if git_url is not None and not _token_may_go_to(git_url):
                raise InputError(
                    "git-url",
                    f"is not an https URL, and {GIT_TOKEN_ENV} is sent only over https "
                    "(or plain http to 127.0.0.1, ::1 or localhost)",
                    fix=f"give the https:// URL of the repository, or unset {GIT_TOKEN_ENV} for a public "
                    "or ssh remote",
                )
        return cls(
            db_path=Path(db_path).expanduser() if db_path is not None else None,
            git_url=git_url,
            branch=branch,
            fetch_interval=values["fetch_interval"],
            host=host,
            port=values["port"],
            max_db_bytes=values["max_db_bytes"],
            reload_token=reload_token,
            git_token=git_token,
        )


def _token_may_go_to(url: str) -> bool:
    """True when a token sent to ``url`` stays encrypted or on this machine."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return True
    try:
        host = parts.hostname
    except ValueError:
        return False
    return scheme == "http" and host in LOOPBACK_HOSTS


@dataclass
class Outputs:
    source: str
    revision: str | None
    releases: int
    reloads: int

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "revision": self.revision or "",
            "releases": self.releases,
            "reloads": self.reloads,
        }

    def summary(self) -> str:
        return (
            f"### gitops-release serve\n\nServed {self.source}: {self.releases} releases at revision "
            f"`{self.revision or 'none'}`, {self.reloads} reloads.\n"
        )


def check_extra() -> None:
    """A clear error, before anything starts, when the server extra is not installed."""
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise ReleaseError(
            f"gitops-release serve needs {' and '.join(missing)}, which are not installed",
            fix=EXTRA_FIX,
            title="Missing the server extra",
        )


def run(inputs: Inputs, ctx: Context) -> Outputs:
    check_extra()
    import uvicorn

    from gitops_release.adapters.release_source import FileSource, GitSource, ReleaseSource, fetch_timeout_for
    from gitops_release.server.app import create_app
    from gitops_release.server.http_protocol import uvicorn_config
    from gitops_release.server.state import FILE_POLL_INTERVAL, ServerState

    source: ReleaseSource
    if inputs.db_path is not None:
        source = FileSource(inputs.db_path, max_bytes=inputs.max_db_bytes)
        interval, load_timeout, spacing = FILE_POLL_INTERVAL, FILE_LOAD_TIMEOUT, 0.0
    else:
        assert inputs.git_url is not None and inputs.branch is not None
        interval = inputs.fetch_interval
        load_timeout, spacing = fetch_timeout_for(interval), MIN_RELOAD_SPACING
        source = GitSource(
            inputs.git_url,
            inputs.branch,
            token=inputs.git_token,
            max_bytes=inputs.max_db_bytes,
            fetch_timeout=load_timeout,
        )
    state = ServerState(
        source,
        version=__version__,
        reload_token=inputs.reload_token,
        poll_interval=interval,
        load_timeout=load_timeout,
        min_reload_spacing=spacing,
    )
    # Request head timeout, connection cap, send timeout: server/http_protocol.py.
    config = uvicorn_config(
        create_app(state), host=inputs.host, port=inputs.port, timeout_graceful_shutdown=SHUTDOWN_GRACE
    )

    class Server(uvicorn.Server):
        """uvicorn's server that cancels the loads as soon as a stop signal arrives: a reload
        request waiting for a fetch then answers before the graceful-shutdown timeout."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            state.cancel()
            super().handle_exit(sig, frame)

    server = Server(config)
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind
        raise ReleaseError(
            f"cannot listen on {inputs.host}:{inputs.port}",
            fix="pick a free --port, or stop what listens there",
            title="serve failed",
        ) from None
    finally:
        state.stop()  # also when the lifespan never ran: the clone goes either way
    index = state.index
    return Outputs(
        source=source.describe(),
        revision=index.revision if index is not None else None,
        releases=len(index) if index is not None else 0,
        reloads=state.metrics.reloads.get("changed", 0),
    )
