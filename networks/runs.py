"""A ``networks.train`` run before any training: its settings (:class:`TrainConfig`, filled
and checked by :func:`resolve`), its folder (the new / ``--resume`` / ``--overwrite`` policy,
outputs checked before any work, ``config.json``, where a resume starts) and the callbacks every
run uses. TensorFlow is imported only inside the functions that need it, so everything here
answers before a model is built; the checkpoint itself is :mod:`networks.resume`. The training
loop, the CLI and the multi-worker path build on this module.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from common.errors import UsageError
from common.numbers import check_finite, check_seed
from common.runfolder import (
    RunFolder,
    check_distinct,
    check_output_file,
    resolve_stored,
    stored_path,
)
from common.strict_json import read_json
from common.toml_config import typed_value

if TYPE_CHECKING:  # imported lazily: TensorFlow takes seconds to start
    import keras

    from networks.datasets import Dataset
    from networks.models import ModelSpec
    from networks.progress import EpochTimer, GracefulStop
    from networks.tblog import TensorBoardLogger

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


MAX_COUNT = 2**31 - 1  # epochs, batch size, examples: beyond any run, inside int32


def resolve(config: TrainConfig) -> tuple[ModelSpec, TrainConfig]:
    """Fill defaults from the model spec and reject bad values before any work starts."""
    from networks.catalog import get_model_spec

    spec = get_model_spec(config.model)
    cfg = TrainConfig(**asdict(config))
    options = {"noise": cfg.noise, "noise_level": cfg.noise_level}
    options = {k: v for k, v in options.items() if v is not None}
    if options:
        if spec.with_options is None:
            raise UsageError(
                f"--noise and --noise-level apply to denoising models, not {spec.name}"
            )
        spec = spec.with_options(options)
    cfg.epochs = spec.epochs if cfg.epochs is None else cfg.epochs
    cfg.batch_size = spec.batch_size if cfg.batch_size is None else cfg.batch_size
    cfg.lr = spec.lr if cfg.lr is None else cfg.lr
    if cfg.epochs <= 0:
        raise UsageError(f"--epochs must be positive, got {cfg.epochs}")
    if cfg.batch_size <= 0:
        raise UsageError(f"--batch-size must be positive, got {cfg.batch_size}")
    if not cfg.lr > 0:
        raise UsageError(f"--lr must be positive, got {cfg.lr}")
    check_given(cfg)
    if cfg.logdir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        cfg.logdir = os.path.join("runs", f"{spec.dataset}__{spec.name}__{cfg.seed}__{stamp}")
    if cfg.save is None:
        cfg.save = os.path.join(cfg.logdir, "model.keras")
    if cfg.summary_json is None:
        cfg.summary_json = os.path.join(cfg.logdir, "summary.json")
    if not cfg.save.endswith(".keras"):
        raise UsageError(f"--save must end in .keras (Keras' native format), got {cfg.save}")
    check_outputs(cfg)
    return spec, cfg


def full_config(spec: ModelSpec, cfg: TrainConfig, data: Dataset, params: int) -> dict[str, Any]:
    """Everything needed to reproduce the run, for TensorBoard and the summary JSON."""
    import keras
    import tensorflow as tf

    return {
        **asdict(cfg),
        "dataset": spec.dataset,
        "description": spec.description,
        "lr_decay_to": None if spec.decay is None else spec.decay * float(cfg.lr or 0),
        "optimizer": "adam",
        "loss": spec.loss,
        "data_source": data.source,
        "splits": data.sizes(),
        "class_names": list(data.class_names),
        "params": params,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


@dataclass
class RunCallbacks:
    """The callbacks every run uses; the benchmark times exactly these against a bare fit."""

    timer: EpochTimer
    tb: TensorBoardLogger
    stop: GracefulStop
    progress: keras.callbacks.Callback | None

    @classmethod
    def make(cls, logdir: str | Path, progress: bool, stream: TextIO) -> RunCallbacks:
        from networks.progress import EpochTimer, GracefulStop, make_progress
        from networks.tblog import TensorBoardLogger

        return cls(
            EpochTimer(),
            TensorBoardLogger(logdir),
            GracefulStop(stream),
            make_progress(progress, stream),
        )

    def all(self) -> list[keras.callbacks.Callback]:
        cbs = [self.timer, self.tb, self.stop]
        return cbs + [self.progress] if self.progress is not None else cbs


def check_given(cfg: TrainConfig) -> None:
    """Range checks of the values given (``None``: the model's default), before any work."""
    for name, value in (
        ("epochs", cfg.epochs),
        ("batch-size", cfg.batch_size),
        ("max-examples", cfg.max_examples),
    ):
        if value is not None and value <= 0:
            raise UsageError(f"--{name} must be positive, got {value}")
        if value is not None and value > MAX_COUNT:
            raise UsageError(f"--{name} must be at most {MAX_COUNT:,}, got {value:,}")
    check_finite("--lr", cfg.lr)
    check_finite("--noise-level", cfg.noise_level)
    if cfg.lr is not None and not cfg.lr > 0:
        raise UsageError(f"--lr must be positive, got {cfg.lr}")
    check_seed("--seed", cfg.seed)  # Keras and numpy seeds are 32-bit
    if cfg.noise_level is not None and not cfg.noise_level >= 0:
        raise UsageError(f"--noise-level must be zero or more, got {cfg.noise_level}")


def take_slice(data: Dataset, n: int) -> Dataset:
    """``n`` training examples (the first ``n`` words of a token stream such as PTB, else ``n``
    drawn with a fixed seed so every class can appear); validation and test keep ``n // 4``."""
    import numpy as np

    def cut(x: Any, y: Any, k: int, seed: int) -> tuple[Any, Any]:
        if len(x) <= k:
            return x, y
        if x.ndim == 1 and x.dtype.kind in "iu":  # a token stream: keep it contiguous
            return x[:k], y[:k]
        idx = np.sort(np.random.default_rng(seed).choice(len(x), k, replace=False))
        return x[idx], y[idx]

    small = max(1, n // 4)
    x_train, y_train = cut(data.x_train, data.y_train, n, 0)
    x_val, y_val = cut(data.x_val, data.y_val, small, 1)
    x_test, y_test = cut(data.x_test, data.y_test, small, 2)
    return dataclasses.replace(
        data,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        source=f"{data.source} (slice: {n} training examples)",
    )
