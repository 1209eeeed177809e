"""``python -m networks.predict MODEL.keras INPUT...``: classify your own pictures or sentences.

The model says what it takes: an image classifier gets image files (PNG, JPEG, BMP, GIF),
prepared as its training images were made (:mod:`networks.image_prep`: MNIST-style digits,
FER-style faces), a text classifier gets sentences. Anything else (an encoder, an autoencoder, a
language model) is refused in one line naming what to use. Models load with ``safe_mode=True``:
nothing in the file runs as code.
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

    # Registers the classes the IMDB models save (KeepLast, networks' TextVectorization): a
    # fresh process has not imported them, and safe mode loads registered classes only.
    import networks.imdb  # noqa: F401

    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for a damaged zip or config
        reason = load_error_reason(exc)
        raise UsageError(f"corrupt or unsupported model file {path}: {reason}") from exc


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


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
PREPARE = ("auto", "digit", "face", "resize")


def model_kind(model: keras.Model) -> str:
    """What a model takes and gives: "image-classifier", "text-classifier", "language-model",
    "autoencoder" (image in, image out), "encoder" (image in, a code out) or "unknown"."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return "unknown"
    inp, out = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if model.inputs[0].dtype == "string":
        return {2: "text-classifier", 3: "language-model"}.get(len(out), "unknown")
    if len(inp) != 4 or None in inp[1:] or inp[3] not in (1, 3):
        return "unknown"
    if len(out) == 4:
        return "autoencoder"
    if len(out) == 2 and out[1] is not None and out[1] >= 2 and ends_in_probabilities(model):
        return "image-classifier"
    return "encoder" if len(out) == 2 else "unknown"


def ends_in_probabilities(model: keras.Model) -> bool:
    """A classifier's last layer is a softmax (ours: Dense "probs"); an encoder's code is not."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "") == "softmax" or type(last).__name__ == "Softmax"


def refuse_kind(model: keras.Model, kind: str) -> None:
    """One line saying what this model is and what to use instead."""
    name = model.name
    if kind == "language-model":
        raise UsageError(f"model {name!r} is a language model: use python -m networks.generate")
    if kind == "encoder":
        raise UsageError(
            f"model {name!r} is an encoder (its output is a "
            f"{model.outputs[0].shape[-1]}-number code, not class probabilities): predict needs "
            "a classifier; an encoder is a featurizer (agents: --encoder PATH)"
        )
    if kind == "autoencoder":
        raise UsageError(
            f"model {name!r} is an autoencoder (image in, image out), not a classifier: its "
            "reconstructions are in TensorBoard; its encoder is saved beside it (.encoder.keras)"
        )
    shapes = [tuple(t.shape) for t in model.inputs], [tuple(t.shape) for t in model.outputs]
    raise UsageError(
        f"model {name!r} is not an image classifier nor a text classifier "
        f"(inputs {shapes[0]}, outputs {shapes[1]})"
    )


def image_spec(model: keras.Model) -> tuple[int, int, int, int]:
    """(height, width, channels, classes) of an image classifier, or a UsageError."""
    kind = model_kind(model)
    if kind != "image-classifier":
        refuse_kind(model, kind)
    shape, out = model.inputs[0].shape, model.outputs[0].shape
    return int(shape[1]), int(shape[2]), int(shape[3]), int(out[1])


def model_dataset(model: keras.Model) -> str | None:
    """The dataset a registered model trained on (by the name saved in the file)."""
    from networks.catalog import MODELS

    spec = MODELS.get(model.name)
    return spec.dataset if spec else None


def class_names(model: keras.Model, num_classes: int) -> tuple[str, ...]:
    """The dataset's class names when the model is a registered one, else the indices."""
    from networks.datasets import DATASETS

    dataset = model_dataset(model)
    names = DATASETS[dataset].class_names if dataset in DATASETS else ()
    return tuple(names) if len(names) == num_classes else tuple(str(i) for i in range(num_classes))


def decode_grey_or_rgb(path: str | Path, channels: int) -> np.ndarray:
    """A picture file as a float (H, W, channels) array of 0..255; one-line errors."""
    import tensorflow as tf

    from networks.image_prep import check_pixels

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"image file not found: {path}")
    raw = path.read_bytes()
    check_pixels(raw, path)  # before decoding: a huge picture never takes the memory
    try:
        img = tf.io.decode_image(raw, channels=channels, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as exc:
        raise UsageError(f"{path} is not a PNG, JPEG, BMP or GIF image") from exc
    return img.numpy().astype("float64")


def read_image(path: str | Path, height: int, width: int, channels: int) -> np.ndarray:
    """Decode and resize one picture to a float32 (height, width, channels) array of 0..255."""
    import numpy as np
    import tensorflow as tf

    img = decode_grey_or_rgb(path, channels)
    img = tf.image.resize(img, (height, width), antialias=True).numpy()
    return np.clip(img, 0.0, 255.0).astype(np.float32)


def prepare_mode(model: keras.Model, mode: str) -> str:
    """``auto``: digits for the MNIST models, faces for the FER2013 ones, else a plain resize."""
    if mode != "auto":
        return mode
    return {"mnist": "digit", "fer2013": "face"}.get(model_dataset(model) or "", "resize")


def prepare_image(
    path: str | Path,
    height: int,
    width: int,
    channels: int,
    prepare: str,
    invert: str = "auto",
    white_on_black: bool = False,
) -> np.ndarray:
    """One picture as the model's (height, width, channels) float32 input of 0..255.

    ``white_on_black``: the model learnt light ink on black (MNIST), so ``invert="auto"`` flips
    a picture whose border is light. A picture already at the model's size is only inverted."""
    import numpy as np

    from networks.image_prep import light_background, prepare_digit, prepare_face

    dark_ink = white_on_black or prepare == "digit"
    if prepare == "resize" or channels != 1:
        img = read_image(path, height, width, channels)
        light = light_background(img.mean(axis=-1))
        flip = invert == "yes" or (invert == "auto" and dark_ink and light)
        return 255.0 - img if flip else img
    grey = decode_grey_or_rgb(path, 1)[..., 0]
    flip = invert == "yes" or (invert == "auto" and dark_ink and light_background(grey))
    if grey.shape == (height, width):
        out = 255.0 - grey if flip else grey
    elif prepare == "digit":
        if (height, width) != (28, 28):
            raise UsageError(f"--prepare digit is for 28x28 models, not {height}x{width}")
        out = prepare_digit(grey, flip)
    else:
        out = prepare_face(255.0 - grey if flip else grey, height, width)
    return np.asarray(out, np.float32)[..., None]


def refuse_mismatched_inputs(model: keras.Model, kind: str, inputs: list[str]) -> None:
    """An image model given text, or a text model given image files: say which input is which."""
    if kind == "text-classifier":
        files = [t for t in inputs if t.lower().endswith(IMAGE_SUFFIXES) and Path(t).is_file()]
        if files:
            raise UsageError(
                f"model {model.name!r} is a text model: give sentences in quotes, not image files "
                f"({files[0]})"
            )
        return
    missing = [t for t in inputs if not Path(t).is_file()]
    if missing:
        looks_like_text = " " in missing[0] or not missing[0].lower().endswith(IMAGE_SUFFIXES)
        if looks_like_text:
            raise UsageError(
                f"model {model.name!r} is an image model: give image files (PNG, JPEG, BMP, GIF); "
                f"{missing[0][:60]!r} is not a file"
            )
        raise UsageError(f"image file not found: {missing[0]}")


def predict(
    model_path: str | Path,
    inputs: list[str],
    top: int = 3,
    invert: str = "auto",
    prepare: str = "auto",
) -> list[dict]:
    """Top-``top`` classes and probabilities for each image (or sentence, for a text model)."""
    if top <= 0:
        raise UsageError(f"--top must be positive, got {top}")
    if prepare not in PREPARE:
        raise UsageError(f"--prepare must be one of {', '.join(PREPARE)}, got {prepare!r}")
    if not inputs:
        raise UsageError("nothing to predict: give image files or sentences")
    model = load_model(model_path)  # imports TensorFlow quietly: before the imports below
    import numpy as np

    from networks.imdb import classify_texts

    kind = model_kind(model)
    if kind not in ("image-classifier", "text-classifier"):
        refuse_kind(model, kind)
    refuse_mismatched_inputs(model, kind, inputs)
    if kind == "text-classifier":
        return classify_texts(model, inputs, top, class_names(model, model.outputs[0].shape[1]))
    height, width, channels, num_classes = image_spec(model)
    names = class_names(model, num_classes)
    mode = prepare_mode(model, prepare)
    digits = model_dataset(model) == "mnist"
    batch = [prepare_image(p, height, width, channels, mode, invert, digits) for p in inputs]
    probs = np.asarray(model.predict(np.stack(batch), verbose=0))
    results = []
    for path, p in zip(inputs, probs, strict=True):
        order = np.argsort(p)[::-1][: min(top, num_classes)]
        results.append(
            {
                "image": str(path),
                "top": [{"class": names[i], "probability": float(p[i])} for i in order],
            }
        )
    return results


EXAMPLES = """\
examples:
  python -m networks.predict runs/<mnist run>/model.keras digit.png photo-of-a-7.jpg
  python -m networks.predict runs/<fer2013 run>/model.keras face.jpg --top 7
  python -m networks.predict runs/<imdb run>/model.keras "A moving, wonderful film."
  python -m networks.predict runs/<run>/model.keras digit.png --json

A digit is prepared as MNIST's were: grey, white on black (auto-inverted when the picture's
border is light), cropped to the ink, scaled into 20x20 keeping its shape, centred by its centre
of mass in 28x28. A face: grey, the central square scaled to 48x48 (crop around the face first).
"""


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog="python -m networks.predict",
        description="Classify pictures (or, with a sentiment model, sentences) with a model saved "
        "by networks.train.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model_path", metavar="MODEL.keras", help="a model saved by networks.train")
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files (PNG, JPEG, BMP, GIF); for a text model: sentences",
    )
    p.add_argument("--top", type=int, metavar="N", default=3, help="classes shown (default: 3)")
    p.add_argument(
        "--prepare",
        choices=PREPARE,
        default="auto",
        help="how a picture becomes the model's input: digit (MNIST-style), face (FER-style) or "
        "resize only; auto: by the model's dataset (default: auto)",
    )
    p.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="invert grey levels; auto: for digits when the picture's border is light "
        "(default: auto)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = predict(args.model_path, args.inputs, args.top, args.invert, args.prepare)
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
