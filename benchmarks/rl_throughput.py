"""Training throughput against baselines measured in the same process.

    python benchmarks/rl_throughput.py --json

Alternates the measurements (at least 5 repeats each) so machine noise hits all of them alike,
and reports medians and their ratios:
- raw_env_steps_per_second: ``gymnasium.make("FrozenLake-v1")`` stepped with pre-generated actions;
- tabular_steps_per_second: the tabular agent training (acting, env step, update) on 4x4 slippery.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402
from agents.tabular import TabularConfig, TabularQAgent  # noqa: E402


def raw_env_rate(steps: int) -> float:
    env = gymnasium.make("FrozenLake-v1")
    actions = np.random.default_rng(0).integers(0, 4, size=steps).tolist()
    env.reset(seed=0)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def tabular_rate(steps: int) -> float:
    agent = TabularQAgent(envs.make("frozenlake"), TabularConfig(), seed=0)
    start = time.perf_counter()
    while agent.env_steps < steps:
        agent.train_chunk(100)
    return agent.env_steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200_000, help="env steps per measurement")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"raw": [], "tabular": []}
    for _ in range(max(5, args.repeats)):
        rates["raw"].append(raw_env_rate(args.steps))
        rates["tabular"].append(tabular_rate(args.steps))
    med = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "raw_env_steps_per_second": round(med["raw"]),
        "tabular_steps_per_second": round(med["tabular"]),
        "tabular_vs_raw": round(med["tabular"] / med["raw"], 3),
        "repeats": max(5, args.repeats),
        "steps_per_measurement": args.steps,
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
