"""Fetch an archive from its URL or from a local mirror folder, verify its checksum, extract it safely."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ctcasr.errors import UserError
from ctcasr.files import utf8_lines

CHUNK = 1 << 20


def file_digest(path: str | os.PathLike, algorithm: str = "md5") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def mirror_checksums(mirror: Path) -> dict[str, str]:
    """Read the mirror folder's MD5SUMS (`md5  name` per line)."""
    sums = mirror / "MD5SUMS"
    if not sums.is_file():
        raise UserError("mirror folder has no MD5SUMS file", sums)
    out = {}
    for line in utf8_lines(sums):
        parts = line.split()
        if len(parts) == 2:
            out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def split_checksum(checksum: str) -> tuple[str, str]:
    """`"sha256:ab12..."` or `"md5:..."` (a bare 32-digit hex string is MD5) -> (algorithm, hex digest)."""
    algorithm, _, digest = checksum.rpartition(":")
    return (algorithm or "md5").lower(), digest.lower()


def verify(path: Path, checksum: str, where: str | os.PathLike | None = None) -> None:
    algorithm, expected = split_checksum(checksum)
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise UserError(f"{algorithm} checksum mismatch: expected {expected}, got {actual}", where or path)


def from_mirror(name: str, mirror: str | os.PathLike) -> Path:
    """The verified path of `name` inside a mirror folder (checked against the folder's MD5SUMS)."""
    mirror = Path(mirror)
    path = mirror / name
    if not path.is_file():
        raise UserError(f"{name} is not in the mirror folder", mirror)
    sums = mirror_checksums(mirror)
    if name not in sums:
        raise UserError(f"MD5SUMS has no entry for {name}", mirror / "MD5SUMS")
    verify(path, f"md5:{sums[name]}")
    return path


def download(url: str, dest: str | os.PathLike, checksum: str | None = None, retries: int = 5) -> Path:
    """Download `url` to `dest` with HTTP Range resume and retries; only a verified file gets the final name.

    `checksum` is `"md5:<hex>"` or `"sha256:<hex>"`. An existing `dest.part` is resumed, not restarted.
    """
    dest = Path(dest)
    if dest.is_file():
        if checksum is None:
            return dest
        algorithm, expected = split_checksum(checksum)
        if file_digest(dest, algorithm) == expected:
            return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, retries + 1):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                if have and response.status != 206:  # server ignored the range: start again
                    have = 0
                total = response.headers.get("Content-Length")
                total = int(total) + have if total else None
                with open(part, "ab" if have else "wb") as f, tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, leave=False, disable=None
                ) as bar:
                    while block := response.read(CHUNK):
                        f.write(block)
                        bar.update(len(block))
            if total is not None and part.stat().st_size < total:
                raise ConnectionError("connection closed before the end of the file")
            break
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # range past the end: the part file is complete
                break
            if exc.code < 500 or attempt == retries:
                raise UserError(f"download failed: HTTP {exc.code} {exc.reason}", url) from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
            if isinstance(exc, OSError) and getattr(exc, "errno", None) == 28:
                raise UserError("disk full while downloading", part) from None
            if attempt == retries:
                raise UserError(f"download failed after {retries} attempts: {exc}", url) from None
        time.sleep(min(2**attempt, 30) * 0.1)
    if checksum is not None:
        try:
            verify(part, checksum, url)
        except UserError:
            part.unlink()
            raise
    os.replace(part, dest)
    return dest


def fetch(name: str, url: str, checksum: str | None, cache_dir: str | os.PathLike,
          mirror: str | os.PathLike | None = None) -> Path:
    """The archive `name`, from the mirror folder when one is given, else downloaded into `cache_dir`."""
    if mirror is not None:
        return from_mirror(name, mirror)
    return download(url, Path(cache_dir) / name, checksum)


def extract(archive: Path, dest: Path) -> None:
    """Extract a tar archive into `dest` through a temporary folder, refusing unsafe member paths."""
    tmp = dest.with_name(dest.name + ".extracting")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"archive is damaged or truncated ({exc})", archive) from None
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
