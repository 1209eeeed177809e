"""Damaged checkpoints (TF shards and index, replay.npz): one line, nothing restored half-way."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.checkpoint import CheckpointError
from agents.replay import ReplayBuffer
from common.errors import UsageError
from tests.hostile.helpers import assert_one_line

FIXTURE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def damage(raw: bytes, data: st.DataObject) -> bytes:
    """Truncate, flip bits or replace: what a full disk, a bad copy or a user's editor does."""
    out = bytearray(raw)
    how = data.draw(st.sampled_from(["truncate", "flip", "garbage"]))
    if how == "truncate":
        return bytes(out[: data.draw(st.integers(0, max(0, len(out) - 1)))])
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 6))):
            i = data.draw(st.integers(0, len(out) - 1))
            out[i] ^= 1 << data.draw(st.integers(0, 7))
        return bytes(out)
    return data.draw(st.binary(max_size=300))


def small_buffer() -> ReplayBuffer:
    buf = ReplayBuffer(32, (4,))
    rng = np.random.default_rng(0)
    buf.add_batch(
        rng.random((10, 4)),
        rng.integers(0, 4, 10),
        rng.random(10),
        rng.random((10, 4)),
        np.ones(10),
    )
    return buf


@FIXTURE
@given(data=st.data())
def test_damaged_replay_is_one_line_and_changes_nothing(tmp_path, data):
    path = tmp_path / "replay.npz"
    small_buffer().save(path)
    path.write_bytes(damage(path.read_bytes(), data))
    target = ReplayBuffer(32, (4,))
    try:
        target.load(path)
    except CheckpointError as exc:
        assert_one_line(str(exc))
        assert len(target) == 0 and not target.obs.any()
    else:
        assert len(target) == 10


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"size": np.int64(-1)}, "below 0"),
        ({"size": np.int64(10**12)}, "above 32"),
        ({"rewards": np.full(10, np.nan, np.float32)}, "NaN"),
        ({"discounts": np.full(10, 2.0, np.float32)}, "above 1"),
        ({"obs": np.zeros((10, 5), np.float32)}, "shape"),
        ({"actions": np.zeros(9, np.int32)}, "transitions"),
    ],
)
def test_crafted_replay_is_refused(tmp_path, arrays, match):
    buf = small_buffer()
    fields = {f: getattr(buf, f)[:10] for f in ReplayBuffer.FIELDS}
    np.savez(
        tmp_path / "r.npz", **{"position": np.int64(10), "size": np.int64(10), **fields, **arrays}
    )
    with pytest.raises(CheckpointError, match=match):
        ReplayBuffer(32, (4,)).load(tmp_path / "r.npz")


def test_a_buffer_beyond_memory_is_refused_before_allocating():
    with pytest.raises(UsageError, match="--buffer-size"):
        ReplayBuffer(10**9, (84, 84, 4), np.uint8)


@pytest.fixture(scope="module")
def tf_checkpoint(tmp_path_factory):
    import tensorflow as tf

    from agents.tf_checkpoint import TFCheckpoint

    folder = tmp_path_factory.mktemp("tfck")
    ck = TFCheckpoint(v=tf.Variable(tf.zeros((20, 10))))
    meta = {"agent_kind": "dqn", "env_identity": "e"}
    ck.save(folder, meta=meta, state={"env_steps": 5})
    files = {p: Path(p).read_bytes() for p in glob.glob(os.path.join(folder, "ckpt-*"))}
    return ck, folder, meta, files


@FIXTURE
@given(data=st.data())
def test_damaged_tf_checkpoint_is_one_line(tf_checkpoint, data):
    ck, folder, meta, files = tf_checkpoint
    victim = data.draw(st.sampled_from(sorted(files)))
    for path, raw in files.items():
        with open(path, "wb") as fh:
            fh.write(damage(raw, data) if path == victim else raw)
    try:
        state = ck.restore(folder, meta=meta)
    except CheckpointError as exc:
        assert_one_line(str(exc))
    else:
        assert state == {"env_steps": 5}


@pytest.fixture(scope="module")
def dqn_pair(tmp_path_factory):
    """A DQN that has played a little (episodes in flight) and a fresh one to restore into."""
    import envs
    from agents.config import DQNConfig
    from agents.dqn import DQNAgent

    def make():
        config = DQNConfig(num_envs=2, n_step=2, hidden=(8,), learning_starts=8, batch_size=4)
        return DQNAgent(envs.make_vector("frozenlake", 2), config, seed=0)

    played = make()
    played.train_chunk(3)
    return played, make()


def _leaves(tree, path=()):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(tree, list) and tree:
        for i, value in enumerate(tree):
            yield from _leaves(value, (*path, i))
    else:
        yield path


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)


@FIXTURE
@given(data=st.data())
def test_a_damaged_dqn_state_is_one_line(dqn_pair, tmp_path, data):
    """The state a DQN checkpoint keeps as JSON (counters, random streams, the env snapshot and
    the agent's arrays of the episodes in flight, the loop's counters), any leaf replaced by any
    JSON value or removed: a restore either puts back something coherent or says one line."""
    import json

    played, fresh = dqn_pair
    checkpoint = played._checkpoint
    real_save = checkpoint.save

    def damaging_save(directory, *, meta, state):
        number, state = state["env_steps"], json.loads(json.dumps(state))
        path = data.draw(st.sampled_from(list(_leaves(state))))
        node = state
        for key in path[:-1]:
            node = node[key]
        if data.draw(st.booleans()):
            node[path[-1]] = data.draw(JSON_VALUES)
        else:
            del node[path[-1]]
        return real_save(directory, meta=meta, state=state, number=number)

    folder = tmp_path / f"ck{data.draw(st.integers(0, 2**32))}"
    checkpoint.save = damaging_save
    try:
        played.save(folder)
    finally:
        checkpoint.save = real_save
    try:
        fresh.restore(folder)
    except CheckpointError as exc:
        assert_one_line(str(exc))
