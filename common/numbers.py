"""Numbers from text (flags, TOML, JSON): ASCII digits, finite floats, 32-bit seeds.

Python's ``int('٣')`` is 3 and ``float('nan')`` is a float; a user who types either meant
something else, and a NaN learning rate "succeeds" with NaN weights. Every command reads its
numbers through here, so the rule is the same on every CLI.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Any

from common.errors import UsageError

MAX_SEED = 2**32 - 1  # TensorFlow's and numpy's seeds are 32-bit
_INT_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
_NON_FINITE = ("nan", "inf", "infinity")


def parse_number(text: str, kind: type, name: str) -> int | float:
    """``text`` as ``kind`` (int or float): ASCII digits only, floats finite; else one line."""
    stripped = str(text).strip()
    if kind is float and stripped.lstrip("+-").lower() in _NON_FINITE:
        raise UsageError(f"{name} must be a finite number, got {text!r}")
    pattern = _INT_TEXT if kind is int else _FLOAT_TEXT
    if not pattern.fullmatch(stripped):
        shown = repr(text) if len(str(text)) <= 40 else repr(str(text)[:40] + "...")
        article = "an" if kind is int else "a"
        raise UsageError(f"{name} {shown} is not {article} {kind.__name__} (ASCII digits)")
    value = kind(stripped)
    if kind is float and not math.isfinite(value):
        raise UsageError(f"{name} {text!r} is not a finite number")
    return value


def check_finite(name: str, value: float | None) -> None:
    if value is not None and not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number, got {value}")


def check_seed(name: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= MAX_SEED:
        raise UsageError(f"{name} must be in 0..{MAX_SEED} (2**32 - 1), got {value}")


def arg_type(kind: type, name: str, check: Callable[[str, Any], None] | None = None) -> Any:
    """argparse's ``type=`` for ``kind`` under these rules (its message printed as given)."""

    def parse(text: str) -> Any:
        try:
            value = parse_number(text, kind, name)
        except UsageError as exc:
            reason = "not finite" if "finite" in str(exc) else "ASCII digits only"
            raise argparse.ArgumentTypeError(
                f"invalid {kind.__name__} value: {text!r} ({reason})"
            ) from None
        try:
            if check is not None:
                check(name, value)
        except UsageError as exc:  # argparse prints "argument --x: " before it
            raise argparse.ArgumentTypeError(str(exc).removeprefix(name + " ")) from None
        return value

    parse.__name__ = kind.__name__
    return parse
