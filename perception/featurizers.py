"""Featurizers: how a batch of observations becomes a network's input.

A :class:`Featurizer` is the component a Q-network is built on (as SB3's features extractor or
TF-Agents' encoding network): it maps a raw observation batch to the array the network reads
(``featurizer(obs)``), says what the replay buffer stores (``input_shape``, ``dtype``), builds
the network's first layers in Keras (:meth:`Featurizer.torso`), and names itself in checkpoints
(``tag``), so that resuming with another featurizer is refused.

- :class:`OneHot`: Discrete states as one-hot vectors;
- :class:`FlatVector`: plain Box vectors, float32 as they are;
- :class:`FlatPixels`: images flattened, uint8 scaled to [0, 1], centred on the mean state image;
- :class:`FrozenEncoder`: a pretrained encoder's features, centred (and scaled to unit RMS);
- :class:`CNNTorso`: raw uint8 images, read by a conv stack that learns end to end.

:func:`make_featurizer` picks one from the observation space and the ``--encoder`` spec.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import keras
import numpy as np
from gymnasium import spaces

from common.errors import UsageError
from perception.encoders import (
    END_TO_END,
    BatchEncoder,
    Encoder,
    EndToEnd,
    batch_encoder,
    encoder_from_spec,
)

#: Tags recorded under the checkpoint meta key ``perception``; old run folders carry these.
ONE_HOT_TAG, FLATTEN_TAG, CNN_TAG, ENCODER_TAG = "one-hot", "flatten", "cnn", "encoder:"


class Featurizer(ABC):
    """Observation batch -> network input, with what a network and a replay buffer need to know.

    ``input_shape`` and ``dtype`` describe one network input (what replay stores); ``tag`` is
    saved in checkpoints; ``vector`` says the input is a flat float vector, so the torso is the
    identity and a numpy MLP mirror can act.
    """

    input_shape: tuple[int, ...]
    dtype: type
    tag: str
    vector: bool = True
    input_name: str = "observation"

    @abstractmethod
    def __call__(self, observations: np.ndarray) -> np.ndarray:
        """A batch of raw observations -> a batch of network inputs of ``input_shape``."""

    def torso(self) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        """A new Keras input and the features the network's head reads (here the input itself)."""
        inputs = keras.Input(shape=self.input_shape, name=self.input_name)
        return inputs, inputs


class OneHot(Featurizer):
    """Discrete states as one-hot float32 vectors."""

    tag = ONE_HOT_TAG

    def __init__(self, n: int) -> None:
        self.input_shape, self.dtype = (int(n),), np.float32
        self._eye = np.eye(int(n), dtype=np.float32)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        return self._eye[np.asarray(observations, dtype=np.int64)]


class FlatVector(Featurizer):
    """Plain Box observations flattened to float32 vectors, values as they are."""

    tag = FLATTEN_TAG

    def __init__(self, space: spaces.Box) -> None:
        self.input_shape, self.dtype = (int(np.prod(space.shape)),), np.float32

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        return np.asarray(observations, dtype=np.float32).reshape(len(observations), -1)


def state_images(venv) -> np.ndarray | None:
    """The clean image of every state, where the env can draw them (the project's image envs)."""
    envs_ = getattr(venv, "envs", None)
    base = envs_[0].unwrapped if envs_ else None
    return base.state_images() if base is not None and hasattr(base, "state_images") else None


def centring(
    encode: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray | None,
    *,
    unit_scale: bool = False,
) -> tuple[np.ndarray | None, np.float32 | None]:
    """The mean input over the env's states, and with ``unit_scale`` 1 / the states' RMS distance
    from it; ``(None, None)`` without state images.

    Lake images share almost every pixel, and an MLP fed them raw fits the average target for
    all states (no learning in 100k steps on the deterministic lake); centred, it learns as fast
    as from one-hot states. An encoder's code has whatever scale its training left (the lake
    autoencoder's is 1.6); scaled to one-hot's RMS, the DQN reached 0.95 x optimum in 14k / 8k /
    29k env steps instead of 34k / 10k / 35k (seeds 0-2). Class probabilities already have
    one-hot's scale, and flattened pixels stay unscaled: scaling slowed them down (and cost
    digits seed 0 its final policy)."""
    if images is None:
        return None, None
    states = encode(images).astype(np.float32)
    mean = states.mean(axis=0)
    if not unit_scale:
        return mean, None
    rms = float(np.sqrt(((states - mean) ** 2).sum(axis=1).mean()))
    return mean, np.float32(1.0 / rms) if rms > 1e-6 else np.float32(1.0)


class FlatPixels(Featurizer):
    """Images flattened to float32 vectors, uint8 scaled to [0, 1], centred on the mean of the
    env's state images when it can draw them."""

    tag = FLATTEN_TAG

    def __init__(self, space: spaces.Box, images: np.ndarray | None = None) -> None:
        self.input_shape, self.dtype = (int(np.prod(space.shape)),), np.float32
        self._scale = np.float32(1 / 255) if space.dtype == np.uint8 else np.float32(1)
        self.mean, _ = centring(self._flat, images)

    def _flat(self, observations: np.ndarray) -> np.ndarray:
        dim = self.input_shape[0]
        return np.asarray(observations, dtype=np.float32).reshape(len(observations), dim) * (
            self._scale
        )

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        flat = self._flat(observations)
        return flat if self.mean is None else flat - self.mean


class FrozenEncoder(Featurizer):
    """A pretrained encoder's features, centred on the env's mean state and, unless they are
    class probabilities, scaled to unit RMS distance from it (as one-hot states are)."""

    def __init__(
        self, features: BatchEncoder, images: np.ndarray | None = None, *, spec: str | None = None
    ) -> None:
        self.features = features
        self.input_shape, self.dtype = (features.feature_dim,), np.float32
        self.tag = f"{ENCODER_TAG}{spec if spec is not None else features.encoder.source}"
        self.mean, self.scale = centring(
            self._raw, images, unit_scale=not features.encoder.probabilities
        )

    def _raw(self, observations: np.ndarray) -> np.ndarray:
        return np.asarray(self.features(np.asarray(observations)))

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        x = self._raw(observations)
        if self.mean is None:
            return x
        return x - self.mean if self.scale is None else (x - self.mean) * self.scale


class CNNTorso(Featurizer):
    """Raw uint8 images (compact in replay), read by a small conv stack learnt end to end."""

    tag = CNN_TAG
    vector = False
    input_name = "image"

    def __init__(self, space: spaces.Box) -> None:
        if len(space.shape) != 3:
            raise UsageError(
                f"--encoder cnn needs image observations (H, W, C), got {space}: "
                "use frozenlake-pixels or frozenlake-digits"
            )
        self.input_shape, self.dtype = tuple(space.shape), space.dtype.type
        self._space_dtype = space.dtype

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        return np.asarray(observations, dtype=self._space_dtype)

    def torso(self) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        inputs = keras.Input(shape=self.input_shape, name=self.input_name)
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(16, 3, strides=2, activation="relu", padding="same")(x)
        x = keras.layers.Conv2D(32, 3, strides=2, activation="relu", padding="same")(x)
        return inputs, keras.layers.Flatten()(x)


def make_featurizer(
    space: spaces.Space, venv=None, encoder: str | Encoder | EndToEnd | None = None
) -> Featurizer:
    """One-hot for Discrete states; for Box observations: a frozen encoder's features, the raw
    image for an end-to-end CNN (``encoder="cnn"``), flattened pixels (centred on the env's
    states) or plain vectors. ``venv`` gives the state images to centre on and the tiles an
    encoder reads."""
    if isinstance(space, spaces.Discrete):
        if encoder is not None:
            raise UsageError(
                "--encoder is for image observations (frozenlake-pixels, frozenlake-digits)"
            )
        return OneHot(int(space.n))
    if not isinstance(space, spaces.Box):
        raise UsageError(f"DQN needs Discrete or Box observations, got {space}")
    if encoder is None:
        images = state_images(venv)
        if space.dtype == np.uint8 or images is not None:
            return FlatPixels(space, images)
        return FlatVector(space)
    loaded = encoder_from_spec(encoder) if isinstance(encoder, str) else encoder
    if loaded is END_TO_END:
        return CNNTorso(space)
    features = batch_encoder(venv, loaded)
    spec = encoder if isinstance(encoder, str) else None
    return FrozenEncoder(features, state_images(venv), spec=spec)
