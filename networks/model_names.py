"""The registered models' names by dataset, without importing a model (so without TensorFlow).

``networks.train --help`` lists them and refuses an unknown name before TensorFlow starts.
:mod:`networks.catalog` holds the models themselves; a test keeps the two in step.
"""

from __future__ import annotations

import textwrap

from common.errors import UsageError

#: dataset -> model names, in ``--list`` order.
MODEL_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": (
        "softmax",
        "mlp-sigmoid",
        "mlp-relu",
        "mlp-relu-dropout",
        "mnist-cnn",
        "mnist-lstm",
        "mnist-bilstm",
        "autoencoder",
        "denoising-autoencoder",
        "conv-autoencoder",
    ),
    "fer2013": ("emotion-cnn-classic", "emotion-cnn"),
    "lake": ("lake-autoencoder",),
    "imdb": ("imdb-lstm-classic", "imdb-conv-lstm", "imdb-sentiment"),
    "ptb": ("ptb-lm-small", "ptb-lm-medium"),
}

ALL_NAMES = tuple(name for names in MODEL_NAMES.values() for name in names)


def check_model_name(name: str) -> str:
    """``name`` if it is a model, else a one-line UsageError listing the models."""
    if name not in ALL_NAMES:
        raise UsageError(f"unknown model {name!r} (known: {', '.join(ALL_NAMES)}; see --list)")
    return name


def models_help() -> str:
    """The model names by dataset, for ``--help``."""
    width = max(len(d) for d in MODEL_NAMES)
    indent = " " * (width + 4)
    return "\n".join(
        textwrap.fill(
            ", ".join(names),
            width=92,
            initial_indent=f"  {dataset:<{width}}  ",
            subsequent_indent=indent,
            break_on_hyphens=False,
        )
        for dataset, names in MODEL_NAMES.items()
    )
