"""Gymnasium environments of the project, made by name or through ``gymnasium.make``.

>>> import envs
>>> env = envs.make("frozenlake", map="8x8", slippery=True)
>>> import gymnasium
>>> env = gymnasium.make("dltf/FrozenLake-v0", map="4x4")
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym

from common.errors import UsageError
from envs.frozenlake import FrozenLakeEnv
from envs.pixels import FrozenLakeDigitsEnv, FrozenLakePixelsEnv, make_digits_env
from envs.vector import FrozenLakeVectorEnv
from envs.wrappers import OneHotObservation

NAMESPACE = "dltf"
_FACTORIES: dict[str, Callable[..., gym.Env]] = {
    "frozenlake": FrozenLakeEnv,
    "frozenlake-pixels": FrozenLakePixelsEnv,
    "frozenlake-digits": make_digits_env,  # MNIST test digits unless `digits=` is given
}
_GYM_IDS = {
    "frozenlake": f"{NAMESPACE}/FrozenLake-v0",
    "frozenlake-pixels": f"{NAMESPACE}/FrozenLakePixels-v0",
    "frozenlake-digits": f"{NAMESPACE}/FrozenLakeDigits-v0",
}


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
    "UsageError",
    "make",
    "make_vector",
    "names",
]
