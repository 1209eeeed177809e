"""The distributed steps of a multi-worker run of the classifiers and autoencoders: sharded
batches, the train step (per-example Keras loss over the global batch, gradients all-reduced by
the optimizer), and evaluation by stride with the sums all-reduced. See networks.multiworker."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from common.errors import UsageError
from networks import cluster_ops
from networks.models import ModelSpec, Prepared
from networks.runs import TrainConfig


def per_example(loss_fn: Any, y: Any, pred: Any) -> Any:
    """Keras' loss per example: its function's output averaged over the non-batch axes."""
    loss = tf.cast(loss_fn(y, pred), tf.float32)
    return tf.reduce_mean(tf.reshape(loss, [tf.shape(loss)[0], -1]), axis=1)


def correct_count(spec: ModelSpec, y: Any, pred: Any) -> Any:
    """Keras' 'accuracy' for the spec's loss: binary above 0.5, sparse or one-hot by argmax."""
    if "accuracy" not in spec.metrics:
        return tf.constant(0.0)
    if "binary" in spec.loss:
        hit = tf.equal(
            tf.cast(tf.reshape(pred, [-1]) > 0.5, tf.float32),
            tf.cast(tf.reshape(y, [-1]), tf.float32),
        )
    elif "sparse" in spec.loss:
        hit = tf.equal(
            tf.argmax(pred, axis=-1), tf.cast(tf.reshape(y, tf.shape(pred)[:-1]), tf.int64)
        )
    else:
        hit = tf.equal(tf.argmax(pred, axis=-1), tf.argmax(y, axis=-1))
    return tf.reduce_sum(tf.cast(hit, tf.float32))


def train_transform(spec: ModelSpec, cfg: TrainConfig) -> Any:
    """The denoiser corrupts its inputs anew every batch (as autoencoders.denoising_fit)."""
    if spec.with_options is None:
        return None
    from networks.autoencoders import DEFAULT_LEVEL, DEFAULT_NOISE, corrupt_tf

    noise = cfg.noise or DEFAULT_NOISE
    level = DEFAULT_LEVEL if cfg.noise_level is None else cfg.noise_level
    return lambda x: corrupt_tf(x, noise, level)


class Loop:
    """The distributed steps of one classifier/autoencoder run."""

    def __init__(
        self,
        spec: ModelSpec,
        cfg: TrainConfig,
        model: keras.Model,
        strategy: tf.distribute.Strategy,
        prep: Prepared,
        workers: int,
        index: int,
    ):
        assert cfg.batch_size
        self.spec, self.cfg, self.model, self.strategy = spec, cfg, model, strategy
        self.workers, self.index = workers, index
        self.global_batch = cfg.batch_size * int(strategy.num_replicas_in_sync)
        self.steps = len(prep.x_train) // self.global_batch
        if self.steps == 0:
            raise UsageError(
                f"{len(prep.x_train)} training examples cannot fill one global batch of "
                f"{self.global_batch} ({cfg.batch_size} x {strategy.num_replicas_in_sync} "
                "replicas); lower --batch-size"
            )
        self.x, self.y = tf.constant(prep.x_train), tf.constant(prep.y_train)
        self.x_val, self.y_val = tf.constant(prep.x_val), tf.constant(prep.y_val)
        self.loss_fn = keras.losses.get(spec.loss)
        self.transform = train_transform(spec, cfg)
        self.step = tf.function(self._step)
        self.eval_batch = tf.function(self._eval_batch)

    def dataset(self, epoch: int) -> Any:
        """This epoch's batches: one shuffle of the whole set, every worker its stride."""
        seed = self.cfg.seed * 100_003 + epoch

        def make(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
            per_replica = ctx.get_per_replica_batch_size(self.global_batch)
            n = self.steps * self.global_batch
            ds = tf.data.Dataset.range(len(self.x)).shuffle(len(self.x), seed=seed)
            ds = ds.take(n).shard(ctx.num_input_pipelines, ctx.input_pipeline_id)
            ds = ds.batch(per_replica, drop_remainder=True)
            ds = ds.map(lambda i: (tf.gather(self.x, i), tf.gather(self.y, i)))
            if self.transform is not None:
                ds = ds.map(lambda a, b: (self.transform(a), b))
            return ds.prefetch(2)

        return iter(self.strategy.distribute_datasets_from_function(make))

    def _step(self, batch: Any, stop: Any) -> Any:
        def replica(x: Any, y: Any) -> Any:
            with tf.GradientTape() as tape:
                pred = self.model(x, training=True)
                losses = per_example(self.loss_fn, y, pred)
                loss = tf.reduce_sum(losses) / self.global_batch
                if self.model.losses:
                    loss += tf.add_n(self.model.losses) / self.strategy.num_replicas_in_sync
                scaled = self.model.optimizer.scale_loss(loss)
            variables = self.model.trainable_variables
            self.model.optimizer.apply(tape.gradient(scaled, variables), variables)
            count = tf.cast(tf.shape(losses)[0], tf.float32)
            return tf.stack([tf.reduce_sum(losses), correct_count(self.spec, y, pred), count, stop])

        stats = self.strategy.run(replica, args=batch)
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, stats, axis=None)

    def _eval_batch(self, x: Any, y: Any) -> Any:
        pred = self.model(x, training=False)
        losses = per_example(self.loss_fn, y, pred)
        return tf.stack([tf.reduce_sum(losses), correct_count(self.spec, y, pred)])

    def evaluate_val(self) -> dict[str, float]:
        return {f"val_{k}": v for k, v in self.evaluate(self.x_val, self.y_val).items()}

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """Loss and accuracy of a split, every worker its stride, summed over the workers."""
        mine = np.arange(self.index, len(x), self.workers)
        sums = np.zeros(3)
        size = max(self.cfg.batch_size or 0, 256)
        for start in range(0, len(mine), size):
            idx = mine[start : start + size]
            out = self.eval_batch(tf.gather(x, idx), tf.gather(y, idx)).numpy()
            sums += [out[0], out[1], len(idx)]
        total = cluster_ops.sum_across_workers(self.strategy, sums)
        return metrics_of(self.spec, total)


def metrics_of(spec: ModelSpec, sums: np.ndarray, prefix: str = "") -> dict[str, float]:
    out = {f"{prefix}loss": float(sums[0] / max(sums[2], 1))}
    if "accuracy" in spec.metrics:
        out[f"{prefix}accuracy"] = float(sums[1] / max(sums[2], 1))
    return out
