"""Every vector env the env layer hands out autoresets in the same step, flags exact."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import envs
from common.errors import UsageError
from envs.cartpole import SameStepCartPoleVectorEnv
from envs.gym_vector import SameStepAutoreset, make_vector_env, same_step

TOY = "tests.envs.toy_envs:dltf_test/Counter-v0"  # obs = steps taken; TimeLimit 3


def close(venv):
    venv.close()


@pytest.mark.parametrize("asynchronous", [False, True])
def test_truncation_on_a_time_limit_env(asynchronous):
    venv = make_vector_env(TOY, {}, 3, seed=0, asynchronous=asynchronous)
    try:
        assert venv.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
        obs, _ = venv.reset(seed=0)
        assert obs[:, 0].tolist() == [0, 0, 0]
        # env 0 goes on until the limit, env 1 ends itself at step 2, env 2 at step 3 (both flags)
        plans = [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]
        seen = []
        for t in range(4):
            obs, rewards, term, trunc, infos = venv.step(np.array([p[t] for p in plans]))
            seen.append((obs[:, 0].tolist(), term.tolist(), trunc.tolist()))
            done = term | trunc
            if done.any():
                assert infos["_final_obs"].tolist() == done.tolist()
                finals = {int(i): float(infos["final_obs"][i][0]) for i in np.flatnonzero(done)}
            else:
                assert "final_obs" not in infos or not np.any(infos.get("_final_obs", False))
                finals = {}
            seen[-1] += (finals, rewards.tolist())
        assert seen[0] == ([1, 1, 1], [False] * 3, [False] * 3, {}, [1, 1, 1])
        assert seen[1] == ([2, 0, 2], [False, True, False], [False] * 3, {1: 2.0}, [2, 2, 2])
        # env 0: truncated (not terminated) at the limit, final obs 3, back at 0
        # env 2: terminated at the limit step: both flags, as TimeLimit reports them
        assert seen[2] == (
            [0, 1, 0],
            [False, False, True],
            [True, False, True],
            {0: 3.0, 2: 3.0},
            [3, 1, 3],
        )
        assert seen[3] == ([1, 2, 1], [False] * 3, [False] * 3, {}, [1, 2, 1])
    finally:
        close(venv)


def test_async_cartpole_truncated_final_obs_is_the_single_envs():
    venv = make_vector_env("CartPole-v1", {}, 2, seed=0, asynchronous=True, max_episode_steps=5)
    single = envs.make_env("CartPole-v1", max_episode_steps=5)
    try:
        assert isinstance(venv, gym.vector.AsyncVectorEnv)
        venv.reset(seed=7)
        expected, _ = single.reset(seed=7)
        for t in range(5):
            obs, _, term, trunc, infos = venv.step(np.array([t % 2, t % 2]))
            expected, _, s_term, s_trunc, _ = single.step(t % 2)
        assert not term.any() and trunc.all() and s_trunc and not s_term
        np.testing.assert_array_equal(infos["final_obs"][0], expected)
        next_first, _ = single.reset()
        np.testing.assert_array_equal(obs[0], next_first)
    finally:
        close(venv)


def test_batched_cartpole_has_the_single_envs_dynamics_and_limit():
    venv = make_vector_env("CartPole-v1", {}, 3, seed=0, max_episode_steps=5)
    assert isinstance(venv, SameStepCartPoleVectorEnv)
    assert venv.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    single = envs.make_env("CartPole-v1", max_episode_steps=5)
    assert venv.identity == str(single.spec)
    venv.reset(seed=3)
    single.reset(seed=3)
    venv.state[:, 1] = single.unwrapped.state  # copy 1 starts where the single env does
    for t in range(5):
        obs, rewards, term, trunc, infos = venv.step(np.array([1, t % 2, 0]))
        expected, reward, s_term, s_trunc, _ = single.step(t % 2)
        assert rewards[1] == reward and term[1] == s_term and trunc[1] == s_trunc
        if t < 4:
            np.testing.assert_allclose(obs[1], expected, rtol=1e-6, atol=1e-7)
    assert trunc.all() and not term.any()
    np.testing.assert_allclose(infos["final_obs"][1], expected, rtol=1e-6, atol=1e-7)
    assert infos["_final_obs"].all() and np.abs(obs).max() <= 0.05  # fresh episodes


def test_batched_cartpole_episodes_end_as_cartpoles_do():
    limit = 40
    venv = make_vector_env("CartPole-v1", {}, 16, seed=0, max_episode_steps=limit)
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    lengths = np.zeros(16, dtype=int)
    ends = 0
    for _ in range(300):
        obs, rewards, term, trunc, infos = venv.step(rng.integers(0, 2, 16))
        lengths += 1
        assert (rewards == 1.0).all()
        assert np.array_equal(trunc, lengths >= limit)
        done = term | trunc
        for i in np.flatnonzero(done):
            x, _, theta, _ = infos["final_obs"][i]
            fell = abs(x) > 2.4 or abs(theta) > 12 * 2 * np.pi / 360
            assert term[i] == fell
            ends += 1
        for i in np.flatnonzero(~done):
            x, _, theta, _ = obs[i]
            assert abs(x) <= 2.4 and abs(theta) <= 12 * 2 * np.pi / 360
        assert np.abs(obs[done]).max(initial=0) <= 0.05
        lengths[done] = 0
    assert ends > 50


@pytest.mark.parametrize("vectorization", ["sync", "async"])
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED])
def test_other_modes_are_adapted(mode, vectorization):
    raw = gym.make_vec(
        TOY, 2, vectorization_mode=vectorization, vector_kwargs={"autoreset_mode": mode}
    )
    venv = same_step(raw)
    try:
        assert isinstance(venv, SameStepAutoreset)
        assert venv.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
        venv.reset(seed=0)
        obs, _, term, trunc, infos = venv.step(np.array([0, 1]))
        assert term.tolist() == [False, True] and obs[:, 0].tolist() == [1, 0]
        assert float(infos["final_obs"][1][0]) == 1.0 and infos["_final_obs"].tolist() == [0, 1]
        obs, _, term, trunc, infos = venv.step(np.array([0, 0]))
        assert obs[:, 0].tolist() == [2, 1] and not (term | trunc).any()
        obs, _, term, trunc, infos = venv.step(np.array([0, 0]))
        assert term.tolist() == [False, False] and trunc.tolist() == [True, False]
        assert float(infos["final_obs"][0][0]) == 3.0 and obs[:, 0].tolist() == [0, 2]
    finally:
        venv.close()


def test_same_step_envs_pass_through_and_undeclared_ones_are_refused():
    venv = make_vector_env("frozenlake", {"map": "4x4"}, 4, seed=0)
    assert isinstance(venv, envs.FrozenLakeVectorEnv) and same_step(venv) is venv

    class NoMode(gym.vector.VectorEnv):
        metadata: dict = {}

    with pytest.raises(UsageError, match="autoreset_mode"):
        same_step(NoMode())


def test_the_lake_keeps_its_batched_env_and_step_limit():
    venv = make_vector_env("frozenlake", {"map": "8x8"}, 5, seed=0, max_episode_steps=9)
    assert isinstance(venv, envs.FrozenLakeVectorEnv) and venv.max_episode_steps == 9
    pixels = make_vector_env("frozenlake-pixels", {}, 2, seed=0)
    assert pixels.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP


@pytest.mark.parametrize("num_envs", [0, -1, 2.5, True, 10**15])
def test_bad_sizes(num_envs):
    with pytest.raises(UsageError) as exc:
        make_vector_env("CartPole-v1", {}, num_envs, seed=0)
    assert "\n" not in str(exc.value)


def test_bad_names_fail_before_building():
    with pytest.raises(UsageError, match="closest"):
        make_vector_env("CartPol-v1", {}, 2, seed=0)
