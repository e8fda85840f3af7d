"""core/promotion.py: the policy gates (order, mutable tags, digests) and the soak check."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gitops_release.core.policy import DEFAULT_POLICY, load_policy
from gitops_release.core.promotion import (
    ImageState,
    PlanItem,
    PromotionPlan,
    Target,
    check_gates,
    check_soak,
    format_duration,
)
from gitops_release.errors import PolicyError

D1 = "sha256:" + "1" * 64
FOUR = load_policy("channels: [dev, qa, stage, prod]\n")


def item(app: str, image: str, tag: str | None = "sha-1a2b3c4d", digest: str | None = D1) -> PlanItem:
    return PlanItem(
        app, image, Target(app, "k.yaml", "kustomize"), None, ImageState(image, None, tag, digest)
    )


GOOD = (item("my-app", "ghcr.io/org/my-app"),)


def refusal(plan: PromotionPlan, policy=DEFAULT_POLICY, *, allow_skip: bool = False) -> PolicyError:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyError) as info:
        check_gates(plan, policy, allow_skip=allow_skip)
    return info.value


@pytest.mark.parametrize(("source", "target"), [("dev", "qa"), ("qa", "stage"), ("stage", "prod")])
def test_the_next_environment_passes(source: str, target: str) -> None:
    check_gates(PromotionPlan(source, target, "promote", GOOD), FOUR, allow_skip=False)


def test_skipping_an_environment_is_refused_naming_what_is_skipped() -> None:
    error = refusal(PromotionPlan("dev", "prod", "promote", GOOD), FOUR)
    assert error.message == (
        "dev → prod refused (1 reason): dev → prod is not the next step in dev → qa → stage → prod: "
        "it skips qa, stage"
    )
    assert error.fix == "promote dev → qa first, or set allow-skip: true"
    assert error.title == "Refused by policy"


def test_allow_skip_lets_a_skip_through() -> None:
    check_gates(PromotionPlan("dev", "prod", "promote", GOOD), FOUR, allow_skip=True)


@pytest.mark.parametrize("allow_skip", [False, True])
def test_going_backwards_names_the_rollback(allow_skip: bool) -> None:
    plan = PromotionPlan("prod", "stage", "promote", GOOD)
    if allow_skip:  # allow-skip also lets a step back through: the user asked for it
        check_gates(plan, DEFAULT_POLICY, allow_skip=True)
        return
    error = refusal(plan)
    assert error.message == (
        "prod → stage refused (1 reason): prod → stage is not the next step in dev → stage → prod: "
        "stage comes before prod"
    )
    assert error.fix == "to roll stage back, pin the earlier tag or digest (or revert)"


def test_promoting_into_itself_and_from_the_last_environment() -> None:
    error = refusal(PromotionPlan("stage", "stage", "promote", GOOD))
    assert error.message.endswith(
        "stage → stage is not the next step in dev → stage → prod: stage comes before stage"
    )
    error = refusal(PromotionPlan("prod", "dev", "promote", GOOD))
    assert error.message.endswith(": dev comes before prod")


@pytest.mark.parametrize("kind", ["pin", "rollback"])
def test_pins_and_rollbacks_are_exempt_from_the_order(kind: str) -> None:
    check_gates(PromotionPlan(None, "prod", kind, GOOD), DEFAULT_POLICY, allow_skip=False)  # type: ignore[arg-type]
    check_gates(PromotionPlan("dev", "prod", kind, GOOD), DEFAULT_POLICY, allow_skip=False)  # type: ignore[arg-type]


def test_unknown_environments_are_refused_for_every_kind() -> None:
    error = refusal(PromotionPlan("qa", "uat", "promote", GOOD), allow_skip=True)
    assert error.message == (
        "qa → uat refused (2 reasons): qa is not an environment of this repository (dev → stage → prod); "
        "uat is not an environment of this repository (dev → stage → prod)"
    )
    assert error.fix == (
        "use one of dev, stage, prod or add it to channels in .gitops-release.yml; "
        "use one of dev, stage, prod or add it to channels in .gitops-release.yml"
    )
    error = refusal(PromotionPlan(None, "uat", "rollback", GOOD))
    assert error.message == (
        "rollback in uat refused (1 reason): uat is not an environment of this repository "
        "(dev → stage → prod)"
    )
    check_gates(PromotionPlan("prod", "prod", "pin", GOOD), DEFAULT_POLICY, allow_skip=False)


@pytest.mark.parametrize("tag", ["latest", "main", "v1", "3.12-slim", "stage"])
def test_mutable_tags_are_refused_with_core_tags_reason(tag: str) -> None:
    from gitops_release.core.tags import mutable_reason

    error = refusal(PromotionPlan("dev", "stage", "promote", (item("my-app", "ghcr.io/org/my-app", tag),)))
    assert error.message == (
        f"dev → stage refused (1 reason): my-app/ghcr.io/org/my-app: {mutable_reason(tag)} "
        "(tags.immutable is true)"
    )
    assert error.fix == (
        "use an immutably tagged build (sha-<commit> or a full semver like 1.4.2); a digest does not make "
        "a mutable tag acceptable"
    )


def test_the_policys_mutable_globs_are_refused() -> None:
    policy = load_policy("tags: {mutable: ['*-rc']}\n")
    error = refusal(PromotionPlan(None, "prod", "pin", (item("", "app", "1.4.0-rc"),)), policy)
    assert error.message == (
        "pin in prod refused (1 reason): app: '1.4.0-rc' matches '*-rc' of tags.mutable "
        "(tags.immutable is true)"
    )


def test_mutable_tags_pass_when_tags_are_not_immutable() -> None:
    policy = load_policy("tags: {immutable: false, mutable: ['*-rc']}\n")
    plan = PromotionPlan("dev", "stage", "promote", (item("a", "x", "latest"), item("a", "y", "1-rc")))
    check_gates(plan, policy, allow_skip=False)


def test_a_digest_only_item_has_no_tag_to_refuse() -> None:
    check_gates(
        PromotionPlan("dev", "stage", "promote", (item("a", "x", None, D1),)),
        DEFAULT_POLICY,
        allow_skip=False,
    )


def test_require_digest_for_the_target() -> None:
    policy = load_policy("tags: {requireDigest: [prod]}\n")
    plan = PromotionPlan("stage", "prod", "promote", (item("a", "x", "sha-1a2b3c4d", None), item("b", "y")))
    error = refusal(plan, policy)
    assert error.message == (
        "stage → prod refused (1 reason): a/x: no digest, and prod requires one (tags.requireDigest)"
    )
    assert error.fix == "set the digest in stage first (sha256:… from the build's push step)"
    pin = refusal(PromotionPlan(None, "prod", "pin", plan.items), policy)
    assert pin.fix == "give digest (sha256:… from the build's push step)"
    check_gates(PromotionPlan("dev", "stage", "promote", plan.items), policy, allow_skip=False)


def test_every_reason_in_one_error() -> None:
    policy = load_policy("tags: {requireDigest: [prod], mutable: ['*-rc']}\n")
    plan = PromotionPlan(
        "dev",
        "prod",
        "promote",
        (item("a", "x", "latest", None), item("b", "y", "b2-rc"), item("c", "z")),
    )
    error = refusal(plan, policy)
    assert error.message == (
        "dev → prod refused (4 reasons): dev → prod is not the next step in dev → stage → prod: "
        "it skips stage; "
        "a/x: 'latest' is a mutable tag that moves to newer images (tags.immutable is true); "
        "a/x: no digest, and prod requires one (tags.requireDigest); "
        "b/y: 'b2-rc' matches '*-rc' of tags.mutable (tags.immutable is true)"
    )
    assert error.fix == (
        "promote dev → stage first, or set allow-skip: true; "
        "use an immutably tagged build (sha-<commit> or a full semver like 1.4.2); a digest does not make "
        "a mutable tag acceptable; "
        "set the digest in dev first (sha256:… from the build's push step)"
    )


def test_a_built_in_reason_wins_over_a_glob_for_one_tag() -> None:
    policy = load_policy("tags: {mutable: [lat*]}\n")
    error = refusal(PromotionPlan("dev", "stage", "promote", (item("a", "x", "latest"),)), policy)
    assert "(1 reason)" in error.message and "tags.mutable" not in error.message


def test_the_reasons_are_cut_after_twenty() -> None:
    plan = PromotionPlan("dev", "stage", "promote", tuple(item(f"a{i:02}", "x", "latest") for i in range(25)))
    error = refusal(plan)
    assert error.message.startswith("dev → stage refused (25 reasons): a00/x: ")
    assert error.message.count("is a mutable tag") == 20
    assert "a19/x" in error.message and "a20/x" not in error.message
    assert error.message.endswith("(tags.immutable is true); and 5 more")
    exactly = PromotionPlan("dev", "stage", "promote", plan.items[:20])
    assert not refusal(exactly).message.endswith("more")


def test_an_empty_plan_passes_the_tag_gates() -> None:
    check_gates(
        PromotionPlan("dev", "stage", "promote", ()),
        load_policy("tags: {requireDigest: [stage]}"),
        allow_skip=False,
    )


# -- check_soak ---------------------------------------------------------------------------------

NOW = datetime(2026, 12, 7, 18, 0, 0, tzinfo=timezone.utc)
WHAT = "the latest deployment of stage"


def soak_error(**kwargs) -> PolicyError:  # type: ignore[no-untyped-def]
    args = {"state": "success", "since": NOW - timedelta(hours=1), "now": NOW, "soak": None, "what": WHAT}
    args.update(kwargs)
    with pytest.raises(PolicyError) as info:
        check_soak(**args)
    return info.value


def test_success_without_soak_passes() -> None:
    check_soak(state="success", since=None, now=NOW, soak=None, what=WHAT)
    check_soak(state="success", since=None, now=NOW, soak=0, what=WHAT)


def test_success_old_enough_passes_and_exactly_the_soak_time_passes() -> None:
    check_soak(state="success", since=NOW - timedelta(hours=25), now=NOW, soak=86400, what=WHAT)
    check_soak(state="success", since=NOW - timedelta(hours=24), now=NOW, soak=86400, what=WHAT)


def test_no_status() -> None:
    error = soak_error(state=None)
    assert error.message == f"{WHAT} was not found: require-status needs it to be success"
    assert error.fix == (
        "deploy the source environment (or let the status check report) and run again, "
        "or choose another require-status"
    )


@pytest.mark.parametrize("state", ["failure", "pending", "error", "in_progress", "SUCCESS", "inactive"])
def test_a_status_other_than_success(state: str) -> None:
    error = soak_error(state=state)
    assert error.message == f"{WHAT} is {state!r}, not 'success' (require-status)"
    assert error.fix == "wait until it succeeds (or fix the source environment) and run again"


def test_success_without_a_time_cannot_soak() -> None:
    error = soak_error(since=None, soak=7200)
    assert error.message == f"{WHAT} is success but has no time, so its soak time of 2h cannot be checked"
    assert error.fix == "let the status report again (it then carries a time) and run again"


def test_too_young_says_how_long_is_left_and_when_to_run_again() -> None:
    error = soak_error(since=NOW - timedelta(hours=20, minutes=30), soak=86400)
    assert error.message == (
        f"{WHAT} succeeded 20h 30m ago (2026-12-06T21:30:00Z), and the soak time is 1d: 3h 30m left"
    )
    assert error.fix == "run again after 2026-12-07T21:30:00Z, or lower soak-time where the policy allows"


def test_one_second_short_is_refused() -> None:
    error = soak_error(since=NOW - timedelta(seconds=7199), soak=7200)
    assert error.message.endswith("and the soak time is 2h: 1s left")


def test_a_time_in_the_future_counts_as_zero_age() -> None:
    error = soak_error(since=NOW + timedelta(minutes=5), soak=3600)
    assert error.message == (
        f"{WHAT} succeeded 0s ago (2026-12-07T18:05:00Z), and the soak time is 1h: 1h left"
    )
    assert error.fix.startswith("run again after 2026-12-07T19:05:00Z,")


def test_naive_and_other_zone_datetimes_are_read_as_utc() -> None:
    naive_since = datetime(2026, 12, 7, 17, 0, 0)
    error = soak_error(since=naive_since, now=datetime(2026, 12, 7, 17, 30, 0), soak=3600)
    assert "succeeded 30m ago (2026-12-07T17:00:00Z)" in error.message and error.message.endswith("30m left")
    plus_two = timezone(timedelta(hours=2))
    error = soak_error(since=datetime(2026, 12, 7, 19, 30, 0, 123456, tzinfo=plus_two), soak=3600)
    assert "succeeded 30m ago (2026-12-07T17:30:00Z)" in error.message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (0.2, "1s"),
        (59, "59s"),
        (60, "1m"),
        (61, "1m 1s"),
        (3600, "1h"),
        (3660, "1h 1m"),
        (3661, "1h 2m"),
        (86400, "1d"),
        (90000, "1d 1h"),
        (86400 + 3600 + 1, "1d 2h"),
        (86400 + 120 + 1, "1d 1h"),
        (86400 + 2 * 3600 + 3 * 60 + 4, "1d 3h"),
        (23 * 3600 + 59 * 60 + 30, "1d"),
        (3600 + 59, "1h 1m"),
        (119.5, "2m"),
        (2 * 86400 - 1, "2d"),
        (7 * 86400, "7d"),
        (5400, "1h 30m"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_names_in_reasons_have_control_characters_escaped() -> None:
    error = refusal(PromotionPlan("dev", "stage", "promote", (item("a\nb", "x\x1b[2J", "latest"),)))
    assert error.message.startswith("dev → stage refused (1 reason): a\\nb/x\\x1b[2J: 'latest' is")


def test_a_one_second_soak_still_needs_a_time() -> None:
    error = soak_error(since=None, soak=1)
    assert error.message == f"{WHAT} is success but has no time, so its soak time of 1s cannot be checked"


def test_naive_datetimes_are_utc_whatever_the_machines_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        error = soak_error(
            since=datetime(2026, 12, 7, 17, 0, 0), now=datetime(2026, 12, 7, 17, 30, 0), soak=3600
        )
        assert "succeeded 30m ago (2026-12-07T17:00:00Z)" in error.message
        plus_two = timezone(timedelta(hours=2))
        error = soak_error(since=datetime(2026, 12, 7, 19, 30, 0, tzinfo=plus_two), soak=3600)
        assert "succeeded 30m ago (2026-12-07T17:30:00Z)" in error.message
        assert error.fix == "run again after 2026-12-07T18:30:00Z, or lower soak-time where the policy allows"
    finally:
        monkeypatch.undo()
        time.tzset()
