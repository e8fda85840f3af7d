"""Property-based fuzz of update-db's policy refusals: well-formed releases the policy refuses.

Input validation fails before any git command; policy refusals come after the fetch (the policy
and the channel's current entry are read from the fresh checkout), so that is where "a refused
release changes nothing" matters most. Every generated payload is valid per the release schema
and refused by exactly one rule of a restrictive ``.gitops-release.yml``: an unlisted source
repository, a container outside the source's list, a source limited to dev sending to
stage/prod, an unknown channel, a mutable tag (the names, variants, floating versions and
suffixes of core/release.py), a tag named after the source ref's branch or pull request, a
pre-release into prod, a missing digest for prod, a downgrade below the channel's 2.0.0, and an
immutable tag pointed at a new digest; each alone or inside ``{"releases": [...]}`` next to
releases the policy accepts (the whole batch must be refused).

Each payload goes through ``cli.main(["update-db"])`` in-process against one clone of a bare
remote created (and seeded by update-db itself) once for the module. It must exit 1 with exactly
one ``::error title=Refused by policy::`` line (besides update-db's balanced ``::group::``) naming
the refused release's field and the rule, with a ``Fix:``, print no traceback, and leave db.json,
the remote branch head, the clone's working tree (no untracked file either) and its HEAD exactly
as they were. Each kind of refusal gets its own EXAMPLES_PER_KIND examples.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import re
import subprocess
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gitops_release.cli import main
from gitops_release.core.db import load_db
from gitops_release.core.policy import check_release, load_policy
from gitops_release.core.release import (
    MUTABLE_SUFFIXES,
    MUTABLE_TAGS,
    TAG_PATTERN,
    VARIANT_TAGS,
    mutable_tag_reason,
    parse_payload,
    parse_release,
)
from gitops_release.errors import PolicyError
from tests.fixtures.git_remotes import (
    clone_of,
    git_env,
    make_bare_remote,
    read_remote_file,
    remote_head,
    remote_log,
    url_to_path,
)

EXAMPLES_PER_KIND = 15  # x 10 kinds = 150 update-db runs, each with a git fetch
EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
POLICY = """\
channels: [dev, stage, prod]
sources:
  - repository: org/my-app
    containers: [my-app, my-app-worker]
    images: [ghcr.io/org/my-app]
  - repository: org/exp-*             # experiments: my-app on dev only
    containers: [my-app]
    channels: [dev]
    images: [ghcr.io/org/my-app]
tags:
  immutable: true
  requireDigest: [prod]
"""
CHANNELS = ("dev", "stage", "prod")
CONTAINERS = ("my-app", "my-app-worker")
IMAGE = "ghcr.io/org/my-app"
SEED_TAG = "2.0.0"
# my-app is at 2.0.0 on every channel, each channel with its own digest.
SEED_DIGEST = {"dev": "sha256:" + "1" * 64, "stage": "sha256:" + "2" * 64, "prod": "sha256:" + "3" * 64}
SEED_SOURCE = {
    "repository": "org/my-app",
    "sha": "5" * 40,
    "ref": "refs/tags/v2.0.0",
    "runUrl": "https://github.com/org/my-app/actions/runs/1",
}
SEED_PAYLOAD = {
    "releases": [
        {
            "container": "my-app",
            "channel": channel,
            "image": IMAGE,
            "tag": SEED_TAG,
            "digest": SEED_DIGEST[channel],
            "source": SEED_SOURCE,
        }
        for channel in CHANNELS
    ]
}
_TAG = re.compile(TAG_PATTERN)

# -- strategies: pieces of a well-formed release ------------------------------------------------

HEX = "0123456789abcdef"
SHAS = st.text(HEX, min_size=40, max_size=40)
DIGESTS = st.text(HEX, min_size=64, max_size=64).map(lambda h: "sha256:" + h)
RUN_URLS = st.integers(1, 10**9).map(lambda n: f"https://github.com/org/my-app/actions/runs/{n}")
KNOWN_CHANNELS = st.sampled_from(CHANNELS)
WORD = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,15}", fullmatch=True)


def cased(text: str) -> st.SearchStrategy[str]:
    """``text`` with each letter in either case (GitHub names and some tag rules ignore case)."""
    return st.lists(st.booleans(), min_size=len(text), max_size=len(text)).map(
        lambda upper: "".join(c.upper() if u else c for c, u in zip(text, upper, strict=True))
    )


# Sources the policy allows (any case: GitHub owner/name are case-insensitive).
MAIN_SOURCE = st.sampled_from(["org/my-app"]).flatmap(cased)
EXP_SOURCE = st.from_regex(r"org/exp-[a-z0-9._-]{1,20}", fullmatch=True).flatmap(cased)
GOOD_REFS = st.one_of(
    st.just("refs/heads/main"),
    st.integers(0, 99).map(lambda n: f"refs/tags/v2.{n}.0"),
    st.integers(1, 9999).map(lambda n: f"refs/pull/{n}/merge"),
)
# Immutable tags higher than (or not comparable with) 2.0.0.
GOOD_TAGS = st.one_of(
    st.text(HEX, min_size=8, max_size=8).map(lambda h: f"sha-{h}"),
    st.tuples(st.integers(2, 40), st.integers(0, 40), st.integers(0, 40))
    .filter(lambda v: v > (2, 0, 0))
    .flatmap(lambda v: st.sampled_from(["", "v"]).map(lambda p: f"{p}{v[0]}.{v[1]}.{v[2]}")),
    st.integers(1000, 99_999_999).map(str),  # run numbers, dates: 4+ digits are immutable
)


def _not_allowed_repository(repo: str) -> bool:
    lower = repo.lower()
    return lower != "org/my-app" and not fnmatchcase(lower, "org/exp-*")


UNLISTED_SOURCE = st.one_of(
    st.tuples(
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{0,20}", fullmatch=True),
        st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,30}", fullmatch=True),
    ).map("/".join),
    # near misses of the allowed ones
    st.sampled_from(
        [
            "org/my-app2",
            "org/my-app-worker",
            "org2/my-app",
            "my-app/org",
            "org/exp",
            "org/exp_x",
            "orgx/exp-a",
        ]
    ),
).filter(_not_allowed_repository)


@st.composite
def good_release(
    draw: st.DrawFn, *, container: str | None = None, channel: str | None = None
) -> dict[str, Any]:
    """A release the fixture's policy accepts (on a (container, channel) of the caller's choice)."""
    channel = channel or draw(KNOWN_CHANNELS)
    if channel == "dev" and (container in (None, "my-app")) and draw(st.booleans()):
        container, repository = "my-app", draw(EXP_SOURCE)
    else:
        container = container or draw(st.sampled_from(CONTAINERS))
        repository = draw(MAIN_SOURCE)
    release: dict[str, Any] = {
        "container": container,
        "channel": channel,
        "image": IMAGE,
        "tag": draw(GOOD_TAGS),
        "digest": draw(DIGESTS),
        "source": {"repository": repository, "sha": draw(SHAS)},
    }
    if draw(st.booleans()):
        release["source"]["ref"] = draw(GOOD_REFS)
    if draw(st.booleans()):
        release["source"]["runUrl"] = draw(RUN_URLS)
    return release


# -- strategies: the mutable tags of core/release.py ---------------------------------------------

FLOATING = st.one_of(
    st.integers(0, 99).map(lambda n: f"v{n}"),
    st.integers(0, 99).map(lambda n: f"V{n}"),
    st.tuples(st.integers(0, 99), st.integers(0, 99)).map(lambda v: f"v{v[0]}.{v[1]}"),
    st.integers(0, 99).map(lambda n: f"v{n}.x"),
    st.tuples(st.integers(0, 99), st.integers(0, 99)).map(lambda v: f"v{v[0]}.{v[1]}.X"),
    st.tuples(st.integers(0, 99), st.integers(0, 99)).map(lambda v: f"{v[0]}.{v[1]}"),
    st.tuples(st.integers(0, 99), st.integers(0, 99)).map(lambda v: f"{v[0]}.{v[1]}.x"),
    st.integers(0, 99).map(lambda n: f"{n}.x"),
    st.integers(0, 999).map(str),  # node:20, postgres:16
)
VARIANT_WORD = st.tuples(
    st.sampled_from(sorted(VARIANT_TAGS)).flatmap(cased),
    st.sampled_from(["", "3", "3.19", "12", "1.2.3"]),
).map("".join)
VARIANT_ONLY = st.lists(VARIANT_WORD, min_size=1, max_size=3).flatmap(
    lambda words: st.lists(st.sampled_from("-_."), min_size=len(words) - 1, max_size=len(words) - 1).map(
        lambda seps: words[0] + "".join(s + w for s, w in zip(seps, words[1:], strict=True))
    )
)
MUTABLE_TAG_STRATEGY = st.one_of(
    st.sampled_from(sorted(MUTABLE_TAGS)).flatmap(cased),  # latest, stable, main, LATEST ...
    st.tuples(st.sampled_from(["latest", "Latest", "LATEST"]), st.sampled_from("-_."), WORD).map(
        "".join
    ),  # latest-foo, latest_3.12
    FLOATING,  # v1, 1.2, 1.x, 20
    st.tuples(
        st.one_of(WORD, FLOATING), st.sampled_from("-_."), st.sampled_from(MUTABLE_SUFFIXES).flatmap(cased)
    ).map("".join),  # foo-nightly, 3.12-latest, v2_Stable
    st.tuples(
        FLOATING,
        st.sampled_from("-_"),
        st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,15}", fullmatch=True).filter(
            lambda w: not re.fullmatch(r"[0-9a-f]{7,40}", w)
        ),
    ).map("".join),  # 3.12-slim, v1-alpine, 20-bookworm, 1.x-foo
    VARIANT_ONLY,  # alpine, alpine3.19, slim-bookworm
).filter(lambda t: _TAG.search(t) is not None)

# A tag a build tool names after the branch or pull request it built (moves with every push).
BRANCHES = st.from_regex(
    r"(?:feature|fix|topic|wip|user)[-/_][a-z][a-z0-9]{0,8}(?:[-/][a-z0-9]{1,8}){0,2}", fullmatch=True
)
REF_NAMED = st.one_of(
    BRANCHES.flatmap(
        lambda b: st.tuples(
            st.just(f"refs/heads/{b}"),
            st.sampled_from([b, b.replace("/", "-")])
            .filter(lambda t: _TAG.search(t) is not None)
            .flatmap(cased),
        )
    ),
    st.integers(1, 99_999).map(lambda n: (f"refs/pull/{n}/merge", f"pr-{n}")),
    st.integers(1, 99_999).map(lambda n: (f"refs/pull/{n}/head", f"PR-{n}")),
).filter(lambda pair: mutable_tag_reason(pair[1]) is None)  # mutable only because of its ref

PRERELEASE_IDS = st.sampled_from(
    ["rc.1", "rc1", "rc.12", "beta", "beta.2", "alpha", "alpha.1", "pre.0", "0.3.7", "x.7.z.92", "dev.5"]
)


# -- strategies: one refused release -------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    kind: str
    release: dict[str, Any]
    field: str  # after the release's own field: ".tag", ".source.repository", ...
    says: str  # a phrase of the refusal message


KINDS = (
    "unlisted-source",
    "container",
    "source-channel",
    "unknown-channel",
    "mutable-tag",
    "ref-named-tag",
    "prerelease-prod",
    "missing-digest",
    "downgrade",
    "tag-moved",
)


@st.composite
def refused_release(draw: st.DrawFn, kind: str) -> Refused:
    # Start from an accepted release on a main-source (container, channel) and break one thing.
    release = draw(good_release())
    release["source"]["repository"] = draw(MAIN_SOURCE)
    if kind == "unlisted-source":
        release["source"]["repository"] = draw(UNLISTED_SOURCE)
        return Refused(kind, release, ".source.repository", "is not an allowed source")
    if kind == "container":
        other = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,62}", fullmatch=True)
        if draw(st.booleans()):
            release["container"] = draw(other.filter(lambda c: c not in CONTAINERS))
        else:  # the experiments source may update my-app only
            release.update(channel="dev", container=draw(other.filter(lambda c: c != "my-app")))
            release["source"]["repository"] = draw(EXP_SOURCE)
        return Refused(kind, release, ".container", "may not be updated by")
    if kind == "source-channel":
        release.update(container="my-app", channel=draw(st.sampled_from(["stage", "prod"])))
        release["source"]["repository"] = draw(EXP_SOURCE)
        return Refused(kind, release, ".channel", "may not be updated by")
    if kind == "unknown-channel":
        release["channel"] = draw(
            st.one_of(
                st.sampled_from(["qa", "production", "staging", "develop", "dev2", "prod-eu", "canary"]),
                st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True),
            ).filter(lambda c: c not in CHANNELS)
        )
        return Refused(kind, release, ".channel", "is not a channel of this repository")
    if kind == "mutable-tag":
        release["tag"] = draw(MUTABLE_TAG_STRATEGY)
        return Refused(kind, release, ".tag", "(tags.immutable is true)")
    if kind == "ref-named-tag":
        ref, tag = draw(REF_NAMED)
        release["tag"] = tag
        release["source"]["ref"] = ref
        return Refused(kind, release, ".tag", "is named after the ref")
    if kind == "prerelease-prod":
        major, minor, patch = draw(st.tuples(st.integers(0, 9), st.integers(0, 20), st.integers(0, 20)))
        prefix = draw(st.sampled_from(["", "v", "V"]))
        release.update(channel="prod", tag=f"{prefix}{major}.{minor}.{patch}-{draw(PRERELEASE_IDS)}")
        return Refused(kind, release, ".tag", "is a pre-release")
    if kind == "missing-digest":
        release["channel"] = "prod"
        del release["digest"]
        return Refused(kind, release, ".digest", "requires a digest")
    if kind == "downgrade":
        # Only my-app has a current entry (2.0.0 on every channel).
        channel = draw(KNOWN_CHANNELS)
        lower = st.tuples(st.integers(0, 1), st.integers(0, 99), st.integers(0, 99)).map(
            lambda v: f"{v[0]}.{v[1]}.{v[2]}"
        )
        if channel != "prod":  # a pre-release of 2.0.0 is lower too (prod refuses pre-releases first)
            lower = st.one_of(lower, PRERELEASE_IDS.map(lambda p: f"2.0.0-{p}"))
        tag = draw(st.sampled_from(["", "v"])) + draw(lower)
        release.update(container="my-app", channel=channel, tag=tag)
        return Refused(kind, release, ".tag", "is lower than")
    assert kind == "tag-moved", kind  # 2.0.0 again, with another image
    channel = draw(KNOWN_CHANNELS)
    release.update(container="my-app", channel=channel, tag=SEED_TAG)
    release["digest"] = draw(DIGESTS.filter(lambda d: d != SEED_DIGEST[channel]))
    return Refused(kind, release, ".tag", "already points to digest")


@dataclass(frozen=True)
class Case:
    payload: dict[str, Any]
    refused: Refused
    field: str  # the refused release's field: payload or payload.releases[i]
    accepted: tuple[dict[str, Any], ...]  # the other releases of the batch


@st.composite
def cases(draw: st.DrawFn, kind: str) -> Case:
    refused = draw(refused_release(kind))
    if draw(st.integers(0, 2)) == 0:
        return Case(refused.release, refused, "payload", ())
    # {"releases": [...]}: 1-3 accepted releases and the refused one, on distinct (container, channel).
    taken = {(refused.release["container"], refused.release["channel"])}
    free = [(c, ch) for c in CONTAINERS for ch in CHANNELS if (c, ch) not in taken]
    keys = draw(st.lists(st.sampled_from(free), min_size=1, max_size=3, unique=True))
    accepted = [draw(good_release(container=c, channel=ch)) for c, ch in keys]
    index = draw(st.integers(0, len(accepted)))
    items = [*accepted[:index], refused.release, *accepted[index:]]
    return Case({"releases": items}, refused, f"payload.releases[{index}]", tuple(accepted))


# -- the config repo -----------------------------------------------------------------------------


def _run(work: Path, payload: Any) -> tuple[int, str, str]:
    env = {
        "GITHUB_ACTIONS": "true",
        "INPUT_PAYLOAD": json.dumps(payload),
        "INPUT_REPOSITORY-PATH": str(work),
    }
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["update-db"], env=env)
    return code, out.getvalue(), err.getvalue()


@dataclass(frozen=True)
class Repo:
    work: Path
    url: str
    log: list[str]  # the remote's commit subjects after seeding (newest first)
    head: str
    db_text: str


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Repo:
    root = tmp_path_factory.mktemp("policyfuzz")
    url = make_bare_remote(root, {"db/db.json": EMPTY_DB, ".gitops-release.yml": POLICY})
    work = clone_of(url, root / "clone")
    code, out, err = _run(work, SEED_PAYLOAD)  # update-db writes the canonical db and pushes it
    assert code == 0, (out, err)
    db_text = read_remote_file(url, "db/db.json")
    seeded = load_db(db_text)
    for channel in CHANNELS:
        current = seeded.get("my-app", channel)
        assert current is not None and (current.tag, current.digest) == (SEED_TAG, SEED_DIGEST[channel])
    log = remote_log(url)
    assert len(log) == 2 and log[-1] == "initial commit", log
    return Repo(work, url, log, remote_head(url), db_text)


def _ref(url: str) -> str:
    """The remote branch head, read from the bare repo's ref file (no subprocess per example)."""
    return (url_to_path(url) / "refs" / "heads" / "main").read_text().strip()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _git(work: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=work, env=git_env(), capture_output=True, text=True, check=True
    ).stdout


def _count(payload: dict[str, Any]) -> int:
    return len(payload["releases"]) if "releases" in payload else 1


_POLICY = load_policy(POLICY)
_LINE = re.compile(r"^::error title=Refused by policy::(\S+) .+ Fix: .+$")


@pytest.mark.parametrize("kind", KINDS)
def test_generated_payloads_are_well_formed(kind: str) -> None:
    """The generators' own sanity, without git: every payload parses (so a refusal in the CLI
    test can only come from the policy) and the accepted releases of a batch pass the policy."""
    stored = [{**item, "updatedAt": "2026-01-28T10:30:00Z"} for item in SEED_PAYLOAD["releases"]]
    seeded = load_db(json.dumps({"schemaVersion": 1, "releases": stored}))

    @settings(max_examples=30, deadline=None)
    @given(case=cases(kind))
    def check(case: Case) -> None:
        parse_payload(copy.deepcopy(case.payload))
        for item in case.accepted:
            release = parse_release(item)
            check_release(_POLICY, release, seeded.get(release.container, release.channel))
        refused = parse_release(case.refused.release)
        with pytest.raises(PolicyError) as info:
            check_release(_POLICY, refused, seeded.get(refused.container, refused.channel))
        assert info.value.message.startswith("payload" + case.refused.field + " "), info.value.message
        assert case.refused.says in info.value.message, (case.refused.kind, info.value.message)

    check()


@pytest.mark.parametrize("kind", KINDS)
@settings(
    max_examples=EXAMPLES_PER_KIND,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_policy_refusal_after_fetch_changes_nothing(repo: Repo, kind: str, data: st.DataObject) -> None:
    case = data.draw(cases(kind), label="case")
    event("alone" if case.field == "payload" else f"in a batch of {_count(case.payload)}")
    db_file = repo.work / "db" / "db.json"
    before_file = _digest(db_file)
    before_head = _ref(repo.url)
    code, out, err = _run(repo.work, case.payload)
    assert code == 1, (case.refused.kind, out, err)
    # The refusal happens inside update-db's log group (opened before the fetch, closed before
    # the error): apart from that one balanced group, stdout is exactly one ::error line.
    lines = out.strip().splitlines()
    groups = [line for line in lines if line.startswith(("::group::", "::endgroup::"))]
    assert groups in (
        [],
        [f"::group::update-db: {_count(case.payload)} release(s) -> main", "::endgroup::"],
    ), lines
    lines = [line for line in lines if line not in groups]
    assert len(lines) == 1, lines
    assert out.strip().splitlines()[-1] == lines[0]
    match = _LINE.match(lines[0])
    assert match, lines[0]
    assert match.group(1) == case.field + case.refused.field, (case.refused.kind, lines[0])
    assert case.refused.says in lines[0], (case.refused.kind, lines[0])
    assert "Traceback" not in err
    # Nothing written, committed or pushed; the checkout is clean and at the remote head.
    assert _digest(db_file) == before_file
    assert db_file.read_text() == repo.db_text
    assert _ref(repo.url) == before_head == repo.head
    assert _git(repo.work, "status", "--porcelain", "--untracked-files=all") == ""
    assert _git(repo.work, "rev-parse", "HEAD").strip() == repo.head


def test_nothing_reached_the_remote(repo: Repo) -> None:
    assert remote_log(repo.url) == repo.log
    assert remote_head(repo.url) == _ref(repo.url) == repo.head
    assert read_remote_file(repo.url, "db/db.json") == repo.db_text
    assert (repo.work / "db" / "db.json").read_text() == repo.db_text
