"""``agents.run --resume``: without ``--logdir`` it finds the latest matching run under ./runs;
a checkpoint trained with another encoder is refused in one line and left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.run import main
from common.errors import run_main

QUIET = ["--eval-episodes", "0", "--no-dashboard"]


def cli(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = run_main(main, list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


def episodes_of(folder: Path) -> int:
    import numpy as np

    with np.load(folder / "checkpoints" / "checkpoint.npz") as ckpt:
        return int(ckpt["episodes"])


def test_resume_without_logdir_continues_the_latest_matching_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    older, newer = (Path("runs") / f"frozenlake__tabular__0__20260101-00000{i}" for i in range(2))
    for folder in (older, newer):
        assert (
            cli(capsys, "frozenlake", "--episodes", "30", "--logdir", str(folder), *QUIET)[0] == 0
        )
    code, err = cli(
        capsys, "frozenlake", "--episodes", "60", "--resume", *QUIET, "--summary-json", "s.json"
    )
    assert code == 0, err
    summary = json.loads(Path("s.json").read_text())
    assert Path(summary["logdir"]).resolve() == newer.resolve() and summary["episodes"] == 60
    assert episodes_of(newer) == 60 and episodes_of(older) == 30  # the older one untouched
    assert sorted(p.name for p in Path("runs").iterdir()) == [older.name, newer.name]


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["--seed", "1"], "frozenlake__tabular__1__*"),  # another seed
        (["--q-net"], "frozenlake__dqn__0__*"),  # another agent
    ],
)
def test_resume_without_logdir_and_no_match_is_one_line(
    argv, pattern, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    folder = Path("runs") / "frozenlake__tabular__0__20260101-000000"
    assert cli(capsys, "frozenlake", "--episodes", "20", "--logdir", str(folder), *QUIET)[0] == 0
    before = episodes_of(folder)
    code, err = cli(capsys, "frozenlake", *argv, "--resume", *QUIET)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"--resume found no run matching runs/{pattern}" in err and "--logdir" in err
    assert episodes_of(folder) == before
    assert [p.name for p in Path("runs").iterdir()] == [folder.name]  # nothing new written


@pytest.fixture
def encoders(tmp_path) -> tuple[Path, Path]:
    """Two frozen encoders of the pixel lake's 32x32 images with the same output size."""
    import keras

    paths = []
    for seed in (0, 1):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((32, 32, 1))
        x = keras.layers.Rescaling(1 / 255)(inputs)
        x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
        features = keras.layers.Dense(8)(keras.layers.Flatten()(x))
        paths.append(tmp_path / f"encoder{seed}.keras")
        keras.Model(inputs, features).save(paths[-1])
    return paths[0], paths[1]


SMALL_DQN = ["--num-envs", "2", "--batch-size", "16", "--learning-starts", "16", "--hidden", "8"]


@pytest.mark.parametrize("other", ["encoder1", "cnn"])
def test_a_checkpoint_trained_with_another_encoder_is_refused(
    other, encoders, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    logdir = tmp_path / "run"
    base = ["frozenlake-pixels", "--q-net", *SMALL_DQN, *QUIET, "--logdir", str(logdir)]
    code, err = cli(capsys, *base, "--episodes", "10", "--encoder", f"autoencoder:{encoders[0]}")
    assert code == 0, err
    checkpoints = logdir / "checkpoints"
    kept = {p.name: p.read_bytes() for p in checkpoints.iterdir() if p.is_file()}
    spec = "cnn" if other == "cnn" else f"autoencoder:{encoders[1]}"
    code, err = cli(capsys, *base, "--episodes", "20", "--resume", "--encoder", spec)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    # The message names what differs first: the features' source (an encoder, or raw images).
    named = "perception=encoder:autoencoder:" if other != "cnn" else "this run has perception=cnn"
    assert err.startswith("error:") and named in err and "same network options" in err
    assert {p.name: p.read_bytes() for p in checkpoints.iterdir() if p.is_file()} == kept
    # With its own encoder it resumes.
    code, err = cli(
        capsys, *base, "--episodes", "20", "--resume", "--encoder", f"autoencoder:{encoders[0]}"
    )
    assert code == 0, err
