"""networks.predict and saving: safe-mode round trip, PNG/JPEG input, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from common.errors import run_main
from networks.predict import main, predict, read_image
from tests.networks.conftest import pattern_images


def _write(path, img: np.ndarray, fmt: str = "png") -> str:
    img = img if img.ndim == 3 else img[..., None]
    enc = tf.io.encode_png(img) if fmt == "png" else tf.io.encode_jpeg(img, quality=100)
    path.write_bytes(enc.numpy())
    return str(path)


def test_predict_reads_a_png_and_ranks_the_right_digit_first(trained_softmax, tmp_path, capsys):
    x, y = pattern_images(10, 28, 10, seed=5)
    k = int(y[0])
    png = _write(tmp_path / "digit.png", x[0])
    assert run_main(main, [trained_softmax["saved_model"], png, "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == png and len(lines) == 4
    assert lines[1].split()[0] == str(k)
    assert float(lines[1].split()[1].rstrip("%")) > 50


def test_dark_on_light_rgb_jpeg_of_another_size_is_converted(trained_softmax, tmp_path):
    # These stand-in "digits" are blocks whose class is where they are: only resized (the
    # MNIST-style crop and centring, tested in test_predict_inputs.py, would move them).
    x, y = pattern_images(10, 28, 10, seed=6)
    big = np.kron(255 - x[1], np.ones((3, 3), np.uint8))  # 84x84, ink on paper
    rgb = np.repeat(big[..., None], 3, axis=-1)
    jpg = _write(tmp_path / "digit.jpg", rgb, fmt="jpeg")
    assert read_image(jpg, 28, 28, 1).shape == (28, 28, 1)
    [res] = predict(trained_softmax["saved_model"], [jpg], top=1, prepare="resize")
    assert res["top"][0]["class"] == str(int(y[1]))
    model = trained_softmax["saved_model"]
    [auto] = predict(model, [jpg], top=10, prepare="resize")
    [forced] = predict(model, [jpg], top=10, invert="yes", prepare="resize")
    [raw] = predict(model, [jpg], top=10, invert="no", prepare="resize")
    assert abs(sum(e["probability"] for e in raw["top"]) - 1.0) < 1e-4

    def prob(res, k):
        return next(e["probability"] for e in res["top"] if e["class"] == str(k))

    # auto inverted this light picture: the same as forcing it, and far from reading it raw.
    assert all(prob(auto, k) == pytest.approx(prob(forced, k), abs=1e-6) for k in range(10))
    assert prob(auto, int(y[1])) > 0.5 > prob(raw, int(y[1]))
    # A dark (MNIST-like) picture is left alone by auto: the same as --invert no.
    png = _write(tmp_path / "dark.png", x[1])
    [dark_auto] = predict(model, [png], top=10, prepare="resize")
    [dark_raw] = predict(model, [png], top=10, invert="no", prepare="resize")
    assert dark_auto["top"] == dark_raw["top"] and dark_auto["top"][0]["class"] == str(int(y[1]))


def test_saved_model_round_trips_in_safe_mode(trained_softmax):
    import keras

    model = keras.models.load_model(trained_softmax["saved_model"], safe_mode=True)
    x, y = pattern_images(32, 28, 10, seed=9)
    acc = float(
        np.mean(np.argmax(model.predict(x[..., None].astype("float32"), verbose=0), -1) == y)
    )
    assert acc >= 0.9 and model.name == "softmax"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("not an image"), "is not a PNG, JPEG, BMP or GIF image"),
        (lambda p: None, "image file not found"),
    ],
)
def test_bad_image_is_one_line(trained_softmax, tmp_path, capsys, make, message):
    path = tmp_path / "x.png"
    make(path)
    assert run_main(main, [trained_softmax["saved_model"], str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_bad_model_files_are_one_line(trained_softmax, tmp_path, capsys):
    png = _write(tmp_path / "d.png", np.zeros((28, 28), np.uint8))
    corrupt = tmp_path / "broken.keras"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    truncated = tmp_path / "truncated.keras"
    data = Path(trained_softmax["saved_model"]).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    cases = [
        (corrupt, "corrupt or unsupported model file"),
        (truncated, "corrupt or unsupported model file"),
        (tmp_path / "absent.keras", "model file not found"),
        (tmp_path / "d.png", "is not a .keras model file"),
    ]
    for path, message in cases:
        assert run_main(main, [str(path), png]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err


def test_model_of_the_wrong_kind(tmp_path, capsys):
    import keras

    inp = keras.Input((12,))
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp), name="tabular")
    model.save(tmp_path / "tabular.keras")
    png = _write(tmp_path / "d.png", np.zeros((28, 28), np.uint8))
    assert run_main(main, [str(tmp_path / "tabular.keras"), png]) == 2
    assert "is not an image classifier" in capsys.readouterr().err


def test_top_must_be_positive(trained_softmax, tmp_path, capsys):
    png = _write(tmp_path / "d.png", np.zeros((28, 28), np.uint8))
    assert run_main(main, [trained_softmax["saved_model"], png, "--top", "0"]) == 2
    assert "--top must be positive" in capsys.readouterr().err
