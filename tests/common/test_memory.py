import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.errors import UsageError
from common.memory import available_bytes, format_bytes, require_memory


def test_available_bytes_is_positive():
    assert available_bytes() > 0


@given(st.integers(min_value=0, max_value=1 << 40), st.integers(min_value=1, max_value=1 << 40))
def test_require_memory_refuses_exactly_above_the_usable_fraction(nbytes, available):
    if nbytes > 0.8 * available:
        with pytest.raises(UsageError, match="lower --x") as info:
            require_memory(nbytes, "the thing", "lower --x", available=available)
        assert "\n" not in str(info.value)
        assert format_bytes(nbytes) in str(info.value)
    else:
        require_memory(nbytes, "the thing", "lower --x", available=available)


def test_format_bytes_units():
    assert format_bytes(512) == "512 B"
    assert format_bytes(3 * 1024**3) == "3.0 GiB"
