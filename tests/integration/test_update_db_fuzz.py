"""Property-based fuzz of update-db's input validation: thousands of bad payloads, no traceback.

Every generated payload is invalid by construction (wrong types, huge strings, Unicode
look-alikes, ``../``, control characters, extra and missing keys, bad wrappers). Each one goes
through ``Inputs.from_reader`` (must raise InputError naming ``payload…``) and through
``cli.main`` in-process with INPUT_PAYLOAD against a real clone of a bare remote created once
for the module (must exit 1 with exactly one ::error line naming the field, no traceback, and
leave db.json in the working tree and the remote branch head untouched).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_release.cli import main
from gitops_release.commands import update_db
from gitops_release.errors import InputError
from gitops_release.runtime import InputReader
from tests.fixtures.git_remotes import clone_of, make_bare_remote, remote_head, remote_log, url_to_path

EXAMPLES = 2000
EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'

VALID: dict[str, Any] = {
    "container": "my-app",
    "channel": "dev",
    "image": "ghcr.io/org/my-app",
    "tag": "sha-abc12345",
    "digest": "sha256:" + "0" * 64,
    "source": {
        "repository": "org/my-app",
        "sha": "a" * 40,
        "ref": "refs/heads/main",
        "runUrl": "https://github.com/org/my-app/actions/runs/1",
    },
}
STRING_FIELDS = (
    ("container",),
    ("channel",),
    ("image",),
    ("tag",),
    ("digest",),
    ("source", "repository"),
    ("source", "sha"),
    ("source", "ref"),
    ("source", "runUrl"),
)
REQUIRED = (
    ("container",),
    ("channel",),
    ("image",),
    ("tag",),
    ("source",),
    ("source", "repository"),
    ("source", "sha"),
)
# Characters that look like ASCII but are not: Cyrillic, Greek, fullwidth, dotless i, etc.
LOOKALIKES = (
    "\u0430\u0435\u043e\u0440\u0441\u0445\u0443\u0456\u0458\u0455"
    "\u0501\u04bb\u0410\u0415\u041e\u0420\u0421\u0391\u0392\u0395"
    "\u039f\u03bf\u03bd\uff4f\uff4d\uff41\uff50\uff50\u0131\u2113"
    "\u2044\u2215\uff0d"
)
CONTROL = [chr(c) for c in range(0, 32)] + ["\x7f", "\x85", "\u2028"]
NON_STRINGS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _set(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


def _get(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def _delete(obj: dict[str, Any], path: tuple[str, ...]) -> None:
    for key in path[:-1]:
        obj = obj[key]
    del obj[path[-1]]


@st.composite
def bad_release(draw: st.DrawFn) -> dict[str, Any]:
    release = copy.deepcopy(VALID)
    kind = draw(
        st.sampled_from(["type", "missing", "extra", "huge", "lookalike", "dotdot", "control", "updated"])
    )
    path = draw(st.sampled_from(STRING_FIELDS))
    if kind == "type":
        _set(release, path, draw(NON_STRINGS))
    elif kind == "missing":
        _delete(release, draw(st.sampled_from(REQUIRED)))
    elif kind == "extra":
        where = draw(st.sampled_from([(), ("source",)]))
        allowed = update_db_keys(where)
        key = draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in allowed))
        target = release if not where else release["source"]
        target[key] = draw(st.one_of(st.text(max_size=10), NON_STRINGS))
    elif kind == "huge":
        _set(
            release, path, draw(st.sampled_from(["a", "1", "é", "/", "a-"])) * draw(st.integers(2049, 8_000))
        )
    elif kind == "lookalike":
        value = _get(release, path)
        index = draw(st.integers(0, len(value) - 1))
        _set(release, path, value[:index] + draw(st.sampled_from(LOOKALIKES)) + value[index + 1 :])
    elif kind == "dotdot":
        # runUrl is left out: '../' inside a URL path is legitimate.
        path = draw(st.sampled_from([p for p in STRING_FIELDS if p != ("source", "runUrl")]))
        value = _get(release, path)
        prefix = draw(st.sampled_from(["../", "../../", "/../", "..\\"]))
        at = draw(st.integers(0, 2))
        _set(release, path, value[:at] + prefix + value[at:])
    elif kind == "control":
        value = _get(release, path)
        index = draw(st.integers(0, len(value)))
        _set(release, path, value[:index] + draw(st.sampled_from(CONTROL)) + value[index:])
    else:
        release["updatedAt"] = "2026-01-28T10:30:00Z"
    return release


def update_db_keys(where: tuple[str, ...]) -> tuple[str, ...]:
    from gitops_release.core.release import RELEASE_KEYS, SOURCE_KEYS

    return SOURCE_KEYS if where else RELEASE_KEYS


def bad_payloads() -> st.SearchStrategy[Any]:
    garbage = st.one_of(NON_STRINGS, st.text(max_size=30))
    return st.one_of(
        bad_release(),
        bad_release().map(lambda r: {"releases": [VALID, r]}),
        bad_release().map(lambda r: {"releases": [r]}),
        garbage,
        garbage.map(lambda g: {"releases": g}),
        st.just({"releases": []}),
        st.just({"releases": [VALID, VALID]}),
        st.just({"releases": [VALID] * 51}),
        st.text(max_size=10).filter(lambda k: k != "releases").map(lambda k: {"releases": [VALID], k: 1}),
    )


def _text(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(payload=bad_payloads())
def test_from_reader_refuses_every_bad_payload_naming_the_field(payload: Any) -> None:
    reader = InputReader(env={"INPUT_PAYLOAD": _text(payload)})
    with pytest.raises(InputError) as info:
        update_db.Inputs.from_reader(reader)
    assert info.value.field.startswith("payload"), info.value.field
    assert "\n" not in info.value.one_line()
    assert info.value.fix


# -- the same through the CLI, against a real clone ---------------------------------------------


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("fuzz")
    url = make_bare_remote(
        root, {"db/db.json": EMPTY_DB, ".gitops-release.yml": "channels: [dev, stage, prod]\n"}
    )
    return clone_of(url, root / "clone"), url


def _ref(url: str) -> str:
    """The remote branch head, read from the bare repo's ref file (no subprocess per example)."""
    return (url_to_path(url) / "refs" / "heads" / "main").read_text()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_ERROR = re.compile(r"^::error title=Invalid input '(payload[^']*)'::input '\1': .+ Fix: .+$")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(payload=st.one_of(bad_payloads(), st.text(min_size=1, max_size=40).filter(lambda t: t.strip() != "")))
def test_cli_never_tracebacks_and_changes_nothing(checkout: tuple[Path, str], payload: Any) -> None:
    work, url = checkout
    before_file = _digest(work / "db" / "db.json")
    before_head = _ref(url)
    text = payload if isinstance(payload, str) and not payload.startswith('"') else _text(payload)
    env = {
        "GITHUB_ACTIONS": "true",
        "INPUT_PAYLOAD": text,
        "INPUT_REPOSITORY-PATH": str(work),
    }
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["update-db"], env=env)
    lines = out.getvalue().strip().splitlines()
    assert code == 1
    assert len(lines) == 1, lines
    assert _ERROR.match(lines[0]), lines[0]
    assert "Traceback" not in err.getvalue()
    assert _digest(work / "db" / "db.json") == before_file
    assert _ref(url) == before_head


def test_nothing_reached_the_remote(checkout: tuple[Path, str]) -> None:
    work, url = checkout
    assert remote_log(url) == ["initial commit"]
    assert _ref(url).strip() == remote_head(url)
    assert (work / "db" / "db.json").read_text() == EMPTY_DB
