"""Grid envs as a dashboard draws them: tile rows, and which arrow each action index means.

State ``s`` of every grid env here is the cell ``divmod(s, n_cols)``. The action numbering is the
env's own: the lakes (the project's and Gymnasium's FrozenLake) number LEFT, DOWN, RIGHT, UP;
Gymnasium's CliffWalking numbers UP, RIGHT, DOWN, LEFT, so its arrows differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from envs.frozenlake import ACTION_ARROWS, FrozenLakeEnv

#: CliffWalking's actions 0..3 are UP, RIGHT, DOWN, LEFT.
CLIFF_ARROWS = ("↑", "→", "↓", "←")


@dataclass(frozen=True)
class GridView:
    """``rows``: tiles ``S`` start, ``F`` open, ``H`` hole, ``G`` goal, ``C`` cliff (an open cell
    that costs -100 and sends the agent back to S); ``arrows[a]``: the arrow of action ``a``."""

    rows: tuple[str, ...]
    arrows: tuple[str, ...]

    @property
    def n_cols(self) -> int:
        return len(self.rows[0])

    def cell(self, state: int) -> tuple[int, int]:
        """(row, column) of ``state``."""
        return divmod(int(state), self.n_cols)


def grid_view(env) -> GridView | None:
    """The grid of the project's lakes, Gymnasium's FrozenLake and CliffWalking (a single env,
    wrapped or not); None for anything else (Taxi's states are not cells)."""
    from gymnasium.envs.toy_text import cliffwalking, frozen_lake

    base = env.unwrapped if isinstance(env, gym.Env) else None
    if isinstance(base, FrozenLakeEnv):
        return GridView(tuple(base.rows), ACTION_ARROWS)
    if isinstance(base, frozen_lake.FrozenLakeEnv):
        rows = tuple(b"".join(row).decode("ascii") for row in np.asarray(base.desc))
        return GridView(rows, ACTION_ARROWS)
    if isinstance(base, cliffwalking.CliffWalkingEnv):
        n_rows, n_cols = base.shape
        cliff = np.asarray(base._cliff, dtype=bool)
        tiles = [["C" if cliff[r, c] else "F" for c in range(n_cols)] for r in range(n_rows)]
        start = divmod(int(base.start_state_index), n_cols)
        tiles[start[0]][start[1]] = "S"
        tiles[n_rows - 1][n_cols - 1] = "G"  # the goal: bottom right (terminal_state in Gymnasium)
        return GridView(tuple("".join(row) for row in tiles), CLIFF_ARROWS)
    return None
