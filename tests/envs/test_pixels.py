"""Image-observation FrozenLake: rendering, noise, digits, determinism, registration, planner."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.frozenlake import DOWN, RIGHT
from envs.pixels import AGENT_GRAY, GRAY_LEVELS, FrozenLakeDigitsEnv
from envs.planner import plan


def synthetic_digits(size: int = 3, per_digit: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Image k of digit d is filled with 10 * d + k, so a test can read what was drawn."""
    labels = np.repeat(np.arange(10), per_digit)
    images = (10 * labels + np.tile(np.arange(per_digit), 10)).astype(np.uint8)
    return np.broadcast_to(images[:, None, None], (len(labels), size, size)).copy(), labels


def checked(env: gymnasium.Env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no spec, cannot test other render modes" and the like
        check_env(env)


@pytest.mark.parametrize(
    "name, options",
    [
        ("frozenlake-pixels", {}),
        ("frozenlake-pixels", {"color": "rgb", "image_size": (10, 13), "noise": 0.1}),
        ("frozenlake-digits", {"digits": synthetic_digits()}),
    ],
)
def test_passes_check_env_and_gymnasium_ids_exist(name, options):
    env = envs.make(name, render_mode="rgb_array", **options)
    checked(env)
    assert env.render().shape[-1] == 3
    gym_id = envs._GYM_IDS[name]
    made = gymnasium.make(gym_id, **options)
    obs, _ = made.reset(seed=0)
    assert made.observation_space.contains(obs) and obs.dtype == np.uint8 and obs.ndim == 3


def test_pixels_draw_the_lake_and_mark_the_agent():
    env = envs.make("frozenlake-pixels", slippery=False, cell_size=4)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (16, 16, 1)
    img = obs[..., 0]
    assert (img[1:3, 1:3] == AGENT_GRAY).all() and img[0, 0] == GRAY_LEVELS["S"]  # marker in S
    assert (
        img[5, 5] == GRAY_LEVELS["H"]
        and img[15, 15] == GRAY_LEVELS["G"]
        and img[0, 4] == GRAY_LEVELS["F"]
    )
    obs, *_ = env.step(RIGHT)
    assert (obs[1:3, 5:7, 0] == AGENT_GRAY).all() and (obs[1:3, 1:3, 0] == GRAY_LEVELS["S"]).all()
    states = env.unwrapped.state_images()
    assert states.shape == (16, 16, 16, 1)
    assert len({s.tobytes() for s in states}) == 16  # every cell looks different
    rgb = envs.make("frozenlake-pixels", color="rgb", cell_size=2)
    assert rgb.observation_space.shape == (8, 8, 3)
    assert envs.make("frozenlake-pixels", map="8x8", cell_size=1).observation_space.shape == (
        8,
        8,
        1,
    )


def test_same_trajectory_as_plain_frozenlake_without_noise():
    plain, pixels = envs.make("frozenlake"), envs.make("frozenlake-pixels", cell_size=2)
    plain.reset(seed=5)
    pixels.reset(seed=5)
    actions = np.random.default_rng(0).integers(0, 4, 60)
    for a in actions:
        state, r1, t1, u1, _ = plain.step(int(a))
        obs, r2, t2, u2, _ = pixels.step(int(a))
        assert (state, r1, t1, u1) == (pixels.unwrapped.state, r2, t2, u2)
        np.testing.assert_array_equal(obs, pixels.unwrapped.clean_image(state))
        if t1 or u1:
            plain.reset()
            pixels.reset()


def rollout(env, seed: int, n: int = 20) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    seen = [obs]
    for _ in range(n):
        obs, _, terminated, truncated, _ = env.step(DOWN)
        seen.append(obs)
        if terminated or truncated:
            seen.append(env.reset()[0])
    return seen


@pytest.mark.parametrize(
    "name, options",
    [("frozenlake-pixels", {"noise": 0.2}), ("frozenlake-digits", {"digits": synthetic_digits()})],
)
def test_same_seed_same_observations(name, options):
    a, b = rollout(envs.make(name, **options), 3), rollout(envs.make(name, **options), 3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c = rollout(envs.make(name, **options), 4)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=False))


def test_noise_is_bounded_uint8_and_optional():
    env = envs.make("frozenlake-pixels", noise=0.1)
    obs, _ = env.reset(seed=0)
    clean = env.unwrapped.clean_image(env.unwrapped.state)
    diff = obs.astype(float) - clean
    assert obs.dtype == np.uint8 and env.observation_space.contains(obs)
    assert 10 < np.abs(diff).mean() < 30  # about 0.8 x 25.5 grey levels, some clipped at 255
    assert "noise=0.1" in env.unwrapped.identity
    with pytest.raises(envs.UsageError, match="noise must be >= 0"):
        envs.make("frozenlake-pixels", noise=-1)
    with pytest.raises(envs.UsageError, match="color must be"):
        envs.make("frozenlake-pixels", color="cmyk")
    with pytest.raises(envs.UsageError, match="smaller than the map"):
        envs.make("frozenlake-pixels", map="8x8", image_size=4)


def test_planner_attributes_and_identity_reach_unwrapped():
    value = plan(envs.make("frozenlake")).success_probability
    for env in (
        envs.make("frozenlake-pixels"),
        gymnasium.make("dltf/FrozenLakePixels-v0"),
        envs.make("frozenlake-digits", digits=synthetic_digits()),
    ):
        assert (
            plan(env).success_probability == pytest.approx(value) == pytest.approx(0.7442, abs=1e-4)
        )
        inner = env.unwrapped
        assert (inner.rows, inner.start_state, inner.max_episode_steps) == (
            ("SFFF", "FHFH", "FFFH", "HFFG"),
            0,
            100,
        )
        assert inner.identity.startswith(envs.make("frozenlake").identity + "|")
    assert envs.make("frozenlake-pixels", color="rgb").unwrapped.identity.endswith(
        "pixels=rgb,32x32,noise=0"
    )
    assert envs.make("frozenlake-digits", digits=synthetic_digits(4)).identity.endswith(
        "digits=4x4"
    )


def test_digits_show_row_then_column_drawn_at_random():
    env = envs.make(
        "frozenlake-digits", digits=synthetic_digits(size=3, per_digit=3), slippery=False
    )
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 6, 1) and env.observation_space.shape == (3, 6, 1)
    drawn = set()
    for action in (DOWN, DOWN, RIGHT):
        obs, *_ = env.step(action)
        row, col = divmod(env.unwrapped.state, 4)
        left, right = int(obs[0, 0, 0]), int(obs[0, 3, 0])
        assert (left // 10, right // 10) == (row, col)
        assert (obs[:, :3] == left).all() and (obs[:, 3:] == right).all()
    for _ in range(30):  # the same cell shows different images of its digits
        obs, _ = env.reset()
        drawn.add(int(obs[0, 0, 0]))
    assert drawn == {0, 1, 2}
    first = env.unwrapped.state_images()
    assert first.shape == (16, 3, 6, 1) and first[5, 0, 0, 0] == 10 and first[5, 0, 3, 0] == 10


def test_digits_take_a_dict_or_arrays_with_a_channel():
    images, labels = synthetic_digits(size=5)
    as_dict = {d: images[labels == d][..., None] for d in range(4)}
    env = envs.make("frozenlake-digits", digits=as_dict)
    assert env.observation_space.shape == (5, 10, 1)
    assert env.unwrapped.observation_tiles == 2


@pytest.mark.parametrize(
    "digits, options, message",
    [
        (synthetic_digits(), {"map": "random:11"}, "at most 10x10"),
        ({0: np.zeros((1, 3, 3), np.uint8)}, {}, "no images of 1, 2, 3"),
        ({d: np.zeros((1, 3, 3 + d), np.uint8) for d in range(4)}, {}, "one size"),
        ({d: np.full((1, 3, 3), 300.0) for d in range(4)}, {}, "0..255"),
        ((np.zeros((3, 3, 3), np.uint8), np.zeros(2)), {}, "3 images but 2 labels"),
        ("mnist", {}, "digits must be"),
    ],
)
def test_digits_bad_input_is_one_usage_line(digits, options, message):
    with pytest.raises(envs.UsageError, match=message) as info:
        FrozenLakeDigitsEnv(digits, **options)
    assert "\n" not in str(info.value)


def test_vector_envs_fall_back_to_sync_with_same_step_autoreset():
    venv = envs.make_vector("frozenlake-digits", 3, digits=synthetic_digits(), max_episode_steps=2)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3, 3, 6, 1) and obs.dtype == np.uint8
    venv.step(np.zeros(3, dtype=np.int64))
    _, _, _, truncated, infos = venv.step(np.zeros(3, dtype=np.int64))
    assert truncated.all() and infos["final_obs"][0].shape == (3, 6, 1)
    assert envs.make_vector("frozenlake-pixels", 2, cell_size=1).observation_space.shape == (
        2,
        4,
        4,
        1,
    )
    with pytest.raises(envs.UsageError, match="unknown environment"):
        envs.make_vector("frozenlake-sound", 2)


def test_digits_env_by_name_needs_its_images():
    with pytest.raises(envs.UsageError, match="needs its digit images"):
        envs.make("frozenlake-digits")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    env = envs.make("frozenlake-digits", digits=(images, np.arange(30) % 10), map="4x4")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (28, 56, 1)
    assert any(np.array_equal(obs[:, :28, 0], img) for img in images)


def test_envs_import_stays_free_of_tensorflow():
    code = (
        "import sys, envs, envs.pixels; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
