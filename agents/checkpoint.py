"""Tabular checkpoints: one ``.npz`` (never pickled) written atomically.

Besides the agent's arrays it records what it belongs to (environment identity, agent kind), so a
checkpoint from another map or agent is refused with one line instead of silently misused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from common.atomic import atomic_path
from common.errors import UsageError
from common.safe_npz import ArraySpec, check_array, read_npz

FORMAT_VERSION = 1
TABULAR_FILE = "checkpoint.npz"


class CheckpointError(UsageError):
    """A checkpoint that cannot be read or does not belong to this run."""


def env_identity(env) -> str:
    """What a checkpoint must match: the project env's own identity (map, slipperiness, step
    limit), else the Gymnasium id, its constructor options and its step limit."""
    base = env.unwrapped
    identity = getattr(base, "identity", None)
    if identity is not None:
        return str(identity)
    spec = getattr(env, "spec", None) or getattr(base, "spec", None)
    if spec is None:
        return type(base).__name__
    kwargs = json.dumps(spec.kwargs or {}, sort_keys=True, default=str)
    return f"{spec.id}|{kwargs}|steps={spec.max_episode_steps}"


def save_npz(
    path: Path, arrays: dict[str, np.ndarray], *, env_identity: str, agent_kind: str
) -> Path:
    meta = {
        "format_version": np.int64(FORMAT_VERSION),
        "env_identity": np.str_(env_identity),
        "agent_kind": np.str_(agent_kind),
    }
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **meta, **arrays)
    return path


def load_npz(
    path: Path,
    *,
    env_identity: str,
    agent_kind: str,
    specs: dict[str, ArraySpec] | None = None,
) -> dict[str, np.ndarray]:
    """The arrays of a checkpoint: headers checked against the file size before reading (a
    header claiming 745 GiB is one line), no pickles, and each array in ``specs`` checked for
    dtype, shape, NaN and range (a NaN Q-table or negative counters are refused)."""
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}: start without --resume, "
            "or point --checkpoint-dir at the run's checkpoints"
        )
    arrays = read_npz(path, error=CheckpointError, what="checkpoint")
    missing = {"format_version", "env_identity", "agent_kind"} - arrays.keys()
    if missing:
        raise CheckpointError(
            f"{path} is not a checkpoint of this project (missing {', '.join(sorted(missing))})"
        )
    if str(arrays["agent_kind"]) != agent_kind:
        raise CheckpointError(
            f"checkpoint {path} holds a {arrays['agent_kind']} agent, this run trains {agent_kind}"
        )
    if str(arrays["env_identity"]) != env_identity:
        raise CheckpointError(
            f"checkpoint {path} is for another environment ({arrays['env_identity']}), "
            f"this run uses {env_identity}"
        )
    for name, spec in (specs or {}).items():
        if name not in arrays:
            raise CheckpointError(f"checkpoint {path} is missing array {name!r}")
        check_array(path, name, arrays[name], spec, CheckpointError)
    return arrays
