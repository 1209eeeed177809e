"""The curriculum's models, each registered by name with its dataset and training defaults.

A :class:`ModelSpec` is everything ``networks.train`` needs: how to build the network, which
dataset feeds it, default epochs / batch size / learning rate, and optional hooks for models
whose inputs or training loop differ (autoencoders, LSTMs). Only built-in Keras layers are used,
so saved ``.keras`` files load with ``safe_mode=True`` and no custom objects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import layers, regularizers

from networks.datasets import Dataset
from networks.registry import Registry


@dataclass(frozen=True)
class Prepared:
    """Model-ready arrays for each split (inputs, targets)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def image_inputs(data: Dataset) -> Prepared:
    """uint8 (N, H, W) -> float32 (N, H, W, 1) in 0..255; models rescale themselves, so
    ``networks.predict`` feeds raw pixel values without knowing each model's normalisation."""

    def conv(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float32)[..., None] if x.ndim == 3 else x.astype(np.float32)

    return Prepared(
        conv(data.x_train),
        data.y_train,
        conv(data.x_val),
        data.y_val,
        conv(data.x_test),
        data.y_test,
    )


@dataclass(frozen=True)
class BuildArgs:
    """What a builder may depend on: the input shape and class count come from the data."""

    input_shape: tuple[int, ...]
    num_classes: int
    # The training inputs, for layers that learn from the data before training (the text
    # models' TextVectorization vocabulary, kept inside the saved model); None if unused.
    train_inputs: Any = field(default=None, compare=False, repr=False)
    # The dataset's class names (the language models' vocabulary, kept inside the model).
    class_names: tuple[str, ...] = field(default=(), compare=False, repr=False)


FitHook = Callable[..., Any]
# evaluate(model, prepared, tensorboard_logger, step, batch_size) -> extra summary fields; a
# "headline" field replaces "test accuracy ..." in the printed summary (autoencoders, LMs).
EvalHook = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class ModelSpec:
    """A trainable model: name, dataset, builder, defaults and a one-line description.

    ``decay`` anneals the learning rate to ``lr * decay`` over the run (cosine), the 2017
    "learning-rate decay" step. ``fit`` (optional) replaces ``model.fit`` for models whose loop
    differs; it is called as ``fit(model, **fit_kwargs)`` with ``model.fit``'s keyword arguments
    and must return a History.
    ``kind`` tells ``networks.predict`` what inputs the model takes.
    """

    name: str
    dataset: str
    description: str
    build: Callable[[BuildArgs], keras.Model]
    epochs: int
    batch_size: int
    lr: float
    decay: float | None = None
    loss: str = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)
    prepare: Callable[[Dataset], Prepared] = image_inputs
    fit: FitHook | None = None
    kind: str = "image-classifier"
    # XLA on CPU measured no faster per epoch for these models and costs seconds to compile.
    jit_compile: bool = False
    # Test metrics beyond model.evaluate (MSE/PSNR, stateful perplexity); see EvalHook.
    evaluate: EvalHook | None = None
    # Pass the test split to ``fit`` as ``test_data=(x, y)`` (the LMs report it every epoch).
    fit_test_data: bool = False
    # Model-specific flags (--noise, --noise-level): options dict -> a specialised spec.
    with_options: Callable[[dict[str, Any]], ModelSpec] | None = None
    # Parts saved beside the model as <stem>.<part>.keras (the autoencoders' encoder).
    companions: Callable[[keras.Model], dict[str, keras.Model]] | None = None

    def optimizer(self, lr: float, total_steps: int) -> keras.optimizers.Optimizer:
        """Adam with the spec's schedule; built-in schedules only, so saving stays safe."""
        rate: float | keras.optimizers.schedules.LearningRateSchedule = lr
        if self.decay is not None:
            rate = keras.optimizers.schedules.CosineDecay(
                lr, decay_steps=max(1, total_steps), alpha=self.decay
            )
        return keras.optimizers.Adam(learning_rate=rate)

    def make(self, args: BuildArgs, lr: float, total_steps: int) -> keras.Model:
        """Build and compile the model, named after the spec so a saved file says what it is."""
        model = self.build(args)
        model.compile(
            optimizer=self.optimizer(lr, total_steps),
            loss=self.loss,
            metrics=list(self.metrics),
            jit_compile=self.jit_compile,
        )
        return model


MODELS: Registry[ModelSpec] = Registry("model", hint="; see --list")
#: Add a model (issue 5's autoencoders and LSTMs register the same way); look one up by name.
register_model = MODELS.register
get_model_spec = MODELS.lookup


# --- builders --------------------------------------------------------------------------------


def _inputs(name: str, args: BuildArgs) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    inp = keras.Input(shape=args.input_shape, name="image")
    return inp, layers.Rescaling(1.0 / 255.0, name="scale")(inp)


def softmax_regression(args: BuildArgs) -> keras.Model:
    """The 2017 first model: one dense layer straight to softmax."""
    inp, x = _inputs("softmax", args)
    x = layers.Flatten()(x)
    out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="softmax")


def mlp(
    activation: str, dropout: float = 0.0, name: str = "mlp"
) -> Callable[[BuildArgs], keras.Model]:
    """The five-layer 200-100-60-30-10 net of the 2017 course, with a choice of activation."""

    def build(args: BuildArgs) -> keras.Model:
        inp, x = _inputs(name, args)
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
    inp, x = _inputs("mnist-cnn", args)
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


def emotion_cnn_classic(args: BuildArgs) -> keras.Model:
    """The 2017 FER2013 net: conv 5x5x32, pool, conv 3x3x64, pool, dense 256, softmax; L2."""
    l2 = regularizers.L2(1e-4)
    inp, x = _inputs("emotion-cnn-classic", args)
    x = layers.Conv2D(32, 5, padding="same", activation="relu", kernel_regularizer=l2)(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", kernel_regularizer=l2)(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu", kernel_regularizer=l2)(x)
    out = layers.Dense(args.num_classes, activation="softmax", name="probs", kernel_regularizer=l2)(
        x
    )
    return keras.Model(inp, out, name="emotion-cnn-classic")


def emotion_cnn(args: BuildArgs) -> keras.Model:
    """Four conv blocks 32-64-128-256 with batch norm, dropout and flip/shift/zoom augmentation.

    Sized (about 33M multiply-adds per face) so a default run fits an hour on two CPU cores.
    Dropout is light: with 0.1-0.25 per block and 0.4 before the head, 18 epochs ended with
    training accuracy equal to validation accuracy (61%), i.e. the net underfit; with 0.05-0.2
    and 0.3, 22 epochs still ended at 65.7% training vs 64.1% validation (65.06% PrivateTest) but
    took 61 min; without the first block's dropout, 18 epochs: 64.36% in 53 min on a slow host.
    """
    inp, x = _inputs("emotion-cnn", args)
    x = layers.RandomFlip("horizontal")(x)
    x = layers.RandomTranslation(0.1, 0.1, fill_mode="nearest")(x)
    x = layers.RandomZoom(0.1, fill_mode="nearest")(x)
    for i, filters in enumerate((32, 64, 128, 256)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
        if i:
            x = layers.Dropout(0.05 * i)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(512, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(0.3)(x)
    out = layers.Dense(args.num_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="emotion-cnn")


for _spec in (
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
    ModelSpec(
        "emotion-cnn-classic",
        "fer2013",
        "2017 FER2013 net: conv 32-64, dense 256, L2",
        emotion_cnn_classic,
        epochs=8,
        batch_size=128,
        lr=0.001,
    ),
    ModelSpec(
        "emotion-cnn",
        "fer2013",
        "VGG-style conv net, batch norm, augmentation (FER2013 best)",
        emotion_cnn,
        epochs=18,
        batch_size=64,
        lr=0.002,
        decay=0.02,
    ),
):
    register_model(_spec)

# Issue 5's models (autoencoders, LSTMs, text) register themselves on import; they need the
# names above, so they come last.
from networks import autoencoders, recurrent  # noqa: E402, F401
