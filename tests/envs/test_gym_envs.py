"""Any Gymnasium env by name: option parsing, construction errors as one line, space checks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given
from hypothesis import strategies as st

import envs
from common.errors import UsageError
from envs.gym_envs import check_spaces, closest_names, make_env, parse_env_options
from envs.planner import plan  # noqa: F401 - the project's lake and the planner import together

TOY = "tests.envs.toy_envs:dltf_test/Counter-v0"

keys = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
scalars = (
    st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
    | st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=12)
)
values = scalars | st.lists(scalars, max_size=4) | st.tuples(scalars, scalars)


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text
    return text


@given(st.dictionaries(keys, values, max_size=5))
def test_literal_values_round_trip(options):
    pairs = [f"{k}={v!r}" for k, v in options.items()]
    assert parse_env_options(pairs) == options


@given(keys, st.from_regex(r"[A-Za-z][A-Za-z0-9x:,.\-]{0,15}", fullmatch=True))
def test_bare_words_stay_strings(key, word):
    lowered = word.lower()
    if lowered in {"true", "false", "none", "null", "inf", "nan"}:
        return
    try:
        expected = eval(word, {"__builtins__": {}}, {})  # noqa: S307 - literals only: numbers
    except Exception:  # noqa: BLE001
        expected = word
    assert parse_env_options([f"{key}={word}"]) == {key: expected}


@pytest.mark.parametrize(
    "word, value",
    [
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("none", None),
        ("None", None),
        ("8x8", "8x8"),
        ("1e3", 1000.0),
        ("-2", -2),
        ("SFFF,FHFH", "SFFF,FHFH"),
        ("", ""),
    ],
)
def test_words(word, value):
    assert parse_env_options([f"k={word}"]) == {"k": value}


def test_issue_example():
    assert parse_env_options(["map_name=8x8", "is_slippery=false"]) == {
        "map_name": "8x8",
        "is_slippery": False,
    }


@given(
    st.sampled_from(
        ["noequals", "=1", " =1", "1a=1", "a-b=1", "a b=2", "x=[1,2", "x=(1,", "x='a", "x={1:"]
    )
    | st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=10).filter(
        lambda t: "=" not in t
    )
)
def test_malformed_pairs_are_one_line(pair):
    with pytest.raises(UsageError) as exc:
        parse_env_options([pair])
    text = one_line(exc)
    assert repr(pair) in text and "KEY=VALUE" in text or "quote strings" in text


def test_key_given_twice():
    with pytest.raises(UsageError, match="twice"):
        parse_env_options(["a=1", "a=2"])


# -- make_env -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, limit",
    [("CartPole-v1", 500), ("Taxi-v4", 200), ("CliffWalking-v1", None), ("FrozenLake-v1", 100)],
)
def test_registered_ids(name, limit):
    env = make_env(name)
    assert env.spec.id == name and env.spec.max_episode_steps == limit
    env.reset(seed=0)
    env.step(env.action_space.sample())


def test_options_and_step_limit_reach_gymnasium():
    env = make_env(
        "FrozenLake-v1",
        parse_env_options(["map_name=8x8", "is_slippery=false"]),
        max_episode_steps=17,
    )
    assert env.unwrapped.desc.shape == (8, 8) and env.spec.max_episode_steps == 17
    assert all(len(t) == 1 for s in env.unwrapped.P.values() for t in s.values())


def test_project_names_stay_project_classes():
    env = make_env("frozenlake", {"map": "8x8"}, max_episode_steps=33)
    assert isinstance(env, envs.FrozenLakeEnv) and env.max_episode_steps == 33
    assert isinstance(make_env("dltf/FrozenLake-v0"), envs.FrozenLakeEnv)
    assert isinstance(make_env("frozenlake-pixels"), envs.FrozenLakePixelsEnv)


def test_module_form_imports_the_module():
    env = make_env(TOY)
    assert env.spec.max_episode_steps == 3


@pytest.mark.parametrize(
    "name, options, pieces",
    [
        ("CartPol-v1", {}, ["unknown environment", "CartPole-v1"]),
        ("taxi-v4", {}, ["Taxi-v4"]),
        ("frozenlak", {}, ["frozenlake"]),
        ("no_such_module_xyz:Foo-v0", {}, ["no_such_module_xyz", "does not import"]),
        ("FrozenLake-v1", {"slipery": True}, ["'slipery'", "is_slippery"]),
        ("frozenlake", {"map_name": "8x8"}, ["'map_name'", "map"]),
        ("FrozenLake-v1", {"map_name": "9x9"}, ["failed to construct", "KeyError"]),
        ("tests.envs.toy_envs:dltf_test/Failing-v0", {}, ["licence has expired"]),
        ("tests.envs.toy_envs:dltf_test/BadReset-v0", {}, ["env_checker", "observation space"]),
        ("tests.envs.toy_envs:dltf_test/NoSeed-v0", {}, ["env_checker", "seed"]),
        ("FrozenLake-v1", {"max_episode_steps": 3}, ["--max-episode-steps"]),
        ("", {}, ["give an environment"]),
    ],
)
def test_bad_envs_are_one_line(name, options, pieces):
    with pytest.raises(UsageError) as exc:
        make_env(name, options)
    text = one_line(exc)
    for piece in pieces:
        assert piece in text


def test_missing_box2d_names_the_extra():
    try:
        import Box2D  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError, match=r"pip install -e '\.\[box2d\]'"):
            make_env("LunarLander-v3")
    else:
        assert make_env("LunarLander-v3").action_space.n == 4


@given(
    st.text(
        st.characters(codec="ascii", exclude_categories=("Cc",)), min_size=1, max_size=20
    ).filter(lambda t: ":" not in t)  # no module:EnvId: importing random module names has effects
    | st.builds(lambda m: f"no_such_pkg_{m}:Env-v0", st.from_regex(r"[a-z]{1,8}", fullmatch=True))
)
def test_any_unknown_name_is_one_line_or_an_env(name):
    try:
        env = make_env(name, check=False)
    except UsageError as exc:
        assert "\n" not in str(exc)
    else:
        env.close()


def test_closest_names_are_registered():
    assert closest_names("Cartpole-v1")[0] == "CartPole-v1"


# -- spaces ---------------------------------------------------------------------------------------
class Spaces(gym.Env):
    def __init__(self, obs: spaces.Space, act: spaces.Space) -> None:
        self.observation_space, self.action_space = obs, act


BOX1 = spaces.Box(-1.0, 1.0, (3,), np.float32)
IMAGE = spaces.Box(0, 255, (8, 8, 3), np.uint8)
GRAY = spaces.Box(0, 255, (8, 8), np.uint8)


@pytest.mark.parametrize(
    "obs, agents_ok",
    [
        (spaces.Discrete(5), {"tabular", "classic", "dqn"}),
        (BOX1, {"dqn"}),
        (IMAGE, {"dqn"}),
        (GRAY, {"dqn"}),
        (spaces.Box(-1.0, 1.0, (2, 3), np.float32), set()),
        (spaces.Dict({"a": spaces.Discrete(2)}), set()),
        (spaces.Tuple((spaces.Discrete(2), spaces.Discrete(3))), set()),
        (spaces.Text(5), set()),
        (spaces.MultiDiscrete([2, 3]), set()),
    ],
)
def test_observation_spaces(obs, agents_ok):
    env = Spaces(obs, spaces.Discrete(2))
    for agent in ("tabular", "classic", "dqn"):
        if agent in agents_ok:
            check_spaces(env, agent)
        else:
            with pytest.raises(UsageError) as exc:
                check_spaces(env, agent)
            text = one_line(exc)
            assert str(obs) in text
            if isinstance(obs, spaces.Box) and agent != "dqn":
                assert "--q-net" in text
            if isinstance(obs, (spaces.Dict, spaces.Tuple)):
                assert "FlattenObservation" in text


def test_continuous_actions_are_refused_with_the_fix():
    env = Spaces(BOX1, spaces.Box(-1.0, 1.0, (2,), np.float32))
    with pytest.raises(UsageError) as exc:
        check_spaces(env, "dqn")
    text = one_line(exc)
    assert "Box(-1.0, 1.0, (2,), float32) actions" in text and "LunarLander-v3" in text
    with pytest.raises(UsageError, match="MultiDiscrete"):
        check_spaces(Spaces(BOX1, spaces.MultiDiscrete([2, 2])), "dqn")


def test_vector_envs_are_judged_by_one_copy():
    venv = envs.make_vector_env("CartPole-v1", {}, 2, seed=0)
    check_spaces(venv, "dqn")
    with pytest.raises(UsageError, match="--q-net"):
        check_spaces(venv, "tabular")


def test_discrete_spaces_must_count_from_zero():
    with pytest.raises(UsageError, match="start=1"):
        check_spaces(Spaces(spaces.Discrete(3, start=1), spaces.Discrete(2)), "tabular")
    with pytest.raises(UsageError, match="actions from 0"):
        check_spaces(Spaces(spaces.Discrete(3), spaces.Discrete(2, start=-1)), "dqn")


def test_the_env_checker_runs_once_per_env_and_options(monkeypatch):
    import envs.gym_envs as gym_envs

    calls = []
    monkeypatch.setattr(gym_envs, "_CHECKED", set())
    monkeypatch.setattr(gym_envs, "check_api", lambda env_id, build: calls.append(env_id))
    make_env("Taxi-v4")
    make_env("Taxi-v4")
    make_env("Taxi-v4", {"is_rainy": True})
    make_env("Taxi-v4", check=False, max_episode_steps=9)
    assert calls == ["Taxi-v4", "Taxi-v4"]


def test_space_names_are_short():
    from envs.spaces import space_name

    cartpole = envs.make_env("CartPole-v1").observation_space
    assert space_name(cartpole) == "Box(-inf..inf, (4,), float32)"
    assert space_name(BOX1) == "Box(-1.0, 1.0, (3,), float32)"
    with pytest.raises(UsageError) as exc:
        check_spaces(envs.make_env("CartPole-v1"), "tabular")
    assert len(one_line(exc)) < 160
