"""The end of a multi-worker run: the same summary, TensorBoard results and saved model as
:func:`networks.train.train`, written by the chief alone.

The trained weights are copied into a plain (undistributed) model first, so the spec's own
evaluation hooks, ``predict`` and ``save`` run exactly as on one host and involve no collective
(only the chief calls them).
"""

from __future__ import annotations

import signal
from typing import Any

import keras
import numpy as np

from common.atomic import atomic_path
from common.strict_json import write_json
from networks.datasets import Dataset
from networks.models import BuildArgs, ModelSpec, Prepared
from networks.runs import RunCallbacks, TrainConfig

ON_CHIEF = "(written by the chief)"  # what another worker's summary says of the outputs


def plain_copy(
    spec: ModelSpec, model: keras.Model, build_args: BuildArgs, lr: float, total_steps: int
) -> keras.Model:
    """The distributed model's weights and optimizer state in a model built outside the scope."""
    plain = spec.make(build_args, lr, total_steps)
    plain.optimizer.build(plain.trainable_variables)
    plain.set_weights(model.get_weights())
    for mine, theirs in zip(plain.optimizer.variables, model.optimizer.variables, strict=True):
        mine.assign(np.asarray(theirs.numpy()))
    return plain


def save_model(spec: ModelSpec, model: keras.Model, save: str) -> dict[str, Any]:
    """The model and its companions (the autoencoders' encoder), atomically, as train does."""
    extra: dict[str, Any] = {}
    with atomic_path(save, suffix=".keras") as tmp:
        model.save(tmp)
    for part, sub in (spec.companions(model) if spec.companions else {}).items():
        part_path = f"{save[: -len('.keras')]}.{part}.keras"
        with atomic_path(part_path, suffix=".keras") as tmp:
            sub.save(tmp)
        extra[f"saved_{part}"] = part_path
    return extra


def finish_run(
    spec: ModelSpec,
    cfg: TrainConfig,
    data: Dataset,
    prep: Prepared,
    model: keras.Model,
    build_args: BuildArgs | None,
    total_steps: int,
    cbs: RunCallbacks,
    history: dict[str, list[float]],
    train_seconds: float,
    stopped: bool,
    config_dict: dict[str, Any],
    chief: bool,
    test: dict[str, float],
    done: int = 0,
) -> dict[str, Any]:
    """Results, saved model and summary JSON (chief only); every worker returns the summary."""
    assert cfg.lr and cfg.batch_size and cfg.save and cfg.summary_json is not None or not chief
    epochs_done = len(cbs.timer.seconds)
    extra: dict[str, Any] = {}
    plain = (
        model
        if build_args is None
        else plain_copy(spec, model, build_args, float(cfg.lr or 0), total_steps)
    )
    if chief:
        batch = max(cfg.batch_size or 0, 256)
        if spec.kind == "image-classifier":
            pred = np.argmax(plain.predict(prep.x_test, batch_size=batch, verbose=0), axis=-1)
            cm = cbs.tb.log_results(prep.x_test, prep.y_test, pred, data.class_names, epochs_done)
            extra["confusion_matrix"] = cm.tolist()
        if spec.evaluate is not None:
            extra.update(spec.evaluate(plain, prep, cbs.tb, epochs_done, cfg.batch_size))
    elif spec.evaluate is not None:  # the spec's own figures are the chief's
        extra["headline"] = f"test loss {test['loss']:.4f} (the chief reports the full results)"
    cbs.tb.close()
    if chief:
        assert cfg.save
        extra.update(save_model(spec, plain, cfg.save))
    summary: dict[str, Any] = {
        "model": spec.name,
        "dataset": spec.dataset,
        "epochs": epochs_done,
        "epochs_planned": cfg.epochs,
        "resumed_after": done,
        "interrupted": stopped,
        "interrupted_by": {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}.get(
            cbs.stop.request.signum
        ),
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "train_seconds": round(train_seconds, 3),
        "seconds_per_epoch": round(train_seconds / max(1, epochs_done), 3),
        "epoch_seconds": [round(s, 3) for s in cbs.timer.seconds],
        "test_accuracy": float(test.get("accuracy", float("nan"))),
        "test_loss": float(test["loss"]),
        "params": model.count_params(),
        "saved_model": str(cfg.save) if chief else ON_CHIEF,
        "logdir": str(cfg.logdir) if chief else ON_CHIEF,
        "history": history,
        "config": config_dict,
        **extra,
    }
    if chief:
        assert cfg.summary_json
        write_json(cfg.summary_json, summary)  # strict JSON: a NaN metric is written as null
    return summary
