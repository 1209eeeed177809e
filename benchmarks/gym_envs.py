"""Time and env steps until the greedy policy first reaches a threshold, on Gymnasium envs.

    python benchmarks/gym_envs.py --json [--runs CartPole-v1:dqn,Taxi-v4:tabular]
                                         [--seeds 0,1,2,3,4] [--steps N] [--check-every N]

Each run trains an agent with its default recipe (``agents.api``, as ``python -m agents.run``
does). Every ``--check-every`` env steps the greedy policy is checked: exactly where the env has a
model (Taxi, CliffWalking: its exact expected return), else the mean return over 10 greedy
episodes (CartPole: the issue's criterion). Thresholds: the optimum itself where the env has a
model, else the env's registered reward threshold (CartPole-v1: 475). The time to threshold
counts training only (these checks are timed and taken out; the run's own keep-best evaluations
stay in, as they are part of training).
Reported per run: ``seconds_to_threshold`` and ``steps_to_threshold`` (null when not reached),
``steps_per_second`` (the whole run's env steps over its training seconds),
``steps_per_cpu_second`` (the same over the process's CPU seconds: a free core's figure) and
``final_return_mean`` (the handed-over policy's greedy mean over the run's evaluation episodes),
and per env and agent their medians, plus ``train_steps_per_second``: the steady training rate
(acting, env steps and updates, compiled and warm, no evaluations; seed 0, median of three
stretches of ``--throughput-steps``), as ``rl_throughput.py`` measures the lake's agents.
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

from agents.api import ALGORITHMS  # noqa: E402
from agents.evaluation import EVAL_SEED_OFFSET, evaluate_greedy  # noqa: E402
from agents.loop import Callback  # noqa: E402

DEFAULT_RUNS = "CartPole-v1:dqn,Taxi-v4:tabular,CliffWalking-v1:tabular"
CHECK_EPISODES = 10


class ThresholdCheck(Callback):
    """Check the greedy policy every ``every`` env steps; note when it first reaches
    ``threshold`` (training seconds, with this callback's own time taken out)."""

    def __init__(self, algorithm, every: int, threshold: float) -> None:
        self.algorithm, self.every, self.threshold = algorithm, every, threshold
        self.seconds = self.steps = None
        self._next = every
        self._spent = 0.0
        self._start = 0.0

    def on_train_begin(self, run) -> None:
        self._start = time.perf_counter()

    def on_chunk_end(self, run, batch) -> None:
        if self.steps is not None or run.env_steps < self._next:
            return
        began = time.perf_counter()
        self._next = run.env_steps + self.every
        algo = self.algorithm
        episodes = 0 if algo.judge is not None else CHECK_EPISODES
        seed = algo.config.seed + 2 * EVAL_SEED_OFFSET
        result = evaluate_greedy(algo.agent, algo.eval_env, episodes, seed, algo.judge)
        before = self._spent
        self._spent += time.perf_counter() - began
        if result.score >= self.threshold:
            self.seconds = began - self._start - before
            self.steps = run.env_steps


def threshold_of(algorithm) -> float:
    judge = algorithm.judge
    if judge is not None:  # the optimum itself (up to rounding)
        return judge.optimum - 1e-9 * max(1.0, abs(judge.optimum))
    spec = algorithm.eval_env.spec
    if spec is None or spec.reward_threshold is None:
        raise SystemExit(f"{algorithm.config.env} has no model and no reward threshold")
    return float(spec.reward_threshold)


def one_run(env: str, agent: str, seed: int, steps: int | None, check_every: int) -> dict:
    algorithm = ALGORITHMS[agent](env, seed=seed, dashboard=False)
    threshold = threshold_of(algorithm)
    check = ThresholdCheck(algorithm, check_every, threshold)
    cpu = time.process_time()
    summary = algorithm.learn(steps=steps, callbacks=[check]).summary
    cpu = time.process_time() - cpu
    return {
        "env": env,
        "agent": agent,
        "seed": seed,
        "threshold": threshold,
        "seconds_to_threshold": check.seconds,
        "steps_to_threshold": check.steps,
        "steps_per_second": summary["env_steps_per_second"],
        # env steps per second of this process's CPU time (training, evaluations, the final
        # evaluation): what one free core would give, on a machine others share
        "steps_per_cpu_second": summary["env_steps"] / cpu if cpu > 0 else None,
        "final_return_mean": summary["eval_return_mean"],
        "exact_return": summary.get("exact_return"),
        "env_steps": summary["env_steps"],
        "train_seconds": summary["train_seconds"],
    }


def steady_rate(env: str, agent: str, warmup: int, steps: int, repeats: int = 3) -> float:
    """Env steps per second of training (acting, env steps, updates) once compiled and warm,
    without evaluations: the median of ``repeats`` stretches of ``steps`` after ``warmup``,
    measured as benchmarks/rl_throughput.py measures the lake's agents."""
    algorithm = ALGORITHMS[agent](env, seed=0, dashboard=False)
    learner = algorithm.agent
    learner.set_budget(None, warmup + repeats * steps)
    while learner.env_steps < warmup:
        learner.train_chunk(100, 4096)
    rates = []
    for _ in range(repeats):
        start_steps, start = learner.env_steps, time.perf_counter()
        while learner.env_steps - start_steps < steps:
            learner.train_chunk(100, 4096)
        rates.append((learner.env_steps - start_steps) / (time.perf_counter() - start))
    return statistics.median(rates)


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="ENV:AGENT pairs, comma separated")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--steps", type=int, default=None, help="budget (default: the recipe's)")
    parser.add_argument("--check-every", type=int, default=1_000, help="env steps between checks")
    parser.add_argument(
        "--throughput-steps",
        type=int,
        default=20_000,
        help="env steps per timed stretch of the steady training rate (0: skip it)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line at the end")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs, medians = [], {}
    for pair in args.runs.split(","):
        env, _, agent = pair.partition(":")
        mine = []
        for seed in seeds:
            result = one_run(env, agent or "dqn", seed, args.steps, args.check_every)
            mine.append(result)
            if not args.json:
                print(json.dumps(result), flush=True)
        runs.extend(mine)
        medians[f"{env}:{agent}"] = {
            key: median(r[key] for r in mine)
            for key in (
                "seconds_to_threshold",
                "steps_to_threshold",
                "steps_per_second",
                "steps_per_cpu_second",
                "final_return_mean",
            )
        } | {"reached": f"{sum(r['steps_to_threshold'] is not None for r in mine)}/{len(mine)}"}
        if args.throughput_steps > 0:
            medians[f"{env}:{agent}"]["train_steps_per_second"] = steady_rate(
                env, agent or "dqn", min(5_000, args.throughput_steps), args.throughput_steps
            )
    print(json.dumps({"runs": runs, "medians": medians}, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
