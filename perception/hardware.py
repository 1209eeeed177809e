"""Hardware probing: what TensorFlow and the CUDA driver report about this machine's GPUs.

Kept apart from :mod:`perception.devices`, which decides and applies a device plan from these
facts; nothing here changes TensorFlow's configuration.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GpuInfo:
    """One physical GPU as TensorFlow numbers it; memory is None where it cannot be known."""

    index: int
    name: str
    model: str | None = None
    compute_capability: tuple[int, int] | None = None
    memory_mb: int | None = None

    def label(self) -> str:
        return f"gpu:{self.index}" + (f" ({self.model})" if self.model else "")


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Hide file descriptor 2 for a moment: TensorFlow's C++ start-up lines (CUDA probing on a
    machine without a GPU) bypass Python and TF_CPP_MIN_LOG_LEVEL. ``DLTF_TF_VERBOSE=1`` keeps
    them; Python exceptions still propagate."""
    if os.environ.get("DLTF_TF_VERBOSE") or not hasattr(os, "dup"):
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_TF_MODULE: Any = None


def import_tensorflow() -> Any:
    """Import TensorFlow and let it probe its devices once, without the C++ start-up noise."""
    global _TF_MODULE
    if _TF_MODULE is None:
        with _native_stderr_silenced():
            import tensorflow as tf

            tf.config.list_physical_devices()
        _TF_MODULE = tf
    return _TF_MODULE


def _cuda_memory_mb() -> dict[int, tuple[str, int]]:
    """Name and total memory per CUDA ordinal, asked of the driver without creating a context.

    TensorFlow reports no GPU memory before its runtime starts. Driver ordinals follow
    CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER as TensorFlow's do; {} where there is no driver.
    """
    try:
        lib = ctypes.CDLL("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1")
        count = ctypes.c_int(0)
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return {}
        found: dict[int, tuple[str, int]] = {}
        for ordinal in range(count.value):
            device, total = ctypes.c_int(0), ctypes.c_size_t(0)
            name = ctypes.create_string_buffer(256)
            if (
                lib.cuDeviceGet(ctypes.byref(device), ordinal) == 0
                and lib.cuDeviceGetName(name, 256, device) == 0
                and lib.cuDeviceTotalMem_v2(ctypes.byref(total), device) == 0
            ):
                found[ordinal] = (name.value.decode(errors="replace"), total.value // 2**20)
        return found
    except (AttributeError, OSError):
        return {}


def list_gpus() -> list[GpuInfo]:
    """Physical GPUs with model, compute capability and memory; does not start TF's runtime."""
    tf = import_tensorflow()
    memory = _cuda_memory_mb()
    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        index = int(device.name.rsplit(":", 1)[-1])
        try:
            details = tf.config.experimental.get_device_details(device)
        except (ValueError, RuntimeError):
            details = {}
        model, cc = details.get("device_name"), details.get("compute_capability")
        name, mb = memory.get(index, (None, None))
        mb = mb if model is None or name == model else None  # another ordering: do not guess
        gpus.append(GpuInfo(index, device.name, model, tuple(cc) if cc else None, mb))
    return gpus
