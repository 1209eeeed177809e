"""TensorBoard logging for ``networks.train``: config text, epoch scalars, weight histograms,
and at the end a confusion-matrix image and the misclassified samples.

Written with ``tf.summary`` directly (not ``keras.callbacks.TensorBoard``) so nothing runs per
batch and the layout is the same for every model: ``<logdir>/train`` and ``<logdir>/validation``
hold the curves (they overlay in TensorBoard), ``<logdir>`` itself the rest.

Every summary has its own tag: TensorBoard's default (fast, ``--load_fast``) loader keeps one
plugin per tag and run, so an image and a text under one tag would hide the image.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf


def config_markdown(config: dict[str, Any]) -> str:
    """The run's full config as a markdown table (TensorBoard's text plugin renders it)."""
    rows = ["| key | value |", "|---|---|"]
    rows += [f"| {k} | `{json.dumps(v)}` |" for k, v in config.items()]
    return "\n".join(rows)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts with rows = true class, columns = predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return cm


def confusion_image(cm: np.ndarray, cell: int = 24) -> np.ndarray:
    """Row-normalised heat map, white (0) to dark blue (1), as a (1, H, W, 3) uint8 batch.

    Drawn with numpy alone (no plotting library); the exact counts go to the text tab.
    """
    rows = cm.sum(axis=1, keepdims=True).clip(min=1)
    frac = cm / rows
    white, blue = np.array([255.0, 255.0, 255.0]), np.array([8.0, 48.0, 107.0])
    rgb = white + frac[..., None] * (blue - white)
    img = np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1)
    img[::cell, :, :] = 160  # grid lines
    img[:, ::cell, :] = 160
    return img.astype(np.uint8)[None]


def confusion_markdown(cm: np.ndarray, class_names: tuple[str, ...]) -> str:
    names = list(class_names)[: len(cm)] + [str(i) for i in range(len(class_names), len(cm))]
    rows = ["| true \\ predicted | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, row in zip(names, cm, strict=True):
        rows.append(f"| **{name}** | " + " | ".join(str(int(v)) for v in row) + " |")
    return "\n".join(rows)


def image_batch(x: np.ndarray) -> np.ndarray:
    """Model inputs (0..255 floats, (N, H, W[, C])) as a uint8 (N, H, W, C) batch for tf.summary."""
    x = np.clip(np.asarray(x), 0, 255).astype(np.uint8)
    return x[..., None] if x.ndim == 3 else x


class TensorBoardLogger(keras.callbacks.Callback):
    """Epoch scalars (train and validation overlaid), learning rate and weight histograms;
    whole epochs only, so a resumed run's curves are the uninterrupted run's."""

    async_safe = True

    def __init__(self, logdir: str | Path, histograms: bool = True) -> None:
        super().__init__()
        self.logdir = Path(logdir)
        self.histograms = histograms
        self.root = tf.summary.create_file_writer(str(self.logdir))
        self.train = tf.summary.create_file_writer(str(self.logdir / "train"))
        self.val = tf.summary.create_file_writer(str(self.logdir / "validation"))

    def log_config(self, config: dict[str, Any]) -> None:
        with self.root.as_default():
            tf.summary.text("config", config_markdown(config), step=0)
            tf.summary.text("config_json", json.dumps(config, indent=1), step=0)
        self.root.flush()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._batches = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches = batch + 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        steps = self.params.get("steps") if self.params else None
        if steps is not None and getattr(self, "_batches", steps) < steps:
            return  # cut short by Ctrl-C: the resumed run logs this epoch whole, at this step
        step = epoch + 1
        for key, value in (logs or {}).items():
            writer, tag = (self.val, key[4:]) if key.startswith("val_") else (self.train, key)
            with writer.as_default():
                tf.summary.scalar(f"epoch_{tag}", float(value), step=step)
        with self.train.as_default():
            opt = self.model.optimizer
            lr = opt.learning_rate
            lr = lr(opt.iterations) if callable(lr) else lr
            tf.summary.scalar("learning_rate", float(np.asarray(lr)), step=step)
            if self.histograms:
                for w in self.model.weights:
                    tf.summary.histogram(w.path, np.asarray(w.numpy()), step=step)
        self.train.flush()
        self.val.flush()

    def log_results(
        self,
        x: np.ndarray,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        class_names: tuple[str, ...],
        step: int,
        max_samples: int = 24,
    ) -> np.ndarray:
        """Confusion matrix (image + table) and misclassified test samples; returns the matrix."""
        num_classes = max(len(class_names), int(max(y_true.max(), y_pred.max())) + 1)
        cm = confusion_matrix(y_true, y_pred, num_classes)
        names = tuple(class_names)[:num_classes] + tuple(
            str(i) for i in range(len(class_names), num_classes)
        )
        wrong = np.flatnonzero(y_true != y_pred)[:max_samples]
        with self.root.as_default():
            tf.summary.image(
                "confusion_matrix",
                confusion_image(cm),
                step=step,
                description="rows: true class, columns: predicted; row-normalised",
            )
            tf.summary.text("confusion_matrix_counts", confusion_markdown(cm, names), step=step)
            if len(wrong):
                labels = ", ".join(f"#{i}: {names[y_true[i]]}->{names[y_pred[i]]}" for i in wrong)
                tf.summary.image(
                    "misclassified",
                    image_batch(x[wrong]),
                    step=step,
                    max_outputs=max_samples,
                    description=labels,
                )
                tf.summary.text("misclassified_labels", labels, step=step)
        self.root.flush()
        return cm

    def close(self) -> None:
        for writer in (self.root, self.train, self.val):
            writer.close()
