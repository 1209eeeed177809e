"""Reading ``.npz`` files that may be damaged or hostile: never unpickled, never trusted.

Before any array is read, every member's ``.npy`` header is parsed and its shape and dtype
checked against the bytes the member really holds, so a header that claims a 730 GiB array is
refused in one line instead of allocating; the total is checked against free memory too. Object
arrays (pickles) are refused. Any damage (not a zip, truncated, bad CRC, bad header) becomes one
:class:`~common.errors.UsageError` line naming the file; optional :class:`ArraySpec` checks give
the same for wrong shapes, dtypes, NaN and out-of-range values.
"""

from __future__ import annotations

import math
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import UsageError, first_line
from common.memory import format_bytes, require_memory

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP = b"PK\x05\x06"
_DAMAGE = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    NotImplementedError,
    UnicodeDecodeError,
    SyntaxError,  # numpy parses the header dict with ast.literal_eval...
    tokenize.TokenError,  # ...after tokenizing it
    TypeError,
    IndexError,
    RuntimeError,
)


@dataclass(frozen=True)
class ArraySpec:
    """What one array must look like. ``shape`` entries of ``None`` match any length; ``kinds``
    are numpy dtype kinds (``"iu"`` integers, ``"f"`` floats, ``"b"`` bool, ``"U"`` text)."""

    kinds: str = "biufU"
    shape: tuple[int | None, ...] | None = None
    finite: bool = True  # floats: no NaN or infinity
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Member:
    """One array as its header describes it, checked against the member's size."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, error: type) -> Member:
    name = info.filename[: -len(".npy")] if info.filename.endswith(".npy") else info.filename
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version in ((2, 0), (3, 0)):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise error(f"{path} is corrupt or unreadable (array {name!r}: .npy version {version})")
        header_size = fh.tell()
    if dtype.hasobject:
        raise error(
            f"{path}: array {name!r} holds Python objects (pickled data), which this project "
            "never loads"
        )
    member = Member(name, tuple(int(n) for n in shape), dtype)
    held = info.file_size - header_size
    if held != member.nbytes:
        raise error(
            f"{path} is corrupt or unreadable (array {name!r} claims {member.shape} {dtype}, "
            f"{format_bytes(member.nbytes)}, but holds {format_bytes(held)})"
        )
    return member


def inspect_npz(
    path: str | os.PathLike, error: type[UsageError] = UsageError, what: str = ""
) -> dict[str, Member]:
    """Every array's name, shape and dtype from the headers, checked against member sizes;
    nothing is allocated. ``what`` names the file in messages (``"replay buffer"``)."""
    path = Path(path)
    label = Path(f"{what} {path}".strip())
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except FileNotFoundError:
        raise error(f"{label} not found") from None
    except IsADirectoryError:
        raise error(f"{label} is a folder, not an .npz file") from None
    except OSError as exc:
        raise error(f"{label} is unreadable ({exc.strerror or exc})") from None
    if magic not in (ZIP_MAGIC, EMPTY_ZIP):
        kind = "empty" if not magic else "not an .npz archive: no zip header"
        raise error(f"{label} is corrupt or unreadable ({kind})")
    try:
        with zipfile.ZipFile(path) as zf:
            return {m.name: m for m in (_header(zf, i, label, error) for i in zf.infolist())}
    except UsageError:
        raise
    except _DAMAGE as exc:
        raise error(f"{label} is corrupt or unreadable ({first_line(exc)})") from None


def check_array(
    path: Path, name: str, array: np.ndarray, spec: ArraySpec, error: type = UsageError
) -> None:
    """One array against its spec (dtype kind, shape, finite, range): one line when not."""
    if array.dtype.kind not in spec.kinds:
        raise error(f"{path}: array {name!r} has dtype {array.dtype}, expected kind {spec.kinds}")
    if spec.shape is not None and (
        len(array.shape) != len(spec.shape)
        or any(w is not None and g != w for g, w in zip(array.shape, spec.shape, strict=True))
    ):
        want = tuple("N" if n is None else n for n in spec.shape)
        raise error(f"{path}: array {name!r} has shape {array.shape}, expected {want}")
    if array.size == 0 or array.dtype.kind not in "biuf":
        return
    if spec.finite and array.dtype.kind == "f" and not np.isfinite(array).all():
        raise error(f"{path}: array {name!r} holds NaN or infinite values")
    if spec.min is not None and array.min() < spec.min:
        raise error(f"{path}: array {name!r} holds values below {spec.min:g}")
    if spec.max is not None and array.max() > spec.max:
        raise error(f"{path}: array {name!r} holds values above {spec.max:g}")


def read_npz(
    path: str | os.PathLike,
    specs: Mapping[str, ArraySpec] | None = None,
    *,
    required: tuple[str, ...] | None = None,
    error: type[UsageError] = UsageError,
    what: str = "",
) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (only those in ``specs`` when given), each checked.

    ``required`` defaults to the names in ``specs``; ``what`` names the file for messages
    (``"checkpoint"``, ``"replay buffer"``)."""
    path = Path(path)
    label = Path(f"{what} {path}".strip())
    members = inspect_npz(path, error, what)
    needed = tuple(specs) if required is None and specs is not None else (required or ())
    missing = [name for name in needed if name not in members]
    if missing:
        raise error(f"{label} is missing arrays {', '.join(missing)}")
    names = [n for n in members if specs is None or n in specs]
    require_memory(
        sum(members[n].nbytes for n in names), f"reading {path}", "the file is damaged or too big"
    )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name]) for name in names}
    except _DAMAGE as exc:
        raise error(f"{label} is corrupt or unreadable ({first_line(exc)})") from None
    except MemoryError:
        raise error(f"{label} does not fit in memory") from None
    for name, spec in (specs or {}).items():
        if name in arrays:
            check_array(label, name, arrays[name], spec, error)
    return arrays
