"""The one git wrapper and the race-safe commit loop.

``Git.run`` takes an argument list (never a shell string), runs ``git`` with a timeout,
``GIT_TERMINAL_PROMPT=0`` and, when a token is given, an ``http.extraheader`` passed through
``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` environment variables: the
token is never in argv, in a remote URL or in anything printed (stderr is redacted).

``commit_and_push`` is the write path of update-db and promote-overlay, in the manner of
argocd-image-updater: every attempt fetches the branch, hard-resets a checkout to it, applies
an *edit function*, commits with the bot identity and pushes ``HEAD:refs/heads/<branch>``
(never forced). A non-fast-forward rejection means another writer won the race: fetch,
reset, re-apply the edit on top of their commit and push again after a jittered exponential
backoff. ``push_branch`` is its sibling for pull requests: the same edit on a fresh ``base``,
published as branch ``head`` with ``--force-with-lease`` (and not at all when the branch already
holds the same tree). ``log_paths``, ``show_file``, ``fetch_branch`` and ``revert_into_tree`` read
history and other branches, and undo a commit in the working tree. See docs/git.md.
"""

from __future__ import annotations

import base64
import os
import posixpath
import random
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from gitops_release.adapters.files import path_in_checkout
from gitops_release.errors import (
    ConfigError,
    GitError,
    InputError,
    PushConflictError,
    RevertConflictError,
)
from gitops_release.runtime import redact, register_secret

__all__ = [
    "BranchResult",
    "CommitIdentity",
    "CommitInfo",
    "Git",
    "GitResult",
    "PushResult",
    "backoff_delay",
    "commit_and_push",
    "failure_fix",
    "fetch_branch",
    "has_credentials",
    "is_push_rejection",
    "log_paths",
    "push_branch",
    "revert_into_tree",
    "show_file",
]

AUTH_FIX = (
    "the token lacks contents: write on this repository, or is wrong or expired; give the job "
    "'permissions: contents: write' (GITHUB_TOKEN) or use a token / GitHub App with that permission"
)
# The same failure when no token was given at all: nothing "lacks" a permission, one is missing.
MISSING_CREDENTIALS_FIX = (
    "no token was given and git had no other credentials the remote accepted: set the token input "
    "(e.g. the job's GITHUB_TOKEN with 'permissions: contents: write', or a token / GitHub App "
    "token with contents: write on the repository)"
)

# (pattern in git's stderr, fix). First match wins; patterns are matched case-insensitively.
_FAILURE_FIXES: tuple[tuple[str, str], ...] = (
    (r"authentication failed|could not read (username|password)|terminal prompts disabled", AUTH_FIX),
    (r"returned error: (401|403)|permission to .* denied|403 forbidden|write access .*not granted", AUTH_FIX),
    (
        r"protected branch|GH006|GH013|push declined due to repository rule",
        "the branch is protected against direct pushes: let the token's user or GitHub App bypass the "
        "branch protection rule or ruleset, or commit to a branch that accepts direct pushes",
    ),
    (
        r"hook declined",
        "a server-side hook refused the commit: read the 'remote:' lines of git's output",
    ),
    (
        r"repository '.*' (not found|does not exist)|repository not found"
        r"|does not appear to be a git repository|returned error: 404",
        "check the repository URL or name, and that the token can see the repository",
    ),
    (
        r"remote branch .* not found|couldn't find remote ref",
        "the branch does not exist on the remote: create it first or fix the branch input",
    ),
    (
        r"not a git repository",
        "run inside a clone of the repository, or point the checkout input at one",
    ),
    (
        r"detected dubious ownership",
        "mark the directory as safe: git config --global --add safe.directory <path>",
    ),
    (
        r"could not resolve host|failed to connect|connection refused|connection timed out|timed out",
        "check the network and the remote URL (GITHUB_SERVER_URL for GitHub Enterprise Server)",
    ),
    (
        r"please tell me who you are|empty ident",
        "set a commit identity (the bot identity is set by gitops-release; check GIT_* env overrides)",
    ),
)

# What git prints when a push lost a race (non-fast-forward, or the remote ref moved under it).
_REJECTION = re.compile(
    r"\[rejected\]|\[remote rejected\].*(failed to update ref|cannot lock ref)|fetch first|non-fast-forward"
    r"|stale info|failed to update ref|cannot lock ref|updates were rejected because",
    re.IGNORECASE,
)


def is_push_rejection(text: str) -> bool:
    """True when ``git push`` output says the remote branch moved (retry after fetch), not auth etc."""
    if re.search(r"protected branch|GH006|GH013|repository rule|pre-receive hook declined", text, re.I):
        return False
    return bool(_REJECTION.search(text))


def failure_fix(stderr: str) -> str | None:
    """The fix hint for a common git failure, from its stderr; None when not recognised."""
    for pattern, fix in _FAILURE_FIXES:
        if re.search(pattern, stderr, re.IGNORECASE):
            return fix
    return None


def backoff_delay(attempt: int, *, backoff: float, max_backoff: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(max_backoff, backoff * 2**attempt)] seconds (attempt >= 0)."""
    cap = min(max_backoff, backoff * (2 ** max(0, attempt)))
    return rng.uniform(0.0, max(0.0, cap))


def _basic_header(token: str) -> tuple[str, str]:
    encoded = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
    return encoded, f"AUTHORIZATION: basic {encoded}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.lower().startswith(("fatal:", "error:", "remote: error", " ! ")):
            return line
    for line in lines:
        if line.lower().startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else ""


@dataclass(frozen=True)
class GitResult:
    rc: int
    out: str
    err: str


@dataclass(frozen=True)
class CommitIdentity:
    name: str = "github-actions[bot]"
    email: str = "41898282+github-actions[bot]@users.noreply.github.com"


class Git:
    """The one git wrapper: argument lists only (never a shell string), no credentials in argv or URLs.

    ``env`` is layered over ``os.environ`` (use it for GIT_TRACE etc.). The commit identity is
    given through GIT_AUTHOR_*/GIT_COMMITTER_* so no global config is touched. ``auth_url`` (the
    remote's http(s) URL) scopes the token's header to that URL, so it also replaces a header that
    actions/checkout persisted for the host; without it the generic ``http.extraheader`` is used.
    """

    def __init__(
        self,
        cwd: Path,
        *,
        token: str | None = None,
        env: Mapping[str, str] | None = None,
        identity: CommitIdentity = CommitIdentity(),
        log: Callable[[str], None] | None = None,
        auth_url: str | None = None,
    ) -> None:
        self.cwd = Path(cwd)
        self.identity = identity
        self.has_token = bool(token)
        self._log = log
        merged = dict(os.environ)
        if env is not None:
            merged.update(env)
        merged.update(
            {
                "GIT_TERMINAL_PROMPT": "0",
                "GCM_INTERACTIVE": "never",
                "LC_ALL": "C",
                "LANGUAGE": "C",
                "GIT_AUTHOR_NAME": identity.name,
                "GIT_AUTHOR_EMAIL": identity.email,
                "GIT_COMMITTER_NAME": identity.name,
                "GIT_COMMITTER_EMAIL": identity.email,
            }
        )
        config: list[tuple[str, str]] = [("commit.gpgsign", "false")]
        if token:
            encoded, header = _basic_header(token)
            register_secret(token)
            register_secret(encoded)
            # An empty value resets the header list, so a header persisted in .git/config (e.g. by
            # actions/checkout) is replaced, not sent as a second Authorization header. Keyed by
            # the remote URL, ours is the most specific match and wins over
            # http.https://github.com/.extraheader, which would otherwise shadow a generic key.
            key = "http.extraheader"
            if auth_url and urlsplit(auth_url).scheme in ("http", "https"):
                key = f"http.{auth_url}.extraheader"
            config += [(key, ""), (key, header)]
        try:
            count = int(merged.get("GIT_CONFIG_COUNT", "0") or "0")
        except ValueError:
            count = 0
        for key, value in config:
            merged[f"GIT_CONFIG_KEY_{count}"] = key
            merged[f"GIT_CONFIG_VALUE_{count}"] = value
            count += 1
        merged["GIT_CONFIG_COUNT"] = str(count)
        self.env: dict[str, str] = merged

    def log(self, message: str) -> None:
        if self._log is not None:
            self._log(redact(message))

    def run(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 300
    ) -> GitResult:
        """Run ``git <args>`` in ``cwd``; raise GitError (redacted, with a fix) when check and rc != 0."""
        proc = self._exec(args, input=input, timeout=timeout, text=True)
        result = GitResult(proc.returncode, redact(proc.stdout or ""), redact(proc.stderr or ""))
        if check and result.rc != 0:
            raise self.error(args, result)
        return result

    def blob(self, sha: str, *, timeout: float = 300) -> bytes:
        """The exact bytes of a blob (``git cat-file blob``): no decoding, so any file survives."""
        args = ("cat-file", "blob", sha)
        proc = self._exec(args, input=None, timeout=timeout, text=False)
        if proc.returncode != 0:
            err = redact(proc.stderr.decode("utf-8", "replace"))
            raise self.error(args, GitResult(proc.returncode, "", err))
        return bytes(proc.stdout)

    def read_bytes(self, *args: str, input: bytes | None = None, timeout: float = 300) -> bytes:
        """stdout of ``git <args>`` as bytes, ``input`` fed as bytes (``cat-file --batch``, ``log -z``:
        exact object contents and sizes, no decoding); GitError when rc != 0."""
        proc = self._exec(args, input=input, timeout=timeout, text=False)
        if proc.returncode != 0:
            err = redact(proc.stderr.decode("utf-8", "replace"))
            raise self.error(args, GitResult(proc.returncode, "", err))
        return bytes(proc.stdout)

    def _exec(
        self, args: Sequence[str], *, input: str | bytes | None, timeout: float, text: bool
    ) -> subprocess.CompletedProcess[Any]:
        argv = ["git", *args]
        shown = redact(" ".join(argv))
        self.log(f"$ {shown}")
        try:
            if not text:
                return subprocess.run(
                    argv,
                    cwd=self.cwd,
                    env=self.env,
                    input=input,
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
            return subprocess.run(
                argv,
                cwd=self.cwd,
                env=self.env,
                input=input,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitError(
                f"'{shown}' did not finish within {timeout:g}s",
                rc=None,
                fix="check the network and the remote URL; git cannot prompt for credentials here",
            ) from None
        except FileNotFoundError:
            raise GitError(
                f"cannot run git in '{self.cwd}': git is not installed or the directory does not exist",
                fix="install git (>= 2.31) and check the checkout path",
            ) from None

    def error(self, args: Sequence[str], result: GitResult, *, fix: str | None = None) -> GitError:
        """A one-line GitError for a failed command: exit code, git's key line, a fix when known."""
        sub = args[0] if args else "git"
        rejected = [line.strip() for line in result.out.splitlines() if line.startswith("!")]
        detail = " ".join(rejected[0].split()) if rejected else ""
        remote_errors = [line.strip() for line in result.err.splitlines() if line.startswith("remote: error")]
        if detail and remote_errors:
            detail = f"{detail}: {remote_errors[0]}"
        detail = detail or _last_line(result.err) or _last_line(result.out) or "no message"
        # git ends some lines with a period ("... for refs/heads/main."); the ". Fix:" follows.
        detail = detail.rstrip(".") or detail
        text = result.err + "\n" + result.out
        fix = fix or failure_fix(text)
        if fix == AUTH_FIX and not self.has_token:
            fix = MISSING_CREDENTIALS_FIX
        return GitError(
            redact(f"git {sub} failed (exit {result.rc}) in '{self.cwd}': {detail}"),
            rc=result.rc,
            stderr=result.err,
            fix=fix or "see git's message; run with GIT_TRACE=1 for details",
        )

    # -- small helpers ---------------------------------------------------------------------------

    def head(self) -> str:
        return self.run("rev-parse", "--verify", "HEAD").out.strip()

    def rev_parse(self, ref: str) -> str | None:
        result = self.run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        return result.out.strip() if result.rc == 0 else None

    def is_clean(self) -> bool:
        """No uncommitted changes to tracked files (untracked files are not counted)."""
        return self.run("status", "--porcelain", "--untracked-files=no").out.strip() == ""

    def toplevel(self) -> Path | None:
        result = self.run("rev-parse", "--show-toplevel", check=False)
        return Path(result.out.strip()) if result.rc == 0 and result.out.strip() else None

    def git_dir(self) -> Path:
        return Path(self.run("rev-parse", "--absolute-git-dir").out.strip())

    def remote_url(self, name: str = "origin") -> str | None:
        result = self.run("remote", "get-url", name, check=False)
        return result.out.strip() if result.rc == 0 else None

    def changed_files(self, paths: Sequence[str] | None = None) -> list[str]:
        """Files that differ from HEAD (modified, deleted, untracked), limited to ``paths``.

        ``paths`` are literal (no globs): files or directories. None means the whole tree; an
        empty list means nothing.
        """
        if paths is not None and not paths:
            return []
        args = ["--literal-pathspecs", "status", "--porcelain=v1", "-z", "--untracked-files=all"]
        args.append("--no-renames")
        if paths is not None:
            args += ["--", *paths]
        raw = self.run(*args).out
        return [entry[3:] for entry in raw.split("\0") if len(entry) > 3]

    def untracked(self) -> set[str]:
        raw = self.run("ls-files", "-z", "--others", "--exclude-standard").out
        return {name for name in raw.split("\0") if name}

    def current_branch(self) -> str | None:
        """The branch HEAD is on (``git symbolic-ref``); None when detached or not a clone."""
        result = self.run("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        branch = result.out.strip()
        return branch if result.rc == 0 and branch else None

    def remote_tracking_head(self, name: str = "origin") -> str | None:
        """The branch ``refs/remotes/<name>/HEAD`` points to (set by ``git clone``); None when unset."""
        result = self.run("symbolic-ref", "--quiet", f"refs/remotes/{name}/HEAD", check=False)
        prefix = f"refs/remotes/{name}/"
        ref = result.out.strip()
        if result.rc != 0 or not ref.startswith(prefix) or ref == prefix:
            return None
        return ref[len(prefix) :]

    def remote_head_branch(self, remote: str = "origin", *, timeout: float = 60) -> tuple[str | None, str]:
        """The branch the remote's HEAD points to, asked of the remote (``git ls-remote --symref
        <remote> HEAD``: works on file:// and on GitHub, also in a clone without origin/HEAD).

        Returns (branch, "") or (None, why): git's error line, or that the remote's HEAD is unset.
        """
        result = self.run("ls-remote", "--symref", "--", remote, "HEAD", check=False, timeout=timeout)
        if result.rc != 0:
            return None, _last_line(result.err) or f"git ls-remote exited {result.rc}"
        for line in result.out.splitlines():
            target, _, name = line.partition("\t")
            if name.strip() == "HEAD" and target.startswith("ref: refs/heads/"):
                return target[len("ref: refs/heads/") :].strip() or None, ""
        return None, "the remote's HEAD names no branch"

    def unpushed(self, *refs: str) -> list[str]:
        """Commits reachable from ``refs`` that no remote-tracking branch contains."""
        present = [ref for ref in refs if self.rev_parse(ref)]
        if not present:
            return []
        out = self.run("rev-list", *present, "--not", "--remotes", "--").out
        return [line for line in out.split() if line]


@dataclass(frozen=True)
class PushResult:
    changed: bool  # False when the edit left the tree byte-identical (no commit made)
    commit_sha: str | None  # the pushed (or, with push=False, local) commit; None when unchanged
    base_sha: str  # remote branch head the final edit was applied to
    attempts: int


_PENDING = "gitops-release-pending"


def _is_url(remote: str) -> bool:
    return "://" in remote or bool(re.match(r"^[\w.-]+@[\w.-]+:", remote))


def _normalise_remote(remote: str) -> str:
    """A comparable form: local paths and file:// URLs as resolved paths, URLs without .git or '/'."""
    if remote.startswith("file://"):
        return str(Path(urlsplit(remote).path).resolve())
    if not _is_url(remote):
        return str(Path(remote).resolve())
    return remote.rstrip("/").removesuffix(".git").lower()


def has_credentials(remote: str) -> bool:
    """True when the remote URL carries credentials: a password (``user:secret@``, any scheme,
    also scp-like ``user:secret@host:path``) or, for http(s), any user name (a token given as
    the user name, ``https://ghp_…@github.com``). ``git@github.com:org/repo`` is no credential."""
    if "://" in remote:
        try:
            parts = urlsplit(remote)
            password, username = parts.password, parts.username
        except ValueError:  # an invalid port etc.: look at the raw authority
            authority = remote.split("://", 1)[1].split("/", 1)[0]
            return "@" in authority
        return bool(password) or (bool(username) and parts.scheme.lower() in ("http", "https"))
    user, at, _ = remote.partition("@")
    return bool(at) and ":" in user and "/" not in user


def _check_remote(remote: str, remote_input: str = "remote") -> str:
    """Refuse credentials in the URL; make a local path absolute (git runs in another cwd)."""
    if has_credentials(remote):
        raise InputError(
            remote_input,
            "is a URL with credentials in it (user:password@ or a token before '@')",
            fix="remove them from the URL and give the token input; it is sent as an http.extraheader, "
            "never in the URL",
        )
    if "://" in remote:
        return remote
    if _is_url(remote):
        return remote
    return str(Path(remote).resolve())


def _pending_file(git: Git) -> Path:
    return git.git_dir() / _PENDING


def _prepare_checkout(git: Git, checkout: Path, remote: str, branch: str, name: str = "checkout") -> None:
    """Clone into an absent/empty directory, or validate an existing clone of the same remote.

    ``name``: the command's input that gave ``checkout`` (update-db: ``repository-path``), so
    that each refusal names what to change."""
    if not checkout.exists() or (checkout.is_dir() and not any(checkout.iterdir())):
        checkout.mkdir(parents=True, exist_ok=True)
        git.run("clone", "--quiet", "--single-branch", "--no-tags", "--branch", branch, "--", remote, ".")
        return
    if not checkout.is_dir():
        raise ConfigError(
            f"{name} '{checkout}' exists and is not a directory",
            fix=f"set {name} to an empty directory, or to a clone of the repository",
        )
    top = git.toplevel()
    if top is not None and top.resolve() != checkout.resolve():
        raise ConfigError(
            f"{name} '{checkout}' is a subdirectory of the clone at '{top}', not its top",
            fix=f"set {name} to the top of the clone, '{top}', or to an empty directory",
        )
    if top is None:
        raise ConfigError(
            f"{name} '{checkout}' is not empty and is not the top of a git clone",
            fix=f"set {name} to an empty or non-existent directory (it will be cloned), or to a clone "
            "of the repository",
        )
    origin = git.remote_url("origin")
    if origin is None or _normalise_remote(origin) != _normalise_remote(remote):
        raise ConfigError(
            f"{name} '{checkout}' is a clone of '{origin or 'no origin'}', not of '{remote}'",
            fix=f"set {name} to an empty directory, or to a clone whose origin is the repository being "
            "updated",
        )
    if not git.is_clean():
        raise GitError(
            f"{name} '{checkout}' has uncommitted changes to tracked files; refusing to reset them",
            fix="commit and push, stash or discard them, or use a fresh directory",
        )
    pending_path = _pending_file(git)
    ours = set(pending_path.read_text().split()) if pending_path.exists() else set()
    unpushed = set(git.unpushed("HEAD", f"refs/heads/{branch}"))
    if unpushed - ours:
        raise GitError(
            f"{name} '{checkout}' has {len(unpushed - ours)} local commit(s) not on the remote; "
            "refusing to reset them",
            fix="push them, move them to another branch, or use a fresh directory",
        )


def _sync(git: Git, branch: str, *, clean_git_dir: Path | None = None) -> str:
    """Fetch the branch and hard-reset the checkout (on local ``branch``) to the fetched head.

    ``clean_git_dir``: the caller has just checked that nothing tracked is modified
    (_prepare_checkout) in the checkout with this git dir; then, when HEAD already is ``branch``
    at the fetched head and no merge, cherry-pick, revert or rebase is in progress, the checkout
    is skipped: it would change nothing, and on a large file (a 4 MiB db.json) it costs two
    rehashes.
    """
    tracking = f"refs/remotes/origin/{branch}"
    git.run("fetch", "--quiet", "--no-tags", "origin", f"+refs/heads/{branch}:{tracking}")
    base = git.rev_parse(tracking)
    if base is None:
        raise GitError(
            f"branch '{branch}' was not found on the remote after fetching",
            fix="create the branch first or fix the branch input",
        )
    if clean_git_dir is None or not _head_is(git, base, branch, clean_git_dir):
        git.run("checkout", "--quiet", "--force", "-B", branch, base)  # also resets index and worktree
    return base


# What an interrupted merge, cherry-pick, revert or rebase leaves in the git dir: a commit made on
# top of it would carry a second parent (another branch's history) or continue the operation.
_OPERATION_STATE = (
    "MERGE_HEAD",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "rebase-merge",
    "rebase-apply",
    "sequencer",
)


def _head_is(git: Git, commit: str, branch: str, git_dir: Path) -> bool:
    result = git.run("rev-parse", "HEAD", "--symbolic-full-name", "HEAD", check=False)
    if result.rc != 0 or result.out.split() != [commit, f"refs/heads/{branch}"]:
        return False
    return not any((git_dir / name).exists() for name in _OPERATION_STATE)


def _discard(git: Git, base: str, untracked_before: set[str]) -> None:
    """Undo what an edit left behind: tracked changes, and untracked files it created."""
    git.run("reset", "--quiet", "--hard", base)
    for name in sorted(git.untracked() - untracked_before):
        path = git.cwd / name
        if path.is_file() or path.is_symlink():
            path.unlink()


def _restore(git: Git, base: str, untracked_before: set[str], pending_path: Path) -> None:
    """After a failed commit or push: the checkout back at the fetched ``base`` (branch included),
    files the edit created removed, so later steps never read a change that is not on the remote.
    Best effort: the original error is what the caller must see. If the reset itself fails, the
    pending marker stays so the next call still recognises the commit as ours."""
    try:
        _discard(git, base, untracked_before)
    except (GitError, OSError) as exc:
        git.log(f"could not reset the checkout to {base[:12]} after the failure: {exc}")
        return
    pending_path.unlink(missing_ok=True)


def _literal_path(path: str) -> tuple[str, bool]:
    """A literal path as git reads it: (normalised path, matches only a directory). ``./`` and
    ``x/..`` are normalised; empty, absolute or leading out of the checkout is a GitError, as
    git makes it."""
    normal = posixpath.normpath(path) if path else ""
    if not path or posixpath.isabs(path) or normal == ".." or normal.startswith("../"):
        raise GitError(
            f"path {path!r} is not inside the checkout",
            fix="give paths relative to the repository root, without '..' leading out of it",
        )
    return normal, path.endswith("/")


def _within(name: str, paths: Sequence[tuple[str, bool]]) -> bool:
    """``name`` (repository-relative, as git status prints it) is one of ``paths``
    (``_literal_path``s) or inside one: ``a/b`` is the file or the directory, ``a/b/`` only the
    directory, ``.`` everything."""
    for path, directory_only in paths:
        if path == "." or name.startswith(path + "/") or (name == path and not directory_only):
            return True
    return False


def _files_to_commit(
    changed: Sequence[str], paths: Sequence[str] | None, untracked_before: set[str], checkout: Path
) -> list[str]:
    """Of the ``changed`` files, what the edit changed within ``paths``, never a file that was
    untracked before it ran.

    Such files are the job's own (an event file, evidence, build output): they are skipped. One
    that ``paths`` names exactly is refused: the edit read or rewrote a file that is not on the
    branch, and committing it (or silently not committing it) would both be wrong.
    """
    literal = None if paths is None else [_literal_path(path) for path in paths]
    files = [name for name in changed if literal is None or _within(name, literal)]
    named = sorted({path for path, _ in literal or ()} & untracked_before & set(files))
    if named:
        raise GitError(
            f"'{named[0]}' is an untracked file in checkout '{checkout}' and not on the branch; "
            "refusing to commit a file this run did not create",
            fix="delete or move it (or commit it to the branch first), or use a fresh checkout",
        )
    return [name for name in files if name not in untracked_before]


def _check_bounds(max_attempts: int | None, max_wait: float | None) -> None:
    if max_attempts is not None and max_attempts < 1:
        raise InputError("max-attempts", f"{max_attempts} is below the minimum 1", fix="use 1 or more")
    if max_wait is not None and max_wait < 0:
        raise InputError("max-wait", f"{max_wait:g}s is negative", fix="use 0 or more, e.g. 10m")
    if max_attempts is None and max_wait is None:
        raise InputError(
            "max-attempts", "and max-wait are both unset", fix="bound the retries by one of them"
        )


def _check_branch(branch: str, field: str) -> None:
    if not branch or branch.startswith("-") or branch.startswith("refs/"):
        raise InputError(field, f"'{branch}' is not a branch name", fix="give a branch name such as main")


def _open_checkout(
    checkout: Path,
    remote: str,
    branch: str,
    *,
    token: str | None,
    env: Mapping[str, str] | None,
    identity: CommitIdentity,
    log: Callable[[str], None] | None,
    remote_input: str,
    checkout_input: str,
) -> tuple[Path, Git, Path]:
    """The checkout (absolute), its Git wrapper and pending-commit marker, after _prepare_checkout."""
    checkout = Path(checkout).absolute()
    remote = _check_remote(remote, remote_input)
    git = Git(checkout, token=token, env=env, identity=identity, log=log, auth_url=remote)
    if not checkout.exists():
        checkout.mkdir(parents=True)
    _prepare_checkout(git, checkout, remote, branch, checkout_input)
    return checkout, git, _pending_file(git)


@dataclass(frozen=True)
class _Edited:
    """What one run of the edit function left: the message and the files to commit."""

    message: str
    changed: list[str]  # every file that differs from the base, within ``paths`` or not
    files: list[str]  # what is committed
    untracked_before: set[str]


def _apply_edit(
    git: Git,
    checkout: Path,
    edit: Callable[[Path], str | None],
    paths: Sequence[str] | Callable[[], Sequence[str]] | None,
    base: str,
) -> _Edited | None:
    """Run ``edit`` on the checkout (at ``base``); None (and the checkout back at ``base``) when it
    changed nothing within ``paths``. What the edit raises propagates with its changes discarded."""
    untracked_before = git.untracked()
    try:
        message = edit(checkout)
        limit = paths() if callable(paths) else paths
        # One status of the whole tree: what to commit, and whether anything else must go.
        changed = git.changed_files() if message is not None else []
        files = _files_to_commit(changed, limit, untracked_before, checkout)
    except BaseException:
        _discard(git, base, untracked_before)
        raise
    if message is None or not files:
        _discard(git, base, untracked_before)
        return None
    if not message.strip():
        _discard(git, base, untracked_before)
        raise InputError("commit-message", "the commit message is empty", fix="give a commit message")
    return _Edited(message, changed, files, untracked_before)


def _commit(git: Git, edited: _Edited, pending_path: Path, verify: Callable[[], None] | None) -> str:
    """Stage exactly ``edited.files``, commit with the bot identity, run ``verify``, drop edits
    outside ``paths``; the commit's SHA. The caller restores the checkout when this raises."""
    git.run("--literal-pathspecs", "add", "--all", "--", *edited.files)
    git.run("commit", "--quiet", "--no-verify", "--cleanup=whitespace", "--file=-", input=edited.message)
    sha = git.head()
    pending_path.write_text(sha + "\n")
    if verify is not None:
        verify()
    if set(edited.changed) - set(edited.files) - edited.untracked_before:
        _discard(git, sha, edited.untracked_before)  # edits outside ``paths`` are not kept
    return sha


class _Retries:
    """The bound and the jittered wait between attempts, shared by commit_and_push and push_branch."""

    def __init__(
        self,
        branch: str,
        *,
        max_attempts: int | None,
        max_wait: float | None,
        backoff: float,
        max_backoff: float,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        rng: random.Random | None,
    ) -> None:
        self.branch = branch
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.started = clock()
        self.attempt = 0
        self.shown_max = "" if max_attempts is None else f"/{max_attempts}"

    def again(self, git: Git, why: str) -> bool:
        """After a lost race: False when the bound is reached, else wait (logging ``why``) and True."""
        elapsed = self.clock() - self.started
        delay = backoff_delay(
            self.attempt - 1, backoff=self.backoff, max_backoff=self.max_backoff, rng=self.rng
        )
        if self.max_wait is not None:
            delay = min(delay, max(0.0, self.max_wait - elapsed))
        if (self.max_attempts is not None and self.attempt >= self.max_attempts) or (
            self.max_wait is not None and elapsed >= self.max_wait
        ):
            return False
        git.log(
            f"{why} (attempt {self.attempt}{self.shown_max}); re-applying on the new head in {delay:.2f}s"
        )
        self.sleep(delay)
        return True

    def exhausted(self) -> PushConflictError:
        by_count = self.max_attempts is not None and self.attempt >= self.max_attempts
        return PushConflictError(
            f"push to '{self.branch}' was rejected {self.attempt} times in "
            f"{self.clock() - self.started:.0f}s because other writers kept moving the branch; nothing "
            "of this edit was pushed",
            rc=1,
            fix=("raise max-attempts" if by_count else "raise max-wait")
            + ", or run fewer writers against the branch at once",
        )


def commit_and_push(
    checkout: Path,
    remote: str,
    branch: str,
    edit: Callable[[Path], str | None],
    *,
    token: str | None = None,
    identity: CommitIdentity = CommitIdentity(),
    push: bool = True,
    max_attempts: int | None = 5,
    max_wait: float | None = None,
    backoff: float = 0.2,
    max_backoff: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    log: Callable[[str], None] | None = None,
    paths: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    env: Mapping[str, str] | None = None,
    verify: Callable[[], None] | None = None,
    remote_input: str = "remote",
    checkout_input: str = "checkout",
) -> PushResult:
    """Apply ``edit`` to a fresh checkout of ``remote``'s ``branch``, commit and push; retry races.

    ``edit(checkout)`` returns the commit message, or None when there is nothing to do; it is
    called again on top of the new remote head after every rejected push. ReleaseErrors it
    raises propagate with nothing pushed. ``env`` is layered over os.environ for every git call
    (e.g. the command's Context.env, or GIT_TRACE=1). Raises PushConflictError when a push is
    rejected and retrying would exceed ``max_attempts`` attempts (None: no count limit) or
    ``max_wait`` seconds since the first attempt started (None: no time limit; at least one of
    the two must be set), GitError at once for any other git failure. The time bound decides
    whether another attempt starts, it does not cut one short (each git call has its own timeout).

    Only files the edit changed are committed, limited to ``paths`` (literal files or directories;
    a callable is asked after each edit, for edits that learn what they touch) when given. A file
    that was untracked before the edit ran is never committed. When the commit or push fails, the
    checkout is reset to the fetched base and files the edit created are removed before raising.

    ``verify()``, when given, runs after each commit and before it is pushed (or kept, with push
    disabled): a last check that may have run alongside git (update-db checks the stored
    releases while git commits). What it raises propagates with the commit discarded.

    ``remote_input`` names the command's input that gave ``remote``, for the error refusing a
    URL with credentials; ``checkout_input`` the one that gave ``checkout``, for the errors
    refusing it (a subdirectory of a clone, a clone of another remote, local changes).
    """
    _check_bounds(max_attempts, max_wait)
    _check_branch(branch, "branch")
    checkout, git, pending_path = _open_checkout(
        checkout,
        remote,
        branch,
        token=token,
        env=env,
        identity=identity,
        log=log,
        remote_input=remote_input,
        checkout_input=checkout_input,
    )
    retries = _Retries(
        branch,
        max_attempts=max_attempts,
        max_wait=max_wait,
        backoff=backoff,
        max_backoff=max_backoff,
        sleep=sleep,
        clock=clock,
        rng=rng,
    )
    while True:
        retries.attempt += 1
        attempt = retries.attempt
        # Later attempts start from our own rejected commit: always a checkout.
        base = _sync(git, branch, clean_git_dir=pending_path.parent if attempt == 1 else None)
        pending_path.unlink(missing_ok=True)
        edited = _apply_edit(git, checkout, edit, paths, base)
        if edited is None:
            git.log(f"attempt {attempt}: nothing to change on {branch} at {base[:12]}")
            return PushResult(changed=False, commit_sha=None, base_sha=base, attempts=attempt)
        try:
            sha = _commit(git, edited, pending_path, verify)
            if not push:
                git.log(f"committed {sha[:12]} on {branch} locally (push disabled)")
                return PushResult(changed=True, commit_sha=sha, base_sha=base, attempts=attempt)
            args = ("push", "--porcelain", "origin", f"HEAD:refs/heads/{branch}")
            result = git.run(*args, check=False)
            if result.rc == 0:
                git.run("update-ref", f"refs/remotes/origin/{branch}", sha)
                pending_path.unlink(missing_ok=True)
                git.log(f"pushed {sha[:12]} to {branch} (attempt {attempt}{retries.shown_max})")
                return PushResult(changed=True, commit_sha=sha, base_sha=base, attempts=attempt)
            if not is_push_rejection(result.err + "\n" + result.out):
                raise git.error(args, result)
        except BaseException:
            # Nothing of this commit is on the remote: keep no trace of it locally either.
            _restore(git, base, edited.untracked_before, pending_path)
            raise
        if not retries.again(git, f"push to {branch} rejected: the branch moved"):
            break
    _restore(git, base, edited.untracked_before, pending_path)
    raise retries.exhausted()


# -- branches for pull requests ----------------------------------------------------------------


@dataclass(frozen=True)
class BranchResult:
    """What push_branch did to the head branch.

    ``state``: "created" (the branch was absent and now holds ``commit_sha``), "updated" (it
    held another tree and was replaced, force-with-lease), "not-updated" (it already held exactly
    this tree: nothing pushed, ``commit_sha`` is its head) or "no-change" (the edit changed
    nothing on ``base``: nothing pushed, ``commit_sha`` None). ``base_sha``: the base branch
    head the final edit was applied to.
    """

    state: Literal["created", "updated", "not-updated", "no-change"]
    commit_sha: str | None
    base_sha: str
    attempts: int


def _existing_dir(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path(os.sep)


def _check_branch_name(git: Git, branch: str, field: str) -> None:
    """``branch`` is a plain branch name as ``git check-ref-format --branch`` reads it: not an
    option, not ``refs/…``, not ``@{-1}`` or anything else git would expand to another name."""
    _check_branch(branch, field)
    result = git.run("check-ref-format", "--branch", branch, check=False)
    if result.rc != 0 or result.out.strip() != branch:
        raise InputError(
            field,
            f"'{branch}' is not a valid branch name",
            fix="use letters, digits, '-', '_', '.' and '/' (see git check-ref-format)",
        )


def _fetch_optional(git: Git, branch: str) -> str | None:
    """Fetch ``branch`` into ``refs/remotes/origin/<branch>``; its head, or None when the remote
    has no such branch (then a stale tracking ref of a deleted branch is removed too)."""
    tracking = f"refs/remotes/origin/{branch}"
    args = ("fetch", "--quiet", "--no-tags", "origin", f"+refs/heads/{branch}:{tracking}")
    result = git.run(*args, check=False)
    if result.rc != 0:
        if re.search(r"couldn't find remote ref", result.err, re.IGNORECASE):
            git.run("update-ref", "-d", tracking, check=False)
            return None
        raise git.error(args, result)
    return git.rev_parse(tracking)


def _tree(git: Git, commit: str) -> str:
    return git.run("rev-parse", "--verify", f"{commit}^{{tree}}").out.strip()


def _back_to_base(git: Git, base: str, base_sha: str, pending_path: Path) -> None:
    """After the head branch holds our tree: the checkout back on ``base`` at the fetched head."""
    git.run("checkout", "--quiet", "--force", "-B", base, base_sha)
    pending_path.unlink(missing_ok=True)


def _reattach(git: Git, base: str) -> None:
    """After _restore reset the detached HEAD to the fetched base: put it back on ``base`` (at the
    same commit, so nothing in the tree changes). Best effort, like _restore."""
    try:
        git.run("checkout", "--quiet", base)
    except GitError as exc:
        git.log(f"could not switch the checkout back to {base}: {exc}")


def push_branch(
    checkout: Path,
    remote: str,
    *,
    base: str,
    head: str,
    edit: Callable[[Path], str | None],
    token: str | None = None,
    identity: CommitIdentity = CommitIdentity(),
    log: Callable[[str], None] | None = None,
    paths: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    env: Mapping[str, str] | None = None,
    verify: Callable[[], None] | None = None,
    remote_input: str = "remote",
    checkout_input: str = "repository-path",
    max_attempts: int | None = 5,
    max_wait: float | None = None,
    backoff: float = 0.2,
    max_backoff: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> BranchResult:
    """Apply ``edit`` to a fresh checkout of ``remote``'s ``base`` and publish the result as
    branch ``head`` (a pull request's branch), one commit on top of ``base``.

    The checkout, ``edit``, ``paths``, ``verify``, the token and the bounds work as in
    commit_and_push. Then: ``head`` absent on the remote → pushed ("created"); present with a
    tree identical to our commit's → nothing pushed ("not-updated": a re-run of the same plan does
    not churn the pull request, although our commit's SHA differs); otherwise pushed with
    ``--force-with-lease=refs/heads/<head>:<the head we fetched>`` ("updated"). The head branch
    belongs to the bot: whatever else it held is replaced. A lease lost to another writer
    (or a creation that lost to one) fetches both branches again, re-runs ``edit`` and decides
    again; PushConflictError when that exceeds the bounds. ``edit`` returning None, or changing
    nothing within ``paths``: "no-change", nothing pushed, the head branch left as it is.

    ``head`` must be a valid branch name (``git check-ref-format --branch``), not ``base``, not
    starting with '-' or 'refs/' (InputError 'head-branch'). The checkout always ends on ``base``
    at the fetched head with nothing of the edit left (the commit is on the remote and in
    ``refs/remotes/origin/<head>``; no local branch holds it), whatever the outcome.
    """
    _check_bounds(max_attempts, max_wait)
    _check_branch(base, "base-branch")
    _check_branch_name(Git(_existing_dir(Path(checkout).absolute()), env=env), head, "head-branch")
    if head == base:
        raise InputError(
            "head-branch",
            f"'{head}' is the base branch itself",
            fix="give the pull request its own branch, e.g. promote/<env>/<key>",
        )
    checkout, git, pending_path = _open_checkout(
        checkout,
        remote,
        base,
        token=token,
        env=env,
        identity=identity,
        log=log,
        remote_input=remote_input,
        checkout_input=checkout_input,
    )
    retries = _Retries(
        head,
        max_attempts=max_attempts,
        max_wait=max_wait,
        backoff=backoff,
        max_backoff=max_backoff,
        sleep=sleep,
        clock=clock,
        rng=rng,
    )
    while True:
        retries.attempt += 1
        attempt = retries.attempt
        base_sha = _sync(git, base, clean_git_dir=pending_path.parent if attempt == 1 else None)
        observed = _fetch_optional(git, head)
        pending_path.unlink(missing_ok=True)
        edited = _apply_edit(git, checkout, edit, paths, base_sha)
        if edited is None:
            git.log(
                f"attempt {attempt}: nothing to change on {base} at {base_sha[:12]}; {head} left as it is"
            )
            return BranchResult("no-change", None, base_sha, attempt)
        try:
            # The commit is made on a detached HEAD (the edit's changes are carried over: HEAD
            # does not move): no local branch is left holding a commit that a later pruned
            # fetch would turn into "local work" refused by the next run in this checkout.
            git.run("checkout", "--quiet", "--detach")
            sha = _commit(git, edited, pending_path, verify)
            if observed is not None and _tree(git, sha) == _tree(git, observed):
                _back_to_base(git, base, base_sha, pending_path)
                git.log(f"{head} already holds this change at {observed[:12]}; nothing pushed")
                return BranchResult("not-updated", observed, base_sha, attempt)
            lease = f"--force-with-lease=refs/heads/{head}:{observed or ''}"
            args = ("push", "--porcelain", lease, "origin", f"HEAD:refs/heads/{head}")
            result = git.run(*args, check=False)
            if result.rc == 0:
                git.run("update-ref", f"refs/remotes/origin/{head}", sha)
                _back_to_base(git, base, base_sha, pending_path)
                state: Literal["created", "updated", "not-updated"] = "updated" if observed else "created"
                if any(line.startswith("=\t") for line in result.out.splitlines()):
                    # "up to date": a writer of the very same commit (same parent, content,
                    # message and second) created the branch after our fetch.
                    state = "not-updated"
                git.log(f"pushed {sha[:12]} to {head} ({state}, attempt {attempt}{retries.shown_max})")
                return BranchResult(state, sha, base_sha, attempt)
            if not is_push_rejection(result.err + "\n" + result.out):
                raise git.error(args, result)
        except BaseException:
            _restore(git, base_sha, edited.untracked_before, pending_path)
            _reattach(git, base)
            raise
        if not retries.again(git, f"push to {head} rejected: another writer moved it since it was fetched"):
            break
    _restore(git, base_sha, edited.untracked_before, pending_path)
    _reattach(git, base)
    raise retries.exhausted()


def _checkout_git(
    checkout: Path | Git, *, token: str | None = None, env: Mapping[str, str] | None = None
) -> Git:
    return checkout if isinstance(checkout, Git) else Git(Path(checkout).absolute(), token=token, env=env)


def fetch_branch(
    checkout: Path,
    remote: str,
    branch: str,
    token: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    remote_input: str = "remote",
    checkout_input: str = "repository-path",
) -> str | None:
    """Fetch ``branch`` of ``remote`` into ``refs/remotes/origin/<branch>`` of ``checkout`` (a
    clone whose origin is ``remote``); its head SHA, or None when the remote has no such branch.
    Nothing in the working tree changes. The token is sent as in commit_and_push."""
    remote = _check_remote(remote, remote_input)
    checkout = Path(checkout).absolute()
    git = Git(checkout, token=token, env=env, auth_url=remote)
    _check_branch_name(git if checkout.is_dir() else Git(_existing_dir(checkout)), branch, "branch")
    top = git.toplevel() if checkout.is_dir() else None
    origin = git.remote_url("origin") if top is not None else None
    if origin is None or _normalise_remote(origin) != _normalise_remote(remote):
        raise ConfigError(
            f"{checkout_input} '{checkout}' is not a clone of '{remote}' (origin: '{origin or 'none'}')",
            fix=f"set {checkout_input} to a clone whose origin is the repository",
        )
    return _fetch_optional(git, branch)


# -- history and files at other commits ----------------------------------------------------------


@dataclass(frozen=True)
class CommitInfo:
    """One commit as log_paths reads it. ``date`` is the committer date, strict ISO 8601 (when
    the commit was made on its branch); ``subject`` is git's ``%s`` (the first paragraph of the
    message, its lines joined), ``body`` the rest (``%b``, without the trailing newline).
    ``parents``: more than one for a merge commit."""

    sha: str
    parents: tuple[str, ...]
    author: str
    email: str
    date: str
    subject: str
    body: str


_LOG_FIELDS = ("%H", "%P", "%an", "%ae", "%cI", "%s", "%b")


def _check_ref(ref: str, field: str = "ref") -> None:
    if not ref or ref.startswith("-") or "\0" in ref:
        raise GitError(f"{field} '{ref}' is not a git revision", fix="give a branch, tag or commit SHA")


def _log(git: Git, args: Sequence[str], ref: str, paths: Sequence[str]) -> list[CommitInfo]:
    """``git log`` in one call, every field of every commit framed by a separator that includes a
    fresh random nonce: no subject or body (they were written before the nonce existed) can
    forge a field or a record boundary, whatever it contains."""
    nonce = secrets.token_hex(16)
    field, end = f"%x00{nonce}%x1f", f"%x00{nonce}%x1e"
    fmt = field.join(_LOG_FIELDS) + end
    result = git.run(
        "--literal-pathspecs",
        "log",
        "--no-show-signature",  # a user's log.showSignature would mix gpg output into the records
        "--no-use-mailmap",  # the checkout's .mailmap (hostile) does not rename authors
        "--no-color",
        "--encoding=UTF-8",
        f"--format={fmt}",
        *args,
        "--end-of-options",
        ref,
        "--",
        *paths,
        check=False,
    )
    if result.rc != 0:
        raise git.error(
            ("log",), result, fix=f"check that '{ref}' is a branch, tag or commit of the checkout (fetched)"
        )
    commits = []
    for record in result.out.split(f"\0{nonce}\x1e\n"):
        if not record:
            continue
        sha, parents, author, email, date, subject, body = record.split(f"\0{nonce}\x1f")
        commits.append(
            CommitInfo(sha, tuple(parents.split()), author, email, date, subject, body.rstrip("\n"))
        )
    return commits


def log_paths(
    checkout: Path | Git,
    paths: Sequence[str],
    *,
    ref: str = "HEAD",
    max_count: int | None = None,
    first_parent: bool = False,
) -> list[CommitInfo]:
    """The commits reachable from ``ref`` (a branch, tag, SHA or range like ``a..HEAD``) that
    touched ``paths``, newest first, in one ``git log`` call.

    ``paths`` are literal files or directories relative to the repository root, as in
    commit_and_push (an empty list matches nothing). History is simplified as ``git log -- <paths>``
    does: a merge whose result equals one parent's for these paths is followed through that
    parent and not listed; merges that changed the paths themselves are listed, with all their
    parents. ``first_parent`` follows only first parents (what landed on the branch: a merged pull
    request is then its merge commit). Renames are not followed. ``checkout`` is a clone
    (or a Git wrapper of one).
    """
    if max_count is not None and max_count < 1:
        raise GitError(f"max_count {max_count} is below 1", fix="give 1 or more, or None for all")
    literal = [_literal_path(path)[0] for path in paths]
    if not literal:
        return []
    _check_ref(ref)
    git = _checkout_git(checkout)
    args = ["--first-parent"] if first_parent else []
    if max_count is not None:
        args.append(f"--max-count={max_count}")
    return _log(git, args, ref, literal)


def _tree_path(path: str) -> str:
    """A path inside the repository, as adapters/files.path_in_checkout accepts it: relative, no
    '..' and no '.git' component; normalised ('./a//b' is 'a/b')."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if not path or posixpath.isabs(path) or ".." in path.split("/") or not parts:
        raise ConfigError(
            f"path '{path}' is not a file inside the repository",
            fix="give a path relative to the repository root, without '..'",
        )
    if ".git" in parts:
        raise ConfigError(f"path '{path}' is inside the .git directory", fix="give a file of the branch")
    return "/".join(parts)


def show_file(checkout: Path | Git, ref: str, path: str) -> str | None:
    """The UTF-8 text of ``path`` at ``ref`` (e.g. ``origin/prod``, a tag or a SHA) without
    touching the working tree; None when ``ref`` has no such file.

    ``path`` is checked as adapters/files.path_in_checkout checks one (no absolute path, no '..',
    no '.git'), and what the commit holds there must be a regular file: a symbolic link (mode
    120000) at the path or at any directory on the way is refused (ConfigError), as are a
    directory and a submodule. The text is returned exactly as stored (CRLF and a BOM kept); a
    file that is not UTF-8 is a ConfigError. An unknown ``ref`` is a GitError.
    """
    _check_ref(ref)
    name = _tree_path(path)
    git = _checkout_git(checkout)
    parts = name.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    args = ("--literal-pathspecs", "ls-tree", "-z", "--full-tree", "--end-of-options", ref, "--", *prefixes)
    result = git.run(*args, check=False)
    if result.rc != 0:
        raise git.error(("ls-tree",), result, fix=f"check that '{ref}' is a branch, tag or commit (fetched)")
    entries: dict[str, tuple[str, str, str]] = {}
    for entry in result.out.split("\0"):
        meta, tab, entry_path = entry.partition("\t")
        if tab:
            mode, kind, sha = meta.split()
            entries[entry_path] = (mode, kind, sha)
    # ls-tree lists the deepest entry each prefix reaches: the file itself, or a link or file
    # where a directory would be (then the path does not exist as such).
    for prefix in prefixes:
        if prefix in entries and entries[prefix][0] == "120000":
            target = git.blob(entries[prefix][2])[:200].decode("utf-8", "replace")  # hostile: keep it short
            raise ConfigError(
                f"'{name}' at {ref}: '{prefix}' is a symbolic link (to '{target}'); gitops-release reads "
                "only real files of the repository",
                fix=f"replace the link '{prefix}' in the repository by a real "
                f"{'file' if prefix == name else 'directory'} (git rm it and commit the content)",
            )
    if name not in entries:
        return None
    mode, kind, sha = entries[name]
    if kind != "blob":
        raise ConfigError(
            f"'{name}' at {ref} is a {'directory' if kind == 'tree' else 'submodule'}, not a file",
            fix="give the path of a file",
        )
    try:
        return git.blob(sha).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"'{name}' at {ref} is not UTF-8 text ({exc})", fix="store it as UTF-8") from None


# -- reverting a commit into the working tree -----------------------------------------------------


@dataclass(frozen=True)
class _RevertChange:
    path: str
    old_mode: str  # the parent's side (what the revert restores); "000000" when absent there
    new_mode: str  # the commit's side (what the revert undoes); "000000" when it deleted the file
    old_blob: str
    new_blob: str


_ABSENT_MODE = "000000"


def _revert_changes(git: Git, sha: str, parent: str | None, paths: Sequence[str]) -> list[_RevertChange]:
    args = ["--literal-pathspecs", "diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", "--raw"]
    args += ["--root", sha] if parent is None else [parent, sha]
    fields = git.run(*args, "--", *paths).out.split("\0")
    changes = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):  # ":modes shas status", path
        if not meta.startswith(":"):
            continue
        old_mode, new_mode, old_blob, new_blob, _status = meta[1:].split()
        changes.append(_RevertChange(path, old_mode, new_mode, old_blob, new_blob))
    return changes


def _merge_file(git: Git, ours: bytes, base: bytes, theirs: bytes) -> bytes | None:
    """Three-way merge of one file's bytes (``git merge-file``); None on any conflict (or a
    binary file git will not merge). Runs on temporary copies: the checkout is not touched."""
    with tempfile.TemporaryDirectory(prefix="gitops-release-revert-") as tmp:
        names = []
        for label, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / label
            path.write_bytes(data)
            names.append(str(path))
        result = git.run("merge-file", "--quiet", *names, check=False)
        return Path(names[0]).read_bytes() if result.rc == 0 else None


def revert_into_tree(
    checkout: Path | Git, sha: str, *, paths: Sequence[str], mainline: int | None = None
) -> list[str]:
    """Apply the inverse of commit ``sha``, limited to ``paths``, to the working tree of
    ``checkout`` (a clone, or its Git wrapper) without committing and without touching the
    index: what ``git revert --no-commit`` does to those files, so it composes with other edits
    inside commit_and_push's or push_branch's edit function (the working tree may already hold
    changes; they are merged with, not overwritten). Returns the files it changed (empty when
    ``sha`` did not touch ``paths`` or its change is already undone).

    Every file is merged three ways (the commit's version as the base, the parent's version as
    theirs, the working tree as ours, like git revert) in memory first: when any file does not
    merge cleanly, nothing is written and RevertConflictError names the commit, the later
    commits on HEAD that touched that file and the file. A merge commit is refused unless
    ``mainline`` (1-based, as ``git revert -m``) names the parent whose side is restored. ``sha``
    must be in the history of HEAD. Paths are literal (as in commit_and_push); changes of symbolic
    links or submodules are refused, and so is writing through a symbolic link in the checkout
    (path_in_checkout's rules). Content is reverted, not a change of only the executable bit.
    """
    git = _checkout_git(checkout)
    literal = [_literal_path(path)[0] for path in paths]
    _check_ref(sha, "commit")
    infos = _log(git, ["-1", "--no-walk"], sha, [])
    if not infos:
        raise GitError(f"commit '{sha}' was not found", fix="fetch it, or give a commit of the branch")
    info = infos[0]
    shown = f"{info.sha[:12]} ({info.subject})"
    if len(info.parents) > 1 and mainline is None:
        raise GitError(
            f"commit {shown} is a merge of {len(info.parents)} parents; reverting it needs a mainline",
            fix="give mainline=1 to restore the first parent's side (the branch it was merged into)",
        )
    if mainline is not None and not 1 <= mainline <= max(1, len(info.parents)):
        raise GitError(
            f"mainline {mainline} does not name a parent of {shown} ({len(info.parents)} parent(s))",
            fix="give a parent number from 1 (the first parent)",
        )
    parent = info.parents[(mainline or 1) - 1] if info.parents else None
    if not literal:
        return []
    if git.run("merge-base", "--is-ancestor", info.sha, "HEAD", check=False).rc != 0:
        raise GitError(
            f"commit {shown} is not in the history of the checkout's HEAD",
            fix="revert a commit of the branch being changed",
        )
    root = git.cwd
    writes: list[tuple[str, bytes | None, str]] = []  # (path, new bytes or None to delete, mode)
    conflicts: list[str] = []
    for change in _revert_changes(git, info.sha, parent, literal):
        if {change.old_mode, change.new_mode} & {"120000", "160000"}:
            raise GitError(
                f"commit {shown} changes '{change.path}', a symbolic link or submodule; gitops-release "
                "reverts only changes of regular files",
                fix="revert it by hand, or promote the wanted tag explicitly",
            )
        target = path_in_checkout(root, change.path, "path")
        if target.exists() and not target.is_file():
            conflicts.append(change.path)
            continue
        current = target.read_bytes() if target.exists() else None
        before = git.blob(change.old_blob) if change.old_mode != _ABSENT_MODE else None
        after = git.blob(change.new_blob) if change.new_mode != _ABSENT_MODE else None
        if current == before:
            continue  # already as it was before the commit
        if current == after:
            writes.append((change.path, before, change.old_mode))  # untouched since: restore
            continue
        merged: bytes | None = None  # changed since, or added/deleted by the commit and changed since
        if current is not None and before is not None and after is not None:
            merged = _merge_file(git, current, after, before)
        if merged is None:
            conflicts.append(change.path)
        elif merged != current:
            writes.append((change.path, merged, change.old_mode))
    if conflicts:
        path = conflicts[0]
        raise _revert_conflict(git, info, shown, path, gone=not (root / path).exists())
    for path, data, mode in writes:
        target = root / path
        if data is None:
            target.unlink()
            continue
        created = not target.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if created and mode == "100755":  # a restored file gets its mode back; others keep theirs
            target.chmod(target.stat().st_mode | 0o111)
    return [path for path, _, _ in writes]


def _revert_conflict(git: Git, info: CommitInfo, shown: str, path: str, gone: bool) -> RevertConflictError:
    later = [commit for commit in _log(git, [], f"{info.sha}..HEAD", [path]) if commit.sha != info.sha]
    what = "deleted" if gone else "changed the same lines of"
    if later:
        names = ", ".join(f"{commit.sha[:12]} ({commit.subject})" for commit in later[:3])
        more = f" and {len(later) - 3} more" if len(later) > 3 else ""
        by = f"later commit(s) {names}{more} {what}"
    else:
        by = f"uncommitted changes in the checkout {what}"
    return RevertConflictError(
        f"cannot revert {shown}: {by} '{path}'; nothing was changed",
        fix="promote the wanted tag explicitly (tag: …) instead",
    )
