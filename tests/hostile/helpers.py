"""What every hostile-input test asserts: a one-line message, no traceback, nothing changed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def assert_one_line(message: str) -> None:
    text = str(message)
    assert text.strip(), "empty message"
    assert "\n" not in text.strip(), f"more than one line: {text!r}"
    assert "Traceback" not in text


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its sha256: compare before and after a refusal."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = Path(dirpath) / name
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_cli(module: str, *args: str, cwd: Path | None = None, timeout: float = 120, env=None):
    """``python -m module args``: (exit code, stdout, stderr)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    return proc.returncode, proc.stdout, proc.stderr


def assert_refused(code: int, stderr: str) -> None:
    """Exit 2 and exactly one line on stderr, no traceback."""
    assert code == 2, f"exit {code}: {stderr[-2000:]}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {stderr[-2000:]}"
    assert "Traceback" not in stderr
