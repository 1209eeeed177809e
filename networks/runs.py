"""``networks.train`` run folders: the new / ``--resume`` / ``--overwrite`` policy, outputs
checked before any work, the run's ``config.json`` and where a resume starts. No TensorFlow:
all of it answers before a model is built (the checkpoint itself is :mod:`networks.resume`).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import UsageError
from common.runfolder import (
    RunFolder,
    check_distinct,
    check_output_file,
    resolve_stored,
    stored_path,
)
from common.strict_json import read_json
from common.toml_config import typed_value

CHECKPOINT_FOLDER = "checkpoint"  # networks.resume.TrainCheckpoint's
LM_FOLDER = "resume"  # the language models' own checkpoint
#: Files that make a folder a networks.train run.
MARKERS = (
    "config.json",
    "summary.json",
    f"{CHECKPOINT_FOLDER}/state.json",
    f"{LM_FOLDER}/state.json",
)


@dataclass
class TrainConfig:
    """One run's settings; ``None`` means the model's default (resolved by :func:`resolve`)."""

    model: str
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0
    data_dir: str | None = None
    logdir: str | None = None
    save: str | None = None
    summary_json: str | None = None
    progress: bool = True
    noise: str | None = None  # denoising autoencoders: "gaussian" or "masking"
    noise_level: float | None = None
    # Train on a slice: the first N words of PTB, else N examples drawn with a fixed seed (val
    # and test shrink to N // 4): a first try in seconds.
    max_examples: int | None = None
    resume: bool = False  # continue the run in logdir from its last whole epoch
    overwrite: bool = False  # replace the run in logdir


#: What config.json records, with its type: every option but the run folder and the switches.
SAVED_KEYS: dict[str, type] = {
    "model": str,
    "epochs": int,
    "batch_size": int,
    "lr": float,
    "seed": int,
    "data_dir": str,
    "save": str,
    "summary_json": str,
    "progress": bool,
    "noise": str,
    "noise_level": float,
    "max_examples": int,
}
#: Options a resume must share with the run (--epochs may grow: train longer).
IDENTITY_KEYS = ("model", "batch_size", "lr", "seed", "noise", "noise_level", "max_examples")


def run_folder(cfg: TrainConfig) -> RunFolder:
    assert cfg.logdir is not None
    return RunFolder(cfg.logdir, resume=cfg.resume, overwrite=cfg.overwrite, markers=MARKERS)


def check_outputs(cfg: TrainConfig) -> None:
    """Every output path, before any work and without creating anything: the run folder's
    policy (new / --resume / --overwrite), files that cannot be written, and outputs that would
    replace one another or the run's checkpoints. One line each."""
    assert cfg.logdir and cfg.save and cfg.summary_json
    run_folder(cfg).check()
    logdir = Path(cfg.logdir)
    own = {
        "checkpoint": logdir / CHECKPOINT_FOLDER,
        "language-model checkpoint": logdir / LM_FOLDER,
    }
    for flag_name, path in (("--save", cfg.save), ("--summary-json", cfg.summary_json)):
        inside = stored_path(path, logdir) != str(Path(os.path.abspath(path)))
        check_output_file(path, flag_name, own, replace=cfg.overwrite or (cfg.resume and inside))
    check_distinct(
        {
            "--save": cfg.save,
            "--summary-json": cfg.summary_json,
            "the run's config.json": logdir / "config.json",
        }
    )


def saved_config(cfg: TrainConfig) -> dict[str, Any]:
    """``config.json``: paths inside the run folder relative to it, so a copy resumes itself."""
    assert cfg.logdir
    out = {key: getattr(cfg, key) for key in SAVED_KEYS}
    for key in ("save", "summary_json", "data_dir"):
        if out[key] is not None:
            out[key] = stored_path(out[key], cfg.logdir)
    return out


def find_latest_run(model: str | None, seed: int) -> str:
    """The newest ``runs/*__<model>__<seed>__*`` holding a config.json (for a bare --resume)."""
    if not model:
        raise UsageError("--resume needs the run's --logdir (or the model name and --seed)")
    candidates = sorted(
        p for p in Path("runs").glob(f"*__{model}__{seed}__*") if (p / "config.json").is_file()
    )
    if not candidates:
        raise UsageError(
            f"--resume found no run matching runs/*__{model}__{seed}__*: give its --logdir"
        )
    return str(candidates[-1])


def resumed_values(values: dict[str, Any]) -> dict[str, Any]:
    """The run's ``config.json`` < the file < the flags: a resume needs only --logdir."""
    logdir = values.get("logdir") or find_latest_run(values.get("model"), values.get("seed", 0))
    path = Path(logdir) / "config.json"
    if not path.is_file():
        raise UsageError(
            f"{logdir} holds no networks.train run to resume (no config.json): give the run's "
            "--logdir, or start without --resume"
        )
    saved = read_json(path, "run config")
    if not isinstance(saved, dict):
        raise UsageError(f"run config {path} is damaged (not a JSON object)")
    out: dict[str, Any] = {}
    for key, kind in SAVED_KEYS.items():
        value = saved.get(key)
        if value is None:
            continue
        value = typed_value(key, value, kind, f"run config {path}")
        if key in ("save", "summary_json"):  # relative: inside the run folder
            value = str(resolve_stored(value, logdir))
        out[key] = value
    if values.get("model") and out.get("model") and values["model"] != out["model"]:
        raise UsageError(
            f"{logdir} is a run of {out['model']}, not {values['model']}: give the run's model "
            "or another --logdir"
        )
    return {**out, **values, "logdir": str(logdir)}


def resume_command(summary: dict[str, Any]) -> str:
    return f"python -m networks.train --logdir {shlex.quote(summary['logdir'])} --resume"


def lm_epochs_done(logdir: str) -> int:
    """Epochs a language model's own checkpoint holds (its fit checks the rest)."""
    state = Path(logdir) / LM_FOLDER / "state.json"
    if not state.is_file():
        return 0
    saved = read_json(state, "checkpoint state")
    done = saved.get("epochs_done", 0) if isinstance(saved, dict) else 0
    return done if isinstance(done, int) and not isinstance(done, bool) and done >= 0 else 0
