"""A networks.train run stopped by Ctrl-C mid-epoch and resumed with ``--resume`` is the
uninterrupted run bit for bit: every variable (weights, optimizer, seed generators), the
history, the summary's numbers and the TensorBoard curves. The models carry Dropout (mnist-cnn),
random augmentation (emotion-cnn) or noise drawn in the data pipeline (the denoiser), so the
data order and every random state must continue, not be drawn anew."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import run_main
from networks.feed import epoch_order, ordered_batches
from networks.train import main
from tests.networks.conftest import write_fer_npz, write_mnist_npz

EPOCHS, BATCH, SEED = 3, 40, 7  # 288 MNIST training examples: 7 full batches and one of 8


def cli(model: str, data: Path, logdir: Path) -> list[str]:
    return [
        model, "--epochs", str(EPOCHS), "--batch-size", str(BATCH), "--seed", str(SEED),
        "--data-dir", str(data), "--logdir", str(logdir), "--no-dashboard",
    ]  # fmt: skip


def stop_mid_epoch(monkeypatch, model: str, epoch: int, batch: int) -> None:
    """Ctrl-C lands after ``batch`` batches of ``epoch`` (0-based): the user's path."""
    from networks import catalog
    from networks.feed import ordered_fit

    class CtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, b, logs=None):
            if self._epoch == epoch and b + 1 == batch:
                os.kill(os.getpid(), signal.SIGINT)

        def on_epoch_begin(self, e, logs=None):
            self._epoch = e

    spec = catalog.MODELS[model]
    inner = spec.fit or ordered_fit

    def fit(m, context, **kwargs):
        kwargs["callbacks"] = [*kwargs["callbacks"], CtrlC()]
        return inner(m, context, **kwargs)

    monkeypatch.setitem(catalog.MODELS, model, dataclasses.replace(spec, fit=fit))


def events(folder: Path) -> Counter:
    """Every (tag, step, value) in a TensorBoard folder's event files, as a multiset. Layer
    numbers are dropped from histogram tags (``dense_3/kernel``): Keras numbers layers per
    process and these runs share one."""
    seen: Counter = Counter()
    for path in folder.glob("events.out.tfevents.*"):
        for raw in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(raw.numpy())
            for v in event.summary.value:
                tag = re.sub(r"_\d+/", "/", v.tag)
                seen[(tag, event.step, v.tensor.SerializeToString())] += 1
    return seen


def arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize(
    "model, dataset",
    [("mnist-cnn", "mnist"), ("denoising-autoencoder", "mnist"), ("emotion-cnn", "fer")],
)
def test_interrupted_and_resumed_is_the_uninterrupted_run_bit_for_bit(
    tmp_path, monkeypatch, capsys, model, dataset
):
    if dataset == "mnist":
        data = write_mnist_npz(tmp_path / "data").parent
    else:
        data = write_fer_npz(tmp_path / "data", n=120).parent
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert run_main(main, cli(model, data, whole)) == 0

    stop_mid_epoch(monkeypatch, model, epoch=1, batch=2)
    assert run_main(main, cli(model, data, cut)) == 130
    assert "--resume" in capsys.readouterr().err
    monkeypatch.undo()
    assert json.loads((cut / "checkpoint" / "state.json").read_text())["epochs_done"] == 1
    assert run_main(main, ["--logdir", str(cut), "--resume", "--no-dashboard"]) == 0

    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole, cut))
    assert b["resumed_after"] == 1 and a["epochs"] == b["epochs"] == EPOCHS
    assert a["history"] == b["history"]
    for key in ("test_loss", "test_accuracy", "confusion_matrix", "test_mse", "test_psnr"):
        assert (key in a) == (key in b) and a.get(key) == b.get(key), key
    # Every variable of the last checkpoint: weights, optimizer, seed-generator states.
    wa, wb = arrays(whole / "checkpoint" / "state.npz"), arrays(cut / "checkpoint" / "state.npz")
    assert wa.keys() == wb.keys()
    assert any(k.startswith("s") for k in wa) == (model != "denoising-autoencoder")  # seeds
    for key in wa:
        assert wa[key].dtype == wb[key].dtype and np.array_equal(wa[key], wb[key]), key
    ma, mb = (keras.saving.load_model(d / "model.keras", safe_mode=True) for d in (whole, cut))
    for va, vb in zip(ma.weights, mb.weights, strict=True):
        assert np.array_equal(va.numpy(), vb.numpy()), va.path
    # TensorBoard: the same curves and histograms, no point of the cut epoch left over.
    for sub in ("train", "validation"):
        assert events(whole / sub) == events(cut / sub), sub


def batches_of(ds: tf.data.Dataset) -> list[np.ndarray]:
    return [x.numpy() for x, _ in ds]


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 50),
    batch=st.integers(1, 16),
    seed=st.integers(0, 2**32 - 1),
    first=st.integers(0, 3),
)
def test_an_epochs_batches_depend_on_seed_and_epoch_only(n, batch, seed, first):
    x = np.arange(n, dtype=np.int64)
    epochs = first + 2
    steps = -(-n // batch)
    from_start = batches_of(ordered_batches(x, x, batch, seed, 0, epochs))
    resumed = batches_of(ordered_batches(x, x, batch, seed, first, epochs))
    assert len(from_start) == steps * epochs and len(resumed) == steps * (epochs - first)
    for got, want in zip(resumed, from_start[first * steps :], strict=True):
        assert np.array_equal(got, want)
    for e in range(epochs):  # every example once per epoch, in epoch_order(seed, e)
        order = np.concatenate(from_start[e * steps : (e + 1) * steps])
        assert np.array_equal(order, epoch_order(seed, e, n))
        assert [len(b) for b in from_start[e * steps : (e + 1) * steps]] == [
            min(batch, n - i) for i in range(0, n, batch)
        ]


def test_batch_keys_follow_the_batch_not_the_process():
    x = np.arange(10, dtype=np.float32)
    seen = []

    def transform(xb, yb, key):
        return xb, tf.broadcast_to(key, [tf.shape(yb)[0], 2])

    for first in (0, 2):
        ds = ordered_batches(x, x, 4, 5, first, 3, transform)
        seen.append([k.numpy()[0].tolist() for _, k in ds])
    assert seen[0][6:] == seen[1] and len(set(map(tuple, seen[0]))) == 9
    assert {s for s, _ in seen[0]} == {5}
