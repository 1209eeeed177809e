"""The TensorFlow Q-network agents: DQN family and the classic one-layer network."""

import numpy as np
import pytest

import envs
from agents.checkpoint import CheckpointError
from agents.classic import ClassicConfig, ClassicQNetworkAgent
from agents.dqn import DQNAgent, DQNConfig
from agents.loop import Callback, train
from envs.frozenlake import RIGHT
from envs.planner import greedy_success

SMALL = dict(num_envs=4, batch_size=16, learning_starts=16, buffer_size=2_000, hidden=(16,))


def dqn(map="4x4", slippery=True, max_episode_steps=None, seed=0, encoder=None, **overrides):
    cfg = DQNConfig(**{**SMALL, **overrides})
    venv = envs.make_vector(
        "frozenlake", cfg.num_envs, map=map, slippery=slippery, max_episode_steps=max_episode_steps
    )
    return DQNAgent(venv, cfg, seed, encoder=encoder)


def transitions(agent):
    b = agent.buffer
    return [
        (
            int(b.obs[i].argmax()),
            int(b.actions[i]),
            float(b.rewards[i]),
            int(b.next_obs[i].argmax()),
            float(b.discounts[i]),
        )
        for i in range(len(b))
    ]


def test_vector_env_matches_single_env_dynamics():
    venv = envs.make_vector("frozenlake", 3000, slippery=True)
    venv.reset(seed=0)
    states, rewards, terminated, truncated, infos = venv.step(
        np.full(3000, 1)
    )  # DOWN from the start
    # From 0, DOWN goes to 4, or slips LEFT (stays at 0) or RIGHT (to 1): a third each.
    counts = np.bincount(states, minlength=16)[[0, 1, 4]] / 3000
    assert np.allclose(counts, 1 / 3, atol=0.04)
    assert not terminated.any() and not truncated.any() and rewards.sum() == 0


def test_vector_env_autoresets_in_the_same_step():
    venv = envs.make_vector("frozenlake", 2, map="SG", slippery=False)
    venv.reset(seed=0)
    states, rewards, terminated, _, infos = venv.step(np.array([RIGHT, 0]))
    assert terminated.tolist() == [True, False] and rewards.tolist() == [1.0, 0.0]
    assert (
        states.tolist() == [0, 0]
        and infos["final_obs"][0] == 1
        and infos["_final_obs"].tolist() == [True, False]
    )


def test_terminated_does_not_bootstrap_and_truncated_does():
    agent = dqn(
        map="SFG",
        slippery=False,
        max_episode_steps=1,
        epsilon_start=0,
        epsilon_end=0,
        num_envs=1,
        learning_starts=10**9,
    )
    agent.train_chunk(1)  # greedy on zero-initialised... whatever action: one step, then the limit
    ((obs, action, reward, next_obs, discount),) = transitions(agent)
    assert discount == pytest.approx(0.99)  # truncated: bootstraps
    agent = dqn(
        map="SG", slippery=False, epsilon_start=1, epsilon_end=1, num_envs=1, learning_starts=10**9
    )
    for _ in range(200):  # random actions: RIGHT reaches the goal a quarter of the time
        if any(t[2] == 1.0 for t in transitions(agent)):
            break
        agent.train_chunk(1)
    goal = [t for t in transitions(agent) if t[2] == 1.0]
    assert goal, "200 random episodes never reached the goal"
    assert all(t[4] == 0.0 for t in goal)  # terminated: no bootstrap
    # Every other transition of this one-step lake ends in a hole-free wall bump: bootstraps.
    assert all(t[4] == pytest.approx(0.99) for t in transitions(agent) if t[2] == 0.0)


def test_n_step_returns():
    agent = dqn(
        map="SFFG",
        slippery=False,
        n_step=2,
        gamma=0.5,
        epsilon_start=0,
        epsilon_end=0,
        num_envs=1,
        learning_starts=10**9,
    )
    agent.mirror.set_weights(
        [np.zeros((4, 16)), np.zeros(16), np.zeros((16, 4)), np.array([0, 0, 1, 0.0])]
    )
    agent.train_chunk(1)  # always RIGHT: 0 -> 1 -> 2 -> 3 (goal)
    got = sorted(transitions(agent))
    assert got == [
        (0, RIGHT, 0.0, 2, 0.25),  # two steps, then bootstrap with gamma^2
        (1, RIGHT, 0.5, 3, 0.0),  # 0 + 0.5 * 1, episode over
        (2, RIGHT, 1.0, 3, 0.0),
    ]


def test_dqn_learns_the_deterministic_lake():
    agent = dqn(slippery=False, epsilon_decay=3000, lr_decay=0, lr_end=1e-3, train_every=4, seed=1)
    train(agent, 600)
    assert greedy_success(envs.make("frozenlake", slippery=False), agent.q_table()) == 1.0
    assert agent.updates > 0


def test_dqn_checkpoint_round_trip(tmp_path):
    agent = dqn(save_replay=True)
    train(agent, 60)
    agent.save(tmp_path)
    fresh = dqn(save_replay=True, seed=5)
    fresh.restore(tmp_path)
    assert (fresh.episodes, fresh.env_steps, fresh.updates) == (
        agent.episodes,
        agent.env_steps,
        agent.updates,
    )
    for a, b in zip(
        agent.online.get_weights() + agent.target.get_weights(),
        fresh.online.get_weights() + fresh.target.get_weights(),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fresh.q_table(), agent.q_table())
    assert len(fresh.buffer) == len(agent.buffer)
    np.testing.assert_array_equal(fresh.rng.random(3), agent.rng.random(3))
    train(fresh, 80)  # and it trains on
    assert fresh.episodes >= 80


def test_dqn_checkpoint_mismatch_and_corruption(tmp_path):
    agent = dqn()
    train(agent, 20)
    agent.save(tmp_path)
    with pytest.raises(CheckpointError, match="hidden"):
        dqn(hidden=(8, 8)).restore(tmp_path)
    with pytest.raises(CheckpointError, match="another environment"):
        dqn(map="8x8").restore(tmp_path)
    for path in tmp_path.glob("*.index"):
        path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt or unreadable"):
        dqn().restore(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        dqn().restore(tmp_path / "empty")


def classic(seed=0, **env_options):
    env = envs.make("frozenlake", **env_options)
    return env, ClassicQNetworkAgent(env, ClassicConfig(), seed)


def test_classic_network_is_the_2017_one():
    _, agent = classic()
    kernel = agent.q_table()
    assert kernel.shape == (16, 4) and len(agent.model.weights) == 1  # no bias
    assert kernel.min() >= 0.0 and kernel.max() <= 0.01
    assert agent.exploration_rate == pytest.approx(0.1)


def test_classic_update_is_sgd_on_summed_squared_td_error():
    env, agent = classic(map="SFG", slippery=False, max_episode_steps=1)
    before = agent.q_table()
    batch = agent.train_chunk(1)  # one step, then truncated
    after = agent.q_table()
    changed = np.argwhere(before != after)
    assert batch.lengths.tolist() == [1] and len(changed) == 1
    s, a = changed[0]
    assert s == 0
    next_state = {0: 0, 1: 0, 2: 1, 3: 0}[
        a
    ]  # LEFT/UP hit the wall, DOWN too (one row), RIGHT moves
    target = 0.99 * before[next_state].max()
    # d/dW sum((target - q)^2) = -2 (target - q): SGD with lr 0.1 moves q by 0.2 (target - q)
    assert after[s, a] == pytest.approx(before[s, a] + 0.2 * (target - before[s, a]), rel=1e-5)


def test_classic_learns_the_deterministic_lake():
    env, agent = classic(slippery=False)
    run = train(agent, 400)
    assert greedy_success(env, agent.q_table()) == 1.0
    assert run.success_fraction > 0.5


class StopAt(Callback):
    def __init__(self, episode):
        self.episode = episode

    def on_chunk_end(self, run, batch):
        run.stop_requested = run.episodes >= self.episode


def test_classic_resume_is_exact(tmp_path):
    _, full = classic(seed=3)
    train(full, 300)
    _, first = classic(seed=3)
    train(first, 300, [StopAt(100)])
    first.save(tmp_path)
    _, resumed = classic(seed=3)
    resumed.restore(tmp_path)
    train(resumed, 300)
    np.testing.assert_array_equal(resumed.q_table(), full.q_table())
    assert resumed.env_steps == full.env_steps


def test_dqn_on_pixels_with_a_frozen_encoder_and_end_to_end(tmp_path):
    import keras

    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    features = keras.layers.Dense(8)(keras.layers.Flatten()(x))
    path = tmp_path / "encoder.keras"
    keras.Model(inputs, features).save(path)

    for encoder, shape in ((f"autoencoder:{path}", (8,)), ("cnn", (32, 32, 1))):
        cfg = DQNConfig(**{**SMALL, "num_envs": 2})
        agent = DQNAgent(envs.make_vector("frozenlake-pixels", 2), cfg, 0, encoder=encoder)
        assert agent.input_shape == shape
        before = [w.copy() for w in agent.online.get_weights()]
        for _ in range(20):  # one compiled call covers 128 env steps
            if agent.updates:
                break
            train(agent, agent.episodes + 10)
        assert agent.updates > 0, "no update after 20 training calls"
        after = agent.online.get_weights()
        # The Q head learns; end to end (cnn) the torso's convolutions learn with it.
        assert not np.array_equal(before[-1], after[-1]) and np.isfinite(agent.q_table()).all()
        assert agent.q_table().shape == (16, 4)
        if encoder == "cnn":
            assert agent.buffer.obs.dtype == np.uint8  # images stay compact in replay
            assert before[0].ndim == 4 and not np.array_equal(before[0], after[0])  # 1st conv


def test_encoder_on_a_discrete_env_is_refused():
    from common.errors import UsageError

    with pytest.raises(UsageError, match="--encoder is for image observations"):
        dqn(encoder="cnn")


# The deterministic pixel lake in seconds: a constant rate, short exploration, frequent updates.
PIXELS = {
    **SMALL,
    "hidden": (64,),
    "epsilon_decay": 3000,
    "lr_decay": 0,
    "lr_end": 1e-3,
    "train_every": 4,
}


def test_dqn_learns_the_deterministic_lake_from_pixels():
    # Raw lake images share almost every pixel; without centring the MLP never separates states.
    cfg = DQNConfig(**PIXELS)
    agent = DQNAgent(envs.make_vector("frozenlake-pixels", cfg.num_envs, slippery=False), cfg, 1)
    train(agent, 700)
    assert greedy_success(envs.make("frozenlake-pixels", slippery=False), agent.q_table()) == 1.0


def test_lake_autoencoder_trained_by_networks_is_a_featurizer_for_the_pixels_agent(
    tmp_path, monkeypatch
):
    # The path a user takes: networks.train lake-autoencoder, then --encoder autoencoder:PATH.
    from networks import datasets
    from networks.train import TrainConfig
    from networks.train import train as train_network

    monkeypatch.setattr(datasets, "LAKE_MAPS", {"train": 40, "val": 2, "test": 2})
    summary = train_network(
        TrainConfig(
            model="lake-autoencoder",
            epochs=8,  # 4 leave the code too rough for 700 episodes on some data orders
            batch_size=32,
            logdir=str(tmp_path / "ae"),
            progress=False,
        )
    )
    assert summary["history"]["loss"][-1] < summary["history"]["loss"][0]
    cfg = DQNConfig(**PIXELS)
    venv = envs.make_vector("frozenlake-pixels", cfg.num_envs, slippery=False)
    agent = DQNAgent(venv, cfg, 1, encoder=f"autoencoder:{summary['saved_encoder']}")
    assert agent.input_shape == (32,)
    train(agent, 700)
    assert greedy_success(envs.make("frozenlake-pixels", slippery=False), agent.q_table()) == 1.0


def test_dqn_is_built_on_a_given_featurizer():
    from perception.featurizers import OneHot

    built = dqn()
    given = DQNAgent(built.venv, built.config, 0, featurizer=OneHot(16))
    assert given.featurizer.tag == built.featurizer.tag == "one-hot"
    for a, b in zip(built.online.get_weights(), given.online.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [layer.name for layer in given.online.layers] == ["observation", "hidden_0", "q_values"]
