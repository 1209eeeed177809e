"""A preallocated numpy ring buffer of transitions with uniform sampling.

Transitions are stored with their bootstrap discount already applied: ``discount`` is
``gamma ** k`` for a k-step return that may go on, and 0 for one that ended in a terminal state,
so 1-step, n-step and terminated/truncated transitions share one target:
``reward + discount * Q_target(next_obs)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.checkpoint import CheckpointError
from common.atomic import atomic_path
from common.memory import require_memory
from common.safe_npz import ArraySpec, read_npz


class ReplayBuffer:
    FIELDS = ("obs", "actions", "rewards", "next_obs", "discounts")

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], obs_dtype=np.float32) -> None:
        obs_bytes = int(np.prod(obs_shape)) * np.dtype(obs_dtype).itemsize
        require_memory(  # numpy's zeros are lazy: without this the OOM killer comes later
            int(capacity) * (2 * obs_bytes + 12),
            f"a replay buffer of --buffer-size {int(capacity):,} ({obs_bytes:,} bytes per "
            "observation)",
            "lower --buffer-size",
        )
        self.capacity = int(capacity)
        self.obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros((capacity, *obs_shape), dtype=obs_dtype)
        self.actions = np.zeros(capacity, dtype=np.int32)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.discounts = np.zeros(capacity, dtype=np.float32)
        self.position = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add_batch(self, obs, actions, rewards, next_obs, discounts) -> None:
        n = len(actions)
        idx = (self.position + np.arange(n)) % self.capacity
        self.obs[idx] = obs
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.next_obs[idx] = next_obs
        self.discounts[idx] = discounts
        self.position = int((self.position + n) % self.capacity)
        self.size = int(min(self.size + n, self.capacity))

    def sample(self, rng: np.random.Generator, batch_size: int, batches: int = 1):
        """``batches`` minibatches at once, shaped ``(batches, batch_size, ...)``."""
        idx = rng.integers(0, self.size, size=(batches, batch_size))
        return (
            self.obs[idx],
            self.actions[idx],
            self.rewards[idx],
            self.next_obs[idx],
            self.discounts[idx],
        )

    def save(self, path: Path) -> None:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(
                tmp,
                position=self.position,
                size=self.size,
                **{f: getattr(self, f)[: self.size] for f in self.FIELDS},
            )

    def load(self, path: Path) -> None:
        """Read a buffer saved by :meth:`save`; damaged, crafted or foreign files are one
        :class:`CheckpointError` line (shapes are checked before anything is read)."""
        obs = ArraySpec(self.obs.dtype.kind, (None, *self.obs.shape[1:]))
        specs = {
            "position": ArraySpec("iu", ()),
            "size": ArraySpec("iu", (), min=0, max=self.capacity),
            "obs": obs,
            "next_obs": obs,
            "actions": ArraySpec("iu", (None,), min=0),
            "rewards": ArraySpec("f", (None,)),
            "discounts": ArraySpec("f", (None,), min=0, max=1),
        }
        data = read_npz(path, specs, error=CheckpointError, what="replay buffer")
        size = int(data["size"])
        lengths = {len(data[f]) for f in self.FIELDS}
        if lengths != {size}:
            raise CheckpointError(
                f"replay buffer {path} is damaged: its arrays hold {sorted(lengths)} transitions, "
                f"its size says {size}"
            )
        for f in self.FIELDS:
            getattr(self, f)[:size] = data[f]
        self.size, self.position = size, int(data["position"]) % self.capacity
