"""IMDB and PTB readers on tiny self-made corpora; the sentiment model learns, keeps its
vocabulary inside and predicts on raw text; bad corpora and empty text are one-line errors."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.errors import UsageError, run_main
from networks import predict
from networks.datasets import load_dataset
from networks.imdb import KeepLast
from networks.text import EOS, clean_review
from networks.train import TrainConfig, train
from tests.networks.textdata import write_imdb_dir, write_imdb_tar, write_ptb


def test_imdb_folder_and_archives_read_the_same(tmp_path):
    a = load_dataset("imdb", write_imdb_dir(tmp_path / "dir"))
    b = load_dataset("imdb", write_imdb_tar(tmp_path / "gz" / "aclImdb_v1.tar.gz"))
    c = load_dataset("imdb", write_imdb_tar(tmp_path / "xz" / "aclImdb_v1_labeled.tar.xz", "w:xz"))
    d = load_dataset("imdb", tmp_path / "dir" / "aclImdb")  # the extracted folder itself
    assert a.sizes() == {"train": 64, "val": 16, "test": 40} and a.class_names[1] == "positive"
    for other in (b, c, d):
        assert list(other.x_train) == list(a.x_train) and (other.y_test == a.y_test).all()
    assert "<br" not in " ".join(a.x_train) and a.y_test.sum() == 20


def test_clean_review_strips_markup_only():
    assert clean_review("Good.<br /><br />Bad<BR>end") == "Good.  Bad end"


def _first(root: Path, folder: str) -> Path:
    return sorted((root / "aclImdb" / folder).iterdir())[0]


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda r: _first(r, "train/pos").rename(r / "aclImdb/train/pos/x.txt"),
            "unexpected train/pos/x.txt",
        ),
        (
            lambda r: [p.unlink() for p in (r / "aclImdb/test/neg").iterdir()],
            "no reviews in test/neg/",
        ),
        (lambda r: _first(r, "train/neg").write_bytes(b"\xff\xfe bad"), "not UTF-8"),
    ],
)  # fmt: skip
def test_malformed_imdb_corpus_is_a_usage_error(tmp_path, damage, message):
    damage(write_imdb_dir(tmp_path))
    with pytest.raises(UsageError, match="malformed IMDB corpus") as err:
        load_dataset("imdb", tmp_path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_ptb_layouts_vocabulary_and_streams(tmp_path):
    txt = load_dataset("ptb", write_ptb(tmp_path / "txt"))
    gz_dir = tmp_path / "gz"
    gz_dir.mkdir()
    for split in ("train", "valid", "test"):
        raw = (tmp_path / "txt" / f"ptb.{split}.txt").read_bytes()
        (gz_dir / f"ptb.{split}.txt.gz").write_bytes(gzip.compress(raw))
    tgz = tmp_path / "tgz" / "simple-examples.tgz"
    tgz.parent.mkdir()
    with tarfile.open(tgz, "w:gz") as tar:
        for split in ("train", "valid", "test"):
            raw = (tmp_path / "txt" / f"ptb.{split}.txt").read_bytes()
            info = tarfile.TarInfo(f"./simple-examples/data/ptb.{split}.txt")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    for other in (load_dataset("ptb", gz_dir), load_dataset("ptb", tgz.parent)):
        assert other.class_names == txt.class_names and (other.x_test == txt.x_test).all()
    vocab = txt.class_names
    counts = np.bincount(np.r_[txt.x_train, txt.y_train[-1:]], minlength=len(vocab))
    assert {EOS, "<unk>", "cat", "house"} <= set(vocab) and len(vocab) == 15
    assert (np.diff(counts) <= 0).all()  # ids by descending training count
    assert (txt.x_train[1:] == txt.y_train[:-1]).all()  # y is the next word
    lines = (tmp_path / "txt" / "ptb.train.txt").read_text().splitlines()
    assert len(txt.x_train) + 1 == sum(len(line.split()) + 1 for line in lines)


def test_test_token_outside_the_vocabulary_is_a_one_line_error(tmp_path, capsys):
    root = write_ptb(tmp_path)
    with (root / "ptb.test.txt").open("a") as fh:
        fh.write(" the zebra sees <unk> \n")
    from networks.train import main

    assert (
        run_main(main, ["ptb-lm-small", "--data-dir", str(root), "--logdir", str(tmp_path / "tb")])
        == 2
    )
    err = capsys.readouterr().err
    assert (
        err.startswith("error: malformed PTB corpus") and "'zebra'" in err and "ptb.test.txt" in err
    )
    assert err.count("\n") == 1


def test_missing_ptb_file_names_what_is_expected(tmp_path):
    (write_ptb(tmp_path) / "ptb.valid.txt").unlink()
    with pytest.raises(UsageError, match="ptb data not found: expected ptb.train.txt"):
        load_dataset("ptb", tmp_path)


def test_keep_last_keeps_a_long_reviews_ending_and_loads_in_safe_mode(tmp_path):
    """Like 2017's pad_sequences: a long review keeps its last tokens, a short one is padded."""
    inp = keras.Input(shape=(), dtype="string")
    ids = keras.layers.TextVectorization(vocabulary=["a", "b", "c", "d"])(inp)
    model = keras.Model(inp, KeepLast(3)(ids))
    reviews = tf.constant(["a b c d a", "d", ""])  # ids: 0 padding, 1 unknown, a=2 ... d=5
    expected = [[4, 5, 2], [5, 0, 0], [0, 0, 0]]
    assert np.asarray(model(reviews)).tolist() == expected
    model.save(tmp_path / "keep.keras")
    again = keras.models.load_model(tmp_path / "keep.keras", safe_mode=True)
    assert np.asarray(again(reviews)).tolist() == expected


@pytest.fixture(scope="module")
def sentiment_run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("imdb")
    write_imdb_dir(root / "data")
    return train(
        TrainConfig(
            model="imdb-sentiment",
            epochs=8,
            batch_size=16,
            lr=0.02,
            data_dir=str(root / "data"),
            logdir=str(root / "run"),
            progress=False,
        )
    )


def test_sentiment_learns_and_keeps_its_vocabulary_inside(sentiment_run):
    s = sentiment_run
    assert s["test_accuracy"] >= 0.9 and s["history"]["loss"][-1] < s["history"]["loss"][0]
    assert all(r > 0 for r in s["history"]["reviews/s"])
    model = keras.models.load_model(s["saved_model"], safe_mode=True)
    vocab = model.get_layer("vectorize").get_vocabulary()
    assert {"wonderful", "awful", "the film"} <= set(vocab) and "br" not in vocab


def test_predict_on_raw_sentences(sentiment_run, capsys):
    path = sentiment_run["saved_model"]
    good, bad = "What a wonderful, moving film.<br />Loved it!", "Awful and boring, a dull mess."
    assert run_main(predict.main, [path, good, bad, "--top", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == good and "positive" in out[1] and out[2] == bad and "negative" in out[3]
    assert run_main(predict.main, [path, "  <br />  "]) == 2
    assert capsys.readouterr().err == "error: empty text to predict\n"
