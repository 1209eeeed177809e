"""Tiny, separable stand-ins for MNIST and FER2013 that tests write themselves (never real data)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest


def pattern_images(n: int, size: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class k is a bright block at grid cell k on dim noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    rng.shuffle(y)
    x = rng.integers(0, 60, size=(n, size, size)).astype(np.uint8)
    cell = size // 4
    for i, k in enumerate(y):
        r, c = divmod(int(k), 4)
        x[i, r * cell : r * cell + cell - 1, c * cell : c * cell + cell - 1] = 230
    return x, y.astype(np.uint8)


def write_mnist_npz(folder: Path, n_train: int = 320, n_test: int = 64, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    xtr, ytr = pattern_images(n_train, 28, 10, seed)
    xte, yte = pattern_images(n_test, 28, 10, seed + 1)
    path = folder / "mnist.npz"
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return path


def write_idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def write_fer_npz(folder: Path, n: int = 64, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for i, split in enumerate(("train", "val", "test")):
        x, y = pattern_images(n, 48, 7, seed + i)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    path = folder / "fer2013.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture(autouse=True)
def _isolated_data_env(tmp_path, monkeypatch):
    """No test may find real data, a user's cache or the network."""
    for var in ("DLTF_DATA_DIR", "DLTF_MNIST_DIR", "DLTF_FER2013_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DLTF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DLTF_OFFLINE", "1")


@pytest.fixture
def mnist_dir(tmp_path) -> Path:
    folder = tmp_path / "mnist"
    write_mnist_npz(folder)
    return folder


@pytest.fixture
def fer_dir(tmp_path) -> Path:
    folder = tmp_path / "fer"
    write_fer_npz(folder)
    return folder


@pytest.fixture(scope="session")
def trained_softmax(tmp_path_factory) -> dict:
    """One quick real training run (softmax on separable digits) shared by several tests."""
    from networks.train import TrainConfig, train

    root = tmp_path_factory.mktemp("softmax")
    write_mnist_npz(root / "data")
    return train(
        TrainConfig(
            model="softmax",
            epochs=5,
            batch_size=32,  # divides every split: no retracing for a ragged last batch
            lr=0.02,
            data_dir=str(root / "data"),
            logdir=str(root / "run"),
            progress=False,
        )
    )
