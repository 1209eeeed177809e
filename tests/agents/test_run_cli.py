"""The ``python -m agents.run`` command: outputs, config layering, resume, and bad input."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.run import main
from common.errors import run_main

REPO = Path(__file__).resolve().parents[2]


def cli(argv, capsys):
    try:
        code = run_main(main, argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def scalar_steps(logdir: Path, tag: str) -> list[int]:
    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    return [e.step for e in acc.Tensors(tag)] if tag in acc.Tags()["tensors"] else []


def test_run_writes_summary_logs_and_checkpoint(tmp_path, capsys):
    logdir, summary = tmp_path / "run", tmp_path / "summary.json"
    code, out, err = cli(
        [
            "frozenlake",
            "--episodes",
            "300",
            "--eval-episodes",
            "50",
            "--logdir",
            str(logdir),
            "--summary-json",
            str(summary),
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads(summary.read_text())
    for key in [
        "env",
        "agent",
        "seed",
        "episodes",
        "env_steps",
        "train_seconds",
        "env_steps_per_second",
        "eval_success_rate",
        "exact_success_rate",
        "optimal_success_rate",
        "optimality_ratio",
        "logdir",
        "checkpoint",
    ]:
        assert key in data
    assert data["episodes"] == 300 and data["env_steps"] > 300
    assert data["optimal_success_rate"] == pytest.approx(0.7442, abs=1e-4)
    assert data["optimality_ratio"] == pytest.approx(
        data["exact_success_rate"] / data["optimal_success_rate"]
    )
    assert Path(data["checkpoint"]).is_file()
    assert json.loads((logdir / "config.json").read_text())["episodes"] == 300
    assert "Summary" in out and "ratio to optimum" in out
    # Not a terminal: paths are printed whole, on one line each, whatever their length.
    assert f"checkpoint: {data['checkpoint']}\n" in out
    for tag in [
        "charts/success_rate",
        "charts/epsilon",
        "charts/learning_rate",
        "charts/steps_per_second",
        "charts/episodic_return",
        "charts/episodic_length",
        "eval/exact_success_rate",
        "losses/td_abs",
    ]:
        assert scalar_steps(logdir, tag), tag


def test_same_seed_same_numbers(tmp_path, capsys):
    results = []
    for name in ("a", "b"):
        cli(
            [
                "frozenlake",
                "--episodes",
                "200",
                "--eval-episodes",
                "20",
                "--logdir",
                str(tmp_path / name),
                "--no-dashboard",
            ],
            capsys,
        )
        with np.load(tmp_path / name / "checkpoints" / "checkpoint.npz") as ckpt:
            results.append(ckpt["q"])
    np.testing.assert_array_equal(*results)


def test_config_file_and_flag_precedence(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(
        'episodes = 120\nmap = "SFFF,FHFH,FFFH,HFFG"\neval-episodes = 10\nslippery = false\n'
    )
    code, _, err = cli(
        [
            "frozenlake",
            "--config",
            str(config),
            "--episodes",
            "80",
            "--logdir",
            str(tmp_path / "r"),
            "--summary-json",
            str(tmp_path / "s.json"),
            "--no-dashboard",
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads((tmp_path / "s.json").read_text())
    assert (
        data["episodes"] == 80
        and data["slippery"] is False
        and data["config"]["eval_episodes"] == 10
    )


def test_resume_continues_steps_and_curves(tmp_path, capsys):
    logdir = tmp_path / "run"
    common = ["--eval-episodes", "0", "--no-dashboard", "--summary-json", str(tmp_path / "s.json")]
    assert (
        cli(["frozenlake", "--episodes", "200", "--logdir", str(logdir), *common], capsys)[0] == 0
    )
    first = json.loads((tmp_path / "s.json").read_text())
    code, _, err = cli(
        ["frozenlake", "--episodes", "400", "--logdir", str(logdir), "--resume", *common], capsys
    )
    assert code == 0, err
    second = json.loads((tmp_path / "s.json").read_text())
    assert second["episodes"] == 400 and second["env_steps"] > first["env_steps"]
    steps = scalar_steps(logdir, "charts/success_rate")
    assert max(steps) == second["env_steps"] and min(steps) <= first["env_steps"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["CartPol-v1"], "unknown environment 'CartPol-v1' (closest: CartPole-v1"),
        (["frozenlake", "--map", "SFX,FFG"], "unknown tile"),
        (["frozenlake", "--map", "SFF,FH"], "not rectangular"),
        (["frozenlake", "--episodes", "0"], "--episodes must be positive"),
        (["frozenlake", "--gamma", "1.5"], "--gamma must be in (0, 1]"),
        (["frozenlake", "--gamma", "0"], "--gamma must be in (0, 1]"),
        (["frozenlake", "--lr", "0"], "--lr must be positive"),
        (["frozenlake", "--lr", "1.5"], "--lr must be in (0, 1]"),
        (["frozenlake", "--episodes", "ten"], "--episodes 'ten' is not an int"),
        (["frozenlake", "--q-net", "resnet"], "invalid choice: 'resnet'"),
        (["frozenlake", "--data-dir", "mnist"], "--data-dir is for frozenlake-digits"),
        (
            ["frozenlake-digits", "--q-net", "--data-dir", "nowhere"],
            "--data-dir nowhere does not exist",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("DLTF_MNIST_DIR", "DLTF_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DLTF_OFFLINE", "1")
    monkeypatch.setenv("DLTF_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = cli(argv, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and err.startswith("error:")
    assert not (tmp_path / "runs").exists()


def test_unknown_config_key_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no --logdir: a run that got this far would write ./runs
    config = tmp_path / "bad.toml"
    config.write_text("episodez = 10\n")
    code, _, err = cli(["frozenlake", "--config", str(config)], capsys)
    assert code == 2 and "unknown key 'episodez'" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_bad_checkpoints_are_refused_and_kept(tmp_path, capsys):
    logdir = tmp_path / "run"
    assert (
        cli(
            [
                "frozenlake",
                "--episodes",
                "50",
                "--eval-episodes",
                "0",
                "--logdir",
                str(logdir),
                "--no-dashboard",
            ],
            capsys,
        )[0]
        == 0
    )
    ckpt = logdir / "checkpoints" / "checkpoint.npz"
    original = ckpt.read_bytes()

    code, _, err = cli(["frozenlake", "--map", "8x8", "--logdir", str(logdir), "--resume"], capsys)
    assert code == 2 and "another environment" in err and len(err.strip().splitlines()) == 1

    code, _, err = cli(["frozenlake", "--logdir", str(logdir)], capsys)  # a new run over an old one
    assert code == 2 and "--resume" in err
    assert ckpt.read_bytes() == original

    ckpt.write_bytes(original[:100])
    code, _, err = cli(["frozenlake", "--logdir", str(logdir), "--resume"], capsys)
    assert code == 2 and "corrupt" in err and len(err.strip().splitlines()) == 1

    code, _, err = cli(["frozenlake", "--logdir", str(tmp_path / "nothing"), "--resume"], capsys)
    assert code == 2 and "no config.json" in err


def read_line(stream, timeout: float) -> str:
    """One line from a subprocess pipe, or a test failure after ``timeout`` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        pytest.fail(f"no line from the subprocess within {timeout} s")


def test_ctrl_c_saves_and_says_how_to_resume(tmp_path):
    logdir = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agents.run",
            "frozenlake",
            "--episodes",
            "100000000",
            "--logdir",
            str(logdir),
            "--eval-episodes",
            "10",
            "--checkpoint-every",
            "0",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        # Wait until training has started (the plain dashboard's first line), then interrupt.
        first_line = read_line(proc.stdout, timeout=120)
        assert "training" in first_line, first_line
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # a failed assertion or a timeout: never leave it running
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Resume with: python -m agents.run frozenlake" in out and "--resume" in out
    with np.load(logdir / "checkpoints" / "checkpoint.npz") as ckpt:
        assert int(ckpt["episodes"]) > 0
    assert any(p.name.startswith("events.out.tfevents") for p in logdir.iterdir())


def test_q_net_run_learns_and_logs_losses_q_values_histograms_and_graph(tmp_path, capsys):
    # The deterministic lake in seconds: short exploration, a constant rate, frequent updates.
    logdir = tmp_path / "run"
    flags = {
        "--episodes": "600",
        "--eval-episodes": "20",
        "--seed": "1",
        "--num-envs": "4",
        "--batch-size": "16",
        "--learning-starts": "16",
        "--buffer-size": "2000",
        "--hidden": "16",
        "--epsilon-decay": "3000",
        "--lr-decay": "0",
        "--lr-end": "1e-3",
        "--train-every": "4",
        "--logdir": str(logdir),
        "--summary-json": str(tmp_path / "s.json"),
    }
    argv = ["frozenlake", "--q-net", "--no-slippery", "--no-dashboard"]
    code, out, err = cli(argv + [x for kv in flags.items() for x in kv], capsys)
    assert code == 0, err
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["agent"] == "dqn" and data["episodes"] >= 600
    assert data["exact_success_rate"] == 1.0 and data["optimality_ratio"] == 1.0  # it learned
    for tag in ["losses/td_loss", "charts/q_mean", "charts/q_max", "eval/exact_success_rate"]:
        assert scalar_steps(logdir, tag), tag
    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    assert "losses/td_errors" in tags["tensors"]
    assert any(t.startswith("weights/") for t in tags["tensors"])
    assert tags["graph"]
    assert list((logdir / "checkpoints").glob("ckpt-*.index"))


def test_classic_q_net_run_and_resume(tmp_path, capsys):
    logdir = tmp_path / "run"
    common = [
        "--q-net",
        "classic",
        "--eval-episodes",
        "0",
        "--no-dashboard",
        "--logdir",
        str(logdir),
        "--summary-json",
        str(tmp_path / "s.json"),
    ]
    assert cli(["frozenlake", "--episodes", "200", *common], capsys)[0] == 0
    first = json.loads((tmp_path / "s.json").read_text())
    code, _, err = cli(["frozenlake", "--episodes", "300", "--resume", *common], capsys)
    assert code == 0, err
    second = json.loads((tmp_path / "s.json").read_text())
    assert (
        second["agent"] == "classic"
        and second["episodes"] == 300
        and second["env_steps"] > first["env_steps"]
    )
    code, _, err = cli(["frozenlake", "--q-net", "--logdir", str(logdir), "--resume"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--batch-size", "0", "--batch-size must be positive"),
        ("--buffer-size", "-5", "--buffer-size must be positive"),
        ("--tau", "0", "--tau must be in (0, 1]"),
        ("--tau", "1.5", "--tau must be in (0, 1]"),
        ("--hidden", "64,x", "--hidden must be layer sizes"),
        ("--hidden", "0", "--hidden must be layer sizes"),
        ("--num-envs", "0", "--num-envs must be positive"),
        ("--train-every", "0", "--train-every must be positive"),
        ("--epsilon-end", "2", "--epsilon-end must be in [0, 1]"),
        ("--learning-starts", "-1", "--learning-starts must be zero or more"),
        ("--n-step", "0", "--n-step must be positive"),
        ("--loss", "l1", "invalid choice: 'l1'"),
        ("--device", "tpu:9", "tpu"),
    ],
)
def test_q_net_flags_out_of_range(flag, value, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(["frozenlake", "--q-net", flag, value], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_digits_read_mnist_from_data_dir(tmp_path, capsys, monkeypatch):
    from tests.networks.conftest import write_mnist_npz

    monkeypatch.setenv("DLTF_OFFLINE", "1")
    write_mnist_npz(tmp_path / "mnist", n_train=100, n_test=40)
    summary = tmp_path / "summary.json"
    code, _, err = cli(
        [
            "frozenlake-digits",
            "--q-net",
            "--episodes",
            "20",
            "--eval-episodes",
            "5",
            "--data-dir",
            str(tmp_path / "mnist"),
            "--logdir",
            str(tmp_path / "run"),
            "--summary-json",
            str(summary),
            "--no-dashboard",
        ],
        capsys,
    )
    assert code == 0, err
    data = json.loads(summary.read_text())
    assert data["env"] == "frozenlake-digits" and data["episodes"] >= 20
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data_dir"] == str(
        tmp_path / "mnist"
    )
