"""Batched FrozenLake: many lakes stepped by a few numpy array operations.

A Gymnasium ``VectorEnv`` with same-step autoreset (``infos["final_obs"]`` holds the observation an
episode ended on, the returned observation is already the next episode's first). The dynamics and
step limit are :class:`envs.frozenlake.FrozenLakeEnv`'s, read from the same transition table, but
one step of N lakes costs about as much as one step of one lake in Python, which is what lets a
neural agent act for many environments per network call.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs.frozenlake import FrozenLakeEnv


class FrozenLakeVectorEnv(gym.vector.VectorEnv):
    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}
    snapshot_keys = ("_states", "_steps")  # envs.snapshot: the episodes in flight

    def __init__(self, num_envs: int, **options) -> None:
        self.single = FrozenLakeEnv(**options)
        self.num_envs = int(num_envs)
        self.single_observation_space = self.single.observation_space
        self.single_action_space = self.single.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        table = self.single.table
        n_outcomes = 3 if self.single.slippery else 1
        self._next = table.next_states[:, :, :n_outcomes]
        self._n_outcomes = n_outcomes
        self._goal = table.goal.astype(np.float64)
        self._terminal = table.terminal
        self._states = np.full(self.num_envs, self.single.start_state, dtype=np.int64)
        self._steps = np.zeros(self.num_envs, dtype=np.int64)
        self.max_episode_steps = self.single.max_episode_steps

    @property
    def identity(self) -> str:
        return self.single.identity

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)
        self._states[:] = self.single.start_state
        self._steps[:] = 0
        return self._states.copy(), {}

    def step(self, actions):
        actions = np.asarray(actions, dtype=np.int64)
        if self._n_outcomes == 1:
            outcome = np.zeros(self.num_envs, dtype=np.int64)
        else:
            outcome = (self.np_random.random(self.num_envs) * self._n_outcomes).astype(np.int64)
        states = self._next[self._states, actions, outcome]
        self._steps += 1
        rewards = self._goal[states]
        terminated = self._terminal[states]
        truncated = ~terminated & (self._steps >= self.max_episode_steps)
        done = terminated | truncated
        infos: dict = {}
        if done.any():
            infos["final_obs"] = states.copy()
            infos["_final_obs"] = done
            states = np.where(done, self.single.start_state, states)
            self._steps[done] = 0
        self._states = states
        return states.copy(), rewards, terminated, truncated, infos
