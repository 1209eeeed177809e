"""Errors a user can fix, shared by every layer's command line.

Every command catches :class:`UsageError` at its edge and prints it as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


class UsageError(ValueError):
    """Bad input from the user (flag, map, config, data or checkpoint file). One line, exit 2."""


EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a command's ``main`` and turn :class:`UsageError` into ``error: ...`` and exit 2."""
    try:
        return main(argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``error: ...; see --help``) and exit 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")
