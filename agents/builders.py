"""Environments and agents built from a :class:`~agents.config.RunConfig`.

The agent modules are imported only when chosen: tabular Q-learning never loads TensorFlow.
"""

from __future__ import annotations

from typing import Any

import gymnasium

import envs
from agents.agent import Agent
from agents.config import RunConfig
from common.errors import UsageError


def env_options(cfg: RunConfig) -> dict[str, Any]:
    options: dict[str, Any] = {
        "map": cfg.map,
        "slippery": cfg.slippery,
        "max_episode_steps": cfg.max_episode_steps,
        "map_seed": cfg.seed if cfg.map_seed is None else cfg.map_seed,
    }
    if cfg.env == "frozenlake-digits":  # envs/ reads no dataset files: the digits come from here
        from networks.datasets import mnist_digits

        options["digits"] = mnist_digits("test", cfg.data_dir)
    return options


def make_env(cfg: RunConfig) -> gymnasium.Env:
    return envs.make(cfg.env, **env_options(cfg))


def make_agent(cfg: RunConfig, env: gymnasium.Env) -> Agent:
    """The agent ``cfg`` asks for; a DQN gets its own vector env of ``num_envs`` copies."""
    if cfg.agent != "dqn" and not isinstance(env.observation_space, gymnasium.spaces.Discrete):
        raise UsageError(
            f"{cfg.env} has image observations: train it with --q-net (a DQN), not {cfg.kind.title}"
        )
    if cfg.agent == "tabular":
        from agents.tabular import TabularQAgent

        return TabularQAgent(env, cfg.agent_config, cfg.seed)
    if cfg.agent == "classic":
        from agents.classic import ClassicQNetworkAgent

        return ClassicQNetworkAgent(env, cfg.agent_config, cfg.seed)
    from agents.dqn import DQNAgent

    dqn = cfg.agent_config
    venv = envs.make_vector(cfg.env, dqn.num_envs, **env_options(cfg))
    return DQNAgent(venv, dqn, cfg.seed)
