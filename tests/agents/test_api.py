"""The Python API: ``from agents import DQN, TabularQ, ClassicQNet``; learn, predict, evaluate,
save, and load in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents import DQN, ClassicQNet, TabularQ
from common.errors import UsageError

REPO = Path(__file__).resolve().parents[2]


def fresh_process(code: str) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_tabular_learns_predicts_and_loads_in_a_fresh_process(tmp_path):
    agent = TabularQ("FrozenLake-v1", seed=0, env_options={"is_slippery": False}, lr=0.5)
    agent.learn(steps=4_000, logdir=tmp_path / "run")
    assert agent.summary["env_steps"] >= 4_000
    assert agent.evaluate(episodes=5)["exact_return"] == 1.0  # the deterministic lake, solved
    single = agent.predict(0)
    batch = agent.predict(np.arange(16))
    assert isinstance(single, int) and batch.shape == (16,) and batch[0] == single
    # epsilon-greedy when asked: some of 200 actions differ from the greedy one
    assert (agent.predict(np.zeros(200, dtype=int), epsilon=1.0) != single).any()
    loaded = fresh_process(
        "from agents import TabularQ\n"
        f"a = TabularQ.load({str(tmp_path / 'run')!r})\n"
        "print(a.predict(list(range(16))).tolist())"
    )
    assert json.loads(loaded) == batch.tolist()


def test_dqn_on_cartpole_round_trips_through_a_run_folder(tmp_path):
    agent = DQN("CartPole-v1", seed=0, lr=5e-4, learning_starts=100, num_envs=4)
    assert agent.config.agent_config.hidden == (64, 64)  # CartPole's recipe, not the lake's
    assert agent.config.agent_config.lr == 5e-4
    agent.learn(steps=800, logdir=tmp_path / "run", eval_every=400, eval_episodes=2)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    actions = agent.predict(obs)
    assert actions.shape == (5,) and agent.predict(obs[0]) == actions[0]
    summary_checkpoint = DQN.load(agent.summary["checkpoint"])  # a TF checkpoint prefix
    assert summary_checkpoint.predict(obs).shape == (5,)
    normaliser = agent.agent.featurizer  # Box vectors: running mean and variance, checkpointed
    assert normaliser.stateful and normaliser.count >= 400
    again = DQN.load(tmp_path / "run")
    np.testing.assert_allclose(again.agent.featurizer.mean, normaliser.mean)
    np.testing.assert_allclose(again.agent.featurizer.var, normaliser.var)
    result = agent.evaluate(episodes=3)
    assert result["episodes"] == 3 and result["return_mean"] >= 8 and "exact_return" not in result
    loaded = fresh_process(
        "import numpy as np\nfrom agents import DQN\n"
        f"a = DQN.load({str(tmp_path / 'run')!r})\n"
        "obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)\n"
        "print(a.predict(obs).tolist())"
    )
    assert json.loads(loaded) == actions.tolist()


def test_save_and_load_refuse_what_does_not_fit(tmp_path):
    agent = TabularQ("Taxi-v4", seed=1)
    agent.learn(steps=500)
    path = agent.save(tmp_path / "taxi")
    again = TabularQ.load(path)
    np.testing.assert_array_equal(again.agent.q_table(), agent.agent.q_table())
    with pytest.raises(UsageError, match="load it with TabularQ.load"):
        DQN.load(path)
    with pytest.raises(UsageError, match="trained on Taxi-v4, not CliffWalking-v1"):
        TabularQ.load(path, env="CliffWalking-v1")
    with pytest.raises(UsageError, match="neither a run folder"):
        TabularQ.load(tmp_path)
    # the summary's "checkpoint" (a file inside the run folder) loads too
    same = TabularQ.load(path / "checkpoints" / "checkpoint.npz")
    np.testing.assert_array_equal(same.agent.q_table(), agent.agent.q_table())


def test_an_env_object_and_the_classic_network(tmp_path):
    env = gym.make("FrozenLake-v1", is_slippery=False)
    agent = TabularQ(env, seed=0, lr=0.5).learn(steps=3_000)
    assert agent.evaluate(episodes=3)["return_mean"] == 1.0
    classic = ClassicQNet("frozenlake", seed=0, slippery=False).learn(episodes=300)
    assert classic.evaluate(episodes=0)["exact_return"] == 1.0


def test_options_are_checked_as_flags_are():
    with pytest.raises(UsageError, match="--lr must be in"):
        TabularQ("Taxi-v4", lr=2.0)
    with pytest.raises(UsageError, match="does not apply to tabular"):
        TabularQ("Taxi-v4", hidden=(8,))
    with pytest.raises(UsageError, match="needs Discrete states"):
        TabularQ("CartPole-v1")


@pytest.mark.parametrize("asynchronous", [False, True])
def test_truncation_bootstraps_and_termination_does_not_on_a_gymnasium_time_limit(asynchronous):
    """CartPole cut at 5 steps: every transition that ends an episode is a truncation (random
    play keeps the pole up longer), so each bootstraps with gamma; at the registered 500 steps
    the pole falls first, and those transitions do not bootstrap (discount 0)."""
    short = DQN(
        "CartPole-v1", seed=0, max_episode_steps=5, num_envs=2, learning_starts=10**6,
        async_envs=asynchronous, n_step=1,
    )  # fmt: skip
    short.learn(steps=200, eval_every=0, eval_episodes=0)
    buffer = short.agent.buffer
    discounts = buffer.discounts[: len(buffer)]
    assert len(buffer) >= 190 and (discounts == np.float32(0.99)).all()
    full = DQN("CartPole-v1", seed=0, num_envs=2, learning_starts=10**6, n_step=1)
    full.learn(steps=400, eval_every=0, eval_episodes=0)
    discounts = full.agent.buffer.discounts[: len(full.agent.buffer)]
    ends = int(full.run.end_episodes)
    assert ends > 0 and int((discounts == 0).sum()) == ends  # each episode ended by a fall
