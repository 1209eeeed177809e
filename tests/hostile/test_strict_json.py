import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.errors import UsageError
from common.strict_json import dumps, finite_or_none, loads, read_json, write_json
from tests.hostile.helpers import assert_one_line

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_everything_written_is_strict_json(value):
    text = dumps(value)
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} written"))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_non_finite_floats_become_null(x):
    assert finite_or_none({"a": [x]}) == {"a": [x if math.isfinite(x) else None]}


def test_numpy_values_are_plain():
    assert json.loads(dumps({"a": np.float32(0.5), "b": np.arange(3), "c": np.float64("nan")})) == {
        "a": 0.5,
        "b": [0, 1, 2],
        "c": None,
    }


@given(st.binary(max_size=60))
def test_reading_any_bytes_is_a_value_or_one_line(data):
    try:
        loads(data, "config.json")
    except UsageError as exc:
        assert_one_line(str(exc))
        assert "config.json" in str(exc)


@pytest.mark.parametrize("text", ["NaN", '{"lr": Infinity}', "[-Infinity]", "[" * 100_000])
def test_non_strict_or_deep_json_is_refused(text):
    with pytest.raises(UsageError) as info:
        loads(text, "x.json")
    assert_one_line(str(info.value))


def test_read_and_write(tmp_path):
    write_json(tmp_path / "s.json", {"x": float("inf")})
    assert read_json(tmp_path / "s.json") == {"x": None}
    for bad in (tmp_path / "missing.json", tmp_path):
        with pytest.raises(UsageError) as info:
            read_json(bad, "summary")
        assert_one_line(str(info.value))
