"""The Python API: an agent on any Gymnasium environment in a few lines.

>>> from agents import DQN
>>> agent = DQN("CartPole-v1", seed=0, lr=5e-4)        # or an env object
>>> agent.learn(steps=50_000, progress=True, logdir="runs/cartpole")
>>> agent.predict(obs)                                  # one observation or a batch
>>> agent.evaluate(episodes=100)                        # mean and std of the greedy return
>>> agent.save("runs/cartpole-copy")
>>> same = DQN.load("runs/cartpole")                     # the handed-over (best) policy

Options are the command line's long flags as keyword arguments (``lr=5e-4``, ``hidden=(64, 64)``);
what is not given comes from the recipe for the env id (:mod:`agents.recipes`). ``python -m
agents.run`` is a thin layer on this module: it builds the same :class:`Algorithm` from its flags
and calls :meth:`Algorithm.train_run`.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from agents.builders import env_facts, make_agent, make_env
from agents.callbacks import (
    CheckpointCallback,
    EvalCallback,
    TensorBoardCallback,
    ratio_to_optimum,
)
from agents.config import (
    AGENTS,
    RunConfig,
    build_config,
    is_lake,
    normalise_keys,
    read_saved_config,
    relative_paths,
    saved_env,
)
from agents.evaluation import EVAL_SEED_OFFSET, Evaluation, defines_success, evaluate_greedy
from agents.evaluation import make_judge as _make_judge
from agents.loop import Callback, TrainingRun, train
from common.atomic import atomic_write_text
from common.errors import UsageError
from envs.grids import grid_view

POLICY_FILE = "policy.json"  # which checkpoint of a run folder is the handed-over policy
SUMMARY_FILE = "summary.json"


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float as None: JSON that any parser reads."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if isinstance(obj, np.generic):
        return strict(obj.item())
    return obj


def dump_json(obj: Any) -> str:
    return json.dumps(strict(obj), indent=2, allow_nan=False) + "\n"


def python_options(options: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments (Python values) to checked option values, as a TOML file's would be."""
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
    return normalise_keys(values, source="the keyword arguments")


def configure(
    env: str,
    given: dict[str, Any],
    file_values: dict[str, Any] | None = None,
    saved: dict[str, Any] | None = None,
    env_object: gym.Env | None = None,
) -> tuple[RunConfig, gym.Env]:
    """The run's config and its first env. A Gymnasium env is made (and checked) first, since
    the generic recipe is sized from its spaces and step limit."""
    file_values = file_values or {}
    if env_object is not None or not is_lake(env):
        layered = {**(saved or {}), **file_values, **given}
        probe = env_object
        if probe is None:
            import envs

            probe = envs.make_env(
                env,
                layered.get("env_options") or {},
                max_episode_steps=layered.get("max_episode_steps"),
            )
        cfg = build_config(given, file_values, saved, env=env, facts=env_facts(probe))
        return cfg, probe
    cfg = build_config(given, file_values, saved, env=env)
    return cfg, make_env(cfg)


def one_thread_per_op_pool() -> None:
    """The agents' networks are tiny: one thread per TensorFlow op pool beats one per core
    (measured: about 1.4x per update), as ``agents.run`` sets. Too late once TensorFlow runs
    (a caller's own settings then stand)."""
    from perception.hardware import import_tensorflow

    tf = import_tensorflow()  # without TensorFlow's C++ start-up lines

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


def env_name_of(env: gym.Env) -> str:
    spec = getattr(env, "spec", None)
    return spec.id if spec is not None else type(env.unwrapped).__name__


class Algorithm:
    """One agent on one environment: train (:meth:`learn`), act (:meth:`predict`), judge
    (:meth:`evaluate`), keep (:meth:`save`, :meth:`load`)."""

    agent_kind: ClassVar[str] = "tabular"

    def __init__(
        self,
        env: str | gym.Env,
        *,
        seed: int = 0,
        env_options: dict[str, Any] | None = None,
        max_episode_steps: int | None = None,
        **options: Any,
    ) -> None:
        given = python_options(options)
        given.update(agent=self.agent_kind, seed=int(seed))
        if env_options:
            given["env_options"] = dict(env_options)
        if max_episode_steps is not None:
            given["max_episode_steps"] = int(max_episode_steps)
        env_object = None if isinstance(env, str) else env
        name = env if isinstance(env, str) else env_name_of(env)
        cfg, first = configure(name, given, env_object=env_object)
        self._setup(cfg, first, env_object)

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: RunConfig, env: gym.Env | None = None) -> Algorithm:
        """The algorithm a complete config describes (the command line's way in)."""
        algo_cls = ALGORITHMS[cfg.agent] if cls is Algorithm else cls
        algo = algo_cls.__new__(algo_cls)
        algo._setup(cfg, env if env is not None else make_env(cfg), None)
        return algo

    def _setup(self, cfg: RunConfig, env: gym.Env, env_object: gym.Env | None) -> None:
        if cfg.agent != self.agent_kind and type(self) is not Algorithm:
            raise UsageError(
                f"{type(self).__name__} trains {AGENTS[self.agent_kind].title}, "
                f"the config asks for {cfg.kind.title}"
            )
        self.config = cfg
        self.env = env
        self._env_object = env_object
        if cfg.agent != "tabular":
            one_thread_per_op_pool()
        if env_object is not None and cfg.agent == "dqn":
            from agents.builders import check_agent_fits
            from agents.dqn import DQNAgent

            check_agent_fits(cfg, env_object)
            cfg.agent_config.num_envs = 1  # one object: one copy
            venv = gym.vector.SyncVectorEnv(
                [lambda: env_object], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
            )
            self.agent = DQNAgent(venv, cfg.agent_config, cfg.seed)
        else:
            self.agent = make_agent(cfg, env)
        self.eval_env = env_object if env_object is not None else make_env(cfg, check=False)
        self._judge: Any = None
        self._judged = False
        self._eval_venvs: dict[int, Any] = {}
        self._predict_rng = np.random.default_rng(cfg.seed + 2 * EVAL_SEED_OFFSET)
        self.summary: dict[str, Any] | None = None
        self.run: TrainingRun | None = None

    @property
    def judge(self):
        """The exact judge (optimum, exact value of a policy) where the env has a model."""
        if not self._judged:
            self._judge, self._judged = _make_judge(self.eval_env), True
        return self._judge

    def eval_vector_env(self, n: int):
        """``n`` copies of the env for a DQN's batched greedy episodes (None: play them one by
        one, as tables and env objects do)."""
        if self.config.agent != "dqn" or self._env_object is not None or is_lake(self.config.env):
            return None
        if n not in self._eval_venvs:
            import envs

            cfg = self.config
            self._eval_venvs[n] = envs.make_vector_env(
                cfg.env, cfg.env_options, n, seed=cfg.seed, max_episode_steps=cfg.max_episode_steps
            )
        return self._eval_venvs[n]

    def _vector_env_factory(self):
        return None if self.eval_vector_env(1) is None else self.eval_vector_env

    # -- training ------------------------------------------------------------------------------
    def learn(
        self,
        steps: int | None = None,
        episodes: int | None = None,
        *,
        progress: bool = False,
        logdir: str | Path | None = None,
        eval_every: int | None = None,
        eval_episodes: int | None = None,
        keep_final: bool | None = None,
        callbacks: list[Callback] | None = None,
    ) -> Algorithm:
        """Train for ``steps`` more env steps and/or ``episodes`` more episodes (default: the
        recipe's budget), evaluating every ``eval_every`` and keeping the best greedy policy,
        which the agent holds afterwards unless ``keep_final``. ``logdir``: a run folder
        (config, TensorBoard, checkpoints, summary) that :meth:`load` reads."""
        cfg = self.config
        if steps is not None or episodes is not None:
            cfg.steps = self.agent.env_steps + int(steps) if steps is not None else None
            cfg.episodes = self.agent.episodes + int(episodes) if episodes is not None else None
        if eval_every is not None:
            cfg.eval_every = int(eval_every)
        if eval_episodes is not None:
            cfg.eval_episodes = int(eval_episodes)
        if keep_final is not None:
            cfg.keep_final = bool(keep_final)
        if logdir is not None:
            if Path(logdir).exists() and not Path(logdir).is_dir():
                raise UsageError(f"logdir {logdir} is a file: give a folder")
            cfg.logdir = str(logdir)
            cfg.checkpoint_dir = str(Path(logdir) / "checkpoints")
            Path(logdir).mkdir(parents=True, exist_ok=True)
            self.write_config(Path(logdir))
        cfg.dashboard = bool(progress)
        self.train_run(callbacks=callbacks)
        return self

    def write_config(self, logdir: Path) -> None:
        data = relative_paths(self.config.to_dict(), logdir)
        atomic_write_text(logdir / "config.json", dump_json(data))

    def train_run(self, callbacks: list[Callback] | None = None, console=None) -> dict[str, Any]:
        """Train to the config's budget with keep-best evaluation, hand over the best (or final)
        policy and return the summary (also ``self.summary``, and the run folder's
        ``summary.json`` when the config names one)."""
        cfg, agent = self.config, self.agent
        logdir = Path(cfg.logdir) if cfg.logdir else None
        checkpoint_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
        if checkpoint_dir is None and logdir is not None:
            checkpoint_dir = logdir / "checkpoints"
        scratch = None
        if checkpoint_dir is None:  # keep-best still needs somewhere to keep the best
            scratch = tempfile.TemporaryDirectory(prefix="dltf-best-")
            best_dir = Path(scratch.name)
        else:
            best_dir = checkpoint_dir / "best"
        judge = self.judge
        unit, budget = cfg.budget_unit, cfg.budget
        every = cfg.eval_every
        if every is None:
            every = max(1, budget // (100 if judge is not None else 20))
        seed = cfg.seed + EVAL_SEED_OFFSET
        evaluation = EvalCallback(
            self.eval_env,
            every,
            cfg.eval_check_episodes,
            seed,
            judge,
            unit=unit,
            best_dir=best_dir,
            vector_env=self._vector_env_factory(),
        )
        success = judge.success if judge is not None else defines_success(self.eval_env)
        chain: list[Callback] = [evaluation]
        if logdir is not None:
            hparams = {k: v for k, v in cfg.to_dict().items() if v is not None}
            chain.append(TensorBoardCallback(logdir, cfg.to_dict(), hparams, success=success))
        checkpoints = None
        if checkpoint_dir is not None:
            every_ckpt = cfg.checkpoint_every
            if every_ckpt is None:
                every_ckpt = max(1, budget // 10)
            checkpoints = CheckpointCallback(checkpoint_dir, every_ckpt, unit)
            chain.append(checkpoints)
        if cfg.dashboard:
            from agents.dashboard import Dashboard

            chain.append(
                Dashboard(
                    self.title(),
                    grid_view(self.eval_env),
                    judge.optimum if judge is not None else None,
                    console=console,
                    success=success,
                )
            )
        chain.extend(callbacks or [])
        try:
            run = train(agent, cfg.episodes, chain, total_steps=cfg.steps)
            final = evaluation.final
            handed = "final"
            if (
                not cfg.keep_final
                and evaluation.best_at is not None
                and final is not None
                and evaluation.best_score > final.score
            ):
                agent.restore(best_dir)
                handed = "best"
            result = evaluate_greedy(
                agent,
                self.eval_env,
                cfg.eval_episodes,
                seed,
                judge,
                vector_env=self._vector_env_factory(),
            )
        finally:
            if scratch is not None:
                scratch.cleanup()
        self.run = run
        summary = self._summary(run, evaluation, result, handed, checkpoints, best_dir, scratch)
        self.summary = summary
        if logdir is not None:
            policy = best_dir if handed == "best" else checkpoint_dir
            atomic_write_text(
                logdir / POLICY_FILE,
                dump_json(
                    {"checkpoint": relative_paths({"logdir": str(policy)}, logdir)["logdir"]}
                ),
            )
            atomic_write_text(logdir / SUMMARY_FILE, dump_json(summary))
        return summary

    def title(self) -> str:
        cfg = self.config
        if is_lake(cfg.env):
            slip = "slippery" if cfg.slippery else "not slippery"
            where = f"{cfg.env} {cfg.map} ({slip})"
        else:
            opts = ", ".join(f"{k}={v}" for k, v in cfg.env_options.items())
            where = f"{cfg.env} ({opts})" if opts else cfg.env
        return f"{where} · {cfg.kind.title} · seed {cfg.seed}"

    def _summary(self, run, evaluation, result, handed, checkpoints, best_dir, scratch) -> dict:
        cfg, judge = self.config, self.judge
        final = evaluation.final or Evaluation(0)
        summary: dict[str, Any] = {
            "env": cfg.env,
            "agent": cfg.agent,
            "seed": cfg.seed,
            "episodes": run.end_episodes,
            "env_steps": run.end_steps,
            "train_seconds": run.train_seconds,
            "env_steps_per_second": (
                (run.end_steps - run.start_steps) / run.train_seconds if run.train_seconds else 0.0
            ),
            "eval_episodes": result.episodes,
            "eval_return_mean": result.return_mean,
            "eval_return_std": result.return_std,
            "handed_over": handed,
            "final_score": final.score if math.isfinite(final.score) else None,
            "best_score": evaluation.best_score if math.isfinite(evaluation.best_score) else None,
            "best_env_steps": (evaluation.best_at or {}).get("env_steps"),
            "checkpoint": str(checkpoints.path) if checkpoints and checkpoints.path else None,
            "best_checkpoint": None if scratch is not None else str(best_dir),
            "interrupted": run.interrupted,
            "interrupted_by": {2: "Ctrl-C", 15: "SIGTERM"}.get(run.stop_signal),
        }
        if is_lake(cfg.env):
            summary.update(map=cfg.map, slippery=cfg.slippery)
        else:
            summary["env_options"] = dict(cfg.env_options)
        if result.success_rate is not None:
            summary["eval_success_rate"] = result.success_rate
            summary["training_success_fraction"] = run.success_fraction
        if judge is not None:
            summary["exact_return"] = result.exact_return
            summary["optimal_return"] = judge.optimum
            summary["optimality_gap"] = (
                judge.optimum - result.exact_return if result.exact_return is not None else None
            )
            summary["optimality_ratio"] = ratio_to_optimum(
                result.exact_return, judge.optimum, judge.nonnegative
            )
            summary["never_ends"] = result.never_ends
            summary["final_exact_return"] = final.exact_return
            if judge.success:
                summary["exact_success_rate"] = result.exact_return
                summary["optimal_success_rate"] = judge.optimum
        summary["logdir"] = cfg.logdir
        summary["config"] = cfg.to_dict()
        return strict(summary)

    # -- acting and judging --------------------------------------------------------------------
    def predict(self, observation, *, epsilon: float = 0.0):
        """The greedy action for one observation (an int) or a batch (an array); with
        ``epsilon`` > 0, each action is a uniformly random one with that probability."""
        space = self.env.observation_space
        obs = np.asarray(observation)
        single = obs.shape == tuple(space.shape or ())
        batch = obs[None] if single else obs
        actions = np.asarray(self.agent.q_values(batch)).argmax(axis=1)
        if epsilon > 0:
            n = int(self.env.action_space.n)
            explore = self._predict_rng.random(len(actions)) < epsilon
            actions = np.where(explore, self._predict_rng.integers(0, n, len(actions)), actions)
        return int(actions[0]) if single else actions

    def evaluate(self, episodes: int = 100, seed: int | None = None) -> dict[str, Any]:
        """The greedy policy: mean and std of the return over ``episodes`` seeded episodes (seeds
        disjoint from training's unless ``seed`` is given) and, where the env has a model, its
        exact expected return against the optimum."""
        seed = self.config.seed + EVAL_SEED_OFFSET if seed is None else seed
        result = evaluate_greedy(
            self.agent,
            self.eval_env,
            episodes,
            seed,
            self.judge,
            vector_env=self._vector_env_factory(),
        )
        out: dict[str, Any] = {
            "episodes": episodes,
            "return_mean": result.return_mean,
            "return_std": result.return_std,
        }
        if result.success_rate is not None:
            out["success_rate"] = result.success_rate
        if self.judge is not None:
            out.update(
                exact_return=result.exact_return,
                optimal_return=self.judge.optimum,
                optimality_ratio=ratio_to_optimum(
                    result.exact_return, self.judge.optimum, self.judge.nonnegative
                ),
                never_ends=result.never_ends,
            )
        return strict(out)

    # -- keeping -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """A run folder at ``path`` (config.json and the agent's checkpoint) that :meth:`load`
        reads in a fresh process."""
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder} is a file: save into a folder")
        folder.mkdir(parents=True, exist_ok=True)
        self.agent.save(folder / "checkpoints", best=True)
        self.write_config(folder)
        atomic_write_text(folder / POLICY_FILE, dump_json({"checkpoint": "checkpoints"}))
        return folder

    @classmethod
    def load(cls, path: str | Path, env: str | gym.Env | None = None) -> Algorithm:
        """The handed-over policy of a run folder (or the agent in a checkpoint folder inside
        one), ready to :meth:`predict`. ``env``: refuse, in one line, a run of another env."""
        folder, checkpoint = locate(Path(path))
        saved = read_saved_config(folder)
        name = saved_env(folder)
        kind = saved.get("agent", "tabular")
        if cls is not Algorithm and kind != cls.agent_kind:
            raise UsageError(
                f"{path} holds a {AGENTS[kind].title} agent: load it with "
                f"{ALGORITHMS[kind].__name__}.load"
            )
        if isinstance(env, str) and name is not None and env != name:
            raise UsageError(f"{path} was trained on {name}, not {env}: load it without env=")
        env_object = env if isinstance(env, gym.Env) else None
        if env_object is not None and name is not None and env_name_of(env_object) != name:
            raise UsageError(
                f"{path} was trained on {name}, not {env_name_of(env_object)}: "
                "give the env it was trained on"
            )
        saved.pop("resume", None)
        cfg, first = configure(name or "frozenlake", {}, {}, saved, env_object=env_object)
        algo = ALGORITHMS[kind].__new__(ALGORITHMS[kind])
        algo._setup(cfg, first, env_object)
        algo.agent.restore(checkpoint)
        return algo


def locate(path: Path) -> tuple[Path, Path]:
    """(run folder, checkpoint folder) for a run folder or a checkpoint folder inside one."""
    if not path.exists() and Path(f"{path}.index").is_file():
        path = path.parent  # a TF checkpoint prefix (the summary's "checkpoint"): its folder
    if not path.exists():
        raise UsageError(f"{path} does not exist: give a run folder or a checkpoint folder")
    if path.is_file():  # checkpoint.npz (the summary's "checkpoint" of a tabular run)
        path = path.parent
    if (path / "config.json").is_file():
        checkpoint = path / "checkpoints"
        try:
            stored = json.loads((path / POLICY_FILE).read_text())["checkpoint"]
            checkpoint = path / stored
        except (OSError, ValueError, KeyError, TypeError):
            if (path / "checkpoints" / "best").is_dir():
                checkpoint = path / "checkpoints" / "best"
        return path, checkpoint
    for parent in list(path.parents)[:3]:
        if (parent / "config.json").is_file():
            return parent, path
    raise UsageError(
        f"{path} is neither a run folder (with config.json) nor a checkpoint folder inside one"
    )


class TabularQ(Algorithm):
    """Tabular Q-learning (Discrete observations)."""

    agent_kind = "tabular"


class ClassicQNet(Algorithm):
    """The 2017 one-layer Q-network (the project's lakes)."""

    agent_kind = "classic"


class DQN(Algorithm):
    """The DQN family (Discrete observations one-hot, Box vectors normalised, images)."""

    agent_kind = "dqn"


ALGORITHMS: dict[str, type[Algorithm]] = {"tabular": TabularQ, "classic": ClassicQNet, "dqn": DQN}
