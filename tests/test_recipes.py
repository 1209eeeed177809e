"""The README's figures, guarded: every default recipe it quotes, seeds 0-4, against its floor.

A documented figure has drifted unnoticed before, so each recipe runs end to end through
``agents.run`` and the handed-over greedy policy's exact value (``optimality_ratio``, no sampling
noise) is checked: the best policy the run's evaluations saw (keep-best), as a user gets it.
Training is deterministic per seed on one machine, so a case below its floor is a changed figure,
not bad luck. The runs take minutes (8x8 DQN the longest), so the ``recipes`` marker is deselected
by pyproject's addopts; run them with ``python -m pytest -m recipes``.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.recipes

REPO = Path(__file__).resolve().parents[1]
SEEDS = range(5)
ENCODER = "{encoder}"  # filled in with the session's lake autoencoder; see lake_encoder

# Floors follow the README: 4x4 recipes end at 0.98-0.995 x optimum (pixels through the lake
# autoencoder: 0.981, 0.995, 0.981 for seeds 0-2), hence 0.97; 8x8 ends further from the optimum
# because even the best stationary policy reaches only 0.979 of it, hence 0.95.
RECIPES = {
    "tabular-4x4": (["frozenlake"], 0.97),
    "tabular-8x8": (["frozenlake", "--map", "8x8"], 0.95),
    "dqn-4x4": (["frozenlake", "--q-net"], 0.97),
    "dqn-8x8": (["frozenlake", "--map", "8x8", "--q-net"], 0.95),
    "classic-4x4": (["frozenlake", "--q-net", "classic"], 0.97),
    "pixels-lake-autoencoder": (["frozenlake-pixels", "--q-net", "--encoder", ENCODER], 0.97),
    # Gymnasium's toy-text envs, judged from their own model: returns can be negative, so the
    # floor is on the gap to the optimum (None: the exact optimum, up to rounding).
    "taxi-tabular": (["Taxi-v4"], None),
    "cliffwalking-tabular": (["CliffWalking-v1"], None),
    # No model: the handed-over greedy policy's mean return over the run's 100 sampled episodes
    # (CartPole-v1's registered reward threshold is 475).
    "cartpole-dqn": (["CartPole-v1", "--q-net"], 475.0),
}

# The README documents classic's constant step size leaving a noisy final snapshot: over seeds
# 0-29, 27 end at 0.995 x optimum and seeds 4, 8 and 29 at 0.88, 0.73 and 0.73. Seed 4 is held to
# its documented 0.88: 0.875 is the least ratio that the README's two digits round to 0.88.
FLOOR_EXCEPTIONS = {("classic-4x4", 4): 0.875}

# The one known drift (issue 13: 8x8 DQN seed 0 ended at 0.810 although it reached 0.973 at
# episode ~9,400) is gone: keep-best hands over the best policy the evaluations saw.
KNOWN_DRIFT: dict = {}

CASES = [
    pytest.param(
        name,
        seed,
        FLOOR_EXCEPTIONS.get((name, seed), floor),
        id=f"{name}-seed{seed}",
        marks=[KNOWN_DRIFT[name, seed]] if (name, seed) in KNOWN_DRIFT else [],
    )
    for name, (_, floor) in RECIPES.items()
    for seed in SEEDS
]


@pytest.fixture(scope="session")
def lake_encoder(tmp_path_factory) -> Path:
    """The README's perception step, trained once per session by the command a user types. A
    subprocess, so networks.train's TensorFlow settings do not leak into the agents' runs."""
    folder = tmp_path_factory.mktemp("lake-ae")
    command = [sys.executable, "-m", "networks.train", "lake-autoencoder", "--no-progress"]
    command += ["--save", str(folder / "lake-ae.keras"), "--logdir", str(folder / "ae")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    encoder = folder / "lake-ae.encoder.keras"
    assert encoder.exists(), done.stdout[-3000:]
    return encoder


@pytest.mark.parametrize(("name", "seed", "floor"), CASES)
def test_default_recipe_reaches_its_documented_floor(name, seed, floor, tmp_path, request):
    # Imported here so that the default run, which collects this file only to deselect it, does
    # not depend on the CLI importing. In-process is safe: run one after another in one process,
    # every recipe here gives the same env steps and ratio as a fresh `python -m agents.run`.
    from agents.run import main

    args = RECIPES[name][0]
    if ENCODER in args:
        encoder = f"autoencoder:{request.getfixturevalue('lake_encoder')}"
        args = [encoder if a == ENCODER else a for a in args]
    summary_path = tmp_path / "summary.json"
    code = main(
        [
            *args,
            "--seed",
            str(seed),
            "--no-dashboard",
            "--logdir",
            str(tmp_path / "run"),
            "--summary-json",
            str(summary_path),
        ]
    )
    assert code == 0
    summary = json.loads(summary_path.read_text())
    # Written to --junitxml output, so a full run records every case's figure, passing or not
    # (user_properties rather than record_property, which warns under the default xunit2).
    request.node.user_properties += [
        ("optimality_ratio", summary.get("optimality_ratio")),
        ("optimality_gap", summary.get("optimality_gap")),
        ("env_steps", summary["env_steps"]),
    ]
    if floor is None:
        gap = summary["optimality_gap"]
        assert gap is not None and gap <= 1e-9 * max(1.0, abs(summary["optimal_return"])), (
            f"{name} seed {seed}: exact {summary['exact_return']}, optimum "
            f"{summary['optimal_return']}"
        )
        return
    if "optimal_return" not in summary:
        mean = summary["eval_return_mean"]
        assert summary["eval_episodes"] == 100 and mean >= floor, f"{name} seed {seed}: {mean}"
        return
    ratio = summary["optimality_ratio"]
    assert ratio >= floor, f"{name} seed {seed}: {ratio:.3f} x optimum, floor {floor}"
