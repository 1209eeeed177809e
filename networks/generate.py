"""``python -m networks.generate MODEL_PATH --prompt "..." --temperature T``: sample text from a
language model saved by ``networks.train`` (``ptb-lm-small``, ``ptb-lm-medium``).

The vocabulary lives inside the model (its ``StringLookup``), so nothing else is needed. The
prompt is lowercased and split on spaces like the PTB text; words outside the vocabulary become
``<unk>``. Each next word is drawn from the model's distribution sharpened (T < 1) or flattened
(T > 1) by the temperature; the same ``--seed`` gives the same text.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING

from common.errors import OneLineArgumentParser, UsageError, run_main
from common.numbers import arg_type

if TYPE_CHECKING:  # imported when work starts: --help and flag errors answer at once
    import keras
    import numpy as np

EOS = "<eos>"  # as networks.text writes the PTB line ends
UNK = "<unk>"
MAX_CONTEXT = 200  # words fed back each step; far beyond what the LSTM state remembers
MAX_SEED = 2**32 - 1  # numpy's and Keras' seeds are 32-bit
MAX_WORDS = 100_000  # one forward pass per word: more would run for hours


def language_model_vocabulary(model: keras.Model) -> tuple[str, ...]:
    """The model's vocabulary, or a UsageError when it is not a word language model."""
    try:
        vocab = tuple(model.get_layer("vocabulary").get_vocabulary())
    except ValueError:
        vocab = ()
    out = tuple(model.outputs[0].shape) if len(model.outputs) == 1 else ()
    if not vocab or len(out) != 3 or out[-1] != len(vocab):
        raise UsageError(
            f"model {model.name!r} is not a language model (see networks.train --list)"
        )
    return vocab


def sample_next(probs: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Draw an index from ``probs ** (1 / temperature)``, renormalised, in log space.

    The maximum is subtracted before dividing, so a tiny temperature (1e-320) gives the most
    likely word instead of -inf - -inf = NaN, and a huge one a uniform draw."""
    import numpy as np

    logits = np.log(np.maximum(probs.astype(np.float64), 1e-30))
    with np.errstate(over="ignore", divide="ignore"):
        scaled = (logits - logits.max()) / temperature
    p = np.exp(scaled)
    return int(rng.choice(len(p), p=p / p.sum()))


def generate(
    model: keras.Model, prompt: str, words: int, temperature: float, seed: int = 0
) -> tuple[list[str], list[str]]:
    """(prompt tokens as fed, generated words)."""
    import numpy as np
    import tensorflow as tf

    check_options(temperature, words, seed)
    vocab = language_model_vocabulary(model)
    known = set(vocab)
    tokens = [w if w in known else UNK for w in prompt.lower().split()]
    if UNK not in known:
        tokens = [w for w in tokens if w != UNK]
    context = [EOS, *tokens] if EOS in known else tokens or [vocab[0]]
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for _ in range(words):
        probs = model(tf.constant([context[-MAX_CONTEXT:]]), training=False)
        nxt = vocab[sample_next(np.asarray(probs)[0, -1], temperature, rng)]
        out.append(nxt)
        context.append(nxt)
    return tokens, out


def check_options(temperature: float, words: int, seed: int) -> None:
    """One-line refusals, before the model loads."""
    if not temperature > 0:
        raise UsageError(f"--temperature must be positive, got {temperature:g}")
    if not math.isfinite(temperature):
        raise UsageError(f"--temperature must be a finite number, got {temperature:g}")
    if not 0 < words <= MAX_WORDS:
        raise UsageError(f"--words must be 1..{MAX_WORDS:,}, got {words:,}")
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be in 0..{MAX_SEED} (32 bits), got {seed}")


def as_text(words: list[str]) -> str:
    """PTB tokens as lines: ``<eos>`` ends a sentence."""
    return " ".join(words).replace(f" {EOS} ", "\n").replace(EOS, "\n").strip()


EXAMPLES = """\
examples:
  python -m networks.generate runs/<run>/model.keras
  python -m networks.generate runs/<run>/model.keras --prompt "the company said" \\
      --temperature 0.8 --words 30 --seed 1
"""


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(
        prog="python -m networks.generate",
        description="Sample text from a language model saved by networks.train (ptb-lm-small, "
        "ptb-lm-medium); the same --seed gives the same text.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model_path", metavar="MODEL.keras", help="a model saved by networks.train")
    p.add_argument(
        "--prompt", metavar="TEXT", default="", help="words to start from (default: a new sentence)"
    )
    p.add_argument(
        "--temperature",
        type=arg_type(float, "--temperature"),
        metavar="T",
        default=1.0,
        help="> 0: below 1 picks likelier words, above 1 wilder ones (default: 1.0)",
    )
    p.add_argument(
        "--words",
        type=arg_type(int, "--words"),
        metavar="N",
        default=30,
        help=f"words to generate, at most {MAX_WORDS:,} (default: 30)",
    )
    p.add_argument(
        "--seed",
        type=arg_type(int, "--seed"),
        metavar="N",
        default=0,
        help="sampling seed, 0..2**32-1 (default: 0)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_options(args.temperature, args.words, args.seed)  # before loading the model
    if not args.model_path.endswith(".keras"):
        raise UsageError(
            f"unknown model {args.model_path!r}: give a .keras file from networks.train"
        )
    from networks.predict import load_model

    model = load_model(args.model_path)
    tokens, words = generate(model, args.prompt, args.words, args.temperature, args.seed)
    replaced = sorted(
        {w for w in args.prompt.lower().split()} - set(language_model_vocabulary(model))
    )
    if replaced:
        print(f"not in the vocabulary, read as {UNK}: {' '.join(replaced)}", file=sys.stderr)
    print(as_text([*tokens, *words]))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
