"""The run configuration: one table of options from which the command-line flags, the TOML config
keys, the defaults of each recipe and the range checks all derive.

Precedence, lowest first: the recipe's defaults (per agent and map size), the run being resumed,
the ``--config`` file, then flags given on the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import UsageError
from envs.maps import parse_map

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

AGENTS = ("tabular", "classic", "dqn")
SCHEDULES = ("linear", "exponential", "inverse")


def _opt(
    default,
    help: str,
    *,
    group: str = "run",
    check=None,
    flag: str | None = None,
    choices=None,
    metavar=None,
):  # noqa: A002
    return field(
        default=default,
        metadata={
            "help": help,
            "group": group,
            "check": check,
            "flag": flag,
            "choices": choices,
            "metavar": metavar,
        },
    )


def _positive(name, v):
    if v <= 0:
        raise UsageError(f"--{name} must be positive, got {v}")


def _non_negative(name, v):
    if v < 0:
        raise UsageError(f"--{name} must be zero or more, got {v}")


def _unit_open_closed(name, v):
    if not 0 < v <= 1:
        raise UsageError(f"--{name} must be in (0, 1], got {v}")


def _probability(name, v):
    if not 0 <= v <= 1:
        raise UsageError(f"--{name} must be in [0, 1], got {v}")


def _hidden(name, v):
    try:
        sizes = parse_hidden(v)
    except ValueError:
        sizes = []
    if not sizes or min(sizes) <= 0:
        raise UsageError(f"--{name} must be layer sizes separated by commas, like 64,64; got {v!r}")


def parse_hidden(text: str) -> list[int]:
    return [int(part) for part in str(text).split(",") if part.strip()]


@dataclass
class RunConfig:
    # -- run ----------------------------------------------------------------------------------------
    env: str = "frozenlake"
    map: str = _opt(
        "4x4",
        "lake layout: 4x4, 8x8, random:N (drawn from --map-seed), or rows like SFFF,FHFH,FFFH,HFFG",
        metavar="MAP",
    )
    slippery: bool = _opt(
        True, "moves slip sideways with probability 2/3 (Gymnasium's is_slippery)"
    )
    max_episode_steps: int | None = _opt(
        None,
        "step limit of an episode (default: 100 for 4x4, 200 for 8x8, as Gymnasium)",
        check=_positive,
        metavar="N",
    )
    map_seed: int | None = _opt(None, "seed of a random:N map (default: --seed)", metavar="N")
    data_dir: str | None = _opt(
        None,
        "frozenlake-digits: folder with MNIST's files (mnist.npz); default: $DLTF_MNIST_DIR, then the cache",
        metavar="DIR",
    )
    agent: str = _opt(
        "tabular",
        "tabular Q-learning; --q-net picks a TensorFlow Q-network instead",
        choices=AGENTS,
        flag="--agent",
    )
    episodes: int | None = _opt(
        None,
        "training episodes (default: the recipe's for this agent and map)",
        check=_positive,
        metavar="N",
    )
    seed: int = _opt(
        0, "seed of everything random: same seed, same machine, same numbers", metavar="N"
    )
    eval_episodes: int = _opt(
        1000,
        "seeded greedy episodes sampled at the end (the exact value is computed too)",
        check=_non_negative,
        metavar="N",
    )
    eval_every: int | None = _opt(
        None,
        "episodes between exact evaluations of the greedy policy (default: 1/20 of the run; 0: only at the end)",
        check=_non_negative,
        metavar="N",
    )
    logdir: str | None = _opt(
        None,
        "TensorBoard and run folder (default: runs/<env>__<agent>__<seed>__<time>)",
        metavar="DIR",
    )
    dashboard: bool = _opt(
        True, "live terminal dashboard (plain log lines when stdout is not a terminal)"
    )
    summary_json: str | None = _opt(
        None, "also write the closing summary as JSON to PATH", metavar="PATH"
    )
    checkpoint_dir: str | None = _opt(
        None, "where checkpoints go (default: LOGDIR/checkpoints)", metavar="DIR"
    )
    checkpoint_every: int | None = _opt(
        None,
        "episodes between checkpoints (default: 1/10 of the run)",
        check=_non_negative,
        metavar="N",
    )
    resume: bool = _opt(
        False,
        "continue the run in --logdir (or the latest run with this env, agent and seed) from its checkpoint",
    )
    # -- learning (both agents) ------------------------------------------------------------------
    gamma: float = _opt(
        0.99, "discount factor, in (0, 1]", group="learning", check=_unit_open_closed
    )
    lr: float | None = _opt(
        None,
        "learning rate (tabular: step size in (0, 1]; networks: optimizer's)",
        group="learning",
        check=_positive,
    )
    epsilon_start: float = _opt(
        1.0, "exploration rate at the start", group="learning", check=_probability
    )
    epsilon_end: float | None = _opt(
        None, "exploration rate after --epsilon-decay", group="learning", check=_probability
    )
    epsilon_decay: int | None = _opt(
        None,
        "episodes (tabular) or env steps (DQN) over which epsilon decays",
        group="learning",
        check=_non_negative,
        metavar="N",
    )
    epsilon_schedule: str = _opt(
        "linear",
        "shape of the epsilon decay (inverse: the 2017 1/(episode/50+10))",
        group="learning",
        choices=SCHEDULES,
    )
    # -- tabular ---------------------------------------------------------------------------------
    lr_end: float | None = _opt(
        None, "learning rate after --lr-decay", group="learning", check=_positive
    )
    lr_decay: int | None = _opt(
        None,
        "episodes (tabular) or env steps (DQN) over which the learning rate decays",
        group="learning",
        check=_non_negative,
        metavar="N",
    )
    lr_schedule: str = _opt(
        "linear", "shape of the learning-rate decay", group="learning", choices=SCHEDULES[:2]
    )
    exploration: str = _opt(
        "epsilon",
        "tabular: epsilon-greedy, or the 2017 noisy argmax (Q + N(0,1)/(episode+1))",
        group="tabular",
        choices=("epsilon", "noisy"),
    )
    # -- Q-networks ------------------------------------------------------------------------------
    double: bool = _opt(
        True, "DQN: Double DQN targets (online net picks, target net scores)", group="q-network"
    )
    hidden: str = _opt(
        "64",
        "DQN: hidden layer sizes, e.g. 64,64",
        group="q-network",
        check=_hidden,
        metavar="SIZES",
    )
    buffer_size: int = _opt(
        50_000,
        "DQN: replay buffer capacity (transitions)",
        group="q-network",
        check=_positive,
        metavar="N",
    )
    batch_size: int = _opt(
        64, "DQN: minibatch size", group="q-network", check=_positive, metavar="N"
    )
    learning_starts: int = _opt(
        1_000,
        "DQN: env steps before the first update",
        group="q-network",
        check=_non_negative,
        metavar="N",
    )
    train_every: int = _opt(
        16, "DQN: env steps per gradient update", group="q-network", check=_positive, metavar="N"
    )
    target_update: int = _opt(
        1_000,
        "DQN: env steps between hard target copies (ignored when --tau < 1)",
        group="q-network",
        check=_positive,
        metavar="N",
    )
    tau: float = _opt(
        1.0,
        "DQN: Polyak factor per update (1: hard copies every --target-update steps)",
        group="q-network",
        check=_unit_open_closed,
    )
    loss: str = _opt("huber", "DQN: TD loss", group="q-network", choices=("huber", "mse"))
    grad_clip: float = _opt(
        10.0, "DQN: global gradient-norm clip (0: off)", group="q-network", check=_non_negative
    )
    n_step: int = _opt(1, "DQN: n-step returns", group="q-network", check=_positive, metavar="N")
    num_envs: int = _opt(
        32,
        "DQN: environments stepped together (one batched forward pass acts for all)",
        group="q-network",
        check=_positive,
        metavar="N",
    )
    encoder: str | None = _opt(
        None,
        "DQN on image envs: autoencoder:PATH or mnist-cnn:PATH[@LAYER] (a frozen encoder saved by networks.train), or cnn (learn a convolutional Q-network end to end); default: the flattened pixels",
        group="q-network",
        metavar="SPEC",
    )
    save_replay: bool = _opt(
        False, "DQN: include the replay buffer in checkpoints", group="q-network"
    )

    # -- derived ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


OPTION_FIELDS = [f for f in dataclasses.fields(RunConfig) if f.metadata]
OPTION_NAMES = {f.name for f in OPTION_FIELDS}


def recipe(agent: str, rows: tuple[str, ...]) -> dict:
    """Defaults sized for the problem: tuned so the final greedy policy is near the optimum."""
    cells = len(rows) * len(rows[0])
    small = cells <= 16
    if agent == "tabular":
        episodes = 10_000 if small else 50_000
        decay = int(episodes * 0.8)
        return {
            "episodes": episodes,
            "lr": 0.1,
            "lr_end": 0.01,
            "lr_decay": decay,
            "epsilon_end": 0.01,
            "epsilon_decay": decay,
            "gamma": 0.99 if small else 0.999,
        }
    if agent == "classic":
        return {
            "episodes": 6_000,
            "lr": 0.1,
            "epsilon_schedule": "inverse",
            "epsilon_end": 0.0,
            "epsilon_decay": 0,
        }
    steps = 60_000 if small else 600_000  # about what the episodes take on 4x4, half on 8x8
    return {
        "episodes": 3_000 if small else 12_000,
        "lr": 1e-3,
        "lr_end": 1e-5,
        "lr_decay": steps,
        "epsilon_end": 0.02,
        "epsilon_decay": steps // 3,
        "gamma": 0.99 if small else 0.999,
    }


def validate(cfg: RunConfig) -> None:
    for f in OPTION_FIELDS:
        value = getattr(cfg, f.name)
        check = f.metadata["check"]
        if check is not None and value is not None:
            check(f.name.replace("_", "-"), value)
    if cfg.agent == "tabular" and cfg.lr is not None and not 0 < cfg.lr <= 1:
        raise UsageError(f"--lr must be in (0, 1] for tabular Q-learning, got {cfg.lr}")
    if cfg.agent == "tabular" and cfg.lr_end is not None and not 0 < cfg.lr_end <= 1:
        raise UsageError(f"--lr-end must be in (0, 1], got {cfg.lr_end}")
    if cfg.encoder is not None and cfg.agent != "dqn":
        raise UsageError("--encoder needs a DQN: add --q-net")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per option; defaults are suppressed so only flags the user gave are seen."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in OPTION_FIELDS:
        meta = f.metadata
        if meta["flag"] == "--agent":
            continue  # chosen with --q-net
        group = groups.setdefault(
            meta["group"], parser.add_argument_group(f"{meta['group']} options")
        )
        flag = "--" + f.name.replace("_", "-")
        default_text = "" if f.default is None else f" (default: {f.default})"
        kwargs = {"dest": f.name, "help": meta["help"] + default_text, "default": argparse.SUPPRESS}
        if f.type in ("bool", bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
            continue
        py_type = _python_type(f)
        group.add_argument(
            flag, type=py_type, choices=meta["choices"], metavar=meta["metavar"], **kwargs
        )


def _python_type(f: dataclasses.Field):
    text = str(f.type)
    if text.startswith("int"):
        return int
    if text.startswith("float"):
        return float
    return str


def read_toml(path: str) -> dict:
    """Options from a TOML file (keys as the long flags, dashes or underscores)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"config file {path} not found") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    return normalise_keys(data, source=f"config file {path}")


def normalise_keys(data: dict, source: str) -> dict:
    out = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name == "q_net":
            out["agent"] = _agent_from_q_net(
                value if isinstance(value, str) else ("mlp" if value else None)
            )
            continue
        if name not in OPTION_NAMES:
            raise UsageError(
                f"unknown key {key!r} in {source}: valid keys are the long flags, e.g. episodes, map, lr"
            )
        f = next(f for f in OPTION_FIELDS if f.name == name)
        expected = _python_type(f) if f.type not in ("bool", bool) else bool
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise UsageError(f"key {key!r} in {source} must be {expected.__name__}, got {value!r}")
        out[name] = value
    return out


def _agent_from_q_net(kind: str | None) -> str:
    if kind is None:
        return "tabular"
    if kind in ("mlp", "dqn"):
        return "dqn"
    if kind == "classic":
        return "classic"
    raise UsageError(f"unknown Q-network {kind!r}: use --q-net classic or --q-net mlp")


def read_saved_config(logdir: Path) -> dict:
    path = Path(logdir) / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"{logdir} has no config.json: is it a run folder? (give the run's --logdir)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is unreadable ({exc})") from None
    return {k: v for k, v in data.items() if k in OPTION_NAMES}


def build_config(cli: dict, file_values: dict, saved: dict | None = None) -> RunConfig:
    """Layer recipe < saved run < file < flags, then validate."""
    layered = {**(saved or {}), **file_values, **cli}
    agent = layered.get("agent", "tabular")
    map_seed = layered.get("map_seed")
    rows = parse_map(
        layered.get("map", "4x4"), seed=layered.get("seed", 0) if map_seed is None else map_seed
    )
    values = {**recipe(agent, rows), **layered}
    cfg = RunConfig(**{k: v for k, v in values.items() if k in OPTION_NAMES or k == "env"})
    validate(cfg)
    return cfg
