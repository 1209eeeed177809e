"""agents.td: the DQN update's TD math by value on hand-computed batches, generated properties,
and the DQN agent's compiled update and n-step collection agreeing with it."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agents import td

# -- hand-computed batches --------------------------------------------------------------------

REWARDS = [1.0, 0.0, 0.5]
DISCOUNTS = [0.9, 0.0, 0.81]  # running (gamma), terminated (0), truncated after 2 steps
NEXT_Q_TARGET = [[1.0, 2.0], [5.0, 3.0], [-1.0, -2.0]]
NEXT_Q_ONLINE = [[3.0, 0.0], [0.0, 1.0], [0.0, 1.0]]  # picks 0, 1, 1: not the target's argmax


def values(x) -> list[float]:
    return np.asarray(x).tolist()


def test_plain_target_bootstraps_on_the_target_networks_max():
    got = td.q_learning_target(REWARDS, DISCOUNTS, NEXT_Q_TARGET)
    # 1 + 0.9 * 2; terminated: the reward alone (5 ignored); 0.5 + 0.81 * -1
    np.testing.assert_allclose(values(got), [2.8, 0.0, -0.31], rtol=1e-6)


def test_double_target_lets_the_online_network_pick_and_the_target_network_score():
    got = td.double_q_learning_target(REWARDS, DISCOUNTS, NEXT_Q_TARGET, NEXT_Q_ONLINE)
    # online picks 0, 1, 1 -> target scores 1, 3, -2: 1 + 0.9 * 1; 0 + 0 * 3; 0.5 + 0.81 * -2
    np.testing.assert_allclose(values(got), [1.9, 0.0, -1.12], rtol=1e-6)
    ties = td.double_q_learning_target([0.0], [1.0], [[7.0, 9.0]], [[4.0, 4.0]])
    assert values(ties) == [7.0]  # a tie picks the first action
    assert values(td.td_target(REWARDS, DISCOUNTS, NEXT_Q_TARGET, NEXT_Q_ONLINE, double=False)) == (
        values(td.q_learning_target(REWARDS, DISCOUNTS, NEXT_Q_TARGET))
    )
    with pytest.raises(ValueError, match="needs next_q_online"):
        td.td_target(REWARDS, DISCOUNTS, NEXT_Q_TARGET)


def test_targets_are_constants_for_the_gradient():
    next_q = tf.Variable(NEXT_Q_TARGET)
    with tf.GradientTape(persistent=True) as tape:
        plain = tf.reduce_sum(td.q_learning_target(REWARDS, DISCOUNTS, next_q))
        double = tf.reduce_sum(td.double_q_learning_target(REWARDS, DISCOUNTS, next_q, next_q))
    assert tape.gradient(plain, next_q) is None and tape.gradient(double, next_q) is None


def test_td_error_is_target_minus_the_chosen_q():
    q = tf.constant([[1.0, 5.0], [3.0, -1.0]])
    chosen = td.chosen_q(q, tf.constant([1, 0]))
    assert values(chosen) == [5.0, 3.0]
    assert values(td.td_error(tf.constant([2.0, 4.0]), chosen)) == [-3.0, 1.0]  # sign: target - q


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: td.q_learning_target([[1.0]], [[1.0]], [[1.0]]), "rewards must have rank 1"),
        (lambda: td.q_learning_target([1.0, 2.0], [1.0], [[1.0], [1.0]]), "rewards and discounts"),
        (lambda: td.q_learning_target([1.0], [1.0], [1.0]), "next_q_target must have rank 2"),
        (lambda: td.q_learning_target([1.0], [1.0], [[1.0], [2.0]]), "same batch size"),
        (
            lambda: td.double_q_learning_target([1.0], [1.0], [[1.0, 2.0]], [[1.0]]),
            "next_q_target and next_q_online",
        ),
        (lambda: td.chosen_q([[1.0, 2.0]], [0, 1]), "q and actions"),
        (lambda: td.td_error([1.0, 2.0], [1.0]), "targets and chosen"),
        (lambda: td.td_loss([[1.0]]), "td must have rank 1"),
        (lambda: td.td_loss([1.0], "l1"), "unknown TD loss 'l1'"),
    ],
)
def test_shapes_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()


TD = [-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]


def test_huber_is_quadratic_inside_one_and_linear_outside():
    assert values(td.huber(tf.constant(TD))) == [2.5, 0.5, 0.125, 0.0, 0.125, 0.5, 2.5]
    assert values(td.huber(tf.constant([-3.0, 1.0, 3.0]), delta=2.0)) == [4.0, 0.5, 4.0]
    assert float(td.td_loss(tf.constant(TD), "huber")) == pytest.approx(6.25 / 7, rel=1e-6)
    assert float(td.td_loss(tf.constant(TD), "mse")) == pytest.approx(20.5 / 7, rel=1e-6)
    x = tf.Variable(TD)
    with tf.GradientTape(persistent=True) as tape:
        h, m = tf.reduce_sum(td.huber(x)), tf.reduce_sum(tf.square(x))
    assert values(tape.gradient(h, x)) == [-1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0]  # clipped
    assert values(tape.gradient(m, x)) == [-6.0, -2.0, -1.0, 0.0, 1.0, 2.0, 6.0]


def test_hard_copies_come_every_period_env_steps():
    # The agent learns once per 128 env steps; with a period of 300 it copies at 384, 768, ...
    last, copies = 0, []
    for steps in range(128, 2000, 128):
        if td.target_copy_due(steps, last, 300, tau=1.0):
            last = steps
            copies.append(steps)
    assert copies == [384, 768, 1152, 1536, 1920]
    assert td.target_copy_due(100, 0, 100, 1.0) and not td.target_copy_due(99, 0, 100, 1.0)
    assert not td.target_copy_due(10**6, 0, 100, tau=0.5)  # Polyak averaging never copies


def test_polyak_averaging_trails_the_online_network():
    target, online = tf.Variable([0.0, 10.0]), tf.Variable([1.0, 0.0])
    seen = []
    for _ in range(3):
        td.polyak_update([target], [online], 0.1)
        seen.append(values(target))
    np.testing.assert_allclose(seen, [[0.1, 9.0], [0.19, 8.1], [0.271, 7.29]], rtol=1e-6)
    td.polyak_update([target], [online], 1.0)
    assert values(target) == [1.0, 0.0]  # tau = 1: a copy
    with pytest.raises(ValueError, match="target and online variables"):
        td.polyak_update([tf.Variable([0.0])], [online], 0.1)


def test_n_step_returns_and_discounts():
    assert values(td.n_step_return(np.array([[1.0, 2.0, 4.0], [0.0, 0.0, 8.0]]), 0.5)) == [3, 2]
    assert values(td.bootstrap_discount(0.5, np.array([1, 2, 3]), np.array([0, 0, 1]))) == [
        0.5,
        0.25,
        0.0,
    ]


def test_episodes_ending_inside_the_window_flush_every_pending_step():
    rewards = np.array([[1.0, 2.0, 4.0], [1.0, 2.0, 100.0], [1.0, 0.0, 0.0]])  # 100: stale slot
    count = np.array([3, 2, 1])
    terminated, done = np.array([True, False, False]), np.array([True, True, False])
    got = [
        (j, rows.tolist(), values(ret), values(disc))
        for j, rows, ret, disc in td.episode_end_windows(rewards, count, terminated, done, 0.5)
    ]
    assert got == [
        # env 0 terminated with 3 pending steps: no bootstrap; env 1 truncated after 2: gamma^2
        (0, [True, True, False], [1 + 1 + 1, 1 + 1], [0.0, 0.25]),
        (1, [True, True, False], [2 + 2, 2], [0.0, 0.5]),
        (2, [True, False, False], [4], [0.0]),
    ]  # env 2 is still running: nothing flushed
    with pytest.raises(ValueError, match="pending counts"):
        list(td.episode_end_windows(rewards, np.array([4, 0, 0]), terminated, done, 0.5))


# -- generated properties ---------------------------------------------------------------------

# No subnormals: TensorFlow on CPU flushes them to zero (1e-45 + 0 * v is 0 there).
floats = st.floats(-100, 100, allow_nan=False, width=32, allow_subnormal=False)


@st.composite
def batches(draw):
    b, a = draw(st.integers(1, 8)), draw(st.integers(1, 5))
    rewards = draw(hnp.arrays(np.float32, b, elements=floats))
    discounts = draw(
        hnp.arrays(np.float32, b, elements=st.floats(0, 1, width=32, allow_subnormal=False))
    )
    q_t = draw(hnp.arrays(np.float32, (b, a), elements=floats))
    q_o = draw(hnp.arrays(np.float32, (b, a), elements=floats))
    return rewards, discounts, q_t, q_o


@settings(max_examples=60, deadline=None)
@given(batches())
def test_double_target_never_exceeds_plain_and_equals_it_when_the_networks_agree(batch):
    rewards, discounts, q_t, q_o = batch
    plain = np.asarray(td.q_learning_target(rewards, discounts, q_t))
    double = np.asarray(td.double_q_learning_target(rewards, discounts, q_t, q_o))
    assert (double <= plain).all()  # Double DQN's point: no max over the target's noise
    assert (np.asarray(td.double_q_learning_target(rewards, discounts, q_t, q_t)) == plain).all()
    terminal = np.asarray(td.q_learning_target(rewards, np.zeros_like(discounts), q_t))
    assert (terminal == rewards).all()  # discount 0: nothing bootstrapped


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, st.integers(1, 20), elements=floats))
def test_huber_is_below_half_the_square_and_equal_inside_one(x):
    h, half_square = np.asarray(td.huber(tf.constant(x))), 0.5 * x.astype(np.float64) ** 2
    assert (h >= 0).all() and (h <= half_square + 1e-4 * (1 + half_square)).all()
    inside = np.abs(x) < 1
    np.testing.assert_allclose(h[inside], half_square[inside], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(h[~inside], np.abs(x[~inside]) - 0.5, rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 5)), elements=floats),
    st.floats(0.01, 1.0),
    st.data(),
)
def test_flushed_returns_follow_the_bellman_recursion(rewards, gamma, data):
    envs, n = rewards.shape
    count = np.array(data.draw(st.lists(st.integers(0, n), min_size=envs, max_size=envs)))
    done = np.array(data.draw(st.lists(st.booleans(), min_size=envs, max_size=envs)))
    terminated = done & np.array(data.draw(st.lists(st.booleans(), min_size=envs, max_size=envs)))
    flushed = {}
    for j, rows, returns, discounts in td.episode_end_windows(
        rewards, count, terminated, done, gamma
    ):
        for e, ret, disc in zip(np.flatnonzero(rows), returns, discounts, strict=True):
            flushed[e, j] = (ret, disc)
    # One transition per pending step of every ended episode, none of a running one.
    assert sorted(flushed) == sorted(
        (e, j) for e in range(envs) if done[e] for j in range(count[e])
    )
    for (e, j), (ret, disc) in flushed.items():
        after = flushed.get((e, j + 1), (0.0, None))[0]
        assert ret == pytest.approx(rewards[e, j] + gamma * after, rel=1e-9, abs=1e-9)
        assert disc == (0.0 if terminated[e] else pytest.approx(gamma ** (count[e] - j)))
    full = td.n_step_return(rewards, gamma)
    first = np.array([sum(gamma**k * rewards[e, k] for k in range(n)) for e in range(envs)])
    np.testing.assert_allclose(full, first, rtol=1e-9, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(floats, floats, st.floats(0.0, 1.0))
def test_polyak_is_a_convex_combination(target, online, tau):
    got = float(td.polyak(np.float64(target), np.float64(online), tau))
    assert min(target, online) - 1e-9 <= got <= max(target, online) + 1e-9
    assert float(td.polyak(np.float64(target), np.float64(online), 1.0)) == online


# -- the DQN agent agrees with agents.td ------------------------------------------------------


def one_update_agent(**overrides):
    import envs
    from agents.dqn import DQNAgent, DQNConfig

    options = dict(
        num_envs=1, batch_size=8, buffer_size=64, hidden=(8,), train_every=128, gamma=0.9
    )
    cfg = DQNConfig(**{**options, **overrides})
    agent = DQNAgent(envs.make_vector("frozenlake", 1, slippery=False), cfg, 0)
    assert agent.updates_per_call == 1
    # Targets far from the online values, so the target network's weights matter.
    agent.target.set_weights([w + 0.5 for w in agent.online.get_weights()])
    return agent


def hand_batch(rng, batch=8, states=16):
    obs = np.eye(states, dtype=np.float32)[rng.integers(0, states, (1, batch))]
    next_obs = np.eye(states, dtype=np.float32)[rng.integers(0, states, (1, batch))]
    actions = rng.integers(0, 4, (1, batch)).astype(np.int32)
    rewards = rng.normal(0, 3, (1, batch)).astype(np.float32)  # big errors: Huber's linear part
    discounts = rng.choice([0.0, 0.9, 0.81], (1, batch)).astype(np.float32)
    return obs, actions, rewards, next_obs, discounts


@pytest.mark.parametrize(
    "double, loss, tau", [(True, "huber", 1.0), (False, "mse", 1.0), (True, "mse", 0.25)]
)
def test_the_agents_compiled_update_is_agents_td(double, loss, tau):
    agent = one_update_agent(double=double, loss=loss, tau=tau)
    obs, actions, rewards, next_obs, discounts = hand_batch(np.random.default_rng(1))
    online_before = [w.copy() for w in agent.online.get_weights()]
    target_before = [w.copy() for w in agent.target.get_weights()]
    targets = td.td_target(
        rewards[0],
        discounts[0],
        agent.target(next_obs[0]),
        agent.online(next_obs[0]),
        double=double,
    )
    errors = td.td_error(targets, td.chosen_q(agent.online(obs[0]), actions[0]))
    expected_loss = float(td.td_loss(errors, loss))
    weights, stats, got_td = agent._update_fn(
        obs, actions, rewards, next_obs, discounts, tf.constant(False)
    )
    np.testing.assert_allclose(got_td.numpy(), errors.numpy(), rtol=1e-5, atol=1e-5)
    assert float(stats[0]) == pytest.approx(expected_loss, rel=1e-5)
    online_after = agent.online.get_weights()
    assert not np.array_equal(online_after[-1], online_before[-1])  # it learned
    for t0, t1, o1 in zip(target_before, agent.target.get_weights(), online_after, strict=True):
        # tau < 1: Polyak after the update; tau = 1 without a copy due: untouched.
        expected = td.polyak(t0, o1, tau) if tau < 1 else t0
        np.testing.assert_allclose(t1, expected, rtol=1e-5, atol=1e-6)
    agent._update_fn(obs, actions, rewards, next_obs, discounts, tf.constant(True))
    for t, o in zip(agent.target.get_weights(), agent.online.get_weights(), strict=True):
        if tau >= 1:
            np.testing.assert_array_equal(t, o)  # a hard copy when due
        else:
            assert not np.array_equal(t, o)  # Polyak never copies


def test_the_agents_n_step_collection_is_agents_td():
    """Three envs, n = 3, gamma 0.5: one terminates two steps in, one is truncated three steps
    in, one runs on; every transition the agent stores is what agents.td computes."""
    agent = one_update_agent(num_envs=3, n_step=3, gamma=0.5)
    agent._obs = np.eye(16, dtype=np.float32)[[0, 1, 2]]
    steps = [  # rewards, terminated, done
        ([1.0, 1.0, 1.0], [False, False, False], [False, False, False]),
        ([2.0, 2.0, 2.0], [True, False, False], [True, False, False]),
        ([4.0, 4.0, 4.0], [False, False, False], [False, True, False]),
    ]
    stored = []
    for t, (rewards, terminated, done) in enumerate(steps):
        next_obs = np.eye(16, dtype=np.float32)[[3 + t, 6 + t, 9 + t]]
        pieces = agent._collect(
            np.array([0, 1, 2]),
            np.array(rewards),
            next_obs,
            next_obs,
            np.array(terminated),
            np.array(done),
        )
        for obs, act, ret, nxt, disc in pieces:
            for row in zip(obs.argmax(1), act, ret, nxt.argmax(1), disc, strict=True):
                stored.append((t, *(round(float(x), 6) for x in row)))
        agent._obs = next_obs
    assert sorted(stored) == sorted(
        [
            # env 0 terminates at t=1 after 2 steps: both flushed, no bootstrap
            (1, 0, 0, 1 + 0.5 * 2, 4, 0.0),
            (1, 3, 0, 2, 4, 0.0),
            # env 1 truncated at t=2 after 3 steps: the full window bootstraps with gamma^3...
            (2, 1, 1, 1 + 0.5 * 2 + 0.25 * 4, 8, 0.125),
            (2, 6, 1, 2 + 0.5 * 4, 8, 0.25),  # ...and the shorter ones with gamma^2, gamma
            (2, 7, 1, 4, 8, 0.5),
            # env 2 runs on: its first full window of 3
            (2, 2, 2, 1 + 0.5 * 2 + 0.25 * 4, 11, 0.125),
        ]
    )


def test_mismatched_inputs_are_refused_and_one_window_works():
    one, two = [tf.Variable([0.0])], [tf.Variable([0.0]), tf.Variable([0.0])]
    with pytest.raises(ValueError):  # zip(strict=True): as many target as online variables
        td.polyak_update(two, one, 0.5)
    rewards, count = np.zeros((2, 3)), np.array([1, 1])
    with pytest.raises(ValueError, match="done"):
        list(td.episode_end_windows(rewards, count, np.ones(2, bool), np.ones(3, bool), 0.5))
    assert td.n_step_return(np.array([1.0, 2.0]), 0.5) == 2.0  # a single window, 1-D
