"""Recurrent models: MNIST rows as a sequence, IMDB sentiment from raw text, and the Penn
Treebank word language models of Zaremba et al. (2014).

Everything a saved model needs to run on raw input lives inside it, in layers that load in safe
mode (Keras' own, and the registered ``KeepLast``): the IMDB models start with a
``TextVectorization`` adapted on the training reviews, the language models with a
``StringLookup`` holding the 10,000-word vocabulary, so ``networks.predict`` takes a sentence
and ``networks.generate`` a prompt.

The language models train with truncated backpropagation through time on ``batch_size``
parallel streams, the LSTM state carried from one batch to the next (a stateful twin of the
model) and reset at each epoch; SGD with the global gradient norm clipped, and the learning
rate held for ``decay_after`` epochs, then multiplied by ``decay`` every epoch. Every epoch
reports train/valid/test perplexity and words/s and writes a checkpoint to
``<logdir>/resume/``; rerunning the same command with the same ``--logdir`` resumes after the
last whole epoch, with the learning rate the schedule gives that epoch.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from common.atomic import atomic_path, atomic_write_text
from common.errors import UsageError
from networks import text  # noqa: F401  (registers the imdb and ptb datasets)
from networks.datasets import Dataset
from networks.models import BuildArgs, ModelSpec, Prepared, register_model
from networks.tblog import TensorBoardLogger


class Throughput(keras.callbacks.Callback):
    """Adds a live rate (``words/s``, ``reviews/s``) to the batch and epoch logs.

    Placed first among the callbacks so the progress display and TensorBoard see the key.
    """

    async_safe = True

    def __init__(self, key: str, per_batch: int, total: int) -> None:
        super().__init__()
        self.key, self.per_batch, self.total = key, per_batch, total
        self._start = self._last = 0.0
        self._batches = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = self._last = time.perf_counter()
        self._batches = 0

    def _rate(self) -> float:
        done = min(self._batches * self.per_batch, self.total)
        return done / max(self._last - self._start, 1e-9)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches, self._last = batch + 1, time.perf_counter()
        if logs is not None:
            logs[self.key] = self._rate()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None and self._batches:
            logs[self.key] = self._rate()


def fit_with_rate(key: str, units_per_sample: int = 1) -> Callable[..., Any]:
    """``model.fit`` plus a :class:`Throughput` callback in front."""

    def fit(model: keras.Model, **kwargs: Any) -> Any:
        n, batch = len(kwargs["x"]), kwargs["batch_size"]
        rate = Throughput(key, batch * units_per_sample, n * units_per_sample)
        kwargs["callbacks"] = [rate, *kwargs["callbacks"]]
        return model.fit(**kwargs)

    return fit


# --- MNIST rows as time steps ----------------------------------------------------------------


def mnist_rnn(
    name: str, bidirectional: bool, units: int = 128
) -> Callable[[BuildArgs], keras.Model]:
    """Each 28-pixel row is one time step; the last state (both directions for the BiLSTM)
    feeds a softmax. Pixels are rescaled inside, as for every image model."""

    def build(args: BuildArgs) -> keras.Model:
        inp = keras.Input(args.input_shape, name="image")
        x = layers.Rescaling(1.0 / 255.0, name="scale")(inp)
        x = layers.Reshape((args.input_shape[0], -1), name="rows")(x)
        rnn = layers.LSTM(units)
        x = layers.Bidirectional(rnn)(x) if bidirectional else rnn(x)
        out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
        return keras.Model(inp, out, name=name)

    return build


# --- IMDB sentiment --------------------------------------------------------------------------


def text_inputs(data: Dataset) -> Prepared:
    """Review strings as (N,) ``tf.string`` tensors (Keras rejects numpy object arrays)."""

    def conv(x: np.ndarray) -> tf.Tensor:
        return tf.constant([str(t) for t in x], dtype=tf.string)

    return Prepared(
        conv(data.x_train),  # type: ignore[arg-type]
        data.y_train,
        conv(data.x_val),  # type: ignore[arg-type]
        data.y_val,
        conv(data.x_test),  # type: ignore[arg-type]
        data.y_test,
    )


def vectorizer(args: BuildArgs, **kwargs: Any) -> layers.TextVectorization:
    """Lowercase, strip punctuation, split; vocabulary from the training reviews (kept in the
    model). Without training inputs (a bare build) the vocabulary stays empty."""
    tv = layers.TextVectorization(name="vectorize", **kwargs)
    if args.train_inputs is not None:
        tv.adapt(args.train_inputs, batch_size=512)
    return tv


@keras.saving.register_keras_serializable(package="networks")
class KeepLast(layers.Layer):
    """The last ``length`` tokens of each padded row, padded after: Keras 2017's
    ``pad_sequences`` truncation, which keeps a long review's ending (where its verdict tends to
    be) rather than its opening. Zero is padding, as ``TextVectorization`` writes it."""

    def __init__(self, length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.length = length

    def call(self, ids: Any) -> Any:
        ids = keras.ops.convert_to_tensor(ids)
        n = keras.ops.sum(keras.ops.cast(ids != 0, "int32"), axis=1, keepdims=True)
        start = keras.ops.maximum(n - self.length, 0)
        pos = start + keras.ops.arange(self.length, dtype="int32")[None, :]
        width = keras.ops.shape(ids)[1]
        picked = keras.ops.take_along_axis(ids, keras.ops.minimum(pos, width - 1), axis=1)
        return keras.ops.where(pos < n, picked, keras.ops.zeros_like(picked))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.length)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "length": self.length}


def _text_input() -> keras.KerasTensor:
    return keras.Input(shape=(), dtype="string", name="review")


def imdb_lstm_classic(args: BuildArgs) -> keras.Model:
    """The 2017 Keras example: top 5,000 words, the last 500 tokens, embedding 32, LSTM 100.

    Padding is masked, so the LSTM's last state is that of the review's last word."""
    inp = _text_input()
    x = vectorizer(args, max_tokens=5000)(inp)
    x = KeepLast(500, name="keep_last")(x)
    x = layers.Embedding(5000, 32, mask_zero=True)(x)
    x = layers.LSTM(100)(x)
    out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="imdb-lstm-classic")


def imdb_conv_lstm(args: BuildArgs) -> keras.Model:
    """Conv1D (5-word filters) and max-pooling by 4 before the LSTM: a quarter of the steps.

    The LSTM reads backwards, so the trailing padding comes first and the text last."""
    inp = _text_input()
    x = vectorizer(args, max_tokens=20000, output_sequence_length=400)(inp)
    x = layers.Embedding(20000, 64)(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Conv1D(64, 5, activation="relu")(x)
    x = layers.MaxPooling1D(4)(x)
    x = layers.LSTM(64, go_backwards=True)(x)
    out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="imdb-conv-lstm")


def imdb_sentiment(args: BuildArgs) -> keras.Model:
    """The best for the CPU budget: TF-IDF over the 40,000 commonest words and bigrams, one
    hidden layer with dropout (a bag of bigrams beats the LSTMs here at a fraction of the cost)."""
    inp = _text_input()
    x = vectorizer(args, max_tokens=40000, ngrams=2, output_mode="tf_idf")(inp)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="imdb-sentiment")


# --- Penn Treebank language models -----------------------------------------------------------


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
# 2-core hour and reads better (one run each, test 108.87 vs 114.46 on the 20-row protocol).
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
        whole = self.rate._batches >= self.steps_per_epoch
        if whole:
            for k, v in logs.items():
                self.history.setdefault(k, []).append(float(v))
            if self.checkpoint is not None:
                self.checkpoint.save(self.twin, epoch + 1, self.history)


@dataclass
class Checkpoint:
    """``<logdir>/resume/``: weights of the last whole epoch and the run's identity."""

    folder: Path
    identity: dict[str, Any]

    @property
    def weights(self) -> Path:
        return self.folder / "last.weights.h5"

    @property
    def state(self) -> Path:
        return self.folder / "state.json"

    def load(self, twin: keras.Model) -> tuple[int, dict[str, list[float]]]:
        """(epochs done, history so far); (0, {}) when there is nothing to resume."""
        if not self.state.is_file():
            return 0, {}
        try:
            state = json.loads(self.state.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"corrupt checkpoint {self.state}: {exc}") from exc
        if state.get("identity") != self.identity:
            raise UsageError(
                f"{self.folder} holds a checkpoint of another run ({state.get('identity')}); "
                "use a new --logdir"
            )
        try:
            twin.load_weights(self.weights)
        except Exception as exc:  # h5py / Keras raise several types for a damaged file
            raise UsageError(f"corrupt checkpoint {self.weights}: {exc}") from exc
        return int(state["epochs_done"]), dict(state.get("history", {}))

    def save(self, twin: keras.Model, epochs_done: int, history: dict[str, list[float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.weights, suffix=".weights.h5") as tmp:
            twin.save_weights(tmp)
        state = {"identity": self.identity, "epochs_done": epochs_done, "history": history}
        atomic_write_text(self.state, json.dumps(state, indent=1) + "\n")


def lm_fit(cfg: LMConfig) -> Callable[..., Any]:
    """Train on the stateful twin with carried state; copy the weights back at the end."""

    def fit(
        model: keras.Model,
        *,
        x: Any,
        y: np.ndarray,
        batch_size: int,
        epochs: int,
        validation_data: tuple[Any, np.ndarray],
        callbacks: list[keras.callbacks.Callback],
        test_data: tuple[Any, np.ndarray] | None = None,
        **kwargs: Any,
    ) -> keras.callbacks.History:
        lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        twin = stateful_twin(model, cfg, batch_size, lr)
        xb, yb = batch_layout(*stream_of(x, y), batch_size, cfg.steps)
        evals = {"val": batch_layout(*stream_of(*validation_data), batch_size, cfg.steps)}
        if test_data is not None:
            evals["test"] = batch_layout(*stream_of(*test_data), batch_size, cfg.steps)
        logdir = next((c.logdir for c in callbacks if isinstance(c, TensorBoardLogger)), None)
        checkpoint = None
        if logdir is not None:
            # --epochs may grow on resume (train longer); the rest must match.
            identity = {"model": model.name, "batch_size": batch_size, "lr": lr}
            checkpoint = Checkpoint(Path(logdir) / "resume", identity)
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


# --- registry --------------------------------------------------------------------------------

for _spec in (
    ModelSpec(
        "mnist-lstm",
        "mnist",
        "LSTM 128 reading the 28 rows as time steps (2017: 96.1%)",
        mnist_rnn("mnist-lstm", bidirectional=False),
        epochs=12,
        batch_size=100,
        lr=0.002,
        decay=0.05,
    ),
    ModelSpec(
        "mnist-bilstm",
        "mnist",
        "bidirectional LSTM 2x128 over the rows",
        mnist_rnn("mnist-bilstm", bidirectional=True),
        epochs=12,
        batch_size=100,
        lr=0.002,
        decay=0.05,
    ),
    ModelSpec(
        "imdb-lstm-classic",
        "imdb",
        "2017 Keras net: 5,000 words, 500 tokens, embedding 32, LSTM 100 (2017: 86.79%)",
        imdb_lstm_classic,
        epochs=3,
        batch_size=64,
        lr=0.001,
        # 2017's constant rate overfit in the third epoch here (validation loss 0.33 -> 0.36);
        # annealing it to a tenth lets that epoch refine instead.
        decay=0.1,
        prepare=text_inputs,
        fit=fit_with_rate("reviews/s"),
        kind="text-classifier",
    ),
    ModelSpec(
        "imdb-conv-lstm",
        "imdb",
        "embedding 64, Conv1D 64x5, max-pool 4, LSTM 64 over 400 tokens",
        imdb_conv_lstm,
        epochs=3,
        batch_size=64,
        lr=0.001,
        prepare=text_inputs,
        fit=fit_with_rate("reviews/s"),
        kind="text-classifier",
    ),
    ModelSpec(
        "imdb-sentiment",
        "imdb",
        "TF-IDF over 40k words and bigrams, dense 32, dropout (IMDB best)",
        imdb_sentiment,
        epochs=6,
        batch_size=64,
        lr=0.001,
        decay=0.1,
        prepare=text_inputs,
        fit=fit_with_rate("reviews/s"),
        kind="text-classifier",
    ),
    ModelSpec(
        "ptb-lm-small",
        "ptb",
        "Zaremba small: 2x200 LSTM, 20 steps, SGD 1.0 quartered from epoch 5, clip 5 (114.5)",
        lm_builder("ptb-lm-small", SMALL),
        epochs=8,
        batch_size=20,
        lr=1.0,
        metrics=(),
        prepare=lm_inputs(SMALL.steps),
        fit=lm_fit(SMALL),
        kind="language-model",
        evaluate=lm_report(SMALL),
        fit_test_data=True,
    ),
    ModelSpec(
        "ptb-lm-medium",
        "ptb",
        "Zaremba medium: 2x650 LSTM, 35 steps, dropout 0.5, lr x0.8 from epoch 7 (82.7)",
        lm_builder("ptb-lm-medium", MEDIUM),
        epochs=39,
        batch_size=20,
        lr=1.0,
        metrics=(),
        prepare=lm_inputs(MEDIUM.steps),
        fit=lm_fit(MEDIUM),
        kind="language-model",
        evaluate=lm_report(MEDIUM),
        fit_test_data=True,
    ),
):
    register_model(_spec)


# --- prediction on raw text ------------------------------------------------------------------


def is_text_classifier(model: keras.Model) -> bool:
    """A string input and one (batch, classes) output: the IMDB models."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return False
    return model.inputs[0].dtype == "string" and len(model.outputs[0].shape) == 2


def classify_texts(
    model: keras.Model, texts: list[str], top: int, names: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Top classes for each raw text; the vocabulary inside the model does the tokenising."""
    cleaned = [text.clean_review(t).strip() for t in texts]
    if not cleaned or any(not t for t in cleaned):
        raise UsageError("empty text to predict")
    probs = np.asarray(model.predict(tf.constant(cleaned), verbose=0))
    results = []
    for raw, p in zip(texts, probs, strict=True):
        order = np.argsort(p)[::-1][: min(top, len(p))]
        top_classes = [{"class": names[i], "probability": float(p[i])} for i in order]
        results.append({"text": raw, "top": top_classes})
    return results
