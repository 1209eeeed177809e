import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.frozenlake import DOWN, LEFT, RIGHT, UP
from envs.maps import InvalidMapError, parse_map, random_map
from envs.planner import evaluate_policy, greedy_success, plan


def test_registered_with_gymnasium_and_passes_check_env():
    env = gymnasium.make("dltf/FrozenLake-v0", map="4x4")
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_make_unknown_name_is_a_usage_error():
    with pytest.raises(envs.UsageError, match="unknown environment 'cartpole'"):
        envs.make("cartpole")


def test_default_step_limits_follow_gymnasium():
    assert envs.make("frozenlake", map="4x4").unwrapped.max_episode_steps == 100
    assert envs.make("frozenlake", map="8x8").unwrapped.max_episode_steps == 200


def test_not_slippery_moves_are_deterministic():
    env = envs.make("frozenlake", slippery=False)
    env.reset(seed=0)
    path = [DOWN, DOWN, RIGHT, RIGHT, DOWN, RIGHT]
    for action in path[:-1]:
        _, reward, terminated, truncated, _ = env.step(action)
        assert (reward, terminated, truncated) == (0.0, False, False)
    state, reward, terminated, _, _ = env.step(path[-1])
    assert (state, reward, terminated) == (15, 1.0, True)


def test_walls_keep_the_agent_in_place_and_holes_terminate():
    env = envs.make("frozenlake", slippery=False)
    env.reset(seed=0)
    assert env.step(LEFT)[0] == 0 and env.step(UP)[0] == 0
    state, reward, terminated, _, _ = env.step(RIGHT)
    state, reward, terminated, _, _ = env.step(DOWN)
    assert (state, reward, terminated) == (5, 0.0, True)


def test_step_limit_truncates_without_terminating():
    env = envs.make("frozenlake", slippery=False, max_episode_steps=3)
    env.reset(seed=0)
    results = [env.step(LEFT) for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]
    assert not any(r[2] for r in results)


def test_slippery_outcomes_match_one_third_each():
    env = envs.make("frozenlake")
    env.reset(seed=1)
    counts = np.zeros(16)
    for _ in range(6000):
        env.unwrapped._state = 6  # middle of the lake: three distinct outcomes for DOWN
        env.unwrapped._steps = 0
        counts[env.step(DOWN)[0]] += 1
    # DOWN from 6 slips to RIGHT (7), goes DOWN (10) or slips LEFT (5)
    assert set(np.flatnonzero(counts)) == {5, 7, 10}
    assert np.allclose(counts[[5, 7, 10]] / 6000, 1 / 3, atol=0.03)


def test_same_seed_same_trajectory():
    def trajectory(seed):
        env = envs.make("frozenlake", map="8x8")
        env.reset(seed=seed)
        return [env.step(a % 4)[0] for a in range(50)]

    assert trajectory(3) == trajectory(3)
    assert trajectory(3) != trajectory(4)


def test_one_hot_wrapper():
    env = envs.make("frozenlake", one_hot=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (16,) and obs.dtype == np.float32 and obs[0] == 1 and obs.sum() == 1
    check_env(env, skip_render_check=True)


def test_ansi_render_marks_the_agent():
    env = envs.make("frozenlake", render_mode="ansi")
    env.reset(seed=0)
    assert env.render().splitlines()[0].startswith("[S]")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("SFF,FH", "not rectangular"),
        ("SFFF,FXFH,FFFH,HFFG", "unknown tile"),
        ("FFFF,FHFH,FFFH,HFFG", "exactly one start"),
        ("SFFS,FHFH,FFFH,HFFG", "exactly one start"),
        ("SFFF,FHFH,FFFH,HFFF", "no goal"),
        ("SHFF,HFFF,FFFF,FFFG", "no goal G is reachable"),
        ("random:1", "random maps are 'random:N'"),
        ("random:x", "random maps are 'random:N'"),
        ("", "empty map"),
    ],
)
def test_bad_maps_are_rejected_with_a_clear_message(spec, message):
    with pytest.raises(InvalidMapError, match=message):
        parse_map(spec)


def test_random_maps_are_seeded_and_solvable():
    assert random_map(8, seed=5) == random_map(8, seed=5)
    assert random_map(8, seed=5) != random_map(8, seed=6)
    for seed in range(20):
        rows = parse_map("random:6", seed=seed)  # parse_map validates reachability
        assert len(rows) == 6 and rows[0][0] == "S" and rows[-1][-1] == "G"


def test_custom_map_round_trip():
    env = envs.make("frozenlake", map="SFFF,FHFH,FFFH,HFFG")
    assert env.unwrapped.rows == parse_map("4x4")


def test_planner_reference_optima():
    assert round(plan(envs.make("frozenlake", map="4x4")).success_probability, 4) == 0.7442
    assert round(plan(envs.make("frozenlake", map="8x8")).success_probability, 4) == 0.9132


def test_planner_not_slippery_reaches_goal_surely():
    assert plan(envs.make("frozenlake", slippery=False)).success_probability == pytest.approx(1.0)


def test_step_limit_bounds_the_optimum():
    # 6 moves is the shortest path on 4x4: with 5 steps nothing can reach the goal.
    assert (
        plan(envs.make("frozenlake", slippery=False, max_episode_steps=5)).success_probability
        == 0.0
    )
    assert (
        plan(envs.make("frozenlake", slippery=False, max_episode_steps=6)).success_probability
        == 1.0
    )


def test_best_stationary_policy_is_below_the_nonstationary_optimum():
    env = envs.make("frozenlake")
    p = plan(env)
    stationary = evaluate_policy(env, p.first_step_policy)
    assert stationary == pytest.approx(0.7402, abs=1e-4)
    assert stationary <= p.success_probability


def test_exact_evaluation_agrees_with_sampling():
    env = envs.make("frozenlake")
    policy = plan(env).first_step_policy
    exact = evaluate_policy(env, policy)
    env.reset(seed=0)
    wins = 0
    n = 4000
    for _ in range(n):
        state, _ = env.reset()
        while True:
            state, reward, terminated, truncated, _ = env.step(int(policy[state]))
            if terminated or truncated:
                wins += reward > 0
                break
    assert abs(wins / n - exact) < 3 * np.sqrt(exact * (1 - exact) / n)


def test_greedy_success_of_a_q_table():
    env = envs.make("frozenlake", slippery=False)
    q = np.zeros((16, 4))
    assert greedy_success(env, q) == 0.0  # always LEFT: never arrives
    for s, a in {0: DOWN, 4: DOWN, 8: RIGHT, 9: RIGHT, 10: DOWN, 14: RIGHT}.items():
        q[s, a] = 1.0
    assert greedy_success(env, q) == 1.0
