"""Suite-wide guard: a test writes only under its own tmp_path.

Before and after every test the names in each folder of the repository (and in ``$HOME`` and
``~/.keras``) are listed; a test that left a new entry there (a ``runs/`` folder from a missing
``--logdir``, a model saved to the working directory, ...) fails at teardown with the paths.
Listing ~30 folders costs well under a millisecond. Temporary files go under the test's
tmp_path too: ``tempfile`` and child processes get a ``TMPDIR`` there.

Not flagged: interpreter and tool caches (``__pycache__``, ``.pytest_cache``, ``.hypothesis``,
...) and new ``.py``/``.md`` files, which are people's edits in a shared checkout, not test output.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CACHES = frozenset(
    {
        "__pycache__",
        ".pytest_cache",
        ".hypothesis",
        ".ruff_cache",
        ".benchmarks",
        ".mypy_cache",
        ".coverage",
        ".git",
    }
)
NOT_WATCHED = CACHES | {".venv", ".venv-ci"}
PEOPLES_EDITS = (".py", ".md")


def _watched_folders() -> list[Path]:
    folders = [Path.home(), Path.home() / ".keras"]
    for root, dirs, _ in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in NOT_WATCHED and not d.startswith(".venv")]
        folders.append(Path(root))
    return folders


FOLDERS = _watched_folders()


def _listing() -> dict[Path, frozenset[str]]:
    listing = {}
    for folder in FOLDERS:
        try:
            listing[folder] = frozenset(os.listdir(folder))
        except OSError:  # gone (a folder someone removed) or never there (~/.keras)
            listing[folder] = frozenset()
    return listing


def _stray(before: dict[Path, frozenset[str]], after: dict[Path, frozenset[str]]) -> list[str]:
    found = []
    for folder, names in after.items():
        for name in sorted(names ^ before[folder]):
            if name in CACHES or name.endswith(PEOPLES_EDITS) or name.startswith(".venv"):
                continue
            state = "new" if name in names else "removed"
            found.append(f"{state}: {folder / name}")
    return found


@pytest.fixture(autouse=True)
def _writes_only_under_tmp_path(request, tmp_path_factory, monkeypatch):
    """Fail the test that created (or removed) anything in the repository or the home folder."""
    temp = tmp_path_factory.mktemp("tmpdir", numbered=True)
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    before = _listing()
    yield
    stray = _stray(before, _listing())
    if stray:
        pytest.fail(
            f"{request.node.nodeid} wrote outside its tmp_path (use tmp_path, or "
            f"monkeypatch.chdir(tmp_path) for default output folders): " + "; ".join(stray[:10]),
            pytrace=False,
        )
