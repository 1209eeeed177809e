"""benchmarks/networks.py runs end to end on tiny data and reports the overhead ratio."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from common.errors import run_main
from tests.networks.conftest import write_mnist_npz

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "networks.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_networks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_steady_seconds_skips_the_tracing_epoch():
    bench = _load()
    assert bench.steady_seconds([9.0, 1.0, 2.0, 3.0]) == 2.0
    assert bench.steady_seconds([4.0]) == 4.0


def test_benchmark_json_on_tiny_data(tmp_path, capsys):
    bench = _load()
    write_mnist_npz(tmp_path / "data" / "mnist")
    out = tmp_path / "bench.json"
    argv = [
        "--json",
        "--data-root",
        str(tmp_path / "data"),
        "--epochs",
        "2",
        "--plain-epochs",
        "1",
        "--out",
        str(out),
        "softmax",
        "autoencoder",
    ]
    assert run_main(bench.main, argv) == 0
    report = json.loads(
        capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"{c} in JSON")
    )
    r, ae = report["results"]
    # An autoencoder has no accuracy: its figures are the reconstruction's.
    assert ae["test_accuracy"] is None and ae["test_psnr"] > 0 and "PSNR" in ae["headline"]
    assert r["model"] == "softmax" and r["epochs"] == 2
    assert r["test_accuracy"] > 0.5  # separable patterns: chance is 0.1
    # The ratio is ours over plain from the same run's interleaved epochs (one pair here).
    for result in (r, ae):
        (ours,), (plain,) = result["paired_epoch_seconds"], result["plain_epoch_seconds"]
        assert (ours, plain) == (
            result["paired_seconds_per_epoch"],
            result["plain_fit_seconds_per_epoch"],
        )
        # Per-epoch times are rounded to ms, the ratio from unrounded ones.
        assert result["overhead_ratio"] == pytest.approx(ours / plain, rel=0.002 / plain + 1e-3)
    assert json.loads(out.read_text()) == report


def test_benchmark_rejects_unknown_models(capsys):
    assert run_main(_load().main, ["--json", "nope"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err


def test_ratio_only_skips_the_training_run(tmp_path, capsys):
    bench = _load()
    write_mnist_npz(tmp_path / "data" / "mnist")
    argv = ["--data-root", str(tmp_path / "data"), "--plain-epochs", "1", "--ratio-only", "softmax"]
    assert run_main(bench.main, argv) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("softmax: paired ") and "ratio" in line and "accuracy" not in line
