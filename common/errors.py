"""Errors a user can fix, shared by every layer's command line.

Every command catches :class:`UsageError` at its edge and prints it as one line with exit code 2.
A Ctrl-C or SIGTERM that reaches the edge (say while TensorFlow is still importing) is one line
too, with the shell's exit codes 130 and 143, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any


class UsageError(ValueError):
    """Bad input from the user (flag, map, config, data or checkpoint file). One line, exit 2."""


class Terminated(BaseException):
    """SIGTERM outside a training loop (see :mod:`common.signals`): exit 143 in one line.

    A ``BaseException`` like ``KeyboardInterrupt``, so ``except Exception`` never swallows it."""


EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader went away (`... --list | head -1`)


def one_line(text: object) -> str:
    """``text`` with its lines joined: a message that must stay on one line."""
    parts = [part.strip() for part in str(text).splitlines() if part.strip()]
    return "; ".join(parts)


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (its type when it has none)."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def run_main(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a command's ``main``: :class:`UsageError` becomes ``error: ...`` and exit 2, an
    interrupt that reaches here one line and exit 130 (Ctrl-C) or 143 (SIGTERM)."""
    try:
        with terminate_raises():
            return main(argv)
    except UsageError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        # Python's documented recipe: point stdout at devnull so the exit flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


@contextlib.contextmanager
def terminate_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the body (main thread, where no handler was set),
    so ``finally`` blocks and context managers (locks, temp files) run."""
    main_thread = threading.current_thread() is threading.main_thread()
    if not main_thread or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class OneLineArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``error: ...; see --help``) and exit 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_USAGE, f"error: {one_line(message)} (see {self.prog} --help)\n")
