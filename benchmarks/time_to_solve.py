"""Wall seconds and env steps until the greedy policy first reaches 0.97 x optimum.

    python benchmarks/time_to_solve.py --json [--seeds 0,1,2,3,4] [--agents tabular,classic,dqn]

On 4x4 slippery, for each agent with its default recipe and each seed, training runs in chunks
and the greedy policy's exact success (planner) is checked every ``--check-every`` env steps.
Reports each run and the medians; a run that never gets there within its recipe's episodes
counts as not solved (null).
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

from agents.config import build_config  # noqa: E402
from envs.planner import greedy_success, plan  # noqa: E402


def train_until(agent, env, target: float, check_every: int, max_episodes: int) -> dict:
    """Train in chunks; every ``check_every`` env steps score the greedy policy exactly, and stop
    when it reaches ``target`` (a success probability) or after ``max_episodes``."""
    start, next_check = time.perf_counter(), check_every
    while agent.episodes < max_episodes:
        agent.train_chunk(min(100, max_episodes - agent.episodes))
        if agent.env_steps >= next_check:
            next_check = agent.env_steps + check_every
            if greedy_success(env, agent.q_table()) >= target:
                return {
                    "seconds": round(time.perf_counter() - start, 2),
                    "env_steps": agent.env_steps,
                    "solved": True,
                }
    return {
        "seconds": None,
        "env_steps": None,
        "solved": False,
        "gave_up_after_steps": agent.env_steps,
    }


def time_to_solve(agent_kind: str, seed: int, threshold: float, check_every: int) -> dict:
    from agents.builders import make_agent, make_env

    cfg = build_config({"agent": agent_kind, "seed": seed}, {})
    cfg.env = "frozenlake"
    env = make_env(cfg)
    target = threshold * plan(env).success_probability
    agent = make_agent(cfg, env)
    if hasattr(agent, "set_budget"):  # decays are fractions of the recipe's run
        agent.set_budget(cfg.episodes, cfg.steps)
    return {
        "agent": agent_kind,
        "seed": seed,
        **train_until(agent, env, target, check_every, cfg.episodes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object only")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--agents", default="tabular,classic,dqn")
    parser.add_argument("--threshold", type=float, default=0.97, help="fraction of the optimum")
    parser.add_argument(
        "--check-every", type=int, default=2_000, help="env steps between exact checks"
    )
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)  # as agents.run does
    tf.config.threading.set_inter_op_parallelism_threads(1)

    runs = []
    for agent_kind in args.agents.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            runs.append(time_to_solve(agent_kind, seed, args.threshold, args.check_every))
            if not args.json:
                print(json.dumps(runs[-1]), flush=True)
    result: dict = {"threshold": args.threshold, "map": "4x4", "slippery": True, "runs": runs}
    for agent_kind in args.agents.split(","):
        solved = [r for r in runs if r["agent"] == agent_kind and r["solved"]]
        total = sum(r["agent"] == agent_kind for r in runs)
        # Unsolved runs count as infinitely slow for the median.
        seconds = sorted([r["seconds"] for r in solved]) + [float("inf")] * (total - len(solved))
        steps = sorted([r["env_steps"] for r in solved]) + [float("inf")] * (total - len(solved))
        med_s, med_n = statistics.median(seconds), statistics.median(steps)
        result[f"{agent_kind}_median_seconds"] = None if med_s == float("inf") else med_s
        result[f"{agent_kind}_median_env_steps"] = None if med_n == float("inf") else med_n
        result[f"{agent_kind}_solved"] = f"{len(solved)}/{total}"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
