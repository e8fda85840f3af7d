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
