"""Fetching data files: sha256-checked downloads written atomically, and safe archive extraction.

Shared by every dataset loader so a half-written or tampered file never lands in the cache.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

from common.atomic import atomic_path
from common.errors import UsageError, first_line

_CHUNK = 1 << 20
# What reading a damaged .tar.gz / .tar.xz / .gz raises: none of it may reach the user as a
# traceback (lzma.LZMAError is not an OSError; a truncated gzip stream is an EOFError).
ARCHIVE_ERRORS = (
    tarfile.TarError,
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    gzip.BadGzipFile,
    ValueError,
)
_FALSE = ("", "0", "false", "no", "off")


def archive_error(path: str | os.PathLike, exc: BaseException) -> UsageError:
    """One line for a damaged archive or data file, whatever the decompressor said."""
    if isinstance(exc, UsageError):
        return exc
    return UsageError(f"corrupt archive {path}: {first_line(exc)}; download it again")


def offline() -> bool:
    """``DLTF_OFFLINE`` set to anything but empty/0/false/no/off: no downloads."""
    return os.environ.get("DLTF_OFFLINE", "").strip().lower() not in _FALSE


def regular_files(root: str | os.PathLike, folder: str | os.PathLike) -> Iterator[Path]:
    """The entries of ``root/folder``, sorted, refusing any link or path that leaves ``root``:
    an extracted corpus must not read files from elsewhere (a link to /etc/hostname)."""
    base = Path(os.path.realpath(root))
    target = Path(root) / folder
    if target.is_symlink() or base not in Path(os.path.realpath(target)).parents:
        raise UsageError(f"unsafe data folder {root}: {folder} leads outside it (a link?)")
    for entry in sorted(target.iterdir()):
        if entry.is_symlink():
            raise UsageError(
                f"unsafe data folder {root}: {entry.relative_to(root)} is a link; "
                "copy the file in instead"
            )
        yield entry


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks so large archives don't need to fit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``; the file appears only once complete and its sha256 matches."""
    dest = Path(dest)
    print(f"downloading {url} -> {dest}", file=sys.stderr)
    try:
        with atomic_path(dest, suffix=dest.suffix) as tmp:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                shutil.copyfileobj(resp, out, _CHUNK)
            got = sha256_of(tmp)
            if got != sha256:
                raise UsageError(
                    f"checksum mismatch for {url}: expected sha256 {sha256}, got {got}"
                )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"cannot download {url}: {exc}") from exc
    return dest


def safe_extract_tar(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a tar archive, refusing links, devices and paths that would escape ``dest``."""
    dest = Path(dest).resolve()
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for m in members:
                target = (dest / m.name).resolve()
                if not (m.isfile() or m.isdir()):
                    raise UsageError(f"unsafe archive {archive}: {m.name} is not a plain file")
                if target != dest and dest not in target.parents:
                    raise UsageError(f"unsafe archive {archive}: {m.name} escapes {dest}")
            dest.mkdir(parents=True, exist_ok=True)
            if sys.version_info >= (3, 12):
                tar.extractall(dest, members=members, filter="data")
            else:  # members were all checked above
                tar.extractall(dest, members=members)  # noqa: S202
    except ARCHIVE_ERRORS as exc:
        raise archive_error(archive, exc) from None
    return dest
