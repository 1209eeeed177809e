"""Map specs: any text is a playable map within the one size limit, or one line."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import envs
from common.errors import UsageError
from common.memory import available_bytes
from envs.maps import MAX_SIZE, InvalidMapError, parse_map
from envs.planner import plan
from tests.hostile.helpers import assert_one_line

tiles = st.text(alphabet="SFHGx٣ ", min_size=1, max_size=5)


@given(st.lists(tiles, min_size=1, max_size=5).map(",".join) | st.text(max_size=30))
def test_any_text_is_a_valid_map_or_one_line(text):
    try:
        rows = parse_map(text)
    except InvalidMapError as exc:
        assert_one_line(str(exc))
        return
    assert len(rows) <= MAX_SIZE and all(len(r) == len(rows[0]) <= MAX_SIZE for r in rows)
    assert sum(r.count("S") for r in rows) == 1


@given(st.integers(1, 3 * MAX_SIZE), st.integers(1, 3 * MAX_SIZE))
def test_one_size_limit_for_written_and_random_maps(height, width):
    rows = ["F" * width for _ in range(height)]
    rows[0] = "S" + rows[0][1:]
    rows[-1] = rows[-1][:-1] + "G"
    if height * width == 1:
        return
    written = height <= MAX_SIZE and width <= MAX_SIZE
    for spec, fits in ((",".join(rows), written), (f"random:{height}", 2 <= height <= MAX_SIZE)):
        if fits:
            parse_map(spec)
        else:
            with pytest.raises(InvalidMapError, match=f"{MAX_SIZE}") as info:
                parse_map(spec)
            assert_one_line(str(info.value))


@pytest.mark.parametrize("spec", ["random:٣", "random:３", "random:1٣", "random:1e1", "random:"])
def test_random_sizes_are_ascii_digits(spec):
    with pytest.raises(InvalidMapError, match="ASCII"):
        parse_map(spec)


def test_a_map_spec_megabytes_long_is_refused_before_splitting():
    with pytest.raises(InvalidMapError, match="larger than"):
        parse_map("SFFG," * 1_000_000)


@given(st.integers(1, 10**12))
def test_planner_memory_is_estimated_first(horizon):
    """envs.planner checks its table against memory before allocating (issue 14's check)."""
    env = envs.make("frozenlake", max_episode_steps=horizon)
    if horizon * 16 * 8 > 0.8 * available_bytes():
        with pytest.raises(UsageError, match="--max-episode-steps") as info:
            plan(env)
        assert_one_line(str(info.value))
