"""Training throughput against baselines measured in the same process.

    python benchmarks/rl_throughput.py --json

Alternates the measurements (at least 5 repeats each) so machine noise hits all of them alike,
and reports medians and their ratios:
- raw_env_steps_per_second: ``gymnasium.make("FrozenLake-v1")`` stepped with pre-generated actions;
- tabular_steps_per_second: the tabular agent training (acting, env step, update) on 4x4 slippery;
- dqn_steps_per_second: the default DQN training, updates included, past its learning start;
- classic_steps_per_second: the classic one-layer Q-network, one update per env step;
- naive_tf_steps_per_second: the classic network ported naively, a ``tf.function`` call to act
  and one to update at every env step (the baseline of the Q-network agents).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where perception.py and networks.py would
# shadow the packages: the repository goes first, this folder last (for sibling scripts).
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402
from agents.config import ClassicConfig, DQNConfig, TabularConfig  # noqa: E402
from agents.tabular import TabularQAgent  # noqa: E402


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
    agent.set_budget(10_000, None)  # the 4x4 recipe's run: its decays
    start = time.perf_counter()
    while agent.env_steps < steps:
        agent.train_chunk(100)
    return agent.env_steps / (time.perf_counter() - start)


def chunk_rate(agent, steps: int) -> float:
    """Env steps per second of ``agent.train_chunk`` over about ``steps`` more steps."""
    start_steps, start = agent.env_steps, time.perf_counter()
    while agent.env_steps - start_steps < steps:
        agent.train_chunk(100)
    return (agent.env_steps - start_steps) / (time.perf_counter() - start)


def naive_rate(port, steps: int) -> float:
    start_steps, start = port.env_steps, time.perf_counter()
    while port.env_steps - start_steps < steps:
        port.run_episode()
    return (port.env_steps - start_steps) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--repeats", type=int, default=5, help="alternating repeats (at least 5)")
    parser.add_argument(
        "--steps", type=int, default=100_000, help="env steps per raw/tabular measurement"
    )
    parser.add_argument(
        "--tf-steps", type=int, default=20_000, help="env steps per DQN/classic measurement"
    )
    parser.add_argument(
        "--naive-steps", type=int, default=1_500, help="env steps per naive-port measurement"
    )
    args = parser.parse_args()

    import tensorflow as tf

    # As agents.run does for its tiny networks (and the same for the baseline).
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from naive_port import NaiveClassicPort

    from agents.classic import ClassicQNetworkAgent
    from agents.dqn import DQNAgent

    dqn_cfg = DQNConfig(epsilon_decay=20_000, lr_decay=60_000)  # the 4x4 recipe's decays
    dqn = DQNAgent(envs.make_vector("frozenlake", dqn_cfg.num_envs), dqn_cfg, seed=0)
    classic = ClassicQNetworkAgent(envs.make("frozenlake"), ClassicConfig(), seed=0)
    naive = NaiveClassicPort(envs.make("frozenlake"), seed=0)
    # Warm-up: compile the functions and get the DQN past its learning start.
    chunk_rate(dqn, dqn_cfg.learning_starts + 4 * dqn_cfg.batch_size)
    chunk_rate(classic, 200)
    naive_rate(naive, 200)

    rates: dict[str, list[float]] = {k: [] for k in ("raw", "tabular", "dqn", "classic", "naive")}
    repeats = max(5, args.repeats)
    for _ in range(repeats):
        rates["raw"].append(raw_env_rate(args.steps))
        rates["tabular"].append(tabular_rate(args.steps))
        rates["dqn"].append(chunk_rate(dqn, args.tf_steps))
        rates["classic"].append(chunk_rate(classic, args.tf_steps))
        rates["naive"].append(naive_rate(naive, args.naive_steps))
    med = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "raw_env_steps_per_second": round(med["raw"]),
        "tabular_steps_per_second": round(med["tabular"]),
        "tabular_vs_raw": round(med["tabular"] / med["raw"], 3),
        "dqn_steps_per_second": round(med["dqn"]),
        "classic_steps_per_second": round(med["classic"]),
        "naive_tf_steps_per_second": round(med["naive"]),
        "dqn_vs_naive": round(med["dqn"] / med["naive"], 2),
        "classic_vs_naive": round(med["classic"] / med["naive"], 2),
        "repeats": repeats,
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
