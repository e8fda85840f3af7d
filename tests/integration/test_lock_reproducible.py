"""``make lock`` with nothing changed rewrites requirements/*.lock byte for byte: uv's ``# via``
annotations name stable paths, never scripts/lock.py's random work directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import lock  # noqa: E402  (scripts/ has no package)


@pytest.mark.parametrize("name", [item.name for item in lock.LOCKS])
def test_the_checked_in_locks_name_no_work_directory(name: str) -> None:
    text = (ROOT / "requirements" / name).read_text(encoding="utf-8")
    assert "gitops-release-lock-" not in text and "/tmp/" not in text, name


def test_a_recompute_with_nothing_changed_is_byte_identical(tmp_path: Path) -> None:
    """The same compile ``make lock`` runs (uv from its cache, else PyPI), in two different work
    directories: each gives exactly the checked-in bytes."""
    uv = lock.find_uv()
    for run in ("first", "second"):
        work = tmp_path / f"gitops-release-lock-{run}"
        work.mkdir()
        lock.recompute(uv, ROOT, work)
        for item in lock.LOCKS:
            assert (work / item.name).read_bytes() == (ROOT / "requirements" / item.name).read_bytes(), (
                run,
                item.name,
            )


def test_stable_annotations_replace_the_work_directory(tmp_path: Path) -> None:
    work = tmp_path / "gitops-release-lock-abc123"
    text = (
        "x==1 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via\n"
        f"    #   -c {work}/runtime.lock\n    #   -r {work}/image.lock.in\n"
    )
    image = next(item for item in lock.LOCKS if item.name == "image.lock")
    bootstrap = next(item for item in lock.LOCKS if item.name == "uv-bootstrap.lock")
    assert lock.stable_annotations(text, image, work).endswith(
        "    #   -c requirements/runtime.lock\n    #   -r pyproject.toml (build-system requires)\n"
    )
    uv_text = f"uv==1\n    #   -r {work}/uv-bootstrap.lock.in\n"
    assert lock.stable_annotations(uv_text, bootstrap, work) == "uv==1\n    #   -r scripts/lock.py\n"


def test_a_work_path_left_over_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "gitops-release-lock-abc123"
    runtime = next(item for item in lock.LOCKS if item.name == "runtime.lock")
    with pytest.raises(lock.CompileError, match="work directory"):
        lock.stable_annotations(f"# see {work}\n", runtime, work)
