"""uv_fetch.py LOCK DEST: the uv binary from requirements/uv-bootstrap.lock, without pip.

scripts/action-run.sh runs this (``python -I -S -B``: standard library only, nothing from the
checkout or site-packages) when uv is not on PATH. It asks the package index's PEP 691 JSON
simple API (``$PIP_INDEX_URL``, else https://pypi.org/simple, the index the pip path uses) for
uv's files, picks the wheel for this platform whose sha256 is in the lock, downloads it, checks
its sha256 BEFORE anything is read from it, and writes only the ``uv`` binary to DEST (through a
temporary file and a rename: never a half-written binary). About 1 s where the bootstrap Python's
``pip install --target`` takes 2.5 to 4 s (docs/benchmarks.md, "action setup").

Any failure (no wheel for this platform, network, a hash that does not match, PIP_NO_INDEX)
exits 1 with ONE line on stderr saying why; action-run.sh then falls back to pip, which checks
the same hashes. Credentials in the index URL are sent only to the index's own host and never
printed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
import ssl
import sys
import tempfile
import urllib.parse
import urllib.request
import zipfile

INDEX = "https://pypi.org/simple"
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
MAX_WHEEL_BYTES = 200 * 1024 * 1024  # uv's wheels are ~18 MB; a hostile mirror cannot fill the disk
MAX_LISTING_BYTES = 64 * 1024 * 1024  # PyPI's uv listing is a few MB; nor the memory
TIMEOUT_S = 60


class FetchError(Exception):
    """Why uv was not fetched: one line, printed as the reason for the pip fallback."""


def read_lock(text: str) -> tuple[str, set[str]]:
    """(uv's version, its allowed sha256 digests) from uv-bootstrap.lock; exactly one pin."""
    pins = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", text, re.MULTILINE)
    if len(pins) != 1 or pins[0][0].lower() != "uv":
        raise FetchError(f"the lock must pin uv alone, found {[name for name, _ in pins]}")
    hashes = set(re.findall(r"--hash=sha256:([0-9a-f]{64})\b", text))
    if not hashes:
        raise FetchError("the lock has no sha256 hash for uv")
    return pins[0][1], hashes


def _glibc() -> tuple[int, int] | None:
    try:
        found = os.confstr("CS_GNU_LIBC_VERSION") or ""  # "glibc 2.36"; musl has none
    except (AttributeError, ValueError, OSError):
        return None
    match = re.fullmatch(r"glibc (\d+)\.(\d+).*", found)
    return (int(match.group(1)), int(match.group(2))) if match else None


# Legacy manylinux names and the glibc they mean (PEP 600).
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def platform_score(
    tag: str, system: str, machine: str, glibc: tuple[int, int] | None, mac: tuple[int, int] | None
) -> tuple[int, int] | None:
    """How well a wheel platform tag fits (higher is closer), None when it does not run here.
    Only what the uv binary needs: the kernel's architecture and the C library (glibc) or the
    macOS version. musl, Windows and anything else return None (pip's full tag logic handles
    them on the fallback)."""
    if system == "Linux" and glibc is not None:
        match = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", tag)
        if match:
            needed, arch = (int(match.group(1)), int(match.group(2))), match.group(3)
        else:
            legacy, _, arch = tag.partition("_")
            if legacy not in LEGACY_MANYLINUX:
                return None
            needed = LEGACY_MANYLINUX[legacy]
        return needed if arch == machine and needed <= glibc else None
    if system == "Darwin" and mac is not None:
        match = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", tag)
        if not match:
            return None
        needed, arch = (int(match.group(1)), int(match.group(2))), match.group(3)
        return needed if arch in (machine, "universal2") and needed <= mac else None
    return None


def this_platform() -> tuple[str, str, tuple[int, int] | None, tuple[int, int] | None]:
    system, machine = platform.system(), platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64" if system == "Linux" else "arm64"}.get(machine, machine)
    mac = None
    if system == "Darwin":
        parts = (platform.mac_ver()[0] or "0.0").split(".")
        mac = (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0)
    return system, machine, (_glibc() if system == "Linux" else None), mac


def pick_wheel(
    files: list[dict[str, object]],
    version: str,
    hashes: set[str],
    here: tuple[str, str, tuple[int, int] | None, tuple[int, int] | None],
) -> dict[str, object]:
    """The locked uv wheel that runs here (the closest platform tag wins)."""
    best: tuple[tuple[int, int], dict[str, object]] | None = None
    prefix = f"uv-{version}-py3-none-"
    for entry in files:
        filename = str(entry.get("filename", ""))
        digest = entry.get("hashes", {})
        sha = digest.get("sha256") if isinstance(digest, dict) else None
        if not (filename.startswith(prefix) and filename.endswith(".whl")) or sha not in hashes:
            continue
        for tag in filename[len(prefix) : -len(".whl")].split("."):
            score = platform_score(tag, *here)
            if score is not None and (best is None or score > best[0]):
                best = (score, entry)
    if best is None:
        system, machine, glibc, mac = here
        raise FetchError(
            f"no locked uv {version} wheel for {system} {machine} "
            f"(glibc {glibc}, macOS {mac}) in the index listing"
        )
    return best[1]


def redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{parts.hostname or ''}{_port(parts)}"))


def _port(parts: urllib.parse.SplitResult) -> str:
    return f":{parts.port}" if parts.port else ""


class Index:
    """The index URL, its credentials (sent to its own host only) and the TLS trust pip uses."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url.rstrip("/") + "/")
        if parts.scheme not in ("https", "http"):
            raise FetchError(f"index {redact(url)} is not an http(s) URL")
        self.host = (parts.hostname or "", parts.port)
        self.auth = None
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        netloc = f"{parts.hostname or ''}{_port(parts)}"
        self.url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        # pip's --cert / PIP_CERT names the CA bundle; else the system's (SSL_CERT_FILE too).
        self.context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or None)

    def open(self, url: str, accept: str | None = None):  # type: ignore[no-untyped-def]
        request = urllib.request.Request(url)  # noqa: S310  (Index() allows http(s) only)
        if accept:
            request.add_header("Accept", accept)
        parts = urllib.parse.urlsplit(url)
        if self.auth and (parts.hostname or "", parts.port) == self.host:
            # Unredirected: a redirect to another host (a CDN) does not carry the credentials.
            request.add_unredirected_header("Authorization", self.auth)
        return urllib.request.urlopen(request, timeout=TIMEOUT_S, context=self.context)  # noqa: S310


def fetch(lock_path: str, dest: str) -> str:
    if os.environ.get("PIP_NO_INDEX", "").lower() in ("1", "true", "yes", "on"):
        raise FetchError("PIP_NO_INDEX is set: not asking an index")
    with open(lock_path, encoding="utf-8") as handle:
        version, hashes = read_lock(handle.read())
    index = Index(os.environ.get("PIP_INDEX_URL") or INDEX)
    listing_url = urllib.parse.urljoin(index.url, "uv/")
    try:
        with index.open(listing_url, JSON_ACCEPT) as response:
            if JSON_ACCEPT not in response.headers.get("Content-Type", ""):
                raise FetchError(f"{redact(listing_url)} does not serve the PEP 691 JSON simple API")
            body = response.read(MAX_LISTING_BYTES + 1)
        if len(body) > MAX_LISTING_BYTES:
            raise FetchError(f"the uv listing is larger than {MAX_LISTING_BYTES} bytes")
        files = json.loads(body).get("files", [])
    except (OSError, ValueError) as error:
        raise FetchError(f"cannot list uv at {redact(listing_url)}: {error}") from None
    wheel = pick_wheel(files, version, hashes, this_platform())
    wheel_url = urllib.parse.urljoin(listing_url, str(wheel["url"]).split("#", 1)[0])
    if urllib.parse.urlsplit(wheel_url).scheme not in ("https", "http"):
        raise FetchError(f"{wheel['filename']} is listed at a URL that is not http(s)")
    directory = os.path.dirname(os.path.abspath(dest))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory) as archive:
        digest = hashlib.sha256()
        size = 0
        try:
            with index.open(wheel_url) as response:
                while chunk := response.read(1 << 20):
                    size += len(chunk)
                    if size > MAX_WHEEL_BYTES:
                        raise FetchError(f"{wheel['filename']} is larger than {MAX_WHEEL_BYTES} bytes")
                    digest.update(chunk)
                    archive.write(chunk)
        except OSError as error:
            raise FetchError(f"cannot download {wheel['filename']}: {error}") from None
        if digest.hexdigest() not in hashes:
            raise FetchError(
                f"{wheel['filename']} has sha256 {digest.hexdigest()}, which {lock_path} does not list"
            )
        archive.seek(0)
        member = f"uv-{version}.data/scripts/uv"
        try:
            with zipfile.ZipFile(archive) as wheel_zip, wheel_zip.open(member) as binary:
                fd, partial = tempfile.mkstemp(dir=directory, prefix=".uv-")
                try:
                    with os.fdopen(fd, "wb") as out:
                        while chunk := binary.read(1 << 20):
                            out.write(chunk)
                    os.chmod(partial, 0o700)
                    os.replace(partial, dest)
                except BaseException:
                    os.unlink(partial)
                    raise
        except (KeyError, zipfile.BadZipFile) as error:
            raise FetchError(f"{wheel['filename']} has no {member}: {error}") from None
    return str(wheel["filename"])


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: uv_fetch.py LOCK DEST", file=sys.stderr)
        return 2
    try:
        filename = fetch(argv[0], argv[1])
    except FetchError as error:
        print(error, file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001  (any surprise: one line, then the pip fallback)
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"uv from {filename} (sha256 checked against {argv[0]})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
