"""Exact models and the planner: the lakes' figures unchanged, Gymnasium's toy-text envs judged
exactly, and on random small models the optimum bounds every policy."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import envs
from common.errors import UsageError
from envs.frozenlake import FrozenLakeEnv
from envs.planner import evaluate_policy, judge, plan, policy_return, solve
from envs.tabular_model import TabularModel, exact_model


# -- the lakes: today's numbers, bit for bit ---
def reference_plan(env: FrozenLakeEnv) -> tuple[float, np.ndarray, np.ndarray]:
    """The lake planner as it was before the model generalisation (success within the limit)."""
    table, horizon = env.table, env.max_episode_steps
    values = np.zeros(table.n_states)
    policy = np.zeros((horizon, table.n_states), dtype=np.int64)
    for t in range(horizon):
        q = reference_backup(table, values)
        policy[t] = q.argmax(axis=1)
        values = q.max(axis=1)
    return float(values[env.start_state]), values, policy


def reference_backup(table, values):
    ns = table.next_states
    q = (table.probs * (table.goal[ns] + (~table.terminal[ns]) * values[ns])).sum(axis=-1)
    q[table.terminal] = 0.0
    return q


def reference_evaluate(env: FrozenLakeEnv, policy: np.ndarray) -> float:
    rows, values = np.arange(env.table.n_states), np.zeros(env.table.n_states)
    for _ in range(env.max_episode_steps):
        values = reference_backup(env.table, values)[rows, policy]
    return float(values[env.start_state])


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from(["4x4", "8x8", "random:5", "random:7"]),
    st.booleans(),
    st.integers(1, 120),
    st.integers(0, 2**31),
)
def test_lake_figures_are_unchanged(map_spec, slippery, limit, seed):
    env = envs.make("frozenlake", map=map_spec, slippery=slippery, max_episode_steps=limit)
    value, values, policy = reference_plan(env)
    new = plan(env)
    assert new.success_probability == value
    assert np.array_equal(new.values, values) and np.array_equal(new.policy, policy)
    random_policy = np.random.default_rng(seed).integers(0, 4, env.observation_space.n)
    assert evaluate_policy(env, random_policy) == reference_evaluate(env, random_policy)


@pytest.mark.parametrize("slippery", [True, False])
@pytest.mark.parametrize("limit", [200, 100, 31])
def test_gymnasium_frozenlake_8x8_equals_the_project_lake(slippery, limit):
    """FrozenLake-v1 (map_name=8x8) read from unwrapped.P gives the project 8x8 lake's figures."""
    ours = exact_model(
        envs.make("frozenlake", map="8x8", slippery=slippery, max_episode_steps=limit)
    )
    theirs = exact_model(
        envs.make_env(
            "FrozenLake-v1", {"map_name": "8x8", "is_slippery": slippery}, max_episode_steps=limit
        )
    )
    a, b = solve(ours), solve(theirs)
    assert a.value == b.value and np.array_equal(a.values, b.values)
    assert np.array_equal(a.policy, b.policy)
    rng = np.random.default_rng(limit)
    for policy in [a.policy[-1], *rng.integers(0, 4, (10, 64))]:
        assert policy_return(ours, policy).value == policy_return(theirs, policy).value


def test_gymnasium_frozenlake_keeps_its_registered_limit():
    # Gymnasium registers FrozenLake-v1 with 100 steps whatever the map (FrozenLake8x8-v1: 200).
    assert exact_model(envs.make_env("FrozenLake-v1", {"map_name": "8x8"})).step_limit == 100
    assert exact_model(envs.make_env("FrozenLake8x8-v1")).step_limit == 200


# -- toy-text envs by hand ---
def test_cliffwalking_optimum():
    env = envs.make_env("CliffWalking-v1")
    model = exact_model(env)
    assert model.step_limit is None and model.start.argmax() == 36 and model.start.max() == 1.0
    best = solve(model)
    assert best.value == -13.0  # 13 steps along the cliff's edge, -1 each
    assert judge(model, best.policy).exact_return == -13.0
    # with a limit: 13 or more steps reach the goal; 12 cannot, and the best is not to fall
    assert solve(model.with_step_limit(13)).value == -13.0
    assert solve(model.with_step_limit(50)).value == -13.0
    assert solve(model.with_step_limit(12)).value == -12.0
    lake_style = plan(env)  # the lake's interface works without a limit too (stationary policy)
    assert lake_style.success_probability == -13.0 and lake_style.policy.shape == (1, 48)


def test_a_policy_that_never_ends_is_not_a_number():
    model = exact_model(envs.make_env("CliffWalking-v1"))
    always_up = np.zeros(model.n_states, dtype=np.int64)
    result = policy_return(model, always_up)
    assert result.never_ends and result.value is None
    verdict = judge(model, always_up)
    assert verdict.never_ends and verdict.exact_return is None and verdict.gap is None
    assert policy_return(model.with_step_limit(20), always_up).value == -20.0


def shortest_episode(model: TabularModel, start: int) -> int:
    """Fewest actions from ``start`` to a terminating transition (a deterministic model), BFS."""
    depth = {start: 0}
    queue = deque([start])
    while queue:
        s = queue.popleft()
        for a in range(model.n_actions):
            if model.dones[s, a, 0]:
                return depth[s] + 1
            t = int(model.next_states[s, a, 0])
            if t not in depth:
                depth[t] = depth[s] + 1
                queue.append(t)
    raise AssertionError("no way to end")


def test_taxi_optimum_is_the_shortest_service_from_every_start():
    model = exact_model(envs.make_env("Taxi-v4"))
    assert model.step_limit == 200 and model.probs.shape == (500, 6, 1)
    best = solve(model)
    starts = np.flatnonzero(model.start)
    # -1 per move and +20 for the drop-off that ends the episode: 21 - (actions taken)
    expected = {s: 21.0 - shortest_episode(model, s) for s in starts}
    for s in starts:
        assert best.values[s] == pytest.approx(expected[s], abs=1e-12)
    assert best.value == pytest.approx(np.mean(list(expected.values())), abs=1e-12)
    unlimited = solve(model.with_step_limit(None))
    assert unlimited.value == pytest.approx(best.value, abs=1e-9)
    assert judge(model, best.policy[-1]).gap == pytest.approx(0.0, abs=1e-9)


def test_models_where_none_exists():
    assert exact_model(envs.make_env("CartPole-v1")) is None
    assert exact_model(envs.make_env("Taxi-v4", {"fickle_passenger": True})) is None


def test_model_sources_and_limits():
    taxi = envs.make_env("Taxi-v4")
    np.testing.assert_array_equal(exact_model(taxi).start, taxi.unwrapped.initial_state_distrib)
    assert exact_model(taxi, max_episode_steps=7).step_limit == 7
    venv = envs.make_vector_env("frozenlake", {"map": "8x8"}, 3, seed=0)
    assert exact_model(venv).step_limit == 200
    sync = envs.make_vector_env("Taxi-v4", {}, 2, seed=0)
    assert exact_model(sync).step_limit == 200
    pixels = exact_model(envs.make("frozenlake-pixels"))
    assert pixels.n_states == 16 and pixels.step_limit == 100


def test_huge_horizons_are_refused_before_allocating():
    model = exact_model(envs.make("frozenlake"), max_episode_steps=10**13)
    with pytest.raises(UsageError, match="max-episode-steps"):
        solve(model)


# -- random small models ---
@st.composite
def models(draw, step_limit=True, always_ends=False):
    n_s, n_a, n_k = draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(n_k), size=(n_s, n_a))
    probs[rng.random((n_s, n_a, n_k)) < 0.2] = 0.0
    probs[..., 0] += probs.sum(-1) == 0
    probs /= probs.sum(-1, keepdims=True)
    dones = rng.random((n_s, n_a, n_k)) < 0.3
    if always_ends:  # every action ends the episode with probability >= 0.2
        dones[..., 0] = True
        probs = 0.2 * (np.arange(n_k) == 0) + 0.8 * probs
    start = rng.dirichlet(np.ones(n_s))
    limit = draw(st.integers(1, 12)) if step_limit else None
    return TabularModel(
        probs,
        rng.integers(0, n_s, (n_s, n_a, n_k)),
        rng.normal(size=(n_s, n_a, n_k)).round(3),
        dones,
        start,
        limit,
        "random",
    )


@settings(max_examples=60, deadline=None)
@given(models(), st.integers(0, 2**31))
def test_no_policy_beats_the_optimum(model, seed):
    best = solve(model)
    assert policy_return(model, best.policy).value == pytest.approx(best.value, abs=1e-9)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        stationary = rng.integers(0, model.n_actions, model.n_states)
        assert policy_return(model, stationary).value <= best.value + 1e-9
        anytime = rng.integers(0, model.n_actions, (model.step_limit, model.n_states))
        assert policy_return(model, anytime).value <= best.value + 1e-9


@settings(max_examples=40, deadline=None)
@given(models(step_limit=False, always_ends=True), st.integers(0, 2**31))
def test_shortest_path_case(model, seed):
    best = solve(model)
    greedy = policy_return(model, best.policy)
    assert not greedy.never_ends and greedy.value == pytest.approx(best.value, abs=1e-8)
    stationary = np.random.default_rng(seed).integers(0, model.n_actions, model.n_states)
    exact = policy_return(model, stationary).value
    assert exact <= best.value + 1e-8
    # the linear solve agrees with backward induction over a long horizon (ends w.p. >= 0.2/step)
    long = policy_return(model.with_step_limit(400), stationary).value
    assert exact == pytest.approx(long, abs=1e-8)


def test_never_ends_only_from_reachable_states():
    # state 0 (start): action 0 ends (reward 1), action 1 loops; state 1 (unreachable) loops.
    model = TabularModel(
        probs=np.ones((2, 2, 1)),
        next_states=np.array([[[0], [0]], [[1], [1]]]),
        rewards=np.array([[[1.0], [0.0]], [[0.0], [0.0]]]),
        dones=np.array([[[True], [False]], [[False], [False]]]),
        start=np.array([1.0, 0.0]),
        step_limit=None,
    )
    assert policy_return(model, np.array([0, 0])).value == 1.0
    assert policy_return(model, np.array([1, 0])).never_ends
    assert solve(model).value == 1.0
