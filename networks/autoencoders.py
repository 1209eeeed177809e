"""Autoencoders on MNIST: dense (784-256-128 and back), denoising and convolutional; and one on
FrozenLake renders (``lake-autoencoder``, the ``lake`` dataset) for the pixels agent.

Each model is ``decoder(encoder(image))`` with ``encoder`` a standalone Keras model (layer name
``"encoder"``): ``networks.train`` saves it beside the full model as ``<stem>.encoder.keras`` so
the perception layer can load it alone as a featurizer (0..255 pixels in, a 128-vector out; 32
for the lake).
Targets are the clean pixels in [0, 1]; the summary reports test MSE and PSNR, and for the
denoiser also the PSNR of its corrupted input, so the gain is visible.

The denoiser's training corruption is drawn afresh for every batch in the ``tf.data`` pipeline
of :mod:`networks.feed` (not a layer, from a stateless key of seed, epoch and batch, so a
resumed run is exact), so the saved model is a plain autoencoder; validation and test inputs are
corrupted once with a fixed seed so runs compare like for like.
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
from networks.models import BuildArgs, FitContext, ModelSpec, Prepared, image_inputs

CODE_SIZE = 128
EVAL_NOISE_SEED = 20170  # corruption of the validation/test inputs: fixed, independent of --seed
NOISES = ("gaussian", "masking")
DEFAULT_NOISE, DEFAULT_LEVEL = "gaussian", 0.3


# --- data ------------------------------------------------------------------------------------


def corrupt(x255: np.ndarray, noise: str, level: float, seed: int) -> np.ndarray:
    """Corrupted copy of 0..255 images: Gaussian noise of std ``level`` on [0, 1] pixels
    (clipped), or masking noise zeroing a fraction ``level`` of the pixels."""
    rng = np.random.default_rng(seed)
    x = np.asarray(x255, np.float32) / 255.0
    if noise == "gaussian":
        x = np.clip(x + rng.normal(0.0, level, x.shape).astype(np.float32), 0.0, 1.0)
    else:
        x = np.where(rng.random(x.shape) < level, 0.0, x).astype(np.float32)
    return x * 255.0


def corrupt_tf(
    x255: tf.Tensor, noise: str, level: float, key: tf.Tensor | None = None
) -> tf.Tensor:
    """The same corruption as :func:`corrupt` as TF ops, drawn anew for every batch: from the
    stateless ``key`` (int64 [2]) when given, so a batch's noise is a function of the key."""
    x = x255 / 255.0
    shape = tf.shape(x)
    if noise == "gaussian":
        if key is None:
            draw = tf.random.normal(shape, stddev=level)
        else:
            draw = tf.random.stateless_normal(shape, seed=key, stddev=level)
        x = tf.clip_by_value(x + draw, 0.0, 1.0)
    else:
        if key is None:
            draw = tf.random.uniform(shape)
        else:
            draw = tf.random.stateless_uniform(shape, seed=key)
        x = tf.where(draw < level, tf.zeros_like(x), x)
    return x * 255.0


def reconstruction_inputs(data: Dataset) -> Prepared:
    """Inputs 0..255 (the models rescale), targets the same pixels in [0, 1]."""
    p = image_inputs(data)
    return Prepared(
        p.x_train, p.x_train / 255.0, p.x_val, p.x_val / 255.0, p.x_test, p.x_test / 255.0
    )


def denoising_inputs(noise: str, level: float) -> Callable[[Dataset], Prepared]:
    """Clean targets; validation and test inputs corrupted once (fixed seed)."""

    def prepare(data: Dataset) -> Prepared:
        p = reconstruction_inputs(data)
        return Prepared(
            p.x_train,
            p.y_train,
            corrupt(p.x_val, noise, level, EVAL_NOISE_SEED),
            p.y_val,
            corrupt(p.x_test, noise, level, EVAL_NOISE_SEED + 1),
            p.y_test,
        )

    return prepare


# --- models ----------------------------------------------------------------------------------


def _join(name: str, inp: keras.KerasTensor, code: keras.KerasTensor, decode: Any) -> keras.Model:
    """Encoder and decoder as sub-models, so the encoder can be saved and loaded alone."""
    encoder = keras.Model(inp, code, name="encoder")
    code_in = keras.Input(code.shape[1:], name="code")
    decoder = keras.Model(code_in, decode(code_in), name="decoder")
    outer = keras.Input(inp.shape[1:], name="image")
    return keras.Model(outer, decoder(encoder(outer)), name=name)


def dense_autoencoder(name: str) -> Callable[[BuildArgs], keras.Model]:
    """784-256-128 and back (the 2017 layout), ReLU inside, sigmoid pixels out."""

    def build(args: BuildArgs) -> keras.Model:
        inp = keras.Input(args.input_shape, name="image")
        x = layers.Flatten()(layers.Rescaling(1.0 / 255.0)(inp))
        x = layers.Dense(256, activation="relu")(x)
        code = layers.Dense(CODE_SIZE, activation="relu", name="code")(x)

        def decode(c: keras.KerasTensor) -> keras.KerasTensor:
            y = layers.Dense(256, activation="relu")(c)
            y = layers.Dense(int(np.prod(args.input_shape)), activation="sigmoid")(y)
            return layers.Reshape(args.input_shape)(y)

        return _join(name, inp, code, decode)

    return build


def conv_autoencoder(name: str, code_size: int = CODE_SIZE) -> Callable[[BuildArgs], keras.Model]:
    """Two strided convolutions 16-32 to a ``code_size`` code, transposed convolutions back.

    Sized (about 2.5M multiply-adds per image) so an epoch of 55k images takes a minute or two
    on two CPU cores.
    """

    def build(args: BuildArgs) -> keras.Model:
        h, w, c = args.input_shape
        inp = keras.Input(args.input_shape, name="image")
        x = layers.Rescaling(1.0 / 255.0)(inp)
        x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
        x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
        code = layers.Dense(code_size, activation="relu", name="code")(layers.Flatten()(x))

        def decode(z: keras.KerasTensor) -> keras.KerasTensor:
            y = layers.Dense((h // 4) * (w // 4) * 32, activation="relu")(z)
            y = layers.Reshape((h // 4, w // 4, 32))(y)
            y = layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(y)
            y = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(y)
            return layers.Conv2D(c, 3, padding="same", activation="sigmoid")(y)

        return _join(name, inp, code, decode)

    return build


def encoder_of(model: keras.Model) -> dict[str, keras.Model]:
    """The part ``networks.train`` saves beside the model (``<stem>.encoder.keras``)."""
    return {"encoder": model.get_layer("encoder")}


def load_encoder(path: str) -> keras.Model:
    """Load a saved encoder (or a full autoencoder, taking its encoder) in safe mode."""
    model = keras.models.load_model(path, safe_mode=True, compile=False)
    return model if model.name == "encoder" else model.get_layer("encoder")


# --- training and evaluation -----------------------------------------------------------------


def denoising_fit(noise: str, level: float) -> Callable[..., Any]:
    """:func:`networks.feed.ordered_fit` with every batch corrupted anew, from a stateless key
    of (seed, epoch, batch): a resumed run draws the noise the uninterrupted one drew."""

    def transform(x: tf.Tensor, y: tf.Tensor, key: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return corrupt_tf(x, noise, level, key), y

    def fit(model: keras.Model, context: FitContext, **kwargs: Any) -> Any:
        return ordered_fit(model, context, transform=transform, **kwargs)

    return fit


def psnr(clean: np.ndarray, approx: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB for pixels in [0, 1] (a perfect image is capped at 100 dB)."""
    mse = np.mean((clean - approx) ** 2, axis=tuple(range(1, clean.ndim)))
    return 10.0 * np.log10(1.0 / np.maximum(mse, 1e-10))


def image_grid(rows: list[np.ndarray]) -> np.ndarray:
    """Rows of [0, 1] images (N, H, W, 1) stacked into one (1, rows*H, N*W, 1) uint8 picture."""
    lines = [np.concatenate(list(r), axis=1) for r in rows]
    grid = np.concatenate(lines, axis=0)
    return (np.clip(grid, 0.0, 1.0) * 255).astype(np.uint8)[None]


def reconstruction_report(denoiser: bool, label: str = "") -> Callable[..., dict[str, Any]]:
    """Test MSE and PSNR (and the corrupted input's PSNR); image grids in TensorBoard."""

    def evaluate(
        model: keras.Model, prep: Prepared, tb: Any, step: int, batch_size: int
    ) -> dict[str, Any]:
        recon = np.asarray(model.predict(prep.x_test, batch_size=max(256, batch_size), verbose=0))
        clean = np.asarray(prep.y_test, np.float32)
        out: dict[str, Any] = {
            "test_mse": float(np.mean((recon - clean) ** 2)),
            "test_psnr": float(np.mean(psnr(clean, recon))),
        }
        head = f"test MSE {out['test_mse']:.5f}, PSNR {out['test_psnr']:.2f} dB"
        rows = [clean[:8]]
        if denoiser:
            noisy = np.asarray(prep.x_test, np.float32) / 255.0
            out["input_mse"] = float(np.mean((noisy - clean) ** 2))
            out["input_psnr"] = float(np.mean(psnr(clean, noisy)))
            out["psnr_gain"] = out["test_psnr"] - out["input_psnr"]
            out["noise"] = label
            head += (
                f" (corrupted input {out['input_psnr']:.2f} dB, gain {out['psnr_gain']:+.2f} dB,"
                f" {label})"
            )
            rows.append(noisy[:8])
        rows.append(recon[:8])
        out["headline"] = head
        with tb.root.as_default():
            what = (
                "originals, corrupted inputs, reconstructions"
                if denoiser
                else "originals, reconstructions"
            )
            tf.summary.image("reconstructions", image_grid(rows), step=step, description=what)
            tf.summary.image("originals", image_batch01(clean[:8]), step=step, max_outputs=8)
            if denoiser:
                tf.summary.image("corrupted", image_batch01(rows[1]), step=step, max_outputs=8)
            tf.summary.image("reconstructed", image_batch01(recon[:8]), step=step, max_outputs=8)
            tf.summary.text("reconstruction", head, step=step)
        tb.root.flush()
        return out

    return evaluate


def image_batch01(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)


def autoencoder_spec(
    name: str,
    dataset: str,
    description: str,
    build: Callable[[BuildArgs], keras.Model],
    *,
    epochs: int,
    decay: float | None = 0.05,
    **overrides: Any,
) -> ModelSpec:
    """What every autoencoder shares: Adam 0.002 on batches of 128, pixel MSE, the
    reconstruction report, and the encoder saved beside the model."""
    fields: dict[str, Any] = dict(
        batch_size=128,
        lr=0.002,
        decay=decay,
        loss="mean_squared_error",
        metrics=(),
        prepare=reconstruction_inputs,
        kind="autoencoder",
        evaluate=reconstruction_report(False),
        companions=encoder_of,
    )
    return ModelSpec(name, dataset, description, build, epochs=epochs, **{**fields, **overrides})


def denoising_spec(noise: str = DEFAULT_NOISE, level: float = DEFAULT_LEVEL) -> ModelSpec:
    """The denoiser for one corruption; ``--noise``/``--noise-level`` rebuild it via options."""
    label = f"{noise} {level:g}"
    return autoencoder_spec(
        "denoising-autoencoder",
        "mnist",
        f"convolutional denoising autoencoder, noise on the fly ({label}; --noise, --noise-level)",
        conv_autoencoder("denoising-autoencoder"),
        epochs=12,
        prepare=denoising_inputs(noise, level),
        fit=denoising_fit(noise, level),
        evaluate=reconstruction_report(True, label),
        with_options=denoising_options,
    )


def denoising_options(options: dict[str, Any]) -> ModelSpec:
    noise = options.get("noise", DEFAULT_NOISE)
    level = float(options.get("noise_level", DEFAULT_LEVEL))
    if noise not in NOISES:
        raise UsageError(f"--noise must be one of {', '.join(NOISES)}, got {noise!r}")
    if noise == "gaussian" and not 0 < level <= 2:
        raise UsageError(f"--noise-level for gaussian noise must be in (0, 2], got {level:g}")
    if noise == "masking" and not 0 < level < 1:
        raise UsageError(f"--noise-level for masking noise must be in (0, 1), got {level:g}")
    return denoising_spec(noise, level)


SPECS = (
    autoencoder_spec(
        "autoencoder",
        "mnist",
        "dense autoencoder 784-256-128-256-784 (encoder saved alone as a featurizer)",
        dense_autoencoder("autoencoder"),
        epochs=20,
    ),
    denoising_spec(),
    autoencoder_spec(
        "conv-autoencoder",
        "mnist",
        "convolutional autoencoder 16-32 conv to a 128 code, transposed convs back",
        conv_autoencoder("conv-autoencoder"),
        epochs=12,
    ),
    autoencoder_spec(
        "lake-autoencoder",
        "lake",
        "conv autoencoder of FrozenLake images to a 32 code: the pixels agent's featurizer",
        conv_autoencoder("lake-autoencoder", code_size=32),
        epochs=4,
        decay=None,
    ),
)
