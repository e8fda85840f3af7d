"""Symbolic links committed in the config repo never carry update-db's reads or writes out of the
checkout (issue 7, item 3): each attack below is a link committed to the remote, so it is in
the fresh checkout update-db makes; update-db refuses it naming the input and the link, changes
nothing outside the tree and pushes nothing. db validate and db query, run in a clone holding
such a link, refuse it alike (review finding 4)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from gitops_release.cli import main
from tests.fixtures.git_remotes import git, remote_head

EMPTY_DB = '{\n  "schemaVersion": 1,\n  "releases": []\n}\n'
OUTSIDE_DB = (
    '{\n  "schemaVersion": 1,\n  "releases": [\n    {\n      "container": "secret",\n'
    '      "channel": "dev",\n      "image": "ghcr.io/org/secret",\n      "tag": "sha-00000000",\n'
    '      "source": {\n        "repository": "org/secret",\n        "sha": "' + "b" * 40 + '"\n      },\n'
    '      "updatedAt": "2026-01-01T00:00:00Z"\n    }\n  ]\n}\n'
)
POLICY = "channels: [dev]\noverlays:\n  dir: apps/*\n  environments: {dev: dev}\n"
KUSTOMIZATION = "images:\n  - name: ghcr.io/org/my-app\n    newTag: sha-old\n"
RELEASE = {
    "container": "my-app",
    "channel": "dev",
    "image": "ghcr.io/org/my-app",
    "tag": "sha-1a2b3c4d",
    "source": {"repository": "org/my-app", "sha": "a" * 40},
}


def remote_with_links(root: Path, files: Mapping[str, str], links: Mapping[str, str]) -> str:
    """A bare remote whose one commit holds ``files`` and the symbolic links ``links`` (path ->
    target, committed as links, as ``git add`` of a symlink does)."""
    bare, seed = root / "remote.git", root / "seed"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    git("init", "--quiet", "--initial-branch=main", str(seed))
    for rel, text in files.items():
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        (seed / rel).write_text(text, encoding="utf-8")
    for rel, target in links.items():
        (seed / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, seed / rel)
    git("add", "--all", cwd=seed)
    git("commit", "--quiet", "-m", "initial commit", cwd=seed)
    git("push", "--quiet", str(bare), "HEAD:refs/heads/main", cwd=seed)
    return bare.resolve().as_uri()


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``directory``: its content and mtime, to prove nothing changed."""
    return {
        path.relative_to(directory).as_posix(): (path.read_text(), path.stat().st_mtime_ns)
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the checkout an attacker aims at: a db, an unrelated temp file named
    like the ones atomic_write cleans up, and an overlay."""
    out = tmp_path / "outside"
    (out / "dev").mkdir(parents=True)
    (out / "db.json").write_text(OUTSIDE_DB)
    (out / ".db.json.unrelated.tmp").write_text("someone else's temp file\n")
    (out / "other.json").write_text(OUTSIDE_DB)
    (out / "policy.yml").write_text("channels: [dev]\n")
    (out / "dev" / "kustomization.yaml").write_text(KUSTOMIZATION)
    return out


@pytest.mark.parametrize(
    ("files", "links", "extra", "expected"),
    [
        pytest.param(
            {".gitops-release.yml": POLICY},
            {"db": "{outside}"},
            {},
            "db-path db/db.json: 'db' is a symbolic link (to '{outside}')",
            id="db-dir-link",
        ),
        pytest.param(
            {".gitops-release.yml": POLICY, "db/db.json": EMPTY_DB},
            {"apps/my-app": "{outside}"},
            {"INPUT_WRITE-THROUGH": "true"},
            "overlay apps/my-app/dev/kustomization.yaml: 'apps/my-app' is a symbolic link (to '{outside}')",
            id="overlay-dir-link",
        ),
        pytest.param(
            {".gitops-release.yml": POLICY, "db/.keep": ""},
            {"db/db.json": "{outside}/other.json"},
            {},
            "db-path db/db.json: 'db/db.json' is a symbolic link (to '{outside}/other.json')",
            id="db-file-link",
        ),
        pytest.param(
            {"db/db.json": EMPTY_DB},
            {".gitops-release.yml": "{outside}/policy.yml"},
            {},
            "policy-path .gitops-release.yml: '.gitops-release.yml' is a symbolic link",
            id="policy-file-link",
        ),
    ],
)
def test_a_committed_symlink_is_refused_and_nothing_outside_changes(
    tmp_path: Path,
    outside: Path,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    links: dict[str, str],
    extra: dict[str, str],
    expected: str,
) -> None:
    url = remote_with_links(tmp_path, files, {k: v.format(outside=outside) for k, v in links.items()})
    head = remote_head(url)
    before = snapshot(outside)
    checkout = tmp_path / "checkout"  # absent: update-db clones, so the link is in a fresh checkout
    env = {
        "INPUT_PAYLOAD": json.dumps(RELEASE),
        "INPUT_REPOSITORY-PATH": str(checkout),
        "INPUT_REMOTE": url,
        "INPUT_BRANCH": "main",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        **extra,
    }
    assert main(["update-db"], env=env) == 1
    err = capsys.readouterr().err
    assert "error: Invalid configuration: " + expected.format(outside=outside) in err
    assert "Fix: replace the link" in err
    assert snapshot(outside) == before  # nothing read into the tree, written or deleted out there
    assert remote_head(url) == head  # nothing pushed
    assert git("status", "--porcelain", cwd=checkout) == ""  # the checkout is as fetched


@pytest.mark.parametrize(
    "command",
    [["db", "validate"], ["db", "validate", "--rewrite"], ["db", "query"]],
    ids=["validate", "validate-rewrite", "query"],
)
@pytest.mark.parametrize(
    ("links", "expected"),
    [
        ({"db": "{outside}"}, "db-path db/db.json: 'db' is a symbolic link (to '{outside}')"),
        (
            {".gitops-release.yml": "{outside}/policy.yml"},
            "policy-path .gitops-release.yml: '.gitops-release.yml' is a symbolic link "
            "(to '{outside}/policy.yml')",
        ),
    ],
    ids=["db-dir-link", "policy-file-link"],
)
def test_db_commands_refuse_a_committed_symlink_in_a_clone(
    tmp_path: Path,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    links: dict[str, str],
    expected: str,
) -> None:
    # db validate and db query read the working directory (the clone) as update-db reads its
    # checkout: they called the outside db valid, --rewrite rewrote it, query printed it.
    (outside / "db.json").write_text(OUTSIDE_DB.replace("\n  ", "\n    "))  # not update-db's form
    files = {"db/db.json": EMPTY_DB} if "db" not in links else {".gitops-release.yml": POLICY}
    url = remote_with_links(tmp_path, files, {k: v.format(outside=outside) for k, v in links.items()})
    clone = tmp_path / "clone"
    git("clone", "--quiet", url, str(clone))
    before = snapshot(outside)
    monkeypatch.chdir(clone)
    assert main(command, env={}) == 1
    captured = capsys.readouterr()
    assert "error: Invalid configuration: " + expected.format(outside=outside) in captured.err
    assert "secret" not in captured.out + captured.err
    assert snapshot(outside) == before
    assert git("status", "--porcelain", cwd=clone) == ""
