"""Options as dataclass fields, in the spirit of CleanRL's ``Args``: each field carries its help
text, range check and choices once, and the command-line flags, the TOML keys, validation and
``config.json`` are all derived from the fields.

A field's name is its TOML key and, with dashes, its long flag: ``lr_decay`` <-> ``--lr-decay``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from common.errors import UsageError


@dataclass(frozen=True)
class OptionSpec:
    help: str
    check: Callable[[str, Any], None] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None  # flag or TOML text -> value, for non-scalar types
    dump: Callable[[Any], Any] | None = None  # value -> the flag's text form, for config.json


def option(default: Any, help: str, **spec: Any) -> Any:  # noqa: A002 - argparse's word
    """A dataclass field that is also a command-line flag and a TOML key."""
    return field(default=default, metadata={"option": OptionSpec(help, **spec)})


def spec_of(f: dataclasses.Field) -> OptionSpec:
    return f.metadata["option"]


def option_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if "option" in f.metadata]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# -- checks: (flag name, value) -> raise UsageError ---------------------------------------------
def positive(name: str, value: float) -> None:
    if value <= 0:
        raise UsageError(f"--{name} must be positive, got {value}")


def non_negative(name: str, value: float) -> None:
    if value < 0:
        raise UsageError(f"--{name} must be zero or more, got {value}")


def unit_open_closed(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise UsageError(f"--{name} must be in (0, 1], got {value}")


def probability(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise UsageError(f"--{name} must be in [0, 1], got {value}")


# -- types ----------------------------------------------------------------------------------------
def scalar_type(f: dataclasses.Field) -> type:
    """The Python type a field holds (annotations are strings under ``from __future__``)."""
    text = str(f.type)
    for name, kind in (("bool", bool), ("int", int), ("float", float)):
        if text == name or text.startswith(f"{name} |"):
            return kind
    return str


def coerce(f: dataclasses.Field, value: Any, source: str) -> Any:
    """A value read from TOML or a saved ``config.json``, checked against the field's type."""
    spec = spec_of(f)
    if value is None and str(f.type).endswith("| None"):  # JSON null: not set
        return None
    if spec.parse is not None:
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if not isinstance(value, str):
            raise UsageError(f"key {f.name!r} in {source} must be text like {spec.metavar}")
        return parse_text(f, value)
    expected = scalar_type(f)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise UsageError(f"key {f.name!r} in {source} must be {expected.__name__}, got {value!r}")
    return value


def parse_text(f: dataclasses.Field, text: str) -> Any:
    """A field's value from its text form; a parser raises UsageError naming what it expects."""
    spec = spec_of(f)
    if spec.parse is not None:
        return spec.parse(text)
    try:
        return scalar_type(f)(text)
    except ValueError:
        raise UsageError(f"{flag(f.name)} {text!r} is not a {scalar_type(f).__name__}") from None


def check(obj: Any) -> None:
    """Run every field's range check and choices on its value (``None`` means: not set)."""
    for f in option_fields(type(obj)):
        value, spec = getattr(obj, f.name), spec_of(f)
        if value is None:
            continue
        name = f.name.replace("_", "-")
        if spec.choices is not None and value not in spec.choices:
            raise UsageError(f"--{name} must be one of {', '.join(spec.choices)}, got {value!r}")
        if spec.check is not None:
            spec.check(name, value)


def as_dict(obj: Any) -> dict[str, Any]:
    """Field values in their flag/TOML form: what ``config.json`` holds and a resume reads."""
    out = {}
    for f in option_fields(type(obj)):
        value, spec = getattr(obj, f.name), spec_of(f)
        out[f.name] = spec.dump(value) if spec.dump and value is not None else value
    return out


# -- command line ---------------------------------------------------------------------------------
def add_flags(
    group: argparse._ArgumentGroup,
    fields: Iterable[dataclasses.Field],
    default_text: Callable[[dataclasses.Field], str | None] | None = None,
) -> None:
    """One flag per field. Defaults are suppressed, so the parser returns only what was given;
    ``default_text`` may describe a field's default for ``--help`` (else: its dataclass default)."""
    for f in fields:
        spec = spec_of(f)
        default = default_text(f) if default_text is not None else None
        if default is None:
            default = "" if f.default is None else f" (default: {display(f)})"
        kwargs = {"dest": f.name, "help": spec.help + default, "default": argparse.SUPPRESS}
        if scalar_type(f) is bool:
            group.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, **kwargs)
            continue
        group.add_argument(
            flag(f.name),
            type=str if spec.parse else scalar_type(f),  # parsed with the TOML values, later
            choices=spec.choices,
            metavar=spec.metavar,
            **kwargs,
        )


def display(f: dataclasses.Field, value: Any = dataclasses.MISSING) -> str:
    value = f.default if value is dataclasses.MISSING else value
    spec = spec_of(f)
    return str(spec.dump(value) if spec.dump else value)
