"""Options as dataclass fields, in the spirit of CleanRL's ``Args``: each field carries its help
text, range check and choices once, and the command-line flags, the TOML keys, validation and
``config.json`` are all derived from the fields.

A field's name is its TOML key and, with dashes, its long flag: ``lr_decay`` <-> ``--lr-decay``.

Checks every option gets, whatever its field says (:func:`check`): floats are finite (``nan``,
``inf`` and ``1e999`` are refused), seeds are in 0..2**32-1 (TensorFlow's and numpy's range),
other integers at most :data:`MAX_INT`, sizes (:data:`SIZES`) no larger than memory allows, and
numbers are ASCII digits (``٣`` is not 3). Values from TOML or ``config.json`` keep their type:
``q-net = 5`` or ``episodes = "10"`` is refused, never coerced.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import UsageError
from common.memory import require_memory
from common.numbers import MAX_SEED, parse_number
from common.strict_json import read_json
from common.toml_config import load_toml as _load_toml

MAX_INT = 2**31 - 1  # counts (episodes, steps, sizes): far beyond any run, inside int32


def _size_bytes(per_unit: float) -> Callable[[Any], float]:
    return lambda value: per_unit * value


def _layer_bytes(sizes: tuple[int, ...]) -> float:
    """At least: float32 weights between the layers (one input, two actions), times four copies
    (weights, target network, Adam's two moments)."""
    widths = (1, *sizes, 2)
    return 4 * 4 * sum(a * b for a, b in zip(widths, widths[1:], strict=False))


#: Counts whose cost is time more than memory: a hard ceiling, with the reason.
LIMITS: dict[str, tuple[int, str]] = {
    "max_episode_steps": (1_000_000, "the exact planner does one sweep per step"),
}

#: Sizes tied to memory: the fewest bytes a value needs (the allocating code knows the exact
#: shapes and checks again); what cannot fit is refused before anything is allocated.
SIZES: dict[str, tuple[Callable[[Any], float], str]] = {
    # two observations of at least one float32, action, reward, discount
    "buffer_size": (_size_bytes(2 * 4 + 12), "a replay buffer of --buffer-size {value}"),
    # per env: state, step count, returns, lengths, n-step rows, an observation
    "num_envs": (_size_bytes(128), "--num-envs {value} environments"),
    # the planner's policy table: one int64 per (step, state), two states at least
    "max_episode_steps": (_size_bytes(2 * 8), "planning --max-episode-steps {value}"),
    "batch_size": (_size_bytes(2 * 4 + 12), "a minibatch of --batch-size {value}"),
    "hidden": (_layer_bytes, "a Q-network with --hidden {value}"),
}


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


def seed_range(name: str, value: int) -> None:
    if not 0 <= value <= MAX_SEED:
        raise UsageError(f"--{name} must be in 0..{MAX_SEED} (2**32 - 1), got {value}")


def is_seed(name: str) -> bool:
    return name == "seed" or name.endswith("_seed") or name.endswith("-seed")


def universal_checks(name: str, value: Any) -> None:
    """What holds for every option, before its own check: finite floats, bounded ints, sizes
    that fit in memory. ``name`` is the field name (underscores)."""
    flag_name = name.replace("_", "-")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"--{flag_name} must be a finite number, got {value}")
    if isinstance(value, int) and not isinstance(value, bool):
        if is_seed(name):
            seed_range(flag_name, value)
        elif abs(value) > MAX_INT:
            raise UsageError(f"--{flag_name} must be at most {MAX_INT:,}, got {value:,}")
    if name in LIMITS and isinstance(value, int) and value > LIMITS[name][0]:
        limit, why = LIMITS[name]
        raise UsageError(f"--{flag_name} must be at most {limit:,} ({why}), got {value:,}")
    if name in SIZES and value is not None:
        estimate, what = SIZES[name]
        require_memory(estimate(value), what.format(value=display_value(value)), "lower it")


def display_value(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return f"{value:,}" if isinstance(value, int) else str(value)


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
        shown = repr(value) if len(repr(value)) <= 40 else type(value).__name__
        raise UsageError(f"key {f.name!r} in {source} must be {expected.__name__}, got {shown}")
    if expected is str and not value.isprintable():
        raise UsageError(f"key {f.name!r} in {source} holds control characters")
    universal_checks(f.name, value)
    return value


def parse_text(f: dataclasses.Field, text: str) -> Any:
    """A field's value from its text form; a parser raises UsageError naming what it expects."""
    spec = spec_of(f)
    if spec.parse is not None:
        return spec.parse(text)
    kind = scalar_type(f)
    value = parse_number(text, kind, flag(f.name)) if kind in (int, float) else kind(text)
    universal_checks(f.name, value)
    return value


def flag_type(f: dataclasses.Field) -> Callable[[str], Any]:
    """argparse's ``type=`` for a field: strict numbers, its own parser for the rest."""
    kind = scalar_type(f)
    if spec_of(f).parse is not None or kind is str:
        return str  # parsed with the TOML values, later

    def parse(text: str) -> Any:
        try:
            value = parse_number(text, kind, flag(f.name))
            universal_checks(f.name, value)
        except UsageError as exc:  # argparse prints "argument --x: " and the message as given
            message = str(exc)
            if message.startswith(flag(f.name) + " must"):  # argparse names the flag already
                message = message.removeprefix(flag(f.name) + " ")
            raise argparse.ArgumentTypeError(message) from None
        return value

    parse.__name__ = kind.__name__  # argparse says "invalid int value: '٣'"
    return parse


def check(obj: Any) -> None:
    """Run every field's range check and choices on its value (``None`` means: not set)."""
    for f in option_fields(type(obj)):
        value, spec = getattr(obj, f.name), spec_of(f)
        if value is None:
            continue
        universal_checks(f.name, value)
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
            type=flag_type(f),
            choices=spec.choices,
            metavar=spec.metavar,
            **kwargs,
        )


def display(f: dataclasses.Field, value: Any = dataclasses.MISSING) -> str:
    value = f.default if value is dataclasses.MISSING else value
    spec = spec_of(f)
    return str(spec.dump(value) if spec.dump else value)


# -- files of options -----------------------------------------------------------------------------
def load_toml(path: str) -> dict[str, Any]:
    """A TOML file's table or one line (see :func:`common.toml_config.load_toml`)."""
    return _load_toml(path)


def load_json_object(path: str | Path) -> dict[str, Any]:
    """A saved ``config.json``: strict JSON (UTF-8, no NaN), an object, or one line."""
    data = read_json(path, "run config")
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a run's config (expected a JSON object)")
    return data
