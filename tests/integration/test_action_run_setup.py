"""scripts/action-run.sh's venv setup: the uv bootstrap, the lock between jobs, private paths.

- uv not on PATH: scripts/uv_fetch.py takes the locked uv wheel straight from the index's PEP 691
  JSON API (a sandbox index on 127.0.0.1 here), checks its sha256 before use and extracts only the
  binary; a file that does not match its hash never runs, and pip is the fallback.
- The flock: the stamp is read, and the command runs, under a shared lock; an install takes it
  exclusively. The test holds the lock itself and waits until action-run.sh is blocked in
  ``flock`` (its child process), so nothing here depends on timing.
- The venv, its cache directory and the lock file are refused when they are a symbolic link, not
  the user's, or writable by group or others.

The offline fake project of test_action_run_lock (a wheelhouse, no index) keeps each run ~1 s.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.server
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_action_run_lock import (
    ACTION_RUN,
    FAKE_VERSION,
    ROOT,
    UV,
    action_run,
    fake_root,
    offline_env,
    seed_venv_with_pip,
    venv_of,
)

UV_VERSION = "0.13.9"
SECRET = "s3cretIndexPassword"


# -- a package index on 127.0.0.1 that serves uv's files --------------------------------------


def uv_wheel(marker: Path, platform_tag: str) -> tuple[str, bytes]:
    """(filename, bytes) of a uv wheel whose `uv` notes that it ran, then runs the real uv."""
    script = f'#!/bin/sh\necho ran >> "{marker}"\nexec "{UV}" "$@"\n'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"uv-{UV_VERSION}.data/scripts/uv", script)
        archive.writestr(f"uv-{UV_VERSION}.dist-info/METADATA", f"Name: uv\nVersion: {UV_VERSION}\n")
        archive.writestr(
            f"uv-{UV_VERSION}.dist-info/WHEEL",
            f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: py3-none-{platform_tag}\n",
        )
        archive.writestr(f"uv-{UV_VERSION}.dist-info/RECORD", "")
    return f"uv-{UV_VERSION}-py3-none-{platform_tag}.whl", buffer.getvalue()


def native_tag() -> str:
    machine = platform.machine().lower()
    if sys.platform == "darwin":
        return f"macosx_10_9_{'arm64' if machine in ('arm64', 'aarch64') else machine}"
    return f"manylinux_2_17_{machine}.manylinux2014_{machine}"


class Index:
    """``/simple/uv/`` (PEP 691 JSON) and ``/files/<name>``; records every request."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}  # name -> (served bytes, sha256 listed)
        self.requests: list[dict[str, str]] = []
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                index.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                if self.path.rstrip("/") == "/simple/uv":
                    files = [
                        {"filename": name, "url": f"/files/{name}", "hashes": {"sha256": sha}}
                        for name, (_, sha) in index.files.items()
                    ]
                    body = json.dumps({"meta": {"api-version": "1.0"}, "name": "uv", "files": files}).encode()
                    self.reply(200, "application/vnd.pypi.simple.v1+json", body)
                elif self.path.startswith("/files/") and self.path[7:] in index.files:
                    self.reply(200, "application/octet-stream", index.files[self.path[7:]][0])
                else:
                    self.reply(404, "text/plain", b"not here")

            def reply(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add(self, name: str, served: bytes, listed_sha: str | None = None) -> str:
        sha = listed_sha or hashlib.sha256(served).hexdigest()
        self.files[name] = (served, sha)
        return sha


@pytest.fixture
def index() -> Iterator[Index]:
    served = Index()
    served.thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()
        served.thread.join()


def lock_uv(root: Path, *hashes: str) -> None:
    lines = " \\\n".join(f"    --hash=sha256:{sha}" for sha in hashes)
    (root / "requirements" / "uv-bootstrap.lock").write_text(
        f"--only-binary :all:\n\nuv=={UV_VERSION} \\\n{lines}\n", encoding="utf-8"
    )


def index_env(tmp_path: Path, root: Path, wheelhouse: Path, index_url: str) -> dict[str, str]:
    """No uv on PATH, the index at index_url: the runtime lock still comes from the wheelhouse."""
    env = offline_env(tmp_path, root, wheelhouse, uv=False)
    del env["PIP_NO_INDEX"]
    env["PIP_INDEX_URL"] = index_url
    return env


def test_uv_is_fetched_from_the_index_json_api_checked_and_extracted_without_pip(
    tmp_path: Path, index: Index
) -> None:
    root, wheelhouse = fake_root(tmp_path)
    marker = tmp_path / "fetched-uv-ran"
    name, data = uv_wheel(marker, native_tag())
    lock_uv(root, "1" * 64, index.add(name, data))
    env = index_env(tmp_path, root, wheelhouse, index.url)
    done = action_run(env, tmp_path, "update-db")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fake gitops-release ['update-db'] tinydep-1.0" in done.stdout
    assert f"uv from {name} (sha256 checked against" in done.stderr
    assert marker.read_text() != "", "the fetched uv did not install the lock"
    assert "installing uv with" not in done.stderr
    assert not any(r.get("user-agent", "").startswith("pip/") for r in index.requests), "pip ran"
    listing, wheel = index.requests
    assert listing["path"] == "/simple/uv/" and "application/vnd.pypi.simple.v1+json" in listing["accept"]
    assert wheel["path"] == f"/files/{name}"
    uv = venv_of(env) / ".uv" / "bin" / "uv"
    assert sorted(p.name for p in uv.parent.iterdir()) == ["uv"], "only the binary is extracted"
    # A later step of the job reuses the venv: nothing asked again.
    assert action_run(env, tmp_path, "report-status").returncode == 0
    assert len(index.requests) == 2


def test_a_uv_wheel_that_does_not_match_its_locked_hash_never_runs(tmp_path: Path, index: Index) -> None:
    """A mirror that lists the locked hash but serves other bytes: refused after the download,
    before anything in it is read; pip (which checks the same hash) is the fallback."""
    root, wheelhouse = fake_root(tmp_path)
    marker = tmp_path / "hostile-uv-ran"
    name, data = uv_wheel(marker, native_tag())
    locked = "2" * 64
    index.add(name, data, listed_sha=locked)
    lock_uv(root, locked)
    env = index_env(tmp_path, root, wheelhouse, index.url)
    seed_venv_with_pip(venv_of(env))  # the pip fallback without ensurepip (~6 s)
    done = action_run(env, tmp_path, "update-db")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not marker.exists(), "a uv whose sha256 is not in the lock ran"
    assert (
        f"fetching uv directly failed ({name} has sha256 {hashlib.sha256(data).hexdigest()}, which "
        f"{root / 'requirements' / 'uv-bootstrap.lock'} does not list)" in done.stderr
    ), done.stderr
    assert not (venv_of(env) / ".uv").exists()
    assert "fake gitops-release ['update-db'] tinydep-1.0" in done.stdout  # installed by pip


def test_index_credentials_go_to_the_index_host_only_and_are_never_printed(
    tmp_path: Path, index: Index
) -> None:
    root, wheelhouse = fake_root(tmp_path)
    lock_uv(root, "3" * 64)  # nothing listed matches: the fetch fails after asking the index
    user_url = index.url.replace("http://", f"http://ci-user:{SECRET}@")
    env = index_env(tmp_path, root, wheelhouse, user_url)
    env["PIP_NO_INDEX"] = "0"
    seed_venv_with_pip(venv_of(env))
    done = action_run(env, tmp_path, "update-db")
    assert SECRET not in done.stdout + done.stderr
    assert "fetching uv directly failed (no locked uv 0.13.9 wheel for" in done.stderr, done.stderr
    ours = [r for r in index.requests if not r.get("user-agent", "").startswith("pip/")]
    assert ours and all(r["authorization"].startswith("Basic ") for r in ours)


def test_a_huge_listing_or_wheel_from_the_index_is_refused_without_reading_it_all(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile mirror cannot make the bootstrap read (or write) without bound; in-process, with
    the limits lowered so the test serves kilobytes."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import uv_fetch
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    name, data = uv_wheel(tmp_path / "unused", native_tag())
    lock = tmp_path / "uv-bootstrap.lock"
    lock.write_text(f"uv=={UV_VERSION} \\\n    --hash=sha256:{index.add(name, data)}\n", encoding="utf-8")
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    monkeypatch.delenv("PIP_NO_INDEX", raising=False)
    monkeypatch.setattr(uv_fetch, "MAX_WHEEL_BYTES", len(data) - 1)
    with pytest.raises(uv_fetch.FetchError, match=f"{name} is larger than {len(data) - 1} bytes"):
        uv_fetch.fetch(str(lock), str(tmp_path / "bin" / "uv"))
    monkeypatch.setattr(uv_fetch, "MAX_LISTING_BYTES", 100)
    with pytest.raises(uv_fetch.FetchError, match="listing is larger than 100 bytes"):
        uv_fetch.fetch(str(lock), str(tmp_path / "bin" / "uv"))
    assert not (tmp_path / "bin" / "uv").exists()


# -- the lock between steps and jobs sharing the venv ------------------------------------------


def purelib(venv: Path) -> Path:
    return next((venv / "lib").glob("python3.*/site-packages"))


def blocked_in_flock(process: subprocess.Popen[str], argv: list[str]) -> None:
    """Returns once action-run.sh has a child ``flock ...`` (waiting for the lock the test holds).
    A wait, not a timed assertion: the deadline only stops a hung test."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, (
            f"action-run.sh ended while the test held the lock: {process.communicate()}"
        )
        for child in Path("/proc").glob("[0-9]*"):
            try:
                parent = (child / "stat").read_text().rsplit(")", 1)[1].split()[1]
                cmdline = (child / "cmdline").read_bytes().split(b"\0")[:-1]
            except (OSError, IndexError):
                continue
            if int(parent) == process.pid and [part.decode() for part in cmdline] == argv:
                return
        time.sleep(0.02)
    raise AssertionError(f"action-run.sh never waited in {argv}")


def start(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", str(ACTION_RUN), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def installed_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    root, wheelhouse = fake_root(tmp_path)
    env = offline_env(tmp_path, root, wheelhouse, uv=True)
    first = action_run(env, tmp_path, "update-db")
    assert first.returncode == 0, first.stdout + first.stderr
    return env, venv_of(env)


def test_a_step_does_not_run_the_venv_while_another_job_reinstalls_it(tmp_path: Path) -> None:
    """REVIEW12a #9: a job reinstalling (lock held exclusively) while another step finds the
    stamp current: that step waits, then runs the finished install, never the half-done one."""
    env, venv = installed_env(tmp_path)
    with open(venv / ".gitops-release.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a reinstall in progress
        process = start(env, tmp_path, "update-db")
        try:
            blocked_in_flock(process, ["flock", "-s", "9"])
            # Under the lock, the "reinstall" finishes: the package changes.
            (purelib(venv) / "gitops_release" / "__main__.py").write_text("print('after the reinstall')\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    assert "after the reinstall" in out and "fake gitops-release" not in out


def test_a_reinstall_waits_for_a_running_command_and_the_command_holds_the_lock(tmp_path: Path) -> None:
    env, venv = installed_env(tmp_path)
    stamp = venv / ".gitops-release-root"
    with open(venv / ".gitops-release.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)  # a command of another step running from this venv
        stamp.write_text("lock 0\nroot elsewhere", encoding="utf-8")  # another checkout needs a reinstall
        process = start(env, tmp_path, "update-db")
        try:
            blocked_in_flock(process, ["flock", "9"])  # exclusive: waits for the running command
            assert stamp.read_text(encoding="utf-8") == "lock 0\nroot elsewhere", "reinstalled under it"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    assert "::group::Installing" in out and "fake gitops-release ['update-db']" in out

    # The command itself keeps the shared lock while it runs (fd 9 survives the exec): an
    # exclusive lock, as a reinstall takes it, is refused until it ends.
    (purelib(venv) / "gitops_release" / "__main__.py").write_text(
        "import fcntl, sys\n"
        f"with open({str(venv / '.gitops-release.lock')!r}) as lock:\n"
        "    try:\n"
        "        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "    except BlockingIOError:\n"
        "        print('lock held while the command runs')\n"
    )
    running = action_run(env, tmp_path, "update-db")
    assert "lock held while the command runs" in running.stdout, running.stdout + running.stderr


# -- private paths -----------------------------------------------------------------------------


def cache_env(tmp_path: Path) -> dict[str, str]:
    """RUNNER_TEMP unset: the venv is ${XDG_CACHE_HOME:-$HOME/.cache}/gitops-release/venv-<v>."""
    root, wheelhouse = fake_root(tmp_path)
    env = offline_env(tmp_path, root, wheelhouse, uv=True)
    del env["RUNNER_TEMP"]
    env["HOME"] = str(tmp_path / "home")
    env["INPUT_TOKEN"] = "ghs_privatePathsSECRET"
    return env


def cache_dir(env: dict[str, str]) -> Path:
    return Path(env.get("XDG_CACHE_HOME") or Path(env["HOME"]) / ".cache") / "gitops-release"


def assert_refused(done: subprocess.CompletedProcess[str], path: Path, fix: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, done.stdout
    assert f" {path} " in errors[0] and f"Fix: {fix}" in errors[0], errors[0]
    assert "fake gitops-release" not in done.stdout, "the command ran"


def test_without_runner_temp_the_venv_is_private_under_the_users_cache(tmp_path: Path) -> None:
    env = cache_env(tmp_path)
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    done = action_run(env, tmp_path, "update-db")
    assert done.returncode == 0, done.stdout + done.stderr
    venv = cache_dir(env) / f"venv-{FAKE_VERSION}"
    assert (venv / ".gitops-release-root").is_file()
    assert (cache_dir(env).stat().st_mode & 0o777, venv.stat().st_mode & 0o777) == (0o700, 0o700)
    del env["XDG_CACHE_HOME"]  # then $HOME/.cache
    assert action_run(env, tmp_path, "update-db").returncode == 0
    assert (tmp_path / "home" / ".cache" / "gitops-release" / f"venv-{FAKE_VERSION}").is_dir()


OTHER_UID = 65534  # nobody
#: Owned by root and writable by no one else on any Linux; bind-mounted where a user cannot chown.
ROOT_OWNED_DIRECTORY = Path("/")
ROOT_OWNED_FILE = Path("/etc/passwd")


def action_run_not_owning(
    path: Path, env: dict[str, str], cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """action-run.sh run while ``path`` (a directory or a plain file) belongs to another user.

    As root: ``path`` is chowned to nobody. Any other user cannot give a file away, so the script
    runs in a new user and mount namespace (this user mapped to root there) where a root-owned
    directory or file is bind-mounted on ``path``: real root is unmapped there, so the script sees
    ``path`` owned by nobody (65534), not by itself; the mount goes with the namespace. Either
    way the script's own ``[ -O ]`` check decides, unchanged."""
    if os.geteuid() == 0:
        os.chown(path, OTHER_UID, OTHER_UID, follow_symlinks=False)
        return action_run(env, cwd, *args)
    source = ROOT_OWNED_DIRECTORY if path.is_dir() else ROOT_OWNED_FILE
    mode = source.stat()
    # Only ownership may be wrong: a group- or world-writable source would be refused for that.
    assert mode.st_uid != os.geteuid() and not mode.st_mode & 0o022, f"{source} is not root's only"
    unshare, mount, shell = shutil.which("unshare"), shutil.which("mount"), shutil.which("sh")
    assert unshare and mount and shell, "needs util-linux unshare and mount when not run as root"
    mount_then_run = 'set -e; "$1" --rbind "$2" "$3"; shift 3; exec "$@"'
    namespace = [unshare, "--user", "--map-root-user", "--mount"]
    done = subprocess.run(
        [
            *namespace,
            shell,
            "-c",
            mount_then_run,
            "sh",
            mount,
            str(source),
            str(path),
            "bash",
            str(ACTION_RUN),
            *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "unshare:" not in done.stderr and "mount:" not in done.stderr, (
        "not root and no unprivileged user namespace (kernel.unprivileged_userns_clone or AppArmor's "
        "restrict_unprivileged_userns): run these cases as root\n" + done.stderr
    )
    return done


@pytest.mark.parametrize("which", ["cache", "venv"])
@pytest.mark.parametrize("how", ["symlink", "group-writable", "world-writable", "not-owned"])
def test_a_venv_or_cache_directory_that_is_not_private_is_refused(
    tmp_path: Path, which: str, how: str
) -> None:
    env = cache_env(tmp_path)
    path = cache_dir(env) if which == "cache" else cache_dir(env) / f"venv-{FAKE_VERSION}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if which == "venv":
        path.parent.chmod(0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    if how == "symlink":
        path.symlink_to(elsewhere)
    else:
        path.mkdir(mode=0o700)
        path.chmod({"group-writable": 0o770, "world-writable": 0o707, "not-owned": 0o700}[how])
    if how == "not-owned":
        done = action_run_not_owning(path, env, tmp_path, "update-db")
    else:
        done = action_run(env, tmp_path, "update-db")
    fix = f"remove the link (rm {path})" if how == "symlink" else f"remove it (rm -rf {path})"
    assert_refused(done, path, fix)
    assert list(elsewhere.iterdir()) == [], "something was written through the link"
    if how != "symlink":
        assert path.stat().st_mode & 0o777 == {"group-writable": 0o770, "world-writable": 0o707}.get(
            how, 0o700
        )


@pytest.mark.parametrize("how", ["symlink", "group-writable", "not-owned"])
def test_a_lock_file_that_is_not_a_private_plain_file_is_refused(tmp_path: Path, how: str) -> None:
    env = cache_env(tmp_path)
    assert action_run(env, tmp_path, "update-db").returncode == 0
    lock = cache_dir(env) / f"venv-{FAKE_VERSION}" / ".gitops-release.lock"
    lock.unlink()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n", encoding="utf-8")
    if how == "symlink":
        lock.symlink_to(victim)
    else:
        lock.write_text("", encoding="utf-8")
        lock.chmod(0o660 if how == "group-writable" else 0o600)
    if how == "not-owned":
        done = action_run_not_owning(lock, env, tmp_path, "update-db")
    else:
        done = action_run(env, tmp_path, "update-db")
    assert_refused(done, lock, f"remove it (rm -f {lock})")
    assert victim.read_text(encoding="utf-8") == "keep me\n", "the link's target was truncated"
