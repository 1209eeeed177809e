"""Trained networks as state featurizers: image observations in, float32 feature vectors out.

An agent that sees pictures (``frozenlake-pixels``, ``frozenlake-digits``) either learns a conv
Q-network end to end (spec ``cnn``) or reads its observations through a network trained
beforehand with ``python -m networks.train``:

- ``autoencoder:PATH``: PATH is an autoencoder's encoder saved alone; its output is the code;
- ``mnist-cnn:PATH``: a classifier; its class probabilities are the features;
- ``mnist-cnn:PATH@LAYER`` (any kind): the network cut at the named layer.

Every check (file, kind, layer, input shape and dtype against the env's observations) runs when
the encoder is loaded and bound to an env, so a mismatch is one :class:`UsageError` line before
any training starts. Encoding is one compiled call per batch: :class:`BatchEncoder` for vector
envs (one call per vector step) and :class:`EncodedObservation` for a single env::

    encoder = encoder_from_spec("mnist-cnn:runs/mnist/model.keras")
    env = EncodedObservation(envs.make("frozenlake-digits"), encoder)  # obs: (20,) float32
    venv = envs.make_vector("frozenlake-digits", 32)
    encode = batch_encoder(venv, encoder)  # (32, 28, 56, 1) -> (32, 20)

An agent reads an encoder through :class:`perception.featurizers.FrozenEncoder`, which also
centres and scales the features. Preprocessing follows the encoder, not the env: uint8 pixels
become float32 in [0, 1], or stay in 0..255 when the model starts with its own ``Rescaling``
layer (as every ``networks/`` model does); RGB becomes grey (or grey RGB) and the image is
resized only when the encoder asks for it and the aspect ratio agrees; an env made of
side-by-side tiles (the digits env's row and column) has each tile encoded separately and the
features concatenated.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import gymnasium as gym
import keras
import numpy as np
import tensorflow as tf
from gymnasium import spaces

from common.atomic import atomic_path
from common.errors import UsageError

#: Spec kinds: what the file at PATH is, and how to make one.
KINDS = {
    "autoencoder": "an autoencoder's encoder saved alone (its output is the code)",
    "mnist-cnn": "an MNIST classifier (its class probabilities, or LAYER's output)",
    "classifier": "any image classifier (its class probabilities, or LAYER's output)",
    "cnn": "no pretrained encoder: the agent learns a convolutional Q-network end to end",
}
TRAIN_HINT = {
    "autoencoder": "train one with `python -m networks.train lake-autoencoder "
    "--save lake-ae.keras` and give the encoder it saves (lake-ae.encoder.keras)",
    "mnist-cnn": "train one with `python -m networks.train mnist-cnn --save PATH`",
    "classifier": "train one with `python -m networks.train mnist-cnn --save PATH`",
}
SPEC_HELP = "use autoencoder:PATH, mnist-cnn:PATH, mnist-cnn:PATH@LAYER or cnn"

InputRange = Literal["auto", "unit", "byte"]


@dataclass(frozen=True)
class EncoderSpec:
    """A parsed ``--encoder`` value."""

    kind: str
    path: Path | None = None
    layer: str | None = None

    @property
    def end_to_end(self) -> bool:
        return self.kind == "cnn"


@dataclass(frozen=True)
class EndToEnd:
    """Marker for ``--encoder cnn``: no encoder to load; the agent builds a conv Q-network whose
    convolutions learn from the raw images along with its Q-values."""

    kind: str = "cnn"


END_TO_END = EndToEnd()


def parse_encoder_spec(text: str) -> EncoderSpec:
    """``KIND[:PATH[@LAYER]]`` -> :class:`EncoderSpec`; a path with ``/`` after ``@`` stays a
    path."""
    text = text.strip()
    kind, sep, rest = text.partition(":")
    kind = kind.lower()
    if kind not in KINDS:
        raise UsageError(f"unknown encoder kind {kind!r} in {text!r}: {SPEC_HELP}")
    if kind == "cnn":
        if sep:
            raise UsageError(
                f"encoder 'cnn' learns end to end and takes no file, got {text!r}: use cnn"
            )
        return EncoderSpec("cnn")
    if not rest:
        raise UsageError(f"encoder {kind!r} needs a saved model: use {kind}:PATH (a .keras file)")
    path, layer = rest, None
    head, at, tail = rest.rpartition("@")
    if at and "/" not in tail and os.sep not in tail:
        if not tail or not head:
            raise UsageError(
                f"encoder spec {text!r} has an empty path or layer: use {kind}:PATH@LAYER"
            )
        path, layer = head, tail
    return EncoderSpec(kind, Path(path).expanduser(), layer)


# --------------------------------------------------------------------------------------------
# Loading


@dataclass
class Encoder:
    """A Keras model whose output is the features, with what its input expects.

    ``input_range`` is ``"byte"`` when the model rescales pixels itself (0..255 in) and ``"unit"``
    otherwise (pixels divided by 255 first).
    """

    model: keras.Model
    input_range: Literal["unit", "byte"]
    trainable: bool = False
    source: str = "encoder"
    # The features are a classifier's class probabilities (bounded, near one-hot), not a code
    # or a hidden layer of arbitrary scale.
    probabilities: bool = False

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        return tuple(self.model.inputs[0].shape[1:])


def _starts_with_rescaling(model: keras.Model) -> bool:
    """Whether the model divides its own pixels (``networks/`` models do: ``Rescaling(1/255)``)."""
    first = next(
        (lay for lay in model.layers if not isinstance(lay, keras.layers.InputLayer)), None
    )
    return isinstance(first, keras.layers.Rescaling)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _read_model(path: Path, kind: str) -> keras.Model:
    """``keras.models.load_model`` in safe mode, every failure turned into one line with a fix."""
    hint = TRAIN_HINT.get(kind, TRAIN_HINT["classifier"]).replace("PATH", str(path))
    if not path.is_file():
        raise UsageError(f"encoder file {path} not found: {hint}, or fix the path")
    if path.suffix != ".keras":
        raise UsageError(
            f"encoder file {path} is not a .keras file: "
            "save the model with model.save('NAME.keras')"
        )
    if not zipfile.is_zipfile(path):
        raise UsageError(f"encoder file {path} is corrupt (not a .keras zip archive): {hint}")
    try:
        model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # any failure of a user's file is one usage line
        raise UsageError(
            f"encoder file {path} is corrupt or not a Keras model ({_first_line(exc)}): {hint}"
        ) from None
    if not isinstance(model, keras.Model) or len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UsageError(
            f"encoder file {path} must hold a model with one image input and one output: {hint}"
        )
    return model


def load_encoder(
    path: str | os.PathLike,
    *,
    kind: str = "autoencoder",
    layer: str | None = None,
    trainable: bool = False,
    input_range: InputRange = "auto",
) -> Encoder:
    """Load a saved ``.keras`` encoder (never unpickled), cut at ``layer`` if given, frozen unless
    ``trainable`` (then the agent may fine-tune it; it must store images, not features)."""
    path = Path(path)
    model = _read_model(path, kind)
    if layer is not None:
        try:
            cut = model.get_layer(layer)
        except ValueError:
            known = ", ".join(lay.name for lay in model.layers)
            raise UsageError(
                f"encoder {path} has no layer {layer!r}: choose one of {known}"
            ) from None
        model = keras.Model(model.inputs, cut.output, name=f"{model.name}_to_{layer}")
    elif kind == "autoencoder" and tuple(model.outputs[0].shape) == tuple(model.inputs[0].shape):
        raise UsageError(
            f"encoder {path} outputs images like its input, so it is a whole autoencoder: "
            f"save its encoder alone, or cut it at the code layer with autoencoder:{path}@LAYER"
        )
    dtype = str(model.inputs[0].dtype)
    if not dtype.startswith(("float", "bfloat")):
        raise UsageError(
            f"encoder {path} takes {dtype} input; it must take float pixels: re-save it "
            f"with a float32 keras.Input"
        )
    model.trainable = bool(trainable)
    if input_range == "auto":
        input_range = "byte" if _starts_with_rescaling(model) else "unit"
    elif input_range not in ("unit", "byte"):
        raise UsageError(f"input_range must be auto, unit or byte, got {input_range!r}")
    probabilities = kind in ("mnist-cnn", "classifier") and layer is None
    return Encoder(model, input_range, bool(trainable), str(path), probabilities)


def encoder_from_spec(spec: str | EncoderSpec, *, trainable: bool = False) -> Encoder | EndToEnd:
    """The ``--encoder`` flag: a loaded :class:`Encoder`, or :data:`END_TO_END` for ``cnn``."""
    if isinstance(spec, str):
        spec = parse_encoder_spec(spec)
    if spec.end_to_end:
        return END_TO_END
    assert spec.path is not None
    return load_encoder(spec.path, kind=spec.kind, layer=spec.layer, trainable=trainable)


def save_encoder(encoder: Encoder | keras.Model, path: str | os.PathLike) -> Path:
    """Save an encoder (say a fine-tuned one) as ``.keras``, atomically: a crash never leaves half
    a file where the next run would load it."""
    model = encoder.model if isinstance(encoder, Encoder) else encoder
    path = Path(path)
    if path.suffix != ".keras":
        raise UsageError(f"encoder file {path} must end in .keras")
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)
    return path


# --------------------------------------------------------------------------------------------
# Encoding


def _shape(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)


class BatchEncoder:
    """An :class:`Encoder` bound to one image observation space: checked once, traced once.

    ``encoder(images)`` maps ``(N, H, W, C)`` uint8 to ``(N, feature_dim)`` float32 in one compiled
    call whatever ``N``; ``features(tensor)`` is the same computation uncompiled, for use inside an
    agent's own ``tf.function`` (fine-tuning). ``tiles`` side-by-side sub-images are encoded one
    by one and their features concatenated.
    """

    def __init__(self, encoder: Encoder, observation_space: gym.Space, *, tiles: int = 1) -> None:
        self.encoder, self.tiles = encoder, int(tiles)
        name = encoder.source
        if not (
            isinstance(observation_space, spaces.Box)
            and observation_space.dtype == np.uint8
            and len(observation_space.shape) == 3
        ):
            raise UsageError(
                f"encoder {name} needs uint8 image observations (H, W, C), but the env "
                f"gives {observation_space}: use frozenlake-pixels or frozenlake-digits"
            )
        self.image_shape: tuple[int, int, int] = tuple(int(d) for d in observation_space.shape)  # type: ignore[assignment]
        height, width, channels = self.image_shape
        if self.tiles < 1 or width % self.tiles:
            raise UsageError(
                f"cannot split {_shape(self.image_shape)} images into {tiles} tiles side by side"
            )
        tile = (height, width // self.tiles, channels)
        want = encoder.input_shape
        problem = f"encoder {name} takes {_shape(want)} inputs but the env's "
        problem += f"tiles are {_shape(tile)}" if self.tiles > 1 else f"images are {_shape(tile)}"
        fix = "train the encoder on this env's observations or change the env's image options"
        self._gray = self._to_rgb = self._flat = False
        self._resize: tuple[int, int] | None = None
        if len(want) == 3:
            h, w, c = want
            if c not in (None, channels):
                if (channels, c) == (3, 1):
                    self._gray = True
                elif (channels, c) == (1, 3):
                    self._to_rgb = True
                else:
                    raise UsageError(f"{problem} (channels differ): {fix}")
            if (h, w) != tile[:2] and h is not None and w is not None:
                if h * tile[1] != w * tile[0]:
                    raise UsageError(f"{problem} (another aspect ratio, no resize): {fix}")
                self._resize = (int(h), int(w))
        elif len(want) == 1 and want[0] is not None:
            self._flat = True
            if want[0] != tile[0] * tile[1] * tile[2]:
                if channels == 3 and want[0] == tile[0] * tile[1]:
                    self._gray = True
                else:
                    raise UsageError(f"{problem} ({want[0]} values vs {int(np.prod(tile))}): {fix}")
        else:
            raise UsageError(f"{problem}: the encoder must take (H, W, C) images or flat vectors")
        self._dtype = encoder.model.inputs[0].dtype
        self._compiled = tf.function(
            lambda images: self.features(images),
            input_signature=[tf.TensorSpec((None, *self.image_shape), tf.uint8)],
            reduce_retracing=True,
        )
        try:  # trace now: anything else the model objects to shows up before training
            probe = self._compiled(tf.zeros((1, *self.image_shape), tf.uint8))
        except Exception as exc:  # the model is the user's: one usage line
            raise UsageError(
                f"{problem} and it fails on them ({_first_line(exc)}): {fix}"
            ) from None
        self.feature_dim = int(probe.shape[-1])
        self.feature_space = spaces.Box(
            -np.inf, np.inf, shape=(self.feature_dim,), dtype=np.float32
        )

    def features(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        """``(N, H, W, C)`` uint8 -> ``(N, feature_dim)`` float32, as TensorFlow ops."""
        x = tf.cast(images, tf.float32)
        if self.encoder.input_range == "unit":
            x = x / 255.0
        n = tf.shape(x)[0]
        height, width, channels = self.image_shape
        if self.tiles > 1:  # (N, H, k*w, C) -> (N*k, H, w, C), tiles of one image kept together
            x = tf.reshape(x, (n, height, self.tiles, width // self.tiles, channels))
            x = tf.reshape(
                tf.transpose(x, (0, 2, 1, 3, 4)),
                (n * self.tiles, height, width // self.tiles, channels),
            )
        if self._gray:
            x = tf.image.rgb_to_grayscale(x)
        if self._to_rgb:
            x = tf.image.grayscale_to_rgb(x)
        if self._resize is not None:
            x = tf.image.resize(x, self._resize, antialias=True)
        if self._flat:
            x = tf.reshape(x, (n * self.tiles, -1))
        y = self.encoder.model(tf.cast(x, self._dtype), training=training)
        return tf.reshape(tf.cast(y, tf.float32), (n, -1))

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.shape[1:] != self.image_shape or images.dtype != np.uint8:
            raise ValueError(
                f"expected a batch of uint8 {_shape(self.image_shape)} images, "
                f"got {images.dtype} {images.shape}"
            )
        return self._compiled(images).numpy()

    encode_batch = __call__


def _tiles_of(env: gym.Env | gym.vector.VectorEnv) -> int:
    """How many side-by-side tiles the env's images hold (the digits env: 2)."""
    inner = env.envs[0] if getattr(env, "envs", None) else env
    return int(getattr(getattr(inner, "unwrapped", inner), "observation_tiles", 1))


def batch_encoder(
    env: gym.Env | gym.vector.VectorEnv, encoder: Encoder | EndToEnd | str
) -> BatchEncoder:
    """A :class:`BatchEncoder` for ``env``'s observations (a vector env's single ones)."""
    if not isinstance(encoder, Encoder):
        encoder = _loaded(encoder)
    space = getattr(env, "single_observation_space", None) or env.observation_space
    return BatchEncoder(encoder, space, tiles=_tiles_of(env))


def _loaded(spec: str | EndToEnd) -> Encoder:
    encoder = spec if isinstance(spec, EndToEnd) else encoder_from_spec(spec)
    if isinstance(encoder, EndToEnd):
        raise UsageError(
            "encoder 'cnn' is not a featurizer: the agent builds a conv Q-network on the raw images"
        )
    return encoder


class EncodedObservation(gym.ObservationWrapper):
    """An image env whose observations are the encoder's float32 feature vectors.

    ``env.unwrapped`` is still the image env (identity, transition table, planner all unchanged);
    ``encode_batch`` is the same compiled encoder for batches.
    """

    def __init__(self, env: gym.Env, encoder: Encoder | EndToEnd | str) -> None:
        super().__init__(env)
        self.encode_batch = batch_encoder(env, encoder)
        self.observation_space = self.encode_batch.feature_space

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return self.encode_batch(observation[None])[0]
