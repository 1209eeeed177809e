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
from agents.api import POLICY_FILE, Algorithm, configure, dump_json
from agents.config import (
    AGENT_FIELDS,
    AGENTS,
    RUN_FIELDS,
    RunConfig,
    agent_from_q_net,
    agents_with,
    normalise_keys,
    read_saved_config,
    read_toml,
    recipe_defaults,
    saved_env,
)
from agents.options import add_flags
from common.atomic import atomic_write_text
from common.errors import (
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    OneLineArgumentParser,
    UsageError,
    run_main,
)
from common.runfolder import (
    RunFolderLock,
    check_output_dir,
    check_output_file,
    clean_temp_files,
)
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
  python -m agents.run CartPole-v1 --q-net                any Gymnasium id (its RL Zoo recipe)
  python -m agents.run Taxi-v4                            judged exactly against the optimum
  python -m agents.run FrozenLake-v1 --env-option map_name=8x8 --env-option is_slippery=false
  python -m agents.run mypackage.envs:MyEnv-v0 --q-net --steps 200000
  python -m agents.run frozenlake --logdir runs/a --resume   continue an interrupted run
  tensorboard --logdir runs                               review the runs

Every option can also be set in a TOML file (--config run.toml, keys as the long flags,
e.g. episodes = 5000, and an [env] table for the env's options); flags override the file.
The policy handed over (summary, --summary-json, DQN.load(run folder)) is the best one the
periodic evaluations saw, unless --keep-final.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m agents.run",
        description="Train an agent on an environment and judge its greedy policy against the "
        "exact optimum.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "env",
        metavar="ENV",
        help="environment: a Gymnasium id (CartPole-v1, Taxi-v4, FrozenLake-v1, ...), "
        f"module:EnvId for your own, or one of the project's: {', '.join(envs.names())}",
    )
    parser.add_argument(
        "--env-option",
        metavar="KEY=VALUE",
        action="append",
        default=argparse.SUPPRESS,
        help="the env constructor's option (repeatable; values are Python literals, true/false), "
        "e.g. --env-option is_slippery=false",
    )
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
    add_device_arguments(parser, multiworker=False)  # one machine: networks.train has clusters
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


def folder_name(env: str) -> str:
    """An env name as a folder name part (``module:Id-v0``, ``ns/Id`` have unsafe characters)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in env)


def default_logdir(cfg: RunConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{folder_name(cfg.env)}__{cfg.kind.label}__{cfg.seed}__{stamp}"


def find_latest_run(env: str, agent: str, seed: int) -> Path:
    pattern = f"{folder_name(env)}__{AGENTS[agent].label}__{seed}__*"
    candidates = sorted(p for p in Path("runs").glob(pattern) if (p / "config.json").is_file())
    if not candidates:
        raise UsageError(
            f"--resume found no run matching runs/{pattern}: give the run's folder with --logdir"
        )
    return candidates[-1]


def resolve(argv: list[str] | None) -> tuple[RunConfig, DeviceConfig, object]:
    """Flags, TOML file and (with --resume) the saved run into a config, plus the run's first
    env (made, and checked, before anything is written)."""
    namespace = build_parser().parse_args(argv)
    devices = DeviceConfig.from_args(namespace)
    ours = {"env", "config", "q_net", "env_option", *RUN_FIELDS, *AGENT_FIELDS}
    args = {k: v for k, v in vars(namespace).items() if k in ours}  # the rest: device flags
    env_name = args.pop("env")
    config_path = args.pop("config", None)
    pairs = args.pop("env_option", None)
    if "q_net" in args:
        args["agent"] = agent_from_q_net(args.pop("q_net"))
    args = normalise_keys(args, source="the command line")
    if pairs:
        args["env_options"] = envs.parse_env_options(pairs)
    file_values = read_toml(config_path) if config_path else {}
    given = {**file_values, **args}
    if given.get("data_dir") is not None and env_name != "frozenlake-digits":
        raise UsageError(
            f"--data-dir is for frozenlake-digits (its MNIST files); {env_name} needs no data"
        )
    saved = None
    if given.get("resume"):
        logdir = (
            Path(given["logdir"])
            if given.get("logdir")
            else find_latest_run(env_name, given.get("agent", "tabular"), given.get("seed", 0))
        )
        saved = read_saved_config(logdir)
        previous = saved_env(logdir)
        if previous is not None and previous != env_name:
            raise UsageError(
                f"{logdir} is a run of {previous}, not {env_name}: resume it as "
                f"python -m agents.run {previous} --logdir {logdir} --resume"
            )
        saved.pop("resume", None)
        args["logdir"] = str(logdir)
    cfg, env = configure(env_name, args, file_values, saved)
    if cfg.resume:
        cfg.logdir = str(logdir)
    return cfg, devices, env


def resolve_config(argv: list[str] | None) -> tuple[RunConfig, DeviceConfig]:
    cfg, devices, _ = resolve(argv)
    return cfg, devices


def fmt(value, spec: str = ".4f") -> str:
    return "n/a" if value is None else format(value, spec)


class SummaryRows(list):
    """(label, value) rows, filled as a rich Table is (``add_row``)."""

    def add_row(self, label: str, value: str) -> None:
        self.append((label, value))


def summary_table(summary: dict) -> Table:
    table = Table(title="Summary", show_header=False, title_style="bold")
    table.add_column(style="bold cyan")
    table.add_column()
    for label, value in summary_rows(summary):
        table.add_row(label, value)
    return table


def print_summary(console: Console, summary: dict) -> None:
    """A table on a terminal; elsewhere ``label: value`` lines, so paths stay whole to copy."""
    if console.is_terminal:
        console.print(summary_table(summary))
        return
    console.print("Summary", highlight=False)
    for label, value in summary_rows(summary):
        console.print(f"{label}: {value}", highlight=False, soft_wrap=True, markup=False)


def summary_rows(summary: dict) -> SummaryRows:
    table = SummaryRows()
    policy = "best seen" if summary["handed_over"] == "best" else "final"
    table.add_row("policy handed over", policy)
    if summary.get("eval_episodes"):
        sampled = (
            f"return {fmt(summary['eval_return_mean'], '.4g')} "
            f"± {fmt(summary['eval_return_std'], '.3g')}"
        )
        if "eval_success_rate" in summary:
            sampled = f"success {summary['eval_success_rate']:.4f}, " + sampled
        table.add_row(
            "greedy policy, sampled", f"{sampled} over {summary['eval_episodes']} episodes"
        )
    if "optimal_return" in summary:
        exact = "never ends an episode" if summary["never_ends"] else fmt(summary["exact_return"])
        table.add_row("greedy policy, exact", exact)
        table.add_row("optimum (planner)", fmt(summary["optimal_return"]))
        if summary.get("optimality_ratio") is not None:
            table.add_row("ratio to optimum", f"{summary['optimality_ratio']:.3f}")
        else:
            table.add_row("gap to optimum", fmt(summary["optimality_gap"]))
    if summary.get("best_env_steps") is not None:
        table.add_row(
            "best / final score",
            f"{fmt(summary['best_score'])} (at {summary['best_env_steps']:,} steps) / "
            f"{fmt(summary['final_score'])}",
        )
    table.add_row("episodes / env steps", f"{summary['episodes']:,} / {summary['env_steps']:,}")
    table.add_row("wall time", f"{summary['train_seconds']:.1f} s")
    table.add_row("env steps/s", f"{summary['env_steps_per_second']:,.0f}")
    table.add_row("logs", f"{summary['logdir']}  (tensorboard --logdir {summary['logdir']})")
    table.add_row("checkpoint", str(summary["checkpoint"]))
    table.add_row("best checkpoint", str(summary["best_checkpoint"]))
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


def check_outputs(cfg: RunConfig, logdir: Path, checkpoint_dir: Path) -> None:
    """Every output path, before any work: a folder where a file goes (or the reverse), a
    summary that would overwrite the run's own files, a new run over an old one."""
    for path, what in ((logdir, "--logdir"), (checkpoint_dir, "--checkpoint-dir")):
        check_output_dir(path, what)  # a file, under a file, /proc, unwritable: one line
    if cfg.summary_json:
        # /proc, under a file, a folder, unwritable: one line before any work
        check_output_file(cfg.summary_json, "--summary-json", replace=True)
        target = Path(cfg.summary_json)
        if target.is_dir():
            raise UsageError(f"--summary-json {target} is a folder: give a file name")
        resolved = target.resolve()
        own = {(logdir / name).resolve() for name in ("config.json", "devices.json", POLICY_FILE)}
        ckpt = checkpoint_dir.resolve()
        if resolved in own or resolved == ckpt or ckpt in resolved.parents:
            raise UsageError(
                f"--summary-json {target} would overwrite the run's own files: "
                "write it outside the checkpoints and next to, not over, config.json"
            )
        for parent in target.parents:
            if parent.exists() and not parent.is_dir():
                raise UsageError(f"--summary-json {target} lies under the file {parent}")
    if not cfg.resume and checkpoint_dir.exists() and any(checkpoint_dir.iterdir()):
        raise UsageError(
            f"{checkpoint_dir} already holds a run: add --resume to continue it, "
            "or choose another --logdir"
        )


def main(argv: list[str] | None = None) -> int:
    cfg, devices, env = resolve(argv)
    console = Console()
    logdir = Path(cfg.logdir) if cfg.logdir else default_logdir(cfg)
    checkpoint_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else logdir / "checkpoints"
    cfg.logdir, cfg.checkpoint_dir = str(logdir), str(checkpoint_dir)
    check_outputs(cfg, logdir, checkpoint_dir)

    if cfg.agent != "tabular":
        configure_tensorflow(devices)
    algorithm = Algorithm.from_config(cfg, env)
    logdir.mkdir(parents=True, exist_ok=True)
    with RunFolderLock(logdir):  # a second process on this folder: one line, exit 2
        clean_temp_files(logdir)  # what a kill -9 left mid-write
        if checkpoint_dir.is_dir():
            clean_temp_files(checkpoint_dir)
        if cfg.resume:
            restore_or_start_anew(algorithm, checkpoint_dir, logdir)
        return run_and_report(cfg, devices, algorithm, logdir, console)


def restore_or_start_anew(algorithm: Algorithm, checkpoint_dir: Path, logdir: Path) -> None:
    """A run killed before its first checkpoint has nothing to restore: it starts from the
    beginning (else it could neither be resumed nor started anew)."""
    if not checkpoint_dir.is_dir() or not any(checkpoint_dir.iterdir()):
        print(
            f"note: {logdir} stopped before its first checkpoint; starting it from the beginning",
            file=sys.stderr,
        )
        return
    algorithm.agent.restore(checkpoint_dir)


def run_and_report(
    cfg: RunConfig, devices: DeviceConfig, algorithm: Algorithm, logdir: Path, console: Console
) -> int:
    algorithm.write_config(logdir)
    atomic_write_text(
        logdir / "devices.json", json.dumps(dataclasses.asdict(devices), indent=2, sort_keys=True)
    )

    summary = algorithm.train_run(console=console)
    print_summary(console, summary)
    if cfg.summary_json:
        atomic_write_text(cfg.summary_json, dump_json(summary))
    if summary["interrupted"]:
        console.print(
            f"[yellow]interrupted at episode {summary['episodes']:,}; "
            f"checkpoint saved to {summary['checkpoint']}. "
            f"Resume with: python -m agents.run {cfg.env} --logdir {logdir} --resume[/yellow]",
            highlight=False,
            soft_wrap=True,
        )
        by_sigterm = summary.get("interrupted_by") == "SIGTERM"
        return EXIT_TERMINATED if by_sigterm else EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
