"""What a registered model is: a :class:`ModelSpec` with its builder, dataset and defaults.

A spec is everything ``networks.train`` needs: how to build the network, which dataset feeds
it, default epochs / batch size / learning rate, and optional hooks for models whose inputs or
training loop differ (autoencoders, LSTMs). The models themselves live in modules by subject
and are registered in :mod:`networks.catalog`; this module imports none of them. Saved ``.keras``
files load with ``safe_mode=True``: Keras' own layers, plus the registered ``KeepLast``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import layers

from networks.datasets import Dataset


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


def scaled_image_input(args: BuildArgs) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The image classifiers' input (0..255 pixels, layer ``"image"``) and its rescaling to
    [0, 1] inside the model."""
    inp = keras.Input(shape=args.input_shape, name="image")
    return inp, layers.Rescaling(1.0 / 255.0, name="scale")(inp)


@dataclass(frozen=True)
class FitContext:
    """What a custom ``fit`` gets besides ``model.fit``'s arguments."""

    data: Prepared  # every split: the language models report test perplexity each epoch
    logdir: str | None = None  # the run's folder: the language models checkpoint under it
    seed: int = 0  # the run's --seed: epoch e's data order is a function of (seed, e)


# fit(model, context, **fit_kwargs) -> History; fit_kwargs are model.fit's keyword arguments.
FitHook = Callable[..., Any]
# evaluate(model, prepared, tensorboard_logger, step, batch_size) -> extra summary fields; a
# "headline" field replaces "test accuracy ..." in the printed summary (autoencoders, LMs).
EvalHook = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class ModelSpec:
    """A trainable model: name, dataset, builder, defaults and a one-line description.

    ``decay`` anneals the learning rate to ``lr * decay`` over the run (cosine), the 2017
    "learning-rate decay" step. ``fit`` (optional) replaces ``model.fit`` for models whose loop
    differs; it is called as ``fit(model, context, **fit_kwargs)`` with a :class:`FitContext`
    and ``model.fit``'s keyword arguments, and must return a History. Without one a model
    trains with :func:`networks.feed.ordered_fit` (the data order a function of seed and epoch,
    so a resumed run is the uninterrupted one).
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
