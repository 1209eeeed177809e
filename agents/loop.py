"""The training loop every agent shares: chunks of training, callbacks after each chunk.

Agents follow :class:`agents.agent.Agent`: ``train_chunk(max_episodes)`` plays whole episodes
and returns an :class:`~agents.episodes.EpisodeBatch`. Callbacks
(logging, dashboard, checkpoints, evaluation) see the run after every chunk, never inside the
per-step loop, so they cost nothing per env step.

Ctrl-C does not tear the run apart mid-update: the first one asks the loop to stop at the end of
the current chunk (callbacks then save and flush), a second one interrupts at once.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from agents.agent import Agent
from agents.episodes import EpisodeBatch


class Callback:
    def on_train_begin(self, run: TrainingRun) -> None: ...
    def on_chunk_end(self, run: TrainingRun, batch: EpisodeBatch) -> None: ...
    def on_train_end(self, run: TrainingRun) -> None: ...


@dataclass
class TrainingRun:
    agent: Agent
    total_episodes: int
    callbacks: list[Callback] = field(default_factory=list)
    window: int = 100
    start_episode: int = 0
    start_steps: int = 0
    train_seconds: float = 0.0
    interrupted: bool = False
    stop_requested: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    recent_returns: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100))
    recent_lengths: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100))
    success_history: list[float] = field(default_factory=list)  # success rate after each chunk
    successes: int = 0  # successful training episodes in this process
    _started: float = 0.0

    @property
    def episodes(self) -> int:
        return self.agent.episodes

    @property
    def env_steps(self) -> int:
        return self.agent.env_steps

    @property
    def success_rate(self) -> float:
        return float(np.mean(np.asarray(self.recent_returns) > 0)) if self.recent_returns else 0.0

    @property
    def success_fraction(self) -> float:
        """Fraction of training episodes (in this process) that reached the goal."""
        played = self.episodes - self.start_episode
        return self.successes / played if played else 0.0

    @property
    def elapsed(self) -> float:
        return self.train_seconds + (time.perf_counter() - self._started if self._started else 0.0)

    @property
    def steps_per_second(self) -> float:
        steps = self.env_steps - self.start_steps
        return steps / self.elapsed if self.elapsed > 0 else 0.0


@contextlib.contextmanager
def _graceful_interrupt(run: TrainingRun):
    """First Ctrl-C: finish the chunk, then stop. Second: raise KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if run.stop_requested:
            raise KeyboardInterrupt
        run.stop_requested = True
        run.interrupted = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def train(
    agent: Agent,
    total_episodes: int,
    callbacks: list[Callback] | None = None,
    max_chunk_episodes: int = 100,
) -> TrainingRun:
    """Train ``agent`` until it has played ``total_episodes`` episodes (counting any it played
    before a resume) or the run is asked to stop."""
    run = TrainingRun(agent, total_episodes, list(callbacks or []))
    run.start_episode, run.start_steps = agent.episodes, agent.env_steps
    with _graceful_interrupt(run):
        for cb in run.callbacks:
            cb.on_train_begin(run)
        run._started = time.perf_counter()
        while agent.episodes < total_episodes and not run.stop_requested:
            batch = agent.train_chunk(min(max_chunk_episodes, total_episodes - agent.episodes))
            run.recent_returns.extend(batch.returns.tolist())
            run.recent_lengths.extend(batch.lengths.tolist())
            run.successes += int(batch.successes.sum())
            run.success_history.append(run.success_rate)
            run.metrics.update(batch.metrics)
            for cb in run.callbacks:
                cb.on_chunk_end(run, batch)
        run.train_seconds = run.elapsed
        run._started = 0.0
        for cb in run.callbacks:
            cb.on_train_end(run)
    return run
