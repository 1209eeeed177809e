"""The PTB language model: batch layout and state carried across batches, learning on a tiny
corpus, per-epoch perplexities, resume without losing the schedule, and generation."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from common.errors import run_main
from networks import generate
from networks.language_model import (
    SMALL,
    LMConfig,
    LMEpochs,
    batch_layout,
    lm_network,
    stateful_twin,
    stream_loss,
)
from networks.predict import load_model
from networks.train import TrainConfig, train
from tests.networks.textdata import write_ptb

TINY = LMConfig(units=16, steps=5, dropout=0.0, init=0.5, decay=0.5, decay_after=1)


def test_batch_layout_rows_continue_across_batches():
    words = np.arange(103)
    x, y = batch_layout(words, words + 1000, batch=4, steps=5)
    per_row = 103 // 4  # 25: five batches of 4 rows x 5 steps
    assert x.shape == (20, 5) and (y == x + 1000).all()
    first, second = x[:4], x[4:8]
    assert (first[:, 0] == np.arange(4) * per_row).all()
    assert (second[:, 0] == first[:, -1] + 1).all()  # row r of batch 2 continues row r of batch 1


def test_state_is_carried_across_batches():
    """Two stateful calls on consecutive windows equal one call on the whole sequence."""
    vocab = tuple(f"w{i}" for i in range(12))
    keras.utils.set_random_seed(0)
    model = lm_network("lm", TINY, vocab)
    twin = stateful_twin(model, TINY, batch=2, lr=1.0)
    seq = np.array([[vocab[(3 * i + r) % 12] for i in range(10)] for r in range(2)], dtype=object)
    whole = np.asarray(model(tf.constant(seq.tolist())))
    parts = [np.asarray(twin(tf.constant(seq[:, s : s + 5].tolist()))) for s in (0, 5)]
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=1e-4, atol=1e-6)
    fresh = lm_network("lm", TINY, vocab, batch_size=2)
    fresh.set_weights(model.get_weights())
    assert not np.allclose(np.asarray(fresh(tf.constant(seq[:, 5:].tolist()))), parts[1], atol=1e-4)


def test_stream_loss_reads_the_split_as_one_sequence():
    """Windows of one stateful row, the last one padded, give the loss of a single pass over
    the whole sequence: every word predicted from all the words before it."""
    vocab = tuple(f"w{i}" for i in range(12))
    keras.utils.set_random_seed(1)
    model = lm_network("lm", TINY, vocab)
    ids = np.array([(5 * i + i // 3) % 12 for i in range(38)])
    words, targets = np.array(vocab, dtype=object)[ids[:-1]], ids[1:]  # 37 words, 37 targets
    probs = np.asarray(model(tf.constant([words.tolist()])))[0]
    expected = -np.mean(np.log(probs[np.arange(37), targets]))
    got = stream_loss(model, TINY, words.reshape(-1, 1), targets.reshape(-1, 1), window=8)
    assert got == pytest.approx(expected, rel=1e-5)
    cold = stream_loss(model, TINY, words[20:].reshape(-1, 1), targets[20:].reshape(-1, 1))
    assert cold != pytest.approx(-np.mean(np.log(probs[np.arange(20, 37), targets[20:]])))


def test_rate_schedule():
    cb = LMEpochs.__new__(LMEpochs)
    cb.lr, cb.cfg = 1.0, dataclasses.replace(SMALL, decay=0.5)
    assert [cb.scheduled_lr(e) for e in range(7)] == [1, 1, 1, 1, 0.5, 0.25, 0.125]  # Zaremba's
    cb.cfg = SMALL
    assert [cb.scheduled_lr(e) for e in range(6)] == [1, 1, 1, 1, 0.25, 0.0625]


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("ptb")
    write_ptb(root / "data")
    cfg = TrainConfig(
        model="ptb-lm-small",
        epochs=2,
        batch_size=4,
        lr=0.5,
        data_dir=str(root / "data"),
        logdir=str(root / "run"),
        progress=False,
    )
    return {"first": train(cfg), "cfg": cfg, "root": root}


def test_lm_learns_and_reports_perplexities_every_epoch(lm_run):
    s = lm_run["first"]
    h = s["history"]
    for key in ("perplexity", "val_perplexity", "test_perplexity", "words/s", "lr"):
        assert len(h[key]) == 2, key
    # A uniform guess over the output vocabulary scores its size; learning goes below it.
    uniform = load_model(s["saved_model"]).outputs[0].shape[-1]
    assert 15 <= uniform <= 17  # textdata's 13 words, <unk>, end of line (+ reserved ids)
    assert h["val_perplexity"][-1] < uniform and h["val_perplexity"][-1] < h["val_perplexity"][0]
    assert s["test_perplexity"] < uniform and s["valid_perplexity"] < uniform
    assert s["headline"].startswith("test perplexity")


def test_resume_continues_after_the_last_epoch(lm_run, capsys, tmp_path):
    s = lm_run["first"]
    state = json.loads((Path(s["logdir"]) / "resume" / "state.json").read_text())
    assert state["epochs_done"] == 2
    # The stopped run, asked for one more epoch: on a copy, so the shared run stays as it was.
    logdir = shutil.copytree(s["logdir"], tmp_path / "run")
    cfg = dataclasses.replace(lm_run["cfg"], epochs=3, logdir=str(logdir), resume=True)
    again = train(cfg)
    assert "resuming ptb-lm-small after epoch 2 of 3" in capsys.readouterr().err
    # the summary counts the whole run's epochs, resumed ones included
    assert again["epochs"] == 3 and len(again["history"]["val_perplexity"]) == 3
    assert again["history"]["val_perplexity"][:2] == s["history"]["val_perplexity"]
    assert again["history"]["lr"] == [0.5, 0.5, 0.5]  # small: full rate for 4 epochs


def test_generate_same_seed_same_text_and_bad_temperature(lm_run, capsys):
    path = lm_run["first"]["saved_model"]
    model = load_model(path)
    a = generate.generate(model, "the cat", 8, 0.7, seed=3)
    assert a == generate.generate(model, "the cat", 8, 0.7, seed=3)
    assert a[0] == ["the", "cat"] and len(a[1]) == 8
    assert run_main(generate.main, [path, "--prompt", "The zebra", "--words", "4"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("the <unk>") and "zebra" in out.err
    for args, msg in (
        (["--temperature", "0"], "error: --temperature must be positive, got 0"),
        (["--temperature", "-1"], "error: --temperature must be positive, got -1"),
    ):
        assert run_main(generate.main, [path, *args]) == 2
        assert capsys.readouterr().err == msg + "\n"
    assert run_main(generate.main, ["no-such-model"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown model 'no-such-model'")
