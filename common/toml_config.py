"""Reading a ``--config run.toml`` file: the keys are a command's long flags.

Each command checks the keys against its own options; this module only reads the file, in one
line of error when it cannot, and folds flag spellings (``batch-size`` or ``batch_size``).
"""

from __future__ import annotations

import math
import sys
from typing import Any

from common.errors import UsageError, first_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


MAX_FILE_BYTES = 1 << 20  # an options file is a few hundred bytes; this is not one


def load_toml(path: str) -> dict[str, Any]:
    """A TOML file's table, or one :class:`UsageError` line: missing, a folder, too big,
    not UTF-8, not TOML, nested too deeply."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"config file {path} not found") from None
    except IsADirectoryError:
        raise UsageError(f"config file {path} is a folder, not a TOML file") from None
    except OSError as exc:
        raise UsageError(f"config file {path} is unreadable ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(f"config file {path} is over 1 MiB: is it an options file?")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"config file {path} is not UTF-8 text") from None
    except RecursionError:
        raise UsageError(f"config file {path} is nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {first_line(exc)}") from None


def read_toml_table(path: str) -> dict[str, Any]:
    """The file's top-level table, keys with dashes turned into underscores."""
    return {key.replace("-", "_"): value for key, value in load_toml(path).items()}


def typed_value(key: str, value: Any, kind: type, source: str) -> Any:
    """``value`` checked against ``kind``, never coerced (an int is accepted as a float, a bool
    is not an int); floats finite, text printable."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        shown = repr(value) if len(repr(value)) <= 40 else type(value).__name__
        raise UsageError(f"key {key!r} in {source} must be {kind.__name__}, got {shown}")
    if kind is float and not math.isfinite(value):
        raise UsageError(f"key {key!r} in {source} must be a finite number, got {value}")
    if kind is str and not value.isprintable():
        raise UsageError(f"key {key!r} in {source} holds control characters")
    return value
