"""The training batches of ``networks.train``: epoch ``e`` visits the examples in an order that
is a pure function of ``(seed, e)``.

Keras' own ``shuffle=True`` draws every epoch's order from TensorFlow's global random state, so
a resumed run (a new process, from epoch ``k``) would see other orders than the run it
continues. Here the order of epoch ``e`` is :func:`epoch_order` (numpy's ``default_rng([seed,
e])``), whichever process trains it, and the batches are cut and gathered in a ``tf.data``
pipeline like Keras' own array adapter (batched indices, a parallel ``tf.gather``, prefetch),
so it is as fast. ``model.fit`` gets one dataset holding the epochs from ``initial_epoch`` on
and ``steps_per_epoch``; it never reshuffles. Validation is fed as before.

A ``transform(x, y, key)`` (the denoiser's corruption) gets a stateless seed ``key`` that is a
pure function of ``(seed, epoch, batch)`` too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from networks.models import FitContext

# transform(x_batch, y_batch, key) -> (x_batch, y_batch); key: int64 [2], for tf.random.stateless_*
Transform = Callable[[tf.Tensor, tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the ``n`` training examples in epoch ``epoch`` (0-based) of run ``seed``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def num_examples(x: Any) -> int:
    return int(x.shape[0])


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def ordered_batches(
    x: Any,
    y: Any,
    batch_size: int,
    seed: int,
    first_epoch: int,
    epochs: int,
    transform: Transform | None = None,
) -> tf.data.Dataset:
    """The batches of epochs ``first_epoch`` .. ``epochs - 1``, one after the other; each epoch
    ends with its partial batch (as ``model.fit`` on arrays)."""
    n = num_examples(x)
    steps = steps_per_epoch(n, batch_size)
    full = n // batch_size
    run_seed = tf.constant(seed, tf.int64)

    def order(epoch: np.ndarray) -> np.ndarray:
        return epoch_order(seed, int(epoch), n).astype(np.int64)

    def permutation(epoch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        indices = tf.numpy_function(order, [epoch], tf.int64, stateful=False)
        return epoch, tf.ensure_shape(indices, [n])

    def batches(epoch: tf.Tensor, indices: tf.Tensor) -> tf.data.Dataset:
        rows = tf.reshape(indices[: full * batch_size], [full, batch_size])
        cut = tf.data.Dataset.from_tensor_slices(rows)
        if n > full * batch_size:
            cut = cut.concatenate(tf.data.Dataset.from_tensors(indices[full * batch_size :]))
        if transform is None:
            return cut
        # One stateless key per batch: (seed, the batch's number in the whole run).
        keys = tf.data.Dataset.range(steps).map(lambda b: tf.stack([run_seed, epoch * steps + b]))
        return tf.data.Dataset.zip((cut, keys))

    epochs_ds = tf.data.Dataset.range(first_epoch, max(first_epoch, epochs))
    index_ds = epochs_ds.map(permutation).prefetch(1).flat_map(batches)
    arrays = (tf.convert_to_tensor(x), tf.convert_to_tensor(y))
    data = tf.data.Dataset.zip((index_ds, tf.data.Dataset.from_tensors(arrays).repeat()))

    def grab(index: Any, xy: tuple[tf.Tensor, tf.Tensor]) -> Any:
        xs, ys = xy
        if transform is None:
            return tf.gather(xs, index), tf.gather(ys, index)
        index, key = index
        return transform(tf.gather(xs, index), tf.gather(ys, index), key)

    data = data.map(grab, num_parallel_calls=tf.data.AUTOTUNE)  # in order: deterministic
    options = tf.data.Options()
    # As Keras' array adapter: no graph rewrites (their serialisation costs more than it saves).
    options.experimental_optimization.apply_default_optimizations = False
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options).prefetch(tf.data.AUTOTUNE)


def ordered_fit(
    model: keras.Model,
    context: FitContext,
    *,
    x: Any,
    y: Any,
    batch_size: int,
    epochs: int,
    initial_epoch: int = 0,
    transform: Transform | None = None,
    **kwargs: Any,
) -> keras.callbacks.History:
    """``model.fit`` on :func:`ordered_batches` (the run's seed from ``context``); the other
    keyword arguments are ``model.fit``'s. Validation batches stay ``batch_size`` long."""
    kwargs.pop("shuffle", None)
    data = ordered_batches(x, y, batch_size, context.seed, initial_epoch, epochs, transform)
    return model.fit(
        data,
        steps_per_epoch=steps_per_epoch(num_examples(x), batch_size),
        epochs=epochs,
        initial_epoch=initial_epoch,
        validation_batch_size=batch_size,
        shuffle=False,
        **kwargs,
    )
