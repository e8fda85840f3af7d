"""scripts/uv_fetch.py: which locked uv wheel runs here, the lock, redaction (no network).

The download itself runs against a sandbox index in tests/integration/test_action_run_setup.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from uv_fetch import FetchError, pick_wheel, platform_score, read_lock, redact  # noqa: E402

LINUX_236 = ("Linux", "x86_64", (2, 36), None)
MAC_14 = ("Darwin", "arm64", None, (14, 5))


def test_the_real_bootstrap_lock_pins_uv_with_hashes() -> None:
    version, hashes = read_lock((ROOT / "requirements" / "uv-bootstrap.lock").read_text(encoding="utf-8"))
    assert version == "0.13.9"
    assert len(hashes) >= 10 and all(len(h) == 64 for h in hashes)


@pytest.mark.parametrize(
    "text",
    ["uv==1.0\n", "uv==1.0 --hash=sha256:" + "a" * 64 + "\nsix==1.0 --hash=sha256:" + "b" * 64 + "\n"],
    ids=["no-hash", "two-pins"],
)
def test_a_lock_without_hashes_or_with_more_than_uv_is_refused(text: str) -> None:
    with pytest.raises(FetchError):
        read_lock(text)


@pytest.mark.parametrize(
    ("tag", "here", "fits"),
    [
        ("manylinux_2_17_x86_64", LINUX_236, True),
        ("manylinux2014_x86_64", LINUX_236, True),
        ("manylinux_2_38_x86_64", LINUX_236, False),  # needs a newer glibc
        ("manylinux_2_17_aarch64", LINUX_236, False),
        ("musllinux_1_1_x86_64", LINUX_236, False),
        ("manylinux_2_17_x86_64", ("Linux", "x86_64", None, None), False),  # musl: pip decides
        ("macosx_11_0_arm64", MAC_14, True),
        ("macosx_10_9_universal2", MAC_14, True),
        ("macosx_10_12_x86_64", MAC_14, False),
        ("macosx_15_0_arm64", MAC_14, False),
        ("win_amd64", ("Windows", "x86_64", None, None), False),
    ],
)
def test_platform_tags(tag: str, here: tuple, fits: bool) -> None:  # type: ignore[type-arg]
    assert (platform_score(tag, *here) is not None) is fits


def entry(name: str, sha: str) -> dict[str, object]:
    return {"filename": name, "url": name, "hashes": {"sha256": sha}}


def test_the_closest_locked_wheel_wins_and_an_unlocked_one_is_never_picked() -> None:
    files = [
        entry("uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", "a" * 64),
        entry("uv-0.13.9-py3-none-manylinux_2_28_aarch64.whl", "b" * 64),
        entry("uv-0.13.9-py3-none-manylinux_2_31_aarch64.whl", "c" * 64),  # not in the lock
        entry("uv-0.13.8-py3-none-manylinux_2_17_aarch64.whl", "d" * 64),  # another version
    ]
    here = ("Linux", "aarch64", (2, 36), None)
    picked = pick_wheel(files, "0.13.9", {"a" * 64, "b" * 64, "d" * 64}, here)
    assert picked["filename"] == "uv-0.13.9-py3-none-manylinux_2_28_aarch64.whl"
    with pytest.raises(FetchError, match=r"no locked uv 0\.13\.9 wheel for Linux aarch64"):
        pick_wheel(files, "0.13.9", {"c" * 64, "d" * 64}, ("Linux", "aarch64", (2, 17), None))


def test_credentials_in_an_index_url_are_redacted() -> None:
    assert (
        redact("https://user:pw@mirror.example:8443/simple/uv/")
        == "https://***@mirror.example:8443/simple/uv/"
    )
    assert redact("https://pypi.org/simple/uv/") == "https://pypi.org/simple/uv/"
