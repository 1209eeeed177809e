"""Tiny envs for the env-layer tests, registered on import (so ``tests.envs.toy_envs:Id`` works).

- ``dltf_test/Counter-v0``: observation = steps taken; action 1 ends the episode (terminated),
  action 0 goes on; a TimeLimit of 3 steps truncates.
- ``dltf_test/BadReset-v0``: its reset returns an observation outside its space.
- ``dltf_test/NoSeed-v0``: its reset takes no seed (breaks the Gymnasium API).
- ``dltf_test/Failing-v0``: its constructor raises.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

LIMIT = 3


class Counter(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, end_at: int | None = None, render_mode: str | None = None) -> None:
        self.observation_space = spaces.Box(0.0, 100.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.end_at = end_at
        self.count = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.count], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.count = 0
        return self._obs(), {}

    def step(self, action):
        self.count += 1
        terminated = bool(action == 1) or self.count == self.end_at
        return self._obs(), float(self.count), terminated, False, {}


class BadReset(Counter):
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.array([-5.0], dtype=np.float32), {}


class NoSeed(Counter):
    def reset(self):  # type: ignore[override]
        self.count = 0
        return self._obs(), {}


class Failing(Counter):
    def __init__(self, render_mode: str | None = None) -> None:
        raise RuntimeError("the simulator licence has expired\nsecond line")


for _id, _cls, _limit in (
    ("dltf_test/Counter-v0", Counter, LIMIT),
    ("dltf_test/BadReset-v0", BadReset, None),
    ("dltf_test/NoSeed-v0", NoSeed, None),
    ("dltf_test/Failing-v0", Failing, None),
):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_cls, max_episode_steps=_limit)
