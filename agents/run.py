"""``python -m agents.run ENV [options]``: train an agent with a live dashboard, TensorBoard logs,
checkpoints and a closing summary that holds the learned greedy policy against the exact optimum."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import envs
from agents.builders import make_agent, make_env
from agents.callbacks import CheckpointCallback, EvalCallback, TensorBoardCallback
from agents.config import (
    AGENT_FIELDS,
    AGENTS,
    RUN_FIELDS,
    RunConfig,
    agent_from_q_net,
    agents_with,
    build_config,
    normalise_keys,
    read_saved_config,
    read_toml,
    recipe_defaults,
)
from agents.dashboard import Dashboard
from agents.loop import train
from agents.options import add_flags
from common.atomic import atomic_write_text
from common.errors import EXIT_INTERRUPTED, OneLineArgumentParser, UsageError, run_main
from envs.planner import plan
from perception.devices import (
    DeviceConfig,
    add_device_arguments,
    configure_devices,
    import_tensorflow,
)

EXAMPLES = """\
examples:
  python -m agents.run frozenlake                         tabular Q-learning on 4x4 slippery
  python -m agents.run frozenlake --q-net                 a TensorFlow DQN (MLP Q-network)
  python -m agents.run frozenlake --q-net classic         the 2017 one-layer Q-network
  python -m agents.run frozenlake --map 8x8 --seed 3
  python -m agents.run frozenlake --map SFFF,FHFH,FFFH,HFFG --no-slippery
  python -m agents.run frozenlake --lr 0.85 --lr-end 0.85 --exploration noisy --episodes 2000
                                                          the 2017 tabular recipe
  python -m agents.run frozenlake --logdir runs/a --resume   continue an interrupted run
  tensorboard --logdir runs                               review the runs

Every option can also be set in a TOML file (--config run.toml, keys as the long flags,
e.g. episodes = 5000); flags given on the command line override the file.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m agents.run",
        description="Train an agent on an environment and judge its greedy policy against the "
        "exact optimum.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("env", choices=envs.names(), help="environment to train on")
    parser.add_argument(
        "--q-net",
        nargs="?",
        const="mlp",
        choices=("mlp", "classic"),
        default=argparse.SUPPRESS,
        help="train a TensorFlow Q-network instead of a Q-table: mlp (default, the DQN family) "
        "or classic (the 2017 one-layer network)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE.toml",
        default=argparse.SUPPRESS,
        help="read options from a TOML file; flags override it",
    )
    add_flags(
        parser.add_argument_group("run options"),
        RUN_FIELDS.values(),
        lambda f: recipe_defaults(f.name) if f.name == "episodes" else None,
    )
    add_agent_flags(parser)
    add_device_arguments(parser)
    return parser


def add_agent_flags(parser: argparse.ArgumentParser) -> None:
    """The agents' options, grouped by the agents they apply to (any other is refused)."""
    groups: dict[tuple[str, ...], list] = {}
    for name, f in AGENT_FIELDS.items():
        groups.setdefault(tuple(k.name for k in agents_with(name)), []).append(f)
    for owners, fields in sorted(groups.items(), key=lambda item: -len(item[0])):
        who = ", ".join(f"{AGENTS[k].title} ({AGENTS[k].how})" for k in owners)
        title = "options of every agent" if len(owners) == len(AGENTS) else f"options of {who}"
        add_flags(parser.add_argument_group(title), fields, lambda f: recipe_defaults(f.name))


def default_logdir(cfg: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.env}__{cfg.kind.label}__{cfg.seed}__{stamp}"


def find_latest_run(cfg: RunConfig) -> Path:
    pattern = f"{cfg.env}__{cfg.kind.label}__{cfg.seed}__*"
    candidates = sorted(p for p in Path("runs").glob(pattern) if (p / "config.json").is_file())
    if not candidates:
        raise UsageError(
            f"--resume found no run matching runs/{pattern}: give the run's folder with --logdir"
        )
    return candidates[-1]


def resolve_config(argv: list[str] | None) -> tuple[RunConfig, DeviceConfig]:
    namespace = build_parser().parse_args(argv)
    devices = DeviceConfig.from_args(namespace)
    ours = {"env", "config", "q_net", *RUN_FIELDS, *AGENT_FIELDS}  # the rest are device flags
    args = {k: v for k, v in vars(namespace).items() if k in ours}
    env_name = args.pop("env")
    config_path = args.pop("config", None)
    if "q_net" in args:
        args["agent"] = agent_from_q_net(args.pop("q_net"))
    args = normalise_keys(args, source="the command line")
    file_values = read_toml(config_path) if config_path else {}
    cfg = build_config(args, file_values)
    cfg.env = env_name
    if cfg.data_dir is not None and env_name != "frozenlake-digits":
        raise UsageError(
            f"--data-dir is for frozenlake-digits (its MNIST files); {env_name} needs no data"
        )
    if not cfg.resume:
        return cfg, devices
    logdir = Path(cfg.logdir) if cfg.logdir else find_latest_run(cfg)
    saved = read_saved_config(logdir)
    saved.pop("resume", None)
    cfg = build_config(args, file_values, saved)
    cfg.env, cfg.logdir, cfg.resume = env_name, str(logdir), True
    return cfg, devices


def summary_table(summary: dict) -> Table:
    table = Table(title="Summary", show_header=False, title_style="bold")
    table.add_column(style="bold cyan")
    table.add_column()
    table.add_row(
        "greedy policy, sampled",
        f"{summary['eval_success_rate']:.4f} over {summary['eval_episodes']} episodes",
    )
    table.add_row("greedy policy, exact", f"{summary['exact_success_rate']:.4f}")
    table.add_row("optimum (planner)", f"{summary['optimal_success_rate']:.4f}")
    table.add_row("ratio to optimum", f"{summary['optimality_ratio']:.3f}")
    table.add_row("episodes / env steps", f"{summary['episodes']:,} / {summary['env_steps']:,}")
    table.add_row("wall time", f"{summary['train_seconds']:.1f} s")
    table.add_row("env steps/s", f"{summary['env_steps_per_second']:,.0f}")
    table.add_row("logs", f"{summary['logdir']}  (tensorboard --logdir {summary['logdir']})")
    table.add_row("checkpoint", str(summary["checkpoint"]))
    return table


def configure_tensorflow(devices: DeviceConfig) -> None:
    """Device flags first, before any tensor exists. The agents' networks are tiny, so one thread
    per op pool beats TensorFlow's default of one per core (measured: about 1.4x per update)."""
    tf = import_tensorflow()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already running (an in-process caller): keep its settings
        return
    if devices.strategy == "mirrored":
        print(
            "warning: --strategy mirrored is for networks.train; agents train on one device",
            file=sys.stderr,
        )
    configure_devices(devices)


def main(argv: list[str] | None = None) -> int:
    cfg, devices = resolve_config(argv)
    console = Console()
    logdir = Path(cfg.logdir) if cfg.logdir else default_logdir(cfg)
    checkpoint_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else logdir / "checkpoints"
    cfg.logdir, cfg.checkpoint_dir = str(logdir), str(checkpoint_dir)
    if not cfg.resume and checkpoint_dir.exists() and any(checkpoint_dir.iterdir()):
        raise UsageError(
            f"{checkpoint_dir} already holds a run: add --resume to continue it, "
            "or choose another --logdir"
        )

    configure_tensorflow(devices)
    env, eval_env = make_env(cfg), make_env(cfg)
    optimum = plan(env).success_probability
    agent = make_agent(cfg, env)
    if cfg.resume:
        agent.restore(checkpoint_dir)
    logdir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(logdir / "config.json", json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    atomic_write_text(
        logdir / "devices.json", json.dumps(dataclasses.asdict(devices), indent=2, sort_keys=True)
    )

    eval_every = cfg.eval_every if cfg.eval_every is not None else max(1, cfg.episodes // 20)
    checkpoint_every = (
        cfg.checkpoint_every if cfg.checkpoint_every is not None else max(1, cfg.episodes // 10)
    )
    evaluation = EvalCallback(
        eval_env, eval_every, cfg.eval_episodes, seed=cfg.seed + 1_000_003, optimum=optimum
    )
    checkpoints = CheckpointCallback(checkpoint_dir, checkpoint_every)
    hparams = {k: v for k, v in cfg.to_dict().items() if v is not None}
    callbacks = [evaluation, TensorBoardCallback(logdir, cfg.to_dict(), hparams), checkpoints]
    slip = "slippery" if cfg.slippery else "not slippery"
    title = f"{cfg.env} {cfg.map} ({slip}) · {cfg.kind.title} · seed {cfg.seed}"
    if cfg.dashboard:
        callbacks.append(Dashboard(title, env.unwrapped.rows, optimum, console=console))

    run = train(agent, cfg.episodes, callbacks)

    result = evaluation.last
    summary = {
        "env": cfg.env,
        "map": cfg.map,
        "slippery": cfg.slippery,
        "agent": cfg.agent,
        "seed": cfg.seed,
        "episodes": run.episodes,
        "env_steps": run.env_steps,
        "train_seconds": run.train_seconds,
        "env_steps_per_second": run.steps_per_second,
        "eval_episodes": cfg.eval_episodes,
        "eval_success_rate": result.sampled_success_rate,
        "exact_success_rate": result.exact_success_rate,
        "optimal_success_rate": optimum,
        "optimality_ratio": result.exact_success_rate / optimum if optimum else 0.0,
        "training_success_fraction": run.success_fraction,
        "logdir": str(logdir),
        "checkpoint": str(checkpoints.path),
        "interrupted": run.interrupted,
        "config": cfg.to_dict(),
    }
    console.print(summary_table(summary))
    if cfg.summary_json:
        atomic_write_text(cfg.summary_json, json.dumps(summary, indent=2, default=float) + "\n")
    if run.interrupted:
        console.print(
            f"[yellow]interrupted at episode {run.episodes:,}; "
            f"checkpoint saved to {checkpoints.path}. "
            f"Resume with: python -m agents.run {cfg.env} --logdir {logdir} --resume[/yellow]",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
