"""A run interrupted (Ctrl-C or SIGTERM: save at the end of the chunk) and resumed is the
uninterrupted run, bit for bit: the same summary, the same final checkpoint (weights, optimizer,
counters, random streams, episodes in flight, replay), the same TensorBoard points.

The interruption is the one a signal makes (``stop_requested`` during a chunk), placed at a
chosen chunk so the test is deterministic; the kill -9 loop (tests/hostile/test_kill9.py) checks
the same at random moments.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from agents.callbacks import CheckpointCallback
from agents.run import main
from common.errors import EXIT_INTERRUPTED, run_main

#: What differs between two runs of the same numbers: wall time, paths, the resume flag.
NOT_COMPARED = {
    "train_seconds",
    "env_steps_per_second",
    "config",
    "interrupted",
    "interrupted_by",
    "logdir",
    "checkpoint",
    "best_checkpoint",
}


def run_cli(argv: list[str], capsys) -> int:
    code = run_main(main, argv)
    capsys.readouterr()
    return code


def stop_after_chunk(monkeypatch, chunk: int) -> None:
    """Ask the run to stop during chunk ``chunk`` + 1, as Ctrl-C would."""
    original, seen = CheckpointCallback.on_chunk_end, [0]

    def on_chunk_end(self, run, batch):
        original(self, run, batch)
        seen[0] += 1
        if seen[0] == chunk:
            run.stop_requested = run.interrupted = True
            run.stop_signal = signal.SIGINT

    monkeypatch.setattr(CheckpointCallback, "on_chunk_end", on_chunk_end)


def checkpoint_contents(folder: Path) -> dict:
    """Every value of a run's latest checkpoint (TF variables and the state JSON, or the
    tabular npz) and of its replay file."""
    if (folder / "checkpoint.npz").is_file():
        with np.load(folder / "checkpoint.npz", allow_pickle=False) as data:
            return {k: data[k].tolist() for k in data.files}
    latest = tf.train.latest_checkpoint(str(folder))
    values = {}
    for name, _ in tf.train.list_variables(latest):
        if name.startswith(("save_counter", "_CHECKPOINTABLE")):  # how often it was saved
            continue
        value = tf.train.load_variable(latest, name)
        if name.startswith(("meta/", "state/")):
            value = json.loads(value.decode())
        values[name] = value.tolist() if isinstance(value, np.ndarray) else value
    for replay in folder.glob("replay*.npz"):
        with np.load(replay, allow_pickle=False) as data:
            values[replay.name] = {k: data[k].tolist() for k in data.files}
    return values


def scalars(logdir: Path) -> Counter:
    """(tag, step, value) of every scalar written, counted (steps per second left out)."""
    points: Counter = Counter()
    for path in sorted(logdir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "scalars":
                    continue
                if value.tag == "charts/steps_per_second":
                    continue
                number = float(tf.make_ndarray(value.tensor))
                points[(value.tag, event.step, number)] += 1
    return points


RUNS = {
    "dqn-lake-nstep": (
        ["frozenlake", "--q-net", "--episodes", "400", "--num-envs", "4", "--n-step", "3"],
        2,
    ),
    "dqn-cartpole": (["CartPole-v1", "--q-net", "--steps", "12000", "--num-envs", "4"], 1),
    "dqn-taxi-sync": (["Taxi-v4", "--q-net", "--steps", "6000", "--num-envs", "2"], 1),
    "dqn-pixels-cnn": (
        [
            "frozenlake-pixels",
            "--q-net",
            "--encoder",
            "cnn",
            "--episodes",
            "200",
            "--num-envs",
            "4",
        ],
        1,
    ),
    "tabular": (["frozenlake", "--episodes", "1000"], 4),
    "classic": (["frozenlake", "--q-net", "classic", "--episodes", "500"], 2),
}


@pytest.mark.parametrize("name", RUNS)
def test_an_interrupted_run_resumed_is_the_uninterrupted_run(name, tmp_path, capsys, monkeypatch):
    args, stop_at = RUNS[name]
    args = [*args, "--seed", "5", "--no-dashboard", "--eval-episodes", "20"]
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    assert run_cli([*args, "--logdir", str(ref)], capsys) == 0
    expected = json.loads((ref / "summary.json").read_text())

    with monkeypatch.context() as patch:
        stop_after_chunk(patch, stop_at)
        assert run_cli([*args, "--logdir", str(cut)], capsys) == EXIT_INTERRUPTED
    stopped = json.loads((cut / "summary.json").read_text())
    assert stopped["interrupted"] and stopped["episodes"] < expected["episodes"]
    assert run_cli([args[0], "--logdir", str(cut), "--resume", "--no-dashboard"], capsys) == 0
    resumed = json.loads((cut / "summary.json").read_text())

    for key in expected.keys() - NOT_COMPARED:
        assert resumed[key] == expected[key], key
    if args[0].startswith("frozenlake"):
        assert "training_success_fraction" in expected  # compared above: the whole run's
    assert checkpoint_contents(cut / "checkpoints") == checkpoint_contents(ref / "checkpoints")
    # TensorBoard: every point of the uninterrupted run, and beyond them only the interrupted
    # run's closing point (written at the step it stopped at)
    got, want = scalars(cut), scalars(ref)
    extra = got - want
    assert want - got == Counter()
    assert {step for _, step, _ in extra} <= {stopped["env_steps"]}
