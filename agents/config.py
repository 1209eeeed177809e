"""One config dataclass per agent and one for the run; their fields are the options.

The dataclass defaults are each agent's recipe for the 4x4 lake; ``RECIPES`` holds what changes
on larger maps, tuned so that the final greedy policy ends near the optimum. Precedence when a
run is configured, lowest first: the recipe, the run being resumed, the ``--config`` TOML file,
then the flags given on the command line.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.options import (
    as_dict,
    check,
    coerce,
    display,
    flag,
    non_negative,
    option,
    option_fields,
    positive,
    probability,
    unit_open_closed,
)
from common.errors import UsageError
from envs.maps import parse_map

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SCHEDULES = ("linear", "exponential", "inverse")


# -- options several agents share: one definition each -------------------------------------------
def gamma(default: float = 0.99) -> Any:
    return option(default, "discount factor, in (0, 1]", check=unit_open_closed)


def lr(default: float) -> Any:
    return option(
        default,
        "learning rate (tabular: step size in (0, 1]; networks: the optimizer's)",
        check=positive,
    )


def lr_end(default: float) -> Any:
    return option(default, "learning rate after --lr-decay", check=positive)


def lr_decay(default: int) -> Any:
    help_ = "episodes (tabular) or env steps (DQN) over which the learning rate decays"
    return option(default, help_, check=non_negative, metavar="N")


def lr_schedule() -> Any:
    return option("linear", "shape of the learning-rate decay", choices=SCHEDULES[:2])


def epsilon_start() -> Any:
    return option(1.0, "exploration rate at the start", check=probability)


def epsilon_end(default: float) -> Any:
    return option(default, "exploration rate after --epsilon-decay", check=probability)


def epsilon_decay(default: int) -> Any:
    help_ = "episodes (tabular) or env steps (DQN) over which epsilon decays"
    return option(default, help_, check=non_negative, metavar="N")


def epsilon_schedule() -> Any:
    help_ = "shape of the epsilon decay (inverse: the 2017 1/(episode/50+10))"
    return option("linear", help_, choices=SCHEDULES)


def parse_hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in str(text).split(",") if part.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) <= 0:
        raise UsageError(
            f"--hidden must be layer sizes separated by commas, like 64,64; got {text!r}"
        )
    return sizes


# -- the agents -----------------------------------------------------------------------------------
@dataclass
class TabularConfig:
    """Tabular Q-learning; decays are counted in episodes."""

    gamma: float = gamma()
    lr: float = lr(0.1)
    lr_end: float = lr_end(0.01)
    lr_decay: int = lr_decay(8_000)
    lr_schedule: str = lr_schedule()
    exploration: str = option(
        "epsilon",
        "epsilon-greedy, or the 2017 noisy argmax (Q + N(0,1)/(episode+1))",
        choices=("epsilon", "noisy"),
    )
    epsilon_start: float = epsilon_start()
    epsilon_end: float = epsilon_end(0.01)
    epsilon_decay: int = epsilon_decay(8_000)
    epsilon_schedule: str = epsilon_schedule()

    def __post_init__(self) -> None:
        check(self)
        if not 0 < self.lr <= 1:
            raise UsageError(f"--lr must be in (0, 1] for tabular Q-learning, got {self.lr}")
        if not 0 < self.lr_end <= 1:
            raise UsageError(f"--lr-end must be in (0, 1], got {self.lr_end}")


@dataclass
class ClassicConfig:
    """The 2017 one-layer Q-network: SGD on one-hot states, epsilon 1/(episode/50+10)."""

    gamma: float = gamma()
    lr: float = lr(0.1)

    def __post_init__(self) -> None:
        check(self)


@dataclass
class DQNConfig:
    """The DQN family; decays are counted in env steps."""

    hidden: tuple[int, ...] = option(
        (64,),
        "hidden layer sizes, e.g. 64,64",
        metavar="SIZES",
        parse=parse_hidden,
        dump=lambda sizes: ",".join(str(s) for s in sizes),
    )
    gamma: float = gamma()
    lr: float = lr(1e-3)
    lr_end: float = lr_end(1e-5)
    lr_decay: int = lr_decay(60_000)
    lr_schedule: str = lr_schedule()
    double: bool = option(True, "Double DQN targets (online net picks, target net scores)")
    loss: str = option("huber", "TD loss", choices=("huber", "mse"))
    grad_clip: float = option(10.0, "global gradient-norm clip (0: off)", check=non_negative)
    buffer_size: int = option(
        50_000, "replay buffer capacity (transitions)", check=positive, metavar="N"
    )
    batch_size: int = option(64, "minibatch size", check=positive, metavar="N")
    learning_starts: int = option(
        1_000, "env steps before the first update", check=non_negative, metavar="N"
    )
    train_every: int = option(16, "env steps per gradient update", check=positive, metavar="N")
    target_update: int = option(
        1_000,
        "env steps between hard target copies (ignored when --tau < 1)",
        check=positive,
        metavar="N",
    )
    tau: float = option(
        1.0,
        "Polyak factor per update (1: hard copies every --target-update steps)",
        check=unit_open_closed,
    )
    n_step: int = option(1, "n-step returns", check=positive, metavar="N")
    num_envs: int = option(
        32,
        "environments stepped together (one batched forward pass acts for all)",
        check=positive,
        metavar="N",
    )
    epsilon_start: float = epsilon_start()
    epsilon_end: float = epsilon_end(0.02)
    epsilon_decay: int = epsilon_decay(20_000)
    epsilon_schedule: str = epsilon_schedule()
    save_replay: bool = option(False, "include the replay buffer in checkpoints")
    encoder: str | None = option(
        None,
        "image envs: autoencoder:PATH or mnist-cnn:PATH[@LAYER] (a frozen encoder saved by "
        "networks.train), or cnn (learn a convolutional Q-network end to end); "
        "default: the flattened pixels",
        metavar="SPEC",
    )

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class AgentKind:
    name: str
    config: type
    title: str  # for people: the dashboard, errors
    label: str  # in run folder names
    how: str  # the flag that chooses it


AGENTS = {
    "tabular": AgentKind("tabular", TabularConfig, "tabular Q-learning", "tabular", "no --q-net"),
    "classic": AgentKind(
        "classic", ClassicConfig, "classic one-layer Q-network", "qnet-classic", "--q-net classic"
    ),
    "dqn": AgentKind("dqn", DQNConfig, "DQN", "dqn", "--q-net"),
}

#: What differs from the dataclass defaults, per agent and lake size (small: 16 cells or fewer).
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "tabular": {
        "small": {"episodes": 10_000},
        "large": {"episodes": 50_000, "lr_decay": 40_000, "epsilon_decay": 40_000, "gamma": 0.999},
    },
    "classic": {"small": {"episodes": 6_000}, "large": {"episodes": 6_000}},
    "dqn": {  # decays in env steps: about what the episodes take on 4x4, half of them on 8x8
        "small": {"episodes": 3_000},
        "large": {
            "episodes": 12_000,
            "lr_decay": 600_000,
            "epsilon_decay": 200_000,
            "gamma": 0.999,
        },
    },
}


def lake_size(rows: tuple[str, ...]) -> str:
    return "small" if len(rows) * len(rows[0]) <= 16 else "large"


# -- the run --------------------------------------------------------------------------------------
@dataclass
class RunConfig:
    """What to train on, for how long, and where the outputs go; ``agent_config`` holds the
    chosen agent's own options."""

    env: str = "frozenlake"
    agent: str = "tabular"
    map: str = option(
        "4x4",
        "lake layout: 4x4, 8x8, random:N (drawn from --map-seed), or rows like SFFF,FHFH,FFFH,HFFG",
        metavar="MAP",
    )
    slippery: bool = option(True, "moves slip sideways with probability 2/3 (is_slippery)")
    max_episode_steps: int | None = option(
        None,
        "step limit of an episode (default: 100 for 4x4, 200 for 8x8, as Gymnasium)",
        check=positive,
        metavar="N",
    )
    map_seed: int | None = option(None, "seed of a random:N map (default: --seed)", metavar="N")
    data_dir: str | None = option(
        None,
        "frozenlake-digits: folder with MNIST's files (mnist.npz); "
        "default: $DLTF_MNIST_DIR, then the cache",
        metavar="DIR",
    )
    episodes: int | None = option(None, "training episodes", check=positive, metavar="N")
    seed: int = option(0, "seed of everything random: same seed, same numbers", metavar="N")
    eval_episodes: int = option(
        1000,
        "seeded greedy episodes sampled at the end (the exact value is computed too)",
        check=non_negative,
        metavar="N",
    )
    eval_every: int | None = option(
        None,
        "episodes between exact evaluations of the greedy policy "
        "(default: 1/20 of the run; 0: only at the end)",
        check=non_negative,
        metavar="N",
    )
    logdir: str | None = option(
        None,
        "TensorBoard and run folder (default: runs/<env>__<agent>__<seed>__<time>)",
        metavar="DIR",
    )
    dashboard: bool = option(
        True, "live terminal dashboard (plain log lines when stdout is not a terminal)"
    )
    summary_json: str | None = option(
        None, "also write the closing summary as JSON to PATH", metavar="PATH"
    )
    checkpoint_dir: str | None = option(
        None, "where checkpoints go (default: LOGDIR/checkpoints)", metavar="DIR"
    )
    checkpoint_every: int | None = option(
        None,
        "episodes between checkpoints (default: 1/10 of the run)",
        check=non_negative,
        metavar="N",
    )
    resume: bool = option(
        False,
        "continue the run in --logdir (or the latest run with this env, agent and seed) "
        "from its checkpoint",
    )
    agent_config: TabularConfig | ClassicConfig | DQNConfig = field(default_factory=TabularConfig)

    @property
    def kind(self) -> AgentKind:
        return AGENTS[self.agent]

    def to_dict(self) -> dict[str, Any]:
        """The flat form of ``config.json``: keys are the TOML keys."""
        return {"env": self.env, "agent": self.agent, **as_dict(self), **as_dict(self.agent_config)}


RUN_FIELDS = {f.name: f for f in option_fields(RunConfig)}
AGENT_FIELDS: dict[str, dataclasses.Field] = {}
for _kind in AGENTS.values():
    for _field in option_fields(_kind.config):
        AGENT_FIELDS.setdefault(_field.name, _field)


def agents_with(name: str) -> list[AgentKind]:
    return [k for k in AGENTS.values() if any(f.name == name for f in option_fields(k.config))]


def agent_from_q_net(kind: str | bool | None) -> str:
    if kind is None or kind is False:
        return "tabular"
    if kind is True or kind in ("mlp", "dqn"):
        return "dqn"
    if kind == "classic":
        return "classic"
    raise UsageError(f"unknown Q-network {kind!r}: use --q-net classic or --q-net mlp")


# -- reading options ------------------------------------------------------------------------------
def normalise_keys(data: dict[str, Any], source: str) -> dict[str, Any]:
    """TOML or JSON keys (dashes or underscores) to field names, values checked against types."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name == "q_net":
            out["agent"] = agent_from_q_net(value)
        elif name == "agent":
            if value not in AGENTS:
                raise UsageError(f"key 'agent' in {source} must be one of {', '.join(AGENTS)}")
            out["agent"] = value
        elif name in RUN_FIELDS or name in AGENT_FIELDS:
            out[name] = coerce(RUN_FIELDS.get(name) or AGENT_FIELDS[name], value, source)
        else:
            raise UsageError(
                f"unknown key {key!r} in {source}: valid keys are the long flags, "
                "e.g. episodes, map, lr"
            )
    return out


def read_toml(path: str) -> dict[str, Any]:
    """Options from a TOML file (keys as the long flags, dashes or underscores)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"config file {path} not found") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    return normalise_keys(data, source=f"config file {path}")


def read_saved_config(logdir: Path) -> dict[str, Any]:
    """The options of the run in ``logdir`` (its ``config.json``)."""
    path = Path(logdir) / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"{logdir} has no config.json: is it a run folder? (give the run's --logdir)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path} is unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is not a run's config (expected a JSON object)")
    # null means "not set": the field's default (None for every optional field) stands
    known = {
        k: v
        for k, v in data.items()
        if (k in RUN_FIELDS or k in AGENT_FIELDS or k == "agent") and v is not None
    }
    return normalise_keys(known, source=str(path))


def refuse_foreign_options(agent: str, given: dict[str, Any]) -> None:
    """An option of another agent, given for this one, would be silently ignored: refuse it."""
    own = {f.name for f in option_fields(AGENTS[agent].config)}
    for name in given:
        if name in AGENT_FIELDS and name not in own:
            owners = " or ".join(f"{k.title} ({k.how})" for k in agents_with(name))
            raise UsageError(
                f"{flag(name)} does not apply to {AGENTS[agent].title}: it is an option of {owners}"
            )


def build_config(
    given: dict[str, Any], file_values: dict[str, Any], saved: dict[str, Any] | None = None
) -> RunConfig:
    """Layer recipe < saved run < file < flags into a checked :class:`RunConfig`.

    ``saved`` may hold options of another agent kind's recipe (a run folder written before the
    configs were split per agent): those are dropped, while given ones are refused."""
    layered = {**file_values, **given}
    agent = layered.get("agent", (saved or {}).get("agent", "tabular"))
    refuse_foreign_options(agent, layered)
    own = {f.name for f in option_fields(AGENTS[agent].config)} | set(RUN_FIELDS)
    layered = {k: v for k, v in (saved or {}).items() if k in own} | layered
    run_values = {k: v for k, v in layered.items() if k in RUN_FIELDS}
    seed = run_values.get("seed", 0)
    map_seed = run_values.get("map_seed")
    rows = parse_map(run_values.get("map", "4x4"), seed=seed if map_seed is None else map_seed)
    recipe = RECIPES[agent][lake_size(rows)]
    values = {**recipe, **layered}
    agent_values = {k: v for k, v in values.items() if k in AGENT_FIELDS}
    cfg = RunConfig(
        agent=agent,
        agent_config=AGENTS[agent].config(**agent_values),
        **{k: v for k, v in values.items() if k in RUN_FIELDS},
    )
    check(cfg)
    return cfg


def recipe_defaults(name: str) -> str:
    """How each agent's recipe sets ``name``, for ``--help``: one value, or one per agent."""
    parts = []
    for kind in AGENTS.values():
        config_field = next((f for f in option_fields(kind.config) if f.name == name), None)
        if config_field is None and name not in RECIPES[kind.name]["small"]:
            continue
        small = RECIPES[kind.name]["small"].get(name, getattr(config_field, "default", None))
        large = RECIPES[kind.name]["large"].get(name, small)
        shown = display(config_field, small) if config_field else str(small)
        larger = f" ({large} on larger maps)" if large != small else ""
        parts.append((kind.name, shown + larger))
    if len({text for _, text in parts}) == 1:
        return f" (default: {parts[0][1]})"
    return " (default: " + "; ".join(f"{name} {text}" for name, text in parts) + ")"
