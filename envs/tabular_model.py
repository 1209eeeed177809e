"""Exact models of small discrete environments, for judging a policy without sampling noise.

A :class:`TabularModel` is what the planner (:mod:`envs.planner`) needs: for each state ``s``,
action ``a`` and outcome ``k``, the probability, next state, reward and whether the transition
ends the episode (``terminated``), plus the start-state distribution of ``reset`` and the step
limit after which an episode is truncated (None: no limit).

:func:`exact_model` reads one from the envs whose dynamics are fully known: the project's lakes
(their transition table) and Gymnasium's toy-text envs through ``env.unwrapped.P`` (FrozenLake-v1,
CliffWalking, Taxi without its fickle passenger, whose destination changes outside ``P``).
Anything else (CartPole, a user's env) has no model: None.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import gymnasium as gym
import numpy as np

from common.memory import require_memory
from envs.frozenlake import FrozenLakeEnv

#: Bytes per (state, action, outcome) entry: probability, next state, reward, done flag.
ENTRY_BYTES = 8 + 8 + 8 + 1


@dataclass(frozen=True)
class TabularModel:
    """Dynamics as arrays of shape (S, A, K); outcomes with probability 0 are padding."""

    probs: np.ndarray  # float64 (S, A, K), each (s, a) row sums to 1
    next_states: np.ndarray  # int64 (S, A, K)
    rewards: np.ndarray  # float64 (S, A, K)
    dones: np.ndarray  # bool (S, A, K): the transition terminates the episode
    start: np.ndarray  # float64 (S,): distribution of the state ``reset`` returns
    step_limit: int | None  # episodes are truncated after this many steps; None: never
    name: str = ""

    @property
    def n_states(self) -> int:
        return self.next_states.shape[0]

    @property
    def n_actions(self) -> int:
        return self.next_states.shape[1]

    @property
    def n_outcomes(self) -> int:
        return self.next_states.shape[2]

    @property
    def reward_range(self) -> tuple[float, float]:
        """Smallest and largest reward of any possible transition."""
        possible = self.rewards[self.probs > 0]
        return float(possible.min()), float(possible.max())

    @property
    def nonnegative(self) -> bool:
        """Every return is >= 0 (so a ratio to the optimum means something)."""
        return self.reward_range[0] >= 0.0

    def with_step_limit(self, step_limit: int | None) -> TabularModel:
        """The same dynamics with another step limit."""
        return TabularModel(
            self.probs,
            self.next_states,
            self.rewards,
            self.dones,
            self.start,
            None if step_limit is None else int(step_limit),
            self.name,
        )


def check_model_memory(n_states: int, n_actions: int, n_outcomes: int, what: str) -> None:
    require_memory(
        2 * n_states * n_actions * n_outcomes * ENTRY_BYTES,
        f"the exact model of {what} ({n_states} states x {n_actions} actions)",
        "judge it by sampling (--eval-episodes) instead",
    )


def step_limit_of(env: gym.Env) -> int | None:
    """The TimeLimit in ``env``'s wrapper chain (the outermost one), else its spec's, else the
    project lake's built-in limit, else None."""
    current = env
    while isinstance(current, gym.Wrapper):
        if isinstance(current, gym.wrappers.TimeLimit):
            return int(current._max_episode_steps)
        current = current.env
    base = env.unwrapped
    if isinstance(base, FrozenLakeEnv):
        return int(base.max_episode_steps)
    return None


def single_env(env) -> gym.Env | None:
    """One copy of a vector env whose copies can be reached (the lake's batched env, Sync), else
    the env itself; None for a vector env whose copies live in other processes."""
    inner = env
    while isinstance(inner, gym.vector.VectorWrapper):
        inner = inner.env
    if isinstance(inner, gym.vector.VectorEnv):
        single = getattr(inner, "single", None)  # envs.vector.FrozenLakeVectorEnv
        if single is not None:
            return single
        copies = getattr(inner, "envs", None)
        return copies[0] if copies else None
    return env


def exact_model(env, max_episode_steps: int | None = None) -> TabularModel | None:
    """The env's exact model, or None when it has none.

    ``env``: a single env (wrapped or not) or a vector env whose copies are reachable.
    The step limit is ``max_episode_steps`` when given, else the env's TimeLimit (or the lake's
    built-in limit), else None (the undiscounted shortest-path problem).
    """
    single = single_env(env)
    if single is None:
        return None
    base = single.unwrapped
    limit = step_limit_of(single) if max_episode_steps is None else int(max_episode_steps)
    if isinstance(base, FrozenLakeEnv):
        return lake_model(base, limit)
    if _has_p_model(base):
        return p_model(base, limit)
    return None


def lake_model(lake: FrozenLakeEnv, step_limit: int | None) -> TabularModel:
    """The project lake's transition table as a model: entering the goal pays 1, entering a hole
    or the goal ends the episode; hole and goal states loop on themselves (never entered)."""
    table = lake.table
    n_s, n_a, n_k = table.next_states.shape
    check_model_memory(n_s, n_a, n_k, "the lake")
    ns = table.next_states
    rewards = table.goal[ns].astype(np.float64)
    dones = table.terminal[ns].copy()
    rewards[table.terminal] = 0.0
    dones[table.terminal] = True
    start = np.zeros(n_s)
    start[lake.start_state] = 1.0
    return TabularModel(table.probs.copy(), ns.copy(), rewards, dones, start, step_limit, "lake")


def _has_p_model(base: gym.Env) -> bool:
    """Gymnasium's toy-text envs whose ``P`` and start distribution are their whole dynamics."""
    from gymnasium.envs.toy_text import cliffwalking, frozen_lake, taxi

    if isinstance(base, taxi.TaxiEnv):
        return not getattr(base, "fickle_passenger", False)
    return isinstance(base, (frozen_lake.FrozenLakeEnv, cliffwalking.CliffWalkingEnv))


def p_model(base: gym.Env, step_limit: int | None) -> TabularModel:
    """A model from a Gymnasium toy-text ``P``: ``P[s][a] = [(prob, next, reward, done), ...]``
    and ``initial_state_distrib``."""
    P = base.P
    n_s = int(base.observation_space.n)
    n_a = int(base.action_space.n)
    n_k = max(len(P[s][a]) for s in P for a in P[s])
    name = base.spec.id if base.spec is not None else type(base).__name__
    check_model_memory(n_s, n_a, n_k, name)
    probs = np.zeros((n_s, n_a, n_k))
    next_states = np.zeros((n_s, n_a, n_k), dtype=np.int64)
    rewards = np.zeros((n_s, n_a, n_k))
    dones = np.zeros((n_s, n_a, n_k), dtype=bool)
    for s in range(n_s):
        for a in range(n_a):
            for k, (p, nxt, r, done) in enumerate(P[s][a]):
                probs[s, a, k] = p
                next_states[s, a, k] = int(nxt)
                rewards[s, a, k] = r
                dones[s, a, k] = bool(done)
    start = np.asarray(base.initial_state_distrib, dtype=np.float64).reshape(n_s)
    probs, start = snap_probabilities(probs), start / start.sum()
    return TabularModel(probs, next_states, rewards, dones, start, step_limit, name)


def snap_probabilities(probs: np.ndarray, max_denominator: int = 1000) -> np.ndarray:
    """Probabilities within 1e-12 of a simple fraction become that fraction's float.

    Gymnasium's slippery FrozenLake writes 1/3 as (1 - 1/3) / 2 = 0.33333333333333337 for the
    sideways moves: 4e-17 away, below what its sampler can tell apart, but enough to move the
    planner's figures in the 15th digit and break ties between equal actions differently from the
    project's own lake. Snapped, the same map gives the same numbers bit for bit."""
    snapped = probs.copy()
    for value in np.unique(probs):
        fraction = Fraction(float(value)).limit_denominator(max_denominator)
        if abs(float(fraction) - value) < 1e-12:
            snapped[probs == value] = float(fraction)
    return snapped
