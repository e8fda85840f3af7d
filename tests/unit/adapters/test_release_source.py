"""adapters/release_source.py: FileSource and GitSource (real local git remotes)."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from gitops_release.adapters.release_source import FileSource, GitSource
from tests.fixtures.git_remotes import git, spy_on_git, url_to_path
from tests.fixtures.serve_api import db_text, release, wait_until, write_db

T0 = "2026-02-01T10:00:00Z"
T1 = "2026-02-01T10:00:30Z"
GOOD = db_text([release("app", "dev")])


# -- FileSource ----------------------------------------------------------------------------------


def test_file_source_loads_and_then_reports_unchanged(tmp_path):
    source = FileSource(write_db(tmp_path / "db.json", [release("app", "dev")]))
    first = source.load(loaded_at=T0)
    assert first.error is None and first.index is not None
    assert [r.container for r in first.index.releases] == ["app"]
    assert first.revision and first.revision.startswith("sha256:")
    assert first.index.revision == first.revision and first.index.loaded_at == T0
    again = source.load(loaded_at=T1)
    assert again.unchanged and again.revision == first.revision


def test_file_source_changed_follows_stat_and_content_decides(tmp_path):
    path = write_db(tmp_path / "db.json", [release("app", "dev")])
    source = FileSource(path)
    assert source.changed()  # never looked
    source.load(loaded_at=T0)
    assert not source.changed()
    path.write_text(GOOD + "\n")  # other bytes, other stat
    assert source.changed()
    other = source.load(loaded_at=T1)
    assert other.index is not None  # new bytes: a new revision (same releases)
    os.utime(path, ns=(1, 1))  # only the stat moved
    assert source.changed()
    assert source.load(loaded_at=T1).unchanged


def test_file_source_missing_file_is_a_source_error_and_its_return_is_seen(tmp_path):
    path = tmp_path / "db.json"
    source = FileSource(path)
    missing = source.load(loaded_at=T0)
    assert missing.index is None and missing.check == "source"
    assert missing.error == f"{path} does not exist"
    assert not source.changed()
    write_db(path, [release("app", "dev")])
    assert source.changed()
    assert source.load(loaded_at=T1).index is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"schemaVersion": 1, "releases": [', "db.json"),  # truncated JSON
        ('{"schemaVersion": 1, "releases": [{"container": "App"}]}', "releases[0]"),
        ('{"schemaVersion": 2, "releases": []}', "schemaVersion 2 is not supported"),
        ("[]", "must be a JSON object"),
        ("", "db.json"),
    ],
)
def test_file_source_invalid_db_is_a_database_error(tmp_path, text, expected):
    path = tmp_path / "db.json"
    path.write_text(text)
    result = FileSource(path).load(loaded_at=T0)
    assert result.index is None and result.check == "database"
    assert expected in result.error


def test_file_source_not_utf8(tmp_path):
    path = tmp_path / "db.json"
    path.write_bytes(b'{"schemaVersion": 1, "releases": []}\xff')
    result = FileSource(path).load(loaded_at=T0)
    assert result.check == "database" and "is not UTF-8 text" in result.error


def test_file_source_bounds_what_it_reads(tmp_path):
    path = tmp_path / "db.json"
    path.write_text(GOOD + " " * 5000)
    result = FileSource(path, max_bytes=4096).load(loaded_at=T0)
    assert result.index is None and result.check == "source"
    assert result.error == f"{path} is {len(GOOD) + 5000} bytes, more than the 4096 bytes serve reads"


def test_file_source_refuses_what_is_not_a_regular_file(tmp_path):
    """A FIFO (even one a writer feeds), a directory or a device is a failed load on the source
    check, never read: a FIFO could block or stream for ever (review 11a finding 5)."""
    fifo = tmp_path / "db.json"
    os.mkfifo(fifo)
    # O_RDWR: the FIFO has a writer (and a reader), without blocking this test.
    feeder = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(feeder, (GOOD + " " * 1000).encode())
        fed = FileSource(fifo, max_bytes=4096).load(loaded_at=T0)
    finally:
        os.close(feeder)
    assert fed.index is None and fed.check == "source"
    assert fed.error == f"{fifo} is not a regular file (it is a FIFO, device or socket)"
    directory = FileSource(tmp_path).load(loaded_at=T0)
    assert directory.error == f"{tmp_path} is not a regular file (it is a directory)"
    link = tmp_path / "null.json"
    link.symlink_to("/dev/null")
    device = FileSource(link).load(loaded_at=T0)
    assert device.check == "source" and "is not a regular file" in device.error


def test_file_source_follows_a_symlink_path_the_operator_gave(tmp_path):
    real = write_db(tmp_path / "elsewhere" / "db.json", [release("app", "dev")])
    link = tmp_path / "db.json"
    link.symlink_to(real)
    source = FileSource(link)
    assert source.load(loaded_at=T0).index is not None
    # a ConfigMap update swaps the link: the stat of the target changes
    other = write_db(tmp_path / "next" / "db.json", [release("app", "prod")])
    link.unlink()
    link.symlink_to(other)
    assert source.changed()
    result = source.load(loaded_at=T1)
    assert [r.channel for r in result.index.releases] == ["prod"]


def test_file_source_unreadable_path(tmp_path):
    result = FileSource(tmp_path).load(loaded_at=T0)  # a directory: refused before any read
    assert (
        result.check == "source" and result.error == f"{tmp_path} is not a regular file (it is a directory)"
    )


# -- GitSource -----------------------------------------------------------------------------------


def push(url: str, files: dict[str, str], tmp_path: Path, *, message: str = "update") -> str:
    """Commit ``files`` (path -> text; text '->target' makes a symlink) on main of the remote."""
    work = tmp_path / f"push-{abs(hash((url, message, tuple(files))))}"
    if not work.exists():
        git("clone", "--quiet", url, str(work))
    git("pull", "--quiet", "origin", "main", cwd=work)
    for rel, text in files.items():
        target = work / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        if text.startswith("->"):
            target.symlink_to(text[2:])
        else:
            target.write_text(text)
    git("add", "--all", cwd=work)
    git("commit", "--quiet", "-m", message, cwd=work)
    git("push", "--quiet", "origin", "HEAD:main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


@pytest.fixture
def git_source(bare_remote, tmp_path):
    url = bare_remote({"db/db.json": GOOD, "README.md": "config\n"})
    source = GitSource(url, "main")
    yield url, source
    source.close()


def test_git_source_loads_the_branch_head(git_source):
    url, source = git_source
    result = source.load(loaded_at=T0)
    assert result.error is None and result.index is not None
    head = git("--git-dir", str(url_to_path(url)), "rev-parse", "main").strip()
    assert result.revision == head == result.index.revision
    assert [r.container for r in result.index.releases] == ["app"]


def test_git_source_unchanged_when_a_commit_leaves_db_json_alone(git_source, tmp_path):
    url, source = git_source
    source.load(loaded_at=T0)
    assert source.load(loaded_at=T1).unchanged  # same commit
    push(url, {"README.md": "other\n"}, tmp_path, message="readme")
    assert source.load(loaded_at=T1).unchanged  # new commit, same db blob
    commit = push(url, {"db/db.json": db_text([release("app", "prod")])}, tmp_path, message="db")
    result = source.load(loaded_at=T1)
    assert result.index is not None and result.revision == commit
    assert [r.channel for r in result.index.releases] == ["prod"]


def test_git_source_invalid_db_at_the_new_commit(git_source, tmp_path):
    url, source = git_source
    source.load(loaded_at=T0)
    commit = push(url, {"db/db.json": '{"schemaVersion": 1, "releases": [}'}, tmp_path)
    result = source.load(loaded_at=T1)
    assert result.index is None and result.check == "database" and result.revision == commit
    assert f"db/db.json at {commit[:12]} (main)" in result.error


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"db/db.json": "->../README.md"}, "'db/db.json' is a symbolic link (to '../README.md')"),
        ({"db/db.json": "->/etc/passwd"}, "'db/db.json' is a symbolic link (to '/etc/passwd')"),
    ],
)
def test_git_source_never_follows_a_symlink_in_the_tree(git_source, tmp_path, files, expected):
    url, source = git_source
    push(url, files, tmp_path)
    result = source.load(loaded_at=T0)
    assert result.index is None and expected in result.error


def test_git_source_never_follows_a_symlinked_directory(bare_remote, tmp_path):
    url = bare_remote({"real/db.json": GOOD})
    push(url, {"db": "->real"}, tmp_path)
    source = GitSource(url, "main")
    try:
        result = source.load(loaded_at=T0)
    finally:
        source.close()
    assert result.index is None and "'db' is a symbolic link (to 'real')" in result.error


def test_git_source_missing_file_and_missing_branch(bare_remote):
    url = bare_remote({"README.md": "no db\n"})
    source = GitSource(url, "main")
    try:
        missing = source.load(loaded_at=T0)
        assert missing.index is None and missing.check == "database"
        assert missing.error.startswith("db/db.json at ") and missing.error.endswith("does not exist")
        source.branch = "release"
        gone = source.load(loaded_at=T0)
        assert gone.check == "source" and gone.error == f"{url} has no branch release"
    finally:
        source.close()


def test_git_source_bounds_the_blob_before_reading_it(bare_remote):
    url = bare_remote({"db/db.json": GOOD + " " * 5000})
    source = GitSource(url, "main", max_bytes=4096)
    try:
        result = source.load(loaded_at=T0)
    finally:
        source.close()
    assert result.index is None and result.check == "source"
    assert f"is {len(GOOD) + 5000} bytes, more than the 4096 bytes serve reads" in result.error


def test_git_source_fetch_failure_is_a_source_error(git_source):
    url, source = git_source
    assert source.load(loaded_at=T0).index is not None
    path = url_to_path(url)
    path.rename(path.with_name("moved.git"))
    result = source.load(loaded_at=T1)
    assert result.index is None and result.check == "source"
    assert result.error.startswith("fetching main failed: git fetch failed")


def test_git_source_close_removes_its_clone(bare_remote):
    source = GitSource(bare_remote({"db/db.json": GOOD}), "main")
    source.load(loaded_at=T0)
    workdir = source.workdir
    assert workdir is not None and (workdir / ".git").is_dir()
    source.close()
    assert not workdir.exists()
    source.close()  # twice is fine


def test_git_source_token_is_a_header_never_argv_or_url(git_http_server, monkeypatch, tmp_path):
    from tests.fixtures.git_remotes import make_bare_remote

    make_bare_remote(git_http_server.root, {"db/db.json": GOOD}, name="config.git")
    url = git_http_server.url("config.git")
    spy = spy_on_git(monkeypatch)
    source = GitSource(url, "main", token=git_http_server.token)
    try:
        result = source.load(loaded_at=T0)
    finally:
        source.close()
    assert result.error is None and result.index is not None
    assert any(ok for _, _, ok in git_http_server.requests)
    assert all(ok for _, _, ok in git_http_server.requests)
    for argv, _env, stderr in spy.calls:
        assert git_http_server.token not in " ".join(argv)
        assert git_http_server.token not in stderr
    headers = [v for argv, env, _ in spy.calls for k, v in env.items() if k.startswith("GIT_CONFIG_VALUE_")]
    assert any(v.startswith("AUTHORIZATION: basic ") for v in headers)


def test_git_source_without_the_token_is_a_source_error(git_http_server):
    from tests.fixtures.git_remotes import make_bare_remote

    make_bare_remote(git_http_server.root, {"db/db.json": GOOD}, name="config.git")
    source = GitSource(git_http_server.url("config.git"), "main")
    try:
        result = source.load(loaded_at=T0)
    finally:
        source.close()
    assert result.index is None and result.check == "source" and "fetching main failed" in result.error


def test_git_source_fetches_only_the_tip_of_the_branch(git_source, tmp_path):
    """R11: depth 1: the branch's history (and the blobs only it holds) never reach the disk."""
    url, source = git_source
    push(url, {"big.bin": "x" * 100_000}, tmp_path, message="a big file")
    push(url, {"big.bin": "gone\n"}, tmp_path, message="removed again")
    assert source.load(loaded_at=T0).index is not None
    clone = source.workdir
    assert clone is not None
    assert git("rev-list", "--count", "refs/remotes/origin/main", cwd=clone).strip() == "1"
    big_blob = git("--git-dir", str(url_to_path(url)), "rev-parse", "main~1:big.bin").strip()
    assert subprocess.run(["git", "cat-file", "-e", big_blob], cwd=clone, check=False).returncode != 0


def test_git_source_without_a_writable_tmpdir_is_a_failed_load(tmp_path, monkeypatch, bare_remote):
    """G3: the clone cannot be made (TMPDIR missing or full): a one-line source error."""
    url = bare_remote({"db/db.json": GOOD})
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    source = GitSource(url, "main")
    result = source.load(loaded_at=T0)
    assert result.index is None and result.check == "source"
    assert result.error.startswith(f"cannot make the clone in {tmp_path / 'missing'}: No such file")


class SilentServer:
    """Accepts TCP connections and never answers (a remote that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_fetch_that_hangs_ends_at_its_timeout(silent_server, tmp_path):
    source = GitSource(f"http://127.0.0.1:{silent_server.port}/org/config.git", "main", fetch_timeout=1)
    try:
        result = source.load(loaded_at=T0)
    finally:
        source.close()
    assert result.check == "source" and "'git fetch' did not finish within 1s" in result.error


def test_cancel_kills_a_hung_fetch_with_its_helpers(silent_server, tmp_path):
    """R3: stop() (SIGTERM) must not wait for a hung fetch: cancel() kills git's process group
    (git and git-remote-http), and no fetch starts after it."""
    source = GitSource(f"http://127.0.0.1:{silent_server.port}/org/config.git", "main", fetch_timeout=3600)
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(source.load(loaded_at=T0)))
    worker.start()
    try:
        assert silent_server.accepted.wait(60), "git never connected"
        child = source._child
        assert child is not None
        source.cancel()
        worker.join()
    finally:
        source.cancel()
        worker.join()
        source.close()
    assert "the fetch was cancelled: serve is stopping" in results[0].error
    wait_until(lambda: _group_gone(child.pid), what="git's process group to be gone")
    assert "cancelled" in source.load(loaded_at=T1).error  # nothing new starts
