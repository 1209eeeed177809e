"""Every text model's vocabulary survives save and load whatever the corpus holds: the control
and line-break characters of the real IMDB reviews (U+0085, U+0096, U+0097) included. A file
saved by Keras' own ``TextVectorization`` from such a corpus fails to load with its real cause."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import UsageError, run_main
from networks import predict
from networks.datasets import Dataset
from networks.train import TrainConfig, train
from networks.vocabulary import TextVectorization, check_vocabulary, read_legacy_vocabulary

# What str.splitlines() breaks at besides "\n", and the IMDB reviews' C1 controls.
TRICKY = "\x85\x96\x97\u2028\u2029\x1c\x1d\x1e\x0b\x0c\r"
CORPUS = [
    "a wonderful\x85film",
    "awful \x96 boring\x97dull",
    "x\u2028y z\x1cw",
    "plain words here",
    "\x85 alone",
]


def round_trip(tmp_path, corpus: list[str], **kwargs) -> tuple[keras.Model, keras.Model]:
    inp = keras.Input(shape=(), dtype="string")
    tv = TextVectorization(**kwargs)
    tv.adapt(tf.constant(corpus))
    model = keras.Model(inp, tv(inp))
    model.save(tmp_path / "m.keras")
    return model, keras.models.load_model(tmp_path / "m.keras", safe_mode=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_tokens": 50},
        {"max_tokens": 50, "ngrams": 2, "output_mode": "tf_idf"},
        {"max_tokens": 50, "output_sequence_length": 6},
    ],
)
def test_control_characters_round_trip(tmp_path, kwargs):
    model, again = round_trip(tmp_path, CORPUS, **kwargs)
    vocab = model.layers[1].get_vocabulary()
    assert any("\x85" in t for t in vocab) and any("\x96" in t for t in vocab)
    assert again.layers[1].get_vocabulary() == vocab
    x = tf.constant(CORPUS + ["unseen \x97 words"])
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from("ab \n\t" + TRICKY + "é字"), min_size=1, max_size=12),
        min_size=1,
        max_size=6,
    )
)
def test_any_corpus_round_trips(tmp_path, corpus):
    model, again = round_trip(tmp_path, corpus, max_tokens=30, ngrams=2)
    assert again.layers[1].get_vocabulary() == model.layers[1].get_vocabulary()


def test_keras_own_class_fails_with_its_real_cause(tmp_path):
    inp = keras.Input(shape=(), dtype="string")
    tv = keras.layers.TextVectorization(max_tokens=50, ngrams=2, output_mode="tf_idf")
    tv.adapt(tf.constant(CORPUS))
    keras.Model(inp, tv(inp)).save(tmp_path / "old.keras")
    with pytest.raises(UsageError) as err:
        predict.load_model(tmp_path / "old.keras")
    message = str(err.value)
    assert "vocabulary" in message and "U+0085" in message and "retrain" in message
    assert "\n" not in message


def test_legacy_file_reads_at_newlines_only(tmp_path):
    path = tmp_path / "vocabulary.txt"
    path.write_bytes("\n[UNK]\na\x85b\nc\u2028d\n".encode())
    assert read_legacy_vocabulary(str(path)) == ["", "[UNK]", "a\x85b", "c\u2028d"]
    with pytest.raises(ValueError, match=r"repeats 1 term.*line-break"):
        check_vocabulary(["", "[UNK]", "a", ""], "x")


def test_sentiment_model_on_a_tricky_corpus_saves_loads_and_predicts(tmp_path, capsys):
    rng = np.random.default_rng(0)
    good, bad = ("wonderful\x85", "great", "moving"), ("awful\x96", "boring\x97", "dull")
    texts, labels = [], []
    for i in range(64):
        words = list(rng.choice(["the", "film", "a\x85", "plot"], 8))
        words[int(rng.integers(8))] = str(rng.choice(good if i % 2 else bad))
        texts.append(" ".join(words))
        labels.append(i % 2)
    x, y = np.array(texts, dtype=object), np.array(labels, dtype=np.int32)
    data = Dataset(
        "imdb", x[:48], y[:48], x[48:56], y[48:56], x[48:], y[48:], ("negative", "positive")
    )
    cfg = TrainConfig(
        model="imdb-sentiment",
        epochs=1,
        batch_size=16,
        logdir=str(tmp_path / "run"),
        progress=False,
    )
    summary = train(cfg, data=data)
    assert run_main(predict.main, [summary["saved_model"], "A wonderful\x85 film."]) == 0
    out = capsys.readouterr().out.split("\n")  # splitlines() would break at the U+0085
    assert out[0] == "A wonderful\x85 film." and out[1].split()[0] in ("positive", "negative")
