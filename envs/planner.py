"""Exact planning on FrozenLake: finite-horizon dynamic programming over the transition table.

The objective is the one a user reads off a run, the probability of reaching the goal within the
step limit. Because the limit makes the problem finite-horizon, the optimum is reached by a policy
that depends on the steps left; :func:`evaluate_policy` scores any stationary policy (such as a
learned greedy one) exactly under the same limit, so learning is judged without sampling noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.frozenlake import FrozenLakeEnv, TransitionTable


@dataclass(frozen=True)
class Plan:
    success_probability: float  # from the start state with the full step limit
    values: np.ndarray  # (S,) success probability from each state with the full step limit
    policy: np.ndarray  # (T, S) best action with t+1 steps left (row T-1 is the first move)

    @property
    def first_step_policy(self) -> np.ndarray:
        return self.policy[-1]


def _backup(table: TransitionTable, values: np.ndarray) -> np.ndarray:
    """Success probability of each (state, action) given ``values`` one step later."""
    ns = table.next_states
    landing = table.goal[ns] + (~table.terminal[ns]) * values[ns]
    q = (table.probs * landing).sum(axis=-1)
    q[table.terminal] = 0.0
    return q


def plan(env: FrozenLakeEnv) -> Plan:
    """The optimal (non-stationary) policy and its success probability within the step limit."""
    env = env.unwrapped
    table, horizon = env.table, env.max_episode_steps
    values = np.zeros(table.n_states)
    policy = np.zeros((horizon, table.n_states), dtype=np.int64)
    for t in range(horizon):
        q = _backup(table, values)
        policy[t] = q.argmax(axis=1)
        values = q.max(axis=1)
    return Plan(float(values[env.start_state]), values, policy)


def evaluate_policy(env: FrozenLakeEnv, policy: np.ndarray) -> float:
    """Exact probability that the stationary ``policy`` (one action per state) reaches the goal
    from the start within the step limit."""
    env = env.unwrapped
    table = env.table
    policy = np.asarray(policy, dtype=np.int64)
    if policy.shape != (table.n_states,):
        raise ValueError(
            f"policy must have one action per state ({table.n_states}), got {policy.shape}"
        )
    rows = np.arange(table.n_states)
    values = np.zeros(table.n_states)
    for _ in range(env.max_episode_steps):
        values = _backup(table, values)[rows, policy]
    return float(values[env.start_state])


def greedy_success(env: FrozenLakeEnv, q_values: np.ndarray) -> float:
    """Exact success probability of the greedy policy of a Q-table (ties go to the first action)."""
    return evaluate_policy(env, np.asarray(q_values).argmax(axis=1))
