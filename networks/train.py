"""``python -m networks.train MODEL``: train a registered model on its dataset, evaluate, save.

Every run logs its full config (TensorBoard text and the summary JSON), writes TensorBoard
scalars, weight histograms, a confusion matrix and misclassified samples, saves a ``.keras``
model atomically and prints a closing summary. ``--list`` shows the models.

TensorFlow is imported only when work starts (inside :func:`train`), so ``--help``, ``--list``
of names and flag errors answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from common.atomic import atomic_path
from common.errors import EXIT_INTERRUPTED, OneLineArgumentParser, UsageError, run_main
from common.numbers import arg_type, check_seed
from common.signals import exit_code
from common.strict_json import write_json
from common.toml_config import read_toml_table, typed_value
from networks.model_names import check_model_name, models_help
from networks.runs import (
    IDENTITY_KEYS,
    RunCallbacks,
    TrainConfig,
    check_given,
    full_config,
    lm_epochs_done,
    resolve,
    resume_command,
    resumed_values,
    run_folder,
    saved_config,
    take_slice,
)
from perception.devices import (
    DeviceConfig,
    add_device_arguments,
    configure_devices,
    scale_batch_size,
)

if TYPE_CHECKING:  # imported lazily: TensorFlow takes seconds to start
    import tensorflow as tf

    from common.runfolder import RunFolder
    from networks.datasets import Dataset
    from networks.models import ModelSpec


def train(
    config: TrainConfig,
    *,
    data: Dataset | None = None,
    stream: TextIO | None = None,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, Any]:
    """Run one training job end to end and return its summary (also written as JSON).

    Under a ``strategy`` the model is built in its scope and ``--batch-size`` is per replica:
    the global batch is scaled by the replica count, so the same command uses every device.
    The progress display goes to ``stream`` (default: stdout, where the summary goes).

    A new run claims a new (or empty) ``logdir``; ``resume`` continues the run there from its
    last whole epoch and ``overwrite`` replaces it. The folder is locked while the run lasts."""
    spec, cfg = resolve(config)
    assert cfg.epochs and cfg.batch_size and cfg.lr and cfg.logdir and cfg.save
    checkpoint, done, history = resume_point(spec, cfg)
    with run_folder(cfg) as folder:
        return _train(spec, cfg, folder, checkpoint, done, history, data, stream, strategy)


def resume_point(spec: ModelSpec, cfg: TrainConfig) -> tuple[Any, int, dict[str, list[float]]]:
    """(checkpoint, epochs done, history so far), read and checked before any work; the
    language models keep their own checkpoint (``<logdir>/resume``), read by their fit.
    A run killed after its last epoch but before its summary resumes to evaluate and save."""
    from networks.resume import TrainCheckpoint  # TensorFlow: only when work starts

    assert cfg.logdir and cfg.epochs
    if spec.dataset == "ptb":
        checkpoint, history = None, {}
        done = lm_epochs_done(cfg.logdir) if cfg.resume else 0
    else:
        identity = {key: getattr(cfg, key) for key in IDENTITY_KEYS}
        checkpoint = TrainCheckpoint(cfg.logdir, identity)
        done, history = checkpoint.read() if cfg.resume else (0, {})
    finished = cfg.summary_json is not None and Path(cfg.summary_json).is_file()
    if cfg.resume and (done > cfg.epochs or (done == cfg.epochs and finished)):
        raise UsageError(
            f"{cfg.logdir} has trained {done} epochs, --epochs is {cfg.epochs}: give --epochs "
            f"above {done} to train on"
        )
    return checkpoint, done, history


def _train(
    spec: ModelSpec,
    cfg: TrainConfig,
    folder: RunFolder,
    checkpoint: Any,
    done: int,
    saved_history: dict[str, list[float]],
    data: Dataset | None,
    stream: TextIO | None,
    strategy: tf.distribute.Strategy | None,
) -> dict[str, Any]:
    import keras
    import numpy as np

    from networks.datasets import load_dataset
    from networks.feed import ordered_fit
    from networks.models import BuildArgs, FitContext
    from networks.resume import EpochCheckpoint

    assert cfg.epochs and cfg.batch_size and cfg.lr and cfg.logdir and cfg.save
    stream = stream or sys.stdout
    # The same seed on a resume: the model is built as the run's was, then the checkpoint
    # restores its weights, optimizer and random (seed-generator) state; the data order of
    # epoch e is a function of (seed, e) (networks.feed): the resumed run is the same run.
    keras.utils.set_random_seed(cfg.seed)
    write_json(Path(cfg.logdir) / "config.json", saved_config(cfg))
    data = data if data is not None else load_dataset(spec.dataset, cfg.data_dir)
    if cfg.max_examples is not None:
        data = take_slice(data, cfg.max_examples)
    prep = spec.prepare(data)
    steps = -(-len(prep.x_train) // cfg.batch_size) * cfg.epochs
    build_args = BuildArgs(
        tuple(prep.x_train.shape[1:]), data.num_classes, prep.x_train, data.class_names
    )
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = spec.make(build_args, cfg.lr, steps)
        if done and checkpoint is not None:
            checkpoint.restore(model)  # weights, optimizer moments, step counter, seeds
            print(f"resuming {spec.name} after epoch {done} of {cfg.epochs}", file=sys.stderr)
    config_dict = full_config(spec, cfg, data, model.count_params())

    cbs = RunCallbacks.make(cfg.logdir, cfg.progress, stream)
    timer, tb, stop, progress = cbs.timer, cbs.tb, cbs.stop, cbs.progress
    tb.log_config(config_dict)
    callbacks = cbs.all()
    if checkpoint is not None:
        callbacks.append(EpochCheckpoint(checkpoint, saved_history, on_save=folder.keep))
    fit_kwargs = dict(
        x=prep.x_train,
        y=prep.y_train,
        batch_size=scale_batch_size(cfg.batch_size, strategy) if strategy else cfg.batch_size,
        epochs=cfg.epochs,
        initial_epoch=done,
        validation_data=(prep.x_val, prep.y_val),
        callbacks=callbacks,
        verbose=0,
    )
    start = time.perf_counter()
    try:
        fit = spec.fit if spec.fit is not None else ordered_fit
        history = fit(model, FitContext(prep, cfg.logdir, cfg.seed), **fit_kwargs)
    finally:
        stop.on_train_end()
        if progress is not None:  # leave the terminal clean even on Ctrl-C
            progress.on_train_end()
    train_seconds = time.perf_counter() - start
    folder.keep()  # trained: what follows saves it
    epochs_done = done + len(timer.seconds)  # the whole run's, resumed epochs included

    results = model.evaluate(
        prep.x_test, prep.y_test, batch_size=max(cfg.batch_size, 256), verbose=0, return_dict=True
    )
    extra: dict[str, Any] = {}
    if spec.kind == "image-classifier":
        probs = model.predict(prep.x_test, batch_size=max(cfg.batch_size, 256), verbose=0)
        pred = np.argmax(probs, axis=-1)
        cm = tb.log_results(prep.x_test, prep.y_test, pred, data.class_names, step=epochs_done)
        extra["confusion_matrix"] = cm.tolist()
    if spec.evaluate is not None:
        extra.update(spec.evaluate(model, prep, tb, epochs_done, cfg.batch_size))
    tb.close()

    with atomic_path(cfg.save, suffix=".keras") as tmp:
        model.save(tmp)
    for part, sub in (spec.companions(model) if spec.companions else {}).items():
        part_path = f"{cfg.save[: -len('.keras')]}.{part}.keras"
        with atomic_path(part_path, suffix=".keras") as tmp:
            sub.save(tmp)
        extra[f"saved_{part}"] = part_path

    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if checkpoint is not None and done:  # the LMs' fit merges its own history
        hist = {k: saved_history.get(k, []) + hist.get(k, []) for k in {*saved_history, *hist}}
    summary: dict[str, Any] = {
        "model": spec.name,
        "dataset": spec.dataset,
        "epochs": epochs_done,
        "epochs_planned": cfg.epochs,
        "resumed_after": done,
        "interrupted": stop.stopped,
        "interrupted_by": {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}.get(
            stop.request.signum
        ),
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "train_seconds": round(train_seconds, 3),
        "seconds_per_epoch": round(train_seconds / max(1, epochs_done), 3),
        "epoch_seconds": [round(s, 3) for s in timer.seconds],
        "test_accuracy": float(results.get("accuracy", float("nan"))),
        "test_loss": float(results["loss"]),
        "params": model.count_params(),
        "saved_model": str(cfg.save),
        "logdir": str(cfg.logdir),
        "history": hist,
        "config": config_dict,
        **extra,
    }
    write_json(cfg.summary_json, summary)  # strict JSON: a NaN metric is written as null
    return summary


def format_list() -> str:
    """One line per registered model: name, dataset, defaults and what it is."""
    from networks.catalog import MODELS

    width = max(len(n) for n in MODELS)
    return "\n".join(
        f"{s.name:<{width}}  {s.dataset:<8}  epochs {s.epochs:<3} batch {s.batch_size:<4} "
        f"lr {s.lr:<7g} {s.description}"
        for s in MODELS.values()
    )


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def format_summary(summary: dict[str, Any]) -> str:
    """The closing lines; paths whole (never cut to a width), so they can be copied."""
    acc = summary["test_accuracy"]
    head = summary.get("headline") or (
        f"test accuracy {acc:.2%}, test loss {summary['test_loss']:.4f}"
    )
    return (
        f"{summary['model']} on {summary['dataset']}: {head}, "
        f"{plural(summary['epochs'], 'epoch')}"
        f"{' (stopped early)' if summary.get('interrupted') else ''} in "
        f"{summary['train_seconds']:.1f}s ({summary['seconds_per_epoch']:.2f}s/epoch), "
        f"{summary['params']:,} params\n"
        f"saved model: {summary['saved_model']}\n"
        f"tensorboard: tensorboard --logdir {summary['logdir']}"
    )


EXAMPLES = """\
models (python -m networks.train --list shows each one's defaults and description):
{models}

examples:
  python -m networks.train mnist-cnn                      the MNIST CNN, its default recipe
  python -m networks.train mnist-cnn --epochs 1 --max-examples 2000
                                                          a first try in seconds
  python -m networks.train imdb-sentiment --data-dir ../shared/data/imdb
  python -m networks.train ptb-lm-small --max-examples 50000 --epochs 1
                                                          PTB on 50,000 words
  python -m networks.train denoising-autoencoder --noise masking --noise-level 0.3
  python -m networks.train mnist-cnn --config run.toml    options from a file
  python -m networks.predict runs/<run>/model.keras digit.png
  tensorboard --logdir runs                               review the runs

Every option can also be set in a TOML file (--config run.toml, keys as the long flags,
e.g. epochs = 3, batch-size = 64, model = "mnist-cnn"); flags given on the command line
override the file.
"""

#: The options a TOML file may set: key -> (TrainConfig field, type).
TOML_KEYS: dict[str, tuple[str, type]] = {
    "model": ("model", str),
    "epochs": ("epochs", int),
    "batch_size": ("batch_size", int),
    "lr": ("lr", float),
    "seed": ("seed", int),
    "max_examples": ("max_examples", int),
    "data_dir": ("data_dir", str),
    "logdir": ("logdir", str),
    "save": ("save", str),
    "summary_json": ("summary_json", str),
    "dashboard": ("progress", bool),
    "progress": ("progress", bool),  # the old name of dashboard
    "noise": ("noise", str),
    "noise_level": ("noise_level", float),
}


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog="python -m networks.train",
        description="Train one of the curriculum's models on its dataset, evaluate it on the "
        "test set and save it as a .keras file.",
        epilog=EXAMPLES.format(models=models_help()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,  # given options only: they override --config
    )
    p.add_argument("model", nargs="?", metavar="MODEL", help="model to train (listed below)")
    p.add_argument(
        "--list", action="store_true", default=False, help="list the models with their defaults"
    )
    p.add_argument(
        "--config", metavar="FILE.toml", help="read options from a TOML file; flags override it"
    )
    run = p.add_argument_group("run options")
    run.add_argument(
        "--epochs",
        type=arg_type(int, "--epochs"),
        metavar="N",
        help="epochs (default: the model's); on --resume, the total to reach",
    )
    run.add_argument(
        "--batch-size",
        type=arg_type(int, "--batch-size"),
        metavar="N",
        help="batch size (default: the model's)",
    )
    run.add_argument(
        "--lr", type=arg_type(float, "--lr"), help="peak learning rate (default: the model's)"
    )
    run.add_argument(
        "--seed",
        type=arg_type(int, "--seed", check_seed),
        metavar="N",
        help="random seed, 0..2**32-1 (default: 0)",
    )
    run.add_argument(
        "--max-examples",
        type=arg_type(int, "--max-examples"),
        metavar="N",
        help="train on a slice: N examples (the first N words for PTB), validation and test "
        "N // 4: a first try in seconds (default: all)",
    )
    run.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder (or file) holding the dataset's files (default: $DLTF_<DATASET>_DIR, then "
        "$DLTF_DATA_DIR, then the cache)",
    )
    run.add_argument(
        "--logdir",
        metavar="DIR",
        help="TensorBoard folder (default: runs/<dataset>__<model>__<seed>__<time>)",
    )
    run.add_argument(
        "--save",
        metavar="PATH",
        help="where to save the model, a .keras file (default: <logdir>/model.keras)",
    )
    run.add_argument(
        "--summary-json",
        metavar="PATH",
        help="where to write the summary JSON (default: <logdir>/summary.json)",
    )
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --logdir (or the latest run of this model and seed) from its "
        "last whole epoch: weights, optimizer state, schedule, counters, data order and random "
        "state, so it ends as the run would have, uninterrupted",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --logdir (a new run never writes into an existing one)",
    )
    run.add_argument(
        "--dashboard",
        action=argparse.BooleanOptionalAction,
        help="live progress display on a terminal (plain lines per epoch when stdout is not "
        "one) (default: True)",
    )
    run.add_argument(
        "--no-progress", dest="dashboard", action="store_false", help="the same as --no-dashboard"
    )
    noise = p.add_argument_group("options of the denoising autoencoder")
    noise.add_argument(
        "--noise", choices=("gaussian", "masking"), help="corruption type (default: gaussian)"
    )
    noise.add_argument(
        "--noise-level",
        type=arg_type(float, "--noise-level"),
        metavar="LEVEL",
        help="Gaussian std (pixels in [0, 1]) or masked fraction (default: 0.3)",
    )
    add_device_arguments(p)
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults < ``--config`` file < flags, checked in one line each; no TensorFlow."""
    values: dict[str, Any] = {}
    config_path = getattr(args, "config", None)
    if config_path is not None:
        source = f"config file {config_path}"
        for key, value in read_toml_table(config_path).items():
            if key not in TOML_KEYS:
                raise UsageError(
                    f"unknown key {key!r} in {source}: valid keys are the long flags, "
                    "e.g. epochs, batch-size, lr"
                )
            name, kind = TOML_KEYS[key]
            values[name] = typed_value(key, value, kind, source)
    given = vars(args)
    for key, (name, _) in TOML_KEYS.items():
        if key in given and key != "progress":
            values[name] = given[key]
    values["resume"] = bool(given.get("resume"))
    values["overwrite"] = bool(given.get("overwrite"))
    if values["resume"]:
        values = resumed_values(values)
    if not values.get("model"):
        raise UsageError("a model name is required (see --help or --list)")
    config = TrainConfig(**values)
    check_model_name(config.model)
    if config.noise is not None and config.noise not in ("gaussian", "masking"):
        raise UsageError(f"--noise must be gaussian or masking, got {config.noise!r}")
    check_given(config)
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(format_list())
        return 0
    config = config_from_args(args)  # every option checked before TensorFlow starts
    devices = DeviceConfig.from_args(args)  # refuses --strategy multiworker in one line
    strategy = configure_devices(devices)  # before any tensor exists
    try:
        if devices.strategy == "multiworker":
            # A TF_CONFIG cluster trains with a custom loop (Keras fit fails under it).
            from networks.multiworker import train_multiworker

            summary = train_multiworker(config, strategy)
        else:
            summary = train(config, strategy=strategy)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(format_summary(summary))
    if summary.get("interrupted"):
        print(
            f"interrupted after {plural(summary['epochs'], 'epoch')}; "
            f"resume with: {resume_command(summary)}",
            file=sys.stderr,
        )
        by_sigterm = summary.get("interrupted_by") == "SIGTERM"
        return exit_code(signal.SIGTERM if by_sigterm else signal.SIGINT)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
