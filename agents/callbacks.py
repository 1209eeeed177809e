"""Callbacks of the training loop: periodic evaluation, TensorBoard, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from agents.evaluation import evaluate
from agents.loop import Callback, TrainingRun


class EvalCallback(Callback):
    """Every ``every`` episodes (and at the end) evaluate the greedy policy: exactly with the
    planner, and over ``episodes`` seeded episodes. Results go to ``run.metrics['eval/...']``."""

    def __init__(self, env, every: int, episodes: int, seed: int, optimum: float) -> None:
        self.env, self.every, self.episodes, self.seed, self.optimum = (
            env,
            every,
            episodes,
            seed,
            optimum,
        )
        self._next = 0
        self.last = None

    def _evaluate(self, run: TrainingRun, episodes: int) -> None:
        self.last = evaluate(run.agent, self.env, episodes, self.seed)
        run.metrics["eval/exact_success_rate"] = self.last.exact_success_rate
        run.metrics["eval/optimality_ratio"] = (
            self.last.exact_success_rate / self.optimum if self.optimum else 0.0
        )
        if episodes:
            run.metrics["eval/success_rate"] = self.last.sampled_success_rate
            run.metrics["eval/mean_return"] = self.last.mean_return

    def on_train_begin(self, run: TrainingRun) -> None:
        self._next = (run.episodes // self.every + 1) * self.every if self.every > 0 else 0

    def on_chunk_end(self, run: TrainingRun, batch) -> None:
        if self.every > 0 and run.episodes >= self._next:
            # Periodic checks are exact only: cheap, and free of sampling noise.
            self._evaluate(run, 0)
            self._next += self.every * max(1, (run.episodes - self._next) // self.every + 1)

    def on_train_end(self, run: TrainingRun) -> None:
        self._evaluate(run, self.episodes)


class TensorBoardCallback(Callback):
    """Scalars under ``charts/``, ``losses/`` and ``eval/`` against the env-step counter, the run
    config as text and as hparams. A resumed run appends to the same folder, so curves go on."""

    def __init__(
        self, logdir: Path, config: dict, hparams: dict, every_episodes: int | None = None
    ) -> None:
        self.logdir, self.config, self.hparams, self.every = (
            Path(logdir),
            config,
            hparams,
            every_episodes,
        )
        self._writer = None
        self._last_logged = -1
        self._writes = 0

    def on_train_begin(self, run: TrainingRun) -> None:
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hp

        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(self.logdir))
        self._last_logged = run.episodes
        if self.every is None:  # about 500 points a curve: plenty to read, cheap to write
            self.every = max(100, run.total_episodes // 500)
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
        self._last_logged = run.episodes

    def on_chunk_end(self, run: TrainingRun, batch) -> None:
        if run.episodes - self._last_logged >= self.every:
            self._write(run)

    def on_train_end(self, run: TrainingRun) -> None:
        self._write(run, final=True)
        self._writer.flush()
        self._writer.close()


class CheckpointCallback(Callback):
    """Save every ``every`` episodes, at the end, and when the run is interrupted."""

    def __init__(self, directory: Path, every: int) -> None:
        self.directory, self.every = Path(directory), every
        self._last = 0
        self.path: Path | None = None

    def on_train_begin(self, run: TrainingRun) -> None:
        self._last = run.episodes

    def on_chunk_end(self, run: TrainingRun, batch) -> None:
        if self.every > 0 and run.episodes - self._last >= self.every:
            self.save(run)

    def on_train_end(self, run: TrainingRun) -> None:
        self.save(run)

    def save(self, run: TrainingRun) -> None:
        self.path = run.agent.save(self.directory)
        self._last = run.episodes
