"""await-argocd-sync ends what it starts: the watch threads and their stream sockets end with
``run()`` (in-process callers such as benchmarks and the demo run many waits) (review 9a #13)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from gitops_release.commands import await_argocd_sync as aas
from gitops_release.commands.base import Context
from gitops_release.runtime import Console, InputReader
from tests.fixtures.argocd_http import Handler, ScriptedServer, synced_app
from tests.fixtures.git_remotes import git, one_commit_repo


def watch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "argocd watch" and t.is_alive()]


def test_the_watch_threads_and_their_sockets_end_with_the_command(tmp_path: Path) -> None:
    repo = one_commit_repo(tmp_path)
    sha = git("rev-parse", "HEAD", cwd=repo).strip()
    gets: dict[str, int] = {}
    release = threading.Event()

    def handler(request: Handler) -> None:
        if request.path.startswith("/api/v1/stream/"):
            request.start_chunked()
            release.wait(15)  # a quiet stream (NDJSON has no keep-alive): the client must hang up
            return
        name = request.path.rsplit("/", 1)[-1].split("?")[0]
        gets[name] = gets.get(name, 0) + 1
        # stale until the refresh the command asks for (the 3rd GET of the app)
        fresh = gets[name] >= 3
        request.send_json(
            200, synced_app(sha, "2025-01-01T00:00:20Z" if fresh else "2025-01-01T00:00:05Z", name)
        )

    values = {
        "token": "tok-secret-1234567890",
        "applications": "web\napi",
        "repo-path": str(repo),
        "timeout": "60s",
        "poll-interval": "1s",
    }
    before = watch_threads()
    with ScriptedServer(handler) as server:
        try:
            env = {f"INPUT_{k.upper()}": v for k, v in {"server": server.url, **values}.items()}
            ctx = Context(
                console=Console(env={}, out=io.StringIO(), err=io.StringIO()), env={}, workdir=tmp_path
            )
            aas.run(aas.Inputs.from_reader(InputReader(env=env)), ctx)
            # stop() joined the threads once their connections were closed: none is left
            alive = [t for t in watch_threads() if t not in before]
            assert not alive, "a watch thread still runs (its stream socket open) after run() returned"
        finally:
            release.set()
