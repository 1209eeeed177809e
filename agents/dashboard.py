"""Live terminal dashboard of a training run (rich), or plain log lines when not on a terminal."""

from __future__ import annotations

import math
import time

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from agents.loop import Callback, TrainingRun
from envs.frozenlake import ACTION_ARROWS
from envs.grids import GridView

SPARK_CHARS = "▁▂▃▄▅▆▇█"
TILE_STYLES = {
    "S": "bold black on cyan",
    "F": "black on bright_white",
    "H": "bold white on blue",
    "G": "bold black on green",
    "C": "bold white on red",  # CliffWalking's cliff
}


def sparkline(values, width: int = 40, low: float = 0.0, high: float = 1.0) -> str:
    """Unicode blocks for the last ``width`` values scaled between ``low`` and ``high``."""
    values = list(values)[-width:]
    if not values:
        return ""
    span = (high - low) or 1.0
    out = []
    for v in values:
        level = (
            0
            if math.isnan(v)
            else int(round((min(max(v, low), high) - low) / span * (len(SPARK_CHARS) - 1)))
        )
        out.append(SPARK_CHARS[level])
    return "".join(out)


def shows_values(n_cols: int, width: int | None) -> bool:
    """Whether ``width`` columns hold a grid row of arrow-and-value cells (7 columns each)."""
    return width is None or n_cols * 7 <= width


def lake_table(
    rows: tuple[str, ...],
    q_table: np.ndarray,
    arrows: tuple[str, ...] = ACTION_ARROWS,
    width: int | None = None,
) -> Table:
    """The grid with the greedy action's arrow (``arrows[a]``: the env's own action numbering)
    and the state value (max Q) on every open cell. When ``width`` columns cannot hold that,
    arrows and tile letters only, so the grid keeps its shape instead of wrapping its cells."""
    n_cols = len(rows[0])
    compact = not shows_values(n_cols, width)
    grid = Table.grid(padding=(0, 0))
    for _ in range(n_cols):
        grid.add_column(justify="center", width=3 if compact else 7)
    policy, values = q_table.argmax(axis=1), q_table.max(axis=1)
    for r, row in enumerate(rows):
        cells = []
        for c, tile in enumerate(row):
            s = r * n_cols + c
            if tile in "HGC":
                label = tile if compact else {"H": " hole ", "G": " goal ", "C": " cliff "}[tile]
            elif compact:
                label = arrows[policy[s]]
            else:
                label = f"{arrows[policy[s]]} {values[s]:.2f}"
            cells.append(Text(label, style=TILE_STYLES[tile]))
        grid.add_row(*cells)
    return grid


def budget_text(run: TrainingRun) -> str:
    parts = []
    if run.total_episodes is not None:
        parts.append(f"episode {run.episodes}/{run.total_episodes} steps={run.env_steps}")
    else:
        parts.append(f"steps {run.env_steps}/{run.total_steps} episodes={run.episodes}")
    return " ".join(parts)


def eval_text(run: TrainingRun, optimum: float | None) -> str | None:
    """The last evaluation: exact value against the optimum, or sampled mean +- std."""
    if run.metrics.get("eval/never_ends"):
        return "never ends an episode (the model says so)"
    exact = run.metrics.get("eval/exact_return")
    if exact is not None and optimum is not None:
        ratio = run.metrics.get("eval/optimality_ratio")
        tail = f" = {ratio:.3f} x optimum" if ratio is not None else f", gap {optimum - exact:.4g}"
        return f"{exact:.4f} (optimum {optimum:.4f}){tail}"
    mean = run.metrics.get("eval/mean_return")
    if mean is not None:
        return f"{mean:.4g} ± {run.metrics.get('eval/return_std', 0.0):.3g}"
    return None


def format_plain(run: TrainingRun, success: bool = True, optimum: float | None = None) -> str:
    recent = (
        f"success@100={run.success_rate:.3f}" if success else f"return@100={run.mean_return:.4g}"
    )
    evaluation = eval_text(run, optimum)
    eval_part = f" eval={evaluation}" if evaluation else ""
    return (
        f"{budget_text(run)} {recent} epsilon={run.agent.exploration_rate:.4f} "
        f"lr={run.agent.learning_rate:.4g} steps/s={run.steps_per_second:,.0f}{eval_part}"
    )


class Dashboard(Callback):
    """rich Live on a terminal: progress with ETA, counters, success sparkline, epsilon, steps/s and
    the lake with the greedy policy. Elsewhere (a pipe, CI), one plain line every few seconds."""

    def __init__(
        self,
        title: str,
        rows: tuple[str, ...] | GridView | None,
        optimum: float | None,
        console: Console | None = None,
        refresh_seconds: float = 0.2,
        plain_every_seconds: float = 5.0,
        success: bool = True,
    ) -> None:
        self.title, self.optimum, self.success = title, optimum, success
        self.rows, self.arrows = rows, ACTION_ARROWS  # a GridView brings its own arrows
        if isinstance(rows, GridView):
            self.rows, self.arrows = rows.rows, rows.arrows
        self.console = console or Console()
        self.live_mode = self.console.is_terminal
        self.refresh_seconds = refresh_seconds if self.live_mode else plain_every_seconds
        self._live: Live | None = None
        self._last = 0.0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("•"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._task = None

    def render(self, run: TrainingRun):
        stats = Table.grid(padding=(0, 2))
        stats.add_column(style="bold cyan")
        stats.add_column()
        total = f" / {run.total_episodes:,}" if run.total_episodes is not None else ""
        stats.add_row("episodes", f"{run.episodes:,}{total}")
        total = f" / {run.total_steps:,}" if run.total_steps is not None else ""
        stats.add_row("env steps", f"{run.env_steps:,}{total}")
        if self.success:
            stats.add_row(
                "success (last 100)", f"{run.success_rate:.3f}  {sparkline(run.success_history)}"
            )
        else:
            history = run.return_history
            low, high = (min(history), max(history)) if history else (0.0, 1.0)
            stats.add_row(
                "return (last 100)",
                f"{run.mean_return:.4g}  {sparkline(history, low=low, high=high)}",
            )
        stats.add_row("epsilon", f"{run.agent.exploration_rate:.4f}")
        stats.add_row("learning rate", f"{run.agent.learning_rate:.4g}")
        stats.add_row("steps/s", f"{run.steps_per_second:,.0f}")
        evaluation = eval_text(run, self.optimum)
        if evaluation is not None:
            label = (
                "greedy policy (exact)" if "eval/exact_return" in run.metrics else "greedy policy"
            )
            stats.add_row(label, evaluation)
        best = run.metrics.get("eval/best_score")
        if best is not None:
            stats.add_row("best kept", f"{best:.4g}")
        for tag in sorted(t for t in run.metrics if t.startswith("losses/")):
            stats.add_row(tag.split("/", 1)[1], f"{run.metrics[tag]:.4g}")
        parts = [self._progress, stats]
        if self.rows is not None and len(self.rows[0]) <= 12:
            parts.append(
                Panel(
                    # the two panels' borders and padding take 8 columns
                    lake_table(self.rows, run.agent.q_table(), self.arrows, self.console.width - 8),
                    title="greedy policy and state values"
                    if shows_values(len(self.rows[0]), self.console.width - 8)
                    else "greedy policy",
                    expand=False,
                )
            )
        return Panel(Group(*parts), title=self.title, border_style="blue")

    def _completed(self, run: TrainingRun) -> int:
        return run.episodes if self._by_episodes else run.env_steps

    def on_train_begin(self, run: TrainingRun) -> None:
        self._by_episodes = run.total_episodes is not None
        total = run.total_episodes if self._by_episodes else run.total_steps
        self._task = self._progress.add_task(
            "episodes" if self._by_episodes else "env steps",
            total=total,
            completed=self._completed(run),
        )
        if self.live_mode:
            self._live = Live(
                self.render(run), console=self.console, auto_refresh=False, transient=False
            )
            self._live.start()
        else:
            left = (
                f"{run.total_episodes - run.episodes} episodes"
                if self._by_episodes
                else f"{run.total_steps - run.env_steps} env steps"
            )
            self.console.print(f"{self.title}: training {left}", highlight=False)
        self._last = time.perf_counter()

    def on_chunk_end(self, run: TrainingRun, batch) -> None:
        now = time.perf_counter()
        if now - self._last < self.refresh_seconds:
            return
        self._last = now
        self._show(run)

    def _show(self, run: TrainingRun) -> None:
        self._progress.update(self._task, completed=self._completed(run))
        if self._live is not None:
            self._live.update(self.render(run), refresh=True)
        else:
            line = format_plain(run, self.success, self.optimum)
            self.console.print(line, highlight=False, soft_wrap=True)

    def on_train_end(self, run: TrainingRun) -> None:
        self._show(run)
        if self._live is not None:
            self._live.stop()
            self._live = None
