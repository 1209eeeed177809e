"""networks.train: learning, outputs, determinism, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import keras
import pytest
import tensorflow as tf

from common.errors import run_main
from networks.catalog import MODELS
from networks.models import BuildArgs
from networks.train import TrainConfig, main, train

SUMMARY_KEYS = {
    "model",
    "dataset",
    "epochs",
    "train_seconds",
    "seconds_per_epoch",
    "test_accuracy",
    "test_loss",
    "params",
    "saved_model",
    "config",
}


def _tags(folder: Path) -> set[str]:
    tags = set()
    for events in folder.glob("events.out.tfevents.*"):
        for raw in tf.data.TFRecordDataset(str(events)):
            event = tf.compat.v1.Event.FromString(raw.numpy())
            tags.update(v.tag for v in event.summary.value)
    return tags


def test_softmax_learns_separable_digits_and_writes_everything(trained_softmax):
    s = trained_softmax
    assert s["test_accuracy"] >= 0.95
    assert s["history"]["loss"][-1] < s["history"]["loss"][0]
    assert set(s) >= SUMMARY_KEYS
    assert s["params"] == 28 * 28 * 10 + 10
    assert len(s["epoch_seconds"]) == 5
    logdir = Path(s["logdir"])
    assert json.loads((logdir / "summary.json").read_text())["test_accuracy"] == s["test_accuracy"]
    assert Path(s["saved_model"]).is_file()
    cfg = s["config"]
    assert cfg["lr"] == 0.02 and cfg["batch_size"] == 32 and cfg["splits"]["train"] == 288
    root, train_tags, val_tags = (
        _tags(logdir),
        _tags(logdir / "train"),
        _tags(logdir / "validation"),
    )
    assert {"config", "confusion_matrix"} <= root
    assert {"epoch_loss", "epoch_accuracy", "learning_rate"} <= train_tags
    assert any(t.endswith("kernel") for t in train_tags)  # weight histograms
    assert {"epoch_loss", "epoch_accuracy"} <= val_tags
    cm = s["confusion_matrix"]
    assert sum(map(sum, cm)) == 64 and sum(cm[i][i] for i in range(10)) == round(
        64 * s["test_accuracy"]
    )


def test_same_seed_same_numbers(mnist_dir, tmp_path):
    def run(name: str) -> dict:
        return train(
            TrainConfig(
                model="mlp-relu-dropout",
                epochs=1,
                batch_size=32,
                seed=7,
                data_dir=str(mnist_dir),
                logdir=str(tmp_path / name),
                progress=False,
            )
        )

    a, b = run("a"), run("b")
    assert a["history"] == b["history"] and a["test_loss"] == b["test_loss"]
    spec = MODELS["mlp-relu-dropout"]
    weights = []
    for seed in (7, 7, 8):
        keras.utils.set_random_seed(seed)
        weights.append(spec.build(BuildArgs((28, 28, 1), 10)).get_weights()[0])
    assert (weights[0] == weights[1]).all() and not (weights[0] == weights[2]).all()


def test_list_shows_every_model_one_line_each(capsys):
    assert run_main(main, ["--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(MODELS) >= 7
    for name, line in zip(MODELS, lines, strict=True):
        assert line.startswith(name)


def test_cli_honours_paths_and_prints_plain_epoch_lines(mnist_dir, tmp_path, capsys):
    args = ["softmax", "--epochs", "2", "--batch-size", "32", "--data-dir", str(mnist_dir),
            "--logdir", str(tmp_path / "tb"), "--save", str(tmp_path / "out" / "m.keras"),
            "--summary-json", str(tmp_path / "s.json")]  # fmt: skip
    assert run_main(main, args) == 0
    captured = capsys.readouterr()
    assert "test accuracy" in captured.out and "m.keras" in captured.out
    # progress goes to stdout with the summary (issue 16): stderr stays for errors
    assert "epoch 1/2" in captured.out and "epoch 2/2" in captured.out and "val_acc" in captured.out
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["saved_model"] == str(tmp_path / "out" / "m.keras")
    assert (tmp_path / "out" / "m.keras").is_file() and (tmp_path / "tb" / "train").is_dir()


@pytest.mark.parametrize(
    "args, message",
    [
        (["resnet"], "unknown model 'resnet'"),
        ([], "a model name is required"),
        (["softmax", "--epochs", "0"], "--epochs must be positive"),
        (["softmax", "--batch-size", "-4"], "--batch-size must be positive"),
        (["softmax", "--lr", "0"], "--lr must be positive"),
        (["softmax", "--save", "model.h5"], "--save must end in .keras"),
        (["softmax", "--epochs", "two"], "invalid int value"),
        (
            ["emotion-cnn", "--data-dir", "{tmp}/none"],
            "fer2013 data not found: expected fer2013.npz",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args] + ["--logdir", str(tmp_path / "tb")]
    if "invalid int" in message:  # argparse's own type errors exit from parse_args
        with pytest.raises(SystemExit) as info:
            run_main(main, args)
        rc = info.value.code
    else:
        rc = run_main(main, args)
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_unwritable_save_path_fails_before_training(mnist_dir, tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    args = [
        "softmax",
        "--data-dir",
        str(mnist_dir),
        "--logdir",
        str(tmp_path / "tb"),
        "--save",
        str(blocker / "m.keras"),
    ]
    assert run_main(main, args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {blocker / 'm.keras'}") and "epoch" not in err


def test_corrupt_data_file_from_the_command_line(tmp_path, capsys):
    (tmp_path / "mnist.npz").write_bytes(b"garbage")
    args = ["mnist-cnn", "--data-dir", str(tmp_path), "--logdir", str(tmp_path / "tb")]
    assert run_main(main, args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: data file {tmp_path / 'mnist.npz'} is corrupt or unreadable")


def test_module_entry_point_prints_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "networks.train", "softmax", "--epochs", "-1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "DLTF_OFFLINE": "1",
        },
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "error: --epochs must be positive, got -1" in proc.stderr


def test_first_ctrl_c_stops_early_but_still_evaluates_and_saves(mnist_dir, tmp_path, monkeypatch):
    import os
    import signal

    import keras

    from networks import catalog

    class _InterruptOnce(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    def fit_with_interrupt(model, context, **kwargs):
        kwargs["callbacks"] = [*kwargs["callbacks"], _InterruptOnce()]
        return model.fit(**kwargs)

    import dataclasses

    spec = dataclasses.replace(catalog.MODELS["softmax"], fit=fit_with_interrupt)
    monkeypatch.setitem(catalog.MODELS, "softmax", spec)
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the tests run as a background job
    s = train(
        TrainConfig(
            model="softmax",
            epochs=50,
            batch_size=32,
            data_dir=str(mnist_dir),
            logdir=str(tmp_path),
            progress=False,
        )
    )
    assert s["interrupted"] is True and s["epochs"] == 1 and s["epochs_planned"] == 50
    # The figure reported is the saved (interrupted) model's on the test split.
    from tests.networks.conftest import pattern_images

    x_test, y_test = pattern_images(64, 28, 10, seed=1)  # write_mnist_npz's test split
    saved = keras.models.load_model(s["saved_model"], safe_mode=True)
    predicted = saved.predict(x_test[..., None].astype("float32"), verbose=0).argmax(-1)
    assert s["test_accuracy"] == pytest.approx(float((predicted == y_test).mean()))
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
