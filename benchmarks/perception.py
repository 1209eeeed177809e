"""Learning curves through different eyes: env steps until the DQN's greedy policy reaches
0.95 x optimum on 4x4 slippery.

    python -m networks.train lake-autoencoder --save lake-ae.keras
    python -m networks.train mnist-cnn --data-dir ../shared/data/mnist --save mnist-cnn.keras
    python benchmarks/perception.py --json --autoencoder lake-ae.encoder.keras \\
        --mnist-cnn mnist-cnn.keras [--mnist-dir ../shared/data/mnist] [--seeds 0,1,2]

(a) frozenlake-pixels seen through the frozen pretrained autoencoder encoder, (b) the same
images through an end-to-end CNN Q-network, (c) one-hot states (the upper bound), the
flattened pixels (centred) as a reference, and (d) frozenlake-digits read through the frozen
MNIST classifier. Encoders come from
``python -m networks.train`` (``--save``); a variant whose encoder is not given is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where perception.py and networks.py would
# shadow the packages: the repository goes first, this folder last (for sibling scripts).
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import envs  # noqa: E402
from envs.planner import plan  # noqa: E402
from networks.datasets import mnist_digits  # noqa: E402


def run_variant(
    name: str,
    env_name: str,
    encoder: str | None,
    seed: int,
    threshold: float,
    check_every: int,
    max_episodes: int,
    env_options: dict,
) -> dict:
    from time_to_solve import train_until

    from agents.dqn import DQNAgent, DQNConfig

    cfg = DQNConfig(epsilon_decay=20_000, lr_decay=60_000)  # the 4x4 recipe's decays
    env = envs.make(env_name, **env_options)
    venv = envs.make_vector(env_name, cfg.num_envs, **env_options)
    agent = DQNAgent(venv, cfg, seed, encoder=encoder)
    target = threshold * plan(env).success_probability
    return {
        "variant": name,
        "seed": seed,
        **train_until(agent, env, target, check_every, max_episodes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument(
        "--autoencoder", help="encoder .keras saved by networks.train (autoencoder kinds)"
    )
    parser.add_argument("--mnist-cnn", help="classifier .keras saved by networks.train mnist-cnn")
    parser.add_argument(
        "--mnist-dir", default=None, help="folder with mnist.npz for the digits env"
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threshold", type=float, default=0.95)
    parser.add_argument("--check-every", type=int, default=2_000)
    parser.add_argument("--max-episodes", type=int, default=6_000)
    args = parser.parse_args()

    from perception.devices import import_tensorflow

    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(1)  # as agents.run does
    tf.config.threading.set_inter_op_parallelism_threads(1)

    variants = [
        ("onehot", "frozenlake", None, {}),
        ("pixels_flat", "frozenlake-pixels", None, {}),
        ("pixels_cnn", "frozenlake-pixels", "cnn", {}),
    ]
    if args.autoencoder:
        variants.insert(
            0, ("pixels_autoencoder", "frozenlake-pixels", f"autoencoder:{args.autoencoder}", {})
        )
    if args.mnist_cnn:
        variants.append(
            (
                "digits_mnist_cnn",
                "frozenlake-digits",
                f"mnist-cnn:{args.mnist_cnn}",
                {"digits": mnist_digits("test", args.mnist_dir)},
            )
        )
    runs = []
    for name, env_name, encoder, options in variants:
        for seed in (int(s) for s in args.seeds.split(",")):
            runs.append(
                run_variant(
                    name,
                    env_name,
                    encoder,
                    seed,
                    args.threshold,
                    args.check_every,
                    args.max_episodes,
                    options,
                )
            )
            if not args.json:
                print(json.dumps(runs[-1]), flush=True)
    result: dict = {"threshold": args.threshold, "map": "4x4", "slippery": True, "runs": runs}
    for name, *_ in variants:
        mine = [r for r in runs if r["variant"] == name]
        steps = sorted(r["env_steps"] if r["solved"] else float("inf") for r in mine)
        median = statistics.median(steps)
        result[f"{name}_median_env_steps"] = None if median == float("inf") else median
        result[f"{name}_solved"] = f"{sum(r['solved'] for r in mine)}/{len(mine)}"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
