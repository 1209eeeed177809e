"""agents.run run folders, end to end: a copied folder resumes from its own checkpoints, and an
output naming the run's own files is refused before any work, nothing changed."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.hostile.helpers import assert_refused, run_cli, snapshot

BASE = ["frozenlake", "--no-dashboard", "--seed", "1"]


def test_a_copied_run_folder_resumes_itself(tmp_path):
    orig, copy = tmp_path / "orig", tmp_path / "copy"
    code, _, err = run_cli("agents.run", *BASE, "--episodes", "300", "--logdir", str(orig),
                           cwd=tmp_path)  # fmt: skip
    assert code == 0, err[-2000:]
    shutil.copytree(orig, copy)
    before = snapshot(orig)
    code, _, err = run_cli("agents.run", *BASE, "--episodes", "600", "--logdir", str(copy),
                           "--resume", cwd=tmp_path)  # fmt: skip
    assert code == 0, err[-2000:]
    assert snapshot(orig) == before  # the original's checkpoints and files untouched
    summary = json.loads((copy / "summary.json").read_text())
    assert summary["episodes"] == 600


@pytest.mark.parametrize(
    "summary_json",
    [
        "{run}/checkpoints/checkpoint.npz",
        "{run}/config.json",
        "{run}",
        "/proc/x",
    ],
)
def test_summary_json_may_not_replace_the_runs_files(tmp_path, summary_json):
    run = tmp_path / "run"
    code, _, err = run_cli("agents.run", *BASE, "--episodes", "100", "--logdir", str(run),
                           cwd=tmp_path)  # fmt: skip
    assert code == 0, err[-2000:]
    before = snapshot(run)
    code, _, err = run_cli("agents.run", *BASE, "--episodes", "200", "--logdir", str(run),
                           "--resume", "--summary-json", summary_json.format(run=run),
                           cwd=tmp_path)  # fmt: skip
    assert_refused(code, err)
    assert snapshot(run) == before
