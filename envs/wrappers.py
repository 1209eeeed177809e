"""Observation wrappers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class OneHotObservation(gym.ObservationWrapper):
    """Discrete state ``s`` -> float32 vector with a 1 at ``s``: the input of a Q-network."""

    snapshot_keys = ()  # no state of its own (envs.snapshot)

    snapshot_keys = ()  # no state of its own (envs.snapshot)

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not isinstance(env.observation_space, spaces.Discrete):
            raise TypeError(
                f"OneHotObservation needs a Discrete observation space, got {env.observation_space}"
            )
        n = int(env.observation_space.n)
        self._eye = np.eye(n, dtype=np.float32)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)

    def observation(self, observation):
        return self._eye[int(observation)].copy()
