"""perception.encoders with tiny Keras models saved to a temp folder: specs, loading, preprocessing,
tiles, one trace per bound encoder, and the one-line errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from gymnasium.utils.env_checker import check_env

import envs
from common.errors import UsageError
from perception.encoders import (
    END_TO_END,
    BatchEncoder,
    EncodedObservation,
    EncoderSpec,
    batch_encoder,
    encoder_from_spec,
    load_encoder,
    parse_encoder_spec,
    save_encoder,
)
from tests.envs.test_pixels import synthetic_digits


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A 2-layer conv encoder on 8x8x1 ([0, 1] input), a classifier on 3x3x1 that rescales itself
    (as networks/ models do), a flat-input encoder, and a whole (image-to-image) autoencoder."""
    folder = tmp_path_factory.mktemp("encoders")
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="code")(x)
    conv = keras.Model(inp, keras.layers.Flatten()(x), name="conv_encoder")
    inp = keras.Input((3, 3, 1), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="scale")(inp)
    x = keras.layers.Dense(6, activation="relu", name="hidden")(keras.layers.Flatten()(x))
    clf = keras.Model(
        inp, keras.layers.Dense(10, activation="softmax", name="probs")(x), name="clf"
    )
    inp = keras.Input((64,), name="flat")
    flat = keras.Model(inp, keras.layers.Dense(5, name="code")(inp), name="flat_encoder")
    inp = keras.Input((8, 8, 1), name="image")
    whole = keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same")(inp), name="autoencoder")
    paths = {}
    for name, model in (("conv", conv), ("clf", clf), ("flat", flat), ("whole", whole)):
        paths[name] = save_encoder(model, folder / f"{name}.keras")
    return paths


def pixels(**options):
    return envs.make("frozenlake-pixels", cell_size=2, **options)  # 4x4 map -> 8x8 images


@pytest.mark.parametrize(
    "text, expected",
    [
        ("autoencoder:runs/ae.keras", EncoderSpec("autoencoder", Path("runs/ae.keras"))),
        ("mnist-cnn:m.keras", EncoderSpec("mnist-cnn", Path("m.keras"))),
        ("mnist-cnn:m.keras@dense_1", EncoderSpec("mnist-cnn", Path("m.keras"), "dense_1")),
        ("mnist-cnn:runs/a@b/m.keras", EncoderSpec("mnist-cnn", Path("runs/a@b/m.keras"))),
        (" CNN ", EncoderSpec("cnn")),
    ],
)
def test_parse_encoder_spec(text, expected):
    assert parse_encoder_spec(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("vae:x.keras", "unknown encoder kind 'vae'"),
        ("autoencoder", "needs a saved model: use autoencoder:PATH"),
        ("cnn:x.keras", "takes no file"),
        ("mnist-cnn:m.keras@", "empty path or layer"),
    ],
)
def test_bad_specs_are_one_line(text, message):
    with pytest.raises(UsageError, match=message) as info:
        parse_encoder_spec(text)
    assert "\n" not in str(info.value)


def test_cnn_is_the_end_to_end_marker():
    assert encoder_from_spec("cnn") is END_TO_END and END_TO_END.kind == "cnn"
    with pytest.raises(UsageError, match="not a featurizer"):
        EncodedObservation(pixels(), "cnn")
    with pytest.raises(UsageError, match="not a featurizer"):
        batch_encoder(pixels(), END_TO_END)


def test_file_errors_name_the_problem_and_the_fix(models, tmp_path):
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    (tmp_path / "model.h5").write_bytes(b"")
    cases = [
        (
            f"autoencoder:{tmp_path}/none.keras",
            "not found: train one with `python -m networks.train lake-autoencoder",
        ),
        (f"mnist-cnn:{tmp_path}/none.keras", f"--save {tmp_path}/none.keras`, or fix the path"),
        (f"autoencoder:{tmp_path}/junk.keras", "corrupt"),
        (f"autoencoder:{tmp_path}/model.h5", "not a .keras file"),
        (f"mnist-cnn:{models['clf']}@nope", "no layer 'nope': choose one of image, scale, "),
        (f"autoencoder:{models['whole']}", "whole autoencoder: save its encoder alone"),
    ]
    for text, message in cases:
        with pytest.raises(UsageError, match=message) as info:
            encoder_from_spec(text)
        assert "\n" not in str(info.value)


def test_encoded_pixels_are_the_models_features(models):
    encoder = load_encoder(models["conv"])
    assert encoder.input_range == "unit" and not encoder.model.trainable_weights  # frozen
    env = EncodedObservation(pixels(), encoder)
    obs, _ = env.reset(seed=0)
    image = env.unwrapped.clean_image(env.unwrapped.state)
    expected = encoder.model(image[None].astype(np.float32) / 255.0).numpy()[0]
    assert obs.dtype == np.float32 and obs.shape == (16,) == env.observation_space.shape
    np.testing.assert_allclose(obs, expected, rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded Box features, wrapped env
        check_env(env, skip_render_check=True)
    assert env.unwrapped.identity == pixels().identity  # checkpoints see the image env


def test_rgb_is_turned_grey_and_larger_images_resized(models):
    encoder = load_encoder(models["conv"])
    rgb = EncodedObservation(pixels(color="rgb"), encoder)
    obs, _ = rgb.reset(seed=0)
    image = rgb.unwrapped.clean_image(0).astype(np.float32) / 255.0
    grey = tf.image.rgb_to_grayscale(image[None])
    np.testing.assert_allclose(obs, encoder.model(grey).numpy()[0], rtol=1e-5, atol=1e-6)
    big = EncodedObservation(envs.make("frozenlake-pixels", cell_size=4), encoder)  # 16x16 -> 8x8
    assert big.reset(seed=0)[0].shape == (16,)
    flat = EncodedObservation(pixels(), load_encoder(models["flat"]))  # 8x8x1 -> 64 values
    assert flat.reset(seed=0)[0].shape == (5,)


@pytest.mark.parametrize(
    "which, env_options, message",
    [
        ("conv", {"image_size": (8, 12)}, "takes 8x8x1 inputs but the env's images are 8x12x1"),
        ("flat", {"color": "rgb", "cell_size": 1}, r"\(64 values vs 48\)"),
    ],
)
def test_shape_mismatches_fail_before_training(models, which, env_options, message):
    env = envs.make("frozenlake-pixels", **{"cell_size": 2, **env_options})
    with pytest.raises(UsageError, match=message) as info:
        EncodedObservation(env, load_encoder(models[which]))
    assert "\n" not in str(info.value)


def test_non_image_envs_are_refused(models):
    with pytest.raises(UsageError, match="needs uint8 image observations"):
        EncodedObservation(envs.make("frozenlake"), load_encoder(models["conv"]))


def test_digits_are_classified_one_by_one_and_concatenated(models):
    digits = synthetic_digits(size=3)
    encoder = encoder_from_spec(f"mnist-cnn:{models['clf']}")
    assert encoder.input_range == "byte"  # the model rescales itself: raw grey levels go in
    env = EncodedObservation(envs.make("frozenlake-digits", digits=digits), encoder)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (20,)
    np.testing.assert_allclose([obs[:10].sum(), obs[10:].sum()], [1.0, 1.0], rtol=1e-5)
    venv = envs.make_vector("frozenlake-digits", 4, digits=digits)
    images, _ = venv.reset(seed=1)
    encode = batch_encoder(venv, encoder)
    features = encode(images)
    left = encoder.model(images[:, :, :3].astype(np.float32)).numpy()
    right = encoder.model(images[:, :, 3:].astype(np.float32)).numpy()
    np.testing.assert_allclose(
        features, np.concatenate([left, right], axis=1), rtol=1e-5, atol=1e-6
    )
    cut = batch_encoder(venv, f"mnist-cnn:{models['clf']}@hidden")
    assert cut(images).shape == (4, 12) and cut.feature_dim == 12


def test_one_trace_serves_every_batch_size(models):
    encode = BatchEncoder(load_encoder(models["conv"]), pixels().observation_space)
    for n in (1, 5, 32):
        assert encode.encode_batch(np.zeros((n, 8, 8, 1), np.uint8)).shape == (n, 16)
    assert encode._compiled.experimental_get_tracing_count() == 1
    with pytest.raises(ValueError, match="expected a batch of uint8 8x8x1 images"):
        encode(np.zeros((2, 8, 8, 1), np.float32))


def test_fine_tunable_encoder_gets_gradients(models):
    encoder = load_encoder(models["conv"], trainable=True)
    encode = BatchEncoder(encoder, pixels().observation_space)
    images = tf.constant(pixels().unwrapped.state_images())
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(encode.features(images) ** 2)
    grads = tape.gradient(loss, encoder.model.trainable_variables)
    assert len(grads) == 4 and all(g is not None for g in grads)
    # Every kernel and bias gets a non-zero gradient: the encoder would actually move.
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_save_encoder_is_atomic_and_wants_keras_suffix(models, tmp_path, monkeypatch):
    model = load_encoder(models["flat"]).model
    assert save_encoder(model, tmp_path / "copy.keras").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.keras"]
    good = (tmp_path / "copy.keras").read_bytes()

    def crash_half_way(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PK half a zip")  # a crash (disk full, kill) mid-write
        raise OSError("No space left on device")

    monkeypatch.setattr(keras.Model, "save", crash_half_way)
    with pytest.raises(OSError, match="No space left"):
        save_encoder(model, tmp_path / "copy.keras")
    monkeypatch.undo()
    # The old file is intact and loads; no temp file is left beside it.
    assert (tmp_path / "copy.keras").read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.keras"]
    assert load_encoder(tmp_path / "copy.keras").model.output_shape == model.output_shape
    with pytest.raises(UsageError, match="must end in .keras"):
        save_encoder(model, tmp_path / "copy.h5")
