"""What an agent hands back to the training loop after a chunk of training."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EpisodeBatch:
    """Episodes finished in one chunk, the env steps it took, and any per-chunk metrics
    (TensorBoard tag -> value, e.g. ``losses/td_loss``)."""

    returns: np.ndarray
    lengths: np.ndarray
    env_steps: int
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_lists(cls, returns, lengths, env_steps: int, metrics: dict[str, float] | None = None):
        return cls(
            np.asarray(returns, dtype=np.float64),
            np.asarray(lengths, dtype=np.int64),
            int(env_steps),
            dict(metrics or {}),
        )

    @property
    def successes(self) -> np.ndarray:
        """FrozenLake pays 1 only on the goal, so a positive return is a success."""
        return self.returns > 0
