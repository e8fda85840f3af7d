"""``gitops-release update-db``: commit a release to the config repo's db/db.json, race-safe.

Flow: ``Inputs.from_reader`` parses and validates every input (the payload against the release
rules) before anything is touched. ``run`` then calls ``adapters.git.commit_and_push`` whose
``edit`` callback runs on a FRESH checkout of the remote branch on every attempt: it reads the
policy and db.json there, checks each release against the channel's current entry (refusals
happen before anything is written), applies them, writes db.json atomically (temp file in the
same directory, fsync, ``os.replace``) plus, with write-through, the channel's overlay
kustomization.yaml, and returns the commit message, or None when the db already holds the
release(s) (no commit: idempotent). A push rejected because another writer moved the branch is
re-applied on the new head with jittered backoff, so correctness never relies on a workflow
concurrency group.
"""

from __future__ import annotations

import contextlib
import string
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gitops_release.adapters.background import Background
from gitops_release.adapters.files import atomic_write, path_in_checkout, read_text_if_exists
from gitops_release.adapters.git import Git, commit_and_push, has_credentials
from gitops_release.adapters.kustomize import render_resources, require_kubectl
from gitops_release.commands.base import Context
from gitops_release.core.db import DBFile, format_time
from gitops_release.core.overlay import set_image
from gitops_release.core.policy import (
    Policy,
    check_image_owner,
    check_release,
    exact_images,
    known_containers,
    load_policy,
)
from gitops_release.core.release import Release, check_not_future, loads_json, parse_payload
from gitops_release.core.render_check import ImageRef, RenderedResource, check_render_diff
from gitops_release.errors import ConfigError, InputError, ReleaseError
from gitops_release.runtime import Console, InputReader, InputSpec, parse_relative_path, redact

# The retry loop is bounded by time: 200 writers racing for one branch all land well within it
# (docs/benchmarks.md). max-attempts is an optional extra cap by count.
DEFAULT_MAX_WAIT = 600.0
# The longest wait between two attempts (full jitter, 0.2 s doubling up to this). 5 s let 200
# writers on one 2-core machine retry so often that most of the CPU went to attempts that lost
# (97 of 200 landed within 10 minutes on a loaded machine); 30 s only matters after 7 lost races
# in a row: a few writers wait as before, a crowd spreads out (docs/benchmarks.md).
MAX_BACKOFF = 30.0
# How far a release's source.builtAt may be ahead of update-db's clock (runner clocks drift a
# little; a stamp far in the future would hold its channel against every later release).
FUTURE_TOLERANCE = timedelta(minutes=10)
DEFAULT_COMMIT_MESSAGE = (
    "chore(release): {container} {channel} {old} → {new}\n\n"
    "Source: {source_repository}@{source_sha}\nRun: {run_url}"
)
TEMPLATE_FIELDS = ("container", "channel", "old", "new", "source_repository", "source_sha", "run_url")

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("db-path", "path of the release-channel database inside the checkout", default="db/db.json"),
    InputSpec(
        "payload",
        'the release as JSON (one release or {"releases": [...]}); default: the repository_dispatch '
        "event's client_payload",
        kind="json",
    ),
    InputSpec(
        "policy-path",
        "policy file inside the checkout; absent = permissive defaults (any source and image)",
        default=".gitops-release.yml",
    ),
    InputSpec("repository-path", "the config repo checkout", default="."),
    InputSpec("remote", "remote to fetch from and push to: name, URL or path (default origin)"),
    InputSpec(
        "branch",
        "branch to commit to (default: the remote's default branch: origin/HEAD, else asked of the "
        "remote, else the checkout's branch, else GITHUB_REF)",
    ),
    InputSpec("push", "push the commit", kind="bool", default=True),
    InputSpec(
        "max-wait",
        "how long to keep re-applying and pushing while other writers move the branch, e.g. 10m "
        "(counted from the first attempt; a started attempt is finished)",
        kind="duration",
        default=DEFAULT_MAX_WAIT,
    ),
    InputSpec(
        "max-attempts",
        "also stop after this many fetch/re-apply/push attempts (default: no count limit; max-wait "
        "bounds them)",
        kind="int",
        minimum=1,
        maximum=1000,
    ),
    InputSpec(
        "commit-message",
        "commit message template: {container} {channel} {old} {new} {source_repository} "
        "{source_sha} {run_url}",
        default=DEFAULT_COMMIT_MESSAGE,
    ),
    InputSpec("token", "token for an https remote (sent as a header, never in the URL)", secret=True),
    InputSpec(
        "allow-downgrade", "accept a release older than the channel's current one", kind="bool", default=False
    ),
    InputSpec(
        "write-through",
        "also set the image in the channel's overlay kustomization.yaml, in the same commit",
        kind="bool",
        default=False,
    ),
    InputSpec(
        "render-check",
        "with write-through, render each edited overlay with kubectl kustomize before the commit is "
        "pushed and refuse when no container gets the release's image or anything else in the render "
        "changes (another container's image, another field); false for overlays that "
        "cannot render where the job runs",
        kind="bool",
        default=True,
    ),
    InputSpec("dry-run", "validate and report what would change; write nothing", kind="bool", default=False),
)


def _check_template(raw: str) -> str:
    """Only bare placeholders: a format spec or conversion (``{container:d}``, ``{new:>99999999}``,
    ``{old!r}``) could crash after the clone or exhaust memory, so it is refused here."""
    try:
        parsed = list(string.Formatter().parse(raw))
    except ValueError as exc:
        raise InputError(
            "commit-message",
            f"is not a valid template ({exc})",
            fix="write literal braces as {{ and }}; placeholders: "
            + " ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS),
        ) from None
    for _, fname, spec, conversion in parsed:
        if fname is None:
            continue
        if spec or conversion:
            shown = fname + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise InputError(
                "commit-message",
                f"placeholder {{{shown}}} has a format spec or conversion",
                fix="write placeholders bare, e.g. {container}; literal braces as {{ and }}",
            )
        if fname not in TEMPLATE_FIELDS:
            raise InputError(
                "commit-message",
                f"unknown placeholder {{{fname}}}",
                fix="use only: " + " ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS),
            )
    if not raw.strip():
        raise InputError("commit-message", "is empty", fix="leave it unset for the default message")
    return raw


def payload_from_event(env: Mapping[str, str]) -> Any:
    """The ``client_payload`` of the repository_dispatch event in ``GITHUB_EVENT_PATH``."""
    event_name = env.get("GITHUB_EVENT_NAME", "")
    event_path = env.get("GITHUB_EVENT_PATH", "")
    fix = "pass the release with the payload input, or run on: repository_dispatch"
    if event_name != "repository_dispatch" or not event_path:
        shown = event_name or "none"
        raise InputError(
            "payload", f"was not given and the event ({shown}) is not a repository_dispatch", fix=fix
        )
    try:
        text = Path(event_path).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8
        raise InputError(
            "payload", f"cannot read the event file GITHUB_EVENT_PATH ({exc})", fix=fix
        ) from None
    try:
        # The shared loader: duplicate keys and too-deep nesting are refused, not guessed at.
        event = loads_json(text)
    except ValueError as exc:
        raise InputError("payload", f"the event file GITHUB_EVENT_PATH {exc}", fix=fix) from None
    if not isinstance(event, dict) or not isinstance(event.get("client_payload"), dict):
        raise InputError("payload", "the repository_dispatch event has no client_payload object", fix=fix)
    return event["client_payload"]


def sender_from_event(env: Mapping[str, str]) -> str | None:
    """The login GitHub names as the repository_dispatch event's ``sender`` (who dispatched),
    or None when this run is no such event or the event names none. GitHub sets it from the
    token that sent the dispatch; the payload input never sets it (policy ``senders``)."""
    event_path = env.get("GITHUB_EVENT_PATH", "")
    if env.get("GITHUB_EVENT_NAME", "") != "repository_dispatch" or not event_path:
        return None
    try:
        event = loads_json(Path(event_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    sender = event.get("sender") if isinstance(event, dict) else None
    login = sender.get("login") if isinstance(sender, dict) else None
    return login if isinstance(login, str) and login else None


@dataclass(frozen=True)
class Inputs:
    releases: tuple[Any, ...]
    # The payload field each release came from, for messages: "payload" (one release) or
    # "payload.releases[i]". Empty: derived from releases (set by from_reader).
    release_fields: tuple[str, ...] = ()
    db_path: str = "db/db.json"
    policy_path: str = ".gitops-release.yml"
    repository_path: str = "."
    remote: str | None = None
    branch: str | None = None
    push: bool = True
    max_attempts: int | None = None
    max_wait: float = DEFAULT_MAX_WAIT
    commit_message: str = DEFAULT_COMMIT_MESSAGE
    token: str | None = field(default=None, repr=False)
    allow_downgrade: bool = False
    write_through: bool = False
    render_check: bool = True
    dry_run: bool = False
    # Not an input: the repository_dispatch event's sender.login (None without such an event).
    sender: str | None = None

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:

        specs = {spec.name: spec for spec in INPUTS}
        values = {name: reader.get(spec) for name, spec in specs.items() if name != "payload"}
        payload = reader.get(specs["payload"])
        if payload is None:
            payload = payload_from_event(reader.env)
        releases = parse_payload(payload, field="payload")
        branch = values["branch"]
        if branch is not None and (branch.startswith("-") or any(ord(ch) <= 32 for ch in branch)):
            raise InputError("branch", f"'{branch}' is not a branch name", fix="give a branch name like main")
        remote = values["remote"]
        if remote is not None and remote.startswith("-"):
            raise InputError("remote", f"'{remote}' is not a remote", fix="give a remote name, URL or path")
        if remote is not None and has_credentials(remote):
            # Refused before any git call, and never shown: the URL is the secret's carrier.
            raise InputError(
                "remote",
                "is a URL with credentials in it (user:password@ or a token before '@')",
                fix="remove them from the URL and give the token in the token input "
                "(sent as a header, never in the URL)",
            )
        if isinstance(payload, dict) and "releases" in payload:
            fields = tuple(f"payload.releases[{i}]" for i in range(len(releases)))
        else:
            fields = ("payload",) * len(releases)
        return cls(
            releases=tuple(releases),
            release_fields=fields,
            db_path=parse_relative_path("db-path", values["db-path"], example="db/db.json"),
            policy_path=parse_relative_path(
                "policy-path", values["policy-path"], example=".gitops-release.yml"
            ),
            repository_path=values["repository-path"],
            remote=remote,
            branch=branch,
            push=values["push"],
            max_attempts=values["max-attempts"],
            max_wait=values["max-wait"],
            commit_message=_check_template(values["commit-message"]),
            token=values["token"],
            allow_downgrade=values["allow-downgrade"],
            write_through=values["write-through"],
            render_check=values["render-check"],
            dry_run=values["dry-run"],
            sender=sender_from_event(reader.env),
        )


# -- outputs -----------------------------------------------------------------------------------


def _key(container: str, channel: str) -> str:
    return f"{container}/{channel}"


@dataclass
class Outputs:
    changed: bool
    commit_sha: str
    previous: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    releases: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    attempts: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "changed": self.changed,
            "commit-sha": self.commit_sha,
            "previous": self.previous,
            "releases": self.releases,
        }

    def summary(self) -> str:
        title = "update-db (dry run)" if self.dry_run else "update-db"
        lines = [f"### {title}", ""]
        if self.dry_run:
            lines += [
                "Dry run: checked against the checkout as it is; nothing was written, committed or pushed.",
                "",
            ]
        if not self.rows:
            head = "" if self.dry_run else f" Head `{self.commit_sha}`."
            lines.append(f"No change: db.json already holds the release(s).{head}")
            return "\n".join(lines) + "\n"
        lines += ["| container | channel | old → new |", "|---|---|---|"]
        for container, channel, old, new in self.rows:
            cells = [c.replace("|", "\\|") for c in (container, channel, f"{old} → {new}")]
            lines.append(f"| {cells[0]} | {cells[1]} | `{cells[2]}` |")
        if self.dry_run:
            lines += ["", "A real run would commit these changes (on the fetched branch head)."]
        else:
            lines += ["", f"Commit `{self.commit_sha or '-'}` after {self.attempts} attempt(s)."]
        return "\n".join(lines) + "\n"


# -- files -------------------------------------------------------------------------------------


# -- the edit ----------------------------------------------------------------------------------


def _label(release: Release | None, other: Release | None = None) -> str:
    """The tag, and the short digest when the other side has the same tag (a moved tag)."""
    if release is None:
        return "none"
    if other is not None and other.tag == release.tag and release.digest and release.digest != other.digest:
        return f"{release.tag}@{release.digest[:15]}"
    return release.tag


def render_message(template: str, changes: Sequence[Any]) -> str:
    """The commit message: the template for one change; a summarized subject for several."""

    def values(change: Any) -> dict[str, str]:
        rel = change.current
        src = rel.source
        return {
            "container": rel.container,
            "channel": rel.channel,
            "old": _label(change.previous, rel),
            "new": _label(rel, change.previous),
            "source_repository": src.repository or "",
            "source_sha": src.sha or "",
            "run_url": getattr(src, "run_url", None) or "",
        }

    if len(changes) == 1:
        return _tidy(template.format_map(values(changes[0])))
    firsts = [template.format_map(values(c)).splitlines()[0] if template.strip() else "" for c in changes]
    channels = sorted({c.current.channel for c in changes})
    subject = f"chore(release): {len(changes)} releases ({', '.join(channels)})"
    body = [line.strip() for line in firsts]
    sources = {(c.current.source.repository, c.current.source.sha) for c in changes}
    runs = {getattr(c.current.source, "run_url", None) or "" for c in changes}
    tail: list[str] = []
    if len(sources) == 1:
        repo, sha = next(iter(sources))
        tail.append(f"Source: {repo}@{sha}")
    if len(runs) == 1 and next(iter(runs)):
        tail.append(f"Run: {next(iter(runs))}")
    text = subject + "\n\n" + "\n".join(body)
    if tail:
        text += "\n\n" + "\n".join(tail)
    return _tidy(text)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    # Drop template lines left empty by a missing value ("Run: " with no run URL).
    lines = [line for line in lines if line not in ("Run:", "Source: @", "Source:")]
    return "\n".join(lines).strip() + "\n"


def _overlay_file(root: Path, policy: Policy, release: Release) -> Path:
    if not policy.overlays_dir:
        raise ConfigError(
            "write-through is on but the policy has no overlays.dir",
            fix="add overlays: {dir: ..., environments: {...}} to the policy, or set write-through: false",
        )
    env = policy.overlay_for(release.channel)
    directory = policy.overlays_dir.replace("*", policy.overlay_app(release.container))
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        candidate = path_in_checkout(root, f"{directory}/{env}/{name}", "overlay")
        if candidate.is_file():
            return candidate
    shown = f"{directory}/{env}/kustomization.yaml"
    raise ConfigError(
        f"write-through: overlay file {shown} for channel '{release.channel}' does not exist",
        fix=f"create {shown}, fix overlays.dir/environments in the policy, or set write-through: false",
    )


@dataclass
class _Plan:
    text: str | None  # the db's new text; None only when the db is absent and nothing changed
    changes: tuple[Any, ...]
    overlays: dict[Path, str]
    db: DBFile
    # Per overlay file: the image references its render must contain after the edit.
    overlay_images: dict[Path, list[ImageRef]] = field(default_factory=dict)


def _release_field(inputs: Inputs, index: int) -> str:
    """``payload`` for a one-release payload, ``payload.releases[i]`` for the releases form."""
    if index < len(inputs.release_fields):
        return inputs.release_fields[index]
    return f"payload.releases[{index}]" if len(inputs.releases) > 1 else "payload"


def plan(root: Path, inputs: Inputs, *, now: datetime, defer_checks: bool = False) -> _Plan:
    """Read policy + db from ``root``, check every release, apply; nothing is written here.

    ``defer_checks``: the stored releases' value checks are left to ``result.db.check()``
    (DBFile), for the caller to run before anything is pushed."""

    policy_file = path_in_checkout(root, inputs.policy_path, "policy-path")
    policy = load_policy(read_text_if_exists(policy_file, "policy-path"), path=inputs.policy_path)
    text = read_text_if_exists(path_in_checkout(root, inputs.db_path, "db-path"), "db-path")
    db = DBFile(text, path=inputs.db_path, defer_checks=defer_checks)
    try:
        return _plan_on(root, inputs, policy, db, now=now)
    except ReleaseError:
        db.check()  # a broken db.json is the error to report, as without deferred checks
        raise


def _plan_on(root: Path, inputs: Inputs, policy: Policy, db: DBFile, *, now: datetime) -> _Plan:
    latest = format_time(now + FUTURE_TOLERANCE)
    for index, release in enumerate(inputs.releases):
        check_not_future(release, latest, field=_release_field(inputs, index))
        current = db.get(release.container, release.channel)
        check_release(
            policy,
            release,
            current,
            allow_downgrade=inputs.allow_downgrade,
            field=_release_field(inputs, index),
            sender=inputs.sender,
        )
    # Who runs which image: db.json's records and this payload's releases. A release carrying
    # another container's image is refused (write-through would retag that container).
    recorded = db.container_images()
    for index, release in enumerate(inputs.releases):
        seen: dict[str, set[str]] = {c: set(images) for c, images in recorded.items()}
        for other in inputs.releases:
            if other is not release:
                seen.setdefault(other.container, set()).add(other.image)
        check_image_owner(policy, release, seen, field=_release_field(inputs, index))
    known = known_containers(policy, [*recorded, *(r.container for r in inputs.releases)])
    new_text, changes = db.apply(inputs.releases, now=now)
    overlays: dict[Path, str] = {}
    overlay_images: dict[Path, list[ImageRef]] = {}
    if inputs.write_through:
        for change in changes:
            rel = change.current
            path = _overlay_file(root, policy, rel)
            before = overlays.get(path)
            if before is None:
                before = read_text_if_exists(path, "overlay") or ""
            overlays[path] = set_image(
                before,
                image=rel.image,
                tag=rel.tag,
                digest=rel.digest,
                container=rel.container,
                # Besides entries named after the container: the images the policy lists for it
                # and the one db.json recorded for it on this channel.
                owned=exact_images(policy, rel, inputs.sender, known=known)
                | ({change.previous.image} if change.previous is not None else set()),
                others=known - {rel.container},
                path=str(path.relative_to(root)),
            )
            overlay_images.setdefault(path, []).append(
                ImageRef(rel.image, rel.tag, rel.digest, container=rel.container)
            )
    return _Plan(
        text=new_text, changes=tuple(changes), overlays=overlays, db=db, overlay_images=overlay_images
    )


def render_before(
    root: Path, result: _Plan, *, kubectl: Path, env: Mapping[str, str]
) -> dict[Path, list[RenderedResource]]:
    """Render every overlay the plan will edit, as it is under ``root`` before the edit."""
    return {
        path: render_resources(
            path.parent, binary=kubectl, shown=path.parent.relative_to(root).as_posix(), env=env
        )
        for path in result.overlay_images
    }


def check_renders(
    root: Path,
    result: _Plan,
    before: Mapping[Path, Sequence[RenderedResource]],
    *,
    kubectl: Path,
    env: Mapping[str, str],
) -> None:
    """Render every overlay the plan edited (as written under ``root``) and refuse one whose
    containers do not get the release's image (db.json would claim a deploy the overlay lacks),
    or where anything else than the planned images changed (another container's image, another
    field): core/render_check.check_render_diff against the render ``before`` the edit."""
    for path, wanted in result.overlay_images.items():
        shown = path.relative_to(root).as_posix()
        after = render_resources(
            path.parent, binary=kubectl, shown=path.parent.relative_to(root).as_posix(), env=env
        )
        check_render_diff(shown, before[path], after, wanted)


def _git_out(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def default_branch(
    checkout: Path, remote: str, *, token: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """The branch to commit to when the branch input is not set, first found of:

    the checkout's ``refs/remotes/origin/HEAD`` (``git clone`` sets it; actions/checkout does
    not), the remote's HEAD (``git ls-remote --symref``: file:// and GitHub answer it), the
    checkout's current branch, ``GITHUB_REF`` when it is ``refs/heads/*``. None of them: an
    InputError naming ``branch`` (never a guessed ``main``).
    """
    env = env or {}
    is_clone = (checkout / ".git").exists()
    # Outside a clone, a relative remote path means what commit_and_push takes it to: from the cwd.
    git = Git(checkout if is_clone else Path.cwd(), token=token, auth_url=remote)
    if is_clone:
        found = git.remote_tracking_head("origin")
        if found:
            return found
    # In a clone ask through origin (its URL may be relative to the checkout); else the URL.
    found, why = git.remote_head_branch("origin" if is_clone and git.remote_url("origin") else remote)
    if found:
        return found
    if is_clone:
        found = git.current_branch()
        if found:
            return found
    ref = env.get("GITHUB_REF", "")
    if ref.startswith("refs/heads/") and len(ref) > len("refs/heads/"):
        return ref[len("refs/heads/") :]
    raise InputError(
        "branch",
        f"is not set and the default branch of '{redact(remote)}' could not be found (remote HEAD: "
        f"{why}; no origin/HEAD or current branch in the checkout; GITHUB_REF is not refs/heads/*)",
        fix="set the branch input, e.g. branch: main; or check the remote URL and the token",
    )


def _release_json(release: Any) -> dict[str, Any]:
    for name in ("to_dict", "as_dict", "to_json"):
        method = getattr(release, name, None)
        if callable(method):
            return dict(method())
    raise TypeError(f"cannot serialise {type(release).__name__}")


def resolve_remote(checkout: Path, remote: str | None) -> str:
    """The URL or path to push to: the given one, a configured remote's URL, or origin's URL."""
    name = remote or "origin"
    if (checkout / ".git").exists() and "/" not in name and ":" not in name and "\\" not in name:
        url = _git_out(checkout, "remote", "get-url", "--", name)
        if url and has_credentials(url):
            raise ConfigError(
                f"the checkout's remote '{name}' has a URL with credentials in it",
                fix=f"remove them (git remote set-url {name} <URL without user:token@>) and give the "
                "token in the token input",
            )
        if url:
            return url
    if remote:
        return remote
    top = _git_out(checkout, "rev-parse", "--show-toplevel") if checkout.is_dir() else None
    if top and Path(top).resolve() != checkout.resolve():
        raise ConfigError(
            f"repository-path '{checkout}' is a subdirectory of the clone at '{top}', not its top",
            fix=f"set repository-path to the top of the clone, '{top}'",
        )
    raise ConfigError(
        f"repository-path '{checkout}' is not a clone with an origin remote",
        fix="check out the config repo first (actions/checkout), or give the remote input (URL or path)",
    )


def run(inputs: Inputs, ctx: Context) -> Outputs:

    checkout = (ctx.workdir / inputs.repository_path).absolute()
    remote = resolve_remote(checkout, inputs.remote)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    console = ctx.console

    if inputs.dry_run:
        if not (checkout / ".git").exists():
            raise ConfigError(
                f"dry-run needs an existing checkout, and '{checkout}' is not one",
                fix="check out the config repo first or point repository-path at it",
            )
        console.info(
            f"update-db: dry run: checking {len(inputs.releases)} release(s) against the checkout as it "
            "is (no fetch); nothing is written, committed or pushed"
        )
        result = plan(checkout, inputs, now=now)
        # No commit is made, so commit-sha is empty (the checkout's HEAD is not the release's commit).
        return _outputs(result.changes, changed=bool(result.changes), sha="", attempts=0, dry_run=True)

    # Before anything is cloned: a render check that could not run is refused now, not after the edit.
    kubectl = require_kubectl(ctx.env) if inputs.write_through and inputs.render_check else None
    branch = inputs.branch or default_branch(checkout, remote, token=inputs.token, env=ctx.env)
    console.debug(f"update-db: branch {branch}")
    last: dict[str, _Plan] = {}
    touched: list[str] = [inputs.db_path]

    checks: list[Background] = []

    def edit(root: Path) -> str | None:
        result = plan(root, inputs, now=now, defer_checks=True)
        last["plan"] = result
        # Exactly the files this attempt may change: db.json and the overlays of its plan.
        touched[:] = [inputs.db_path, *(path.relative_to(root).as_posix() for path in result.overlays)]
        if not result.changes or result.text is None:
            result.db.check()  # nothing to write, but a broken db is still an error
            return None
        # The overlays as they are on this fresh checkout, before the edit: the render after it
        # may differ from this one only in the planned images.
        before = (
            render_before(root, result, kubectl=kubectl, env=ctx.env)
            if kubectl is not None and result.overlay_images
            else {}
        )
        atomic_write(root / inputs.db_path, result.text)
        for path, text in result.overlays.items():
            atomic_write(path, text)
        # The stored releases' checks (and the overlays' renders) run while git adds and commits;
        # verify waits for them before the push, so a refusal pushes nothing.
        checks[:] = [Background(result.db.check, name="update-db: check db.json")]
        if kubectl is not None and result.overlay_images:
            binary = kubectl
            checks.append(
                Background(
                    lambda: check_renders(root, result, before, kubectl=binary, env=ctx.env),
                    name="update-db: render overlays",
                )
            )
        return render_message(inputs.commit_message, result.changes)

    def verify() -> None:
        # Every check is waited for; the first one's error (db.json before the render) is raised.
        error: BaseException | None = None
        while checks:
            try:
                checks.pop(0).result()
            except BaseException as exc:  # noqa: BLE001 - re-raised below once all have finished
                error = error or exc
        if error is not None:
            raise error

    try:
        with console.group(f"update-db: {len(inputs.releases)} release(s) -> {branch}"):
            pushed = commit_and_push(
                checkout,
                remote,
                branch,
                edit,
                token=inputs.token,
                push=inputs.push,
                max_attempts=inputs.max_attempts,
                max_wait=inputs.max_wait,
                max_backoff=MAX_BACKOFF,
                log=_git_log(console),
                # Only db.json and the overlays the plan edits: nothing else in the tree is committed.
                paths=lambda: touched,
                verify=verify,
                checkout_input="repository-path",
            )
    except BaseException:
        # git failed before verify: wait for the checks, but git's error is the one to report
        while checks:
            with contextlib.suppress(ReleaseError):
                checks.pop().result()
        raise
    verify()  # a check that no commit waited for (nothing was committed) still reports a broken db
    changes = last["plan"].changes if pushed.changed and "plan" in last else ()
    sha = pushed.commit_sha or pushed.base_sha or ""
    return _outputs(changes, changed=bool(pushed.changed), sha=sha, attempts=pushed.attempts, dry_run=False)


def _git_log(console: Console) -> Callable[[str], None]:
    """Git command lines only with RUNNER_DEBUG; retries and conflicts always."""

    def log(line: str) -> None:
        (console.debug if line.startswith("$ ") else console.info)(line)

    return log


def _outputs(changes: Sequence[Any], *, changed: bool, sha: str, attempts: int, dry_run: bool) -> Outputs:
    previous: dict[str, dict[str, Any] | None] = {}
    written: list[dict[str, Any]] = []
    rows: list[tuple[str, str, str, str]] = []
    for change in changes:
        rel = change.current
        previous[_key(rel.container, rel.channel)] = (
            None if change.previous is None else _release_json(change.previous)
        )
        written.append(_release_json(rel))
        rows.append((rel.container, rel.channel, _label(change.previous, rel), _label(rel, change.previous)))
    return Outputs(
        changed=changed,
        commit_sha=sha,
        previous=previous,
        releases=written,
        rows=rows,
        attempts=attempts,
        dry_run=dry_run,
    )
