"""agents.schedules by value: the decays the agents' exploration and learning rates follow."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.schedules import (
    ExponentialSchedule,
    InverseSchedule,
    LinearSchedule,
    decay_length,
    make_schedule,
)


def test_linear_goes_straight_from_start_to_end_then_stays():
    s = LinearSchedule(1.0, 0.2, 8)
    assert [s(e) for e in (0, 2, 4, 7, 8, 9, 10**6)] == pytest.approx(
        [1.0, 0.8, 0.6, 0.3, 0.2, 0.2, 0.2]
    )
    assert LinearSchedule(1.0, 0.2, 0)(0) == 0.2  # no decay: the end value at once
    assert LinearSchedule(1.0, 0.2, -3)(0) == 0.2


def test_exponential_is_geometric_between_start_and_end():
    s = ExponentialSchedule(1.0, 0.01, 4)
    # 0.01 ** (e / 4): 1, 0.316, 0.1, 0.0316, then 0.01 for ever
    assert [s(e) for e in (0, 1, 2, 3, 4, 100)] == pytest.approx(
        [1.0, 0.01**0.25, 0.1, 0.01**0.75, 0.01, 0.01]
    )
    assert ExponentialSchedule(1.0, 0.01, 0)(0) == 0.01
    # A zero (or negative) end or start has no geometric path: the end value.
    assert ExponentialSchedule(1.0, 0.0, 10)(3) == 0.0
    assert ExponentialSchedule(0.0, 0.5, 10)(3) == 0.5


def test_inverse_is_the_2017_epsilon():
    s = InverseSchedule()
    assert [s(e) for e in (0, 50, 450)] == pytest.approx([1 / 10, 1 / 11, 1 / 19])
    assert InverseSchedule(scale=2.0, offset=1.0)(4) == pytest.approx(1 / 3)


def test_make_schedule_by_name():
    assert make_schedule("linear", 1.0, 0.5, 10) == LinearSchedule(1.0, 0.5, 10)
    assert make_schedule("exponential", 1.0, 0.5, 10) == ExponentialSchedule(1.0, 0.5, 10)
    assert make_schedule("inverse", 1.0, 0.5, 10) == InverseSchedule()
    with pytest.raises(ValueError, match="unknown schedule 'cosine'"):
        make_schedule("cosine", 1.0, 0.5, 10)


def test_decay_length_is_explicit_or_a_fraction_of_the_budget():
    assert decay_length(700, 0.5, 10_000) == 700  # an explicit length wins
    assert decay_length(None, 0.5, 10_001) == 5000  # round(5000.5) is 5000 (half to even)
    assert decay_length(None, 0.25, 10_002) == 2500  # 2500.5 -> 2500
    assert decay_length(None, 0.3, 1000) == 300 and decay_length(None, 0.3, 1003) == 301
    assert decay_length(None, 0.5, None) == 0  # no budget known: end values at once


@given(
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.integers(1, 10_000),
    st.integers(0, 20_000),
)
def test_linear_stays_between_its_ends_and_is_monotone(start, end, duration, episode):
    s = LinearSchedule(start, end, duration)
    low, high = min(start, end), max(start, end)
    assert low - 1e-12 <= s(episode) <= high + 1e-12
    later = s(episode + 1)
    assert (later - s(episode)) * (end - start) >= -1e-12  # never moves away from the end


@given(st.floats(1e-3, 1.0), st.floats(1e-3, 1.0), st.integers(1, 1000), st.integers(0, 1000))
def test_exponential_log_is_linear(start, end, duration, episode):
    s = ExponentialSchedule(start, end, duration)
    t = min(episode, duration) / duration
    assert math.log(s(episode)) == pytest.approx(
        (1 - t) * math.log(start) + t * math.log(end), abs=1e-9
    )


def test_a_one_step_decay_starts_at_start_and_schedules_are_values():
    assert [LinearSchedule(1.0, 0.2, 1)(e) for e in (0, 1)] == [1.0, 0.2]
    assert [ExponentialSchedule(1.0, 0.2, 1)(e) for e in (0, 1)] == [1.0, 0.2]
    # Frozen: a schedule shared by an agent and its checkpoint cannot drift (and hashes).
    for schedule, field in (
        (LinearSchedule(1.0, 0.0, 5), "start"),
        (ExponentialSchedule(1.0, 0.1, 5), "end"),
        (InverseSchedule(), "scale"),
    ):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(schedule, field, 2.0)
        assert hash(schedule) == hash(type(schedule)(**dataclasses.asdict(schedule)))
