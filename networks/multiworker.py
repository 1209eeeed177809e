"""``networks.train MODEL --strategy multiworker``: one run over a TF_CONFIG cluster.

Keras 3's ``fit`` fails under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585), so this is
a custom loop: every worker runs the same command; the model's variables are mirrored on every
replica and each step all-reduces the gradients (TensorFlow's collectives over gRPC).

- Data: each worker reads its own shard (``distribute_datasets_from_function``): every epoch
  the training set is shuffled with ``(seed, epoch)``, worker ``w`` of ``W`` takes every W-th
  example, each replica a ``--batch-size`` batch; the global batch is ``--batch-size`` times
  the replicas and the last partial global batch is dropped (every worker must run the same
  number of steps). ``--lr`` is the rate of the global batch, not scaled with the replicas: the
  same rule as one device and ``--strategy mirrored``.
- Only the chief writes: the model, the summary JSON, TensorBoard and ``<logdir>/backup``
  (a checkpoint every epoch). Other workers log into a temporary folder, removed at the end.
- A restarted run resumes after the last whole epoch: the chief restores its backup and
  broadcasts it. A worker that loses a peer restarts itself (``networks.cluster_ops.rejoin``)
  and waits for the lost one to be restarted.
- Start-up exchanges a hash of the settings and data; workers that differ refuse in one line.

The language models (carried LSTM state) train on their stateful twin, each replica carrying
its own rows of the stream: :mod:`networks.multiworker_lm`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TextIO

import keras
import numpy as np
import tensorflow as tf

from common.strict_json import write_json
from networks import cluster_ops
from networks.catalog import get_model_spec
from networks.cluster_ops import PEER_ERRORS, PeerLost, first_line
from networks.datasets import Dataset, load_dataset
from networks.models import BuildArgs, ModelSpec, Prepared
from networks.multiworker_finish import finish_run
from networks.multiworker_loop import Loop, metrics_of
from networks.progress import Throughput
from networks.runs import (
    RunCallbacks,
    TrainConfig,
    full_config,
    resolve,
    run_folder,
    saved_config,
    take_slice,
)
from perception import cluster as cluster_mod

# The custom fits' live rates, by model kind (networks.imdb and networks.language_model).
RATE_KEYS = {"text-classifier": "reviews/s", "language-model": "words/s"}
# Options each worker may set its own way: where outputs go and how a restart starts.
LOCAL_KEYS = ("logdir", "save", "summary_json", "progress", "data_dir", "resume", "overwrite")


def _cluster() -> tuple[cluster_mod.ClusterSpec | None, float]:
    try:
        return cluster_mod.active()
    except RuntimeError:  # a strategy built without TF_CONFIG: one worker, the chief
        return None, cluster_mod.DEFAULT_CONNECT_TIMEOUT


def worker_config(config: TrainConfig, chief: bool) -> tuple[TrainConfig, str | None]:
    """The chief writes where asked (a fixed default folder, so a restart finds its backup);
    the others into a temporary folder that :func:`train_multiworker` removes."""
    if not chief:
        tmp = tempfile.mkdtemp(prefix="dltf-worker-")
        paths = dict(logdir=tmp, save=None, summary_json=None, resume=False, overwrite=False)
        return replace(config, **paths), tmp
    if os.environ.get(cluster_mod.REJOIN_ENV):  # this chief rejoins its own run
        config = replace(config, resume=True, overwrite=False)
    if config.logdir is None:
        spec = get_model_spec(config.model)
        folder = f"{spec.dataset}__{spec.name}__{config.seed}__multiworker"
        config = replace(config, logdir=os.path.join("runs", folder))
    return config, None


def run_settings(
    spec: ModelSpec, cfg: TrainConfig, prep: Prepared, strategy: tf.distribute.Strategy
) -> dict[str, Any]:
    """What every worker must agree on: the config but its output paths, and the data."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in LOCAL_KEYS}
    settings.update(
        replicas=int(strategy.num_replicas_in_sync),
        precision=keras.mixed_precision.global_policy().name,
        data=[cluster_ops.fingerprint(a) for a in (prep.x_train, prep.y_train, prep.x_val)],
    )
    return settings


def train_epochs(
    loop: Loop,
    cbs: RunCallbacks,
    backup: cluster_ops.Backup | None,
    start: int,
    history: dict[str, list[float]],
    rate: Throughput | None,
    folder: Any,
) -> bool:
    """Epochs ``start``..end; the chief backs up each whole one. Returns True if stopped."""
    cfg, model = loop.cfg, loop.model
    assert cfg.epochs
    callbacks = ([rate] if rate else []) + cbs.all()
    for epoch in range(start, cfg.epochs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        batches, sums, stopped = loop.dataset(epoch), np.zeros(4), False
        for step in range(loop.steps):
            flag = tf.constant(1.0 if model.stop_training else 0.0)
            try:
                sums += loop.step(next(batches), flag).numpy()
            except PEER_ERRORS as exc:
                cbs.tb.close()
                raise PeerLost(f"epoch {epoch + 1}, step {step + 1}: {first_line(exc)}") from exc
            logs = metrics_of(loop.spec, sums)
            for cb in callbacks:
                cb.on_train_batch_end(step, logs)
            if sums[3] > 0:  # some worker was asked to stop: every worker stops here
                model.stop_training = stopped = True
                break
        logs = metrics_of(loop.spec, sums)
        logs.update(loop.evaluate_val())
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if stopped:
            return True
        for key, value in logs.items():
            history.setdefault(key, []).append(float(value))
        if backup is not None:
            backup.save(epoch + 1, {"history": history, "epoch_seconds": cbs.timer.seconds})
            folder.keep()  # a whole epoch is worth keeping if a later one fails
    return False


def train_multiworker(
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    *,
    data: Dataset | None = None,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """:func:`networks.train.train` on a cluster; returns the same summary (the chief writes it)."""
    spec_c, timeout = _cluster()
    chief = spec_c.is_chief if spec_c else True
    workers = spec_c.num_workers if spec_c else 1
    index = (
        0
        if spec_c is None
        else (
            spec_c.task_index
            + (1 if spec_c.task_type == "worker" and "chief" in spec_c.jobs else 0)
        )
    )
    given_logdir = config.logdir  # the run folder's name on the chief, if every worker gives it
    config, tmp = worker_config(config, chief)
    try:
        summary = _train(
            config, strategy, data, stream or sys.stdout, chief, workers, index, spec_c, timeout
        )
        # The last collective is done: peers may now exit without alarming this one.
        stop_health_checks = getattr(strategy.extended, "_stop_check_health_thread", None)
        if stop_health_checks is not None:
            stop_health_checks()
        if not chief and given_logdir:  # what the printed resume command names
            summary["logdir"] = given_logdir
        return summary
    except (PeerLost, *PEER_ERRORS) as exc:  # a peer left or restarted: rejoin or one line
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        cluster_mod.rejoin(str(exc) if isinstance(exc, PeerLost) else first_line(exc))
        raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _train(
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    data: Dataset | None,
    stream: TextIO,
    chief: bool,
    workers: int,
    index: int,
    spec_c: cluster_mod.ClusterSpec | None,
    timeout: float,
) -> dict[str, Any]:
    spec, cfg = resolve(config)  # the chief's run folder: new, --resume or --overwrite
    assert cfg.epochs and cfg.batch_size and cfg.lr and cfg.logdir
    with run_folder(cfg) as folder:
        return _train_in(
            spec, cfg, folder, strategy, data, stream, chief, workers, index, spec_c, timeout
        )


def _train_in(
    spec: ModelSpec,
    cfg: TrainConfig,
    folder: Any,
    strategy: tf.distribute.Strategy,
    data: Dataset | None,
    stream: TextIO,
    chief: bool,
    workers: int,
    index: int,
    spec_c: cluster_mod.ClusterSpec | None,
    timeout: float,
) -> dict[str, Any]:
    assert cfg.epochs and cfg.batch_size and cfg.lr and cfg.logdir
    keras.utils.set_random_seed(cfg.seed)
    write_json(Path(cfg.logdir) / "config.json", saved_config(cfg))
    data = data if data is not None else load_dataset(spec.dataset, cfg.data_dir)
    if cfg.max_examples is not None:
        data = take_slice(data, cfg.max_examples)
    prep = spec.prepare(data)
    settings = run_settings(spec, cfg, prep, strategy)
    digest = cluster_ops.config_digest(settings)
    what = f"{spec.name}, epochs {cfg.epochs}, batch {cfg.batch_size}, lr {cfg.lr:g}"
    where = spec_c.describe() if spec_c else "this worker"
    with cluster_mod.Watchdog(
        timeout,
        cluster_mod.peers_message(spec_c, timeout, where)
        if spec_c
        else "the cluster did not answer",
    ):
        cluster_ops.check_same_config(strategy, digest, what)

    if spec.kind == "language-model":
        from networks.multiworker_lm import train_language_model

        return train_language_model(
            spec, cfg, data, prep, strategy, stream, chief, workers, index, digest, folder
        )

    global_batch = cfg.batch_size * int(strategy.num_replicas_in_sync)
    total_steps = (len(prep.x_train) // global_batch) * cfg.epochs
    build_args = BuildArgs(
        tuple(prep.x_train.shape[1:]), data.num_classes, prep.x_train, data.class_names
    )
    with strategy.scope():
        model = spec.make(build_args, cfg.lr, total_steps)
        model.optimizer.build(model.trainable_variables)
    loop = Loop(spec, cfg, model, strategy, prep, workers, index)

    variables = {"model": list(model.variables), "optimizer": list(model.optimizer.variables)}
    backup = cluster_ops.Backup(os.path.join(cfg.logdir, "backup"), digest, variables)
    done, state = backup.load() if chief else (0, {})
    done = int(cluster_ops.sum_across_workers(strategy, [done])[0])
    if done:  # every worker's summary counts the resumed epochs' seconds (the chief's)
        seconds = state.get("epoch_seconds", [])[:done] if chief else [0.0] * done
        state["epoch_seconds"] = list(cluster_ops.sum_across_workers(strategy, seconds))
    cluster_ops.broadcast_from_chief(strategy, variables["model"] + variables["optimizer"])
    if done:
        print(f"resuming {spec.name} after epoch {done} of {cfg.epochs}", file=sys.stderr)

    config_dict = full_config(spec, cfg, data, model.count_params())
    config_dict.update(
        strategy="multiworker",
        workers=workers,
        global_batch=global_batch,
        steps_per_epoch=loop.steps,
    )
    cbs = RunCallbacks.make(cfg.logdir, cfg.progress, stream)
    cbs.timer.seconds = list(state.get("epoch_seconds", []))
    history = {k: list(v) for k, v in state.get("history", {}).items()}
    rate_key = RATE_KEYS.get(spec.kind)
    if done:  # every worker's summary holds the whole run's history
        names = [*metrics_of(spec, np.ones(3)), *([rate_key] if rate_key else [])]
        keys = names + [f"val_{k}" for k in metrics_of(spec, np.ones(3))]
        history = cluster_ops.share_history(strategy, history, keys, done, chief)
    rate = Throughput(rate_key, global_batch, loop.steps * global_batch) if rate_key else None
    for cb in ([rate] if rate else []) + cbs.all():
        cb.set_model(model)
        cb.set_params({"epochs": cfg.epochs, "steps": loop.steps, "verbose": 0})
    if not done:
        cbs.tb.log_config(config_dict)
    model.stop_training = False
    for cb in cbs.all():
        cb.on_train_begin()
    start = time.perf_counter()
    try:
        stopped = train_epochs(loop, cbs, backup if chief else None, done, history, rate, folder)
    finally:
        cbs.stop.on_train_end()
        if cbs.progress is not None:
            cbs.progress.on_train_end()
    seconds = time.perf_counter() - start + sum(cbs.timer.seconds[:done])
    test = loop.evaluate(tf.constant(prep.x_test), tf.constant(prep.y_test))
    folder.keep()
    return finish_run(
        spec,
        cfg,
        data,
        prep,
        model,
        build_args,
        total_steps,
        cbs,
        history,
        seconds,
        stopped,
        config_dict,
        chief,
        test,
        done,
    )
