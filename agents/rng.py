"""Random-state snapshots that survive a checkpoint without pickle (JSON of the bit generator)."""

from __future__ import annotations

import json

import numpy as np


def rng_state_json(rng: np.random.Generator) -> str:
    return json.dumps(rng.bit_generator.state)


def restore_rng(rng: np.random.Generator, state_json: str) -> None:
    rng.bit_generator.state = json.loads(state_json)
