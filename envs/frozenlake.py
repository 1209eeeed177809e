"""FrozenLake as a lean Gymnasium environment with its transition table in numpy.

The dynamics are Gymnasium's FrozenLake-v1 (actions LEFT, DOWN, RIGHT, UP; on ice the move goes
the intended way or either perpendicular way with probability 1/3 each; reward 1 on the goal; a
hole or the goal ends the episode), but the step limit is built in (truncation, not a wrapper) and
a step is a table look-up, so agents train at close to raw Python speed. The same table feeds the
exact planner (:mod:`envs.planner`).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.maps import default_step_limit, map_to_spec, parse_map

LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3
ACTION_ARROWS = ("←", "↓", "→", "↑")
_MOVES = {LEFT: (0, -1), DOWN: (1, 0), RIGHT: (0, 1), UP: (-1, 0)}


@dataclass(frozen=True)
class TransitionTable:
    """Dynamics as arrays: outcome ``k`` of action ``a`` in state ``s`` leads to
    ``next_states[s, a, k]`` with probability ``probs[s, a, k]``. ``goal`` and ``terminal`` flag
    states; entering a goal pays 1, entering any terminal state ends the episode."""

    next_states: np.ndarray  # int64 (S, A, K)
    probs: np.ndarray  # float64 (S, A, K)
    goal: np.ndarray  # bool (S,)
    terminal: np.ndarray  # bool (S,)

    @property
    def n_states(self) -> int:
        return self.next_states.shape[0]

    @property
    def n_actions(self) -> int:
        return self.next_states.shape[1]

    def dense(self) -> np.ndarray:
        """``P[s, a, s']``, outcomes that land on the same cell summed."""
        n_s, n_a, n_k = self.next_states.shape
        dense = np.zeros((n_s, n_a, n_s))
        s_idx, a_idx, _ = np.indices((n_s, n_a, n_k))
        np.add.at(dense, (s_idx, a_idx, self.next_states), self.probs)
        return dense


def build_table(rows: tuple[str, ...], slippery: bool) -> TransitionTable:
    n_rows, n_cols = len(rows), len(rows[0])
    n_states = n_rows * n_cols
    tiles = "".join(rows)
    goal = np.array([t == "G" for t in tiles])
    terminal = np.array([t in "GH" for t in tiles])
    next_states = np.zeros((n_states, 4, 3), dtype=np.int64)
    probs = np.zeros((n_states, 4, 3))
    for s in range(n_states):
        r, c = divmod(s, n_cols)
        for a in range(4):
            if terminal[s]:
                next_states[s, a, :] = s
                probs[s, a, 0] = 1.0
                continue
            moves = [(a - 1) % 4, a, (a + 1) % 4] if slippery else [a]
            for k, move in enumerate(moves):
                dr, dc = _MOVES[move]
                nr = min(max(r + dr, 0), n_rows - 1)
                nc = min(max(c + dc, 0), n_cols - 1)
                next_states[s, a, k] = nr * n_cols + nc
                probs[s, a, k] = 1.0 / len(moves)
    return TransitionTable(next_states, probs, goal, terminal)


class FrozenLakeEnv(gym.Env):
    """Cross a frozen lake from S to G without falling into a hole H.

    Args:
        map: ``"4x4"``, ``"8x8"``, ``"random:N"`` or rows separated by commas.
        slippery: whether moves slip sideways (probability 2/3 in all).
        max_episode_steps: truncation limit; Gymnasium's defaults (100 for 4x4, 200 for 8x8).
        map_seed: seed for ``random:N`` maps (independent of the episode seed).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}
    snapshot_keys = ("_state", "_steps", "_last_action")  # envs.snapshot: an episode in flight

    def __init__(
        self,
        map: str | tuple[str, ...] = "4x4",  # noqa: A002 - the user-facing option is called map
        slippery: bool = True,
        max_episode_steps: int | None = None,
        map_seed: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.rows = parse_map(map, seed=map_seed)
        self.slippery = bool(slippery)
        self.max_episode_steps = (
            default_step_limit(self.rows) if max_episode_steps is None else int(max_episode_steps)
        )
        if self.max_episode_steps <= 0:
            from common.errors import UsageError

            raise UsageError(f"max_episode_steps must be positive, got {self.max_episode_steps}")
        self.n_rows, self.n_cols = len(self.rows), len(self.rows[0])
        self.table = build_table(self.rows, self.slippery)
        self.start_state = "".join(self.rows).index("S")
        self.observation_space = spaces.Discrete(self.table.n_states)
        self.action_space = spaces.Discrete(4)
        self.render_mode = render_mode
        # Python lists make the per-step look-up several times cheaper than numpy indexing.
        n_outcomes = 3 if self.slippery else 1
        self._next = self.table.next_states[:, :, :n_outcomes].tolist()
        self._goal = self.table.goal.tolist()
        self._terminal = self.table.terminal.tolist()
        self._state = self.start_state
        self._steps = 0
        self._last_action: int | None = None

    @property
    def identity(self) -> str:
        """What a checkpoint must match: map, slipperiness and step limit."""
        spec = map_to_spec(self.rows)
        return f"frozenlake|{spec}|slippery={self.slippery}|steps={self.max_episode_steps}"

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._state = self.start_state
        self._steps = 0
        self._last_action = None
        return self._state, {}

    def step(self, action):
        outcomes = self._next[self._state][action]
        state = outcomes[int(self.np_random.random() * 3.0)] if self.slippery else outcomes[0]
        self._state = state
        self._steps += 1
        self._last_action = action
        terminated = self._terminal[state]
        truncated = not terminated and self._steps >= self.max_episode_steps
        return state, (1.0 if self._goal[state] else 0.0), terminated, truncated, {}

    @property
    def state(self) -> int:
        return self._state

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        r, c = divmod(self._state, self.n_cols)
        lines = []
        if self._last_action is not None:
            lines.append(f"  ({('Left', 'Down', 'Right', 'Up')[self._last_action]})")
        for i, row in enumerate(self.rows):
            lines.append(
                "".join(f"[{t}]" if (i, j) == (r, c) else f" {t} " for j, t in enumerate(row))
            )
        return "\n".join(lines) + "\n"
