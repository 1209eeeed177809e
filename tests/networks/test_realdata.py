"""Each model family on a small slice of the real data (../shared/data): one short epoch, saved,
loaded in safe mode, then used the way a person would (predict on pictures or sentences,
generate text). Skipped where the data is absent; ``python -m pytest -m realdata`` runs only
these.

Slices: 2,000 MNIST digits, 1,000 FER2013 faces, 500 IMDB reviews (those holding U+0085,
U+0096 or U+0097 first: they broke the saved vocabulary), 50,000 PTB words.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import networks.text  # noqa: F401  (registers the imdb and ptb datasets)
from common.errors import run_main
from networks import generate, predict
from networks.datasets import Dataset, load_dataset
from networks.train import TrainConfig, take_slice, train

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"no real data in {DATA}"),
]


def real(name: str, n: int) -> Dataset:
    folder = DATA / name
    if not folder.is_dir():
        pytest.skip(f"no {name} data in {folder}")
    return take_slice(load_dataset(name, folder), n)


def run(model: str, data: Dataset, tmp_path: Path, **kwargs) -> dict:
    cfg = TrainConfig(model=model, epochs=1, logdir=str(tmp_path / model), progress=False, **kwargs)
    return train(cfg, data=data)


def png(path: Path, img: np.ndarray) -> str:
    path.write_bytes(tf.io.encode_png(np.asarray(img, np.uint8)[..., None]).numpy())
    return str(path)


# --- MNIST -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    return real("mnist", 2000)


# Floors well under the spread over seeds: 20 steps of the LSTM scored 0.36-0.43 on seeds 0-3
# (Keras' shuffle) and 0.38-0.40 (networks.feed's order); chance is 0.1.
@pytest.mark.parametrize(
    "model, floor", [("mlp-relu", 0.6), ("mnist-cnn", 0.6), ("mnist-lstm", 0.3)]
)  # fmt: skip
def test_mnist_classifiers(mnist, tmp_path, model, floor):
    s = run(model, mnist, tmp_path)
    assert s["test_accuracy"] > floor
    loaded = predict.load_model(s["saved_model"])
    assert predict.model_kind(loaded) == "image-classifier"
    # Real test digits as a person would photograph them: dark ink on paper, small, anywhere.
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(10):
        canvas = np.full((160, 200), 235, np.uint8)
        top, left = rng.integers(0, 160 - 28), rng.integers(0, 200 - 28)
        canvas[top : top + 28, left : left + 28] = 235 - (mnist.x_test[i] * 0.9).astype(np.uint8)
        paths.append(png(tmp_path / f"photo{i}.png", canvas))
        labels.append(str(int(mnist.y_test[i])))
    results = predict.predict(s["saved_model"], paths, top=1)
    right = sum(r["top"][0]["class"] == y for r, y in zip(results, labels, strict=True))
    assert right >= (6 if floor >= 0.6 else 3)


def test_mnist_autoencoder_and_its_encoder(mnist, tmp_path, capsys):
    s = run("autoencoder", mnist, tmp_path)
    encoder = s["saved_encoder"]
    digit = png(tmp_path / "d.png", mnist.x_test[0])
    assert run_main(predict.main, [encoder, digit]) == 2
    assert "is an encoder" in capsys.readouterr().err
    code = predict.load_model(encoder)(mnist.x_test[:4, ..., None].astype("float32"))
    assert code.shape == (4, 128) and np.isfinite(np.asarray(code)).all()


# --- FER2013 ---------------------------------------------------------------------------------


def test_fer_cnn_on_a_face_picture(tmp_path):
    data = real("fer2013", 1000)
    s = run("emotion-cnn-classic", data, tmp_path)
    assert 0 <= s["test_accuracy"] <= 1
    face = np.kron(data.x_test[0], np.ones((2, 2), np.uint8))  # 96x96
    wide = np.pad(face, ((0, 0), (40, 40)), constant_values=128)  # the face in the middle
    [res] = predict.predict(s["saved_model"], [png(tmp_path / "face.png", wide)], top=7)
    assert len(res["top"]) == 7 and abs(sum(e["probability"] for e in res["top"]) - 1) < 1e-4
    assert {e["class"] for e in res["top"]} == set(data.class_names)


# --- IMDB ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def imdb() -> Dataset:
    folder = DATA / "imdb"
    if not folder.is_dir():
        pytest.skip(f"no imdb data in {folder}")
    full = load_dataset("imdb", folder)
    tricky = [i for i, t in enumerate(full.x_train) if any(c in t for c in "\x85\x96\x97")]
    rest = np.random.default_rng(0).permutation(len(full.x_train))
    pick = np.array(list(dict.fromkeys([*tricky[:100], *rest]))[:500])
    small = take_slice(full, 500)
    return dataclasses.replace(small, x_train=full.x_train[pick], y_train=full.y_train[pick])


@pytest.mark.parametrize("model", ["imdb-sentiment", "imdb-lstm-classic"])
def test_imdb_vocabulary_survives_and_predicts(imdb, tmp_path, capsys, model):
    s = run(model, imdb, tmp_path)
    saved = keras.models.load_model(s["saved_model"], safe_mode=True)
    vocab = saved.get_layer("vectorize").get_vocabulary()
    if model == "imdb-sentiment":  # 40k terms: every word of the slice, the controls included
        assert any(c in t for t in vocab for c in "\x85\x96\x97")
    sentences = ["A moving, wonderful film.", "Dreadful\x85 boring and far too long."]
    assert run_main(predict.main, [s["saved_model"], *sentences, "--top", "1"]) == 0
    out = capsys.readouterr().out.split("\n")
    assert out[0] == sentences[0] and out[1].split()[0] in ("positive", "negative")


# --- PTB -------------------------------------------------------------------------------------


def test_ptb_language_model_generates(tmp_path, capsys):
    data = real("ptb", 50_000)
    assert data.sizes()["train"] == 50_000 and len(data.class_names) == 10_000
    # Validation and test on 2,000 words each: the final one-stream evaluation reads them word
    # by word, which would otherwise cost more than the training epoch.
    data = dataclasses.replace(
        data, x_val=data.x_val[:2000], y_val=data.y_val[:2000],
        x_test=data.x_test[:2000], y_test=data.y_test[:2000],
    )  # fmt: skip
    s = run("ptb-lm-small", data, tmp_path)
    assert s["history"]["val_perplexity"][0] < 2000  # from 10,000 (uniform) in one short epoch
    args = [s["saved_model"], "--prompt", "the company said", "--words", "12", "--seed", "1"]
    assert run_main(generate.main, args) == 0
    text = capsys.readouterr().out.split()
    assert text[:3] == ["the", "company", "said"] and len(text) > 3
