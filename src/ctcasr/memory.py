"""Keep a training process's memory near what it uses: glibc's heap fragments under variable tensor shapes."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)


def map_large_allocations(threshold_kb: int) -> bool:
    """Give every allocation of at least `threshold_kb` KiB its own memory mapping, returned to the system when it
    is freed. glibc raises this threshold itself (up to 32 MiB) each time a mapped block is freed, after which
    activations of changing shapes come from the heap and fragment it: RSS grows epoch after epoch. A fixed
    threshold turns that adjustment off. No-op (False) where the C library is not glibc or `threshold_kb` is 0."""
    if threshold_kb <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold_kb * 1024))
    except (OSError, AttributeError):
        return False
