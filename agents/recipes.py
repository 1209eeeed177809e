"""Recipes as data: what each agent changes from its config's defaults, per environment.

Like the RL Zoo's hyperparameter files, a recipe is chosen by env id and every value in it can be
overridden by a flag or a TOML key. Keys are option names (``episodes`` and ``steps`` are the
budget, ``eval_episodes`` the final evaluation; the rest are the agent's options). An env without a
recipe for the chosen agent gets :func:`generic_recipe`, sized from its spaces and step limit.

Sources: the lake recipes are this project's own (tuned on the 4x4 and 8x8 maps; the README's
figures). CartPole-v1 and LunarLander-v3 adapt the RL Zoo's ``hyperparams/dqn.yml`` (CartPole-v1,
LunarLander-v2); the changes are noted next to them. Taxi and CliffWalking are tabular Q-learning
as in Sutton and Barto (sections 6.5 and 6.6: epsilon-greedy, constant step size), with the step
size raised to 1 because both are deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: The project's lakes, per agent and lake size (small: 16 cells or fewer). Decays are fractions
#: of the run; at these episode counts they reproduce the absolute decays the README's figures
#: were measured with (tabular 8,000 / 40,000 episodes; DQN 20,000 / 60,000 env steps on 4x4,
#: 200,000 / 600,000 on 8x8, the episode budget turned into env steps at ``episode_length``).
LAKE_RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "tabular": {
        "small": {"episodes": 10_000},
        "large": {"episodes": 50_000, "gamma": 0.999},
    },
    "classic": {"small": {"episodes": 6_000}, "large": {"episodes": 6_000}},
    "dqn": {
        "small": {"episodes": 3_000, "episode_length": 20},
        "large": {
            "episodes": 12_000,
            "episode_length": 100,
            "lr_fraction": 0.5,
            "epsilon_fraction": 1 / 6,
            "gamma": 0.999,
        },
    },
}

#: Gymnasium ids. FrozenLake-v1 takes the lake recipes (by its ``map_name`` option).
GYM_RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    # RL Zoo dqn.yml CartPole-v1: lr 2.3e-3, batch 64, buffer 100k, learning_starts 1000,
    # gamma 0.99, exploration_fraction 0.16, final eps 0.04, 5e4 steps, net 256x256 with 128
    # gradient steps per 256 env steps. Here: a 64x64 net and one update per 4 env steps over 16
    # envs (CPU throughput), Polyak targets instead of copies every 10 steps, and 3-step returns:
    # with 1-step returns seeds 1 and 3 of 0-4 had not reached 475 by 5e4 steps (best 192 and
    # 110) and seed 2 lost it at 1e5; with 3-step returns all five end at 500 over 100 episodes.
    "CartPole-v1": {
        "dqn": {
            "steps": 50_000,
            "n_step": 3,
            "hidden": (64, 64),
            "lr": 2.3e-3,
            "lr_end": 2.3e-3,
            "batch_size": 64,
            "buffer_size": 50_000,
            "learning_starts": 1_000,
            "train_every": 4,
            "tau": 0.02,
            "num_envs": 16,
            "epsilon_fraction": 0.16,
            "epsilon_end": 0.04,
        }
    },
    # RL Zoo dqn.yml LunarLander-v2: lr 6.3e-4, batch 128, buffer 50k, learning_starts 0,
    # target update every 250 steps, train_freq 4, exploration_fraction 0.12, final eps 0.1,
    # net 256x256, 1e5 steps. Here 2e5 steps (v3) and learning from 1000 steps.
    "LunarLander-v3": {
        "dqn": {
            "steps": 200_000,
            "hidden": (256, 256),
            "lr": 6.3e-4,
            "lr_end": 6.3e-4,
            "batch_size": 128,
            "buffer_size": 50_000,
            "learning_starts": 1_000,
            "train_every": 4,
            "target_update": 250,
            "num_envs": 4,
            "epsilon_fraction": 0.12,
            "epsilon_end": 0.1,
        }
    },
    # Both are deterministic, so a step size of 1 is exact; exploration never stops (epsilon
    # 0.2 and 0.1 at the end) because Q starts at 0, above the values of most of Taxi's states:
    # with less, an action never tried keeps a greedy policy off the optimum on 1-2 of its 300
    # starts (measured on seeds 0-4: epsilon_end 0.01 leaves 4 of 5 short, 0.1 one of 5).
    "Taxi-v4": {
        "tabular": {
            "steps": 400_000,
            "lr": 1.0,
            "lr_end": 1.0,
            "epsilon_end": 0.2,
            "epsilon_fraction": 0.5,
        },
    },
    "CliffWalking-v1": {
        "tabular": {
            "steps": 50_000,
            "lr": 1.0,
            "lr_end": 1.0,
            "epsilon_end": 0.1,
            "epsilon_fraction": 0.5,
        },
    },
}


@dataclass(frozen=True)
class EnvFacts:
    """What a generic recipe is sized from: the spaces and the step limit."""

    n_states: int | None  # Discrete observations; None for Box
    n_actions: int
    obs_dim: int
    step_limit: int | None
    lake_rows: tuple[str, ...] | None = None  # FrozenLake maps take the lakes' recipes


def lake_size(rows: tuple[str, ...]) -> str:
    return "small" if len(rows) * len(rows[0]) <= 16 else "large"


def generic_recipe(agent: str, facts: EnvFacts | None) -> dict[str, Any]:
    """A default for an env without a recipe: a step budget that grows with the table (tabular)
    or the input and action sizes (DQN), and decays as fractions of it."""
    if facts is None:
        return {"steps": 100_000}
    if agent == "classic":  # the lakes only (refused elsewhere): a budget is all it needs
        return {"episodes": 6_000}
    if agent == "tabular":
        pairs = (facts.n_states or 1) * facts.n_actions
        steps = int(min(max(100 * pairs, 50_000), 2_000_000))
        return {"steps": steps, "lr": 0.5, "lr_end": 0.05, "epsilon_fraction": 0.5}
    size = max(facts.obs_dim, facts.n_actions)
    width = 64 if size <= 64 else 256
    steps = int(min(max(10_000 * math.ceil(math.sqrt(size)), 50_000), 1_000_000))
    return {
        "steps": steps,
        "hidden": (width, width),
        "lr": 1e-3,
        "lr_end": 1e-4,
        "train_every": 4,
        "num_envs": 8,
        "epsilon_fraction": 0.2,
        "epsilon_end": 0.05,
    }


def gym_recipe(env_id: str, agent: str, facts: EnvFacts | None, rows=None) -> dict[str, Any]:
    """The recipe for a Gymnasium id: its entry here, the lakes' for FrozenLake maps (``rows``),
    else the generic one."""
    if rows is not None:
        return dict(LAKE_RECIPES[agent][lake_size(rows)])
    own = GYM_RECIPES.get(env_id, {}).get(agent)
    return dict(own) if own is not None else generic_recipe(agent, facts)
