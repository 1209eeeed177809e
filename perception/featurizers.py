"""Featurizers: how a batch of observations becomes a network's input.

A :class:`Featurizer` is the component a Q-network is built on (as SB3's features extractor or
TF-Agents' encoding network): it maps a raw observation batch to the array the network reads
(``featurizer(obs)``), says what the replay buffer stores (``input_shape``, ``dtype``), builds
the network's first layers in Keras (:meth:`Featurizer.torso`), and names itself in checkpoints
(``tag``), so that resuming with another featurizer is refused.

- :class:`OneHot`: Discrete states as one-hot vectors;
- :class:`FlatVector`: plain Box vectors, float32 as they are;
- :class:`RunningNormalizer`: Box vectors standardised by a running mean and variance of the
  observations seen in training (as SB3's VecNormalize), clipped; its statistics are state that
  a checkpoint saves (:meth:`Featurizer.get_state`) and evaluation freezes (``frozen``);
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
NORMALIZE_TAG = "normalize"


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
    #: Whether the featurizer learns from the observations it sees (``update``) and so has state
    #: for the checkpoint (``get_state``/``set_state``); ``frozen`` stops the learning.
    stateful: bool = False
    frozen: bool = False

    @abstractmethod
    def __call__(self, observations: np.ndarray) -> np.ndarray:
        """A batch of raw observations -> a batch of network inputs of ``input_shape``."""

    def store(self, observations: np.ndarray) -> np.ndarray:
        """A batch of raw observations -> what replay keeps (``input_shape``, ``dtype``).

        ``featurizer(obs) == featurizer.normalize(featurizer.store(obs))``; for a featurizer
        without running statistics both are the same array and ``normalize`` is the identity.
        Keeping ``store``'s output and normalising at use (acting, each sampled minibatch) means
        every input the network reads is normalised with the current statistics, as SB3 does
        with VecNormalize and a replay buffer."""
        return self(observations)

    def normalize(self, inputs: np.ndarray) -> np.ndarray:
        """Stored inputs (any leading axes) -> what the network reads (here: unchanged)."""
        return inputs

    def update(self, observations: np.ndarray) -> None:
        """Learn from a batch of raw training observations (nothing to learn here)."""
        return None

    def get_state(self) -> dict[str, np.ndarray]:
        """What a checkpoint must keep to featurize the same way again (nothing here)."""
        return {}

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`get_state`'s arrays."""
        if state:
            raise ValueError(f"the {self.tag} featurizer has no state, got {sorted(state)}")

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


class RunningNormalizer(Featurizer):
    """Box vectors standardised by the running mean and variance of every training observation
    seen so far, ``clip((x - mean) / sqrt(var + epsilon), -clip, clip)`` in float32.

    Why: Box vectors come in any scale (CartPole's velocities, LunarLander's coordinates), and an
    MLP learns slowly from inputs far from unit scale; SB3's VecNormalize does the same (clip 10).
    The statistics are exact over all batches given to :meth:`update` (Chan et al.'s parallel
    update of count, mean and sum of squared deviations: no drift from an initial guess), are
    state for the checkpoint (:meth:`get_state`, :meth:`set_state`), and stay put when
    ``frozen`` (evaluation, a loaded agent's predict). Before any update the output is the input
    clipped (mean 0, variance 1). Replay should keep :meth:`store`'s raw vectors and apply
    :meth:`normalize` when they are used, so that old transitions are read with today's
    statistics.
    """

    tag = NORMALIZE_TAG
    stateful = True

    def __init__(self, space: spaces.Box, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        dim = int(np.prod(space.shape))
        self.input_shape, self.dtype = (dim,), np.float32
        self.clip, self.epsilon = float(clip), float(epsilon)
        self.count = 0.0
        self.mean = np.zeros(dim)
        self._m2 = np.zeros(dim)  # sum of squared deviations from the mean
        self.frozen = False
        self._refresh()

    @property
    def var(self) -> np.ndarray:
        """Population variance of the observations seen (1 before any)."""
        return self._m2 / self.count if self.count > 0 else np.ones_like(self._m2)

    def _refresh(self) -> None:
        self._shift = self.mean.astype(np.float32)
        self._scale = (1.0 / np.sqrt(self.var + self.epsilon)).astype(np.float32)

    def _flat(self, observations: np.ndarray) -> np.ndarray:
        x = np.asarray(observations, dtype=np.float64)
        return x.reshape(-1, self.input_shape[0]) if x.size else x.reshape(0, self.input_shape[0])

    def update(self, observations: np.ndarray) -> None:
        if self.frozen:
            return
        batch = self._flat(observations)
        n = batch.shape[0]
        if n == 0:
            return
        if not np.isfinite(batch).all():
            raise ValueError("observations to normalise must be finite (got NaN or inf)")
        batch_mean = batch.mean(axis=0)
        batch_m2 = ((batch - batch_mean) ** 2).sum(axis=0)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self._m2 = self._m2 + batch_m2 + delta**2 * (self.count * n / total)
        self.count = total
        self._refresh()

    def store(self, observations: np.ndarray) -> np.ndarray:
        """Raw observations flattened to float32 (what replay keeps)."""
        return np.asarray(observations, dtype=np.float32).reshape(len(observations), -1)

    def normalize(self, inputs: np.ndarray) -> np.ndarray:
        """Stored vectors (any leading axes) standardised with the current statistics."""
        out = (np.asarray(inputs, dtype=np.float32) - self._shift) * self._scale
        return np.clip(out, -self.clip, self.clip, out=out)

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        return self.normalize(self.store(observations))

    def get_state(self) -> dict[str, np.ndarray]:
        return {
            "mean": self.mean.copy(),
            "var": self.var.copy(),
            "count": np.asarray(self.count, dtype=np.float64),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        mean = np.asarray(state["mean"], dtype=np.float64).reshape(-1)
        var = np.asarray(state["var"], dtype=np.float64).reshape(-1)
        count = float(np.asarray(state["count"]))
        if mean.shape != self.mean.shape or var.shape != self.mean.shape or count < 0:
            raise ValueError(
                f"normaliser state for {mean.shape[0]} inputs (count {count}) does not fit "
                f"{self.mean.shape[0]} inputs"
            )
        self.mean, self.count = mean, count
        self._m2 = var * count if count > 0 else np.zeros_like(mean)
        self._refresh()


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
    space: spaces.Space,
    venv=None,
    encoder: str | Encoder | EndToEnd | None = None,
    *,
    normalize: bool = True,
) -> Featurizer:
    """One-hot for Discrete states; for Box observations: a frozen encoder's features, the raw
    image for an end-to-end CNN (``encoder="cnn"``), flattened pixels (uint8 images or envs
    that draw their states, centred on those states), 1-D vectors standardised by running
    statistics (:class:`RunningNormalizer`; with ``normalize=False`` as they are), or other
    Box shapes flattened as they are. ``venv`` gives the state images to centre on and the
    tiles an encoder reads."""
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
        if normalize and len(space.shape) == 1:
            return RunningNormalizer(space)
        return FlatVector(space)
    loaded = encoder_from_spec(encoder) if isinstance(encoder, str) else encoder
    if loaded is END_TO_END:
        return CNNTorso(space)
    features = batch_encoder(venv, loaded)
    spec = encoder if isinstance(encoder, str) else None
    return FrozenEncoder(features, state_images(venv), spec=spec)
