"""TensorFlow checkpoints (``tf.train.Checkpoint``, ``CheckpointManager``) that know what they hold.

Next to the networks and optimizer, every checkpoint carries two JSON strings: ``meta`` (agent
kind, environment identity, network shape), read and checked *before* anything is restored, so a
checkpoint of another env or shape is a one-line error; and ``state`` (counters, RNG states),
handed back to the agent after the restore. TensorFlow writes the shards first and then swaps
the ``checkpoint`` index file atomically, so an interrupted save leaves the previous one usable.
"""

from __future__ import annotations

import json
from pathlib import Path

import tensorflow as tf

from agents.checkpoint import CheckpointError
from common.errors import first_line

META_KEY = "meta/.ATTRIBUTES/VARIABLE_VALUE"
# What TensorFlow raises on damaged files: OpError mostly, but a truncated data shard gives
# IndexError ("Read less bytes than requested") and a bad string UnicodeDecodeError.
DAMAGE = (
    tf.errors.OpError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    OverflowError,
    UnicodeDecodeError,
    AssertionError,
    RuntimeError,
)


class TFCheckpoint:
    def __init__(self, max_to_keep: int = 3, **trackables) -> None:
        self._meta = tf.Variable("", dtype=tf.string, trainable=False)
        self._state = tf.Variable("", dtype=tf.string, trainable=False)
        self.checkpoint = tf.train.Checkpoint(meta=self._meta, state=self._state, **trackables)
        self.max_to_keep = max_to_keep
        self._managers: dict[str, tf.train.CheckpointManager] = {}

    def _manager(self, directory: str | Path) -> tf.train.CheckpointManager:
        key = str(directory)
        if key not in self._managers:
            self._managers[key] = tf.train.CheckpointManager(
                self.checkpoint, key, max_to_keep=self.max_to_keep
            )
        return self._managers[key]

    def save(
        self, directory: str | Path, *, meta: dict, state: dict, number: int | None = None
    ) -> Path:
        """Save as ``ckpt-<number>`` (default: the state's env steps)."""
        self._meta.assign(json.dumps(meta, sort_keys=True))
        self._state.assign(json.dumps(state, sort_keys=True))
        number = int(state.get("env_steps", 0)) if number is None else number
        return Path(self._manager(directory).save(checkpoint_number=number))

    def restore(self, directory: str | Path, *, meta: dict) -> dict:
        """Check ``meta`` against the saved one, restore, and return the saved ``state``."""
        try:
            latest = tf.train.latest_checkpoint(str(directory))
        except (tf.errors.OpError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint index in {directory} is unreadable ({exc})"
            ) from None
        if latest is None:
            raise CheckpointError(
                f"no checkpoint in {directory}: start without --resume, "
                "or point --checkpoint-dir at the run's checkpoints"
            )
        try:
            saved = json.loads(tf.train.load_variable(latest, META_KEY).decode())
            if not isinstance(saved, dict):
                raise ValueError("its description is not a JSON object")
        except DAMAGE as exc:
            raise CheckpointError(
                f"checkpoint {latest} is corrupt or unreadable ({first_line(exc)}); "
                "delete it or resume from another"
            ) from None
        if saved.get("agent_kind") != meta["agent_kind"]:
            raise CheckpointError(
                f"checkpoint {latest} holds a {saved.get('agent_kind')} agent, "
                f"this run trains {meta['agent_kind']}"
            )
        if saved.get("env_identity") != meta["env_identity"]:
            raise CheckpointError(
                f"checkpoint {latest} is for another environment "
                f"({saved.get('env_identity')}), this run uses {meta['env_identity']}"
            )
        for key, value in meta.items():
            if saved.get(key) != value:
                raise CheckpointError(
                    f"checkpoint {latest} has {key}={saved.get(key)}, this run has "
                    f"{key}={value}: resume with the same network options"
                )
        try:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        except (tf.errors.DataLossError, IndexError, UnicodeDecodeError) as exc:
            raise CheckpointError(
                f"checkpoint {latest} is truncated or corrupt ({first_line(exc)}); "
                "delete it or resume from another"
            ) from None
        except DAMAGE as exc:
            raise CheckpointError(
                f"checkpoint {latest} does not fit this run ({first_line(exc)})"
            ) from None
        try:
            state = json.loads(self._state.numpy().decode())
            if not isinstance(state, dict):
                raise ValueError("its state is not a JSON object")
        except DAMAGE as exc:
            raise CheckpointError(
                f"checkpoint {latest} holds a damaged state ({first_line(exc)})"
            ) from None
        return state
