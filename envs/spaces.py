"""Which observation and action spaces the agents can read, and what to do about the others.

Every agent chooses among discrete actions (``Discrete`` from 0). Tabular and classic agents read
``Discrete`` states (a table row each); the DQN reads ``Discrete`` states (one-hot), 1-D ``Box``
vectors (normalised) and uint8 ``Box`` images ``(H, W)`` or ``(H, W, C)``. Anything else is a
one-line :class:`~common.errors.UsageError` naming the space and what would work.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from common.errors import UsageError

AGENT_KINDS = ("tabular", "classic", "dqn")


def space_name(space: spaces.Space) -> str:
    """A space as a user reads it, on one short line: ``Box(-1.0, 1.0, (2,), float32)``; a Box
    with per-element bounds as its overall range, ``Box(-inf..inf, (4,), float32)``."""
    if isinstance(space, spaces.Box) and space.low.size > 1:
        low, high = np.min(space.low), np.max(space.high)
        if not (np.all(space.low == low) and np.all(space.high == high)):
            return f"Box({low:g}..{high:g}, {space.shape}, {space.dtype})"
    return " ".join(str(space).split())


def is_image_space(space: spaces.Space) -> bool:
    """A Box of uint8 pixels, ``(H, W)`` or ``(H, W, C)``."""
    return (
        isinstance(space, spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) in (2, 3)
        and min(space.shape) > 0
    )


def check_spaces(env: gym.Env | gym.vector.VectorEnv, agent: str) -> None:
    """Refuse, in one line naming the space and what would work, an env whose spaces the agent
    kind (``tabular``, ``classic`` or ``dqn``) cannot use. Vector envs are judged by one copy.

    Every agent chooses among discrete actions (Discrete). Tabular and classic agents read
    Discrete observations (a table row); the DQN reads Discrete (one-hot), Box vectors (1-D,
    normalised) and Box images (uint8 ``(H, W)`` or ``(H, W, C)``).
    """
    if agent not in AGENT_KINDS:
        raise UsageError(f"unknown agent kind {agent!r}: choose one of {', '.join(AGENT_KINDS)}")
    action = getattr(env, "single_action_space", None) or env.action_space
    obs = getattr(env, "single_observation_space", None) or env.observation_space
    if not isinstance(action, spaces.Discrete):
        fix = (
            "use a discrete version such as LunarLander-v3 (not continuous=True)"
            if isinstance(action, spaces.Box)
            else "wrap the env so that it offers a Discrete action space"
        )
        raise UsageError(
            f"{space_name(action)} actions: the agents here choose among discrete actions; {fix}"
        )
    if int(action.start) != 0:
        raise UsageError(
            f"{space_name(action)} actions: the agents number actions from 0; wrap the env in an "
            f"ActionWrapper that adds {int(action.start)}"
        )
    if isinstance(obs, spaces.Discrete):
        if int(obs.start) != 0:
            raise UsageError(
                f"{space_name(obs)} observations: the agents number states from 0; relabel them "
                f"with gymnasium.wrappers.TransformObservation (obs - {int(obs.start)})"
            )
        return
    if agent in ("tabular", "classic"):
        if isinstance(obs, spaces.Box):
            raise UsageError(
                f"{space_name(obs)} observations: the {agent} agent needs Discrete states "
                "(a table row each); train it with --q-net (a DQN) instead"
            )
        raise UsageError(
            f"{space_name(obs)} observations: the {agent} agent needs Discrete states; "
            f"for a DQN (--q-net), {_flatten_hint(obs)}"
        )
    if isinstance(obs, spaces.Box):
        if obs.dtype is not None and not np.issubdtype(obs.dtype, np.number):
            raise UsageError(f"{space_name(obs)} observations: the DQN needs numeric Box values")
        if len(obs.shape) == 1 and obs.shape[0] > 0:
            return
        if is_image_space(obs):
            return
        raise UsageError(
            f"{space_name(obs)} observations: the DQN reads 1-D vectors or uint8 images "
            "(H, W) or (H, W, C); flatten them with gymnasium.wrappers.FlattenObservation"
        )
    raise UsageError(
        f"{space_name(obs)} observations: the DQN reads Discrete states, Box vectors or uint8 "
        f"images; {_flatten_hint(obs)}"
    )


def _flatten_hint(obs: spaces.Space) -> str:
    """What turns ``obs`` into something the DQN reads."""
    if isinstance(obs, spaces.Dict):
        return (
            "flatten them with gymnasium.wrappers.FlattenObservation "
            "(or keep one key with FilterObservation)"
        )
    if isinstance(obs, (spaces.Tuple, spaces.MultiDiscrete, spaces.MultiBinary)):
        return "flatten them with gymnasium.wrappers.FlattenObservation"
    if isinstance(obs, spaces.Text):
        return "encode the text as a Box vector with an ObservationWrapper"
    return "turn them into a Box vector with an ObservationWrapper"
