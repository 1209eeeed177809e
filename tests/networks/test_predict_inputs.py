"""networks.predict prepares a picture as MNIST made its digits (and FER its faces), refuses a
huge picture before decoding it, and says what a model is when the input does not fit it."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from common.errors import UsageError, run_main
from networks import predict
from networks.image_prep import check_pixels, image_size, prepare_digit, prepare_face


def seven(height: int, width: int, top: int, left: int, size: int, light: bool) -> np.ndarray:
    """A "7" (a bar and a diagonal) of ``size`` pixels at (top, left) on a blank canvas."""
    img = np.full((height, width), 255.0 if light else 0.0)
    ink = 0.0 if light else 255.0
    t = max(1, size // 7)
    img[top : top + t, left : left + size] = ink
    for i in range(size):
        col = left + size - 1 - i * (size // 2) // size
        img[top + i, max(left, col - t) : col + 1] = ink
    return img


def ink_box(img: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero((img > 64).any(axis=1))
    cols = np.flatnonzero((img > 64).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    m = img.sum()
    return (img.sum(1) @ np.arange(28)) / m, (img.sum(0) @ np.arange(28)) / m


@settings(max_examples=25, deadline=None)
@given(
    st.integers(40, 400),
    st.integers(40, 400),
    st.floats(0, 1),
    st.floats(0, 1),
    st.integers(8, 40),
    st.booleans(),
)
def test_a_digit_anywhere_becomes_an_mnist_digit(h, w, fy, fx, size, light):
    size = min(size, h - 2, w - 2)
    top, left = int(fy * (h - size - 1)), int(fx * (w - size - 1))
    img = seven(h, w, top, left, size, light)
    out = prepare_digit(img, invert=light)
    assert out.shape == (28, 28) and out.min() >= 0 and out.max() == pytest.approx(255, abs=40)
    assert max(ink_box(out)) in (19, 20, 21)  # the longer side scaled to 20 (anti-aliased)
    cy, cx = centre_of_mass(out)
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1
    assert out[0, 0] == out[0, -1] == out[-1, 0] == out[-1, -1] == 0  # a black background


def test_a_small_seven_in_a_corner_reads_as_the_same_seven_centred():
    corner = prepare_digit(seven(300, 300, 5, 250, 30, light=True), invert=True)
    centred = prepare_digit(seven(28, 28, 4, 4, 20, light=False), invert=False)
    assert np.corrcoef(corner.ravel(), centred.ravel())[0, 1] > 0.9


def test_flat_picture_has_no_ink():
    with pytest.raises(UsageError, match="no ink"):
        prepare_digit(np.full((50, 50), 200.0), invert=True)


def test_face_takes_the_central_square():
    img = np.zeros((100, 200))
    img[:, 50:150] = 255  # the central square is all white, the sides black
    out = prepare_face(img, 48, 48)
    assert out.shape == (48, 48) and out.min() > 250


def _encoded(fmt: str, h: int, w: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((h, w), np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
def test_header_sizes(fmt):
    assert image_size(_encoded(fmt, 37, 91)) == (91, 37)


def test_huge_picture_is_refused_before_decoding(tmp_path):
    header = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (60000).to_bytes(4, "big") * 2
    with pytest.raises(UsageError, match="60000x60000 pixels .* scale it down"):
        check_pixels(header + b"\x08\x00\x00\x00\x00", "big.png")
    check_pixels(_encoded("PNG", 10, 10), "small.png")  # no error


# --- what the model is ------------------------------------------------------------------------


def _save(model: keras.Model, path) -> str:
    model.save(path)
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("kinds")
    img = keras.Input((28, 28, 1), name="image")
    flat = keras.layers.Flatten()(img)
    encoder = keras.Model(img, keras.layers.Dense(8, activation="relu")(flat), name="encoder")
    auto = keras.Model(img, keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(784)(flat)))
    clf = keras.Model(img, keras.layers.Dense(10, activation="softmax", name="probs")(flat))
    return {
        "encoder": _save(encoder, root / "enc.keras"),
        "autoencoder": _save(auto, root / "ae.keras"),
        "classifier": _save(clf, root / "clf.keras"),
    }


def _png(path, img: np.ndarray) -> str:
    path.write_bytes(tf.io.encode_png(img.astype(np.uint8)[..., None]).numpy())
    return str(path)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("encoder", "is an encoder (its output is a 8-number code, not class probabilities)"),
        ("autoencoder", "is an autoencoder (image in, image out), not a classifier"),
    ],
)
def test_encoders_are_refused_as_classifiers(models, tmp_path, capsys, kind, message):
    png = _png(tmp_path / "d.png", seven(28, 28, 4, 4, 20, light=False))
    assert run_main(predict.main, [models[kind], png]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_image_model_given_a_sentence(models, capsys):
    assert run_main(predict.main, [models["classifier"], "a wonderful film"]) == 2
    err = capsys.readouterr().err
    assert "is an image model: give image files" in err and "'a wonderful film'" in err


def test_classifier_reads_a_light_photo_of_a_digit(models, tmp_path):
    png = _png(tmp_path / "seven.png", seven(120, 90, 70, 50, 30, light=True))
    [res] = predict.predict(models["classifier"], [png], top=10, prepare="digit")
    assert abs(sum(e["probability"] for e in res["top"]) - 1) < 1e-4


def test_a_fresh_process_loads_every_text_model(tmp_path):
    """The command line imports nothing but what it needs: the IMDB models' own classes
    (KeepLast, the vocabulary) must still be registered before loading."""
    import subprocess
    import sys
    from pathlib import Path

    from networks.datasets import Dataset
    from networks.train import TrainConfig, train

    rng = np.random.default_rng(0)
    words = np.array(["good", "bad", "film", "plot", "the", "a\x85"])
    x = np.array([" ".join(rng.choice(words, 12)) for _ in range(48)], dtype=object)
    y = (np.arange(48) % 2).astype(np.int32)
    data = Dataset("imdb", x[:32], y[:32], x[32:40], y[32:40], x[40:], y[40:], ("neg", "pos"))
    for model in ("imdb-lstm-classic", "imdb-sentiment"):
        cfg = TrainConfig(model=model, epochs=1, logdir=str(tmp_path / model), progress=False)
        path = train(cfg, data=data)["saved_model"]
        done = subprocess.run(
            [sys.executable, "-m", "networks.predict", path, "a good film"],
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("a good film\n") and done.stderr == ""
