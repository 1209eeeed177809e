"""Resuming ``networks.train`` runs: a checkpoint after every whole epoch, in the run folder.

``<logdir>/checkpoint/`` holds ``state.npz`` (every model weight, every optimizer variable, the
step counter among them, so a learning-rate schedule continues where it was, and the state of
every random seed generator the model carries: Dropout's, the augmentation layers') and
``state.json`` (epochs done, the history so far, and the options that must not change on a
resume). Both are written atomically, the arrays first, so a kill at any moment leaves the last
whole epoch readable. Reading goes through :mod:`common.safe_npz`: every shape is checked against
the freshly built model before anything is assigned.

A run interrupted (Ctrl-C, SIGTERM, kill -9) and resumed is the uninterrupted run bit for bit:
weights, history and summary numbers. The data order of epoch ``e`` is a function of ``(seed,
e)`` (:mod:`networks.feed`), the global seed is the run's own on every resume, and the seed
generators continue from the checkpoint. (``--resume --epochs N`` after a run of fewer planned
epochs trains on, but its learning-rate schedule spans the new ``N``, so that run differs from
one planned for ``N`` from the start.)

The language models (``ptb-lm-*``) keep their own checkpoint in ``<logdir>/resume/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from common.atomic import atomic_path
from common.errors import UsageError
from common.safe_npz import ArraySpec, inspect_npz, read_npz
from common.strict_json import read_json, write_json
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
        if not self.state.is_file():
            return 0, {}
        state = read_json(self.state, "checkpoint state")
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

    def save(self, model: keras.Model, epochs_done: int, history: dict[str, list[float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
        for i, v in enumerate(model.optimizer.variables):
            arrays[f"o{i}"] = keras.ops.convert_to_numpy(v)
        seeds = seed_states(model)
        for i, v in enumerate(seeds):
            arrays[f"s{i}"] = keras.ops.convert_to_numpy(v)
        with atomic_path(self.arrays, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        state = {"identity": self.identity, "epochs_done": epochs_done, "history": history}
        write_json(self.state, {**state, "seed_states": len(seeds)})

    def restore(self, model: keras.Model) -> None:
        """Weights, optimizer state and seed-generator states into ``model`` (built and
        compiled like the saved one). A checkpoint written before seed states were saved
        (``state.json`` without ``seed_states``) leaves the model's own, as it then did."""
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        weights, variables, seeds = model.get_weights(), optimizer.variables, seed_states(model)
        specs = {
            f"w{i}": ArraySpec(np.asarray(w).dtype.kind, tuple(np.shape(w)), finite=True)
            for i, w in enumerate(weights)
        }
        specs |= {
            f"o{i}": ArraySpec(np.dtype(v.dtype).kind, tuple(v.shape), finite=True)
            for i, v in enumerate(variables)
        }
        required = tuple(specs)
        specs |= {
            f"s{i}": ArraySpec(np.dtype(v.dtype).kind, tuple(v.shape)) for i, v in enumerate(seeds)
        }
        saved_seeds = self._seed_count()
        if saved_seeds is not None:
            if saved_seeds != len(seeds):
                raise UsageError(
                    f"checkpoint {self.arrays} does not fit this model ({saved_seeds} seed "
                    f"generators saved, the model has {len(seeds)})"
                )
            required = tuple(specs)
        if set(inspect_npz(self.arrays, what="checkpoint")) - set(specs):
            raise UsageError(f"checkpoint {self.arrays} does not fit this model (more arrays)")
        arrays = read_npz(self.arrays, specs, required=required, what="checkpoint")
        model.set_weights([arrays[f"w{i}"] for i in range(len(weights))])
        for i, v in enumerate(variables):
            v.assign(arrays[f"o{i}"])
        for i, v in enumerate(seeds):
            if f"s{i}" in arrays:
                v.assign(arrays[f"s{i}"])

    def _seed_count(self) -> int | None:
        count = read_json(self.state, "checkpoint state").get("seed_states")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            raise UsageError(f"checkpoint state {self.state} is damaged (seed_states={count!r})")
        return count


def seed_states(model: keras.Model) -> list[Any]:
    """The state variables of the model's seed generators (Dropout, random augmentation):
    in Keras 3 ``model.variables`` holds them, ``model.weights`` does not."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


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
