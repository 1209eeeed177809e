"""The language models' checkpoint, ``<logdir>/resume/``: the stateful twin after its last
whole epoch.

``last.weights.h5`` holds the weights, ``random.npz`` the optimizer's variables and the state
of every seed generator (ptb-lm-medium's Dropout), ``state.json`` the epochs done, the history
and the run's identity; arrays first, the JSON last, each atomically. With the data in a fixed
order (consecutive windows) and the rate a function of the epoch, a resumed run is the
uninterrupted one bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from common.atomic import atomic_path, atomic_write_text
from common.errors import UsageError
from common.safe_npz import ArraySpec, read_npz
from networks.resume import seed_states


@dataclass
class Checkpoint:
    """``<logdir>/resume/``: weights of the last whole epoch and the run's identity."""

    folder: Path
    identity: dict[str, Any]

    @property
    def weights(self) -> Path:
        return self.folder / "last.weights.h5"

    @property
    def random(self) -> Path:
        return self.folder / "random.npz"

    @property
    def state(self) -> Path:
        return self.folder / "state.json"

    def load(self, twin: keras.Model) -> tuple[int, dict[str, list[float]]]:
        """(epochs done, history so far); (0, {}) when there is nothing to resume."""
        if not self.state.is_file():
            return 0, {}
        try:
            state = json.loads(self.state.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"corrupt checkpoint {self.state}: {exc}") from exc
        if not isinstance(state, dict) or state.get("identity") != self.identity:
            raise UsageError(
                f"{self.folder} holds a checkpoint of another run "
                f"({state.get('identity') if isinstance(state, dict) else state}); "
                "use a new --logdir"
            )
        try:
            twin.load_weights(self.weights)
        except Exception as exc:  # h5py / Keras raise several types for a damaged file
            raise UsageError(f"corrupt checkpoint {self.weights}: {exc}") from exc
        if "seed_states" in state:  # older checkpoints: weights only
            self._load_random(twin, state["seed_states"])
        return int(state["epochs_done"]), dict(state.get("history", {}))

    def _load_random(self, twin: keras.Model, count: Any) -> None:
        seeds, optimizer = seed_states(twin), twin.optimizer
        if count != len(seeds):
            raise UsageError(
                f"checkpoint {self.state} does not fit this model ({count!r} seed generators "
                f"saved, the model has {len(seeds)})"
            )
        if not optimizer.built:
            optimizer.build(twin.trainable_variables)
        named = {f"s{i}": v for i, v in enumerate(seeds)}
        named |= {f"o{i}": v for i, v in enumerate(optimizer.variables)}
        specs = {k: ArraySpec(np.dtype(v.dtype).kind, tuple(v.shape)) for k, v in named.items()}
        arrays = read_npz(self.random, specs, what="checkpoint")
        for key, v in named.items():
            v.assign(arrays[key])

    def save(self, twin: keras.Model, epochs_done: int, history: dict[str, list[float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.weights, suffix=".weights.h5") as tmp:
            twin.save_weights(tmp)
        seeds = seed_states(twin)
        arrays = {f"s{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(seeds)}
        for i, v in enumerate(twin.optimizer.variables):
            arrays[f"o{i}"] = keras.ops.convert_to_numpy(v)
        with atomic_path(self.random, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        state = {"identity": self.identity, "epochs_done": epochs_done, "history": history}
        state["seed_states"] = len(seeds)
        atomic_write_text(self.state, json.dumps(state, indent=1) + "\n")
