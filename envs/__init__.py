"""Gymnasium environments of the project, made by name or through ``gymnasium.make``, and any
Gymnasium environment by id (:mod:`envs.gym_envs`, :mod:`envs.gym_vector`), with its exact model
where it has one (:mod:`envs.tabular_model`, :mod:`envs.planner`).

>>> import envs
>>> env = envs.make("frozenlake", map="8x8", slippery=True)
>>> env = envs.make_env("FrozenLake-v1", envs.parse_env_options(["map_name=8x8"]))
>>> import gymnasium
>>> env = gymnasium.make("dltf/FrozenLake-v0", map="4x4")
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym

from common.errors import UsageError
from envs.frozenlake import FrozenLakeEnv
from envs.gym_envs import (
    NAMESPACE,
    PROJECT_ENVS,
    PROJECT_GYM_IDS,
    check_spaces,
    make_env,
    parse_env_options,
)
from envs.gym_vector import make_vector_env, same_step
from envs.pixels import FrozenLakeDigitsEnv, FrozenLakePixelsEnv
from envs.vector import FrozenLakeVectorEnv
from envs.wrappers import OneHotObservation

_FACTORIES: dict[str, Callable[..., gym.Env]] = PROJECT_ENVS
_GYM_IDS = PROJECT_GYM_IDS


def names() -> list[str]:
    return sorted(_FACTORIES)


def _factory(name: str) -> Callable[..., gym.Env]:
    if name.lower() not in _FACTORIES:
        raise UsageError(f"unknown environment {name!r}: choose one of {', '.join(names())}")
    return _FACTORIES[name.lower()]


def make(name: str, *, one_hot: bool = False, **options) -> gym.Env:
    """An environment by its short name (``frozenlake``); ``one_hot`` wraps its observations."""
    env = _factory(name)(**options)
    return OneHotObservation(env) if one_hot else env


def make_vector(name: str, num_envs: int, **options) -> gym.vector.VectorEnv:
    """``num_envs`` copies stepped together, with same-step autoreset (``infos["final_obs"]``).
    FrozenLake gets its batched numpy implementation; other envs a Gymnasium ``SyncVectorEnv``."""
    key = name.lower()
    if key == "frozenlake":
        return FrozenLakeVectorEnv(num_envs, **options)
    _factory(key)  # unknown names fail here, with the one-line message (and nothing is built)
    return gym.vector.SyncVectorEnv(
        [lambda: make(key, **options) for _ in range(num_envs)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


for _name, _gym_id in _GYM_IDS.items():
    if _gym_id not in gym.registry:
        gym.register(id=_gym_id, entry_point=_FACTORIES[_name])

__all__ = [
    "FrozenLakeDigitsEnv",
    "FrozenLakeEnv",
    "FrozenLakePixelsEnv",
    "FrozenLakeVectorEnv",
    "OneHotObservation",
    "NAMESPACE",
    "UsageError",
    "check_spaces",
    "make",
    "make_env",
    "make_vector",
    "make_vector_env",
    "names",
    "parse_env_options",
    "same_step",
]
