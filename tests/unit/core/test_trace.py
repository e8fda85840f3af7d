"""core/trace: parse_query's forms and refusals; build_trace on hand-made histories."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from gitops_release.core.promotion import ImageState
from gitops_release.core.release import Release, Source
from gitops_release.core.trace import build_trace, normalise_image, parse_query, state_holds
from gitops_release.core.trace_model import (
    ArgoApp,
    Commit,
    DbChange,
    DeploymentRecord,
    History,
    MatchedImage,
    OverlayChange,
    Query,
)
from gitops_release.errors import InputError

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
IMAGE = "ghcr.io/org/app"
DIGEST = "sha256:" + "a" * 64


# -- parse_query -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "ghcr.io/org/app:sha-abc12345",
            Query("ghcr.io/org/app:sha-abc12345", "reference", IMAGE, "sha-abc12345"),
        ),
        (f"ghcr.io/org/app@{DIGEST}", Query(f"ghcr.io/org/app@{DIGEST}", "reference", IMAGE, None, DIGEST)),
        (
            f"ghcr.io/org/app:v1@{DIGEST}",
            Query(f"ghcr.io/org/app:v1@{DIGEST}", "reference", IMAGE, "v1", DIGEST),
        ),
        ("localhost:5000/app:1", Query("localhost:5000/app:1", "reference", "localhost:5000/app", "1")),
        (DIGEST, Query(DIGEST, "digest", digest=DIGEST)),
        ("abc1234", Query("abc1234", "source-sha", tag="abc1234", source_sha="abc1234")),
        ("a" * 40, Query("a" * 40, "source-sha", tag="a" * 40, source_sha="a" * 40)),
        ("my-app", Query("my-app", "tag", tag="my-app", container="my-app")),
        ("V1.2", Query("V1.2", "tag", tag="V1.2")),
        ("ABCDEF1", Query("ABCDEF1", "tag", tag="ABCDEF1")),  # upper case: a tag, not a sha
        ("  my-app ", Query("  my-app ", "tag", tag="my-app", container="my-app")),
    ],
)
def test_parse_query_forms(text: str, expected: Query) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("a" * 513, "513 characters"),
        ("app\n", "control character"),
        ("app\x1b[31m", "control character"),
        ("two words", "holds a space"),
        ("sha256:abc", "not a sha256 digest"),
        ("ghcr.io/org/app", "without a tag or digest"),
        ("ghcr.io/Org/app:1", "is not an image repository"),
        ("ghcr.io/org/app:-bad", "is not a tag"),
        ("ghcr.io/org/app@sha256:zz", "is not a sha256 digest"),
        ("-rf", "is not an image reference"),
        (".hidden", "is not an image reference"),
    ],
)
def test_parse_query_refuses_with_the_field_and_a_fix(text: str, words: str) -> None:
    with pytest.raises(InputError) as info:
        parse_query(text)
    assert info.value.field == "query"
    assert words in info.value.message
    assert info.value.fix


def test_normalise_image_compares_docker_hub_forms_alike() -> None:
    forms = {"nginx", "docker.io/nginx", "docker.io/library/nginx", "index.docker.io/library/nginx"}
    assert {normalise_image(f) for f in forms} == {"nginx"}
    assert normalise_image("ghcr.io/library/nginx") == "ghcr.io/library/nginx"


# -- build_trace -----------------------------------------------------------------------------


def commit(n: int, subject: str = "x", *, pr: int | None = None, author: str = "alice") -> Commit:
    at = T0 + timedelta(hours=n)
    return Commit(f"{n:02d}" * 20, (), author, f"{author}@x", at, author, at, subject, "", pr)


def rel(tag: str, channel: str = "dev", container: str = "app", n: int = 0) -> Release:
    stamp = (T0 + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Release(
        container, channel, f"ghcr.io/org/{container}", tag, None, Source(f"org/{container}", "c" * 40), stamp
    )


def state(tag: str | None, name: str = IMAGE) -> ImageState:
    return ImageState(name=name, new_tag=tag)


def ov(
    n: int, env: str, before: str | None, after: str | None, kind: str = "promote", **kw: object
) -> OverlayChange:
    return OverlayChange(
        commit(n, f"{kind} {env}", pr=kw.pop("pr", None)),  # type: ignore[arg-type]
        env,
        "app",
        f"apps/app/overlays/{env}/kustomization.yaml",
        IMAGE,
        state(before) if before else None,
        state(after) if after else None,
        kind,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def history(
    overlay: list[OverlayChange],
    db: list[DbChange] = (),  # type: ignore[assignment]
    *,
    at_head: dict[str, str] | None = None,
    db_head: tuple[Release, ...] = (),
    notes: tuple[str, ...] = (),
) -> History:
    heads = at_head or {}
    return History(
        ref="main",
        head="f" * 40,
        environments=("dev", "staging", "prod"),
        db_changes=tuple(db),
        overlay_changes=tuple(overlay),
        db_at_head=db_head,
        overlays_at_head=tuple(
            (env, "app", f"apps/app/overlays/{env}/kustomization.yaml", state(tag))
            for env, tag in heads.items()
        ),
        notes=notes,
    )


def trace(query: str, hist: History, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "argo": None,
        "deployments": None,
        "since": None,
        "environments": None,
        "limit": None,
        "now": T0 + timedelta(days=30),
    }
    args.update(kw)
    return build_trace(parse_query(query), hist, **args)  # type: ignore[arg-type]


def full_flow() -> History:
    """dispatch v1 to dev -> PR #5 to staging -> prod -> v2 everywhere but prod -> prod rollback
    from v2 to v1 -> a git revert of staging back to v1."""
    return history(
        [
            ov(1, "dev", None, "v1", "dispatch"),
            ov(2, "staging", None, "v1", "promote", pr=5, source_environment="dev"),
            ov(4, "prod", None, "v1", "promote", pr=6),
            ov(5, "dev", "v1", "v2", "dispatch"),
            ov(6, "staging", "v1", "v2", "promote", pr=7),
            ov(7, "prod", "v1", "v2", "promote", pr=8),
            ov(8, "prod", "v2", "v1", "rollback"),
            ov(9, "staging", "v2", "v1", "revert"),
        ],
        [
            DbChange(commit(1), "app", "dev", None, rel("v1", n=1)),
            DbChange(commit(5), "app", "dev", rel("v1", n=1), rel("v2", n=5)),
        ],
        at_head={"dev": "v2", "staging": "v1", "prod": "v1"},
        db_head=(rel("v2", n=5),),
    )


def test_arrivals_stays_soak_and_replacements() -> None:
    result = trace("ghcr.io/org/app:v1", full_flow())
    assert result.found and [i.tag for i in result.images] == ["v1"]
    dev, staging, prod = result.environments
    assert (dev.present, staging.present, prod.present) == (False, True, True)
    assert [(s.arrival.kind, s.replaced_by, s.left_kind) for s in dev.stays] == [
        ("dispatch", "ghcr.io/org/app:v2", "dispatch")
    ]
    assert [(s.arrival.kind, s.arrival.pull_request) for s in staging.stays] == [
        ("promote", 5),
        ("revert", None),
    ]
    assert staging.stays[0].arrival.source_environment == "dev"
    assert [s.arrival.kind for s in prod.stays] == ["promote", "rollback"]
    assert prod.since == T0 + timedelta(hours=8) and staging.since == T0 + timedelta(hours=9)
    assert dev.since is None
    assert dev.soak_seconds == 3600 and staging.soak_seconds == 7200 and prod.soak_seconds is None
    assert [s.arrival.kind for s in dev.channel_stays] == ["dispatch"]
    assert dev.channel_stays[0].replaced_by == "ghcr.io/org/app:v2"
    assert result.findings == ()
    # The timeline is in time order and names every arrival and replacement.
    times = [e.at for e in result.timeline]
    assert times == sorted(times)
    assert {e.kind for e in result.timeline} >= {"dispatch", "promote", "rollback", "revert", "replaced"}


def test_same_inputs_same_answer_whatever_the_order_of_argo_and_deployments() -> None:
    deployments = [
        DeploymentRecord(2, "staging", commit(2).sha, T0 + timedelta(hours=2, minutes=5), "success"),
        DeploymentRecord(1, "dev", commit(1).sha, T0 + timedelta(hours=1, minutes=5), "success"),
    ]
    apps = [
        ArgoApp("b", "prod", "Synced", "Healthy", "r1", (), (("r1", True),)),
        ArgoApp("a", "dev", "Synced", "Healthy", None, ()),
    ]
    first = trace("ghcr.io/org/app:v1", full_flow(), argo=apps, deployments=deployments)
    second = trace("ghcr.io/org/app:v1", full_flow(), argo=apps[::-1], deployments=deployments[::-1])
    assert first == second


def test_since_environments_and_limit_narrow_what_is_shown_not_present() -> None:
    hist = full_flow()
    result = trace(
        "ghcr.io/org/app:v1", hist, since=T0 + timedelta(hours=7, minutes=30), environments=["dev", "prod"]
    )
    assert [e.environment for e in result.environments] == ["dev", "prod"]
    dev, prod = result.environments
    assert dev.stays == () and dev.present is False  # left at hour 5, before since
    assert [s.arrival.kind for s in prod.stays] == ["rollback"] and prod.present
    assert all(e.at >= T0 + timedelta(hours=7, minutes=30) for e in result.timeline)
    limited = trace("ghcr.io/org/app:v1", hist, limit=2)
    assert len(limited.timeline) == 2
    assert limited.timeline == trace("ghcr.io/org/app:v1", hist).timeline[-2:]


def test_container_query_traces_its_releases_at_head_newest_first_and_limit_caps_them() -> None:
    head = (rel("v2", "dev", n=5), rel("v1", "prod", n=1), rel("v9", "dev", container="other", n=9))
    hist = history([], [], db_head=head)
    result = trace("app", hist)
    assert [i.tag for i in result.images] == ["v2", "v1"]
    assert result.image_of_environment == (0, 0, 0, 1, 1, 1)
    assert [i.tag for i in trace("app", hist, limit=1).images] == ["v2"]
    # Without overlays, "present" is the db channel.
    assert [e.present for e in result.environments] == [True, False, False, False, False, True]


def test_a_word_that_is_a_tag_wins_over_the_container() -> None:
    hist = history([ov(1, "dev", None, "app", "dispatch")], at_head={"dev": "app"}, db_head=(rel("v2", n=5),))
    result = trace("app", hist)
    assert [i.tag for i in result.images] == ["app"]


def test_source_sha_query_matches_releases_built_from_that_commit() -> None:
    built = Release(
        "app", "dev", IMAGE, "v3", None, Source("org/app", "abcdef1" + "0" * 33), "2026-03-01T00:00:00Z"
    )
    result = trace("abcdef1", history([], [], db_head=(built, rel("v2", n=5))))
    assert [(i.tag, i.source_sha) for i in result.images] == [("v3", "abcdef1" + "0" * 33)]


def test_digest_query_and_kustomize_entries_by_new_name() -> None:
    moved = OverlayChange(
        commit(1),
        "dev",
        "app",
        "k.yaml",
        "app",
        None,
        ImageState("app", "docker.io/library/nginx", None, DIGEST),
        "edit",
    )
    hist = History("main", "f" * 40, ("dev",), (), (moved,), (), (("dev", "app", "k.yaml", moved.after),))  # type: ignore[arg-type]
    result = trace(DIGEST, hist)
    assert result.found and result.environments[0].present
    assert trace(f"nginx@{DIGEST}", hist).environments[0].present
    assert not trace(f"ghcr.io/x/nginx@{DIGEST}", hist).found


def test_never_released_is_not_found_with_an_empty_answer_and_the_notes() -> None:
    result = trace("ghcr.io/org/app:nope", full_flow())
    assert not result.found and result.images == () and result.environments == () and result.timeline == ()
    noted = trace("nope", history([], notes=("every db.json version was read",)))
    assert [(f.kind, f.message) for f in noted.findings] == [("skipped", "every db.json version was read")]


def test_drift_when_argo_runs_another_revision_or_is_out_of_sync() -> None:
    apps = [
        ArgoApp("app-prod", "prod", "Synced", "Healthy", "r-old", (), (("r-old", False),)),
        ArgoApp("app-staging", "staging", "OutOfSync", "Healthy", "r-new", (), (("r-new", True),)),
        ArgoApp("app-dev", "dev", "Synced", "Healthy", "r-dev", (), (("r-dev", True),)),
    ]
    result = trace("ghcr.io/org/app:v1", full_flow(), argo=apps)
    drift = [(f.environment, f.message) for f in result.findings if f.kind == "drift"]
    assert [env for env, _ in drift] == ["dev", "prod", "staging"]
    assert "no longer holds it" in drift[0][1]  # Argo still runs v1 in dev, the overlay moved on
    assert "synced to a revision that does not" in drift[1][1]
    assert "OutOfSync" in drift[2][1]
    assert [(e.environment, e.live) for e in result.environments] == [
        ("dev", True),
        ("staging", True),
        ("prod", False),
    ]


def test_gap_when_a_stay_has_no_deployment_status_only_with_deployments_given() -> None:
    hist = full_flow()
    assert not [f for f in trace("ghcr.io/org/app:v1", hist).findings if f.kind == "gap"]
    deployments = [
        DeploymentRecord(1, "dev", commit(1).sha, T0 + timedelta(hours=1, minutes=2), "success"),
        DeploymentRecord(2, "staging", commit(2).sha, T0 + timedelta(hours=2, minutes=2), None),  # no status
        DeploymentRecord(3, "prod", commit(4).sha, T0 + timedelta(hours=4, minutes=2), "success"),
        DeploymentRecord(4, "prod", commit(8).sha, T0 + timedelta(hours=8, minutes=2), "failure"),
    ]
    result = trace("ghcr.io/org/app:v1", hist, deployments=deployments)
    gaps = [(f.environment, f.message) for f in result.findings if f.kind == "gap"]
    assert [env for env, _ in gaps] == ["staging", "staging"]
    assert commit(2).sha[:12] in gaps[0][1] or commit(2).sha[:12] in gaps[1][1]
    prod = result.environments[2]
    assert [d.id for d in prod.deployments] == [3, 4]


def test_mismatch_when_the_db_channel_and_the_overlay_disagree() -> None:
    hist = history(
        [ov(1, "dev", None, "v1", "dispatch"), ov(2, "dev", "v1", "v0", "edit")],
        [DbChange(commit(1), "app", "dev", None, rel("v1", n=1))],
        at_head={"dev": "v0"},
        db_head=(rel("v1", n=1),),
    )
    result = trace("ghcr.io/org/app:v1", hist)
    assert [(f.kind, f.environment) for f in result.findings] == [("mismatch", "dev")]
    assert "db.json channel dev holds" in result.findings[0].message
    # A channel db.json does not record for the container is not a mismatch (promotions move overlays).
    assert not [f for f in trace("ghcr.io/org/app:v1", full_flow()).findings if f.kind == "mismatch"]


def test_a_renamed_overlay_keeps_the_stay() -> None:
    moved = [
        ov(1, "dev", None, "v1", "dispatch"),
        OverlayChange(
            commit(3, "move"),
            "dev",
            "app",
            "apps/app/overlays/dev/kustomization.yaml",
            IMAGE,
            state("v1"),
            None,
            "edit",
        ),
        OverlayChange(
            commit(3, "move"),
            "dev",
            "app",
            "new/app/dev/kustomization.yaml",
            IMAGE,
            None,
            state("v1"),
            "edit",
        ),
    ]
    result = trace("ghcr.io/org/app:v1", history(moved, at_head={"dev": "v1"}))
    assert [(s.arrival.kind, s.left_at) for s in result.environments[0].stays] == [("dispatch", None)]


def test_gap_counts_a_deployment_of_any_commit_landed_while_the_image_was_there() -> None:
    """first-parent order decides: the arrival commit or a later commit of the branch before the
    one that replaced it, whenever the deployment was created; the replacing commit never counts."""
    # Promotions in both envs (a dispatch to dev expects no deployment status: no gap either way).
    hist = history(
        [
            ov(1, "dev", None, "v1", "promote"),
            ov(2, "staging", None, "v1"),
            ov(4, "dev", "v1", "v2", "promote"),
            ov(5, "staging", "v1", "v2"),
        ],
        at_head={"dev": "v2", "staging": "v2"},
    )
    hist = dataclasses.replace(hist, first_parent=tuple(commit(n).sha for n in range(7)))
    deployments = [
        # dev: commit 3 landed after v1 arrived (1) and before v2 replaced it (4); deployed late.
        DeploymentRecord(1, "dev", commit(3).sha, T0 + timedelta(hours=6), "success"),
        # staging: the replacing commit 5, deployed (oddly early) while v1 was still there.
        DeploymentRecord(2, "staging", commit(5).sha, T0 + timedelta(hours=3), "success"),
    ]
    result = trace("ghcr.io/org/app:v1", hist, deployments=deployments)
    gaps = [f.environment for f in result.findings if f.kind == "gap"]
    assert gaps == ["staging"]
    assert [(e.environment, [d.id for d in e.deployments]) for e in result.environments[:2]] == [
        ("dev", [1]),
        ("staging", []),
    ]
    # Without the order (a hand-made History), the deployment's time decides as before.
    unordered_result = trace(
        "ghcr.io/org/app:v1", dataclasses.replace(hist, first_parent=()), deployments=deployments
    )
    assert [f.environment for f in unordered_result.findings if f.kind == "gap"] == ["dev"]


DIGEST_A, DIGEST_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def matched(image: str, tag: str | None = None, digest: str | None = None) -> MatchedImage:
    return MatchedImage(None, image, tag, digest)


@pytest.mark.parametrize(
    ("state", "image", "holds"),
    [
        (
            ImageState("nginx", new_tag="1.27"),
            matched("docker.io/library/nginx", "1.27", None),
            True,
        ),
        (
            ImageState("base", "index.docker.io/nginx", "1.27"),
            matched("nginx", "1.27", None),
            True,
        ),
        (
            ImageState("ghcr.io/org/app", new_tag="v1"),
            matched("ghcr.io/org/app", "v2", None),
            False,
        ),
        (
            ImageState("ghcr.io/org/app", new_tag="v1"),
            matched("ghcr.io/org/web", "v1", None),
            False,
        ),
        # tag and digest compared wherever both sides set them, at least one compared
        (ImageState("app", new_tag="v1", digest=DIGEST_A), matched("app", "v1", DIGEST_A), True),
        (ImageState("app", new_tag="v1", digest=DIGEST_A), matched("app", "v1", DIGEST_B), False),
        (ImageState("app", digest=DIGEST_A), matched("app", "v1", DIGEST_A), True),
        (ImageState("app", new_tag="v1"), matched("app", None, DIGEST_A), False),
        (ImageState("app"), matched("app", "v1"), False),
        (None, matched("app", "v1"), False),
    ],
)
def test_state_holds_is_the_one_matching_rule_and_the_command_uses_it(
    state: ImageState | None, image: MatchedImage, holds: bool
) -> None:
    from gitops_release.commands.trace import _holds

    assert state_holds(state, image) is holds
    if state is not None:
        assert _holds(state, image) is holds
