"""Snapshots of vector envs between steps: put back on a fresh copy, the episodes go on exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import envs
from envs import snapshot as snap


def make(name: str, n: int = 3):
    if name in ("frozenlake", "frozenlake-pixels"):
        return envs.make_vector(name, n, **({"map": "4x4"} if name == "frozenlake" else {}))
    return envs.make_vector_env(name, {}, n, seed=0)


def play(venv, actions):
    """Every output of stepping ``actions``, final observations included."""
    out = []
    for a in actions:
        obs, rew, term, trunc, info = venv.step(a)
        finals = []
        if "final_obs" in info:
            finals = [np.asarray(f).tolist() for f in info["final_obs"][info["_final_obs"]]]
        out.append((np.asarray(obs).tolist(), rew.tolist(), term.tolist(), trunc.tolist(), finals))
    return out


NAMES = [
    "frozenlake",
    "frozenlake-pixels",
    "CartPole-v1",
    "Taxi-v4",
    "CliffWalking-v1",
    "FrozenLake-v1",
    "MountainCar-v0",
    "Acrobot-v1",
    "Blackjack-v1",
]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=5, deadline=None)
@given(before=st.integers(0, 60), seed=st.integers(0, 2**31))
def test_a_restored_env_goes_on_exactly(name, before, seed):
    rng = np.random.default_rng(seed)
    venv = make(name)
    n_actions = int(venv.single_action_space.n)
    venv.reset(seed=seed)
    play(venv, rng.integers(0, n_actions, (before, venv.num_envs)))
    saved = json.loads(json.dumps(snap.snapshot(venv)))  # through JSON, as a checkpoint keeps it
    after = rng.integers(0, n_actions, (40, venv.num_envs))
    expected = play(venv, after)

    fresh = make(name)
    fresh.reset(seed=seed + 1)  # other episodes and streams: the snapshot must replace them all
    snap.restore(fresh, saved)
    assert play(fresh, after) == expected


def test_envs_with_unknown_state_have_no_snapshot():
    class Counter(envs.OneHotObservation):
        snapshot_keys = None  # a user's wrapper that says nothing about its state

    venv = make("Taxi-v4")
    venv.reset(seed=0)
    assert snap.snapshot(venv) is not None
    venv.envs[0] = Counter(venv.envs[0].env)  # now one copy has a layer nobody described
    assert snap.snapshot(venv) is None


def test_a_snapshot_of_another_env_or_a_damaged_one_is_refused_untouched():
    venv = make("frozenlake")
    venv.reset(seed=0)
    venv.step(np.ones(venv.num_envs, dtype=np.int64))
    before = snap.snapshot(venv)
    cartpole = make("CartPole-v1")
    cartpole.reset(seed=0)
    with pytest.raises(ValueError, match="another env"):
        snap.restore(venv, snap.snapshot(cartpole))
    damaged = json.loads(json.dumps(before))
    damaged["layers"][0]["values"]["_states"]["array"]["shape"] = [7]
    with pytest.raises(ValueError):
        snap.restore(venv, damaged)
    damaged = json.loads(json.dumps(before))
    damaged["layers"][0]["generators"]["_np_random"] = {"bit_generator": "PCG64", "state": 3}
    with pytest.raises(ValueError):
        snap.restore(venv, damaged)
    assert snap.snapshot(venv) == before
