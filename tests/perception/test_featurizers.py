"""perception.featurizers: batch shapes and dtypes, one-hot rows, centring and unit RMS on the
env's states, the torsos, the checkpoint tags, and make_featurizer's choices and errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import envs
from common.errors import UsageError
from perception.encoders import batch_encoder, save_encoder
from perception.featurizers import (
    CNNTorso,
    Featurizer,
    FlatPixels,
    FlatVector,
    FrozenEncoder,
    OneHot,
    RunningNormalizer,
    make_featurizer,
    state_images,
)

SETTINGS = settings(max_examples=40, deadline=None)


def pixels_venv(n: int = 2, **options):
    return envs.make_vector("frozenlake-pixels", n, cell_size=2, **options)  # 8x8x1 images


@pytest.fixture(scope="module")
def encoder_path(tmp_path_factory):
    """A frozen encoder of 8x8x1 images whose codes are far from one-hot's scale."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="image")
    big = keras.initializers.RandomUniform(0, 5, seed=0)
    code = keras.layers.Dense(6, kernel_initializer=big, name="code")(
        keras.layers.Flatten()(inputs)
    )
    return save_encoder(keras.Model(inputs, code), tmp_path_factory.mktemp("enc") / "e.keras")


@SETTINGS
@given(n=st.integers(1, 30), data=st.data())
def test_one_hot_rows(n, data):
    states = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=50))
    featurizer = OneHot(n)
    x = featurizer(np.array(states))
    assert x.shape == (len(states), n) == (len(states), *featurizer.input_shape)
    assert x.dtype == featurizer.dtype == np.float32
    np.testing.assert_array_equal(x.argmax(axis=1), states)
    np.testing.assert_array_equal(x.sum(axis=1), 1.0)


@SETTINGS
@given(
    obs=hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(min_dims=2, max_dims=4, max_side=5),
        elements=st.floats(-1e6, 1e6, width=32),
    )
)
def test_flat_vectors_are_float32_values_as_they_are(obs):
    space = spaces.Box(-np.inf, np.inf, shape=obs.shape[1:], dtype=obs.dtype)
    featurizer = FlatVector(space)
    x = featurizer(obs)
    assert (
        x.shape
        == (
            len(obs),
            int(np.prod(obs.shape[1:])),
        )
        and x.dtype == np.float32
    )
    assert featurizer.input_shape == x.shape[1:]
    np.testing.assert_array_equal(x, obs.reshape(len(obs), -1).astype(np.float32))


@SETTINGS
@given(obs=hnp.arrays(np.uint8, st.tuples(st.integers(1, 8), st.just(8), st.just(8), st.just(1))))
def test_flat_pixels_are_scaled_and_centred_on_the_states(obs):
    venv = pixels_venv()
    images = state_images(venv)
    featurizer = FlatPixels(venv.single_observation_space, images)
    x = featurizer(obs)
    assert x.shape == (len(obs), 64) and x.dtype == np.float32
    np.testing.assert_allclose(x + featurizer.mean, obs.reshape(len(obs), 64) / 255.0, atol=1e-6)
    np.testing.assert_allclose(featurizer(images).mean(axis=0), 0.0, atol=1e-6)
    # Without state images to centre on: only the scaling to [0, 1].
    raw = FlatPixels(venv.single_observation_space)(obs)
    assert raw.min() >= 0.0 and raw.max() <= 1.0


def test_frozen_encoder_is_centred_and_scaled_to_unit_rms(encoder_path):
    venv = pixels_venv()
    images = state_images(venv)
    featurizer = make_featurizer(venv.single_observation_space, venv, f"autoencoder:{encoder_path}")
    assert isinstance(featurizer, FrozenEncoder) and featurizer.input_shape == (6,)
    raw = batch_encoder(venv, f"autoencoder:{encoder_path}")(images)
    assert np.abs(raw).max() > 100  # far from one-hot's scale before scaling
    states = featurizer(images)
    assert states.dtype == np.float32 and states.shape == (16, 6)
    np.testing.assert_allclose(states.mean(axis=0), 0.0, atol=1e-4)
    assert np.sqrt((states**2).sum(axis=1).mean()) == pytest.approx(1.0, rel=1e-4)
    # Class probabilities already have one-hot's scale: centred only.
    probabilities = make_featurizer(
        venv.single_observation_space, venv, f"classifier:{encoder_path}"
    )
    assert probabilities.scale is None
    np.testing.assert_allclose(probabilities(images), raw - raw.mean(axis=0), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(
    "env, encoder, kind, tag",
    [
        ("frozenlake", None, OneHot, "one-hot"),
        ("frozenlake-pixels", None, FlatPixels, "flatten"),
        ("frozenlake-pixels", "cnn", CNNTorso, "cnn"),
        ("frozenlake-pixels", "autoencoder", FrozenEncoder, "encoder:autoencoder:"),
    ],
)
def test_make_featurizer_picks_by_space_and_spec_with_todays_tags(
    env, encoder, kind, tag, encoder_path
):
    venv = envs.make_vector(env, 2, **({"cell_size": 2} if env != "frozenlake" else {}))
    spec = f"autoencoder:{encoder_path}" if encoder == "autoencoder" else encoder
    featurizer = make_featurizer(venv.single_observation_space, venv, spec)
    assert isinstance(featurizer, kind) and isinstance(featurizer, Featurizer)
    assert featurizer.tag == (tag + str(encoder_path) if encoder == "autoencoder" else tag)
    raw, _ = venv.reset(seed=0)
    x = featurizer(raw)
    assert x.shape == (2, *featurizer.input_shape) and x.dtype == featurizer.dtype


def test_plain_box_vectors_are_flat_vectors_tagged_flatten():
    space = spaces.Box(-1.0, 1.0, shape=(2, 3), dtype=np.float32)
    featurizer = make_featurizer(space)
    assert isinstance(featurizer, FlatVector) and featurizer.tag == "flatten"


def test_torsos_vector_identity_and_the_cnn_stack():
    vector = OneHot(5)
    inputs, features = vector.torso()
    assert vector.vector and features is inputs and tuple(inputs.shape) == (None, 5)
    cnn = CNNTorso(pixels_venv().single_observation_space)
    assert not cnn.vector and cnn.dtype == np.uint8 and cnn.input_shape == (8, 8, 1)
    inputs, features = cnn.torso()
    model = keras.Model(inputs, features)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Rescaling", "Conv2D", "Conv2D", "Flatten"]
    assert tuple(features.shape) == (None, 2 * 2 * 32)  # two stride-2 convs: 8 -> 4 -> 2


@pytest.mark.parametrize(
    "space, encoder, message",
    [
        (spaces.Discrete(4), "cnn", "--encoder is for image observations"),
        (spaces.MultiBinary(3), None, "DQN needs Discrete or Box observations"),
        (spaces.Box(0, 1, (4,), np.float32), "cnn", "--encoder cnn needs image observations"),
        (spaces.Box(0, 255, (8, 8, 1), np.uint8), "vae:x.keras", "unknown encoder kind 'vae'"),
    ],
)
def test_bad_choices_are_one_usage_line(space, encoder, message):
    with pytest.raises(UsageError, match=message) as info:
        make_featurizer(space, None, encoder)
    assert "\n" not in str(info.value)


# -- running normalisation of Box vectors ---
VECTOR = spaces.Box(-np.inf, np.inf, shape=(3,), dtype=np.float32)


@st.composite
def batches(draw):
    """Observations of 3 features split into consecutive batches at random points."""
    n = draw(st.integers(1, 60))
    data = draw(
        hnp.arrays(
            np.float64,
            (n, 3),
            elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
        )
    )
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=6)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]


@SETTINGS
@given(batches())
def test_normaliser_statistics_are_numpys_over_all_batches(parts):
    normaliser = RunningNormalizer(VECTOR)
    for part in parts:
        normaliser.update(part)
    everything = np.concatenate(parts)
    assert normaliser.count == len(everything)
    scale = 1.0 + np.abs(everything).max()
    np.testing.assert_allclose(
        normaliser.mean, everything.mean(axis=0), rtol=1e-9, atol=1e-9 * scale
    )
    np.testing.assert_allclose(
        normaliser.var, everything.var(axis=0), rtol=1e-7, atol=1e-9 * scale**2
    )


@SETTINGS
@given(batches(), hnp.arrays(np.float32, (4, 3), elements=st.floats(-1e3, 1e3, width=32)))
def test_normaliser_output_is_clipped_standard_scores(parts, probe):
    normaliser = RunningNormalizer(VECTOR, clip=5.0)
    for part in parts:
        normaliser.update(part)
    out = normaliser(probe)
    assert out.dtype == np.float32 and out.shape == (4, 3)
    expected = np.clip((probe - normaliser.mean) / np.sqrt(normaliser.var + 1e-8), -5.0, 5.0)
    # The net reads float32: a value's float32 rounding, divided by a tiny spread, is amplified.
    resolution = np.finfo(np.float32).eps * (np.abs(probe).max() + np.abs(normaliser.mean).max())
    amplified = 2 * resolution / np.sqrt(normaliser.var.min() + 1e-8)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 + amplified)
    assert np.abs(out).max() <= 5.0


def test_normaliser_state_round_trips_through_an_npz(tmp_path):
    rng = np.random.default_rng(0)
    normaliser = RunningNormalizer(VECTOR)
    normaliser.update(rng.normal(3.0, 2.0, (100, 3)))
    np.savez(tmp_path / "state.npz", **normaliser.get_state())
    with np.load(tmp_path / "state.npz", allow_pickle=False) as saved:
        state = {k: saved[k] for k in saved.files}
    restored = RunningNormalizer(VECTOR)
    restored.set_state(state)
    probe = rng.normal(size=(5, 3)).astype(np.float32)
    assert np.array_equal(restored(probe), normaliser(probe))
    batch = rng.normal(size=(7, 3))
    restored.update(batch)
    normaliser.update(batch)  # training goes on from the same statistics
    np.testing.assert_allclose(restored.mean, normaliser.mean, rtol=1e-12)
    np.testing.assert_allclose(restored.var, normaliser.var, rtol=1e-12)
    with pytest.raises(ValueError, match="does not fit"):
        RunningNormalizer(spaces.Box(-1, 1, (4,), np.float32)).set_state(state)


def test_a_frozen_normaliser_keeps_its_statistics():
    normaliser = RunningNormalizer(VECTOR)
    assert np.array_equal(normaliser(np.ones((1, 3))), np.ones((1, 3), np.float32))  # untrained
    normaliser.update(np.arange(12.0).reshape(4, 3))
    before = normaliser.get_state()
    normaliser.frozen = True
    normaliser.update(np.full((50, 3), 1e3))
    after = normaliser.get_state()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    with pytest.raises(ValueError, match="finite"):
        RunningNormalizer(VECTOR).update(np.array([[np.nan, 0.0, 0.0]]))


def test_box_vectors_are_normalised_unless_asked_not_to():
    space = envs.make_env("CartPole-v1").observation_space
    featurizer = make_featurizer(space)
    assert isinstance(featurizer, RunningNormalizer) and featurizer.tag == "normalize"
    assert featurizer.stateful and featurizer.vector and featurizer.input_shape == (4,)
    plain = make_featurizer(space, normalize=False)
    assert isinstance(plain, FlatVector) and not plain.stateful and plain.get_state() == {}
    plain.update(np.zeros((2, 4)))  # a stateless featurizer ignores updates
    with pytest.raises(ValueError, match="no state"):
        plain.set_state({"mean": np.zeros(4)})


@SETTINGS
@given(batches(), st.integers(1, 4))
def test_store_then_normalize_is_the_network_input(parts, leading):
    rng = np.random.default_rng(len(parts))
    normaliser = RunningNormalizer(VECTOR)
    for part in parts:
        normaliser.update(part)
    raw = rng.normal(size=(5, 3)) * 100
    stored = normaliser.store(raw)
    assert stored.dtype == np.float32 and np.array_equal(stored, raw.astype(np.float32))
    assert np.array_equal(normaliser.normalize(stored), normaliser(raw))
    stacked = np.stack([stored] * leading)  # sampled minibatches come as (updates, batch, dim)
    assert np.array_equal(normaliser.normalize(stacked), np.stack([normaliser(raw)] * leading))
    one_hot = OneHot(4)
    states = np.array([0, 3, 1])
    assert one_hot.normalize(one_hot.store(states)) is not None
    assert np.array_equal(one_hot.normalize(one_hot.store(states)), one_hot(states))
