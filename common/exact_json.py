"""State as JSON, bit for bit: numpy arrays and scalars, tuples and lists, numbers and None.

Checkpoints keep small pieces of run state (episodes in flight, an env's internals) inside a JSON
string, never a pickle. :func:`encode` tags what JSON cannot say by itself (arrays as dtype, shape
and base64 of their bytes, so float32 and float64 come back exactly; tuples apart from lists);
:func:`decode` reads it back, refusing anything but numeric dtypes and sizes that do not add up
(``ValueError``: the caller names the file).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

#: dtype kinds an array may have: bool, signed and unsigned ints, floats. Never objects.
NUMERIC_KINDS = "biuf"
#: Largest array decoded here (bytes): episodes in flight and env internals are small.
MAX_ARRAY_BYTES = 256 * 2**20


class NotEncodable(TypeError):
    """A value with no exact JSON form here (an object, a string array, a dict)."""


def encode_array(array: np.ndarray) -> dict[str, Any]:
    array = np.asarray(array)
    if array.dtype.kind not in NUMERIC_KINDS:
        raise NotEncodable(f"arrays of dtype {array.dtype} are not encoded")
    return {
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "b64": base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii"),
    }


def decode_array(data: Any) -> np.ndarray:
    if not isinstance(data, dict) or set(data) != {"dtype", "shape", "b64"}:
        raise ValueError("an encoded array needs exactly dtype, shape and b64")
    try:
        dtype = np.dtype(str(data["dtype"]))
    except TypeError:
        raise ValueError(f"{str(data['dtype'])[:40]!r} is not a dtype") from None
    if dtype.kind not in NUMERIC_KINDS:
        raise ValueError(f"dtype {dtype} is not numeric")
    shape = data["shape"]
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise ValueError(f"shape {shape!r} is not a list of sizes")
    count = int(np.prod(shape, dtype=np.float64))
    if count * dtype.itemsize > MAX_ARRAY_BYTES:
        raise ValueError(f"an array of shape {shape} is larger than any state saved here")
    raw = base64.b64decode(str(data["b64"]).encode("ascii"), validate=True)
    if len(raw) != count * dtype.itemsize:
        raise ValueError(f"{len(raw)} bytes do not make an array of shape {shape} and {dtype}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def encode(value: Any) -> Any:
    """``value`` (None, bool, int, float, str, numpy array or scalar, or lists and tuples of
    them) as JSON-able data; anything else raises :class:`NotEncodable`."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        return {"array": encode_array(value)}
    if isinstance(value, np.generic):
        return {"scalar": encode_array(np.asarray(value))}
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [encode(v) for v in value]}
    raise NotEncodable(f"a {type(value).__name__} has no exact JSON form here")


def decode(data: Any) -> Any:
    """The value :func:`encode` wrote; ``ValueError`` on anything it could not have written."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, dict) and len(data) == 1:
        ((tag, inner),) = data.items()
        if tag == "array":
            return decode_array(inner)
        if tag == "scalar":
            array = decode_array(inner)
            if array.shape != ():
                raise ValueError("an encoded scalar has a shape")
            return array[()]
        if tag in ("list", "tuple") and isinstance(inner, list):
            items = [decode(v) for v in inner]
            return items if tag == "list" else tuple(items)
    raise ValueError(f"{str(data)[:60]!r} is not an encoded value")
