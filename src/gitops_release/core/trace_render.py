"""How ``gitops-release trace`` shows a :class:`TraceResult`: a terminal table, Markdown for the
step summary, JSON (``schemas/trace.schema.json``) and a Mermaid gantt (environment x time).

Pure: no I/O, no clock (open stays end at ``result.generated_at``). Every value that comes from
git, GitHub or Argo CD is untrusted (commit subjects, author names, tags, app names, messages):
the terminal shows control characters and escape sequences escaped (``promotion.plain_text``),
Markdown goes through report-status's neutraliser (``report_status.markdown_text``: no link,
image, HTML, mention, cross-reference, code span or fence; a backtick becomes ``&#x60;``),
Mermaid labels keep only characters that cannot end a label, a statement or the code fence.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from gitops_release.core.promotion import plain_text, short_digest
from gitops_release.core.report_status import markdown_link_target, markdown_text
from gitops_release.core.trace_model import (
    Arrival,
    DeploymentRecord,
    EnvTrace,
    MatchedImage,
    Stay,
    TraceResult,
)

SCHEMA_VERSION = 1
#: GitHub refuses a step summary over 1 MiB (the job's summary upload fails).
STEP_SUMMARY_LIMIT = 1_000_000
#: A Markdown cell shows at most this many characters of one value.
MAX_CELL_CHARS = 200
#: The terminal and Markdown show the newest this many timeline events (JSON has them all).
TIMELINE_SHOWN = 20
#: The gantt draws at most this many stays (the newest); Mermaid slows down with thousands.
MERMAID_MAX_TASKS = 200
CUT_LINE = "… (cut: the step summary would exceed {limit} bytes; the json output holds the whole answer)"
_MIN_COLUMN = 8
#: The shortest bar the gantt draws (a zero or negative length draws nothing).
MIN_BAR = timedelta(seconds=1)


# -- shared wording ----------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken as UTC (the model says aware, a caller may not)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def rfc3339(moment: datetime | None) -> str | None:
    """``2026-01-02T03:04:05Z`` (seconds; git and Argo CD record no finer), None for None."""
    return None if moment is None else _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _when(moment: datetime | None) -> str:
    """``2026-03-01 09:00`` (UTC; the headers say so)."""
    return "-" if moment is None else _utc(moment).strftime("%Y-%m-%d %H:%M")


def duration_text(seconds: float | None) -> str:
    """``3d 4h``, ``5h 12m``, ``42m``, ``30s``; ``-`` for None."""
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _short_sha(sha: str | None) -> str:
    return (sha or "")[:7]


def _image_text(image: MatchedImage) -> str:
    text = image.image
    if image.tag:
        text += f":{image.tag}"
    if image.digest:
        text += f"@{image.digest}"
    return text


def _image_version(image: MatchedImage) -> str:
    """The tag, else the short digest, else the repository (a short label for one image)."""
    if image.tag:
        return image.tag
    if image.digest:
        return short_digest(image.digest)
    return image.image


def _arrival_words(arrival: Arrival) -> str:
    """``promote from dev, PR #12 by alice``."""
    words: str = arrival.kind
    if arrival.source_environment:
        words += f" from {arrival.source_environment}"
    if arrival.pull_request is not None:
        words += f", PR #{arrival.pull_request}"
    if arrival.by:
        words += f" by {arrival.by}"
    return words


def _current_or_last(stays: Sequence[Stay]) -> Stay | None:
    open_stays = [stay for stay in stays if stay.left_at is None]
    if open_stays:
        return open_stays[-1]
    return stays[-1] if stays else None


def _how_arrived(env: EnvTrace) -> str:
    """How the image got into the environment: the current (else the last) overlay stay, else
    the db channel's (said so)."""
    stay = _current_or_last(env.stays)
    if stay is not None:
        return _arrival_words(stay.arrival)
    stay = _current_or_last(env.channel_stays)
    if stay is not None:
        return "db channel: " + _arrival_words(stay.arrival)
    return "-"


def _replaced(env: EnvTrace, image: MatchedImage | None, *, when: bool = True) -> str:
    """What replaced the last stay that ended, how and when (``-`` while present); the image's
    own repository is left out of the replacement (``sha-2`` for ``ghcr.io/org/app:sha-2``)."""
    if env.present:
        return "-"
    ended = [stay for stay in env.stays if stay.left_at is not None]
    if not ended:
        return "-"
    stay = ended[-1]
    what = stay.replaced_by or "removed"
    if image is not None and stay.replaced_by:
        for mark in (":", "@"):
            if what.startswith(image.image + mark):
                what = what[len(image.image) + (1 if mark == ":" else 0) :]
                break
    how: list[str] = [stay.left_kind] if stay.left_kind and stay.replaced_by else []
    if when:
        how.append(_when(stay.left_at))
    return f"{what} ({', '.join(how)})" if how else what


def present_in(result: TraceResult) -> list[str]:
    """The environments whose desired state holds a matched image now, in policy order, once each."""
    return list(dict.fromkeys(env.environment for env in result.environments if env.present))


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _image_of(result: TraceResult) -> list[int | None]:
    """The index into ``result.images`` of each EnvTrace (None when no image matched)."""
    if len(result.image_of_environment) == len(result.environments):
        return list(result.image_of_environment)
    return [0 if result.images else None] * len(result.environments)


def _groups(result: TraceResult) -> list[tuple[MatchedImage | None, list[EnvTrace]]]:
    """The environments image by image (in the order of ``result.images``)."""
    owners = _image_of(result)
    groups: list[tuple[MatchedImage | None, list[EnvTrace]]] = []
    for index, image in enumerate(result.images):
        envs = [env for env, owner in zip(result.environments, owners, strict=True) if owner == index]
        groups.append((image, envs))
    orphans = [env for env, owner in zip(result.environments, owners, strict=True) if owner is None]
    if orphans or not groups:
        groups.append((None, orphans))
    return [(image, envs) for image, envs in groups if envs or image is not None]


def _built_from(image: MatchedImage) -> str:
    parts = []
    if image.container:
        parts.append(f"container {image.container}")
    if image.source_repository or image.source_sha:
        parts.append(f"built from {image.source_repository or '?'}@{_short_sha(image.source_sha) or '?'}")
    if image.built_at:
        parts.append(f"at {image.built_at}")
    return ", ".join(parts)


def _env_row(env: EnvTrace, image: MatchedImage | None, *, terse: bool = False) -> list[str]:
    """One environment's cells; ``terse`` (terminal) leaves the replacement's time to the timeline."""
    return [
        env.environment,
        _yes_no(env.present),
        _yes_no(env.live),
        _when(env.since),
        _how_arrived(env),
        duration_text(env.soak_seconds),
        _replaced(env, image, when=not terse),
    ]


_HEADERS = ("environment", "present", "live", "since (UTC)", "how it arrived", "soak", "replaced by (UTC)")
_FLEXIBLE = (4, 6, 0)  # columns that give up width, widest first: how it arrived, replaced by, env


# -- terminal ------------------------------------------------------------------------------------


def _term(value: str) -> str:
    """One terminal line: control characters and escape sequences shown escaped, never run."""
    return plain_text(value)


def _fit(text: str, width: int) -> str:
    if width < 1:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _wrapped(text: str, width: int, indent: str = "  ") -> list[str]:
    """``text`` as lines of at most ``width`` characters, the lines after the first indented two
    more (a finding or note is read whole, never cut)."""
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent + "  ",
        break_on_hyphens=False,
        drop_whitespace=True,
    ) or [indent.rstrip()]


def _own_notes(result: TraceResult) -> list[str]:
    """The notes not already said as a ``skipped`` finding (build_trace makes each note one)."""
    said = {finding.message for finding in result.findings if finding.kind == "skipped"}
    return [note for note in result.notes if note not in said]


def _aligned(rows: list[list[str]], width: int) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    over = sum(widths) + 2 * (len(widths) - 1) - width
    while over > 0:  # take a character from the widest flexible column until the row fits
        column = max(_FLEXIBLE, key=lambda i: widths[i])
        if widths[column] <= _MIN_COLUMN:
            break  # the rest is cut at the line's end
        widths[column] -= 1
        over -= 1
    lines = []
    for row in rows:
        cells = [_fit(cell, widths[i]).ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append(_fit("  ".join(cells).rstrip(), width))
    return lines


def render_table(result: TraceResult, *, width: int = 100) -> str:
    """The answer for a terminal: per image a line naming it and an environment table (present,
    live, since, how it arrived, soak, replaced by), then the findings, the notes and the newest
    timeline events. Lines are at most ``width`` characters: table and timeline rows are cut
    with "…", findings and notes wrapped."""
    width = max(width, 40)
    out = [_fit(_term(f"trace {result.query.raw} in {result.ref} ({_short_sha(result.head)})"), width)]
    if not result.found:
        out.append(
            _fit(
                _term(f"not found: nothing in the history of {result.ref} matches {result.query.raw}"), width
            )
        )
    for image, envs in _groups(result):
        out.append("")
        if image is not None:
            built = _built_from(image)
            out.append(_fit(_term(f"image {_image_text(image)}"), width))
            if built:
                out.append(_fit(_term(f"  {built}"), width))
        if envs:
            rows = [["ENV", *(header.upper() for header in _HEADERS[1:-1]), "REPLACED BY"]]
            rows += [[_term(cell) for cell in _env_row(env, image, terse=True)] for env in envs]
            out.extend(_aligned(rows, width))
    if result.findings:
        out.append("")
        out.append("findings:")
        for finding in result.findings:
            where = f" {finding.environment}" if finding.environment else ""
            out.extend(_wrapped(_term(f"{finding.kind}{where}: {finding.message}"), width))
    notes = _own_notes(result)
    if notes:
        out.append("")
        out.append("notes:")
        for note in notes:
            out.extend(_wrapped(_term(note), width))
    if result.timeline:
        out.append("")
        shown = result.timeline[-TIMELINE_SHOWN:]
        left = len(result.timeline) - len(shown)
        out.append("timeline (UTC)" + (f", newest {len(shown)} of {len(result.timeline)}:" if left else ":"))
        for event in shown:
            line = f"  {_when(event.at)}  {event.environment}  {event.source}  {event.kind}  {event.text}"
            out.append(_fit(_term(line), width))
    return "\n".join(out) + "\n"


# -- Markdown ------------------------------------------------------------------------------------


def _md(value: str, limit: int = MAX_CELL_CHARS) -> str:
    # No code span kept: values share lines (and start list items), where a backtick run of one
    # could pair with another's or open a fence; here no backtick of a value reaches the Markdown.
    return markdown_text(value, limit, code_spans=False) or "-"


def _md_table(envs: Sequence[EnvTrace], image: MatchedImage | None) -> list[str]:
    lines = ["| " + " | ".join(_HEADERS) + " |", "|" + " --- |" * len(_HEADERS)]
    for env in envs:
        cells = _env_row(env, image)
        if env.present:
            cells[1] = "✅ yes"
        if env.live is not None:
            cells[2] = ("✅ " if env.live else "❌ ") + cells[2]
        if env.argo_app:
            cells[2] += f" ({env.argo_app})"
        lines.append("| " + " | ".join(_md(cell) for cell in cells) + " |")
    return lines


def _md_deployments(envs: Sequence[EnvTrace]) -> list[str]:
    records: list[DeploymentRecord] = [record for env in envs for record in env.deployments]
    lines = []
    for record in records:
        text = _md(
            f"{record.environment}: {record.state or 'no status'} for {_short_sha(record.sha)} at "
            f"{_when(record.created_at)} UTC" + (f" by {record.creator}" if record.creator else "")
        )
        target = markdown_link_target(record.url or "")
        lines.append(f"- {text}" + (f" ([deployment {record.id}]({target}))" if target else ""))
    return lines


_FINDING_ICONS = {"drift": "⚠️", "gap": "🕳️", "mismatch": "⚠️", "skipped": "⏭️"}


def _markdown_units(result: TraceResult) -> list[str]:
    """The Markdown answer as units that are kept or cut whole (a unit is a line or a block that
    must not be split, such as the Mermaid fence)."""
    head = f"### gitops-release trace: {_md(result.query.raw, 512)}"
    head_sha = _md(_short_sha(result.head) or "-")
    where = f"History of {_md(result.ref, 256)} at {head_sha}, {_when(result.generated_at)} UTC."
    units = [head, ""]
    if result.found:
        present = present_in(result)
        summary = "Present in " + ", ".join(present) if present else "Present in no environment now"
        units += [_md(summary) + ". " + where, ""]
    else:
        units += [
            f"**Not found**: nothing in the history read matches {_md(result.query.raw, 512)}. " + where,
            "",
        ]
    if result.findings:
        units += ["#### Findings", ""]
        for finding in result.findings:
            icon = _FINDING_ICONS.get(finding.kind, "•")
            where_env = f" ({_md(finding.environment)})" if finding.environment else ""
            units.append(f"- {icon} **{finding.kind}**{where_env}: {_md(finding.message, 1000)}")
        units.append("")
    notes = _own_notes(result)
    if notes:
        units += ["#### Notes", ""]
        units += [f"- {_md(note, 1000)}" for note in notes]
        units.append("")
    for image, envs in _groups(result):
        if image is not None:
            line = f"#### {_md(_image_text(image), 512)}"
            units += [line, ""]
            built = _built_from(image)
            target = markdown_link_target(image.run_url or "")
            if built or target:
                text = _md(built) if built else ""
                link = f"[build run]({target})" if target else ""
                units += [" · ".join(part for part in (text, link) if part), ""]
        if envs:
            units += [*_md_table(envs, image), ""]
            deployments = _md_deployments(envs)
            if deployments:
                units += ["GitHub deployments:", "", *deployments, ""]
    if any(env.stays or env.channel_stays for env in result.environments):
        units += ["#### Timeline", "", render_mermaid(result).rstrip("\n"), ""]
    if result.timeline:
        shown = result.timeline[-TIMELINE_SHOWN:]
        title = (
            f"Events (newest {len(shown)} of {len(result.timeline)})"
            if len(shown) < len(result.timeline)
            else "Events"
        )
        units += ["<details><summary>" + title + "</summary>", ""]
        for event in shown:
            commit = (
                f" `{_short_sha(event.commit)}`"
                if event.commit and re.fullmatch(r"[0-9a-f]{7,64}", event.commit)
                else ""
            )
            units.append(
                f"- {_when(event.at)} UTC · {_md(event.environment)} · {_md(event.source)} · "
                f"{_md(event.kind)}{commit}: {_md(event.text, 500)}"
            )
        units += ["", "</details>", ""]
    return units


def render_markdown(result: TraceResult, *, max_bytes: int = STEP_SUMMARY_LIMIT) -> str:
    """The step summary: a heading, what was found where, the findings and notes, per image a
    table (environment, present, live, since, how it arrived, soak, replaced by) and its GitHub
    deployments, the Mermaid gantt and the newest events. At most ``max_bytes`` UTF-8 bytes:
    what does not fit is left out (whole lines; the gantt whole or not at all) and a last line
    says it was cut."""
    cut_line = CUT_LINE.format(limit=max_bytes)
    if max_bytes < len(cut_line.encode("utf-8")) + 200:
        raise ValueError(f"max_bytes must be at least {len(cut_line.encode('utf-8')) + 200}, not {max_bytes}")
    units = _markdown_units(result)
    whole = "\n".join(units).rstrip("\n") + "\n"
    if len(whole.encode("utf-8")) <= max_bytes:
        return whole
    # Room for the cut line, the blank line before it and a closing </details>.
    budget = max_bytes - len(cut_line.encode("utf-8")) - 2 - len("</details>\n")
    kept: list[str] = []
    used = 0
    for unit in units:
        size = len(unit.encode("utf-8")) + 1
        if used + size > budget:
            break
        kept.append(unit)
        used += size
    if kept and kept[-1].startswith("<details>"):
        kept.pop()
    if "<details><summary>" in "\n".join(kept) and "</details>" not in kept:
        kept.append("</details>")  # never leave the HTML block open (it fits: budget keeps room)
    return "\n".join(kept).rstrip("\n") + "\n\n" + cut_line + "\n"


# -- Mermaid -------------------------------------------------------------------------------------

#: Characters a gantt label keeps. The gantt grammar ends a label at ``:`` (a look-alike colon
#: replaces it), a statement at ``;`` or a newline and starts a comment at ``#``; ``%%`` starts a
#: directive anywhere in the text, and a backtick run could close the Markdown fence around it.
_LABEL_PUNCTUATION = frozenset(" ._-/@+(),'=~→")
_LOOKALIKE_COLON = "\ua789"  # MODIFIER LETTER COLON


def mermaid_label(value: str, limit: int = 80) -> str:
    """``value`` as a gantt label or section name: letters, digits and a few plain marks; ``:``
    shown as a look-alike; anything else a space; one line, at most ``limit`` characters."""
    chars = []
    for char in value:
        if char == ":":
            chars.append(_LOOKALIKE_COLON)
        elif (char.isalnum() and char.isprintable()) or char in _LABEL_PUNCTUATION:
            chars.append(char)
        else:
            chars.append(" ")
    text = " ".join("".join(chars).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or "-"


def _gantt_time(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S")


def _stay_label(stay: Stay, version: str) -> str:
    # The arrival kind leads: a label starting with a gantt keyword (title, section, …) would be
    # read as that statement; the kinds are not keywords.
    arrival = stay.arrival
    words = f"{arrival.kind} {version}"
    if arrival.pull_request is not None:
        words += f" PR {arrival.pull_request}"
    if arrival.by:
        words += f" by {arrival.by}"
    return mermaid_label(words)


def render_mermaid(result: TraceResult) -> str:
    """A Mermaid gantt in a Markdown fence: one section per environment (per image when several
    matched), one task per stay of the image in that environment's overlay (the db channel's
    stays when the overlay has none), open stays ending at ``generated_at`` and drawn active.
    The newest ``MERMAID_MAX_TASKS`` stays are drawn; a comment says how many were left out."""
    lines = [
        "```mermaid",
        "gantt",
        f"  title trace {mermaid_label(result.query.raw, 120)}",
        "  dateFormat YYYY-MM-DDTHH:mm:ss",
        "  axisFormat %Y-%m-%d",
    ]
    several = len(result.images) > 1
    sections: list[tuple[str, list[tuple[Stay, str]]]] = []
    for image, envs in _groups(result):
        version = _image_version(image) if image is not None else result.query.raw
        for env in envs:
            stays, name = list(env.stays), env.environment
            if not stays and env.channel_stays:
                stays, name = list(env.channel_stays), f"{env.environment} db channel"
            if not stays:
                continue
            if several:
                name = f"{name} {version}"
            sections.append((name, [(stay, version) for stay in stays]))
    every = sorted(
        (stay.arrival.at, index, position)
        for index, (_, section_stays) in enumerate(sections)
        for position, (stay, _version) in enumerate(section_stays)
    )
    drawn = {(index, position) for _, index, position in every[-MERMAID_MAX_TASKS:]}
    left_out = len(every) - len(drawn)
    if left_out:
        lines.append(f"  %% {left_out} older stays not drawn (the json output has them)")
    task = 0
    end_of_open = result.generated_at
    for index, (name, section_stays) in enumerate(sections):
        tasks = []
        for position, (stay, version) in enumerate(section_stays):
            if (index, position) not in drawn:
                continue
            task += 1
            start = stay.arrival.at
            end = stay.left_at if stay.left_at is not None else end_of_open
            # A stay replaced in the same second (or "before" it arrived: committer clocks skew)
            # still draws a bar Mermaid can show.
            end = max(end, start + MIN_BAR)
            status = "active, " if stay.left_at is None else ""
            tasks.append(
                f"    {_stay_label(stay, version)} :{status}s{task}, {_gantt_time(start)}, {_gantt_time(end)}"
            )
        if tasks:
            lines.append(f"  section {mermaid_label(name, 60)}")
            lines.extend(tasks)
    lines.append("```")
    return "\n".join(lines) + "\n"


# -- JSON ----------------------------------------------------------------------------------------


def _arrival_json(arrival: Arrival) -> dict[str, Any]:
    return {
        "kind": arrival.kind,
        "at": rfc3339(arrival.at),
        "commit": arrival.commit,
        "pullRequest": arrival.pull_request,
        "by": arrival.by,
        "sourceEnvironment": arrival.source_environment,
        "subject": arrival.subject,
    }


def _stay_json(stay: Stay) -> dict[str, Any]:
    return {
        "arrival": _arrival_json(stay.arrival),
        "leftAt": rfc3339(stay.left_at),
        "leftCommit": stay.left_commit,
        "replacedBy": stay.replaced_by,
        "leftKind": stay.left_kind,
    }


def _deployment_json(record: DeploymentRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "environment": record.environment,
        "sha": record.sha,
        "createdAt": rfc3339(record.created_at),
        "state": record.state,
        "creator": record.creator,
        "url": record.url,
    }


def trace_json(result: TraceResult) -> dict[str, Any]:
    """The answer as JSON data (``schemas/trace.schema.json``, docs/trace.md): camelCase keys,
    every key always present (null when unknown), times RFC 3339 UTC with ``Z``, lists in the
    result's order (deterministic)."""
    query = result.query
    owners = _image_of(result)
    return {
        "schemaVersion": SCHEMA_VERSION,
        "tool": "gitops-release trace",
        "query": {
            "raw": query.raw,
            "kind": query.kind,
            "image": query.image,
            "tag": query.tag,
            "digest": query.digest,
            "container": query.container,
            "sourceSha": query.source_sha,
        },
        "found": result.found,
        "ref": result.ref,
        "head": result.head,
        "generatedAt": rfc3339(result.generated_at),
        "presentIn": present_in(result),
        "images": [
            {
                "container": image.container,
                "image": image.image,
                "tag": image.tag,
                "digest": image.digest,
                "sourceRepository": image.source_repository,
                "sourceSha": image.source_sha,
                "runUrl": image.run_url,
                "builtAt": image.built_at,
            }
            for image in result.images
        ],
        "environments": [
            {
                "image": owner,
                "environment": env.environment,
                "present": env.present,
                "live": env.live,
                "since": rfc3339(env.since),
                "soakSeconds": env.soak_seconds,
                "argoApp": env.argo_app,
                "stays": [_stay_json(stay) for stay in env.stays],
                "channelStays": [_stay_json(stay) for stay in env.channel_stays],
                "deployments": [_deployment_json(record) for record in env.deployments],
            }
            for env, owner in zip(result.environments, owners, strict=True)
        ],
        "timeline": [
            {
                "at": rfc3339(event.at),
                "environment": event.environment,
                "source": event.source,
                "kind": event.kind,
                "commit": event.commit,
                "text": event.text,
            }
            for event in result.timeline
        ],
        "findings": [
            {"kind": finding.kind, "environment": finding.environment, "message": finding.message}
            for finding in result.findings
        ],
        "notes": list(result.notes),
    }
