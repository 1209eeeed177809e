"""Evaluation of a greedy policy: sampled over seeded episodes, and exact from the planner."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.planner import evaluate_policy


@dataclass(frozen=True)
class Evaluation:
    sampled_success_rate: float
    mean_return: float
    exact_success_rate: float
    episodes: int


def sample_policy(env, policy: np.ndarray, episodes: int, seed: int) -> tuple[float, float]:
    """Success rate and mean return of a state -> action table over ``episodes`` seeded episodes.
    The table is indexed by the env's true state, so image envs are scored the same way."""
    actions = np.asarray(policy).tolist()
    base = env.unwrapped
    total, successes = 0.0, 0
    for i in range(episodes):
        env.reset(seed=seed) if i == 0 else env.reset()
        episode_return = 0.0
        while True:
            _, reward, terminated, truncated, _ = env.step(actions[base.state])
            episode_return += reward
            if terminated or truncated:
                break
        total += episode_return
        successes += episode_return > 0
    return successes / episodes, total / episodes


def evaluate(agent, env, episodes: int, seed: int) -> Evaluation:
    """Greedy policy of ``agent`` (from its Q-table over all states) on a separate ``env``."""
    policy = agent.q_table().argmax(axis=1)
    exact = evaluate_policy(env, policy)
    if episodes > 0:
        sampled, mean_return = sample_policy(env, policy, episodes, seed)
    else:
        sampled, mean_return = float("nan"), float("nan")
    return Evaluation(sampled, mean_return, exact, episodes)
