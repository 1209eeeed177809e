"""JSON the project writes is strict JSON (RFC 8259): no ``NaN``, no ``Infinity``.

Python's ``json`` writes ``NaN`` by default, which other readers (``jq``, JavaScript, pandas'
strict mode) reject. Summaries go through :func:`dumps`: a non-finite float (a metric of a
diverged run, an accuracy a model does not have) becomes ``null``; numpy scalars and arrays
become numbers and lists. :func:`loads` refuses ``NaN`` / ``Infinity`` in what it reads.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from common.atomic import atomic_write_text
from common.errors import UsageError


def finite_or_none(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None`` and numpy values made plain."""
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite_or_none(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(value) for value in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """Strict JSON text of ``obj`` (non-finite floats written as ``null``)."""
    return json.dumps(finite_or_none(obj), allow_nan=False, **kwargs)


def write_json(path: str | os.PathLike, obj: Any, *, indent: int | None = 2, **kwargs: Any) -> None:
    """Write ``obj`` as strict JSON, atomically, ending in a newline."""
    atomic_write_text(path, dumps(obj, indent=indent, **kwargs) + "\n")


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str | bytes, source: str = "JSON") -> Any:
    """Parse strict JSON; any damage (bad UTF-8, syntax, NaN, nesting too deep) is one
    :class:`UsageError` line naming ``source``."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not UTF-8 text") from None
    except RecursionError:
        raise UsageError(f"{source} is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise UsageError(f"{source} is not valid JSON ({exc})") from None


def read_json(path: str | os.PathLike, what: str = "") -> Any:
    """Read a JSON file strictly; unreadable or damaged is one line naming the file."""
    source = f"{what} {path}".strip()
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise UsageError(f"{source} not found") from None
    except IsADirectoryError:
        raise UsageError(f"{source} is a folder, not a JSON file") from None
    except OSError as exc:
        raise UsageError(f"{source} is unreadable ({exc.strerror or exc})") from None
    return loads(data, source)
