"""Ctrl-C and SIGTERM: one policy for every command.

Inside a training loop (:class:`StopRequest`) the first signal asks the loop to stop at a safe
point, where it saves and flushes; the command then exits 130 after Ctrl-C or 143 after SIGTERM
(what ``timeout`` and batch schedulers send). A second signal interrupts at once. Outside a loop,
SIGTERM raises :class:`~common.errors.Terminated` and :func:`common.errors.run_main` prints one
line; :func:`install_interrupt_hook` does the same for a Ctrl-C that lands while the command's
modules (TensorFlow) are still importing, before ``run_main`` runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from common.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, terminate_raises

__all__ = ["StopRequest", "exit_code", "install_interrupt_hook", "terminate_raises"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)
NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


def exit_code(signum: int) -> int:
    """The shell's code for a command stopped by ``signum``: 130 for Ctrl-C, 143 for SIGTERM."""
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class StopRequest:
    """While active (``with StopRequest(...) as stop``): the first SIGINT/SIGTERM sets
    :attr:`signum` and calls ``on_request``; a second raises ``KeyboardInterrupt`` (Ctrl-C) or
    :class:`Terminated` (SIGTERM). Handlers are installed in the main thread only and the
    previous ones come back on exit."""

    def __init__(
        self,
        on_request: Callable[[int], None] | None = None,
        message: str | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.on_request = on_request
        self.message = message  # e.g. "stopping after this batch ({signal} again to abort)"
        self.stream = stream
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum if self.signum is not None else signal.SIGINT)

    def request(self, signum: int = signal.SIGINT) -> None:
        """What a signal does, callable directly (tests, a ``--max-seconds`` budget)."""
        if self.signum is not None:
            raise KeyboardInterrupt if signum == signal.SIGINT else Terminated()
        self.signum = signum
        if self.message:
            stream = self.stream or sys.stderr
            print("\n" + self.message.format(signal=NAMES.get(signum, signum)), file=stream)
            stream.flush()
        if self.on_request is not None:
            self.on_request(signum)

    def _handler(self, signum: int, frame: Any) -> None:
        self.request(signum)

    def install(self) -> StopRequest:
        if _main_thread() and not self._previous:
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def __enter__(self) -> StopRequest:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()


def _interrupt_hook(previous: Callable[..., Any]) -> Callable[..., Any]:
    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(exc_type, (KeyboardInterrupt, Terminated)):
            interrupted = issubclass(exc_type, KeyboardInterrupt)
            print("interrupted" if interrupted else "terminated", file=sys.stderr)
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED if interrupted else EXIT_TERMINATED)
        previous(exc_type, exc, tb)

    hook.dltf_interrupt_hook = True  # type: ignore[attr-defined]
    return hook


def install_interrupt_hook() -> None:
    """An interrupt that escapes to the top level (Ctrl-C while TensorFlow imports) prints one
    line and exits 130, not a traceback. Call it first thing in a command's package."""
    if not getattr(sys.excepthook, "dltf_interrupt_hook", False):
        sys.excepthook = _interrupt_hook(sys.excepthook)
