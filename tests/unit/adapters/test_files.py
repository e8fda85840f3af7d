from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops_release.adapters import files
from gitops_release.errors import ConfigError


def test_atomic_write_replaces_and_cleans_stale_temp_files(tmp_path: Path):
    target = tmp_path / "db" / "db.json"
    target.parent.mkdir()
    target.write_text("old\n")
    os.chmod(target, 0o640)
    stale = target.parent / ".db.json.abc.tmp"
    stale.write_text("partial")
    files.atomic_write(target, "new\n")
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["db.json"]
    assert target.stat().st_mode & 0o777 == 0o640


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    target = tmp_path / "db.json"
    target.write_text("old\n")

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError):
        files.atomic_write(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["db.json"]


def test_read_text_if_exists(tmp_path: Path):
    assert files.read_text_if_exists(tmp_path / "absent.json", "db-path") is None
    (tmp_path / "db.json").write_text("x")
    assert files.read_text_if_exists(tmp_path / "db.json", "db-path") == "x"
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"cannot read db-path db/bad\.json"):
        files.read_text_if_exists(tmp_path / "bad.json", "db-path", "db/bad.json")


# -- path_in_checkout: symbolic links never carry a read or a write out of the checkout -----------


def test_path_in_checkout_accepts_real_and_missing_paths(tmp_path: Path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "db.json").write_text("{}")
    assert files.path_in_checkout(tmp_path, "db/db.json", "db-path") == tmp_path / "db" / "db.json"
    # Nothing below a missing component exists: a write creates real directories.
    assert files.path_in_checkout(tmp_path, "new/dir/db.json", "db-path") == tmp_path / "new/dir/db.json"


@pytest.mark.parametrize(
    ("links", "relative", "link", "kind"),
    [
        ({"db": "{outside}"}, "db/db.json", "db", "directory"),
        ({"db/db.json": "{outside}/other.json"}, "db/db.json", "db/db.json", "file"),
        ({"apps/my-app": "{outside}"}, "apps/my-app/dev/kustomization.yaml", "apps/my-app", "directory"),
        # a link that stays inside the tree is refused too, and so is a dangling one
        ({"db": "real"}, "db/db.json", "db", "directory"),
        ({"policy.yml": "{outside}/missing.yml"}, "policy.yml", "policy.yml", "file"),
    ],
)
def test_path_in_checkout_refuses_every_symbolic_link_on_the_way(
    tmp_path: Path, links: dict[str, str], relative: str, link: str, kind: str
):
    root, outside = tmp_path / "checkout", tmp_path / "outside"
    (root / "real").mkdir(parents=True)
    outside.mkdir()
    (outside / "other.json").write_text("{}")
    for name, target in links.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target.format(outside=outside), root / name)
    with pytest.raises(ConfigError) as info:
        files.path_in_checkout(root, relative, "db-path")
    message = info.value.one_line()
    assert message.startswith(f"db-path {relative}: '{link}' is a symbolic link")
    assert f"replace the link '{link}' in the repository by a real {kind}" in message


def test_path_in_checkout_refuses_the_git_directory(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"policy-path \.git/config is inside the checkout's \.git"):
        files.path_in_checkout(tmp_path, ".git/config", "policy-path")


@pytest.mark.parametrize("relative", ["../outside/db.json", "db/../../x", "/etc/passwd"])
def test_path_in_checkout_refuses_paths_leading_out(tmp_path: Path, relative: str):
    with pytest.raises(ConfigError, match=f"overlay {relative} leads out of the checkout"):
        files.path_in_checkout(tmp_path, relative, "overlay")
