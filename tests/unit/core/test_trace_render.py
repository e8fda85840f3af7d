"""trace's four output forms on hand-made answers: the terminal table, the step summary Markdown
(report-status's neutraliser, the 1 MiB cap), the Mermaid gantt (labels that cannot break it) and
the JSON document (valid against schemas/trace.schema.json, which refuses what it does not know)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from gitops_release.core.report_status import WORD_JOINER, markdown_text
from gitops_release.core.trace_model import (
    Arrival,
    DeploymentRecord,
    EnvTrace,
    Finding,
    MatchedImage,
    Query,
    Stay,
    TimelineEvent,
    TraceResult,
)
from gitops_release.core.trace_render import (
    CUT_LINE,
    MERMAID_MAX_TASKS,
    STEP_SUMMARY_LIMIT,
    mermaid_label,
    render_markdown,
    render_mermaid,
    render_table,
    trace_json,
)

SCHEMA = json.loads((resources.files("gitops_release") / "schemas" / "trace.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
NOW = T0 + timedelta(days=10)
SHA = "a" * 40
SHA_B = "b" * 40
SHA_C = "c" * 40
DIGEST = "sha256:" + "1" * 64
HOSTILE = (
    "evil | cell [link](https://evil.example) ![img](https://evil.example/x.png) <img src=x onerror=1> "
    "@admin #12 org/repo#3 GH-4 www.evil.example `code|span` \x1b[31mRED\x1b[0m\r\nsecond line ::set-output"
)


def arrival(kind: str = "promote", at: datetime = T0, **kw: Any) -> Arrival:
    base: dict[str, Any] = {
        "kind": kind,
        "at": at,
        "commit": SHA,
        "pull_request": 12,
        "by": "alice",
        "source_environment": "dev",
        "subject": "Promote dev -> stage (#12)",
    }
    base.update(kw)
    return Arrival(**base)


def stay(at: datetime = T0, left: datetime | None = None, **kw: Any) -> Stay:
    return Stay(
        arrival=arrival(at=at, **kw),
        left_at=left,
        left_commit=SHA_B if left else None,
        replaced_by="ghcr.io/org/app:sha-bbbbbbb" if left else None,
        left_kind="promote" if left else None,
    )


def result(**kw: Any) -> TraceResult:
    """An image that went dev -> stage, left dev for a newer build, never reached prod."""
    image = MatchedImage(
        container="app",
        image="ghcr.io/org/app",
        tag="sha-aaaaaaa",
        digest=DIGEST,
        source_repository="org/app-src",
        source_sha="d" * 40,
        run_url="https://github.com/org/app-src/actions/runs/1",
        built_at="2026-03-01T08:00:00Z",
    )
    dev = EnvTrace(
        environment="dev",
        present=False,
        live=False,
        since=None,
        stays=(
            stay(T0, T0 + timedelta(days=3), kind="dispatch", pull_request=None, source_environment=None),
        ),
        channel_stays=(stay(T0, T0 + timedelta(days=3), kind="dispatch", pull_request=None),),
        soak_seconds=86_400 * 2 + 3_600 * 5,
        argo_app="app-dev",
    )
    stage = EnvTrace(
        environment="stage",
        present=True,
        live=True,
        since=T0 + timedelta(days=2, hours=5),
        stays=(stay(T0 + timedelta(days=2, hours=5)),),
        channel_stays=(),
        argo_app="app-stage",
        deployments=(
            DeploymentRecord(
                id=7,
                environment="stage",
                sha=SHA,
                created_at=T0 + timedelta(days=2, hours=6),
                state="success",
                creator="bot",
                url="https://argocd.example/applications/app-stage",
            ),
        ),
    )
    prod = EnvTrace(environment="prod", present=False, live=None, since=None, stays=(), channel_stays=())
    base: dict[str, Any] = {
        "query": Query(
            raw="ghcr.io/org/app:sha-aaaaaaa", kind="reference", image="ghcr.io/org/app", tag="sha-aaaaaaa"
        ),
        "found": True,
        "images": (image,),
        "environments": (dev, stage, prod),
        "timeline": (
            TimelineEvent(T0, "dev", "overlay", "dispatch", SHA, "sha-aaaaaaa arrived: dispatch"),
            TimelineEvent(
                T0 + timedelta(days=2, hours=5), "stage", "overlay", "promote", SHA, "promoted, PR #12"
            ),
            TimelineEvent(
                T0 + timedelta(days=3), "dev", "overlay", "replaced", SHA_B, "replaced by sha-bbbbbbb"
            ),
        ),
        "findings": (
            Finding("mismatch", "dev", "db channel dev holds sha-aaaaaaa, the dev overlay does not"),
        ),
        "ref": "main",
        "head": SHA_C,
        "generated_at": NOW,
        "notes": ("Argo CD not asked (no argocd-server)",),
        "image_of_environment": (0, 0, 0),
    }
    base.update(kw)
    return TraceResult(**base)


def hostile_result() -> TraceResult:
    """Every free-text field the renderers show holds the hostile text."""
    good = result()
    hostile_arrival = dict(by=HOSTILE, subject=HOSTILE, source_environment=HOSTILE, commit=HOSTILE)
    envs = tuple(
        replace(
            env,
            environment=HOSTILE if index == 0 else env.environment,
            argo_app=HOSTILE,
            stays=(
                Stay(arrival(**hostile_arrival), T0 + timedelta(days=1), HOSTILE, HOSTILE, "rollback"),
                Stay(arrival(at=T0 + timedelta(days=2), **hostile_arrival), None, None, None),
            ),
            channel_stays=(Stay(arrival(**hostile_arrival), None, None, None),),
            deployments=(DeploymentRecord(1, HOSTILE, HOSTILE, T0, HOSTILE, HOSTILE, "javascript:alert(1)"),),
        )
        for index, env in enumerate(good.environments)
    )
    return replace(
        good,
        query=Query(raw=HOSTILE, kind="tag", tag=HOSTILE),
        images=(MatchedImage(HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE),),
        environments=envs,
        timeline=(TimelineEvent(T0, HOSTILE, "github", HOSTILE, HOSTILE, HOSTILE),),
        findings=(Finding("drift", HOSTILE, HOSTILE),),
        ref=HOSTILE,
        head=HOSTILE,
        notes=(HOSTILE,),
    )


# -- terminal table -----------------------------------------------------------------------------


def test_table_shows_each_environment_in_policy_order_with_how_the_image_got_there() -> None:
    text = render_table(result())
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("ENV "))
    assert header.split() == [
        "ENV",
        "PRESENT",
        "LIVE",
        "SINCE",
        "(UTC)",
        "HOW",
        "IT",
        "ARRIVED",
        "SOAK",
        "REPLACED",
        "BY",
    ]
    rows = lines[lines.index(header) + 1 : lines.index(header) + 4]
    assert [row.split()[0] for row in rows] == ["dev", "stage", "prod"]
    dev, stage, prod = rows
    assert dev.split()[1:3] == ["no", "no"]
    assert "dispatch by alice" in dev and "2d 5h" in dev and dev.endswith("sha-bbbbbbb (promote)")
    assert stage.split()[1:3] == ["yes", "yes"]
    assert "2026-03-03 14:00" in stage and "promote from dev, PR #12 by a" in stage
    assert prod.split()[1:3] == ["no", "-"]
    assert "image ghcr.io/org/app:sha-aaaaaaa@sha256:" in text and "built from org/app-src@ddddddd" in text
    assert "mismatch dev: db channel dev holds" in text
    assert "Argo CD not asked" in text
    assert "timeline (UTC):" in text and "replaced by sha-bbbbbbb" in text


@pytest.mark.parametrize("width", [40, 60, 100, 160])
def test_table_lines_fit_the_width(width: int) -> None:
    for answer in (result(), hostile_result()):
        assert all(len(line) <= width for line in render_table(answer, width=width).splitlines())


def test_table_shows_control_characters_and_escape_sequences_escaped_never_raw() -> None:
    text = render_table(hostile_result(), width=400)
    assert "\x1b" not in text and "\r" not in text
    assert "\\x1b[31m" in text  # shown, escaped, so the reader sees what the commit holds
    # One line per row: a newline in a subject or name never starts a line of its own.
    assert not any(line.startswith("second line") for line in text.splitlines())


def test_table_says_not_found() -> None:
    empty = result(found=False, images=(), environments=(), timeline=(), findings=(), image_of_environment=())
    text = render_table(empty)
    assert "not found: nothing in the history of main matches ghcr.io/org/app:sha-aaaaaaa" in text
    assert "ENV " not in text


def test_table_falls_back_to_the_db_channel_when_the_overlay_has_no_stay() -> None:
    env = replace(result().environments[0], stays=(), present=False)
    text = render_table(result(environments=(env,), image_of_environment=(0,)), width=200)
    assert "db channel: dispatch" in text


# -- Markdown -----------------------------------------------------------------------------------


def table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| ")]


def cells(row: str) -> int:
    """Cells GitHub sees: split at pipes not escaped by a backslash (code spans included, as GitHub
    splits rows before it finds code spans)."""
    return len(re.split(r"(?<!\\)\|", row.replace("\\\\", ""))) - 2


def test_markdown_has_the_summary_findings_table_and_gantt() -> None:
    text = render_markdown(result())
    assert text.startswith("### gitops-release trace: ghcr.io/org/app:sha-aaaaaaa\n")
    assert "Present in stage." in text
    assert "- ⚠️ **mismatch** (dev): db channel dev holds sha-aaaaaaa, the dev overlay does not" in text
    rows = table_rows(text)
    assert rows[0] == (
        "| environment | present | live | since (UTC) | how it arrived | soak | replaced by (UTC) |"
    )
    assert len(rows) == 5 and all(cells(row) == 7 for row in rows)
    assert rows[2].endswith("| sha-bbbbbbb (promote, 2026-03-04 09:00) |")
    assert rows[3].startswith(
        "| stage | ✅ yes | ✅ yes (app-stage) | 2026-03-03 14:00 | promote from dev, PR #\u206012 by alice |"
    )
    assert "[build run](<https://github.com/org/app-src/actions/runs/1>)" in text
    assert "([deployment 7](<https://argocd.example/applications/app-stage>))" in text
    assert text.count("```mermaid\n") == 1 and "\n```\n" in text
    assert "<details><summary>Events</summary>" in text and text.rstrip().endswith("</details>")


def outside_fences(markdown: str) -> str:
    """The Markdown without its fenced blocks (GitHub makes no link or mention inside them)."""
    return re.sub(r"```mermaid\n.*?\n```\n", "", markdown, flags=re.DOTALL)


def test_markdown_neutralises_every_untrusted_value() -> None:
    text = render_markdown(hostile_result())
    prose = outside_fences(text)
    # No raw HTML, image, link, mention or cross-reference from the values.
    assert "<img" not in text and "javascript" not in text and "![" not in text
    assert "](https://evil" not in prose and "](<https://evil" not in prose
    assert "@admin" not in prose and "@" + WORD_JOINER + "admin" in prose
    assert "#12" not in prose and "org/repo#3" not in prose and "GH-4" not in prose
    assert "www.evil" not in prose and "https://evil" not in prose
    assert "\x1b" not in text and "\r" not in text
    for row in table_rows(text):
        assert cells(row) == 7, row
    # The same neutraliser as report-status's comment (code spans as plain text too): a cell is
    # exactly markdown_text's form.
    assert "| " + markdown_text(HOSTILE, 200, code_spans=False) + " |" in text
    # A value can open no fence and no HTML block: ours are the only ones.
    assert text.count("```") == 2 and text.count("<details>") == 1


def test_markdown_says_not_found() -> None:
    empty = result(found=False, images=(), environments=(), timeline=(), findings=(), image_of_environment=())
    text = render_markdown(empty)
    assert "**Not found**: nothing in the history read matches ghcr.io/org/app:sha-aaaaaaa." in text
    assert "```mermaid" not in text and not table_rows(text)


def fence_lines(markdown: str) -> list[str]:
    """Lines that open or close a fenced block (CommonMark: up to 3 spaces, inside a list item too)."""
    return [line for line in markdown.splitlines() if re.match(r" {0,3}(- +)?(`{3,}|~{3,})", line)]


@pytest.mark.parametrize("found", [False, True])
def test_no_value_opens_closes_or_joins_a_fence_or_code_span(found: bool) -> None:
    # Backtick and tilde runs in the values printed around and in the "Not found" line, the
    # notes and deployments (list items), the findings, the events and the table.
    ticks = "```"
    answer = result(
        found=found,
        query=Query(raw=f"app:{ticks}", kind="tag", tag=ticks),
        ref=f"{ticks}main `",
        head=ticks + "abcd",
        notes=(ticks, "~~~ note", "`` a ``` b", "````"),
        findings=(Finding("drift", ticks, f"{ticks}js"),),
        timeline=(TimelineEvent(T0, "`dev`", "overlay", ticks, SHA, "~~~"),),
    )
    env = answer.environments[1]
    deploy = replace(env.deployments[0], environment=f"{ticks}js", creator="`x`")
    answer = replace(answer, environments=(answer.environments[0], replace(env, deployments=(deploy,))))
    answer = replace(answer, image_of_environment=(0, 0))
    text = render_markdown(answer)
    # The gantt's fence is the only one; no backtick of a value is left anywhere else (an event's
    # commit is ours: a checked hex sha in a code span).
    assert fence_lines(text) == ["```mermaid", "```"]
    assert "`" not in re.sub(r"`[0-9a-f]{7}`", "", outside_fences(text))
    where = "History of &#x60;&#x60;&#x60;main &#x60; at &#x60;&#x60;&#x60;abcd,"
    assert where in text
    assert "- \\~~~ note" not in text and "- \\~\\~\\~ note" in text
    assert "- &#x60;&#x60;&#x60;" in text
    for row in table_rows(text):
        assert cells(row) == 7, row
    assert text.count("```") % 2 == 0


def big_result(events: int) -> TraceResult:
    many = tuple(
        TimelineEvent(T0 + timedelta(minutes=i), "dev", "overlay", "promote", SHA, "x" * 300 + f" {i}")
        for i in range(events)
    )
    findings = tuple(Finding("gap", "stage", "y" * 900 + f" {i}") for i in range(events))
    return result(timeline=many, findings=findings)


@pytest.mark.parametrize("max_bytes", [2_000, 5_000, 50_000])
def test_markdown_is_cut_to_max_bytes_with_a_line_saying_so(max_bytes: int) -> None:
    text = render_markdown(big_result(400), max_bytes=max_bytes)
    assert len(text.encode("utf-8")) <= max_bytes
    assert text.endswith(CUT_LINE.format(limit=max_bytes) + "\n")
    assert text.count("```") % 2 == 0  # never an open fence
    assert text.count("<details>") == text.count("</details>")


def test_markdown_under_the_step_summary_limit_is_whole() -> None:
    text = render_markdown(big_result(40))
    assert len(text.encode("utf-8")) <= STEP_SUMMARY_LIMIT
    assert "cut:" not in text and text.count("- 🕳️ **gap** (stage)") == 40


def test_markdown_default_cap_is_githubs_step_summary_limit() -> None:
    text = render_markdown(big_result(2_000))
    assert len(text.encode("utf-8")) <= 1_000_000
    assert text.endswith(CUT_LINE.format(limit=1_000_000) + "\n")


def test_markdown_refuses_a_cap_too_small_for_the_cut_line() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        render_markdown(result(), max_bytes=100)


# -- Mermaid ------------------------------------------------------------------------------------

TASK = re.compile(
    r"^    (?P<label>[^:;#%`\n{}]+) :(?:active, )?s\d+, "
    r"(?P<start>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d), (?P<end>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)$"
)
SECTION = re.compile(r"^  section [^:;#%`\n{}]+$")


def gantt_lines(text: str) -> list[str]:
    assert text.startswith("```mermaid\ngantt\n") and text.endswith("\n```\n")
    return text.splitlines()[2:-1]


def test_mermaid_is_a_gantt_with_a_section_per_environment_and_a_task_per_stay() -> None:
    lines = gantt_lines(render_mermaid(result()))
    assert "  dateFormat YYYY-MM-DDTHH:mm:ss" in lines
    sections = [line for line in lines if line.startswith("  section ")]
    assert sections == ["  section dev", "  section stage"]  # prod never held it: no section
    tasks = [TASK.match(line) for line in lines if line.startswith("    ")]
    assert all(tasks) and len(tasks) == 2
    dev, stage = tasks
    assert dev and dev["label"].startswith("dispatch sha-aaaaaaa by alice")
    assert (dev["start"], dev["end"]) == ("2026-03-01T09:00:00", "2026-03-04T09:00:00")
    # The open stay is active and ends at generated_at.
    assert stage and stage["label"] == "promote sha-aaaaaaa PR 12 by alice"
    assert ":active, " in lines[lines.index(stage.group(0))]
    assert stage["end"] == "2026-03-11T09:00:00"


@pytest.mark.parametrize(
    "text",
    [
        "a:b",
        "a;b",
        "a#b",
        "a\nb",
        "%%{init: {'theme':'dark'}}%%",
        "```\n# heading",
        "title injected",
        "x :crit, t9, 2020-01-01, 1d",
        "</code><script>",
        "\u202eevil",
    ],
)
def test_mermaid_labels_cannot_break_the_chart_or_the_fence(text: str) -> None:
    label = mermaid_label(text)
    assert not set(label) & set(':;#%`\n{}<>"')
    assert label.isprintable()
    hostile = render_mermaid(
        result(
            query=Query(raw=text, kind="tag", tag=text),
            environments=tuple(
                replace(env, environment=text, stays=(stay(by=text, pull_request=None),))
                for env in result().environments
            ),
        )
    )
    for line in gantt_lines(hostile):
        if line.startswith("    "):
            assert TASK.match(line), line
        elif line.startswith("  section"):
            assert SECTION.match(line), line
        else:
            assert re.match(r"^  (title [^:;#%`{}]*|dateFormat .*|axisFormat .*|%% .*)$", line), line


def test_mermaid_keeps_a_colon_readable_as_a_look_alike() -> None:
    assert mermaid_label("ghcr.io/org/app:v1") == "ghcr.io/org/app\ua789v1"


def test_mermaid_draws_the_newest_stays_and_says_how_many_were_left_out() -> None:
    stays = tuple(stay(T0 + timedelta(hours=i), T0 + timedelta(hours=i, minutes=30)) for i in range(250))
    env = replace(result().environments[0], stays=stays)
    text = render_mermaid(result(environments=(env,), image_of_environment=(0,)))
    tasks = [line for line in text.splitlines() if line.startswith("    ")]
    assert len(tasks) == MERMAID_MAX_TASKS
    assert "  %% 50 older stays not drawn (the json output has them)" in text
    assert TASK.match(tasks[0]) and TASK.match(tasks[0])["start"] == "2026-03-03T11:00:00"  # type: ignore[index]


def test_mermaid_names_the_image_in_each_section_when_several_matched() -> None:
    second = MatchedImage(container="api", image="ghcr.io/org/api", tag="v2", digest=None)
    base = result()
    envs = (*base.environments, replace(base.environments[1], stays=(stay(),)))
    text = render_mermaid(
        replace(base, images=(*base.images, second), environments=envs, image_of_environment=(0, 0, 0, 1))
    )
    sections = [line for line in text.splitlines() if line.startswith("  section ")]
    assert sections == ["  section dev sha-aaaaaaa", "  section stage sha-aaaaaaa", "  section stage v2"]


# -- JSON ---------------------------------------------------------------------------------------


def test_schema_is_a_valid_closed_draft_2020_12_schema_with_descriptions() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, where
                assert set(node["required"]) == set(node["properties"]), where
                for key, child in node["properties"].items():
                    assert child.get("description"), f"{where}.{key} has no description"
            for key, child in node.items():
                walk(child, f"{where}.{key}")
        elif isinstance(node, list):
            for child in node:
                walk(child, where)

    walk(SCHEMA, "$")


def test_json_of_the_example_validates_and_says_it_all() -> None:
    data = trace_json(result())
    VALIDATOR.validate(data)
    assert data["presentIn"] == ["stage"]
    assert data["generatedAt"] == "2026-03-11T09:00:00Z"
    stage = data["environments"][1]
    assert stage["since"] == "2026-03-03T14:00:00Z" and stage["live"] is True and stage["image"] == 0
    assert stage["stays"][0]["arrival"] == {
        "kind": "promote",
        "at": "2026-03-03T14:00:00Z",
        "commit": SHA,
        "pullRequest": 12,
        "by": "alice",
        "sourceEnvironment": "dev",
        "subject": "Promote dev -> stage (#12)",
    }
    assert stage["deployments"][0]["createdAt"] == "2026-03-03T15:00:00Z"
    assert data["environments"][0]["soakSeconds"] == 190_800
    assert json.loads(json.dumps(data)) == data  # plain JSON types only


def test_json_times_are_utc_with_z_whatever_zone_they_came_in() -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    data = trace_json(result(generated_at=datetime(2026, 3, 11, 14, 30, tzinfo=east)))
    assert data["generatedAt"] == "2026-03-11T09:00:00Z"
    naive = trace_json(result(generated_at=datetime(2026, 3, 11, 9, 0)))
    assert naive["generatedAt"] == "2026-03-11T09:00:00Z"


@pytest.mark.parametrize(
    "answer",
    [
        result(),
        hostile_result(),
        result(found=False, images=(), environments=(), timeline=(), findings=(), image_of_environment=()),
        # An answer whose EnvTraces carry no image index (the model's default).
        result(image_of_environment=()),
    ],
    ids=["example", "hostile", "not-found", "no-image-index"],
)
def test_json_validates_against_the_schema(answer: TraceResult) -> None:
    VALIDATOR.validate(trace_json(answer))


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ((), "presentin"),
        (("query",), "source_sha"),
        (("environments", 0), "soak"),
        (("findings", 0), "kinds"),
    ],
)
def test_schema_refuses_a_misspelt_key(path: tuple[Any, ...], key: str) -> None:
    data = trace_json(result())
    node: Any = data
    for step in path:
        node = node[step]
    node[key] = node.pop(next(iter(node)))
    assert list(VALIDATOR.iter_errors(data)), f"{path} {key}"


def test_schema_refuses_a_time_without_z_and_an_unknown_finding_kind() -> None:
    data = trace_json(result())
    data["generatedAt"] = "2026-03-11T09:00:00+00:00"
    assert list(VALIDATOR.iter_errors(data))
    data = trace_json(result())
    data["findings"][0]["kind"] = "oops"
    assert list(VALIDATOR.iter_errors(data))


TEXT = st.text(max_size=40)
MOMENT = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
)
KIND = st.sampled_from(["dispatch", "promote", "rollback", "revert", "pin", "edit", "initial"])


@st.composite
def stays(draw: st.DrawFn) -> Stay:
    start = draw(MOMENT)
    left = draw(st.none() | st.just(start + timedelta(seconds=draw(st.integers(0, 10**8)))))
    return Stay(
        Arrival(
            draw(KIND),
            start,
            draw(TEXT),
            draw(st.none() | st.integers(1, 10**6)),
            draw(st.none() | TEXT),
            draw(st.none() | TEXT),
            draw(TEXT),
        ),
        left,
        draw(st.none() | TEXT),
        draw(st.none() | TEXT),
        draw(st.none() | KIND),
    )


@st.composite
def answers(draw: st.DrawFn) -> TraceResult:
    images = tuple(
        MatchedImage(*draw(st.tuples(st.none() | TEXT, TEXT, st.none() | TEXT, st.none() | TEXT)))
        for _ in range(draw(st.integers(0, 3)))
    )
    envs = tuple(
        EnvTrace(
            draw(TEXT),
            draw(st.booleans()),
            draw(st.none() | st.booleans()),
            draw(st.none() | MOMENT),
            tuple(draw(st.lists(stays(), max_size=3))),
            tuple(draw(st.lists(stays(), max_size=2))),
            draw(st.none() | st.floats(0, 10**9)),
            draw(st.none() | TEXT),
        )
        for _ in range(draw(st.integers(0, 4)))
    )
    owners = tuple(draw(st.integers(0, len(images) - 1)) for _ in envs) if images else ()
    return TraceResult(
        query=Query(raw=draw(TEXT), kind="tag", tag=draw(TEXT)),
        found=draw(st.booleans()),
        images=images,
        environments=envs,
        timeline=tuple(
            TimelineEvent(draw(MOMENT), draw(TEXT), "db", draw(TEXT), draw(st.none() | TEXT), draw(TEXT))
            for _ in range(draw(st.integers(0, 3)))
        ),
        findings=tuple(
            Finding(draw(st.sampled_from(["drift", "gap", "mismatch", "skipped"])), None, draw(TEXT))
            for _ in range(draw(st.integers(0, 2)))
        ),
        ref=draw(TEXT),
        head=draw(TEXT),
        generated_at=draw(MOMENT),
        notes=tuple(draw(st.lists(TEXT, max_size=2))),
        image_of_environment=owners,
    )


@settings(max_examples=150, deadline=None)
@given(answers())
def test_any_answer_renders_in_every_form_and_its_json_validates(answer: TraceResult) -> None:
    VALIDATOR.validate(trace_json(answer))
    assert all(len(line) <= 100 for line in render_table(answer).splitlines())
    markdown = render_markdown(answer, max_bytes=4_000)
    assert len(markdown.encode("utf-8")) <= 4_000 and markdown.count("```") % 2 == 0
    for row in table_rows(markdown):
        assert cells(row) == 7, row
    for line in gantt_lines(render_mermaid(answer)):
        if line.startswith("    "):
            assert TASK.match(line), line
    # Deterministic: the same answer renders byte-identical text.
    assert render_markdown(answer, max_bytes=4_000) == markdown
