"""update-db against real git: bare remotes under tmp_path, real clones, real pushes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gitops_release.cli import main
from gitops_release.commands import update_db
from gitops_release.commands.base import Context
from gitops_release.errors import ConfigError, GitError, PolicyError
from gitops_release.runtime import InputReader
from tests.fixtures.git_remotes import BareRemotes, git
from tests.fixtures.kustomize_base import base_files

REPO_ROOT = Path(__file__).resolve().parents[2]
EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
SHA = "a" * 40
POLICY = """\
channels: [dev, stage, prod]
sources:
  - repository: org/my-app
    containers: [my-app, my-app-worker]
    images: [ghcr.io/org/my-app, ghcr.io/org/my-app-worker]
tags:
  immutable: true
  requireDigest: [prod]
overlays:
  dir: infra/argocd/overlays
  environments: {dev: dev, stage: stage, prod: prod}
"""
KUSTOMIZATION = """\
# dev overlay: managed by gitops-release (comments must survive)
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base   # the shared base
images:
  # the app image
  - name: ghcr.io/org/my-app
    newTag: sha-old   # bumped by update-db
"""
# The base the overlay renders (write-through renders it with kubectl kustomize: render-check).
BASE = base_files("infra/argocd/base", "my-app", {"my-app": "ghcr.io/org/my-app:sha-old"})


def release(
    container: str = "my-app", tag: str = "sha-bbb", channel: str = "dev", repo: str = "org/my-app"
) -> dict:
    return {
        "container": container,
        "channel": channel,
        "image": f"ghcr.io/org/{container}",
        "tag": tag,
        "source": {"repository": repo, "sha": SHA, "runUrl": "https://github.com/org/my-app/actions/runs/1"},
    }


def clean_env() -> dict[str, str]:
    """This process's environment without anything that would act as an input or an Actions run."""
    drop = ("INPUT_", "GITHUB_", "RUNNER_", "GIT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    return env


def run_update(work: Path, payload: Any, **inputs: str) -> update_db.Outputs:
    env = {"INPUT_PAYLOAD": json.dumps(payload), "INPUT_REPOSITORY-PATH": str(work)}
    env.update({f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()})
    parsed = update_db.Inputs.from_reader(InputReader(env=env))
    return update_db.run(parsed, Context.for_env({}, workdir=work))


def remote_db(remotes: BareRemotes, url: str) -> dict:
    return json.loads(remotes.read_remote_file(url, "db/db.json"))


@pytest.fixture
def config_repo(bare_remote: BareRemotes) -> tuple[str, Path]:
    files = {
        "db/db.json": EMPTY_DB,
        ".gitops-release.yml": POLICY,
        "infra/argocd/overlays/dev/kustomization.yaml": KUSTOMIZATION,
        **BASE,
    }
    url = bare_remote.make_bare_remote(files)
    return url, bare_remote.clone_of(url)


def test_release_lands_with_message_and_outputs(bare_remote: BareRemotes, config_repo: tuple[str, Path]):
    url, work = config_repo
    out = run_update(work, release())
    assert out.changed is True
    assert out.commit_sha == bare_remote.remote_head(url)
    assert out.previous == {"my-app/dev": None}
    [written] = out.releases
    assert written["tag"] == "sha-bbb" and written["updatedAt"].endswith("Z")
    assert remote_db(bare_remote, url)["releases"] == out.releases
    log = git("--git-dir", url.removeprefix("file://"), "log", "-1", "--format=%B", "main")
    assert log.splitlines()[0] == "chore(release): my-app dev none → sha-bbb"
    assert f"Source: org/my-app@{SHA}" in log
    assert "Run: https://github.com/org/my-app/actions/runs/1" in log
    # Only db.json changed: the overlay is untouched without write-through.
    files = git("--git-dir", url.removeprefix("file://"), "show", "--name-only", "--format=", "main").split()
    assert files == ["db/db.json"]


def test_same_payload_twice_is_no_commit(bare_remote: BareRemotes, config_repo: tuple[str, Path]):
    url, work = config_repo
    first = run_update(work, release())
    second = run_update(work, release())
    assert second.changed is False
    assert second.commit_sha == first.commit_sha == bare_remote.remote_head(url)
    assert second.releases == [] and second.previous == {}
    assert len(bare_remote.remote_log(url)) == 2


def test_update_reports_previous(bare_remote: BareRemotes, config_repo: tuple[str, Path]):
    url, work = config_repo
    first = run_update(work, release(tag="sha-aaa"))
    second = run_update(work, release(tag="sha-ccc"))
    assert second.previous == {"my-app/dev": first.releases[0]}
    assert bare_remote.remote_log(url)[0] == "chore(release): my-app dev sha-aaa → sha-ccc"


def test_batch_is_one_commit_with_summary_subject(bare_remote: BareRemotes, config_repo: tuple[str, Path]):
    url, work = config_repo
    out = run_update(work, {"releases": [release("my-app"), release("my-app-worker")]})
    assert sorted(out.previous) == ["my-app-worker/dev", "my-app/dev"]
    assert bare_remote.remote_log(url)[0] == "chore(release): 2 releases (dev)"
    assert [r["container"] for r in remote_db(bare_remote, url)["releases"]] == ["my-app", "my-app-worker"]


def test_unlisted_source_is_refused_and_nothing_is_pushed(
    bare_remote: BareRemotes, config_repo: tuple[str, Path], capsys: pytest.CaptureFixture[str]
):
    url, work = config_repo
    head = bare_remote.remote_head(url)
    with pytest.raises(PolicyError):
        run_update(work, release(repo="evil/my-app"))
    env = {
        "GITHUB_ACTIONS": "true",
        "INPUT_PAYLOAD": json.dumps(release(repo="evil/my-app")),
        "INPUT_REPOSITORY-PATH": str(work),
    }
    assert main(["update-db"], env=env) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert [x for x in lines if not x.startswith(("::group::", "::endgroup::"))] == [lines[-1]]
    line = lines[-1]
    assert line.startswith("::error title=Refused by policy::")
    assert bare_remote.remote_head(url) == head
    assert (work / "db" / "db.json").read_text() == EMPTY_DB


def test_write_through_sets_overlay_in_same_commit_keeping_comments(
    bare_remote: BareRemotes, config_repo: tuple[str, Path]
):
    url, work = config_repo
    out = run_update(work, release(), write_through="true")
    assert out.changed
    files = git("--git-dir", url.removeprefix("file://"), "show", "--name-only", "--format=", "main").split()
    assert sorted(files) == ["db/db.json", "infra/argocd/overlays/dev/kustomization.yaml"]
    text = bare_remote.read_remote_file(url, "infra/argocd/overlays/dev/kustomization.yaml")
    assert "newTag: sha-bbb" in text
    for comment in ("# dev overlay: managed by gitops-release", "# the shared base", "# the app image"):
        assert comment in text


def test_write_through_missing_overlay_names_the_path(
    bare_remote: BareRemotes, config_repo: tuple[str, Path]
):
    url, work = config_repo
    head = bare_remote.remote_head(url)
    with pytest.raises(ConfigError) as info:
        run_update(work, release(channel="stage"), write_through="true")
    assert "infra/argocd/overlays/stage/kustomization.yaml" in info.value.message
    assert info.value.fix
    assert bare_remote.remote_head(url) == head


def test_dry_run_writes_nothing(bare_remote: BareRemotes, config_repo: tuple[str, Path]):
    url, work = config_repo
    head = bare_remote.remote_head(url)
    out = run_update(work, release(), dry_run="true")
    assert out.changed is True and out.dry_run
    assert out.previous == {"my-app/dev": None}
    assert bare_remote.remote_head(url) == head
    assert (work / "db" / "db.json").read_text() == EMPTY_DB


def test_push_false_commits_locally(bare_remote: BareRemotes, config_repo: tuple[str, Path]):
    url, work = config_repo
    head = bare_remote.remote_head(url)
    out = run_update(work, release(), push="false")
    assert out.changed
    assert bare_remote.remote_head(url) == head
    assert git("rev-parse", "HEAD", cwd=work).strip() == out.commit_sha


def test_remote_as_path_into_empty_directory(
    bare_remote: BareRemotes, config_repo: tuple[str, Path], tmp_path: Path
):
    url, _ = config_repo
    target = tmp_path / "fresh"
    out = run_update(target, release(), remote=url.removeprefix("file://"), branch="main")
    assert out.changed
    assert remote_db(bare_remote, url)["releases"][0]["tag"] == "sha-bbb"


def test_concurrent_writers_from_eight_clones_all_land(
    bare_remote: BareRemotes, config_repo: tuple[str, Path]
):
    url, _ = config_repo
    policy = "channels: [dev, stage, prod]\n"  # any source
    seed = bare_remote.clone_of(url)
    (seed / ".gitops-release.yml").write_text(policy)
    git("commit", "-qam", "open policy", cwd=seed)
    git("push", "-q", "origin", "HEAD:main", cwd=seed)
    clones = [bare_remote.clone_of(url) for _ in range(8)]
    procs = []
    for n, clone in enumerate(clones):
        env = {
            **clean_env(),
            "INPUT_PAYLOAD": json.dumps(release(container=f"svc-{n}")),
            "INPUT_REPOSITORY-PATH": str(clone),
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "gitops_release", "update-db"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [(*p.communicate(timeout=120), p.returncode) for p in procs]
    assert [r[2] for r in results] == [0] * 8, results
    containers = [r["container"] for r in remote_db(bare_remote, url)["releases"]]
    assert containers == [f"svc-{n}" for n in range(8)]
    assert len(bare_remote.remote_log(url)) == 2 + 8


def test_semver_downgrade_is_refused_unless_allowed(bare_remote: BareRemotes, config_repo: tuple[str, Path]):
    url, work = config_repo
    run_update(work, release(tag="1.4.2"))
    head = bare_remote.remote_head(url)
    refused = r"payload\.tag .1\.4\.1. is lower than .1\.4\.2.*allow-downgrade: true"
    with pytest.raises(PolicyError, match=refused):
        run_update(work, release(tag="1.4.1"))
    assert bare_remote.remote_head(url) == head
    out = run_update(work, release(tag="1.4.1"), allow_downgrade="true")
    assert out.changed is True and out.previous["my-app/dev"]["tag"] == "1.4.2"


def test_prerelease_into_prod_is_refused(bare_remote: BareRemotes, config_repo: tuple[str, Path]):
    url, work = config_repo
    head = bare_remote.remote_head(url)
    prod = release(tag="1.5.0-rc.1", channel="prod")
    prod["digest"] = "sha256:" + "c" * 64
    with pytest.raises(PolicyError, match=r"prerelease"):
        run_update(work, prod)
    assert bare_remote.remote_head(url) == head
    assert run_update(work, release(tag="1.5.0-rc.1", channel="stage")).changed is True


# -- review fixes --------------------------------------------------------------------------------


def committed_files(url: str) -> list[str]:
    return sorted(
        git("--git-dir", url.removeprefix("file://"), "show", "--name-only", "--format=", "main").split()
    )


def test_write_through_commits_only_db_and_overlay_never_stray_files(
    bare_remote: BareRemotes, config_repo: tuple[str, Path]
):
    url, work = config_repo
    (work / "event.json").write_text('{"client_payload": {}}\n')
    (work / "out").mkdir()
    (work / "out" / "evidence.txt").write_text("evidence\n")
    out = run_update(work, release(), write_through="true")
    assert out.changed
    assert committed_files(url) == ["db/db.json", "infra/argocd/overlays/dev/kustomization.yaml"]
    listed = git("--git-dir", url.removeprefix("file://"), "ls-tree", "-r", "--name-only", "main").split()
    assert "event.json" not in listed and "out/evidence.txt" not in listed
    assert (work / "event.json").is_file() and (work / "out" / "evidence.txt").is_file()


def test_stray_local_db_json_not_on_the_remote_is_refused_not_silently_dropped(
    bare_remote: BareRemotes, tmp_path: Path
):
    url = bare_remote.make_bare_remote({"README.md": "config\n"})
    work = bare_remote.clone_of(url)
    (work / "db").mkdir()
    (work / "db" / "db.json").write_text(EMPTY_DB)
    with pytest.raises(GitError, match=r"db/db\.json.*untracked"):
        run_update(work, release())
    assert bare_remote.remote_log(url) == ["initial commit"]


def install_refusing_hook(url: str) -> None:
    hook = Path(url.removeprefix("file://")) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'error: refused by a test hook' >&2\nexit 1\n")
    hook.chmod(0o755)


def test_refused_push_leaves_the_checkout_at_the_remote_head(
    bare_remote: BareRemotes, config_repo: tuple[str, Path]
):
    url, work = config_repo
    head = bare_remote.remote_head(url)
    install_refusing_hook(url)
    with pytest.raises(GitError, match="hook declined"):
        run_update(work, release(), write_through="true")
    assert git("rev-parse", "HEAD", cwd=work).strip() == head
    assert git("status", "--porcelain", "--untracked-files=all", cwd=work) == ""
    assert (work / "db" / "db.json").read_text() == EMPTY_DB
    assert (work / "infra/argocd/overlays/dev/kustomization.yaml").read_text() == KUSTOMIZATION


def test_update_db_names_exactly_the_files_it_may_change(
    bare_remote: BareRemotes, config_repo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
):
    url, work = config_repo
    seen: list[list[str]] = []
    real = update_db.commit_and_push

    def spy(*args: Any, **kwargs: Any) -> Any:
        paths = kwargs["paths"]
        assert paths is not None

        def recording() -> list[str]:
            chosen = list(paths() if callable(paths) else paths)
            seen.append(chosen)
            return chosen

        return real(*args, **{**kwargs, "paths": recording})

    monkeypatch.setattr(update_db, "commit_and_push", spy)
    run_update(work, release(), write_through="true")
    run_update(work, release(tag="sha-ccc"))
    assert seen == [
        ["db/db.json", "infra/argocd/overlays/dev/kustomization.yaml"],
        ["db/db.json"],
    ]
    assert committed_files(url) == ["db/db.json"]


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        # A canonical-looking db whose other release has a bad value: found by the check that runs
        # while git commits, before the push.
        (lambda t: t.replace('"tag": "sha-aaa"', '"tag": "-bad"'), "releases[0].tag"),
        # A key given twice: load_db's duplicate-key error, not a silent last-one-wins.
        (
            lambda t: t.replace('"tag": "sha-aaa",', '"tag": "sha-aaa",\n      "tag": "sha-zzz",'),
            "'tag' twice",
        ),
    ],
)
def test_a_broken_stored_release_fails_the_update_and_nothing_is_pushed(
    bare_remote: BareRemotes, config_repo: tuple[str, Path], corrupt: Any, message: str
):
    url, work = config_repo
    run_update(
        work, {"releases": [release("my-app", tag="sha-aaa"), release("my-app-worker", tag="sha-www")]}
    )
    remote_dir = url.removeprefix("file://")
    text = bare_remote.read_remote_file(url, "db/db.json")
    broken = corrupt(text)
    assert broken != text
    seed = bare_remote.clone_of(url)
    (seed / "db" / "db.json").write_text(broken)
    git("commit", "--quiet", "-am", "hand edit", cwd=seed)
    git("push", "--quiet", "origin", "HEAD:main", cwd=seed)
    head = bare_remote.remote_head(url)
    # A change to the good release, the bad one itself, no change at all, and a release the
    # policy refuses (the broken db is still the error named first): all refused, nothing pushed.
    for payload in (
        release("my-app-worker", tag="sha-bbb"),
        release("my-app", tag="sha-aaa"),
        release("my-app-worker", tag="sha-www"),
        release("my-app-worker", tag="latest"),
    ):
        with pytest.raises(ConfigError) as info:
            run_update(work, payload)
        assert message in info.value.message and info.value.message.startswith("db/db.json: ")
        assert bare_remote.remote_head(url) == head
        assert git("status", "--porcelain", cwd=work) == ""
        assert git("rev-parse", "HEAD", cwd=work).strip() == head
    assert git("--git-dir", remote_dir, "log", "-1", "--format=%s", "main").strip() == "hand edit"


def test_a_git_failure_after_the_edit_leaves_no_check_running(
    bare_remote: BareRemotes, config_repo: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
):
    import threading
    import time

    from gitops_release.core.db import DBFile

    check = DBFile.check

    def slow_check(self: DBFile) -> None:  # a db large enough that git fails first
        time.sleep(0.3)
        check(self)

    monkeypatch.setattr(DBFile, "check", slow_check)
    url, work = config_repo
    interval = sys.getswitchinterval()
    (work / ".git" / "index.lock").write_text("")  # git add fails: another git process "holds" it
    try:
        with pytest.raises(GitError):
            run_update(work, release())
    finally:
        (work / ".git" / "index.lock").unlink()
    assert not [t for t in threading.enumerate() if t.name.startswith("update-db: check")]
    assert sys.getswitchinterval() == interval
    assert len(bare_remote.remote_log(url)) == 1
