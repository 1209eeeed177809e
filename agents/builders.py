"""Environments and agents built from a :class:`~agents.config.RunConfig`.

The project's lakes are made by their own classes from the lake flags (``--map`` ...); any other
name goes through :func:`envs.make_env` (a Gymnasium id or ``module:EnvId`` with ``env_options``,
Gymnasium's env checker first) and a DQN gets :func:`envs.make_vector_env` (same-step autoreset,
``AsyncVectorEnv`` with ``--async-envs``). The agent modules are imported only when chosen:
tabular Q-learning never loads TensorFlow.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

import envs
from agents.agent import Agent
from agents.config import RunConfig, is_lake
from agents.recipes import EnvFacts
from common.errors import UsageError


def env_options(cfg: RunConfig) -> dict[str, Any]:
    """The lakes' constructor options from the lake flags."""
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


def make_env(cfg: RunConfig, *, check: bool = True) -> gymnasium.Env:
    """One env of the run (``check``: run Gymnasium's env checker on it first)."""
    if is_lake(cfg.env):
        return envs.make(cfg.env, **env_options(cfg))
    return envs.make_env(
        cfg.env, cfg.env_options, max_episode_steps=cfg.max_episode_steps, check=check
    )


def step_limit_of(env: gymnasium.Env) -> int | None:
    limit = getattr(env.unwrapped, "max_episode_steps", None)
    if limit is None:
        limit = getattr(getattr(env, "spec", None), "max_episode_steps", None)
    return int(limit) if limit else None


def env_facts(env: gymnasium.Env) -> EnvFacts:
    """What a generic recipe is sized from; FrozenLake maps also carry their rows."""
    obs, act = env.observation_space, env.action_space
    n_states = int(obs.n) if isinstance(obs, spaces.Discrete) else None
    desc = getattr(env.unwrapped, "desc", None)
    rows = None
    if desc is not None and type(env.unwrapped).__name__ == "FrozenLakeEnv":
        rows = tuple(b"".join(row).decode() for row in np.asarray(desc))
    return EnvFacts(
        n_states=n_states,
        n_actions=int(act.n) if isinstance(act, spaces.Discrete) else 0,
        obs_dim=n_states if n_states is not None else int(np.prod(obs.shape or (1,))),
        step_limit=step_limit_of(env),
        lake_rows=rows,
    )


def check_agent_fits(cfg: RunConfig, env: gymnasium.Env) -> None:
    """One line, before any work, when the agent cannot read this env's spaces."""
    if is_lake(cfg.env):
        if cfg.agent != "dqn" and not isinstance(env.observation_space, spaces.Discrete):
            raise UsageError(
                f"{cfg.env} has image observations: train it with --q-net (a DQN), "
                f"not {cfg.kind.title}"
            )
        return
    envs.check_spaces(env, cfg.agent)
    if cfg.agent == "classic":
        raise UsageError(
            "--q-net classic runs on the project's lakes only (it steps their transition table "
            f"in-graph); for {cfg.env} use --q-net (a DQN) or the tabular agent"
        )


def make_vector_env(cfg: RunConfig) -> gymnasium.vector.VectorEnv:
    num_envs = cfg.agent_config.num_envs
    if is_lake(cfg.env):
        return envs.make_vector(cfg.env, num_envs, **env_options(cfg))
    return envs.make_vector_env(
        cfg.env,
        cfg.env_options,
        num_envs,
        seed=cfg.seed,
        asynchronous=cfg.async_envs,
        max_episode_steps=cfg.max_episode_steps,
    )


def make_agent(cfg: RunConfig, env: gymnasium.Env) -> Agent:
    """The agent ``cfg`` asks for; a DQN gets its own vector env of ``num_envs`` copies."""
    check_agent_fits(cfg, env)
    if cfg.agent == "tabular":
        from agents.tabular import TabularQAgent

        return TabularQAgent(env, cfg.agent_config, cfg.seed)
    if cfg.agent == "classic":
        from agents.classic import ClassicQNetworkAgent

        return ClassicQNetworkAgent(env, cfg.agent_config, cfg.seed)
    from agents.dqn import DQNAgent

    return DQNAgent(make_vector_env(cfg), cfg.agent_config, cfg.seed)
