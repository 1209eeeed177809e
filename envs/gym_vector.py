"""Vector envs for the agents: every one returned here autoresets in the same step.

The agents' loop (``agents.dqn``) reads a step as Gymnasium's SAME_STEP mode writes it: an episode
that ends at step t is reported with its true ``terminated``/``truncated`` flags and reward, the
observation it ended on is in ``infos["final_obs"][i]`` (with ``infos["_final_obs"][i]`` True),
and the returned observation is already the next episode's first. So a terminated step never
bootstraps and a truncated one bootstraps from the right observation.

- :func:`make_vector_env`: ``num_envs`` copies of any env :func:`envs.gym_envs.make_env` makes,
  built in SAME_STEP mode (``SyncVectorEnv``, or ``AsyncVectorEnv`` with ``asynchronous``); the
  project's lake keeps its batched numpy :class:`envs.vector.FrozenLakeVectorEnv`, and CartPole
  gets Gymnasium's batched dynamics (:class:`envs.cartpole.SameStepCartPoleVectorEnv`).
- :func:`same_step`: a vector env someone else built (``gymnasium.make_vec`` defaults to
  NEXT_STEP) brought to the same contract.
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from common.errors import UsageError
from common.memory import require_memory
from envs.cartpole import SameStepCartPoleVectorEnv
from envs.gym_envs import _project_key, is_project_env, make_env
from envs.vector import FrozenLakeVectorEnv

#: Bytes one env copy costs besides its observations (a guess on the generous side).
ENV_OVERHEAD_BYTES = 64 * 1024
#: Each asynchronous copy is a process; more than this many is a mistake on any machine here.
MAX_ASYNC_ENVS = 64 * (os.cpu_count() or 1)


def autoreset_mode(venv: gym.vector.VectorEnv) -> AutoresetMode | None:
    """The vector env's autoreset mode as its metadata declares it (None when undeclared)."""
    mode = (getattr(venv, "metadata", None) or {}).get("autoreset_mode")
    if mode is None:
        return None
    return mode if isinstance(mode, AutoresetMode) else AutoresetMode(mode)


class SameStepAutoreset(gym.vector.VectorWrapper):
    """A NEXT_STEP or DISABLED vector env seen as SAME_STEP: after a step in which some copies
    finished, those copies are reset at once (``reset(options={"reset_mask": done})``), their last
    observations go to ``infos["final_obs"]`` and the reset ones are returned."""

    snapshot_keys = ()  # no state of its own (envs.snapshot)

    def __init__(self, env: gym.vector.VectorEnv) -> None:
        super().__init__(env)
        self.metadata = {**env.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}

    def step(self, actions):
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        done = np.logical_or(terminated, truncated)
        if done.any():
            final_obs = np.empty(self.num_envs, dtype=object)
            for i in np.flatnonzero(done):
                final_obs[i] = _row(obs, i)
            reset_obs, _ = self.env.reset(options={"reset_mask": done.astype(np.bool_)})
            infos = {**infos, "final_info": dict(infos)}
            infos["final_obs"], infos["_final_obs"] = final_obs, done.astype(np.bool_)
            obs = reset_obs
        return obs, rewards, terminated, truncated, infos


def _row(obs, i: int):
    """Copy ``i`` of a batched observation (numpy arrays, or dicts/tuples of them)."""
    if isinstance(obs, dict):
        return {k: _row(v, i) for k, v in obs.items()}
    if isinstance(obs, tuple):
        return tuple(_row(v, i) for v in obs)
    return np.array(obs[i], copy=True)


def same_step(venv: gym.vector.VectorEnv) -> gym.vector.VectorEnv:
    """``venv`` itself when it autoresets in the same step, else wrapped so that it does
    (Gymnasium 1.x Sync/Async vector envs take ``reset_mask``); an env that declares no mode is
    refused in one line rather than misread."""
    mode = autoreset_mode(venv)
    if mode is AutoresetMode.SAME_STEP:
        return venv
    if mode in (AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED):
        return SameStepAutoreset(venv)
    raise UsageError(
        f"{type(venv).__name__} declares no metadata['autoreset_mode']: build it with "
        "autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP (or use envs.make_vector_env)"
    )


def make_vector_env(
    name: str,
    options: dict | None,
    num_envs: int,
    *,
    seed: int,
    asynchronous: bool = False,
    max_episode_steps: int | None = None,
) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``make_env(name, options, max_episode_steps=...)`` stepped together,
    SAME_STEP autoreset (see the module docstring). The project's ``frozenlake`` is the batched
    :class:`~envs.vector.FrozenLakeVectorEnv` (``asynchronous`` is ignored: it is faster than
    processes); CartPole without ``asynchronous`` Gymnasium's batched CartPole in SAME_STEP mode;
    anything else a ``SyncVectorEnv``, or with ``asynchronous`` an ``AsyncVectorEnv`` (one
    process per copy). Every one has ``identity``: the string a checkpoint records (the single
    env's ``identity`` or its spec). The single env is made (and Gymnasium's env checker run)
    once first, so a bad name or option fails here in one line. ``seed`` seeds the action
    spaces; episodes are seeded by the caller's ``reset(seed=...)`` (Sync/Async: copy i gets
    seed + i).
    """
    if isinstance(num_envs, bool) or int(num_envs) != num_envs or int(num_envs) < 1:
        raise UsageError(f"the number of envs must be a positive integer, got {num_envs!r}")
    num_envs = int(num_envs)
    options = dict(options or {})
    if asynchronous and num_envs > MAX_ASYNC_ENVS:
        raise UsageError(
            f"{num_envs} asynchronous envs would be {num_envs} processes: use at most "
            f"{MAX_ASYNC_ENVS}, or drop --async-envs"
        )
    probe = make_env(name, options, max_episode_steps=max_episode_steps)
    obs_bytes = _nbytes(probe.observation_space)
    identity = str(getattr(probe.unwrapped, "identity", None) or probe.spec)
    spec = probe.spec
    probe.close()
    require_memory(
        num_envs * (ENV_OVERHEAD_BYTES + 4 * obs_bytes),
        f"{num_envs} copies of {name}",
        "lower --num-envs",
    )
    if is_project_env(name) and _project_key(name) == "frozenlake":
        if max_episode_steps is not None:
            options["max_episode_steps"] = int(max_episode_steps)
        venv: gym.vector.VectorEnv = FrozenLakeVectorEnv(num_envs, **options)
    elif not asynchronous and _batched_cartpole(spec, options):
        venv = SameStepCartPoleVectorEnv(
            num_envs, identity=identity, max_episode_steps=spec.max_episode_steps, **options
        )
    else:

        def one() -> gym.Env:
            return make_env(name, options, max_episode_steps=max_episode_steps, check=False)

        cls = gym.vector.AsyncVectorEnv if asynchronous else gym.vector.SyncVectorEnv
        venv = cls([one] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
        venv.identity = identity  # what a checkpoint records, as for the single env
    venv.action_space.seed(seed)
    venv = same_step(venv)
    return venv


def _batched_cartpole(spec, options: dict) -> bool:
    """CartPole-v0/v1 with nothing but Gymnasium's batched version's options: that version."""
    return (
        spec is not None
        and spec.id in ("CartPole-v0", "CartPole-v1")
        and spec.max_episode_steps is not None
        and set(options) <= {"sutton_barto_reward"}
    )


def _nbytes(space: gym.Space) -> int:
    """Bytes of one observation of ``space`` (8 for scalars, a guess for exotic spaces)."""
    shape = getattr(space, "shape", None)
    dtype = getattr(space, "dtype", None)
    if shape is None or dtype is None:
        return 1024
    return max(8, int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize)
