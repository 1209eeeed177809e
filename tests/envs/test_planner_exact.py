"""The planner's horizon by hand: success within T steps on lakes small enough to count."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs.frozenlake import DOWN, LEFT, RIGHT, UP
from envs.planner import evaluate_policy, greedy_success, judge, plan, policy_return, solve
from envs.tabular_model import exact_model


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_slippery_two_cell_lake_succeeds_with_one_minus_two_thirds_to_the_t(limit):
    # From S every move but LEFT slips onto G with probability 1/3 (else bumps a wall): the
    # chance to arrive within T steps is 1 - (2/3)^T, with any of DOWN, RIGHT, UP.
    env = envs.make("frozenlake", map="SG", slippery=True, max_episode_steps=limit)
    expected = 1 - (2 / 3) ** limit
    assert plan(env).success_probability == pytest.approx(expected, rel=1e-12)
    for action, chance in ((LEFT, 0.0), (DOWN, expected), (RIGHT, expected), (UP, expected)):
        policy = np.full(2, action)
        assert evaluate_policy(env, policy) == pytest.approx(chance, rel=1e-12, abs=1e-15)


def test_a_corridor_needs_as_many_steps_as_cells():
    for limit, expected in ((1, 0.0), (2, 1.0), (3, 1.0)):
        env = envs.make("frozenlake", map="SFG", slippery=False, max_episode_steps=limit)
        assert plan(env).success_probability == expected, limit
        assert evaluate_policy(env, np.full(3, RIGHT)) == expected, limit
    env = envs.make("frozenlake", map="SFG", slippery=False, max_episode_steps=2)
    best = plan(env)
    # Row t: the best action with t + 1 steps left. One step left: only F can still arrive.
    assert best.policy.shape == (2, 3) and best.policy[0, 1] == RIGHT and best.policy[1, 0] == RIGHT
    assert best.first_step_policy[0] == RIGHT
    assert best.values[:2].tolist() == [1.0, 1.0]  # both arrive within 2 steps


def test_a_time_dependent_policy_is_scored_row_by_row():
    env = envs.make("frozenlake", map="SFG", slippery=False, max_episode_steps=2)
    model = exact_model(env)
    # RIGHT with 2 steps left, LEFT with 1: S -> F, then back: never arrives.
    back = np.array([[LEFT, LEFT, LEFT], [RIGHT, RIGHT, RIGHT]])
    assert policy_return(model, back).value == 0.0
    assert policy_return(model, back[::-1]).value == 0.0  # LEFT first: stuck at S
    assert policy_return(model, np.full((2, 3), RIGHT)).value == 1.0
    with pytest.raises(ValueError, match="T = the step limit 2"):
        policy_return(model, np.full((3, 3), RIGHT))


def test_holes_end_the_episode_without_reward():
    env = envs.make("frozenlake", map="SF,HG", slippery=False, max_episode_steps=2)
    assert plan(env).success_probability == 1.0  # around the hole: RIGHT then DOWN
    q = np.zeros((4, 4))
    q[0, DOWN] = 1.0  # straight into the hole
    assert greedy_success(env, q) == 0.0
    q[0] = [0, 0, 1, 0]
    q[1] = [0, 1, 0, 0]
    assert greedy_success(env, q) == 1.0
    q[1] = [0, 0, 0, 1]  # F bumps the wall upward for ever: out of time, no reward
    assert greedy_success(env, q) == 0.0


def test_optimum_counts_from_the_start_state_only():
    env = envs.make("frozenlake", map="SFFG", slippery=False, max_episode_steps=2)
    best = solve(exact_model(env))
    assert best.value == 0.0  # the goal is 3 steps from S
    assert best.values.tolist()[1:3] == [1.0, 1.0]  # but 2 and 1 steps from F, F


def test_judge_reports_the_ratio_only_where_it_means_something():
    env = envs.make("frozenlake", map="SG", slippery=True, max_episode_steps=2)
    model = exact_model(env)
    verdict = judge(model, np.full(2, DOWN))
    assert verdict.optimal_return == pytest.approx(5 / 9) and not verdict.never_ends
    assert verdict.exact_return == pytest.approx(5 / 9) and verdict.gap == pytest.approx(0.0)
    assert verdict.ratio == pytest.approx(1.0)
    worse = judge(model, np.array([LEFT, LEFT]))
    assert (worse.exact_return, worse.ratio) == (0.0, 0.0)
    assert worse.gap == pytest.approx(5 / 9)
    # An optimum of 0 (the goal out of reach in time) has no ratio, and no division by it.
    short = exact_model(envs.make("frozenlake", map="SFG", slippery=False, max_episode_steps=1))
    assert judge(short, np.full(3, RIGHT)).ratio is None
    # Negative returns (CliffWalking: -1 a step) have no ratio either, only a gap.
    cliff = exact_model(envs.make_env("CliffWalking-v1"))
    best = solve(cliff)
    on_edge = judge(cliff, best.policy, optimum=best)
    assert on_edge.ratio is None and on_edge.gap == 0.0 and on_edge.exact_return == -13.0


@pytest.mark.parametrize(
    "policy, message",
    [
        (np.array([0, 4, 0]), r"^policy actions must be in \[0, 4\)"),
        (np.array([0, -1, 0]), r"^policy actions must be in \[0, 4\)"),
        (np.array([0, 0]), r"^policy must have one action per state \(3\), got \(2,\)"),
        (np.zeros((2, 2, 3), int), r"^policy must have one action per state \(3\)"),
        (np.zeros((3, 3), int), r"^a \(T, S\) policy needs T = the step limit 2"),
    ],
)
def test_malformed_policies_are_refused(policy, message):
    model = exact_model(envs.make("frozenlake", map="SFG", slippery=False, max_episode_steps=2))
    with pytest.raises(ValueError, match=message):
        policy_return(model, policy)
