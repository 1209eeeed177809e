"""Dataset layer: one registered spec per dataset, all returning numpy arrays with standard splits.

A dataset is found by looking, in order, in ``--data-dir``, its own environment variable
(``DLTF_<NAME>_DIR``), ``$DLTF_DATA_DIR/<name>``, the cache (``$DLTF_CACHE_DIR`` or
``$XDG_CACHE_HOME/dltf/datasets`` or ``~/.cache/dltf/datasets``, then ``<name>/``), and last
the official download where one exists. Each folder may hold any of the spec's layouts (say
``mnist.npz`` or the four idx ``.gz`` files). New datasets (IMDB, PTB) register the same way.
"""

from __future__ import annotations

import csv
import functools
import gzip
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.errors import UsageError, first_line
from common.safe_npz import read_npz as read_safe_npz
from networks.download import download, offline
from networks.registry import Registry


@dataclass(frozen=True)
class Dataset:
    """Arrays of the standard train / validation / test splits, plus the class names."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = ()
    source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}


@dataclass(frozen=True)
class Layout:
    """One accepted set of files in a folder and the function that reads them."""

    files: tuple[str, ...]
    read: Callable[[Path], Dataset]


@dataclass(frozen=True)
class Remote:
    """An official download: where from, the file name it is saved under, and its sha256."""

    url: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class DatasetSpec:
    """How to find and read one dataset; ``where`` says where a user can get the files."""

    name: str
    description: str
    layouts: tuple[Layout, ...]
    where: str
    remote: Remote | None = None
    class_names: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)
    # A dataset made by code (no files to find): called when no layout is found in --data-dir.
    generate: Callable[[], Dataset] | None = None

    @property
    def env_var(self) -> str:
        return f"DLTF_{self.name.upper().replace('-', '_')}_DIR"

    def expected(self) -> str:
        return " or ".join(" + ".join(layout.files) for layout in self.layouts)


DATASETS: Registry[DatasetSpec] = Registry("dataset", sort_known=True)
#: Add a dataset (``networks.text`` adds IMDB and PTB the same way); look one up by name.
register_dataset = DATASETS.register
get_dataset_spec = DATASETS.lookup


def cache_dir(name: str = "") -> Path:
    """Where downloads go: $DLTF_CACHE_DIR, else $XDG_CACHE_HOME/dltf/datasets, else ~/.cache/..."""
    root = os.environ.get("DLTF_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "dltf", "datasets")
    return Path(root) / name if name else Path(root)


def search_dirs(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders searched, in lookup order."""
    dirs: list[Path] = []
    if data_dir:
        dirs.append(Path(data_dir))
    if os.environ.get(spec.env_var):
        dirs.append(Path(os.environ[spec.env_var]))
    if os.environ.get("DLTF_DATA_DIR"):
        dirs.append(Path(os.environ["DLTF_DATA_DIR"]) / spec.name)
    dirs.append(cache_dir(spec.name))
    return dirs


def _find(spec: DatasetSpec, folder: Path) -> Layout | None:
    if folder.is_file():  # --data-dir may name the file itself
        for layout in spec.layouts:
            if layout.files == (folder.name,):
                return layout
        return None
    for layout in spec.layouts:
        # An entry ending in "/" is a folder (an extracted archive such as aclImdb/).
        if all(
            (folder / f).is_dir() if f.endswith("/") else (folder / f).is_file()
            for f in layout.files
        ):
            return layout
    return None


def load_dataset(
    name: str, data_dir: str | os.PathLike | None = None, allow_download: bool | None = None
) -> Dataset:
    """Find ``name``'s files (see the module doc for the order), read and validate them.

    Downloads happen only where the spec has an official source and ``DLTF_OFFLINE`` is unset.
    """
    spec = get_dataset_spec(name)
    if data_dir and not os.path.exists(data_dir):  # the user named it: never fall back silently
        raise UsageError(
            f"{spec.name} data not found: expected {spec.expected()}, but --data-dir "
            f"{data_dir} does not exist (named, so nothing else is searched)"
        )
    dirs = search_dirs(spec, data_dir)
    for folder in dirs:
        layout = _find(spec, folder)
        if layout is not None:
            base = folder.parent if folder.is_file() else folder
            return layout.read(base)
    if spec.generate is not None:
        return spec.generate()
    if data_dir and spec.layouts:  # named, but holds none of the layouts
        raise UsageError(
            f"{spec.name} data not found: expected {spec.expected()} in --data-dir {data_dir} "
            f"(named, so nothing else is searched); get it from {spec.where}"
        )
    if allow_download is None:
        allow_download = not offline()
    if spec.remote is not None and allow_download:
        target = cache_dir(spec.name) / spec.remote.filename
        download(spec.remote.url, target, spec.remote.sha256)
        layout = _find(spec, target.parent)
        if layout is not None:
            return layout.read(target.parent)
    searched = ", ".join(str(d) for d in dirs)
    raise UsageError(
        f"{spec.name} data not found: expected {spec.expected()} in --data-dir, ${spec.env_var}, "
        f"$DLTF_DATA_DIR/{spec.name} or the cache (searched: {searched}); get it from {spec.where}"
    )


# --- readers -------------------------------------------------------------------------------


def read_npz(path: Path, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Read named arrays from an .npz without ever unpickling; headers are checked against the
    file size before anything is read, and any damage is one UsageError line."""
    return read_safe_npz(path, required=tuple(keys), what="data file")


def _check_split(
    path: Path, split: str, x: np.ndarray, y: np.ndarray, shape: tuple[int, ...], classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Shape, dtype and label-range checks, so a wrong file fails early in one line."""
    if x.ndim != 1 + len(shape) or tuple(x.shape[1:]) != shape:
        raise UsageError(
            f"corrupt data file {path}: {split} images have shape {x.shape}, expected (N, "
            f"{', '.join(map(str, shape))})"
        )
    if y.ndim != 1 or len(y) != len(x):
        raise UsageError(
            f"corrupt data file {path}: {split} has {len(x)} images but labels of shape {y.shape}"
        )
    if len(x) == 0:
        raise UsageError(f"corrupt data file {path}: {split} split is empty")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= classes:
        raise UsageError(
            f"corrupt data file {path}: {split} labels must be integers 0..{classes - 1}"
        )
    if x.dtype != np.uint8:
        # complex, bool, text and NaN/inf pixels are not images (NaN compares False to bounds)
        if (
            x.dtype.kind not in "iuf"
            or (x.dtype.kind == "f" and not np.isfinite(x).all())
            or x.min() < 0
            or x.max() > 255
        ):
            raise UsageError(
                f"corrupt data file {path}: {split} pixels must be 0..255, finite, not complex "
                f"(got {x.dtype})"
            )
        x = x.astype(np.uint8)
    return x, y.astype(np.int32)


MNIST_CLASSES = tuple(str(d) for d in range(10))
MNIST_VAL = 5000  # the 2017 curriculum's 55,000 / 5,000 / 10,000 split (last 5k of train)
_MNIST_IDX = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _mnist(
    path: Path, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> Dataset:
    x_train, y_train = _check_split(path, "train", x_train, y_train, (28, 28), 10)
    x_test, y_test = _check_split(path, "test", x_test, y_test, (28, 28), 10)
    # Tiny files (tests, smoke runs) keep a tenth for validation instead of 5,000.
    n_val = MNIST_VAL if len(x_train) > 2 * MNIST_VAL else max(1, len(x_train) // 10)
    return Dataset(
        name="mnist",
        x_train=x_train[:-n_val],
        y_train=y_train[:-n_val],
        x_val=x_train[-n_val:],
        y_val=y_train[-n_val:],
        x_test=x_test,
        y_test=y_test,
        class_names=MNIST_CLASSES,
        source=str(path),
    )


def read_mnist_npz(folder: Path) -> Dataset:
    path = folder / "mnist.npz"
    a = read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
    return _mnist(path, a["x_train"], a["y_train"], a["x_test"], a["y_test"])


_MAX_IDX_BYTES = 1 << 30  # MNIST's largest file unpacks to 47 MB; a gzip bomb stops here


def read_idx_gz(path: Path) -> np.ndarray:
    """Read one idx file (gzip'd, unsigned bytes), as in LeCun's MNIST distribution."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read(_MAX_IDX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise UsageError(f"corrupt data file {path}: {first_line(exc)}") from None
    if len(raw) > _MAX_IDX_BYTES:
        raise UsageError(f"corrupt data file {path}: over 1 GiB unpacked, not an MNIST file")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UsageError(f"corrupt data file {path}: not an unsigned-byte idx file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise UsageError(f"corrupt data file {path}: truncated idx header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(dims))
    if len(raw) - header != count:
        found = len(raw) - header
        raise UsageError(
            f"corrupt data file {path}: header says {count} bytes of data, found {found}"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def read_mnist_idx(folder: Path) -> Dataset:
    xtr, ytr, xte, yte = (read_idx_gz(folder / f) for f in _MNIST_IDX)
    return _mnist(folder, xtr, ytr, xte, yte)


MNIST = register_dataset(
    DatasetSpec(
        name="mnist",
        description="MNIST handwritten digits, 28x28 grayscale, 55k train / 5k val / 10k test",
        layouts=(Layout(("mnist.npz",), read_mnist_npz), Layout(_MNIST_IDX, read_mnist_idx)),
        where="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        remote=Remote(
            url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
            filename="mnist.npz",
            sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        ),
        class_names=MNIST_CLASSES,
    )
)


FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_FER_KEYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
_FER_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def _fer(path: Path, arrays: dict[str, np.ndarray]) -> Dataset:
    out: dict[str, np.ndarray] = {}
    for split in ("train", "val", "test"):
        x, y = _check_split(
            path, split, arrays[f"x_{split}"], arrays[f"y_{split}"], (48, 48), len(FER_CLASSES)
        )
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    return Dataset(name="fer2013", class_names=FER_CLASSES, source=str(path), **out)


def read_fer_npz(folder: Path) -> Dataset:
    path = folder / "fer2013.npz"
    return _fer(path, read_npz(path, _FER_KEYS))


def read_fer_csv(folder: Path) -> Dataset:
    """Kaggle's ``fer2013.csv``: columns emotion, pixels (2304 numbers), Usage."""
    path = folder / "fer2013.csv"
    xs: dict[str, list[np.ndarray]] = {s: [] for s in _FER_USAGE.values()}
    ys: dict[str, list[int]] = {s: [] for s in _FER_USAGE.values()}
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not {"emotion", "pixels", "Usage"} <= set(reader.fieldnames or ()):
                raise UsageError(
                    f"corrupt data file {path}: expected columns emotion, pixels, Usage"
                )
            for row in reader:
                split = _FER_USAGE.get(row["Usage"])
                pixels = np.array(row["pixels"].split(), dtype=np.int64)
                if split is None or pixels.size != 48 * 48:
                    raise UsageError(f"corrupt data file {path}: bad row {reader.line_num}")
                xs[split].append(pixels.reshape(48, 48))
                ys[split].append(int(row["emotion"]))
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        if isinstance(exc, UsageError):
            raise
        raise UsageError(f"corrupt data file {path}: {exc}") from exc
    arrays: dict[str, np.ndarray] = {}
    for split in xs:
        arrays[f"x_{split}"] = np.stack(xs[split]) if xs[split] else np.zeros((0, 48, 48), np.int64)
        arrays[f"y_{split}"] = np.array(ys[split], dtype=np.int64)
    return _fer(path, arrays)


FER2013 = register_dataset(
    DatasetSpec(
        name="fer2013",
        description="FER2013 faces, 48x48 grayscale, 7 emotions; 28,709 / 3,589 / 3,589",
        layouts=(Layout(("fer2013.npz",), read_fer_npz), Layout(("fer2013.csv",), read_fer_csv)),
        where="https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge/data",
        class_names=FER_CLASSES,
    )
)


# --- lake: FrozenLake renders, made by code ----------------------------------------------------


@functools.lru_cache(maxsize=4)
def mnist_digits(split: str = "test", data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``(images, labels)`` of one split, read-only, for ``frozenlake-digits``; read once
    per process, so the copies of a vector env share one array."""
    if split not in ("train", "val", "test"):
        raise UsageError(f"mnist split must be train, val or test, got {split!r}")
    data = load_dataset("mnist", data_dir)
    images, labels = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
    images.setflags(write=False)
    return images, labels


#: Maps per split of the ``lake`` dataset (tests shrink them).
LAKE_MAPS = {"train": 1500, "val": 100, "test": 100}
LAKE_CLASSES = tuple(f"row {r} col {c}" for r in range(4) for c in range(4))


def make_lake(maps: dict[str, int] | None = None) -> Dataset:
    """Every state's image of many solvable 4x4 lakes, as ``frozenlake-pixels`` draws them by
    default (32x32 grey); the label is the agent's cell. Train starts with the standard map; all
    maps are distinct, so validation and test lakes are unseen. Made in about 4 s, the same
    every time: what an autoencoder learns here is how the env looks, so it can serve as a
    featurizer for agents (``python -m networks.train lake-autoencoder``)."""
    from envs.maps import parse_map, random_map
    from envs.pixels import FrozenLakePixelsEnv

    maps = maps or LAKE_MAPS
    layouts = {parse_map("4x4"): None}  # a dict keeps the order and drops repeats
    seed = 0
    while len(layouts) < sum(maps.values()):
        seed += 1
        layouts[random_map(4, seed=seed)] = None
    ordered = list(layouts)
    arrays: dict[str, np.ndarray] = {}
    start = 0
    for split in ("train", "val", "test"):
        chosen = ordered[start : start + maps[split]]
        start += maps[split]
        arrays[f"x_{split}"] = np.concatenate(
            [FrozenLakePixelsEnv(map=m).state_images() for m in chosen]
        )
        arrays[f"y_{split}"] = np.tile(np.arange(16, dtype=np.int64), len(chosen))
    return Dataset(
        name="lake", class_names=LAKE_CLASSES, source="generated by envs.pixels", **arrays
    )


LAKE = register_dataset(
    DatasetSpec(
        name="lake",
        description="FrozenLake 4x4 renders, 32x32 grey, label = agent's cell; made by code",
        layouts=(),
        where="envs.pixels (generated, nothing to download)",
        class_names=LAKE_CLASSES,
        generate=make_lake,
    )
)
