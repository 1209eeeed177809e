"""The RL benchmark scripts run as a user runs them (``python benchmarks/X.py --json``), shrunk to
seconds, and print the JSON they promise. Run as scripts, their folder comes first on sys.path,
where ``benchmarks/perception.py`` could shadow the ``perception`` package: these catch that."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str, cwd: Path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / name), "--json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_rl_throughput_measures_every_agent_against_its_baselines(tmp_path):
    result = run_script(
        "rl_throughput.py", "--steps", "2000", "--tf-steps", "1500", "--naive-steps", "40",
        cwd=tmp_path,
    )  # fmt: skip
    for key in ("raw_env", "tabular", "dqn", "classic", "naive_tf"):
        assert result[f"{key}_steps_per_second"] > 0, key
    assert result["dqn_vs_naive"] > 1 and result["classic_vs_naive"] > 1  # the point of them
    # Each ratio is the same run's rates divided (medians of interleaved repeats), not a constant.
    rate = {k: result[f"{k}_steps_per_second"] for k in ("raw_env", "tabular", "dqn", "classic")}
    naive = result["naive_tf_steps_per_second"]
    assert result["tabular_vs_raw"] == pytest.approx(rate["tabular"] / rate["raw_env"], rel=0.02)
    assert result["dqn_vs_naive"] == pytest.approx(rate["dqn"] / naive, rel=0.02)
    assert result["classic_vs_naive"] == pytest.approx(rate["classic"] / naive, rel=0.02)
    assert result["repeats"] == 5


def test_time_to_solve_reports_steps_to_the_threshold(tmp_path):
    result = run_script(
        "time_to_solve.py", "--agents", "tabular", "--seeds", "0", "--threshold", "0.9",
        cwd=tmp_path,
    )  # fmt: skip
    (run,) = result["runs"]
    assert run["agent"] == "tabular" and run["seed"] == 0
    assert run["solved"] and 0 < run["env_steps"] <= 216_894  # within the default run's steps


def test_perception_benchmark_runs_every_featurizer(tmp_path):
    result = run_script(
        "perception.py", "--seeds", "0", "--max-episodes", "40", "--check-every", "500",
        cwd=tmp_path,
    )  # fmt: skip
    assert [r["variant"] for r in result["runs"]] == ["onehot", "pixels_flat", "pixels_cnn"]
    for name in ("onehot", "pixels_flat", "pixels_cnn"):
        assert result[f"{name}_solved"] in ("0/1", "1/1")


def test_gym_envs_benchmark_reports_time_and_steps_to_threshold(tmp_path):
    result = run_script(
        "gym_envs.py", "--runs", "CliffWalking-v1:tabular", "--seeds", "0,1", "--steps", "20000",
        "--check-every", "2000", "--throughput-steps", "5000", cwd=tmp_path,
    )  # fmt: skip
    runs = result["runs"]
    assert [(r["env"], r["agent"], r["seed"]) for r in runs] == [
        ("CliffWalking-v1", "tabular", 0),
        ("CliffWalking-v1", "tabular", 1),
    ]
    for r in runs:
        assert r["threshold"] == pytest.approx(-13.0)  # the optimum: 13 steps along the cliff
        assert r["steps_per_second"] > 0 and r["env_steps"] >= 20_000
        if r["steps_to_threshold"] is not None:
            assert 0 < r["steps_to_threshold"] <= r["env_steps"]
            assert 0 < r["seconds_to_threshold"] <= r["train_seconds"]
    medians = result["medians"]["CliffWalking-v1:tabular"]
    assert medians["steps_per_second"] == pytest.approx(
        sorted(r["steps_per_second"] for r in runs)[0] / 2
        + sorted(r["steps_per_second"] for r in runs)[1] / 2
    )
    assert medians["reached"] in ("0/2", "1/2", "2/2")
    assert medians["train_steps_per_second"] > 0
