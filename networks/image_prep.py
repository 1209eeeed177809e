"""A user's picture prepared the way the training images were made, before a model reads it.

* Digits, as MNIST made them (LeCun et al.): grey, white ink on black, cropped to the ink's
  bounding box, scaled so its longer side is 20 pixels (aspect kept, anti-aliased), then placed
  in a 28x28 field with its centre of mass at the centre.
* Faces, as FER2013 holds them: grey, the central square of the picture (give one cropped
  around the face), scaled to 48x48.

The header is read before decoding, so a huge picture is refused before it takes the memory.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from common.errors import UsageError

MAX_PIXELS = 50_000_000  # 50 megapixels: far beyond any photo a model here needs
DIGIT_BOX = 20  # MNIST: the digit's longer side
DIGIT_FIELD = 28
INK_FRACTION = 0.25  # a pixel is ink above this fraction of the brightest one (after inversion)


def image_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, BMP or JPEG header; None when it cannot be read."""
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:
        return struct.unpack(">II", raw[16:24])
    if raw[:6] in (b"GIF87a", b"GIF89a") and len(raw) >= 10:
        return struct.unpack("<HH", raw[6:10])
    if raw[:2] == b"BM" and len(raw) >= 26:
        width, height = struct.unpack("<ii", raw[18:26])
        return abs(width), abs(height)
    if raw[:2] == b"\xff\xd8":
        return _jpeg_size(raw)
    return None


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    """Walk the JPEG markers to the first start-of-frame (SOF0..SOF15 but DHT/JPG/DAC)."""
    pos = 2
    while pos + 9 <= len(raw):
        if raw[pos] != 0xFF:
            return None
        marker = raw[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        (length,) = struct.unpack(">H", raw[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", raw[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def check_pixels(raw: bytes, path: str | Path, limit: int = MAX_PIXELS) -> None:
    """Refuse a picture whose header announces more than ``limit`` pixels, before decoding."""
    size = image_size(raw)
    if size is not None and size[0] * size[1] > limit:
        width, height = size
        raise UsageError(
            f"{path} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), over "
            f"the {limit / 1e6:.0f}-megapixel limit: scale it down first"
        )


def _resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    import tensorflow as tf

    out = tf.image.resize(img[..., None], (height, width), antialias=True).numpy()[..., 0]
    return np.clip(out, 0.0, 255.0)


def light_background(grey: np.ndarray) -> bool:
    """Ink on paper: the border (most likely background) is lighter than mid-grey."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return float(np.median(border)) > 127.5


def prepare_digit(grey: np.ndarray, invert: bool) -> np.ndarray:
    """(H, W) grey 0..255 -> a (28, 28) MNIST-style digit, white on black."""
    img = 255.0 - grey if invert else grey.astype(np.float64)
    img = np.clip(img - np.median(img), 0.0, None)  # the background to black
    peak = float(img.max())
    if peak <= 0:
        raise UsageError("no ink in the picture: it is one flat shade")
    rows = np.flatnonzero((img > INK_FRACTION * peak).any(axis=1))
    cols = np.flatnonzero((img > INK_FRACTION * peak).any(axis=0))
    box = img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] * (255.0 / peak)
    h, w = box.shape
    scale = DIGIT_BOX / max(h, w)
    box = _resize(box, max(1, round(h * scale)), max(1, round(w * scale)))
    # Centre of mass to the field's centre: place on a field twice as large, then cut.
    mass = box.sum()
    cy = (box.sum(axis=1) @ np.arange(box.shape[0])) / mass
    cx = (box.sum(axis=0) @ np.arange(box.shape[1])) / mass
    big = np.zeros((2 * DIGIT_FIELD, 2 * DIGIT_FIELD))
    top = int(round(DIGIT_FIELD - 0.5 - cy))
    left = int(round(DIGIT_FIELD - 0.5 - cx))
    big[top : top + box.shape[0], left : left + box.shape[1]] = box
    half = DIGIT_FIELD // 2
    return big[half : half + DIGIT_FIELD, half : half + DIGIT_FIELD]


def prepare_face(grey: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) grey -> the central square scaled to (height, width), as FER2013's faces."""
    h, w = grey.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return _resize(grey[top : top + side, left : left + side].astype(np.float64), height, width)
