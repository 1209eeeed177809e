"""One config dataclass per agent and one for the run; their fields are the options.

The dataclass defaults are each agent's recipe for the 4x4 lake; ``RECIPES`` holds what changes
on larger maps, tuned so that the final greedy policy ends near the optimum, and
:mod:`agents.recipes` the recipes of other envs by id (a generic one sized from the spaces for
the rest): :func:`build_config` with ``env=`` (or the Python API, ``agents.DQN("CartPole-v1")``)
applies them, so a config for another env never carries the lake's values unasked. Precedence
when a run is configured, lowest first: the recipe, the run being resumed, the ``--config`` TOML
file, then the flags given on the command line (or the API's keyword arguments).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.options import (
    as_dict,
    check,
    coerce,
    display,
    flag,
    load_json_object,
    load_toml,
    non_negative,
    option,
    option_fields,
    positive,
    probability,
    unit_open_closed,
)
from agents.recipes import GYM_RECIPES, LAKE_RECIPES, EnvFacts, gym_recipe, lake_size
from common.errors import UsageError
from common.numbers import parse_number
from envs.maps import parse_map

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
    return option(default, "learning rate at the end of its decay", check=positive)


def lr_decay(unit: str) -> Any:
    help_ = (
        f"absolute length of the learning-rate decay, in {unit} (default: --lr-fraction of the run)"
    )
    return option(None, help_, check=non_negative, metavar="N")


def lr_fraction(default: float) -> Any:
    help_ = "fraction of the run over which the learning rate decays (unless --lr-decay)"
    return option(default, help_, check=probability)


def lr_schedule() -> Any:
    return option("linear", "shape of the learning-rate decay", choices=SCHEDULES[:2])


def epsilon_start() -> Any:
    return option(1.0, "exploration rate at the start", check=probability)


def epsilon_end(default: float) -> Any:
    return option(default, "exploration rate at the end of its decay", check=probability)


def epsilon_decay(unit: str) -> Any:
    help_ = (
        f"absolute length of the epsilon decay, in {unit} (default: --epsilon-fraction of the run)"
    )
    return option(None, help_, check=non_negative, metavar="N")


def epsilon_fraction(default: float) -> Any:
    help_ = "fraction of the run over which epsilon decays (unless --epsilon-decay)"
    return option(default, help_, check=probability)


def epsilon_schedule() -> Any:
    help_ = "shape of the epsilon decay (inverse: the 2017 1/(episode/50+10))"
    return option("linear", help_, choices=SCHEDULES)


def parse_hidden(text: str) -> tuple[int, ...]:
    try:  # ASCII digits only: int("٦٤") is 64 in Python
        parts = [part for part in str(text).split(",") if part.strip()]
        sizes = tuple(parse_number(part, int, "--hidden") for part in parts)
    except UsageError:
        sizes = ()
    if not sizes or min(sizes) <= 0:
        raise UsageError(
            f"--hidden must be layer sizes separated by commas, like 64,64; got {text!r}"
        )
    return sizes


# -- the agents -----------------------------------------------------------------------------------
@dataclass
class TabularConfig:
    """Tabular Q-learning; decays are counted in episodes (in env steps under a --steps budget)."""

    gamma: float = gamma()
    lr: float = lr(0.1)
    lr_end: float = lr_end(0.01)
    lr_decay: int | None = lr_decay("episodes (env steps when the budget is --steps)")
    lr_fraction: float = lr_fraction(0.8)
    lr_schedule: str = lr_schedule()
    exploration: str = option(
        "epsilon",
        "epsilon-greedy, or the 2017 noisy argmax (Q + N(0,1)/(episode+1))",
        choices=("epsilon", "noisy"),
    )
    epsilon_start: float = epsilon_start()
    epsilon_end: float = epsilon_end(0.01)
    epsilon_decay: int | None = epsilon_decay("episodes (env steps when the budget is --steps)")
    epsilon_fraction: float = epsilon_fraction(0.8)
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
    lr_decay: int | None = lr_decay("env steps")
    lr_fraction: float = lr_fraction(1.0)
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
    epsilon_decay: int | None = epsilon_decay("env steps")
    epsilon_fraction: float = epsilon_fraction(1 / 3)
    episode_length: float | None = option(
        None,
        "env steps an episode is expected to take: turns an --episodes budget into env steps "
        "for the decays (default: the env's step limit)",
        check=positive,
        metavar="N",
    )
    epsilon_schedule: str = epsilon_schedule()
    save_replay: bool = option(
        True, "keep the replay buffer with each checkpoint (a resume then goes on exactly)"
    )
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

#: The lakes' recipes (what differs from the dataclass defaults, per agent and lake size); the
#: recipes of other envs are in :mod:`agents.recipes`.
RECIPES = LAKE_RECIPES
LAKES = ("frozenlake", "frozenlake-pixels", "frozenlake-digits")
#: Options that only the project's own lakes read.
LAKE_OPTIONS = ("map", "slippery", "map_seed", "data_dir")
BUDGET = ("episodes", "steps")


def is_lake(env: str) -> bool:
    return env.lower() in LAKES


# -- the run --------------------------------------------------------------------------------------
@dataclass
class RunConfig:
    """What to train on, for how long, and where the outputs go; ``agent_config`` holds the
    chosen agent's own options, ``env_options`` the env constructor's keyword arguments."""

    env: str = "frozenlake"
    agent: str = "tabular"
    map: str = option(
        "4x4",
        "project lakes: layout 4x4, 8x8, random:N (drawn from --map-seed), or rows like "
        "SFFF,FHFH,FFFH,HFFG (FrozenLake-v1: --env-option map_name=8x8)",
        metavar="MAP",
    )
    slippery: bool = option(
        True, "project lakes: moves slip sideways with probability 2/3 (is_slippery)"
    )
    max_episode_steps: int | None = option(
        None,
        "step limit of an episode (default: the env's own; 100 for 4x4 lakes, 200 for 8x8)",
        check=positive,
        metavar="N",
    )
    map_seed: int | None = option(
        None, "project lakes: seed of a random:N map (default: --seed)", metavar="N"
    )
    data_dir: str | None = option(
        None,
        "frozenlake-digits: folder with MNIST's files (mnist.npz); "
        "default: $DLTF_MNIST_DIR, then the cache",
        metavar="DIR",
    )
    episodes: int | None = option(None, "training budget in episodes", check=positive, metavar="N")
    steps: int | None = option(
        None,
        "training budget in env steps (SB3's total_timesteps); with --episodes too, the run "
        "stops at whichever comes first",
        check=positive,
        metavar="N",
    )
    seed: int = option(0, "seed of everything random: same seed, same numbers", metavar="N")
    async_envs: bool = option(
        False, "DQN: step its environments in subprocesses (Gymnasium's AsyncVectorEnv)"
    )
    eval_episodes: int | None = option(
        None,
        "greedy episodes sampled at the end, on seeds disjoint from training (default: 1000 on "
        "the lakes, 100 elsewhere; the exact value is computed too where the env has a model)",
        check=non_negative,
        metavar="N",
    )
    eval_every: int | None = option(
        None,
        "episodes (env steps under a --steps budget) between evaluations of the greedy policy, "
        "the best one kept (default: 1/100 of the run where the env has a model, 1/20 "
        "elsewhere; 0: only at the end)",
        check=non_negative,
        metavar="N",
    )
    eval_check_episodes: int = option(
        10,
        "greedy episodes of each periodic evaluation, where the env has no model (a model's "
        "evaluation is exact)",
        check=positive,
        metavar="N",
    )
    keep_final: bool = option(
        False, "hand over the final policy instead of the best one the evaluations saw"
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
        "episodes (env steps under a --steps budget) between checkpoints "
        "(default: 1/10 of the run)",
        check=non_negative,
        metavar="N",
    )
    resume: bool = option(
        False,
        "continue the run in --logdir (or the latest run with this env, agent and seed) "
        "from its checkpoint",
    )
    agent_config: TabularConfig | ClassicConfig | DQNConfig = field(default_factory=TabularConfig)
    env_options: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> AgentKind:
        return AGENTS[self.agent]

    @property
    def budget_unit(self) -> str:
        """What the run counts: episodes, or env steps when only --steps bounds it."""
        return "episodes" if self.episodes is not None else "steps"

    @property
    def budget(self) -> int:
        return int(self.episodes if self.episodes is not None else self.steps)

    def to_dict(self) -> dict[str, Any]:
        """The flat form of ``config.json``: keys are the TOML keys (``env_options`` is the TOML
        ``[env]`` table)."""
        return {
            "env": self.env,
            "agent": self.agent,
            **as_dict(self),
            **as_dict(self.agent_config),
            "env_options": dict(self.env_options),
        }


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
def env_table(value: Any, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UsageError(
            f"'env' in {source} must be a table of the env's options, "
            "like [env] is_slippery = false"
        )
    return {str(k): v for k, v in value.items()}


def normalise_keys(data: dict[str, Any], source: str) -> dict[str, Any]:
    """TOML or JSON keys (dashes or underscores) to field names, values checked against types;
    the ``[env]`` table (``env_options`` in ``config.json``) holds the env's own options."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name == "q_net":
            out["agent"] = agent_from_q_net(value)
        elif name == "agent":
            if not isinstance(value, str) or value not in AGENTS:
                raise UsageError(f"key 'agent' in {source} must be one of {', '.join(AGENTS)}")
            out["agent"] = value
        elif name in ("env", "env_options"):
            out["env_options"] = env_table(value, source)
        elif name in RUN_FIELDS or name in AGENT_FIELDS:
            out[name] = coerce(RUN_FIELDS.get(name) or AGENT_FIELDS[name], value, source)
        else:
            raise UsageError(
                f"unknown key {key!r} in {source}: valid keys are the long flags, "
                "e.g. episodes, map, lr, and the [env] table"
            )
    return out


def read_toml(path: str) -> dict[str, Any]:
    """Options from a TOML file (keys as the long flags, dashes or underscores; an ``[env]``
    table for the env's constructor options)."""
    data = load_toml(path)  # missing, a folder, not UTF-8, too deep, too big: one line
    return normalise_keys(data, source=f"config file {path}")


#: Paths that ``config.json`` stores relative to the run folder when they lie inside it, so a
#: copied run folder resumes into itself.
FOLDER_PATHS = ("logdir", "checkpoint_dir")


def relative_paths(values: dict[str, Any], logdir: Path) -> dict[str, Any]:
    """``values`` with the run folder's own paths written relative to it (``.`` for itself)."""
    out = dict(values)
    root = Path(logdir).resolve()
    for key in FOLDER_PATHS:
        if out.get(key) is None:
            continue
        path = Path(out[key]).resolve()
        if path == root or root in path.parents:
            out[key] = str(path.relative_to(root)) if path != root else "."
    return out


def read_saved_config(logdir: Path) -> dict[str, Any]:
    """The options of the run in ``logdir`` (its ``config.json``); paths saved relative to the
    run folder are read relative to where it is now."""
    path = Path(logdir) / "config.json"
    if not path.is_file():
        raise UsageError(
            f"{logdir} has no config.json: is it a run folder? (give the run's --logdir)"
        )
    data = load_json_object(path)  # strict JSON (no NaN), UTF-8, an object: else one line
    # null means "not set": the field's default (None for every optional field) stands
    known = {
        k: v
        for k, v in data.items()
        if (k in RUN_FIELDS or k in AGENT_FIELDS or k in ("agent", "env_options")) and v is not None
    }
    for key in FOLDER_PATHS:
        if isinstance(known.get(key), str) and not Path(known[key]).is_absolute():
            known[key] = str(Path(logdir) / known[key]) if known[key] != "." else str(logdir)
    return normalise_keys(known, source=str(path))


def saved_env(logdir: Path) -> str | None:
    """The env name a run folder was trained on."""
    try:
        data = json.loads((Path(logdir) / "config.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data.get("env") if isinstance(data, dict) else None


def refuse_foreign_options(agent: str, given: dict[str, Any]) -> None:
    """An option of another agent, given for this one, would be silently ignored: refuse it."""
    own = {f.name for f in option_fields(AGENTS[agent].config)}
    for name in given:
        if name in AGENT_FIELDS and name not in own:
            owners = " or ".join(f"{k.title} ({k.how})" for k in agents_with(name))
            raise UsageError(
                f"{flag(name)} does not apply to {AGENTS[agent].title}: it is an option of {owners}"
            )


def refuse_lake_options(env: str, given: dict[str, Any]) -> None:
    for name in LAKE_OPTIONS:
        if name in given and not is_lake(env):
            hint = (
                " (for FrozenLake-v1: --env-option map_name=8x8, --env-option is_slippery=false)"
                if name in ("map", "slippery")
                else ""
            )
            raise UsageError(
                f"{flag(name)} is an option of the project's lakes ({', '.join(LAKES)}), "
                f"not of {env}{hint}"
            )
    if is_lake(env) and given.get("env_options"):
        raise UsageError(
            f"{env} takes its options as flags (--map, --slippery, --max-episode-steps), "
            "not --env-option"
        )


def recipe_for(
    env: str, agent: str, run_values: dict[str, Any], facts: EnvFacts | None
) -> dict[str, Any]:
    """The recipe of ``agent`` on ``env``: the lakes' by map size, else by Gymnasium id."""
    if is_lake(env):
        seed = run_values.get("seed", 0)
        map_seed = run_values.get("map_seed")
        rows = parse_map(run_values.get("map", "4x4"), seed=seed if map_seed is None else map_seed)
        recipe = dict(RECIPES[agent][lake_size(rows)])
        recipe.setdefault("eval_episodes", 1000)
        return recipe
    rows = facts.lake_rows if facts is not None else None
    recipe = gym_recipe(env, agent, facts, rows)
    recipe.setdefault("eval_episodes", 1000 if rows is not None else 100)
    return recipe


def build_config(
    given: dict[str, Any],
    file_values: dict[str, Any],
    saved: dict[str, Any] | None = None,
    *,
    env: str = "frozenlake",
    facts: EnvFacts | None = None,
) -> RunConfig:
    """Layer recipe < saved run < file < flags into a checked :class:`RunConfig`.

    A budget given in the file or on the command line (``episodes``, ``steps``) replaces the
    recipe's and the saved run's whole budget. ``saved`` may hold options of another agent
    kind's recipe (a run folder written before the configs were split per agent): those are
    dropped, while given ones are refused. ``facts`` (the env's spaces and step limit) size the
    generic recipe of an env that has none."""
    layered = {**file_values, **given}
    agent = layered.get("agent", (saved or {}).get("agent", "tabular"))
    refuse_foreign_options(agent, layered)
    refuse_lake_options(env, layered)
    own = {f.name for f in option_fields(AGENTS[agent].config)} | set(RUN_FIELDS)
    own.add("env_options")
    earlier = {k: v for k, v in (saved or {}).items() if k in own}
    run_values = {k: v for k, v in (earlier | layered).items() if k in RUN_FIELDS}
    recipe = recipe_for(env, agent, run_values, facts)
    if any(k in layered for k in BUDGET):
        recipe = {k: v for k, v in recipe.items() if k not in BUDGET}
        earlier = {k: v for k, v in earlier.items() if k not in BUDGET}
    elif any(k in earlier for k in BUDGET):
        recipe = {k: v for k, v in recipe.items() if k not in BUDGET}
    values = {**recipe, **earlier, **layered}
    agent_values = {k: v for k, v in values.items() if k in AGENT_FIELDS}
    cfg = RunConfig(
        env=env,
        agent=agent,
        agent_config=AGENTS[agent].config(**agent_values),
        env_options=dict(values.get("env_options") or {}),
        **{k: v for k, v in values.items() if k in RUN_FIELDS},
    )
    check(cfg)
    if cfg.episodes is None and cfg.steps is None:
        cfg.steps = 100_000
    return cfg


def recipe_defaults(name: str) -> str:
    """How each agent's lake recipe sets ``name``, for ``--help``: one value, or one per agent;
    other envs take theirs from :mod:`agents.recipes`."""

    def shown(field_, value) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return display(field_, value) if field_ is not None else str(value)

    parts = []
    for kind in AGENTS.values():
        config_field = next((f for f in option_fields(kind.config) if f.name == name), None)
        if config_field is None and name not in RECIPES[kind.name]["small"]:
            continue
        small = RECIPES[kind.name]["small"].get(name, getattr(config_field, "default", None))
        large = RECIPES[kind.name]["large"].get(name, small)
        larger = f" ({shown(config_field, large)} on larger maps)" if large != small else ""
        parts.append((kind.name, shown(config_field, small) + larger))
    if not parts:
        return None
    if len({text for _, text in parts}) == 1:
        text = parts[0][1]
    else:
        text = "; ".join(f"{name} {text}" for name, text in parts)
    recipes = [*(r for rs in RECIPES.values() for r in rs.values())]
    recipes += [r for rs in GYM_RECIPES.values() for r in rs.values()]
    if name in BUDGET or any(name in r for r in recipes):
        return f" (default on the lakes: {text}; other envs: their recipe, agents/recipes.py)"
    return f" (default: {text})"
