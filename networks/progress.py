"""Training progress: a rich display on a terminal, one plain line per epoch otherwise.

Batch updates are marked ``async_safe`` so Keras dispatches them off the training thread; that
keeps the display's cost out of the seconds per epoch (the benchmark holds it within 5%).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import keras
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from common.signals import StopRequest

# Sequence models add a live throughput ("words/s", "reviews/s") and perplexities to the logs.
RATE_KEYS = ("words/s", "reviews/s")
PPL_KEYS = ("perplexity", "val_perplexity", "test_perplexity")


def _fmt(logs: dict[str, Any] | None, keys: tuple[str, ...] = ("loss", "accuracy")) -> str:
    logs = logs or {}
    parts = []
    for key in keys:
        if key in logs:
            if key in RATE_KEYS:
                parts.append(f"{float(logs[key]):,.0f} {key}")
            elif key in PPL_KEYS:
                parts.append(f"{key.replace('perplexity', 'ppl')} {float(logs[key]):.2f}")
            else:
                parts.append(f"{key.replace('accuracy', 'acc')} {float(logs[key]):.4f}")
    return "  ".join(parts)


class EpochTimer(keras.callbacks.Callback):
    """Wall seconds of each epoch; cheap enough to sit in a plain ``model.fit`` baseline too."""

    async_safe = True

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


class Throughput(keras.callbacks.Callback):
    """Adds a live rate (``words/s``, ``reviews/s``) to the batch and epoch logs.

    Placed first among the callbacks so the progress display and TensorBoard see the key.
    ``batches`` counts the batches of the current epoch.
    """

    async_safe = True

    def __init__(self, key: str, per_batch: int, total: int) -> None:
        super().__init__()
        self.key, self.per_batch, self.total = key, per_batch, total
        self._start = self._last = 0.0
        self.batches = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = self._last = time.perf_counter()
        self.batches = 0

    def _rate(self) -> float:
        done = min(self.batches * self.per_batch, self.total)
        return done / max(self._last - self._start, 1e-9)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.batches, self._last = batch + 1, time.perf_counter()
        if logs is not None:
            logs[self.key] = self._rate()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None and self.batches:
            logs[self.key] = self._rate()


class GracefulStop(keras.callbacks.Callback):
    """First Ctrl-C or SIGTERM: finish the current batch, then evaluate and save what was
    learnt (the command then exits 130 or 143: :attr:`exit_code`). A second one interrupts at
    once. The policy is :class:`common.signals.StopRequest`'s, shared with ``agents.run``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.request = StopRequest(
            self._stop, "stopping after this batch ({signal} again to abort)", self.stream
        )

    @property
    def stopped(self) -> bool:
        return self.request.requested

    @property
    def exit_code(self) -> int:
        return self.request.exit_code

    def _stop(self, signum: int) -> None:
        if self.model is not None:
            self.model.stop_training = True

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.request.install()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.request.restore()


class PlainProgress(keras.callbacks.Callback):
    """One line per epoch, for logs and pipes where a live display would be noise."""

    async_safe = True

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stdout
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        total = self.params.get("epochs", "?")
        keys = ("loss", "accuracy", "val_loss", "val_accuracy", *PPL_KEYS, *RATE_KEYS)
        seconds = time.perf_counter() - self._start
        print(
            f"epoch {epoch + 1}/{total}  {_fmt(logs, keys)}  {seconds:.1f}s",
            file=self.stream,
            flush=True,
        )


class RichProgress(keras.callbacks.Callback):
    """Epoch bar and batch bar with live loss/accuracy and ETA; a summary line per epoch."""

    async_safe = True

    def __init__(self, console: Console | None = None, every: int = 10) -> None:
        super().__init__()
        self.console = console or Console()
        self.every = max(1, every)
        self._progress: Progress | None = None
        self._epoch_task: Any = None
        self._batch_task: Any = None
        self._start = 0.0
        self._epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description:>9}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[metrics]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._epoch_task = self._progress.add_task(
            "epochs", total=self.params.get("epochs"), metrics=""
        )
        self._batch_task = self._progress.add_task(
            "batches", total=self.params.get("steps"), metrics=""
        )

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        self._epoch = epoch
        if self._progress is not None:
            self._progress.reset(self._batch_task, total=self.params.get("steps"), metrics="")
            self._progress.update(self._batch_task, description=f"epoch {epoch + 1}")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._progress is None or (batch + 1) % self.every:
            return
        keys = ("loss", "accuracy", "perplexity", *RATE_KEYS)
        self._progress.update(self._batch_task, completed=batch + 1, metrics=_fmt(logs, keys))
        steps = self.params.get("steps")
        if steps:  # the epochs bar moves within an epoch, so its ETA shows from the first one
            done = self._epoch + min(1.0, (batch + 1) / steps)
            self._progress.update(self._epoch_task, completed=done)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._progress is None:
            return
        self._progress.update(self._batch_task, completed=self.params.get("steps"))
        self._progress.update(
            self._epoch_task, completed=epoch + 1, metrics=_fmt(logs, ("val_loss", "val_accuracy"))
        )
        keys = ("loss", "accuracy", "val_loss", "val_accuracy", *PPL_KEYS, *RATE_KEYS)
        self._progress.console.print(
            f"epoch {epoch + 1}/{self.params.get('epochs')}  {_fmt(logs, keys)}  "
            f"{time.perf_counter() - self._start:.1f}s",
            highlight=False,
        )

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def make_progress(
    enabled: bool = True, stream: TextIO | None = None
) -> keras.callbacks.Callback | None:
    """The right display for where output goes: rich on a terminal, plain lines otherwise."""
    if not enabled:
        return None
    stream = stream or sys.stdout
    if stream.isatty():
        return RichProgress(Console(file=stream))
    return PlainProgress(stream)
