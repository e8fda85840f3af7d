"""trace's inputs (checked before anything is read), the CLI's positional query and env-only
token, how Argo CD source paths map to environments, and how a container query's images are
joined one by one."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gitops_release import cli
from gitops_release.commands import trace
from gitops_release.core import argocd as argo_rules
from gitops_release.core.policy import load_policy
from gitops_release.core.promotion import ImageState
from gitops_release.core.trace_model import (
    ArgoApp,
    ArgoHistoryEntry,
    EnvTrace,
    Finding,
    MatchedImage,
    Query,
    TimelineEvent,
    TraceResult,
)
from gitops_release.errors import InputError, UsageError
from gitops_release.runtime import Console, InputReader

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def inputs(**values: str) -> trace.Inputs:
    env = {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in values.items()}
    env.setdefault("INPUT_QUERY", "ghcr.io/org/api:sha-1")
    return trace.Inputs.from_reader(InputReader(env=env))


def test_defaults() -> None:
    got = inputs()
    assert got.query.kind == "reference" and got.query.tag == "sha-1"
    assert (got.repo_dir, got.ref, got.db_path, got.policy_path) == (
        ".",
        "HEAD",
        "db/db.json",
        ".gitops-release.yml",
    )
    assert got.format == "table" and not got.fail_if_missing and not got.exhaustive
    assert got.argocd_server is None and got.github_token is None and got.json_file is None
    assert got.server_timeout == trace.DEFAULT_SERVER_TIMEOUT


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"query": "bad\x01"}, "query"),
        ({"query": "x" * 600}, "query"),
        ({"ref": "--upload-pack=evil"}, "ref"),
        ({"db_path": "../outside.json"}, "db-path"),
        ({"policy_path": "/etc/passwd"}, "policy-path"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-31T12:00:00"}, "since"),  # no offset: which zone?
        ({"env": "dev,st age"}, "env"),
        ({"limit": "0"}, "limit"),
        ({"format": "yaml"}, "format"),
        ({"argocd_server": "ftp://argocd"}, "argocd-server"),
        ({"argocd_app": "Not_An_App"}, "argocd-app"),
        ({"argocd_app": "web", "argocd_selector": "team=web"}, "argocd-selector"),
        ({"argocd_app_namespace": "Bad NS"}, "argocd-app-namespace"),
        ({"argocd_insecure": "true", "argocd_ca_file": "/dev/null"}, "argocd-ca-file"),
        ({"repository": "not a repo"}, "repository"),
        ({"api_url": "https://user:pw@ghe.example"}, "api-url"),
        ({"server_timeout": "1h"}, "server-timeout"),
    ],
)
def test_bad_inputs_are_refused_naming_the_field(values: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as caught:
        inputs(**values)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30d", NOW - timedelta(days=30)),
        ("12h", NOW - timedelta(hours=12)),
        ("2w", NOW - timedelta(weeks=2)),
        ("90m", NOW - timedelta(minutes=90)),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=timezone.utc)),
        ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=timezone.utc)),
        ("2026-01-31T14:00:00+02:00", datetime(2026, 1, 31, 12, tzinfo=timezone.utc)),
    ],
)
def test_since_is_a_date_a_time_or_a_duration_back_from_now(raw: str, expected: datetime) -> None:
    assert trace.parse_since(raw, NOW) == expected


def test_servers_and_tokens_come_from_the_environment_and_are_masked() -> None:
    env = {
        "INPUT_QUERY": "api",
        "ARGOCD_SERVER": "argocd.example.com",
        "ARGOCD_TOKEN": "argocd-secret-1234",
        "GITHUB_TOKEN": "ghs_secret_5678",
        "GITHUB_REPOSITORY": "org/config",
    }
    got = trace.Inputs.from_reader(InputReader(env=env))
    assert got.argocd_server == "https://argocd.example.com"
    assert got.argocd_token == "argocd-secret-1234" and got.github_token == "ghs_secret_5678"
    assert got.repository == "org/config"
    assert "secret" not in repr(got)
    from gitops_release.runtime import redact

    assert redact("a argocd-secret-1234 b ghs_secret_5678") == "a *** b ***"


def test_json_file_defaults_to_runner_temp_in_actions(tmp_path: Path) -> None:
    env = {"INPUT_QUERY": "api", "GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(tmp_path)}
    got = trace.Inputs.from_reader(InputReader(env=env))
    assert got.json_file == str(tmp_path / trace.JSON_FILE_NAME)


def _cli(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    console = Console(env=env or {}, out=out, err=err)
    try:
        name, rest = cli._split_command(argv)
        code = cli.run_command(name, rest, env or {}, console)
    except UsageError as exc:
        return exc.exit_code, out.getvalue(), exc.one_line()
    except InputError as exc:
        return exc.exit_code, out.getvalue(), exc.one_line()
    return code, out.getvalue(), err.getvalue()


def test_the_query_is_the_positional_argument_or_query_once() -> None:
    parser = cli._build_parser("trace", trace)
    assert vars(parser.parse_args(["ghcr.io/org/api:sha-1"]))["_positional"] == "ghcr.io/org/api:sha-1"
    code, _, err = _cli(["trace", "sha-1", "--query", "sha-2"])
    assert code == 2 and "given twice" in err


def test_the_github_token_has_no_flag() -> None:
    help_text = cli._build_parser("trace", trace).format_help()
    assert "--github-token" not in help_text and "QUERY" in help_text
    code, _, err = _cli(["trace", "api", "--github-token", "ghp_x"])
    assert code == 2 and "unrecognized arguments" in err
    with pytest.raises(InputError, match="command-line flag"):
        trace.Inputs.from_reader(InputReader(env={}, flags={"query": "api", "github-token": "ghp_x"}))


# -- Argo CD source paths -> environments --------------------------------------------------------


def _source(path: str, chart: str = "") -> argo_rules.SourceRef:
    return argo_rules.SourceRef(
        repo_url="https://github.com/org/config.git", path=path, target_revision="", chart=chart
    )


def test_an_app_source_path_maps_to_the_environment_whose_overlay_it_is() -> None:
    policy = load_policy(
        "channels: [dev, stage, prod]\n"
        "overlays:\n  dir: apps/*/overlays\n  environments: {prod: production}\n"
    )
    environment_of = trace._environment_of(trace._overlay_dir_patterns(policy, None))
    assert environment_of(_source("apps/api/overlays/dev")) == ("dev", "api")
    assert environment_of(_source("apps/web/overlays/production/")) == ("prod", "web")
    assert environment_of(_source("apps/api/overlays/prod")) is None  # mapped to production
    assert environment_of(_source("apps/a/b/overlays/dev")) is None  # * is one segment
    assert environment_of(_source("apps/api/overlays/dev", chart="api")) is None
    override = trace._environment_of(trace._overlay_dir_patterns(policy, "infra/overlays"))
    assert override(_source("infra/overlays/stage")) == ("stage", "")


# -- which revisions hold the image; a container query's images one by one -------------------------


def _state(tag: str | None, digest: str | None = None, name: str = "ghcr.io/org/api") -> ImageState:
    return ImageState(name=name, new_name=None, new_tag=tag, digest=digest)


def test_a_revision_holds_the_image_when_tag_or_digest_match_in_that_env() -> None:
    image = MatchedImage("api", "ghcr.io/org/api", "sha-1", "sha256:" + "1" * 64)
    app = ArgoApp(
        "api-stage",
        "stage",
        "Synced",
        "Healthy",
        "c" * 40,
        (ArgoHistoryEntry(1, "a" * 40, NOW), ArgoHistoryEntry(2, "b" * 40, NOW)),
    )
    states = {
        "a" * 40: [("stage", "api", "f", _state("sha-0"))],
        "b" * 40: [("dev", "api", "f", _state("sha-1")), ("stage", "api", "f", _state("sha-1"))],
        "c" * 40: None,  # not in this clone
    }
    [got] = trace._with_revisions([app], image, states)
    assert dict(got.image_at_revision) == {"a" * 40: False, "b" * 40: True, "c" * 40: None}
    assert trace._holds(_state(None, image.digest), image)
    assert not trace._holds(_state("sha-1", "sha256:" + "2" * 64), image)
    assert not trace._holds(_state("sha-1", name="ghcr.io/org/other"), image)
    assert trace._holds(
        _state("sha-1", name="docker.io/library/api"), MatchedImage(None, "api", "sha-1", None)
    )


def test_the_answers_of_each_image_are_put_together_in_order() -> None:
    query = Query(raw="api", kind="container", container="api")

    def part(tag: str, env: str, hour: int) -> TraceResult:
        image = MatchedImage("api", "ghcr.io/org/api", tag, None)
        return TraceResult(
            query=Query(raw=f"ghcr.io/org/api:{tag}", kind="reference"),
            found=True,
            images=(image,),
            environments=(EnvTrace(env, True, None, None, (), ()),),
            timeline=(TimelineEvent(NOW.replace(hour=hour), env, "overlay", "promote", None, tag),),
            findings=(Finding("skipped", None, "same note"),),
            ref="HEAD",
            head="h" * 40,
            generated_at=NOW,
            notes=("same note",),
            image_of_environment=(0,),
        )

    merged = trace._merge(query, [part("sha-2", "dev", 10), part("sha-1", "prod", 9)], limit=None)
    assert merged.query == query and [i.tag for i in merged.images] == ["sha-2", "sha-1"]
    assert merged.image_of_environment == (0, 1)
    assert [e.text for e in merged.timeline] == ["sha-1", "sha-2"]  # oldest first
    assert merged.findings == (Finding("skipped", None, "same note"),) and merged.notes == ("same note",)
    assert [e.text for e in trace._merge(query, [part("a", "dev", 1), part("b", "dev", 2)], 1).timeline] == [
        "b"
    ]


def test_outputs_name_the_envs_holding_it_now() -> None:
    result = TraceResult(
        query=Query(raw="x", kind="tag", tag="x"),
        found=True,
        images=(),
        environments=(
            EnvTrace("dev", True, None, None, (), ()),
            EnvTrace("stage", False, None, None, (), ()),
            EnvTrace("prod", True, None, None, (), ()),
            EnvTrace("dev", True, None, None, (), ()),
        ),
        timeline=(),
        findings=(),
        ref="HEAD",
        head="h",
        generated_at=NOW,
    )
    out = trace.Outputs(result=result, format="table", text="t\n", markdown="m", json_file="")
    assert out.as_dict() == {"found": True, "present-in": "dev,prod", "json-file": ""}
    assert out.report() == "t" and out.summary() == "m"
