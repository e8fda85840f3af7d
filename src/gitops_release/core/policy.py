"""The config repository's policy (``.gitops-release.yml``) and the checks it makes on a release.

Pure: takes the file's text (or None when the file is absent), never reads it. The JSON Schema
shipped in the package (``schemas/policy.schema.json``) is read once as package data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # jsonschema is imported when a policy is validated (it costs ~0.15 s to import)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

from gitops_release.core.release import Release, check_build_order, rollback_fix, show
from gitops_release.core.tags import check_tag, compare_versions, is_prerelease
from gitops_release.core.yaml_limits import ANCHORS_FIX, AliasLimitError, check_expansion, count_alias
from gitops_release.errors import ConfigError, PolicyError

DEFAULT_CHANNELS = ("dev", "stage", "prod")
DEFAULT_PRERELEASE_CHANNELS = ("dev", "stage")
#: A policy is a few kilobytes; anything near this size is not one.
MAX_POLICY_CHARS = 1_000_000


@lru_cache(maxsize=256)
def image_pattern(pattern: str) -> re.Pattern[str]:
    """An ``images`` glob as a regex. ``*`` and ``?`` stay inside one path component, so
    ``*.example.com/app`` cannot match ``evil.io/x.example.com/app``; ``**`` spans components
    (``ghcr.io/org/**``; ``**`` alone: any image)."""
    out = []
    for part in re.split(r"(\*\*|\*|\?)", pattern):
        out.append({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part)))
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class SourceRule:
    """A source repository (glob such as ``org/*``) and what it may update."""

    repository: str
    containers: tuple[str, ...]  # globs; ("*",) = every container
    channels: tuple[str, ...] | None  # None = every channel
    # Image globs (see image_pattern). None (absent) = NO image: a rule must say which images
    # its releases may carry, or its releases are refused (fail closed; see docs/security.md).
    images: tuple[str, ...] | None = None
    # GitHub logins allowed to send the repository_dispatch (the event's sender.login, which
    # GitHub sets). None = any sender.
    senders: tuple[str, ...] | None = None

    def matches_sender(self, sender: str | None) -> bool:
        if self.senders is None:
            return True
        # GitHub logins are case-insensitive; no sender (no event) never matches a list.
        return sender is not None and sender.lower() in (s.lower() for s in self.senders)

    def matches_image(self, image: str) -> bool:
        return any(image_pattern(pattern).match(image) for pattern in self.images or ())

    def matches_repository(self, repository: str) -> bool:
        # GitHub owner and repository names are case-insensitive.
        return fnmatchcase(repository.lower(), self.repository.lower())

    def matches_container(self, container: str) -> bool:
        return any(fnmatchcase(container, pattern) for pattern in self.containers)

    def matches_channel(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels

    def matches(self, release: Release, sender: str | None) -> bool:
        """Whether this rule lets ``sender`` update ``release`` (its image aside)."""
        return (
            self.matches_repository(release.source.repository)
            and self.matches_sender(sender)
            and self.matches_container(release.container)
            and self.matches_channel(release.channel)
        )


@dataclass(frozen=True)
class ValuesRule:
    """A Helm-style values file per environment holding ``image`` (policy overlays.values)."""

    image: str  # the name plans, the images input and the release manifest use
    files: Mapping[str, str]  # environment -> values file (relative to the repository root)
    tag: str  # key paths, dot-separated (image.tag)
    digest: str | None = None
    repository: str | None = None


@dataclass(frozen=True)
class EnvRules:
    """Rules for promotions INTO one environment (policy promotion.environments.<env>)."""

    require_status: str | None = None  # "deployment" or a commit status context; None: none
    soak_time: float | None = None  # seconds the source's status must have been success
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    checklist: tuple[str, ...] | None = None  # None: the default checklist (promotion.checklist)


NO_ENV_RULES = EnvRules()


@dataclass(frozen=True)
class Policy:
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    sources: tuple[SourceRule, ...] | None = None  # None = any source (the documented default)
    immutable_tags: bool = True
    require_digest: tuple[str, ...] = ()
    prerelease_channels: tuple[str, ...] = DEFAULT_PRERELEASE_CHANNELS
    allow_downgrade: bool = False
    overlays_dir: str | None = None
    overlay_environments: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # container -> the name that replaces every * of overlays_dir (several containers, one overlay)
    overlay_apps: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # tags.mutable: extra globs refused as mutable tags (with immutable_tags)
    mutable_tags: tuple[str, ...] = ()
    values: tuple[ValuesRule, ...] = ()  # overlays.values
    branches: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # env -> branch
    promotion: Mapping[str, EnvRules] = field(default_factory=lambda: MappingProxyType({}))  # target env

    @property
    def env_order(self) -> tuple[str, ...]:
        """The environments in promotion order (the channels)."""
        return self.channels

    def env_rules(self, env: str) -> EnvRules:
        """The rules for promotions into ``env`` (none set: EnvRules())."""
        return self.promotion.get(env, NO_ENV_RULES)

    def mutable_tag_glob(self, tag: str) -> str | None:
        """The first tags.mutable glob ``tag`` matches, or None."""
        return next((glob for glob in self.mutable_tags if fnmatchcase(tag, glob)), None)

    def overlay_for(self, channel: str) -> str:
        """The overlay directory name of ``channel`` (the channel itself unless mapped)."""
        return self.overlay_environments.get(channel, channel)

    def overlay_app(self, container: str) -> str:
        """What replaces every ``*`` of overlays.dir for ``container`` (itself unless mapped)."""
        return self.overlay_apps.get(container, container)


DEFAULT_POLICY = Policy()


@lru_cache(maxsize=1)
def policy_schema() -> dict[str, Any]:
    """The policy JSON Schema shipped in the package."""
    text = (resources.files("gitops_release") / "schemas" / "policy.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(policy_schema())


def _pointer(parts: Any) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _schema_error(path: str, error: ValidationError) -> ConfigError:
    parts = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extra = [k for k in error.instance if k not in allowed]
        if extra:
            return ConfigError(
                f"{path}: {_pointer([*parts, extra[0]])} is not a known key",
                fix=f"use only {', '.join(allowed)} here (see docs/release-db.md)",
            )
    if error.validator == "pattern" and parts[-2:-1] == ["images"] and isinstance(error.instance, str):
        tagged = _image_with_reference(error.instance, error.schema["pattern"])
        if tagged is not None:
            repository, kind, reference = tagged
            return ConfigError(
                f"{path}: {_pointer(parts)}: {show(error.instance)} has a {kind} ({show(reference)}): "
                "images lists repositories without tag or digest (a release's image has none), so "
                "it would match no release",
                fix=f"write {repository}; a registry's port is fine (localhost:5000/app)",
            )
    if error.validator == "pattern" and "description" in error.schema:
        return ConfigError(
            f"{path}: {_pointer(parts)}: {show(error.instance)} is not allowed",
            fix=f"use {error.schema['description'][0].lower()}{error.schema['description'][1:]}",
        )
    message = error.message
    rendered = repr(error.instance)
    if message.startswith(rendered):
        # jsonschema writes "<instance> <reason>": cut the instance (a long list), never the reason.
        message = show(error.instance) + message[len(rendered) :]
        if error.validator == "uniqueItems":
            message += _first_repeated(error.instance)
    elif len(message) > 160:  # no instance in front: the schema's own words, cut as a last resort
        message = message[:157] + "..."
    return ConfigError(
        f"{path}: {_pointer(parts)}: {' '.join(message.split())}",
        fix="correct it as described in docs/release-db.md",
    )


def _image_with_reference(entry: str, pattern: str) -> tuple[str, str, str] | None:
    """``(repository, kind, reference)`` when ``entry`` is a valid images entry followed by a tag
    (``:v1`` in the last path component), a digest (``@sha256:…``) or both."""
    before_digest = entry.split("@", 1)[0]
    last = before_digest.rsplit("/", 1)[-1]
    cut = len(before_digest) - len(last) + last.index(":") if ":" in last else len(before_digest)
    repository, reference = entry[:cut], entry[cut:]
    if not reference or not re.match(pattern, repository):
        return None
    has_tag, has_digest = reference.startswith(":"), "@" in reference
    kind = "tag and digest" if has_tag and has_digest else "tag" if has_tag else "digest"
    return repository, kind, reference


def _first_repeated(items: Any) -> str:
    """``: 'x' is listed twice`` for the first element of ``items`` given again ('' if none)."""
    seen: set[str] = set()
    for item in items if isinstance(items, list) else ():
        key = json.dumps(item, sort_keys=True, default=repr)
        if key in seen:
            return f" ({show(item)} is listed more than once)"
        seen.add(key)
    return ""


def load_policy(text: str | None, *, path: str = ".gitops-release.yml") -> Policy:
    """Parse and validate the policy file's text; None (file absent) gives DEFAULT_POLICY.

    The one loader of update-db and db validate, so both word every problem alike."""
    if text is None:
        return DEFAULT_POLICY
    data = parse_yaml(text, path=path)
    if data is None:  # empty file or only comments
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: / must be a mapping of keys, not {show(data)}", fix="see docs/release-db.md"
        )
    from jsonschema.exceptions import best_match

    try:
        error = best_match(_validator().iter_errors(data))
    except RecursionError:
        raise _too_deep(path) from None
    if error is not None:
        raise _schema_error(path, error)
    return _build(data, path)


_MERGE_TAG = "tag:yaml.org,2002:merge"


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose aliases are bounded (yaml_limits) on the composed nodes, before
    any object is built from them: an alias bomb fails in composing, not after filling memory."""

    _aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases = count_alias(self._aliases, self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def compose_document(self) -> Any:
        node = super().compose_document()
        check_expansion(node)
        return node


class StrictSafeLoader(BoundedSafeLoader):
    """``yaml.SafeLoader`` for the policy: refuses a key given twice in one mapping, merge keys
    (``<<``, any key tagged ``!!merge``) and aliases beyond a small bound (yaml_limits).

    PyYAML keeps the last of two equal keys without a word, so a second ``sources:`` would
    silently replace the allow-list; two ``<<:`` merges would do the same past the duplicate
    check (``<<: {sources: null}`` after ``<<: {sources: [...]}``), so merges are refused
    outright. Aliases are bounded on the composed nodes, before any object is built from them.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):  # the base class raises its own error otherwise
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                line = key_node.start_mark.line + 1
                # Before the scalar filter: PyYAML merges ANY key node tagged !!merge, a sequence
                # or mapping too (`? !!merge [a]`). A quoted '<<' is refused alike: it only reads
                # as a merge, and no policy key is named so.
                if key_node.tag == _MERGE_TAG or (
                    isinstance(key_node, yaml.ScalarNode) and key_node.value == "<<"
                ):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"merge key {show(_written(key_node))} at line {line}",
                        key_node.start_mark,
                    )
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                if key in first_line:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {show(key)} (lines {first_line[key]} and {line})",
                        key_node.start_mark,
                    )
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def _written(node: yaml.Node) -> str:
    """The node as the file writes it (``!!merge [a]``, ``<<``): marks of a loaded string keep
    the whole text."""
    buffer = node.start_mark.buffer
    if buffer is None:  # not loaded from a string: fall back to the node's own text
        return str(node.value) if isinstance(node, yaml.ScalarNode) else node.tag
    return str(buffer[node.start_mark.index : node.end_mark.index])


def parse_yaml(text: str, *, path: str) -> Any:
    """YAML text with StrictSafeLoader; a syntax error, a duplicate key, a merge key, too many
    aliases or absurd nesting is a ConfigError naming ``path``, the problem and its line."""
    if len(text) > MAX_POLICY_CHARS:
        raise ConfigError(
            f"{path}: is {len(text):,} characters long (a policy is at most {MAX_POLICY_CHARS:,})",
            fix="the policy is a few lines per source repository: see docs/release-db.md",
        )
    try:
        return yaml.load(text, Loader=StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise _too_deep(path) from None
    except AliasLimitError as exc:
        where = f" (line {exc.line})" if exc.line is not None else ""
        raise ConfigError(f"{path}: {exc.problem}{where}", fix=ANCHORS_FIX) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        if problem.startswith("duplicate key "):
            raise ConfigError(
                f"{path}: {problem} in one mapping: YAML would silently keep only the last one",
                fix="give each key once per mapping (merge the two entries into one)",
            ) from None
        if problem.startswith("merge key "):
            raise ConfigError(
                f"{path}: {problem}: the policy does not accept YAML merge keys",
                fix="write the merged keys out in that mapping",
            ) from None
        raise ConfigError(
            f"{path}: is not valid YAML ({problem}{where})", fix="fix the YAML syntax"
        ) from None


def _too_deep(path: str) -> ConfigError:
    return ConfigError(
        f"{path}: is nested too deeply (lists or mappings hundreds of levels deep)",
        fix="the policy is a few levels deep: see docs/release-db.md",
    )


def _build(data: dict[str, Any], path: str) -> Policy:
    channels = tuple(data.get("channels", DEFAULT_CHANNELS))
    known = set(channels)

    def check_channels(values: Any, pointer: str) -> tuple[str, ...]:
        result = tuple(values)
        for index, channel in enumerate(result):
            if channel not in known:
                raise ConfigError(
                    f"{path}: {pointer}/{index} names channel {channel!r}, which is not in /channels",
                    fix=f"use one of {', '.join(channels)} or add it to channels",
                )
        return result

    sources: tuple[SourceRule, ...] | None = None
    if data.get("sources") is not None:
        rules = []
        for index, raw in enumerate(data["sources"]):
            rule_channels = raw.get("channels")
            rules.append(
                SourceRule(
                    repository=raw["repository"],
                    containers=tuple(raw.get("containers", ("*",))),
                    channels=None
                    if rule_channels is None
                    else check_channels(rule_channels, f"/sources/{index}/channels"),
                    images=tuple(raw["images"]) if "images" in raw else None,
                    senders=tuple(raw["senders"]) if "senders" in raw else None,
                )
            )
        sources = tuple(rules)
    tags = data.get("tags", {})
    overlays = data.get("overlays", {})
    environments = dict(overlays.get("environments", {}))
    for channel in environments:
        if channel not in known:
            raise ConfigError(
                f"{path}: /overlays/environments/{channel} is not a channel in /channels",
                fix=f"map only {', '.join(channels)}",
            )
    apps = dict(overlays.get("apps", {}))
    if apps and "*" not in overlays.get("dir", ""):
        raise ConfigError(
            f"{path}: /overlays/apps maps containers to the name that replaces * in /overlays/dir, "
            "but dir has no *",
            fix="write dir with a * (apps/*/overlays) or remove apps: without a *, every container "
            "already shares one overlay per environment",
        )
    if "prereleaseChannels" in tags:
        prerelease = check_channels(tags["prereleaseChannels"], "/tags/prereleaseChannels")
    else:
        prerelease = tuple(c for c in DEFAULT_PRERELEASE_CHANNELS if c in known)
    promotion = data.get("promotion", {})

    def check_envs(mapping: Mapping[str, Any], pointer: str) -> None:
        for env in mapping:
            if env not in known:
                raise ConfigError(
                    f"{path}: {pointer}/{env} is not a channel in /channels",
                    fix=f"name only {', '.join(channels)} (or add {env} to channels)",
                )

    values = []
    first_rule: dict[str, int] = {}
    for index, raw in enumerate(overlays.get("values", ())):
        check_envs(raw["files"], f"/overlays/values/{index}/files")
        if raw["image"] in first_rule:
            raise ConfigError(
                f"{path}: /overlays/values/{index}/image {show(raw['image'])} is already the image of "
                f"/overlays/values/{first_rule[raw['image']]}",
                fix="give each image one rule: list all its environments' files under that rule's files",
            )
        first_rule[raw["image"]] = index
        values.append(
            ValuesRule(
                image=raw["image"],
                files=MappingProxyType(dict(raw["files"])),
                tag=raw["tag"],
                digest=raw.get("digest"),
                repository=raw.get("repository"),
            )
        )
    branches = dict(promotion.get("branches", {}))
    check_envs(branches, "/promotion/branches")
    first_env: dict[str, str] = {}
    for env, branch in branches.items():
        if branch in first_env:
            raise ConfigError(
                f"{path}: /promotion/branches/{env} names branch {show(branch)}, as does "
                f"/promotion/branches/{first_env[branch]}",
                fix="give every environment its own branch (develop, staging, main)",
            )
        first_env[branch] = env
    raw_rules = promotion.get("environments", {})
    check_envs(raw_rules, "/promotion/environments")
    env_rules = {
        env: _env_rules(raw, f"{path}: /promotion/environments/{env}") for env, raw in raw_rules.items()
    }
    return Policy(
        channels=channels,
        sources=sources,
        immutable_tags=tags.get("immutable", True),
        require_digest=check_channels(tags.get("requireDigest", ()), "/tags/requireDigest"),
        prerelease_channels=prerelease,
        allow_downgrade=tags.get("allowDowngrade", False),
        overlays_dir=overlays.get("dir"),
        overlay_environments=MappingProxyType(environments),
        overlay_apps=MappingProxyType(apps),
        mutable_tags=tuple(tags.get("mutable", ())),
        values=tuple(values),
        branches=MappingProxyType(branches),
        promotion=MappingProxyType(env_rules),
    )


_DURATION_PART = re.compile(r"([0-9]+)([smhdw])")
_DURATION = re.compile(r"(?:[0-9]+[smhdw])+")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: How to write a duration, for the fix of a bad one.
DURATION_FIX = "write a number with a unit s, m, h, d or w, or several: 24h, 90m, 1d, 1h30m"


def parse_duration(text: str) -> float | None:
    """Seconds in a duration such as ``24h``, ``90m``, ``1d`` or ``1h30m`` (units s, m, h, d, w);
    None when ``text`` is not one (the caller names the field: policy soakTime, input soak-time)."""
    text = text.strip()
    if not _DURATION.fullmatch(text):
        return None
    return float(sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text)))


def _env_rules(raw: Mapping[str, Any], where: str) -> EnvRules:
    require_status = raw.get("requireStatus")
    soak_text = raw.get("soakTime")
    # The schema's soakTime pattern admits exactly what parse_duration reads (tested).
    soak = None if soak_text is None else parse_duration(soak_text)
    if soak is not None and require_status in (None, "none"):
        raise ConfigError(
            f"{where}/soakTime {show(soak_text)} needs requireStatus: a soak time counts from the "
            "moment the source environment's status became success",
            fix="add requireStatus: deployment (or a commit status context), or remove soakTime",
        )
    checklist = raw.get("checklist")
    return EnvRules(
        require_status=None if require_status == "none" else require_status,
        soak_time=soak,
        labels=tuple(raw.get("labels", ())),
        reviewers=tuple(raw.get("reviewers", ())),
        team_reviewers=tuple(raw.get("teamReviewers", ())),
        checklist=None if checklist is None else tuple(checklist),
    )


def check_release(
    policy: Policy,
    release: Release,
    current: Release | None,
    *,
    allow_downgrade: bool = False,
    field: str = "payload",
    sender: str | None = None,
) -> None:
    """Raise PolicyError when ``policy`` refuses ``release`` replacing ``current``.

    ``field`` prefixes the field named in messages (``payload.releases[1]`` for the second
    release of a payload). ``sender`` is the login GitHub names as the repository_dispatch
    event's sender, None when there is no such event (a rule naming senders then refuses).
    """
    channel = release.channel
    if channel not in policy.channels:
        raise PolicyError(
            f"{field}.channel {channel!r} is not a channel of this repository ({', '.join(policy.channels)})",
            fix="send one of the configured channels or add it to channels in .gitops-release.yml",
        )
    if policy.sources is not None:
        _check_source(policy.sources, release, field, sender)
    check_tag(release.tag, immutable=policy.immutable_tags, field=f"{field}.tag", ref=release.source.ref)
    glob = policy.mutable_tag_glob(release.tag) if policy.immutable_tags else None
    if glob is not None:
        raise PolicyError(
            f"{field}.tag {show(release.tag)} matches {show(glob)} of tags.mutable, which this "
            "repository treats as mutable (tags.immutable is true)",
            fix="tag each build immutably: sha-<first 8 hex of the commit> or a full semver like 1.4.2",
        )
    if (
        policy.immutable_tags
        and current is not None
        and current.tag == release.tag
        and current.digest is not None
        and release.digest is not None
        and current.digest != release.digest
    ):
        raise PolicyError(
            f"{field}.tag {show(release.tag)} already points to digest {current.digest[:19]}... on "
            f"{release.container}/{channel}, this release to {release.digest[:19]}...: a tag that moves "
            "is mutable (tags.immutable is true)",
            fix="give the new build a new tag (a new version or sha-<commit>); "
            "to deploy the old image again, send its digest",
        )
    if channel in policy.require_digest and release.digest is None:
        raise PolicyError(
            f"{field}.digest is missing: channel {channel!r} requires a digest (tags.requireDigest)",
            fix="send the image digest (sha256:...) from the build's push step",
        )
    if is_prerelease(release.tag) and channel not in policy.prerelease_channels:
        allowed = ", ".join(policy.prerelease_channels) or "none"
        raise PolicyError(
            f"{field}.tag {show(release.tag)} is a pre-release and channel {channel!r} accepts only "
            f"releases (pre-release channels: {allowed})",
            fix="ship a final version (without -rc/-beta) or add the channel to tags.prereleaseChannels",
        )
    if current is not None and not (allow_downgrade or policy.allow_downgrade):
        # Whether a run without the dispatch's sender (the one way to set allow-downgrade) would be
        # refused: then the fix must name a way that works without it.
        senders = policy.sources is not None and all(
            rule.senders is not None for rule in policy.sources if rule.matches(release, sender)
        )
        order = compare_versions(current.tag, release.tag)
        if order is None or order == 0:
            # The tags do not order the two releases (sha-… tags): the build times do.
            check_build_order(release, current, field=field, senders=senders)
        if order == -1:
            raise PolicyError(
                f"{field}.tag {show(release.tag)} is lower than {show(current.tag)} on "
                f"{release.container}/{channel}: downgrades are refused",
                fix=rollback_fix("ship a higher version; to roll back on purpose", senders=senders),
            )


def _check_source(rules: tuple[SourceRule, ...], release: Release, field: str, sender: str | None) -> None:
    repository = release.source.repository
    by_repo = [rule for rule in rules if rule.matches_repository(repository)]
    if not by_repo:
        raise PolicyError(
            f"{field}.source.repository {repository!r} is not an allowed source (policy sources)",
            fix="add it under sources in .gitops-release.yml, or dispatch from an allowed repository",
        )
    by_sender = [rule for rule in by_repo if rule.matches_sender(sender)]
    if not by_sender:
        allowed = ", ".join(sorted({s for r in by_repo for s in r.senders or ()}))
        if sender is None:
            raise PolicyError(
                f"sender unknown: releases from {repository!r} may be sent only by {allowed} (policy "
                "sources[].senders), and this run has no repository_dispatch event naming its sender",
                fix="run update-db on: repository_dispatch (GitHub names the sender in the event), "
                "or remove senders from that source in .gitops-release.yml",
            )
        raise PolicyError(
            f"sender {show(sender)} (the repository_dispatch event's sender.login) may not send releases "
            f"from {repository!r} (allowed senders: {allowed})",
            fix="dispatch with that source's own GitHub App or token, or add the sender under that "
            "source's senders in .gitops-release.yml",
        )
    by_container = [rule for rule in by_sender if rule.matches_container(release.container)]
    if not by_container:
        raise PolicyError(
            f"{field}.container {release.container!r} may not be updated by {repository!r} "
            f"(allowed: {', '.join(sorted({c for r in by_sender for c in r.containers}))})",
            fix="add the container to that source's containers in .gitops-release.yml",
        )
    by_channel = [rule for rule in by_container if rule.matches_channel(release.channel)]
    if not by_channel:
        raise PolicyError(
            f"{field}.channel {release.channel!r} may not be updated by {repository!r} "
            f"for container {release.container!r}",
            fix="add the channel to that source's channels in .gitops-release.yml",
        )
    if any(rule.matches_image(release.image) for rule in by_channel):
        return
    listed = sorted({image for rule in by_channel for image in rule.images or ()})
    if not listed:
        raise PolicyError(
            f"{field}.image {show(release.image)} is not allowed: the policy's sources entry for "
            f"{repository!r} lists no images, and a source without images may release none",
            fix=f"add images: [{release.image}] to that source in .gitops-release.yml if that is "
            "the container's image (globs: * within a path component, ** across; see docs/security.md)",
        )
    raise PolicyError(
        f"{field}.image {show(release.image)} is not an allowed image for container "
        f"{release.container!r} from {repository!r} (allowed: {', '.join(listed)})",
        fix="send the container's own image, or add the image to that source's images in .gitops-release.yml",
    )


def exact_images(
    policy: Policy, release: Release, sender: str | None, *, known: Collection[str] = ()
) -> frozenset[str]:
    """The images (no globs) the rules letting ``sender`` update ``release`` list: write-through
    counts an overlay entry with one of these names as the container's own. An image whose last
    path component names another ``known`` container (known_containers) is that one's, never
    this release's (a rule listing two containers' images owns neither for the other)."""
    if policy.sources is None:
        return frozenset()
    others = set(known) - {release.container}
    return frozenset(
        image
        for rule in policy.sources
        if rule.matches(release, sender)
        for image in rule.images or ()
        if not any(ch in image for ch in "*?") and image.rsplit("/", 1)[-1] not in others
    )


def known_containers(policy: Policy, recorded: Iterable[str] = ()) -> frozenset[str]:
    """The container names the policy lists literally (sources[].containers without a glob) and
    the ``recorded`` ones (db.json's): an image named after one of them is that container's."""
    listed = (
        name
        for rule in policy.sources or ()
        for name in rule.containers
        if not any(ch in name for ch in "*?[")
    )
    return frozenset(listed) | frozenset(recorded)


def check_image_owner(
    policy: Policy, release: Release, recorded: Mapping[str, Collection[str]], *, field: str = "payload"
) -> None:
    """PolicyError unless ``release.image`` may be the release container's own: it is not the
    image ``recorded`` (db.json, any channel, plus the payload's other releases) for another
    container unless recorded for this one too, and its last path component names no other
    known container (policy or db) unless it is this container's name. Write-through edits the
    overlay entry of the release's image: another container's image would retag that container.
    """
    container = release.container
    owners = sorted(c for c, images in recorded.items() if c != container and release.image in images)
    if owners and release.image not in recorded.get(container, ()):
        raise PolicyError(
            f"{field}.image {show(release.image)} is the image of container {show(owners[0])} (in "
            f"db.json or in this payload), not of container {container!r}: a release carries only "
            "its own container's image",
            fix=f"send container {container!r}'s own image; to ship {show(owners[0])}, send a release "
            f"with container: {show(owners[0])} (from the source the policy allows for it)",
        )
    last = release.image.rsplit("/", 1)[-1]
    if last != container and last in known_containers(policy, recorded):
        raise PolicyError(
            f"{field}.image {show(release.image)} is named after container {show(last)}, not "
            f"{container!r}: another container's image is never released as this one's",
            fix=f"send container {container!r}'s own image; to ship {show(last)}, send a release "
            f"with container: {show(last)} (from the source the policy allows for it); an image "
            "whose last path component names a container (policy sources[].containers or db.json) "
            "belongs to that container",
        )
