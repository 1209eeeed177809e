"""Data files and archives: damaged, crafted or hostile inputs are one line, never read wrong."""

from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import UsageError
from networks.datasets import load_dataset
from networks.download import offline, regular_files, safe_extract_tar
from tests.hostile.helpers import assert_one_line, snapshot
from tests.hostile.test_checkpoint_files import damage

FIXTURE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def mnist_arrays(n=40):
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n, 28, 28)).astype(np.uint8),
        "y_train": rng.integers(0, 10, n),
        "x_test": rng.integers(0, 256, (n // 4, 28, 28)).astype(np.uint8),
        "y_test": rng.integers(0, 10, n // 4),
    }


pixel_values = st.sampled_from([np.nan, np.inf, -1.0, 256.0, 1 + 2j, "x", True, 3.5, 255.0, 0])


@FIXTURE
@given(
    value=pixel_values,
    dtype=st.sampled_from(["float32", "float64", "complex64", "<U1", "bool", "int64"]),
)
def test_mnist_pixels_are_finite_real_0_to_255(tmp_path, value, dtype):
    arrays = mnist_arrays()
    try:
        x = arrays["x_train"].astype(dtype)
        x[0, 0, 0] = value
    except (TypeError, ValueError, OverflowError):
        return  # numpy refuses the combination itself
    arrays["x_train"] = x
    np.savez(tmp_path / "mnist.npz", **arrays)
    kind = np.dtype(dtype).kind
    fine = kind in "iuf" and np.isfinite(x).all() and x.min() >= 0 and x.max() <= 255
    try:
        data = load_dataset("mnist", tmp_path)
    except UsageError as exc:
        assert_one_line(str(exc))
        assert not fine
    else:
        assert fine and data.x_train.dtype == np.uint8


@FIXTURE
@given(data=st.data())
def test_damaged_mnist_npz_is_one_line(tmp_path, data):
    np.savez(tmp_path / "mnist.npz", **mnist_arrays())
    raw = (tmp_path / "mnist.npz").read_bytes()
    (tmp_path / "mnist.npz").write_bytes(damage(raw, data))
    try:
        load_dataset("mnist", tmp_path)
    except UsageError as exc:
        assert_one_line(str(exc))
        assert "pickled" not in str(exc)


def test_named_data_dir_that_does_not_exist_is_refused(tmp_path, monkeypatch):
    np.savez(tmp_path / "mnist.npz", **mnist_arrays())
    monkeypatch.setenv("DLTF_MNIST_DIR", str(tmp_path))  # would be found: must not be used
    with pytest.raises(UsageError, match="does not exist") as info:
        load_dataset("mnist", tmp_path / "typo")
    assert_one_line(str(info.value))


@pytest.mark.parametrize(
    "value, is_offline",
    [("", False), ("0", False), ("false", False), ("no", False), ("1", True), ("yes", True)],
)
def test_dltf_offline_zero_allows_downloads(monkeypatch, value, is_offline):
    monkeypatch.setenv("DLTF_OFFLINE", value)
    assert offline() is is_offline


def tar_bytes(members: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


@FIXTURE
@given(data=st.data(), mode=st.sampled_from(["w:gz", "w:xz", "w:bz2", "w"]))
def test_damaged_archives_are_one_line(tmp_path, data, mode):
    raw = tar_bytes({"a/train.txt": b"hello world " * 50, "a/b.txt": b"x"}, mode)
    archive = tmp_path / "data.tar"
    archive.write_bytes(damage(raw, data))
    dest = tmp_path / f"out{data.draw(st.integers(0, 10**9))}"
    try:
        safe_extract_tar(archive, dest)
    except UsageError as exc:
        assert_one_line(str(exc))


@pytest.mark.parametrize("mode", ["w:xz", "w:gz"])
def test_empty_archive_is_one_line(tmp_path, mode):
    (tmp_path / "empty.tar.xz").write_bytes(b"")
    with pytest.raises(UsageError) as info:
        safe_extract_tar(tmp_path / "empty.tar.xz", tmp_path / "out")
    assert_one_line(str(info.value))


def test_extracted_folder_links_are_refused(tmp_path):
    root = tmp_path / "aclImdb"
    (root / "train" / "pos").mkdir(parents=True)
    (root / "train" / "pos" / "0_9.txt").write_text("good")
    assert [p.name for p in regular_files(root, "train/pos")] == ["0_9.txt"]
    os.symlink("/etc/hostname", root / "train" / "pos" / "1_9.txt")
    before = snapshot(tmp_path)
    with pytest.raises(UsageError, match="is a link") as info:
        list(regular_files(root, "train/pos"))
    assert_one_line(str(info.value))
    assert snapshot(tmp_path) == before
    os.symlink("/etc", root / "test")
    with pytest.raises(UsageError, match="leads outside"):
        list(regular_files(root, "test"))
