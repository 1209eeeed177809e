"""Grid views: the rows of each grid env, and arrows that point where the action moves."""

from __future__ import annotations

import pytest

import envs
from envs.grids import grid_view
from envs.maps import NAMED_MAPS
from envs.tabular_model import exact_model

MOVES = {"←": (0, -1), "↓": (1, 0), "→": (0, 1), "↑": (-1, 0)}


def test_rows():
    assert grid_view(envs.make("frozenlake", map="8x8")).rows == NAMED_MAPS["8x8"]
    gym_lake = envs.make_env("FrozenLake-v1", {"map_name": "8x8"})
    assert grid_view(gym_lake).rows == NAMED_MAPS["8x8"]
    cliff = grid_view(envs.make_env("CliffWalking-v1"))
    assert cliff.rows == ("F" * 12, "F" * 12, "F" * 12, "S" + "C" * 10 + "G")
    assert grid_view(envs.make_env("Taxi-v4")) is None
    assert grid_view(envs.make_env("CartPole-v1")) is None


@pytest.mark.parametrize(
    "env",
    [
        lambda: envs.make("frozenlake", map="8x8", slippery=False),
        lambda: envs.make_env("FrozenLake-v1", {"map_name": "8x8", "is_slippery": False}),
        lambda: envs.make_env("CliffWalking-v1"),
    ],
)
def test_arrows_point_where_the_action_goes(env):
    env = env()
    view, model = grid_view(env), exact_model(env)
    r, c = 1, 1  # an open cell with room on every side (all three grids)
    state = r * view.n_cols + c
    for action, arrow in enumerate(view.arrows):
        dr, dc = MOVES[arrow]
        assert view.cell(model.next_states[state, action, 0]) == (r + dr, c + dc)
