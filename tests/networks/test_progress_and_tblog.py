"""Progress displays and the TensorBoard helpers."""

from __future__ import annotations

import io

import keras
import numpy as np

from networks.progress import PlainProgress, RichProgress, make_progress
from networks.tblog import confusion_image, confusion_markdown, confusion_matrix


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _tiny_fit(callback: keras.callbacks.Callback) -> None:
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(inp))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    model.fit(
        x,
        (x[:, 0] > 0).astype("int32"),
        batch_size=8,
        epochs=2,
        verbose=0,
        validation_data=(x, (x[:, 0] > 0).astype("int32")),
        callbacks=[callback],
    )


def test_display_follows_the_stream():
    assert isinstance(make_progress(True, io.StringIO()), PlainProgress)
    assert isinstance(make_progress(True, _Tty()), RichProgress)
    assert make_progress(False, _Tty()) is None


def test_plain_progress_prints_one_line_per_epoch():
    out = io.StringIO()
    _tiny_fit(PlainProgress(out))
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    assert all("loss" in line and "val_acc" in line for line in lines)


def test_rich_progress_draws_bars_with_metrics():
    out = _Tty()
    cb = RichProgress(console=None, every=1)
    from rich.console import Console

    cb.console = Console(file=out, force_terminal=True, width=120)
    _tiny_fit(cb)
    text = out.getvalue()
    assert "epochs" in text and "loss" in text and "2/2" in text


def test_confusion_matrix_counts_and_renders():
    cm = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    img = confusion_image(cm, cell=10)
    assert img.shape == (1, 30, 30, 3) and img.dtype == np.uint8
    assert img[0, 15, 15].sum() < img[0, 5, 25].sum()  # full row is darker than an empty cell
    md = confusion_markdown(cm, ("a", "b", "c"))
    assert "| **c** | 1 | 0 | 2 |" in md


def test_epochs_bar_moves_within_the_first_epoch_so_its_eta_shows():
    from rich.console import Console

    cb = RichProgress(console=Console(file=_Tty(), force_terminal=True, width=120), every=1)
    cb.set_params({"epochs": 3, "steps": 8})
    cb.on_train_begin()
    cb.on_epoch_begin(0)
    for batch in range(4):
        cb.on_train_batch_end(batch, {"loss": 1.0})
    epochs = cb._progress.tasks[0]
    assert epochs.completed == 0.5  # half of the first epoch: rich can estimate the rest
    cb.on_epoch_end(0, {"loss": 1.0})
    assert epochs.completed == 1
    cb.on_train_end()


def test_make_progress_defaults_to_stdout(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    assert isinstance(make_progress(True), PlainProgress) and make_progress(True).stream is out
