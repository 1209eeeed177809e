"""What workers of a multi-worker run agree on through TensorFlow's collectives: the config
hash at start-up, the chief's checkpoint broadcast to everyone, summed metrics; and the chief's
per-epoch backup (``<logdir>/backup``, Keras' BackupAndRestore semantics).

Only the chief reads and writes the backup; the others receive its variables by an all-reduce
in which only global replica 0 contributes, so no worker needs a shared file system and no
other worker writes anything.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from common.atomic import atomic_write_text
from common.errors import UsageError

# What a lost or restarted peer makes a collective raise.
PEER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
    tf.errors.CancelledError,
    tf.errors.InternalError,
)


class PeerLost(Exception):
    """A collective failed mid-epoch: another worker died or restarted."""


def first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1][:160] if text else ''}"


def fingerprint(array: Any) -> str:
    """Shape, dtype and a checksum: equal data on every worker, cheaply (MNIST: ~0.1 s)."""
    if isinstance(array, tf.Tensor):  # text: shape and a sample of the strings
        flat = tf.reshape(array, [-1]).numpy()
        sample = b"\x00".join(flat[:64].tolist() + flat[-64:].tolist())
        return f"{tuple(array.shape)}:{array.dtype.name}:{zlib.crc32(sample):08x}"
    a = np.ascontiguousarray(array)
    return f"{a.shape}:{a.dtype}:{zlib.crc32(a.data):08x}"


def config_digest(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


def _local_first(strategy: tf.distribute.Strategy) -> Any:
    """True on one replica per worker (its first), so a per-worker value is counted once."""
    ctx = tf.distribute.get_replica_context()
    local = len(strategy.extended.worker_devices)
    return tf.equal(ctx.replica_id_in_sync_group % local, 0)


def sum_across_workers(strategy: tf.distribute.Strategy, values: Any) -> np.ndarray:
    """Each worker's float vector summed over the workers (one collective)."""
    vec = tf.constant(np.asarray(values, np.float64))

    def fn() -> Any:
        return tf.where(_local_first(strategy), vec, tf.zeros_like(vec))

    return np.asarray(strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(fn), axis=None))


def share_history(
    strategy: tf.distribute.Strategy,
    history: dict[str, list[float]],
    keys: list[str],
    done: int,
    chief: bool,
) -> dict[str, list[float]]:
    """The chief's history of the ``done`` resumed epochs, on every worker (``keys`` in the
    same order everywhere); the chief keeps its own."""
    shared = {}
    for key in keys:
        mine = history.get(key, [])[:done] if chief else []
        values = mine + [0.0] * (done - len(mine))
        shared[key] = [float(v) for v in sum_across_workers(strategy, values)]
    return history if chief else shared


def check_same_config(strategy: tf.distribute.Strategy, digest: str, what: str) -> None:
    """Refuse, on every worker, a cluster whose workers were started with different settings."""
    local = len(strategy.extended.worker_devices)
    mine = tf.constant([[int(digest[i : i + 6], 16) for i in (0, 6, 12, 18)]], tf.int32)
    gathered = strategy.gather(strategy.run(lambda: mine), axis=0).numpy()[::local]
    differ = [w for w, row in enumerate(gathered) if (row != gathered[0]).any()]
    if differ:
        hashes = ", ".join(
            f"worker {w}: {''.join(f'{v:06x}' for v in r)}" for w, r in enumerate(gathered)
        )
        raise UsageError(
            f"the workers were started with different settings (config hashes {hashes}); "
            f"start every worker with the same model, flags and data (this one: {what})"
        )


def broadcast_from_chief(strategy: tf.distribute.Strategy, variables: list[Any]) -> None:
    """Overwrite every worker's copy of ``variables`` with the chief's (global replica 0)."""
    if not variables:
        return
    values = [v.value if hasattr(v, "value") else v for v in variables]

    @tf.function
    def fn() -> Any:
        ctx = tf.distribute.get_replica_context()
        first = tf.equal(ctx.replica_id_in_sync_group, 0)
        mine = [
            tf.where(first, tf.cast(t, tf.float64), tf.zeros_like(t, tf.float64)) for t in values
        ]
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, mine)

    reduced = strategy.experimental_local_results(strategy.run(fn))[0]
    for var, value in zip(variables, reduced, strict=True):
        var.assign(tf.cast(value, var.dtype))


class Backup:
    """``<logdir>/backup``: the chief's checkpoint of every whole epoch and the run's state
    (epochs done, history, epoch seconds, config hash) as JSON beside it."""

    def __init__(self, folder: str | Path, digest: str, variables: dict[str, list[Any]]) -> None:
        self.folder, self.digest = Path(folder), digest
        tracked = {
            k: [v.value if hasattr(v, "value") else v for v in vs] for k, vs in variables.items()
        }
        self.checkpoint = tf.train.Checkpoint(**tracked)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self.folder), max_to_keep=2)

    @property
    def state_path(self) -> Path:
        return self.folder / "state.json"

    def load(self) -> tuple[int, dict[str, Any]]:
        """(epochs done, saved state); (0, {}) when there is nothing to resume."""
        if not self.state_path.is_file():
            return 0, {}
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"corrupt backup {self.state_path}: {exc}; remove it") from None
        if state.get("digest") != self.digest:
            raise UsageError(
                f"{self.folder} holds the backup of a run with other settings; use a new "
                "--logdir (or the command that started it)"
            )
        path = state.get("checkpoint")
        if not path or not tf.io.gfile.exists(f"{path}.index"):
            raise UsageError(f"backup {self.state_path} names a missing checkpoint {path}")
        self.checkpoint.restore(path).assert_existing_objects_matched()
        return int(state["epochs_done"]), state

    def save(self, epochs_done: int, state: dict[str, Any]) -> None:
        """Checkpoint first, then the JSON naming it (atomic): a kill leaves the last whole one."""
        path = self.manager.save(checkpoint_number=epochs_done)
        record = {**state, "digest": self.digest, "epochs_done": epochs_done, "checkpoint": path}
        atomic_write_text(self.state_path, json.dumps(record, indent=1) + "\n")
