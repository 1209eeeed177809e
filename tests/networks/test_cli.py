"""The networks commands answer --help and refuse bad flags without starting TensorFlow; the
model names in --help are the registered ones; --config, --max-examples and the summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import UsageError, run_main
from networks import generate, train
from networks.catalog import MODELS
from networks.datasets import Dataset
from networks.model_names import ALL_NAMES, MODEL_NAMES
from tests.networks.conftest import pattern_images

REPO = Path(__file__).resolve().parents[2]
NO_TF = "import sys; {code}; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"


def test_model_names_are_the_registered_models():
    assert list(ALL_NAMES) == sorted(MODELS, key=list(ALL_NAMES).index)
    assert set(ALL_NAMES) == set(MODELS)
    for dataset, names in MODEL_NAMES.items():
        assert all(MODELS[n].dataset == dataset for n in names)


@pytest.mark.parametrize("module", ["networks.train", "networks.predict", "networks.generate"])
def test_help_without_tensorflow(module):
    code = NO_TF.format(code=f"from {module} import build_parser; build_parser().format_help()")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stderr == "" and "examples:" in out.stdout


def test_train_help_lists_every_model_and_groups_options():
    text = train.build_parser().format_help()
    assert all(name in text for name in ALL_NAMES)
    for group in ("run options:", "devices:", "options of the denoising autoencoder:"):
        assert group in text
    assert "--dashboard, --no-dashboard" in text and "--no-progress" in text


@pytest.mark.parametrize(
    "argv, words",
    [
        (["nosuch"], ["unknown model 'nosuch'"]),
        ([], ["a model name is required"]),
        (["softmax", "--epochs", "0"], ["--epochs", "got 0"]),
        (["softmax", "--max-examples", "-3"], ["--max-examples", "got -3"]),
        (["softmax", "--seed", str(2**32)], ["--seed", f"got {2**32}"]),
        (["softmax", "--seed", "-1"], ["--seed", "got -1"]),
        (["softmax", "--lr", "nan"], ["--lr", "nan"]),
    ],
)
def test_bad_flags_are_one_line_before_tensorflow(argv, words):
    code = (
        "import sys; from common.errors import run_main; from networks.train import main; "
        f"code = run_main(main, {argv!r}); "
        "assert 'tensorflow' not in sys.modules, 'TensorFlow started'; sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error: "), done.stderr
    assert done.stderr.count("\n") == 1 and all(w in done.stderr for w in words), done.stderr


def test_config_file_then_flags(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('model = "softmax"\nepochs = 3\nbatch-size = 32\ndashboard = false\n')
    args = train.build_parser().parse_args(["--config", str(path), "--epochs", "1"])
    cfg = train.config_from_args(args)
    assert (cfg.model, cfg.epochs, cfg.batch_size, cfg.progress) == ("softmax", 1, 32, False)
    args = train.build_parser().parse_args(["--config", str(path), "--no-progress", "mnist-cnn"])
    assert train.config_from_args(args).model == "mnist-cnn"
    for text, message in (
        ("epochs = 'x'\n", "key 'epochs' in config file .* must be int"),
        ("foo = 1\n", "unknown key 'foo'"),
        ("epochs = \n", "is not valid TOML"),
    ):
        path.write_text(text)
        args = train.build_parser().parse_args(["softmax", "--config", str(path)])
        with pytest.raises(UsageError, match=message):
            train.config_from_args(args)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 400), st.booleans())
def test_max_examples_slices_every_split(n, stream):
    if stream:  # a token stream (PTB): the first n words, contiguous
        ids = np.arange(1000, dtype=np.int32)
        data = Dataset("ptb", ids[:-1], ids[1:], ids[:99], ids[1:100], ids[:99], ids[1:100])
    else:
        x, y = pattern_images(300, 28, 10, 0)
        data = Dataset("mnist", x, y, x[:80], y[:80], x[:90], y[:90], tuple("0123456789"))
    small = train.take_slice(data, n)
    assert len(small.x_train) == min(n, len(data.x_train))
    assert len(small.x_val) == min(max(1, n // 4), len(data.x_val))
    assert len(small.x_test) == min(max(1, n // 4), len(data.x_test))
    if stream:
        assert (small.x_train == data.x_train[: len(small.x_train)]).all()
        assert (small.y_train == small.x_train + 1).all()
    else:  # pairs kept together
        for xs, ys in ((small.x_train, small.y_train), (small.x_val, small.y_val)):
            assert all((xi.reshape(-1) == data.x_train[[j for j in range(300)
                        if (data.x_train[j] == xi).all()][0]].reshape(-1)).all()
                       for xi in xs[:3])  # fmt: skip
            assert len(xs) == len(ys)


def test_summary_says_one_epoch_and_paths_whole():
    long = "/tmp/" + "x" * 150 + "/model.keras"
    text = train.format_summary(
        {"model": "softmax", "dataset": "mnist", "test_accuracy": 0.5, "test_loss": 1.0,
         "epochs": 1, "train_seconds": 1.0, "seconds_per_epoch": 1.0, "params": 10,
         "saved_model": long, "logdir": "/tmp/run"}
    )  # fmt: skip
    assert "1 epoch in" in text and "1 epochs" not in text and f"saved model: {long}\n" in text


def test_cli_run_on_a_slice_prints_progress_and_summary_on_stdout(mnist_dir, tmp_path, capsys):
    args = ["softmax", "--epochs", "1", "--max-examples", "100", "--data-dir", str(mnist_dir),
            "--logdir", str(tmp_path / "run")]  # fmt: skip
    assert run_main(train.main, args) == 0
    out = capsys.readouterr()
    assert "epoch 1/1" in out.out and "1 epoch in" in out.out and out.err == ""
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["config"]["splits"] == {"train": 100, "val": 25, "test": 25}
    assert summary["config"]["max_examples"] == 100


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--temperature", "0"], "--temperature"),
        (["--temperature", "inf"], "--temperature"),
        (["--seed", "-1"], "--seed"),
        (["--seed", str(2**32)], "--seed"),
        (["--words", "0"], "--words"),
    ],
)
def test_generate_refuses_bad_options_before_loading(argv, message, capsys):
    try:
        code = run_main(generate.main, ["absent.keras", *argv])
    except SystemExit as exc:  # refused by the flag parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "absent.keras" not in err and err.count("\n") == 1


@given(st.floats(min_value=5e-324, max_value=1e308))
def test_any_positive_temperature_draws_a_word(temperature):
    probs = np.array([0.1, 0.6, 0.3])
    index = generate.sample_next(probs, temperature, np.random.default_rng(0))
    assert 0 <= index < 3
    if temperature < 1e-3:
        assert index == 1  # the likeliest word


def test_predict_help_is_instant_from_a_clean_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith("DLTF_")}
    out = subprocess.run(
        [sys.executable, "-m", "networks.predict", "--help"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0 and "--prepare" in out.stdout
