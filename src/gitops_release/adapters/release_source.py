"""Where ``gitops-release serve`` reads db.json from: a file it watches, or a git branch it fetches.

Both sources answer ``load()`` with a ``LoadResult``: a new ``ReleaseIndex``, "unchanged" (no
index, no error), or an error naming what failed and which health check it concerns
(``source``: the file or remote could not be read; ``database``: what was read is not a valid
db). A source never raises for a bad db or a failed read: the server keeps serving the last good
index and reports the error in its health checks.

``FileSource`` (``--db-path``): the path is the operator's choice, so a symbolic link is
followed (a Kubernetes ConfigMap volume is a chain of them, swapped atomically on update).
``changed()`` compares (mtime_ns, ctime_ns, size, inode, device) with the last look: a cheap
stat per poll; the ctime catches an in-place rewrite of the same size whose mtime was kept or fell
in the same coarse timestamp tick (it cannot be set back from userspace). The content's SHA-256
decides whether anything really changed. The path is opened with ``O_NONBLOCK`` and must be a
regular file: a FIFO (which blocks ``open`` until a writer comes), a device or a directory is a
failed load naming it, never a hung poll.

``GitSource`` (``--git-url``, ``--branch``): a private clone in a temporary directory, a
shallow fetch (``--depth=1``: only the branch's tip, never its history) every poll, ``db/db.json``
read at the fetched commit with ``show_file``, which refuses a symbolic link anywhere on the path
in the commit's tree: a checkout of the config repo is hostile input. The token goes to git as an
``http.extraheader`` through environment variables (adapters/git.py's ``Git`` builds them),
never in argv or a URL.

The fetch is bounded: ``fetch_timeout`` seconds at most (``fetch_timeout_for``), and git's
``http.lowSpeedLimit``/``lowSpeedTime`` end a transfer that stalls sooner. It runs in its own
process group, so a timeout or ``cancel()`` (serve is stopping) kills git and its
``git-remote-http`` helper together: ``Git.run`` cannot be interrupted from another thread,
which is why this one command is started here (with ``Git``'s environment and an argument list).

Both bound what they read (``max_bytes``, ``--max-db-bytes``) before reading it. Anything a
source did not foresee (an unwritable TMPDIR for the clone, a bug) becomes a failed load on the
``source`` check in ``ServerState.load``, never an exception out of a request.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitops_release.adapters.git import Git, GitResult, show_file
from gitops_release.core.db import load_db
from gitops_release.core.release_index import ReleaseIndex, build_index
from gitops_release.errors import GitError, ReleaseError
from gitops_release.runtime import redact

#: The largest db.json a source reads by default (``--max-db-bytes``). 10,000 releases are about
#: 4 MiB. Memory is what bounds it: serve's peak resident memory is about RESIDENT_PER_DB_BYTE
#: times the db's size after a reload (docs/serve.md "Memory"), and the template's memory limit
#: is set from that.
MAX_DB_BYTES = 16 * 1024 * 1024
#: Peak resident memory per byte of db.json after one reload, measured with the smallest valid
#: releases (the worst case; typical releases: 35) by benchmarks/bench_serve_memory.py.
RESIDENT_PER_DB_BYTE = 49
#: A fetch may take at most this long, whatever the interval (docs/serve.md "Sources").
MAX_FETCH_TIMEOUT = 60.0
MIN_FETCH_TIMEOUT = 10.0
#: git ends a transfer slower than LOW_SPEED_LIMIT bytes/s for LOW_SPEED_TIME seconds.
LOW_SPEED_LIMIT = 1000
LOW_SPEED_TIME = 20
DB_PATH_IN_REPO = "db/db.json"

SOURCE_CHECK = "source"
DATABASE_CHECK = "database"


@dataclass(frozen=True)
class LoadResult:
    """``index``: a new version to serve; ``error``: why there is none (``check`` names the
    health check it concerns); neither: the source holds what was loaded last."""

    index: ReleaseIndex | None
    error: str | None
    revision: str | None
    check: str = DATABASE_CHECK

    @property
    def unchanged(self) -> bool:
        return self.index is None and self.error is None


def fetch_timeout_for(interval: float) -> float:
    """How long one fetch may take: twice the fetch interval, at least MIN_FETCH_TIMEOUT (a slow
    remote still gets a chance) and at most MAX_FETCH_TIMEOUT (a hung one is seen in time)."""
    return min(max(2 * interval, MIN_FETCH_TIMEOUT), MAX_FETCH_TIMEOUT)


def _too_big(where: str, size: int, limit: int) -> str:
    return f"{where} is {size} bytes, more than the {limit} bytes serve reads"


def _index_of(data: bytes, *, where: str, revision: str | None, loaded_at: str) -> LoadResult:
    """A LoadResult for db.json's bytes: an index, or the database error naming ``where``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LoadResult(None, f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start})", revision)
    try:
        db = load_db(text, path=where)
    except ReleaseError as exc:
        return LoadResult(None, exc.one_line(), revision)
    return LoadResult(build_index(db, loaded_at=loaded_at, revision=revision), None, revision)


class FileSource:
    """db.json at a path on disk, reloaded when its content changes."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_DB_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._seen: tuple[int, int, int, int, int] | None = None
        self._digest: str | None = None  # of the content of the last good load

    def describe(self) -> str:
        return f"file {self.path}"

    def _stat(self) -> tuple[int, int, int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)

    def changed(self) -> bool:
        """True when the file looks different from the last ``load()`` (or vanished, or came back)."""
        return self._stat() != self._seen

    def load(self, *, loaded_at: str) -> LoadResult:
        self._seen = self._stat()
        where = str(self.path)
        try:
            # O_NONBLOCK: opening a FIFO with no writer would block for ever. What is opened is
            # then checked to be a regular file before anything is read from it.
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO, device or socket"
                    return LoadResult(
                        None, f"{where} is not a regular file (it is {kind})", None, SOURCE_CHECK
                    )
                if st.st_size > self.max_bytes:
                    return LoadResult(None, _too_big(where, st.st_size, self.max_bytes), None, SOURCE_CHECK)
                # A file that grows while it is read is bounded too.
                with open(fd, "rb", closefd=False) as handle:
                    data = handle.read(self.max_bytes + 1)
            finally:
                os.close(fd)
        except FileNotFoundError:
            return LoadResult(None, f"{where} does not exist", None, SOURCE_CHECK)
        except OSError as exc:
            return LoadResult(None, f"cannot read {where}: {exc.strerror or exc}", None, SOURCE_CHECK)
        if len(data) > self.max_bytes:
            return LoadResult(None, _too_big(where, len(data), self.max_bytes), None, SOURCE_CHECK)
        revision = "sha256:" + hashlib.sha256(data).hexdigest()
        if revision == self._digest:
            return LoadResult(None, None, revision)
        result = _index_of(data, where=where, revision=revision, loaded_at=loaded_at)
        if result.index is not None:
            self._digest = revision
        return result

    def cancel(self) -> None:
        return None  # a read of a regular file does not hang

    def close(self) -> None:
        return None


class GitSource:
    """db/db.json on ``branch`` of the remote ``url``, fetched into a private clone."""

    def __init__(
        self,
        url: str,
        branch: str,
        *,
        token: str | None = None,
        path: str = DB_PATH_IN_REPO,
        max_bytes: int = MAX_DB_BYTES,
        fetch_timeout: float = MAX_FETCH_TIMEOUT,
        workdir: Path | None = None,
        env: dict[str, str] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.branch = branch
        self.path = path
        self.max_bytes = max_bytes
        self.fetch_timeout = fetch_timeout
        self._child: subprocess.Popen[bytes] | None = None
        self._child_lock = threading.Lock()
        self._cancelled = False
        self._token = token
        self._env = env
        self._log = log
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else None
        self._blob: str | None = None  # db.json's blob in the last good load

    def describe(self) -> str:
        return f"git {self.url} branch {self.branch}"

    def changed(self) -> bool:
        return True  # only a fetch can tell

    def _clone(self) -> Path:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="gitops-release-serve-"))
        if not (self.workdir / ".git").is_dir():
            self.workdir.mkdir(parents=True, exist_ok=True)
            plain = Git(self.workdir, env=self._env)
            plain.run("init", "--quiet")
            plain.run("remote", "add", "origin", "--", self.url)
        return self.workdir

    def _fetch(self, checkout: Path) -> str | None:
        """Fetch the tip of ``branch`` (depth 1) into ``refs/remotes/origin/<branch>``; its
        commit, or None when the remote has no such branch. Bounded by ``fetch_timeout`` and
        killed (with git's helpers: a process group) on timeout or ``cancel()``."""
        git = Git(checkout, token=self._token, env=self._env, auth_url=self.url)
        git.run("check-ref-format", "--branch", self.branch)
        tracking = f"refs/remotes/origin/{self.branch}"
        args = (
            "-c",
            f"http.lowSpeedLimit={LOW_SPEED_LIMIT}",
            "-c",
            f"http.lowSpeedTime={LOW_SPEED_TIME}",
            "fetch",
            "--quiet",
            "--no-tags",
            "--depth=1",
            "origin",
            f"+refs/heads/{self.branch}:{tracking}",
        )
        with self._child_lock:
            if self._cancelled:
                raise GitError("the fetch was cancelled: serve is stopping")
            child = subprocess.Popen(
                ["git", *args],
                cwd=checkout,
                env=git.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: killed with its helpers
            )
            self._child = child
        try:
            try:
                _, err = child.communicate(timeout=self.fetch_timeout)
            except subprocess.TimeoutExpired:
                _kill_group(child)
                child.communicate()
                raise GitError(
                    f"'git fetch' did not finish within {self.fetch_timeout:g}s",
                    fix="check the network and the remote; the next poll tries again",
                ) from None
        finally:
            with self._child_lock:
                self._child = None
        if self._cancelled:
            raise GitError("the fetch was cancelled: serve is stopping")
        stderr = redact(err.decode("utf-8", "replace"))
        if child.returncode != 0:
            if "couldn't find remote ref" in stderr.lower():
                git.run("update-ref", "-d", tracking, check=False)
                return None
            raise git.error(("fetch",), GitResult(child.returncode, "", stderr))
        return git.rev_parse(tracking)

    def cancel(self) -> None:
        """Kill a fetch under way (and refuse new ones): serve is stopping."""
        with self._child_lock:
            self._cancelled = True
            child = self._child
        if child is not None:
            _kill_group(child)

    def load(self, *, loaded_at: str) -> LoadResult:
        where = f"{self.path} on {self.branch} of {self.url}"
        try:
            checkout = self._clone()
        except OSError as exc:
            where_dir = self.workdir or tempfile.gettempdir()
            return LoadResult(
                None,
                f"cannot make the clone in {where_dir}: {exc.strerror or exc} (check TMPDIR)",
                None,
                SOURCE_CHECK,
            )
        except ReleaseError as exc:
            return LoadResult(None, f"preparing the clone failed: {exc.one_line()}", None, SOURCE_CHECK)
        try:
            commit = self._fetch(checkout)
        except ReleaseError as exc:
            return LoadResult(None, f"fetching {self.branch} failed: {exc.one_line()}", None, SOURCE_CHECK)
        if commit is None:
            return LoadResult(None, f"{self.url} has no branch {self.branch}", None, SOURCE_CHECK)
        where = f"{self.path} at {commit[:12]} ({self.branch})"
        git = Git(checkout, env=self._env)
        # A commit that left db.json as it was (another file of the config repo changed) changes
        # nothing served: same blob, same index, same ETag. `<commit>:<path>` does not follow a
        # symbolic link in the tree: a link gives no blob here and show_file below names it.
        blob = git.run("rev-parse", "--verify", "--quiet", f"{commit}:{self.path}", check=False).out.strip()
        if blob and blob == self._blob:
            return LoadResult(None, None, commit)
        try:
            # The size before the content, so a huge blob is never read into memory.
            sized = git.run("cat-file", "-s", f"{commit}:{self.path}", check=False)
            if sized.rc == 0 and int(sized.out.strip() or "0") > self.max_bytes:
                size = int(sized.out.strip())
                return LoadResult(None, _too_big(where, size, self.max_bytes), commit, SOURCE_CHECK)
            text = show_file(git, commit, self.path)
        except ReleaseError as exc:
            return LoadResult(None, exc.one_line(), commit)
        if text is None:
            return LoadResult(None, f"{where} does not exist", commit)
        result = _index_of(text.encode("utf-8"), where=where, revision=commit, loaded_at=loaded_at)
        if result.index is not None:
            self._blob = blob or None
        return result

    def close(self) -> None:
        """Remove the private clone (when this source made its directory)."""
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


ReleaseSource = FileSource | GitSource
