"""Read what the config repository's history says about an image, for `gitops-release trace`.

Reads objects only, through the one git wrapper (adapters/git.py): one path-limited
``git log --first-parent --raw`` over db.json, the policy file and the overlays root lists every
change (renames come out as R entries), then ``git cat-file --batch`` reads just the file versions
needed. Nothing is checked out, written, or run from the repository (no hooks, filters, pager,
external diff or textconv).

db.json is ~300 KB at every commit of a big config repo, and reading all its versions costs
seconds; so each (container, channel) entry's change points are found by **segment search**:
read the entry at both ends of a run of versions; equal (every field, updatedAt included) means
no change inside, since update-db stamps a fresh updatedAt on every change and an entry never
returns to earlier bytes except by a revert or a hand edit; different means split in two. Runs
that break the assumption (a revert commit, a blob equal to an earlier version, an updatedAt that
goes backwards) are read version by version; ``exhaustive=True`` reads every version. Only
"found" answers rely on the assumption: before "not found", every version is searched for the
needle (``git grep -F``) and the runs that hold it are read version by version.

Hostile history is a note, never a crash: a symlink or submodule at a read path, a blob over
``MAX_BLOB_BYTES``, a YAML alias bomb or merge key in an old overlay (the bounded parsers of
core/overlay and core/values refuse them), a db.json version that does not parse (its entries are
"unknown" for that commit, not removed).
"""

from __future__ import annotations

import fnmatch
import itertools
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from gitops_release.adapters.git import Git, _check_ref
from gitops_release.core.db import load_db
from gitops_release.core.policy import DEFAULT_POLICY, Policy, load_policy
from gitops_release.core.promotion import ImageState
from gitops_release.core.release import Release, parse_release
from gitops_release.core.trace import normalise_image, release_matches, state_holds
from gitops_release.core.trace_model import (
    ArrivalKind,
    Commit,
    DbChange,
    History,
    MatchedImage,
    OverlayChange,
    Query,
)
from gitops_release.errors import ConfigError, GitError, InputError, ReleaseError

# adapters.layout, core.overlay and core.values (ruamel.yaml) and jsonschema (the policy's
# validator) cost ~0.3 s to import: they are imported inside the functions that use them, and
# read_history imports them on a worker thread while git lists the history (_warm_imports).

__all__ = ["MAX_BLOB_BYTES", "overlay_states_at", "read_history"]

MAX_BLOB_BYTES = 16 * 1024 * 1024
_TRAILER = "Gitops-Release-Promotion"
_TRAILER_KIND = re.compile(rf"^{_TRAILER}: kind=(promote|rollback|pin)\b", re.M)
_REVERT = re.compile(r"^This reverts commit [0-9a-f]{7,64}", re.M)
_MERGE_PR = re.compile(r"^Merge pull request #([0-9]{1,9}) ")
_SQUASH_PR = re.compile(r"\(#([0-9]{1,9})\)\s*$")
_ZERO = re.compile(r"^0+$")
_SKIP_MODES = {"120000": "a symbolic link", "160000": "a submodule"}
_UNKNOWN: Any = object()  # an entry whose db.json version could not be read
_EVICTED = b"\0evicted"  # a blob read once and dropped from memory (read again on demand)
_CHUNK = 64  # db.json versions per cat-file --batch (64 x 300 KB in memory at most)
_PARALLEL_BYTES = 4 * 1024 * 1024  # a batch this large is read by two cat-file processes


@dataclass(frozen=True)
class _Entry:
    """One ``--raw`` line: a file changed by a commit."""

    status: str
    old_mode: str
    new_mode: str
    old_blob: str
    new_blob: str
    path: str
    old_path: str | None  # renames and copies


@dataclass
class _Logged:
    """One listed commit: its raw changes, and its fields parsed only when asked for (a db.json
    log lists thousands of commits and the answer needs a few of them)."""

    sha: str
    fields: list[bytes]
    entries: list[_Entry] = field(default_factory=list)
    _commit: Commit | None = None
    clamped: bool = False  # a date out of range was clamped (said in a note)

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(self.fields[1].decode("ascii", "replace").split())

    @property
    def message(self) -> str:
        """Subject and body, for the cheap checks (hints, reverts)."""
        return (self.fields[7] + b"\n" + self.fields[8]).decode("utf-8", "replace")

    @property
    def commit(self) -> Commit:
        if self._commit is None:
            sha, parents, author, email, authored, committer, committed, subject, body = (
                part.decode("utf-8", "replace") for part in self.fields
            )
            (authored_at, bad_author), (committed_at, bad_committer) = _time(authored), _time(committed)
            self.clamped = bad_author or bad_committer
            self._commit = Commit(
                sha=sha,
                parents=tuple(parents.split()),
                author=author,
                author_email=email,
                authored_at=authored_at,
                committer=committer,
                committed_at=committed_at,
                subject=subject,
                body=body.rstrip("\n"),
                pull_request=_pull_request(subject),
            )
        return self._commit


def _git(repo: Path | Git) -> Git:
    return repo if isinstance(repo, Git) else Git(Path(repo))


# Commit dates are whatever a committer wrote: git accepts years past 9999 (and datetime does not).
# They are clamped to this range, a year short of datetime's ends so that arithmetic on them
# (soak, a minimum bar length) cannot overflow either.
_EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(9998, 12, 31, tzinfo=timezone.utc)


def _time(text: str) -> tuple[datetime, bool]:
    """A commit date from epoch seconds (``%at``/``%ct``), and whether it had to be clamped."""
    try:
        seconds = int(text.strip())
    except ValueError:
        return _EARLIEST, True
    if seconds < 0:
        return _EARLIEST, True
    if seconds > int(_LATEST.timestamp()):
        return _LATEST, True
    return datetime.fromtimestamp(seconds, timezone.utc), False


def _pull_request(subject: str) -> int | None:
    match = _MERGE_PR.match(subject) or _SQUASH_PR.search(subject)
    return int(match.group(1)) if match else None


# Dates as epoch seconds: %aI/%cI print a five-digit year for a date past 9999, which
# datetime.fromisoformat refuses.
_FIELDS = ("%H", "%P", "%an", "%ae", "%at", "%cn", "%ct", "%s", "%b")


def _log_raw(
    git: Git,
    head: str,
    paths: Sequence[str],
    *,
    renames: bool = True,
    pickaxe: str | None = None,
    exclude: str | None = None,
) -> list[_Logged]:
    """Every first-parent commit of ``head`` that changed ``paths``, oldest first, with its raw
    changes (merges against their first parent, renames detected). Records are framed by a fresh
    nonce so no commit message can forge a field. ``pickaxe``: only the commits and files where the
    number of occurrences of that string changed (``git log -S``). ``exclude``: a path left out
    (every path is then given with the ``literal`` pathspec magic instead of --literal-pathspecs)."""
    if not paths:
        return []
    nonce = secrets.token_hex(16)
    start, sep, end = f"%x00{nonce}%x1e", f"%x00{nonce}%x1f", f"%x00{nonce}%x1d"
    pathspecs = sorted(set(paths))
    if exclude is not None:
        pathspecs = [f":(literal){path}" for path in pathspecs] + [f":(exclude,literal){exclude}"]
    out = git.read_bytes(
        *(["--literal-pathspecs"] if exclude is None else []),
        "--no-pager",
        "log",
        "--first-parent",
        "--diff-merges=first-parent",
        "--raw",
        "-z",
        "--no-abbrev",
        "-M" if renames else "--no-renames",
        *([f"-S{pickaxe}"] if pickaxe else []),
        "--no-ext-diff",
        "--no-textconv",
        "--no-show-signature",
        "--no-use-mailmap",
        "--no-color",
        "--encoding=UTF-8",
        f"--format={start}{sep.join(_FIELDS)}{end}",
        "--end-of-options",
        head,
        "--",
        *pathspecs,
    )
    records = out.split(f"\0{nonce}\x1e".encode())
    logged: list[_Logged] = []
    for record in records[1:]:
        header, _, raw = record.partition(f"\0{nonce}\x1d".encode())
        fields = header.split(f"\0{nonce}\x1f".encode())
        if len(fields) != len(_FIELDS):
            continue
        item = _Logged(fields[0].decode("ascii", "replace"), fields)
        tokens = raw.split(b"\0")
        index = 0
        while index < len(tokens):
            token = tokens[index].lstrip(b"\n")
            index += 1
            if not token.startswith(b":"):
                continue
            meta = token[1:].decode("ascii", "replace").split()
            if len(meta) < 5:
                continue
            old_mode, new_mode, old_blob, new_blob, status = meta[:5]
            if status[:1] in ("R", "C"):
                old_path = tokens[index].decode("utf-8", "replace")
                path = tokens[index + 1].decode("utf-8", "replace")
                index += 2
            else:
                old_path, path = None, tokens[index].decode("utf-8", "replace")
                index += 1
            item.entries.append(_Entry(status[:1], old_mode, new_mode, old_blob, new_blob, path, old_path))
        logged.append(item)
    logged.reverse()
    return logged


def _batch_entries(out: bytes) -> Iterator[tuple[str, str, bytes | None]]:
    """(oid, type, body) of each object in ``git cat-file --batch`` output, in order; body None
    (type the word git printed, e.g. ``missing``) for a name git could not read."""
    position = 0
    while position < len(out):
        newline = out.index(b"\n", position)
        header = out[position:newline].decode("ascii", "replace").split()
        position = newline + 1
        if len(header) != 3:
            if header:
                yield header[0], header[1] if len(header) > 1 else "", None
            continue
        size = int(header[2])
        yield header[0], header[1], out[position : position + size]
        position += size + 1


class _Blobs:
    """Blob contents by id, read in batches through ``git cat-file --batch`` (sizes checked first)."""

    def __init__(self, git: Git, notes: list[str]) -> None:
        self.git = git
        self.notes = notes
        self.cache: dict[str, bytes | None] = {}
        self.read_count = 0

    def load(self, oids: Iterable[str], what: Mapping[str, str] | None = None) -> None:
        wanted = sorted(
            {oid for oid in oids if self.cache.get(oid, _EVICTED) is _EVICTED and not _ZERO.match(oid)}
        )
        if not wanted:
            return
        checked = self.git.read_bytes(
            "cat-file",
            "--batch-check=%(objectname) %(objecttype) %(objectsize)",
            input=("\n".join(wanted) + "\n").encode(),
        )
        small: list[str] = []
        size_of: dict[str, int] = {}
        for line in checked.decode("ascii", "replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "blob" and parts[2].isdigit():
                if int(parts[2]) > MAX_BLOB_BYTES:
                    self.cache[parts[0]] = None
                    name = (what or {}).get(parts[0], parts[0][:12])
                    self.notes.append(
                        f"{name}: a {int(parts[2]) // (1024 * 1024)} MiB version ({parts[0][:12]}) is over "
                        f"the {MAX_BLOB_BYTES // (1024 * 1024)} MiB cap and was not read"
                    )
                else:
                    small.append(parts[0])
                    size_of[parts[0]] = int(parts[2])
            elif parts:
                self.cache[parts[0]] = None  # missing (shallow clone) or not a blob
        if not small:
            return
        total = sum(size_of.values())
        if total >= _PARALLEL_BYTES and len(small) > 1:
            # Inflating many large versions (db.json) is git's CPU work: two cat-file processes
            # each take half the bytes.
            halves: tuple[list[str], list[str]] = ([], [])
            taken = 0
            for oid in small:
                halves[taken * 2 >= total].append(oid)
                taken += size_of[oid]
            with ThreadPoolExecutor(max_workers=2) as pool:
                outs = list(pool.map(self._batch, halves))
        else:
            outs = [self._batch(small)]
        for out in outs:
            self._parse(out)
        for oid in small:
            self.cache.setdefault(oid, None)

    def _batch(self, oids: Sequence[str]) -> bytes:
        if not oids:
            return b""
        return self.git.read_bytes("cat-file", "--batch", input=("\n".join(oids) + "\n").encode())

    def _parse(self, out: bytes) -> None:
        for oid, _kind, body in _batch_entries(out):
            self.cache[oid] = body
            if body is not None:
                self.read_count += 1

    def evict(self, oid: str) -> None:
        """Forget a large blob's bytes (what was parsed from it stays cached elsewhere)."""
        if self.cache.get(oid) is not None:
            self.cache[oid] = _EVICTED

    def get(self, oid: str) -> bytes | None:
        if self.cache.get(oid) is _EVICTED:
            del self.cache[oid]
        if oid not in self.cache:
            self.load((oid,))
        return self.cache.get(oid)


# -- db.json -----------------------------------------------------------------------------------

_CANONICAL_HEAD = b'{\n  "schemaVersion": 1,\n  "releases": [\n'


class _DbVersions:
    """db.json versions (blob ids), entries located by string search in update-db's format and by a
    full parse otherwise; parsed entries are cached by (blob, key)."""

    def __init__(self, blobs: _Blobs, path: str, notes: list[str]) -> None:
        self.blobs = blobs
        self.path = path
        self.notes = notes
        self.entry_cache: dict[tuple[str, str, str], Any] = {}
        self.full_cache: dict[str, dict[tuple[str, str], Any] | None] = {}
        self.bad: set[str] = set()

    def entry(self, oid: str | None, key: tuple[str, str]) -> Any:
        """The release of ``key`` in version ``oid``: a Release, None (absent) or _UNKNOWN."""
        if oid is None:
            return None
        cache_key = (oid, *key)
        if cache_key in self.entry_cache:
            return self.entry_cache[cache_key]
        value = self._entry(oid, key)
        self.entry_cache[cache_key] = value
        return value

    def _entry(self, oid: str, key: tuple[str, str]) -> Any:
        data = self.blobs.get(oid)
        if data is None:
            return _UNKNOWN
        if data.startswith(_CANONICAL_HEAD):
            needle = f'\n    {{\n      "container": "{key[0]}",\n      "channel": "{key[1]}",\n'.encode()
            first = data.find(needle)
            if first >= 0 and data.find(needle, first + 1) < 0:
                end = data.find(b"\n    }", first + 1)
                if end > 0:
                    try:
                        return _release(orjson.loads(data[first + 1 : end + 6]))
                    except (orjson.JSONDecodeError, ValueError):
                        pass
            elif first < 0 and f'"{key[0]}"'.encode() not in data:
                return None
        index = self._full(oid, data)
        if index is None:
            return _UNKNOWN
        return index.get(key)

    def _full(self, oid: str, data: bytes) -> dict[tuple[str, str], Any] | None:
        if oid in self.full_cache:
            return self.full_cache[oid]
        index: dict[tuple[str, str], Any] | None = None
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("releases"), list):
            index = {}
            for item in doc["releases"]:
                if (
                    isinstance(item, dict)
                    and isinstance(item.get("container"), str)
                    and isinstance(item.get("channel"), str)
                ):
                    key = (item["container"], item["channel"])
                    index[key] = _UNKNOWN if key in index else _release(item)
        if index is None and oid not in self.bad:
            self.bad.add(oid)
            self.notes.append(
                f"{self.path}: version {oid[:12]} does not parse as a db.json; "
                "its entries are unknown for that version"
            )
        self.full_cache[oid] = index
        return index

    def prefetch(self, oids: Iterable[str | None], keys: Sequence[tuple[str, str]]) -> None:
        """Read ``oids`` in chunks and keep only ``keys``' entries: a 10,000-version history of a
        300 KB db.json never sits in memory at once."""
        wanted = [
            o
            for o in dict.fromkeys(oids)
            if o is not None and any((o, *k) not in self.entry_cache for k in keys)
        ]
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            self.blobs.load(chunk, dict.fromkeys(chunk, self.path))
            for oid in chunk:
                for key in keys:
                    self.entry(oid, key)
                self.blobs.evict(oid)
                self.full_cache.pop(oid, None)

    def all_entries(self, oid: str | None) -> dict[tuple[str, str], Any]:
        if oid is None:
            return {}
        data = self.blobs.get(oid)
        index = self._full(oid, data) if data is not None else None
        return dict(index or {})


def _release(item: object) -> Any:
    try:
        return parse_release(item, field="release")
    except InputError:
        return _UNKNOWN


def _same(a: Any, b: Any) -> bool:
    if a is _UNKNOWN or b is _UNKNOWN:
        return a is b
    return a == b


def _stamp(value: Any) -> str:
    return value.updated_at or "" if isinstance(value, Release) else ""


# -- overlays ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Where a policy version puts each env's images."""

    pattern: tuple[str, ...]
    env_of_dir: Mapping[str, str]  # env directory name -> env (channel)
    values: Mapping[str, tuple[str, Any]]  # values file -> (env, rule)
    overlay_files: tuple[str, ...] = ()  # adapters.layout.OVERLAY_FILES
    manifest_name: str = ""  # adapters.layout.MANIFEST_NAME

    def classify(self, path: str) -> tuple[str, str, str] | None:
        """(env, app, kind) of an overlay, manifest or values file; kind: kustomize/manifest/values."""
        if path in self.values:
            return (self.values[path][0], "", "values")
        parts = path.split("/")
        if len(parts) != len(self.pattern) + 2:
            return None
        names = []
        for part, glob in zip(parts, self.pattern, strict=False):
            if any(ch in glob for ch in "*?["):
                if part.startswith(".") or not fnmatch.fnmatchcase(part, glob):
                    return None
                names.append(part)
            elif part != glob:
                return None
        env = self.env_of_dir.get(parts[-2])
        if env is None:
            return None
        if parts[-1] in self.overlay_files:
            return (env, "/".join(names), "kustomize")
        if parts[-1] == self.manifest_name:
            return (env, "/".join(names), "manifest")
        return None

    def app_paths(self, apps: Iterable[str]) -> set[str]:
        """The directories that hold ``apps``' env overlays under this layout (the prefix when a
        glob is not a plain ``*``)."""
        stars = [i for i, part in enumerate(self.pattern) if any(ch in part for ch in "*?[")]
        if not stars or any(self.pattern[i] != "*" for i in stars):  # no *: one app, the whole dir
            return {self.prefix() or "."}
        out = set()
        for app in apps:
            names = app.split("/") if app else []
            if len(names) != len(stars):
                continue
            parts = list(self.pattern)
            for i, name in zip(stars, names, strict=True):
                parts[i] = name
            out.add("/".join(parts))
        return out

    def prefix(self) -> str:
        static: list[str] = []
        for part in self.pattern:
            if any(ch in part for ch in "*?["):
                break
            static.append(part)
        return "/".join(static)


def _layout(policy: Policy, overlays_dir: str | None) -> _Layout:
    from gitops_release.adapters.layout import DEFAULT_OVERLAYS_DIR, MANIFEST_NAME, OVERLAY_FILES

    pattern = (overlays_dir or policy.overlays_dir or DEFAULT_OVERLAYS_DIR).strip("/")
    env_of_dir = {policy.overlay_for(env): env for env in policy.channels}
    values = {path: (env, rule) for rule in policy.values for env, path in rule.files.items()}
    return _Layout(PurePosixPath(pattern).parts, env_of_dir, values, tuple(OVERLAY_FILES), MANIFEST_NAME)


def _states(data: bytes, path: str, kind: str, rule: Any) -> dict[str, ImageState]:
    """Image entries of one overlay or values file version (ConfigError when it does not parse)."""
    from gitops_release.core.overlay import get_images
    from gitops_release.core.values import get_values

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 ({exc.reason})") from None
    if kind == "values":
        keys = [k for k in (rule.tag, rule.digest, rule.repository) if k]
        values = get_values(text, keys, path=path)
        return {
            rule.image: ImageState(
                name=rule.image,
                new_name=values.get(rule.repository) if rule.repository else None,
                new_tag=values.get(rule.tag),
                digest=values.get(rule.digest) if rule.digest else None,
            )
        }
    states: dict[str, ImageState] = {}
    for entry in get_images(text, path=path):
        name = str(entry.get("name", ""))
        states.setdefault(
            name,
            ImageState(
                name=name,
                new_name=entry.get("newName"),
                new_tag=entry.get("newTag"),
                digest=entry.get("digest"),
            ),
        )
    return states


def _commit_kind(commit: Commit, tip: Commit | None) -> ArrivalKind:
    """What the commit says it is (promote-overlay's trailer, a revert); "edit" otherwise."""
    for message in (commit.body, tip.body if tip else ""):
        match = _TRAILER_KIND.search(message)
        if match:
            return match.group(1)  # type: ignore[return-value]
    text = f"{commit.subject}\n{commit.body}"
    if _REVERT.search(text) or commit.subject.startswith('Revert "'):
        return "revert"
    return "edit"


def _is_dispatch(
    changes: Sequence[DbChange], env: str, app: str, after: ImageState | None, policy: Policy
) -> bool:
    """update-db's write-through: the same commit records a release in this environment's channel,
    for a container of this overlay's app, that the overlay's new state holds. Touching db.json in
    the same commit is not enough (a hand edit of prod beside a reformatted db.json is an edit)."""
    if after is None:
        return False
    for change in changes:
        release = change.after
        if release is None or change.channel != env:
            continue
        if app and policy.overlay_app(change.container) != app:
            continue  # app "": overlays.dir without a *, the one app of every container
        if state_holds(after, MatchedImage(change.container, release.image, release.tag, release.digest)):
            return True
    return False


def _mode_note(path: str, mode: str, commit: str) -> str:
    return (
        f"{path} at {commit[:12]} is {_SKIP_MODES.get(mode, 'not a regular file')}; that version was skipped"
    )


# -- the reader --------------------------------------------------------------------------------


def read_history(
    repo: Path | Git,
    query: Query,
    *,
    ref: str = "HEAD",
    db_path: str = "db/db.json",
    policy_path: str = ".gitops-release.yml",
    overlays_dir: str | None = None,
    since: datetime | None = None,
    exhaustive: bool = False,
) -> History:
    """What the history of ``ref`` says about ``query``'s images (see the module docstring).

    ``since`` does not narrow what is read (the path-limited log is cheap and a stay that began
    before it still matters); build_trace filters what is shown. A ``ref`` that is not a commit is
    a GitError."""
    del since  # see the docstring
    git = _git(repo)
    _check_ref(ref)
    head = git.rev_parse(ref)
    if head is None:
        raise GitError(
            f"ref '{ref}' is not a commit of {git.cwd}",
            fix="give a branch, tag or commit SHA that is fetched",
        )
    shallow, shallow_note = _shallow(git, head)
    with ThreadPoolExecutor(max_workers=3) as pool:
        pool.submit(_warm_imports)
        history = _read(git, pool, head, query, ref, db_path, policy_path, overlays_dir, exhaustive)
    if not shallow:
        return history
    return replace(history, shallow=shallow, notes=(shallow_note, *history.notes))


def _shallow(git: Git, head: str) -> tuple[tuple[str, ...], str]:
    """A shallow clone's boundary commits (``.git/shallow``) and the note that says so; () for a
    full clone. actions/checkout's default is fetch-depth: 1: such a clone's one commit seems to
    add every file, which must not be answered as "arrived at the tip, by its author"."""
    answer = git.run("rev-parse", "--is-shallow-repository", check=False).out.strip()
    if answer != "true":
        return (), ""
    boundary: tuple[str, ...] = ()
    where = git.run("rev-parse", "--git-path", "shallow", check=False).out.strip()
    if where:
        path = Path(where) if Path(where).is_absolute() else git.cwd / where
        try:
            text = path.read_text(encoding="ascii", errors="replace")[: 1 << 20]
        except OSError:
            text = ""
        boundary = tuple(sorted({s for s in text.split() if re.fullmatch(r"[0-9a-f]{40,64}", s)}))
    count = git.run("rev-list", "--count", "--first-parent", "--end-of-options", head, "--", check=False)
    commits = count.out.strip() if count.rc == 0 and count.out.strip().isdigit() else "?"
    oldest = ", ".join(sha[:12] for sha in boundary) or "its oldest commit"
    note = (
        f"this clone is shallow ({commits} commits): arrivals at or before {oldest} are unknown "
        "(shown as initial); check out with fetch-depth: 0 (actions/checkout) or run "
        "git fetch --unshallow"
    )
    return boundary, note


def _warm_imports() -> None:
    """Import the YAML parsers and build the policy validator while the main thread waits on git
    (imports are thread-safe: the main thread waits for a module another thread is importing)."""
    from gitops_release.core.policy import _validator

    _validator()  # jsonschema: the policy's versions are loaded first
    import gitops_release.adapters.layout  # noqa: F401  (core.overlay, core.values: ruamel.yaml)


def _overlay_log(git: Git, head: str, paths: Sequence[str]) -> tuple[list[_Logged], dict[str, Commit]]:
    logged = _log_raw(git, head, paths)
    return logged, _tips(git, [item.commit for item in logged if len(item.parents) > 1])


def _read(
    git: Git,
    pool: ThreadPoolExecutor,
    head: str,
    query: Query,
    ref: str,
    db_path: str,
    policy_path: str,
    overlays_dir: str | None,
    exhaustive: bool,
) -> History:
    first_parent = pool.submit(_first_parent_order, git, head)
    # A bare tag or digest that db.json at head does not hold at all will need the overlays'
    # pickaxe log (below): start it now, beside the log of db.json, over every path but db.json.
    speculative = None
    needle = query.digest or query.tag
    if needle and query.image is None:
        head_db = _file_at(git, head, db_path)
        words = [w for w in (query.tag, query.digest, query.container, query.source_sha) if w]
        if head_db is None or not any(w.encode() in head_db for w in words):
            speculative = pool.submit(
                _log_raw, git, head, ["."], renames=False, pickaxe=needle, exclude=db_path
            )
    notes: list[str] = []
    blobs = _Blobs(git, notes)

    # The policy's versions first (it changes rarely): the layouts over time give every path to log.
    # One log of the two small files: the policy's versions (the layouts over time give every
    # overlay path to log) and db.json's.
    small_log = _log_raw(git, head, [policy_path, db_path], renames=False)
    policy_log = [item for item in small_log if any(e.path == policy_path for e in item.entries)]
    policies: list[tuple[datetime, int, str, Policy]] = []  # (landed, order, commit, policy)
    blobs.load(e.new_blob for item in policy_log for e in item.entries if e.path == policy_path)
    current = DEFAULT_POLICY
    for rank, item in enumerate(policy_log):
        for entry in item.entries:
            if entry.path != policy_path:
                continue
            if entry.status == "D" or _ZERO.match(entry.new_blob):
                current = DEFAULT_POLICY
            elif entry.new_mode != "100644" and entry.new_mode != "100755":
                notes.append(_mode_note(policy_path, entry.new_mode, item.commit.sha))
            else:
                data = blobs.get(entry.new_blob)
                try:
                    current = load_policy(
                        data.decode("utf-8") if data is not None else None, path=policy_path
                    )
                except (ConfigError, UnicodeDecodeError) as exc:
                    notes.append(
                        f"{policy_path} at {item.commit.sha[:12]} does not load ({_short(exc)}); "
                        "the earlier policy is used"
                    )
        policies.append((item.commit.committed_at, rank, item.sha, current))
    policy_by_commit = {sha: policy for _, _, sha, policy in policies}
    layouts: dict[int, _Layout] = {}

    def layout_for(policy: Policy) -> _Layout:
        key = id(policy)
        if key not in layouts:
            layouts[key] = _layout(policy, overlays_dir)
        return layouts[key]

    all_layouts = list({id(lay): lay for lay in (layout_for(p) for *_, p in policies)}.values())
    all_layouts = all_layouts or [layout_for(DEFAULT_POLICY)]
    head_policy = policies[-1][3] if policies else DEFAULT_POLICY

    # -- db.json: one cheap log of the one file, then only the versions the segment search needs --
    db_log = small_log
    versions: list[tuple[_Logged, str | None]] = []  # (commit, blob) after each db change
    for item in db_log:
        for entry in item.entries:
            if entry.path != db_path:
                continue
            if entry.status == "D" or _ZERO.match(entry.new_blob):
                versions.append((item, None))
            elif entry.new_mode in _SKIP_MODES:
                notes.append(_mode_note(db_path, entry.new_mode, item.sha))
                versions.append((item, None))
            else:
                versions.append((item, entry.new_blob))
    db_commits = {item.sha for item, _ in versions}
    db = _DbVersions(blobs, db_path, notes)
    head_db_oid = versions[-1][1] if versions else None
    db_at_head: tuple[Release, ...] = ()
    if head_db_oid is not None:
        data = blobs.get(head_db_oid)
        if data is None:
            notes.append(f"{db_path} at head was not read")
        else:
            try:
                db_at_head = load_db(data.decode("utf-8"), path=db_path).releases
            except (ConfigError, UnicodeDecodeError) as exc:
                notes.append(
                    f"{db_path} at head does not load ({_short(exc)}); its readable releases are used"
                )
                db_at_head = tuple(
                    sorted(
                        (r for r in db.all_entries(head_db_oid).values() if isinstance(r, Release)),
                        key=lambda r: r.key,
                    )
                )

    wide_paths = {policy_path}
    for lay in all_layouts:
        wide_paths.add(lay.prefix() or ".")
        wide_paths.update(lay.values)
    touched: list[str] | None = None  # overlay files that ever held the query's tag or digest
    containers = _containers(query, db_at_head)
    if not containers:
        # Which overlay / values files ever held the tag or digest: git's pickaxe lists the commits
        # and files where its number of occurrences changed, so every file that held it at some
        # version is listed (with the commit that brought it, or the add of a renamed copy). Only
        # those files' histories are then read to find the containers (bytes-filtered, then parsed).
        wide = sorted({"."} if "." in wide_paths else wide_paths)
        touched = []
        if needle:
            if speculative is not None and not any(lay.classify(db_path) for lay in all_layouts):
                picked = speculative.result()  # the same log over a superset of the paths
            else:
                picked = _log_raw(git, head, wide, renames=False, pickaxe=needle)
            touched = sorted(
                {
                    e.path
                    for item in picked
                    for e in item.entries
                    if any(lay.classify(e.path) for lay in all_layouts)
                }
            )
        narrow = _log_raw(git, head, touched, renames=False) if touched else []
        containers = _containers_from_overlays(query, narrow, all_layouts, blobs, db_at_head, head_policy)
    # The keys (container, channel) of every db.json version that held the query, once all
    # versions were searched (None: not searched).
    scanned: set[tuple[str, str]] | None = None
    hit_oids: set[str] = set()
    if not containers:
        scanned, hit_oids = _scan_db(git, db, versions, query)
        containers |= {container for container, _ in scanned}

    def overlay_paths_for(apps: set[str]) -> list[str]:
        if not apps and touched is not None:
            # In no db.json entry: only the files that ever held it (an image promoted by hand).
            return sorted({*touched, policy_path}) if touched else []
        if not apps:
            return sorted(wide_paths)
        paths = {policy_path}
        for lay in all_layouts:
            paths.update(lay.values)
            paths.update(lay.app_paths(apps))
        return sorted({"."} if "." in paths else paths)

    # The overlays' log (the containers' app directories under every layout the policy had) runs
    # in a second git process while the db.json versions are read.
    apps = {head_policy.overlay_app(c) for c in containers}
    overlay_log = pool.submit(_overlay_log, git, head, overlay_paths_for(apps))

    oids_seq = [oid for _, oid in versions]
    breakers = _breakers([item for item, _ in versions], oids_seq)

    def db_changes_of(
        keys: Sequence[tuple[str, str]], breakers: Sequence[int], hints: Sequence[int]
    ) -> list[DbChange]:
        out: list[DbChange] = []
        for key, found in _change_points(db, oids_seq, keys, breakers, exhaustive, hints).items():
            for index, before, after in found:
                out.append(
                    DbChange(
                        commit=versions[index][0].commit,
                        container=key[0],
                        channel=key[1],
                        before=before if isinstance(before, Release) else None,
                        after=after if isinstance(after, Release) else None,
                    )
                )
        return out

    keys = sorted(
        {(c, ch) for c in containers for ch in head_policy.channels}
        | {r.key for r in db_at_head if r.container in containers}
    )
    hints = _hints([item for item, _ in versions], containers)
    db_changes = db_changes_of(keys, breakers, hints)
    if _needs_every_version(query, db_at_head, db_changes):
        # "Not found" must not rest on the segment search's assumption (an entry slipped in and put
        # back by hand leaves equal ends): every db.json version is searched for the needle (git grep,
        # bytes) before saying it, and the runs of versions that hold it are read one by one.
        if scanned is None:
            scanned, hit_oids = _scan_db(git, db, versions, query)
        hit = {index for index, oid in enumerate(oids_seq) if oid is not None and oid in hit_oids}
        if hit:
            starts = [i for i in sorted(hit) if i - 1 not in hit]
            ends = [i + 1 for i in sorted(hit) if i + 1 not in hit and i + 1 < len(oids_seq)]
            counts = [0]
            for index in range(len(oids_seq)):
                counts.append(counts[-1] + int(index in hit or breakers[index + 1] > breakers[index]))
            found_containers = {container for container, _ in scanned}
            keys = sorted(
                set(keys) | scanned | {(c, ch) for c in found_containers for ch in head_policy.channels}
            )
            db_changes = db_changes_of(keys, counts, sorted({*hints, *starts, *ends}))
            if found_containers - containers:
                containers |= found_containers
                more_apps = {head_policy.overlay_app(c) for c in containers}
                if more_apps != apps:
                    apps = more_apps
                    overlay_log = pool.submit(_overlay_log, git, head, overlay_paths_for(apps))
    order = first_parent.result()
    db_changes.sort(key=lambda c: (order.get(c.commit.sha, -1), c.container, c.channel))

    # -- overlays ---------------------------------------------------------------------------
    logged, tips = overlay_log.result()
    recorded: dict[str, list[DbChange]] = {}  # commit -> the releases its db.json change recorded
    for db_change in db_changes:
        recorded.setdefault(db_change.commit.sha, []).append(db_change)
    needles = _needles(query, [r for r in db_at_head if r.container in containers], db_changes)
    overlay_changes, overlays_at_head = _overlay_history(
        logged, policy_by_commit, layout_for, head_policy, blobs, notes, apps, needles, tips, recorded
    )
    overlay_changes.sort(key=lambda c: (order.get(c.commit.sha, -1), c.environment, c.app, c.file, c.image))
    if scanned is not None and versions:
        searched = f"every one of the {len(versions)} versions of {db_path} was searched for it"
        if scanned:
            notes.append(f"the image is in no db.json entry at head: {searched}")
        elif not any(_state_hit(query, c.after) for c in overlay_changes if c.after is not None) and not any(
            _state_hit(query, state) for *_, state in overlays_at_head
        ):
            notes.append(f"never released here: {searched}, and no overlay version held it")
    clamped = sorted({item.sha for item in (*small_log, *logged) if item.clamped})
    if clamped:
        notes.append(
            f"{len(clamped)} commit(s) (first {clamped[0][:12]}) carry a date git accepts but that is "
            f"out of range; shown as {_EARLIEST:%Y-%m-%d} or {_LATEST:%Y-%m-%d} (history order is kept)"
        )
    return History(
        ref=ref,
        head=head,
        environments=tuple(head_policy.channels),
        db_changes=tuple(db_changes),
        overlay_changes=tuple(overlay_changes),
        db_at_head=tuple(db_at_head),
        overlays_at_head=tuple(overlays_at_head),
        commits_read=len({item.sha for item in logged} | db_commits),
        blobs_read=blobs.read_count,
        notes=tuple(dict.fromkeys(notes)),
        first_parent=tuple(order),
    )


def _file_at(git: Git, commit: str, path: str) -> bytes | None:
    """The bytes of ``path`` at ``commit`` (None when absent or not a blob), one cat-file."""
    out = git.read_bytes("cat-file", "--batch", input=f"{commit}:{path}\n".encode())
    header, _, body = out.partition(b"\n")
    parts = header.split()
    if len(parts) != 3 or parts[1] != b"blob" or not parts[2].isdigit() or int(parts[2]) > MAX_BLOB_BYTES:
        return None
    return body[: int(parts[2])]


def _short(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, ReleaseError) else str(exc)
    return " ".join(text.split())[:200]


def _tips(git: Git, merges: Sequence[Commit]) -> dict[str, Commit]:
    """The second parent (the pull request's branch tip) of each merge, by merge sha."""
    if not merges:
        return {}
    wanted = {m.parents[1]: m.sha for m in merges}
    nonce = secrets.token_hex(16)
    sep, end = f"%x00{nonce}%x1f", f"%x00{nonce}%x1e"
    result = git.run(
        "--no-pager",
        "log",
        "--no-walk=unsorted",
        "--stdin",
        "--no-show-signature",
        "--no-use-mailmap",
        "--no-color",
        "--encoding=UTF-8",
        f"--format={sep.join(('%H', '%s', '%b'))}{end}",
        input="\n".join(wanted) + "\n",
        check=False,
    )
    tips: dict[str, Commit] = {}
    if result.rc != 0:
        return tips  # a tip that is not in this clone: the merge's own message is all there is
    by_sha = {m.sha: m for m in merges}
    for record in result.out.split(f"\0{nonce}\x1e"):
        parts = record.lstrip("\n").split(f"\0{nonce}\x1f")
        if len(parts) != 3 or parts[0] not in wanted:
            continue
        merge = by_sha[wanted[parts[0]]]
        tips[merge.sha] = Commit(
            parts[0],
            (),
            merge.author,
            merge.author_email,
            merge.authored_at,
            merge.committer,
            merge.committed_at,
            parts[1],
            parts[2].rstrip("\n"),
            _pull_request(parts[1]),
        )
    return tips


def _containers(query: Query, releases: Iterable[Release]) -> set[str]:
    """Containers at head the query may concern: its releases, the container it names, and the
    containers of its image repository (their history may hold the tag)."""
    image = normalise_image(query.image) if query.image else None
    found: set[str] = set()
    for release in releases:
        if (
            release_matches(query, release, by_container=query.kind == "container")
            or (query.container is not None and release.container == query.container)
            or (image is not None and normalise_image(release.image) == image)
        ):
            found.add(release.container)
    return found


def _scan_db(
    git: Git, db: _DbVersions, versions: Sequence[tuple[_Logged, str | None]], query: Query
) -> tuple[set[tuple[str, str]], set[str]]:
    """The (container, channel) keys of the releases the query matches in any db.json version, and
    the versions (blob ids) that hold one. ``git grep -F`` finds the versions whose bytes hold the
    needle (two processes, each half of the commits: no version crosses a pipe), and only those are
    read and parsed."""
    needle = query.digest or query.tag or query.source_sha or query.container or ""
    commits = [(item.sha, oid) for item, oid in versions if oid is not None]
    if needle and commits:
        oid_of = dict(commits)
        shas = list(oid_of)
        half = (len(shas) + 1) // 2
        with ThreadPoolExecutor(max_workers=2) as pool:
            parts = pool.map(lambda part: _grep(git, part, db.path, needle), (shas[:half], shas[half:]))
            found_shas = [sha for part in parts for sha in part]
        return _scan_oids(db, [oid_of[sha] for sha in found_shas], query, needle.encode())
    return _scan_oids(db, [oid for _, oid in commits], query, needle.encode())


_GREP_ARGS = 2000  # commits per git grep (its argv stays far below ARG_MAX)


def _grep(git: Git, commits: Sequence[str], path: str, needle: str) -> list[str]:
    """The commits among ``commits`` whose ``path`` holds ``needle`` (fixed string, bytes)."""
    found: list[str] = []
    for start in range(0, len(commits), _GREP_ARGS):
        chunk = commits[start : start + _GREP_ARGS]
        args = (
            "--literal-pathspecs",
            "--no-pager",
            "grep",
            "-l",
            "-z",
            "-F",
            "--no-color",
            "--no-textconv",
            "-e",
            needle,
            *chunk,
            "--",
            path,
        )
        result = git.run(*args, check=False)
        if result.rc == 1:
            continue  # nothing matched
        if result.rc != 0:
            raise git.error(args, result)
        for name in result.out.split("\0"):
            sha = name.partition(":")[0].strip()
            if sha:
                found.append(sha)
    return found


def _scan_oids(
    db: _DbVersions, oids: Sequence[str], query: Query, needle: bytes
) -> tuple[set[tuple[str, str]], set[str]]:
    """The keys of the releases the query matches in the versions ``oids``, and the versions that
    hold one (read in chunks, bytes-filtered before any parse)."""
    found: set[tuple[str, str]] = set()
    holding: set[str] = set()
    wanted = list(dict.fromkeys(oids))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        db.blobs.load(chunk, dict.fromkeys(chunk, db.path))
        for oid in chunk:
            data = db.blobs.get(oid)
            if data is not None and (not needle or needle in data):
                hits = _raw_hits(data, query)
                if hits:
                    found |= hits
                    holding.add(oid)
            db.blobs.evict(oid)
            db.full_cache.pop(oid, None)
    return found, holding


def _raw_hits(data: bytes, query: Query) -> set[tuple[str, str]]:
    """(container, channel) of the release objects in one db.json version that the query matches,
    compared on the raw JSON (no Release built: this runs on every version of a big db)."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return set()
    items = doc.get("releases") if isinstance(doc, dict) else None
    found: set[tuple[str, str]] = set()
    image = normalise_image(query.image) if query.image else None
    for item in items if isinstance(items, list) else ():
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("container"), str)
            or not isinstance(item.get("channel"), str)
        ):
            continue
        source = item.get("source")
        sha = source.get("sha") if isinstance(source, dict) else None
        if query.kind == "source-sha":
            hit = (isinstance(sha, str) and sha.startswith(query.source_sha or "")) or item.get(
                "tag"
            ) == query.tag
        else:
            hit = (
                (
                    image is None
                    or (isinstance(item.get("image"), str) and normalise_image(item["image"]) == image)
                )
                and (query.digest is None or item.get("digest") == query.digest)
                and (query.tag is None or item.get("tag") == query.tag)
            )
        if hit:
            found.add((item["container"], item["channel"]))
    return found


def _needs_every_version(query: Query, db_at_head: Sequence[Release], db_changes: Sequence[DbChange]) -> bool:
    """The answer would be "not found" as far as db.json goes: no release the query's tag, digest or
    source sha matches at head or in any change found, and no container of that name at head (a bare
    word that names one is answered with its releases)."""
    if query.kind == "container":
        return False
    if query.container is not None and any(r.container == query.container for r in db_at_head):
        return False
    releases = [
        *db_at_head,
        *(c.after for c in db_changes if c.after),
        *(c.before for c in db_changes if c.before),
    ]
    return not any(release_matches(query, r, by_container=query.kind == "container") for r in releases)


def _state_hit(query: Query, state: ImageState) -> bool:
    if query.kind in ("container", "source-sha"):
        return query.tag is not None and state.new_tag == query.tag
    if query.image is not None and normalise_image(state.new_name or state.name) != normalise_image(
        query.image
    ):
        return False
    if query.digest is not None and state.digest != query.digest:
        return False
    return not (query.tag is not None and state.new_tag != query.tag)


def _containers_from_overlays(
    query: Query,
    logged: list[_Logged],
    layouts: Sequence[_Layout],
    blobs: _Blobs,
    db_at_head: Sequence[Release],
    policy: Policy,
) -> set[str]:
    """Containers whose overlay entries ever held the query's tag or digest (read every overlay
    version, bytes-filtered before any YAML parse)."""
    needle = (query.digest or query.tag or "").encode()
    if not needle:
        return set()
    candidates: list[tuple[str, str, Any]] = []
    for item in logged:
        for entry in item.entries:
            if entry.status == "D" or entry.new_mode in _SKIP_MODES:
                continue
            for lay in layouts:
                where = lay.classify(entry.path)
                if where is not None and where[2] != "manifest":
                    rule = lay.values.get(entry.path, (None, None))[1]
                    candidates.append((entry.new_blob, entry.path, (where, rule)))
                    break
    blobs.load(oid for oid, _, _ in candidates)
    images: set[str] = set()
    apps: set[str] = set()
    for oid, path, (where, rule) in candidates:
        data = blobs.get(oid)
        if data is None or needle not in data:
            continue
        try:
            states = _states(data, path, where[2], rule)
        except ConfigError:
            continue
        for state in states.values():
            if _state_hit(query, state):
                images.add(normalise_image(state.new_name or state.name))
                apps.add(where[1])
    return {
        r.container
        for r in db_at_head
        if normalise_image(r.image) in images
        or (apps and policy.overlay_app(r.container) in apps and normalise_image(r.image) in images)
    }


def _needles(query: Query, releases: Sequence[Release], changes: Sequence[DbChange]) -> set[bytes]:
    words: set[str] = set()
    for value in (query.tag, query.digest, query.image):
        if value:
            words.add(value.rsplit("/", 1)[-1])
    for release in [
        *releases,
        *(c.after for c in changes if c.after),
        *(c.before for c in changes if c.before),
    ]:
        words.add(release.image.rsplit("/", 1)[-1])
    return {w.encode() for w in words if w}


def _breakers(commits: Sequence[_Logged], oids: Sequence[str | None]) -> list[int]:
    """Prefix counts of versions whose commit breaks the segment-search assumption: a revert, or a
    blob equal to an earlier (non-adjacent) version."""
    counts = [0]
    seen: dict[str | None, int] = {}
    for index, (commit, oid) in enumerate(zip(commits, oids, strict=True)):
        message = commit.message
        broken = bool(_REVERT.search(message)) or message.startswith('Revert "')
        if oid is not None and oid in seen and seen[oid] != index - 1:
            broken = True
        seen[oid] = index
        counts.append(counts[-1] + int(broken))
    return counts


def _hints(commits: Sequence[_Logged], containers: Iterable[str]) -> list[int]:
    """Versions whose commit message names one of ``containers`` (update-db's messages do): where
    the segment search cuts first. Only a hint: every segment between them is still verified."""
    names = sorted(containers)
    if not names:
        return []
    word = re.compile(r"(?<![A-Za-z0-9._-])(?:" + "|".join(map(re.escape, names)) + r")(?![A-Za-z0-9_-])")
    return [i for i, c in enumerate(commits) if word.search(c.message)]


def _first_parent_order(git: Git, head: str) -> dict[str, int]:
    """Position of every first-parent commit of ``head``, oldest 0 (one rev-list); the dict keeps
    that order."""
    out = git.read_bytes("rev-list", "--first-parent", "--reverse", "--end-of-options", head, "--")
    return {sha.decode("ascii"): i for i, sha in enumerate(out.split())}


def _change_points(
    db: _DbVersions,
    oids: Sequence[str | None],
    keys: Sequence[tuple[str, str]],
    breakers: Sequence[int],
    exhaustive: bool,
    hints: Sequence[int] = (),
) -> dict[tuple[str, str], list[tuple[int, Any, Any]]]:
    """For each key: (version index, entry before, entry after) wherever its entry differs from the
    previous version's (version -1 is "no file": None). Segment search over all keys at once, level
    by level, so each level's versions are read in one ``cat-file --batch``."""
    raw: dict[tuple[str, str], list[tuple[int, Any, Any]]] = {key: [] for key in keys}
    if not oids or not keys:
        return raw

    def value(index: int, key: tuple[str, str]) -> Any:
        return None if index < 0 else db.entry(oids[index], key)

    def load(indices: Iterable[int]) -> None:
        db.prefetch((oids[i] for i in indices if i >= 0), keys)

    linear: list[tuple[tuple[str, str], int, int]] = []
    if exhaustive:
        linear = [(key, -1, len(oids) - 1) for key in keys]
        segments: list[tuple[tuple[str, str], int, int, Any, Any]] = []
    else:
        last = len(oids) - 1
        cuts = sorted({-1, 0, last} | {i for h in hints for i in (h - 1, h) if 0 <= i <= last})
        load(cuts)
        segments = [
            (key, lo, hi, value(lo, key), value(hi, key))
            for key in keys
            for lo, hi in itertools.pairwise(cuts)
        ]
    while segments:
        following: list[tuple[tuple[str, str], int, int, Any, Any]] = []
        mids: list[tuple[tuple[str, str], int, int, Any, Any]] = []
        for key, lo, hi, left, right in segments:
            if hi - lo == 1:
                if not _same(left, right):
                    raw[key].append((hi, left, right))
                continue
            if breakers[hi + 1] - breakers[lo + 1] > 0 or (
                right is not None and _stamp(left) > _stamp(right)
            ):
                linear.append((key, lo, hi))  # the assumption does not hold here: read every version
            elif not _same(left, right):
                mids.append((key, lo, hi, left, right))
        load((lo + hi) // 2 for _, lo, hi, _, _ in mids)
        for key, lo, hi, left, right in mids:
            mid = (lo + hi) // 2
            middle = value(mid, key)
            following += [(key, lo, mid, left, middle), (key, mid, hi, middle, right)]
        segments = following
    load(i for _, lo, hi in linear for i in range(lo, hi + 1))
    for key, lo, hi in linear:
        previous = value(lo, key)
        for index in range(lo + 1, hi + 1):
            now = value(index, key)
            if not _same(previous, now):
                raw[key].append((index, previous, now))
            previous = now
    # A version that could not be read leaves the entry as it was ("unknown", not removed).
    points: dict[tuple[str, str], list[tuple[int, Any, Any]]] = {}
    for key, found in raw.items():
        current: Any = None
        kept: list[tuple[int, Any, Any]] = []
        for index, _before, after in sorted(found, key=lambda p: p[0]):
            if after is _UNKNOWN or _same(after, current):
                continue
            kept.append((index, current, after))
            current = after
        points[key] = kept
    return points


def _overlay_history(
    logged: list[_Logged],
    policy_by_commit: Mapping[str, Policy],
    layout_for: Any,
    head_policy: Policy,
    blobs: _Blobs,
    notes: list[str],
    apps: set[str],
    needles: set[bytes],
    tips: Mapping[str, Commit],
    recorded_by_commit: Mapping[str, Sequence[DbChange]],
) -> tuple[list[OverlayChange], list[tuple[str, str, str, ImageState]]]:
    """Changes of the image entries of every relevant overlay / values file, following renames."""
    # Walk the commits once: the layout in force, each file's lineage and its versions.
    policy = DEFAULT_POLICY
    lineage_of: dict[str, int] = {}
    versions: dict[int, list[tuple[int, str, str | None, tuple[str, str, str], Any]]] = {}
    renamed: dict[tuple[int, int], str] = {}
    next_id = 0
    manifests: dict[tuple[int, str], str] = {}  # (position, env dir) -> manifest blob
    for position, item in enumerate(logged):
        policy = policy_by_commit.get(item.sha, policy)
        lay = layout_for(policy)
        for entry in item.entries:
            where = lay.classify(entry.path)
            old = entry.old_path if entry.status == "R" else None
            if where is not None and where[2] == "manifest":
                if entry.status != "D" and entry.new_mode not in _SKIP_MODES:
                    manifests[(position, str(PurePosixPath(entry.path).parent))] = entry.new_blob
                continue
            if old is not None and old in lineage_of:
                lineage = lineage_of.pop(old)
                renamed[(lineage, position)] = old
            elif entry.path in lineage_of:
                lineage = lineage_of[entry.path]
            else:
                if where is None:
                    continue
                lineage = next_id
                next_id += 1
            if where is None:
                # Moved out of the layout: its entries are gone from the environment.
                versions.setdefault(lineage, []).append((position, entry.path, None, ("", "", "gone"), None))
                continue
            lineage_of[entry.path] = lineage
            blob: str | None = entry.new_blob
            if entry.status == "D" or _ZERO.match(entry.new_blob):
                blob = None
                lineage_of.pop(entry.path, None)
            elif entry.new_mode in _SKIP_MODES:
                notes.append(_mode_note(entry.path, entry.new_mode, item.commit.sha))
                blob = "skip"
            rule = lay.values.get(entry.path, (None, None))[1]
            versions.setdefault(lineage, []).append((position, entry.path, blob, where, rule))
    # Which lineages matter: the containers' apps, and any file whose text ever names the image.
    relevant: list[int] = []
    candidates = {lid: vs for lid, vs in versions.items()}
    blobs.load(
        blob
        for vs in candidates.values()
        for _, path, blob, where, _ in vs
        if blob not in (None, "skip")
        and (where[1] in apps or not where[1] or not apps or where[2] == "values")
    )
    for lid, vs in sorted(candidates.items()):
        # app "" (overlays.dir without a *): the one app of the repo, every container's
        if any((where[1] in apps or not where[1]) and where[2] == "kustomize" for _, _, _, where, _ in vs):
            relevant.append(lid)
            continue
        for _, _, blob, _, _ in vs:
            data = blobs.cache.get(blob) if blob not in (None, "skip") else None
            if data is not None and any(n in data for n in needles):
                relevant.append(lid)
                break
    # The release manifests those commits wrote beside the files (provenance), read in one go.
    wanted_positions = {position for lid in relevant for position, *_ in versions[lid]}
    blobs.load(blob for (position, _dir), blob in manifests.items() if position in wanted_positions)
    parsed: dict[tuple[str, str, str], dict[str, ImageState] | None] = {}
    changes: list[OverlayChange] = []
    at_head: list[tuple[str, str, str, ImageState]] = []
    for lid in relevant:
        previous: dict[str, ImageState] = {}
        last_path: str | None = None
        last_where: tuple[str, str, str] | None = None
        parsed_text: tuple[bytes, dict[str, ImageState]] | None = None  # the last version parsed
        for position, path, blob, where, rule in versions[lid]:
            item = logged[position]
            if blob is None:
                states: dict[str, ImageState] | None = {}
            elif blob == "skip":
                states = None
            else:
                key = (blob, path, where[2])
                if key not in parsed:
                    data = blobs.get(blob)
                    quick = (
                        _one_value_edit(parsed_text[0], data, parsed_text[1])
                        if parsed_text is not None and data is not None and where[2] == "kustomize"
                        else None
                    )
                    try:
                        if quick is not None:
                            parsed[key] = quick
                        else:
                            parsed[key] = _states(data, path, where[2], rule) if data is not None else None
                        if data is not None and parsed[key] is not None:
                            parsed_text = (data, parsed[key])  # type: ignore[assignment]
                    except ConfigError as exc:
                        notes.append(
                            f"{path} at {item.commit.sha[:12]} does not parse ({_short(exc)}); "
                            "that version was skipped"
                        )
                        parsed[key] = None
                states = parsed[key]
            if states is None:
                continue  # unknown version: keep the last known states
            env = where[0] if where[2] != "gone" else (last_where[0] if last_where else "")
            app = where[1] if where[2] != "gone" else (last_where[1] if last_where else "")
            commit_kind = _commit_kind(item.commit, tips.get(item.commit.sha))
            db_recorded = recorded_by_commit.get(item.commit.sha, ())
            for name in sorted(set(previous) | set(states)):
                before, after = previous.get(name), states.get(name)
                if before == after:
                    continue
                recorded, source_env, source_commit = _provenance(blobs, manifests, position, path, name)
                # No trailer (a squash merge that dropped the body, an amended message): the release
                # manifest the same commit wrote says how the image got here.
                kind = recorded if commit_kind == "edit" and recorded is not None else commit_kind
                if commit_kind == "edit" and _is_dispatch(db_recorded, env, app, after, head_policy):
                    kind = "dispatch"
                if kind not in ("promote", "rollback", "pin"):
                    source_env = source_commit = None
                changes.append(
                    OverlayChange(
                        commit=item.commit,
                        environment=env,
                        app=app,
                        file=path,
                        image=name,
                        before=before,
                        after=after,
                        kind=kind,
                        source_environment=source_env,
                        source_commit=source_commit,
                        renamed_from=renamed.get((lid, position)),
                    )
                )
            previous = states
            last_path, last_where = (path, where) if where[2] != "gone" else (None, None)
        if last_path is not None and last_where is not None:
            for name in sorted(previous):
                at_head.append((last_where[0], last_where[1], last_path, previous[name]))
    rank = {item.sha: i for i, item in enumerate(logged)}
    changes.sort(key=lambda c: (rank.get(c.commit.sha, -1), c.environment, c.app, c.file, c.image))
    at_head.sort(key=lambda e: (e[0], e[1], e[2], e[3].name))
    return changes, at_head


_VALUE_LINE = re.compile(
    rb"^([ \t]*(?:- +)?)(newTag|digest|newName): +([A-Za-z0-9_][A-Za-z0-9._:@/+-]*)[ \t]*$"
)
# Plain scalars YAML would read as something else than that string (numbers, booleans, null, dates).
_NOT_A_STRING = re.compile(
    rb"(?i)[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:e[-+]?[0-9]+)?|0x[0-9a-f_]+|0o?[0-7_]+|0b[01_]+"
    rb"|[-+]?\.(?:inf|nan)|true|false|yes|no|on|off|y|n|null|~|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*"
    rb"|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
)
_FIELD = {b"newTag": "new_tag", b"digest": "digest", b"newName": "new_name"}


def _one_value_edit(old: bytes, new: bytes, states: Mapping[str, ImageState]) -> dict[str, ImageState] | None:
    """The states of ``new`` without a YAML parse when it is ``old`` (already parsed, and checked by
    the bounded parser) with only plain ``newTag:``/``digest:``/``newName:`` values changed in
    place (promote-overlay edits newTag and digest together; update-db one of them): the structure
    is the same, so only those values moved. None whenever that is not certain (then the file is
    parsed)."""
    a, b = old.split(b"\n"), new.split(b"\n")
    if len(a) != len(b):
        return None
    changed = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if not changed or len(changed) > 4:
        return None
    out = dict(states)
    edited: set[tuple[str, str]] = set()
    for line in changed:
        before, after = _VALUE_LINE.match(a[line]), _VALUE_LINE.match(b[line])
        if before is None or after is None or before.group(1, 2) != after.group(1, 2):
            return None
        old_value, new_value = before.group(3), after.group(3)
        if (
            _NOT_A_STRING.fullmatch(old_value)
            or _NOT_A_STRING.fullmatch(new_value)
            or old.count(old_value) != 1
        ):
            return None
        field_name = _FIELD[before.group(2)]
        text = old_value.decode("ascii")
        # Owners are looked up in the old states: each old value is written once in the file.
        owners = [name for name, state in states.items() if getattr(state, field_name) == text]
        if len(owners) != 1 or (owners[0], field_name) in edited:
            return None
        edited.add((owners[0], field_name))
        out[owners[0]] = replace(out[owners[0]], **{field_name: new_value.decode("ascii")})
    return out


def _provenance(
    blobs: _Blobs, manifests: Mapping[tuple[int, str], str], position: int, path: str, image: str
) -> tuple[ArrivalKind | None, str | None, str | None]:
    """(kind, sourceEnvironment, sourceCommit) of ``image`` in ``path`` from the release manifests
    the same commit wrote: the manifest's ``images[]`` entry for that image and file (a values
    file's entry sits in the app's overlay directory's manifest), else the top-level fields of the
    manifest beside the file. None for what no manifest says (or says wrongly)."""
    beside = manifests.get((position, str(PurePosixPath(path).parent)))
    beside_doc = _manifest_doc(blobs, beside) if beside is not None else None

    def docs() -> Iterable[dict[str, Any] | None]:
        yield beside_doc
        others = sorted(b for (at, _dir), b in manifests.items() if at == position and b != beside)
        yield from (_manifest_doc(blobs, b) for b in others)

    fields: Mapping[str, Any] | None = None
    for doc in docs():
        entries = doc.get("images") if doc is not None else None
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and entry.get("image") == image and entry.get("file") == path:
                fields = {name: entry.get(name, doc.get(name)) for name in _PROVENANCE}  # type: ignore[union-attr]
                break
        if fields is not None:
            break
    if fields is None:
        fields = beside_doc
    if fields is None:
        return None, None, None
    kind, source_env, source_commit = (fields.get(name) for name in _PROVENANCE)
    return (
        kind if kind in ("promote", "rollback", "pin") else None,
        source_env if isinstance(source_env, str) and len(source_env) < 64 else None,
        source_commit
        if isinstance(source_commit, str) and re.fullmatch(r"[0-9a-f]{7,64}", source_commit)
        else None,
    )


_PROVENANCE = ("kind", "sourceEnvironment", "sourceCommit")


def _manifest_doc(blobs: _Blobs, blob: str) -> dict[str, Any] | None:
    data = blobs.get(blob)
    try:
        doc = orjson.loads(data) if data is not None else None
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


# -- the trees at given commits ----------------------------------------------------------------


def overlay_states_at(
    repo: Path | Git,
    commits: Sequence[str],
    *,
    policy_path: str = ".gitops-release.yml",
    overlays_dir: str | None = None,
) -> dict[str, list[tuple[str, str, str, ImageState]] | None]:
    """The (env, app, file, state) entries of each commit's tree, using the policy of that commit;
    None for a commit that is not in this clone (shallow, force-pushed away). A few git processes
    for all commits together: trees are read level by level through ``cat-file --batch`` (each
    tree once, however many commits share it)."""
    git = _git(repo)
    notes: list[str] = []
    blobs = _Blobs(git, notes)
    result: dict[str, list[tuple[str, str, str, ImageState]] | None] = {}
    valid = [c for c in dict.fromkeys(commits) if re.fullmatch(r"[0-9a-fA-F]{7,64}", c)]
    for c in commits:
        result[c] = None
    if not valid:
        return result
    checked = (
        git.read_bytes(
            "cat-file",
            "--batch-check=%(objectname) %(objecttype)",
            input=("\n".join(f"{c}^{{tree}}" for c in valid) + "\n").encode(),
        )
        .decode("ascii", "replace")
        .splitlines()
    )
    roots: dict[str, str] = {}
    for c, line in zip(valid, checked, strict=False):
        parts = line.split()
        if len(parts) == 2 and parts[1] == "tree":
            roots[c] = parts[0]
    trees = _Trees(git)
    for c, root in roots.items():
        policy_entry = trees.lookup(root, policy_path)
        policy = DEFAULT_POLICY
        if policy_entry is not None and policy_entry[0] in ("100644", "100755"):
            data = blobs.get(policy_entry[1])
            try:
                policy = load_policy(data.decode("utf-8") if data is not None else None, path=policy_path)
            except (ConfigError, UnicodeDecodeError):
                policy = DEFAULT_POLICY
        lay = _layout(policy, overlays_dir)
        files = trees.files(root, lay)
        blobs.load(oid for _, oid, _ in files)
        entries: list[tuple[str, str, str, ImageState]] = []
        for path, oid, where in files:
            data = blobs.get(oid)
            if data is None:
                continue
            try:
                states = _states(data, path, where[2], lay.values.get(path, (None, None))[1])
            except ConfigError:
                continue
            for name in sorted(states):
                entries.append((where[0], where[1], path, states[name]))
        entries.sort(key=lambda e: (e[0], e[1], e[2], e[3].name))
        result[c] = entries
    return result


class _Trees:
    """Tree objects read through ``cat-file --batch``, cached by id."""

    def __init__(self, git: Git) -> None:
        self.git = git
        self.cache: dict[str, list[tuple[str, str, str]]] = {}  # tree -> (mode, name, oid)

    def load(self, oids: Iterable[str]) -> None:
        wanted = sorted({o for o in oids if o not in self.cache})
        if not wanted:
            return
        out = self.git.read_bytes("cat-file", "--batch", input=("\n".join(wanted) + "\n").encode())
        for oid, kind, body in _batch_entries(out):
            self.cache[oid] = _parse_tree(body, len(oid) // 2) if body is not None and kind == "tree" else []
        for oid in wanted:
            self.cache.setdefault(oid, [])

    def children(self, oid: str) -> list[tuple[str, str, str]]:
        self.load((oid,))
        return self.cache[oid]

    def lookup(self, root: str, path: str) -> tuple[str, str] | None:
        """(mode, oid) of ``path`` under tree ``root`` (no link followed), or None."""
        current = root
        parts = [p for p in path.split("/") if p]
        for index, part in enumerate(parts):
            found = next((c for c in self.children(current) if c[1] == part), None)
            if found is None:
                return None
            if index == len(parts) - 1:
                return (found[0], found[2])
            if found[0] != "40000":
                return None
            current = found[2]
        return None

    def files(self, root: str, lay: _Layout) -> list[tuple[str, str, tuple[str, str, str]]]:
        """(path, blob, (env, app, kind)) of every overlay and values file of the layout."""
        out: list[tuple[str, str, tuple[str, str, str]]] = []
        level: list[tuple[str, str]] = [("", root)]
        for glob in lay.pattern:
            self.load(oid for _, oid in level)
            following: list[tuple[str, str]] = []
            for prefix, oid in level:
                for mode, name, child in self.children(oid):
                    if mode != "40000":
                        continue
                    if any(ch in glob for ch in "*?["):
                        if name.startswith(".") or not fnmatch.fnmatchcase(name, glob):
                            continue
                    elif name != glob:
                        continue
                    following.append((f"{prefix}{name}/", child))
            level = following
        self.load(oid for _, oid in level)
        env_dirs: list[tuple[str, str]] = []
        for prefix, oid in level:
            for mode, name, child in self.children(oid):
                if mode == "40000" and name in lay.env_of_dir:
                    env_dirs.append((f"{prefix}{name}/", child))
        self.load(oid for _, oid in env_dirs)
        for prefix, oid in env_dirs:
            children = {name: (mode, child) for mode, name, child in self.children(oid)}
            for name in lay.overlay_files:
                if name in children:
                    mode, child = children[name]
                    if mode in ("100644", "100755"):
                        where = lay.classify(prefix + name)
                        if where is not None:
                            out.append((prefix + name, child, where))
                    break
        for path in sorted(lay.values):
            found = self.lookup(root, path)
            if found is not None and found[0] in ("100644", "100755"):
                where = lay.classify(path)
                if where is not None:
                    out.append((path, found[1], where))
        return out


def _parse_tree(body: bytes, oid_bytes: int) -> list[tuple[str, str, str]]:
    entries: list[tuple[str, str, str]] = []
    position = 0
    while position < len(body):
        space = body.index(b" ", position)
        nul = body.index(b"\0", space)
        mode = body[position:space].decode("ascii", "replace")
        name = body[space + 1 : nul].decode("utf-8", "replace")
        oid = body[nul + 1 : nul + 1 + oid_bytes].hex()
        entries.append((mode, name, oid))
        position = nul + 1 + oid_bytes
    return entries
