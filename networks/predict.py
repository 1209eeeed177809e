"""``python -m networks.predict MODEL_PATH IMAGE...``: classify your own pictures.

Images are decoded with TensorFlow's own ops (PNG, JPEG, BMP, GIF), converted to what the saved
model takes (channels, size; the models rescale pixels themselves) and the top classes printed
with their probabilities. Models load with ``safe_mode=True``: nothing in the file runs as code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from common.errors import OneLineArgumentParser, UsageError, run_main

if TYPE_CHECKING:  # imported when work starts: --help and flag errors answer at once
    import keras
    import numpy as np


def load_model(path: str | Path) -> keras.Model:
    """Load a ``.keras`` file in safe mode; any damage or wrong format is one UsageError line."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"model file not found: {path}")
    if path.suffix != ".keras":
        raise UsageError(f"{path} is not a .keras model file")
    from perception.hardware import import_tensorflow

    import_tensorflow()  # first, and without TensorFlow's C++ start-up lines
    import keras

    import networks.vocabulary  # noqa: F401  (registers the text models' TextVectorization)

    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for a damaged zip or config
        raise UsageError(f"cannot load model file {path}: {load_error_reason(exc)}") from exc


# Keras' words when a saved TextVectorization vocabulary split at a U+0085 (or similar) term.
_SPLIT_VOCABULARY = ("repeated term", "reserved mask token at unexpected location")


def load_error_reason(exc: BaseException) -> str:
    """The cause in one line: Keras wraps a layer's failure in "A total of N objects could not
    be loaded. Example error message ...:" and puts the cause after it."""
    text = str(exc)
    if any(words in text for words in _SPLIT_VOCABULARY):
        return (
            "its text vocabulary does not read back: Keras' TextVectorization split a term at a "
            "line-break character such as U+0085 when saving it; retrain the model with this "
            "version (its vocabulary is saved so that any term round-trips)"
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("A total of"):
        lines = lines[1:]
        lines = lines[1:] if lines[0].startswith("Example error message") else lines
    reason = " ".join(lines) if lines else type(exc).__name__
    return reason if len(reason) <= 300 else reason[:297] + "..."


def image_spec(model: keras.Model) -> tuple[int, int, int, int]:
    """(height, width, channels, classes) of an image classifier, or a UsageError."""
    shape = tuple(model.inputs[0].shape) if len(model.inputs) == 1 else ()
    out = tuple(model.outputs[0].shape) if len(model.outputs) == 1 else ()
    ok = (
        len(shape) == 4
        and None not in shape[1:]
        and shape[3] in (1, 3)
        and len(out) == 2
        and out[1] is not None
        and out[1] >= 2
    )
    if not ok:
        raise UsageError(
            f"model {model.name!r} is not an image classifier (input {shape}, output {out})"
        )
    return int(shape[1]), int(shape[2]), int(shape[3]), int(out[1])


def class_names(model: keras.Model, num_classes: int) -> tuple[str, ...]:
    """The dataset's class names when the model is a registered one, else the indices."""
    from networks.catalog import MODELS
    from networks.datasets import DATASETS

    spec = MODELS.get(model.name)
    names = DATASETS[spec.dataset].class_names if spec and spec.dataset in DATASETS else ()
    return tuple(names) if len(names) == num_classes else tuple(str(i) for i in range(num_classes))


def read_image(path: str | Path, height: int, width: int, channels: int) -> np.ndarray:
    """Decode and resize one picture to a float32 (height, width, channels) array of 0..255."""
    import numpy as np
    import tensorflow as tf

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"image file not found: {path}")
    try:
        raw = tf.io.read_file(str(path))
        img = tf.io.decode_image(raw, channels=channels, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
        raise UsageError(f"{path} is not a PNG, JPEG, BMP or GIF image") from exc
    img = tf.image.resize(tf.cast(img, tf.float32), (height, width), antialias=True)
    return np.clip(img.numpy(), 0.0, 255.0)


def should_invert(model: keras.Model, img: np.ndarray, mode: str) -> bool:
    """MNIST digits are white on black; a photo of ink on paper is the reverse."""
    from networks.catalog import MODELS

    if mode != "auto":
        return mode == "yes"
    spec = MODELS.get(model.name)
    return bool(spec and spec.dataset == "mnist" and img.mean() > 127.5)


def predict(
    model_path: str | Path, images: list[str], top: int = 3, invert: str = "auto"
) -> list[dict]:
    """Top-``top`` classes and probabilities for each image."""
    if top <= 0:
        raise UsageError(f"--top must be positive, got {top}")
    model = load_model(model_path)  # imports TensorFlow quietly: before the imports below
    import numpy as np

    from networks.imdb import classify_texts, is_text_classifier

    if model.inputs and model.inputs[0].dtype == "string":  # text models
        if not is_text_classifier(model):
            raise UsageError(f"model {model.name!r} is a language model: use networks.generate")
        return classify_texts(model, images, top, class_names(model, model.outputs[0].shape[1]))
    height, width, channels, num_classes = image_spec(model)
    names = class_names(model, num_classes)
    batch = []
    for path in images:
        img = read_image(path, height, width, channels)
        batch.append(255.0 - img if should_invert(model, img, invert) else img)
    probs = np.asarray(model.predict(np.stack(batch), verbose=0))
    results = []
    for path, p in zip(images, probs, strict=True):
        order = np.argsort(p)[::-1][: min(top, num_classes)]
        results.append(
            {
                "image": str(path),
                "top": [{"class": names[i], "probability": float(p[i])} for i in order],
            }
        )
    return results


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog="python -m networks.predict",
        description="Classify pictures with a model saved by networks.train.",
    )
    p.add_argument("model_path", help="a .keras file written by networks.train")
    p.add_argument("images", nargs="+", help="PNG or JPEG files (for a sentiment model: sentences)")
    p.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    p.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="invert grey levels (auto: for digit models when the picture is dark on light)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = predict(args.model_path, args.images, args.top, args.invert)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for res in results:
        print(res.get("image", res.get("text")))
        for entry in res["top"]:
            print(f"  {entry['class']:<10} {entry['probability']:7.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
