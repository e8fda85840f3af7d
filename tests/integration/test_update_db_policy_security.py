"""update-db against real git with a hostile payload or policy (issue 7 items 1, 4, 6, 8 and the
policy-typo wording): the issue's runs, each refused with nothing committed or pushed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gitops_release.commands import db_validate, update_db
from gitops_release.commands.base import Context
from gitops_release.errors import ConfigError, PolicyError
from gitops_release.runtime import InputReader
from tests.fixtures.git_remotes import BareRemotes, git
from tests.fixtures.kustomize_base import base_files
from tests.unit.core.test_policy_security import bomb

EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
SHA = "a" * 40
OVERLAY = "infra/argocd/overlays/dev/kustomization.yaml"


def policy(images_b: str = "[ghcr.io/org/app-b, ghcr.io/org/app-b-*]", extra_b: str = "") -> str:
    return (
        "sources:\n"
        "  - repository: org/app-a\n    containers: [app-a]\n    images: [ghcr.io/org/app-a]\n"
        f"  - repository: org/app-b\n    containers: [app-b]\n    images: {images_b}\n{extra_b}"
        "overlays:\n  dir: infra/argocd/overlays\n"
    )


KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: ghcr.io/org/app-a
    newTag: "1.0.0"
  - name: ghcr.io/org/app-b
    newTag: "1.0.0"
"""


def release(container: str = "app-b", image: str | None = None, tag: str = "1.1.0") -> dict[str, Any]:
    return {
        "container": container,
        "channel": "dev",
        "image": image or f"ghcr.io/org/{container}",
        "tag": tag,
        "source": {"repository": f"org/{container}", "sha": SHA},
    }


# A real base, so update-db's render check (on by default) renders what the overlays point at.
BASE = base_files(
    "infra/argocd/base",
    "apps",
    {
        "app-a": "ghcr.io/org/app-a:0.1.0",
        "app-b": "ghcr.io/org/app-b:0.1.0",
        "web": "ghcr.io/org/frontend:0.1.0",
    },
)


def make_repo(bare_remote: BareRemotes, policy_text: str, overlay: str = KUSTOMIZATION) -> tuple[str, Path]:
    url = bare_remote.make_bare_remote(
        {"db/db.json": EMPTY_DB, ".gitops-release.yml": policy_text, OVERLAY: overlay, **BASE}
    )
    return url, bare_remote.clone_of(url)


def run_update(
    work: Path, payload: Any, env: dict[str, str] | None = None, **inputs: str
) -> update_db.Outputs:
    full = dict(env or {})
    if payload is not None:
        full["INPUT_PAYLOAD"] = json.dumps(payload)
    full["INPUT_REPOSITORY-PATH"] = str(work)
    full.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    parsed = update_db.Inputs.from_reader(InputReader(env=full))
    return update_db.run(parsed, Context.for_env({}, workdir=work))


def dispatch_event(tmp_path: Path, payload: Any, sender: str | None) -> dict[str, str]:
    event: dict[str, Any] = {"action": "release", "client_payload": payload}
    if sender is not None:
        event["sender"] = {"login": sender, "type": "Bot"}
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return {"GITHUB_EVENT_NAME": "repository_dispatch", "GITHUB_EVENT_PATH": str(path)}


def unchanged(bare_remote: BareRemotes, url: str, head: str) -> None:
    assert bare_remote.remote_head(url) == head
    assert bare_remote.read_remote_file(url, OVERLAY) == KUSTOMIZATION


# -- item 1 ---------------------------------------------------------------------------------------


def test_the_issues_attack_on_app_as_entry_is_refused_by_the_image_allow_list(bare_remote: BareRemotes):
    url, work = make_repo(bare_remote, policy())
    head = bare_remote.remote_head(url)
    with pytest.raises(PolicyError, match=r"payload\.image 'ghcr\.io/org/app-a' is not an allowed image"):
        run_update(work, release(image="ghcr.io/org/app-a"), write_through="true")
    unchanged(bare_remote, url, head)


def test_a_backdoor_image_never_becomes_new_name(bare_remote: BareRemotes):
    url, work = make_repo(bare_remote, policy())
    head = bare_remote.remote_head(url)
    with pytest.raises(PolicyError, match=r"payload\.image 'ghcr\.io/evil/backdoor' is not an allowed image"):
        run_update(work, release(image="ghcr.io/evil/backdoor"), write_through="true")
    unchanged(bare_remote, url, head)


def test_with_a_broad_allow_list_the_overlay_entry_of_app_a_is_still_refused(bare_remote: BareRemotes):
    # The policy lets app-b carry any org image: the image passes the allow-list, but it is named
    # after container app-a (the policy lists it), so it is app-a's image, not app-b's.
    url, work = make_repo(bare_remote, policy(images_b="['ghcr.io/org/*']"))
    head = bare_remote.remote_head(url)
    with pytest.raises(PolicyError) as info:
        run_update(work, release(image="ghcr.io/org/app-a"), write_through="true")
    assert info.value.message.startswith(
        "payload.image 'ghcr.io/org/app-a' is named after container 'app-a', not 'app-b'"
    )
    unchanged(bare_remote, url, head)
    assert json.loads(bare_remote.read_remote_file(url, "db/db.json"))["releases"] == []


def test_an_entry_of_a_container_nobody_names_is_still_not_the_releases(bare_remote: BareRemotes):
    # app-a known to neither the policy (a glob) nor db.json: the overlay editor still refuses its entry.
    text = policy(images_b="['ghcr.io/org/*']").replace("containers: [app-a]", "containers: ['app-?']")
    url, work = make_repo(bare_remote, text)
    head = bare_remote.remote_head(url)
    with pytest.raises(PolicyError) as info:
        run_update(work, release(image="ghcr.io/org/app-a"), write_through="true")
    assert info.value.message.startswith(
        f"write-through: image 'ghcr.io/org/app-a' matches images[0] of {OVERLAY} "
        "(name 'ghcr.io/org/app-a'), an entry that does not belong to container 'app-b'"
    )
    unchanged(bare_remote, url, head)


def test_app_b_updates_its_own_entry_only(bare_remote: BareRemotes):
    url, work = make_repo(bare_remote, policy())
    out = run_update(work, release(), write_through="true")
    assert out.changed
    text = bare_remote.read_remote_file(url, OVERLAY)
    assert text == KUSTOMIZATION.replace(
        '  - name: ghcr.io/org/app-b\n    newTag: "1.0.0"', '  - name: ghcr.io/org/app-b\n    newTag: "1.1.0"'
    )


def test_an_entry_named_after_another_image_belongs_through_the_db_record(bare_remote: BareRemotes):
    # Container 'web' runs ghcr.io/org/frontend (an entry not named after it). The first
    # write-through appends its entry; the next one may edit it because db.json records it.
    url, work = make_repo(bare_remote, "overlays:\n  dir: infra/argocd/overlays\n")  # any source
    web = release("web", image="ghcr.io/org/frontend")
    run_update(work, web, write_through="true")
    out = run_update(work, {**web, "tag": "1.2.0"}, write_through="true")
    assert out.changed
    overlay = bare_remote.read_remote_file(url, OVERLAY)
    assert overlay.endswith("  - name: ghcr.io/org/frontend\n    newTag: 1.2.0\n")


# -- item 6: senders -------------------------------------------------------------------------------

SENDERS = "    senders: ['app-b-release[bot]']\n"


def test_the_listed_sender_from_the_event_may_release(bare_remote: BareRemotes, tmp_path: Path):
    _url, work = make_repo(bare_remote, policy(extra_b=SENDERS))
    env = dispatch_event(tmp_path, release(), "app-b-release[bot]")
    assert run_update(work, None, env=env).changed


def test_another_sender_is_refused(bare_remote: BareRemotes, tmp_path: Path):
    url, work = make_repo(bare_remote, policy(extra_b=SENDERS))
    head = bare_remote.remote_head(url)
    env = dispatch_event(tmp_path, release(), "app-a-release[bot]")
    with pytest.raises(
        PolicyError, match=r"sender 'app-a-release\[bot\]' .* may not send releases from 'org/app-b'"
    ):
        run_update(work, None, env=env)
    unchanged(bare_remote, url, head)


def test_the_payload_input_never_supplies_the_sender(bare_remote: BareRemotes, tmp_path: Path):
    url, work = make_repo(bare_remote, policy(extra_b=SENDERS))
    head = bare_remote.remote_head(url)
    # No event at all: fail closed.
    with pytest.raises(PolicyError, match="sender unknown"):
        run_update(work, release())
    # A payload claiming a sender is just payload (and refused as an unknown key).
    payload = {**release(), "sender": {"login": "app-b-release[bot]"}}
    with pytest.raises(Exception, match="sender"):
        run_update(work, payload)
    unchanged(bare_remote, url, head)
    # The payload input on a repository_dispatch run: the sender still comes from GitHub's event.
    env = dispatch_event(tmp_path, {"ignored": True}, "app-b-release[bot]")
    assert run_update(work, release(), env=env).changed
    assert update_db.sender_from_event({**env, "GITHUB_EVENT_NAME": "workflow_dispatch"}) is None


def test_a_downgrade_from_a_source_with_senders_names_a_fix_that_works(
    bare_remote: BareRemotes, tmp_path: Path
) -> None:
    # The review's run: v1.1.0 dispatched after v1.2.0. The fix used to say "run update-db with
    # this release and allow-downgrade: true", which a source listing senders refuses.
    url, work = make_repo(bare_remote, policy(extra_b=SENDERS))
    for tag in ("1.1.0", "1.2.0"):
        event = dispatch_event(tmp_path, release(tag=tag), "app-b-release[bot]")
        assert run_update(work, None, env=event).changed
    head = bare_remote.remote_head(url)
    with pytest.raises(PolicyError) as info:
        run_update(work, None, env=dispatch_event(tmp_path, release(tag="1.1.0"), "app-b-release[bot]"))
    assert info.value.one_line() == (
        "payload.tag '1.1.0' is lower than '1.2.0' on app-b/dev: downgrades are refused. Fix: ship a "
        "higher version; to roll back on purpose, git revert the commit that moved the channel: a "
        "dispatch's payload cannot set allow-downgrade, and this source lists senders, so update-db run "
        "by hand (workflow_dispatch, the CLI) has no repository_dispatch sender and is refused"
    )
    # What the old fix said to do is indeed refused...
    with pytest.raises(PolicyError, match="sender unknown"):
        run_update(work, release(tag="1.1.0"), allow_downgrade="true")
    unchanged(bare_remote, url, head)
    # ...and what the new one says works: the revert puts 1.1.0 back.
    git("fetch", "-q", "origin", cwd=work)
    git("checkout", "-q", "-B", "main", "origin/main", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t.invalid", "revert", "--no-edit", "HEAD", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    (stored,) = json.loads(bare_remote.read_remote_file(url, "db/db.json"))["releases"]
    assert stored["tag"] == "1.1.0"


# -- items 4 and 8 and the wording -----------------------------------------------------------------


def test_an_alias_bomb_in_the_policy_is_refused_and_nothing_is_pushed(bare_remote: BareRemotes):
    url, work = make_repo(bare_remote, bomb())
    head = bare_remote.remote_head(url)
    with pytest.raises(ConfigError, match=r"\.gitops-release\.yml: has YAML aliases standing for"):
        run_update(work, release())
    with pytest.raises(
        ConfigError, match=r"policy-path \.gitops-release\.yml: has YAML aliases standing for"
    ):
        db_validate.run(db_validate.Inputs(), Context.for_env({}, workdir=work))
    unchanged(bare_remote, url, head)


def test_an_alias_bomb_in_the_overlay_is_refused_and_nothing_is_pushed(bare_remote: BareRemotes):
    url, work = make_repo(bare_remote, policy())
    (work / OVERLAY).write_text(bomb().replace("channels:", "images:"))
    git("add", OVERLAY, cwd=work)
    git("commit", "-qm", "bomb", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    head = bare_remote.remote_head(url)
    with pytest.raises(ConfigError, match=f"{OVERLAY}: has YAML aliases standing for"):
        run_update(work, release(), write_through="true")
    assert bare_remote.remote_head(url) == head


def test_merge_keys_in_the_policy_are_refused(bare_remote: BareRemotes):
    text = "<<: {sources: [{repository: org/x, images: [ghcr.io/org/x]}]}\n<<: {sources: null}\n"
    _url, work = make_repo(bare_remote, text)
    with pytest.raises(
        ConfigError, match="merge key '<<' at line 1: the policy does not accept YAML merge keys"
    ):
        run_update(work, release())


def test_a_merge_key_that_is_not_a_scalar_is_refused_by_update_db_and_db_validate(
    bare_remote: BareRemotes,
):
    # The review's bypass: `? !!merge [b]` set sources to null, so db validate called the policy
    # valid and update-db accepted a backdoor image from any repository.
    text = (
        "? !!merge [a]\n"
        ": {sources: [{repository: org/app-b, containers: [app-b], images: [ghcr.io/org/app-b]}]}\n"
        "? !!merge [b]\n"
        ": {sources: null}\n"
    )
    url, work = make_repo(bare_remote, text)
    head = bare_remote.remote_head(url)
    evil = {**release(image="ghcr.io/evil/backdoor"), "source": {"repository": "evil/repo", "sha": SHA}}
    problem = "merge key '!!merge [a]' at line 1: the policy does not accept YAML merge keys"
    with pytest.raises(ConfigError) as by_update:
        run_update(work, evil, dry_run="true")
    assert by_update.value.message == f".gitops-release.yml: {problem}"
    with pytest.raises(ConfigError) as by_validate:
        db_validate.run(db_validate.Inputs(), Context.for_env({}, workdir=work))
    assert by_validate.value.message == f"policy-path .gitops-release.yml: {problem}"
    unchanged(bare_remote, url, head)


def test_update_db_and_db_validate_word_a_policy_typo_alike(bare_remote: BareRemotes):
    _url, work = make_repo(bare_remote, "tags:\n  requiredigest: [prod]\n")
    with pytest.raises(ConfigError) as by_update:
        run_update(work, release())
    with pytest.raises(ConfigError) as by_validate:
        db_validate.run(db_validate.Inputs(), Context.for_env({}, workdir=work))
    assert by_update.value.message == ".gitops-release.yml: /tags/requiredigest is not a known key"
    assert by_validate.value.message == "policy-path " + by_update.value.message
    assert by_update.value.fix == by_validate.value.fix
