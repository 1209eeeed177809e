"""Exact planning on a :class:`~envs.tabular_model.TabularModel`: the optimum and the exact
expected return of a given policy, from the start-state distribution of ``reset``.

With a step limit T the problem is finite-horizon (an episode ends when it terminates or after T
steps): backward induction over states x steps left gives the optimum, reached by a policy that
depends on the steps left, and scores any stationary policy (such as a learned greedy one) under
the same limit. Without a step limit it is the undiscounted shortest-path problem: value
iteration to convergence for the optimum, a linear solve for a policy, and a policy that, from
some state it reaches, never ends its episode is reported as such (``never_ends``), not as a
number.

For the project's lakes (reward 1 on the goal) the return is the probability of reaching the goal
within the step limit: :func:`plan`, :func:`evaluate_policy` and :func:`greedy_success` keep
their lake meaning and numbers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from common.errors import UsageError
from common.memory import require_memory
from envs.frozenlake import FrozenLakeEnv
from envs.tabular_model import TabularModel, exact_model

#: Value iteration without a step limit stops when no state's value moves by more than this
#: (relative to the largest value) or after MAX_SWEEPS sweeps (then the optimum is refused).
TOLERANCE = 1e-12
MAX_SWEEPS = 200_000


@dataclass(frozen=True)
class Solution:
    """The optimum of a model."""

    value: float  # optimum expected return from the start distribution
    values: np.ndarray  # (S,) optimum expected return from each state (full horizon)
    policy: np.ndarray  # (T, S) best action with t+1 steps left (row T-1 first); (S,) no limit
    horizon: int | None


@dataclass(frozen=True)
class PolicyReturn:
    """A policy's exact expected return; ``value`` is None when ``never_ends``."""

    value: float | None
    values: np.ndarray  # (S,) from each state (NaN where the episode would never end)
    never_ends: bool = False


@dataclass(frozen=True)
class Judgement:
    """A greedy policy against the optimum: what the summary and dashboard show."""

    optimal_return: float
    exact_return: float | None  # None: the policy never ends an episode from a reachable state
    gap: float | None  # optimal - exact
    ratio: float | None  # exact / optimal, where returns are non-negative and the optimum > 0
    never_ends: bool


def _q(model: TabularModel, values: np.ndarray) -> np.ndarray:
    """(S, A) expected reward plus the value of what follows, given ``values`` one step later."""
    ns = model.next_states
    landing = model.rewards + (~model.dones) * values[ns]
    return (model.probs * landing).sum(axis=-1)


def _check_horizon(model: TabularModel, horizon: int) -> None:
    require_memory(
        horizon * model.n_states * 8 + 4 * model.probs.nbytes,
        f"planning {model.name or 'the env'} over {horizon} steps x {model.n_states} states",
        "give a smaller --max-episode-steps",
    )


def solve(model: TabularModel) -> Solution:
    """The optimum: backward induction over the step limit, or value iteration without one."""
    if model.step_limit is None:
        return _solve_unlimited(model)
    horizon = int(model.step_limit)
    _check_horizon(model, horizon)
    values = np.zeros(model.n_states)
    policy = np.zeros((horizon, model.n_states), dtype=np.int64)
    for t in range(horizon):
        q = _q(model, values)
        policy[t] = q.argmax(axis=1)
        values = q.max(axis=1)
    return Solution(float(model.start @ values), values, policy, horizon)


def _solve_unlimited(model: TabularModel) -> Solution:
    values = np.zeros(model.n_states)
    for _ in range(MAX_SWEEPS):
        q = _q(model, values)
        new = q.max(axis=1)
        delta = np.abs(new - values).max()
        values = new
        if delta <= TOLERANCE * max(1.0, np.abs(values).max()):
            return Solution(float(model.start @ values), values, q.argmax(axis=1), None)
    raise UsageError(
        f"{model.name or 'the env'} has no step limit and its optimum does not settle in "
        f"{MAX_SWEEPS} sweeps (returns may grow without end): give --max-episode-steps"
    )


def policy_return(model: TabularModel, policy: np.ndarray) -> PolicyReturn:
    """Exact expected return of ``policy`` from the start distribution: ``(S,)`` actions (a
    stationary policy) or, with a step limit T, ``(T, S)`` (row t: action with t+1 steps left)."""
    policy = np.asarray(policy, dtype=np.int64)
    n_s = model.n_states
    if policy.shape[-1:] != (n_s,) or policy.ndim not in (1, 2):
        raise ValueError(f"policy must have one action per state ({n_s}), got {policy.shape}")
    if policy.size and (policy.min() < 0 or policy.max() >= model.n_actions):
        raise ValueError(f"policy actions must be in [0, {model.n_actions})")
    if model.step_limit is None:
        if policy.ndim != 1:
            raise ValueError("without a step limit a policy is one action per state")
        return _unlimited_return(model, policy)
    horizon = int(model.step_limit)
    if policy.ndim == 2 and policy.shape[0] != horizon:
        raise ValueError(f"a (T, S) policy needs T = the step limit {horizon}")
    _check_horizon(model, 0)
    rows = np.arange(n_s)
    values = np.zeros(n_s)
    for t in range(horizon):
        actions = policy if policy.ndim == 1 else policy[t]
        values = _q(model, values)[rows, actions]
    return PolicyReturn(float(model.start @ values), values)


def reachable(model: TabularModel, policy: np.ndarray) -> np.ndarray:
    """(S,) bool: states an episode under ``policy`` can visit (from the start distribution)."""
    rows = np.arange(model.n_states)
    probs = model.probs[rows, policy]
    nxt = model.next_states[rows, policy]
    live = (probs > 0) & ~model.dones[rows, policy]
    seen = model.start > 0
    queue = deque(np.flatnonzero(seen).tolist())
    while queue:
        s = queue.popleft()
        for t in nxt[s][live[s]].tolist():
            if not seen[t]:
                seen[t] = True
                queue.append(t)
    return seen


def _unlimited_return(model: TabularModel, policy: np.ndarray) -> PolicyReturn:
    n_s = model.n_states
    rows = np.arange(n_s)
    probs, nxt = model.probs[rows, policy], model.next_states[rows, policy]
    ends_now = (probs * model.dones[rows, policy]).sum(axis=1) > 0
    live = (probs > 0) & ~model.dones[rows, policy]
    # States from which the episode can end: backwards from those with a terminating outcome.
    can_end = ends_now.copy()
    changed = True
    while changed:
        reach = (live & can_end[nxt]).any(axis=1) & ~can_end
        changed = bool(reach.any())
        can_end |= reach
    visited = reachable(model, policy)
    values = np.full(n_s, np.nan)
    if (visited & ~can_end).any():
        return PolicyReturn(None, values, never_ends=True)
    idx = np.flatnonzero(visited)
    require_memory(
        8 * len(idx) ** 2 * 2,
        f"the linear system for {len(idx)} states of {model.name or 'the env'}",
        "give --max-episode-steps (finite-horizon evaluation needs no matrix)",
    )
    position = np.full(n_s, -1)
    position[idx] = np.arange(len(idx))
    transition = np.zeros((len(idx), len(idx)))
    sub_live = live[idx]
    src = np.repeat(np.arange(len(idx))[:, None], model.n_outcomes, axis=1)[sub_live]
    dst = position[nxt[idx]][sub_live]
    np.add.at(transition, (src, dst), probs[idx][sub_live])
    expected = (probs * model.rewards[rows, policy]).sum(axis=1)[idx]
    values[idx] = np.linalg.solve(np.eye(len(idx)) - transition, expected)
    return PolicyReturn(float(model.start[idx] @ values[idx]), values)


def judge(model: TabularModel, policy: np.ndarray, optimum: Solution | None = None) -> Judgement:
    """A stationary greedy ``policy`` (one action per state) against the model's optimum."""
    best = solve(model) if optimum is None else optimum
    mine = policy_return(model, policy)
    if mine.value is None:
        return Judgement(best.value, None, None, None, True)
    ratio = mine.value / best.value if model.nonnegative and best.value > 0 else None
    return Judgement(best.value, mine.value, best.value - mine.value, ratio, False)


# -- the project's lakes: success probability within the step limit -------------------------------
@dataclass(frozen=True)
class Plan:
    success_probability: float  # from the start state with the full step limit
    values: np.ndarray  # (S,) success probability from each state with the full step limit
    policy: np.ndarray  # (T, S) best action with t+1 steps left (row T-1 is the first move)

    @property
    def first_step_policy(self) -> np.ndarray:
        return self.policy[-1]


def _lake_model(env: FrozenLakeEnv) -> TabularModel:
    model = exact_model(env)
    if model is None:
        raise TypeError(f"{env} has no exact model")
    return model


def plan(env: FrozenLakeEnv) -> Plan:
    """The optimal (non-stationary) policy and its success probability within the step limit
    (for any env with a model and a step limit: the optimum expected return)."""
    best = solve(_lake_model(env))
    policy = best.policy if best.policy.ndim == 2 else best.policy[None, :]  # no limit: stationary
    return Plan(best.value, best.values, policy)


def evaluate_policy(env: FrozenLakeEnv, policy: np.ndarray) -> float:
    """Exact probability that the stationary ``policy`` (one action per state) reaches the goal
    from the start within the step limit (for any env with a model: its expected return)."""
    result = policy_return(_lake_model(env), policy)
    return float("nan") if result.value is None else result.value


def greedy_success(env: FrozenLakeEnv, q_values: np.ndarray) -> float:
    """Exact success probability of the greedy policy of a Q-table (ties go to the first action)."""
    return evaluate_policy(env, np.asarray(q_values).argmax(axis=1))
