"""dispatch-update: send one ``repository_dispatch`` carrying a release to the config repository.

The zero-install fast path: the composite action runs this module with the runner's bare
``python3`` and ``PYTHONPATH=src``, so it and everything it imports is standard library only
(runtime, errors, cli, commands.base, core.release, core.channels, core.retry, adapters.http).
tests/unit/commands/test_dispatch_update.py proves it by inspecting ``sys.modules``.

Exactly one HTTP request per dispatch: ``POST /repos/{owner}/{repo}/dispatches`` (no GET
first; a missing repository or a token without ``contents: write`` shows up as the POST's
404/403). Every input is validated locally, with the same validator update-db applies to the
payload it receives, before that request is sent, so a bad input sends nothing.

Several containers from one build go in one event as ``{"releases": [...]}``: ``containers``
lists names (each gets the same image, tag and digest) or ``name=image`` pairs (each its own
image, the same tag and digest), see docs/dispatch-update.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gitops_release.commands.base import Context
from gitops_release.core import channels as channels_mod
from gitops_release.core import release as release_mod
from gitops_release.errors import InputError, ReleaseError
from gitops_release.runtime import InputReader, InputSpec, output_text

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: dispatch-update's start-up
if TYPE_CHECKING:
    from typing import Any

DEFAULT_EVENT_TYPE = "release-channel-update"
DEFAULT_API_URL = "https://api.github.com"

INPUTS: tuple[InputSpec, ...] = (
    InputSpec("repository", "config repository that receives the dispatch, owner/name", required=True),
    InputSpec(
        "token",
        "token with contents: write on the config repository (fine-grained PAT or App token)",
        required=True,
        secret=True,
    ),
    InputSpec("event-type", "repository_dispatch event type (1-100 characters)", default=DEFAULT_EVENT_TYPE),
    InputSpec("container", "container (release-channel db key) this build updates; or use containers"),
    InputSpec(
        "containers",
        "several containers from one build, one event: names (same image) or name=image pairs",
        kind="list",
    ),
    InputSpec("channel", "release channel to update (dev, stage, prod, ...); overrides channel-map"),
    InputSpec(
        "channel-map",
        "ref glob -> channel, first match wins, used when channel is not given: pattern=channel "
        "per line or comma, or a JSON object (default: main=dev, staging=stage, production and v* tags=prod)",
    ),
    InputSpec(
        "on-unmapped-ref",
        "what to do when source-ref matches no channel-map entry: error, or skip (exit 0, nothing sent)",
        default="error",
        choices=("error", "skip"),
    ),
    InputSpec("image", "image repository without tag, e.g. ghcr.io/org/my-app"),
    InputSpec("tag", "image tag that was pushed, e.g. sha-abc12345 or v1.2.3", required=True),
    InputSpec("digest", "image digest, sha256:<64 hex> (recommended; prod may require it)"),
    InputSpec("source-repository", "repository that built the image (default: GITHUB_REPOSITORY)"),
    InputSpec("source-sha", "commit that was built, 40 hex (default: GITHUB_SHA)"),
    InputSpec("source-ref", "ref that was built, e.g. refs/heads/main (default: GITHUB_REF)"),
    InputSpec(
        "source-run-url",
        "URL of the build run (default: $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID)",
    ),
    InputSpec(
        "built-at",
        "the time that orders this release on its channel, RFC 3339 (any offset, sent as UTC), e.g. "
        "2026-01-28T10:30:00Z; update-db refuses a release older than the channel's current one "
        "(default: the source commit's time, from the push event or the git checkout, else now)",
    ),
    InputSpec("api-url", "GitHub API base URL (default: GITHUB_API_URL, else https://api.github.com)"),
    InputSpec(
        "max-attempts",
        "attempts for 5xx and rate limits (default: the shared retry policy)",
        kind="int",
        minimum=1,
        maximum=10,
    ),
    InputSpec(
        "timeout",
        "bound on each attempt and on the total wait between retries, e.g. 60s (default: 30s / 120s)",
        kind="duration",
    ),
    InputSpec(
        "dry-run",
        "validate everything and print the exact request (token shown as ***); send nothing",
        kind="bool",
        default=False,
    ),
)

# The shared validator's own rules, so an input is refused here exactly when update-db would.
_REPOSITORY = re.compile(release_mod.REPOSITORY_PATTERN)
_CONTAINER = re.compile(release_mod.CONTAINER_PATTERN)
_DIGEST = re.compile(release_mod.DIGEST_PATTERN)

#: release field (as update-db's validator names it) -> the input that carries it
_FIELD_TO_INPUT = {
    "container": "container",
    "channel": "channel",
    "image": "image",
    "tag": "tag",
    "digest": "digest",
    "repository": "source-repository",
    "sha": "source-sha",
    "ref": "source-ref",
    "runUrl": "source-run-url",
    "builtAt": "built-at",
}


def _container_input_name(multi: bool) -> str:
    return "containers" if multi else "container"


def _parse_containers(
    container: str | None, containers: list[str] | None, image: str | None
) -> list[tuple[str, str]]:
    """``[(container, image), ...]`` from ``container`` or ``containers`` (names or name=image)."""
    if container and containers:
        raise InputError(
            "containers",
            "was given together with 'container'",
            fix="use container for one image, or containers for several, not both",
        )
    if not container and not containers:
        raise InputError(
            "container",
            "is required but was not given",
            fix="set container: <name> (or containers: for several from one build)",
        )
    multi = bool(containers)
    name = _container_input_name(multi)
    entries = containers if containers else [container or ""]
    if len(entries) > release_mod.MAX_RELEASES:
        raise InputError(
            "containers",
            f"lists {len(entries)} containers; one dispatch carries at most {release_mod.MAX_RELEASES}",
            fix=f"split them over several dispatch-update steps of at most {release_mod.MAX_RELEASES}",
        )
    pairs: list[tuple[str, str]] = []
    for entry in entries:
        cname, sep, cimage = entry.partition("=")
        cname, cimage = cname.strip(), cimage.strip()
        if sep and not multi:
            raise InputError(
                "container",
                f"'{entry}' is a name=image pair",
                fix="give the name in container and the image in image (pairs belong in containers)",
            )
        if not _CONTAINER.search(cname):
            raise InputError(
                name,
                f"'{cname}' is not a container name",
                fix="use lowercase letters, digits, '.', '_' or '-' (max 63), e.g. my-app",
            )
        if sep and not cimage:
            raise InputError(name, f"'{entry}' has an empty image after '='", fix="write name=registry/image")
        resolved = cimage or (image or "")
        if not resolved:
            raise InputError(
                "image",
                f"is required but was not given (container '{cname}' has no image)",
                fix="set image: <registry>/<repository>, or give containers as name=image pairs",
            )
        if any(cname == seen for seen, _ in pairs):
            raise InputError(name, f"lists '{cname}' twice", fix="name each container once")
        pairs.append((cname, resolved))
    return pairs


_TOKEN = re.compile(r"[!-~]+")
# scheme://host[:port] (no user:password@), then printable ASCII without spaces
_API_URL = re.compile(r"(https?)://([A-Za-z0-9._~%:\[\]-]+)(?:[/?#][!-~]*)?")
_LOOPBACK_NAMES = ("localhost", "localhost.")


def check_token(token: str) -> None:
    """A token is printable ASCII without spaces; anything else would fail inside http.client as
    'Invalid header value' (the value is never shown: it is a secret)."""
    if _TOKEN.fullmatch(token):
        return
    bad = next(i for i, ch in enumerate(token) if not _TOKEN.fullmatch(ch))
    char = token[bad]
    if char == " ":
        kind = "a space"
    elif char in "\r\n":
        kind = "a line break"
    elif char.isascii():
        kind = "a control character"
    else:
        kind = "a non-ASCII character"
    raise InputError(
        "token",
        f"contains {kind} at position {bad + 1} of {len(token)}",
        fix="set the secret to the token alone, without spaces, quotes or line breaks around or inside it",
    )


def check_api_url(api_url: str) -> None:
    """``https://host[:port][/path]``; plain ``http://`` only for a loopback host (the token is
    sent in the Authorization header, which must not cross a network unencrypted)."""
    match = _API_URL.fullmatch(api_url)
    if not match:
        raise InputError(
            "api-url",
            f"{release_mod.show(api_url)} is not an http(s) URL",
            fix="write https://host[:port][/path] without spaces or user:password@, "
            "e.g. https://ghes.example.com/api/v3",
        )
    if match.group(1) == "https":
        return
    from urllib.parse import urlsplit

    try:
        host = (urlsplit(api_url).hostname or "").lower()
    except ValueError:
        host = ""
    if host not in _LOOPBACK_NAMES and not _is_loopback_address(host):
        raise InputError(
            "api-url",
            f"'{api_url}' is plain http to {host or 'an unknown host'}: the token would travel unencrypted",
            fix="use https:// (plain http is accepted only for localhost, 127.0.0.0/8 and ::1)",
        )


def _is_loopback_address(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _channel_for(
    channel: str | None, channel_map: str | None, source_ref: str, on_unmapped: str
) -> str | None:
    """The explicit channel, or the channel-map's entry for ``source_ref``; None means skip."""
    if channel:
        if channel_map:
            raise InputError(
                "channel-map",
                "was given together with 'channel'",
                fix="set channel for a fixed channel, or channel-map to derive it from the ref, not both",
            )
        return channel
    mapping = _channel_map(channel_map) if channel_map else channels_mod.DEFAULT_CHANNEL_MAP
    found = channels_mod.channel_for_ref(source_ref, mapping)
    if found:
        return str(found)
    if on_unmapped == "skip":
        return None
    raise InputError(
        "source-ref",
        f"'{source_ref}' matches no entry of {'channel-map' if channel_map else 'the default channel map'}",
        fix="add the ref to channel-map, set channel explicitly, or set on-unmapped-ref: skip",
    )


def _channel_map(text: str) -> channels_mod.ChannelMap:
    """``pattern=channel`` lines (core.channels), or a JSON object ``{"pattern": "channel"}``."""
    if text.lstrip().startswith("{"):
        try:
            obj = release_mod.loads_json(text)
        except ValueError as exc:  # bad syntax, a pattern given twice, absurd nesting
            raise InputError(
                "channel-map",
                f"looks like JSON but {exc}",
                fix='write {"refs/heads/main": "dev"} or pattern=channel lines',
            ) from None
        if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
            raise InputError(
                "channel-map",
                "as JSON must be an object of pattern -> channel strings",
                fix='write {"refs/heads/main": "dev", "refs/tags/v*": "prod"}',
            )
        text = "\n".join(f"{key}={value}" for key, value in obj.items())
    return channels_mod.parse_channel_map(text, field="channel-map")


def _input_for_error(exc: ReleaseError, multi: bool) -> str:
    """Which input a shared-validator error is about (its ``field`` names a release field)."""
    text = str(getattr(exc, "field", "") or exc.message)
    for key in sorted(_FIELD_TO_INPUT, key=len, reverse=True):
        if re.search(rf"(?<![A-Za-z]){re.escape(key)}(?![A-Za-z])", text):
            found = _FIELD_TO_INPUT[key]
            return _container_input_name(multi) if found == "container" else found
    return "payload"


def _default(value: str | None, env: Mapping[str, str], name: str, input_name: str) -> str:
    if value:
        return value
    fallback = env.get(name, "").strip()
    if not fallback:
        raise InputError(
            input_name,
            f"is required but was not given and {name} is not set",
            fix=f"set {input_name}: explicitly (outside GitHub Actions there is no {name})",
        )
    return fallback


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def built_at(value: str | None, now: float | None = None) -> str:
    """``source.builtAt``: the built-at input as RFC 3339 UTC, or ``now`` (default: this moment)
    to the millisecond. An offset is converted to UTC; the fraction is kept (offsets are whole
    minutes), so the stamp orders exactly as given."""
    if not value:
        import time  # a builtin module: no start-up cost

        moment = time.time() if now is None else now
        millis = int(moment * 1000) % 1000
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(moment))) + f".{millis:03d}Z"
    match = _RFC3339.fullmatch(value.strip())
    if match is None:
        raise InputError(
            "built-at",
            f"{release_mod.show(value)} is not an RFC 3339 date-time",
            fix="write it like 2026-01-28T10:30:00Z or 2026-01-28T11:30:00+01:00, "
            "or leave it empty for the built commit's time",
        )
    from datetime import datetime, timedelta, timezone  # only when the input is given

    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or "", match.group(8)
    offset = timedelta(0)
    if zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
        utc = local.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise InputError(
            "built-at",
            f"{release_mod.show(value)} is not a valid date-time ({exc})",
            fix="give a real date and time, e.g. 2026-01-28T10:30:00Z",
        ) from None
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


BUILT_AT_FROM_INPUT = "the built-at input"
BUILT_AT_FROM_EVENT = "head_commit.timestamp of the push event"
BUILT_AT_FROM_GIT = "the commit's committer time in the git checkout"
BUILT_AT_FROM_NOW = "now"
#: A runner's event file is at most a few MiB (a push lists up to 2048 commits); a bigger one is
#: not read (the next source of the time is used).
MAX_EVENT_BYTES = 32 * 1024 * 1024
#: ``git show -s`` of one commit takes milliseconds; a hung git must not hold up the dispatch.
GIT_TIMEOUT = 5.0
_SHA = re.compile(r"[0-9a-fA-F]{40}")


def default_built_at(value: str | None, sha: str, env: Mapping[str, str]) -> tuple[str, str]:
    """``(source.builtAt, where it came from)``: the time of the commit that was built, so a
    re-run of an old build carries the same (old) time and a slow build of an older commit loses
    to a newer commit's, whatever order they finish in (update-db's check_build_order).

    In order: the built-at input; the committer time of ``sha`` in the git checkout
    (GITHUB_WORKSPACE, else the working directory); ``head_commit.timestamp`` of the event
    (GITHUB_EVENT_PATH) when ``head_commit.id`` is ``sha`` (push events); else now, where a
    re-run is not detected. The checkout comes first because the committer time is the one that
    follows a branch's history (rebases, amends and GitHub's rebase-merge set a new one), while
    the event's single ``timestamp`` is not documented as either (Gitea, which copies the payload,
    sends the author time, which those keep). A commit time ahead of this machine's clock (a skewed
    committer clock) is sent as now, which update-db would otherwise refuse as from the future.
    """
    if value:
        return built_at(value), BUILT_AT_FROM_INPUT
    import time

    now = time.time()
    stamp, where = _git_commit_time(env, sha), BUILT_AT_FROM_GIT
    if stamp is None:
        stamp, where = _event_commit_time(env, sha), BUILT_AT_FROM_EVENT
    current = built_at(None, now=now)
    if stamp is None:
        return current, BUILT_AT_FROM_NOW
    if release_mod.time_key(stamp) > release_mod.time_key(current):
        return current, f"now ({where} {stamp} is ahead of this machine's clock)"
    return stamp, where


def _commit_time(text: object) -> str | None:
    """A commit timestamp (``2026-01-28T11:30:00+01:00``) as RFC 3339 UTC, or None."""
    if not isinstance(text, str):
        return None
    try:
        return built_at(text.strip()) if text.strip() else None
    except InputError:
        return None


def _event_commit_time(env: Mapping[str, str], sha: str) -> str | None:
    path = env.get("GITHUB_EVENT_PATH", "").strip()
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_EVENT_BYTES + 1)
        if len(data) > MAX_EVENT_BYTES:
            return None
        event = json.loads(data)
    except (OSError, ValueError, RecursionError):
        return None
    head = event.get("head_commit") if isinstance(event, dict) else None
    if not isinstance(head, dict) or not isinstance(head.get("id"), str):
        return None
    if head["id"].lower() != sha.lower():  # another commit's time (or a hand-made event file)
        return None
    return _commit_time(head.get("timestamp"))


def _git_commit_time(env: Mapping[str, str], sha: str) -> str | None:
    """``git show -s --format=%cI <sha>`` in the checkout; None without git, a checkout or the
    commit (a shallow clone has the commit it checked out)."""
    if not _SHA.fullmatch(sha):  # never hand git an option; the validator names the input later
        return None
    import os
    import subprocess

    git_env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        workdir = env.get("GITHUB_WORKSPACE", "").strip() or os.getcwd()
        proc = subprocess.run(
            # ^{commit}: the commit an annotated tag's sha points to (sha is 40 hex: never an option)
            [
                "git",
                "-c",
                "core.fsmonitor=false",
                "show",
                "-s",
                "--no-show-signature",
                "--format=%cI",
                sha + "^{commit}",
            ],
            cwd=workdir,
            env=git_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    if proc.returncode != 0:
        return None
    return _commit_time(proc.stdout)


def _run_url(value: str | None, env: Mapping[str, str]) -> str:
    if value:
        return value
    server = env.get("GITHUB_SERVER_URL", "").strip().rstrip("/") or "https://github.com"
    repo, run_id = env.get("GITHUB_REPOSITORY", "").strip(), env.get("GITHUB_RUN_ID", "").strip()
    if not repo or not run_id:
        raise InputError(
            "source-run-url",
            "is required but was not given and GITHUB_REPOSITORY/GITHUB_RUN_ID are not set",
            fix="set source-run-url: to the URL of the build (outside GitHub Actions there is no run)",
        )
    return f"{server}/{repo}/actions/runs/{run_id}"


@dataclass(frozen=True)
class Inputs:
    """Validated inputs; ``client_payload`` has passed the shared validator and the dispatch limits."""

    repository: str
    token: str = field(repr=False)
    event_type: str
    client_payload: dict[str, Any] | None
    channels: tuple[str, ...]
    api_url: str
    max_attempts: int | None = None
    timeout: float | None = None
    skipped_reason: str = ""
    #: where ``source.builtAt`` came from (BUILT_AT_FROM_*), for the log
    built_at_from: str = ""
    dry_run: bool = False

    @property
    def skipped(self) -> bool:
        return self.client_payload is None

    @classmethod
    def from_reader(cls, reader: InputReader) -> Inputs:
        values = reader.read_all(INPUTS)
        env = reader.env
        repository: str = values["repository"]
        if not _REPOSITORY.search(repository):
            raise InputError(
                "repository", f"'{repository}' is not owner/name", fix="write it like my-org/my-config-repo"
            )
        token: str = values["token"]
        check_token(token)
        event_type: str = values["event_type"]
        api_url = values["api_url"] or env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
        check_api_url(api_url)
        common = {
            "repository": repository,
            "token": token,
            "event_type": event_type,
            "api_url": api_url.rstrip("/"),
            "max_attempts": values["max_attempts"],
            "timeout": values["timeout"],
            "dry_run": values["dry_run"],
        }

        source_ref = _default(values["source_ref"], env, "GITHUB_REF", "source-ref")
        channel = _channel_for(
            values["channel"], values["channel_map"], source_ref, values["on_unmapped_ref"]
        )
        pairs = _parse_containers(values["container"], values["containers"], values["image"])
        multi = bool(values["containers"])
        digest: str | None = values["digest"]
        if digest is not None and not _DIGEST.search(digest):
            raise InputError(
                "digest",
                f"'{digest}' is not sha256:<64 lowercase hex>",
                fix="pass the digest the image push printed, e.g. steps.build.outputs.digest",
            )
        if channel is None:
            return cls(
                client_payload=None,
                channels=(),
                skipped_reason=f"source-ref '{source_ref}' matches no channel-map entry "
                "(on-unmapped-ref: skip)",
                **common,
            )
        source = {
            "repository": _default(
                values["source_repository"], env, "GITHUB_REPOSITORY", "source-repository"
            ),
            "sha": _default(values["source_sha"], env, "GITHUB_SHA", "source-sha"),
            "ref": source_ref,
            "runUrl": _run_url(values["source_run_url"], env),
            "builtAt": "",
        }
        source["builtAt"], built_at_from = default_built_at(values["built_at"], source["sha"], env)
        releases: list[dict[str, Any]] = []
        for cname, cimage in pairs:
            rel: dict[str, Any] = {
                "container": cname,
                "channel": channel,
                "image": cimage,
                "tag": values["tag"],
            }
            if digest:
                rel["digest"] = digest
            rel["source"] = dict(source)
            releases.append(rel)
        payload: dict[str, Any] = releases[0] if len(releases) == 1 else {"releases": releases}
        payload = validate_payload(payload, event_type, multi=multi)
        return cls(client_payload=payload, channels=(channel,), built_at_from=built_at_from, **common)


def validate_payload(payload: dict[str, Any], event_type: str, *, multi: bool = False) -> dict[str, Any]:
    """Run the shared validator (update-db's) and the dispatch limits; errors name the input.

    Returns the canonical client_payload (``payload_json`` of the parsed releases).
    """
    try:
        parsed = release_mod.parse_payload(payload, field="payload")
        canonical: dict[str, Any] = release_mod.payload_json(parsed)
    except InputError as exc:
        name = _input_for_error(exc, multi)
        detail = exc.message.split(": ", 1)[1] if exc.message.startswith("input '") else exc.message
        raise InputError(name, detail, fix=exc.fix) from None
    try:
        release_mod.check_dispatch_limits(event_type, canonical)
    except InputError as exc:
        detail = exc.message.split(": ", 1)[-1]
        if exc.field.startswith("event") or exc.field == "event-type":
            raise InputError("event-type", detail, fix=exc.fix) from None
        # This command builds the payload itself: only many containers make it too large.
        raise InputError(
            "containers" if multi else "container",
            f"the dispatch payload {detail}",
            fix="split the containers over several dispatch-update steps, or shorten source-run-url "
            "and source-ref",
        ) from None
    return canonical


@dataclass
class Outputs:
    payload: dict[str, Any] | None
    channel: str
    skipped: bool
    dispatched_to: str
    event_type: str = DEFAULT_EVENT_TYPE
    #: the config repository (also in a dry run, where dispatched_to stays empty)
    repository: str = ""
    attempts: int = 0
    reason: str = ""
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "payload": "" if self.payload is None else self.payload,
            "channel": self.channel,
            "skipped": self.skipped,
            "dispatched-to": self.dispatched_to,
        }

    def summary(self) -> str:
        if self.skipped:
            title = "dispatch-update: skipped"
        elif self.dry_run:
            title = "dispatch-update: dry run (nothing sent)"
        else:
            title = "dispatch-update: dispatched"
        lines = [f"### {title}", "", "| | |", "|---|---|"]
        rows: list[tuple[str, str]] = []
        if self.skipped:
            rows.append(("reason", self.reason))
        else:
            rows.append(("repository", self.dispatched_to or self.repository))
            rows.append(("event type", self.event_type))
            rows.append(("channel", self.channel))
            for rel in _releases(self.payload):
                image = f"{rel.get('image')}:{rel.get('tag')}"
                if rel.get("digest"):
                    image += f"@{rel['digest']}"
                rows.append((f"container `{rel.get('container')}`", image))
            source = (_releases(self.payload) or [{}])[0].get("source") or {}
            if source:
                rows.append(("source", f"{source.get('repository')}@{str(source.get('sha', ''))[:12]}"))
                rows.append(("source ref", str(source.get("ref", ""))))
                if source.get("builtAt"):
                    rows.append(("built at", str(source["builtAt"])))
        for name, value in rows:
            text = value.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {name} | `{text}` |" if text else f"| {name} | |")
        return "\n".join(lines) + "\n"


def _releases(payload: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not payload:
        return []
    if "releases" in payload:
        return list(payload["releases"])
    return [payload]


#: Channels a pre-release warning is about (update-db's default policy keeps pre-releases out).
PROD_CHANNELS = ("prod", "production")


def tag_warnings(payload: Mapping[str, Any] | None) -> list[str]:
    """What update-db's default policy will refuse in ``payload``, as warning lines: a mutable tag
    (core.release's rules, the ones update-db enforces) and a semver pre-release going to prod.

    Only warnings: the config repository's policy decides (tags.immutable,
    tags.prereleaseChannels), and dispatch-update cannot read it.
    """
    warnings: list[str] = []
    seen: set[tuple[str, str]] = set()
    for rel in _releases(payload):
        tag, channel = str(rel.get("tag", "")), str(rel.get("channel", ""))
        if (tag, channel) in seen:
            continue
        seen.add((tag, channel))
        ref = (rel.get("source") or {}).get("ref")
        reason = release_mod.mutable_tag_reason(tag, ref if isinstance(ref, str) else None)
        if reason is not None:
            warnings.append(
                f"tag {reason}: update-db refuses it while the config repository's policy has "
                "tags.immutable: true (the default); tag builds immutably, e.g. sha-<8 hex> or 1.4.2"
            )
        if channel in PROD_CHANNELS and release_mod.looks_like_prerelease(tag):
            warnings.append(
                f"tag {release_mod.show(tag)} is a pre-release going to channel {channel!r}: update-db "
                "refuses pre-releases outside tags.prereleaseChannels (default dev, stage); map them "
                "elsewhere, e.g. channel-map: refs/tags/v*-*=stage before refs/tags/v*=prod"
            )
    return warnings


def _policy(inputs: Inputs) -> Any:
    from gitops_release.core.retry import RetryPolicy

    kwargs: dict[str, Any] = {}
    if inputs.max_attempts is not None:
        kwargs["max_attempts"] = inputs.max_attempts
    if inputs.timeout is not None:
        kwargs["max_total_wait"] = inputs.timeout
    return RetryPolicy(**kwargs)


def run(inputs: Inputs, ctx: Context) -> Outputs:
    console = ctx.console
    if inputs.skipped:
        console.info(f"dispatch-update: skipped: {inputs.skipped_reason}")
        return Outputs(
            payload=None,
            channel="",
            skipped=True,
            dispatched_to="",
            event_type=inputs.event_type,
            reason=inputs.skipped_reason,
        )
    from gitops_release.adapters.http import HttpClient

    payload = inputs.client_payload or {}
    for warning in tag_warnings(payload):
        console.annotation("warning", warning, title="update-db will likely refuse this release")
    client = HttpClient(
        inputs.api_url,
        token=inputs.token,
        policy=_policy(inputs),
        timeout=inputs.timeout if inputs.timeout is not None else 30.0,
        log=console.info,
    )
    body = {"event_type": inputs.event_type, "client_payload": payload}
    dry = "dry run of " if inputs.dry_run else ""
    console.info(
        f"dispatch-update: {dry}POST {inputs.api_url}/repos/{inputs.repository}/dispatches "
        f"event_type={inputs.event_type} channel={','.join(inputs.channels)}"
    )
    stamp = (_releases(payload) or [{}])[0].get("source", {}).get("builtAt")
    if stamp:
        console.info(f"dispatch-update: builtAt {stamp} from {inputs.built_at_from or 'the payload'}")
        if inputs.built_at_from == BUILT_AT_FROM_NOW:
            console.annotation(
                "notice",
                f"source.builtAt is the dispatch time ({stamp}): no push event for this commit and no "
                "git checkout with it, so a re-run of this job after a newer commit's release would "
                "roll the channel back; run actions/checkout before this step or set built-at",
                title="builtAt is the dispatch time",
            )
    console.debug(f"client_payload: {json.dumps(payload, separators=(',', ':'))}")
    if inputs.dry_run:
        url, headers, data = client.prepare("POST", f"/repos/{inputs.repository}/dispatches", json_body=body)
        console.info(dry_run_text("POST", url, headers, data))
        return Outputs(
            payload=payload,
            channel=",".join(dict.fromkeys(inputs.channels)),
            skipped=False,
            dispatched_to="",
            event_type=inputs.event_type,
            repository=inputs.repository,
            dry_run=True,
        )
    # A repeated dispatch is harmless: update-db applies a release idempotently (same
    # container/channel/image/tag/digest -> no change), so a POST retried after a 5xx whose
    # first attempt did land only costs a no-op run. Hence idempotent=True.
    client.request(
        "POST",
        f"/repos/{inputs.repository}/dispatches",
        json_body=body,
        idempotent=True,
        operation="create a repository dispatch",
        repository=inputs.repository,
        permission="contents: write",
        expected=(204,),
    )
    console.info(f"dispatch-update: dispatched {inputs.event_type} to {inputs.repository}")
    return Outputs(
        payload=payload,
        channel=",".join(dict.fromkeys(inputs.channels)),
        skipped=False,
        dispatched_to=inputs.repository,
        event_type=inputs.event_type,
        repository=inputs.repository,
    )


def dry_run_text(method: str, url: str, headers: Mapping[str, str], data: bytes | None) -> str:
    """The request as it would go on the wire (HTTP/1.1 style), the token replaced by ``***``."""
    lines = ["dispatch-update: dry run: validated; this request is NOT sent:", f"{method} {url}"]
    for name in sorted(headers):
        value = headers[name]
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if " " in value else ""
            value = f"{scheme} ***".strip()
        lines.append(f"{name}: {value}")
    lines.append("")
    lines.append("" if data is None else data.decode("utf-8"))
    return "\n".join(lines)


__all__ = ["INPUTS", "Inputs", "Outputs", "output_text", "run", "validate_payload"]
