"""Text corpora for the text models: IMDB reviews (Maas et al. 2011) and the Penn Treebank.

Both register in the one dataset layer (``networks.datasets``), so ``--data-dir``, the
``DLTF_IMDB_DIR`` / ``DLTF_PTB_DIR`` variables, ``$DLTF_DATA_DIR`` and the cache work as for
MNIST. Archives are read member by member in memory: nothing is extracted, so no archive path
can land outside a folder, and only regular files are ever opened.

* IMDB: ``aclImdb_v1.tar.gz`` (official), the labelled ``aclImdb_v1_labeled.tar.xz`` copy, or the
  extracted ``aclImdb/`` folder (or its ``train/`` and ``test/`` directly). ``x`` holds the raw
  review text (``<br />`` markup replaced by a space), ``y`` 0 = negative, 1 = positive.
* PTB: Mikolov's ``simple-examples.tgz``, ``ptb.{train,valid,test}.txt`` or their ``.gz``. ``x``
  is the token-id stream and ``y`` the next token; ``class_names`` is the 10,000-word
  vocabulary (``<eos>`` ends each line), sorted by training count as in the TF tutorial.
"""

from __future__ import annotations

import gzip
import re
import tarfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from common.errors import UsageError
from networks.datasets import Dataset, DatasetSpec, Layout, Remote, register_dataset
from networks.download import ARCHIVE_ERRORS, archive_error, regular_files

# --- IMDB ------------------------------------------------------------------------------------

IMDB_CLASSES = ("negative", "positive")
IMDB_VAL = 2500  # held out of the 25,000 training reviews; the 25,000 test reviews stay whole
IMDB_SPLIT_SEED = 2011  # fixed, so the validation reviews never depend on the run's --seed
_REVIEW = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_review(text: str) -> str:
    """Replace the ``<br />`` markup of the raw reviews by spaces (the model lowercases and
    strips punctuation itself, so predict and training see the same words)."""
    return _BR.sub(" ", text)


def _imdb_dataset(
    reviews: dict[tuple[str, int], list[tuple[int, str]]], source: str, where: str
) -> Dataset:
    """Sorted, labelled arrays from {(split, label): [(id, text)]}; a fixed shuffle picks val."""
    xs: dict[str, list[str]] = {"train": [], "test": []}
    ys: dict[str, list[int]] = {"train": [], "test": []}
    for split in ("train", "test"):
        for label in (0, 1):
            items = sorted(reviews.get((split, label), []))
            if not items:
                name = f"{split}/{'pos' if label else 'neg'}"
                raise UsageError(f"malformed IMDB corpus {where}: no reviews in {name}/")
            xs[split] += [clean_review(t) for _, t in items]
            ys[split] += [label] * len(items)
    x_train = np.array(xs["train"], dtype=object)
    y_train = np.array(ys["train"], dtype=np.int32)
    order = np.random.default_rng(IMDB_SPLIT_SEED).permutation(len(x_train))
    n_val = IMDB_VAL if len(order) > 4 * IMDB_VAL else max(2, len(order) // 5)
    tr, va = order[:-n_val], order[-n_val:]
    return Dataset(
        name="imdb",
        x_train=x_train[tr],
        y_train=y_train[tr],
        x_val=x_train[va],
        y_val=y_train[va],
        x_test=np.array(xs["test"], dtype=object),
        y_test=np.array(ys["test"], dtype=np.int32),
        class_names=IMDB_CLASSES,
        source=source,
    )


def _decode(raw: bytes, name: str, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"malformed IMDB corpus {where}: {name} is not UTF-8 text") from exc


def _add_review(
    reviews: dict[tuple[str, int], list[tuple[int, str]]], match: re.Match[str], text: str
) -> None:
    split, pol, rid = match.group(1), match.group(2), int(match.group(3))
    reviews.setdefault((split, 1 if pol == "pos" else 0), []).append((rid, text))


def read_imdb_tar(path: Path) -> Dataset:
    """Reviews straight out of the archive (gzip or xz), regular files only, nothing extracted."""
    reviews: dict[tuple[str, int], list[tuple[int, str]]] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                match = _REVIEW.search(member.name)
                if match is None or "/unsup/" in member.name:
                    continue
                if not member.isreg():
                    raise UsageError(f"unsafe archive {path}: {member.name} is not a plain file")
                fh = tar.extractfile(member)
                assert fh is not None  # regular member
                _add_review(reviews, match, _decode(fh.read(), member.name, str(path)))
    except ARCHIVE_ERRORS as exc:  # LZMAError too; one line whatever the decompressor says
        raise archive_error(path, exc) from None
    return _imdb_dataset(reviews, str(path), str(path))


def read_imdb_dir(root: Path) -> Dataset:
    """An extracted ``aclImdb`` folder: ``train/{pos,neg}/*.txt`` and ``test/{pos,neg}/*.txt``."""
    reviews: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for split in ("train", "test"):
        for pol in ("pos", "neg"):
            for f in regular_files(root, f"{split}/{pol}"):  # a link out of the folder: refused
                rel = f"{split}/{pol}/{f.name}"
                match = _REVIEW.search(rel)
                if match is None or not f.is_file():
                    raise UsageError(
                        f"malformed IMDB corpus {root}: unexpected {rel} (want <id>_<rating>.txt)"
                    )
                _add_review(reviews, match, _decode(f.read_bytes(), rel, str(root)))
    return _imdb_dataset(reviews, str(root), str(root))


_IMDB_DIRS = ("train/pos/", "train/neg/", "test/pos/", "test/neg/")

IMDB = register_dataset(
    DatasetSpec(
        name="imdb",
        description=(
            "IMDB movie reviews (Maas et al. 2011), raw text; 22.5k train / 2.5k val / 25k test"
        ),
        layouts=(
            Layout(("aclImdb_v1.tar.gz",), lambda d: read_imdb_tar(d / "aclImdb_v1.tar.gz")),
            Layout(
                ("aclImdb_v1_labeled.tar.xz",),
                lambda d: read_imdb_tar(d / "aclImdb_v1_labeled.tar.xz"),
            ),
            Layout(
                tuple(f"aclImdb/{p}" for p in _IMDB_DIRS), lambda d: read_imdb_dir(d / "aclImdb")
            ),
            Layout(_IMDB_DIRS, read_imdb_dir),
        ),
        where="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        remote=Remote(
            url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
            filename="aclImdb_v1.tar.gz",
            sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
        ),
        class_names=IMDB_CLASSES,
    )
)


# --- Penn Treebank ---------------------------------------------------------------------------

EOS = "<eos>"
PTB_SPLITS = ("train", "valid", "test")
_PTB_TXT = tuple(f"ptb.{s}.txt" for s in PTB_SPLITS)
_PTB_GZ = tuple(f"{name}.gz" for name in _PTB_TXT)


def ptb_tokens(text: str) -> list[str]:
    """The TF tutorial's tokenisation: whitespace split, ``<eos>`` at each line end."""
    return text.replace("\n", f" {EOS} ").split()


def ptb_vocabulary(tokens: list[str]) -> tuple[str, ...]:
    """Words by descending training count, ties alphabetical: ids are stable across runs."""
    counts = Counter(tokens)
    return tuple(sorted(counts, key=lambda w: (-counts[w], w)))


def _ptb_dataset(texts: dict[str, str], source: str) -> Dataset:
    """Token-id streams; a valid/test token outside the training vocabulary is an error."""
    tokens = {split: ptb_tokens(texts[split]) for split in PTB_SPLITS}
    for split, toks in tokens.items():
        if len(toks) < 3:
            raise UsageError(f"malformed PTB corpus {source}: ptb.{split}.txt has no text")
    vocab = ptb_vocabulary(tokens["train"])
    index = {w: i for i, w in enumerate(vocab)}
    ids: dict[str, np.ndarray] = {}
    for split, toks in tokens.items():
        for pos, word in enumerate(toks):
            if word not in index:
                raise UsageError(
                    f"malformed PTB corpus {source}: ptb.{split}.txt token {pos + 1} "
                    f"{word!r} is not in the training vocabulary"
                )
        ids[split] = np.fromiter((index[w] for w in toks), np.int32, len(toks))
    return Dataset(
        name="ptb",
        x_train=ids["train"][:-1],
        y_train=ids["train"][1:],
        x_val=ids["valid"][:-1],
        y_val=ids["valid"][1:],
        x_test=ids["test"][:-1],
        y_test=ids["test"][1:],
        class_names=vocab,
        source=source,
    )


def _text(raw: bytes, name: str, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"malformed PTB corpus {source}: {name} is not UTF-8 text") from exc


def read_ptb_txt(folder: Path) -> Dataset:
    texts = {
        s: _text((folder / f).read_bytes(), f, str(folder))
        for s, f in zip(PTB_SPLITS, _PTB_TXT, strict=True)
    }
    return _ptb_dataset(texts, str(folder))


def read_ptb_gz(folder: Path) -> Dataset:
    texts = {}
    for split, name in zip(PTB_SPLITS, _PTB_GZ, strict=True):
        try:
            with gzip.open(folder / name, "rb") as fh:
                texts[split] = _text(fh.read(), name, str(folder))
        except (OSError, EOFError, zlib.error) as exc:
            raise UsageError(f"corrupt data file {folder / name}: {exc}") from exc
    return _ptb_dataset(texts, str(folder))


def read_ptb_tgz(folder: Path) -> Dataset:
    """Mikolov's ``simple-examples.tgz``: the three files under ``simple-examples/data/``."""
    path = folder / "simple-examples.tgz"
    texts: dict[str, str] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.name.rstrip("/").endswith(f"data/{base}") and base in _PTB_TXT:
                    if not member.isreg():
                        raise UsageError(
                            f"unsafe archive {path}: {member.name} is not a plain file"
                        )
                    fh = tar.extractfile(member)
                    assert fh is not None
                    texts[base.split(".")[1]] = _text(fh.read(), member.name, str(path))
    except ARCHIVE_ERRORS as exc:  # LZMAError too; one line whatever the decompressor says
        raise archive_error(path, exc) from None
    missing = [f for s, f in zip(PTB_SPLITS, _PTB_TXT, strict=True) if s not in texts]
    if missing:
        raise UsageError(f"malformed PTB corpus {path}: no data/{', data/'.join(missing)}")
    return _ptb_dataset(texts, str(path))


PTB = register_dataset(
    DatasetSpec(
        name="ptb",
        description="Penn Treebank (Mikolov), words; 929k / 74k / 82k tokens, 10k vocabulary",
        layouts=(
            Layout(_PTB_TXT, read_ptb_txt),
            Layout(_PTB_GZ, read_ptb_gz),
            Layout(("simple-examples.tgz",), read_ptb_tgz),
        ),
        # No download: no checksum of simple-examples.tgz has been verified here.
        where="Mikolov's simple-examples.tgz (http://www.fit.vutbr.cz/~imikolov/rnnlm/), data/",
    )
)
