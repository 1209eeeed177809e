"""The MNIST classifiers: softmax regression, the five-layer MLPs, a CNN, and LSTMs reading the
rows as time steps. Every model takes 0..255 pixels and rescales them itself."""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from networks.models import BuildArgs, ModelSpec, scaled_image_input


def softmax_regression(args: BuildArgs) -> keras.Model:
    """The 2017 first model: one dense layer straight to softmax."""
    inp, x = scaled_image_input(args)
    x = layers.Flatten()(x)
    out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="softmax")


def mlp(
    activation: str, dropout: float = 0.0, name: str = "mlp"
) -> Callable[[BuildArgs], keras.Model]:
    """The five-layer 200-100-60-30-10 net of the 2017 course, with a choice of activation."""

    def build(args: BuildArgs) -> keras.Model:
        inp, x = scaled_image_input(args)
        x = layers.Flatten()(x)
        for width in (200, 100, 60, 30):
            x = layers.Dense(width, activation=activation)(x)
            if dropout:
                x = layers.Dropout(dropout)(x)
        out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
        return keras.Model(inp, out, name=name)

    return build


def mnist_cnn(args: BuildArgs) -> keras.Model:
    """Three strided convolutions (the 2017 6-12-24 design, doubled) with batch norm."""
    inp, x = scaled_image_input(args)
    for filters, size, stride in ((12, 5, 1), (24, 5, 2), (32, 4, 2)):
        x = layers.Conv2D(filters, size, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(scale=False)(x)
        x = layers.Activation("relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(200, use_bias=False)(x)
    x = layers.BatchNormalization(scale=False)(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="mnist-cnn")


def mnist_rnn(
    name: str, bidirectional: bool, units: int = 128
) -> Callable[[BuildArgs], keras.Model]:
    """Each 28-pixel row is one time step; the last state (both directions for the BiLSTM)
    feeds a softmax."""

    def build(args: BuildArgs) -> keras.Model:
        inp, x = scaled_image_input(args)
        x = layers.Reshape((args.input_shape[0], -1), name="rows")(x)
        rnn = layers.LSTM(units)
        x = layers.Bidirectional(rnn)(x) if bidirectional else rnn(x)
        out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
        return keras.Model(inp, out, name=name)

    return build


FEEDFORWARD = (
    ModelSpec(
        "softmax",
        "mnist",
        "softmax regression, one dense layer (2017: 92.46%)",
        softmax_regression,
        epochs=10,
        batch_size=100,
        lr=0.003,
        decay=0.1,
    ),
    ModelSpec(
        "mlp-sigmoid",
        "mnist",
        "five layers 200-100-60-30-10, sigmoid (2017: 97.44%)",
        mlp("sigmoid", name="mlp-sigmoid"),
        epochs=15,
        batch_size=100,
        lr=0.003,
        decay=0.03,
    ),
    ModelSpec(
        "mlp-relu",
        "mnist",
        "five layers 200-100-60-30-10, ReLU, lr decay (2017: 97.89%)",
        mlp("relu", name="mlp-relu"),
        epochs=15,
        batch_size=100,
        lr=0.003,
        decay=0.03,
    ),
    ModelSpec(
        "mlp-relu-dropout",
        "mnist",
        "five ReLU layers with dropout 0.2 and lr decay (2017: 96.66%)",
        mlp("relu", 0.2, name="mlp-relu-dropout"),
        epochs=20,
        batch_size=100,
        lr=0.003,
        decay=0.03,
    ),
    ModelSpec(
        "mnist-cnn",
        "mnist",
        "three strided convolutions 12-24-32, batch norm, dense 200 (~99.4%)",
        mnist_cnn,
        epochs=8,
        batch_size=100,
        lr=0.003,
        decay=0.03,
    ),
)

RECURRENT = (
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
)
