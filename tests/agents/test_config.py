"""The per-agent configs: flags, TOML keys, config.json and recipes all come from their fields."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.config import (
    AGENT_FIELDS,
    AGENTS,
    RECIPES,
    RUN_FIELDS,
    ClassicConfig,
    DQNConfig,
    TabularConfig,
    build_config,
    normalise_keys,
    read_saved_config,
)
from agents.options import flag, option_fields, scalar_type, spec_of
from agents.run import build_parser, main, resolve_config
from common.errors import UsageError, run_main

FOREIGN = [
    (agent, name)
    for agent, kind in AGENTS.items()
    for name in AGENT_FIELDS
    if name not in {f.name for f in option_fields(kind.config)}
]
Q_NET = {"tabular": [], "classic": ["--q-net", "classic"], "dqn": ["--q-net"]}


def sample_text(f: dataclasses.Field) -> str:
    """A valid command-line value for field ``f``."""
    spec = spec_of(f)
    if spec.choices:
        return spec.choices[-1]
    if spec.parse is not None:
        return "32,16"
    return {int: "3", float: "0.5", str: "x"}[scalar_type(f)]


def toml_line(f: dataclasses.Field) -> str:
    if scalar_type(f) is bool:
        return f"{f.name} = true"
    if scalar_type(f) in (int, float) and spec_of(f).parse is None:
        return f"{f.name} = {sample_text(f)}"
    return f'{f.name} = "{sample_text(f)}"'


def test_every_agent_has_options_that_no_other_shares():
    assert FOREIGN, "the agents' options would all be shared: nothing to refuse"
    assert {agent for agent, _ in FOREIGN} == set(AGENTS)


@pytest.mark.parametrize(("agent", "name"), FOREIGN)
def test_an_option_of_another_agent_is_refused(agent, name, tmp_path):
    f = AGENT_FIELDS[name]
    value = [] if scalar_type(f) is bool else [sample_text(f)]
    argv = ["frozenlake", *Q_NET[agent], flag(name), *value, "--logdir", str(tmp_path / "run")]
    with pytest.raises(UsageError, match=f"{flag(name)} does not apply to {AGENTS[agent].title}"):
        resolve_config(argv)
    # ... and from a TOML file just the same
    toml = tmp_path / "run.toml"
    toml.write_text(toml_line(f) + "\n")
    with pytest.raises(UsageError, match="does not apply"):
        resolve_config(["frozenlake", *Q_NET[agent], "--config", str(toml)])
    assert not (tmp_path / "run").exists()


def test_the_refusal_is_one_line_exit_2(capsys):
    code = run_main(main, ["frozenlake", "--q-net", "classic", "--epsilon-decay", "10"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--epsilon-decay does not apply to classic one-layer Q-network" in err
    assert "tabular Q-learning (no --q-net) or DQN (--q-net)" in err


def test_help_lists_every_option_once():
    text = build_parser().format_help()
    for name in [*RUN_FIELDS, *AGENT_FIELDS]:
        assert text.count(flag(name) + " ") + text.count(flag(name) + ",") >= 1, name
    assert "options of DQN (--q-net)" in text and "--hidden SIZES" in text


@pytest.mark.parametrize("agent", list(AGENTS))
@pytest.mark.parametrize("lake", ["4x4", "8x8"])
def test_recipes_are_the_dataclass_defaults_plus_the_table(agent, lake):
    cfg = build_config({"agent": agent, "map": lake}, {})
    size = "small" if lake == "4x4" else "large"
    expected = dataclasses.replace(
        AGENTS[agent].config(),
        **{k: v for k, v in RECIPES[agent][size].items() if k != "episodes"},
    )
    assert cfg.agent_config == expected
    assert cfg.episodes == RECIPES[agent][size]["episodes"]


def decays(cfg) -> tuple[int, int]:
    """(epsilon, learning-rate) decay lengths the agent of ``cfg`` runs with, at its budget."""
    from agents.builders import make_agent, make_env

    agent = make_agent(cfg, make_env(cfg))
    agent.set_budget(cfg.episodes, cfg.steps)
    return agent.epsilon.duration, agent.lr.duration


def test_recipes_keep_their_figures():
    """The tuned values the README's figures were measured with: decays are fractions of the run
    now, and at the recipes' own budgets they are the absolute lengths of before."""
    tab4 = build_config({}, {})
    assert tab4.episodes == 10_000 and decays(tab4) == (8_000, 8_000)
    tab8 = build_config({"map": "8x8"}, {})
    assert (tab8.episodes, tab8.agent_config.gamma) == (50_000, 0.999)
    assert decays(tab8) == (40_000, 40_000)
    dqn4 = build_config({"agent": "dqn"}, {})
    assert (dqn4.agent_config.lr, dqn4.agent_config.lr_end) == (1e-3, 1e-5)
    assert decays(dqn4) == (20_000, 60_000)
    dqn8 = build_config({"agent": "dqn", "map": "8x8"}, {})
    assert dqn8.episodes == 12_000 and decays(dqn8) == (200_000, 600_000)
    assert build_config({"agent": "classic"}, {}).agent_config == ClassicConfig(gamma=0.99, lr=0.1)


@pytest.mark.parametrize("episodes", [500, 2_000, 20_000])
def test_a_shorter_or_longer_run_keeps_the_recipes_shape(episodes):
    """frozenlake --episodes 2000 used to end with epsilon 0.75: the decays now scale."""
    cfg = build_config({"episodes": episodes}, {})
    assert decays(cfg) == (round(0.8 * episodes), round(0.8 * episodes))
    dqn = build_config({"agent": "dqn", "episodes": episodes}, {})
    assert decays(dqn) == (round(episodes * 20 / 3), episodes * 20)


def test_an_absolute_decay_stays_available():
    cfg = build_config({"episodes": 2_000, "epsilon_decay": 300}, {})
    assert decays(cfg) == (300, 1_600)
    steps = build_config({"steps": 40_000}, {})  # a step budget: the tabular clock is env steps
    assert steps.episodes is None and decays(steps) == (32_000, 32_000)


def agent_values(agent: str) -> st.SearchStrategy[dict]:
    """Valid values for a random subset of ``agent``'s options."""
    strategies = {
        "gamma": st.floats(0.5, 1.0),
        "lr": st.floats(1e-4, 1.0),
        "lr_end": st.floats(1e-4, 1.0),
        "lr_decay": st.integers(0, 10**6),
        "epsilon_start": st.floats(0.0, 1.0),
        "epsilon_end": st.floats(0.0, 1.0),
        "epsilon_decay": st.integers(0, 10**6),
        "hidden": st.lists(st.integers(1, 512), min_size=1, max_size=3).map(tuple),
        "batch_size": st.integers(1, 512),
        "tau": st.floats(0.01, 1.0),
        "double": st.booleans(),
        "n_step": st.integers(1, 5),
    }
    own = {f.name for f in option_fields(AGENTS[agent].config)}
    return st.fixed_dictionaries({}, optional={k: v for k, v in strategies.items() if k in own})


@settings(max_examples=60, deadline=None)
@given(data=st.data(), agent=st.sampled_from(list(AGENTS)), seed=st.integers(0, 2**31))
def test_config_json_round_trips(tmp_path_factory, data, agent, seed):
    values = data.draw(agent_values(agent))
    cfg = build_config({"agent": agent, "seed": seed, **values}, {})
    folder = tmp_path_factory.mktemp("run")
    (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
    resumed = build_config({}, {}, read_saved_config(folder))
    assert resumed == cfg


@settings(max_examples=60, deadline=None)
@given(
    values=st.dictionaries(st.sampled_from(sorted(AGENT_FIELDS)), st.text(max_size=5), max_size=3)
)
def test_toml_values_of_the_wrong_type_are_one_line_errors(values):
    typed = {k: v for k, v in values.items() if scalar_type(AGENT_FIELDS[k]) is not str}
    if not typed:
        return
    with pytest.raises(UsageError) as info:
        normalise_keys(typed, source="config file x.toml")
    assert "\n" not in str(info.value)


def test_hidden_sizes_from_text_or_list():
    assert normalise_keys({"hidden": "64,32"}, "t")["hidden"] == (64, 32)
    assert normalise_keys({"hidden": [64, 32]}, "t")["hidden"] == (64, 32)
    assert build_config({"agent": "dqn", "hidden": (8,)}, {}).to_dict()["hidden"] == "8"
    with pytest.raises(UsageError, match="--hidden must be layer sizes"):
        normalise_keys({"hidden": "64,0"}, "t")


def test_a_config_json_written_with_every_agents_options_still_resumes(tmp_path):
    """Run folders written before the configs were split held every option of every agent."""
    old = {
        "agent": "classic", "env": "frozenlake", "map": "4x4", "seed": 3, "episodes": 6000,
        "gamma": 0.99, "lr": 0.1, "epsilon_decay": 0, "epsilon_end": 0.0,
        "epsilon_schedule": "inverse", "exploration": "epsilon", "hidden": "64", "double": True,
        "checkpoint_every": None, "resume": False, "lr_decay": None, "lr_end": None,
    }  # fmt: skip
    (tmp_path / "config.json").write_text(json.dumps(old))
    cfg = build_config({}, {}, read_saved_config(tmp_path))
    assert cfg.agent == "classic" and cfg.seed == 3
    assert cfg.agent_config == ClassicConfig(gamma=0.99, lr=0.1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TabularConfig(lr=1.5), "--lr must be in (0, 1]"),
        (lambda: DQNConfig(tau=0), "--tau must be in (0, 1]"),
        (lambda: DQNConfig(loss="l1"), "--loss must be one of huber, mse"),
        (lambda: ClassicConfig(gamma=2), "--gamma must be in (0, 1]"),
    ],
)
def test_configs_check_themselves_from_python_too(make, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("[", r"\[")):
        make()
