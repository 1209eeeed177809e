"""Damaged and crafted .npz files: refused in one line before any big allocation."""

import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import UsageError
from common.safe_npz import ArraySpec, inspect_npz, read_npz
from tests.hostile.helpers import assert_one_line

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def good_npz(path):
    np.savez(path, q=np.arange(12, dtype=np.float64).reshape(3, 4), n=np.arange(3))
    return path.read_bytes()


@SETTINGS
@given(data=st.data())
def test_damaged_bytes_are_one_line(tmp_path, data):
    raw = bytearray(good_npz(tmp_path / "c.npz"))
    how = data.draw(st.sampled_from(["truncate", "flip", "garbage"]))
    if how == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
    else:
        raw = bytearray(data.draw(st.binary(max_size=200)))
    path = tmp_path / "bad.npz"
    path.write_bytes(bytes(raw))
    try:
        arrays = read_npz(path, {"q": ArraySpec("f", (3, 4)), "n": ArraySpec("iu", (3,))})
    except UsageError as exc:
        assert_one_line(str(exc))
        assert "pickled" not in str(exc) or how != "garbage"
    else:  # a flip that hit nothing the format checks (zip names, padding): still valid arrays
        assert arrays["q"].shape == (3, 4)


def crafted(path, name, header_shape, dtype="<f8", body=b"\0" * 16):
    """An npz whose member header claims ``header_shape`` over a small body."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": header_shape}
    )
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", b"\x93NUMPY\x01\x00" + buf.getvalue()[8:] + body)
    return path


@SETTINGS
@given(shape=st.lists(st.integers(0, 10**6), min_size=1, max_size=4).map(tuple))
def test_header_shape_is_checked_against_the_file_size(tmp_path, shape):
    path = crafted(tmp_path / "h.npz", "x", shape)
    if np.prod(shape, dtype=object) * 8 == 16:
        assert inspect_npz(path)["x"].shape == shape
        return
    with pytest.raises(UsageError, match="claims") as info:
        read_npz(path)
    assert_one_line(str(info.value))


def test_a_730_gib_claim_is_refused_without_allocating(tmp_path):
    path = crafted(tmp_path / "huge.npz", "x", (10**6, 10**5))
    with pytest.raises(UsageError, match=r"claims \(1000000, 100000\) float64, 745\.1 GiB"):
        read_npz(path)


def test_object_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(UsageError, match="pickled"):
        read_npz(tmp_path / "o.npz")


@pytest.mark.parametrize(
    "array, spec, match",
    [
        (np.array([1.0, np.nan]), ArraySpec("f"), "NaN"),
        (np.array([1, -1]), ArraySpec("iu", min=0), "below 0"),
        (np.zeros((2, 3)), ArraySpec("f", (2, 4)), "shape"),
        (np.zeros(3, np.complex64), ArraySpec("f"), "dtype"),
    ],
)
def test_specs(tmp_path, array, spec, match):
    np.savez(tmp_path / "a.npz", a=array)
    with pytest.raises(UsageError, match=match):
        read_npz(tmp_path / "a.npz", {"a": spec})


def test_missing_and_not_a_file(tmp_path):
    np.savez(tmp_path / "a.npz", a=np.zeros(2))
    with pytest.raises(UsageError, match="missing arrays"):
        read_npz(tmp_path / "a.npz", {"b": ArraySpec()})
    for bad in (tmp_path / "nope.npz", tmp_path):
        with pytest.raises(UsageError):
            read_npz(bad)
