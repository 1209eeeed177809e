"""The random state a Keras model carries besides its weights: its seed generators.

Kept apart from :mod:`networks.resume` so the model modules (the language models' own
checkpoint) can use it without importing the run machinery.
"""

from __future__ import annotations

from typing import Any

import keras


def seed_states(model: keras.Model) -> list[Any]:
    """The state variables of the model's seed generators (Dropout, random augmentation):
    in Keras 3 ``model.variables`` holds them, ``model.weights`` does not."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]
