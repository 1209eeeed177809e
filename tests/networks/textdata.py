"""Tiny corpora the text tests write themselves: an aclImdb-layout folder and a PTB triple."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

GOOD = ("wonderful", "great", "superb", "moving", "brilliant", "loved", "best", "fun")
BAD = ("awful", "boring", "terrible", "dull", "worst", "hated", "waste", "mess")
NEUTRAL = ("the", "film", "movie", "plot", "actor", "story", "was", "and", "a", "it", "of")


def review(rng: np.random.Generator, positive: bool, length: int = 30) -> str:
    """Neutral filler with a few sentiment words; some ``<br />`` markup, as in the original."""
    words = list(rng.choice(NEUTRAL, length))
    for i in rng.choice(length, 4, replace=False):
        words[i] = str(rng.choice(GOOD if positive else BAD))
    words[length // 2] += ".<br /><br />"
    return " ".join(words).capitalize()


def imdb_files(n_train: int = 40, n_test: int = 20, seed: int = 0) -> dict[str, str]:
    """{relative path: text} in the aclImdb layout, n per class and split."""
    rng = np.random.default_rng(seed)
    files = {"aclImdb/README": "tiny test corpus"}
    for split, n in (("train", n_train), ("test", n_test)):
        for pol in ("pos", "neg"):
            for i in range(n):
                rating = int(rng.integers(7, 11) if pol == "pos" else rng.integers(1, 5))
                files[f"aclImdb/{split}/{pol}/{i}_{rating}.txt"] = review(rng, pol == "pos")
        files[f"aclImdb/{split}/urls_pos.txt"] = "http://example.invalid\n"
    return files


def write_imdb_dir(root: Path, **kwargs: int) -> Path:
    for rel, text in imdb_files(**kwargs).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def write_imdb_tar(path: Path, mode: str = "w:gz", **kwargs: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tar:
        for rel, text in imdb_files(**kwargs).items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(rel)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


SUBJECTS = ("the cat", "a dog", "the bird", "my friend")
VERBS = ("sees", "likes", "follows")
OBJECTS = ("the ball", "a tree", "the house")


def ptb_text(n_lines: int, seed: int) -> str:
    """Grammatical lines over a 17-word vocabulary (PTB style: a leading space, one per line)."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_lines):
        s, v, o = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
        lines.append(f" {s} {v} {o} <unk> \n")
    return "".join(lines)


def write_ptb(root: Path, lines: tuple[int, int, int] = (60, 15, 15)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, n, seed in zip(("train", "valid", "test"), lines, (0, 1, 2), strict=True):
        (root / f"ptb.{split}.txt").write_text(ptb_text(n, seed), encoding="utf-8")
    return root
