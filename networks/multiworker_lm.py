"""The PTB language models on a cluster: truncated BPTT with the LSTM state carried across
batches, as :func:`networks.language_model.lm_fit` does on one host.

The stream is cut into ``--batch-size`` rows per replica (``batch x replicas`` rows in all,
:func:`~networks.language_model.batch_layout`); replica ``g`` always reads rows
``[g*batch, (g+1)*batch)`` of every batch, so each replica's stateful twin carries the state of
its own rows. The state is per replica, so the twin lives outside the strategy's scope (plain
variables on this worker's one device): each step all-reduces the gradients of the global mean
per-word loss, clips their global norm and applies Zaremba's SGD identically on every worker
(the chief's start is broadcast first). One device per worker for these models.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

import keras
import numpy as np
import tensorflow as tf

from common.errors import UsageError
from networks import cluster_ops
from networks.cluster_ops import PEER_ERRORS, PeerLost, first_line
from networks.datasets import Dataset
from networks.language_model import (
    MEDIUM,
    SMALL,
    LMConfig,
    batch_layout,
    lm_network,
    perplexity,
    reset_states,
    stream_of,
)
from networks.models import BuildArgs, ModelSpec, Prepared
from networks.multiworker_finish import finish_run
from networks.progress import Throughput
from networks.runs import RunCallbacks, TrainConfig, full_config

LM_CONFIGS = {"ptb-lm-small": SMALL, "ptb-lm-medium": MEDIUM}


class LMLoop:
    def __init__(
        self,
        lm: LMConfig,
        cfg: TrainConfig,
        twin: keras.Model,
        strategy: tf.distribute.Strategy,
        index: int,
    ) -> None:
        assert cfg.batch_size and cfg.lr
        self.lm, self.cfg, self.twin, self.strategy = lm, cfg, twin, strategy
        self.rows = cfg.batch_size * int(strategy.num_replicas_in_sync)
        self.index = index
        twin.compile(optimizer=keras.optimizers.SGD(cfg.lr * lm.steps))  # its rate: TensorBoard's
        self.lr = twin.optimizer.learning_rate
        self.step = tf.function(self._step)
        self.forward = tf.function(self._forward)

    def layout(self, x: Any, y: np.ndarray) -> tuple[Any, Any, int]:
        """This worker's rows of every batch: (words, targets, batches)."""
        xs, ys = batch_layout(*stream_of(x, y), self.rows, self.lm.steps)
        b = int(self.cfg.batch_size or 0)
        n = len(xs) // self.rows
        rows = (np.arange(n)[:, None] * self.rows + self.index * b + np.arange(b)[None]).reshape(-1)
        return tf.constant(xs[rows].tolist()), tf.constant(ys[rows]), n

    def batches(self, words: Any, targets: Any) -> Any:
        b = int(self.cfg.batch_size or 0)

        def make(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            return tf.data.Dataset.from_tensor_slices((words, targets)).batch(b).prefetch(2)

        return iter(self.strategy.distribute_datasets_from_function(make))

    def _loss(self, x: Any, y: Any, training: bool) -> Any:
        p = self.twin(x, training=training)
        return tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, p))

    def _step(self, batch: Any, stop: Any) -> Any:
        words = float(self.rows * self.lm.steps)

        def replica(x: Any, y: Any) -> Any:
            variables = self.twin.trainable_variables
            with tf.GradientTape() as tape:
                total = self._loss(x, y, True)
                loss = total / words  # this replica's share of the global mean per word
            grads = tape.gradient(loss, variables)
            grads = tf.distribute.get_replica_context().all_reduce("sum", grads)
            grads, _ = tf.clip_by_global_norm(grads, self.lm.clip / self.lm.steps)
            for var, grad in zip(variables, grads, strict=True):
                var.assign_sub(tf.cast(self.lr, grad.dtype) * grad)
            n = tf.cast(tf.size(y), tf.float32)
            return tf.stack([total, 0.0, n, stop])

        stats = self.strategy.run(replica, args=batch)
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, stats, axis=None)

    def _forward(self, batch: Any) -> Any:
        def replica(x: Any, y: Any) -> Any:
            return tf.stack([self._loss(x, y, False), tf.cast(tf.size(y), tf.float32)])

        return self.strategy.reduce(
            tf.distribute.ReduceOp.SUM, self.strategy.run(replica, args=batch), axis=None
        )

    def evaluate(self, split: tuple[Any, Any, int]) -> float:
        """Mean loss per word of a split, state carried (every replica its rows)."""
        reset_states(self.twin)
        it, sums = self.batches(split[0], split[1]), np.zeros(2)
        for _ in range(split[2]):
            sums += self.forward(next(it)).numpy()
        reset_states(self.twin)
        return float(sums[0] / max(sums[1], 1))

    def scheduled_lr(self, epoch: int) -> float:
        """networks.language_model.LMEpochs.scheduled_lr: held, then decayed every epoch."""
        return float(self.cfg.lr or 0) * self.lm.decay ** max(epoch + 1 - self.lm.decay_after, 0)


def train_language_model(
    spec: ModelSpec,
    cfg: TrainConfig,
    data: Dataset,
    prep: Prepared,
    strategy: tf.distribute.Strategy,
    stream: TextIO,
    chief: bool,
    workers: int,
    index: int,
    digest: str,
    folder: Any,
) -> dict[str, Any]:
    assert cfg.epochs and cfg.batch_size and cfg.lr and cfg.logdir
    lm = LM_CONFIGS.get(spec.name)
    if lm is None or len(strategy.extended.worker_devices) != 1:
        raise UsageError(
            f"{spec.name} under --strategy multiworker needs one device per worker "
            "(its LSTM state is per replica); use --device cpu or one GPU per worker"
        )
    build_args = BuildArgs(
        tuple(prep.x_train.shape[1:]), data.num_classes, prep.x_train, data.class_names
    )
    model = spec.make(build_args, cfg.lr, 1)  # outside the scope: saved at the end
    twin = lm_network(model.name, lm, tuple(data.class_names), batch_size=cfg.batch_size)
    twin.set_weights(model.get_weights())
    loop = LMLoop(lm, cfg, twin, strategy, index)
    train_split = loop.layout(prep.x_train, prep.y_train)
    evals = {
        "val": loop.layout(prep.x_val, prep.y_val),
        "test": loop.layout(prep.x_test, prep.y_test),
    }
    steps = train_split[2]

    variables = {"model": list(twin.variables)}
    backup = cluster_ops.Backup(os.path.join(cfg.logdir, "backup"), digest, variables)
    done, state = backup.load() if chief else (0, {})
    done = int(cluster_ops.sum_across_workers(strategy, [done])[0])
    cluster_ops.broadcast_from_chief(strategy, variables["model"])
    if done:
        print(f"resuming {spec.name} after epoch {done} of {cfg.epochs}", file=sys.stderr)
        seconds = state.get("epoch_seconds", [])[:done] if chief else [0.0] * done
        state["epoch_seconds"] = list(cluster_ops.sum_across_workers(strategy, seconds))

    config_dict = full_config(spec, cfg, data, model.count_params())
    config_dict.update(
        strategy="multiworker", workers=workers, rows=loop.rows, steps_per_epoch=steps
    )
    cbs = RunCallbacks.make(cfg.logdir, cfg.progress, stream)
    cbs.timer.seconds = list(state.get("epoch_seconds", []))
    history = {k: list(v) for k, v in state.get("history", {}).items()}
    if done:  # every worker's summary holds the whole run's history
        keys = ["loss", "perplexity", "words/s", "lr"]
        keys += [f"{split}_{m}" for split in ("val", "test") for m in ("loss", "perplexity")]
        history = cluster_ops.share_history(strategy, history, keys, done, chief)
    per_batch = loop.rows * lm.steps
    rate = Throughput("words/s", per_batch, steps * per_batch)
    callbacks = [rate, *cbs.all()]
    for cb in callbacks:
        cb.set_model(twin)
        cb.set_params({"epochs": cfg.epochs, "steps": steps, "verbose": 0})
    if not done:
        cbs.tb.log_config(config_dict)
    twin.stop_training = False
    for cb in cbs.all():
        cb.on_train_begin()
    start, stopped = time.perf_counter(), False
    try:
        for epoch in range(done, cfg.epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            reset_states(twin)
            loop.lr.assign(loop.scheduled_lr(epoch) * lm.steps)
            it, sums = loop.batches(train_split[0], train_split[1]), np.zeros(4)
            for step in range(steps):
                flag = tf.constant(1.0 if twin.stop_training else 0.0)
                try:
                    sums += loop.step(next(it), flag).numpy()
                except PEER_ERRORS as exc:
                    raise PeerLost(
                        f"epoch {epoch + 1}, step {step + 1}: {first_line(exc)}"
                    ) from exc
                mean = sums[0] / sums[2]
                logs = {"loss": mean, "perplexity": perplexity(mean)}
                for cb in callbacks:
                    cb.on_train_batch_end(step, logs)
                if sums[3] > 0:
                    stopped = twin.stop_training = True
                    break
            logs = {"loss": sums[0] / max(sums[2], 1)}
            logs["perplexity"] = perplexity(logs["loss"])
            for split, layout in evals.items():
                logs[f"{split}_loss"] = loop.evaluate(layout)
                logs[f"{split}_perplexity"] = perplexity(logs[f"{split}_loss"])
            logs["lr"] = loop.scheduled_lr(epoch)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if stopped:
                break
            for key, value in logs.items():
                history.setdefault(key, []).append(float(value))
            if chief:
                backup.save(epoch + 1, {"history": history, "epoch_seconds": cbs.timer.seconds})
                folder.keep()
    finally:
        cbs.stop.on_train_end()
        if cbs.progress is not None:
            cbs.progress.on_train_end()
    seconds = time.perf_counter() - start + sum(cbs.timer.seconds[:done])
    model.set_weights(twin.get_weights())
    test = {"loss": history.get("test_loss", [float("nan")])[-1]}
    folder.keep()
    return finish_run(
        spec,
        cfg,
        data,
        prep,
        model,
        None,
        1,
        cbs,
        history,
        seconds,
        stopped,
        config_dict,
        chief,
        test,
        done,
    )
