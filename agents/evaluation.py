"""Evaluation of a greedy policy: exact where the env has a model, sampled everywhere.

- :class:`Judge`: the exact expected return of a stationary policy (one action per state) and the
  optimum, from the env's model: the project lakes' planner, or a Gymnasium toy-text env's
  ``unwrapped.P`` read by :mod:`envs.planner`. A policy that never ends an episode (no step limit)
  has no value: :meth:`Judge.value` says so with ``None``.
- :func:`sample_returns`: the greedy policy played for ``episodes`` episodes, episode ``i`` seeded
  with ``seed + i`` (callers pass seeds disjoint from training's), mean and standard deviation of
  the return. "Success" (a positive return) only where the env defines it: the lakes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Offset of evaluation seeds from the run's seed: training seeds its envs with seed .. seed+n-1.
EVAL_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a greedy policy. ``exact_return`` is None without a model or when the
    policy never ends an episode (``never_ends``); sampled figures are None when no episodes were
    played."""

    episodes: int
    return_mean: float | None = None
    return_std: float | None = None
    success_rate: float | None = None
    exact_return: float | None = None
    never_ends: bool = False

    @property
    def score(self) -> float:
        """What keep-best compares: the exact return, else the sampled mean (-inf if neither)."""
        if self.exact_return is not None:
            return self.exact_return
        if self.never_ends:
            return -math.inf
        return self.return_mean if self.return_mean is not None else -math.inf


class Judge:
    """Exact evaluation from a model: ``optimum`` and ``value(policy)``."""

    optimum: float
    #: whether the return is a success probability (the lakes: reward 1 on the goal only)
    success: bool = False
    #: whether every return is >= 0, so that value / optimum reads as a ratio
    nonnegative: bool = True

    def value(self, policy: np.ndarray) -> float | None:
        raise NotImplementedError


class LakeJudge(Judge):
    """The project lakes: the probability of reaching the goal within the step limit."""

    success = True

    def __init__(self, env) -> None:
        from envs.planner import evaluate_policy, plan

        self.env, self._evaluate = env, evaluate_policy
        self.optimum = plan(env).success_probability

    def value(self, policy: np.ndarray) -> float:
        return self._evaluate(self.env, policy)


class ModelJudge(Judge):
    """Any env whose model :func:`envs.planner` can read (a Gymnasium toy-text env's ``P``)."""

    def __init__(self, model, success: bool = False) -> None:
        from envs import planner

        self.model, self.success = model, success
        self.nonnegative = bool(model.nonnegative)
        self._planner = planner
        self.optimum = float(planner.solve(model).value)

    def value(self, policy: np.ndarray) -> float | None:
        result = self._planner.policy_return(self.model, np.asarray(policy, dtype=np.int64))
        if result.never_ends or result.value is None or not math.isfinite(result.value):
            return None
        return float(result.value)


def defines_success(env) -> bool:
    """FrozenLake (the project's, its pixel and digit lakes, Gymnasium's) pays 1 on the goal and
    nothing else: there a positive return is a success."""
    return any(cls.__name__ == "FrozenLakeEnv" for cls in type(env.unwrapped).__mro__)


def make_judge(env) -> Judge | None:
    """The exact judge of ``env``, or None when it has no model the planner reads."""
    base = env.unwrapped
    if hasattr(base, "table") and hasattr(base, "start_state"):
        return LakeJudge(env)
    try:
        from envs.tabular_model import exact_model
    except ImportError:  # the env side has no model reader: sampled evaluation only
        return None
    model = exact_model(env)
    return None if model is None else ModelJudge(model, success=defines_success(env))


def sample_returns(
    env,
    act: Callable[[object], int],
    episodes: int,
    seed: int,
    *,
    max_steps: int | None = None,
) -> tuple[np.ndarray, bool]:
    """Returns of ``episodes`` greedy episodes (``act(observation) -> action``), episode ``i``
    reset with ``seed + i``. ``max_steps`` bounds an episode of an env without a step limit; the
    second result says whether that bound cut one short."""
    returns = np.zeros(episodes)
    cut = False
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, steps = 0.0, 0
        while True:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            steps += 1
            if terminated or truncated:
                break
            if max_steps is not None and steps >= max_steps:
                cut = True
                break
        returns[i] = total
    return returns, cut


def sample_returns_batched(
    venv, act: Callable[[np.ndarray], np.ndarray], seed: int, max_steps: int | None = None
) -> tuple[np.ndarray, bool]:
    """One episode on each copy of a same-step-autoreset vector env, all stepped together with
    one batched ``act`` (observations -> actions) per step; ``reset(seed=seed)``. Copies that
    finish go on (autoreset) but no longer count. Returns (returns, whether ``max_steps`` cut
    an episode)."""
    n = venv.num_envs
    obs, _ = venv.reset(seed=seed)
    returns = np.zeros(n)
    running = np.ones(n, dtype=bool)
    steps = 0
    while running.any():
        obs, rewards, terminated, truncated, _ = venv.step(act(obs))
        returns += np.where(running, rewards, 0.0)
        running &= ~(np.asarray(terminated) | np.asarray(truncated))
        steps += 1
        if max_steps is not None and steps >= max_steps:
            return returns, bool(running.any())
    return returns, False


def table_actor(env, policy: np.ndarray) -> Callable[[object], int]:
    """Act from a state -> action table: by the observation when it is the state, else by the
    env's true state (the project's image lakes are scored the same way)."""
    actions = np.asarray(policy).tolist()
    base = env.unwrapped
    if isinstance(getattr(env.observation_space, "n", None), (int, np.integer)):
        return lambda obs: actions[int(obs)]
    return lambda obs: actions[base.state]


def evaluate_greedy(
    agent,
    env,
    episodes: int,
    seed: int,
    judge: Judge | None = None,
    *,
    max_steps: int | None = 10_000,
    vector_env: Callable[[int], object] | None = None,
) -> Evaluation:
    """The greedy policy of ``agent`` on a separate ``env``: exactly with ``judge`` (when given),
    and over ``episodes`` sampled episodes (none when the model says the policy never ends an
    episode; ``max_steps`` cuts an episode of an env without a step limit). ``vector_env(n)``:
    n copies of the env (same-step autoreset) to play a network's episodes side by side, one
    batched forward pass a step."""
    policy = None
    if judge is not None or hasattr(agent, "q_table"):
        try:
            policy = agent.q_table().argmax(axis=1)
        except (TypeError, AttributeError):
            policy = None
    exact, never_ends = None, False
    if judge is not None and policy is not None:
        exact = judge.value(policy)
        never_ends = exact is None
    if episodes <= 0 or never_ends:
        return Evaluation(0, exact_return=exact, never_ends=never_ends)
    if policy is None and vector_env is not None:
        returns, _ = sample_returns_batched(
            vector_env(episodes),
            lambda obs: agent.q_values(obs).argmax(axis=1),
            seed,
            max_steps=max_steps,
        )
    else:
        act = table_actor(env, policy) if policy is not None else agent.greedy_action
        returns, _ = sample_returns(env, act, episodes, seed, max_steps=max_steps)
    success = float(np.mean(returns > 0)) if defines_success(env) else None
    return Evaluation(
        episodes,
        return_mean=float(returns.mean()),
        return_std=float(returns.std()),
        success_rate=success,
        exact_return=exact,
        never_ends=never_ends,
    )
