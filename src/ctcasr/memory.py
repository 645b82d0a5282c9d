"""Keep a training process's memory near what it uses: glibc's heap fragments under variable tensor shapes."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
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


def _peak_rss_kb(pid: int) -> int:
    """A process's peak resident set (VmHWM, KiB) from /proc; 0 when it is gone or the field is missing."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
    except (OSError, ValueError):
        return 0


def _children(pid: int) -> list[int]:
    """Every live descendant of `pid` (Linux /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
            except (OSError, ValueError):
                continue
            found += kids
            todo += kids
    return found


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_children_mb() -> float:
    """Peak memory of this process's children (DataLoader workers; other DDP ranks and their workers when this is
    the launching rank): the sum of every live child's own peak, or, where none is alive (none, or all finished),
    the largest peak of those that finished."""
    live = sum(_peak_rss_kb(pid) for pid in _children(os.getpid()))
    if live:
        return live / 1024
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
