"""Benchmark ``networks.train`` on the real data: accuracy, seconds per epoch, and the overhead
against a plain ``model.fit`` of the same model and data in the same run.

    python benchmarks/networks.py --json softmax mnist-cnn
    python benchmarks/networks.py --data-root ../shared/data --plain-epochs 3 --all

``seconds_per_epoch`` is the median epoch of the real training run after the first (which pays
for tracing). The overhead ratio comes from interleaved one-epoch fits of one warmed-up model,
with ``networks.train``'s callbacks and with none: ratio = median ours / median plain (target
<= 1.05). Interleaving keeps a shared machine's load changes out of the ratio.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# ``networks`` package; put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402

from common.atomic import atomic_write_text  # noqa: E402
from common.errors import OneLineArgumentParser, UsageError, run_main  # noqa: E402
from networks.catalog import MODELS, get_model_spec  # noqa: E402
from networks.datasets import Dataset, load_dataset  # noqa: E402
from networks.models import BuildArgs  # noqa: E402
from networks.progress import EpochTimer  # noqa: E402
from networks.train import RunCallbacks, TrainConfig, train  # noqa: E402


def steady_seconds(epoch_seconds: list[float]) -> float:
    """Median epoch time after the first (tracing) epoch; the only epoch if there is one."""
    steady = epoch_seconds[1:] or epoch_seconds
    return float(statistics.median(steady))


def paired_epoch_seconds(
    name: str, data: Dataset, rounds: int, seed: int, workdir: Path
) -> tuple[list[float], list[float]]:
    """Epoch times of ``networks.train``'s callbacks vs a bare ``model.fit``, interleaved.

    One model, traced once by a warm-up epoch, then ``rounds`` pairs of one-epoch fits
    (ours then plain, plain then ours, ...), so both sides see the same machine load; on a
    shared machine that matters more than anything else in the ratio.
    """
    spec = get_model_spec(name)
    keras.utils.set_random_seed(seed)
    prep = spec.prepare(data)
    steps = -(-len(prep.x_train) // spec.batch_size) * spec.epochs
    build_args = BuildArgs(
        tuple(prep.x_train.shape[1:]), data.num_classes, prep.x_train, data.class_names
    )
    model = spec.make(build_args, spec.lr, steps)
    kwargs = dict(
        x=prep.x_train,
        y=prep.y_train,
        batch_size=spec.batch_size,
        epochs=1,
        validation_data=(prep.x_val, prep.y_val),
        verbose=0,
    )
    model.fit(**kwargs)  # warm-up: tracing
    ours_cbs = RunCallbacks.make(workdir / f"{name}-paired", True, sys.stderr)
    plain_timer = EpochTimer()
    for r in range(rounds):
        order = ("ours", "plain") if r % 2 == 0 else ("plain", "ours")
        for side in order:
            cbs = ours_cbs.all() if side == "ours" else [plain_timer]
            model.fit(**kwargs, callbacks=cbs)
    ours_cbs.tb.close()
    return ours_cbs.timer.seconds, plain_timer.seconds


def bench_model(
    name: str,
    data: Dataset,
    workdir: Path,
    rounds: int,
    seed: int,
    epochs: int | None,
    ratio_only: bool = False,
) -> dict[str, Any]:
    spec = get_model_spec(name)
    if ratio_only:
        ours_secs, plain_secs = paired_epoch_seconds(name, data, rounds, seed, workdir)
        ours, plain = statistics.median(ours_secs), statistics.median(plain_secs)
        return {
            "model": name,
            "dataset": spec.dataset,
            "paired_seconds_per_epoch": round(ours, 3),
            "plain_fit_seconds_per_epoch": round(plain, 3),
            "overhead_ratio": round(ours / plain, 4),
            "paired_epoch_seconds": [round(x, 3) for x in ours_secs],
            "plain_epoch_seconds": [round(x, 3) for x in plain_secs],
        }
    summary = train(
        TrainConfig(
            model=name, seed=seed, epochs=epochs, logdir=str(workdir / name), progress=True
        ),
        data=data,
        stream=sys.stderr,  # the progress display must not mix into the JSON on stdout
    )
    headline = summary.get("headline") or f"test accuracy {summary['test_accuracy']:.2%}"
    print(
        f"{name}: {headline} after {summary['epochs']} epochs; now timing the overhead",
        file=sys.stderr,
        flush=True,
    )
    ours_secs, plain_secs = paired_epoch_seconds(name, data, rounds, seed, workdir)
    ours, plain = statistics.median(ours_secs), statistics.median(plain_secs)
    return {
        "model": name,
        "dataset": spec.dataset,
        "epochs": summary["epochs"],
        "headline": headline,
        # Autoencoders and language models have no accuracy: their figures are these.
        **{k: summary[k] for k in HEADLINE_FIGURES if k in summary},
        "test_accuracy": summary["test_accuracy"]
        if math.isfinite(summary["test_accuracy"])
        else None,
        "test_loss": summary["test_loss"],
        "train_seconds": summary["train_seconds"],
        "seconds_per_epoch": round(steady_seconds(summary["epoch_seconds"]), 3),
        "paired_seconds_per_epoch": round(ours, 3),
        "plain_fit_seconds_per_epoch": round(plain, 3),
        "overhead_ratio": round(ours / plain, 4),
        "epoch_seconds": summary["epoch_seconds"],
        "paired_epoch_seconds": [round(x, 3) for x in ours_secs],
        "plain_epoch_seconds": [round(x, 3) for x in plain_secs],
        "params": summary["params"],
    }


HEADLINE_FIGURES = (
    "test_mse",
    "test_psnr",
    "input_psnr",
    "psnr_gain",
    "valid_perplexity",
    "test_perplexity",
)


def describe(r: dict[str, Any]) -> str:
    """One human line per model."""
    acc = f"{r['headline']}, {r['seconds_per_epoch']:.2f}s/epoch; " if "headline" in r else ""
    return (
        f"{r['model']}: {acc}paired {r['paired_seconds_per_epoch']:.2f}s vs plain fit "
        f"{r['plain_fit_seconds_per_epoch']:.2f}s per epoch (ratio {r['overhead_ratio']:.3f})"
    )


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog="python benchmarks/networks.py", description=__doc__.split("\n")[0]
    )
    p.add_argument("models", nargs="*", help="model names (default with --all: every model)")
    p.add_argument("--all", action="store_true", help="benchmark every registered model")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--out", help="also write the JSON results to this file")
    p.add_argument(
        "--data-root",
        default=str(_HERE.parent.parent / "shared" / "data"),
        help="folder with <dataset>/ subfolders (default ../shared/data)",
    )
    p.add_argument(
        "--plain-epochs",
        type=int,
        default=3,
        help="interleaved epoch pairs (ours, plain model.fit) for the overhead ratio",
    )
    p.add_argument("--epochs", type=int, help="override every model's default epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--ratio-only",
        action="store_true",
        help="skip the full training run; time only the interleaved epochs",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = list(MODELS) if args.all else args.models
    if not names:
        raise UsageError("name at least one model, or --all")
    for name in names:
        get_model_spec(name)
    if args.plain_epochs <= 0:
        raise UsageError(f"--plain-epochs must be positive, got {args.plain_epochs}")
    loaded: dict[str, Dataset] = {}
    results = []
    with tempfile.TemporaryDirectory(prefix="dltf-bench-") as tmp:
        for name in names:
            dataset = get_model_spec(name).dataset
            if dataset not in loaded:
                loaded[dataset] = load_dataset(dataset, Path(args.data_root) / dataset)
            res = bench_model(
                name,
                loaded[dataset],
                Path(tmp),
                args.plain_epochs,
                args.seed,
                args.epochs,
                args.ratio_only,
            )
            results.append(res)
            print(describe(res), file=sys.stderr, flush=True)
    report = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "results": results}
    text = json.dumps(report, indent=2)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    if args.json:
        print(text)
    else:
        for r in results:
            print(describe(r))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
