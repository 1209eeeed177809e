"""The main promises, held in seconds through the command a user types (``agents.run``):

- the default DQN recipe (``--q-net``) on the slippery 4x4 lake, seed 0, run in full, ends at
  >= 0.97 x the optimal success rate, by exact evaluation of its greedy policy (no sampling);
- the classic recipe (``--q-net classic``) gets there too: its first 1,500 episodes (the
  recipe's own schedules, which count episodes from the start, so a prefix of the 6,000-episode
  run) already reach it; the whole run takes ~40 s on 2 cores;
- on the slippery 8x8 lake the tabular recipe's first 12,000 episodes reach >= 0.9 x optimum.

All seeds and full lengths of every README recipe are the ``recipes`` marker's job
(tests/test_recipes.py); these are the fast guards that run with every test run.
"""

from __future__ import annotations

import json

import pytest

from agents.run import main
from common.errors import run_main

OPTIMUM_4X4 = 0.7442  # the slippery 4x4 lake's optimal success rate (value iteration)


def run(tmp_path, capsys, *argv: str) -> dict:
    summary = tmp_path / "summary.json"
    flags = ["--eval-episodes", "0", "--no-dashboard", "--logdir", str(tmp_path / "run")]
    code = run_main(main, [*argv, *flags, "--summary-json", str(summary)])
    err = capsys.readouterr().err
    assert code == 0, err
    return json.loads(summary.read_text())


def test_default_dqn_recipe_reaches_the_optimum_on_the_slippery_4x4_lake(tmp_path, capsys):
    s = run(tmp_path, capsys, "frozenlake", "--q-net", "--seed", "0")
    assert s["agent"] == "dqn" and s["slippery"] is True and s["seed"] == 0
    assert s["episodes"] == s["config"]["episodes"]  # the whole default run
    assert s["optimal_success_rate"] == pytest.approx(OPTIMUM_4X4, abs=1e-4)
    assert s["optimality_ratio"] >= 0.97, s["optimality_ratio"]
    assert s["exact_success_rate"] == pytest.approx(s["optimality_ratio"] * OPTIMUM_4X4, 1e-3)


def test_classic_recipe_reaches_the_optimum_on_the_slippery_4x4_lake(tmp_path, capsys):
    s = run(
        tmp_path, capsys, "frozenlake", "--q-net", "classic", "--seed", "0", "--episodes", "1500"
    )
    assert s["agent"] == "classic" and s["episodes"] == 1500
    assert s["config"]["lr"] == 0.1 and s["config"]["gamma"] == 0.99  # the 2017 recipe's
    assert s["optimality_ratio"] >= 0.97, s["optimality_ratio"]


def test_tabular_learns_the_slippery_8x8_lake(tmp_path, capsys):
    s = run(tmp_path, capsys, "frozenlake", "--map", "8x8", "--seed", "0", "--episodes", "12000")
    assert s["agent"] == "tabular" and s["slippery"] is True
    assert s["optimal_success_rate"] > 0.9  # 8x8's optimum, far from any random policy
    assert s["optimality_ratio"] >= 0.9, s["optimality_ratio"]
