"""Reading a ``--config run.toml`` file: the keys are a command's long flags.

Each command checks the keys against its own options; this module only reads the file, in one
line of error when it cannot, and folds flag spellings (``batch-size`` or ``batch_size``).
"""

from __future__ import annotations

import sys
from typing import Any

from common.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def read_toml_table(path: str) -> dict[str, Any]:
    """The file's top-level table, keys with dashes turned into underscores."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"config file {path} not found") from None
    except IsADirectoryError:
        raise UsageError(f"config file {path} is a folder, not a TOML file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    return {key.replace("-", "_"): value for key, value in data.items()}


def typed_value(key: str, value: Any, kind: type, source: str) -> Any:
    """``value`` checked against ``kind`` (an int is accepted as a float, a bool is not an int)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UsageError(f"key {key!r} in {source} must be {kind.__name__}, got {value!r}")
    return value
