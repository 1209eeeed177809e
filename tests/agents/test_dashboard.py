"""agents.dashboard rendered into rich's recording console at 80 columns: what a user reads."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
from rich.console import Console

from agents.dashboard import Dashboard, format_plain, lake_table, sparkline
from agents.loop import TrainingRun
from envs.maps import parse_map

LAKE = parse_map("4x4")  # SFFF / FHFH / FFFH / HFFG


@dataclass
class FakeAgent:
    """What the dashboard reads from an agent, with numbers the test chooses."""

    q: np.ndarray
    episodes: int = 40
    env_steps: int = 1234
    exploration_rate: float = 0.1234
    learning_rate: float = 0.005

    def q_table(self) -> np.ndarray:
        return self.q


def hand_q() -> np.ndarray:
    """Greedy action and value per state: state s prefers action s % 4 with value s / 20."""
    q = np.zeros((16, 4))
    for s in range(16):
        q[s] = -1.0
        q[s, s % 4] = s / 20
    return q


def record(renderable) -> str:
    console = Console(record=True, width=80, color_system=None)
    console.print(renderable)
    return console.export_text()


def a_run(**metrics) -> TrainingRun:
    run = TrainingRun(FakeAgent(hand_q()), total_episodes=100)
    run.recent_returns.extend([1.0, 0.0, 1.0, 0.0])  # success 0.500
    run.success_history.extend([0.0, 0.5, 1.0])
    run.metrics.update(metrics)
    return run


def test_sparkline_scales_between_low_and_high():
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"
    assert sparkline([float("nan"), 2.0, -1.0]) == "▁█▁"  # clipped; nan at the bottom
    assert sparkline(range(100), width=3, low=0, high=99) == "███"  # the last 3 values
    assert sparkline([]) == ""


# hand_q's policy on the 4x4 lake, as a user reads it: arrow and max Q per open cell.
LAKE_LINES = [
    "← 0.00 ↓ 0.05 → 0.10 ↑ 0.15",
    "← 0.20   hole → 0.30   hole",
    "← 0.40 ↓ 0.45 → 0.50   hole",
    "  hole ↓ 0.65 → 0.70   goal",
]


def test_lake_shows_the_greedy_arrow_and_value_on_open_cells():
    lines = [line.rstrip() for line in record(lake_table(LAKE, hand_q())).splitlines()]
    assert lines == LAKE_LINES


def rows_of(text: str) -> dict[str, str]:
    """``label: value`` of the stats grid inside the panel's borders."""
    rows = {}
    for line in text.splitlines():
        inner = line.strip("│ ").strip()
        label, sep, value = inner.partition("  ")
        if sep:
            rows[label] = value.strip()
    return rows


def test_panel_at_80_columns_holds_the_runs_numbers():
    run = a_run(
        **{
            "eval/exact_return": 0.7,
            "eval/optimality_ratio": 0.7 / 0.7442,
            "losses/td_loss": 0.01234,
        }
    )
    dash = Dashboard("DQN on frozenlake 4x4", LAKE, 0.7442, console=Console(file=io.StringIO()))
    dash.on_train_begin(run)
    text = record(dash.render(run))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "DQN on frozenlake 4x4" in lines[0]
    rows = rows_of(text)
    assert rows["episodes"] == "40 / 100" and rows["env steps"] == "1,234"
    assert rows["success (last 100)"] == "0.500  ▁▅█"
    assert rows["epsilon"] == "0.1234" and rows["learning rate"] == "0.005"
    assert rows["greedy policy (exact)"] == "0.7000 (optimum 0.7442) = 0.941 x optimum"
    assert rows["td_loss"] == "0.01234"
    assert "greedy policy and state values" in text
    # The lake, inside its own panel, in order.
    inner = [line.strip("│ ").rstrip("│ ") for line in lines]
    at = inner.index(LAKE_LINES[0].strip())
    assert [line.strip() for line in inner[at : at + 4]] == [x.strip() for x in LAKE_LINES]


def test_large_lakes_leave_the_map_out_and_plain_lines_say_the_same():
    big = ("S" + "F" * 12,) + ("F" * 13,) * 11 + ("F" * 12 + "G",)
    run = a_run()
    run.agent = FakeAgent(np.zeros((13 * 13, 4)))
    text = record(Dashboard("wide", big, None, console=Console(file=io.StringIO())).render(run))
    assert "greedy policy and state values" not in text and "episodes" in text
    line = format_plain(a_run(**{"eval/exact_return": 0.7}), optimum=0.7442)
    assert line.startswith("episode 40/100 steps=1234 success@100=0.500 epsilon=0.1234")
    assert "eval=0.7000 (optimum 0.7442), gap 0.0442" in line


def test_off_a_terminal_it_prints_plain_lines():
    console = Console(record=True, width=80, force_terminal=False)
    dash = Dashboard("tabular", LAKE, 0.7442, console=console)
    run = a_run()
    dash.on_train_begin(run)
    dash.on_train_end(run)
    lines = console.export_text().splitlines()
    assert lines[0] == "tabular: training 60 episodes"
    assert lines[1].startswith("episode 40/100 steps=1234 success@100=0.500")


@pytest.mark.parametrize("returns, shown", [([2.0, -1.0], "0.5  █▁"), ([], "0")])
def test_return_view_for_envs_without_success(returns, shown):
    run = a_run()
    run.recent_returns.clear()
    run.recent_returns.extend(returns)
    run.return_history.extend(returns)
    dash = Dashboard("cartpole", None, None, console=Console(file=io.StringIO()), success=False)
    text = record(dash.render(run))
    assert rows_of(text)["return (last 100)"] == shown  # sparkline between the min and max
    assert "success" not in text and "greedy policy and state values" not in text


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_8x8_lake_keeps_its_shape_at_any_width(width):
    rows = parse_map("8x8")
    q = np.random.default_rng(0).random((64, 4))
    dash = Dashboard("8x8", rows, optimum=None, console=Console(width=width, color_system=None))
    run = TrainingRun(FakeAgent(q), total_episodes=100)
    console = Console(record=True, width=width, color_system=None)
    console.print(dash.render(run))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= width
    # Each lake row on one line: the inner panel holds exactly 8 lines, each with 8 cells.
    grid = [line for line in lines if line.count("│") == 4]
    assert len(grid) == 8, "\n".join(lines)
    for line, row in zip(grid, rows, strict=True):
        cells = line.split("│")[2].split()
        assert len(cells) == 8 if width < 80 else len(cells) >= 8, line
        assert ("G" in cells[-1] or "goal" in line) if row.endswith("G") else True
