"""dispatch-update: inputs, channel from ref, skip, payload shape, validation before any request.

The HTTP client is replaced by a recorder (a stand-in module for gitops_release.adapters.http),
so these tests check what would be sent and that a bad input sends nothing. The real client
against the GitHub sandbox is in tests/integration/test_dispatch_update.py.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path
from typing import Any

import pytest

from gitops_release import runtime
from gitops_release.cli import main
from gitops_release.commands import dispatch_update as du
from gitops_release.commands.base import Context
from gitops_release.errors import InputError
from gitops_release.runtime import Console, InputReader

SRC = Path(__file__).resolve().parents[3] / "src"
SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32
TOKEN = "ghp_unitTestToken1234567890"

BASE_ENV = {
    "GITHUB_REPOSITORY": "org/my-app",
    "GITHUB_SHA": SHA,
    "GITHUB_REF": "refs/heads/main",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_RUN_ID": "42",
}


def env_for(**inputs: str) -> dict[str, str]:
    env = dict(BASE_ENV)
    given = {"repository": "org/config", "token": TOKEN, "container": "my-app"}
    given.update({"image": "ghcr.io/org/my-app", "tag": "sha-01234567"})
    given.update({k.replace("_", "-"): v for k, v in inputs.items()})
    for name, value in given.items():
        env[f"INPUT_{name.upper()}"] = value
    return env


def read(**inputs: str) -> du.Inputs:
    return du.Inputs.from_reader(InputReader(env=env_for(**inputs)))


class Recorder:
    """Stands in for adapters.http.HttpClient; records constructor arguments and requests."""

    instances: list[Recorder] = []

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        self.base_url = base_url
        self.kwargs = kwargs
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        Recorder.instances.append(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append((args, kwargs))


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> type[Recorder]:
    Recorder.instances = []
    fake = types.ModuleType("gitops_release.adapters.http")
    fake.HttpClient = Recorder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gitops_release.adapters.http", fake)
    return Recorder


def requests_sent(rec: type[Recorder]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    return [call for inst in rec.instances for call in inst.calls]


# -- inputs and payload ------------------------------------------------------------------------


def test_defaults_fill_source_from_github_env_and_channel_from_ref(monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1769596200.25)  # 2026-01-28T10:30:00.250Z
    inputs = read(digest=DIGEST)
    assert inputs.repository == "org/config"
    assert inputs.event_type == "release-channel-update"
    assert inputs.api_url == "https://api.github.com"
    assert inputs.channels == ("dev",)
    assert inputs.client_payload == {
        "container": "my-app",
        "channel": "dev",
        "image": "ghcr.io/org/my-app",
        "tag": "sha-01234567",
        "digest": DIGEST,
        "source": {
            "repository": "org/my-app",
            "sha": SHA,
            "ref": "refs/heads/main",
            "runUrl": "https://github.com/org/my-app/actions/runs/42",
            "builtAt": "2026-01-28T10:30:00.250Z",  # when the step ran, to the millisecond
        },
    }


def test_token_is_registered_as_secret_and_hidden_from_repr():
    inputs = read()
    assert runtime.redact(f"x {TOKEN} y") == "x *** y"
    assert TOKEN not in repr(inputs)


def test_api_url_from_github_api_url_then_input():
    env = env_for()
    env["GITHUB_API_URL"] = "https://ghes.example.com/api/v3/"
    assert du.Inputs.from_reader(InputReader(env=env)).api_url == "https://ghes.example.com/api/v3"
    env["INPUT_API-URL"] = "http://127.0.0.1:9"
    assert du.Inputs.from_reader(InputReader(env=env)).api_url == "http://127.0.0.1:9"


def test_explicit_source_inputs_override_env():
    inputs = read(
        source_repository="other/repo",
        source_sha="f" * 40,
        source_ref="refs/heads/production",
        source_run_url="https://ci.example.com/run/7",
        built_at="2026-01-28T11:30:00.5+01:00",
    )
    payload = inputs.client_payload
    assert payload is not None
    assert payload["source"] == {
        "repository": "other/repo",
        "sha": "f" * 40,
        "ref": "refs/heads/production",
        "runUrl": "https://ci.example.com/run/7",
        "builtAt": "2026-01-28T10:30:00.5Z",  # the given time, in UTC
    }
    assert payload["channel"] == "prod"


@pytest.mark.parametrize(
    ("ref", "channel"),
    [
        ("refs/heads/main", "dev"),
        ("refs/heads/staging", "stage"),
        ("refs/heads/production", "prod"),
        ("refs/tags/v1.2.3", "prod"),
    ],
)
def test_default_channel_map(ref: str, channel: str):
    assert read(source_ref=ref).channels == (channel,)


def test_explicit_channel_wins_over_the_ref():
    inputs = read(source_ref="refs/heads/feature/x", channel="qa")
    assert inputs.channels == ("qa",)
    assert inputs.client_payload is not None and inputs.client_payload["channel"] == "qa"


def test_custom_channel_map_json():
    mapping = json.dumps({"refs/heads/develop": "dev", "refs/heads/release": "stage"})
    assert read(source_ref="refs/heads/release", channel_map=mapping).channels == ("stage",)


def test_custom_channel_map_lines_first_glob_wins():
    mapping = "refs/heads/release/*=stage\nrefs/heads/*=dev"
    assert read(source_ref="refs/heads/release/1.2", channel_map=mapping).channels == ("stage",)
    assert read(source_ref="refs/heads/topic", channel_map=mapping).channels == ("dev",)


def test_custom_channel_map_replaces_the_default():
    with pytest.raises(InputError) as caught:
        read(source_ref="refs/heads/main", channel_map="refs/heads/develop=dev")
    assert caught.value.field == "source-ref"
    assert "channel-map" in caught.value.message


def test_unmapped_ref_is_an_error_naming_source_ref():
    with pytest.raises(InputError) as caught:
        read(source_ref="refs/heads/feature/x")
    assert caught.value.field == "source-ref"
    assert "refs/heads/feature/x" in caught.value.message
    assert "on-unmapped-ref" in (caught.value.fix or "")


def test_unmapped_ref_with_skip_means_no_payload():
    inputs = read(source_ref="refs/heads/feature/x", on_unmapped_ref="skip")
    assert inputs.skipped
    assert inputs.client_payload is None
    assert "refs/heads/feature/x" in inputs.skipped_reason


def test_several_containers_share_image_tag_and_digest():
    env = env_for(containers="api\nworker", digest=DIGEST)
    del env["INPUT_CONTAINER"]
    payload = du.Inputs.from_reader(InputReader(env=env)).client_payload
    assert payload is not None
    assert [r["container"] for r in payload["releases"]] == ["api", "worker"]
    assert {r["image"] for r in payload["releases"]} == {"ghcr.io/org/my-app"}
    assert {r["digest"] for r in payload["releases"]} == {DIGEST}
    assert set(payload) == {"releases"}


def test_container_image_pairs_give_each_its_own_image():
    env = env_for(containers="api=ghcr.io/org/api, worker=ghcr.io/org/worker")
    del env["INPUT_CONTAINER"], env["INPUT_IMAGE"]
    payload = du.Inputs.from_reader(InputReader(env=env)).client_payload
    assert payload is not None
    assert [(r["container"], r["image"], r["tag"]) for r in payload["releases"]] == [
        ("api", "ghcr.io/org/api", "sha-01234567"),
        ("worker", "ghcr.io/org/worker", "sha-01234567"),
    ]


def test_one_entry_in_containers_is_still_a_single_release_object():
    env = env_for(containers="api")
    del env["INPUT_CONTAINER"]
    payload = du.Inputs.from_reader(InputReader(env=env)).client_payload
    assert payload is not None and payload["container"] == "api"


def test_payload_passes_the_shared_validator_update_db_uses():
    from gitops_release.core.release import parse_payload

    env = env_for(containers="api\nworker", digest=DIGEST)
    del env["INPUT_CONTAINER"]
    payload = du.Inputs.from_reader(InputReader(env=env)).client_payload
    assert len(parse_payload(payload)) == 2


# -- validation: the error names the input ------------------------------------------------------


def _without(env: dict[str, str], *names: str) -> dict[str, str]:
    for name in names:
        env.pop(f"INPUT_{name.upper()}", None)
    return env


BAD_INPUTS: list[tuple[dict[str, str], tuple[str, ...], str]] = [
    ({}, ("repository",), "repository"),
    ({}, ("token",), "token"),
    ({"repository": "not-a-repo"}, (), "repository"),
    ({"repository": "org/config/extra"}, (), "repository"),
    ({}, ("container",), "container"),
    ({"containers": "api,worker"}, (), "containers"),  # both container and containers
    ({"container": "My_App"}, (), "container"),
    ({"container": "api=ghcr.io/org/api"}, (), "container"),
    ({"containers": "api,api"}, ("container",), "containers"),
    ({"containers": "api=,worker"}, ("container",), "containers"),
    ({"containers": "Bad Name"}, ("container",), "containers"),
    ({}, ("image",), "image"),
    ({"image": "GHCR.io/Org/App:latest"}, (), "image"),
    ({}, ("tag",), "tag"),
    ({"tag": "-bad tag"}, (), "tag"),
    ({"digest": "sha256:abc"}, (), "digest"),
    ({"digest": "md5:" + "a" * 32}, (), "digest"),
    ({"channel": "Prod!"}, (), "channel"),
    ({"channel": "dev", "channel-map": '{"refs/heads/main": "dev"}'}, (), "channel-map"),
    ({"on-unmapped-ref": "ignore"}, (), "on-unmapped-ref"),
    ({"channel-map": "refs/heads/main"}, (), "channel-map"),
    ({"channel-map": '{"refs/heads/main": "dev"'}, (), "channel-map"),
    ({"channel-map": '{"refs/heads/main": 1}'}, (), "channel-map"),
    ({"event-type": "x" * 101}, (), "event-type"),
    ({"source-repository": "nope"}, (), "source-repository"),
    ({"source-sha": "abc123"}, (), "source-sha"),
    ({"source-ref": "refs/heads/main..x", "channel": "dev"}, (), "source-ref"),
    ({"source-run-url": "ftp://example.com/run"}, (), "source-run-url"),
    ({"api-url": "api.github.com"}, (), "api-url"),
    ({"api-url": "http://api.github.com"}, (), "api-url"),  # the token would travel unencrypted
    ({"api-url": "http://10.0.0.5:8080/api/v3"}, (), "api-url"),
    ({"api-url": "http://127.0.0.1.evil.example/"}, (), "api-url"),
    ({"api-url": "https://user:pw@ghes.example.com"}, (), "api-url"),
    ({"api-url": "https://ghes.example.com/api v3"}, (), "api-url"),
    ({"token": "ghp_abc def"}, (), "token"),
    ({"token": "ghp_abc\ndef"}, (), "token"),
    ({"token": "ghp_abc\x7fdef"}, (), "token"),
    ({"token": "ghp_abc\u00e9def"}, (), "token"),
    ({"containers": ",".join(f"c{i}" for i in range(51))}, ("container",), "containers"),
    ({"max-attempts": "0"}, (), "max-attempts"),
    ({"max-attempts": "many"}, (), "max-attempts"),
    ({"timeout": "soon"}, (), "timeout"),
]


@pytest.mark.parametrize(("given", "removed", "field"), BAD_INPUTS)
def test_bad_input_names_the_input(given: dict[str, str], removed: tuple[str, ...], field: str):
    env = _without(env_for(**{k.replace("-", "_"): v for k, v in given.items()}), *removed)
    with pytest.raises(InputError) as caught:
        du.Inputs.from_reader(InputReader(env=env))
    assert caught.value.field == field
    assert caught.value.fix
    assert "\n" not in str(caught.value)


def test_missing_github_env_defaults_name_the_input():
    env = env_for()
    del env["GITHUB_SHA"]
    with pytest.raises(InputError) as caught:
        du.Inputs.from_reader(InputReader(env=env))
    assert caught.value.field == "source-sha"
    env = env_for()
    del env["GITHUB_RUN_ID"]
    with pytest.raises(InputError) as caught:
        du.Inputs.from_reader(InputReader(env=env))
    assert caught.value.field == "source-run-url"


@pytest.mark.parametrize(("given", "removed", "field"), BAD_INPUTS)
def test_bad_input_sends_nothing_and_exits_1_with_one_error_line(
    recorder: type[Recorder],
    capsys: pytest.CaptureFixture[str],
    given: dict[str, str],
    removed: tuple[str, ...],
    field: str,
):
    env = _without(env_for(**{k.replace("-", "_"): v for k, v in given.items()}), *removed)
    env["GITHUB_ACTIONS"] = "true"
    assert main(["dispatch-update"], env=env) == 1
    assert requests_sent(recorder) == []
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert f"input '{field}'" in errors[0]


# -- run(): one request, outputs, summary --------------------------------------------------------


def _ctx(env: dict[str, str] | None = None) -> Context:
    out, err = io.StringIO(), io.StringIO()
    return Context(console=Console(env=env or {}, out=out, err=err), env=env or {})


def test_run_sends_exactly_one_idempotent_post(recorder: type[Recorder]):
    inputs = read(digest=DIGEST, max_attempts="3", timeout="20s")
    outputs = du.run(inputs, _ctx())
    calls = requests_sent(recorder)
    assert len(calls) == 1
    args, kwargs = calls[0]
    assert args == ("POST", "/repos/org/config/dispatches")
    assert kwargs["json_body"] == {
        "event_type": "release-channel-update",
        "client_payload": inputs.client_payload,
    }
    assert kwargs["idempotent"] is True
    assert kwargs["permission"] == "contents: write"
    assert kwargs["repository"] == "org/config"
    client = recorder.instances[0]
    assert client.base_url == "https://api.github.com"
    assert client.kwargs["token"] == TOKEN
    assert client.kwargs["policy"].max_attempts == 3
    assert client.kwargs["policy"].max_total_wait == 20.0
    assert outputs.as_dict() == {
        "payload": inputs.client_payload,
        "channel": "dev",
        "skipped": False,
        "dispatched-to": "org/config",
    }


def test_run_skipped_sends_nothing(recorder: type[Recorder]):
    inputs = read(source_ref="refs/heads/feature/x", on_unmapped_ref="skip")
    outputs = du.run(inputs, _ctx())
    assert requests_sent(recorder) == []
    assert outputs.as_dict() == {"payload": "", "channel": "", "skipped": True, "dispatched-to": ""}
    assert "refs/heads/feature/x" in outputs.summary()


def test_summary_table_lists_each_container():
    env = env_for(containers="api=ghcr.io/org/api\nworker=ghcr.io/org/worker", digest=DIGEST)
    del env["INPUT_CONTAINER"], env["INPUT_IMAGE"]
    inputs = du.Inputs.from_reader(InputReader(env=env))
    outputs = du.Outputs(inputs.client_payload, "dev", False, "org/config")
    summary = outputs.summary()
    assert "| container `api` | `ghcr.io/org/api:sha-01234567@" + DIGEST + "` |" in summary
    assert "| container `worker` |" in summary
    assert "| repository | `org/config` |" in summary


def test_cli_writes_compact_payload_and_outputs(recorder: type[Recorder], tmp_path: Path, capsys):
    env = env_for(digest=DIGEST)
    env.update(
        GITHUB_ACTIONS="true",
        GITHUB_OUTPUT=str(tmp_path / "out"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary"),
    )
    assert main(["dispatch-update"], env=env) == 0
    text = (tmp_path / "out").read_text()
    payload_line = text.split("payload<<", 1)[1].splitlines()[1]
    assert json.loads(payload_line)["digest"] == DIGEST
    assert " " not in payload_line  # compact JSON
    assert "skipped<<" in text and "\nfalse\n" in text
    assert "dispatched-to<<" in text
    assert "dispatch-update: dispatched" in (tmp_path / "summary").read_text()
    out = capsys.readouterr().out
    assert f"::add-mask::{TOKEN}" in out
    assert TOKEN not in out.replace(f"::add-mask::{TOKEN}", "") + text


def test_skip_through_cli_exits_0(recorder: type[Recorder], tmp_path: Path):
    env = env_for(source_ref="refs/heads/feature/x", on_unmapped_ref="skip")
    env.update(GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(tmp_path / "out"))
    assert main(["dispatch-update"], env=env) == 0
    assert "\ntrue\n" in (tmp_path / "out").read_text()
    assert requests_sent(recorder) == []


def test_every_input_spec_has_help_and_kebab_name():
    names = [spec.name for spec in du.INPUTS]
    assert len(names) == len(set(names))
    for spec in du.INPUTS:
        assert spec.help and spec.name == spec.name.lower() and "_" not in spec.name


def test_action_yml_declares_every_input_and_forwards_it_via_env():
    import yaml

    root = Path(__file__).resolve().parents[3]
    action = yaml.safe_load((root / "actions/dispatch-update/action.yml").read_text())
    assert set(action["inputs"]) == {spec.name for spec in du.INPUTS}
    step = action["runs"]["steps"][0]
    for spec in du.INPUTS:
        key = "INPUT_" + spec.name.upper().replace("-", "_")
        assert step["env"][key] == "${{ inputs." + spec.name + " }}"
        assert action["inputs"][spec.name]["description"]
        assert "default" in action["inputs"][spec.name]
    assert set(action["outputs"]) == set(du.Outputs(None, "", True, "").as_dict())
    assert "${{" not in step["run"]


# -- zero-install: standard library only --------------------------------------------------------

_IMPORT_PROBE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])
    env = json.loads(sys.argv[2])
    from gitops_release.cli import main
    rc = main(["dispatch-update"], env=env)
    print("RESULT", json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
    """
)


def test_dispatch_path_imports_only_the_standard_library(tmp_path: Path):
    """Run the command (up to a refused connection) in a fresh -I -S interpreter: every module
    loaded must be stdlib or gitops_release, and the HTTP adapter must be among them."""
    env = env_for(api_url="http://127.0.0.1:9", max_attempts="1")
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _IMPORT_PROBE, str(SRC), json.dumps(env)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    modules: list[str] = result["modules"]
    assert "gitops_release.adapters.http" in modules
    assert "gitops_release.commands.dispatch_update" in modules
    foreign = [
        m
        for m in modules
        if m.split(".")[0] not in sys.stdlib_module_names
        and m.split(".")[0] not in ("gitops_release", "__main__")
    ]
    assert foreign == []


# -- warnings: what update-db's default policy will refuse ---------------------------------------


def _warnings(ctx: Context) -> list[str]:
    out = ctx.console.out.getvalue()  # type: ignore[attr-defined]
    return [line for line in out.splitlines() if line.startswith("::warning")]


def test_prerelease_tag_to_prod_warns_but_is_sent(recorder: type[Recorder]):
    inputs = read(source_ref="refs/tags/v1.4.0-rc.1", tag="v1.4.0-rc.1", digest=DIGEST)
    assert inputs.channels == ("prod",)  # the default map sends every v* tag to prod
    ctx = _ctx({"GITHUB_ACTIONS": "true"})
    du.run(inputs, ctx)
    (warning,) = _warnings(ctx)
    assert "'v1.4.0-rc.1' is a pre-release going to channel 'prod'" in warning
    assert "refs/tags/v*-*=stage" in warning
    assert len(requests_sent(recorder)) == 1  # a warning, not a refusal: the policy decides


@pytest.mark.parametrize(
    ("tag", "ref", "words"),
    [
        ("latest", "refs/heads/main", "'latest' is a mutable tag"),
        ("latest-alpine", "refs/heads/main", "starts with 'latest'"),
        ("3.12-slim", "refs/heads/main", "floating version tag of a variant"),
        ("feature-x", "refs/heads/feature/x", "named after the ref"),
    ],
)
def test_mutable_tag_warns(recorder: type[Recorder], tag: str, ref: str, words: str):
    inputs = read(source_ref=ref, tag=tag, channel="dev")
    ctx = _ctx({"GITHUB_ACTIONS": "true"})
    du.run(inputs, ctx)
    (warning,) = _warnings(ctx)
    assert warning.startswith("::warning title=update-db will likely refuse this release::")
    assert words in warning and "tags.immutable" in warning
    assert len(requests_sent(recorder)) == 1


@pytest.mark.parametrize(
    ("tag", "ref", "channel"),
    [
        ("sha-01234567", "refs/heads/main", "dev"),
        ("v1.4.0", "refs/tags/v1.4.0", "prod"),
        ("v1.4.0-rc.1", "refs/tags/v1.4.0-rc.1", "stage"),  # pre-releases may go to stage
    ],
)
def test_no_warning_for_what_the_default_policy_accepts(
    recorder: type[Recorder], tag: str, ref: str, channel: str
):
    ctx = _ctx({"GITHUB_ACTIONS": "true"})
    du.run(read(source_ref=ref, tag=tag, channel=channel), ctx)
    assert _warnings(ctx) == []


def test_warning_words_are_the_ones_update_db_enforces():
    from gitops_release.core import release, tags

    assert tags.MUTABLE_TAGS is release.MUTABLE_TAGS
    for tag in ("latest", "v1", "3.12-slim", "alpine", "nightly"):
        assert du.tag_warnings({"tag": tag, "channel": "dev", "source": {}})
        assert tags.mutable_reason(tag) is not None


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9", "http://127.8.9.10/api", "http://localhost:8080", "http://[::1]:9/api/v3"]
)
def test_plain_http_only_for_loopback(url: str):
    assert read(api_url=url).api_url == url.rstrip("/")


def test_bad_token_error_never_shows_the_token():
    secret = "ghp_secretPart1 secretPart2"
    with pytest.raises(InputError) as caught:
        read(token=secret)
    text = str(caught.value)
    assert "contains a space at position 16 of 27" in text
    assert "secretPart" not in text


def test_fifty_containers_are_one_event():
    names = [f"c{i}" for i in range(50)]
    env = _without(env_for(containers=",".join(names), digest=DIGEST), "container")
    payload = du.Inputs.from_reader(InputReader(env=env)).client_payload
    assert payload is not None and [r["container"] for r in payload["releases"]] == names


def test_a_payload_too_large_for_github_names_containers_not_an_input_that_does_not_exist():
    image = "ghcr.io/org/" + "/".join(["p" * 60] * 3)
    pairs = "\n".join(f"c{i:02d}-{'x' * 50}={image}" for i in range(50))
    env = env_for(containers=pairs, digest=DIGEST, source_run_url="https://ci.example.com/" + "r" * 2000)
    env = _without(env, "container")
    with pytest.raises(InputError) as caught:
        du.Inputs.from_reader(InputReader(env=env))
    assert caught.value.field == "containers"
    assert "bytes serialized (at most 60000)" in caught.value.message
    assert "several dispatch-update steps" in (caught.value.fix or "")


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("2026-01-28T10:30:00Z", "2026-01-28T10:30:00Z"),
        ("2026-01-28t10:30:00z", "2026-01-28T10:30:00Z"),
        ("2026-01-28T00:30:00.123456789+01:30", "2026-01-27T23:00:00.123456789Z"),
        ("2025-12-31T20:00:00-05:00", "2026-01-01T01:00:00Z"),
    ],
)
def test_built_at_is_sent_in_utc(given, sent):
    assert du.built_at(given) == sent


@pytest.mark.parametrize(
    "given", ["2026-01-28", "2026-01-28T10:30:00", "2026-13-01T00:00:00Z", "now", "2026-02-30T00:00:00Z"]
)
def test_a_bad_built_at_names_the_input(given):
    with pytest.raises(InputError) as info:
        read(built_at=given)
    assert info.value.field == "built-at" and "2026-01-28T10:30:00Z" in (info.value.fix or "")


def test_the_default_built_at_is_now_in_utc_to_the_millisecond():
    assert du.built_at(None, now=0.999) == "1970-01-01T00:00:00.999Z"
    assert du.built_at("", now=1769596200.0) == "2026-01-28T10:30:00.000Z"


# -- the default builtAt is the source commit's time (issue 7 item 9, review finding 5) ---------


def _event_file(tmp_path: Path, commit_id: str, timestamp: str) -> str:
    path = tmp_path / "event.json"
    event = {
        "ref": "refs/heads/main",
        "after": commit_id,
        "head_commit": {"id": commit_id, "timestamp": timestamp},
    }
    path.write_text(json.dumps(event))
    return str(path)


def _git_repo(tmp_path: Path, committer_date: str) -> tuple[Path, str]:
    """A one-commit repository whose commit has ``committer_date`` (author date a day earlier)."""
    repo = tmp_path / "src-checkout"
    repo.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "dev",
        "GIT_AUTHOR_EMAIL": "dev@example.invalid",
        "GIT_AUTHOR_DATE": "2026-01-27T09:00:00+00:00",
        "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@example.invalid",
        "GIT_COMMITTER_DATE": committer_date,
    }
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "built"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, timeout=30)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    return repo, sha


def read_with_env(extra_env: dict[str, str], **inputs: str) -> du.Inputs:
    return du.Inputs.from_reader(InputReader(env={**env_for(**inputs), **extra_env}))


def built_at_of(inputs: du.Inputs) -> str:
    assert inputs.client_payload is not None
    return str(inputs.client_payload["source"]["builtAt"])


def test_built_at_defaults_to_the_push_events_head_commit_time_in_utc(tmp_path: Path, monkeypatch):
    """The same commit gives the same builtAt whenever its job runs (a re-run is not newer)."""
    monkeypatch.setattr(time, "time", lambda: 1769600000.0)  # 2026-01-28T11:33:20Z, later
    event = _event_file(tmp_path, SHA, "2026-01-28T11:30:00+01:00")
    inputs = read_with_env({"GITHUB_EVENT_PATH": event, "GITHUB_WORKSPACE": str(tmp_path)})
    assert built_at_of(inputs) == "2026-01-28T10:30:00Z"
    assert inputs.built_at_from == du.BUILT_AT_FROM_EVENT


def test_the_events_head_commit_is_not_used_for_another_commit(tmp_path: Path, monkeypatch):
    """head_commit is the pushed head; a build of another sha (source-sha, or a different
    GITHUB_SHA) must not take its time: without a checkout, builtAt is now."""
    monkeypatch.setattr(time, "time", lambda: 1769600000.25)
    event = _event_file(tmp_path, "f" * 40, "2026-01-28T11:30:00+01:00")
    inputs = read_with_env({"GITHUB_EVENT_PATH": event, "GITHUB_WORKSPACE": str(tmp_path)})
    assert built_at_of(inputs) == "2026-01-28T11:33:20.250Z"
    assert inputs.built_at_from == du.BUILT_AT_FROM_NOW


def test_built_at_defaults_to_the_committer_time_in_the_git_checkout(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: 1769600000.0)
    repo, sha = _git_repo(tmp_path, "2026-01-28T05:30:00-05:00")
    # no push event (workflow_dispatch, or an event whose head_commit is another commit)
    event = _event_file(tmp_path, "f" * 40, "2026-01-28T11:33:00Z")
    inputs = read_with_env({"GITHUB_SHA": sha, "GITHUB_WORKSPACE": str(repo), "GITHUB_EVENT_PATH": event})
    assert built_at_of(inputs) == "2026-01-28T10:30:00Z"  # the committer time, not the author time
    assert inputs.built_at_from == du.BUILT_AT_FROM_GIT
    # source-sha names the commit looked up
    other = read_with_env({"GITHUB_WORKSPACE": str(repo)}, source_sha=sha)
    assert built_at_of(other) == "2026-01-28T10:30:00Z"


def test_built_at_is_now_without_an_event_or_a_checkout_and_a_notice_says_so(
    tmp_path: Path, monkeypatch, recorder: type[Recorder]
):
    monkeypatch.setattr(time, "time", lambda: 1769600000.5)
    inputs = read_with_env({"GITHUB_WORKSPACE": str(tmp_path)})  # not a git checkout
    assert built_at_of(inputs) == "2026-01-28T11:33:20.500Z"
    assert inputs.built_at_from == du.BUILT_AT_FROM_NOW
    ctx = _ctx({"GITHUB_ACTIONS": "true"})
    du.run(inputs, ctx)
    out = ctx.console.out.getvalue()  # type: ignore[attr-defined]
    assert "::notice title=builtAt is the dispatch time::" in out and "set built-at" in out


def test_the_built_at_input_wins_over_the_event_and_the_checkout(tmp_path: Path):
    repo, sha = _git_repo(tmp_path, "2026-01-28T05:30:00-05:00")
    event = _event_file(tmp_path, sha, "2026-01-28T11:30:00+01:00")
    extra = {"GITHUB_SHA": sha, "GITHUB_WORKSPACE": str(repo), "GITHUB_EVENT_PATH": event}
    inputs = read_with_env(extra, built_at="2026-02-01T00:00:00Z")
    assert built_at_of(inputs) == "2026-02-01T00:00:00Z"
    assert inputs.built_at_from == du.BUILT_AT_FROM_INPUT


def test_the_checkout_wins_over_the_events_timestamp(tmp_path: Path):
    """The committer time follows the branch (a rebase-merge sets a new one); the event's single
    timestamp may be the author time, which a rebase keeps: the checkout is asked first."""
    repo, sha = _git_repo(tmp_path, "2026-01-28T10:30:00Z")
    event = _event_file(tmp_path, sha, "2026-01-27T09:00:00Z")  # the author time
    inputs = read_with_env({"GITHUB_SHA": sha, "GITHUB_WORKSPACE": str(repo), "GITHUB_EVENT_PATH": event})
    assert built_at_of(inputs) == "2026-01-28T10:30:00Z"
    assert inputs.built_at_from == du.BUILT_AT_FROM_GIT


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[1, 2]",
        b'{"head_commit": null}',
        b'{"head_commit": {"id": 5}}',
        b'{"head_commit": {"id": "0123456789abcdef0123456789abcdef01234567", "timestamp": "yesterday"}}',
        b'{"head_commit": {"id": "0123456789abcdef0123456789abcdef01234567", "timestamp": 1769596200}}',
        b"[" * 100000,
    ],
)
def test_an_unusable_event_file_is_ignored(tmp_path: Path, monkeypatch, content: bytes):
    monkeypatch.setattr(time, "time", lambda: 1769600000.0)
    (tmp_path / "event.json").write_bytes(content)
    extra = {"GITHUB_WORKSPACE": str(tmp_path), "GITHUB_EVENT_PATH": str(tmp_path / "event.json")}
    inputs = read_with_env(extra)
    assert built_at_of(inputs) == "2026-01-28T11:33:20.000Z" and inputs.built_at_from == du.BUILT_AT_FROM_NOW


def test_an_annotated_tags_sha_gives_its_commits_time(tmp_path: Path):
    repo, sha = _git_repo(tmp_path, "2026-01-28T10:30:00Z")
    env = {"PATH": os.environ.get("PATH", ""), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    env.update({"GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.invalid"})
    env["GIT_COMMITTER_DATE"] = "2026-02-01T00:00:00Z"
    subprocess.run(["git", "tag", "-a", "-m", "v1", "v1.0.0"], cwd=repo, env=env, check=True, timeout=30)
    tag_sha = subprocess.run(
        ["git", "rev-parse", "v1.0.0"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    assert tag_sha != sha
    inputs = read_with_env({"GITHUB_SHA": tag_sha, "GITHUB_WORKSPACE": str(repo)})
    assert built_at_of(inputs) == "2026-01-28T10:30:00Z"


def test_a_commit_time_ahead_of_the_clock_is_sent_as_now(tmp_path: Path, monkeypatch):
    """A committer's skewed clock must not make update-db refuse the release as from the future."""
    monkeypatch.setattr(time, "time", lambda: 1769600000.0)
    event = _event_file(tmp_path, SHA, "2026-01-28T12:30:00Z")
    inputs = read_with_env({"GITHUB_EVENT_PATH": event, "GITHUB_WORKSPACE": str(tmp_path)})
    assert built_at_of(inputs) == "2026-01-28T11:33:20.000Z"
    assert inputs.built_at_from.startswith(
        "now (head_commit.timestamp of the push event 2026-01-28T12:30:00Z"
    )
