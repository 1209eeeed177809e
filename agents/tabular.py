"""Tabular Q-learning in numpy, read top to bottom.

    Q(s, a) += lr * (r + gamma * max_a' Q(s', a') * (1 - terminated) - Q(s, a))

A terminated transition (hole, goal) does not bootstrap; a truncated one (step limit) does, since
the state it stops in still has a future. Exploration is epsilon-greedy with random tie-breaking,
or the 2017 recipe's noisy argmax (Gaussian noise on Q scaled by 1 / (episode + 1)).

The inner loop runs on Python lists: on a 16-state table, list indexing is several times cheaper
than numpy scalar indexing, and that is what makes training run near the raw environment speed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from agents.checkpoint import TABULAR_FILE, CheckpointError, env_identity, load_npz, save_npz
from agents.config import TabularConfig
from agents.episodes import EpisodeBatch
from agents.rng import restore_rng, rng_state_json
from agents.schedules import decay_length, make_schedule
from common.safe_npz import ArraySpec

EXPLORATIONS = ("epsilon", "noisy")


class TabularQAgent:
    kind = "tabular"

    def __init__(self, env, config: TabularConfig, seed: int) -> None:
        self.env = env
        self.config = config
        self.n_states = int(env.observation_space.n)
        self.n_actions = int(env.action_space.n)
        self.q = np.zeros((self.n_states, self.n_actions))
        self.rng = np.random.default_rng(seed)
        self.set_budget(None, None)
        self.episodes = 0
        self.loop_state: dict | None = None  # the training loop's counters, kept in checkpoints
        self.env_steps = 0
        self._seed = seed
        self._env_seeded = False

    def set_budget(self, episodes: int | None, steps: int | None) -> None:
        """Size the decays to the run: fractions of its episodes, or of its env steps when only
        steps bound it (the schedules then read the env-step clock)."""
        cfg = self.config
        self._step_clock = episodes is None and steps is not None
        budget = steps if self._step_clock else episodes
        self.epsilon = make_schedule(
            cfg.epsilon_schedule,
            cfg.epsilon_start,
            cfg.epsilon_end,
            decay_length(cfg.epsilon_decay, cfg.epsilon_fraction, budget),
        )
        self.lr = make_schedule(
            cfg.lr_schedule, cfg.lr, cfg.lr_end, decay_length(cfg.lr_decay, cfg.lr_fraction, budget)
        )

    @property
    def _clock(self) -> int:
        return self.env_steps if self._step_clock else self.episodes

    # -- training -------------------------------------------------------------------------------
    def train_chunk(self, max_episodes: int, max_steps: int = 4096) -> EpisodeBatch:
        """Play whole episodes, learning at every step, until ``max_episodes`` are done or about
        ``max_steps`` steps have passed. Chunking only batches bookkeeping: the random stream and
        the result are the same whatever the chunk sizes."""
        env, rng, cfg = self.env, self.rng, self.config
        q = self.q.tolist()
        n_actions = self.n_actions
        gamma = cfg.gamma
        noisy = cfg.exploration == "noisy"
        random = rng.random
        returns, lengths = [], []
        td_abs_sum = 0.0
        steps_before = self.env_steps
        while len(returns) < max_episodes and self.env_steps - steps_before < max_steps:
            episode = self.episodes
            eps = self.epsilon(self._clock)
            lr = self.lr(self._clock)
            noise_scale = 1.0 / (episode + 1)
            if self._env_seeded:
                state, _ = env.reset()
            else:
                state, _ = env.reset(seed=self._seed)
                self._env_seeded = True
            total, length = 0.0, 0
            while True:
                row = q[state]
                if noisy:
                    noise = rng.standard_normal(n_actions) * noise_scale
                    action = int(np.argmax(np.asarray(row) + noise))
                elif random() < eps:
                    action = int(random() * n_actions)
                else:
                    best = max(row)
                    action = row.index(best)
                    if row.count(best) > 1:
                        ties = [a for a in range(n_actions) if row[a] == best]
                        action = ties[int(random() * len(ties))]
                next_state, reward, terminated, truncated, _ = env.step(action)
                target = reward if terminated else reward + gamma * max(q[next_state])
                td = target - row[action]
                row[action] += lr * td
                td_abs_sum += abs(td)
                total += reward
                length += 1
                state = next_state
                if terminated or truncated:
                    break
            self.env_steps += length
            self.episodes += 1
            returns.append(total)
            lengths.append(length)
        self.q = np.asarray(q)
        steps = self.env_steps - steps_before
        return EpisodeBatch.from_lists(
            returns, lengths, steps, {"losses/td_abs": td_abs_sum / max(steps, 1)}
        )

    # -- what the loop, the dashboard and evaluation read ----------------------------------------
    @property
    def exploration_rate(self) -> float:
        if self.config.exploration == "noisy":
            return 1.0 / (self.episodes + 1)
        return self.epsilon(self._clock)

    @property
    def learning_rate(self) -> float:
        return self.lr(self._clock)

    def q_table(self) -> np.ndarray:
        return self.q

    def write_summaries(self, step: int) -> None:
        """A Q-table has no weights to histogram: its curves are all in the scalars."""

    def trace_graph(self) -> None:
        return None

    def greedy_action(self, observation) -> int:
        return int(np.argmax(self.q[int(observation)]))

    def q_values(self, observations) -> np.ndarray:
        return self.q[np.asarray(observations, dtype=np.int64)]

    # -- checkpoints ------------------------------------------------------------------------------
    def save(self, directory: str | Path, best: bool = False) -> Path:
        return save_npz(
            Path(directory) / TABULAR_FILE,
            self.state_arrays(),
            env_identity=env_identity(self.env),
            agent_kind=self.kind,
        )

    def restore(self, directory: str | Path) -> None:
        path = Path(directory) / TABULAR_FILE
        specs = {
            "q": ArraySpec("f", self.q.shape),  # finite: a NaN Q-table is refused
            "episodes": ArraySpec("iu", (), min=0),  # negative counts divide by zero later
            "env_steps": ArraySpec("iu", (), min=0),
            "agent_rng": ArraySpec("U", ()),
            "env_rng": ArraySpec("U", ()),
            "env_seeded": ArraySpec("b", ()),
        }
        arrays = load_npz(
            path, env_identity=env_identity(self.env), agent_kind=self.kind, specs=specs
        )
        try:
            self.load_state_arrays(arrays)
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"checkpoint {path} is damaged or mismatched: {exc}") from None

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {
            "q": self.q,
            "episodes": np.int64(self.episodes),
            "env_steps": np.int64(self.env_steps),
            "agent_rng": np.str_(rng_state_json(self.rng)),
            "env_rng": np.str_(rng_state_json(self.env.unwrapped.np_random)),
            "env_seeded": np.bool_(self._env_seeded),
            "loop_state": np.str_(json.dumps(self.loop_state)),
        }

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        q = arrays["q"]
        if q.shape != self.q.shape:
            raise ValueError(
                f"Q-table shape {q.shape} does not match this environment's {self.q.shape}"
            )
        self.q = q.astype(np.float64)
        self.episodes = int(arrays["episodes"])
        self.env_steps = int(arrays["env_steps"])
        restore_rng(self.rng, str(arrays["agent_rng"]))
        self._env_seeded = bool(arrays["env_seeded"])
        if "loop_state" in arrays:  # absent in checkpoints older than it
            try:
                self.loop_state = json.loads(str(arrays["loop_state"]))
            except ValueError:
                self.loop_state = None  # the counters of this process only, as before
        if self._env_seeded:
            # Gymnasium creates np_random lazily: make sure it exists, then put the state back.
            self.env.reset(seed=self._seed)
            restore_rng(self.env.unwrapped.np_random, str(arrays["env_rng"]))
