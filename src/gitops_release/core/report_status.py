"""report-status's pure rules: GitHub commit / deployment states, the limits GitHub enforces on
descriptions, contexts, environments and URLs, the pull request summary comment with its hidden
marker, and the deployment status an await-argocd-sync evidence bundle stands for.

Pure: no I/O, no clock (the comment carries a time only when the caller passes ``when``),
standard library only. Bad input raises ``InputError`` naming the input and the fix before anything is sent.

Lengths are counted as GitHub counts them: Unicode code points for a description (GitHub answers
422 above 140), UTF-16 code units for a comment body (never more than code points, so a body
within 65,536 units is within GitHub's limit however it counts).
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitops_release.errors import InputError

COMMIT_STATES = ("pending", "success", "failure", "error")
DEPLOYMENT_STATES = ("queued", "in_progress", "pending", "success", "failure", "error", "inactive")
JOB_STATUSES = ("success", "failure", "cancelled")
DEFAULT_CONTEXT = "release-data-prep"
DESCRIPTION_LIMIT = 140  # GitHub: commit status and deployment status description
CONTEXT_LIMIT = 255
ENVIRONMENT_LIMIT = 255
PREVIEW_PREFIX = "preview/pr-"
URL_LIMIT = 2048
COMMENT_LIMIT = 65536  # GitHub: issue comment body
ELLIPSIS = "…"

#: parse_results bounds: rows, characters per string, characters of the whole JSON text
RESULTS_MAX_ROWS = 200
RESULTS_MAX_CHARS = 1000
RESULTS_MAX_TEXT = 5_000_000
RESULT_KEYS = ("name", "result", "details", "url")

#: GitHub Actions' ``${{ job.status }}`` and Argo Workflows' ``{{workflow.status}}`` (an exit handler
#: reports the same way) -> the final state, never pending
_JOB_TO_STATE = {
    "success": "success",
    "failure": "failure",
    "cancelled": "error",
    "succeeded": "success",
    "failed": "failure",
    "error": "error",
}
ARGO_WORKFLOW_STATUSES = ("Succeeded", "Failed", "Error")
#: await-argocd-sync's evidence ``outcome`` (commands/await_argocd_sync.py ``_outcome``) -> state
EVIDENCE_OUTCOMES = {
    "done": "success",
    "failed": "failure",
    "timeout": "error",
    "cancelled": "error",
    "error": "error",
}
_HEX_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


# -- states -----------------------------------------------------------------------------------------


def _for_job(job_status: str, field: str) -> str:
    word = job_status.strip().lower() if isinstance(job_status, str) else ""
    if word not in _JOB_TO_STATE:
        raise ValueError(
            f"{field}: '{job_status}' is not a job status; expected one of {', '.join(JOB_STATUSES)} "
            f"(${{{{ job.status }}}}) or {', '.join(ARGO_WORKFLOW_STATUSES)} (Argo Workflows' "
            "{{workflow.status}})"
        )
    return _JOB_TO_STATE[word]


def commit_state_for_job(job_status: str) -> str:
    """``${{ job.status }}`` -> commit status state: success -> success, failure -> failure,
    cancelled -> error (a cancelled run must still leave a final state, never pending); also
    Argo Workflows' ``{{workflow.status}}``: Succeeded -> success, Failed -> failure, Error ->
    error. Case-insensitive; ValueError for anything else (the command turns it into InputError)."""
    return _for_job(job_status, "job-status")


def deployment_state_for_job(job_status: str) -> str:
    """``${{ job.status }}`` -> deployment status state (the same mapping as commit states)."""
    return _for_job(job_status, "job-status")


# -- text -------------------------------------------------------------------------------------------


def _is_extend(char: str) -> bool:
    """A code point that belongs to the character before it: a combining mark, a zero-width
    joiner, a variation selector, an emoji skin-tone modifier, a tag character."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or code == 0x200D
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _is_boundary(text: str, index: int) -> bool:
    """Whether cutting ``text`` before ``index`` keeps every user-perceived character whole
    (a simplified grapheme rule: marks, joiners, flags, Hangul jamo)."""
    if index <= 0 or index >= len(text):
        return True
    before, after = text[index - 1], text[index]
    if _is_extend(after) or ord(before) == 0x200D:
        return False
    if 0x1100 <= ord(before) <= 0x11FF and 0x1160 <= ord(after) <= 0x11FF:  # L/V/T jamo
        return False
    if _is_regional(before) and _is_regional(after):
        run = 0
        while index - 1 - run >= 0 and _is_regional(text[index - 1 - run]):
            run += 1
        return run % 2 == 0  # an odd run before: ``after`` completes a flag
    return True


def _clean(text: str) -> str:
    """One line: control and format-breaking characters -> space, whitespace runs -> one space,
    stripped; a lone surrogate (unencodable, GitHub would refuse the request) -> U+FFFD."""
    chars = []
    for char in text:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            chars.append("\ufffd")
        elif unicodedata.category(char) == "Cc" or code in (0x2028, 0x2029):
            chars.append(" ")
        else:
            chars.append(char)
    return " ".join("".join(chars).split())


def cut_description(text: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """``text`` as one line (whitespace runs -> one space, stripped) of at most ``limit`` code
    points, ending in "…" when cut. The cut never splits a character from its combining marks,
    joiners or modifiers, nor a flag's two halves. GitHub refuses (422) a longer description."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    line = _clean(text)
    if len(line) <= limit:
        return line
    cut = limit - len(ELLIPSIS)
    while cut > 0:
        # The space stripped before the ellipsis moves the cut: it must still be a boundary, or a
        # joiner followed by a space ("a\u200d b") would be left dangling at the end.
        cut = len(line[:cut].rstrip())
        if _is_boundary(line, cut):
            break
        cut -= 1
    if cut == 0 and line and not _is_extend(line[0]):
        # One character with more marks than fit (zalgo): keep the base, drop its marks.
        cut = 1 if limit > 1 else 0
    return line[:cut].rstrip() + ELLIPSIS


def _one_line(text: str, limit: int) -> str:
    """Free text for a Markdown line: cleaned and cut (the cut keeps characters whole)."""
    return cut_description(text, limit)


# -- validated inputs -------------------------------------------------------------------------------


def _url_problem(text: str) -> tuple[str, str] | None:
    """What is wrong with ``text`` (stripped) as a published http(s) URL: (problem, fix), or None.
    Never quotes the URL: the part before ``@`` would be a credential."""
    if not text:
        return "is empty", "give an http(s) URL, e.g. https://example.com/run/1"
    if len(text) > URL_LIMIT:
        return f"is {len(text)} characters long; at most {URL_LIMIT}", "give a shorter URL"
    if any(char.isspace() or not char.isprintable() for char in text):
        return (
            "contains whitespace or control characters",
            "percent-encode them (a space is %20), or give one URL only",
        )
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        return "is not a valid URL (bad host or port)", "give https://HOST[:PORT]/PATH"
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with https:// or http://", "give an absolute http(s) URL"
    if "@" in parts.netloc:
        return (
            "must not contain a user name or password",
            "remove the user:password@ part; a status URL is shown to everyone who can read the repository",
        )
    if not parts.hostname or "\\" in parts.netloc:
        return "has no host name", "give an absolute URL, e.g. https://example.com/path"
    if port == 0:
        return "has an invalid port", "use HOST or HOST:PORT (1-65535)"
    return None


def _url_ok(value: str) -> bool:
    return isinstance(value, str) and _url_problem(value.strip()) is None


def check_url(field: str, value: str) -> str:
    """An http(s) URL GitHub can link to: a host, no whitespace or control characters, no user
    name or password (a URL in a status is public: credentials there would be published), at
    most 2048 characters. Returns it stripped of surrounding whitespace; InputError(field)."""
    text = value.strip() if isinstance(value, str) else ""
    problem = _url_problem(text)
    if problem is not None:
        raise InputError(field, problem[0], fix=problem[1])
    return text


def check_context(value: str) -> str:
    """A commit status context: 1..255 printable characters (surrounding whitespace stripped).
    Convention: ``release-data-prep`` for main, ``release-data-prep/pr`` for pull requests."""
    text = value.strip() if isinstance(value, str) else ""
    fix = f"use a short name such as {DEFAULT_CONTEXT} or {DEFAULT_CONTEXT}/pr"
    if not text:
        raise InputError("context", "is empty", fix=fix)
    if len(text) > CONTEXT_LIMIT:
        raise InputError(
            "context", f"is {len(text)} characters long; GitHub takes at most {CONTEXT_LIMIT}", fix=fix
        )
    if not text.isprintable():
        raise InputError("context", "contains control or non-printable characters", fix=fix)
    return text


def check_environment(value: str) -> str:
    """A deployment environment name: 1..255 characters, no control characters, not only
    whitespace (surrounding whitespace stripped: ``staging `` would be another environment)."""
    text = value.strip() if isinstance(value, str) else ""
    fix = "use a name such as staging, production or preview/pr-<number>"
    if not text:
        raise InputError("environment", "is empty", fix=fix)
    if len(text) > ENVIRONMENT_LIMIT:
        raise InputError(
            "environment",
            f"is {len(text)} characters long; GitHub takes at most {ENVIRONMENT_LIMIT}",
            fix=fix,
        )
    if not text.isprintable():
        raise InputError("environment", "contains control or non-printable characters", fix=fix)
    return text


def preview_environment(pull_number: int) -> str:
    """The preview environment of a pull request: ``preview/pr-<n>``."""
    if isinstance(pull_number, bool) or not isinstance(pull_number, int) or pull_number < 1:
        raise InputError(
            "pull-request",
            f"'{pull_number}' is not a pull request number",
            fix="run on a pull_request event, or give pull-request: <number> (1 or more)",
        )
    return f"{PREVIEW_PREFIX}{pull_number}"


# -- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRow:
    """One row of the comment's results table (``url`` links the name; validated)."""

    name: str
    result: str
    details: str = ""
    url: str = ""


_RESULTS_FIX = (
    'give a JSON array of objects like [{"name": "schema", "result": "success", "details": "12 files"}] '
    '(optional keys: details, url), or {"results": [...]}'
)


def parse_results(text: str, field: str = "results") -> tuple[ResultRow, ...]:
    """The ``results`` input: a JSON array of ``{"name", "result", "details"?, "url"?}`` objects,
    or ``{"results": [...]}``. At most 200 rows and 1000 characters per string; an empty text is
    no rows. InputError(field) naming the row index and key."""
    if not text.strip():
        return ()
    if len(text) > RESULTS_MAX_TEXT:
        raise InputError(
            field, f"is {len(text)} characters long; at most {RESULTS_MAX_TEXT}", fix=_RESULTS_FIX
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            field, f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", fix=_RESULTS_FIX
        ) from None
    except (ValueError, RecursionError):  # huge integers, nesting deeper than the parser allows
        raise InputError(field, "is not JSON this command can read", fix=_RESULTS_FIX) from None
    if isinstance(data, dict):
        if set(data) != {"results"}:
            raise InputError(field, "is an object without a single 'results' key", fix=_RESULTS_FIX)
        data = data["results"]
    if not isinstance(data, list):
        raise InputError(field, f"is a JSON {_json_type(data)}, not an array", fix=_RESULTS_FIX)
    if len(data) > RESULTS_MAX_ROWS:
        raise InputError(
            field,
            f"has {len(data)} rows; at most {RESULTS_MAX_ROWS}",
            fix="summarize: one row per check, not per file",
        )
    return tuple(_result_row(item, f"{field}[{index}]", field) for index, item in enumerate(data))


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def _result_row(item: object, where: str, field: str) -> ResultRow:
    if not isinstance(item, dict):
        raise InputError(field, f"{where} is a JSON {_json_type(item)}, not an object", fix=_RESULTS_FIX)
    unknown = sorted(str(key) for key in item if key not in RESULT_KEYS)
    if unknown:
        raise InputError(
            field,
            f"{where} has unknown key(s) {', '.join(unknown)[:200]}",
            fix=f"use only {', '.join(RESULT_KEYS)}",
        )
    values: dict[str, str] = {}
    for key in RESULT_KEYS:
        value = item.get(key, "")
        if not isinstance(value, str):
            raise InputError(
                field, f"{where}.{key} is a JSON {_json_type(value)}, not a string", fix=_RESULTS_FIX
            )
        if len(value) > RESULTS_MAX_CHARS:
            raise InputError(
                field,
                f"{where}.{key} is {len(value)} characters long; at most {RESULTS_MAX_CHARS}",
                fix="shorten it; link to the full log with url",
            )
        values[key] = value
    for key in ("name", "result"):
        if not values[key].strip():
            raise InputError(field, f"{where}.{key} is missing or empty", fix=_RESULTS_FIX)
    if values["url"]:
        problem = _url_problem(values["url"].strip())
        if problem is not None:
            raise InputError(field, f"{where}.url {problem[0]}", fix=f"{problem[1]}, or leave url out")
        values["url"] = values["url"].strip()
    return ResultRow(values["name"], values["result"], values["details"], values["url"])


# -- the pull request comment -----------------------------------------------------------------------

_MARKER_PREFIX = "<!-- gitops-release:report-status context="


def _escape_marker(context: str) -> str:
    """Percent-encoding of what could end the comment or the attribute: ``%``, ``<``, ``>``,
    ``"``, ``&``, each ``-`` followed by another ``-``, and every non-printable character.
    Injective (``%`` itself is encoded), so two contexts never share a marker."""
    out = []
    for index, char in enumerate(context):
        if (
            char in '%<>"&'
            or (char == "-" and context[index + 1 : index + 2] == "-")
            or not char.isprintable()
        ):
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass")))
        else:
            out.append(char)
    return "".join(out)


def comment_marker(context: str) -> str:
    """The hidden first line of the summary comment for ``context``."""
    return f'{_MARKER_PREFIX}"{_escape_marker(context)}" -->'


def is_marked(body: str, context: str) -> bool:
    """Whether ``body`` is the summary comment for ``context``: its FIRST line is the marker
    (a marker quoted further down, e.g. in a reply, does not count)."""
    if not isinstance(body, str):
        return False
    first = body.split("\n", 1)[0].strip()
    return first == comment_marker(context)


_STATE_ICONS = {
    "success": "✅",
    "failure": "❌",
    "error": "⚠️",
    "pending": "⏳",
    "queued": "⏳",
    "in_progress": "⏳",
    "inactive": "⏹️",
}
_RESULT_ICONS = {
    **{word: "✅" for word in ("success", "succeeded", "pass", "passed", "ok")},
    **{word: "❌" for word in ("failure", "failed", "fail", "error")},
    **{word: "⚠️" for word in ("warning", "warn")},
    **{word: "⏭️" for word in ("skipped", "skip", "neutral")},
    **{word: "⏳" for word in ("pending", "running", "queued", "in_progress")},
}
MAX_CELL_CHARS = 1000
ROWS_LEFT_OUT = "{count} more rows not shown (the results input holds them all)."


#: A code span's delimiter run (CommonMark: a run of n backticks closes only at a run of exactly n).
_BACKTICKS = re.compile(r"`+")
#: Autolinks GitHub would make from plain text: http(s):// and www. (GFM's extended autolinks),
#: ``#123`` / ``org/repo#123`` / ``GH-123`` references (a backreference in another issue's timeline).
_AUTOLINK_SCHEME = re.compile(r"(?i)(https?|ftp|mailto|xmpp)(?=:)")
_AUTOLINK_WWW = re.compile(r"(?i)(www)(?=\.)")
_REFERENCE = re.compile(r"(?i)(#|gh-)(?=\d)")
WORD_JOINER = "\u2060"  # invisible; breaks a pattern GitHub would turn into a link or mention
#: A backtick outside a code span: shown the same, but no delimiter (opens or closes nothing).
BACKTICK_ENTITY = "&#x60;"


def _code_spans(line: str) -> list[tuple[bool, str]]:
    """``line`` as (is code span, text) pieces, split where CommonMark finds code spans. Backslash
    escapes are not considered: ``_plain`` doubles every backslash outside code spans, so in the
    output every backtick is a real delimiter, as this split assumes."""
    pieces: list[tuple[bool, str]] = []
    start = index = 0
    while True:
        opener = _BACKTICKS.search(line, index)
        if opener is None:
            break
        closer = _BACKTICKS.search(line, opener.end())
        while closer is not None and len(closer.group()) != len(opener.group()):
            closer = _BACKTICKS.search(line, closer.end())
        if closer is None:
            index = opener.end()  # no closer of that length: the backticks are literal text
            continue
        pieces.append((False, line[start : opener.start()]))
        pieces.append((True, line[opener.start() : closer.end()]))
        start = index = closer.end()
    pieces.append((False, line[start:]))
    return [piece for piece in pieces if piece[1]]


def _plain(text: str) -> str:
    """Plain Markdown text that can only show as text: backslashes escaped first (so a ``\\``
    cannot un-escape the pipe after it), ``|`` ``[`` ``]`` escaped (no cell break, no link, no
    image, no footnote), ``<`` as ``&lt;`` (no raw HTML, no ``<autolink>``), and a word joiner
    in what GitHub would autolink: ``@mention``, ``https://``, ``www.``, ``#1`` / ``org/repo#1``.
    A backtick as ``&#x60;`` and ``~`` escaped: a value printed at a line's start (a list item)
    opens no fence, and one printed next to another value on the line makes no code span with it
    (nor closes ours)."""
    text = text.replace("\\", "\\\\")
    for char in "|[]":
        text = text.replace(char, "\\" + char)
    text = text.replace("<", "&lt;").replace("@", "@" + WORD_JOINER)
    text = _AUTOLINK_SCHEME.sub(lambda m: m.group(1) + WORD_JOINER, text)
    text = _AUTOLINK_WWW.sub(lambda m: m.group(1) + WORD_JOINER, text)
    text = _REFERENCE.sub(lambda m: m.group(1) + WORD_JOINER, text)
    return text.replace("`", BACKTICK_ENTITY).replace("~", "\\~")


def _code(span: str) -> str:
    """A code span kept as written (GitHub shows it literally: no link, mention or HTML inside);
    only a pipe is escaped, with the backslashes right before it doubled, because GitHub splits
    table cells before it finds code spans."""
    return re.sub(r"(\\*)\|", lambda m: m.group(1) * 2 + "\\|", span)


def _inline(text: str, limit: int) -> str:
    """Free text safe on one Markdown line and in a table cell: one line that shows as text (see
    ``_plain``) except for code spans, which stay readable."""
    line = _one_line(text, limit)
    return "".join(_code(piece) if code else _plain(piece) for code, piece in _code_spans(line))


def _link_text(text: str, limit: int) -> str:
    """Link text: like ``_inline`` (brackets are escaped there, so it ends where we say)."""
    return _inline(text, limit)


def _destination(url: str) -> str | None:
    """A link destination for a valid http(s) URL (``<`` ``>`` encoded for the ``<...>`` form)."""
    if not url or not _url_ok(url):
        return None
    clean = url.strip().replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace("`", "%60")
    return f"<{clean}>"


def markdown_text(text: str, limit: int = MAX_CELL_CHARS, *, code_spans: bool = True) -> str:
    """Untrusted text (a commit subject, an author, a server's message) as one Markdown line or
    table cell that can only show as text (``_inline``); for the other Markdown renderers
    (``core/trace_render``), so there is one neutraliser. ``code_spans=False``: its code spans
    are plain text too, so the result holds no backtick at all (``_plain``)."""
    if code_spans:
        return _inline(text, limit)
    return _plain(_one_line(text, limit))


def markdown_link_target(url: str) -> str | None:
    """``<url>`` for a Markdown link to a valid http(s) URL without credentials, else None."""
    return _destination(url)


def _github_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _table(rows: Sequence[ResultRow]) -> list[str]:
    lines = ["| check | result | details |", "| --- | --- | --- |"]
    for row in rows:
        name = _link_text(row.name, MAX_CELL_CHARS)
        target = _destination(row.url)
        if target:
            name = f"[{name}]({target})"
        icon = _RESULT_ICONS.get(row.result.strip().lower())
        result = _inline(row.result, MAX_CELL_CHARS)
        result = f"{icon} {result}" if icon else result
        lines.append(f"| {name} | {result} | {_inline(row.details, MAX_CELL_CHARS)} |")
    return lines


def render_comment(
    *,
    context: str,
    state: str,
    sha: str,
    description: str,
    target_url: str,
    results: Sequence[ResultRow],
    repository: str,
    run_url: str,
    when: str | None = None,
) -> str:
    """The pull request summary comment: the marker (first line), ``### <icon> <context>:
    <state>``, the commit and the description, a details link, the results table (``| check |
    result | details |``) and a footer naming the run (and ``when``, only when given: without it
    the body is a pure function of the rest, so an unchanged re-run renders byte-identical text
    and the comment is not edited). At most 65,536 characters (GitHub's limit): rows that do not
    fit are left out and counted. Text from results, description and context can only show as
    text (no link, image, HTML, mention or cross-reference; see ``_plain``)."""
    context = check_context(context)
    state_word = _one_line(state, 40)
    icon = _STATE_ICONS.get(state_word.lower(), "•")
    heading = f"### {icon} {_inline(context, CONTEXT_LIMIT)}: {_inline(state_word, 40)}"
    summary = []
    short = _one_line(sha, 64)[:7]
    if re.fullmatch(r"[0-9a-fA-F]{7}", short):
        summary.append(f"Commit `{short.lower()}`")
    elif short:
        summary.append(f"Commit {_inline(short, 7)}")
    text = cut_description(description)
    if text:
        summary.append(_inline(text, DESCRIPTION_LIMIT))
    target = _destination(target_url)
    if target:
        summary.append(f"[details]({target})")
    footer = ["Reported by gitops-release report-status"]
    if repository.strip():
        footer.append(f"for {_inline(repository, 200)}")
    run = _destination(run_url)
    if run:
        footer.append(f"in [this run]({run})")
    if when and when.strip():
        footer.append(f"at {_inline(when, 64)}")
    head = [comment_marker(context), heading, " · ".join(summary)]
    tail = ["<sub>" + " ".join(footer) + ".</sub>"]
    table = _table(results)

    def build(row_count: int) -> str:
        parts = list(head)
        if results:
            lines = table[: 2 + row_count]
            left = len(results) - row_count
            block = "\n".join(lines)
            if left:
                block += "\n\n" + ROWS_LEFT_OUT.format(count=left)
            parts.append(block)
        parts.extend(tail)
        return "\n\n".join(part for part in parts if part) + "\n"

    low, high = 0, len(results)  # the most rows that fit (binary search)
    while low < high:
        middle = (low + high + 1) // 2
        if _github_length(build(middle)) <= COMMENT_LIMIT:
            low = middle
        else:
            high = middle - 1
    return build(low)


# -- from await-argocd-sync's evidence ----------------------------------------------------------------


@dataclass(frozen=True)
class EvidenceReport:
    """The deployment status one await-argocd-sync evidence bundle stands for."""

    state: str  # deployment state
    description: str  # one line; the command cuts it to 140
    revision: str | None  # the one full sha every app expected, else None
    log_url: str | None  # the run that waited (evidence run.url)
    environment_url: str | None  # the Argo CD application page (one app), else None
    applications: tuple[str, ...]


_EVIDENCE = "from-evidence"
_EVIDENCE_FIX = "point from-evidence at the evidence-path file await-argocd-sync wrote (mode: wait)"


def _public(url: object) -> str | None:
    """``url`` when it is an http(s) URL without userinfo (as await-argocd-sync publishes it)."""
    if not isinstance(url, str) or not _url_ok(url):
        return None
    return url.strip()


def _seconds(value: object) -> str:
    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
    return f"{round(number) if math.isfinite(number) and number > 0 else 0} s"


def _app_url(server: str | None, app: Mapping[str, Any]) -> str | None:
    if server is None:
        return None
    name = app.get("name")
    namespace = app.get("namespace")
    if not isinstance(name, str) or not name:
        return None
    path = urllib.parse.quote(name, safe="")
    if isinstance(namespace, str) and namespace:
        path = f"{urllib.parse.quote(namespace, safe='')}/{path}"
    url = f"{server.rstrip('/')}/applications/{path}"
    return url if _url_ok(url) else None


def _expected(app: Mapping[str, Any]) -> list[str]:
    revision = app.get("revision")
    values = revision.get("expected") if isinstance(revision, Mapping) else None
    if not isinstance(values, list):
        return []
    return [value for value in values if isinstance(value, str) and value]


def _one_revision(apps: Sequence[Mapping[str, Any]]) -> str | None:
    """The full sha when every app expected exactly that one (case-insensitively), else None."""
    seen: set[str] = set()
    for app in apps:
        values = _expected(app)
        if not values:
            return None
        seen.update(value.lower() for value in values)
    if len(seen) != 1:
        return None
    (only,) = seen
    return only if _HEX_SHA.fullmatch(only) else None


def _shown_revision(apps: Sequence[Mapping[str, Any]]) -> str:
    values = {value.lower() for app in apps for value in _expected(app)}
    if len(values) != 1:
        return ""
    (only,) = values
    return only[:7] if re.fullmatch(r"[0-9a-f]{7,64}", only) else only[:40]


def evidence_report(data: Mapping[str, Any]) -> EvidenceReport:
    """The deployment status for an await-argocd-sync evidence document (parsed and validated
    against schemas/evidence.schema.json by the command): outcome done -> success, failed ->
    failure, timeout / cancelled / error -> error; the description names the app(s), sync,
    health, revision and duration, or the first app's reason; environment_url is the Argo CD page
    of a single app (``<server>/applications/<namespace>/<name>``, the server as the evidence
    publishes it: no userinfo)."""
    if not isinstance(data, Mapping):
        raise InputError(_EVIDENCE, "is not a JSON object", fix=_EVIDENCE_FIX)
    version = data.get("schemaVersion")
    if version != 1 or isinstance(version, bool):
        raise InputError(
            _EVIDENCE,
            f"has schemaVersion {json.dumps(version)[:20]}; this version of report-status reads 1",
            fix="use report-status from the same gitops-release release as await-argocd-sync",
        )
    mode = data.get("mode")
    if mode == "drift-report":
        raise InputError(
            _EVIDENCE,
            "is a drift report; a deployment status needs a wait",
            fix="use the evidence of await-argocd-sync with mode: wait",
        )
    if mode != "wait":
        raise InputError(_EVIDENCE, f"has mode {json.dumps(mode)[:40]}, not wait", fix=_EVIDENCE_FIX)
    outcome = data.get("outcome")
    if not isinstance(outcome, str) or outcome not in EVIDENCE_OUTCOMES:
        raise InputError(
            _EVIDENCE,
            f"has outcome {json.dumps(outcome)[:40]}; expected one of {', '.join(EVIDENCE_OUTCOMES)}",
            fix=_EVIDENCE_FIX,
        )
    raw_apps = data.get("applications")
    if not isinstance(raw_apps, list):
        raise InputError(_EVIDENCE, "has no 'applications' list", fix=_EVIDENCE_FIX)
    apps = [app for app in raw_apps if isinstance(app, Mapping)]
    if len(apps) != len(raw_apps):
        raise InputError(_EVIDENCE, "has an application that is not an object", fix=_EVIDENCE_FIX)
    names = tuple(_one_line(str(app.get("name", "")), 253) or "?" for app in apps)
    state = EVIDENCE_OUTCOMES[outcome]
    run = data.get("run")
    log_url = _public(run.get("url")) if isinstance(run, Mapping) else None
    server = _public(data.get("server"))
    environment_url = _app_url(server, apps[0]) if len(apps) == 1 else None
    return EvidenceReport(
        state=state,
        description=_evidence_description(outcome, apps, names, _seconds(data.get("durationSeconds"))),
        revision=_one_revision(apps),
        log_url=log_url,
        environment_url=environment_url,
        applications=names,
    )


def _evidence_description(
    outcome: str, apps: Sequence[Mapping[str, Any]], names: Sequence[str], took: str
) -> str:
    who = names[0] if len(names) == 1 else f"{len(names)} apps"
    at = _shown_revision(apps)
    at_text = f" at {at}" if at else ""
    if outcome == "done":
        if len(apps) == 1:
            sync, health = (_one_line(str(apps[0].get(key, "")), 40) for key in ("sync", "health"))
            return _one_line(f"Argo CD: {who} {sync} {health}{at_text} ({took})", 1000)
        return f"Argo CD: {who} Synced Healthy{at_text} ({took})"
    if not apps:
        what = {
            "failed": "wait failed",
            "timeout": "timed out",
            "cancelled": "wait cancelled",
            "error": "wait ended with an error",
        }[outcome]
        return f"Argo CD: {what} after {took}, no application seen"
    blocking = next((app for app in apps if app.get("verdict") != "done"), apps[0])
    name = _one_line(str(blocking.get("name", "?")), 253)
    reason = _one_line(str(blocking.get("reason", "")), 300)
    lead = {
        "failed": f"Argo CD: {who} failed{at_text} ({took})",
        "timeout": f"Argo CD: {who} not ready{at_text} after {took}",
        "cancelled": f"Argo CD: wait for {who}{at_text} cancelled after {took}",
        "error": f"Argo CD: wait for {who}{at_text} ended with an error after {took}",
    }[outcome]
    detail = f"{name}: {reason}" if len(apps) > 1 and reason else reason
    return f"{lead}: {detail}" if detail else lead


__all__ = [
    "COMMENT_LIMIT",
    "COMMIT_STATES",
    "CONTEXT_LIMIT",
    "DEFAULT_CONTEXT",
    "DEPLOYMENT_STATES",
    "DESCRIPTION_LIMIT",
    "ELLIPSIS",
    "EVIDENCE_OUTCOMES",
    "JOB_STATUSES",
    "PREVIEW_PREFIX",
    "URL_LIMIT",
    "EvidenceReport",
    "ResultRow",
    "check_context",
    "check_environment",
    "check_url",
    "comment_marker",
    "commit_state_for_job",
    "cut_description",
    "deployment_state_for_job",
    "evidence_report",
    "is_marked",
    "parse_results",
    "preview_environment",
    "render_comment",
]
