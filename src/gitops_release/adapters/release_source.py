"""Where ``gitops-release serve`` reads db.json from: a file it watches, or a git branch it fetches.

Both sources answer ``load()`` with a ``LoadResult``: a new ``ReleaseIndex``, "unchanged" (no
index, no error), or an error naming what failed and which health check it concerns
(``source``: the file or remote could not be read; ``database``: what was read is not a valid
db). A source never raises for a bad db or a failed read: the server keeps serving the last good
index and reports the error in its health checks.

``FileSource`` (``--db-path``): the path is the operator's choice, so a symbolic link is
followed (a Kubernetes ConfigMap volume is a chain of them, swapped atomically on update).
``changed()`` compares (mtime_ns, size, inode, device) with the last look: a cheap stat per poll;
the content's SHA-256 decides whether anything really changed.

``GitSource`` (``--git-url``, ``--branch``): a private clone in a temporary directory,
``fetch_branch`` (adapters/git.py) every poll, ``db/db.json`` read at the fetched commit with
``show_file``, which refuses a symbolic link anywhere on the path in the commit's tree: a
checkout of the config repo is hostile input. The token goes to git as an ``http.extraheader``
through environment variables, never in argv or a URL.

Both bound what they read (``MAX_DB_BYTES``) before reading it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitops_release.adapters.git import Git, fetch_branch, show_file
from gitops_release.core.db import load_db
from gitops_release.core.release_index import ReleaseIndex, build_index
from gitops_release.errors import ReleaseError

#: The largest db.json a source reads (10,000 releases are about 5 MiB).
MAX_DB_BYTES = 64 * 1024 * 1024
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
        self._seen: tuple[int, int, int, int] | None = None
        self._digest: str | None = None  # of the content of the last good load

    def describe(self) -> str:
        return f"file {self.path}"

    def _stat(self) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)

    def changed(self) -> bool:
        """True when the file looks different from the last ``load()`` (or vanished, or came back)."""
        return self._stat() != self._seen

    def load(self, *, loaded_at: str) -> LoadResult:
        self._seen = self._stat()
        where = str(self.path)
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > self.max_bytes:
                    return LoadResult(None, _too_big(where, size, self.max_bytes), None, SOURCE_CHECK)
                # A file that grows while it is read is bounded too (a FIFO, a device).
                data = handle.read(self.max_bytes + 1)
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
        workdir: Path | None = None,
        env: dict[str, str] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.branch = branch
        self.path = path
        self.max_bytes = max_bytes
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

    def load(self, *, loaded_at: str) -> LoadResult:
        where = f"{self.path} on {self.branch} of {self.url}"
        try:
            checkout = self._clone()
            commit = fetch_branch(checkout, self.url, self.branch, token=self._token, env=self._env)
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


ReleaseSource = FileSource | GitSource
