"""adapters/trace_history on real git repositories built in the formats update-db and
promote-overlay write (tests/unit/adapters/trace_repo.py)."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from gitops_release.adapters import trace_history
from gitops_release.adapters.trace_history import overlay_states_at, read_history
from gitops_release.core.db import dump_db
from gitops_release.core.trace import parse_query
from gitops_release.errors import GitError
from tests.fixtures.trace import trace
from tests.unit.adapters.trace_repo import POLICY, ConfigRepo, kustomization, release

IMAGE = "ghcr.io/org/app"


def flow(tmp_path: Path) -> tuple[ConfigRepo, dict[str, str]]:
    """dispatch sha-1 -> PR #7 (merge commit) to staging -> dispatch sha-2 -> squash-merged PR #8
    to staging -> rollback of staging to sha-1."""
    repo = ConfigRepo(tmp_path / "repo")
    shas = {"init": repo.init()}
    shas["d1"] = repo.update_db(release("app", "dev", "sha-1"), write_through=True) or ""
    shas["p7"] = repo.set_overlay(
        "app", "staging", IMAGE, "sha-1", source_env="dev", merge_pr=7, author="alice"
    )
    shas["d2"] = repo.update_db(release("app", "dev", "sha-2"), write_through=True) or ""
    shas["p8"] = repo.set_overlay(
        "app",
        "staging",
        IMAGE,
        "sha-2",
        source_env="dev",
        message="promote app dev -> staging (#8)",
        author="bob",
    )
    shas["rb"] = repo.set_overlay("app", "staging", IMAGE, "sha-1", kind="rollback", author="carol")
    return repo, shas


def changes(history):  # type: ignore[no-untyped-def]
    return [
        (c.environment, c.before.new_tag if c.before else None, c.after.new_tag if c.after else None, c.kind)
        for c in history.overlay_changes
    ]


def test_the_real_flow_with_merge_and_squash_pull_requests(tmp_path: Path) -> None:
    repo, shas = flow(tmp_path)
    history = read_history(repo.path, parse_query(f"{IMAGE}:sha-1"))
    assert history.head == shas["rb"] and history.environments == ("dev", "staging", "prod")
    assert [(c.channel, c.before and c.before.tag, c.after and c.after.tag) for c in history.db_changes] == [
        ("dev", None, "sha-1"),
        ("dev", "sha-1", "sha-2"),
    ]
    assert [c.commit.sha for c in history.db_changes] == [shas["d1"], shas["d2"]]
    assert changes(history) == [
        ("dev", None, "sha-1", "dispatch"),
        ("staging", None, "sha-1", "promote"),
        ("dev", "sha-1", "sha-2", "dispatch"),
        ("staging", "sha-1", "sha-2", "promote"),
        ("staging", "sha-2", "sha-1", "rollback"),
    ]
    promoted = history.overlay_changes[1]
    # The merge commit landed it (first-parent), the trailer is on the PR's commit.
    assert promoted.commit.sha == shas["p7"] and promoted.commit.pull_request == 7
    assert promoted.source_environment == "dev" and promoted.commit.author == "alice"
    assert history.overlay_changes[3].commit.pull_request == 8
    assert [r.tag for r in history.db_at_head] == ["sha-2"]
    assert ("staging", "app", "apps/app/overlays/staging/kustomization.yaml") in {
        e[:3] for e in history.overlays_at_head
    }
    assert history.notes == ()
    result = trace(f"{IMAGE}:sha-1", history, now=datetime.now(timezone.utc))
    staging = result.environments[1]
    assert staging.present and [s.arrival.kind for s in staging.stays] == ["promote", "rollback"]
    assert staging.stays[0].arrival.pull_request == 7 and staging.stays[0].replaced_by == f"{IMAGE}:sha-2"


def test_trace_never_writes_and_runs_no_writing_git_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _ = flow(tmp_path)
    ran: list[tuple[str, ...]] = []
    original = trace_history.Git._exec

    def spy(self, args, **kw):  # type: ignore[no-untyped-def]
        ran.append(tuple(args))
        return original(self, args, **kw)

    monkeypatch.setattr(trace_history.Git, "_exec", spy)
    before = subprocess.run(
        ["git", "-C", str(repo.path), "status", "--porcelain", "--ignored"], capture_output=True
    )
    read_history(repo.path, parse_query("app"))
    overlay_states_at(repo.path, [repo.git.head()])
    after = subprocess.run(
        ["git", "-C", str(repo.path), "status", "--porcelain", "--ignored"], capture_output=True
    )
    assert before.stdout == after.stdout
    subcommands = {next(a for a in args if not a.startswith("-")) for args in ran}
    assert subcommands <= {"log", "cat-file", "rev-parse", "rev-list"}


def test_an_unknown_ref_is_a_git_error(tmp_path: Path) -> None:
    repo, _ = flow(tmp_path)
    with pytest.raises(GitError, match="not a commit"):
        read_history(repo.path, parse_query("app"), ref="nope")
    with pytest.raises(GitError):
        read_history(repo.path, parse_query("app"), ref="--output=/tmp/x")


def test_a_never_released_image_is_not_found_after_the_scan(tmp_path: Path) -> None:
    repo, _ = flow(tmp_path)
    by_reference = read_history(repo.path, parse_query(f"{IMAGE}:sha-0"))
    # The repository names the container, but "not found" is said only after every db.json
    # version was searched (a hand-restored entry can hide a stay from the segment search).
    assert any("versions of db/db.json was searched" in note for note in by_reference.notes)
    bare = read_history(repo.path, parse_query("sha-nothere"))
    assert bare.db_changes == () and bare.overlay_changes == ()
    assert any("versions of db/db.json was searched" in note for note in bare.notes)
    for history, query in ((by_reference, f"{IMAGE}:sha-0"), (bare, "sha-nothere")):
        result = trace(query, history, now=datetime.now(timezone.utc))
        assert not result.found


def test_an_old_tag_gone_from_db_at_head_is_found_through_the_overlays(tmp_path: Path) -> None:
    repo, _ = flow(tmp_path)
    repo.set_overlay("app", "staging", IMAGE, "sha-2")  # sha-1 is now nowhere at head
    history = read_history(repo.path, parse_query("sha-1"))
    assert {c.container for c in history.db_changes} == {"app"}
    assert ("dev", None, "sha-1", "dispatch") in changes(history)


def test_a_renamed_overlay_directory_follows_the_file(tmp_path: Path) -> None:
    repo, _ = flow(tmp_path)
    repo.git.run("mv", "apps", "deploy")
    moved = repo.commit(
        {".gitops-release.yml": POLICY.replace("apps/*/overlays", "deploy/*/overlays")}, "move overlays"
    )
    history = read_history(repo.path, parse_query(f"{IMAGE}:sha-1"))
    renamed = [c for c in history.overlay_changes if c.commit.sha == moved]
    # A pure rename changes no entry: the stay goes on; the head state is at the new path.
    assert renamed == []
    assert {e[2] for e in history.overlays_at_head} == {
        "deploy/app/overlays/dev/kustomization.yaml",
        "deploy/app/overlays/staging/kustomization.yaml",
    }
    repo.set_overlay("app", "staging", IMAGE, "sha-3")  # the builder writes apps/: make it deploy/
    repo.git.run("rm", "-q", "-r", "apps")
    repo.write({"deploy/app/overlays/staging/kustomization.yaml": kustomization({IMAGE: ("sha-3", None)})})
    last = repo.commit(
        {}, "promote staging sha-3\n\nGitops-Release-Promotion: kind=promote to=staging key=k\n"
    )
    history = read_history(repo.path, parse_query(f"{IMAGE}:sha-1"))
    final = [c for c in history.overlay_changes if c.commit.sha == last]
    assert [(c.file, c.before and c.before.new_tag, c.after and c.after.new_tag) for c in final] == [
        ("deploy/app/overlays/staging/kustomization.yaml", "sha-1", "sha-3")
    ]


def test_a_db_reformatted_by_hand_is_no_change_and_a_revert_is_found(tmp_path: Path) -> None:
    repo, _ = flow(tmp_path)
    data = json.loads((repo.path / "db/db.json").read_text())
    repo.commit({"db/db.json": json.dumps(data, indent=4, sort_keys=True)}, "reformat the db by hand")
    repo.update_db(release("app", "dev", "sha-3"))
    repo.git.run("revert", "--no-edit", "HEAD")  # back to the reformatted text: an equal, earlier blob
    for exhaustive in (False, True):
        history = read_history(repo.path, parse_query("app"), exhaustive=exhaustive)
        assert [(c.before and c.before.tag, c.after and c.after.tag) for c in history.db_changes] == [
            (None, "sha-1"),
            ("sha-1", "sha-2"),
            ("sha-2", "sha-3"),
            ("sha-3", "sha-2"),
        ], exhaustive
        assert history.db_changes[-1].commit.subject.startswith('Revert "')


def test_an_unreadable_db_version_is_unknown_not_removed(tmp_path: Path) -> None:
    repo, _ = flow(tmp_path)
    repo.commit({"db/db.json": "{ not json"}, "broken by hand")
    repo.commit({"db/db.json": dump_db(repo.db)}, "restored")
    history = read_history(repo.path, parse_query("app"))
    assert [(c.before and c.before.tag, c.after and c.after.tag) for c in history.db_changes] == [
        (None, "sha-1"),
        ("sha-1", "sha-2"),
    ]
    assert any("does not parse as a db.json" in note for note in history.notes)


def test_hostile_old_versions_become_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, _ = flow(tmp_path)
    dev = repo.overlay_path("app", "dev")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    repo.commit({dev: bomb + "images: *i\n"}, "an alias bomb")
    target = repo.path / repo.overlay_path("app", "prod")
    target.parent.mkdir(parents=True)
    target.symlink_to("/etc/passwd")
    repo.commit({}, "a link")
    target.unlink()
    repo.commit({dev: kustomization({IMAGE: ("sha-2", None)})}, "fixed")
    monkeypatch.setattr(trace_history, "MAX_BLOB_BYTES", 2000)
    repo.commit(
        {
            "apps/app/overlays/staging/kustomization.yaml": kustomization({IMAGE: ("sha-1", None)})
            + "#" * 3000
        },
        "huge",
    )
    history = read_history(repo.path, parse_query(f"{IMAGE}:sha-2"))
    notes = "\n".join(history.notes)
    assert "does not parse" in notes and "alias" in notes.lower()
    assert "is a symbolic link" in notes
    assert "over the" in notes and "cap" in notes
    # The bomb's version is unknown: dev holds sha-2 throughout, no spurious removal.
    dev_changes = [c for c in history.overlay_changes if c.environment == "dev"]
    assert [(c.before and c.before.new_tag, c.after and c.after.new_tag) for c in dev_changes] == [
        (None, "sha-1"),
        ("sha-1", "sha-2"),
    ]


def test_overlay_states_at_reads_each_commit_and_none_for_unknown_ones(tmp_path: Path) -> None:
    repo, shas = flow(tmp_path)
    states = overlay_states_at(repo.path, [shas["p7"], shas["rb"], "0" * 40, "not-a-sha"])
    assert states["0" * 40] is None and states["not-a-sha"] is None
    at_p7 = {(env, s.new_tag) for env, _app, _file, s in states[shas["p7"]] or []}
    assert at_p7 == {("dev", "sha-1"), ("staging", "sha-1")}
    at_rb = {(env, s.new_tag) for env, _app, _file, s in states[shas["rb"]] or []}
    assert at_rb == {("dev", "sha-2"), ("staging", "sha-1")}


def test_a_shallow_clone_reads_what_it_has(tmp_path: Path) -> None:
    repo, shas = flow(tmp_path)
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "2", f"file://{repo.path}", str(shallow)],
        check=True,
        capture_output=True,
    )
    history = read_history(shallow, parse_query(f"{IMAGE}:sha-1"))
    assert history.head == shas["rb"]
    states = overlay_states_at(shallow, [shas["rb"], shas["d1"]])
    assert states[shas["d1"]] is None and states[shas["rb"]]


@pytest.mark.parametrize("seed", range(6))
def test_segment_search_equals_reading_every_version(tmp_path: Path, seed: int) -> None:
    """Random update-db histories (which respect the assumption: every change stamps a fresh
    updatedAt) give the same changes by segment search as by reading every version."""
    rng = random.Random(seed)
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    containers = ["app", "web", "api"]
    for step in range(rng.randint(15, 35)):
        batch = [
            release(rng.choice(containers), rng.choice(("dev", "staging", "prod")), f"t{step}-{i}")
            for i in range(rng.randint(1, 2))
        ]
        unique = {r.key: r for r in batch}
        repo.update_db(*unique.values())
        if rng.random() < 0.2:
            repo.commit({"README.md": f"{step}\n"}, "unrelated")
        if rng.random() < 0.1:
            repo.git.run("revert", "--no-edit", "HEAD")
            repo.db = __import__("gitops_release.core.db", fromlist=["load_db"]).load_db(
                (repo.path / "db/db.json").read_text()
            )
    for container in containers:
        fast = read_history(repo.path, parse_query(container))
        slow = read_history(repo.path, parse_query(container), exhaustive=True)
        assert fast.db_changes == slow.db_changes
        assert fast.blobs_read <= slow.blobs_read


OLD = "images:\n- name: ghcr.io/org/app\n  newTag: sha-1\n- name: ghcr.io/org/web\n  newTag: sha-9\n"
DIGESTED = OLD.replace("  newTag: sha-1\n", "  newTag: sha-1\n  digest: sha256:" + "a" * 64 + "\n")


@pytest.mark.parametrize(
    ("new", "quick"),
    [
        (OLD.replace("newTag: sha-1", "newTag: sha-2"), True),
        (OLD.replace("newTag: sha-1", "newTag: 1.10"), False),  # YAML reads a number: parse it
        (OLD.replace("newTag: sha-1", "newTag: yes"), False),
        (OLD.replace("newTag: sha-1", "newTag: 'sha-2'"), False),
        (OLD.replace("newTag: sha-1", "newTag: sha-2 # c"), False),
        (OLD.replace("newTag: sha-1", "newTag: &a sha-2"), False),
        (OLD.replace("  newTag: sha-1", "  newTag: sha-2\n  digest: sha256:" + "0" * 64), False),
        # promote-overlay moves newTag and digest together; two entries at once are fine too
        (DIGESTED.replace("sha-1", "sha-2").replace("a" * 64, "b" * 64), True),
        (OLD.replace("sha-1", "sha-2").replace("sha-9", "sha-8"), True),
        (OLD.replace("sha-1", "sha-2").replace("- name: ghcr.io/org/web", "- name: ghcr.io/org/x"), False),
        (OLD.replace("sha-1", "sha-2").replace("sha-9", "1.10"), False),
        (OLD.replace("- name: ghcr.io/org/app", "- name: ghcr.io/org/other"), False),
        (OLD.replace("newTag: sha-1", "newTagX: sha-2"), False),
    ],
)
def test_a_one_value_edit_skips_the_parse_only_when_certain(new: str, quick: bool) -> None:
    old = DIGESTED if "digest: sha256:" + "b" * 64 in new else OLD
    states = trace_history._states(old.encode(), "k.yaml", "kustomize", None)
    got = trace_history._one_value_edit(old.encode(), new.encode(), states)
    assert (got is not None) == quick
    if got is not None:
        assert got == trace_history._states(new.encode(), "k.yaml", "kustomize", None)


def test_a_value_written_twice_is_parsed(tmp_path: Path) -> None:
    text = "images:\n- name: a\n  newTag: sha-1\n- name: b\n  newTag: sha-1\n"
    states = trace_history._states(text.encode(), "k.yaml", "kustomize", None)
    new = text.replace("newTag: sha-1\n- name: b", "newTag: sha-2\n- name: b")
    assert trace_history._one_value_edit(text.encode(), new.encode(), states) is None


def test_a_promotion_without_its_trailer_takes_the_kind_its_release_manifest_records(tmp_path: Path) -> None:
    """A squash merge whose body was dropped, an amended message, a merged PR whose commits lost
    the trailer: the release manifest the same commit wrote says promote / rollback, not edit."""
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"), write_through=True)
    repo.set_overlay(
        "app", "staging", IMAGE, "sha-1", source_env="dev", message="promote app (#4)", trailer=False
    )
    repo.update_db(release("app", "dev", "sha-2"), write_through=True)
    repo.set_overlay("app", "staging", IMAGE, "sha-2", source_env="dev", merge_pr=5, trailer=False)
    repo.set_overlay("app", "staging", IMAGE, "sha-1", kind="rollback", message="amended", trailer=False)
    repo.commit({repo.overlay_path("app", "prod"): kustomization({IMAGE: ("sha-1", None)})}, "by hand")
    history = read_history(repo.path, parse_query(f"{IMAGE}:sha-1"))
    assert [(env, after, kind) for env, _before, after, kind in changes(history)] == [
        ("dev", "sha-1", "dispatch"),
        ("staging", "sha-1", "promote"),
        ("dev", "sha-2", "dispatch"),
        ("staging", "sha-2", "promote"),
        ("staging", "sha-1", "rollback"),
        ("prod", "sha-1", "edit"),  # no trailer and no manifest: an edit
    ]
    staging = [c for c in history.overlay_changes if c.environment == "staging"]
    assert [c.source_environment for c in staging] == ["dev", "dev", None]
    assert [c.commit.pull_request for c in staging] == [4, 5, None]


def test_a_tag_only_an_old_db_version_held_is_found_by_the_db_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No overlay ever held it and no db.json entry at head does: git grep over the db.json
    versions (several calls, two processes) finds the one version, and only it is parsed."""
    monkeypatch.setattr(trace_history, "_GREP_ARGS", 2)
    repo = ConfigRepo(tmp_path / "repo")
    repo.init()
    repo.update_db(release("app", "dev", "sha-1"), write_through=True)
    repo.update_db(release("app", "staging", "sha-old"))  # no overlay: a channel without write-through
    for n in range(2, 7):
        repo.update_db(release("app", "dev", f"sha-{n}"), write_through=True)
    repo.update_db(release("app", "staging", "sha-6"))
    history = read_history(repo.path, parse_query("sha-old"))
    staging = [c for c in history.db_changes if c.channel == "staging"]
    assert [(c.channel, c.before and c.before.tag, c.after and c.after.tag) for c in staging] == [
        ("staging", None, "sha-old"),
        ("staging", "sha-old", "sha-6"),
    ]
    assert any("versions of db/db.json was searched" in note for note in history.notes)
    result = trace("sha-old", history, now=datetime.now(timezone.utc))
    assert result.found and [i.tag for i in result.images] == ["sha-old"]


VALUES_POLICY = (
    "channels: [dev, staging, prod]\n"
    "overlays:\n"
    "  dir: apps/*/overlays\n"
    "  values:\n"
    "    - image: ghcr.io/org/chart\n"
    "      files: {dev: charts/chart/values-dev.yaml, staging: charts/chart/values-staging.yaml,\n"
    "              prod: charts/chart/values-prod.yaml}\n"
    "      tag: image.tag\n"
    "      digest: image.digest\n"
)
VALUES = (
    "replicaCount: 2\nimage:\n  repository: ghcr.io/org/chart\n  tag: v1  # the chart's tag\n"
    "  pullPolicy: Always\n"
)


@pytest.mark.parametrize("query", ["ghcr.io/org/chart:v2", "v2"])
def test_a_values_file_promotion_is_traced(tmp_path: Path, query: str) -> None:
    """policy overlays.values: promote-overlay edits the values file in place (core/values
    set_values); the reader follows the rule's key paths like a kustomize entry."""
    from gitops_release.commands.promote_overlay import TRAILER
    from gitops_release.core.values import set_values

    repo = ConfigRepo(tmp_path / "repo")
    files: dict[str, str | None] = {
        f"charts/chart/values-{env}.yaml": VALUES for env in ("dev", "staging", "prod")
    }
    init = repo.commit(
        {".gitops-release.yml": VALUES_POLICY, "db/db.json": dump_db(repo.db), **files}, "init"
    )
    texts = dict.fromkeys(("dev", "staging", "prod"), VALUES)

    def promote(env: str, tag: str, source: str | None, kind: str = "promote", **extra: str) -> str:
        path = f"charts/chart/values-{env}.yaml"
        texts[env] = set_values(texts[env], {"image.tag": tag, **extra}, path=path)
        message = f"{kind}: chart {source or ''} -> {env} ({tag})\n\n{TRAILER}: kind={kind} to={env} key=k\n"
        return repo.commit({path: texts[env]}, message, author="alice")

    promote("dev", "v2", None, kind="pin")
    arrived = promote("staging", "v2", "dev")
    promote("dev", "v3", None, kind="pin")
    left = promote("staging", "v1", None, kind="rollback")
    history = read_history(repo.path, parse_query(query))
    assert [
        (c.environment, c.file, c.image, c.before and c.before.new_tag, c.after and c.after.new_tag, c.kind)
        for c in history.overlay_changes
        if c.commit.sha != init
    ] == [
        ("dev", "charts/chart/values-dev.yaml", "ghcr.io/org/chart", "v1", "v2", "pin"),
        ("staging", "charts/chart/values-staging.yaml", "ghcr.io/org/chart", "v1", "v2", "promote"),
        ("dev", "charts/chart/values-dev.yaml", "ghcr.io/org/chart", "v2", "v3", "pin"),
        ("staging", "charts/chart/values-staging.yaml", "ghcr.io/org/chart", "v2", "v1", "rollback"),
    ]
    assert {(e, f, s.new_tag) for e, _a, f, s in history.overlays_at_head} >= {
        ("dev", "charts/chart/values-dev.yaml", "v3"),
        ("staging", "charts/chart/values-staging.yaml", "v1"),
    }
    result = trace(query, history, now=datetime.now(timezone.utc))
    assert result.found and [(i.image, i.tag) for i in result.images] == [("ghcr.io/org/chart", "v2")]
    staging = next(e for e in result.environments if e.environment == "staging")
    assert not staging.present and [
        (s.arrival.commit, s.arrival.kind, s.left_commit) for s in staging.stays
    ] == [(arrived, "promote", left)]
    assert staging.stays[0].replaced_by == "ghcr.io/org/chart:v1" and staging.stays[0].left_kind == "rollback"


def test_history_lists_the_first_parent_commits_oldest_first(tmp_path: Path) -> None:
    repo, shas = flow(tmp_path)
    history = read_history(repo.path, parse_query(f"{IMAGE}:sha-1"))
    listed = repo.git.run("rev-list", "--first-parent", "--reverse", "HEAD").out.split()
    assert history.first_parent == tuple(listed) and history.first_parent[-1] == shas["rb"]
    assert shas["p7"] in history.first_parent  # the merge commit, not the pull request's own commit


def test_the_pickaxe_log_leaves_out_exactly_the_db_path_whatever_its_characters(tmp_path: Path) -> None:
    repo = ConfigRepo(tmp_path / "repo")
    repo.commit({"db/db*.json": "sha-9\n", "db/dbX.json": "sha-9\n", "apps/a/k.yaml": "sha-9\n"}, "c")
    head = repo.git.head()
    logged = trace_history._log_raw(
        repo.git, head, ["."], renames=False, pickaxe="sha-9", exclude="db/db*.json"
    )
    assert sorted(e.path for item in logged for e in item.entries) == ["apps/a/k.yaml", "db/dbX.json"]
