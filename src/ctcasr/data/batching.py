"""Batches of similar-length utterances under a padded-audio budget (NumPy only: inference without PyTorch uses it
too)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def duration_batches(durations: Sequence[float] | np.ndarray, batch_seconds: float,
                     indices: np.ndarray | None = None, max_batch_size: int | None = None) -> list[list[int]]:
    """`indices` (default: all) in order of duration, cut so that each padded batch holds at most `batch_seconds`
    of audio and `max_batch_size` utterances (a longer utterance goes alone)."""
    durations = np.asarray(durations, dtype=np.float64)
    indices = np.arange(len(durations)) if indices is None else np.asarray(indices)
    order = indices[np.argsort(durations[indices], kind="stable")]
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order.tolist():
        longest = durations[index]  # sorted ascending: the newest is the longest
        if current and (longest * (len(current) + 1) > batch_seconds
                        or (max_batch_size is not None and len(current) >= max_batch_size)):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
