import numpy as np
import pytest

import envs
from agents.checkpoint import CheckpointError
from agents.loop import Callback, train
from agents.tabular import TabularConfig, TabularQAgent
from envs.frozenlake import RIGHT
from envs.planner import greedy_success, plan

GREEDY = dict(epsilon_start=0.0, epsilon_end=0.0, lr=0.5, lr_end=0.5)


def test_terminated_transition_does_not_bootstrap():
    env = envs.make("frozenlake", map="SG", slippery=False)
    agent = TabularQAgent(env, TabularConfig(gamma=0.9, **GREEDY), seed=0)
    agent.q[0, RIGHT] = 0.1  # greedy goes right into the goal
    agent.q[1] = 10.0  # a terminal state's values must be ignored
    agent.train_chunk(1)
    assert agent.q[0, RIGHT] == pytest.approx(0.1 + 0.5 * (1.0 - 0.1))


def test_truncated_transition_bootstraps():
    env = envs.make("frozenlake", map="SF,FG", slippery=False, max_episode_steps=1)
    agent = TabularQAgent(env, TabularConfig(gamma=0.9, **GREEDY), seed=0)
    agent.q[0, RIGHT] = 0.1
    agent.q[1] = [0.0, 0.4, 0.0, 0.0]
    batch = agent.train_chunk(1)
    assert batch.lengths.tolist() == [1]
    assert agent.q[0, RIGHT] == pytest.approx(0.1 + 0.5 * (0.9 * 0.4 - 0.1))


def test_learns_near_optimal_policy_on_4x4_slippery():
    env = envs.make("frozenlake")
    agent = TabularQAgent(env, TabularConfig(), seed=0)  # the 4x4 recipe's schedule
    train(agent, 10_000)
    assert greedy_success(env, agent.q) >= 0.97 * plan(env).success_probability


def test_noisy_argmax_recipe_learns_deterministic_lake():
    env = envs.make("frozenlake", slippery=False)
    agent = TabularQAgent(env, TabularConfig(lr=0.85, lr_end=0.85, exploration="noisy"), seed=0)
    train(agent, 300)
    assert greedy_success(env, agent.q) == 1.0


def test_chunk_sizes_do_not_change_the_result():
    def run(max_chunk):
        env = envs.make("frozenlake")
        agent = TabularQAgent(env, TabularConfig(), seed=3)
        train(agent, 500, max_chunk_episodes=max_chunk)
        return agent.q

    np.testing.assert_array_equal(run(1), run(100))


class StopAt(Callback):
    def __init__(self, episode):
        self.episode = episode

    def on_chunk_end(self, run, batch):
        if run.episodes >= self.episode:
            run.stop_requested = True


def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path):
    env = envs.make("frozenlake")
    full = TabularQAgent(env, TabularConfig(), seed=7)
    train(full, 1500)

    first = TabularQAgent(envs.make("frozenlake"), TabularConfig(), seed=7)
    run = train(first, 1500, [StopAt(600)])
    assert run.episodes < 1500
    first.save(tmp_path)

    resumed = TabularQAgent(envs.make("frozenlake"), TabularConfig(), seed=7)
    resumed.restore(tmp_path)
    assert (resumed.episodes, resumed.env_steps) == (first.episodes, first.env_steps)
    train(resumed, 1500)
    np.testing.assert_array_equal(resumed.q, full.q)
    assert resumed.env_steps == full.env_steps


def test_checkpoint_from_another_map_is_refused(tmp_path):
    TabularQAgent(envs.make("frozenlake"), TabularConfig(), seed=0).save(tmp_path)
    other = TabularQAgent(envs.make("frozenlake", map="8x8"), TabularConfig(), seed=0)
    with pytest.raises(CheckpointError, match="another environment"):
        other.restore(tmp_path)


def test_corrupt_checkpoint_is_refused(tmp_path):
    (tmp_path / "checkpoint.npz").write_bytes(b"not a zip file")
    agent = TabularQAgent(envs.make("frozenlake"), TabularConfig(), seed=0)
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        agent.restore(tmp_path)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    agent = TabularQAgent(envs.make("frozenlake"), TabularConfig(), seed=0)
    path = agent.save(tmp_path)
    before = path.read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", explode)
    agent.q[0, 0] = 1.0
    with pytest.raises(OSError):
        agent.save(tmp_path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]
