"""A ``TextVectorization`` whose learned vocabulary survives save and load, whatever it holds.

Keras writes an adapted vocabulary as ``"\\n".join(terms)`` and reads it back with
``str.splitlines()``, which also breaks at U+0085, U+2028, U+001C-U+001E and others. A term
holding one (the IMDB reviews have U+0085, U+0096 and U+0097) comes back as two, one of them
empty, and the model no longer loads ("repeated term ... ['']"). Here the vocabulary is saved
as ASCII-escaped JSON, which round-trips any string. Models saved before this fix (Keras' own
``vocabulary.txt``) still load: their file is split at ``"\\n"`` only, which no term can hold
(the whitespace split removes it).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import keras
from keras import layers

VOCAB_FILE = "vocabulary.json"
LEGACY_VOCAB_FILE = "vocabulary.txt"  # what keras.layers.TextVectorization writes


class VocabularyError(ValueError):
    """A saved vocabulary that cannot be read back; the message names the cause."""


def check_vocabulary(terms: list[str], where: str) -> None:
    """Duplicate terms make Keras refuse the whole model; name them and why they happen."""
    repeated = [t for t, n in Counter(terms).items() if n > 1]
    if repeated:
        raise VocabularyError(
            f"the vocabulary in {where} repeats {len(repeated)} term(s), e.g. {repeated[:3]!r}: "
            "a term with a line-break character (such as U+0085) was split when Keras saved it; "
            "retrain the model with this version"
        )


def read_legacy_vocabulary(path: str) -> list[str]:
    """Keras' ``vocabulary.txt``: split at ``\\n`` only (never ``splitlines``)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VocabularyError(f"{LEGACY_VOCAB_FILE} in the model is not UTF-8 text") from exc
    terms = text.split("\n")
    while terms and terms[-1] == "":
        terms.pop()
    # The first term is the mask token "" (padding): keep it even though it is empty.
    return terms


class _SafeStringLookup(layers.StringLookup):
    """The lookup inside :class:`TextVectorization` (never built on its own): it, too, saves
    its vocabulary as a child of the model, so it gets the same safe file."""

    def save_assets(self, dir_path: str) -> None:
        if self.input_vocabulary is not None:  # given as an argument: kept in the config
            return
        terms = [str(t) for t in self.get_vocabulary(include_special_tokens=True)]
        check_vocabulary(terms, "this model")
        # ensure_ascii escapes every non-ASCII character: the file reads the same anywhere.
        with open(os.path.join(dir_path, VOCAB_FILE), "w", encoding="ascii") as fh:
            json.dump(terms, fh, ensure_ascii=True)

    def load_assets(self, dir_path: str) -> None:
        if self.input_vocabulary is not None:
            return
        path = os.path.join(dir_path, VOCAB_FILE)
        if os.path.exists(path):
            with open(path, encoding="ascii") as fh:
                terms = json.load(fh)
            if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
                raise VocabularyError(f"{VOCAB_FILE} in the model is not a list of strings")
        else:
            terms = read_legacy_vocabulary(os.path.join(dir_path, LEGACY_VOCAB_FILE))
        check_vocabulary(terms, "the model file")
        if len(terms) <= self._token_start_index():
            return  # adapted on text without a word: nothing beyond the mask and OOV tokens
        if self.output_mode == "tf_idf":
            self.set_vocabulary(terms, idf_weights=self.idf_weights_const.numpy())
        else:
            self.set_vocabulary(terms)


# Saved models name this class "networks>TextVectorization": the package and name must not change.
@keras.saving.register_keras_serializable(package="networks")
class TextVectorization(layers.TextVectorization):
    """``keras.layers.TextVectorization`` with a vocabulary file that round-trips any term."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The lookup is made by Keras' __init__; only its saving changes, so swap its class
        # rather than rebuild it (a second child layer would be tracked and saved too).
        self._lookup_layer.__class__ = _SafeStringLookup
