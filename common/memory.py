"""Memory checks before allocating: estimate the bytes a setting needs, refuse what cannot fit.

A size flag that would exhaust the machine (a 1e9-env vector, a billion-unit layer, a planner
table for a huge horizon) is refused up front with the estimate, instead of ending in a
MemoryError traceback or the kernel's OOM killer.
"""

from __future__ import annotations

import os

from common.errors import UsageError

# Leave room for the interpreter, TensorFlow and the rest of the run.
USABLE_FRACTION = 0.8


def available_bytes() -> int:
    """Memory this process may still use: MemAvailable on Linux, else physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown platform: do not refuse on a guess


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def require_memory(nbytes: float, what: str, fix: str, available: int | None = None) -> None:
    """Raise a one-line :class:`UsageError` when ``what`` would need more than fits in memory.

    ``fix`` says what to change (e.g. "lower --num-envs").
    """
    limit = USABLE_FRACTION * (available_bytes() if available is None else available)
    if nbytes > limit:
        raise UsageError(
            f"{what} needs about {format_bytes(nbytes)}, more than the "
            f"{format_bytes(limit)} this machine can spare; {fix}"
        )
