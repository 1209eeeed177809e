"""IMDB sentiment from raw review text: two LSTMs and a TF-IDF bag of bigrams; prediction on
raw sentences.

Each model starts with a ``TextVectorization`` adapted on the training reviews, so its
vocabulary is saved inside it and ``networks.predict`` takes a sentence as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from common.errors import UsageError
from networks.datasets import Dataset
from networks.feed import ordered_fit
from networks.models import BuildArgs, FitContext, ModelSpec, Prepared
from networks.progress import Throughput
from networks.text import clean_review
from networks.vocabulary import TextVectorization


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


def vectorizer(args: BuildArgs, **kwargs: Any) -> TextVectorization:
    """Lowercase, strip punctuation, split; vocabulary from the training reviews (kept in the
    model, saved so any term round-trips). Without training inputs (a bare build) the
    vocabulary stays empty."""
    tv = TextVectorization(name="vectorize", **kwargs)
    if args.train_inputs is not None:
        tv.adapt(args.train_inputs, batch_size=512)
    return tv


# Saved models name this class as "networks>KeepLast": the package and name must not change.
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


def fit_with_rate(key: str, units_per_sample: int = 1) -> Callable[..., Any]:
    """:func:`networks.feed.ordered_fit` plus a :class:`Throughput` callback in front."""

    def fit(model: keras.Model, context: FitContext, **kwargs: Any) -> Any:
        n, batch = len(kwargs["x"]), kwargs["batch_size"]
        rate = Throughput(key, batch * units_per_sample, n * units_per_sample)
        kwargs["callbacks"] = [rate, *kwargs["callbacks"]]
        return ordered_fit(model, context, **kwargs)

    return fit


def imdb_spec(
    name: str,
    description: str,
    build: Callable[[BuildArgs], keras.Model],
    *,
    epochs: int,
    decay: float | None = None,
) -> ModelSpec:
    """What the IMDB models share: Adam 0.001 on batches of 64, raw text in, reviews/s shown."""
    return ModelSpec(
        name,
        "imdb",
        description,
        build,
        epochs=epochs,
        batch_size=64,
        lr=0.001,
        decay=decay,
        prepare=text_inputs,
        fit=fit_with_rate("reviews/s"),
        kind="text-classifier",
    )


SPECS = (
    imdb_spec(
        "imdb-lstm-classic",
        "2017 Keras net: 5,000 words, 500 tokens, embedding 32, LSTM 100 (2017: 86.79%)",
        imdb_lstm_classic,
        epochs=3,
        # At 2017's constant rate the third epoch overfit; annealing lets it refine instead.
        decay=0.1,
    ),
    imdb_spec(
        "imdb-conv-lstm",
        "embedding 64, Conv1D 64x5, max-pool 4, LSTM 64 over 400 tokens",
        imdb_conv_lstm,
        epochs=3,
    ),
    imdb_spec(
        "imdb-sentiment",
        "TF-IDF over 40k words and bigrams, dense 32, dropout (IMDB best)",
        imdb_sentiment,
        epochs=6,
        decay=0.1,
    ),
)


def is_text_classifier(model: keras.Model) -> bool:
    """A string input and one (batch, classes) output: the IMDB models."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return False
    return model.inputs[0].dtype == "string" and len(model.outputs[0].shape) == 2


def classify_texts(
    model: keras.Model, texts: list[str], top: int, names: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Top classes for each raw text; the vocabulary inside the model does the tokenising."""
    cleaned = [clean_review(t).strip() for t in texts]
    if not cleaned or any(not t for t in cleaned):
        raise UsageError("empty text to predict")
    probs = np.asarray(model.predict(tf.constant(cleaned), verbose=0))
    results = []
    for raw, p in zip(texts, probs, strict=True):
        order = np.argsort(p)[::-1][: min(top, len(p))]
        top_classes = [{"class": names[i], "probability": float(p[i])} for i in order]
        results.append({"text": raw, "top": top_classes})
    return results
