"""Resuming ``networks.train`` runs: a checkpoint after every whole epoch, in the run folder.

``<logdir>/checkpoint/state.npz`` holds, in one atomic write, every model weight, every
optimizer variable (the step counter among them, so a learning-rate schedule continues where it
was), the state of every seed generator the model carries (Dropout's, the augmentation
layers'), each replica's own values where they differ, and ``meta``: the epochs done, the
history so far and the options that must not change on a resume. ``state.json`` is a readable
copy written after it. A kill at any moment leaves the last whole epoch readable, its arrays
and its count together. Reading goes through :mod:`common.safe_npz`: every shape is checked
against the freshly built model before anything is assigned.

A run interrupted (Ctrl-C, SIGTERM, kill -9) and resumed is the uninterrupted run bit for bit:
weights, history and summary numbers. The data order of epoch ``e`` is a function of ``(seed,
e)`` (:mod:`networks.feed`), the global seed is the run's own on every resume, and the seed
generators continue from the checkpoint. (``--resume --epochs N`` after a run of fewer planned
epochs trains on, but its learning-rate schedule spans the new ``N``, so that run differs from
one planned for ``N`` from the start.)

The language models (``ptb-lm-*``) keep their own checkpoint in ``<logdir>/resume/``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np

from common.atomic import atomic_path
from common.errors import UsageError
from common.safe_npz import ArraySpec, inspect_npz, read_npz
from common.strict_json import dumps, loads, read_json, write_json
from networks.random_state import seed_states
from networks.runs import CHECKPOINT_FOLDER as FOLDER


class TrainCheckpoint:
    """The checkpoint of one run: ``identity`` holds the options a resume must share."""

    def __init__(self, logdir: str | Path, identity: dict[str, Any]) -> None:
        self.folder = Path(logdir) / FOLDER
        self.identity = identity

    @property
    def arrays(self) -> Path:
        return self.folder / "state.npz"

    @property
    def state(self) -> Path:
        return self.folder / "state.json"

    def read(self) -> tuple[int, dict[str, list[float]]]:
        """(epochs done, history so far); (0, {}) when no epoch was checkpointed. Checked only:
        nothing is loaded into a model here, so it can run before any work starts."""
        state = self._read_state()
        if state is None:
            return 0, {}
        if not isinstance(state, dict):
            raise UsageError(f"checkpoint state {self.state} is damaged (not a JSON object)")
        saved = state.get("identity")
        if saved != self.identity:
            diff = (
                sorted(k for k in self.identity if saved.get(k) != self.identity[k])
                if isinstance(saved, dict)
                else ["all"]
            )
            raise UsageError(
                f"{self.folder} is a checkpoint of other options ({', '.join(diff)} differ): "
                "resume with the run's options, or start a new --logdir"
            )
        done, history = state.get("epochs_done"), state.get("history", {})
        if not isinstance(done, int) or isinstance(done, bool) or done < 0:
            raise UsageError(f"checkpoint state {self.state} is damaged (epochs_done={done!r})")
        if not isinstance(history, dict) or not all(
            isinstance(v, list) and all(x is None or isinstance(x, (int, float)) for x in v)
            for v in history.values()
        ):
            raise UsageError(f"checkpoint state {self.state} is damaged (history)")
        if done and not self.arrays.is_file():
            raise UsageError(f"checkpoint {self.arrays} is missing: the run cannot be resumed")
        nan = float("nan")
        return done, {k: [nan if x is None else float(x) for x in v] for k, v in history.items()}

    def _read_state(self) -> Any:
        """The state saved with the arrays (``meta`` in state.npz, so a kill between the two
        files cannot pair the arrays of one epoch with the count of another); state.json, its
        readable copy, for checkpoints written before; None when there is none."""
        if self.arrays.is_file() and "meta" in inspect_npz(self.arrays, what="checkpoint"):
            meta = read_npz(self.arrays, {"meta": ArraySpec("u", (None,))}, what="checkpoint")
            return loads(meta["meta"].tobytes(), f"checkpoint {self.arrays} (meta)")
        return read_json(self.state, "checkpoint state") if self.state.is_file() else None

    def save(self, model: keras.Model, epochs_done: int, history: dict[str, list[float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for prefix, variables in model_state(model).items():
            for i, v in enumerate(variables):
                arrays[f"{prefix}{i}"] = value = keras.ops.convert_to_numpy(v)
                for k, part in enumerate(replica_parts(v)[1:], 1):
                    if not np.array_equal(part := np.asarray(part.numpy()), value):
                        arrays[f"{prefix}{i}r{k}"] = part  # a replica's own (BN moving stats)
        state = {"identity": self.identity, "epochs_done": epochs_done, "history": history}
        state |= {"seed_states": len(seed_states(model)), "replicas": replica_count(model)}
        arrays["meta"] = np.frombuffer(dumps(state).encode(), np.uint8)
        with atomic_path(self.arrays, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        write_json(self.state, state)  # a readable copy

    def restore(self, model: keras.Model) -> None:
        """Weights, optimizer state and seed-generator states into ``model`` (built and
        compiled like the saved one), each replica's own values where they differ. A checkpoint
        written before seed states were saved (``state.json`` without ``seed_states``) leaves
        the model's own, as it then did."""
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        groups = model_state(model)
        specs = {
            f"{prefix}{i}": ArraySpec(np.dtype(v.dtype).kind, tuple(v.shape))
            for prefix, variables in groups.items()
            for i, v in enumerate(variables)
        }
        state = self._read_state()
        assert isinstance(state, dict)  # read() checked it
        saved_seeds, saved_replicas = state.get("seed_states"), state.get("replicas", 1)
        for key, value in (("seed_states", saved_seeds), ("replicas", saved_replicas)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise UsageError(f"checkpoint state {self.state} is damaged ({key}={value!r})")
        if saved_seeds is not None and saved_seeds != len(groups["s"]):
            raise UsageError(
                f"checkpoint {self.arrays} does not fit this model ({saved_seeds} seed "
                f"generators saved, the model has {len(groups['s'])})"
            )
        required = tuple(k for k in specs if saved_seeds is not None or not k.startswith("s"))
        for name in set(inspect_npz(self.arrays, what="checkpoint")) - {"meta"}:
            match = REPLICA.fullmatch(name)
            base = match.group(1) if match else name
            if base not in specs:
                raise UsageError(f"checkpoint {self.arrays} does not fit this model ({name})")
            specs.setdefault(name, specs[base])
        arrays = read_npz(self.arrays, specs, required=required, what="checkpoint")
        variables = {f"{p}{i}": v for p, vs in groups.items() for i, v in enumerate(vs)}
        for name, v in variables.items():
            if name in arrays:
                v.assign(arrays[name])
        for name, array in arrays.items():
            if match := REPLICA.fullmatch(name):
                parts = replica_parts(variables[match.group(1)])
                if int(match.group(2)) < len(parts):
                    parts[int(match.group(2))].assign(array)
        if saved_replicas != replica_count(model):
            print(
                f"note: the run trained on {saved_replicas} replicas, this one has "
                f"{replica_count(model)}: the global batch differs, so the resumed run is not "
                "the run it continues bit for bit",
                file=sys.stderr,
            )


REPLICA = re.compile(r"([wos]\d+)r(\d+)")  # w3r1: weight 3 as replica 1 holds it


def model_state(model: keras.Model) -> dict[str, list[Any]]:
    """What a checkpoint holds: weights (``w``, as ``get_weights``), optimizer variables
    (``o``, the step counter first) and seed-generator states (``s``)."""
    return {"w": list(model.weights), "o": list(model.optimizer.variables), "s": seed_states(model)}


def replica_parts(v: Any) -> list[Any]:
    """The per-replica copies of a variable under a ``tf.distribute`` strategy ([] without).
    Keras keeps batch-norm moving statistics per replica (each replica's own batches), so a
    replica's copy may differ from the first one, which ``get_weights`` reads."""
    values = getattr(getattr(v, "value", None), "values", None)
    return list(values) if isinstance(values, tuple) and len(values) > 1 else []


def replica_count(model: keras.Model) -> int:
    return max(1, len(replica_parts(model.weights[0]))) if model.weights else 1


class EpochCheckpoint(keras.callbacks.Callback):
    """Checkpoint after every whole epoch (an epoch cut short by Ctrl-C is not one)."""

    def __init__(
        self, checkpoint: TrainCheckpoint, history: dict[str, list[float]], on_save: Any = None
    ) -> None:
        super().__init__()
        self.checkpoint = checkpoint
        self.history = {k: list(v) for k, v in history.items()}
        self.on_save = on_save
        self._batches = 0
        self.epochs_done = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._batches = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches = batch + 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        steps = self.params.get("steps")
        if steps is not None and self._batches < steps:
            return  # stopped mid-epoch: the last whole epoch stays the checkpoint
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(float(v))
        self.epochs_done = epoch + 1
        self.checkpoint.save(self.model, epoch + 1, self.history)
        if self.on_save is not None:
            self.on_save()
