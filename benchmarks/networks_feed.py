"""The ordered feed of ``networks.train`` (:mod:`networks.feed`: epoch e's order drawn from
(seed, e), so a resume is exact) against Keras' own shuffled array feed: samples per second.

    python benchmarks/networks_feed.py --json softmax mnist-cnn
    python benchmarks/networks_feed.py --max-examples 10000 --rounds 8 mnist-cnn

One warmed-up model per side, one-epoch fits interleaved (Keras then ordered, ordered then
Keras, ...) so that a shared machine's load changes fall on both; ratio = ordered / Keras
samples/s from the median epochs (target >= 0.95: the exact resume costs no speed).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the
# ``networks`` package; put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import json  # noqa: E402
import statistics  # noqa: E402
from typing import Any  # noqa: E402

import keras  # noqa: E402

from common.errors import OneLineArgumentParser, run_main  # noqa: E402
from networks.catalog import get_model_spec  # noqa: E402
from networks.datasets import load_dataset  # noqa: E402
from networks.feed import ordered_fit  # noqa: E402
from networks.models import BuildArgs, FitContext  # noqa: E402
from networks.progress import EpochTimer  # noqa: E402
from networks.runs import take_slice  # noqa: E402


def compare(name: str, data_root: str, max_examples: int, rounds: int) -> dict[str, Any]:
    spec = get_model_spec(name)
    data = take_slice(load_dataset(spec.dataset, str(Path(data_root) / spec.dataset)), max_examples)
    keras.utils.set_random_seed(0)
    prep = spec.prepare(data)
    n = len(prep.x_train)
    shape = tuple(prep.x_train.shape[1:])
    args = BuildArgs(shape, data.num_classes, prep.x_train, data.class_names)
    models = {side: spec.make(args, spec.lr, 1000) for side in ("keras", "ordered")}
    common = dict(validation_data=(prep.x_val, prep.y_val), verbose=0)
    context = FitContext(prep, None, 0)

    def fit(side: str, epoch: int, timer: EpochTimer) -> None:
        epochs = dict(epochs=epoch + 1, initial_epoch=epoch, callbacks=[timer], **common)
        if side == "keras":
            models[side].fit(
                prep.x_train, prep.y_train, batch_size=spec.batch_size, shuffle=True, **epochs
            )
        else:
            ordered_fit(
                models[side], context, x=prep.x_train, y=prep.y_train,
                batch_size=spec.batch_size, **epochs,
            )  # fmt: skip

    timers = {side: EpochTimer() for side in models}
    for side in models:
        fit(side, 0, EpochTimer())  # warm-up: tracing
    for r in range(rounds):
        for side in ("keras", "ordered") if r % 2 == 0 else ("ordered", "keras"):
            fit(side, r + 1, timers[side])
    rate = {side: n / statistics.median(t.seconds) for side, t in timers.items()}
    return {
        "model": name,
        "examples": n,
        "batch": spec.batch_size,
        "keras_shuffle_samples_per_s": round(rate["keras"]),
        "ordered_samples_per_s": round(rate["ordered"]),
        "ratio_ordered_over_keras": round(rate["ordered"] / rate["keras"], 3),
        "keras_epoch_s": [round(x, 3) for x in timers["keras"].seconds],
        "ordered_epoch_s": [round(x, 3) for x in timers["ordered"].seconds],
    }


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(
        prog="python benchmarks/networks_feed.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("models", nargs="+", help="model names (python -m networks.train --list)")
    parser.add_argument("--data-root", default="../shared/data", help="folder of <dataset>/")
    parser.add_argument("--max-examples", type=int, default=10_000, help="a slice of the data")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved epochs per side")
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    args = parser.parse_args(argv)
    results = [compare(m, args.data_root, args.max_examples, args.rounds) for m in args.models]
    if args.json:
        print(json.dumps({"results": results}, indent=1))
    else:
        for r in results:
            print(
                f"{r['model']}: Keras {r['keras_shuffle_samples_per_s']:,} samples/s, ordered "
                f"{r['ordered_samples_per_s']:,}: ratio {r['ratio_ordered_over_keras']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
