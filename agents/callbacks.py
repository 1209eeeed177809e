"""Callbacks of the training loop: periodic evaluation, TensorBoard, checkpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from agents.evaluation import Evaluation, Judge, evaluate_greedy
from agents.loop import Callback, TrainingRun
from common.atomic import atomic_write_text


class EvalCallback(Callback):
    """Keep-best evaluation (as SB3's EvalCallback keeps ``best_model``).

    Every ``every`` episodes (env steps when ``unit`` is ``"steps"``) the greedy policy is
    evaluated: exactly where the env has a model (``judge``), else over ``check_episodes`` sampled
    episodes. A policy better than any before it is saved to ``best_dir`` (with ``best.json``, so a
    resumed run knows the score to beat). At the end the final policy is judged the same way and
    saved there too when it is at least as good. ``run.metrics`` get ``eval/...`` scalars.
    """

    def __init__(
        self,
        env,
        every: int,
        check_episodes: int,
        seed: int,
        judge: Judge | None = None,
        *,
        unit: str = "episodes",
        best_dir: Path | None = None,
        vector_env=None,
    ) -> None:
        self.vector_env = vector_env
        self.env, self.every, self.check_episodes, self.seed = env, every, check_episodes, seed
        self.judge, self.unit = judge, unit
        self.best_dir = Path(best_dir) if best_dir is not None else None
        self._next = 0
        self.last: Evaluation | None = None
        self.final: Evaluation | None = None
        self.best_score = -math.inf
        self.best_at: dict | None = None  # episodes and env steps of the best policy
        self.history: list[tuple[int, float]] = []  # (env steps, score) of each evaluation

    def _clock(self, run: TrainingRun) -> int:
        return run.env_steps if self.unit == "steps" else run.episodes

    def evaluate(self, run: TrainingRun) -> Evaluation:
        episodes = 0 if self.judge is not None else self.check_episodes
        result = evaluate_greedy(
            run.agent, self.env, episodes, self.seed, self.judge, vector_env=self.vector_env
        )
        self.last = result
        self.history.append((run.env_steps, result.score))
        run.metrics.pop("eval/never_ends", None)
        if result.never_ends:  # the model says: from some state it reaches, it never ends
            run.metrics["eval/never_ends"] = 1.0
            run.metrics.pop("eval/exact_return", None)
        if result.exact_return is not None:
            run.metrics["eval/exact_return"] = result.exact_return
            if self.judge is not None:
                run.metrics["eval/optimal_return"] = self.judge.optimum
                run.metrics["eval/optimality_gap"] = self.judge.optimum - result.exact_return
                ratio = ratio_to_optimum(
                    result.exact_return, self.judge.optimum, self.judge.nonnegative
                )
                if ratio is not None:
                    run.metrics["eval/optimality_ratio"] = ratio
                if self.judge.success:
                    run.metrics["eval/exact_success_rate"] = result.exact_return
        if result.return_mean is not None:
            run.metrics["eval/mean_return"] = result.return_mean
            run.metrics["eval/return_std"] = result.return_std
        return result

    def _keep_if_best(self, run: TrainingRun, result: Evaluation, at_end: bool = False) -> None:
        better = result.score > self.best_score or (at_end and result.score >= self.best_score)
        if not better:
            return
        self.best_score = result.score
        self.best_at = {"episodes": run.episodes, "env_steps": run.env_steps}
        if math.isfinite(result.score):
            run.metrics["eval/best_score"] = result.score
        if self.best_dir is not None:
            run.agent.save(self.best_dir, best=True)
            info = {"score": result.score, **self.best_at}
            atomic_write_text(self.best_dir / BEST_INFO, json.dumps(info, indent=2) + "\n")

    def on_train_begin(self, run: TrainingRun) -> None:
        info = read_best_info(self.best_dir) if self.best_dir is not None else None
        if info is not None:  # a resumed run: the best so far stands until beaten
            self.best_score = float(info["score"])
            self.best_at = {k: int(info[k]) for k in ("episodes", "env_steps")}
        now = self._clock(run)
        self._next = (now // self.every + 1) * self.every if self.every > 0 else 0

    def on_chunk_end(self, run: TrainingRun, batch) -> None:
        if self.every > 0 and self._clock(run) >= self._next and not run.done:
            self._keep_if_best(run, self.evaluate(run))
            self._next += self.every * max(1, (self._clock(run) - self._next) // self.every + 1)

    def on_train_end(self, run: TrainingRun) -> None:
        self.final = self.evaluate(run)
        if run.done:  # an interrupted run keeps what it would have kept: a resume goes on exactly
            self._keep_if_best(run, self.final, at_end=True)


BEST_INFO = "best.json"


def read_best_info(best_dir: Path) -> dict | None:
    try:
        info = json.loads((Path(best_dir) / BEST_INFO).read_text())
        float(info["score"]), int(info["episodes"]), int(info["env_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def ratio_to_optimum(
    value: float | None, optimum: float | None, nonnegative: bool = True
) -> float | None:
    """``value / optimum`` where that reads as a ratio (returns never negative, a positive
    optimum); None elsewhere (returns that can be negative have a gap, not a ratio)."""
    if value is None or optimum is None or optimum <= 0 or value < 0 or not nonnegative:
        return None
    return value / optimum


class TensorBoardCallback(Callback):
    """Scalars under ``charts/``, ``losses/`` and ``eval/`` against the env-step counter, the run
    config as text and as hparams. A resumed run appends to the same folder, so curves go on."""

    def __init__(
        self,
        logdir: Path,
        config: dict,
        hparams: dict,
        every_episodes: int | None = None,
        *,
        success: bool = True,
    ) -> None:
        self.logdir, self.config, self.hparams, self.every = (
            Path(logdir),
            config,
            hparams,
            every_episodes,
        )
        self.success = success  # whether the env defines success (the lakes)
        self._writer = None
        self._last_logged = -1
        self._writes = 0

    def on_train_begin(self, run: TrainingRun) -> None:
        from perception.hardware import import_tensorflow

        tf = import_tensorflow()  # without TensorFlow's C++ start-up lines (a tabular run's first)
        from tensorboard.plugins.hparams import api as hp

        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(self.logdir))
        self._unit_steps = run.total_episodes is None
        if self.every is None:  # about 500 points a curve: plenty to read, cheap to write
            total = run.total_steps if self._unit_steps else run.total_episodes
            self.every = max(1000 if self._unit_steps else 100, total // 500)
        # Kept in the run's checkpoints: a resumed run's points and histograms fall where the
        # uninterrupted run's would.
        saved = run.callback_state.get("tensorboard") or {}
        try:
            self._last_logged, self._writes = int(saved["last_logged"]), int(saved["writes"])
        except (KeyError, TypeError, ValueError, OverflowError):  # a new run (or no such state)
            self._last_logged = run.env_steps if self._unit_steps else run.episodes
            self._writes = 0
        run.callback_state["tensorboard"] = {
            "last_logged": self._last_logged,
            "writes": self._writes,
        }
        with self._writer.as_default(step=run.env_steps):
            tf.summary.text(
                "config", "```json\n" + json.dumps(self.config, indent=2, sort_keys=True) + "\n```"
            )
            hp.hparams(
                {k: v for k, v in self.hparams.items() if isinstance(v, (bool, int, float, str))}
            )
            graph = run.agent.trace_graph()  # the compiled update, for the Graphs tab
            if graph is not None:
                tf.summary.graph(graph)

    def _write(self, run: TrainingRun, final: bool = False) -> None:
        tf = self._tf
        lengths = np.asarray(run.recent_lengths)
        with self._writer.as_default(step=run.env_steps):
            tf.summary.scalar(
                "charts/episodic_return",
                float(np.mean(run.recent_returns)) if run.recent_returns else 0.0,
            )
            tf.summary.scalar(
                "charts/episodic_length", float(lengths.mean()) if lengths.size else 0.0
            )
            if self.success:
                tf.summary.scalar("charts/success_rate", run.success_rate)
            tf.summary.scalar("charts/epsilon", run.agent.exploration_rate)
            tf.summary.scalar("charts/learning_rate", run.agent.learning_rate)
            tf.summary.scalar("charts/steps_per_second", run.steps_per_second)
            tf.summary.scalar("charts/episodes", run.episodes)
            for tag, value in run.metrics.items():
                tf.summary.scalar(tag, value)
            # Weight and TD-error histograms cost ~25 ms each: about ten snapshots a run is enough.
            if final or self._writes % 50 == 0:
                run.agent.write_summaries(run.env_steps)
        self._writes += 1
        self._last_logged = run.env_steps if self._unit_steps else run.episodes
        run.callback_state["tensorboard"] = {
            "last_logged": self._last_logged,
            "writes": self._writes,
        }

    def on_chunk_end(self, run: TrainingRun, batch) -> None:
        now = run.env_steps if self._unit_steps else run.episodes
        if now - self._last_logged >= self.every:
            self._write(run)

    def on_train_end(self, run: TrainingRun) -> None:
        self._write(run, final=True)
        self._writer.flush()
        self._writer.close()


class CheckpointCallback(Callback):
    """Save every ``every`` episodes, at the end, and when the run is interrupted."""

    def __init__(self, directory: Path, every: int, unit: str = "episodes") -> None:
        self.directory, self.every, self.unit = Path(directory), every, unit
        self._last = 0
        self.path: Path | None = None

    def _clock(self, run: TrainingRun) -> int:
        return run.env_steps if self.unit == "steps" else run.episodes

    def on_train_begin(self, run: TrainingRun) -> None:
        self._last = self._clock(run)

    def on_chunk_end(self, run: TrainingRun, batch) -> None:
        if self.every > 0 and self._clock(run) - self._last >= self.every:
            self.save(run)

    def on_train_end(self, run: TrainingRun) -> None:
        self.save(run, run.final_state)

    def save(self, run: TrainingRun, loop_state: dict | None = None) -> None:
        # the run's own counters go with the agent's
        run.agent.loop_state = loop_state or run.state_dict()
        self.path = run.agent.save(self.directory)
        self._last = self._clock(run)
