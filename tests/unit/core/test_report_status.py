"""report-status's pure rules (core/report_status.py): job status -> states, GitHub's limits on
descriptions, contexts, environments and URLs, the results JSON, the marked pull request comment."""

from __future__ import annotations

import json
import re

import pytest

from gitops_release.core.report_status import (
    COMMENT_LIMIT,
    COMMIT_STATES,
    DEFAULT_CONTEXT,
    DEPLOYMENT_STATES,
    DESCRIPTION_LIMIT,
    ResultRow,
    check_context,
    check_environment,
    check_url,
    comment_marker,
    commit_state_for_job,
    cut_description,
    deployment_state_for_job,
    is_marked,
    markdown_link_target,
    markdown_text,
    parse_results,
    preview_environment,
    render_comment,
)
from gitops_release.errors import InputError

SHA = "0123456789abcdef0123456789abcdef01234567"
RUN_URL = "https://github.com/o/config/actions/runs/42"


def comment(**overrides: object) -> str:
    values: dict[str, object] = {
        "context": DEFAULT_CONTEXT,
        "state": "success",
        "sha": SHA,
        "description": "Release data prepared and validated",
        "target_url": RUN_URL,
        "results": (),
        "repository": "o/config",
        "run_url": RUN_URL,
        "when": "2024-05-01T10:00:00Z",
    }
    values.update(overrides)
    return render_comment(**values)  # type: ignore[arg-type]


# -- states -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job", "state"),
    [("success", "success"), ("failure", "failure"), ("cancelled", "error"), (" Cancelled ", "error")],
)
def test_job_status_maps_to_a_final_state(job: str, state: str) -> None:
    assert commit_state_for_job(job) == state
    assert deployment_state_for_job(job) == state
    assert state in COMMIT_STATES and state in DEPLOYMENT_STATES


@pytest.mark.parametrize(
    ("job", "state"),
    [("Succeeded", "success"), ("Failed", "failure"), ("Error", "error"), ("SUCCEEDED", "success")],
)
def test_argo_workflow_status_maps_to_a_final_state(job: str, state: str) -> None:
    """Argo Workflows' {{workflow.status}} in an exit handler reports like ${{ job.status }}."""
    assert commit_state_for_job(job) == state
    assert deployment_state_for_job(job) == state


@pytest.mark.parametrize("job", ["", "skipped", "pending", "Running", "Omitted"])
def test_unknown_job_status_is_refused(job: str) -> None:
    with pytest.raises(ValueError, match="job-status"):
        commit_state_for_job(job)
    with pytest.raises(ValueError, match=r"success, failure, cancelled.*Succeeded, Failed, Error"):
        deployment_state_for_job(job)


# -- description ------------------------------------------------------------------------------------


def test_description_within_the_limit_is_kept() -> None:
    text = "x" * DESCRIPTION_LIMIT
    assert cut_description(text) == text


def test_long_description_is_cut_to_140_with_an_ellipsis() -> None:
    text = "Release data prep failed; see workflow logs. " * 10
    cut = cut_description(text)
    assert cut == text[:139].rstrip() + "…" and len(cut) <= DESCRIPTION_LIMIT
    assert cut_description("y" * 141) == "y" * 139 + "…"  # exactly 140: GitHub takes it


def test_description_is_one_line() -> None:
    assert cut_description("  prep\tfailed\n\nsee   logs\r\n") == "prep failed see logs"
    assert cut_description("a\x00b\x1b[31mc\u2028d") == "a b [31mc d"


def test_cut_keeps_a_letter_with_its_combining_marks() -> None:
    # 139 letters then an e with a combining acute: the cut must drop "e" and its mark together.
    text = "a" * 138 + "e\u0301" + "z" * 10
    cut = cut_description(text)
    assert cut == "a" * 138 + "…"


def test_cut_keeps_an_emoji_zwj_sequence_whole() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 5 code points, one picture
    text = "a" * 136 + family + "tail"
    cut = cut_description(text)
    assert cut == "a" * 136 + "…"


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        # A joiner then a space: the space is stripped before the ellipsis, which must not leave
        # the joiner (it joins nothing) at the end; the character it hangs on goes with it.
        ("0" * 31 + "\u200d 00", 34, "0" * 30 + "…"),
        ("ab \u200d\u200d cd", 5, "ab…"),
        ("x" * 10 + "\U0001f468\u200d \U0001f469", 13, "x" * 10 + "…"),
        # A variation selector or a combining mark then a space stays on its base character.
        ("0" * 31 + "\ufe0f 00", 34, "0" * 31 + "\ufe0f…"),
        ("a" * 31 + "\u0301 00", 34, "a" * 31 + "\u0301…"),
        # The cut falls on a mark or selector: it goes with its base, not left on its own.
        ("a" * 32 + "\u0301\u0302b", 34, "a" * 31 + "…"),
        ("0" * 32 + "\ufe0fb", 33, "0" * 31 + "…"),
    ],
)
def test_a_cut_leaves_no_joiner_selector_or_mark_dangling(text: str, limit: int, expected: str) -> None:
    cut = cut_description(text, limit)
    assert cut == expected
    kept = cut[:-1]
    assert kept[-1] != "\u200d" and len(cut) <= limit


def test_cut_never_splits_a_flag() -> None:
    flags = "\U0001f1e9\U0001f1ea" * 100  # 200 code points, 100 flags
    cut = cut_description(flags)
    assert len(cut[:-1]) % 2 == 0 and cut.endswith("…")


def test_lone_surrogates_become_replacement_characters() -> None:
    assert cut_description("a\ud800b") == "a\ufffdb"
    cut_description("x\udcff" * 100).encode("utf-8")  # encodable: GitHub can be sent it


def test_zalgo_keeps_the_base_letter() -> None:
    assert cut_description("a" + "\u0301" * 300) == "a…"


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        cut_description("abc", 0)
    assert cut_description("abc", 1) == "…"


# -- URLs, contexts, environments -------------------------------------------------------------------


def test_valid_url_is_returned_stripped() -> None:
    assert check_url("target-url", f"  {RUN_URL}\n") == RUN_URL
    assert check_url("target-url", "http://127.0.0.1:8080/a?b=c#d") == "http://127.0.0.1:8080/a?b=c#d"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "is empty"),
        ("ftp://example.com/x", "https://"),
        ("javascript:alert(1)", "https://"),
        ("example.com/x", "https://"),
        ("https://", "no host"),
        ("https://exa mple.com", "whitespace"),
        ("https://example.com/\x07", "control"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/" + "a" * 2048, "at most 2048"),
    ],
)
def test_bad_url_names_the_field(value: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as info:
        check_url("environment-url", value)
    assert info.value.field == "environment-url" and info.value.fix


@pytest.mark.parametrize(
    "value",
    ["https://user:ghp_secret0123@example.com/x", "https://ghp_secret0123@example.com", "http://a:b@h/"],
)
def test_url_with_credentials_is_refused_without_echoing_them(value: str) -> None:
    with pytest.raises(InputError, match="user name or password") as info:
        check_url("log-url", value)
    assert "secret" not in info.value.one_line() and ":b@" not in info.value.one_line()


def test_context_rules() -> None:
    assert check_context(" release-data-prep/pr ") == "release-data-prep/pr"
    assert check_context("c" * 255) == "c" * 255
    for bad, problem in (("", "empty"), ("   ", "empty"), ("c" * 256, "at most 255"), ("a\nb", "control")):
        with pytest.raises(InputError, match=problem) as info:
            check_context(bad)
        assert info.value.field == "context"


def test_environment_rules() -> None:
    assert check_environment("staging ") == "staging"
    assert check_environment("preview/pr-7") == "preview/pr-7"
    for bad, problem in (
        ("", "empty"),
        ("\t \n", "empty"),
        ("e" * 256, "at most 255"),
        ("a\x00b", "control"),
    ):
        with pytest.raises(InputError, match=problem) as info:
            check_environment(bad)
        assert info.value.field == "environment"


def test_preview_environment() -> None:
    assert preview_environment(123) == "preview/pr-123"
    for bad in (0, -1, True):
        with pytest.raises(InputError) as info:
            preview_environment(bad)
        assert info.value.field == "pull-request"


# -- results ----------------------------------------------------------------------------------------


def test_results_from_an_array_or_an_object() -> None:
    rows = [
        {"name": "schema", "result": "success", "details": "12 files", "url": RUN_URL},
        {"name": "a", "result": "b"},
    ]
    expected = (ResultRow("schema", "success", "12 files", RUN_URL), ResultRow("a", "b"))
    assert parse_results(json.dumps(rows)) == expected
    assert parse_results(json.dumps({"results": rows})) == expected
    assert parse_results("  ") == ()
    assert parse_results("[]") == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[", "not valid JSON"),
        ('"x"', "string, not an array"),
        ('{"rows": []}', "'results' key"),
        ("[1]", r"results\[0\] is a JSON number"),
        ('[{"name": "a"}]', r"results\[0\]\.result is missing"),
        ('[{"name": "a", "result": 1}]', r"results\[0\]\.result is a JSON number"),
        ('[{"name": "a", "result": "ok", "detail": "x"}]', r"results\[0\] has unknown key\(s\) detail"),
        ('[{"name": "a", "result": "ok", "url": "https://u:p@h/"}]', r"results\[0\]\.url must not contain"),
        ('[{"name": "a", "result": "ok", "url": "file:///etc"}]', r"results\[0\]\.url must start"),
        ("[" * 100_000 + "]" * 100_000, "JSON"),
        ("1" * 10_000, "JSON"),
    ],
)
def test_bad_results_name_the_row_and_key(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as info:
        parse_results(text)
    assert info.value.field == "results" and info.value.fix


def test_results_errors_name_the_input_they_came_from() -> None:
    with pytest.raises(InputError, match=r"results-file\[0\]\.name is missing") as info:
        parse_results('[{"result": "ok"}]', "results-file")
    assert info.value.field == "results-file"


def test_results_are_bounded() -> None:
    with pytest.raises(InputError, match="201 rows; at most 200"):
        parse_results(json.dumps([{"name": "a", "result": "b"}] * 201))
    with pytest.raises(InputError, match=r"results\[1\]\.details is 1001 characters"):
        parse_results(
            json.dumps([{"name": "a", "result": "b"}, {"name": "a", "result": "b", "details": "d" * 1001}])
        )
    with pytest.raises(InputError, match="characters long"):
        parse_results(" " * 5_000_001 + "[]")


# -- marker and comment -----------------------------------------------------------------------------


def test_marker_is_the_first_line_and_per_context() -> None:
    body = comment(context="release-data-prep/pr")
    assert body.splitlines()[0] == '<!-- gitops-release:report-status context="release-data-prep/pr" -->'
    assert is_marked(body, "release-data-prep/pr")
    assert not is_marked(body, "release-data-prep")
    assert is_marked(body.replace("\n", "\r\n"), "release-data-prep/pr")  # GitHub may store CRLF


def test_marker_further_down_does_not_count() -> None:
    quoted = "> quoting the bot\n" + comment()
    assert not is_marked(quoted, DEFAULT_CONTEXT)
    assert not is_marked("", DEFAULT_CONTEXT)


@pytest.mark.parametrize("context", ["a-->b", "x--!>", "a--", '"><script>', "50%", "-->", "a---b"])
def test_marker_escaping_cannot_close_the_comment(context: str) -> None:
    marker = comment_marker(context)
    inner = marker[len("<!--") : -len("-->")]
    assert "--" not in inner and ">" not in inner and "\n" not in marker
    assert marker.count('"') == 2


def test_distinct_contexts_have_distinct_markers() -> None:
    contexts = ["a--b", "a%2D-b", "a%2D%2Db", "a-%2Db", "a- -b"]
    assert len({comment_marker(c) for c in contexts}) == len(contexts)


def test_comment_shows_state_commit_description_and_links() -> None:
    body = comment(state="failure", description="Release data prep failed; see workflow logs")
    lines = body.splitlines()
    assert lines[2] == "### ❌ release-data-prep: failure"
    assert "Commit `0123456`" in body and "Release data prep failed; see workflow logs" in body
    assert f"[details](<{RUN_URL}>)" in body and "o/config" in body and "2024-05-01T10:00:00Z" in body
    assert "| check |" not in body  # no results, no table


def test_comment_table_escapes_cells() -> None:
    rows = (
        ResultRow("schema|files", "success", "line one\nline two | with pipe `code|span` @team", RUN_URL),
        ResultRow("x]y\\", "failed", "<!-- hidden --> <img src=x>"),
    )
    body = comment(results=rows)
    table = [line for line in body.splitlines() if line.startswith("|")]
    assert table[:2] == ["| check | result | details |", "| --- | --- | --- |"]
    assert table[2] == (
        f"| [schema\\|files](<{RUN_URL}>) | ✅ success | line one line two \\| with pipe "
        "`code\\|span` @\u2060team |"
    )
    assert table[3] == "| x\\]y\\\\ | ❌ failed | &lt;!-- hidden --> &lt;img src=x> |"
    assert body.count("<!--") == 1  # only the marker


def test_comment_without_when_has_no_time_and_is_the_same_on_every_render() -> None:
    """A re-run with nothing changed renders the same bytes, so the comment is not edited."""
    values = {
        "context": DEFAULT_CONTEXT,
        "state": "success",
        "sha": SHA,
        "description": "done",
        "target_url": RUN_URL,
        "results": (ResultRow("schema", "pass", "12 files"),),
        "repository": "o/config",
        "run_url": RUN_URL,
    }
    body = render_comment(**values)  # type: ignore[arg-type]
    assert body == render_comment(**values)  # type: ignore[arg-type]
    assert body.splitlines()[-1] == (
        f"<sub>Reported by gitops-release report-status for o/config in [this run](<{RUN_URL}>).</sub>"
    )
    assert " at " not in body.splitlines()[-1]
    assert "at 2024-05-01T10:00:00Z." in comment(when="2024-05-01T10:00:00Z")


@pytest.mark.parametrize(
    ("details", "shown"),
    [
        ("![ok](https://evil.example/x.png)", "!\\[ok\\](https\u2060://evil.example/x.png)"),
        (
            "[Re-run as admin](https://evil.example/login)",
            "\\[Re-run as admin\\](https\u2060://evil.example/login)",
        ),
        ("see org/other#1 and #2, GH-3", "see org/other#\u20601 and #\u20602, GH-\u20603"),
        (
            "visit www.evil.example or http://x.example",
            "visit www\u2060.evil.example or http\u2060://x.example",
        ),
        ("<https://evil.example> <img src=x>", "&lt;https\u2060://evil.example> &lt;img src=x>"),
        ("[^1] [x]: https://evil.example", "\\[^1\\] \\[x\\]: https\u2060://evil.example"),
        ("a\\| forged", "a\\\\\\| forged"),
        ("run `make [x] | y` then `a\\|b`", "run `make [x] \\| y` then `a\\\\\\|b`"),
    ],
    ids=["image", "link", "references", "autolinks", "html", "footnote", "backslash-pipe", "code"],
)
def test_comment_cells_show_results_as_text_only(details: str, shown: str) -> None:
    """Results come from a PR's prep (or a fork's artifact): they must not add a link, an image, HTML,
    a cross-repository backreference or a table cell to a comment the bot signs; code stays readable."""
    body = comment(results=(ResultRow("schema", "failed", details),))
    [row] = [line for line in body.splitlines() if line.startswith("| schema")]
    assert row == f"| schema | ❌ failed | {shown} |"


@pytest.mark.parametrize(
    ("text", "code_spans", "shown"),
    [
        # An unmatched run is text: as entities, it cannot pair with a backtick printed after it.
        ("a ``` b", True, "a &#x60;&#x60;&#x60; b"),
        ("`x` and ` lone", True, "`x` and &#x60; lone"),
        ("~~~ fence ~~strike~~", True, "\\~\\~\\~ fence \\~\\~strike\\~\\~"),
        # Without code spans no backtick is left at all.
        ("`x|y` and ```", False, "&#x60;x\\|y&#x60; and &#x60;&#x60;&#x60;"),
    ],
)
def test_markdown_text_leaves_no_backtick_run_or_tilde_that_opens_a_fence(
    text: str, code_spans: bool, shown: str
) -> None:
    assert markdown_text(text, code_spans=code_spans) == shown


def test_a_description_of_backticks_opens_no_fence_that_swallows_the_comment() -> None:
    # No sha: the description starts its line, where ``` or ~~~ would open a fence to the end.
    for description in ("```js", "~~~"):
        body = comment(sha="", description=description, results=(ResultRow("schema", "failed", "``` x"),))
        assert not [line for line in body.splitlines() if re.match(r" {0,3}(`{3,}|~{3,})", line)], body
        assert "| schema | ❌ failed | &#x60;&#x60;&#x60; x |" in body


def test_a_link_target_holds_no_backtick() -> None:
    assert markdown_link_target("https://x.example/a`b") == "<https://x.example/a%60b>"


def test_comment_with_too_many_rows_says_how_many_are_left_out() -> None:
    rows = tuple(ResultRow(f"row {i}", "success", "d" * 1000) for i in range(200))
    body = comment(results=rows)
    assert len(body) <= COMMENT_LIMIT
    shown = sum(1 for line in body.splitlines() if line.startswith("| row "))
    assert 0 < shown < 200
    assert f"{200 - shown} more rows not shown" in body
    assert body.splitlines()[0] == comment_marker(DEFAULT_CONTEXT)


def test_comment_drops_invalid_links_and_refuses_a_bad_context() -> None:
    body = comment(target_url="javascript:alert(1)", run_url="https://u:p@github.com/x")
    assert "javascript" not in body and "u:p@" not in body
    with pytest.raises(InputError) as info:
        comment(context="")
    assert info.value.field == "context"
