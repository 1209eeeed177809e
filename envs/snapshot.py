"""Episodes in flight as data: what a vector env holds between two steps, saved and put back.

A checkpoint taken mid-run holds episodes that are still playing. With a snapshot of the env, a
resumed run goes on with those very episodes (same positions, step counts and random streams), so
it is the uninterrupted run, bit for bit. A snapshot names, layer by layer (vector wrappers, the
vector env, each copy's wrappers and env), the attributes that are that layer's state, plus every
numpy ``Generator`` it holds.

Which attributes are state is said explicitly, never guessed: a class declares
``snapshot_keys`` (the project's envs do), or is listed in :data:`KNOWN_KEYS` (Gymnasium's toy-text
and classic-control envs, its common wrappers, ``SyncVectorEnv``). An env with any other layer
(Box2D or Atari envs, a user's wrapper, an ``AsyncVectorEnv`` whose copies live in other
processes) has no snapshot (:func:`snapshot` returns None): its resumed episodes start anew.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from common.exact_json import NotEncodable, decode, encode

_CLASSIC = "gymnasium.envs.classic_control"
_TOY = "gymnasium.envs.toy_text"
#: State attributes of classes that do not declare ``snapshot_keys`` (module.qualname).
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    f"{_TOY}.frozen_lake.FrozenLakeEnv": ("s", "lastaction"),
    f"{_TOY}.cliffwalking.CliffWalkingEnv": ("s", "lastaction"),
    f"{_TOY}.taxi.TaxiEnv": ("s", "lastaction", "taxi_orientation"),
    f"{_TOY}.blackjack.BlackjackEnv": ("dealer", "player"),
    f"{_CLASSIC}.cartpole.CartPoleEnv": ("state", "steps_beyond_terminated"),
    f"{_CLASSIC}.mountain_car.MountainCarEnv": ("state",),
    f"{_CLASSIC}.continuous_mountain_car.Continuous_MountainCarEnv": ("state",),
    f"{_CLASSIC}.acrobot.AcrobotEnv": ("state",),
    f"{_CLASSIC}.pendulum.PendulumEnv": ("state", "last_u"),
    "gymnasium.wrappers.common.TimeLimit": ("_elapsed_steps",),
    "gymnasium.wrappers.common.OrderEnforcing": ("_has_reset",),
    "gymnasium.wrappers.common.PassiveEnvChecker": ("checked_reset", "checked_step"),
    "gymnasium.vector.sync_vector_env.SyncVectorEnv": ("_autoreset_envs",),
}


def _name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _keys(obj: Any) -> tuple[str, ...] | None:
    cls = type(obj)
    declared = cls.__dict__.get("snapshot_keys")
    if declared is None and cls.__module__.startswith("envs."):  # the project's own subclasses
        declared = getattr(cls, "snapshot_keys", None)  # add no state of their own
    return tuple(declared) if declared is not None else KNOWN_KEYS.get(_name(obj))


def layers(venv: gym.vector.VectorEnv) -> list[Any]:
    """Every object whose state makes up ``venv``'s: vector wrappers, the vector env, and for
    each copy its wrappers down to the env itself."""
    out, inner = [], venv
    while isinstance(inner, gym.vector.VectorWrapper):
        out.append(inner)
        inner = inner.env
    out.append(inner)
    for env in getattr(inner, "envs", None) or []:
        while isinstance(env, gym.Wrapper):
            out.append(env)
            env = env.env
        out.append(env)
    return out


def _generators(obj: Any) -> dict[str, dict]:
    return {
        name: value.bit_generator.state
        for name, value in vars(obj).items()
        if isinstance(value, np.random.Generator)
    }


def snapshot(venv: gym.vector.VectorEnv) -> dict | None:
    """JSON-able state of ``venv`` between two steps, or None where some layer's state is not
    known (see the module docstring)."""
    if isinstance(venv, gym.vector.AsyncVectorEnv):
        return None
    saved = []
    for layer in layers(venv):
        keys = _keys(layer)
        if keys is None:
            return None
        try:
            values = {key: encode(getattr(layer, key)) for key in keys if hasattr(layer, key)}
        except NotEncodable:
            return None
        saved.append({"class": _name(layer), "values": values, "generators": _generators(layer)})
    return {"layers": saved}


_NUMBER = (bool, int, float, np.generic)


def _numbers(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, _NUMBER) for v in value)


def _check_like(key: str, value: Any, current: Any) -> None:
    """A restored value must be of the kind the attribute holds now: an array of the same shape
    (or as many numbers), numbers for a list of numbers, a number or None for a number or None.
    (Not more: Gymnasium's MountainCar holds an array after a reset and a tuple after a step,
    Acrobot a float32 array after a reset and a float64 one after a step.)"""
    if isinstance(current, np.ndarray):
        same = isinstance(value, np.ndarray) and value.shape == current.shape
        same = same or (_numbers(value) and (len(value),) == current.shape)
    elif isinstance(current, (list, tuple)):
        same = _numbers(value) or (isinstance(value, np.ndarray) and value.ndim == 1)
    elif isinstance(current, str):
        same = isinstance(value, str)
    else:  # a number or None (Gymnasium's lastaction, steps_beyond_terminated)
        same = value is None or isinstance(value, _NUMBER)
    if not same:
        raise ValueError(f"{key} holds a {type(value).__name__}, not a {type(current).__name__}")


def restore(venv: gym.vector.VectorEnv, data: Any) -> None:
    """Put a :func:`snapshot` back (on an env that has been reset, so every attribute exists).
    ``ValueError`` when it belongs to another env or is damaged; nothing is half-restored."""
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        raise ValueError("an env snapshot is a list of layers")
    targets = layers(venv)
    saved = data["layers"]
    classes = [layer.get("class") if isinstance(layer, dict) else None for layer in saved]
    if [_name(t) for t in targets] != classes:
        raise ValueError("the env snapshot was taken of another env")
    plan = []
    for target, layer in zip(targets, saved, strict=True):
        values, generators = layer.get("values"), layer.get("generators")
        if not isinstance(values, dict) or not isinstance(generators, dict):
            raise ValueError("an env snapshot layer needs values and generators")
        for key, raw in values.items():
            if key not in (_keys(target) or ()):
                raise ValueError(f"{key} is not part of {_name(target)}'s state")
            value = decode(raw)
            _check_like(key, value, getattr(target, key, None))
            plan.append((target, key, value))
        for key, state in generators.items():
            current = getattr(target, key, None)
            if current is not None and not isinstance(current, np.random.Generator):
                raise ValueError(f"{_name(target)}.{key} is not a random generator")
            # not seeded yet (a vector env reset without a seed): it gets a generator here
            probe = type(current.bit_generator)() if current is not None else np.random.PCG64()
            try:  # a damaged state fails here, before anything is changed
                probe.state = state
            except (TypeError, KeyError, AttributeError, OverflowError, ValueError) as exc:
                raise ValueError(f"{_name(target)}.{key} holds a damaged state ({exc})") from None
            plan.append((target, key, np.random.Generator(probe)))
    for target, key, value in plan:
        current = getattr(target, key, None)
        if isinstance(value, np.random.Generator) and isinstance(current, np.random.Generator):
            current.bit_generator.state = value.bit_generator.state  # others may hold it
        else:
            setattr(target, key, value)
