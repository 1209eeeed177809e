"""The tabular agent step by step against an oracle that replays its random stream: actions
(epsilon-greedy with random tie-breaking, or the 2017 noisy argmax), Q updates, and the counters
the summary reports (episodes, env steps, returns, lengths, mean |TD error|)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs
from agents.config import TabularConfig
from agents.tabular import TabularQAgent


class Recorder(gym.Wrapper):
    """Every (state, action, reward, next state, terminated, truncated) the agent lived."""

    def __init__(self, env):
        super().__init__(env)
        self.steps, self.state = [], None

    def reset(self, **kwargs):
        self.state, info = self.env.reset(**kwargs)
        return self.state, info

    def step(self, action):
        nxt, reward, terminated, truncated, info = self.env.step(action)
        self.steps.append((self.state, int(action), reward, nxt, terminated, truncated))
        self.state = nxt
        return nxt, reward, terminated, truncated, info


def oracle(steps, seed, cfg, n_states=16, n_actions=4):
    """Replay the agent's choices from its seed and check each one; return Q, |TD| sum and the
    episodes' (return, length)."""
    rng, q = np.random.default_rng(seed), np.zeros((n_states, n_actions))
    td_abs, episodes, total, length, episode = 0.0, [], 0.0, 0, 0
    for s, a, r, nxt, terminated, truncated in steps:
        row = q[s].tolist()
        if cfg.exploration == "noisy":
            noise = rng.standard_normal(n_actions) * (1.0 / (episode + 1))
            expected = int(np.argmax(np.asarray(row) + noise))
        elif rng.random() < cfg.epsilon_start:  # constant epsilon in these configs
            expected = int(rng.random() * n_actions)
        else:
            ties = [b for b in range(n_actions) if row[b] == max(row)]
            expected = ties[int(rng.random() * len(ties))] if len(ties) > 1 else ties[0]
        assert a == expected
        target = r if terminated else r + cfg.gamma * q[nxt].max()
        td = target - q[s, a]
        q[s, a] += cfg.lr * td
        td_abs += abs(td)
        total, length = total + r, length + 1
        if terminated or truncated:
            episodes.append((total, length))
            total, length, episode = 0.0, 0, episode + 1
    return q, td_abs, episodes


CONSTANT = dict(lr=0.3, lr_end=0.3, lr_decay=0, gamma=0.9)


def frozenlake():
    return envs.make("frozenlake", slippery=True, max_episode_steps=12)


def cliffwalking():
    """-1 a step, -100 off the cliff: every TD error and return is non-zero (the lake's are
    mostly 0, where a wrong sum or scale would go unseen)."""
    return gym.wrappers.TimeLimit(envs.make_env("CliffWalking-v1").unwrapped, 25)


@pytest.mark.parametrize("make_env", [frozenlake, cliffwalking])
@pytest.mark.parametrize(
    "options",
    [
        dict(exploration="epsilon", epsilon_start=0.3, epsilon_end=0.3, epsilon_decay=0),
        dict(exploration="epsilon", epsilon_start=0.0, epsilon_end=0.0, epsilon_decay=0),
        dict(exploration="noisy"),
    ],
    ids=["epsilon", "greedy-ties", "noisy"],
)
def test_every_step_and_counter_matches_the_oracle(options, make_env):
    cfg = TabularConfig(**CONSTANT, **options)
    env = Recorder(make_env())
    agent = TabularQAgent(env, cfg, seed=3)
    assert (agent.episodes, agent.env_steps) == (0, 0)
    first = agent.train_chunk(7)
    second = agent.train_chunk(5)
    n_states = agent.q_table().shape[0]
    q, td_abs, episodes = oracle(env.steps, 3, cfg, n_states)
    np.testing.assert_allclose(agent.q_table(), q, rtol=1e-12, atol=1e-15)
    assert agent.episodes == 12 == len(episodes) and agent.env_steps == len(env.steps)
    for batch, eps in ((first, episodes[:7]), (second, episodes[7:])):
        assert batch.returns.tolist() == [r for r, _ in eps]
        assert batch.lengths.tolist() == [n for _, n in eps]
        assert batch.env_steps == sum(n for _, n in eps)
    # The logged loss is the mean |TD error| per env step of the chunk.
    _, td_first, _ = oracle(env.steps[: first.env_steps], 3, cfg, n_states)
    assert td_first > 0 or make_env is frozenlake
    assert first.metrics["losses/td_abs"] == pytest.approx(td_first / first.env_steps)
    assert second.metrics["losses/td_abs"] == pytest.approx((td_abs - td_first) / second.env_steps)
    if cfg.exploration == "noisy":
        assert agent.exploration_rate == pytest.approx(1 / 13)  # 1 / (episodes + 1)


def test_a_step_budget_stops_after_the_episode_that_reaches_it():
    env = envs.make("frozenlake", map="SFG", slippery=False, max_episode_steps=1)
    agent = TabularQAgent(env, TabularConfig(), seed=0)
    batch = agent.train_chunk(100, max_steps=3)
    assert batch.lengths.tolist() == [1, 1, 1] and agent.env_steps == 3


def test_the_clock_is_episodes_unless_only_steps_bound_the_run():
    env = envs.make("frozenlake", slippery=True)
    cfg = TabularConfig(
        epsilon_start=1.0, epsilon_end=0.0, epsilon_fraction=1.0, epsilon_decay=None
    )
    agent = TabularQAgent(env, cfg, seed=0)
    agent.set_budget(None, 1000)  # a step budget: epsilon decays over 1,000 env steps
    agent.train_chunk(3)
    assert agent.exploration_rate == pytest.approx(1 - agent.env_steps / 1000)
    agent.set_budget(100, 1000)  # episodes given: epsilon decays over 100 episodes
    assert agent.exploration_rate == pytest.approx(1 - 3 / 100)
    agent.set_budget(100, None)
    assert agent.exploration_rate == pytest.approx(1 - 3 / 100)
