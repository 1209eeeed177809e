"""The Penn Treebank word language models of Zaremba et al. (2014): the data stream, the
network, the learning-rate schedule and the training loop.

The vocabulary lives inside the model (a ``StringLookup`` of the 10,000 words), so a saved
model takes words and ``networks.generate`` needs nothing else.

Training is truncated backpropagation through time on ``batch_size`` parallel streams, the LSTM
state carried from one batch to the next (a stateful twin of the model) and reset at each
epoch; SGD with the global gradient norm clipped, and the learning rate held for
``decay_after`` epochs, then multiplied by ``decay`` every epoch. Every epoch reports
train/valid/test perplexity and words/s and writes a checkpoint to ``<logdir>/resume/``
(:mod:`networks.lm_checkpoint`); ``--resume`` continues after the last whole epoch, with the
learning rate the schedule gives that epoch, bit for bit (dropout's seed generators included).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from common.errors import UsageError
from networks.datasets import Dataset
from networks.lm_checkpoint import Checkpoint
from networks.models import BuildArgs, FitContext, ModelSpec, Prepared
from networks.progress import Throughput


@dataclass(frozen=True)
class LMConfig:
    """Zaremba et al. 2014's settings (their "small" and "medium")."""

    units: int
    steps: int  # truncated BPTT length
    dropout: float
    init: float  # uniform init scale
    decay: float
    decay_after: int  # epochs at the full rate
    layers: int = 2
    clip: float = 5.0


# Small decays faster than Zaremba's 0.5 for 13 epochs: a quarter for 8 epochs fits the
# 2-core hour and ends at a lower test perplexity (README).
SMALL = LMConfig(units=200, steps=20, dropout=0.0, init=0.1, decay=0.25, decay_after=4)
MEDIUM = LMConfig(units=650, steps=35, dropout=0.5, init=0.05, decay=0.8, decay_after=6)


def lm_network(
    name: str,
    cfg: LMConfig,
    vocab: tuple[str, ...],
    batch_size: int | None = None,
    steps: int | None = None,
) -> keras.Model:
    """Words in, next-word probabilities out. With ``batch_size`` it is stateful: fixed batch
    and window (``steps``, else the training length), LSTM state carried across calls."""
    stateful = batch_size is not None
    steps = steps or cfg.steps
    init = keras.initializers.RandomUniform(-cfg.init, cfg.init)
    inp = keras.Input(
        shape=(steps if stateful else None,),
        batch_size=batch_size,
        dtype="string",
        name="words",
    )
    x = layers.StringLookup(vocabulary=list(vocab), num_oov_indices=0, name="vocabulary")(inp)
    x = layers.Embedding(len(vocab), cfg.units, embeddings_initializer=init, name="embedding")(x)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout)(x)
    for i in range(cfg.layers):
        x = layers.LSTM(
            cfg.units,
            return_sequences=True,
            stateful=stateful,
            # The twin's windows have a fixed length: unrolled, its 20-35 steps skip the while
            # loop's per-step overhead (measured: the LSTMs' forward + backward 30% faster on CPU).
            unroll=stateful and steps == cfg.steps,
            kernel_initializer=init,
            recurrent_initializer=init,
            unit_forget_bias=False,
            name=f"lstm_{i + 1}",
        )(x)
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout)(x)
    out = layers.Dense(len(vocab), activation="softmax", kernel_initializer=init, name="probs")(x)
    return keras.Model(inp, out, name=name)


def lm_builder(name: str, cfg: LMConfig) -> Callable[[BuildArgs], keras.Model]:
    def build(args: BuildArgs) -> keras.Model:
        vocab = tuple(args.class_names) or tuple(f"w{i}" for i in range(args.num_classes))
        return lm_network(name, cfg, vocab)

    return build


def lm_inputs(steps: int) -> Callable[[Dataset], Prepared]:
    """Consecutive ``steps``-word windows: words (strings) in, next-word ids as targets."""

    def prepare(data: Dataset) -> Prepared:
        words = np.array(data.class_names, dtype=object)

        def windows(x: np.ndarray, y: np.ndarray) -> tuple[tf.Tensor, np.ndarray]:
            n = (len(x) // steps) * steps
            if n == 0:
                raise UsageError(f"malformed PTB corpus: a split has fewer than {steps} words")
            xs = words[x[:n]].reshape(-1, steps)
            return tf.constant(xs.tolist(), dtype=tf.string), y[:n].reshape(-1, steps)

        parts = [windows(data.x_train, data.y_train)]
        parts += [windows(data.x_val, data.y_val), windows(data.x_test, data.y_test)]
        return Prepared(*(a for part in parts for a in part))  # type: ignore[arg-type]

    return prepare


def stream_of(x: tf.Tensor | np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The word stream behind consecutive windows: the words, and the ids that follow each."""
    words = np.asarray(x).reshape(-1)
    return words, np.asarray(y).reshape(-1)


def batch_layout(
    words: np.ndarray, targets: np.ndarray, batch: int, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the stream into ``batch`` rows read in parallel; batch i is columns
    [i*steps, (i+1)*steps) of every row, so row r of batch i+1 continues row r of batch i."""
    per_row = len(words) // batch
    n_batches = per_row // steps
    if n_batches == 0:
        raise UsageError(
            f"corpus too small: {len(words)} words cannot fill one batch of {batch} x {steps}"
        )

    def lay(a: np.ndarray) -> np.ndarray:
        rows = a[: batch * per_row].reshape(batch, per_row)[:, : n_batches * steps]
        return rows.reshape(batch, n_batches, steps).transpose(1, 0, 2).reshape(-1, steps)

    return lay(words), lay(targets)


def reset_states(model: keras.Model) -> None:
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_state()


def stateful_loss(model: keras.Model, x: np.ndarray, y: np.ndarray, batch: int) -> float:
    """Mean cross-entropy per word over the whole stream, state carried across batches."""
    reset_states(model)
    loss = model.evaluate(tf.constant(x.tolist()), y, batch_size=batch, verbose=0, return_dict=True)
    reset_states(model)
    return float(loss["loss"])


def stream_losses(
    model: keras.Model, cfg: LMConfig, splits: list[tuple[Any, np.ndarray]], window: int = 400
) -> list[float]:
    """Mean cross-entropy per word of each split read as one stream, every word predicted from
    all the text before it: the protocol of Zaremba et al.'s and TensorFlow's tutorial test
    figures. (The per-epoch figures read ``batch_size`` rows, each starting from a zero state.)
    Long non-unrolled windows of one row keep it fast; one reader serves every split."""
    reader = lm_network(model.name, cfg, vocabulary_of(model), batch_size=1, steps=window)
    reader.set_weights(model.get_weights())

    @tf.function
    def log_probs(xw: tf.Tensor, yw: tf.Tensor) -> tf.Tensor:
        p = tf.gather(reader(xw, training=False), yw, batch_dims=2)
        return tf.math.log(tf.clip_by_value(p, keras.config.epsilon(), 1.0))

    losses = []
    for x, y in splits:
        words, targets = stream_of(x, y)
        n = len(words)
        pad = (-n) % window  # the tail window is padded after its last word: causal, not counted
        words = np.concatenate([words, np.repeat(words[:1], pad)])
        targets = np.concatenate([targets, np.zeros(pad, dtype=targets.dtype)])
        reset_states(reader)
        total = 0.0
        for i in range(0, len(words), window):
            xw = tf.constant([words[i : i + window].tolist()])
            lp = log_probs(xw, targets[None, i : i + window])
            total += float(tf.reduce_sum(lp[0, : min(window, n - i)]))
        losses.append(-total / n)
    return losses


def stream_loss(
    model: keras.Model, cfg: LMConfig, x: Any, y: np.ndarray, window: int = 400
) -> float:
    """``stream_losses`` of one split."""
    return stream_losses(model, cfg, [(x, y)], window)[0]


def perplexity(loss: float) -> float:
    return float(math.exp(min(loss, 50.0)))


def vocabulary_of(model: keras.Model) -> tuple[str, ...]:
    return tuple(model.get_layer("vocabulary").get_vocabulary())


def stateful_twin(model: keras.Model, cfg: LMConfig, batch: int, lr: float) -> keras.Model:
    """A fixed-batch stateful copy of ``model`` (same weights), compiled for SGD on the
    per-word mean loss: rate ``lr * steps`` and clip ``clip / steps`` give exactly Zaremba's
    update, whose loss sums over the time steps."""
    twin = lm_network(model.name, cfg, vocabulary_of(model), batch_size=batch)
    twin.set_weights(model.get_weights())
    twin.compile(
        optimizer=keras.optimizers.SGD(lr * cfg.steps, global_clipnorm=cfg.clip / cfg.steps),
        loss="sparse_categorical_crossentropy",
    )
    return twin


class LMEpochs(keras.callbacks.Callback):
    """Per epoch: reset the state, set the scheduled rate, then add perplexities and words/s
    to the logs, evaluate valid and test with carried state, and checkpoint whole epochs."""

    def __init__(
        self,
        twin: keras.Model,
        cfg: LMConfig,
        lr: float,
        batch: int,
        steps_per_epoch: int,
        evals: dict[str, tuple[np.ndarray, np.ndarray]],
        checkpoint: Checkpoint | None,
    ) -> None:
        super().__init__()
        self.twin, self.cfg, self.lr, self.batch = twin, cfg, lr, batch
        self.steps_per_epoch, self.evals, self.checkpoint = steps_per_epoch, evals, checkpoint
        self.rate = Throughput("words/s", batch * cfg.steps, steps_per_epoch * batch * cfg.steps)
        self.history: dict[str, list[float]] = {}

    def scheduled_lr(self, epoch: int) -> float:
        return self.lr * self.cfg.decay ** max(epoch + 1 - self.cfg.decay_after, 0)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        reset_states(self.twin)
        self.twin.optimizer.learning_rate.assign(self.scheduled_lr(epoch) * self.cfg.steps)
        self.rate.on_epoch_begin(epoch)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.rate.on_train_batch_end(batch, logs)
        if logs is not None and "loss" in logs:
            logs["perplexity"] = perplexity(float(logs["loss"]))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        self.rate.on_epoch_end(epoch, logs)
        if "loss" in logs:
            logs["perplexity"] = perplexity(float(logs["loss"]))
        for split, (x, y) in self.evals.items():
            loss = stateful_loss(self.twin, x, y, self.batch)
            logs[f"{split}_loss"] = loss
            logs[f"{split}_perplexity"] = perplexity(loss)
        logs["lr"] = self.scheduled_lr(epoch)
        reset_states(self.twin)
        whole = self.rate.batches >= self.steps_per_epoch
        if whole:
            for k, v in logs.items():
                self.history.setdefault(k, []).append(float(v))
            if self.checkpoint is not None:
                self.checkpoint.save(self.twin, epoch + 1, self.history)


def lm_fit(cfg: LMConfig) -> Callable[..., Any]:
    """Train on the stateful twin with carried state; copy the weights back at the end.

    The test split comes from ``context.data``; with a ``context.logdir`` every whole epoch is
    checkpointed under it and a rerun resumes from there."""

    def fit(
        model: keras.Model,
        context: FitContext,
        *,
        x: Any,
        y: np.ndarray,
        batch_size: int,
        epochs: int,
        validation_data: tuple[Any, np.ndarray],
        callbacks: list[keras.callbacks.Callback],
        **kwargs: Any,
    ) -> keras.callbacks.History:
        lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        twin = stateful_twin(model, cfg, batch_size, lr)
        xb, yb = batch_layout(*stream_of(x, y), batch_size, cfg.steps)
        test = (context.data.x_test, context.data.y_test)
        evals = {
            split: batch_layout(*stream_of(*xy), batch_size, cfg.steps)
            for split, xy in (("val", validation_data), ("test", test))
        }
        checkpoint = None
        if context.logdir is not None:
            # --epochs may grow on resume (train longer); the rest must match.
            identity = {"model": model.name, "batch_size": batch_size, "lr": lr}
            checkpoint = Checkpoint(Path(context.logdir) / "resume", identity)
        done, history = checkpoint.load(twin) if checkpoint else (0, {})
        if done:
            print(f"resuming {model.name} after epoch {done} of {epochs}", file=sys.stderr)
        steps_per_epoch = len(xb) // batch_size
        lm_cb = LMEpochs(twin, cfg, lr, batch_size, steps_per_epoch, evals, checkpoint)
        lm_cb.history = {k: list(v) for k, v in history.items()}
        result = twin.fit(
            tf.constant(xb.tolist()),
            yb,
            batch_size=batch_size,
            epochs=epochs,
            initial_epoch=min(done, epochs),
            shuffle=False,
            callbacks=[lm_cb, *callbacks],
            verbose=0,
        )
        model.set_weights(twin.get_weights())
        if done:  # the summary's history covers the whole run, resumed epochs included
            keys = list(history) + [k for k in result.history if k not in history]
            result.history = {
                k: list(history.get(k, [])) + list(result.history.get(k, [])) for k in keys
            }
        return result

    return fit


def lm_report(cfg: LMConfig) -> Callable[..., dict[str, Any]]:
    """Valid and test perplexity of the final weights, each split read as one stream."""

    def evaluate(model: keras.Model, prep: Prepared, tb: Any, step: int, batch_size: int) -> dict:
        splits = [(prep.x_val, prep.y_val), (prep.x_test, prep.y_test)]
        valid, test = (perplexity(loss) for loss in stream_losses(model, cfg, splits))
        out: dict[str, Any] = {"valid_perplexity": valid, "test_perplexity": test}
        out["headline"] = (
            f"test perplexity {out['test_perplexity']:.2f}, "
            f"valid perplexity {out['valid_perplexity']:.2f}"
        )
        with tb.root.as_default():
            tf.summary.text("perplexity", out["headline"], step=step)
        tb.root.flush()
        return out

    return evaluate


def lm_spec(name: str, cfg: LMConfig, description: str, *, epochs: int) -> ModelSpec:
    """What the language models share: 20 rows of SGD at rate 1 (the schedule is ``cfg``'s),
    words in, stateful training and evaluation, perplexity in the summary."""
    return ModelSpec(
        name,
        "ptb",
        description,
        lm_builder(name, cfg),
        epochs=epochs,
        batch_size=20,
        lr=1.0,
        metrics=(),
        prepare=lm_inputs(cfg.steps),
        fit=lm_fit(cfg),
        kind="language-model",
        evaluate=lm_report(cfg),
    )


SPECS = (
    lm_spec(
        "ptb-lm-small",
        SMALL,
        "Zaremba small: 2x200 LSTM, 20 steps, SGD 1.0 quartered from epoch 5, clip 5 (114.5)",
        epochs=8,
    ),
    lm_spec(
        "ptb-lm-medium",
        MEDIUM,
        "Zaremba medium: 2x650 LSTM, 35 steps, dropout 0.5, lr x0.8 from epoch 7 (82.7)",
        epochs=39,
    ),
)
