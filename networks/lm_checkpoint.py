"""The language models' checkpoint, ``<logdir>/resume/``: the stateful twin after its last
whole epoch.

``epoch-K.weights.h5`` holds the weights, ``epoch-K.npz`` the optimizer's variables and the
state of every seed generator (ptb-lm-medium's Dropout), ``state.json`` the epochs done, the
history, the run's identity and the names of those two files. Each is written atomically, the
JSON last, and the files of earlier epochs are removed only after it: a kill at any moment
leaves one whole epoch whose files and count belong together. With the data in a fixed order
(consecutive windows) and the rate a function of the epoch, a resumed run is the uninterrupted
one bit for bit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from common.atomic import atomic_path
from common.errors import UsageError, first_line
from common.safe_npz import ArraySpec, read_npz
from common.strict_json import read_json, write_json
from networks.random_state import seed_states


@dataclass
class Checkpoint:
    """``<logdir>/resume/``: weights of the last whole epoch and the run's identity."""

    folder: Path
    identity: dict[str, Any]

    @property
    def state(self) -> Path:
        return self.folder / "state.json"

    def _file(self, state: dict[str, Any], key: str, old: str | None) -> Path:
        """A file named in state.json (a plain ``epoch-K`` name in the folder); ``old`` for
        checkpoints written before the names were kept."""
        name = state.get(key, old)
        if not isinstance(name, str) or not FILE_NAME.fullmatch(name):
            raise UsageError(f"checkpoint state {self.state} is damaged ({key}={name!r})")
        return self.folder / name

    def load(self, twin: keras.Model) -> tuple[int, dict[str, list[float]]]:
        """(epochs done, history so far); (0, {}) when there is nothing to resume."""
        if not self.state.is_file():
            return 0, {}
        state = read_json(self.state, "checkpoint state")
        if not isinstance(state, dict) or state.get("identity") != self.identity:
            raise UsageError(
                f"{self.folder} holds a checkpoint of another run "
                f"({state.get('identity') if isinstance(state, dict) else state}); "
                "use a new --logdir"
            )
        done, history = state.get("epochs_done"), state.get("history", {})
        if not isinstance(done, int) or isinstance(done, bool) or done < 0:
            raise UsageError(f"checkpoint state {self.state} is damaged (epochs_done={done!r})")
        if not isinstance(history, dict) or not all(isinstance(v, list) for v in history.values()):
            raise UsageError(f"checkpoint state {self.state} is damaged (history)")
        weights = self._file(state, "weights", "last.weights.h5")
        try:
            twin.load_weights(weights)
        except Exception as exc:  # h5py / Keras raise several types for a damaged file
            raise UsageError(f"corrupt checkpoint {weights}: {first_line(exc)}") from exc
        if "seed_states" in state:  # older checkpoints: weights only
            self._load_random(twin, state["seed_states"], self._file(state, "random", None))
        nan = float("nan")  # strict JSON keeps a NaN metric as null
        return done, {k: [nan if x is None else x for x in v] for k, v in history.items()}

    def _load_random(self, twin: keras.Model, count: Any, path: Path) -> None:
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
        arrays = read_npz(path, specs, what="checkpoint")
        for key, v in named.items():
            v.assign(arrays[key])

    def save(self, twin: keras.Model, epochs_done: int, history: dict[str, list[float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        weights, random = f"epoch-{epochs_done}.weights.h5", f"epoch-{epochs_done}.npz"
        with atomic_path(self.folder / weights, suffix=".weights.h5") as tmp:
            twin.save_weights(tmp)
        seeds = seed_states(twin)
        arrays = {f"s{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(seeds)}
        for i, v in enumerate(twin.optimizer.variables):
            arrays[f"o{i}"] = keras.ops.convert_to_numpy(v)
        with atomic_path(self.folder / random, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        state = {"identity": self.identity, "epochs_done": epochs_done, "history": history}
        state |= {"seed_states": len(seeds), "weights": weights, "random": random}
        write_json(self.state, state, indent=1)
        for old in self.folder.iterdir():  # earlier epochs' files, once the JSON names these
            if FILE_NAME.fullmatch(old.name) and old.name not in (weights, random):
                old.unlink(missing_ok=True)


FILE_NAME = re.compile(r"(epoch-\d+\.(weights\.h5|npz))|last\.weights\.h5")
