"""kill -9 at random moments, then --resume, until the run finishes: nothing lost, no temp
files left, no traceback; the run ends with the numbers of an uninterrupted one (tabular and
DQN: episodes in flight, replay and random streams come back from the last checkpoint)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hostile.helpers import ROOT

# seconds after the start: from TensorFlow's import to well into training
LOW, HIGH = float(os.environ.get("KILL9_LOW", "1.0")), float(os.environ.get("KILL9_HIGH", "14"))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT), "DLTF_OFFLINE": "1"}


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "agents.run", "frozenlake", *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_loop(
    args: list[str],
    logdir: Path,
    cwd: Path,
    kills: int,
    seed: int,
    high: float = HIGH,
    low: float | None = None,
) -> tuple[list[str], int, int]:
    """Start, kill -9 after a random moment (at most ``high`` seconds), resume; repeat, then let
    the last one finish. Returns every process's stderr, how often a killed run could not be
    resumed, and how often one was resumed from a checkpoint."""
    rng = random.Random(seed)
    errors, dead_ends, from_checkpoint = [], 0, 0
    first = True
    for attempt in range(2 * kills + 2):
        resume = [] if first else ["--resume"]
        if resume and any((logdir / "checkpoints").glob("*")):
            from_checkpoint += 1
        proc = start([*args, "--logdir", str(logdir), *resume], cwd)
        if attempt < kills:
            time.sleep(rng.uniform(low if low is not None else min(LOW, high / 2), high))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
        errors.append(err)
        if proc.returncode == 0:
            return errors, dead_ends, from_checkpoint
        assert proc.returncode in (-signal.SIGKILL, 2), err[-3000:]
        if proc.returncode == 2:
            assert len(err.strip().splitlines()) == 1, err
            assert "no checkpoint" in err, err
            # killed after config.json, before the first checkpoint: the folder can neither be
            # resumed nor started anew; a user deletes it and starts again
            dead_ends += 1
            shutil.rmtree(logdir)
        first = not (logdir / "config.json").is_file()
    raise AssertionError(f"the run did not finish: {errors[-1][-3000:]}")


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith("_temp")]


@pytest.mark.parametrize(
    "agent_args, episodes",
    [
        (["--checkpoint-every", "3000"], 60000),
        (["--q-net", "--checkpoint-every", "100", "--num-envs", "8", "--n-step", "3"], 600),
    ],
    ids=["tabular", "dqn"],
)
def test_kill_9_then_resume_loses_nothing(tmp_path, agent_args, episodes):
    args = ["--episodes", str(episodes), "--seed", "3", "--no-dashboard", *agent_args]
    ref = tmp_path / "ref"
    started = time.monotonic()
    proc = start([*args, "--logdir", str(ref)], tmp_path)
    assert proc.wait(timeout=600) == 0
    took = time.monotonic() - started  # kills fall within a run's length, so most land mid-run
    expected = json.loads((ref / "summary.json").read_text())

    killed = tmp_path / "killed"
    errors, dead_ends, from_checkpoint = kill_loop(
        args, killed, tmp_path, kills=3, seed=episodes, low=0.4 * took, high=0.95 * took
    )
    assert not any("Traceback" in e for e in errors), errors
    summary = json.loads((killed / "summary.json").read_text())
    assert leftovers(killed) == []
    for key in (
        "episodes",
        "env_steps",
        "exact_success_rate",
        "final_exact_return",
        "best_env_steps",
        "training_success_fraction",
    ):
        assert summary[key] == expected[key], key
    assert dead_ends == 0  # a run killed before its first checkpoint restarts on --resume
    print(f"{len(errors) - 1} kills, {from_checkpoint} resumes from a checkpoint ({took:.1f} s)")
    assert from_checkpoint >= 1


def test_kill_9_networks_train_then_resume(tmp_path):
    """networks.train: killed anywhere (importing, loading, mid-epoch, saving), resumed with
    --resume, it finishes all its epochs; no temp files, no lock left behind."""
    from tests.networks.conftest import write_mnist_npz

    mnist = write_mnist_npz(tmp_path / "mnist", n_train=2000, n_test=100).parent
    logdir = tmp_path / "run"
    base = [sys.executable, "-m", "networks.train", "softmax", "--epochs", "6", "--batch-size", "8"]
    base += ["--data-dir", str(mnist), "--logdir", str(logdir), "--no-dashboard"]
    rng = random.Random(6)
    kills, high = 0, HIGH
    for attempt in range(6):
        resume = ["--resume"] if (logdir / "config.json").is_file() else []
        started = time.monotonic()
        proc = subprocess.Popen(
            base + resume, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if attempt < 5:
            time.sleep(rng.uniform(min(LOW, high / 2), high))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=600)
        assert "Traceback" not in err, err[-3000:]
        if proc.returncode == 0 and kills == 0 and attempt < 5:
            # Finished before the first kill (a fast machine): start over, killing sooner.
            high = 0.8 * (time.monotonic() - started)
            shutil.rmtree(logdir)
            continue
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err[-3000:]
        kills += 1
        if (logdir / "summary.json").is_file():  # killed after its last write: finished
            break
    else:
        raise AssertionError(err[-3000:])
    summary = json.loads((logdir / "summary.json").read_text())
    print(f"killed {kills} times; the last run resumed after epoch {summary['resumed_after']}")
    assert kills >= 1
    assert summary["epochs"] == 6 and len(summary["history"]["loss"]) == 6
    assert leftovers(logdir) == [] and not (logdir / ".run.lock").exists()
