"""The training loop every agent shares: chunks of training, callbacks after each chunk.

Agents follow :class:`agents.agent.Agent`: ``train_chunk(max_episodes, max_steps)`` plays whole
episodes and returns an :class:`~agents.episodes.EpisodeBatch`. A run's budget is episodes, env
steps (SB3's ``total_timesteps``) or both (whichever comes first); the agent hears it first
(``set_budget``), since its decays are fractions of it. Callbacks
(logging, dashboard, checkpoints, evaluation) see the run after every chunk, never inside the
per-step loop, so they cost nothing per env step.

A run's own counters (successes, the last 100 returns, the curves' histories, the last metrics)
travel in the agent's checkpoints (``agent.loop_state``, set by the checkpoint callback), so a
resumed run reports the whole run, not just the part since the resume.

Ctrl-C does not tear the run apart mid-update: the first one asks the loop to stop at the end of
the current chunk (callbacks then save and flush), a second one interrupts at once.
"""

from __future__ import annotations

import collections
import contextlib
import time
from dataclasses import dataclass, field

import numpy as np

from agents.agent import Agent
from agents.episodes import EpisodeBatch
from common.signals import StopRequest

#: Chunks the dashboard's sparklines remember (a checkpoint keeps them too).
HISTORY = 1000


class Callback:
    def on_train_begin(self, run: TrainingRun) -> None: ...
    def on_chunk_end(self, run: TrainingRun, batch: EpisodeBatch) -> None: ...
    def on_train_end(self, run: TrainingRun) -> None: ...


@dataclass
class TrainingRun:
    agent: Agent
    total_episodes: int | None
    callbacks: list[Callback] = field(default_factory=list)
    window: int = 100
    start_episode: int = 0
    start_steps: int = 0
    train_seconds: float = 0.0
    interrupted: bool = False
    stop_requested: bool = False
    stop_signal: int | None = None  # SIGINT or SIGTERM: the command's exit code follows it
    metrics: dict[str, float] = field(default_factory=dict)
    recent_returns: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100))
    recent_lengths: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100))
    # success rate and mean return after each chunk (the dashboard's sparklines)
    success_history: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=HISTORY)
    )
    return_history: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=HISTORY)
    )
    successes: int = 0  # successful training episodes since episode ``counted_from``
    counted_from: int = 0  # 0 unless the run was resumed from a checkpoint without these counters
    callback_state: dict[str, dict] = field(default_factory=dict)  # what callbacks keep (JSON)
    # state_dict() after the last chunk, before the closing callbacks (a final evaluation, the
    # last TensorBoard point) change it: what the closing checkpoint keeps
    final_state: dict | None = None
    total_steps: int | None = None
    end_episodes: int | None = None  # the counters when training stopped (an agent may then
    end_steps: int | None = None  # be handed a kept policy with counters of its own)
    _started: float = 0.0

    def state_dict(self) -> dict:
        """What a checkpoint keeps of the run itself (JSON), with the counters it belongs to."""
        return {
            "episodes": self.episodes,
            "env_steps": self.env_steps,
            "successes": self.successes,
            "counted_from": self.counted_from,
            "recent_returns": list(self.recent_returns),
            "recent_lengths": list(self.recent_lengths),
            "success_history": list(self.success_history),
            "return_history": list(self.return_history),
            "metrics": dict(self.metrics),
            "callbacks": dict(self.callback_state),
        }

    def load_state(self, state: dict) -> bool:
        """Continue from :meth:`state_dict` when it belongs to the agent's counters (a kept
        best policy's does not); False, and nothing changed, otherwise."""
        try:
            if (int(state["episodes"]), int(state["env_steps"])) != (self.episodes, self.env_steps):
                return False
            values = (
                int(state["successes"]),
                int(state["counted_from"]),
                [float(v) for v in state["recent_returns"]],
                [int(v) for v in state["recent_lengths"]],
                [float(v) for v in state["success_history"]],
                [float(v) for v in state["return_history"]],
                {str(k): float(v) for k, v in state["metrics"].items()},
                {str(k): dict(v) for k, v in state.get("callbacks", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        self.successes, self.counted_from = values[0], values[1]
        self.recent_returns.extend(values[2])
        self.recent_lengths.extend(values[3])
        self.success_history.extend(values[4])
        self.return_history.extend(values[5])
        self.metrics.update(values[6])
        self.callback_state.update(values[7])
        return True

    @property
    def progress(self) -> float:
        """How much of the budget is spent, in [0, 1]: the larger of its two parts."""
        parts = []
        if self.total_episodes:
            parts.append(self.episodes / self.total_episodes)
        if self.total_steps:
            parts.append(self.env_steps / self.total_steps)
        return min(1.0, max(parts)) if parts else 0.0

    @property
    def done(self) -> bool:
        return (self.total_episodes is not None and self.episodes >= self.total_episodes) or (
            self.total_steps is not None and self.env_steps >= self.total_steps
        )

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.recent_returns)) if self.recent_returns else 0.0

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
        """Fraction of the run's training episodes that reached the goal."""
        played = self.episodes - self.counted_from
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
    """First Ctrl-C or SIGTERM: finish the chunk, then stop (callbacks save and flush; the
    command exits 130 or 143). A second one interrupts at once: common.signals.StopRequest."""

    def on_request(signum: int) -> None:
        run.stop_requested = True
        run.interrupted = True
        run.stop_signal = signum

    with StopRequest(on_request):
        yield


def train(
    agent: Agent,
    total_episodes: int | None = None,
    callbacks: list[Callback] | None = None,
    max_chunk_episodes: int = 100,
    *,
    total_steps: int | None = None,
    max_chunk_steps: int = 4096,
) -> TrainingRun:
    """Train ``agent`` until it has played ``total_episodes`` episodes or ``total_steps`` env
    steps (counting any before a resume; whichever comes first), or the run is asked to stop.
    Episodes are played whole, so a step budget may be passed by the end of the last one."""
    if total_episodes is None and total_steps is None:
        raise ValueError("give the run a budget: total_episodes, total_steps or both")
    run = TrainingRun(agent, total_episodes, list(callbacks or []), total_steps=total_steps)
    run.start_episode, run.start_steps = agent.episodes, agent.env_steps
    run.counted_from = agent.episodes
    saved = getattr(agent, "loop_state", None)
    if isinstance(saved, dict):
        run.load_state(saved)
    if hasattr(agent, "set_budget"):
        agent.set_budget(total_episodes, total_steps)
    with _graceful_interrupt(run):
        for cb in run.callbacks:
            cb.on_train_begin(run)
        run._started = time.perf_counter()
        while not run.done and not run.stop_requested:
            episodes = max_chunk_episodes
            if total_episodes is not None:
                episodes = min(episodes, total_episodes - agent.episodes)
            steps = max_chunk_steps
            if total_steps is not None:
                steps = min(steps, total_steps - agent.env_steps)
            batch = agent.train_chunk(episodes, steps)
            run.recent_returns.extend(batch.returns.tolist())
            run.recent_lengths.extend(batch.lengths.tolist())
            run.successes += int(batch.successes.sum())
            run.success_history.append(run.success_rate)
            run.return_history.append(run.mean_return)
            run.metrics.update(batch.metrics)
            for cb in run.callbacks:
                cb.on_chunk_end(run, batch)
        run.final_state = run.state_dict()
        run.train_seconds = run.elapsed
        run._started = 0.0
        run.end_episodes, run.end_steps = agent.episodes, agent.env_steps
        for cb in run.callbacks:
            cb.on_train_end(run)
    return run
