"""FrozenLake maps: named layouts, seeded random maps, parsing and validation.

A map is a tuple of equal-length strings over ``S`` (start), ``F`` (frozen), ``H`` (hole) and ``G``
(goal). Validation happens here, once, so the environment and the planner can trust a map.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from common.errors import UsageError

NAMED_MAPS: dict[str, tuple[str, ...]] = {
    "4x4": ("SFFF", "FHFH", "FFFH", "HFFG"),
    "8x8": (
        "SFFFFFFF",
        "FFFFFFFF",
        "FFFHFFFF",
        "FFFFFHFF",
        "FFFHFFFF",
        "FHHFFFHF",
        "FHFFHFHF",
        "FFFHFFFG",
    ),
}

MAX_SIZE = 64  # rows and columns, for every map: named, random:N or written out
TILES = frozenset("SFHG")
MAX_SPEC_CHARS = MAX_SIZE * (MAX_SIZE + 1) + 16  # longer text cannot be a map within the limit


class InvalidMapError(UsageError):
    """The map cannot be played: says what is wrong and how to write a valid one."""


def parse_map(spec: str | tuple[str, ...] | list[str], seed: int | None = None) -> tuple[str, ...]:
    """Turn ``4x4``, ``8x8``, ``random:N`` or ``SFFF,FHFH,...`` into validated rows.

    ``random:N`` maps are drawn from ``seed`` (0 when not given): the same seed, the same map.
    """
    if isinstance(spec, (tuple, list)):
        rows = tuple(str(r) for r in spec)
    elif not isinstance(spec, str):
        raise InvalidMapError(f"bad map {spec!r}: give text like 4x4, 8x8, random:N or SFFF,...")
    else:
        text = spec.strip()
        if len(text) > MAX_SPEC_CHARS:
            raise InvalidMapError(
                f"map of {len(text):,} characters is larger than {MAX_SIZE}x{MAX_SIZE}, "
                "the largest map the exact planner solves quickly"
            )
        if text in NAMED_MAPS:
            return NAMED_MAPS[text]
        if text.startswith("random:"):
            size_text = text.split(":", 1)[1]
            # isdigit() is true for any script's digits ("٣"): ASCII only
            if not (size_text.isascii() and size_text.isdigit()) or not (
                2 <= int(size_text) <= MAX_SIZE
            ):
                shown = size_text if size_text.isprintable() else ascii(size_text)
                raise InvalidMapError(
                    f"bad map 'random:{shown[:20]}': random maps are 'random:N' "
                    f"with N from 2 to {MAX_SIZE} (ASCII digits)"
                )
            return random_map(int(size_text), seed=0 if seed is None else seed)
        rows = tuple(r.strip() for r in text.split(","))
    validate_map(rows)
    return rows


def validate_map(rows: tuple[str, ...]) -> None:
    """Raise :class:`InvalidMapError` naming the first problem found."""
    hint = (
        "write rows of S/F/H/G separated by commas, e.g. SFFF,FHFH,FFFH,HFFG, "
        "or use 4x4, 8x8, random:N"
    )
    if not rows or not rows[0]:
        raise InvalidMapError(f"empty map: {hint}")
    if len(rows) > MAX_SIZE or len(rows[0]) > MAX_SIZE:
        raise InvalidMapError(
            f"map is {len(rows)}x{len(rows[0])}: at most {MAX_SIZE}x{MAX_SIZE} "
            "(as random:N), so the exact planner solves it quickly"
        )
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise InvalidMapError(
                f"map is not rectangular: row {i} has {len(row)} tiles, row 0 has {width}; {hint}"
            )
        bad = sorted(set(row) - TILES)
        if bad:
            shown = ascii("".join(bad)[:8])
            raise InvalidMapError(f"map row {i} has unknown tile(s) {shown}: {hint}")
    starts = sum(row.count("S") for row in rows)
    if starts != 1:
        raise InvalidMapError(f"map must have exactly one start S, found {starts}: {hint}")
    if not any("G" in row for row in rows):
        raise InvalidMapError(f"map has no goal G: {hint}")
    if not _goal_reachable(rows):
        raise InvalidMapError("no goal G is reachable from the start S without crossing a hole H")


def _goal_reachable(rows: tuple[str, ...]) -> bool:
    n_rows, n_cols = len(rows), len(rows[0])
    start = next((r, c) for r in range(n_rows) for c in range(n_cols) if rows[r][c] == "S")
    seen = {start}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        if rows[r][c] == "G":
            return True
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nr, nc = r + dr, c + dc
            if (
                0 <= nr < n_rows
                and 0 <= nc < n_cols
                and (nr, nc) not in seen
                and rows[nr][nc] != "H"
            ):
                seen.add((nr, nc))
                queue.append((nr, nc))
    return False


def random_map(size: int, seed: int = 0, frozen_prob: float = 0.8) -> tuple[str, ...]:
    """A solvable ``size`` x ``size`` map, S top-left, G bottom-right, as Gymnasium draws them."""
    rng = np.random.default_rng(seed)
    while True:
        grid = rng.choice(np.array(["F", "H"]), size=(size, size), p=[frozen_prob, 1 - frozen_prob])
        grid[0, 0], grid[-1, -1] = "S", "G"
        rows = tuple("".join(r) for r in grid)
        if _goal_reachable(rows):
            return rows


def default_step_limit(rows: tuple[str, ...]) -> int:
    """100 for 4x4-sized maps and 200 for 8x8, as Gymnasium; larger maps scale with their area."""
    cells = len(rows) * len(rows[0])
    if cells <= 16:
        return 100
    if cells <= 64:
        return 200
    return 200 * -(-cells // 64)


def map_to_spec(rows: tuple[str, ...]) -> str:
    """The comma form, which ``parse_map`` reads back."""
    return ",".join(rows)
