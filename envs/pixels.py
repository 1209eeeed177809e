"""FrozenLake seen as images: the dynamics stay :class:`envs.frozenlake.FrozenLakeEnv`'s, only the
observation changes, so the exact planner, the step limit and checkpoint identities still apply.

- :class:`FrozenLakePixelsEnv`: the lake drawn in numpy (no display), the agent's cell marked,
  grayscale or RGB, optional pixel noise. An agent must learn where it is from the picture.
- :class:`FrozenLakeDigitsEnv`: the agent sees only its row and column, as two handwritten digit
  images side by side, drawn afresh at every step. To act well it must read them (say through
  a trained MNIST classifier, :mod:`perception.encoders`).

Every random draw (noise, digit choice) comes from the env's ``np_random``: same seed, same
observations. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from common.errors import UsageError
from envs.frozenlake import FrozenLakeEnv

#: Tile colours (RGB) and grey levels, chosen so that every tile and the agent differ in both.
RGB_COLOURS = {"S": (150, 190, 235), "F": (205, 228, 250), "H": (20, 30, 75), "G": (250, 205, 30)}
GRAY_LEVELS = {"S": 150, "F": 200, "H": 30, "G": 255}
AGENT_RGB = (220, 30, 40)
AGENT_GRAY = 95
MAX_DIGIT_SIZE = 10  # rows and columns are shown as single digits 0..9


class _ImageFrozenLake(FrozenLakeEnv):
    """FrozenLake whose reset and step return ``self.draw(state)`` instead of the state index."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    #: Side-by-side sub-images an encoder should read separately (see perception.encoders).
    observation_tiles = 1

    def draw(self, state: int) -> np.ndarray:
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        state, info = super().reset(seed=seed, options=options)
        return self.draw(state), info

    def step(self, action):
        state, reward, terminated, truncated, info = super().step(action)
        return self.draw(state), reward, terminated, truncated, info

    def render(self):
        if self.render_mode == "rgb_array":
            image = self.draw(self.state)
            return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
        return super().render()


class FrozenLakePixelsEnv(_ImageFrozenLake):
    """FrozenLake observed as a ``(H, W, C)`` uint8 image of the lake with the agent marked.

    Args (besides FrozenLakeEnv's):
        color: ``"gray"`` (C = 1) or ``"rgb"`` (C = 3).
        cell_size: pixels per cell; the image is ``rows * cell_size`` by ``cols * cell_size``.
        image_size: overrides ``cell_size``: the lake is drawn at ``(height, width)`` (an int
            means square), cells spread by nearest-neighbour sampling, so any size works.
        noise: standard deviation of Gaussian pixel noise as a fraction of 255 (0 = none).
    """

    def __init__(
        self,
        map: str | tuple[str, ...] = "4x4",  # noqa: A002 - same option name as FrozenLakeEnv
        slippery: bool = True,
        max_episode_steps: int | None = None,
        map_seed: int | None = None,
        render_mode: str | None = None,
        *,
        color: str = "gray",
        cell_size: int = 8,
        image_size: int | tuple[int, int] | None = None,
        noise: float = 0.0,
    ) -> None:
        super().__init__(map, slippery, max_episode_steps, map_seed, render_mode)
        if color not in ("gray", "rgb"):
            raise UsageError(f"color must be 'gray' or 'rgb', got {color!r}")
        if not float(noise) >= 0.0:
            raise UsageError(f"noise must be >= 0 (a fraction of 255), got {noise}")
        self.color, self.noise = color, float(noise)
        if image_size is None:
            if int(cell_size) < 1:
                raise UsageError(f"cell_size must be >= 1 pixel, got {cell_size}")
            self.cell_size: int | None = int(cell_size)
            height, width = self.n_rows * self.cell_size, self.n_cols * self.cell_size
        else:
            height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
            height, width = int(height), int(width)
            if height < self.n_rows or width < self.n_cols:
                raise UsageError(
                    f"image_size {height}x{width} is smaller than the map "
                    f"({self.n_rows}x{self.n_cols}): give at least one pixel per cell"
                )
            self.cell_size = None
        # Which cell each pixel row / column shows; the marker is the middle half of a cell.
        self._pixel_row = np.arange(height) * self.n_rows // height
        self._pixel_col = np.arange(width) * self.n_cols // width
        palette = RGB_COLOURS if color == "rgb" else {k: (v,) for k, v in GRAY_LEVELS.items()}
        tiles = np.array([[palette[t] for t in row] for row in self.rows], dtype=np.uint8)
        self._background = tiles[self._pixel_row][:, self._pixel_col]
        self._agent = np.array(AGENT_RGB if color == "rgb" else (AGENT_GRAY,), dtype=np.uint8)
        self.observation_space = spaces.Box(0, 255, shape=self._background.shape, dtype=np.uint8)

    @property
    def identity(self) -> str:
        height, width, _ = self._background.shape
        return f"{super().identity}|pixels={self.color},{height}x{width},noise={self.noise:g}"

    def _marker(self, state: int) -> tuple[slice, slice]:
        """Pixel slices of the middle half of ``state``'s cell (the whole cell if it is tiny)."""
        r, c = divmod(state, self.n_cols)
        spans = []
        for cells, cell in ((self._pixel_row, r), (self._pixel_col, c)):
            lo, hi = np.searchsorted(cells, cell), np.searchsorted(cells, cell, side="right")
            pad = (hi - lo) // 4
            spans.append(slice(lo + pad, hi - pad))
        return spans[0], spans[1]

    def clean_image(self, state: int) -> np.ndarray:
        """The noise-free image of ``state``: what :meth:`draw` shows before noise."""
        image = self._background.copy()
        rows, cols = self._marker(state)
        image[rows, cols] = self._agent
        return image

    def draw(self, state: int) -> np.ndarray:
        image = self.clean_image(state)
        if self.noise > 0.0:
            noisy = image + self.np_random.normal(0.0, 255.0 * self.noise, size=image.shape)
            image = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        return image

    def state_images(self) -> np.ndarray:
        """``(S, H, W, C)`` noise-free images, one per state: to score a learned policy exactly."""
        return np.stack([self.clean_image(s) for s in range(self.table.n_states)])


DigitImages = dict[int, np.ndarray] | tuple[np.ndarray, np.ndarray]


def _digit_pools(digits: DigitImages) -> dict[int, np.ndarray]:
    """``{label: (N, h, w) uint8}`` from a dict of image stacks or an ``(images, labels)`` pair."""
    if isinstance(digits, dict):
        pools = {int(k): np.asarray(v) for k, v in digits.items()}
    elif isinstance(digits, tuple | list) and len(digits) == 2:
        images, labels = np.asarray(digits[0]), np.asarray(digits[1]).reshape(-1)
        if len(images) != len(labels):
            raise UsageError(f"digits: {len(images)} images but {len(labels)} labels")
        pools = {int(k): images[labels == k] for k in np.unique(labels)}
    else:
        raise UsageError("digits must be {digit: images} or (images, labels) arrays")
    shapes = set()
    for label, pool in pools.items():
        if pool.ndim == 4 and pool.shape[-1] == 1:
            pool = pool[..., 0]
        if pool.ndim == 2:  # one image
            pool = pool[None]
        if pool.ndim != 3 or len(pool) == 0:
            raise UsageError(f"digits: images of {label} must be (N, h, w), got shape {pool.shape}")
        if pool.dtype != np.uint8:
            if not np.issubdtype(pool.dtype, np.number) or pool.min() < 0 or pool.max() > 255:
                raise UsageError(f"digits: pixels of {label} must be uint8 grey levels 0..255")
            pool = pool.astype(np.uint8)
        pool.setflags(write=False)
        pools[label] = pool
        shapes.add(pool.shape[1:])
    if len(shapes) > 1:
        raise UsageError(f"digits: all images must have one size, got {sorted(shapes)}")
    return pools


class FrozenLakeDigitsEnv(_ImageFrozenLake):
    """FrozenLake observed as two digit images side by side: the agent's row, then its column.

    The observation is ``(h, 2 * w, 1)`` uint8 (28x56x1 with MNIST); each step draws a new image of
    each digit from ``digits`` with the env's ``np_random``. Maps up to 10x10.

    Args (besides FrozenLakeEnv's):
        digits: ``{digit: (N, h, w) uint8}`` or ``(images, labels)``; every digit below the map's
            larger side needs at least one image (``networks.datasets.mnist_digits()``: MNIST's).
    """

    observation_tiles = 2

    def __init__(
        self,
        digits: DigitImages,
        map: str | tuple[str, ...] = "4x4",  # noqa: A002 - same option name as FrozenLakeEnv
        slippery: bool = True,
        max_episode_steps: int | None = None,
        map_seed: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(map, slippery, max_episode_steps, map_seed, render_mode)
        if max(self.n_rows, self.n_cols) > MAX_DIGIT_SIZE:
            raise UsageError(
                f"frozenlake-digits shows rows and columns as single digits: the map is "
                f"{self.n_rows}x{self.n_cols}, use at most {MAX_DIGIT_SIZE}x{MAX_DIGIT_SIZE}"
            )
        pools = _digit_pools(digits)
        needed = range(max(self.n_rows, self.n_cols))
        missing = [d for d in needed if d not in pools]
        if missing:
            raise UsageError(
                f"digits: no images of {', '.join(str(d) for d in missing)}; a "
                f"{self.n_rows}x{self.n_cols} map needs digits 0..{needed[-1]}"
            )
        self._pools = [pools[d] for d in needed]
        self.digit_shape: tuple[int, int] = tuple(self._pools[0].shape[1:])  # type: ignore[assignment]
        h, w = self.digit_shape
        self.observation_space = spaces.Box(0, 255, shape=(h, 2 * w, 1), dtype=np.uint8)

    @property
    def identity(self) -> str:
        return f"{super().identity}|digits={self.digit_shape[0]}x{self.digit_shape[1]}"

    def _pick(self, digit: int) -> np.ndarray:
        pool = self._pools[digit]
        return pool[int(self.np_random.integers(len(pool)))]

    def draw(self, state: int) -> np.ndarray:
        r, c = divmod(state, self.n_cols)
        return np.concatenate([self._pick(r), self._pick(c)], axis=1)[..., None]

    def state_images(self) -> np.ndarray:
        """``(S, h, 2w, 1)``: each state shown with the first image of each digit (no draw)."""
        first = [pool[0] for pool in self._pools]
        return np.stack(
            [
                np.concatenate([first[s // self.n_cols], first[s % self.n_cols]], axis=1)
                for s in range(self.table.n_states)
            ]
        )[..., None]


def make_digits_env(digits: DigitImages | None = None, **options) -> FrozenLakeDigitsEnv:
    """``frozenlake-digits`` by name: the digit images are the caller's to load, so that envs/
    reads no dataset files (``networks.datasets.mnist_digits()`` gives MNIST's)."""
    if digits is None:
        raise UsageError(
            "frozenlake-digits needs its digit images: pass digits=(images, labels), "
            "e.g. networks.datasets.mnist_digits() (agents.run loads MNIST's test digits itself)"
        )
    return FrozenLakeDigitsEnv(digits, **options)
