"""Resuming ``networks.train`` runs: a checkpoint after every whole epoch, in the run folder.

``<logdir>/checkpoint/`` holds ``state.npz`` (every model weight and every optimizer variable,
the step counter among them, so a learning-rate schedule continues where it was) and
``state.json`` (epochs done, the history so far, and the options that must not change on a
resume). Both are written atomically, the arrays first, so a kill at any moment leaves the last
whole epoch readable. Reading goes through :mod:`common.safe_npz`: every shape is checked against
the freshly built model before anything is assigned. The data order within an epoch is drawn
anew on a resume, so a resumed run matches an uninterrupted one in counters, optimizer state and
schedule, not bit for bit.

The language models (``ptb-lm-*``) keep their own checkpoint in ``<logdir>/resume/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from common.atomic import atomic_path
from common.errors import UsageError
from common.safe_npz import ArraySpec, read_npz
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
        with atomic_path(self.arrays, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        write_json(
            self.state, {"identity": self.identity, "epochs_done": epochs_done, "history": history}
        )

    def restore(self, model: keras.Model) -> None:
        """Weights and optimizer state into ``model`` (built and compiled like the saved one)."""
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        weights, variables = model.get_weights(), optimizer.variables
        specs = {
            f"w{i}": ArraySpec(np.asarray(w).dtype.kind, tuple(np.shape(w)), finite=True)
            for i, w in enumerate(weights)
        }
        specs |= {
            f"o{i}": ArraySpec(np.dtype(v.dtype).kind, tuple(v.shape), finite=True)
            for i, v in enumerate(variables)
        }
        arrays = read_npz(self.arrays, specs, what="checkpoint")
        if len(arrays) != len(specs):
            raise UsageError(f"checkpoint {self.arrays} does not fit this model")
        model.set_weights([arrays[f"w{i}"] for i in range(len(weights))])
        for i, v in enumerate(variables):
            v.assign(arrays[f"o{i}"])


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
