"""promote-overlay's pure logic: what a promotion changes, whether the policy lets it, and how
it is shown (tables, Mermaid flowchart, pull request body, JSON output).

Pure: the command reads the overlays (core/overlay.py, core/values.py) into ``EnvState``s, plans
here, checks the gates here, and writes with the adapters. A promotion gives the target
environment EXACTLY the source's ``newName`` / ``newTag`` / ``digest``, so kustomize renders
the same image reference in both; a pin (hotfix) or rollback sets an explicit tag or digest.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from typing import Any, Literal

from gitops_release.core.policy import Policy
from gitops_release.core.release import show
from gitops_release.core.tags import mutable_reason
from gitops_release.errors import ConfigError, InputError, PolicyError

#: GitHub refuses a pull request body longer than 65,536 characters; bytes bound them all.
MAX_BODY_BYTES = 65_536
#: GitHub refuses a pull request title longer than 256 characters.
MAX_TITLE_CHARS = 256
#: A refusal lists at most this many reasons (then how many more).
MAX_REASONS = 20
#: What a pull request body says in place of notes that do not fit, and at a hard cut.
NOTES_LEFT_OUT = "(notes left out: the body would exceed GitHub's limit)"
BODY_CUT = "\n\n… (cut: too long for a pull request body)\n"
#: A table cell or Mermaid label shows at most this many characters of a value.
MAX_CELL_CHARS = 120

PlanKind = Literal["promote", "rollback", "pin"]


@dataclass(frozen=True)
class ImageState:
    """One image entry in one environment: a kustomize ``images:`` entry or a values file's keys."""

    name: str
    new_name: str | None = None
    new_tag: str | None = None
    digest: str | None = None

    def shown(self) -> str:
        """``ghcr.io/org/app:sha-1@sha256:…`` (new_name, else name; tag and digest when set)."""
        text = self.new_name or self.name
        if self.new_tag is not None:
            text += f":{self.new_tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    def version(self) -> str:
        """The fields a promotion moves, briefly: ``sha-1@sha256:0123456789ab``, with the new
        name in front when there is one (``ghcr.io/org/app:sha-1``); ``(unset)`` when none is set."""
        text = self.new_tag or ""
        if self.digest is not None:
            text += f"@{short_digest(self.digest)}"
        if self.new_name is not None:
            text = self.new_name + (f":{text}" if self.new_tag is not None else text)
        return text or "(unset)"

    def fields(self) -> dict[str, str | None]:
        """The kustomize field names and values (JSON output)."""
        return {"newName": self.new_name, "newTag": self.new_tag, "digest": self.digest}


@dataclass(frozen=True)
class Target:
    """Where an image lives in one environment; ``file`` is a posix path relative to the repo."""

    app: str
    file: str
    kind: Literal["kustomize", "values"]


@dataclass(frozen=True)
class PlanItem:
    """One image entry of the target that the plan changes (``before`` None: added)."""

    app: str
    image: str  # the entry's name (kustomize) or the values rule's image
    target: Target
    before: ImageState | None
    after: ImageState
    source: Target | None = None  # None for explicit tag/digest pins


@dataclass(frozen=True)
class PromotionPlan:
    from_env: str | None
    to_env: str
    kind: PlanKind
    items: tuple[PlanItem, ...]  # sorted by (app, image, file); only real changes

    def key(self) -> str:
        """10 hex of the SHA-256 of the target environment and every item's result: the same
        outcome gives the same key (and branch) whatever the order or the source."""
        # Each item as its own canonical JSON text: sorting those needs no order between None and str.
        after = sorted(
            json.dumps(
                [
                    item.app,
                    item.image,
                    item.target.file,
                    item.target.kind,
                    item.after.name,
                    item.after.fields(),
                ],
                sort_keys=True,
                separators=(",", ":"),
            )
            for item in self.items
        )
        canonical = json.dumps({"to": self.to_env, "items": after}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:10]

    def branch(self) -> str:
        """The pull request branch: ``promote/<to_env>/<key>``."""
        return f"promote/{self.to_env}/{self.key()}"

    def title(self) -> str:
        """``promote app:tag, app2:tag to stage`` (``rollback … in prod``, ``pin … in prod``);
        at most 256 characters, the images cut with ``and N more``."""
        labels = list(dict.fromkeys(_image_label(item.image, item.after) for item in self.items))
        if self.kind == "promote":
            head, tail = "promote ", f" to {self.to_env}"
        else:
            head, tail = f"{self.kind} ", f" in {self.to_env}"
        if not labels:
            return _cut(f"{head}no images{tail}", MAX_TITLE_CHARS)
        for count in range(len(labels), 1, -1):  # one label alone: below, cut to fit if need be
            rest = len(labels) - count
            text = head + ", ".join(labels[:count]) + (f" and {rest} more" if rest else "") + tail
            if len(text) <= MAX_TITLE_CHARS:
                return text
        rest = len(labels) - 1
        more = f" and {rest} more" if rest else ""
        room = MAX_TITLE_CHARS - len(head) - len(more) - len(tail)
        return head + _cut(labels[0], room) + more + tail


EnvState = Mapping[tuple[str, str], tuple[Target, ImageState]]  # (app, image) -> where, what


def short_digest(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits (the whole value when it is not that shape)."""
    algorithm, _, hexdigits = digest.partition(":")
    return f"{algorithm}:{hexdigits[:12]}" if hexdigits else digest


def _image_label(image: str, state: ImageState) -> str:
    return " ".join(_label_text(image, state).split())  # a title is one line


def _label_text(image: str, state: ImageState) -> str:
    name = (state.new_name or image).rpartition("/")[2]
    if state.new_tag is not None:
        return f"{name}:{state.new_tag}"
    if state.digest is not None:
        return f"{name}@{short_digest(state.digest)}"
    return name


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _key_name(key: tuple[str, str]) -> str:
    """``app/image`` (``image`` without an app) for messages; control characters escaped."""
    app, image = key
    return plain_text(f"{app}/{image}" if app else image)


# -- selecting and planning ---------------------------------------------------------------------


def select_images(
    state: EnvState, patterns: Sequence[str], *, env: str | None = None
) -> set[tuple[str, str]]:
    """The ``(app, image)`` keys of ``state`` that ``patterns`` select (none given: all). A
    pattern (fnmatch glob) matches the entry's name, its newName or its last path component.
    A pattern matching nothing is an InputError naming it (``env``: the environment searched)."""
    if not patterns:
        return set(state)
    selected: set[tuple[str, str]] = set()
    where = f" in {env}" if env else ""
    for pattern in patterns:
        if not pattern.strip():
            raise InputError("images", "holds an empty entry", fix="give image names or globs, e.g. my-app")
        found = {key for key, (_, image) in state.items() if _matches(pattern, key[1], image)}
        if not found:
            known = sorted({key[1] for key in state})
            listed = ", ".join(show(name) for name in known[:10]) + (" …" if len(known) > 10 else "")
            raise InputError(
                "images",
                f"{show(pattern)} matches no image{where} (images there: {listed or 'none'})",
                fix="name one of those images: its name, newName or last path component (my-app), "
                "or a glob (ghcr.io/org/*)",
            )
        selected |= found
    return selected


def _matches(pattern: str, name: str, state: ImageState) -> bool:
    candidates = {name, name.rpartition("/")[2]}
    if state.new_name is not None:
        candidates |= {state.new_name, state.new_name.rpartition("/")[2]}
    return any(fnmatchcase(candidate, pattern) for candidate in candidates)


def _sorted_items(items: Iterable[PlanItem]) -> tuple[PlanItem, ...]:
    return tuple(sorted(items, key=lambda item: (item.app, item.image, item.target.file)))


def plan_promotion(
    source: EnvState,
    target: EnvState,
    *,
    from_env: str,
    to_env: str,
    images: Sequence[str] = (),
    add_missing: bool = False,
    target_files: Mapping[str, Target] | None = None,
) -> PromotionPlan:
    """Give ``target`` the source's exact newName/newTag/digest of every selected image (all of
    the source's when ``images`` is empty). Items only where something changes.

    An image the target lacks is a ConfigError unless ``add_missing``; it is then added to the
    file ``target_files[app]`` names (the app's overlay in ``to_env``), else to the file of
    another image of that app in the target. An image of a values file the target lacks is a
    ConfigError either way (its overlays.values rule names no file for ``to_env``)."""
    items = []
    for key in sorted(select_images(source, images, env=from_env)):
        app, image = key
        source_target, wanted = source[key]
        if key in target:
            where, before = target[key]
            after = ImageState(before.name, wanted.new_name, wanted.new_tag, wanted.digest)
            if after != before:
                items.append(PlanItem(app, image, where, before, after, source_target))
            continue
        if source_target.kind == "values":
            raise ConfigError(
                f"image {show(image)} is in {from_env}'s values file ({source_target.file}) but its "
                f"overlays.values rule names no file for {to_env}",
                fix=f"add {to_env}: <its values file> to that rule's files in .gitops-release.yml",
            )
        if not add_missing:
            raise ConfigError(
                f"image {show(image)} of app {show(app)} is in {from_env} ({source_target.file}) but "
                f"not in {to_env}",
                fix=f"add it to {to_env}'s overlay first, or set add-missing: true to add it",
            )
        where = _file_for(app, target, target_files, image=image, to_env=to_env)
        after = ImageState(image, wanted.new_name, wanted.new_tag, wanted.digest)
        items.append(PlanItem(app, image, where, None, after, source_target))
    return PromotionPlan(from_env, to_env, "promote", _sorted_items(items))


def _file_for(
    app: str, target: EnvState, target_files: Mapping[str, Target] | None, *, image: str, to_env: str
) -> Target:
    if target_files is not None and app in target_files:
        return target_files[app]
    for (other_app, _), (where, _) in sorted(target.items()):
        if other_app == app and where.kind == "kustomize":
            return where
    raise ConfigError(
        f"image {show(image)} of app {show(app)} cannot be added to {to_env}: {to_env} has no overlay "
        "for that app",
        fix=f"create {to_env}'s overlay (kustomization.yaml) for app {show(app)} first",
    )


def plan_pin(
    target: EnvState,
    *,
    to_env: str,
    images: Sequence[str],
    tag: str | None,
    digest: str | None,
    rollback: bool,
) -> PromotionPlan:
    """Set an explicit ``tag`` and/or ``digest`` on the selected images of ``target`` (a
    rollback or a hotfix pin); newName is kept. ``tag`` alone drops the digest, which belonged
    to another tag (unless the tag stays the same); ``digest`` alone keeps the tag."""
    if tag is None and digest is None:
        raise InputError("tag", "is empty and so is digest", fix="give the tag and/or digest to pin")
    if not images and len(target) > 1:
        raise InputError(
            "images",
            f"is empty, and {to_env} holds {len(target)} images: a tag or digest pins the images named",
            fix="name the images to pin, e.g. images: my-app",
        )
    items = []
    for key in sorted(select_images(target, images, env=to_env)):
        where, before = target[key]
        new_tag = before.new_tag if tag is None else tag
        if digest is not None:
            new_digest: str | None = digest
        elif tag == before.new_tag:
            new_digest = before.digest
        else:
            new_digest = None
        after = ImageState(before.name, before.new_name, new_tag, new_digest)
        if after != before:
            items.append(PlanItem(key[0], key[1], where, before, after))
    return PromotionPlan(None, to_env, "rollback" if rollback else "pin", _sorted_items(items))


# -- gates ----------------------------------------------------------------------------------------


def check_gates(plan: PromotionPlan, policy: Policy, *, allow_skip: bool) -> None:
    """PolicyError naming EVERY reason the policy refuses ``plan`` (one error): the target is
    the next environment after the source (unless ``allow_skip``; pins and rollbacks are
    exempt), no mutable tag (core/tags and tags.mutable, with tags.immutable), a digest where
    tags.requireDigest names the target."""
    reasons: list[str] = []
    fixes: list[str] = []
    order = policy.env_order
    for env in dict.fromkeys(e for e in (plan.from_env, plan.to_env) if e is not None):
        if env not in order:
            reasons.append(f"{env} is not an environment of this repository ({' → '.join(order)})")
            fixes.append(f"use one of {', '.join(order)} or add it to channels in .gitops-release.yml")
    if plan.kind == "promote" and not allow_skip and plan.from_env in order and plan.to_env in order:
        position = order.index(plan.from_env)
        following = order[position + 1] if position + 1 < len(order) else None
        if plan.to_env != following:
            backwards = order.index(plan.to_env) <= position
            what = (
                f"{plan.to_env} comes before {plan.from_env}"
                if backwards
                else "it skips " + ", ".join(order[position + 1 : order.index(plan.to_env)])
            )
            reasons.append(
                f"{plan.from_env} → {plan.to_env} is not the next step in {' → '.join(order)}: {what}"
            )
            if backwards:
                fixes.append(f"to roll {plan.to_env} back, pin the earlier tag or digest (or revert)")
            else:
                fixes.append(f"promote {plan.from_env} → {following} first, or set allow-skip: true")
    mutable = missing_digest = False
    for item in plan.items:
        tag = item.after.new_tag
        if policy.immutable_tags and tag is not None:
            reason = mutable_reason(tag)
            glob = policy.mutable_tag_glob(tag)
            if reason is not None:
                reasons.append(f"{_key_name((item.app, item.image))}: {reason} (tags.immutable is true)")
                mutable = True
            elif glob is not None:
                reasons.append(
                    f"{_key_name((item.app, item.image))}: {show(tag)} matches {show(glob)} of tags.mutable "
                    "(tags.immutable is true)"
                )
                mutable = True
        if plan.to_env in policy.require_digest and item.after.digest is None:
            reasons.append(
                f"{_key_name((item.app, item.image))}: no digest, and {plan.to_env} requires one "
                "(tags.requireDigest)"
            )
            missing_digest = True
    if mutable:
        fixes.append(
            "use an immutably tagged build (sha-<commit> or a full semver like 1.4.2); a digest does "
            "not make a mutable tag acceptable"
        )
    if missing_digest:
        source = f"set the digest in {plan.from_env} first" if plan.from_env else "give digest"
        fixes.append(f"{source} (sha256:… from the build's push step)")
    if not reasons:
        return
    shown = reasons[:MAX_REASONS]
    more = f"; and {len(reasons) - MAX_REASONS} more" if len(reasons) > MAX_REASONS else ""
    what = f"{plan.from_env} → {plan.to_env}" if plan.from_env else f"{plan.kind} in {plan.to_env}"
    count = "1 reason" if len(reasons) == 1 else f"{len(reasons)} reasons"
    raise PolicyError(f"{what} refused ({count}): " + "; ".join(shown) + more, fix="; ".join(fixes))


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def format_duration(seconds: float) -> str:
    """``1d 2h``, ``3h 5m``, ``42s``: the largest unit and the next one, rounded up to that next
    unit (``1d 2h 3m`` is ``1d 3h``; ``23h 59m 30s`` is ``1d``)."""
    total = max(math.ceil(seconds), 0)
    if total == 0:
        return "0s"
    first = next(index for index, (_, size) in enumerate(_UNITS) if total >= size)
    step = _UNITS[min(first + 1, len(_UNITS) - 1)][1]
    total = -(-total // step) * step
    parts = []
    for unit, size in _UNITS:
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)


def check_soak(
    *, state: str | None, since: datetime | None, now: datetime, soak: float | None, what: str
) -> None:
    """PolicyError unless ``state`` is ``success`` and, with a ``soak`` (seconds), ``since`` (when
    it became so) is at least that long before ``now``. ``what`` names the status checked, e.g.
    ``the latest deployment of dev``. Naive datetimes are taken as UTC."""
    if state is None:
        raise PolicyError(
            f"{what} was not found: require-status needs it to be success",
            fix="deploy the source environment (or let the status check report) and run again, "
            "or choose another require-status",
        )
    if state != "success":
        raise PolicyError(
            f"{what} is {show(state)}, not 'success' (require-status)",
            fix="wait until it succeeds (or fix the source environment) and run again",
        )
    if soak is None or soak <= 0:
        return
    if since is None:
        raise PolicyError(
            f"{what} is success but has no time, so its soak time of {format_duration(soak)} "
            "cannot be checked",
            fix="let the status report again (it then carries a time) and run again",
        )
    since_utc, now_utc = _utc(since), _utc(now)
    age = max((now_utc - since_utc).total_seconds(), 0.0)
    if age < soak:
        ready = since_utc + timedelta(seconds=soak)
        raise PolicyError(
            f"{what} succeeded {format_duration(age)} ago ({_iso(since_utc)}), and the soak time is "
            f"{format_duration(soak)}: {format_duration(soak - age)} left",
            fix=f"run again after {_iso(ready)}, or lower soak-time where the policy allows",
        )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- showing ----------------------------------------------------------------------------------------


def code_span(value: str) -> str:
    """``value`` as a Markdown code span safe in a table cell: one line, pipes escaped, enough
    backticks around it, no HTML comment opener (the body's marker must stay the only one)."""
    text = _cut(" ".join(value.split()), MAX_CELL_CHARS).replace("|", "\\|").replace("<!--", "<!- -")
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _version(state: ImageState | None) -> str:
    return "(absent)" if state is None else state.version()


def _rows(plan: PromotionPlan, cell: Callable[[str], str]) -> list[list[str]]:
    return [
        [
            cell(item.app or "-"),
            cell(item.image),
            cell(_version(item.before)),
            cell(_version(item.after)),
            cell(item.target.file),
        ]
        for item in plan.items
    ]


def _headers(plan: PromotionPlan) -> list[str]:
    return ["app", "image", f"{plan.to_env} before", f"{plan.to_env} after", "file"]


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def plan_table(plan: PromotionPlan) -> str:
    """The plan as a Markdown table (step summary, pull request body): one row per item."""
    if not plan.items:
        return f"Nothing to change: {plan.to_env} already holds these images."
    return _markdown_table(_headers(plan), _rows(plan, code_span))


def plain_text(value: str) -> str:
    """``value`` for a terminal: control characters (escape sequences) shown escaped."""
    if value.isprintable():
        return value
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in value)


def _aligned(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    return [
        "  ".join(row[i].ljust(widths[i]) for i in range(len(widths))).rstrip() for row in [headers, *rows]
    ]


def plan_text(plan: PromotionPlan) -> str:
    """The plan for a terminal: a heading line, then aligned columns."""
    what = (
        f"promote {plan.from_env} → {plan.to_env}"
        if plan.kind == "promote"
        else f"{plan.kind} in {plan.to_env}"
    )
    if not plan.items:
        return f"{what}: nothing to change"
    count = "1 image" if len(plan.items) == 1 else f"{len(plan.items)} images"
    rows = _rows(plan, lambda value: plain_text(_cut(value, MAX_CELL_CHARS)))
    return "\n".join([f"{what}: {count}", *_aligned([h.upper() for h in _headers(plan)], rows)])


_MERMAID_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,_:/@+-")


def _mermaid_text(value: str) -> str:
    """``value`` inside a quoted Mermaid label: every character but letters, digits and a few
    plain marks becomes an entity code (``#35;``), so quotes, brackets, ``#``, ``;``, ``<`` or
    backticks can neither end the label nor turn into markup."""
    return "".join(char if char in _MERMAID_SAFE else f"#{ord(char)};" for char in _cut(value, 60))


def plan_mermaid(
    env_order: Sequence[str], tags_before: Mapping[str, str], tags_after: Mapping[str, str]
) -> str:
    """A Mermaid flowchart ``dev --> stage --> prod``, each node labelled with its environment
    and its tag before → after (just the tag when unchanged; ``-`` when it holds none). Nodes
    whose tag changes are drawn thicker."""
    lines = ["flowchart LR"]
    changed = []
    for index, env in enumerate(env_order):
        before, after = tags_before.get(env), tags_after.get(env, tags_before.get(env))
        if before == after:
            version = _mermaid_text(before) if before is not None else "-"
        else:
            version = f"{_mermaid_text(before or '-')} → {_mermaid_text(after or '-')}"
            changed.append(f"env{index}")
        lines.append(f'  env{index}["{_mermaid_text(env)}<br/>{version}"]')
    if len(env_order) > 1:
        lines.append("  " + " --> ".join(f"env{index}" for index in range(len(env_order))))
    if changed:
        lines.append("  classDef changed stroke-width:3px")
        lines.append(f"  class {','.join(changed)} changed")
    return "\n".join(lines)


def version_summary(states: Iterable[ImageState | None]) -> str:
    """One environment's version for the flowchart: the tag all the given images share (their
    short digest when they have no tag), ``N versions`` when they differ, ``-`` when none is set."""
    versions = sorted({_image_version(state) for state in states if state is not None} - {""})
    if not versions:
        return "-"
    return versions[0] if len(versions) == 1 else f"{len(versions)} versions"


def _image_version(state: ImageState) -> str:
    if state.new_tag is not None:
        return state.new_tag
    return short_digest(state.digest) if state.digest is not None else ""


# -- pull request --------------------------------------------------------------------------------

_STAGE_CHECKLIST = (
    "Verify image tag matches {source}",
    "Check {source} environment is stable",
    "Review kustomization changes",
    "Confirm no unrelated changes",
)
_PROD_CHECKLIST = (
    "Verify image tag matches {source}",
    "{Source} environment stable for {soak}",
    "All integration tests passed",
    "Security scan (Trivy) results reviewed",
    "Performance benchmarks acceptable",
    "Rollback plan documented",
    "Notify team of deployment",
    "Schedule deployment window (if required)",
)
PRODUCTION_ENVS = frozenset({"prod", "production"})


def checklist(policy: Policy, to_env: str) -> tuple[str, ...]:
    """The review checklist of a promotion into ``to_env``: the policy's
    (promotion.environments.<env>.checklist) or seed 003's: the production list for ``prod``,
    ``production`` and the last environment, the stage list for every other one."""
    own = policy.env_rules(to_env).checklist
    if own is not None:
        return own
    order = policy.env_order
    position = order.index(to_env) if to_env in order else None
    source = order[position - 1] if position else "the source"  # none before the first
    production = to_env in PRODUCTION_ENVS or (len(order) > 1 and position == len(order) - 1)
    soak = policy.env_rules(to_env).soak_time
    values = {
        "source": source,
        "Source": source[:1].upper() + source[1:],
        "soak": "24+ hours" if soak is None else f"{format_duration(soak)}+",
    }
    return tuple(item.format(**values) for item in (_PROD_CHECKLIST if production else _STAGE_CHECKLIST))


def marker(plan: PromotionPlan) -> str:
    """The hidden line that marks a promotion pull request: its target and plan key."""
    return f"<!-- gitops-release:promote to={plan.to_env} key={plan.key()} -->"


def pr_body(
    plan: PromotionPlan, checklist: Sequence[str], *, source_commit: str | None, notes: Sequence[str] = ()
) -> str:
    """The pull request body: the hidden marker (first line), what is promoted, the old → new
    table, the source commit, ``notes`` and the checklist as ``- [ ]`` items. Within GitHub's
    65,536 characters: rows beyond that are left out (and counted), then notes are cut."""
    if plan.kind == "promote":
        heading = f"## Promote {plan.from_env} → {plan.to_env}"
    else:
        heading = f"## {plan.kind.capitalize()} in {plan.to_env}"
    source = []
    if source_commit is not None:
        origin = f"{plan.from_env}'s overlays at" if plan.from_env else "config repository at"
        source = [f"Source: {origin} commit {code_span(source_commit)}."]
    checks = (
        ["### Checklist", "", *(f"- [ ] {' '.join(item.split())}" for item in checklist)] if checklist else []
    )
    cut_notes = [_cut(note, MAX_BODY_BYTES // 4) for note in notes]
    rows = _rows(plan, code_span)

    def build(row_count: int, note_lines: Sequence[str]) -> str:
        if plan.items:
            table = _markdown_table(_headers(plan), rows[:row_count])
            left = len(rows) - row_count
            if left:
                table += f"\n\n… and {left} more images (the run's `promoted` output lists them all)."
        else:
            table = plan_table(plan)
        parts = [marker(plan), heading, table, *source, *note_lines, "\n".join(checks)]
        return "\n\n".join(part for part in parts if part) + "\n"

    def fits(text: str) -> bool:
        return len(text.encode()) <= MAX_BODY_BYTES

    for note_lines in (cut_notes, [NOTES_LEFT_OUT] if notes else []):
        if not fits(build(0, note_lines)):
            continue
        low, high = 0, len(rows)  # the most rows that fit (binary search)
        while low < high:
            middle = (low + high + 1) // 2
            if fits(build(middle, note_lines)):
                low = middle
            else:
                high = middle - 1
        return build(low, note_lines)
    # Only an absurd checklist gets here: cut at a character boundary, keeping the marker.
    data = build(0, [NOTES_LEFT_OUT] if notes else []).encode()[: MAX_BODY_BYTES - 64]
    return data.decode(errors="ignore") + BODY_CUT


def plan_json(plan: PromotionPlan) -> list[dict[str, Any]]:
    """The ``promoted`` output: one object per item, in plan order."""
    return [
        {
            "app": item.app,
            "image": item.image,
            "file": item.target.file,
            "fileKind": item.target.kind,
            "kind": plan.kind,
            "fromEnv": plan.from_env,
            "toEnv": plan.to_env,
            "sourceFile": None if item.source is None else item.source.file,
            "before": None if item.before is None else item.before.fields(),
            "after": item.after.fields(),
            "reference": item.after.shown(),
        }
        for item in plan.items
    ]
