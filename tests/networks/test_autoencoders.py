"""Autoencoders: the denoiser gains PSNR on tiny digits, the encoder is saved and loads alone,
TensorBoard gets the image grid, and noise flags are checked."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.errors import run_main
from networks.autoencoders import corrupt, load_encoder
from networks.train import TrainConfig, main, train
from tests.networks.conftest import write_mnist_npz


def test_corruption_is_seeded_and_bounded():
    x = np.full((4, 28, 28, 1), 200.0, np.float32)
    g = corrupt(x, "gaussian", 0.3, seed=1)
    assert (g == corrupt(x, "gaussian", 0.3, seed=1)).all() and g.min() >= 0 and g.max() <= 255
    m = corrupt(x, "masking", 0.25, seed=1)
    assert abs((m == 0).mean() - 0.25) < 0.03 and set(np.unique(m)) == {0.0, 200.0}


@pytest.fixture(scope="module")
def denoiser_run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("dae")
    write_mnist_npz(root / "data", n_train=640, n_test=64)
    return train(
        TrainConfig(
            model="denoising-autoencoder",
            epochs=8,
            batch_size=32,
            lr=0.002,
            data_dir=str(root / "data"),
            logdir=str(root / "run"),
            progress=False,
        )
    )


def test_denoiser_raises_psnr_over_its_corrupted_input(denoiser_run):
    s = denoiser_run
    assert s["psnr_gain"] > 1.5 and s["test_psnr"] > s["input_psnr"]
    assert s["test_mse"] < s["input_mse"] and "gaussian 0.3" in s["headline"]
    assert s["history"]["loss"][-1] < s["history"]["loss"][0]


def test_encoder_is_saved_beside_and_loads_alone(denoiser_run):
    s = denoiser_run
    enc_path = Path(s["saved_encoder"])
    assert enc_path.name == "model.encoder.keras" and enc_path.is_file()
    encoder = keras.models.load_model(enc_path, safe_mode=True)
    full = keras.models.load_model(s["saved_model"], safe_mode=True)
    x = np.random.default_rng(0).uniform(0, 255, (3, 28, 28, 1)).astype("float32")
    codes = encoder.predict(x, verbose=0)
    assert codes.shape == (3, 128)
    np.testing.assert_allclose(codes, full.get_layer("encoder").predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(
        load_encoder(s["saved_model"]).predict(x, verbose=0), codes, atol=1e-5
    )


def test_tensorboard_gets_the_image_grid(denoiser_run):
    tags = set()
    for events in Path(denoiser_run["logdir"]).glob("events.out.tfevents.*"):
        for raw in tf.data.TFRecordDataset(str(events)):
            tags.update(v.tag for v in tf.compat.v1.Event.FromString(raw.numpy()).summary.value)
    assert {"reconstructions", "originals", "corrupted", "reconstructed"} <= tags


@pytest.mark.parametrize(
    "args, message",
    [
        (["softmax", "--noise", "gaussian"], "apply to denoising models, not softmax"),
        (
            ["denoising-autoencoder", "--noise", "masking", "--noise-level", "1.5"],
            "(0, 1), got 1.5",
        ),
        (["denoising-autoencoder", "--noise-level", "0"], "(0, 2], got 0"),
    ],
)
def test_bad_noise_flags_are_one_line_errors(args, message, tmp_path, capsys):
    assert run_main(main, [*args, "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
