"""Review 11a reproductions for adapters/release_source.py (each fails on main 1222a46)."""

from __future__ import annotations

import os
import subprocess
import threading

from gitops_release.adapters import git as git_adapter
from gitops_release.adapters import release_source
from gitops_release.adapters.release_source import FileSource, GitSource
from tests.fixtures.serve_api import db_text, release, write_db

# What a poll may take at most before serve reports it and moves on. The default fetch interval
# is 30 s; a fetch that may hang for 300 s holds the load lock (reloads queue behind it),
# keeps health "healthy" and blocks SIGTERM past Kubernetes' 30 s grace period.
MAX_FETCH_TIMEOUT = 60.0


def test_a_hanging_fetch_is_bounded_well_below_the_git_default(tmp_path, monkeypatch):
    # fix11: the fetch no longer goes through Git.run (it cannot be killed from another thread);
    # GitSource starts it in its own process group, so the timeout is recorded at communicate().
    seen: list[tuple[tuple[str, ...], float]] = []
    real_run = git_adapter.Git.run

    class RecordingPopen(subprocess.Popen):
        def communicate(self, input=None, timeout=None):
            seen.append((tuple(self.args[1:]), timeout))
            return super().communicate(input, timeout)

    monkeypatch.setattr(release_source.subprocess, "Popen", RecordingPopen)
    remote = tmp_path / "remote.git"
    real_run(git_adapter.Git(tmp_path), "init", "--bare", "--quiet", str(remote))
    source = GitSource(str(remote), "main", workdir=tmp_path / "clone")
    try:
        source.load(loaded_at="2026-01-01T00:00:00Z")
    finally:
        source.close()
    fetches = [timeout for args, timeout in seen if "fetch" in args]
    assert fetches, seen
    assert max(fetches) <= MAX_FETCH_TIMEOUT, f"git fetch may hang for {max(fetches):g}s"


def test_a_fifo_without_a_writer_does_not_hang_the_load(tmp_path):
    """open() of a FIFO blocks until a writer appears: the poll thread then holds the load lock
    for ever (every POST /v1/reload hangs, SIGTERM never finishes) while health says healthy.
    --db-path follows symbolic links, so a link to a FIFO is enough."""
    fifo = tmp_path / "db.json"
    os.mkfifo(fifo)
    results: list[object] = []
    worker = threading.Thread(
        target=lambda: results.append(FileSource(fifo).load(loaded_at="t")), daemon=True
    )
    worker.start()
    worker.join(timeout=10)  # a bound for a broken run, not a measured time
    hung = worker.is_alive()
    if hung:  # let the blocked open() finish so the thread ends
        with open(fifo, "wb") as writer:
            writer.write(b"{")
        worker.join()
    assert not hung, "FileSource.load blocked on a FIFO with no writer"


def test_an_in_place_rewrite_that_keeps_size_and_mtime_is_still_seen(tmp_path):
    """The change detector is (mtime_ns, size, inode, device). An in-place rewrite of the same
    size within one coarse timestamp tick (Linux < 6.13 stamps files at jiffy resolution), or by
    a tool that preserves the mtime (cp -p, rsync --inplace -t), is never reloaded: the old
    version is served for ever and health says healthy. st_ctime_ns cannot be set back."""
    path = write_db(tmp_path / "db.json", [release("app", "dev", tag="v1")])
    source = FileSource(path)
    assert source.load(loaded_at="t").index is not None
    before = os.stat(path)
    new = db_text([release("app", "dev", tag="v2")])
    assert len(new.encode()) == before.st_size
    with open(path, "r+b") as handle:  # same inode, same size
        handle.write(new.encode())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # what a coarse tick looks like
    assert source.changed(), "a changed db.json is never reloaded"
