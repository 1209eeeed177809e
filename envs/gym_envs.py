"""Any Gymnasium environment by name: the project's short names, registered ids, ``module:EnvId``.

What a command line needs between a user's ``ENV`` argument and an agent:

- :func:`parse_env_options`: ``--env-option KEY=VALUE`` pairs -> constructor keyword arguments
  (values read as Python literals; a bare word such as ``8x8`` stays a string);
- :func:`make_env`: the env, with every way it can fail (unknown id, module that does not import,
  constructor error, rejected keys, missing Box2D, an env that breaks the Gymnasium API according
  to Gymnasium's own env checker) turned into one :class:`~common.errors.UsageError` line;
- :func:`envs.spaces.check_spaces` (re-exported here): whether an agent kind can read the env's
  spaces, and if not, what would.

The project's own lakes (``frozenlake``, ``frozenlake-pixels``, ``frozenlake-digits`` and their
``dltf/...`` ids) are built by their own classes, with their built-in step limit.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib
import inspect
import re
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import gymnasium as gym

from common.errors import UsageError
from envs.frozenlake import FrozenLakeEnv
from envs.pixels import FrozenLakeDigitsEnv, FrozenLakePixelsEnv, make_digits_env
from envs.spaces import AGENT_KINDS, check_spaces, is_image_space, space_name

NAMESPACE = "dltf"
__all__ = [
    "AGENT_KINDS",
    "NAMESPACE",
    "PROJECT_ENVS",
    "PROJECT_GYM_IDS",
    "accepted_keys",
    "check_api",
    "check_spaces",
    "closest_names",
    "find_spec",
    "is_image_space",
    "is_project_env",
    "known_names",
    "make_env",
    "one_line",
    "parse_env_options",
    "parse_env_value",
    "space_name",
]

#: The project's short names and their constructors (``envs.make`` reads this table).
PROJECT_ENVS: dict[str, Callable[..., gym.Env]] = {
    "frozenlake": FrozenLakeEnv,
    "frozenlake-pixels": FrozenLakePixelsEnv,
    "frozenlake-digits": make_digits_env,  # MNIST test digits unless `digits=` is given
}
#: Their Gymnasium ids (registered by ``import envs``).
PROJECT_GYM_IDS: dict[str, str] = {
    "frozenlake": f"{NAMESPACE}/FrozenLake-v0",
    "frozenlake-pixels": f"{NAMESPACE}/FrozenLakePixels-v0",
    "frozenlake-digits": f"{NAMESPACE}/FrozenLakeDigits-v0",
}

#: Envs (id, options, step limit) that passed Gymnasium's env checker in this process.
_CHECKED: set[str] = set()
BOX2D_FIX = "pip install -e '.[box2d]'"
_OPTION_FORM = "KEY=VALUE, e.g. is_slippery=false or map_name=8x8"
_WORDS = {"true": True, "false": False, "none": None, "null": None}
_FLOATS = {"inf": float("inf"), "+inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}
#: Env-checker warnings that are advice, not a broken API (CartPole's infinite bounds, say).
_ADVISORY = (
    "probably too low",
    "probably too high",
    "recommend using a symmetric",
    "is different from the unwrapped",
    "alternative render modes",
    "render mode",
    "render fps",
    "although similar",
)


# -- --env-option ---------------------------------------------------------------------------------
def parse_env_value(text: str) -> Any:
    """One option value: a Python literal (``3``, ``0.5``, ``'a b'``, ``[1, 2]``), ``true``/
    ``false``/``none`` in any case, or else the text itself (``8x8``, ``SFFF,FHFH``).
    Raises ValueError for what looks like a literal but is not (an unclosed bracket or quote)."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in _WORDS:
        return _WORDS[lowered]
    if lowered in _FLOATS:
        return _FLOATS[lowered]
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        if stripped[:1] in "[({'\"" and stripped:
            raise ValueError(f"not a Python literal ({type(exc).__name__})") from None
        return stripped


def parse_env_options(pairs: Iterable[str] | None) -> dict[str, object]:
    """``["is_slippery=false", "map_name=8x8"]`` -> ``{"is_slippery": False, "map_name": "8x8"}``.

    Each pair is ``KEY=VALUE`` with KEY a Python identifier (a constructor argument) and VALUE as
    :func:`parse_env_value` reads it. A malformed pair or a key given twice is a one-line
    :class:`UsageError` naming the pair and the expected form.
    """
    options: dict[str, object] = {}
    for pair in pairs or ():
        key, sep, value = str(pair).partition("=")
        key = key.strip()
        if not sep:
            raise UsageError(f"--env-option {pair!r} has no '=': write {_OPTION_FORM}")
        if not key:
            raise UsageError(f"--env-option {pair!r} has an empty key: write {_OPTION_FORM}")
        if not key.isidentifier():
            raise UsageError(
                f"--env-option {pair!r}: {key!r} is not an argument name: write {_OPTION_FORM}"
            )
        if key in options:
            raise UsageError(f"--env-option {key} is given twice ({pair!r}): give it once")
        try:
            options[key] = parse_env_value(value)
        except ValueError as exc:
            raise UsageError(
                f"--env-option {pair!r}: the value is {exc}: quote strings as "
                f"{key}=\"'text'\" or write a list as {key}=[1,2]"
            ) from None
    return options


# -- making an env --------------------------------------------------------------------------------
def one_line(exc: BaseException) -> str:
    """An exception as ``Type: first line of its message``."""
    text = str(exc).strip().splitlines()
    message = re.sub(r"\x1b\[[0-9;]*m", "", text[0]).strip() if text else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def known_names() -> list[str]:
    """Every name :func:`make_env` accepts without importing a module: short names and ids."""
    return sorted(set(PROJECT_ENVS) | set(gym.registry))


def closest_names(name: str, n: int = 3) -> list[str]:
    """Registered names closest to ``name`` (case-insensitive)."""
    candidates = known_names()
    lowered = {c.lower(): c for c in candidates}
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[m] for m in matches]


def _unknown(name: str) -> UsageError:
    close = closest_names(name)
    hint = f"closest: {', '.join(close)}" if close else "see gymnasium.pprint_registry()"
    return UsageError(
        f"unknown environment {name!r} ({hint}); give a registered Gymnasium id, "
        f"module:EnvId, or one of {', '.join(sorted(PROJECT_ENVS))}"
    )


def find_spec(name: str) -> gym.envs.registration.EnvSpec:
    """The registry entry for ``name`` (``Id-vN``, ``ns/Id-vN`` or ``module:Id-vN``, which imports
    ``module`` first); an unversioned id means its newest version."""
    module, _, env_id = name.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure is the user's module's
            raise UsageError(
                f"{name}: module {module!r} does not import ({one_line(exc)}); "
                "check that it is installed and registers the env"
            ) from None
    if not env_id:
        raise UsageError(f"{name!r}: no environment id after ':' (write module:EnvId-v0)")
    spec = gym.registry.get(env_id)
    if spec is None:
        try:
            ns, base, version = gym.envs.registration.parse_env_id(env_id)
        except gym.error.Error:
            raise _unknown(env_id) from None
        latest = gym.envs.registration.find_highest_version(ns, base) if version is None else None
        if latest is not None:
            spec = gym.registry.get(gym.envs.registration.get_env_id(ns, base, latest))
    if spec is None:
        raise _unknown(env_id)
    return spec


def _creator(spec: gym.envs.registration.EnvSpec) -> Callable[..., Any] | None:
    entry = spec.entry_point
    if callable(entry):
        return entry
    try:
        return gym.envs.registration.load_env_creator(entry)
    except Exception:  # noqa: BLE001 - reported when constructing
        return None


def accepted_keys(creator: Callable[..., Any] | None) -> list[str] | None:
    """The keyword arguments ``creator`` takes, or None when it takes any (``**kwargs``) or its
    signature cannot be read."""
    if creator is None:
        return None
    try:
        params = inspect.signature(creator).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.kind in kinds and p.name != "self"]


def _check_keys(name: str, keys: Iterable[str], creator: Callable[..., Any] | None) -> None:
    accepted = accepted_keys(creator)
    if accepted is None:
        return
    rejected = [k for k in keys if k not in accepted]
    if rejected:
        raise UsageError(
            f"{name} does not take option {rejected[0]!r} "
            f"(it takes: {', '.join(accepted) if accepted else 'no options'})"
        )


def _construct(name: str, build: Callable[[], gym.Env], creator=None) -> gym.Env:
    """``build()``, with its failure as one line."""
    try:
        return build()
    except UsageError:
        raise
    except gym.error.DependencyNotInstalled as exc:
        if "box2d" in str(exc).lower():
            raise UsageError(f"{name} needs Box2D: {BOX2D_FIX}") from None
        raise UsageError(f"{name} needs a package that is not installed: {one_line(exc)}") from None
    except ModuleNotFoundError as exc:
        if (exc.name or "").lower().startswith("box2d"):
            raise UsageError(f"{name} needs Box2D: {BOX2D_FIX}") from None
        raise UsageError(f"{name} failed to construct: {one_line(exc)}") from None
    except TypeError as exc:
        match = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if match:
            accepted = accepted_keys(creator)
            takes = f" (it takes: {', '.join(accepted)})" if accepted else ""
            raise UsageError(f"{name} does not take option {match.group(1)!r}{takes}") from None
        raise UsageError(f"{name} failed to construct: {one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - the env's own error, on one line
        raise UsageError(f"{name} failed to construct: {one_line(exc)}") from None


def is_project_env(name: str) -> bool:
    """Whether ``name`` is one of the project's own envs (short name or ``dltf/`` id)."""
    key = name.strip().lower()
    return key in PROJECT_ENVS or key in {v.lower() for v in PROJECT_GYM_IDS.values()}


def _project_key(name: str) -> str:
    key = name.strip().lower()
    for short, gym_id in PROJECT_GYM_IDS.items():
        if key == gym_id.lower():
            return short
    return key


def check_api(env_id: str, build: Callable[[], gym.Env]) -> None:
    """Run Gymnasium's env checker on a fresh instance from ``build()``; its first complaint (an
    exception, or a warning that is not mere advice) becomes a one-line UsageError."""
    env = _construct(env_id, build)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                from gymnasium.utils.env_checker import check_env

                check_env(env.unwrapped, skip_render_check=True)
            except Exception as exc:  # noqa: BLE001 - the checker's complaint, on one line
                raise UsageError(
                    f"{env_id} breaks the Gymnasium API (gymnasium.utils.env_checker): "
                    f"{one_line(exc)}"
                ) from None
        for warning in caught:
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(warning.message)).strip()
            if not text.startswith("WARN:") or any(a in text for a in _ADVISORY):
                continue
            message = text.removeprefix("WARN:").strip().splitlines()[0]
            raise UsageError(
                f"{env_id} breaks the Gymnasium API (gymnasium.utils.env_checker): {message}"
            )
    finally:
        with contextlib.suppress(Exception):  # closing a probe env must not hide the answer
            env.close()


def make_env(
    name: str,
    options: dict | None = None,
    *,
    max_episode_steps: int | None = None,
    render_mode: str | None = None,
    check: bool = True,
) -> gym.Env:
    """An environment by name, with ``options`` as its constructor's keyword arguments.

    ``name``: a project short name (``frozenlake``, ``frozenlake-pixels``, ``frozenlake-digits``)
    or its ``dltf/...`` id, built by the project's own class (``max_episode_steps`` is its built-in
    limit); any registered Gymnasium id (``CartPole-v1``, ``Taxi-v4``, ``CliffWalking-v1``,
    ``FrozenLake-v1``, ``LunarLander-v3`` with Box2D); or ``module:EnvId`` (imports ``module``,
    which registers ``EnvId``). Gymnasium envs get ``max_episode_steps`` as their TimeLimit (else
    their registered one) and, unless ``check=False``, Gymnasium's env checker on a fresh
    instance first. Every failure is a one-line :class:`UsageError`.
    """
    if not isinstance(name, str) or not name.strip():
        raise UsageError("give an environment: a Gymnasium id such as CartPole-v1, or frozenlake")
    name = name.strip()
    options = dict(options or {})
    if max_episode_steps is not None and int(max_episode_steps) <= 0:
        raise UsageError(f"max_episode_steps must be positive, got {max_episode_steps}")
    if is_project_env(name):
        key = _project_key(name)
        factory = PROJECT_ENVS[key]
        if max_episode_steps is not None:
            options["max_episode_steps"] = int(max_episode_steps)
        if render_mode is not None:
            options["render_mode"] = render_mode
        creator = FrozenLakeDigitsEnv if factory is make_digits_env else factory
        _check_keys(key, options, creator)
        return _construct(key, lambda: factory(**options), creator)
    spec = find_spec(name)
    for reserved in ("max_episode_steps", "render_mode", "disable_env_checker"):
        if reserved in options:
            flag = reserved.replace("_", "-")
            raise UsageError(f"{reserved} is not an env option: give --{flag} (or the argument)")
    creator = _creator(spec)
    _check_keys(spec.id, options, creator)
    kwargs: dict[str, Any] = dict(options)
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = int(max_episode_steps)

    def build(render: str | None = None) -> gym.Env:
        return gym.make(spec.id, render_mode=render, disable_env_checker=True, **kwargs)

    key = f"{spec.id}|{sorted(options.items())!r}|{max_episode_steps}"
    if check and key not in _CHECKED:
        check_api(spec.id, build)
        _CHECKED.add(key)
    return _construct(spec.id, lambda: build(render_mode), creator)
