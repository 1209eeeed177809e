"""Option values from flags, TOML and config.json: every float finite, every int in range,
ASCII digits only, types checked not coerced, sizes against memory; one line each."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.options import (
    MAX_INT,
    MAX_SEED,
    add_flags,
    check,
    coerce,
    load_json_object,
    load_toml,
    option,
    option_fields,
    parse_text,
)
from common.errors import OneLineArgumentParser, UsageError
from tests.hostile.helpers import assert_one_line

FIXTURE = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Opts:
    lr: float = option(0.1, "learning rate")
    seed: int = option(0, "seed")
    map_seed: int | None = option(None, "map seed")
    episodes: int = option(10, "episodes")
    buffer_size: int = option(100, "replay capacity")
    name: str = option("x", "a name")
    double: bool = option(True, "a switch")

    def __post_init__(self) -> None:
        check(self)


FIELDS = {f.name: f for f in option_fields(Opts)}


def accepted(name: str, value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if name in ("seed", "map_seed"):
        return 0 <= value <= MAX_SEED
    if name == "buffer_size":
        return abs(value) <= MAX_INT and value * 20 < 1 << 40  # well inside any machine
    return abs(value) <= MAX_INT


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_finite_from_every_source(x):
    for make in (
        lambda: coerce(FIELDS["lr"], x, "config file a.toml"),
        lambda: parse_text(FIELDS["lr"], repr(x)),
        lambda: Opts(lr=x),
    ):
        if math.isfinite(x):
            assert make() in (x, Opts(lr=x))
        else:
            with pytest.raises(UsageError, match="finite") as info:
                make()
            assert_one_line(str(info.value))


@given(st.sampled_from(["seed", "map_seed", "episodes"]), st.integers(-(2**70), 2**70))
def test_ints_have_ranges(name, n):
    try:
        value = coerce(FIELDS[name], n, "config.json")
        Opts(**{name: value})
    except UsageError as exc:
        assert_one_line(str(exc))
        assert not accepted(name, n)
    else:
        assert accepted(name, n)


@given(st.text(min_size=1, max_size=6))
def test_numbers_are_ascii_digits(text):
    try:
        value = parse_text(FIELDS["episodes"], text)
    except UsageError as exc:
        assert_one_line(str(exc))
    else:
        assert text.strip().lstrip("+-").isascii() and text.strip().lstrip("+-").isdigit()
        assert value == int(text)


@pytest.mark.parametrize("text", ["٣", "１０", "3\u0663", "1_000", "0x10", "nan", "inf", "1e999"])
def test_unicode_and_odd_numbers_are_refused(text):
    with pytest.raises(UsageError):
        parse_text(FIELDS["episodes" if "e" not in text and "n" not in text else "lr"], text)


def test_flags_use_the_same_rules():
    parser = OneLineArgumentParser(prog="x")
    add_flags(parser.add_argument_group("g"), option_fields(Opts))
    for argv in (["--seed", "٣"], ["--lr", "nan"], ["--seed", "-1"], ["--lr", "1e999"]):
        with pytest.raises(SystemExit) as info:
            ns = parser.parse_args(argv)
            Opts(**vars(ns))
        assert info.value.code == 2
    with pytest.raises(UsageError, match="0..4294967295"):
        Opts(seed=2**32)
    assert vars(parser.parse_args(["--seed", "7", "--lr", "0.5"])) == {"seed": 7, "lr": 0.5}


toml_values = st.one_of(
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@given(st.sampled_from(sorted(FIELDS)), toml_values)
def test_types_are_checked_not_coerced(name, value):
    f = FIELDS[name]
    try:
        got = coerce(f, value, "config file a.toml")
    except UsageError as exc:
        assert_one_line(str(exc))
        return
    kind = {"lr": float, "name": str, "double": bool}.get(name, int)
    assert isinstance(got, kind) and (kind is bool or not isinstance(got, bool))
    if kind is not float:
        assert type(value) is kind


def test_sizes_beyond_memory_are_refused_with_the_estimate():
    with pytest.raises(UsageError, match=r"needs about .*GiB.*lower it") as info:
        coerce(FIELDS["buffer_size"], MAX_INT, "the command line")
    assert_one_line(str(info.value))


@FIXTURE
@given(st.binary(max_size=80))
def test_any_toml_bytes_are_a_table_or_one_line(tmp_path, raw):
    path = tmp_path / "a.toml"
    path.write_bytes(raw)
    try:
        assert isinstance(load_toml(str(path)), dict)
    except UsageError as exc:
        assert_one_line(str(exc))


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"lr = \xff\xfe", "UTF-8"),
        (b"a = " + b"[" * 5000 + b"]" * 5000, "nested too deeply|not valid TOML"),
        (b"lr = [", "not valid TOML"),
    ],
)
def test_damaged_toml(tmp_path, raw, match):
    (tmp_path / "a.toml").write_bytes(raw)
    with pytest.raises(UsageError, match=match) as info:
        load_toml(str(tmp_path / "a.toml"))
    assert_one_line(str(info.value))


def test_missing_or_folder_toml(tmp_path):
    for path in (tmp_path / "none.toml", tmp_path):
        with pytest.raises(UsageError):
            load_toml(str(path))


@FIXTURE
@given(st.binary(max_size=60) | st.sampled_from([b"[]", b"[1,2]", b'"x"', b"NaN", b"{}"]))
def test_any_config_json_bytes_are_an_object_or_one_line(tmp_path, raw):
    (tmp_path / "config.json").write_bytes(raw)
    try:
        assert isinstance(load_json_object(tmp_path / "config.json"), dict)
    except UsageError as exc:
        assert_one_line(str(exc))


def test_parser_errors_are_one_line(capsys):
    parser = OneLineArgumentParser(prog="x")
    parser.add_argument("--n", type=int)
    with pytest.raises(SystemExit):
        parser.parse_args(["--n", "x\ny"])
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
