"""Dataset layer: formats, lookup order, validation and downloads, on files the tests write."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import tarfile

import numpy as np
import pytest

from common.errors import UsageError
from networks import datasets
from networks.datasets import Remote, load_dataset
from networks.download import download, safe_extract_tar
from tests.networks.conftest import pattern_images, write_fer_npz, write_idx, write_mnist_npz


def test_mnist_npz_splits_hold_out_a_validation_tenth(mnist_dir):
    d = load_dataset("mnist", mnist_dir)
    assert d.sizes() == {"train": 288, "val": 32, "test": 64}
    assert d.x_train.dtype == np.uint8 and d.x_train.shape[1:] == (28, 28)
    assert d.class_names == tuple("0123456789")
    raw = np.load(mnist_dir / "mnist.npz")
    np.testing.assert_array_equal(d.x_val, raw["x_train"][-32:])


def test_mnist_idx_files_read_the_same_as_npz(tmp_path, mnist_dir):
    raw = np.load(mnist_dir / "mnist.npz")
    idx = tmp_path / "idx"
    idx.mkdir()
    for stem, key in (
        ("train-images-idx3", "x_train"),
        ("train-labels-idx1", "y_train"),
        ("t10k-images-idx3", "x_test"),
        ("t10k-labels-idx1", "y_test"),
    ):
        write_idx(idx / f"{stem}-ubyte.gz", raw[key])
    a, b = load_dataset("mnist", mnist_dir), load_dataset("mnist", idx)
    for field in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_truncated_idx_file_is_one_line_error(tmp_path):
    for name in datasets._MNIST_IDX:
        write_idx(tmp_path / name, np.zeros((3, 28, 28) if "images" in name else (3,), np.uint8))
    with open(tmp_path / datasets._MNIST_IDX[0], "rb") as fh:
        data = fh.read()
    (tmp_path / datasets._MNIST_IDX[0]).write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="corrupt data file"):
        load_dataset("mnist", tmp_path)


def test_fer_csv_and_npz_agree(tmp_path, fer_dir):
    raw = np.load(fer_dir / "fer2013.npz")
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["emotion", "pixels", "Usage"])
    for split, usage in (("train", "Training"), ("val", "PublicTest"), ("test", "PrivateTest")):
        for x, y in zip(raw[f"x_{split}"], raw[f"y_{split}"], strict=True):
            w.writerow([int(y), " ".join(map(str, x.ravel())), usage])
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "fer2013.csv").write_text(buf.getvalue())
    a, b = load_dataset("fer2013", fer_dir), load_dataset("fer2013", tmp_path / "csv")
    assert a.sizes() == {"train": 64, "val": 64, "test": 64}
    assert a.class_names[3] == "happy"
    for field in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_lookup_order_data_dir_env_var_data_root_cache(tmp_path, monkeypatch):
    places = {}
    for name in ("flag", "env", "root/fer2013", "cache/fer2013"):
        places[name] = write_fer_npz(tmp_path / name).parent
    monkeypatch.setenv("DLTF_FER2013_DIR", str(places["env"]))
    monkeypatch.setenv("DLTF_DATA_DIR", str(tmp_path / "root"))
    assert load_dataset("fer2013", places["flag"]).source.startswith(str(places["flag"]))
    assert load_dataset("fer2013").source.startswith(str(places["env"]))
    monkeypatch.delenv("DLTF_FER2013_DIR")
    assert load_dataset("fer2013").source.startswith(str(places["root/fer2013"]))
    monkeypatch.delenv("DLTF_DATA_DIR")
    assert load_dataset("fer2013").source.startswith(str(places["cache/fer2013"]))


def test_data_dir_may_name_the_file(fer_dir):
    assert load_dataset("fer2013", fer_dir / "fer2013.npz").sizes()["test"] == 64


def test_missing_data_names_files_places_and_source(tmp_path, monkeypatch):
    monkeypatch.setenv("DLTF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DLTF_FER2013_DIR", str(tmp_path / "nowhere"))
    monkeypatch.delenv("DLTF_DATA_DIR", raising=False)
    with pytest.raises(UsageError) as err:
        load_dataset("fer2013")
    msg = str(err.value)
    assert "\n" not in msg
    for part in (
        "fer2013.npz",
        "fer2013.csv",
        "DLTF_FER2013_DIR",
        str(tmp_path / "nowhere"),
        "kaggle",
    ):
        assert part in msg


def test_a_data_dir_the_user_named_is_never_skipped(tmp_path, fer_dir):
    """Missing or empty, it is refused; the cache is not used in its place."""
    (tmp_path / "empty").mkdir()
    for folder, match in (
        (tmp_path / "nowhere", "does not exist"),
        (tmp_path / "empty", "nothing else is searched"),
    ):
        with pytest.raises(UsageError, match=match):
            load_dataset("fer2013", folder)


def test_unknown_dataset():
    with pytest.raises(UsageError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"x_train": np.zeros((10, 28, 27), np.uint8)}, "shape"),
        ({"y_train": np.full(320, 10, np.uint8)}, "labels must be integers 0..9"),
        ({"y_test": np.zeros(5, np.uint8)}, "labels of shape"),
        ({"x_test": np.full((64, 28, 28), 300.0)}, "pixels must be 0..255"),
    ],
)
def test_wrong_shapes_and_labels_are_rejected(tmp_path, arrays, match):
    path = write_mnist_npz(tmp_path / "m")
    good = dict(np.load(path))
    good.update(arrays)
    np.savez(path, **good)
    with pytest.raises(UsageError, match=match):
        load_dataset("mnist", path.parent)


def test_not_a_zip_and_missing_arrays_are_corrupt(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(UsageError, match="data file .*mnist.npz is corrupt or unreadable"):
        load_dataset("mnist", tmp_path)
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(UsageError, match="missing arrays y_train, x_test, y_test"):
        load_dataset("mnist", tmp_path)


def test_pickled_arrays_are_never_loaded(tmp_path):
    path = write_mnist_npz(tmp_path)
    good = dict(np.load(path))
    good["y_train"] = np.array([{"evil": 1}] * 320, dtype=object)
    np.savez(path, **good)
    with pytest.raises(UsageError, match="data file .*pickled data"):
        load_dataset("mnist", tmp_path)


def _serve_mnist(tmp_path, monkeypatch, sha: str | None = None):
    src = write_mnist_npz(tmp_path / "server")
    digest = sha or hashlib.sha256(src.read_bytes()).hexdigest()
    spec = dataclasses.replace(
        datasets.DATASETS["mnist"], remote=Remote(src.as_uri(), "mnist.npz", digest)
    )
    monkeypatch.setitem(datasets.DATASETS, "mnist", spec)
    monkeypatch.delenv("DLTF_OFFLINE")


def test_download_goes_to_cache_after_checksum(tmp_path, monkeypatch):
    _serve_mnist(tmp_path, monkeypatch)
    d = load_dataset("mnist")
    assert d.sizes()["test"] == 64
    assert (tmp_path / "cache" / "mnist" / "mnist.npz").is_file()


def test_download_with_bad_checksum_leaves_nothing(tmp_path, monkeypatch):
    _serve_mnist(tmp_path, monkeypatch, sha="0" * 64)
    with pytest.raises(UsageError, match="checksum mismatch"):
        load_dataset("mnist")
    assert not any((tmp_path / "cache" / "mnist").iterdir())


def test_offline_means_no_download(tmp_path, monkeypatch):
    _serve_mnist(tmp_path, monkeypatch)
    monkeypatch.setenv("DLTF_OFFLINE", "1")
    with pytest.raises(UsageError, match="mnist data not found"):
        load_dataset("mnist")


def test_unreachable_download_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="cannot download"):
        download((tmp_path / "absent.npz").as_uri(), tmp_path / "out.npz", "0" * 64)


def test_safe_extract_refuses_escaping_members(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(UsageError, match="escapes"):
        safe_extract_tar(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


def test_safe_extract_unpacks_plain_files(tmp_path):
    archive = tmp_path / "ok.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("data/a.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    out = safe_extract_tar(archive, tmp_path / "out")
    assert (out / "data" / "a.txt").read_bytes() == b"hi"


def test_pattern_fixture_is_class_dependent():
    x, y = pattern_images(20, 28, 10, 0)
    assert x[y == 3].mean(axis=0)[2, 23] > 200 > x[y == 0].mean(axis=0)[2, 23]


def test_lake_is_made_by_code_the_same_every_time(tmp_path, monkeypatch):
    from envs.pixels import FrozenLakePixelsEnv

    monkeypatch.setattr(datasets, "LAKE_MAPS", {"train": 3, "val": 2, "test": 2})
    data = load_dataset("lake", tmp_path)  # no files anywhere: the images are drawn
    assert data.x_train.shape == (48, 32, 32, 1) and data.x_val.shape == (32, 32, 32, 1)
    assert data.x_train.dtype == np.uint8 and data.num_classes == 16
    # The standard lake comes first, one image per state, labelled with the agent's cell.
    np.testing.assert_array_equal(data.x_train[:16], FrozenLakePixelsEnv().state_images())
    np.testing.assert_array_equal(data.y_train, np.tile(np.arange(16), 3))
    np.testing.assert_array_equal(load_dataset("lake").x_test, data.x_test)
    # Validation and test lakes are other maps than the training ones.
    lakes = {
        split: [x.tobytes() for x in getattr(data, f"x_{split}")[::16]]
        for split in ("train", "val", "test")
    }
    assert not set(lakes["train"]) & (set(lakes["val"]) | set(lakes["test"]))


def test_mnist_digits_read_through_the_dataset_layer(tmp_path, monkeypatch):
    from networks.datasets import mnist_digits

    monkeypatch.setenv("DLTF_OFFLINE", "1")
    rng = np.random.default_rng(0)
    arrays = {
        f"{k}_{split}": v
        for split, n in (("train", 20), ("test", 30))
        for k, v in (
            ("x", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
            ("y", np.arange(n) % 10),
        )
    }
    np.savez(tmp_path / "mnist.npz", **arrays)
    mnist_digits.cache_clear()
    try:
        images, labels = mnist_digits("test", str(tmp_path))
        assert images.shape == (30, 28, 28) and not images.flags.writeable
        assert np.array_equal(images, arrays["x_test"]) and np.array_equal(labels, arrays["y_test"])
        with pytest.raises(UsageError, match="split must be"):
            mnist_digits("holdout", str(tmp_path))
    finally:
        mnist_digits.cache_clear()
