"""What the training loop, its callbacks and the command line need from an agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from agents.episodes import EpisodeBatch


class Agent(Protocol):
    kind: str  # "tabular", "classic", "dqn": recorded in checkpoints
    loop_state: dict | None  # the training loop's own counters, saved and restored verbatim

    @property
    def episodes(self) -> int: ...

    @property
    def env_steps(self) -> int: ...

    @property
    def exploration_rate(self) -> float: ...

    @property
    def learning_rate(self) -> float: ...

    def train_chunk(self, max_episodes: int) -> EpisodeBatch:
        """Play up to ``max_episodes`` whole episodes, learning as it goes."""
        ...

    def q_table(self) -> np.ndarray:
        """``(states, actions)`` Q-values of every state: the greedy policy, for evaluation."""
        ...

    def save(self, directory: str | Path) -> Path: ...

    def restore(self, directory: str | Path) -> None: ...

    def write_summaries(self, step: int) -> None:
        """Extra TensorBoard summaries (histograms), inside the caller's writer context."""
        ...

    def trace_graph(self) -> Any | None:
        """The compiled update's ``tf.Graph`` for TensorBoard's Graphs tab, if there is one."""
        ...
