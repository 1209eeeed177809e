"""Schedules for exploration and learning rates, as functions of the episode index."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LinearSchedule:
    """``start`` at episode 0, straight to ``end`` at ``duration`` episodes, then flat."""

    start: float
    end: float
    duration: int

    def __call__(self, episode: int) -> float:
        if self.duration <= 0 or episode >= self.duration:
            return self.end
        return self.start + (self.end - self.start) * episode / self.duration


@dataclass(frozen=True)
class ExponentialSchedule:
    """``start`` decaying geometrically to ``end`` over ``duration`` episodes, then flat."""

    start: float
    end: float
    duration: int

    def __call__(self, episode: int) -> float:
        if self.duration <= 0 or episode >= self.duration or self.start <= 0 or self.end <= 0:
            return self.end
        return self.start * math.exp(math.log(self.end / self.start) * episode / self.duration)


@dataclass(frozen=True)
class InverseSchedule:
    """The 2017 Q-network's epsilon ``1 / (episode / scale + offset)``."""

    scale: float = 50.0
    offset: float = 10.0

    def __call__(self, episode: int) -> float:
        return 1.0 / (episode / self.scale + self.offset)


SCHEDULE_KINDS = ("linear", "exponential", "inverse")


def make_schedule(kind: str, start: float, end: float, duration: int):
    if kind == "linear":
        return LinearSchedule(start, end, duration)
    if kind == "exponential":
        return ExponentialSchedule(start, end, duration)
    if kind == "inverse":
        return InverseSchedule()
    raise ValueError(f"unknown schedule {kind!r}: choose one of {', '.join(SCHEDULE_KINDS)}")


def decay_length(absolute: int | None, fraction: float, budget: float | None) -> int:
    """How long a decay lasts: the explicit ``absolute`` length when one was given, else
    ``fraction`` of the run's ``budget`` (in the schedule's own unit), so a shorter or longer run
    keeps the recipe's shape. Rounded, so ``fraction * budget`` reproduces a tuned absolute
    length exactly at the recipe's own budget."""
    if absolute is not None:
        return int(absolute)
    if budget is None:  # no run length known (an agent stepped by hand): the end values at once
        return 0
    return int(round(fraction * budget))
